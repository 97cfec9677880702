//! SQS (`sqs.amazonaws.com`, awsJson 1.0 and the query protocol): durable message queues.
//!
//! Requests in either protocol become the operation's JSON input ([`wire`] translates query
//! parameters), are checked (SQS's own errors first, then the botocore model), run by [`ops`]
//! against the durable in-memory [`store`], and answered in the request's protocol. Every call
//! is recorded: message calls as Data events, the rest as Management events; message bodies
//! and attribute values are never recorded.
//!
//! # Layout
//! - [`error`]: [`SqsError`] with its JSON shape name and query code.
//! - [`wire`]: the embedded model; query parameters to JSON input, JSON output to XML.
//! - [`ops`]: what the operations share ([`ops::Call`], queue URLs, batch checks).
//! - [`queues`]: queue operations (create, attributes, tags, permissions, purge, delete).
//! - [`messages`]: message operations (send, receive with long polling, delete, visibility).
//! - [`queue`]: one queue in memory (messages, visibility, FIFO groups, deduplication).
//! - [`store`]: the operation log, snapshots and replay; the per-data-directory engine.
//! - [`md5`]: the body and message-attribute digests AWS returns.

pub mod error;
pub mod md5;
pub mod messages;
pub mod ops;
pub mod queue;
pub mod queues;
pub mod store;
pub mod wire;

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use opentrail_api::{EmbeddedModel, Protocol, Route, ServiceModel};
use opentrail_model::Resource;
use serde_json::{Value, json};

pub use error::SqsError;

use opentrail_core::access::ResourcePolicy;
use opentrail_core::context::RequestContext;
use opentrail_core::pipeline::{self, ApiService};
use opentrail_core::{AppState, Request};
use ops::Call;

pub const EVENT_SOURCE: &str = "sqs.amazonaws.com";
const API_VERSION: &str = "2012-11-05";
/// What AWS records in place of message bodies and attribute values.
const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// The message operations, recorded as Data events.
const DATA_OPERATIONS: &[&str] = &[
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
];

fn service_model() -> &'static ServiceModel {
    opentrail_api::models::model(EmbeddedModel::Sqs)
}

/// Wipes every queue (the development reset). Call from `AppState::reset`.
pub fn reset(state: &AppState) {
    match store::engine_for(state) {
        Ok(engine) => {
            let pending = {
                let mut locked = engine.lock();
                engine.commit(&mut locked, store::LogOp::Reset)
            };
            // The reset is ordered before every later change; its durability is not awaited.
            drop(pending);
        }
        Err(err) => tracing::error!(error = %err, "sqs store does not open for reset"),
    }
}

opentrail_core::operations! {
    /// The SQS operations served here.
    pub enum Op {
        CreateQueue,
        GetQueueUrl,
        ListQueues,
        DeleteQueue,
        GetQueueAttributes,
        SetQueueAttributes,
        SendMessage,
        SendMessageBatch,
        ReceiveMessage,
        DeleteMessage,
        DeleteMessageBatch,
        ChangeMessageVisibility,
        ChangeMessageVisibilityBatch,
        PurgeQueue,
        ListDeadLetterSourceQueues,
        TagQueue,
        UntagQueue,
        ListQueueTags,
        AddPermission,
        RemovePermission,
    }
}

/// SQS in the request pipeline.
pub struct Sqs;

impl ApiService for Sqs {
    type Op = Op;
    type Input = Value;
    type Output = Value;
    type Error = SqsError;

    const MODEL: EmbeddedModel = EmbeddedModel::Sqs;
    const ACCESS_DENIED_CODE: &'static str = "AccessDenied";
    const EVENT_SOURCE: &'static str = EVENT_SOURCE;
    const API_VERSION: Option<&'static str> = Some(API_VERSION);

    fn unknown_operation(&self, name: &str) -> SqsError {
        SqsError::Generic(
            "InvalidAction".into(),
            format!("The action {name} is not valid for this web service."),
        )
    }

    fn unsupported(&self, name: &str) -> SqsError {
        SqsError::UnsupportedOperation(format!("{name} is not supported by this server"))
    }

    fn read_only(&self, name: &str) -> bool {
        name.starts_with("Get") || name.starts_with("List") || name == "ReceiveMessage"
    }

    /// The batch operations need the permission of the single one (`sqs:SendMessage` for
    /// SendMessageBatch), as AWS documents.
    fn iam_action(&self, name: &str) -> String {
        format!("sqs:{}", name.strip_suffix("Batch").unwrap_or(name))
    }

    /// The message operations are recorded as Data events.
    fn data_event(&self, name: &str) -> bool {
        DATA_OPERATIONS.contains(&name)
    }

    /// Query parameters ([`wire`]) or the JSON body; query clients may name the queue by the
    /// request path instead of `QueueUrl`.
    fn decode(&self, name: &str, request: &Request<'_>) -> Result<Value, SqsError> {
        let mut input = if request.route.protocol == Protocol::AwsQuery {
            wire::query_to_json(name, &pipeline::query_params(request))?
        } else {
            pipeline::json_input(request)?
        };
        let path = request.parts.uri.path();
        if input.get("QueueUrl").is_none()
            && path.trim_matches('/').contains('/')
            && let Some(map) = input.as_object_mut()
        {
            map.insert("QueueUrl".into(), Value::String(path.to_owned()));
        }
        Ok(input)
    }

    /// SQS's own missing-parameter error first, then the model.
    fn validate(&self, _ctx: &RequestContext, name: &str, input: &Value) -> Result<(), SqsError> {
        let model = service_model();
        let required =
            wire::model()["shapes"][model.input_shape(name).unwrap_or_default()]["required"]
                .as_array()
                .cloned()
                .unwrap_or_default();
        for member in required.iter().filter_map(Value::as_str) {
            if input.get(member).is_none_or(Value::is_null) {
                return Err(SqsError::MissingParameter(member.to_owned()));
            }
        }
        match model.validate_input(name, input) {
            // Names outside the model's enums (attribute names) get SQS's own errors in `ops`.
            Err(err)
                if err.code == "ValidationException" && err.message.contains("enum value set") =>
            {
                Ok(())
            }
            Err(err) => Err(err.into()),
            Ok(()) => Ok(()),
        }
    }

    async fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        ctx: &'a RequestContext,
        op: Op,
        input: &'a Value,
    ) -> Result<Value, SqsError> {
        let engine = store::engine_for(state).map_err(|err| {
            tracing::error!(error = %err, "sqs store does not open");
            SqsError::Internal
        })?;
        let call = Call {
            engine: &engine,
            account: &ctx.account_id,
            region: &ctx.region,
            base_url: format!("http://{}", ctx.host.as_deref().unwrap_or("localhost:4599")),
            sender_id: &ctx.account_id,
            shutdown: state.shutdown.subscribe(),
        };
        let result = match op {
            Op::CreateQueue => queues::create_queue(&call, input).await,
            Op::GetQueueUrl => queues::get_queue_url(&call, input),
            Op::ListQueues => queues::list_queues(&call, input),
            Op::DeleteQueue => queues::delete_queue(&call, input).await,
            Op::GetQueueAttributes => queues::get_queue_attributes(&call, input),
            Op::SetQueueAttributes => queues::set_queue_attributes(&call, input).await,
            Op::SendMessage => messages::send_message(&call, input).await,
            Op::SendMessageBatch => messages::send_message_batch(&call, input).await,
            Op::ReceiveMessage => messages::receive_message(&call, input).await,
            Op::DeleteMessage => messages::delete_message(&call, input).await,
            Op::DeleteMessageBatch => messages::delete_message_batch(&call, input).await,
            Op::ChangeMessageVisibility => messages::change_message_visibility(&call, input).await,
            Op::ChangeMessageVisibilityBatch => {
                messages::change_message_visibility_batch(&call, input).await
            }
            Op::PurgeQueue => queues::purge_queue(&call, input).await,
            Op::ListDeadLetterSourceQueues => queues::list_dead_letter_source_queues(&call, input),
            Op::TagQueue => queues::tag_queue(&call, input).await,
            Op::UntagQueue => queues::untag_queue(&call, input).await,
            Op::ListQueueTags => queues::list_queue_tags(&call, input),
            Op::AddPermission => queues::add_permission(&call, input).await,
            Op::RemovePermission => queues::remove_permission(&call, input).await,
        };
        store::snapshot_if_due(state, &engine);
        result
    }

    fn render(
        &self,
        route: &Route,
        name: &str,
        output: &Value,
        request_id: &str,
    ) -> Response<Bytes> {
        if route.protocol == Protocol::AwsQuery {
            let xml = wire::json_to_xml(name, output);
            let has_output = wire::model()["operations"][name]["output"].is_object();
            return opentrail_api::xml::query_response(
                name,
                error::XMLNS,
                request_id,
                has_output.then_some(xml.as_str()),
            );
        }
        let protocol = if route.protocol == Protocol::AwsJson11 {
            Protocol::AwsJson11
        } else {
            Protocol::AwsJson10
        };
        opentrail_api::json_response(StatusCode::OK, output, request_id, protocol)
    }

    fn render_error(&self, route: &Route, err: &SqsError, request_id: &str) -> Response<Bytes> {
        err.response(route.protocol, request_id)
    }

    fn render_api_error(
        &self,
        route: &Route,
        err: &opentrail_api::ApiError,
        request_id: &str,
    ) -> Response<Bytes> {
        error::api_error_response(err, route.protocol, request_id)
    }

    /// Message bodies and attribute values hidden, as AWS records them.
    fn recorded_input(&self, _name: &str, input: &Value) -> Value {
        redact(input)
    }

    /// Received messages are not recorded.
    fn recorded_output(&self, name: &str, output: &Value) -> Value {
        if name == "ReceiveMessage" {
            Value::Null
        } else {
            output.clone()
        }
    }

    fn resource_policy(
        &self,
        state: &AppState,
        ctx: &RequestContext,
        _name: &str,
        input: &Value,
    ) -> Option<ResourcePolicy> {
        Sqs::queue_policy(state, ctx, input)
    }

    fn resource_tags(
        &self,
        state: &AppState,
        ctx: &RequestContext,
        _name: &str,
        input: &Value,
    ) -> Vec<(String, String)> {
        Sqs::queue_tags(state, ctx, input)
    }

    fn request_tags(&self, name: &str, input: &Value) -> Vec<(String, String)> {
        match name {
            "CreateQueue" => pipeline::input::tags(input, "tags"),
            "TagQueue" => pipeline::input::tags(input, "Tags"),
            _ => Vec::new(),
        }
    }

    fn resources(
        &self,
        ctx: &RequestContext,
        _name: &str,
        input: &Value,
        _output: Option<&Value>,
    ) -> Vec<Resource> {
        let key = input
            .get("QueueUrl")
            .and_then(Value::as_str)
            .and_then(|url| ops::key_from_url(url, &ctx.account_id, &ctx.region).ok())
            .or_else(|| {
                let name = input.get("QueueName").and_then(Value::as_str)?;
                ops::key_from_url(name, &ctx.account_id, &ctx.region).ok()
            });
        key.map(|key| Resource {
            account_id: Some(key.account.clone()),
            resource_type: Some("AWS::SQS::Queue".into()),
            arn: Some(key.arn()),
        })
        .into_iter()
        .collect()
    }
}

impl Sqs {
    /// The tags of the queue a call names by `QueueUrl` (none for a queue that does not exist).
    fn queue_tags(state: &AppState, ctx: &RequestContext, input: &Value) -> Vec<(String, String)> {
        let Some(url) = input.get("QueueUrl").and_then(Value::as_str) else {
            return Vec::new();
        };
        let Ok(key) = ops::key_from_url(url, &ctx.account_id, &ctx.region) else {
            return Vec::new();
        };
        let Ok(engine) = store::engine_for(state) else {
            return Vec::new();
        };
        let state = engine.lock();
        state.queues.get(&key).map_or_else(Vec::new, |queue| {
            queue
                .meta
                .tags
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        })
    }

    /// The queue's `Policy` attribute, the resource policy its calls are also allowed by.
    fn queue_policy(
        state: &AppState,
        ctx: &RequestContext,
        input: &Value,
    ) -> Option<ResourcePolicy> {
        let url = input.get("QueueUrl").and_then(Value::as_str)?;
        let key = ops::key_from_url(url, &ctx.account_id, &ctx.region).ok()?;
        let engine = store::engine_for(state).ok()?;
        let state = engine.lock();
        let policy = state.queues.get(&key)?.meta.attributes.get("Policy")?;
        (!policy.is_empty()).then(|| ResourcePolicy {
            document: Arc::from(policy.as_str()),
            account_id: key.account.clone(),
        })
    }
}

/// The input with message bodies and attribute values hidden, as AWS records them.
fn redact(input: &Value) -> Value {
    let mut copy = input.clone();
    hide_message_fields(&mut copy);
    if let Some(entries) = copy.get_mut("Entries").and_then(Value::as_array_mut) {
        for entry in entries {
            hide_message_fields(entry);
        }
    }
    copy
}

fn hide_message_fields(value: &mut Value) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    if map.contains_key("MessageBody") {
        map.insert("MessageBody".into(), json!(HIDDEN));
    }
    for field in ["MessageAttributes", "MessageSystemAttributes"] {
        if let Some(attributes) = map.get_mut(field).and_then(Value::as_object_mut) {
            for attribute in attributes.values_mut() {
                *attribute = json!(HIDDEN);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_attribute_values_are_never_recorded() {
        let input = json!({
            "QueueUrl": "http://h/123456789012/q",
            "MessageBody": "secret",
            "MessageAttributes": {"a": {"DataType": "String", "StringValue": "secret"}},
            "Entries": [{"Id": "1", "MessageBody": "secret"}],
        });
        let text = redact(&input).to_string();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains(HIDDEN), "{text}");
    }

    #[test]
    fn the_tags_a_call_sets_are_its_request_tags() {
        let create = json!({"QueueName": "q", "tags": {"team": "a"}});
        assert_eq!(
            Sqs.request_tags("CreateQueue", &create),
            vec![("team".to_owned(), "a".to_owned())]
        );
        let tag = json!({"QueueUrl": "http://h/123456789012/q", "Tags": {"env": "dev"}});
        assert_eq!(
            Sqs.request_tags("TagQueue", &tag),
            vec![("env".to_owned(), "dev".to_owned())]
        );
        assert!(Sqs.request_tags("SendMessage", &tag).is_empty());
    }

    #[test]
    fn every_operation_is_in_the_embedded_model() {
        assert_eq!(pipeline::unmodelled_operations::<Sqs>(), Vec::<&str>::new());
    }

    #[test]
    fn message_calls_are_data_events() {
        let ctx = RequestContext::for_tests("us-east-1");
        let input = json!({"QueueUrl": "http://h/123456789012/q", "MessageBody": "b"});
        let output = json!({"MessageId": "m", "MD5OfMessageBody": "x"});
        let details =
            pipeline::details(&Sqs, &ctx, "SendMessage", Some(&input), Some(&output), None);
        assert!(!details.management);
        assert!(!details.read_only);
        assert_eq!(
            details.request_parameters,
            Some(json!({"queueUrl": "http://h/123456789012/q", "messageBody": HIDDEN}))
        );
        assert_eq!(
            details.response_elements,
            Some(json!({"messageId": "m", "mD5OfMessageBody": "x"}))
        );
        assert_eq!(
            details.resources[0].arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:q")
        );
        let details = pipeline::details(
            &Sqs,
            &ctx,
            "CreateQueue",
            Some(&json!({"QueueName": "q"})),
            None,
            Some(&SqsError::QueueDoesNotExist),
        );
        assert!(details.management);
        assert_eq!(
            details.error.as_ref().map(|e| e.0.as_str()),
            Some("AWS.SimpleQueueService.NonExistentQueue")
        );
    }
}
