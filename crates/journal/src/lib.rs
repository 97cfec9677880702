//! opentrail's journal: the append-only, checksummed, fsync'd write-ahead log that is the
//! source of truth for every CloudTrail record.
//!
//! Producers [`Journal::append`] payloads; an append resolves only once the entry is durable
//! (per [`PersistMode`]). Many concurrent appends share one write and one `fdatasync` (group
//! commit on a dedicated writer thread). Consumers follow the journal with
//! [`Journal::read_from`] / [`Journal::wait_beyond`] and record progress in a durable named
//! [`Cursor`]; [`Journal::remove_consumed_segments`] deletes what every cursor has passed.
//!
//! # Layout
//!
//! - [`journal`]: the [`Journal`] handle, configuration, reading, retention, stats
//! - `writer`: the writer thread (group commit, segment rolling, poisoning)
//! - `segment`: the in-memory view of segment files and recovery on open
//! - `format`: byte layout of segment headers and frames, the frame reader
//! - [`cursor`]: durable consumer cursors
//! - [`error`]: the error type, [`JournalError`]
//!
//! # On-disk format (version 1)
//!
//! ```text
//! <dir>/journal.lock                 exclusive lock (flock) while a Journal is open
//! <dir>/segments/<first seq, 20 digits>.log
//! <dir>/segments/next.tmp            the next segment, being zero-filled in advance
//! <dir>/cursors/<name>.cursor        <name> is [A-Za-z0-9._-]{1,128}
//! ```
//!
//! All integers are little endian. A **segment** starts with a 24-byte header:
//!
//! ```text
//! magic "OTJOURNL" (8) | version u16 = 1 | reserved u16 = 0 | first seq u64 | crc32c u32
//! ```
//!
//! The crc covers the 20 bytes before it. The version is checked before the crc; an unknown
//! version fails with [`JournalError::UnsupportedVersion`]. The first seq must match the file
//! name. Frames follow the header back to back:
//!
//! ```text
//! len u32 | crc32c u32 of (seq u64 ‖ payload) | seq u64 | payload (len & 0x7fff_ffff bytes)
//! ```
//!
//! The payload length is at most [`MAX_PAYLOAD`] (16 MiB). Bit 31 of `len` is the *continues*
//! flag: it is set on every frame of an [`Journal::append_batch`] except the last, which makes a
//! batch all-or-nothing across crashes. Seqs are contiguous: within a segment they rise by one
//! from the header's first seq, and each segment starts right after the previous one ends. A
//! segment rolls over once it holds at least `segment_bytes`, always between two append calls,
//! so a batch never spans segments (a segment may therefore grow past `segment_bytes`).
//!
//! Segments are **preallocated**: the next one is zero-filled to `segment_bytes` in the
//! background (with `O_DIRECT` where the file system allows it, so the zeros cost no page-cache
//! copy), then gets its header and is renamed into place when the journal rolls, so that
//! appends overwrite existing blocks and `fdatasync` need not commit file metadata. A segment
//! file may therefore end in zeros after its last frame; zeros never form a valid frame (seq 0
//! does not exist) and mark the unused rest of the segment. The first segment of a new journal
//! is not preallocated; the writer moves on to a preallocated one once the first is about
//! 1 MiB long.
//!
//! A **cursor** file is 24 bytes, replaced atomically (temp file, fsync, rename, fsync of the
//! directory):
//!
//! ```text
//! magic "OTCURSOR" (8) | version u16 = 1 | reserved u16 = 0 | position u64 | crc32c u32
//! ```
//!
//! # Recovery rules (on [`Journal::open`])
//!
//! - Every segment is read and every frame's crc and seq checked (opening costs one sequential
//!   read of the kept journal). A leftover `next.tmp` is deleted.
//! - After the last frame, a segment may hold only zeros (preallocated space), which is kept.
//! - Older segments must be perfect: a bad header, a bad or incomplete frame, a seq out of
//!   order, or a batch left open at the end fails with [`JournalError::Corrupt`] naming the
//!   segment and offset. So does a gap between segments.
//! - The newest segment may end in a **torn tail**, the remains of a write that was never
//!   acknowledged: an incomplete frame, or frames with a bad crc, or other non-zero bytes, with
//!   no valid frame anywhere after them. The tail is truncated away (and logged; the segment
//!   is then no longer preallocated), as is a trailing batch whose last
//!   frame (without the continues flag) is missing. A header shorter than 24 bytes (a crash
//!   while rolling) is rewritten.
//! - Bad bytes in the newest segment **followed by a valid frame** are corruption, not a torn
//!   tail: open fails with [`JournalError::Corrupt`] rather than silently dropping entries.
//!   Operators decide what to do with such a file.
//! - Cursor temp files left by a crash are deleted.
//!
//! # Durability and errors
//!
//! An acknowledged append is durable as [`PersistMode`] says. A failed write or sync
//! **poisons** the journal: the waiting appends get the error, every later append gets
//! [`JournalError::Poisoned`] (an fsync failure cannot be retried safely). Entries of a failed
//! group may or may not be in the file after reopening; consumers deduplicate by event id.
//!
//! With [`PersistMode::Buffer`] a power loss may lose acknowledged entries, and cursors may then
//! point past the end of the journal.
#![deny(clippy::unwrap_used)]

pub mod cursor;
pub mod error;
mod format;
pub mod intents;
pub mod journal;
mod segment;
mod writer;

pub use cursor::Cursor;
pub use error::JournalError;
pub use format::MAX_PAYLOAD;
pub use intents::{IntentId, IntentLog, PendingIntent};
pub use journal::{Entry, Journal, JournalConfig, JournalHealth, JournalStats, PersistMode, Seq};
