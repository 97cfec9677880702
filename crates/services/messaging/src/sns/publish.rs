//! Publish and PublishBatch: validation, filter policies, and fan-out to the subscriptions —
//! into SQS queues (durable before the call returns) and to HTTP(S) endpoints by a background
//! task, both through [`super::delivery`]. Email, email-json, SMS and application endpoints
//! are not delivered to (their subscriptions stay pending confirmation).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use opentrail_api::XmlWriter;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Call;
use super::delivery::{self, deliver_sqs, redrive};
use super::error::SnsError;
use super::filter::FilterPolicy;
use super::message::{Attribute, Outgoing, envelope, timestamp_now};
use super::params::Params;
use super::store::{self, Subscription, Topic};
use super::topics::topic_for;
use opentrail_core::AppState;

/// The largest message SNS accepts (256 KiB).
const MAX_MESSAGE_BYTES: usize = 262_144;
const MAX_BATCH: usize = 10;

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
