//! STS (`sts.amazonaws.com`, awsQuery): GetCallerIdentity, AssumeRole, GetSessionToken,
//! GetAccessKeyInfo.
//!
//! Temporary credentials (`ASIA…` key, secret, session token, expiration) are stored durably
//! with the caller they stand for ([`crate::store::Session`]) before the call answers. Records
//! keep the credentials' `accessKeyId` and `expiration`, never the secret or the token.
//!
//! Root may call AssumeRole here (AWS refuses root credentials): opentrail's first key is an
//! account's root key, and a role session is how a root caller tries out a role.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use opentrail_api::{EmbeddedModel, Route, ServiceModel};
use opentrail_core::access::ResourcePolicy;
use opentrail_core::context::RequestContext;
use opentrail_core::pipeline::{self, ApiService};
use opentrail_core::{AppState, Request};
use opentrail_model::{Identity, IdentityType, Resource};
use opentrail_policy::{
    ConditionContext, Decision, Policy, PolicyKind, Principal, PrincipalKind, trust_allows,
};
use serde_json::{Value, json};

use crate::document::{self, DocumentKind};
use crate::error::{IdentityError, Result, STS_XMLNS};
use crate::iam::{opt, text};
use crate::ids::{self, IdKind};
use crate::store::{self, IamState, LastUsed, Session, SessionRole, Tag};

pub const EVENT_SOURCE: &str = "sts.amazonaws.com";

/// AssumeRole's bounds and default, in seconds; role chaining caps sessions at an hour.
const MIN_DURATION: i64 = 900;
const DEFAULT_ROLE_DURATION: i64 = 3600;
const CHAINED_MAX_DURATION: i64 = 3600;
/// GetSessionToken's bounds and default (root: at most an hour).
const DEFAULT_TOKEN_DURATION: i64 = 43200;
const MAX_TOKEN_DURATION: i64 = 129_600;
const ROOT_MAX_TOKEN_DURATION: i64 = 3600;
/// Session tags per AssumeRole.
const MAX_SESSION_TAGS: usize = 50;
/// The packed size limit of a session policy, in characters.
const MAX_SESSION_POLICY: usize = 2048;

opentrail_core::operations! {
    /// The STS operations served here.
    pub enum Op { GetCallerIdentity, AssumeRole, GetSessionToken, GetAccessKeyInfo }
}

fn model() -> &'static ServiceModel {
    opentrail_api::models::model(EmbeddedModel::Sts)
}

/// STS in the request pipeline.
pub struct Sts;

impl ApiService for Sts {
    type Op = Op;
    type Input = Value;
    type Output = Value;
    type Error = IdentityError;

    const MODEL: EmbeddedModel = EmbeddedModel::Sts;
    const EVENT_SOURCE: &'static str = EVENT_SOURCE;
    const ACCESS_DENIED_CODE: &'static str = "AccessDenied";

    /// Anyone signed may ask who they are, and get a session token (AWS: "no permissions are
    /// required"; policies cannot control authentication operations).
    fn needs_permission(&self, name: &str) -> bool {
        !matches!(name, "GetCallerIdentity" | "GetSessionToken")
    }

    fn unknown_operation(&self, name: &str) -> IdentityError {
        IdentityError::InvalidAction(format!(
            "Could not find operation {name} for version 2011-06-15"
        ))
    }

    fn unsupported(&self, name: &str) -> IdentityError {
        IdentityError::Client(
            "NotImplemented",
            501,
            format!("the STS operation {name} is not available in opentrail yet"),
        )
    }

    fn read_only(&self, name: &str) -> bool {
        matches!(name, "GetCallerIdentity" | "GetAccessKeyInfo")
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
        if let Op::GetCallerIdentity = op {
            return Ok(get_caller_identity(&ctx.identity));
        }
        // New credentials are written to the metadata store (an fsync): on the blocking pool.
        let state = state.clone();
        let ctx = ctx.clone();
        let input = input.clone();
        pipeline::on_blocking_pool(
            EVENT_SOURCE,
            || IdentityError::Internal,
            move || {
                let iam = store::iam(&state)?;
                match op {
                    Op::GetCallerIdentity => Ok(get_caller_identity(&ctx.identity)),
                    Op::AssumeRole => assume_role(&state, &iam, &ctx, &input),
                    Op::GetSessionToken => get_session_token(&state, &iam, &ctx, &input),
                    Op::GetAccessKeyInfo => get_access_key_info(&state, &iam, &ctx, &input),
                }
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
        opentrail_api::query_error_response(err, request_id, STS_XMLNS)
    }

    /// The input without the MFA token code.
    fn recorded_input(&self, _name: &str, input: &Value) -> Value {
        let mut input = input.clone();
        if let Some(members) = input.as_object_mut() {
            members.remove("TokenCode");
        }
        input
    }

    /// The output without the credentials' secret and session token.
    fn recorded_output(&self, _name: &str, output: &Value) -> Value {
        let mut output = output.clone();
        if let Some(credentials) = output.get_mut("Credentials").and_then(Value::as_object_mut) {
            credentials.remove("SecretAccessKey");
            credentials.remove("SessionToken");
        }
        crate::ids::record_dates(&mut output, true);
        output
    }

    /// AssumeRole's role trust policy is the resource policy of the call (a role in another
    /// account can be assumed only when its trust policy names the caller or its account).
    fn resource_policy(
        &self,
        state: &AppState,
        _ctx: &RequestContext,
        name: &str,
        input: &Value,
    ) -> Option<ResourcePolicy> {
        if name != "AssumeRole" {
            return None;
        }
        let arn = opt(input, "RoleArn")?;
        let account_id = role_account(arn)?;
        let iam = store::iam(state).ok()?;
        let account = iam.account(account_id);
        let role = crate::iam::roles::role_by_arn(&account, arn)?;
        Some(ResourcePolicy {
            document: Arc::from(role.trust.as_str()),
            account_id: account_id.to_owned(),
        })
    }

    /// AssumeRole acts on its role.
    fn resources(
        &self,
        _ctx: &RequestContext,
        name: &str,
        input: &Value,
        _output: Option<&Value>,
    ) -> Vec<Resource> {
        if name != "AssumeRole" {
            return Vec::new();
        }
        let Some(arn) = opt(input, "RoleArn") else {
            return Vec::new();
        };
        vec![Resource {
            account_id: role_account(arn).map(str::to_owned),
            resource_type: Some("AWS::IAM::Role".into()),
            arn: Some(arn.to_owned()),
        }]
    }
}

/// `UserId`, `Account` and `Arn` of the caller.
pub fn get_caller_identity(identity: &Identity) -> Value {
    json!({
        "UserId": identity.principal_id,
        "Account": identity.account_id,
        "Arn": identity.arn,
    })
}

/// The account of a role ARN `arn:<partition>:iam::<account>:role/…`.
fn role_account(arn: &str) -> Option<&str> {
    let (_, account, resource) = ids::split_iam_arn(arn)?;
    (opentrail_model::ids::is_account_id(account) && resource.starts_with("role/"))
        .then_some(account)
}

fn check_session_name(name: &str, member: &str) -> Result<()> {
    let length = name.chars().count();
    if !(2..=64).contains(&length) {
        return Err(IdentityError::constraint(
            name,
            member,
            "Member must have length greater than or equal to 2 and less than or equal to 64",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(IdentityError::constraint(
            name,
            member,
            r"Member must satisfy regular expression pattern: [\w+=,.@-]*",
        ));
    }
    Ok(())
}

fn duration(input: &Value, default: i64, max: i64, too_long: &str) -> Result<i64> {
    let seconds = pipeline::input::opt_i64(input, "DurationSeconds").unwrap_or(default);
    if seconds < MIN_DURATION {
        return Err(IdentityError::constraint(
            &seconds.to_string(),
            "durationSeconds",
            "Member must have value greater than or equal to 900",
        ));
    }
    if seconds > max {
        return Err(IdentityError::Validation(too_long.to_owned()));
    }
    Ok(seconds)
}

/// Whether the role's trust policy lets `caller` do `action` (`sts:AssumeRole`, and
/// `sts:TagSession` / `sts:SetSourceIdentity` when the call sets tags or a source identity)
/// on `role_arn`: the policy language's
/// own reading of the trust policy ([`opentrail_policy::trust_allows`]), with `sts:ExternalId`
/// and the caller's session keys in the condition context. What the caller's own identity
/// policies say is the request path's authorization (the trust policy is the call's resource
/// policy there, see [`Sts::resource_policy`]).
pub fn check_trust_policy(
    trust: &str,
    role_arn: &str,
    caller: &Identity,
    external_id: Option<&str>,
    action: &str,
) -> bool {
    let Ok(policy) = Policy::parse(trust, PolicyKind::Trust) else {
        return false;
    };
    let issuer_arn = caller
        .session
        .as_deref()
        .and_then(|s| s.issuer.as_ref())
        .map(|issuer| issuer.role_arn.as_str());
    let kind = match (caller.identity_type, issuer_arn) {
        (IdentityType::Root, _) => PrincipalKind::Root,
        (IdentityType::IamUser, _) => PrincipalKind::User,
        (IdentityType::AssumedRole, Some(role_arn)) => PrincipalKind::AssumedRole { role_arn },
        (IdentityType::AssumedRole, None) => PrincipalKind::Role,
    };
    let tags = caller
        .session
        .as_deref()
        .map(|s| s.tags.clone())
        .unwrap_or_default();
    let mut principal = Principal::new(&caller.arn, &caller.account_id, kind);
    principal.user_id = Some(&caller.principal_id);
    principal.username = caller.user_name.as_deref();
    principal.tags = &tags;
    let mut context = ConditionContext::new();
    if let Some(id) = external_id {
        context.insert("sts:ExternalId", id);
    }
    if let Some(source) = caller
        .session
        .as_deref()
        .and_then(|s| s.source_identity.as_deref())
    {
        context.insert("aws:SourceIdentity", source);
    }
    trust_allows(&policy, &principal, action, role_arn, &context) == Decision::Allow
}

fn session_tags(input: &Value) -> Result<Vec<Tag>> {
    let mut tags: Vec<Tag> = Vec::new();
    for item in input
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = item.get("Key").and_then(Value::as_str).unwrap_or_default();
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
    if tags.len() > MAX_SESSION_TAGS {
        return Err(IdentityError::constraint(
            "[…]",
            "tags",
            "Member must have length less than or equal to 50",
        ));
    }
    Ok(tags)
}

fn credentials_json(session: &Session) -> Value {
    json!({
        "AccessKeyId": session.access_key_id,
        "SecretAccessKey": session.secret,
        "SessionToken": session.token,
        "Expiration": session.expiration,
    })
}

fn assume_role(
    state: &AppState,
    iam: &IamState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value> {
    let role_arn = text(input, "RoleArn")?;
    let session_name = text(input, "RoleSessionName")?;
    check_session_name(session_name, "roleSessionName")?;
    let source_identity = opt(input, "SourceIdentity");
    if let Some(source) = source_identity {
        check_session_name(source, "sourceIdentity")?;
    }
    let caller = &ctx.identity;
    let denied = || {
        IdentityError::AccessDenied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            caller.arn
        ))
    };
    let Some(account_id) = role_account(role_arn) else {
        return Err(IdentityError::Validation(format!("{role_arn} is invalid")));
    };
    let account = iam.account(account_id);
    let role = crate::iam::roles::role_by_arn(&account, role_arn).ok_or_else(denied)?;
    let mut actions = vec!["sts:AssumeRole"];
    if input
        .get("Tags")
        .and_then(Value::as_array)
        .is_some_and(|tags| !tags.is_empty())
    {
        actions.push("sts:TagSession");
    }
    if source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    for action in actions {
        if !check_trust_policy(
            &role.trust,
            &role.arn,
            caller,
            opt(input, "ExternalId"),
            action,
        ) {
            return Err(IdentityError::AccessDenied(format!(
                "User: {} is not authorized to perform: {action} on resource: {role_arn}",
                caller.arn
            )));
        }
    }
    let caller_session = caller.session.as_deref();
    let chained = caller_session.is_some_and(|s| s.issuer.is_some());
    if let (Some(previous), Some(source)) = (
        caller_session.and_then(|s| s.source_identity.as_deref()),
        source_identity,
    ) && previous != source
    {
        return Err(IdentityError::AccessDenied(
            "The source identity of a role session cannot be changed.".into(),
        ));
    }
    let max = if chained {
        CHAINED_MAX_DURATION.min(role.max_session)
    } else {
        role.max_session
    };
    let seconds = duration(
        input,
        DEFAULT_ROLE_DURATION.min(max),
        max,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    )?;
    let mut session_policies = Vec::new();
    let mut packed = 0;
    if let Some(policy) = opt(input, "Policy") {
        document::check(policy, DocumentKind::Session)?;
        packed += policy.len();
        session_policies.push(policy.to_owned());
    }
    for item in input
        .get("PolicyArns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let arn = item.get("arn").and_then(Value::as_str).unwrap_or_default();
        let policy = crate::iam::policies::find(&account, arn).ok_or_else(|| {
            IdentityError::InvalidInput(format!(
                "Policy {arn} does not exist or is not attachable."
            ))
        })?;
        session_policies.push(policy.default_document().to_owned());
    }
    if packed > MAX_SESSION_POLICY {
        return Err(IdentityError::Client(
            "PackedPolicyTooLarge",
            400,
            "Packed size of session policy and tags exceeds the limit.".into(),
        ));
    }
    let mut tags = session_tags(input)?;
    let mut transitive: Vec<String> = pipeline::input::string_list(input, "TransitiveTagKeys");
    if let Some(key) = transitive
        .iter()
        .find(|key| !tags.iter().any(|t| t.key.eq_ignore_ascii_case(key)))
    {
        return Err(IdentityError::InvalidInput(format!(
            "The transitive tag key {key} is not among the session tags."
        )));
    }
    // The transitive tags of the calling session carry over to a chained one and cannot be
    // set again.
    if let Some(previous) = iam.session(&caller.access_key_id) {
        for tag in previous.tags.iter().filter(|t| {
            previous
                .transitive
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&t.key))
        }) {
            if tags.iter().any(|t| t.key.eq_ignore_ascii_case(&tag.key)) {
                return Err(IdentityError::InvalidInput(format!(
                    "The session tag {} is transitive from the calling session and cannot be set again.",
                    tag.key
                )));
            }
            tags.push(tag.clone());
            transitive.push(tag.key.clone());
        }
    }
    let now = ids::epoch(ctx.time);
    let session = Session {
        format: store::FORMAT,
        access_key_id: ids::new_id(IdKind::TemporaryKey),
        secret: ids::new_secret(),
        token: ids::new_session_token(),
        expiration: now + seconds,
        account_id: account_id.to_owned(),
        identity_type: "AssumedRole".into(),
        principal_id: format!("{}:{session_name}", role.id),
        arn: format!(
            "arn:{}:sts::{account_id}:assumed-role/{}/{session_name}",
            ids::partition_of(&role.arn),
            role.name
        ),
        user_name: None,
        role: Some(SessionRole {
            role_id: role.id.clone(),
            role_arn: role.arn.clone(),
            role_name: role.name.clone(),
            session_name: session_name.to_owned(),
        }),
        created: now,
        mfa: false,
        source_identity: source_identity
            .map(str::to_owned)
            .or_else(|| caller_session.and_then(|s| s.source_identity.clone())),
        tags,
        transitive,
        session_policies,
        chained,
    };
    iam.add_session(state, session.clone(), now)?;
    iam.note_used(
        &role.arn,
        LastUsed {
            date: now,
            service: "sts".into(),
            region: ctx.region.clone(),
        },
    );
    let mut out = json!({
        "Credentials": credentials_json(&session),
        "AssumedRoleUser": {"AssumedRoleId": session.principal_id, "Arn": session.arn},
    });
    if packed > 0 || !session.tags.is_empty() {
        let size = (packed + session.tags.len() * 64) * 100 / (MAX_SESSION_POLICY * 2);
        out["PackedPolicySize"] = json!(size.max(1));
    }
    if let Some(source) = &session.source_identity {
        out["SourceIdentity"] = json!(source);
    }
    Ok(out)
}

fn get_session_token(
    state: &AppState,
    iam: &IamState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value> {
    let caller = &ctx.identity;
    if caller.session.is_some() {
        return Err(IdentityError::AccessDenied(
            "Cannot call GetSessionToken with session credentials".into(),
        ));
    }
    let (default, max) = match caller.identity_type {
        IdentityType::Root => (ROOT_MAX_TOKEN_DURATION, ROOT_MAX_TOKEN_DURATION),
        _ => (DEFAULT_TOKEN_DURATION, MAX_TOKEN_DURATION),
    };
    let seconds = duration(
        input,
        default,
        max,
        &format!(
            "1 validation error detected: Value '{}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {max}",
            pipeline::input::opt_i64(input, "DurationSeconds").unwrap_or_default()
        ),
    )?;
    let now = ids::epoch(ctx.time);
    let session = Session {
        format: store::FORMAT,
        access_key_id: ids::new_id(IdKind::TemporaryKey),
        secret: ids::new_secret(),
        token: ids::new_session_token(),
        expiration: now + seconds,
        account_id: caller.account_id.clone(),
        identity_type: caller.identity_type.as_str().to_owned(),
        principal_id: caller.principal_id.clone(),
        arn: caller.arn.clone(),
        user_name: caller.user_name.clone(),
        role: None,
        created: now,
        mfa: opt(input, "SerialNumber").is_some() && opt(input, "TokenCode").is_some(),
        source_identity: None,
        tags: Vec::new(),
        transitive: Vec::new(),
        session_policies: Vec::new(),
        chained: false,
    };
    iam.add_session(state, session.clone(), now)?;
    Ok(json!({"Credentials": credentials_json(&session)}))
}

fn get_access_key_info(
    state: &AppState,
    iam: &IamState,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value> {
    let id = text(input, "AccessKeyId")?;
    let account = if let Some(owner) = iam.key_owner(id) {
        owner.account_id
    } else if let Some(session) = iam.session(id) {
        session.account_id.clone()
    } else if let Some(root) = state.credentials.find(id) {
        root.account_id.clone()
    } else {
        ctx.account_id.clone()
    };
    Ok(json!({"Account": account}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_in_the_embedded_model() {
        assert_eq!(pipeline::unmodelled_operations::<Sts>(), Vec::<&str>::new());
    }

    #[test]
    fn credentials_secrets_are_not_recorded() {
        let output = json!({"Credentials": {
            "AccessKeyId": "ASIAX", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": 1
        }});
        assert_eq!(
            Sts.recorded_output("AssumeRole", &output),
            json!({"Credentials": {"AccessKeyId": "ASIAX", "Expiration": "Jan 1, 1970, 12:00:01 AM"}})
        );
    }

    #[test]
    fn trust_policies_name_who_may_assume() {
        let caller = Identity::root("123456789012", "AKIA");
        let role = "arn:aws:iam::123456789012:role/r";
        let trust = |principal: &str, condition: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"{condition}}}]}}"#
            )
        };
        let allows = |doc: &str, external: Option<&str>| {
            check_trust_policy(doc, role, &caller, external, "sts:AssumeRole")
        };
        assert!(allows(&trust(r#"{"AWS":"123456789012"}"#, ""), None));
        assert!(allows(
            &trust(r#"{"AWS":["arn:aws:iam::123456789012:root"]}"#, ""),
            None
        ));
        assert!(!allows(&trust(r#"{"AWS":"111122223333"}"#, ""), None));
        assert!(!allows(
            &trust(r#"{"Service":"ec2.amazonaws.com"}"#, ""),
            None
        ));
        let external = r#","Condition":{"StringEquals":{"sts:ExternalId":"x1"}}"#;
        let with_id = trust(r#"{"AWS":"123456789012"}"#, external);
        assert!(allows(&with_id, Some("x1")));
        assert!(!allows(&with_id, Some("x2")));
        assert!(!allows(&with_id, None));
    }

    #[test]
    fn session_names_are_checked() {
        assert!(check_session_name("ok-session@1", "roleSessionName").is_ok());
        assert!(check_session_name("a", "roleSessionName").is_err());
        assert!(check_session_name("bad name", "roleSessionName").is_err());
        assert!(check_session_name(&"a".repeat(65), "roleSessionName").is_err());
    }
}
