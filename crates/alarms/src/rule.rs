//! What an alarm is: its state, comparison, missing-data treatment, statistic, and the rules
//! PutMetricAlarm checks before it stores one.

use std::str::FromStr;

use crate::stats::Statistic;

/// An alarm state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Ok,
    Alarm,
    InsufficientData,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Alarm => "ALARM",
            State::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

impl FromStr for State {
    type Err = AlarmError;

    fn from_str(text: &str) -> Result<State, AlarmError> {
        match text {
            "OK" => Ok(State::Ok),
            "ALARM" => Ok(State::Alarm),
            "INSUFFICIENT_DATA" => Ok(State::InsufficientData),
            other => Err(AlarmError::Validation(format!(
                "the state {other} is not one of OK, ALARM and INSUFFICIENT_DATA"
            ))),
        }
    }
}

/// How the statistic compares with the threshold (the statistic is the left operand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
    LessThanLowerOrGreaterThanUpperThreshold,
    LessThanLowerThreshold,
    GreaterThanUpperThreshold,
}

const COMPARISONS: [(Comparison, &str); 7] = [
    (
        Comparison::GreaterThanOrEqualToThreshold,
        "GreaterThanOrEqualToThreshold",
    ),
    (Comparison::GreaterThanThreshold, "GreaterThanThreshold"),
    (Comparison::LessThanThreshold, "LessThanThreshold"),
    (
        Comparison::LessThanOrEqualToThreshold,
        "LessThanOrEqualToThreshold",
    ),
    (
        Comparison::LessThanLowerOrGreaterThanUpperThreshold,
        "LessThanLowerOrGreaterThanUpperThreshold",
    ),
    (Comparison::LessThanLowerThreshold, "LessThanLowerThreshold"),
    (
        Comparison::GreaterThanUpperThreshold,
        "GreaterThanUpperThreshold",
    ),
];

impl Comparison {
    pub fn as_str(self) -> &'static str {
        COMPARISONS
            .iter()
            .find(|(comparison, _)| *comparison == self)
            .map(|(_, name)| *name)
            .unwrap_or("GreaterThanThreshold")
    }

    /// Whether `value` breaches `threshold`. The anomaly-band operators compare with a band
    /// this server does not compute; they never breach.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => value >= threshold,
            Comparison::GreaterThanThreshold => value > threshold,
            Comparison::LessThanThreshold => value < threshold,
            Comparison::LessThanOrEqualToThreshold => value <= threshold,
            _ => false,
        }
    }

    /// The words of a state reason: `greater than or equal to`, …
    pub fn phrase(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Comparison::GreaterThanThreshold => "greater than",
            Comparison::LessThanThreshold => "less than",
            Comparison::LessThanOrEqualToThreshold => "less than or equal to",
            Comparison::LessThanLowerOrGreaterThanUpperThreshold => "outside the band of",
            Comparison::LessThanLowerThreshold => "less than the lower band of",
            Comparison::GreaterThanUpperThreshold => "greater than the upper band of",
        }
    }

    fn is_band(self) -> bool {
        matches!(
            self,
            Comparison::LessThanLowerOrGreaterThanUpperThreshold
                | Comparison::LessThanLowerThreshold
                | Comparison::GreaterThanUpperThreshold
        )
    }
}

impl FromStr for Comparison {
    type Err = AlarmError;

    fn from_str(text: &str) -> Result<Comparison, AlarmError> {
        COMPARISONS
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(comparison, _)| *comparison)
            .ok_or_else(|| {
                AlarmError::Validation(format!(
                    "1 validation error detected: Value '{text}' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    COMPARISONS.map(|(_, name)| name).join(", ")
                ))
            })
    }
}

/// What a period with no datapoint counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreatMissing {
    Missing,
    Breaching,
    NotBreaching,
    Ignore,
}

impl TreatMissing {
    pub fn as_str(self) -> &'static str {
        match self {
            TreatMissing::Missing => "missing",
            TreatMissing::Breaching => "breaching",
            TreatMissing::NotBreaching => "notBreaching",
            TreatMissing::Ignore => "ignore",
        }
    }
}

impl FromStr for TreatMissing {
    type Err = AlarmError;

    fn from_str(text: &str) -> Result<TreatMissing, AlarmError> {
        match text {
            "missing" => Ok(TreatMissing::Missing),
            "breaching" => Ok(TreatMissing::Breaching),
            "notBreaching" => Ok(TreatMissing::NotBreaching),
            "ignore" => Ok(TreatMissing::Ignore),
            other => Err(AlarmError::Validation(format!(
                "The value {other} for parameter TreatMissingData is not supported: use breaching, notBreaching, ignore or missing."
            ))),
        }
    }
}

/// A checked alarm rule: everything evaluation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRule {
    pub period_s: u32,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: Option<u32>,
    pub threshold: f64,
    pub comparison: Comparison,
    pub treat_missing: TreatMissing,
    pub statistic: Statistic,
    pub unit: Option<String>,
    pub evaluate_low_sample_count_percentile: Option<String>,
}

impl AlarmRule {
    /// M: how many of the N evaluated datapoints must breach.
    pub fn m(&self) -> u32 {
        self.datapoints_to_alarm.unwrap_or(self.evaluation_periods)
    }
}

/// The members of PutMetricAlarm a rule is made of, as the request gave them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleInput {
    pub period: Option<i64>,
    pub evaluation_periods: Option<i64>,
    pub datapoints_to_alarm: Option<i64>,
    pub threshold: Option<f64>,
    pub comparison_operator: Option<String>,
    pub treat_missing_data: Option<String>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub unit: Option<String>,
    pub evaluate_low_sample_count_percentile: Option<String>,
}

/// A rule PutMetricAlarm refuses, with the AWS code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlarmError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    InvalidParameterCombination(String),
    #[error("{0}")]
    MissingParameter(String),
}

impl AlarmError {
    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        match self {
            AlarmError::Validation(_) => "ValidationError",
            AlarmError::InvalidParameterValue(_) => "InvalidParameterValue",
            AlarmError::InvalidParameterCombination(_) => "InvalidParameterCombination",
            AlarmError::MissingParameter(_) => "MissingParameter",
        }
    }
}

/// Checks PutMetricAlarm's rules and returns the rule they describe.
pub fn validate(input: &RuleInput) -> Result<AlarmRule, AlarmError> {
    let period = input
        .period
        .ok_or_else(|| AlarmError::MissingParameter("The parameter Period is required.".into()))?;
    if !(matches!(period, 10 | 20 | 30) || (period >= 60 && period % 60 == 0)) {
        return Err(AlarmError::Validation(format!(
            "The value {period} for parameter Period is not supported: use 10, 20, 30 or a multiple of 60."
        )));
    }
    let evaluation_periods = input.evaluation_periods.ok_or_else(|| {
        AlarmError::MissingParameter("The parameter EvaluationPeriods is required.".into())
    })?;
    if evaluation_periods < 1 {
        return Err(AlarmError::Validation(format!(
            "The value {evaluation_periods} for parameter EvaluationPeriods must be at least 1."
        )));
    }
    let limit = if period < 3600 { 86_400 } else { 604_800 };
    if period.saturating_mul(evaluation_periods) > limit {
        return Err(AlarmError::Validation(format!(
            "The evaluation period of the alarm (Period {period} x EvaluationPeriods {evaluation_periods}) must not exceed {limit} seconds."
        )));
    }
    if let Some(m) = input.datapoints_to_alarm
        && !(1..=evaluation_periods).contains(&m)
    {
        return Err(AlarmError::Validation(format!(
            "DatapointsToAlarm ({m}) must be between 1 and EvaluationPeriods ({evaluation_periods})."
        )));
    }
    let statistic = match (&input.statistic, &input.extended_statistic) {
        (Some(_), Some(_)) => {
            return Err(AlarmError::InvalidParameterCombination(
                "Statistic and ExtendedStatistic cannot both be specified.".into(),
            ));
        }
        (None, None) => {
            return Err(AlarmError::InvalidParameterCombination(
                "Must specify either Statistic or ExtendedStatistic.".into(),
            ));
        }
        (Some(text), None) => Statistic::simple(text).ok_or_else(|| {
            AlarmError::Validation(format!(
                "1 validation error detected: Value '{text}' at 'statistic' failed to satisfy constraint: Member must satisfy enum value set: [SampleCount, Average, Sum, Minimum, Maximum]"
            ))
        })?,
        (None, Some(text)) => Statistic::Extended(text.parse().map_err(|_| {
            AlarmError::InvalidParameterValue(format!(
                "The value {text} for parameter ExtendedStatistic is not supported."
            ))
        })?),
    };
    let comparison: Comparison = input
        .comparison_operator
        .as_deref()
        .ok_or_else(|| {
            AlarmError::MissingParameter("The parameter ComparisonOperator is required.".into())
        })?
        .parse()?;
    let threshold = match (input.threshold, comparison.is_band()) {
        (Some(threshold), _) => threshold,
        (None, true) => 0.0,
        (None, false) => {
            return Err(AlarmError::MissingParameter(
                "The parameter Threshold is required.".into(),
            ));
        }
    };
    let treat_missing = match &input.treat_missing_data {
        Some(text) => text.parse()?,
        None => TreatMissing::Missing,
    };
    if let Some(text) = &input.evaluate_low_sample_count_percentile {
        if !matches!(text.as_str(), "evaluate" | "ignore") {
            return Err(AlarmError::Validation(format!(
                "Option {text} is not supported. Supported options for parameter EvaluateLowSampleCountPercentile are evaluate and ignore."
            )));
        }
        if !matches!(statistic, Statistic::Extended(_)) {
            return Err(AlarmError::InvalidParameterCombination(
                "EvaluateLowSampleCountPercentile can only be used with a percentile ExtendedStatistic.".into(),
            ));
        }
    }
    Ok(AlarmRule {
        period_s: u32::try_from(period).unwrap_or(u32::MAX),
        evaluation_periods: u32::try_from(evaluation_periods).unwrap_or(u32::MAX),
        datapoints_to_alarm: input
            .datapoints_to_alarm
            .map(|m| u32::try_from(m).unwrap_or(u32::MAX)),
        threshold,
        comparison,
        treat_missing,
        statistic,
        unit: input.unit.clone(),
        evaluate_low_sample_count_percentile: input.evaluate_low_sample_count_percentile.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> RuleInput {
        RuleInput {
            period: Some(60),
            evaluation_periods: Some(1),
            threshold: Some(1.0),
            comparison_operator: Some("GreaterThanOrEqualToThreshold".into()),
            statistic: Some("Sum".into()),
            ..RuleInput::default()
        }
    }

    #[test]
    fn a_cis_alarm_is_valid() {
        let rule = validate(&input()).expect("valid");
        assert_eq!((rule.period_s, rule.m(), rule.threshold), (60, 1, 1.0));
        assert_eq!(rule.treat_missing, TreatMissing::Missing);
        assert_eq!(rule.statistic, Statistic::Sum);
    }

    #[test]
    fn refusals_carry_aws_codes() {
        let code = |change: fn(&mut RuleInput)| {
            let mut input = input();
            change(&mut input);
            validate(&input).map(|_| ()).map_err(|err| err.code())
        };
        assert_eq!(code(|i| i.period = Some(45)), Err("ValidationError"));
        assert_eq!(code(|i| i.period = Some(20)), Ok(()));
        assert_eq!(code(|i| i.period = Some(120)), Ok(()));
        assert_eq!(
            code(|i| i.evaluation_periods = Some(1441)),
            Err("ValidationError")
        );
        assert_eq!(code(|i| i.evaluation_periods = Some(1440)), Ok(()));
        assert_eq!(
            code(|i| i.datapoints_to_alarm = Some(2)),
            Err("ValidationError")
        );
        assert_eq!(
            code(|i| i.extended_statistic = Some("p90".into())),
            Err("InvalidParameterCombination")
        );
        assert_eq!(
            code(|i| i.statistic = None),
            Err("InvalidParameterCombination")
        );
        assert_eq!(
            code(|i| {
                i.statistic = None;
                i.extended_statistic = Some("90".into());
            }),
            Err("InvalidParameterValue")
        );
        assert_eq!(code(|i| i.threshold = None), Err("MissingParameter"));
        assert_eq!(
            code(|i| i.treat_missing_data = Some("sometimes".into())),
            Err("ValidationError")
        );
        assert_eq!(
            code(|i| i.comparison_operator = Some("Equals".into())),
            Err("ValidationError")
        );
    }

    #[test]
    fn the_extended_statistic_message_is_aws_s() {
        let mut input = input();
        input.statistic = None;
        input.extended_statistic = Some("90".into());
        let err = validate(&input).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "The value 90 for parameter ExtendedStatistic is not supported."
        );
    }
}
