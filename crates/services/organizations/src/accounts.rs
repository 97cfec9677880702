//! The organization itself and its accounts: CreateOrganization, DescribeOrganization,
//! DeleteOrganization, CreateAccount and its status, DescribeAccount, ListAccounts,
//! ListAccountsForParent, RemoveAccountFromOrganization, CloseAccount.
//!
//! CreateAccount answers `IN_PROGRESS`, as AWS does, and completes the account in the same
//! transaction: DescribeCreateAccountStatus reads `SUCCEEDED` (with the new `AccountId`) from
//! the first call after.

use serde_json::{Value, json};

use crate::error::OrgError;
use crate::ids;
use crate::ops::{Call, account_json, epoch_seconds, listed, parse_tags};
use crate::provision::{self, NewAccount};
use crate::store::{
    self, Account, CreateRequest, FORMAT_VERSION, FULL_AWS_ACCESS, Keep, Organization, Policy, RCP,
    RCP_FULL_AWS_ACCESS, Root, SCP,
};

/// The e-mail DescribeOrganization shows for the management account: opentrail knows none for
/// an account it did not create, so it answers the placeholder other AWS emulators answer, at
/// the reserved `example.com` domain.
pub const MANAGEMENT_EMAIL: &str = "master@example.com";
pub const DEFAULT_ROLE_NAME: &str = "OrganizationAccountAccessRole";

pub fn create_organization(call: &Call) -> Result<Value, OrgError> {
    let feature_set = call.str("FeatureSet").unwrap_or("ALL").to_owned();
    let root_id = ids::new_root_id();
    let mut org = Organization {
        version: FORMAT_VERSION,
        id: ids::new_organization_id(),
        partition: store::partition_of(&call.region).to_owned(),
        feature_set: feature_set.clone(),
        management_account_id: call.account.clone(),
        management_email: MANAGEMENT_EMAIL.to_owned(),
        root: Root {
            id: root_id.clone(),
            policy_types: Vec::new(),
            tags: Vec::new(),
        },
        units: Vec::new(),
        accounts: vec![Account {
            id: call.account.clone(),
            name: call.account.clone(),
            email: MANAGEMENT_EMAIL.to_owned(),
            state: "ACTIVE".to_owned(),
            joined_method: "INVITED".to_owned(),
            joined_ms: call.now_ms,
            parent_id: root_id.clone(),
            tags: Vec::new(),
        }],
        policies: Vec::new(),
        attachments: Vec::new(),
        service_access: Vec::new(),
        delegated: Vec::new(),
        create_requests: Vec::new(),
        created_ms: call.now_ms,
    };
    if feature_set == "ALL" {
        // The AWS managed policies that allow everything, attached to every root, OU and
        // account so that enabling a policy type denies nothing by itself.
        org.policies.push(Policy {
            id: FULL_AWS_ACCESS.to_owned(),
            name: "FullAWSAccess".to_owned(),
            description: "Allows access to every operation".to_owned(),
            policy_type: SCP.to_owned(),
            content: json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
            .to_string(),
            aws_managed: true,
            tags: Vec::new(),
        });
        org.policies.push(Policy {
            id: RCP_FULL_AWS_ACCESS.to_owned(),
            name: "RCPFullAWSAccess".to_owned(),
            description: "Allows access to every resource".to_owned(),
            policy_type: RCP.to_owned(),
            content: json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})
            .to_string(),
            aws_managed: true,
            tags: Vec::new(),
        });
        attach_managed(&mut org, &root_id);
        attach_managed(&mut org, &call.account);
    }
    let out = organization_json(&org);
    call.registry.create(&call.state, org)?;
    Ok(out)
}

/// Attaches the AWS managed full-access policies to a new root, OU or account.
pub fn attach_managed(org: &mut Organization, target: &str) {
    for policy in [FULL_AWS_ACCESS, RCP_FULL_AWS_ACCESS] {
        if org.policy(policy).is_some() && !org.attached(policy, target) {
            org.attachments.push((policy.to_owned(), target.to_owned()));
        }
    }
}

fn organization_json(org: &Organization) -> Value {
    json!({"Organization": {
        "Id": org.id,
        "Arn": org.arn(),
        "FeatureSet": org.feature_set,
        "MasterAccountArn": org.account_arn(&org.management_account_id),
        "MasterAccountId": org.management_account_id,
        "MasterAccountEmail": org.management_email,
        // Deprecated in the API; AWS still answers it this way.
        "AvailablePolicyTypes": [{"Type": SCP, "Status": "ENABLED"}],
    }})
}

pub fn describe_organization(call: &Call) -> Result<Value, OrgError> {
    Ok(organization_json(&*call.member_org()?))
}

pub fn delete_organization(call: &Call) -> Result<Value, OrgError> {
    call.registry.change(&call.state, &call.account, |org| {
        if org.accounts.len() > 1 {
            return Err(OrgError::organization_not_empty());
        }
        Ok(((), Keep::Nothing))
    })?;
    Ok(json!({}))
}

pub fn create_account(call: &Call) -> Result<Value, OrgError> {
    let email = call.required("Email")?.to_owned();
    let account_name = call.required("AccountName")?.to_owned();
    let role_name = call.str("RoleName").unwrap_or(DEFAULT_ROLE_NAME).to_owned();
    let tags = parse_tags(call.input.get("Tags"));
    let request_id = ids::new_create_request_id();
    let now = call.now_ms;
    let state = call.state.clone();
    call.change(|org| {
        let mut request = CreateRequest {
            id: request_id.clone(),
            account_name: account_name.clone(),
            state: "IN_PROGRESS".to_owned(),
            requested_ms: now,
            completed_ms: Some(now),
            account_id: None,
            failure_reason: None,
        };
        let answer = create_status_json(&request);
        if org.accounts.iter().any(|account| account.email == email) {
            request.state = "FAILED".to_owned();
            request.failure_reason = Some("EMAIL_ALREADY_EXISTS".to_owned());
            org.create_requests.push(request);
            return Ok(answer);
        }
        let account_id = loop {
            let id = ids::new_account_id();
            if org.account(&id).is_none() && id != org.management_account_id {
                break id;
            }
        };
        let new = NewAccount {
            account_id: account_id.clone(),
            account_name: account_name.clone(),
            email: email.clone(),
            role_name: role_name.clone(),
            management_account_id: org.management_account_id.clone(),
            organization_id: org.id.clone(),
        };
        if let Err(err) = provision::provision(&state, &new) {
            tracing::error!(error = %err, account = %account_id, "provisioning a new account failed");
            request.state = "FAILED".to_owned();
            request.failure_reason = Some("INTERNAL_FAILURE".to_owned());
            org.create_requests.push(request);
            return Ok(answer);
        }
        org.accounts.push(Account {
            id: account_id.clone(),
            name: account_name.clone(),
            email: email.clone(),
            state: "ACTIVE".to_owned(),
            joined_method: "CREATED".to_owned(),
            joined_ms: now,
            parent_id: org.root.id.clone(),
            tags: tags.clone(),
        });
        attach_managed(org, &account_id);
        request.state = "SUCCEEDED".to_owned();
        request.account_id = Some(account_id);
        org.create_requests.push(request);
        Ok(answer)
    })
}

/// `{"CreateAccountStatus": …}` as the request stands.
fn create_status_json(request: &CreateRequest) -> Value {
    json!({"CreateAccountStatus": create_status(request)})
}

fn create_status(request: &CreateRequest) -> Value {
    let mut status = json!({
        "Id": request.id,
        "AccountName": request.account_name,
        "State": request.state,
        "RequestedTimestamp": epoch_seconds(request.requested_ms),
    });
    if let Some(completed) = request
        .completed_ms
        .filter(|_| request.state != "IN_PROGRESS")
    {
        status["CompletedTimestamp"] = epoch_seconds(completed);
    }
    if let Some(account) = &request.account_id {
        status["AccountId"] = json!(account);
    }
    if let Some(reason) = &request.failure_reason {
        status["FailureReason"] = json!(reason);
    }
    status
}

pub fn describe_create_account_status(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let id = call.required("CreateAccountRequestId")?;
    let request = org
        .create_requests
        .iter()
        .find(|request| request.id == id)
        .ok_or_else(OrgError::create_request_not_found)?;
    Ok(create_status_json(request))
}

pub fn list_create_account_status(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let states = opentrail_core::pipeline::input::string_list(&call.input, "States");
    let matching: Vec<Value> = org
        .create_requests
        .iter()
        .filter(|request| states.is_empty() || states.contains(&request.state))
        .map(create_status)
        .collect();
    let (page, next) = call.page(&matching)?;
    Ok(listed("CreateAccountStatuses", page, next))
}

pub fn describe_account(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let id = call.required("AccountId")?;
    let account = org.account(id).ok_or_else(OrgError::account_not_found)?;
    Ok(json!({"Account": account_json(&org, account)}))
}

pub fn list_accounts(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let accounts: Vec<Value> = org
        .accounts
        .iter()
        .map(|account| account_json(&org, account))
        .collect();
    let (page, next) = call.page(&accounts)?;
    Ok(listed("Accounts", page, next))
}

pub fn list_accounts_for_parent(call: &Call) -> Result<Value, OrgError> {
    let org = call.reader_org()?;
    let parent = call.required("ParentId")?;
    if !org.is_parent(parent) {
        return Err(OrgError::parent_not_found());
    }
    let accounts: Vec<Value> = org
        .accounts
        .iter()
        .filter(|account| account.parent_id == parent)
        .map(|account| account_json(&org, account))
        .collect();
    let (page, next) = call.page(&accounts)?;
    Ok(listed("Accounts", page, next))
}

pub fn remove_account_from_organization(call: &Call) -> Result<Value, OrgError> {
    let id = call.required("AccountId")?.to_owned();
    call.change(|org| {
        if org.account(&id).is_none() {
            return Err(OrgError::account_not_found());
        }
        if id == org.management_account_id {
            return Err(OrgError::Client {
                code: "MasterCannotLeaveOrganizationException",
                message: "You can't remove the management account from an organization. You must delete the organization instead.".to_owned(),
                reason: None,
            });
        }
        if org.delegated.iter().any(|delegation| delegation.account_id == id) {
            return Err(OrgError::constraint(
                "CANNOT_REMOVE_DELEGATED_ADMINISTRATOR_FROM_ORG",
                "You cannot remove an account that is a delegated administrator from the organization. Deregister it first.",
            ));
        }
        org.accounts.retain(|account| account.id != id);
        org.attachments.retain(|(_, target)| *target != id);
        Ok(json!({}))
    })
}

pub fn close_account(call: &Call) -> Result<Value, OrgError> {
    let id = call.required("AccountId")?.to_owned();
    call.change(|org| {
        if id == org.management_account_id {
            return Err(OrgError::constraint(
                "CANNOT_CLOSE_MANAGEMENT_ACCOUNT",
                "You cannot close the management account of an organization.",
            ));
        }
        let account = org
            .account_mut(&id)
            .ok_or_else(OrgError::account_not_found)?;
        if account.state != "ACTIVE" {
            return Err(OrgError::account_already_closed());
        }
        account.state = "SUSPENDED".to_owned();
        Ok(json!({}))
    })
}
