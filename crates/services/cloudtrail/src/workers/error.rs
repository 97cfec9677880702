//! What can go wrong writing log files and digests ([`DeliveryError`], with the code
//! GetTrailStatus shows), and the bucket check both writers make before writing
//! ([`check_bucket`]), which fails with one.
//!
//! Delivery ([`super::delivery`]), digests ([`super::digests`]) and signing keys
//! ([`super::keys`]) share them, so they sit below all three.

use opentrail_delivery::signing::SigningError;
use opentrail_journal::JournalError;
use opentrail_meta::MetaError;
use opentrail_objects::StoreError;

use crate::delivery_target;
use opentrail_core::AppState;

/// Failures of delivery and digests.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("writing to bucket {bucket} failed: {source}")]
    Store { bucket: String, source: StoreError },
    #[error("bucket {0} does not exist")]
    NoSuchBucket(String),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error("signing key: {0}")]
    Key(String),
    #[error("reading the bucket record failed: {0}")]
    Bucket(String),
    #[error("compressing a file failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("journal entry {0} of a delivery plan is no longer in the journal")]
    MissingEntry(u64),
}

impl DeliveryError {
    /// The S3-style code GetTrailStatus shows (`LatestDeliveryError`): `NoSuchBucket`, the
    /// code an external S3 service refused a write with, else `InternalError`.
    pub fn status_code(&self) -> String {
        match self {
            DeliveryError::NoSuchBucket(_)
            | DeliveryError::Store {
                source: StoreError::NoSuchBucket(_),
                ..
            } => "NoSuchBucket".to_owned(),
            DeliveryError::Store {
                source: StoreError::Refused { code, .. },
                ..
            } => code.clone(),
            _ => "InternalError".to_owned(),
        }
    }
}

/// Fails with [`DeliveryError::NoSuchBucket`] when the embedded store has no `bucket`. An
/// external service is not asked first: its answer to the write says the same, and a
/// delivery policy may allow writing without allowing a listing.
pub fn check_bucket(state: &AppState, bucket: &str) -> Result<(), DeliveryError> {
    if state.delivery.is_external() {
        return Ok(());
    }
    let exists = delivery_target::bucket_exists(state, bucket)
        .map_err(|err| DeliveryError::Bucket(err.to_string()))?;
    if !exists {
        return Err(DeliveryError::NoSuchBucket(bucket.to_owned()));
    }
    Ok(())
}
