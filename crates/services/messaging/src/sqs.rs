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
use http::request::Parts;
use http::{Response, StatusCode};
use opentrail_api::EmbeddedModel;
use opentrail_api::{Protocol, Route, ServiceModel};
use opentrail_model::Resource;
use serde_json::{Value, json};

pub use error::SqsError;

use opentrail_core::AppState;
use opentrail_core::context::{
    EventDetails, RequestContext, request_parameters, response_elements,
};
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

/// Handles one SQS request.
pub async fn handle(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    route: &Route,
    parts: Parts,
    body: Bytes,
) -> (Response<Bytes>, Option<EventDetails>) {
    let protocol = route.protocol;
    let operation = route.operation.clone().unwrap_or_default();
    let input = match parse_input(route, &operation, &parts, &body) {
        Ok(input) => input,
        Err(err) => {
            let details = details_for(ctx, &operation, &Value::Null, None, Some(&err));
            return (err.response(protocol, &ctx.request_id), details);
        }
    };
    let result = run(state, ctx, &operation, &input).await;
    let details = details_for(
        ctx,
        &operation,
        &input,
        result.as_ref().ok(),
        result.as_ref().err(),
    );
    let response = match result {
        Ok(output) => render(protocol, &operation, &output, &ctx.request_id),
        Err(err) => {
            if matches!(err, SqsError::Internal) {
                tracing::error!(operation, "sqs call failed");
            }
            err.response(protocol, &ctx.request_id)
        }
    };
    (response, details)
}

/// The record details of a call from its request alone, without running it (for a call a
/// crash left unanswered): parsed, shaped and redacted as this service's own records are.
pub fn request_details(
    ctx: &RequestContext,
    route: &Route,
    parts: &Parts,
    body: &[u8],
) -> Option<EventDetails> {
    let operation = route.operation.clone().unwrap_or_default();
    let input = parse_input(route, &operation, parts, body).ok()?;
    details_for(ctx, &operation, &input, None, None)
}

fn parse_input(
    route: &Route,
    operation: &str,
    parts: &Parts,
    body: &[u8],
) -> Result<Value, SqsError> {
    let model = service_model();
    if !model.has_operation(operation) {
        return Err(SqsError::Generic(
            "InvalidAction".into(),
            format!("The action {operation} is not valid for this web service."),
        ));
    }
    let mut input = if route.protocol == Protocol::AwsQuery {
        let mut params =
            opentrail_api::parse_query_params(parts.uri.query().unwrap_or("").as_bytes());
        params.extend(opentrail_api::parse_query_params(body));
        wire::query_to_json(operation, &params)?
    } else {
        opentrail_api::parse_json_body(body)?
    };
    // Query clients may name the queue by the request path instead of QueueUrl.
    let path = parts.uri.path();
    if input.get("QueueUrl").is_none()
        && path.trim_matches('/').contains('/')
        && let Some(map) = input.as_object_mut()
    {
        map.insert("QueueUrl".into(), Value::String(path.to_owned()));
    }
    let required =
        wire::model()["shapes"][model.input_shape(operation).unwrap_or_default()]["required"]
            .as_array()
            .cloned()
            .unwrap_or_default();
    for name in required.iter().filter_map(Value::as_str) {
        if input.get(name).is_none_or(Value::is_null) {
            return Err(SqsError::MissingParameter(name.to_owned()));
        }
    }
    match model.validate_input(operation, &input) {
        // Names outside the model's enums (attribute names) get SQS's own errors in `ops`.
        Err(err) if err.code == "ValidationException" && err.message.contains("enum value set") => {
            Ok(input)
        }
        Err(err) => Err(err.into()),
        Ok(()) => Ok(input),
    }
}

async fn run(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    operation: &str,
    input: &Value,
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
    let result = match operation {
        "CreateQueue" => queues::create_queue(&call, input).await,
        "GetQueueUrl" => queues::get_queue_url(&call, input),
        "ListQueues" => queues::list_queues(&call, input),
        "DeleteQueue" => queues::delete_queue(&call, input).await,
        "GetQueueAttributes" => queues::get_queue_attributes(&call, input),
        "SetQueueAttributes" => queues::set_queue_attributes(&call, input).await,
        "SendMessage" => messages::send_message(&call, input).await,
        "SendMessageBatch" => messages::send_message_batch(&call, input).await,
        "ReceiveMessage" => messages::receive_message(&call, input).await,
        "DeleteMessage" => messages::delete_message(&call, input).await,
        "DeleteMessageBatch" => messages::delete_message_batch(&call, input).await,
        "ChangeMessageVisibility" => messages::change_message_visibility(&call, input).await,
        "ChangeMessageVisibilityBatch" => {
            messages::change_message_visibility_batch(&call, input).await
        }
        "PurgeQueue" => queues::purge_queue(&call, input).await,
        "ListDeadLetterSourceQueues" => queues::list_dead_letter_source_queues(&call, input),
        "TagQueue" => queues::tag_queue(&call, input).await,
        "UntagQueue" => queues::untag_queue(&call, input).await,
        "ListQueueTags" => queues::list_queue_tags(&call, input),
        "AddPermission" => queues::add_permission(&call, input).await,
        "RemovePermission" => queues::remove_permission(&call, input).await,
        other => Err(SqsError::UnsupportedOperation(format!(
            "{other} is not supported by this server"
        ))),
    };
    store::snapshot_if_due(state, &engine);
    result
}

fn render(
    protocol: Protocol,
    operation: &str,
    output: &Value,
    request_id: &str,
) -> Response<Bytes> {
    if protocol == Protocol::AwsQuery {
        let xml = wire::json_to_xml(operation, output);
        let has_output = wire::model()["operations"][operation]["output"].is_object();
        return opentrail_api::xml::query_response(
            operation,
            error::XMLNS,
            request_id,
            has_output.then_some(xml.as_str()),
        );
    }
    let protocol = if protocol == Protocol::AwsJson11 {
        Protocol::AwsJson11
    } else {
        Protocol::AwsJson10
    };
    opentrail_api::json_response(StatusCode::OK, output, request_id, protocol)
}

/// The CloudTrail details of one call.
fn details_for(
    ctx: &RequestContext,
    operation: &str,
    input: &Value,
    output: Option<&Value>,
    error: Option<&SqsError>,
) -> Option<EventDetails> {
    if operation.is_empty() {
        return None;
    }
    let read_only = operation.starts_with("Get")
        || operation.starts_with("List")
        || operation == "ReceiveMessage";
    let mut details = EventDetails::new(EVENT_SOURCE, operation, read_only);
    details.management = !DATA_OPERATIONS.contains(&operation);
    details.api_version = Some(API_VERSION.to_owned());
    let parameters = redact(input);
    details.request_parameters = Some(if parameters.as_object().is_some_and(|m| m.is_empty()) {
        Value::Null
    } else {
        request_parameters(EmbeddedModel::Sqs, operation, &parameters)
    });
    details.response_elements = match (operation, output) {
        ("ReceiveMessage", _) | (_, None) => Some(Value::Null),
        (_, Some(output)) => Some(response_elements(EmbeddedModel::Sqs, operation, output)),
    };
    if let Some(err) = error {
        details.error = Some((err.query_code().to_owned(), err.to_string()));
    }
    let key = input
        .get("QueueUrl")
        .and_then(Value::as_str)
        .and_then(|url| ops::key_from_url(url, &ctx.account_id, &ctx.region).ok())
        .or_else(|| {
            let name = input.get("QueueName").and_then(Value::as_str)?;
            ops::key_from_url(name, &ctx.account_id, &ctx.region).ok()
        });
    if let Some(key) = key {
        details.resources.push(Resource {
            account_id: Some(key.account.clone()),
            resource_type: Some("AWS::SQS::Queue".into()),
            arn: Some(key.arn()),
        });
    }
    Some(details)
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
    fn message_calls_are_data_events() {
        let ctx = RequestContext {
            request_id: "r".into(),
            event_id: "e".into(),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            identity: opentrail_model::Identity::root("123456789012", "AKID"),
            source_ip: "127.0.0.1".into(),
            user_agent: None,
            time: time::OffsetDateTime::UNIX_EPOCH,
            host: None,
        };
        let input = json!({"QueueUrl": "http://h/123456789012/q", "MessageBody": "b"});
        let output = json!({"MessageId": "m", "MD5OfMessageBody": "x"});
        let details =
            details_for(&ctx, "SendMessage", &input, Some(&output), None).expect("details");
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
        let details = details_for(
            &ctx,
            "CreateQueue",
            &json!({"QueueName": "q"}),
            None,
            Some(&SqsError::QueueDoesNotExist),
        )
        .expect("details");
        assert!(details.management);
        assert_eq!(
            details.error.as_ref().map(|e| e.0.as_str()),
            Some("AWS.SimpleQueueService.NonExistentQueue")
        );
    }
}
