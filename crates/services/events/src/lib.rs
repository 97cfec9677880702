//! EventBridge (`events.amazonaws.com`, awsJson 1.1 `AWSEvents`): event buses, rules, targets,
//! PutEvents, connections and API destinations — and the delivery of matched events.
//!
//! [`Events`] answers through the request pipeline (`opentrail_core::pipeline`): a request is
//! checked against the embedded botocore model, then the handler of its [`Op`] runs on the
//! blocking pool against the metadata store (`store`). Events reach a bus two ways: PutEvents, and every
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
//! - [`archives`]: the archive operations and the managed rule that feeds each archive.
//! - [`archived_events`]: the events stored in archives: appending them, retention.
//! - [`replays`]: replays and the `events-archives` worker.
//! - [`envelope`]: the EventBridge envelope of a CloudTrail record (also used by
//!   `opentrail match --envelope`).
//! - [`transform`]: Input, InputPath and InputTransformer.
//! - [`engine`]: per-bus pattern machines and the queue of pending deliveries.
//! - [`worker`]: the journal follower (CloudTrail → default bus).
//! - [`delivery`]: the dispatcher: SQS, SNS, API destinations, other buses; retries; DLQ.
//! - [`store`]: the tables in the metadata store.

pub mod archived_events;
pub mod archives;
pub mod authorization;
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
use http::{Response, StatusCode};
use opentrail_api::{ApiError, EmbeddedModel, Route};
use opentrail_model::{Arn, Resource};
use serde_json::Value;

pub use error::EventsError;

use opentrail_core::access::ResourcePolicy;
use opentrail_core::context::{EventDetails, RequestContext};
use opentrail_core::pipeline::{self, ApiService};
use opentrail_core::{AnswerFuture, AppState, Call as ServiceCall, Request, Service};
use ops::Call;

pub const EVENT_SOURCE: &str = "events.amazonaws.com";

opentrail_core::operations! {
    /// The EventBridge operations served here.
    pub enum Op {
        CreateEventBus,
        DeleteEventBus,
        DescribeEventBus,
        ListEventBuses,
        UpdateEventBus,
        PutPermission,
        RemovePermission,
        PutRule,
        DescribeRule,
        ListRules,
        DeleteRule,
        EnableRule,
        DisableRule,
        ListRuleNamesByTarget,
        PutTargets,
        RemoveTargets,
        ListTargetsByRule,
        TagResource,
        UntagResource,
        ListTagsForResource,
        TestEventPattern,
        PutEvents,
        CreateArchive,
        DescribeArchive,
        ListArchives,
        UpdateArchive,
        DeleteArchive,
        StartReplay,
        DescribeReplay,
        ListReplays,
        CancelReplay,
        CreateConnection,
        DescribeConnection,
        ListConnections,
        UpdateConnection,
        DeleteConnection,
        DeauthorizeConnection,
        CreateApiDestination,
        DescribeApiDestination,
        ListApiDestinations,
        UpdateApiDestination,
        DeleteApiDestination,
    }
}

/// EventBridge in the request pipeline.
pub struct Events;

impl ApiService for Events {
    type Op = Op;
    type Input = Value;
    type Output = Value;
    type Error = EventsError;

    const MODEL: EmbeddedModel = EmbeddedModel::Events;
    const EVENT_SOURCE: &'static str = EVENT_SOURCE;
    const API_VERSION: Option<&'static str> = Some("2015-10-07");

    fn unknown_operation(&self, name: &str) -> EventsError {
        EventsError::Api(ApiError::client(
            "UnknownOperationException",
            format!("operation {name:?} is not an EventBridge operation"),
        ))
    }

    fn unsupported(&self, name: &str) -> EventsError {
        EventsError::Unsupported(format!("{name} is not supported by this server"))
    }

    fn read_only(&self, name: &str) -> bool {
        name.starts_with("Describe") || name.starts_with("List") || name == "TestEventPattern"
    }

    /// PutEvents is a data event, as AWS records it.
    fn data_event(&self, name: &str) -> bool {
        name == "PutEvents"
    }

    fn decode(&self, _name: &str, request: &Request<'_>) -> Result<Value, EventsError> {
        pipeline::json_input(request).map_err(EventsError::Api)
    }

    fn validate(
        &self,
        _ctx: &RequestContext,
        name: &str,
        input: &Value,
    ) -> Result<(), EventsError> {
        pipeline::validate_model(Self::MODEL, name, input).map_err(EventsError::Api)
    }

    /// Handlers touch the metadata store, so they run on the blocking pool.
    async fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        ctx: &'a RequestContext,
        op: Op,
        input: &'a Value,
    ) -> Result<Value, EventsError> {
        let call = Call {
            state: state.clone(),
            engine: engine::engine_for(state),
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            input: input.clone(),
            now_ms: opentrail_model::time::to_ms(ctx.time),
        };
        pipeline::on_blocking_pool(
            Self::EVENT_SOURCE,
            || EventsError::Internal,
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

    /// Secrets and event details are not recorded.
    fn recorded_input(&self, _name: &str, input: &Value) -> Value {
        redact(input)
    }

    fn recorded_output(&self, _name: &str, output: &Value) -> Value {
        output.clone()
    }

    /// The buses and rules a call names ([`authorization::targets`]), else `*`.
    fn authorization_resources(
        &self,
        ctx: &RequestContext,
        name: &str,
        input: &Value,
    ) -> Vec<String> {
        let arns: Vec<String> = authorization::targets(ctx, name, input)
            .iter()
            .map(authorization::Target::arn)
            .collect();
        if arns.is_empty() {
            vec!["*".to_owned()]
        } else {
            arns
        }
    }

    /// The policies of the buses the call acts on (what `PutPermission` keeps).
    fn resource_policy(
        &self,
        state: &AppState,
        ctx: &RequestContext,
        name: &str,
        input: &Value,
    ) -> Option<ResourcePolicy> {
        let targets = authorization::targets(ctx, name, input);
        authorization::bus_policy(&state.meta, &targets)
    }

    fn resource_tags(
        &self,
        state: &AppState,
        ctx: &RequestContext,
        name: &str,
        input: &Value,
    ) -> Vec<(String, String)> {
        authorization::resource_tags(&state.meta, ctx, name, input)
    }

    fn request_tags(&self, name: &str, input: &Value) -> Vec<(String, String)> {
        authorization::request_tags(name, input)
    }

    /// The rule or bus a call made or changed, from its ARN in the output.
    fn resources(
        &self,
        _ctx: &RequestContext,
        _name: &str,
        _input: &Value,
        output: Option<&Value>,
    ) -> Vec<Resource> {
        let Some(arn) = output
            .and_then(|o| o.get("RuleArn").or_else(|| o.get("EventBusArn")))
            .and_then(Value::as_str)
        else {
            return Vec::new();
        };
        vec![Resource {
            account_id: Arn::parse(arn).map(|arn| arn.account.to_owned()),
            resource_type: Some(
                if arn.contains(":rule/") {
                    "AWS::Events::Rule"
                } else {
                    "AWS::Events::EventBus"
                }
                .to_owned(),
            ),
            arn: Some(arn.to_owned()),
        }]
    }
}

fn dispatch(call: &Call, op: Op) -> Result<Value, EventsError> {
    match op {
        Op::CreateEventBus => buses::create_event_bus(call),
        Op::DeleteEventBus => buses::delete_event_bus(call),
        Op::DescribeEventBus => buses::describe_event_bus(call),
        Op::ListEventBuses => buses::list_event_buses(call),
        Op::UpdateEventBus => buses::update_event_bus(call),
        Op::PutPermission => buses::put_permission(call),
        Op::RemovePermission => buses::remove_permission(call),
        Op::PutRule => rules::put_rule(call),
        Op::DescribeRule => rules::describe_rule(call),
        Op::ListRules => rules::list_rules(call),
        Op::DeleteRule => rules::delete_rule(call),
        Op::EnableRule => rules::enable_rule(call),
        Op::DisableRule => rules::disable_rule(call),
        Op::ListRuleNamesByTarget => rules::list_rule_names_by_target(call),
        Op::PutTargets => rules::put_targets(call),
        Op::RemoveTargets => rules::remove_targets(call),
        Op::ListTargetsByRule => rules::list_targets_by_rule(call),
        Op::TagResource => rules::tag_resource(call),
        Op::UntagResource => rules::untag_resource(call),
        Op::ListTagsForResource => rules::list_tags_for_resource(call),
        Op::TestEventPattern => rules::test_event_pattern(call),
        Op::PutEvents => put_events::put_events(call),
        Op::CreateArchive => archives::create_archive(call),
        Op::DescribeArchive => archives::describe_archive(call),
        Op::ListArchives => archives::list_archives(call),
        Op::UpdateArchive => archives::update_archive(call),
        Op::DeleteArchive => archives::delete_archive(call),
        Op::StartReplay => replays::start_replay(call),
        Op::DescribeReplay => replays::describe_replay(call),
        Op::ListReplays => replays::list_replays(call),
        Op::CancelReplay => replays::cancel_replay(call),
        Op::CreateConnection => connections::create_connection(call),
        Op::DescribeConnection => connections::describe_connection(call),
        Op::ListConnections => connections::list_connections(call),
        Op::UpdateConnection => connections::update_connection(call),
        Op::DeleteConnection => connections::delete_connection(call),
        Op::DeauthorizeConnection => connections::deauthorize_connection(call),
        Op::CreateApiDestination => connections::create_api_destination(call),
        Op::DescribeApiDestination => connections::describe_api_destination(call),
        Op::ListApiDestinations => connections::list_api_destinations(call),
        Op::UpdateApiDestination => connections::update_api_destination(call),
        Op::DeleteApiDestination => connections::delete_api_destination(call),
    }
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
        Box::pin(pipeline::answer(&Events, call))
    }

    fn request_details(&self, request: Request<'_>) -> Option<EventDetails> {
        pipeline::request_details(&Events, request)
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
        let text = Events
            .recorded_input("CreateConnection", &input)
            .to_string();
        assert!(!text.contains("secret"), "{text}");
        assert!(!Events.data_event("CreateConnection"));
        assert!(Events.data_event("PutEvents"));
        assert!(!Events.read_only("PutEvents"));
    }

    #[test]
    fn every_operation_is_in_the_embedded_model() {
        assert_eq!(
            pipeline::unmodelled_operations::<Events>(),
            Vec::<&str>::new()
        );
    }
}
