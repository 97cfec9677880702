//! Journal appends per second and acknowledgement latency with fsync group commit, at 1, 16
//! and 256 concurrent writers.
//!
//! Run with: `cargo bench -p opentrail-bench --bench journal`
//!
//! One journal (default [`PersistMode::SyncData`]: every group is `fdatasync`ed before its
//! appends are acknowledged) is opened in a temporary directory — under `OPENTRAIL_BENCH_DIR`
//! when set, else the system temporary directory; the filesystem is printed, and it must be a
//! real disk for the figures to mean anything. A warm-up moves it onto a zero-filled segment
//! (the steady state of a running server), then the levels run one after the other. Writers are tokio
//! tasks on a multi-thread runtime, each appending ~1 KB CloudTrail records (built by the
//! recorder) one at a time, for `OPENTRAIL_BENCH_SECONDS` (default 5) seconds.
//! `OPENTRAIL_BENCH_WRITERS` (a comma-separated list, default `1,16,256`) changes the levels.
//!
//! [`PersistMode::SyncData`]: opentrail_journal::PersistMode::SyncData

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentrail_bench::setup::{bench_dir, cpu_time, cpus, env_usize, filesystem_of, load_average};
use opentrail_bench::stats::{Summary, Table, ms, per_second, thousands};
use opentrail_bench::synth::Generator;
use opentrail_journal::{Journal, JournalConfig};
use time::OffsetDateTime;

const LEVELS: &str = "1,16,256";
/// Distinct payloads the writers cycle through.
const PAYLOADS: usize = 4_096;

fn main() -> anyhow::Result<()> {
    let seconds = env_usize("OPENTRAIL_BENCH_SECONDS", 5)?;
    let levels = levels()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let mut generator = Generator::new(1);
    let now = OffsetDateTime::now_utc();
    let payloads: Arc<Vec<Vec<u8>>> =
        Arc::new((0..PAYLOADS).map(|_| generator.record_json(now)).collect());
    let mean_bytes = payloads.iter().map(Vec::len).sum::<usize>() / payloads.len();

    let dir = bench_dir("opentrail-bench-journal-")?;
    println!(
        "journal: {seconds} s per level, {mean_bytes}-byte records (mean), {} CPUs (load average {}), fdatasync per group, {}",
        cpus(),
        load_average(),
        filesystem_of(dir.path())
    );
    let journal = Journal::open(JournalConfig::new(dir.path()))?;
    let warmed = runtime.block_on(warm_up(&journal, &payloads))?;
    println!(
        "warm-up: {} appended in {} until the journal moved to a zero-filled segment",
        thousands(journal.stats().appends),
        ms(warmed)
    );

    let mut table = Table::new([
        "writers",
        "appends",
        "appends/s",
        "MB/s",
        "ack p50",
        "ack p99",
        "ack max",
        "groups",
        "per group",
        "CPU cores",
    ]);
    for writers in levels {
        let before = journal.stats();
        let cpu_start = cpu_time();
        let run = runtime.block_on(run_level(
            &journal,
            writers,
            Arc::clone(&payloads),
            Duration::from_secs(seconds as u64),
        ))?;
        let cores = cpu_time().saturating_sub(cpu_start).as_secs_f64() / run.elapsed.as_secs_f64();
        let after = journal.stats();
        let groups = after.groups - before.groups;
        let mut latencies = run.latencies;
        let summary = Summary::of(&mut latencies);
        let appends = summary.count as u64;
        table.row([
            writers.to_string(),
            thousands(appends),
            per_second(appends, run.elapsed),
            format!(
                "{:.1}",
                (after.bytes - before.bytes) as f64 / 1e6 / run.elapsed.as_secs_f64()
            ),
            ms(summary.p50),
            ms(summary.p99),
            ms(summary.max),
            thousands(groups),
            format!("{:.1}", appends as f64 / groups.max(1) as f64),
            format!("{cores:.2}"),
        ]);
    }
    println!("{}", table.render());
    Ok(())
}

/// Appends until the journal has left its first segment, which a new journal creates without
/// zero-filling it (a sync there also writes file-system metadata), for a segment its helper
/// thread zero-filled in advance, as every later segment is: the steady state a running server
/// is in. Gives up after 30 seconds. Returns the time it took.
async fn warm_up(journal: &Journal, payloads: &[Vec<u8>]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while journal.stats().segments < 2 && started.elapsed() < Duration::from_secs(30) {
        journal.append_batch(payloads[..256].to_vec()).await?;
    }
    Ok(started.elapsed())
}

/// The writer counts to run, from `OPENTRAIL_BENCH_WRITERS` or [`LEVELS`].
fn levels() -> anyhow::Result<Vec<usize>> {
    let text = std::env::var("OPENTRAIL_BENCH_WRITERS").unwrap_or_else(|_| LEVELS.to_owned());
    text.split(',')
        .map(|level| match level.trim().parse::<usize>() {
            Ok(writers) if writers > 0 => Ok(writers),
            _ => anyhow::bail!("OPENTRAIL_BENCH_WRITERS must list positive numbers, got {text:?}"),
        })
        .collect()
}

struct LevelRun {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

/// `writers` tasks append until `duration` has passed; every acknowledgement is timed.
async fn run_level(
    journal: &Journal,
    writers: usize,
    payloads: Arc<Vec<Vec<u8>>>,
    duration: Duration,
) -> anyhow::Result<LevelRun> {
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let journal = journal.clone();
            let payloads = Arc::clone(&payloads);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(64 * 1024);
                let mut next = writer;
                while Instant::now() < deadline {
                    let payload = payloads[next % payloads.len()].clone();
                    next += writers;
                    let sent = Instant::now();
                    journal.append(payload).await?;
                    latencies.push(sent.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(LevelRun {
        latencies,
        elapsed: start.elapsed(),
    })
}
