//! Server-side AWS Signature Version 4 verification.
//!
//! A request is authenticated either by an `Authorization` header
//! (`AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/service/aws4_request,
//! SignedHeaders=a;b, Signature=hex`) or by a presigned URL (`X-Amz-Algorithm`,
//! `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders` and
//! `X-Amz-Signature` in the query). [`verify`] rebuilds the canonical request the client
//! signed, derives the signing key from the secret that [`SecretLookup`] returns, and compares
//! signatures in constant time.
//!
//! The canonical request follows botocore exactly:
//!
//! - URI: for S3 the raw path as sent; for every other service the raw path with dot segments
//!   and empty segments removed, then URI-encoded once more (so `%20` becomes `%2520`).
//! - Query: pairs percent-decoded, re-encoded with the RFC 3986 unreserved set, sorted by key
//!   then value; `X-Amz-Signature` is left out of presigned URLs.
//! - Headers: the signed names, lowercased, each value trimmed with inner whitespace runs
//!   collapsed to one space, repeated headers joined with `,`.
//! - Payload: the `x-amz-content-sha256` value when present (a hex hash must match the body;
//!   S3's streaming and unsigned markers are used verbatim for S3 only, and ignored for every
//!   other service, as AWS does), otherwise the hex SHA-256 of the body; S3 presigned URLs use
//!   `UNSIGNED-PAYLOAD`.
//!
//! Derived signing keys are cached per (access key, date, region, service) in a small bounded
//! map, so a busy client costs one HMAC per request instead of five.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use hmac::{Hmac, Mac};
use http::StatusCode;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::error::ApiError;

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Payload marker for requests whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Payload marker for aws-chunked uploads with signed chunks.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// Payload marker for aws-chunked uploads with signed chunks and a signed trailer.
pub const STREAMING_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// Payload marker for aws-chunked uploads with unsigned chunks and a trailer.
pub const STREAMING_UNSIGNED_PAYLOAD_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// Hex SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How far a header-signed request's time may be from the server's clock.
pub const MAX_SKEW: time::Duration = time::Duration::minutes(15);
/// The longest lifetime a presigned URL may ask for (seven days).
pub const MAX_PRESIGNED_EXPIRES_SECS: i64 = 604_800;

const SIGNATURE_MISMATCH_MESSAGE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const S3_SIGNATURE_MISMATCH_MESSAGE: &str = "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
const INVALID_TOKEN_MESSAGE: &str = "The security token included in the request is invalid.";
const EXPIRED_TOKEN_MESSAGE: &str = "The security token included in the request is expired";
const MISSING_TOKEN_MESSAGE: &str = "Request is missing Authentication Token";

/// Characters that stay literal in SigV4 URI encoding: the RFC 3986 unreserved set.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Like [`UNRESERVED`], but keeps `/` literal (path encoding).
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

type HmacSha256 = Hmac<Sha256>;

/// Finds the secret access key for an access key id.
pub trait SecretLookup: Send + Sync {
    /// The secret for `access_key_id`, or `None` when the key is unknown.
    fn secret_for(&self, access_key_id: &str) -> Option<String>;
}

impl SecretLookup for HashMap<String, String> {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.get(access_key_id).cloned()
    }
}

impl<F> SecretLookup for F
where
    F: Fn(&str) -> Option<String> + Send + Sync,
{
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self(access_key_id)
    }
}

/// What a successfully verified request proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The access key id from the credential scope.
    pub access_key_id: String,
    /// The region from the credential scope.
    pub region: String,
    /// The signing name from the credential scope (`cloudtrail`, `s3`, ...).
    pub service: String,
    /// The scope date, `yyyymmdd`.
    pub date: String,
    /// The payload hash used in the canonical request (a hex hash or a marker string).
    pub payload_hash: String,
    /// The request signature; the seed of an aws-chunked signature chain.
    pub seed_signature: String,
    /// The derived SigV4 signing key.
    pub signing_key: Vec<u8>,
    /// The request time, `yyyymmddThhmmssZ`, as used in the string to sign.
    pub timestamp: String,
    /// `X-Amz-Security-Token` (header or presigned query), when the client sent one.
    pub session_token: Option<String>,
    /// Whether the request was authenticated by a presigned URL.
    pub presigned: bool,
}

impl Verified {
    /// The credential scope, `yyyymmdd/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// Why a request failed SigV4 verification.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    /// Neither an `Authorization` header nor presigned query parameters.
    #[error("request carries no authentication")]
    Missing,
    /// Authentication is present but malformed; the text says what is wrong.
    #[error("incomplete signature: {0}")]
    Incomplete(String),
    /// The access key id is not known to the server.
    #[error("unknown access key id {0}")]
    UnknownAccessKey(String),
    /// The signature does not match; carries what the server signed for debugging.
    #[error("signature does not match the one calculated by the server")]
    SignatureMismatch {
        /// The string to sign the server computed.
        string_to_sign: String,
        /// The canonical request the server computed.
        canonical_request: String,
    },
    /// The request time is more than 15 minutes away from the server clock.
    #[error("request time {request_time} is more than 15 minutes from server time {server_time}")]
    Skewed {
        /// Request time, `yyyymmddThhmmssZ`.
        request_time: String,
        /// Server time, `yyyymmddThhmmssZ`.
        server_time: String,
    },
    /// A presigned URL used after `X-Amz-Date + X-Amz-Expires`.
    #[error("presigned url has expired")]
    Expired,
    /// `x-amz-content-sha256` is a hash that does not match the body.
    #[error("x-amz-content-sha256 does not match the sha256 of the body")]
    ContentHashMismatch,
    /// The `X-Amz-Security-Token` is missing, unknown or not the one of the temporary key
    /// (or sent with a long-term key).
    #[error("the security token is missing or invalid")]
    InvalidToken,
    /// Temporary credentials used after their expiration.
    #[error("the security token has expired")]
    ExpiredToken,
    /// `x-amz-content-sha256` is neither a known marker nor a hex sha256.
    #[error("x-amz-content-sha256 {0:?} is neither a sha256 hex digest nor a known payload marker")]
    InvalidContentHash(String),
}

impl AuthError {
    /// The error an awsJson service (CloudTrail, EventBridge, Logs, ...) answers with.
    pub fn to_json_error(&self) -> ApiError {
        match self {
            AuthError::Missing => ApiError::new(
                "MissingAuthenticationTokenException",
                StatusCode::FORBIDDEN,
                MISSING_TOKEN_MESSAGE,
            ),
            AuthError::Incomplete(message) => {
                ApiError::client("IncompleteSignatureException", message.clone())
            }
            AuthError::UnknownAccessKey(_) => {
                ApiError::client("UnrecognizedClientException", INVALID_TOKEN_MESSAGE)
            }
            AuthError::SignatureMismatch { .. } | AuthError::ContentHashMismatch => {
                ApiError::client("InvalidSignatureException", SIGNATURE_MISMATCH_MESSAGE)
            }
            AuthError::Skewed {
                request_time,
                server_time,
            } => ApiError::client(
                "InvalidSignatureException",
                skew_message(request_time, server_time),
            ),
            AuthError::Expired => {
                ApiError::client("InvalidSignatureException", "Signature expired")
            }
            AuthError::InvalidContentHash(_) => {
                ApiError::client("InvalidSignatureException", self.to_string())
            }
            AuthError::InvalidToken => {
                ApiError::client("UnrecognizedClientException", INVALID_TOKEN_MESSAGE)
            }
            AuthError::ExpiredToken => {
                ApiError::client("ExpiredTokenException", EXPIRED_TOKEN_MESSAGE)
            }
        }
    }

    /// The error the S3 endpoint answers with.
    pub fn to_s3_error(&self) -> ApiError {
        let forbidden =
            |code: &str, message: &str| ApiError::new(code, StatusCode::FORBIDDEN, message);
        match self {
            AuthError::Missing => forbidden("AccessDenied", "Access Denied"),
            AuthError::Incomplete(message) => {
                ApiError::client("AuthorizationHeaderMalformed", message.clone())
            }
            AuthError::UnknownAccessKey(_) => forbidden(
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            ),
            AuthError::SignatureMismatch { .. } => {
                forbidden("SignatureDoesNotMatch", S3_SIGNATURE_MISMATCH_MESSAGE)
            }
            AuthError::Skewed { .. } => forbidden(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ),
            AuthError::Expired => forbidden("AccessDenied", "Request has expired"),
            AuthError::ContentHashMismatch => ApiError::client(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ),
            AuthError::InvalidToken => ApiError::client(
                "InvalidToken",
                "The provided token is malformed or otherwise invalid.",
            ),
            AuthError::ExpiredToken => {
                ApiError::client("ExpiredToken", "The provided token has expired.")
            }
            AuthError::InvalidContentHash(_) => ApiError::client(
                "InvalidArgument",
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value.",
            ),
        }
    }

    /// The error an awsQuery service (SNS, STS, CloudWatch query) answers with.
    pub fn to_query_error(&self) -> ApiError {
        match self {
            AuthError::Missing => ApiError::new(
                "MissingAuthenticationToken",
                StatusCode::FORBIDDEN,
                MISSING_TOKEN_MESSAGE,
            ),
            AuthError::Incomplete(message) => {
                ApiError::client("IncompleteSignature", message.clone())
            }
            AuthError::UnknownAccessKey(_) => ApiError::new(
                "InvalidClientTokenId",
                StatusCode::FORBIDDEN,
                INVALID_TOKEN_MESSAGE,
            ),
            AuthError::SignatureMismatch { .. } | AuthError::ContentHashMismatch => ApiError::new(
                "SignatureDoesNotMatch",
                StatusCode::FORBIDDEN,
                SIGNATURE_MISMATCH_MESSAGE,
            ),
            AuthError::Skewed {
                request_time,
                server_time,
            } => ApiError::new(
                "SignatureDoesNotMatch",
                StatusCode::FORBIDDEN,
                skew_message(request_time, server_time),
            ),
            AuthError::Expired => ApiError::new(
                "SignatureDoesNotMatch",
                StatusCode::FORBIDDEN,
                "Signature expired",
            ),
            AuthError::InvalidContentHash(_) => ApiError::new(
                "SignatureDoesNotMatch",
                StatusCode::FORBIDDEN,
                self.to_string(),
            ),
            AuthError::InvalidToken => ApiError::new(
                "InvalidClientTokenId",
                StatusCode::FORBIDDEN,
                INVALID_TOKEN_MESSAGE,
            ),
            AuthError::ExpiredToken => ApiError::client("ExpiredToken", EXPIRED_TOKEN_MESSAGE),
        }
    }
}

/// AWS's wording for a request outside the 15-minute window.
fn skew_message(request_time: &str, server_time: &str) -> String {
    let Some(server) = parse_amz_date(server_time) else {
        return format!("Signature expired: {request_time} is outside the allowed time window");
    };
    let shifted = |delta: time::Duration| {
        server
            .checked_add(delta)
            .map_or_else(|| server_time.to_owned(), format_amz_date)
    };
    if request_time <= server_time {
        format!(
            "Signature expired: {request_time} is now earlier than {} ({server_time} - 15 min.)",
            shifted(-MAX_SKEW)
        )
    } else {
        format!(
            "Signature not yet current: {request_time} is still later than {} ({server_time} + 15 min.)",
            shifted(MAX_SKEW)
        )
    }
}

/// Verifies the SigV4 signature of a request.
///
/// `body` is the raw body as received (for aws-chunked uploads, the framed bytes; their
/// chunk signatures are checked separately by [`crate::chunked::decode_aws_chunked`]).
pub fn verify(
    parts: &http::request::Parts,
    body: &[u8],
    lookup: &dyn SecretLookup,
    now: OffsetDateTime,
) -> Result<Verified, AuthError> {
    let query = parts.uri.query().unwrap_or("");
    let presigned_params = query_pairs(query);
    let is_presigned = presigned_params.iter().any(|(key, _)| {
        key == "X-Amz-Signature" || key == "X-Amz-Credential" || key == "X-Amz-Algorithm"
    });
    let authorization = parts.headers.get(http::header::AUTHORIZATION);

    let auth = match (authorization, is_presigned) {
        (Some(_), true) => {
            return Err(AuthError::Incomplete(
                "only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified".to_owned(),
            ));
        }
        (Some(value), false) => parse_authorization_header(value.as_bytes())?,
        (None, true) => parse_presigned(&presigned_params)?,
        (None, false) => return Err(AuthError::Missing),
    };

    let secret = lookup
        .secret_for(&auth.scope.access_key_id)
        .ok_or_else(|| AuthError::UnknownAccessKey(auth.scope.access_key_id.clone()))?;

    let timestamp = match &auth.presigned {
        Some(presigned) => presigned.timestamp.clone(),
        None => request_timestamp(&parts.headers)?,
    };
    let request_time = parse_amz_date(&timestamp).ok_or_else(|| {
        AuthError::Incomplete(format!(
            "date {timestamp:?} must be in ISO 8601 basic format yyyyMMdd'T'HHmmss'Z'"
        ))
    })?;
    if !timestamp.starts_with(&auth.scope.date) {
        return Err(AuthError::Incomplete(format!(
            "date in credential scope {} does not match yyyymmdd from the request date {timestamp}",
            auth.scope.date
        )));
    }
    check_time(&timestamp, request_time, auth.presigned.as_ref(), now)?;

    let is_s3 = auth.scope.service == "s3";
    // Only S3 takes unsigned and streaming payloads: for every other service those markers
    // are ignored and the SHA-256 of the body as received is signed, so a body changed after
    // signing never passes by claiming `UNSIGNED-PAYLOAD`. (A hex hash is checked against the
    // body for every service.)
    let content_sha256 = header_text(&parts.headers, "x-amz-content-sha256")
        .filter(|value| is_s3 || !is_payload_marker(value));
    let body_hash = || hex::encode(Sha256::digest(body));
    let payload_hash = match (&content_sha256, &auth.presigned) {
        (Some(value), _) => value.clone(),
        (None, Some(_)) if is_s3 => UNSIGNED_PAYLOAD.to_owned(),
        (None, _) => body_hash(),
    };
    let hash_to_check = match content_sha256.as_deref() {
        None => None,
        Some(value) if is_payload_marker(value) => None,
        Some(value) if is_sha256_hex(value) => Some(value.to_ascii_lowercase()),
        Some(value) => return Err(AuthError::InvalidContentHash(value.to_owned())),
    };

    let canonical_request = canonical_request(
        parts,
        &auth.signed_headers,
        is_s3,
        auth.presigned.is_some(),
        &payload_hash,
    );
    let scope_text = auth.scope.scope_text();
    let string_to_sign = format!(
        "{ALGORITHM}\n{timestamp}\n{scope_text}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let signing_key = cached_signing_key(
        &auth.scope.access_key_id,
        &secret,
        &auth.scope.date,
        &auth.scope.region,
        &auth.scope.service,
    );
    let expected = hex::encode(hmac_sha256(&signing_key, string_to_sign.as_bytes()));
    let provided = auth.signature.to_ascii_lowercase();
    if !bool::from(expected.as_bytes().ct_eq(provided.as_bytes())) {
        tracing::debug!(%canonical_request, %string_to_sign, "sigv4 signature mismatch");
        return Err(AuthError::SignatureMismatch {
            string_to_sign,
            canonical_request,
        });
    }
    if let Some(claimed) = hash_to_check
        && claimed != body_hash()
    {
        return Err(AuthError::ContentHashMismatch);
    }

    let session_token = match &auth.presigned {
        Some(presigned) => presigned.session_token.clone(),
        None => header_text(&parts.headers, "x-amz-security-token"),
    };
    Ok(Verified {
        access_key_id: auth.scope.access_key_id,
        region: auth.scope.region,
        service: auth.scope.service,
        date: auth.scope.date,
        payload_hash,
        seed_signature: provided,
        signing_key,
        timestamp,
        session_token,
        presigned: auth.presigned.is_some(),
    })
}

/// Whether `value` is one of the unsigned or streaming payload markers of S3.
fn is_payload_marker(value: &str) -> bool {
    matches!(
        value,
        UNSIGNED_PAYLOAD
            | STREAMING_PAYLOAD
            | STREAMING_PAYLOAD_TRAILER
            | STREAMING_UNSIGNED_PAYLOAD_TRAILER
            | "STREAMING-UNSIGNED-PAYLOAD"
    )
}

/// The parsed `Credential=` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    /// Access key id.
    pub access_key_id: String,
    /// `yyyymmdd`.
    pub date: String,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Signing name, e.g. `cloudtrail`.
    pub service: String,
}

impl CredentialScope {
    /// Parses `AKID/yyyymmdd/region/service/aws4_request`.
    pub fn parse(credential: &str) -> Result<CredentialScope, AuthError> {
        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, terminator] = parts.as_slice() else {
            return Err(AuthError::Incomplete(format!(
                "credential {credential:?} must have the form <access key id>/<yyyymmdd>/<region>/<service>/aws4_request"
            )));
        };
        if *terminator != "aws4_request" {
            return Err(AuthError::Incomplete(format!(
                "credential scope must end with aws4_request, not {terminator:?}"
            )));
        }
        if access_key_id.is_empty() || region.is_empty() || service.is_empty() {
            return Err(AuthError::Incomplete(format!(
                "credential {credential:?} has an empty access key id, region or service"
            )));
        }
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthError::Incomplete(format!(
                "credential date {date:?} must be yyyymmdd"
            )));
        }
        Ok(CredentialScope {
            access_key_id: (*access_key_id).to_owned(),
            date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
        })
    }

    fn scope_text(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The credential scope of a request without verifying anything: from the `Authorization`
/// header or the presigned `X-Amz-Credential` parameter. Used for routing.
pub fn credential_scope(parts: &http::request::Parts) -> Option<CredentialScope> {
    if let Some(value) = parts.headers.get(http::header::AUTHORIZATION) {
        return parse_authorization_header(value.as_bytes())
            .ok()
            .map(|auth| auth.scope);
    }
    let query = parts.uri.query()?;
    query_pairs(query)
        .into_iter()
        .find(|(key, _)| key == "X-Amz-Credential")
        .and_then(|(_, value)| CredentialScope::parse(&value).ok())
}

#[derive(Debug)]
struct ParsedAuth {
    scope: CredentialScope,
    signed_headers: Vec<String>,
    signature: String,
    presigned: Option<Presigned>,
}

#[derive(Debug)]
struct Presigned {
    timestamp: String,
    expires_secs: i64,
    session_token: Option<String>,
}

fn parse_authorization_header(value: &[u8]) -> Result<ParsedAuth, AuthError> {
    let text = std::str::from_utf8(value)
        .map_err(|_| AuthError::Incomplete("authorization header is not valid utf-8".to_owned()))?
        .trim();
    let Some((algorithm, rest)) = text.split_once(char::is_whitespace) else {
        return Err(AuthError::Incomplete(format!(
            "authorization header must start with {ALGORITHM} followed by Credential, SignedHeaders and Signature"
        )));
    };
    if algorithm != ALGORITHM {
        return Err(AuthError::Incomplete(format!(
            "unsupported authorization algorithm {algorithm:?}; only {ALGORITHM} is accepted"
        )));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for component in rest.split(',') {
        let component = component.trim();
        if component.is_empty() {
            continue;
        }
        let Some((key, value)) = component.split_once('=') else {
            return Err(AuthError::Incomplete(format!(
                "authorization component {component:?} is not a key=value pair"
            )));
        };
        match key.trim() {
            "Credential" => credential = Some(value.trim()),
            "SignedHeaders" => signed_headers = Some(value.trim()),
            "Signature" => signature = Some(value.trim()),
            _ => {}
        }
    }
    let missing: Vec<&str> = [
        ("Credential", credential.is_none()),
        ("SignedHeaders", signed_headers.is_none()),
        ("Signature", signature.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, absent)| absent.then_some(name))
    .collect();
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(AuthError::Incomplete(format!(
            "Authorization header requires '{}' parameter(s)",
            missing.join("', '")
        )));
    };
    Ok(ParsedAuth {
        scope: CredentialScope::parse(credential)?,
        signed_headers: parse_signed_headers(signed_headers)?,
        signature: parse_signature(signature)?,
        presigned: None,
    })
}

fn parse_presigned(params: &[(String, String)]) -> Result<ParsedAuth, AuthError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let required = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ];
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|name| get(name).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(AuthError::Incomplete(format!(
            "presigned url is missing query parameter(s) {}",
            missing.join(", ")
        )));
    }
    let value = |name: &str| get(name).unwrap_or_default();
    let algorithm = value("X-Amz-Algorithm");
    if algorithm != ALGORITHM {
        return Err(AuthError::Incomplete(format!(
            "X-Amz-Algorithm {algorithm:?} is not supported; only {ALGORITHM} is accepted"
        )));
    }
    let expires = value("X-Amz-Expires");
    let expires_secs: i64 = expires.parse().map_err(|_| {
        AuthError::Incomplete(format!(
            "X-Amz-Expires {expires:?} must be a number of seconds"
        ))
    })?;
    if !(1..=MAX_PRESIGNED_EXPIRES_SECS).contains(&expires_secs) {
        return Err(AuthError::Incomplete(format!(
            "X-Amz-Expires must be between 1 and {MAX_PRESIGNED_EXPIRES_SECS} seconds, got {expires_secs}"
        )));
    }
    Ok(ParsedAuth {
        scope: CredentialScope::parse(value("X-Amz-Credential"))?,
        signed_headers: parse_signed_headers(value("X-Amz-SignedHeaders"))?,
        signature: parse_signature(value("X-Amz-Signature"))?,
        presigned: Some(Presigned {
            timestamp: value("X-Amz-Date").to_owned(),
            expires_secs,
            session_token: get("X-Amz-Security-Token").map(str::to_owned),
        }),
    })
}

fn parse_signed_headers(text: &str) -> Result<Vec<String>, AuthError> {
    let names: Vec<String> = text
        .split(';')
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    if names.iter().any(String::is_empty) {
        return Err(AuthError::Incomplete(format!(
            "SignedHeaders {text:?} must be a ';'-separated list of header names"
        )));
    }
    if !names.iter().any(|name| name == "host") {
        return Err(AuthError::Incomplete(
            "SignedHeaders must include the host header".to_owned(),
        ));
    }
    Ok(names)
}

fn parse_signature(text: &str) -> Result<String, AuthError> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::Incomplete(
            "Signature must be 64 hexadecimal characters".to_owned(),
        ));
    }
    Ok(text.to_owned())
}

fn request_timestamp(headers: &http::HeaderMap) -> Result<String, AuthError> {
    if let Some(value) = header_text(headers, "x-amz-date") {
        return Ok(value);
    }
    if let Some(value) = header_text(headers, "date") {
        return parse_http_date(&value).map(format_amz_date).ok_or_else(|| {
            AuthError::Incomplete(format!("Date header {value:?} is not an http date"))
        });
    }
    Err(AuthError::Incomplete(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header"
            .to_owned(),
    ))
}

fn check_time(
    timestamp: &str,
    request_time: OffsetDateTime,
    presigned: Option<&Presigned>,
    now: OffsetDateTime,
) -> Result<(), AuthError> {
    let skewed = || AuthError::Skewed {
        request_time: timestamp.to_owned(),
        server_time: format_amz_date(now),
    };
    match presigned {
        Some(presigned) => {
            // Checked arithmetic: request times near year 9999 must not overflow.
            let not_before = request_time.checked_sub(MAX_SKEW);
            if not_before.is_none_or(|not_before| not_before > now) {
                return Err(skewed());
            }
            let expires_at =
                request_time.checked_add(time::Duration::seconds(presigned.expires_secs));
            if expires_at.is_none_or(|expires_at| now > expires_at) {
                return Err(AuthError::Expired);
            }
        }
        None => {
            if (request_time - now).abs() > MAX_SKEW {
                return Err(skewed());
            }
        }
    }
    Ok(())
}

/// Builds the canonical request exactly as botocore signs it.
pub(crate) fn canonical_request(
    parts: &http::request::Parts,
    signed_headers: &[String],
    is_s3: bool,
    presigned: bool,
    payload_hash: &str,
) -> String {
    let raw_path = parts.uri.path();
    let canonical_uri = if is_s3 {
        if raw_path.is_empty() {
            "/".to_owned()
        } else {
            raw_path.to_owned()
        }
    } else {
        utf8_percent_encode(&normalize_path(raw_path), UNRESERVED_AND_SLASH).to_string()
    };
    let canonical_query = canonical_query(parts.uri.query().unwrap_or(""), presigned);
    let mut canonical_headers = String::new();
    for name in signed_headers {
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&canonical_header_value(parts, name));
        canonical_headers.push('\n');
    }
    format!(
        "{}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{}\n{payload_hash}",
        parts.method.as_str(),
        signed_headers.join(";")
    )
}

/// Removes empty and `.` segments and resolves `..` (RFC 3986 §5.2.4 plus AWS's double-slash
/// rule), keeping a leading and trailing slash.
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let leading = if path.starts_with('/') { "/" } else { "" };
    let trailing = if path.ends_with('/') && !segments.is_empty() {
        "/"
    } else {
        ""
    };
    format!("{leading}{}{trailing}", segments.join("/"))
}

fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = reencode(key);
            if presigned && key == "X-Amz-Signature" {
                return None;
            }
            Some((key, reencode(value)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-decodes then encodes with the unreserved set (`%20`, never `+`).
fn reencode(component: &str) -> String {
    let decoded: Vec<u8> = percent_decode_str(component).collect();
    percent_encoding::percent_encode(&decoded, UNRESERVED).to_string()
}

fn canonical_header_value(parts: &http::request::Parts, name: &str) -> String {
    let values: Vec<String> = parts
        .headers
        .get_all(name)
        .iter()
        .map(|value| collapse_whitespace(&String::from_utf8_lossy(value.as_bytes())))
        .collect();
    if values.is_empty() && name == "host" {
        return parts
            .uri
            .authority()
            .map(|authority| authority.as_str().to_owned())
            .unwrap_or_default();
    }
    values.join(",")
}

fn collapse_whitespace(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn header_text(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned())
}

/// Query pairs, percent-decoded (a `+` stays a literal `+`).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode_str(key).decode_utf8_lossy().into_owned(),
                percent_decode_str(value).decode_utf8_lossy().into_owned(),
            )
        })
        .collect()
}

fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("hmac accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Derives the SigV4 signing key (no caching).
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

const KEY_CACHE_CAPACITY: usize = 256;

type KeyCacheKey = (String, String, String, String);

struct CachedKey {
    secret: String,
    key: Vec<u8>,
}

fn key_cache() -> &'static Mutex<HashMap<KeyCacheKey, CachedKey>> {
    static CACHE: OnceLock<Mutex<HashMap<KeyCacheKey, CachedKey>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// [`signing_key`] through the process-wide bounded cache. The secret is part of the entry, so
/// a rotated secret never reuses a stale key.
fn cached_signing_key(
    access_key_id: &str,
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
) -> Vec<u8> {
    let cache_key = (
        access_key_id.to_owned(),
        date.to_owned(),
        region.to_owned(),
        service.to_owned(),
    );
    {
        let cache = key_cache()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(entry) = cache.get(&cache_key)
            && bool::from(entry.secret.as_bytes().ct_eq(secret.as_bytes()))
        {
            return entry.key.clone();
        }
    }
    let key = signing_key(secret, date, region, service);
    let mut cache = key_cache()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if cache.len() >= KEY_CACHE_CAPACITY {
        cache.clear();
    }
    cache.insert(
        cache_key,
        CachedKey {
            secret: secret.to_owned(),
            key: key.clone(),
        },
    );
    key
}

/// Parses `yyyymmddThhmmssZ`.
pub fn parse_amz_date(text: &str) -> Option<OffsetDateTime> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = text.get(range)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(number(4..6)?).ok()?).ok()?;
    let day = u8::try_from(number(6..8)?).ok()?;
    let hour = u8::try_from(number(9..11)?).ok()?;
    let minute = u8::try_from(number(11..13)?).ok()?;
    let second = u8::try_from(number(13..15)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Formats a time as `yyyymmddThhmmssZ` (UTC).
pub fn format_amz_date(time: OffsetDateTime) -> String {
    // Out-of-range conversions only happen for years near ±9999; keep the original fields.
    let utc = time.checked_to_offset(time::UtcOffset::UTC).unwrap_or(time);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

/// Parses an RFC 1123 / RFC 2822 date as sent in a `Date` header, e.g.
/// `Fri, 14 Mar 2025 15:09:26 GMT` or `Fri, 14 Mar 2025 15:09:26 -0000`.
pub fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let text = match text.split_once(',') {
        Some((_, rest)) => rest.trim(),
        None => text,
    };
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [day, month, year, clock, zone] = fields.as_slice() else {
        return None;
    };
    let day: u8 = day.parse().ok()?;
    let month = match month.to_ascii_lowercase().as_str() {
        "jan" => Month::January,
        "feb" => Month::February,
        "mar" => Month::March,
        "apr" => Month::April,
        "may" => Month::May,
        "jun" => Month::June,
        "jul" => Month::July,
        "aug" => Month::August,
        "sep" => Month::September,
        "oct" => Month::October,
        "nov" => Month::November,
        "dec" => Month::December,
        _ => return None,
    };
    let year: i32 = year.parse().ok()?;
    let clock: Vec<&str> = clock.split(':').collect();
    let [hour, minute, second] = clock.as_slice() else {
        return None;
    };
    let time = Time::from_hms(
        hour.parse().ok()?,
        minute.parse().ok()?,
        second.parse().ok()?,
    )
    .ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let offset_secs: i32 = match *zone {
        "GMT" | "UTC" | "UT" | "Z" => 0,
        signed if signed.len() == 5 && (signed.starts_with('+') || signed.starts_with('-')) => {
            let hours: i32 = signed.get(1..3)?.parse().ok()?;
            let minutes: i32 = signed.get(3..5)?.parse().ok()?;
            let magnitude = hours * 3600 + minutes * 60;
            if signed.starts_with('-') {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return None,
    };
    let offset = time::UtcOffset::from_whole_seconds(offset_secs).ok()?;
    PrimitiveDateTime::new(date, time)
        .assume_offset(offset)
        .checked_to_offset(time::UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_path_matches_botocore() {
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("/a/./b//c/../d/"), "/a/b/d/");
        assert_eq!(normalize_path("/../.."), "/");
        assert_eq!(normalize_path("/a%20b"), "/a%20b");
    }

    #[test]
    fn canonical_query_sorts_and_reencodes() {
        assert_eq!(
            canonical_query("prefix=a%20b&encoding-type=url&list-type=2&empty", false),
            "empty=&encoding-type=url&list-type=2&prefix=a%20b"
        );
        assert_eq!(canonical_query("k=a+b&k=%2a", false), "k=%2A&k=a%2Bb");
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&b=1", true),
            "b=1",
            "presigned urls leave the signature out"
        );
        assert_eq!(canonical_query("", false), "");
        assert_eq!(canonical_query("bad=%zz%", false), "bad=%25zz%25");
    }

    #[test]
    fn amz_dates_round_trip_and_reject_garbage() {
        let parsed = parse_amz_date("20250314T150926Z").expect("valid date");
        assert_eq!(format_amz_date(parsed), "20250314T150926Z");
        for bad in [
            "",
            "20250314T150926",
            "2025031AT150926Z",
            "20251314T150926Z",
            "20250314T250926Z",
            "２0250314T150926Z",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn http_dates_parse_with_zones() {
        let expected = parse_amz_date("20250314T150926Z");
        assert_eq!(parse_http_date("Fri, 14 Mar 2025 15:09:26 GMT"), expected);
        assert_eq!(parse_http_date("Fri, 14 Mar 2025 15:09:26 -0000"), expected);
        assert_eq!(parse_http_date("Fri, 14 Mar 2025 16:09:26 +0100"), expected);
        assert!(parse_http_date("yesterday").is_none());
        assert!(parse_http_date("Fri, 14 Foo 2025 15:09:26 GMT").is_none());
    }

    #[test]
    fn extreme_dates_do_not_overflow() {
        assert!(parse_http_date("Fri, 31 Dec 9999 23:30:00 -0100").is_none());
        let now = parse_amz_date("20250314T150926Z").expect("valid");
        let far = parse_amz_date("99991231T235959Z").expect("valid");
        let presigned = Presigned {
            timestamp: "99991231T235959Z".to_owned(),
            expires_secs: MAX_PRESIGNED_EXPIRES_SECS,
            session_token: None,
        };
        assert!(matches!(
            check_time("99991231T235959Z", far, Some(&presigned), now),
            Err(AuthError::Skewed { .. })
        ));
        assert_eq!(
            check_time("99991231T235959Z", far, Some(&presigned), far),
            Err(AuthError::Expired),
            "an expiry past year 9999 cannot be represented and counts as expired"
        );
        assert!(
            check_time(
                "00000101T000000Z",
                parse_amz_date("00000101T000000Z").expect("year 0"),
                None,
                now
            )
            .is_err()
        );
        let message = skew_message("99991231T235959Z", "99991231T235959Z");
        assert!(message.starts_with("Signature expired"), "{message}");
    }

    #[test]
    fn authorization_header_parsing_reports_what_is_missing() {
        let err = parse_authorization_header(
            b"AWS4-HMAC-SHA256 Credential=AKID/20250314/us-east-1/s3/aws4_request",
        )
        .expect_err("incomplete");
        assert!(
            matches!(&err, AuthError::Incomplete(message) if message.contains("SignedHeaders") && message.contains("Signature")),
            "{err:?}"
        );
        let err = parse_authorization_header(b"AWS AKID:signature").expect_err("sigv2");
        assert!(matches!(err, AuthError::Incomplete(_)));
        let err = parse_authorization_header(b"\xff\xfe").expect_err("binary");
        assert!(matches!(err, AuthError::Incomplete(_)));
        let sig = "0".repeat(64);
        let ok = parse_authorization_header(
            format!("AWS4-HMAC-SHA256 Credential=AKID/20250314/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date,Signature={sig}").as_bytes(),
        )
        .expect("valid");
        assert_eq!(ok.scope.service, "s3");
        assert_eq!(ok.signed_headers, vec!["host", "x-amz-date"]);
    }

    #[test]
    fn credential_scope_rejects_bad_shapes() {
        for bad in [
            "AKID/20250314/us-east-1/s3",
            "AKID/20250314/us-east-1/s3/aws4",
            "AKID/2025031/us-east-1/s3/aws4_request",
            "/20250314/us-east-1/s3/aws4_request",
            "AKID/20250314/us-east-1/s3/aws4_request/extra",
        ] {
            assert!(
                CredentialScope::parse(bad).is_err(),
                "{bad:?} must be rejected"
            );
        }
    }

    #[test]
    fn skew_messages_follow_aws_wording() {
        let past = AuthError::Skewed {
            request_time: "20250314T120000Z".to_owned(),
            server_time: "20250314T130000Z".to_owned(),
        };
        assert_eq!(
            past.to_json_error().message,
            "Signature expired: 20250314T120000Z is now earlier than 20250314T124500Z (20250314T130000Z - 15 min.)"
        );
        let future = AuthError::Skewed {
            request_time: "20250314T140000Z".to_owned(),
            server_time: "20250314T130000Z".to_owned(),
        };
        assert_eq!(
            future.to_json_error().message,
            "Signature not yet current: 20250314T140000Z is still later than 20250314T131500Z (20250314T130000Z + 15 min.)"
        );
        assert_eq!(future.to_s3_error().code, "RequestTimeTooSkewed");
        assert_eq!(future.to_s3_error().status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn error_mappings_match_aws() {
        let missing = AuthError::Missing;
        assert_eq!(
            missing.to_json_error().code,
            "MissingAuthenticationTokenException"
        );
        assert_eq!(missing.to_json_error().status, StatusCode::FORBIDDEN);
        assert_eq!(missing.to_query_error().code, "MissingAuthenticationToken");
        assert_eq!(missing.to_s3_error().code, "AccessDenied");

        let unknown = AuthError::UnknownAccessKey("AKID".to_owned());
        assert_eq!(unknown.to_json_error().code, "UnrecognizedClientException");
        assert_eq!(unknown.to_json_error().status, StatusCode::BAD_REQUEST);
        assert_eq!(unknown.to_s3_error().code, "InvalidAccessKeyId");
        assert_eq!(unknown.to_s3_error().status, StatusCode::FORBIDDEN);

        let mismatch = AuthError::SignatureMismatch {
            string_to_sign: String::new(),
            canonical_request: String::new(),
        };
        assert_eq!(mismatch.to_json_error().code, "InvalidSignatureException");
        assert_eq!(mismatch.to_json_error().message, SIGNATURE_MISMATCH_MESSAGE);
        assert_eq!(mismatch.to_query_error().code, "SignatureDoesNotMatch");
        assert_eq!(mismatch.to_query_error().status, StatusCode::FORBIDDEN);
        assert_eq!(
            mismatch.to_s3_error().message,
            S3_SIGNATURE_MISMATCH_MESSAGE
        );

        assert_eq!(
            AuthError::Expired.to_s3_error().message,
            "Request has expired"
        );
        assert_eq!(
            AuthError::ContentHashMismatch.to_s3_error().code,
            "XAmzContentSHA256Mismatch"
        );
        assert_eq!(
            AuthError::ContentHashMismatch.to_s3_error().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            AuthError::Incomplete("x".to_owned()).to_json_error().code,
            "IncompleteSignatureException"
        );
    }

    #[test]
    fn signing_key_matches_aws_documentation_example() {
        // From the AWS SigV4 documentation ("Examples of how to derive a signing key").
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn cached_key_is_not_reused_after_secret_rotation() {
        let first = cached_signing_key("AKROT", "secret-one", "20250314", "us-east-1", "s3");
        let second = cached_signing_key("AKROT", "secret-two", "20250314", "us-east-1", "s3");
        assert_ne!(first, second);
        assert_eq!(
            second,
            signing_key("secret-two", "20250314", "us-east-1", "s3")
        );
    }

    /// A request whose signature covers `UNSIGNED-PAYLOAD` instead of its body's hash.
    fn signed_unsigned(service: &str) -> (http::request::Parts, OffsetDateTime) {
        let timestamp = "20250314T150926Z";
        let (mut parts, ()) = http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:4599/")
            .header("host", "127.0.0.1:4599")
            .header("x-amz-date", timestamp)
            .header("x-amz-content-sha256", UNSIGNED_PAYLOAD)
            .body(())
            .expect("request")
            .into_parts();
        let signed = vec![
            "host".to_owned(),
            "x-amz-content-sha256".to_owned(),
            "x-amz-date".to_owned(),
        ];
        let is_s3 = service == "s3";
        let canonical = canonical_request(&parts, &signed, is_s3, false, UNSIGNED_PAYLOAD);
        let scope = format!("20250314/us-east-1/{service}/aws4_request");
        let to_sign = format!(
            "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = signing_key("secret", "20250314", "us-east-1", service);
        let signature = hex::encode(hmac_sha256(&key, to_sign.as_bytes()));
        let authorization = format!(
            "{ALGORITHM} Credential=AKIDTEST/{scope}, SignedHeaders={}, Signature={signature}",
            signed.join(";")
        );
        parts.headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&authorization).expect("header"),
        );
        (parts, parse_amz_date(timestamp).expect("date"))
    }

    #[test]
    fn only_s3_takes_an_unsigned_payload() {
        let secrets: HashMap<String, String> =
            HashMap::from([("AKIDTEST".to_owned(), "secret".to_owned())]);
        let body = br#"{"ResourceId":"swapped after signing"}"#;
        let (parts, now) = signed_unsigned("s3");
        assert!(
            verify(&parts, body, &secrets, now).is_ok(),
            "S3 accepts UNSIGNED-PAYLOAD"
        );
        let (parts, now) = signed_unsigned("cloudtrail");
        assert!(
            matches!(
                verify(&parts, body, &secrets, now),
                Err(AuthError::SignatureMismatch { .. })
            ),
            "other services sign the body itself"
        );
    }
}
