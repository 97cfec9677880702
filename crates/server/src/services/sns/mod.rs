//! SNS (`sns.amazonaws.com`, awsQuery): topics, subscriptions and delivery.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http::request::Parts;
use opentrail_api::{ApiError, Route};

use crate::AppState;
use crate::context::{EventDetails, RequestContext};
use crate::dispatch::error_response;

pub const EVENT_SOURCE: &str = "sns.amazonaws.com";

/// Handles one SNS request.
pub async fn handle(
    _state: &Arc<AppState>,
    ctx: &RequestContext,
    route: &Route,
    _parts: Parts,
    _body: Bytes,
) -> (Response<Bytes>, Option<EventDetails>) {
    let operation = route.operation.clone().unwrap_or_default();
    let err = ApiError::client(
        "InvalidAction",
        format!("SNS operation {operation:?} is not supported by this server yet"),
    );
    (error_response(route, &err, &ctx.request_id, ""), None)
}
