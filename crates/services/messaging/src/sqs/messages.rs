//! Message operations: send (single and batch), receive with long polling, delete, change
//! visibility; receipt handles.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::error::SqsError;
use super::md5;
use super::ops::{
    Call, MAX_DELAY, MAX_MESSAGE_BYTES, MAX_VISIBILITY, check_batch_ids, durable, entries,
    failed_entry, int_field, str_field, string_list,
};
use super::queue::{AttributeValue, DedupEntry, Message, Millis, Queue, QueueKey, attributes_size};
use super::store::{LogOp, Pending, Received, State, dedup_expiry, now_ms};

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
            // A standard queue keeps the id (receivers may ask for it) but never deduplicates.
            let dedup_id = item.dedup_id.clone();
            messages.push((
                seq,
                message_id,
                item,
                dedup_id,
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
        let (seq, _) = parse_receipt(&key, handle).ok_or_else(|| {
            SqsError::ReceiptHandleIsInvalid("The input receipt handle is invalid.".into())
        })?;
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
    /// FIFO messages carry a sequence number.
    fifo: bool,
    visibility: Option<u64>,
    system_names: Vec<String>,
    attribute_names: Vec<String>,
}

/// What one receive attempt produced.
struct Attempt {
    messages: Vec<Value>,
    /// The logged receive, to await before answering.
    pending: Option<Pending>,
    /// When the next waiting message becomes visible.
    next_deadline: Option<Millis>,
}

/// One receive attempt under the lock: the messages handed out and the change to log, or
/// the next time something may become visible.
fn try_receive(
    call: &Call<'_>,
    state: &mut State,
    key: &QueueKey,
    request: &ReceiveRequest,
    now: Millis,
) -> Result<Attempt, SqsError> {
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
        return Ok(Attempt {
            messages: Vec::new(),
            pending: None,
            next_deadline,
        });
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
    Ok(Attempt {
        messages,
        pending: Some(pending),
        next_deadline,
    })
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
        request.fifo.then(|| message.sequence_number()),
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
    let mut request = ReceiveRequest {
        max: max as usize,
        fifo: false,
        visibility: visibility.map(|v| v as u64),
        system_names,
        attribute_names: string_list(input, "MessageAttributeNames"),
    };
    let (notify, wait_s) = {
        let state = call.engine.lock();
        let queue = state.queues.get(&key).ok_or(SqsError::QueueDoesNotExist)?;
        let default_wait = queue.meta.int_attribute("ReceiveMessageWaitTimeSeconds", 0);
        request.fifo = queue.meta.fifo();
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
        let Attempt {
            messages,
            pending,
            next_deadline,
        } = {
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
    use crate::sqs::ops::key_from_url;

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
