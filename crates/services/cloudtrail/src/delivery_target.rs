//! Where trail delivery writes ([`DeliveryTarget`], owned by [`AppState`]) seen from the
//! trails: whether a trail's bucket exists there, and how log files and digests are encrypted.
//!
//! CreateTrail, UpdateTrail and every delivery ask the target whether a bucket exists: the
//! embedded S3 service's bucket records, or a one-key `ListObjectsV2` on the external service.
//!
//! Encryption follows CloudTrail: a log file of a trail with a `KmsKeyId` is written with
//! SSE-KMS under that key, every other log file and every digest with SSE-S3 (`AES256`). The
//! embedded store ignores the setting (it keeps files in the data directory).

use opentrail_core::AppState;
use opentrail_core::delivery_target::DeliveryTarget;
use opentrail_objects::{ObjectStore, Sse, StoreError};

/// Whether `bucket` exists where delivery writes. Blocking: the external service is asked.
pub fn bucket_exists(state: &AppState, bucket: &str) -> Result<bool, StoreError> {
    if bucket.is_empty() {
        return Ok(false);
    }
    match &state.delivery {
        DeliveryTarget::Embedded => opentrail_s3::bucket(state, bucket)
            .map(|record| record.is_some())
            .map_err(|err| {
                StoreError::Other(format!("reading bucket record {bucket}: {}", err.message))
            }),
        DeliveryTarget::External { store, .. } => external_bucket_exists(store.as_ref(), bucket),
    }
}

fn external_bucket_exists(store: &dyn ObjectStore, bucket: &str) -> Result<bool, StoreError> {
    match store.list(bucket, "", None, 1) {
        Ok(_) => Ok(true),
        Err(StoreError::NoSuchBucket(_)) => Ok(false),
        Err(err) => Err(err),
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
    use opentrail_objects::S3StoreConfig;

    fn target_store(target: &DeliveryTarget) -> &dyn ObjectStore {
        match target {
            DeliveryTarget::External { store, .. } => store.as_ref(),
            DeliveryTarget::Embedded => panic!("expected an external target"),
        }
    }

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
        let state = AppState::open(opentrail_core::ServerConfig::for_tests(
            dir.path().to_path_buf(),
        ))
        .expect("state");
        assert!(!state.delivery.is_external());
        assert!(!bucket_exists(&state, "logs").expect("checked"));
        let record = opentrail_s3::BucketRecord {
            name: "logs".into(),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            created_ms: 0,
            policy: None,
        };
        state
            .meta
            .put(opentrail_s3::BUCKETS_TABLE, "logs", &record)
            .expect("bucket record");
        assert!(bucket_exists(&state, "logs").expect("checked"));
        assert!(!bucket_exists(&state, "").expect("checked"));
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
        let checked = external_bucket_exists(target_store(&target), "logs");
        assert!(matches!(checked, Err(StoreError::Other(_))), "{checked:?}");
    }
}
