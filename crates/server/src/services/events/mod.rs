//! EventBridge (`events`, awsJson 1.1 `AWSEvents`): event buses, rules, targets, PutEvents.

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use opentrail_api::{ApiError, Route};

use crate::AppState;
use crate::context::{EventDetails, RequestContext};
use crate::dispatch::error_response;

/// Answers one request.
pub async fn handle(
    _state: &Arc<AppState>,
    ctx: &RequestContext,
    route: &Route,
    _parts: Parts,
    _body: Bytes,
) -> (Response<Bytes>, Option<EventDetails>) {
    let err = ApiError::new(
        "NotImplementedException",
        StatusCode::NOT_IMPLEMENTED,
        format!("service {:?} is not built yet", route.service),
    );
    (error_response(route, &err, &ctx.request_id, ""), None)
}

/// Starts this service's background workers (called once at server start).
pub fn spawn_workers(_state: &Arc<AppState>) {}

/// Wipes this service's state (the development reset). Call from `AppState::reset`.
pub fn reset(_state: &AppState) {}
