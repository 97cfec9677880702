//! [`LocalStore`]: the embedded object store, one directory per bucket, one file per object.
//!
//! # On-disk format (version 1)
//!
//! ```text
//! <dir>/format.json                 {"format":"opentrail-objects","version":1}
//! <dir>/buckets/b-<name>/           one directory per bucket (name escaped as keys are)
//! <dir>/buckets/b-<name>/k-<key>    an object whose escaped key fits in a file name
//! <dir>/buckets/b-<name>/h-<sha256> an object with a long key: hex SHA-256 of the key
//! <dir>/buckets/b-<name>/.tmp-*     a write in progress (removed when the store opens)
//! ```
//!
//! **Key escaping.** `a-z`, `0-9`, `-`, `_` and `.` stay as they are; an upper-case ASCII
//! letter becomes `^` and its lower-case form; every other byte becomes `%` and two
//! lower-case hex digits. The escaped name never contains `/`, never is `.` or `..` (it has a
//! `k-` prefix), and two different keys never give names that differ only in letter case, so
//! the store is also safe on case-insensitive file systems. When the escaped key would be
//! longer than [`MAX_ESCAPED_NAME`] bytes, the file is named by the SHA-256 of the key instead,
//! and the key is read back from the file header.
//!
//! **Object file.** Each object is a single file:
//!
//! ```text
//! "OTOB"                 magic, 4 bytes
//! version                u16 little-endian (1)
//! header length          u32 little-endian
//! header                 JSON: key, size, etag, last_modified_ms, content attributes,
//!                        user metadata
//! data                   exactly `size` bytes
//! ```
//!
//! **Durability.** A put writes a temporary file in the bucket directory, fsyncs it, renames
//! it over the object's name and fsyncs the directory, so a reader (and a crash) sees the old
//! object or the new one, never a mix. Deletes unlink and fsync the directory.
//!
//! **Listing.** The store keeps the sorted key set of every bucket in memory (built from the
//! directory names when it opens, kept current by puts and deletes), so a listing by prefix
//! and start-after is a range scan; only the headers of the returned objects are read.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::store::{ByteRange, ObjectInfo, ObjectStore, PutOptions, StoreError};

/// The on-disk format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The longest escaped key kept as a file name; longer keys are stored under their hash.
pub const MAX_ESCAPED_NAME: usize = 240;
/// The longest key accepted, in bytes (the S3 limit).
pub const MAX_KEY_BYTES: usize = 1024;

const FORMAT_FILE: &str = "format.json";
const FORMAT_NAME: &str = "opentrail-objects";
const BUCKETS_DIR: &str = "buckets";
const MAGIC: &[u8; 4] = b"OTOB";
const OBJECT_VERSION: u16 = 1;
/// Magic, version and header length.
const PREAMBLE_LEN: u64 = 4 + 2 + 4;
/// Headers are small (attributes and up to a few KB of user metadata).
const MAX_HEADER_LEN: u32 = 1024 * 1024;
const TEMP_PREFIX: &str = ".tmp-";

#[derive(Serialize, Deserialize)]
struct FormatFile {
    format: String,
    version: u32,
}

/// The JSON header at the start of every object file.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct Header {
    key: String,
    size: u64,
    etag: String,
    last_modified_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_language: Option<String>,
    #[serde(default)]
    user_metadata: BTreeMap<String, String>,
}

impl Header {
    fn info(self) -> ObjectInfo {
        ObjectInfo {
            key: self.key,
            size: self.size,
            etag: self.etag,
            last_modified_ms: self.last_modified_ms,
            options: PutOptions {
                content_type: self.content_type,
                content_encoding: self.content_encoding,
                cache_control: self.cache_control,
                content_disposition: self.content_disposition,
                content_language: self.content_language,
                user_metadata: self.user_metadata,
                sse: None,
            },
        }
    }
}

/// Bucket name → (key → file name), every bucket's keys in byte order.
type Index = HashMap<String, BTreeMap<String, String>>;

/// The embedded, crash-safe object store in a directory.
pub struct LocalStore {
    buckets_dir: PathBuf,
    index: RwLock<Index>,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("buckets_dir", &self.buckets_dir)
            .finish_non_exhaustive()
    }
}

impl LocalStore {
    /// Opens (or creates) the store in `dir`: checks the format version, removes unfinished
    /// writes and loads every bucket's key set.
    pub fn open(dir: &Path) -> Result<LocalStore, StoreError> {
        fs_err::create_dir_all(dir)?;
        check_format(dir)?;
        let buckets_dir = dir.join(BUCKETS_DIR);
        fs_err::create_dir_all(&buckets_dir)?;
        let mut index = Index::new();
        for entry in fs_err::read_dir(&buckets_dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(bucket) = name.to_str().and_then(|name| name.strip_prefix("b-")) else {
                continue;
            };
            let Some(bucket) = unescape(bucket) else {
                continue;
            };
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let keys = load_bucket(&entry.path())?;
            index.insert(bucket, keys);
        }
        Ok(LocalStore {
            buckets_dir,
            index: RwLock::new(index),
        })
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.buckets_dir.join(format!("b-{}", escape(bucket)))
    }

    fn read_index(&self) -> RwLockReadGuard<'_, Index> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters more than the panic itself; keep serving.
        self.index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_index(&self) -> RwLockWriteGuard<'_, Index> {
        self.index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Up to `limit` `(key, file name)` pairs of `bucket` after `start_after` with `prefix`.
    fn select(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let index = self.read_index();
        let Some(keys) = index.get(bucket) else {
            return Err(StoreError::NoSuchBucket(bucket.to_owned()));
        };
        let lower = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        Ok(keys
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(limit)
            .map(|(key, file)| (key.clone(), file.clone()))
            .collect())
    }

    /// The file of `key` when the bucket exists.
    fn object_path(&self, bucket: &str, key: &str) -> Result<PathBuf, StoreError> {
        if !self.read_index().contains_key(bucket) {
            return Err(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        Ok(self.bucket_dir(bucket).join(object_file_name(key)))
    }

    fn read_header_of(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(fs_err::File, Header), StoreError> {
        let path = self.object_path(bucket, key)?;
        let no_such_key = || StoreError::NoSuchKey {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        };
        let mut file = match fs_err::File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(no_such_key()),
            Err(err) => return Err(err.into()),
        };
        let header = read_header(&mut file, &path)?;
        if header.key != key {
            // Only possible for hashed names, and only with a SHA-256 collision.
            return Err(no_such_key());
        }
        Ok((file, header))
    }
}

fn check_format(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join(FORMAT_FILE);
    match fs_err::read(&path) {
        Ok(bytes) => {
            let format: FormatFile = serde_json::from_slice(&bytes).map_err(|err| {
                StoreError::Other(format!("{} is not valid: {err}", path.display()))
            })?;
            if format.format != FORMAT_NAME {
                return Err(StoreError::Other(format!(
                    "{} names format {:?}, expected {FORMAT_NAME:?}",
                    path.display(),
                    format.format
                )));
            }
            if format.version > FORMAT_VERSION {
                return Err(StoreError::Other(format!(
                    "object store format version {} is newer than this build supports ({FORMAT_VERSION})",
                    format.version
                )));
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let format = FormatFile {
                format: FORMAT_NAME.to_owned(),
                version: FORMAT_VERSION,
            };
            let bytes = serde_json::to_vec(&format)
                .map_err(|err| StoreError::Other(format!("format file: {err}")))?;
            write_atomic(dir, &path, &[&bytes])
        }
        Err(err) => Err(err.into()),
    }
}

/// Scans one bucket directory: removes unfinished writes, returns key → file name.
fn load_bucket(dir: &Path) -> Result<BTreeMap<String, String>, StoreError> {
    let mut keys = BTreeMap::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with(TEMP_PREFIX) {
            fs_err::remove_file(entry.path())?;
            continue;
        }
        if let Some(escaped) = name.strip_prefix("k-") {
            if let Some(key) = unescape(escaped) {
                keys.insert(key, name);
            }
        } else if name.starts_with("h-") {
            let path = entry.path();
            let mut file = fs_err::File::open(&path)?;
            let header = read_header(&mut file, &path)?;
            keys.insert(header.key, name);
        }
    }
    Ok(keys)
}

/// Escapes a key or bucket name into a file-name-safe, case-insensitively unique string.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(char::from(byte)),
            b'A'..=b'Z' => {
                out.push('^');
                out.push(char::from(byte.to_ascii_lowercase()));
            }
            _ => {
                out.push('%');
                out.push_str(&hex::encode([byte]));
            }
        }
    }
    out
}

/// The inverse of [`escape`]; `None` for names this store did not write.
fn unescape(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'^' => {
                let letter = *bytes.get(at + 1)?;
                if !letter.is_ascii_lowercase() {
                    return None;
                }
                out.push(letter.to_ascii_uppercase());
                at += 2;
            }
            b'%' => {
                let digits = bytes.get(at + 1..at + 3)?;
                let decoded = hex::decode(digits).ok()?;
                out.extend_from_slice(&decoded);
                at += 3;
            }
            byte => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn object_file_name(key: &str) -> String {
    let escaped = escape(key);
    if escaped.len() + 2 <= MAX_ESCAPED_NAME {
        format!("k-{escaped}")
    } else {
        format!("h-{}", hex::encode(Sha256::digest(key.as_bytes())))
    }
}

fn validate_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidKey(
            "object keys must not be empty".to_owned(),
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::InvalidKey(format!(
            "object key is {} bytes long, at most {MAX_KEY_BYTES} are allowed",
            key.len()
        )));
    }
    Ok(())
}

fn corrupt(path: &Path, what: &str) -> StoreError {
    StoreError::Other(format!("object file {} is corrupt: {what}", path.display()))
}

fn read_header(file: &mut fs_err::File, path: &Path) -> Result<Header, StoreError> {
    let mut preamble = [0u8; PREAMBLE_LEN as usize];
    file.read_exact(&mut preamble)
        .map_err(|_| corrupt(path, "shorter than its preamble"))?;
    if &preamble[0..4] != MAGIC {
        return Err(corrupt(path, "bad magic"));
    }
    let version = u16::from_le_bytes([preamble[4], preamble[5]]);
    if version != OBJECT_VERSION {
        return Err(StoreError::Other(format!(
            "object file {} has format version {version}, this build reads {OBJECT_VERSION}",
            path.display()
        )));
    }
    let header_len = u32::from_le_bytes([preamble[6], preamble[7], preamble[8], preamble[9]]);
    if header_len > MAX_HEADER_LEN {
        return Err(corrupt(path, "header length out of range"));
    }
    let mut header_bytes = vec![0u8; header_len as usize];
    file.read_exact(&mut header_bytes)
        .map_err(|_| corrupt(path, "truncated header"))?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|err| corrupt(path, &format!("header is not valid: {err}")))?;
    let expected_len = PREAMBLE_LEN + u64::from(header_len) + header.size;
    let actual_len = file.metadata()?.len();
    if actual_len != expected_len {
        return Err(corrupt(
            path,
            &format!("{actual_len} bytes on disk, the header promises {expected_len}"),
        ));
    }
    Ok(header)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs_err::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Writes `parts` to a temporary file in `dir`, fsyncs it, renames it to `target` and fsyncs
/// `dir`.
fn write_atomic(dir: &Path, target: &Path, parts: &[&[u8]]) -> Result<(), StoreError> {
    let temp = write_temp(dir, parts)?;
    temp.persist(target)
        .map_err(|err| StoreError::Io(err.error))?;
    sync_dir(dir)
}

fn write_temp(dir: &Path, parts: &[&[u8]]) -> Result<tempfile::NamedTempFile, StoreError> {
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    for part in parts {
        temp.write_all(part)?;
    }
    temp.as_file().sync_all()?;
    Ok(temp)
}

fn now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

impl ObjectStore for LocalStore {
    fn create_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        if bucket.is_empty() {
            return Err(StoreError::InvalidKey(
                "bucket names must not be empty".to_owned(),
            ));
        }
        let mut index = self.write_index();
        if index.contains_key(bucket) {
            return Ok(());
        }
        fs_err::create_dir_all(self.bucket_dir(bucket))?;
        sync_dir(&self.buckets_dir)?;
        index.insert(bucket.to_owned(), BTreeMap::new());
        Ok(())
    }

    fn delete_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        let mut index = self.write_index();
        match index.get(bucket) {
            None => return Err(StoreError::NoSuchBucket(bucket.to_owned())),
            Some(keys) if !keys.is_empty() => {
                return Err(StoreError::BucketNotEmpty(bucket.to_owned()));
            }
            Some(_) => {}
        }
        // Only unfinished temporary files can remain in the directory.
        fs_err::remove_dir_all(self.bucket_dir(bucket))?;
        sync_dir(&self.buckets_dir)?;
        index.remove(bucket);
        Ok(())
    }

    fn put(
        &self,
        bucket: &str,
        key: &str,
        data: &[u8],
        options: &PutOptions,
    ) -> Result<ObjectInfo, StoreError> {
        validate_key(key)?;
        if !self.read_index().contains_key(bucket) {
            return Err(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let header = Header {
            key: key.to_owned(),
            size: data.len() as u64,
            etag: hex::encode(Md5::digest(data)),
            last_modified_ms: now_ms(),
            content_type: options.content_type.clone(),
            content_encoding: options.content_encoding.clone(),
            cache_control: options.cache_control.clone(),
            content_disposition: options.content_disposition.clone(),
            content_language: options.content_language.clone(),
            user_metadata: options.user_metadata.clone(),
        };
        let header_bytes = serde_json::to_vec(&header)
            .map_err(|err| StoreError::Other(format!("object header: {err}")))?;
        let header_len = u32::try_from(header_bytes.len())
            .ok()
            .filter(|len| *len <= MAX_HEADER_LEN)
            .ok_or_else(|| StoreError::Other("object attributes are too large".to_owned()))?;
        let mut preamble = Vec::with_capacity(PREAMBLE_LEN as usize);
        preamble.extend_from_slice(MAGIC);
        preamble.extend_from_slice(&OBJECT_VERSION.to_le_bytes());
        preamble.extend_from_slice(&header_len.to_le_bytes());

        let dir = self.bucket_dir(bucket);
        let file_name = object_file_name(key);
        // The slow part (writing and fsyncing the bytes) happens outside the lock.
        let temp = match write_temp(&dir, &[&preamble, &header_bytes, data]) {
            Ok(temp) => temp,
            Err(StoreError::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NoSuchBucket(bucket.to_owned()));
            }
            Err(err) => return Err(err),
        };
        {
            let mut index = self.write_index();
            let Some(keys) = index.get_mut(bucket) else {
                return Err(StoreError::NoSuchBucket(bucket.to_owned()));
            };
            temp.persist(dir.join(&file_name))
                .map_err(|err| StoreError::Io(err.error))?;
            keys.insert(key.to_owned(), file_name);
        }
        sync_dir(&dir)?;
        Ok(header.info())
    }

    fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<(ObjectInfo, Vec<u8>), StoreError> {
        let (mut file, header) = self.read_header_of(bucket, key)?;
        let (first, last) = match range {
            Some(range) => range.resolve(header.size)?,
            None if header.size == 0 => return Ok((header.info(), Vec::new())),
            None => (0, header.size - 1),
        };
        let data_start = file.stream_position()?;
        file.seek(SeekFrom::Start(data_start + first))?;
        let length = usize::try_from(last - first + 1)
            .map_err(|_| StoreError::Other("object range too large for memory".to_owned()))?;
        let mut data = vec![0u8; length];
        file.read_exact(&mut data)?;
        Ok((header.info(), data))
    }

    fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, StoreError> {
        self.read_header_of(bucket, key)
            .map(|(_, header)| header.info())
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        let dir = self.bucket_dir(bucket);
        let existed = {
            let mut index = self.write_index();
            let Some(keys) = index.get_mut(bucket) else {
                return Err(StoreError::NoSuchBucket(bucket.to_owned()));
            };
            let Some(file_name) = keys.get(key) else {
                return Ok(false);
            };
            match fs_err::remove_file(dir.join(file_name)) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err.into()),
            }
            keys.remove(key);
            true
        };
        sync_dir(&dir)?;
        Ok(existed)
    }

    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        let dir = self.bucket_dir(bucket);
        let selected = self.select(bucket, prefix, start_after, limit)?;
        let mut out = Vec::with_capacity(selected.len());
        for (key, file_name) in selected {
            let path = dir.join(&file_name);
            let mut file = match fs_err::File::open(&path) {
                Ok(file) => file,
                // Deleted since the index was read.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err.into()),
            };
            let header = read_header(&mut file, &path)?;
            debug_assert_eq!(header.key, key);
            out.push(header.info());
        }
        Ok(out)
    }

    fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.select(bucket, prefix, start_after, limit)
            .map(|selected| selected.into_iter().map(|(key, _)| key).collect())
    }

    fn clear(&self) -> Result<(), StoreError> {
        let mut index = self.write_index();
        fs_err::remove_dir_all(&self.buckets_dir)?;
        fs_err::create_dir_all(&self.buckets_dir)?;
        if let Some(parent) = self.buckets_dir.parent() {
            sync_dir(parent)?;
        }
        index.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(&dir.path().join("objects")).expect("open");
        (dir, store)
    }

    fn keys(infos: &[ObjectInfo]) -> Vec<&str> {
        infos.iter().map(|info| info.key.as_str()).collect()
    }

    #[test]
    fn put_get_head_delete_round_trip() {
        let (_dir, store) = store();
        store.create_bucket("logs").expect("create");
        let mut options = PutOptions {
            content_type: Some("application/json".into()),
            ..PutOptions::default()
        };
        options
            .user_metadata
            .insert("signature".into(), "abc".into());
        let put = store
            .put("logs", "a/b.json", b"hello", &options)
            .expect("put");
        assert_eq!(put.etag, "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(put.size, 5);

        let (info, data) = store.get("logs", "a/b.json", None).expect("get");
        assert_eq!(data, b"hello");
        assert_eq!(info, put);
        assert_eq!(store.head("logs", "a/b.json").expect("head"), put);

        assert!(store.delete("logs", "a/b.json").expect("delete"));
        assert!(!store.delete("logs", "a/b.json").expect("delete again"));
        assert!(matches!(
            store.get("logs", "a/b.json", None),
            Err(StoreError::NoSuchKey { .. })
        ));
        assert!(matches!(
            store.head("nope", "k"),
            Err(StoreError::NoSuchBucket(_))
        ));
        assert!(matches!(
            store.put("nope", "k", b"", &PutOptions::default()),
            Err(StoreError::NoSuchBucket(_))
        ));
    }

    #[test]
    fn empty_objects_and_ranges() {
        let (_dir, store) = store();
        store.create_bucket("b").expect("create");
        store
            .put("b", "empty", b"", &PutOptions::default())
            .expect("put");
        let (info, data) = store.get("b", "empty", None).expect("get");
        assert_eq!((info.size, data.len()), (0, 0));
        assert_eq!(info.etag, "d41d8cd98f00b204e9800998ecf8427e");
        assert!(matches!(
            store.get(
                "b",
                "empty",
                Some(ByteRange::FromTo {
                    start: 0,
                    end: None
                })
            ),
            Err(StoreError::InvalidRange { size: 0 })
        ));

        store
            .put("b", "digits", b"0123456789", &PutOptions::default())
            .expect("put");
        let read = |range| store.get("b", "digits", Some(range)).map(|(_, data)| data);
        assert_eq!(
            read(ByteRange::FromTo {
                start: 2,
                end: Some(4)
            })
            .expect("a-b"),
            b"234"
        );
        assert_eq!(
            read(ByteRange::FromTo {
                start: 7,
                end: None
            })
            .expect("a-"),
            b"789"
        );
        assert_eq!(
            read(ByteRange::FromTo {
                start: 8,
                end: Some(100)
            })
            .expect("clamped"),
            b"89"
        );
        assert_eq!(read(ByteRange::Suffix(3)).expect("-n"), b"789");
        assert_eq!(read(ByteRange::Suffix(50)).expect("-big"), b"0123456789");
        assert!(matches!(
            read(ByteRange::FromTo {
                start: 10,
                end: None
            }),
            Err(StoreError::InvalidRange { size: 10 })
        ));
        assert!(matches!(
            read(ByteRange::Suffix(0)),
            Err(StoreError::InvalidRange { .. })
        ));
    }

    #[test]
    fn list_orders_by_bytes_with_prefix_start_after_and_limit() {
        let (_dir, store) = store();
        store.create_bucket("b").expect("create");
        let all = ["a", "a/1", "a/2", "a/10", "b", "B", "é", "a b", "a+b", "z"];
        for key in all {
            store
                .put("b", key, key.as_bytes(), &PutOptions::default())
                .expect("put");
        }
        let listed = store.list("b", "", None, 100).expect("list");
        let mut expected: Vec<&str> = all.to_vec();
        expected.sort();
        assert_eq!(keys(&listed), expected);
        assert_eq!(keys(&listed)[..2], ["B", "a"]);

        let prefixed = store.list("b", "a/", None, 100).expect("list");
        assert_eq!(keys(&prefixed), ["a/1", "a/10", "a/2"]);
        let after = store.list("b", "a/", Some("a/1"), 100).expect("list");
        assert_eq!(keys(&after), ["a/10", "a/2"]);
        let limited = store.list("b", "a/", Some("a/"), 1).expect("list");
        assert_eq!(keys(&limited), ["a/1"]);
        // start_after before the prefix range starts at the prefix
        let before = store.list("b", "a/", Some("0"), 100).expect("list");
        assert_eq!(keys(&before), ["a/1", "a/10", "a/2"]);
        // start_after past the prefix range yields nothing
        assert!(
            store
                .list("b", "a/", Some("a0"), 100)
                .expect("list")
                .is_empty()
        );
        assert_eq!(listed[0].size, 1);
        let keys_only = store
            .list_keys("b", "a/", Some("a/1"), 1)
            .expect("list keys");
        assert_eq!(keys_only, ["a/10"]);
    }

    #[test]
    fn awkward_keys_map_to_safe_files() {
        let (dir, store) = store();
        store.create_bucket("b").expect("create");
        let long = "x/".repeat(512);
        let awkward = [
            "..",
            ".",
            "../../escape",
            "a/../../b",
            "/leading",
            "spaces in name",
            "ünïcødé/日本語",
            "%41",
            "^a",
            "A",
            "a",
            "tab\there\nnewline",
            long.as_str(),
        ];
        for key in awkward {
            store
                .put("b", key, key.as_bytes(), &PutOptions::default())
                .expect("put");
        }
        for key in awkward {
            let (info, data) = store.get("b", key, None).expect("get");
            assert_eq!(info.key, key);
            assert_eq!(data, key.as_bytes());
        }
        let listed = store.list("b", "", None, 100).expect("list");
        assert_eq!(listed.len(), awkward.len());
        // Nothing escaped the bucket directory.
        let mut names: Vec<String> = fs_err::read_dir(dir.path().join("objects"))
            .expect("read dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        assert_eq!(names, ["buckets", "format.json"]);
        let bucket_dir = dir.path().join("objects/buckets/b-b");
        let files = fs_err::read_dir(&bucket_dir).expect("read dir").count();
        assert_eq!(files, awkward.len());

        assert!(matches!(
            store.put("b", &"k".repeat(1025), b"", &PutOptions::default()),
            Err(StoreError::InvalidKey(_))
        ));
        assert!(
            store
                .put("b", &"k".repeat(1024), b"", &PutOptions::default())
                .is_ok()
        );
    }

    #[test]
    fn escape_round_trips_and_never_collides_by_case() {
        for key in ["", "A", "a", "^a", "%41", "Zz/..", "é", "\u{10FFFF}"] {
            let escaped = escape(key);
            assert_eq!(unescape(&escaped).as_deref(), Some(key));
            assert!(!escaped.contains('/'));
        }
        assert_ne!(escape("A").to_lowercase(), escape("a").to_lowercase());
        assert_ne!(escape("^a").to_lowercase(), escape("A").to_lowercase());
        assert_eq!(unescape("%zz"), None);
        assert_eq!(unescape("^A"), None);
    }

    #[test]
    fn overwrite_replaces_whole_object() {
        let (dir, store) = store();
        store.create_bucket("b").expect("create");
        store
            .put("b", "k", &[1u8; 1000], &PutOptions::default())
            .expect("put");
        let mut options = PutOptions::default();
        options.user_metadata.insert("v".into(), "2".into());
        store.put("b", "k", b"short", &options).expect("overwrite");
        let (info, data) = store.get("b", "k", None).expect("get");
        assert_eq!(data, b"short");
        assert_eq!(
            info.options.user_metadata.get("v").map(String::as_str),
            Some("2")
        );
        assert_eq!(store.list("b", "", None, 10).expect("list").len(), 1);
        // No temporary files are left behind.
        let leftovers = fs_err::read_dir(dir.path().join("objects/buckets/b-b"))
            .expect("read dir")
            .filter(|entry| {
                entry
                    .as_ref()
                    .map(|entry| entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
                    .unwrap_or(true)
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn reopen_keeps_objects_and_drops_unfinished_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("objects");
        let long = "L".repeat(400);
        {
            let store = LocalStore::open(&root).expect("open");
            store.create_bucket("b").expect("create");
            store.create_bucket("empty").expect("create");
            store
                .put("b", "x/y", b"data", &PutOptions::default())
                .expect("put");
            store
                .put("b", &long, b"long", &PutOptions::default())
                .expect("put");
        }
        fs_err::write(root.join("buckets/b-b/.tmp-crashed"), b"half").expect("write");
        let store = LocalStore::open(&root).expect("reopen");
        let listed = store.list("b", "", None, 10).expect("list");
        assert_eq!(keys(&listed), [long.as_str(), "x/y"]);
        assert_eq!(store.get("b", &long, None).expect("get").1, b"long");
        assert!(store.list("empty", "", None, 10).expect("list").is_empty());
        assert!(!root.join("buckets/b-b/.tmp-crashed").exists());
    }

    #[test]
    fn corrupt_files_are_reported_not_served() {
        let (dir, store) = store();
        store.create_bucket("b").expect("create");
        store
            .put("b", "k", b"0123456789", &PutOptions::default())
            .expect("put");
        let path = dir.path().join("objects/buckets/b-b/k-k");
        let bytes = fs_err::read(&path).expect("read");
        fs_err::write(&path, &bytes[..bytes.len() - 3]).expect("truncate");
        assert!(matches!(
            store.get("b", "k", None),
            Err(StoreError::Other(_))
        ));
        fs_err::write(&path, b"garbage").expect("garble");
        assert!(matches!(store.head("b", "k"), Err(StoreError::Other(_))));
    }

    #[test]
    fn newer_format_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("objects");
        LocalStore::open(&root).expect("open");
        fs_err::write(
            root.join(FORMAT_FILE),
            br#"{"format":"opentrail-objects","version":99}"#,
        )
        .expect("write");
        assert!(matches!(LocalStore::open(&root), Err(StoreError::Other(_))));
    }

    #[test]
    fn buckets_must_be_empty_to_delete_and_clear_removes_all() {
        let (_dir, store) = store();
        store.create_bucket("b").expect("create");
        store.create_bucket("b").expect("create is idempotent");
        store
            .put("b", "k", b"1", &PutOptions::default())
            .expect("put");
        assert!(matches!(
            store.delete_bucket("b"),
            Err(StoreError::BucketNotEmpty(_))
        ));
        store.delete("b", "k").expect("delete");
        store.delete_bucket("b").expect("delete bucket");
        assert!(matches!(
            store.delete_bucket("b"),
            Err(StoreError::NoSuchBucket(_))
        ));

        store.create_bucket("c").expect("create");
        store
            .put("c", "k", b"1", &PutOptions::default())
            .expect("put");
        store.clear().expect("clear");
        assert!(matches!(
            store.list("c", "", None, 1),
            Err(StoreError::NoSuchBucket(_))
        ));
        store.create_bucket("c").expect("create after clear");
        assert!(store.list("c", "", None, 1).expect("list").is_empty());
    }

    #[test]
    fn byte_range_resolution() {
        assert_eq!(
            ByteRange::FromTo {
                start: 0,
                end: Some(0)
            }
            .resolve(1)
            .expect("ok"),
            (0, 0)
        );
        assert_eq!(ByteRange::Suffix(1).resolve(5).expect("ok"), (4, 4));
        assert!(
            ByteRange::FromTo {
                start: 3,
                end: Some(2)
            }
            .resolve(10)
            .is_err()
        );
        assert!(ByteRange::Suffix(1).resolve(0).is_err());
    }
}
