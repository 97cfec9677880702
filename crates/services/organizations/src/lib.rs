//! AWS Organizations (`organizations.amazonaws.com`, awsJson 1.1
//! `AWSOrganizationsV20161128`): organizations of accounts, their tree of organizational
//! units, policies (service control policies and the others), trusted access for AWS services
//! and delegated administrators — and the questions other crates ask about them.
//!
//! [`Organizations`] answers through the request pipeline (`opentrail_core::pipeline`): a
//! request is checked against the embedded botocore model, then the handler of its [`Op`] runs
//! on the blocking pool against the metadata store ([`store`]). Organizations is a global
//! service: its records carry `eventSource` `organizations.amazonaws.com` and `awsRegion`
//! `us-east-1` ([`GLOBAL_REGION`]), whatever region signed the call.
//!
//! Who may call: any member account may call DescribeOrganization; reading the structure
//! (`List*`, `Describe*`) needs the management account or a delegated administrator; every
//! change needs the management account (others get `AccessDeniedException`).
//!
//! For other crates (cheap: an in-memory index, see [`store::Registry`]):
//! [`organization_of`], [`scp_chain`], [`member_accounts`], [`is_delegated_admin`],
//! [`register_delegated_admin`] / [`deregister_delegated_admin`] (CloudTrail's
//! RegisterOrganizationDelegatedAdmin), and the [`AccountProvisioner`] hook the server
//! registers to give new accounts their credentials and access role.
//!
//! # Layout
//! - [`error`]: [`OrgError`] and its AWS codes (with the `Reason` of the two exceptions that
//!   have one).
//! - [`ids`]: the ids Organizations hands out and the checks of ids callers send.
//! - [`store`]: the tables in the metadata store and the in-memory [`store::Registry`].
//! - [`ops`]: the [`ops::Call`] context, who may call what, pagination, JSON shapes.
//! - [`accounts`]: the organization and its accounts.
//! - [`units`]: the root, organizational units, parents and children, MoveAccount.
//! - [`policies`]: policy types, policies and their attachments.
//! - [`access`]: trusted access, delegated administrators, tags.
//! - [`provision`]: the [`AccountProvisioner`] hook.

pub mod access;
pub mod accounts;
pub mod error;
pub mod ids;
pub mod ops;
pub mod policies;
pub mod provision;
pub mod store;
pub mod units;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use opentrail_api::{ApiError, EmbeddedModel, Route};
use opentrail_core::context::{EventDetails, RequestContext};
use opentrail_core::pipeline::{self, ApiService};
use opentrail_core::{AnswerFuture, AppState, Call as ServiceCall, Request, Service};
use serde_json::{Value, json};

pub use error::OrgError;
pub use provision::{AccountProvisioner, NewAccount, set_account_provisioner};

use ops::Call;
use store::{Keep, Registry, SCP};

pub const EVENT_SOURCE: &str = "organizations.amazonaws.com";

opentrail_core::operations! {
    /// The Organizations operations served here.
    pub enum Op {
        CreateOrganization,
        DescribeOrganization,
        DeleteOrganization,
        CreateAccount,
        DescribeCreateAccountStatus,
        ListCreateAccountStatus,
        DescribeAccount,
        ListAccounts,
        ListAccountsForParent,
        RemoveAccountFromOrganization,
        CloseAccount,
        ListRoots,
        CreateOrganizationalUnit,
        DescribeOrganizationalUnit,
        UpdateOrganizationalUnit,
        DeleteOrganizationalUnit,
        ListOrganizationalUnitsForParent,
        ListParents,
        ListChildren,
        MoveAccount,
        EnablePolicyType,
        DisablePolicyType,
        CreatePolicy,
        DescribePolicy,
        UpdatePolicy,
        DeletePolicy,
        ListPolicies,
        AttachPolicy,
        DetachPolicy,
        ListPoliciesForTarget,
        ListTargetsForPolicy,
        EnableAWSServiceAccess,
        DisableAWSServiceAccess,
        ListAWSServiceAccessForOrganization,
        RegisterDelegatedAdministrator,
        DeregisterDelegatedAdministrator,
        ListDelegatedAdministrators,
        ListDelegatedServicesForAccount,
        TagResource,
        UntagResource,
        ListTagsForResource,
    }
}

/// Organizations in the request pipeline.
pub struct Organizations;

impl ApiService for Organizations {
    type Op = Op;
    type Input = Value;
    type Output = Value;
    type Error = OrgError;

    const MODEL: EmbeddedModel = EmbeddedModel::Organizations;
    const EVENT_SOURCE: &'static str = EVENT_SOURCE;
    const API_VERSION: Option<&'static str> = None;

    fn unknown_operation(&self, name: &str) -> OrgError {
        OrgError::Api(ApiError::client(
            "UnknownOperationException",
            format!("operation {name:?} is not an Organizations operation"),
        ))
    }

    fn unsupported(&self, name: &str) -> OrgError {
        OrgError::Client {
            code: "UnsupportedAPIEndpointException",
            message: format!("{name} is not supported by this server"),
            reason: None,
        }
    }

    fn read_only(&self, name: &str) -> bool {
        name.starts_with("Describe") || name.starts_with("List")
    }

    fn decode(&self, _name: &str, request: &Request<'_>) -> Result<Value, OrgError> {
        pipeline::json_input(request).map_err(OrgError::Api)
    }

    /// The model's checks, answered as Organizations answers them: `InvalidInputException`
    /// with the `Reason` of the first violation.
    fn validate(&self, _ctx: &RequestContext, name: &str, input: &Value) -> Result<(), OrgError> {
        pipeline::validate_model(Self::MODEL, name, input).map_err(|err| {
            if err.code != "ValidationException" {
                return OrgError::Api(err);
            }
            let reason = violation_reason(&err.message);
            // AWS names no value in its enum errors.
            let message = if reason == "INVALID_ENUM" {
                "You specified an invalid value.".to_owned()
            } else {
                err.message
            };
            OrgError::Client {
                code: "InvalidInputException",
                message,
                reason: Some(reason),
            }
        })
    }

    /// Handlers touch the metadata store, so they run on the blocking pool.
    async fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        ctx: &'a RequestContext,
        op: Op,
        input: &'a Value,
    ) -> Result<Value, OrgError> {
        let call = Call {
            state: state.clone(),
            registry: Registry::of(state),
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            input: input.clone(),
            now_ms: opentrail_model::time::to_ms(ctx.time),
        };
        pipeline::on_blocking_pool(
            Self::EVENT_SOURCE,
            || OrgError::Internal,
            move || dispatch(&call, op),
        )
        .await
    }

    fn render(
        &self,
        route: &Route,
        _name: &str,
        output: &Value,
        request_id: &str,
    ) -> Response<Bytes> {
        opentrail_api::json_response(StatusCode::OK, output, request_id, route.protocol)
    }

    /// `{"__type", "Message", "Reason"}`: the `Reason` member of `ConstraintViolationException`
    /// and `InvalidInputException` travels in the body, as the model shapes those errors.
    fn render_error(&self, route: &Route, err: &OrgError, request_id: &str) -> Response<Bytes> {
        let api = err.to_api();
        let mut body = json!({"__type": api.code, "Message": api.message});
        if let Some(reason) = err.reason() {
            body["Reason"] = json!(reason);
        }
        let mut response =
            opentrail_api::json_response(api.status, &body, request_id, route.protocol);
        if let Ok(value) = HeaderValue::from_str(&api.code) {
            response.headers_mut().insert("x-amzn-ErrorType", value);
        }
        response
    }

    /// CreateAccount's e-mail and account name are hidden, as AWS records them.
    fn recorded_input(&self, name: &str, input: &Value) -> Value {
        let mut recorded = input.clone();
        if name == "CreateAccount" {
            hide(&mut recorded, &["Email", "AccountName"]);
        }
        recorded
    }

    fn recorded_output(&self, name: &str, output: &Value) -> Value {
        let mut recorded = output.clone();
        if name == "CreateAccount"
            && let Some(status) = recorded.get_mut("CreateAccountStatus")
        {
            hide(status, &["AccountName"]);
        }
        recorded
    }
}

/// What AWS writes in a record in place of personal data.
const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

fn hide(value: &mut Value, members: &[&str]) {
    for member in members {
        if let Some(slot) = value.get_mut(*member) {
            *slot = json!(HIDDEN);
        }
    }
}

/// The `InvalidInputException` reason of a model violation message.
fn violation_reason(message: &str) -> &'static str {
    if message.contains("must not be null") {
        "INPUT_REQUIRED"
    } else if message.contains("length less than or equal") {
        "MAX_LENGTH_EXCEEDED"
    } else if message.contains("length greater than or equal") {
        "MIN_LENGTH_EXCEEDED"
    } else if message.contains("value less than or equal") {
        "MAX_VALUE_EXCEEDED"
    } else if message.contains("value greater than or equal") {
        "MIN_VALUE_EXCEEDED"
    } else if message.contains("enum value set") {
        "INVALID_ENUM"
    } else {
        "INVALID_PATTERN"
    }
}

fn dispatch(call: &Call, op: Op) -> Result<Value, OrgError> {
    match op {
        Op::CreateOrganization => accounts::create_organization(call),
        Op::DescribeOrganization => accounts::describe_organization(call),
        Op::DeleteOrganization => accounts::delete_organization(call),
        Op::CreateAccount => accounts::create_account(call),
        Op::DescribeCreateAccountStatus => accounts::describe_create_account_status(call),
        Op::ListCreateAccountStatus => accounts::list_create_account_status(call),
        Op::DescribeAccount => accounts::describe_account(call),
        Op::ListAccounts => accounts::list_accounts(call),
        Op::ListAccountsForParent => accounts::list_accounts_for_parent(call),
        Op::RemoveAccountFromOrganization => accounts::remove_account_from_organization(call),
        Op::CloseAccount => accounts::close_account(call),
        Op::ListRoots => units::list_roots(call),
        Op::CreateOrganizationalUnit => units::create_organizational_unit(call),
        Op::DescribeOrganizationalUnit => units::describe_organizational_unit(call),
        Op::UpdateOrganizationalUnit => units::update_organizational_unit(call),
        Op::DeleteOrganizationalUnit => units::delete_organizational_unit(call),
        Op::ListOrganizationalUnitsForParent => units::list_organizational_units_for_parent(call),
        Op::ListParents => units::list_parents(call),
        Op::ListChildren => units::list_children(call),
        Op::MoveAccount => units::move_account(call),
        Op::EnablePolicyType => policies::enable_policy_type(call),
        Op::DisablePolicyType => policies::disable_policy_type(call),
        Op::CreatePolicy => policies::create_policy(call),
        Op::DescribePolicy => policies::describe_policy(call),
        Op::UpdatePolicy => policies::update_policy(call),
        Op::DeletePolicy => policies::delete_policy(call),
        Op::ListPolicies => policies::list_policies(call),
        Op::AttachPolicy => policies::attach_policy(call),
        Op::DetachPolicy => policies::detach_policy(call),
        Op::ListPoliciesForTarget => policies::list_policies_for_target(call),
        Op::ListTargetsForPolicy => policies::list_targets_for_policy(call),
        Op::EnableAWSServiceAccess => access::enable_aws_service_access(call),
        Op::DisableAWSServiceAccess => access::disable_aws_service_access(call),
        Op::ListAWSServiceAccessForOrganization => {
            access::list_aws_service_access_for_organization(call)
        }
        Op::RegisterDelegatedAdministrator => access::register_delegated_administrator(call),
        Op::DeregisterDelegatedAdministrator => access::deregister_delegated_administrator(call),
        Op::ListDelegatedAdministrators => access::list_delegated_administrators(call),
        Op::ListDelegatedServicesForAccount => access::list_delegated_services_for_account(call),
        Op::TagResource => access::tag_resource(call),
        Op::UntagResource => access::untag_resource(call),
        Op::ListTagsForResource => access::list_tags_for_resource(call),
    }
}

/// Organizations as a [`Service`].
pub struct OrganizationsService;

impl Service for OrganizationsService {
    fn signing_names(&self) -> &'static [&'static str] {
        &["organizations"]
    }

    fn call<'a>(&'a self, call: ServiceCall<'a>) -> AnswerFuture<'a> {
        Box::pin(async move {
            let (response, details) = pipeline::answer(&Organizations, call).await;
            (response, details.map(in_global_region))
        })
    }

    fn request_details(&self, request: Request<'_>) -> Option<EventDetails> {
        pipeline::request_details(&Organizations, request).map(in_global_region)
    }

    /// The store was wiped with the shared ones; the index forgets what it loaded.
    fn reset(&self, state: &AppState) {
        Registry::of(state).reset();
    }
}

/// The region every Organizations record carries: it is a global service, served from
/// `us-east-1` whatever region the client signed for.
pub const GLOBAL_REGION: &str = "us-east-1";

fn in_global_region(mut details: EventDetails) -> EventDetails {
    details.aws_region = Some(GLOBAL_REGION.to_owned());
    details
}

/// What other crates learn about an account's organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMembership {
    pub organization_id: String,
    pub organization_arn: String,
    pub management_account_id: String,
    /// `ALL` or `CONSOLIDATED_BILLING`.
    pub feature_set: String,
    /// Whether service control policies are enabled on the root.
    pub scps_enabled: bool,
}

/// The organization `account_id` belongs to (as management account or member); `None` when
/// it is in none, or the store cannot be read (logged).
pub fn organization_of(state: &AppState, account_id: &str) -> Option<OrgMembership> {
    let org = lookup(state, account_id)?;
    Some(OrgMembership {
        organization_id: org.id.clone(),
        organization_arn: org.arn(),
        management_account_id: org.management_account_id.clone(),
        feature_set: org.feature_set.clone(),
        scps_enabled: org.enabled(SCP),
    })
}

fn lookup(state: &AppState, account_id: &str) -> Option<Arc<store::Organization>> {
    match Registry::of(state).organization_of(state, account_id) {
        Ok(org) => org,
        Err(err) => {
            tracing::error!(error = %err, account_id, "reading organizations failed");
            None
        }
    }
}

/// A number that moves whenever any organization changes (an SCP, an attachment, an account
/// moving): what was derived from [`scp_chain`] stays right until it moves.
pub fn generation(state: &AppState) -> u64 {
    Registry::of(state).generation()
}

/// The SCP documents that apply to `account_id`, level by level: the root's, then each OU's
/// from the top down, then the account's own. A request is allowed only if every level
/// allows it. Empty when the account is in no organization, SCPs are not enabled, or it is
/// the management account (which SCPs do not affect).
pub fn scp_chain(state: &AppState, account_id: &str) -> Vec<Vec<String>> {
    let Some(org) = lookup(state, account_id) else {
        return Vec::new();
    };
    if !org.enabled(SCP) || org.management_account_id == account_id {
        return Vec::new();
    }
    org.path_to(account_id)
        .iter()
        .map(|target| {
            org.policies_on(target, SCP)
                .into_iter()
                .map(|policy| policy.content.clone())
                .collect()
        })
        .collect()
}

/// The accounts of organization `organization_id` (the management account first, then the
/// members in the order they joined); empty when there is no such organization.
pub fn member_accounts(state: &AppState, organization_id: &str) -> Vec<String> {
    match Registry::of(state).organization(state, organization_id) {
        Ok(Some(org)) => org
            .accounts
            .iter()
            .map(|account| account.id.clone())
            .collect(),
        Ok(None) => Vec::new(),
        Err(err) => {
            tracing::error!(error = %err, organization_id, "reading organizations failed");
            Vec::new()
        }
    }
}

/// Whether `account_id` is a delegated administrator of `service_principal`
/// (`cloudtrail.amazonaws.com`, …) in its organization.
pub fn is_delegated_admin(state: &AppState, account_id: &str, service_principal: &str) -> bool {
    lookup(state, account_id).is_some_and(|org| {
        org.delegated.iter().any(|delegation| {
            delegation.account_id == account_id && delegation.service_principal == service_principal
        })
    })
}

/// Whether trusted access for `service_principal` (`cloudtrail.amazonaws.com`, …) is enabled
/// in the organization of `account_id`.
pub fn service_access_enabled(state: &AppState, account_id: &str, service_principal: &str) -> bool {
    lookup(state, account_id).is_some_and(|org| {
        org.service_access
            .iter()
            .any(|(principal, _)| principal == service_principal)
    })
}

/// Registers `account_id` as delegated administrator of `service_principal` in the
/// organization `caller` manages, turning on trusted access for the service first (as a
/// service's own registration call does in AWS). Errors are Organizations': the caller's
/// service maps them to its own codes.
pub fn register_delegated_admin(
    state: &AppState,
    caller: &str,
    account_id: &str,
    service_principal: &str,
    now_ms: i64,
) -> Result<(), OrgError> {
    Registry::of(state).change(state, caller, |org| {
        if org.feature_set != "ALL" {
            return Err(OrgError::constraint(
                "ORGANIZATION_NOT_IN_ALL_FEATURES_MODE",
                "You can't perform this operation in an organization that doesn't have all features enabled.",
            ));
        }
        access::enable_service(org, service_principal, now_ms);
        access::register(org, account_id, service_principal, now_ms)?;
        Ok(((), Keep::Organization))
    })
}

/// Removes the registration of `account_id` as delegated administrator of
/// `service_principal` in the organization `caller` manages.
pub fn deregister_delegated_admin(
    state: &AppState,
    caller: &str,
    account_id: &str,
    service_principal: &str,
) -> Result<(), OrgError> {
    Registry::of(state).change(state, caller, |org| {
        access::deregister(org, account_id, service_principal)?;
        Ok(((), Keep::Organization))
    })
}

#[cfg(test)]
mod tests;
