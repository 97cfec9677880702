//! Queue operations: create, look up, list, attributes, tags, permissions, purge, delete.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::error::SqsError;
use super::ops::{
    Call, MAX_DELAY, MAX_MESSAGE_BYTES, MAX_VISIBILITY, durable, int_field, now_s, str_field,
    string_list, string_map,
};
use super::queue::{QueueKey, QueueMeta};
use super::store::{LogOp, State, now_ms};

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
        // Clients sometimes send names with stray whitespace; SQS ignores it.
        let name = &name.trim().to_owned();
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
            // Anything but "true" makes a standard queue.
            "FifoQueue" if creating && !value.eq_ignore_ascii_case("true") => "false".to_owned(),
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
    let requested: BTreeMap<String, String> = string_map(input, "Attributes")
        .into_iter()
        .map(|(name, value)| (name.trim().to_owned(), value))
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_follow_aws() {
        assert!(valid_queue_name("a-b_c"));
        assert!(valid_queue_name("a.fifo"));
        assert!(!valid_queue_name(".fifo"));
        assert!(!valid_queue_name("a b"));
        assert!(!valid_queue_name(&"a".repeat(81)));
    }
}
