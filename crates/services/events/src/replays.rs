//! Replays: StartReplay, DescribeReplay, ListReplays, CancelReplay, and the `events-archives`
//! worker that runs replays and archive retention.
//!
//! A replay is durable in `events-replays` from StartReplay on (state `STARTING`). The worker
//! takes the archive's events whose `time` lies in `[EventStartTime, EventEndTime]` in time
//! order, a page at a time ([`step`]); each event gets `replay-name` and a new id (derived from
//! the replay and the original id, so a page redone after a crash makes the same deliveries),
//! is matched against the rules of the destination bus (only the rules in `FilterArns` when
//! given) and its deliveries go into `events-pending` in the same transaction that moves the
//! replay's position (`RUNNING`, `EventLastReplayedTime`). Replayed events never reach an
//! archive: archive rules require `replay-name` to be absent. A restart resumes every replay
//! that was `STARTING`, `RUNNING` or `CANCELLING` from its saved position. A replay whose
//! archive or destination bus disappears is `FAILED` with the reason in `StateReason`;
//! CancelReplay makes it `CANCELLING`, and the next step `CANCELLED`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentrail_meta::{Meta, MetaError};
use serde_json::{Map, Value, json};

use super::archived_events;
use super::archives;
use super::engine::{self, Engine, Routed};
use super::envelope;
use super::error::EventsError;
use super::ops::{self, Call, epoch_seconds};
use super::store::{self, ArchivedEvent, Delivery, StoredReplay};
use opentrail_core::workers::{Worker, WorkerContext, WorkerState};

const NAME: &str = "events-archives";
pub const STARTING: &str = "STARTING";
pub const RUNNING: &str = "RUNNING";
pub const CANCELLING: &str = "CANCELLING";
pub const COMPLETED: &str = "COMPLETED";
pub const CANCELLED: &str = "CANCELLED";
pub const FAILED: &str = "FAILED";
/// Archived events replayed per transaction.
const PAGE: usize = 256;
/// How often retention runs.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How often the worker looks for replays without being woken.
const POLL: Duration = Duration::from_secs(1);

fn is_active(state: &str) -> bool {
    matches!(state, STARTING | RUNNING | CANCELLING)
}

fn not_found(name: &str) -> EventsError {
    EventsError::ResourceNotFound(format!("Replay {name} does not exist."))
}

fn replay_of(call: &Call) -> Result<StoredReplay, EventsError> {
    let name = call.str("ReplayName").unwrap_or("");
    call.meta()
        .get::<StoredReplay>(
            store::REPLAYS,
            &store::archive_key(&call.account, &call.region, name),
        )?
        .ok_or_else(|| not_found(name))
}

/// Epoch milliseconds of an awsJson timestamp member (epoch seconds).
fn time_member(call: &Call, member: &str) -> Result<i64, EventsError> {
    call.input
        .get(member)
        .and_then(Value::as_f64)
        .map(|seconds| (seconds * 1000.0).round() as i64)
        .ok_or_else(|| EventsError::Validation(format!("Parameter {member} is not valid.")))
}

pub fn start_replay(call: &Call) -> Result<Value, EventsError> {
    let name = call.str("ReplayName").unwrap_or("");
    ops::check_name(name, "replayName")?;
    let destination = call
        .input
        .get("Destination")
        .cloned()
        .unwrap_or(Value::Null);
    let destination_arn = destination.get("Arn").and_then(Value::as_str).unwrap_or("");
    let invalid_destination = || {
        EventsError::Validation(
            "Parameter Destination.Arn is not valid. Reason: Must contain an event bus ARN.".into(),
        )
    };
    if !destination_arn.starts_with("arn:") {
        return Err(invalid_destination());
    }
    let bus = ops::parse_bus(destination_arn, &call.account, &call.region)
        .map_err(|_| invalid_destination())?;
    if !ops::bus_exists(call.meta(), &bus)? {
        return Err(EventsError::bus_not_found(&bus.name));
    }
    let source_arn = call.str("EventSourceArn").unwrap_or("");
    let archive = archives::by_arn(call.meta(), source_arn)?.ok_or_else(|| {
        let archive_name = source_arn.rsplit('/').next().unwrap_or(source_arn);
        EventsError::Validation(format!(
            "Parameter EventSourceArn is not valid. Reason: Archive {archive_name} does not exist."
        ))
    })?;
    let archive_bus = ops::parse_bus(&archive.source_arn, &archive.account, &archive.region)?;
    if archive_bus != bus {
        return Err(EventsError::Validation(
            "Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not permitted."
                .into(),
        ));
    }
    let start_ms = time_member(call, "EventStartTime")?;
    let end_ms = time_member(call, "EventEndTime")?;
    if start_ms >= end_ms {
        return Err(EventsError::Validation(
            "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime."
                .into(),
        ));
    }
    if let Some(filters) = destination.get("FilterArns").and_then(Value::as_array) {
        for filter in filters {
            let arn = filter.as_str().unwrap_or("");
            let expected = store::rule_arn(&bus.account, &bus.region, &bus.name, "");
            if !arn.starts_with(&expected) || arn.len() == expected.len() {
                return Err(EventsError::Validation(format!(
                    "Parameter Destination.FilterArns is not valid. Reason: {arn} is not a rule ARN of event bus {}.",
                    bus.name
                )));
            }
        }
    }
    let replay = StoredReplay {
        version: store::FORMAT_VERSION,
        account: call.account.clone(),
        region: call.region.clone(),
        name: name.to_owned(),
        description: call.str("Description").map(str::to_owned),
        source_arn: source_arn.to_owned(),
        archive: archive.key(),
        destination,
        event_start_ms: start_ms,
        event_end_ms: end_ms,
        state: STARTING.to_owned(),
        state_reason: None,
        replay_start_ms: call.now_ms,
        replay_end_ms: None,
        last_replayed_ms: None,
        position: None,
    };
    call.meta().write(|txn| {
        if txn
            .get::<StoredReplay>(store::REPLAYS, &replay.key())?
            .is_some()
        {
            return Err(EventsError::ResourceAlreadyExists(format!(
                "Replay {name} already exists."
            )));
        }
        txn.put(store::REPLAYS, &replay.key(), &replay)?;
        Ok(())
    })?;
    call.engine.replays.notify_one();
    Ok(json!({
        "ReplayArn": replay.arn(),
        "State": replay.state,
        "ReplayStartTime": epoch_seconds(replay.replay_start_ms),
    }))
}

fn replay_json(replay: &StoredReplay, describe: bool) -> Value {
    let mut out = Map::new();
    out.insert("ReplayName".into(), json!(replay.name));
    if describe {
        out.insert("ReplayArn".into(), json!(replay.arn()));
        if let Some(description) = &replay.description {
            out.insert("Description".into(), json!(description));
        }
        out.insert("Destination".into(), replay.destination.clone());
    }
    out.insert("EventSourceArn".into(), json!(replay.source_arn));
    out.insert("State".into(), json!(replay.state));
    if let Some(reason) = &replay.state_reason {
        out.insert("StateReason".into(), json!(reason));
    }
    out.insert(
        "EventStartTime".into(),
        epoch_seconds(replay.event_start_ms),
    );
    out.insert("EventEndTime".into(), epoch_seconds(replay.event_end_ms));
    if let Some(last) = replay.last_replayed_ms {
        out.insert("EventLastReplayedTime".into(), epoch_seconds(last));
    }
    out.insert(
        "ReplayStartTime".into(),
        epoch_seconds(replay.replay_start_ms),
    );
    if let Some(end) = replay.replay_end_ms {
        out.insert("ReplayEndTime".into(), epoch_seconds(end));
    }
    Value::Object(out)
}

pub fn describe_replay(call: &Call) -> Result<Value, EventsError> {
    Ok(replay_json(&replay_of(call)?, true))
}

pub fn list_replays(call: &Call) -> Result<Value, EventsError> {
    let prefix = call.non_empty("NamePrefix");
    let source = call.non_empty("EventSourceArn");
    let state = call.non_empty("State");
    if [prefix, source, state].iter().flatten().count() > 1 {
        return Err(EventsError::Validation(
            "At most one filter is allowed for ListReplays. Use either : State, EventSourceArn, or NamePrefix."
                .into(),
        ));
    }
    let mut replays: Vec<StoredReplay> = call
        .meta()
        .list::<StoredReplay>(
            store::REPLAYS,
            &format!("{}/{}/", call.account, call.region),
        )?
        .into_iter()
        .map(|(_, replay)| replay)
        .filter(|replay| prefix.is_none_or(|prefix| replay.name.starts_with(prefix)))
        .filter(|replay| source.is_none_or(|source| replay.source_arn == source))
        .filter(|replay| state.is_none_or(|state| replay.state == state))
        .collect();
    replays.sort_by(|a, b| a.name.cmp(&b.name));
    let (page, next) = ops::paginate(&replays, call.str("NextToken"), call.limit())?;
    let mut out = json!({
        "Replays": page.iter().map(|replay| replay_json(replay, false)).collect::<Vec<_>>()
    });
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

pub fn cancel_replay(call: &Call) -> Result<Value, EventsError> {
    let name = call.str("ReplayName").unwrap_or("");
    let key = store::archive_key(&call.account, &call.region, name);
    let replay = call.meta().write(|txn| {
        let mut replay: StoredReplay = txn
            .get(store::REPLAYS, &key)?
            .ok_or_else(|| not_found(name))?;
        if !matches!(replay.state.as_str(), STARTING | RUNNING) {
            return Err(EventsError::IllegalStatus(format!(
                "Replay {name} is not in a valid state for this operation."
            )));
        }
        replay.state = CANCELLING.to_owned();
        txn.put(store::REPLAYS, &key, &replay)?;
        Ok(replay)
    })?;
    call.engine.replays.notify_one();
    Ok(json!({"ReplayArn": replay.arn(), "State": replay.state}))
}

/// The archived-event keys of a replay's window still to replay: `(from, to)`, `to` exclusive.
pub fn window(replay: &StoredReplay) -> (String, String) {
    let end = store::archive_time_key(&replay.archive, replay.event_end_ms.saturating_add(1));
    let from = match &replay.position {
        // Keys have no NUL byte: the first key after `position`.
        Some(position) => format!("{position}\u{0}"),
        None => store::archive_time_key(&replay.archive, replay.event_start_ms),
    };
    (from, end)
}

/// The event a replay sends for an archived one: `replay-name` added, a new id.
pub fn replayed_event(replay: &StoredReplay, archived: &ArchivedEvent) -> Option<Value> {
    let mut event: Value = serde_json::from_str(&archived.event).ok()?;
    let object = event.as_object_mut()?;
    let original = object.get("id").and_then(Value::as_str).unwrap_or("");
    let id = envelope::stable_id(&format!("{}\n{original}", replay.arn()));
    object.insert("id".into(), json!(id));
    object.insert("replay-name".into(), json!(replay.name));
    Some(event)
}

/// One step of one replay: one page of its window replayed and its progress saved in one
/// transaction. Returns the deliveries to queue and whether the replay is still active.
pub fn step(
    meta: &Meta,
    engine: &Engine,
    key: &str,
    now_ms: i64,
) -> Result<(Vec<Delivery>, bool), MetaError> {
    let Some(mut replay) = meta.get::<StoredReplay>(store::REPLAYS, key)? else {
        return Ok((Vec::new(), false));
    };
    if !is_active(&replay.state) {
        return Ok((Vec::new(), false));
    }
    let finish = |replay: &mut StoredReplay, state: &str, reason: Option<String>| {
        replay.state = state.to_owned();
        replay.state_reason = reason;
        replay.replay_end_ms = Some(now_ms);
    };
    let destination = replay
        .destination
        .get("Arn")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let bus = ops::parse_bus(&destination, &replay.account, &replay.region).ok();
    let bus_exists = match &bus {
        Some(bus) => ops::bus_exists(meta, bus)
            .map_err(|_| MetaError::Storage("the destination bus could not be read".into()))?,
        None => false,
    };
    let archive_exists = meta
        .get::<store::StoredArchive>(store::ARCHIVES, &replay.archive)?
        .is_some();
    let mut routed = Routed::default();
    let current_state = replay.state.clone();
    match (bus, current_state.as_str()) {
        (_, CANCELLING) => finish(&mut replay, CANCELLED, None),
        _ if !archive_exists => {
            let name = replay
                .source_arn
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_owned();
            finish(
                &mut replay,
                FAILED,
                Some(format!("Archive {name} does not exist.")),
            );
        }
        (Some(bus), _) if bus_exists => {
            let (from, to) = window(&replay);
            let page: Vec<(String, ArchivedEvent)> =
                meta.range(store::ARCHIVE_EVENTS, &from, &to, PAGE)?;
            let filters: Option<Vec<&str>> = replay
                .destination
                .get("FilterArns")
                .and_then(Value::as_array)
                .filter(|list| !list.is_empty())
                .map(|list| list.iter().filter_map(Value::as_str).collect());
            for (event_key, archived) in &page {
                if let Some(event) = replayed_event(&replay, archived) {
                    let mut matched = engine::route(
                        meta,
                        engine,
                        (&bus.account, &bus.region, &bus.name),
                        &event,
                        false,
                        now_ms,
                    )?;
                    if let Some(filters) = &filters {
                        matched
                            .deliveries
                            .retain(|d| filters.contains(&d.rule_arn.as_str()));
                    }
                    debug_assert!(matched.archived.is_empty());
                    matched.archived.clear();
                    routed.extend(matched);
                }
                replay.position = Some(event_key.clone());
                replay.last_replayed_ms = Some(archived.time_ms);
            }
            if page.len() < PAGE {
                finish(&mut replay, COMPLETED, None);
            } else {
                replay.state = RUNNING.to_owned();
            }
        }
        _ => {
            let name = destination.rsplit('/').next().unwrap_or("").to_owned();
            finish(
                &mut replay,
                FAILED,
                Some(format!("Event bus {name} does not exist.")),
            );
        }
    }
    let active = is_active(&replay.state);
    meta.write(|txn| {
        // A cancel that landed during the page wins over RUNNING; the page is still sent.
        if let Some(current) = txn.get::<StoredReplay>(store::REPLAYS, key)?
            && current.state == CANCELLING
            && replay.state == RUNNING
        {
            replay.state = CANCELLING.to_owned();
        }
        routed.write(txn)?;
        txn.put(store::REPLAYS, key, &replay)
    })?;
    Ok((routed.deliveries, active))
}

/// The `events-archives` worker: runs active replays, and retention every minute.
pub struct Replayer {
    pub engine: Arc<Engine>,
}

impl Worker for Replayer {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(self, ctx: WorkerContext) -> Result<(), String> {
        let state = ctx.state.clone();
        let engine = self.engine;
        let mut last_sweep: Option<Instant> = None;
        let mut processed = 0u64;
        while !ctx.stopping() {
            if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
                let meta_state = state.clone();
                let swept = tokio::task::spawn_blocking(move || {
                    archived_events::sweep(&meta_state.meta, super::delivery::now_ms())
                })
                .await;
                match swept {
                    Ok(Ok(0)) => {}
                    Ok(Ok(dropped)) => {
                        tracing::info!(dropped, "archived events past retention dropped")
                    }
                    Ok(Err(err)) => tracing::warn!(error = %err, "archive retention failed"),
                    Err(err) => tracing::warn!(error = %err, "archive retention failed"),
                }
                last_sweep = Some(Instant::now());
            }
            let stepped = {
                let state = state.clone();
                let engine = engine.clone();
                tokio::task::spawn_blocking(move || {
                    let active: Vec<String> = state
                        .meta
                        .list::<StoredReplay>(store::REPLAYS, "")?
                        .into_iter()
                        .filter(|(_, replay)| is_active(&replay.state))
                        .map(|(key, _)| key)
                        .collect();
                    let mut deliveries = Vec::new();
                    let mut more = false;
                    for key in active {
                        let (sent, active) =
                            step(&state.meta, &engine, &key, super::delivery::now_ms())?;
                        deliveries.extend(sent);
                        more |= active;
                    }
                    Ok::<_, MetaError>((deliveries, more))
                })
                .await
            };
            let more = match stepped {
                Ok(Ok((deliveries, more))) => {
                    processed += deliveries.len() as u64;
                    engine.enqueue(deliveries);
                    more
                }
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "replay step failed; retrying");
                    ctx.report(WorkerState::Retrying, processed, Some(err.to_string()));
                    false
                }
                Err(err) => {
                    tracing::error!(error = %err, "replay step failed; retrying");
                    false
                }
            };
            if more {
                ctx.report(WorkerState::Running, processed, None);
                continue;
            }
            ctx.report(WorkerState::Idle, processed, None);
            tokio::select! {
                () = engine.replays.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = ctx.stopped() => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StoredArchive, StoredRule};

    const ACCOUNT: &str = "123456789012";
    const REGION: &str = "us-east-1";

    fn archive() -> StoredArchive {
        StoredArchive {
            version: store::FORMAT_VERSION,
            account: ACCOUNT.into(),
            region: REGION.into(),
            name: "a".into(),
            source_arn: store::bus_arn(ACCOUNT, REGION, store::DEFAULT_BUS),
            bus: store::DEFAULT_BUS.into(),
            event_pattern: None,
            description: None,
            retention_days: 0,
            kms_key: None,
            created_ms: 0,
        }
    }

    fn replay(start_ms: i64, end_ms: i64, filters: Option<Vec<String>>) -> StoredReplay {
        let mut destination = json!({"Arn": store::bus_arn(ACCOUNT, REGION, store::DEFAULT_BUS)});
        if let Some(filters) = filters {
            destination["FilterArns"] = json!(filters);
        }
        StoredReplay {
            version: store::FORMAT_VERSION,
            account: ACCOUNT.into(),
            region: REGION.into(),
            name: "r".into(),
            description: None,
            source_arn: archive().arn(),
            archive: archive().key(),
            destination,
            event_start_ms: start_ms,
            event_end_ms: end_ms,
            state: STARTING.into(),
            state_reason: None,
            replay_start_ms: 0,
            replay_end_ms: None,
            last_replayed_ms: None,
            position: None,
        }
    }

    fn rule(name: &str) -> StoredRule {
        StoredRule {
            version: store::FORMAT_VERSION,
            account: ACCOUNT.into(),
            region: REGION.into(),
            bus: store::DEFAULT_BUS.into(),
            name: name.into(),
            event_pattern: Some(r#"{"source": ["app"]}"#.into()),
            schedule: None,
            state: engine::STATE_ENABLED.into(),
            description: None,
            role_arn: None,
            managed_by: None,
            archive: None,
            created_by: ACCOUNT.into(),
            tags: Vec::new(),
            targets: vec![json!({"Id": "t", "Arn": "arn:aws:sqs:us-east-1:123456789012:q"})],
        }
    }

    /// A store with an archive holding events at seconds 1..=5 and two rules.
    fn setup(dir: &std::path::Path) -> (Meta, Arc<Engine>) {
        let meta = Meta::open(&dir.join("meta")).expect("open");
        let stored = archive();
        meta.put(store::ARCHIVES, &stored.key(), &stored)
            .expect("put");
        for rule in [rule("one"), rule("two")] {
            meta.put(store::RULES, &rule.key(), &rule).expect("rule");
        }
        let events: Vec<(String, ArchivedEvent)> = (1..=5)
            .map(|second| {
                let id = format!("e{second}");
                let event = json!({"id": id, "source": "app", "detail": {}});
                (
                    id,
                    ArchivedEvent {
                        version: store::FORMAT_VERSION,
                        archive: stored.key(),
                        event: event.to_string(),
                        time_ms: second * 1000,
                        ingested_ms: second * 1000,
                    },
                )
            })
            .collect();
        meta.write(|txn| archived_events::append(txn, &events))
            .expect("append");
        (meta, Arc::new(Engine::new()))
    }

    fn run_to_end(meta: &Meta, engine: &Engine, replay: &StoredReplay) -> Vec<Delivery> {
        meta.put(store::REPLAYS, &replay.key(), replay)
            .expect("put");
        let mut all = Vec::new();
        for _ in 0..10 {
            let (deliveries, active) = step(meta, engine, &replay.key(), 10_000).expect("step");
            all.extend(deliveries);
            if !active {
                return all;
            }
        }
        panic!("replay did not finish");
    }

    fn replayed_ids(deliveries: &[Delivery]) -> Vec<String> {
        deliveries
            .iter()
            .map(|d| {
                let event: Value = serde_json::from_str(&d.event).expect("json");
                assert_eq!(event["replay-name"], "r");
                event["detail"].to_string() + &d.rule_name
            })
            .collect()
    }

    #[test]
    fn the_window_selects_events_by_time_inclusive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (meta, engine) = setup(dir.path());
        let deliveries = run_to_end(&meta, &engine, &replay(2000, 4000, None));
        // Seconds 2, 3, 4, each to both rules.
        assert_eq!(replayed_ids(&deliveries).len(), 6);
        let done: StoredReplay = meta
            .get(store::REPLAYS, &replay(0, 0, None).key())
            .expect("get")
            .expect("stored");
        assert_eq!(done.state, COMPLETED);
        assert_eq!(done.last_replayed_ms, Some(4000));
        assert!(done.replay_end_ms.is_some());
        // Nothing replayed went into the archive.
        let stats: store::ArchiveStats = meta
            .get(store::ARCHIVE_STATS, &archive().key())
            .expect("get")
            .expect("stats");
        assert_eq!(stats.count, 5);
    }

    #[test]
    fn filter_arns_keep_only_their_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (meta, engine) = setup(dir.path());
        let deliveries = run_to_end(
            &meta,
            &engine,
            &replay(0, 10_000, Some(vec![rule("two").arn()])),
        );
        assert_eq!(deliveries.len(), 5);
        assert!(deliveries.iter().all(|d| d.rule_name == "two"));
        let ids: std::collections::HashSet<&str> =
            deliveries.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids.len(), 5);
    }

    #[test]
    fn positions_resume_after_the_last_replayed_key() {
        let mut stored = replay(0, 10_000, None);
        let (from, to) = window(&stored);
        assert!(from < to);
        stored.position = Some(format!(
            "{}e3",
            store::archive_time_key(&stored.archive, 3000)
        ));
        let (resumed, _) = window(&stored);
        assert!(resumed > stored.position.clone().expect("position"));
        assert!(resumed < store::archive_time_key(&stored.archive, 3001));
    }

    #[test]
    fn a_cancelled_or_orphaned_replay_stops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (meta, engine) = setup(dir.path());
        let mut cancelling = replay(0, 10_000, None);
        cancelling.state = CANCELLING.into();
        assert!(run_to_end(&meta, &engine, &cancelling).is_empty());
        let stored: StoredReplay = meta
            .get(store::REPLAYS, &cancelling.key())
            .expect("get")
            .expect("stored");
        assert_eq!(stored.state, CANCELLED);
        meta.delete(store::ARCHIVES, &archive().key())
            .expect("delete");
        let mut orphan = replay(0, 10_000, None);
        orphan.name = "orphan".into();
        assert!(run_to_end(&meta, &engine, &orphan).is_empty());
        let stored: StoredReplay = meta
            .get(store::REPLAYS, &orphan.key())
            .expect("get")
            .expect("stored");
        assert_eq!(stored.state, FAILED);
        assert_eq!(
            stored.state_reason.as_deref(),
            Some("Archive a does not exist.")
        );
    }
}
