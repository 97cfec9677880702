//! What every opentrail service shares: the application state that owns every store, the
//! request context and event details of a call, configuration, credentials, the [`Service`]
//! trait the server dispatches to, and the background workers (their trait, registry and the
//! journal follower).
//!
//! Service crates (`opentrail-cloudtrail`, `-messaging`, `-events`, `-monitoring`, `-s3`) build
//! on this crate and never on each other's wiring; the server crate only wires them.
//!
//! # Layout
//! - [`config`]: [`ServerConfig`], read from flags and `OPENTRAIL_*` variables.
//! - [`credentials`]: root credentials, generated on first start and kept in the data directory.
//! - [`access`]: the keys beyond root (installed by the identity service) and the
//!   authorization of every call.
//! - [`state`]: [`AppState`], the owner of the journal, metadata, history, objects and every
//!   service's stores ([`extensions`]).
//! - [`delivery_target`]: where trail delivery writes (the embedded store or an external S3).
//! - [`context`]: [`context::RequestContext`] (who, where, when) and [`context::EventDetails`].
//! - [`service`]: the [`Service`] trait and the [`service::Call`] it answers.
//! - [`pipeline`]: the one request pipeline (operation enum → decode → validate → run →
//!   render → record) that model-driven services answer through ([`pipeline::ApiService`]).
//! - [`render`]: AWS errors in the protocol of the request.
//! - [`recording`]: the intent log and the records waiting for the journal (fail closed).
//! - [`workers`]: the [`workers::Worker`] trait every background loop implements, how one is
//!   started, and [`workers::JournalFollower`], the loop every journal consumer runs in.
//! - [`worker_registry`]: the registry of the workers' statuses and handles (owned by the
//!   state, below it).
//! - [`tags`]: the `{Key, Value}` tags of the JSON services.
//! - [`lane`]: a lower-priority thread for a consumer's CPU-heavy steps.

pub mod access;
pub mod config;
pub mod context;
pub mod credentials;
pub mod delivery_target;
pub mod extensions;
pub mod lane;
pub mod pipeline;
pub mod recording;
pub mod render;
pub mod service;
pub mod state;
pub mod tags;
pub mod worker_registry;
pub mod workers;

pub use config::ServerConfig;
pub use service::{Answer, AnswerFuture, Call, Request, Service};
pub use state::AppState;

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
    #[error("recovering the records of unanswered calls: {0}")]
    Recovery(String),
}
