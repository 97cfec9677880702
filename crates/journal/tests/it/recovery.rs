//! Recovery on open: torn tails are cut away, corruption is reported, versions are checked.

use std::path::Path;

use opentrail_journal::{Journal, JournalError};

use crate::{config, open, payload, read_all, segment_files};

/// Writes entries `1..=count` (one append each) with `len`-byte payloads and closes the journal.
fn write_entries(dir: &Path, count: u64, len: usize, segment_bytes: u64) {
    let journal = open(dir, segment_bytes);
    for seq in 1..=count {
        journal.append_blocking(payload(seq, len)).expect("append");
    }
}

fn only_segment(dir: &Path) -> std::path::PathBuf {
    let files = segment_files(dir);
    assert_eq!(files.len(), 1);
    files[0].clone()
}

/// A fresh journal directory whose single segment holds `bytes`.
fn journal_dir_with_segment(name: &str, bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    fs_err::create_dir_all(dir.path().join("segments")).expect("mkdir");
    fs_err::write(dir.path().join("segments").join(name), bytes).expect("write");
    dir
}

#[test]
fn truncation_anywhere_in_the_last_frame_is_a_torn_tail() {
    let template = tempfile::tempdir().expect("tempdir");
    write_entries(template.path(), 4, 100, 1 << 20);
    let segment = only_segment(template.path());
    let len_before = fs_err::metadata(&segment).expect("metadata").len();
    write_entries_more(template.path(), 5, 100);
    let full = fs_err::read(&segment).expect("read");
    let name = segment
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert_eq!(full.len() as u64, len_before + 16 + 100);

    for cut in len_before..full.len() as u64 {
        let dir = journal_dir_with_segment(&name, &full[..cut as usize]);
        let journal = open(dir.path(), 1 << 20);
        assert_eq!(journal.last_seq(), 4, "cut at {cut}");
        let entries = read_all(&journal, 1);
        assert_eq!(entries.len(), 4, "cut at {cut}");
        assert!(
            entries
                .iter()
                .all(|(seq, bytes)| bytes == &payload(*seq, 100))
        );
        let kept_len = fs_err::metadata(dir.path().join("segments").join(&name))
            .expect("metadata")
            .len();
        assert_eq!(
            kept_len, len_before,
            "the torn tail is truncated (cut at {cut})"
        );
        assert_eq!(journal.append_blocking(b"new".to_vec()).expect("append"), 5);
    }
}

#[test]
fn a_torn_last_frame_in_preallocated_space_is_a_torn_tail() {
    // As above, but the segment is preallocated: the unwritten rest of the frame and the
    // space after it are zeros rather than missing.
    let template = tempfile::tempdir().expect("tempdir");
    write_entries(template.path(), 5, 100, 1 << 20);
    let segment = only_segment(template.path());
    let name = segment
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let mut full = fs_err::read(&segment).expect("read");
    let frame_start = full.len() - (16 + 100);
    full.resize(full.len() + 1000, 0);

    for cut in frame_start..frame_start + 16 + 100 {
        let mut bytes = full.clone();
        bytes[cut..].fill(0);
        let dir = journal_dir_with_segment(&name, &bytes);
        let journal = open(dir.path(), 1 << 20);
        assert_eq!(journal.last_seq(), 4, "zeros from {cut}");
        assert_eq!(read_all(&journal, 1).len(), 4, "zeros from {cut}");
        assert_eq!(journal.append_blocking(payload(5, 3)).expect("append"), 5);
        drop(journal);
        let journal = open(dir.path(), 1 << 20);
        let entries = read_all(&journal, 1);
        assert_eq!(entries.len(), 5, "zeros from {cut}");
        assert_eq!(entries[4].1, payload(5, 3));
    }
}

/// Appends entry `seq` to an existing journal.
fn write_entries_more(dir: &Path, seq: u64, len: usize) {
    let journal = open(dir, 1 << 20);
    assert_eq!(
        journal.append_blocking(payload(seq, len)).expect("append"),
        seq
    );
}

#[test]
fn a_bad_checksum_in_the_final_frame_is_cut_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path(), 6, 50, 1 << 20);
    let segment = only_segment(dir.path());
    let mut bytes = fs_err::read(&segment).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs_err::write(&segment, &bytes).expect("write");

    let journal = open(dir.path(), 1 << 20);
    assert_eq!(journal.last_seq(), 5);
    assert_eq!(read_all(&journal, 1).len(), 5);
}

#[test]
fn garbage_after_the_last_frame_is_cut_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path(), 3, 50, 1 << 20);
    let segment = only_segment(dir.path());
    let mut bytes = fs_err::read(&segment).expect("read");
    let len_before = bytes.len() as u64;
    bytes.extend_from_slice(&[0u8; 100]);
    bytes.extend_from_slice(&[0xab; 100]);
    bytes.extend_from_slice(&[0u8; 100]);
    fs_err::write(&segment, &bytes).expect("write");

    let journal = open(dir.path(), 1 << 20);
    assert_eq!(journal.last_seq(), 3);
    assert_eq!(
        fs_err::metadata(&segment).expect("metadata").len(),
        len_before
    );
}

#[test]
fn a_zero_filled_tail_is_preallocated_space_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path(), 3, 50, 1 << 20);
    let segment = only_segment(dir.path());
    let mut bytes = fs_err::read(&segment).expect("read");
    let data_len = bytes.len();
    bytes.resize(data_len + 10_000, 0);
    fs_err::write(&segment, &bytes).expect("write");

    {
        let journal = open(dir.path(), 1 << 20);
        assert_eq!(journal.last_seq(), 3);
        assert_eq!(journal.stats().bytes, data_len as u64);
        // Appends overwrite the zeros instead of growing the file.
        assert_eq!(journal.append_blocking(payload(4, 50)).expect("append"), 4);
    }
    assert_eq!(
        fs_err::metadata(&segment).expect("metadata").len(),
        data_len as u64 + 10_000
    );
    let journal = open(dir.path(), 1 << 20);
    let entries = read_all(&journal, 1);
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[3].1, payload(4, 50));
}

#[test]
fn rolled_segments_are_preallocated() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path(), 3, 50, 4096);
    {
        // A journal whose active segment is already full rolls on the next append.
        let journal = open(dir.path(), 200);
        journal.append_blocking(payload(4, 50)).expect("append");
        journal.append_blocking(payload(5, 50)).expect("append");
    }
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 2);
    assert_eq!(
        fs_err::metadata(&files[1]).expect("metadata").len(),
        200,
        "the second segment was zero-filled to segment_bytes (its data is 24 + 2 * 66 bytes)"
    );
    let journal = open(dir.path(), 4096);
    assert_eq!(read_all(&journal, 1).len(), 5);
    assert!(
        !dir.path().join("segments").join("next.tmp").exists(),
        "a leftover prepared file is removed on open"
    );
}

#[test]
fn a_garbled_byte_in_the_middle_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path(), 10, 50, 1 << 20);
    let segment = only_segment(dir.path());
    let pristine = fs_err::read(&segment).expect("read");
    let frame = 16 + 50;
    let fifth_frame = 24 + 4 * frame;

    // A payload byte, the crc, the seq and the length of frame 5 in turn.
    for offset_in_frame in [20, 5, 9, 0, 2] {
        let mut bytes = pristine.clone();
        bytes[fifth_frame + offset_in_frame] ^= 0x5a;
        fs_err::write(&segment, &bytes).expect("write");
        match Journal::open(config(dir.path(), 1 << 20)) {
            Err(JournalError::Corrupt {
                segment: reported,
                offset,
                reason,
            }) => {
                assert_eq!(reported, segment);
                assert_eq!(offset, fifth_frame as u64, "{reason}");
            }
            other => panic!("expected Corrupt for byte {offset_in_frame}, got {other:?}"),
        }
        let after = fs_err::read(&segment).expect("read");
        assert_eq!(after, bytes, "a corrupt segment is left untouched");
    }
}

#[test]
fn corruption_in_an_older_segment_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path(), 40, 50, 300);
    let files = segment_files(dir.path());
    assert!(files.len() >= 3);

    // Even the very last byte of an older segment: it was complete before the roll.
    let older = &files[1];
    let mut bytes = fs_err::read(older).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs_err::write(older, &bytes).expect("write");
    let result = Journal::open(config(dir.path(), 300));
    assert!(
        matches!(&result, Err(JournalError::Corrupt { segment, .. }) if segment == older),
        "{result:?}"
    );
}

#[test]
fn a_missing_segment_is_a_sequence_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path(), 40, 50, 300);
    let files = segment_files(dir.path());
    assert!(files.len() >= 3);
    fs_err::remove_file(&files[1]).expect("remove");
    let result = Journal::open(config(dir.path(), 300));
    assert!(
        matches!(&result, Err(JournalError::Corrupt { segment, reason, .. })
            if segment == &files[2] && reason.contains("gap")),
        "{result:?}"
    );
}

#[test]
fn an_unknown_header_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path(), 2, 10, 1 << 20);
    let segment = only_segment(dir.path());
    let mut bytes = fs_err::read(&segment).expect("read");
    bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
    fs_err::write(&segment, &bytes).expect("write");
    let result = Journal::open(config(dir.path(), 1 << 20));
    assert!(
        matches!(&result, Err(JournalError::UnsupportedVersion { version: 2, expected: 1, path })
            if path == &segment),
        "{result:?}"
    );
}

#[test]
fn a_bad_header_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path(), 2, 10, 1 << 20);
    let segment = only_segment(dir.path());
    let mut bytes = fs_err::read(&segment).expect("read");
    bytes[0] = b'X';
    fs_err::write(&segment, &bytes).expect("write");
    let result = Journal::open(config(dir.path(), 1 << 20));
    assert!(
        matches!(&result, Err(JournalError::Corrupt { offset: 0, .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_unfinished_batch_is_dropped_whole() {
    let template = tempfile::tempdir().expect("tempdir");
    let len_before = {
        let journal = open(template.path(), 1 << 20);
        journal.append(b"single".to_vec()).await.expect("append");
        let len = journal.stats().bytes;
        let batch: Vec<Vec<u8>> = (0..3).map(|n| payload(n, 20)).collect();
        assert_eq!(journal.append_batch(batch).await.expect("batch"), 2);
        len
    };
    let segment = only_segment(template.path());
    let name = segment
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let full = fs_err::read(&segment).expect("read");
    assert_eq!(full.len() as u64, len_before + 3 * 36);

    // Cuts inside the batch, including right after its first and second frames.
    for cut in (len_before + 1)..full.len() as u64 {
        let dir = journal_dir_with_segment(&name, &full[..cut as usize]);
        let journal = open(dir.path(), 1 << 20);
        assert_eq!(journal.last_seq(), 1, "cut at {cut}");
        assert_eq!(journal.stats().bytes, len_before, "cut at {cut}");
    }
    let dir = journal_dir_with_segment(&name, &full);
    assert_eq!(open(dir.path(), 1 << 20).last_seq(), 4);
}

#[test]
fn a_torn_segment_header_is_rewritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path(), 20, 50, 300);
    let files = segment_files(dir.path());
    let last_seq_before_roll = {
        let journal = open(dir.path(), 300);
        journal.last_seq()
    };
    // Simulate a crash while creating the next segment: its header is half written.
    let next_name = format!("{:020}.log", last_seq_before_roll + 1);
    let next = dir.path().join("segments").join(&next_name);
    fs_err::write(&next, b"OTJOUR").expect("write");

    let journal = open(dir.path(), 300);
    assert_eq!(journal.last_seq(), last_seq_before_roll);
    assert_eq!(segment_files(dir.path()).len(), files.len() + 1);
    assert_eq!(fs_err::metadata(&next).expect("metadata").len(), 24);
    let seq = journal.append_blocking(b"x".to_vec()).expect("append");
    assert_eq!(seq, last_seq_before_roll + 1);
    drop(journal);
    let journal = open(dir.path(), 300);
    assert_eq!(read_all(&journal, 1).len() as u64, last_seq_before_roll + 1);
}
