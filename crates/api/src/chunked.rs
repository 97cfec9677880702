//! `aws-chunked` body decoding, as sent by S3 `PutObject` uploads.
//!
//! # Format
//!
//! ```text
//! <hex-size>[;chunk-signature=<sig>]\r\n<data>\r\n     repeated
//! 0[;chunk-signature=<sig>]\r\n                         final, empty chunk
//! [<trailer-name>:<value>\r\n]*                         optional trailers (checksums)
//! [x-amz-trailer-signature:<sig>\r\n]                   optional, for signed trailers
//! \r\n
//! ```
//!
//! When the request used `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`, each chunk signature
//! chains on the previous one, starting from the request's seed signature:
//!
//! ```text
//! AWS4-HMAC-SHA256-PAYLOAD\n<timestamp>\n<scope>\n<previous sig>\n<sha256("")>\n<sha256(data)>
//! ```
//!
//! and the trailer signature is
//! `AWS4-HMAC-SHA256-TRAILER\n<timestamp>\n<scope>\n<previous sig>\n<sha256(trailer lines)>`
//! where each trailer line is `name:value\n`.

use http::StatusCode;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::sigv4::{EMPTY_SHA256, Verified, hmac_sha256};

/// The trailer line that carries the signature over the other trailers.
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";
/// Hex digits a chunk size may have (a `u64`).
const MAX_SIZE_DIGITS: usize = 16;

/// Whether the request body is aws-chunked framed.
pub fn is_aws_chunked(parts: &http::request::Parts) -> bool {
    let encoded = parts
        .headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .any(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .split(',')
                .any(|coding| coding.trim().eq_ignore_ascii_case("aws-chunked"))
        });
    let streaming = parts
        .headers
        .get("x-amz-content-sha256")
        .is_some_and(|value| value.as_bytes().starts_with(b"STREAMING-"));
    encoded || streaming
}

/// The length of the decoded payload, from `x-amz-decoded-content-length`.
pub fn decoded_content_length(parts: &http::request::Parts) -> Option<u64> {
    parts
        .headers
        .get("x-amz-decoded-content-length")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// What is needed to check chunk signatures: the request's signing key, time, scope and
/// seed signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkSigner {
    /// The SigV4 signing key of the request.
    pub signing_key: Vec<u8>,
    /// The request time, `yyyymmddThhmmssZ`.
    pub timestamp: String,
    /// The credential scope, `yyyymmdd/region/service/aws4_request`.
    pub scope: String,
    /// The request signature the first chunk chains on.
    pub seed_signature: String,
}

impl ChunkSigner {
    /// The signer for a verified request.
    pub fn from_verified(verified: &Verified) -> ChunkSigner {
        ChunkSigner {
            signing_key: verified.signing_key.clone(),
            timestamp: verified.timestamp.clone(),
            scope: verified.scope(),
            seed_signature: verified.seed_signature.clone(),
        }
    }

    /// The signature of one chunk given the previous signature.
    pub fn chunk_signature(&self, previous: &str, data: &[u8]) -> String {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{previous}\n{EMPTY_SHA256}\n{}",
            self.timestamp,
            self.scope,
            hex::encode(Sha256::digest(data))
        );
        hex::encode(hmac_sha256(&self.signing_key, string_to_sign.as_bytes()))
    }

    /// The signature of the trailer block given the last chunk signature.
    pub fn trailer_signature(&self, previous: &str, trailers: &[(String, String)]) -> String {
        let canonical: String = trailers
            .iter()
            .map(|(name, value)| format!("{name}:{value}\n"))
            .collect();
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{previous}\n{}",
            self.timestamp,
            self.scope,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        hex::encode(hmac_sha256(&self.signing_key, string_to_sign.as_bytes()))
    }
}

/// A decoded aws-chunked body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecodedChunks {
    /// The payload, chunks concatenated.
    pub data: Vec<u8>,
    /// Trailer headers (names lowercased), without `x-amz-trailer-signature`.
    pub trailers: Vec<(String, String)>,
}

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidRequest", message)
}

fn truncated(message: impl Into<String>) -> ApiError {
    ApiError::client("IncompleteBody", message)
}

fn chunk_signature_mismatch() -> ApiError {
    ApiError::new(
        "SignatureDoesNotMatch",
        StatusCode::FORBIDDEN,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
}

/// Decodes an aws-chunked body; with `verify`, every chunk (and a signed trailer) must carry
/// a valid signature.
pub fn decode_aws_chunked(
    body: &[u8],
    verify: Option<&ChunkSigner>,
) -> Result<DecodedChunks, ApiError> {
    let mut decoded = DecodedChunks::default();
    let mut previous_signature = verify.map(|signer| signer.seed_signature.clone());
    let mut pos = 0usize;
    loop {
        let (line, next) = read_line(body, pos).ok_or_else(|| {
            truncated("aws-chunked body ended before the final zero-length chunk")
        })?;
        pos = next;
        let line = std::str::from_utf8(line)
            .map_err(|_| malformed("aws-chunked chunk header is not valid utf-8"))?;
        let (size_text, extensions) = line.split_once(';').unwrap_or((line, ""));
        let size_text = size_text.trim();
        if size_text.is_empty()
            || size_text.len() > MAX_SIZE_DIGITS
            || !size_text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(malformed(format!(
                "aws-chunked chunk size {size_text:?} is not a hexadecimal number"
            )));
        }
        let size = u64::from_str_radix(size_text, 16)
            .ok()
            .and_then(|size| usize::try_from(size).ok())
            .ok_or_else(|| malformed(format!("aws-chunked chunk size {size_text} is too large")))?;
        let signature = extensions.split(';').find_map(|extension| {
            extension
                .trim()
                .strip_prefix("chunk-signature=")
                .map(str::trim)
        });

        let data_end = pos
            .checked_add(size)
            .filter(|end| *end <= body.len())
            .ok_or_else(|| {
                truncated(format!(
                    "aws-chunked chunk declares {size} bytes but only {} remain",
                    body.len().saturating_sub(pos)
                ))
            })?;
        let data = &body[pos..data_end];

        if let (Some(signer), Some(previous)) = (verify, previous_signature.as_mut()) {
            let Some(provided) = signature else {
                return Err(malformed(
                    "aws-chunked chunk has no chunk-signature but the request requires signed chunks",
                ));
            };
            let expected = signer.chunk_signature(previous, data);
            if !bool::from(
                expected
                    .as_bytes()
                    .ct_eq(provided.to_ascii_lowercase().as_bytes()),
            ) {
                return Err(chunk_signature_mismatch());
            }
            *previous = expected;
        }

        if size == 0 {
            // The final chunk header has no data and no data CRLF; trailers follow directly.
            break;
        }
        decoded.data.extend_from_slice(data);
        pos = data_end;
        match body.get(pos..pos.saturating_add(2)) {
            Some(b"\r\n") => pos += 2,
            Some(_) => {
                return Err(malformed(
                    "aws-chunked chunk data is not followed by CRLF; the chunk size is wrong",
                ));
            }
            None => return Err(truncated("aws-chunked body ended inside a chunk")),
        }
    }

    let mut trailer_signature = None;
    loop {
        let Some((line, next)) = read_line(body, pos) else {
            // Tolerate a body that stops right after the final chunk or its trailers.
            if pos < body.len() {
                return Err(truncated(
                    "aws-chunked trailer line is not terminated by CRLF",
                ));
            }
            break;
        };
        pos = next;
        if line.is_empty() {
            break;
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| malformed("aws-chunked trailer is not valid utf-8"))?;
        let Some((name, value)) = line.split_once(':') else {
            return Err(malformed(format!(
                "aws-chunked trailer {line:?} is not a name:value pair"
            )));
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_owned();
        if name == TRAILER_SIGNATURE {
            trailer_signature = Some(value);
        } else {
            decoded.trailers.push((name, value));
        }
    }
    if pos != body.len() {
        return Err(malformed(format!(
            "aws-chunked body has {} unexpected bytes after the final chunk",
            body.len() - pos
        )));
    }

    if let (Some(signer), Some(previous), Some(provided)) = (
        verify,
        previous_signature.as_ref(),
        trailer_signature.as_ref(),
    ) {
        let expected = signer.trailer_signature(previous, &decoded.trailers);
        if !bool::from(
            expected
                .as_bytes()
                .ct_eq(provided.to_ascii_lowercase().as_bytes()),
        ) {
            return Err(chunk_signature_mismatch());
        }
    }
    Ok(decoded)
}

/// The line starting at `pos` (without its CRLF) and the offset after the CRLF.
fn read_line(body: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = body.get(pos..)?;
    let end = rest.windows(2).position(|window| window == b"\r\n")?;
    Some((&rest[..end], pos + end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> ChunkSigner {
        ChunkSigner {
            signing_key: crate::sigv4::signing_key("secret", "20250314", "us-east-1", "s3"),
            timestamp: "20250314T150926Z".to_owned(),
            scope: "20250314/us-east-1/s3/aws4_request".to_owned(),
            seed_signature: "a".repeat(64),
        }
    }

    fn signed_body(signer: &ChunkSigner, chunks: &[&[u8]], trailers: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut previous = signer.seed_signature.clone();
        for chunk in chunks.iter().copied().chain(std::iter::once(&b""[..])) {
            let signature = signer.chunk_signature(&previous, chunk);
            out.extend_from_slice(
                format!("{:x};chunk-signature={signature}\r\n", chunk.len()).as_bytes(),
            );
            if !chunk.is_empty() {
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            previous = signature;
        }
        let owned: Vec<(String, String)> = trailers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (name, value) in &owned {
            out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
        }
        if !owned.is_empty() {
            let signature = signer.trailer_signature(&previous, &owned);
            out.extend_from_slice(format!("x-amz-trailer-signature:{signature}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    #[test]
    fn decodes_unsigned_chunks_with_trailer() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let decoded = decode_aws_chunked(body, None).expect("valid body");
        assert_eq!(decoded.data, b"hello world");
        assert_eq!(
            decoded.trailers,
            vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
        );
    }

    #[test]
    fn decodes_body_without_final_crlf_and_uppercase_hex() {
        let data = vec![b'x'; 0x1A];
        let mut body = b"1A\r\n".to_vec();
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n0\r\n");
        let decoded = decode_aws_chunked(&body, None).expect("valid body");
        assert_eq!(decoded.data, data);
        assert!(decoded.trailers.is_empty());
    }

    #[test]
    fn verifies_signed_chunks_and_trailer() {
        let signer = signer();
        let body = signed_body(
            &signer,
            &[b"first chunk", b"second\r\nchunk"],
            &[("x-amz-checksum-crc32c", "sOO8/Q==")],
        );
        let decoded = decode_aws_chunked(&body, Some(&signer)).expect("valid signatures");
        assert_eq!(decoded.data, b"first chunksecond\r\nchunk");
        assert_eq!(
            decoded.trailers.len(),
            1,
            "trailer signature is not a trailer"
        );

        // Without verification the same body decodes too.
        assert_eq!(
            decode_aws_chunked(&body, None).expect("decodes").data,
            decoded.data
        );
    }

    #[test]
    fn rejects_tampered_chunk_and_trailer() {
        let signer = signer();
        let body = signed_body(
            &signer,
            &[b"first chunk"],
            &[("x-amz-checksum-crc32c", "sOO8/Q==")],
        );
        let data_at = body
            .windows(5)
            .position(|w| w == b"first")
            .expect("data present");
        let mut tampered = body.clone();
        tampered[data_at] = b'F';
        let err = decode_aws_chunked(&tampered, Some(&signer)).expect_err("tampered data");
        assert_eq!(err.code, "SignatureDoesNotMatch");

        let text = String::from_utf8(body).expect("ascii body");
        let tampered = text.replace("sOO8/Q==", "AAAAAA==");
        let err =
            decode_aws_chunked(tampered.as_bytes(), Some(&signer)).expect_err("tampered trailer");
        assert_eq!(err.code, "SignatureDoesNotMatch");

        let mut other_seed = signer.clone();
        other_seed.seed_signature = "b".repeat(64);
        let body = signed_body(&signer, &[b"x"], &[]);
        assert!(decode_aws_chunked(&body, Some(&other_seed)).is_err());
    }

    #[test]
    fn requires_signatures_when_verifying() {
        let err =
            decode_aws_chunked(b"1\r\nx\r\n0\r\n\r\n", Some(&signer())).expect_err("unsigned");
        assert_eq!(err.code, "InvalidRequest");
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        let cases: &[&[u8]] = &[
            b"",
            b"5",
            b"5\r\nhel",
            b"5\r\nhello",
            b"5\r\nhelloXX0\r\n\r\n",
            b"zz\r\nhello\r\n0\r\n\r\n",
            b"\r\n",
            b";chunk-signature=abc\r\n",
            b"ffffffffffffffff\r\nx\r\n",
            b"fffffffffffffffff\r\nx\r\n",
            b"\xff\xfe\r\n",
            b"0\r\nnot-a-trailer\r\n\r\n",
            b"0\r\n\r\ngarbage",
            b"0\r\nx-amz-checksum-crc32:abc",
            b"-1\r\n\r\n",
        ];
        for case in cases {
            assert!(
                decode_aws_chunked(case, None).is_err(),
                "{:?} must be rejected",
                String::from_utf8_lossy(case)
            );
            assert!(decode_aws_chunked(case, Some(&signer())).is_err());
        }
    }

    #[test]
    fn detects_chunked_requests() {
        let (parts, ()) = http::Request::builder()
            .header("content-encoding", "gzip, aws-chunked")
            .header("x-amz-decoded-content-length", "42")
            .body(())
            .expect("request")
            .into_parts();
        assert!(is_aws_chunked(&parts));
        assert_eq!(decoded_content_length(&parts), Some(42));

        let (parts, ()) = http::Request::builder()
            .header("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
            .body(())
            .expect("request")
            .into_parts();
        assert!(is_aws_chunked(&parts));
        assert_eq!(decoded_content_length(&parts), None);

        let (parts, ()) = http::Request::builder()
            .header("x-amz-content-sha256", EMPTY_SHA256)
            .header("x-amz-decoded-content-length", "nope")
            .body(())
            .expect("request")
            .into_parts();
        assert!(!is_aws_chunked(&parts));
        assert_eq!(decoded_content_length(&parts), None);
    }
}
