//! Metric filters: PutMetricFilter, DescribeMetricFilters, DeleteMetricFilter,
//! TestMetricFilter, and the datapoints a group's filters compute for its new events.
//!
//! Emission (see the spec, §6): every matching event contributes its `metricValue` (a number,
//! or a value extracted with `$.field` / `$name` that parses as a number; an event whose value
//! is absent or not numeric contributes nothing), with the filter's dimensions (extracted the
//! same way; an event missing one contributes nothing) and unit (`None` when unset), at the
//! event's timestamp. A filter with a `defaultValue` contributes that value for every event it
//! does not match. Filters are not retroactive: only events written after the filter count.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::error::LogsError;
use super::events::Position;
use super::metrics::Sample;
use super::ops::{Call, check_metric_name, check_no_colon_star, opt_str, page, req_str};
use super::pattern::{Extracted, FilterPattern, parse_input, parse_stored};
use super::store::{self, FORMAT_VERSION, StoredMetricFilter, StoredTransformation};

/// Metric filters one log group may have.
pub const MAX_FILTERS_PER_GROUP: usize = 100;
const MAX_DIMENSIONS: usize = 3;
const DESCRIBE_LIMIT: usize = 50;

/// A stored filter with its pattern parsed.
pub struct CompiledFilter {
    pub pattern: FilterPattern,
    pub transformations: Vec<StoredTransformation>,
}

/// The metric filters of a group, ready to apply (a stored pattern that no longer parses is
/// skipped and logged).
pub fn compiled_in(
    meta: &opentrail_meta::Meta,
    account: &str,
    region: &str,
    group: &str,
) -> Result<Vec<CompiledFilter>, LogsError> {
    let filters = store::metric_filters(meta, account, region, group)?;
    Ok(filters
        .into_iter()
        .filter_map(|filter| {
            Some(CompiledFilter {
                pattern: parse_stored(&filter.name, &filter.pattern)?,
                transformations: filter.transformations,
            })
        })
        .collect())
}

/// The value of a `metricValue` or dimension: a literal, or a selector into the event.
fn resolve(spec: &str, extracted: &Extracted<'_>) -> Option<String> {
    if spec.starts_with('$') {
        extracted.value(spec)
    } else {
        Some(spec.to_owned())
    }
}

/// The datapoints `filters` compute for `events` of one account and region.
pub fn samples(
    filters: &[CompiledFilter],
    account: &str,
    region: &str,
    events: &[(Position, &str)],
) -> Vec<Sample> {
    let mut out = Vec::new();
    if filters.is_empty() {
        return out;
    }
    for (position, message) in events {
        for filter in filters {
            let extracted = filter.pattern.extract(message);
            for transformation in &filter.transformations {
                let sample = |value: f64, dimensions: BTreeMap<String, String>| Sample {
                    account: account.to_owned(),
                    region: region.to_owned(),
                    namespace: transformation.metric_namespace.clone(),
                    name: transformation.metric_name.clone(),
                    dimensions,
                    timestamp_ms: position.timestamp,
                    value,
                    unit: transformation
                        .unit
                        .clone()
                        .unwrap_or_else(|| "None".to_owned()),
                    stats: None,
                };
                match &extracted {
                    Some(extracted) => {
                        let value = resolve(&transformation.metric_value, extracted)
                            .and_then(|text| text.trim().parse::<f64>().ok())
                            .filter(|value| value.is_finite());
                        let dimensions: Option<BTreeMap<String, String>> = transformation
                            .dimensions
                            .iter()
                            .map(|(name, spec)| {
                                resolve(spec, extracted).map(|value| (name.clone(), value))
                            })
                            .collect();
                        if let (Some(value), Some(dimensions)) = (value, dimensions) {
                            out.push(sample(value, dimensions));
                        }
                    }
                    None => {
                        if let Some(default) = transformation.default_value {
                            out.push(sample(default, BTreeMap::new()));
                        }
                    }
                }
            }
        }
    }
    out
}

fn invalid(message: impl Into<String>) -> LogsError {
    LogsError::InvalidParameter(message.into())
}

/// Parses and checks the `metricTransformations` of a PutMetricFilter.
fn transformations(
    input: &Value,
    pattern: &FilterPattern,
) -> Result<Vec<StoredTransformation>, LogsError> {
    let items = input
        .get("metricTransformations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let metric_name = req_str(item, "metricName")?;
        let metric_namespace = req_str(item, "metricNamespace")?;
        let metric_value = req_str(item, "metricValue")?;
        check_metric_name("metricTransformations.1.member.metricName", metric_name)?;
        check_metric_name(
            "metricTransformations.1.member.metricNamespace",
            metric_namespace,
        )?;
        pattern
            .check_selector(metric_value)
            .map_err(|err| invalid(err.to_string()))?;
        let default_value = item.get("defaultValue").and_then(Value::as_f64);
        let dimensions: BTreeMap<String, String> = item
            .get("dimensions")
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .map(|(key, value)| {
                        (key.clone(), value.as_str().unwrap_or_default().to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        if dimensions.len() > MAX_DIMENSIONS {
            return Err(LogsError::LimitExceeded(format!(
                "A metric transformation can have at most {MAX_DIMENSIONS} dimensions; {} were given.",
                dimensions.len()
            )));
        }
        if !dimensions.is_empty() && default_value.is_some() {
            return Err(invalid(
                "Invalid metric transformation: dimensions and a default value cannot be used together.",
            ));
        }
        for selector in dimensions.values() {
            if !selector.starts_with('$') {
                return Err(invalid(format!(
                    "Invalid dimension value '{selector}': a dimension value must be a field selector such as $.eventType or $user"
                )));
            }
            pattern
                .check_selector(selector)
                .map_err(|err| invalid(err.to_string()))?;
        }
        out.push(StoredTransformation {
            metric_name: metric_name.to_owned(),
            metric_namespace: metric_namespace.to_owned(),
            metric_value: metric_value.to_owned(),
            default_value,
            dimensions,
            unit: opt_str(item, "unit").map(str::to_owned),
        });
    }
    Ok(out)
}

pub async fn put_metric_filter(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = req_str(input, "logGroupName")?;
    let name = req_str(input, "filterName")?;
    check_no_colon_star("filterName", name)?;
    let text = req_str(input, "filterPattern")?;
    let pattern = parse_input(text)?;
    let transformations = transformations(input, &pattern)?;
    let filter = StoredMetricFilter {
        version: FORMAT_VERSION,
        name: name.to_owned(),
        group: group.to_owned(),
        pattern: text.to_owned(),
        transformations,
        created_ms: call.now_ms,
        apply_on_transformed_logs: input
            .get("applyOnTransformedLogs")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    store::put_filter(
        &call.state.meta,
        store::METRIC_FILTERS_TABLE,
        (call.account, call.region, group),
        name,
        MAX_FILTERS_PER_GROUP,
        |_replaced: Option<StoredMetricFilter>| filter,
    )?;
    Ok(json!({}))
}

pub async fn delete_metric_filter(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = req_str(input, "logGroupName")?;
    let name = req_str(input, "filterName")?;
    super::ops::check_group_name("logGroupName", group)?;
    check_no_colon_star("filterName", name)?;
    store::delete_filter(
        &call.state.meta,
        store::METRIC_FILTERS_TABLE,
        (call.account, call.region, group),
        name,
        LogsError::MetricFilterNotFound,
    )?;
    Ok(json!({}))
}

pub async fn describe_metric_filters(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = opt_str(input, "logGroupName");
    let prefix = opt_str(input, "filterNamePrefix");
    let metric_name = opt_str(input, "metricName");
    let namespace = opt_str(input, "metricNamespace");
    if metric_name.is_some() != namespace.is_some() {
        return Err(invalid(
            "If you are using metricName, you must also specify metricNamespace (and the reverse).",
        ));
    }
    // AWS uses filterNamePrefix only together with logGroupName.
    let prefix = prefix.filter(|_| group.is_some());
    let filters = match group {
        Some(group) => store::metric_filters(&call.state.meta, call.account, call.region, group)?,
        None => store::all_metric_filters(&call.state.meta, call.account, call.region)?,
    };
    let selected: Vec<StoredMetricFilter> = filters
        .into_iter()
        .filter(|filter| {
            prefix.is_none_or(|prefix| filter.name.starts_with(prefix))
                && metric_name.is_none_or(|metric| {
                    filter.transformations.iter().any(|t| {
                        t.metric_name == metric && Some(t.metric_namespace.as_str()) == namespace
                    })
                })
        })
        .collect();
    let (page, next) = page(&selected, input, DESCRIBE_LIMIT)?;
    let page: Vec<Value> = page.iter().map(filter_json).collect();
    let mut response = json!({ "metricFilters": page });
    if let Some(next) = next {
        response["nextToken"] = json!(next);
    }
    Ok(response)
}

fn filter_json(filter: &StoredMetricFilter) -> Value {
    let transformations: Vec<Value> = filter
        .transformations
        .iter()
        .map(|t| {
            let mut out = Map::new();
            out.insert("metricName".into(), json!(t.metric_name));
            out.insert("metricNamespace".into(), json!(t.metric_namespace));
            out.insert("metricValue".into(), json!(t.metric_value));
            if let Some(default) = t.default_value {
                out.insert("defaultValue".into(), json!(default));
            }
            if !t.dimensions.is_empty() {
                out.insert("dimensions".into(), json!(t.dimensions));
            }
            if let Some(unit) = &t.unit {
                out.insert("unit".into(), json!(unit));
            }
            Value::Object(out)
        })
        .collect();
    json!({
        "filterName": filter.name,
        "filterPattern": filter.pattern,
        "metricTransformations": transformations,
        "creationTime": filter.created_ms,
        "logGroupName": filter.group,
        "applyOnTransformedLogs": filter.apply_on_transformed_logs,
    })
}

pub async fn test_metric_filter(_call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let pattern = parse_input(req_str(input, "filterPattern")?)?;
    let messages = input
        .get("logEventMessages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut matches = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let Some(message) = message.as_str() else {
            continue;
        };
        let Some(extracted) = pattern.extract(message) else {
            continue;
        };
        let values: Map<String, Value> = extracted
            .values()
            .into_iter()
            .map(|(name, value)| (name, json!(value)))
            .collect();
        matches.push(json!({
            "eventNumber": index + 1,
            "eventMessage": message,
            "extractedValues": values,
        }));
    }
    Ok(json!({ "matches": matches }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_events_emit_values_and_others_the_default() {
        let filters = vec![CompiledFilter {
            pattern: FilterPattern::parse("ERROR").expect("pattern"),
            transformations: vec![StoredTransformation {
                metric_name: "Errors".into(),
                metric_namespace: "App".into(),
                metric_value: "1".into(),
                default_value: Some(0.0),
                dimensions: BTreeMap::new(),
                unit: Some("Count".into()),
            }],
        }];
        let at = |timestamp: i64, seq: u64| Position { timestamp, seq };
        let samples = samples(
            &filters,
            "123456789012",
            "us-east-1",
            &[(at(1000, 1), "ERROR boom"), (at(2000, 2), "all fine")],
        );
        let values: Vec<(i64, f64)> = samples.iter().map(|s| (s.timestamp_ms, s.value)).collect();
        assert_eq!(values, [(1000, 1.0), (2000, 0.0)]);
        assert_eq!(samples[0].unit, "Count");
        assert_eq!(samples[0].namespace, "App");
    }
}
