//! Records per second through recorder → journal → history index, with the server's own
//! state: `opentrail_server::start(ServerConfig::for_tests(dir))` opens the journal and the
//! history index and runs the real history worker, which follows the journal in batches.
//!
//! Run with: `cargo bench -p opentrail-bench --bench ingest`
//!
//! 256 writers (tokio tasks; `OPENTRAIL_BENCH_WRITERS`) each build records with the recorder
//! ([`opentrail_server::recorder::build_record`]: varying event names, users, resources,
//! regions), serialize them and append them to the journal one at a time, as request handlers
//! do, until `OPENTRAIL_BENCH_RECORDS` (default 500,000) are acknowledged. The benchmark then
//! waits until the history worker has applied every one. Reported: the acknowledged rate,
//! acknowledgement latency (from calling `append` until the task runs again, as a request
//! handler would see it, so it includes waiting for a runtime thread), the end-to-end rate
//! until the index holds everything, how long the index needed to catch up after the last
//! acknowledgement, and the largest lag seen during the run. Because the machine may be shared,
//! it also reports the CPU time used per record (all threads) and the rate that cost allows on
//! this machine's cores. The data directory is a temporary directory under
//! `OPENTRAIL_BENCH_DIR` when set, else the system temporary directory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentrail_bench::setup::{
    bench_dir, cpu_report, cpu_time, cpus, env_usize, filesystem_of, load_average,
};
use opentrail_bench::stats::{Summary, Table, ms, per_second, thousands};
use opentrail_bench::synth::{Generator, serialize};
use opentrail_server::recorder::build_record;
use opentrail_server::{AppState, ServerConfig};
use time::OffsetDateTime;

fn main() -> anyhow::Result<()> {
    let records = env_usize("OPENTRAIL_BENCH_RECORDS", 500_000)?;
    let writers = env_usize("OPENTRAIL_BENCH_WRITERS", 256)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = bench_dir("opentrail-bench-ingest-")?;
    println!(
        "ingest: {} records, {writers} writers, {} CPUs (load average {}), real history worker, {}",
        thousands(records as u64),
        cpus(),
        load_average(),
        filesystem_of(dir.path())
    );
    runtime.block_on(async {
        let state =
            opentrail_server::start(ServerConfig::for_tests(dir.path().join("data"))).await?;
        let outcome = run(&state, records, writers).await;
        state.shutdown().await;
        outcome
    })
}

async fn run(state: &Arc<AppState>, records: usize, writers: usize) -> anyhow::Result<()> {
    let claimed = Arc::new(AtomicU64::new(0));
    let max_lag = Arc::new(AtomicU64::new(0));
    let monitor = {
        let state = Arc::clone(state);
        let max_lag = Arc::clone(&max_lag);
        tokio::spawn(async move {
            loop {
                let lag = state
                    .journal
                    .last_seq()
                    .saturating_sub(*state.history_applied.borrow());
                max_lag.fetch_max(lag, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let cpu_start = cpu_time();
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let state = Arc::clone(state);
            let claimed = Arc::clone(&claimed);
            tokio::spawn(async move {
                let mut generator = Generator::new(writer as u64);
                let mut latencies = Vec::with_capacity(records / writers + 1);
                let mut building = Duration::ZERO;
                while claimed.fetch_add(1, Ordering::Relaxed) < records as u64 {
                    let built = Instant::now();
                    let (ctx, details) = generator.call(OffsetDateTime::now_utc());
                    let payload = serialize(&build_record(&ctx, details));
                    let sent = Instant::now();
                    building += sent - built;
                    state.journal.append(payload).await?;
                    latencies.push(sent.elapsed());
                }
                anyhow::Ok((latencies, building))
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(records);
    let mut building = Duration::ZERO;
    for task in tasks {
        let (task_latencies, task_building) = task.await??;
        latencies.extend(task_latencies);
        building += task_building;
    }
    let acknowledged = start.elapsed();

    let target = state.journal.last_seq();
    let mut applied = state.history_applied.subscribe();
    applied.wait_for(|seq| *seq >= target).await?;
    let indexed = start.elapsed();
    let cpu = cpu_report(start, cpu_start);
    let cpu_per_record = cpu_time().saturating_sub(cpu_start).as_secs_f64() / records as f64;
    monitor.abort();

    let count = latencies.len() as u64;
    let summary = Summary::of(&mut latencies);
    let in_index = state.history.len();
    anyhow::ensure!(
        in_index == count,
        "the history index holds {in_index} events, expected {count}"
    );
    let journal = state.journal.stats();

    let mut table = Table::new(["measure", "value"]);
    table.row(["records acknowledged".to_owned(), thousands(count)]);
    table.row([
        "ingest rate (acknowledged)".to_owned(),
        per_second(count, acknowledged),
    ]);
    table.row(["ack p50".to_owned(), ms(summary.p50)]);
    table.row(["ack p99".to_owned(), ms(summary.p99)]);
    table.row(["ack max".to_owned(), ms(summary.max)]);
    table.row([
        "end-to-end rate (indexed)".to_owned(),
        per_second(count, indexed),
    ]);
    table.row([
        "index catch-up after last ack".to_owned(),
        ms(indexed - acknowledged),
    ]);
    table.row([
        "max index lag seen".to_owned(),
        format!("{} records", thousands(max_lag.load(Ordering::Relaxed))),
    ]);
    table.row([
        "build + serialize per record".to_owned(),
        ms(building / u32::try_from(count.max(1)).unwrap_or(u32::MAX)),
    ]);
    table.row([
        "journal groups (records/group)".to_owned(),
        format!(
            "{} ({:.1})",
            thousands(journal.groups),
            journal.appends as f64 / journal.groups.max(1) as f64
        ),
    ]);
    table.row([
        "mean record size".to_owned(),
        format!("{} bytes", journal.bytes / journal.appends.max(1)),
    ]);
    table.row(["process".to_owned(), cpu]);
    table.row([
        "CPU per record (all threads)".to_owned(),
        format!("{:.1} µs", cpu_per_record * 1e6),
    ]);
    table.row([
        format!("CPU-bound ceiling on {} cores", cpus()),
        format!(
            "{}/s",
            thousands((cpus() as f64 / cpu_per_record.max(f64::MIN_POSITIVE)) as u64)
        ),
    ]);
    println!("{}", table.render());
    Ok(())
}
