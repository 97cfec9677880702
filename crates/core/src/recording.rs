//! [`Recording`]: what the server needs so that no call takes effect without its record —
//! the intent log, the records the journal has not taken yet, and the intents a crash left.
//! The mechanism is described in the server's `intents` module.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

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
    disk: DiskHeadroom,
}

/// How long a free-space reading of the data directory is trusted.
const DISK_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Whether the data directory's file system keeps the headroom free: every store writes
/// there, and one that runs out of space in the middle of a call fails it after it may have
/// acted. Read at most every [`DISK_CHECK_INTERVAL`].
struct DiskHeadroom {
    dir: PathBuf,
    headroom: u64,
    last: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl DiskHeadroom {
    fn check(&self) -> Result<(), String> {
        if self.headroom == 0 {
            return Ok(());
        }
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, verdict)) = last.as_ref()
            && at.elapsed() < DISK_CHECK_INTERVAL
        {
            return verdict.clone();
        }
        let verdict = match rustix::fs::statvfs(&self.dir) {
            Ok(stats) => {
                let free = stats.f_bavail.saturating_mul(stats.f_frsize);
                if free < self.headroom {
                    Err(format!(
                        "the data directory's file system has {free} bytes free, less than the \
                         {} bytes of headroom calls need (OPENTRAIL_DISK_HEADROOM_BYTES)",
                        self.headroom
                    ))
                } else {
                    Ok(())
                }
            }
            Err(err) => Err(format!(
                "the free space of {} cannot be read: {err}",
                self.dir.display()
            )),
        };
        *last = Some((Instant::now(), verdict.clone()));
        verdict
    }
}

impl Recording {
    /// Opens the intent log in `dir` (`<data>/journal-intents`); the intents it cannot prove
    /// finished wait in [`Recording::take_recovered`]. Calls are admitted while the file
    /// system of `data_dir` keeps `disk_headroom` bytes free (0: not checked).
    pub fn open(
        dir: PathBuf,
        data_dir: PathBuf,
        disk_headroom: u64,
    ) -> Result<Recording, JournalError> {
        let (intents, recovered) = IntentLog::open(JournalConfig::new(dir))?;
        Ok(Recording {
            intents,
            unrecorded: Mutex::default(),
            recovered: Mutex::new(recovered),
            disk: DiskHeadroom {
                dir: data_dir,
                headroom: disk_headroom,
                last: Mutex::new(None),
            },
        })
    }

    /// Whether a call may be admitted: the journal and the intent log can take writes, the
    /// data directory keeps its headroom free, and no record is waiting; `Err` says why not.
    pub fn admission(&self, journal: &Journal) -> Result<(), String> {
        self.disk.check()?;
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
