//! The event-history index behind CloudTrail `LookupEvents`: the management and Insights
//! events of the last `retention_days` (default 90), per account and region, searchable by one
//! attribute and a time range, newest first, in pages joined by an opaque `NextToken`.
//!
//! The index is derived state. The server reads journal entries (sequence number + record JSON)
//! and hands them to [`History::index`]; [`History::applied_seq`] says where to resume after a
//! restart. Indexing is idempotent (a second copy of an `eventID` is skipped), and the applied
//! sequence number is written in the same atomic fjall batch as the index entries, so a crash
//! never leaves an entry half-applied. Batches reach the OS only ([`fjall::PersistMode::Buffer`]);
//! [`History::flush`] makes them durable, and anything lost in between is replayed from the
//! journal.
//!
//! # Layout
//! - `handle` — [`History`]: the index as the server holds it, reopened by itself after the
//!   file system failed it (a full disk poisons fjall).
//! - `store` — the fjall `Index`: opening, indexing, lookups, retention.
//! - `query` — the request and response shapes ([`LookupQuery`], [`LookupPage`], …).
//! - `keys` — posting hashes and the newest-first position of an event.
//! - `postings` — posting blocks: grouping a batch's positions, their encoding, the merge.
//! - `pages` — event pages: a batch's record texts of one day packed into one value.
//! - `dedupe` — the in-memory eventID filter that spares most dedupe point reads.
//! - `extract` — one borrowed parse of a record, reading only the indexed members.
//! - `token` — the authenticated `NextToken`.
//! - `error` — [`HistoryError`].
//!
//! # On-disk format (version 4)
//! One fjall database in the history directory (64 MiB block cache, uncompressed journal: the
//! event pages would otherwise be LZ4-compressed on the indexing thread, then again in the
//! tables) with these keyspaces:
//! - `meta`: `format_version` → ASCII decimal (`"4"`; any other value, versions 1 to 3
//!   included, is refused at open); `applied_seq` → u64 BE; `retention_cutoff_ms` → i64 BE
//!   (events before it are hidden); `token_key` → 32-byte secret authenticating next tokens; `posting_key` →
//!   32-byte secret keying the posting and eventID hashes; `day_count/` + day u32 BE → u64 BE,
//!   events indexed in that day; `day_span/` + day u32 BE → u64 BE, the widest time span (ms)
//!   of a posting block of that day.
//! - `ids`: `[day u32 BE][eventID hash u64 BE]` → `[seq u64 BE]` × n, the journal seqs of the
//!   day's events with that eventID hash (keyed SipHash-2-4, `posting_key` halves swapped) —
//!   the dedupe set, and the route for `EventId` lookups (no EventId postings are written),
//!   which probe each day and compare the eventIDs stored in the events. Versions 2 and 3 keyed
//!   it by the eventID itself: random keys of ~36 bytes, slow to insert and compact; day-first
//!   keys confine a batch's inserts to the newest days, and a batch inserts them sorted.
//! - `ev-<day>` (day = days since 1970-01-01 UTC of the record's `eventTime`):
//!   event pages (see `pages`), `[seq u64 BE of the page's first record]` → `[count u32 BE]`,
//!   `count` × `[seq u64 BE][end u32 BE]`, then per record `[eventID length u16 BE][eventID]
//!   [record JSON text exactly as indexed]`. One `index` batch packs each day's records into
//!   pages of about 16 KiB (version 2 wrote one entry per record); reading an event seeks the
//!   page at or below its seq and binary-searches the page's offset table. LZ4 blocks.
//! - `ix-<day>`: posting blocks, `[posting u64 BE][newest position 14]` → the block's
//!   positions (see `postings` for the value). One `index` batch writes one block per
//!   (posting, UTC hour) it touched, so a record costs one point write (its eventID) plus its
//!   share of the pages and blocks, instead of one key per attribute value. `posting` is
//!   SipHash-2-4 (keyed with `posting_key`) over `[kind u8][account len u32 LE][account][region len u32
//!   LE][region][value]`; `kind` is `01` for the time-only posting (every event, empty value)
//!   or `03..=09` for EventName, ReadOnly (`true`/`false`), Username, ResourceType,
//!   ResourceName, EventSource, AccessKeyId; bit `80` marks Insights records. A ResourceName
//!   is indexed both as the full ARN and as the name derived from it (the bucket of
//!   `arn:aws:s3:::NAME`). A position is `[u48::MAX - eventTime ms, BE][u64::MAX - seq, BE]`,
//!   so byte order is eventTime descending, then journal seq descending.
//!
//! A lookup scans one posting per day, newest day first, from the blocks whose newest position
//! is within `day_span` above the query's upper bound (or the token's position), and merges
//! the blocks newest first: batches may overlap in time (late or imported records), and a
//! position is returned only once no unvisited block can hold a newer one. Postings may
//! collide (different values, one hash), so every candidate's record is read and checked
//! against the full query before it is returned; collisions cost time, never correctness.
//!
//! Retention drops whole day keyspaces (O(1) space reclaim) after removing the day's prefix of
//! `ids`; events of the partly expired oldest day are hidden by time until that day goes.

#![deny(clippy::unwrap_used)]

mod dedupe;
pub mod error;
mod extract;
pub mod handle;
mod keys;
mod pages;
mod postings;
pub mod query;
pub mod store;
mod token;

pub use error::HistoryError;
pub use handle::History;
pub use query::{HistoryEvent, HistoryResource, LookupAttributeKey, LookupPage, LookupQuery};
pub use store::{FORMAT_VERSION, HistoryConfig, IndexStats};
