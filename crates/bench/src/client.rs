//! [`Client`]: SigV4-signed requests through the server's request path
//! ([`opentrail_server::dispatch::handle`], what the HTTP listener calls), so that benchmark
//! set-up and calls are authenticated, served and recorded as a real client's are, without a
//! socket in between.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use opentrail_server::AppState;
use serde_json::Value;
use time::OffsetDateTime;

const HOST: &str = "127.0.0.1:4599";
const SIGNING_REGION: &str = "us-east-1";
const CLOUDTRAIL_TARGET: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";
const LOGS_TARGET: &str = "Logs_20140328";
const EVENTS_TARGET: &str = "AWSEvents";
const SQS_TARGET: &str = "AmazonSQS";
const JSON_1_0: &str = "application/x-amz-json-1.0";
const JSON_1_1: &str = "application/x-amz-json-1.1";

/// A client signing with the server's root credentials.
pub struct Client {
    state: Arc<AppState>,
    services: opentrail_server::services::Services,
    credentials: opentrail_api::Credentials,
}

impl Client {
    /// A client of `state`, which must have root credentials (as `ServerConfig::for_tests`
    /// does).
    pub fn new(state: &Arc<AppState>) -> anyhow::Result<Client> {
        let config = &state.config;
        let (Some(access_key_id), Some(secret_access_key)) = (
            config.root_access_key_id.clone(),
            config.root_secret_access_key.clone(),
        ) else {
            anyhow::bail!("the server configuration has no root credentials");
        };
        Ok(Client {
            state: state.clone(),
            services: opentrail_server::services::Services::new(opentrail_server::services::all()),
            credentials: opentrail_api::Credentials {
                access_key_id,
                secret_access_key,
                session_token: None,
            },
        })
    }

    /// Signs and serves one request; the response body of a 2xx answer, else an error with
    /// the status and body.
    pub async fn send(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
        service: &str,
    ) -> anyhow::Result<Bytes> {
        let (mut parts, ()) = request.header("host", HOST).body(())?.into_parts();
        let params = opentrail_api::SigningParams {
            credentials: &self.credentials,
            region: SIGNING_REGION,
            service,
            time: OffsetDateTime::now_utc(),
        };
        opentrail_api::sign_request(&mut parts, &body, &params)?;
        let peer = SocketAddr::from(([127, 0, 0, 1], 50_000));
        let response = opentrail_server::dispatch::handle(
            &self.state,
            &self.services,
            peer,
            parts,
            Bytes::from(body),
        )
        .await;
        let status = response.status();
        let body = response.into_body();
        anyhow::ensure!(
            status.is_success(),
            "{service} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(body)
    }

    /// S3 `CreateBucket`.
    pub async fn create_bucket(&self, name: &str) -> anyhow::Result<()> {
        let request = http::Request::builder()
            .method("PUT")
            .uri(format!("/{name}"));
        self.send(request, Vec::new(), "s3").await.map(|_| ())
    }

    /// One CloudTrail operation (awsJson 1.1).
    pub async fn cloudtrail(&self, operation: &str, input: &Value) -> anyhow::Result<Value> {
        self.json(
            "cloudtrail",
            &format!("{CLOUDTRAIL_TARGET}.{operation}"),
            input,
        )
        .await
    }

    /// One CloudWatch Logs operation (awsJson 1.1).
    pub async fn logs(&self, operation: &str, input: &Value) -> anyhow::Result<Value> {
        self.json("logs", &format!("{LOGS_TARGET}.{operation}"), input)
            .await
    }

    /// One EventBridge operation (awsJson 1.1).
    pub async fn events(&self, operation: &str, input: &Value) -> anyhow::Result<Value> {
        self.json("events", &format!("{EVENTS_TARGET}.{operation}"), input)
            .await
    }

    /// One SQS operation (awsJson 1.0).
    pub async fn sqs(&self, operation: &str, input: &Value) -> anyhow::Result<Value> {
        self.json_as("sqs", JSON_1_0, &format!("{SQS_TARGET}.{operation}"), input)
            .await
    }

    async fn json(&self, service: &str, target: &str, input: &Value) -> anyhow::Result<Value> {
        self.json_as(service, JSON_1_1, target, input).await
    }

    async fn json_as(
        &self,
        service: &str,
        content_type: &str,
        target: &str,
        input: &Value,
    ) -> anyhow::Result<Value> {
        let request = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", content_type)
            .header("x-amz-target", target);
        let body = self
            .send(request, serde_json::to_vec(input)?, service)
            .await?;
        if body.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&body)?)
    }
}
