//! What an alarm's configuration (the PutMetricAlarm members, kept as given) means for its
//! evaluation: the metric it watches ([`watched`]) and its rule ([`rule_of`], checked by
//! `opentrail_alarms::validate`).
//!
//! PutMetricAlarm ([`super::alarms`]) checks a configuration with these and the evaluator
//! ([`super::evaluator`]) evaluates by them, so they sit below both.

use opentrail_alarms::{AlarmRule, RuleInput, Statistic};
use serde_json::Value;

use super::error::CwError;
use super::store;

fn int(value: Option<&Value>) -> Option<i64> {
    value.and_then(Value::as_i64)
}

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

/// The metric an alarm watches, from its top-level members or its single MetricStat query.
pub struct Watched {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

/// The metric of `config` (PutMetricAlarm members).
pub fn watched(config: &Value) -> Watched {
    if let Some(stat) = metric_stat(config) {
        let metric = stat.get("Metric").cloned().unwrap_or(Value::Null);
        return Watched {
            namespace: text(metric.get("Namespace")).unwrap_or_default(),
            name: text(metric.get("MetricName")).unwrap_or_default(),
            dimensions: store::dimensions_of(metric.get("Dimensions")),
        };
    }
    Watched {
        namespace: text(config.get("Namespace")).unwrap_or_default(),
        name: text(config.get("MetricName")).unwrap_or_default(),
        dimensions: store::dimensions_of(config.get("Dimensions")),
    }
}

pub fn metric_stat(config: &Value) -> Option<&Value> {
    config
        .get("Metrics")
        .and_then(Value::as_array)
        .and_then(|queries| queries.first())
        .and_then(|query| query.get("MetricStat"))
}

/// The evaluation rule of an alarm configuration.
pub fn rule_of(config: &Value) -> Result<AlarmRule, CwError> {
    let mut input = RuleInput {
        period: int(config.get("Period")),
        evaluation_periods: int(config.get("EvaluationPeriods")),
        datapoints_to_alarm: int(config.get("DatapointsToAlarm")),
        threshold: config.get("Threshold").and_then(Value::as_f64),
        comparison_operator: text(config.get("ComparisonOperator")),
        treat_missing_data: text(config.get("TreatMissingData")),
        statistic: text(config.get("Statistic")),
        extended_statistic: text(config.get("ExtendedStatistic")),
        unit: text(config.get("Unit")),
        evaluate_low_sample_count_percentile: text(config.get("EvaluateLowSampleCountPercentile")),
    };
    if let Some(stat) = metric_stat(config) {
        input.period = int(stat.get("Period"));
        input.unit = text(stat.get("Unit"));
        let stat_text = text(stat.get("Stat")).unwrap_or_default();
        if Statistic::simple(&stat_text).is_some() {
            input.statistic = Some(stat_text);
        } else {
            input.extended_statistic = Some(stat_text);
        }
    }
    opentrail_alarms::validate(&input).map_err(|err| match err.code() {
        "InvalidParameterCombination" => CwError::InvalidParameterCombination(err.to_string()),
        "InvalidParameterValue" => CwError::InvalidParameterValue(err.to_string()),
        "MissingParameter" => CwError::MissingParameter(err.to_string()),
        _ => CwError::Validation(err.to_string()),
    })
}
