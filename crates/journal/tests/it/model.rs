//! A proptest model: random appends, batches, reopens, cursor commits, segment removal, reads
//! and injected faults (failed syncs, a full disk, failing segment creation), checked against a
//! plain `Vec` of entries: an append that fails is not in the journal, one that succeeds is,
//! exactly once, with contiguous seqs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use opentrail_journal::{Journal, JournalError, Seq};
use proptest::prelude::*;

use crate::{open, payload};

const CURSOR_NAMES: [&str; 3] = ["history", "delivery", "insights"];

#[derive(Debug, Clone)]
enum Op {
    Append {
        len: usize,
    },
    Batch {
        lens: Vec<usize>,
    },
    Reopen,
    /// Commits cursor `cursor` at `percent`% of the last seq.
    Commit {
        cursor: usize,
        percent: u64,
    },
    Remove,
    /// Reads up to `max` entries after `percent`% of the last seq.
    Read {
        percent: u64,
        max: usize,
    },
    /// Injects a fault; appends may fail until the next `Heal`.
    Fault(Fault),
    /// Clears the faults and waits until the journal admits again.
    Heal,
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    FailNextSync,
    DiskFull,
    NewSegmentsNoSpace,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..120).prop_map(|len| Op::Append { len }),
        2 => prop::collection::vec(0usize..80, 1..6).prop_map(|lens| Op::Batch { lens }),
        1 => Just(Op::Reopen),
        2 => (0usize..CURSOR_NAMES.len(), 0u64..=100).prop_map(|(cursor, percent)| Op::Commit { cursor, percent }),
        1 => Just(Op::Remove),
        3 => (0u64..=110, 1usize..20).prop_map(|(percent, max)| Op::Read { percent, max }),
        1 => prop_oneof![
            Just(Fault::FailNextSync),
            Just(Fault::DiskFull),
            Just(Fault::NewSegmentsNoSpace),
        ].prop_map(Op::Fault),
        1 => Just(Op::Heal),
    ]
}

/// What the journal should hold.
struct Model {
    /// `payloads[seq - 1]` for every seq ever appended.
    payloads: Vec<Vec<u8>>,
    /// First seq still kept.
    first_kept: u64,
    cursors: BTreeMap<String, u64>,
    /// Whether a fault was injected since the last heal (appends may fail).
    faulty: bool,
}

impl Model {
    fn last_seq(&self) -> u64 {
        self.payloads.len() as u64
    }
}

fn check_contents(journal: &Journal, model: &Model) {
    assert_eq!(journal.last_seq(), model.last_seq());
    assert_eq!(journal.first_seq(), model.first_kept);
    let entries = journal
        .read_from(model.first_kept - 1, usize::MAX)
        .expect("read");
    assert_eq!(
        entries.len() as u64,
        model.last_seq() + 1 - model.first_kept
    );
    for entry in entries {
        assert_eq!(entry.payload, model.payloads[(entry.seq - 1) as usize]);
    }
}

impl Model {
    /// Checks an append's outcome (`count` entries): whether they are now in the journal.
    fn accepts(&self, outcome: Result<Seq, JournalError>, count: usize) -> bool {
        match outcome {
            Ok(first) => {
                assert_eq!(first, self.last_seq() + 1, "seqs stay contiguous");
                assert!(count > 0);
                true
            }
            Err(JournalError::Unavailable(_)) if self.faulty => false,
            Err(error) => panic!("append failed without a fault: {error}"),
        }
    }
}

/// Clears the faults, waits (bounded) for the writer's repair, and makes sure a pending
/// injected sync failure is used up, appending a probe entry.
fn heal(journal: &Journal, model: &mut Model) {
    journal.inject_no_space(false);
    journal.inject_new_segment_no_space(false);
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the journal did not recover"
        );
        if journal.admission().is_err() {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let bytes = payload(model.last_seq() + 1, 10);
        if model.accepts(journal.append_blocking(bytes.clone()), 1) {
            model.payloads.push(bytes);
            break;
        }
    }
    model.faulty = false;
    check_contents(journal, model);
}

fn run(dir: &Path, segment_bytes: u64, ops: Vec<Op>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut journal = open(dir, segment_bytes);
    let mut model = Model {
        payloads: Vec::new(),
        first_kept: 1,
        cursors: BTreeMap::new(),
        faulty: false,
    };
    for op in ops {
        match op {
            Op::Append { len } => {
                let bytes = payload(model.last_seq() + 1, len);
                let outcome = journal.append_blocking(bytes.clone());
                if model.accepts(outcome, 1) {
                    model.payloads.push(bytes);
                }
            }
            Op::Batch { lens } => {
                let first = model.last_seq() + 1;
                let batch: Vec<Vec<u8>> = lens
                    .iter()
                    .enumerate()
                    .map(|(n, len)| payload(first + n as u64, *len))
                    .collect();
                let outcome = runtime.block_on(journal.append_batch(batch.clone()));
                if model.accepts(outcome, batch.len()) {
                    model.payloads.extend(batch);
                }
            }
            Op::Fault(fault) => {
                model.faulty = true;
                match fault {
                    Fault::FailNextSync => journal.inject_sync_failure(),
                    Fault::DiskFull => journal.inject_no_space(true),
                    Fault::NewSegmentsNoSpace => journal.inject_new_segment_no_space(true),
                }
            }
            Op::Heal => heal(&journal, &mut model),
            Op::Reopen => {
                // Injected faults belong to the closed journal.
                model.faulty = false;
                drop(journal);
                journal = open(dir, segment_bytes);
                check_contents(&journal, &model);
                assert_eq!(
                    journal.cursors().expect("cursors"),
                    model
                        .cursors
                        .iter()
                        .map(|(name, position)| (name.clone(), *position))
                        .collect::<Vec<_>>()
                );
            }
            Op::Commit { cursor, percent } => {
                let name = CURSOR_NAMES[cursor];
                let position = model.last_seq() * percent / 100;
                let mut cursor = journal.cursor(name).expect("cursor");
                assert_eq!(
                    cursor.position(),
                    model.cursors.get(name).copied().unwrap_or(0)
                );
                cursor.commit(position).expect("commit");
                model.cursors.insert(name.to_string(), position);
            }
            Op::Remove => {
                let segments_before = journal.stats().segments;
                let removed = journal.remove_consumed_segments().expect("remove");
                assert_eq!(journal.stats().segments, segments_before - removed);
                let first = journal.first_seq();
                match model.cursors.values().min() {
                    None => assert_eq!(removed, 0),
                    // Earlier removals (before a cursor moved back or a new one came) stay removed.
                    Some(consumed) => assert!(
                        first <= consumed + 1 || removed == 0,
                        "removed unconsumed entries: first kept {first}, consumed {consumed}"
                    ),
                }
                assert!(first >= model.first_kept);
                if removed == 0 {
                    assert_eq!(first, model.first_kept);
                }
                model.first_kept = first;
                check_contents(&journal, &model);
            }
            Op::Read { percent, max } => {
                let after = (model.last_seq() + 1) * percent / 100;
                let entries = journal.read_from(after, max).expect("read");
                let start = after.max(model.first_kept - 1) + 1;
                let expected: Vec<u64> = (start..=model.last_seq()).take(max).collect();
                assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), expected);
                for entry in entries {
                    assert_eq!(entry.payload, model.payloads[(entry.seq - 1) as usize]);
                }
            }
        }
    }
    if model.faulty {
        heal(&journal, &mut model);
    }
    drop(journal);
    let journal = open(dir, segment_bytes);
    check_contents(&journal, &model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn journal_matches_model(
        segment_bytes in 64u64..2048,
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        run(dir.path(), segment_bytes, ops);
    }
}
