//! One queue in memory: its configuration, its messages and the indexes that serve receives.
//!
//! A message is *ready* (visible, in [`Queue::ready`], ordered by its global sequence number,
//! which is send order), or *waiting* until `visible_at_ms` (delayed, or in flight after a
//! receive) in a min-heap of deadlines. [`Queue::promote`] moves due messages back to ready;
//! heap entries whose deadline no longer matches the message are stale and skipped, so a
//! visibility change only pushes a new entry. FIFO groups with a message in flight are locked:
//! [`Queue::group_inflight`] counts their in-flight messages.
//!
//! Everything here is deterministic given the times passed in: the store replays its log
//! through the same methods.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// How long a FIFO deduplication id suppresses duplicates.
pub const DEDUP_WINDOW_MS: Millis = 5 * 60 * 1000;

/// Which queue: queues are per account and region.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QueueKey {
    pub account: String,
    pub region: String,
    pub name: String,
}

impl QueueKey {
    pub fn arn(&self) -> String {
        format!("arn:aws:sqs:{}:{}:{}", self.region, self.account, self.name)
    }
}

/// A message attribute value; binary values stay base64-encoded as they arrived.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributeValue {
    #[serde(rename = "t")]
    pub data_type: String,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<String>,
    #[serde(rename = "sl", default, skip_serializing_if = "Vec::is_empty")]
    pub string_list_values: Vec<String>,
    #[serde(rename = "bl", default, skip_serializing_if = "Vec::is_empty")]
    pub binary_list_values: Vec<String>,
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Global, strictly increasing; send order; the FIFO sequence number.
    pub seq: u64,
    pub id: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, AttributeValue>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub system_attributes: BTreeMap<String, AttributeValue>,
    pub md5_body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5_attributes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5_system_attributes: Option<String>,
    pub sent_ms: Millis,
    pub sender_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_id: Option<String>,
    #[serde(default)]
    pub receive_count: u32,
    #[serde(default)]
    pub first_receive_ms: Millis,
    pub visible_at_ms: Millis,
    #[serde(default)]
    pub in_flight: bool,
    /// Changes on every receive; part of the receipt handle.
    #[serde(default)]
    pub receipt_nonce: u64,
}

impl Message {
    /// The FIFO sequence number (20 digits).
    pub fn sequence_number(&self) -> String {
        format!("{:020}", self.seq)
    }

    /// The size SQS counts against `MaximumMessageSize`: body plus attribute names, types
    /// and values.
    pub fn size(&self) -> usize {
        self.body.len() + attributes_size(&self.attributes)
    }
}

/// Bytes of attribute names, types and values as SQS counts them.
pub fn attributes_size(attributes: &BTreeMap<String, AttributeValue>) -> usize {
    attributes
        .iter()
        .map(|(name, value)| {
            name.len()
                + value.data_type.len()
                + value.string_value.as_ref().map_or(0, String::len)
                + value.binary_value.as_ref().map_or(0, |b| b.len() * 3 / 4)
                + value
                    .string_list_values
                    .iter()
                    .map(String::len)
                    .sum::<usize>()
                + value
                    .binary_list_values
                    .iter()
                    .map(|b| b.len() * 3 / 4)
                    .sum::<usize>()
        })
        .sum()
}

/// A FIFO deduplication record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DedupEntry {
    pub expires_ms: Millis,
    pub message_id: String,
    pub seq: u64,
}

/// A queue's persistent configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueMeta {
    pub key: QueueKey,
    pub created_s: u64,
    pub modified_s: u64,
    /// Settable attributes as AWS returns them (strings).
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub last_purge_ms: Millis,
}

impl QueueMeta {
    pub fn fifo(&self) -> bool {
        self.attributes.get("FifoQueue").map(String::as_str) == Some("true")
    }

    pub fn int_attribute(&self, name: &str, default: u64) -> u64 {
        self.attributes
            .get(name)
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    }

    pub fn content_based_dedup(&self) -> bool {
        self.attributes
            .get("ContentBasedDeduplication")
            .map(String::as_str)
            == Some("true")
    }

    /// `(dead-letter queue ARN, maxReceiveCount)` of the redrive policy.
    pub fn redrive(&self) -> Option<(String, u32)> {
        let policy: serde_json::Value =
            serde_json::from_str(self.attributes.get("RedrivePolicy")?).ok()?;
        let arn = policy.get("deadLetterTargetArn")?.as_str()?.to_owned();
        let count = match policy.get("maxReceiveCount")? {
            serde_json::Value::Number(n) => n.as_u64()?,
            serde_json::Value::String(s) => s.parse().ok()?,
            _ => return None,
        };
        Some((arn, u32::try_from(count).unwrap_or(u32::MAX)))
    }
}

/// A queue with its messages and receive indexes.
#[derive(Debug)]
pub struct Queue {
    pub meta: QueueMeta,
    pub messages: BTreeMap<u64, Message>,
    pub ready: BTreeSet<u64>,
    waiting: BinaryHeap<Reverse<(Millis, u64)>>,
    pub group_inflight: HashMap<String, u32>,
    pub dedup: HashMap<String, DedupEntry>,
    /// Woken when messages may have become receivable (long polling).
    pub notify: Arc<Notify>,
}

impl Queue {
    pub fn new(meta: QueueMeta) -> Queue {
        Queue {
            meta,
            messages: BTreeMap::new(),
            ready: BTreeSet::new(),
            waiting: BinaryHeap::new(),
            group_inflight: HashMap::new(),
            dedup: HashMap::new(),
            notify: Arc::new(Notify::new()),
        }
    }

    /// Adds a message; it becomes ready at `visible_at_ms` (see [`Queue::promote`]).
    pub fn insert(&mut self, message: Message) {
        let seq = message.seq;
        if message.in_flight
            && let Some(group) = &message.group_id
        {
            *self.group_inflight.entry(group.clone()).or_default() += 1;
        }
        self.waiting.push(Reverse((message.visible_at_ms, seq)));
        self.messages.insert(seq, message);
    }

    /// Removes a message from every index.
    pub fn remove(&mut self, seq: u64) -> Option<Message> {
        let message = self.messages.remove(&seq)?;
        self.ready.remove(&seq);
        if message.in_flight {
            self.release_group(message.group_id.as_deref());
        }
        Some(message)
    }

    fn release_group(&mut self, group: Option<&str>) {
        let Some(group) = group else { return };
        if let Some(count) = self.group_inflight.get_mut(group) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.group_inflight.remove(group);
            }
        }
    }

    /// Marks a message received: in flight until `visible_at_ms`.
    pub fn mark_received(&mut self, seq: u64, at_ms: Millis, visible_at_ms: Millis, nonce: u64) {
        let Some(message) = self.messages.get_mut(&seq) else {
            return;
        };
        message.receive_count += 1;
        if message.first_receive_ms == 0 {
            message.first_receive_ms = at_ms;
        }
        message.visible_at_ms = visible_at_ms;
        message.receipt_nonce = nonce;
        let was_in_flight = std::mem::replace(&mut message.in_flight, true);
        let group = message.group_id.clone();
        self.ready.remove(&seq);
        if !was_in_flight && let Some(group) = group {
            *self.group_inflight.entry(group).or_default() += 1;
        }
        self.waiting.push(Reverse((visible_at_ms, seq)));
    }

    /// Changes when an in-flight message becomes visible again.
    pub fn set_visibility(&mut self, seq: u64, visible_at_ms: Millis) {
        let Some(message) = self.messages.get_mut(&seq) else {
            return;
        };
        message.visible_at_ms = visible_at_ms;
        self.ready.remove(&seq);
        self.waiting.push(Reverse((visible_at_ms, seq)));
    }

    /// Moves every message whose deadline has passed to ready; returns the next deadline.
    pub fn promote(&mut self, now: Millis) -> Option<Millis> {
        while let Some(Reverse((deadline, seq))) = self.waiting.peek().copied() {
            if deadline > now {
                return Some(deadline);
            }
            self.waiting.pop();
            let Some(message) = self.messages.get_mut(&seq) else {
                continue;
            };
            if message.visible_at_ms != deadline || self.ready.contains(&seq) {
                continue;
            }
            let released = std::mem::replace(&mut message.in_flight, false);
            let group = message.group_id.clone();
            self.ready.insert(seq);
            if released {
                self.release_group(group.as_deref());
            }
        }
        None
    }

    /// Drops every message (PurgeQueue).
    pub fn purge(&mut self, at_ms: Millis) {
        self.messages.clear();
        self.ready.clear();
        self.waiting.clear();
        self.group_inflight.clear();
        self.meta.last_purge_ms = at_ms;
    }

    /// The deduplication key of a FIFO message, by the queue's `DeduplicationScope`.
    pub fn dedup_key(&self, group: Option<&str>, dedup_id: &str) -> String {
        match self
            .meta
            .attributes
            .get("DeduplicationScope")
            .map(String::as_str)
        {
            Some("messageGroup") => format!("{}\u{0}{dedup_id}", group.unwrap_or("")),
            _ => dedup_id.to_owned(),
        }
    }

    /// The unexpired deduplication record for `key`, if any.
    pub fn find_duplicate(&self, key: &str, now: Millis) -> Option<&DedupEntry> {
        self.dedup.get(key).filter(|entry| entry.expires_ms > now)
    }

    /// Forgets expired deduplication records.
    pub fn prune_dedup(&mut self, now: Millis) {
        if self.dedup.len() > 1024 {
            self.dedup.retain(|_, entry| entry.expires_ms > now);
        }
    }

    /// `(visible, in flight, delayed)` counts after promoting due messages.
    pub fn counts(&mut self, now: Millis) -> (usize, usize, usize) {
        self.promote(now);
        let in_flight = self.messages.values().filter(|m| m.in_flight).count();
        let visible = self.ready.len();
        let delayed = self.messages.len() - visible - in_flight;
        (visible, in_flight, delayed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, fifo: bool) -> QueueMeta {
        let mut attributes = BTreeMap::new();
        if fifo {
            attributes.insert("FifoQueue".to_owned(), "true".to_owned());
        }
        QueueMeta {
            key: QueueKey {
                account: "123456789012".into(),
                region: "us-east-1".into(),
                name: name.into(),
            },
            created_s: 0,
            modified_s: 0,
            attributes,
            tags: BTreeMap::new(),
            last_purge_ms: 0,
        }
    }

    fn message(seq: u64, group: Option<&str>, visible_at_ms: Millis) -> Message {
        Message {
            seq,
            id: format!("m{seq}"),
            body: "b".into(),
            attributes: BTreeMap::new(),
            system_attributes: BTreeMap::new(),
            md5_body: String::new(),
            md5_attributes: None,
            md5_system_attributes: None,
            sent_ms: 0,
            sender_id: "s".into(),
            group_id: group.map(str::to_owned),
            dedup_id: None,
            receive_count: 0,
            first_receive_ms: 0,
            visible_at_ms,
            in_flight: false,
            receipt_nonce: 0,
        }
    }

    #[test]
    fn visibility_timeout_hides_then_returns_a_message() {
        let mut queue = Queue::new(meta("q", false));
        queue.insert(message(1, None, 0));
        queue.insert(message(2, None, 500)); // delayed until 500
        assert_eq!(queue.promote(100), Some(500));
        assert_eq!(queue.ready.iter().copied().collect::<Vec<_>>(), vec![1]);
        assert_eq!(queue.counts(100), (1, 0, 1));

        queue.mark_received(1, 100, 1_100, 7);
        assert!(queue.ready.is_empty());
        assert_eq!(queue.counts(200), (0, 1, 1));
        assert_eq!(queue.messages[&1].receive_count, 1);
        assert_eq!(queue.messages[&1].first_receive_ms, 100);

        // Extending the timeout makes the old deadline stale.
        queue.set_visibility(1, 2_000);
        queue.promote(1_500);
        assert_eq!(queue.ready.iter().copied().collect::<Vec<_>>(), vec![2]);
        queue.promote(2_000);
        assert_eq!(queue.ready.iter().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert!(!queue.messages[&1].in_flight);
        assert_eq!(queue.counts(2_000), (2, 0, 0));

        assert!(queue.remove(1).is_some());
        assert!(queue.remove(1).is_none());
        assert_eq!(queue.counts(2_000), (1, 0, 0));
    }

    #[test]
    fn fifo_groups_lock_while_in_flight() {
        let mut queue = Queue::new(meta("q.fifo", true));
        queue.insert(message(1, Some("a"), 0));
        queue.insert(message(2, Some("a"), 0));
        queue.promote(0);
        queue.mark_received(1, 0, 1_000, 1);
        assert_eq!(queue.group_inflight.get("a"), Some(&1));
        // Deleting the in-flight message unlocks the group.
        queue.remove(1);
        assert!(queue.group_inflight.is_empty());
        queue.mark_received(2, 0, 1_000, 2);
        assert_eq!(queue.group_inflight.get("a"), Some(&1));
        // Its timeout expiring unlocks it too.
        queue.promote(1_000);
        assert!(queue.group_inflight.is_empty());
        assert!(queue.ready.contains(&2));
    }

    #[test]
    fn fifo_dedup_window_and_scope() {
        let mut queue = Queue::new(meta("q.fifo", true));
        let key = queue.dedup_key(Some("g"), "d1");
        assert_eq!(key, "d1");
        queue.dedup.insert(
            key.clone(),
            DedupEntry {
                expires_ms: DEDUP_WINDOW_MS,
                message_id: "m1".into(),
                seq: 1,
            },
        );
        assert_eq!(
            queue.find_duplicate(&key, 1).map(|e| e.message_id.as_str()),
            Some("m1")
        );
        assert!(queue.find_duplicate(&key, DEDUP_WINDOW_MS).is_none());
        queue
            .meta
            .attributes
            .insert("DeduplicationScope".into(), "messageGroup".into());
        assert_ne!(
            queue.dedup_key(Some("g1"), "d"),
            queue.dedup_key(Some("g2"), "d")
        );
    }

    #[test]
    fn redrive_policy_parses_numbers_and_strings() {
        let mut m = meta("q", false);
        m.attributes.insert(
            "RedrivePolicy".into(),
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:dlq","maxReceiveCount":"3"}"#.into(),
        );
        assert_eq!(
            m.redrive(),
            Some(("arn:aws:sqs:us-east-1:1:dlq".to_owned(), 3))
        );
    }
}
