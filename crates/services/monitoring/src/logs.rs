//! CloudWatch Logs (`logs`, awsJson 1.1 `Logs_20140328`): log groups, streams, events, metric
//! filters, subscription filters, and the trail → log group delivery.
//!
//! [`Logs`] answers through the request pipeline (`opentrail_core::pipeline`): a request is
//! checked against the embedded botocore model (its violations are answered as
//! `InvalidParameterException`, as CloudWatch Logs does), then run by the handler of its
//! [`Op`]. Groups, streams, metric and subscription filters live in the metadata store;
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
use http::{Response, StatusCode};
use opentrail_api::{ApiError, EmbeddedModel, Route};
use opentrail_model::Resource;
use serde_json::Value;

pub use error::LogsError;

use opentrail_core::context::RequestContext;
use opentrail_core::pipeline::{self, ApiService};
use opentrail_core::{AppState, Request};
use ops::Call;

pub const EVENT_SOURCE: &str = "logs.amazonaws.com";

opentrail_core::operations! {
    /// The CloudWatch Logs operations served here.
    pub enum Op {
        CreateLogGroup,
        DeleteLogGroup,
        DescribeLogGroups,
        PutRetentionPolicy,
        DeleteRetentionPolicy,
        AssociateKmsKey,
        DisassociateKmsKey,
        TagLogGroup,
        UntagLogGroup,
        ListTagsLogGroup,
        TagResource,
        UntagResource,
        ListTagsForResource,
        CreateLogStream,
        DeleteLogStream,
        DescribeLogStreams,
        PutLogEvents,
        GetLogEvents,
        FilterLogEvents,
        PutMetricFilter,
        DescribeMetricFilters,
        DeleteMetricFilter,
        TestMetricFilter,
        PutSubscriptionFilter,
        DescribeSubscriptionFilters,
        DeleteSubscriptionFilter,
    }
}

/// The metric datapoints of a data directory (for the CloudWatch metrics service).
pub fn metric_store(state: &AppState) -> Result<Arc<events::EventStore>, LogsError> {
    events::store_for(state)
}

/// CloudWatch Logs in the request pipeline.
pub struct Logs;

impl ApiService for Logs {
    type Op = Op;
    type Input = Value;
    type Output = Value;
    type Error = LogsError;

    const MODEL: EmbeddedModel = EmbeddedModel::Logs;
    const EVENT_SOURCE: &'static str = EVENT_SOURCE;
    const API_VERSION: Option<&'static str> = Some("2014-03-28");

    fn unknown_operation(&self, name: &str) -> LogsError {
        LogsError::Wire(ApiError::client(
            "UnknownOperationException",
            format!("operation {name:?} is not a CloudWatch Logs operation"),
        ))
    }

    fn unsupported(&self, name: &str) -> LogsError {
        LogsError::Unsupported(name.to_owned())
    }

    fn read_only(&self, name: &str) -> bool {
        ["Describe", "Get", "List", "Filter", "Test"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
    }

    fn data_event(&self, name: &str) -> bool {
        matches!(name, "PutLogEvents" | "GetLogEvents" | "FilterLogEvents")
    }

    fn decode(&self, _name: &str, request: &Request<'_>) -> Result<Value, LogsError> {
        pipeline::json_input(request).map_err(LogsError::Wire)
    }

    fn validate(&self, _ctx: &RequestContext, name: &str, input: &Value) -> Result<(), LogsError> {
        Ok(pipeline::validate_model(Self::MODEL, name, input)?)
    }

    async fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        ctx: &'a RequestContext,
        op: Op,
        input: &'a Value,
    ) -> Result<Value, LogsError> {
        let call = Call {
            state,
            account: &ctx.account_id,
            region: &ctx.region,
            events: events::store_for(state)?,
            now_ms: opentrail_model::time::now_ms(),
        };
        match op {
            Op::CreateLogGroup => groups::create_log_group(&call, input).await,
            Op::DeleteLogGroup => groups::delete_log_group(&call, input).await,
            Op::DescribeLogGroups => groups::describe_log_groups(&call, input).await,
            Op::PutRetentionPolicy => groups::put_retention_policy(&call, input).await,
            Op::DeleteRetentionPolicy => groups::delete_retention_policy(&call, input).await,
            Op::AssociateKmsKey => groups::associate_kms_key(&call, input).await,
            Op::DisassociateKmsKey => groups::disassociate_kms_key(&call, input).await,
            Op::TagLogGroup => groups::tag_log_group(&call, input).await,
            Op::UntagLogGroup => groups::untag_log_group(&call, input).await,
            Op::ListTagsLogGroup => groups::list_tags_log_group(&call, input).await,
            Op::TagResource => groups::tag_resource(&call, input).await,
            Op::UntagResource => groups::untag_resource(&call, input).await,
            Op::ListTagsForResource => groups::list_tags_for_resource(&call, input).await,
            Op::CreateLogStream => groups::create_log_stream(&call, input).await,
            Op::DeleteLogStream => groups::delete_log_stream(&call, input).await,
            Op::DescribeLogStreams => groups::describe_log_streams(&call, input).await,
            Op::PutLogEvents => ingest::put_log_events(&call, input).await,
            Op::GetLogEvents => ingest::get_log_events(&call, input).await,
            Op::FilterLogEvents => ingest::filter_log_events(&call, input).await,
            Op::PutMetricFilter => metric_filters::put_metric_filter(&call, input).await,
            Op::DescribeMetricFilters => {
                metric_filters::describe_metric_filters(&call, input).await
            }
            Op::DeleteMetricFilter => metric_filters::delete_metric_filter(&call, input).await,
            Op::TestMetricFilter => metric_filters::test_metric_filter(&call, input).await,
            Op::PutSubscriptionFilter => subscriptions::put_subscription_filter(&call, input).await,
            Op::DescribeSubscriptionFilters => {
                subscriptions::describe_subscription_filters(&call, input).await
            }
            Op::DeleteSubscriptionFilter => {
                subscriptions::delete_subscription_filter(&call, input).await
            }
        }
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

    /// Event messages are data, not parameters.
    fn recorded_input(&self, _name: &str, input: &Value) -> Value {
        let mut parameters = input.clone();
        if let Some(map) = parameters.as_object_mut() {
            map.remove("logEvents");
            map.remove("logEventMessages");
        }
        parameters
    }

    fn recorded_output(&self, _name: &str, output: &Value) -> Value {
        output.clone()
    }

    fn resources(
        &self,
        ctx: &RequestContext,
        _name: &str,
        input: &Value,
        _output: Option<&Value>,
    ) -> Vec<Resource> {
        let group = input
            .get("logGroupName")
            .or_else(|| input.get("logGroupIdentifier"))
            .and_then(Value::as_str)
            .map(|name| ops::group_from_identifier(name, &ctx.account_id));
        group
            .map(|group| Resource {
                account_id: Some(ctx.account_id.clone()),
                resource_type: Some("AWS::Logs::LogGroup".into()),
                arn: Some(format!(
                    "arn:aws:logs:{}:{}:log-group:{group}",
                    ctx.region, ctx.account_id
                )),
            })
            .into_iter()
            .collect()
    }

    /// The tags of the log group a call names (by name, identifier or `resourceArn`).
    fn resource_tags(
        &self,
        state: &AppState,
        ctx: &RequestContext,
        _name: &str,
        input: &Value,
    ) -> Vec<(String, String)> {
        let Some(group) = ["logGroupName", "logGroupIdentifier", "resourceArn"]
            .iter()
            .find_map(|member| input.get(*member).and_then(Value::as_str))
            .map(|name| ops::group_from_identifier(name, &ctx.account_id))
        else {
            return Vec::new();
        };
        match store::group(&state.meta, &ctx.account_id, &ctx.region, &group) {
            Ok(Some(group)) => group.tags.into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// The `tags` of CreateLogGroup, TagLogGroup and TagResource.
    fn request_tags(&self, name: &str, input: &Value) -> Vec<(String, String)> {
        match name {
            "CreateLogGroup" | "TagLogGroup" | "TagResource" => {
                pipeline::input::tags(input, "tags")
            }
            _ => Vec::new(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_groups_tags_are_the_resource_tags_of_calls_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = AppState::open(opentrail_core::ServerConfig::for_tests(dir.path().into()))
            .expect("state");
        let ctx = RequestContext::for_tests("us-east-1");
        let input = serde_json::json!({"logGroupName": "g", "tags": {"env": "dev"}});
        assert_eq!(
            Logs.request_tags("CreateLogGroup", &input),
            vec![("env".to_owned(), "dev".to_owned())]
        );
        assert!(
            Logs.resource_tags(&state, &ctx, "PutRetentionPolicy", &input)
                .is_empty()
        );
        let group = store::StoredGroup {
            version: store::FORMAT_VERSION,
            name: "g".into(),
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            created_ms: 0,
            retention_days: None,
            kms_key_id: None,
            tags: [("env".to_owned(), "dev".to_owned())].into(),
            log_group_class: "STANDARD".into(),
            deletion_protection: false,
        };
        state
            .meta
            .put(store::GROUPS_TABLE, &group.key(), &group)
            .expect("put");
        let arn = serde_json::json!({"resourceArn": format!("{}:*", group.arn())});
        for named in [&input, &arn] {
            assert_eq!(
                Logs.resource_tags(&state, &ctx, "TagResource", named),
                vec![("env".to_owned(), "dev".to_owned())]
            );
        }
        assert!(Logs.request_tags("DescribeLogGroups", &input).is_empty());
    }

    #[test]
    fn every_operation_is_in_the_embedded_model() {
        assert_eq!(
            pipeline::unmodelled_operations::<Logs>(),
            Vec::<&str>::new()
        );
    }
}
