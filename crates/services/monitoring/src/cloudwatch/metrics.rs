//! The metric operations: PutMetricData, GetMetricStatistics, GetMetricData, ListMetrics.
//!
//! Samples go into the metric store the Logs service shares ([`crate::logs::metrics`]),
//! so metric-filter datapoints and PutMetricData values are one set of metrics. A metric is
//! its namespace, name and exact set of dimensions, as in CloudWatch.

use std::collections::BTreeMap;

use opentrail_alarms::{ExtendedStatistic, PeriodStats, Statistic};
use serde_json::{Map, Value, json};

use super::Call;
use super::error::CwError;
use super::store::{dimensions_of, string_list};
use crate::logs::metrics::{Datapoint, Sample, StatSet};

/// Values older than this are refused (two weeks, as AWS documents).
const MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
/// Values further ahead than this are refused (two hours).
const MAX_AHEAD_MS: i64 = 2 * 3600 * 1000;
/// GetMetricStatistics answers at most this many datapoints.
const MAX_STATISTICS_DATAPOINTS: i64 = 1440;
/// ListMetrics pages hold this many metrics.
const LIST_PAGE: usize = 500;
/// Dimensions per metric.
const MAX_DIMENSIONS: usize = 30;

/// A timestamp member: epoch seconds (JSON and CBOR) or an ISO 8601 text (awsQuery, CLI
/// shorthand), in milliseconds.
pub fn timestamp_ms(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(number) => number.as_f64().map(|secs| (secs * 1000.0).round() as i64),
        Value::String(text) => {
            if let Ok(secs) = text.parse::<f64>() {
                return Some((secs * 1000.0).round() as i64);
            }
            let parsed =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .ok()?;
            Some((parsed.unix_timestamp_nanos() / 1_000_000) as i64)
        }
        _ => None,
    }
}

/// Epoch seconds for an output timestamp member.
pub fn seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => match text.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn dimension_map(value: Option<&Value>) -> BTreeMap<String, String> {
    dimensions_of(value).into_iter().collect()
}

fn dimensions_value(dimensions: &BTreeMap<String, String>) -> Value {
    Value::Array(
        dimensions
            .iter()
            .map(|(name, value)| json!({"Name": name, "Value": value}))
            .collect(),
    )
}

/// CloudWatch keeps `AWS/` namespaces for AWS services.
fn check_namespace(namespace: &str) -> Result<(), CwError> {
    if namespace.starts_with("AWS/") {
        return Err(CwError::InvalidParameterValue(format!(
            "The value {namespace} for parameter Namespace is invalid."
        )));
    }
    Ok(())
}

pub async fn put_metric_data(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    let namespace = call.text(input, "Namespace")?;
    check_namespace(namespace)?;
    let data = input
        .get("MetricData")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if data.is_empty() && input.get("EntityMetricData").is_none() {
        return Err(CwError::MissingParameter(
            "The parameter MetricData is required.".into(),
        ));
    }
    let mut samples = Vec::new();
    for (index, datum) in data.iter().enumerate() {
        samples.extend(datum_samples(call, namespace, index + 1, datum)?);
    }
    let store = call.metrics.clone();
    tokio::task::spawn_blocking(move || store.metrics().record(&samples))
        .await
        .map_err(|err| CwError::Internal(err.to_string()))??;
    Ok(json!({}))
}

fn datum_samples(
    call: &Call<'_>,
    namespace: &str,
    index: usize,
    datum: &Value,
) -> Result<Vec<Sample>, CwError> {
    let member = |name: &str| format!("MetricData.member.{index}.{name}");
    let name = datum
        .get("MetricName")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            CwError::MissingParameter(format!(
                "The parameter {} is required.",
                member("MetricName")
            ))
        })?;
    let dimension_list = dimensions_of(datum.get("Dimensions"));
    if dimension_list.len() > MAX_DIMENSIONS {
        return Err(CwError::InvalidParameterValue(format!(
            "The collection {} must not have a size greater than {MAX_DIMENSIONS}.",
            member("Dimensions")
        )));
    }
    let dimensions: BTreeMap<String, String> = dimension_list.into_iter().collect();
    let timestamp_ms = match datum.get("Timestamp") {
        None => call.now_ms,
        Some(value) => timestamp_ms(Some(value)).ok_or_else(|| {
            CwError::InvalidParameterValue(format!(
                "The parameter {} must be a timestamp.",
                member("Timestamp")
            ))
        })?,
    };
    if timestamp_ms < call.now_ms - MAX_AGE_MS {
        return Err(CwError::InvalidParameterValue(format!(
            "The parameter {} must specify a time no more than two weeks in the past.",
            member("Timestamp")
        )));
    }
    if timestamp_ms > call.now_ms + MAX_AHEAD_MS {
        return Err(CwError::InvalidParameterValue(format!(
            "The parameter {} must specify a time no more than two hours in the future.",
            member("Timestamp")
        )));
    }
    let unit = datum
        .get("Unit")
        .and_then(Value::as_str)
        .unwrap_or("None")
        .to_owned();
    let value = datum.get("Value");
    let statistic_values = datum.get("StatisticValues");
    let values = datum.get("Values").and_then(Value::as_array);
    let counts = datum.get("Counts").and_then(Value::as_array);
    let exclusive = |a: &str, b: &str| {
        format!(
            "The parameters {} and {} are mutually exclusive and you have specified both.",
            member(a),
            member(b)
        )
    };
    // AWS answers the StatisticValues clash as a combination error and the Values one as a
    // value error.
    if value.is_some() && statistic_values.is_some() {
        return Err(CwError::InvalidParameterCombination(exclusive(
            "Value",
            "StatisticValues",
        )));
    }
    if value.is_some() && values.is_some() {
        return Err(CwError::InvalidParameterValue(exclusive("Value", "Values")));
    }
    if statistic_values.is_some() && values.is_some() {
        return Err(CwError::InvalidParameterCombination(exclusive(
            "StatisticValues",
            "Values",
        )));
    }
    let finite = |value: f64, what: &str| {
        if value.is_finite() && value.abs() <= 2f64.powi(360) {
            Ok(value)
        } else {
            Err(CwError::InvalidParameterValue(format!(
                "The value {value} for parameter {} is invalid.",
                member(what)
            )))
        }
    };
    let sample = |value: f64, stats: Option<StatSet>| Sample {
        account: call.account.to_owned(),
        region: call.region.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        dimensions: dimensions.clone(),
        timestamp_ms,
        value,
        unit: unit.clone(),
        stats,
    };
    if let Some(value) = value {
        let value = number(Some(value)).unwrap_or(f64::NAN);
        return Ok(vec![sample(finite(value, "Value")?, None)]);
    }
    if let Some(set) = statistic_values {
        let part = |what: &str| {
            let value = number(set.get(what)).ok_or_else(|| {
                CwError::MissingParameter(format!(
                    "The parameter {}.{what} is required.",
                    member("StatisticValues")
                ))
            })?;
            finite(value, &format!("StatisticValues.{what}"))
        };
        let stats = StatSet {
            sample_count: part("SampleCount")?,
            sum: part("Sum")?,
            minimum: part("Minimum")?,
            maximum: part("Maximum")?,
        };
        if stats.sample_count <= 0.0 {
            return Err(CwError::InvalidParameterValue(format!(
                "The value {} for parameter {}.SampleCount is invalid.",
                stats.sample_count,
                member("StatisticValues")
            )));
        }
        if stats.minimum > stats.maximum {
            return Err(CwError::InvalidParameterValue(format!(
                "The parameter {}.Minimum must not be greater than {}.Maximum.",
                member("StatisticValues"),
                member("StatisticValues")
            )));
        }
        return Ok(vec![sample(stats.sum, Some(stats))]);
    }
    if let Some(values) = values {
        if let Some(counts) = counts
            && counts.len() != values.len()
        {
            return Err(CwError::InvalidParameterValue(format!(
                "The parameters {} and {} must be of the same size.",
                member("Values"),
                member("Counts")
            )));
        }
        let mut out = Vec::with_capacity(values.len());
        for (position, value) in values.iter().enumerate() {
            let value = finite(number(Some(value)).unwrap_or(f64::NAN), "Values")?;
            let count = counts
                .and_then(|counts| number(counts.get(position)))
                .unwrap_or(1.0);
            if count == 1.0 {
                out.push(sample(value, None));
            } else if count > 0.0 && count.is_finite() {
                let stats = StatSet {
                    sample_count: count,
                    sum: value * count,
                    minimum: value,
                    maximum: value,
                };
                out.push(sample(stats.sum, Some(stats)));
            }
        }
        return Ok(out);
    }
    // A datum without any value makes the metric known (ListMetrics) without a datapoint.
    Ok(vec![sample(0.0, Some(StatSet::EMPTY))])
}

/// The period rule of GetMetricStatistics / GetMetricData: 1, 5, 10, 20, 30 or a multiple of 60.
fn check_period(period: i64, what: &str) -> Result<u32, CwError> {
    let allowed = matches!(period, 1 | 5 | 10 | 20 | 30) || (period >= 60 && period % 60 == 0);
    if !allowed {
        return Err(CwError::InvalidParameterValue(format!(
            "The parameter {what} must be a multiple of 60 or one of 1, 5, 10, 20 and 30."
        )));
    }
    u32::try_from(period)
        .map_err(|_| CwError::InvalidParameterValue(format!("The parameter {what} is too large.")))
}

#[allow(clippy::too_many_arguments)]
fn datapoints(
    call: &Call<'_>,
    namespace: &str,
    name: &str,
    dimensions: &BTreeMap<String, String>,
    start_ms: i64,
    end_ms: i64,
    period_s: u32,
    unit: Option<&str>,
) -> Result<Vec<Datapoint>, CwError> {
    Ok(call.metrics.metrics().query(
        call.account,
        call.region,
        namespace,
        name,
        dimensions,
        start_ms,
        end_ms,
        period_s,
        unit,
    )?)
}

/// The period's statistics in the form the alarms crate computes statistics from.
pub fn period_stats(point: &Datapoint) -> PeriodStats {
    PeriodStats {
        timestamp_ms: point.timestamp_ms,
        sample_count: point.sample_count,
        sum: point.sum,
        minimum: point.minimum,
        maximum: point.maximum,
        values: point.values.clone(),
    }
}

fn time_range(input: &Value, start: &str, end: &str) -> Result<(i64, i64), CwError> {
    let start_ms = timestamp_ms(input.get(start))
        .ok_or_else(|| CwError::MissingParameter(format!("The parameter {start} is required.")))?;
    let end_ms = timestamp_ms(input.get(end))
        .ok_or_else(|| CwError::MissingParameter(format!("The parameter {end} is required.")))?;
    if start_ms >= end_ms {
        return Err(CwError::InvalidParameterValue(format!(
            "The parameter {start} must be less than the parameter {end}."
        )));
    }
    Ok((start_ms, end_ms))
}

pub async fn get_metric_statistics(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    let namespace = call.text(input, "Namespace")?;
    let name = call.text(input, "MetricName")?;
    let dimensions = dimension_map(input.get("Dimensions"));
    let (start_ms, end_ms) = time_range(input, "StartTime", "EndTime")?;
    let period = input
        .get("Period")
        .and_then(Value::as_i64)
        .ok_or_else(|| CwError::MissingParameter("The parameter Period is required.".into()))?;
    let period_s = check_period(period, "Period")?;
    let statistics = string_list(input.get("Statistics"));
    let extended = string_list(input.get("ExtendedStatistics"));
    if statistics.is_empty() && extended.is_empty() {
        return Err(CwError::InvalidParameterCombination(
            "Must specify either Statistics or ExtendedStatistics".into(),
        ));
    }
    let mut parsed_statistics = Vec::with_capacity(statistics.len());
    for text in &statistics {
        let statistic = Statistic::simple(text).ok_or_else(|| {
            CwError::InvalidParameterValue(format!(
                "The parameter Statistics must be one of SampleCount, Average, Sum, Minimum, Maximum; got {text}."
            ))
        })?;
        parsed_statistics.push((text.clone(), statistic));
    }
    let mut parsed_extended = Vec::with_capacity(extended.len());
    for text in &extended {
        let statistic: ExtendedStatistic = text.parse().map_err(|_| {
            CwError::InvalidParameterValue(format!(
                "The value {text} for parameter ExtendedStatistics is not a valid extended statistic."
            ))
        })?;
        parsed_extended.push((text.clone(), statistic));
    }
    let requested = (end_ms - start_ms).div_euclid(i64::from(period_s) * 1000) + 1;
    if requested > MAX_STATISTICS_DATAPOINTS {
        return Err(CwError::InvalidParameterCombination(format!(
            "You have requested up to {requested} datapoints, which exceeds the limit of {MAX_STATISTICS_DATAPOINTS}. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
        )));
    }
    let unit = input.get("Unit").and_then(Value::as_str);
    let points = datapoints(
        call,
        namespace,
        name,
        &dimensions,
        start_ms,
        end_ms,
        period_s,
        unit,
    )?;
    let rows: Vec<Value> = points
        .iter()
        .map(|point| {
            let stats = period_stats(point);
            let mut row = Map::new();
            row.insert("Timestamp".into(), seconds(point.timestamp_ms));
            for (text, statistic) in &parsed_statistics {
                if let Some(value) = opentrail_alarms::statistic_value(statistic, &stats) {
                    row.insert(text.clone(), json!(value));
                }
            }
            if !parsed_extended.is_empty() {
                let mut values = Map::new();
                for (text, statistic) in &parsed_extended {
                    if let Some(value) = opentrail_alarms::statistic_value(
                        &Statistic::Extended(statistic.clone()),
                        &stats,
                    ) {
                        values.insert(text.clone(), json!(value));
                    }
                }
                row.insert("ExtendedStatistics".into(), Value::Object(values));
            }
            row.insert("Unit".into(), json!(point.unit));
            Value::Object(row)
        })
        .collect();
    Ok(json!({"Label": name, "Datapoints": rows}))
}

/// A `Stat` of GetMetricData or an alarm: a simple statistic name or an extended one.
pub fn parse_stat(text: &str) -> Option<Statistic> {
    Statistic::simple(text).or_else(|| {
        text.parse::<ExtendedStatistic>()
            .ok()
            .map(Statistic::Extended)
    })
}

pub async fn get_metric_data(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    let required = |name: &str| {
        timestamp_ms(input.get(name))
            .ok_or_else(|| CwError::MissingParameter(format!("The parameter {name} is required.")))
    };
    let (start_ms, end_ms) = (required("StartTime")?, required("EndTime")?);
    // GetMetricData compares whole seconds and answers as ValidationError.
    match (end_ms / 1000).cmp(&(start_ms / 1000)) {
        std::cmp::Ordering::Less => {
            return Err(CwError::Validation(
                "The parameter EndTime must be greater than StartTime.".into(),
            ));
        }
        std::cmp::Ordering::Equal => {
            return Err(CwError::Validation(
                "The parameter StartTime must not equal parameter EndTime.".into(),
            ));
        }
        std::cmp::Ordering::Greater => {}
    }
    let queries = input
        .get("MetricDataQueries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ascending = input.get("ScanBy").and_then(Value::as_str) == Some("TimestampAscending");
    let max_points = input
        .get("MaxDatapoints")
        .and_then(Value::as_u64)
        .unwrap_or(100_800) as usize;
    let mut seen_ids = std::collections::BTreeSet::new();
    let mut results = Vec::new();
    let mut total = 0usize;
    for (index, query) in queries.iter().enumerate() {
        let position = index + 1;
        let id = query.get("Id").and_then(Value::as_str).unwrap_or_default();
        let valid_id = id
            .chars()
            .next()
            .is_some_and(|first| first.is_ascii_lowercase())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_id {
            return Err(CwError::Validation(format!(
                "The value {id} for parameter MetricDataQueries.member.{position}.Id is invalid: it must start with a lowercase letter and hold only letters, digits and underscores."
            )));
        }
        if !seen_ids.insert(id.to_owned()) {
            return Err(CwError::Validation(format!(
                "The value {id} for parameter MetricDataQueries.member.{position}.Id is not unique."
            )));
        }
        if query.get("Expression").is_some() {
            return Err(CwError::Validation(format!(
                "MetricDataQueries.member.{position}.Expression: metric math expressions are not supported by this server; use MetricStat"
            )));
        }
        let Some(stat) = query.get("MetricStat") else {
            return Err(CwError::Validation(format!(
                "The parameter MetricDataQueries.member.{position} must contain either MetricStat or Expression."
            )));
        };
        let metric = stat.get("Metric").cloned().unwrap_or(Value::Null);
        let namespace = metric
            .get("Namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = metric
            .get("MetricName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let dimensions = dimension_map(metric.get("Dimensions"));
        let period = stat.get("Period").and_then(Value::as_i64).unwrap_or(60);
        let period_s = check_period(
            period,
            &format!("MetricDataQueries.member.{position}.MetricStat.Period"),
        )?;
        let stat_text = stat.get("Stat").and_then(Value::as_str).unwrap_or("");
        let statistic = parse_stat(stat_text).ok_or_else(|| {
            CwError::Validation(format!(
                "The value {stat_text} for parameter MetricDataQueries.member.{position}.MetricStat.Stat is not a valid statistic."
            ))
        })?;
        let unit = stat.get("Unit").and_then(Value::as_str);
        let points = datapoints(
            call,
            namespace,
            name,
            &dimensions,
            start_ms,
            end_ms,
            period_s,
            unit,
        )?;
        let mut pairs: Vec<(i64, f64)> = points
            .iter()
            .filter_map(|point| {
                opentrail_alarms::statistic_value(&statistic, &period_stats(point))
                    .map(|value| (point.timestamp_ms, value))
            })
            .collect();
        if !ascending {
            pairs.reverse();
        }
        pairs.truncate(max_points.saturating_sub(total));
        total += pairs.len();
        if query.get("ReturnData").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let label = query
            .get("Label")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_owned();
        results.push(json!({
            "Id": id,
            "Label": label,
            "Timestamps": pairs.iter().map(|(time, _)| seconds(*time)).collect::<Vec<_>>(),
            "Values": pairs.iter().map(|(_, value)| json!(value)).collect::<Vec<_>>(),
            "StatusCode": "Complete",
        }));
    }
    Ok(json!({"MetricDataResults": results, "Messages": []}))
}

pub async fn list_metrics(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    let namespace = input.get("Namespace").and_then(Value::as_str);
    let name = input.get("MetricName").and_then(Value::as_str);
    let filters: Vec<(String, Option<String>)> = input
        .get("Dimensions")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    Some((
                        item.get("Name")?.as_str()?.to_owned(),
                        item.get("Value").and_then(Value::as_str).map(str::to_owned),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let start = match input.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(token) => token.parse::<usize>().map_err(|_| {
            CwError::InvalidNextToken("Request parameter NextToken is invalid".into())
        })?,
    };
    let mut series = call
        .metrics
        .metrics()
        .list_series(call.account, call.region)?;
    series.retain(|series| {
        namespace.is_none_or(|namespace| series.namespace == namespace)
            && name.is_none_or(|name| series.name == name)
            && filters.iter().all(|(key, value)| match value {
                Some(value) => series.dimensions.get(key) == Some(value),
                None => series.dimensions.contains_key(key),
            })
    });
    series.sort_by(|a, b| {
        (&a.namespace, &a.name, &a.dimensions).cmp(&(&b.namespace, &b.name, &b.dimensions))
    });
    let page: Vec<Value> = series
        .iter()
        .skip(start)
        .take(LIST_PAGE)
        .map(|series| {
            json!({
                "Namespace": series.namespace,
                "MetricName": series.name,
                "Dimensions": dimensions_value(&series.dimensions),
            })
        })
        .collect();
    let mut output = json!({"Metrics": page});
    if start + LIST_PAGE < series.len() {
        output["NextToken"] = json!((start + LIST_PAGE).to_string());
    }
    Ok(output)
}
