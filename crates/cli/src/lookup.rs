//! `opentrail lookup`: searches event history beyond what `LookupEvents` can do — several
//! attributes at once, any record field, human time ranges — newest first, printing each page
//! as it arrives.
//!
//! The server is asked with one attribute (the first `--attr`, or `EventId` when one is
//! given, the most selective); the other attributes and every `--where` are checked here on
//! each event, so all conditions hold together (AND). `--attr` keys are the LookupEvents ones
//! (`EventId`, `EventName`, `ReadOnly`, `Username`, `ResourceType`, `ResourceName`,
//! `EventSource`, `AccessKeyId`) with exact, case-sensitive values. `--where path=value` reads
//! the record itself (the `CloudTrailEvent`): `path` is dotted (`userIdentity.arn`), a list
//! along the path matches when any element does, and `value` may hold `*` wildcards
//! (`errorCode=AccessDenied*`); numbers and booleans compare as their JSON text. Times:
//! `--since 2h` (s, m, h, d, w), `--start`/`--end` as RFC 3339 (`2024-05-01T10:00:00Z`), a
//! date (`2024-05-01`), epoch seconds, or a duration ago (`3d`).
//!
//! Output: `table` (time, event name, source, user, event id), `json` (one JSON array of the
//! records) or `jsonl` (one record per line); `--max N` stops after N events. The talk is
//! awsJson 1.1 `CloudTrail_20131101.LookupEvents`, signed with SigV4, paging with `NextToken`.
//! Exit status: 0 on success (also when nothing matched), 2 on bad arguments or a failed call.

use std::io::Write;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::client::{Client, ClientError};

/// The LookupEvents attribute keys.
const ATTRIBUTE_KEYS: &[&str] = &[
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
];

/// Command-line arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The server (default: AWS_ENDPOINT_URL, else http://127.0.0.1:4599).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// The region to search (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// A LookupEvents attribute, Key=Value (repeatable; all must hold).
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    pub attrs: Vec<String>,
    /// A record field, path=value with * wildcards (repeatable; all must hold).
    #[arg(long = "where", value_name = "PATH=VALUE")]
    pub wheres: Vec<String>,
    /// Only events of the last duration: 30s, 15m, 2h, 3d, 1w.
    #[arg(long, conflicts_with = "start")]
    pub since: Option<String>,
    /// Only events at or after this time.
    #[arg(long)]
    pub start: Option<String>,
    /// Only events at or before this time.
    #[arg(long)]
    pub end: Option<String>,
    /// How to print the events.
    #[arg(long, value_enum, default_value = "table")]
    pub output: Output,
    /// Stop after this many events.
    #[arg(long)]
    pub max: Option<u64>,
    /// Search Insights events instead of management events.
    #[arg(long)]
    pub insight: bool,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
    Jsonl,
}

/// Why the lookup failed.
#[derive(Debug, thiserror::Error)]
enum LookupError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs the command; returns the process exit status.
pub fn run(args: Args) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run_with(&args, &mut out) {
        Ok(()) => 0,
        Err(LookupError::Output(err)) if err.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(err) => {
            eprintln!("opentrail lookup: {err}");
            2
        }
    }
}

/// One `--where` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    path: Vec<String>,
    pattern: String,
}

impl Condition {
    fn parse(text: &str) -> Result<Condition, LookupError> {
        let (path, pattern) = text.split_once('=').ok_or_else(|| {
            LookupError::Usage(format!(
                "--where {text:?} is not path=value, e.g. userIdentity.arn=arn:aws:iam::123456789012:user/alice"
            ))
        })?;
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(LookupError::Usage(format!(
                "--where {text:?} has an empty path segment"
            )));
        }
        Ok(Condition {
            path: path.split('.').map(str::to_owned).collect(),
            pattern: pattern.to_owned(),
        })
    }

    fn matches(&self, record: &Value) -> bool {
        any_at(record, &self.path, &|value| match value {
            Value::String(text) => wildcard_match(&self.pattern, text),
            Value::Number(_) | Value::Bool(_) | Value::Null => {
                wildcard_match(&self.pattern, &value.to_string())
            }
            Value::Array(_) | Value::Object(_) => false,
        })
    }
}

/// Whether `check` holds for a value at `path` below `value`; lists match when any element
/// does.
fn any_at(value: &Value, path: &[String], check: &dyn Fn(&Value) -> bool) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|item| any_at(item, path, check)),
        _ => match path.split_first() {
            None => check(value),
            Some((first, rest)) => value
                .get(first.as_str())
                .is_some_and(|inner| any_at(inner, rest, check)),
        },
    }
}

/// Glob match where `*` stands for any run of characters.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, rest) = (parts[0], &parts[1..]);
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let (last, middle) = match rest.split_last() {
        Some(split) => split,
        None => return true,
    };
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

/// Parses `Key=Value` of a LookupEvents attribute.
fn parse_attr(text: &str) -> Result<(String, String), LookupError> {
    let (key, value) = text.split_once('=').ok_or_else(|| {
        LookupError::Usage(format!(
            "--attr {text:?} is not Key=Value, e.g. EventName=CreateTrail"
        ))
    })?;
    let Some(key) = ATTRIBUTE_KEYS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(key))
    else {
        return Err(LookupError::Usage(format!(
            "--attr key {key:?} is not one of {}",
            ATTRIBUTE_KEYS.join(", ")
        )));
    };
    if value.is_empty() {
        return Err(LookupError::Usage(format!("--attr {key} needs a value")));
    }
    Ok(((*key).to_owned(), value.to_owned()))
}

/// Whether a LookupEvents event has attribute `key` = `value`.
fn event_has(event: &Value, record: &Value, key: &str, value: &str) -> bool {
    let text = |name: &str| event.get(name).and_then(Value::as_str) == Some(value);
    match key {
        "ResourceType" | "ResourceName" => {
            let member = key;
            let listed = event
                .get("Resources")
                .and_then(Value::as_array)
                .is_some_and(|resources| {
                    resources
                        .iter()
                        .any(|resource| resource.get(member).and_then(Value::as_str) == Some(value))
                });
            // The server also finds a resource by its full ARN.
            listed
                || (key == "ResourceName"
                    && record
                        .get("resources")
                        .and_then(Value::as_array)
                        .is_some_and(|resources| {
                            resources.iter().any(|resource| {
                                resource.get("ARN").and_then(Value::as_str) == Some(value)
                            })
                        }))
        }
        other => text(other),
    }
}

/// Reads a time: RFC 3339, a date, epoch seconds, or a duration ago.
fn parse_time(text: &str, now: OffsetDateTime, flag: &str) -> Result<i64, LookupError> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at.unix_timestamp());
    }
    if let Ok(date) = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    ) {
        return Ok(date.midnight().assume_utc().unix_timestamp());
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    if let Some(seconds) = parse_duration(text) {
        return Ok(now.unix_timestamp() - seconds);
    }
    Err(LookupError::Usage(format!(
        "{flag} {text:?} is not a time: expected 2024-05-01T10:00:00Z, 2024-05-01, epoch seconds or a duration such as 2h"
    )))
}

/// `30s`, `15m`, `2h`, `3d`, `1w` in seconds.
fn parse_duration(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let number: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    number.checked_mul(scale).filter(|seconds| *seconds >= 0)
}

fn run_with(args: &Args, out: &mut dyn Write) -> Result<(), LookupError> {
    let now = OffsetDateTime::now_utc();
    let mut attrs = args
        .attrs
        .iter()
        .map(|text| parse_attr(text))
        .collect::<Result<Vec<_>, _>>()?;
    let conditions = args
        .wheres
        .iter()
        .map(|text| Condition::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let start = match (&args.since, &args.start) {
        (Some(since), _) => Some(now.unix_timestamp() - parse_duration(since).ok_or_else(|| {
            LookupError::Usage(format!(
                "--since {since:?} is not a duration: expected a number and s, m, h, d or w, e.g. 2h"
            ))
        })?),
        (None, Some(start)) => Some(parse_time(start, now, "--start")?),
        (None, None) => None,
    };
    let end = args
        .end
        .as_deref()
        .map(|end| parse_time(end, now, "--end"))
        .transpose()?;
    if let (Some(start), Some(end)) = (start, end)
        && start > end
    {
        return Err(LookupError::Usage(
            "the start of the time range is after its end".to_owned(),
        ));
    }
    // Ask the server with the most selective attribute.
    if let Some(at) = attrs.iter().position(|(key, _)| key == "EventId") {
        attrs.swap(0, at);
    }
    let client = Client::from_env(
        args.endpoint_url.as_deref(),
        args.region.as_deref(),
        "lookup",
    )?;

    let mut request = json!({ "MaxResults": 50 });
    if let Some((key, value)) = attrs.first() {
        request["LookupAttributes"] = json!([{ "AttributeKey": key, "AttributeValue": value }]);
    }
    if let Some(start) = start {
        request["StartTime"] = json!(start);
    }
    if let Some(end) = end {
        request["EndTime"] = json!(end);
    }
    if args.insight {
        request["EventCategory"] = json!("insight");
    }

    let mut printer = Printer::new(args.output, out)?;
    let mut shown = 0u64;
    loop {
        if args.max.is_some_and(|max| shown >= max) {
            break;
        }
        let body = serde_json::to_vec(&request)
            .map_err(|err| LookupError::Usage(format!("encoding the request: {err}")))?;
        let page = client.post_json(
            "cloudtrail",
            "/",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "CloudTrail_20131101.LookupEvents"),
            ],
            body,
        )?;
        for event in page
            .get("Events")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if args.max.is_some_and(|max| shown >= max) {
                break;
            }
            let record = event
                .get("CloudTrailEvent")
                .and_then(Value::as_str)
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
                .unwrap_or(Value::Null);
            let wanted = attrs
                .iter()
                .skip(1)
                .all(|(key, value)| event_has(event, &record, key, value))
                && conditions
                    .iter()
                    .all(|condition| condition.matches(&record));
            if wanted {
                printer.print(event, &record)?;
                shown += 1;
            }
        }
        printer.flush()?;
        match page.get("NextToken").and_then(Value::as_str) {
            Some(token) if !token.is_empty() => request["NextToken"] = json!(token),
            _ => break,
        }
    }
    printer.finish()
}

/// Prints events as they come, in one format.
struct Printer<'a> {
    output: Output,
    out: &'a mut dyn Write,
    printed: u64,
}

const TABLE_COLUMNS: [(&str, usize); 5] = [
    ("EventTime", 20),
    ("EventName", 32),
    ("EventSource", 28),
    ("Username", 24),
    ("EventId", 36),
];

impl<'a> Printer<'a> {
    fn new(output: Output, out: &'a mut dyn Write) -> Result<Printer<'a>, LookupError> {
        if output == Output::Table {
            let header: Vec<String> = TABLE_COLUMNS
                .iter()
                .map(|(name, width)| format!("{name:<width$}"))
                .collect();
            writeln!(out, "{}", header.join("  ").trim_end())?;
        }
        Ok(Printer {
            output,
            out,
            printed: 0,
        })
    }

    fn print(&mut self, event: &Value, record: &Value) -> Result<(), LookupError> {
        match self.output {
            Output::Jsonl => writeln!(self.out, "{record}")?,
            Output::Json => {
                let lead = if self.printed == 0 { "[\n" } else { ",\n" };
                write!(self.out, "{lead}{record}")?;
            }
            Output::Table => {
                let field = |name: &str| match event.get(name) {
                    Some(Value::String(text)) => text.clone(),
                    _ => String::new(),
                };
                let time = record
                    .get("eventTime")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let cells = [
                    time,
                    field("EventName"),
                    field("EventSource"),
                    field("Username"),
                    field("EventId"),
                ];
                let row: Vec<String> = cells
                    .iter()
                    .zip(TABLE_COLUMNS)
                    .map(|(cell, (_, width))| format!("{:<width$}", truncate(cell, width)))
                    .collect();
                writeln!(self.out, "{}", row.join("  ").trim_end())?;
            }
        }
        self.printed += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), LookupError> {
        self.out.flush()?;
        Ok(())
    }

    fn finish(mut self) -> Result<(), LookupError> {
        if self.output == Output::Json {
            let tail = if self.printed == 0 { "[]\n" } else { "\n]\n" };
            write!(self.out, "{tail}")?;
        }
        self.flush()
    }
}

/// At most `width` characters, the last one `…` when cut.
fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("AccessDenied*", "AccessDenied"));
        assert!(wildcard_match("AccessDenied*", "AccessDeniedException"));
        assert!(!wildcard_match("AccessDenied*", "Client.AccessDenied"));
        assert!(wildcard_match("*Denied*", "Client.AccessDeniedX"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(!wildcard_match("ab*ba", "aba"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("exact", "exactly"));
    }

    #[test]
    fn where_paths_walk_objects_and_lists() {
        let record = json!({
            "userIdentity": {"arn": "arn:aws:iam::1:user/alice", "sessionContext": {"mfa": true}},
            "resources": [{"ARN": "arn:aws:s3:::a"}, {"ARN": "arn:aws:s3:::b"}],
            "errorCode": "AccessDenied"
        });
        let holds = |text: &str| Condition::parse(text).expect("parse").matches(&record);
        assert!(holds("userIdentity.arn=arn:aws:iam::1:user/alice"));
        assert!(holds("userIdentity.arn=*user/ali*"));
        assert!(holds("resources.ARN=arn:aws:s3:::b"));
        assert!(!holds("resources.ARN=arn:aws:s3:::c"));
        assert!(holds("userIdentity.sessionContext.mfa=true"));
        assert!(holds("errorCode=AccessDenied*"));
        assert!(!holds("errorMessage=*"));
        assert!(Condition::parse("noequals").is_err());
        assert!(Condition::parse("a..b=c").is_err());
    }

    #[test]
    fn attributes_and_times() {
        assert_eq!(
            parse_attr("eventname=CreateTrail").expect("attr"),
            ("EventName".to_owned(), "CreateTrail".to_owned())
        );
        assert!(parse_attr("Nope=x").is_err());
        assert!(parse_attr("EventName=").is_err());
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("3d"), Some(259_200));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("-1h"), None);
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", now, "--start").expect("rfc3339"),
            1_700_000_000
        );
        assert_eq!(
            parse_time("2023-11-14", now, "--start").expect("date"),
            1_699_920_000
        );
        assert_eq!(
            parse_time("1h", now, "--start").expect("ago"),
            1_699_996_400
        );
        assert!(parse_time("yesterday", now, "--start").is_err());
    }

    #[test]
    fn resource_attributes_match_names_and_arns() {
        let event =
            json!({"Resources": [{"ResourceType": "AWS::S3::Bucket", "ResourceName": "b"}]});
        let record = json!({"resources": [{"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}]});
        assert!(event_has(&event, &record, "ResourceName", "b"));
        assert!(event_has(&event, &record, "ResourceName", "arn:aws:s3:::b"));
        assert!(event_has(
            &event,
            &record,
            "ResourceType",
            "AWS::S3::Bucket"
        ));
        assert!(!event_has(&event, &record, "ResourceName", "c"));
    }

    #[test]
    fn json_output_is_one_array() {
        let mut buffer = Vec::new();
        {
            let mut printer = Printer::new(Output::Json, &mut buffer).expect("printer");
            printer.print(&json!({}), &json!({"a": 1})).expect("print");
            printer.print(&json!({}), &json!({"b": 2})).expect("print");
            printer.finish().expect("finish");
        }
        let parsed: Value = serde_json::from_slice(&buffer).expect("json");
        assert_eq!(parsed, json!([{"a": 1}, {"b": 2}]));
        let mut empty = Vec::new();
        Printer::new(Output::Json, &mut empty)
            .expect("printer")
            .finish()
            .expect("finish");
        assert_eq!(
            serde_json::from_slice::<Value>(&empty).expect("json"),
            json!([])
        );
    }
}
