//! The `events` worker: follows the journal and puts every recorded CloudTrail event on the
//! default bus of its account and region, in the EventBridge envelope.
//!
//! For each batch it matches the records against the rules, then writes the deliveries, the
//! archived copies (archives are managed rules, `super::archives`) and the new journal
//! position (`events-position`) in one metadata transaction: after a crash it
//! resumes from that position, so a match is never lost nor recorded twice. Batches without a
//! match move the position lazily (replaying them matches nothing new); while no rule exists
//! anywhere, the worker moves past the journal without reading it. The journal cursor
//! `events` trails the position and only lets the journal trim segments. Ingested records
//! (imports, the ingest API) are skipped, as AWS keeps outside events away from rules, and so
//! are records over 256 KB.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentrail_model::origin::{Origin, origin};
use serde_json::Value;

use super::engine::{self, Engine, Routed};
use super::envelope;
use super::store::{self, DEFAULT_BUS};
use opentrail_core::AppState;
use opentrail_core::workers::WorkerState;

const NAME: &str = "events";
const BATCH: usize = 512;
/// How often a position without matches is saved.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// CloudTrail events larger than this never reach EventBridge.
const MAX_EVENT_BYTES: usize = 256 * 1024;

pub async fn run(state: Arc<AppState>, engine: Arc<Engine>) {
    let mut shutdown = state.shutdown.subscribe();
    let mut cursor = match state.journal.cursor(NAME) {
        Ok(cursor) => cursor,
        Err(err) => {
            tracing::error!(error = %err, "events cursor cannot be opened");
            state
                .workers
                .report(NAME, WorkerState::Failed, 0, Some(err.to_string()));
            return;
        }
    };
    let saved: Option<u64> = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || state.meta.get(store::POSITION, store::POSITION_KEY))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
    };
    let mut position = saved.unwrap_or(cursor.position()).max(cursor.position());
    let mut saved_position = position;
    let mut last_save = Instant::now();
    let mut processed = 0u64;
    loop {
        if *shutdown.borrow() {
            break;
        }
        position = position.max(engine.skip_to());
        // With no rule anywhere no record can match (a rule only sees events recorded after
        // it exists): move past what the journal holds without reading it.
        let end = state.journal.last_seq();
        if end > position && !has_rules(&state, &engine).await {
            if last_save.elapsed() >= SAVE_EVERY
                && save(&state, &mut cursor, end, &Routed::default()).await
            {
                saved_position = end;
                last_save = Instant::now();
            }
            processed += end - position;
            position = end;
            state
                .workers
                .report(NAME, WorkerState::Running, processed, None);
            continue;
        }
        let entries = {
            let journal = state.journal.clone();
            tokio::task::spawn_blocking(move || journal.read_from(position, BATCH)).await
        };
        let entries = match entries {
            Ok(Ok(entries)) => entries,
            Ok(Err(err)) => {
                retry_later(&state, processed, &err.to_string()).await;
                continue;
            }
            Err(err) => {
                retry_later(&state, processed, &err.to_string()).await;
                continue;
            }
        };
        let Some(last) = entries.last().map(|entry| entry.seq) else {
            if position != saved_position && last_save.elapsed() >= SAVE_EVERY {
                save(&state, &mut cursor, position, &Routed::default()).await;
                saved_position = position;
                last_save = Instant::now();
            }
            state
                .workers
                .report(NAME, WorkerState::Idle, processed, None);
            tokio::select! {
                () = state.journal.wait_beyond(position) => {}
                () = tokio::time::sleep(SAVE_EVERY) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        let count = entries.len() as u64;
        let matched = {
            let state = state.clone();
            let engine = engine.clone();
            tokio::task::spawn_blocking(move || {
                let now = super::delivery::now_ms();
                let mut routed = Routed::default();
                for entry in &entries {
                    routed.extend(match_record(&state, &engine, &entry.payload, now)?);
                }
                Ok::<_, opentrail_meta::MetaError>(routed)
            })
            .await
        };
        let routed = match matched {
            Ok(Ok(routed)) => routed,
            Ok(Err(err)) => {
                retry_later(&state, processed, &err.to_string()).await;
                continue;
            }
            Err(err) => {
                retry_later(&state, processed, &err.to_string()).await;
                continue;
            }
        };
        // A development reset during the batch voids it; reading resumes after the reset.
        if engine.skip_to() > position {
            continue;
        }
        if !routed.is_empty() || last_save.elapsed() >= SAVE_EVERY {
            if !save(&state, &mut cursor, last, &routed).await {
                retry_later(&state, processed, "saving matched events failed").await;
                continue;
            }
            saved_position = last;
            last_save = Instant::now();
            engine.enqueue(routed.deliveries);
        }
        position = last;
        processed += count;
        state
            .workers
            .report(NAME, WorkerState::Running, processed, None);
    }
    if position != saved_position {
        save(&state, &mut cursor, position, &Routed::default()).await;
    }
    state
        .workers
        .report(NAME, WorkerState::Stopped, processed, None);
}

/// Whether any rule exists; `true` when that cannot be read, so that records are matched.
async fn has_rules(state: &Arc<AppState>, engine: &Arc<Engine>) -> bool {
    let state = state.clone();
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || engine.has_rules(&state.meta))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(true)
}

/// What one journal record asks for.
fn match_record(
    state: &AppState,
    engine: &Engine,
    payload: &[u8],
    now_ms: i64,
) -> Result<Routed, opentrail_meta::MetaError> {
    // Ingested records stay away from rules; events over 256 KB are dropped, as AWS does.
    if origin(payload) == Origin::Ingested || payload.len() > MAX_EVENT_BYTES {
        return Ok(Routed::default());
    }
    // Most records meet no rule: find that out from a borrowed view of the text before
    // parsing the record whole and wrapping it in the envelope.
    let Some(route) = envelope::route_of(payload) else {
        return Ok(Routed::default());
    };
    if route.account.is_empty() || route.region.is_empty() {
        return Ok(Routed::default());
    }
    let rules = engine.bus_rules(&state.meta, &route.account, &route.region, DEFAULT_BUS)?;
    if !rules.may_match(route.read_only_management) {
        return Ok(Routed::default());
    }
    let Ok(record) = serde_json::from_slice::<Value>(payload) else {
        return Ok(Routed::default());
    };
    let Some(event) = envelope::cloudtrail_envelope(&record) else {
        return Ok(Routed::default());
    };
    engine::route(
        &state.meta,
        engine,
        (&route.account, &route.region, DEFAULT_BUS),
        &event,
        route.read_only_management,
        now_ms,
    )
}

/// Writes the deliveries, the archived events and the position in one transaction, then
/// moves the cursor.
async fn save(
    state: &Arc<AppState>,
    cursor: &mut opentrail_journal::Cursor,
    position: u64,
    routed: &Routed,
) -> bool {
    let written = {
        let state = state.clone();
        let routed = routed.clone();
        tokio::task::spawn_blocking(move || {
            state.meta.write(|txn| {
                routed.write(txn)?;
                txn.put(store::POSITION, store::POSITION_KEY, &position)
            })
        })
        .await
    };
    if !matches!(written, Ok(Ok(()))) {
        return false;
    }
    if let Err(err) = cursor.commit(position) {
        tracing::warn!(error = %err, "events cursor commit failed");
    }
    true
}

async fn retry_later(state: &Arc<AppState>, processed: u64, message: &str) {
    tracing::error!(error = message, "events worker failed; retrying");
    state.workers.report(
        NAME,
        WorkerState::Retrying,
        processed,
        Some(message.to_owned()),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
}
