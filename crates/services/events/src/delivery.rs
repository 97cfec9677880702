//! The `events-delivery` worker: sends every pending delivery to its target, at least once.
//!
//! A delivery is durable in `events-pending` before it is queued here, and it leaves that
//! table only after its target took it (or after it went to the dead-letter queue), so a crash
//! at any point means the delivery is attempted again after restart. Failed attempts are
//! retried with exponential backoff (250 ms doubling, at most one minute apart) until the
//! target's `RetryPolicy` runs out (`MaximumRetryAttempts`, default 185;
//! `MaximumEventAgeInSeconds`, default 86,400); errors that cannot heal (a queue or topic that
//! does not exist, an HTTP 4xx) are not retried. Then the event goes to the target's
//! `DeadLetterConfig` queue with the attributes AWS adds (`ERROR_CODE`, `ERROR_MESSAGE`,
//! `EXHAUSTED_RETRY_CONDITION`, `RETRY_ATTEMPTS`, `RULE_ARN`, `TARGET_ARN`), or is dropped with a
//! warning.
//!
//! Targets: SQS queues and SNS topics (through those services' internal entry points), API
//! destinations (HTTP with the connection's API key, basic or OAuth client-credentials auth),
//! and event buses (the event is matched again on the target bus; the new deliveries replace
//! this one in one transaction).
//!
//! [`send_sqs`] and [`route_on_bus`] also serve the CloudWatch Logs subscription filters
//! (`services::logs::subscriptions`), which deliver to the same kinds of destination.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use opentrail_model::Arn;
use serde_json::{Map, Value, json};

use super::connections;
use super::engine::{self, Engine};
use super::ops;
use super::put_events::event_time;
use super::store::{self, Delivery};
use super::transform;
use opentrail_core::AppState;
use opentrail_core::workers::{Worker, WorkerContext, WorkerState};
use opentrail_messaging::{sns, sqs};

const NAME: &str = "events-delivery";
const FIRST_BACKOFF_MS: i64 = 250;
const MAX_BACKOFF_MS: i64 = 60_000;
const DEFAULT_MAX_RETRIES: u64 = 185;
const DEFAULT_MAX_AGE_S: u64 = 86_400;
/// Attempts running at once.
const MAX_IN_FLIGHT: usize = 64;
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why one attempt failed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: String,
    pub message: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
}

impl Failure {
    pub fn new(code: &str, message: impl Into<String>, retryable: bool) -> Failure {
        Failure {
            code: code.to_owned(),
            message: message.into(),
            retryable,
        }
    }
}

pub fn now_ms() -> i64 {
    opentrail_model::time::now_ms()
}

/// The `events-delivery` worker: the dispatcher that starts an attempt for every due
/// delivery (at most `MAX_IN_FLIGHT` at once), until shutdown.
pub struct Dispatcher {
    pub engine: Arc<Engine>,
}

impl Worker for Dispatcher {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(self, ctx: WorkerContext) -> Result<(), String> {
        let state = ctx.state.clone();
        let engine = self.engine;
        let loaded = {
            let state = state.clone();
            tokio::task::spawn_blocking(move || {
                state
                    .meta
                    .list::<Delivery>(store::PENDING, "")
                    .map(|rows| rows.into_iter().map(|(_, d)| d).collect::<Vec<_>>())
            })
            .await
        };
        match loaded {
            Ok(Ok(pending)) => engine.enqueue(pending),
            Ok(Err(err)) => tracing::error!(error = %err, "pending events deliveries do not load"),
            Err(err) => tracing::error!(error = %err, "pending events deliveries do not load"),
        }
        let processed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        while !ctx.stopping() {
            let now = now_ms();
            let (due, next_due) = {
                let mut queue = engine.lock_queue();
                let mut due = Vec::new();
                let mut next_due: Option<i64> = None;
                let room = MAX_IN_FLIGHT.saturating_sub(queue.in_flight.len());
                for delivery in queue.pending.values() {
                    if queue.in_flight.contains(&delivery.id) {
                        continue;
                    }
                    if delivery.next_ms <= now && due.len() < room {
                        due.push(delivery.clone());
                    } else {
                        next_due =
                            Some(next_due.map_or(delivery.next_ms, |n| n.min(delivery.next_ms)));
                    }
                }
                for delivery in &due {
                    queue.in_flight.insert(delivery.id.clone());
                }
                (due, next_due)
            };
            // One task per attempt: an attempt is one send, not a loop of its own.
            for delivery in due {
                let state = state.clone();
                let engine = engine.clone();
                let processed = processed.clone();
                tokio::spawn(async move {
                    attempt(&state, &engine, delivery).await;
                    processed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    engine.notify.notify_one();
                });
            }
            let count = processed.load(std::sync::atomic::Ordering::Relaxed);
            ctx.report(WorkerState::Running, count, None);
            let wait = next_due.map_or(Duration::from_secs(5), |at| {
                Duration::from_millis(at.saturating_sub(now).clamp(1, 5_000) as u64)
            });
            tokio::select! {
                () = engine.notify.notified() => {}
                () = tokio::time::sleep(wait) => {}
                () = ctx.stopped() => {}
            }
        }
        // The final count, which the registry keeps when it marks the worker stopped.
        let count = processed.load(std::sync::atomic::Ordering::Relaxed);
        ctx.report(WorkerState::Running, count, None);
        Ok(())
    }
}

/// One attempt of one delivery, and what follows from its outcome.
async fn attempt(state: &Arc<AppState>, engine: &Arc<Engine>, mut delivery: Delivery) {
    let epoch = engine.epoch();
    let outcome = deliver(state, engine, &delivery).await;
    let now = now_ms();
    let finished = match outcome {
        Ok(()) => true,
        Err(failure) => {
            delivery.attempts += 1;
            let policy = delivery.target.get("RetryPolicy");
            let max_retries = policy
                .and_then(|p| p.get("MaximumRetryAttempts"))
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_MAX_RETRIES);
            let max_age_ms = policy
                .and_then(|p| p.get("MaximumEventAgeInSeconds"))
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_MAX_AGE_S) as i64
                * 1000;
            let backoff = FIRST_BACKOFF_MS
                .saturating_mul(1i64 << (delivery.attempts - 1).min(20))
                .min(MAX_BACKOFF_MS);
            let next_ms = now + backoff;
            let exhausted = if !failure.retryable || u64::from(delivery.attempts) > max_retries {
                Some("MaximumRetryAttemptsExhausted")
            } else if next_ms - delivery.first_ms > max_age_ms {
                Some("MaximumEventAgeExhausted")
            } else {
                None
            };
            match exhausted {
                Some(condition) => {
                    tracing::warn!(rule = %delivery.rule_arn, target = ?delivery.target.get("Arn"), code = %failure.code, error = %failure.message, "events delivery gave up");
                    dead_letter(state, &delivery, &failure, condition).await;
                    true
                }
                None => {
                    tracing::debug!(rule = %delivery.rule_arn, code = %failure.code, error = %failure.message, attempt = delivery.attempts, "events delivery failed; retrying");
                    delivery.next_ms = next_ms;
                    if engine.epoch() == epoch {
                        let meta_state = state.clone();
                        let stored = delivery.clone();
                        let written = tokio::task::spawn_blocking(move || {
                            meta_state.meta.put(store::PENDING, &stored.id, &stored)
                        })
                        .await;
                        if !matches!(written, Ok(Ok(()))) {
                            tracing::warn!("events delivery retry state was not saved");
                        }
                    }
                    false
                }
            }
        }
    };
    if finished && engine.epoch() == epoch {
        let meta_state = state.clone();
        let id = delivery.id.clone();
        let removed =
            tokio::task::spawn_blocking(move || meta_state.meta.delete(store::PENDING, &id)).await;
        if !matches!(removed, Ok(Ok(_))) {
            tracing::warn!("a finished events delivery stays pending; it will be sent again");
        }
    }
    let mut queue = engine.lock_queue();
    queue.in_flight.remove(&delivery.id);
    if engine.epoch() != epoch {
        return;
    }
    if finished {
        queue.pending.remove(&delivery.id);
    } else {
        queue.pending.insert(delivery.id.clone(), delivery);
    }
}

async fn deliver(
    state: &Arc<AppState>,
    engine: &Arc<Engine>,
    delivery: &Delivery,
) -> Result<(), Failure> {
    let arn = delivery
        .target
        .get("Arn")
        .and_then(Value::as_str)
        .unwrap_or("");
    let event: Value = serde_json::from_str(&delivery.event)
        .map_err(|err| Failure::new("INVALID_EVENT", err.to_string(), false))?;
    let Some(Arn {
        service,
        region,
        account,
        resource,
        ..
    }) = Arn::parse(arn)
    else {
        return Err(Failure::new(
            "INVALID_PARAMETER",
            format!("target ARN {arn} is not valid"),
            false,
        ));
    };
    if service == "events" && resource.starts_with("event-bus/") {
        return forward_to_bus(state, engine, delivery, &event, arn).await;
    }
    let context = transform::Context {
        rule_arn: &delivery.rule_arn,
        rule_name: &delivery.rule_name,
        ingestion_time: &event_time(delivery.first_ms),
    };
    let body = transform::input_for(&delivery.target, &event, &context);
    match service {
        "sqs" => {
            let group = delivery
                .target
                .get("SqsParameters")
                .and_then(|p| p.get("MessageGroupId"))
                .and_then(Value::as_str);
            // FIFO queues deduplicate by content, as AWS requires of EventBridge targets: a
            // FIFO queue without content-based deduplication refuses the message.
            send_sqs(state, (region, account, resource), body, Map::new(), group).await
        }
        "sns" => sns::publish::publish_internal(state, &sns::base_url(state), arn, &body, None)
            .await
            .map(|_| ())
            .map_err(|err| match err.aws_code() {
                "NotFound" | "ResourceNotFound" => {
                    Failure::new("RESOURCE_NOT_FOUND", err.to_string(), false)
                }
                _ => Failure::new("SDK_CLIENT_ERROR", err.to_string(), true),
            }),
        "events" if resource.starts_with("api-destination/") => {
            invoke_api_destination(state, delivery, arn, body).await
        }
        _ => Err(Failure::new(
            "UNSUPPORTED_TARGET",
            format!("targets of type {service} are not reached by this server"),
            false,
        )),
    }
}

/// Sends one message into an SQS queue `(region, account, name)`.
pub async fn send_sqs(
    state: &Arc<AppState>,
    (region, account, name): (&str, &str, &str),
    body: String,
    attributes: Map<String, Value>,
    group: Option<&str>,
) -> Result<(), Failure> {
    let sqs_engine = sqs::store::engine_for(state)
        .map_err(|err| Failure::new("SDK_CLIENT_ERROR", err.to_string(), true))?;
    let base_url = sns::base_url(state);
    let call = sqs::ops::Call {
        engine: &sqs_engine,
        account,
        region,
        base_url: base_url.clone(),
        sender_id: account,
        shutdown: state.shutdown.subscribe(),
    };
    let mut input = json!({
        "QueueUrl": format!("{base_url}/{account}/{name}"),
        "MessageBody": body,
    });
    if !attributes.is_empty() {
        input["MessageAttributes"] = Value::Object(attributes);
    }
    if let Some(group) = group {
        input["MessageGroupId"] = json!(group);
    }
    sqs::messages::send_message(&call, &input)
        .await
        .map(|_| ())
        .map_err(|err| match err {
            sqs::SqsError::QueueDoesNotExist => Failure::new(
                "RESOURCE_NOT_FOUND",
                format!("queue {name} does not exist in {account}/{region}"),
                false,
            ),
            sqs::SqsError::Internal => Failure::new("SDK_CLIENT_ERROR", err.to_string(), true),
            other => Failure::new("SDK_CLIENT_ERROR", other.to_string(), false),
        })
}

/// Matches the event again on the bus `arn` names; the deliveries that follow replace this
/// one atomically.
async fn forward_to_bus(
    state: &Arc<AppState>,
    engine: &Arc<Engine>,
    delivery: &Delivery,
    event: &Value,
    arn: &str,
) -> Result<(), Failure> {
    let bus = ops::parse_bus(arn, "", "")
        .map_err(|err| Failure::new("INVALID_PARAMETER", err.to_string(), false))?;
    let routed = route_on_bus(state, engine, bus, event.clone(), Some(delivery.id.clone())).await?;
    if !routed {
        return Err(Failure::new(
            "RESOURCE_NOT_FOUND",
            format!("event bus {arn} does not exist"),
            false,
        ));
    }
    Ok(())
}

/// Puts `event` on `bus`: the deliveries its rules ask for become durable in `events-pending`
/// (in the same transaction that removes the delivery `replaces`, when given) and are queued.
/// `Ok(false)` when the bus does not exist.
pub async fn route_on_bus(
    state: &Arc<AppState>,
    engine: &Arc<Engine>,
    bus: ops::BusRef,
    event: Value,
    replaces: Option<String>,
) -> Result<bool, Failure> {
    let state = state.clone();
    let engine_for_task = engine.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        if !ops::bus_exists(&state.meta, &bus).map_err(|err| err.to_string())? {
            return Ok(None);
        }
        let routed = engine::route(
            &state.meta,
            &engine_for_task,
            (&bus.account, &bus.region, &bus.name),
            &event,
            false,
            now_ms(),
        )
        .map_err(|err| err.to_string())?;
        state
            .meta
            .write(|txn| {
                routed.write(txn)?;
                if let Some(id) = &replaces {
                    txn.delete(store::PENDING, id)?;
                }
                Ok::<_, opentrail_meta::MetaError>(())
            })
            .map_err(|err| err.to_string())?;
        let deliveries = routed.deliveries;
        Ok::<_, String>(Some(deliveries))
    })
    .await
    .map_err(|err| Failure::new("SDK_CLIENT_ERROR", err.to_string(), true))?;
    match outcome {
        Ok(Some(deliveries)) => {
            engine.enqueue(deliveries);
            Ok(true)
        }
        Ok(None) => Ok(false),
        Err(message) => Err(Failure::new("SDK_CLIENT_ERROR", message, true)),
    }
}

/// Calls an API destination with the connection's authorization.
async fn invoke_api_destination(
    state: &Arc<AppState>,
    delivery: &Delivery,
    arn: &str,
    body: String,
) -> Result<(), Failure> {
    let lookup = {
        let state = state.clone();
        let arn = arn.to_owned();
        tokio::task::spawn_blocking(move || {
            let destination = connections::destination_by_arn(&state.meta, &arn)
                .map_err(|err| err.to_string())?;
            let connection = match &destination {
                Some(d) => connections::connection_by_arn(&state.meta, &d.connection_arn)
                    .map_err(|err| err.to_string())?,
                None => None,
            };
            Ok::<_, String>((destination, connection))
        })
        .await
    };
    let (destination, connection) = match lookup {
        Ok(Ok(found)) => found,
        Ok(Err(message)) => return Err(Failure::new("SDK_CLIENT_ERROR", message, true)),
        Err(err) => return Err(Failure::new("SDK_CLIENT_ERROR", err.to_string(), true)),
    };
    let not_found = |what: &str| Failure::new("RESOURCE_NOT_FOUND", what.to_owned(), false);
    let destination =
        destination.ok_or_else(|| not_found(&format!("api destination {arn} does not exist")))?;
    let connection = connection.ok_or_else(|| {
        not_found(&format!(
            "connection {} does not exist",
            destination.connection_arn
        ))
    })?;
    let client = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|err| Failure::new("SDK_CLIENT_ERROR", err.to_string(), true))?;
    let http_parameters = delivery.target.get("HttpParameters");
    let mut url = destination.endpoint.clone();
    if let Some(values) = http_parameters
        .and_then(|p| p.get("PathParameterValues"))
        .and_then(Value::as_array)
    {
        for value in values.iter().filter_map(Value::as_str) {
            url = url.replacen('*', value, 1);
        }
    }
    if !url.contains("://") {
        url = format!("https://{url}");
    }
    let method =
        reqwest::Method::from_bytes(destination.method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut request = client.request(method.clone(), &url);
    let mut query: Vec<(String, String)> = Vec::new();
    let auth = &connection.auth_parameters;
    let pairs = |list: Option<&Value>| -> Vec<(String, String)> {
        list.and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| {
                        Some((
                            item.get("Key")?.as_str()?.to_owned(),
                            item.get("Value")?.as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let map_pairs = |map: Option<&Value>| -> Vec<(String, String)> {
        map.and_then(Value::as_object)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    // The target's parameters first; the connection's win on conflicts, as AWS does.
    for (key, value) in map_pairs(http_parameters.and_then(|p| p.get("HeaderParameters"))) {
        request = request.header(key, value);
    }
    query.extend(map_pairs(
        http_parameters.and_then(|p| p.get("QueryStringParameters")),
    ));
    let invocation = auth.get("InvocationHttpParameters");
    for (key, value) in pairs(invocation.and_then(|p| p.get("HeaderParameters"))) {
        request = request.header(key, value);
    }
    query.extend(pairs(
        invocation.and_then(|p| p.get("QueryStringParameters")),
    ));
    match connection.authorization_type.as_str() {
        "API_KEY" => {
            let params = auth.get("ApiKeyAuthParameters");
            let name = params
                .and_then(|p| p.get("ApiKeyName"))
                .and_then(Value::as_str);
            let value = params
                .and_then(|p| p.get("ApiKeyValue"))
                .and_then(Value::as_str);
            if let (Some(name), Some(value)) = (name, value) {
                request = request.header(name, value);
            }
        }
        "BASIC" => {
            let params = auth.get("BasicAuthParameters");
            let text = |member: &str| {
                params
                    .and_then(|p| p.get(member))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            };
            let token = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                text("Username"),
                text("Password")
            ));
            request = request.header("Authorization", format!("Basic {token}"));
        }
        "OAUTH_CLIENT_CREDENTIALS" => {
            let token = oauth_token(&client, auth.get("OAuthParameters")).await?;
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        _ => {}
    }
    if !query.is_empty() {
        request = request.query(&query);
    }
    if method != reqwest::Method::GET && method != reqwest::Method::HEAD {
        request = request
            .header("Content-Type", "application/json; charset=utf-8")
            .body(body);
    }
    let response = request.send().await.map_err(|err| {
        Failure::new(
            "SDK_CLIENT_ERROR",
            format!("Unable to invoke ApiDestination endpoint: {err}"),
            true,
        )
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    // AWS retries 401, 407, 409, 429 and 5xx; other statuses are final.
    let retryable = status.is_server_error() || matches!(status.as_u16(), 401 | 407 | 409 | 429);
    Err(Failure::new(
        "SDK_CLIENT_ERROR",
        format!(
            "Unable to invoke ApiDestination endpoint: The endpoint responded with a {} status code.",
            status.as_u16()
        ),
        retryable,
    ))
}

/// Fetches an access token with the client-credentials grant.
async fn oauth_token(client: &reqwest::Client, oauth: Option<&Value>) -> Result<String, Failure> {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or("").to_owned();
    let endpoint = text(oauth.and_then(|o| o.get("AuthorizationEndpoint")));
    let client_parameters = oauth.and_then(|o| o.get("ClientParameters"));
    let id = text(client_parameters.and_then(|c| c.get("ClientID")));
    let secret = text(client_parameters.and_then(|c| c.get("ClientSecret")));
    let method = text(oauth.and_then(|o| o.get("HttpMethod")));
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let response = client
        .request(method, &endpoint)
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .map_err(|err| {
            Failure::new(
                "SDK_CLIENT_ERROR",
                format!("OAuth token request failed: {err}"),
                true,
            )
        })?;
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    match body.get("access_token").and_then(Value::as_str) {
        Some(token) if status.is_success() => Ok(token.to_owned()),
        _ => Err(Failure::new(
            "SDK_CLIENT_ERROR",
            format!(
                "OAuth token request answered {} without an access_token",
                status.as_u16()
            ),
            true,
        )),
    }
}

/// Sends the event to the target's dead-letter queue, with AWS's attributes.
async fn dead_letter(
    state: &Arc<AppState>,
    delivery: &Delivery,
    failure: &Failure,
    condition: &str,
) {
    let Some(dlq) = delivery
        .target
        .get("DeadLetterConfig")
        .and_then(|c| c.get("Arn"))
        .and_then(Value::as_str)
    else {
        return;
    };
    let Some(Arn {
        region,
        account,
        resource: name,
        ..
    }) = Arn::of_service(dlq, "sqs")
    else {
        tracing::warn!(dlq, "dead-letter target is not an SQS queue; event dropped");
        return;
    };
    let target_arn = delivery
        .target
        .get("Arn")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut attributes = Map::new();
    let retries = delivery.attempts.saturating_sub(1).to_string();
    for (name, value) in [
        ("ERROR_CODE", failure.code.as_str()),
        ("ERROR_MESSAGE", failure.message.as_str()),
        ("EXHAUSTED_RETRY_CONDITION", condition),
        ("RETRY_ATTEMPTS", retries.as_str()),
        ("RULE_ARN", delivery.rule_arn.as_str()),
        ("TARGET_ARN", target_arn),
    ] {
        attributes.insert(
            name.to_owned(),
            json!({"DataType": "String", "StringValue": value}),
        );
    }
    if let Err(err) = send_sqs(
        state,
        (region, account, name),
        delivery.event.clone(),
        attributes,
        None,
    )
    .await
    {
        tracing::warn!(dlq, error = %err.message, "events dead-letter delivery failed; event dropped");
    }
}
