//! The intent log: begin, finish, checkpoint, reopen after a clean close or a crash, and
//! failing closed.

use std::path::Path;
use std::time::{Duration, Instant};

use opentrail_journal::{IntentLog, JournalConfig, JournalError, PendingIntent, PersistMode};

fn config(dir: &Path) -> JournalConfig {
    JournalConfig::new(dir)
        .with_segment_bytes(4096)
        .with_reserve_bytes(1024)
        .with_persist(PersistMode::Buffer)
}

fn open(dir: &Path) -> (IntentLog, Vec<PendingIntent>) {
    IntentLog::open(config(dir)).expect("intent log opens")
}

/// Begins an intent as the server does: once admission admits (it may refuse for a moment
/// while the next segment is being prepared, as these segments are tiny).
async fn begin_admitted(log: &IntentLog, after_seq: u64, payload: Vec<u8>) -> u64 {
    let started = Instant::now();
    while let Err(error) = log.admission() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never admitted: {error}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    log.begin(after_seq, payload).await.expect("begin")
}

fn ids(pending: &[PendingIntent]) -> Vec<u64> {
    pending.iter().map(|intent| intent.id).collect()
}

#[tokio::test]
async fn a_new_log_has_no_candidates_and_ids_start_at_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, pending) = open(dir.path());
    assert!(pending.is_empty());
    assert_eq!(log.begin(7, b"event-1".to_vec()).await.expect("begin"), 1);
    assert_eq!(log.unfinished(), 1);
    log.finish(1);
    assert_eq!(log.unfinished(), 0);
    assert_eq!(log.checkpoint().expect("checkpoint"), 1);
    assert_eq!(log.checkpointed(), 1);
}

#[tokio::test]
async fn reopening_returns_exactly_the_intents_after_the_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path());
    let mut begun = Vec::new();
    for n in 1..=10u64 {
        let id = log
            .begin(100 + n, format!("event-{n}").into_bytes())
            .await
            .expect("begin");
        begun.push(id);
    }
    assert_eq!(begun, (1..=10).collect::<Vec<_>>());
    // 1..=4 and 6 finish; 5 does not, so the checkpoint stops at 4.
    for id in [1, 2, 3, 4, 6] {
        log.finish(id);
    }
    assert_eq!(log.checkpoint().expect("checkpoint"), 4);
    drop(log);

    let (log, pending) = open(dir.path());
    assert_eq!(
        ids(&pending),
        (5..=10).collect::<Vec<_>>(),
        "every intent after the checkpoint is a candidate, finished or not"
    );
    let five = &pending[0];
    assert_eq!(five.after_seq, 105);
    assert_eq!(five.payload, b"event-5");

    // Candidates hold the checkpoint back until the caller resolves them.
    assert_eq!(log.checkpoint().expect("checkpoint"), 4);
    for intent in &pending {
        log.finish(intent.id);
    }
    assert_eq!(log.checkpoint().expect("checkpoint"), 10);
    let next = log.begin(0, b"event-11".to_vec()).await.expect("begin");
    assert_eq!(next, 11);
    drop(log);
    let (_, pending) = open(dir.path());
    assert_eq!(ids(&pending), vec![11]);
}

#[tokio::test]
async fn a_crash_without_a_checkpoint_keeps_every_unfinished_intent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path());
    for n in 1..=5u64 {
        log.begin(n, vec![n as u8]).await.expect("begin");
    }
    log.finish(1);
    log.finish(2);
    assert_eq!(log.checkpoint().expect("checkpoint"), 2);
    for n in 6..=8u64 {
        log.begin(n, vec![n as u8]).await.expect("begin");
    }
    log.finish(3);
    log.finish(7);
    // A crash: no checkpoint after these finishes.
    drop(log);
    let (_, pending) = open(dir.path());
    assert_eq!(ids(&pending), (3..=8).collect::<Vec<_>>());
    for intent in &pending {
        assert_eq!(intent.payload, vec![intent.id as u8]);
        assert_eq!(intent.after_seq, intent.id);
    }
}

#[tokio::test]
async fn checkpoints_trim_old_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path());
    for n in 0..200u64 {
        let id = begin_admitted(&log, n, vec![7; 100]).await;
        log.finish(id);
    }
    let segments_before = log.journal().stats().segments;
    assert!(segments_before > 3, "{segments_before} segments");
    assert_eq!(log.checkpoint().expect("checkpoint"), 200);
    assert_eq!(log.journal().stats().segments, 1);
    drop(log);
    let (log, pending) = open(dir.path());
    assert!(pending.is_empty());
    assert_eq!(log.begin(0, Vec::new()).await.expect("begin"), 201);
}

#[tokio::test]
async fn concurrent_begins_never_let_the_checkpoint_pass_an_unfinished_intent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path());
    let log = std::sync::Arc::new(log);
    let mut tasks = Vec::new();
    for task in 0..4u64 {
        let log = std::sync::Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let mut kept = Vec::new();
            for n in 0..50u64 {
                let id = begin_admitted(&log, task, vec![n as u8]).await;
                // Every tenth intent stays unfinished.
                if n % 10 == 3 {
                    kept.push(id);
                } else {
                    log.finish(id);
                }
                if n % 7 == 0 {
                    log.checkpoint().expect("checkpoint");
                }
            }
            kept
        }));
    }
    let mut unfinished = Vec::new();
    for task in tasks {
        unfinished.extend(task.await.expect("task"));
    }
    unfinished.sort();
    let checkpoint = log.checkpoint().expect("checkpoint");
    assert_eq!(checkpoint, unfinished[0] - 1);
    drop(log);
    let (_, pending) = open(dir.path());
    let candidates = ids(&pending);
    for id in &unfinished {
        assert!(candidates.contains(id), "unfinished intent {id} was lost");
    }
    assert_eq!(candidates[0], checkpoint + 1);
}

#[tokio::test]
async fn begin_fails_closed_while_the_intent_journal_cannot_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path());
    let first = log.begin(0, b"one".to_vec()).await.expect("begin");
    log.journal().inject_sync_failure();
    let failed = log.begin(0, b"two".to_vec()).await;
    assert!(
        matches!(failed, Err(JournalError::Unavailable(_))),
        "{failed:?}"
    );
    // The failed intent is not unfinished: the caller did no effect.
    assert_eq!(log.unfinished(), 1);
    log.journal().inject_no_space(true);
    // The reserve runs out: begin is refused before anything is written.
    let started = Instant::now();
    let refusal = loop {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "begin never refused"
        );
        match log.begin(0, vec![0; 200]).await {
            Ok(id) => log.finish(id),
            Err(error) => break error,
        }
    };
    assert!(matches!(refusal, JournalError::Unavailable(_)), "{refusal}");
    assert!(!log.health().available);
    log.journal().inject_no_space(false);
    let started = Instant::now();
    while log.admission().is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never admitted again"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let next = log.begin(0, b"three".to_vec()).await.expect("begin");
    log.finish(first);
    log.finish(next);
    assert_eq!(log.checkpoint().expect("checkpoint"), next);
}
