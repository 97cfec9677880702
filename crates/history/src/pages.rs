//! Event pages: the stored bodies of one day's records of one `index` batch, packed into values
//! of about [`PAGE_TARGET`] bytes, so a batch costs one write per page instead of one per
//! record (and the event keyspaces hold few, large entries).
//!
//! A page is keyed by the journal seq of its first record (`[seq u64 BE]`) and holds records in
//! strictly ascending seq order:
//! `[count u32 BE]`, then `count` × `[seq u64 BE][end u32 BE]` (the offset table, `end` relative
//! to the data that follows), then the entries, each `[eventID length u16 BE][eventID][record
//! JSON text]`. Reading one record finds the page with the largest first seq at or below it
//! (pages of batches indexed out of order may interleave: earlier pages are tried in turn),
//! binary-searches the offset table and slices the entry.

/// A page is closed once its data reaches this size.
pub(crate) const PAGE_TARGET: usize = 16 * 1024;
const COUNT_LEN: usize = 4;
const SLOT_LEN: usize = 12;

/// Collects the records of one page.
#[derive(Default)]
pub(crate) struct PageBuilder {
    /// (seq, end of the entry in `data`).
    slots: Vec<(u64, u32)>,
    data: Vec<u8>,
}

impl PageBuilder {
    /// Whether `seq` can follow the records already in the page (seqs strictly ascend).
    pub(crate) fn accepts(&self, seq: u64) -> bool {
        self.slots.last().is_none_or(|(last, _)| *last < seq)
    }

    /// Adds a record; `None` (nothing added) when the eventID is longer than 65535 bytes or
    /// the page would pass 4 GiB. Callers check [`PageBuilder::accepts`] first.
    pub(crate) fn push(&mut self, seq: u64, event_id: &str, text: &[u8]) -> Option<()> {
        let id_len = u16::try_from(event_id.len()).ok()?;
        let end = u32::try_from(self.data.len() + 2 + event_id.len() + text.len()).ok()?;
        self.data.extend_from_slice(&id_len.to_be_bytes());
        self.data.extend_from_slice(event_id.as_bytes());
        self.data.extend_from_slice(text);
        self.slots.push((seq, end));
        Some(())
    }

    pub(crate) fn is_full(&self) -> bool {
        self.data.len() >= PAGE_TARGET
    }

    /// The page's key and value, leaving the builder empty; `None` when it holds nothing.
    pub(crate) fn finish(&mut self) -> Option<([u8; 8], Vec<u8>)> {
        let (first, _) = *self.slots.first()?;
        let count = u32::try_from(self.slots.len()).ok()?;
        let mut value =
            Vec::with_capacity(COUNT_LEN + self.slots.len() * SLOT_LEN + self.data.len());
        value.extend_from_slice(&count.to_be_bytes());
        for (seq, end) in &self.slots {
            value.extend_from_slice(&seq.to_be_bytes());
            value.extend_from_slice(&end.to_be_bytes());
        }
        value.extend_from_slice(&self.data);
        self.slots.clear();
        self.data.clear();
        Some((first.to_be_bytes(), value))
    }
}

/// A stored page, read in place.
pub(crate) struct Page<'a> {
    table: &'a [u8],
    data: &'a [u8],
}

/// One record of a page: (seq, eventID, record text).
pub(crate) type PageEntry<'a> = (u64, &'a [u8], &'a [u8]);

impl<'a> Page<'a> {
    /// `None` when the value is not a page.
    pub(crate) fn parse(value: &'a [u8]) -> Option<Page<'a>> {
        let count = u32::from_be_bytes(value.get(..COUNT_LEN)?.try_into().ok()?);
        let table_len = usize::try_from(count).ok()?.checked_mul(SLOT_LEN)?;
        let rest = value.get(COUNT_LEN..)?;
        if rest.len() < table_len {
            return None;
        }
        let (table, data) = rest.split_at(table_len);
        Some(Page { table, data })
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len() / SLOT_LEN
    }

    fn slot(&self, i: usize) -> Option<(u64, usize)> {
        let slot = self.table.get(i * SLOT_LEN..(i + 1) * SLOT_LEN)?;
        let seq = u64::from_be_bytes(slot[..8].try_into().ok()?);
        let end = u32::from_be_bytes(slot[8..].try_into().ok()?);
        Some((seq, usize::try_from(end).ok()?))
    }

    /// The `i`-th record; `None` when out of range or malformed.
    pub(crate) fn entry(&self, i: usize) -> Option<PageEntry<'a>> {
        let (seq, end) = self.slot(i)?;
        let start = match i {
            0 => 0,
            _ => self.slot(i - 1)?.1,
        };
        let entry = self.data.get(start..end)?;
        let id_len = usize::from(u16::from_be_bytes(entry.get(..2)?.try_into().ok()?));
        let rest = entry.get(2..)?;
        (rest.len() >= id_len).then(|| {
            let (id, text) = rest.split_at(id_len);
            (seq, id, text)
        })
    }

    /// The record of journal seq `seq`: `None` when the page does not hold it, `Some(None)`
    /// when it does but the entry is malformed.
    pub(crate) fn find(&self, seq: u64) -> Option<Option<PageEntry<'a>>> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            let (at, _) = self.slot(mid)?;
            match at.cmp(&seq) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some(self.entry(mid)),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_round_trip_and_find_by_seq() {
        let mut builder = PageBuilder::default();
        assert!(builder.finish().is_none());
        for seq in [3u64, 5, 9, 10] {
            assert!(builder.accepts(seq));
            let text = format!("{{\"n\":{seq}}}");
            builder
                .push(seq, &format!("id-{seq}"), text.as_bytes())
                .expect("fits");
        }
        assert!(!builder.accepts(10) && !builder.accepts(4) && builder.accepts(11));
        assert!(!builder.is_full());
        let (key, value) = builder.finish().expect("a page");
        assert_eq!(key, 3u64.to_be_bytes());
        assert!(builder.accepts(1), "finish empties the builder");
        let page = Page::parse(&value).expect("parses");
        assert_eq!(page.len(), 4);
        for seq in [3u64, 5, 9, 10] {
            let (at, id, text) = page.find(seq).expect("held").expect("well formed");
            assert_eq!(at, seq);
            assert_eq!(id, format!("id-{seq}").as_bytes());
            assert_eq!(text, format!("{{\"n\":{seq}}}").as_bytes());
        }
        for missing in [0u64, 4, 6, 11, u64::MAX] {
            assert!(page.find(missing).is_none(), "{missing}");
        }
        assert!(page.entry(4).is_none());
        assert!(Page::parse(&value[..value.len() - 1]).is_some_and(|p| p.entry(3).is_none()));
        assert!(Page::parse(&[0, 0, 0, 9, 1]).is_none());
        assert!(Page::parse(&[0, 0]).is_none());
    }

    #[test]
    fn pages_fill_up_and_refuse_long_event_ids() {
        let mut builder = PageBuilder::default();
        let text = vec![b'x'; 1_000];
        let mut seq = 0;
        while !builder.is_full() {
            seq += 1;
            builder.push(seq, "e", &text).expect("fits");
        }
        assert_eq!(seq, PAGE_TARGET.div_ceil(1_003) as u64);
        let long = "i".repeat(70_000);
        assert!(builder.push(seq + 1, &long, b"{}").is_none());
        let (_, value) = builder.finish().expect("a page");
        assert_eq!(Page::parse(&value).expect("page").len(), seq as usize);
    }
}
