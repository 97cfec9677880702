//! The two parts of an index key (see the crate docs for the whole on-disk format):
//! - `posting`: keyed SipHash-2-4 over (kind, account, region, value), 8 bytes big-endian —
//!   one posting list per attribute value and scope. Different values may share a posting
//!   (a hash collision), so lookups verify every candidate against the query; the key is
//!   secret per index, so collisions cannot be forced;
//! - `position`: [`Position`], 14 bytes whose byte order is newest first.

use crate::query::LookupAttributeKey;

/// Kind of the time-only posting (every event is in the one of its scope).
pub(crate) const KIND_TIME: u8 = 0x01;
/// Set on the kind byte of postings of Insights records.
pub(crate) const INSIGHT_BIT: u8 = 0x80;
pub(crate) const POSTING_LEN: usize = 8;
pub(crate) const POSITION_LEN: usize = 14;
/// Largest event time an index key can hold (48 bits of milliseconds, year 10889).
pub(crate) const MAX_TIME_MS: i64 = (1 << 48) - 1;

/// The kind byte of an attribute posting.
pub(crate) fn attribute_kind(key: LookupAttributeKey) -> u8 {
    match key {
        LookupAttributeKey::EventId => 0x02,
        LookupAttributeKey::EventName => 0x03,
        LookupAttributeKey::ReadOnly => 0x04,
        LookupAttributeKey::Username => 0x05,
        LookupAttributeKey::ResourceType => 0x06,
        LookupAttributeKey::ResourceName => 0x07,
        LookupAttributeKey::EventSource => 0x08,
        LookupAttributeKey::AccessKeyId => 0x09,
    }
}

/// Computes posting ids with the index's secret key.
#[derive(Clone)]
pub(crate) struct PostingHasher {
    k0: u64,
    k1: u64,
    /// Tests only: every posting and every eventID hash is the same, to prove that lookups
    /// and the dedupe verify candidates.
    #[cfg(test)]
    collide: bool,
}

/// The account and region of a record, encoded once for all its postings.
pub(crate) struct Scope(Vec<u8>);

impl Scope {
    pub(crate) fn new(account: &str, region: &str) -> Scope {
        let mut bytes = Vec::with_capacity(account.len() + region.len() + 8);
        for part in [account, region] {
            bytes.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_le_bytes());
            bytes.extend_from_slice(part.as_bytes());
        }
        Scope(bytes)
    }

    /// Makes this the scope of (`account`, `region`), reusing its buffer.
    pub(crate) fn set(&mut self, account: &str, region: &str) {
        self.0.clear();
        for part in [account, region] {
            self.0
                .extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_le_bytes());
            self.0.extend_from_slice(part.as_bytes());
        }
    }
}

impl PostingHasher {
    /// `key` must be 16 bytes or longer; only the first 16 are used.
    pub(crate) fn new(key: &[u8]) -> Option<PostingHasher> {
        let k0 = u64::from_le_bytes(key.get(..8)?.try_into().ok()?);
        let k1 = u64::from_le_bytes(key.get(8..16)?.try_into().ok()?);
        Some(PostingHasher {
            k0,
            k1,
            #[cfg(test)]
            collide: false,
        })
    }

    /// A hasher under which all postings and all eventID hashes collide.
    #[cfg(test)]
    pub(crate) fn colliding() -> PostingHasher {
        PostingHasher {
            k0: 0,
            k1: 0,
            collide: true,
        }
    }

    /// The posting of (kind, scope, value); `scratch` is reused to avoid allocations.
    pub(crate) fn posting(
        &self,
        scratch: &mut Vec<u8>,
        kind: u8,
        scope: &Scope,
        value: &[u8],
    ) -> u64 {
        #[cfg(test)]
        if self.collide {
            return 0;
        }
        scratch.clear();
        scratch.push(kind);
        scratch.extend_from_slice(&scope.0);
        scratch.extend_from_slice(value);
        siphash24(self.k0, self.k1, scratch)
    }
}

impl PostingHasher {
    /// The hash of an eventID: the dedupe filter's and the `ids` key's (eventIDs may share
    /// one, so the stored eventIDs are compared).
    pub(crate) fn id_hash(&self, event_id: &[u8]) -> u64 {
        #[cfg(test)]
        if self.collide {
            return 0;
        }
        siphash24(self.k1, self.k0, event_id)
    }
}

/// SipHash-2-4 (Aumasson & Bernstein), as in the reference implementation.
fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let m = u64::from_le_bytes(word);
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0u8; 8];
    let tail = chunks.remainder();
    last[..tail.len()].copy_from_slice(tail);
    last[7] = data.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Where an event sits in the newest-first order: inverted time (48 bits), then inverted
/// journal seq (64 bits), big-endian, so byte order is (time descending, seq descending).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    inverted_time: u64,
    inverted_seq: u64,
}

impl Position {
    /// The position of an event at `time_ms` with journal sequence `seq`; times are clamped
    /// to `0..=MAX_TIME_MS` (records outside cannot be parsed from an RFC 3339 `eventTime`).
    pub(crate) fn new(time_ms: i64, seq: u64) -> Position {
        let time = time_ms.clamp(0, MAX_TIME_MS).unsigned_abs();
        Position {
            inverted_time: MAX_TIME_MS.unsigned_abs() - time,
            inverted_seq: u64::MAX - seq,
        }
    }

    /// The first position at `time_ms` (the largest seq).
    pub(crate) fn newest_at(time_ms: i64) -> Position {
        Position::new(time_ms, u64::MAX)
    }

    /// The last position at `time_ms` (seq 0).
    pub(crate) fn oldest_at(time_ms: i64) -> Position {
        Position::new(time_ms, 0)
    }

    /// The position right after this one in newest-first order; `None` after the oldest.
    pub(crate) fn next_older(self) -> Option<Position> {
        if self.inverted_seq < u64::MAX {
            return Some(Position {
                inverted_seq: self.inverted_seq + 1,
                ..self
            });
        }
        (self.inverted_time < MAX_TIME_MS.unsigned_abs()).then(|| Position {
            inverted_time: self.inverted_time + 1,
            inverted_seq: 0,
        })
    }

    pub(crate) fn time_ms(self) -> i64 {
        MAX_TIME_MS - i64::try_from(self.inverted_time).unwrap_or(MAX_TIME_MS)
    }

    pub(crate) fn seq(self) -> u64 {
        u64::MAX - self.inverted_seq
    }

    pub(crate) fn to_bytes(self) -> [u8; POSITION_LEN] {
        let mut out = [0; POSITION_LEN];
        out[..6].copy_from_slice(&self.inverted_time.to_be_bytes()[2..]);
        out[6..].copy_from_slice(&self.inverted_seq.to_be_bytes());
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Position> {
        if bytes.len() != POSITION_LEN {
            return None;
        }
        let mut time = [0u8; 8];
        time[2..].copy_from_slice(&bytes[..6]);
        Some(Position {
            inverted_time: u64::from_be_bytes(time),
            inverted_seq: u64::from_be_bytes(bytes[6..].try_into().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_matches_the_reference_vectors() {
        let key: Vec<u8> = (0u8..16).collect();
        let hasher = PostingHasher::new(&key).expect("16 bytes");
        assert_eq!(siphash24(hasher.k0, hasher.k1, &[]), 0x726f_db47_dd0e_0e31);
        let message: Vec<u8> = (0u8..15).collect();
        assert_eq!(
            siphash24(hasher.k0, hasher.k1, &message),
            0xa129_ca61_49be_45e5
        );
        assert!(PostingHasher::new(&key[..15]).is_none());
    }

    #[test]
    fn postings_separate_kind_scope_and_value() {
        let hasher = PostingHasher::new(&[7; 16]).expect("key");
        let mut scratch = Vec::new();
        let mut posting = |kind, account, region, value: &str| {
            hasher.posting(
                &mut scratch,
                kind,
                &Scope::new(account, region),
                value.as_bytes(),
            )
        };
        let base = posting(3, "111122223333", "us-east-1", "CreateBucket");
        assert_eq!(
            base,
            posting(3, "111122223333", "us-east-1", "CreateBucket")
        );
        assert_ne!(
            base,
            posting(3 | INSIGHT_BIT, "111122223333", "us-east-1", "CreateBucket")
        );
        assert_ne!(
            base,
            posting(4, "111122223333", "us-east-1", "CreateBucket")
        );
        assert_ne!(
            base,
            posting(3, "111122223334", "us-east-1", "CreateBucket")
        );
        assert_ne!(
            base,
            posting(3, "111122223333", "us-east-2", "CreateBucket")
        );
        assert_ne!(base, posting(3, "111122223333", "us-east-1", "CreateBucke"));
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        assert_ne!(posting(3, "ab", "c", "v"), posting(3, "a", "bc", "v"));
    }

    #[test]
    fn positions_sort_newest_first_then_seq_descending() {
        let a = Position::new(2_000, 5);
        let b = Position::new(2_000, 4);
        let c = Position::new(1_000, 9);
        assert!(a < b && b < c);
        assert!(a.to_bytes() < b.to_bytes() && b.to_bytes() < c.to_bytes());
        assert_eq!(Position::from_bytes(&a.to_bytes()), Some(a));
        assert_eq!((a.time_ms(), a.seq()), (2_000, 5));
        assert!(Position::newest_at(2_000) < a && Position::oldest_at(2_000) > a);
        assert_eq!(b.next_older(), Some(Position::new(2_000, 3)));
        assert_eq!(
            Position::new(2_000, 0).next_older(),
            Some(Position::newest_at(1_999))
        );
        assert_eq!(Position::new(0, 0).next_older(), None);
        let late = Position::new(253_402_300_799_999, u64::MAX);
        assert_eq!(
            (late.time_ms(), late.seq()),
            (253_402_300_799_999, u64::MAX)
        );
    }
}
