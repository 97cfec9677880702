//! [`History`]: the event-history index as the server holds it, reopened by itself after the
//! file system failed it.
//!
//! fjall poisons a database whose journal write or flush failed (a full disk): every later
//! write answers `Poisoned` until the database is reopened. [`History`] holds the open
//! [`Index`] and closes it when a call fails that way; the next call reopens it from its
//! directory (fjall recovers what was durable, the history worker replays the journal after
//! [`History::applied_seq`]), so indexing and lookups work again once space returns. A reopen
//! waits until the calls still holding the failed index are done (fjall's lock file).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::error::HistoryError;
use crate::query::{LookupPage, LookupQuery};
use crate::store::{HistoryConfig, Index, IndexStats};

/// The event-history index behind LookupEvents. See the crate docs for the layout.
pub struct History {
    path: PathBuf,
    config: HistoryConfig,
    /// `None` after a storage failure closed it, until the next call reopens it.
    index: RwLock<Option<Arc<Index>>>,
    /// What the last open index reported, for while it is closed.
    applied_seq: AtomicU64,
    len: AtomicU64,
}

impl History {
    /// Opens (or creates) the index in `dir`.
    pub fn open(dir: &Path, config: HistoryConfig) -> Result<History, HistoryError> {
        let index = Index::open(dir, config)?;
        Ok(History {
            path: dir.to_owned(),
            config,
            applied_seq: AtomicU64::new(index.applied_seq()),
            len: AtomicU64::new(index.len()),
            index: RwLock::new(Some(Arc::new(index))),
        })
    }

    /// The directory this index lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The highest journal sequence number whose entry has been applied; replay after it.
    pub fn applied_seq(&self) -> u64 {
        match self.current() {
            Some(index) => index.applied_seq(),
            None => self.applied_seq.load(Ordering::Acquire),
        }
    }

    /// Records indexed and not yet removed by retention.
    pub fn len(&self) -> u64 {
        match self.current() {
            Some(index) => index.len(),
            None => self.len.load(Ordering::Acquire),
        }
    }

    /// Whether no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Indexes journal entries (see [`Index::index`]).
    pub fn index(&self, entries: &[(u64, &[u8])]) -> Result<IndexStats, HistoryError> {
        self.with(|index| index.index(entries))
    }

    /// One page of LookupEvents.
    pub fn lookup(&self, query: &LookupQuery) -> Result<LookupPage, HistoryError> {
        self.with(|index| index.lookup(query))
    }

    /// [`History::lookup`] as if the wall clock read `now_ms` (for retention).
    pub fn lookup_at(&self, query: &LookupQuery, now_ms: i64) -> Result<LookupPage, HistoryError> {
        self.with(|index| index.lookup_at(query, now_ms))
    }

    /// Removes what the retention no longer keeps; returns how many records went.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<u64, HistoryError> {
        self.with(|index| index.enforce_retention(now_ms))
    }

    /// Removes every record (the development reset); indexing resumes after `applied_seq`.
    pub fn clear(&self, applied_seq: u64) -> Result<(), HistoryError> {
        self.with(|index| index.clear(applied_seq))
    }

    /// Makes everything indexed so far durable.
    pub fn flush(&self) -> Result<(), HistoryError> {
        self.with(|index| index.flush())
    }

    fn current(&self) -> Option<Arc<Index>> {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `call` on the open index (reopened first when a failure closed it), and closes
    /// the index when the call failed in a way only a reopen cures.
    fn with<T>(
        &self,
        call: impl FnOnce(&Index) -> Result<T, HistoryError>,
    ) -> Result<T, HistoryError> {
        let index = match self.current() {
            Some(index) => index,
            None => self.reopen()?,
        };
        let result = call(&index);
        self.applied_seq
            .store(index.applied_seq(), Ordering::Release);
        self.len.store(index.len(), Ordering::Release);
        if let Err(err) = &result
            && err.needs_reopen()
        {
            let mut slot = self.index.write().unwrap_or_else(PoisonError::into_inner);
            if slot.as_ref().is_some_and(|open| Arc::ptr_eq(open, &index)) {
                tracing::warn!(error = %err, "history index failed; it reopens on the next call");
                *slot = None;
            }
        }
        result
    }

    fn reopen(&self) -> Result<Arc<Index>, HistoryError> {
        let mut slot = self.index.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = slot.as_ref() {
            return Ok(index.clone());
        }
        let index = Arc::new(Index::open(&self.path, self.config)?);
        tracing::info!(path = %self.path.display(), "history index reopened");
        *slot = Some(index.clone());
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<History>();
    }
}
