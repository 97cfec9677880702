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
//! - `store` — [`History`]: opening, indexing, lookups, retention.
//! - `query` — the request and response shapes ([`LookupQuery`], [`LookupPage`], …).
//! - `keys` — the byte layout of index keys: posting hash and newest-first position.
//! - `extract` — one borrowed parse of a record, reading only the indexed members.
//! - `token` — the authenticated `NextToken`.
//! - `error` — [`HistoryError`].
//!
//! # On-disk format (version 1)
//! One fjall database in the history directory (64 MiB block cache) with these keyspaces:
//! - `meta`: `format_version` → ASCII decimal (`"1"`; any other value is refused at open);
//!   `applied_seq` → u64 BE; `retention_cutoff_ms` → i64 BE (events before it are hidden);
//!   `token_key` → 32-byte secret authenticating next tokens; `posting_key` → 32-byte secret
//!   whose first 16 bytes key the posting hash; `day_count/` + day u32 BE → u64 BE, events
//!   indexed in that day.
//! - `ids`: eventID (UTF-8) → `[day u32 BE][seq u64 BE]` — the dedupe set, and the direct
//!   route for `EventId` lookups (no EventId postings are written).
//! - `ev-<day>` (day = days since 1970-01-01 UTC of the record's `eventTime`):
//!   `[seq u64 BE]` → `[eventID length u16 BE][eventID][record JSON text exactly as indexed]`
//!   (LZ4 blocks; keys grow with the journal, so compaction mostly moves tables untouched).
//! - `ix-<day>`: 20-byte keys → empty value: `[posting 6][u48::MAX - eventTime ms, BE]
//!   [u64::MAX - seq, BE]`. `posting` is the first 6 bytes of SipHash-2-4 (keyed with
//!   `posting_key`) over `[kind u8][account len u32 LE][account][region len u32 LE][region]
//!   [value]`; `kind` is `01` for the time-only posting (every event, empty value) or
//!   `03..=09` for EventName, ReadOnly (`true`/`false`), Username, ResourceType, ResourceName,
//!   EventSource, AccessKeyId; bit `80` marks Insights records. A ResourceName is indexed both
//!   as the full ARN and as the name derived from it (the bucket of `arn:aws:s3:::NAME`).
//!
//! A lookup is one forward range scan of one posting per day, newest day first, so events come
//! by eventTime descending, then journal seq descending. Postings may collide (6 bytes, and
//! values of any length share the space), so every candidate's record is read and checked
//! against the full query before it is returned; collisions cost time, never correctness.
//!
//! Retention drops whole day keyspaces (O(1) space reclaim) after removing their eventIDs from
//! `ids`; events of the partly expired oldest day are hidden by time until that day goes.

#![deny(clippy::unwrap_used)]

pub mod error;
mod extract;
mod keys;
pub mod query;
pub mod store;
mod token;

pub use error::HistoryError;
pub use query::{HistoryEvent, HistoryResource, LookupAttributeKey, LookupPage, LookupQuery};
pub use store::{FORMAT_VERSION, History, HistoryConfig, IndexStats};
