//! An [`ObjectStore`] on any S3-compatible service (AWS S3, MinIO, Ceph RGW, R2, moto), built on
//! the `object_store` crate's S3 client.
//!
//! opentrail's storage layer is blocking ([`ObjectStore`] methods are called from
//! `spawn_blocking` threads and from plain threads), while `object_store` is async. [`S3Store`]
//! owns a small private tokio runtime: every call spawns its future there and waits for the
//! answer on a standard channel. Nothing is ever `block_on`-ed on the caller's thread, so a call
//! from inside another runtime's blocking pool — or, wastefully but without a panic, from an
//! async task — works, and dropping the store anywhere is safe (the runtime is shut down in the
//! background).
//!
//! `object_store` binds one bucket per client, so the store keeps one client per bucket (and
//! encryption setting), made on first use. Buckets themselves are managed on the service: `object_store` has no bucket
//! API, so [`ObjectStore::create_bucket`], [`ObjectStore::delete_bucket`] and
//! [`ObjectStore::clear`] refuse with [`StoreError::Other`].
//!
//! Mapping to S3:
//! - user metadata ([`PutOptions::user_metadata`]) travels as `x-amz-meta-*` headers through
//!   `Attribute::Metadata` and is read back on `get` and `head` (a HEAD request);
//! - listings use `ListObjectsV2` with the raw prefix, `start-after` and `max-keys` (through
//!   `object_store`'s `PaginatedListStore`, because `ObjectStore::list_with_offset` treats the
//!   prefix as whole path segments); listed objects carry no user metadata, as on S3;
//! - server-side encryption ([`Sse`]) adds the `x-amz-server-side-encryption` headers to every
//!   write: [`PutOptions::sse`] when a put asks for it, else [`S3StoreConfig::sse`].
//!   `object_store` sets these headers per client, so the store keeps one client per bucket and
//!   encryption setting;
//! - failures the service explains with an S3 error code (`AccessDenied`, `QuotaExceeded`, …)
//!   become [`StoreError::Refused`] with that code; `NoSuchBucket` and `NoSuchKey` keep their
//!   own variants.
//!
//! This module holds [`S3StoreConfig`] (how to reach the service and how to encrypt, with
//! [`Sse`]) and [`S3Store`], the [`ObjectStore`] implementation.

#![deny(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::store::{ByteRange, ObjectInfo, ObjectStore, PutOptions, Sse, StoreError};
use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, BackoffConfig, ClientOptions, GetOptions, GetRange,
    ObjectMeta, ObjectStore as _, ObjectStoreExt as _, PutPayload, RetryConfig,
};

/// The message of the bucket-management refusals.
pub const BUCKET_MANAGEMENT_UNSUPPORTED: &str =
    "bucket management is not supported on an external S3 store; create the bucket there";

/// The most keys one `ListObjectsV2` page may return.
const MAX_KEYS_PER_PAGE: usize = 1000;

/// How to reach the S3-compatible service.
#[derive(Clone, PartialEq, Eq)]
pub struct S3StoreConfig {
    /// The service URL, e.g. `http://127.0.0.1:9000`; `None` means AWS S3 in `region`.
    pub endpoint: Option<String>,
    /// The signing region, e.g. `us-east-1`.
    pub region: String,
    /// Access key id; requests are sent unsigned when it and the secret are both empty.
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `X-Amz-Security-Token` for temporary credentials.
    pub session_token: Option<String>,
    /// Whether a plain `http://` endpoint is allowed.
    pub allow_http: bool,
    /// `https://bucket.host/key` instead of path style `https://host/bucket/key`.
    pub virtual_hosted_style: bool,
    /// Server-side encryption for every write that does not ask for its own.
    pub sse: Option<Sse>,
}

impl std::fmt::Debug for S3StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3StoreConfig")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .field("sse", &self.sse)
            .finish()
    }
}

impl S3StoreConfig {
    /// A path-style configuration for `endpoint` (plain HTTP allowed when the URL says so).
    pub fn for_endpoint(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> S3StoreConfig {
        let endpoint = endpoint.into();
        S3StoreConfig {
            allow_http: endpoint.starts_with("http://"),
            endpoint: Some(endpoint),
            region: region.into(),
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
            virtual_hosted_style: false,
            sse: None,
        }
    }
}

/// The store's clients by bucket and server-side encryption.
type Clients = HashMap<(String, Option<Sse>), Arc<AmazonS3>>;

/// An [`ObjectStore`] backed by an S3-compatible service.
pub struct S3Store {
    config: S3StoreConfig,
    clients: Mutex<Clients>,
    /// Always `Some` until drop, which shuts it down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Drop for S3Store {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl S3Store {
    /// Starts the store's private runtime; no request is made until the first call.
    pub fn new(config: S3StoreConfig) -> Result<S3Store, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("opentrail-s3")
            .enable_all()
            .build()
            .map_err(|error| {
                StoreError::Other(format!("starting the s3 client runtime: {error}"))
            })?;
        Ok(S3Store {
            config,
            clients: Mutex::new(HashMap::new()),
            runtime: Some(runtime),
        })
    }

    /// The configuration the store was made with.
    pub fn config(&self) -> &S3StoreConfig {
        &self.config
    }

    /// Runs `future` on the private runtime and waits for its result on this thread.
    fn run<T, F>(&self, future: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Other("the s3 client runtime has stopped".to_owned()))?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = sender.send(future.await);
        });
        receiver.recv().map_err(|_| {
            StoreError::Other("the s3 client runtime stopped before answering".to_owned())
        })?
    }

    /// The client bound to `bucket` with the store's own encryption, made on first use.
    fn client(&self, bucket: &str) -> Result<Arc<AmazonS3>, StoreError> {
        self.client_with(bucket, self.config.sse.as_ref())
    }

    /// The client bound to `bucket` that writes with `sse`, made on first use.
    fn client_with(&self, bucket: &str, sse: Option<&Sse>) -> Result<Arc<AmazonS3>, StoreError> {
        if bucket.is_empty() {
            return Err(StoreError::NoSuchBucket(String::new()));
        }
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| StoreError::Other("the s3 client map is poisoned".to_owned()))?;
        let key = (bucket.to_owned(), sse.cloned());
        if let Some(client) = clients.get(&key) {
            return Ok(Arc::clone(client));
        }
        let client = Arc::new(build_client(&self.config, bucket, sse)?);
        clients.insert(key, Arc::clone(&client));
        Ok(client)
    }
}

fn build_client(
    config: &S3StoreConfig,
    bucket: &str,
    sse: Option<&Sse>,
) -> Result<AmazonS3, StoreError> {
    let client_options = ClientOptions::new()
        .with_allow_http(config.allow_http)
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(Duration::from_secs(120));
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    };
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&config.region)
        .with_virtual_hosted_style_request(config.virtual_hosted_style)
        .with_allow_http(config.allow_http)
        .with_client_options(client_options)
        .with_retry(retry);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if config.access_key_id.is_empty() && config.secret_access_key.is_empty() {
        builder = builder.with_skip_signature(true);
    } else {
        builder = builder
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key);
        if let Some(token) = &config.session_token {
            builder = builder.with_token(token);
        }
    }
    builder = match sse {
        None => builder,
        Some(Sse::S3) => {
            // `S3EncryptionConfigKey` is not exported; the string form names the same key.
            let key: AmazonS3ConfigKey = "aws_server_side_encryption"
                .parse()
                .map_err(|error| StoreError::Other(format!("configuring sse-s3: {error}")))?;
            builder.with_config(key, "AES256")
        }
        Some(Sse::Kms { key_id }) => builder.with_sse_kms_encryption(key_id),
    };
    builder
        .build()
        .map_err(|error| StoreError::Other(format!("configuring the s3 client: {error}")))
}

/// The `object_store` path for an S3 key, refusing keys it would silently rewrite.
fn object_path(key: &str) -> Result<Path, StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidKey("the key is empty".to_owned()));
    }
    let path =
        Path::parse(key).map_err(|error| StoreError::InvalidKey(format!("{key:?}: {error}")))?;
    if path.as_ref() != key {
        return Err(StoreError::InvalidKey(format!(
            "{key:?} cannot be addressed through object_store (it would become {:?})",
            path.as_ref()
        )));
    }
    Ok(path)
}

/// Maps an `object_store` failure on `bucket`/`key` to the store's error.
fn store_error(bucket: &str, key: &str, error: object_store::Error) -> StoreError {
    match error {
        object_store::Error::NotFound { .. } => {
            if error.to_string().contains("NoSuchBucket") {
                StoreError::NoSuchBucket(bucket.to_owned())
            } else {
                StoreError::NoSuchKey {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }
            }
        }
        object_store::Error::InvalidPath { source } => {
            StoreError::InvalidKey(format!("{key:?}: {source}"))
        }
        other => {
            let denied = matches!(
                other,
                object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
            );
            let text = other.to_string();
            match s3_error_code(&text) {
                Some("NoSuchBucket") => StoreError::NoSuchBucket(bucket.to_owned()),
                Some(code) => StoreError::Refused {
                    code: code.to_owned(),
                    message: format!("s3 {bucket}/{key}: {text}"),
                },
                None if text.contains("NoSuchBucket") => {
                    StoreError::NoSuchBucket(bucket.to_owned())
                }
                None if denied => StoreError::Refused {
                    code: "AccessDenied".to_owned(),
                    message: format!("s3 {bucket}/{key}: {text}"),
                },
                None => StoreError::Other(format!("s3 {bucket}/{key}: {text}")),
            }
        }
    }
}

/// The `<Code>` of an S3 error document quoted in an `object_store` error message.
fn s3_error_code(text: &str) -> Option<&str> {
    let (_, after) = text.split_once("<Code>")?;
    let (code, _) = after.split_once("</Code>")?;
    let code = code.trim();
    let plausible = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'.');
    plausible.then_some(code)
}

fn put_attributes(options: &PutOptions) -> Attributes {
    let mut attributes = Attributes::new();
    let standard = [
        (Attribute::ContentType, &options.content_type),
        (Attribute::ContentEncoding, &options.content_encoding),
        (Attribute::CacheControl, &options.cache_control),
        (Attribute::ContentDisposition, &options.content_disposition),
        (Attribute::ContentLanguage, &options.content_language),
    ];
    for (attribute, value) in standard {
        if let Some(value) = value {
            attributes.insert(attribute, AttributeValue::from(value.clone()));
        }
    }
    for (name, value) in &options.user_metadata {
        attributes.insert(
            Attribute::Metadata(name.to_ascii_lowercase().into()),
            AttributeValue::from(value.clone()),
        );
    }
    attributes
}

fn options_from_attributes(attributes: &Attributes) -> PutOptions {
    let mut options = PutOptions::default();
    let mut user_metadata = BTreeMap::new();
    for (attribute, value) in attributes {
        let value = value.as_ref().to_owned();
        match attribute {
            Attribute::ContentType => options.content_type = Some(value),
            Attribute::ContentEncoding => options.content_encoding = Some(value),
            Attribute::CacheControl => options.cache_control = Some(value),
            Attribute::ContentDisposition => options.content_disposition = Some(value),
            Attribute::ContentLanguage => options.content_language = Some(value),
            Attribute::Metadata(name) => {
                user_metadata.insert(name.to_ascii_lowercase(), value);
            }
            _ => {}
        }
    }
    options.user_metadata = user_metadata;
    options
}

fn unquote_etag(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}

fn info_from_meta(meta: &ObjectMeta, options: PutOptions) -> ObjectInfo {
    ObjectInfo {
        key: meta.location.as_ref().to_owned(),
        size: meta.size,
        etag: unquote_etag(meta.e_tag.as_deref()),
        last_modified_ms: meta.last_modified.timestamp_millis(),
        options,
    }
}

fn get_range(range: ByteRange) -> Result<GetRange, StoreError> {
    Ok(match range {
        ByteRange::FromTo {
            start,
            end: Some(end),
        } => {
            if end < start {
                return Err(StoreError::InvalidRange { size: 0 });
            }
            GetRange::Bounded(start..end.saturating_add(1))
        }
        ByteRange::FromTo { start, end: None } => GetRange::Offset(start),
        ByteRange::Suffix(length) => GetRange::Suffix(length),
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

impl ObjectStore for S3Store {
    fn create_bucket(&self, _bucket: &str) -> Result<(), StoreError> {
        Err(StoreError::Other(BUCKET_MANAGEMENT_UNSUPPORTED.to_owned()))
    }

    fn delete_bucket(&self, _bucket: &str) -> Result<(), StoreError> {
        Err(StoreError::Other(BUCKET_MANAGEMENT_UNSUPPORTED.to_owned()))
    }

    fn put(
        &self,
        bucket: &str,
        key: &str,
        data: &[u8],
        options: &PutOptions,
    ) -> Result<ObjectInfo, StoreError> {
        let client = self.client_with(bucket, options.sse.as_ref().or(self.config.sse.as_ref()))?;
        let path = object_path(key)?;
        let put_options = object_store::PutOptions {
            attributes: put_attributes(options),
            ..Default::default()
        };
        let payload = PutPayload::from(Bytes::copy_from_slice(data));
        let (bucket_name, key_name) = (bucket.to_owned(), key.to_owned());
        let result = self.run(async move {
            client
                .put_opts(&path, payload, put_options)
                .await
                .map_err(|error| store_error(&bucket_name, &key_name, error))
        })?;
        Ok(ObjectInfo {
            key: key.to_owned(),
            size: data.len() as u64,
            etag: unquote_etag(result.e_tag.as_deref()),
            last_modified_ms: now_ms(),
            options: options.clone(),
        })
    }

    fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<(ObjectInfo, Vec<u8>), StoreError> {
        let client = self.client(bucket)?;
        let path = object_path(key)?;
        let get_options = GetOptions {
            range: range.map(get_range).transpose()?,
            ..Default::default()
        };
        let (bucket_name, key_name) = (bucket.to_owned(), key.to_owned());
        let outcome = self.run(async move {
            let result = client
                .get_opts(&path, get_options)
                .await
                .map_err(|error| store_error(&bucket_name, &key_name, error))?;
            let options = options_from_attributes(&result.attributes);
            let info = info_from_meta(&result.meta, options);
            let body = result
                .bytes()
                .await
                .map_err(|error| store_error(&bucket_name, &key_name, error))?;
            Ok((info, body.to_vec()))
        });
        match (outcome, range) {
            (Ok((mut info, body)), _) => {
                info.key = key.to_owned();
                Ok((info, body))
            }
            // A range the service refused (416): say so with the object's size, as the
            // embedded store does.
            (Err(error @ (StoreError::Other(_) | StoreError::Refused { .. })), Some(range)) => {
                let size = self.head(bucket, key)?.size;
                match range.resolve(size) {
                    Err(invalid) => Err(invalid),
                    Ok(_) => Err(error),
                }
            }
            (Err(error), _) => Err(error),
        }
    }

    fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, StoreError> {
        let client = self.client(bucket)?;
        let path = object_path(key)?;
        let get_options = GetOptions {
            head: true,
            ..Default::default()
        };
        let (bucket_name, key_name) = (bucket.to_owned(), key.to_owned());
        let mut info = self.run(async move {
            let result = client
                .get_opts(&path, get_options)
                .await
                .map_err(|error| store_error(&bucket_name, &key_name, error))?;
            let options = options_from_attributes(&result.attributes);
            Ok(info_from_meta(&result.meta, options))
        })?;
        info.key = key.to_owned();
        Ok(info)
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        // S3 answers 204 whether or not the key existed, so ask first.
        let existed = match self.head(bucket, key) {
            Ok(_) => true,
            Err(StoreError::NoSuchKey { .. }) => false,
            Err(error) => return Err(error),
        };
        let client = self.client(bucket)?;
        let path = object_path(key)?;
        let (bucket_name, key_name) = (bucket.to_owned(), key.to_owned());
        self.run(async move {
            client
                .delete(&path)
                .await
                .map_err(|error| store_error(&bucket_name, &key_name, error))
        })?;
        Ok(existed)
    }

    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let client = self.client(bucket)?;
        let prefix = prefix.to_owned();
        let start_after = start_after.map(str::to_owned);
        let bucket_name = bucket.to_owned();
        self.run(async move {
            let mut objects: Vec<ObjectInfo> = Vec::new();
            let mut page_token = None;
            loop {
                let options = PaginatedListOptions {
                    offset: start_after.clone(),
                    max_keys: Some((limit - objects.len()).min(MAX_KEYS_PER_PAGE)),
                    page_token: page_token.take(),
                    ..Default::default()
                };
                let page = client
                    .list_paginated((!prefix.is_empty()).then_some(prefix.as_str()), options)
                    .await
                    .map_err(|error| store_error(&bucket_name, &prefix, error))?;
                objects.extend(
                    page.result
                        .objects
                        .iter()
                        .map(|meta| info_from_meta(meta, PutOptions::default())),
                );
                match page.page_token {
                    Some(token) if objects.len() < limit => page_token = Some(token),
                    _ => break,
                }
            }
            // Services return byte order already; sorting keeps the contract for any that
            // do not.
            objects.sort_by(|a, b| a.key.cmp(&b.key));
            objects.truncate(limit);
            Ok(objects)
        })
    }

    fn clear(&self) -> Result<(), StoreError> {
        Err(StoreError::Other(
            "clearing is not supported on an external S3 store; empty the buckets there".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> S3Store {
        S3Store::new(S3StoreConfig::for_endpoint(
            "http://127.0.0.1:9",
            "us-east-1",
            "AKID",
            "secret",
        ))
        .expect("runtime starts")
    }

    #[test]
    fn bucket_management_is_refused_with_a_clear_message() {
        let store = store();
        for result in [
            store.create_bucket("b"),
            store.delete_bucket("b"),
            store.clear(),
        ] {
            match result {
                Err(StoreError::Other(message)) => assert!(message.contains("not supported")),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn keys_object_store_would_rewrite_are_refused() {
        assert!(object_path("AWSLogs/1/CloudTrail/x.json.gz").is_ok());
        for key in ["a//b", "/a", "a/", "a/./b", "a/../b", ""] {
            assert!(
                matches!(object_path(key), Err(StoreError::InvalidKey(_))),
                "{key:?} should be refused"
            );
        }
    }

    #[test]
    fn attributes_round_trip_through_put_options() {
        let options = PutOptions {
            content_type: Some("application/json".to_owned()),
            content_encoding: Some("gzip".to_owned()),
            user_metadata: BTreeMap::from([
                ("signature".to_owned(), "abcd".to_owned()),
                ("signature-algorithm".to_owned(), "SHA256withRSA".to_owned()),
            ]),
            ..Default::default()
        };
        assert_eq!(options_from_attributes(&put_attributes(&options)), options);
    }

    #[test]
    fn s3_error_codes_are_read_from_the_quoted_error_document() {
        let text = "Error performing PUT http://h/b/k in 2ms - Server returned non-2xx status \
                    code: 403 Forbidden: <?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
                    <Message>Access Denied</Message></Error>";
        assert_eq!(s3_error_code(text), Some("AccessDenied"));
        assert_eq!(s3_error_code("connection refused"), None);
        assert_eq!(s3_error_code("<Code></Code>"), None);
        assert_eq!(s3_error_code("<Code>not a code</Code>"), None);
    }

    #[test]
    fn writes_pick_a_client_per_bucket_and_encryption() {
        let store = store();
        let kms = Sse::Kms {
            key_id: "arn:aws:kms:us-east-1:123456789012:key/k".to_owned(),
        };
        let plain = store.client("b").expect("client");
        let again = store.client_with("b", None).expect("client");
        assert!(Arc::ptr_eq(&plain, &again));
        let encrypted = store.client_with("b", Some(&kms)).expect("client");
        assert!(!Arc::ptr_eq(&plain, &encrypted));
        let encrypted_again = store.client_with("b", Some(&kms)).expect("client");
        assert!(Arc::ptr_eq(&encrypted, &encrypted_again));
        let other_bucket = store.client_with("c", Some(&kms)).expect("client");
        assert!(!Arc::ptr_eq(&encrypted, &other_bucket));
        assert_eq!(store.clients.lock().expect("lock").len(), 3);
    }

    #[test]
    fn ranges_map_to_object_store_ranges() {
        let bounded = get_range(ByteRange::FromTo {
            start: 2,
            end: Some(5),
        })
        .expect("valid");
        assert_eq!(bounded, GetRange::Bounded(2..6));
        assert_eq!(
            get_range(ByteRange::FromTo {
                start: 3,
                end: None
            })
            .expect("valid"),
            GetRange::Offset(3)
        );
        assert_eq!(
            get_range(ByteRange::Suffix(4)).expect("valid"),
            GetRange::Suffix(4)
        );
    }

    #[test]
    fn calls_from_inside_an_async_context_do_not_panic() {
        let outer = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("outer runtime");
        let store = Arc::new(store());
        let from_blocking = Arc::clone(&store);
        let (blocking_result, async_result) = outer.block_on(async move {
            let blocking = tokio::task::spawn_blocking(move || from_blocking.head("b", "k"))
                .await
                .expect("blocking task");
            // Called directly on a runtime worker (not recommended, but it must not panic).
            let direct = store.head("b", "k");
            drop(store);
            (blocking, direct)
        });
        // Port 9 (discard) refuses connections: both calls fail, neither panics.
        assert!(blocking_result.is_err());
        assert!(async_result.is_err());
    }
}
