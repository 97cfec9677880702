//! Every botocore-signed vector verifies; tampering with the secret, body, a signed header or
//! the clock fails with the matching `AuthError`.

use std::collections::HashMap;

use opentrail_api::chunked::{ChunkSigner, decode_aws_chunked};
use opentrail_api::sigv4::{AuthError, Verified, verify};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const VECTORS: &str = include_str!("../fixtures/sigv4_vectors.json");

#[derive(Debug, Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

#[derive(Debug, Clone, Deserialize)]
struct Vector {
    name: String,
    access_key_id: String,
    secret_access_key: String,
    now: String,
    method: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body_hex: String,
    expect: Expect,
    #[serde(default)]
    decoded_hex: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Expect {
    service: String,
    region: String,
    date: String,
    #[serde(default)]
    payload_hash: Option<String>,
    #[serde(default)]
    session_token: Option<String>,
    #[serde(default)]
    expires_seconds: Option<i64>,
}

impl Vector {
    fn parts(&self) -> http::request::Parts {
        let mut builder = http::Request::builder()
            .method(self.method.as_str())
            .uri(self.path_and_query.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder
            .body(())
            .expect("vector is a valid request")
            .into_parts()
            .0
    }

    fn body(&self) -> Vec<u8> {
        hex::decode(&self.body_hex).expect("body_hex is hex")
    }

    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::parse(&self.now, &Rfc3339).expect("now is rfc3339")
    }

    fn secrets(&self) -> HashMap<String, String> {
        HashMap::from([(self.access_key_id.clone(), self.secret_access_key.clone())])
    }

    fn verify_with(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Verified, AuthError> {
        verify(parts, body, &self.secrets(), now)
    }

    fn is_presigned(&self) -> bool {
        self.path_and_query.contains("X-Amz-Signature=")
    }

    /// Whether the body is covered by the signature (directly or via x-amz-content-sha256).
    fn body_is_signed(&self) -> bool {
        !self.is_presigned()
            && !matches!(
                self.expect.payload_hash.as_deref(),
                Some(hash) if hash == "UNSIGNED-PAYLOAD" || hash.starts_with("STREAMING-")
            )
    }
}

fn vectors() -> Vec<Vector> {
    let file: File = serde_json::from_str(VECTORS).expect("vectors json");
    assert!(file.vectors.len() >= 10, "expected the full vector set");
    file.vectors
}

fn assert_mismatch(result: Result<Verified, AuthError>, what: &str, name: &str) {
    assert!(
        matches!(result, Err(AuthError::SignatureMismatch { .. })),
        "{name}: {what} must give SignatureMismatch, got {result:?}"
    );
}

#[test]
fn every_botocore_vector_verifies() {
    for vector in vectors() {
        let verified = vector
            .verify_with(&vector.parts(), &vector.body(), vector.now())
            .unwrap_or_else(|err| panic!("{}: {err:?}", vector.name));
        assert_eq!(
            verified.access_key_id, vector.access_key_id,
            "{}",
            vector.name
        );
        assert_eq!(verified.service, vector.expect.service, "{}", vector.name);
        assert_eq!(verified.region, vector.expect.region, "{}", vector.name);
        assert_eq!(verified.date, vector.expect.date, "{}", vector.name);
        assert_eq!(verified.timestamp, "20250314T150926Z", "{}", vector.name);
        assert_eq!(
            verified.session_token, vector.expect.session_token,
            "{}",
            vector.name
        );
        assert_eq!(verified.presigned, vector.is_presigned(), "{}", vector.name);
        assert_eq!(verified.signing_key.len(), 32);
        assert_eq!(verified.seed_signature.len(), 64);
        if let Some(hash) = &vector.expect.payload_hash {
            assert_eq!(&verified.payload_hash, hash, "{}", vector.name);
        } else {
            use sha2::Digest;
            assert_eq!(
                verified.payload_hash,
                hex::encode(sha2::Sha256::digest(vector.body())),
                "{}",
                vector.name
            );
        }
    }
}

#[test]
fn wrong_secret_is_a_signature_mismatch() {
    for vector in vectors() {
        let mut secrets = vector.secrets();
        let secret = secrets
            .get_mut(&vector.access_key_id)
            .expect("secret present");
        let mut bytes = secret.clone().into_bytes();
        bytes[3] ^= 0x01;
        *secret = String::from_utf8(bytes).expect("ascii secret");
        let result = verify(&vector.parts(), &vector.body(), &secrets, vector.now());
        assert_mismatch(result, "a flipped secret byte", &vector.name);
    }
}

#[test]
fn unknown_access_key_is_reported() {
    for vector in vectors() {
        let result = verify(
            &vector.parts(),
            &vector.body(),
            &HashMap::new(),
            vector.now(),
        );
        assert_eq!(
            result,
            Err(AuthError::UnknownAccessKey(vector.access_key_id.clone())),
            "{}",
            vector.name
        );
    }
}

#[test]
fn tampered_body_fails_only_when_it_is_signed() {
    for vector in vectors() {
        let mut body = vector.body();
        if body.is_empty() {
            body.push(b'x');
        } else {
            body[0] ^= 0x20;
        }
        let result = vector.verify_with(&vector.parts(), &body, vector.now());
        let has_hash_header = vector
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("x-amz-content-sha256"));
        if !vector.body_is_signed() {
            assert!(
                result.is_ok(),
                "{}: unsigned body must not matter: {result:?}",
                vector.name
            );
        } else if has_hash_header {
            assert_eq!(
                result,
                Err(AuthError::ContentHashMismatch),
                "{}",
                vector.name
            );
        } else {
            assert_mismatch(result, "a flipped body byte", &vector.name);
        }
    }
}

#[test]
fn tampered_signed_header_or_url_fails() {
    for vector in vectors() {
        let mut tampered = vector.clone();
        for (name, value) in &mut tampered.headers {
            if name.eq_ignore_ascii_case("host") {
                *value = "127.0.0.1:4600".to_owned();
            }
        }
        let result = tampered.verify_with(&tampered.parts(), &tampered.body(), tampered.now());
        assert_mismatch(result, "a changed host header", &vector.name);

        let mut tampered = vector.clone();
        tampered.path_and_query = if let Some((path, query)) = vector.path_and_query.split_once('?')
        {
            format!("{path}x?{query}")
        } else {
            format!("{}x", vector.path_and_query)
        };
        let result = tampered.verify_with(&tampered.parts(), &tampered.body(), tampered.now());
        assert_mismatch(result, "a changed path", &vector.name);

        let mut tampered = vector.clone();
        tampered.path_and_query = if vector.path_and_query.contains('?') {
            format!("{}&extra=1", vector.path_and_query)
        } else {
            format!("{}?extra=1", vector.path_and_query)
        };
        let result = tampered.verify_with(&tampered.parts(), &tampered.body(), tampered.now());
        assert_mismatch(result, "an added query parameter", &vector.name);

        let mut tampered = vector.clone();
        tampered.method = if vector.method == "GET" {
            "HEAD"
        } else {
            "GET"
        }
        .to_owned();
        let result = tampered.verify_with(&tampered.parts(), &tampered.body(), tampered.now());
        assert_mismatch(result, "a changed method", &vector.name);
    }
}

#[test]
fn unsigned_headers_may_change() {
    let vector = vectors()
        .into_iter()
        .find(|v| v.name == "cloudtrail_json_post")
        .expect("vector");
    let mut changed = vector.clone();
    for (name, value) in &mut changed.headers {
        if name == "User-Agent" {
            *value = "something else".to_owned();
        }
    }
    changed
        .headers
        .push(("X-Forwarded-For".to_owned(), "10.0.0.1".to_owned()));
    assert!(
        changed
            .verify_with(&changed.parts(), &changed.body(), changed.now())
            .is_ok()
    );
}

#[test]
fn clock_skew_is_fifteen_minutes_for_header_auth() {
    for vector in vectors().into_iter().filter(|v| !v.is_presigned()) {
        let parts = vector.parts();
        let body = vector.body();
        for minutes in [-14, 14] {
            let now = vector.now() + time::Duration::minutes(minutes);
            assert!(
                vector.verify_with(&parts, &body, now).is_ok(),
                "{} at {minutes}",
                vector.name
            );
        }
        let late = vector.now() + time::Duration::minutes(16);
        let result = vector.verify_with(&parts, &body, late);
        assert_eq!(
            result,
            Err(AuthError::Skewed {
                request_time: "20250314T150926Z".to_owned(),
                server_time: "20250314T152526Z".to_owned(),
            }),
            "{}",
            vector.name
        );
        let err = result.expect_err("skewed").to_json_error();
        assert_eq!(err.code, "InvalidSignatureException");
        assert_eq!(
            err.message,
            "Signature expired: 20250314T150926Z is now earlier than 20250314T151026Z (20250314T152526Z - 15 min.)"
        );
        let early = vector.now() - time::Duration::minutes(16);
        assert!(
            matches!(
                vector.verify_with(&parts, &body, early),
                Err(AuthError::Skewed { .. })
            ),
            "{}",
            vector.name
        );
    }
}

#[test]
fn presigned_urls_expire() {
    let vector = vectors()
        .into_iter()
        .find(|v| v.is_presigned())
        .expect("presigned vector");
    let expires = vector.expect.expires_seconds.expect("expires in vector");
    let parts = vector.parts();
    let just_in_time = vector.now() + time::Duration::seconds(expires);
    assert!(vector.verify_with(&parts, b"", just_in_time).is_ok());
    let too_late = just_in_time + time::Duration::seconds(1);
    let result = vector.verify_with(&parts, b"", too_late);
    assert_eq!(result, Err(AuthError::Expired));
    let err = result.expect_err("expired").to_s3_error();
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        ("AccessDenied", "Request has expired")
    );
    assert_eq!(err.status, http::StatusCode::FORBIDDEN);

    let from_the_future = vector.now() - time::Duration::minutes(16);
    assert!(matches!(
        vector.verify_with(&parts, b"", from_the_future),
        Err(AuthError::Skewed { .. })
    ));

    // A presigned URL plus an Authorization header is rejected, not guessed at.
    let mut both = vector.clone();
    both.headers.push((
        "Authorization".to_owned(),
        "AWS4-HMAC-SHA256 Credential=x/20250314/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00".to_owned(),
    ));
    assert!(matches!(
        both.verify_with(&both.parts(), b"", both.now()),
        Err(AuthError::Incomplete(_))
    ));
}

#[test]
fn missing_and_malformed_authentication() {
    let vector = vectors()
        .into_iter()
        .find(|v| v.name == "cloudtrail_json_post")
        .expect("vector");
    let mut stripped = vector.clone();
    stripped.headers.retain(|(name, _)| name != "Authorization");
    let result = stripped.verify_with(&stripped.parts(), &stripped.body(), stripped.now());
    assert_eq!(result, Err(AuthError::Missing));
    let err = result.expect_err("missing").to_json_error();
    assert_eq!(err.code, "MissingAuthenticationTokenException");
    assert_eq!(err.status, http::StatusCode::FORBIDDEN);
    assert_eq!(err.message, "Request is missing Authentication Token");

    let mut no_date = vector.clone();
    no_date.headers.retain(|(name, _)| name != "X-Amz-Date");
    assert!(matches!(
        no_date.verify_with(&no_date.parts(), &no_date.body(), no_date.now()),
        Err(AuthError::Incomplete(_))
    ));

    let authorization = vector
        .headers
        .iter()
        .find(|(name, _)| name == "Authorization")
        .map(|(_, value)| value.clone())
        .expect("authorization");
    let malformed = [
        authorization.replace(
            "SignedHeaders=content-type;host;",
            "SignedHeaders=content-type;",
        ),
        authorization.replace("/aws4_request", "/aws5_request"),
        authorization.replace("/20250314/", "/20250313/"),
        authorization.replace("Signature=", "Sig="),
        authorization.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
        "AWS4-HMAC-SHA256".to_owned(),
        String::new(),
    ];
    for bad in malformed {
        let mut request = vector.clone();
        for (name, value) in &mut request.headers {
            if name == "Authorization" {
                *value = bad.clone();
            }
        }
        let result = request.verify_with(&request.parts(), &request.body(), request.now());
        assert!(
            matches!(result, Err(AuthError::Incomplete(_))),
            "{bad:?}: {result:?}"
        );
    }

    let mut bad_hash = vector.clone();
    bad_hash
        .headers
        .push(("X-Amz-Content-SHA256".to_owned(), "not-a-hash".to_owned()));
    assert_eq!(
        bad_hash.verify_with(&bad_hash.parts(), &bad_hash.body(), bad_hash.now()),
        Err(AuthError::InvalidContentHash("not-a-hash".to_owned()))
    );
}

#[test]
fn aws_chunked_vector_decodes_with_chunk_signatures() {
    let vector = vectors()
        .into_iter()
        .find(|v| v.name == "s3_put_aws_chunked")
        .expect("chunked vector");
    let parts = vector.parts();
    let body = vector.body();
    assert!(opentrail_api::is_aws_chunked(&parts));
    let verified = vector
        .verify_with(&parts, &body, vector.now())
        .expect("seed signature verifies");
    let signer = ChunkSigner::from_verified(&verified);
    let decoded = decode_aws_chunked(&body, Some(&signer)).expect("chunk signatures verify");
    let expected = hex::decode(vector.decoded_hex.as_deref().expect("decoded_hex")).expect("hex");
    assert_eq!(decoded.data, expected);
    assert_eq!(
        opentrail_api::decoded_content_length(&parts),
        Some(u64::try_from(expected.len()).expect("small"))
    );

    // Flip one payload byte: the chunk signature no longer matches.
    let mut tampered = body.clone();
    let at = tampered
        .windows(6)
        .position(|w| w == b"second")
        .expect("payload text");
    tampered[at] = b'S';
    let err = decode_aws_chunked(&tampered, Some(&signer)).expect_err("tampered chunk");
    assert_eq!(err.code, "SignatureDoesNotMatch");
    // Every truncation is an error, never a panic.
    for len in 0..body.len() - 2 {
        assert!(
            decode_aws_chunked(&body[..len], Some(&signer)).is_err(),
            "prefix {len}"
        );
    }
}
