//! Delivery to subscribers: into SQS queues (`deliver_sqs`, through the SQS engine, durable
//! when it returns) and to a subscription's dead-letter queue (`redrive`); HTTP(S) delivery,
//! a POST of the envelope (or the raw message) with SNS's headers, retried with exponential
//! backoff (at most [`ATTEMPTS`] tries); and the `SubscriptionConfirmation` handshake of new
//! HTTP(S) subscriptions.
//!
//! Calls queue their POSTs ([`queue_post`]); the `sns-http` worker ([`HttpDelivery`]) takes
//! them and runs each message's tries as a task of its own, counts the messages delivered and
//! given up in its status, and at shutdown stops the tries still under way.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use opentrail_model::Arn;
use serde_json::{Map, Value, json};

use super::Call;
use super::message::{self, Outgoing, timestamp_now};
use super::store::{Subscription, Topic};
use crate::sqs;
use opentrail_core::AppState;
use opentrail_core::workers::{Worker, WorkerContext, WorkerState};

/// How many times one message is tried before it is dropped.
pub const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_secs(15);

/// The `x-amz-sns-*` headers of one POST.
#[derive(Debug, Clone)]
pub struct Headers {
    pub message_type: &'static str,
    pub message_id: String,
    pub topic_arn: String,
    pub subscription_arn: Option<String>,
    pub raw: bool,
}

fn client() -> Option<&'static reqwest::Client> {
    static CLIENT: std::sync::OnceLock<Option<reqwest::Client>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(TIMEOUT)
                .user_agent("Amazon Simple Notification Service Agent")
                .build()
                .map_err(|err| tracing::error!(error = %err, "sns http client does not build"))
                .ok()
        })
        .as_ref()
}

async fn post_once(url: &str, headers: &Headers, body: &str) -> Result<(), String> {
    let client = client().ok_or("no http client")?;
    let mut request = client
        .post(url)
        .header("content-type", "text/plain; charset=UTF-8")
        .header("x-amz-sns-message-type", headers.message_type)
        .header("x-amz-sns-message-id", &headers.message_id)
        .header("x-amz-sns-topic-arn", &headers.topic_arn)
        .body(body.to_owned());
    if let Some(arn) = &headers.subscription_arn {
        request = request.header("x-amz-sns-subscription-arn", arn);
    }
    if headers.raw {
        request = request.header("x-amz-sns-rawdelivery", "true");
    }
    let response = request.send().await.map_err(|err| err.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("endpoint answered {}", response.status()))
    }
}

/// What a notification that exhausted its retries needs to go to its subscription's
/// dead-letter queue: the subscription, the message and the base URL.
pub type DeadLetter = (Subscription, Outgoing, String);

/// One message for an HTTP(S) endpoint.
struct Post {
    url: String,
    headers: Headers,
    body: String,
    dead_letter: Option<DeadLetter>,
}

/// The queue from calls to the `sns-http` worker (one per server, in its extensions).
struct Posts {
    queue: mpsc::UnboundedSender<Post>,
    /// Taken by the worker when it starts.
    taken: Mutex<Option<mpsc::UnboundedReceiver<Post>>>,
}

impl Default for Posts {
    fn default() -> Posts {
        let (queue, taken) = mpsc::unbounded_channel();
        Posts {
            queue,
            taken: Mutex::new(Some(taken)),
        }
    }
}

/// Queues `body` for a POST to `url` by the `sns-http` worker, which retries failures with
/// backoff; a message that never gets through goes to `dead_letter`'s queue when its
/// subscription has one.
pub fn queue_post(
    state: &Arc<AppState>,
    url: String,
    headers: Headers,
    body: String,
    dead_letter: Option<DeadLetter>,
) {
    let post = Post {
        url,
        headers,
        body,
        dead_letter,
    };
    // The receiver lives as long as the state (in the worker, or waiting for it).
    let _ = state
        .extensions
        .get_or_init(Posts::default)
        .queue
        .send(post);
}

/// The `sns-http` worker: delivers the queued POSTs, each message's tries in a task of its
/// own, until shutdown.
pub struct HttpDelivery;

impl Worker for HttpDelivery {
    fn name(&self) -> &'static str {
        "sns-http"
    }

    async fn run(self, ctx: WorkerContext) -> Result<(), String> {
        let posts = ctx.state.extensions.get_or_init(Posts::default);
        let mut queue = posts
            .taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or("the queue of posts was taken by another worker")?;
        let mut tries = JoinSet::new();
        let mut finished = 0u64;
        let mut last_error = None;
        loop {
            let doing = if tries.is_empty() {
                WorkerState::Idle
            } else {
                WorkerState::Running
            };
            ctx.report(doing, finished, last_error.clone());
            tokio::select! {
                post = queue.recv() => {
                    let Some(post) = post else { break };
                    tries.spawn(deliver(ctx.state.clone(), ctx.shutdown_signal(), post));
                }
                Some(outcome) = tries.join_next() => {
                    finished += 1;
                    match outcome {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => last_error = Some(error),
                        Err(err) => last_error = Some(err.to_string()),
                    }
                }
                () = ctx.stopped() => break,
            }
        }
        tries.shutdown().await;
        Ok(())
    }
}

/// Tries one message, with backoff between tries; after the last, sends it to its
/// dead-letter queue if it has one. A failure names the endpoint and its last error.
async fn deliver(
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
    post: Post,
) -> Result<(), String> {
    let Post {
        url,
        headers,
        body,
        dead_letter,
    } = post;
    let mut backoff = FIRST_BACKOFF;
    let mut last_error = String::new();
    for attempt in 1..=ATTEMPTS {
        match post_once(&url, &headers, &body).await {
            Ok(()) => return Ok(()),
            Err(err) => {
                tracing::debug!(url, attempt, error = %err, "sns http delivery failed");
                last_error = err;
            }
        }
        if attempt == ATTEMPTS {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
        backoff *= 2;
    }
    tracing::warn!(url, message_id = %headers.message_id, "sns http delivery gave up");
    if let Some((sub, outgoing, base_url)) = dead_letter {
        redrive(&state, &base_url, &sub, &outgoing).await;
    }
    Err(format!("{url}: {last_error}"))
}

/// The `SubscribeURL` of a pending subscription (served by [`super::public`]).
pub fn subscribe_url(base_url: &str, topic_arn: &str, token: &str) -> String {
    format!(
        "{base_url}/_opentrail/sns/confirm?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}"
    )
}

/// Sends the `SubscriptionConfirmation` message of a new HTTP(S) subscription.
pub fn send_confirmation(call: &Call<'_>, topic: &Topic, sub: &Subscription) {
    let mut envelope = Map::new();
    envelope.insert("Type".into(), json!("SubscriptionConfirmation"));
    envelope.insert("MessageId".into(), json!(uuid::Uuid::new_v4().to_string()));
    envelope.insert("Token".into(), json!(sub.token));
    envelope.insert("TopicArn".into(), json!(topic.arn));
    envelope.insert(
        "Message".into(),
        json!(format!(
            "You have chosen to subscribe to the topic {}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
            topic.arn
        )),
    );
    envelope.insert(
        "SubscribeURL".into(),
        json!(subscribe_url(&call.base_url, &topic.arn, &sub.token)),
    );
    envelope.insert("Timestamp".into(), json!(timestamp_now()));
    let version = topic
        .attributes
        .get("SignatureVersion")
        .map_or("1", String::as_str);
    super::sign::sign_envelope(call.state, &call.base_url, version, &mut envelope, None);
    let headers = Headers {
        message_type: "SubscriptionConfirmation",
        message_id: envelope["MessageId"].as_str().unwrap_or("").to_owned(),
        topic_arn: topic.arn.clone(),
        subscription_arn: None,
        raw: false,
    };
    queue_post(
        call.state,
        sub.endpoint.clone(),
        headers,
        serde_json::Value::Object(envelope).to_string(),
        None,
    );
}

/// `(region, account, name)` of an SQS queue ARN.
fn queue_of(arn: &str) -> Option<(&str, &str, &str)> {
    let arn = Arn::of_service(arn, "sqs")?;
    Some((arn.region, arn.account, arn.resource))
}

/// Sends one message into the queue of an `sqs` subscription; durable when it returns.
pub(super) async fn deliver_sqs(
    state: &AppState,
    base_url: &str,
    sub: &Subscription,
    outgoing: &Outgoing,
) -> Result<(), String> {
    let (region, account, name) =
        queue_of(&sub.endpoint).ok_or_else(|| format!("not a queue arn: {}", sub.endpoint))?;
    let engine = sqs::store::engine_for(state).map_err(|e| e.to_string())?;
    let mut input = Map::new();
    input.insert("QueueUrl".into(), json!(name));
    if sub.raw() {
        input.insert(
            "MessageBody".into(),
            json!(outgoing.message_for(&sub.protocol)),
        );
        let attributes: Map<String, Value> = outgoing
            .attributes
            .iter()
            .map(|(name, attribute)| {
                let mut value = Map::new();
                value.insert("DataType".into(), json!(attribute.data_type));
                if let Some(text) = &attribute.string_value {
                    value.insert("StringValue".into(), json!(text));
                }
                if let Some(binary) = &attribute.binary_value {
                    value.insert("BinaryValue".into(), json!(binary));
                }
                (name.clone(), Value::Object(value))
            })
            .collect();
        if !attributes.is_empty() {
            input.insert("MessageAttributes".into(), Value::Object(attributes));
        }
    } else {
        input.insert(
            "MessageBody".into(),
            json!(message::envelope(state, base_url, sub, outgoing).to_string()),
        );
    }
    if let Some(group) = &outgoing.group_id {
        input.insert("MessageGroupId".into(), json!(group));
    }
    if let Some(dedup) = &outgoing.dedup_id {
        input.insert("MessageDeduplicationId".into(), json!(dedup));
    }
    let call = sqs::ops::Call {
        engine: &engine,
        account,
        region,
        base_url: base_url.to_owned(),
        sender_id: account,
        shutdown: state.shutdown.subscribe(),
    };
    sqs::messages::send_message(&call, &Value::Object(input))
        .await
        .map(|_| ())
        .map_err(|err| err.to_string())
}

/// Sends a message its subscription's queue did not take to the subscription's dead-letter
/// queue (`RedrivePolicy.deadLetterTargetArn`), in the subscription's format.
pub(super) async fn redrive(
    state: &AppState,
    base_url: &str,
    sub: &Subscription,
    outgoing: &Outgoing,
) {
    let Some(target) = sub
        .attributes
        .get("RedrivePolicy")
        .and_then(|policy| serde_json::from_str::<Value>(policy).ok())
        .and_then(|policy| {
            policy
                .get("deadLetterTargetArn")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    else {
        return;
    };
    let mut dead_letter = sub.clone();
    dead_letter.endpoint = target;
    if let Err(err) = deliver_sqs(state, base_url, &dead_letter, outgoing).await {
        tracing::warn!(subscription = %sub.arn, error = %err, "sns redrive to the dead-letter queue failed");
    }
}
