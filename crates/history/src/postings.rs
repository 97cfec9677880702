//! Posting blocks: how one write batch's positions are grouped into few index entries, their
//! byte encoding, and the newest-first merge that reads them back.
//!
//! A block holds the positions one batch added to one posting within one [`BUCKET_MS`] time
//! bucket, newest first. Its key is `[posting 8][newest position 14]` (see [`crate::keys`]),
//! its value:
//!
//! ```text
//! [count varint]                total positions in the block, the newest (in the key) included
//! [span varint]                 newest time - oldest time, milliseconds
//! count - 1 times:              each position after the newest, relative to the one before it:
//!   [time delta varint]         previous time - this time (never negative)
//!   [seq delta zigzag varint]   this seq - previous seq (wrapping), zigzag-encoded
//! ```
//!
//! A forward scan of one posting visits blocks by their newest position, newest first. Blocks
//! of different batches may overlap in time (a late record, an import of old logs), so
//! [`Merge`] keeps the decoded blocks in a heap and emits a position only when no block still
//! unvisited can hold a newer one (every unvisited block's newest position is at most the next
//! key's). To find every block that may hold positions at or below an upper bound `U`, a scan
//! starts at `U + span`, where `span` bounds the time span of the day's blocks (tracked per
//! day, at most [`BUCKET_MS`] since blocks never cross a bucket).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasherDefault;

use crate::error::HistoryError;
use crate::keys::{POSITION_LEN, POSTING_LEN, Position};

/// Blocks never span more than this: it bounds how far above an upper bound a scan starts.
pub(crate) const BUCKET_MS: i64 = 3_600_000;
/// Length of a block key.
pub(crate) const BLOCK_KEY_LEN: usize = POSTING_LEN + POSITION_LEN;

/// The key of the block of `posting` whose newest position is `newest`.
pub(crate) fn block_key(posting: u64, newest: Position) -> [u8; BLOCK_KEY_LEN] {
    let mut out = [0; BLOCK_KEY_LEN];
    out[..POSTING_LEN].copy_from_slice(&posting.to_be_bytes());
    out[POSTING_LEN..].copy_from_slice(&newest.to_bytes());
    out
}

/// The newest position of a block, from its key.
pub(crate) fn newest_of_key(key: &[u8]) -> Result<Position, HistoryError> {
    key.get(POSTING_LEN..)
        .filter(|_| key.len() == BLOCK_KEY_LEN)
        .and_then(Position::from_bytes)
        .ok_or_else(|| HistoryError::Corrupt(format!("index key of {} bytes", key.len())))
}

/// One block to write: its key and its encoded value.
pub(crate) struct Block {
    pub(crate) newest: Position,
    pub(crate) key: [u8; BLOCK_KEY_LEN],
    pub(crate) value: Vec<u8>,
    /// Newest time - oldest time.
    pub(crate) span_ms: i64,
}

/// Postings are already keyed hashes: a multiply spreads them (and test postings, small
/// integers) well enough for a hash table.
#[derive(Default)]
pub(crate) struct SpreadHasher(u64);

impl std::hash::Hasher for SpreadHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Collects the (posting, position) pairs of one write batch, grouped by posting.
#[derive(Default)]
pub(crate) struct BatchPostings {
    groups: HashMap<u64, Vec<Position>, BuildHasherDefault<SpreadHasher>>,
}

impl BatchPostings {
    pub(crate) fn with_capacity(capacity: usize) -> BatchPostings {
        BatchPostings {
            groups: HashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default()),
        }
    }

    pub(crate) fn push(&mut self, posting: u64, position: Position) {
        self.groups.entry(posting).or_default().push(position);
    }

    /// The blocks of this batch, one per (posting, bucket), each with its positions newest
    /// first; a position added twice to a posting (two values of a record sharing a posting)
    /// is kept once. Blocks come in key order.
    pub(crate) fn into_blocks(self) -> impl Iterator<Item = Block> {
        let mut groups: Vec<(u64, Vec<Position>)> = self.groups.into_iter().collect();
        groups.sort_unstable_by_key(|(posting, _)| *posting);
        groups.into_iter().flat_map(|(posting, mut positions)| {
            // Batches come in journal order, mostly oldest first: reversed, the sort has
            // little left to do.
            positions.reverse();
            positions.sort_unstable();
            positions.dedup();
            let mut start = 0;
            std::iter::from_fn(move || {
                let newest = *positions.get(start)?;
                let bucket = newest.time_ms().div_euclid(BUCKET_MS);
                let len = positions[start..]
                    .iter()
                    .take_while(|p| p.time_ms().div_euclid(BUCKET_MS) == bucket)
                    .count();
                let block = encode_block(posting, &positions[start..start + len]);
                start += len;
                Some(block)
            })
        })
    }
}

/// Encodes one block; `positions` are of one posting, newest first, not empty.
fn encode_block(posting: u64, positions: &[Position]) -> Block {
    let newest = positions[0];
    let oldest = positions[positions.len() - 1];
    let span_ms = newest.time_ms() - oldest.time_ms();
    let mut value = Vec::with_capacity(4 + positions.len() * 3);
    put_varint(&mut value, positions.len() as u64);
    put_varint(&mut value, span_ms.unsigned_abs());
    let mut previous = newest;
    for &position in &positions[1..] {
        put_varint(
            &mut value,
            (previous.time_ms() - position.time_ms()).unsigned_abs(),
        );
        let delta = position.seq().wrapping_sub(previous.seq()).cast_signed();
        put_varint(&mut value, zigzag(delta));
        previous = position;
    }
    Block {
        newest,
        key: block_key(posting, newest),
        value,
        span_ms,
    }
}

/// Decodes a block whose newest position is `newest`, keeping the positions in
/// `newest_allowed..=oldest_allowed` (newest-first order), newest first.
pub(crate) fn decode_block(
    newest: Position,
    value: &[u8],
    newest_allowed: Position,
    oldest_allowed: Position,
    out: &mut Vec<Position>,
) -> Result<(), HistoryError> {
    let corrupt = || HistoryError::Corrupt("malformed posting block".into());
    let mut reader = value;
    let count = get_varint(&mut reader).ok_or_else(corrupt)?;
    let _span = get_varint(&mut reader).ok_or_else(corrupt)?;
    let mut position = newest;
    for i in 0..count {
        if i > 0 {
            let time_delta = get_varint(&mut reader).ok_or_else(corrupt)?;
            let seq_delta = unzigzag(get_varint(&mut reader).ok_or_else(corrupt)?);
            let time = i64::try_from(time_delta)
                .ok()
                .and_then(|delta| position.time_ms().checked_sub(delta))
                .filter(|time| *time >= 0)
                .ok_or_else(corrupt)?;
            position = Position::new(time, position.seq().wrapping_add(seq_delta.cast_unsigned()));
        }
        if position > oldest_allowed {
            return Ok(());
        }
        if position >= newest_allowed {
            out.push(position);
        }
    }
    if reader.is_empty() {
        Ok(())
    } else {
        Err(corrupt())
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        value |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)).cast_unsigned()
}

fn unzigzag(value: u64) -> i64 {
    (value >> 1).cast_signed() ^ -((value & 1).cast_signed())
}

/// Newest-first merge of the blocks of one posting, fed in key order.
#[derive(Default)]
pub(crate) struct Merge {
    /// Decoded blocks (positions newest first) and how far each has been consumed.
    blocks: Vec<(Vec<Position>, usize)>,
    /// The next position of every block not yet exhausted, newest on top.
    heap: BinaryHeap<Reverse<(Position, usize)>>,
    /// Emptied block vectors, reused.
    spare: Vec<Vec<Position>>,
    last: Option<Position>,
}

impl Merge {
    /// Whether the newest pending position is newer than `bound` (the next unvisited block's
    /// newest position), so that it can be emitted before visiting more blocks.
    pub(crate) fn ready_before(&self, bound: Position) -> bool {
        self.heap
            .peek()
            .is_some_and(|Reverse((top, _))| *top < bound)
    }

    /// Adds a decoded block, handing out a vector for [`decode_block`] to fill.
    pub(crate) fn add_block(
        &mut self,
        fill: impl FnOnce(&mut Vec<Position>) -> Result<(), HistoryError>,
    ) -> Result<(), HistoryError> {
        let mut positions = self.spare.pop().unwrap_or_default();
        positions.clear();
        fill(&mut positions)?;
        match positions.first() {
            Some(&first) => {
                self.heap.push(Reverse((first, self.blocks.len())));
                self.blocks.push((positions, 1));
            }
            None => self.spare.push(positions),
        }
        Ok(())
    }

    /// The newest pending position (each position once).
    pub(crate) fn pop(&mut self) -> Option<Position> {
        loop {
            let Reverse((position, block)) = self.heap.pop()?;
            let (positions, cursor) = &mut self.blocks[block];
            if let Some(&next) = positions.get(*cursor) {
                *cursor += 1;
                self.heap.push(Reverse((next, block)));
            }
            if self.last != Some(position) {
                self.last = Some(position);
                return Some(position);
            }
        }
    }

    /// Forgets every block (for the next day partition).
    pub(crate) fn reset(&mut self) {
        self.heap.clear();
        for (positions, _) in self.blocks.drain(..) {
            self.spare.push(positions);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(block: &Block) -> Vec<Position> {
        let mut out = Vec::new();
        decode_block(
            newest_of_key(&block.key).expect("key"),
            &block.value,
            Position::newest_at(i64::MAX),
            Position::oldest_at(0),
            &mut out,
        )
        .expect("decodes");
        out
    }

    #[test]
    fn varints_and_zigzag_round_trip() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut bytes = Vec::new();
            put_varint(&mut bytes, value);
            let mut reader = bytes.as_slice();
            assert_eq!(get_varint(&mut reader), Some(value));
            assert!(reader.is_empty());
        }
        for value in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(value)), value);
        }
        assert_eq!(get_varint(&mut [0x80u8, 0x80].as_slice()), None);
        assert_eq!(get_varint(&mut [0xffu8; 11].as_slice()), None);
    }

    #[test]
    fn blocks_group_by_posting_and_bucket_newest_first() {
        let mut batch = BatchPostings::default();
        let base = 100 * BUCKET_MS;
        // Posting 1: two buckets, out of order, one duplicate; posting 2: one position.
        for (posting, time, seq) in [
            (1, base + 5, 10),
            (1, base + 5, 9),
            (1, base - 1, 30),
            (2, base + 1, 11),
            (1, base + 7, 3),
            (1, base + 5, 9),
            (1, base, u64::MAX),
        ] {
            batch.push(posting, Position::new(time, seq));
        }
        let blocks: Vec<Block> = batch.into_blocks().collect();
        let decoded: Vec<(u64, Vec<(i64, u64)>)> = blocks
            .iter()
            .map(|block| {
                let posting = u64::from_be_bytes(block.key[..8].try_into().expect("8"));
                let positions = decode_all(block)
                    .into_iter()
                    .map(|p| (p.time_ms(), p.seq()))
                    .collect();
                (posting, positions)
            })
            .collect();
        assert_eq!(
            decoded,
            vec![
                (
                    1,
                    vec![
                        (base + 7, 3),
                        (base + 5, 10),
                        (base + 5, 9),
                        (base, u64::MAX)
                    ]
                ),
                (1, vec![(base - 1, 30)]),
                (2, vec![(base + 1, 11)]),
            ]
        );
        assert_eq!(blocks[0].span_ms, 7);
        assert_eq!(blocks[1].span_ms, 0);
        // Keys sort like the merge visits them: by posting, then newest first.
        assert!(blocks.windows(2).all(|w| w[0].key < w[1].key));
    }

    #[test]
    fn decoding_filters_by_bounds_and_rejects_garbage() {
        let mut batch = BatchPostings::default();
        for seq in 0..10u64 {
            batch.push(7, Position::new(1_000 + seq as i64, seq));
        }
        let block = batch.into_blocks().next().expect("a block");
        let newest = newest_of_key(&block.key).expect("key");
        let mut out = Vec::new();
        decode_block(
            newest,
            &block.value,
            Position::newest_at(1_007),
            Position::oldest_at(1_003),
            &mut out,
        )
        .expect("decodes");
        let times: Vec<i64> = out.iter().map(|p| p.time_ms()).collect();
        assert_eq!(times, [1_007, 1_006, 1_005, 1_004, 1_003]);
        for bad in [
            &block.value[..block.value.len() - 1],
            &[0x05][..],
            &[0xff][..],
        ] {
            let mut out = Vec::new();
            let all = Position::newest_at(i64::MAX);
            assert!(decode_block(newest, bad, all, Position::oldest_at(0), &mut out).is_err());
        }
        let mut longer = block.value.clone();
        longer.push(0);
        let mut out = Vec::new();
        let all = Position::newest_at(i64::MAX);
        assert!(decode_block(newest, &longer, all, Position::oldest_at(0), &mut out).is_err());
        assert!(newest_of_key(&block.key[1..]).is_err());
    }

    #[test]
    fn merge_emits_overlapping_blocks_newest_first_once() {
        let blocks: [&[(i64, u64)]; 3] = [
            &[(50, 5), (30, 3), (10, 1)],
            &[(40, 4), (30, 3), (20, 2)],
            &[(35, 9), (5, 0)],
        ];
        let mut merge = Merge::default();
        let mut out = Vec::new();
        let mut next = 0;
        loop {
            while next < blocks.len() {
                let bound = Position::new(blocks[next][0].0, blocks[next][0].1);
                if merge.ready_before(bound) {
                    break;
                }
                merge
                    .add_block(|v| {
                        v.extend(blocks[next].iter().map(|&(t, s)| Position::new(t, s)));
                        Ok(())
                    })
                    .expect("add");
                next += 1;
            }
            match merge.pop() {
                Some(position) => out.push((position.time_ms(), position.seq())),
                None => break,
            }
        }
        assert_eq!(
            out,
            [(50, 5), (40, 4), (35, 9), (30, 3), (20, 2), (10, 1), (5, 0)]
        );
        merge.reset();
        assert_eq!(merge.pop(), None);
    }
}
