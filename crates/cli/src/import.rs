//! `opentrail import`: loads CloudTrail log files — local paths (directories walked
//! recursively) or `s3://bucket/prefix` on any S3-compatible endpoint — into a running server
//! through its ingest API (`cloudtrail-data` `PutAuditEvents`, one full record per event).
//!
//! Files may be gzipped (detected by their magic bytes, whatever their name) or plain, and hold
//! `{"Records":[…]}` (a trail log file), a JSON array of records, or one record per line. While
//! walking a directory or prefix, files named `*.json`, `*.json.gz`, `*.jsonl`, `*.jsonl.gz` or
//! `*.ndjson` are read and digest files (`CloudTrail-Digest/`) are left out; a path named on
//! the command line is read whatever its name.
//!
//! Records go out in batches of at most 100 records and 1,000,000 bytes of `eventData`
//! (`PutAuditEvents` limits), several requests in flight (`--concurrency`). The server
//! acknowledges a batch once it is durable in its journal; with `--ack-log FILE` the `eventID`
//! of every acknowledged record is appended to FILE (flushed after each batch), so a caller can
//! tell exactly what survived a crash. Re-importing is harmless: the server skips eventIDs it
//! already holds.
//!
//! A file that cannot be read or parsed, a record that is not an object, larger than the
//! server accepts, or refused by the server is reported on stderr with its path and position
//! (`record N` inside `Records` or an array, `line N` in a record-per-line file) and skipped.
//! On a terminal a progress bar shows files, records, records/s and the ETA; otherwise one
//! summary line is printed at the end (on stdout, as on a terminal).
//!
//! Exit status: 0 when every record was imported, 1 when anything was skipped, 2 on a fatal
//! error (bad arguments, no credentials, server unreachable or failing).

use std::fmt;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use opentrail_objects::{ObjectStore, S3Store, S3StoreConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::client::{Client, ClientError, env};

/// Records per request (`PutAuditEvents` takes at most 100).
const BATCH_RECORDS: usize = 100;
/// `eventData` bytes per request (the server takes at most 1 MiB).
const BATCH_BYTES: usize = 1_000_000;
/// The largest record the server accepts.
const MAX_RECORD_BYTES: usize = 256 * 1024;
/// Attempts of one request while the server is unreachable or failing.
const ATTEMPTS: u32 = 5;
const LIST_PAGE: usize = 1000;

/// Command-line arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The server (default: AWS_ENDPOINT_URL, else http://127.0.0.1:4599); also the S3
    /// endpoint for s3:// sources unless AWS_ENDPOINT_URL_S3 is set.
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// The signing region (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Append the eventID of every acknowledged record to this file, one a line.
    #[arg(long)]
    pub ack_log: Option<PathBuf>,
    /// Files, directories or s3://bucket/prefix to import.
    #[arg(required = true, value_name = "PATH|s3://bucket/prefix")]
    pub sources: Vec<String>,
}

/// Why the import stopped.
#[derive(Debug, thiserror::Error)]
enum ImportError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("listing {location}: {message}")]
    List { location: String, message: String },
}

/// Runs the command; returns the process exit status.
pub fn run(args: Args) -> i32 {
    match run_with(&args) {
        Ok(outcome) => outcome,
        Err(err) => {
            eprintln!("opentrail import: {err}");
            2
        }
    }
}

/// One file to read.
#[derive(Debug, Clone)]
enum FileRef {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

impl fmt::Display for FileRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileRef::Local(path) => write!(f, "{}", path.display()),
            FileRef::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// Where a record sits in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// The index (from 0) in `Records` or in a top-level array.
    Record(usize),
    /// The line (from 1) of a record-per-line file.
    Line(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Record(index) => write!(f, "record {index}"),
            Position::Line(line) => write!(f, "line {line}"),
        }
    }
}

/// A record on its way, with where it came from.
struct Pending {
    file: Arc<str>,
    position: Position,
    data: String,
}

/// Counters shared by the reader, the senders and the progress display.
#[derive(Default)]
struct Tally {
    files_done: AtomicU64,
    files_skipped: AtomicU64,
    records_read: AtomicU64,
    acknowledged: AtomicU64,
    skipped: AtomicU64,
    fatal: AtomicBool,
}

/// Prints reports without tearing the progress bar.
struct Reporter {
    bar: ProgressBar,
    fatal_message: Mutex<Option<String>>,
}

impl Reporter {
    fn report(&self, text: &str) {
        self.bar.suspend(|| eprintln!("{text}"));
    }
}

fn run_with(args: &Args) -> Result<i32, ImportError> {
    let client = Client::from_env(
        args.endpoint_url.as_deref(),
        args.region.as_deref(),
        "import",
    )?;
    let s3 = if args
        .sources
        .iter()
        .any(|source| source.starts_with("s3://"))
    {
        Some(s3_store(&client)?)
    } else {
        None
    };
    let mut files: Vec<(FileRef, u64)> = Vec::new();
    for source in &args.sources {
        match source.strip_prefix("s3://") {
            Some(rest) => {
                let store = s3.as_ref().ok_or_else(|| {
                    ImportError::Usage("no s3 store for an s3:// source".to_owned())
                })?;
                list_s3(store, source, rest, &mut files)?;
            }
            None => list_local(Path::new(source), true, &mut files)?,
        }
    }
    let ack_log = match &args.ack_log {
        Some(path) => Some(Mutex::new(std::io::BufWriter::new(
            fs_err::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|err| ImportError::Usage(err.to_string()))?,
        ))),
        None => None,
    };

    let total_bytes: u64 = files.iter().map(|(_, size)| size).sum();
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };
    let reporter = Reporter {
        bar: bar.clone(),
        fatal_message: Mutex::new(None),
    };
    let tally = Tally::default();
    let started = Instant::now();
    let total_files = files.len();

    let (sender, receiver) = sync_channel::<Vec<Pending>>(usize::from(args.concurrency) * 2);
    let receiver = Mutex::new(receiver);
    std::thread::scope(|scope| {
        for _ in 0..args.concurrency {
            scope.spawn(|| send_loop(&client, &receiver, &tally, &reporter, ack_log.as_ref()));
        }
        let mut batch = Vec::new();
        let mut batch_bytes = 0usize;
        for (file, size) in &files {
            if tally.fatal.load(Ordering::SeqCst) {
                break;
            }
            let name: Arc<str> = Arc::from(file.to_string());
            match read_file(file, s3.as_ref()) {
                Ok(bytes) => {
                    let (records, problems) = parse_records(&bytes);
                    for (position, problem) in problems {
                        tally.skipped.fetch_add(1, Ordering::Relaxed);
                        reporter.report(&format!("{name}: {position}: skipped: {problem}"));
                    }
                    if let Err(problem) = &records {
                        tally.files_skipped.fetch_add(1, Ordering::Relaxed);
                        reporter.report(&format!("{name}: skipped: {problem}"));
                    }
                    for (position, data) in records.unwrap_or_default() {
                        tally.records_read.fetch_add(1, Ordering::Relaxed);
                        if data.len() > MAX_RECORD_BYTES {
                            tally.skipped.fetch_add(1, Ordering::Relaxed);
                            reporter.report(&format!(
                                "{name}: {position}: skipped: the record has {} bytes, the server takes at most {MAX_RECORD_BYTES}",
                                data.len()
                            ));
                            continue;
                        }
                        if batch.len() == BATCH_RECORDS || batch_bytes + data.len() > BATCH_BYTES {
                            let full = std::mem::take(&mut batch);
                            batch_bytes = 0;
                            if sender.send(full).is_err() {
                                break;
                            }
                        }
                        batch_bytes += data.len();
                        batch.push(Pending {
                            file: name.clone(),
                            position,
                            data,
                        });
                    }
                }
                Err(problem) => {
                    tally.files_skipped.fetch_add(1, Ordering::Relaxed);
                    reporter.report(&format!("{name}: skipped: {problem}"));
                }
            }
            tally.files_done.fetch_add(1, Ordering::Relaxed);
            bar.inc(*size);
            bar.set_message(progress_message(&tally, total_files, started));
        }
        if !batch.is_empty() && !tally.fatal.load(Ordering::SeqCst) {
            let _ = sender.send(batch);
        }
        drop(sender);
    });
    bar.finish_and_clear();

    let elapsed = started.elapsed().as_secs_f64();
    let acknowledged = tally.acknowledged.load(Ordering::SeqCst);
    let skipped = tally.skipped.load(Ordering::SeqCst);
    let files_skipped = tally.files_skipped.load(Ordering::SeqCst);
    #[allow(clippy::cast_precision_loss)]
    let rate = if elapsed > 0.0 {
        acknowledged as f64 / elapsed
    } else {
        0.0
    };
    println!(
        "imported {acknowledged} records from {} files in {elapsed:.1} s ({rate:.0} records/s); skipped {skipped} records and {files_skipped} files",
        tally.files_done.load(Ordering::SeqCst)
    );
    let fatal = reporter
        .fatal_message
        .lock()
        .map(|message| message.clone())
        .unwrap_or_else(|poisoned| poisoned.into_inner().clone());
    if let Some(message) = fatal {
        eprintln!("opentrail import: stopped: {message}");
        return Ok(2);
    }
    Ok(if skipped > 0 || files_skipped > 0 {
        1
    } else {
        0
    })
}

fn progress_message(tally: &Tally, total_files: usize, started: Instant) -> String {
    let acknowledged = tally.acknowledged.load(Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let rate = acknowledged as f64 / started.elapsed().as_secs_f64().max(0.001);
    format!(
        "{}/{total_files} files, {acknowledged} records, {rate:.0} records/s",
        tally.files_done.load(Ordering::Relaxed)
    )
}

fn s3_store(client: &Client) -> Result<S3Store, ImportError> {
    let missing = || ImportError::Usage("no AWS credentials for the s3:// source".to_owned());
    let endpoint = env("AWS_ENDPOINT_URL_S3").unwrap_or_else(|| client.endpoint().to_owned());
    let config = S3StoreConfig {
        session_token: env("AWS_SESSION_TOKEN"),
        ..S3StoreConfig::for_endpoint(
            endpoint.trim_end_matches('/'),
            client.region(),
            env("AWS_ACCESS_KEY_ID").ok_or_else(missing)?,
            env("AWS_SECRET_ACCESS_KEY").ok_or_else(missing)?,
        )
    };
    S3Store::new(config).map_err(|err| ImportError::Usage(format!("s3 client: {err}")))
}

/// Whether a file met while walking is a log file to read.
fn is_log_name(name: &str) -> bool {
    [".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

fn is_digest_path(path: &str) -> bool {
    path.contains("CloudTrail-Digest/") || path.contains("CloudTrail-Digest\\")
}

/// Adds `path` (a file, or every log file below a directory, sorted) to `out`.
fn list_local(path: &Path, named: bool, out: &mut Vec<(FileRef, u64)>) -> Result<(), ImportError> {
    let metadata = fs_err::metadata(path).map_err(|err| ImportError::Usage(err.to_string()))?;
    if metadata.is_file() {
        let text = path.to_string_lossy();
        if named || (is_log_name(&text) && !is_digest_path(&text)) {
            out.push((FileRef::Local(path.to_owned()), metadata.len()));
        }
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = fs_err::read_dir(path)
        .map_err(|err| ImportError::Usage(err.to_string()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    entries.sort();
    for entry in entries {
        list_local(&entry, false, out)?;
    }
    Ok(())
}

/// Adds every log file under `s3://bucket/prefix` to `out`.
fn list_s3(
    store: &S3Store,
    source: &str,
    rest: &str,
    out: &mut Vec<(FileRef, u64)>,
) -> Result<(), ImportError> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ImportError::Usage(format!(
            "{source:?} names no bucket: expected s3://bucket/prefix"
        )));
    }
    let mut start_after: Option<String> = None;
    loop {
        let page = store
            .list(bucket, prefix, start_after.as_deref(), LIST_PAGE)
            .map_err(|err| ImportError::List {
                location: source.to_owned(),
                message: err.to_string(),
            })?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        start_after = Some(last.key.clone());
        let full = page.len() == LIST_PAGE;
        for object in page {
            if is_log_name(&object.key) && !is_digest_path(&object.key) {
                out.push((
                    FileRef::S3 {
                        bucket: bucket.to_owned(),
                        key: object.key,
                    },
                    object.size,
                ));
            }
        }
        if !full {
            return Ok(());
        }
    }
}

/// The bytes of a file, gunzipped when they are gzip.
fn read_file(file: &FileRef, s3: Option<&S3Store>) -> Result<Vec<u8>, String> {
    let raw = match file {
        FileRef::Local(path) => fs_err::read(path).map_err(|err| err.to_string())?,
        FileRef::S3 { bucket, key } => {
            let store = s3.ok_or_else(|| "no s3 store".to_owned())?;
            store
                .get(bucket, key, None)
                .map(|(_, bytes)| bytes)
                .map_err(|err| err.to_string())?
        }
    };
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 8);
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|err| format!("not a valid gzip file: {err}"))?;
        return Ok(out);
    }
    Ok(raw)
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<&'a RawValue>>,
}

type Parsed = (
    Result<Vec<(Position, String)>, String>,
    Vec<(Position, String)>,
);

/// The records of one file (each as its JSON text) and the problems of single records; `Err`
/// when the file as a whole is not in any of the forms.
fn parse_records(bytes: &[u8]) -> Parsed {
    let mut problems = Vec::new();
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => return (Err(format!("not utf-8 text: {err}")), problems),
    };
    let trimmed = text.trim_start();
    let document_error = if trimmed.starts_with('[') {
        match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(items) => return (Ok(objects(items, &mut problems)), problems),
            Err(err) => Some(err),
        }
    } else if trimmed.starts_with('{') {
        match serde_json::from_str::<Envelope<'_>>(text) {
            Ok(Envelope {
                records: Some(items),
            }) => return (Ok(objects(items, &mut problems)), problems),
            // One object without `Records`: a record-per-line file (of one line or more).
            Ok(Envelope { records: None }) => None,
            Err(err) => Some(err),
        }
    } else if trimmed.is_empty() {
        return (Ok(Vec::new()), problems);
    } else {
        return (
            Err("not json: expected {\"Records\":[…]}, a json array or one record per line".into()),
            problems,
        );
    };

    // One record per line, if the first line holds a whole record.
    let first_line_ok = text
        .lines()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|line| is_object(line.trim()));
    if !first_line_ok {
        let message = match document_error {
            Some(err) => format!("not valid json: {err}"),
            None => "not valid json".to_owned(),
        };
        return (Err(message), problems);
    }
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let position = Position::Line(index + 1);
        match serde_json::from_str::<&RawValue>(line) {
            Ok(raw) if raw.get().starts_with('{') => records.push((position, raw.get().to_owned())),
            Ok(raw) => problems.push((
                position,
                format!("not a json object: {}", kind_of(raw.get())),
            )),
            Err(err) => problems.push((position, format!("not valid json: {err}"))),
        }
    }
    (Ok(records), problems)
}

fn is_object(text: &str) -> bool {
    serde_json::from_str::<&RawValue>(text).is_ok_and(|raw| raw.get().starts_with('{'))
}

fn kind_of(raw: &str) -> &'static str {
    serde_json::from_str::<Value>(raw)
        .map_or("invalid", |value| opentrail_api::json::json_kind(&value))
}

/// Keeps the objects of `items`; reports the rest.
fn objects(
    items: Vec<&RawValue>,
    problems: &mut Vec<(Position, String)>,
) -> Vec<(Position, String)> {
    let mut out = Vec::with_capacity(items.len());
    for (index, raw) in items.into_iter().enumerate() {
        let position = Position::Record(index);
        if raw.get().starts_with('{') {
            out.push((position, raw.get().to_owned()));
        } else {
            problems.push((
                position,
                format!("not a json object: {}", kind_of(raw.get())),
            ));
        }
    }
    out
}

#[derive(Serialize)]
struct AuditEventOut<'a> {
    id: String,
    #[serde(rename = "eventData")]
    event_data: &'a str,
}

#[derive(Serialize)]
struct PutAuditEventsOut<'a> {
    #[serde(rename = "auditEvents")]
    audit_events: Vec<AuditEventOut<'a>>,
}

/// Takes batches until the reader is done (or the import failed) and sends them.
fn send_loop(
    client: &Client,
    receiver: &Mutex<Receiver<Vec<Pending>>>,
    tally: &Tally,
    reporter: &Reporter,
    ack_log: Option<&Mutex<std::io::BufWriter<fs_err::File>>>,
) {
    loop {
        let batch = {
            let Ok(receiver) = receiver.lock() else {
                return;
            };
            match receiver.recv() {
                Ok(batch) => batch,
                Err(_) => return,
            }
        };
        if tally.fatal.load(Ordering::SeqCst) {
            continue;
        }
        if let Err(message) = send_batch(client, &batch, tally, reporter, ack_log) {
            tally.fatal.store(true, Ordering::SeqCst);
            if let Ok(mut slot) = reporter.fatal_message.lock() {
                slot.get_or_insert(message);
            }
        }
    }
}

/// Sends one batch (retrying while the server is unreachable or failing) and reports its
/// refused records; `Err` is fatal.
fn send_batch(
    client: &Client,
    batch: &[Pending],
    tally: &Tally,
    reporter: &Reporter,
    ack_log: Option<&Mutex<std::io::BufWriter<fs_err::File>>>,
) -> Result<(), String> {
    let request = PutAuditEventsOut {
        audit_events: batch
            .iter()
            .enumerate()
            .map(|(index, pending)| AuditEventOut {
                id: index.to_string(),
                event_data: &pending.data,
            })
            .collect(),
    };
    let body = serde_json::to_vec(&request).map_err(|err| format!("encoding a batch: {err}"))?;
    let mut attempt = 0;
    let answer = loop {
        attempt += 1;
        match client.post_json(
            "cloudtrail-data",
            "/PutAuditEvents?channelArn=opentrail-import",
            &[("content-type", "application/json")],
            body.clone(),
        ) {
            Ok(answer) => break answer,
            Err(err) if err.is_transient() && attempt < ATTEMPTS => {
                std::thread::sleep(Duration::from_millis(200 << attempt));
            }
            Err(err) if err.is_transient() => return Err(err.to_string()),
            Err(ClientError::Service { code, message, .. }) => {
                for pending in batch {
                    tally.skipped.fetch_add(1, Ordering::Relaxed);
                    reporter.report(&format!(
                        "{}: {}: skipped: {code}: {message}",
                        pending.file, pending.position
                    ));
                }
                return Ok(());
            }
            Err(err) => return Err(err.to_string()),
        }
    };

    let mut answered = vec![false; batch.len()];
    let entry = |item: &Value| -> Option<usize> {
        item.get("id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse::<usize>().ok())
            .filter(|index| *index < batch.len())
    };
    let mut acknowledged_ids = Vec::new();
    for item in answer
        .get("successful")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(index) = entry(item) {
            answered[index] = true;
            tally.acknowledged.fetch_add(1, Ordering::Relaxed);
            if let Some(event_id) = item.get("eventID").and_then(Value::as_str) {
                acknowledged_ids.push(event_id.to_owned());
            }
        }
    }
    for item in answer
        .get("failed")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(index) = entry(item) {
            answered[index] = true;
            let pending = &batch[index];
            let field = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or("");
            tally.skipped.fetch_add(1, Ordering::Relaxed);
            reporter.report(&format!(
                "{}: {}: skipped: {}: {}",
                pending.file,
                pending.position,
                field("errorCode"),
                field("errorMessage")
            ));
        }
    }
    for (pending, _) in batch.iter().zip(&answered).filter(|(_, done)| !**done) {
        tally.skipped.fetch_add(1, Ordering::Relaxed);
        reporter.report(&format!(
            "{}: {}: skipped: the server did not answer for this record",
            pending.file, pending.position
        ));
    }
    if let Some(log) = ack_log
        && !acknowledged_ids.is_empty()
    {
        let mut log = log
            .lock()
            .map_err(|_| "the ack log writer failed earlier".to_owned())?;
        for event_id in &acknowledged_ids {
            writeln!(log, "{event_id}").map_err(|err| format!("writing the ack log: {err}"))?;
        }
        log.flush()
            .map_err(|err| format!("writing the ack log: {err}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(parsed: &Parsed) -> Vec<(Position, &str)> {
        parsed
            .0
            .as_ref()
            .map(|records| {
                records
                    .iter()
                    .map(|(position, text)| (*position, text.as_str()))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn trail_files_arrays_and_lines() {
        let trail = parse_records(br#"{"Records":[{"eventID":"a"}, 5, {"eventID":"b"}]}"#);
        assert_eq!(
            texts(&trail),
            vec![
                (Position::Record(0), r#"{"eventID":"a"}"#),
                (Position::Record(2), r#"{"eventID":"b"}"#)
            ]
        );
        assert_eq!(trail.1.len(), 1);
        assert_eq!(trail.1[0].0, Position::Record(1));

        let array = parse_records(b" [ {\"eventID\":\"a\"} ]\n");
        assert_eq!(
            texts(&array),
            vec![(Position::Record(0), r#"{"eventID":"a"}"#)]
        );

        let lines = parse_records(b"{\"eventID\":\"a\"}\n\n{broken\n{\"eventID\":\"c\"}\n[1]\n");
        assert_eq!(
            texts(&lines),
            vec![
                (Position::Line(1), r#"{"eventID":"a"}"#),
                (Position::Line(4), r#"{"eventID":"c"}"#)
            ]
        );
        let problem_lines: Vec<Position> = lines.1.iter().map(|(position, _)| *position).collect();
        assert_eq!(problem_lines, vec![Position::Line(3), Position::Line(5)]);
    }

    #[test]
    fn broken_documents_are_refused_whole_with_their_position() {
        let truncated = parse_records(b"{\"Records\":[\n{\"eventID\":\"a\"},\n{\"eventID\"");
        let err = truncated.0.expect_err("truncated");
        assert!(err.contains("line 3"), "{err}");
        assert!(parse_records(b"hello").0.is_err());
        assert!(parse_records(&[0xff, 0xfe]).0.is_err());
        assert_eq!(texts(&parse_records(b"  \n")), Vec::new());
    }

    #[test]
    fn walking_picks_log_files_and_skips_digests() {
        assert!(is_log_name("a/b/123_CloudTrail_us-east-1_x.json.gz"));
        assert!(is_log_name("x.jsonl"));
        assert!(!is_log_name("notes.txt"));
        assert!(is_digest_path(
            "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/01/01/d.json.gz"
        ));
    }

    #[test]
    fn gzip_is_detected_by_its_magic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plain-name.json");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(br#"{"Records":[]}"#).expect("write");
        fs_err::write(&path, encoder.finish().expect("finish")).expect("write file");
        let bytes = read_file(&FileRef::Local(path), None).expect("read");
        assert_eq!(bytes, br#"{"Records":[]}"#);
    }
}
