//! EventBridge rule → target latency: from the acknowledgement of an API call to the matched
//! event being received from an SQS queue, inside one in-process server.
//!
//! Run with: `cargo bench -p opentrail-bench --bench rule_latency`
//!
//! Starts a server (`opentrail_server::start`, every worker running) in a temporary directory,
//! creates a queue and, on the default bus, a rule matching the CloudTrail event of S3
//! `CreateBucket` with the queue as its target. Then, one trial at a time: `CreateBucket` of a
//! fresh bucket, the clock starting when the call is acknowledged (its record durable in the
//! journal), and `ReceiveMessage` long polls (up to 5 s each) until the event naming that
//! bucket arrives; the message is deleted before the next trial. What is measured is the
//! `events` worker (woken by the journal append, matching, writing the pending delivery
//! durably), the `events-delivery` worker (woken by that write, sending to SQS) and the
//! long poll's wake-up — no socket, the calls go through `dispatch::handle`.
//!
//! - `OPENTRAIL_BENCH_TRIALS` (default 200): measured trials;
//! - `OPENTRAIL_BENCH_WARMUP` (default 5): trials before them, not counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentrail_bench::client::Client;
use opentrail_bench::setup::{bench_dir, cpu_report, cpu_time, cpus, env_usize, load_average};
use opentrail_bench::stats::{Summary, Table, ms};
use opentrail_server::{AppState, ServerConfig};
use serde_json::{Value, json};

const QUEUE: &str = "rule-latency";
const RULE: &str = "create-bucket-to-sqs";

fn main() -> anyhow::Result<()> {
    let trials = env_usize("OPENTRAIL_BENCH_TRIALS", 200)?;
    let warmup = env_usize("OPENTRAIL_BENCH_WARMUP", 5)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = bench_dir("opentrail-bench-rule-latency-")?;
    println!(
        "rule_latency: CreateBucket → default-bus rule → SQS target → ReceiveMessage, {trials} trials after {warmup} warm-up, {} CPUs (load average {} at start)",
        cpus(),
        load_average(),
    );
    runtime.block_on(async {
        let state =
            opentrail_server::start(ServerConfig::for_tests(dir.path().join("data"))).await?;
        let outcome = run(&state, trials, warmup).await;
        state.shutdown().await;
        outcome
    })?;
    println!("load average {} at end", load_average());
    Ok(())
}

async fn run(state: &Arc<AppState>, trials: usize, warmup: usize) -> anyhow::Result<()> {
    let client = Client::new(state)?;
    let created = client
        .sqs("CreateQueue", &json!({"QueueName": QUEUE}))
        .await?;
    let queue_url = created["QueueUrl"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("CreateQueue answered no QueueUrl: {created}"))?
        .to_owned();
    let queue_arn = format!("arn:aws:sqs:us-east-1:{}:{QUEUE}", state.config.account_id);
    let pattern = json!({
        "source": ["aws.s3"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["s3.amazonaws.com"], "eventName": ["CreateBucket"]}
    });
    client
        .events(
            "PutRule",
            &json!({"Name": RULE, "EventPattern": pattern.to_string()}),
        )
        .await?;
    client
        .events(
            "PutTargets",
            &json!({"Rule": RULE, "Targets": [{"Id": "queue", "Arn": queue_arn}]}),
        )
        .await?;

    let mut samples = Vec::with_capacity(trials);
    let mut receives = 0usize;
    let (started, cpu_start) = (Instant::now(), cpu_time());
    for trial in 0..warmup + trials {
        let bucket = format!("rule-latency-{trial}");
        client.create_bucket(&bucket).await?;
        let acknowledged = Instant::now();
        let receipt = loop {
            receives += 1;
            let answer = client
                .sqs(
                    "ReceiveMessage",
                    &json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 1, "WaitTimeSeconds": 5}),
                )
                .await?;
            anyhow::ensure!(
                acknowledged.elapsed() < Duration::from_secs(30),
                "no event for bucket {bucket} after 30 s"
            );
            if let Some(receipt) = event_for(&answer, &bucket)? {
                break receipt;
            }
        };
        let latency = acknowledged.elapsed();
        client
            .sqs(
                "DeleteMessage",
                &json!({"QueueUrl": queue_url, "ReceiptHandle": receipt}),
            )
            .await?;
        if trial >= warmup {
            samples.push(latency);
        }
    }
    let process = cpu_report(started, cpu_start);
    let summary = Summary::of(&mut samples);
    let mut table = Table::new(["measure", "value"]);
    table.row(["trials".to_owned(), summary.count.to_string()]);
    table.row(["latency p50 (ack → received)".to_owned(), ms(summary.p50)]);
    table.row(["latency p99".to_owned(), ms(summary.p99)]);
    table.row(["latency max".to_owned(), ms(summary.max)]);
    table.row(["latency mean".to_owned(), ms(summary.mean)]);
    table.row([
        "ReceiveMessage calls per trial".to_owned(),
        format!("{:.2}", receives as f64 / (warmup + trials) as f64),
    ]);
    table.row(["process".to_owned(), process]);
    println!("{}", table.render());
    Ok(())
}

/// The receipt handle of the message carrying the CloudTrail event of `bucket`'s creation,
/// if the answer holds it (a message about another bucket is an error: trials run one at a
/// time, each deleting its message).
fn event_for(answer: &Value, bucket: &str) -> anyhow::Result<Option<String>> {
    let Some(message) = answer["Messages"].as_array().and_then(|m| m.first()) else {
        return Ok(None);
    };
    let body: Value = serde_json::from_str(message["Body"].as_str().unwrap_or("null"))?;
    let named = &body["detail"]["requestParameters"]["bucketName"];
    anyhow::ensure!(
        named == bucket,
        "expected the event of bucket {bucket}, received {named}: {body}"
    );
    let receipt = message["ReceiptHandle"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("a message without ReceiptHandle: {message}"))?;
    Ok(Some(receipt.to_owned()))
}
