//! The state every journal handle, cursor and the writer thread share.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use crate::config::{JournalConfig, Seq};
use crate::segment::Segment;

/// Faults tests inject (see the `inject_*` methods of [`Journal`](crate::Journal)).
#[derive(Default)]
pub(crate) struct Faults {
    /// The writer's next sync fails.
    pub fail_next_sync: AtomicBool,
    /// The file system is full: writes that need new blocks fail, allocated blocks can still
    /// be overwritten.
    pub no_space: AtomicBool,
    /// Preparing or creating a segment file fails for lack of space.
    pub new_segments_no_space: AtomicBool,
}

/// State shared by every handle, the cursors and the writer thread.
pub(crate) struct Shared {
    pub config: JournalConfig,
    pub segments_dir: PathBuf,
    pub cursors_dir: PathBuf,
    /// Kept segments, oldest first; the last one is the writer's.
    pub segments: RwLock<Vec<Arc<Segment>>>,
    /// Highest durable seq.
    pub last_seq: AtomicU64,
    pub last_seq_tx: watch::Sender<Seq>,
    /// Set while a failed write is being repaired (the writer owns it).
    pub unavailable: AtomicBool,
    /// Why the journal is unavailable (or poisoned).
    pub unavailable_reason: Mutex<Option<String>>,
    /// Set when acknowledged bytes were found missing: appends are refused until reopening.
    pub poisoned: AtomicBool,
    /// Preallocated bytes left after the acknowledged frames of the active segment.
    pub room: AtomicU64,
    /// Whether a prepared (preallocated) next segment file is waiting.
    pub next_prepared: AtomicBool,
    /// Why the last preparation of a next segment failed, until one succeeds.
    pub prepare_error: Mutex<Option<String>>,
    pub appends: AtomicU64,
    pub groups: AtomicU64,
    pub fsyncs: AtomicU64,
    /// Serializes cursor file writes with retention.
    pub cursor_lock: Mutex<()>,
    pub faults: Faults,
}
