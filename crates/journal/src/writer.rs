//! The writer thread: group commit.
//!
//! Appenders send [`Request`]s over a channel. The writer takes one, drains everything else
//! queued, encodes all frames into one buffer, writes it with one call, syncs once (as the
//! [`PersistMode`] asks), publishes the new durable end to readers, and only then acknowledges
//! every waiter of the group. A failed write or sync poisons the journal.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, mpsc};

use tokio::sync::oneshot;

use crate::error::JournalError;
use crate::format::{HEADER_LEN, encode_frame, frame_len};
use crate::journal::Shared;
use crate::segment::{INDEX_EVERY, Segment, create_segment};
use crate::{PersistMode, Seq};

/// A group stops taking queued requests once it holds this many payload bytes.
const MAX_GROUP_BYTES: usize = 32 * 1024 * 1024;

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
    /// Append handle of the active (newest) segment.
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
}

impl Writer {
    pub fn new(
        shared: Arc<Shared>,
        requests: mpsc::Receiver<Request>,
        file: fs_err::File,
        active: Arc<Segment>,
    ) -> Writer {
        let written = active.durable_len();
        let next_seq = active.last_seq() + 1;
        let segments_dir = shared.segments_dir.clone();
        Writer {
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
        }
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
            if self.active_is_full() {
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
        self.file.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.sync()?;

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
        let (file, segment) = create_segment(
            &self.segments_dir,
            self.next_seq,
            self.shared.config.persist,
        )?;
        tracing::debug!(segment = %segment.path.display(), "journal rolled to a new segment");
        self.shared
            .segments
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&segment));
        self.file = file;
        self.active = segment;
        self.written = HEADER_LEN;
        Ok(())
    }
}
