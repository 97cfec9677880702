//! Background loops as named workers, each with a status the CLI and console can show.
//! Each service starts its own ([`crate::Service::spawn_workers`]) and adds their handles to
//! the [`WorkerRegistry`], so that shutdown waits for them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use tokio::task::JoinHandle;

/// What a worker is doing.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStatus {
    pub name: String,
    pub state: String,
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
    pub fn report(&self, name: &str, state: &str, processed: u64, last_error: Option<String>) {
        let status = WorkerStatus {
            name: name.to_owned(),
            state: state.to_owned(),
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

    /// Keeps `handle` so that shutdown waits for it.
    pub fn add(&self, handle: JoinHandle<()>) {
        if let Ok(mut handles) = self.handles.lock() {
            handles.push(handle);
        }
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
