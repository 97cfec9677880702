//! Byte layout of segment headers and frames, and a reader that walks frames with positional
//! reads. The layout itself is documented in the crate docs.

use std::fmt;
use std::io;

use fs_err::os::unix::fs::FileExt;

use crate::config::Seq;

/// Magic bytes opening every segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"OTJOURNL";
/// The segment format version this build writes and reads.
pub(crate) const SEGMENT_VERSION: u16 = 1;
/// Bytes of the segment header: magic, version, reserved, first seq, header crc.
pub(crate) const HEADER_LEN: u64 = 24;
/// Bytes in front of every payload: length, crc, seq.
pub(crate) const FRAME_HEADER_LEN: usize = 16;
/// The largest payload one frame may carry (16 MiB).
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;
/// High bit of the length field: another frame of the same `append_batch` follows.
const CONTINUES_FLAG: u32 = 1 << 31;
/// How many bytes a frame reader fetches at once (more when a frame is bigger).
const READ_CHUNK: usize = 256 * 1024;

/// Encodes the header of a segment whose first entry is `first_seq`.
pub(crate) fn encode_header(first_seq: Seq) -> [u8; HEADER_LEN as usize] {
    let mut header = [0u8; HEADER_LEN as usize];
    header[0..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..10].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    // bytes 10..12 are reserved and zero
    header[12..20].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&header[0..20]);
    header[20..24].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Why a segment header does not decode.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    Short,
    BadMagic,
    UnsupportedVersion(u16),
    Reserved,
    BadCrc,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Short => write!(f, "segment header is shorter than {HEADER_LEN} bytes"),
            HeaderError::BadMagic => {
                write!(f, "segment header does not start with the journal magic")
            }
            HeaderError::UnsupportedVersion(version) => {
                write!(f, "segment format version {version} is unknown")
            }
            HeaderError::Reserved => write!(f, "reserved segment header bytes are not zero"),
            HeaderError::BadCrc => write!(f, "segment header checksum does not match"),
        }
    }
}

/// Decodes a segment header and returns its first seq. The version is checked before the
/// checksum, because a later version may lay the header out differently.
pub(crate) fn decode_header(bytes: &[u8]) -> Result<Seq, HeaderError> {
    if bytes.len() < HEADER_LEN as usize {
        return Err(HeaderError::Short);
    }
    if bytes[0..8] != SEGMENT_MAGIC {
        return Err(HeaderError::BadMagic);
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != SEGMENT_VERSION {
        return Err(HeaderError::UnsupportedVersion(version));
    }
    if bytes[10..12] != [0, 0] {
        return Err(HeaderError::Reserved);
    }
    let stored_crc = read_u32(&bytes[20..24]);
    if crc32c::crc32c(&bytes[0..20]) != stored_crc {
        return Err(HeaderError::BadCrc);
    }
    Ok(read_u64(&bytes[12..20]))
}

/// Checksum of one frame: crc32c over the seq (little endian) and the payload.
pub(crate) fn frame_crc(seq: Seq, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&seq.to_le_bytes()), payload)
}

/// Appends one frame to `buf`. `continues` marks every frame of an `append_batch` but its last.
pub(crate) fn encode_frame(buf: &mut Vec<u8>, seq: Seq, payload: &[u8], continues: bool) {
    debug_assert!(payload.len() <= MAX_PAYLOAD);
    let mut len_field = payload.len() as u32;
    if continues {
        len_field |= CONTINUES_FLAG;
    }
    buf.reserve(FRAME_HEADER_LEN + payload.len());
    buf.extend_from_slice(&len_field.to_le_bytes());
    buf.extend_from_slice(&frame_crc(seq, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Bytes a frame carrying `payload_len` bytes takes on disk.
pub(crate) fn frame_len(payload_len: usize) -> u64 {
    (FRAME_HEADER_LEN + payload_len) as u64
}

/// Decodes a frame header `[len][crc][seq]` into (payload length, continues, crc, seq).
fn decode_frame_header(bytes: &[u8]) -> (usize, bool, u32, Seq) {
    let len_field = read_u32(&bytes[0..4]);
    let continues = len_field & CONTINUES_FLAG != 0;
    let payload_len = (len_field & !CONTINUES_FLAG) as usize;
    (
        payload_len,
        continues,
        read_u32(&bytes[4..8]),
        read_u64(&bytes[8..16]),
    )
}

/// Whether `bytes` starts with a complete, checksummed frame whose seq lies in `seqs`.
/// Used by recovery to tell a torn tail from corruption followed by good frames.
pub(crate) fn is_valid_frame_at(bytes: &[u8], seqs: std::ops::RangeInclusive<Seq>) -> bool {
    if bytes.len() < FRAME_HEADER_LEN {
        return false;
    }
    let (payload_len, _, crc, seq) = decode_frame_header(&bytes[..FRAME_HEADER_LEN]);
    if !seqs.contains(&seq) || payload_len > MAX_PAYLOAD {
        return false;
    }
    let Some(payload) = bytes.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + payload_len) else {
        return false;
    };
    frame_crc(seq, payload) == crc
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut array = [0u8; 4];
    array.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(array)
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut array = [0u8; 8];
    array.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(array)
}

/// A frame found by [`FrameReader`]; its payload stays in the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawFrame {
    /// File offset of the frame's first byte.
    pub offset: u64,
    pub seq: Seq,
    pub continues: bool,
    payload_start: usize,
    payload_len: usize,
}

impl RawFrame {
    /// File offset just past this frame.
    pub fn end(&self) -> u64 {
        self.offset + frame_len(self.payload_len)
    }
}

/// What is wrong with the bytes where a frame was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameFault {
    /// The file ends inside the frame.
    Incomplete,
    /// The length field exceeds [`MAX_PAYLOAD`].
    TooLarge(usize),
    /// The checksum does not match.
    BadCrc,
}

impl fmt::Display for FrameFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameFault::Incomplete => write!(f, "incomplete frame at the end of the data"),
            FrameFault::TooLarge(len) => {
                write!(
                    f,
                    "frame length {len} exceeds the maximum of {MAX_PAYLOAD} bytes"
                )
            }
            FrameFault::BadCrc => write!(f, "frame checksum does not match"),
        }
    }
}

/// Why [`FrameReader::next_frame`] stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    Frame { offset: u64, fault: FrameFault },
}

/// Walks the frames of one segment between two offsets with positional reads, so many readers
/// can share one file handle.
pub(crate) struct FrameReader<'a> {
    file: &'a fs_err::File,
    /// File offset of `buf[0]`.
    buf_offset: u64,
    buf: Vec<u8>,
    /// Index in `buf` of the next frame.
    pos: usize,
    /// File offset where reading stops (the durable or the file length).
    end: u64,
}

impl<'a> FrameReader<'a> {
    pub fn new(file: &'a fs_err::File, start: u64, end: u64) -> Self {
        FrameReader {
            file,
            buf_offset: start,
            buf: Vec::new(),
            pos: 0,
            end,
        }
    }

    /// File offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.buf_offset + self.pos as u64
    }

    /// The next frame, `Ok(None)` exactly at the end, or why the bytes there are no frame.
    pub fn next_frame(&mut self) -> Result<Option<RawFrame>, ReadError> {
        let offset = self.offset();
        if offset >= self.end {
            return Ok(None);
        }
        let incomplete = ReadError::Frame {
            offset,
            fault: FrameFault::Incomplete,
        };
        if !self.fill(FRAME_HEADER_LEN).map_err(ReadError::Io)? {
            return Err(incomplete);
        }
        let header = &self.buf[self.pos..self.pos + FRAME_HEADER_LEN];
        let (payload_len, continues, crc, seq) = decode_frame_header(header);
        if payload_len > MAX_PAYLOAD {
            return Err(ReadError::Frame {
                offset,
                fault: FrameFault::TooLarge(payload_len),
            });
        }
        if !self
            .fill(FRAME_HEADER_LEN + payload_len)
            .map_err(ReadError::Io)?
        {
            return Err(incomplete);
        }
        let payload_start = self.pos + FRAME_HEADER_LEN;
        let payload = &self.buf[payload_start..payload_start + payload_len];
        if frame_crc(seq, payload) != crc {
            return Err(ReadError::Frame {
                offset,
                fault: FrameFault::BadCrc,
            });
        }
        self.pos = payload_start + payload_len;
        Ok(Some(RawFrame {
            offset,
            seq,
            continues,
            payload_start,
            payload_len,
        }))
    }

    /// The payload of the frame most recently returned by [`Self::next_frame`].
    pub fn payload(&self, frame: &RawFrame) -> &[u8] {
        &self.buf[frame.payload_start..frame.payload_start + frame.payload_len]
    }

    /// Makes `needed` bytes from `pos` available in `buf`; `false` when the end comes first.
    fn fill(&mut self, needed: usize) -> io::Result<bool> {
        let available = self.buf.len() - self.pos;
        if available >= needed {
            return Ok(true);
        }
        let frame_offset = self.offset();
        if frame_offset + needed as u64 > self.end {
            return Ok(false);
        }
        // Drop consumed bytes, then read a chunk (at least what is needed) behind the rest.
        self.buf.drain(..self.pos);
        self.buf_offset = frame_offset;
        self.pos = 0;
        let read_from = self.buf_offset + self.buf.len() as u64;
        let wanted = needed.max(READ_CHUNK) - self.buf.len();
        let to_read = (wanted as u64).min(self.end - read_from) as usize;
        let old_len = self.buf.len();
        self.buf.resize(old_len + to_read, 0);
        self.file
            .read_exact_at(&mut self.buf[old_len..], read_from)?;
        Ok(true)
    }
}

/// Reads the header bytes of a segment file (fewer when the file is shorter).
pub(crate) fn read_header_bytes(file: &fs_err::File, file_len: u64) -> io::Result<Vec<u8>> {
    let len = file_len.min(HEADER_LEN) as usize;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(bytes)
}

/// Reads `start..end` of a file into memory.
pub(crate) fn read_range(file: &fs_err::File, start: u64, end: u64) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; end.saturating_sub(start) as usize];
    file.read_exact_at(&mut bytes, start)?;
    Ok(bytes)
}

/// Name of the segment file whose first entry is `first_seq`.
pub(crate) fn segment_file_name(first_seq: Seq) -> String {
    format!("{first_seq:020}.log")
}

/// The first seq encoded in a segment file name, `None` for other files.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<Seq> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let header = encode_header(42);
        assert_eq!(decode_header(&header), Ok(42));
    }

    #[test]
    fn header_rejects_damage() {
        let header = encode_header(7);
        assert_eq!(decode_header(&header[..10]), Err(HeaderError::Short));
        let mut bad_magic = header;
        bad_magic[0] ^= 1;
        assert_eq!(decode_header(&bad_magic), Err(HeaderError::BadMagic));
        let mut bad_version = header;
        bad_version[8] = 9;
        assert_eq!(
            decode_header(&bad_version),
            Err(HeaderError::UnsupportedVersion(9))
        );
        let mut bad_seq = header;
        bad_seq[13] ^= 1;
        assert_eq!(decode_header(&bad_seq), Err(HeaderError::BadCrc));
        let mut reserved = header;
        reserved[10] = 1;
        assert_eq!(decode_header(&reserved), Err(HeaderError::Reserved));
    }

    #[test]
    fn frame_validity() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 5, b"hello", true);
        assert_eq!(buf.len() as u64, frame_len(5));
        assert!(is_valid_frame_at(&buf, 5..=5));
        assert!(!is_valid_frame_at(&buf, 6..=9));
        assert!(!is_valid_frame_at(&buf[..buf.len() - 1], 5..=5));
        let mut garbled = buf.clone();
        garbled[FRAME_HEADER_LEN] ^= 0x20;
        assert!(!is_valid_frame_at(&garbled, 5..=5));
        let (len, continues, _, seq) = decode_frame_header(&buf);
        assert_eq!((len, continues, seq), (5, true, 5));
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_file_name(1), "00000000000000000001.log");
        assert_eq!(parse_segment_file_name("00000000000000000001.log"), Some(1));
        assert_eq!(parse_segment_file_name("0000000000000000001.log"), None);
        assert_eq!(parse_segment_file_name("00000000000000000001.tmp"), None);
        assert_eq!(parse_segment_file_name("0000000000000000000x.log"), None);
        assert_eq!(parse_segment_file_name("99999999999999999999.log"), None);
    }
}
