//! Managed policies and their versions, attachments to users, groups and roles, inline
//! policies, and permissions boundaries.

use opentrail_policy::{quota, size_without_whitespace};
use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    Call, input_tags, opt, page, path_of, tag_entity, tags_json, tags_page, text, untag_entity,
};
use crate::document::{self, DocumentKind};
use crate::error::{IdentityError, Result};
use crate::ids::{self, IdKind, check_name, url_encode};
use crate::managed;
use crate::store::{Account, ManagedPolicy, PolicyVersion};

/// Versions a managed policy may have.
pub const MAX_VERSIONS: usize = 5;
/// Managed policies attached to one user, group or role.
pub const MAX_ATTACHED: usize = 10;

/// What holds policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    User,
    Group,
    Role,
}

impl Holder {
    /// `user`, `group`, `role`.
    /// The most characters (without whitespace) its inline policies may hold together.
    fn inline_quota(self) -> usize {
        match self {
            Holder::User => quota::USER_INLINE,
            Holder::Group => quota::GROUP_INLINE,
            Holder::Role => quota::ROLE_INLINE,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Holder::User => "user",
            Holder::Group => "group",
            Holder::Role => "role",
        }
    }

    /// The input member naming it.
    fn member(self) -> &'static str {
        match self {
            Holder::User => "UserName",
            Holder::Group => "GroupName",
            Holder::Role => "RoleName",
        }
    }

    fn quota(self) -> &'static str {
        match self {
            Holder::User => "PoliciesPerUser",
            Holder::Group => "PoliciesPerGroup",
            Holder::Role => "PoliciesPerRole",
        }
    }
}

/// The inline policies and attached policy ARNs of one holder.
struct Policies<'a> {
    name: &'a str,
    inline: &'a mut BTreeMap<String, String>,
    attached: &'a mut Vec<String>,
}

fn holder_mut<'a>(account: &'a mut Account, holder: Holder, name: &str) -> Result<Policies<'a>> {
    let key = name.to_lowercase();
    let found = match holder {
        Holder::User => account.users.get_mut(&key).map(|u| Policies {
            name: &u.name,
            inline: &mut u.inline,
            attached: &mut u.attached,
        }),
        Holder::Group => account.groups.get_mut(&key).map(|g| Policies {
            name: &g.name,
            inline: &mut g.inline,
            attached: &mut g.attached,
        }),
        Holder::Role => account.roles.get_mut(&key).map(|r| Policies {
            name: &r.name,
            inline: &mut r.inline,
            attached: &mut r.attached,
        }),
    };
    found.ok_or_else(|| IdentityError::no_such(holder.noun(), name))
}

/// `(inline, attached)` of one holder, read only.
fn holder(
    account: &Account,
    holder: Holder,
    name: &str,
) -> Result<(BTreeMap<String, String>, Vec<String>)> {
    let key = name.to_lowercase();
    let found = match holder {
        Holder::User => account
            .users
            .get(&key)
            .map(|u| (u.inline.clone(), u.attached.clone())),
        Holder::Group => account
            .groups
            .get(&key)
            .map(|g| (g.inline.clone(), g.attached.clone())),
        Holder::Role => account
            .roles
            .get(&key)
            .map(|r| (r.inline.clone(), r.attached.clone())),
    };
    found.ok_or_else(|| IdentityError::no_such(holder.noun(), name))
}

/// The managed policy `arn`: an AWS managed one or one of `account`.
pub fn find(account: &Account, arn: &str) -> Option<ManagedPolicy> {
    if arn.starts_with("arn:aws:iam::aws:policy/") {
        return managed::get(arn);
    }
    account.policies.get(arn).cloned()
}

/// The managed policy `arn` when it can be attached (or be a boundary).
pub fn attachable(account: &Account, arn: &str) -> Result<ManagedPolicy> {
    find(account, arn).ok_or_else(|| {
        IdentityError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
    })
}

fn not_found(arn: &str) -> IdentityError {
    IdentityError::NoSuchEntity(format!("Policy {arn} was not found."))
}

fn check_policy_arn(arn: &str) -> Result<()> {
    let is_policy = crate::ids::split_iam_arn(arn)
        .is_some_and(|(_, _, resource)| resource.starts_with("policy/"));
    if !is_policy {
        return Err(IdentityError::InvalidInput(format!(
            "ARN {arn} is not valid."
        )));
    }
    Ok(())
}

/// A managed policy as IAM answers it (`full`: GetPolicy's description and tags, which
/// ListPolicies leaves out).
fn policy_json(account: &Account, policy: &ManagedPolicy, full: bool) -> Value {
    let mut out = json!({
        "PolicyName": policy.name,
        "PolicyId": policy.id,
        "Arn": policy.arn,
        "Path": policy.path,
        "DefaultVersionId": policy.default_version,
        "AttachmentCount": account.attachment_count(&policy.arn),
        "PermissionsBoundaryUsageCount": account.boundary_count(&policy.arn),
        "IsAttachable": true,
        "CreateDate": policy.created,
        "UpdateDate": policy.updated,
    });
    if let Some(description) = policy.description.as_ref().filter(|_| full) {
        out["Description"] = json!(description);
    }
    if full {
        out["Tags"] = tags_json(&policy.tags);
    }
    out
}

fn version_json(policy: &ManagedPolicy, version: &PolicyVersion, document: bool) -> Value {
    let mut out = json!({
        "VersionId": version.id,
        "IsDefaultVersion": version.id == policy.default_version,
        "CreateDate": version.created,
    });
    if document {
        out["Document"] = json!(url_encode(&version.document));
    }
    out
}

pub fn create_policy(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "PolicyName")?;
    check_name(name, "policyName", 128)?;
    let path = path_of(input, "Path")?;
    let document = text(input, "PolicyDocument")?;
    document::check(document, DocumentKind::Identity)?;
    document::check_size(document, "PolicySize", quota::MANAGED_POLICY)?;
    let tags = input_tags(input)?;
    let arn = call.arn("policy", path, name);
    call.update(|account| {
        if account
            .policies
            .values()
            .any(|p| p.name.eq_ignore_ascii_case(name))
        {
            return Err(IdentityError::EntityAlreadyExists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        let policy = ManagedPolicy {
            name: name.to_owned(),
            id: ids::new_id(IdKind::Policy),
            path: path.to_owned(),
            arn: arn.clone(),
            created: call.now,
            updated: call.now,
            description: opt(input, "Description").map(str::to_owned),
            default_version: "v1".into(),
            versions: vec![PolicyVersion {
                id: "v1".into(),
                document: document.to_owned(),
                created: call.now,
            }],
            next_version: 2,
            tags,
        };
        let mut out = policy_json(account, &policy, true);
        if let Some(members) = out.as_object_mut() {
            members.remove("Description");
            if policy.tags.is_empty() {
                members.remove("Tags");
            }
        }
        account.policies.insert(arn.clone(), policy);
        Ok(json!({"Policy": out}))
    })
}

pub fn get_policy(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "PolicyArn")?;
    check_policy_arn(arn)?;
    let account = call.account();
    let policy = find(&account, arn).ok_or_else(|| not_found(arn))?;
    Ok(json!({"Policy": policy_json(&account, &policy, true)}))
}

pub fn list_policies(call: &Call<'_>, input: &Value) -> Result<Value> {
    let scope = opt(input, "Scope").unwrap_or("All");
    let only_attached =
        opentrail_core::pipeline::input::opt_bool(input, "OnlyAttached").unwrap_or(false);
    let prefix = path_of(input, "PathPrefix")?;
    let usage = opt(input, "PolicyUsageFilter");
    let account = call.account();
    let mut policies: Vec<ManagedPolicy> = Vec::new();
    if scope != "Local" {
        policies.extend(managed::all());
    }
    if scope != "AWS" {
        policies.extend(account.policies.values().cloned());
    }
    let policies: Vec<ManagedPolicy> = policies
        .into_iter()
        .filter(|p| p.path.starts_with(prefix))
        .filter(|p| !only_attached || account.attachment_count(&p.arn) > 0)
        .filter(|p| match usage {
            Some("PermissionsBoundary") => account.boundary_count(&p.arn) > 0,
            Some("PermissionsPolicy") => account.attachment_count(&p.arn) > 0,
            _ => true,
        })
        .collect();
    let (policies, mut out) = page(input, policies, |p| format!("{}\u{0}{}", p.name, p.arn))?;
    out.insert(
        "Policies".into(),
        Value::Array(
            policies
                .iter()
                .map(|p| policy_json(&account, p, false))
                .collect(),
        ),
    );
    Ok(Value::Object(out))
}

/// A customer managed policy of the account, to change (AWS managed ones cannot be).
fn local_mut<'a>(account: &'a mut Account, arn: &str) -> Result<&'a mut ManagedPolicy> {
    check_policy_arn(arn)?;
    if arn.starts_with("arn:aws:iam::aws:policy/") && managed::get(arn).is_some() {
        return Err(IdentityError::Client(
            "UnmodifiableEntity",
            400,
            format!("Cannot modify AWS managed policy {arn}."),
        ));
    }
    account.policies.get_mut(arn).ok_or_else(|| not_found(arn))
}

pub fn delete_policy(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "PolicyArn")?;
    call.update(|account| {
        let versions = local_mut(account, arn)?.versions.len();
        if account.attachment_count(arn) > 0 {
            return Err(IdentityError::DeleteConflict(
                "Cannot delete a policy attached to entities.".into(),
            ));
        }
        if account.boundary_count(arn) > 0 {
            return Err(IdentityError::DeleteConflict(
                "Cannot delete a policy used as a permissions boundary.".into(),
            ));
        }
        if versions > 1 {
            return Err(IdentityError::DeleteConflict(
                "Cannot delete a policy with non-default versions; delete them first.".into(),
            ));
        }
        account.policies.remove(arn);
        Ok(json!({}))
    })
}

pub fn create_policy_version(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "PolicyArn")?;
    let document = text(input, "PolicyDocument")?;
    document::check(document, DocumentKind::Identity)?;
    document::check_size(document, "PolicySize", quota::MANAGED_POLICY)?;
    let set_default =
        opentrail_core::pipeline::input::opt_bool(input, "SetAsDefault").unwrap_or(false);
    call.update(|account| {
        let policy = local_mut(account, arn)?;
        if policy.versions.len() >= MAX_VERSIONS {
            return Err(IdentityError::LimitExceeded(format!(
                "A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new version, you must delete an existing version."
            )));
        }
        let version = PolicyVersion {
            id: format!("v{}", policy.next_version),
            document: document.to_owned(),
            created: call.now,
        };
        policy.next_version += 1;
        if set_default {
            policy.default_version.clone_from(&version.id);
            policy.updated = call.now;
        }
        let out = version_json(policy, &version, true);
        policy.versions.push(version);
        Ok(json!({"PolicyVersion": out}))
    })
}

pub fn get_policy_version(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "PolicyArn")?;
    let version_id = text(input, "VersionId")?;
    check_policy_arn(arn)?;
    let account = call.account();
    let policy = find(&account, arn).ok_or_else(|| not_found(arn))?;
    let version = policy
        .versions
        .iter()
        .find(|v| v.id == version_id)
        .ok_or_else(|| {
            IdentityError::NoSuchEntity(format!(
                "Policy {arn} version {version_id} does not exist or is not attachable."
            ))
        })?;
    Ok(json!({"PolicyVersion": version_json(&policy, version, true)}))
}

pub fn list_policy_versions(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "PolicyArn")?;
    check_policy_arn(arn)?;
    let account = call.account();
    let policy = find(&account, arn).ok_or_else(|| not_found(arn))?;
    let versions: Vec<&PolicyVersion> = policy.versions.iter().collect();
    let (versions, mut out) = page(input, versions, |v| {
        format!("{:010}", v.id[1..].parse::<u32>().unwrap_or(0))
    })?;
    out.insert(
        "Versions".into(),
        Value::Array(
            versions
                .into_iter()
                .map(|v| version_json(&policy, v, true))
                .collect(),
        ),
    );
    Ok(Value::Object(out))
}

pub fn delete_policy_version(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "PolicyArn")?;
    let version_id = text(input, "VersionId")?;
    call.update(|account| {
        let policy = local_mut(account, arn)?;
        if policy.default_version == version_id {
            return Err(IdentityError::DeleteConflict(
                "Cannot delete the default version of a policy.".into(),
            ));
        }
        let before = policy.versions.len();
        policy.versions.retain(|v| v.id != version_id);
        if policy.versions.len() == before {
            return Err(IdentityError::NoSuchEntity(format!(
                "Policy {arn} version {version_id} does not exist or is not attachable."
            )));
        }
        Ok(json!({}))
    })
}

pub fn set_default_policy_version(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "PolicyArn")?;
    let version_id = text(input, "VersionId")?;
    call.update(|account| {
        let policy = local_mut(account, arn)?;
        if !policy.versions.iter().any(|v| v.id == version_id) {
            return Err(IdentityError::NoSuchEntity(format!(
                "Policy {arn} version {version_id} does not exist or is not attachable."
            )));
        }
        version_id.clone_into(&mut policy.default_version);
        policy.updated = call.now;
        Ok(json!({}))
    })
}

pub fn tag_policy(call: &Call<'_>, input: &Value) -> Result<Value> {
    tag_entity(call, input, "PolicyArn", |account, name| {
        Ok(&mut local_mut(account, name)?.tags)
    })
}

pub fn untag_policy(call: &Call<'_>, input: &Value) -> Result<Value> {
    untag_entity(call, input, "PolicyArn", |account, name| {
        Ok(&mut local_mut(account, name)?.tags)
    })
}

pub fn list_policy_tags(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "PolicyArn")?;
    check_policy_arn(arn)?;
    let account = call.account();
    let policy = find(&account, arn).ok_or_else(|| not_found(arn))?;
    tags_page(input, &policy.tags)
}

pub fn attach(call: &Call<'_>, input: &Value, kind: Holder) -> Result<Value> {
    let name = text(input, kind.member())?;
    let arn = text(input, "PolicyArn")?;
    check_policy_arn(arn)?;
    call.update(|account| {
        attachable(account, arn)?;
        let policies = holder_mut(account, kind, name)?;
        if !policies.attached.iter().any(|a| a == arn) {
            if policies.attached.len() >= MAX_ATTACHED {
                return Err(IdentityError::LimitExceeded(format!(
                    "Cannot exceed quota for {}: {MAX_ATTACHED}",
                    kind.quota()
                )));
            }
            policies.attached.push(arn.to_owned());
        }
        Ok(json!({}))
    })
}

pub fn detach(call: &Call<'_>, input: &Value, kind: Holder) -> Result<Value> {
    let name = text(input, kind.member())?;
    let arn = text(input, "PolicyArn")?;
    check_policy_arn(arn)?;
    call.update(|account| {
        let policies = holder_mut(account, kind, name)?;
        let before = policies.attached.len();
        policies.attached.retain(|a| a != arn);
        if policies.attached.len() == before {
            return Err(not_found(arn));
        }
        Ok(json!({}))
    })
}

pub fn list_attached(call: &Call<'_>, input: &Value, kind: Holder) -> Result<Value> {
    let name = text(input, kind.member())?;
    let prefix = path_of(input, "PathPrefix")?;
    let account = call.account();
    let (_, attached) = holder(&account, kind, name)?;
    let policies: Vec<ManagedPolicy> = attached
        .iter()
        .filter_map(|arn| find(&account, arn))
        .filter(|p| p.path.starts_with(prefix))
        .collect();
    let (policies, mut out) = page(input, policies, |p| format!("{}\u{0}{}", p.name, p.arn))?;
    out.insert(
        "AttachedPolicies".into(),
        Value::Array(
            policies
                .into_iter()
                .map(|p| json!({"PolicyName": p.name, "PolicyArn": p.arn}))
                .collect(),
        ),
    );
    Ok(Value::Object(out))
}

pub fn list_entities_for_policy(call: &Call<'_>, input: &Value) -> Result<Value> {
    let arn = text(input, "PolicyArn")?;
    check_policy_arn(arn)?;
    let prefix = path_of(input, "PathPrefix")?;
    let filter = opt(input, "EntityFilter");
    let usage = opt(input, "PolicyUsageFilter");
    let account = call.account();
    find(&account, arn).ok_or_else(|| not_found(arn))?;
    let wants = |kind: &str| filter.is_none_or(|f| f == kind);
    let as_policy = usage != Some("PermissionsBoundary");
    let as_boundary = usage != Some("PermissionsPolicy");
    let users: Vec<Value> = account
        .users
        .values()
        .filter(|_| wants("User"))
        .filter(|u| u.path.starts_with(prefix))
        .filter(|u| {
            (as_policy && u.attached.iter().any(|a| a == arn))
                || (as_boundary && u.boundary.as_deref() == Some(arn))
        })
        .map(|u| json!({"UserName": u.name, "UserId": u.id}))
        .collect();
    let groups: Vec<Value> = account
        .groups
        .values()
        .filter(|_| wants("Group") && as_policy)
        .filter(|g| g.path.starts_with(prefix))
        .filter(|g| g.attached.iter().any(|a| a == arn))
        .map(|g| json!({"GroupName": g.name, "GroupId": g.id}))
        .collect();
    let roles: Vec<Value> = account
        .roles
        .values()
        .filter(|_| wants("Role"))
        .filter(|r| r.path.starts_with(prefix))
        .filter(|r| {
            (as_policy && r.attached.iter().any(|a| a == arn))
                || (as_boundary && r.boundary.as_deref() == Some(arn))
        })
        .map(|r| json!({"RoleName": r.name, "RoleId": r.id}))
        .collect();
    Ok(json!({
        "PolicyGroups": groups,
        "PolicyUsers": users,
        "PolicyRoles": roles,
        "IsTruncated": false,
    }))
}

pub fn put_inline(call: &Call<'_>, input: &Value, kind: Holder) -> Result<Value> {
    let name = text(input, kind.member())?;
    let policy_name = text(input, "PolicyName")?;
    check_name(policy_name, "policyName", 128)?;
    let document = text(input, "PolicyDocument")?;
    document::check(document, DocumentKind::Identity)?;
    call.update(|account| {
        let policies = holder_mut(account, kind, name)?;
        // IAM counts every inline policy of the user, group or role together.
        let total: usize = policies
            .inline
            .iter()
            .filter(|(other, _)| other.as_str() != policy_name)
            .map(|(_, text)| size_without_whitespace(text))
            .sum::<usize>()
            + size_without_whitespace(document);
        let limit = kind.inline_quota();
        if total > limit {
            return Err(IdentityError::LimitExceeded(format!(
                "Maximum policy size of {limit} bytes exceeded for {} {}",
                kind.noun(),
                policies.name
            )));
        }
        policies
            .inline
            .insert(policy_name.to_owned(), document.to_owned());
        Ok(json!({}))
    })
}

pub fn get_inline(call: &Call<'_>, input: &Value, kind: Holder) -> Result<Value> {
    let name = text(input, kind.member())?;
    let policy_name = text(input, "PolicyName")?;
    let mut account = call.account().as_ref().clone();
    let policies = holder_mut(&mut account, kind, name)?;
    let document = policies.inline.get(policy_name).ok_or_else(|| {
        IdentityError::NoSuchEntity(format!(
            "The {} policy with name {policy_name} cannot be found.",
            kind.noun()
        ))
    })?;
    Ok(json!({
        kind.member(): policies.name,
        "PolicyName": policy_name,
        "PolicyDocument": url_encode(document),
    }))
}

pub fn list_inline(call: &Call<'_>, input: &Value, kind: Holder) -> Result<Value> {
    let name = text(input, kind.member())?;
    let account = call.account();
    let (inline, _) = holder(&account, kind, name)?;
    let (names, mut out) = page(input, inline.into_keys().collect(), String::clone)?;
    out.insert("PolicyNames".into(), json!(names));
    Ok(Value::Object(out))
}

pub fn delete_inline(call: &Call<'_>, input: &Value, kind: Holder) -> Result<Value> {
    let name = text(input, kind.member())?;
    let policy_name = text(input, "PolicyName")?;
    call.update(|account| {
        let policies = holder_mut(account, kind, name)?;
        if policies.inline.remove(policy_name).is_none() {
            return Err(IdentityError::NoSuchEntity(format!(
                "The {} policy with name {policy_name} cannot be found.",
                kind.noun()
            )));
        }
        Ok(json!({}))
    })
}

fn boundary_slot<'a>(
    account: &'a mut Account,
    kind: Holder,
    name: &str,
) -> Result<&'a mut Option<String>> {
    let key = name.to_lowercase();
    let slot = match kind {
        Holder::Role => account.roles.get_mut(&key).map(|r| &mut r.boundary),
        _ => account.users.get_mut(&key).map(|u| &mut u.boundary),
    };
    slot.ok_or_else(|| IdentityError::no_such(kind.noun(), name))
}

pub fn put_boundary(call: &Call<'_>, input: &Value, kind: Holder) -> Result<Value> {
    let name = text(input, kind.member())?;
    let arn = text(input, "PermissionsBoundary")?;
    check_policy_arn(arn)?;
    call.update(|account| {
        attachable(account, arn).map_err(|_| {
            IdentityError::NoSuchEntity(format!(
                "Scope ARN: {arn} does not exist or is not attachable."
            ))
        })?;
        *boundary_slot(account, kind, name)? = Some(arn.to_owned());
        Ok(json!({}))
    })
}

pub fn delete_boundary(call: &Call<'_>, input: &Value, kind: Holder) -> Result<Value> {
    let name = text(input, kind.member())?;
    call.update(|account| {
        *boundary_slot(account, kind, name)? = None;
        Ok(json!({}))
    })
}
