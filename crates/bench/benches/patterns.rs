//! EventBridge pattern matching: events per CPU-second of one thread through one
//! `opentrail_patterns::Machine`, on city-lots-shaped events (SF lot GeoJSON features, ~926 B,
//! the event-ruler / quamina benchmark shape): five rules per operator family, then 10, 1,000
//! and 10,000 mixed rules to see how the cost grows with the number of rules.
//!
//! Run with: `cargo bench -p opentrail-bench --bench patterns`
//!
//! - `OPENTRAIL_BENCH_CITYLOTS`: a JSON-lines file of events to use. When unset, the bench runs
//!   `data/gen_citylots_synth.py` (213,068 synthetic features, fixed seed) with `python3` into a
//!   temporary file first.
//! - `OPENTRAIL_BENCH_FAMILIES`: keep only the rows whose family name contains this text
//!   (e.g. `numeric`, `scaling`).
//! - `OPENTRAIL_BENCH_PASSES` (default 3): passes over the events per row.
//!
//! The measurement itself is `opentrail_patterns::bench_support` (rules, timing, table); this
//! binary links the server crate so that it runs on the server's global allocator (mimalloc),
//! as the EventBridge worker does.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use opentrail_bench::setup::{bench_dir, cpus, env_usize, load_average, thread_cpu_seconds};
use opentrail_patterns::bench_support;
// the global allocator of every process linking the server
use opentrail_server as _;

fn main() -> anyhow::Result<()> {
    let passes = env_usize("OPENTRAIL_BENCH_PASSES", 3)?;
    let filter = std::env::var("OPENTRAIL_BENCH_FAMILIES").unwrap_or_default();
    let scratch = bench_dir("opentrail-bench-patterns-")?;
    let path = match std::env::var_os("OPENTRAIL_BENCH_CITYLOTS") {
        Some(path) => PathBuf::from(path),
        None => {
            let path = scratch.path().join("citylots-synth.jlines");
            generate(&path)?;
            path
        }
    };
    let buffer = fs_err::read(&path)?;
    let events = bench_support::lines(&buffer);
    anyhow::ensure!(!events.is_empty(), "{} holds no events", path.display());
    let bytes: usize = events.iter().map(|e| e.len()).sum();
    println!(
        "patterns: {} events, {:.1} B mean, from {}; {passes} passes per row, one thread, {} CPUs (load average {} at start)",
        events.len(),
        bytes as f64 / events.len() as f64,
        path.display(),
        cpus(),
        load_average(),
    );
    let results = bench_support::run_all(&events, &filter, passes, Some(&thread_cpu_seconds))?;
    print!("{}", bench_support::table(&results));
    println!("load average {} at end", load_average());
    Ok(())
}

/// Runs the city-lots generator into `path`.
fn generate(path: &std::path::Path) -> anyhow::Result<()> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/gen_citylots_synth.py");
    let output = fs_err::File::create(path)?;
    let status = Command::new("python3")
        .arg(&script)
        .stdout(Stdio::from(output.into_parts().0))
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run python3 {}: {e}", script.display()))?;
    anyhow::ensure!(status.success(), "{} failed: {status}", script.display());
    Ok(())
}
