//! How alarms, their history and their pending notifications live in the metadata store.
//!
//! # Tables (format version 1 each; every value carries its `version`)
//! - `cloudwatch-alarms`, key `<account>/<region>/<alarm name>` → [`StoredAlarm`].
//! - `cloudwatch-alarm-history`, key `<account>/<region>/<alarm name>\u{0}<time ms, 16 hex>
//!   <unique, 8 hex>` → [`HistoryItem`]. Alarm names cannot hold U+0000, so one alarm's items
//!   are one key range, oldest first.
//! - `cloudwatch-notifications`, key `<time ms, 16 hex><unique, 8 hex>` → [`Notification`]:
//!   alarm actions decided but not yet handed to SNS. A state change and its notifications
//!   commit in one transaction; a notification is removed once SNS has taken it, so a crash in
//!   between sends it again after restart (at least once).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const ALARMS_TABLE: &str = "cloudwatch-alarms";
pub const HISTORY_TABLE: &str = "cloudwatch-alarm-history";
pub const NOTIFICATIONS_TABLE: &str = "cloudwatch-notifications";
/// The format of the values this build writes.
pub const FORMAT_VERSION: u32 = 1;
/// Alarm history is kept this long (two weeks, as AWS keeps it).
pub const HISTORY_RETENTION_MS: i64 = 14 * 24 * 3600 * 1000;

/// The key of an alarm.
pub fn alarm_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// The key prefix of an account's alarms in a region.
pub fn region_prefix(account: &str, region: &str) -> String {
    format!("{account}/{region}/")
}

/// The key prefix of one alarm's history items.
pub fn history_prefix(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}\u{0}")
}

/// The key of a new history item of one alarm, ordered by time.
pub fn history_key(account: &str, region: &str, name: &str, time_ms: i64) -> String {
    format!(
        "{}{}",
        history_prefix(account, region, name),
        time_key(time_ms)
    )
}

static UNIQUE: AtomicU32 = AtomicU32::new(0);

/// A time-ordered key suffix that stays unique within one process.
pub fn time_key(time_ms: i64) -> String {
    let unique = UNIQUE.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}{unique:08x}", time_ms.max(0))
}

/// One metric alarm: its configuration as PutMetricAlarm gave it, and its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAlarm {
    pub version: u32,
    pub account: String,
    pub region: String,
    pub name: String,
    /// The PutMetricAlarm members (model names), without `Tags`.
    pub config: Value,
    pub state: String,
    pub state_reason: String,
    #[serde(default)]
    pub state_reason_data: Option<String>,
    pub state_updated_ms: i64,
    pub state_transitioned_ms: i64,
    pub config_updated_ms: i64,
    /// Until when a state set by SetAlarmState holds against evaluation.
    #[serde(default)]
    pub manual_until_ms: Option<i64>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl StoredAlarm {
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:cloudwatch:{}:{}:alarm:{}",
            partition(&self.region),
            self.region,
            self.account,
            self.name
        )
    }

    pub fn key(&self) -> String {
        alarm_key(&self.account, &self.region, &self.name)
    }

    /// A string member of the configuration.
    pub fn text(&self, member: &str) -> Option<&str> {
        self.config.get(member).and_then(Value::as_str)
    }

    /// A list-of-strings member of the configuration (empty when absent).
    pub fn texts(&self, member: &str) -> Vec<String> {
        string_list(self.config.get(member))
    }

    /// `ActionsEnabled` (true unless set false).
    pub fn actions_enabled(&self) -> bool {
        self.config
            .get("ActionsEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }

    /// The dimensions as (name, value) pairs, in request order.
    pub fn dimensions(&self) -> Vec<(String, String)> {
        dimensions_of(self.config.get("Dimensions"))
    }
}

/// The ARN partition of a region: `aws-cn` for China, `aws-us-gov` for GovCloud, else `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// A list of strings (empty when absent; other items are passed over).
pub use opentrail_core::pipeline::input::strings as string_list;

/// A list of two-member objects (`[{"Name":..,"Value":..}]`, `[{"Key":..,"Value":..}]`) as
/// pairs, in list order; items missing either member are passed over.
pub fn pairs_of(value: Option<&Value>, first: &str, second: &str) -> Vec<(String, String)> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    Some((
                        item.get(first)?.as_str()?.to_owned(),
                        item.get(second)?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `[{"Name":..,"Value":..}]` as pairs.
pub fn dimensions_of(value: Option<&Value>) -> Vec<(String, String)> {
    pairs_of(value, "Name", "Value")
}

/// One entry of DescribeAlarmHistory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub version: u32,
    pub alarm_name: String,
    pub timestamp_ms: i64,
    /// `ConfigurationUpdate`, `StateUpdate` or `Action`.
    pub item_type: String,
    pub summary: String,
    /// JSON text.
    pub data: String,
}

impl HistoryItem {
    /// A history item of this build's format; `data` is stored as JSON text.
    pub fn new(
        alarm_name: &str,
        timestamp_ms: i64,
        item_type: &str,
        summary: String,
        data: &Value,
    ) -> HistoryItem {
        HistoryItem {
            version: FORMAT_VERSION,
            alarm_name: alarm_name.to_owned(),
            timestamp_ms,
            item_type: item_type.to_owned(),
            summary,
            data: data.to_string(),
        }
    }
}

/// An SNS publish an alarm state change decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub version: u32,
    pub account: String,
    pub region: String,
    pub alarm_name: String,
    pub topic_arn: String,
    pub subject: String,
    pub message: String,
}
