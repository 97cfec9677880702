//! Login profiles, instance profiles, service-linked roles, the account alias, the account
//! password policy and the account summary.

use serde_json::{Map, Value, json};

use super::roles::{role, role_json};
use super::users::{user, user_mut};
use super::{Call, input_tags, opt, page, path_of, tag_entity, tags_json, text, untag_entity};
use crate::error::{IdentityError, Result};
use crate::ids::{self, IdKind, check_name};
use crate::store::{Account, InstanceProfile, LoginProfile, Role};

/// Roles per instance profile.
const MAX_PROFILE_ROLES: usize = 1;

fn login_json(name: &str, profile: &LoginProfile) -> Value {
    json!({
        "UserName": name,
        "CreateDate": profile.created,
        "PasswordResetRequired": profile.reset_required,
    })
}

fn no_login_profile(name: &str) -> IdentityError {
    IdentityError::NoSuchEntity(format!("Login Profile for user {name} cannot be found."))
}

/// Checks a new password against the account's password policy.
fn check_password(account: &Account, password: &str) -> Result<()> {
    let Some(policy) = &account.password_policy else {
        return Ok(());
    };
    let minimum = policy
        .get("MinimumPasswordLength")
        .and_then(Value::as_u64)
        .unwrap_or(6);
    let wants = |member: &str| policy.get(member).and_then(Value::as_bool) == Some(true);
    let violated = usize::try_from(minimum).unwrap_or(usize::MAX) > password.chars().count()
        || (wants("RequireSymbols") && password.chars().all(char::is_alphanumeric))
        || (wants("RequireNumbers") && !password.chars().any(|c| c.is_ascii_digit()))
        || (wants("RequireUppercaseCharacters") && !password.chars().any(char::is_uppercase))
        || (wants("RequireLowercaseCharacters") && !password.chars().any(char::is_lowercase));
    if violated {
        return Err(IdentityError::Client(
            "PasswordPolicyViolation",
            400,
            "Password does not conform to the account password policy.".into(),
        ));
    }
    Ok(())
}

pub fn create_login_profile(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "UserName")?;
    let password = text(input, "Password")?;
    let reset_required =
        opentrail_core::pipeline::input::opt_bool(input, "PasswordResetRequired").unwrap_or(false);
    call.update(|account| {
        check_password(account, password)?;
        let user = user_mut(account, name)?;
        if user.login_profile.is_some() {
            return Err(IdentityError::EntityAlreadyExists(format!(
                "Login Profile for user {name} already exists."
            )));
        }
        let profile = LoginProfile {
            created: call.now,
            reset_required,
        };
        let out = json!({"LoginProfile": login_json(&user.name, &profile)});
        user.login_profile = Some(profile);
        Ok(out)
    })
}

pub fn get_login_profile(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "UserName")?;
    let account = call.account();
    let user = user(&account, name)?;
    let profile = user
        .login_profile
        .as_ref()
        .ok_or_else(|| no_login_profile(name))?;
    Ok(json!({"LoginProfile": login_json(&user.name, profile)}))
}

pub fn update_login_profile(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "UserName")?;
    let password = opt(input, "Password");
    let reset = opentrail_core::pipeline::input::opt_bool(input, "PasswordResetRequired");
    call.update(|account| {
        if let Some(password) = password {
            check_password(account, password)?;
        }
        let profile = user_mut(account, name)?
            .login_profile
            .as_mut()
            .ok_or_else(|| no_login_profile(name))?;
        if let Some(reset) = reset {
            profile.reset_required = reset;
        }
        Ok(json!({}))
    })
}

pub fn delete_login_profile(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "UserName")?;
    call.update(|account| {
        let user = user_mut(account, name)?;
        if user.login_profile.take().is_none() {
            return Err(no_login_profile(name));
        }
        Ok(json!({}))
    })
}

fn profile_json(account: &Account, profile: &InstanceProfile) -> Value {
    let roles: Vec<Value> = profile
        .roles
        .iter()
        .filter_map(|key| account.roles.get(key))
        .map(|role| role_json(role, false))
        .collect();
    let mut out = json!({
        "Path": profile.path,
        "InstanceProfileName": profile.name,
        "InstanceProfileId": profile.id,
        "Arn": profile.arn,
        "CreateDate": profile.created,
        "Roles": roles,
    });
    if !profile.tags.is_empty() {
        out["Tags"] = tags_json(&profile.tags);
    }
    out
}

fn no_profile(name: &str) -> IdentityError {
    IdentityError::NoSuchEntity(format!("Instance Profile {name} cannot be found."))
}

fn profile_mut<'a>(account: &'a mut Account, name: &str) -> Result<&'a mut InstanceProfile> {
    account
        .instance_profiles
        .get_mut(&name.to_lowercase())
        .ok_or_else(|| no_profile(name))
}

pub fn create_instance_profile(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "InstanceProfileName")?;
    check_name(name, "instanceProfileName", 128)?;
    let path = path_of(input, "Path")?;
    let tags = input_tags(input)?;
    call.update(|account| {
        if account.instance_profiles.contains_key(&name.to_lowercase()) {
            return Err(IdentityError::EntityAlreadyExists(format!(
                "Instance Profile {name} already exists."
            )));
        }
        let profile = InstanceProfile {
            name: name.to_owned(),
            id: ids::new_id(IdKind::InstanceProfile),
            path: path.to_owned(),
            arn: call.arn("instance-profile", path, name),
            created: call.now,
            roles: Vec::new(),
            tags,
        };
        let out = json!({"InstanceProfile": profile_json(account, &profile)});
        account
            .instance_profiles
            .insert(name.to_lowercase(), profile);
        Ok(out)
    })
}

pub fn get_instance_profile(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "InstanceProfileName")?;
    let account = call.account();
    let profile = account
        .instance_profiles
        .get(&name.to_lowercase())
        .ok_or_else(|| no_profile(name))?;
    Ok(json!({"InstanceProfile": profile_json(&account, profile)}))
}

pub fn list_instance_profiles(call: &Call<'_>, input: &Value) -> Result<Value> {
    let prefix = path_of(input, "PathPrefix")?;
    let account = call.account();
    let profiles = account
        .instance_profiles
        .values()
        .filter(|p| p.path.starts_with(prefix))
        .collect();
    let (profiles, mut out) = page(input, profiles, |p| p.name.to_lowercase())?;
    out.insert(
        "InstanceProfiles".into(),
        Value::Array(
            profiles
                .into_iter()
                .map(|p| profile_json(&account, p))
                .collect(),
        ),
    );
    Ok(Value::Object(out))
}

pub fn list_instance_profiles_for_role(call: &Call<'_>, input: &Value) -> Result<Value> {
    let account = call.account();
    let key = role(&account, text(input, "RoleName")?)?
        .name
        .to_lowercase();
    let profiles = account
        .instance_profiles
        .values()
        .filter(|p| p.roles.contains(&key))
        .collect();
    let (profiles, mut out) = page(input, profiles, |p| p.name.to_lowercase())?;
    out.insert(
        "InstanceProfiles".into(),
        Value::Array(
            profiles
                .into_iter()
                .map(|p| profile_json(&account, p))
                .collect(),
        ),
    );
    Ok(Value::Object(out))
}

pub fn delete_instance_profile(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "InstanceProfileName")?;
    call.update(|account| {
        if !profile_mut(account, name)?.roles.is_empty() {
            return Err(IdentityError::DeleteConflict(
                "Cannot delete entity, must remove roles from instance profile first.".into(),
            ));
        }
        account.instance_profiles.remove(&name.to_lowercase());
        Ok(json!({}))
    })
}

pub fn add_role_to_instance_profile(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "InstanceProfileName")?;
    let role_name = text(input, "RoleName")?;
    call.update(|account| {
        let key = role(account, role_name)?.name.to_lowercase();
        let profile = profile_mut(account, name)?;
        if profile.roles.contains(&key) {
            return Err(IdentityError::LimitExceeded(format!(
                "Cannot exceed quota for InstanceSessionsPerInstanceProfile: {MAX_PROFILE_ROLES}"
            )));
        }
        if profile.roles.len() >= MAX_PROFILE_ROLES {
            return Err(IdentityError::LimitExceeded(format!(
                "Cannot exceed quota for InstanceSessionsPerInstanceProfile: {MAX_PROFILE_ROLES}"
            )));
        }
        profile.roles.push(key);
        Ok(json!({}))
    })
}

pub fn remove_role_from_instance_profile(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "InstanceProfileName")?;
    let role_name = text(input, "RoleName")?;
    call.update(|account| {
        let key = role(account, role_name)?.name.to_lowercase();
        let profile = profile_mut(account, name)?;
        let before = profile.roles.len();
        profile.roles.retain(|r| *r != key);
        if profile.roles.len() == before {
            return Err(IdentityError::NoSuchEntity(format!(
                "Role {role_name} in Instance Profile {name} cannot be found."
            )));
        }
        Ok(json!({}))
    })
}

pub fn tag_instance_profile(call: &Call<'_>, input: &Value) -> Result<Value> {
    tag_entity(call, input, "InstanceProfileName", |account, name| {
        Ok(&mut profile_mut(account, name)?.tags)
    })
}

pub fn untag_instance_profile(call: &Call<'_>, input: &Value) -> Result<Value> {
    untag_entity(call, input, "InstanceProfileName", |account, name| {
        Ok(&mut profile_mut(account, name)?.tags)
    })
}

/// The part of a service-linked role's name after `AWSServiceRoleFor`, as AWS spells it for
/// the services it names here; other services keep their principal's first part.
fn service_role_suffix(prefix: &str) -> String {
    const KNOWN: &[(&str, &str)] = &[
        ("autoscaling", "AutoScaling"),
        ("elasticbeanstalk", "ElasticBeanstalk"),
        (
            "custom-resource.application-autoscaling",
            "ApplicationAutoScaling_CustomResource",
        ),
        ("cloudtrail", "CloudTrail"),
        ("config", "Config"),
        ("organizations", "Organizations"),
        ("ecs", "ECS"),
        ("rds", "RDS"),
        ("elasticloadbalancing", "ElasticLoadBalancing"),
        ("guardduty", "AmazonGuardDuty"),
        ("securityhub", "SecurityHub"),
        ("sso", "SSO"),
    ];
    KNOWN
        .iter()
        .find(|(service, _)| *service == prefix)
        .map_or_else(|| prefix.to_owned(), |(_, name)| (*name).to_owned())
}

/// CreateServiceLinkedRole: the role `AWSServiceRoleFor<Service>[_<suffix>]` at
/// `/aws-service-role/<service principal>/`, trusting the service.
pub fn create_service_linked_role(call: &Call<'_>, input: &Value) -> Result<Value> {
    let service = text(input, "AWSServiceName")?;
    let Some(prefix) = service.strip_suffix(".amazonaws.com") else {
        return Err(IdentityError::InvalidInput(format!(
            "Unknown service principal {service}."
        )));
    };
    let mut short = service_role_suffix(prefix);
    if let Some(suffix) = opt(input, "CustomSuffix") {
        short = format!("{short}_{suffix}");
    }
    let name = format!("AWSServiceRoleFor{short}");
    let path = format!("/aws-service-role/{service}/");
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
        }],
    })
    .to_string();
    call.update(|account| {
        if account.roles.contains_key(&name.to_lowercase()) {
            return Err(IdentityError::InvalidInput(format!(
                "Service role name {name} has been taken in this account, please try a different suffix."
            )));
        }
        let role = Role {
            name: name.clone(),
            id: ids::new_id(IdKind::Role),
            path: path.clone(),
            arn: call.arn("role", &path, &name),
            created: call.now,
            trust,
            description: opt(input, "Description").map(str::to_owned),
            max_session: super::roles::MIN_SESSION,
            tags: Vec::new(),
            inline: Default::default(),
            attached: Vec::new(),
            boundary: None,
            last_used: None,
        };
        let out = json!({"Role": role_json(&role, false)});
        account.roles.insert(name.to_lowercase(), role);
        Ok(out)
    })
}

/// DeleteServiceLinkedRole deletes at once (AWS checks the service's resources first) and
/// answers the task id GetServiceLinkedRoleDeletionStatus then reports `SUCCEEDED` for.
pub fn delete_service_linked_role(call: &Call<'_>, input: &Value) -> Result<Value> {
    let name = text(input, "RoleName")?;
    call.update(|account| {
        let role = role(account, name)?;
        if !role.path.starts_with("/aws-service-role/") {
            return Err(IdentityError::InvalidInput(format!(
                "{name} is not a service-linked role."
            )));
        }
        let task = format!("task{}{}", role.path, role.name);
        account.roles.remove(&name.to_lowercase());
        Ok(json!({"DeletionTaskId": task}))
    })
}

pub fn get_service_linked_role_deletion_status(_call: &Call<'_>, input: &Value) -> Result<Value> {
    let task = text(input, "DeletionTaskId")?;
    if !task.starts_with("task/aws-service-role/") {
        return Err(IdentityError::InvalidInput(format!(
            "Deletion task {task} is not valid."
        )));
    }
    Ok(json!({"Status": "SUCCEEDED"}))
}

fn check_alias(alias: &str) -> Result<()> {
    let bytes = alias.as_bytes();
    let valid = (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
        && !alias.contains("--");
    if !valid {
        return Err(IdentityError::constraint(
            alias,
            "accountAlias",
            r"Member must satisfy regular expression pattern: ^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$",
        ));
    }
    Ok(())
}

pub fn create_account_alias(call: &Call<'_>, input: &Value) -> Result<Value> {
    let alias = text(input, "AccountAlias")?;
    check_alias(alias)?;
    call.update(|account| {
        account.aliases = vec![alias.to_owned()];
        Ok(json!({}))
    })
}

pub fn list_account_aliases(call: &Call<'_>, _input: &Value) -> Result<Value> {
    let account = call.account();
    Ok(json!({"AccountAliases": account.aliases, "IsTruncated": false}))
}

pub fn delete_account_alias(call: &Call<'_>, input: &Value) -> Result<Value> {
    let alias = text(input, "AccountAlias")?;
    call.update(|account| {
        if !account.aliases.iter().any(|a| a == alias) {
            return Err(IdentityError::NoSuchEntity(format!(
                "The account alias {alias} cannot be found."
            )));
        }
        account.aliases.retain(|a| a != alias);
        Ok(json!({}))
    })
}

pub fn update_account_password_policy(call: &Call<'_>, input: &Value) -> Result<Value> {
    let mut policy = input.as_object().cloned().unwrap_or_default();
    let max_age = policy
        .get("MaxPasswordAge")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    policy.insert("ExpirePasswords".into(), json!(max_age > 0));
    call.update(|account| {
        account.password_policy = Some(Value::Object(policy));
        Ok(json!({}))
    })
}

pub fn get_account_password_policy(call: &Call<'_>, _input: &Value) -> Result<Value> {
    let account = call.account();
    let Some(stored) = &account.password_policy else {
        return Err(IdentityError::NoSuchEntity(format!(
            "The Password Policy with domain name {} cannot be found.",
            call.account
        )));
    };
    let mut policy: Map<String, Value> = [
        ("MinimumPasswordLength", json!(6)),
        ("RequireSymbols", json!(false)),
        ("RequireNumbers", json!(false)),
        ("RequireUppercaseCharacters", json!(false)),
        ("RequireLowercaseCharacters", json!(false)),
        ("AllowUsersToChangePassword", json!(false)),
        ("ExpirePasswords", json!(false)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(members) = stored.as_object() {
        policy.extend(members.clone());
    }
    Ok(json!({"PasswordPolicy": policy}))
}

pub fn delete_account_password_policy(call: &Call<'_>, _input: &Value) -> Result<Value> {
    call.update(|account| {
        if account.password_policy.take().is_none() {
            return Err(IdentityError::NoSuchEntity(
                "The account policy with name PasswordPolicy cannot be found.".into(),
            ));
        }
        Ok(json!({}))
    })
}

pub fn get_account_summary(call: &Call<'_>, _input: &Value) -> Result<Value> {
    let account = call.account();
    let count = |n: usize| json!(n);
    let versions: usize = account.policies.values().map(|p| p.versions.len()).sum();
    Ok(json!({"SummaryMap": {
        "Users": count(account.users.len()),
        "UsersQuota": 5000,
        "Groups": count(account.groups.len()),
        "GroupsQuota": 300,
        "Roles": count(account.roles.len()),
        "RolesQuota": 1000,
        "Policies": count(account.policies.len()),
        "PoliciesQuota": 1500,
        "PolicyVersionsInUse": count(versions),
        "PolicyVersionsInUseQuota": 10000,
        "VersionsPerPolicyQuota": super::policies::MAX_VERSIONS,
        "InstanceProfiles": count(account.instance_profiles.len()),
        "InstanceProfilesQuota": 1000,
        "ServerCertificates": 0,
        "ServerCertificatesQuota": 20,
        "Providers": 0,
        "MFADevices": count(account.mfa_devices.len()),
        "MFADevicesInUse": count(account.mfa_devices.values().filter(|d| d.user.is_some()).count()),
        "AccountMFAEnabled": 0,
        "AccountAccessKeysPresent": 1,
        "AccountPasswordPresent": 0,
        "AccountSigningCertificatesPresent": 0,
        "AccessKeysPerUserQuota": super::users::MAX_KEYS,
        "GroupsPerUserQuota": 10,
        "SigningCertificatesPerUserQuota": 2,
        "AttachedPoliciesPerGroupQuota": super::policies::MAX_ATTACHED,
        "AttachedPoliciesPerRoleQuota": super::policies::MAX_ATTACHED,
        "AttachedPoliciesPerUserQuota": super::policies::MAX_ATTACHED,
        "UserPolicySizeQuota": 2048,
        "GroupPolicySizeQuota": 5120,
        "RolePolicySizeQuota": 10240,
        "PolicySizeQuota": 6144,
        "AssumeRolePolicySizeQuota": 2048,
        "GlobalEndpointTokenVersion": 1,
    }}))
}
