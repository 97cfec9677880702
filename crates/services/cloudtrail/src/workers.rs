//! CloudTrail's background loops, named workers with a status:
//!
//! - `history`: follows the journal into the event-history index ([`history`]).
//! - `retention`: drops history older than the retention, and journal segments every consumer
//!   has passed.
//! - `delivery`: trail log files and signed digest files into the trails' buckets
//!   ([`delivery`], [`digests`], signing keys in [`keys`]).

pub mod delivery;
pub mod digests;
mod history;
pub mod keys;

use std::sync::Arc;

use opentrail_core::AppState;

/// Starts the history, retention and delivery workers.
pub fn spawn_all(state: &Arc<AppState>) {
    let handle = tokio::spawn(history::run(state.clone()));
    state.workers.add(handle);
    let handle = tokio::spawn(history::retention(state.clone()));
    state.workers.add(handle);
    let handle = tokio::spawn(delivery::run(state.clone()));
    state.workers.add(handle);
}
