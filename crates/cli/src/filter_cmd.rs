//! `opentrail filter`: Print the log lines or records a CloudWatch Logs filter pattern matches.
//!
//! grep with a filter pattern. Each input (a file, or stdin when none is given; gzip is
//! detected by its magic bytes) is read as one of:
//!
//! - a CloudTrail file: `{"Records":[…]}`, a JSON array of records, or a single JSON object;
//! - lines: every non-empty line is one event. A line that is a JSON object is re-serialized
//!   as compact JSON, as a CloudTrail record reaches a log group (one record per line).
//!
//! Every record becomes one event, compact JSON with its keys in file order, exactly what a
//! trail delivers to CloudWatch Logs. Matching events are printed one per line, or counted with
//! `--count`. Exit status as grep: 0 when something matched, 1 when nothing did, 2 on a bad
//! pattern or an unreadable input (after going through the readable ones).

use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use opentrail_filters::FilterPattern;
use serde_json::Value;

/// Command-line arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The filter pattern, e.g. '{ $.eventName = ConsoleLogin }' or 'ERROR -DEBUG'.
    #[arg(long, short = 'p', allow_hyphen_values = true)]
    pub pattern: String,
    /// Print only the number of matching events.
    #[arg(long, short = 'c')]
    pub count: bool,
    /// Log files or CloudTrail files (.json, .json.gz); stdin when none.
    pub files: Vec<PathBuf>,
}

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
enum InputError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{name}: not valid gzip: {source}")]
    Gzip { name: String, source: io::Error },
}

/// Runs the command; returns the process exit status.
pub fn run(args: Args) -> i32 {
    let pattern = match FilterPattern::parse(&args.pattern) {
        Ok(pattern) => pattern,
        Err(error) => {
            match error.detail() {
                Some(detail) => eprintln!("opentrail filter: {error}: {detail}"),
                None => eprintln!("opentrail filter: {error}"),
            }
            return 2;
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut matched: u64 = 0;
    let mut failed = false;
    let inputs: Vec<Option<PathBuf>> = if args.files.is_empty() {
        vec![None]
    } else {
        args.files.into_iter().map(Some).collect()
    };
    for input in inputs {
        let name = input.as_ref().map_or_else(
            || "(standard input)".to_owned(),
            |path| path.display().to_string(),
        );
        let events = match read_input(input.as_ref(), &name) {
            Ok(bytes) => events(&String::from_utf8_lossy(&bytes)),
            Err(error) => {
                eprintln!("opentrail filter: {error}");
                failed = true;
                continue;
            }
        };
        for event in events {
            if !pattern.matches(&event) {
                continue;
            }
            matched += 1;
            if !args.count && writeln!(out, "{event}").is_err() {
                // A closed pipe (`| head`): stop quietly, as grep does.
                return exit_status(matched, failed);
            }
        }
    }
    if args.count {
        let _ = writeln!(out, "{matched}");
    }
    let _ = out.flush();
    exit_status(matched, failed)
}

fn exit_status(matched: u64, failed: bool) -> i32 {
    if failed {
        2
    } else if matched > 0 {
        0
    } else {
        1
    }
}

/// The bytes of one input, gunzipped when they start with the gzip magic.
fn read_input(path: Option<&PathBuf>, name: &str) -> Result<Vec<u8>, InputError> {
    let mut bytes = Vec::new();
    match path {
        Some(path) => bytes = fs_err::read(path)?,
        None => {
            io::stdin().lock().read_to_end(&mut bytes)?;
        }
    }
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut inflated = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut inflated)
        .map_err(|source| InputError::Gzip {
            name: name.to_owned(),
            source,
        })?;
    Ok(inflated)
}

/// Splits an input into events (see the module docs).
fn events(text: &str) -> Vec<String> {
    let trimmed = text.trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(document) = serde_json::from_str::<Value>(text)
    {
        return records(document);
    }
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| match serde_json::from_str::<Value>(line) {
            Ok(value @ Value::Object(_)) => value.to_string(),
            _ => line.to_owned(),
        })
        .collect()
}

/// The records of a parsed JSON document, each as compact JSON.
fn records(document: Value) -> Vec<String> {
    match document {
        Value::Object(object) => {
            if object.len() == 1
                && let Some(Value::Array(records)) = object.get("Records")
            {
                return records.iter().map(Value::to_string).collect();
            }
            vec![Value::Object(object).to_string()]
        }
        Value::Array(items) => items.iter().map(Value::to_string).collect(),
        other => vec![other.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_cloudtrail_shapes() {
        let wrapped =
            "{\n \"Records\": [ {\"eventName\": \"A\"}, {\"eventName\":\"B\", \"n\": 1} ]\n}";
        assert_eq!(
            events(wrapped),
            [r#"{"eventName":"A"}"#, r#"{"eventName":"B","n":1}"#]
        );
        assert_eq!(events(r#"[{"b":1,"a":2}]"#), [r#"{"b":1,"a":2}"#]);
        assert_eq!(
            events("{\"a\": 1}\n\n{\"a\": 2}\n"),
            [r#"{"a":1}"#, r#"{"a":2}"#]
        );
        assert_eq!(
            events("plain line\n[x] other\n"),
            ["plain line", "[x] other"]
        );
        assert_eq!(
            events(r#"{"Records":[],"x":1}"#),
            [r#"{"Records":[],"x":1}"#]
        );
        assert!(events(r#"{"Records":[]}"#).is_empty());
        assert!(events("").is_empty());
    }
}
