//! [`AppState`]: what every handler and worker shares.
//!
//! Data directory layout (each part carries its own format version):
//! `journal/` (the write-ahead log), `meta/` (metadata store), `history/` (event-history
//! index), `objects/` (the embedded bucket store), `credentials.json`. Trail delivery writes
//! into `objects/` too, unless an external S3-compatible store is configured
//! ([`DeliveryTarget`]). Each service keeps its own stores and engines (the SQS engine, the
//! EventBridge engine, the Logs event store, …) in [`AppState::extensions`], opened on first
//! use: one owner per store, and a process may build many states (tests do).

use std::sync::Arc;
use std::time::Duration;

use opentrail_history::{History, HistoryConfig};
use opentrail_journal::{Journal, JournalConfig};
use opentrail_meta::Meta;
use opentrail_objects::{LocalStore, ObjectStore};
use tokio::sync::watch;

use crate::access::Access;
use crate::credentials::{Credentials, Origin};
use crate::delivery_target::DeliveryTarget;
use crate::extensions::Extensions;
use crate::recording::Recording;
use crate::worker_registry::WorkerRegistry;
use crate::{ServerConfig, ServerError};

/// Shared server state.
pub struct AppState {
    pub config: ServerConfig,
    pub credentials: Credentials,
    /// The other keys the server accepts and the authorizer of every call (installed by the
    /// identity service).
    pub access: Access<AppState>,
    /// How the root credentials were obtained (the CLI prints generated ones once).
    pub credentials_origin: Origin,
    pub meta: Meta,
    pub journal: Journal,
    /// The intent log and the records waiting for the journal (fail closed, see the server's
    /// `intents` module).
    pub recording: Recording,
    pub history: Arc<History>,
    pub objects: Arc<dyn ObjectStore>,
    /// Where trail log files and digests go: [`AppState::objects`] or an external store.
    pub delivery: DeliveryTarget,
    pub workers: WorkerRegistry,
    /// The services' own stores and engines, one per type.
    pub extensions: Extensions,
    /// The journal sequence number the history index has applied, published by its worker.
    pub history_applied: watch::Sender<u64>,
    pub shutdown: watch::Sender<bool>,
}

impl AppState {
    /// Opens (or creates) everything under the configured data directory.
    pub fn open(config: ServerConfig) -> Result<AppState, ServerError> {
        let dir = config.data_dir.clone();
        fs_err::create_dir_all(&dir)?;
        let configured = config
            .root_access_key_id
            .clone()
            .zip(config.root_secret_access_key.clone());
        let (credentials, credentials_origin) =
            Credentials::load(&dir, &config.account_id, configured)?;
        let meta = Meta::open(&dir.join("meta"))?;
        let journal = Journal::open(JournalConfig::new(dir.join("journal")))?;
        let recording = Recording::open(
            dir.join("journal-intents"),
            dir.clone(),
            config.disk_headroom_bytes,
        )?;
        let history = History::open(
            &dir.join("history"),
            HistoryConfig {
                retention_days: config.history_retention_days,
            },
        )?;
        let objects = LocalStore::open(&dir.join("objects"))
            .map_err(|err| ServerError::Objects(err.to_string()))?;
        let delivery = DeliveryTarget::open(config.delivery_s3.as_ref())?;
        let (history_applied, _) = watch::channel(history.applied_seq());
        let (shutdown, _) = watch::channel(false);
        Ok(AppState {
            config,
            credentials,
            access: Access::default(),
            credentials_origin,
            meta,
            journal,
            recording,
            history: Arc::new(history),
            objects: Arc::new(objects),
            delivery,
            workers: WorkerRegistry::default(),
            extensions: Extensions::default(),
            history_applied,
            shutdown,
        })
    }

    /// The store trail delivery writes into (see [`DeliveryTarget`]).
    pub fn delivery_store(&self) -> &dyn ObjectStore {
        self.delivery.store(self.objects.as_ref())
    }

    /// Waits (at most `limit`) until the history index has applied every record that was
    /// durable when this call began, so a caller reads its own writes in LookupEvents.
    pub async fn history_caught_up(&self, limit: Duration) -> bool {
        let target = self.journal.last_seq();
        let mut applied = self.history_applied.subscribe();
        let wait = applied.wait_for(|seq| *seq >= target);
        matches!(tokio::time::timeout(limit, wait).await, Ok(Ok(_)))
    }

    /// Wipes the shared stores (development reset; each service then resets its own, see
    /// [`crate::Service::reset`]). The journal keeps its records, but the history index skips
    /// everything written before the reset.
    pub fn reset_shared(&self) -> Result<(), ServerError> {
        self.meta.clear()?;
        self.objects
            .clear()
            .map_err(|err| ServerError::Objects(err.to_string()))?;
        self.history.clear(self.journal.last_seq())?;
        self.history_applied
            .send_replace(self.history.applied_seq());
        Ok(())
    }

    /// Stops the workers and flushes derived state.
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        self.workers.join_all().await;
        if let Err(err) = self.history.flush() {
            tracing::warn!(error = %err, "history flush on shutdown failed");
        }
    }
}
