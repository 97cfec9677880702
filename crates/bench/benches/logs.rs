//! FilterLogEvents over 1 million log events: the time to search a trail's log group to the
//! end, page by page, and the latency of each page.
//!
//! Run with: `cargo bench -p opentrail-bench --bench logs`
//!
//! Starts a server (`opentrail_server::start`, every worker running) in a temporary directory
//! under `OPENTRAIL_BENCH_DIR` when set, else the system temporary directory, and makes a log
//! group with `OPENTRAIL_BENCH_STREAMS` (default 10) streams through the request path
//! ([`Client`]: signed `CreateLogGroup`, `CreateLogStream`, `PutLogEvents`), so the calls are
//! authenticated, served and recorded as real ones are. It puts `OPENTRAIL_BENCH_EVENTS`
//! (default 1,000,000) events — the synthetic CloudTrail records of
//! [`opentrail_bench::synth`], one compact JSON record per event as a trail's log group holds
//! them (~1 KB, 2 % of them AccessDenied errors) — spread evenly over the last two hours, in
//! batches of up to 1 MB (AWS's limit), four batches in flight, and reports the put rate.
//!
//! Then each query runs `FilterLogEvents` from the first page until no `nextToken` is
//! returned, and reports the pages, the events found (checked against a count made here with
//! the same pattern over the events put), the whole search's time and events searched per
//! second, and p50/p99/max of one page. A page ends at 10,000 events or 1 MB of events (what
//! AWS returns at most) or after 200,000 events were examined (then it may be empty and carry
//! a `nextToken`). The page cache is warm (the events were just written).

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentrail_bench::client::Client;
use opentrail_bench::setup::{
    bench_dir, cpu_report, cpu_time, cpus, env_usize, filesystem_of, load_average, memory_report,
};
use opentrail_bench::stats::{Summary, Table, ms, per_second, thousands};
use opentrail_bench::synth::Generator;
use opentrail_filters::FilterPattern;
use opentrail_server::{AppState, ServerConfig};
use serde_json::{Value, json};
use time::OffsetDateTime;

const GROUP: &str = "CloudTrail/opentrail-bench";
/// `PutLogEvents` request limit, counting 26 bytes per event.
const BATCH_BYTES: usize = 1_048_576;
const EVENT_OVERHEAD: usize = 26;
/// `PutLogEvents` requests in flight at once.
const PUTTERS: usize = 4;
const SPAN_MS: i64 = 2 * 3_600_000;

/// One search in the results table.
struct Query {
    label: &'static str,
    pattern: &'static str,
    /// Only events within the first `window_ms` after this offset from the first event.
    window: Option<(i64, i64)>,
    /// Only the first stream.
    one_stream: bool,
}

const QUERIES: [Query; 6] = [
    Query {
        label: "no pattern (every event)",
        pattern: "",
        window: None,
        one_stream: false,
    },
    Query {
        label: "term AccessDenied",
        pattern: "AccessDenied",
        window: None,
        one_stream: false,
    },
    Query {
        label: "JSON errorCode (CIS 3.1)",
        pattern: r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }"#,
        window: None,
        one_stream: false,
    },
    Query {
        label: "JSON ConsoleLogin failures",
        pattern: r#"{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }"#,
        window: None,
        one_stream: false,
    },
    Query {
        label: "errorCode, 10 min window",
        pattern: r#"{ $.errorCode = "AccessDenied" }"#,
        window: Some((3_600_000, 600_000)),
        one_stream: false,
    },
    Query {
        label: "errorCode, one stream",
        pattern: r#"{ $.errorCode = "AccessDenied" }"#,
        window: None,
        one_stream: true,
    },
];

fn main() -> anyhow::Result<()> {
    let events = env_usize("OPENTRAIL_BENCH_EVENTS", 1_000_000)?;
    let streams = env_usize("OPENTRAIL_BENCH_STREAMS", 10)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = bench_dir("opentrail-bench-logs-")?;
    println!(
        "logs: {} events in {streams} streams of one log group over the last 2 h, {} CPUs (load average {}), {}",
        thousands(events as u64),
        cpus(),
        load_average(),
        filesystem_of(dir.path())
    );
    runtime.block_on(async {
        let state =
            opentrail_server::start(ServerConfig::for_tests(dir.path().join("data"))).await?;
        let outcome = run(&state, events, streams).await;
        state.shutdown().await;
        outcome
    })
}

async fn run(state: &Arc<AppState>, events: usize, streams: usize) -> anyhow::Result<()> {
    let client = Arc::new(Client::new(state)?);
    client
        .logs("CreateLogGroup", &json!({"logGroupName": GROUP}))
        .await?;
    let names: Vec<String> = (0..streams)
        .map(|index| format!("123456789012_CloudTrail_us-east-1_{index}"))
        .collect();
    for name in &names {
        client
            .logs(
                "CreateLogStream",
                &json!({"logGroupName": GROUP, "logStreamName": name}),
            )
            .await?;
    }
    let first_ms = opentrail_model::time::now_ms() - SPAN_MS - 60_000;
    let patterns: Vec<FilterPattern> = QUERIES
        .iter()
        .map(|query| FilterPattern::parse(query.pattern))
        .collect::<Result<_, _>>()?;
    let mut expected = vec![0u64; QUERIES.len()];

    // Build every stream's events in order, counting what each query should find.
    let step_ms = SPAN_MS as f64 / events as f64;
    let mut generator = Generator::new(3);
    let mut per_stream: Vec<Vec<(i64, String)>> = vec![Vec::new(); streams];
    let mut bytes = 0usize;
    for index in 0..events {
        let timestamp = first_ms + (index as f64 * step_ms) as i64;
        let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(timestamp) * 1_000_000)?;
        let message = String::from_utf8(generator.record_json(time))?;
        let stream = index % streams;
        for (count, (query, pattern)) in expected.iter_mut().zip(QUERIES.iter().zip(&patterns)) {
            let in_window = query.window.is_none_or(|(offset, width)| {
                (first_ms + offset..first_ms + offset + width).contains(&timestamp)
            });
            if in_window && (!query.one_stream || stream == 0) && pattern.matches(&message) {
                *count += 1;
            }
        }
        bytes += message.len();
        per_stream[stream].push((timestamp, message));
    }

    // Cut them into batches of at most 1 MB and put them, PUTTERS at a time.
    let mut batches: Vec<(usize, Vec<Value>)> = Vec::new();
    for (stream, stream_events) in per_stream.into_iter().enumerate() {
        let mut batch = Vec::new();
        let mut batch_bytes = 0usize;
        for (timestamp, message) in stream_events {
            let size = message.len() + EVENT_OVERHEAD;
            if batch_bytes + size > BATCH_BYTES || batch.len() == 10_000 {
                batches.push((stream, std::mem::take(&mut batch)));
                batch_bytes = 0;
            }
            batch_bytes += size;
            batch.push(json!({"timestamp": timestamp, "message": message}));
        }
        if !batch.is_empty() {
            batches.push((stream, batch));
        }
    }
    let batch_count = batches.len();
    let queue = Arc::new(std::sync::Mutex::new(batches));
    let names = Arc::new(names);
    let (started, cpu_start) = (Instant::now(), cpu_time());
    let mut putters = Vec::new();
    for _ in 0..PUTTERS {
        let (client, queue, names) = (client.clone(), queue.clone(), names.clone());
        putters.push(tokio::spawn(async move {
            loop {
                let next = queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .pop();
                let Some((stream, batch)) = next else {
                    return anyhow::Ok(());
                };
                let answer = client
                    .logs(
                        "PutLogEvents",
                        &json!({"logGroupName": GROUP, "logStreamName": names[stream], "logEvents": batch}),
                    )
                    .await?;
                anyhow::ensure!(
                    answer.get("rejectedLogEventsInfo").is_none(),
                    "events were rejected: {answer}"
                );
            }
        }));
    }
    for putter in putters {
        putter.await??;
    }
    let put_time = started.elapsed();
    println!(
        "put: {} events ({} bytes mean) in {} PutLogEvents calls, {} at a time: {} ({}); {}",
        thousands(events as u64),
        bytes / events.max(1),
        thousands(batch_count as u64),
        PUTTERS,
        per_second(events as u64, put_time),
        cpu_report(started, cpu_start),
        memory_report()
    );

    let mut table = Table::new([
        "query",
        "pages",
        "found",
        "whole search",
        "events searched/s",
        "page p50",
        "page p99",
        "page max",
    ]);
    let (searches_started, searches_cpu) = (Instant::now(), cpu_time());
    for (query, expected) in QUERIES.iter().zip(&expected) {
        let mut input = json!({"logGroupName": GROUP, "filterPattern": query.pattern});
        let mut searched = events as u64;
        if let Some((offset, width)) = query.window {
            input["startTime"] = json!(first_ms + offset);
            input["endTime"] = json!(first_ms + offset + width - 1);
            searched = (width as f64 / step_ms) as u64;
        }
        if query.one_stream {
            input["logStreamNames"] = json!([names[0]]);
            searched /= streams as u64;
        }
        let mut pages = Vec::new();
        let mut found = 0u64;
        let started = Instant::now();
        loop {
            let page_started = Instant::now();
            let page = client.logs("FilterLogEvents", &input).await?;
            pages.push(page_started.elapsed());
            found += page["events"].as_array().map_or(0, Vec::len) as u64;
            match page.get("nextToken").and_then(Value::as_str) {
                Some(token) => input["nextToken"] = json!(token),
                None => break,
            }
            anyhow::ensure!(
                pages.len() < 100_000,
                "{}: no end after 100,000 pages",
                query.label
            );
        }
        let whole: Duration = started.elapsed();
        anyhow::ensure!(
            found == *expected,
            "{}: FilterLogEvents found {found} events, the pattern matches {expected} of those put",
            query.label
        );
        let count = pages.len();
        let page = Summary::of(&mut pages);
        table.row([
            query.label.to_owned(),
            thousands(count as u64),
            thousands(found),
            ms(whole),
            per_second(searched, whole),
            ms(page.p50),
            ms(page.p99),
            ms(page.max),
        ]);
    }
    println!("{}", table.render());
    println!(
        "searches: {}; {}",
        cpu_report(searches_started, searches_cpu),
        memory_report()
    );
    Ok(())
}
