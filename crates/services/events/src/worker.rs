//! The `events` worker: follows the journal and puts every recorded CloudTrail event on the
//! default bus of its account and region, in the EventBridge envelope. [`Matcher`] is the
//! journal consumer; the shared [`opentrail_core::workers::JournalFollower`] runs it.
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

use opentrail_core::workers::{Entry, JournalConsumer, Progress, Seq};
use opentrail_meta::MetaError;
use opentrail_model::origin::{Origin, origin};
use serde_json::Value;

use super::engine::{self, Engine, Routed};
use super::envelope;
use super::store::{self, DEFAULT_BUS};
use opentrail_core::AppState;

/// How often a position without matches is saved.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// CloudTrail events larger than this never reach EventBridge.
const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Matches journal records against the default buses' rules.
pub struct Matcher {
    state: Arc<AppState>,
    engine: Arc<Engine>,
    /// The position last saved in `events-position`, and when.
    saved: Seq,
    last_save: Instant,
}

impl JournalConsumer for Matcher {
    const NAME: &'static str = "events";
    const BATCH: usize = 512;
    /// A position moved without matches is saved within `SAVE_EVERY` while idle too.
    const IDLE_RECHECK: Option<Duration> = Some(SAVE_EVERY);
    type Error = MetaError;

    fn open(state: &Arc<AppState>, cursor: Seq) -> Result<(Matcher, Seq), MetaError> {
        let saved: Option<Seq> = state
            .meta
            .get(store::POSITION, store::POSITION_KEY)
            .ok()
            .flatten();
        let position = saved.unwrap_or(cursor).max(cursor);
        let matcher = Matcher {
            state: state.clone(),
            engine: engine::engine_for(state),
            saved: position,
            last_save: Instant::now(),
        };
        Ok((matcher, position))
    }

    /// A development reset makes the worker skip what was written before it.
    fn position(&mut self, known: Seq) -> Result<Seq, MetaError> {
        Ok(known.max(self.engine.skip_to()))
    }

    /// With no rule anywhere no record can match (a rule only sees events recorded after it
    /// exists): moves past what the journal holds without reading it.
    fn skip(&mut self, after: Seq, end: Seq) -> Result<Option<Progress>, MetaError> {
        // Whether any rule exists; `true` when that cannot be read, so that records are matched.
        let has_rules = self.engine.has_rules(&self.state.meta).unwrap_or(true);
        if has_rules {
            return Ok(None);
        }
        let saved = self.save_lazily(end, &Routed::default());
        Ok(Some(Progress {
            to: end,
            processed: end - after,
            saved,
        }))
    }

    fn apply(&mut self, after: Seq, entries: Vec<Entry>) -> Result<Progress, MetaError> {
        let Some(last) = entries.last().map(|entry| entry.seq) else {
            return Ok(Progress {
                to: after,
                processed: 0,
                saved: None,
            });
        };
        let now = super::delivery::now_ms();
        let mut routed = Routed::default();
        for entry in &entries {
            routed.extend(match_record(
                &self.state,
                &self.engine,
                &entry.payload,
                now,
            )?);
        }
        // A development reset during the batch voids it; reading resumes after the reset.
        if self.engine.skip_to() > after {
            return Ok(Progress {
                to: after,
                processed: 0,
                saved: None,
            });
        }
        let mut saved = None;
        if !routed.is_empty() || self.last_save.elapsed() >= SAVE_EVERY {
            self.save(last, &routed)?;
            saved = Some(last);
            self.engine.enqueue(routed.deliveries);
        }
        Ok(Progress {
            to: last,
            processed: entries.len() as u64,
            saved,
        })
    }

    fn idle(&mut self, position: Seq) -> Result<Option<Seq>, MetaError> {
        if position == self.saved || self.last_save.elapsed() < SAVE_EVERY {
            return Ok(None);
        }
        let written = self.save(position, &Routed::default());
        // A failed save is tried again after the next batch or [`SAVE_EVERY`].
        self.saved = position;
        self.last_save = Instant::now();
        Ok(written.is_ok().then_some(position))
    }

    fn finish(&mut self, position: Seq) -> Result<Seq, MetaError> {
        if position != self.saved {
            self.save(position, &Routed::default())?;
        }
        Ok(position)
    }
}

impl Matcher {
    /// Writes the deliveries, the archived events and the position in one transaction.
    fn save(&mut self, position: Seq, routed: &Routed) -> Result<(), MetaError> {
        self.state.meta.write(|txn| {
            routed.write(txn)?;
            txn.put(store::POSITION, store::POSITION_KEY, &position)
        })?;
        self.saved = position;
        self.last_save = Instant::now();
        Ok(())
    }

    /// Saves `position` if the last save is [`SAVE_EVERY`] old; `Some` when it did.
    fn save_lazily(&mut self, position: Seq, routed: &Routed) -> Option<Seq> {
        if self.last_save.elapsed() < SAVE_EVERY {
            return None;
        }
        self.save(position, routed).ok().map(|()| position)
    }
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
