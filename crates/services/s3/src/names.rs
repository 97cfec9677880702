//! Bucket naming rules (general purpose buckets), as S3 enforces them on CreateBucket.

use super::error::S3Error;

const FORBIDDEN_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
const FORBIDDEN_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// Checks `name` against the S3 bucket naming rules.
pub fn validate_bucket_name(name: &str) -> Result<(), S3Error> {
    let invalid = |reason: &str| S3Error::InvalidBucketName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if !(3..=63).contains(&name.len()) {
        return Err(invalid("bucket names must be 3 to 63 characters long"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err(invalid(
            "bucket names may contain only lower-case letters, digits, dots and hyphens",
        ));
    }
    let alphanumeric =
        |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !alphanumeric(name.bytes().next()) || !alphanumeric(name.bytes().last()) {
        return Err(invalid(
            "bucket names must begin and end with a letter or digit",
        ));
    }
    if name.contains("..") {
        return Err(invalid("bucket names must not contain two adjacent dots"));
    }
    if name.split('.').count() == 4 && name.split('.').all(|part| part.parse::<u8>().is_ok()) {
        return Err(invalid(
            "bucket names must not be formatted as an IP address",
        ));
    }
    if let Some(prefix) = FORBIDDEN_PREFIXES.iter().find(|p| name.starts_with(*p)) {
        return Err(invalid(&format!(
            "bucket names must not start with {prefix:?}"
        )));
    }
    if let Some(suffix) = FORBIDDEN_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        return Err(invalid(&format!(
            "bucket names must not end with {suffix:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "abc",
            "my-bucket",
            "logs.example.com",
            "a1b",
            &"a".repeat(63),
            "123",
        ] {
            assert!(validate_bucket_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_what_s3_rejects() {
        for name in [
            "ab",
            &"a".repeat(64),
            "Upper",
            "under_score",
            "-start",
            "end-",
            ".dot",
            "a..b",
            "192.168.5.4",
            "xn--abc",
            "sthree-x",
            "amzn-s3-demo-bucket",
            "x-s3alias",
            "x--ol-s3",
            "x.mrap",
            "x--x-s3",
            "x--table-s3",
            "spa ce",
            "ünï",
        ] {
            let err = validate_bucket_name(name).expect_err(name);
            assert_eq!(err.code(), "InvalidBucketName", "{name}");
        }
    }
}
