//! The intent log: crash safety between a call's effect and its record.
//!
//! The server appends a call's CloudTrail record to the main [`Journal`] *after* the call took
//! effect. A crash in between would lose the record of something that happened. So before the
//! effect the server durably [`begin`](IntentLog::begin)s an intent (the event id, and what it
//! needs to write the record), does the effect, appends the record, and then
//! [`finish`](IntentLog::finish)es the intent, which costs only memory.
//!
//! # Format
//!
//! An intent log is a [`Journal`] of its own, in a directory the caller chooses (for example
//! `<data>/journal-intents/`), with the same segments, frames, recovery rules and fail-closed
//! behaviour. An intent's id is its seq there. Each entry's payload is
//!
//! ```text
//! version u8 = 1 | after_seq u64 (little endian) | the caller's payload
//! ```
//!
//! where `after_seq` is the main journal's last seq when the intent began: the call's record,
//! if it was appended, has a greater seq. The checkpoint is the journal's cursor named
//! [`CHECKPOINT_CURSOR`], replaced atomically (temp file, fsync, rename, fsync of the
//! directory): every intent with `id <= checkpoint` was finished. A crash at any point leaves
//! either the old or the new checkpoint, and an older one only returns more candidates.
//! Segments wholly at or below the checkpoint are deleted when it moves.
//!
//! # Contract
//!
//! - [`IntentLog::open`] returns every intent after the checkpoint as a
//!   [`PendingIntent`] *candidate*. `finish` is in memory only, so after a crash the log
//!   cannot tell which of them finished: for each candidate, the caller looks for its record
//!   in the main journal (scanning from `after_seq + 1`), appends the record when it is
//!   missing, and then calls [`IntentLog::finish`] with the candidate's id. Until then the
//!   candidate holds the checkpoint back, so a second crash returns it again.
//! - A candidate means "the effect *may* have happened": a crash (or a cancelled `begin`)
//!   between the intent and the effect leaves an intent whose effect never took place. The
//!   caller must tell the two apart where it matters (for example by the effect's own state),
//!   or accept a record of a call whose effect did not happen.
//! - [`IntentLog::begin`] returns once the intent is durable; it refuses with
//!   [`JournalError::Unavailable`] whenever the intent journal's admission does (failed
//!   writes, no reserve left), so the caller must not do the effect then.
//! - [`IntentLog::checkpoint`] is meant to be called periodically (every second, say) from a
//!   worker; it moves the checkpoint to just below the lowest unfinished intent and trims.
//!   An intent whose `begin` was cancelled before it returned an id counts as finished: no
//!   caller holds its id, so no effect follows it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::{JournalConfig, Seq};
use crate::cursor::Cursor;
use crate::error::JournalError;
use crate::journal::{Journal, JournalHealth};

/// An intent's id: its seq in the intent log's journal.
pub type IntentId = Seq;

/// The name of the intent journal's cursor that holds the checkpoint.
pub const CHECKPOINT_CURSOR: &str = "checkpoint";

/// The version byte opening every intent entry.
const INTENT_VERSION: u8 = 1;
/// Bytes in front of the caller's payload: version and `after_seq`.
const INTENT_HEADER_LEN: usize = 9;
/// Entries read at once while collecting candidates on open.
const READ_BATCH: usize = 1024;

/// An intent begun after the checkpoint and not known to be finished: its record may be
/// missing from the main journal (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingIntent {
    pub id: IntentId,
    /// The main journal's last seq when the intent began; its record, if any, comes after.
    pub after_seq: Seq,
    pub payload: Vec<u8>,
}

/// Which intents the checkpoint must not pass.
#[derive(Default)]
struct State {
    /// Begun (or returned as candidates) and not finished.
    unfinished: BTreeSet<IntentId>,
    /// `begin`s waiting for their append, by the intent journal's last seq when they started
    /// (their id will be greater), with how many started at that seq.
    in_flight: BTreeMap<Seq, usize>,
}

/// A durable log of intents; see the module docs. Cheap to share behind an `Arc`; all
/// methods take `&self`.
pub struct IntentLog {
    journal: Journal,
    state: Arc<Mutex<State>>,
    checkpoint: Mutex<Cursor>,
}

impl std::fmt::Debug for IntentLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntentLog")
            .field("journal", &self.journal)
            .field("unfinished", &self.unfinished())
            .finish()
    }
}

impl IntentLog {
    /// Opens (creating if needed) the intent log in `config.dir` and returns the candidates:
    /// every intent after the checkpoint, oldest first. Blocking, like [`Journal::open`].
    pub fn open(config: JournalConfig) -> Result<(IntentLog, Vec<PendingIntent>), JournalError> {
        let dir = config.dir.clone();
        let journal = Journal::open(config)?;
        let checkpoint = journal.cursor(CHECKPOINT_CURSOR)?;
        let mut candidates = Vec::new();
        let mut after = checkpoint.position();
        loop {
            let entries = journal.read_from(after, READ_BATCH)?;
            let Some(last) = entries.last() else {
                break;
            };
            after = last.seq;
            for entry in entries {
                let (after_seq, payload) =
                    decode_intent(&entry.payload).map_err(|reason| JournalError::Corrupt {
                        segment: dir.join("segments"),
                        offset: 0,
                        reason: format!("intent {}: {reason}", entry.seq),
                    })?;
                candidates.push(PendingIntent {
                    id: entry.seq,
                    after_seq,
                    payload: payload.to_vec(),
                });
            }
        }
        let state = State {
            unfinished: candidates.iter().map(|candidate| candidate.id).collect(),
            in_flight: BTreeMap::new(),
        };
        tracing::info!(
            dir = %dir.display(),
            checkpoint = checkpoint.position(),
            candidates = candidates.len(),
            "intent log opened"
        );
        let log = IntentLog {
            journal,
            state: Arc::new(Mutex::new(state)),
            checkpoint: Mutex::new(checkpoint),
        };
        Ok((log, candidates))
    }

    /// Durably records an intent (group commit) and returns its id. `after_seq` is the main
    /// journal's [`Journal::last_seq`] now; `payload` is what the caller needs to write the
    /// record after a crash (at least the event id). Refuses with
    /// [`JournalError::Unavailable`] when the intent journal's admission does: then the
    /// caller must not do the effect.
    pub async fn begin(&self, after_seq: Seq, payload: Vec<u8>) -> Result<IntentId, JournalError> {
        self.journal.admission()?;
        let mut entry = Vec::with_capacity(INTENT_HEADER_LEN + payload.len());
        entry.push(INTENT_VERSION);
        entry.extend_from_slice(&after_seq.to_le_bytes());
        entry.extend_from_slice(&payload);
        let in_flight = InFlight::register(Arc::clone(&self.state), self.journal.last_seq());
        let id = self.journal.append(entry).await?;
        in_flight.became(id);
        Ok(id)
    }

    /// Records, in memory only, that the intent `id` is resolved: its record is durably in
    /// the main journal (or, for a candidate, was found there or written). Unknown ids are
    /// ignored.
    pub fn finish(&self, id: IntentId) {
        self.lock_state().unfinished.remove(&id);
    }

    /// Durably moves the checkpoint to just below the lowest unfinished intent (or to the
    /// last intent when all are finished), then deletes the segments wholly below it.
    /// Returns the checkpoint. Call it periodically from a worker; it does blocking file
    /// system work.
    pub fn checkpoint(&self) -> Result<IntentId, JournalError> {
        let mut cursor = self
            .checkpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let position = {
            // Read before looking at the state: an intent begun later gets a greater id.
            let last = self.journal.last_seq();
            let state = self.lock_state();
            let below_unfinished = state.unfinished.first().map(|id| id - 1);
            let below_in_flight = state.in_flight.keys().next().copied();
            [Some(last), below_unfinished, below_in_flight]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(last)
        };
        let position = position.max(cursor.position());
        if position != cursor.position() {
            cursor.commit(position)?;
            self.journal.remove_consumed_segments()?;
        }
        Ok(position)
    }

    /// The last checkpoint written (or found on open).
    pub fn checkpointed(&self) -> IntentId {
        self.checkpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .position()
    }

    /// How many intents are begun (or were returned as candidates) and not finished.
    pub fn unfinished(&self) -> usize {
        self.lock_state().unfinished.len()
    }

    /// The intent journal's [`Journal::admission`]: whether [`Self::begin`] would be refused.
    pub fn admission(&self) -> Result<(), JournalError> {
        self.journal.admission()
    }

    /// The intent journal's [`Journal::health`].
    pub fn health(&self) -> JournalHealth {
        self.journal.health()
    }

    /// The intent journal itself (stats, test hooks).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A `begin` waiting for its append. Until it knows its id it holds the checkpoint at or
/// below `floor`; dropped without an id (failed or cancelled), it stops holding it.
struct InFlight {
    state: Arc<Mutex<State>>,
    floor: Seq,
}

impl InFlight {
    fn register(state: Arc<Mutex<State>>, floor: Seq) -> InFlight {
        *state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_flight
            .entry(floor)
            .or_default() += 1;
        InFlight { state, floor }
    }

    /// The append resolved with `id`: the intent is now unfinished, in the same step.
    fn became(self, id: IntentId) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        debug_assert!(id > self.floor);
        state.unfinished.insert(id);
        drop(state);
        // Drop removes the in-flight mark; the id is already in `unfinished`.
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = state.in_flight.get_mut(&self.floor) {
            *count -= 1;
            if *count == 0 {
                state.in_flight.remove(&self.floor);
            }
        }
    }
}

/// Splits an intent entry into `after_seq` and the caller's payload.
fn decode_intent(entry: &[u8]) -> Result<(Seq, &[u8]), String> {
    let Some((&version, rest)) = entry.split_first() else {
        return Err("the entry is empty".into());
    };
    if version != INTENT_VERSION {
        return Err(format!(
            "unsupported intent format version {version}, expected version {INTENT_VERSION}"
        ));
    }
    let Some((after_seq, payload)) = rest.split_first_chunk::<8>() else {
        return Err(format!(
            "the entry is {} bytes long, shorter than the {INTENT_HEADER_LEN}-byte intent header",
            entry.len()
        ));
    };
    Ok((Seq::from_le_bytes(*after_seq), payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intent_entries_decode_and_reject_damage() {
        let mut entry = vec![INTENT_VERSION];
        entry.extend_from_slice(&42u64.to_le_bytes());
        entry.extend_from_slice(b"event");
        assert_eq!(decode_intent(&entry), Ok((42, &b"event"[..])));
        assert!(decode_intent(&[]).is_err());
        assert!(decode_intent(&entry[..5]).is_err());
        entry[0] = 2;
        assert!(
            decode_intent(&entry)
                .is_err_and(|reason| reason.contains("unsupported intent format version 2"))
        );
    }
}
