//! Integration tests of the journal: appending and reading, recovery from torn and corrupt
//! segments, failing writes and full disks, cursors and retention, the intent log, and a
//! proptest model.

mod basic;
mod cursors;
mod faults;
mod intents;
mod model;
mod recovery;

use std::path::{Path, PathBuf};

use opentrail_journal::{Journal, JournalConfig, PersistMode};

/// A config in `dir` with the given segment size, not fsyncing (these tests do not cut power),
/// and without an admission reserve, so that segment files hold exactly what was appended
/// (no room is allocated ahead in the first segment).
pub fn config(dir: &Path, segment_bytes: u64) -> JournalConfig {
    JournalConfig::new(dir)
        .with_segment_bytes(segment_bytes)
        .with_persist(PersistMode::Buffer)
        .with_reserve_bytes(0)
}

pub fn open(dir: &Path, segment_bytes: u64) -> Journal {
    Journal::open(config(dir, segment_bytes)).expect("journal opens")
}

/// The payload tests store as entry `seq`.
pub fn payload(seq: u64, len: usize) -> Vec<u8> {
    let mut payload = format!("entry-{seq}-").into_bytes();
    payload.resize(len.max(payload.len()), b'a' + (seq % 26) as u8);
    payload
}

/// Segment files of a journal, oldest first.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs_err::read_dir(dir.join("segments"))
        .expect("segments dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    files.sort();
    files
}

/// Every entry's seq and payload, checking they are contiguous from `first`.
pub fn read_all(journal: &Journal, first: u64) -> Vec<(u64, Vec<u8>)> {
    let entries = journal
        .read_from(first.saturating_sub(1), usize::MAX)
        .expect("read_from");
    for (position, entry) in entries.iter().enumerate() {
        assert_eq!(entry.seq, first + position as u64, "seqs are contiguous");
    }
    entries.into_iter().map(|e| (e.seq, e.payload)).collect()
}
