//! The digest-signing key pairs, one series per region, in the metadata store.
//!
//! # Table (format version 1)
//! `delivery-signing-keys`, key `<region>/<valid_from_ms, 20 digits>` → [`StoredKey`]: the
//! private key (PKCS#8 DER, base64), the public key (PKCS#1 DER, base64), its fingerprint and
//! its validity. The newest key of a region (no `valid_to_ms`) signs; it is replaced after
//! [`ROTATION_MS`], and the old key keeps its row (with `valid_to_ms` set) so ListPublicKeys
//! can still return it for digests it signed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use opentrail_delivery::signing::SigningKey;
use opentrail_meta::{Meta, MetaError};
use serde::{Deserialize, Serialize};

use super::error::DeliveryError;

pub const KEYS_TABLE: &str = "delivery-signing-keys";
pub const KEY_FORMAT_VERSION: u32 = 1;
/// How long one key signs before the next replaces it.
pub const ROTATION_MS: i64 = 24 * 3600 * 1000;

/// One signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    pub version: u32,
    pub region: String,
    /// PKCS#8 DER, base64.
    pub private_key: String,
    /// PKCS#1 `RSAPublicKey` DER, base64 (the ListPublicKeys `Value`).
    pub public_key: String,
    pub fingerprint: String,
    pub valid_from_ms: i64,
    /// Set once a newer key took over.
    #[serde(default)]
    pub valid_to_ms: Option<i64>,
}

impl StoredKey {
    /// The end of the key's validity as ListPublicKeys reports it: when it was replaced, else
    /// its planned rotation (or now, when rotation is overdue).
    pub fn validity_end_ms(&self, now_ms: i64) -> i64 {
        self.valid_to_ms
            .unwrap_or_else(|| (self.valid_from_ms + ROTATION_MS).max(now_ms))
    }
}

fn row_key(region: &str, valid_from_ms: i64) -> String {
    format!("{region}/{valid_from_ms:020}")
}

/// Every key of `region`, oldest first.
pub fn region_keys(meta: &Meta, region: &str) -> Result<Vec<StoredKey>, MetaError> {
    Ok(meta
        .list::<StoredKey>(KEYS_TABLE, &format!("{region}/"))?
        .into_iter()
        .map(|(_, key)| key)
        .collect())
}

/// The keys of `region` whose validity overlaps `[start_ms, end_ms]`, oldest first.
pub fn keys_in_range(
    meta: &Meta,
    region: &str,
    start_ms: i64,
    end_ms: i64,
    now_ms: i64,
) -> Result<Vec<StoredKey>, MetaError> {
    Ok(region_keys(meta, region)?
        .into_iter()
        .filter(|key| key.valid_from_ms <= end_ms && key.validity_end_ms(now_ms) >= start_ms)
        .collect())
}

/// The key that signs in `region` now; creates the first one, or the next one when the
/// current key is due for rotation. Blocks (key generation takes a while).
pub fn signing_key(
    meta: &Meta,
    region: &str,
    now_ms: i64,
) -> Result<(StoredKey, SigningKey), DeliveryError> {
    let current = region_keys(meta, region)?
        .into_iter()
        .rev()
        .find(|key| key.valid_to_ms.is_none());
    if let Some(stored) = current
        && now_ms < stored.valid_from_ms + ROTATION_MS
    {
        let der = BASE64.decode(&stored.private_key).map_err(|err| {
            DeliveryError::Key(format!("stored key of {region} is not base64: {err}"))
        })?;
        let key = SigningKey::from_pkcs8(&der)?;
        return Ok((stored, key));
    }
    let key = SigningKey::generate()?;
    let stored = StoredKey {
        version: KEY_FORMAT_VERSION,
        region: region.to_owned(),
        private_key: BASE64.encode(key.pkcs8_der()),
        public_key: BASE64.encode(key.public_key_der()),
        fingerprint: key.fingerprint(),
        valid_from_ms: now_ms,
        valid_to_ms: None,
    };
    meta.write(|txn| {
        for (row, mut old) in txn.list::<StoredKey>(KEYS_TABLE, &format!("{region}/"))? {
            if old.valid_to_ms.is_none() {
                old.valid_to_ms = Some(now_ms);
                txn.put(KEYS_TABLE, &row, &old)?;
            }
        }
        txn.put(KEYS_TABLE, &row_key(region, now_ms), &stored)
    })?;
    tracing::info!(
        region,
        fingerprint = stored.fingerprint,
        "new digest signing key"
    );
    Ok((stored, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_rotate_and_old_ones_stay_listable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Meta::open(dir.path()).expect("meta");
        let t0 = 1_700_000_000_000;
        let (first, _) = signing_key(&meta, "us-east-1", t0).expect("first");
        let (again, _) = signing_key(&meta, "us-east-1", t0 + 1000).expect("again");
        assert_eq!(first.fingerprint, again.fingerprint);
        let later = t0 + ROTATION_MS + 1;
        let (second, _) = signing_key(&meta, "us-east-1", later).expect("rotated");
        assert_ne!(first.fingerprint, second.fingerprint);
        let all = region_keys(&meta, "us-east-1").expect("keys");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].valid_to_ms, Some(later));
        // Only the old key covers the first hour; both cover the whole range.
        let early = keys_in_range(&meta, "us-east-1", t0, t0 + 3_600_000, later).expect("range");
        assert_eq!(early.len(), 1);
        assert_eq!(early[0].fingerprint, first.fingerprint);
        let both = keys_in_range(&meta, "us-east-1", t0, later + 10, later).expect("range");
        assert_eq!(both.len(), 2);
        assert!(
            keys_in_range(&meta, "eu-west-1", t0, later, later)
                .expect("other")
                .is_empty()
        );
    }
}
