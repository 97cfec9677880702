//! Policies: EnablePolicyType / DisablePolicyType, CreatePolicy, DescribePolicy,
//! UpdatePolicy, DeletePolicy, ListPolicies, AttachPolicy, DetachPolicy,
//! ListPoliciesForTarget, ListTargetsForPolicy.

use serde_json::{Value, json};

use crate::error::OrgError;
use crate::ids;
use crate::ops::{Call, listed, parse_tags, policy_json, policy_summary, root_json};
use crate::store::{FULL_AWS_ACCESS, Organization, Policy, RCP, RCP_FULL_AWS_ACCESS, SCP};

/// The policy types of the model (`PolicyType`).
pub const POLICY_TYPES: &[&str] = &[
    "SERVICE_CONTROL_POLICY",
    "RESOURCE_CONTROL_POLICY",
    "TAG_POLICY",
    "BACKUP_POLICY",
    "AISERVICES_OPT_OUT_POLICY",
    "CHATBOT_POLICY",
    "DECLARATIVE_POLICY_EC2",
    "SECURITYHUB_POLICY",
    "INSPECTOR_POLICY",
    "UPGRADE_ROLLOUT_POLICY",
    "BEDROCK_POLICY",
    "S3_POLICY",
    "NETWORK_SECURITY_DIRECTOR_POLICY",
];

fn check_type(kind: &str) -> Result<(), OrgError> {
    if POLICY_TYPES.contains(&kind) {
        Ok(())
    } else {
        Err(OrgError::invalid_input(
            "INVALID_ENUM_POLICY_TYPE",
            "You specified an invalid value.",
        ))
    }
}

/// The largest document of a policy type, in characters (SCPs and RCPs 5,120; the
/// management policies 10,000).
fn content_limit(kind: &str) -> usize {
    if kind == SCP || kind == RCP {
        5_120
    } else {
        10_000
    }
}

/// Checks a policy document: a JSON object within its type's size limit.
fn check_content(kind: &str, content: &str) -> Result<(), OrgError> {
    if content.chars().count() > content_limit(kind) {
        return Err(OrgError::constraint(
            "POLICY_CONTENT_LIMIT_EXCEEDED",
            "You attempted to create a policy that is larger than the maximum size for its type.",
        ));
    }
    match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(_) => Err(OrgError::malformed_policy(
            "The document must be a JSON object.",
        )),
        Err(err) => Err(OrgError::malformed_policy(&format!(
            "The document is not valid JSON: {err}."
        ))),
    }
}

fn check_policy_id(id: &str) -> Result<(), OrgError> {
    if ids::is_policy_id(id) {
        Ok(())
    } else {
        Err(OrgError::invalid_input(
            "INVALID_SYNTAX_POLICY_ID",
            "You specified an invalid value.",
        ))
    }
}

/// The policy `id` of the organization, checked for form and existence (for the reads).
fn find_policy<'a>(org: &'a Organization, id: &str) -> Result<&'a Policy, OrgError> {
    check_policy_id(id)?;
    org.policy(id).ok_or_else(OrgError::policy_not_found)
}

/// The policy `id` a change names; AWS words its absence differently from the reads.
fn policy_to_change<'a>(org: &'a Organization, id: &str) -> Result<&'a Policy, OrgError> {
    check_policy_id(id)?;
    org.policy(id).ok_or_else(|| OrgError::Client {
        code: "PolicyNotFoundException",
        message: "We can't find a policy with the PolicyId that you specified.".to_owned(),
        reason: None,
    })
}

/// Checks a target id (root, OU or account) for form and existence. A missing OU is
/// `OrganizationalUnitNotFoundException` and a missing account `AccountNotFoundException`;
/// a missing root is `missing_root`.
pub fn check_target(
    org: &Organization,
    id: &str,
    missing_root: fn() -> OrgError,
) -> Result<(), OrgError> {
    if ids::is_root_id(id) {
        return if id == org.root.id {
            Ok(())
        } else {
            Err(missing_root())
        };
    }
    if ids::is_ou_id(id) {
        return org.unit(id).map(|_| ()).ok_or_else(OrgError::ou_not_found);
    }
    if ids::is_account_id(id) {
        return org
            .account(id)
            .map(|_| ())
            .ok_or_else(OrgError::account_not_found);
    }
    Err(OrgError::invalid_target_id())
}

pub fn enable_policy_type(call: &Call) -> Result<Value, OrgError> {
    let root = call.required("RootId")?.to_owned();
    let kind = call.required("PolicyType")?.to_owned();
    check_type(&kind)?;
    call.change(|org| {
        if root != org.root.id {
            return Err(OrgError::root_not_found());
        }
        if org.feature_set != "ALL" {
            return Err(OrgError::policy_type_not_available());
        }
        if org.enabled(&kind) {
            return Err(OrgError::policy_type_already_enabled());
        }
        org.root.policy_types.push(kind.clone());
        // Every root, OU and account starts with the AWS managed full-access policy of its
        // type, so enabling the type changes no one's permissions.
        let managed = match kind.as_str() {
            SCP => Some(FULL_AWS_ACCESS),
            RCP => Some(RCP_FULL_AWS_ACCESS),
            _ => None,
        };
        if let Some(managed) = managed.filter(|id| org.policy(id).is_some()) {
            let targets: Vec<String> = std::iter::once(org.root.id.clone())
                .chain(org.units.iter().map(|unit| unit.id.clone()))
                .chain(org.accounts.iter().map(|account| account.id.clone()))
                .collect();
            for target in targets {
                if !org.attached(managed, &target) {
                    org.attachments.push((managed.to_owned(), target));
                }
            }
        }
        Ok(json!({"Root": root_json(org)}))
    })
}

pub fn disable_policy_type(call: &Call) -> Result<Value, OrgError> {
    let root = call.required("RootId")?.to_owned();
    let kind = call.required("PolicyType")?.to_owned();
    check_type(&kind)?;
    call.change(|org| {
        if root != org.root.id {
            return Err(OrgError::root_not_found());
        }
        if !org.enabled(&kind) {
            return Err(OrgError::policy_type_not_enabled());
        }
        org.root.policy_types.retain(|enabled| *enabled != kind);
        // AWS detaches every policy of the type; enabling it again starts from the managed
        // full-access policy alone.
        let of_kind: Vec<String> = org
            .policies
            .iter()
            .filter(|policy| policy.policy_type == kind)
            .map(|policy| policy.id.clone())
            .collect();
        org.attachments
            .retain(|(policy, _)| !of_kind.contains(policy));
        Ok(json!({"Root": root_json(org)}))
    })
}

pub fn create_policy(call: &Call) -> Result<Value, OrgError> {
    let content = call.required("Content")?.to_owned();
    let description = call.str("Description").unwrap_or("").to_owned();
    let name = call.required("Name")?.to_owned();
    let kind = call.required("Type")?.to_owned();
    let tags = parse_tags(call.input.get("Tags"));
    check_type(&kind)?;
    check_content(&kind, &content)?;
    call.change(|org| {
        if org.feature_set != "ALL" {
            return Err(OrgError::policy_type_not_available());
        }
        if org
            .policies
            .iter()
            .any(|policy| policy.name == name && policy.policy_type == kind)
        {
            return Err(OrgError::duplicate_policy());
        }
        let id = loop {
            let id = ids::new_policy_id();
            if org.policy(&id).is_none() {
                break id;
            }
        };
        let policy = Policy {
            id,
            name: name.clone(),
            description: description.clone(),
            policy_type: kind.clone(),
            content: content.clone(),
            aws_managed: false,
            tags: tags.clone(),
        };
        let out = policy_json(org, &policy);
        org.policies.push(policy);
        Ok(out)
    })
}

pub fn describe_policy(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let policy = find_policy(&org, call.required("PolicyId")?)?;
    Ok(policy_json(&org, policy))
}

fn immutable() -> OrgError {
    OrgError::invalid_input(
        "IMMUTABLE_POLICY",
        "You specified a policy that is managed by AWS and can't be modified.",
    )
}

pub fn update_policy(call: &Call) -> Result<Value, OrgError> {
    let id = call.required("PolicyId")?.to_owned();
    let name = call.str("Name").map(str::to_owned);
    let description = call.str("Description").map(str::to_owned);
    let content = call.str("Content").map(str::to_owned);
    call.change(|org| {
        let current = policy_to_change(org, &id)?.clone();
        if current.aws_managed {
            return Err(immutable());
        }
        if let Some(content) = &content {
            check_content(&current.policy_type, content)?;
        }
        if let Some(name) = &name {
            let taken = org.policies.iter().any(|policy| {
                policy.name == *name && policy.policy_type == current.policy_type && policy.id != id
            });
            if taken {
                return Err(OrgError::duplicate_policy());
            }
        }
        let policy = org
            .policies
            .iter_mut()
            .find(|policy| policy.id == id)
            .ok_or_else(OrgError::policy_not_found)?;
        if let Some(name) = name {
            policy.name = name;
        }
        if let Some(description) = description {
            policy.description = description;
        }
        if let Some(content) = content {
            policy.content = content;
        }
        let policy = policy.clone();
        Ok(policy_json(org, &policy))
    })
}

pub fn delete_policy(call: &Call) -> Result<Value, OrgError> {
    let id = call.required("PolicyId")?.to_owned();
    call.change(|org| {
        if policy_to_change(org, &id)?.aws_managed {
            return Err(immutable());
        }
        if org.attachments.iter().any(|(policy, _)| *policy == id) {
            return Err(OrgError::policy_in_use());
        }
        org.policies.retain(|policy| policy.id != id);
        Ok(json!({}))
    })
}

pub fn list_policies(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let kind = call.required("Filter")?;
    check_type(kind)?;
    let policies: Vec<Value> = org
        .policies
        .iter()
        .filter(|policy| policy.policy_type == kind)
        .map(|policy| policy_summary(&org, policy))
        .collect();
    let (page, next) = call.page(&policies)?;
    Ok(listed("Policies", page, next))
}

pub fn attach_policy(call: &Call) -> Result<Value, OrgError> {
    let id = call.required("PolicyId")?.to_owned();
    let target = call.required("TargetId")?.to_owned();
    call.change(|org| {
        let kind = policy_to_change(org, &id)?.policy_type.clone();
        check_target(org, &target, OrgError::ou_not_found)?;
        if !org.enabled(&kind) {
            return Err(OrgError::policy_type_not_enabled());
        }
        if org.attached(&id, &target) {
            return Err(OrgError::duplicate_policy_attachment());
        }
        org.attachments.push((id.clone(), target.clone()));
        Ok(json!({}))
    })
}

pub fn detach_policy(call: &Call) -> Result<Value, OrgError> {
    let id = call.required("PolicyId")?.to_owned();
    let target = call.required("TargetId")?.to_owned();
    call.change(|org| {
        let kind = policy_to_change(org, &id)?.policy_type.clone();
        check_target(org, &target, OrgError::ou_not_found)?;
        if !org.attached(&id, &target) {
            return Err(OrgError::policy_not_attached());
        }
        // While SCPs (or RCPs) are enabled, every root, OU and account keeps at least one.
        if (kind == SCP || kind == RCP)
            && org.enabled(&kind)
            && org.policies_on(&target, &kind).len() == 1
        {
            return Err(OrgError::constraint(
                "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
                "You attempted to detach a policy from an entity that would leave it with fewer than the minimum number of policies of that type.",
            ));
        }
        org.attachments
            .retain(|(policy, attached)| !(*policy == id && *attached == target));
        Ok(json!({}))
    })
}

pub fn list_policies_for_target(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let target = call.required("TargetId")?;
    let kind = call.required("Filter")?;
    check_type(kind)?;
    check_target(&org, target, OrgError::target_not_found)?;
    let policies: Vec<Value> = org
        .policies_on(target, kind)
        .into_iter()
        .map(|policy| policy_summary(&org, policy))
        .collect();
    let (page, next) = call.page(&policies)?;
    Ok(listed("Policies", page, next))
}

pub fn list_targets_for_policy(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let id = call.required("PolicyId")?;
    find_policy(&org, id)?;
    let targets: Vec<Value> = org
        .attachments
        .iter()
        .filter(|(policy, _)| policy == id)
        .map(|(_, target)| target_json(&org, target))
        .collect();
    let (page, next) = call.page(&targets)?;
    Ok(listed("Targets", page, next))
}

/// A `PolicyTargetSummary`.
fn target_json(org: &Organization, target: &str) -> Value {
    if target == org.root.id {
        return json!({"TargetId": target, "Arn": org.root_arn(), "Name": "Root", "Type": "ROOT"});
    }
    if let Some(unit) = org.unit(target) {
        return json!({"TargetId": target, "Arn": org.ou_arn(target), "Name": unit.name,
                      "Type": "ORGANIZATIONAL_UNIT"});
    }
    let name = org
        .account(target)
        .map_or("", |account| account.name.as_str());
    json!({"TargetId": target, "Arn": org.account_arn(target), "Name": name, "Type": "ACCOUNT"})
}
