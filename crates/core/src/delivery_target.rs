//! [`DeliveryTarget`]: where trail log files and digest files are written.
//!
//! By default that is the embedded bucket store (`AppState::objects`), whose buckets are the
//! embedded S3 service's bucket records. When `OPENTRAIL_DELIVERY_S3_ENDPOINT` is set, it is an
//! external S3-compatible service reached through [`opentrail_objects::S3Store`]: its buckets
//! are made and deleted there, and nothing is written to the embedded store. Whether a
//! bucket exists there is the CloudTrail service's question (`opentrail_cloudtrail::delivery_target`).
//!

use std::sync::Arc;

use opentrail_objects::{ObjectStore, S3Store, S3StoreConfig};

use crate::ServerError;

/// Where delivery writes.
pub enum DeliveryTarget {
    /// The embedded bucket store, `AppState::objects`.
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

    /// The store delivery writes into, given the `embedded` bucket store.
    pub fn store<'a>(&'a self, embedded: &'a dyn ObjectStore) -> &'a dyn ObjectStore {
        match self {
            DeliveryTarget::Embedded => embedded,
            DeliveryTarget::External { store, .. } => store.as_ref(),
        }
    }
}
