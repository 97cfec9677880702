//! Journal appends per second and acknowledgement latency with fsync group commit, at 1, 16
//! and 256 concurrent writers.
//!
//! Run with: `cargo bench -p opentrail-bench --bench journal`
//!
//! Each level opens a fresh journal (default [`PersistMode::SyncData`]: every group is
//! `fdatasync`ed before its appends are acknowledged) in a temporary directory — under
//! `OPENTRAIL_BENCH_DIR` when set, else the system temporary directory; the filesystem is
//! printed, and it must be a real disk for the figures to mean anything. Writers are tokio
//! tasks on a multi-thread runtime, each appending ~1 KB CloudTrail records (built by the
//! recorder) one at a time, for `OPENTRAIL_BENCH_SECONDS` (default 5) seconds.
//!
//! [`PersistMode::SyncData`]: opentrail_journal::PersistMode::SyncData

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentrail_bench::setup::{bench_dir, cpus, env_usize, filesystem_of, load_average};
use opentrail_bench::stats::{Summary, Table, ms, per_second, thousands};
use opentrail_bench::synth::Generator;
use opentrail_journal::{Journal, JournalConfig};
use time::OffsetDateTime;

const LEVELS: [usize; 3] = [1, 16, 256];
/// Distinct payloads the writers cycle through.
const PAYLOADS: usize = 4_096;

fn main() -> anyhow::Result<()> {
    let seconds = env_usize("OPENTRAIL_BENCH_SECONDS", 5)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let mut generator = Generator::new(1);
    let now = OffsetDateTime::now_utc();
    let payloads: Arc<Vec<Vec<u8>>> =
        Arc::new((0..PAYLOADS).map(|_| generator.record_json(now)).collect());
    let mean_bytes = payloads.iter().map(Vec::len).sum::<usize>() / payloads.len();

    let probe = bench_dir("opentrail-bench-journal-")?;
    println!(
        "journal: {seconds} s per level, {mean_bytes}-byte records (mean), {} CPUs (load average {}), fdatasync per group, {}",
        cpus(),
        load_average(),
        filesystem_of(probe.path())
    );
    drop(probe);

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
    ]);
    for writers in LEVELS {
        let dir = bench_dir("opentrail-bench-journal-")?;
        let journal = Journal::open(JournalConfig::new(dir.path()))?;
        let run = runtime.block_on(run_level(
            &journal,
            writers,
            Arc::clone(&payloads),
            Duration::from_secs(seconds as u64),
        ))?;
        let mut latencies = run.latencies;
        let summary = Summary::of(&mut latencies);
        let stats = journal.stats();
        let appends = summary.count as u64;
        table.row([
            writers.to_string(),
            thousands(appends),
            per_second(appends, run.elapsed),
            format!(
                "{:.1}",
                stats.bytes as f64 / 1e6 / run.elapsed.as_secs_f64()
            ),
            ms(summary.p50),
            ms(summary.p99),
            ms(summary.max),
            thousands(stats.groups),
            format!("{:.1}", stats.appends as f64 / stats.groups.max(1) as f64),
        ]);
        drop(journal);
    }
    println!("{}", table.render());
    Ok(())
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
