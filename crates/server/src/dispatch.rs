//! One request, start to end: authenticate with SigV4, pick the service, call it, record the
//! call in the journal, answer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::Response;
use http::request::Parts;
use opentrail_api::{ApiError, AuthError, Protocol, Route, Verified};
use subtle::ConstantTimeEq;

use opentrail_core::AppState;
use opentrail_core::access::KeyEntry;
use opentrail_core::context::RequestContext;
use opentrail_core::render::{error_response, unknown_service};
use opentrail_core::service::Call;

use crate::intents;
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
    let (verified, key) = match authenticate(state, &parts, &body, now) {
        Ok(authenticated) => authenticated,
        Err(err) => return auth_error_response(&route, &parts, &err, &request_id),
    };
    // GetSessionToken credentials call no IAM operation unless the session was MFA-authenticated;
    // IAM answers as for an unknown token.
    if route.service == "iam"
        && opentrail_core::access::is_get_session_token_session(&key.identity)
        && !key
            .identity
            .session
            .as_ref()
            .is_some_and(|session| session.mfa_authenticated)
    {
        return auth_error_response(&route, &parts, &AuthError::InvalidToken, &request_id);
    }
    state.access.note_used(
        state,
        &verified.access_key_id,
        &verified.service,
        &verified.region,
        now,
    );
    let ctx = RequestContext {
        request_id: request_id.clone(),
        event_id: opentrail_model::ids::new_event_id(),
        account_id: key.account_id,
        region: verified.region.clone(),
        identity: key.identity,
        source_ip: peer.ip().to_string(),
        user_agent: header(&parts, "user-agent"),
        time: now,
        host: header(&parts, "host"),
    };
    let Some(service) = services.find(&route.service) else {
        return unknown_service(&route, &ctx.request_id, &services.names());
    };
    // Fail closed: nothing takes effect unless its record can follow (see `intents`).
    if let Err(reason) = intents::admission(state) {
        return unavailable(&route, &request_id, &reason);
    }
    let intent = if intents::needs_intent(&route, &parts.method) {
        let intent = intents::intent_of(&ctx, &route, &parts, &body);
        let payload = match serde_json::to_vec(&intent) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::error!(error = %err, request_id, "the intent does not serialize");
                return error_response(&route, &ApiError::internal(), &request_id, "");
            }
        };
        let after = state.journal.last_seq();
        match state.recording.intents.begin(after, payload).await {
            Ok(id) => Some((id, intent)),
            Err(err) => {
                let reason = format!("the intent log cannot take writes: {err}");
                return unavailable(&route, &request_id, &reason);
            }
        }
    } else {
        None
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
    let finish = |state: &AppState| {
        if let Some((id, _)) = &intent {
            state.recording.intents.finish(*id);
        }
    };
    let Some(details) = details else {
        finish(state);
        return response;
    };
    // A call on another account's resource has a copy for that account: the records are
    // appended in one batch, durable together.
    let records = recorder::build_records(&ctx, details);
    let payloads = match records
        .iter()
        .map(recorder::serialize_record)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(payloads) => payloads,
        Err(err) => {
            tracing::error!(error = %err, request_id, "the record does not serialize");
            keep_for_recorder(services, state, &records, intent.as_ref());
            return error_response(&route, &ApiError::internal(), &request_id, "");
        }
    };
    let appended = match <[Vec<u8>; 1]>::try_from(payloads) {
        Ok([payload]) => state.journal.append(payload).await,
        Err(payloads) => state.journal.append_batch(payloads).await,
    };
    match appended {
        Ok(_) => {
            finish(state);
            response
        }
        Err(err) => {
            tracing::error!(error = %err, request_id, "recording the call failed; its record waits for the journal");
            keep_for_recorder(services, state, &records, intent.as_ref());
            let reason = format!(
                "the call took effect but the journal did not take its record ({err}); the record is written once the journal recovers"
            );
            unavailable(&route, &request_id, &reason)
        }
    }
}

/// Keeps the records of a call the journal did not take for the `recorder` worker: the copies
/// for other accounts first, then the caller's record with the call's intent. The worker
/// appends them in order and finishes the intent with the caller's record, so the intent
/// stays open until every copy is in the journal.
fn keep_for_recorder(
    services: &Services,
    state: &Arc<AppState>,
    records: &[opentrail_model::Record],
    intent: Option<&(opentrail_journal::IntentId, intents::Intent)>,
) {
    let Some((record, copies)) = records.split_first() else {
        return;
    };
    for copy in copies {
        intents::keep_for_recorder(services, state, copy, None);
    }
    intents::keep_for_recorder(services, state, record, intent);
}

/// Who signed the request: its signature checked against the key's secret (a root key or one
/// the identity service keeps), the key active, and temporary credentials sent with their
/// session token before their expiration.
fn authenticate(
    state: &AppState,
    parts: &Parts,
    body: &Bytes,
    now: time::OffsetDateTime,
) -> Result<(Verified, KeyEntry), AuthError> {
    // The key verification looks up is kept, so it is resolved once per request.
    let found: Mutex<Option<(String, KeyEntry)>> = Mutex::new(None);
    let lookup = |access_key_id: &str| {
        let key = state
            .access
            .resolve(state, &state.credentials, access_key_id)
            .filter(|key| key.active)?;
        let secret = key.secret_access_key.clone();
        *found.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((access_key_id.to_owned(), key));
        Some(secret)
    };
    let verified = opentrail_api::verify(parts, body, &lookup, now)?;
    let key = found
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .filter(|(id, _)| *id == verified.access_key_id)
        .map(|(_, key)| key)
        .ok_or_else(|| AuthError::UnknownAccessKey(verified.access_key_id.clone()))?;
    let sent = security_token(parts);
    match (&key.session_token, sent.as_deref()) {
        (None, None) => {}
        (Some(expected), Some(sent)) if bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) => {}
        _ => return Err(AuthError::InvalidToken),
    }
    if key.expires.is_some_and(|expires| expires <= now) {
        return Err(AuthError::ExpiredToken);
    }
    Ok((verified, key))
}

/// The session token of temporary credentials: the `X-Amz-Security-Token` header, or the query
/// parameter of a presigned URL.
fn security_token(parts: &Parts) -> Option<String> {
    if let Some(token) = header(parts, "x-amz-security-token") {
        return Some(token);
    }
    let query = parts.uri.query()?;
    opentrail_api::parse_query_params(query.as_bytes())
        .into_iter()
        .find(|(name, _)| name == "X-Amz-Security-Token")
        .map(|(_, value)| value)
}

/// `ServiceUnavailable` (503): the call was refused before it took effect, or its record
/// waits for the journal.
fn unavailable(route: &Route, request_id: &str, reason: &str) -> Response<Bytes> {
    let err = ApiError::new(
        "ServiceUnavailable",
        http::StatusCode::SERVICE_UNAVAILABLE,
        reason.to_owned(),
    );
    error_response(route, &err, request_id, "")
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
