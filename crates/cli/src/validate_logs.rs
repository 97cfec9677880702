//! `opentrail validate-logs`: CloudTrail log file integrity validation, the same checks and the
//! same report as `aws cloudtrail validate-logs` (awscli `customizations/cloudtrail/validation.py`).
//!
//! 1. `DescribeTrails` finds the trail's bucket and prefix (unless `--s3-bucket` is given);
//!    organization trails also need `organizations:DescribeOrganization` and `--account-id`.
//! 2. The digest keys of the trail in the time range are listed from the bucket (the listing
//!    starts after the key a digest ending one minute before the start would have, and stops
//!    at keys dated later than the end plus one hour).
//! 3. `ListPublicKeys` for `[start, end + 2 h]` gives the public keys by fingerprint.
//! 4. The chain is walked newest → oldest: each digest is fetched, gunzipped, checked to be at
//!    the location it names, and its `x-amz-meta-signature` verified (RSASSA-PKCS1-v1_5 with
//!    SHA-256 over `digestEndTime \n bucket/key \n sha256(digest) \n previousDigestSignature`)
//!    with the key whose fingerprint it names; then each listed log file is fetched,
//!    gunzipped and its SHA-256 compared with `hashValue`. The walk follows
//!    `previousDigestS3Bucket/Object`; a digest that is missing or invalid is reported and the
//!    walk resumes at the next older listed digest; a digest without a previous link while
//!    older digests exist is reported as a gap.
//! 5. Backfill digests (`…_backfill.json.gz`) are walked the same way afterwards.
//!
//! One check goes beyond the AWS CLI: a digest reached through a `previous*` link must hash to
//! the newer digest's `previousDigestHashValue` and carry its `previousDigestSignature`
//! (otherwise it is reported `INVALID`), so a validly signed but swapped digest is caught too.
//!
//! Digests and logs are read through the S3 API with [`S3Store`], so the command works against
//! opentrail's embedded store (through its S3 endpoint) and any S3-compatible service alike.
//! Exit status: 0 when everything found is valid, 1 when anything is invalid, 2 for usage,
//! service or connection errors (with a message on stderr).
//!
//! **Independent of the writer on purpose.** A checker must not share the code it checks, so
//! this file re-implements the digest format, the signing string, the chain walk and the key
//! handling from the AWS documentation and the AWS CLI instead of calling `opentrail-delivery`
//! or the CloudTrail digest worker: a bug in the writer then shows up as an invalid digest
//! here, not as two matching mistakes. It shares only transport: the CLI's SigV4 client
//! ([`crate::client`]) and the S3 client ([`S3Store`]) that reads the bucket.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use crate::client::{Client, ClientError, credentials_from_env, env};
use base64::Engine as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use opentrail_objects::{ObjectStore, S3Store, S3StoreConfig, StoreError};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// The endpoint used when neither `--endpoint-url` nor `AWS_ENDPOINT_URL` is set.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4599";

const CLOUDTRAIL_TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";
const ORGANIZATIONS_TARGET_PREFIX: &str = "AWSOrganizationsV20161128";
const LIST_PAGE: usize = 1000;

/// Arguments of `opentrail validate-logs` (the `aws cloudtrail validate-logs` ones).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// ARN of the trail to validate.
    #[arg(long)]
    pub trail_arn: String,
    /// Validate log files delivered on or after this UTC time, e.g. 2015-01-08T05:21:42Z.
    #[arg(long)]
    pub start_time: String,
    /// Validate log files delivered on or before this UTC time (default: now).
    #[arg(long)]
    pub end_time: Option<String>,
    /// Bucket holding the digests (default: the trail's, from DescribeTrails).
    #[arg(long)]
    pub s3_bucket: Option<String>,
    /// Key prefix of the digests (default: the trail's, from DescribeTrails).
    #[arg(long)]
    pub s3_prefix: Option<String>,
    /// Account whose logs to validate (required for organization trails).
    #[arg(long)]
    pub account_id: Option<String>,
    /// Print every valid file too.
    #[arg(long)]
    pub verbose: bool,
    /// Endpoint of CloudTrail and S3 (default: AWS_ENDPOINT_URL, else http://127.0.0.1:4599).
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

/// Failures that stop the command (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Service(String),
    #[error("reading s3://{bucket}/{key}: {source}")]
    Store {
        bucket: String,
        key: String,
        #[source]
        source: StoreError,
    },
}

/// Runs the command; returns the process exit status.
pub fn run(args: Args) -> i32 {
    let stdout = std::io::stdout();
    let progress = if stdout.is_terminal() {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress.enable_steady_tick(Duration::from_millis(120));
    let result = run_with(&args, stdout.lock(), std::io::stderr().lock(), &progress);
    progress.finish_and_clear();
    match result {
        Ok(status) => status,
        Err(error) => {
            eprintln!("opentrail validate-logs: {error}");
            2
        }
    }
}

fn run_with(
    args: &Args,
    out: impl Write,
    err: impl Write,
    progress: &ProgressBar,
) -> Result<i32, ValidateError> {
    let arn = TrailArn::parse(&args.trail_arn)?;
    let start = parse_time(&args.start_time)?;
    let end = match &args.end_time {
        Some(text) => parse_time(text)?,
        None => OffsetDateTime::now_utc(),
    };
    if start > end {
        return Err(ValidateError::Usage(
            "Invalid time range specified: start-time must occur before end-time".to_owned(),
        ));
    }
    let credentials =
        credentials_from_env().map_err(|err| ValidateError::Usage(err.to_string()))?;
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| arn.region.clone());
    let general_endpoint = args
        .endpoint_url
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    let cloudtrail_endpoint = args
        .endpoint_url
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL_CLOUDTRAIL"))
        .unwrap_or_else(|| general_endpoint.clone());
    let s3_endpoint = env("AWS_ENDPOINT_URL_S3").unwrap_or_else(|| general_endpoint.clone());
    let organizations_endpoint =
        env("AWS_ENDPOINT_URL_ORGANIZATIONS").unwrap_or_else(|| general_endpoint.clone());

    let client = |endpoint: &str| {
        Client::new(
            endpoint,
            region.clone(),
            credentials.clone(),
            "validate-logs",
        )
        .map_err(|err| ValidateError::Usage(err.to_string()))
    };
    let cloudtrail = client(&cloudtrail_endpoint)?;
    let organizations = client(&organizations_endpoint)?;
    let trail = locate_trail(&cloudtrail, &organizations, args, &arn, &region)?;
    let store = S3Store::new(S3StoreConfig {
        session_token: credentials.session_token.clone(),
        ..S3StoreConfig::for_endpoint(
            s3_endpoint.trim_end_matches('/'),
            region,
            credentials.access_key_id.clone(),
            credentials.secret_access_key.clone(),
        )
    })
    .map_err(|source| ValidateError::Store {
        bucket: trail.bucket.clone(),
        key: String::new(),
        source,
    })?;
    let keys = CloudTrailKeys {
        client: &cloudtrail,
    };
    let mut validator = Validator::new(
        &store,
        &keys,
        &trail,
        Range { start, end },
        args.verbose,
        out,
        err,
        progress.clone(),
    );
    validator.validate()
}

/// The parts of a trail ARN the walk needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TrailArn {
    text: String,
    region: String,
    account_id: String,
    name: String,
}

impl TrailArn {
    /// Accepts what the AWS CLI accepts: `arn:.+:cloudtrail:.+:\d{12}:trail/.+`.
    fn parse(text: &str) -> Result<TrailArn, ValidateError> {
        let invalid = || ValidateError::Usage(format!("Invalid trail ARN provided: {text}"));
        if !arn_shape_matches(text) {
            return Err(invalid());
        }
        let fields: Vec<&str> = text.split(':').collect();
        let (Some(region), Some(account_id)) = (fields.get(3), fields.get(4)) else {
            return Err(invalid());
        };
        let name = text.rsplit('/').next().unwrap_or_default();
        Ok(TrailArn {
            text: text.to_owned(),
            region: (*region).to_owned(),
            account_id: (*account_id).to_owned(),
            name: name.to_owned(),
        })
    }
}

/// `arn:.+:cloudtrail:.+:\d{12}:trail/.+`, matched from the start like Python's `re.match`.
fn arn_shape_matches(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("arn:") else {
        return false;
    };
    rest.match_indices(":cloudtrail:").any(|(at, marker)| {
        if at == 0 {
            return false;
        }
        let after = &rest[at + marker.len()..];
        after.match_indices(":trail/").any(|(trail_at, trail)| {
            let has_name = after.len() > trail_at + trail.len();
            let Some(account_start) = trail_at.checked_sub(12) else {
                return false;
            };
            let account = &after.as_bytes()[account_start..trail_at];
            has_name
                && account.iter().all(u8::is_ascii_digit)
                && account_start >= 2
                && after.as_bytes()[account_start - 1] == b':'
        })
    })
}

/// Parses a `--start-time`/`--end-time` value: RFC 3339, or a date and time without a zone
/// (taken as UTC), or a date alone.
fn parse_time(text: &str) -> Result<OffsetDateTime, ValidateError> {
    let text = text.trim();
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(time.to_offset(time::UtcOffset::UTC));
    }
    let naive = text.trim_end_matches('Z');
    let formats = [
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]"),
        format_description!("[year][month][day]T[hour][minute][second]"),
    ];
    for format in formats {
        if let Ok(time) = time::PrimitiveDateTime::parse(naive, format) {
            return Ok(time.assume_utc());
        }
    }
    if let Ok(date) = time::Date::parse(naive, format_description!("[year]-[month]-[day]")) {
        return Ok(date.midnight().assume_utc());
    }
    Err(ValidateError::Usage(format!(
        "Unable to parse date value: {text}"
    )))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the CLI's display format.
fn display_time(time: OffsetDateTime) -> String {
    let time = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// `YYYYMMDDTHHMMSSZ`, the date format of digest keys.
fn key_time(time: OffsetDateTime) -> String {
    let time = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

fn parse_key_time(text: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(
        text,
        format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .ok()
    .map(time::PrimitiveDateTime::assume_utc)
}

/// The time range asked for.
#[derive(Debug, Clone, Copy)]
struct Range {
    start: OffsetDateTime,
    end: OffsetDateTime,
}

/// Where a trail's digests are and how their keys are named.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Trail {
    arn: String,
    bucket: String,
    prefix: Option<String>,
    account_id: String,
    name: String,
    home_region: String,
    source_region: String,
    organization_id: Option<String>,
}

impl Trail {
    fn with_prefix(&self, key: String) -> String {
        match &self.prefix {
            Some(prefix) if !prefix.is_empty() => format!("{prefix}/{key}"),
            _ => key,
        }
    }

    fn logs_root(&self) -> String {
        match &self.organization_id {
            Some(organization) => format!("AWSLogs/{organization}/{}", self.account_id),
            None => format!("AWSLogs/{}", self.account_id),
        }
    }

    /// The key a digest ending at `time` would have (a listing marker).
    fn digest_key(&self, time: OffsetDateTime) -> String {
        let date = format!(
            "{:04}/{:02}/{:02}",
            time.year(),
            u8::from(time.month()),
            time.day()
        );
        self.with_prefix(format!(
            "{}/CloudTrail-Digest/{region}/{date}/{account}_CloudTrail-Digest_{region}_{name}_{home}_{stamp}.json.gz",
            self.logs_root(),
            region = self.source_region,
            account = self.account_id,
            name = self.name,
            home = self.home_region,
            stamp = key_time(time),
        ))
    }

    /// The listing prefix of the trail's digests in the source region (no trailing slash,
    /// as the AWS CLI sends it).
    fn digest_prefix(&self) -> String {
        self.with_prefix(format!(
            "{}/CloudTrail-Digest/{}",
            self.logs_root(),
            self.source_region
        ))
    }

    /// Whether `key` is a digest of this trail:
    /// `<prefix>/AWSLogs/<acct>/CloudTrail-Digest/<region>/\d+/\d+/\d+/<acct>_CloudTrail-Digest_<region>_<name>_<home>_.+\.json\.gz`.
    fn is_digest_key(&self, key: &str) -> bool {
        let directory = format!("{}/", self.digest_prefix());
        let Some(rest) = key.strip_prefix(&directory) else {
            return false;
        };
        let mut parts = rest.splitn(4, '/');
        for _ in 0..3 {
            match parts.next() {
                Some(number)
                    if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => {}
                _ => return false,
            }
        }
        let Some(file) = parts.next() else {
            return false;
        };
        let head = format!(
            "{account}_CloudTrail-Digest_{region}_{name}_{home}_",
            account = self.account_id,
            region = self.source_region,
            name = self.name,
            home = self.home_region,
        );
        file.strip_prefix(&head)
            .and_then(|tail| tail.strip_suffix(".json.gz"))
            .is_some_and(|stamp| !stamp.is_empty() && !stamp.contains(['/', '\n']))
    }
}

fn is_backfill_key(key: &str) -> bool {
    key.ends_with("_backfill.json.gz")
}

/// The `YYYYMMDDTHHMMSSZ` stamp in a digest key (`key[-24:-8]`, or `key[-33:-17]` for
/// backfill digests).
fn digest_key_stamp(key: &str) -> &str {
    let (from_end, to_end) = if is_backfill_key(key) {
        (33, 17)
    } else {
        (24, 8)
    };
    let length = key.len();
    match (length.checked_sub(from_end), length.checked_sub(to_end)) {
        (Some(from), Some(to)) => key.get(from..to).unwrap_or_default(),
        _ => "",
    }
}

/// Where public keys come from (`ListPublicKeys`).
trait PublicKeys {
    /// Fingerprint → base64 DER `RSAPublicKey` of the keys valid in `[start, end]`.
    fn public_keys(
        &self,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<BTreeMap<String, String>, ValidateError>;
}

/// The counters of the summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    valid_digests: u64,
    invalid_digests: u64,
    valid_backfill_digests: u64,
    invalid_backfill_digests: u64,
    valid_logs: u64,
    invalid_logs: u64,
}

impl Counts {
    fn all_valid(&self) -> bool {
        self.invalid_digests == 0 && self.invalid_backfill_digests == 0 && self.invalid_logs == 0
    }
}

/// Why one digest did not validate.
enum DigestFailure {
    /// `NoSuchKey`.
    Missing,
    /// The full report line.
    Invalid(String),
    /// Stops the command.
    Fatal(ValidateError),
}

/// A digest that validated.
struct LoadedDigest {
    document: Value,
    start: OffsetDateTime,
    end: OffsetDateTime,
}

/// What the newer digest says about the one its `previous*` link points to.
struct ExpectedPrevious {
    newer: String,
    hash: Option<String>,
    signature: Option<String>,
}

/// The walk and its report.
struct Validator<'a, O: Write, E: Write> {
    store: &'a dyn ObjectStore,
    keys: &'a dyn PublicKeys,
    trail: &'a Trail,
    range: Range,
    verbose: bool,
    out: O,
    err: E,
    progress: ProgressBar,
    counts: Counts,
    last_status_double_space: bool,
    found_start: Option<OffsetDateTime>,
    found_end: Option<OffsetDateTime>,
    /// (bucket, end) → (standard, backfill) digest keys, oldest first.
    listings: HashMap<(String, i128), (Vec<String>, Vec<String>)>,
}

impl<'a, O: Write, E: Write> Validator<'a, O, E> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        store: &'a dyn ObjectStore,
        keys: &'a dyn PublicKeys,
        trail: &'a Trail,
        range: Range,
        verbose: bool,
        out: O,
        err: E,
        progress: ProgressBar,
    ) -> Validator<'a, O, E> {
        Validator {
            store,
            keys,
            trail,
            range,
            verbose,
            out,
            err,
            progress,
            counts: Counts::default(),
            last_status_double_space: true,
            found_start: None,
            found_end: None,
            listings: HashMap::new(),
        }
    }

    /// Walks both chains and writes the report; returns the exit status (0 or 1).
    fn validate(&mut self) -> Result<i32, ValidateError> {
        let startup = format!(
            "Validating log files for trail {} between {} and {}\n\n",
            self.trail.arn,
            display_time(self.range.start),
            display_time(self.range.end)
        );
        self.write_out(&startup);
        self.traverse(false)?;
        self.traverse(true)?;
        self.write_summary();
        let _ = self.out.flush();
        let _ = self.err.flush();
        Ok(if self.counts.all_valid() { 0 } else { 1 })
    }

    fn write_out(&mut self, text: &str) {
        let out = &mut self.out;
        self.progress.suspend(|| {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        });
    }

    fn write_status(&mut self, message: &str, is_error: bool) {
        if is_error {
            let text = if self.last_status_double_space {
                format!("{message}\n\n")
            } else {
                format!("\n{message}\n\n")
            };
            let err = &mut self.err;
            self.progress.suspend(|| {
                let _ = err.write_all(text.as_bytes());
                let _ = err.flush();
            });
            self.last_status_double_space = true;
        } else if self.verbose {
            self.last_status_double_space = false;
            self.write_out(&format!("{message}\n"));
        }
    }

    fn update_progress(&self) {
        let counts = &self.counts;
        self.progress.set_message(format!(
            "validated {} digest files, {} log files",
            counts.valid_digests
                + counts.invalid_digests
                + counts.valid_backfill_digests
                + counts.invalid_backfill_digests,
            counts.valid_logs + counts.invalid_logs
        ));
    }

    fn write_summary(&mut self) {
        let mut text = String::new();
        if !self.last_status_double_space {
            text.push('\n');
        }
        text.push_str(&format!(
            "Results requested for {} to {}\n",
            display_time(self.range.start),
            display_time(self.range.end)
        ));
        let counts = self.counts;
        let valid = counts.valid_digests + counts.valid_backfill_digests;
        let invalid = counts.invalid_digests + counts.invalid_backfill_digests;
        if valid == 0 && invalid == 0 {
            text.push_str("No digests found\n");
            self.write_out(&text);
            return;
        }
        match (self.found_start, self.found_end) {
            (Some(start), Some(end)) => text.push_str(&format!(
                "Results found for {} to {}:\n",
                display_time(start),
                display_time(end)
            )),
            _ => text.push_str("No valid digests found in range\n"),
        }
        for (valid, invalid, name) in [
            (counts.valid_digests, counts.invalid_digests, "digest"),
            (
                counts.valid_backfill_digests,
                counts.invalid_backfill_digests,
                "backfill digest",
            ),
            (counts.valid_logs, counts.invalid_logs, "log"),
        ] {
            let total = valid + invalid;
            if total > 0 {
                text.push_str(&format!("\n{valid}/{total} {name} files valid"));
                if invalid > 0 {
                    text.push_str(&format!(", {invalid}/{total} {name} files INVALID"));
                }
            }
        }
        text.push('\n');
        self.write_out(&text);
    }

    /// The digest keys of `bucket` in range, oldest first (one listing per bucket and end).
    fn digest_keys(
        &mut self,
        bucket: &str,
        end: OffsetDateTime,
        backfill: bool,
    ) -> Result<Vec<String>, ValidateError> {
        let cache_key = (bucket.to_owned(), end.unix_timestamp_nanos());
        if !self.listings.contains_key(&cache_key) {
            let listing = self.list_digest_keys(bucket, end)?;
            self.listings.insert(cache_key.clone(), listing);
        }
        let (standard, backfills) = self.listings.get(&cache_key).cloned().unwrap_or_default();
        Ok(if backfill { backfills } else { standard })
    }

    fn list_digest_keys(
        &self,
        bucket: &str,
        end: OffsetDateTime,
    ) -> Result<(Vec<String>, Vec<String>), ValidateError> {
        let marker = self
            .trail
            .digest_key(self.range.start - time::Duration::minutes(1));
        let prefix = self.trail.digest_prefix();
        let target_start = key_time(self.range.start);
        let target_end = key_time(end + time::Duration::hours(1));
        let (mut standard, mut backfill) = (Vec::new(), Vec::new());
        let mut after = marker;
        'pages: loop {
            let page = self
                .store
                .list_keys(bucket, &prefix, Some(&after), LIST_PAGE)
                .map_err(|source| ValidateError::Store {
                    bucket: bucket.to_owned(),
                    key: prefix.clone(),
                    source,
                })?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            let full_page = page.len() >= LIST_PAGE;
            for key in page {
                if !self.trail.is_digest_key(&key) {
                    continue;
                }
                let stamp = digest_key_stamp(&key);
                if parse_key_time(stamp).is_none() {
                    continue;
                }
                if stamp > target_end.as_str() {
                    break 'pages;
                }
                if stamp < target_start.as_str() {
                    continue;
                }
                if is_backfill_key(&key) {
                    backfill.push(key);
                } else {
                    standard.push(key);
                }
            }
            if !full_page || last <= after {
                break;
            }
            after = last;
        }
        Ok((standard, backfill))
    }

    fn load_public_keys(
        &self,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<BTreeMap<String, String>, ValidateError> {
        let keys = self.keys.public_keys(start, end)?;
        if keys.is_empty() {
            return Err(ValidateError::Service(format!(
                "No public keys found between {} and {}",
                display_time(start),
                display_time(end)
            )));
        }
        Ok(keys)
    }

    /// Walks one chain (standard or backfill digests) newest → oldest.
    fn traverse(&mut self, backfill: bool) -> Result<(), ValidateError> {
        let mut bucket = self.trail.bucket.clone();
        let mut digests = self.digest_keys(&bucket, self.range.end, backfill)?;
        let mut public_keys = if backfill {
            BTreeMap::new()
        } else {
            self.load_public_keys(self.range.start, self.range.end + time::Duration::hours(2))?
        };
        let (mut key, mut end) = last_digest(&mut digests, None);
        let mut last_start = end;
        let mut expected: Option<ExpectedPrevious> = None;
        while let (Some(current), Some(last_start_time)) = (key.clone(), last_start) {
            if self.range.start > last_start_time {
                break;
            }
            self.update_progress();
            match self.load_digest(
                &bucket,
                &current,
                &mut public_keys,
                backfill,
                expected.take(),
            ) {
                Ok(digest) => {
                    last_start = Some(digest.start);
                    end = Some(digest.end);
                    self.on_valid_digest(&digest, backfill)?;
                    let previous_bucket = string_field(&digest.document, "previousDigestS3Bucket");
                    let previous_key = string_field(&digest.document, "previousDigestS3Object");
                    match (previous_bucket, previous_key) {
                        (Some(previous_bucket), Some(previous_key)) => {
                            expected = Some(ExpectedPrevious {
                                newer: format!("s3://{bucket}/{current}"),
                                hash: string_field(&digest.document, "previousDigestHashValue"),
                                signature: string_field(
                                    &digest.document,
                                    "previousDigestSignature",
                                ),
                            });
                            key = Some(previous_key);
                            if previous_bucket != bucket {
                                bucket = previous_bucket;
                                let reload_end = end.unwrap_or(self.range.end);
                                digests = self.digest_keys(&bucket, reload_end, backfill)?;
                            }
                        }
                        _ => {
                            (key, end) = last_digest(&mut digests, Some(&current));
                            if let (Some(_), Some(next_end), Some(last_start)) =
                                (&key, end, last_start)
                            {
                                let kind = if backfill { "(backfill) " } else { "" };
                                self.write_status(
                                    &format!(
                                        "{kind}No log files were delivered by CloudTrail between {} and {}",
                                        display_time(next_end),
                                        display_time(last_start)
                                    ),
                                    true,
                                );
                            }
                        }
                    }
                }
                Err(DigestFailure::Fatal(error)) => return Err(error),
                Err(failure) => {
                    self.on_invalid_digest(&bucket, &current, failure, backfill);
                    (key, _) = last_digest(&mut digests, Some(&current));
                }
            }
        }
        Ok(())
    }

    fn on_invalid_digest(
        &mut self,
        bucket: &str,
        key: &str,
        failure: DigestFailure,
        backfill: bool,
    ) {
        if backfill {
            self.counts.invalid_backfill_digests += 1;
        } else {
            self.counts.invalid_digests += 1;
        }
        let kind = if backfill { "(backfill) " } else { "" };
        let message = match failure {
            DigestFailure::Missing => {
                format!("{kind}Digest file\ts3://{bucket}/{key}\tINVALID: not found")
            }
            DigestFailure::Invalid(line) => format!("{kind}{line}"),
            DigestFailure::Fatal(error) => {
                format!("{kind}Digest file\ts3://{bucket}/{key}\tINVALID: {error}")
            }
        };
        self.write_status(&message, true);
    }

    fn on_valid_digest(
        &mut self,
        digest: &LoadedDigest,
        backfill: bool,
    ) -> Result<(), ValidateError> {
        let requested = self.range;
        let earliest = digest.start.max(requested.start);
        if self.found_start.is_none_or(|found| earliest < found) {
            self.found_start = Some(earliest);
        }
        let latest = digest.end.min(requested.end);
        if self.found_end.is_none_or(|found| latest > found) {
            self.found_end = Some(latest);
        }
        if backfill {
            self.counts.valid_backfill_digests += 1;
        } else {
            self.counts.valid_digests += 1;
        }
        let kind = if backfill { "(backfill) " } else { "" };
        let location = format!(
            "s3://{}/{}",
            string_field(&digest.document, "digestS3Bucket").unwrap_or_default(),
            string_field(&digest.document, "digestS3Object").unwrap_or_default()
        );
        self.write_status(&format!("{kind}Digest file\t{location}\tvalid"), false);
        self.update_progress();
        let logs = digest
            .document
            .get("logFiles")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for log in &logs {
            self.check_log(log)?;
            self.update_progress();
        }
        Ok(())
    }

    /// Fetches one log file, gunzips it and compares its SHA-256 with `hashValue`.
    fn check_log(&mut self, log: &Value) -> Result<(), ValidateError> {
        let bucket = string_field(log, "s3Bucket");
        let key = string_field(log, "s3Object");
        let location = format!(
            "s3://{}/{}",
            bucket.as_deref().unwrap_or_default(),
            key.as_deref().unwrap_or_default()
        );
        let (Some(bucket), Some(key)) = (bucket, key) else {
            self.counts.invalid_logs += 1;
            self.write_status(
                &format!("Log file\t{location}\tINVALID: invalid format"),
                true,
            );
            return Ok(());
        };
        let compressed = match self.store.get(&bucket, &key, None) {
            Ok((_, bytes)) => bytes,
            Err(StoreError::NoSuchKey { .. }) => {
                self.counts.invalid_logs += 1;
                self.write_status(&format!("Log file\t{location}\tINVALID: not found"), true);
                return Ok(());
            }
            Err(source) => {
                return Err(ValidateError::Store {
                    bucket,
                    key,
                    source,
                });
            }
        };
        let hash = match gunzip(&compressed) {
            Ok(bytes) => hex::encode(Sha256::digest(&bytes)),
            Err(_) => {
                self.counts.invalid_logs += 1;
                self.write_status(
                    &format!("Log file\t{location}\tINVALID: invalid format"),
                    true,
                );
                return Ok(());
            }
        };
        if Some(hash.as_str()) == log.get("hashValue").and_then(Value::as_str) {
            self.counts.valid_logs += 1;
            self.write_status(&format!("Log file\t{location}\tvalid"), false);
        } else {
            self.counts.invalid_logs += 1;
            self.write_status(
                &format!("Log file\t{location}\tINVALID: hash value doesn't match"),
                true,
            );
        }
        Ok(())
    }

    /// Fetches and validates one digest (`_load_and_validate_digest` of the AWS CLI).
    fn load_digest(
        &mut self,
        bucket: &str,
        key: &str,
        public_keys: &mut BTreeMap<String, String>,
        backfill: bool,
        expected: Option<ExpectedPrevious>,
    ) -> Result<LoadedDigest, DigestFailure> {
        let location = format!("s3://{bucket}/{key}");
        let invalid = |reason: &str| {
            DigestFailure::Invalid(format!("Digest file\t{location}\tINVALID: {reason}"))
        };
        let (info, compressed) = match self.store.get(bucket, key, None) {
            Ok(found) => found,
            Err(StoreError::NoSuchKey { .. }) => return Err(DigestFailure::Missing),
            Err(source) => {
                return Err(DigestFailure::Fatal(ValidateError::Store {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    source,
                }));
            }
        };
        let inflated = gunzip(&compressed).map_err(|_| invalid("invalid format"))?;
        let document: Value = match std::str::from_utf8(&inflated)
            .ok()
            .and_then(|text| serde_json::from_str(text).ok())
        {
            Some(document @ Value::Object(_)) => document,
            _ => return Err(invalid("invalid format")),
        };
        let metadata = &info.options.user_metadata;
        let (Some(signature), Some(_algorithm)) = (
            metadata.get("signature"),
            metadata.get("signature-algorithm"),
        ) else {
            return Err(invalid("signature verification failed"));
        };
        let backfill_timestamp = if is_backfill_key(key) {
            Some(
                metadata
                    .get("backfill-generation-timestamp")
                    .ok_or_else(|| invalid("invalid format"))?
                    .clone(),
            )
        } else {
            None
        };
        const REQUIRED: [&str; 6] = [
            "digestPublicKeyFingerprint",
            "digestS3Bucket",
            "digestS3Object",
            "previousDigestSignature",
            "digestEndTime",
            "digestStartTime",
        ];
        if REQUIRED.iter().any(|field| document.get(field).is_none()) {
            return Err(invalid("invalid format"));
        }
        if document.get("digestS3Bucket").and_then(Value::as_str) != Some(bucket)
            || document.get("digestS3Object").and_then(Value::as_str) != Some(key)
        {
            return Err(invalid("has been moved from its original location"));
        }
        let fingerprint = python_str(&document["digestPublicKeyFingerprint"]);
        if backfill
            && !public_keys.contains_key(&fingerprint)
            && let Some(timestamp) = &backfill_timestamp
        {
            let generated = parse_time(timestamp).map_err(|error| invalid(&error.to_string()))?;
            let more = self
                .load_public_keys(
                    generated - time::Duration::hours(1),
                    generated + time::Duration::hours(1),
                )
                .map_err(DigestFailure::Fatal)?;
            public_keys.extend(more);
        }
        let Some(public_key) = public_keys.get(&fingerprint) else {
            return Err(invalid(&format!(
                "public key not found in region {} for fingerprint {fingerprint}",
                self.trail.home_region
            )));
        };
        let unable_to_load = || {
            invalid(&format!(
                "Unable to load PKCS #1 key with fingerprint {fingerprint}"
            ))
        };
        let public_key_der = base64::engine::general_purpose::STANDARD
            .decode(public_key.trim())
            .map_err(|_| unable_to_load())?;
        if !is_pkcs1_rsa_public_key(&public_key_der) {
            return Err(unable_to_load());
        }
        let hash = hex::encode(Sha256::digest(&inflated));
        let string_to_sign = format!(
            "{}\n{}/{}\n{hash}\n{}",
            python_str(&document["digestEndTime"]),
            python_str(&document["digestS3Bucket"]),
            python_str(&document["digestS3Object"]),
            match &document["previousDigestSignature"] {
                Value::Null => "null".to_owned(),
                other => python_str(other),
            }
        );
        let signature_bytes =
            hex::decode(signature.trim()).map_err(|_| invalid("signature is not hexadecimal"))?;
        let verifier = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &public_key_der,
        );
        if verifier
            .verify(string_to_sign.as_bytes(), &signature_bytes)
            .is_err()
        {
            return Err(invalid("signature verification failed"));
        }
        if let Some(expected) = expected {
            if expected
                .hash
                .as_deref()
                .is_some_and(|claimed| !claimed.eq_ignore_ascii_case(&hash))
            {
                return Err(invalid(&format!(
                    "hash value doesn't match the previousDigestHashValue in {}",
                    expected.newer
                )));
            }
            if expected
                .signature
                .as_deref()
                .is_some_and(|claimed| !claimed.trim().eq_ignore_ascii_case(signature.trim()))
            {
                return Err(invalid(&format!(
                    "signature doesn't match the previousDigestSignature in {}",
                    expected.newer
                )));
            }
        }
        let time_field = |field: &str| {
            document
                .get(field)
                .and_then(Value::as_str)
                .and_then(|text| parse_time(text).ok())
                .ok_or_else(|| {
                    invalid(&format!(
                        "Unable to parse date value: {}",
                        python_str(&document[field])
                    ))
                })
        };
        let end = time_field("digestEndTime")?;
        let start = time_field("digestStartTime")?;
        Ok(LoadedDigest {
            start,
            end,
            document,
        })
    }
}

/// Pops the newest digest (or the newest one dated before `before`) off `digests`, with its
/// date (`_get_last_digest` of the AWS CLI).
fn last_digest(
    digests: &mut Vec<String>,
    before: Option<&str>,
) -> (Option<String>, Option<OffsetDateTime>) {
    let Some(before) = before else {
        return match digests.pop() {
            Some(key) => {
                let date = parse_key_time(digest_key_stamp(&key));
                (Some(key), date)
            }
            None => (None, None),
        };
    };
    let Some(before_date) = parse_key_time(digest_key_stamp(before)) else {
        return (None, None);
    };
    while let Some(key) = digests.pop() {
        if let Some(date) = parse_key_time(digest_key_stamp(&key))
            && date < before_date
        {
            return (Some(key), Some(date));
        }
    }
    (None, None)
}

/// A JSON string field (`None` when absent, null or not a string).
fn string_field(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::to_owned)
}

/// How Python's `str()` shows a JSON value inside an f-string.
fn python_str(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        other => other.to_string(),
    }
}

fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut inflated)?;
    Ok(inflated)
}

/// Whether `der` is a DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn is_pkcs1_rsa_public_key(der: &[u8]) -> bool {
    fn element(bytes: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&first, rest) = bytes.split_first()?;
        if first != tag {
            return None;
        }
        let (&length_byte, rest) = rest.split_first()?;
        let (length, rest) = if length_byte < 0x80 {
            (usize::from(length_byte), rest)
        } else {
            let count = usize::from(length_byte & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let length = rest[..count]
                .iter()
                .fold(0usize, |length, byte| (length << 8) | usize::from(*byte));
            (length, &rest[count..])
        };
        if rest.len() < length {
            return None;
        }
        Some(rest.split_at(length))
    }
    let Some((sequence, trailing)) = element(der, 0x30) else {
        return false;
    };
    let Some((modulus, rest)) = element(sequence, 0x02) else {
        return false;
    };
    let Some((exponent, rest)) = element(rest, 0x02) else {
        return false;
    };
    trailing.is_empty() && rest.is_empty() && !modulus.is_empty() && !exponent.is_empty()
}

/// Calls `<target_prefix>.<operation>` through the CLI's SigV4 client, with the AWS CLI's
/// wording for what goes wrong.
fn call(
    client: &Client,
    signing_name: &str,
    target_prefix: &str,
    operation: &str,
    input: &Value,
) -> Result<Value, ValidateError> {
    client
        .call_json(signing_name, target_prefix, operation, input)
        .map_err(|err| match err {
            ClientError::Usage(message) => ValidateError::Usage(message),
            ClientError::Unreachable { url, message } => ValidateError::Service(format!(
                "Could not connect to the endpoint URL: \"{url}\" ({message})"
            )),
            ClientError::Service { code, message, .. } => ValidateError::Service(format!(
                "An error occurred ({code}) when calling the {operation} operation: {message}"
            )),
            ClientError::BadAnswer { status, message } => ValidateError::Service(format!(
                "the {operation} response (HTTP {status}) is not JSON: {message}"
            )),
        })
}

/// `ListPublicKeys` through the CloudTrail [`Client`].
struct CloudTrailKeys<'a> {
    client: &'a Client,
}

impl PublicKeys for CloudTrailKeys<'_> {
    fn public_keys(
        &self,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<BTreeMap<String, String>, ValidateError> {
        let mut keys = BTreeMap::new();
        let mut next_token: Option<String> = None;
        for _ in 0..100 {
            let mut input = json!({
                "StartTime": start.unix_timestamp(),
                "EndTime": end.unix_timestamp(),
            });
            if let Some(token) = &next_token {
                input["NextToken"] = json!(token);
            }
            let answer = call(
                self.client,
                "cloudtrail",
                CLOUDTRAIL_TARGET_PREFIX,
                "ListPublicKeys",
                &input,
            )?;
            for key in answer
                .get("PublicKeyList")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(fingerprint), Some(value)) = (
                    key.get("Fingerprint").and_then(Value::as_str),
                    key.get("Value").and_then(Value::as_str),
                ) {
                    keys.insert(fingerprint.to_owned(), value.to_owned());
                }
            }
            next_token = string_field(&answer, "NextToken").filter(|token| !token.is_empty());
            if next_token.is_none() {
                break;
            }
        }
        Ok(keys)
    }
}

/// Finds the bucket and prefix of the digests (`create_digest_traverser` of the AWS CLI).
fn locate_trail(
    cloudtrail: &Client,
    organizations: &Client,
    args: &Args,
    arn: &TrailArn,
    source_region: &str,
) -> Result<Trail, ValidateError> {
    let mut organization_id = None;
    let (bucket, prefix) = match &args.s3_bucket {
        Some(bucket) => (bucket.clone(), args.s3_prefix.clone()),
        None => {
            let answer = call(
                cloudtrail,
                "cloudtrail",
                CLOUDTRAIL_TARGET_PREFIX,
                "DescribeTrails",
                &json!({}),
            )?;
            let trail = answer
                .get("trailList")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|trail| trail.get("TrailARN").and_then(Value::as_str) == Some(&arn.text))
                .ok_or_else(|| {
                    ValidateError::Usage(format!("A trail could not be found for {}", arn.text))
                })?;
            let bucket = string_field(trail, "S3BucketName").ok_or_else(|| {
                ValidateError::Service(format!("trail {} has no S3BucketName", arn.text))
            })?;
            if trail.get("IsOrganizationTrail").and_then(Value::as_bool) == Some(true) {
                if args.account_id.is_none() {
                    return Err(ValidateError::Usage(
                        "Missing required parameter for organization trail: '--account-id'"
                            .to_owned(),
                    ));
                }
                let organization = call(
                    organizations,
                    "organizations",
                    ORGANIZATIONS_TARGET_PREFIX,
                    "DescribeOrganization",
                    &json!({}),
                )?;
                organization_id = organization
                    .get("Organization")
                    .and_then(|organization| string_field(organization, "Id"));
                if organization_id.is_none() {
                    return Err(ValidateError::Service(
                        "DescribeOrganization returned no organization id".to_owned(),
                    ));
                }
            }
            // `--s3-prefix` is ignored without `--s3-bucket`, as in the AWS CLI.
            (bucket, string_field(trail, "S3KeyPrefix"))
        }
    };
    Ok(Trail {
        arn: arn.text.clone(),
        bucket,
        prefix,
        account_id: args
            .account_id
            .clone()
            .unwrap_or_else(|| arn.account_id.clone()),
        name: arn.name.clone(),
        home_region: arn.region.clone(),
        source_region: source_region.to_owned(),
        organization_id,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use opentrail_objects::{LocalStore, PutOptions};

    use super::*;

    const ACCOUNT: &str = "123456789012";
    const BUCKET: &str = "trail-bucket";
    const ARN: &str = "arn:aws:cloudtrail:us-east-1:123456789012:trail/mytrail";
    const FINGERPRINT: &str = "0123456789abcdef0123456789abcdef";

    fn key_pair() -> &'static KeyPair {
        static KEY: OnceLock<KeyPair> = OnceLock::new();
        KEY.get_or_init(|| KeyPair::generate(KeySize::Rsa2048).expect("rsa key"))
    }

    fn sign(message: &str) -> String {
        let key = key_pair();
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            message.as_bytes(),
            &mut signature,
        )
        .expect("sign");
        hex::encode(signature)
    }

    /// `ListPublicKeys` answering with fixed keys, counting its calls.
    struct StaticKeys {
        keys: BTreeMap<String, String>,
        calls: std::cell::Cell<usize>,
    }

    impl StaticKeys {
        fn ours() -> StaticKeys {
            let value =
                base64::engine::general_purpose::STANDARD.encode(key_pair().public_key().as_ref());
            StaticKeys::with(&[(FINGERPRINT, value.as_str())])
        }

        fn with(keys: &[(&str, &str)]) -> StaticKeys {
            StaticKeys {
                keys: keys
                    .iter()
                    .map(|(fingerprint, value)| ((*fingerprint).to_owned(), (*value).to_owned()))
                    .collect(),
                calls: std::cell::Cell::new(0),
            }
        }
    }

    impl PublicKeys for StaticKeys {
        fn public_keys(
            &self,
            _start: OffsetDateTime,
            _end: OffsetDateTime,
        ) -> Result<BTreeMap<String, String>, ValidateError> {
            self.calls.set(self.calls.get() + 1);
            Ok(self.keys.clone())
        }
    }

    fn at(text: &str) -> OffsetDateTime {
        parse_time(text).expect("test time")
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).expect("gzip");
        encoder.finish().expect("gzip")
    }

    /// A bucket with digests and logs written the way CloudTrail writes them.
    struct Fixture {
        _dir: tempfile::TempDir,
        store: LocalStore,
        trail: Trail,
        /// (key, hash, signature) of the last digest written.
        previous: Option<(String, String, String)>,
    }

    struct Report {
        status: i32,
        out: String,
        err: String,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = LocalStore::open(&dir.path().join("objects")).expect("store");
            store.create_bucket(BUCKET).expect("bucket");
            let arn = TrailArn::parse(ARN).expect("arn");
            Fixture {
                _dir: dir,
                store,
                trail: Trail {
                    arn: ARN.to_owned(),
                    bucket: BUCKET.to_owned(),
                    prefix: Some("pre/fix".to_owned()),
                    account_id: arn.account_id,
                    name: arn.name,
                    home_region: arn.region.clone(),
                    source_region: arn.region,
                    organization_id: None,
                },
                previous: None,
            }
        }

        fn log_key(&self, stamp: &str) -> String {
            self.trail.with_prefix(format!(
                "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/01/02/{ACCOUNT}_CloudTrail_us-east-1_20240102T{stamp}Z_abcdefghijklmnop.json.gz"
            ))
        }

        /// Writes a log file; returns its `logFiles` entry.
        fn put_log(&self, stamp: &str) -> Value {
            let key = self.log_key(stamp);
            let content = format!(r#"{{"Records":[{{"eventID":"{stamp}"}}]}}"#);
            self.store
                .put(
                    BUCKET,
                    &key,
                    &gzip(content.as_bytes()),
                    &PutOptions::default(),
                )
                .expect("put log");
            json!({
                "s3Bucket": BUCKET,
                "s3Object": key,
                "hashValue": hex::encode(Sha256::digest(content.as_bytes())),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": "2024-01-02T10:00:00Z",
                "oldestEventTime": "2024-01-02T10:00:00Z",
            })
        }

        fn digest_document(
            &self,
            key: &str,
            start: &str,
            end: &str,
            logs: Vec<Value>,
            chain: bool,
        ) -> Value {
            let previous = self.previous.as_ref().filter(|_| chain);
            json!({
                "awsAccountId": ACCOUNT,
                "digestStartTime": start,
                "digestEndTime": end,
                "digestS3Bucket": BUCKET,
                "digestS3Object": key,
                "digestPublicKeyFingerprint": FINGERPRINT,
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": null,
                "oldestEventTime": null,
                "previousDigestS3Bucket": previous.map(|_| BUCKET),
                "previousDigestS3Object": previous.map(|(key, _, _)| key.clone()),
                "previousDigestHashValue": previous.map(|(_, hash, _)| hash.clone()),
                "previousDigestHashAlgorithm": previous.map(|_| "SHA-256"),
                "previousDigestSignature": previous.map(|(_, _, signature)| signature.clone()),
                "logFiles": logs,
            })
        }

        /// Signs and writes `document` at `key`; it becomes the chain's newest digest.
        fn put_signed(&mut self, key: &str, document: &Value, metadata: &[(&str, &str)]) -> String {
            let bytes = serde_json::to_vec(document).expect("json");
            let hash = hex::encode(Sha256::digest(&bytes));
            let previous_signature = match &document["previousDigestSignature"] {
                Value::String(signature) => signature.clone(),
                _ => "null".to_owned(),
            };
            let signature = sign(&format!(
                "{}\n{}/{}\n{hash}\n{previous_signature}",
                document["digestEndTime"].as_str().expect("end"),
                document["digestS3Bucket"].as_str().expect("bucket"),
                document["digestS3Object"].as_str().expect("object"),
            ));
            let mut user_metadata = BTreeMap::from([
                ("signature".to_owned(), signature.clone()),
                ("signature-algorithm".to_owned(), "SHA256withRSA".to_owned()),
            ]);
            for (name, value) in metadata {
                user_metadata.insert((*name).to_owned(), (*value).to_owned());
            }
            let options = PutOptions {
                user_metadata,
                ..Default::default()
            };
            self.store
                .put(BUCKET, key, &gzip(&bytes), &options)
                .expect("put digest");
            self.previous = Some((key.to_owned(), hash, signature));
            key.to_owned()
        }

        /// Writes a signed digest for `[start, end]` chained to the previous one.
        fn put_digest(&mut self, start: &str, end: &str, logs: Vec<Value>) -> String {
            let key = self.trail.digest_key(at(end));
            let document = self.digest_document(&key, start, end, logs, true);
            self.put_signed(&key, &document, &[])
        }

        fn run_with_keys(
            &self,
            start: &str,
            end: &str,
            verbose: bool,
            keys: &dyn PublicKeys,
        ) -> Result<Report, ValidateError> {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let status = Validator::new(
                &self.store,
                keys,
                &self.trail,
                Range {
                    start: at(start),
                    end: at(end),
                },
                verbose,
                &mut out,
                &mut err,
                ProgressBar::hidden(),
            )
            .validate()?;
            Ok(Report {
                status,
                out: String::from_utf8(out).expect("utf-8"),
                err: String::from_utf8(err).expect("utf-8"),
            })
        }

        fn run(&self, verbose: bool) -> Report {
            self.run_with_keys(
                "2024-01-02T09:00:00Z",
                "2024-01-02T13:00:00Z",
                verbose,
                &StaticKeys::ours(),
            )
            .expect("validation runs")
        }

        /// Three chained hourly digests, logs in the first two.
        fn chain() -> (Fixture, [String; 3], [String; 2]) {
            let mut fixture = Fixture::new();
            let log1 = fixture.put_log("0955");
            let log2 = fixture.put_log("1055");
            let digest1 = fixture.put_digest(
                "2024-01-02T09:00:00Z",
                "2024-01-02T10:00:00Z",
                vec![log1.clone()],
            );
            let digest2 = fixture.put_digest(
                "2024-01-02T10:00:00Z",
                "2024-01-02T11:00:00Z",
                vec![log2.clone()],
            );
            let digest3 =
                fixture.put_digest("2024-01-02T11:00:00Z", "2024-01-02T12:00:00Z", vec![]);
            let log_key = |log: &Value| log["s3Object"].as_str().expect("key").to_owned();
            (
                fixture,
                [digest1, digest2, digest3],
                [log_key(&log1), log_key(&log2)],
            )
        }
    }

    fn s3(key: &str) -> String {
        format!("s3://{BUCKET}/{key}")
    }

    #[test]
    fn a_valid_chain_gives_the_aws_cli_report() {
        let (fixture, [d1, d2, d3], [l1, l2]) = Fixture::chain();
        let report = fixture.run(true);
        let expected = format!(
            "Validating log files for trail {ARN} between 2024-01-02T09:00:00Z and 2024-01-02T13:00:00Z\n\n\
             Digest file\t{}\tvalid\n\
             Digest file\t{}\tvalid\n\
             Log file\t{}\tvalid\n\
             Digest file\t{}\tvalid\n\
             Log file\t{}\tvalid\n\
             \n\
             Results requested for 2024-01-02T09:00:00Z to 2024-01-02T13:00:00Z\n\
             Results found for 2024-01-02T09:00:00Z to 2024-01-02T12:00:00Z:\n\
             \n3/3 digest files valid\
             \n2/2 log files valid\n",
            s3(&d3),
            s3(&d2),
            s3(&l2),
            s3(&d1),
            s3(&l1),
        );
        assert_eq!(report.out, expected);
        assert_eq!(report.err, "");
        assert_eq!(report.status, 0);
        assert!(d1.starts_with("pre/fix/AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/02/123456789012_CloudTrail-Digest_us-east-1_mytrail_us-east-1_20240102T100000Z.json.gz"));

        let quiet = fixture.run(false);
        assert_eq!(
            quiet.out,
            format!(
                "Validating log files for trail {ARN} between 2024-01-02T09:00:00Z and 2024-01-02T13:00:00Z\n\n\
                 Results requested for 2024-01-02T09:00:00Z to 2024-01-02T13:00:00Z\n\
                 Results found for 2024-01-02T09:00:00Z to 2024-01-02T12:00:00Z:\n\
                 \n3/3 digest files valid\
                 \n2/2 log files valid\n"
            )
        );
    }

    #[test]
    fn a_changed_log_is_reported_with_its_hash() {
        let (fixture, _, [l1, _]) = Fixture::chain();
        fixture
            .store
            .put(
                BUCKET,
                &l1,
                &gzip(b"{\"Records\":[]}"),
                &PutOptions::default(),
            )
            .expect("tamper");
        let report = fixture.run(false);
        assert_eq!(report.status, 1);
        assert_eq!(
            report.err,
            format!(
                "Log file\t{}\tINVALID: hash value doesn't match\n\n",
                s3(&l1)
            )
        );
        assert!(
            report
                .out
                .contains("\n3/3 digest files valid\n1/2 log files valid, 1/2 log files INVALID\n"),
            "{}",
            report.out
        );
    }

    #[test]
    fn a_deleted_or_garbled_log_is_reported() {
        let (fixture, _, [l1, l2]) = Fixture::chain();
        assert!(fixture.store.delete(BUCKET, &l2).expect("delete"));
        fixture
            .store
            .put(BUCKET, &l1, b"not gzip", &PutOptions::default())
            .expect("garble");
        let report = fixture.run(true);
        assert_eq!(report.status, 1);
        assert_eq!(
            report.err,
            format!(
                "\nLog file\t{}\tINVALID: not found\n\n\nLog file\t{}\tINVALID: invalid format\n\n",
                s3(&l2),
                s3(&l1)
            )
        );
        assert!(
            report
                .out
                .contains("\n0/2 log files valid, 2/2 log files INVALID\n")
        );
    }

    #[test]
    fn a_deleted_digest_is_reported_and_the_walk_goes_on() {
        let (fixture, [_, d2, _], _) = Fixture::chain();
        assert!(fixture.store.delete(BUCKET, &d2).expect("delete"));
        let report = fixture.run(false);
        assert_eq!(report.status, 1);
        assert_eq!(
            report.err,
            format!("Digest file\t{}\tINVALID: not found\n\n", s3(&d2))
        );
        assert!(
            report.out.contains(
                "\n2/3 digest files valid, 1/3 digest files INVALID\n1/1 log files valid\n"
            ),
            "{}",
            report.out
        );
    }

    #[test]
    fn a_changed_digest_fails_its_signature() {
        let (fixture, [_, d2, _], _) = Fixture::chain();
        let (info, compressed) = fixture.store.get(BUCKET, &d2, None).expect("get");
        let mut document: Value =
            serde_json::from_slice(&gunzip(&compressed).expect("gunzip")).expect("json");
        document["logFiles"] = json!([]);
        fixture
            .store
            .put(
                BUCKET,
                &d2,
                &gzip(&serde_json::to_vec(&document).expect("json")),
                &info.options,
            )
            .expect("tamper");
        let report = fixture.run(false);
        assert_eq!(report.status, 1);
        assert_eq!(
            report.err,
            format!(
                "Digest file\t{}\tINVALID: signature verification failed\n\n",
                s3(&d2)
            )
        );
        assert!(
            report.out.contains(
                "\n2/3 digest files valid, 1/3 digest files INVALID\n1/1 log files valid\n"
            )
        );
    }

    #[test]
    fn a_digest_without_signature_metadata_is_invalid() {
        let (fixture, [_, _, d3], _) = Fixture::chain();
        let (_, compressed) = fixture.store.get(BUCKET, &d3, None).expect("get");
        fixture
            .store
            .put(BUCKET, &d3, &compressed, &PutOptions::default())
            .expect("strip metadata");
        let report = fixture.run(false);
        assert_eq!(
            report.err,
            format!(
                "Digest file\t{}\tINVALID: signature verification failed\n\n",
                s3(&d3)
            )
        );
        // Without the newest digest the walk restarts from the next listed one.
        assert!(
            report.out.contains(
                "\n2/3 digest files valid, 1/3 digest files INVALID\n2/2 log files valid\n"
            )
        );
        assert_eq!(report.status, 1);
    }

    #[test]
    fn a_moved_digest_is_reported() {
        let (fixture, [_, _, d3], _) = Fixture::chain();
        let (info, compressed) = fixture.store.get(BUCKET, &d3, None).expect("get");
        let copy = fixture.trail.digest_key(at("2024-01-02T12:30:00Z"));
        fixture
            .store
            .put(BUCKET, &copy, &compressed, &info.options)
            .expect("copy");
        let report = fixture.run(false);
        assert_eq!(
            report.err,
            format!(
                "Digest file\t{}\tINVALID: has been moved from its original location\n\n",
                s3(&copy)
            )
        );
        assert!(
            report
                .out
                .contains("\n3/4 digest files valid, 1/4 digest files INVALID\n")
        );
        assert_eq!(report.status, 1);
    }

    #[test]
    fn an_unknown_fingerprint_is_reported() {
        let (fixture, [_, _, d3], _) = Fixture::chain();
        let keys = StaticKeys::with(&[("ffffffffffffffffffffffffffffffff", "AAAA")]);
        let report = fixture
            .run_with_keys("2024-01-02T09:00:00Z", "2024-01-02T13:00:00Z", false, &keys)
            .expect("runs");
        assert!(report.err.starts_with(&format!(
            "Digest file\t{}\tINVALID: public key not found in region us-east-1 for fingerprint {FINGERPRINT}\n\n",
            s3(&d3)
        )), "{}", report.err);
        assert!(report.out.contains("No valid digests found in range\n\n0/3 digest files valid, 3/3 digest files INVALID\n"), "{}", report.out);
        assert_eq!(report.status, 1);
        assert_eq!(keys.calls.get(), 1);
    }

    #[test]
    fn a_key_that_is_not_pkcs1_cannot_be_loaded() {
        let (fixture, [_, _, d3], _) = Fixture::chain();
        let keys = StaticKeys::with(&[(FINGERPRINT, "bm90IGEga2V5")]);
        let report = fixture
            .run_with_keys("2024-01-02T09:00:00Z", "2024-01-02T13:00:00Z", false, &keys)
            .expect("runs");
        assert!(report.err.starts_with(&format!(
            "Digest file\t{}\tINVALID: Unable to load PKCS #1 key with fingerprint {FINGERPRINT}\n\n",
            s3(&d3)
        )), "{}", report.err);
    }

    #[test]
    fn a_swapped_previous_digest_fails_the_hash_check() {
        let mut fixture = Fixture::new();
        let d1 = fixture.put_digest("2024-01-02T09:00:00Z", "2024-01-02T10:00:00Z", vec![]);
        // A newer digest whose previous hash does not match d1 (but is validly signed).
        let d2 = fixture.trail.digest_key(at("2024-01-02T11:00:00Z"));
        let mut document = fixture.digest_document(
            &d2,
            "2024-01-02T10:00:00Z",
            "2024-01-02T11:00:00Z",
            vec![],
            true,
        );
        document["previousDigestHashValue"] = json!("00".repeat(32));
        fixture.put_signed(&d2, &document, &[]);
        let report = fixture.run(false);
        assert_eq!(
            report.err,
            format!(
                "Digest file\t{}\tINVALID: hash value doesn't match the previousDigestHashValue in {}\n\n",
                s3(&d1),
                s3(&d2)
            )
        );
        assert!(
            report
                .out
                .contains("\n1/2 digest files valid, 1/2 digest files INVALID\n")
        );
        assert_eq!(report.status, 1);
    }

    #[test]
    fn a_chain_restart_is_reported_as_a_gap_but_stays_valid() {
        let mut fixture = Fixture::new();
        fixture.put_digest("2024-01-02T09:00:00Z", "2024-01-02T10:00:00Z", vec![]);
        let d2 = fixture.trail.digest_key(at("2024-01-02T12:00:00Z"));
        let document = fixture.digest_document(
            &d2,
            "2024-01-02T11:30:00Z",
            "2024-01-02T12:00:00Z",
            vec![],
            false,
        );
        fixture.put_signed(&d2, &document, &[]);
        let report = fixture.run(false);
        assert_eq!(
            report.err,
            "No log files were delivered by CloudTrail between 2024-01-02T10:00:00Z and 2024-01-02T11:30:00Z\n\n"
        );
        assert!(
            report.out.contains("\n2/2 digest files valid\n"),
            "{}",
            report.out
        );
        assert_eq!(report.status, 0);
    }

    #[test]
    fn digests_outside_the_range_are_not_walked() {
        let (fixture, _, _) = Fixture::chain();
        // Only the digest ending 12:00 is listed (the listing starts one minute before 11:30);
        // its predecessor starts before 11:30, so the walk stops there.
        let report = fixture
            .run_with_keys(
                "2024-01-02T11:30:00Z",
                "2024-01-02T11:45:00Z",
                false,
                &StaticKeys::ours(),
            )
            .expect("runs");
        assert!(report.out.contains(
            "Results found for 2024-01-02T11:30:00Z to 2024-01-02T11:45:00Z:\n\n1/1 digest files valid\n"
        ), "{}", report.out);
        assert_eq!(report.status, 0);
        // From 11:00 the walk follows the link to the digest starting at 10:00 (it still
        // starts inside the range's first digest) and stops before the one starting at 09:00.
        let report = fixture
            .run_with_keys(
                "2024-01-02T11:00:00Z",
                "2024-01-02T11:30:00Z",
                false,
                &StaticKeys::ours(),
            )
            .expect("runs");
        assert!(report.out.contains(
            "Results found for 2024-01-02T11:00:00Z to 2024-01-02T11:30:00Z:\n\n2/2 digest files valid\n1/1 log files valid\n"
        ), "{}", report.out);
    }

    #[test]
    fn backfill_digests_are_walked_after_the_chain() {
        let mut fixture = Fixture::new();
        fixture.put_digest("2024-01-02T09:00:00Z", "2024-01-02T10:00:00Z", vec![]);
        fixture.previous = None;
        let key = fixture
            .trail
            .digest_key(at("2024-01-02T11:00:00Z"))
            .replace(".json.gz", "_backfill.json.gz");
        let document = fixture.digest_document(
            &key,
            "2024-01-02T10:00:00Z",
            "2024-01-02T11:00:00Z",
            vec![],
            false,
        );
        fixture.put_signed(
            &key,
            &document,
            &[("backfill-generation-timestamp", "2024-01-03T00:00:00Z")],
        );
        let keys = StaticKeys::ours();
        let report = fixture
            .run_with_keys("2024-01-02T09:00:00Z", "2024-01-02T13:00:00Z", true, &keys)
            .expect("runs");
        assert!(
            report
                .out
                .contains(&format!("(backfill) Digest file\t{}\tvalid\n", s3(&key))),
            "{}",
            report.out
        );
        assert!(
            report
                .out
                .contains("\n1/1 digest files valid\n1/1 backfill digest files valid\n"),
            "{}",
            report.out
        );
        assert_eq!(report.status, 0);
        assert_eq!(
            keys.calls.get(),
            2,
            "backfill keys come from the generation time"
        );
    }

    #[test]
    fn no_public_keys_stops_the_command_and_no_digests_is_reported() {
        let fixture = Fixture::new();
        let none = StaticKeys::with(&[]);
        let error = fixture
            .run_with_keys("2024-01-02T09:00:00Z", "2024-01-02T13:00:00Z", false, &none)
            .err()
            .expect("fails");
        assert_eq!(
            error.to_string(),
            "No public keys found between 2024-01-02T09:00:00Z and 2024-01-02T15:00:00Z"
        );
        let report = fixture.run(false);
        assert!(report.out.ends_with("Results requested for 2024-01-02T09:00:00Z to 2024-01-02T13:00:00Z\nNo digests found\n"), "{}", report.out);
        assert_eq!(report.status, 0);
    }

    #[test]
    fn trail_arns_are_checked_like_the_aws_cli() {
        let arn = TrailArn::parse(ARN).expect("valid");
        assert_eq!(
            (
                arn.region.as_str(),
                arn.account_id.as_str(),
                arn.name.as_str()
            ),
            ("us-east-1", ACCOUNT, "mytrail")
        );
        assert!(TrailArn::parse("arn:aws-cn:cloudtrail:cn-north-1:123456789012:trail/a/b").is_ok());
        for bad in [
            "",
            "mytrail",
            "arn:aws:cloudtrail:us-east-1:12345678901:trail/x",
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/",
            "arn:aws:s3:us-east-1:123456789012:trail/x",
            "arn::cloudtrail:us-east-1:123456789012:trail/x",
        ] {
            let error = TrailArn::parse(bad).expect_err("invalid");
            assert_eq!(
                error.to_string(),
                format!("Invalid trail ARN provided: {bad}")
            );
        }
    }

    #[test]
    fn times_parse_in_the_usual_forms() {
        let expected = at("2024-01-02T09:05:06Z");
        for text in [
            "2024-01-02T09:05:06Z",
            "2024-01-02T09:05:06",
            "2024-01-02 09:05:06",
            "2024-01-02T10:05:06+01:00",
            "20240102T090506Z",
        ] {
            assert_eq!(parse_time(text).expect(text), expected, "{text}");
        }
        assert_eq!(
            parse_time("2024-01-02").expect("date"),
            at("2024-01-02T00:00:00Z")
        );
        assert_eq!(display_time(expected), "2024-01-02T09:05:06Z");
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn digest_keys_are_recognised_and_dated() {
        let fixture = Fixture::new();
        let trail = &fixture.trail;
        let key = trail.digest_key(at("2024-01-02T10:00:00Z"));
        assert!(trail.is_digest_key(&key));
        assert_eq!(digest_key_stamp(&key), "20240102T100000Z");
        let backfill = key.replace(".json.gz", "_backfill.json.gz");
        assert!(trail.is_digest_key(&backfill));
        assert_eq!(digest_key_stamp(&backfill), "20240102T100000Z");
        assert!(!trail.is_digest_key(&key.replace("mytrail", "other")));
        assert!(!trail.is_digest_key(&key.replace("/2024/", "/20x4/")));
        assert!(!trail.is_digest_key(&fixture.log_key("1000")));
        assert_eq!(digest_key_stamp("short"), "");
        assert_eq!(
            trail.digest_prefix(),
            "pre/fix/AWSLogs/123456789012/CloudTrail-Digest/us-east-1"
        );
    }

    #[test]
    fn only_der_rsa_public_keys_pass_the_shape_check() {
        assert!(is_pkcs1_rsa_public_key(key_pair().public_key().as_ref()));
        assert!(!is_pkcs1_rsa_public_key(b""));
        assert!(!is_pkcs1_rsa_public_key(b"\x30\x03\x02\x01\x01"));
        assert!(!is_pkcs1_rsa_public_key(
            b"\x30\x06\x02\x01\x01\x02\x01\x03\x00"
        ));
        assert!(is_pkcs1_rsa_public_key(b"\x30\x06\x02\x01\x01\x02\x01\x03"));
    }
}
