//! A message as it goes out to subscribers: [`Outgoing`] (validated by Publish or PublishBatch,
//! or made by another service), its [`Attribute`]s, and the JSON [`envelope`] a non-raw
//! subscriber gets.
//!
//! Publishing ([`super::publish`]), filter policies ([`super::filter`]) and delivery
//! ([`super::delivery`]) all read it, so it sits below them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::sign::SignatureCache;
use super::store::Subscription;
use opentrail_core::AppState;

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
