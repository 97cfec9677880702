//! [`Recording`]: what the server needs so that no call takes effect without its record —
//! the intent log, the records the journal has not taken yet, and the intents a crash left.
//! The mechanism is described in the server's `intents` module.

use std::sync::{Mutex, PoisonError};

use opentrail_journal::{IntentId, IntentLog, Journal, JournalConfig, JournalError, PendingIntent};

/// A record whose call took effect but whose append failed; it waits for the journal.
#[derive(Debug)]
pub struct Unrecorded {
    pub payload: Vec<u8>,
    /// The call's intent, finished once the record is durable.
    pub intent: Option<IntentId>,
}

/// The intent log and the records waiting to be written.
pub struct Recording {
    pub intents: IntentLog,
    unrecorded: Mutex<Vec<Unrecorded>>,
    recovered: Mutex<Vec<PendingIntent>>,
}

impl Recording {
    /// Opens the intent log in `dir` (`<data>/journal-intents`); the intents it cannot prove
    /// finished wait in [`Recording::take_recovered`].
    pub fn open(dir: std::path::PathBuf) -> Result<Recording, JournalError> {
        let (intents, recovered) = IntentLog::open(JournalConfig::new(dir))?;
        Ok(Recording {
            intents,
            unrecorded: Mutex::default(),
            recovered: Mutex::new(recovered),
        })
    }

    /// Whether a call may be admitted: the journal and the intent log can take writes, and no
    /// record is waiting; `Err` says why not.
    pub fn admission(&self, journal: &Journal) -> Result<(), String> {
        journal
            .admission()
            .map_err(|err| format!("the journal cannot record calls: {err}"))?;
        self.intents
            .admission()
            .map_err(|err| format!("the intent log cannot take writes: {err}"))?;
        let waiting = self.lock().len();
        if waiting > 0 {
            return Err(format!(
                "{waiting} records of calls that took effect wait for the journal"
            ));
        }
        Ok(())
    }

    /// Keeps a record the journal did not take.
    pub fn keep(&self, unrecorded: Unrecorded) {
        self.lock().push(unrecorded);
    }

    /// Takes every waiting record, oldest first.
    pub fn take_unrecorded(&self) -> Vec<Unrecorded> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts records that still could not be written back in front of newer ones.
    pub fn put_back(&self, mut left: Vec<Unrecorded>) {
        if left.is_empty() {
            return;
        }
        let mut waiting = self.lock();
        left.append(&mut waiting);
        *waiting = left;
    }

    /// The intents a crash left, once (recovery writes their records).
    pub fn take_recovered(&self) -> Vec<PendingIntent> {
        std::mem::take(
            &mut *self
                .recovered
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Unrecorded>> {
        self.unrecorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
