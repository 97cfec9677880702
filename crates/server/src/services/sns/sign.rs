//! Message signatures: SNS signs every envelope over AWS's canonical string with
//! SHA256withRSA (`SignatureVersion` 2; version 1's SHA1withRSA is not available), and publishes the certificate at
//! [`CERT_PATH`]. The RSA key and its self-signed X.509 certificate are made once and kept
//! in the metadata store (table `sns.signing`).

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;
use opentrail_meta::Meta;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Where opentrail serves the signing certificate (PEM).
pub const CERT_PATH: &str = "/_opentrail/sns/cert.pem";
const TABLE: &str = "sns.signing";

#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    pkcs8: String,
    cert: String,
}

/// The signing key and its certificate.
pub struct Signer {
    pair: KeyPair,
    cert_der: Vec<u8>,
}

static SIGNER: OnceLock<Option<Signer>> = OnceLock::new();

/// Loads (or makes and stores) the signer. Call once at the first SNS request.
pub fn init(meta: &Meta) {
    SIGNER.get_or_init(|| match load_or_create(meta) {
        Ok(signer) => Some(signer),
        Err(err) => {
            tracing::error!(error = %err, "sns signing key unavailable");
            None
        }
    });
}

fn signer() -> Option<&'static Signer> {
    SIGNER.get().and_then(Option::as_ref)
}

fn load_or_create(meta: &Meta) -> Result<Signer, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Ok(Some(stored)) = meta.get::<Stored>(TABLE, "key") {
        let pkcs8 = b64.decode(&stored.pkcs8).map_err(|e| e.to_string())?;
        let cert_der = b64.decode(&stored.cert).map_err(|e| e.to_string())?;
        let pair = KeyPair::from_pkcs8(&pkcs8).map_err(|e| e.to_string())?;
        return Ok(Signer { pair, cert_der });
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
    Ok(Signer { pair, cert_der })
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
pub fn cert_pem() -> Option<String> {
    let signer = signer()?;
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

/// Adds `SignatureVersion`, `Signature` and `SigningCertURL` to an envelope. Every envelope
/// is signed with SHA256withRSA and says `SignatureVersion` 2, whatever the topic asks for:
/// aws-lc-rs cannot make SHA1withRSA signatures (version 1).
pub fn sign_envelope(base_url: &str, _requested_version: &str, envelope: &mut Map<String, Value>) {
    let version = "2";
    let algorithm: &'static dyn signature::RsaEncoding = &signature::RSA_PKCS1_SHA256;
    let canonical = canonical_string(envelope);
    let signature = signer()
        .and_then(|signer| sign_bytes(&signer.pair, algorithm, canonical.as_bytes()).ok())
        .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes))
        .unwrap_or_default();
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
}
