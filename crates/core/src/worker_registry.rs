//! The registry of a server's workers: what each is doing ([`WorkerStatus`]), and the handles
//! shutdown waits for.
//!
//! [`crate::AppState`] owns one ([`crate::AppState::workers`]), so this module sits below the
//! state; starting a worker needs the state its context holds, so
//! [`WorkerRegistry::spawn`] is written in [`crate::workers`], beside the [`crate::workers::Worker`]
//! trait it runs.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use tokio::task::JoinHandle;

/// What a worker is doing.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// Spawned, not reported yet.
    Starting,
    /// Working through a backlog.
    Running,
    /// Waiting for work.
    Idle,
    /// The last attempt failed (see `last_error`); it is tried again.
    Retrying,
    /// Waiting for something outside it (the journal taking writes again).
    Waiting,
    /// Cannot run (see `last_error`).
    Failed,
    /// Ended after the shutdown signal.
    Stopped,
}

/// A worker's status.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStatus {
    pub name: String,
    pub state: WorkerState,
    /// Items processed since start.
    pub processed: u64,
    pub last_error: Option<String>,
}

/// The registry of running workers.
#[derive(Default)]
pub struct WorkerRegistry {
    statuses: Mutex<BTreeMap<String, WorkerStatus>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl WorkerRegistry {
    /// Sets the status of `name`.
    pub fn report(
        &self,
        name: &str,
        state: WorkerState,
        processed: u64,
        last_error: Option<String>,
    ) {
        let status = WorkerStatus {
            name: name.to_owned(),
            state,
            processed,
            last_error,
        };
        if let Ok(mut statuses) = self.statuses.lock() {
            statuses.insert(name.to_owned(), status);
        }
    }

    /// Every worker's status, by name.
    pub fn statuses(&self) -> Vec<WorkerStatus> {
        self.statuses
            .lock()
            .map(|statuses| statuses.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Keeps the handle of a spawned worker, so that [`WorkerRegistry::join_all`] waits for it.
    pub(crate) fn keep(&self, handle: JoinHandle<()>) {
        if let Ok(mut handles) = self.handles.lock() {
            handles.push(handle);
        }
    }

    /// What `name` last reported as processed.
    pub(crate) fn processed(&self, name: &str) -> u64 {
        self.statuses
            .lock()
            .ok()
            .and_then(|statuses| statuses.get(name).map(|status| status.processed))
            .unwrap_or(0)
    }

    /// Waits for every worker to stop (after the shutdown signal).
    pub async fn join_all(&self) {
        let handles: Vec<JoinHandle<()>> = match self.handles.lock() {
            Ok(mut handles) => handles.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for handle in handles {
            if let Err(err) = handle.await {
                tracing::warn!(error = %err, "worker ended abnormally");
            }
        }
    }
}
