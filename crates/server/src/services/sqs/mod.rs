//! SQS (`sqs.amazonaws.com`, awsJson 1.0 and the query protocol): durable message queues.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http::request::Parts;
use opentrail_api::{ApiError, Route};

use crate::AppState;
use crate::context::{EventDetails, RequestContext};
use crate::dispatch::error_response;

pub const EVENT_SOURCE: &str = "sqs.amazonaws.com";

/// Handles one SQS request.
pub async fn handle(
    _state: &Arc<AppState>,
    ctx: &RequestContext,
    route: &Route,
    _parts: Parts,
    _body: Bytes,
) -> (Response<Bytes>, Option<EventDetails>) {
    let operation = route.operation.clone().unwrap_or_default();
    let err = ApiError::client(
        "UnsupportedOperation",
        format!("SQS operation {operation:?} is not supported by this server yet"),
    );
    (error_response(route, &err, &ctx.request_id, ""), None)
}
