//! The `history` worker: follows the journal into the event-history index, and the
//! `retention` worker that enforces the history retention and trims consumed journal segments.

use std::sync::Arc;
use std::time::Duration;

use opentrail_core::AppState;
use opentrail_core::lane::Lane;
use opentrail_core::workers::WorkerState;

const BATCH: usize = 4096;
const CURSOR: &str = "history";
/// The name of the history worker's thread.
const LANE: &str = "opentrail-history";

/// Indexes journal entries as they become durable, until shutdown.
pub async fn run(state: Arc<AppState>) {
    let mut shutdown = state.shutdown.subscribe();
    let mut processed = 0u64;
    let mut cursor = match state.journal.cursor(CURSOR) {
        Ok(cursor) => cursor,
        Err(err) => {
            tracing::error!(error = %err, "history cursor cannot be opened");
            state
                .workers
                .report(CURSOR, WorkerState::Failed, 0, Some(err.to_string()));
            return;
        }
    };
    // Reading and indexing run on a lane below the request handlers' priority: under load
    // acknowledgements stay quick and the index catches up with the CPU left over.
    let mut lane = match Lane::start(LANE) {
        Ok(lane) => lane,
        Err(err) => {
            tracing::error!(error = %err, "history lane cannot start");
            state
                .workers
                .report(CURSOR, WorkerState::Failed, 0, Some(err.to_string()));
            return;
        }
    };
    loop {
        if *shutdown.borrow() {
            break;
        }
        let applied = state.history.applied_seq();
        let entries = {
            let journal = state.journal.clone();
            lane.run(move || journal.read_from(applied, BATCH)).await
        };
        let entries = match entries {
            Ok(Ok(entries)) => entries,
            Ok(Err(err)) => {
                report_failure(&state, processed, &err.to_string()).await;
                continue;
            }
            Err(err) => {
                report_failure(&state, processed, &err.to_string()).await;
                lane = restart(lane);
                continue;
            }
        };
        if entries.is_empty() {
            state
                .workers
                .report(CURSOR, WorkerState::Idle, processed, None);
            tokio::select! {
                _ = state.journal.wait_beyond(applied) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let history = state.history.clone();
        let count = entries.len() as u64;
        let indexed = lane
            .run(move || {
                let refs: Vec<(u64, &[u8])> = entries
                    .iter()
                    .map(|entry| (entry.seq, entry.payload.as_slice()))
                    .collect();
                history.index(&refs)
            })
            .await;
        match indexed {
            Ok(Ok(_stats)) => {
                processed += count;
                let applied = state.history.applied_seq();
                state.history_applied.send_replace(applied);
                state
                    .workers
                    .report(CURSOR, WorkerState::Running, processed, None);
            }
            Ok(Err(err)) => report_failure(&state, processed, &err.to_string()).await,
            Err(err) => {
                report_failure(&state, processed, &err.to_string()).await;
                lane = restart(lane);
            }
        }
        // The cursor only lets the journal trim segments; the index keeps its own position.
        let durable = state.history.applied_seq();
        if durable > cursor.position() + 100_000 {
            commit_cursor(&state, &mut cursor).await;
        }
    }
    commit_cursor(&state, &mut cursor).await;
    state
        .workers
        .report(CURSOR, WorkerState::Stopped, processed, None);
}

/// A new lane in place of one whose thread stopped (a job panicked); the old one if none
/// can start (the next call fails again and is retried).
fn restart(lane: Lane) -> Lane {
    match Lane::start(LANE) {
        Ok(fresh) => fresh,
        Err(err) => {
            tracing::error!(error = %err, "history lane cannot restart");
            lane
        }
    }
}

async fn commit_cursor(state: &Arc<AppState>, cursor: &mut opentrail_journal::Cursor) {
    let history = state.history.clone();
    let flushed = tokio::task::spawn_blocking(move || history.flush()).await;
    if !matches!(flushed, Ok(Ok(()))) {
        tracing::warn!("history flush failed; the journal cursor stays where it was");
        return;
    }
    if let Err(err) = cursor.commit(state.history.applied_seq()) {
        tracing::warn!(error = %err, "history cursor commit failed");
    }
}

async fn report_failure(state: &Arc<AppState>, processed: u64, message: &str) {
    tracing::error!(error = message, "history indexing failed; retrying");
    state.workers.report(
        CURSOR,
        WorkerState::Retrying,
        processed,
        Some(message.to_owned()),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Enforces the history retention and trims consumed journal segments every few minutes.
pub async fn retention(state: Arc<AppState>) {
    const NAME: &str = "retention";
    let mut shutdown = state.shutdown.subscribe();
    let mut removed_total = 0u64;
    loop {
        let history = state.history.clone();
        let journal = state.journal.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let removed = history.enforce_retention(opentrail_model::time::now_ms())?;
            let segments = journal
                .remove_consumed_segments()
                .map_err(|err| err.to_string());
            Ok::<_, opentrail_history::HistoryError>((removed, segments))
        })
        .await;
        match outcome {
            Ok(Ok((removed, segments))) => {
                removed_total += removed;
                let error = segments.err();
                state
                    .workers
                    .report(NAME, WorkerState::Idle, removed_total, error);
            }
            Ok(Err(err)) => state.workers.report(
                NAME,
                WorkerState::Retrying,
                removed_total,
                Some(err.to_string()),
            ),
            Err(err) => state.workers.report(
                NAME,
                WorkerState::Retrying,
                removed_total,
                Some(err.to_string()),
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(300)) => {}
            _ = shutdown.changed() => break,
        }
    }
    state
        .workers
        .report(NAME, WorkerState::Stopped, removed_total, None);
}
