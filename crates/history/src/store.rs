//! [`Index`]: the fjall database, its day partitions, indexing, lookups and retention.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use fjall::config::{CompressionPolicy, FilterPolicy};
use fjall::{CompressionType, Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use opentrail_model::EventCategory;
use serde::Deserialize;

use crate::dedupe::IdFilter;
use crate::error::HistoryError;
use crate::extract;
use crate::keys::{self, INSIGHT_BIT, KIND_TIME, MAX_TIME_MS, Position, PostingHasher, Scope};
use crate::pages::{Page, PageBuilder};
use crate::postings::{self, BUCKET_MS, BatchPostings, Merge};
use crate::query::{HistoryEvent, LookupAttributeKey, LookupPage, LookupQuery};
use crate::token;

/// The on-disk layout version this build writes and reads.
pub const FORMAT_VERSION: u32 = 4;

const DAY_MS: i64 = 86_400_000;
const META: &str = "meta";
const IDS: &str = "ids";
const INDEX_PREFIX: &str = "ix-";
const EVENTS_PREFIX: &str = "ev-";
const KEY_FORMAT_VERSION: &[u8] = b"format_version";
const KEY_APPLIED_SEQ: &[u8] = b"applied_seq";
const KEY_RETENTION_CUTOFF: &[u8] = b"retention_cutoff_ms";
const KEY_TOKEN_KEY: &[u8] = b"token_key";
const KEY_POSTING_KEY: &[u8] = b"posting_key";
const KEY_DAY_COUNT: &[u8] = b"day_count/";
const KEY_DAY_SPAN: &[u8] = b"day_span/";
/// Records per fjall write batch; bounds the memory of one `index` call.
const CHUNK: usize = 8_192;
/// Dedupe-set removals per write batch during retention.
const RETENTION_CHUNK: usize = 16_384;
const CACHE_BYTES: u64 = 64 * 1024 * 1024;
const MAX_JOURNALING_BYTES: u64 = 128 * 1024 * 1024;

/// Settings of the history index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Events older than this many days fall out of lookups and are removed.
    pub retention_days: u32,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig { retention_days: 90 }
    }
}

/// What one [`crate::History::index`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Records newly indexed.
    pub indexed: u64,
    /// Entries skipped: not a record, a data or network-activity event, a duplicate eventID,
    /// older than the retention, or without an account.
    pub skipped: u64,
}

/// The two keyspaces of one UTC day.
#[derive(Clone)]
struct Partition {
    /// Event pages (see [`crate::pages`]), by the seq of their first record.
    events: Keyspace,
    /// Posting blocks (see [`crate::postings`]).
    index: Keyspace,
    /// The largest time span (ms) of a block of this day, as persisted under `day_span/`:
    /// a scan for positions at or below time `t` starts at blocks whose newest is `t + span`.
    /// Raised before the batch that writes a wider block commits, never lowered.
    span_ms: Arc<AtomicI64>,
}

/// State only writers (`index`, `enforce_retention`) touch, under one lock.
struct WriterState {
    /// Indexed events per day partition, as persisted under `day_count/`.
    day_counts: BTreeMap<u32, u64>,
    /// Every eventID of `ids` may be in it; built on first use, rebuilt when full.
    filter: Option<IdFilter>,
}

/// The fjall-backed index behind [`History`](crate::History), open for as long as its files
/// can be written. See the crate docs for the layout.
pub struct Index {
    path: PathBuf,
    db: Database,
    meta: Keyspace,
    ids: Keyspace,
    partitions: RwLock<BTreeMap<u32, Partition>>,
    writer: Mutex<WriterState>,
    applied_seq: AtomicU64,
    /// Events before this time are hidden; days wholly before it are removed.
    cutoff_ms: AtomicI64,
    total: AtomicU64,
    token_key: Vec<u8>,
    hasher: PostingHasher,
    retention_ms: i64,
}

fn day_of(time_ms: i64) -> u32 {
    u32::try_from(time_ms.div_euclid(DAY_MS).max(0)).unwrap_or(u32::MAX)
}

/// First millisecond after `day`.
fn day_end_ms(day: u32) -> i64 {
    (i64::from(day) + 1) * DAY_MS
}

fn day_count_key(day: u32) -> Vec<u8> {
    day_key(KEY_DAY_COUNT, day)
}

fn day_key(prefix: &[u8], day: u32) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(&day.to_be_bytes());
    key
}

/// `(day, u64)` of every `prefix` + day u32 BE entry of `meta`.
fn read_day_values(meta: &Keyspace, prefix: &[u8]) -> Result<BTreeMap<u32, u64>, HistoryError> {
    let mut out = BTreeMap::new();
    for entry in meta.prefix(prefix) {
        let (key, value) = entry.into_inner()?;
        let day_bytes: [u8; 4] = key[prefix.len()..].try_into().map_err(|_| {
            HistoryError::Corrupt(format!("malformed {} key", String::from_utf8_lossy(prefix)))
        })?;
        out.insert(
            u32::from_be_bytes(day_bytes),
            read_u64(&value, "day value")?,
        );
    }
    Ok(out)
}

fn read_u64(bytes: &[u8], what: &str) -> Result<u64, HistoryError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| {
        HistoryError::Corrupt(format!("{what} is {} bytes, expected 8", bytes.len()))
    })?;
    Ok(u64::from_be_bytes(array))
}

/// The `ids` key of an eventID (by its keyed hash) in `day`.
fn id_key(day: u32, id_hash: u64) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..4].copy_from_slice(&day.to_be_bytes());
    key[4..].copy_from_slice(&id_hash.to_be_bytes());
    key
}

/// The journal seqs of an `ids` value (`[seq u64 BE]` × n).
fn decode_seqs(value: &[u8]) -> Result<impl Iterator<Item = u64> + '_, HistoryError> {
    if value.is_empty() || !value.len().is_multiple_of(8) {
        return Err(HistoryError::Corrupt(format!(
            "eventID entry of {} bytes",
            value.len()
        )));
    }
    Ok(value
        .chunks_exact(8)
        .map(|chunk| chunk.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b))))
}

/// The record text of event `seq` in `day`.
fn read_event(
    snapshot: &fjall::Snapshot,
    partition: &Partition,
    day: u32,
    seq: u64,
) -> Result<String, HistoryError> {
    with_event(snapshot, partition, day, seq, |_, text| {
        String::from_utf8(text.to_vec())
            .map_err(|_| HistoryError::Corrupt(format!("event {seq} of day {day} is not UTF-8")))
    })?
}

/// Calls `read` with the eventID and record text of event `seq` in `day`.
fn with_event<R>(
    snapshot: &fjall::Snapshot,
    partition: &Partition,
    day: u32,
    seq: u64,
    read: impl FnOnce(&[u8], &[u8]) -> R,
) -> Result<R, HistoryError> {
    let malformed = || HistoryError::Corrupt(format!("event page of day {day} is malformed"));
    // The page holding `seq` starts at or below it; pages of batches indexed out of order may
    // interleave, so earlier pages are tried until one holds it.
    for entry in snapshot
        .range(&partition.events, ..=seq.to_be_bytes())
        .rev()
    {
        let value = entry.value()?;
        let page = Page::parse(&value).ok_or_else(malformed)?;
        let Some(found) = page.find(seq) else {
            continue;
        };
        let (_, id, text) = found.ok_or_else(malformed)?;
        return Ok(read(id, text));
    }
    Err(HistoryError::Corrupt(format!(
        "event {seq} of day {day} is missing"
    )))
}

/// The seq of the event of `event_id` in `day`, if that day holds it (`ids` is keyed by hash:
/// the stored eventIDs of every candidate are compared).
fn find_event_id(
    snapshot: &fjall::Snapshot,
    ids: &Keyspace,
    partition: &Partition,
    day: u32,
    event_id: &str,
    id_hash: u64,
) -> Result<Option<u64>, HistoryError> {
    let Some(value) = snapshot.get(ids, id_key(day, id_hash))? else {
        return Ok(None);
    };
    for seq in decode_seqs(&value)? {
        if with_event(snapshot, partition, day, seq, |id, _| {
            id == event_id.as_bytes()
        })? {
            return Ok(Some(seq));
        }
    }
    Ok(None)
}

/// The eventID hash of an `ids` key.
fn hash_of_id_key(key: &[u8]) -> Result<u64, HistoryError> {
    key.get(4..)
        .and_then(|hash| <[u8; 8]>::try_from(hash).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| HistoryError::Corrupt(format!("eventID key of {} bytes", key.len())))
}

fn parse_stored(text: &str, seq: u64) -> Result<extract::Extracted<'_>, HistoryError> {
    extract::parse(text.as_bytes())
        .ok_or_else(|| HistoryError::Corrupt(format!("stored event {seq} no longer parses")))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves nothing half-written in memory: persisted state
    // changes only through committed batches, and counters are updated after the commit.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A secret for token tags and posting hashes. `RandomState` is seeded from the OS; these only
/// need to be unguessable, not cryptographically strong (a forged token still reads only its
/// own query, and a forced posting collision only costs lookups extra verification).
fn new_secret() -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    (0..4u64)
        .flat_map(|i| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(i);
            hasher.write_u128(nanos);
            hasher.write_u32(std::process::id());
            hasher.finish().to_le_bytes()
        })
        .collect()
}

fn ids_options() -> KeyspaceCreateOptions {
    // Point reads only (a dedupe check the in-memory filter could not settle, an EventId
    // lookup): the default Bloom filters stay.
    KeyspaceCreateOptions::default().max_memtable_size(32 * 1024 * 1024)
}

fn index_options() -> KeyspaceCreateOptions {
    // Index keyspaces are only range-scanned: point-read filters would be dead weight.
    KeyspaceCreateOptions::default()
        .filter_policy(FilterPolicy::disabled())
        .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
        .max_memtable_size(16 * 1024 * 1024)
}

fn events_options() -> KeyspaceCreateOptions {
    // Every event read is a hit (the key comes from the index).
    KeyspaceCreateOptions::default()
        .expect_point_read_hits(true)
        .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
        .max_memtable_size(32 * 1024 * 1024)
}

impl Index {
    /// Opens (or creates) the index in `dir`.
    pub fn open(dir: &Path, config: HistoryConfig) -> Result<Index, HistoryError> {
        fs_err::create_dir_all(dir)?;
        let db = Database::builder(dir)
            .cache_size(CACHE_BYTES)
            .max_journaling_size(MAX_JOURNALING_BYTES)
            // Event pages pass fjall's journal compression threshold: compressed there too, they
            // would be compressed twice on the indexing thread (they are in the tables).
            .journal_compression(CompressionType::None)
            .open()?;
        let meta = db.keyspace(META, KeyspaceCreateOptions::default)?;
        match meta.get(KEY_FORMAT_VERSION)? {
            Some(found) if found.as_ref() == FORMAT_VERSION.to_string().as_bytes() => {}
            Some(found) => {
                return Err(HistoryError::UnsupportedFormat {
                    path: dir.to_owned(),
                    found: String::from_utf8_lossy(&found).into_owned(),
                    expected: FORMAT_VERSION,
                });
            }
            None => {
                if db.list_keyspace_names().len() > 1 {
                    return Err(HistoryError::Corrupt(format!(
                        "{} holds keyspaces but no format_version",
                        dir.display()
                    )));
                }
                let mut batch = db.batch();
                batch.insert(
                    &meta,
                    KEY_FORMAT_VERSION,
                    FORMAT_VERSION.to_string().as_bytes(),
                );
                batch.insert(&meta, KEY_TOKEN_KEY, new_secret());
                batch.insert(&meta, KEY_POSTING_KEY, new_secret());
                batch.commit()?;
                db.persist(PersistMode::SyncAll)?;
            }
        }
        let token_key = meta
            .get(KEY_TOKEN_KEY)?
            .ok_or_else(|| HistoryError::Corrupt("token_key is missing".into()))?
            .to_vec();
        let posting_key = meta
            .get(KEY_POSTING_KEY)?
            .ok_or_else(|| HistoryError::Corrupt("posting_key is missing".into()))?;
        let hasher = PostingHasher::new(&posting_key)
            .ok_or_else(|| HistoryError::Corrupt("posting_key is shorter than 16 bytes".into()))?;
        let applied_seq = match meta.get(KEY_APPLIED_SEQ)? {
            Some(bytes) => read_u64(&bytes, "applied_seq")?,
            None => 0,
        };
        let cutoff_ms = match meta.get(KEY_RETENTION_CUTOFF)? {
            Some(bytes) => read_u64(&bytes, "retention_cutoff_ms")?.cast_signed(),
            None => i64::MIN,
        };
        let ids = db.keyspace(IDS, ids_options)?;

        let day_counts = read_day_values(&meta, KEY_DAY_COUNT)?;
        let day_spans = read_day_values(&meta, KEY_DAY_SPAN)?;
        let mut partitions = BTreeMap::new();
        for name in db.list_keyspace_names() {
            let name: &str = &name;
            let Some(day) = name
                .strip_prefix(INDEX_PREFIX)
                .or_else(|| name.strip_prefix(EVENTS_PREFIX))
                .and_then(|day| day.parse::<u32>().ok())
            else {
                continue;
            };
            if let std::collections::btree_map::Entry::Vacant(slot) = partitions.entry(day) {
                let partition = Self::open_partition(&db, day)?;
                // Without a recorded span (never written by this layout) assume the widest.
                let span = day_spans
                    .get(&day)
                    .map_or(BUCKET_MS, |span| i64::try_from(*span).unwrap_or(BUCKET_MS));
                partition.span_ms.store(span, Ordering::SeqCst);
                slot.insert(partition);
            }
        }
        let total = day_counts.values().sum();
        tracing::debug!(
            path = %dir.display(),
            applied_seq,
            events = total,
            days = partitions.len(),
            "history index opened"
        );
        Ok(Index {
            path: dir.to_owned(),
            db,
            meta,
            ids,
            partitions: RwLock::new(partitions),
            writer: Mutex::new(WriterState {
                day_counts,
                filter: None,
            }),
            applied_seq: AtomicU64::new(applied_seq),
            cutoff_ms: AtomicI64::new(cutoff_ms),
            total: AtomicU64::new(total),
            token_key,
            hasher,
            retention_ms: i64::from(config.retention_days) * DAY_MS,
        })
    }

    fn open_partition(db: &Database, day: u32) -> Result<Partition, HistoryError> {
        Ok(Partition {
            events: db.keyspace(&format!("{EVENTS_PREFIX}{day}"), events_options)?,
            index: db.keyspace(&format!("{INDEX_PREFIX}{day}"), index_options)?,
            span_ms: Arc::new(AtomicI64::new(0)),
        })
    }

    /// The directory this index lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The highest journal sequence number whose entry has been applied; replay after it.
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq.load(Ordering::Acquire)
    }

    /// Indexed events (exact, maintained per day partition).
    pub fn len(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Whether no event is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The oldest event time lookups and indexing still accept at wall-clock time `now_ms`.
    fn floor_ms(&self, now_ms: i64) -> i64 {
        let by_clock = now_ms.saturating_sub(self.retention_ms);
        by_clock.max(self.cutoff_ms.load(Ordering::Acquire)).max(0)
    }

    fn partitions_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u32, Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn partitions_write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<u32, Partition>> {
        self.partitions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Index journal entries (seq ascending). Entries that are not JSON records, data events
    /// (category Data / NetworkActivity) or duplicates (same eventID already indexed) are
    /// skipped. Management and Insight records are indexed. Records older than the retention
    /// are skipped. `applied_seq` advances to the last entry's seq in the same atomic write as
    /// the index entries; writes reach the OS but are made durable only by [`Index::flush`].
    pub fn index(&self, entries: &[(u64, &[u8])]) -> Result<IndexStats, HistoryError> {
        let mut stats = IndexStats::default();
        for chunk in entries.chunks(CHUNK) {
            self.index_chunk(chunk, &mut stats)?;
        }
        Ok(stats)
    }

    fn index_chunk(
        &self,
        chunk: &[(u64, &[u8])],
        stats: &mut IndexStats,
    ) -> Result<(), HistoryError> {
        let Some(&(last_seq, _)) = chunk.last() else {
            return Ok(());
        };
        let mut state = lock(&self.writer);
        let floor = self.floor_ms(opentrail_model::time::now_ms());
        let mut filter = match state.filter.take() {
            Some(filter) if !filter.is_full() => filter,
            _ => self.build_filter()?,
        };
        let mut batch = self.db.batch();
        let mut seen: HashSet<Cow<'_, str>> = HashSet::with_capacity(chunk.len());
        let mut day_added: BTreeMap<u32, u64> = BTreeMap::new();
        let mut open_days: HashMap<u32, Partition> = HashMap::new();
        let mut scratch = Vec::with_capacity(256);
        let mut scope = Scope::new("", "");
        let mut postings = BatchPostings::with_capacity(chunk.len() * 12);
        let mut pages: HashMap<u32, PageBuilder> = HashMap::new();
        // (day, eventID hash, seq, whether `ids` may already hold the key).
        let mut new_ids: Vec<(u32, u64, u64, bool)> = Vec::with_capacity(chunk.len());
        let mut indexed = 0u64;

        for &(seq, bytes) in chunk {
            // Ingested records carry a leading whitespace mark; the body stored is the record.
            let bytes = bytes.trim_ascii_start();
            let Some(record) = extract::parse(bytes) else {
                stats.skipped += 1;
                continue;
            };
            let insight = match record.category() {
                EventCategory::Management => false,
                EventCategory::Insight => true,
                EventCategory::Data | EventCategory::NetworkActivity => {
                    stats.skipped += 1;
                    continue;
                }
            };
            let Some(account) = record.account_id() else {
                stats.skipped += 1;
                continue;
            };
            if record.time_ms < floor {
                stats.skipped += 1;
                continue;
            }
            let event_id = record.event_id();
            let id_hash = self.hasher.id_hash(event_id.as_bytes());
            let maybe_seen = filter.may_contain(id_hash);
            if seen.contains(event_id)
                || (maybe_seen && self.is_indexed(event_id, id_hash, floor)?)
            {
                stats.skipped += 1;
                continue;
            }
            let day = day_of(record.time_ms);
            let partition = match open_days.get(&day) {
                Some(partition) => partition,
                None => {
                    let partition = self.partition_for_write(day)?;
                    open_days.entry(day).or_insert(partition)
                }
            };

            let page = pages.entry(day).or_default();
            if !page.accepts(seq)
                && let Some((key, value)) = page.finish()
            {
                batch.insert(&partition.events, key.as_slice(), value);
            }
            if page.push(seq, event_id, bytes).is_none() {
                stats.skipped += 1;
                continue;
            }
            if page.is_full()
                && let Some((key, value)) = page.finish()
            {
                batch.insert(&partition.events, key.as_slice(), value);
            }
            let position = Position::new(record.time_ms, seq);
            scope.set(account, record.region());
            let kind_bits = if insight { INSIGHT_BIT } else { 0 };
            postings.push(
                self.hasher
                    .posting(&mut scratch, KIND_TIME | kind_bits, &scope, b""),
                position,
            );
            record.for_each_attribute(|attribute, value| {
                // EventId lookups go through the dedupe set; no posting needed.
                if attribute == LookupAttributeKey::EventId {
                    return;
                }
                let kind = keys::attribute_kind(attribute) | kind_bits;
                let posting = self
                    .hasher
                    .posting(&mut scratch, kind, &scope, value.as_bytes());
                postings.push(posting, position);
            });
            new_ids.push((day, id_hash, seq, maybe_seen));

            filter.add(id_hash);
            seen.insert(event_id.clone());
            *day_added.entry(day).or_default() += 1;
            indexed += 1;
        }

        // Sorted, the eventID keys go into the memtable in order; eventIDs of one day sharing a
        // hash share an entry.
        new_ids.sort_unstable();
        let mut i = 0;
        while let Some(&(day, id_hash, _, _)) = new_ids.get(i) {
            let same = new_ids[i..]
                .iter()
                .take_while(|e| (e.0, e.1) == (day, id_hash))
                .count();
            let group = &new_ids[i..i + same];
            i += same;
            let key = id_key(day, id_hash);
            let existing = match group.iter().any(|e| e.3) {
                true => self.ids.get(key)?,
                false => None,
            };
            if let ([(_, _, seq, _)], None) = (group, &existing) {
                // The common case: one eventID, a new key.
                batch.insert(&self.ids, key.as_slice(), seq.to_be_bytes().as_slice());
                continue;
            }
            let mut value = existing.map(|e| e.to_vec()).unwrap_or_default();
            for entry in group {
                value.extend_from_slice(&entry.2.to_be_bytes());
            }
            batch.insert(&self.ids, key.as_slice(), value);
        }

        for (day, mut page) in pages {
            if let (Some(partition), Some((key, value))) = (open_days.get(&day), page.finish()) {
                batch.insert(&partition.events, key.as_slice(), value);
            }
        }

        // One index entry per (posting, hour) this chunk touched.
        let mut day_spans: BTreeMap<u32, i64> = BTreeMap::new();
        for block in postings.into_blocks() {
            let day = day_of(block.newest.time_ms());
            let partition = open_days.get(&day).ok_or_else(|| {
                HistoryError::Corrupt(format!("posting block of day {day} without its events"))
            })?;
            batch.insert(&partition.index, block.key.as_slice(), block.value);
            let span = day_spans.entry(day).or_default();
            *span = (*span).max(block.span_ms);
        }
        for (day, span) in day_spans {
            let Some(partition) = open_days.get(&day) else {
                continue;
            };
            if span > partition.span_ms.load(Ordering::SeqCst) {
                // Raised before the commit: a lookup that sees the wider block sees its span.
                partition.span_ms.fetch_max(span, Ordering::SeqCst);
                batch.insert(
                    &self.meta,
                    day_key(KEY_DAY_SPAN, day),
                    span.cast_unsigned().to_be_bytes().as_slice(),
                );
            }
        }

        let applied = self.applied_seq().max(last_seq);
        batch.insert(
            &self.meta,
            KEY_APPLIED_SEQ,
            applied.to_be_bytes().as_slice(),
        );
        for (&day, &added) in &day_added {
            let count = state.day_counts.get(&day).copied().unwrap_or(0) + added;
            batch.insert(
                &self.meta,
                day_count_key(day),
                count.to_be_bytes().as_slice(),
            );
        }
        // Added before the commit: the filter holds at least what `ids` holds.
        state.filter = Some(filter);
        batch.commit()?;

        for (day, added) in day_added {
            *state.day_counts.entry(day).or_default() += added;
        }
        self.applied_seq.store(applied, Ordering::Release);
        self.total.fetch_add(indexed, Ordering::Relaxed);
        stats.indexed += indexed;
        Ok(())
    }

    /// A dedupe filter holding every eventID of `ids` (callers hold the writer lock).
    fn build_filter(&self) -> Result<IdFilter, HistoryError> {
        let started = std::time::Instant::now();
        let mut filter = IdFilter::with_expected(self.ids.approximate_len() as u64);
        let mut count = 0u64;
        for entry in self.ids.iter() {
            filter.add(hash_of_id_key(&entry.key()?)?);
            count += 1;
        }
        if filter.is_full() {
            // The estimate was low: size for the real count.
            filter = IdFilter::with_expected(count);
            for entry in self.ids.iter() {
                filter.add(hash_of_id_key(&entry.key()?)?);
            }
        }
        tracing::debug!(event_ids = count, elapsed = ?started.elapsed(), "dedupe filter built");
        Ok(filter)
    }

    /// Whether `event_id` is already indexed in a day that is still retained.
    fn is_indexed(
        &self,
        event_id: &str,
        id_hash: u64,
        floor_ms: i64,
    ) -> Result<bool, HistoryError> {
        let snapshot = self.db.snapshot();
        // Entries of an expired day (left over by an interrupted retention run) do not count.
        let days: Vec<(u32, Partition)> = self
            .partitions_read()
            .range(day_of(floor_ms)..)
            .filter(|(day, _)| day_end_ms(**day) > floor_ms)
            .map(|(day, partition)| (*day, partition.clone()))
            .collect();
        for (day, partition) in days {
            if find_event_id(&snapshot, &self.ids, &partition, day, event_id, id_hash)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn partition_for_write(&self, day: u32) -> Result<Partition, HistoryError> {
        if let Some(partition) = self.partitions_read().get(&day) {
            return Ok(partition.clone());
        }
        let partition = Self::open_partition(&self.db, day)?;
        self.partitions_write().insert(day, partition.clone());
        Ok(partition)
    }

    /// One page of LookupEvents results, newest first.
    pub fn lookup(&self, query: &LookupQuery) -> Result<LookupPage, HistoryError> {
        self.lookup_at(query, opentrail_model::time::now_ms())
    }

    /// [`Index::lookup`] as if the wall clock read `now_ms` (for retention).
    pub fn lookup_at(&self, query: &LookupQuery, now_ms: i64) -> Result<LookupPage, HistoryError> {
        let resume = match &query.next_token {
            Some(text) => Some(token::decode(&self.token_key, text, query)?),
            None => None,
        };
        let mut page = LookupPage {
            events: Vec::new(),
            next_token: None,
        };
        let lowest_ms = query.start_ms.unwrap_or(0).max(self.floor_ms(now_ms));
        let highest_ms = query.end_ms.unwrap_or(MAX_TIME_MS).min(MAX_TIME_MS);
        if lowest_ms > highest_ms {
            return Ok(page);
        }
        let max_results = query.max_results.clamp(1, 50);
        let snapshot = self.db.snapshot();
        // Postings may collide and ids are global: every candidate is checked in full.
        let wanted = |record: &extract::Extracted<'_>| {
            let category = if query.insight {
                EventCategory::Insight
            } else {
                EventCategory::Management
            };
            record.category() == category
                && record.account_id() == Some(query.account_id.as_str())
                && record.region() == query.region
                && (lowest_ms..=highest_ms).contains(&record.time_ms)
                && query
                    .attribute
                    .as_ref()
                    .is_none_or(|(key, value)| record.has_attribute(*key, value))
        };

        if let Some((LookupAttributeKey::EventId, event_id)) = &query.attribute {
            // eventIDs are unique: the dedupe set points at the one candidate.
            let id_hash = self.hasher.id_hash(event_id.as_bytes());
            let days: Vec<(u32, Partition)> = self
                .partitions_read()
                .range(day_of(lowest_ms)..=day_of(highest_ms))
                .rev()
                .map(|(day, partition)| (*day, partition.clone()))
                .collect();
            let mut found = None;
            for (day, partition) in days {
                if let Some(seq) =
                    find_event_id(&snapshot, &self.ids, &partition, day, event_id, id_hash)?
                {
                    found = Some((day, seq, partition));
                    break;
                }
            }
            let Some((day, seq, partition)) = found else {
                return Ok(page);
            };
            let text = read_event(&snapshot, &partition, day, seq)?;
            let record = parse_stored(&text, seq)?;
            let already_returned =
                resume.is_some_and(|after| Position::new(record.time_ms, seq) <= after);
            if wanted(&record) && !already_returned {
                let event = record.into_event();
                page.events.push(HistoryEvent {
                    cloudtrail_event: text,
                    ..event
                });
            }
            return Ok(page);
        }

        let kind_bits = if query.insight { INSIGHT_BIT } else { 0 };
        let scope = Scope::new(&query.account_id, &query.region);
        let mut scratch = Vec::new();
        let posting = match &query.attribute {
            Some((attribute, value)) => self.hasher.posting(
                &mut scratch,
                keys::attribute_kind(*attribute) | kind_bits,
                &scope,
                value.as_bytes(),
            ),
            None => self
                .hasher
                .posting(&mut scratch, KIND_TIME | kind_bits, &scope, b""),
        };
        let oldest = Position::oldest_at(lowest_ms);
        if resume.is_some_and(|after| after >= oldest) {
            // The previous page ended at or below the (possibly risen) lower bound.
            return Ok(page);
        }
        // The newest position this page may return.
        let first = Position::newest_at(highest_ms);
        let newest_allowed = match resume {
            Some(after) if after >= first => match after.next_older() {
                Some(next) => next,
                None => return Ok(page),
            },
            _ => first,
        };
        let newest_ms = newest_allowed.time_ms();
        let days: Vec<(u32, Partition)> = self
            .partitions_read()
            .range(day_of(lowest_ms)..=day_of(newest_ms))
            .rev()
            .map(|(day, partition)| (*day, partition.clone()))
            .collect();

        let mut merge = Merge::default();
        let mut last = None;
        'days: for (day, partition) in &days {
            // Read after the snapshot: at least the span of every block the snapshot holds.
            let span = partition.span_ms.load(Ordering::SeqCst).clamp(0, BUCKET_MS);
            let scan_from = Position::newest_at(newest_ms.saturating_add(span).min(MAX_TIME_MS));
            let mut blocks = snapshot.range(
                &partition.index,
                postings::block_key(posting, scan_from)..=postings::block_key(posting, oldest),
            );
            let mut next_block = || -> Result<Option<(Position, fjall::Slice)>, HistoryError> {
                let Some(entry) = blocks.next() else {
                    return Ok(None);
                };
                let (key, value) = entry.into_inner()?;
                Ok(Some((postings::newest_of_key(&key)?, value)))
            };
            merge.reset();
            let mut pending = next_block()?;
            loop {
                // Visit blocks until no unvisited one can hold a newer position than the best.
                while let Some((block_newest, _)) = &pending {
                    if merge.ready_before(*block_newest) {
                        break;
                    }
                    if let Some((block_newest, value)) = pending.take() {
                        merge.add_block(|out| {
                            postings::decode_block(
                                block_newest,
                                &value,
                                newest_allowed,
                                oldest,
                                out,
                            )
                        })?;
                    }
                    pending = next_block()?;
                }
                let Some(position) = merge.pop() else {
                    break;
                };
                let text = read_event(&snapshot, partition, *day, position.seq())?;
                let record = parse_stored(&text, position.seq())?;
                if !wanted(&record) {
                    continue;
                }
                if page.events.len() == max_results {
                    // One more match exists: the page gets a token.
                    page.next_token = last.map(|last| token::encode(&self.token_key, last, query));
                    break 'days;
                }
                let event = record.into_event();
                page.events.push(HistoryEvent {
                    cloudtrail_event: text,
                    ..event
                });
                last = Some(position);
            }
        }
        Ok(page)
    }

    /// Removes what is older than the retention at `now_ms`: such events stop matching at once,
    /// and every day partition wholly older is dropped (keyspaces and dedupe entries). Returns
    /// the number of events removed.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<u64, HistoryError> {
        let mut state = lock(&self.writer);
        let cutoff = now_ms
            .saturating_sub(self.retention_ms)
            .max(self.cutoff_ms.load(Ordering::Acquire));
        self.meta
            .insert(KEY_RETENTION_CUTOFF, cutoff.cast_unsigned().to_be_bytes())?;
        self.cutoff_ms.store(cutoff, Ordering::Release);

        let expired: Vec<(u32, Partition)> = self
            .partitions_read()
            .iter()
            .filter(|(day, _)| day_end_ms(**day) <= cutoff)
            .map(|(day, partition)| (*day, partition.clone()))
            .collect();
        let mut removed = 0;
        for (day, partition) in expired {
            self.forget_event_ids(day)?;
            let count = state.day_counts.remove(&day).unwrap_or(0);
            self.meta.remove(day_count_key(day))?;
            self.meta.remove(day_key(KEY_DAY_SPAN, day))?;
            self.partitions_write().remove(&day);
            self.db.delete_keyspace(partition.index)?;
            self.db.delete_keyspace(partition.events)?;
            self.total
                .fetch_sub(count.min(self.len()), Ordering::Relaxed);
            removed += count;
            tracing::debug!(day, events = count, "history day partition dropped");
        }
        Ok(removed)
    }

    /// Removes the dedupe entries of `day`.
    fn forget_event_ids(&self, day: u32) -> Result<(), HistoryError> {
        let mut batch = self.db.batch();
        for entry in self.ids.prefix(day.to_be_bytes()) {
            batch.remove(&self.ids, entry.key()?.to_vec());
            if batch.len() >= RETENTION_CHUNK {
                std::mem::replace(&mut batch, self.db.batch()).commit()?;
            }
        }
        batch.commit()?;
        Ok(())
    }

    /// Forgets every indexed event and marks the journal as applied up to `applied_seq`, so
    /// nothing written before is indexed again (the development reset). Durable on return.
    pub fn clear(&self, applied_seq: u64) -> Result<(), HistoryError> {
        let mut state = lock(&self.writer);
        let partitions: Vec<Partition> = std::mem::take(&mut *self.partitions_write())
            .into_values()
            .collect();
        for partition in partitions {
            self.db.delete_keyspace(partition.index)?;
            self.db.delete_keyspace(partition.events)?;
        }
        let mut batch = self.db.batch();
        for entry in self.ids.iter() {
            let key = entry.key()?;
            batch.remove(&self.ids, key.to_vec());
            if batch.len() >= RETENTION_CHUNK {
                std::mem::replace(&mut batch, self.db.batch()).commit()?;
            }
        }
        for day in std::mem::take(&mut state.day_counts).into_keys() {
            batch.remove(&self.meta, day_count_key(day));
        }
        for entry in self.meta.prefix(KEY_DAY_SPAN) {
            batch.remove(&self.meta, entry.key()?.to_vec());
        }
        state.filter = None;
        let applied = self.applied_seq().max(applied_seq);
        batch.insert(
            &self.meta,
            KEY_APPLIED_SEQ,
            applied.to_be_bytes().as_slice(),
        );
        batch.commit()?;
        self.applied_seq.store(applied, Ordering::Release);
        self.total.store(0, Ordering::Relaxed);
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    /// Makes everything indexed so far durable (fsync).
    pub fn flush(&self) -> Result<(), HistoryError> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize, account: &str, region: &str, name: &str, insight: bool) -> String {
        let time = opentrail_model::time::now_ms() / 1000 - (i as i64 % 7) * 3600;
        let time = opentrail_model::time::format_event_time(
            time::OffsetDateTime::from_unix_timestamp(time).expect("time"),
        );
        if insight {
            return format!(
                r#"{{"eventVersion":"1.07","eventTime":"{time}","awsRegion":"{region}","eventID":"e-{i}","eventType":"AwsCloudTrailInsight","recipientAccountId":"{account}","insightDetails":{{"eventName":"{name}","eventSource":"s3.amazonaws.com"}},"eventCategory":"Insight"}}"#
            );
        }
        format!(
            r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","accountId":"{account}","userName":"u{}","accessKeyId":"AK{}"}},"eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"{name}","awsRegion":"{region}","eventID":"e-{i}","readOnly":{},"eventType":"AwsApiCall","eventCategory":"Management"}}"#,
            i % 3,
            i % 2,
            i.is_multiple_of(4)
        )
    }

    #[test]
    fn index_is_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Index>();
    }

    /// With every posting and eventID hash colliding, results must still be exact: candidates
    /// are verified.
    #[test]
    fn colliding_postings_still_give_exact_results() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut history = Index::open(dir.path(), HistoryConfig::default()).expect("open");
        history.hasher = PostingHasher::colliding();
        let mut records = Vec::new();
        for i in 0..60 {
            let account = ["111111111111", "222222222222"][i % 2];
            let region = ["us-east-1", "eu-west-1"][(i / 2) % 2];
            let name = ["CreateBucket", "DeleteBucket", "ListBuckets"][(i / 4) % 3];
            let insight = i % 10 == 9;
            records.push((
                i,
                account,
                region,
                name,
                insight,
                record(i, account, region, name, insight),
            ));
        }
        let entries: Vec<(u64, &[u8])> = records
            .iter()
            .map(|r| (r.0 as u64 + 1, r.5.as_bytes()))
            .collect();
        // Two batches: the second's eventIDs share `ids` entries with the first's.
        assert_eq!(history.index(&entries[..25]).expect("index").indexed, 25);
        assert_eq!(history.index(&entries[25..]).expect("index").indexed, 35);
        let again = history.index(&entries).expect("reindex");
        assert_eq!((again.indexed, again.skipped), (0, 60));
        for r in &records {
            let query = LookupQuery {
                account_id: r.1.into(),
                region: r.2.into(),
                attribute: Some((LookupAttributeKey::EventId, format!("e-{}", r.0))),
                start_ms: None,
                end_ms: None,
                insight: r.4,
                max_results: 50,
                next_token: None,
            };
            let page = history.lookup(&query).expect("lookup");
            let found: Vec<&str> = page.events.iter().map(|e| e.event_id.as_str()).collect();
            assert_eq!(found, [format!("e-{}", r.0)]);
        }

        for (account, region) in [("111111111111", "us-east-1"), ("222222222222", "eu-west-1")] {
            for insight in [false, true] {
                for name in [None, Some("CreateBucket"), Some("ListBuckets")] {
                    let query = LookupQuery {
                        account_id: account.into(),
                        region: region.into(),
                        attribute: name.map(|n| (LookupAttributeKey::EventName, n.to_owned())),
                        start_ms: None,
                        end_ms: None,
                        insight,
                        max_results: 2,
                        next_token: None,
                    };
                    let mut got = BTreeMap::new();
                    let mut query = query;
                    loop {
                        let page = history.lookup(&query).expect("lookup");
                        for event in page.events {
                            assert!(got.insert(event.event_id, ()).is_none(), "duplicate");
                        }
                        match page.next_token {
                            Some(token) => query.next_token = Some(token),
                            None => break,
                        }
                    }
                    let want: BTreeMap<String, ()> = records
                        .iter()
                        .filter(|r| r.1 == account && r.2 == region && r.4 == insight)
                        .filter(|r| name.is_none_or(|n| r.3 == n))
                        .map(|r| (format!("e-{}", r.0), ()))
                        .collect();
                    assert!(!want.is_empty() || insight);
                    assert_eq!(got, want, "{account} {region} {insight} {name:?}");
                }
            }
        }
    }
}
