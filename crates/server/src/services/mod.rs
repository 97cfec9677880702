//! The AWS services, one module each. [`call`] picks the service of a request by its SigV4
//! signing name; each service answers in its own protocol and reports the
//! [`EventDetails`] of the call for its CloudTrail record.

pub mod cloudtrail;
pub mod cloudwatch;
pub mod events;
pub mod ingest;
pub mod logs;
pub mod s3;
pub mod sns;
pub mod sqs;

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http::request::Parts;
use opentrail_api::{ApiError, Route, Verified};

use crate::AppState;
use crate::context::{EventDetails, RequestContext};
use crate::dispatch::{error_response, unknown_service};

/// The botocore model embedded as `json`, parsed once into `cell`; `None` (logged once) when
/// it does not load.
pub(crate) fn embedded_model(
    cell: &'static std::sync::OnceLock<Option<opentrail_api::ServiceModel>>,
    json: &str,
    service: &str,
) -> Option<&'static opentrail_api::ServiceModel> {
    cell.get_or_init(|| match opentrail_api::ServiceModel::from_json(json) {
        Ok(model) => Some(model),
        Err(err) => {
            tracing::error!(error = %err, service, "embedded model does not load");
            None
        }
    })
    .as_ref()
}

/// Calls the service `route` names. The details are `None` for calls that are not recorded.
pub async fn call(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    route: &Route,
    verified: &Verified,
    parts: Parts,
    body: Bytes,
) -> (Response<Bytes>, Option<EventDetails>) {
    match route.service.as_str() {
        "cloudtrail" => cloudtrail_call(state, ctx, route, &body).await,
        "s3" => s3::handle(state, ctx, verified, parts, body).await,
        "sns" => sns::handle(state, ctx, route, parts, body).await,
        "sqs" => sqs::handle(state, ctx, route, parts, body).await,
        "events" => events::handle(state, ctx, route, parts, body).await,
        "logs" => logs::handle(state, ctx, route, parts, body).await,
        "cloudtrail-data" => ingest::handle(state, ctx, route, parts, body).await,
        "monitoring" => cloudwatch::handle(state, ctx, route, parts, body).await,
        _ => (unknown_service(route, &ctx.request_id), None),
    }
}

async fn cloudtrail_call(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    route: &Route,
    body: &[u8],
) -> (Response<Bytes>, Option<EventDetails>) {
    let Some(operation) = route
        .operation
        .as_deref()
        .filter(|op| state.cloudtrail_model.has_operation(op))
    else {
        let err = ApiError::client(
            "UnknownOperationException",
            format!(
                "operation {:?} is not a CloudTrail operation",
                route.operation.as_deref().unwrap_or("")
            ),
        );
        return (error_response(route, &err, &ctx.request_id, ""), None);
    };
    let input = match opentrail_api::parse_json_body(body) {
        Ok(input) => input,
        Err(err) => {
            let mut details = cloudtrail::record_details(operation, &serde_json::Value::Null, None);
            details.error = Some((err.code.clone(), err.message.clone()));
            return (
                error_response(route, &err, &ctx.request_id, ""),
                Some(details),
            );
        }
    };
    let checked = cloudtrail::precheck(ctx, operation, &input)
        .and_then(|()| state.cloudtrail_model.validate_input(operation, &input));
    let result = match checked {
        Ok(()) => cloudtrail::handle(state, ctx, operation, &input).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(output) => {
            let details = cloudtrail::record_details(operation, &input, Some(&output));
            let response = opentrail_api::json_response(
                http::StatusCode::OK,
                &output,
                &ctx.request_id,
                route.protocol,
            );
            (response, Some(details))
        }
        Err(err) => {
            if err.status.is_server_error() {
                tracing::error!(operation, code = %err.code, message = %err.message, "cloudtrail call failed");
            }
            let mut details = cloudtrail::record_details(operation, &input, None);
            details.error = Some((err.code.clone(), err.message.clone()));
            (
                error_response(route, &err, &ctx.request_id, ""),
                Some(details),
            )
        }
    }
}
