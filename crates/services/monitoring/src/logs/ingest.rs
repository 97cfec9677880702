//! Log event operations: PutLogEvents (with AWS's batch rules), GetLogEvents (tokens `f/…`
//! and `b/…`) and FilterLogEvents (filter patterns over many streams, merged by time).
//!
//! Tokens carry an event [`Position`] as a number: `f/N` continues after position `N`,
//! `b/N` before it. A page that returns nothing hands back tokens at its boundary, so polling
//! with `nextForwardToken` picks up events that arrive later.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::derived::GroupFilters;
use super::error::LogsError;
use super::events::{Derived, Position, StoredEvent, StreamWrite};
use super::ops::{Call, digits56, group_name, limit, opt_bool, opt_i64, opt_str, req_str};
use super::pattern::parse_input;
use super::store::{self, StoredGroup};

/// Bytes AWS counts per event on top of its message.
pub const EVENT_OVERHEAD: usize = 26;
/// The largest PutLogEvents batch (messages plus overhead).
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// How far a batch may span.
const MAX_SPAN_MS: i64 = 24 * 3600 * 1000;
/// Events further in the future than this are rejected as too new.
const MAX_FUTURE_MS: i64 = 2 * 3600 * 1000;
/// Events older than this are rejected as too old.
const MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
/// The most events (and bytes) one read returns.
const MAX_EVENTS: usize = 10_000;
const MAX_RESPONSE_BYTES: usize = 1_048_576;
/// Events one FilterLogEvents call examines before it answers with a partial page.
const SCAN_BUDGET: u64 = 200_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// The oldest timestamp a group still shows (its retention), if it has one.
pub fn retention_cutoff(group: &StoredGroup, now_ms: i64) -> Option<i64> {
    group
        .retention_days
        .map(|days| now_ms - i64::from(days) * DAY_MS)
}

/// What PutLogEvents keeps of a batch, and what it rejects.
#[derive(Debug, Default, PartialEq)]
pub struct Checked {
    /// Indexes of the kept events.
    pub kept: std::ops::Range<usize>,
    pub too_new_start: Option<usize>,
    pub too_old_end: Option<usize>,
    pub expired_end: Option<usize>,
}

/// Applies AWS's batch rules to `(timestamp, message)`s.
pub fn check_batch(
    events: &[(i64, &str)],
    now_ms: i64,
    retention_cutoff: Option<i64>,
) -> Result<Checked, LogsError> {
    let bytes: usize = events
        .iter()
        .map(|(_, message)| message.len() + EVENT_OVERHEAD)
        .sum();
    if bytes > MAX_BATCH_BYTES {
        return Err(LogsError::InvalidParameter(format!(
            "Upload too large: {bytes} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )));
    }
    if events.windows(2).any(|pair| pair[1].0 < pair[0].0) {
        return Err(LogsError::InvalidParameter(
            "Log events in a single PutLogEvents request must be in chronological order.".into(),
        ));
    }
    let mut checked = Checked::default();
    let too_old_before = now_ms - MAX_AGE_MS;
    let mut start = 0;
    for (index, (timestamp, _)) in events.iter().enumerate() {
        if *timestamp < too_old_before {
            checked.too_old_end = Some(index);
            start = index + 1;
        } else if retention_cutoff.is_some_and(|cutoff| *timestamp < cutoff) {
            checked.expired_end = Some(index);
            start = index + 1;
        }
    }
    let mut end = events.len();
    if let Some(first_new) = events
        .iter()
        .position(|(timestamp, _)| *timestamp > now_ms + MAX_FUTURE_MS)
    {
        checked.too_new_start = Some(first_new);
        end = first_new;
    }
    let start = start.min(end);
    if end > start && events[end - 1].0 - events[start].0 > MAX_SPAN_MS {
        return Err(LogsError::InvalidParameter(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
                .into(),
        ));
    }
    checked.kept = start..end;
    Ok(checked)
}

pub async fn put_log_events(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let group_name = group_name(input, call.account)?;
    let stream_name = req_str(input, "logStreamName")?;
    let group = call.group(&group_name)?;
    let stream = call.stream(&group_name, stream_name)?;
    let events: Vec<(i64, &str)> = input
        .get("logEvents")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    (
                        opt_i64(item, "timestamp").unwrap_or(0),
                        opt_str(item, "message").unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let checked = check_batch(&events, call.now_ms, retention_cutoff(&group, call.now_ms))?;
    let kept: Vec<(i64, String)> = events[checked.kept.clone()]
        .iter()
        .map(|(timestamp, message)| (*timestamp, (*message).to_owned()))
        .collect();
    let mut count = 0u64;
    if !kept.is_empty() {
        let filters = GroupFilters::load(&call.state.meta, call.account, call.region, &group_name)?;
        let stream_name = stream_name.to_owned();
        let now = call.now_ms;
        let write = StreamWrite {
            stream_id: stream.id,
            events: kept,
        };
        let stats = call
            .blocking(move |store| {
                store.append(
                    std::slice::from_ref(&write),
                    now,
                    |written| {
                        let mut derived = Derived::default();
                        for (_, events) in written {
                            filters.derive_into(&mut derived, &stream_name, events, now);
                        }
                        derived
                    },
                    None,
                )
            })
            .await?;
        count = stats.get(&stream.id).map_or(0, |stats| stats.count);
    }
    let mut response = json!({ "nextSequenceToken": digits56(u128::from(count)) });
    let mut rejected = serde_json::Map::new();
    if let Some(index) = checked.too_new_start {
        rejected.insert("tooNewLogEventStartIndex".into(), json!(index));
    }
    if let Some(index) = checked.too_old_end {
        rejected.insert("tooOldLogEventEndIndex".into(), json!(index));
    }
    if let Some(index) = checked.expired_end {
        rejected.insert("expiredLogEventEndIndex".into(), json!(index));
    }
    if !rejected.is_empty() {
        response["rejectedLogEventsInfo"] = Value::Object(rejected);
    }
    Ok(response)
}

fn invalid_token() -> LogsError {
    LogsError::InvalidParameter("The specified nextToken is invalid.".into())
}

/// `f/N` or `b/N`: (forward, position).
fn parse_direction_token(token: &str) -> Result<(bool, u128), LogsError> {
    let (forward, digits) = if let Some(digits) = token.strip_prefix("f/") {
        (true, digits)
    } else if let Some(digits) = token.strip_prefix("b/") {
        (false, digits)
    } else {
        return Err(invalid_token());
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_token());
    }
    let value = digits.parse::<u128>().map_err(|_| invalid_token())?;
    Ok((forward, value))
}

fn event_json(event: &StoredEvent) -> Value {
    json!({
        "timestamp": event.position.timestamp,
        "message": event.message,
        "ingestionTime": event.ingestion_ms,
    })
}

/// Keeps events from the front while they fit in one response.
fn within_bytes(events: &mut Vec<StoredEvent>) {
    let mut bytes = 0;
    let keep = events
        .iter()
        .take_while(|event| {
            bytes += event.message.len() + EVENT_OVERHEAD;
            bytes <= MAX_RESPONSE_BYTES
        })
        .count()
        .max(1);
    events.truncate(keep);
}

pub async fn get_log_events(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let group_name = group_name(input, call.account)?;
    let stream_name = req_str(input, "logStreamName")?;
    let limit = limit(input, MAX_EVENTS).min(MAX_EVENTS);
    let token = opt_str(input, "nextToken")
        .map(parse_direction_token)
        .transpose()?;
    let group = call.group(&group_name)?;
    let stream = call.stream(&group_name, stream_name)?;
    // The window: events strictly after `low` and strictly before `high`.
    let mut low = Position {
        timestamp: opt_i64(input, "startTime").unwrap_or(i64::MIN),
        seq: 0,
    }
    .to_u128()
    .saturating_sub(1);
    if let Some(cutoff) = retention_cutoff(&group, call.now_ms) {
        low = low.max(
            Position {
                timestamp: cutoff,
                seq: 0,
            }
            .to_u128()
            .saturating_sub(1),
        );
    }
    let high = opt_i64(input, "endTime").map_or(Position::MAX.to_u128(), |end| {
        Position {
            timestamp: end,
            seq: 0,
        }
        .to_u128()
    });
    let (forward, boundary) = match token {
        Some((forward, value)) => (forward, value),
        None if opt_bool(input, "startFromHead").unwrap_or(false) => (true, low),
        None => (false, high),
    };
    let (after, before) = if forward {
        (boundary.max(low), high)
    } else {
        (low, boundary.min(high))
    };
    let stream_id = stream.id;
    let mut events = call
        .blocking(move |store| {
            store.read_stream(
                stream_id,
                Position::from_u128(after),
                Position::from_u128(before),
                forward,
                limit,
            )
        })
        .await?;
    // Backward reads come newest first: a page cut by size keeps the newest events.
    within_bytes(&mut events);
    if !forward {
        events.reverse();
    }
    let (forward_token, backward_token) = match (events.first(), events.last()) {
        (Some(first), Some(last)) => (last.position.to_u128(), first.position.to_u128()),
        _ if forward => (boundary, boundary.saturating_add(1)),
        _ => (boundary.saturating_sub(1), boundary),
    };
    Ok(json!({
        "events": events.iter().map(event_json).collect::<Vec<_>>(),
        "nextForwardToken": format!("f/{}", digits56(forward_token)),
        "nextBackwardToken": format!("b/{}", digits56(backward_token)),
    }))
}

pub async fn filter_log_events(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let group_name = group_name(input, call.account)?;
    let names: Option<Vec<String>> =
        input
            .get("logStreamNames")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            });
    let prefix = opt_str(input, "logStreamNamePrefix");
    if names.is_some() && prefix.is_some() {
        return Err(LogsError::InvalidParameter(
            "Cannot specify both LogStreamNames and LogStreamNamePrefix.".into(),
        ));
    }
    let pattern = parse_input(opt_str(input, "filterPattern").unwrap_or(""))?;
    let limit = limit(input, MAX_EVENTS).min(MAX_EVENTS);
    let after_token = match opt_str(input, "nextToken") {
        None => None,
        Some(token) => {
            let digits = token.strip_prefix("p/").ok_or_else(invalid_token)?;
            Some(
                digits
                    .parse::<u128>()
                    .map(Position::from_u128)
                    .map_err(|_| invalid_token())?,
            )
        }
    };
    let group = call.group(&group_name)?;
    let streams: Vec<store::StoredStream> =
        store::streams(&call.state.meta, call.account, call.region, &group_name)?
            .into_iter()
            .filter(|stream| {
                names
                    .as_ref()
                    .is_none_or(|names| names.contains(&stream.name))
                    && prefix.is_none_or(|prefix| stream.name.starts_with(prefix))
            })
            .collect();
    let names_by_id: HashMap<u64, String> = streams
        .iter()
        .map(|stream| (stream.id, stream.name.clone()))
        .collect();
    let ids: Vec<u64> = streams.iter().map(|stream| stream.id).collect();
    let mut start = opt_i64(input, "startTime").unwrap_or(i64::MIN);
    if let Some(cutoff) = retention_cutoff(&group, call.now_ms) {
        start = start.max(cutoff);
    }
    let end = opt_i64(input, "endTime").unwrap_or(i64::MAX);
    let after = after_token.unwrap_or(Position {
        timestamp: start,
        seq: 0,
    });
    let after = after.max(Position {
        timestamp: start,
        seq: 0,
    });
    // Stops at a full page or after SCAN_BUDGET events; `cut` says more may follow
    // `last_seen`, the last event examined.
    let (matched, last_seen, cut) = call
        .blocking(move |store| {
            let mut matched: Vec<StoredEvent> = Vec::new();
            let mut bytes = 0usize;
            let mut last_seen = None;
            let mut examined = 0u64;
            let mut cut = false;
            store.scan_merged(&ids, after, end, |event| {
                if matched.len() >= limit || bytes >= MAX_RESPONSE_BYTES || examined >= SCAN_BUDGET
                {
                    cut = true;
                    return Ok(false);
                }
                examined += 1;
                last_seen = Some(event.position);
                if pattern.matches(&event.message) {
                    bytes += event.message.len() + EVENT_OVERHEAD;
                    matched.push(event);
                }
                Ok(true)
            })?;
            Ok((matched, last_seen, cut))
        })
        .await?;
    let events: Vec<Value> = matched
        .iter()
        .map(|event| {
            json!({
                "logStreamName": names_by_id.get(&event.stream_id).cloned().unwrap_or_default(),
                "timestamp": event.position.timestamp,
                "message": event.message,
                "ingestionTime": event.ingestion_ms,
                "eventId": digits56(event.position.to_u128()),
            })
        })
        .collect();
    let mut response = json!({ "events": events, "searchedLogStreams": [] });
    if cut && let Some(last) = last_seen {
        response["nextToken"] = json!(format!("p/{}", last.to_u128()));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn batches_must_be_chronological_small_and_within_a_day() {
        let unordered = check_batch(&[(NOW, "a"), (NOW - 1, "b")], NOW, None);
        assert!(
            matches!(unordered, Err(LogsError::InvalidParameter(m)) if m.contains("chronological"))
        );
        let wide = check_batch(&[(NOW - DAY_MS - 1, "a"), (NOW, "b")], NOW, None);
        assert!(matches!(wide, Err(LogsError::InvalidParameter(m)) if m.contains("24 hours")));
        let big = "x".repeat(MAX_BATCH_BYTES);
        let large = check_batch(&[(NOW, big.as_str())], NOW, None);
        assert!(
            matches!(large, Err(LogsError::InvalidParameter(m)) if m.contains("Upload too large"))
        );
    }

    #[test]
    fn old_new_and_expired_events_are_rejected_by_index() {
        let events = [
            (NOW - 15 * DAY_MS, "old"),
            (NOW - 10 * DAY_MS, "expired"),
            (NOW - 1000, "kept"),
            (NOW, "kept"),
            (NOW + 3 * 3600 * 1000, "new"),
        ];
        let checked = check_batch(&events, NOW, Some(NOW - 7 * DAY_MS)).expect("checked");
        assert_eq!(checked.kept, 2..4);
        assert_eq!(checked.too_old_end, Some(0));
        assert_eq!(checked.expired_end, Some(1));
        assert_eq!(checked.too_new_start, Some(4));
        let all_old = check_batch(&[(0, "a")], NOW, None).expect("checked");
        assert!(all_old.kept.is_empty());
        assert_eq!(all_old.too_old_end, Some(0));
    }

    #[test]
    fn tokens_parse_or_fail_with_aws_message() {
        assert_eq!(parse_direction_token("f/0019").expect("f"), (true, 19));
        assert_eq!(parse_direction_token("b/7").expect("b"), (false, 7));
        for bad in ["n/1", "f/", "f/x1", "not-a-token"] {
            assert!(
                matches!(parse_direction_token(bad), Err(LogsError::InvalidParameter(m)) if m == "The specified nextToken is invalid.")
            );
        }
    }
}
