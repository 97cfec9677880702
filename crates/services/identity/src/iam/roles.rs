//! Roles, their trust policies and tags.

use serde_json::{Value, json};

use super::{
    Call, input_tags, opt, page, path_of, tag_entity, tags_json, tags_page, text, untag_entity,
};
use crate::document::{self, DocumentKind};
use crate::error::{IdentityError, Result};
use crate::ids::{self, IdKind, check_name, url_encode};
use crate::store::{Account, Role};

/// The bounds of `MaxSessionDuration`, in seconds.
pub const MIN_SESSION: i64 = 3600;
pub const MAX_SESSION: i64 = 43200;

/// A role as IAM answers it (`full`: GetRole's members, which ListRoles leaves out).
pub fn role_json(role: &Role, full: bool) -> Value {
    let mut out = json!({
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.id,
        "Arn": role.arn,
        "CreateDate": role.created,
        "AssumeRolePolicyDocument": url_encode(&role.trust),
        "MaxSessionDuration": role.max_session,
    });
    if let Some(description) = &role.description {
        out["Description"] = json!(description);
    }
    if full {
        if let Some(boundary) = &role.boundary {
            out["PermissionsBoundary"] = json!({
                "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                "PermissionsBoundaryArn": boundary,
            });
        }
        if !role.tags.is_empty() {
            out["Tags"] = tags_json(&role.tags);
        }
        out["RoleLastUsed"] = match &role.last_used {
            Some(used) => json!({"LastUsedDate": used.date, "Region": used.region}),
            None => json!({}),
        };
    }
    out
}

/// The role called `name` (any case).
pub fn role<'a>(account: &'a Account, name: &str) -> Result<&'a Role> {
    account
        .roles
        .get(&name.to_lowercase())
        .ok_or_else(|| IdentityError::no_such("role", name))
}

pub fn role_mut<'a>(account: &'a mut Account, name: &str) -> Result<&'a mut Role> {
    account
        .roles
        .get_mut(&name.to_lowercase())
        .ok_or_else(|| IdentityError::no_such("role", name))
}

/// The role an ARN `arn:aws:iam::<account>:role<path><name>` names in `account`.
pub fn role_by_arn<'a>(account: &'a Account, arn: &str) -> Option<&'a Role> {
    let name = arn.rsplit('/').next()?;
    account
        .roles
        .get(&name.to_lowercase())
        .filter(|role| role.arn == arn)
}

fn max_session(input: &Value) -> Result<Option<i64>> {
    match opentrail_core::pipeline::input::opt_i64(input, "MaxSessionDuration") {
        Some(seconds) if !(MIN_SESSION..=MAX_SESSION).contains(&seconds) => {
            Err(IdentityError::constraint(
                &seconds.to_string(),
                "maxSessionDuration",
                "Member must have value less than or equal to 43200",
            ))
        }
        other => Ok(other),
    }
}

pub fn create_role(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "RoleName")?;
    check_name(name, "roleName", 64)?;
    let path = path_of(input, "Path")?;
    let trust = text(input, "AssumeRolePolicyDocument")?;
    document::check(trust, DocumentKind::Trust)?;
    document::check_size(
        trust,
        "ACLSizePerRole",
        opentrail_policy::quota::TRUST_POLICY,
    )?;
    let max_session = max_session(input)?.unwrap_or(MIN_SESSION);
    let tags = input_tags(input)?;
    let boundary = opt(input, "PermissionsBoundary").map(str::to_owned);
    call.update(|account| {
        if account.roles.contains_key(&name.to_lowercase()) {
            return Err(IdentityError::EntityAlreadyExists(format!(
                "Role with name {name} already exists."
            )));
        }
        if let Some(arn) = &boundary {
            super::policies::attachable(account, arn)?;
        }
        let role = Role {
            name: name.to_owned(),
            id: ids::new_id(IdKind::Role),
            path: path.to_owned(),
            arn: call.arn("role", path, name),
            created: call.now,
            trust: trust.to_owned(),
            description: opt(input, "Description").map(str::to_owned),
            max_session,
            tags,
            inline: Default::default(),
            attached: Vec::new(),
            boundary,
            last_used: None,
        };
        let mut out = role_json(&role, true);
        if let Some(members) = out.as_object_mut() {
            members.remove("RoleLastUsed");
        }
        account.roles.insert(name.to_lowercase(), role);
        Ok(json!({"Role": out}))
    })
}

pub fn get_role(call: &Call<'_>, input: &Value) -> Result<Value> {
    let account = call.account();
    let mut role = role(&account, text(input, "RoleName")?)?.clone();
    if let Some(used) = call.iam.noted_use(&role.arn) {
        role.last_used = Some(used);
    }
    Ok(json!({"Role": role_json(&role, true)}))
}

pub fn list_roles(call: &Call<'_>, input: &Value) -> Result<Value> {
    let prefix = path_of(input, "PathPrefix")?;
    let account = call.account();
    let roles = account
        .roles
        .values()
        .filter(|r| r.path.starts_with(prefix))
        .collect();
    let (roles, mut out) = page(input, roles, |r| r.name.to_lowercase())?;
    out.insert(
        "Roles".into(),
        Value::Array(roles.into_iter().map(|r| role_json(r, false)).collect()),
    );
    Ok(Value::Object(out))
}

pub fn update_role(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "RoleName")?;
    let max_session = max_session(input)?;
    let description = opt(input, "Description");
    call.update(|account| {
        let role = role_mut(account, name)?;
        if let Some(seconds) = max_session {
            role.max_session = seconds;
        }
        if let Some(description) = description {
            role.description = Some(description.to_owned());
        }
        Ok(json!({}))
    })
}

pub fn update_role_description(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "RoleName")?;
    let description = text(input, "Description")?;
    call.update(|account| {
        let role = role_mut(account, name)?;
        role.description = Some(description.to_owned());
        Ok(json!({"Role": role_json(role, true)}))
    })
}

pub fn update_assume_role_policy(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "RoleName")?;
    let trust = text(input, "PolicyDocument")?;
    document::check(trust, DocumentKind::Trust)?;
    document::check_size(
        trust,
        "ACLSizePerRole",
        opentrail_policy::quota::TRUST_POLICY,
    )?;
    call.update(|account| {
        role_mut(account, name)?.trust = trust.to_owned();
        Ok(json!({}))
    })
}

pub fn delete_role(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "RoleName")?;
    call.update(|account| {
        let role = role(account, name)?;
        let key = role.name.to_lowercase();
        if account
            .instance_profiles
            .values()
            .any(|p| p.roles.contains(&key))
        {
            return Err(IdentityError::DeleteConflict(
                "Cannot delete entity, must remove roles from instance profile first.".into(),
            ));
        }
        if !role.attached.is_empty() {
            return Err(IdentityError::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".into(),
            ));
        }
        if !role.inline.is_empty() {
            return Err(IdentityError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        account.roles.remove(&name.to_lowercase());
        Ok(json!({}))
    })
}

pub fn tag_role(call: &Call<'_>, input: &Value) -> Result<Value> {
    tag_entity(call, input, "RoleName", |account, name| {
        Ok(&mut role_mut(account, name)?.tags)
    })
}

pub fn untag_role(call: &Call<'_>, input: &Value) -> Result<Value> {
    untag_entity(call, input, "RoleName", |account, name| {
        Ok(&mut role_mut(account, name)?.tags)
    })
}

pub fn list_role_tags(call: &Call<'_>, input: &Value) -> Result<Value> {
    let account = call.account();
    let role = role(&account, text(input, "RoleName")?)?;
    tags_page(input, &role.tags)
}
