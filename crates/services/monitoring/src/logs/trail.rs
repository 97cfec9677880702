//! The `logs` worker: sends every record a trail with a `CloudWatchLogsLogGroupArn` selects,
//! as compact JSON, to the stream `<account>_CloudTrail_<region>` of that log group (created
//! when missing), and the `logs-retention` worker that drops events older than their group's
//! retention.
//!
//! The worker follows the journal ([`TrailSender`], run by the shared
//! [`opentrail_core::workers::JournalFollower`]); the journal seq it has applied is written in the same
//! durable batch as the events it sends (see [`super::events`]), so after a crash it resumes
//! where its last sending batch ended: no record is lost or sent twice. The group's metric and
//! subscription filters run on the events in that same batch ([`super::derived`]). The journal cursor `logs`
//! only lets the journal trim segments behind it. Which trails take a record is decided as
//! trail delivery decides it (`opentrail_delivery::selectors::TrailFilter`); ingested records
//! are skipped. Each trail's `LatestCloudWatchLogsDeliveryTime` / `…Error` (GetTrailStatus) is
//! kept in the CloudTrail status table.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use opentrail_delivery::selectors::TrailFilter;
use opentrail_model::{Arn, Origin, RecordRef};

use super::derived::GroupFilters;
use super::error::LogsError;
use super::events::{Derived, EventStore, StreamWrite};
use super::ingest::{EVENT_OVERHEAD, retention_cutoff};
use super::store::{self, FORMAT_VERSION, StoredGroup, StoredStream};
use opentrail_cloudtrail::store::{self as trails, StoredTrail};
use opentrail_core::AppState;
use opentrail_core::workers::{
    Entry, JournalConsumer, Progress, Worker, WorkerContext, WorkerState,
};

pub const NAME: &str = "logs";
const RETENTION_NAME: &str = "logs-retention";
/// CloudTrail does not send records larger than this to CloudWatch Logs.
const MAX_EVENT_BYTES: usize = 256 * 1024 - EVENT_OVERHEAD;
/// How often the retention worker runs.
const RETENTION_EVERY: Duration = Duration::from_secs(600);

/// A log group a trail sends to: `arn:aws:logs:<region>:<account>:log-group:<name>[:*]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupRef {
    pub account: String,
    pub region: String,
    pub name: String,
}

impl GroupRef {
    pub fn parse(arn: &str) -> Option<GroupRef> {
        let arn = Arn::of_service(arn, "logs")?;
        let name = arn.resource.strip_prefix("log-group:")?;
        Some(GroupRef {
            account: arn.account.to_owned(),
            region: arn.region.to_owned(),
            name: name.strip_suffix(":*").unwrap_or(name).to_owned(),
        })
    }
}

/// The stream CloudTrail writes a region's records of an account to.
pub fn stream_name(account: &str, region: &str) -> String {
    format!("{account}_CloudTrail_{region}")
}

/// Sends journal records to the log groups of the trails that select them.
pub struct TrailSender {
    state: Arc<AppState>,
    /// The position in the store, read at the start of the step.
    stored: u64,
    /// The trails that send, listed by [`JournalConsumer::skip`] for the `apply` that follows.
    senders: Vec<Sender>,
}

impl TrailSender {
    /// The event store, taken afresh each time so that a store reopened after a failed write
    /// is used (and the failed one let go).
    fn store(&self) -> Result<Arc<EventStore>, LogsError> {
        super::events::store_for(&self.state)
    }
}

impl JournalConsumer for TrailSender {
    const NAME: &'static str = NAME;
    const BATCH: usize = 2048;
    /// The cursor only lets the journal trim segments; the position is in the event store.
    const CURSOR_LAG: u64 = 10_000;
    type Error = LogsError;

    fn open(state: &Arc<AppState>, _cursor: u64) -> Result<(TrailSender, u64), LogsError> {
        let sender = TrailSender {
            state: state.clone(),
            stored: 0,
            senders: Vec::new(),
        };
        // Entries no trail sends anywhere move the position in memory only (persisted now and
        // then): replaying them after a crash sends nothing, as a trail takes only records
        // from after it started logging. So the follower's position starts at 0 and every
        // step reads on after the stored one when that is further (a reset moves it too).
        Ok((sender, 0))
    }

    fn position(&mut self, known: u64) -> Result<u64, LogsError> {
        self.stored = self.store()?.trail_applied()?;
        Ok(self.stored.max(known))
    }

    /// Lists the trails that send to a log group (after the follower took the journal's end:
    /// a trail that starts sending after this look only takes records appended after it);
    /// with none, moves to the end without reading.
    fn skip(&mut self, _after: u64, end: u64) -> Result<Option<Progress>, LogsError> {
        self.senders = senders(&self.state)?;
        if !self.senders.is_empty() {
            return Ok(None);
        }
        if end > self.stored + LAZY_ENTRIES {
            self.store()?.set_trail_applied(end)?;
        }
        Ok(Some(Progress {
            to: end,
            processed: 0,
            saved: Some(end),
        }))
    }

    fn apply(&mut self, _after: u64, entries: Vec<Entry>) -> Result<Progress, LogsError> {
        let senders = std::mem::take(&mut self.senders);
        let (records, upto) = send(&self.state, self.store()?.as_ref(), &senders, &entries)?;
        Ok(Progress {
            to: upto,
            processed: records,
            saved: Some(upto),
        })
    }

    fn finish(&mut self, position: u64) -> Result<u64, LogsError> {
        let store = self.store()?;
        let applied = store
            .trail_applied()?
            .max(position)
            .min(self.state.journal.last_seq());
        if let Err(err) = store.set_trail_applied(applied) {
            tracing::warn!(error = %err, "logs trail position was not saved");
        }
        Ok(applied)
    }
}

/// A trail that sends to a log group, with what deciding needs.
struct Sender {
    trail: StoredTrail,
    filter: TrailFilter,
    group: Option<GroupRef>,
}

/// Entries passed without a sender before the position is persisted anyway.
const LAZY_ENTRIES: u64 = 100_000;

/// The trails that send to a log group.
fn senders(state: &AppState) -> Result<Vec<Sender>, LogsError> {
    Ok(trails::all_trails(&state.meta)?
        .into_iter()
        .filter_map(|trail| {
            let arn = trail.cloud_watch_logs_log_group_arn.clone()?;
            let status = trails::status(&state.meta, &trail.key()).ok()?;
            Some(Sender {
                filter: trails::trail_filter(state, &trail, &status),
                group: GroupRef::parse(&arn),
                trail,
            })
        })
        .collect())
}

/// Sends what `senders` take of `entries` (none appended after the senders were listed:
/// those may follow a trail change, StartLogging or new selectors, that the list does not
/// show), with the position after them in the same durable batch; returns how many records
/// were sent and that position.
fn send(
    state: &AppState,
    store: &EventStore,
    senders: &[Sender],
    entries: &[Entry],
) -> Result<(u64, u64), LogsError> {
    let upto = entries.last().map_or(0, |entry| entry.seq);
    // Per log group and stream, the (timestamp, message)s to write; per trail, whether it
    // sent anything.
    let mut per_stream: BTreeMap<(GroupRef, String), Vec<(i64, String)>> = BTreeMap::new();
    let mut sending: HashMap<String, GroupRef> = HashMap::new();
    let mut broken: HashMap<String, String> = HashMap::new();
    let mut records = 0u64;
    for entry in entries {
        if opentrail_model::origin::origin(&entry.payload) == Origin::Ingested {
            continue;
        }
        let Ok(record) = RecordRef::parse(&entry.payload) else {
            continue;
        };
        let Some(event_ms) = record.event_time_ms() else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(&entry.payload) else {
            continue;
        };
        let message = text.trim();
        if message.len() > MAX_EVENT_BYTES {
            continue;
        }
        for sender in senders {
            if !sender.filter.takes(&record, event_ms) {
                continue;
            }
            let key = sender.trail.key();
            let Some(group) = &sender.group else {
                broken.insert(key, "InvalidCloudWatchLogsLogGroupArn".into());
                continue;
            };
            records += 1;
            sending.insert(key, group.clone());
            per_stream
                .entry((
                    group.clone(),
                    stream_name(
                        &sender.trail.account_id,
                        record.aws_region.as_deref().unwrap_or_default(),
                    ),
                ))
                .or_default()
                .push((event_ms, message.to_owned()));
        }
    }
    let now = opentrail_model::time::now_ms();
    let mut groups: HashMap<GroupRef, Option<StoredGroup>> = HashMap::new();
    let mut filters: HashMap<GroupRef, Arc<GroupFilters>> = HashMap::new();
    let mut writes = Vec::new();
    // Each written stream's filters and name.
    let mut stream_filters: HashMap<u64, (Arc<GroupFilters>, String)> = HashMap::new();
    for ((group_ref, stream), mut events) in per_stream {
        let group = match groups.get(&group_ref) {
            Some(group) => group.clone(),
            None => {
                let group = store::group(
                    &state.meta,
                    &group_ref.account,
                    &group_ref.region,
                    &group_ref.name,
                )?;
                groups.insert(group_ref.clone(), group.clone());
                group
            }
        };
        let Some(group) = group else {
            continue;
        };
        if let Some(cutoff) = retention_cutoff(&group, now) {
            events.retain(|(timestamp, _)| *timestamp >= cutoff);
        }
        events.sort_by_key(|(timestamp, _)| *timestamp);
        let stream = ensure_stream(state, &group_ref, &stream, now)?;
        let group_filters = match filters.get(&group_ref) {
            Some(loaded) => loaded.clone(),
            None => {
                let loaded = Arc::new(GroupFilters::load(
                    &state.meta,
                    &group_ref.account,
                    &group_ref.region,
                    &group_ref.name,
                )?);
                filters.insert(group_ref.clone(), loaded.clone());
                loaded
            }
        };
        stream_filters.insert(stream.id, (group_filters, stream.name.clone()));
        writes.push(StreamWrite {
            stream_id: stream.id,
            events,
        });
    }
    store.append(
        &writes,
        now,
        |written| {
            let mut derived = Derived::default();
            for (stream_id, events) in written {
                if let Some((group_filters, stream)) = stream_filters.get(stream_id) {
                    group_filters.derive_into(&mut derived, stream, events, now);
                }
            }
            derived
        },
        Some(upto),
    )?;
    for (key, group) in sending {
        let exists = groups.get(&group).is_some_and(Option::is_some);
        let error = (!exists).then(|| "LogGroupNotFound".to_owned());
        update_status(state, &key, now, error);
    }
    for (key, error) in broken {
        update_status(state, &key, now, Some(error));
    }
    Ok((records, upto))
}

fn update_status(state: &AppState, key: &str, now: i64, error: Option<String>) {
    let result = trails::update_status(&state.meta, key, |status| {
        if error.is_none() {
            status.latest_cloud_watch_logs_delivery_time_ms = Some(now);
        }
        status.latest_cloud_watch_logs_delivery_error = error;
    });
    if let Err(err) = result {
        tracing::warn!(error = %err, trail = key, "trail status update failed");
    }
}

/// The stream `name` of a group, created when missing.
fn ensure_stream(
    state: &AppState,
    group: &GroupRef,
    name: &str,
    now: i64,
) -> Result<StoredStream, LogsError> {
    let key = store::child_key(&group.account, &group.region, &group.name, name);
    state.meta.write(|txn| {
        if let Some(stream) = txn.get::<StoredStream>(store::STREAMS_TABLE, &key)? {
            return Ok(stream);
        }
        let stream = StoredStream {
            version: FORMAT_VERSION,
            name: name.to_owned(),
            group: group.name.clone(),
            id: rand::random(),
            created_ms: now,
        };
        txn.put(store::STREAMS_TABLE, &key, &stream)?;
        Ok::<_, LogsError>(stream)
    })
}

/// CloudWatch Logs delivery state of one trail (what GetTrailStatus shows as
/// `LatestCloudWatchLogsDeliveryTime` and `LatestCloudWatchLogsDeliveryError`).
pub fn delivery_status(
    state: &AppState,
    trail_key: &str,
) -> Result<(Option<i64>, Option<String>), LogsError> {
    let status = trails::status(&state.meta, trail_key)?;
    Ok((
        status.latest_cloud_watch_logs_delivery_time_ms,
        status.latest_cloud_watch_logs_delivery_error,
    ))
}

/// The `logs-retention` worker: drops events older than their group's retention, every few
/// minutes.
pub struct Retention;

impl Worker for Retention {
    fn name(&self) -> &'static str {
        RETENTION_NAME
    }

    async fn run(self, ctx: WorkerContext) -> Result<(), String> {
        let mut removed_total = 0u64;
        loop {
            let worker_state = ctx.state.clone();
            let outcome =
                tokio::task::spawn_blocking(move || enforce_retention(&worker_state)).await;
            match outcome {
                Ok(Ok(removed)) => {
                    removed_total += removed;
                    ctx.report(WorkerState::Idle, removed_total, None);
                }
                Ok(Err(err)) => {
                    ctx.report(WorkerState::Retrying, removed_total, Some(err.to_string()))
                }
                Err(err) => ctx.report(WorkerState::Retrying, removed_total, Some(err.to_string())),
            }
            if !ctx.sleep(RETENTION_EVERY).await {
                return Ok(());
            }
        }
    }
}

/// One retention pass; returns the events removed. Reads already hide expired events.
pub fn enforce_retention(state: &AppState) -> Result<u64, LogsError> {
    let store = super::events::store_for(state)?;
    let now = opentrail_model::time::now_ms();
    let mut removed = 0;
    for group in store::all_groups(&state.meta)? {
        let Some(cutoff) = retention_cutoff(&group, now) else {
            continue;
        };
        for stream in store::streams(&state.meta, &group.account, &group.region, &group.name)? {
            removed += store.delete_before(stream.id, cutoff)?;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_arns_parse_with_or_without_the_star() {
        let expected = GroupRef {
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            name: "/trail/logs".into(),
        };
        assert_eq!(
            GroupRef::parse("arn:aws:logs:eu-west-1:123456789012:log-group:/trail/logs:*"),
            Some(expected.clone())
        );
        assert_eq!(
            GroupRef::parse("arn:aws:logs:eu-west-1:123456789012:log-group:/trail/logs"),
            Some(expected)
        );
        assert_eq!(GroupRef::parse("arn:aws:s3:::bucket"), None);
        assert_eq!(
            stream_name("123456789012", "eu-west-1"),
            "123456789012_CloudTrail_eu-west-1"
        );
    }
}
