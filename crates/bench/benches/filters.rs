//! CloudTrail records per second through the 14 CIS / Security Hub CloudWatch.1–14 metric
//! filters at once, on one core.
//!
//! Run with: `cargo bench -p opentrail-bench --bench filters`
//!
//! The records are what a trail sends to its log group: one compact JSON record per event.
//! `OPENTRAIL_BENCH_EVENTS` (default 50,000) synthetic management events (~40 APIs with a
//! skewed popularity, IAM users and assumed roles, errors) are mixed with the AWS documentation
//! examples and the Stratus Red Team attack records of `tests/data/cloudtrail-examples/`, so
//! that every filter fires now and then. Each record goes through the 14 patterns two ways:
//!
//! - `FilterSet`: one selective JSON parse per record shared by the 14 patterns (what the log
//!   group's metric filters use);
//! - `14 × matches`: each pattern parses the record on its own.
//!
//! Every way runs on the calling thread for `OPENTRAIL_BENCH_SECONDS` (default 3) seconds of
//! CPU time, in whole passes over the set; the table gives records/s (wall clock and per CPU-second of the
//! process, the one-core figure on a busy machine), MB/s and the matches per control.

use std::path::Path;
use std::time::{Duration, Instant};

use opentrail_bench::setup::{cpu_time, cpus, env_usize, load_average};
use opentrail_bench::stats::{Table, per_second, thousands};
use opentrail_bench::synth::Generator;
use opentrail_filters::cis::CLOUDWATCH_CONTROLS;
use opentrail_filters::{FilterPattern, FilterSet};
use serde_json::Value;
use time::OffsetDateTime;

fn main() -> anyhow::Result<()> {
    let events = env_usize("OPENTRAIL_BENCH_EVENTS", 50_000)?;
    let seconds = env_usize("OPENTRAIL_BENCH_SECONDS", 3)?;
    let records = records(events)?;
    let bytes: usize = records.iter().map(String::len).sum();
    println!(
        "filters: {} records ({} synthetic, {} examples), {} bytes mean, {} CPUs (load average {}), {seconds} CPU-s per way, one thread",
        thousands(records.len() as u64),
        thousands(events as u64),
        thousands((records.len() - events) as u64),
        bytes / records.len().max(1),
        cpus(),
        load_average(),
    );

    let patterns: Vec<FilterPattern> = CLOUDWATCH_CONTROLS
        .iter()
        .map(|(_, _, pattern)| FilterPattern::parse(pattern))
        .collect::<Result<_, _>>()?;
    let set = FilterSet::new(patterns.iter().cloned());
    let budget = Duration::from_secs(seconds as u64);

    let mut hits = vec![0u64; patterns.len()];
    let mut matching = Vec::new();
    let shared = run(&records, budget, |record| {
        set.matching(record, &mut matching);
        for &index in &matching {
            hits[index] += 1;
        }
    });
    let mut separate_hits = vec![0u64; patterns.len()];
    let separate = run(&records, budget, |record| {
        for (index, pattern) in patterns.iter().enumerate() {
            if pattern.matches(record) {
                separate_hits[index] += 1;
            }
        }
    });
    // Both ways see the same records the same number of times per pass: the per-pass hit
    // counts must agree, or the shared parse lost something.
    let per_pass = |hits: &[u64], passes: u64| hits.iter().map(|h| h / passes).collect::<Vec<_>>();
    anyhow::ensure!(
        per_pass(&hits, shared.passes) == per_pass(&separate_hits, separate.passes),
        "FilterSet and single patterns disagree"
    );

    let mut table = Table::new(["way", "records", "records/s", "records/CPU-s", "MB/s"]);
    for (label, result) in [
        ("FilterSet (14 at once)", &shared),
        ("14 × matches", &separate),
    ] {
        let megabytes = (bytes as u64 * result.passes) as f64 / 1e6;
        table.row([
            label.to_owned(),
            thousands(result.records),
            per_second(result.records, result.elapsed),
            per_second(result.records, result.cpu),
            format!("{:.0}", megabytes / result.elapsed.as_secs_f64()),
        ]);
    }
    println!("{}", table.render());

    let mut controls = Table::new(["control", "watches", "matches per pass"]);
    for ((control, watches, _), hits) in CLOUDWATCH_CONTROLS.iter().zip(&hits) {
        controls.row([
            (*control).to_owned(),
            (*watches).to_owned(),
            thousands(hits / shared.passes),
        ]);
    }
    println!("{}", controls.render());
    Ok(())
}

struct Run {
    records: u64,
    passes: u64,
    elapsed: Duration,
    /// CPU time of the process meanwhile: on a busy machine, the rate per CPU-second is the
    /// one-core figure.
    cpu: Duration,
}

/// Whole passes over `records` until `budget` of CPU time is spent.
fn run(records: &[String], budget: Duration, mut each: impl FnMut(&str)) -> Run {
    let start = Instant::now();
    let cpu_start = cpu_time();
    let mut passes = 0;
    while passes == 0 || cpu_time().saturating_sub(cpu_start) < budget {
        for record in records {
            each(record);
        }
        passes += 1;
    }
    Run {
        records: passes * records.len() as u64,
        passes,
        elapsed: start.elapsed(),
        cpu: cpu_time().saturating_sub(cpu_start),
    }
}

/// Synthetic records interleaved with the example records, each as compact JSON.
fn records(synthetic: usize) -> anyhow::Result<Vec<String>> {
    let examples_dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/cloudtrail-examples");
    let mut examples = Vec::new();
    collect_examples(
        &examples_dir.join("aws-docs-example-records.json"),
        &mut examples,
    )?;
    let mut stratus: Vec<_> = fs_err::read_dir(examples_dir.join("stratus-red-team"))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    stratus.sort();
    for path in stratus {
        collect_examples(&path, &mut examples)?;
    }

    let mut generator = Generator::new(7);
    let now = OffsetDateTime::now_utc();
    let mut records = Vec::with_capacity(synthetic + examples.len());
    let spacing = (synthetic / examples.len().max(1)).max(1);
    let mut pending = examples.into_iter();
    for index in 0..synthetic {
        records.push(String::from_utf8(generator.record_json(now))?);
        if index % spacing == 0
            && let Some(example) = pending.next()
        {
            records.push(example);
        }
    }
    records.extend(pending);
    Ok(records)
}

fn collect_examples(path: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
    let document: Value = serde_json::from_str(&fs_err::read_to_string(path)?)?;
    let items = match document {
        Value::Object(mut object) => match object.remove("Records") {
            Some(Value::Array(records)) => records,
            _ => vec![Value::Object(object)],
        },
        Value::Array(items) => items,
        other => vec![other],
    };
    out.extend(items.iter().map(Value::to_string));
    Ok(())
}
