//! Publish and PublishBatch: validation, filter policies, and delivery — into SQS queues
//! through the SQS engine (durable before the call returns), to HTTP(S) endpoints by a
//! background task ([`super::delivery`]). Email, email-json, SMS and application endpoints
//! are not delivered to (their subscriptions stay pending confirmation).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use opentrail_api::XmlWriter;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::error::SnsError;
use super::filter::FilterPolicy;
use super::params::Params;
use super::sign::SignatureCache;
use super::store::{self, Subscription, Topic};
use super::topics::topic_for;
use super::{Call, delivery};
use crate::sqs;
use opentrail_core::AppState;

/// The largest message SNS accepts (256 KiB).
const MAX_MESSAGE_BYTES: usize = 262_144;
const MAX_BATCH: usize = 10;

/// One message attribute as published.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub data_type: String,
    pub string_value: Option<String>,
    pub binary_value: Option<String>,
}

/// A validated message, ready for delivery.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub message_id: String,
    pub topic_arn: String,
    /// The default message (or the whole message when no structure is given).
    pub message: String,
    /// `MessageStructure=json`: per-protocol messages.
    pub per_protocol: Option<Map<String, Value>>,
    pub subject: Option<String>,
    pub attributes: BTreeMap<String, Attribute>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    pub sequence_number: Option<String>,
    pub timestamp: String,
    /// The topic's `SignatureVersion` (`1` or `2`).
    pub signature_version: String,
    /// The envelope signatures made for this message, shared by its subscriptions.
    pub signatures: std::sync::Arc<SignatureCache>,
}

impl Outgoing {
    /// The message a subscriber of `protocol` gets.
    pub fn message_for(&self, protocol: &str) -> &str {
        self.per_protocol
            .as_ref()
            .and_then(|map| map.get(protocol))
            .and_then(Value::as_str)
            .unwrap_or(&self.message)
    }
}

/// `2012-05-02T00:54:06.655Z`, the timestamp format of SNS envelopes.
pub fn timestamp_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

fn parse_attributes(params: &Params) -> Result<BTreeMap<String, Attribute>, SnsError> {
    let mut out = BTreeMap::new();
    for (name, value) in params.message_attributes("MessageAttributes") {
        let data_type = value.get("DataType").unwrap_or("").to_owned();
        let base = data_type.split('.').next().unwrap_or("");
        if name.is_empty() || name.len() > 256 || name.starts_with("AWS.") {
            return Err(SnsError::InvalidParameter(format!(
                "Invalid parameter: MessageAttributes Reason: The message attribute name '{name}' is invalid."
            )));
        }
        if !matches!(base, "String" | "Number" | "Binary") {
            return Err(SnsError::InvalidParameter(format!(
                "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
            )));
        }
        let string_value = value.get("StringValue").map(str::to_owned);
        let binary_value = value.get("BinaryValue").map(str::to_owned);
        let present = if base == "Binary" {
            binary_value.as_deref().is_some_and(|v| !v.is_empty())
        } else {
            string_value.as_deref().is_some_and(|v| !v.is_empty())
        };
        if !present {
            return Err(SnsError::InvalidParameter(format!(
                "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{data_type}'."
            )));
        }
        if base == "Number"
            && string_value
                .as_deref()
                .is_some_and(|v| v.trim().parse::<f64>().is_err())
        {
            return Err(SnsError::InvalidParameter(format!(
                "An error occurred (ParameterValueInvalid) when calling the Publish operation: Could not cast message attribute '{name}' value to number."
            )));
        }
        out.insert(
            name,
            Attribute {
                data_type,
                string_value,
                binary_value,
            },
        );
    }
    Ok(out)
}

fn next_sequence_number() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let micros = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) % 1000;
    format!("{:017}{n:03}", micros)
}

/// Validates one message (a Publish call or one batch entry) for `topic`.
pub fn parse_outgoing(topic: &Topic, params: &Params) -> Result<Outgoing, SnsError> {
    let Some(message) = params.get("Message") else {
        return Err(SnsError::invalid("Message"));
    };
    if message.is_empty() {
        return Err(SnsError::invalid("Empty message"));
    }
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(SnsError::invalid("Message too long"));
    }
    let subject = params.get("Subject").map(str::to_owned);
    if subject
        .as_ref()
        .is_some_and(|subject| subject.chars().count() > 100)
    {
        return Err(SnsError::InvalidParameter(
            "Subject must be less than 100 characters".into(),
        ));
    }
    if let Some(subject) = &subject
        && (subject.is_empty() || subject.chars().any(|c| c.is_control()))
    {
        return Err(SnsError::invalid("Subject"));
    }
    let (message, per_protocol) = match params.get("MessageStructure") {
        Some("json") => {
            let parsed: Value = serde_json::from_str(message).map_err(|_| {
                SnsError::invalid("Message Structure - JSON message body failed to parse")
            })?;
            let Some(map) = parsed.as_object() else {
                return Err(SnsError::invalid(
                    "Message Structure - JSON message body failed to parse",
                ));
            };
            let Some(default) = map.get("default").and_then(Value::as_str) else {
                return Err(SnsError::invalid(
                    "Message Structure - No default entry in JSON message body",
                ));
            };
            (default.to_owned(), Some(map.clone()))
        }
        Some(other) => {
            return Err(SnsError::invalid(&format!(
                "MessageStructure Reason: {other} is not a valid message structure"
            )));
        }
        None => (message.to_owned(), None),
    };
    let attributes = parse_attributes(params)?;
    let group_id = params.get("MessageGroupId").map(str::to_owned);
    let mut dedup_id = params.get("MessageDeduplicationId").map(str::to_owned);
    if topic.fifo() {
        if group_id.is_none() {
            return Err(SnsError::invalid(
                "The request must contain the parameter MessageGroupId.",
            ));
        }
        if dedup_id.is_none() {
            if !topic.content_based_dedup() {
                return Err(SnsError::invalid(
                    "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                ));
            }
            dedup_id = Some(hex::encode(Sha256::digest(message.as_bytes())));
        }
    } else if dedup_id.is_some() {
        return Err(SnsError::invalid(
            "MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type",
        ));
    }
    Ok(Outgoing {
        message_id: uuid::Uuid::new_v4().to_string(),
        topic_arn: topic.arn.clone(),
        message,
        per_protocol,
        subject,
        attributes,
        sequence_number: topic.fifo().then(next_sequence_number),
        group_id,
        dedup_id,
        timestamp: timestamp_now(),
        signature_version: topic
            .attributes
            .get("SignatureVersion")
            .cloned()
            .unwrap_or_else(|| "1".to_owned()),
        signatures: std::sync::Arc::default(),
    })
}

/// Whether `sub` wants `outgoing` (confirmed, and its filter policy passes).
fn wants(sub: &Subscription, outgoing: &Outgoing) -> bool {
    if !sub.confirmed {
        return false;
    }
    let Some(policy) = sub.attributes.get("FilterPolicy").filter(|p| !p.is_empty()) else {
        return true;
    };
    let scope = sub
        .attributes
        .get("FilterPolicyScope")
        .map_or("MessageAttributes", String::as_str);
    match FilterPolicy::parse(policy, scope) {
        Ok(policy) => policy.matches(outgoing.message_for(&sub.protocol), &outgoing.attributes),
        Err(_) => false,
    }
}

/// The JSON envelope (`Type: Notification`) a non-raw subscriber gets.
pub fn envelope(
    state: &AppState,
    base_url: &str,
    sub: &Subscription,
    outgoing: &Outgoing,
) -> Value {
    let message = outgoing.message_for(&sub.protocol);
    let mut envelope = Map::new();
    envelope.insert("Type".into(), json!("Notification"));
    envelope.insert("MessageId".into(), json!(outgoing.message_id));
    if let Some(seq) = &outgoing.sequence_number {
        envelope.insert("SequenceNumber".into(), json!(seq));
    }
    envelope.insert("TopicArn".into(), json!(outgoing.topic_arn));
    if let Some(subject) = &outgoing.subject {
        envelope.insert("Subject".into(), json!(subject));
    }
    envelope.insert("Message".into(), json!(message));
    envelope.insert("Timestamp".into(), json!(outgoing.timestamp));
    envelope.insert(
        "UnsubscribeURL".into(),
        json!(format!(
            "{base_url}/_opentrail/sns/unsubscribe?SubscriptionArn={}",
            sub.arn
        )),
    );
    if !outgoing.attributes.is_empty() {
        let attributes: Map<String, Value> = outgoing
            .attributes
            .iter()
            .map(|(name, attribute)| {
                let value = attribute
                    .string_value
                    .clone()
                    .or_else(|| attribute.binary_value.clone())
                    .unwrap_or_default();
                (
                    name.clone(),
                    json!({"Type": attribute.data_type, "Value": value}),
                )
            })
            .collect();
        envelope.insert("MessageAttributes".into(), Value::Object(attributes));
    }
    super::sign::sign_envelope(
        state,
        base_url,
        &outgoing.signature_version,
        &mut envelope,
        Some(&outgoing.signatures),
    );
    Value::Object(envelope)
}

/// `(region, account, name)` of an SQS queue ARN.
fn queue_of(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("sqs"), Some(region), Some(account), Some(name)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    Some((region, account, name))
}

/// Sends one message into the queue of an `sqs` subscription; durable when it returns.
async fn deliver_sqs(
    state: &AppState,
    base_url: &str,
    sub: &Subscription,
    outgoing: &Outgoing,
) -> Result<(), String> {
    let (region, account, name) =
        queue_of(&sub.endpoint).ok_or_else(|| format!("not a queue arn: {}", sub.endpoint))?;
    let engine = sqs::store::engine_for(state).map_err(|e| e.to_string())?;
    let mut input = Map::new();
    input.insert("QueueUrl".into(), json!(name));
    if sub.raw() {
        input.insert(
            "MessageBody".into(),
            json!(outgoing.message_for(&sub.protocol)),
        );
        let attributes: Map<String, Value> = outgoing
            .attributes
            .iter()
            .map(|(name, attribute)| {
                let mut value = Map::new();
                value.insert("DataType".into(), json!(attribute.data_type));
                if let Some(text) = &attribute.string_value {
                    value.insert("StringValue".into(), json!(text));
                }
                if let Some(binary) = &attribute.binary_value {
                    value.insert("BinaryValue".into(), json!(binary));
                }
                (name.clone(), Value::Object(value))
            })
            .collect();
        if !attributes.is_empty() {
            input.insert("MessageAttributes".into(), Value::Object(attributes));
        }
    } else {
        input.insert(
            "MessageBody".into(),
            json!(envelope(state, base_url, sub, outgoing).to_string()),
        );
    }
    if let Some(group) = &outgoing.group_id {
        input.insert("MessageGroupId".into(), json!(group));
    }
    if let Some(dedup) = &outgoing.dedup_id {
        input.insert("MessageDeduplicationId".into(), json!(dedup));
    }
    let call = sqs::ops::Call {
        engine: &engine,
        account,
        region,
        base_url: base_url.to_owned(),
        sender_id: account,
        shutdown: state.shutdown.subscribe(),
    };
    sqs::messages::send_message(&call, &Value::Object(input))
        .await
        .map(|_| ())
        .map_err(|err| err.to_string())
}

/// Sends a message its subscription's queue did not take to the subscription's dead-letter
/// queue (`RedrivePolicy.deadLetterTargetArn`), in the subscription's format.
pub(super) async fn redrive(
    state: &AppState,
    base_url: &str,
    sub: &Subscription,
    outgoing: &Outgoing,
) {
    let Some(target) = sub
        .attributes
        .get("RedrivePolicy")
        .and_then(|policy| serde_json::from_str::<Value>(policy).ok())
        .and_then(|policy| {
            policy
                .get("deadLetterTargetArn")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    else {
        return;
    };
    let mut dead_letter = sub.clone();
    dead_letter.endpoint = target;
    if let Err(err) = deliver_sqs(state, base_url, &dead_letter, outgoing).await {
        tracing::warn!(subscription = %sub.arn, error = %err, "sns redrive to the dead-letter queue failed");
    }
}

/// Delivers one message to every subscription of its topic that wants it. SQS deliveries
/// are durable when this returns; HTTP(S) deliveries run in the background.
pub async fn fan_out(state: &std::sync::Arc<AppState>, base_url: &str, outgoing: &Outgoing) {
    fan_out_all(state, base_url, std::slice::from_ref(outgoing)).await;
}

/// Delivers messages of one topic (a Publish or a PublishBatch) to every subscription that
/// wants them. The SQS deliveries are handed to the SQS log in message order, then awaited
/// together, so that they share group commits; they are durable when this returns.
pub async fn fan_out_all(state: &std::sync::Arc<AppState>, base_url: &str, outgoings: &[Outgoing]) {
    let Some(first) = outgoings.first() else {
        return;
    };
    debug_assert!(outgoings.iter().all(|o| o.topic_arn == first.topic_arn));
    let subs = match store::subscriptions_of(&state.meta, &first.topic_arn) {
        Ok(subs) => subs,
        Err(_) => return,
    };
    let mut sqs_deliveries = Vec::new();
    for outgoing in outgoings {
        for sub in subs.iter().filter(|sub| wants(sub, outgoing)) {
            match sub.protocol.as_str() {
                "sqs" => {
                    let delivery: std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>> =
                        Box::pin(async move {
                            if let Err(err) = deliver_sqs(state, base_url, sub, outgoing).await {
                                tracing::warn!(subscription = %sub.arn, error = %err, "sns delivery to sqs failed");
                                redrive(state, base_url, sub, outgoing).await;
                            }
                        });
                    sqs_deliveries.push(futures::future::maybe_done(delivery));
                }
                "http" | "https" => {
                    let body = if sub.raw() {
                        outgoing.message_for(&sub.protocol).to_owned()
                    } else {
                        envelope(state, base_url, sub, outgoing).to_string()
                    };
                    delivery::queue_post(
                        state,
                        sub.endpoint.clone(),
                        delivery::Headers {
                            message_type: "Notification",
                            message_id: outgoing.message_id.clone(),
                            topic_arn: outgoing.topic_arn.clone(),
                            subscription_arn: Some(sub.arn.clone()),
                            raw: sub.raw(),
                        },
                        body,
                        Some((sub.clone(), outgoing.clone(), base_url.to_owned())),
                    );
                }
                // Email, SMS, application and Lambda endpoints are not reached from here.
                _ => {}
            }
        }
    }
    // The first poll of a delivery appends its message to the SQS log (up to the wait for
    // durability): polling them once in order keeps each queue's messages in publish order.
    for delivery in &mut sqs_deliveries {
        let _ = futures::poll!(std::pin::Pin::new(delivery));
    }
    futures::future::join_all(sqs_deliveries).await;
}

/// Publishes one message from inside the server (trail notifications, EventBridge targets,
/// alarm actions), with an optional subject.
pub async fn publish_internal(
    state: &std::sync::Arc<AppState>,
    base_url: &str,
    topic_arn: &str,
    message: &str,
    subject: Option<&str>,
) -> Result<String, SnsError> {
    let topic = store::topic(&state.meta, topic_arn)?;
    let mut params = Params::default();
    params.0.push(("Message".into(), message.to_owned()));
    if let Some(subject) = subject {
        params.0.push(("Subject".into(), subject.to_owned()));
    }
    if topic.fifo() {
        params
            .0
            .push(("MessageGroupId".into(), "cloudtrail".into()));
        params.0.push((
            "MessageDeduplicationId".into(),
            uuid::Uuid::new_v4().simple().to_string(),
        ));
    }
    let outgoing = parse_outgoing(&topic, &params)?;
    fan_out(state, base_url, &outgoing).await;
    Ok(outgoing.message_id)
}

pub async fn publish(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    if call.params.get("PhoneNumber").is_some() && call.params.get("TopicArn").is_none() {
        // SMS is not sent anywhere; the message is accepted as AWS would.
        let mut xml = XmlWriter::new();
        xml.elem("MessageId", &uuid::Uuid::new_v4().to_string());
        return Ok(Some(xml.finish()));
    }
    let field = if call.params.get("TopicArn").is_some() {
        "TopicArn"
    } else {
        "TargetArn"
    };
    let topic = topic_for(call, field)?;
    let outgoing = parse_outgoing(&topic, call.params)?;
    fan_out(call.state, &call.base_url, &outgoing).await;
    let mut xml = XmlWriter::new();
    xml.elem("MessageId", &outgoing.message_id);
    xml.opt_elem("SequenceNumber", outgoing.sequence_number.as_deref());
    Ok(Some(xml.finish()))
}

pub async fn publish_batch(call: &Call<'_>) -> Result<Option<String>, SnsError> {
    let topic = topic_for(call, "TopicArn")?;
    let entries = call.params.members("PublishBatchRequestEntries");
    if entries.is_empty() {
        return Err(SnsError::Client(
            "EmptyBatchRequest",
            "The batch request doesn't contain any entries".into(),
        ));
    }
    if entries.len() > MAX_BATCH {
        return Err(SnsError::Client(
            "TooManyEntriesInBatchRequest",
            "The batch request contains more entries than permissible.".into(),
        ));
    }
    let mut ids = HashSet::new();
    for entry in &entries {
        let id = entry.get("Id").unwrap_or("");
        if id.is_empty()
            || id.len() > 80
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SnsError::Client(
                "InvalidBatchEntryId",
                "The Id of a batch entry in a batch request doesn't abide by the specification."
                    .into(),
            ));
        }
        if !ids.insert(id) {
            return Err(SnsError::Client(
                "BatchEntryIdsNotDistinct",
                "Two or more batch entries in the request have the same Id.".into(),
            ));
        }
    }
    if topic.fifo() && entries.iter().any(|e| e.get("MessageGroupId").is_none()) {
        return Err(SnsError::invalid(
            "The MessageGroupId parameter is required for FIFO topics",
        ));
    }
    let mut successful = XmlWriter::new();
    let mut failed = XmlWriter::new();
    let mut accepted = Vec::with_capacity(entries.len());
    for entry in &entries {
        let id = entry.get("Id").unwrap_or("");
        match parse_outgoing(&topic, entry) {
            Ok(outgoing) => {
                successful
                    .open("member")
                    .elem("Id", id)
                    .elem("MessageId", &outgoing.message_id)
                    .opt_elem("SequenceNumber", outgoing.sequence_number.as_deref())
                    .close("member");
                accepted.push(outgoing);
            }
            Err(err) => {
                failed
                    .open("member")
                    .elem("Id", id)
                    .elem("Code", err.aws_code())
                    .elem("Message", &err.to_string())
                    .elem("SenderFault", "true")
                    .close("member");
            }
        }
    }
    fan_out_all(call.state, &call.base_url, &accepted).await;
    let mut xml = XmlWriter::new();
    xml.open("Successful")
        .raw(&successful.finish())
        .close("Successful")
        .open("Failed")
        .raw(&failed.finish())
        .close("Failed");
    Ok(Some(xml.finish()))
}
