//! LookupEvents latency on 1 million stored management events, per attribute kind.
//!
//! Run with: `cargo bench -p opentrail-bench --bench lookup`
//!
//! Loads `OPENTRAIL_BENCH_EVENTS` (default 1,000,000) synthetic events — ~40 event names with
//! a skewed popularity, ~200 users, 50 access keys, 2 regions, resources on about half of
//! them, spread evenly over the last 30 days — into a fresh [`History`] by calling
//! [`History::index`] directly in batches of 4,096 (the history worker's batch size), and
//! reports the load rate. Then, for each attribute kind, for a pure time range and for a time
//! range with an attribute, it runs `OPENTRAIL_BENCH_QUERIES` (default 250) queries with
//! `max_results = 50`, follows the `NextToken` of each for one more page, and reports
//! p50/p99/max of both pages. The index lives in a temporary directory under
//! `OPENTRAIL_BENCH_DIR` when set, else the system temporary directory; the page cache is warm
//! (the events were just written), as on a server that has been running for a while. The
//! process's resident set (now and peak) is printed after the load and after the queries:
//! the index keeps its data on disk, so the set should stay flat as the event count grows.

use std::path::Path;
use std::time::{Duration, Instant};

use opentrail_bench::setup::{
    bench_dir, cpu_report, cpu_time, cpus, env_usize, filesystem_of, load_average, memory_report,
};
use opentrail_bench::stats::{Summary, Table, ms, per_second, thousands};
use opentrail_bench::synth::{self, APIS, Generator, REGIONS, ResourceKind, USERS};
use opentrail_history::{History, HistoryConfig, LookupAttributeKey, LookupQuery};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

const BATCH: usize = 4_096;
const PAGE: usize = 50;
const SPAN_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// One kind of query in the results table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Attribute(LookupAttributeKey),
    /// A 1-hour window, no attribute.
    TimeRange,
    /// A 1-day window with an EventName or Username.
    TimeRangeAndAttribute,
}

impl Kind {
    fn label(self) -> String {
        match self {
            Kind::Attribute(key) => key.as_str().to_owned(),
            Kind::TimeRange => "time range (1 h)".to_owned(),
            Kind::TimeRangeAndAttribute => "time range (1 d) + attribute".to_owned(),
        }
    }
}

/// What the load kept for building queries.
struct Loaded {
    /// (eventID, region) of a sample of the stored events.
    event_ids: Vec<(String, String)>,
    first_ms: i64,
    last_ms: i64,
}

fn main() -> anyhow::Result<()> {
    let events = env_usize("OPENTRAIL_BENCH_EVENTS", 1_000_000)?;
    let queries = env_usize("OPENTRAIL_BENCH_QUERIES", 250)?;
    let dir = bench_dir("opentrail-bench-lookup-")?;
    let history_dir = dir.path().join("history");
    println!(
        "lookup: {} events over {SPAN_DAYS} days, {queries} queries per kind, page size {PAGE}, {} CPUs (load average {}), {}",
        thousands(events as u64),
        cpus(),
        load_average(),
        filesystem_of(dir.path())
    );
    let history = History::open(&history_dir, HistoryConfig { retention_days: 90 })?;
    let loaded = load(&history, events)?;
    println!(
        "index on disk: {:.0} MB; after loading: {}",
        dir_bytes(&history_dir) as f64 / 1e6,
        memory_report()
    );

    let kinds: Vec<Kind> = LookupAttributeKey::ALL
        .into_iter()
        .map(Kind::Attribute)
        .chain([Kind::TimeRange, Kind::TimeRangeAndAttribute])
        .collect();
    let mut rng = StdRng::seed_from_u64(42);
    let mut table = Table::new([
        "query", "n", "hits", "p50", "p99", "max", "next n", "next p50", "next p99", "next max",
    ]);
    let mut all = Vec::new();
    let (queries_started, queries_cpu) = (Instant::now(), cpu_time());
    for kind in kinds {
        let mut first = Vec::with_capacity(queries);
        let mut next = Vec::with_capacity(queries);
        let mut hits = 0usize;
        for _ in 0..queries {
            let mut query = make_query(kind, &loaded, &mut rng);
            let started = Instant::now();
            let page = history.lookup(&query)?;
            first.push(started.elapsed());
            hits += page.events.len();
            if let Some(token) = page.next_token {
                query.next_token = Some(token);
                let started = Instant::now();
                let page = history.lookup(&query)?;
                next.push(started.elapsed());
                hits += page.events.len();
            }
        }
        all.extend_from_slice(&first);
        all.extend_from_slice(&next);
        let pages = first.len() + next.len();
        let first = Summary::of(&mut first);
        let next = Summary::of(&mut next);
        table.row([
            kind.label(),
            first.count.to_string(),
            format!("{:.1}", hits as f64 / pages.max(1) as f64),
            ms(first.p50),
            ms(first.p99),
            ms(first.max),
            next.count.to_string(),
            ms(next.p50),
            ms(next.p99),
            ms(next.max),
        ]);
    }
    let all = Summary::of(&mut all);
    table.row([
        "all pages".to_owned(),
        all.count.to_string(),
        String::new(),
        ms(all.p50),
        ms(all.p99),
        ms(all.max),
    ]);
    println!("{}", table.render());
    println!(
        "queries: {}; after querying: {}",
        cpu_report(queries_started, queries_cpu),
        memory_report()
    );
    Ok(())
}

/// Indexes `events` records spread evenly over the last 30 days, in batches.
fn load(history: &History, events: usize) -> anyhow::Result<Loaded> {
    let last_ms = opentrail_model::time::now_ms() - HOUR_MS;
    let first_ms = last_ms - SPAN_DAYS * DAY_MS;
    let step_ms = (SPAN_DAYS * DAY_MS) as f64 / events as f64;
    let sample_every = (events / 2_000).max(1);
    let mut generator = Generator::new(7);
    let mut event_ids = Vec::new();
    let mut building = Duration::ZERO;
    let mut indexing = Duration::ZERO;
    let mut bytes = 0usize;
    let mut indexed = 0u64;
    let (started, cpu_start) = (Instant::now(), cpu_time());
    let mut seq = 0u64;
    let mut batch: Vec<(u64, Vec<u8>)> = Vec::with_capacity(BATCH);
    while (seq as usize) < events {
        let built = Instant::now();
        batch.clear();
        while batch.len() < BATCH && (seq as usize) < events {
            let time_ms = first_ms + (seq as f64 * step_ms) as i64;
            let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(time_ms) * 1_000_000)?;
            let record = generator.record(time);
            if seq.is_multiple_of(sample_every as u64) {
                event_ids.push((record.event_id.clone(), record.aws_region.clone()));
            }
            seq += 1;
            let json = synth::serialize(&record);
            bytes += json.len();
            batch.push((seq, json));
        }
        let entries: Vec<(u64, &[u8])> = batch
            .iter()
            .map(|(seq, json)| (*seq, json.as_slice()))
            .collect();
        let index_started = Instant::now();
        building += index_started - built;
        indexed += history.index(&entries)?.indexed;
        indexing += index_started.elapsed();
    }
    let flush_started = Instant::now();
    history.flush()?;
    let flushing = flush_started.elapsed();
    let total = started.elapsed();
    anyhow::ensure!(
        indexed == events as u64,
        "indexed {indexed} of {events} events"
    );
    let mut table = Table::new(["load", "value"]);
    table.row(["events indexed".to_owned(), thousands(indexed)]);
    table.row([
        "mean record size".to_owned(),
        format!("{} bytes", bytes / events.max(1)),
    ]);
    table.row([
        "index rate (History::index only)".to_owned(),
        per_second(indexed, indexing),
    ]);
    table.row(["build + serialize".to_owned(), ms(building)]);
    table.row(["indexing".to_owned(), ms(indexing)]);
    table.row(["flush".to_owned(), ms(flushing)]);
    table.row(["overall load rate".to_owned(), per_second(indexed, total)]);
    table.row(["process".to_owned(), cpu_report(started, cpu_start)]);
    println!("{}", table.render());
    Ok(Loaded {
        event_ids,
        first_ms,
        last_ms,
    })
}

fn region(rng: &mut StdRng) -> String {
    let primary = rng.random::<f64>() < REGIONS[0].1;
    REGIONS[usize::from(!primary)].0.to_owned()
}

/// A random window of `width_ms` inside the loaded span.
fn window(loaded: &Loaded, width_ms: i64, rng: &mut StdRng) -> (i64, i64) {
    let start = rng.random_range(loaded.first_ms..=loaded.last_ms - width_ms);
    (start, start + width_ms)
}

fn make_query(kind: Kind, loaded: &Loaded, rng: &mut StdRng) -> LookupQuery {
    let mut query = LookupQuery {
        account_id: synth::ACCOUNT_ID.to_owned(),
        region: region(rng),
        attribute: None,
        start_ms: None,
        end_ms: None,
        insight: false,
        max_results: PAGE,
        next_token: None,
    };
    match kind {
        Kind::Attribute(LookupAttributeKey::EventId) => {
            let (event_id, region) = loaded.event_ids.choose(rng).cloned().unwrap_or_default();
            query.region = region;
            query.attribute = Some((LookupAttributeKey::EventId, event_id));
        }
        Kind::Attribute(key) => {
            query.attribute = Some((key, attribute_value(key, &query.region, rng)));
        }
        Kind::TimeRange => {
            let (start, end) = window(loaded, HOUR_MS, rng);
            (query.start_ms, query.end_ms) = (Some(start), Some(end));
        }
        Kind::TimeRangeAndAttribute => {
            let (start, end) = window(loaded, DAY_MS, rng);
            (query.start_ms, query.end_ms) = (Some(start), Some(end));
            let key = if rng.random() {
                LookupAttributeKey::EventName
            } else {
                LookupAttributeKey::Username
            };
            query.attribute = Some((key, attribute_value(key, &query.region, rng)));
        }
    }
    query
}

/// A value of `key` that occurs in the loaded events of `region` (popular and rare ones
/// alike).
fn attribute_value(key: LookupAttributeKey, region: &str, rng: &mut StdRng) -> String {
    match key {
        LookupAttributeKey::EventId => String::new(),
        LookupAttributeKey::EventName => APIS[rng.random_range(0..APIS.len())].name.to_owned(),
        LookupAttributeKey::ReadOnly => rng.random::<bool>().to_string(),
        LookupAttributeKey::Username => synth::user_name(rng.random_range(0..USERS)),
        LookupAttributeKey::ResourceType => ResourceKind::ALL
            [rng.random_range(0..ResourceKind::ALL.len())]
        .type_name()
        .to_owned(),
        LookupAttributeKey::ResourceName => {
            let kind = ResourceKind::ALL[rng.random_range(0..ResourceKind::ALL.len())];
            let index = rng.random_range(0..kind.pool());
            // Event history matches an S3 bucket by its name, anything else by its ARN.
            if kind == ResourceKind::Bucket && rng.random() {
                kind.name(index)
            } else {
                kind.arn(index, region)
            }
        }
        LookupAttributeKey::EventSource => APIS[rng.random_range(0..APIS.len())].source.to_owned(),
        LookupAttributeKey::AccessKeyId => synth::access_keys()
            .choose(rng)
            .cloned()
            .unwrap_or_default(),
    }
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_bytes(&entry.path()),
            _ => entry.metadata().map_or(0, |meta| meta.len()),
        })
        .sum()
}
