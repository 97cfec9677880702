//! Trail notifications: after a trail's log files are committed, its SNS topic (if any) gets
//! `{"s3Bucket": …, "s3ObjectKey": [ … ]}`, and GetTrailStatus's notification fields record
//! how that went.

use std::sync::Arc;

use serde_json::json;

use opentrail_core::AppState;
use opentrail_messaging::sns;
use opentrail_messaging::sns::publish::publish_internal;

use crate::store::{self as trail_store, StoredTrail};

/// Publishes the notification of one delivery in the background. Callable from blocking
/// threads of the runtime (the delivery worker); does nothing without a topic or a runtime.
pub fn log_files_delivered(
    state: &Arc<AppState>,
    trail_key: &str,
    trail: Option<&StoredTrail>,
    bucket: &str,
    object_keys: Vec<String>,
) {
    let Some(topic_arn) = trail.and_then(|trail| trail.sns_topic_arn.clone()) else {
        return;
    };
    if object_keys.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let message = json!({"s3Bucket": bucket, "s3ObjectKey": object_keys}).to_string();
    let state = state.clone();
    let trail_key = trail_key.to_owned();
    runtime.spawn(async move {
        sns::init_signer(&state).await;
        let result =
            publish_internal(&state, &sns::base_url(&state), &topic_arn, &message, None).await;
        let now = opentrail_model::time::now_ms();
        let update = trail_store::update_status(&state.meta, &trail_key, |status| {
            status.latest_notification_attempt_time_ms = Some(now);
            match &result {
                Ok(_) => {
                    status.latest_notification_time_ms = Some(now);
                    status.latest_notification_attempt_succeeded_ms = Some(now);
                    status.latest_notification_error = None;
                }
                Err(err) => {
                    status.latest_notification_error = Some(err.aws_code().to_owned());
                }
            }
        });
        if let Err(err) = update {
            tracing::warn!(trail = %trail_key, error = %err, "trail notification status not saved");
        }
    });
}
