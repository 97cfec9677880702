//! SQS and SNS throughput through the HTTP API, opentrail and `moto_server` side by side: a
//! pipelined load generator (many keep-alive HTTP/1.1 connections on one client thread, every
//! request SigV4-signed) that drives running servers.
//!
//! Run with: `cargo bench -p opentrail-bench --bench sqs`
//!
//! Build the server first (`cargo build --release -p opentrail`); the bench starts
//! `$OPENTRAIL_BIN` (default `$CARGO_TARGET_DIR/release/opentrail`) with `serve` on a free port
//! in a temporary data directory and `moto_server -p PORT` (pip `moto[server]`), one after the
//! other, and runs the same two loads against each:
//!
//! 1. **sqs**: every connection loops `SendMessageBatch` (`OPENTRAIL_BENCH_BATCH`, default 10,
//!    messages of 200 bytes), `ReceiveMessage` (up to a batch, no long polling) and
//!    `DeleteMessageBatch` of what it received, on one of `OPENTRAIL_BENCH_QUEUES` (default 4)
//!    queues. A message counts once it has been sent, received and deleted.
//! 2. **sns**: one topic with `OPENTRAIL_BENCH_SUBSCRIPTIONS` (default 4) SQS subscriptions (one
//!    queue each). Half the connections loop `PublishBatch` (a batch of messages each), the other
//!    half loop `ReceiveMessage` (up to 10, long polling 1 s) + `DeleteMessageBatch` on the
//!    queues. Publishing stops after the run time; a delivered message counts once it has been
//!    received and deleted from a queue, and the rate is deliveries over the time from the first
//!    publish until the queues hold every published message (or 60 s more have passed).
//!
//! Each result line gives the rate, the 1-minute load average at the end of the run (other
//! work on the machine skews results), and the CPU the server and the client used per message
//! (from `/proc/<pid>/stat`). Variables:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `OPENTRAIL_BENCH_TARGETS` | `opentrail,moto` | servers to start, in order |
//! | `OPENTRAIL_BENCH_LOADS` | `sqs,sns` | loads to run on each |
//! | `OPENTRAIL_BENCH_ENDPOINT` | (none) | drive this running server instead (e.g. `http://127.0.0.1:4599`, to profile it with `perf record -p PID`); `OPENTRAIL_BENCH_SERVER_PID` names its process for the CPU figures |
//! | `OPENTRAIL_BENCH_SECONDS` | 10 | seconds of load |
//! | `OPENTRAIL_BENCH_CONNECTIONS` | 64 | concurrent connections |
//! | `OPENTRAIL_BENCH_SIGNATURE_VERSION` | (unset: AWS's default, 1) | the topic's `SignatureVersion` (`2`: SHA256withRSA) |
//! | `OPENTRAIL_BENCH_RAW` | 0 | `1`: subscriptions with `RawMessageDelivery` (no envelope, nothing signed) |
//!
//! The access key `AKIABENCHSQS` / `opentrail-bench-secret` is the root key of the started
//! opentrail; with `OPENTRAIL_BENCH_ENDPOINT` start the server with those
//! (`OPENTRAIL_ROOT_ACCESS_KEY_ID`, `OPENTRAIL_ROOT_SECRET_ACCESS_KEY`,
//! `OPENTRAIL_ACCOUNT_ID=123456789012`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use opentrail_api::{Credentials, SigningParams, sign_request};
use opentrail_bench::setup::{cpu_time, env_usize, load_average};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const ACCESS_KEY: &str = "AKIABENCHSQS";
const SECRET_KEY: &str = "opentrail-bench-secret";
const ACCOUNT_ID: &str = "123456789012";
const REGION: &str = "us-east-1";
const BODY_BYTES: usize = 200;

fn main() -> anyhow::Result<()> {
    let seconds = env_usize("OPENTRAIL_BENCH_SECONDS", 10)? as u64;
    let connections = env_usize("OPENTRAIL_BENCH_CONNECTIONS", 64)?.max(2);
    let batch = env_usize("OPENTRAIL_BENCH_BATCH", 10)?.clamp(1, 10);
    let queues = env_usize("OPENTRAIL_BENCH_QUEUES", 4)?.max(1);
    let subscriptions = env_usize("OPENTRAIL_BENCH_SUBSCRIPTIONS", 4)?.max(1);
    let loads = std::env::var("OPENTRAIL_BENCH_LOADS").unwrap_or_else(|_| "sqs,sns".into());
    let settings = Settings {
        seconds: Duration::from_secs(seconds),
        connections,
        batch,
        queues,
        subscriptions,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "{} s per load, {connections} connections, batch {batch}, {queues} queues, {subscriptions} subscriptions",
        seconds
    );
    if let Ok(endpoint) = std::env::var("OPENTRAIL_BENCH_ENDPOINT") {
        let address = endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let pid = std::env::var("OPENTRAIL_BENCH_SERVER_PID")
            .ok()
            .and_then(|pid| pid.parse().ok());
        let target = Target {
            label: "endpoint".into(),
            address,
            pid,
        };
        for load in loads.split(',') {
            runtime.block_on(run_load(&target, load, &settings))?;
        }
        return Ok(());
    }
    let targets =
        std::env::var("OPENTRAIL_BENCH_TARGETS").unwrap_or_else(|_| "opentrail,moto".into());
    let data = tempfile::tempdir()?;
    for name in targets.split(',') {
        let mut server = Server::start(name, data.path())?;
        let result = (|| {
            runtime.block_on(wait_healthy(&server.target.address, name))?;
            for load in loads.split(',') {
                runtime.block_on(run_load(&server.target, load, &settings))?;
            }
            anyhow::Ok(())
        })();
        server.stop();
        result?;
    }
    Ok(())
}

struct Settings {
    seconds: Duration,
    connections: usize,
    batch: usize,
    queues: usize,
    subscriptions: usize,
}

/// A server under load: where it listens and (when known) its process.
struct Target {
    label: String,
    address: String,
    pid: Option<u32>,
}

struct Server {
    target: Target,
    child: Child,
}

impl Server {
    fn start(name: &str, data: &std::path::Path) -> anyhow::Result<Server> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = format!("127.0.0.1:{port}");
        let child = match name {
            "opentrail" => {
                let binary = std::env::var("OPENTRAIL_BIN").unwrap_or_else(|_| {
                    let target =
                        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
                    format!("{target}/release/opentrail")
                });
                Command::new(&binary)
                    .args(["serve", "--listen", &address, "--data-dir"])
                    .arg(data.join("opentrail"))
                    .env("OPENTRAIL_ACCOUNT_ID", ACCOUNT_ID)
                    .env("OPENTRAIL_ROOT_ACCESS_KEY_ID", ACCESS_KEY)
                    .env("OPENTRAIL_ROOT_SECRET_ACCESS_KEY", SECRET_KEY)
                    .env("OPENTRAIL_LOG", "warn")
                    .stdout(Stdio::null())
                    .spawn()
                    .with_context(|| format!("starting {binary}"))?
            }
            "moto" => Command::new("moto_server")
                .args(["-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting moto_server")?,
            other => bail!("unknown target {other:?}: expected opentrail or moto"),
        };
        Ok(Server {
            target: Target {
                label: name.to_owned(),
                address,
                pid: Some(child.id()),
            },
            child,
        })
    }

    fn stop(&mut self) {
        // The servers stop on SIGTERM-like kill; their data directory is temporary.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_healthy(address: &str, name: &str) -> anyhow::Result<()> {
    let path = if name == "moto" {
        "/moto-api/"
    } else {
        "/_opentrail/health"
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let mut connection = Connection::new(address);
        let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n").into_bytes();
        if let Ok((200, _)) = connection.call(&request).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{name} at {address} did not become healthy")
}

/// CPU time (user + system) of process `pid` so far.
fn process_cpu(pid: u32) -> Duration {
    let Ok(stat) = fs_err::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    let Some((_, after_comm)) = stat.rsplit_once(") ") else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// One keep-alive HTTP/1.1 connection that reconnects when the server closes it (moto's
/// development server answers HTTP/1.0 and closes after each response).
struct Connection {
    address: String,
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
}

impl Connection {
    fn new(address: &str) -> Connection {
        Connection {
            address: address.to_owned(),
            stream: None,
            buffer: Vec::with_capacity(64 * 1024),
        }
    }

    /// Sends one request and reads its response: (status, body).
    async fn call(&mut self, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        let result = tokio::time::timeout(Duration::from_secs(60), self.exchange(request)).await;
        match result {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(err)) => {
                self.stream = None;
                Err(err)
            }
            Err(_) => {
                self.stream = None;
                bail!("no answer within 60 s")
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut stream = match self.stream.take() {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(&self.address).await?;
                stream.set_nodelay(true)?;
                stream
            }
        };
        stream.write_all(request).await?;
        self.buffer.clear();
        let head_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end + 4;
            }
            if read_more(&mut stream, &mut self.buffer).await? == 0 {
                bail!("connection closed before a response");
            }
        };
        let head = std::str::from_utf8(&self.buffer[..head_end]).context("response head")?;
        let status: u16 = head
            .get(9..12)
            .and_then(|code| code.parse().ok())
            .context("response status")?;
        let mut length = None;
        let mut close = head.starts_with("HTTP/1.0");
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().context("content-length")?);
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        let body = match length {
            Some(length) => {
                while self.buffer.len() < head_end + length {
                    if read_more(&mut stream, &mut self.buffer).await? == 0 {
                        bail!("connection closed inside a response body");
                    }
                }
                self.buffer[head_end..head_end + length].to_vec()
            }
            None => {
                while read_more(&mut stream, &mut self.buffer).await? > 0 {}
                close = true;
                self.buffer[head_end..].to_vec()
            }
        };
        if !close {
            self.stream = Some(stream);
        }
        Ok((status, body))
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 16 * 1024];
    let read = stream.read(&mut chunk).await?;
    buffer.extend_from_slice(&chunk[..read]);
    Ok(read)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Builds and signs requests for one server.
#[derive(Clone)]
struct Client {
    address: Arc<str>,
    credentials: Arc<Credentials>,
}

impl Client {
    fn new(address: &str) -> Client {
        Client {
            address: address.into(),
            credentials: Arc::new(Credentials {
                access_key_id: ACCESS_KEY.into(),
                secret_access_key: SECRET_KEY.into(),
                session_token: None,
            }),
        }
    }

    /// A signed POST to `/` as raw HTTP/1.1 bytes.
    fn request(
        &self,
        service: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Vec<u8>> {
        let mut builder = http::Request::builder()
            .method("POST")
            .uri(format!("http://{}/", self.address));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (mut parts, ()) = builder.body(())?.into_parts();
        let params = SigningParams {
            credentials: &self.credentials,
            region: REGION,
            service,
            time: OffsetDateTime::now_utc(),
        };
        sign_request(&mut parts, body, &params)?;
        let mut out = Vec::with_capacity(body.len() + 1024);
        out.extend_from_slice(b"POST / HTTP/1.1\r\n");
        for (name, value) in &parts.headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        Ok(out)
    }

    /// An SQS awsJson 1.0 request.
    fn sqs(&self, operation: &str, input: &Value) -> anyhow::Result<Vec<u8>> {
        let target = format!("AmazonSQS.{operation}");
        self.request(
            "sqs",
            &[
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amz-target", &target),
            ],
            input.to_string().as_bytes(),
        )
    }

    /// An SNS query request.
    fn sns(&self, params: &[(String, String)]) -> anyhow::Result<Vec<u8>> {
        let body = serde_urlencoded::to_string(params)?;
        self.request(
            "sns",
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            body.as_bytes(),
        )
    }
}

/// Calls SQS and parses the JSON answer, failing on a non-200 status.
async fn sqs_call(
    connection: &mut Connection,
    client: &Client,
    operation: &str,
    input: &Value,
) -> anyhow::Result<Value> {
    let (status, body) = connection.call(&client.sqs(operation, input)?).await?;
    if status != 200 {
        bail!(
            "{operation} answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    if body.is_empty() {
        return Ok(json!({}));
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Calls SNS and returns the XML answer, failing on a non-200 status.
async fn sns_call(
    connection: &mut Connection,
    client: &Client,
    params: &[(String, String)],
) -> anyhow::Result<String> {
    let (status, body) = connection.call(&client.sns(params)?).await?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if status != 200 {
        bail!(
            "{} answered {status}: {}",
            params[0].1,
            &text[..text.len().min(300)]
        );
    }
    Ok(text)
}

fn xml_value<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn create_queue(
    connection: &mut Connection,
    client: &Client,
    name: &str,
) -> anyhow::Result<String> {
    let answer = sqs_call(
        connection,
        client,
        "CreateQueue",
        &json!({"QueueName": name}),
    )
    .await?;
    let url = answer["QueueUrl"].as_str().context("QueueUrl")?;
    // The path is what matters; the host may be `localhost` or the server's name.
    let path = url.splitn(4, '/').nth(3).context("queue url path")?;
    Ok(format!("http://{}/{path}", client.address))
}

/// Runs one load against `target` and prints its line.
async fn run_load(target: &Target, load: &str, settings: &Settings) -> anyhow::Result<()> {
    let client = Client::new(&target.address);
    let cpu_server_start = target.pid.map(process_cpu);
    let cpu_client_start = cpu_time();
    let (messages, elapsed, extra) = match load {
        "sqs" => sqs_load(&client, target, settings).await?,
        "sns" => sns_load(&client, target, settings).await?,
        other => bail!("unknown load {other:?}: expected sqs or sns"),
    };
    let rate = messages as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    let server_cpu = match (target.pid, cpu_server_start) {
        (Some(pid), Some(start)) => {
            let used = process_cpu(pid).saturating_sub(start).as_secs_f64();
            format!(
                "server CPU {:.1} µs/msg ({:.2} cores)",
                used * 1e6 / messages.max(1) as f64,
                used / elapsed.as_secs_f64()
            )
        }
        _ => "server CPU unknown".into(),
    };
    let client_cpu = cpu_time().saturating_sub(cpu_client_start).as_secs_f64();
    println!(
        "{:>10} {:>4}: {:>9.0} msg/s  ({messages} messages in {:.1} s{extra}; {server_cpu}; client CPU {:.1} µs/msg; load average {})",
        target.label,
        load,
        rate,
        elapsed.as_secs_f64(),
        client_cpu * 1e6 / messages.max(1) as f64,
        load_average()
    );
    Ok(())
}

/// Send + receive + delete loops; returns messages done and the time they took.
async fn sqs_load(
    client: &Client,
    target: &Target,
    settings: &Settings,
) -> anyhow::Result<(u64, Duration, String)> {
    let mut setup = Connection::new(&target.address);
    let mut urls = Vec::new();
    let stamp = OffsetDateTime::now_utc().unix_timestamp();
    for i in 0..settings.queues {
        urls.push(create_queue(&mut setup, client, &format!("bench-sqs-{stamp}-{i}")).await?);
    }
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..settings.connections {
        let url = urls[c % urls.len()].clone();
        let (client, done, stop) = (client.clone(), done.clone(), stop.clone());
        let (address, batch) = (target.address.clone(), settings.batch);
        tasks.spawn(async move {
            let mut connection = Connection::new(&address);
            let body = "x".repeat(BODY_BYTES);
            let entries: Vec<Value> = (0..batch)
                .map(|i| json!({"Id": i.to_string(), "MessageBody": body}))
                .collect();
            let send = json!({"QueueUrl": url, "Entries": entries});
            let receive =
                json!({"QueueUrl": url, "MaxNumberOfMessages": batch, "WaitTimeSeconds": 0});
            while !stop.load(Ordering::Relaxed) {
                let sent = sqs_call(&mut connection, &client, "SendMessageBatch", &send).await?;
                if sent["Failed"].as_array().is_some_and(|f| !f.is_empty()) {
                    bail!("send failures: {}", sent["Failed"]);
                }
                let received =
                    sqs_call(&mut connection, &client, "ReceiveMessage", &receive).await?;
                let handles = receipt_handles(&received);
                if handles.is_empty() {
                    continue;
                }
                delete_batch(&mut connection, &client, &url, &handles).await?;
                done.fetch_add(handles.len() as u64, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    tokio::time::sleep(settings.seconds).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok((
        done.load(Ordering::Relaxed),
        started.elapsed(),
        String::new(),
    ))
}

fn receipt_handles(received: &Value) -> Vec<String> {
    received["Messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["ReceiptHandle"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn delete_batch(
    connection: &mut Connection,
    client: &Client,
    url: &str,
    handles: &[String],
) -> anyhow::Result<()> {
    let entries: Vec<Value> = handles
        .iter()
        .enumerate()
        .map(|(i, handle)| json!({"Id": i.to_string(), "ReceiptHandle": handle}))
        .collect();
    let deleted = sqs_call(
        connection,
        client,
        "DeleteMessageBatch",
        &json!({"QueueUrl": url, "Entries": entries}),
    )
    .await?;
    if deleted["Failed"].as_array().is_some_and(|f| !f.is_empty()) {
        bail!("delete failures: {}", deleted["Failed"]);
    }
    Ok(())
}

/// PublishBatch to a topic fanned out to SQS queues; returns deliveries received and deleted.
async fn sns_load(
    client: &Client,
    target: &Target,
    settings: &Settings,
) -> anyhow::Result<(u64, Duration, String)> {
    let mut setup = Connection::new(&target.address);
    let stamp = OffsetDateTime::now_utc().unix_timestamp();
    let topic_xml = sns_call(
        &mut setup,
        client,
        &pairs(&[
            ("Action", "CreateTopic"),
            ("Version", "2010-03-31"),
            ("Name", &format!("bench-topic-{stamp}")),
        ]),
    )
    .await?;
    let topic_arn = xml_value(&topic_xml, "TopicArn")
        .context("TopicArn")?
        .to_owned();
    if let Ok(version) = std::env::var("OPENTRAIL_BENCH_SIGNATURE_VERSION") {
        sns_call(
            &mut setup,
            client,
            &pairs(&[
                ("Action", "SetTopicAttributes"),
                ("Version", "2010-03-31"),
                ("TopicArn", &topic_arn),
                ("AttributeName", "SignatureVersion"),
                ("AttributeValue", &version),
            ]),
        )
        .await?;
    }
    let raw = std::env::var("OPENTRAIL_BENCH_RAW").is_ok_and(|v| v == "1");
    let mut urls = Vec::new();
    for i in 0..settings.subscriptions {
        let url = create_queue(&mut setup, client, &format!("bench-sns-{stamp}-{i}")).await?;
        let attributes = sqs_call(
            &mut setup,
            client,
            "GetQueueAttributes",
            &json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]}),
        )
        .await?;
        let queue_arn = attributes["Attributes"]["QueueArn"]
            .as_str()
            .context("QueueArn")?;
        let mut subscribe = pairs(&[
            ("Action", "Subscribe"),
            ("Version", "2010-03-31"),
            ("TopicArn", &topic_arn),
            ("Protocol", "sqs"),
            ("Endpoint", queue_arn),
        ]);
        if raw {
            subscribe.extend(pairs(&[
                ("Attributes.entry.1.key", "RawMessageDelivery"),
                ("Attributes.entry.1.value", "true"),
            ]));
        }
        sns_call(&mut setup, client, &subscribe).await?;
        urls.push(url);
    }
    let published = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let stop_publishing = Arc::new(AtomicBool::new(false));
    let stop_receiving = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let publishers = settings.connections / 2;
    let mut publish_tasks = tokio::task::JoinSet::new();
    for _ in 0..publishers {
        let (client, published, stop) =
            (client.clone(), published.clone(), stop_publishing.clone());
        let (address, topic_arn, batch) =
            (target.address.clone(), topic_arn.clone(), settings.batch);
        publish_tasks.spawn(async move {
            let mut connection = Connection::new(&address);
            let body = "x".repeat(BODY_BYTES);
            let mut params = pairs(&[
                ("Action", "PublishBatch"),
                ("Version", "2010-03-31"),
                ("TopicArn", &topic_arn),
            ]);
            for i in 1..=batch {
                let prefix = format!("PublishBatchRequestEntries.member.{i}");
                params.push((format!("{prefix}.Id"), format!("m{i}")));
                params.push((format!("{prefix}.Message"), body.clone()));
            }
            while !stop.load(Ordering::Relaxed) {
                let answer = sns_call(&mut connection, &client, &params).await?;
                let ok = answer.matches("<MessageId>").count() as u64;
                if ok != batch as u64 {
                    bail!("PublishBatch published {ok} of {batch}: {answer}");
                }
                published.fetch_add(ok, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    let mut receive_tasks = tokio::task::JoinSet::new();
    for c in 0..settings.connections - publishers {
        let url = urls[c % urls.len()].clone();
        let (client, delivered, stop) = (client.clone(), delivered.clone(), stop_receiving.clone());
        let address = target.address.clone();
        receive_tasks.spawn(async move {
            let mut connection = Connection::new(&address);
            let receive = json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1});
            while !stop.load(Ordering::Relaxed) {
                let received =
                    sqs_call(&mut connection, &client, "ReceiveMessage", &receive).await?;
                let handles = receipt_handles(&received);
                if handles.is_empty() {
                    continue;
                }
                delete_batch(&mut connection, &client, &url, &handles).await?;
                delivered.fetch_add(handles.len() as u64, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    tokio::time::sleep(settings.seconds).await;
    stop_publishing.store(true, Ordering::Relaxed);
    while let Some(joined) = publish_tasks.join_next().await {
        joined??;
    }
    let publish_elapsed = started.elapsed();
    let expected = published.load(Ordering::Relaxed) * settings.subscriptions as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        if receive_tasks.is_empty() {
            break;
        }
        if let Some(Ok(Err(err))) =
            tokio::time::timeout(Duration::from_millis(20), receive_tasks.join_next())
                .await
                .ok()
                .flatten()
        {
            return Err(err);
        }
    }
    let elapsed = started.elapsed();
    stop_receiving.store(true, Ordering::Relaxed);
    while let Some(joined) = receive_tasks.join_next().await {
        joined??;
    }
    let delivered = delivered.load(Ordering::Relaxed);
    let publish_rate = published.load(Ordering::Relaxed) as f64 / publish_elapsed.as_secs_f64();
    Ok((
        delivered.min(expected),
        elapsed,
        format!(
            ", {} published at {publish_rate:.0}/s × {} subscriptions, {delivered} of {expected} delivered",
            published.load(Ordering::Relaxed),
            settings.subscriptions
        ),
    ))
}
