//! [`evaluate`]: one alarm, its datapoints, the time → the state it should be in and why.
//!
//! The evaluation range is R = N + max(⌊N/3⌋, 2) periods aligned to multiples of the period,
//! ending with the period that holds `now`, or with the one before it when the current period
//! has no datapoint yet (its data may still arrive; it is not missing). Then, as AWS documents:
//!
//! 1. With at least N real datapoints in the range, the newest N decide and TreatMissingData
//!    plays no part: ALARM when at least M of them breach, else OK.
//! 2. Otherwise the missing slots are filled with as few missing points as possible:
//!    `breaching` / `notBreaching` fill up to N points with breaching / non-breaching ones.
//!    `missing` and `ignore` use the real points alone: none at all is INSUFFICIENT_DATA
//!    (`ignore`: the state stays); M breaching is ALARM; and the premature-alarm rule — every
//!    real point breaches and the oldest is at least M periods old — is ALARM under `missing`
//!    (the state stays under `ignore`); else OK.

use serde_json::{Value, json};

use crate::format::{iso_date, java_double, reason_date};
use crate::rule::{AlarmRule, State, TreatMissing};
use crate::stats::Statistic;
use crate::stats::{PeriodStats, statistic_value};

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub state: State,
    /// StateReason, in AWS's words.
    pub reason: String,
    /// StateReasonData, a JSON text.
    pub reason_data: String,
    /// Whether `state` differs from the state the alarm was in.
    pub changed: bool,
}

/// How many periods the evaluation range holds: N + max(⌊N/3⌋, 2).
fn range_len(rule: &AlarmRule) -> i64 {
    let n = i64::from(rule.evaluation_periods.max(1));
    n + (n / 3).max(2)
}

/// How far back [`evaluate`] looks, in milliseconds, so the caller reads datapoints from
/// `now - lookback_ms(rule)` to `now`.
pub fn lookback_ms(rule: &AlarmRule) -> i64 {
    (range_len(rule) + 1) * i64::from(rule.period_s.max(1)) * 1000
}

/// One slot of the evaluation range: its period start and, when it has data, the statistic
/// and its sample count.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start_ms: i64,
    point: Option<(f64, f64)>,
}

/// Whether a percentile period has too few samples to be meaningful (fewer than
/// 1 / (1 - p/100)), for `EvaluateLowSampleCountPercentile = ignore`.
fn low_sample_count(rule: &AlarmRule, sample_count: f64) -> bool {
    let Statistic::Extended(extended) = &rule.statistic else {
        return false;
    };
    let Some(p) = extended.percentile() else {
        return false;
    };
    if p >= 100.0 {
        return false;
    }
    sample_count < 1.0 / (1.0 - p / 100.0)
}

/// Evaluates `rule` at `now_ms` given the periods that have samples (any order).
pub fn evaluate(
    rule: &AlarmRule,
    current: State,
    datapoints: &[PeriodStats],
    now_ms: i64,
) -> Evaluation {
    let period_ms = i64::from(rule.period_s.max(1)) * 1000;
    let n = rule.evaluation_periods.max(1) as usize;
    let m = rule.m().max(1) as usize;
    let value_at = |start: i64| {
        datapoints
            .iter()
            .find(|stats| stats.timestamp_ms == start)
            .and_then(|stats| {
                statistic_value(&rule.statistic, stats).map(|value| (value, stats.sample_count))
            })
    };
    let mut newest = now_ms - now_ms.rem_euclid(period_ms);
    if value_at(newest).is_none() {
        newest -= period_ms;
    }
    let len = range_len(rule);
    let slots: Vec<Slot> = (0..len)
        .map(|index| {
            let start_ms = newest - (len - 1 - index) * period_ms;
            Slot {
                start_ms,
                point: value_at(start_ms),
            }
        })
        .collect();
    let real: Vec<(usize, Slot)> = slots
        .iter()
        .enumerate()
        .filter(|(_, slot)| slot.point.is_some())
        .map(|(index, slot)| (index, *slot))
        .collect();

    if rule.evaluate_low_sample_count_percentile.as_deref() == Some("ignore")
        && real
            .last()
            .and_then(|(_, slot)| slot.point)
            .is_some_and(|(_, samples)| low_sample_count(rule, samples))
    {
        return keep(
            rule,
            current,
            &slots,
            now_ms,
            "Insufficient samples: the state is kept",
        );
    }

    let breaches = |slot: &Slot| {
        slot.point
            .is_some_and(|(value, _)| rule.comparison.breaches(value, rule.threshold))
    };
    let age = |index: usize| slots.len() - index;

    if real.len() >= n {
        let evaluated: Vec<Slot> = real[real.len() - n..]
            .iter()
            .map(|(_, slot)| *slot)
            .collect();
        let breaching = evaluated.iter().filter(|slot| breaches(slot)).count();
        let state = if breaching >= m {
            State::Alarm
        } else {
            State::Ok
        };
        return finish(
            rule,
            current,
            state,
            threshold_reason(rule, current, state, &evaluated, 0),
            &evaluated,
            now_ms,
        );
    }

    let evaluated: Vec<Slot> = real.iter().map(|(_, slot)| *slot).collect();
    let breaching = evaluated.iter().filter(|slot| breaches(slot)).count();
    let fill = n - real.len();
    match rule.treat_missing {
        TreatMissing::Breaching | TreatMissing::NotBreaching => {
            let as_breaching = rule.treat_missing == TreatMissing::Breaching;
            let total = breaching + if as_breaching { fill } else { 0 };
            let state = if total >= m { State::Alarm } else { State::Ok };
            let reason = if real.is_empty() {
                missing_reason(fill, as_breaching)
            } else {
                threshold_reason(rule, current, state, &evaluated, fill)
            };
            finish(rule, current, state, reason, &evaluated, now_ms)
        }
        TreatMissing::Missing | TreatMissing::Ignore => {
            let ignore = rule.treat_missing == TreatMissing::Ignore;
            if real.is_empty() {
                if ignore {
                    return keep(
                        rule,
                        current,
                        &slots,
                        now_ms,
                        "No datapoints: the state is kept",
                    );
                }
                let reason = format!(
                    "Insufficient Data: {n} datapoint{} {} unknown.",
                    plural(n),
                    if n == 1 { "was" } else { "were" }
                );
                return finish(
                    rule,
                    current,
                    State::InsufficientData,
                    reason,
                    &evaluated,
                    now_ms,
                );
            }
            if breaching >= m {
                return finish(
                    rule,
                    current,
                    State::Alarm,
                    threshold_reason(rule, current, State::Alarm, &evaluated, 0),
                    &evaluated,
                    now_ms,
                );
            }
            let premature =
                breaching == real.len() && real.first().is_some_and(|(index, _)| age(*index) >= m);
            if premature {
                if ignore {
                    return keep(
                        rule,
                        current,
                        &slots,
                        now_ms,
                        "Breaching datapoints with missing ones: the state is kept",
                    );
                }
                return finish(
                    rule,
                    current,
                    State::Alarm,
                    threshold_reason(rule, current, State::Alarm, &evaluated, 0),
                    &evaluated,
                    now_ms,
                );
            }
            finish(
                rule,
                current,
                State::Ok,
                threshold_reason(rule, current, State::Ok, &evaluated, 0),
                &evaluated,
                now_ms,
            )
        }
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

fn missing_reason(count: usize, as_breaching: bool) -> String {
    format!(
        "Threshold Crossed: no datapoints were received for {count} period{} and {count} missing datapoint{} {} treated as [{}].",
        plural(count),
        plural(count),
        if count == 1 { "was" } else { "were" },
        if as_breaching {
            "Breaching"
        } else {
            "NonBreaching"
        }
    )
}

/// `Threshold Crossed: 1 datapoint [1.0 (02/02/25 12:05:00)] was greater than or equal to the
/// threshold (1.0).`, with the `out of the last N` form when DatapointsToAlarm is set.
fn threshold_reason(
    rule: &AlarmRule,
    current: State,
    state: State,
    evaluated: &[Slot],
    filled: usize,
) -> String {
    let breaching: Vec<&Slot> = evaluated
        .iter()
        .filter(|slot| {
            slot.point
                .is_some_and(|(value, _)| rule.comparison.breaches(value, rule.threshold))
        })
        .collect();
    let listed: Vec<&Slot> = if state == State::Alarm {
        breaching
    } else {
        evaluated.iter().collect()
    };
    let points: Vec<String> = listed
        .iter()
        .rev()
        .filter_map(|slot| {
            slot.point.map(|(value, _)| {
                format!("{} ({})", java_double(value), reason_date(slot.start_ms))
            })
        })
        .collect();
    let count = points.len();
    let verb = if count == 1 { "was" } else { "were" };
    let negation = if state == State::Alarm { "" } else { "not " };
    let threshold = java_double(rule.threshold);
    let phrase = rule.comparison.phrase();
    let mut reason = match rule.datapoints_to_alarm {
        Some(_) => format!(
            "Threshold Crossed: {count} out of the last {} datapoints [{}] {verb} {negation}{phrase} the threshold ({threshold})",
            evaluated.len() + filled,
            points.join(", "),
        ),
        None => format!(
            "Threshold Crossed: {count} datapoint{} [{}] {verb} {negation}{phrase} the threshold ({threshold})",
            plural(count),
            points.join(", "),
        ),
    };
    if let Some(m) = rule.datapoints_to_alarm {
        let m = m as usize;
        let n = rule.evaluation_periods as usize;
        let transition = match (current, state) {
            (_, State::Alarm) => Some((m, "OK -> ALARM")),
            (State::Alarm, State::Ok) => Some((n + 1 - m, "ALARM -> OK")),
            _ => None,
        };
        if let Some((minimum, words)) = transition {
            reason.push_str(&format!(
                " (minimum {minimum} datapoint{} for {words} transition)",
                plural(minimum)
            ));
        }
    }
    reason.push('.');
    reason
}

fn reason_data(rule: &AlarmRule, evaluated: &[Slot], now_ms: i64) -> String {
    let mut data = serde_json::Map::new();
    data.insert("version".into(), json!("1.0"));
    data.insert("queryDate".into(), json!(iso_date(now_ms)));
    let start = evaluated.first().map_or(now_ms, |slot| slot.start_ms);
    data.insert("startDate".into(), json!(iso_date(start)));
    if let Some(unit) = &rule.unit {
        data.insert("unit".into(), json!(unit));
    }
    match &rule.statistic {
        Statistic::Extended(extended) => {
            data.insert("extendedStatistic".into(), json!(extended.to_string()));
        }
        simple => {
            data.insert("statistic".into(), json!(simple.name()));
        }
    }
    data.insert("period".into(), json!(rule.period_s));
    let recent: Vec<Value> = evaluated
        .iter()
        .filter_map(|slot| slot.point.map(|(value, _)| json!(value)))
        .collect();
    data.insert("recentDatapoints".into(), Value::Array(recent));
    data.insert("threshold".into(), json!(rule.threshold));
    let points: Vec<Value> = evaluated
        .iter()
        .rev()
        .map(|slot| match slot.point {
            Some((value, samples)) => json!({
                "timestamp": iso_date(slot.start_ms),
                "sampleCount": samples,
                "value": value,
            }),
            None => json!({"timestamp": iso_date(slot.start_ms)}),
        })
        .collect();
    data.insert("evaluatedDatapoints".into(), Value::Array(points));
    Value::Object(data).to_string()
}

fn finish(
    rule: &AlarmRule,
    current: State,
    state: State,
    reason: String,
    evaluated: &[Slot],
    now_ms: i64,
) -> Evaluation {
    Evaluation {
        state,
        reason,
        reason_data: reason_data(rule, evaluated, now_ms),
        changed: state != current,
    }
}

fn keep(rule: &AlarmRule, current: State, slots: &[Slot], now_ms: i64, reason: &str) -> Evaluation {
    Evaluation {
        state: current,
        reason: reason.to_owned(),
        reason_data: reason_data(rule, slots, now_ms),
        changed: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{Comparison, RuleInput, validate};

    const PERIOD_MS: i64 = 60_000;

    fn rule(m: u32, treat: TreatMissing) -> AlarmRule {
        let mut rule = validate(&RuleInput {
            period: Some(60),
            evaluation_periods: Some(3),
            datapoints_to_alarm: Some(i64::from(m)),
            threshold: Some(1.0),
            comparison_operator: Some("GreaterThanOrEqualToThreshold".into()),
            statistic: Some("Maximum".into()),
            ..RuleInput::default()
        })
        .expect("valid");
        rule.treat_missing = treat;
        rule
    }

    /// `0 - X - X`, oldest left: `0` a non-breaching point, `X` a breaching one, `-` missing.
    /// The newest slot is the period before `now`'s (the current period has no data).
    fn points(row: &str, now_ms: i64) -> Vec<PeriodStats> {
        let cells: Vec<&str> = row.split(' ').collect();
        let newest = now_ms - now_ms.rem_euclid(PERIOD_MS) - PERIOD_MS;
        cells
            .iter()
            .enumerate()
            .filter_map(|(index, cell)| {
                let value = match *cell {
                    "0" => 0.0,
                    "X" => 5.0,
                    _ => return None,
                };
                let start = newest - (cells.len() - 1 - index) as i64 * PERIOD_MS;
                Some(PeriodStats {
                    timestamp_ms: start,
                    sample_count: 1.0,
                    sum: value,
                    minimum: value,
                    maximum: value,
                    values: vec![value],
                })
            })
            .collect()
    }

    /// Runs one row of a table from both a current OK and a current ALARM state and returns
    /// the state name, or "keep" when the outcome is the current state in both runs and would
    /// otherwise differ.
    fn outcome(m: u32, treat: TreatMissing, row: &str) -> &'static str {
        let now: i64 = 1_700_000_030_000;
        let rule = rule(m, treat);
        let data = points(row, now);
        let from_ok = evaluate(&rule, State::Ok, &data, now).state;
        let from_alarm = evaluate(&rule, State::Alarm, &data, now).state;
        match (from_ok, from_alarm) {
            (State::Ok, State::Alarm) => "keep",
            (a, b) if a == b => a.as_str(),
            _ => "inconsistent",
        }
    }

    fn table(m: u32, rows: &[(&str, [&str; 4])]) {
        let modes = [
            TreatMissing::Missing,
            TreatMissing::Ignore,
            TreatMissing::Breaching,
            TreatMissing::NotBreaching,
        ];
        for (row, expected) in rows {
            for (mode, want) in modes.iter().zip(expected) {
                assert_eq!(
                    outcome(m, *mode, row),
                    *want,
                    "M={m} {row} {}",
                    mode.as_str()
                );
            }
        }
    }

    #[test]
    fn aws_table_three_of_three() {
        table(
            3,
            &[
                ("0 - X - X", ["OK", "OK", "OK", "OK"]),
                ("0 - - - -", ["OK", "OK", "OK", "OK"]),
                ("- - - - -", ["INSUFFICIENT_DATA", "keep", "ALARM", "OK"]),
                ("0 X X - X", ["ALARM", "ALARM", "ALARM", "ALARM"]),
                ("- - X - -", ["ALARM", "keep", "ALARM", "OK"]),
            ],
        );
    }

    #[test]
    fn aws_table_two_of_three() {
        table(
            2,
            &[
                ("0 - X - X", ["ALARM", "ALARM", "ALARM", "ALARM"]),
                ("0 0 X 0 X", ["ALARM", "ALARM", "ALARM", "ALARM"]),
                ("0 - X - -", ["OK", "OK", "ALARM", "OK"]),
                ("- - - - 0", ["OK", "OK", "ALARM", "OK"]),
                ("- - - X -", ["ALARM", "keep", "ALARM", "OK"]),
            ],
        );
    }

    #[test]
    fn the_newest_breaching_point_alone_is_not_premature() {
        assert_eq!(outcome(3, TreatMissing::Missing, "- - - - X"), "OK");
    }

    #[test]
    fn the_current_period_counts_once_it_has_data() {
        let now: i64 = 1_700_000_035_000;
        let mut rule = rule(1, TreatMissing::NotBreaching);
        rule.evaluation_periods = 1;
        rule.datapoints_to_alarm = None;
        rule.comparison = Comparison::GreaterThanOrEqualToThreshold;
        let current = now - now.rem_euclid(PERIOD_MS);
        let data = vec![PeriodStats {
            timestamp_ms: current,
            sample_count: 1.0,
            sum: 1.0,
            minimum: 1.0,
            maximum: 1.0,
            values: vec![1.0],
        }];
        let evaluation = evaluate(&rule, State::Ok, &data, now);
        assert_eq!(evaluation.state, State::Alarm);
        assert!(evaluation.changed);
        let when = reason_date(current);
        assert_eq!(
            evaluation.reason,
            format!(
                "Threshold Crossed: 1 datapoint [1.0 ({when})] was greater than or equal to the threshold (1.0)."
            )
        );
        let data: Value = serde_json::from_str(&evaluation.reason_data).expect("json");
        assert_eq!(data["recentDatapoints"], json!([1.0]));
        assert_eq!(data["statistic"], json!("Maximum"));
        assert_eq!(data["evaluatedDatapoints"][0]["sampleCount"], json!(1.0));
        // Without data the same alarm, notBreaching, is back to OK with the missing wording.
        let evaluation = evaluate(&rule, State::Alarm, &[], now);
        assert_eq!(evaluation.state, State::Ok);
        assert_eq!(
            evaluation.reason,
            "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching]."
        );
    }

    #[test]
    fn m_of_n_reasons_name_the_transition() {
        let now: i64 = 1_700_000_030_000;
        let rule = rule(2, TreatMissing::Missing);
        let evaluation = evaluate(&rule, State::Ok, &points("0 0 X 0 X", now), now);
        assert_eq!(evaluation.state, State::Alarm);
        assert!(
            evaluation
                .reason
                .starts_with("Threshold Crossed: 2 out of the last 3 datapoints [5.0 (")
        );
        assert!(evaluation.reason.ends_with(")] were greater than or equal to the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition)."));
        let evaluation = evaluate(&rule, State::Alarm, &points("X 0 0 0 0", now), now);
        assert_eq!(evaluation.state, State::Ok);
        assert!(
            evaluation
                .reason
                .contains("were not greater than or equal to")
        );
        assert!(
            evaluation
                .reason
                .ends_with("(minimum 2 datapoints for ALARM -> OK transition).")
        );
    }

    #[test]
    fn no_data_and_missing_is_insufficient_data() {
        let now: i64 = 1_700_000_030_000;
        let mut rule = rule(1, TreatMissing::Missing);
        rule.evaluation_periods = 1;
        rule.datapoints_to_alarm = None;
        let evaluation = evaluate(&rule, State::Ok, &[], now);
        assert_eq!(evaluation.state, State::InsufficientData);
        assert_eq!(
            evaluation.reason,
            "Insufficient Data: 1 datapoint was unknown."
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn cell() -> impl Strategy<Value = &'static str> {
            prop_oneof![Just("0"), Just("X"), Just("-")]
        }

        proptest! {
            #[test]
            fn full_data_ignores_treat_missing(cells in proptest::collection::vec(prop_oneof![Just("0"), Just("X")], 5), m in 1u32..=3) {
                let row = cells.join(" ");
                let first = outcome(m, TreatMissing::Missing, &row);
                for mode in [TreatMissing::Ignore, TreatMissing::Breaching, TreatMissing::NotBreaching] {
                    prop_assert_eq!(outcome(m, mode, &row), first);
                }
            }

            #[test]
            fn never_panics_and_breaching_without_data_alarms(cells in proptest::collection::vec(cell(), 5), m in 1u32..=3, now in 0i64..4_000_000_000_000) {
                let row = cells.join(" ");
                for mode in [TreatMissing::Missing, TreatMissing::Ignore, TreatMissing::Breaching, TreatMissing::NotBreaching] {
                    let rule = rule(m, mode);
                    let evaluation = evaluate(&rule, State::Ok, &points(&row, now), now);
                    prop_assert!(serde_json::from_str::<Value>(&evaluation.reason_data).is_ok());
                }
                let rule = rule(m, TreatMissing::Breaching);
                prop_assert_eq!(evaluate(&rule, State::Ok, &[], now).state, State::Alarm);
            }
        }
    }
}
