//! CloudWatch metric alarms: the rules of PutMetricAlarm, evaluation of an alarm against its
//! datapoints, and the SNS notification of a state change.
//!
//! Pure: no IO. The CloudWatch service stores alarms and reads datapoints; this crate decides.
//! Semantics follow `shared/spec/filter-patterns.md` §9–§10 (AWS's alarm documentation): the
//! evaluation range is N + max(⌊N/3⌋, 2) periods, M out of N datapoints breach for ALARM,
//! `TreatMissingData` fills gaps with as few missing points as possible, and the
//! premature-alarm rule applies under `missing` and `ignore`.
//!
//! # Layout
//! - `rule`: [`State`], [`Comparison`], [`TreatMissing`], [`AlarmRule`] and
//!   [`validate`] (PutMetricAlarm's rules with AWS's codes and messages).
//! - `stats`: [`Statistic`], [`ExtendedStatistic`] (percentiles, trimmed and winsorized
//!   means, percentile rank) and [`statistic_value`].
//! - `evaluate`: [`evaluate`], the state reasons and the StateReasonData document.
//! - `notify`: [`notification`] (subject and message as AWS sends them), region long names.
//! - `format`: numbers as Java's `Double.toString` prints them, and AWS's date formats.

#![deny(clippy::unwrap_used)]

mod evaluate;
mod format;
mod notify;
mod rule;
mod stats;

pub use evaluate::{Evaluation, evaluate, lookback_ms};
pub use format::java_double;
pub use notify::{AlarmInfo, notification, region_long_name};
pub use rule::{AlarmError, AlarmRule, Comparison, RuleInput, State, TreatMissing, validate};
pub use stats::{ExtendedStatistic, PeriodStats, Statistic, statistic_value};
