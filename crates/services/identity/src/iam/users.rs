//! Users, their tags and their access keys.

use opentrail_model::IdentityType;
use serde_json::{Value, json};

use super::{
    Call, input_tags, opt, page, path_of, tag_entity, tags_json, tags_page, text, untag_entity,
};
use crate::error::{IdentityError, Result};
use crate::ids::{self, IdKind, check_name};
use crate::store::{AccessKey, Account, User};

/// Access keys per user.
pub const MAX_KEYS: usize = 2;

/// A user as IAM answers it (`full`: with its permissions boundary and tags, which lists
/// leave out).
pub fn user_json(user: &User, full: bool) -> Value {
    let mut out = json!({
        "Path": user.path,
        "UserName": user.name,
        "UserId": user.id,
        "Arn": user.arn,
        "CreateDate": user.created,
    });
    if let Some(boundary) = user.boundary.as_ref().filter(|_| full) {
        out["PermissionsBoundary"] = json!({
            "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
            "PermissionsBoundaryArn": boundary,
        });
    }
    if full && !user.tags.is_empty() {
        out["Tags"] = tags_json(&user.tags);
    }
    out
}

/// The user called `name` (any case).
pub fn user<'a>(account: &'a Account, name: &str) -> Result<&'a User> {
    account
        .users
        .get(&name.to_lowercase())
        .ok_or_else(|| IdentityError::no_such("user", name))
}

/// The user called `name`, to change.
pub fn user_mut<'a>(account: &'a mut Account, name: &str) -> Result<&'a mut User> {
    account
        .users
        .get_mut(&name.to_lowercase())
        .ok_or_else(|| IdentityError::no_such("user", name))
}

/// `UserName`, or the calling IAM user's name when absent.
fn user_name_or_caller<'a>(call: &'a Call<'_>, input: &'a Value) -> Result<&'a str> {
    if let Some(name) = opt(input, "UserName") {
        return Ok(name);
    }
    match (
        &call.ctx.identity.identity_type,
        &call.ctx.identity.user_name,
    ) {
        (IdentityType::IamUser, Some(name)) => Ok(name),
        _ => Err(IdentityError::Validation(
            "Must specify userName when calling with non-User credentials".into(),
        )),
    }
}

pub fn create_user(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "UserName")?;
    check_name(name, "userName", 64)?;
    let path = path_of(input, "Path")?;
    let tags = input_tags(input)?;
    let boundary = opt(input, "PermissionsBoundary").map(str::to_owned);
    call.update(|account| {
        if account.users.contains_key(&name.to_lowercase()) {
            return Err(IdentityError::EntityAlreadyExists(format!(
                "User with name {name} already exists."
            )));
        }
        if let Some(arn) = &boundary {
            super::policies::attachable(account, arn)?;
        }
        let user = User {
            name: name.to_owned(),
            id: ids::new_id(IdKind::User),
            path: path.to_owned(),
            arn: call.arn("user", path, name),
            created: call.now,
            tags,
            inline: Default::default(),
            attached: Vec::new(),
            groups: Vec::new(),
            keys: Vec::new(),
            boundary,
            login_profile: None,
            ssh_keys: Vec::new(),
            signing_certs: Vec::new(),
        };
        let out = json!({"User": user_json(&user, true)});
        account.users.insert(name.to_lowercase(), user);
        Ok(out)
    })
}

pub fn get_user(call: &Call<'_>, input: &Value) -> Result<Value> {
    let identity = &call.ctx.identity;
    let name = match opt(input, "UserName") {
        Some(name) => name,
        None => match (&identity.identity_type, &identity.user_name) {
            (IdentityType::IamUser, Some(name)) => name.as_str(),
            (IdentityType::Root, _) => {
                return Ok(json!({"User": {
                    "UserId": identity.account_id,
                    "Arn": identity.arn,
                    "CreateDate": 0,
                }}));
            }
            _ => {
                return Err(IdentityError::Validation(
                    "Must specify userName when calling with non-User credentials".into(),
                ));
            }
        },
    };
    let account = call.account();
    Ok(json!({"User": user_json(user(&account, name)?, true)}))
}

pub fn list_users(call: &Call<'_>, input: &Value) -> Result<Value> {
    let prefix = path_of(input, "PathPrefix")?;
    let account = call.account();
    let users: Vec<&User> = account
        .users
        .values()
        .filter(|u| u.path.starts_with(prefix))
        .collect();
    let (users, mut out) = page(input, users, |u| u.name.to_lowercase())?;
    out.insert(
        "Users".into(),
        Value::Array(users.into_iter().map(|u| user_json(u, false)).collect()),
    );
    Ok(Value::Object(out))
}

pub fn update_user(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "UserName")?;
    let new_name = opt(input, "NewUserName");
    if let Some(new_name) = new_name {
        check_name(new_name, "newUserName", 64)?;
    }
    let new_path = match opt(input, "NewPath") {
        Some(_) => Some(path_of(input, "NewPath")?),
        None => None,
    };
    call.update(|account| {
        let mut user = user(account, name)?.clone();
        let old_key = name.to_lowercase();
        if let Some(new_name) = new_name {
            let new_key = new_name.to_lowercase();
            if new_key != old_key && account.users.contains_key(&new_key) {
                return Err(IdentityError::EntityAlreadyExists(format!(
                    "User with name {new_name} already exists."
                )));
            }
            user.name = new_name.to_owned();
        }
        if let Some(path) = new_path {
            user.path = path.to_owned();
        }
        user.arn = call.arn("user", &user.path, &user.name);
        let new_key = user.name.to_lowercase();
        for device in account.mfa_devices.values_mut() {
            if device.user.as_deref() == Some(old_key.as_str()) {
                device.user = Some(new_key.clone());
            }
        }
        account.users.remove(&old_key);
        account.users.insert(new_key, user);
        Ok(json!({}))
    })
}

pub fn delete_user(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "UserName")?;
    call.update(|account| {
        let user = user(account, name)?;
        let conflict = if !user.keys.is_empty() {
            Some("Cannot delete entity, must delete access keys first.")
        } else if !user.inline.is_empty() || !user.attached.is_empty() {
            Some("Cannot delete entity, must detach all policies first.")
        } else if !user.signing_certs.is_empty() {
            Some("Cannot delete entity, must delete signing certificates first.")
        } else if !user.ssh_keys.is_empty() {
            Some("Cannot delete entity, must delete SSH public keys first.")
        } else if user.login_profile.is_some() {
            Some("Cannot delete entity, must delete login profile first.")
        } else if !user.groups.is_empty() {
            Some("Cannot delete entity, must remove user from all groups first.")
        } else {
            None
        };
        let key = user.name.to_lowercase();
        let conflict = conflict.or_else(|| {
            account
                .mfa_devices
                .values()
                .any(|d| d.user.as_deref() == Some(key.as_str()))
                .then_some("Cannot delete entity, must delete MFA device first.")
        });
        if let Some(message) = conflict {
            return Err(IdentityError::DeleteConflict(message.into()));
        }
        account.users.remove(&name.to_lowercase());
        Ok(json!({}))
    })
}

pub fn tag_user(call: &Call<'_>, input: &Value) -> Result<Value> {
    tag_entity(call, input, "UserName", |account, name| {
        Ok(&mut user_mut(account, name)?.tags)
    })
}

pub fn untag_user(call: &Call<'_>, input: &Value) -> Result<Value> {
    untag_entity(call, input, "UserName", |account, name| {
        Ok(&mut user_mut(account, name)?.tags)
    })
}

pub fn list_user_tags(call: &Call<'_>, input: &Value) -> Result<Value> {
    let account = call.account();
    let user = user(&account, text(input, "UserName")?)?;
    tags_page(input, &user.tags)
}

fn key_json(user: &User, key: &AccessKey) -> Value {
    json!({
        "UserName": user.name,
        "AccessKeyId": key.id,
        "Status": key.status,
        "CreateDate": key.created,
    })
}

pub fn create_access_key(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = user_name_or_caller(call, input)?;
    call.update(|account| {
        let user = user_mut(account, name)?;
        if user.keys.len() >= MAX_KEYS {
            return Err(IdentityError::LimitExceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}"
            )));
        }
        let key = AccessKey {
            id: ids::new_id(IdKind::AccessKey),
            secret: ids::new_secret(),
            status: "Active".into(),
            created: call.now,
            last_used: None,
        };
        let mut out = key_json(user, &key);
        out["SecretAccessKey"] = json!(key.secret);
        user.keys.push(key);
        Ok(json!({"AccessKey": out}))
    })
}

pub fn list_access_keys(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = user_name_or_caller(call, input)?;
    let account = call.account();
    let user = user(&account, name)?;
    let (keys, mut out) = page(input, user.keys.iter().collect(), |k| k.id.clone())?;
    out.insert(
        "AccessKeyMetadata".into(),
        Value::Array(keys.into_iter().map(|k| key_json(user, k)).collect()),
    );
    Ok(Value::Object(out))
}

fn key_not_found(id: &str) -> IdentityError {
    IdentityError::NoSuchEntity(format!("The Access Key with id {id} cannot be found"))
}

pub fn update_access_key(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = user_name_or_caller(call, input)?;
    let id = text(input, "AccessKeyId")?;
    let status = text(input, "Status")?;
    if !matches!(status, "Active" | "Inactive") {
        return Err(IdentityError::constraint(
            status,
            "status",
            "Member must satisfy enum value set: [Active, Inactive]",
        ));
    }
    call.update(|account| {
        let user = user_mut(account, name)?;
        let key = user
            .keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or_else(|| key_not_found(id))?;
        key.status = status.to_owned();
        Ok(json!({}))
    })
}

pub fn delete_access_key(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = user_name_or_caller(call, input)?;
    let id = text(input, "AccessKeyId")?;
    call.update(|account| {
        let user = user_mut(account, name)?;
        let before = user.keys.len();
        user.keys.retain(|k| k.id != id);
        if user.keys.len() == before {
            return Err(key_not_found(id));
        }
        Ok(json!({}))
    })
}

pub fn get_access_key_last_used(call: &Call<'_>, input: &Value) -> Result<Value> {
    let id = text(input, "AccessKeyId")?;
    let owner = call
        .iam
        .key_owner(id)
        .filter(|owner| owner.account_id == call.account)
        .ok_or_else(|| key_not_found(id))?;
    let account = call.account();
    let user = user(&account, &owner.user)?;
    let stored = user
        .keys
        .iter()
        .find(|k| k.id == id)
        .and_then(|k| k.last_used.clone());
    let last_used = match call.iam.noted_use(id).or(stored) {
        Some(used) => json!({
            "LastUsedDate": used.date,
            "ServiceName": used.service,
            "Region": used.region,
        }),
        None => json!({"ServiceName": "N/A", "Region": "N/A"}),
    };
    Ok(json!({"UserName": user.name, "AccessKeyLastUsed": last_used}))
}
