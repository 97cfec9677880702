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
//! - [`rule`]: what an alarm's configuration means: the metric it watches and its rule.
//! - [`evaluator`]: the `cloudwatch-alarms` worker (evaluation, state changes, SNS actions).

pub mod alarms;
pub mod error;
pub mod evaluator;
pub mod metrics;
pub mod rule;
pub mod store;

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use opentrail_api::{EmbeddedModel, Protocol, Route, ServiceModel};
use opentrail_model::Resource;
use serde_json::Value;

pub use error::CwError;

use crate::logs::events::EventStore;
use opentrail_core::context::RequestContext;
use opentrail_core::pipeline::{self, ApiService};
use opentrail_core::{AppState, Request};

pub const EVENT_SOURCE: &str = "monitoring.amazonaws.com";
const XML_NAMESPACE: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

opentrail_core::operations! {
    /// The CloudWatch operations served here.
    pub enum Op {
        PutMetricData,
        GetMetricStatistics,
        GetMetricData,
        ListMetrics,
        PutMetricAlarm,
        DescribeAlarms,
        DescribeAlarmsForMetric,
        DeleteAlarms,
        SetAlarmState,
        EnableAlarmActions,
        DisableAlarmActions,
        DescribeAlarmHistory,
        TagResource,
        UntagResource,
        ListTagsForResource,
    }
}

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

/// CloudWatch in the request pipeline.
pub struct CloudWatch;

impl ApiService for CloudWatch {
    type Op = Op;
    type Input = Value;
    type Output = Value;
    type Error = CwError;

    const MODEL: EmbeddedModel = EmbeddedModel::Monitoring;
    const ACCESS_DENIED_CODE: &'static str = "AccessDenied";
    const EVENT_SOURCE: &'static str = EVENT_SOURCE;
    const API_VERSION: Option<&'static str> = Some("2010-08-01");

    fn unknown_operation(&self, name: &str) -> CwError {
        CwError::InvalidAction(format!("operation {name:?} is not a CloudWatch operation"))
    }

    fn unsupported(&self, name: &str) -> CwError {
        CwError::Unsupported(name.to_owned())
    }

    fn read_only(&self, name: &str) -> bool {
        ["Describe", "Get", "List"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
    }

    /// The metric data plane is recorded as Data events.
    fn data_event(&self, name: &str) -> bool {
        matches!(
            name,
            "PutMetricData"
                | "GetMetricData"
                | "GetMetricStatistics"
                | "ListMetrics"
                | "GetMetricWidgetImage"
        )
    }

    /// The request as one JSON value, whatever its protocol.
    fn decode(&self, name: &str, request: &Request<'_>) -> Result<Value, CwError> {
        match request.route.protocol {
            Protocol::RpcV2Cbor => Ok(opentrail_api::cbor::decode(request.body)?),
            Protocol::AwsQuery => {
                let params = pipeline::query_params(request);
                Ok(service_model().query_input(name, &params)?)
            }
            _ => Ok(pipeline::json_input(request)?),
        }
    }

    fn validate(&self, _ctx: &RequestContext, name: &str, input: &Value) -> Result<(), CwError> {
        Ok(pipeline::validate_model(Self::MODEL, name, input)?)
    }

    async fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        ctx: &'a RequestContext,
        op: Op,
        input: &'a Value,
    ) -> Result<Value, CwError> {
        let call = Call {
            state,
            account: &ctx.account_id,
            region: &ctx.region,
            metrics: crate::logs::metric_store(state)?,
            now_ms: opentrail_model::time::now_ms(),
        };
        match op {
            Op::PutMetricData => metrics::put_metric_data(&call, input).await,
            Op::GetMetricStatistics => metrics::get_metric_statistics(&call, input).await,
            Op::GetMetricData => metrics::get_metric_data(&call, input).await,
            Op::ListMetrics => metrics::list_metrics(&call, input).await,
            Op::PutMetricAlarm => alarms::put_metric_alarm(&call, input).await,
            Op::DescribeAlarms => alarms::describe_alarms(&call, input).await,
            Op::DescribeAlarmsForMetric => alarms::describe_alarms_for_metric(&call, input).await,
            Op::DeleteAlarms => alarms::delete_alarms(&call, input).await,
            Op::SetAlarmState => alarms::set_alarm_state(&call, input).await,
            Op::EnableAlarmActions => alarms::enable_alarm_actions(&call, input).await,
            Op::DisableAlarmActions => alarms::disable_alarm_actions(&call, input).await,
            Op::DescribeAlarmHistory => alarms::describe_alarm_history(&call, input).await,
            Op::TagResource => alarms::tag_resource(&call, input).await,
            Op::UntagResource => alarms::untag_resource(&call, input).await,
            Op::ListTagsForResource => alarms::list_tags_for_resource(&call, input).await,
        }
    }

    /// The output in the request's protocol.
    fn render(
        &self,
        route: &Route,
        name: &str,
        output: &Value,
        request_id: &str,
    ) -> Response<Bytes> {
        let model = service_model();
        match route.protocol {
            Protocol::RpcV2Cbor => model.cbor_response(name, output, request_id),
            Protocol::AwsQuery => model.query_output_response(name, output, request_id),
            _ => opentrail_api::json_response(
                StatusCode::OK,
                output,
                request_id,
                Protocol::AwsJson10,
            ),
        }
    }

    /// Every CloudWatch error, refusals included, in the request's protocol.
    fn render_api_error(
        &self,
        route: &Route,
        err: &opentrail_api::ApiError,
        request_id: &str,
    ) -> Response<Bytes> {
        match route.protocol {
            Protocol::RpcV2Cbor => opentrail_api::cbor::cbor_error_response(err, request_id, true),
            Protocol::AwsQuery => {
                opentrail_api::query_error_response(err, request_id, XML_NAMESPACE)
            }
            _ => {
                let mut response =
                    opentrail_api::json_error_response(err, request_id, Protocol::AwsJson10);
                opentrail_api::with_query_error_header(&mut response, err);
                response
            }
        }
    }

    fn recorded_input(&self, _name: &str, input: &Value) -> Value {
        input.clone()
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
        let Some(name) = input.get("AlarmName").and_then(Value::as_str) else {
            return Vec::new();
        };
        vec![Resource {
            account_id: Some(ctx.account_id.clone()),
            resource_type: Some("AWS::CloudWatch::Alarm".into()),
            arn: Some(format!(
                "arn:aws:cloudwatch:{}:{}:alarm:{name}",
                ctx.region, ctx.account_id
            )),
        }]
    }
}

/// Starts this service's background workers (called once at server start).
pub fn spawn_workers(state: &Arc<AppState>) {
    state.workers.spawn(state, evaluator::Evaluator);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_in_the_embedded_model() {
        assert_eq!(
            pipeline::unmodelled_operations::<CloudWatch>(),
            Vec::<&str>::new()
        );
    }
}
