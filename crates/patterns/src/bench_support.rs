//! Throughput measurement of [`Machine`] on city-lots-shaped events (SF lot GeoJSON features,
//! the event-ruler / quamina benchmark shape), run by the bench crate:
//! `cargo bench -p opentrail-bench --bench patterns`.
//!
//! Rule sets:
//! - [`families`]: five rules per operator family on `properties.*` / `geometry.*`, in the style
//!   of event-ruler's citylots benchmark;
//! - [`scaled_rules`]: `n` distinct rules mixing exact, prefix, wildcard, suffix and two-field
//!   rules, each event matching few of them — to see how matching cost grows with the number of
//!   rules. (`anything-but` rules match nearly every event, so their cost is the size of the
//!   answer; they are left out of the scaling set.)

use std::time::Instant;

use crate::{Machine, Pattern, PatternError};

/// A named set of rules.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: &'static str,
    pub rules: Vec<String>,
}

fn props(field: &str, matcher: &str) -> String {
    format!(r#"{{"properties": {{"{field}": [{matcher}]}}}}"#)
}

/// Five rules for each operator family.
pub fn families() -> Vec<Family> {
    let each = |name, field: &str, matchers: &[&str]| Family {
        name,
        rules: matchers.iter().map(|m| props(field, m)).collect(),
    };
    vec![
        each("exact", "MAPBLKLOT", &[r#""1430022""#, r#""2607117""#, r#""2607218""#, r#""3745012""#, r#""VACSTWIL""#]),
        each("prefix", "STREET", &[
            r#"{"prefix": "AC"}"#,
            r#"{"prefix": "BL"}"#,
            r#"{"prefix": "DR"}"#,
            r#"{"prefix": "FU"}"#,
            r#"{"prefix": "RH"}"#,
        ]),
        each("wildcard", "MAPBLKLOT", &[
            r#"{"wildcard": "143*"}"#,
            r#"{"wildcard": "2*7117"}"#,
            r#"{"wildcard": "*7218"}"#,
            r#"{"wildcard": "3745*2"}"#,
            r#"{"wildcard": "VAC*WIL"}"#,
        ]),
        each("suffix", "STREET", &[
            r#"{"suffix": "ON"}"#,
            r#"{"suffix": "KE"}"#,
            r#"{"suffix": "MM"}"#,
            r#"{"suffix": "ING"}"#,
            r#"{"suffix": "GO"}"#,
        ]),
        each("equals-ignore-case", "STREET", &[
            r#"{"equals-ignore-case": "jefferson"}"#,
            r#"{"equals-ignore-case": "bEaCh"}"#,
            r#"{"equals-ignore-case": "HyDe"}"#,
            r#"{"equals-ignore-case": "CHESTNUT"}"#,
            r#"{"equals-ignore-case": "acacia"}"#,
        ]),
        each("prefix-equals-ignore-case", "STREET", &[
            r#"{"prefix": {"equals-ignore-case": "aC"}}"#,
            r#"{"prefix": {"equals-ignore-case": "bL"}}"#,
            r#"{"prefix": {"equals-ignore-case": "dR"}}"#,
            r#"{"prefix": {"equals-ignore-case": "fU"}}"#,
            r#"{"prefix": {"equals-ignore-case": "rH"}}"#,
        ]),
        each("suffix-equals-ignore-case", "STREET", &[
            r#"{"suffix": {"equals-ignore-case": "oN"}}"#,
            r#"{"suffix": {"equals-ignore-case": "kE"}}"#,
            r#"{"suffix": {"equals-ignore-case": "mM"}}"#,
            r#"{"suffix": {"equals-ignore-case": "InG"}}"#,
            r#"{"suffix": {"equals-ignore-case": "gO"}}"#,
        ]),
        Family {
            name: "anything-but",
            rules: vec![
                props("STREET", r#"{"anything-but": ["FULTON", "MASON"]}"#),
                props("ST_TYPE", r#"{"anything-but": "ST"}"#),
                props("ODD_EVEN", r#"{"anything-but": {"equals-ignore-case": "e"}}"#),
                props("STREET", r#"{"anything-but": {"prefix": "M"}}"#),
                props("BLKLOT", r#"{"anything-but": {"suffix": "1"}}"#),
            ],
        },
        Family {
            name: "numeric",
            rules: [
                r#"{"geometry": {"type": ["Polygon"], "coordinates": [{"numeric": ["=", 0]}]}}"#,
                r#"{"geometry": {"coordinates": [{"numeric": [">", -122.45, "<", -122.4]}]}}"#,
                r#"{"geometry": {"coordinates": [{"numeric": [">=", 37.75, "<", 37.8]}]}}"#,
                r#"{"geometry": {"type": ["MultiPolygon"], "coordinates": [{"numeric": ["<", -122.5]}]}}"#,
                r#"{"geometry": {"coordinates": [{"numeric": [">", 37.82]}]}}"#,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        },
    ]
}

/// `n` distinct rules; see the module docs.
pub fn scaled_rules(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let block = 1 + (i * 7919) % 7600;
            let lot = 1 + (i * 31) % 350;
            match i % 5 {
                0 => props("MAPBLKLOT", &format!(r#""{block:04}{lot:03}""#)),
                1 => props(
                    "MAPBLKLOT",
                    &format!(r#"{{"prefix": "{block:04}{:02}"}}"#, lot / 10),
                ),
                2 => props(
                    "MAPBLKLOT",
                    &format!(r#"{{"wildcard": "{block:04}*{:02}"}}"#, lot % 100),
                ),
                3 => props(
                    "BLKLOT",
                    &format!(r#"{{"suffix": "{:03}{lot:03}"}}"#, block % 1000),
                ),
                _ => format!(
                    r#"{{"properties": {{"BLOCK_NUM": ["{block:04}"], "LOT_NUM": ["{lot:03}"]}}}}"#
                ),
            }
        })
        .collect()
}

/// The result of one timed pass over the events.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub label: String,
    pub rules: usize,
    /// Events matched: the set's length times the passes.
    pub events: usize,
    /// Total matched ids over all events (and passes).
    pub matches: usize,
    /// Wall-clock time.
    pub seconds: f64,
    /// CPU time of the measuring thread, when a clock for it was given (on a shared machine it
    /// is the steadier figure).
    pub cpu_seconds: Option<f64>,
}

impl Measurement {
    /// Events per wall-clock second.
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    /// Events per CPU second of the measuring thread.
    pub fn events_per_cpu_second(&self) -> Option<f64> {
        self.cpu_seconds.map(|cpu| self.events as f64 / cpu)
    }
}

/// Reads the CPU time of the calling thread, in seconds.
pub type CpuClock = dyn Fn() -> Option<f64>;

/// Compiles `rules` into one machine and times `count_matches_for_json` over every event,
/// `passes` times, on this thread (the automaton is built before the clock starts).
pub fn measure(
    label: &str,
    rules: &[String],
    events: &[&[u8]],
    passes: usize,
    cpu_clock: Option<&CpuClock>,
) -> Result<Measurement, PatternError> {
    let mut machine = Machine::new();
    for (i, rule) in rules.iter().enumerate() {
        machine.add(i, &Pattern::parse(rule)?);
    }
    machine.prepare();
    let cpu_started = cpu_clock.and_then(|clock| clock());
    let started = Instant::now();
    let mut matches = 0;
    for _ in 0..passes {
        for event in events {
            matches += machine.count_matches_for_json(event)?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = match (cpu_clock.and_then(|clock| clock()), cpu_started) {
        (Some(end), Some(start)) => Some(end - start),
        _ => None,
    };
    Ok(Measurement {
        label: label.to_string(),
        rules: rules.len(),
        events: events.len() * passes,
        matches,
        seconds,
        cpu_seconds,
    })
}

/// Splits a JSON-lines buffer into its non-empty lines.
pub fn lines(buffer: &[u8]) -> Vec<&[u8]> {
    buffer
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .collect()
}

/// Runs every family and the scaling sets whose label contains `filter` (all for `""`),
/// `passes` times over the events each; prints nothing.
pub fn run_all(
    events: &[&[u8]],
    filter: &str,
    passes: usize,
    cpu_clock: Option<&CpuClock>,
) -> Result<Vec<Measurement>, PatternError> {
    let mut results = Vec::new();
    for family in families() {
        if family.name.contains(filter) {
            results.push(measure(
                family.name,
                &family.rules,
                events,
                passes,
                cpu_clock,
            )?);
        }
    }
    if "mixed (scaling)".contains(filter) {
        for n in [10, 1_000, 10_000] {
            results.push(measure(
                "mixed (scaling)",
                &scaled_rules(n),
                events,
                passes,
                cpu_clock,
            )?);
        }
    }
    Ok(results)
}

/// Formats measurements as a table.
pub fn table(results: &[Measurement]) -> String {
    let mut out = format!(
        "{:<28} {:>6} {:>8} {:>8} {:>7} {:>10} {:>7} {:>12}\n",
        "family", "rules", "events", "matches", "wall s", "events/s", "cpu s", "events/cpu-s"
    );
    for m in results {
        let cpu = m
            .cpu_seconds
            .map_or_else(|| "-".to_string(), |c| format!("{c:.3}"));
        let per_cpu = m
            .events_per_cpu_second()
            .map_or_else(|| "-".to_string(), |r| format!("{r:.0}"));
        out.push_str(&format!(
            "{:<28} {:>6} {:>8} {:>8} {:>7.3} {:>10.0} {:>7} {:>12}\n",
            m.label,
            m.rules,
            m.events,
            m.matches,
            m.seconds,
            m.events_per_second(),
            cpu,
            per_cpu
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_parses() {
        for family in families() {
            assert_eq!(family.rules.len(), 5, "{}", family.name);
            for rule in &family.rules {
                Pattern::parse(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
            }
        }
        for rule in scaled_rules(50) {
            Pattern::parse(&rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
        }
    }

    #[test]
    fn measure_counts_matches() {
        let events: Vec<&[u8]> = vec![
            br#"{"type":"Feature","properties":{"MAPBLKLOT":"1430022","STREET":"FULTON"},"geometry":{"type":"Polygon","coordinates":[[[-122.42,37.77,0]]]}}"#,
            br#"{"type":"Feature","properties":{"MAPBLKLOT":"0000001","STREET":"MASON"},"geometry":{"type":"Polygon","coordinates":[[[-122.42,37.77,0]]]}}"#,
        ];
        let exact = measure("exact", &families()[0].rules, &events, 1, None).expect("valid");
        assert_eq!(exact.matches, 1);
        let numeric = measure("numeric", &families()[8].rules, &events, 2, None).expect("valid");
        assert_eq!(numeric.matches, 2 * 2 * 3);
    }
}
