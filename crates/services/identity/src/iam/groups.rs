//! Groups and their members (a user lists the lower-cased names of its groups).

use serde_json::{Value, json};

use super::users::{user, user_json, user_mut};
use super::{Call, opt, page, path_of, text};
use crate::error::{IdentityError, Result};
use crate::ids::{self, IdKind, check_name};
use crate::store::{Account, Group};

/// Groups a user may be in.
const MAX_GROUPS_PER_USER: usize = 10;

pub fn group_json(group: &Group) -> Value {
    json!({
        "Path": group.path,
        "GroupName": group.name,
        "GroupId": group.id,
        "Arn": group.arn,
        "CreateDate": group.created,
    })
}

/// The group called `name` (any case).
pub fn group<'a>(account: &'a Account, name: &str) -> Result<&'a Group> {
    account
        .groups
        .get(&name.to_lowercase())
        .ok_or_else(|| IdentityError::no_such("group", name))
}

pub fn create_group(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "GroupName")?;
    check_name(name, "groupName", 128)?;
    let path = path_of(input, "Path")?;
    call.update(|account| {
        if account.groups.contains_key(&name.to_lowercase()) {
            return Err(IdentityError::EntityAlreadyExists(format!(
                "Group with name {name} already exists."
            )));
        }
        let group = Group {
            name: name.to_owned(),
            id: ids::new_id(IdKind::Group),
            path: path.to_owned(),
            arn: call.arn("group", path, name),
            created: call.now,
            inline: Default::default(),
            attached: Vec::new(),
        };
        let out = json!({"Group": group_json(&group)});
        account.groups.insert(name.to_lowercase(), group);
        Ok(out)
    })
}

pub fn get_group(call: &Call<'_>, input: &Value) -> Result<Value> {
    let account = call.account();
    let group = group(&account, text(input, "GroupName")?)?;
    let key = group.name.to_lowercase();
    let members = account
        .users
        .values()
        .filter(|u| u.groups.contains(&key))
        .collect();
    let (members, mut out) = page(input, members, |u| u.name.to_lowercase())?;
    out.insert("Group".into(), group_json(group));
    out.insert(
        "Users".into(),
        Value::Array(members.into_iter().map(|u| user_json(u, false)).collect()),
    );
    Ok(Value::Object(out))
}

pub fn list_groups(call: &Call<'_>, input: &Value) -> Result<Value> {
    let prefix = path_of(input, "PathPrefix")?;
    let account = call.account();
    let groups = account
        .groups
        .values()
        .filter(|g| g.path.starts_with(prefix))
        .collect();
    let (groups, mut out) = page(input, groups, |g| g.name.to_lowercase())?;
    out.insert(
        "Groups".into(),
        Value::Array(groups.into_iter().map(group_json).collect()),
    );
    Ok(Value::Object(out))
}

pub fn update_group(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "GroupName")?;
    let new_name = opt(input, "NewGroupName");
    if let Some(new_name) = new_name {
        check_name(new_name, "newGroupName", 128)?;
    }
    let new_path = match opt(input, "NewPath") {
        Some(_) => Some(path_of(input, "NewPath")?),
        None => None,
    };
    call.update(|account| {
        let mut group = group(account, name)?.clone();
        let old_key = name.to_lowercase();
        if let Some(new_name) = new_name {
            if new_name.to_lowercase() != old_key
                && account.groups.contains_key(&new_name.to_lowercase())
            {
                return Err(IdentityError::EntityAlreadyExists(format!(
                    "Group with name {new_name} already exists."
                )));
            }
            group.name = new_name.to_owned();
        }
        if let Some(path) = new_path {
            group.path = path.to_owned();
        }
        group.arn = call.arn("group", &group.path, &group.name);
        let new_key = group.name.to_lowercase();
        for user in account.users.values_mut() {
            for member_of in &mut user.groups {
                if *member_of == old_key {
                    member_of.clone_from(&new_key);
                }
            }
        }
        account.groups.remove(&old_key);
        account.groups.insert(new_key, group);
        Ok(json!({}))
    })
}

pub fn delete_group(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "GroupName")?;
    call.update(|account| {
        let group = group(account, name)?;
        let key = group.name.to_lowercase();
        if account.users.values().any(|u| u.groups.contains(&key)) {
            return Err(IdentityError::DeleteConflict(
                "Cannot delete entity, must remove users from group first.".into(),
            ));
        }
        if !group.inline.is_empty() || !group.attached.is_empty() {
            return Err(IdentityError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        account.groups.remove(&key);
        Ok(json!({}))
    })
}

pub fn add_user_to_group(call: &Call<'_>, input: &Value) -> Result<Value> {
    let group_name = text(input, "GroupName")?;
    let user_name = text(input, "UserName")?;
    call.update(|account| {
        user(account, user_name)?;
        let key = group(account, group_name)?.name.to_lowercase();
        let user = user_mut(account, user_name)?;
        if !user.groups.contains(&key) {
            if user.groups.len() >= MAX_GROUPS_PER_USER {
                return Err(IdentityError::LimitExceeded(format!(
                    "Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}"
                )));
            }
            user.groups.push(key);
        }
        Ok(json!({}))
    })
}

pub fn remove_user_from_group(call: &Call<'_>, input: &Value) -> Result<Value> {
    let group_name = text(input, "GroupName")?;
    let user_name = text(input, "UserName")?;
    call.update(|account| {
        user(account, user_name)?;
        let key = group(account, group_name)?.name.to_lowercase();
        let user = user_mut(account, user_name)?;
        let before = user.groups.len();
        user.groups.retain(|g| *g != key);
        if user.groups.len() == before {
            return Err(IdentityError::NoSuchEntity(format!(
                "User {user_name} is not in group {group_name}."
            )));
        }
        Ok(json!({}))
    })
}

pub fn list_groups_for_user(call: &Call<'_>, input: &Value) -> Result<Value> {
    let account = call.account();
    let user = user(&account, text(input, "UserName")?)?;
    let groups = user
        .groups
        .iter()
        .filter_map(|key| account.groups.get(key))
        .collect();
    let (groups, mut out) = page(input, groups, |g| g.name.to_lowercase())?;
    out.insert(
        "Groups".into(),
        Value::Array(groups.into_iter().map(group_json).collect()),
    );
    Ok(Value::Object(out))
}
