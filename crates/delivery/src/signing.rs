//! RSA key pairs that sign digests: SHA256withRSA (RSASSA-PKCS1-v1_5 over SHA-256), 2048-bit
//! keys, with aws-lc-rs.
//!
//! The private key is kept as PKCS#8 DER; the public key is published (ListPublicKeys) as DER
//! of the PKCS#1 `RSAPublicKey`, and its fingerprint is the hex MD5 of that DER — the AWS CLI
//! only compares the fingerprint with the digest's `digestPublicKeyFingerprint`.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, UnparsedPublicKey};
use md5::{Digest as _, Md5};

/// Failures of key handling.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("generating an rsa key pair failed")]
    Generate,
    #[error("the stored private key is not a valid pkcs#8 rsa key: {0}")]
    InvalidKey(String),
    #[error("signing failed")]
    Sign,
}

/// A private signing key.
pub struct SigningKey {
    pair: KeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl SigningKey {
    /// A new random 2048-bit key (takes a noticeable fraction of a second: call it off the
    /// async runtime).
    pub fn generate() -> Result<SigningKey, SigningError> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| SigningError::Generate)?;
        let pkcs8 = pair
            .as_der()
            .map_err(|_| SigningError::Generate)?
            .as_ref()
            .to_vec();
        Ok(SigningKey { pair, pkcs8 })
    }

    /// The key stored as PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, SigningError> {
        let pair =
            KeyPair::from_pkcs8(der).map_err(|err| SigningError::InvalidKey(err.to_string()))?;
        Ok(SigningKey {
            pair,
            pkcs8: der.to_vec(),
        })
    }

    /// The private key as PKCS#8 DER, for storage.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as DER of the PKCS#1 `RSAPublicKey`.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// [`fingerprint`] of the public key.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public_key_der())
    }

    /// The SHA256withRSA signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| SigningError::Sign)?;
        Ok(signature)
    }
}

/// Hex MD5 of a public key's DER.
pub fn fingerprint(public_key_der: &[u8]) -> String {
    hex::encode(Md5::digest(public_key_der))
}

/// Whether `signature` is a valid SHA256withRSA signature of `message` by the PKCS#1 DER
/// public key `public_key_der`.
pub fn verify(public_key_der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_key_der)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_round_trip_and_reload() {
        let key = SigningKey::generate().expect("generate");
        let public = key.public_key_der();
        // DER SEQUENCE of two INTEGERs (PKCS#1 RSAPublicKey), 270 bytes for 2048-bit keys.
        assert_eq!(public[0], 0x30);
        assert_eq!(public.len(), 270);
        let fingerprint = key.fingerprint();
        assert_eq!(fingerprint.len(), 32);
        assert!(fingerprint.chars().all(|c| c.is_ascii_hexdigit()));

        let message = b"2024-01-02T04:04:05Z\nbucket/key\nabcd\nnull";
        let signature = key.sign(message).expect("sign");
        assert_eq!(signature.len(), 256);
        assert!(verify(&public, message, &signature));
        assert!(!verify(&public, b"something else", &signature));
        let mut garbled = signature.clone();
        garbled[10] ^= 1;
        assert!(!verify(&public, message, &garbled));

        let reloaded = SigningKey::from_pkcs8(key.pkcs8_der()).expect("reload");
        assert_eq!(reloaded.fingerprint(), fingerprint);
        // PKCS#1 v1.5 is deterministic: a redone digest gets the same signature.
        assert_eq!(reloaded.sign(message).expect("sign"), signature);

        let other = SigningKey::generate().expect("generate");
        assert!(!verify(&other.public_key_der(), message, &signature));
        assert!(SigningKey::from_pkcs8(b"not a key").is_err());
    }
}
