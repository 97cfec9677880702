//! The SQS operations: JSON input in, JSON output out, AWS's validation and messages.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::error::SqsError;
use super::md5;
use super::queue::DedupEntry;
use super::queue::{AttributeValue, Message, Millis, Queue, QueueKey, QueueMeta, attributes_size};
use super::store::{Engine, LogOp, Pending, Received, State, dedup_expiry, now_ms};

/// The largest message (and batch) SQS accepts, 1 MiB.
pub const MAX_MESSAGE_BYTES: u64 = 1_048_576;
const MAX_VISIBILITY: i64 = 43_200;
const MAX_DELAY: i64 = 900;
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

    fn key(&self, name: &str) -> QueueKey {
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

fn str_field<'v>(input: &'v Value, name: &str) -> Option<&'v str> {
    input.get(name).and_then(Value::as_str)
}

fn int_field(input: &Value, name: &str) -> Option<i64> {
    input.get(name).and_then(Value::as_i64)
}

fn string_list(input: &Value, name: &str) -> Vec<String> {
    input
        .get(name)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(input: &Value, name: &str) -> BTreeMap<String, String> {
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

async fn durable(pending: Pending) -> Result<(), SqsError> {
    pending.await.map(|_| ()).map_err(|err| {
        tracing::error!(error = %err, "sqs log append failed");
        SqsError::Internal
    })
}

fn now_s() -> u64 {
    now_ms() / 1000
}

// ----- queues -----

const SETTABLE: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "Policy",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "VisibilityTimeout",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

const COMPUTED: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

fn valid_queue_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    !base.is_empty()
        && name.len() <= 80
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_range(name: &str, value: &str, low: i64, high: i64) -> Result<String, SqsError> {
    match value.trim().parse::<i64>() {
        Ok(number) if (low..=high).contains(&number) => Ok(number.to_string()),
        _ => Err(SqsError::InvalidAttributeValue(format!(
            "Invalid value for the parameter {name}."
        ))),
    }
}

/// Validates and normalises attributes for a queue being created or changed.
fn validate_attributes(
    state: &State,
    fifo: bool,
    attributes: &BTreeMap<String, String>,
    creating: bool,
) -> Result<BTreeMap<String, String>, SqsError> {
    let mut out = BTreeMap::new();
    for (name, value) in attributes {
        if !SETTABLE.contains(&name.as_str()) {
            return Err(SqsError::InvalidAttributeName(name.clone()));
        }
        let normalised = match name.as_str() {
            "DelaySeconds" => check_range(name, value, 0, MAX_DELAY)?,
            "MaximumMessageSize" => check_range(name, value, 1024, MAX_MESSAGE_BYTES as i64)?,
            "MessageRetentionPeriod" => check_range(name, value, 60, 1_209_600)?,
            "ReceiveMessageWaitTimeSeconds" => check_range(name, value, 0, 20)?,
            "VisibilityTimeout" => check_range(name, value, 0, MAX_VISIBILITY)?,
            "KmsDataKeyReusePeriodSeconds" => check_range(name, value, 60, 86_400)?,
            "FifoQueue" | "ContentBasedDeduplication" | "SqsManagedSseEnabled" => {
                let lower = value.to_ascii_lowercase();
                if lower != "true" && lower != "false" {
                    return Err(SqsError::InvalidAttributeValue(format!(
                        "Invalid value for the parameter {name}."
                    )));
                }
                if name == "FifoQueue" && !creating {
                    return Err(SqsError::InvalidAttributeName(name.clone()));
                }
                if name == "ContentBasedDeduplication" && !fifo {
                    return Err(SqsError::InvalidAttributeName(name.clone()));
                }
                lower
            }
            "DeduplicationScope" | "FifoThroughputLimit" if !fifo => {
                return Err(SqsError::InvalidAttributeName(name.clone()));
            }
            "DeduplicationScope" => match value.as_str() {
                "queue" | "messageGroup" => value.clone(),
                _ => {
                    return Err(SqsError::InvalidAttributeValue(format!(
                        "Invalid value for the parameter {name}."
                    )));
                }
            },
            "FifoThroughputLimit" => match value.as_str() {
                "perQueue" | "perMessageGroupId" => value.clone(),
                _ => {
                    return Err(SqsError::InvalidAttributeValue(format!(
                        "Invalid value for the parameter {name}."
                    )));
                }
            },
            "Policy" | "RedriveAllowPolicy" => {
                if !value.is_empty() && serde_json::from_str::<Value>(value).is_err() {
                    return Err(SqsError::InvalidAttributeValue(format!(
                        "Invalid value for the parameter {name}."
                    )));
                }
                value.clone()
            }
            "RedrivePolicy" => validate_redrive(state, fifo, value)?,
            _ => value.clone(),
        };
        out.insert(name.clone(), normalised);
    }
    Ok(out)
}

fn validate_redrive(state: &State, fifo: bool, value: &str) -> Result<String, SqsError> {
    if value.trim().is_empty() {
        return Ok(String::new());
    }
    let invalid = |reason: &str| {
        SqsError::InvalidParameterValue(format!(
            "Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}"
        ))
    };
    let policy: Value = serde_json::from_str(value)
        .map_err(|_| invalid("Redrive policy is not a dict or valid json"))?;
    let Some(object) = policy.as_object() else {
        return Err(invalid("Redrive policy is not a dict or valid json"));
    };
    if object.is_empty() {
        return Ok(String::new());
    }
    let arn = object
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Redrive policy does not contain deadLetterTargetArn"))?;
    let count = match object.get("maxReceiveCount") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| invalid("Redrive policy does not contain maxReceiveCount"))?;
    if !(1..=1000).contains(&count) {
        return Err(invalid(
            "Invalid value for maxReceiveCount: must be between 1 and 1000.",
        ));
    }
    let target = state
        .queues
        .values()
        .find(|queue| queue.meta.key.arn() == arn)
        .ok_or_else(|| {
            SqsError::Generic(
                "AWS.SimpleQueueService.NonExistentQueue".into(),
                format!("Could not find DLQ for {arn}"),
            )
        })?;
    if target.meta.fifo() != fifo {
        return Err(SqsError::InvalidParameterCombination(if fifo {
            "Fifo queues cannot use non fifo dead letter queues".into()
        } else {
            "Standard queues cannot use fifo dead letter queues".into()
        }));
    }
    Ok(json!({"deadLetterTargetArn": arn, "maxReceiveCount": count}).to_string())
}

fn default_attributes(fifo: bool) -> BTreeMap<String, String> {
    let mut attributes: BTreeMap<String, String> = [
        ("DelaySeconds", "0"),
        ("MaximumMessageSize", "1048576"),
        ("MessageRetentionPeriod", "345600"),
        ("ReceiveMessageWaitTimeSeconds", "0"),
        ("VisibilityTimeout", "30"),
        ("SqsManagedSseEnabled", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if fifo {
        for (k, v) in [
            ("FifoQueue", "true"),
            ("ContentBasedDeduplication", "false"),
            ("DeduplicationScope", "queue"),
            ("FifoThroughputLimit", "perQueue"),
        ] {
            attributes.insert(k.to_owned(), v.to_owned());
        }
    }
    attributes
}

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), SqsError> {
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(SqsError::InvalidParameterValue(
                "Tag keys must be between 1 and 128 characters in length.".into(),
            ));
        }
        if value.chars().count() > 256 {
            return Err(SqsError::InvalidParameterValue(
                "Tag values must be between 0 and 256 characters in length.".into(),
            ));
        }
    }
    Ok(())
}

pub async fn create_queue(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let name = str_field(input, "QueueName")
        .ok_or_else(|| SqsError::MissingParameter("QueueName".into()))?;
    if !valid_queue_name(name) {
        return Err(SqsError::InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
                .into(),
        ));
    }
    let requested = string_map(input, "Attributes");
    let tags = string_map(input, "tags");
    validate_tags(&tags)?;
    let fifo_requested = requested
        .get("FifoQueue")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let fifo_name = name.ends_with(".fifo");
    if fifo_requested && !fifo_name {
        return Err(SqsError::InvalidParameterValue(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.".into(),
        ));
    }
    if fifo_name && !fifo_requested {
        return Err(SqsError::InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
                .into(),
        ));
    }
    let key = call.key(name);
    let pending = {
        let mut state = call.engine.lock();
        let attributes = validate_attributes(&state, fifo_requested, &requested, true)?;
        if let Some(existing) = state.queues.get(&key) {
            let current = &existing.meta.attributes;
            let defaults = default_attributes(fifo_requested);
            for (name, value) in &attributes {
                let have = current
                    .get(name)
                    .or_else(|| defaults.get(name))
                    .map(String::as_str)
                    .unwrap_or("");
                if have != value {
                    return Err(SqsError::QueueNameExists(format!(
                        "A queue already exists with the same name and a different value for attribute {name}"
                    )));
                }
            }
            None
        } else {
            let mut all = default_attributes(fifo_requested);
            for (name, value) in attributes {
                if value.is_empty() {
                    all.remove(&name);
                } else {
                    all.insert(name, value);
                }
            }
            let now = now_s();
            let meta = QueueMeta {
                key: key.clone(),
                created_s: now,
                modified_s: now,
                attributes: all,
                tags,
                last_purge_ms: 0,
            };
            Some(call.engine.commit(&mut state, LogOp::PutQueue { meta }))
        }
    };
    if let Some(pending) = pending {
        durable(pending).await?;
    }
    Ok(json!({"QueueUrl": call.url(&key)}))
}

pub fn get_queue_url(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let name = str_field(input, "QueueName")
        .ok_or_else(|| SqsError::MissingParameter("QueueName".into()))?;
    let mut key = call.key(name);
    if let Some(owner) = str_field(input, "QueueOwnerAWSAccountId") {
        key.account = owner.to_owned();
    }
    let state = call.engine.lock();
    if !state.queues.contains_key(&key) {
        return Err(SqsError::QueueDoesNotExist);
    }
    Ok(json!({"QueueUrl": call.url(&key)}))
}

fn page(
    call: &Call<'_>,
    input: &Value,
    keys: Vec<QueueKey>,
    field: &str,
) -> Result<Value, SqsError> {
    let max = match int_field(input, "MaxResults") {
        Some(max) if !(1..=1000).contains(&max) => {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {max} for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
            )));
        }
        Some(max) => Some(max as usize),
        None => None,
    };
    let start = match str_field(input, "NextToken") {
        Some(token) => {
            let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    SqsError::InvalidParameterValue("Invalid NextToken value.".into())
                })?;
            Some(decoded)
        }
        None => None,
    };
    let remaining: Vec<&QueueKey> = keys
        .iter()
        .filter(|key| {
            start
                .as_ref()
                .is_none_or(|after| key.name.as_str() > after.as_str())
        })
        .collect();
    let limit = max.unwrap_or(1000);
    let shown: Vec<&QueueKey> = remaining.iter().take(limit).copied().collect();
    let mut out = Map::new();
    if !shown.is_empty() {
        out.insert(
            field.to_owned(),
            Value::Array(
                shown
                    .iter()
                    .map(|key| Value::String(call.url(key)))
                    .collect(),
            ),
        );
    }
    if max.is_some()
        && remaining.len() > shown.len()
        && let Some(last) = shown.last()
    {
        out.insert(
            "NextToken".into(),
            Value::String(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&last.name)),
        );
    }
    Ok(Value::Object(out))
}

pub fn list_queues(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let prefix = str_field(input, "QueueNamePrefix").unwrap_or("");
    let keys: Vec<QueueKey> = {
        let state = call.engine.lock();
        state
            .queues
            .keys()
            .filter(|key| {
                key.account == call.account
                    && key.region == call.region
                    && key.name.starts_with(prefix)
            })
            .cloned()
            .collect()
    };
    page(call, input, keys, "QueueUrls")
}

pub fn list_dead_letter_source_queues(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let keys: Vec<QueueKey> = {
        let state = call.engine.lock();
        if !state.queues.contains_key(&key) {
            return Err(SqsError::QueueDoesNotExist);
        }
        let arn = key.arn();
        state
            .queues
            .values()
            .filter(|queue| {
                queue
                    .meta
                    .redrive()
                    .is_some_and(|(target, _)| target == arn)
            })
            .map(|queue| queue.meta.key.clone())
            .collect()
    };
    let mut out = page(call, input, keys, "queueUrls")?;
    if out.get("queueUrls").is_none()
        && let Some(map) = out.as_object_mut()
    {
        map.insert("queueUrls".into(), Value::Array(Vec::new()));
    }
    Ok(out)
}

pub async fn delete_queue(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let pending = {
        let mut state = call.engine.lock();
        if !state.queues.contains_key(&key) {
            return Err(SqsError::QueueDoesNotExist);
        }
        call.engine.commit(&mut state, LogOp::DeleteQueue { key })
    };
    durable(pending).await?;
    Ok(json!({}))
}

pub fn get_queue_attributes(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let names = string_list(input, "AttributeNames");
    for name in &names {
        if name != "All" && !SETTABLE.contains(&name.as_str()) && !COMPUTED.contains(&name.as_str())
        {
            return Err(SqsError::InvalidAttributeName(name.clone()));
        }
    }
    let mut state = call.engine.lock();
    let queue = state
        .queues
        .get_mut(&key)
        .ok_or(SqsError::QueueDoesNotExist)?;
    if names.is_empty() {
        return Ok(json!({}));
    }
    let all = names.iter().any(|name| name == "All");
    let wanted = |name: &str| all || names.iter().any(|n| n == name);
    let mut attributes = Map::new();
    let (visible, in_flight, delayed) = queue.counts(now_ms());
    let computed = [
        ("ApproximateNumberOfMessages", visible.to_string()),
        ("ApproximateNumberOfMessagesDelayed", delayed.to_string()),
        (
            "ApproximateNumberOfMessagesNotVisible",
            in_flight.to_string(),
        ),
        ("CreatedTimestamp", queue.meta.created_s.to_string()),
        ("LastModifiedTimestamp", queue.meta.modified_s.to_string()),
        ("QueueArn", key.arn()),
    ];
    for (name, value) in computed {
        if wanted(name) {
            attributes.insert(name.to_owned(), Value::String(value));
        }
    }
    for (name, value) in &queue.meta.attributes {
        if wanted(name) && !value.is_empty() {
            attributes.insert(name.clone(), Value::String(value.clone()));
        }
    }
    if attributes.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({"Attributes": attributes}))
}

pub async fn set_queue_attributes(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let requested = string_map(input, "Attributes");
    let pending = {
        let mut state = call.engine.lock();
        let fifo = state
            .queues
            .get(&key)
            .ok_or(SqsError::QueueDoesNotExist)?
            .meta
            .fifo();
        let mut requested = requested;
        // Setting FifoQueue to its current value is accepted.
        if requested
            .get("FifoQueue")
            .is_some_and(|v| v.eq_ignore_ascii_case(&fifo.to_string()))
        {
            requested.remove("FifoQueue");
        }
        let attributes = validate_attributes(&state, fifo, &requested, false)?;
        let Some(queue) = state.queues.get(&key) else {
            return Err(SqsError::QueueDoesNotExist);
        };
        let mut meta = queue.meta.clone();
        for (name, value) in attributes {
            if value.is_empty()
                && matches!(
                    name.as_str(),
                    "RedrivePolicy" | "Policy" | "RedriveAllowPolicy" | "KmsMasterKeyId"
                )
            {
                meta.attributes.remove(&name);
            } else {
                meta.attributes.insert(name, value);
            }
        }
        meta.modified_s = now_s();
        call.engine.commit(&mut state, LogOp::PutQueue { meta })
    };
    durable(pending).await?;
    Ok(json!({}))
}

async fn update_meta(
    call: &Call<'_>,
    key: &QueueKey,
    change: impl FnOnce(&mut QueueMeta) -> Result<(), SqsError>,
) -> Result<(), SqsError> {
    let pending = {
        let mut state = call.engine.lock();
        let queue = state.queues.get(key).ok_or(SqsError::QueueDoesNotExist)?;
        let mut meta = queue.meta.clone();
        change(&mut meta)?;
        call.engine.commit(&mut state, LogOp::PutQueue { meta })
    };
    durable(pending).await
}

pub async fn tag_queue(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let tags = string_map(input, "Tags");
    if tags.is_empty() {
        return Err(SqsError::MissingParameter("Tags".into()));
    }
    validate_tags(&tags)?;
    let name = key.name.clone();
    update_meta(call, &key, |meta| {
        let mut merged = meta.tags.clone();
        merged.extend(tags);
        if merged.len() > 50 {
            return Err(SqsError::InvalidParameterValue(format!(
                "Too many tags added for queue {name}."
            )));
        }
        meta.tags = merged;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub async fn untag_queue(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let keys = string_list(input, "TagKeys");
    if keys.is_empty() {
        return Err(SqsError::InvalidParameterValue(
            "Tag keys must be between 1 and 128 characters in length.".into(),
        ));
    }
    update_meta(call, &key, |meta| {
        for tag in &keys {
            meta.tags.remove(tag);
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub fn list_queue_tags(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let state = call.engine.lock();
    let queue = state.queues.get(&key).ok_or(SqsError::QueueDoesNotExist)?;
    if queue.meta.tags.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({"Tags": queue.meta.tags}))
}

const PERMISSION_ACTIONS: &[&str] = &[
    "*",
    "ChangeMessageVisibility",
    "DeleteMessage",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "PurgeQueue",
    "ReceiveMessage",
    "SendMessage",
];

fn policy_of(meta: &QueueMeta) -> Value {
    meta.attributes
        .get("Policy")
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| {
            json!({"Version": "2012-10-17", "Id": format!("{}/SQSDefaultPolicy", meta.key.arn()), "Statement": []})
        })
}

pub async fn add_permission(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let label = str_field(input, "Label").unwrap_or("").to_owned();
    let actions = string_list(input, "Actions");
    let accounts = string_list(input, "AWSAccountIds");
    if actions.is_empty() {
        return Err(SqsError::MissingParameter("Actions".into()));
    }
    if accounts.is_empty() {
        return Err(SqsError::InvalidParameterValue(
            "Value [] for parameter PrincipalId is invalid. Reason: Unable to verify.".into(),
        ));
    }
    if actions.len() > 7 {
        return Err(SqsError::OverLimit(format!(
            "{} Actions were found, maximum allowed is 7.",
            actions.len()
        )));
    }
    if let Some(bad) = actions
        .iter()
        .find(|a| !PERMISSION_ACTIONS.contains(&a.as_str()))
    {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value SQS:{bad} for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action."
        )));
    }
    update_meta(call, &key, |meta| {
        let mut policy = policy_of(meta);
        let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
        if statements.iter().any(|s| s["Sid"] == label.as_str()) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {label} for parameter Label is invalid. Reason: Already exists."
            )));
        }
        let principals: Vec<String> = accounts
            .iter()
            .map(|account| format!("arn:aws:iam::{account}:root"))
            .collect();
        let actions: Vec<String> = actions.iter().map(|a| format!("SQS:{a}")).collect();
        let one_or_many = |items: Vec<String>| {
            if items.len() == 1 {
                Value::String(items[0].clone())
            } else {
                json!(items)
            }
        };
        let statement = json!({
            "Sid": label,
            "Effect": "Allow",
            "Principal": {"AWS": one_or_many(principals)},
            "Action": one_or_many(actions),
            "Resource": meta.key.arn(),
        });
        let mut statements = statements;
        statements.push(statement);
        policy["Statement"] = Value::Array(statements);
        meta.attributes.insert("Policy".into(), policy.to_string());
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub async fn remove_permission(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let label = str_field(input, "Label").unwrap_or("").to_owned();
    update_meta(call, &key, |meta| {
        let mut policy = policy_of(meta);
        let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
        let kept: Vec<Value> = statements
            .iter()
            .filter(|s| s["Sid"] != label.as_str())
            .cloned()
            .collect();
        if kept.len() == statements.len() {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {label} for parameter Label is invalid. Reason: can't find label on existing policy."
            )));
        }
        if kept.is_empty() {
            meta.attributes.remove("Policy");
        } else {
            policy["Statement"] = Value::Array(kept);
            meta.attributes.insert("Policy".into(), policy.to_string());
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub async fn purge_queue(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let pending = {
        let mut state = call.engine.lock();
        if !state.queues.contains_key(&key) {
            return Err(SqsError::QueueDoesNotExist);
        }
        call.engine.commit(
            &mut state,
            LogOp::Purge {
                key,
                at_ms: now_ms(),
            },
        )
    };
    durable(pending).await?;
    Ok(json!({}))
}

// ----- messages -----

/// A send, validated, before it gets its sequence number.
struct Outgoing {
    body: String,
    attributes: BTreeMap<String, AttributeValue>,
    system_attributes: BTreeMap<String, AttributeValue>,
    delay: Option<i64>,
    group_id: Option<String>,
    dedup_id: Option<String>,
}

fn valid_body_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn parse_attributes(
    value: Option<&Value>,
    system: bool,
) -> Result<BTreeMap<String, AttributeValue>, SqsError> {
    let mut out = BTreeMap::new();
    let Some(map) = value.and_then(Value::as_object) else {
        return Ok(out);
    };
    if map.len() > 10 {
        return Err(SqsError::InvalidParameterValue(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [10].",
            map.len()
        )));
    }
    for (name, raw) in map {
        if system && name != "AWSTraceHeader" {
            return Err(SqsError::InvalidParameterValue(format!(
                "Message system attribute name '{name}' is invalid."
            )));
        }
        if name.is_empty()
            || name.len() > 256
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(SqsError::InvalidParameterValue(format!(
                "The message attribute name '{name}' is invalid. Attribute name can contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters."
            )));
        }
        let data_type = raw.get("DataType").and_then(Value::as_str).unwrap_or("");
        if data_type.is_empty() {
            return Err(SqsError::InvalidParameterValue(format!(
                "The message attribute '{name}' must contain non-empty message attribute type."
            )));
        }
        let base = data_type.split('.').next().unwrap_or("");
        if !matches!(base, "String" | "Number" | "Binary") {
            return Err(SqsError::InvalidParameterValue(format!(
                "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
            )));
        }
        let string_value = raw
            .get("StringValue")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let binary_value = raw
            .get("BinaryValue")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let empty = || {
            SqsError::InvalidParameterValue(format!(
                "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{data_type}'."
            ))
        };
        let attribute = if base == "Binary" {
            let Some(encoded) = binary_value.filter(|v| !v.is_empty()) else {
                return Err(empty());
            };
            if base64::engine::general_purpose::STANDARD
                .decode(&encoded)
                .is_err()
            {
                return Err(SqsError::InvalidParameterValue(format!(
                    "The message attribute '{name}' with type 'Binary' must be base64 encoded."
                )));
            }
            AttributeValue {
                data_type: data_type.to_owned(),
                binary_value: Some(encoded),
                ..AttributeValue::default()
            }
        } else {
            let Some(text) = string_value.filter(|v| !v.is_empty()) else {
                return Err(empty());
            };
            if base == "Number" && text.trim().parse::<f64>().is_err() {
                return Err(SqsError::InvalidParameterValue(format!(
                    "Can't cast the value of message (user) attribute '{name}' to a number."
                )));
            }
            AttributeValue {
                data_type: data_type.to_owned(),
                string_value: Some(text),
                ..AttributeValue::default()
            }
        };
        out.insert(name.clone(), attribute);
    }
    Ok(out)
}

/// Validates one send's own fields (queue-independent checks).
fn parse_outgoing(entry: &Value) -> Result<Outgoing, SqsError> {
    let body = str_field(entry, "MessageBody")
        .ok_or_else(|| SqsError::MissingParameter("MessageBody".into()))?;
    if body.is_empty() {
        return Err(SqsError::MissingParameter("MessageBody".into()));
    }
    if !body.chars().all(valid_body_char) {
        return Err(SqsError::InvalidMessageContents(
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF".into(),
        ));
    }
    let delay = int_field(entry, "DelaySeconds");
    if let Some(delay) = delay
        && !(0..=MAX_DELAY).contains(&delay)
    {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
        )));
    }
    Ok(Outgoing {
        body: body.to_owned(),
        attributes: parse_attributes(entry.get("MessageAttributes"), false)?,
        system_attributes: parse_attributes(entry.get("MessageSystemAttributes"), true)?,
        delay,
        group_id: str_field(entry, "MessageGroupId").map(str::to_owned),
        dedup_id: str_field(entry, "MessageDeduplicationId").map(str::to_owned),
    })
}

/// Checks a send against its queue.
fn check_for_queue(queue: &Queue, outgoing: &Outgoing) -> Result<(), SqsError> {
    let max = queue
        .meta
        .int_attribute("MaximumMessageSize", MAX_MESSAGE_BYTES);
    let size = outgoing.body.len() + attributes_size(&outgoing.attributes);
    if size as u64 > max {
        return Err(SqsError::InvalidParameterValue(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
        )));
    }
    if queue.meta.fifo() {
        if outgoing.group_id.is_none() {
            return Err(SqsError::MissingParameter("MessageGroupId".into()));
        }
        if outgoing.dedup_id.is_none() && !queue.meta.content_based_dedup() {
            return Err(SqsError::InvalidParameterValue(
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly".into(),
            ));
        }
        if let Some(delay) = outgoing.delay
            && delay > 0
        {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {delay} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."
            )));
        }
    } else if let Some(dedup) = &outgoing.dedup_id {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {dedup} for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type."
        )));
    }
    for id in [&outgoing.group_id, &outgoing.dedup_id]
        .into_iter()
        .flatten()
    {
        if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {id} for parameter MessageGroupId is invalid. Reason: The message group id must be 1 to 128 printable characters."
            )));
        }
    }
    Ok(())
}

/// The result of one accepted send.
struct Sent {
    message_id: String,
    md5_body: String,
    md5_attributes: Option<String>,
    md5_system_attributes: Option<String>,
    sequence_number: Option<String>,
}

/// Turns validated sends into messages (or duplicates of earlier ones) for `queue`.
fn stage_sends(
    state: &mut State,
    key: &QueueKey,
    outgoing: Vec<Outgoing>,
    sender_id: &str,
    now: Millis,
) -> Result<(Vec<Sent>, LogOp), SqsError> {
    let (fifo, default_delay, content_dedup) = {
        let queue = state.queues.get(key).ok_or(SqsError::QueueDoesNotExist)?;
        (
            queue.meta.fifo(),
            queue.meta.int_attribute("DelaySeconds", 0),
            queue.meta.content_based_dedup(),
        )
    };
    let mut sent = Vec::with_capacity(outgoing.len());
    let mut messages = Vec::with_capacity(outgoing.len());
    let mut dedup = Vec::new();
    let mut batch_dedup: Vec<(String, String, u64)> = Vec::new();
    for item in outgoing {
        let md5_body = md5::body_md5(&item.body);
        let md5_attributes = md5::attributes_md5(&item.attributes);
        let md5_system_attributes = md5::attributes_md5(&item.system_attributes);
        let dedup_id = if fifo {
            item.dedup_id.clone().or_else(|| {
                content_dedup.then(|| hex::encode(Sha256::digest(item.body.as_bytes())))
            })
        } else {
            None
        };
        if let Some(dedup_id) = &dedup_id {
            let queue = state.queues.get(key).ok_or(SqsError::QueueDoesNotExist)?;
            let dedup_key = queue.dedup_key(item.group_id.as_deref(), dedup_id);
            let earlier = queue
                .find_duplicate(&dedup_key, now)
                .map(|entry| (entry.message_id.clone(), entry.seq))
                .or_else(|| {
                    batch_dedup
                        .iter()
                        .find(|(k, _, _)| *k == dedup_key)
                        .map(|(_, id, seq)| (id.clone(), *seq))
                });
            if let Some((message_id, seq)) = earlier {
                sent.push(Sent {
                    message_id,
                    md5_body,
                    md5_attributes,
                    md5_system_attributes,
                    sequence_number: Some(format!("{seq:020}")),
                });
                continue;
            }
            let seq = state.allocate_seq();
            let message_id = uuid::Uuid::new_v4().to_string();
            batch_dedup.push((dedup_key.clone(), message_id.clone(), seq));
            dedup.push((
                dedup_key,
                DedupEntry {
                    expires_ms: dedup_expiry(now),
                    message_id: message_id.clone(),
                    seq,
                },
            ));
            messages.push((
                seq,
                message_id,
                item,
                dedup_id.clone().into(),
                md5_body,
                md5_attributes,
                md5_system_attributes,
            ));
        } else {
            let seq = state.allocate_seq();
            let message_id = uuid::Uuid::new_v4().to_string();
            messages.push((
                seq,
                message_id,
                item,
                None,
                md5_body,
                md5_attributes,
                md5_system_attributes,
            ));
        }
    }
    let mut stored = Vec::with_capacity(messages.len());
    for (seq, message_id, item, dedup_id, md5_body, md5_attributes, md5_system_attributes) in
        messages
    {
        let delay = item.delay.map_or(default_delay, |d| d.max(0) as u64);
        let delay = if fifo { 0 } else { delay };
        sent.push(Sent {
            message_id: message_id.clone(),
            md5_body: md5_body.clone(),
            md5_attributes: md5_attributes.clone(),
            md5_system_attributes: md5_system_attributes.clone(),
            sequence_number: fifo.then(|| format!("{seq:020}")),
        });
        stored.push(Message {
            seq,
            id: message_id,
            body: item.body,
            attributes: item.attributes,
            system_attributes: item.system_attributes,
            md5_body,
            md5_attributes,
            md5_system_attributes,
            sent_ms: now,
            sender_id: sender_id.to_owned(),
            group_id: item.group_id,
            dedup_id,
            receive_count: 0,
            first_receive_ms: 0,
            visible_at_ms: now + delay * 1000,
            in_flight: false,
            receipt_nonce: 0,
        });
    }
    if let Some(queue) = state.queues.get_mut(key) {
        queue.prune_dedup(now);
    }
    Ok((
        sent,
        LogOp::Send {
            key: key.clone(),
            messages: stored,
            dedup,
        },
    ))
}

fn sent_json(sent: &Sent) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        "MD5OfMessageBody".into(),
        Value::String(sent.md5_body.clone()),
    );
    if let Some(md5) = &sent.md5_attributes {
        out.insert("MD5OfMessageAttributes".into(), Value::String(md5.clone()));
    }
    if let Some(md5) = &sent.md5_system_attributes {
        out.insert(
            "MD5OfMessageSystemAttributes".into(),
            Value::String(md5.clone()),
        );
    }
    out.insert("MessageId".into(), Value::String(sent.message_id.clone()));
    if let Some(sequence) = &sent.sequence_number {
        out.insert("SequenceNumber".into(), Value::String(sequence.clone()));
    }
    out
}

pub async fn send_message(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let outgoing = parse_outgoing(input)?;
    let now = now_ms();
    let (sent, pending) = {
        let mut state = call.engine.lock();
        let queue = state.queues.get(&key).ok_or(SqsError::QueueDoesNotExist)?;
        check_for_queue(queue, &outgoing)?;
        let (mut sent, op) = stage_sends(&mut state, &key, vec![outgoing], call.sender_id, now)?;
        (sent.pop(), call.engine.commit(&mut state, op))
    };
    durable(pending).await?;
    let sent = sent.ok_or(SqsError::Internal)?;
    Ok(Value::Object(sent_json(&sent)))
}

fn check_batch_ids(entries: &[Value], action: &str) -> Result<(), SqsError> {
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

fn failed_entry(id: &str, err: &SqsError) -> Value {
    json!({"Id": id, "SenderFault": !matches!(err, SqsError::Internal), "Code": err.query_code(), "Message": err.to_string()})
}

fn entries(input: &Value) -> Vec<Value> {
    input
        .get("Entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub async fn send_message_batch(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let entries = entries(input);
    check_batch_ids(&entries, "SendMessageBatch")?;
    let total: usize = entries
        .iter()
        .map(|entry| {
            str_field(entry, "MessageBody").map_or(0, str::len)
                + parse_attributes(entry.get("MessageAttributes"), false)
                    .map(|a| attributes_size(&a))
                    .unwrap_or(0)
        })
        .sum();
    if total as u64 > MAX_MESSAGE_BYTES {
        return Err(SqsError::BatchRequestTooLong {
            limit: MAX_MESSAGE_BYTES as usize,
            sent: total,
        });
    }
    let now = now_ms();
    let (successful, failed, pending) = {
        let mut state = call.engine.lock();
        let queue = state.queues.get(&key).ok_or(SqsError::QueueDoesNotExist)?;
        let mut accepted = Vec::new();
        let mut accepted_ids = Vec::new();
        let mut failed = Vec::new();
        for entry in &entries {
            let id = str_field(entry, "Id").unwrap_or("").to_owned();
            match parse_outgoing(entry).and_then(|o| check_for_queue(queue, &o).map(|()| o)) {
                Ok(outgoing) => {
                    accepted.push(outgoing);
                    accepted_ids.push(id);
                }
                // FIFO requirements fail the whole batch, as AWS does.
                Err(err @ SqsError::MissingParameter(_)) => return Err(err),
                Err(err @ SqsError::InvalidParameterValue(_))
                    if err.to_string().starts_with("The queue should either") =>
                {
                    return Err(err);
                }
                Err(err) => failed.push(failed_entry(&id, &err)),
            }
        }
        if accepted.is_empty() {
            (Vec::new(), failed, None)
        } else {
            let (sent, op) = stage_sends(&mut state, &key, accepted, call.sender_id, now)?;
            let successful: Vec<Value> = sent
                .iter()
                .zip(accepted_ids)
                .map(|(sent, id)| {
                    let mut entry = sent_json(sent);
                    entry.insert("Id".into(), Value::String(id));
                    Value::Object(entry)
                })
                .collect();
            (successful, failed, Some(call.engine.commit(&mut state, op)))
        }
    };
    if let Some(pending) = pending {
        durable(pending).await?;
    }
    Ok(json!({"Successful": successful, "Failed": failed}))
}

// ----- receipts -----

fn receipt_tag(key: &QueueKey) -> u32 {
    let digest = Sha256::digest(key.arn().as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// An opaque receipt handle: message seq, receive nonce and a tag of the queue.
pub fn receipt_handle(key: &QueueKey, seq: u64, nonce: u64) -> String {
    let mut bytes = Vec::with_capacity(20);
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(&nonce.to_be_bytes());
    bytes.extend_from_slice(&receipt_tag(key).to_be_bytes());
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `(seq, nonce)` of a receipt handle issued for `key`.
pub fn parse_receipt(key: &QueueKey, handle: &str) -> Option<(u64, u64)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(handle)
        .ok()?;
    if bytes.len() != 20 {
        return None;
    }
    let seq = u64::from_be_bytes(bytes[0..8].try_into().ok()?);
    let nonce = u64::from_be_bytes(bytes[8..16].try_into().ok()?);
    let tag = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    (tag == receipt_tag(key)).then_some((seq, nonce))
}

fn invalid_receipt(handle: &str) -> SqsError {
    SqsError::ReceiptHandleIsInvalid(format!(
        "The input receipt handle \"{handle}\" is not a valid receipt handle."
    ))
}

pub async fn delete_message(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let handle = str_field(input, "ReceiptHandle")
        .ok_or_else(|| SqsError::MissingParameter("ReceiptHandle".into()))?;
    let pending = {
        let mut state = call.engine.lock();
        if !state.queues.contains_key(&key) {
            return Err(SqsError::QueueDoesNotExist);
        }
        let (seq, _) = parse_receipt(&key, handle).ok_or_else(|| invalid_receipt(handle))?;
        let present = state
            .queues
            .get(&key)
            .is_some_and(|q| q.messages.contains_key(&seq));
        if !present {
            // Deleting a message that is already gone succeeds, as in AWS.
            None
        } else {
            Some(call.engine.commit(
                &mut state,
                LogOp::Delete {
                    key,
                    seqs: vec![seq],
                },
            ))
        }
    };
    if let Some(pending) = pending {
        durable(pending).await?;
    }
    Ok(json!({}))
}

pub async fn delete_message_batch(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let entries = entries(input);
    check_batch_ids(&entries, "DeleteMessageBatch")?;
    let (successful, failed, pending) = {
        let mut state = call.engine.lock();
        let queue = state.queues.get(&key).ok_or(SqsError::QueueDoesNotExist)?;
        let mut successful = Vec::new();
        let mut failed = Vec::new();
        let mut seqs = Vec::new();
        for entry in &entries {
            let id = str_field(entry, "Id").unwrap_or("");
            let handle = str_field(entry, "ReceiptHandle").unwrap_or("");
            match parse_receipt(&key, handle) {
                Some((seq, _)) => {
                    if queue.messages.contains_key(&seq) {
                        seqs.push(seq);
                    }
                    successful.push(json!({"Id": id}));
                }
                None => failed.push(failed_entry(id, &invalid_receipt(handle))),
            }
        }
        let pending =
            (!seqs.is_empty()).then(|| call.engine.commit(&mut state, LogOp::Delete { key, seqs }));
        (successful, failed, pending)
    };
    if let Some(pending) = pending {
        durable(pending).await?;
    }
    Ok(json!({"Successful": successful, "Failed": failed}))
}

fn visibility_change(
    queue: &Queue,
    key: &QueueKey,
    handle: &str,
    timeout: i64,
    now: Millis,
) -> Result<(u64, Millis), SqsError> {
    if !(0..=MAX_VISIBILITY).contains(&timeout) {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided."
        )));
    }
    let (seq, _) = parse_receipt(key, handle).ok_or_else(|| {
        SqsError::ReceiptHandleIsInvalid("The input receipt handle is invalid.".into())
    })?;
    let message = queue
        .messages
        .get(&seq)
        .filter(|m| m.in_flight && m.visible_at_ms > now)
        .ok_or_else(|| SqsError::MessageNotInflight(handle.to_owned()))?;
    let deadline = now + timeout as u64 * 1000;
    if deadline.saturating_sub(message.first_receive_ms) > MAX_VISIBILITY as u64 * 1000 {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]"
        )));
    }
    Ok((seq, deadline))
}

pub async fn change_message_visibility(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let handle = str_field(input, "ReceiptHandle")
        .ok_or_else(|| SqsError::MissingParameter("ReceiptHandle".into()))?;
    let timeout = int_field(input, "VisibilityTimeout")
        .ok_or_else(|| SqsError::MissingParameter("VisibilityTimeout".into()))?;
    let now = now_ms();
    let pending = {
        let mut state = call.engine.lock();
        let queue = state.queues.get(&key).ok_or(SqsError::QueueDoesNotExist)?;
        let change = visibility_change(queue, &key, handle, timeout, now)?;
        call.engine.commit(
            &mut state,
            LogOp::Visibility {
                key,
                changes: vec![change],
            },
        )
    };
    durable(pending).await?;
    Ok(json!({}))
}

pub async fn change_message_visibility_batch(
    call: &Call<'_>,
    input: &Value,
) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let entries = entries(input);
    check_batch_ids(&entries, "ChangeMessageVisibilityBatch")?;
    let now = now_ms();
    let (successful, failed, pending) = {
        let mut state = call.engine.lock();
        let queue = state.queues.get(&key).ok_or(SqsError::QueueDoesNotExist)?;
        let mut successful = Vec::new();
        let mut failed = Vec::new();
        let mut changes = Vec::new();
        for entry in &entries {
            let id = str_field(entry, "Id").unwrap_or("");
            let handle = str_field(entry, "ReceiptHandle").unwrap_or("");
            let timeout = int_field(entry, "VisibilityTimeout").unwrap_or(0);
            match visibility_change(queue, &key, handle, timeout, now) {
                Ok(change) => {
                    changes.push(change);
                    successful.push(json!({"Id": id}));
                }
                Err(err) => failed.push(failed_entry(id, &err)),
            }
        }
        let pending = (!changes.is_empty()).then(|| {
            call.engine
                .commit(&mut state, LogOp::Visibility { key, changes })
        });
        (successful, failed, pending)
    };
    if let Some(pending) = pending {
        durable(pending).await?;
    }
    Ok(json!({"Successful": successful, "Failed": failed}))
}

// ----- receive -----

struct ReceiveRequest {
    max: usize,
    visibility: Option<u64>,
    system_names: Vec<String>,
    attribute_names: Vec<String>,
}

/// One receive attempt under the lock: the messages handed out and the change to log, or
/// the next time something may become visible.
fn try_receive(
    call: &Call<'_>,
    state: &mut State,
    key: &QueueKey,
    request: &ReceiveRequest,
    now: Millis,
) -> Result<(Vec<Value>, Option<Pending>, Option<Millis>), SqsError> {
    let dlq = {
        let queue = state.queues.get(key).ok_or(SqsError::QueueDoesNotExist)?;
        queue.meta.redrive().and_then(|(arn, count)| {
            state
                .queues
                .keys()
                .find(|k| k.arn() == arn)
                .map(|k| (k.clone(), count))
        })
    };
    let queue = state
        .queues
        .get_mut(key)
        .ok_or(SqsError::QueueDoesNotExist)?;
    let next_deadline = queue.promote(now);
    let fifo = queue.meta.fifo();
    let retention_ms = queue.meta.int_attribute("MessageRetentionPeriod", 345_600) * 1000;
    let visibility_ms = request
        .visibility
        .unwrap_or_else(|| queue.meta.int_attribute("VisibilityTimeout", 30))
        * 1000;
    let locked: HashSet<String> = queue.group_inflight.keys().cloned().collect();
    let mut chosen = Vec::new();
    let mut expired = Vec::new();
    let mut redriven = Vec::new();
    for seq in queue.ready.iter().copied() {
        if chosen.len() >= request.max {
            break;
        }
        let Some(message) = queue.messages.get(&seq) else {
            continue;
        };
        if message.sent_ms + retention_ms <= now {
            expired.push(seq);
            continue;
        }
        if fifo
            && let Some(group) = &message.group_id
            && locked.contains(group)
        {
            continue;
        }
        if let Some((_, max_receives)) = &dlq
            && message.receive_count >= *max_receives
        {
            redriven.push(seq);
            continue;
        }
        chosen.push(seq);
    }
    if chosen.is_empty() && expired.is_empty() && redriven.is_empty() {
        return Ok((Vec::new(), None, next_deadline));
    }
    let received: Vec<Received> = chosen
        .iter()
        .map(|seq| Received {
            seq: *seq,
            visible_at_ms: now + visibility_ms,
            nonce: rand::random(),
        })
        .collect();
    let op = LogOp::Receive {
        key: key.clone(),
        at_ms: now,
        received: received.clone(),
        expired,
        redriven: redriven.clone(),
        to: (!redriven.is_empty())
            .then(|| dlq.map(|(k, _)| k))
            .flatten(),
    };
    let pending = call.engine.commit(state, op);
    let queue = state.queues.get(key).ok_or(SqsError::QueueDoesNotExist)?;
    let messages = received
        .iter()
        .filter_map(|item| queue.messages.get(&item.seq).map(|m| (m, item)))
        .map(|(message, item)| render_message(key, message, item.nonce, request))
        .collect();
    Ok((messages, Some(pending), next_deadline))
}

fn render_message(
    key: &QueueKey,
    message: &Message,
    nonce: u64,
    request: &ReceiveRequest,
) -> Value {
    let mut out = Map::new();
    out.insert("MessageId".into(), Value::String(message.id.clone()));
    out.insert(
        "ReceiptHandle".into(),
        Value::String(receipt_handle(key, message.seq, nonce)),
    );
    out.insert("MD5OfBody".into(), Value::String(message.md5_body.clone()));
    out.insert("Body".into(), Value::String(message.body.clone()));
    let all = request.system_names.iter().any(|n| n == "All");
    let wanted = |name: &str| all || request.system_names.iter().any(|n| n == name);
    let mut attributes = Map::new();
    let mut put = |name: &str, value: Option<String>| {
        if wanted(name)
            && let Some(value) = value
        {
            attributes.insert(name.to_owned(), Value::String(value));
        }
    };
    put("SenderId", Some(message.sender_id.clone()));
    put("SentTimestamp", Some(message.sent_ms.to_string()));
    put(
        "ApproximateReceiveCount",
        Some(message.receive_count.to_string()),
    );
    put(
        "ApproximateFirstReceiveTimestamp",
        Some(message.first_receive_ms.to_string()),
    );
    put("MessageDeduplicationId", message.dedup_id.clone());
    put("MessageGroupId", message.group_id.clone());
    put(
        "SequenceNumber",
        message.dedup_id.as_ref().map(|_| message.sequence_number()),
    );
    put(
        "AWSTraceHeader",
        message
            .system_attributes
            .get("AWSTraceHeader")
            .and_then(|v| v.string_value.clone()),
    );
    if !attributes.is_empty() {
        out.insert("Attributes".into(), Value::Object(attributes));
    }
    let selected: BTreeMap<&String, &AttributeValue> = message
        .attributes
        .iter()
        .filter(|(name, _)| {
            request.attribute_names.iter().any(|wanted| {
                wanted == "All"
                    || wanted == *name
                    || wanted
                        .strip_suffix(".*")
                        .is_some_and(|prefix| name.starts_with(prefix))
            })
        })
        .collect();
    if !selected.is_empty() {
        if let Some(md5) = md5::attributes_md5(selected.iter().map(|(k, v)| (*k, *v))) {
            out.insert("MD5OfMessageAttributes".into(), Value::String(md5));
        }
        let rendered: Map<String, Value> = selected
            .iter()
            .map(|(name, value)| {
                let mut attribute = Map::new();
                attribute.insert("DataType".into(), Value::String(value.data_type.clone()));
                if let Some(text) = &value.string_value {
                    attribute.insert("StringValue".into(), Value::String(text.clone()));
                }
                if let Some(binary) = &value.binary_value {
                    attribute.insert("BinaryValue".into(), Value::String(binary.clone()));
                }
                ((*name).clone(), Value::Object(attribute))
            })
            .collect();
        out.insert("MessageAttributes".into(), Value::Object(rendered));
    }
    Value::Object(out)
}

pub async fn receive_message(call: &Call<'_>, input: &Value) -> Result<Value, SqsError> {
    let key = call.queue_key(input)?;
    let max = int_field(input, "MaxNumberOfMessages").unwrap_or(1);
    if !(1..=10).contains(&max) {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
        )));
    }
    let wait = int_field(input, "WaitTimeSeconds");
    if let Some(wait) = wait
        && !(0..=20).contains(&wait)
    {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
        )));
    }
    let visibility = int_field(input, "VisibilityTimeout");
    if let Some(visibility) = visibility
        && !(0..=MAX_VISIBILITY).contains(&visibility)
    {
        return Err(SqsError::InvalidParameterValue(format!(
            "Value {visibility} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided."
        )));
    }
    let mut system_names = string_list(input, "AttributeNames");
    system_names.extend(string_list(input, "MessageSystemAttributeNames"));
    let request = ReceiveRequest {
        max: max as usize,
        visibility: visibility.map(|v| v as u64),
        system_names,
        attribute_names: string_list(input, "MessageAttributeNames"),
    };
    let (notify, wait_s) = {
        let state = call.engine.lock();
        let queue = state.queues.get(&key).ok_or(SqsError::QueueDoesNotExist)?;
        let default_wait = queue.meta.int_attribute("ReceiveMessageWaitTimeSeconds", 0);
        (
            queue.notify.clone(),
            wait.map_or(default_wait, |w| w as u64),
        )
    };
    let end = tokio::time::Instant::now() + Duration::from_secs(wait_s);
    let mut shutdown = call.shutdown.clone();
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = now_ms();
        let (messages, pending, next_deadline) = {
            let mut state = call.engine.lock();
            if !state.queues.contains_key(&key) {
                return Err(SqsError::QueueDoesNotExist);
            }
            try_receive(call, &mut state, &key, &request, now)?
        };
        if let Some(pending) = pending {
            durable(pending).await?;
        }
        if !messages.is_empty() {
            return Ok(json!({"Messages": messages}));
        }
        let instant_now = tokio::time::Instant::now();
        if instant_now >= end || *shutdown.borrow() {
            return Ok(json!({}));
        }
        let mut wake = end;
        if let Some(deadline) = next_deadline {
            let until = Duration::from_millis(deadline.saturating_sub(now));
            wake = wake.min(instant_now + until);
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep_until(wake) => {}
            _ = shutdown.changed() => {}
        }
    }
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
        assert!(valid_queue_name("a-b_c"));
        assert!(valid_queue_name("a.fifo"));
        assert!(!valid_queue_name(".fifo"));
        assert!(!valid_queue_name("a b"));
        assert!(!valid_queue_name(&"a".repeat(81)));
    }

    #[test]
    fn receipt_handles_round_trip_and_are_bound_to_their_queue() {
        let key = key_from_url("q", "123456789012", "us-east-1").expect("key");
        let other = key_from_url("r", "123456789012", "us-east-1").expect("key");
        let handle = receipt_handle(&key, 42, 7);
        assert_eq!(parse_receipt(&key, &handle), Some((42, 7)));
        assert_eq!(parse_receipt(&other, &handle), None);
        assert_eq!(parse_receipt(&key, "not-a-handle"), None);
    }

    #[test]
    fn body_characters_follow_aws() {
        assert!("tab\tok é 😀".chars().all(valid_body_char));
        assert!(!valid_body_char('\u{1}'));
        assert!(!valid_body_char('\u{FFFE}'));
    }
}
