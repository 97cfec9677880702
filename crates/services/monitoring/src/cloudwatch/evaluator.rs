//! The `cloudwatch-alarms` worker: evaluates every metric alarm against its metric, moves its
//! state, and sends the SNS notifications of each state change.
//!
//! Evaluation runs every [`TICK`] and, so that an alarm reacts within a second of its data,
//! whenever samples commit to the metric store (PutMetricData, or a metric filter matching a log
//! event). A state change, its history item and its notifications commit in one metadata
//! transaction; notifications are then handed to SNS and removed (see [`super::store`]), so a
//! crash between the two sends them after restart instead of losing them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use opentrail_alarms::{AlarmInfo, State};
use serde_json::{Value, json};

use super::error::CwError;
use super::metrics::period_stats;
use super::rule::{rule_of, watched};
use super::store::{
    self, ALARMS_TABLE, FORMAT_VERSION, HISTORY_TABLE, HistoryItem, NOTIFICATIONS_TABLE,
    Notification, StoredAlarm,
};
use crate::logs;
use crate::logs::events::EventStore;
use opentrail_core::AppState;
use opentrail_core::workers::{Worker, WorkerContext, WorkerState};
use opentrail_messaging::sns;

pub const NAME: &str = "cloudwatch-alarms";
/// The longest an alarm waits for its next evaluation when no data arrives (AWS evaluates
/// 10 s and 30 s periods every 10 s, the rest every minute).
const TICK: Duration = Duration::from_secs(5);
/// The shortest gap between two evaluations, so a stream of samples does not keep the worker
/// evaluating without pause.
const MIN_GAP: Duration = Duration::from_millis(100);

/// The `cloudwatch-alarms` worker: evaluates every alarm every `TICK` and whenever samples
/// commit, then sends the pending notifications, until shutdown.
pub struct Evaluator;

impl Worker for Evaluator {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(self, ctx: WorkerContext) -> Result<(), String> {
        let state = ctx.state.clone();
        let mut changes = 0u64;
        loop {
            let worker_state = state.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                evaluate_all(&worker_state, opentrail_model::time::now_ms())
            })
            .await;
            let error = match outcome {
                Ok(Ok(changed)) => {
                    changes += changed;
                    None
                }
                Ok(Err(err)) => Some(err.to_string()),
                Err(err) => Some(err.to_string()),
            };
            send_pending(&state).await;
            let status = if error.is_some() {
                WorkerState::Retrying
            } else {
                WorkerState::Idle
            };
            ctx.report(status, changes, error);
            // The store is taken afresh every round, so one reopened after a failed write is
            // used (and the failed one let go).
            let metrics = logs::metric_store(&state).ok();
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                () = changed(metrics.as_deref()) => {}
                () = ctx.stopped() => return Ok(()),
            }
            tokio::time::sleep(MIN_GAP).await;
        }
    }
}

/// Resolves when samples commit to `store`; never without a store.
async fn changed(store: Option<&EventStore>) {
    match store {
        Some(store) => store.metrics().changed().await,
        None => std::future::pending().await,
    }
}

/// Evaluates every alarm once; returns how many changed state.
pub fn evaluate_all(state: &AppState, now_ms: i64) -> Result<u64, CwError> {
    let metrics = logs::metric_store(state)?;
    let alarms = state.meta.list::<StoredAlarm>(ALARMS_TABLE, "")?;
    let mut changed = 0;
    for (_, alarm) in alarms {
        // A state set by SetAlarmState holds until the alarm's next evaluation is due.
        if alarm.manual_until_ms.is_some_and(|until| now_ms < until) {
            continue;
        }
        let Ok(rule) = rule_of(&alarm.config) else {
            continue;
        };
        let metric = watched(&alarm.config);
        let dimensions: BTreeMap<String, String> = metric.dimensions.into_iter().collect();
        let points = metrics.metrics().query(
            &alarm.account,
            &alarm.region,
            &metric.namespace,
            &metric.name,
            &dimensions,
            now_ms - opentrail_alarms::lookback_ms(&rule),
            now_ms + 1,
            rule.period_s,
            rule.unit.as_deref(),
        )?;
        let stats: Vec<_> = points.iter().map(period_stats).collect();
        let current: State = alarm.state.parse().unwrap_or(State::InsufficientData);
        let evaluation = opentrail_alarms::evaluate(&rule, current, &stats, now_ms);
        if evaluation.state == current {
            continue;
        }
        change_state(
            state,
            &alarm,
            evaluation.state,
            evaluation.reason,
            Some(evaluation.reason_data),
            now_ms,
            None,
        )?;
        changed += 1;
    }
    Ok(changed)
}

/// What an alarm's notification needs to know about it.
fn info(alarm: &StoredAlarm) -> Option<AlarmInfo> {
    let rule = rule_of(&alarm.config).ok()?;
    let metric = watched(&alarm.config);
    Some(AlarmInfo {
        name: alarm.name.clone(),
        description: alarm.text("AlarmDescription").map(str::to_owned),
        account_id: alarm.account.clone(),
        region: alarm.region.clone(),
        arn: alarm.arn(),
        configuration_updated_ms: alarm.config_updated_ms,
        ok_actions: alarm.texts("OKActions"),
        alarm_actions: alarm.texts("AlarmActions"),
        insufficient_data_actions: alarm.texts("InsufficientDataActions"),
        metric_name: metric.name,
        namespace: metric.namespace,
        dimensions: metric.dimensions,
        rule,
    })
}

fn actions_for(alarm: &StoredAlarm, new: State) -> Vec<String> {
    let list = match new {
        State::Ok => "OKActions",
        State::Alarm => "AlarmActions",
        State::InsufficientData => "InsufficientDataActions",
    };
    alarm.texts(list)
}

/// Moves `alarm` to `new` (re-read inside the transaction); on a real change also writes the
/// history item and, when actions are enabled, the notifications for the new state's actions.
pub fn change_state(
    state: &AppState,
    alarm: &StoredAlarm,
    new: State,
    reason: String,
    reason_data: Option<String>,
    now_ms: i64,
    manual_until_ms: Option<i64>,
) -> Result<(), CwError> {
    let key = alarm.key();
    state.meta.write(|txn| -> Result<(), CwError> {
        let Some(mut current) = txn.get::<StoredAlarm>(ALARMS_TABLE, &key)? else {
            return Ok(());
        };
        let old = current.state.clone();
        let old_reason = current.state_reason.clone();
        current.state = new.as_str().to_owned();
        current.state_reason = reason.clone();
        current.state_reason_data = reason_data.clone();
        current.state_updated_ms = now_ms;
        current.manual_until_ms = manual_until_ms;
        if old == new.as_str() {
            txn.put(ALARMS_TABLE, &key, &current)?;
            return Ok(());
        }
        current.state_transitioned_ms = now_ms;
        let mut new_state = json!({"stateValue": new.as_str(), "stateReason": reason});
        if let Some(data) = reason_data
            .as_deref()
            .and_then(|data| serde_json::from_str::<Value>(data).ok())
        {
            new_state["stateReasonData"] = data;
        }
        let data = json!({
            "version": "1.0",
            "oldState": {"stateValue": old, "stateReason": old_reason},
            "newState": new_state,
        });
        let summary = format!("Alarm updated from {old} to {}", new.as_str());
        let item = HistoryItem::new(&current.name, now_ms, "StateUpdate", summary, &data);
        let history_key =
            store::history_key(&current.account, &current.region, &current.name, now_ms);
        txn.put(HISTORY_TABLE, &history_key, &item)?;
        if current.actions_enabled()
            && let Some(info) = info(&current)
        {
            let old_state: State = old.parse().unwrap_or(State::InsufficientData);
            let (subject, message) =
                opentrail_alarms::notification(&info, old_state, new, &reason, now_ms);
            for topic_arn in actions_for(&current, new) {
                let notification = Notification {
                    version: FORMAT_VERSION,
                    account: current.account.clone(),
                    region: current.region.clone(),
                    alarm_name: current.name.clone(),
                    topic_arn,
                    subject: subject.clone(),
                    message: message.clone(),
                };
                txn.put(NOTIFICATIONS_TABLE, &store::time_key(now_ms), &notification)?;
            }
        }
        txn.put(ALARMS_TABLE, &key, &current)?;
        Ok(())
    })
}

/// One sender at a time per server, so a notification is not handed to SNS twice by two
/// callers (in [`AppState::extensions`]).
#[derive(Default)]
struct Sending(tokio::sync::Mutex<()>);

/// Hands every pending notification to SNS, recording the outcome in the alarm's history.
pub async fn send_pending(state: &Arc<AppState>) {
    let sending = state.extensions.get_or_init(Sending::default);
    let _sending = sending.0.lock().await;
    let pending = match state.meta.list::<Notification>(NOTIFICATIONS_TABLE, "") {
        Ok(pending) => pending,
        Err(err) => {
            tracing::error!(error = %err, "pending alarm notifications do not load");
            return;
        }
    };
    for (key, notification) in pending {
        let outcome = if notification.topic_arn.starts_with("arn:aws:sns:") {
            sns::publish::publish_internal(
                state,
                &sns::base_url(state),
                &notification.topic_arn,
                &notification.message,
                Some(&notification.subject),
            )
            .await
            .map(|_| ())
            .map_err(|err| err.to_string())
        } else {
            Err("only SNS topic actions are supported by this server".to_owned())
        };
        let now_ms = opentrail_model::time::now_ms();
        let summary = match &outcome {
            Ok(()) => format!("Successfully executed action {}", notification.topic_arn),
            Err(err) => format!(
                "Failed to execute action {}. Received error: \"{err}\"",
                notification.topic_arn
            ),
        };
        let data = match &outcome {
            Ok(()) => {
                json!({"actionState": "Succeeded", "notificationResource": notification.topic_arn})
            }
            Err(err) => {
                json!({"actionState": "Failed", "notificationResource": notification.topic_arn, "error": err})
            }
        };
        let item = HistoryItem::new(&notification.alarm_name, now_ms, "Action", summary, &data);
        let history_key = store::history_key(
            &notification.account,
            &notification.region,
            &notification.alarm_name,
            now_ms,
        );
        let written = state.meta.write(|txn| -> Result<(), CwError> {
            txn.delete(NOTIFICATIONS_TABLE, &key)?;
            txn.put(HISTORY_TABLE, &history_key, &item)?;
            Ok(())
        });
        if let Err(err) = written {
            tracing::error!(error = %err, "alarm notification outcome does not save");
        }
    }
}
