//! [`DeliveryTarget`]: where trail log files and digest files are written.
//!
//! By default that is the embedded bucket store ([`AppState::objects`]), whose buckets are the
//! embedded S3 service's bucket records. When `OPENTRAIL_DELIVERY_S3_ENDPOINT` is set, it is an
//! external S3-compatible service reached through [`opentrail_s3store::S3Store`]: its buckets
//! are made and deleted there, so CreateTrail, UpdateTrail and every delivery ask that service
//! whether a bucket exists (a one-key `ListObjectsV2`), and nothing is written to the embedded
//! store.
//!
//! Encryption follows CloudTrail: a log file of a trail with a `KmsKeyId` is written with
//! SSE-KMS under that key, every other log file and every digest with SSE-S3 (`AES256`). The
//! embedded store ignores the setting (it keeps files in the data directory).

use std::sync::Arc;

use opentrail_delivery::{ObjectStore, Sse, StoreError};
use opentrail_s3store::{S3Store, S3StoreConfig};

use crate::{AppState, ServerError};

/// Where delivery writes.
pub enum DeliveryTarget {
    /// The embedded bucket store, [`AppState::objects`].
    Embedded,
    /// An external S3-compatible service.
    External {
        store: Arc<dyn ObjectStore>,
        /// The service URL, for logs and messages.
        endpoint: String,
    },
}

impl std::fmt::Debug for DeliveryTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryTarget::Embedded => f.write_str("Embedded"),
            DeliveryTarget::External { endpoint, .. } => f
                .debug_struct("External")
                .field("endpoint", endpoint)
                .finish_non_exhaustive(),
        }
    }
}

impl DeliveryTarget {
    /// The target of a configuration: the external service when one is configured.
    pub fn open(config: Option<&S3StoreConfig>) -> Result<DeliveryTarget, ServerError> {
        let Some(config) = config else {
            return Ok(DeliveryTarget::Embedded);
        };
        let store = S3Store::new(config.clone())
            .map_err(|err| ServerError::Objects(format!("external delivery store: {err}")))?;
        let endpoint = config.endpoint.clone().unwrap_or_default();
        tracing::info!(
            endpoint,
            "trail delivery writes to an external S3-compatible store"
        );
        Ok(DeliveryTarget::External {
            store: Arc::new(store),
            endpoint,
        })
    }

    pub fn is_external(&self) -> bool {
        matches!(self, DeliveryTarget::External { .. })
    }

    /// The store delivery writes into.
    pub fn store<'a>(&'a self, state: &'a AppState) -> &'a dyn ObjectStore {
        match self {
            DeliveryTarget::Embedded => state.objects.as_ref(),
            DeliveryTarget::External { store, .. } => store.as_ref(),
        }
    }

    /// Whether `bucket` exists where delivery writes. Blocking: the external service is asked.
    pub fn bucket_exists(&self, state: &AppState, bucket: &str) -> Result<bool, StoreError> {
        if bucket.is_empty() {
            return Ok(false);
        }
        match self {
            DeliveryTarget::Embedded => crate::services::s3::bucket(state, bucket)
                .map(|record| record.is_some())
                .map_err(|err| {
                    StoreError::Other(format!("reading bucket record {bucket}: {}", err.message))
                }),
            DeliveryTarget::External { store, .. } => match store.list(bucket, "", None, 1) {
                Ok(_) => Ok(true),
                Err(StoreError::NoSuchBucket(_)) => Ok(false),
                Err(err) => Err(err),
            },
        }
    }
}

/// The server-side encryption of a trail's log files: SSE-KMS under the trail's key when it
/// has one, SSE-S3 otherwise.
pub fn log_file_encryption(kms_key_id: Option<&str>) -> Sse {
    match kms_key_id {
        Some(key_id) if !key_id.is_empty() => Sse::Kms {
            key_id: key_id.to_owned(),
        },
        _ => Sse::S3,
    }
}

/// The server-side encryption of digest files: always SSE-S3, as CloudTrail does even for
/// trails with a KMS key.
pub fn digest_encryption() -> Sse {
    Sse::S3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_files_use_the_trail_key_and_digests_sse_s3() {
        let key = "arn:aws:kms:us-east-1:123456789012:key/k";
        assert_eq!(
            log_file_encryption(Some(key)),
            Sse::Kms {
                key_id: key.to_owned()
            }
        );
        assert_eq!(log_file_encryption(None), Sse::S3);
        assert_eq!(log_file_encryption(Some("")), Sse::S3);
        assert_eq!(digest_encryption(), Sse::S3);
    }

    #[test]
    fn the_embedded_target_uses_the_embedded_buckets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = AppState::open(crate::ServerConfig::for_tests(dir.path().to_path_buf()))
            .expect("state");
        assert!(!state.delivery.is_external());
        assert!(
            !state
                .delivery
                .bucket_exists(&state, "logs")
                .expect("checked")
        );
        let record = crate::services::s3::BucketRecord {
            name: "logs".into(),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            created_ms: 0,
            policy: None,
        };
        state
            .meta
            .put(crate::services::s3::BUCKETS_TABLE, "logs", &record)
            .expect("bucket record");
        assert!(
            state
                .delivery
                .bucket_exists(&state, "logs")
                .expect("checked")
        );
        assert!(!state.delivery.bucket_exists(&state, "").expect("checked"));
    }

    #[test]
    fn an_unreachable_external_service_is_an_error_not_a_missing_bucket() {
        let target = DeliveryTarget::open(Some(&S3StoreConfig::for_endpoint(
            "http://127.0.0.1:9",
            "us-east-1",
            "AKID",
            "secret",
        )))
        .expect("target");
        assert!(target.is_external());
        let dir = tempfile::tempdir().expect("tempdir");
        let state = AppState::open(crate::ServerConfig::for_tests(dir.path().to_path_buf()))
            .expect("state");
        let checked = target.bucket_exists(&state, "logs");
        assert!(matches!(checked, Err(StoreError::Other(_))), "{checked:?}");
    }
}
