//! The per-field indexes behind the machine: each answers "which matcher ids accept this value"
//! in time that depends on the value and the answer, not on how many matchers there are.
//!
//! - [`AffixIndex`]: prefixes and suffixes — one hash probe per distinct key length.
//! - [`IntervalIndex`]: numeric ranges and CIDR blocks — intervals sorted by low bound with a
//!   max-high segment tree, so a stabbing query visits only intervals that contain the value.
//! - [`WildcardIndex`]: globs filed under their leading literal (or trailing, or neither), then
//!   checked one by one among the few candidates.

use crate::hash::FastMap;
use crate::value::Glob;

/// Keys that must start (or, with `SUFFIX`, end) a value, hashed by the key bytes and grouped
/// by key length: a query looks up the value's prefix (suffix) of each length in use — one hash
/// probe per distinct length, however many keys there are.
#[derive(Debug, Clone, Default)]
pub(crate) struct AffixIndex<const SUFFIX: bool> {
    map: FastMap<Box<[u8]>, Vec<u32>>,
    /// Distinct key lengths, ascending.
    lengths: Vec<usize>,
}

pub(crate) type PrefixIndex = AffixIndex<false>;
pub(crate) type SuffixIndex = AffixIndex<true>;

impl<const SUFFIX: bool> AffixIndex<SUFFIX> {
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn insert(&mut self, key: &[u8], id: u32) {
        self.map.entry(key.into()).or_default().push(id);
        if let Err(at) = self.lengths.binary_search(&key.len()) {
            self.lengths.insert(at, key.len());
        }
    }

    /// Calls `f` with the ids of every key that starts (ends) `value`.
    #[inline]
    pub(crate) fn query(&self, value: &[u8], f: &mut impl FnMut(u32)) {
        for &length in &self.lengths {
            if length > value.len() {
                return;
            }
            let affix = if SUFFIX {
                &value[value.len() - length..]
            } else {
                &value[..length]
            };
            if let Some(ids) = self.map.get(affix) {
                ids.iter().for_each(|&id| f(id));
            }
        }
    }
}

/// Up to this many intervals, a query scans them (sorted by low bound) instead of the tree.
const LINEAR_INTERVALS: usize = 16;

/// Closed intervals over an ordered key, answering stabbing queries.
#[derive(Debug, Clone)]
pub(crate) struct IntervalIndex<K> {
    /// (low, high, id), sorted by low.
    items: Vec<(K, K, u32)>,
    /// Segment tree over `items` of the largest high bound; leaves start at `leaves`.
    max_high: Vec<Option<K>>,
    leaves: usize,
    built: bool,
}

impl<K> Default for IntervalIndex<K> {
    fn default() -> Self {
        IntervalIndex {
            items: Vec::new(),
            max_high: Vec::new(),
            leaves: 0,
            built: true,
        }
    }
}

impl<K: Ord + Copy> IntervalIndex<K> {
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn insert(&mut self, low: K, high: K, id: u32) {
        if low <= high {
            self.items.push((low, high, id));
            self.built = false;
        }
    }

    pub(crate) fn build(&mut self) {
        self.items.sort_by_key(|item| item.0);
        self.leaves = self.items.len().next_power_of_two();
        self.max_high = vec![None; 2 * self.leaves];
        for (i, item) in self.items.iter().enumerate() {
            self.max_high[self.leaves + i] = Some(item.1);
        }
        for node in (1..self.leaves).rev() {
            self.max_high[node] = self.max_high[2 * node].max(self.max_high[2 * node + 1]);
        }
        self.built = true;
    }

    /// Calls `f` with the id of every interval containing `x`.
    pub(crate) fn query(&self, x: K, f: &mut impl FnMut(u32)) {
        debug_assert!(self.built, "IntervalIndex::build not called");
        if self.items.len() <= LINEAR_INTERVALS {
            for &(low, high, id) in &self.items {
                if low > x {
                    break;
                }
                if x <= high {
                    f(id);
                }
            }
            return;
        }
        let candidates = self.items.partition_point(|item| item.0 <= x);
        if candidates == 0 {
            return;
        }
        self.visit(1, 0, self.leaves, candidates, x, f);
    }

    fn visit(
        &self,
        node: usize,
        from: usize,
        to: usize,
        candidates: usize,
        x: K,
        f: &mut impl FnMut(u32),
    ) {
        if from >= candidates || self.max_high[node] < Some(x) {
            return;
        }
        if to - from == 1 {
            f(self.items[from].2);
            return;
        }
        let middle = (from + to) / 2;
        self.visit(2 * node, from, middle, candidates, x, f);
        self.visit(2 * node + 1, middle, to, candidates, x, f);
    }
}

/// Globs, filed under a literal they must start or end with.
#[derive(Debug, Clone, Default)]
pub(crate) struct WildcardIndex {
    globs: Vec<(Glob, u32)>,
    by_first: PrefixIndex,
    by_last: SuffixIndex,
    unanchored: Vec<u32>,
}

impl WildcardIndex {
    pub(crate) fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    pub(crate) fn insert(&mut self, glob: Glob, id: u32) {
        let slot = self.globs.len() as u32;
        if !glob.first_segment().is_empty() {
            self.by_first.insert(glob.first_segment(), slot);
        } else if !glob.last_segment().is_empty() {
            self.by_last.insert(glob.last_segment(), slot);
        } else {
            self.unanchored.push(slot);
        }
        self.globs.push((glob, id));
    }

    /// Calls `f` with the id of every glob matching `value`.
    pub(crate) fn query(&self, value: &[u8], f: &mut impl FnMut(u32)) {
        let mut check = |slot: u32| {
            let (glob, id) = &self.globs[slot as usize];
            if glob.matches(value) {
                f(*id);
            }
        };
        self.by_first.query(value, &mut check);
        self.by_last.query(value, &mut check);
        self.unanchored.iter().for_each(|&slot| check(slot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affixes_report_every_match() {
        let mut prefixes = PrefixIndex::default();
        let mut suffixes = SuffixIndex::default();
        for (i, key) in ["", "a", "ab", "abd", "b", "bc"].iter().enumerate() {
            prefixes.insert(key.as_bytes(), i as u32);
            suffixes.insert(key.as_bytes(), i as u32);
        }
        let mut found = Vec::new();
        prefixes.query(b"abc", &mut |id| found.push(id));
        assert_eq!(found, vec![0, 1, 2]);
        found.clear();
        suffixes.query(b"abc", &mut |id| found.push(id));
        assert_eq!(found, vec![0, 5]);
    }

    #[test]
    fn interval_queries_match_a_scan() {
        let mut index = IntervalIndex::default();
        let intervals: Vec<(i64, i64)> = (0..200)
            .map(|i| ((i * 37) % 101 - 50, (i * 37) % 101 - 50 + (i % 13)))
            .collect();
        for (id, &(low, high)) in intervals.iter().enumerate() {
            index.insert(low, high, id as u32);
        }
        index.build();
        for x in -60..70 {
            let mut found = Vec::new();
            index.query(x, &mut |id| found.push(id));
            found.sort_unstable();
            let expected: Vec<u32> = intervals
                .iter()
                .enumerate()
                .filter(|(_, (low, high))| (*low..=*high).contains(&x))
                .map(|(id, _)| id as u32)
                .collect();
            assert_eq!(found, expected, "x = {x}");
        }
    }

    #[test]
    fn wildcard_index_checks_candidates() {
        let mut index = WildcardIndex::default();
        for (id, text) in ["FUL*ON", "*ST", "*E*", "M*N", "exact"].iter().enumerate() {
            index.insert(Glob::parse(text).expect("glob"), id as u32);
        }
        let mut found = Vec::new();
        index.query(b"FULTON", &mut |id| found.push(id));
        found.sort_unstable();
        assert_eq!(found, vec![0]);
        found.clear();
        index.query(b"MEST", &mut |id| found.push(id));
        found.sort_unstable();
        assert_eq!(found, vec![1, 2]);
    }
}
