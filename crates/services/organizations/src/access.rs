//! Trusted access for AWS services, delegated administrators, and tags.

use serde_json::{Value, json};

use crate::error::OrgError;
use crate::ids;
use crate::ops::{Call, account_json, epoch_seconds, listed, merge_tag, parse_tags, tags_json};
use crate::store::{Delegation, Organization, Tag};

/// The services that work with Organizations (AWS's "AWS services that you can use with AWS
/// Organizations"): the principals trusted access and delegated administration accept.
pub const INTEGRATED_SERVICES: &[&str] = &[
    "access-analyzer.amazonaws.com",
    "account.amazonaws.com",
    "auditmanager.amazonaws.com",
    "aws-artifact-account-sync.amazonaws.com",
    "backup.amazonaws.com",
    "member.org.stacksets.cloudformation.amazonaws.com",
    "stacksets.cloudformation.amazonaws.com",
    "cloudtrail.amazonaws.com",
    "compute-optimizer.amazonaws.com",
    "config.amazonaws.com",
    "config-multiaccountsetup.amazonaws.com",
    "controltower.amazonaws.com",
    "detective.amazonaws.com",
    "devops-guru.amazonaws.com",
    "ds.amazonaws.com",
    "fms.amazonaws.com",
    "guardduty.amazonaws.com",
    "malware-protection.guardduty.amazonaws.com",
    "health.amazonaws.com",
    "iam.amazonaws.com",
    "inspector2.amazonaws.com",
    "ipam.amazonaws.com",
    "license-manager.amazonaws.com",
    "license-manager.member-account.amazonaws.com",
    "license-manager-linux-subscriptions.amazonaws.com",
    "license-management.marketplace.amazonaws.com",
    "macie.amazonaws.com",
    "mgn.amazonaws.com",
    "ram.amazonaws.com",
    "reachabilityanalyzer.networkinsights.amazonaws.com",
    "reporting.trustedadvisor.amazonaws.com",
    "securityhub.amazonaws.com",
    "securitylake.amazonaws.com",
    "servicecatalog.amazonaws.com",
    "servicequotas.amazonaws.com",
    "sso.amazonaws.com",
    "ssm.amazonaws.com",
    "storage-lens.s3.amazonaws.com",
    "tagpolicies.tag.amazonaws.com",
    "wellarchitected.amazonaws.com",
];

fn check_principal(principal: &str) -> Result<(), OrgError> {
    if INTEGRATED_SERVICES.contains(&principal) {
        Ok(())
    } else {
        Err(OrgError::unrecognized_principal())
    }
}

fn require_all_features(org: &Organization) -> Result<(), OrgError> {
    if org.feature_set == "ALL" {
        Ok(())
    } else {
        Err(OrgError::constraint(
            "ORGANIZATION_NOT_IN_ALL_FEATURES_MODE",
            "You can't perform this operation in an organization that doesn't have all features enabled.",
        ))
    }
}

pub fn enable_aws_service_access(call: &Call) -> Result<Value, OrgError> {
    let principal = call.required("ServicePrincipal")?.to_owned();
    check_principal(&principal)?;
    let now = call.now_ms;
    call.change(|org| {
        require_all_features(org)?;
        enable_service(org, &principal, now);
        Ok(json!({}))
    })
}

/// Turns trusted access for `principal` on (enabling it twice changes nothing).
pub fn enable_service(org: &mut Organization, principal: &str, now_ms: i64) {
    if !org
        .service_access
        .iter()
        .any(|(enabled, _)| enabled == principal)
    {
        org.service_access.push((principal.to_owned(), now_ms));
    }
}

pub fn disable_aws_service_access(call: &Call) -> Result<Value, OrgError> {
    let principal = call.required("ServicePrincipal")?.to_owned();
    check_principal(&principal)?;
    call.change(|org| {
        org.service_access
            .retain(|(enabled, _)| *enabled != principal);
        Ok(json!({}))
    })
}

pub fn list_aws_service_access_for_organization(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let enabled: Vec<Value> = org
        .service_access
        .iter()
        .map(|(principal, ms)| json!({"ServicePrincipal": principal, "DateEnabled": epoch_seconds(*ms)}))
        .collect();
    let (page, next) = call.page(&enabled)?;
    Ok(listed("EnabledServicePrincipals", page, next))
}

/// Registers `account_id` as delegated administrator of `principal` (checks as AWS makes
/// them; also the path CloudTrail's RegisterOrganizationDelegatedAdmin takes).
pub fn register(
    org: &mut Organization,
    account_id: &str,
    principal: &str,
    now_ms: i64,
) -> Result<(), OrgError> {
    check_principal(principal)?;
    if account_id == org.management_account_id {
        return Err(OrgError::constraint(
            "CANNOT_REGISTER_MASTER_AS_DELEGATED_ADMINISTRATOR",
            "You cannot register master account/yourself as delegated administrator for your organization.",
        ));
    }
    let account = org
        .account(account_id)
        .ok_or_else(OrgError::account_not_found)?;
    if account.state != "ACTIVE" {
        return Err(OrgError::constraint(
            "CANNOT_REGISTER_SUSPENDED_ACCOUNT_AS_DELEGATED_ADMINISTRATOR",
            "You cannot register a suspended account as delegated administrator.",
        ));
    }
    let registered = org.delegated.iter().any(|delegation| {
        delegation.account_id == account_id && delegation.service_principal == principal
    });
    if registered {
        return Err(OrgError::account_already_registered());
    }
    org.delegated.push(Delegation {
        account_id: account_id.to_owned(),
        service_principal: principal.to_owned(),
        enabled_ms: now_ms,
    });
    Ok(())
}

/// Removes the registration of `account_id` for `principal`.
pub fn deregister(
    org: &mut Organization,
    account_id: &str,
    principal: &str,
) -> Result<(), OrgError> {
    check_principal(principal)?;
    if org.account(account_id).is_none() {
        return Err(OrgError::account_not_found());
    }
    let before = org.delegated.len();
    org.delegated.retain(|delegation| {
        !(delegation.account_id == account_id && delegation.service_principal == principal)
    });
    if org.delegated.len() == before {
        return Err(OrgError::account_not_registered());
    }
    Ok(())
}

pub fn register_delegated_administrator(call: &Call) -> Result<Value, OrgError> {
    let account = call.required("AccountId")?.to_owned();
    let principal = call.required("ServicePrincipal")?.to_owned();
    let now = call.now_ms;
    call.change(|org| {
        register(org, &account, &principal, now)?;
        Ok(json!({}))
    })
}

pub fn deregister_delegated_administrator(call: &Call) -> Result<Value, OrgError> {
    let account = call.required("AccountId")?.to_owned();
    let principal = call.required("ServicePrincipal")?.to_owned();
    call.change(|org| {
        deregister(org, &account, &principal)?;
        Ok(json!({}))
    })
}

pub fn list_delegated_administrators(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let principal = call.str("ServicePrincipal");
    if let Some(principal) = principal {
        check_principal(principal)?;
    }
    let mut admins: Vec<Value> = Vec::new();
    for account in &org.accounts {
        let first = org
            .delegated
            .iter()
            .filter(|delegation| delegation.account_id == account.id)
            .filter(|delegation| principal.is_none_or(|p| delegation.service_principal == p))
            .map(|delegation| delegation.enabled_ms)
            .min();
        if let Some(enabled_ms) = first {
            let mut admin = account_json(&org, account);
            admin["DelegationEnabledDate"] = epoch_seconds(enabled_ms);
            admins.push(admin);
        }
    }
    let (page, next) = call.page(&admins)?;
    Ok(listed("DelegatedAdministrators", page, next))
}

pub fn list_delegated_services_for_account(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let account = call.required("AccountId")?;
    if org.account(account).is_none() {
        return Err(OrgError::account_not_found());
    }
    let services: Vec<Value> = org
        .delegated
        .iter()
        .filter(|delegation| delegation.account_id == account)
        .map(|delegation| {
            json!({"ServicePrincipal": delegation.service_principal,
                   "DelegationEnabledDate": epoch_seconds(delegation.enabled_ms)})
        })
        .collect();
    if services.is_empty() {
        return Err(OrgError::account_not_registered());
    }
    let (page, next) = call.page(&services)?;
    Ok(listed("DelegatedServices", page, next))
}

/// The tags of a taggable resource (account, OU, root, policy), checked for form and existence.
fn tags_of<'a>(org: &'a mut Organization, id: &str) -> Result<&'a mut Vec<Tag>, OrgError> {
    let known =
        ids::is_account_id(id) || ids::is_ou_id(id) || ids::is_root_id(id) || ids::is_policy_id(id);
    if !known {
        return Err(OrgError::invalid_pattern());
    }
    if id == org.root.id {
        return Ok(&mut org.root.tags);
    }
    if let Some(account) = org.accounts.iter_mut().find(|account| account.id == id) {
        return Ok(&mut account.tags);
    }
    if let Some(unit) = org.units.iter_mut().find(|unit| unit.id == id) {
        return Ok(&mut unit.tags);
    }
    match org.policies.iter_mut().find(|policy| policy.id == id) {
        Some(policy) if !policy.aws_managed => Ok(&mut policy.tags),
        _ => Err(OrgError::target_not_found()),
    }
}

pub fn tag_resource(call: &Call) -> Result<Value, OrgError> {
    let id = call.required("ResourceId")?.to_owned();
    let new = parse_tags(call.input.get("Tags"));
    call.change(|org| {
        let tags = tags_of(org, &id)?;
        for tag in new {
            merge_tag(tags, tag);
        }
        if tags.len() > 50 {
            return Err(OrgError::constraint(
                "MAX_TAG_LIMIT_EXCEEDED",
                "You have exceeded the maximum number of tags allowed on this resource.",
            ));
        }
        Ok(json!({}))
    })
}

pub fn untag_resource(call: &Call) -> Result<Value, OrgError> {
    let id = call.required("ResourceId")?.to_owned();
    let keys = opentrail_core::pipeline::input::string_list(&call.input, "TagKeys");
    call.change(|org| {
        tags_of(org, &id)?.retain(|tag| !keys.contains(&tag.key));
        Ok(json!({}))
    })
}

pub fn list_tags_for_resource(call: &Call) -> Result<Value, OrgError> {
    let mut org = Organization::clone(&*call.reader_org()?);
    let id = call.required("ResourceId")?;
    let tags = tags_of(&mut org, id)?;
    Ok(json!({"Tags": tags_json(tags)}))
}
