//! The writer thread: group commit, segment rolling, and repair after a failed write.
//!
//! Appenders send [`Request`]s over a channel. The writer takes one, drains everything else
//! queued, encodes all frames into one buffer, writes it with one call, syncs once (as the
//! [`PersistMode`] asks), publishes the new durable end to readers, and only then acknowledges
//! every waiter of the group.
//!
//! New segments are zero-filled ahead of time by a helper thread: overwriting existing blocks
//! lets `fdatasync` skip the file system's metadata journal (about half the latency, and no
//! waiting behind other files' metadata). Rolling then only writes a header and renames the
//! prepared file. A segment that was not zero-filled (the first one of a new journal, one cut
//! at recovery or repair) gets room allocated a few reserves at a time (`fallocate`) and is
//! left for a prepared one as soon as that is ready.
//!
//! A failed write, sync or roll makes the journal **unavailable**: the requests not yet
//! acknowledged fail, the active segment is truncated back to its acknowledged length and
//! synced through a fresh handle, and the writer retries that repair with a backoff until it
//! succeeds (including allocating room again, or rolling when the segment is full). Sequence
//! numbers of the failed requests are reused.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fs_err::os::unix::fs::FileExt;
use tokio::sync::oneshot;

use crate::config::{PersistMode, Seq};
use crate::error::JournalError;
use crate::format::{HEADER_LEN, encode_frame, frame_len, segment_file_name};
use crate::segment::{
    INDEX_EVERY, PREPARED_FILE_NAME, Segment, allocate, create_segment, install_prepared,
    prepare_file, sync_dir,
};
use crate::shared::Shared;

/// A group stops taking queued requests once it holds this many payload bytes.
const MAX_GROUP_BYTES: usize = 32 * 1024 * 1024;

/// The next segment file is prepared once the active segment holds this many bytes (or half
/// of `segment_bytes`, if less): early enough to be ready in time, late enough that a journal
/// that is barely used never pays for zero-filling a segment.
const PREPARE_AFTER_BYTES: u64 = 1024 * 1024;

/// First wait before retrying a failed repair or preparation; it doubles up to
/// [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// How often the writer checks on a segment being prepared while no request comes.
const PREPARE_POLL: Duration = Duration::from_millis(50);

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

/// A retry schedule: 100 ms, doubling up to 2 s.
struct Backoff {
    delay: Duration,
    at: Instant,
}

impl Backoff {
    fn start() -> Backoff {
        Backoff {
            delay: FIRST_RETRY_DELAY,
            at: Instant::now() + FIRST_RETRY_DELAY,
        }
    }

    fn is_due(&self, now: Instant) -> bool {
        now >= self.at
    }

    /// Schedules the next attempt after one more failure.
    fn failed_again(&mut self, now: Instant) {
        self.delay = (self.delay * 2).min(MAX_RETRY_DELAY);
        self.at = now + self.delay;
    }
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    requests: mpsc::Receiver<Request>,
    segments_dir: PathBuf,
    /// Write handle of the active (newest) segment; frames go at explicit offsets.
    file: fs_err::File,
    active: Arc<Segment>,
    /// Acknowledged (written and synced) bytes of the active segment, header included.
    written: u64,
    /// Length of the active segment file: the bytes after `written` are allocated zeros.
    allocated: u64,
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
    /// Set while the journal is unavailable: why, and when to try repairing again.
    failure: Option<(String, Backoff)>,
    /// When allocating room in a segment that was not preallocated may be tried again.
    allocate_retry: Option<Backoff>,
}

/// The helper thread that zero-fills the next segment file.
struct Preparer {
    /// One message asks for one prepared file; dropping it ends the thread.
    requests: Option<mpsc::Sender<()>>,
    prepared: mpsc::Receiver<Result<PathBuf, JournalError>>,
    state: PreparerState,
    /// While preparations fail: when to try again (it backs off across failures).
    retry: Option<Backoff>,
    /// Set on close, so that closing does not wait for a whole segment of zeros.
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

enum PreparerState {
    Idle,
    Requested,
    Ready(PathBuf),
    /// The last preparation failed; it is asked again when `retry` is due.
    Failed,
}

impl Preparer {
    fn start(shared: Arc<Shared>) -> io::Result<Preparer> {
        let (requests_tx, requests_rx) = mpsc::channel::<()>();
        let (prepared_tx, prepared_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("opentrail-journal-preparer".into())
            .spawn(move || {
                let dir = &shared.segments_dir;
                for () in requests_rx {
                    let faults = &shared.faults;
                    let no_space = faults.no_space.load(Ordering::Acquire)
                        || faults.new_segments_no_space.load(Ordering::Acquire);
                    let outcome = if no_space {
                        Err(injected_no_space().into())
                    } else {
                        prepare_file(
                            dir,
                            shared.config.segment_bytes,
                            shared.config.persist,
                            &thread_stop,
                        )
                    };
                    match &outcome {
                        Ok(_) => shared.next_prepared.store(true, Ordering::Release),
                        // Give the space of a partial file back (on a full disk it matters).
                        Err(_) => {
                            let _ = fs_err::remove_file(dir.join(PREPARED_FILE_NAME));
                        }
                    }
                    if prepared_tx.send(outcome).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Preparer {
            requests: Some(requests_tx),
            prepared: prepared_rx,
            state: PreparerState::Idle,
            retry: None,
            stop,
            thread: Some(thread),
        })
    }

    /// Asks for the next segment file unless that was done already (or failed recently).
    fn request(&mut self) {
        match &self.state {
            PreparerState::Idle => {}
            PreparerState::Failed if self.retry_is_due(Instant::now()) => {}
            _ => return,
        }
        if let Some(requests) = &self.requests {
            // If the thread is gone, `take` reports it.
            let _ = requests.send(());
        }
        self.state = PreparerState::Requested;
    }

    /// Collects a finished preparation (without waiting): `Some(Ok)` when a file just became
    /// ready, `Some(Err)` when its preparation just failed.
    fn poll(&mut self) -> Option<Result<(), JournalError>> {
        if !matches!(self.state, PreparerState::Requested) {
            return None;
        }
        match self.prepared.try_recv().ok()? {
            Ok(path) => {
                self.state = PreparerState::Ready(path);
                self.retry = None;
                Some(Ok(()))
            }
            Err(error) => {
                self.failed(Instant::now());
                Some(Err(error))
            }
        }
    }

    fn failed(&mut self, now: Instant) {
        match &mut self.retry {
            Some(backoff) => backoff.failed_again(now),
            None => self.retry = Some(Backoff::start()),
        }
        self.state = PreparerState::Failed;
    }

    fn retry_is_due(&self, now: Instant) -> bool {
        self.retry
            .as_ref()
            .is_none_or(|backoff| backoff.is_due(now))
    }

    /// When the writer should look at the preparer again without a request coming.
    fn wake_at(&self) -> Option<Instant> {
        match &self.state {
            PreparerState::Requested => Some(Instant::now() + PREPARE_POLL),
            PreparerState::Failed => self.retry.as_ref().map(|backoff| backoff.at),
            PreparerState::Idle | PreparerState::Ready(_) => None,
        }
    }

    /// The prepared file, waiting for it if need be.
    fn take(&mut self) -> Result<PathBuf, JournalError> {
        if matches!(self.state, PreparerState::Failed) {
            // Rolling cannot wait for the backoff: try once more now.
            self.state = PreparerState::Idle;
        }
        self.request();
        let outcome = match std::mem::replace(&mut self.state, PreparerState::Idle) {
            PreparerState::Ready(path) => Ok(path),
            _ => self.prepared.recv().map_err(|_| {
                JournalError::from(io::Error::other("the segment preparer thread is gone"))
            })?,
        };
        match outcome {
            Ok(_) => self.retry = None,
            Err(_) => self.failed(Instant::now()),
        }
        outcome
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
    ) -> io::Result<Writer> {
        let written = active.durable_len();
        let allocated = file.metadata()?.len().max(written);
        let active_preallocated = allocated >= shared.config.segment_bytes;
        let next_seq = active.last_seq() + 1;
        let segments_dir = shared.segments_dir.clone();
        let preparer = Preparer::start(Arc::clone(&shared))?;
        let mut writer = Writer {
            shared,
            requests,
            segments_dir,
            file,
            active,
            written,
            allocated,
            next_seq,
            buf: Vec::new(),
            index: Vec::new(),
            first_seqs: Vec::new(),
            preparer,
            active_preallocated,
            failure: None,
            allocate_retry: None,
        };
        writer.after_progress();
        Ok(writer)
    }

    /// Runs until every sender is gone, then returns (closing the active segment).
    pub fn run(mut self) {
        let mut group = Vec::new();
        loop {
            let first = match self.wake_at() {
                None => match self.requests.recv() {
                    Ok(request) => request,
                    Err(mpsc::RecvError) => break,
                },
                Some(at) => {
                    let timeout = at.saturating_duration_since(Instant::now());
                    match self.requests.recv_timeout(timeout) {
                        Ok(request) => request,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            self.maintain();
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            let mut group_bytes = first.payloads.encoded_len();
            group.push(first);
            while group_bytes < MAX_GROUP_BYTES as u64 {
                let Ok(request) = self.requests.try_recv() else {
                    break;
                };
                group_bytes += request.payloads.encoded_len();
                group.push(request);
            }
            self.maintain();
            self.commit_group(&mut group);
            debug_assert!(group.is_empty());
        }
        self.preparer.stop();
    }

    /// When the writer has something to retry or check without a request coming.
    fn wake_at(&self) -> Option<Instant> {
        let repair = self.failure.as_ref().map(|(_, backoff)| backoff.at);
        // While unavailable, the repair allocates room itself.
        let allocate = match &self.failure {
            Some(_) => None,
            None => self.allocate_retry.as_ref().map(|backoff| backoff.at),
        };
        [repair, allocate, self.preparer.wake_at()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Retries what is due: the repair of an unavailable journal, a failed preparation, a
    /// failed allocation; and publishes the room left for admission.
    fn maintain(&mut self) {
        let now = Instant::now();
        self.poll_preparer();
        if matches!(self.preparer.state, PreparerState::Failed) && self.preparer.retry_is_due(now) {
            self.preparer.request();
        }
        if let Some((_, backoff)) = &self.failure
            && backoff.is_due(now)
        {
            self.try_repair();
        }
        if self.failure.is_none() && self.allocate_retry.as_ref().is_some_and(|b| b.is_due(now)) {
            self.allocate_room();
        }
        self.publish_room();
    }

    /// Whether a prepared file is ready (without waiting).
    fn prepared_is_ready(&mut self) -> bool {
        self.poll_preparer();
        matches!(self.preparer.state, PreparerState::Ready(_))
    }

    fn poll_preparer(&mut self) {
        match self.preparer.poll() {
            None => {}
            Some(Ok(())) => {
                *self
                    .shared
                    .prepare_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
            }
            Some(Err(error)) => self.prepare_failed(&error),
        }
    }

    fn prepare_failed(&mut self, error: &JournalError) {
        let reason = describe(error, "preparing the next journal segment");
        tracing::warn!(%reason, "could not prepare the next journal segment, retrying later");
        *self
            .shared
            .prepare_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason);
    }

    fn commit_group(&mut self, group: &mut Vec<Request>) {
        if self.shared.poisoned.load(Ordering::Acquire) {
            for request in group.drain(..) {
                request.ack.send(Err(JournalError::Poisoned));
            }
            return;
        }
        if let Some((reason, _)) = &self.failure {
            // Sent before the journal became unavailable; fail fast like new appends do.
            for request in group.drain(..) {
                request
                    .ack
                    .send(Err(JournalError::Unavailable(reason.clone())));
            }
            return;
        }
        if let Err(reason) = self.write_group(group) {
            for request in group.drain(..) {
                request
                    .ack
                    .send(Err(JournalError::Unavailable(reason.clone())));
            }
            // Nothing of the failed requests was acknowledged: their seqs are reused.
            self.buf.clear();
            self.index.clear();
            self.first_seqs.clear();
            self.next_seq = self.shared.last_seq.load(Ordering::Acquire) + 1;
            self.become_unavailable(reason);
            self.try_repair();
            self.publish_room();
        }
    }

    fn become_unavailable(&mut self, reason: String) {
        tracing::error!(%reason, "journal write failed, the journal is unavailable until it is repaired");
        *self
            .shared
            .unavailable_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason.clone());
        self.shared.unavailable.store(true, Ordering::Release);
        self.failure = Some((reason, Backoff::start()));
    }

    /// Brings the active segment back to its acknowledged length through a fresh handle (a
    /// file whose write or sync failed may hold anything after it), removes a segment file a
    /// failed roll left behind, rolls if the active segment is full, and allocates room again.
    /// The journal is available again once all of that worked.
    fn try_repair(&mut self) {
        if self.shared.poisoned.load(Ordering::Acquire) {
            return;
        }
        if self.failure.is_none() {
            return;
        }
        match self.repair() {
            Ok(()) => {
                tracing::info!(segment = %self.active.path.display(), "journal repaired, appends are accepted again");
                self.failure = None;
                self.allocate_retry = None;
                *self
                    .shared
                    .unavailable_reason
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                self.shared.unavailable.store(false, Ordering::Release);
            }
            Err(RepairError::Lost(reason)) => {
                tracing::error!(%reason, "the journal is poisoned");
                *self
                    .shared
                    .unavailable_reason
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(reason);
                self.shared.poisoned.store(true, Ordering::Release);
                // Nothing to retry: requests are refused until the journal is reopened.
                self.failure = None;
            }
            Err(RepairError::Failed(reason)) => {
                tracing::warn!(%reason, "journal repair failed, retrying later");
                if let Some((current, backoff)) = &mut self.failure {
                    *current = reason.clone();
                    backoff.failed_again(Instant::now());
                }
                *self
                    .shared
                    .unavailable_reason
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(reason);
            }
        }
    }

    fn repair(&mut self) -> Result<(), RepairError> {
        let path = self.active.path.clone();
        let failed = |doing: &str| {
            let doing = format!("{doing} {}", path.display());
            move |error: io::Error| RepairError::Failed(describe(&error.into(), &doing))
        };
        let file = match fs_err::OpenOptions::new().write(true).open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(RepairError::Lost(format!(
                    "segment {} is gone, with the entries acknowledged in it",
                    path.display()
                )));
            }
            Err(error) => return Err(failed("reopening segment")(error)),
        };
        let file_len = file
            .metadata()
            .map_err(failed("reading the length of segment"))?
            .len();
        if file_len < self.written {
            return Err(RepairError::Lost(format!(
                "segment {} is {file_len} bytes long but {} bytes of it were acknowledged",
                path.display(),
                self.written
            )));
        }
        file.set_len(self.written)
            .map_err(failed("truncating segment"))?;
        if self.shared.config.persist != PersistMode::Buffer {
            file.sync_all().map_err(failed("syncing segment"))?;
        }
        self.file = file;
        self.allocated = self.written;
        self.active_preallocated = false;

        let stray = self.segments_dir.join(segment_file_name(self.next_seq));
        if stray != path && stray.exists() {
            // Left by a failed roll: it holds no acknowledged frame.
            fs_err::remove_file(&stray).map_err(failed("removing the unfinished segment"))?;
            if self.shared.config.persist != PersistMode::Buffer {
                sync_dir(&self.segments_dir).map_err(failed("syncing the directory of"))?;
            }
        }
        if self.active_is_full() {
            self.roll().map_err(|error| {
                RepairError::Failed(describe(&error, "rolling to a new journal segment"))
            })?;
        }
        let target = self.allocation_target();
        if target > self.allocated {
            self.allocate_to(target).map_err(|error| {
                RepairError::Failed(describe(
                    &error,
                    &format!("allocating room in segment {}", path.display()),
                ))
            })?;
        }
        Ok(())
    }

    /// Writes the group, acknowledging requests as their frames become durable; on error the
    /// requests still in `group` are the ones not acknowledged, and the error says why.
    fn write_group(&mut self, group: &mut Vec<Request>) -> Result<(), String> {
        self.buf.clear();
        self.index.clear();
        self.first_seqs.clear();
        let mut position = 0;
        while position < group.len() {
            if self.should_roll(group[position].payloads.encoded_len()) {
                // A batch never spans segments: finish this one before the next request.
                self.flush(group)?;
                position = 0;
                self.roll()
                    .map_err(|error| describe(&error, "rolling to a new journal segment"))?;
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

    /// Whether to move to a new segment before a request of `request_len` encoded bytes: when
    /// the active one is full; or when a prepared file is ready and the active segment was not
    /// preallocated or has no allocated room left for the request (so that admission's
    /// promise holds: a request never has to allocate blocks while a prepared file exists).
    fn should_roll(&mut self, request_len: u64) -> bool {
        if self.active_is_full() {
            return true;
        }
        let size = self.written + self.buf.len() as u64;
        let has_frames = size > HEADER_LEN;
        let fits = size + request_len <= self.allocated;
        has_frames && (!self.active_preallocated || !fits) && self.prepared_is_ready()
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
    fn flush(&mut self, group: &mut Vec<Request>) -> Result<(), String> {
        if self.first_seqs.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.write_frames() {
            return Err(self.segment_failure("appending to", error));
        }
        if let Err(error) = self.sync() {
            return Err(self.segment_failure("syncing", error));
        }
        self.written += self.buf.len() as u64;
        self.allocated = self.allocated.max(self.written);

        let last_seq = self.next_seq - 1;
        let entries = last_seq + 1 - self.first_seqs[0];
        self.active.publish(self.written, last_seq, &self.index);
        self.shared.appends.fetch_add(entries, Ordering::Relaxed);
        self.shared.groups.fetch_add(1, Ordering::Relaxed);
        self.shared.last_seq.store(last_seq, Ordering::Release);
        self.shared.last_seq_tx.send_replace(last_seq);

        // Before the acknowledgements, so that admission after an append sees its room.
        self.publish_room();
        let acknowledged = self.first_seqs.len();
        for (request, first_seq) in group.drain(..acknowledged).zip(self.first_seqs.drain(..)) {
            request.ack.send(Ok(first_seq));
        }
        self.buf.clear();
        self.index.clear();
        if self.buf.capacity() > MAX_GROUP_BYTES {
            self.buf.shrink_to(MAX_GROUP_BYTES);
        }
        self.after_progress();
        Ok(())
    }

    fn segment_failure(&self, doing: &str, error: io::Error) -> String {
        let doing = format!("{doing} segment {}", self.active.path.display());
        describe(&error.into(), &doing)
    }

    /// Writes `buf` at the end of the acknowledged frames. With the no-space fault injected,
    /// it behaves as a full file system: bytes that fit in allocated blocks are written, then
    /// the write fails.
    fn write_frames(&mut self) -> io::Result<()> {
        if self.shared.faults.no_space.load(Ordering::Acquire) {
            let end = self.written + self.buf.len() as u64;
            if end > self.allocated {
                let fitting = self.allocated.saturating_sub(self.written) as usize;
                self.file.write_all_at(&self.buf[..fitting], self.written)?;
                return Err(injected_no_space());
            }
        }
        self.file.write_all_at(&self.buf, self.written)
    }

    fn sync(&mut self) -> io::Result<()> {
        if self
            .shared
            .faults
            .fail_next_sync
            .swap(false, Ordering::AcqRel)
        {
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

    /// After frames were acknowledged or a segment started: asks for the next segment file
    /// when it is time, allocates room in a segment that was not preallocated, and publishes
    /// the room left.
    fn after_progress(&mut self) {
        let low_water = self.shared.config.reserve_bytes.saturating_mul(2);
        if !self.active_preallocated
            && self.allocated.saturating_sub(self.written) < low_water
            && self.allocate_retry.is_none()
        {
            self.allocate_room();
        }
        let room = self.allocated.saturating_sub(self.written);
        let half = self.shared.config.segment_bytes / 2;
        let prepare_after = if self.active_preallocated {
            half
        } else {
            half.min(PREPARE_AFTER_BYTES)
        };
        if self.written >= prepare_after || room < low_water {
            self.preparer.request();
        }
        self.publish_room();
    }

    /// How long the active segment file should be: three reserves past the acknowledged
    /// frames, but no longer than a segment.
    fn allocation_target(&self) -> u64 {
        let reserve = self.shared.config.reserve_bytes;
        self.written
            .saturating_add(reserve.saturating_mul(3))
            .min(self.shared.config.segment_bytes)
    }

    /// Allocates room in the active segment (a best effort: admission reports what is left).
    fn allocate_room(&mut self) {
        let target = self.allocation_target();
        if target <= self.allocated {
            self.allocate_retry = None;
            return;
        }
        match self.allocate_to(target) {
            Ok(()) => self.allocate_retry = None,
            Err(error) => {
                let now = Instant::now();
                let reason = describe(
                    &error,
                    &format!("allocating room in segment {}", self.active.path.display()),
                );
                tracing::warn!(%reason, "could not allocate room in the journal segment, retrying later");
                match &mut self.allocate_retry {
                    Some(backoff) => backoff.failed_again(now),
                    None => self.allocate_retry = Some(Backoff::start()),
                }
            }
        }
    }

    fn allocate_to(&mut self, target: u64) -> Result<(), JournalError> {
        if self.shared.faults.no_space.load(Ordering::Acquire) {
            return Err(injected_no_space().into());
        }
        allocate(&self.file, self.allocated, target)?;
        self.allocated = target;
        Ok(())
    }

    /// Publishes the preallocated room left in the active segment, for admission.
    fn publish_room(&self) {
        let room = self.allocated.saturating_sub(self.written);
        self.shared.room.store(room, Ordering::Release);
    }

    /// Starts a new segment at `next_seq` (the active one is already synced).
    fn roll(&mut self) -> Result<(), JournalError> {
        let persist = self.shared.config.persist;
        let faults = &self.shared.faults;
        let no_space = faults.new_segments_no_space.load(Ordering::Acquire)
            || faults.no_space.load(Ordering::Acquire);
        let (file, segment) = match self.preparer.take() {
            Ok(prepared) => {
                install_prepared(&self.segments_dir, &prepared, self.next_seq, persist)?
            }
            Err(error) => {
                // Preallocation is an optimization; a plain segment works too.
                self.prepare_failed(&error);
                tracing::warn!(%error, "could not prepare the next journal segment, creating it unprepared");
                if no_space {
                    return Err(injected_no_space().into());
                }
                create_segment(&self.segments_dir, self.next_seq, persist)?
            }
        };
        tracing::debug!(segment = %segment.path.display(), "journal rolled to a new segment");
        *self
            .shared
            .prepare_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self.shared
            .segments
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&segment));
        self.file = file;
        self.active = segment;
        self.written = HEADER_LEN;
        self.allocated = self.file.metadata()?.len().max(HEADER_LEN);
        self.active_preallocated = self.allocated >= self.shared.config.segment_bytes;
        self.allocate_retry = None;
        // The new room first, so that admission never sees neither room nor a prepared file.
        self.publish_room();
        self.shared.next_prepared.store(false, Ordering::Release);
        self.after_progress();
        Ok(())
    }
}

enum RepairError {
    /// Worth retrying.
    Failed(String),
    /// Acknowledged bytes are gone: the journal cannot go on (poisoned).
    Lost(String),
}

/// The error a test injects as a full file system.
fn injected_no_space() -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        "injected: no space left on device",
    )
}

/// A reason for the operator: what went wrong, while doing what, and the error itself.
fn describe(error: &JournalError, doing: &str) -> String {
    let summary = match error {
        JournalError::Io { source } => match source.kind() {
            io::ErrorKind::StorageFull => "no space left on device",
            io::ErrorKind::QuotaExceeded => "disk quota exceeded",
            io::ErrorKind::ReadOnlyFilesystem => "read-only file system",
            _ => "i/o error",
        },
        _ => "error",
    };
    format!("{summary} while {doing}: {error}")
}
