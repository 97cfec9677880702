//! Single-threaded matching throughput on city-lots-shaped events, per operator family (five
//! rules each) and for 10, 1,000 and 10,000 mixed rules. A second argument keeps only the rows
//! whose family name contains it.
//!
//! Run with:
//! `python3 shared/data/event-patterns/gen_citylots_synth.py > /tmp/citylots-synth.jlines`
//! then `cargo run --release -p opentrail-patterns --example citylots -- /tmp/citylots-synth.jlines`

use opentrail_patterns::bench_support;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: citylots <events.jlines> [family filter]")?;
    let filter = args.next().unwrap_or_default();
    let buffer = fs_err::read(&path)?;
    let events = bench_support::lines(&buffer);
    let bytes: usize = events.iter().map(|e| e.len()).sum();
    let average = bytes as f64 / events.len().max(1) as f64;
    println!(
        "{} events, {average:.1} B average, from {path}",
        events.len()
    );
    let results = bench_support::run_all(&events, &filter, Some(&thread_cpu_seconds))?;
    print!("{}", bench_support::table(&results));
    Ok(())
}

/// The CPU time of this thread (Linux: the first field of `/proc/thread-self/schedstat`, in ns).
fn thread_cpu_seconds() -> Option<f64> {
    let text = fs_err::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos / 1e9)
}
