//! The opentrail server: every AWS service on one listener, the recorder that turns each call
//! into a CloudTrail record, and the consumers that follow the journal.
//!
//! A request travels `http` → [`dispatch`] (SigV4, route) → the [`opentrail_core::Service`]
//! of its signing name (one crate per service, listed in [`services`]) → [`recorder`] (one
//! record appended to the journal, durable before the response leaves). Each service starts
//! its own workers, which follow the journal with their own cursors. This crate is wiring
//! only: state, services and workers live below it.
//!
//! # Layout
//! - [`http`]: the axum router: health, development reset, and the catch-all AWS endpoint.
//! - [`dispatch`]: authenticate a request, pick its service, record it, answer it.
//! - [`intents`]: fail closed — admission, the intent of each call, recovery after a crash.
//! - [`recorder`]: builds the CloudTrail record of a call and appends it to the journal.
//! - [`services`]: the services this server offers.

pub mod access;
pub mod dispatch;
pub mod http;
pub mod intents;
pub mod recorder;
pub mod services;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use opentrail_core::{AppState, ServerConfig, ServerError};

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

/// Opens the data directory and starts the workers; the returned state serves requests.
pub async fn start(config: ServerConfig) -> Result<Arc<AppState>, ServerError> {
    disable_transparent_huge_pages();
    let state = Arc::new(AppState::open(config)?);
    access::install(&state);
    let candidates = state.recording.take_recovered();
    let recovering = state.clone();
    tokio::task::spawn_blocking(move || {
        let services = services::Services::new(services::all());
        intents::recover(&services, &recovering, candidates)
    })
    .await
    .map_err(|err| ServerError::Recovery(format!("the recovery task failed: {err}")))?
    .map_err(ServerError::Recovery)?;
    state.workers.spawn(&state, intents::Recorder);
    for service in services::all() {
        service.spawn_workers(&state);
    }
    Ok(state)
}

/// Serves requests on `listener` until `shutdown` resolves, then stops the workers and flushes.
pub async fn run(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let services = Arc::new(services::Services::new(services::all()));
    let app = http::router(state.clone(), services);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    state.shutdown().await;
    Ok(())
}
