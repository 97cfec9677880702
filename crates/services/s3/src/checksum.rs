//! The flexible checksums S3 clients send with uploads (`x-amz-checksum-*`): CRC32, CRC32C,
//! CRC64NVME, SHA-256, checked against the received bytes; Content-MD5 too.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::Md5;
use sha2::{Digest as _, Sha256};

use super::error::S3Error;

/// The checksum algorithms that are verified; others (SHA-1) are accepted unverified.
const ALGORITHMS: &[&str] = &["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

/// Reflected CRC over `data` with the reflected polynomial `poly` (init and xorout all ones).
fn crc_reflected<const BITS: u32>(poly: u64, data: &[u8]) -> u64 {
    let mask = if BITS == 64 {
        u64::MAX
    } else {
        (1u64 << BITS) - 1
    };
    let table: [u64; 256] = std::array::from_fn(|index| {
        let mut crc = index as u64;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ poly
            } else {
                crc >> 1
            };
        }
        crc
    });
    let mut crc = mask;
    for byte in data {
        crc = table[((crc ^ u64::from(*byte)) & 0xff) as usize] ^ (crc >> 8);
    }
    (crc ^ mask) & mask
}

/// CRC-32 (IEEE), as `x-amz-checksum-crc32` carries it (big-endian, base64).
pub fn crc32(data: &[u8]) -> u32 {
    crc_reflected::<32>(0xEDB8_8320, data) as u32
}

/// CRC-32C (Castagnoli).
pub fn crc32c(data: &[u8]) -> u32 {
    crc_reflected::<32>(0x82F6_3B78, data) as u32
}

/// CRC-64/NVME.
pub fn crc64nvme(data: &[u8]) -> u64 {
    crc_reflected::<64>(0x9A6C_9329_AC4B_C9B5, data)
}

/// The base64 checksum of `data` with `algorithm`; `None` for algorithms not computed here.
pub fn compute(algorithm: &str, data: &[u8]) -> Option<String> {
    let digest = match algorithm {
        "crc32" => crc32(data).to_be_bytes().to_vec(),
        "crc32c" => crc32c(data).to_be_bytes().to_vec(),
        "crc64nvme" => crc64nvme(data).to_be_bytes().to_vec(),
        "sha256" => Sha256::digest(data).to_vec(),
        _ => return None,
    };
    Some(BASE64.encode(digest))
}

/// Checks every `x-amz-checksum-<algorithm>` value given (headers and aws-chunked trailers)
/// and `Content-MD5`; returns the verified `(header name, value)` pairs to echo back.
pub fn verify(
    headers: &http::HeaderMap,
    trailers: &[(String, String)],
    data: &[u8],
) -> Result<Vec<(String, String)>, S3Error> {
    if let Some(md5) = headers.get("content-md5") {
        let given = md5
            .to_str()
            .ok()
            .and_then(|text| BASE64.decode(text.trim()).ok())
            .filter(|digest| digest.len() == 16)
            .ok_or_else(|| {
                S3Error::InvalidDigest("the Content-MD5 you specified is not valid".into())
            })?;
        if given != Md5::digest(data).as_slice() {
            return Err(S3Error::BadDigest(
                "the Content-MD5 you specified did not match what was received".into(),
            ));
        }
    }
    let mut verified = Vec::new();
    let from_headers = ALGORITHMS.iter().filter_map(|algorithm| {
        let name = format!("x-amz-checksum-{algorithm}");
        let value = headers.get(&name)?.to_str().ok()?.trim().to_owned();
        Some((name, value))
    });
    let from_trailers = trailers.iter().filter_map(|(name, value)| {
        let name = name.to_ascii_lowercase();
        name.starts_with("x-amz-checksum-")
            .then(|| (name, value.trim().to_owned()))
    });
    for (name, given) in from_headers.chain(from_trailers) {
        let algorithm = name.trim_start_matches("x-amz-checksum-");
        let Some(expected) = compute(algorithm, data) else {
            continue;
        };
        if BASE64.decode(&given).is_err() {
            return Err(S3Error::InvalidRequest(format!(
                "value for {name} is not valid base64"
            )));
        }
        if given != expected {
            return Err(S3Error::BadDigest(format!(
                "the {} you specified did not match the calculated checksum",
                algorithm.to_ascii_uppercase()
            )));
        }
        verified.push((name, given));
    }
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_of_the_crcs() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc64nvme(b"123456789"), 0xAE8B_1486_0A79_9888);
        assert_eq!(compute("crc32", b"hello").as_deref(), Some("NhCmhg=="));
        assert_eq!(compute("sha1", b"hello"), None);
    }

    #[test]
    fn verify_accepts_matching_and_rejects_wrong_checksums() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amz-checksum-crc32", "NhCmhg==".parse().expect("value"));
        headers.insert(
            "content-md5",
            "XUFAKrxLKna5cZ2REBfFkg==".parse().expect("value"),
        );
        let echoed = verify(&headers, &[], b"hello").expect("valid");
        assert_eq!(
            echoed,
            [("x-amz-checksum-crc32".to_owned(), "NhCmhg==".to_owned())]
        );

        let err = verify(&headers, &[], b"hellO").expect_err("md5 mismatch");
        assert_eq!(err.code(), "BadDigest");

        let trailers = [("x-amz-checksum-crc32".to_owned(), "AAAAAA==".to_owned())];
        let err = verify(&http::HeaderMap::new(), &trailers, b"hello").expect_err("crc mismatch");
        assert_eq!(err.code(), "BadDigest");

        let mut bad = http::HeaderMap::new();
        bad.insert("content-md5", "nope".parse().expect("value"));
        assert_eq!(
            verify(&bad, &[], b"x").expect_err("bad md5").code(),
            "InvalidDigest"
        );
    }
}
