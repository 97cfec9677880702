//! Trail log files: object keys in the AWS S3 layout, the `{"Records":[…]}` body, gzip, and
//! splitting a batch so no file passes the size limit.
//!
//! ```text
//! [<prefix>/]AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz
//! [<prefix>/]AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHmmssZ>.json.gz
//! ```
//!
//! A log file's time is the minute it was delivered; a digest's is its end time, to the
//! second. Date folders follow those times. `<unique>` is 16 alphanumerics derived from a seed
//! (the delivery plan), so redoing a delivery after a crash writes the same key.

use std::io::{Read, Write};
use std::ops::Range;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

/// The largest uncompressed body of one log file. gzip never grows data by more than a few
/// bytes per 32 KiB block, so a file stays under AWS's 50 MB compressed limit.
pub const MAX_FILE_BYTES: usize = 48 * 1024 * 1024;

const ALPHANUMERICS: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The UTC time of `ms` milliseconds since the epoch (the epoch itself when out of range).
pub fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn join_prefix(prefix: Option<&str>, rest: String) -> String {
    match prefix.filter(|prefix| !prefix.is_empty()) {
        Some(prefix) => format!("{prefix}/{rest}"),
        None => rest,
    }
}

fn date_folder(at: OffsetDateTime) -> String {
    format!(
        "{:04}/{:02}/{:02}",
        at.year(),
        u8::from(at.month()),
        at.day()
    )
}

fn stamp(at: OffsetDateTime, seconds: bool) -> String {
    let mut text = format!(
        "{:04}{:02}{:02}T{:02}{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    );
    if seconds {
        text.push_str(&format!("{:02}", at.second()));
    }
    text.push('Z');
    text
}

/// The folder of `account_id`'s files under `AWSLogs/`: `<account>`, or
/// `<organization id>/<account>` for an organization trail.
fn account_folder(org_id: Option<&str>, account_id: &str) -> String {
    match org_id {
        Some(org_id) => format!("{org_id}/{account_id}"),
        None => account_id.to_owned(),
    }
}

/// The key of a log file delivered at `delivered_ms` with records of `account_id` in
/// `region`; `org_id` for an organization trail.
pub fn log_key(
    prefix: Option<&str>,
    org_id: Option<&str>,
    account_id: &str,
    region: &str,
    delivered_ms: i64,
    unique: &str,
) -> String {
    let at = utc(delivered_ms);
    join_prefix(
        prefix,
        format!(
            "AWSLogs/{}/CloudTrail/{region}/{}/{account_id}_CloudTrail_{region}_{}_{unique}.json.gz",
            account_folder(org_id, account_id),
            date_folder(at),
            stamp(at, false)
        ),
    )
}

/// The key of the digest of `region` for trail `trail_name` (home `home_region`) that ends at
/// `end_ms`, for the files of `account_id` (`org_id` for an organization trail).
pub fn digest_key(
    prefix: Option<&str>,
    org_id: Option<&str>,
    account_id: &str,
    region: &str,
    trail_name: &str,
    home_region: &str,
    end_ms: i64,
) -> String {
    let at = utc(end_ms);
    join_prefix(
        prefix,
        format!(
            "AWSLogs/{}/CloudTrail-Digest/{region}/{}/{account_id}_CloudTrail-Digest_{region}_{trail_name}_{home_region}_{}.json.gz",
            account_folder(org_id, account_id),
            date_folder(at),
            stamp(at, true)
        ),
    )
}

/// 16 alphanumerics derived from `seed`.
pub fn unique_string(seed: &[u8]) -> String {
    let hash = Sha256::digest(seed);
    hash.iter()
        .take(16)
        .map(|byte| char::from(ALPHANUMERICS[usize::from(*byte) % ALPHANUMERICS.len()]))
        .collect()
}

/// `{"Records":[r1,r2,…]}` from records that are each one JSON object.
pub fn records_body<'a>(records: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let records: Vec<&[u8]> = records.into_iter().collect();
    let record_bytes = records.iter().map(|record| record.len()).sum();
    let mut body = Vec::with_capacity(body_len(record_bytes, records.len()));
    body.extend_from_slice(b"{\"Records\":[");
    for (index, record) in records.into_iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(record);
    }
    body.extend_from_slice(b"]}");
    body
}

/// The body's length for records of `sizes` bytes.
fn body_len(record_bytes: usize, count: usize) -> usize {
    b"{\"Records\":[]}".len() + record_bytes + count.saturating_sub(1)
}

/// Splits records of the given sizes, in order, into runs whose bodies stay within
/// `max_bytes` (a single larger record gets a file of its own).
pub fn split_by_size(sizes: &[usize], max_bytes: usize) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, size) in sizes.iter().enumerate() {
        let count = index - start;
        if count > 0 && body_len(bytes + size, count + 1) > max_bytes {
            runs.push(start..index);
            start = index;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        runs.push(start..sizes.len());
    }
    runs
}

/// The gzip level of files delivered while delivery keeps up (zlib's default).
pub const DEFAULT_LEVEL: u32 = 6;
/// The gzip level while delivery catches up on a backlog: about 2.3× faster than
/// [`DEFAULT_LEVEL`], files about 1.8× larger.
pub const FAST_LEVEL: u32 = 1;

/// gzip of `data` at [`DEFAULT_LEVEL`] (no file name, zero modification time: the same input
/// gives the same bytes).
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    gzip_at(data, DEFAULT_LEVEL)
}

/// gzip of `data` at `level` (0–9; no file name, zero modification time).
pub fn gzip_at(data: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        Compression::new(level.min(9)),
    );
    encoder.write_all(data)?;
    encoder.finish()
}

/// The data of a gzip file (every member).
pub fn gunzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    MultiGzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-01-02T03:04:05Z
    const AT_MS: i64 = 1_704_164_645_000;

    #[test]
    fn log_keys_follow_the_aws_layout() {
        let key = log_key(
            None,
            None,
            "123456789012",
            "eu-west-1",
            AT_MS,
            "7xgocspSowgK0Gto",
        );
        assert_eq!(
            key,
            "AWSLogs/123456789012/CloudTrail/eu-west-1/2024/01/02/123456789012_CloudTrail_eu-west-1_20240102T0304Z_7xgocspSowgK0Gto.json.gz"
        );
        let prefixed = log_key(
            Some("my/prefix"),
            None,
            "123456789012",
            "us-east-1",
            AT_MS,
            "x",
        );
        assert!(prefixed.starts_with("my/prefix/AWSLogs/123456789012/CloudTrail/us-east-1/"));
        assert_eq!(
            log_key(Some(""), None, "1", "r", AT_MS, "u"),
            log_key(None, None, "1", "r", AT_MS, "u")
        );
        let member = log_key(
            None,
            Some("o-a1b2c3d4e5"),
            "210987654321",
            "us-east-1",
            AT_MS,
            "u",
        );
        assert!(
            member.starts_with(
                "AWSLogs/o-a1b2c3d4e5/210987654321/CloudTrail/us-east-1/2024/01/02/210987654321_CloudTrail_us-east-1_"
            ),
            "{member}"
        );
    }

    #[test]
    fn digest_keys_carry_seconds_and_both_regions() {
        let key = digest_key(
            Some("p"),
            None,
            "123456789012",
            "eu-west-1",
            "t1",
            "us-east-1",
            AT_MS,
        );
        assert_eq!(
            key,
            "p/AWSLogs/123456789012/CloudTrail-Digest/eu-west-1/2024/01/02/123456789012_CloudTrail-Digest_eu-west-1_t1_us-east-1_20240102T030405Z.json.gz"
        );
        let member = digest_key(
            None,
            Some("o-a1b2c3d4e5"),
            "210987654321",
            "eu-west-1",
            "t1",
            "us-east-1",
            AT_MS,
        );
        assert_eq!(
            member,
            "AWSLogs/o-a1b2c3d4e5/210987654321/CloudTrail-Digest/eu-west-1/2024/01/02/210987654321_CloudTrail-Digest_eu-west-1_t1_us-east-1_20240102T030405Z.json.gz"
        );
    }

    #[test]
    fn unique_strings_are_16_alphanumerics_and_stable() {
        let one = unique_string(b"plan-1");
        assert_eq!(one.len(), 16);
        assert!(one.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(one, unique_string(b"plan-1"));
        assert_ne!(one, unique_string(b"plan-2"));
    }

    #[test]
    fn body_and_gzip_round_trip() {
        let records: Vec<&[u8]> = vec![br#"{"a":1}"#, br#"{"b":2}"#];
        let body = records_body(records.iter().copied());
        assert_eq!(body, br#"{"Records":[{"a":1},{"b":2}]}"#);
        let parsed: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(parsed["Records"].as_array().map(Vec::len), Some(2));
        let packed = gzip(&body).expect("gzip");
        assert_eq!(packed, gzip(&body).expect("gzip again"));
        assert_eq!(gunzip(&packed).expect("gunzip"), body);
        assert_eq!(records_body(std::iter::empty()), br#"{"Records":[]}"#);
    }

    #[test]
    fn splitting_keeps_every_record_once_and_bodies_small() {
        let sizes = vec![10, 10, 10, 50, 10, 10];
        let runs = split_by_size(&sizes, 40);
        let covered: Vec<usize> = runs.iter().flat_map(Clone::clone).collect();
        assert_eq!(covered, (0..sizes.len()).collect::<Vec<_>>());
        for run in &runs {
            let bytes: usize = sizes[run.clone()].iter().sum();
            assert!(
                run.len() == 1 || body_len(bytes, run.len()) <= 40,
                "{run:?}"
            );
        }
        assert_eq!(split_by_size(&[], 40), Vec::<Range<usize>>::new());
        assert_eq!(split_by_size(&[1, 1, 1], 1000), vec![0..3]);
    }
}
