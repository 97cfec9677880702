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
//! 2. **Intent.** A call that may change state durably logs an *intent* first: its eventID,
//!    who, where, when, and the request (method, path and query, the headers services decode
//!    by, and for RPC protocols a body of up to [`BODY_LIMIT`]). Only then does the service
//!    act.
//! 3. **Record.** The call's record is appended to the journal (its eventID chosen in step 2),
//!    and the intent is finished (in memory). If the append fails, the record is kept
//!    ([`Unrecorded`]), the client gets `ServiceUnavailable`, admission refuses every call
//!    until the `recorder` worker has appended it, and only then is the intent finished.
//! 4. **Recovery.** On start, every intent the log cannot prove finished is looked up in the
//!    journal by its eventID; an intent without its record gets one: the service reads the
//!    kept request as it reads any ([`opentrail_core::Service::request_details`]: the same
//!    parameters, shaping and redaction as its own records), and the record says
//!    `errorCode` `InternalFailure` with a message that the server stopped before answering
//!    and the effect may or may not have taken place (the client never got an answer, and
//!    the record does not claim success).
//!
//! So a state change and its record become durable together: a crash leaves either both, or
//! an intent that recovery turns into a record. Reads log no intent (they change nothing), and
//! neither does the ingest API, whose effect is the journal append itself.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use opentrail_api::Route;
use opentrail_core::context::{EventDetails, RequestContext};
use opentrail_core::recording::Unrecorded;
use opentrail_core::workers::{Worker, WorkerContext, WorkerState};
use opentrail_core::{AppState, Request, Service};
use opentrail_journal::{IntentId, PendingIntent};
use opentrail_model::{Record, UserIdentity};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::recorder;
use crate::services::Services;

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

/// What an intent keeps of a call: who, where, when, and the request itself, so that the
/// service can say what its record would have held ([`opentrail_core::Service::request_details`]).
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
    /// Path and query, as received.
    pub uri: String,
    /// The headers a service reads to decode a request ([`KEPT_HEADERS`]).
    pub headers: Vec<(String, String)>,
    /// The body, base64, when the operation is named by the protocol (not S3, whose bodies are
    /// object content) and it is at most [`BODY_LIMIT`] bytes.
    pub body: Option<String>,
}

/// The request headers an intent keeps: what protocols and services decode a request by.
const KEPT_HEADERS: [&str; 3] = ["host", "content-type", "x-amz-target"];

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
    let headers = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = parts.headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let body = (route.operation.is_some() && !body.is_empty() && body.len() <= BODY_LIMIT)
        .then(|| BASE64.encode(body));
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
        uri: parts.uri.to_string(),
        headers,
        body,
    }
}

/// The record of a call whose intent was logged but that was never answered: what the
/// service reads from the request (or only its operation when the request does not decode),
/// failed with `InternalFailure`, marked as of unknown outcome.
pub fn unanswered_record(services: &Services, state: &Arc<AppState>, intent: &Intent) -> Record {
    let time =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(intent.time_ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let host = intent
        .headers
        .iter()
        .find(|(name, _)| name == "host")
        .map(|(_, value)| value.clone());
    let ctx = RequestContext {
        request_id: intent.request_id.clone(),
        event_id: intent.event_id.clone(),
        account_id: intent.account_id.clone(),
        region: intent.region.clone(),
        identity: opentrail_model::Identity::root(&intent.account_id, ""),
        source_ip: intent.source_ip.clone(),
        user_agent: intent.user_agent.clone(),
        time,
        host,
    };
    let mut details = services
        .find(&intent.service)
        .and_then(|service| requested_details(service, state, &ctx, intent))
        .unwrap_or_else(|| {
            let event_source = format!("{}.amazonaws.com", intent.service);
            let event_name = intent.operation.as_deref().unwrap_or("UnknownOperation");
            EventDetails::new(&event_source, event_name, false)
        });
    details.response_elements = Some(Value::Null);
    details.error = Some((
        "InternalFailure".to_owned(),
        "the server stopped before answering this call; its effect may or may not have taken place"
            .to_owned(),
    ));
    details.additional_event_data = Some(json!({"opentrailOutcome": "unknown"}));
    let mut record = recorder::build_record(&ctx, details);
    record.user_identity = Some(intent.user_identity.clone());
    record
}

/// What `service` reads from the request an intent kept.
fn requested_details(
    service: &dyn Service,
    state: &Arc<AppState>,
    ctx: &RequestContext,
    intent: &Intent,
) -> Option<EventDetails> {
    let mut builder = http::Request::builder()
        .method(intent.method.as_str())
        .uri(intent.uri.as_str());
    for (name, value) in &intent.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let parts = builder.body(()).ok()?.into_parts().0;
    let body = match &intent.body {
        Some(body) => BASE64.decode(body).ok()?,
        None => Vec::new(),
    };
    let route = Route {
        service: intent.service.clone(),
        operation: intent.operation.clone(),
        ..opentrail_api::route(&parts, &body)
    };
    service.request_details(Request {
        state,
        ctx,
        route: &route,
        parts: &parts,
        body: &body,
    })
}

/// Writes the records of intents left by a crash (see the module docs), then finishes them.
/// Blocking; called once at start, before requests are served.
pub fn recover(
    services: &Services,
    state: &Arc<AppState>,
    candidates: Vec<PendingIntent>,
) -> Result<usize, String> {
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
        let record = unanswered_record(services, state, intent);
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
pub struct Recorder;

impl Worker for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    async fn run(self, ctx: WorkerContext) -> Result<(), String> {
        let state = ctx.state.clone();
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
                WorkerState::Waiting
            } else {
                WorkerState::Idle
            };
            ctx.report(status, written, last_error);
            if !ctx.sleep(TICK).await {
                return Ok(());
            }
        }
    }
}

/// Keeps the record of a call the journal did not take, for the `recorder` worker ([`Recorder`]).
/// When the record does not serialize, a call that logged an intent (and so may have taken
/// effect) is recorded by its intent's record instead, which does not claim success; a read
/// with no intent changed nothing and needs none.
pub fn keep_for_recorder(
    services: &Services,
    state: &Arc<AppState>,
    record: &Record,
    intent: Option<&(IntentId, Intent)>,
) {
    let payload = match (recorder::serialize_record(record), intent) {
        (Ok(payload), _) => payload,
        (Err(_), Some((_, intent))) => {
            match recorder::serialize_record(&unanswered_record(services, state, intent)) {
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
    use opentrail_core::ServerConfig;

    fn state(dir: &tempfile::TempDir) -> Arc<AppState> {
        Arc::new(AppState::open(ServerConfig::for_tests(dir.path().to_path_buf())).expect("state"))
    }

    fn ctx() -> RequestContext {
        RequestContext {
            request_id: "rq".into(),
            event_id: "ev".into(),
            identity: opentrail_model::Identity::root("123456789012", "AKID"),
            user_agent: Some("ua".into()),
            time: time::OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time"),
            host: Some("127.0.0.1:4599".into()),
            ..RequestContext::for_tests("eu-west-1")
        }
    }

    /// The record recovery would write for `request`, had the server died while running it.
    fn recovered(
        request: http::Request<Vec<u8>>,
        service: &str,
        operation: Option<&str>,
    ) -> Record {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = state(&dir);
        let (parts, body) = request.into_parts();
        let route = Route {
            service: service.into(),
            operation: operation.map(str::to_owned),
            ..opentrail_api::route(&parts, &body)
        };
        assert!(needs_intent(&route, &parts.method));
        let intent = intent_of(&ctx(), &route, &parts, &body);
        let stored: Intent =
            serde_json::from_slice(&serde_json::to_vec(&intent).expect("json")).expect("intent");
        unanswered_record(&Services::new(crate::services::all()), &state, &stored)
    }

    fn json_request(target: &str, content_type: &str, body: &str) -> http::Request<Vec<u8>> {
        http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", "127.0.0.1:4599")
            .header("content-type", content_type)
            .header("x-amz-target", target)
            .body(body.as_bytes().to_vec())
            .expect("request")
    }

    fn assert_unknown_outcome(record: &Record) {
        assert_eq!(record.event_id, "ev");
        assert_eq!(record.error_code.as_deref(), Some("InternalFailure"));
        assert_eq!(
            record.additional_event_data,
            Some(json!({"opentrailOutcome": "unknown"}))
        );
        assert_eq!(record.response_elements, Some(Value::Null));
        assert_eq!(record.event_time, "2023-11-14T22:13:20Z");
        assert_eq!(record.aws_region, "eu-west-1");
    }

    #[test]
    fn an_unanswered_call_is_recorded_as_its_service_records_it() {
        let record = recovered(
            json_request(
                "Logs_20140328.CreateLogGroup",
                "application/x-amz-json-1.1",
                r#"{"logGroupName":"g","tags":{"StratusRedTeam":"true"}}"#,
            ),
            "logs",
            Some("CreateLogGroup"),
        );
        assert_unknown_outcome(&record);
        assert_eq!(record.event_source.as_deref(), Some("logs.amazonaws.com"));
        assert_eq!(record.event_name.as_deref(), Some("CreateLogGroup"));
        assert_eq!(
            record.request_parameters,
            Some(json!({"logGroupName": "g", "tags": {"StratusRedTeam": "true"}}))
        );
    }

    #[test]
    fn message_bodies_stay_hidden_in_recovered_records() {
        let record = recovered(
            json_request(
                "AmazonSQS.SendMessage",
                "application/x-amz-json-1.0",
                r#"{"QueueUrl":"http://127.0.0.1:4599/123456789012/q","MessageBody":"secret-payload"}"#,
            ),
            "sqs",
            Some("SendMessage"),
        );
        assert_unknown_outcome(&record);
        let text = serde_json::to_string(&record).expect("json");
        assert!(!text.contains("secret-payload"), "{text}");
        assert_eq!(record.event_name.as_deref(), Some("SendMessage"));
        let params = record.request_parameters.expect("parameters");
        assert_eq!(
            params["queueUrl"],
            json!("http://127.0.0.1:4599/123456789012/q")
        );
        assert_eq!(
            params["messageBody"],
            json!("HIDDEN_DUE_TO_SECURITY_REASONS")
        );

        let publish = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                b"Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3At&Message=secret-payload"
                    .to_vec(),
            )
            .expect("request");
        let record = recovered(publish, "sns", Some("Publish"));
        let text = serde_json::to_string(&record).expect("json");
        assert!(!text.contains("secret-payload"), "{text}");
        assert_eq!(record.event_name.as_deref(), Some("Publish"));
        let params = record.request_parameters.expect("parameters");
        assert_eq!(
            params["topicArn"],
            json!("arn:aws:sns:us-east-1:123456789012:t")
        );
    }

    #[test]
    fn object_content_is_never_kept_and_s3_names_its_operation() {
        let put = http::Request::builder()
            .method("PUT")
            .uri("/bucket-1/notes.json")
            .header("host", "127.0.0.1:4599")
            .body(br#"{"secret":"object content"}"#.to_vec())
            .expect("request");
        let (parts, body) = put.into_parts();
        let route = Route {
            service: "s3".into(),
            protocol: opentrail_api::Protocol::RestXml,
            operation: None,
        };
        assert!(intent_of(&ctx(), &route, &parts, &body).body.is_none());
        let record = recovered(http::Request::from_parts(parts, body), "s3", None);
        assert_unknown_outcome(&record);
        assert_eq!(record.event_name.as_deref(), Some("PutObject"));
        let params = record.request_parameters.expect("parameters");
        assert_eq!(params["bucketName"], json!("bucket-1"));
        assert_eq!(params["key"], json!("notes.json"));
        assert!(!params.to_string().contains("object content"), "{params}");
    }

    #[test]
    fn a_request_the_service_cannot_read_still_gets_a_record() {
        let record = recovered(
            json_request(
                "Logs_20140328.CreateLogGroup",
                "application/x-amz-json-1.1",
                "{not json",
            ),
            "logs",
            Some("CreateLogGroup"),
        );
        assert_unknown_outcome(&record);
        assert_eq!(record.event_name.as_deref(), Some("CreateLogGroup"));
    }

    #[test]
    fn reads_and_ingest_need_no_intent() {
        let route = |service: &str, operation: Option<&str>| Route {
            service: service.into(),
            protocol: opentrail_api::Protocol::AwsJson11,
            operation: operation.map(str::to_owned),
        };
        let post = &http::Method::POST;
        assert!(!needs_intent(
            &route("cloudtrail", Some("LookupEvents")),
            post
        ));
        assert!(!needs_intent(&route("sqs", Some("ReceiveMessage")), post));
        assert!(!needs_intent(
            &route("cloudtrail-data", Some("PutAuditEvents")),
            post
        ));
        assert!(needs_intent(&route("logs", Some("CreateLogGroup")), post));
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
