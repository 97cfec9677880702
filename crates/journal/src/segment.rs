//! Segment files: the shared in-memory view of each segment, creating new segments, and
//! recovery when the journal opens.

use std::io::Write;

use fs_err::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::{PersistMode, Seq};
use crate::error::JournalError;
use crate::format::{
    FRAME_HEADER_LEN, FrameReader, HEADER_LEN, HeaderError, ReadError, SEGMENT_VERSION,
    decode_header, encode_header, is_valid_frame_at, parse_segment_file_name, read_header_bytes,
    read_range, segment_file_name,
};

/// Every how many entries a segment remembers a frame offset for `read_from`.
pub(crate) const INDEX_EVERY: u64 = 256;

/// One segment file as readers and the writer share it.
pub(crate) struct Segment {
    pub first_seq: Seq,
    pub path: PathBuf,
    /// Read-only handle; readers use positional reads, so one handle serves all of them, and
    /// it stays valid after the file is removed.
    pub file: fs_err::File,
    /// Bytes known to hold whole, durable frames (header included).
    durable_len: AtomicU64,
    /// Seq of the last durable frame, `first_seq - 1` while empty.
    last_seq: AtomicU64,
    /// Sparse `(seq, offset)` index, one entry every [`INDEX_EVERY`] entries.
    index: Mutex<Vec<(Seq, u64)>>,
}

impl Segment {
    fn new(
        first_seq: Seq,
        path: PathBuf,
        file: fs_err::File,
        durable_len: u64,
        last_seq: Seq,
        index: Vec<(Seq, u64)>,
    ) -> Segment {
        Segment {
            first_seq,
            path,
            file,
            durable_len: AtomicU64::new(durable_len),
            last_seq: AtomicU64::new(last_seq),
            index: Mutex::new(index),
        }
    }

    pub fn durable_len(&self) -> u64 {
        self.durable_len.load(Ordering::Acquire)
    }

    pub fn last_seq(&self) -> Seq {
        self.last_seq.load(Ordering::Acquire)
    }

    /// Makes newly synced frames visible to readers (called by the writer only).
    pub fn publish(&self, durable_len: u64, last_seq: Seq, new_index: &[(Seq, u64)]) {
        if !new_index.is_empty() {
            let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
            index.extend_from_slice(new_index);
        }
        self.durable_len.store(durable_len, Ordering::Release);
        self.last_seq.store(last_seq, Ordering::Release);
    }

    /// The `(seq, offset)` of an indexed frame at or before `seq`, where a scan for `seq` can
    /// start.
    pub fn scan_start(&self, seq: Seq) -> (Seq, u64) {
        let index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        let after = index.partition_point(|(indexed, _)| *indexed <= seq);
        match after.checked_sub(1) {
            Some(position) => index[position],
            None => (self.first_seq, HEADER_LEN),
        }
    }
}

/// fsyncs a directory so that created, renamed or removed entries in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs_err::File::open(dir)?.sync_all()
}

/// Creates the segment whose first entry will be `first_seq`; returns its append handle and
/// its shared view.
pub(crate) fn create_segment(
    dir: &Path,
    first_seq: Seq,
    persist: PersistMode,
) -> Result<(fs_err::File, Arc<Segment>), JournalError> {
    let path = dir.join(segment_file_name(first_seq));
    let mut writer = fs_err::OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)?;
    writer.write_all(&encode_header(first_seq))?;
    if persist != PersistMode::Buffer {
        writer.sync_all()?;
        sync_dir(dir)?;
    }
    let reader = fs_err::File::open(&path)?;
    let segment = Segment::new(
        first_seq,
        path,
        reader,
        HEADER_LEN,
        first_seq - 1,
        Vec::new(),
    );
    Ok((writer, Arc::new(segment)))
}

/// Extends `file` from `len` to `target` bytes of allocated zeros, so that writing there later
/// needs no new blocks (and cannot fail for lack of space). Uses `fallocate` where the file
/// system has it, else writes zeros.
pub(crate) fn allocate(file: &fs_err::File, len: u64, target: u64) -> std::io::Result<()> {
    if target <= len {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        let flags = rustix::fs::FallocateFlags::empty();
        match rustix::fs::fallocate(file.file(), flags, len, target - len) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::OPNOTSUPP) => {}
            Err(errno) => {
                let error = std::io::Error::from(errno);
                return Err(std::io::Error::new(
                    error.kind(),
                    format!(
                        "failed to allocate bytes {len}..{target} of {}: {error}",
                        file.path().display()
                    ),
                ));
            }
        }
    }
    let zeros = vec![0u8; ZERO_CHUNK];
    let mut offset = len;
    while offset < target {
        let chunk = (target - offset).min(ZERO_CHUNK as u64) as usize;
        file.write_all_at(&zeros[..chunk], offset)?;
        offset += chunk as u64;
    }
    Ok(())
}

/// Name of the zero-filled file prepared for the next segment.
pub(crate) const PREPARED_FILE_NAME: &str = "next.tmp";

/// Bytes of zeros written at once while preparing a segment file.
const ZERO_CHUNK: usize = 1024 * 1024;

/// Creates `dir/next.tmp` filled with `size` zero bytes (synced unless
/// [`PersistMode::Buffer`]). Overwriting blocks that already exist lets `fdatasync` skip the
/// file system's metadata journal, which roughly halves its latency.
///
/// On Linux the zeros are written with `O_DIRECT`, from one aligned buffer straight to the
/// disk: through the page cache they cost as much CPU as the records written over them later
/// (a copy per byte, then writeback), about a seventh of the whole ingest pipeline. Where the
/// file system refuses `O_DIRECT` (tmpfs), and for a tail that is not a whole number of
/// blocks, they go through the cache as before.
///
/// Gives up (with an error) once `stop` is set, leaving a partial file that the next open
/// deletes.
pub(crate) fn prepare_file(
    dir: &Path,
    size: u64,
    persist: PersistMode,
    stop: &AtomicBool,
) -> Result<PathBuf, JournalError> {
    let path = dir.join(PREPARED_FILE_NAME);
    let file = fs_err::File::create(&path)?;
    let mut direct = open_direct(&path);
    // One chunk of zeros whose start is aligned for O_DIRECT.
    let storage = vec![0u8; ZERO_CHUNK + DIRECT_ALIGN];
    let start = storage
        .as_ptr()
        .align_offset(DIRECT_ALIGN)
        .min(DIRECT_ALIGN);
    let zeros = &storage[start..start + ZERO_CHUNK];
    let mut written = 0u64;
    while written < size {
        if stop.load(Ordering::Acquire) {
            return Err(
                std::io::Error::other("the journal closed while preparing a segment").into(),
            );
        }
        let chunk = (size - written).min(ZERO_CHUNK as u64) as usize;
        let whole_blocks =
            chunk.is_multiple_of(DIRECT_ALIGN) && written.is_multiple_of(DIRECT_ALIGN as u64);
        let mut done = false;
        if let Some(handle) = direct.as_ref().filter(|_| whole_blocks) {
            match handle.write_all_at(&zeros[..chunk], written) {
                Ok(()) => done = true,
                Err(err) => {
                    tracing::debug!(error = %err, "O_DIRECT refused; zero-filling through the page cache");
                    direct = None;
                }
            }
        }
        if !done {
            file.write_all_at(&zeros[..chunk], written)?;
        }
        written += chunk as u64;
        if persist != PersistMode::Buffer {
            // Chunk by chunk, so the appender's syncs never queue behind a big flush.
            file.sync_data()?;
        }
    }
    if persist != PersistMode::Buffer {
        file.sync_all()?;
    }
    Ok(path)
}

/// The alignment `O_DIRECT` asks of buffers, offsets and lengths (the page size, a multiple
/// of every common logical block size).
const DIRECT_ALIGN: usize = 4096;

/// A second handle on `path` that writes around the page cache; `None` where that is not
/// available.
#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> Option<fs_err::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()?;
    Some(fs_err::File::from_parts(file, path))
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> Option<fs_err::File> {
    None
}

/// Turns a prepared file into the segment starting at `first_seq`: header, sync, rename, sync
/// of the directory. Returns the write handle and the shared view.
pub(crate) fn install_prepared(
    dir: &Path,
    prepared: &Path,
    first_seq: Seq,
    persist: PersistMode,
) -> Result<(fs_err::File, Arc<Segment>), JournalError> {
    let writer = fs_err::OpenOptions::new().write(true).open(prepared)?;
    writer.write_all_at(&encode_header(first_seq), 0)?;
    if persist != PersistMode::Buffer {
        writer.sync_data()?;
    }
    let path = dir.join(segment_file_name(first_seq));
    fs_err::rename(prepared, &path)?;
    if persist != PersistMode::Buffer {
        sync_dir(dir)?;
    }
    let reader = fs_err::File::open(&path)?;
    let segment = Segment::new(
        first_seq,
        path,
        reader,
        HEADER_LEN,
        first_seq - 1,
        Vec::new(),
    );
    Ok((writer, Arc::new(segment)))
}

/// Opens every segment in `dir`, checks them, repairs a torn tail of the last one, and creates
/// the first segment of an empty journal. See the crate docs for the rules.
pub(crate) fn recover(dir: &Path, persist: PersistMode) -> Result<Vec<Arc<Segment>>, JournalError> {
    let mut found = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_str() == Some(PREPARED_FILE_NAME) {
            // A prepared file that never became a segment: nothing was written to it.
            fs_err::remove_file(entry.path())?;
            continue;
        }
        match name.to_str().and_then(parse_segment_file_name) {
            Some(first_seq) => found.push((first_seq, entry.path())),
            None => {
                tracing::warn!(path = %entry.path().display(), "ignoring a file that is not a journal segment")
            }
        }
    }
    found.sort();
    if found.is_empty() {
        let (_, segment) = create_segment(dir, 1, persist)?;
        return Ok(vec![segment]);
    }

    let count = found.len();
    let mut segments: Vec<Arc<Segment>> = Vec::with_capacity(count);
    for (position, (first_seq, path)) in found.into_iter().enumerate() {
        let is_last = position + 1 == count;
        let segment = open_segment(path, first_seq, is_last)?;
        if let Some(previous) = segments.last() {
            let previous_last = previous.last_seq();
            if segment.first_seq != previous_last + 1 {
                return Err(JournalError::Corrupt {
                    segment: segment.path.clone(),
                    offset: 0,
                    reason: format!(
                        "sequence gap: the segment starts at {} but the previous segment ends at {previous_last}",
                        segment.first_seq
                    ),
                });
            }
        }
        segments.push(Arc::new(segment));
    }
    Ok(segments)
}

/// What a scan of a segment's frames found.
struct Scan {
    /// End of the last good frame.
    valid_len: u64,
    /// Seq of the last good frame, `first_seq - 1` when none.
    last_seq: Seq,
    index: Vec<(Seq, u64)>,
    /// Offset and seq of the first frame of a batch whose last frame was not seen.
    open_batch: Option<(u64, Seq)>,
    /// Offset and description of the first bytes that are not a good frame.
    problem: Option<(u64, String)>,
}

fn open_segment(path: PathBuf, first_seq: Seq, is_last: bool) -> Result<Segment, JournalError> {
    let corrupt = |offset: u64, reason: String| JournalError::Corrupt {
        segment: path.clone(),
        offset,
        reason,
    };
    if first_seq == 0 {
        return Err(corrupt(
            0,
            "segment file name says it starts at sequence 0".into(),
        ));
    }
    let file = fs_err::File::open(&path)?;
    let file_len = file.metadata()?.len();
    let header = read_header_bytes(&file, file_len)?;
    match decode_header(&header) {
        Ok(header_seq) if header_seq == first_seq => {}
        Ok(header_seq) => {
            return Err(corrupt(
                0,
                format!(
                    "the header says the segment starts at sequence {header_seq}, the file name says {first_seq}"
                ),
            ));
        }
        Err(HeaderError::UnsupportedVersion(version)) => {
            return Err(JournalError::UnsupportedVersion {
                path,
                version,
                expected: SEGMENT_VERSION,
            });
        }
        Err(HeaderError::Short) if is_last => {
            // A crash while rolling to this segment: nothing was ever written after its header.
            tracing::warn!(segment = %path.display(), file_len, "rewriting the torn header of the newest journal segment");
            let mut writer = fs_err::OpenOptions::new().write(true).open(&path)?;
            writer.set_len(0)?;
            writer.write_all(&encode_header(first_seq))?;
            writer.sync_all()?;
            return Ok(Segment::new(
                first_seq,
                path,
                file,
                HEADER_LEN,
                first_seq - 1,
                Vec::new(),
            ));
        }
        Err(problem) => return Err(corrupt(0, problem.to_string())),
    }

    let scan = scan_frames(&file, first_seq, file_len)?;
    if !is_last {
        if let Some((offset, reason)) = scan.problem {
            return Err(corrupt(offset, reason));
        }
        if let Some((offset, _)) = scan.open_batch {
            return Err(corrupt(
                offset,
                "the segment ends inside a batch, but a newer segment follows".into(),
            ));
        }
        return Ok(Segment::new(
            first_seq,
            path,
            file,
            scan.valid_len,
            scan.last_seq,
            scan.index,
        ));
    }

    // The newest segment: a torn tail is cut away, corruption followed by good frames is not.
    if let Some((offset, reason)) = &scan.problem {
        debug_assert_eq!(*offset, scan.valid_len);
        if let Some(next) = find_valid_frame_after(&file, *offset, file_len, scan.last_seq + 1)? {
            return Err(corrupt(
                *offset,
                format!("{reason}, but a valid frame follows at offset {next}"),
            ));
        }
    }
    let (keep_len, last_seq) = match scan.open_batch {
        Some((batch_offset, batch_first_seq)) => (batch_offset, batch_first_seq - 1),
        None => (scan.valid_len, scan.last_seq),
    };
    // Without a problem or an open batch, anything after the frames is preallocated zeros,
    // which the writer overwrites.
    let torn = scan.problem.is_some() || scan.open_batch.is_some();
    if torn {
        tracing::warn!(
            segment = %path.display(),
            offset = keep_len,
            dropped_bytes = file_len - keep_len,
            last_seq,
            "truncating the torn tail of the journal"
        );
        let writer = fs_err::OpenOptions::new().write(true).open(&path)?;
        writer.set_len(keep_len)?;
        writer.sync_all()?;
    }
    let mut index = scan.index;
    index.retain(|(seq, _)| *seq <= last_seq);
    Ok(Segment::new(
        first_seq, path, file, keep_len, last_seq, index,
    ))
}

fn scan_frames(file: &fs_err::File, first_seq: Seq, end: u64) -> Result<Scan, JournalError> {
    let mut reader = FrameReader::new(file, HEADER_LEN, end);
    let mut scan = Scan {
        valid_len: HEADER_LEN,
        last_seq: first_seq - 1,
        index: Vec::new(),
        open_batch: None,
        problem: None,
    };
    loop {
        match reader.next_frame() {
            Ok(None) => break,
            Ok(Some(frame)) => {
                let expected = scan.last_seq + 1;
                if frame.seq != expected {
                    scan.problem = Some((
                        frame.offset,
                        format!("expected sequence {expected} but found {}", frame.seq),
                    ));
                    break;
                }
                if (frame.seq - first_seq).is_multiple_of(INDEX_EVERY) {
                    scan.index.push((frame.seq, frame.offset));
                }
                if frame.continues {
                    scan.open_batch.get_or_insert((frame.offset, frame.seq));
                } else {
                    scan.open_batch = None;
                }
                scan.last_seq = frame.seq;
                scan.valid_len = frame.end();
            }
            Err(ReadError::Io(source)) => return Err(source.into()),
            Err(ReadError::Frame { offset, fault }) => {
                scan.problem = Some((offset, fault.to_string()));
                break;
            }
        }
    }
    if let Some((offset, _)) = scan.problem
        && is_zero_range(file, offset, end)?
    {
        // Zeros never form a valid frame (seq 0 does not exist): this is the unused,
        // preallocated rest of the segment.
        scan.problem = None;
    }
    Ok(scan)
}

/// Whether the bytes `start..end` of a file are all zero.
fn is_zero_range(file: &fs_err::File, start: u64, end: u64) -> std::io::Result<bool> {
    let mut offset = start;
    while offset < end {
        let chunk_end = end.min(offset + ZERO_CHUNK as u64);
        if read_range(file, offset, chunk_end)?
            .iter()
            .any(|byte| *byte != 0)
        {
            return Ok(false);
        }
        offset = chunk_end;
    }
    Ok(true)
}

/// The offset of a good frame with seq `expected` or later anywhere after `offset`, if any.
fn find_valid_frame_after(
    file: &fs_err::File,
    offset: u64,
    end: u64,
    expected: Seq,
) -> std::io::Result<Option<u64>> {
    let search_start = offset + 1;
    let bytes = read_range(file, search_start, end)?;
    let highest_possible = expected.saturating_add((bytes.len() / FRAME_HEADER_LEN) as u64 + 1);
    let found = (0..bytes.len())
        .find(|&start| is_valid_frame_at(&bytes[start..], expected..=highest_possible));
    Ok(found.map(|start| search_start + start as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_files_are_zeros_of_the_asked_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stop = AtomicBool::new(false);
        // Whole chunks (O_DIRECT where the file system allows it), a partial chunk of whole
        // blocks, and a tail that is not a whole block (always through the page cache).
        for size in [
            2 * ZERO_CHUNK as u64,
            3 * 4096,
            ZERO_CHUNK as u64 + 4096 * 5 + 100,
            7,
        ] {
            let path =
                prepare_file(dir.path(), size, PersistMode::SyncData, &stop).expect("prepared");
            let bytes = fs_err::read(&path).expect("read back");
            assert_eq!(bytes.len() as u64, size);
            assert!(bytes.iter().all(|byte| *byte == 0), "size {size}");
            fs_err::remove_file(&path).expect("removed");
        }
    }

    #[test]
    fn preparing_stops_when_asked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stop = AtomicBool::new(true);
        assert!(
            prepare_file(
                dir.path(),
                4 * ZERO_CHUNK as u64,
                PersistMode::Buffer,
                &stop
            )
            .is_err()
        );
    }
}
