//! opentrail's journal: the append-only, checksummed, fsync'd write-ahead log that is the
//! source of truth for every CloudTrail record.
//!
//! Producers [`Journal::append`] payloads; an append resolves only once the entry is durable
//! (per [`PersistMode`]). Many concurrent appends share one write and one `fdatasync` (group
//! commit on a dedicated writer thread). Consumers follow the journal with
//! [`Journal::read_from`] / [`Journal::wait_beyond`] and record progress in a durable named
//! [`Cursor`]; [`Journal::remove_consumed_segments`] deletes what every cursor has passed.
//!
//! The journal **fails closed** and **recovers by itself**: the server asks
//! [`Journal::admission`] before a call takes effect, a failed write makes the journal
//! unavailable (never silently lossy) until the writer has repaired it, and the [`IntentLog`]
//! covers a crash between a call's effect and its record.
//!
//! # Layout
//!
//! - `config`: [`Seq`], [`PersistMode`], [`JournalConfig`]
//! - [`journal`]: the [`Journal`] handle, reading, retention, stats
//! - `shared`: the state the handles, the cursors and the writer thread share
//! - `writer`: the writer thread (group commit, segment rolling, repair after a failed write)
//! - `segment`: the in-memory view of segment files and recovery on open
//! - `format`: byte layout of segment headers and frames, the frame reader
//! - [`cursor`]: durable consumer cursors
//! - [`intents`]: the [`IntentLog`], a second journal of intents begun before an effect
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
//! does not exist) and mark the unused rest of the segment. A segment that was not zero-filled
//! (the first one of a new journal, one cut at recovery or by a repair) instead gets room
//! allocated with `fallocate`, up to three reserves ([`JournalConfig::reserve_bytes`]) past its
//! frames, so that admission can say yes without zero-filling a whole segment for a journal
//! that is barely used; the writer moves on to a preallocated segment once the first is about
//! 1 MiB long, or earlier when a prepared one is ready and the next request does not fit in
//! the allocated room.
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
//! An acknowledged append is durable as [`PersistMode`] says. A failed write, sync or roll to a
//! new segment (a full disk, a quota, an i/o error) does not poison the journal; the writer:
//!
//! 1. fails the requests of the group that were not acknowledged, with
//!    [`JournalError::Unavailable`] and a reason such as "no space left on device while
//!    appending to segment …". Their seqs were never published and are reused, so seqs stay
//!    contiguous and no acknowledged entry is lost or duplicated;
//! 2. becomes **unavailable**: appends and [`Journal::admission`] fail fast with
//!    [`JournalError::Unavailable`] carrying the reason ([`Journal::health`] shows it);
//! 3. **repairs**: reopens the active segment, truncates it to its acknowledged length (a file
//!    whose write or sync failed may hold anything after it, and its dirty pages may be gone),
//!    syncs it, removes a segment file a failed roll left behind, rolls if the active segment
//!    is full, and allocates room in the segment again; at once, then with a backoff from
//!    100 ms doubling to 2 s, until that works. Then the journal is available again, with no
//!    restart. Preparing the next segment is retried with the same backoff.
//!
//! A process that dies after a failed write and before its repair may leave the failed
//! (never acknowledged) entries in the file, where reopening finds them; as before, consumers
//! deduplicate by event id.
//!
//! Only when the repair finds acknowledged bytes missing from the active segment (the file was
//! removed, truncated or replaced behind the journal's back) is the journal **poisoned**:
//! appends get [`JournalError::Poisoned`] until it is reopened, and reopening applies the
//! recovery rules.
//!
//! **Admission**: [`Journal::admission`] (a few atomic loads) refuses while the journal is
//! unavailable, and while the active segment has less than [`JournalConfig::reserve_bytes`]
//! (default 4 MiB) of allocated room left and no prepared next segment waits (preparing it
//! failed, or is still under way). Once it admits, the next records go into allocated blocks
//! (the writer rolls into the prepared segment rather than allocate new blocks), so a full
//! disk cannot fail them as long as what the calls admitted at once append stays below the
//! reserve. The server asks before a call takes effect, so it never does what it cannot record.
//!
//! With [`PersistMode::Buffer`] a power loss may lose acknowledged entries, and cursors may then
//! point past the end of the journal.
//!
//! # Intent log
//!
//! `<intents dir>/` is a journal of its own (same layout, recovery and failure handling) whose
//! entries are `version u8 = 1 | after_seq u64 | payload`, with the cursor `checkpoint`: every
//! intent at or below it was finished. See [`intents`] for the contract: [`IntentLog::open`]
//! returns the intents after the checkpoint as candidates the caller checks against the main
//! journal.
#![deny(clippy::unwrap_used)]

mod config;
pub mod cursor;
pub mod error;
mod format;
pub mod intents;
pub mod journal;
mod segment;
mod shared;
mod writer;

pub use config::{JournalConfig, PersistMode, Seq};
pub use cursor::Cursor;
pub use error::JournalError;
pub use format::MAX_PAYLOAD;
pub use intents::{IntentId, IntentLog, PendingIntent};
pub use journal::{Entry, Journal, JournalHealth, JournalStats};
