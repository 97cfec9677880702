//! CloudWatch (`monitoring`): metrics (PutMetricData, GetMetricStatistics, GetMetricData,
//! ListMetrics) and metric alarms with their evaluation and SNS actions.
//!
//! CloudWatch speaks three protocols and botocore picks the first it knows: Smithy RPC v2 CBOR
//! (current SDKs, the `aws` CLI), awsJson 1.0 and awsQuery (older clients). Each request is
//! decoded by the botocore model into one JSON value (member names as in the model, timestamps
//! as epoch seconds), checked against the model, run by one handler per operation, and the
//! output is encoded back in the request's protocol. Errors carry CloudWatch's query-era codes
//! (`ResourceNotFound`, `InvalidParameterValue`, …), on CBOR and JSON also in the
//! `x-amzn-query-error` header botocore reads for this awsQuery-compatible service.
//!
//! Samples share the Logs service's metric store, so metric filters feed alarms directly.
//!
//! # Layout
//! - [`error`]: [`CwError`] with AWS's codes and statuses.
//! - [`store`]: alarms, alarm history and pending notifications in the metadata store.
//! - [`metrics`]: the metric operations.
//! - [`alarms`]: the alarm operations.
//! - [`evaluator`]: the `cloudwatch-alarms` worker (evaluation, state changes, SNS actions).

pub mod alarms;
pub mod error;
pub mod evaluator;
pub mod metrics;
pub mod store;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use opentrail_api::EmbeddedModel;
use opentrail_api::{Protocol, Route, ServiceModel};
use opentrail_model::Resource;
use serde_json::Value;

pub use error::CwError;

use crate::logs::events::EventStore;
use opentrail_core::AppState;
use opentrail_core::context::{
    EventDetails, RequestContext, request_parameters, response_elements,
};

pub const EVENT_SOURCE: &str = "monitoring.amazonaws.com";
const API_VERSION: &str = "2010-08-01";
const XML_NAMESPACE: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";
/// Operations CloudTrail records as Data events (the metric data plane).
const DATA_OPERATIONS: &[&str] = &[
    "PutMetricData",
    "GetMetricData",
    "GetMetricStatistics",
    "ListMetrics",
    "GetMetricWidgetImage",
];

fn service_model() -> &'static ServiceModel {
    opentrail_api::models::model(EmbeddedModel::Monitoring)
}

/// One call: who, where, and the metric store.
pub struct Call<'a> {
    pub state: &'a Arc<AppState>,
    pub account: &'a str,
    pub region: &'a str,
    pub metrics: Arc<EventStore>,
    pub now_ms: i64,
}

impl Call<'_> {
    /// A required string member (the model check already ran; this guards the code).
    pub fn text<'v>(&self, input: &'v Value, name: &str) -> Result<&'v str, CwError> {
        input
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| CwError::MissingParameter(format!("The parameter {name} is required.")))
    }
}

/// Answers one request.
pub async fn handle(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    route: &Route,
    parts: Parts,
    body: Bytes,
) -> (Response<Bytes>, Option<EventDetails>) {
    let operation = route.operation.clone().unwrap_or_default();
    let model = service_model();
    if !model.has_operation(&operation) {
        let err = opentrail_api::ApiError::new(
            "InvalidAction",
            StatusCode::BAD_REQUEST,
            format!("operation {operation:?} is not a CloudWatch operation"),
        );
        return (error_response(route, &err, &ctx.request_id), None);
    }
    let input = match decode(model, route, &operation, &parts, &body) {
        Ok(input) => input,
        Err(err) => {
            let api = err.to_api();
            let mut details = details_for(ctx, &operation, &Value::Null, None);
            details.error = Some((api.code.clone(), api.message.clone()));
            return (error_response(route, &api, &ctx.request_id), Some(details));
        }
    };
    let result = match model.validate_input(&operation, &input) {
        Ok(()) => run(state, ctx, &operation, &input).await,
        Err(err) => Err(CwError::from(err)),
    };
    match result {
        Ok(output) => {
            let details = details_for(ctx, &operation, &input, Some(&output));
            let response = encode(model, route, &operation, &output, &ctx.request_id);
            (response, Some(details))
        }
        Err(err) => {
            if let CwError::Internal(cause) = &err {
                tracing::error!(operation, cause, "cloudwatch call failed");
            }
            let api = err.to_api();
            let mut details = details_for(ctx, &operation, &input, None);
            details.error = Some((api.code.clone(), api.message.clone()));
            (error_response(route, &api, &ctx.request_id), Some(details))
        }
    }
}

/// The record details of a call from its request alone, without running it (for a call a
/// crash left unanswered): parsed, shaped and redacted as this service's own records are.
pub fn request_details(
    ctx: &RequestContext,
    route: &Route,
    parts: &Parts,
    body: &[u8],
) -> Option<EventDetails> {
    let operation = route.operation.clone().unwrap_or_default();
    let model = service_model();
    if !model.has_operation(&operation) {
        return None;
    }
    let input = decode(model, route, &operation, parts, body).ok()?;
    Some(details_for(ctx, &operation, &input, None))
}

/// The request as one JSON value, whatever its protocol.
fn decode(
    model: &ServiceModel,
    route: &Route,
    operation: &str,
    parts: &Parts,
    body: &[u8],
) -> Result<Value, CwError> {
    match route.protocol {
        Protocol::RpcV2Cbor => Ok(opentrail_api::cbor::decode(body)?),
        Protocol::AwsQuery => {
            let mut params =
                opentrail_api::parse_query_params(parts.uri.query().unwrap_or("").as_bytes());
            params.extend(opentrail_api::parse_query_params(body));
            Ok(model.query_input(operation, &params)?)
        }
        _ => Ok(opentrail_api::parse_json_body(body)?),
    }
}

/// The output in the request's protocol.
fn encode(
    model: &ServiceModel,
    route: &Route,
    operation: &str,
    output: &Value,
    request_id: &str,
) -> Response<Bytes> {
    match route.protocol {
        Protocol::RpcV2Cbor => model.cbor_response(operation, output, request_id),
        Protocol::AwsQuery => model.query_output_response(operation, output, request_id),
        _ => opentrail_api::json_response(StatusCode::OK, output, request_id, Protocol::AwsJson10),
    }
}

/// An error in the request's protocol, with the query-compatible code header.
fn error_response(
    route: &Route,
    err: &opentrail_api::ApiError,
    request_id: &str,
) -> Response<Bytes> {
    match route.protocol {
        Protocol::RpcV2Cbor => opentrail_api::cbor::cbor_error_response(err, request_id, true),
        Protocol::AwsQuery => opentrail_api::query_error_response(err, request_id, XML_NAMESPACE),
        _ => {
            let mut response =
                opentrail_api::json_error_response(err, request_id, Protocol::AwsJson10);
            opentrail_api::with_query_error_header(&mut response, err);
            response
        }
    }
}

async fn run(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    operation: &str,
    input: &Value,
) -> Result<Value, CwError> {
    let call = Call {
        state,
        account: &ctx.account_id,
        region: &ctx.region,
        metrics: crate::logs::metric_store(state)?,
        now_ms: opentrail_model::time::now_ms(),
    };
    match operation {
        "PutMetricData" => metrics::put_metric_data(&call, input).await,
        "GetMetricStatistics" => metrics::get_metric_statistics(&call, input).await,
        "GetMetricData" => metrics::get_metric_data(&call, input).await,
        "ListMetrics" => metrics::list_metrics(&call, input).await,
        "PutMetricAlarm" => alarms::put_metric_alarm(&call, input).await,
        "DescribeAlarms" => alarms::describe_alarms(&call, input).await,
        "DescribeAlarmsForMetric" => alarms::describe_alarms_for_metric(&call, input).await,
        "DeleteAlarms" => alarms::delete_alarms(&call, input).await,
        "SetAlarmState" => alarms::set_alarm_state(&call, input).await,
        "EnableAlarmActions" => alarms::enable_alarm_actions(&call, input).await,
        "DisableAlarmActions" => alarms::disable_alarm_actions(&call, input).await,
        "DescribeAlarmHistory" => alarms::describe_alarm_history(&call, input).await,
        "TagResource" => alarms::tag_resource(&call, input).await,
        "UntagResource" => alarms::untag_resource(&call, input).await,
        "ListTagsForResource" => alarms::list_tags_for_resource(&call, input).await,
        other => Err(CwError::Unsupported(other.to_owned())),
    }
}

/// The CloudTrail details of one call.
fn details_for(
    ctx: &RequestContext,
    operation: &str,
    input: &Value,
    output: Option<&Value>,
) -> EventDetails {
    let read_only = ["Describe", "Get", "List"]
        .iter()
        .any(|prefix| operation.starts_with(prefix));
    let mut details = EventDetails::new(EVENT_SOURCE, operation, read_only);
    details.management = !DATA_OPERATIONS.contains(&operation);
    details.api_version = Some(API_VERSION.to_owned());
    details.request_parameters = Some(match input.as_object() {
        Some(map) if !map.is_empty() => {
            request_parameters(EmbeddedModel::Monitoring, operation, input)
        }
        _ => Value::Null,
    });
    details.response_elements = match output {
        Some(output) if !read_only && output.as_object().is_some_and(|m| !m.is_empty()) => Some(
            response_elements(EmbeddedModel::Monitoring, operation, output),
        ),
        _ => Some(Value::Null),
    };
    if let Some(name) = input.get("AlarmName").and_then(Value::as_str) {
        details.resources.push(Resource {
            account_id: Some(ctx.account_id.clone()),
            resource_type: Some("AWS::CloudWatch::Alarm".into()),
            arn: Some(format!(
                "arn:aws:cloudwatch:{}:{}:alarm:{name}",
                ctx.region, ctx.account_id
            )),
        });
    }
    details
}

/// Starts this service's background workers (called once at server start).
pub fn spawn_workers(state: &Arc<AppState>) {
    state.workers.spawn(state, evaluator::Evaluator);
}
