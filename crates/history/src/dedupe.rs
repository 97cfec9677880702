//! [`IdFilter`]: an in-memory Bloom filter over the eventIDs of the `ids` keyspace, so that
//! indexing a new record (nearly every record) needs no point read to prove its eventID unseen.
//!
//! The filter only ever answers "maybe" for every eventID in `ids` (it is built from the
//! keyspace, and every eventID written after is added before its batch commits); a "maybe" is
//! settled by reading `ids`. Removed eventIDs (retention, reset) stay in the filter as false
//! positives until the next rebuild, which happens once as many eventIDs were added as the
//! filter was sized for — amortised O(1) per record, and memory stays at ~16 bits per
//! eventID held (2 MB per million).
//!
//! Blocked layout: each eventID sets one bit in each of the 8 words of one 64-byte block, so
//! a check touches one cache line. With 16 bits per eventID (at most half of them used
//! before a rebuild) well under 0.5 % of checks of new eventIDs go on to point reads (one per
//! retained day: `ids` is keyed by day first).

/// Bits per eventID the filter is sized for.
const BITS_PER_ID: u64 = 16;
/// Smallest capacity, in eventIDs.
const MIN_CAPACITY: u64 = 1 << 16;

pub(crate) struct IdFilter {
    blocks: Vec<[u64; 8]>,
    /// EventIDs the filter was sized for.
    capacity: u64,
    /// EventIDs added since it was built.
    added: u64,
}

impl IdFilter {
    /// An empty filter sized for `expected` eventIDs (at least twice as many fit before it
    /// asks for a rebuild).
    pub(crate) fn with_expected(expected: u64) -> IdFilter {
        let capacity = expected.saturating_mul(2).max(MIN_CAPACITY);
        let blocks = capacity.saturating_mul(BITS_PER_ID).div_ceil(512).max(1);
        IdFilter {
            blocks: vec![[0; 8]; usize::try_from(blocks).unwrap_or(usize::MAX)],
            capacity,
            added: 0,
        }
    }

    fn locate(&self, hash: u64) -> (usize, [u64; 8]) {
        // The high bits pick the block (multiply-shift), a remix of the hash the bits.
        let block = ((u128::from(hash) * self.blocks.len() as u128) >> 64) as usize;
        let mut bits = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (hash >> 29);
        let mut masks = [0u64; 8];
        for mask in &mut masks {
            *mask = 1 << (bits & 63);
            bits = bits.rotate_right(6);
        }
        (block, masks)
    }

    /// Adds an eventID by its hash.
    pub(crate) fn add(&mut self, hash: u64) {
        let (block, masks) = self.locate(hash);
        for (word, mask) in self.blocks[block].iter_mut().zip(masks) {
            *word |= mask;
        }
        self.added += 1;
    }

    /// `false` only if the eventID was never added.
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        let (block, masks) = self.locate(hash);
        self.blocks[block]
            .iter()
            .zip(masks)
            .all(|(word, mask)| word & mask == mask)
    }

    /// Whether more eventIDs were added than the filter was sized for.
    pub(crate) fn is_full(&self) -> bool {
        self.added > self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u64) -> u64 {
        // splitmix64: well-spread stand-ins for keyed eventID hashes.
        let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut filter = IdFilter::with_expected(50_000);
        for i in 0..100_000 {
            filter.add(hash(i));
        }
        assert!(!filter.is_full());
        assert!((0..100_000).all(|i| filter.may_contain(hash(i))));
        let false_positives = (100_000..200_000)
            .filter(|i| filter.may_contain(hash(*i)))
            .count();
        assert!(false_positives < 3_000, "{false_positives} of 100000");
        filter.add(hash(1));
        assert!(filter.is_full());
    }

    #[test]
    fn an_empty_filter_contains_nothing() {
        let filter = IdFilter::with_expected(0);
        assert!((0..1_000).all(|i| !filter.may_contain(hash(i))));
    }
}
