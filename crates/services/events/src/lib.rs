//! EventBridge (`events.amazonaws.com`, awsJson 1.1 `AWSEvents`): event buses, rules, targets,
//! PutEvents, connections and API destinations — and the delivery of matched events.
//!
//! A request is checked against the embedded botocore model, then run on the blocking pool
//! against the metadata store (`store`). Events reach a bus two ways: PutEvents, and every
//! recorded CloudTrail event, which the `events` worker puts on the default bus of its region
//! in the EventBridge envelope. Either way the bus's rules (compiled together into one pattern
//! machine, `engine`) pick the targets, and each (event, target) pair is written durably as a
//! pending delivery before the event is acknowledged or the journal position moves; the
//! `events-delivery` worker then sends it, retries, and dead-letters it. Archives are managed
//! rules whose matches are stored, in the same transaction, instead of sent; replays send an
//! archive's events to its bus again from the `events-archives` worker.
//!
//! # Layout
//! - [`error`]: [`EventsError`] and its AWS codes.
//! - [`ops`]: the [`ops::Call`] context, bus references, pagination, tags.
//! - [`buses`]: event bus operations and bus permissions.
//! - [`rules`]: rules, targets, tags, TestEventPattern.
//! - [`connections`]: connections and API destinations.
//! - [`put_events`]: the PutEvents operation.
//! - [`archives`]: archives, archiving and retention.
//! - [`replays`]: replays and the `events-archives` worker.
//! - [`envelope`]: the EventBridge envelope of a CloudTrail record (also used by
//!   `opentrail match --envelope`).
//! - [`transform`]: Input, InputPath and InputTransformer.
//! - [`engine`]: per-bus pattern machines and the queue of pending deliveries.
//! - [`worker`]: the journal follower (CloudTrail → default bus).
//! - [`delivery`]: the dispatcher: SQS, SNS, API destinations, other buses; retries; DLQ.
//! - [`store`]: the tables in the metadata store.

pub mod archives;
pub mod buses;
pub mod connections;
pub mod delivery;
pub mod engine;
pub mod envelope;
pub mod error;
pub mod ops;
pub mod put_events;
pub mod replays;
pub mod rules;
pub mod store;
pub mod transform;
pub mod worker;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use opentrail_api::EmbeddedModel;
use opentrail_api::{ApiError, Route, ServiceModel};
use opentrail_model::Resource;
use serde_json::Value;

pub use error::EventsError;

use opentrail_core::context::{
    EventDetails, RequestContext, request_parameters, response_elements,
};
use opentrail_core::render::error_response;
use opentrail_core::{AnswerFuture, AppState, Call as ServiceCall, Request, Service};
use ops::Call;

pub const EVENT_SOURCE: &str = "events.amazonaws.com";
fn service_model() -> &'static ServiceModel {
    opentrail_api::models::model(EmbeddedModel::Events)
}

/// Answers one request.
pub async fn handle(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    route: &Route,
    _parts: Parts,
    body: Bytes,
) -> (Response<Bytes>, Option<EventDetails>) {
    let operation = route.operation.clone().unwrap_or_default();
    let model = service_model();
    if !model.has_operation(&operation) {
        let err = ApiError::client(
            "UnknownOperationException",
            format!("operation {operation:?} is not an EventBridge operation"),
        );
        return (error_response(route, &err, &ctx.request_id, ""), None);
    }
    let input = match opentrail_api::parse_json_body(&body) {
        Ok(input) => input,
        Err(err) => {
            let details = details_for(&operation, &Value::Null, None, Some(&err));
            return (
                error_response(route, &err, &ctx.request_id, ""),
                Some(details),
            );
        }
    };
    let result = match model.validate_input(&operation, &input) {
        Ok(()) => run(state, ctx, &operation, input.clone()).await,
        Err(err) => Err(EventsError::Api(err)),
    };
    match result {
        Ok(output) => {
            let details = details_for(&operation, &input, Some(&output), None);
            let response = opentrail_api::json_response(
                StatusCode::OK,
                &output,
                &ctx.request_id,
                route.protocol,
            );
            (response, Some(details))
        }
        Err(err) => {
            let api = err.to_api();
            if api.status.is_server_error() {
                tracing::error!(operation, code = %api.code, message = %api.message, "events call failed");
            }
            let details = details_for(&operation, &input, None, Some(&api));
            (
                error_response(route, &api, &ctx.request_id, ""),
                Some(details),
            )
        }
    }
}

async fn run(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    operation: &str,
    input: Value,
) -> Result<Value, EventsError> {
    let call = Call {
        state: state.clone(),
        engine: engine::engine_for(state),
        account: ctx.account_id.clone(),
        region: ctx.region.clone(),
        input,
        now_ms: i64::try_from(ctx.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
    };
    let operation = operation.to_owned();
    tokio::task::spawn_blocking(move || dispatch(&call, &operation))
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "events handler task failed");
            EventsError::Internal
        })?
}

fn dispatch(call: &Call, operation: &str) -> Result<Value, EventsError> {
    match operation {
        "CreateEventBus" => buses::create_event_bus(call),
        "DeleteEventBus" => buses::delete_event_bus(call),
        "DescribeEventBus" => buses::describe_event_bus(call),
        "ListEventBuses" => buses::list_event_buses(call),
        "UpdateEventBus" => buses::update_event_bus(call),
        "PutPermission" => buses::put_permission(call),
        "RemovePermission" => buses::remove_permission(call),
        "PutRule" => rules::put_rule(call),
        "DescribeRule" => rules::describe_rule(call),
        "ListRules" => rules::list_rules(call),
        "DeleteRule" => rules::delete_rule(call),
        "EnableRule" => rules::enable_rule(call),
        "DisableRule" => rules::disable_rule(call),
        "ListRuleNamesByTarget" => rules::list_rule_names_by_target(call),
        "PutTargets" => rules::put_targets(call),
        "RemoveTargets" => rules::remove_targets(call),
        "ListTargetsByRule" => rules::list_targets_by_rule(call),
        "TagResource" => rules::tag_resource(call),
        "UntagResource" => rules::untag_resource(call),
        "ListTagsForResource" => rules::list_tags_for_resource(call),
        "TestEventPattern" => rules::test_event_pattern(call),
        "PutEvents" => put_events::put_events(call),
        "CreateArchive" => archives::create_archive(call),
        "DescribeArchive" => archives::describe_archive(call),
        "ListArchives" => archives::list_archives(call),
        "UpdateArchive" => archives::update_archive(call),
        "DeleteArchive" => archives::delete_archive(call),
        "StartReplay" => replays::start_replay(call),
        "DescribeReplay" => replays::describe_replay(call),
        "ListReplays" => replays::list_replays(call),
        "CancelReplay" => replays::cancel_replay(call),
        "CreateConnection" => connections::create_connection(call),
        "DescribeConnection" => connections::describe_connection(call),
        "ListConnections" => connections::list_connections(call),
        "UpdateConnection" => connections::update_connection(call),
        "DeleteConnection" => connections::delete_connection(call),
        "DeauthorizeConnection" => connections::deauthorize_connection(call),
        "CreateApiDestination" => connections::create_api_destination(call),
        "DescribeApiDestination" => connections::describe_api_destination(call),
        "ListApiDestinations" => connections::list_api_destinations(call),
        "UpdateApiDestination" => connections::update_api_destination(call),
        "DeleteApiDestination" => connections::delete_api_destination(call),
        other => Err(EventsError::Unsupported(format!(
            "{other} is not supported by this server"
        ))),
    }
}

/// The record details of a call from its request alone, without running it (for a call a
/// crash left unanswered): parsed, shaped and redacted as this service's own records are.
pub fn request_details(route: &Route, body: &[u8]) -> Option<EventDetails> {
    let operation = route.operation.clone().unwrap_or_default();
    if !service_model().has_operation(&operation) {
        return None;
    }
    let input = opentrail_api::parse_json_body(body).ok()?;
    Some(details_for(&operation, &input, None, None))
}

/// The CloudTrail details of one call. Secrets and event details are not recorded.
fn details_for(
    operation: &str,
    input: &Value,
    output: Option<&Value>,
    error: Option<&ApiError>,
) -> EventDetails {
    let read_only = operation.starts_with("Describe")
        || operation.starts_with("List")
        || operation == "TestEventPattern";
    let mut details = EventDetails::new(EVENT_SOURCE, operation, read_only);
    // PutEvents is a data event, as AWS records it.
    details.management = operation != "PutEvents";
    details.api_version = Some("2015-10-07".to_owned());
    let parameters = redact(input);
    details.request_parameters = Some(match &parameters {
        Value::Object(map) if map.is_empty() => Value::Null,
        Value::Null => Value::Null,
        other => request_parameters(EmbeddedModel::Events, operation, other),
    });
    details.response_elements = Some(match output {
        Some(output) if !read_only && output.as_object().is_some_and(|m| !m.is_empty()) => {
            response_elements(EmbeddedModel::Events, operation, output)
        }
        _ => Value::Null,
    });
    if let Some(err) = error {
        details.error = Some((err.code.clone(), err.message.clone()));
    }
    if let Some(arn) = output
        .and_then(|o| o.get("RuleArn").or_else(|| o.get("EventBusArn")))
        .and_then(Value::as_str)
    {
        details.resources.push(Resource {
            account_id: arn.split(':').nth(4).map(str::to_owned),
            resource_type: Some(
                if arn.contains(":rule/") {
                    "AWS::Events::Rule"
                } else {
                    "AWS::Events::EventBus"
                }
                .to_owned(),
            ),
            arn: Some(arn.to_owned()),
        });
    }
    details
}

/// The input without secrets and without event details.
fn redact(input: &Value) -> Value {
    let mut copy = input.clone();
    if let Some(auth) = copy.get_mut("AuthParameters") {
        for (member, secret) in [
            ("ApiKeyAuthParameters", "ApiKeyValue"),
            ("BasicAuthParameters", "Password"),
        ] {
            if let Some(inner) = auth.get_mut(member).and_then(Value::as_object_mut) {
                inner.remove(secret);
            }
        }
        if let Some(client) = auth
            .get_mut("OAuthParameters")
            .and_then(|o| o.get_mut("ClientParameters"))
            .and_then(Value::as_object_mut)
        {
            client.remove("ClientSecret");
        }
    }
    if let Some(entries) = copy.get_mut("Entries").and_then(Value::as_array_mut) {
        for entry in entries {
            if let Some(map) = entry.as_object_mut() {
                map.remove("Detail");
            }
        }
    }
    copy
}

/// Starts this service's background workers (called once at server start).
pub fn spawn_workers(state: &Arc<AppState>) {
    let engine = engine::engine_for(state);
    let workers = &state.workers;
    workers.spawn(
        state,
        opentrail_core::workers::JournalFollower::<worker::Matcher>::new(),
    );
    workers.spawn(
        state,
        delivery::Dispatcher {
            engine: engine.clone(),
        },
    );
    workers.spawn(state, replays::Replayer { engine });
}

/// Wipes this service's state (the development reset), after the shared stores.
pub fn reset(state: &AppState) {
    engine::engine_for(state).reset(state.journal.last_seq());
}

/// EventBridge as a [`Service`].
pub struct EventsService;

impl Service for EventsService {
    fn signing_names(&self) -> &'static [&'static str] {
        &["events"]
    }

    fn call<'a>(&'a self, call: ServiceCall<'a>) -> AnswerFuture<'a> {
        Box::pin(handle(
            call.state, call.ctx, call.route, call.parts, call.body,
        ))
    }

    fn request_details(&self, request: Request<'_>) -> Option<EventDetails> {
        request_details(request.route, request.body)
    }

    fn spawn_workers(&self, state: &Arc<AppState>) {
        spawn_workers(state);
    }

    fn reset(&self, state: &AppState) {
        reset(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_and_details_are_not_recorded() {
        let input = json!({
            "Name": "c",
            "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "secret"}},
            "Entries": [{"Source": "s", "Detail": "{\"secret\": 1}"}],
        });
        let details = details_for("CreateConnection", &input, Some(&json!({})), None);
        let text = details.request_parameters.expect("parameters").to_string();
        assert!(!text.contains("secret"), "{text}");
        assert!(details.management);
        let put = details_for("PutEvents", &json!({}), None, None);
        assert!(!put.management);
        assert!(!put.read_only);
    }

    #[test]
    fn the_embedded_model_loads() {
        let model = service_model();
        assert!(model.has_operation("PutEvents"));
        assert!(model.has_operation("PutRule"));
    }
}
