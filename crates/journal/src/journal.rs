//! The [`Journal`] handle: opening, appending, reading, cursors and retention.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, mpsc};
use std::thread::JoinHandle;

use tokio::sync::{oneshot, watch};

use crate::config::{JournalConfig, PersistMode, Seq};
use crate::cursor::{self, Cursor};
use crate::error::JournalError;
use crate::format::{FrameReader, MAX_PAYLOAD, ReadError};
use crate::segment::{self, Segment, sync_dir};
use crate::shared::{Faults, Shared};
use crate::writer::{Ack, Payloads, Request, Writer};

/// One journal entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: Seq,
    pub payload: Vec<u8>,
}

/// Counters for benchmarks and the console. `appends`, `groups` and `fsyncs` count since open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Segment files currently kept.
    pub segments: usize,
    /// Durable bytes in those segments, headers included.
    pub bytes: u64,
    /// First entry still kept (`last_seq + 1` when none is).
    pub first_seq: Seq,
    /// Highest durable seq.
    pub last_seq: Seq,
    /// Entries appended.
    pub appends: u64,
    /// Group commits (writes) done.
    pub groups: u64,
    /// `fdatasync`/`fsync` calls on segments.
    pub fsyncs: u64,
}

/// Whether the journal takes appends, for a health endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalHealth {
    /// Whether [`Journal::admission`] admits calls now.
    pub available: bool,
    /// Why not, when it does not.
    pub reason: Option<String>,
}

struct Inner {
    shared: Arc<Shared>,
    /// Dropped first on close, so the writer drains and ends.
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    /// Holds the directory's lock for as long as the journal is open.
    _lock: fs_err::File,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("the journal writer thread panicked");
        }
    }
}

/// The append-only write-ahead log. Cheap to clone; all clones share one writer thread. The
/// directory is closed (writer drained and joined, lock released) when the last clone drops.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.shared().config.dir)
            .field("last_seq", &self.last_seq())
            .finish()
    }
}

impl Journal {
    /// Opens (creating if needed) the journal in `config.dir`, recovering as the crate docs
    /// describe, and starts its writer thread. Blocking: it reads every kept segment.
    pub fn open(config: JournalConfig) -> Result<Journal, JournalError> {
        let segments_dir = config.dir.join("segments");
        let cursors_dir = config.dir.join("cursors");
        fs_err::create_dir_all(&segments_dir)?;
        fs_err::create_dir_all(&cursors_dir)?;

        let lock = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(config.dir.join("journal.lock"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Locked {
                    dir: config.dir.clone(),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(source.into()),
        }
        if config.persist != PersistMode::Buffer {
            sync_dir(&config.dir)?;
        }

        cursor::remove_temp_files(&cursors_dir)?;
        let segments = segment::recover(&segments_dir, config.persist)?;
        let active = segments
            .last()
            .cloned()
            .ok_or_else(|| JournalError::Corrupt {
                segment: segments_dir.clone(),
                offset: 0,
                reason: "recovery left no segment".into(),
            })?;
        let last_seq = active.last_seq();
        let write_file = fs_err::OpenOptions::new().write(true).open(&active.path)?;

        let (last_seq_tx, _) = watch::channel(last_seq);
        let shared = Arc::new(Shared {
            config,
            segments_dir,
            cursors_dir,
            segments: RwLock::new(segments),
            last_seq: AtomicU64::new(last_seq),
            last_seq_tx,
            unavailable: AtomicBool::new(false),
            unavailable_reason: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            room: AtomicU64::new(0),
            next_prepared: AtomicBool::new(false),
            prepare_error: Mutex::new(None),
            appends: AtomicU64::new(0),
            groups: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            cursor_lock: Mutex::new(()),
            faults: Faults::default(),
        });
        let (requests_tx, requests_rx) = mpsc::channel();
        let writer = Writer::new(Arc::clone(&shared), requests_rx, write_file, active)?;
        let writer = std::thread::Builder::new()
            .name("opentrail-journal-writer".into())
            .spawn(move || writer.run())?;
        tracing::info!(dir = %shared.config.dir.display(), last_seq, "journal opened");
        Ok(Journal {
            inner: Arc::new(Inner {
                shared,
                requests: Some(requests_tx),
                writer: Some(writer),
                _lock: lock,
            }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Appends one entry; resolves with its seq once it is durable (group commit).
    pub async fn append(&self, payload: Vec<u8>) -> Result<Seq, JournalError> {
        check_size(&payload)?;
        let (ack, outcome) = oneshot::channel();
        self.submit(Payloads::One(payload), Ack::Async(ack))?;
        outcome.await.map_err(|_| JournalError::Closed)?
    }

    /// Appends entries with consecutive seqs, durable together: after a crash either all of
    /// them are in the journal or none is. Resolves with the first seq.
    pub async fn append_batch(&self, payloads: Vec<Vec<u8>>) -> Result<Seq, JournalError> {
        if payloads.is_empty() {
            return Err(JournalError::EmptyBatch);
        }
        for payload in &payloads {
            check_size(payload)?;
        }
        let (ack, outcome) = oneshot::channel();
        self.submit(Payloads::Batch(payloads), Ack::Async(ack))?;
        outcome.await.map_err(|_| JournalError::Closed)?
    }

    /// [`Self::append`] for code outside an async runtime (it blocks the calling thread).
    pub fn append_blocking(&self, payload: Vec<u8>) -> Result<Seq, JournalError> {
        check_size(&payload)?;
        let (ack, outcome) = mpsc::sync_channel(1);
        self.submit(Payloads::One(payload), Ack::Blocking(ack))?;
        outcome.recv().map_err(|_| JournalError::Closed)?
    }

    fn submit(&self, payloads: Payloads, ack: Ack) -> Result<(), JournalError> {
        self.check_writable()?;
        let requests = self.inner.requests.as_ref().ok_or(JournalError::Closed)?;
        requests
            .send(Request { payloads, ack })
            .map_err(|_| JournalError::Closed)
    }

    /// The highest durable seq (0 when the journal is empty).
    pub fn last_seq(&self) -> Seq {
        self.shared().last_seq.load(Ordering::Acquire)
    }

    /// The first seq still kept (segments below it were removed); `last_seq() + 1` when no
    /// entry is kept.
    pub fn first_seq(&self) -> Seq {
        let segments = self.read_segments();
        segments
            .iter()
            .find(|segment| segment.last_seq() >= segment.first_seq)
            .map_or(self.last_seq() + 1, |segment| segment.first_seq)
    }

    /// Fails fast while the writer is repairing a failed write, or after poisoning.
    fn check_writable(&self) -> Result<(), JournalError> {
        let shared = self.shared();
        if shared.poisoned.load(Ordering::Acquire) {
            return Err(JournalError::Poisoned);
        }
        if shared.unavailable.load(Ordering::Acquire) {
            return Err(JournalError::Unavailable(self.unavailable_reason()));
        }
        Ok(())
    }

    fn unavailable_reason(&self) -> String {
        self.shared()
            .unavailable_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| "a journal write failed and is being repaired".into())
    }

    /// Whether acknowledged entries went missing from the active segment, so that the journal
    /// refuses appends until it is reopened. A failed write or sync does not poison the
    /// journal (see [`Self::admission`]).
    pub fn is_poisoned(&self) -> bool {
        self.shared().poisoned.load(Ordering::Acquire)
    }

    /// Whether a call that will append records may take effect now: the server asks before
    /// the effect, so that it never does something it then cannot record (fail closed).
    ///
    /// Refuses with [`JournalError::Unavailable`] (or [`JournalError::Poisoned`]) while
    /// appends fail, and also while the active segment has less than
    /// [`JournalConfig::reserve_bytes`] of preallocated room left and no prepared next segment
    /// is waiting (preparing it failed, for instance on a full disk). Once it admits, the
    /// records appended next go into blocks that are already allocated, so a full disk
    /// cannot fail them, as long as the calls admitted at once append less than the reserve.
    ///
    /// Cheap: a few atomic loads, no syscall.
    pub fn admission(&self) -> Result<(), JournalError> {
        self.check_writable()?;
        let shared = self.shared();
        let reserve = shared.config.reserve_bytes;
        let room = shared.room.load(Ordering::Acquire);
        if room >= reserve || shared.next_prepared.load(Ordering::Acquire) {
            return Ok(());
        }
        let why = shared
            .prepare_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| "it is being prepared".into());
        Err(JournalError::Unavailable(format!(
            "only {room} bytes of preallocated journal space are left, less than the reserve of {reserve} bytes, and the next segment is not prepared: {why}"
        )))
    }

    /// What [`Self::admission`] says, as data for a health endpoint.
    pub fn health(&self) -> JournalHealth {
        match self.admission() {
            Ok(()) => JournalHealth {
                available: true,
                reason: None,
            },
            Err(error) => JournalHealth {
                available: false,
                reason: Some(error.to_string()),
            },
        }
    }

    fn read_segments(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Segment>>> {
        self.shared()
            .segments
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Up to `max_entries` durable entries with `seq > after`, ascending and contiguous. When
    /// `after` lies below [`Self::first_seq`] (its segments were removed), reading starts at
    /// the first kept entry. Checksums are verified; a mismatch is [`JournalError::Corrupt`].
    pub fn read_from(&self, after: Seq, max_entries: usize) -> Result<Vec<Entry>, JournalError> {
        let durable = self.last_seq();
        if max_entries == 0 || after >= durable {
            return Ok(Vec::new());
        }
        let wanted = after + 1;
        let segments: Vec<Arc<Segment>> = {
            let segments = self.read_segments();
            let first = segments
                .partition_point(|segment| segment.first_seq <= wanted)
                .saturating_sub(1);
            segments[first..].to_vec()
        };
        let capacity = max_entries.min((durable - after) as usize).min(16 * 1024);
        let mut entries = Vec::with_capacity(capacity);
        for segment in segments {
            if segment.last_seq() < wanted.max(segment.first_seq) {
                continue;
            }
            let (mut expected, start) = segment.scan_start(wanted);
            let mut reader = FrameReader::new(&segment.file, start, segment.durable_len());
            let corrupt = |offset: u64, reason: String| JournalError::Corrupt {
                segment: segment.path.clone(),
                offset,
                reason,
            };
            loop {
                let frame = match reader.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(ReadError::Io(source)) => return Err(source.into()),
                    Err(ReadError::Frame { offset, fault }) => {
                        return Err(corrupt(offset, fault.to_string()));
                    }
                };
                if frame.seq != expected {
                    return Err(corrupt(
                        frame.offset,
                        format!("expected sequence {expected} but found {}", frame.seq),
                    ));
                }
                expected += 1;
                if frame.seq > durable {
                    return Ok(entries);
                }
                if frame.seq < wanted {
                    continue;
                }
                entries.push(Entry {
                    seq: frame.seq,
                    payload: reader.payload(&frame).to_vec(),
                });
                if entries.len() == max_entries {
                    return Ok(entries);
                }
            }
        }
        Ok(entries)
    }

    /// Resolves once [`Self::last_seq`] is greater than `seq`.
    pub async fn wait_beyond(&self, seq: Seq) {
        let mut last_seq = self.shared().last_seq_tx.subscribe();
        // The sender lives as long as `self`, so this only ends when the condition holds.
        let _ = last_seq.wait_for(|last| *last > seq).await;
    }

    /// A watch of [`Self::last_seq`], for consumers that `select!` on several things.
    pub fn subscribe(&self) -> watch::Receiver<Seq> {
        self.shared().last_seq_tx.subscribe()
    }

    /// The durable cursor called `name` (`[A-Za-z0-9._-]{1,128}`), created at 0 if new.
    pub fn cursor(&self, name: &str) -> Result<Cursor, JournalError> {
        Cursor::open(Arc::clone(&self.inner.shared), name)
    }

    /// Every cursor with its committed position, sorted by name.
    pub fn cursors(&self) -> Result<Vec<(String, Seq)>, JournalError> {
        let _guard = self
            .shared()
            .cursor_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cursor::list_cursor_files(&self.shared().cursors_dir)
    }

    /// Deletes a cursor, so it no longer holds back [`Self::remove_consumed_segments`].
    /// Returns whether it existed.
    pub fn remove_cursor(&self, name: &str) -> Result<bool, JournalError> {
        if !cursor::is_valid_name(name) {
            return Err(JournalError::InvalidCursorName { name: name.into() });
        }
        let _guard = self
            .shared()
            .cursor_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cursor::remove_cursor_file(
            &self.shared().cursors_dir,
            name,
            self.shared().config.persist,
        )
    }

    /// Deletes the oldest segments whose entries are all at or below the minimum position of
    /// all cursors (none while there is no cursor). The active segment is never deleted.
    /// Returns how many segments were deleted.
    pub fn remove_consumed_segments(&self) -> Result<usize, JournalError> {
        let shared = self.shared();
        let _guard = shared
            .cursor_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let cursors = cursor::list_cursor_files(&shared.cursors_dir)?;
        let Some(consumed) = cursors.iter().map(|(_, position)| *position).min() else {
            return Ok(0);
        };
        let removed: Vec<Arc<Segment>> = {
            let mut segments = shared
                .segments
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let inactive = segments.len().saturating_sub(1);
            let count = segments[..inactive]
                .iter()
                .take_while(|segment| segment.last_seq() <= consumed)
                .count();
            segments.drain(..count).collect()
        };
        // Oldest first, so that the kept segments always stay contiguous.
        for segment in &removed {
            fs_err::remove_file(&segment.path)?;
            tracing::debug!(segment = %segment.path.display(), "removed a consumed journal segment");
        }
        if !removed.is_empty() && shared.config.persist != PersistMode::Buffer {
            sync_dir(&shared.segments_dir)?;
        }
        Ok(removed.len())
    }

    /// Counters for benchmarks and the console.
    pub fn stats(&self) -> JournalStats {
        let shared = self.shared();
        let (segments, bytes) = {
            let segments = self.read_segments();
            (
                segments.len(),
                segments.iter().map(|segment| segment.durable_len()).sum(),
            )
        };
        JournalStats {
            segments,
            bytes,
            first_seq: self.first_seq(),
            last_seq: self.last_seq(),
            appends: shared.appends.load(Ordering::Relaxed),
            groups: shared.groups.load(Ordering::Relaxed),
            fsyncs: shared.fsyncs.load(Ordering::Relaxed),
        }
    }

    /// Test hook: makes the writer's next sync fail as a real `fsync` error would (the
    /// journal becomes unavailable until the writer has repaired the segment).
    #[doc(hidden)]
    pub fn inject_sync_failure(&self) {
        self.shared()
            .faults
            .fail_next_sync
            .store(true, Ordering::Release);
    }

    /// Test hook: while `full`, the journal's file system behaves as if it had no free block:
    /// segment writes that need new blocks fail (after writing what fits in allocated ones),
    /// as do allocating room, preparing and creating segments. Overwriting allocated blocks
    /// and truncating still work, as on a real full disk.
    #[doc(hidden)]
    pub fn inject_no_space(&self, full: bool) {
        self.shared().faults.no_space.store(full, Ordering::Release);
    }

    /// Test hook: while `full`, only preparing and creating new segment files fails for lack
    /// of space (so admission can run out of reserve while appends still work).
    #[doc(hidden)]
    pub fn inject_new_segment_no_space(&self, full: bool) {
        self.shared()
            .faults
            .new_segments_no_space
            .store(full, Ordering::Release);
    }
}

fn check_size(payload: &[u8]) -> Result<(), JournalError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(JournalError::TooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn journal_is_send_sync_clone() {
        assert_send_sync_clone::<Journal>();
    }

    #[test]
    fn config_defaults() {
        let config = JournalConfig::new("/x");
        assert_eq!(config.segment_bytes, 64 * 1024 * 1024);
        assert_eq!(config.persist, PersistMode::SyncData);
    }
}
