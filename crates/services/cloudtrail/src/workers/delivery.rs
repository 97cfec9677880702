//! The `delivery` worker: follows the journal and writes each trail's log files into its
//! bucket, every `delivery_interval`; then hands the delivered files to the digests
//! ([`super::digests`]).
//!
//! # Exactly once across crashes
//!
//! The journal is the source of truth. Each trail has a delivery position in the metadata
//! store: every record at or below it is delivered (or not selected). A round reads the journal
//! past the positions, selects records per trail (selectors, logging window, regions), and for
//! each trail with records:
//!
//! 1. persists a **plan** — the object keys, the journal seqs of each file, the delivery
//!    time — next to the position;
//! 2. writes the objects (puts are atomic and durable; overwriting one is harmless);
//! 3. in one metadata transaction, moves the position to the plan's end, drops the plan and
//!    adds the files to the trail's pending digest entries.
//!
//! After a crash, a plan still present is redone first: the same journal seqs give the same
//! bytes under the same keys. Nothing is buffered in memory between rounds, so records not yet
//! delivered are simply read again. The journal cursor `delivery` follows the lowest trail
//! position (it only lets the journal drop segments every consumer has passed).
//!
//! # Tables (format version 1)
//! `delivery-trails`, key = trail key → [`TrailDelivery`].
//!
//! # Where files go
//! Into the [`opentrail_core::delivery_target::DeliveryTarget`]: the embedded bucket store, or an
//! external S3-compatible service when one is configured. Log files carry SSE-KMS under the
//! trail's `KmsKeyId` when it has one, SSE-S3 otherwise.
//!
//! # Failures
//! A failed put (bucket deleted, access denied, store full, service unreachable) leaves the
//! plan in place; the trail is retried with a growing backoff while the other trails go on, and
//! the error shows in GetTrailStatus (`LatestDeliveryError`: `NoSuchBucket`, or the S3 error
//! code an external service answered, e.g. `AccessDenied`) and in the log.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentrail_delivery::digest::{DigestLogFile, HASH_ALGORITHM, format_time, sha256_hex};
use opentrail_delivery::logfile::{self, MAX_FILE_BYTES};
use opentrail_delivery::selectors::TrailFilter;
use opentrail_journal::Cursor;
use opentrail_meta::MetaError;
use opentrail_model::RecordRef;
use opentrail_objects::PutOptions;
use serde::{Deserialize, Serialize};

use super::digests;
use super::error::{DeliveryError, check_bucket};
use crate::delivery_target;
use crate::store::{self, StoredTrail, TrailStatus};
use opentrail_core::AppState;
use opentrail_core::workers::{Worker, WorkerContext, WorkerState};

pub const NAME: &str = "delivery";
pub const TRAILS_TABLE: &str = "delivery-trails";
pub const FORMAT_VERSION: u32 = 1;
const CURSOR: &str = "delivery";
/// Journal entries read at a time.
const READ_BATCH: usize = 4096;
/// Selected bytes after which a round delivers what it has and reads on.
const ROUND_BYTES: usize = 64 * 1024 * 1024;

/// One trail's delivery bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrailDelivery {
    pub version: u32,
    /// Every journal entry at or below this seq is delivered or not selected.
    pub position: u64,
    #[serde(default)]
    pub plan: Option<LogPlan>,
}

/// A delivery that was started: redone with the same keys and content after a crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogPlan {
    /// The position once the plan is done.
    pub upto: u64,
    pub delivered_ms: i64,
    pub bucket: String,
    pub files: Vec<PlannedFile>,
    /// The gzip level of the files (kept so that a redone plan writes the same bytes).
    #[serde(default = "default_gzip_level")]
    pub gzip_level: u32,
}

fn default_gzip_level() -> u32 {
    logfile::DEFAULT_LEVEL
}

/// One log file of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFile {
    /// The account whose records it holds, for an organization trail (`None`: the trail's).
    #[serde(default)]
    pub account: Option<String>,
    pub region: String,
    pub key: String,
    /// The journal seqs of its records, as inclusive runs, in order.
    pub seqs: Vec<(u64, u64)>,
}

/// The records one log file may hold: one account's (an organization trail's files are per
/// account) in one region.
type Stream = (String, String);

/// A selected record: its journal seq, bytes and event time.
struct Selected {
    seq: u64,
    payload: Arc<Vec<u8>>,
    event_ms: i64,
}

/// Retry bookkeeping of a failing trail.
#[derive(Debug, Clone, Copy)]
struct Retry {
    failures: u32,
    next_at: Instant,
}

/// What the worker keeps between rounds (only retry timing: everything else is durable).
pub struct Deliverer {
    state: Arc<AppState>,
    cursor: Cursor,
    retries: HashMap<String, Retry>,
    pub processed: u64,
    pub last_error: Option<String>,
}

/// The `delivery` worker: delivery rounds every `delivery_interval`, digests, and retries of
/// failed trails, until shutdown.
pub struct Delivery;

impl Worker for Delivery {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(self, ctx: WorkerContext) -> Result<(), String> {
        let state = ctx.state.clone();
        let cursor = state
            .journal
            .cursor(CURSOR)
            .map_err(|err| format!("the delivery cursor does not open: {err}"))?;
        let delivery_interval = state.config.delivery_interval;
        let tick = delivery_interval
            .min(state.config.digest_interval)
            .min(Duration::from_secs(5));
        let worker = Arc::new(Mutex::new(Deliverer {
            state: state.clone(),
            cursor,
            retries: HashMap::new(),
            processed: 0,
            last_error: None,
        }));
        let mut next_delivery = Instant::now() + delivery_interval;
        while !ctx.stopping() {
            let now = Instant::now();
            let deliver = now >= next_delivery;
            if deliver {
                next_delivery = now + delivery_interval;
            }
            let round_worker = worker.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let mut worker = round_worker.lock().unwrap_or_else(PoisonError::into_inner);
                worker.round(deliver)
            })
            .await;
            let wake = match outcome {
                Ok(retry_at) => retry_at,
                Err(err) => {
                    tracing::error!(error = %err, "delivery round panicked");
                    None
                }
            };
            let mut until = (Instant::now() + tick).min(next_delivery);
            if let Some(retry_at) = wake {
                until = until.min(retry_at.max(Instant::now() + Duration::from_millis(200)));
            }
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => {}
                () = ctx.stopped() => {}
            }
        }
        Ok(())
    }
}

impl Deliverer {
    /// One round: deliver when `deliver` (or a retry is due), then the digests. Returns when
    /// the earliest pending retry is due.
    fn round(&mut self, deliver: bool) -> Option<Instant> {
        let retry_due = self
            .retries
            .values()
            .any(|retry| retry.next_at <= Instant::now());
        if deliver || retry_due {
            match self.deliver_round() {
                Ok(()) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "delivery round failed; retrying");
                    self.last_error = Some(err.to_string());
                }
            }
        }
        if let Err(err) = digests::round(&self.state, &self.positions()) {
            tracing::warn!(error = %err, "digest round failed; retrying");
            self.last_error = Some(err.to_string());
        }
        let state_name = if self.retries.is_empty() {
            WorkerState::Idle
        } else {
            WorkerState::Retrying
        };
        self.state
            .workers
            .report(NAME, state_name, self.processed, self.last_error.clone());
        self.retries.values().map(|retry| retry.next_at).min()
    }

    /// Every trail's delivery position, by trail key.
    fn positions(&self) -> HashMap<String, u64> {
        self.state
            .meta
            .list::<TrailDelivery>(TRAILS_TABLE, "")
            .map(|rows| {
                rows.into_iter()
                    .map(|(key, row)| (key, row.position))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn retry_due(&self, key: &str) -> bool {
        self.retries
            .get(key)
            .is_none_or(|retry| retry.next_at <= Instant::now())
    }

    fn failed(&mut self, trail_key: &str, err: &DeliveryError) {
        let interval = self.state.config.delivery_interval;
        let retry = self.retries.entry(trail_key.to_owned()).or_insert(Retry {
            failures: 0,
            next_at: Instant::now(),
        });
        retry.failures = retry.failures.saturating_add(1);
        let backoff = Duration::from_secs(1 << retry.failures.min(8))
            .min(interval.max(Duration::from_secs(2)));
        retry.next_at = Instant::now() + backoff;
        tracing::warn!(trail = trail_key, error = %err, failures = retry.failures, "trail delivery failed; will retry");
        self.last_error = Some(format!("{trail_key}: {err}"));
        let code = err.status_code();
        let now = opentrail_model::time::now_ms();
        if let Err(meta_err) = store::update_status(&self.state.meta, trail_key, |status| {
            status.latest_delivery_attempt_time_ms = Some(now);
            status.latest_delivery_error = Some(code);
        }) {
            tracing::warn!(error = %meta_err, "recording a delivery failure failed");
        }
    }

    fn succeeded(&mut self, trail_key: &str) {
        self.retries.remove(trail_key);
    }

    /// Delivers everything the journal holds past the trails' positions.
    fn deliver_round(&mut self) -> Result<(), DeliveryError> {
        let state = self.state.clone();
        // Read the end first: every record up to it was appended after its call's metadata
        // change (StartLogging, CreateTrail) was committed, so the statuses read below see it.
        let last = state.journal.last_seq();
        let trails = store::all_trails(&state.meta)?;
        let mut statuses = HashMap::new();
        for trail in &trails {
            statuses.insert(trail.key(), store::status(&state.meta, &trail.key())?);
        }
        let floor = self.cursor.position().min(last);
        let mut rows: BTreeMap<String, TrailDelivery> =
            state.meta.list(TRAILS_TABLE, "")?.into_iter().collect();
        let live: HashSet<String> = trails.iter().map(StoredTrail::key).collect();

        // Trails that are gone: finish a started plan, then forget them.
        for (key, row) in rows.clone() {
            if live.contains(&key) {
                continue;
            }
            if let Some(plan) = &row.plan
                && self.retry_due(&key)
            {
                match self.execute(&key, None, plan) {
                    Ok(_) => self.succeeded(&key),
                    Err(err) => {
                        let failures = self.retries.get(&key).map_or(0, |r| r.failures);
                        if failures < 5 {
                            self.failed(&key, &err);
                            continue;
                        }
                        tracing::warn!(trail = key, error = %err, "giving up the last delivery of a deleted trail");
                    }
                }
            } else if row.plan.is_some() {
                continue;
            }
            state.meta.delete(TRAILS_TABLE, &key)?;
            rows.remove(&key);
            self.retries.remove(&key);
        }

        // New trails start at the floor: nothing below it can be theirs.
        for trail in &trails {
            if let std::collections::btree_map::Entry::Vacant(slot) = rows.entry(trail.key()) {
                let row = TrailDelivery {
                    version: FORMAT_VERSION,
                    position: floor,
                    plan: None,
                };
                state.meta.put(TRAILS_TABLE, slot.key(), &row)?;
                slot.insert(row);
            }
        }

        // Redo started plans; a trail whose plan fails waits for its retry.
        let mut active: Vec<&StoredTrail> = Vec::new();
        for trail in &trails {
            let key = trail.key();
            if !self.retry_due(&key) {
                continue;
            }
            let Some(row) = rows.get_mut(&key) else {
                continue;
            };
            if let Some(plan) = row.plan.clone() {
                match self.execute(&key, Some(trail), &plan) {
                    Ok(()) => {
                        row.position = plan.upto;
                        row.plan = None;
                        self.succeeded(&key);
                    }
                    Err(err) => {
                        self.failed(&key, &err);
                        continue;
                    }
                }
            }
            active.push(trail);
        }

        let mut positions: HashMap<String, u64> = active
            .iter()
            .filter_map(|trail| {
                rows.get(&trail.key())
                    .map(|row| (trail.key(), row.position))
            })
            .collect();
        let mut after = positions.values().copied().min().unwrap_or(last);
        while after < last && !active.is_empty() {
            let (end, mut selected, behind) =
                self.read_and_select(after, last, &active, &statuses, &positions)?;
            if end <= after {
                break;
            }
            // Behind (the round filled up, more is waiting): the fast level, to catch up.
            let level = if behind {
                logfile::FAST_LEVEL
            } else {
                logfile::DEFAULT_LEVEL
            };
            let mut still_active = Vec::new();
            let mut plain_moves = Vec::new();
            for trail in active {
                let key = trail.key();
                match selected.remove(&key) {
                    Some(by_region) if !by_region.is_empty() => {
                        match self.deliver_trail(trail, by_region, end, level) {
                            Ok(()) => {
                                self.succeeded(&key);
                                positions.insert(key, end);
                                still_active.push(trail);
                            }
                            Err(err) => {
                                self.failed(&key, &err);
                            }
                        }
                    }
                    _ => {
                        plain_moves.push(key.clone());
                        positions.insert(key, end);
                        still_active.push(trail);
                    }
                }
            }
            if !plain_moves.is_empty() {
                state.meta.write(|txn| {
                    for key in &plain_moves {
                        if let Some(mut row) = txn.get::<TrailDelivery>(TRAILS_TABLE, key)?
                            && row.plan.is_none()
                            && row.position < end
                        {
                            row.position = end;
                            txn.put(TRAILS_TABLE, key, &row)?;
                        }
                    }
                    Ok::<(), MetaError>(())
                })?;
            }
            active = still_active;
            after = end;
        }

        // The journal may drop what every trail has passed.
        let lowest = state
            .meta
            .list::<TrailDelivery>(TRAILS_TABLE, "")?
            .into_iter()
            .map(|(_, row)| row.position)
            .min()
            .unwrap_or(last)
            .min(last);
        if lowest != self.cursor.position() {
            self.cursor.commit(lowest)?;
        }
        Ok(())
    }

    /// Reads entries after `after` (at most to `last`) until enough bytes are selected;
    /// returns the last seq read, the selected records per trail and region, and whether the
    /// round filled up (more is waiting: delivery is behind).
    #[allow(clippy::type_complexity)]
    fn read_and_select(
        &self,
        after: u64,
        last: u64,
        active: &[&StoredTrail],
        statuses: &HashMap<String, TrailStatus>,
        positions: &HashMap<String, u64>,
    ) -> Result<(u64, HashMap<String, BTreeMap<Stream, Vec<Selected>>>, bool), DeliveryError> {
        let mut selected: HashMap<String, BTreeMap<Stream, Vec<Selected>>> = HashMap::new();
        let takers: Vec<Taker> = active
            .iter()
            .filter_map(|trail| {
                let key = trail.key();
                let status = statuses.get(&key)?;
                let position = positions.get(&key).copied().unwrap_or(0);
                let filter = store::trail_filter(&self.state, trail, status);
                Some(Taker {
                    filter,
                    position,
                    key,
                })
            })
            .collect();
        let mut bytes = 0usize;
        let mut end = after;
        while end < last && bytes < ROUND_BYTES {
            let wanted = usize::try_from(last - end)
                .unwrap_or(READ_BATCH)
                .min(READ_BATCH);
            let mut entries = self.state.journal.read_from(end, wanted)?;
            entries.retain(|entry| entry.seq <= last);
            let Some(read_end) = entries.last().map(|entry| entry.seq) else {
                break;
            };
            end = read_end;
            for choice in choose_all(&entries, &takers) {
                let entry = &mut entries[choice.index];
                let payload = Arc::new(std::mem::take(&mut entry.payload));
                for taker in choice.takers {
                    bytes += payload.len();
                    selected
                        .entry(takers[taker].key.clone())
                        .or_default()
                        .entry((choice.account.clone(), choice.region.clone()))
                        .or_default()
                        .push(Selected {
                            seq: entry.seq,
                            payload: payload.clone(),
                            event_ms: choice.event_ms,
                        });
                }
            }
        }
        Ok((end, selected, bytes >= ROUND_BYTES))
    }

    /// Plans, writes and commits the files of one trail for records up to `upto`.
    fn deliver_trail(
        &mut self,
        trail: &StoredTrail,
        by_stream: BTreeMap<Stream, Vec<Selected>>,
        upto: u64,
        gzip_level: u32,
    ) -> Result<(), DeliveryError> {
        let key = trail.key();
        let delivered_ms = opentrail_model::time::now_ms();
        let organization = trail
            .organization_id
            .as_deref()
            .filter(|_| trail.is_organization_trail);
        let mut files = Vec::new();
        let mut contents = Vec::new();
        for ((account, region), records) in by_stream {
            let sizes: Vec<usize> = records.iter().map(|record| record.payload.len()).collect();
            for (index, run) in logfile::split_by_size(&sizes, MAX_FILE_BYTES)
                .into_iter()
                .enumerate()
            {
                let part = &records[run];
                let seed = match organization {
                    Some(_) => format!("{key}|{account}|{region}|{upto}|{delivered_ms}|{index}"),
                    None => format!("{key}|{region}|{upto}|{delivered_ms}|{index}"),
                };
                let object_key = logfile::log_key(
                    trail.s3_key_prefix.as_deref(),
                    organization,
                    if organization.is_some() {
                        &account
                    } else {
                        &trail.account_id
                    },
                    &region,
                    delivered_ms,
                    &logfile::unique_string(seed.as_bytes()),
                );
                files.push(PlannedFile {
                    account: organization.map(|_| account.clone()),
                    region: region.clone(),
                    key: object_key,
                    seqs: runs(part.iter().map(|record| record.seq)),
                });
                contents.push(
                    part.iter()
                        .map(|record| (record.payload.clone(), record.event_ms))
                        .collect::<Vec<_>>(),
                );
            }
        }
        let plan = LogPlan {
            upto,
            delivered_ms,
            bucket: trail.s3_bucket_name.clone(),
            files,
            gzip_level,
        };
        self.state.meta.write(|txn| {
            let mut row = txn
                .get::<TrailDelivery>(TRAILS_TABLE, &key)?
                .unwrap_or(TrailDelivery {
                    version: FORMAT_VERSION,
                    position: 0,
                    plan: None,
                });
            row.plan = Some(plan.clone());
            txn.put(TRAILS_TABLE, &key, &row)
        })?;
        let written = self.write_files(&plan, trail.kms_key_id.as_deref(), contents)?;
        self.commit(&key, Some(trail), &plan, written)
    }

    /// Redoes `plan` from the journal and commits it. `trail` is `None` for a deleted trail.
    fn execute(
        &mut self,
        key: &str,
        trail: Option<&StoredTrail>,
        plan: &LogPlan,
    ) -> Result<(), DeliveryError> {
        let mut contents = Vec::new();
        for file in &plan.files {
            let mut records = Vec::new();
            for (first, last) in &file.seqs {
                let count = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
                let entries = self.state.journal.read_from(first - 1, count)?;
                let mut expected = *first;
                for entry in entries {
                    if entry.seq != expected {
                        return Err(DeliveryError::MissingEntry(expected));
                    }
                    expected += 1;
                    let event_ms = RecordRef::parse(&entry.payload)
                        .ok()
                        .and_then(|record| record.event_time_ms())
                        .unwrap_or(0);
                    records.push((Arc::new(entry.payload), event_ms));
                }
                if expected != last + 1 {
                    return Err(DeliveryError::MissingEntry(expected));
                }
            }
            contents.push(records);
        }
        let kms_key_id = trail.and_then(|trail| trail.kms_key_id.as_deref());
        let written = self.write_files(plan, kms_key_id, contents)?;
        self.commit(key, trail, plan, written)
    }

    /// Writes the files of `plan` (contents in the plan's file order), encrypted under
    /// `kms_key_id` when given; returns their digest entries with their regions.
    fn write_files(
        &mut self,
        plan: &LogPlan,
        kms_key_id: Option<&str>,
        contents: Vec<Vec<(Arc<Vec<u8>>, i64)>>,
    ) -> Result<Vec<(Option<String>, String, DigestLogFile)>, DeliveryError> {
        check_bucket(&self.state, &plan.bucket)?;
        let options = PutOptions {
            content_type: Some("application/x-gzip".into()),
            sse: Some(delivery_target::log_file_encryption(kms_key_id)),
            ..PutOptions::default()
        };
        let packed_files = pack_files(&contents, plan.gzip_level);
        let mut written = Vec::new();
        for ((file, records), packed) in plan.files.iter().zip(contents).zip(packed_files) {
            let (packed, hash_value) = packed?;
            let newest = records
                .iter()
                .map(|(_, ms)| *ms)
                .max()
                .unwrap_or(plan.delivered_ms);
            let oldest = records
                .iter()
                .map(|(_, ms)| *ms)
                .min()
                .unwrap_or(plan.delivered_ms);
            self.state
                .delivery_store()
                .put(&plan.bucket, &file.key, &packed, &options)
                .map_err(|source| DeliveryError::Store {
                    bucket: plan.bucket.clone(),
                    source,
                })?;
            self.processed += records.len() as u64;
            written.push((
                file.account.clone(),
                file.region.clone(),
                DigestLogFile {
                    s3_bucket: plan.bucket.clone(),
                    s3_object: file.key.clone(),
                    hash_value,
                    hash_algorithm: HASH_ALGORITHM.into(),
                    newest_event_time: format_time(newest),
                    oldest_event_time: format_time(oldest),
                },
            ));
        }
        Ok(written)
    }

    /// Moves the trail's position past `plan`, drops the plan and hands the files to the
    /// digests, in one transaction; then records the delivery in the trail's status.
    fn commit(
        &mut self,
        key: &str,
        trail: Option<&StoredTrail>,
        plan: &LogPlan,
        written: Vec<(Option<String>, String, DigestLogFile)>,
    ) -> Result<(), DeliveryError> {
        self.state.meta.write(|txn| {
            if let Some(mut row) = txn.get::<TrailDelivery>(TRAILS_TABLE, key)? {
                row.position = row.position.max(plan.upto);
                row.plan = None;
                txn.put(TRAILS_TABLE, key, &row)?;
            }
            for (account, region, file) in &written {
                digests::add_log_file(
                    txn,
                    key,
                    trail,
                    account.as_deref(),
                    region,
                    file.clone(),
                    plan.delivered_ms,
                )?;
            }
            Ok::<(), MetaError>(())
        })?;
        let now = opentrail_model::time::now_ms();
        store::update_status(&self.state.meta, key, |status| {
            status.latest_delivery_time_ms = Some(plan.delivered_ms);
            status.latest_delivery_attempt_time_ms = Some(now);
            status.latest_delivery_attempt_succeeded_ms = Some(now);
            status.latest_delivery_error = None;
        })?;
        let object_keys = plan.files.iter().map(|file| file.key.clone()).collect();
        crate::notify::log_files_delivered(&self.state, key, trail, &plan.bucket, object_keys);
        tracing::debug!(trail = key, files = plan.files.len(), "delivered log files");
        Ok(())
    }
}

/// Threads that build, hash and gzip a round's files.
const PACK_THREADS: usize = 2;

/// A log file's records: payload and event time (ms).
type FileRecords = Vec<(Arc<Vec<u8>>, i64)>;

/// A log file's gzip bytes and its body's SHA-256 (hex).
type PackedFile = std::io::Result<(Vec<u8>, String)>;

/// The gzip bytes and the body's SHA-256 (hex) of each file's records, in file order. Files are
/// packed on up to [`PACK_THREADS`] threads; each file's bytes depend only on its records (same
/// level, no time stamp), so a redone plan writes the same bytes.
fn pack_files(contents: &[FileRecords], level: u32) -> Vec<PackedFile> {
    let pack = |records: &[(Arc<Vec<u8>>, i64)]| -> PackedFile {
        let body = logfile::records_body(records.iter().map(|(payload, _)| payload.as_slice()));
        let hash = sha256_hex(&body);
        Ok((logfile::gzip_at(&body, level)?, hash))
    };
    if contents.len() < 2 {
        return contents.iter().map(|records| pack(records)).collect();
    }
    let threads = PACK_THREADS.min(contents.len());
    let mut packed: Vec<Option<PackedFile>> = std::iter::repeat_with(|| None)
        .take(contents.len())
        .collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                let pack = &pack;
                scope.spawn(move || {
                    // Files `worker`, `worker + threads`, …: a round's files are mostly similar
                    // in size, so striding keeps the threads evenly loaded.
                    (worker..contents.len())
                        .step_by(threads)
                        .map(|index| (index, pack(&contents[index])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for worker in workers {
            match worker.join() {
                Ok(results) => {
                    for (index, result) in results {
                        packed[index] = Some(result);
                    }
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    packed
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| Err(std::io::Error::other("log file was not packed")))
        })
        .collect()
}

/// Consecutive seqs as inclusive runs.
fn runs(seqs: impl Iterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for seq in seqs {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == seq => *last = seq,
            _ => out.push((seq, seq)),
        }
    }
    out
}

/// A trail taking part in a round's selection.
struct Taker {
    filter: TrailFilter,
    /// Records at or below it are already delivered.
    position: u64,
    key: String,
}

/// A journal entry some trails take.
struct Choice {
    /// Its index in the entries read.
    index: usize,
    event_ms: i64,
    /// The record's account (`recipientAccountId`) and region.
    account: String,
    region: String,
    /// Indexes into the takers.
    takers: Vec<usize>,
}

/// Threads that parse and select a batch of journal entries.
const SELECT_THREADS: usize = 2;
/// Below this many entries a batch is selected on the calling thread.
const SELECT_PARALLEL_MIN: usize = 512;

/// The entries each trail takes, in journal order. Parsing is most of the cost, so large
/// batches are split over [`SELECT_THREADS`] threads; each entry's choice depends only on it.
fn choose_all(entries: &[opentrail_journal::Entry], takers: &[Taker]) -> Vec<Choice> {
    if takers.is_empty() {
        return Vec::new();
    }
    if entries.len() < SELECT_PARALLEL_MIN {
        return choose(entries, 0, takers);
    }
    let chunk = entries.len().div_ceil(SELECT_THREADS);
    std::thread::scope(|scope| {
        let workers: Vec<_> = entries
            .chunks(chunk)
            .enumerate()
            .map(|(part, slice)| scope.spawn(move || choose(slice, part * chunk, takers)))
            .collect();
        let mut chosen = Vec::new();
        for worker in workers {
            match worker.join() {
                Ok(part) => chosen.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        chosen
    })
}

/// [`choose_all`] on one thread; `offset` is the index of `entries[0]`.
fn choose(entries: &[opentrail_journal::Entry], offset: usize, takers: &[Taker]) -> Vec<Choice> {
    let mut chosen = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        if opentrail_model::origin::origin(&entry.payload) == opentrail_model::Origin::Ingested {
            continue;
        }
        let Ok(record) = RecordRef::parse(&entry.payload) else {
            tracing::warn!(
                seq = entry.seq,
                "journal entry is not a record; not delivered"
            );
            continue;
        };
        let Some(event_ms) = record.event_time_ms() else {
            continue;
        };
        let taking: Vec<usize> = takers
            .iter()
            .enumerate()
            .filter(|(_, taker)| {
                entry.seq > taker.position && taker.filter.takes(&record, event_ms)
            })
            .map(|(at, _)| at)
            .collect();
        if !taking.is_empty() {
            chosen.push(Choice {
                index: offset + index,
                event_ms,
                account: record.account_id().unwrap_or_default().to_owned(),
                region: record.aws_region.unwrap_or_default().into_owned(),
                takers: taking,
            });
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    use opentrail_model::Record;
    use opentrail_objects::{ByteRange, LocalStore, ObjectInfo, ObjectStore, StoreError};

    use crate::store::{STATUS_TABLE, TRAILS_TABLE as TRAIL_CONFIGS};
    use opentrail_core::ServerConfig;
    use opentrail_s3::{BUCKETS_TABLE, BucketRecord};

    /// A store whose puts fail once `puts_left` reaches zero (a crash in the middle of
    /// writing a plan's files).
    struct FlakyStore {
        inner: LocalStore,
        puts_left: Arc<AtomicI64>,
    }

    impl ObjectStore for FlakyStore {
        fn create_bucket(&self, bucket: &str) -> Result<(), StoreError> {
            self.inner.create_bucket(bucket)
        }
        fn delete_bucket(&self, bucket: &str) -> Result<(), StoreError> {
            self.inner.delete_bucket(bucket)
        }
        fn put(
            &self,
            bucket: &str,
            key: &str,
            data: &[u8],
            options: &PutOptions,
        ) -> Result<ObjectInfo, StoreError> {
            if self.puts_left.fetch_sub(1, Ordering::SeqCst) <= 0 {
                return Err(StoreError::Other("injected crash".into()));
            }
            self.inner.put(bucket, key, data, options)
        }
        fn get(
            &self,
            bucket: &str,
            key: &str,
            range: Option<ByteRange>,
        ) -> Result<(ObjectInfo, Vec<u8>), StoreError> {
            self.inner.get(bucket, key, range)
        }
        fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, StoreError> {
            self.inner.head(bucket, key)
        }
        fn delete(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
            self.inner.delete(bucket, key)
        }
        fn list(
            &self,
            bucket: &str,
            prefix: &str,
            start_after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<ObjectInfo>, StoreError> {
            self.inner.list(bucket, prefix, start_after, limit)
        }
        fn clear(&self) -> Result<(), StoreError> {
            self.inner.clear()
        }
    }

    fn record_json(region: &str, id: usize) -> Vec<u8> {
        let record = Record {
            event_version: "1.11".into(),
            event_time: opentrail_model::time::format_event_time(time::OffsetDateTime::now_utc()),
            event_source: Some("cloudtrail.amazonaws.com".into()),
            event_name: Some("DescribeTrails".into()),
            aws_region: region.into(),
            event_id: format!("event-{id}"),
            event_type: "AwsApiCall".into(),
            read_only: Some(true),
            recipient_account_id: Some("123456789012".into()),
            event_category: Some(opentrail_model::EventCategory::Management),
            ..Record::default()
        };
        serde_json::to_vec(&record).expect("record")
    }

    /// Every record id in the bucket, with how many times it was delivered.
    fn delivered_ids(state: &AppState) -> BTreeMap<String, usize> {
        let mut ids = BTreeMap::new();
        for object in state.objects.list("logs", "", None, 1000).expect("list") {
            let (_, body) = state.objects.get("logs", &object.key, None).expect("get");
            let document: serde_json::Value =
                serde_json::from_slice(&logfile::gunzip(&body).expect("gunzip")).expect("json");
            for record in document["Records"].as_array().expect("records") {
                let id = record["eventID"].as_str().expect("id").to_owned();
                *ids.entry(id).or_default() += 1;
            }
        }
        ids
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_plan_interrupted_mid_write_is_redone_with_the_same_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut state =
            AppState::open(ServerConfig::for_tests(dir.path().to_path_buf())).expect("state");
        let puts_left = Arc::new(AtomicI64::new(i64::MAX));
        state.objects = Arc::new(FlakyStore {
            inner: LocalStore::open(&dir.path().join("flaky-objects")).expect("store"),
            puts_left: puts_left.clone(),
        });
        let state = Arc::new(state);
        state.objects.create_bucket("logs").expect("bucket");
        let bucket = BucketRecord {
            name: "logs".into(),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            created_ms: 0,
            policy: None,
        };
        state
            .meta
            .put(BUCKETS_TABLE, "logs", &bucket)
            .expect("bucket record");
        let mut trail = crate::store::tests::trail("all", "us-east-1", true, 1);
        trail.s3_bucket_name = "logs".into();
        let mut status = TrailStatus::new();
        status.is_logging = true;
        status.start_logging_time_ms = Some(opentrail_model::time::now_ms() - 60_000);
        state
            .meta
            .put(TRAIL_CONFIGS, &trail.key(), &trail)
            .expect("trail");
        state
            .meta
            .put(STATUS_TABLE, &trail.key(), &status)
            .expect("status");

        let deliverer = |state: &Arc<AppState>| Deliverer {
            state: state.clone(),
            cursor: state.journal.cursor(CURSOR).expect("cursor"),
            retries: HashMap::new(),
            processed: 0,
            last_error: None,
        };
        for id in 0..6 {
            let region = if id % 2 == 0 {
                "us-east-1"
            } else {
                "eu-west-1"
            };
            state
                .journal
                .append(record_json(region, id))
                .await
                .expect("append");
        }
        let mut first = deliverer(&state);
        first.deliver_round().expect("round");
        assert_eq!(delivered_ids(&state).len(), 6);

        // Two more files' worth; the second put "crashes".
        for id in 6..12 {
            let region = if id % 2 == 0 {
                "us-east-1"
            } else {
                "eu-west-1"
            };
            state
                .journal
                .append(record_json(region, id))
                .await
                .expect("append");
        }
        puts_left.store(1, Ordering::SeqCst);
        first.deliver_round().expect("round");
        let row: TrailDelivery = state
            .meta
            .get(TRAILS_TABLE, &trail.key())
            .expect("row")
            .expect("present");
        let plan = row.plan.expect("the interrupted plan is kept");
        assert_eq!(plan.files.len(), 2);
        assert_eq!(
            store::status(&state.meta, &trail.key())
                .expect("status")
                .latest_delivery_error
                .as_deref(),
            Some("InternalError")
        );
        assert_eq!(
            delivered_ids(&state).len(),
            9,
            "one of the two files was written"
        );

        // "Restart": a new worker redoes the plan under the same keys.
        puts_left.store(i64::MAX, Ordering::SeqCst);
        let mut second = deliverer(&state);
        second.deliver_round().expect("round");
        let ids = delivered_ids(&state);
        assert_eq!(ids.len(), 12);
        assert!(ids.values().all(|count| *count == 1), "{ids:?}");
        let keys: HashSet<String> = state
            .objects
            .list_keys("logs", "", None, 1000)
            .expect("keys")
            .into_iter()
            .collect();
        for file in &plan.files {
            assert!(keys.contains(&file.key), "{} was written", file.key);
        }
        assert_eq!(keys.len(), 4);
        let row: TrailDelivery = state
            .meta
            .get(TRAILS_TABLE, &trail.key())
            .expect("row")
            .expect("present");
        assert!(row.plan.is_none());
        assert_eq!(row.position, state.journal.last_seq());
        assert_eq!(
            state.journal.cursor(CURSOR).expect("cursor").position(),
            row.position
        );
        let status = store::status(&state.meta, &trail.key()).expect("status");
        assert_eq!(status.latest_delivery_error, None);
        assert!(status.latest_delivery_time_ms.is_some());
    }

    #[test]
    fn store_refusals_show_their_s3_code_in_the_trail_status() {
        let store_error = |source| DeliveryError::Store {
            bucket: "logs".into(),
            source,
        };
        assert_eq!(
            DeliveryError::NoSuchBucket("logs".into()).status_code(),
            "NoSuchBucket"
        );
        assert_eq!(
            store_error(StoreError::NoSuchBucket("logs".into())).status_code(),
            "NoSuchBucket"
        );
        for code in ["AccessDenied", "QuotaExceeded", "SlowDown"] {
            let refused = store_error(StoreError::Refused {
                code: code.into(),
                message: "refused".into(),
            });
            assert_eq!(refused.status_code(), code);
        }
        assert_eq!(
            store_error(StoreError::Other("connection refused".into())).status_code(),
            "InternalError"
        );
    }

    #[test]
    fn files_packed_in_parallel_match_one_by_one_and_keep_their_order() {
        let contents: Vec<Vec<(Arc<Vec<u8>>, i64)>> = (0..5)
            .map(|file| {
                (0..=file * 3)
                    .map(|id| (Arc::new(record_json("us-east-1", file * 100 + id)), 0))
                    .collect()
            })
            .collect();
        for level in [logfile::DEFAULT_LEVEL, logfile::FAST_LEVEL] {
            let packed = pack_files(&contents, level);
            assert_eq!(packed.len(), contents.len());
            for (records, packed) in contents.iter().zip(packed) {
                let (gzip, hash) = packed.expect("packed");
                let body =
                    logfile::records_body(records.iter().map(|(payload, _)| payload.as_slice()));
                assert_eq!(hash, sha256_hex(&body));
                assert_eq!(
                    gzip,
                    logfile::gzip_at(&body, level).expect("gzip"),
                    "same bytes on redo"
                );
                assert_eq!(logfile::gunzip(&gzip).expect("gunzip"), body);
            }
        }
    }

    #[test]
    fn selection_split_over_threads_matches_one_thread() {
        let trail: StoredTrail = serde_json::from_value(serde_json::json!({
            "version": 1, "name": "t", "account_id": "123456789012", "home_region": "us-east-1",
            "created_ns": 0, "s3_bucket_name": "bucket", "include_global_service_events": true,
            "is_multi_region_trail": true, "log_file_validation_enabled": false
        }))
        .expect("trail");
        let status = TrailStatus {
            is_logging: true,
            start_logging_time_ms: Some(0),
            ..TrailStatus::default()
        };
        let takers = [Taker {
            filter: trail.filter(&status),
            position: 40,
            key: trail.key(),
        }];
        let regions = ["us-east-1", "eu-west-1"];
        let entries: Vec<opentrail_journal::Entry> = (1..=2_000u64)
            .map(|seq| {
                let json = record_json(regions[(seq % 2) as usize], seq as usize);
                let payload = if seq % 7 == 0 {
                    opentrail_model::origin::mark_ingested(&json)
                } else if seq % 11 == 0 {
                    b"not a record".to_vec()
                } else {
                    json
                };
                opentrail_journal::Entry { seq, payload }
            })
            .collect();
        let parallel = choose_all(&entries, &takers);
        let single = choose(&entries, 0, &takers);
        let summary = |chosen: &[Choice]| -> Vec<(usize, String)> {
            chosen
                .iter()
                .map(|choice| (choice.index, choice.region.clone()))
                .collect()
        };
        assert_eq!(summary(&parallel), summary(&single));
        let expected: Vec<usize> = (1..=2_000usize)
            .filter(|seq| *seq > 40 && seq % 7 != 0 && seq % 11 != 0)
            .map(|seq| seq - 1)
            .collect();
        let indexes: Vec<usize> = parallel.iter().map(|choice| choice.index).collect();
        assert_eq!(
            indexes, expected,
            "ingested, non-records and delivered ones left out"
        );
    }

    #[test]
    fn seq_runs_collapse_consecutive_seqs() {
        assert_eq!(
            runs([1, 2, 3, 7, 9, 10].into_iter()),
            vec![(1, 3), (7, 7), (9, 10)]
        );
        assert!(runs(std::iter::empty()).is_empty());
    }
}
