//! `opentrail match`: print the events an EventBridge event pattern matches (grep for events).
//!
//! Input (each FILE, or stdin when none): JSON lines (one event per line), a JSON array of
//! events, a `{"Records": […]}` trail log file (gzip or not), or one JSON object. With
//! `--envelope` every event is taken as a CloudTrail record and wrapped in the EventBridge
//! envelope first, as rules on the default bus see it. Matching events are printed as JSON
//! lines (enveloped when `--envelope`); `--count` prints only their number.
//!
//! Exit status: 0 when something matched, 1 when nothing did, 2 on an invalid pattern or input.

use std::io::{BufWriter, Read, Write};

use opentrail_events::envelope::cloudtrail_envelope;
use opentrail_patterns::Pattern;
use serde_json::Value;

/// Command-line arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The event pattern (JSON text, or @FILE to read it from a file).
    #[arg(long, short = 'p')]
    pub pattern: String,
    /// Print only the number of matching events.
    #[arg(long, short = 'c')]
    pub count: bool,
    /// Wrap each CloudTrail record in the EventBridge envelope before matching.
    #[arg(long, short = 'e')]
    pub envelope: bool,
    /// Files of events; stdin when none.
    pub files: Vec<std::path::PathBuf>,
}

/// Why the command could not run.
#[derive(Debug, thiserror::Error)]
enum MatchError {
    #[error("invalid event pattern: {0}")]
    Pattern(String),
    #[error("{source_name}: {message}")]
    Input {
        source_name: String,
        message: String,
    },
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// One event to match: its text as given (for JSON lines) and its value.
struct Item {
    text: Option<String>,
    value: Value,
}

/// Runs the command; returns the process exit status.
pub fn run(args: Args) -> i32 {
    match run_inner(&args) {
        Ok(0) => 1,
        Ok(_) => 0,
        Err(err) => {
            eprintln!("opentrail match: {err}");
            2
        }
    }
}

fn run_inner(args: &Args) -> Result<usize, MatchError> {
    let pattern_text = match args.pattern.strip_prefix('@') {
        Some(path) => fs_read_to_string(path)?,
        None => args.pattern.clone(),
    };
    let pattern = Pattern::parse(&pattern_text).map_err(|err| MatchError::Pattern(err.message))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut matched = 0usize;
    let mut sources: Vec<(String, Vec<u8>)> = Vec::new();
    if args.files.is_empty() {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|err| input_error("stdin", err.to_string()))?;
        sources.push(("stdin".to_owned(), bytes));
    } else {
        for path in &args.files {
            let name = path.display().to_string();
            let bytes = fs_err::read(path).map_err(|err| input_error(&name, err.to_string()))?;
            sources.push((name, bytes));
        }
    }
    for (name, bytes) in sources {
        let bytes = gunzip_if_needed(&name, bytes)?;
        for item in items(&name, &bytes)? {
            let event = if args.envelope {
                cloudtrail_envelope(&item.value).ok_or_else(|| {
                    input_error(
                        &name,
                        "an event is not a CloudTrail record (no eventSource)".into(),
                    )
                })?
            } else {
                item.value
            };
            if !pattern.matches(&event) {
                continue;
            }
            matched += 1;
            if args.count {
                continue;
            }
            match (&item.text, args.envelope) {
                (Some(text), false) => writeln!(out, "{text}")?,
                _ => writeln!(out, "{event}")?,
            }
        }
    }
    if args.count {
        writeln!(out, "{matched}")?;
    }
    out.flush()?;
    Ok(matched)
}

fn input_error(source_name: &str, message: String) -> MatchError {
    MatchError::Input {
        source_name: source_name.to_owned(),
        message,
    }
}

fn fs_read_to_string(path: &str) -> Result<String, MatchError> {
    fs_err::read_to_string(path).map_err(|err| MatchError::Pattern(err.to_string()))
}

fn gunzip_if_needed(name: &str, bytes: Vec<u8>) -> Result<Vec<u8>, MatchError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut decoded = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut decoded)
        .map_err(|err| input_error(name, format!("gzip: {err}")))?;
    Ok(decoded)
}

/// The events of one input, whatever its shape.
fn items(name: &str, bytes: &[u8]) -> Result<Vec<Item>, MatchError> {
    let text =
        std::str::from_utf8(bytes).map_err(|err| input_error(name, format!("not UTF-8: {err}")))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        // One JSON document (an array, a trail log file, or one event)?
        if let Ok(document) = serde_json::from_str::<Value>(text) {
            return Ok(match document {
                Value::Array(events) => events.into_iter().map(plain).collect(),
                Value::Object(mut object) if object.get("Records").is_some_and(Value::is_array) => {
                    match object.remove("Records") {
                        Some(Value::Array(records)) => records.into_iter().map(plain).collect(),
                        _ => Vec::new(),
                    }
                }
                // One event on one line keeps its text, as JSON lines do.
                other => {
                    let single_line = text.trim();
                    let keep = (!single_line.contains('\n')).then(|| single_line.to_owned());
                    vec![Item {
                        text: keep,
                        value: other,
                    }]
                }
            });
        }
    }
    let mut events = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|err| input_error(name, format!("line {}: invalid JSON: {err}", index + 1)))?;
        events.push(Item {
            text: Some(line.to_owned()),
            value,
        });
    }
    Ok(events)
}

fn plain(value: Value) -> Item {
    Item { text: None, value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_of_every_shape() {
        let lines = items("t", b"{\"a\":1}\n\n{\"a\":2}\n").expect("lines");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].text.as_deref(), Some("{\"a\":2}"));
        let records =
            items("t", b"{\"Records\":[{\"a\":1},{\"a\":2},{\"a\":3}]}").expect("records");
        assert_eq!(records.len(), 3);
        let array = items("t", b"[{\"a\":1}]").expect("array");
        assert_eq!(array.len(), 1);
        assert!(items("t", b"{\"a\":1}\nnot json\n").is_err());
    }
}
