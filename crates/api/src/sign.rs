//! Client-side AWS Signature Version 4 signing, for opentrail's own clients (the
//! `opentrail validate-logs` command calling CloudTrail).
//!
//! [`sign_request`] builds the canonical request with the same code the verifier in
//! [`crate::sigv4`] uses, so a request it signs verifies there by construction; it signs every
//! header present except the ones proxies and HTTP stacks change (`user-agent`, `expect`,
//! `x-amzn-trace-id`, hop-by-hop headers), as botocore does.

use http::HeaderValue;
use http::header::{AUTHORIZATION, HOST};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::sigv4::{ALGORITHM, canonical_request, format_amz_date, hmac_sha256, signing_key};

/// Headers never signed: clients and proxies add or rewrite them.
const UNSIGNED_HEADERS: &[&str] = &[
    "authorization",
    "user-agent",
    "expect",
    "x-amzn-trace-id",
    "connection",
    "transfer-encoding",
];

/// The credentials a request is signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Sent as `X-Amz-Security-Token` (and signed) when present.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Who signs, for which scope, at what time.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    pub credentials: &'a Credentials,
    /// e.g. `us-east-1`.
    pub region: &'a str,
    /// The signing name, e.g. `cloudtrail`.
    pub service: &'a str,
    /// The request time (`X-Amz-Date`).
    pub time: OffsetDateTime,
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("cannot sign a request without a host: {0} has no authority")]
    NoHost(String),
    #[error("a signing value is not a valid http header value: {0}")]
    InvalidHeader(String),
}

/// Signs a request in place: sets `Host` (when absent), `X-Amz-Date`, `X-Amz-Content-Sha256`,
/// `X-Amz-Security-Token` (with a session token) and `Authorization`.
///
/// `body` is the exact body that will be sent. The URI's path and query must be sent as they
/// are in `parts.uri` (already percent-encoded).
pub fn sign_request(
    parts: &mut http::request::Parts,
    body: &[u8],
    params: &SigningParams<'_>,
) -> Result<(), SignError> {
    let header = |text: &str| {
        HeaderValue::from_str(text).map_err(|_| SignError::InvalidHeader(text.to_owned()))
    };
    if !parts.headers.contains_key(HOST) {
        let authority = parts
            .uri
            .authority()
            .ok_or_else(|| SignError::NoHost(parts.uri.to_string()))?
            .as_str()
            .to_owned();
        parts.headers.insert(HOST, header(&authority)?);
    }
    let timestamp = format_amz_date(params.time);
    let date = &timestamp[..8];
    let payload_hash = hex::encode(Sha256::digest(body));
    parts.headers.insert("x-amz-date", header(&timestamp)?);
    parts
        .headers
        .insert("x-amz-content-sha256", header(&payload_hash)?);
    parts.headers.remove("x-amz-security-token");
    if let Some(token) = &params.credentials.session_token {
        parts.headers.insert("x-amz-security-token", header(token)?);
    }
    parts.headers.remove(AUTHORIZATION);

    let mut signed_headers: Vec<String> = parts
        .headers
        .keys()
        .map(|name| name.as_str().to_ascii_lowercase())
        .filter(|name| !UNSIGNED_HEADERS.contains(&name.as_str()))
        .collect();
    signed_headers.sort();
    signed_headers.dedup();

    let is_s3 = params.service == "s3";
    let canonical = canonical_request(parts, &signed_headers, is_s3, false, &payload_hash);
    let scope = format!("{date}/{}/{}/aws4_request", params.region, params.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(
        &params.credentials.secret_access_key,
        date,
        params.region,
        params.service,
    );
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        params.credentials.access_key_id,
        signed_headers.join(";")
    );
    parts.headers.insert(AUTHORIZATION, header(&authorization)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::sigv4::{AuthError, verify};

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: token.map(str::to_owned),
        }
    }

    fn lookup() -> HashMap<String, String> {
        HashMap::from([(
            "AKIDEXAMPLE".to_owned(),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
        )])
    }

    fn signed(uri: &str, body: &[u8], token: Option<&str>, service: &str) -> http::request::Parts {
        let (mut parts, ()) = http::Request::builder()
            .method("POST")
            .uri(uri)
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "x-amz-target",
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys",
            )
            .header("user-agent", "opentrail-test")
            .body(())
            .expect("request")
            .into_parts();
        let credentials = credentials(token);
        let params = SigningParams {
            credentials: &credentials,
            region: "us-east-1",
            service,
            time: crate::sigv4::parse_amz_date("20260102T030405Z").expect("date"),
        };
        sign_request(&mut parts, body, &params).expect("signs");
        parts
    }

    fn now() -> OffsetDateTime {
        crate::sigv4::parse_amz_date("20260102T030800Z").expect("date")
    }

    #[test]
    fn signed_requests_verify_with_the_server_verifier() {
        let body = br#"{"StartTime":1700000000,"EndTime":1700007200}"#;
        for (uri, service) in [
            ("http://127.0.0.1:4599/", "cloudtrail"),
            ("http://localhost:4599/a%20b/./c?b=2&a=x%2Fy", "cloudtrail"),
            ("http://127.0.0.1:4599/bucket/key%20x?list-type=2", "s3"),
        ] {
            let parts = signed(uri, body, Some("session-token"), service);
            let verified = verify(&parts, body, &lookup(), now())
                .unwrap_or_else(|error| panic!("{uri}: {error:?}"));
            assert_eq!(verified.access_key_id, "AKIDEXAMPLE");
            assert_eq!(verified.region, "us-east-1");
            assert_eq!(verified.service, service);
            assert_eq!(verified.session_token.as_deref(), Some("session-token"));
        }
        let authorization = signed("http://127.0.0.1:4599/", body, None, "cloudtrail")
            .headers
            .get(AUTHORIZATION)
            .expect("authorization")
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/us-east-1/cloudtrail/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target, Signature="
            ),
            "{authorization}"
        );
    }

    #[test]
    fn a_changed_body_or_header_fails_verification() {
        let body = br#"{}"#;
        let parts = signed("http://127.0.0.1:4599/", body, None, "cloudtrail");
        let result = verify(&parts, b"{\"x\":1}", &lookup(), now());
        assert!(
            matches!(result, Err(AuthError::ContentHashMismatch)),
            "{result:?}"
        );
        let mut tampered = parts.clone();
        tampered.headers.insert(
            "x-amz-target",
            HeaderValue::from_static("CloudTrail_20131101.DeleteTrail"),
        );
        let result = verify(&tampered, body, &lookup(), now());
        assert!(
            matches!(result, Err(AuthError::SignatureMismatch { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn a_uri_without_host_is_refused() {
        let (mut parts, ()) = http::Request::builder()
            .uri("/relative")
            .body(())
            .expect("request")
            .into_parts();
        let credentials = credentials(None);
        let params = SigningParams {
            credentials: &credentials,
            region: "us-east-1",
            service: "cloudtrail",
            time: now(),
        };
        assert!(matches!(
            sign_request(&mut parts, b"", &params),
            Err(SignError::NoHost(_))
        ));
    }
}
