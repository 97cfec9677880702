//! The object-store interface: buckets of immutable objects with user metadata.
//!
//! Bucket *metadata* (owner, region, policy, creation date) lives in the metadata store; this
//! layer only keeps the bytes and per-object attributes. Calls are blocking (disk or network
//! IO): async callers use `tokio::task::spawn_blocking`.

use std::collections::BTreeMap;

/// Server-side encryption asked of an S3-compatible store for one write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sse {
    /// SSE-S3: `x-amz-server-side-encryption: AES256`.
    S3,
    /// SSE-KMS: `x-amz-server-side-encryption: aws:kms` with the key id (or ARN or alias).
    Kms { key_id: String },
}

/// Attributes written with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    /// `x-amz-meta-*` user metadata, keys lower-cased, without the prefix.
    pub user_metadata: BTreeMap<String, String>,
    /// Server-side encryption for this write, overriding a store-wide setting. Stores that
    /// do not encrypt per object (the embedded one) ignore it; reads leave it `None`.
    pub sse: Option<Sse>,
}

/// What the store knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Hex MD5 of the content, without quotes.
    pub etag: String,
    /// Milliseconds since the epoch.
    pub last_modified_ms: i64,
    pub options: PutOptions,
}

/// A byte range of a read, both ends inclusive after resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b` or `bytes=a-`.
    FromTo { start: u64, end: Option<u64> },
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The inclusive `(first, last)` byte offsets this range selects in an object of `size`
    /// bytes, clamped to the object the way HTTP range requests are; fails when no byte of
    /// the object is selected.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), StoreError> {
        let unsatisfiable = StoreError::InvalidRange { size };
        let last_byte = size
            .checked_sub(1)
            .ok_or(StoreError::InvalidRange { size })?;
        match self {
            ByteRange::FromTo { start, end } => {
                let end = end.map_or(last_byte, |end| end.min(last_byte));
                if start > end {
                    return Err(unsatisfiable);
                }
                Ok((start, end))
            }
            ByteRange::Suffix(0) => Err(unsatisfiable),
            ByteRange::Suffix(length) => Ok((size.saturating_sub(length), last_byte)),
        }
    }
}

/// Failures of the object store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("bucket {0} does not exist in the object store")]
    NoSuchBucket(String),
    #[error("object {bucket}/{key} does not exist")]
    NoSuchKey { bucket: String, key: String },
    #[error("bucket {0} is not empty")]
    BucketNotEmpty(String),
    #[error("the requested range is not satisfiable for an object of {size} bytes")]
    InvalidRange { size: u64 },
    #[error("object key is not valid: {0}")]
    InvalidKey(String),
    #[error("object store io: {0}")]
    Io(#[from] std::io::Error),
    /// An external service refused the request with an S3 error code (`AccessDenied`,
    /// `QuotaExceeded`, …).
    #[error("the object store refused the request with {code}: {message}")]
    Refused { code: String, message: String },
    #[error("object store: {0}")]
    Other(String),
}

/// A store of buckets and objects. Writes are atomic: a reader sees the whole old object or
/// the whole new one, and a write that returned `Ok` survives a crash.
pub trait ObjectStore: Send + Sync {
    fn create_bucket(&self, bucket: &str) -> Result<(), StoreError>;
    /// Fails with [`StoreError::BucketNotEmpty`] while objects remain.
    fn delete_bucket(&self, bucket: &str) -> Result<(), StoreError>;
    fn put(
        &self,
        bucket: &str,
        key: &str,
        data: &[u8],
        options: &PutOptions,
    ) -> Result<ObjectInfo, StoreError>;
    /// The object's attributes and the bytes of `range` (all of it when `None`).
    fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<(ObjectInfo, Vec<u8>), StoreError>;
    fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, StoreError>;
    /// Returns whether the object existed.
    fn delete(&self, bucket: &str, key: &str) -> Result<bool, StoreError>;
    /// Objects whose keys start with `prefix` and sort strictly after `start_after`, in
    /// byte order of their keys, at most `limit` of them.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectInfo>, StoreError>;
    /// Like [`ObjectStore::list`] but only the keys; stores that can list keys without
    /// reading each object's attributes override it.
    fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.list(bucket, prefix, start_after, limit)
            .map(|objects| objects.into_iter().map(|object| object.key).collect())
    }
    /// Removes every bucket and object (the development reset).
    fn clear(&self) -> Result<(), StoreError>;
}
