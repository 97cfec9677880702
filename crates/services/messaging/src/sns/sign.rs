//! Message signatures: SNS signs every envelope over AWS's canonical string with the topic's
//! `SignatureVersion` — `1` (AWS's default) is SHA1withRSA, `2` SHA256withRSA — and publishes
//! the certificate at [`CERT_PATH`]. The RSA key and its self-signed X.509 certificate are made
//! once and kept in the metadata store (table `sns.signing`).
//!
//! # Two RSA implementations
//! aws-lc-rs signs version 2; its public API signs PKCS#1 v1.5 only with SHA-256 and longer
//! digests (SHA-1 is there for verification only), so version 1 is signed by the `rsa` crate
//! over the same PKCS#8 key. That crate's private-key operations are not constant time
//! (RUSTSEC-2023-0071, the "Marvin" timing side channel). We accept it for this use: signing
//! runs with blinding (`sign_with_rng`), in the server's delivery path, where the time of one
//! signature is hidden in the request, journal fsync and HTTP delivery times of the
//! background task around it and no caller observes it directly; the key signs only this
//! server's own SNS envelopes (it decrypts nothing and guards no TLS session). A deployment
//! that cannot accept that sets its topics' `SignatureVersion` to `2`.
//!
//! An RSA-2048 signature costs about half a millisecond of CPU, so a message is signed once
//! and the signature shared by every subscription it goes to ([`SignatureCache`]): the signed
//! fields are the same for all of them (`UnsubscribeURL` is not signed).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use opentrail_core::AppState;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;
use opentrail_meta::Meta;
use rsa::pkcs8::DecodePrivateKey as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

/// Where opentrail serves the signing certificate (PEM).
pub const CERT_PATH: &str = "/_opentrail/sns/cert.pem";
const TABLE: &str = "sns.signing";

#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    pkcs8: String,
    cert: String,
}

/// The signing key (for both implementations) and its certificate.
pub struct Signer {
    pair: KeyPair,
    /// The same key for SHA1withRSA (version 1).
    sha1_key: rsa::RsaPrivateKey,
    cert_der: Vec<u8>,
}

impl Signer {
    fn new(pkcs8: &[u8], cert_der: Vec<u8>) -> Result<Signer, String> {
        let pair = KeyPair::from_pkcs8(pkcs8).map_err(|e| e.to_string())?;
        let sha1_key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8).map_err(|e| e.to_string())?;
        Ok(Signer {
            pair,
            sha1_key,
            cert_der,
        })
    }

    /// The base64 signature of `canonical` for `version` (`"2"`: SHA256withRSA, else
    /// SHA1withRSA).
    fn sign(&self, version: &str, canonical: &[u8]) -> Result<String, String> {
        let bytes = if version == "2" {
            sign_bytes(&self.pair, &signature::RSA_PKCS1_SHA256, canonical)?
        } else {
            let digest = sha1::Sha1::digest(canonical);
            self.sha1_key
                .sign_with_rng(
                    &mut rsa::rand_core::OsRng,
                    rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
                    &digest,
                )
                .map_err(|e| e.to_string())?
        };
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }
}

/// A server's signer (in [`AppState::extensions`]), loaded at its first SNS request.
#[derive(Default)]
struct SignerSlot(OnceLock<Option<Signer>>);

/// Loads (or makes and stores) the signer of `state`. Call before signing.
pub fn init(state: &AppState) {
    let slot = state.extensions.get_or_init(SignerSlot::default);
    slot.0.get_or_init(|| match load_or_create(&state.meta) {
        Ok(signer) => Some(signer),
        Err(err) => {
            tracing::error!(error = %err, "sns signing key unavailable");
            None
        }
    });
}

fn signer(state: &AppState) -> Option<Arc<SignerSlot>> {
    state
        .extensions
        .get::<SignerSlot>()
        .filter(|slot| matches!(slot.0.get(), Some(Some(_))))
}

fn load_or_create(meta: &Meta) -> Result<Signer, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Ok(Some(stored)) = meta.get::<Stored>(TABLE, "key") {
        let pkcs8 = b64.decode(&stored.pkcs8).map_err(|e| e.to_string())?;
        let cert_der = b64.decode(&stored.cert).map_err(|e| e.to_string())?;
        return Signer::new(&pkcs8, cert_der);
    }
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|e| e.to_string())?;
    let pkcs8 = pair.as_der().map_err(|e| e.to_string())?.as_ref().to_vec();
    let cert_der = self_signed_cert(&pair)?;
    let stored = Stored {
        format: 1,
        pkcs8: b64.encode(&pkcs8),
        cert: b64.encode(&cert_der),
    };
    meta.put(TABLE, "key", &stored).map_err(|e| e.to_string())?;
    Signer::new(&pkcs8, cert_der)
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len < 0x10000 {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    } else {
        out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

const OID_SHA256_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
];
const OID_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
const OID_CN: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
const NULL: &[u8] = &[0x05, 0x00];

/// A minimal self-signed X.509 v3 certificate for `pair` (CN `sns.opentrail.local`).
fn self_signed_cert(pair: &KeyPair) -> Result<Vec<u8>, String> {
    let algorithm = seq(&[OID_SHA256_RSA, NULL]);
    let name = seq(&[&der(
        0x31,
        &seq(&[OID_CN, &der(0x0c, b"sns.opentrail.local")]),
    )]);
    let mut serial = vec![0x01];
    serial.extend_from_slice(&rand::random::<[u8; 8]>());
    let validity = seq(&[&der(0x17, b"250101000000Z"), &der(0x17, b"491231235959Z")]);
    let mut key_bits = vec![0x00];
    key_bits.extend_from_slice(pair.public_key().as_ref());
    let spki = seq(&[&seq(&[OID_RSA, NULL]), &der(0x03, &key_bits)]);
    let tbs = seq(&[
        &der(0xa0, &der(0x02, &[0x02])),
        &der(0x02, &serial),
        &algorithm,
        &name,
        &validity,
        &name,
        &spki,
    ]);
    let signature = sign_bytes(pair, &signature::RSA_PKCS1_SHA256, &tbs)?;
    let mut sig_bits = vec![0x00];
    sig_bits.extend_from_slice(&signature);
    Ok(seq(&[&tbs, &algorithm, &der(0x03, &sig_bits)]))
}

fn sign_bytes(
    pair: &KeyPair,
    algorithm: &'static dyn signature::RsaEncoding,
    message: &[u8],
) -> Result<Vec<u8>, String> {
    let mut out = vec![0; pair.public_modulus_len()];
    pair.sign(algorithm, &SystemRandom::new(), message, &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// The certificate as PEM, once [`init`] ran.
pub fn cert_pem(state: &AppState) -> Option<String> {
    let slot = signer(state)?;
    let signer = slot.0.get()?.as_ref()?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&signer.cert_der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    Some(pem)
}

/// AWS's canonical string of an envelope: `Key\nValue\n` for the signed keys present, in
/// order.
pub fn canonical_string(envelope: &Map<String, Value>) -> String {
    let keys: &[&str] = if envelope.get("Type").and_then(Value::as_str) == Some("Notification") {
        &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    let mut out = String::new();
    for key in keys {
        if let Some(value) = envelope.get(*key).and_then(Value::as_str) {
            out.push_str(key);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
        }
    }
    out
}

/// Signatures already made for one message, by signature version and canonical string: the
/// subscriptions of a message share them.
#[derive(Debug, Default)]
pub struct SignatureCache(Mutex<Vec<(String, [u8; 32], String)>>);

/// Adds `SignatureVersion` (`"2"` when asked for, else `"1"`), `Signature` and
/// `SigningCertURL` to an envelope, reusing a signature of `cache` for the same signed fields.
pub fn sign_envelope(
    state: &AppState,
    base_url: &str,
    requested_version: &str,
    envelope: &mut Map<String, Value>,
    cache: Option<&SignatureCache>,
) {
    let version = if requested_version == "2" { "2" } else { "1" };
    let canonical = canonical_string(envelope);
    let key: [u8; 32] = Sha256::digest(canonical.as_bytes()).into();
    let cached = cache.and_then(|cache| {
        let entries = cache.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .iter()
            .find(|(v, k, _)| v == version && *k == key)
            .map(|(_, _, signature)| signature.clone())
    });
    let signature = match cached {
        Some(signature) => signature,
        None => {
            let slot = signer(state);
            let signer = slot
                .as_ref()
                .and_then(|slot| slot.0.get())
                .and_then(Option::as_ref);
            let signature = match signer.map(|signer| signer.sign(version, canonical.as_bytes())) {
                Some(Ok(signature)) => signature,
                Some(Err(err)) => {
                    tracing::error!(error = %err, "sns envelope signing failed");
                    String::new()
                }
                None => String::new(),
            };
            if let Some(cache) = cache
                && !signature.is_empty()
            {
                let mut entries = cache.0.lock().unwrap_or_else(PoisonError::into_inner);
                entries.push((version.to_owned(), key, signature.clone()));
            }
            signature
        }
    };
    envelope.insert("SignatureVersion".into(), json!(version));
    envelope.insert("Signature".into(), json!(signature));
    envelope.insert(
        "SigningCertURL".into(),
        json!(format!("{base_url}{CERT_PATH}")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_string_orders_signed_keys_and_skips_missing_subject() {
        let envelope = json!({"Type": "Notification", "TopicArn": "t", "Message": "m",
            "MessageId": "i", "Timestamp": "ts", "UnsubscribeURL": "u"});
        let map = envelope.as_object().expect("object");
        assert_eq!(
            canonical_string(map),
            "Message\nm\nMessageId\ni\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"
        );
    }

    #[test]
    fn certificate_is_der_with_the_public_key_and_verifies() {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("key");
        let cert = self_signed_cert(&pair).expect("cert");
        assert_eq!(cert[0], 0x30);
        let key = pair.public_key().as_ref().to_vec();
        assert!(cert.windows(key.len()).any(|w| w == key.as_slice()));
        let sig = sign_bytes(&pair, &signature::RSA_PKCS1_SHA256, b"x").expect("sign");
        let public = signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            pair.public_key().as_ref(),
        );
        assert!(public.verify(b"x", &sig).is_ok());
    }

    #[test]
    fn both_signature_versions_verify_with_the_public_key() {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("key");
        let pkcs8 = pair.as_der().expect("pkcs8").as_ref().to_vec();
        let signer = Signer::new(&pkcs8, Vec::new()).expect("signer");
        let b64 = base64::engine::general_purpose::STANDARD;
        for (version, algorithm) in [
            (
                "1",
                &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            ),
            ("2", &signature::RSA_PKCS1_2048_8192_SHA256),
        ] {
            let sig = b64
                .decode(signer.sign(version, b"canonical").expect("sign"))
                .expect("base64");
            let public = signature::UnparsedPublicKey::new(algorithm, pair.public_key().as_ref());
            assert!(
                public.verify(b"canonical", &sig).is_ok(),
                "version {version}"
            );
            assert!(public.verify(b"other", &sig).is_err(), "version {version}");
        }
    }
}
