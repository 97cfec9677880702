//! CloudTrail and the ingest API as [`Service`]s. CloudTrail answers through the request
//! pipeline ([`CloudTrailApi`]): the awsJson 1.1 request of an [`Operation`] is parsed,
//! prechecked (CloudTrail's own error codes), validated against the botocore model, run and
//! recorded.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use opentrail_api::{ApiError, EmbeddedModel, Route};
use opentrail_core::context::{EventDetails, RequestContext};
use opentrail_core::pipeline::{self, ApiService};
use opentrail_core::{AnswerFuture, AppState, Call, Request, Service};
use opentrail_model::Resource;
use serde_json::Value;

use crate::validate::TrailArn;
use crate::{CloudTrailError, Operation, workers};

/// CloudTrail in the request pipeline.
pub struct CloudTrailApi;

impl ApiService for CloudTrailApi {
    type Op = Operation;
    type Input = Value;
    type Output = Value;
    type Error = ApiError;

    const MODEL: EmbeddedModel = EmbeddedModel::Cloudtrail;
    const EVENT_SOURCE: &'static str = crate::EVENT_SOURCE;

    fn unknown_operation(&self, name: &str) -> ApiError {
        ApiError::client(
            "UnknownOperationException",
            format!("operation {name:?} is not a CloudTrail operation"),
        )
    }

    fn unsupported(&self, name: &str) -> ApiError {
        CloudTrailError::Unsupported(format!("{name} is not supported by this server yet")).into()
    }

    fn read_only(&self, name: &str) -> bool {
        crate::is_read_only(name)
    }

    fn decode(&self, _name: &str, request: &Request<'_>) -> Result<Value, ApiError> {
        pipeline::json_input(request)
    }

    fn validate(&self, ctx: &RequestContext, name: &str, input: &Value) -> Result<(), ApiError> {
        crate::precheck(ctx, name, input)?;
        pipeline::validate_model(Self::MODEL, name, input)
    }

    async fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        ctx: &'a RequestContext,
        op: Operation,
        input: &'a Value,
    ) -> Result<Value, ApiError> {
        crate::handle(state, ctx, op, input).await
    }

    fn render(
        &self,
        route: &Route,
        _name: &str,
        output: &Value,
        request_id: &str,
    ) -> Response<Bytes> {
        opentrail_api::json_response(http::StatusCode::OK, output, request_id, route.protocol)
    }

    fn recorded_input(&self, _name: &str, input: &Value) -> Value {
        input.clone()
    }

    fn recorded_output(&self, _name: &str, output: &Value) -> Value {
        output.clone()
    }

    /// The trail a call acted on, when its ARN is in the response or was given.
    fn resources(
        &self,
        _ctx: &RequestContext,
        name: &str,
        input: &Value,
        output: Option<&Value>,
    ) -> Vec<Resource> {
        crate::trail_resources(name, input, output)
    }

    /// A member account reads its organization's trails as its own (AWS's shadow trails);
    /// changing them is refused by the operation itself.
    fn resource_account(
        &self,
        state: &AppState,
        ctx: &RequestContext,
        name: &str,
        resources: &[String],
    ) -> Option<String> {
        let foreign = pipeline::foreign_account(ctx, resources)?;
        let shadow = self.read_only(name)
            && resources.iter().all(|arn| {
                TrailArn::parse(arn).is_some_and(|arn| {
                    crate::store::visible_trails(state, &ctx.account_id).is_ok_and(|trails| {
                        trails.iter().any(|trail| {
                            trail.is_organization_trail
                                && trail.arn().to_string() == arn.to_string()
                        })
                    })
                })
            });
        (!shadow).then_some(foreign)
    }

    /// The trail a call names, by ARN or by name (a name is the caller's trail in its region,
    /// as IAM sees `cloudtrail:…` on `arn:aws:cloudtrail:<region>:<account>:trail/<name>`).
    fn authorization_resources(
        &self,
        ctx: &RequestContext,
        name: &str,
        input: &Value,
    ) -> Vec<String> {
        let named = crate::trail_resources(name, input, None)
            .into_iter()
            .find_map(|resource| resource.arn)
            .or_else(|| {
                let given = ["Name", "TrailName"]
                    .iter()
                    .find_map(|key| input.get(*key).and_then(Value::as_str))?;
                crate::names_a_trail(name)
                    .then(|| TrailArn::new(&ctx.region, &ctx.account_id, given).to_string())
            });
        vec![named.unwrap_or_else(|| "*".to_owned())]
    }
}

/// CloudTrail (`cloudtrail`), with the history, retention and delivery workers.
pub struct CloudTrailService;

impl Service for CloudTrailService {
    fn signing_names(&self) -> &'static [&'static str] {
        &["cloudtrail"]
    }

    fn call<'a>(&'a self, call: Call<'a>) -> AnswerFuture<'a> {
        Box::pin(pipeline::answer(&CloudTrailApi, call))
    }

    fn request_details(&self, request: Request<'_>) -> Option<EventDetails> {
        pipeline::request_details(&CloudTrailApi, request)
    }

    fn spawn_workers(&self, state: &Arc<AppState>) {
        workers::spawn_all(state);
    }
}

/// The ingest API (`cloudtrail-data` PutAuditEvents).
pub struct IngestService;

impl Service for IngestService {
    fn signing_names(&self) -> &'static [&'static str] {
        &["cloudtrail-data"]
    }

    fn call<'a>(&'a self, call: Call<'a>) -> AnswerFuture<'a> {
        Box::pin(crate::ingest::handle(
            call.state, call.ctx, call.route, call.parts, call.body,
        ))
    }
}
