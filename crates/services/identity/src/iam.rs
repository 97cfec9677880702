//! IAM (`iam.amazonaws.com`, awsQuery, a global service): users, access keys, groups,
//! roles, managed and inline policies, permissions boundaries.
//!
//! Requests decode through the botocore model into one JSON value, are checked against it
//! (a violation is IAM's `ValidationError`), and each handler answers the model-shaped JSON of
//! its output, which the model writes as the awsQuery result XML. Policy documents are
//! answered URL-encoded, as IAM does. Records keep the input, and the output without
//! CreateAccessKey's `SecretAccessKey`.
//!
//! # Layout
//! - [`account`]: login profiles, instance profiles, service-linked roles, the account alias,
//!   password policy and summary.
//! - [`credentials`]: SSH public keys, signing and server certificates.
//! - [`users`]: users, their tags and access keys.
//! - [`groups`]: groups and memberships.
//! - [`mfa`]: MFA devices.
//! - [`oidc`]: OpenID Connect identity providers.
//! - [`report`]: the credential report.
//! - [`roles`]: roles and their tags.
//! - [`saml`]: SAML identity providers.
//! - [`policies`]: managed policies and versions, attachments, inline policies, permissions
//!   boundaries.

pub mod account;
pub mod credentials;
pub mod groups;
pub mod mfa;
pub mod oidc;
pub mod policies;
pub mod report;
pub mod roles;
pub mod saml;
pub mod users;

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use opentrail_api::{EmbeddedModel, Route, ServiceModel};
use opentrail_core::context::RequestContext;
use opentrail_core::pipeline::{self, ApiService};
use opentrail_core::{AppState, Request};
use serde_json::{Map, Value, json};

use crate::error::{IAM_XMLNS, IdentityError, Result};
use crate::store::{self, IamState, Tag, Tags};

pub const EVENT_SOURCE: &str = "iam.amazonaws.com";
/// Items per page when `MaxItems` is not given.
const DEFAULT_PAGE: usize = 100;
/// Tags per user, role or policy.
const MAX_TAGS: usize = 50;

opentrail_core::operations! {
    /// The IAM operations served here.
    pub enum Op {
        CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser, TagUser, UntagUser, ListUserTags,
        CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey, GetAccessKeyLastUsed,
        CreateGroup, GetGroup, ListGroups, UpdateGroup, DeleteGroup, AddUserToGroup,
        RemoveUserFromGroup, ListGroupsForUser,
        CreateRole, GetRole, ListRoles, UpdateRole, UpdateRoleDescription,
        UpdateAssumeRolePolicy, DeleteRole, TagRole, UntagRole, ListRoleTags,
        CreatePolicy, GetPolicy, ListPolicies, DeletePolicy, CreatePolicyVersion,
        GetPolicyVersion, ListPolicyVersions, DeletePolicyVersion, SetDefaultPolicyVersion,
        TagPolicy, UntagPolicy, ListPolicyTags,
        AttachUserPolicy, DetachUserPolicy, AttachGroupPolicy, DetachGroupPolicy,
        AttachRolePolicy, DetachRolePolicy, ListAttachedUserPolicies,
        ListAttachedGroupPolicies, ListAttachedRolePolicies, ListEntitiesForPolicy,
        PutUserPolicy, GetUserPolicy, ListUserPolicies, DeleteUserPolicy,
        PutGroupPolicy, GetGroupPolicy, ListGroupPolicies, DeleteGroupPolicy,
        PutRolePolicy, GetRolePolicy, ListRolePolicies, DeleteRolePolicy,
        PutUserPermissionsBoundary, DeleteUserPermissionsBoundary,
        PutRolePermissionsBoundary, DeleteRolePermissionsBoundary,
        CreateLoginProfile, GetLoginProfile, UpdateLoginProfile, DeleteLoginProfile,
        CreateInstanceProfile, GetInstanceProfile, ListInstanceProfiles,
        ListInstanceProfilesForRole, DeleteInstanceProfile, AddRoleToInstanceProfile,
        RemoveRoleFromInstanceProfile, TagInstanceProfile, UntagInstanceProfile,
        CreateServiceLinkedRole, DeleteServiceLinkedRole, GetServiceLinkedRoleDeletionStatus,
        CreateAccountAlias, ListAccountAliases, DeleteAccountAlias,
        UpdateAccountPasswordPolicy, GetAccountPasswordPolicy, DeleteAccountPasswordPolicy,
        GetAccountSummary,
        CreateOpenIDConnectProvider, GetOpenIDConnectProvider, ListOpenIDConnectProviders,
        DeleteOpenIDConnectProvider, UpdateOpenIDConnectProviderThumbprint,
        AddClientIDToOpenIDConnectProvider, RemoveClientIDFromOpenIDConnectProvider,
        TagOpenIDConnectProvider, UntagOpenIDConnectProvider, ListOpenIDConnectProviderTags,
        CreateSAMLProvider, GetSAMLProvider, ListSAMLProviders, UpdateSAMLProvider,
        DeleteSAMLProvider, TagSAMLProvider, UntagSAMLProvider, ListSAMLProviderTags,
        CreateVirtualMFADevice, DeleteVirtualMFADevice, ListVirtualMFADevices,
        EnableMFADevice, DeactivateMFADevice, ListMFADevices,
        UploadSSHPublicKey, GetSSHPublicKey, ListSSHPublicKeys, UpdateSSHPublicKey,
        DeleteSSHPublicKey, UploadSigningCertificate, ListSigningCertificates,
        UpdateSigningCertificate, DeleteSigningCertificate,
        GenerateCredentialReport, GetCredentialReport,
        UploadServerCertificate, GetServerCertificate, ListServerCertificates,
        DeleteServerCertificate,
    }
}

fn model() -> &'static ServiceModel {
    opentrail_api::models::model(EmbeddedModel::Iam)
}

/// What a handler needs: the state, the caller, the account and the time.
pub struct Call<'a> {
    pub state: &'a AppState,
    pub ctx: &'a RequestContext,
    pub iam: Arc<IamState>,
    pub account: &'a str,
    /// Epoch seconds of the call.
    pub now: i64,
}

impl Call<'_> {
    /// Changes the caller's account (see [`IamState::update`]).
    pub fn update<R>(&self, change: impl FnOnce(&mut store::Account) -> Result<R>) -> Result<R> {
        self.iam.update(self.state, self.account, change)
    }

    /// A snapshot of the caller's account.
    pub fn account(&self) -> Arc<store::Account> {
        self.iam.account(self.account)
    }

    /// `arn:<partition>:iam::<account>:<kind><path><name>` (the partition of the call's region).
    pub fn arn(&self, kind: &str, path: &str, name: &str) -> String {
        let partition = crate::ids::partition(&self.ctx.region);
        format!("arn:{partition}:iam::{}:{kind}{path}{name}", self.account)
    }
}

/// A required string member (the model check already ran; this guards the code).
pub fn text<'v>(input: &'v Value, name: &str) -> Result<&'v str> {
    input.get(name).and_then(Value::as_str).ok_or_else(|| {
        IdentityError::Validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            opentrail_api::lower_first(name)
        ))
    })
}

/// An optional string member.
pub fn opt<'v>(input: &'v Value, name: &str) -> Option<&'v str> {
    pipeline::input::opt_str(input, name)
}

/// The `Path` (or `PathPrefix`) member, checked; `/` when absent.
pub fn path_of<'v>(input: &'v Value, member: &str) -> Result<&'v str> {
    let path = opt(input, member).unwrap_or("/");
    let wire_name = opentrail_api::lower_first(member);
    if member == "PathPrefix" {
        crate::ids::check_path_prefix(path, &wire_name)?;
    } else {
        crate::ids::check_path(path, &wire_name)?;
    }
    Ok(path)
}

/// One page of `items` (sorted here by `key`) after `Marker`, at most `MaxItems`: the page and
/// the output members `IsTruncated` and `Marker`.
pub fn page<T>(
    input: &Value,
    items: Vec<T>,
    key: impl Fn(&T) -> String,
) -> Result<(Vec<T>, Map<String, Value>)> {
    let max = match pipeline::input::opt_i64(input, "MaxItems") {
        Some(max) if !(1..=1000).contains(&max) => {
            return Err(IdentityError::constraint(
                &max.to_string(),
                "maxItems",
                "Member must have value less than or equal to 1000",
            ));
        }
        Some(max) => usize::try_from(max).unwrap_or(DEFAULT_PAGE),
        None => DEFAULT_PAGE,
    };
    let marker = opt(input, "Marker");
    let mut items = items;
    items.sort_by_cached_key(|item| key(item));
    let mut items: Vec<T> = match marker {
        Some(marker) => items
            .into_iter()
            .filter(|item| key(item).as_str() >= marker)
            .collect(),
        None => items,
    };
    let mut members = Map::new();
    if items.len() > max {
        let rest = items.split_off(max);
        members.insert("IsTruncated".into(), json!(true));
        members.insert("Marker".into(), json!(key(&rest[0])));
    } else {
        members.insert("IsTruncated".into(), json!(false));
    }
    Ok((items, members))
}

/// Tags as IAM answers them (`Tags` list of `Key`/`Value`).
pub fn tags_json(tags: &Tags) -> Value {
    Value::Array(
        tags.iter()
            .map(|t| json!({"Key": t.key, "Value": t.value}))
            .collect(),
    )
}

/// The `Tags` member of an input, checked (at most 50, keys unique regardless of case).
pub fn input_tags(input: &Value) -> Result<Tags> {
    let mut tags: Tags = Vec::new();
    for item in input
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = item.get("Key").and_then(Value::as_str).unwrap_or_default();
        crate::ids::check_tag_key(key, &format!("tags.{}.member.key", tags.len() + 1))?;
        let value = item
            .get("Value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if tags.iter().any(|t| t.key.eq_ignore_ascii_case(key)) {
            return Err(IdentityError::InvalidInput(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.".into(),
            ));
        }
        tags.push(Tag {
            key: key.to_owned(),
            value: value.to_owned(),
        });
    }
    if tags.len() > MAX_TAGS {
        return Err(IdentityError::constraint(
            "[…]",
            "tags",
            "Member must have length less than or equal to 50",
        ));
    }
    Ok(tags)
}

/// Sets `new` on `tags` (a key given again replaces its value), at most 50 in all.
pub fn merge_tags(tags: &mut Tags, new: Tags) -> Result<()> {
    for tag in new {
        match tags
            .iter_mut()
            .find(|t| t.key.eq_ignore_ascii_case(&tag.key))
        {
            Some(existing) => existing.value = tag.value,
            None => tags.push(tag),
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(IdentityError::LimitExceeded(
            "The number of tags has reached the maximum limit.".into(),
        ));
    }
    Ok(())
}

/// Removes the tags whose keys are in `TagKeys`.
pub fn remove_tags(tags: &mut Tags, input: &Value) {
    let keys = pipeline::input::string_list(input, "TagKeys");
    tags.retain(|t| !keys.iter().any(|k| k == &t.key));
}

/// `Tag<Entity>`: the input's `Tags` set on the tags `tags_of` finds for the entity `member`
/// names (a user's name, a policy's ARN, …).
pub fn tag_entity(
    call: &Call<'_>,
    input: &Value,
    member: &str,
    tags_of: impl for<'a> FnOnce(&'a mut store::Account, &str) -> Result<&'a mut Tags>,
) -> Result<Value> {
    let name = text(input, member)?;
    let tags = input_tags(input)?;
    call.update(|account| {
        merge_tags(tags_of(account, name)?, tags)?;
        Ok(json!({}))
    })
}

/// `Untag<Entity>`: the input's `TagKeys` removed from the tags `tags_of` finds.
pub fn untag_entity(
    call: &Call<'_>,
    input: &Value,
    member: &str,
    tags_of: impl for<'a> FnOnce(&'a mut store::Account, &str) -> Result<&'a mut Tags>,
) -> Result<Value> {
    let name = text(input, member)?;
    call.update(|account| {
        remove_tags(tags_of(account, name)?, input);
        Ok(json!({}))
    })
}

/// `List<Entity>Tags`: one page of `tags` (`Marker` / `MaxItems`).
pub fn tags_page(input: &Value, tags: &Tags) -> Result<Value> {
    let (page_tags, mut out) = page(input, tags.iter().enumerate().collect(), |(i, _)| {
        format!("{i:04}")
    })?;
    out.insert(
        "Tags".into(),
        Value::Array(
            page_tags
                .into_iter()
                .map(|(_, t)| json!({"Key": t.key, "Value": t.value}))
                .collect(),
        ),
    );
    Ok(Value::Object(out))
}

/// IAM in the request pipeline.
pub struct Iam;

impl ApiService for Iam {
    type Op = Op;
    type Input = Value;
    type Output = Value;
    type Error = IdentityError;

    const MODEL: EmbeddedModel = EmbeddedModel::Iam;
    const EVENT_SOURCE: &'static str = EVENT_SOURCE;
    const ACCESS_DENIED_CODE: &'static str = "AccessDenied";
    const API_VERSION: Option<&'static str> = None;

    fn unknown_operation(&self, name: &str) -> IdentityError {
        IdentityError::InvalidAction(format!(
            "Could not find operation {name} for version 2010-05-08"
        ))
    }

    fn unsupported(&self, name: &str) -> IdentityError {
        IdentityError::Client(
            "NotImplemented",
            501,
            format!("the IAM operation {name} is not available in opentrail yet"),
        )
    }

    fn read_only(&self, name: &str) -> bool {
        ["Get", "List", "Generate", "Simulate"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
    }

    /// The entity a call acts on, as IAM authorizes it: the user, group or role it names
    /// (`Path` when the call gives one, else `/`), the managed policy it names, else `*`.
    fn authorization_resources(
        &self,
        ctx: &RequestContext,
        name: &str,
        input: &Value,
    ) -> Vec<String> {
        vec![authorization_resource(ctx, name, input)]
    }

    fn decode(&self, name: &str, request: &Request<'_>) -> Result<Value> {
        let params = pipeline::query_params(request);
        Ok(model().query_input(name, &params)?)
    }

    fn validate(&self, _ctx: &RequestContext, name: &str, input: &Value) -> Result<()> {
        Ok(pipeline::validate_model(Self::MODEL, name, input)?)
    }

    async fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        ctx: &'a RequestContext,
        op: Op,
        input: &'a Value,
    ) -> Result<Value> {
        // Handlers write the metadata store (an fsync per change): on the blocking pool.
        let state = state.clone();
        let ctx = ctx.clone();
        let input = input.clone();
        pipeline::on_blocking_pool(
            EVENT_SOURCE,
            || IdentityError::Internal,
            move || {
                let call = Call {
                    state: &state,
                    ctx: &ctx,
                    iam: store::iam(&state)?,
                    account: &ctx.account_id,
                    now: crate::ids::epoch(ctx.time),
                };
                dispatch(&call, op, &input)
            },
        )
        .await
    }

    fn render(
        &self,
        _route: &Route,
        name: &str,
        output: &Value,
        request_id: &str,
    ) -> Response<Bytes> {
        model().query_output_response(name, output, request_id)
    }

    fn render_api_error(
        &self,
        _route: &Route,
        err: &opentrail_api::ApiError,
        request_id: &str,
    ) -> Response<Bytes> {
        opentrail_api::query_error_response(err, request_id, IAM_XMLNS)
    }

    /// The input without login passwords, MFA codes or private keys.
    fn recorded_input(&self, _name: &str, input: &Value) -> Value {
        let mut input = input.clone();
        if let Some(members) = input.as_object_mut() {
            members.remove("Password");
            members.remove("OldPassword");
            members.remove("NewPassword");
            members.remove("AuthenticationCode1");
            members.remove("AuthenticationCode2");
            members.remove("PrivateKey");
        }
        input
    }

    /// The output without CreateAccessKey's secret or a virtual MFA device's seed.
    fn recorded_output(&self, _name: &str, output: &Value) -> Value {
        let mut output = output.clone();
        if let Some(key) = output.get_mut("AccessKey").and_then(Value::as_object_mut) {
            key.remove("SecretAccessKey");
        }
        if let Some(device) = output
            .get_mut("VirtualMFADevice")
            .and_then(Value::as_object_mut)
        {
            device.remove("Base32StringSeed");
            device.remove("QRCodePNG");
        }
        crate::ids::record_dates(&mut output, false);
        output
    }
}

/// The ARN a call of `name` is authorized on (see [`Iam::authorization_resources`]).
fn authorization_resource(ctx: &RequestContext, name: &str, input: &Value) -> String {
    let partition = crate::ids::partition(&ctx.region);
    let account = &ctx.account_id;
    let path = opt(input, "Path").unwrap_or("/");
    let arn =
        |kind: &str, entity: &str| format!("arn:{partition}:iam::{account}:{kind}{path}{entity}");
    let acts_on_policy = name.contains("PolicyVersion")
        || matches!(
            name,
            "GetPolicy"
                | "DeletePolicy"
                | "TagPolicy"
                | "UntagPolicy"
                | "ListPolicyTags"
                | "ListEntitiesForPolicy"
        );
    if acts_on_policy && let Some(policy) = opt(input, "PolicyArn") {
        return policy.to_owned();
    }
    if name == "CreatePolicy"
        && let Some(policy) = opt(input, "PolicyName")
    {
        return arn("policy", policy);
    }
    if let Some(user) = opt(input, "UserName") {
        return arn("user", user);
    }
    if let Some(group) = opt(input, "GroupName") {
        return arn("group", group);
    }
    if let Some(role) = opt(input, "RoleName") {
        return arn("role", role);
    }
    let caller_is_user = ctx.identity.identity_type == opentrail_model::IdentityType::IamUser;
    let about_caller = matches!(
        name,
        "GetUser" | "CreateAccessKey" | "ListAccessKeys" | "UpdateAccessKey" | "DeleteAccessKey"
    );
    if caller_is_user && about_caller {
        return ctx.identity.arn.clone();
    }
    "*".to_owned()
}

pub(crate) fn dispatch(call: &Call<'_>, op: Op, input: &Value) -> Result<Value> {
    use policies::Holder;
    match op {
        Op::CreateUser => users::create_user(call, input),
        Op::GetUser => users::get_user(call, input),
        Op::ListUsers => users::list_users(call, input),
        Op::UpdateUser => users::update_user(call, input),
        Op::DeleteUser => users::delete_user(call, input),
        Op::TagUser => users::tag_user(call, input),
        Op::UntagUser => users::untag_user(call, input),
        Op::ListUserTags => users::list_user_tags(call, input),
        Op::CreateAccessKey => users::create_access_key(call, input),
        Op::ListAccessKeys => users::list_access_keys(call, input),
        Op::UpdateAccessKey => users::update_access_key(call, input),
        Op::DeleteAccessKey => users::delete_access_key(call, input),
        Op::GetAccessKeyLastUsed => users::get_access_key_last_used(call, input),
        Op::CreateGroup => groups::create_group(call, input),
        Op::GetGroup => groups::get_group(call, input),
        Op::ListGroups => groups::list_groups(call, input),
        Op::UpdateGroup => groups::update_group(call, input),
        Op::DeleteGroup => groups::delete_group(call, input),
        Op::AddUserToGroup => groups::add_user_to_group(call, input),
        Op::RemoveUserFromGroup => groups::remove_user_from_group(call, input),
        Op::ListGroupsForUser => groups::list_groups_for_user(call, input),
        Op::CreateRole => roles::create_role(call, input),
        Op::GetRole => roles::get_role(call, input),
        Op::ListRoles => roles::list_roles(call, input),
        Op::UpdateRole => roles::update_role(call, input),
        Op::UpdateRoleDescription => roles::update_role_description(call, input),
        Op::UpdateAssumeRolePolicy => roles::update_assume_role_policy(call, input),
        Op::DeleteRole => roles::delete_role(call, input),
        Op::TagRole => roles::tag_role(call, input),
        Op::UntagRole => roles::untag_role(call, input),
        Op::ListRoleTags => roles::list_role_tags(call, input),
        Op::CreatePolicy => policies::create_policy(call, input),
        Op::GetPolicy => policies::get_policy(call, input),
        Op::ListPolicies => policies::list_policies(call, input),
        Op::DeletePolicy => policies::delete_policy(call, input),
        Op::CreatePolicyVersion => policies::create_policy_version(call, input),
        Op::GetPolicyVersion => policies::get_policy_version(call, input),
        Op::ListPolicyVersions => policies::list_policy_versions(call, input),
        Op::DeletePolicyVersion => policies::delete_policy_version(call, input),
        Op::SetDefaultPolicyVersion => policies::set_default_policy_version(call, input),
        Op::TagPolicy => policies::tag_policy(call, input),
        Op::UntagPolicy => policies::untag_policy(call, input),
        Op::ListPolicyTags => policies::list_policy_tags(call, input),
        Op::AttachUserPolicy => policies::attach(call, input, Holder::User),
        Op::DetachUserPolicy => policies::detach(call, input, Holder::User),
        Op::AttachGroupPolicy => policies::attach(call, input, Holder::Group),
        Op::DetachGroupPolicy => policies::detach(call, input, Holder::Group),
        Op::AttachRolePolicy => policies::attach(call, input, Holder::Role),
        Op::DetachRolePolicy => policies::detach(call, input, Holder::Role),
        Op::ListAttachedUserPolicies => policies::list_attached(call, input, Holder::User),
        Op::ListAttachedGroupPolicies => policies::list_attached(call, input, Holder::Group),
        Op::ListAttachedRolePolicies => policies::list_attached(call, input, Holder::Role),
        Op::ListEntitiesForPolicy => policies::list_entities_for_policy(call, input),
        Op::PutUserPolicy => policies::put_inline(call, input, Holder::User),
        Op::GetUserPolicy => policies::get_inline(call, input, Holder::User),
        Op::ListUserPolicies => policies::list_inline(call, input, Holder::User),
        Op::DeleteUserPolicy => policies::delete_inline(call, input, Holder::User),
        Op::PutGroupPolicy => policies::put_inline(call, input, Holder::Group),
        Op::GetGroupPolicy => policies::get_inline(call, input, Holder::Group),
        Op::ListGroupPolicies => policies::list_inline(call, input, Holder::Group),
        Op::DeleteGroupPolicy => policies::delete_inline(call, input, Holder::Group),
        Op::PutRolePolicy => policies::put_inline(call, input, Holder::Role),
        Op::GetRolePolicy => policies::get_inline(call, input, Holder::Role),
        Op::ListRolePolicies => policies::list_inline(call, input, Holder::Role),
        Op::DeleteRolePolicy => policies::delete_inline(call, input, Holder::Role),
        Op::PutUserPermissionsBoundary => policies::put_boundary(call, input, Holder::User),
        Op::DeleteUserPermissionsBoundary => policies::delete_boundary(call, input, Holder::User),
        Op::PutRolePermissionsBoundary => policies::put_boundary(call, input, Holder::Role),
        Op::DeleteRolePermissionsBoundary => policies::delete_boundary(call, input, Holder::Role),
        Op::CreateLoginProfile => account::create_login_profile(call, input),
        Op::GetLoginProfile => account::get_login_profile(call, input),
        Op::UpdateLoginProfile => account::update_login_profile(call, input),
        Op::DeleteLoginProfile => account::delete_login_profile(call, input),
        Op::CreateInstanceProfile => account::create_instance_profile(call, input),
        Op::GetInstanceProfile => account::get_instance_profile(call, input),
        Op::ListInstanceProfiles => account::list_instance_profiles(call, input),
        Op::ListInstanceProfilesForRole => account::list_instance_profiles_for_role(call, input),
        Op::DeleteInstanceProfile => account::delete_instance_profile(call, input),
        Op::AddRoleToInstanceProfile => account::add_role_to_instance_profile(call, input),
        Op::RemoveRoleFromInstanceProfile => {
            account::remove_role_from_instance_profile(call, input)
        }
        Op::TagInstanceProfile => account::tag_instance_profile(call, input),
        Op::UntagInstanceProfile => account::untag_instance_profile(call, input),
        Op::CreateServiceLinkedRole => account::create_service_linked_role(call, input),
        Op::DeleteServiceLinkedRole => account::delete_service_linked_role(call, input),
        Op::GetServiceLinkedRoleDeletionStatus => {
            account::get_service_linked_role_deletion_status(call, input)
        }
        Op::CreateAccountAlias => account::create_account_alias(call, input),
        Op::ListAccountAliases => account::list_account_aliases(call, input),
        Op::DeleteAccountAlias => account::delete_account_alias(call, input),
        Op::UpdateAccountPasswordPolicy => account::update_account_password_policy(call, input),
        Op::GetAccountPasswordPolicy => account::get_account_password_policy(call, input),
        Op::DeleteAccountPasswordPolicy => account::delete_account_password_policy(call, input),
        Op::GetAccountSummary => account::get_account_summary(call, input),
        Op::CreateOpenIDConnectProvider => oidc::create(call, input),
        Op::GetOpenIDConnectProvider => oidc::get(call, input),
        Op::ListOpenIDConnectProviders => oidc::list(call, input),
        Op::DeleteOpenIDConnectProvider => oidc::delete(call, input),
        Op::UpdateOpenIDConnectProviderThumbprint => oidc::update_thumbprint(call, input),
        Op::AddClientIDToOpenIDConnectProvider => oidc::add_client_id(call, input),
        Op::RemoveClientIDFromOpenIDConnectProvider => oidc::remove_client_id(call, input),
        Op::TagOpenIDConnectProvider => oidc::tag(call, input),
        Op::UntagOpenIDConnectProvider => oidc::untag(call, input),
        Op::ListOpenIDConnectProviderTags => oidc::list_tags(call, input),
        Op::CreateSAMLProvider => saml::create(call, input),
        Op::GetSAMLProvider => saml::get(call, input),
        Op::ListSAMLProviders => saml::list(call, input),
        Op::UpdateSAMLProvider => saml::update(call, input),
        Op::DeleteSAMLProvider => saml::delete(call, input),
        Op::TagSAMLProvider => saml::tag(call, input),
        Op::UntagSAMLProvider => saml::untag(call, input),
        Op::ListSAMLProviderTags => saml::list_tags(call, input),
        Op::CreateVirtualMFADevice => mfa::create_virtual(call, input),
        Op::DeleteVirtualMFADevice => mfa::delete_virtual(call, input),
        Op::ListVirtualMFADevices => mfa::list_virtual(call, input),
        Op::EnableMFADevice => mfa::enable(call, input),
        Op::DeactivateMFADevice => mfa::deactivate(call, input),
        Op::ListMFADevices => mfa::list(call, input),
        Op::UploadSSHPublicKey => credentials::upload_ssh_key(call, input),
        Op::GetSSHPublicKey => credentials::get_ssh_key(call, input),
        Op::ListSSHPublicKeys => credentials::list_ssh_keys(call, input),
        Op::UpdateSSHPublicKey => credentials::update_ssh_key(call, input),
        Op::DeleteSSHPublicKey => credentials::delete_ssh_key(call, input),
        Op::UploadSigningCertificate => credentials::upload_signing_cert(call, input),
        Op::ListSigningCertificates => credentials::list_signing_certs(call, input),
        Op::UpdateSigningCertificate => credentials::update_signing_cert(call, input),
        Op::DeleteSigningCertificate => credentials::delete_signing_cert(call, input),
        Op::GenerateCredentialReport => report::generate(call, input),
        Op::GetCredentialReport => report::get(call, input),
        Op::UploadServerCertificate => credentials::upload_server_cert(call, input),
        Op::GetServerCertificate => credentials::get_server_cert(call, input),
        Op::ListServerCertificates => credentials::list_server_certs(call, input),
        Op::DeleteServerCertificate => credentials::delete_server_cert(call, input),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_in_the_embedded_model() {
        assert_eq!(pipeline::unmodelled_operations::<Iam>(), Vec::<&str>::new());
    }

    #[test]
    fn secrets_are_not_recorded() {
        let output =
            json!({"AccessKey": {"AccessKeyId": "AKIA", "SecretAccessKey": "s", "UserName": "u"}});
        let recorded = Iam.recorded_output("CreateAccessKey", &output);
        assert_eq!(
            recorded,
            json!({"AccessKey": {"AccessKeyId": "AKIA", "UserName": "u"}})
        );
    }

    #[test]
    fn calls_are_authorized_on_the_entity_they_name() {
        let ctx = RequestContext::for_tests("us-east-1");
        let arn = |name: &str, input: Value| authorization_resource(&ctx, name, &input);
        assert_eq!(
            arn("CreateUser", json!({"UserName": "bob", "Path": "/ops/"})),
            "arn:aws:iam::123456789012:user/ops/bob"
        );
        assert_eq!(
            arn(
                "AttachRolePolicy",
                json!({"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/x"})
            ),
            "arn:aws:iam::123456789012:role/r"
        );
        assert_eq!(
            arn(
                "GetPolicyVersion",
                json!({"PolicyArn": "arn:aws:iam::aws:policy/x", "VersionId": "v1"})
            ),
            "arn:aws:iam::aws:policy/x"
        );
        assert_eq!(
            arn("CreatePolicy", json!({"PolicyName": "p"})),
            "arn:aws:iam::123456789012:policy/p"
        );
        assert_eq!(arn("ListUsers", json!({})), "*");
    }

    #[test]
    fn pages_follow_markers() {
        let items: Vec<String> = (0..5).map(|i| format!("u{i}")).collect();
        let input = json!({"MaxItems": 2});
        let (first, members) = page(&input, items.clone(), String::clone).expect("page");
        assert_eq!(first, ["u0", "u1"]);
        assert_eq!(members["IsTruncated"], json!(true));
        let input = json!({"MaxItems": 2, "Marker": members["Marker"]});
        let (second, _) = page(&input, items.clone(), String::clone).expect("page");
        assert_eq!(second, ["u2", "u3"]);
        let input = json!({"MaxItems": 2, "Marker": "u4"});
        let (last, members) = page(&input, items, String::clone).expect("page");
        assert_eq!(last, ["u4"]);
        assert_eq!(members["IsTruncated"], json!(false));
        assert!(!members.contains_key("Marker"));
        let err = page(&json!({"MaxItems": 0}), vec![1], |i: &i32| i.to_string());
        assert_eq!(
            err.map(|_| ()).map_err(|e| e.aws_code()),
            Err("ValidationError")
        );
    }
}
