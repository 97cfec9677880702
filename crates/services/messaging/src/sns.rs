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
//! - [`publish`]: Publish, PublishBatch and fan-out.
//! - [`message`]: the outgoing message, its attributes and its envelope.
//! - [`filter`]: filter policies on the EventBridge pattern engine.
//! - [`delivery`]: into SQS queues and dead-letter queues, HTTP(S) POSTs with retries (the
//!   `sns-http` worker), the subscription handshake.
//! - [`sign`]: envelope signatures and the signing certificate.

pub mod delivery;
pub mod error;
pub mod filter;
pub mod message;
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
use opentrail_api::{EmbeddedModel, Route, XmlWriter, lower_first};
use opentrail_model::{Arn, Resource};
use serde_json::{Map, Value, json};

pub use error::SnsError;
use params::Params;

use opentrail_core::access::ResourcePolicy;
use opentrail_core::context::RequestContext;
use opentrail_core::pipeline::{self, ApiService};
use opentrail_core::{AppState, Request};

pub const EVENT_SOURCE: &str = "sns.amazonaws.com";
const API_VERSION: &str = "2010-03-31";
/// Publish calls, recorded as Data events.
const DATA_OPERATIONS: &[&str] = &["Publish", "PublishBatch"];
const DEFAULT_BASE_URL: &str = "http://localhost:4599";

/// What an operation needs besides its parameters.
pub struct Call<'a> {
    pub state: &'a Arc<AppState>,
    pub ctx: &'a RequestContext,
    pub params: &'a Params,
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

opentrail_core::operations! {
    /// The SNS operations served here.
    pub enum Op {
        CreateTopic,
        DeleteTopic,
        ListTopics,
        GetTopicAttributes,
        SetTopicAttributes,
        AddPermission,
        RemovePermission,
        TagResource,
        UntagResource,
        ListTagsForResource,
        Subscribe,
        ConfirmSubscription,
        Unsubscribe,
        ListSubscriptions,
        ListSubscriptionsByTopic,
        GetSubscriptionAttributes,
        SetSubscriptionAttributes,
        Publish,
        PublishBatch,
    }
}

/// SNS in the request pipeline. Its handlers read the awsQuery parameters ([`Params`]) and
/// answer the XML of their result element.
pub struct Sns;

impl ApiService for Sns {
    type Op = Op;
    type Input = Params;
    type Output = Option<String>;
    type Error = SnsError;

    const MODEL: EmbeddedModel = EmbeddedModel::Sns;
    const ACCESS_DENIED_CODE: &'static str = "AuthorizationError";
    const EVENT_SOURCE: &'static str = EVENT_SOURCE;
    const API_VERSION: Option<&'static str> = Some(API_VERSION);

    fn unknown_operation(&self, name: &str) -> SnsError {
        SnsError::InvalidAction(format!(
            "The action {name} is not valid for this web service."
        ))
    }

    fn unsupported(&self, name: &str) -> SnsError {
        self.unknown_operation(name)
    }

    fn read_only(&self, name: &str) -> bool {
        name.starts_with("Get") || name.starts_with("List")
    }

    /// Publish calls are recorded as Data events.
    fn data_event(&self, name: &str) -> bool {
        DATA_OPERATIONS.contains(&name)
    }

    fn decode(&self, _name: &str, request: &Request<'_>) -> Result<Params, SnsError> {
        Ok(Params(pipeline::query_params(request)))
    }

    /// The handlers check their parameters with SNS's own messages.
    fn validate(
        &self,
        _ctx: &RequestContext,
        _name: &str,
        _input: &Params,
    ) -> Result<(), SnsError> {
        Ok(())
    }

    async fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        ctx: &'a RequestContext,
        op: Op,
        params: &'a Params,
    ) -> Result<Option<String>, SnsError> {
        let base_url = format!("http://{}", ctx.host.as_deref().unwrap_or("localhost:4599"));
        *shared(state)
            .base_url
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(base_url.clone());
        init_signer(state).await;
        let call = &Call {
            state,
            ctx,
            params,
            base_url,
        };
        match op {
            Op::CreateTopic => topics::create_topic(call),
            Op::DeleteTopic => topics::delete_topic(call),
            Op::ListTopics => topics::list_topics(call),
            Op::GetTopicAttributes => topics::get_topic_attributes(call),
            Op::SetTopicAttributes => topics::set_topic_attributes(call),
            Op::AddPermission => topics::add_permission(call),
            Op::RemovePermission => topics::remove_permission(call),
            Op::TagResource => topics::tag_resource(call),
            Op::UntagResource => topics::untag_resource(call),
            Op::ListTagsForResource => topics::list_tags_for_resource(call),
            Op::Subscribe => topics::subscribe(call).await,
            Op::ConfirmSubscription => topics::confirm_subscription(call),
            Op::Unsubscribe => topics::unsubscribe(call),
            Op::ListSubscriptions => topics::list_subscriptions(call),
            Op::ListSubscriptionsByTopic => topics::list_subscriptions_by_topic(call),
            Op::GetSubscriptionAttributes => topics::get_subscription_attributes(call),
            Op::SetSubscriptionAttributes => topics::set_subscription_attributes(call),
            Op::Publish => publish::publish(call).await,
            Op::PublishBatch => publish::publish_batch(call).await,
        }
    }

    fn render(
        &self,
        _route: &Route,
        name: &str,
        xml: &Option<String>,
        request_id: &str,
    ) -> Response<Bytes> {
        opentrail_api::xml::query_response(name, error::XMLNS, request_id, xml.as_deref())
    }

    fn render_api_error(
        &self,
        _route: &Route,
        err: &opentrail_api::ApiError,
        request_id: &str,
    ) -> Response<Bytes> {
        opentrail_api::query_error_response(err, request_id, error::XMLNS)
    }

    /// Flat parameters, attribute maps and tags, never message bodies or attribute values.
    fn recorded_input(&self, _name: &str, params: &Params) -> Value {
        request_parameters(params)
    }

    /// The ARNs and ids of the result (PublishBatch: none).
    fn recorded_output(&self, name: &str, xml: &Option<String>) -> Value {
        let Some(xml) = xml.as_deref().filter(|_| name != "PublishBatch") else {
            return Value::Null;
        };
        let mut elements = Map::new();
        for member in ["TopicArn", "SubscriptionArn", "MessageId", "SequenceNumber"] {
            if let Some(value) = first_elem(xml, member) {
                elements.insert(lower_first(member), json!(value));
            }
        }
        Value::Object(elements)
    }

    /// The topic the call names (a subscription's topic for subscription calls).
    /// SNS names its actions in capitals in its messages (`SNS:Publish`); IAM matches actions
    /// without regard to case.
    fn iam_action(&self, name: &str) -> String {
        format!("SNS:{name}")
    }

    /// The topic's `Policy` attribute when one was set (the default policy allows only calls
    /// AWS services make for the owner, `AWS:SourceOwner`, none of a principal's own).
    fn resource_policy(
        &self,
        state: &AppState,
        _ctx: &RequestContext,
        _name: &str,
        params: &Params,
    ) -> Option<ResourcePolicy> {
        let topic = store::get_topic(&state.meta, params.get("TopicArn")?).ok()??;
        let policy = topic.attributes.get("Policy").filter(|p| !p.is_empty())?;
        Some(ResourcePolicy {
            document: Arc::from(policy.as_str()),
            account_id: topic.account.clone(),
        })
    }

    fn resource_tags(
        &self,
        state: &AppState,
        _ctx: &RequestContext,
        _name: &str,
        params: &Params,
    ) -> Vec<(String, String)> {
        let Some(arn) = params.get("TopicArn").or_else(|| params.get("ResourceArn")) else {
            return Vec::new();
        };
        match store::get_topic(&state.meta, arn) {
            Ok(Some(topic)) => topic.tags.into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn request_tags(&self, name: &str, params: &Params) -> Vec<(String, String)> {
        match name {
            "CreateTopic" | "TagResource" => params
                .members("Tags")
                .iter()
                .filter_map(|tag| {
                    let key = tag.get("Key")?.to_owned();
                    Some((key, tag.get("Value").unwrap_or_default().to_owned()))
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn resources(
        &self,
        ctx: &RequestContext,
        _name: &str,
        params: &Params,
        _output: Option<&Option<String>>,
    ) -> Vec<Resource> {
        let topic = params
            .get("TopicArn")
            .or_else(|| params.get("ResourceArn"))
            .map(str::to_owned)
            .or_else(|| {
                // `arn:aws:sns:<region>:<account>:<topic>:<subscription id>`
                let subscription = Arn::of_service(params.get("SubscriptionArn")?, "sns")?;
                let (topic, _id) = subscription.resource.rsplit_once(':')?;
                Some(
                    Arn {
                        resource: topic,
                        ..subscription
                    }
                    .to_string(),
                )
            });
        topic
            .filter(|arn| topics::parse_arn(arn).is_some())
            .map(|arn| Resource {
                account_id: Some(ctx.account_id.clone()),
                resource_type: Some("AWS::SNS::Topic".into()),
                arn: Some(arn),
            })
            .into_iter()
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tags_a_call_sets_are_its_request_tags() {
        let params = Params(vec![
            ("Name".into(), "t".into()),
            ("Tags.member.1.Key".into(), "team".into()),
            ("Tags.member.1.Value".into(), "a".into()),
            ("Tags.member.2.Key".into(), "env".into()),
            ("Tags.member.2.Value".into(), "dev".into()),
        ]);
        assert_eq!(
            Sns.request_tags("CreateTopic", &params),
            vec![
                ("team".to_owned(), "a".to_owned()),
                ("env".to_owned(), "dev".to_owned())
            ]
        );
        assert!(Sns.request_tags("Publish", &params).is_empty());
    }

    #[test]
    fn every_operation_is_in_the_embedded_model() {
        assert_eq!(pipeline::unmodelled_operations::<Sns>(), Vec::<&str>::new());
    }

    #[test]
    fn bodies_are_not_recorded_and_batches_record_no_elements() {
        let params = Params(vec![
            ("Action".into(), "Publish".into()),
            (
                "TopicArn".into(),
                "arn:aws:sns:us-east-1:123456789012:t".into(),
            ),
            ("Message".into(), "secret".into()),
        ]);
        let recorded = Sns.recorded_input("Publish", &params).to_string();
        assert!(!recorded.contains("secret"), "{recorded}");
        assert!(recorded.contains("topicArn"), "{recorded}");
        let xml = Some("<MessageId>m-1</MessageId>".to_owned());
        assert_eq!(
            Sns.recorded_output("Publish", &xml),
            json!({"messageId": "m-1"})
        );
        assert_eq!(Sns.recorded_output("PublishBatch", &xml), Value::Null);
    }
}
