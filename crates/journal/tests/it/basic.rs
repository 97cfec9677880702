//! Appending, reading, rolling, reopening and concurrency.

use std::collections::HashSet;
use std::time::Duration;

use opentrail_journal::{Journal, JournalConfig, JournalError, MAX_PAYLOAD};

use crate::{open, payload, read_all, segment_files};

#[tokio::test]
async fn append_and_read_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(JournalConfig::new(dir.path())).expect("open");
    assert_eq!(journal.last_seq(), 0);
    assert!(journal.read_from(0, 10).expect("read").is_empty());

    for seq in 1..=10 {
        assert_eq!(journal.append(payload(seq, 40)).await.expect("append"), seq);
    }
    assert_eq!(journal.last_seq(), 10);
    let all = read_all(&journal, 1);
    assert_eq!(all.len(), 10);
    for (seq, bytes) in &all {
        assert_eq!(bytes, &payload(*seq, 40));
    }
    let middle = journal.read_from(5, 2).expect("read");
    assert_eq!(middle.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![6, 7]);
    assert!(journal.read_from(10, 5).expect("read").is_empty());
    assert!(journal.read_from(3, 0).expect("read").is_empty());

    let stats = journal.stats();
    assert_eq!(stats.last_seq, 10);
    assert_eq!(stats.first_seq, 1);
    assert_eq!(stats.appends, 10);
    assert_eq!(stats.segments, 1);
    assert!(stats.fsyncs >= 1, "SyncData fsyncs: {stats:?}");
    assert!(stats.bytes > 10 * 40);
}

#[tokio::test]
async fn batches_get_consecutive_seqs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = open(dir.path(), 1 << 20);
    journal.append(b"one".to_vec()).await.expect("append");
    let first = journal
        .append_batch(vec![b"a".to_vec(), b"b".to_vec(), Vec::new()])
        .await
        .expect("batch");
    assert_eq!(first, 2);
    assert_eq!(journal.last_seq(), 4);
    let entries = journal.read_from(1, 10).expect("read");
    let payloads: Vec<&[u8]> = entries.iter().map(|e| e.payload.as_slice()).collect();
    assert_eq!(payloads, vec![&b"a"[..], b"b", b""]);
    assert!(matches!(
        journal.append_batch(Vec::new()).await,
        Err(JournalError::EmptyBatch)
    ));
}

#[tokio::test]
async fn too_large_payloads_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = open(dir.path(), 1 << 20);
    let result = journal.append(vec![0; MAX_PAYLOAD + 1]).await;
    assert!(matches!(result, Err(JournalError::TooLarge { len, .. }) if len == MAX_PAYLOAD + 1));
    let result = journal
        .append_batch(vec![Vec::new(), vec![0; MAX_PAYLOAD + 1]])
        .await;
    assert!(matches!(result, Err(JournalError::TooLarge { .. })));
    assert_eq!(
        journal.last_seq(),
        0,
        "nothing of a refused batch is written"
    );
    // The largest allowed payload goes through and reads back across read chunks.
    let big = vec![7u8; MAX_PAYLOAD];
    assert_eq!(journal.append(big.clone()).await.expect("append"), 1);
    journal.append(b"after".to_vec()).await.expect("append");
    let entries = journal.read_from(0, 10).expect("read");
    assert_eq!(entries.len(), 2);
    assert!(entries[0].payload == big);
    assert_eq!(entries[1].payload, b"after");
}

#[test]
fn append_blocking_from_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = open(dir.path(), 4096);
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let journal = journal.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|n| {
                        journal
                            .append_blocking(format!("{thread}-{n}").into_bytes())
                            .expect("append")
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
}

#[tokio::test]
async fn reopen_keeps_everything_and_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let journal =
            Journal::open(JournalConfig::new(dir.path()).with_segment_bytes(300)).expect("open");
        for seq in 1..=30 {
            journal.append(payload(seq, 30)).await.expect("append");
        }
    }
    let journal = open(dir.path(), 300);
    assert_eq!(journal.last_seq(), 30);
    let all = read_all(&journal, 1);
    assert_eq!(all.len(), 30);
    assert!(all.iter().all(|(seq, bytes)| bytes == &payload(*seq, 30)));
    assert_eq!(journal.append(payload(31, 30)).await.expect("append"), 31);
    drop(journal);
    let journal = open(dir.path(), 300);
    assert_eq!(read_all(&journal, 1).len(), 31);
}

#[tokio::test]
async fn segments_roll_and_reads_cross_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = open(dir.path(), 512);
    for seq in 1..=100 {
        journal.append(payload(seq, 50)).await.expect("append");
    }
    let files = segment_files(dir.path());
    assert!(
        files.len() >= 10,
        "expected many segments, got {}",
        files.len()
    );
    assert_eq!(journal.stats().segments, files.len());
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names[0], "00000000000000000001.log");
    for file in &files {
        // A segment rolls at the first append after it reaches segment_bytes.
        let len = fs_err::metadata(file).expect("metadata").len();
        assert!(
            len < 512 + 66 + 24,
            "segment {} is {len} bytes",
            file.display()
        );
    }
    for after in [0, 1, 7, 8, 9, 50, 98, 99] {
        let entries = journal.read_from(after, 5).expect("read");
        let expected: Vec<u64> = (after + 1..=(after + 5).min(100)).collect();
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), expected);
        for entry in entries {
            assert_eq!(entry.payload, payload(entry.seq, 50));
        }
    }
    assert_eq!(read_all(&journal, 1).len(), 100);
}

#[tokio::test]
async fn read_from_uses_the_sparse_index_correctly() {
    // Large segments with thousands of small entries: reads starting anywhere are exact.
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = open(dir.path(), 1 << 20);
    let payloads: Vec<Vec<u8>> = (1..=5000).map(|seq| payload(seq, 10)).collect();
    journal.append_batch(payloads).await.expect("batch");
    for after in [0, 255, 256, 257, 511, 1000, 4095, 4096, 4999] {
        let entries = journal.read_from(after, 3).expect("read");
        assert_eq!(entries[0].seq, after + 1);
        assert_eq!(entries[0].payload, payload(after + 1, 10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_get_unique_contiguous_seqs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal =
        Journal::open(JournalConfig::new(dir.path()).with_segment_bytes(64 * 1024)).expect("open");
    let tasks: Vec<_> = (0..64u64)
        .map(|task| {
            let journal = journal.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for n in 0..40u64 {
                    let bytes = format!("task{task}-{n}").into_bytes();
                    let seq = journal.append(bytes.clone()).await.expect("append");
                    mine.push((seq, bytes));
                }
                mine
            })
        })
        .collect();
    let mut written = Vec::new();
    for task in tasks {
        written.extend(task.await.expect("task"));
    }
    let seqs: HashSet<u64> = written.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs.len(), 64 * 40, "seqs are unique");
    assert_eq!(journal.last_seq(), 64 * 40);
    let stored = read_all(&journal, 1);
    assert_eq!(stored.len(), 64 * 40);
    for (seq, bytes) in written {
        assert_eq!(stored[(seq - 1) as usize].1, bytes, "entry {seq}");
    }
    let stats = journal.stats();
    assert!(
        stats.groups < stats.appends,
        "group commit batched appends: {stats:?}"
    );
}

#[tokio::test]
async fn wait_beyond_resolves_after_an_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = open(dir.path(), 1 << 20);
    let waiter = {
        let journal = journal.clone();
        tokio::spawn(async move { journal.wait_beyond(0).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiter.is_finished(), "nothing was appended yet");
    journal.append(b"x".to_vec()).await.expect("append");
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("waiter resolves")
        .expect("task");
    // Already beyond: resolves at once.
    tokio::time::timeout(Duration::from_secs(5), journal.wait_beyond(0))
        .await
        .expect("resolves at once");
}

#[test]
fn a_directory_opens_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = open(dir.path(), 1 << 20);
    let second = Journal::open(crate::config(dir.path(), 1 << 20));
    assert!(
        matches!(second, Err(JournalError::Locked { .. })),
        "{second:?}"
    );
    drop(journal);
    open(dir.path(), 1 << 20);
}
