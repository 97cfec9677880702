//! opentrail's foundation benchmarks: shared pieces of the bench targets in `benches/`.
//!
//! The targets (each `harness = false`, printing a compact table to stdout):
//!
//! - `journal`: appends per second and acknowledgement latency with fsync group commit at 1,
//!   16 and 256 concurrent writers.
//! - `ingest`: records per second through recorder → journal → history index, using the
//!   server's own state and history worker.
//! - `lookup`: LookupEvents latency per attribute kind on 1 million stored events.
//! - `logs`: FilterLogEvents over 1 million log events of a trail's log group.
//! - `patterns`: EventBridge pattern matching, events per CPU-second of one thread on city-lots
//!   events, per operator family and for 10 to 10,000 rules.
//! - `rule_latency`: API call acknowledged → EventBridge rule → SQS target → message received.
//!
//! Run them with `cargo bench -p opentrail-bench --bench <name>`; `bench/README.md` at the
//! repository root lists the latest figures.
//!
//! # Layout
//!
//! - [`synth`]: realistic synthetic management events, built through the server's recorder.
//! - [`stats`]: latency percentiles, rates and a plain-text table.
//! - [`client`]: signed requests through the server's request path.
//! - [`setup`]: benchmark directories (and which filesystem they are on), environment knobs.

pub mod client;
pub mod setup;
pub mod stats;
pub mod synth;
