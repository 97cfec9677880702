//! Topics and subscriptions, durable in the metadata store (tables `sns.topics` keyed by
//! topic ARN and `sns.subscriptions` keyed by subscription ARN). Every record carries a
//! format version.

use std::collections::BTreeMap;

use opentrail_meta::Meta;
use serde::{Deserialize, Serialize};

use super::error::SnsError;

const TOPICS: &str = "sns.topics";
const SUBSCRIPTIONS: &str = "sns.subscriptions";
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Topic {
    pub format: u32,
    pub arn: String,
    pub name: String,
    pub account: String,
    /// Attributes set by the caller (`DisplayName`, `Policy`, `FifoTopic`, …).
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

impl Topic {
    pub fn fifo(&self) -> bool {
        self.attributes.get("FifoTopic").map(String::as_str) == Some("true")
    }

    pub fn content_based_dedup(&self) -> bool {
        self.attributes
            .get("ContentBasedDeduplication")
            .map(String::as_str)
            == Some("true")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subscription {
    pub format: u32,
    pub arn: String,
    pub topic_arn: String,
    pub owner: String,
    pub protocol: String,
    pub endpoint: String,
    /// `RawMessageDelivery`, `FilterPolicy`, `FilterPolicyScope`, `RedrivePolicy`, …
    pub attributes: BTreeMap<String, String>,
    pub confirmed: bool,
    /// The confirmation token of a pending subscription.
    pub token: String,
}

impl Subscription {
    pub fn raw(&self) -> bool {
        self.attributes
            .get("RawMessageDelivery")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

pub fn get_topic(meta: &Meta, arn: &str) -> Result<Option<Topic>, SnsError> {
    Ok(meta.get(TOPICS, arn)?)
}

pub fn topic(meta: &Meta, arn: &str) -> Result<Topic, SnsError> {
    get_topic(meta, arn)?.ok_or_else(SnsError::topic_not_found)
}

pub fn put_topic(meta: &Meta, topic: &Topic) -> Result<(), SnsError> {
    Ok(meta.put(TOPICS, &topic.arn, topic)?)
}

pub fn topics(meta: &Meta) -> Result<Vec<Topic>, SnsError> {
    Ok(meta
        .list::<Topic>(TOPICS, "")?
        .into_iter()
        .map(|(_, t)| t)
        .collect())
}

/// Deletes a topic and its subscriptions.
pub fn delete_topic(meta: &Meta, arn: &str) -> Result<(), SnsError> {
    let subs = subscriptions_of(meta, arn)?;
    meta.write(|txn| {
        txn.delete(TOPICS, arn)?;
        for sub in &subs {
            txn.delete(SUBSCRIPTIONS, &sub.arn)?;
        }
        Ok::<(), opentrail_meta::MetaError>(())
    })?;
    Ok(())
}

pub fn get_subscription(meta: &Meta, arn: &str) -> Result<Option<Subscription>, SnsError> {
    Ok(meta.get(SUBSCRIPTIONS, arn)?)
}

pub fn put_subscription(meta: &Meta, sub: &Subscription) -> Result<(), SnsError> {
    Ok(meta.put(SUBSCRIPTIONS, &sub.arn, sub)?)
}

pub fn delete_subscription(meta: &Meta, arn: &str) -> Result<bool, SnsError> {
    Ok(meta.delete(SUBSCRIPTIONS, arn)?)
}

pub fn subscriptions(meta: &Meta) -> Result<Vec<Subscription>, SnsError> {
    Ok(meta
        .list::<Subscription>(SUBSCRIPTIONS, "")?
        .into_iter()
        .map(|(_, s)| s)
        .collect())
}

/// The subscriptions of one topic (their ARNs start with the topic ARN and a colon).
pub fn subscriptions_of(meta: &Meta, topic_arn: &str) -> Result<Vec<Subscription>, SnsError> {
    Ok(meta
        .list::<Subscription>(SUBSCRIPTIONS, &format!("{topic_arn}:"))?
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| s.topic_arn == topic_arn)
        .collect())
}
