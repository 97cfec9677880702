//! SNS (`sns.amazonaws.com`, awsQuery): topics, subscriptions, filter policies and delivery.
//!
//! Topics and subscriptions live in the metadata store ([`store`]). Publish delivers into SQS
//! queues through the SQS engine, durable before the call returns, and POSTs to HTTP(S)
//! endpoints from the `sns-http` worker with retries; envelopes are signed (SignatureVersion 1 and
//! 2) with a key whose certificate is served at [`sign::CERT_PATH`]. Email, email-json and SMS
//! subscriptions are accepted and stay pending confirmation: nothing is sent to them. Every
//! call is recorded; Publish and PublishBatch as Data events, without message bodies.
//!
//! # Layout
//! - [`error`]: [`SnsError`] with AWS's codes and messages.
//! - [`params`]: awsQuery parameter decoding (maps, lists, structures).
//! - [`store`]: durable topics and subscriptions.
//! - [`topics`]: topic, tag and subscription operations.
//! - [`publish`]: Publish, PublishBatch, envelopes and fan-out.
//! - [`filter`]: filter policies on the EventBridge pattern engine.
//! - [`delivery`]: HTTP(S) POSTs with retries (the `sns-http` worker), the subscription
//!   handshake.
//! - [`sign`]: envelope signatures and the signing certificate.

pub mod delivery;
pub mod error;
pub mod filter;
pub mod params;
pub mod publish;
pub mod sign;
pub mod store;
pub mod topics;

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::response::IntoResponse;
use bytes::Bytes;
use http::Response;
use http::request::Parts;
use opentrail_api::{Route, XmlWriter, lower_first};
use opentrail_model::Resource;
use serde_json::{Map, Value, json};

pub use error::SnsError;
use params::Params;

use opentrail_core::AppState;
use opentrail_core::context::{EventDetails, RequestContext};

pub const EVENT_SOURCE: &str = "sns.amazonaws.com";
const API_VERSION: &str = "2010-03-31";
/// Publish calls, recorded as Data events.
const DATA_OPERATIONS: &[&str] = &["Publish", "PublishBatch"];
const DEFAULT_BASE_URL: &str = "http://localhost:4599";

/// What an operation needs besides its parameters.
pub struct Call<'a> {
    pub state: &'a Arc<AppState>,
    pub ctx: &'a RequestContext,
    pub params: Params,
    /// `http://<host>` of the request, for URLs in messages.
    pub base_url: String,
}

/// What SNS keeps for one server beside its stores (in [`AppState::extensions`]).
#[derive(Default)]
pub struct SnsShared {
    /// Serialises read-modify-write sequences (idempotent creates, attribute updates).
    pub write_lock: Mutex<()>,
    /// The base URL clients last reached opentrail at.
    base_url: Mutex<Option<String>>,
}

/// The [`SnsShared`] of `state`.
pub fn shared(state: &AppState) -> Arc<SnsShared> {
    state.extensions.get_or_init(SnsShared::default)
}

/// The base URL clients last reached opentrail at (for messages sent outside a request).
pub fn base_url(state: &AppState) -> String {
    shared(state)
        .base_url
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
}

pub async fn init_signer(state: &Arc<AppState>) {
    let state = state.clone();
    if let Err(err) = tokio::task::spawn_blocking(move || sign::init(&state)).await {
        tracing::error!(error = %err, "sns signer task failed");
    }
}

/// Handles one SNS request.
pub async fn handle(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    route: &Route,
    parts: Parts,
    body: Bytes,
) -> (Response<Bytes>, Option<EventDetails>) {
    let operation = route.operation.clone().unwrap_or_default();
    let mut params = Params(opentrail_api::parse_query_params(
        parts.uri.query().unwrap_or("").as_bytes(),
    ));
    params.0.extend(opentrail_api::parse_query_params(&body));
    let base_url = format!("http://{}", ctx.host.as_deref().unwrap_or("localhost:4599"));
    *shared(state)
        .base_url
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(base_url.clone());
    init_signer(state).await;
    let call = Call {
        state,
        ctx,
        params,
        base_url,
    };
    let result = run(&call, &operation).await;
    let details = details_for(
        &call,
        &operation,
        result.as_ref().ok(),
        result.as_ref().err(),
    );
    let response = match result {
        Ok(xml) => opentrail_api::xml::query_response(
            &operation,
            error::XMLNS,
            &ctx.request_id,
            xml.as_deref(),
        ),
        Err(err) => {
            if matches!(err, SnsError::Internal) {
                tracing::error!(operation, "sns call failed");
            }
            opentrail_api::query_error_response(&err.to_api(), &ctx.request_id, error::XMLNS)
        }
    };
    (response, details)
}

async fn run(call: &Call<'_>, operation: &str) -> Result<Option<String>, SnsError> {
    match operation {
        "CreateTopic" => topics::create_topic(call),
        "DeleteTopic" => topics::delete_topic(call),
        "ListTopics" => topics::list_topics(call),
        "GetTopicAttributes" => topics::get_topic_attributes(call),
        "SetTopicAttributes" => topics::set_topic_attributes(call),
        "AddPermission" => topics::add_permission(call),
        "RemovePermission" => topics::remove_permission(call),
        "TagResource" => topics::tag_resource(call),
        "UntagResource" => topics::untag_resource(call),
        "ListTagsForResource" => topics::list_tags_for_resource(call),
        "Subscribe" => topics::subscribe(call).await,
        "ConfirmSubscription" => topics::confirm_subscription(call),
        "Unsubscribe" => topics::unsubscribe(call),
        "ListSubscriptions" => topics::list_subscriptions(call),
        "ListSubscriptionsByTopic" => topics::list_subscriptions_by_topic(call),
        "GetSubscriptionAttributes" => topics::get_subscription_attributes(call),
        "SetSubscriptionAttributes" => topics::set_subscription_attributes(call),
        "Publish" => publish::publish(call).await,
        "PublishBatch" => publish::publish_batch(call).await,
        other => Err(SnsError::InvalidAction(format!(
            "The action {other} is not valid for this web service."
        ))),
    }
}

/// The text of the first `<name>…</name>` in a result.
fn first_elem(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The request parameters AWS records: flat parameters, attribute maps and tags, never
/// message bodies or attribute values.
fn request_parameters(params: &Params) -> Value {
    let mut out = Map::new();
    for (key, value) in &params.0 {
        if key.contains('.') || matches!(key.as_str(), "Action" | "Version" | "Message") {
            continue;
        }
        out.insert(lower_first(key), json!(value));
    }
    let attributes = params.map("Attributes");
    if !attributes.is_empty() {
        out.insert("attributes".into(), json!(attributes));
    }
    let tags: Vec<Value> = params
        .members("Tags")
        .iter()
        .map(|t| json!({"key": t.get("Key"), "value": t.get("Value")}))
        .collect();
    if !tags.is_empty() {
        out.insert("tags".into(), Value::Array(tags));
    }
    let keys = params.list("TagKeys");
    if !keys.is_empty() {
        out.insert("tagKeys".into(), json!(keys));
    }
    let names: Vec<String> = params
        .message_attributes("MessageAttributes")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    if !names.is_empty() {
        out.insert("messageAttributeNames".into(), json!(names));
    }
    let entries: Vec<Value> = params
        .members("PublishBatchRequestEntries")
        .iter()
        .map(|e| json!({"id": e.get("Id")}))
        .collect();
    if !entries.is_empty() {
        out.insert("publishBatchRequestEntries".into(), Value::Array(entries));
    }
    if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    }
}

/// The record details of a call from its request alone, without running it (for a call a
/// crash left unanswered): parsed, shaped and redacted as this service's own records are.
pub fn request_details(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    route: &Route,
    parts: &Parts,
    body: &[u8],
) -> Option<EventDetails> {
    let operation = route.operation.clone().unwrap_or_default();
    let mut params = Params(opentrail_api::parse_query_params(
        parts.uri.query().unwrap_or("").as_bytes(),
    ));
    params.0.extend(opentrail_api::parse_query_params(body));
    let call = Call {
        state,
        ctx,
        params,
        base_url: String::new(),
    };
    details_for(&call, &operation, None, None)
}

fn details_for(
    call: &Call<'_>,
    operation: &str,
    output: Option<&Option<String>>,
    error: Option<&SnsError>,
) -> Option<EventDetails> {
    if operation.is_empty() {
        return None;
    }
    let read_only = operation.starts_with("Get") || operation.starts_with("List");
    let mut details = EventDetails::new(EVENT_SOURCE, operation, read_only);
    details.management = !DATA_OPERATIONS.contains(&operation);
    details.api_version = Some(API_VERSION.to_owned());
    details.request_parameters = Some(request_parameters(&call.params));
    if let Some(Some(xml)) = output {
        let mut elements = Map::new();
        for name in ["TopicArn", "SubscriptionArn", "MessageId", "SequenceNumber"] {
            if let Some(value) = first_elem(xml, name) {
                elements.insert(lower_first(name), json!(value));
            }
        }
        if operation != "PublishBatch" && !elements.is_empty() && !read_only {
            details.response_elements = Some(Value::Object(elements));
        }
    }
    if let Some(err) = error {
        details.error = Some((err.aws_code().to_owned(), err.to_string()));
    }
    let topic = call
        .params
        .get("TopicArn")
        .or_else(|| call.params.get("ResourceArn"))
        .map(str::to_owned)
        .or_else(|| {
            call.params
                .get("SubscriptionArn")
                .and_then(|arn| arn.rsplit_once(':').map(|(topic, _)| topic.to_owned()))
        });
    if let Some(arn) = topic.filter(|arn| topics::parse_arn(arn).is_some()) {
        details.resources.push(Resource {
            account_id: Some(call.ctx.account_id.clone()),
            resource_type: Some("AWS::SNS::Topic".into()),
            arn: Some(arn),
        });
    }
    Some(details)
}

/// Unsigned routes under `/_opentrail/sns/`: `cert.pem` (the signing certificate),
/// `confirm` (the `SubscribeURL` of pending subscriptions) and `unsubscribe` (the
/// `UnsubscribeURL` of envelopes).
pub async fn public(
    State(state): State<Arc<AppState>>,
    uri: http::Uri,
) -> axum::response::Response {
    init_signer(&state).await;
    let params = Params(opentrail_api::parse_query_params(
        uri.query().unwrap_or("").as_bytes(),
    ));
    let request_id = uuid::Uuid::new_v4().to_string();
    let path = uri.path();
    let result = if path == sign::CERT_PATH {
        return match sign::cert_pem(&state) {
            Some(pem) => (
                [(http::header::CONTENT_TYPE, "application/x-pem-file")],
                pem,
            )
                .into_response(),
            None => http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
        };
    } else if path.ends_with("/confirm") {
        let topic = params.get("TopicArn").unwrap_or("");
        let token = params.get("Token").unwrap_or("");
        topics::confirm(&state, topic, token).map(|arn| {
            let mut xml = XmlWriter::new();
            xml.elem("SubscriptionArn", &arn);
            ("ConfirmSubscription", Some(xml.finish()))
        })
    } else if path.ends_with("/unsubscribe") {
        let arn = params.get("SubscriptionArn").unwrap_or("");
        store::delete_subscription(&state.meta, arn).map(|_| ("Unsubscribe", None))
    } else {
        return http::StatusCode::NOT_FOUND.into_response();
    };
    let response = match result {
        Ok((operation, xml)) => {
            opentrail_api::xml::query_response(operation, error::XMLNS, &request_id, xml.as_deref())
        }
        Err(err) => opentrail_api::query_error_response(&err.to_api(), &request_id, error::XMLNS),
    };
    let (parts, bytes) = response.into_parts();
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}
