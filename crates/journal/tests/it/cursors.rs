//! Durable cursors and removal of consumed segments.

use opentrail_journal::{Journal, JournalConfig, JournalError};

use crate::{open, payload, read_all, segment_files};

#[test]
fn cursors_start_at_zero_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let journal = Journal::open(JournalConfig::new(dir.path())).expect("open");
        for seq in 1..=5 {
            journal.append_blocking(payload(seq, 10)).expect("append");
        }
        let mut history = journal.cursor("history").expect("cursor");
        assert_eq!(history.name(), "history");
        assert_eq!(history.position(), 0);
        history.commit(3).expect("commit");
        assert_eq!(history.position(), 3);
        let mut delivery = journal.cursor("trail.delivery-1_x").expect("cursor");
        delivery.commit(5).expect("commit");
        delivery.commit(4).expect("moving back is allowed");
        let beyond = delivery.commit(6);
        assert!(
            matches!(
                beyond,
                Err(JournalError::CursorBeyondEnd {
                    seq: 6,
                    last_seq: 5,
                    ..
                })
            ),
            "{beyond:?}"
        );
        assert_eq!(delivery.position(), 4);
    }
    let journal = open(dir.path(), 1 << 20);
    assert_eq!(journal.cursor("history").expect("cursor").position(), 3);
    assert_eq!(
        journal.cursors().expect("cursors"),
        vec![
            ("history".to_string(), 3),
            ("trail.delivery-1_x".to_string(), 4)
        ]
    );
    assert!(journal.remove_cursor("history").expect("remove"));
    assert!(!journal.remove_cursor("history").expect("remove again"));
    assert_eq!(journal.cursor("history").expect("cursor").position(), 0);
}

#[test]
fn cursor_names_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = open(dir.path(), 1 << 20);
    for bad in ["", "a/b", "../x", "with space", "é", &"x".repeat(129)] {
        let result = journal.cursor(bad);
        assert!(
            matches!(result, Err(JournalError::InvalidCursorName { .. })),
            "{bad:?}: {result:?}"
        );
    }
    assert!(journal.cursor(&"x".repeat(128)).is_ok());
}

#[test]
fn a_corrupt_cursor_file_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = open(dir.path(), 1 << 20);
    journal.cursor("c").expect("cursor");
    let path = dir.path().join("cursors").join("c.cursor");
    let mut bytes = fs_err::read(&path).expect("read");
    bytes[13] ^= 1;
    fs_err::write(&path, &bytes).expect("write");
    assert!(matches!(
        journal.cursor("c"),
        Err(JournalError::CorruptCursor { .. })
    ));
    assert!(matches!(
        journal.remove_consumed_segments(),
        Err(JournalError::CorruptCursor { .. })
    ));
}

#[test]
fn only_fully_consumed_segments_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = open(dir.path(), 300);
    for seq in 1..=60 {
        journal.append_blocking(payload(seq, 50)).expect("append");
    }
    let segments_before = segment_files(dir.path()).len();
    assert!(segments_before >= 8);
    assert_eq!(
        journal.remove_consumed_segments().expect("remove"),
        0,
        "no cursor: nothing is consumed"
    );

    let mut fast = journal.cursor("fast").expect("cursor");
    let mut slow = journal.cursor("slow").expect("cursor");
    fast.commit(60).expect("commit");
    assert_eq!(journal.remove_consumed_segments().expect("remove"), 0);
    slow.commit(23).expect("commit");
    let removed = journal.remove_consumed_segments().expect("remove");
    assert!(removed > 0);
    assert_eq!(segment_files(dir.path()).len(), segments_before - removed);

    // Everything after the slowest cursor is still there, and maybe a little before it.
    let first = journal.first_seq();
    assert!(first <= 24 && first > 1, "first kept seq {first}");
    let kept = read_all(&journal, first);
    assert_eq!(kept.len() as u64, 60 - first + 1);
    assert_eq!(journal.read_from(23, 1).expect("read")[0].seq, 24);
    // Reading from before the first kept entry starts at the first kept entry.
    assert_eq!(journal.read_from(0, 1).expect("read")[0].seq, first);
    assert_eq!(journal.stats().first_seq, first);

    // The active segment stays even when everything is consumed.
    slow.commit(60).expect("commit");
    journal.remove_consumed_segments().expect("remove");
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert_eq!(
        journal.append_blocking(b"more".to_vec()).expect("append"),
        61
    );
    drop((fast, slow, journal));

    let journal = open(dir.path(), 300);
    assert_eq!(journal.last_seq(), 61);
    let first = journal.first_seq();
    assert_eq!(
        read_all(&journal, first).last().map(|(seq, _)| *seq),
        Some(61)
    );
}
