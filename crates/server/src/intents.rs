//! Fail closed: no call takes effect unless its record can follow, and no effect is left
//! without a record, across a full disk or a crash.
//!
//! The mechanism, in [`crate::dispatch`]:
//!
//! 1. **Admission.** Before a call reaches its service, [`admission`] asks the journal and the
//!    intent log whether they can take writes now (no failed write waiting for repair, and the
//!    journal's reserve of preallocated space in place, so the record of an admitted call
//!    writes into blocks that already exist), and whether any earlier record still waits to be
//!    written. If not, the call is refused with `ServiceUnavailable` (503) and nothing happens;
//!    `/_opentrail/health` says why. The journal repairs itself once space returns, and calls
//!    are admitted again with no restart.
//! 2. **Intent.** A call that may change state durably logs an *intent* first (its eventID
//!    and what the record of an unanswered call needs: who, where, when, service, operation,
//!    the request's path, query and body up to [`BODY_LIMIT`]). Only then does the service
//!    act.
//! 3. **Record.** The call's record is appended to the journal (its eventID chosen in step 2),
//!    and the intent is finished (in memory). If the append fails, the record is kept
//!    ([`Unrecorded`]), the client gets `ServiceUnavailable`, admission refuses every call
//!    until the `recorder` worker has appended it, and only then is the intent finished.
//! 4. **Recovery.** On start, every intent the log cannot prove finished is looked up in the
//!    journal by its eventID; an intent without its record gets one, built from the intent,
//!    with `errorCode` `InternalFailure` and a message that says the server stopped before
//!    answering and the effect may or may not have taken place (the client never got an
//!    answer, and the record does not claim success).
//!
//! So a state change and its record become durable together: a crash leaves either both, or
//! an intent that recovery turns into a record. Reads log no intent (they change nothing), and
//! neither does the ingest API, whose effect is the journal append itself.

use std::sync::Arc;
use std::time::Duration;

use opentrail_api::{EmbeddedModel, Route};
use opentrail_core::AppState;
use opentrail_core::context::{EventDetails, RequestContext};
use opentrail_core::recording::Unrecorded;
use opentrail_journal::{IntentId, PendingIntent};
use opentrail_model::{Record, UserIdentity};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::recorder;

/// The most request-body bytes an intent keeps (for the record of an unanswered call).
pub const BODY_LIMIT: usize = 16 * 1024;
/// The intent format version.
const INTENT_VERSION: u32 = 1;
/// How often the `recorder` worker retries waiting records and moves the intent checkpoint.
const TICK: Duration = Duration::from_millis(250);

/// Whether calls can be admitted now; `Err` says why not.
pub fn admission(state: &AppState) -> Result<(), String> {
    state.recording.admission(&state.journal)
}

/// What an intent keeps of a call: enough to write the record of a call never answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    pub v: u32,
    pub event_id: String,
    pub request_id: String,
    /// Milliseconds since the epoch.
    pub time_ms: i64,
    pub account_id: String,
    pub region: String,
    pub user_identity: UserIdentity,
    pub source_ip: String,
    pub user_agent: Option<String>,
    /// The SigV4 signing name.
    pub service: String,
    pub operation: Option<String>,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The body when it is UTF-8 and at most [`BODY_LIMIT`] bytes.
    pub body: Option<String>,
}

/// Whether a call may change state, judged before it runs: everything but the reads (S3 `GET`
/// and `HEAD`; `Get*`, `List*`, `Describe*`, `Lookup*`, `Filter*`, `Test*` operations and
/// `ReceiveMessage`, which CloudTrail records as read-only) and the ingest API.
pub fn needs_intent(route: &Route, method: &http::Method) -> bool {
    if route.service == "cloudtrail-data" {
        return false;
    }
    match route.operation.as_deref() {
        Some(operation) => {
            let read = ["Get", "List", "Describe", "Lookup", "Filter", "Test"]
                .iter()
                .any(|prefix| operation.starts_with(prefix))
                || operation == "ReceiveMessage";
            !read
        }
        None => !matches!(*method, http::Method::GET | http::Method::HEAD),
    }
}

/// The intent of a call about to run.
pub fn intent_of(
    ctx: &RequestContext,
    route: &Route,
    parts: &http::request::Parts,
    body: &[u8],
) -> Intent {
    let body = (body.len() <= BODY_LIMIT)
        .then(|| std::str::from_utf8(body).ok().map(str::to_owned))
        .flatten()
        .filter(|text| !text.is_empty());
    Intent {
        v: INTENT_VERSION,
        event_id: ctx.event_id.clone(),
        request_id: ctx.request_id.clone(),
        time_ms: (ctx.time.unix_timestamp_nanos() / 1_000_000) as i64,
        account_id: ctx.account_id.clone(),
        region: ctx.region.clone(),
        user_identity: ctx.identity.user_identity(),
        source_ip: ctx.source_ip.clone(),
        user_agent: ctx.user_agent.clone(),
        service: route.service.clone(),
        operation: route.operation.clone(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        body,
    }
}

/// The record of a call whose intent was logged but that was never answered.
pub fn unanswered_record(intent: &Intent) -> Record {
    let event_source = format!("{}.amazonaws.com", intent.service);
    let event_name = intent
        .operation
        .clone()
        .unwrap_or_else(|| rest_event_name(&intent.method, &intent.path));
    let mut details = EventDetails::new(&event_source, &event_name, false);
    details.request_parameters = Some(request_parameters(intent, &event_name));
    details.response_elements = Some(Value::Null);
    details.error = Some((
        "InternalFailure".to_owned(),
        "the server stopped before answering this call; its effect may or may not have taken place"
            .to_owned(),
    ));
    details.additional_event_data = Some(json!({"opentrailOutcome": "unknown"}));
    let time =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(intent.time_ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut record = recorder::build_record(
        &RequestContext {
            request_id: intent.request_id.clone(),
            event_id: intent.event_id.clone(),
            account_id: intent.account_id.clone(),
            region: intent.region.clone(),
            identity: opentrail_model::Identity::root(&intent.account_id, ""),
            source_ip: intent.source_ip.clone(),
            user_agent: intent.user_agent.clone(),
            time,
            host: None,
        },
        details,
    );
    record.user_identity = Some(intent.user_identity.clone());
    record
}

/// An S3 operation's name from its method and path (`PUT /bucket` is `CreateBucket`, …).
fn rest_event_name(method: &str, path: &str) -> String {
    let has_key = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    let name = match (method, has_key) {
        ("PUT", false) => "CreateBucket",
        ("DELETE", false) => "DeleteBucket",
        ("PUT", true) => "PutObject",
        ("DELETE", true) => "DeleteObject",
        ("POST", true) => "PostObject",
        ("POST", false) => "PostBucket",
        _ => "UnknownOperation",
    };
    name.to_owned()
}

/// The parameters the intent can tell: a JSON body shaped by the service's model, query
/// parameters, or an S3 path's bucket and key.
fn request_parameters(intent: &Intent, operation: &str) -> Value {
    if let Some(body) = &intent.body
        && let Ok(input @ Value::Object(_)) = serde_json::from_str::<Value>(body)
    {
        return match EmbeddedModel::from_signing_name(&intent.service) {
            Some(model) => opentrail_core::context::request_parameters(model, operation, &input),
            None => input,
        };
    }
    let mut out = Map::new();
    for text in [intent.query.as_deref(), intent.body.as_deref()]
        .into_iter()
        .flatten()
    {
        for (key, value) in opentrail_api::parse_query_params(text.as_bytes()) {
            if matches!(
                key.as_str(),
                "Action" | "Version" | "MessageBody" | "Message"
            ) {
                continue;
            }
            out.insert(opentrail_api::lower_first(&key), Value::String(value));
        }
    }
    if intent.operation.is_none() {
        let mut path = intent.path.trim_start_matches('/').splitn(2, '/');
        if let Some(bucket) = path.next().filter(|bucket| !bucket.is_empty()) {
            out.insert("bucketName".into(), json!(bucket));
        }
        if let Some(key) = path.next().filter(|key| !key.is_empty()) {
            out.insert("key".into(), json!(key));
        }
    }
    if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    }
}

/// Writes the records of intents left by a crash (see the module docs), then finishes them.
/// Blocking; called once at start, before requests are served.
pub fn recover(state: &AppState, candidates: Vec<PendingIntent>) -> Result<usize, String> {
    let Some(from) = candidates.iter().map(|intent| intent.after_seq).min() else {
        return Ok(0);
    };
    let mut wanted: std::collections::HashMap<String, Intent> = candidates
        .iter()
        .filter_map(|pending| serde_json::from_slice::<Intent>(&pending.payload).ok())
        .map(|intent| (intent.event_id.clone(), intent))
        .collect();
    let mut after = from;
    loop {
        let entries = state
            .journal
            .read_from(after, 4096)
            .map_err(|err| format!("reading the journal for intent recovery: {err}"))?;
        let Some(last) = entries.last() else { break };
        after = last.seq;
        for entry in &entries {
            if let Some(event_id) = event_id_of(&entry.payload) {
                wanted.remove(event_id);
            }
        }
    }
    let mut written = 0;
    for intent in wanted.values() {
        let record = unanswered_record(intent);
        let payload = recorder::serialize_record(&record)
            .map_err(|err| format!("serializing a recovered record: {err}"))?;
        state
            .journal
            .append_blocking(payload)
            .map_err(|err| format!("appending a recovered record: {err}"))?;
        written += 1;
    }
    for pending in &candidates {
        state.recording.intents.finish(pending.id);
    }
    if written > 0 {
        tracing::warn!(
            records = written,
            "wrote the records of calls a crash left unanswered"
        );
    }
    Ok(written)
}

/// The `eventID` of a record payload, found without parsing the whole record.
fn event_id_of(payload: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"eventID\":\"";
    let start = memchr::memmem::find(payload, KEY)? + KEY.len();
    let len = memchr::memchr(b'"', &payload[start..])?;
    std::str::from_utf8(&payload[start..start + len]).ok()
}

/// The `recorder` worker: appends records that waited for the journal, then finishes their
/// intents; moves the intent checkpoint.
pub async fn run(state: Arc<AppState>) {
    let mut shutdown = state.shutdown.subscribe();
    let mut written = 0u64;
    loop {
        let waiting = state.recording.take_unrecorded();
        let mut last_error = None;
        if !waiting.is_empty() {
            let mut left = Vec::new();
            for unrecorded in waiting {
                if !left.is_empty() {
                    left.push(unrecorded);
                    continue;
                }
                match state.journal.append(unrecorded.payload.clone()).await {
                    Ok(_) => {
                        if let Some(intent) = unrecorded.intent {
                            state.recording.intents.finish(intent);
                        }
                        written += 1;
                    }
                    Err(err) => {
                        last_error = Some(err.to_string());
                        left.push(unrecorded);
                    }
                }
            }
            state.recording.put_back(left);
        }
        let checkpoint_state = state.clone();
        let checkpoint = tokio::task::spawn_blocking(move || {
            checkpoint_state.recording.intents.checkpoint().map(|_| ())
        })
        .await;
        if let Ok(Err(err)) = checkpoint {
            last_error = Some(format!("intent checkpoint: {err}"));
        }
        let status = if last_error.is_some() {
            "waiting"
        } else {
            "idle"
        };
        state
            .workers
            .report("recorder", status, written, last_error);
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
}

/// Keeps the record of a call the journal did not take, for the `recorder` worker ([`run`]).
/// When the record does not serialize, a call that logged an intent (and so may have taken
/// effect) is recorded by its intent's record instead, which does not claim success; a read
/// with no intent changed nothing and needs none.
pub fn keep_for_recorder(state: &AppState, record: &Record, intent: Option<&(IntentId, Intent)>) {
    let payload = match (recorder::serialize_record(record), intent) {
        (Ok(payload), _) => payload,
        (Err(_), Some((_, intent))) => {
            let unanswered = unanswered_record(&Intent {
                operation: record.event_name.clone(),
                ..intent.clone()
            });
            match recorder::serialize_record(&unanswered) {
                Ok(payload) => payload,
                Err(err) => {
                    tracing::error!(error = %err, "the intent's record does not serialize either");
                    return;
                }
            }
        }
        (Err(_), None) => return,
    };
    state.recording.keep(Unrecorded {
        payload,
        intent: intent.map(|(id, _)| *id),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(
        service: &str,
        operation: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Intent {
        Intent {
            v: 1,
            event_id: "ev".into(),
            request_id: "rq".into(),
            time_ms: 1_700_000_000_000,
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            user_identity: opentrail_model::Identity::root("123456789012", "AKID").user_identity(),
            source_ip: "127.0.0.1".into(),
            user_agent: Some("ua".into()),
            service: service.into(),
            operation: operation.map(str::to_owned),
            method: method.into(),
            path: path.into(),
            query: None,
            body: body.map(str::to_owned),
        }
    }

    #[test]
    fn an_unanswered_call_is_recorded_as_a_failure_with_what_it_asked() {
        let record = unanswered_record(&intent(
            "logs",
            Some("CreateLogGroup"),
            "POST",
            "/",
            Some(r#"{"logGroupName":"g","tags":{"StratusRedTeam":"true"}}"#),
        ));
        assert_eq!(record.event_id, "ev");
        assert_eq!(record.event_source.as_deref(), Some("logs.amazonaws.com"));
        assert_eq!(record.event_name.as_deref(), Some("CreateLogGroup"));
        assert_eq!(record.error_code.as_deref(), Some("InternalFailure"));
        assert_eq!(
            record.request_parameters,
            Some(json!({"logGroupName": "g", "tags": {"StratusRedTeam": "true"}}))
        );
        assert_eq!(record.event_time, "2023-11-14T22:13:20Z");
        assert_eq!(record.aws_region, "eu-west-1");
    }

    #[test]
    fn query_and_rest_calls_keep_their_names() {
        let mut sqs = intent(
            "sqs",
            Some("CreateQueue"),
            "POST",
            "/",
            Some("Action=CreateQueue&QueueName=q1"),
        );
        sqs.query = None;
        let record = unanswered_record(&sqs);
        assert_eq!(record.request_parameters, Some(json!({"queueName": "q1"})));
        let s3 = unanswered_record(&intent("s3", None, "PUT", "/bucket-1", None));
        assert_eq!(s3.event_name.as_deref(), Some("CreateBucket"));
        assert_eq!(
            s3.request_parameters,
            Some(json!({"bucketName": "bucket-1"}))
        );
    }

    #[test]
    fn reads_and_ingest_need_no_intent() {
        let route = |service: &str, operation: Option<&str>| Route {
            service: service.into(),
            protocol: opentrail_api::Protocol::AwsJson11,
            operation: operation.map(str::to_owned),
        };
        assert!(!needs_intent(
            &route("cloudtrail", Some("LookupEvents")),
            &http::Method::POST
        ));
        assert!(!needs_intent(
            &route("sqs", Some("ReceiveMessage")),
            &http::Method::POST
        ));
        assert!(!needs_intent(
            &route("cloudtrail-data", Some("PutAuditEvents")),
            &http::Method::POST
        ));
        assert!(needs_intent(
            &route("logs", Some("CreateLogGroup")),
            &http::Method::POST
        ));
        assert!(!needs_intent(&route("s3", None), &http::Method::GET));
        assert!(needs_intent(&route("s3", None), &http::Method::PUT));
    }

    #[test]
    fn event_ids_are_found_in_payloads() {
        assert_eq!(
            event_id_of(br#"{"eventVersion":"1.11","eventID":"abc-1","x":1}"#),
            Some("abc-1")
        );
        assert_eq!(event_id_of(b"{}"), None);
    }
}
