//! What every SQS operation shares: the [`Call`] context, queue URLs, input accessors and
//! batch checks. The operations live in [`super::queues`] and [`super::messages`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::error::SqsError;
use super::queue::QueueKey;
use super::store::{Engine, Pending, now_ms};

/// The largest message (and batch) SQS accepts, 1 MiB.
pub const MAX_MESSAGE_BYTES: u64 = 1_048_576;
/// The longest visibility timeout, 12 hours.
pub const MAX_VISIBILITY: i64 = 43_200;
/// The longest delay, 15 minutes.
pub const MAX_DELAY: i64 = 900;
const MAX_BATCH: usize = 10;

/// What an operation needs besides its input.
pub struct Call<'a> {
    pub engine: &'a Arc<Engine>,
    pub account: &'a str,
    pub region: &'a str,
    /// `http://<host>` for queue URLs.
    pub base_url: String,
    pub sender_id: &'a str,
    pub shutdown: watch::Receiver<bool>,
}

impl Call<'_> {
    pub fn url(&self, key: &QueueKey) -> String {
        format!("{}/{}/{}", self.base_url, key.account, key.name)
    }

    pub(super) fn key(&self, name: &str) -> QueueKey {
        QueueKey {
            account: self.account.to_owned(),
            region: self.region.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The queue a `QueueUrl` (or bare queue name) names.
    pub fn queue_key(&self, input: &Value) -> Result<QueueKey, SqsError> {
        let url = str_field(input, "QueueUrl")
            .ok_or_else(|| SqsError::MissingParameter("QueueUrl".into()))?;
        key_from_url(url, self.account, self.region)
    }
}

/// Parses `http(s)://host/<account>/<name>` or a bare name.
pub fn key_from_url(url: &str, account: &str, region: &str) -> Result<QueueKey, SqsError> {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, path)| path),
        None => url,
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (owner, name) = match segments.as_slice() {
        [name] => (account, *name),
        [.., owner, name] => (*owner, *name),
        [] => return Err(SqsError::QueueDoesNotExist),
    };
    let owner = if owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit()) {
        owner
    } else {
        account
    };
    Ok(QueueKey {
        account: owner.to_owned(),
        region: region.to_owned(),
        name: name.to_owned(),
    })
}

pub(super) use opentrail_core::pipeline::input::{
    opt_i64 as int_field, opt_str as str_field, string_list,
};

pub(super) fn string_map(input: &Value, name: &str) -> BTreeMap<String, String> {
    input
        .get(name)
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(key, value)| {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (key.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) async fn durable(pending: Pending) -> Result<(), SqsError> {
    pending.await.map(|_| ()).map_err(|err| {
        tracing::error!(error = %err, "sqs log append failed");
        SqsError::Internal
    })
}

pub(super) fn now_s() -> u64 {
    now_ms() / 1000
}

pub(super) fn check_batch_ids(entries: &[Value], action: &str) -> Result<(), SqsError> {
    if entries.is_empty() {
        return Err(SqsError::EmptyBatchRequest(action.to_owned()));
    }
    if entries.len() > MAX_BATCH {
        return Err(SqsError::TooManyEntriesInBatchRequest(entries.len()));
    }
    let mut seen = HashSet::new();
    for entry in entries {
        let id = str_field(entry, "Id").unwrap_or("");
        if id.is_empty()
            || id.len() > 80
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SqsError::InvalidBatchEntryId);
        }
        if !seen.insert(id) {
            return Err(SqsError::BatchEntryIdsNotDistinct(id.to_owned()));
        }
    }
    Ok(())
}

pub(super) fn failed_entry(id: &str, err: &SqsError) -> Value {
    json!({"Id": id, "SenderFault": !matches!(err, SqsError::Internal), "Code": err.query_code(), "Message": err.to_string()})
}

pub(super) fn entries(input: &Value) -> Vec<Value> {
    input
        .get("Entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_and_names() {
        let key = key_from_url(
            "http://localhost:4599/123456789012/q1",
            "999999999999",
            "eu-west-1",
        )
        .expect("url");
        assert_eq!(
            (key.account.as_str(), key.name.as_str()),
            ("123456789012", "q1")
        );
        let key = key_from_url("q2", "999999999999", "eu-west-1").expect("name");
        assert_eq!(
            (key.account.as_str(), key.name.as_str()),
            ("999999999999", "q2")
        );
    }

    #[test]
    fn batch_ids_are_checked() {
        let ok = vec![json!({"Id": "a"}), json!({"Id": "b-_1"})];
        assert!(check_batch_ids(&ok, "SendMessageBatch").is_ok());
        assert!(matches!(
            check_batch_ids(&[], "SendMessageBatch"),
            Err(SqsError::EmptyBatchRequest(_))
        ));
        let twice = vec![json!({"Id": "a"}), json!({"Id": "a"})];
        assert!(matches!(
            check_batch_ids(&twice, "SendMessageBatch"),
            Err(SqsError::BatchEntryIdsNotDistinct(_))
        ));
        assert!(matches!(
            check_batch_ids(&[json!({"Id": "a b"})], "SendMessageBatch"),
            Err(SqsError::InvalidBatchEntryId)
        ));
    }
}
