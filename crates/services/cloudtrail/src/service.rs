//! CloudTrail and the ingest API as [`Service`]s: the awsJson 1.1 request of a CloudTrail
//! operation is parsed, prechecked, validated against the botocore model, run, and recorded.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use opentrail_api::{ApiError, EmbeddedModel, Route, ServiceModel};
use opentrail_core::context::{EventDetails, RequestContext};
use opentrail_core::render::error_response;
use opentrail_core::{AnswerFuture, AppState, Call, Request, Service};

use crate::workers;

fn service_model() -> &'static ServiceModel {
    opentrail_api::models::model(EmbeddedModel::Cloudtrail)
}

/// CloudTrail (`cloudtrail`), with the history, retention and delivery workers.
pub struct CloudTrailService;

impl Service for CloudTrailService {
    fn signing_names(&self) -> &'static [&'static str] {
        &["cloudtrail"]
    }

    fn call<'a>(&'a self, call: Call<'a>) -> AnswerFuture<'a> {
        Box::pin(async move { cloudtrail_call(call.state, call.ctx, call.route, &call.body).await })
    }

    fn request_details(&self, request: Request<'_>) -> Option<EventDetails> {
        let operation = request
            .route
            .operation
            .as_deref()
            .filter(|op| service_model().has_operation(op))?;
        let input = opentrail_api::parse_json_body(request.body).ok()?;
        Some(crate::record_details(operation, &input, None))
    }

    fn spawn_workers(&self, state: &Arc<AppState>) {
        workers::spawn_all(state);
    }
}

/// The ingest API (`cloudtrail-data` PutAuditEvents).
pub struct IngestService;

impl Service for IngestService {
    fn signing_names(&self) -> &'static [&'static str] {
        &["cloudtrail-data"]
    }

    fn call<'a>(&'a self, call: Call<'a>) -> AnswerFuture<'a> {
        Box::pin(crate::ingest::handle(
            call.state, call.ctx, call.route, call.parts, call.body,
        ))
    }
}

async fn cloudtrail_call(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    route: &Route,
    body: &[u8],
) -> (Response<Bytes>, Option<EventDetails>) {
    let model = service_model();
    let Some(operation) = route
        .operation
        .as_deref()
        .filter(|op| model.has_operation(op))
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
            let mut details = crate::record_details(operation, &serde_json::Value::Null, None);
            details.error = Some((err.code.clone(), err.message.clone()));
            return (
                error_response(route, &err, &ctx.request_id, ""),
                Some(details),
            );
        }
    };
    let checked = crate::precheck(ctx, operation, &input)
        .and_then(|()| model.validate_input(operation, &input));
    let result = match checked {
        Ok(()) => crate::handle(state, ctx, operation, &input).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(output) => {
            let details = crate::record_details(operation, &input, Some(&output));
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
            let mut details = crate::record_details(operation, &input, None);
            details.error = Some((err.code.clone(), err.message.clone()));
            (
                error_response(route, &err, &ctx.request_id, ""),
                Some(details),
            )
        }
    }
}
