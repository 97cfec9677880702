//! The HTTP surface: `GET /_opentrail/health`, `POST /_opentrail/reset` (development mode
//! only) and the catch-all AWS endpoint every service answers on.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{Request, StatusCode};

use crate::AppState;
use crate::dispatch;

/// The largest request body accepted (S3 single PUT objects included).
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// Builds the router.
pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route("/_opentrail/health", get(health))
        .route("/_opentrail/sns/{*rest}", get(crate::services::sns::public));
    if state.config.dev {
        router = router.route("/_opentrail/reset", post(reset));
    }
    router.fallback(aws).with_state(state)
}

async fn health() -> impl IntoResponse {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        "{\"status\":\"ok\"}",
    )
}

async fn reset(State(state): State<Arc<AppState>>) -> Response {
    let result = tokio::task::spawn_blocking(move || state.reset()).await;
    match result {
        Ok(Ok(())) => (StatusCode::OK, "{\"reset\":true}").into_response(),
        Ok(Err(err)) => {
            tracing::error!(error = %err, "reset failed");
            (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "reset task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn aws(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::debug!(error = %err, "request body rejected");
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {MAX_BODY_BYTES} bytes or unreadable"),
            )
                .into_response();
        }
    };
    let response = dispatch::handle(&state, peer, parts, body).await;
    let (parts, bytes) = response.into_parts();
    Response::from_parts(parts, Body::from(bytes))
}
