//! How log groups, log streams and metric filters live in the metadata store.
//!
//! # Tables (format version 1 each; every value carries its `version`)
//! - `logs-groups`, key `<account>/<region>/<group>` → [`StoredGroup`].
//! - `logs-streams`, key `<account>/<region>/<group>:<stream>` → [`StoredStream`]. Group names
//!   cannot hold `:`, so a group's streams are exactly the keys under `<…>/<group>:`.
//! - `logs-metric-filters`, key `<account>/<region>/<group>:<filter>` → [`StoredMetricFilter`].
//! - `logs-subscription-filters`, key `<account>/<region>/<group>:<filter>` →
//!   [`StoredSubscriptionFilter`].
//!
//! Both kinds of filter are children of their group: [`put_filter`] and [`delete_filter`] are
//! the one way they are written (the group must exist, a group holds a bounded number).
//!
//! Events live apart, in the event store ([`super::events`]), under the stream's random `id`.

use std::collections::BTreeMap;

use opentrail_meta::{Meta, MetaError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::LogsError;

pub const GROUPS_TABLE: &str = "logs-groups";
pub const STREAMS_TABLE: &str = "logs-streams";
pub const METRIC_FILTERS_TABLE: &str = "logs-metric-filters";
pub const SUBSCRIPTION_FILTERS_TABLE: &str = "logs-subscription-filters";
/// The format of the values this build writes.
pub const FORMAT_VERSION: u32 = 1;

/// The key of a log group.
pub fn group_key(account: &str, region: &str, group: &str) -> String {
    format!("{account}/{region}/{group}")
}

/// The key of a stream or metric filter of a group.
pub fn child_key(account: &str, region: &str, group: &str, name: &str) -> String {
    format!("{account}/{region}/{group}:{name}")
}

/// The key prefix of a group's streams or metric filters.
pub fn children_prefix(account: &str, region: &str, group: &str) -> String {
    format!("{account}/{region}/{group}:")
}

/// One log group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredGroup {
    pub version: u32,
    pub name: String,
    pub account: String,
    pub region: String,
    pub created_ms: i64,
    #[serde(default)]
    pub retention_days: Option<u32>,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default = "standard")]
    pub log_group_class: String,
    #[serde(default)]
    pub deletion_protection: bool,
}

fn standard() -> String {
    "STANDARD".into()
}

impl StoredGroup {
    /// `arn:aws:logs:<region>:<account>:log-group:<name>` (the `logGroupArn` form).
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{}",
            self.region, self.account, self.name
        )
    }

    pub fn key(&self) -> String {
        group_key(&self.account, &self.region, &self.name)
    }
}

/// One log stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredStream {
    pub version: u32,
    pub name: String,
    pub group: String,
    /// The stream's key in the event store (random).
    pub id: u64,
    pub created_ms: i64,
}

/// One metric transformation of a metric filter, as PutMetricFilter takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTransformation {
    pub metric_name: String,
    pub metric_namespace: String,
    pub metric_value: String,
    #[serde(default)]
    pub default_value: Option<f64>,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    #[serde(default)]
    pub unit: Option<String>,
}

/// One metric filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMetricFilter {
    pub version: u32,
    pub name: String,
    pub group: String,
    pub pattern: String,
    pub transformations: Vec<StoredTransformation>,
    pub created_ms: i64,
    #[serde(default)]
    pub apply_on_transformed_logs: bool,
}

/// One subscription filter: matching events go to `destination_arn`
/// (see [`super::subscriptions`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSubscriptionFilter {
    pub version: u32,
    pub name: String,
    pub group: String,
    pub pattern: String,
    pub destination_arn: String,
    #[serde(default)]
    pub role_arn: Option<String>,
    /// `ByLogStream` (the default) or `Random`; only Kinesis destinations use it.
    pub distribution: String,
    pub created_ms: i64,
    #[serde(default)]
    pub apply_on_transformed_logs: bool,
}

/// Writes the filter `name` of `group` into `table` (a new one, or over the one of that
/// name), in one transaction that checks the group exists and that a new filter stays within
/// `max` per group. `update` sees the filter it replaces, if any, and returns what to store.
pub fn put_filter<T: Serialize + DeserializeOwned>(
    meta: &Meta,
    table: &str,
    (account, region, group): (&str, &str, &str),
    name: &str,
    max: usize,
    update: impl FnOnce(Option<T>) -> T,
) -> Result<(), LogsError> {
    let group_key = group_key(account, region, group);
    let key = child_key(account, region, group, name);
    let prefix = children_prefix(account, region, group);
    meta.write(|txn| {
        if txn.get::<StoredGroup>(GROUPS_TABLE, &group_key)?.is_none() {
            return Err(LogsError::LogGroupNotFound);
        }
        let existing: Vec<(String, T)> = txn.list(table, &prefix)?;
        let count = existing.len();
        let replaced = existing
            .into_iter()
            .find(|(existing, _)| *existing == key)
            .map(|(_, filter)| filter);
        if replaced.is_none() && count >= max {
            return Err(LogsError::LimitExceeded("Resource limit exceeded.".into()));
        }
        txn.put(table, &key, &update(replaced))?;
        Ok(())
    })
}

/// Deletes the filter `name` of `group` from `table`: the group must exist
/// ([`LogsError::LogGroupNotFound`]), then the filter (`not_found`).
pub fn delete_filter(
    meta: &Meta,
    table: &str,
    (account, region, group): (&str, &str, &str),
    name: &str,
    not_found: LogsError,
) -> Result<(), LogsError> {
    let group_key = group_key(account, region, group);
    let key = child_key(account, region, group, name);
    meta.write(|txn| {
        if txn.get::<StoredGroup>(GROUPS_TABLE, &group_key)?.is_none() {
            return Err(LogsError::LogGroupNotFound);
        }
        if !txn.delete(table, &key)? {
            return Err(not_found);
        }
        Ok(())
    })
}

/// The groups of an account in a region whose names start with `prefix`, by name.
pub fn groups(
    meta: &Meta,
    account: &str,
    region: &str,
    prefix: &str,
) -> Result<Vec<StoredGroup>, MetaError> {
    Ok(meta
        .list(GROUPS_TABLE, &group_key(account, region, prefix))?
        .into_iter()
        .map(|(_, group)| group)
        .collect())
}

/// One group.
pub fn group(
    meta: &Meta,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<StoredGroup>, MetaError> {
    meta.get(GROUPS_TABLE, &group_key(account, region, name))
}

/// The streams of a group, by name.
pub fn streams(
    meta: &Meta,
    account: &str,
    region: &str,
    group: &str,
) -> Result<Vec<StoredStream>, MetaError> {
    Ok(meta
        .list(STREAMS_TABLE, &children_prefix(account, region, group))?
        .into_iter()
        .map(|(_, stream)| stream)
        .collect())
}

/// One stream.
pub fn stream(
    meta: &Meta,
    account: &str,
    region: &str,
    group: &str,
    name: &str,
) -> Result<Option<StoredStream>, MetaError> {
    meta.get(STREAMS_TABLE, &child_key(account, region, group, name))
}

/// The metric filters of a group, by name.
pub fn metric_filters(
    meta: &Meta,
    account: &str,
    region: &str,
    group: &str,
) -> Result<Vec<StoredMetricFilter>, MetaError> {
    Ok(meta
        .list(
            METRIC_FILTERS_TABLE,
            &children_prefix(account, region, group),
        )?
        .into_iter()
        .map(|(_, filter)| filter)
        .collect())
}

/// The subscription filters of a group, by name.
pub fn subscription_filters(
    meta: &Meta,
    account: &str,
    region: &str,
    group: &str,
) -> Result<Vec<StoredSubscriptionFilter>, MetaError> {
    Ok(meta
        .list(
            SUBSCRIPTION_FILTERS_TABLE,
            &children_prefix(account, region, group),
        )?
        .into_iter()
        .map(|(_, filter)| filter)
        .collect())
}

/// Every metric filter of an account in a region, by group then name.
pub fn all_metric_filters(
    meta: &Meta,
    account: &str,
    region: &str,
) -> Result<Vec<StoredMetricFilter>, MetaError> {
    Ok(meta
        .list(METRIC_FILTERS_TABLE, &format!("{account}/{region}/"))?
        .into_iter()
        .map(|(_, filter)| filter)
        .collect())
}

/// Every group of every account (for the retention worker).
pub fn all_groups(meta: &Meta) -> Result<Vec<StoredGroup>, MetaError> {
    Ok(meta
        .list(GROUPS_TABLE, "")?
        .into_iter()
        .map(|(_, group)| group)
        .collect())
}
