//! The opentrail server: every AWS service on one listener, the recorder that turns each call
//! into a CloudTrail record, and the consumers that follow the journal.
//!
//! A request travels `http` → [`dispatch`] (SigV4, route) → a service in [`services`] →
//! [`recorder`] (one record appended to the journal, durable before the response leaves).
//! Consumers in [`workers`] follow the journal with their own cursors.
//!
//! # Layout
//! - [`config`]: [`ServerConfig`], read from flags and `OPENTRAIL_*` variables.
//! - [`credentials`]: root credentials, generated on first start and kept in the data directory.
//! - [`state`]: [`AppState`], what every handler shares (metadata, journal, history, objects).
//! - [`delivery_target`]: where trail delivery writes (the embedded store or an external S3).
//! - [`http`]: the axum router: health, development reset, and the catch-all AWS endpoint.
//! - [`dispatch`]: authenticate a request, pick its service, record it, answer it.
//! - [`context`]: [`context::RequestContext`] (who, where, when) and [`context::EventDetails`].
//! - [`recorder`]: builds the CloudTrail record of a call and appends it to the journal.
//! - [`services`]: CloudTrail, S3, … — one module per AWS service.
//! - [`workers`]: named background loops (the history indexer, retention) with a status.

pub mod config;
pub mod context;
pub mod credentials;
pub mod delivery_target;
pub mod dispatch;
pub mod http;
pub mod recorder;
pub mod services;
pub mod state;
pub mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use config::ServerConfig;
pub use state::AppState;

/// mimalloc serves every allocation of a process that links the server (the `opentrail`
/// binary, its tests and the benchmarks). Request handling and the journal consumers allocate
/// many short-lived strings and JSON values per record; with the system allocator, malloc and
/// free took about a fifth of the CPU of the ingest benchmark.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process (Linux `PR_SET_THP_DISABLE`; children
/// inherit it). Where THP is `always`, every fresh 2 MiB region mimalloc touches is faulted in
/// as one huge page the kernel zeroes whole, and mimalloc gives freed memory back to the OS
/// after 10 ms, so a busy server keeps zeroing pages it barely uses: a fifth of the server's CPU
/// in the import benchmark (`clear_page_erms`), 3 % with THP off. Called by [`start`] and by
/// the `opentrail` binary before anything else; a kernel that refuses only costs that CPU.
pub fn disable_transparent_huge_pages() {
    if let Err(err) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(error = %err, "transparent huge pages stay on");
    }
}

/// Failures while starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("journal: {0}")]
    Journal(#[from] opentrail_journal::JournalError),
    #[error("history index: {0}")]
    History(#[from] opentrail_history::HistoryError),
    #[error("metadata store: {0}")]
    Meta(#[from] opentrail_meta::MetaError),
    #[error("object store: {0}")]
    Objects(String),
}

/// Opens the data directory and starts the workers; the returned state serves requests.
pub async fn start(config: ServerConfig) -> Result<Arc<AppState>, ServerError> {
    disable_transparent_huge_pages();
    let state = Arc::new(AppState::open(config)?);
    workers::spawn_all(state.clone());
    Ok(state)
}

/// Serves requests on `listener` until `shutdown` resolves, then stops the workers and flushes.
pub async fn run(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let app = http::router(state.clone());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    state.shutdown().await;
    Ok(())
}
