//! Monitoring: CloudWatch Logs and CloudWatch metrics and alarms. One crate, because metric
//! filters write the datapoints that alarms watch: both services share the Logs service's
//! metric store.
//!
//! # Layout
//! - [`logs`]: log groups, streams, events, metric and subscription filters, trail → log group.
//! - [`cloudwatch`]: PutMetricData and the metric queries, alarms and their evaluation.
//! - [`LogsService`], [`CloudWatchService`]: the two services as the server dispatches to them.

pub mod cloudwatch;
pub mod logs;

use std::sync::Arc;

use opentrail_core::context::EventDetails;
use opentrail_core::pipeline;
use opentrail_core::{AnswerFuture, AppState, Call, Request, Service};

/// CloudWatch Logs as a [`Service`].
pub struct LogsService;

impl Service for LogsService {
    fn signing_names(&self) -> &'static [&'static str] {
        &["logs"]
    }

    fn call<'a>(&'a self, call: Call<'a>) -> AnswerFuture<'a> {
        Box::pin(pipeline::answer(&logs::Logs, call))
    }

    fn request_details(&self, request: Request<'_>) -> Option<EventDetails> {
        pipeline::request_details(&logs::Logs, request)
    }

    fn spawn_workers(&self, state: &Arc<AppState>) {
        logs::spawn_workers(state);
    }

    fn reset(&self, state: &AppState) {
        logs::reset(state);
    }
}

/// CloudWatch metrics and alarms (signing name `monitoring`) as a [`Service`].
pub struct CloudWatchService;

impl Service for CloudWatchService {
    fn signing_names(&self) -> &'static [&'static str] {
        &["monitoring"]
    }

    fn call<'a>(&'a self, call: Call<'a>) -> AnswerFuture<'a> {
        Box::pin(pipeline::answer(&cloudwatch::CloudWatch, call))
    }

    fn request_details(&self, request: Request<'_>) -> Option<EventDetails> {
        pipeline::request_details(&cloudwatch::CloudWatch, request)
    }

    fn spawn_workers(&self, state: &Arc<AppState>) {
        cloudwatch::spawn_workers(state);
    }
}
