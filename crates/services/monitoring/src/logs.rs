//! CloudWatch Logs (`logs`, awsJson 1.1 `Logs_20140328`): log groups, streams, events, metric
//! filters, subscription filters, and the trail → log group delivery.
//!
//! A request is checked against the embedded botocore model (its violations are answered as
//! `InvalidParameterException`, as CloudWatch Logs does), then run by one handler per
//! operation. Groups, streams, metric and subscription filters live in the metadata store;
//! events, the datapoints of metric filters and the outbox of subscription deliveries in a
//! fjall database under `<data-dir>/logs/`, written durably before a call is acknowledged.
//!
//! # Layout
//! - [`error`]: [`LogsError`] with AWS's codes and messages.
//! - [`ops`]: what the operations share ([`ops::Call`], input accessors, name checks).
//! - [`store`]: groups, streams, metric and subscription filters in the metadata store.
//! - [`events`]: the durable event store (per-stream time order, merged scans, retention,
//!   the subscription outbox).
//! - [`derived`]: what a write of events derives from them (datapoints, deliveries).
//! - [`groups`]: log group and log stream operations, retention, KMS keys, tags.
//! - [`ingest`]: PutLogEvents, GetLogEvents, FilterLogEvents.
//! - [`metric_filters`]: metric filter operations and the datapoints filters compute.
//! - [`metrics`]: the durable datapoint store the CloudWatch metrics service reads.
//! - [`pattern`]: the filter-pattern engine (`opentrail_filters`).
//! - [`subscriptions`]: subscription filter operations, their payloads, and the
//!   `logs-subscriptions` worker that delivers them to SQS queues and event buses.
//! - [`trail`]: the `logs` worker (trail records → log groups) and the `logs-retention` worker.

pub mod derived;
pub mod error;
pub mod events;
pub mod groups;
pub mod ingest;
pub mod metric_filters;
pub mod metrics;
pub mod ops;
pub mod pattern;
pub mod store;
pub mod subscriptions;
pub mod trail;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use opentrail_api::EmbeddedModel;
use opentrail_api::{Route, ServiceModel};
use opentrail_model::Resource;
use serde_json::Value;

pub use error::LogsError;

use opentrail_core::AppState;
use opentrail_core::context::{
    EventDetails, RequestContext, request_parameters, response_elements,
};
use opentrail_core::render::error_response;
use ops::Call;

pub const EVENT_SOURCE: &str = "logs.amazonaws.com";
const API_VERSION: &str = "2014-03-28";
/// Operations CloudTrail records as Data events.
const DATA_OPERATIONS: &[&str] = &["PutLogEvents", "GetLogEvents", "FilterLogEvents"];

fn service_model() -> &'static ServiceModel {
    opentrail_api::models::model(EmbeddedModel::Logs)
}

/// The metric datapoints of a data directory (for the CloudWatch metrics service).
pub fn metric_store(state: &AppState) -> Result<Arc<events::EventStore>, LogsError> {
    events::store_for(state)
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
        let err = opentrail_api::ApiError::client(
            "UnknownOperationException",
            format!("operation {operation:?} is not a CloudWatch Logs operation"),
        );
        return (error_response(route, &err, &ctx.request_id, ""), None);
    }
    let input = match opentrail_api::parse_json_body(&body) {
        Ok(input) => input,
        Err(err) => {
            let details = details_for(ctx, &operation, &Value::Null, None, Some(&err.message));
            return (error_response(route, &err, &ctx.request_id, ""), details);
        }
    };
    let result = match model.validate_input(&operation, &input) {
        Ok(()) => run(state, ctx, &operation, &input).await,
        Err(err) => Err(LogsError::from(err)),
    };
    match result {
        Ok(output) => {
            let details = details_for(ctx, &operation, &input, Some(&output), None);
            let response = opentrail_api::json_response(
                StatusCode::OK,
                &output,
                &ctx.request_id,
                route.protocol,
            );
            (response, details)
        }
        Err(err) => {
            if let LogsError::Internal(cause) = &err {
                tracing::error!(operation, cause, "logs call failed");
            }
            let api = err.to_api();
            let mut details = details_for(ctx, &operation, &input, None, None);
            if let Some(details) = details.as_mut() {
                details.error = Some((api.code.clone(), api.message.clone()));
            }
            (error_response(route, &api, &ctx.request_id, ""), details)
        }
    }
}

async fn run(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    operation: &str,
    input: &Value,
) -> Result<Value, LogsError> {
    let call = Call {
        state,
        account: &ctx.account_id,
        region: &ctx.region,
        events: events::store_for(state)?,
        now_ms: opentrail_model::time::now_ms(),
    };
    match operation {
        "CreateLogGroup" => groups::create_log_group(&call, input).await,
        "DeleteLogGroup" => groups::delete_log_group(&call, input).await,
        "DescribeLogGroups" => groups::describe_log_groups(&call, input).await,
        "PutRetentionPolicy" => groups::put_retention_policy(&call, input).await,
        "DeleteRetentionPolicy" => groups::delete_retention_policy(&call, input).await,
        "AssociateKmsKey" => groups::associate_kms_key(&call, input).await,
        "DisassociateKmsKey" => groups::disassociate_kms_key(&call, input).await,
        "TagLogGroup" => groups::tag_log_group(&call, input).await,
        "UntagLogGroup" => groups::untag_log_group(&call, input).await,
        "ListTagsLogGroup" => groups::list_tags_log_group(&call, input).await,
        "TagResource" => groups::tag_resource(&call, input).await,
        "UntagResource" => groups::untag_resource(&call, input).await,
        "ListTagsForResource" => groups::list_tags_for_resource(&call, input).await,
        "CreateLogStream" => groups::create_log_stream(&call, input).await,
        "DeleteLogStream" => groups::delete_log_stream(&call, input).await,
        "DescribeLogStreams" => groups::describe_log_streams(&call, input).await,
        "PutLogEvents" => ingest::put_log_events(&call, input).await,
        "GetLogEvents" => ingest::get_log_events(&call, input).await,
        "FilterLogEvents" => ingest::filter_log_events(&call, input).await,
        "PutMetricFilter" => metric_filters::put_metric_filter(&call, input).await,
        "DescribeMetricFilters" => metric_filters::describe_metric_filters(&call, input).await,
        "DeleteMetricFilter" => metric_filters::delete_metric_filter(&call, input).await,
        "TestMetricFilter" => metric_filters::test_metric_filter(&call, input).await,
        "PutSubscriptionFilter" => subscriptions::put_subscription_filter(&call, input).await,
        "DescribeSubscriptionFilters" => {
            subscriptions::describe_subscription_filters(&call, input).await
        }
        "DeleteSubscriptionFilter" => subscriptions::delete_subscription_filter(&call, input).await,
        other => Err(LogsError::Unsupported(other.to_owned())),
    }
}

/// The record details of a call from its request alone, without running it (for a call a
/// crash left unanswered): parsed, shaped and redacted as this service's own records are.
pub fn request_details(ctx: &RequestContext, route: &Route, body: &[u8]) -> Option<EventDetails> {
    let operation = route.operation.clone().unwrap_or_default();
    if !service_model().has_operation(&operation) {
        return None;
    }
    let input = opentrail_api::parse_json_body(body).ok()?;
    details_for(ctx, &operation, &input, None, None)
}

/// The CloudTrail details of one call.
fn details_for(
    ctx: &RequestContext,
    operation: &str,
    input: &Value,
    output: Option<&Value>,
    error: Option<&str>,
) -> Option<EventDetails> {
    if operation.is_empty() {
        return None;
    }
    let read_only = ["Describe", "Get", "List", "Filter", "Test"]
        .iter()
        .any(|prefix| operation.starts_with(prefix));
    let mut details = EventDetails::new(EVENT_SOURCE, operation, read_only);
    details.management = !DATA_OPERATIONS.contains(&operation);
    details.api_version = Some(API_VERSION.to_owned());
    let mut parameters = input.clone();
    if let Some(map) = parameters.as_object_mut() {
        // Event messages are data, not parameters.
        map.remove("logEvents");
        map.remove("logEventMessages");
    }
    details.request_parameters = Some(match parameters.as_object() {
        Some(map) if !map.is_empty() => {
            request_parameters(EmbeddedModel::Logs, operation, &parameters)
        }
        _ => Value::Null,
    });
    details.response_elements = match output {
        Some(output) if !read_only && output.as_object().is_some_and(|m| !m.is_empty()) => {
            Some(response_elements(EmbeddedModel::Logs, operation, output))
        }
        _ => Some(Value::Null),
    };
    if let Some(message) = error {
        details.error = Some(("SerializationException".into(), message.to_owned()));
    }
    let group = input
        .get("logGroupName")
        .or_else(|| input.get("logGroupIdentifier"))
        .and_then(Value::as_str)
        .map(|name| ops::group_from_identifier(name, &ctx.account_id));
    if let Some(group) = group {
        details.resources.push(Resource {
            account_id: Some(ctx.account_id.clone()),
            resource_type: Some("AWS::Logs::LogGroup".into()),
            arn: Some(format!(
                "arn:aws:logs:{}:{}:log-group:{group}",
                ctx.region, ctx.account_id
            )),
        });
    }
    Some(details)
}

/// Starts this service's background workers (called once at server start).
pub fn spawn_workers(state: &Arc<AppState>) {
    let workers = &state.workers;
    workers.spawn(
        state,
        opentrail_core::workers::JournalFollower::<trail::TrailSender>::new(),
    );
    workers.spawn(state, trail::Retention);
    workers.spawn(state, subscriptions::Subscriptions);
}

/// Wipes this service's state (the development reset). Call from `AppState::reset`.
/// Groups, streams and filters go with the metadata store; this clears the events,
/// datapoints and the subscription outbox, and moves the trail consumer to the end of the journal.
pub fn reset(state: &AppState) {
    match events::store_for(state) {
        Ok(store) => {
            if let Err(err) = store.clear() {
                tracing::error!(error = %err, "logs store does not clear");
            }
            if let Err(err) = store.set_trail_applied(state.journal.last_seq()) {
                tracing::error!(error = %err, "logs trail position does not move on reset");
            }
        }
        Err(err) => tracing::error!(error = %err, "logs store does not open for reset"),
    }
}
