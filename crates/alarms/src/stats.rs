//! Statistics of one period: the five simple ones and AWS's extended statistics.
//!
//! Extended statistics, as CloudWatch spells them:
//! - `pNN` / `pNN.NN`: the percentile (nearest rank; `p0` is the minimum, `p100` the maximum).
//! - `tmNN`, `tcNN`, `tsNN`, `wmNN`: trimmed mean, trimmed count, trimmed sum and winsorized
//!   mean of the values up to the NNth percentile, shorthand for `TM(:NN%)` and friends.
//! - `TM(a%:b%)`, `TC(..)`, `TS(..)`, `WM(..)`: the same between two percentiles
//!   (`a%` exclusive, `b%` inclusive); `TM(a:b)` between two values (`a < v <= b`); either
//!   bound may be left out.
//! - `PR(a:b)`: the percentage of values with `a < v <= b`.
//! - `IQM`: the interquartile mean, `TM(25%:75%)`.

use std::fmt;
use std::str::FromStr;

/// The statistic an alarm compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Statistic {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
    Extended(ExtendedStatistic),
}

impl Statistic {
    /// The simple statistic named `text` (`Sum`, …), if it is one.
    pub fn simple(text: &str) -> Option<Statistic> {
        match text {
            "SampleCount" => Some(Statistic::SampleCount),
            "Average" => Some(Statistic::Average),
            "Sum" => Some(Statistic::Sum),
            "Minimum" => Some(Statistic::Minimum),
            "Maximum" => Some(Statistic::Maximum),
            _ => None,
        }
    }

    /// The name as requests spell it: `Sum`, `p99`, `TM(10%:90%)`.
    pub fn name(&self) -> String {
        match self {
            Statistic::SampleCount => "SampleCount".into(),
            Statistic::Average => "Average".into(),
            Statistic::Sum => "Sum".into(),
            Statistic::Minimum => "Minimum".into(),
            Statistic::Maximum => "Maximum".into(),
            Statistic::Extended(extended) => extended.to_string(),
        }
    }
}

/// The aggregate of one period, as the metric store returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodStats {
    /// The start of the period (milliseconds since the epoch).
    pub timestamp_ms: i64,
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
    /// The raw values (statistic sets add none), for extended statistics.
    pub values: Vec<f64>,
}

/// One bound of a trimmed statistic or a percentile rank.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    Percent(f64),
    Value(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Trim {
    Mean,
    Count,
    Sum,
    Winsorized,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Percentile(f64),
    Trimmed {
        trim: Trim,
        low: Option<Bound>,
        high: Option<Bound>,
    },
    Rank {
        low: Option<f64>,
        high: Option<f64>,
    },
}

/// A parsed extended statistic; prints as it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtendedStatistic {
    text: String,
    kind: Kind,
}

/// Why a text is not an extended statistic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0:?} is not an extended statistic")]
pub struct NotAStatistic(String);

fn percent(text: &str) -> Option<f64> {
    let value: f64 = text.parse().ok()?;
    (0.0..=100.0).contains(&value).then_some(value)
}

fn bound(text: &str) -> Result<Option<Bound>, ()> {
    if text.is_empty() {
        return Ok(None);
    }
    match text.strip_suffix('%') {
        Some(number) => percent(number).map(|p| Some(Bound::Percent(p))).ok_or(()),
        None => text
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
            .map(|value| Some(Bound::Value(value)))
            .ok_or(()),
    }
}

fn parse(text: &str) -> Option<Kind> {
    if text == "IQM" {
        return Some(Kind::Trimmed {
            trim: Trim::Mean,
            low: Some(Bound::Percent(25.0)),
            high: Some(Bound::Percent(75.0)),
        });
    }
    if let Some(number) = text.strip_prefix('p') {
        return percent(number).map(Kind::Percentile);
    }
    for (prefix, trim) in [
        ("tm", Trim::Mean),
        ("tc", Trim::Count),
        ("ts", Trim::Sum),
        ("wm", Trim::Winsorized),
    ] {
        if let Some(number) = text.strip_prefix(prefix) {
            let high = percent(number)?;
            return Some(Kind::Trimmed {
                trim,
                low: None,
                high: Some(Bound::Percent(high)),
            });
        }
    }
    let open = text.find('(')?;
    let inner = text.get(open + 1..)?.strip_suffix(')')?;
    let (low, high) = inner.split_once(':')?;
    let name = &text[..open];
    if name == "PR" {
        let value = |part: &str| -> Result<Option<f64>, ()> {
            if part.is_empty() {
                Ok(None)
            } else {
                part.parse::<f64>().map(Some).map_err(|_| ())
            }
        };
        let (low, high) = (value(low).ok()?, value(high).ok()?);
        if low.is_none() && high.is_none() {
            return None;
        }
        return Some(Kind::Rank { low, high });
    }
    let trim = match name {
        "TM" => Trim::Mean,
        "TC" => Trim::Count,
        "TS" => Trim::Sum,
        "WM" => Trim::Winsorized,
        _ => return None,
    };
    let (low, high) = (bound(low).ok()?, bound(high).ok()?);
    if low.is_none() && high.is_none() {
        return None;
    }
    Some(Kind::Trimmed { trim, low, high })
}

impl FromStr for ExtendedStatistic {
    type Err = NotAStatistic;

    fn from_str(text: &str) -> Result<ExtendedStatistic, NotAStatistic> {
        parse(text)
            .map(|kind| ExtendedStatistic {
                text: text.to_owned(),
                kind,
            })
            .ok_or_else(|| NotAStatistic(text.to_owned()))
    }
}

impl fmt::Display for ExtendedStatistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The value at percentile `p` of sorted `values` (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

impl ExtendedStatistic {
    /// Whether this is a plain percentile (`pNN`), and which.
    pub fn percentile(&self) -> Option<f64> {
        match self.kind {
            Kind::Percentile(p) => Some(p),
            _ => None,
        }
    }

    /// The statistic of `values` (any order); `None` when there are none to compute from.
    pub fn value(&self, values: &[f64]) -> Option<f64> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let count = sorted.len();
        match &self.kind {
            Kind::Percentile(p) => percentile(&sorted, *p),
            Kind::Rank { low, high } => {
                let inside = sorted
                    .iter()
                    .filter(|v| {
                        low.is_none_or(|low| **v > low) && high.is_none_or(|high| **v <= high)
                    })
                    .count();
                Some(100.0 * inside as f64 / count as f64)
            }
            Kind::Trimmed { trim, low, high } => {
                // Bounds as values: a percentile bound becomes the value at that rank.
                let low_value = match low {
                    None => None,
                    Some(Bound::Value(value)) => Some(*value),
                    Some(Bound::Percent(p)) if *p <= 0.0 => None,
                    Some(Bound::Percent(p)) => percentile(&sorted, *p),
                };
                let high_value = match high {
                    None => None,
                    Some(Bound::Value(value)) => Some(*value),
                    Some(Bound::Percent(p)) => percentile(&sorted, *p),
                };
                let inside = |v: f64| {
                    low_value.is_none_or(|low| v > low) && high_value.is_none_or(|high| v <= high)
                };
                match trim {
                    Trim::Winsorized => {
                        let clamped: f64 = sorted
                            .iter()
                            .map(|v| {
                                let v = low_value.map_or(*v, |low| v.max(low));
                                high_value.map_or(v, |high| v.min(high))
                            })
                            .sum();
                        Some(clamped / count as f64)
                    }
                    Trim::Count => Some(sorted.iter().filter(|v| inside(**v)).count() as f64),
                    Trim::Sum => Some(sorted.iter().copied().filter(|v| inside(*v)).sum()),
                    Trim::Mean => {
                        let kept: Vec<f64> =
                            sorted.iter().copied().filter(|v| inside(*v)).collect();
                        (!kept.is_empty()).then(|| kept.iter().sum::<f64>() / kept.len() as f64)
                    }
                }
            }
        }
    }
}

/// The value of `statistic` over one period; `None` when it cannot be computed (an extended
/// statistic of a period that holds only statistic sets).
pub fn statistic_value(statistic: &Statistic, stats: &PeriodStats) -> Option<f64> {
    match statistic {
        Statistic::SampleCount => Some(stats.sample_count),
        Statistic::Sum => Some(stats.sum),
        Statistic::Minimum => Some(stats.minimum),
        Statistic::Maximum => Some(stats.maximum),
        Statistic::Average => (stats.sample_count > 0.0).then(|| stats.sum / stats.sample_count),
        Statistic::Extended(extended) => extended.value(&stats.values),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(text: &str) -> ExtendedStatistic {
        text.parse().expect("an extended statistic")
    }

    #[test]
    fn spellings_parse_and_print_as_written() {
        for text in [
            "p99",
            "p99.9",
            "p0",
            "p100",
            "tm90",
            "tc10",
            "ts50",
            "wm99",
            "TM(10%:90%)",
            "TM(:95%)",
            "TM(150:1000)",
            "WM(5%:)",
            "PR(:300)",
            "PR(100:2000)",
            "IQM",
        ] {
            assert_eq!(stat(text).to_string(), text);
        }
        for text in [
            "90",
            "p101",
            "px",
            "TM()",
            "TM(:)",
            "XX(1:2)",
            "PR(:)",
            "TM(10%:90",
            "tm",
        ] {
            assert!(text.parse::<ExtendedStatistic>().is_err(), "{text}");
        }
    }

    #[test]
    fn values_of_one_to_a_hundred() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(stat("p99").value(&values), Some(99.0));
        assert_eq!(stat("p50").value(&values), Some(50.0));
        assert_eq!(stat("p0").value(&values), Some(1.0));
        assert_eq!(stat("p100").value(&values), Some(100.0));
        assert_eq!(stat("tc90").value(&values), Some(90.0));
        assert_eq!(stat("ts10").value(&values), Some(55.0));
        assert_eq!(stat("tm10").value(&values), Some(5.5));
        assert_eq!(stat("TM(10%:20%)").value(&values), Some(15.5));
        assert_eq!(stat("IQM").value(&values), Some(50.5));
        assert_eq!(stat("PR(:25)").value(&values), Some(25.0));
        assert_eq!(stat("PR(90:)").value(&values), Some(10.0));
        assert_eq!(stat("TC(10:20)").value(&values), Some(10.0));
        // Winsorized at p90: the ten values above 90 count as 90.
        let expected = ((1..=90).sum::<i32>() as f64 + 10.0 * 90.0) / 100.0;
        assert_eq!(stat("wm90").value(&values), Some(expected));
        assert_eq!(stat("p99").value(&[]), None);
    }

    #[test]
    fn simple_statistics_of_a_period() {
        let stats = PeriodStats {
            timestamp_ms: 0,
            sample_count: 4.0,
            sum: 10.0,
            minimum: 1.0,
            maximum: 4.0,
            values: vec![4.0, 1.0, 3.0, 2.0],
        };
        assert_eq!(statistic_value(&Statistic::Average, &stats), Some(2.5));
        assert_eq!(statistic_value(&Statistic::SampleCount, &stats), Some(4.0));
        assert_eq!(
            statistic_value(&Statistic::Extended(stat("p50")), &stats),
            Some(2.0)
        );
    }
}
