//! [`EventStore`]: the durable store of log events (and metric-filter datapoints), one fjall
//! database under `<data-dir>/logs/`.
//!
//! # Keyspaces (format version 1: `meta` key `format_version` = `1`)
//! - `events`: `stream_id u64 BE | timestamp u64 BE (i64 + 2^63) | seq u64 BE` →
//!   `ingestion_ms i64 BE | message (UTF-8)`. Streams have random 64-bit ids (kept with the
//!   stream in the metadata store), so a stream deleted and created again never sees the old
//!   stream's events. `seq` is one counter over the whole store: events of one stream are
//!   ordered by timestamp, then by ingestion.
//! - `streams`: `stream_id` → [`StreamStats`] (five u64/i64 BE).
//! - `meta`: `format_version`, `seq` (the last seq given out) and `trail_applied` (the last
//!   journal seq whose records the trail consumer has written).
//! - `metrics`, `series`: metric-filter datapoints, see [`super::metrics`].
//! - `outbox`: `seq u64 BE` → one subscription-filter delivery waiting to be sent (a
//!   versioned JSON value of [`super::subscriptions`]); keys come from the same seq counter
//!   as events, so the outbox reads in write order. Added without a format bump: it is a new
//!   keyspace, and a store written before it simply has none.
//!
//! # Durability
//! Each write (a PutLogEvents batch, a batch of trail records) is one atomic fjall batch:
//! the events, the stream statistics, the seq counter, the datapoints of the metric filters,
//! the subscription deliveries ([`Derived`]) and (for trail records) the journal position. It is committed with
//! [`PersistMode::SyncAll`] before the call is acknowledged, so an acknowledged write survives
//! `kill -9` and power loss, and a crash never leaves half of one. An outbox entry is removed
//! only after its destination took it (the removal is not fsync'd: after a crash the last
//! deliveries may be sent again — at least once).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use opentrail_core::AppState;

use super::error::{LogsError, written};
use super::metrics::{MetricStore, Sample};

/// The on-disk layout version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const KEY_FORMAT_VERSION: &[u8] = b"format_version";
const KEY_SEQ: &[u8] = b"seq";
const KEY_TRAIL_APPLIED: &[u8] = b"trail_applied";
const CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// Keys removed per batch when a stream or old events are deleted.
const DELETE_CHUNK: usize = 10_000;

/// Where an event sits in its stream's order: timestamp, then seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub timestamp: i64,
    pub seq: u64,
}

impl Position {
    pub const MIN: Position = Position {
        timestamp: i64::MIN,
        seq: 0,
    };
    pub const MAX: Position = Position {
        timestamp: i64::MAX,
        seq: u64::MAX,
    };

    /// The position as one number (for tokens): timestamp bits above seq bits.
    pub fn to_u128(self) -> u128 {
        (u128::from(biased(self.timestamp)) << 64) | u128::from(self.seq)
    }

    pub fn from_u128(value: u128) -> Position {
        Position {
            timestamp: unbiased((value >> 64) as u64),
            seq: value as u64,
        }
    }
}

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub stream_id: u64,
    pub position: Position,
    pub ingestion_ms: i64,
    pub message: String,
}

/// What a stream holds; kept in the same batches as its events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub first_timestamp: Option<i64>,
    pub last_timestamp: Option<i64>,
    pub last_ingestion_ms: Option<i64>,
    pub stored_bytes: u64,
    pub count: u64,
}

/// Events to add to one stream, in any order.
#[derive(Debug, Clone, Default)]
pub struct StreamWrite {
    pub stream_id: u64,
    pub events: Vec<(i64, String)>,
}

/// What a write derives from its events; committed in the same batch as the events.
#[derive(Debug, Default)]
pub struct Derived {
    /// Metric-filter datapoints.
    pub samples: Vec<Sample>,
    /// Subscription-filter deliveries, each an encoded value the outbox keeps opaque.
    pub outbox: Vec<Vec<u8>>,
}

/// The durable event store. See the module docs for the layout.
pub struct EventStore {
    db: Database,
    events: Keyspace,
    streams: Keyspace,
    meta: Keyspace,
    outbox: Keyspace,
    /// Woken after a write that added outbox entries.
    outbox_ready: tokio::sync::Notify,
    metrics: MetricStore,
    /// The last seq given out; writers hold this lock while they build and commit a batch.
    writer: Mutex<u64>,
    /// Set when a write failed in a way fjall does not come back from (it poisons the
    /// database): [`store_for`] then opens the store anew.
    failed: Arc<AtomicBool>,
}

fn biased(timestamp: i64) -> u64 {
    (timestamp as u64) ^ (1 << 63)
}

fn unbiased(value: u64) -> i64 {
    (value ^ (1 << 63)) as i64
}

fn event_key(stream_id: u64, position: Position) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&stream_id.to_be_bytes());
    key[8..16].copy_from_slice(&biased(position.timestamp).to_be_bytes());
    key[16..].copy_from_slice(&position.seq.to_be_bytes());
    key
}

fn read_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

fn decode_event(key: &[u8], value: &[u8]) -> Result<StoredEvent, LogsError> {
    let corrupt = || LogsError::Internal("a stored log event is malformed".into());
    if key.len() != 24 || value.len() < 8 {
        return Err(corrupt());
    }
    let stream_id = read_u64(&key[..8]).ok_or_else(corrupt)?;
    let timestamp = unbiased(read_u64(&key[8..16]).ok_or_else(corrupt)?);
    let seq = read_u64(&key[16..]).ok_or_else(corrupt)?;
    let ingestion_ms = read_u64(value).ok_or_else(corrupt)? as i64;
    let message = String::from_utf8(value[8..].to_vec()).map_err(|_| corrupt())?;
    Ok(StoredEvent {
        stream_id,
        position: Position { timestamp, seq },
        ingestion_ms,
        message,
    })
}

impl StreamStats {
    fn encode(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        let fields = [
            self.first_timestamp.map_or(0, biased),
            self.last_timestamp.map_or(0, biased),
            self.last_ingestion_ms.map_or(0, biased),
            self.stored_bytes,
            self.count,
        ];
        for (index, field) in fields.iter().enumerate() {
            out[index * 8..index * 8 + 8].copy_from_slice(&field.to_be_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> StreamStats {
        let field = |index: usize| read_u64(bytes.get(index * 8..).unwrap_or_default());
        let time = |index: usize| field(index).filter(|v| *v != 0).map(unbiased);
        StreamStats {
            first_timestamp: time(0),
            last_timestamp: time(1),
            last_ingestion_ms: time(2),
            stored_bytes: field(3).unwrap_or(0),
            count: field(4).unwrap_or(0),
        }
    }

    fn add(&mut self, timestamp: i64, ingestion_ms: i64, bytes: u64) {
        self.first_timestamp = Some(self.first_timestamp.map_or(timestamp, |t| t.min(timestamp)));
        self.last_timestamp = Some(self.last_timestamp.map_or(timestamp, |t| t.max(timestamp)));
        self.last_ingestion_ms = Some(ingestion_ms);
        self.stored_bytes += bytes;
        self.count += 1;
    }
}

impl EventStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<EventStore, LogsError> {
        fs_err::create_dir_all(dir).map_err(|err| LogsError::Internal(err.to_string()))?;
        let db = Database::builder(dir)
            .cache_size(CACHE_BYTES)
            .worker_threads(1)
            .open()?;
        let meta = db.keyspace("meta", KeyspaceCreateOptions::default)?;
        match meta.get(KEY_FORMAT_VERSION)? {
            Some(found) if found.as_ref() == FORMAT_VERSION.to_string().as_bytes() => {}
            Some(found) => {
                return Err(LogsError::Internal(format!(
                    "log store {} has format version {}, this build reads {FORMAT_VERSION}",
                    dir.display(),
                    String::from_utf8_lossy(&found)
                )));
            }
            None => {
                meta.insert(KEY_FORMAT_VERSION, FORMAT_VERSION.to_string().as_bytes())?;
                db.persist(PersistMode::SyncAll)?;
            }
        }
        let events = db.keyspace("events", KeyspaceCreateOptions::default)?;
        let streams = db.keyspace("streams", KeyspaceCreateOptions::default)?;
        let outbox = db.keyspace("outbox", KeyspaceCreateOptions::default)?;
        let failed = Arc::new(AtomicBool::new(false));
        let metrics = MetricStore::open(&db, failed.clone())?;
        let last_seq = meta
            .get(KEY_SEQ)?
            .and_then(|value| read_u64(&value))
            .unwrap_or(0);
        Ok(EventStore {
            db,
            events,
            streams,
            meta,
            outbox,
            outbox_ready: tokio::sync::Notify::new(),
            metrics,
            writer: Mutex::new(last_seq),
            failed,
        })
    }

    /// Whether a write failed in a way only reopening the store cures.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// The metric datapoints kept with the events.
    pub fn metrics(&self) -> &MetricStore {
        &self.metrics
    }

    /// Adds events to streams, what `derive` computes from them (it sees each stream's events
    /// with their seqs: metric datapoints, subscription deliveries), and optionally the trail
    /// consumer's journal position, in one durable batch. Returns the stats of every written
    /// stream.
    pub fn append(
        &self,
        writes: &[StreamWrite],
        ingestion_ms: i64,
        derive: impl FnOnce(&[(u64, Vec<(Position, &str)>)]) -> Derived,
        trail_applied: Option<u64>,
    ) -> Result<HashMap<u64, StreamStats>, LogsError> {
        let mut last_seq = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seq = *last_seq;
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        let mut stats: HashMap<u64, StreamStats> = HashMap::new();
        let mut positioned = Vec::with_capacity(writes.len());
        for write in writes {
            let current = match stats.get(&write.stream_id) {
                Some(current) => *current,
                None => self.stats(write.stream_id)?,
            };
            let mut updated = current;
            let mut events = Vec::with_capacity(write.events.len());
            for (timestamp, message) in &write.events {
                seq += 1;
                let position = Position {
                    timestamp: *timestamp,
                    seq,
                };
                let mut value = Vec::with_capacity(8 + message.len());
                value.extend_from_slice(&(ingestion_ms as u64).to_be_bytes());
                value.extend_from_slice(message.as_bytes());
                batch.insert(&self.events, event_key(write.stream_id, position), value);
                updated.add(*timestamp, ingestion_ms, message.len() as u64);
                events.push((position, message.as_str()));
            }
            batch.insert(
                &self.streams,
                write.stream_id.to_be_bytes(),
                updated.encode(),
            );
            stats.insert(write.stream_id, updated);
            positioned.push((write.stream_id, events));
        }
        let Derived { samples, outbox } = derive(&positioned);
        self.metrics.stage(&mut batch, &samples);
        let delivers = !outbox.is_empty();
        for entry in outbox {
            seq += 1;
            batch.insert(&self.outbox, seq.to_be_bytes(), entry);
        }
        batch.insert(&self.meta, KEY_SEQ, seq.to_be_bytes());
        if let Some(applied) = trail_applied {
            batch.insert(&self.meta, KEY_TRAIL_APPLIED, applied.to_be_bytes());
        }
        written(&self.failed, batch.commit())?;
        if !samples.is_empty() {
            self.metrics.committed();
        }
        *last_seq = seq;
        if delivers {
            self.outbox_ready.notify_one();
        }
        Ok(stats)
    }

    /// Up to `limit` outbox entries, oldest first.
    pub fn outbox_read(&self, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, LogsError> {
        let mut out = Vec::new();
        for guard in self.outbox.iter().take(limit) {
            let (key, value) = guard.into_inner()?;
            let key = read_u64(&key)
                .ok_or_else(|| LogsError::Internal("an outbox key is malformed".into()))?;
            out.push((key, value.to_vec()));
        }
        Ok(out)
    }

    /// Removes an outbox entry (its destination took it, or never will).
    pub fn outbox_remove(&self, key: u64) -> Result<(), LogsError> {
        written(&self.failed, self.outbox.remove(key.to_be_bytes()))?;
        Ok(())
    }

    /// Resolves once a write has added outbox entries since the last wake-up.
    pub async fn outbox_added(&self) {
        self.outbox_ready.notified().await;
    }

    /// The stats of a stream (empty when it holds nothing).
    pub fn stats(&self, stream_id: u64) -> Result<StreamStats, LogsError> {
        Ok(self
            .streams
            .get(stream_id.to_be_bytes())?
            .map(|bytes| StreamStats::decode(&bytes))
            .unwrap_or_default())
    }

    /// The last journal seq whose records the trail consumer has written.
    pub fn trail_applied(&self) -> Result<u64, LogsError> {
        Ok(self
            .meta
            .get(KEY_TRAIL_APPLIED)?
            .and_then(|value| read_u64(&value))
            .unwrap_or(0))
    }

    /// Moves the trail consumer's position without writing events (records no trail took).
    pub fn set_trail_applied(&self, applied: u64) -> Result<(), LogsError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&self.meta, KEY_TRAIL_APPLIED, applied.to_be_bytes());
        written(&self.failed, batch.commit())?;
        Ok(())
    }

    /// Up to `limit` events of one stream strictly between `after` and `before`, in order
    /// (`forward`) or in reverse order.
    pub fn read_stream(
        &self,
        stream_id: u64,
        after: Position,
        before: Position,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, LogsError> {
        if after >= before {
            return Ok(Vec::new());
        }
        let range = event_key(stream_id, after)..event_key(stream_id, before);
        let iter = self.events.range(range);
        let mut out = Vec::new();
        let mut push = |guard: fjall::Guard| -> Result<bool, LogsError> {
            let (key, value) = guard.into_inner()?;
            let event = decode_event(&key, &value)?;
            if event.position != after {
                out.push(event);
            }
            Ok(out.len() < limit)
        };
        if forward {
            for guard in iter {
                if !push(guard)? {
                    break;
                }
            }
        } else {
            for guard in iter.rev() {
                if !push(guard)? {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Visits the events of `streams` in `[start, end]` (by timestamp) after `after`, merged
    /// in (timestamp, seq) order, until `visit` returns `false`. Returns how many events were
    /// visited.
    pub fn scan_merged(
        &self,
        streams: &[u64],
        after: Position,
        end_timestamp: i64,
        mut visit: impl FnMut(StoredEvent) -> Result<bool, LogsError>,
    ) -> Result<u64, LogsError> {
        let end = Position {
            timestamp: end_timestamp,
            seq: u64::MAX,
        };
        let mut iters: Vec<fjall::Iter> = streams
            .iter()
            .map(|stream| {
                self.events
                    .range(event_key(*stream, after)..=event_key(*stream, end))
            })
            .collect();
        // The next event of each stream, keyed by position (seqs are unique).
        let mut heads: BTreeMap<Position, (usize, StoredEvent)> = BTreeMap::new();
        let advance = |index: usize,
                       iters: &mut Vec<fjall::Iter>,
                       heads: &mut BTreeMap<Position, (usize, StoredEvent)>|
         -> Result<(), LogsError> {
            for guard in iters[index].by_ref() {
                let (key, value) = guard.into_inner()?;
                let event = decode_event(&key, &value)?;
                if event.position == after {
                    continue;
                }
                heads.insert(event.position, (index, event));
                break;
            }
            Ok(())
        };
        for index in 0..iters.len() {
            advance(index, &mut iters, &mut heads)?;
        }
        let mut visited = 0;
        while let Some((_, (index, event))) = heads.pop_first() {
            visited += 1;
            if !visit(event)? {
                break;
            }
            advance(index, &mut iters, &mut heads)?;
        }
        Ok(visited)
    }

    /// Removes every event of a stream and its stats.
    pub fn delete_stream(&self, stream_id: u64) -> Result<(), LogsError> {
        self.delete_range(stream_id, Position::MAX)?;
        written(&self.failed, self.streams.remove(stream_id.to_be_bytes()))?;
        Ok(())
    }

    /// Removes the events of a stream older than `cutoff_ms`; returns how many.
    pub fn delete_before(&self, stream_id: u64, cutoff_ms: i64) -> Result<u64, LogsError> {
        self.delete_range(
            stream_id,
            Position {
                timestamp: cutoff_ms,
                seq: 0,
            },
        )
    }

    fn delete_range(&self, stream_id: u64, before: Position) -> Result<u64, LogsError> {
        let mut removed = 0u64;
        loop {
            let keys: Vec<fjall::UserKey> = self
                .events
                .range(event_key(stream_id, Position::MIN)..event_key(stream_id, before))
                .take(DELETE_CHUNK)
                .map(|guard| guard.key())
                .collect::<Result<_, _>>()?;
            if keys.is_empty() {
                return Ok(removed);
            }
            let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let mut batch = self.db.batch();
            removed += keys.len() as u64;
            for key in keys {
                batch.remove(&self.events, key);
            }
            written(&self.failed, batch.commit())?;
        }
    }

    /// Removes everything (the development reset); the seq counter goes on.
    pub fn clear(&self) -> Result<(), LogsError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        written(&self.failed, self.events.clear())?;
        written(&self.failed, self.streams.clear())?;
        self.metrics.clear()?;
        written(&self.failed, self.outbox.clear())?;
        written(&self.failed, self.meta.remove(KEY_TRAIL_APPLIED))?;
        written(&self.failed, self.db.persist(PersistMode::SyncAll))?;
        Ok(())
    }
}

/// The store of a server (opened under `<data-dir>/logs` on first use; owned by the
/// [`AppState`]).
///
/// A store whose write poisoned it ([`EventStore::failed`], a full disk) is dropped here and
/// opened anew: fjall recovers what was durable. The reopen waits until the calls and workers
/// still holding the failed store let it go (workers take the store afresh every step);
/// until then this answers an error.
pub fn store_for(state: &AppState) -> Result<Arc<EventStore>, LogsError> {
    let open = || EventStore::open(&state.config.data_dir.join("logs"));
    let store = state.extensions.get_or_try_init(open)?;
    if !store.failed() {
        return Ok(store);
    }
    if state.extensions.remove_if(&store) {
        tracing::warn!("the logs store failed a write; it is opened anew");
    }
    drop(store);
    state.extensions.get_or_try_init(open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(stream_id: u64, events: &[(i64, &str)]) -> StreamWrite {
        StreamWrite {
            stream_id,
            events: events.iter().map(|(t, m)| (*t, (*m).to_owned())).collect(),
        }
    }

    #[test]
    fn events_come_back_in_time_order_and_merge_across_streams() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EventStore::open(dir.path()).expect("open");
        store
            .append(
                &[write(1, &[(30, "c"), (10, "a")]), write(2, &[(20, "b")])],
                100,
                |_| Derived::default(),
                None,
            )
            .expect("append");
        store
            .append(
                &[write(1, &[(-5, "early")])],
                101,
                |_| Derived::default(),
                Some(7),
            )
            .expect("append");
        let forward = store
            .read_stream(1, Position::MIN, Position::MAX, true, 10)
            .expect("read");
        let messages: Vec<&str> = forward.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["early", "a", "c"]);
        let backward = store
            .read_stream(1, Position::MIN, Position::MAX, false, 2)
            .expect("read");
        let messages: Vec<&str> = backward.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["c", "a"]);
        let stats = store.stats(1).expect("stats");
        assert_eq!(stats.first_timestamp, Some(-5));
        assert_eq!(stats.last_timestamp, Some(30));
        assert_eq!(stats.count, 3);
        assert_eq!(store.trail_applied().expect("applied"), 7);

        let mut merged = Vec::new();
        store
            .scan_merged(&[1, 2], forward[1].position, 25, |event| {
                merged.push(event.message);
                Ok(true)
            })
            .expect("scan");
        assert_eq!(merged, ["b"]);

        assert_eq!(store.delete_before(1, 15).expect("delete"), 2);
        store.delete_stream(2).expect("delete stream");
        drop(store);
        let reopened = EventStore::open(dir.path()).expect("reopen");
        let left = reopened
            .read_stream(1, Position::MIN, Position::MAX, true, 10)
            .expect("read");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].message, "c");
        assert_eq!(reopened.stats(2).expect("stats").count, 0);
        let next = reopened
            .append(&[write(2, &[(1, "x")])], 5, |_| Derived::default(), None)
            .expect("append");
        assert_eq!(next[&2].count, 1);
        let again = reopened
            .read_stream(2, Position::MIN, Position::MAX, true, 10)
            .expect("read");
        assert!(again[0].position.seq > forward[2].position.seq);
    }

    #[test]
    fn outbox_entries_commit_with_their_events_and_read_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EventStore::open(dir.path()).expect("open");
        let derive = |entries: &[&str]| {
            let outbox: Vec<Vec<u8>> = entries.iter().map(|e| e.as_bytes().to_vec()).collect();
            move |_: &[(u64, Vec<(Position, &str)>)]| Derived {
                samples: Vec::new(),
                outbox,
            }
        };
        store
            .append(
                &[write(1, &[(10, "a")])],
                100,
                derive(&["first", "second"]),
                None,
            )
            .expect("append");
        store
            .append(&[write(1, &[(11, "b")])], 101, derive(&["third"]), None)
            .expect("append");
        let read = store.outbox_read(10).expect("read");
        let values: Vec<&[u8]> = read.iter().map(|(_, v)| v.as_slice()).collect();
        assert_eq!(values, [&b"first"[..], b"second", b"third"]);
        assert!(read.windows(2).all(|pair| pair[0].0 < pair[1].0));
        store.outbox_remove(read[0].0).expect("remove");
        drop(store);
        let reopened = EventStore::open(dir.path()).expect("reopen");
        let left = reopened.outbox_read(10).expect("read");
        assert_eq!(left.len(), 2);
        assert_eq!(left[0].1, b"second");
        // Keys keep growing after a reopen: new entries come after the old ones.
        reopened
            .append(&[write(1, &[(12, "c")])], 102, derive(&["fourth"]), None)
            .expect("append");
        let all = reopened.outbox_read(10).expect("read");
        assert_eq!(all.last().map(|(_, v)| v.as_slice()), Some(&b"fourth"[..]));
        assert!(all.windows(2).all(|pair| pair[0].0 < pair[1].0));
        reopened.clear().expect("clear");
        assert!(reopened.outbox_read(10).expect("read").is_empty());
    }

    #[test]
    fn positions_round_trip_through_numbers() {
        for position in [
            Position::MIN,
            Position::MAX,
            Position {
                timestamp: -1,
                seq: 3,
            },
            Position {
                timestamp: 1_700_000_000_000,
                seq: 42,
            },
        ] {
            assert_eq!(Position::from_u128(position.to_u128()), position);
        }
        assert!(
            Position {
                timestamp: -1,
                seq: 9
            }
            .to_u128()
                < Position {
                    timestamp: 0,
                    seq: 0
                }
                .to_u128()
        );
    }
}
