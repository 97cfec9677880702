//! Subscription filters: PutSubscriptionFilter, DescribeSubscriptionFilters,
//! DeleteSubscriptionFilter, the deliveries they derive from new events, and the
//! `logs-subscriptions` worker that sends them.
//!
//! # Destinations
//! The ones this server runs: an SQS queue (`arn:aws:sqs:<region>:<account>:<name>`) and an
//! EventBridge event bus (`arn:aws:events:<region>:<account>:event-bus/<name>`), reached
//! through the functions EventBridge targets use (`events::delivery::send_sqs`,
//! `events::delivery::route_on_bus`). Kinesis, Firehose, Lambda and cross-account `logs`
//! destinations are refused with InvalidParameterException. A group holds at most
//! [`MAX_FILTERS_PER_GROUP`] subscription filters, as on AWS.
//!
//! # Payload
//! AWS's subscription payload, `{"messageType":"DATA_MESSAGE","owner":<account>,"logGroup",
//! "logStream","subscriptionFilters":[<name>],"logEvents":[{"id","timestamp","message"}]}`,
//! one per filter and stream of each write (a PutLogEvents call, a batch of trail records),
//! cut so that one carries at most [`MAX_PAYLOAD_BYTES`]. Event ids are the 56-digit
//! `eventId`s FilterLogEvents shows. AWS gzips and base64-encodes the payload for Kinesis and
//! Lambda; here it is sent as plain JSON: the SQS message body is the payload, and on a bus
//! it is the `detail` of an event with `source` [`SOURCE`] and `detail-type`
//! [`DETAIL_TYPE`]. A FIFO queue gets the log group as its message group and needs
//! content-based deduplication (the payload carries no deduplication id). PutSubscriptionFilter first sends a `CONTROL_MESSAGE` ("CWL CONTROL
//! MESSAGE: Checking health of destination …") the way AWS tests a destination; a destination
//! that does not take it fails the call.
//!
//! # Durability
//! The deliveries of a write go into the event store's outbox in the same durable batch as
//! the events ([`super::events::Derived`]): an acknowledged event that matches a filter is
//! delivered even if the server stops right after. The worker sends the outbox in order and
//! removes an entry once its destination took it (at least once). A destination that can
//! heal (a storage error) is retried with backoff for up to a day, holding back the entries
//! after it; one that cannot (a queue or bus that no longer exists) loses the entry, with a
//! warning.

use std::sync::Arc;
use std::time::Duration;

use opentrail_model::Arn;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::LogsError;
use super::events::{EventStore, Position};
use super::ops::{Call, check_group_name, check_no_colon_star, digits56, opt_str, page, req_str};
use super::pattern::{FilterPattern, parse_input, parse_stored};
use super::store::{self, FORMAT_VERSION, StoredSubscriptionFilter};
use opentrail_core::AppState;
use opentrail_core::workers::{Backoff, Worker, WorkerContext, WorkerState};
use opentrail_events::delivery::{self, Failure};
use opentrail_events::{engine, envelope, ops::BusRef, put_events::event_time};

pub const NAME: &str = "logs-subscriptions";
/// Subscription filters one log group may have (AWS's quota).
pub const MAX_FILTERS_PER_GROUP: usize = 2;
/// The largest payload one delivery carries: 256 KiB, an EventBridge entry's limit.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// The `source` of the events put on a bus.
pub const SOURCE: &str = "aws.logs";
/// The `detail-type` of the events put on a bus.
pub const DETAIL_TYPE: &str = "CloudWatch Logs subscription";
const DESCRIBE_LIMIT: usize = 50;
const DISTRIBUTIONS: [&str; 2] = ["Random", "ByLogStream"];
const DEFAULT_DISTRIBUTION: &str = "ByLogStream";
/// Outbox entries read at once.
const BATCH: usize = 64;
/// How long an entry whose destination fails with a retryable error is retried.
const MAX_AGE_MS: i64 = 24 * 3600 * 1000;
const FIRST_BACKOFF_MS: u64 = 250;
const MAX_BACKOFF_MS: u64 = 30_000;

fn invalid(message: impl Into<String>) -> LogsError {
    LogsError::InvalidParameter(message.into())
}

fn test_delivery_failed() -> LogsError {
    invalid(
        "Could not deliver test message to specified destination. Check if the destination is valid.",
    )
}

/// Where a subscription filter delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Queue {
        region: String,
        account: String,
        name: String,
    },
    Bus(BusRef),
}

impl Destination {
    /// The destination an ARN names, or InvalidParameterException: a destination of a service
    /// this server does not run, or no ARN at all.
    pub fn parse(arn: &str) -> Result<Destination, LogsError> {
        let Some(Arn {
            service,
            region,
            account,
            resource,
            ..
        }) = Arn::parse(arn)
        else {
            return Err(test_delivery_failed());
        };
        let named = |name: &str| !name.is_empty() && !region.is_empty() && !account.is_empty();
        match service {
            "sqs" if named(resource) && !resource.contains('/') => Ok(Destination::Queue {
                region: region.to_owned(),
                account: account.to_owned(),
                name: resource.to_owned(),
            }),
            "events" => match resource.strip_prefix("event-bus/") {
                Some(name) if named(name) => Ok(Destination::Bus(BusRef {
                    account: account.to_owned(),
                    region: region.to_owned(),
                    name: name.to_owned(),
                })),
                _ => Err(test_delivery_failed()),
            },
            "sqs" => Err(test_delivery_failed()),
            other => Err(invalid(format!(
                "Could not deliver test message to specified destination. Destinations of type {other} are not supported by this server; it delivers to SQS queues and EventBridge event buses."
            ))),
        }
    }

    /// What the control message calls the destination.
    fn kind(&self) -> &'static str {
        match self {
            Destination::Queue { .. } => "SQS queue",
            Destination::Bus(_) => "EventBridge event bus",
        }
    }
}

/// One log event of a payload.
#[derive(Debug, Serialize)]
struct PayloadEvent<'a> {
    id: String,
    timestamp: i64,
    message: &'a str,
}

/// AWS's subscription payload.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    message_type: &'static str,
    owner: &'a str,
    log_group: &'a str,
    log_stream: &'a str,
    subscription_filters: Vec<&'a str>,
    log_events: Vec<PayloadEvent<'a>>,
}

fn to_json(payload: &Payload<'_>) -> String {
    serde_json::to_string(payload).unwrap_or_default()
}

/// The `DATA_MESSAGE` payloads of `events` (one stream's, in order) for filter `filter`:
/// as few as fit [`MAX_PAYLOAD_BYTES`] each (an event larger than that travels alone).
pub fn data_messages(
    owner: &str,
    group: &str,
    stream: &str,
    filter: &str,
    events: &[(Position, &str)],
) -> Vec<String> {
    let mut payload = Payload {
        message_type: "DATA_MESSAGE",
        owner,
        log_group: group,
        log_stream: stream,
        subscription_filters: vec![filter],
        log_events: Vec::new(),
    };
    // The payload without events, then each event and its comma.
    let base = to_json(&payload).len();
    let mut out = Vec::new();
    let mut size = base;
    for (position, message) in events {
        let event = PayloadEvent {
            id: digits56(position.to_u128()),
            timestamp: position.timestamp,
            message,
        };
        let event_size = serde_json::to_string(&event).map_or(0, |text| text.len()) + 1;
        if !payload.log_events.is_empty() && size + event_size > MAX_PAYLOAD_BYTES {
            out.push(to_json(&payload));
            payload.log_events.clear();
            size = base;
        }
        size += event_size;
        payload.log_events.push(event);
    }
    if !payload.log_events.is_empty() {
        out.push(to_json(&payload));
    }
    out
}

/// The `CONTROL_MESSAGE` payload PutSubscriptionFilter sends to test a destination.
pub fn control_message(destination: &Destination, now_ms: i64) -> String {
    let message = format!(
        "CWL CONTROL MESSAGE: Checking health of destination {}.",
        destination.kind()
    );
    to_json(&Payload {
        message_type: "CONTROL_MESSAGE",
        owner: "CloudwatchLogs",
        log_group: "",
        log_stream: "",
        subscription_filters: Vec::new(),
        log_events: vec![PayloadEvent {
            id: String::new(),
            timestamp: now_ms,
            message: &message,
        }],
    })
}

/// The format of the outbox entries this build writes ([`Pending::version`]).
pub const OUTBOX_FORMAT_VERSION: u32 = 1;

/// One delivery waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub version: u32,
    pub destination_arn: String,
    /// The log group's account and region.
    pub account: String,
    pub region: String,
    pub group: String,
    pub filter: String,
    /// The payload (JSON text).
    pub payload: String,
    pub created_ms: i64,
}

/// A stored subscription filter with its pattern parsed.
pub struct CompiledSubscription {
    pub name: String,
    pub pattern: FilterPattern,
    pub destination_arn: String,
}

/// The subscription filters of a group, ready to apply.
pub fn compiled_in(
    meta: &opentrail_meta::Meta,
    account: &str,
    region: &str,
    group: &str,
) -> Result<Vec<CompiledSubscription>, LogsError> {
    let filters = store::subscription_filters(meta, account, region, group)?;
    Ok(filters
        .into_iter()
        .filter_map(|filter| {
            Some(CompiledSubscription {
                pattern: parse_stored(&filter.name, &filter.pattern)?,
                name: filter.name,
                destination_arn: filter.destination_arn,
            })
        })
        .collect())
}

/// The outbox entries (encoded [`Pending`]s) `filters` derive from the new `events` of one
/// stream.
pub fn deliveries(
    filters: &[CompiledSubscription],
    (account, region, group): (&str, &str, &str),
    stream: &str,
    events: &[(Position, &str)],
    now_ms: i64,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for filter in filters {
        let matched: Vec<(Position, &str)> = events
            .iter()
            .filter(|(_, message)| filter.pattern.matches(message))
            .copied()
            .collect();
        if matched.is_empty() {
            continue;
        }
        for payload in data_messages(account, group, stream, &filter.name, &matched) {
            let pending = Pending {
                version: OUTBOX_FORMAT_VERSION,
                destination_arn: filter.destination_arn.clone(),
                account: account.to_owned(),
                region: region.to_owned(),
                group: group.to_owned(),
                filter: filter.name.clone(),
                payload,
                created_ms: now_ms,
            };
            match serde_json::to_vec(&pending) {
                Ok(bytes) => out.push(bytes),
                Err(err) => tracing::warn!(error = %err, "subscription delivery does not encode"),
            }
        }
    }
    out
}

/// The event a bus destination receives.
fn bus_event(id: &str, account: &str, region: &str, group: &str, payload: &str) -> Value {
    let detail: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
    json!({
        "version": "0",
        "id": id,
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": event_time(opentrail_model::time::now_ms()),
        "region": region,
        "resources": [format!("arn:aws:logs:{region}:{account}:log-group:{group}")],
        "detail": detail,
    })
}

/// Sends one payload. `event_id` names the bus event (stable per outbox entry, so a resend
/// after a crash replaces a pending EventBridge delivery rather than adding one).
async fn send(
    state: &Arc<AppState>,
    destination: &Destination,
    (account, region, group): (&str, &str, &str),
    payload: &str,
    event_id: &str,
) -> Result<(), Failure> {
    match destination {
        Destination::Queue {
            region: queue_region,
            account: queue_account,
            name,
        } => {
            // A FIFO queue needs a message group: the log group keeps its order.
            let message_group = name.ends_with(".fifo").then_some(group);
            delivery::send_sqs(
                state,
                (queue_region, queue_account, name),
                payload.to_owned(),
                Map::new(),
                message_group,
            )
            .await
        }
        Destination::Bus(bus) => {
            let event = bus_event(event_id, account, region, group, payload);
            let engine = engine::engine_for(state);
            let exists = delivery::route_on_bus(state, &engine, bus.clone(), event, None).await?;
            if exists {
                Ok(())
            } else {
                Err(Failure::new(
                    "RESOURCE_NOT_FOUND",
                    format!("event bus {} does not exist", bus.arn()),
                    false,
                ))
            }
        }
    }
}

pub async fn put_subscription_filter(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = req_str(input, "logGroupName")?;
    let name = req_str(input, "filterName")?;
    check_group_name("logGroupName", group)?;
    check_no_colon_star("filterName", name)?;
    let pattern = req_str(input, "filterPattern")?;
    parse_input(pattern)?;
    let destination_arn = req_str(input, "destinationArn")?;
    let distribution = opt_str(input, "distribution").unwrap_or(DEFAULT_DISTRIBUTION);
    if !DISTRIBUTIONS.contains(&distribution) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{distribution}' at 'distribution' failed to satisfy constraint: Member must satisfy enum value set: [Random, ByLogStream]"
        )));
    }
    call.group(group)?;
    // The quota is checked before the destination is tested (and again when writing).
    let existing = store::subscription_filters(&call.state.meta, call.account, call.region, group)?;
    if existing.len() >= MAX_FILTERS_PER_GROUP && !existing.iter().any(|f| f.name == name) {
        return Err(LogsError::LimitExceeded("Resource limit exceeded.".into()));
    }
    let destination = Destination::parse(destination_arn)?;
    let control = control_message(&destination, call.now_ms);
    let test_id = envelope::stable_id(&format!(
        "{}/{}/{group}:{name}\ncontrol\n{}",
        call.account, call.region, call.now_ms
    ));
    send(
        call.state,
        &destination,
        (call.account, call.region, group),
        &control,
        &test_id,
    )
    .await
    .map_err(|failure| {
        if failure.retryable {
            LogsError::Internal(failure.message)
        } else {
            test_delivery_failed()
        }
    })?;
    let mut filter = StoredSubscriptionFilter {
        version: FORMAT_VERSION,
        name: name.to_owned(),
        group: group.to_owned(),
        pattern: pattern.to_owned(),
        destination_arn: destination_arn.to_owned(),
        role_arn: opt_str(input, "roleArn").map(str::to_owned),
        distribution: distribution.to_owned(),
        created_ms: call.now_ms,
        apply_on_transformed_logs: input
            .get("applyOnTransformedLogs")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    store::put_filter(
        &call.state.meta,
        store::SUBSCRIPTION_FILTERS_TABLE,
        (call.account, call.region, group),
        name,
        MAX_FILTERS_PER_GROUP,
        |replaced: Option<StoredSubscriptionFilter>| {
            // An update keeps the filter's creation time.
            if let Some(replaced) = replaced {
                filter.created_ms = replaced.created_ms;
            }
            filter
        },
    )?;
    Ok(json!({}))
}

pub async fn describe_subscription_filters(
    call: &Call<'_>,
    input: &Value,
) -> Result<Value, LogsError> {
    let group = req_str(input, "logGroupName")?;
    call.group(group)?;
    let prefix = opt_str(input, "filterNamePrefix").unwrap_or("");
    let filters: Vec<StoredSubscriptionFilter> =
        store::subscription_filters(&call.state.meta, call.account, call.region, group)?
            .into_iter()
            .filter(|filter| filter.name.starts_with(prefix))
            .collect();
    let (page, next) = page(&filters, input, DESCRIBE_LIMIT)?;
    let mut response = json!({
        "subscriptionFilters": page.iter().map(filter_json).collect::<Vec<_>>(),
    });
    if let Some(next) = next {
        response["nextToken"] = json!(next);
    }
    Ok(response)
}

fn filter_json(filter: &StoredSubscriptionFilter) -> Value {
    let mut out = Map::new();
    out.insert("filterName".into(), json!(filter.name));
    out.insert("logGroupName".into(), json!(filter.group));
    out.insert("filterPattern".into(), json!(filter.pattern));
    out.insert("destinationArn".into(), json!(filter.destination_arn));
    if let Some(role) = &filter.role_arn {
        out.insert("roleArn".into(), json!(role));
    }
    out.insert("distribution".into(), json!(filter.distribution));
    out.insert(
        "applyOnTransformedLogs".into(),
        json!(filter.apply_on_transformed_logs),
    );
    out.insert("creationTime".into(), json!(filter.created_ms));
    Value::Object(out)
}

pub async fn delete_subscription_filter(
    call: &Call<'_>,
    input: &Value,
) -> Result<Value, LogsError> {
    let group = req_str(input, "logGroupName")?;
    let name = req_str(input, "filterName")?;
    check_group_name("logGroupName", group)?;
    check_no_colon_star("filterName", name)?;
    store::delete_filter(
        &call.state.meta,
        store::SUBSCRIPTION_FILTERS_TABLE,
        (call.account, call.region, group),
        name,
        LogsError::ResourceNotFound("The specified subscription filter does not exist.".into()),
    )?;
    Ok(json!({}))
}

/// Sends one outbox entry.
async fn send_pending(state: &Arc<AppState>, key: u64, pending: &Pending) -> Result<(), Failure> {
    let destination = Destination::parse(&pending.destination_arn)
        .map_err(|err| Failure::new("INVALID_PARAMETER", err.to_string(), false))?;
    let event_id = envelope::stable_id(&format!(
        "{}/{}/{}:{}\n{key}",
        pending.account, pending.region, pending.group, pending.filter
    ));
    send(
        state,
        &destination,
        (&pending.account, &pending.region, &pending.group),
        &pending.payload,
        &event_id,
    )
    .await
}

/// Removes sent (or abandoned) outbox entries.
async fn remove(store: &Arc<EventStore>, keys: Vec<u64>) {
    if keys.is_empty() {
        return;
    }
    let store = store.clone();
    let removed = tokio::task::spawn_blocking(move || {
        for key in keys {
            store.outbox_remove(key)?;
        }
        Ok::<_, LogsError>(())
    })
    .await;
    if !matches!(removed, Ok(Ok(()))) {
        tracing::warn!("sent subscription deliveries stay in the outbox; they will be sent again");
    }
}

/// The `logs-subscriptions` worker: sends the outbox in order, until shutdown.
pub struct Subscriptions;

impl Worker for Subscriptions {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(self, ctx: WorkerContext) -> Result<(), String> {
        let state = ctx.state.clone();
        let mut sent = 0u64;
        let mut backoff = Backoff::new(
            Duration::from_millis(FIRST_BACKOFF_MS),
            Duration::from_millis(MAX_BACKOFF_MS),
        );
        while !ctx.stopping() {
            // Taken afresh every round, so a store reopened after a failed write is used.
            let store = match super::events::store_for(&state) {
                Ok(store) => store,
                Err(err) => {
                    ctx.report(WorkerState::Retrying, sent, Some(err.to_string()));
                    ctx.sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let reader = store.clone();
            let entries = match tokio::task::spawn_blocking(move || reader.outbox_read(BATCH)).await
            {
                Ok(Ok(entries)) => entries,
                outcome => {
                    let error = match outcome {
                        Ok(Err(err)) => err.to_string(),
                        Err(err) => err.to_string(),
                        Ok(Ok(_)) => String::new(),
                    };
                    ctx.report(WorkerState::Retrying, sent, Some(error));
                    ctx.sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if entries.is_empty() {
                ctx.report(WorkerState::Idle, sent, None);
                tokio::select! {
                    () = store.outbox_added() => {}
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    () = ctx.stopped() => {}
                }
                continue;
            }
            let mut done = Vec::new();
            let mut stalled: Option<Failure> = None;
            for (key, bytes) in entries {
                let pending = match serde_json::from_slice::<Pending>(&bytes) {
                    Ok(pending) if pending.version == OUTBOX_FORMAT_VERSION => pending,
                    Ok(pending) => {
                        tracing::warn!(
                            version = pending.version,
                            "an outbox entry has a format this build does not send; dropped"
                        );
                        done.push(key);
                        continue;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "an outbox entry does not decode; dropped");
                        done.push(key);
                        continue;
                    }
                };
                match send_pending(&state, key, &pending).await {
                    Ok(()) => {
                        sent += 1;
                        done.push(key);
                    }
                    Err(failure)
                        if failure.retryable
                            && opentrail_model::time::now_ms() - pending.created_ms
                                < MAX_AGE_MS =>
                    {
                        stalled = Some(failure);
                        break;
                    }
                    Err(failure) => {
                        tracing::warn!(
                            filter = %pending.filter,
                            group = %pending.group,
                            destination = %pending.destination_arn,
                            code = %failure.code,
                            error = %failure.message,
                            "subscription delivery gave up"
                        );
                        done.push(key);
                    }
                }
            }
            remove(&store, done).await;
            match stalled {
                None => {
                    backoff.succeeded();
                    ctx.report(WorkerState::Running, sent, None);
                }
                Some(failure) => {
                    ctx.report(WorkerState::Retrying, sent, Some(failure.message));
                    ctx.sleep(backoff.failed()).await;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(timestamp: i64, seq: u64) -> Position {
        Position { timestamp, seq }
    }

    #[test]
    fn destinations_are_queues_and_buses_only() {
        assert_eq!(
            Destination::parse("arn:aws:sqs:eu-west-1:123456789012:q1").expect("queue"),
            Destination::Queue {
                region: "eu-west-1".into(),
                account: "123456789012".into(),
                name: "q1".into(),
            }
        );
        assert_eq!(
            Destination::parse("arn:aws:events:us-east-1:123456789012:event-bus/default")
                .expect("bus"),
            Destination::Bus(BusRef {
                account: "123456789012".into(),
                region: "us-east-1".into(),
                name: "default".into(),
            })
        );
        for unsupported in [
            "arn:aws:kinesis:us-east-1:123456789012:stream/s",
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/d",
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            "arn:aws:logs:us-east-1:123456789012:destination:d",
        ] {
            let err = Destination::parse(unsupported).expect_err(unsupported);
            assert!(
                matches!(&err, LogsError::InvalidParameter(m) if m.contains("not supported by this server")),
                "{unsupported}: {err:?}"
            );
        }
        for malformed in [
            "not-an-arn",
            "arn:aws:sqs:us-east-1:123456789012:",
            "arn:aws:events:us-east-1:123456789012:rule/r",
        ] {
            assert!(
                matches!(Destination::parse(malformed), Err(LogsError::InvalidParameter(m)) if m.starts_with("Could not deliver test message")),
                "{malformed}"
            );
        }
    }

    #[test]
    fn data_messages_carry_aws_fields_and_fit_the_limit() {
        let events = [(at(1000, 7), "ERROR one"), (at(1001, 9), "ERROR two")];
        let messages = data_messages("123456789012", "/app", "s1", "errors", &events);
        assert_eq!(messages.len(), 1);
        let payload: Value = serde_json::from_str(&messages[0]).expect("json");
        assert_eq!(
            payload,
            json!({
                "messageType": "DATA_MESSAGE",
                "owner": "123456789012",
                "logGroup": "/app",
                "logStream": "s1",
                "subscriptionFilters": ["errors"],
                "logEvents": [
                    {"id": digits56(at(1000, 7).to_u128()), "timestamp": 1000, "message": "ERROR one"},
                    {"id": digits56(at(1001, 9).to_u128()), "timestamp": 1001, "message": "ERROR two"},
                ],
            })
        );
        // Large events are cut into several payloads, each within the limit, none lost.
        let big = "x".repeat(100 * 1024);
        let many: Vec<(Position, &str)> = (0..7).map(|i| (at(i, i as u64), big.as_str())).collect();
        let messages = data_messages("123456789012", "/app", "s1", "all", &many);
        assert_eq!(messages.len(), 4);
        let mut total = 0;
        for message in &messages {
            assert!(message.len() <= MAX_PAYLOAD_BYTES, "{}", message.len());
            let payload: Value = serde_json::from_str(message).expect("json");
            total += payload["logEvents"].as_array().expect("events").len();
        }
        assert_eq!(total, 7);
    }

    #[test]
    fn control_messages_check_the_destination() {
        let destination = Destination::parse("arn:aws:sqs:us-east-1:123456789012:q").expect("q");
        let payload: Value =
            serde_json::from_str(&control_message(&destination, 42)).expect("json");
        assert_eq!(payload["messageType"], "CONTROL_MESSAGE");
        assert_eq!(payload["owner"], "CloudwatchLogs");
        assert_eq!(payload["subscriptionFilters"], json!([]));
        assert_eq!(payload["logEvents"][0]["timestamp"], 42);
        assert_eq!(
            payload["logEvents"][0]["message"],
            "CWL CONTROL MESSAGE: Checking health of destination SQS queue."
        );
    }

    #[test]
    fn only_matching_events_become_deliveries_per_filter() {
        let filters = vec![
            CompiledSubscription {
                name: "errors".into(),
                pattern: FilterPattern::parse("ERROR").expect("pattern"),
                destination_arn: "arn:aws:sqs:us-east-1:123456789012:q".into(),
            },
            CompiledSubscription {
                name: "none".into(),
                pattern: FilterPattern::parse("NOTHING_MATCHES_THIS").expect("pattern"),
                destination_arn: "arn:aws:sqs:us-east-1:123456789012:q".into(),
            },
        ];
        let events = [
            (at(1, 1), "ERROR a"),
            (at(2, 2), "fine"),
            (at(3, 3), "ERROR b"),
        ];
        let out = deliveries(
            &filters,
            ("123456789012", "us-east-1", "/app"),
            "s",
            &events,
            5,
        );
        assert_eq!(out.len(), 1);
        let pending: Pending = serde_json::from_slice(&out[0]).expect("pending");
        assert_eq!(pending.filter, "errors");
        assert_eq!(pending.version, OUTBOX_FORMAT_VERSION);
        let payload: Value = serde_json::from_str(&pending.payload).expect("payload");
        let messages: Vec<&str> = payload["logEvents"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|event| event["message"].as_str())
            .collect();
        assert_eq!(messages, ["ERROR a", "ERROR b"]);
    }
}
