//! The durable SQS store: queues and messages in memory, every change written ahead to an
//! operation log, snapshots to keep the log short.
//!
//! # Design
//! A call decides what changes under the state lock, records the change as one [`LogOp`]
//! (an *effect* with absolute times and ids, never a command to re-decide), applies it to
//! memory with [`State::apply`] and hands it to the log, all before releasing the lock — so the
//! log order is the order changes were applied. It answers only once its entry is durable
//! (group commit: many calls share one `fdatasync`). Because the log is ordered, an entry being
//! durable means every change it could have observed is durable too: a receive never hands out
//! a message whose send could still be lost.
//!
//! # On-disk format (version 1)
//! ```text
//! <data>/sqs/journal/          an opentrail journal; each entry one JSON LogOp {"v":1,...}
//! <data>/sqs/snapshot.json     {"version":1,"covers_through":seq,"next_seq":n,"queues":[...]}
//! ```
//! On open the snapshot is loaded and the journal entries after `covers_through` replayed.
//! A snapshot is taken once enough log has accumulated: under the lock the state is copied
//! and a `Checkpoint` entry logged; its seq is what the snapshot covers. The snapshot is
//! written to a temp file, fsynced and renamed; then the journal cursor `snapshot` moves to
//! that seq and consumed segments are removed. Snapshots are taken by the `sqs-snapshots`
//! worker ([`SnapshotWorker`]), which a call wakes ([`snapshot_if_due`]) once enough log has
//! accumulated.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use std::task::{Context, Poll, Waker};

use opentrail_core::AppState;
use opentrail_core::workers::{Worker, WorkerContext, WorkerState};
use opentrail_journal::{Journal, JournalConfig, JournalError, Seq};
use serde::{Deserialize, Serialize};

use super::queue::{DEDUP_WINDOW_MS, DedupEntry, Message, Millis, Queue, QueueKey, QueueMeta};

/// The version of log entries and snapshots this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// A snapshot is taken after this many log bytes.
const SNAPSHOT_AFTER_BYTES: u64 = 48 * 1024 * 1024;
const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// Failures of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqs journal: {0}")]
    Journal(#[from] JournalError),
    #[error("sqs store io: {0}")]
    Io(#[from] std::io::Error),
    #[error("sqs {what} is not valid: {reason}")]
    Corrupt { what: String, reason: String },
    #[error("sqs store format version {0} is newer than this build supports ({FORMAT_VERSION})")]
    UnsupportedVersion(u32),
}

/// One received message in a [`LogOp::Receive`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Received {
    pub seq: u64,
    pub visible_at_ms: Millis,
    pub nonce: u64,
}

/// One logged change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum LogOp {
    /// Creates or replaces a queue's configuration (create, attributes, tags).
    PutQueue {
        meta: QueueMeta,
    },
    DeleteQueue {
        key: QueueKey,
    },
    Purge {
        key: QueueKey,
        at_ms: Millis,
    },
    Send {
        key: QueueKey,
        messages: Vec<Message>,
        /// FIFO deduplication records created by these sends.
        #[serde(default)]
        dedup: Vec<(String, DedupEntry)>,
    },
    Receive {
        key: QueueKey,
        at_ms: Millis,
        received: Vec<Received>,
        /// Messages past their retention period, dropped.
        #[serde(default)]
        expired: Vec<u64>,
        /// Messages moved to the dead-letter queue `to`.
        #[serde(default)]
        redriven: Vec<u64>,
        #[serde(default)]
        to: Option<QueueKey>,
    },
    Visibility {
        key: QueueKey,
        changes: Vec<(u64, Millis)>,
    },
    Delete {
        key: QueueKey,
        seqs: Vec<u64>,
    },
    /// Marks the point a snapshot covers.
    Checkpoint,
    /// The development reset: everything is gone.
    Reset,
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    #[serde(flatten)]
    op: T,
}

/// Every queue, in memory.
#[derive(Debug, Default)]
pub struct State {
    pub queues: BTreeMap<QueueKey, Queue>,
    /// The next message sequence number.
    pub next_seq: u64,
}

impl State {
    /// Allocates a message sequence number.
    pub fn allocate_seq(&mut self) -> u64 {
        self.next_seq = self.next_seq.max(1);
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Applies one change; used live and on replay.
    pub fn apply(&mut self, op: &LogOp) {
        match op {
            LogOp::PutQueue { meta } => match self.queues.get_mut(&meta.key) {
                Some(queue) => queue.meta = meta.clone(),
                None => {
                    self.queues
                        .insert(meta.key.clone(), Queue::new(meta.clone()));
                }
            },
            LogOp::DeleteQueue { key } => {
                if let Some(queue) = self.queues.remove(key) {
                    queue.notify.notify_waiters();
                }
            }
            LogOp::Purge { key, at_ms } => {
                if let Some(queue) = self.queues.get_mut(key) {
                    queue.purge(*at_ms);
                }
            }
            LogOp::Send {
                key,
                messages,
                dedup,
            } => {
                for message in messages {
                    self.next_seq = self.next_seq.max(message.seq + 1);
                }
                let Some(queue) = self.queues.get_mut(key) else {
                    return;
                };
                for (dedup_key, entry) in dedup {
                    queue.dedup.insert(dedup_key.clone(), entry.clone());
                }
                for message in messages {
                    queue.insert(message.clone());
                }
                queue.notify.notify_waiters();
            }
            LogOp::Receive {
                key,
                at_ms,
                received,
                expired,
                redriven,
                to,
            } => {
                let mut moved = Vec::new();
                if let Some(queue) = self.queues.get_mut(key) {
                    for seq in expired {
                        queue.remove(*seq);
                    }
                    for seq in redriven {
                        if let Some(mut message) = queue.remove(*seq) {
                            message.in_flight = false;
                            moved.push(message);
                        }
                    }
                    for item in received {
                        queue.mark_received(item.seq, *at_ms, item.visible_at_ms, item.nonce);
                    }
                }
                if let Some(dlq) = to.as_ref().and_then(|to| self.queues.get_mut(to)) {
                    for message in moved {
                        dlq.insert(message);
                    }
                    dlq.notify.notify_waiters();
                }
            }
            LogOp::Visibility { key, changes } => {
                if let Some(queue) = self.queues.get_mut(key) {
                    for (seq, visible_at_ms) in changes {
                        queue.set_visibility(*seq, *visible_at_ms);
                    }
                    queue.notify.notify_waiters();
                }
            }
            LogOp::Delete { key, seqs } => {
                if let Some(queue) = self.queues.get_mut(key) {
                    for seq in seqs {
                        queue.remove(*seq);
                    }
                }
            }
            LogOp::Checkpoint => {}
            LogOp::Reset => {
                for queue in self.queues.values() {
                    queue.notify.notify_waiters();
                }
                self.queues.clear();
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct QueueSnapshot {
    meta: QueueMeta,
    messages: Vec<Message>,
    dedup: Vec<(String, DedupEntry)>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    covers_through: Seq,
    next_seq: u64,
    queues: Vec<QueueSnapshot>,
}

/// A log append in progress; resolves once the entry is durable.
pub type Pending = Pin<Box<dyn Future<Output = Result<Seq, JournalError>> + Send>>;

/// The store of one data directory.
pub struct Engine {
    state: Mutex<State>,
    journal: Journal,
    dir: PathBuf,
    logged_bytes: AtomicU64,
    snapshotting: AtomicBool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("dir", &self.dir).finish()
    }
}

impl Engine {
    /// Opens the store in `dir`: loads the snapshot and replays the log after it.
    pub fn open(dir: &Path) -> Result<Engine, StoreError> {
        fs_err::create_dir_all(dir)?;
        let journal = Journal::open(
            JournalConfig::new(dir.join("journal")).with_segment_bytes(SEGMENT_BYTES),
        )?;
        let mut state = State::default();
        let mut covers_through = 0;
        let snapshot_path = dir.join("snapshot.json");
        if snapshot_path.exists() {
            let bytes = fs_err::read(&snapshot_path)?;
            let snapshot: Snapshot =
                serde_json::from_slice(&bytes).map_err(|err| StoreError::Corrupt {
                    what: snapshot_path.display().to_string(),
                    reason: err.to_string(),
                })?;
            if snapshot.version > FORMAT_VERSION {
                return Err(StoreError::UnsupportedVersion(snapshot.version));
            }
            covers_through = snapshot.covers_through;
            state.next_seq = snapshot.next_seq;
            for saved in snapshot.queues {
                let mut queue = Queue::new(saved.meta);
                queue.dedup = saved.dedup.into_iter().collect();
                for message in saved.messages {
                    queue.insert(message);
                }
                state.queues.insert(queue.meta.key.clone(), queue);
            }
        }
        let mut after = covers_through;
        let mut replayed = 0usize;
        loop {
            let entries = journal.read_from(after, 4096)?;
            let Some(last) = entries.last() else { break };
            after = last.seq;
            for entry in &entries {
                let op = decode(&entry.payload).map_err(|reason| StoreError::Corrupt {
                    what: format!("sqs log entry {}", entry.seq),
                    reason,
                })?;
                state.apply(&op);
                replayed += 1;
            }
        }
        tracing::info!(
            queues = state.queues.len(),
            replayed,
            covers_through,
            "sqs store opened"
        );
        Ok(Engine {
            state: Mutex::new(state),
            journal,
            dir: dir.to_owned(),
            logged_bytes: AtomicU64::new(0),
            snapshotting: AtomicBool::new(false),
        })
    }

    /// Locks the state (reads, and decisions before [`Engine::commit`]).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `op` to the locked state and hands it to the log, in that order, while the
    /// caller still holds the lock. Await the returned future (after unlocking) for
    /// durability.
    pub fn commit(&self, state: &mut State, op: LogOp) -> Pending {
        state.apply(&op);
        self.log(&op)
    }

    fn log(&self, op: &LogOp) -> Pending {
        let payload = match serde_json::to_vec(&Envelope {
            v: FORMAT_VERSION,
            op,
        }) {
            Ok(payload) => payload,
            Err(err) => {
                let message = err.to_string();
                return Box::pin(async move {
                    Err(JournalError::Io {
                        source: std::io::Error::other(message),
                    })
                });
            }
        };
        self.logged_bytes
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        let journal = self.journal.clone();
        let mut pending: Pending = Box::pin(async move { journal.append(payload).await });
        // The first poll submits the entry to the journal's writer, fixing its order now.
        let mut context = Context::from_waker(Waker::noop());
        match pending.as_mut().poll(&mut context) {
            Poll::Ready(result) => Box::pin(std::future::ready(result)),
            Poll::Pending => pending,
        }
    }

    /// Whether enough log has accumulated for a snapshot (and none is being taken).
    pub fn wants_snapshot(&self) -> bool {
        self.logged_bytes.load(Ordering::Relaxed) >= SNAPSHOT_AFTER_BYTES
            && !self.snapshotting.swap(true, Ordering::AcqRel)
    }

    /// Takes a snapshot and drops the log it covers. Call only after
    /// [`Engine::wants_snapshot`] returned true.
    pub async fn snapshot(self: Arc<Self>) -> Result<(), StoreError> {
        let result = self.clone().snapshot_inner().await;
        self.snapshotting.store(false, Ordering::Release);
        result
    }

    async fn snapshot_inner(self: Arc<Self>) -> Result<(), StoreError> {
        let (mut snapshot, checkpoint) = {
            let state = self.lock();
            let queues = state
                .queues
                .values()
                .map(|queue| QueueSnapshot {
                    meta: queue.meta.clone(),
                    messages: queue.messages.values().cloned().collect(),
                    dedup: queue
                        .dedup
                        .iter()
                        .map(|(key, entry)| (key.clone(), entry.clone()))
                        .collect(),
                })
                .collect();
            let snapshot = Snapshot {
                version: FORMAT_VERSION,
                covers_through: 0,
                next_seq: state.next_seq,
                queues,
            };
            self.logged_bytes.store(0, Ordering::Relaxed);
            (snapshot, self.log(&LogOp::Checkpoint))
        };
        snapshot.covers_through = checkpoint.await?;
        let covers = snapshot.covers_through;
        let engine = self.clone();
        tokio::task::spawn_blocking(move || engine.write_snapshot(&snapshot))
            .await
            .map_err(|err| std::io::Error::other(err.to_string()))??;
        let mut cursor = self.journal.cursor("snapshot")?;
        cursor.commit(covers)?;
        let removed = self.journal.remove_consumed_segments()?;
        tracing::info!(covers, removed, "sqs snapshot written");
        Ok(())
    }

    fn write_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        use std::io::Write as _;
        let bytes = serde_json::to_vec(snapshot).map_err(|err| StoreError::Corrupt {
            what: "snapshot".into(),
            reason: err.to_string(),
        })?;
        let temp = self.dir.join("snapshot.json.tmp");
        let mut file = fs_err::File::create(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        fs_err::rename(&temp, self.dir.join("snapshot.json"))?;
        fs_err::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

fn decode(payload: &[u8]) -> Result<LogOp, String> {
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let version: Version = serde_json::from_slice(payload).map_err(|err| err.to_string())?;
    if version.v > FORMAT_VERSION {
        return Err(format!(
            "format version {} is newer than this build supports ({FORMAT_VERSION})",
            version.v
        ));
    }
    let envelope: Envelope<LogOp> =
        serde_json::from_slice(payload).map_err(|err| err.to_string())?;
    Ok(envelope.op)
}

/// Wakes the `sqs-snapshots` worker. Kept apart from the [`Engine`] so that the worker can
/// wait for it without opening the engine (which opens on the first SQS call).
#[derive(Default)]
struct SnapshotDue(tokio::sync::Notify);

/// Asks the `sqs-snapshots` worker for a snapshot when enough log has accumulated (and none is
/// being taken).
pub fn snapshot_if_due(state: &AppState, engine: &Engine) {
    if engine.wants_snapshot() {
        state
            .extensions
            .get_or_init(SnapshotDue::default)
            .0
            .notify_one();
    }
}

/// The `sqs-snapshots` worker: takes the snapshots calls ask for ([`snapshot_if_due`]), until
/// shutdown.
pub struct SnapshotWorker;

impl Worker for SnapshotWorker {
    fn name(&self) -> &'static str {
        "sqs-snapshots"
    }

    async fn run(self, ctx: WorkerContext) -> Result<(), String> {
        let due = ctx.state.extensions.get_or_init(SnapshotDue::default);
        let mut taken = 0u64;
        let mut last_error = None;
        loop {
            ctx.report(WorkerState::Idle, taken, last_error.clone());
            tokio::select! {
                () = due.0.notified() => {}
                () = ctx.stopped() => return Ok(()),
            }
            // A call asked, so the engine is open.
            let engine = engine_for(&ctx.state).map_err(|err| err.to_string())?;
            ctx.report(WorkerState::Running, taken, last_error.clone());
            match engine.snapshot().await {
                Ok(()) => {
                    taken += 1;
                    last_error = None;
                }
                Err(err) => {
                    tracing::error!(error = %err, "sqs snapshot failed");
                    last_error = Some(err.to_string());
                }
            }
        }
    }
}

/// The engine of a server (opened under `<data-dir>/sqs`, and its log replayed, on first use;
/// owned by the [`AppState`]).
pub fn engine_for(state: &AppState) -> Result<Arc<Engine>, StoreError> {
    state
        .extensions
        .get_or_try_init(|| Engine::open(&state.config.data_dir.join("sqs")))
}

/// The current time in milliseconds since the epoch.
pub fn now_ms() -> Millis {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The window a new deduplication record covers.
pub fn dedup_expiry(now: Millis) -> Millis {
    now + DEDUP_WINDOW_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> QueueKey {
        QueueKey {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            name: name.into(),
        }
    }

    fn meta(name: &str) -> QueueMeta {
        QueueMeta {
            key: key(name),
            created_s: 1,
            modified_s: 1,
            attributes: BTreeMap::new(),
            tags: BTreeMap::new(),
            last_purge_ms: 0,
        }
    }

    fn message(seq: u64) -> Message {
        Message {
            seq,
            id: format!("id-{seq}"),
            body: format!("body {seq}"),
            attributes: BTreeMap::new(),
            system_attributes: BTreeMap::new(),
            md5_body: String::new(),
            md5_attributes: None,
            md5_system_attributes: None,
            sent_ms: 1,
            sender_id: "s".into(),
            group_id: None,
            dedup_id: None,
            receive_count: 0,
            first_receive_ms: 0,
            visible_at_ms: 0,
            in_flight: false,
            receipt_nonce: 0,
        }
    }

    #[tokio::test]
    async fn log_replays_into_the_same_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let engine = Engine::open(dir.path()).expect("open");
            let pending = {
                let mut state = engine.lock();
                let mut pending =
                    vec![engine.commit(&mut state, LogOp::PutQueue { meta: meta("q") })];
                pending.push(engine.commit(
                    &mut state,
                    LogOp::Send {
                        key: key("q"),
                        messages: vec![message(1), message(2), message(3)],
                        dedup: Vec::new(),
                    },
                ));
                pending.push(engine.commit(
                    &mut state,
                    LogOp::Receive {
                        key: key("q"),
                        at_ms: 10,
                        received: vec![Received {
                            seq: 2,
                            visible_at_ms: u64::MAX / 2,
                            nonce: 9,
                        }],
                        expired: vec![],
                        redriven: vec![],
                        to: None,
                    },
                ));
                pending.push(engine.commit(
                    &mut state,
                    LogOp::Delete {
                        key: key("q"),
                        seqs: vec![1],
                    },
                ));
                pending
            };
            for entry in pending {
                entry.await.expect("durable");
            }
        }
        let engine = Engine::open(dir.path()).expect("reopen");
        let mut state = engine.lock();
        assert_eq!(state.next_seq, 4);
        let queue = state.queues.get_mut(&key("q")).expect("queue replayed");
        assert_eq!(
            queue.messages.keys().copied().collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(queue.messages[&2].receive_count, 1);
        assert_eq!(queue.messages[&2].receipt_nonce, 9);
        assert_eq!(queue.counts(20), (1, 1, 0));
    }

    #[tokio::test]
    async fn snapshot_then_log_restores_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let engine = Arc::new(Engine::open(dir.path()).expect("open"));
            let first = {
                let mut state = engine.lock();
                engine.commit(&mut state, LogOp::PutQueue { meta: meta("q") })
            };
            first.await.expect("durable");
            engine.snapshotting.store(true, Ordering::Release);
            engine.clone().snapshot().await.expect("snapshot");
            let second = {
                let mut state = engine.lock();
                engine.commit(
                    &mut state,
                    LogOp::Send {
                        key: key("q"),
                        messages: vec![message(5)],
                        dedup: Vec::new(),
                    },
                )
            };
            second.await.expect("durable");
        }
        assert!(dir.path().join("snapshot.json").exists());
        let engine = Engine::open(dir.path()).expect("reopen");
        let state = engine.lock();
        assert_eq!(state.queues.len(), 1);
        assert_eq!(state.queues[&key("q")].messages.len(), 1);
        assert_eq!(state.next_seq, 6);
    }

    #[test]
    fn newer_log_versions_are_refused() {
        assert!(decode(br#"{"v":2,"op":"Checkpoint"}"#).is_err());
        assert_eq!(
            decode(br#"{"v":1,"op":"Checkpoint"}"#),
            Ok(LogOp::Checkpoint)
        );
    }
}
