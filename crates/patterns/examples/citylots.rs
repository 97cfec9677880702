//! Single-threaded matching throughput on city-lots-shaped events, per operator family (five
//! rules each) and for 10, 1,000 and 10,000 mixed rules.
//!
//! Run with:
//! `python3 shared/data/event-patterns/gen_citylots_synth.py > /tmp/citylots-synth.jlines`
//! then `cargo run --release -p opentrail-patterns --example citylots -- /tmp/citylots-synth.jlines`

use opentrail_patterns::bench_support;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: citylots <events.jlines>")?;
    let buffer = fs_err::read(&path)?;
    let events = bench_support::lines(&buffer);
    let bytes: usize = events.iter().map(|e| e.len()).sum();
    println!(
        "{} events, {:.1} B average, from {path}",
        events.len(),
        bytes as f64 / events.len().max(1) as f64
    );
    let results = bench_support::run_all(&events)?;
    print!("{}", bench_support::table(&results));
    Ok(())
}
