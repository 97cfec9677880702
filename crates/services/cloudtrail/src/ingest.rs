//! The ingest API (`cloudtrail-data`, restJson): batches of full CloudTrail records from
//! outside — `opentrail import` and users' own services.
//!
//! The wire shape is botocore's `cloudtrail-data` `PutAuditEvents`, so boto3's client works
//! with an endpoint URL: `POST /PutAuditEvents?channelArn=…&externalId=…` with
//! `{"auditEvents":[{"id","eventData","eventDataChecksum"}]}`, answered with
//! `{"successful":[{"id","eventID"}],"failed":[{"id","errorCode","errorMessage"}]}`. Unlike
//! CloudTrail Lake, `eventData` is a full CloudTrail record (one record of a trail log file),
//! and the record keeps its own `eventID`, `eventTime`, account and region.
//!
//! Rules, in order:
//! - only `POST /PutAuditEvents` exists; another method on that path is a 405
//!   `MethodNotAllowedException`, another path a 404 `UnknownOperationException`;
//! - `channelArn` is accepted whatever it is, or absent (opentrail has no channels; the
//!   records themselves say where they belong); `externalId`, when given, must be 2 to 1224
//!   characters of `[\w+=,.@:/-]`;
//! - whole-request errors (`ValidationException`, `SerializationException`,
//!   `DuplicatedAuditEventId`): a body that is not the request shape, 0 or more than 100
//!   events, more than 1 MiB of `eventData` in total, an `id` that is not 1 to 128 characters
//!   of `[-_A-Za-z0-9]`, or two events with the same `id`;
//! - each record is checked on its own (see `validate`); a bad one is answered in `failed`
//!   with `InvalidData`, `FieldNotFound`, `FieldTooLong`, `InvalidChecksum` or
//!   `InvalidRecipient`, and the others still go in.
//!
//! Records are idempotent by `eventID`: a record whose `eventID` the event history already
//! holds, or that came earlier in the same request, is answered as successful but not appended
//! again. The history only holds management and Insights events, so a data event sent twice is
//! appended twice; the history skips data events, and every other consumer removes duplicates
//! by `eventID`. The check does not wait for the history to catch up with the journal, so two
//! requests racing with the same record may both append it; the history drops the second copy.
//!
//! Accepted records are appended to the journal in one batch, compact JSON marked as ingested
//! ([`opentrail_model::origin::mark_ingested`]: trail delivery skips them), and the answer is
//! sent only after the append returned, when they are durable. A failed append fails the whole
//! request with a 500 `InternalFailure`; nothing of it is acknowledged.
//!
//! The ingest call itself is not recorded as a CloudTrail record: [`handle`] returns `None`
//! details, so importing a million records does not add a million `PutAuditEvents` records.
//!
//! # Layout
//! - `validate` — the checks of one record and their error codes.

mod validate;

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Response, StatusCode};
use opentrail_api::{ApiError, Route};
use opentrail_history::{History, LookupAttributeKey, LookupQuery};
use opentrail_model::EventCategory;
use serde_json::{Value, json};

use opentrail_core::AppState;
use opentrail_core::access::AuthzRequest;
use opentrail_core::context::{EventDetails, RequestContext};
use opentrail_core::render::error_response;

pub use validate::{MAX_EVENT_DATA_BYTES, RecordError, ValidRecord};

/// The most events one request may carry.
pub const MAX_EVENTS: usize = 100;
/// The most `eventData` bytes one request may carry in total.
pub const MAX_REQUEST_EVENT_DATA_BYTES: usize = 1024 * 1024;
const OPERATION_PATH: &str = "/PutAuditEvents";
const ID_MAX: usize = 128;
const EXTERNAL_ID_MIN: usize = 2;
const EXTERNAL_ID_MAX: usize = 1224;

/// Answers one request.
pub async fn handle(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    route: &Route,
    parts: Parts,
    body: Bytes,
) -> (Response<Bytes>, Option<EventDetails>) {
    let channel = opentrail_api::parse_query_params(parts.uri.query().unwrap_or("").as_bytes())
        .into_iter()
        .find(|(name, _)| name == "channelArn")
        .map_or_else(|| "*".to_owned(), |(_, arn)| arn);
    let authz = AuthzRequest::new("cloudtrail-data:PutAuditEvents", vec![channel]);
    if let Err(denial) = state.access.authorize(state, ctx, &authz) {
        let err = ApiError::new(
            "AccessDeniedException",
            StatusCode::FORBIDDEN,
            denial.message,
        );
        return (error_response(route, &err, &ctx.request_id, ""), None);
    }
    let response = match put_audit_events(state, &parts, &body).await {
        Ok(output) => {
            opentrail_api::json_response(StatusCode::OK, &output, &ctx.request_id, route.protocol)
        }
        Err(err) => error_response(route, &err, &ctx.request_id, ""),
    };
    (response, None)
}

/// One event of the request, its envelope checked.
struct AuditEvent<'a> {
    id: &'a str,
    event_data: &'a str,
    checksum: Option<&'a str>,
}

async fn put_audit_events(
    state: &Arc<AppState>,
    parts: &Parts,
    body: &[u8],
) -> Result<Value, ApiError> {
    check_route(parts)?;
    check_query(parts.uri.query().unwrap_or(""))?;
    let input = opentrail_api::parse_json_body(body)?;
    let events = audit_events(&input)?;

    let mut successful = Vec::new();
    let mut failed = Vec::new();
    let mut accepted: Vec<(&str, ValidRecord)> = Vec::new();
    for event in &events {
        match validate::validate(event.event_data, event.checksum) {
            Ok(record) => accepted.push((event.id, record)),
            Err(err) => failed.push(json!({
                "id": event.id,
                "errorCode": err.code(),
                "errorMessage": err.to_string(),
            })),
        }
    }

    let (fresh, known) = split_known(state.history.clone(), accepted).await?;
    if !fresh.is_empty() {
        let payloads = fresh
            .iter()
            .map(|(_, record)| opentrail_model::origin::mark_ingested(&record.json))
            .collect();
        if let Err(err) = state.journal.append_batch(payloads).await {
            tracing::error!(error = %err, "appending ingested records failed");
            return Err(ApiError::internal());
        }
    }
    for (id, record) in fresh.iter().chain(known.iter()) {
        successful.push(json!({ "id": id, "eventID": record.event_id }));
    }
    Ok(json!({ "successful": successful, "failed": failed }))
}

fn check_route(parts: &Parts) -> Result<(), ApiError> {
    let path = parts.uri.path();
    if path.trim_end_matches('/') != OPERATION_PATH {
        return Err(ApiError::new(
            "UnknownOperationException",
            StatusCode::NOT_FOUND,
            format!(
                "no cloudtrail-data operation at {} {path}; the only operation is POST {OPERATION_PATH}",
                parts.method
            ),
        ));
    }
    if parts.method != Method::POST {
        return Err(ApiError::new(
            "MethodNotAllowedException",
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "PutAuditEvents takes POST, not {}: send the events in a POST body",
                parts.method
            ),
        ));
    }
    Ok(())
}

/// Checks the query string: any `channelArn` (or none), a well-formed `externalId`.
fn check_query(query: &str) -> Result<(), ApiError> {
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|err| ApiError::validation(format!("query string does not decode: {err}")))?;
    for (key, value) in params {
        if key != "externalId" {
            continue;
        }
        let length = value.chars().count();
        let allowed = |c: char| c.is_alphanumeric() || c == '_' || "+=,.@:/-".contains(c);
        if !(EXTERNAL_ID_MIN..=EXTERNAL_ID_MAX).contains(&length) || !value.chars().all(allowed) {
            return Err(ApiError::validation(format!(
                "externalId must be {EXTERNAL_ID_MIN} to {EXTERNAL_ID_MAX} characters of letters, digits and _+=,.@:/-, got {value:?}"
            )));
        }
    }
    Ok(())
}

/// The `auditEvents` of a request, checked as a whole.
fn audit_events(input: &Value) -> Result<Vec<AuditEvent<'_>>, ApiError> {
    let items = match input.get("auditEvents") {
        None | Some(Value::Null) => {
            return Err(ApiError::validation(
                "auditEvents is required: a list of 1 to 100 events",
            ));
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApiError::serialization(format!(
                "auditEvents must be a list, got {}",
                opentrail_api::json::json_kind(other)
            )));
        }
    };
    if items.is_empty() || items.len() > MAX_EVENTS {
        return Err(ApiError::validation(format!(
            "auditEvents must hold 1 to {MAX_EVENTS} events, got {}",
            items.len()
        )));
    }
    let mut events = Vec::with_capacity(items.len());
    let mut ids = HashSet::with_capacity(items.len());
    let mut total_bytes = 0usize;
    for (index, item) in items.iter().enumerate() {
        let Value::Object(member) = item else {
            return Err(ApiError::serialization(format!(
                "auditEvents[{index}] must be an object, got {}",
                opentrail_api::json::json_kind(item)
            )));
        };
        let id = string_member(member, index, "id", true)?.unwrap_or_default();
        let event_data = string_member(member, index, "eventData", true)?.unwrap_or_default();
        let checksum = string_member(member, index, "eventDataChecksum", false)?;
        let id_ok = (1..=ID_MAX).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(ApiError::validation(format!(
                "auditEvents[{index}].id must be 1 to {ID_MAX} characters of letters, digits, - and _, got {id:?}"
            )));
        }
        if !ids.insert(id) {
            return Err(ApiError::client(
                "DuplicatedAuditEventId",
                format!("two or more events in the request have the id {id:?}"),
            ));
        }
        total_bytes = total_bytes.saturating_add(event_data.len());
        events.push(AuditEvent {
            id,
            event_data,
            checksum,
        });
    }
    if total_bytes > MAX_REQUEST_EVENT_DATA_BYTES {
        return Err(ApiError::validation(format!(
            "the events of one request may hold at most {MAX_REQUEST_EVENT_DATA_BYTES} bytes of eventData, got {total_bytes}"
        )));
    }
    Ok(events)
}

/// A string member of `auditEvents[index]`.
fn string_member<'v>(
    member: &'v serde_json::Map<String, Value>,
    index: usize,
    name: &str,
    required: bool,
) -> Result<Option<&'v str>, ApiError> {
    match member.get(name) {
        None | Some(Value::Null) if required => Err(ApiError::validation(format!(
            "auditEvents[{index}].{name} is required"
        ))),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(other) => Err(ApiError::serialization(format!(
            "auditEvents[{index}].{name} must be a string, got {}",
            opentrail_api::json::json_kind(other)
        ))),
    }
}

type Accepted<'a> = Vec<(&'a str, ValidRecord)>;

/// Splits valid records into the ones to append and the ones already stored (in the event
/// history, or earlier in this request).
async fn split_known<'a>(
    history: Arc<History>,
    accepted: Accepted<'a>,
) -> Result<(Accepted<'a>, Accepted<'a>), ApiError> {
    if accepted.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // The lookups read the index from disk: keep them off the async workers.
    // Data and network-activity events are not in the history: nothing to ask.
    let probes: Vec<Option<LookupQuery>> = accepted
        .iter()
        .map(|(_, record)| {
            let insight = match record.category {
                EventCategory::Management => false,
                EventCategory::Insight => true,
                EventCategory::Data | EventCategory::NetworkActivity => return None,
            };
            Some(LookupQuery {
                account_id: record.account_id.clone(),
                region: record.region.clone(),
                attribute: Some((LookupAttributeKey::EventId, record.event_id.clone())),
                start_ms: Some(record.time_ms),
                end_ms: Some(record.time_ms),
                insight,
                max_results: 1,
                next_token: None,
            })
        })
        .collect();
    let stored = tokio::task::spawn_blocking(move || -> Result<Vec<bool>, String> {
        probes
            .into_iter()
            .map(|probe| match probe {
                None => Ok(false),
                Some(query) => history
                    .lookup(&query)
                    .map(|page| !page.events.is_empty())
                    .map_err(|err| err.to_string()),
            })
            .collect()
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "eventID lookup task failed");
        ApiError::internal()
    })?
    .map_err(|err| {
        tracing::error!(error = %err, "eventID lookup failed");
        ApiError::internal()
    })?;

    let mut seen = HashSet::new();
    let mut fresh = Vec::new();
    let mut known = Vec::new();
    for ((id, record), in_history) in accepted.into_iter().zip(stored) {
        if in_history || !seen.insert(record.event_id.clone()) {
            known.push((id, record));
        } else {
            fresh.push((id, record));
        }
    }
    Ok((fresh, known))
}
