//! Messaging: SQS queues and SNS topics. One crate, because SNS delivers into SQS queues
//! through the SQS engine in the same durable step as the publish.
//!
//! # Layout
//! - [`sqs`]: queues and messages (awsJson 1.0 and awsQuery), a durable in-memory engine.
//! - [`sns`]: topics, subscriptions, filter policies, signed HTTP(S) delivery (awsQuery).
//! - [`SqsService`], [`SnsService`]: the two services as the server dispatches to them, and
//!   their workers: `sqs-snapshots` ([`sqs::store::SnapshotWorker`]) and `sns-http`
//!   ([`sns::delivery::HttpDelivery`]).

pub mod sns;
pub mod sqs;

use std::sync::Arc;

use opentrail_core::context::EventDetails;
use opentrail_core::pipeline;
use opentrail_core::{AnswerFuture, AppState, Call, Request, Service};

/// SQS as a [`Service`].
pub struct SqsService;

impl Service for SqsService {
    fn signing_names(&self) -> &'static [&'static str] {
        &["sqs"]
    }

    fn call<'a>(&'a self, call: Call<'a>) -> AnswerFuture<'a> {
        Box::pin(pipeline::answer(&sqs::Sqs, call))
    }

    fn request_details(&self, request: Request<'_>) -> Option<EventDetails> {
        pipeline::request_details(&sqs::Sqs, request)
    }

    fn spawn_workers(&self, state: &Arc<AppState>) {
        state.workers.spawn(state, sqs::store::SnapshotWorker);
    }

    fn reset(&self, state: &AppState) {
        sqs::reset(state);
    }
}

/// SNS as a [`Service`].
pub struct SnsService;

impl Service for SnsService {
    fn signing_names(&self) -> &'static [&'static str] {
        &["sns"]
    }

    fn call<'a>(&'a self, call: Call<'a>) -> AnswerFuture<'a> {
        Box::pin(pipeline::answer(&sns::Sns, call))
    }

    fn request_details(&self, request: Request<'_>) -> Option<EventDetails> {
        pipeline::request_details(&sns::Sns, request)
    }

    fn spawn_workers(&self, state: &Arc<AppState>) {
        state.workers.spawn(state, sns::delivery::HttpDelivery);
    }
}
