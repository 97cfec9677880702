//! What a journal is configured with, and its sequence numbers: [`Seq`], [`PersistMode`],
//! [`JournalConfig`].

use std::path::PathBuf;

/// A sequence number. The first entry is 1; 0 means "nothing".
pub type Seq = u64;

/// Which writes survive what (fjall style). Appends are acknowledged after the chosen step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PersistMode {
    /// Written to the OS only: survives a process crash, not a power loss. Nothing is fsynced,
    /// not even cursors or new segments. For tests and benchmarks.
    Buffer,
    /// `fdatasync` after every group: survives power loss (the default).
    #[default]
    SyncData,
    /// `fsync` after every group: also flushes file metadata such as times.
    SyncAll,
}

/// Where and how a journal stores its data.
#[derive(Clone, Debug)]
pub struct JournalConfig {
    /// The journal's directory; `segments/` and `cursors/` are created inside.
    pub dir: PathBuf,
    /// A segment rolls over once it holds this many bytes (default 64 MiB).
    pub segment_bytes: u64,
    /// Durability of appends and cursor commits (default [`PersistMode::SyncData`]).
    pub persist: PersistMode,
    /// [`Journal::admission`](crate::Journal::admission) refuses while the active segment has less than this many
    /// preallocated bytes left and the next segment is not prepared (default 4 MiB). Make it
    /// at least the bytes of the records that the calls admitted at once may append.
    pub reserve_bytes: u64,
}

impl JournalConfig {
    /// The default segment size, 64 MiB.
    pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
    /// The default admission reserve, 4 MiB.
    pub const DEFAULT_RESERVE_BYTES: u64 = 4 * 1024 * 1024;

    /// A configuration with the defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JournalConfig {
            dir: dir.into(),
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
            persist: PersistMode::default(),
            reserve_bytes: Self::DEFAULT_RESERVE_BYTES,
        }
    }

    /// Sets [`Self::segment_bytes`].
    pub fn with_segment_bytes(mut self, segment_bytes: u64) -> Self {
        self.segment_bytes = segment_bytes;
        self
    }

    /// Sets [`Self::persist`].
    pub fn with_persist(mut self, persist: PersistMode) -> Self {
        self.persist = persist;
        self
    }

    /// Sets [`Self::reserve_bytes`]. 0 turns the reserve off: admission then only checks that
    /// appends work, and a segment that was not preallocated gets no room allocated ahead.
    pub fn with_reserve_bytes(mut self, reserve_bytes: u64) -> Self {
        self.reserve_bytes = reserve_bytes;
        self
    }
}
