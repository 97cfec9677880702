//! Digest files of log file integrity validation: the JSON document, the exact string that is
//! signed, and the hashes.
//!
//! A digest lists the log files a trail delivered in one region during `[digestStartTime,
//! digestEndTime]` with the SHA-256 of each file's *uncompressed* bytes, and chains to the
//! previous digest by its location, hash and signature. The signature (over
//! [`string_to_sign`]) is not in the document: it travels as the object's
//! `x-amz-meta-signature`, with `x-amz-meta-signature-algorithm: SHA256withRSA`.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::logfile::utc;

/// `digestSignatureAlgorithm` and the `signature-algorithm` user metadata.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
/// `hashAlgorithm` of log files and `previousDigestHashAlgorithm`.
pub const HASH_ALGORITHM: &str = "SHA-256";

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A record or digest time: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_time(ms: i64) -> String {
    opentrail_model::time::format_event_time(utc(ms))
}

/// One delivered log file as a digest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestLogFile {
    pub s3_bucket: String,
    pub s3_object: String,
    /// Hex SHA-256 of the uncompressed file.
    pub hash_value: String,
    pub hash_algorithm: String,
    pub newest_event_time: String,
    pub oldest_event_time: String,
}

/// The digest a new digest chains to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PreviousDigest {
    pub bucket: String,
    pub key: String,
    /// Hex SHA-256 of the previous digest's uncompressed bytes.
    pub hash_value: String,
    /// Hex signature of the previous digest.
    pub signature: String,
}

/// What a digest document says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestInput {
    pub account_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub bucket: String,
    pub key: String,
    pub fingerprint: String,
    /// `None` for a starting digest (all `previous*` members `null`).
    pub previous: Option<PreviousDigest>,
    pub log_files: Vec<DigestLogFile>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DigestDocument<'a> {
    aws_account_id: &'a str,
    digest_start_time: String,
    digest_end_time: String,
    #[serde(rename = "digestS3Bucket")]
    digest_s3_bucket: &'a str,
    #[serde(rename = "digestS3Object")]
    digest_s3_object: &'a str,
    digest_public_key_fingerprint: &'a str,
    digest_signature_algorithm: &'a str,
    newest_event_time: Option<&'a str>,
    oldest_event_time: Option<&'a str>,
    #[serde(rename = "previousDigestS3Bucket")]
    previous_digest_s3_bucket: Option<&'a str>,
    #[serde(rename = "previousDigestS3Object")]
    previous_digest_s3_object: Option<&'a str>,
    previous_digest_hash_value: Option<&'a str>,
    previous_digest_hash_algorithm: Option<&'a str>,
    previous_digest_signature: Option<&'a str>,
    log_files: &'a [DigestLogFile],
}

impl DigestInput {
    /// `digestEndTime` as the document (and the string to sign) writes it.
    pub fn end_time(&self) -> String {
        format_time(self.end_ms)
    }

    /// The uncompressed digest document: members in AWS's order, deterministic.
    pub fn to_json(&self) -> Vec<u8> {
        let newest = self
            .log_files
            .iter()
            .map(|file| file.newest_event_time.as_str())
            .max();
        let oldest = self
            .log_files
            .iter()
            .map(|file| file.oldest_event_time.as_str())
            .min();
        let previous = self.previous.as_ref();
        let document = DigestDocument {
            aws_account_id: &self.account_id,
            digest_start_time: format_time(self.start_ms),
            digest_end_time: self.end_time(),
            digest_s3_bucket: &self.bucket,
            digest_s3_object: &self.key,
            digest_public_key_fingerprint: &self.fingerprint,
            digest_signature_algorithm: SIGNATURE_ALGORITHM,
            newest_event_time: newest,
            oldest_event_time: oldest,
            previous_digest_s3_bucket: previous.map(|p| p.bucket.as_str()),
            previous_digest_s3_object: previous.map(|p| p.key.as_str()),
            previous_digest_hash_value: previous.map(|p| p.hash_value.as_str()),
            previous_digest_hash_algorithm: previous.map(|_| HASH_ALGORITHM),
            previous_digest_signature: previous.map(|p| p.signature.as_str()),
            log_files: &self.log_files,
        };
        // Serializing plain strings and options cannot fail.
        serde_json::to_vec(&document).unwrap_or_default()
    }

    /// The string signed for this digest, whose uncompressed bytes are `document`.
    pub fn string_to_sign(&self, document: &[u8]) -> String {
        string_to_sign(
            &self.end_time(),
            &self.bucket,
            &self.key,
            &sha256_hex(document),
            self.previous.as_ref().map(|p| p.signature.as_str()),
        )
    }
}

/// `<digestEndTime>\n<bucket>/<key>\n<hex sha256 of the uncompressed digest>\n<previous
/// signature or "null">`, as the AWS CLI rebuilds it to verify.
pub fn string_to_sign(
    end_time: &str,
    bucket: &str,
    key: &str,
    digest_sha256_hex: &str,
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{end_time}\n{bucket}/{key}\n{digest_sha256_hex}\n{}",
        previous_signature.unwrap_or("null")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(previous: Option<PreviousDigest>, log_files: Vec<DigestLogFile>) -> DigestInput {
        DigestInput {
            account_id: "123456789012".into(),
            start_ms: 1_704_164_645_000,
            end_ms: 1_704_168_245_000,
            bucket: "bucket".into(),
            key: "AWSLogs/x.json.gz".into(),
            fingerprint: "0123456789abcdef0123456789abcdef".into(),
            previous,
            log_files,
        }
    }

    #[test]
    fn starting_digest_has_null_previous_members_and_no_event_times() {
        let document = input(None, Vec::new()).to_json();
        let value: serde_json::Value = serde_json::from_slice(&document).expect("json");
        assert_eq!(value["digestStartTime"], "2024-01-02T03:04:05Z");
        assert_eq!(value["digestEndTime"], "2024-01-02T04:04:05Z");
        assert_eq!(value["digestS3Bucket"], "bucket");
        assert_eq!(value["digestSignatureAlgorithm"], "SHA256withRSA");
        for member in [
            "previousDigestS3Bucket",
            "previousDigestS3Object",
            "previousDigestHashValue",
            "previousDigestHashAlgorithm",
            "previousDigestSignature",
            "newestEventTime",
            "oldestEventTime",
        ] {
            assert!(value[member].is_null(), "{member}");
            assert!(value.get(member).is_some(), "{member} is present");
        }
        assert_eq!(value["logFiles"], serde_json::json!([]));
        let text = String::from_utf8(document).expect("utf-8");
        assert!(text.starts_with(r#"{"awsAccountId":"123456789012","digestStartTime""#));
    }

    #[test]
    fn chained_digest_lists_files_and_event_range() {
        let file = |name: &str, oldest: &str, newest: &str| DigestLogFile {
            s3_bucket: "bucket".into(),
            s3_object: name.into(),
            hash_value: sha256_hex(name.as_bytes()),
            hash_algorithm: HASH_ALGORITHM.into(),
            newest_event_time: newest.into(),
            oldest_event_time: oldest.into(),
        };
        let previous = PreviousDigest {
            bucket: "bucket".into(),
            key: "prev".into(),
            hash_value: "ab".into(),
            signature: "cd".into(),
        };
        let digest = input(
            Some(previous),
            vec![
                file("a", "2024-01-02T03:00:00Z", "2024-01-02T03:10:00Z"),
                file("b", "2024-01-02T02:59:00Z", "2024-01-02T03:05:00Z"),
            ],
        );
        let document = digest.to_json();
        let value: serde_json::Value = serde_json::from_slice(&document).expect("json");
        assert_eq!(value["newestEventTime"], "2024-01-02T03:10:00Z");
        assert_eq!(value["oldestEventTime"], "2024-01-02T02:59:00Z");
        assert_eq!(value["previousDigestHashAlgorithm"], "SHA-256");
        assert_eq!(value["previousDigestSignature"], "cd");
        assert_eq!(value["logFiles"][1]["s3Object"], "b");
        assert_eq!(value["logFiles"][0]["hashAlgorithm"], "SHA-256");
        let signed = digest.string_to_sign(&document);
        assert_eq!(
            signed,
            format!(
                "2024-01-02T04:04:05Z\nbucket/AWSLogs/x.json.gz\n{}\ncd",
                sha256_hex(&document)
            )
        );
    }

    #[test]
    fn string_to_sign_uses_literal_null_without_previous() {
        assert_eq!(
            string_to_sign("2015-08-17T15:01:31Z", "b", "k", "00ff", None),
            "2015-08-17T15:01:31Z\nb/k\n00ff\nnull"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
