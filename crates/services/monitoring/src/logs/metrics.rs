//! [`MetricStore`]: the metric datapoints metric filters emit, kept durably for the CloudWatch
//! metrics service to read (GetMetricStatistics, GetMetricData, ListMetrics, alarms).
//!
//! A [`Sample`] is one value of one metric (account, region, namespace, name, dimensions) at
//! one time, with its unit. Samples are raw (one per matching log event, or one per
//! non-matching event for a filter with a `defaultValue`); [`MetricStore::query`] aggregates
//! them into [`Datapoint`]s per period, and keeps the raw values for percentiles.
//!
//! # Keyspaces (in the logs database, see [`super::events`])
//! - `metrics`: `series key | timestamp u64 BE (i64 + 2^63) | unique u64 BE` →
//!   `value f64 BE | unit (UTF-8)` for one raw value, or
//!   `sum f64 BE | 0x00 | sample count f64 BE | sum f64 BE | minimum f64 BE | maximum f64 BE |
//!   unit (UTF-8)` for a statistic set (PutMetricData `StatisticValues`, or a value sent with a
//!   count). Units never start with a 0x00 byte, so the two forms cannot be confused.
//! - `series`: `series key` → the JSON of a [`Series`] (its identity and latest unit), one per
//!   metric ever recorded.
//!
//! The series key is the account, region, namespace, metric name and the dimensions sorted by
//! name, each as `u16 BE length | bytes`, so one metric's samples are one contiguous,
//! time-ordered range.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fjall::{
    Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch as WriteBatch, PersistMode,
};
use serde::{Deserialize, Serialize};

use super::error::LogsError;

/// One value of one metric at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub account: String,
    pub region: String,
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
    /// Milliseconds since the epoch (the log event's timestamp).
    pub timestamp_ms: i64,
    pub value: f64,
    /// A CloudWatch StandardUnit (`None` when the filter named none).
    pub unit: String,
    /// Set when the sample stands for several values at once (a statistic set); `value`
    /// is then unused and the set carries count, sum, minimum and maximum.
    pub stats: Option<StatSet>,
}

/// Several values summarised: PutMetricData `StatisticValues`, or one value sent with a count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StatSet {
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
}

impl StatSet {
    /// No values: a PutMetricData datum without any makes its metric known and adds no
    /// datapoint.
    pub const EMPTY: StatSet = StatSet {
        sample_count: 0.0,
        sum: 0.0,
        minimum: 0.0,
        maximum: 0.0,
    };
}

/// One stored sample as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSample {
    pub timestamp_ms: i64,
    /// The raw value (the sum for a statistic set).
    pub value: f64,
    pub stats: Option<StatSet>,
    pub unit: String,
}

/// The statistics of one metric over one period.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    /// The start of the period (milliseconds since the epoch, a multiple of the period).
    pub timestamp_ms: i64,
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
    pub unit: String,
    /// The raw values of the period, in time order (for percentiles).
    pub values: Vec<f64>,
}

impl Datapoint {
    pub fn average(&self) -> f64 {
        if self.sample_count == 0.0 {
            0.0
        } else {
            self.sum / self.sample_count
        }
    }
}

/// One metric that has samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub account: String,
    pub region: String,
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
    pub unit: String,
}

/// The datapoints store. Shares the logs database, so metric-filter datapoints commit in the
/// same batch as the log events they come from.
pub struct MetricStore {
    db: Database,
    samples: Keyspace,
    series: Keyspace,
    /// Makes sample keys unique; seeded from the clock so it keeps growing across restarts.
    unique: AtomicU64,
    /// Woken after samples commit, so alarm evaluation can look at new data at once.
    changed: tokio::sync::Notify,
    /// The event store's mark of a write fjall does not come back from.
    failed: Arc<AtomicBool>,
}

fn push_part(key: &mut Vec<u8>, part: &str) {
    let bytes = part.as_bytes();
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(&bytes[..usize::from(len)]);
}

/// The key prefix of one metric's samples.
pub fn series_key(
    account: &str,
    region: &str,
    namespace: &str,
    name: &str,
    dimensions: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    for part in [account, region, namespace, name] {
        push_part(&mut key, part);
    }
    push_part(&mut key, &dimensions.len().to_string());
    for (dimension, value) in dimensions {
        push_part(&mut key, dimension);
        push_part(&mut key, value);
    }
    key
}

fn biased(timestamp: i64) -> u64 {
    (timestamp as u64) ^ (1 << 63)
}

fn unbiased(value: u64) -> i64 {
    (value ^ (1 << 63)) as i64
}

impl MetricStore {
    pub(crate) fn open(db: &Database, failed: Arc<AtomicBool>) -> Result<MetricStore, LogsError> {
        let samples = db.keyspace("metrics", KeyspaceCreateOptions::default)?;
        let series = db.keyspace("series", KeyspaceCreateOptions::default)?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_nanos() as u64)
            .unwrap_or(0);
        Ok(MetricStore {
            db: db.clone(),
            samples,
            series,
            unique: AtomicU64::new(seed),
            changed: tokio::sync::Notify::new(),
            failed,
        })
    }

    /// Records samples durably (synced before it returns).
    pub fn record(&self, samples: &[Sample]) -> Result<(), LogsError> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        self.stage(&mut batch, samples);
        super::error::written(&self.failed, batch.commit())?;
        self.committed();
        Ok(())
    }

    /// Tells the waiter of [`MetricStore::changed`] that samples committed. Writers that stage
    /// samples into their own batch call it after the commit.
    pub(crate) fn committed(&self) {
        self.changed.notify_one();
    }

    /// Resolves after the next commit of samples (or at once if one happened since the last
    /// wait).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Adds samples to a batch another write commits.
    pub(crate) fn stage(&self, batch: &mut WriteBatch, samples: &[Sample]) {
        let mut seen: BTreeMap<Vec<u8>, &Sample> = BTreeMap::new();
        for sample in samples {
            let prefix = series_key(
                &sample.account,
                &sample.region,
                &sample.namespace,
                &sample.name,
                &sample.dimensions,
            );
            let mut key = prefix.clone();
            key.extend_from_slice(&biased(sample.timestamp_ms).to_be_bytes());
            key.extend_from_slice(&self.unique.fetch_add(1, Ordering::Relaxed).to_be_bytes());
            let mut value = Vec::with_capacity(41 + sample.unit.len());
            match sample.stats {
                None => value.extend_from_slice(&sample.value.to_bits().to_be_bytes()),
                Some(stats) => {
                    value.extend_from_slice(&stats.sum.to_bits().to_be_bytes());
                    value.push(0);
                    for part in [stats.sample_count, stats.sum, stats.minimum, stats.maximum] {
                        value.extend_from_slice(&part.to_bits().to_be_bytes());
                    }
                }
            }
            value.extend_from_slice(sample.unit.as_bytes());
            batch.insert(&self.samples, key, value);
            seen.insert(prefix, sample);
        }
        for (prefix, sample) in seen {
            let series = Series {
                account: sample.account.clone(),
                region: sample.region.clone(),
                namespace: sample.namespace.clone(),
                name: sample.name.clone(),
                dimensions: sample.dimensions.clone(),
                unit: sample.unit.clone(),
            };
            // Serialising plain strings and maps cannot fail.
            let json = serde_json::to_vec(&series).unwrap_or_default();
            batch.insert(&self.series, prefix, json);
        }
    }

    /// The stored samples of one metric with `start_ms <= timestamp < end_ms`, in time order.
    #[allow(clippy::too_many_arguments)]
    pub fn samples(
        &self,
        account: &str,
        region: &str,
        namespace: &str,
        name: &str,
        dimensions: &BTreeMap<String, String>,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<StoredSample>, LogsError> {
        if start_ms >= end_ms {
            return Ok(Vec::new());
        }
        let prefix = series_key(account, region, namespace, name, dimensions);
        let bound = |time: i64| {
            let mut key = prefix.clone();
            key.extend_from_slice(&biased(time).to_be_bytes());
            key
        };
        let mut out = Vec::new();
        for guard in self.samples.range(bound(start_ms)..bound(end_ms)) {
            let (key, value) = guard.into_inner()?;
            let corrupt = || LogsError::Internal("a stored metric sample is malformed".into());
            let time_bytes = key
                .get(prefix.len()..prefix.len() + 8)
                .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                .ok_or_else(corrupt)?;
            let value_bytes = value
                .get(..8)
                .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                .ok_or_else(corrupt)?;
            let read_f64 = |at: usize| {
                value
                    .get(at..at + 8)
                    .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                    .map(|bytes| f64::from_bits(u64::from_be_bytes(bytes)))
            };
            let (stats, unit_at) = if value.get(8) == Some(&0) && value.len() >= 41 {
                let part = |index: usize| read_f64(9 + 8 * index).ok_or_else(corrupt);
                let stats = StatSet {
                    sample_count: part(0)?,
                    sum: part(1)?,
                    minimum: part(2)?,
                    maximum: part(3)?,
                };
                (Some(stats), 41)
            } else {
                (None, 8)
            };
            out.push(StoredSample {
                timestamp_ms: unbiased(u64::from_be_bytes(time_bytes)),
                value: f64::from_bits(u64::from_be_bytes(value_bytes)),
                stats,
                unit: String::from_utf8_lossy(&value[unit_at..]).into_owned(),
            });
        }
        Ok(out)
    }

    /// The datapoints of one metric between `start_ms` (inclusive) and `end_ms` (exclusive)
    /// from samples of `unit` (any unit when `None`), one per period (`period_s` seconds, periods aligned to multiples of the period since
    /// the epoch) that has samples, in time order.
    #[allow(clippy::too_many_arguments)]
    pub fn query(
        &self,
        account: &str,
        region: &str,
        namespace: &str,
        name: &str,
        dimensions: &BTreeMap<String, String>,
        start_ms: i64,
        end_ms: i64,
        period_s: u32,
        unit: Option<&str>,
    ) -> Result<Vec<Datapoint>, LogsError> {
        let period_ms = i64::from(period_s.max(1)) * 1000;
        let mut out: Vec<Datapoint> = Vec::new();
        for sample in self.samples(
            account, region, namespace, name, dimensions, start_ms, end_ms,
        )? {
            let declaration = sample.stats.is_some_and(|stats| stats.sample_count <= 0.0);
            if declaration || unit.is_some_and(|unit| sample.unit != unit) {
                continue;
            }
            let bucket = sample.timestamp_ms - sample.timestamp_ms.rem_euclid(period_ms);
            let set = sample.stats.unwrap_or(StatSet {
                sample_count: 1.0,
                sum: sample.value,
                minimum: sample.value,
                maximum: sample.value,
            });
            let raw = sample.stats.is_none().then_some(sample.value);
            match out.last_mut() {
                Some(last) if last.timestamp_ms == bucket => {
                    last.sample_count += set.sample_count;
                    last.sum += set.sum;
                    last.minimum = last.minimum.min(set.minimum);
                    last.maximum = last.maximum.max(set.maximum);
                    last.values.extend(raw);
                }
                _ => out.push(Datapoint {
                    timestamp_ms: bucket,
                    sample_count: set.sample_count,
                    sum: set.sum,
                    minimum: set.minimum,
                    maximum: set.maximum,
                    unit: sample.unit,
                    values: raw.into_iter().collect(),
                }),
            }
        }
        Ok(out)
    }

    /// Every metric of an account in a region that has samples, by namespace, name and
    /// dimensions.
    pub fn list_series(&self, account: &str, region: &str) -> Result<Vec<Series>, LogsError> {
        let mut prefix = Vec::new();
        push_part(&mut prefix, account);
        push_part(&mut prefix, region);
        let mut out = Vec::new();
        for guard in self.series.prefix(prefix) {
            let (_, value) = guard.into_inner()?;
            let series: Series = serde_json::from_slice(&value)
                .map_err(|err| LogsError::Internal(format!("stored metric series: {err}")))?;
            out.push(series);
        }
        Ok(out)
    }

    pub(crate) fn clear(&self) -> Result<(), LogsError> {
        super::error::written(&self.failed, self.samples.clear())?;
        super::error::written(&self.failed, self.series.clear())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, dims: &[(&str, &str)], timestamp_ms: i64, value: f64) -> Sample {
        Sample {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            namespace: "App".into(),
            name: name.into(),
            dimensions: dims
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            timestamp_ms,
            value,
            unit: "Count".into(),
            stats: None,
        }
    }

    #[test]
    fn samples_aggregate_per_period_and_series_stay_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::builder(dir.path()).open().expect("db");
        let store = MetricStore::open(&db, Arc::default()).expect("open");
        store
            .record(&[
                sample("Errors", &[], 60_000, 1.0),
                sample("Errors", &[], 61_000, 3.0),
                sample("Errors", &[], 120_000, 2.0),
                sample("Errors", &[("Op", "Get")], 60_500, 10.0),
                sample("Error", &[], 60_500, 7.0),
            ])
            .expect("record");
        let none = BTreeMap::new();
        let points = store
            .query(
                "123456789012",
                "us-east-1",
                "App",
                "Errors",
                &none,
                0,
                200_000,
                60,
                None,
            )
            .expect("query");
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].timestamp_ms, 60_000);
        assert_eq!(points[0].sample_count, 2.0);
        assert_eq!(points[0].sum, 4.0);
        assert_eq!(points[0].minimum, 1.0);
        assert_eq!(points[0].maximum, 3.0);
        assert_eq!(points[0].average(), 2.0);
        assert_eq!(points[1].sum, 2.0);
        let end_exclusive = store
            .query(
                "123456789012",
                "us-east-1",
                "App",
                "Errors",
                &none,
                0,
                120_000,
                60,
                None,
            )
            .expect("query");
        assert_eq!(end_exclusive.len(), 1);
        let dims: BTreeMap<String, String> = [("Op".to_owned(), "Get".to_owned())].into();
        let with_dims = store
            .query(
                "123456789012",
                "us-east-1",
                "App",
                "Errors",
                &dims,
                0,
                200_000,
                60,
                None,
            )
            .expect("query");
        assert_eq!(with_dims.len(), 1);
        assert_eq!(with_dims[0].sum, 10.0);
        let series = store
            .list_series("123456789012", "us-east-1")
            .expect("series");
        assert_eq!(series.len(), 3);
        assert!(
            store
                .list_series("123456789012", "eu-west-1")
                .expect("series")
                .is_empty()
        );
    }

    #[test]
    fn statistic_sets_declarations_and_units() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::builder(dir.path()).open().expect("db");
        let store = MetricStore::open(&db, Arc::default()).expect("open");
        let set = StatSet {
            sample_count: 4.0,
            sum: 100.0,
            minimum: 5.0,
            maximum: 50.0,
        };
        let mut seconds = sample("Latency", &[], 60_100, 7.0);
        seconds.unit = "Seconds".into();
        store
            .record(&[
                Sample {
                    stats: Some(set),
                    ..sample("Latency", &[], 60_000, set.sum)
                },
                sample("Latency", &[], 60_200, 60.0),
                seconds,
                Sample {
                    stats: Some(StatSet::EMPTY),
                    ..sample("Declared", &[], 60_000, 0.0)
                },
            ])
            .expect("record");
        let none = BTreeMap::new();
        let query = |name: &str, unit: Option<&str>| {
            store
                .query(
                    "123456789012",
                    "us-east-1",
                    "App",
                    name,
                    &none,
                    0,
                    120_000,
                    60,
                    unit,
                )
                .expect("query")
        };
        let [point] = query("Latency", None).try_into().expect("one period");
        assert_eq!(
            (point.sample_count, point.sum, point.minimum, point.maximum),
            (6.0, 167.0, 5.0, 60.0)
        );
        // Raw values only: a statistic set has none to give percentiles.
        assert_eq!(point.values, vec![7.0, 60.0]);
        let [counted] = query("Latency", Some("Count"))
            .try_into()
            .expect("one period");
        assert_eq!((counted.sample_count, counted.sum), (5.0, 160.0));
        assert!(query("Declared", None).is_empty());
        let mut names: Vec<String> = store
            .list_series("123456789012", "us-east-1")
            .expect("series")
            .into_iter()
            .map(|series| series.name)
            .collect();
        names.sort();
        assert_eq!(names, ["Declared", "Latency"]);
    }
}
