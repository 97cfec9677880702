//! The `history` worker: follows the journal into the event-history index, and the
//! `retention` worker that enforces the history retention and trims consumed journal segments.
//!
//! The index keeps its own position (the last journal seq it applied), written in the same
//! batch as the entries, so [`Indexer`] reads it back at every step (a development reset moves
//! it). Reading and indexing run on a lane below the request handlers' priority
//! ([`opentrail_core::lane`]): under load acknowledgements stay quick and the index catches up
//! with the CPU left over. The journal cursor `history` only lets the journal trim segments; it
//! follows the index after a flush every [`FLUSH_EVERY`] entries and at shutdown.

use std::sync::Arc;
use std::time::Duration;

use opentrail_core::AppState;
use opentrail_core::workers::{
    Entry, JournalConsumer, Progress, Seq, Worker, WorkerContext, WorkerState,
};
use opentrail_history::HistoryError;

/// Entries applied between two flushes of the index that let the journal cursor move.
const FLUSH_EVERY: u64 = 100_000;

/// Indexes journal entries as they become durable.
pub struct Indexer {
    state: Arc<AppState>,
    /// The applied seq at the last flush (where the journal cursor is).
    flushed: Seq,
}

impl JournalConsumer for Indexer {
    const NAME: &'static str = "history";
    const BATCH: usize = 4096;
    const LANE: Option<&'static str> = Some("opentrail-history");
    type Error = HistoryError;

    fn open(state: &Arc<AppState>, cursor: Seq) -> Result<(Indexer, Seq), HistoryError> {
        let indexer = Indexer {
            state: state.clone(),
            flushed: cursor,
        };
        Ok((indexer, state.history.applied_seq()))
    }

    fn position(&mut self, _known: Seq) -> Result<Seq, HistoryError> {
        Ok(self.state.history.applied_seq())
    }

    fn apply(&mut self, _after: Seq, entries: Vec<Entry>) -> Result<Progress, HistoryError> {
        let refs: Vec<(u64, &[u8])> = entries
            .iter()
            .map(|entry| (entry.seq, entry.payload.as_slice()))
            .collect();
        self.state.history.index(&refs)?;
        let applied = self.state.history.applied_seq();
        self.state.history_applied.send_replace(applied);
        let mut saved = None;
        if applied > self.flushed + FLUSH_EVERY {
            match self.state.history.flush() {
                Ok(()) => {
                    self.flushed = applied;
                    saved = Some(applied);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "history flush failed; the journal cursor stays where it was");
                }
            }
        }
        Ok(Progress {
            to: applied,
            processed: entries.len() as u64,
            saved,
        })
    }

    fn finish(&mut self, _position: Seq) -> Result<Seq, HistoryError> {
        self.state.history.flush()?;
        Ok(self.state.history.applied_seq())
    }
}

/// Enforces the history retention and trims consumed journal segments every few minutes.
pub struct Retention;

impl Worker for Retention {
    fn name(&self) -> &'static str {
        "retention"
    }

    async fn run(self, ctx: WorkerContext) -> Result<(), String> {
        let mut removed_total = 0u64;
        loop {
            let history = ctx.state.history.clone();
            let journal = ctx.state.journal.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let removed = history.enforce_retention(opentrail_model::time::now_ms())?;
                let segments = journal
                    .remove_consumed_segments()
                    .map_err(|err| err.to_string());
                Ok::<_, HistoryError>((removed, segments))
            })
            .await;
            match outcome {
                Ok(Ok((removed, segments))) => {
                    removed_total += removed;
                    ctx.report(WorkerState::Idle, removed_total, segments.err());
                }
                Ok(Err(err)) => {
                    ctx.report(WorkerState::Retrying, removed_total, Some(err.to_string()))
                }
                Err(err) => ctx.report(WorkerState::Retrying, removed_total, Some(err.to_string())),
            }
            if !ctx.sleep(Duration::from_secs(300)).await {
                return Ok(());
            }
        }
    }
}
