//! Background loops as named workers, each with a status the CLI and console can show.
//!
//! Every background loop of a server implements [`Worker`]: a name, and a `run` that lasts
//! until shutdown. A service starts its own ([`crate::Service::spawn_workers`]) with one call,
//! [`WorkerRegistry::spawn`], which records the worker's status under its name and keeps its
//! handle, so that [`crate::AppState::shutdown`] (the shutdown signal, then
//! [`WorkerRegistry::join_all`]) waits for it. A worker reports what it is doing
//! through its [`WorkerContext`], which also tells it when to stop; the registry marks it
//! `stopped` (or `failed`, with the reason, when `run` returns an error) once `run` returns.
//! Short tasks a worker starts for single items (one HTTP delivery attempt) are the worker's
//! own business: the loop that owns them is the worker. The registry itself and the statuses
//! live a layer down, in [`crate::worker_registry`] (the state owns the registry, and workers
//! hold the state); they are re-exported here with the rest of the worker API.
//!
//! Every consumer of the journal is a [`JournalFollower`] of a [`JournalConsumer`] (see
//! [`follower`]): reading batches after the consumer's position, waiting for appends, retrying
//! with [`Backoff`], moving the journal cursor and reporting status are written once there.

pub mod follower;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::AppState;

pub use crate::worker_registry::{WorkerRegistry, WorkerState, WorkerStatus};
pub use follower::{JournalConsumer, JournalFollower, Progress};
/// What a [`JournalConsumer`] reads: journal entries and their sequence numbers.
pub use opentrail_journal::{Entry, Seq};

/// A background loop of the server.
pub trait Worker: Send + 'static {
    /// The name its status is shown under (one worker per name in a server).
    fn name(&self) -> &'static str;

    /// Runs until the shutdown signal ([`WorkerContext::stopping`], [`WorkerContext::stopped`]),
    /// reporting its state through `ctx`. An error means the worker cannot run at all (a store
    /// that does not open): it is shown as `failed` with that reason.
    fn run(self, ctx: WorkerContext) -> impl Future<Output = Result<(), String>> + Send;
}

// Spawning is written here, not in `worker_registry`, because a worker's context holds the
// `AppState` that owns the registry.
impl WorkerRegistry {
    /// Starts `worker` on the runtime: records its status (`starting`) and keeps its handle so
    /// that shutdown waits for it.
    pub fn spawn(&self, state: &Arc<AppState>, worker: impl Worker) {
        let name = worker.name();
        self.report(name, WorkerState::Starting, 0, None);
        let ctx = WorkerContext {
            state: state.clone(),
            name,
            shutdown: state.shutdown.subscribe(),
        };
        let state = state.clone();
        let handle = tokio::spawn(async move {
            let outcome = worker.run(ctx).await;
            let processed = state.workers.processed(name);
            match outcome {
                Ok(()) => state
                    .workers
                    .report(name, WorkerState::Stopped, processed, None),
                Err(reason) => {
                    tracing::error!(worker = name, error = reason, "worker cannot run");
                    state
                        .workers
                        .report(name, WorkerState::Failed, processed, Some(reason));
                }
            }
        });
        self.keep(handle);
    }
}

/// What a running worker has: the state, its name, and the shutdown signal.
pub struct WorkerContext {
    pub state: Arc<AppState>,
    name: &'static str,
    shutdown: watch::Receiver<bool>,
}

impl WorkerContext {
    /// The worker's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Sets the worker's status.
    pub fn report(&self, state: WorkerState, processed: u64, last_error: Option<String>) {
        self.state
            .workers
            .report(self.name, state, processed, last_error);
    }

    /// Whether shutdown was signalled.
    pub fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once shutdown is signalled (at once if it was already).
    pub async fn stopped(&self) {
        let mut shutdown = self.shutdown.clone();
        // The sender lives in the state this context holds, so this ends only on the signal.
        let _ = shutdown.wait_for(|stop| *stop).await;
    }

    /// Sleeps for `duration`, or less if shutdown is signalled; `false` when it was.
    pub async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration) => true,
            () = self.stopped() => false,
        }
    }

    /// A receiver of the shutdown signal, for tasks the worker starts.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }
}

/// Waits between retries: `first`, doubled after each failure up to `max`, back to `first`
/// after a success.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Waits starting at `first`, doubling, at most `max`.
    pub const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The same wait after every failure.
    pub const fn constant(wait: Duration) -> Backoff {
        Backoff::new(wait, wait)
    }

    /// The wait after a failure; the one after the next failure is twice as long.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next.min(self.max);
        self.next = wait.saturating_mul(2).min(self.max);
        wait
    }

    /// Starts again from the first wait (after a success).
    pub fn succeeded(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ServerConfig;

    pub(crate) async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(crate) fn status(state: &AppState, name: &str) -> Option<(WorkerState, u64)> {
        state
            .workers
            .statuses()
            .into_iter()
            .find(|status| status.name == name)
            .map(|status| (status.state, status.processed))
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_restarts_after_a_success() {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(1));
        let waits: Vec<u128> = (0..4).map(|_| backoff.failed().as_millis()).collect();
        assert_eq!(waits, vec![250, 500, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_millis(250));
        let mut constant = Backoff::constant(Duration::from_secs(1));
        assert_eq!(constant.failed(), constant.failed());
    }

    struct Refusing;

    impl Worker for Refusing {
        fn name(&self) -> &'static str {
            "refusing"
        }

        async fn run(self, _ctx: WorkerContext) -> Result<(), String> {
            Err("its store does not open".into())
        }
    }

    struct Waiting;

    impl Worker for Waiting {
        fn name(&self) -> &'static str {
            "waiting"
        }

        async fn run(self, ctx: WorkerContext) -> Result<(), String> {
            ctx.report(WorkerState::Running, 3, None);
            ctx.stopped().await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn spawned_workers_show_their_status_and_shutdown_waits_for_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state =
            Arc::new(AppState::open(ServerConfig::for_tests(dir.path().into())).expect("state"));
        state.workers.spawn(&state, Refusing);
        state.workers.spawn(&state, Waiting);
        wait_until("running", || {
            status(&state, "waiting") == Some((WorkerState::Running, 3))
        })
        .await;
        state.shutdown().await;
        assert_eq!(status(&state, "waiting"), Some((WorkerState::Stopped, 3)));
        let refusing = state
            .workers
            .statuses()
            .into_iter()
            .find(|status| status.name == "refusing")
            .expect("registered");
        assert_eq!(refusing.state, WorkerState::Failed);
        assert_eq!(
            refusing.last_error.as_deref(),
            Some("its store does not open")
        );
    }
}
