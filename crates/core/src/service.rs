//! The [`Service`] trait: how an AWS service plugs into the server.
//!
//! The server authenticates a request, finds the service by its SigV4 signing name, hands it
//! a [`Call`], and records the [`EventDetails`] the service reports. A service also starts its
//! background workers and wipes its own stores on a development reset.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http::request::Parts;
use opentrail_api::{Route, Verified};

use crate::AppState;
use crate::context::{EventDetails, RequestContext};

/// One authenticated request, as a service receives it.
pub struct Call<'a> {
    pub state: &'a Arc<AppState>,
    pub ctx: &'a RequestContext,
    pub route: &'a Route,
    pub verified: &'a Verified,
    pub parts: Parts,
    pub body: Bytes,
}

/// A request as it was received, to be read but not run ([`Service::request_details`]).
pub struct Request<'a> {
    pub state: &'a Arc<AppState>,
    pub ctx: &'a RequestContext,
    pub route: &'a Route,
    pub parts: &'a Parts,
    pub body: &'a [u8],
}

/// What a service answers: the response, and the details of the call's record (`None` for
/// calls that are not recorded).
pub type Answer = (Response<Bytes>, Option<EventDetails>);

/// A boxed future of an [`Answer`].
pub type AnswerFuture<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

/// An AWS service served by opentrail.
pub trait Service: Send + Sync + 'static {
    /// The SigV4 signing names it answers (`cloudtrail`, `monitoring`, …).
    fn signing_names(&self) -> &'static [&'static str];

    /// Answers one call.
    fn call<'a>(&'a self, call: Call<'a>) -> AnswerFuture<'a>;

    /// The record details of a call from its request alone, without running it: what is
    /// recorded for a call a crash left unanswered, parsed, shaped and redacted as the
    /// service's own records are. `None` when the request does not decode (the default).
    fn request_details(&self, _request: Request<'_>) -> Option<EventDetails> {
        None
    }

    /// Starts the service's background workers, each a [`crate::workers::Worker`] started by
    /// [`crate::workers::WorkerRegistry::spawn`] on [`AppState::workers`].
    fn spawn_workers(&self, _state: &Arc<AppState>) {}

    /// Wipes the service's own stores (development reset), after the shared ones.
    fn reset(&self, _state: &AppState) {}
}
