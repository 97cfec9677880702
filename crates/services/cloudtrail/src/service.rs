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

    /// A member account reads its organization's trails as its own (AWS's shadow trails), and
    /// CloudTrail's delegated administrator changes them as its own; any other change is
    /// refused by the operation itself.
    fn resource_account(
        &self,
        state: &AppState,
        ctx: &RequestContext,
        name: &str,
        resources: &[String],
    ) -> Option<String> {
        let foreign = pipeline::foreign_account(ctx, resources)?;
        let may_change = crate::store::delegated_organization(state, &ctx.account_id).is_some();
        if !self.read_only(name) && !may_change {
            return Some(foreign);
        }
        let Ok(visible) = crate::store::visible_trails(state, &ctx.account_id) else {
            return Some(foreign);
        };
        let shadow = resources.iter().all(|arn| {
            TrailArn::parse(arn).is_some_and(|arn| {
                visible
                    .iter()
                    .any(|trail| trail.is_organization_trail && trail.arn() == arn)
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

    /// The tags of the trail a call names.
    fn resource_tags(
        &self,
        state: &AppState,
        ctx: &RequestContext,
        name: &str,
        input: &Value,
    ) -> Vec<(String, String)> {
        let resources = self.authorization_resources(ctx, name, input);
        let Some(arn) = resources.first().and_then(|arn| TrailArn::parse(arn)) else {
            return Vec::new();
        };
        let key = crate::store::trail_key(&arn.account_id, &arn.region, &arn.name);
        match state
            .meta
            .get::<crate::store::StoredTrail>(crate::store::TRAILS_TABLE, &key)
        {
            Ok(Some(trail)) => trail
                .tags
                .into_iter()
                .map(|tag| (tag.key, tag.value.unwrap_or_default()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// CreateTrail's and AddTags's `TagsList`.
    fn request_tags(&self, name: &str, input: &Value) -> Vec<(String, String)> {
        match name {
            "CreateTrail" | "AddTags" => pipeline::input::tags(input, "TagsList"),
            _ => Vec::new(),
        }
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

#[cfg(test)]
mod tests {
    use opentrail_core::ServerConfig;
    use serde_json::json;

    use super::*;
    use crate::store::{TRAILS_TABLE, tests::trail};
    use crate::tags::Tag;

    #[test]
    fn a_trails_tags_are_the_resource_tags_of_calls_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = AppState::open(ServerConfig::for_tests(dir.path().into())).expect("state");
        let ctx = RequestContext {
            account_id: "123456789012".into(),
            ..RequestContext::for_tests("us-east-1")
        };
        let mut stored = trail("t", "us-east-1", false, 1);
        stored.tags = vec![
            Tag {
                key: "env".into(),
                value: Some("dev".into()),
            },
            Tag {
                key: "bare".into(),
                value: None,
            },
        ];
        state
            .meta
            .put(TRAILS_TABLE, &stored.key(), &stored)
            .expect("put");
        let expected = vec![
            ("env".to_owned(), "dev".to_owned()),
            ("bare".to_owned(), String::new()),
        ];
        let by_name = json!({"Name": "t"});
        assert_eq!(
            CloudTrailApi.resource_tags(&state, &ctx, "StartLogging", &by_name),
            expected
        );
        let by_arn = json!({"ResourceIdList": [], "ResourceId": stored.arn().to_string()});
        assert_eq!(
            CloudTrailApi.resource_tags(&state, &ctx, "AddTags", &by_arn),
            expected
        );
        let other = json!({"Name": "missing"});
        assert!(
            CloudTrailApi
                .resource_tags(&state, &ctx, "StartLogging", &other)
                .is_empty()
        );
    }

    #[test]
    fn tags_list_is_the_request_tags_of_create_trail_and_add_tags() {
        let input = json!({"Name": "t", "TagsList": [{"Key": "team", "Value": "a"}, {"Key": "k"}]});
        let expected = vec![
            ("team".to_owned(), "a".to_owned()),
            ("k".to_owned(), String::new()),
        ];
        assert_eq!(CloudTrailApi.request_tags("CreateTrail", &input), expected);
        assert_eq!(CloudTrailApi.request_tags("AddTags", &input), expected);
        assert!(
            CloudTrailApi
                .request_tags("StartLogging", &input)
                .is_empty()
        );
    }
}
