//! The journal's error type

use std::io;
use std::path::PathBuf;

use crate::config::Seq;

/// Everything that can go wrong while opening, appending to, reading or following the journal.
#[derive(thiserror::Error, Debug)]
pub enum JournalError {
    /// A file system operation failed (the message names the path).
    #[error("journal io error: {source}")]
    Io {
        #[from]
        source: io::Error,
    },
    /// A segment holds bytes that are neither valid frames nor a torn tail that recovery may drop.
    #[error("corrupt journal segment {} at offset {offset}: {reason}", segment.display())]
    Corrupt {
        segment: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A cursor file does not decode.
    #[error("corrupt cursor file {}: {reason}", path.display())]
    CorruptCursor { path: PathBuf, reason: String },
    /// The journal cannot take appends now: a write, fsync or new segment failed (a full disk,
    /// an i/o error) and the writer is repairing and retrying by itself, or admission found
    /// too little preallocated room. The reason says which, for the operator and the health
    /// endpoint. Appends that get this error were not written; retry later.
    #[error("journal is unavailable: {0}")]
    Unavailable(String),
    /// Acknowledged bytes of the active segment are gone (the file was removed, truncated or
    /// replaced behind the journal's back), which no retry can repair: the journal refuses
    /// appends until it is reopened, and reopening runs the recovery rules.
    #[error(
        "journal is poisoned, acknowledged entries are missing from the active segment, reopen it to recover"
    )]
    Poisoned,
    /// A payload exceeds [`MAX_PAYLOAD`](crate::MAX_PAYLOAD).
    #[error("payload of {len} bytes is too large, the maximum is {max} bytes")]
    TooLarge { len: usize, max: usize },
    /// A segment or cursor file was written by a format version this build does not know.
    #[error("unsupported format version {version} in {}, expected version {expected}", path.display())]
    UnsupportedVersion {
        path: PathBuf,
        version: u16,
        expected: u16,
    },
    /// The writer thread is gone (the journal was dropped or its writer panicked).
    #[error("journal is closed")]
    Closed,
    /// Another process (or another `Journal` in this process) has the directory open.
    #[error("journal directory {} is locked by another open journal", dir.display())]
    Locked { dir: PathBuf },
    /// A cursor name outside `[A-Za-z0-9._-]{1,128}`.
    #[error("invalid cursor name {name:?}, expected 1 to 128 characters from A-Z a-z 0-9 . _ -")]
    InvalidCursorName { name: String },
    /// A cursor was asked to move past the last durable entry.
    #[error("cursor {name} cannot move to {seq}, the journal ends at {last_seq}")]
    CursorBeyondEnd {
        name: String,
        seq: Seq,
        last_seq: Seq,
    },
    /// `append_batch` was given no payloads.
    #[error("empty batch, append_batch needs at least one payload")]
    EmptyBatch,
}
