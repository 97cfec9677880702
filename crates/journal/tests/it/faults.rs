//! Failing writes, syncs and segment creation: the journal becomes unavailable, repairs itself
//! once the fault clears, and never loses or duplicates an acknowledged entry.

use std::path::Path;
use std::time::{Duration, Instant};

use opentrail_journal::{Journal, JournalConfig, JournalError, PersistMode};

use crate::{payload, read_all};

/// How long a test waits for the writer to repair the journal (its backoff tops out at 2 s).
const REPAIR_DEADLINE: Duration = Duration::from_secs(10);

fn config(dir: &Path, segment_bytes: u64, reserve_bytes: u64) -> JournalConfig {
    JournalConfig::new(dir)
        .with_segment_bytes(segment_bytes)
        .with_reserve_bytes(reserve_bytes)
        .with_persist(PersistMode::Buffer)
}

/// Waits (bounded) until admission admits again.
fn wait_until_admitted(journal: &Journal) {
    let started = Instant::now();
    while let Err(error) = journal.admission() {
        assert!(
            started.elapsed() < REPAIR_DEADLINE,
            "the journal is still refusing after {REPAIR_DEADLINE:?}: {error}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn is_unavailable<T: std::fmt::Debug>(result: &Result<T, JournalError>) -> bool {
    matches!(result, Err(JournalError::Unavailable(_)))
}

/// Checks the journal holds exactly `expected` (entry `n` at seq `n + 1`), then that a reopened
/// journal does too.
/// Appends `count` payloads of `len` bytes, each of which must be acknowledged with the next
/// contiguous seq, and adds them to `acknowledged`.
async fn append_contiguous(
    journal: &Journal,
    acknowledged: &mut Vec<Vec<u8>>,
    count: usize,
    len: usize,
) {
    for _ in 0..count {
        let bytes = payload(acknowledged.len() as u64 + 1, len);
        let seq = journal.append(bytes.clone()).await.expect("append");
        acknowledged.push(bytes);
        assert_eq!(seq, acknowledged.len() as u64, "seqs stay contiguous");
    }
}

fn check_exactly(journal: Journal, config: JournalConfig, expected: &[Vec<u8>]) {
    let check = |journal: &Journal| {
        assert_eq!(journal.last_seq(), expected.len() as u64);
        let entries = read_all(journal, 1);
        let payloads: Vec<Vec<u8>> = entries.into_iter().map(|(_, payload)| payload).collect();
        assert_eq!(payloads.len(), expected.len());
        assert!(payloads == expected, "the journal holds other entries");
    };
    check(&journal);
    drop(journal);
    let reopened = Journal::open(config).expect("reopen");
    check(&reopened);
}

#[tokio::test]
async fn a_failed_sync_is_repaired_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = JournalConfig::new(dir.path()).with_persist(PersistMode::SyncData);
    let journal = Journal::open(config.clone()).expect("open");
    journal.append(b"kept".to_vec()).await.expect("append");
    journal.inject_sync_failure();
    let failed = journal.append(b"failed".to_vec()).await;
    assert!(is_unavailable(&failed), "{failed:?}");
    assert!(!journal.is_poisoned());
    assert_eq!(journal.last_seq(), 1, "the failed entry is not published");

    wait_until_admitted(&journal);
    let seq = journal.append(b"again".to_vec()).await.expect("append");
    assert_eq!(seq, 2, "the seq of the failed entry is reused");
    check_exactly(journal, config, &[b"kept".to_vec(), b"again".to_vec()]);
}

#[tokio::test]
async fn a_full_disk_makes_the_journal_unavailable_until_space_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 1 << 20, 4096);
    let journal = Journal::open(config.clone()).expect("open");
    let mut acknowledged = Vec::new();
    for _ in 0..5 {
        let bytes = payload(acknowledged.len() as u64 + 1, 100);
        journal.append(bytes.clone()).await.expect("append");
        acknowledged.push(bytes);
    }
    journal.inject_no_space(true);

    // While admission admits, appends fit in allocated blocks and succeed despite the full
    // disk: that is its promise.
    let mut admitted = 0;
    while journal.admission().is_ok() {
        admitted += 1;
        assert!(admitted < 10_000, "admission never ran out of reserve");
        let bytes = payload(acknowledged.len() as u64 + 1, 100);
        let seq = journal
            .append(bytes.clone())
            .await
            .expect("an admitted append succeeds");
        acknowledged.push(bytes);
        assert_eq!(seq, acknowledged.len() as u64);
    }
    let refusal = journal.admission();
    assert!(is_unavailable(&refusal), "{refusal:?}");
    let health = journal.health();
    assert!(!health.available);
    assert!(
        health
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("reserve")),
        "{health:?}"
    );

    // Appending without admission eventually needs new blocks and fails.
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts < 10_000, "appends never hit the full disk");
        let bytes = payload(acknowledged.len() as u64 + 1, 100);
        match journal.append(bytes.clone()).await {
            Ok(seq) => {
                acknowledged.push(bytes);
                assert_eq!(seq, acknowledged.len() as u64);
            }
            Err(JournalError::Unavailable(reason)) => {
                assert!(reason.contains("no space left on device"), "{reason}");
                break;
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    // Still full: repairs keep failing, appends fail fast.
    std::thread::sleep(Duration::from_millis(300));
    let later = journal.append(b"later".to_vec()).await;
    assert!(is_unavailable(&later), "{later:?}");
    let later = journal.append_blocking(b"later".to_vec());
    assert!(is_unavailable(&later), "{later:?}");
    let health = journal.health();
    assert!(!health.available);
    assert!(
        health
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("no space left on device")),
        "{health:?}"
    );
    assert_eq!(journal.last_seq(), acknowledged.len() as u64);

    journal.inject_no_space(false);
    wait_until_admitted(&journal);
    append_contiguous(&journal, &mut acknowledged, 20, 100).await;
    check_exactly(journal, config, &acknowledged);
}

#[tokio::test]
async fn admission_needs_a_prepared_segment_once_the_reserve_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 64 * 1024, 16 * 1024);
    let journal = Journal::open(config.clone()).expect("open");
    assert!(journal.admission().is_ok());
    assert!(journal.health().available);
    journal.inject_new_segment_no_space(true);

    let mut acknowledged = Vec::new();
    while journal.admission().is_ok() {
        assert!(
            acknowledged.len() < 1000,
            "admission never ran out of reserve"
        );
        let bytes = payload(acknowledged.len() as u64 + 1, 200);
        journal.append(bytes.clone()).await.expect("append");
        acknowledged.push(bytes);
    }
    let refusal = journal.admission();
    assert!(
        matches!(&refusal, Err(JournalError::Unavailable(reason)) if reason.contains("next segment is not prepared")),
        "{refusal:?}"
    );
    // Refused admission does not stop appends that still fit.
    let bytes = payload(acknowledged.len() as u64 + 1, 200);
    journal.append(bytes.clone()).await.expect("append");
    acknowledged.push(bytes);

    journal.inject_new_segment_no_space(false);
    wait_until_admitted(&journal);
    assert!(journal.health().available);
    // Enough to roll into the prepared segment and beyond.
    append_contiguous(&journal, &mut acknowledged, 400, 200).await;
    assert!(journal.stats().segments > 1);
    check_exactly(journal, config, &acknowledged);
}

#[tokio::test]
async fn failing_to_create_a_segment_makes_the_journal_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 4096, 1024);
    let journal = Journal::open(config.clone()).expect("open");
    journal.inject_new_segment_no_space(true);

    let mut acknowledged = Vec::new();
    let reason = loop {
        assert!(acknowledged.len() < 1000, "the segment never rolled");
        let bytes = payload(acknowledged.len() as u64 + 1, 100);
        match journal.append(bytes.clone()).await {
            Ok(seq) => {
                acknowledged.push(bytes);
                assert_eq!(seq, acknowledged.len() as u64);
            }
            Err(JournalError::Unavailable(reason)) => break reason,
            Err(other) => panic!("unexpected error {other}"),
        }
    };
    assert!(reason.contains("no space left on device"), "{reason}");
    assert!(reason.contains("rolling"), "{reason}");
    let later = journal.append(b"later".to_vec()).await;
    assert!(is_unavailable(&later), "{later:?}");
    assert!(!journal.health().available);
    assert_eq!(journal.stats().segments, 1);

    journal.inject_new_segment_no_space(false);
    wait_until_admitted(&journal);
    append_contiguous(&journal, &mut acknowledged, 100, 100).await;
    assert!(journal.stats().segments > 2);
    check_exactly(journal, config, &acknowledged);
}

#[tokio::test]
async fn a_failed_batch_is_not_kept_in_part() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 1 << 20, 4096);
    let journal = Journal::open(config.clone()).expect("open");
    journal.append(b"first".to_vec()).await.expect("append");
    journal.inject_no_space(true);
    // Bigger than the allocated room: part of it is written, then the disk is full.
    let batch: Vec<Vec<u8>> = (0..10).map(|n| payload(n, 4096)).collect();
    let failed = journal.append_batch(batch).await;
    assert!(is_unavailable(&failed), "{failed:?}");
    journal.inject_no_space(false);
    wait_until_admitted(&journal);
    let seq = journal
        .append_batch(vec![b"a".to_vec(), b"b".to_vec()])
        .await
        .expect("batch");
    assert_eq!(seq, 2);
    check_exactly(
        journal,
        config,
        &[b"first".to_vec(), b"a".to_vec(), b"b".to_vec()],
    );
}

#[tokio::test]
async fn acknowledged_bytes_missing_at_repair_poison_the_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = crate::open(dir.path(), 1 << 20);
    for seq in 1..=3 {
        journal.append(payload(seq, 50)).await.expect("append");
    }
    // Behind the journal's back, the segment with the acknowledged frames disappears.
    let segment = crate::segment_files(dir.path())[0].clone();
    fs_err::remove_file(&segment).expect("remove segment");
    journal.inject_sync_failure();
    let failed = journal.append(b"failed".to_vec()).await;
    assert!(is_unavailable(&failed), "{failed:?}");
    // The writer's repair finds the acknowledged bytes gone; it runs after the failed group is
    // answered, so wait for it (bounded).
    for _ in 0..500 {
        if journal.is_poisoned() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(journal.is_poisoned());
    let later = journal.append(b"later".to_vec()).await;
    assert!(matches!(later, Err(JournalError::Poisoned)), "{later:?}");
    assert!(matches!(journal.admission(), Err(JournalError::Poisoned)));
    assert!(!journal.health().available);
}
