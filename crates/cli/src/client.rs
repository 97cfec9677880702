//! The CLI's one SigV4 client: where a server is, the caller's credentials, and one signed
//! HTTP call that answers JSON. `opentrail import`, `lookup` and `validate-logs` use it.
//!
//! [`Client::from_env`] takes the endpoint from `--endpoint-url`, else `AWS_ENDPOINT_URL`, else
//! `http://127.0.0.1:4599`; the region from `--region`, else `AWS_REGION`, else
//! `AWS_DEFAULT_REGION`, else `us-east-1`; credentials ([`credentials_from_env`]) from
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.

use std::time::Duration;

use opentrail_api::{Credentials, SigningParams, sign_request};
use serde_json::Value;
use time::OffsetDateTime;

/// The endpoint used when neither `--endpoint-url` nor `AWS_ENDPOINT_URL` is set.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4599";
const DEFAULT_REGION: &str = "us-east-1";

/// Why a call could not be made or was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error("could not connect to the endpoint url {url:?}: {message}")]
    Unreachable { url: String, message: String },
    /// The server answered with an AWS error.
    #[error("the server refused the call ({code}, HTTP {status}): {message}")]
    Service {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the server's answer (HTTP {status}) is not json: {message}")]
    BadAnswer { status: u16, message: String },
}

impl ClientError {
    /// Whether trying again later may succeed (the server is down or failed inside).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } => true,
            ClientError::Service { status, .. } | ClientError::BadAnswer { status, .. } => {
                *status >= 500
            }
            ClientError::Usage(_) => false,
        }
    }
}

/// A signed JSON client of one opentrail server.
pub struct Client {
    http: reqwest::blocking::Client,
    credentials: Credentials,
    region: String,
    endpoint: String,
}

/// The value of an environment variable, `None` when unset or empty.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The caller's credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN`.
pub fn credentials_from_env() -> Result<Credentials, ClientError> {
    let missing = || {
        ClientError::Usage(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)"
                .to_owned(),
        )
    };
    Ok(Credentials {
        access_key_id: env("AWS_ACCESS_KEY_ID").ok_or_else(missing)?,
        secret_access_key: env("AWS_SECRET_ACCESS_KEY").ok_or_else(missing)?,
        session_token: env("AWS_SESSION_TOKEN"),
    })
}

impl Client {
    /// A client for `endpoint` / `region` (each falling back to the environment).
    pub fn from_env(
        endpoint: Option<&str>,
        region: Option<&str>,
        command: &str,
    ) -> Result<Client, ClientError> {
        let credentials = credentials_from_env()?;
        let region = region
            .map(str::to_owned)
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let endpoint = endpoint
            .map(str::to_owned)
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        Client::new(&endpoint, region, credentials, command)
    }

    /// A client of `endpoint`, signing for `region` with `credentials`; `command` goes into
    /// the user agent.
    pub fn new(
        endpoint: &str,
        region: String,
        credentials: Credentials,
        command: &str,
    ) -> Result<Client, ClientError> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(ClientError::Usage(format!(
                "invalid endpoint url {endpoint:?}: expected http://HOST:PORT or https://HOST"
            )));
        }
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(16)
            .user_agent(format!("opentrail/{} {command}", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ClientError::Usage(format!("creating the http client: {err}")))?;
        Ok(Client {
            http,
            credentials,
            region,
            endpoint,
        })
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The endpoint URL (no trailing `/`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Calls awsJson 1.1 operation `<target_prefix>.<operation>` with `input`, signed for
    /// `service`; returns the JSON answer.
    pub fn call_json(
        &self,
        service: &str,
        target_prefix: &str,
        operation: &str,
        input: &Value,
    ) -> Result<Value, ClientError> {
        let body = serde_json::to_vec(input)
            .map_err(|err| ClientError::Usage(format!("encoding {operation}: {err}")))?;
        let target = format!("{target_prefix}.{operation}");
        self.post_json(
            service,
            "/",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", &target),
            ],
            body,
        )
    }

    /// POSTs `body` to `path_and_query`, signed for `service`, with extra `headers`; returns
    /// the JSON answer of a 2xx response, the AWS error of any other.
    pub fn post_json(
        &self,
        service: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path_and_query}", self.endpoint);
        let mut builder = http::Request::builder().method("POST").uri(url.as_str());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (mut parts, ()) = builder
            .body(())
            .map_err(|err| ClientError::Usage(format!("invalid request to {url:?}: {err}")))?
            .into_parts();
        let params = SigningParams {
            credentials: &self.credentials,
            region: &self.region,
            service,
            time: OffsetDateTime::now_utc(),
        };
        sign_request(&mut parts, &body, &params)
            .map_err(|err| ClientError::Usage(format!("signing the request: {err}")))?;
        let response = self
            .http
            .post(url.as_str())
            .headers(parts.headers)
            .body(body)
            .send()
            .map_err(|err| ClientError::Unreachable {
                url: url.clone(),
                message: error_chain(&err),
            })?;
        let status = response.status().as_u16();
        let bytes = response.bytes().map_err(|err| ClientError::Unreachable {
            url: url.clone(),
            message: format!("reading the answer: {}", error_chain(&err)),
        })?;
        let answer: Value = if bytes.is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(&bytes).map_err(|err| ClientError::BadAnswer {
                status,
                message: err.to_string(),
            })?
        };
        if !(200..300).contains(&status) {
            let code = answer
                .get("__type")
                .and_then(Value::as_str)
                .map(|code| code.rsplit('#').next().unwrap_or(code).to_owned())
                .unwrap_or_else(|| format!("HTTP {status}"));
            let message = answer
                .get("message")
                .or_else(|| answer.get("Message"))
                .and_then(Value::as_str)
                .unwrap_or("no message")
                .to_owned();
            return Err(ClientError::Service {
                status,
                code,
                message,
            });
        }
        Ok(answer)
    }
}

/// An error and its causes, joined (reqwest hides the useful part in the source chain).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
