//! Latency percentiles, rates and a plain-text table for benchmark output.

use std::fmt::Write as _;
use std::time::Duration;

/// Percentiles of a set of latency samples (nearest-rank on the sorted samples).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    pub mean: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    /// Summarizes `samples`, sorting them in place. All zero when there are none.
    pub fn of(samples: &mut [Duration]) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        samples.sort_unstable();
        let total: Duration = samples.iter().sum();
        let count = samples.len();
        Summary {
            count,
            mean: total / u32::try_from(count).unwrap_or(u32::MAX),
            p50: percentile(samples, 50.0),
            p99: percentile(samples, 99.0),
            max: samples[count - 1],
        }
    }
}

/// The nearest-rank `pct` percentile of `sorted` (ascending, not empty).
pub fn percentile(sorted: &[Duration], pct: f64) -> Duration {
    debug_assert!(!sorted.is_empty());
    debug_assert!(sorted.windows(2).all(|pair| pair[0] <= pair[1]));
    let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A duration for humans: `12.3 ms`, `850 µs`, `2.41 s`.
pub fn ms(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.0} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.2} ms", micros / 1e3)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

/// `count` per second over `elapsed`, with thousands separators: `123,456/s`.
pub fn per_second(count: u64, elapsed: Duration) -> String {
    let rate = count as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    format!("{}/s", thousands(rate.round() as u64))
}

/// `1234567` as `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A table printed with aligned columns; the first column is left-aligned, the others right.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as text, one line per row, under a header and a rule.
    pub fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .fold(self.headers.len(), usize::max);
        let width = |column: usize| {
            std::iter::once(&self.headers)
                .chain(&self.rows)
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..columns).map(width).collect();
        let line = |cells: &[String]| {
            let mut text = String::new();
            for (column, &width) in widths.iter().enumerate() {
                let cell = cells.get(column).map_or("", String::as_str);
                if column == 0 {
                    let _ = write!(text, "{cell:<width$}");
                } else {
                    let _ = write!(text, "  {cell:>width$}");
                }
            }
            text.trim_end().to_owned()
        };
        let mut out = line(&self.headers);
        out.push('\n');
        let rule_width = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
        out.push_str(&"-".repeat(rule_width));
        for row in &self.rows {
            out.push('\n');
            out.push_str(&line(row));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let summary = Summary::of(&mut samples);
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50, Duration::from_millis(50));
        assert_eq!(summary.p99, Duration::from_millis(99));
        assert_eq!(summary.max, Duration::from_millis(100));
        assert_eq!(summary.mean, Duration::from_micros(50_500));
        assert_eq!(Summary::of(&mut []), Summary::default());
    }

    #[test]
    fn formatting() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(ms(Duration::from_micros(850)), "850 µs");
        assert_eq!(ms(Duration::from_micros(12_345)), "12.35 ms");
        assert_eq!(per_second(500, Duration::from_millis(250)), "2,000/s");
        let mut table = Table::new(["kind", "p50"]);
        table.row(["EventName", "1.00 ms"]);
        assert_eq!(
            table.render(),
            "kind           p50\n------------------\nEventName  1.00 ms"
        );
    }
}
