//! PutEvents: entries checked one by one (a bad entry fails alone), each good one wrapped in
//! the event envelope and matched against its bus's rules; the deliveries and archived copies
//! of the whole request are written to the metadata store in one durable transaction before
//! the call is answered, so an acknowledged event survives a crash.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::engine::{self, Routed};
use super::error::EventsError;
use super::ops::{self, Call};
use super::store;

/// The largest PutEvents request, 256 KB.
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// `2026-01-02T03:04:05Z` of epoch milliseconds.
pub fn event_time(ms: i64) -> String {
    let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    time.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

fn entry_error(code: &str, message: String) -> Value {
    json!({"ErrorCode": code, "ErrorMessage": message})
}

fn required(member: &str) -> Value {
    entry_error(
        "InvalidArgument",
        format!("Parameter {member} is not valid. Reason: {member} is a required argument."),
    )
}

/// The size AWS counts for an entry: time, source, detail-type, detail, resources.
fn entry_size(entry: &Value) -> usize {
    let text = |name: &str| entry.get(name).and_then(Value::as_str).map_or(0, str::len);
    let resources: usize = entry
        .get("Resources")
        .and_then(Value::as_array)
        .map_or(0, |list| {
            list.iter().filter_map(Value::as_str).map(str::len).sum()
        });
    14 + text("Source") + text("DetailType") + text("Detail") + resources
}

pub fn put_events(call: &Call) -> Result<Value, EventsError> {
    let entries: Vec<Value> = call
        .input
        .get("Entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total: usize = entries.iter().map(entry_size).sum();
    if total > MAX_REQUEST_BYTES {
        return Err(EventsError::Validation(
            "Total size of the entries in the request is over the limit.".into(),
        ));
    }
    let mut results = Vec::with_capacity(entries.len());
    let mut routed = Routed::default();
    let mut failed = 0usize;
    for entry in &entries {
        match accept(call, entry) {
            Ok((id, matched)) => {
                routed.extend(matched);
                results.push(json!({"EventId": id}));
            }
            Err(error) => {
                failed += 1;
                results.push(error);
            }
        }
    }
    if !routed.is_empty() {
        call.meta()
            .write(|txn| routed.write(txn).map_err(EventsError::from))?;
        call.engine.enqueue(routed.deliveries);
    }
    Ok(json!({"FailedEntryCount": failed, "Entries": results}))
}

/// One entry: its event id and what its bus's rules ask for, or its error entry.
fn accept(call: &Call, entry: &Value) -> Result<(String, Routed), Value> {
    let text = |name: &str| {
        entry
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let source = text("Source").ok_or_else(|| required("Source"))?;
    let detail_type = text("DetailType").ok_or_else(|| required("DetailType"))?;
    let detail_text = text("Detail").ok_or_else(|| required("Detail"))?;
    let detail: Value = serde_json::from_str(detail_text)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| entry_error("MalformedDetail", "Detail is malformed.".into()))?;
    let bus = match entry.get("EventBusName").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => ops::parse_bus(name, &call.account, &call.region)
            .map_err(|err| entry_error("InvalidArgument", err.to_string()))?,
        _ => ops::BusRef {
            account: call.account.clone(),
            region: call.region.clone(),
            name: store::DEFAULT_BUS.to_owned(),
        },
    };
    let exists = ops::bus_exists(call.meta(), &bus).map_err(|_| internal())?;
    if !exists {
        return Err(entry_error(
            "ResourceNotFoundException",
            format!("Event bus {} does not exist.", bus.name),
        ));
    }
    let time_ms = entry
        .get("Time")
        .and_then(Value::as_f64)
        .map_or(call.now_ms, |seconds| (seconds * 1000.0) as i64);
    let id = uuid::Uuid::new_v4().to_string();
    let event = json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": source,
        "account": call.account,
        "time": event_time(time_ms),
        "region": call.region,
        "resources": entry.get("Resources").cloned().unwrap_or_else(|| json!([])),
        "detail": detail,
    });
    let deliveries = engine::route(
        call.meta(),
        &call.engine,
        (&bus.account, &bus.region, &bus.name),
        &event,
        false,
        call.now_ms,
    )
    .map_err(|_| internal())?;
    Ok((id, deliveries))
}

fn internal() -> Value {
    entry_error("InternalFailure", "an internal error occurred".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_are_whole_seconds_in_utc() {
        assert_eq!(event_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(event_time(1_767_323_045_678), "2026-01-02T03:04:05Z");
    }
}
