//! The writer thread: group commit.
//!
//! Appenders send [`Request`]s over a channel. The writer takes one, drains everything else
//! queued, encodes all frames into one buffer, writes it with one call, syncs once (as the
//! [`PersistMode`] asks), publishes the new durable end to readers, and only then acknowledges
//! every waiter of the group. A failed write or sync poisons the journal.
//!
//! New segments are zero-filled ahead of time by a helper thread: overwriting existing blocks
//! lets `fdatasync` skip the file system's metadata journal (about half the latency, and no
//! waiting behind other files' metadata). Rolling then only writes a header and renames the
//! prepared file. A segment that was not zero-filled (the first one of a new journal) is left
//! for a prepared one as soon as that is ready.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, mpsc};
use std::thread::JoinHandle;

use fs_err::os::unix::fs::FileExt;
use tokio::sync::oneshot;

use crate::error::JournalError;
use crate::format::{HEADER_LEN, encode_frame, frame_len};
use crate::journal::Shared;
use crate::segment::{INDEX_EVERY, Segment, create_segment, install_prepared, prepare_file};
use crate::{PersistMode, Seq};

/// A group stops taking queued requests once it holds this many payload bytes.
const MAX_GROUP_BYTES: usize = 32 * 1024 * 1024;

/// The next segment file is prepared once the active segment holds this many bytes (or half
/// of `segment_bytes`, if less): early enough to be ready in time, late enough that a journal
/// that is barely used never pays for zero-filling a segment.
const PREPARE_AFTER_BYTES: u64 = 1024 * 1024;

/// The payloads of one append call.
pub(crate) enum Payloads {
    One(Vec<u8>),
    Batch(Vec<Vec<u8>>),
}

impl Payloads {
    fn encoded_len(&self) -> u64 {
        match self {
            Payloads::One(payload) => frame_len(payload.len()),
            Payloads::Batch(payloads) => payloads.iter().map(|p| frame_len(p.len())).sum(),
        }
    }
}

/// Where the writer sends the outcome of one append call: the first seq, or the error.
pub(crate) enum Ack {
    Async(oneshot::Sender<Result<Seq, JournalError>>),
    Blocking(mpsc::SyncSender<Result<Seq, JournalError>>),
}

impl Ack {
    fn send(self, outcome: Result<Seq, JournalError>) {
        // A waiter that went away (a cancelled future) does not care about its outcome.
        match self {
            Ack::Async(sender) => {
                let _ = sender.send(outcome);
            }
            Ack::Blocking(sender) => {
                let _ = sender.send(outcome);
            }
        }
    }
}

/// One append call waiting for the writer.
pub(crate) struct Request {
    pub payloads: Payloads,
    pub ack: Ack,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    requests: mpsc::Receiver<Request>,
    segments_dir: PathBuf,
    /// Write handle of the active (newest) segment; frames go at explicit offsets.
    file: fs_err::File,
    active: Arc<Segment>,
    /// Bytes written to the active segment, header included.
    written: u64,
    next_seq: Seq,
    /// Frames of the current group not yet written.
    buf: Vec<u8>,
    /// Sparse index entries of the frames in `buf`.
    index: Vec<(Seq, u64)>,
    /// First seq of each encoded, not yet acknowledged request of the group.
    first_seqs: Vec<Seq>,
    preparer: Preparer,
    /// Whether the active segment was zero-filled in advance. One that was not (the first
    /// segment of a new journal, one cut at recovery) is left as soon as a prepared file is
    /// ready.
    active_preallocated: bool,
}

/// The helper thread that zero-fills the next segment file.
struct Preparer {
    /// One message asks for one prepared file; dropping it ends the thread.
    requests: Option<mpsc::Sender<()>>,
    prepared: mpsc::Receiver<Result<PathBuf, JournalError>>,
    state: PreparerState,
    /// Set on close, so that closing does not wait for a whole segment of zeros.
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

enum PreparerState {
    Idle,
    Requested,
    Ready(Result<PathBuf, JournalError>),
}

impl Preparer {
    fn start(dir: PathBuf, size: u64, persist: PersistMode) -> io::Result<Preparer> {
        let (requests_tx, requests_rx) = mpsc::channel::<()>();
        let (prepared_tx, prepared_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("opentrail-journal-preparer".into())
            .spawn(move || {
                for () in requests_rx {
                    let outcome = prepare_file(&dir, size, persist, &thread_stop);
                    if prepared_tx.send(outcome).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Preparer {
            requests: Some(requests_tx),
            prepared: prepared_rx,
            state: PreparerState::Idle,
            stop,
            thread: Some(thread),
        })
    }

    /// Asks for the next segment file unless that was done already.
    fn request(&mut self) {
        if !matches!(self.state, PreparerState::Idle) {
            return;
        }
        if let Some(requests) = &self.requests {
            // If the thread is gone, `take` reports it.
            let _ = requests.send(());
        }
        self.state = PreparerState::Requested;
    }

    /// Whether a requested file is ready (without waiting).
    fn is_ready(&mut self) -> bool {
        if matches!(self.state, PreparerState::Requested)
            && let Ok(outcome) = self.prepared.try_recv()
        {
            self.state = PreparerState::Ready(outcome);
        }
        matches!(self.state, PreparerState::Ready(Ok(_)))
    }

    /// The prepared file, waiting for it if need be.
    fn take(&mut self) -> Result<PathBuf, JournalError> {
        self.request();
        match std::mem::replace(&mut self.state, PreparerState::Idle) {
            PreparerState::Ready(outcome) => outcome,
            _ => self.prepared.recv().map_err(|_| {
                JournalError::from(io::Error::other("the segment preparer thread is gone"))
            })?,
        }
    }

    /// Ends the thread, abandoning the file it is working on, if any.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        drop(self.requests.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the journal segment preparer thread panicked");
        }
    }
}

impl Writer {
    pub fn new(
        shared: Arc<Shared>,
        requests: mpsc::Receiver<Request>,
        file: fs_err::File,
        active: Arc<Segment>,
        active_preallocated: bool,
    ) -> io::Result<Writer> {
        let written = active.durable_len();
        let next_seq = active.last_seq() + 1;
        let segments_dir = shared.segments_dir.clone();
        let preparer = Preparer::start(
            segments_dir.clone(),
            shared.config.segment_bytes,
            shared.config.persist,
        )?;
        Ok(Writer {
            shared,
            requests,
            segments_dir,
            file,
            active,
            written,
            next_seq,
            buf: Vec::new(),
            index: Vec::new(),
            first_seqs: Vec::new(),
            preparer,
            active_preallocated,
        })
    }

    /// Runs until every sender is gone, then returns (closing the active segment).
    pub fn run(mut self) {
        let mut group = Vec::new();
        while let Ok(first) = self.requests.recv() {
            let mut group_bytes = first.payloads.encoded_len();
            group.push(first);
            while group_bytes < MAX_GROUP_BYTES as u64 {
                let Ok(request) = self.requests.try_recv() else {
                    break;
                };
                group_bytes += request.payloads.encoded_len();
                group.push(request);
            }
            self.commit_group(&mut group);
            debug_assert!(group.is_empty());
        }
        self.preparer.stop();
    }

    fn commit_group(&mut self, group: &mut Vec<Request>) {
        if self.shared.poisoned.load(Ordering::Acquire) {
            for request in group.drain(..) {
                request.ack.send(Err(JournalError::Poisoned));
            }
            return;
        }
        if let Err(error) = self.write_group(group) {
            self.shared.poisoned.store(true, Ordering::Release);
            tracing::error!(%error, "journal write failed, the journal is now poisoned");
            for request in group.drain(..) {
                request.ack.send(Err(error.duplicate()));
            }
        }
    }

    /// Writes the group, acknowledging requests as their frames become durable; on error the
    /// requests still in `group` are the ones not acknowledged.
    fn write_group(&mut self, group: &mut Vec<Request>) -> Result<(), JournalError> {
        self.buf.clear();
        self.index.clear();
        self.first_seqs.clear();
        let mut position = 0;
        while position < group.len() {
            if self.active_is_full() || self.should_leave_early() {
                // A batch never spans segments: finish this one before the next request.
                self.flush(group)?;
                position = 0;
                self.roll()?;
            }
            self.first_seqs.push(self.next_seq);
            match &group[position].payloads {
                Payloads::One(payload) => self.encode(payload, false),
                Payloads::Batch(payloads) => {
                    for (number, payload) in payloads.iter().enumerate() {
                        self.encode(payload, number + 1 < payloads.len());
                    }
                }
            }
            position += 1;
        }
        self.flush(group)
    }

    fn active_is_full(&self) -> bool {
        let size = self.written + self.buf.len() as u64;
        size > HEADER_LEN && size >= self.shared.config.segment_bytes
    }

    fn should_leave_early(&mut self) -> bool {
        let has_frames = self.written + self.buf.len() as u64 > HEADER_LEN;
        !self.active_preallocated && has_frames && self.preparer.is_ready()
    }

    fn encode(&mut self, payload: &[u8], continues: bool) {
        let seq = self.next_seq;
        if (seq - self.active.first_seq).is_multiple_of(INDEX_EVERY) {
            self.index.push((seq, self.written + self.buf.len() as u64));
        }
        encode_frame(&mut self.buf, seq, payload, continues);
        self.next_seq += 1;
    }

    /// Writes the encoded frames with one call, syncs, publishes them, and acknowledges the
    /// requests they belong to (removing them from the front of `group`).
    fn flush(&mut self, group: &mut Vec<Request>) -> Result<(), JournalError> {
        if self.first_seqs.is_empty() {
            return Ok(());
        }
        self.file.write_all_at(&self.buf, self.written)?;
        self.written += self.buf.len() as u64;
        self.sync()?;
        let half = self.shared.config.segment_bytes / 2;
        let prepare_after = if self.active_preallocated {
            half
        } else {
            half.min(PREPARE_AFTER_BYTES)
        };
        if self.written >= prepare_after {
            self.preparer.request();
        }

        let last_seq = self.next_seq - 1;
        let entries = last_seq + 1 - self.first_seqs[0];
        self.active.publish(self.written, last_seq, &self.index);
        self.shared.appends.fetch_add(entries, Ordering::Relaxed);
        self.shared.groups.fetch_add(1, Ordering::Relaxed);
        self.shared.last_seq.store(last_seq, Ordering::Release);
        self.shared.last_seq_tx.send_replace(last_seq);

        let acknowledged = self.first_seqs.len();
        for (request, first_seq) in group.drain(..acknowledged).zip(self.first_seqs.drain(..)) {
            request.ack.send(Ok(first_seq));
        }
        self.buf.clear();
        self.index.clear();
        if self.buf.capacity() > MAX_GROUP_BYTES {
            self.buf.shrink_to(MAX_GROUP_BYTES);
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.shared.fail_next_sync.swap(false, Ordering::AcqRel) {
            return Err(io::Error::other("injected fsync failure"));
        }
        match self.shared.config.persist {
            PersistMode::Buffer => return Ok(()),
            PersistMode::SyncData => self.file.sync_data()?,
            PersistMode::SyncAll => self.file.sync_all()?,
        }
        self.shared.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Starts a new segment at `next_seq` (the active one is already synced).
    fn roll(&mut self) -> Result<(), JournalError> {
        let persist = self.shared.config.persist;
        let (file, segment) = match self.preparer.take() {
            Ok(prepared) => {
                install_prepared(&self.segments_dir, &prepared, self.next_seq, persist)?
            }
            Err(error) => {
                // Preallocation is an optimization; a plain segment works too.
                tracing::warn!(%error, "could not prepare the next journal segment, creating it unprepared");
                create_segment(&self.segments_dir, self.next_seq, persist)?
            }
        };
        tracing::debug!(segment = %segment.path.display(), "journal rolled to a new segment");
        self.shared
            .segments
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&segment));
        self.file = file;
        self.active = segment;
        self.written = HEADER_LEN;
        self.active_preallocated = self.file.metadata()?.len() >= self.shared.config.segment_bytes;
        Ok(())
    }
}
