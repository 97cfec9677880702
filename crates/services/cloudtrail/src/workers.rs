//! CloudTrail's background loops, each a [`opentrail_core::workers::Worker`] with a status:
//!
//! - `history`: follows the journal into the event-history index ([`history`]; a
//!   [`opentrail_core::workers::JournalFollower`]).
//! - `retention`: drops history older than the retention, and journal segments every consumer
//!   has passed.
//! - `delivery`: trail log files and signed digest files into the trails' buckets
//!   ([`delivery`], [`digests`], signing keys in [`keys`]; what can fail, and the bucket check
//!   before a write, in [`error`]).

pub mod delivery;
pub mod digests;
pub mod error;
mod history;
pub mod keys;

use std::sync::Arc;

use opentrail_core::AppState;
use opentrail_core::workers::JournalFollower;

/// Starts the history, retention and delivery workers.
pub fn spawn_all(state: &Arc<AppState>) {
    state
        .workers
        .spawn(state, JournalFollower::<history::Indexer>::new());
    state.workers.spawn(state, history::Retention);
    state.workers.spawn(state, delivery::Delivery);
}
