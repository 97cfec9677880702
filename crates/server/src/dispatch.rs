//! One request, start to end: authenticate with SigV4, pick the service, call it, record the
//! call in the journal, answer.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http::request::Parts;
use opentrail_api::{ApiError, AuthError, Protocol, Route};
use opentrail_model::Identity;

use opentrail_core::AppState;
use opentrail_core::context::{EventDetails, RequestContext};
use opentrail_core::render::{error_response, unknown_service};
use opentrail_core::service::Call;

use crate::recorder;
use crate::services::Services;

/// Handles one AWS API request.
pub async fn handle(
    state: &Arc<AppState>,
    services: &Services,
    peer: SocketAddr,
    parts: Parts,
    body: Bytes,
) -> Response<Bytes> {
    let request_id = opentrail_model::ids::new_request_id();
    let route = opentrail_api::route(&parts, &body);
    let now = time::OffsetDateTime::now_utc();
    let verified = match opentrail_api::verify(&parts, &body, &state.credentials, now) {
        Ok(verified) => verified,
        Err(err) => return auth_error_response(&route, &parts, &err, &request_id),
    };
    let Some(key) = state.credentials.find(&verified.access_key_id) else {
        let err = AuthError::UnknownAccessKey(verified.access_key_id.clone());
        return auth_error_response(&route, &parts, &err, &request_id);
    };
    let ctx = RequestContext {
        request_id: request_id.clone(),
        account_id: key.account_id.clone(),
        region: verified.region.clone(),
        identity: Identity::root(&key.account_id, &key.access_key_id),
        source_ip: peer.ip().to_string(),
        user_agent: header(&parts, "user-agent"),
        time: now,
        host: header(&parts, "host"),
    };
    let Some(service) = services.find(&route.service) else {
        return unknown_service(&route, &ctx.request_id, &services.names());
    };
    let call = Call {
        state,
        ctx: &ctx,
        route: &route,
        verified: &verified,
        parts,
        body,
    };
    let (response, details) = service.call(call).await;
    let Some(details) = details else {
        return response;
    };
    match record(state, &ctx, details).await {
        Ok(()) => response,
        Err(err) => {
            tracing::error!(error = %err, request_id, "recording the call failed");
            error_response(&route, &ApiError::internal(), &request_id, "")
        }
    }
}

async fn record(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    details: EventDetails,
) -> Result<(), opentrail_journal::JournalError> {
    let record = recorder::build_record(ctx, details);
    let payload = match recorder::serialize_record(&record) {
        Ok(payload) => payload,
        Err(err) => {
            tracing::error!(error = %err, "record does not serialize");
            return Ok(());
        }
    };
    state.journal.append(payload).await.map(|_| ())
}

fn header(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn auth_error_response(
    route: &Route,
    parts: &Parts,
    err: &AuthError,
    request_id: &str,
) -> Response<Bytes> {
    let api_error = match route.protocol {
        Protocol::RestXml => err.to_s3_error(),
        Protocol::AwsQuery => err.to_query_error(),
        _ => err.to_json_error(),
    };
    error_response(route, &api_error, request_id, parts.uri.path())
}
