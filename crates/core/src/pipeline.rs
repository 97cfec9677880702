//! The one request pipeline of every model-driven service: operation → decode → validate →
//! run → render, and the record of the call.
//!
//! A service names its operations with [`operations!`] (one enum variant each, the botocore
//! name) and implements [`ApiService`]: how its protocol reads a request into the input, what
//! it checks beyond the model, the handler of each operation, how its output is written, and
//! what its record keeps of a call. [`answer`] does the rest, the same way for every service:
//!
//! 1. an operation name the service's model does not have is answered with the service's own
//!    error and is not recorded;
//! 2. [`ApiService::decode`] reads the request; a request that does not decode is recorded
//!    with its error and no parameters;
//! 3. [`ApiService::validate`] checks the input (the model, and the service's own codes);
//! 4. the call is authorized ([`crate::access::Access::authorize`]: its IAM action,
//!    [`ApiService::iam_action`], on the resources [`ApiService::authorization_resources`]
//!    names, with the resource's own policy where the service has them); a refused call is
//!    answered with the service's access-denied code (403, or 400 for an awsJson service's
//!    `AccessDeniedException`, as AWS answers) and recorded as `AccessDenied` with
//!    AWS's message and no parameters, as AWS records it;
//! 5. the name becomes the service's operation enum and [`ApiService::run`] runs its handler
//!    (an operation of the model with no variant is answered [`ApiService::unsupported`]); an
//!    internal error is logged here;
//! 6. the output or the error is rendered in the request's protocol, and the
//!    [`EventDetails`] of the call are built from the parts the service marks as recorded,
//!    shaped by the service's botocore model ([`request_parameters`], [`response_elements`]).
//!
//! [`request_details`] runs steps 1 and 2 only: the record of a call a crash left unanswered.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use opentrail_api::{ApiError, EmbeddedModel, Protocol, Route};
use opentrail_model::Resource;
use serde_json::Value;

use crate::access::{AuthzRequest, CallTags, Denial, ResourcePolicy};
use crate::context::{EventDetails, RequestContext, request_parameters, response_elements};
use crate::render::error_response;
use crate::{Answer, AppState, Call, Request};

/// The operations of one service: an enum with one variant per botocore operation, made by
/// [`operations!`].
pub trait Operation: Copy + Debug + Send + Sync + 'static {
    /// Every operation, in the order they were declared.
    const ALL: &'static [Self];

    /// The operation of a wire name (`X-Amz-Target` suffix or `Action`), exactly.
    fn parse(name: &str) -> Option<Self>;

    /// The botocore name (the record's `eventName`).
    fn name(self) -> &'static str;
}

/// Declares a service's operation enum and its [`Operation`] impl.
///
/// ```
/// use opentrail_core::pipeline::Operation;
///
/// opentrail_core::operations! {
///     /// Two operations of CloudWatch Logs.
///     pub enum Op { CreateLogGroup, DeleteLogGroup }
/// }
///
/// assert_eq!(Op::parse("CreateLogGroup"), Some(Op::CreateLogGroup));
/// assert_eq!(Op::parse("createLogGroup"), None);
/// assert_eq!(Op::DeleteLogGroup.name(), "DeleteLogGroup");
/// assert_eq!(Op::ALL.len(), 2);
/// ```
#[macro_export]
macro_rules! operations {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $($variant),* }

        impl $crate::pipeline::Operation for $name {
            const ALL: &'static [Self] = &[$($name::$variant),*];

            fn parse(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($variant) => Some($name::$variant),)*
                    _ => None,
                }
            }

            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)*
                }
            }
        }
    };
}

/// A service error that can be answered and recorded as an AWS error.
pub trait ServiceError: Debug + Send + Sync {
    /// The code, HTTP status and message AWS answers with (and the record keeps).
    fn to_api(&self) -> ApiError;
}

impl ServiceError for ApiError {
    fn to_api(&self) -> ApiError {
        self.clone()
    }
}

/// A service answered through [`answer`].
///
/// Every method but [`ApiService::run`] takes the operation by name: an operation of the
/// model that the service does not serve yet is still decoded, checked and recorded, and
/// answered with [`ApiService::unsupported`].
pub trait ApiService: Send + Sync + 'static {
    /// The operations it serves ([`operations!`]).
    type Op: Operation;
    /// What a request decodes into (most services: the model-shaped JSON of the input).
    type Input: Send + Sync;
    /// What a handler answers (most services: the model-shaped JSON of the output).
    type Output: Send + Sync;
    /// The service's error, with AWS's codes.
    type Error: ServiceError;

    /// The botocore model: its operations are the service's, and its shapes shape the records.
    const MODEL: EmbeddedModel;
    /// The records' `eventSource`.
    const EVENT_SOURCE: &'static str;
    /// The records' `apiVersion`, where AWS writes one.
    const API_VERSION: Option<&'static str> = None;
    /// The code a call its principal may not make is answered with (HTTP 403; 400 for
    /// `AccessDeniedException` over awsJson).
    const ACCESS_DENIED_CODE: &'static str = "AccessDeniedException";

    /// The answer to an operation name the model does not have (not recorded).
    fn unknown_operation(&self, name: &str) -> Self::Error;

    /// The answer to an operation of the model that is not built yet (recorded).
    fn unsupported(&self, name: &str) -> Self::Error;

    /// Whether the operation only reads (the record's `readOnly`).
    fn read_only(&self, name: &str) -> bool;

    /// Whether the operation is recorded as a Data event (default: Management).
    fn data_event(&self, _name: &str) -> bool {
        false
    }

    /// The IAM action a call of operation `name` needs: `<prefix>:<name>` (the prefix is the
    /// model's, [`EmbeddedModel::iam_prefix`]) unless the service says otherwise.
    fn iam_action(&self, name: &str) -> String {
        format!("{}:{name}", Self::MODEL.iam_prefix())
    }

    /// Whether a call of operation `name` needs a permission at all (STS GetCallerIdentity
    /// does not).
    fn needs_permission(&self, _name: &str) -> bool {
        true
    }

    /// The ARNs a call acts on, as authorization sees them: the record's resources
    /// ([`ApiService::resources`]), else `*`.
    fn authorization_resources(
        &self,
        ctx: &RequestContext,
        name: &str,
        input: &Self::Input,
    ) -> Vec<String> {
        let arns: Vec<String> = self
            .resources(ctx, name, input, None)
            .into_iter()
            .filter_map(|resource| resource.arn)
            .collect();
        if arns.is_empty() {
            vec!["*".to_owned()]
        } else {
            arns
        }
    }

    /// The account owning `resources` when it is not the caller's, which makes the call a
    /// cross-account one (default: the account the ARNs name, [`foreign_account`]).
    fn resource_account(
        &self,
        _state: &AppState,
        ctx: &RequestContext,
        _name: &str,
        resources: &[String],
    ) -> Option<String> {
        foreign_account(ctx, resources)
    }

    /// The resource's own policy, for services whose resources carry one (default: none).
    fn resource_policy(
        &self,
        _state: &AppState,
        _ctx: &RequestContext,
        _name: &str,
        _input: &Self::Input,
    ) -> Option<ResourcePolicy> {
        None
    }

    /// The tags of the resource a call acts on, its `aws:ResourceTag/<key>` condition keys
    /// (default: none).
    fn resource_tags(
        &self,
        _state: &AppState,
        _ctx: &RequestContext,
        _name: &str,
        _input: &Self::Input,
    ) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The tags a call sets, its `aws:RequestTag/<key>` and `aws:TagKeys` condition keys
    /// (default: none).
    fn request_tags(&self, _name: &str, _input: &Self::Input) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The request as the operation's input: wire decoding, no checks.
    fn decode(&self, name: &str, request: &Request<'_>) -> Result<Self::Input, Self::Error>;

    /// Checks the input before it runs: the model, and what the service answers with codes of
    /// its own.
    fn validate(
        &self,
        ctx: &RequestContext,
        name: &str,
        input: &Self::Input,
    ) -> Result<(), Self::Error>;

    /// Runs the operation.
    fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        ctx: &'a RequestContext,
        op: Self::Op,
        input: &'a Self::Input,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send + 'a;

    /// The output in the request's protocol.
    fn render(
        &self,
        route: &Route,
        name: &str,
        output: &Self::Output,
        request_id: &str,
    ) -> Response<Bytes>;

    /// An error in the request's protocol ([`ApiService::render_api_error`] of its AWS form,
    /// unless the service's errors carry more).
    fn render_error(&self, route: &Route, err: &Self::Error, request_id: &str) -> Response<Bytes> {
        self.render_api_error(route, &err.to_api(), request_id)
    }

    /// An AWS error in the request's protocol: a refused call
    /// ([`ApiService::ACCESS_DENIED_CODE`]), and by default every error of the service;
    /// services whose errors have a shape of their own (a query XML namespace, CBOR) say how.
    fn render_api_error(&self, route: &Route, err: &ApiError, request_id: &str) -> Response<Bytes> {
        error_response(route, err, request_id, "")
    }

    /// The input as its record keeps it, before the model shapes it: secrets and payloads
    /// taken out. `Null` or `{}` records `null`.
    fn recorded_input(&self, name: &str, input: &Self::Input) -> Value;

    /// The output as its record keeps it, before the model shapes it (`Null`: none).
    fn recorded_output(&self, name: &str, output: &Self::Output) -> Value;

    /// The resources a call acted on (the record's `resources`).
    fn resources(
        &self,
        _ctx: &RequestContext,
        _name: &str,
        _input: &Self::Input,
        _output: Option<&Self::Output>,
    ) -> Vec<Resource> {
        Vec::new()
    }
}

/// Answers one call of `service`: see the [module docs](self).
pub async fn answer<S: ApiService>(service: &S, call: Call<'_>) -> Answer {
    let Call {
        state,
        ctx,
        route,
        parts,
        body,
        ..
    } = call;
    let request_id = ctx.request_id.as_str();
    let name = route.operation.as_deref().unwrap_or("");
    if !opentrail_api::models::model(S::MODEL).has_operation(name) {
        let err = service.unknown_operation(name);
        return (service.render_error(route, &err, request_id), None);
    }
    let request = Request {
        state,
        ctx,
        route,
        parts: &parts,
        body: &body,
    };
    let input = match service.decode(name, &request) {
        Ok(input) => input,
        Err(err) => {
            let details = details(service, ctx, name, None, None, Some(&err));
            return (service.render_error(route, &err, request_id), Some(details));
        }
    };
    if let Err(err) = service.validate(ctx, name, &input) {
        return failed(service, route, ctx, name, &input, &err);
    }
    let resource_account = match authorize(service, state, ctx, name, &input) {
        Ok(resource_account) => resource_account,
        Err(denial) => {
            let status = denied_status(route, S::ACCESS_DENIED_CODE);
            let err = ApiError::new(S::ACCESS_DENIED_CODE, status, denial.message);
            let mut details = details(service, ctx, name, None, None, None);
            details.error = Some(("AccessDenied".to_owned(), err.message.clone()));
            return (
                service.render_api_error(route, &err, request_id),
                Some(details),
            );
        }
    };
    let result = match S::Op::parse(name) {
        Some(op) => service.run(state, ctx, op, &input).await,
        None => Err(service.unsupported(name)),
    };
    match result {
        Ok(output) => {
            let mut details = details(service, ctx, name, Some(&input), Some(&output), None);
            // A call on another account's resource is written to that account too.
            details.shared_with.extend(resource_account);
            details.owners_judged = true;
            (
                service.render(route, name, &output, request_id),
                Some(details),
            )
        }
        Err(err) => failed(service, route, ctx, name, &input, &err),
    }
}

/// The HTTP status of a refused call: 400 for an awsJson service's `AccessDeniedException`
/// (awsJson errors without a modeled status are 400, as AWS answers them), 403 otherwise
/// (`AccessDenied`, `AuthorizationError`, a REST service's `AccessDeniedException`).
fn denied_status(route: &Route, code: &str) -> StatusCode {
    match route.protocol {
        Protocol::AwsJson10 | Protocol::AwsJson11 if code == "AccessDeniedException" => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::FORBIDDEN,
    }
}

/// Step 4: whether the call's principal may make it; `Ok` with the account owning what it acts
/// on when that is not the caller's.
fn authorize<S: ApiService>(
    service: &S,
    state: &AppState,
    ctx: &RequestContext,
    name: &str,
    input: &S::Input,
) -> Result<Option<String>, Denial> {
    let action = service.iam_action(name);
    if let Some(denial) = crate::access::session_credentials_limit(&ctx.identity, &action) {
        return Err(denial);
    }
    if !service.needs_permission(name) {
        return Ok(None);
    }
    let resources = service.authorization_resources(ctx, name, input);
    let authz = AuthzRequest {
        action,
        resource_account: service.resource_account(state, ctx, name, &resources),
        resources,
        resource_policy: service.resource_policy(state, ctx, name, input),
        tags: CallTags {
            resource: service.resource_tags(state, ctx, name, input),
            request: service.request_tags(name, input),
        },
    };
    state.access.authorize(state, ctx, &authz)?;
    Ok(authz.resource_account)
}

/// The account owning the resources when the ARNs name one other than the caller's.
pub fn foreign_account(ctx: &RequestContext, resources: &[String]) -> Option<String> {
    resources
        .iter()
        .filter_map(|arn| arn.split(':').nth(4))
        .find(|account| !account.is_empty() && *account != ctx.account_id)
        .map(str::to_owned)
}

/// The answer and record of a call that decoded but failed.
fn failed<S: ApiService>(
    service: &S,
    route: &Route,
    ctx: &RequestContext,
    name: &str,
    input: &S::Input,
    err: &S::Error,
) -> Answer {
    let details = details(service, ctx, name, Some(input), None, Some(err));
    if err.to_api().status.is_server_error() {
        tracing::error!(
            service = S::EVENT_SOURCE,
            operation = name,
            error = ?err,
            "call failed"
        );
    }
    (
        service.render_error(route, err, &ctx.request_id),
        Some(details),
    )
}

/// The record details of a call from its request alone, without running it (for a call a
/// crash left unanswered): decoded, shaped and redacted as the service's own records are.
/// `None` when the operation is unknown or the request does not decode.
pub fn request_details<S: ApiService>(service: &S, request: Request<'_>) -> Option<EventDetails> {
    let name = request.route.operation.as_deref()?;
    if !opentrail_api::models::model(S::MODEL).has_operation(name) {
        return None;
    }
    let input = service.decode(name, &request).ok()?;
    Some(details(
        service,
        request.ctx,
        name,
        Some(&input),
        None,
        None,
    ))
}

/// The [`EventDetails`] of one call of operation `name`: from its input when it decoded, its
/// output when it succeeded, its error when it failed.
pub fn details<S: ApiService>(
    service: &S,
    ctx: &RequestContext,
    name: &str,
    input: Option<&S::Input>,
    output: Option<&S::Output>,
    error: Option<&S::Error>,
) -> EventDetails {
    let mut details = EventDetails::new(S::EVENT_SOURCE, name, service.read_only(name));
    details.management = !service.data_event(name);
    details.api_version = S::API_VERSION.map(str::to_owned);
    if let Some(input) = input {
        let recorded = service.recorded_input(name, input);
        if !is_empty(&recorded) {
            details.request_parameters = Some(request_parameters(S::MODEL, name, &recorded));
        }
        details.resources = service.resources(ctx, name, input, output);
    }
    if let Some(output) = output {
        let recorded = service.recorded_output(name, output);
        if !is_empty(&recorded) {
            details.response_elements = Some(response_elements(S::MODEL, name, &recorded));
        }
    }
    if let Some(err) = error {
        let api = err.to_api();
        details.error = Some((api.code, api.message));
    }
    details
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Runs `handler` on the blocking pool, for handlers that read and write the metadata store
/// (every change is an fsync); a handler task that fails (panics) is logged as `service`'s and
/// answered with `internal()`.
pub async fn on_blocking_pool<T, E>(
    service: &'static str,
    internal: impl FnOnce() -> E,
    handler: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    match tokio::task::spawn_blocking(handler).await {
        Ok(result) => result,
        Err(err) => {
            tracing::error!(error = %err, service, "handler task failed");
            Err(internal())
        }
    }
}

/// The JSON body of an awsJson request: `{}` when empty, else an object.
pub fn json_input(request: &Request<'_>) -> Result<Value, ApiError> {
    opentrail_api::parse_json_body(request.body)
}

/// The awsQuery parameters of a request: the URL query, then the form body.
pub fn query_params(request: &Request<'_>) -> Vec<(String, String)> {
    let mut params =
        opentrail_api::parse_query_params(request.parts.uri.query().unwrap_or("").as_bytes());
    params.extend(opentrail_api::parse_query_params(request.body));
    params
}

/// Checks `input` against the input shape of operation `name` in `model`.
pub fn validate_model(model: EmbeddedModel, name: &str, input: &Value) -> Result<(), ApiError> {
    opentrail_api::models::model(model).validate_input(name, input)
}

/// Reading members of a model-checked JSON input: one set of accessors for every service.
pub mod input {
    use serde_json::Value;

    /// A string member; `None` when absent, null or not a string.
    pub fn opt_str<'a>(input: &'a Value, name: &str) -> Option<&'a str> {
        input.get(name).and_then(Value::as_str)
    }

    /// A whole-number member; `None` when absent, null or not one.
    pub fn opt_i64(input: &Value, name: &str) -> Option<i64> {
        input.get(name).and_then(Value::as_i64)
    }

    /// A boolean member; `None` when absent, null or not one.
    pub fn opt_bool(input: &Value, name: &str) -> Option<bool> {
        input.get(name).and_then(Value::as_bool)
    }

    /// The strings of a list (empty when absent; items that are not strings are passed over).
    pub fn strings(value: Option<&Value>) -> Vec<String> {
        value
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The strings of list member `name` (see [`strings`]).
    pub fn string_list(input: &Value, name: &str) -> Vec<String> {
        strings(input.get(name))
    }

    /// The tags of member `name`, in either shape the models give them: a map of key to value
    /// (SQS, CloudWatch Logs) or a list of `{Key, Value}` (SNS, CloudTrail, EventBridge). A tag
    /// with no value has the empty one.
    pub fn tags(input: &Value, name: &str) -> Vec<(String, String)> {
        match input.get(name) {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_owned()))
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| {
                    let key = item.get("Key").and_then(Value::as_str)?;
                    let value = item
                        .get("Value")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    Some((key.to_owned(), value.to_owned()))
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The operations of `S` its model does not have (they could never be called): for each
/// service's tests, which expect none.
pub fn unmodelled_operations<S: ApiService>() -> Vec<&'static str> {
    let model = opentrail_api::models::model(S::MODEL);
    S::Op::ALL
        .iter()
        .map(|op| op.name())
        .filter(|name| !model.has_operation(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Operation, input};

    crate::operations! {
        /// Two operations.
        enum Op { CreateThing, ListThings }
    }

    #[test]
    fn tags_read_as_a_map_or_as_key_value_pairs() {
        let map = serde_json::json!({"tags": {"env": "dev"}});
        assert_eq!(
            input::tags(&map, "tags"),
            vec![("env".into(), "dev".into())]
        );
        let list = serde_json::json!({"Tags": [{"Key": "team", "Value": "a"}, {"Key": "x"}]});
        assert_eq!(
            input::tags(&list, "Tags"),
            vec![("team".into(), "a".into()), ("x".into(), String::new())]
        );
        assert!(input::tags(&list, "tags").is_empty());
    }

    #[test]
    fn operation_names_round_trip() {
        for op in Op::ALL {
            assert_eq!(Op::parse(op.name()), Some(*op));
        }
        assert_eq!(Op::parse("createThing"), None);
        assert_eq!(Op::parse(""), None);
        assert_eq!(Op::ListThings.name(), "ListThings");
    }

    #[test]
    fn refusals_answer_with_the_status_aws_gives_their_code() {
        use super::{Protocol, Route, StatusCode, denied_status};

        let route = |protocol| Route {
            service: "x".into(),
            protocol,
            operation: None,
        };
        for protocol in [Protocol::AwsJson10, Protocol::AwsJson11] {
            assert_eq!(
                denied_status(&route(protocol), "AccessDeniedException"),
                StatusCode::BAD_REQUEST
            );
            assert_eq!(
                denied_status(&route(protocol), "AccessDenied"),
                StatusCode::FORBIDDEN
            );
        }
        assert_eq!(
            denied_status(&route(Protocol::AwsQuery), "AccessDenied"),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            denied_status(&route(Protocol::RestJson), "AccessDeniedException"),
            StatusCode::FORBIDDEN
        );
    }
}
