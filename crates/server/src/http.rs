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

use opentrail_core::AppState;

use crate::dispatch;
use crate::services::Services;

/// What every route shares: the state and the services.
#[derive(Clone)]
struct Server {
    state: Arc<AppState>,
    services: Arc<Services>,
}

/// The largest request body accepted (S3 single PUT objects included).
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// Builds the router.
pub fn router(state: Arc<AppState>, services: Arc<Services>) -> Router {
    let dev = state.config.dev;
    let sns_public = Router::new()
        .route(
            "/_opentrail/sns/{*rest}",
            get(opentrail_messaging::sns::public),
        )
        .with_state(state.clone());
    let mut router = Router::new().route("/_opentrail/health", get(health));
    if dev {
        router = router.route("/_opentrail/reset", post(reset));
    }
    router
        .fallback(aws)
        .with_state(Server { state, services })
        .merge(sns_public)
}

/// 200 `{"status":"ok"}` while calls are admitted; 503 with the reason while they are refused
/// (the journal cannot take writes; see `intents`).
async fn health(State(server): State<Server>) -> Response {
    let json = [(http::header::CONTENT_TYPE, "application/json")];
    match crate::intents::admission(&server.state) {
        Ok(()) => (json, "{\"status\":\"ok\"}").into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json,
            serde_json::json!({"status": "unavailable", "reason": reason}).to_string(),
        )
            .into_response(),
    }
}

async fn reset(State(server): State<Server>) -> Response {
    let result = tokio::task::spawn_blocking(move || {
        server.state.reset_shared()?;
        for service in server.services.iter() {
            service.reset(&server.state);
        }
        Ok::<(), opentrail_core::ServerError>(())
    })
    .await;
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
    State(server): State<Server>,
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
    let response = dispatch::handle(&server.state, &server.services, peer, parts, body).await;
    let (parts, bytes) = response.into_parts();
    Response::from_parts(parts, Body::from(bytes))
}
