//! HTTP(S) delivery: a POST of the envelope (or the raw message) with SNS's headers, retried
//! with exponential backoff in a background task (at most [`ATTEMPTS`] tries, stopped by
//! shutdown), and the `SubscriptionConfirmation` handshake of new HTTP(S) subscriptions.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, json};

use super::Call;
use super::publish::{Outgoing, timestamp_now};
use super::store::{Subscription, Topic};
use opentrail_core::AppState;

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

/// POSTs `body` to `url` in the background, retrying failures with backoff; a message that
/// never gets through goes to `dead_letter`'s queue when its subscription has one.
pub fn spawn_post(
    state: &Arc<AppState>,
    url: String,
    headers: Headers,
    body: String,
    dead_letter: Option<DeadLetter>,
) {
    let mut shutdown = state.shutdown.subscribe();
    let state = state.clone();
    tokio::spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            match post_once(&url, &headers, &body).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::debug!(url, attempt, error = %err, "sns http delivery failed");
                }
            }
            if attempt == ATTEMPTS {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            backoff *= 2;
        }
        tracing::warn!(url, message_id = %headers.message_id, "sns http delivery gave up");
        if let Some((sub, outgoing, base_url)) = dead_letter {
            super::publish::redrive(&state, &base_url, &sub, &outgoing).await;
        }
    });
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
    spawn_post(
        call.state,
        sub.endpoint.clone(),
        headers,
        serde_json::Value::Object(envelope).to_string(),
        None,
    );
}
