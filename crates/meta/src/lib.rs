//! The metadata store: trails, buckets, tags, credentials and every other piece of control-plane
//! state, in one embedded transactional database in the data directory.
//!
//! # Layout
//! - [`Meta`]: open the store, read, write and list typed values by `(table, key)`, or a key
//!   window of a table ([`Meta::range`]).
//! - [`Txn`]: a write transaction; everything written in one closure commits atomically and
//!   durably (fsync'd before [`Meta::write`] returns).
//!
//! # On-disk design
//! One redb file, `meta.redb`, with a single table `entries` whose keys are
//! `"<table>\u{0}<key>"` and whose values are JSON. The table `_meta` holds `format_version`;
//! opening a store written by a newer version is refused. redb is copy-on-write with a
//! two-phase commit, so a crash leaves either the old or the new state, never a mix.
//!
//! # I/O failures
//! After a read or write of the file fails (a full disk), redb refuses every later call until
//! the database is reopened. [`Meta`] does that by itself: the call that failed answers
//! [`MetaError::Io`], the database is closed, and the next call reopens it (redb recovers the
//! last committed state), so the store works again as soon as the file system does.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
/// The format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const VERSION_KEY: &str = "_meta\u{0}format_version";

/// Failures of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata store: {0}")]
    Storage(String),
    /// A read or write of the file failed; the store reopens itself on the next call.
    #[error("metadata store i/o: {0}")]
    Io(String),
    #[error("metadata value {key:?} is not valid: {source}")]
    Decode {
        key: String,
        source: serde_json::Error,
    },
    #[error(
        "metadata store format version {found} is newer than this build supports ({supported})"
    )]
    UnsupportedVersion { found: u32, supported: u32 },
}

impl From<redb::StorageError> for MetaError {
    fn from(err: redb::StorageError) -> Self {
        match err {
            redb::StorageError::Io(_) | redb::StorageError::PreviousIo => {
                MetaError::Io(err.to_string())
            }
            other => MetaError::Storage(other.to_string()),
        }
    }
}

macro_rules! storage_error {
    ($($ty:ident),*) => {$(
        impl From<redb::$ty> for MetaError {
            fn from(err: redb::$ty) -> Self {
                match err {
                    redb::$ty::Storage(storage) => storage.into(),
                    other => MetaError::Storage(other.to_string()),
                }
            }
        }
    )*};
}
storage_error!(DatabaseError, TransactionError, TableError, CommitError);

/// The embedded metadata store. Cheap to share behind an `Arc`.
pub struct Meta {
    path: PathBuf,
    /// `None` after an I/O error closed it, until the next call reopens it.
    db: RwLock<Option<Arc<Database>>>,
}

fn full_key(table: &str, key: &str) -> String {
    debug_assert!(!table.contains('\u{0}'));
    format!("{table}\u{0}{key}")
}

impl Meta {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Meta, MetaError> {
        fs_err::create_dir_all(dir).map_err(|err| MetaError::Storage(err.to_string()))?;
        let path = dir.join("meta.redb");
        let db = Database::create(&path)?;
        let meta = Meta {
            path,
            db: RwLock::new(Some(Arc::new(db))),
        };
        let found: Option<u32> = meta.get_raw(VERSION_KEY)?;
        match found {
            Some(version) if version > FORMAT_VERSION => {
                return Err(MetaError::UnsupportedVersion {
                    found: version,
                    supported: FORMAT_VERSION,
                });
            }
            Some(_) => {}
            None => meta.write(|txn| txn.put_raw(VERSION_KEY, &FORMAT_VERSION))?,
        }
        Ok(meta)
    }

    /// The open database, reopened first when an I/O error closed it.
    fn database(&self) -> Result<Arc<Database>, MetaError> {
        if let Some(db) = self
            .db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return Ok(db.clone());
        }
        let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(db) = slot.as_ref() {
            return Ok(db.clone());
        }
        let db = Arc::new(Database::create(&self.path)?);
        tracing::info!("metadata store reopened after an i/o error");
        *slot = Some(db.clone());
        Ok(db)
    }

    /// Closes `db` after an I/O error (redb refuses every call until it is reopened); the next
    /// call reopens it once the calls still holding it are done.
    fn close_after_io_error(&self, db: &Arc<Database>) {
        let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if slot
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, db))
        {
            tracing::warn!("metadata store i/o failed; it reopens on the next call");
            *slot = None;
        }
    }

    /// Runs a read against the open database.
    fn read<T>(
        &self,
        read: impl FnOnce(&Database) -> Result<T, MetaError>,
    ) -> Result<T, MetaError> {
        let db = self.database()?;
        let result = read(&db);
        if let Err(MetaError::Io(_)) = &result {
            self.close_after_io_error(&db);
        }
        result
    }

    fn get_raw<T: DeserializeOwned>(&self, full: &str) -> Result<Option<T>, MetaError> {
        self.read(|db| Self::get_in(db, full))
    }

    fn get_in<T: DeserializeOwned>(db: &Database, full: &str) -> Result<Option<T>, MetaError> {
        let txn = db.begin_read()?;
        let table = match txn.open_table(ENTRIES) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let Some(value) = table.get(full)? else {
            return Ok(None);
        };
        decode(full, value.value()).map(Some)
    }

    /// Reads one value.
    pub fn get<T: DeserializeOwned>(&self, table: &str, key: &str) -> Result<Option<T>, MetaError> {
        self.get_raw(&full_key(table, key))
    }

    /// Lists the values of `table` whose keys start with `prefix`, in key order.
    pub fn list<T: DeserializeOwned>(
        &self,
        table: &str,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, MetaError> {
        self.read(|db| {
            let txn = db.begin_read()?;
            let entries = match txn.open_table(ENTRIES) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(err) => return Err(err.into()),
            };
            let start = full_key(table, prefix);
            let mut out = Vec::new();
            for item in entries.range(start.as_str()..)? {
                let (key, value) = item?;
                let key = key.value();
                if !key.starts_with(&start) {
                    break;
                }
                let short = key[table.len() + 1..].to_owned();
                out.push((short, decode(key, value.value())?));
            }
            Ok(out)
        })
    }

    /// Lists at most `limit` values of `table` whose keys lie in `from..to`, in key order (a
    /// window of a prefix kept ordered by its keys, such as a time index).
    pub fn range<T: DeserializeOwned>(
        &self,
        table: &str,
        from: &str,
        to: &str,
        limit: usize,
    ) -> Result<Vec<(String, T)>, MetaError> {
        self.read(|db| {
            let txn = db.begin_read()?;
            let entries = match txn.open_table(ENTRIES) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(err) => return Err(err.into()),
            };
            let start = full_key(table, from);
            let end = full_key(table, to);
            let mut out = Vec::new();
            if start >= end {
                return Ok(out);
            }
            for item in entries.range(start.as_str()..end.as_str())?.take(limit) {
                let (key, value) = item?;
                let key = key.value();
                out.push((
                    key[table.len() + 1..].to_owned(),
                    decode(key, value.value())?,
                ));
            }
            Ok(out)
        })
    }

    /// Writes one value durably.
    pub fn put<T: Serialize>(&self, table: &str, key: &str, value: &T) -> Result<(), MetaError> {
        self.write(|txn| txn.put(table, key, value))
    }

    /// Deletes one value durably; returns whether it existed.
    pub fn delete(&self, table: &str, key: &str) -> Result<bool, MetaError> {
        self.write(|txn| txn.delete(table, key))
    }

    /// Runs `f` in one write transaction and commits it durably. When `f` fails nothing of what
    /// it wrote is kept.
    pub fn write<R, E>(&self, f: impl FnOnce(&mut Txn<'_>) -> Result<R, E>) -> Result<R, E>
    where
        E: From<MetaError>,
    {
        let db = self.database()?;
        let io_failed = Cell::new(false);
        let result = Self::write_in(&db, &io_failed, f);
        if io_failed.get() {
            self.close_after_io_error(&db);
        }
        result
    }

    fn write_in<R, E>(
        db: &Database,
        io_failed: &Cell<bool>,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<MetaError>,
    {
        let txn = db
            .begin_write()
            .map_err(|err| note(io_failed, err.into()))?;
        let result = {
            let table = txn
                .open_table(ENTRIES)
                .map_err(|err| note(io_failed, err.into()))?;
            let mut wrapped = Txn { table, io_failed };
            f(&mut wrapped)
        };
        match result {
            Ok(value) => {
                txn.commit().map_err(|err| note(io_failed, err.into()))?;
                Ok(value)
            }
            Err(err) => {
                if let Err(abort) = txn.abort() {
                    tracing::warn!(error = %abort, "metadata transaction abort failed");
                }
                Err(err)
            }
        }
    }

    /// Removes every entry except the format version (the development reset).
    pub fn clear(&self) -> Result<(), MetaError> {
        self.write(|txn| {
            let keys: Vec<String> = txn
                .checked(txn.table.iter())?
                .filter_map(|item| item.ok().map(|(key, _)| key.value().to_owned()))
                .filter(|key| key != VERSION_KEY)
                .collect();
            for key in keys {
                let removed = txn.table.remove(key.as_str()).map(|_| ());
                txn.checked(removed)?;
            }
            Ok(())
        })
    }
}

/// Notes an I/O error of a write transaction in `io_failed`.
fn note(io_failed: &Cell<bool>, err: MetaError) -> MetaError {
    if matches!(err, MetaError::Io(_)) {
        io_failed.set(true);
    }
    err
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, MetaError> {
    serde_json::from_slice(bytes).map_err(|source| MetaError::Decode {
        key: key.replace('\u{0}', "/"),
        source,
    })
}

/// A write transaction of [`Meta::write`].
pub struct Txn<'a> {
    table: redb::Table<'a, &'static str, &'static [u8]>,
    io_failed: &'a Cell<bool>,
}

impl Txn<'_> {
    /// `result` with its error as a [`MetaError`], an I/O error noted for [`Meta::write`].
    fn checked<T, X: Into<MetaError>>(&self, result: Result<T, X>) -> Result<T, MetaError> {
        result.map_err(|err| note(self.io_failed, err.into()))
    }

    fn put_raw<T: Serialize>(&mut self, full: &str, value: &T) -> Result<(), MetaError> {
        let bytes = serde_json::to_vec(value).map_err(|err| MetaError::Storage(err.to_string()))?;
        let inserted = self.table.insert(full, bytes.as_slice()).map(|_| ());
        self.checked(inserted)?;
        Ok(())
    }

    pub fn get<T: DeserializeOwned>(&self, table: &str, key: &str) -> Result<Option<T>, MetaError> {
        let full = full_key(table, key);
        let Some(value) = self.checked(self.table.get(full.as_str()))? else {
            return Ok(None);
        };
        decode(&full, value.value()).map(Some)
    }

    pub fn put<T: Serialize>(
        &mut self,
        table: &str,
        key: &str,
        value: &T,
    ) -> Result<(), MetaError> {
        self.put_raw(&full_key(table, key), value)
    }

    pub fn delete(&mut self, table: &str, key: &str) -> Result<bool, MetaError> {
        let removed = self
            .table
            .remove(full_key(table, key).as_str())
            .map(|old| old.is_some());
        self.checked(removed)
    }

    pub fn list<T: DeserializeOwned>(
        &self,
        table: &str,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, MetaError> {
        let start = full_key(table, prefix);
        let mut out = Vec::new();
        for item in self.checked(self.table.range(start.as_str()..))? {
            let (key, value) = self.checked(item)?;
            let key = key.value();
            if !key.starts_with(&start) {
                break;
            }
            out.push((
                key[table.len() + 1..].to_owned(),
                decode(key, value.value())?,
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_list_delete_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let meta = Meta::open(dir.path()).expect("open");
            meta.put("trails", "a", &"one").expect("put");
            meta.put("trails", "b", &"two").expect("put");
            meta.put("buckets", "a", &"bucket").expect("put");
            assert!(meta.delete("trails", "b").expect("delete"));
            assert!(!meta.delete("trails", "b").expect("delete again"));
        }
        let meta = Meta::open(dir.path()).expect("reopen");
        let trails: Vec<(String, String)> = meta.list("trails", "").expect("list");
        assert_eq!(trails, vec![("a".to_owned(), "one".to_owned())]);
        assert_eq!(
            meta.get::<String>("buckets", "a").expect("get").as_deref(),
            Some("bucket")
        );
    }

    #[test]
    fn failed_transaction_keeps_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Meta::open(dir.path()).expect("open");
        let result: Result<(), MetaError> = meta.write(|txn| {
            txn.put("t", "k", &1)?;
            Err(MetaError::Storage("stop".into()))
        });
        assert!(result.is_err());
        assert_eq!(meta.get::<i32>("t", "k").expect("get"), None);
    }

    #[test]
    fn ranges_are_half_open_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Meta::open(dir.path()).expect("open");
        for key in ["a/1", "a/2", "a/3", "b/1"] {
            meta.put("t", key, &key).expect("put");
        }
        let keys = |from: &str, to: &str, limit: usize| -> Vec<String> {
            meta.range::<String>("t", from, to, limit)
                .expect("range")
                .into_iter()
                .map(|(key, _)| key)
                .collect()
        };
        assert_eq!(keys("a/", "a/3", 10), vec!["a/1", "a/2"]);
        assert_eq!(keys("a/2", "b/", 10), vec!["a/2", "a/3"]);
        assert_eq!(keys("a/", "c", 1), vec!["a/1"]);
        assert!(keys("b", "a", 10).is_empty());
    }

    #[test]
    fn newer_format_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let meta = Meta::open(dir.path()).expect("open");
            meta.write(|txn| txn.put_raw(VERSION_KEY, &(FORMAT_VERSION + 1)))
                .expect("write");
        }
        assert!(matches!(
            Meta::open(dir.path()),
            Err(MetaError::UnsupportedVersion { .. })
        ));
    }

    #[test]
    fn clear_keeps_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Meta::open(dir.path()).expect("open");
        meta.put("t", "k", &1).expect("put");
        meta.clear().expect("clear");
        assert_eq!(meta.get::<i32>("t", "k").expect("get"), None);
        drop(meta);
        assert!(Meta::open(dir.path()).is_ok());
    }
}
