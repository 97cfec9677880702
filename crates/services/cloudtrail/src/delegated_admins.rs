//! RegisterOrganizationDelegatedAdmin and DeregisterOrganizationDelegatedAdmin: a member
//! account of the caller's organization becomes (or stops being) a delegated administrator
//! of CloudTrail. As in AWS, registering turns on trusted access for CloudTrail in
//! Organizations and records the account as delegated administrator of
//! `cloudtrail.amazonaws.com` there ([`opentrail_organizations::register_delegated_admin`]).
//! Only the organization's management account may call them.

use opentrail_core::AppState;
use opentrail_core::context::RequestContext;
use opentrail_organizations::OrgError;
use serde_json::{Value, json};

use crate::error::CloudTrailError;
use crate::required_str;

/// CloudTrail's service principal in Organizations.
pub const SERVICE_PRINCIPAL: &str = "cloudtrail.amazonaws.com";
/// How many delegated administrators CloudTrail allows in one organization.
pub const MAX_DELEGATED_ADMINS: usize = 3;

pub fn register_organization_delegated_admin(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let member = required_str(input, "MemberAccountId")?;
    check_account_id(member)?;
    if let Some(org) = opentrail_organizations::organization_of(state, &ctx.account_id) {
        let registered = opentrail_organizations::member_accounts(state, &org.organization_id)
            .iter()
            .filter(|account| {
                opentrail_organizations::is_delegated_admin(state, account, SERVICE_PRINCIPAL)
            })
            .count();
        if registered >= MAX_DELEGATED_ADMINS
            && !opentrail_organizations::is_delegated_admin(state, member, SERVICE_PRINCIPAL)
        {
            return Err(CloudTrailError::Organization {
                code: "DelegatedAdminAccountLimitExceededException",
                message: format!(
                    "The number of delegated administrators would exceed the limit of {MAX_DELEGATED_ADMINS}."
                ),
            });
        }
    }
    let now_ms = opentrail_model::time::to_ms(ctx.time);
    opentrail_organizations::register_delegated_admin(
        state,
        &ctx.account_id,
        member,
        SERVICE_PRINCIPAL,
        now_ms,
    )
    .map_err(|err| organization_error(&err, &ctx.account_id, member))?;
    Ok(json!({}))
}

pub fn deregister_organization_delegated_admin(
    state: &AppState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let admin = required_str(input, "DelegatedAdminAccountId")?;
    check_account_id(admin)?;
    opentrail_organizations::deregister_delegated_admin(
        state,
        &ctx.account_id,
        admin,
        SERVICE_PRINCIPAL,
    )
    .map_err(|err| organization_error(&err, &ctx.account_id, admin))?;
    Ok(json!({}))
}

fn check_account_id(account: &str) -> Result<(), CloudTrailError> {
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    Err(CloudTrailError::InvalidParameter(format!(
        "Account ID {account} is not valid: it must be 12 digits."
    )))
}

/// An Organizations error as CloudTrail's model names it.
fn organization_error(err: &OrgError, caller: &str, account: &str) -> CloudTrailError {
    let (code, message) = match (err.aws_code(), err.reason()) {
        ("AWSOrganizationsNotInUseException", _) => (
            "OrganizationsNotInUseException",
            format!("Account {caller} is not a member of an organization."),
        ),
        ("AccessDeniedException", _) => (
            "NotOrganizationManagementAccountException",
            format!("Account {caller} is not the management account of its organization."),
        ),
        ("AccountNotFoundException", _) => (
            "AccountNotFoundException",
            format!("Account {account} is not a member of the organization."),
        ),
        ("AccountAlreadyRegisteredException", _) => (
            "AccountRegisteredException",
            format!("Account {account} is already registered as a delegated administrator."),
        ),
        ("AccountNotRegisteredException", _) => (
            "AccountNotRegisteredException",
            format!("Account {account} is not registered as a delegated administrator."),
        ),
        (_, Some("CANNOT_REGISTER_MASTER_AS_DELEGATED_ADMINISTRATOR")) => (
            "CannotDelegateManagementAccountException",
            "The management account of an organization cannot be its delegated administrator."
                .to_owned(),
        ),
        (_, Some("ORGANIZATION_NOT_IN_ALL_FEATURES_MODE")) => (
            "OrganizationNotInAllFeaturesModeException",
            "The organization does not have all features enabled.".to_owned(),
        ),
        ("ServiceException", _) => {
            return CloudTrailError::Internal("the organizations store failed".to_owned());
        }
        _ => ("OperationNotPermittedException", err.to_string()),
    };
    CloudTrailError::Organization { code, message }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentrail_core::ServerConfig;
    use opentrail_organizations::ops::Call;
    use opentrail_organizations::store::Registry;
    use opentrail_organizations::{accounts, is_delegated_admin};

    use super::*;

    fn org_call(state: &Arc<AppState>, account: &str, input: Value) -> Call {
        Call {
            state: state.clone(),
            registry: Registry::of(state),
            account: account.to_owned(),
            region: "us-east-1".to_owned(),
            input,
            now_ms: 0,
        }
    }

    fn code(result: Result<Value, CloudTrailError>) -> &'static str {
        result.expect_err("must fail").aws_code()
    }

    #[test]
    fn registers_through_organizations_with_cloudtrail_codes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state =
            Arc::new(AppState::open(ServerConfig::for_tests(dir.path().into())).expect("state"));
        let ctx = RequestContext::for_tests("us-east-1");
        let mgmt = ctx.account_id.clone();
        let input = json!({"MemberAccountId": "222222222222"});
        assert_eq!(
            code(register_organization_delegated_admin(&state, &ctx, &input)),
            "OrganizationsNotInUseException"
        );
        accounts::create_organization(&org_call(&state, &mgmt, json!({}))).expect("org");
        let created = accounts::create_account(&org_call(
            &state,
            &mgmt,
            json!({"Email": "m@example.com", "AccountName": "m"}),
        ))
        .expect("account");
        let request = created["CreateAccountStatus"]["Id"].clone();
        let status = accounts::describe_create_account_status(&org_call(
            &state,
            &mgmt,
            json!({"CreateAccountRequestId": request}),
        ))
        .expect("status");
        let member = status["CreateAccountStatus"]["AccountId"]
            .as_str()
            .expect("member")
            .to_owned();
        assert_eq!(
            code(register_organization_delegated_admin(&state, &ctx, &input)),
            "AccountNotFoundException"
        );
        assert_eq!(
            code(register_organization_delegated_admin(
                &state,
                &ctx,
                &json!({"MemberAccountId": mgmt})
            )),
            "CannotDelegateManagementAccountException"
        );
        let input = json!({"MemberAccountId": member});
        register_organization_delegated_admin(&state, &ctx, &input).expect("register");
        assert!(is_delegated_admin(&state, &member, SERVICE_PRINCIPAL));
        assert_eq!(
            code(register_organization_delegated_admin(&state, &ctx, &input)),
            "AccountRegisteredException"
        );
        let as_member = RequestContext {
            account_id: member.clone(),
            ..RequestContext::for_tests("us-east-1")
        };
        assert_eq!(
            code(register_organization_delegated_admin(
                &state, &as_member, &input
            )),
            "NotOrganizationManagementAccountException"
        );
        let input = json!({"DelegatedAdminAccountId": member});
        deregister_organization_delegated_admin(&state, &ctx, &input).expect("deregister");
        assert!(!is_delegated_admin(&state, &member, SERVICE_PRINCIPAL));
        assert_eq!(
            code(deregister_organization_delegated_admin(
                &state, &ctx, &input
            )),
            "AccountNotRegisteredException"
        );
    }
}
