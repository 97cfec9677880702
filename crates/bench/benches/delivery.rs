//! Trail delivery: records per second written into trail log files, and the lag from a record's
//! acknowledgement to a file holding it in the store, at the shortest delivery interval (1 s).
//!
//! Run with: `cargo bench -p opentrail-bench --bench delivery`
//!
//! Each part starts its own server (`opentrail_server::start`, every worker running, delivery
//! interval 1 s) in a temporary directory under `OPENTRAIL_BENCH_DIR` when set, else the system
//! temporary directory. The bucket and the trail are made the way a client makes them: SigV4-
//! signed S3 `CreateBucket` and CloudTrail `CreateTrail` (multi-region), `PutEventSelectors`
//! (management events plus S3 data events on every bucket) and `StartLogging` requests go through
//! the server's request path ([`opentrail_server::dispatch::handle`], what the HTTP listener
//! calls), so they are authenticated, served and recorded as real calls are.
//!
//! The records are ~1 KB, built by the recorder: three in four are the synthetic management
//! events of [`opentrail_bench::synth`], one in four an S3 `GetObject`/`PutObject` data event.
//!
//! 1. **Throughput.** `OPENTRAIL_BENCH_RECORDS` (default 500,000) records are built first, then
//!    appended in batches of 1,000 (`Journal::append_batch`, four appenders). The clock runs from
//!    the first append until the trail's delivery position (the worker's durable bookkeeping,
//!    moved only after the files are written) covers the last record. Every delivered file is
//!    then read back (gunzip, `Records`) to check that each record is in exactly one file.
//! 2. **Lag.** `OPENTRAIL_BENCH_LAG_RATE` records per second (default 1,000) for
//!    `OPENTRAIL_BENCH_LAG_SECONDS` (default 20), each appended on its own task as a request
//!    handler would. A watcher lists the bucket every 20 ms and reads each new file; a record's
//!    lag runs from its append being acknowledged to the end of the first listing that showed
//!    its file (so it may read up to one polling period late).
//! 3. **Where the time goes.** The worker's per-record steps, timed one by one on one thread over
//!    the first `OPENTRAIL_BENCH_SAMPLE` (default 50,000) records of part 1's journal: journal
//!    read, record parse, selection, file body, gzip (the delivered level and level 1 for
//!    comparison), the digest's SHA-256, and the store's put (MD5 etag, write, fsync).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentrail_bench::client::Client;
use opentrail_bench::setup::{
    bench_dir, cpu_report, cpu_time, cpus, env_usize, filesystem_of, load_average,
};
use opentrail_bench::stats::{Summary, Table, ms, per_second, thousands};
use opentrail_bench::synth::{ACCOUNT_ID, Generator, ResourceKind, serialize};
use opentrail_cloudtrail::store;
use opentrail_cloudtrail::workers::delivery::{TRAILS_TABLE, TrailDelivery};
use opentrail_core::context::{EventDetails, RequestContext};
use opentrail_delivery::logfile;
use opentrail_delivery::selectors::TrailSelectors;
use opentrail_model::{Record, RecordRef, Resource};
use opentrail_objects::PutOptions;
use opentrail_server::recorder::build_record;
use opentrail_server::{AppState, ServerConfig};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

const BUCKET: &str = "opentrail-bench-trail-logs";
const TRAIL: &str = "bench-trail";
/// Records per `append_batch` in the throughput part.
const BATCH: usize = 1_000;
/// Concurrent appenders in the throughput part.
const APPENDERS: usize = 4;
/// How often the lag watcher lists the bucket.
const WATCH_EVERY: Duration = Duration::from_millis(20);
/// Records per file body in the stage timings (~11 MB of JSON; a busy round's files hold more).
const STAGE_FILE_RECORDS: usize = 10_000;

fn main() -> anyhow::Result<()> {
    let records = env_usize("OPENTRAIL_BENCH_RECORDS", 500_000)?;
    let lag_rate = env_usize("OPENTRAIL_BENCH_LAG_RATE", 1_000)?;
    let lag_seconds = env_usize("OPENTRAIL_BENCH_LAG_SECONDS", 20)?;
    let sample = env_usize("OPENTRAIL_BENCH_SAMPLE", 50_000)?.min(records);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = bench_dir("opentrail-bench-delivery-")?;
    println!(
        "delivery: interval 1 s, {} CPUs (load average {}), one multi-region trail (management + S3 data events), {}",
        cpus(),
        load_average(),
        filesystem_of(dir.path())
    );

    runtime.block_on(async {
        let state = start_server(&dir.path().join("throughput")).await?;
        let outcome = throughput(&state, records).await;
        let stages = match &outcome {
            Ok(_) => stage_costs(&state, sample).await,
            Err(_) => Ok(Table::default()),
        };
        state.shutdown().await;
        let table = outcome?;
        println!(
            "\nthroughput: {} records appended in batches of {BATCH}, delivered at interval 1 s",
            thousands(records as u64)
        );
        println!("{}", table.render());
        println!(
            "\nwhere the time goes: the worker's steps on one thread, {} records ({} per file body)",
            thousands(sample as u64),
            thousands(STAGE_FILE_RECORDS as u64)
        );
        println!("{}", stages?.render());

        let state = start_server(&dir.path().join("lag")).await?;
        let outcome = lag(&state, lag_rate, lag_seconds).await;
        state.shutdown().await;
        println!(
            "\nlag: {} records/s for {lag_seconds} s, interval 1 s, bucket listed every {} ms",
            thousands(lag_rate as u64),
            WATCH_EVERY.as_millis()
        );
        println!("{}", outcome?.render());
        anyhow::Ok(())
    })
}

/// A server with every worker running and delivery every second, with a bucket and a logging
/// trail made through the request path.
async fn start_server(dir: &std::path::Path) -> anyhow::Result<Arc<AppState>> {
    let mut config = ServerConfig::for_tests(dir.to_path_buf());
    config.delivery_interval = Duration::from_secs(1);
    config.digest_interval = Duration::from_secs(3_600);
    let state = opentrail_server::start(config).await?;
    let client = Client::new(&state)?;
    client.create_bucket(BUCKET).await?;
    client
        .cloudtrail(
            "CreateTrail",
            &json!({"Name": TRAIL, "S3BucketName": BUCKET, "IsMultiRegionTrail": true}),
        )
        .await?;
    client
        .cloudtrail(
            "PutEventSelectors",
            &json!({
                "TrailName": TRAIL,
                "EventSelectors": [{
                    "ReadWriteType": "All",
                    "IncludeManagementEvents": true,
                    "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::"]}],
                }],
            }),
        )
        .await?;
    client
        .cloudtrail("StartLogging", &json!({"Name": TRAIL}))
        .await?;
    // Start from a quiet trail: the setup calls' own records delivered, the worker between rounds.
    let target = state.journal.last_seq();
    let key = trail_key(&state)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while position(&state, &key)? < target {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the setup calls were not delivered within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(state)
}

fn trail_key(state: &AppState) -> anyhow::Result<String> {
    store::all_trails(&state.meta)?
        .into_iter()
        .find(|trail| trail.name == TRAIL)
        .map(|trail| trail.key())
        .ok_or_else(|| anyhow::anyhow!("trail {TRAIL} is not stored"))
}

/// The trail's delivery position: every journal entry at or below it is in a delivered file.
fn position(state: &AppState, key: &str) -> anyhow::Result<u64> {
    Ok(state
        .meta
        .get::<TrailDelivery>(TRAILS_TABLE, key)?
        .map_or(0, |row| row.position))
}

/// The calls the records come from: the synthetic management events, with every fourth call an
/// S3 object read or write (a data event).
struct Workload {
    generator: Generator,
    calls: usize,
}

impl Workload {
    fn new(seed: u64) -> Workload {
        Workload {
            generator: Generator::new(seed),
            calls: 0,
        }
    }

    fn record(&mut self, time: OffsetDateTime) -> Record {
        self.calls += 1;
        let (ctx, details) = self.generator.call(time);
        if self.calls.is_multiple_of(4) {
            build_record(&ctx, object_call(&ctx, self.calls))
        } else {
            build_record(&ctx, details)
        }
    }
}

/// An S3 `GetObject` or `PutObject` call, recorded as the S3 service records data events.
fn object_call(ctx: &RequestContext, call: usize) -> EventDetails {
    let bucket = ResourceKind::Bucket.name(call % ResourceKind::Bucket.pool());
    let key = format!(
        "warehouse/events/dt=2025-06-{:02}/part-{:05}.snappy.parquet",
        call % 28 + 1,
        call % 10_007
    );
    let (name, read_only) = if call.is_multiple_of(3) {
        ("PutObject", false)
    } else {
        ("GetObject", true)
    };
    let mut details = EventDetails::new("s3.amazonaws.com", name, read_only);
    details.management = false;
    details.request_parameters = Some(json!({
        "bucketName": bucket,
        "Host": format!("{bucket}.s3.{}.amazonaws.com", ctx.region),
        "key": key,
    }));
    details.response_elements = Some(if read_only {
        Value::Null
    } else {
        json!({"x-amz-server-side-encryption": "AES256"})
    });
    details.additional_event_data = Some(json!({
        "SignatureVersion": "SigV4",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": if read_only { 0 } else { 65_536 + call % 4_096 },
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": format!("{:032x}", (call as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834)),
        "bytesTransferredOut": if read_only { 65_536 + call % 4_096 } else { 0 },
    }));
    details.resources = vec![
        Resource {
            account_id: None,
            resource_type: Some("AWS::S3::Object".into()),
            arn: Some(format!("arn:aws:s3:::{bucket}/{key}")),
        },
        Resource {
            account_id: Some(ACCOUNT_ID.to_owned()),
            resource_type: Some("AWS::S3::Bucket".into()),
            arn: Some(format!("arn:aws:s3:::{bucket}")),
        },
    ];
    details
}

/// The parts of a delivered log file this benchmark reads.
#[derive(Deserialize)]
struct LogFile {
    #[serde(rename = "Records")]
    records: Vec<LoggedRecord>,
}

#[derive(Deserialize)]
struct LoggedRecord {
    #[serde(rename = "eventID")]
    event_id: String,
}

/// The prefix of every log file of the benchmark's account (digests live elsewhere).
fn log_prefix() -> String {
    format!("AWSLogs/{ACCOUNT_ID}/CloudTrail/")
}

/// Every log file key in the bucket.
fn log_keys(state: &AppState) -> anyhow::Result<Vec<(String, u64)>> {
    let prefix = log_prefix();
    let mut keys = Vec::new();
    loop {
        let after = keys.last().map(|(key, _): &(String, u64)| key.clone());
        let page = state
            .delivery_store()
            .list(BUCKET, &prefix, after.as_deref(), 1_000)?;
        let done = page.len() < 1_000;
        keys.extend(page.into_iter().map(|object| (object.key, object.size)));
        if done {
            return Ok(keys);
        }
    }
}

/// The event ids in log file `key`, and its uncompressed size.
fn read_log_file(state: &AppState, key: &str) -> anyhow::Result<(Vec<String>, usize)> {
    let (_, body) = state.delivery_store().get(BUCKET, key, None)?;
    let json = logfile::gunzip(&body)?;
    let file: LogFile = serde_json::from_slice(&json)?;
    Ok((
        file.records
            .into_iter()
            .map(|record| record.event_id)
            .collect(),
        json.len(),
    ))
}

/// Part 1: the throughput table.
async fn throughput(state: &Arc<AppState>, records: usize) -> anyhow::Result<Table> {
    let key = trail_key(state)?;
    let before: HashSet<String> = log_keys(state)?.into_iter().map(|(key, _)| key).collect();

    let built = Instant::now();
    let mut workload = Workload::new(1);
    let mut batches: Vec<Vec<Vec<u8>>> = Vec::with_capacity(records.div_ceil(BATCH));
    let mut ids = HashSet::with_capacity(records);
    let mut payload_bytes = 0usize;
    let mut left = records;
    while left > 0 {
        let now = OffsetDateTime::now_utc();
        let batch: Vec<Vec<u8>> = (0..left.min(BATCH))
            .map(|_| {
                let record = workload.record(now);
                ids.insert(record.event_id.clone());
                let payload = serialize(&record);
                payload_bytes += payload.len();
                payload
            })
            .collect();
        left -= batch.len();
        batches.push(batch);
    }
    let build_time = built.elapsed();
    let base = state.journal.last_seq();

    let cpu_start = cpu_time();
    let start = Instant::now();
    let queue = Arc::new(Mutex::new(batches));
    let appenders: Vec<_> = (0..APPENDERS)
        .map(|_| {
            let state = state.clone();
            let queue = queue.clone();
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).pop();
                    let Some(batch) = next else {
                        return anyhow::Ok(());
                    };
                    state.journal.append_batch(batch).await?;
                }
            })
        })
        .collect();
    for appender in appenders {
        appender.await??;
    }
    let acknowledged = start.elapsed();
    let position_at_ack = position(state, &key)?;
    let target = state.journal.last_seq();
    anyhow::ensure!(
        target - base == records as u64,
        "the journal grew by {} entries, expected {records}",
        target - base
    );
    let limit = Duration::from_secs(150);
    while position(state, &key)? < target {
        anyhow::ensure!(
            start.elapsed() < limit,
            "delivery did not finish within {} s",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delivered = start.elapsed();
    let cpu = cpu_report(start, cpu_start);

    // Check: every record in exactly one new file.
    let checking = state.clone();
    let (files, compressed, uncompressed, seen) = tokio::task::spawn_blocking(move || {
        let mut files = 0u64;
        let mut compressed = 0u64;
        let mut uncompressed = 0u64;
        let mut seen: Vec<String> = Vec::new();
        for (key, size) in log_keys(&checking)? {
            if before.contains(&key) {
                continue;
            }
            let (file_ids, json_len) = read_log_file(&checking, &key)?;
            files += 1;
            compressed += size;
            uncompressed += json_len as u64;
            seen.extend(file_ids);
        }
        anyhow::Ok((files, compressed, uncompressed, seen))
    })
    .await??;
    let delivered_count = seen.len();
    let distinct: HashSet<&String> = seen.iter().collect();
    anyhow::ensure!(
        delivered_count == records
            && distinct.len() == records
            && ids.iter().all(|id| distinct.contains(id)),
        "the new log files hold {delivered_count} records ({} distinct), expected each of the {records} appended once",
        distinct.len()
    );

    let drained = delivered.saturating_sub(acknowledged);
    let left_at_ack = target.saturating_sub(position_at_ack.max(base));
    let mut table = Table::new(["measure", "value"]);
    table.row([
        "records delivered (read back, each once)".to_owned(),
        thousands(delivered_count as u64),
    ]);
    table.row([
        "delivered rate (first append → all in files)".to_owned(),
        per_second(records as u64, delivered),
    ]);
    table.row(["time to deliver all".to_owned(), ms(delivered)]);
    table.row([
        "append rate (acknowledged)".to_owned(),
        per_second(records as u64, acknowledged),
    ]);
    table.row([
        "not yet delivered at last ack".to_owned(),
        format!(
            "{} records, drained in {} ({})",
            thousands(left_at_ack),
            ms(drained),
            per_second(left_at_ack, drained)
        ),
    ]);
    table.row([
        "log files written".to_owned(),
        format!(
            "{} ({} records/file)",
            thousands(files),
            thousands(records as u64 / files.max(1))
        ),
    ]);
    table.row([
        "bytes (JSON → gzip)".to_owned(),
        format!(
            "{:.1} MB → {:.1} MB ({:.1}x)",
            uncompressed as f64 / 1e6,
            compressed as f64 / 1e6,
            uncompressed as f64 / compressed.max(1) as f64
        ),
    ]);
    table.row([
        "mean record size".to_owned(),
        format!("{} bytes", payload_bytes / records.max(1)),
    ]);
    table.row([
        "building the records (before the clock)".to_owned(),
        ms(build_time),
    ]);
    table.row(["process while delivering".to_owned(), cpu]);
    Ok(table)
}

/// One timed step of part 3.
struct Stage {
    name: &'static str,
    elapsed: Duration,
    note: String,
    /// An alternative timed for comparison, not a step the worker takes.
    comparison: bool,
}

impl Stage {
    fn step(name: &'static str, elapsed: Duration, note: String) -> Stage {
        Stage {
            name,
            elapsed,
            note,
            comparison: false,
        }
    }

    fn comparison(name: &'static str, elapsed: Duration, note: String) -> Stage {
        Stage {
            name,
            elapsed,
            note,
            comparison: true,
        }
    }
}

/// Part 3: times the worker's steps one by one on the journal of part 1.
async fn stage_costs(state: &Arc<AppState>, sample: usize) -> anyhow::Result<Table> {
    state.history_caught_up(Duration::from_secs(120)).await;
    let state = state.clone();
    let stages = tokio::task::spawn_blocking(move || measure_stages(&state, sample)).await??;
    let per_record = |elapsed: Duration| elapsed.as_secs_f64() * 1e6 / sample.max(1) as f64;
    let mut table = Table::new(["step", "µs/record", "records/s on one core", "note"]);
    let mut delivered_total = 0.0;
    for stage in &stages {
        let micros = per_record(stage.elapsed);
        if !stage.comparison {
            delivered_total += micros;
        }
        table.row([
            stage.name.to_owned(),
            format!("{micros:.2}"),
            thousands((1e6 / micros.max(1e-9)) as u64),
            stage.note.clone(),
        ]);
    }
    table.row([
        "sum of the delivered steps".to_owned(),
        format!("{delivered_total:.2}"),
        thousands((1e6 / delivered_total.max(1e-9)) as u64),
        "the worker runs them on one thread".to_owned(),
    ]);
    Ok(table)
}

fn measure_stages(state: &AppState, sample: usize) -> anyhow::Result<Vec<Stage>> {
    let mut stages = Vec::new();
    let trail = store::all_trails(&state.meta)?
        .into_iter()
        .find(|trail| trail.name == TRAIL)
        .ok_or_else(|| anyhow::anyhow!("trail {TRAIL} is not stored"))?;
    let selectors = TrailSelectors::from(&trail.selectors);

    // Journal read, as the worker reads (4,096 entries at a time).
    let clock = Instant::now();
    let mut payloads: Vec<Vec<u8>> = Vec::with_capacity(sample);
    let mut after = state.journal.first_seq().saturating_sub(1);
    while payloads.len() < sample {
        let entries = state
            .journal
            .read_from(after, (sample - payloads.len()).min(4_096))?;
        let Some(last) = entries.last() else {
            break;
        };
        after = last.seq;
        payloads.extend(entries.into_iter().map(|entry| entry.payload));
    }
    stages.push(Stage::step(
        "journal read_from",
        clock.elapsed(),
        "segment read + CRC32C".to_owned(),
    ));
    anyhow::ensure!(
        payloads.len() == sample,
        "the journal holds {} entries, expected at least {sample}",
        payloads.len()
    );

    let clock = Instant::now();
    let records: Vec<RecordRef<'_>> = payloads
        .iter()
        .map(|payload| RecordRef::parse(payload))
        .collect::<Result<_, _>>()?;
    stages.push(Stage::step(
        "parse RecordRef (serde_json)",
        clock.elapsed(),
        "borrowed; parameters, elements skipped".to_owned(),
    ));

    let clock = Instant::now();
    for payload in &payloads {
        std::hint::black_box(serde_json::from_slice::<Record>(payload)?);
    }
    stages.push(Stage::comparison(
        "parse full Record (comparison only)",
        clock.elapsed(),
        "what the worker parsed before".to_owned(),
    ));

    let clock = Instant::now();
    let mut taken = 0usize;
    for record in &records {
        let timed = record.event_time_ms().is_some();
        if timed
            && record.account_id() == Some(trail.account_id.as_str())
            && selectors.matches(record)
        {
            taken += 1;
        }
    }
    stages.push(Stage::step(
        "event time + selectors",
        clock.elapsed(),
        format!(
            "{} of {} selected",
            thousands(taken as u64),
            thousands(sample as u64)
        ),
    ));
    drop(records);

    let clock = Instant::now();
    let bodies: Vec<Vec<u8>> = payloads
        .chunks(STAGE_FILE_RECORDS)
        .map(|chunk| logfile::records_body(chunk.iter().map(Vec::as_slice)))
        .collect();
    stages.push(Stage::step(
        "file body (records_body)",
        clock.elapsed(),
        String::new(),
    ));
    let body_bytes: usize = bodies.iter().map(Vec::len).sum();

    // A backlog (this part's case) is delivered at the fast level; keeping up, at the default.
    let mut delivered_files = Vec::new();
    for (level, label, delivered) in [
        (
            logfile::FAST_LEVEL,
            "gzip, fast level (delivery behind)",
            true,
        ),
        (
            logfile::DEFAULT_LEVEL,
            "gzip, default level (keeping up; comparison)",
            false,
        ),
    ] {
        let clock = Instant::now();
        let packed: Vec<Vec<u8>> = bodies
            .iter()
            .map(|body| logfile::gzip_at(body, level))
            .collect::<Result<_, _>>()?;
        let elapsed = clock.elapsed();
        let packed_bytes: usize = packed.iter().map(Vec::len).sum();
        let note = format!(
            "{:.1} MB/s in, {:.1}x",
            body_bytes as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9),
            body_bytes as f64 / packed_bytes.max(1) as f64
        );
        if delivered {
            delivered_files = packed;
        }
        stages.push(if delivered {
            Stage::step(label, elapsed, note)
        } else {
            Stage::comparison(label, elapsed, note)
        });
    }

    let clock = Instant::now();
    for body in &bodies {
        std::hint::black_box(opentrail_delivery::digest::sha256_hex(body));
    }
    stages.push(Stage::step(
        "SHA-256 of the body (digest entry)",
        clock.elapsed(),
        String::new(),
    ));

    let options = PutOptions {
        content_type: Some("application/x-gzip".into()),
        ..PutOptions::default()
    };
    let clock = Instant::now();
    for (index, file) in delivered_files.iter().enumerate() {
        state.delivery_store().put(
            BUCKET,
            &format!("bench-scratch/{index}.json.gz"),
            file,
            &options,
        )?;
    }
    stages.push(Stage::step(
        "store put (MD5 etag, write, fsync)",
        clock.elapsed(),
        format!("{} files", delivered_files.len()),
    ));
    Ok(stages)
}

/// Part 2: the lag table.
async fn lag(state: &Arc<AppState>, rate: usize, seconds: usize) -> anyhow::Result<Table> {
    let total = rate * seconds;
    let known: HashSet<String> = log_keys(state)?.into_iter().map(|(key, _)| key).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let state = state.clone();
        let stop = stop.clone();
        std::thread::spawn(move || watch(&state, known, &stop))
    };

    let acks: Arc<Mutex<HashMap<String, Instant>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(total)));
    let mut workload = Workload::new(2);
    let start = Instant::now();
    let mut appends = Vec::with_capacity(total);
    for index in 0..total {
        let due = start + Duration::from_secs_f64(index as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let record = workload.record(OffsetDateTime::now_utc());
        let id = record.event_id.clone();
        let payload = serialize(&record);
        let state = state.clone();
        let acks = acks.clone();
        appends.push(tokio::spawn(async move {
            state.journal.append(payload).await?;
            let acked = Instant::now();
            acks.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, acked);
            anyhow::Ok(())
        }));
    }
    for append in appends {
        append.await??;
    }
    let sent = start.elapsed();

    // Wait until every record shows up in a file (or give up).
    let deadline = Instant::now() + Duration::from_secs(30);
    let target = state.journal.last_seq();
    let key = trail_key(state)?;
    while position(state, &key)? < target && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // One more listing after the last file is in.
    tokio::time::sleep(WATCH_EVERY * 3).await;
    stop.store(true, Ordering::Release);
    let seen = watcher
        .join()
        .map_err(|_| anyhow::anyhow!("the watcher panicked"))??;

    let acks = acks.lock().unwrap_or_else(PoisonError::into_inner);
    let mut lags = Vec::with_capacity(total);
    let mut files = HashSet::new();
    for (id, (visible, file)) in &seen.ids {
        if let Some(acked) = acks.get(id) {
            lags.push(visible.saturating_duration_since(*acked));
            files.insert(*file);
        }
    }
    anyhow::ensure!(
        lags.len() == total,
        "{} of {total} records showed up in log files",
        lags.len()
    );
    let summary = Summary::of(&mut lags);
    let mut table = Table::new(["measure", "value"]);
    table.row([
        "records (each seen in a file)".to_owned(),
        thousands(summary.count as u64),
    ]);
    table.row(["sent at".to_owned(), per_second(total as u64, sent)]);
    table.row([
        "log files".to_owned(),
        format!(
            "{} ({} records/file)",
            thousands(files.len() as u64),
            thousands(total as u64 / files.len().max(1) as u64)
        ),
    ]);
    table.row(["lag p50 (ack → file listed)".to_owned(), ms(summary.p50)]);
    table.row(["lag p99".to_owned(), ms(summary.p99)]);
    table.row(["lag max".to_owned(), ms(summary.max)]);
    table.row(["lag mean".to_owned(), ms(summary.mean)]);
    table.row([
        "listing + reading new files per poll".to_owned(),
        ms(seen.poll_time / u32::try_from(seen.polls.max(1)).unwrap_or(u32::MAX)),
    ]);
    Ok(table)
}

/// What the lag watcher saw: each record's id → (when its file was first listed, file number).
struct Seen {
    ids: HashMap<String, (Instant, usize)>,
    polls: u64,
    poll_time: Duration,
}

/// Lists the bucket every [`WATCH_EVERY`] until `stop`, reading each new log file.
fn watch(state: &AppState, mut known: HashSet<String>, stop: &AtomicBool) -> anyhow::Result<Seen> {
    let mut seen = Seen {
        ids: HashMap::new(),
        polls: 0,
        poll_time: Duration::ZERO,
    };
    let mut files = 0usize;
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let polled = Instant::now();
        let keys = log_keys(state)?;
        let listed = Instant::now();
        for (key, _) in keys {
            if !known.insert(key.clone()) {
                continue;
            }
            files += 1;
            let (ids, _) = read_log_file(state, &key)?;
            for id in ids {
                seen.ids.entry(id).or_insert((listed, files));
            }
        }
        seen.polls += 1;
        seen.poll_time += polled.elapsed();
        if stopping {
            return Ok(seen);
        }
        std::thread::sleep(WATCH_EVERY.saturating_sub(polled.elapsed()));
    }
}
