//! The events stored in archives: adding them ([`append`], in the transaction that routes
//! them), their event time ([`event_time_ms`]), and retention ([`sweep`] drops the events older
//! than an archive's `RetentionDays`; 0 keeps them indefinitely; [`drop_events`] the events of
//! a deleted archive).
//!
//! The routing engine ([`crate::engine`]) writes what archive rules match through [`append`],
//! and the `events-archives` worker ([`crate::replays`]) sweeps every minute; the archive
//! operations themselves are in [`crate::archives`].

use std::collections::HashMap;

use opentrail_meta::{Meta, MetaError, Txn};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::store::{self, ArchiveStats, ArchivedEvent, StoredArchive};

const DAY_MS: i64 = 86_400_000;
/// Archived events dropped per retention transaction.
const SWEEP_BATCH: usize = 1024;

/// The `time` of an event envelope, in epoch milliseconds.
pub fn event_time_ms(event: &Value) -> Option<i64> {
    let text = event.get("time")?.as_str()?;
    let time = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Adds archived events in `txn`, moving each archive's EventCount and SizeBytes. Events of an
/// archive deleted meanwhile and events already archived are skipped.
pub fn append(txn: &mut Txn<'_>, archived: &[(String, ArchivedEvent)]) -> Result<(), MetaError> {
    if archived.is_empty() {
        return Ok(());
    }
    let mut stats: HashMap<String, Option<ArchiveStats>> = HashMap::new();
    for (event_id, event) in archived {
        if !stats.contains_key(&event.archive) {
            let found = match txn.get::<StoredArchive>(store::ARCHIVES, &event.archive)? {
                Some(_) => Some(
                    txn.get::<ArchiveStats>(store::ARCHIVE_STATS, &event.archive)?
                        .unwrap_or_default(),
                ),
                None => None,
            };
            stats.insert(event.archive.clone(), found);
        }
        let Some(Some(counted)) = stats.get_mut(&event.archive) else {
            continue;
        };
        let key = event.key(event_id);
        if txn
            .get::<ArchivedEvent>(store::ARCHIVE_EVENTS, &key)?
            .is_some()
        {
            continue;
        }
        txn.put(store::ARCHIVE_EVENTS, &key, event)?;
        counted.count += 1;
        counted.bytes += event.event.len() as u64;
    }
    for (archive, counted) in stats {
        if let Some(mut counted) = counted {
            counted.version = store::FORMAT_VERSION;
            txn.put(store::ARCHIVE_STATS, &archive, &counted)?;
        }
    }
    Ok(())
}

/// The oldest event time an archive keeps at `now_ms`; `None` keeps everything.
pub fn retention_cut(retention_days: u32, now_ms: i64) -> Option<i64> {
    (retention_days > 0).then(|| now_ms - i64::from(retention_days) * DAY_MS)
}

/// Drops the events every archive no longer keeps; returns how many were dropped.
pub fn sweep(meta: &Meta, now_ms: i64) -> Result<u64, MetaError> {
    let mut dropped = 0;
    for (key, archive) in meta.list::<StoredArchive>(store::ARCHIVES, "")? {
        let Some(cut) = retention_cut(archive.retention_days, now_ms) else {
            continue;
        };
        loop {
            let expired: Vec<(String, ArchivedEvent)> = meta.range(
                store::ARCHIVE_EVENTS,
                &format!("{key}/"),
                &store::archive_time_key(&key, cut),
                SWEEP_BATCH,
            )?;
            if expired.is_empty() {
                break;
            }
            dropped += meta.write(|txn| remove_events(txn, &key, &expired))?;
        }
    }
    Ok(dropped)
}

/// Removes archived events of one archive in `txn`, moving its counters.
fn remove_events(
    txn: &mut Txn<'_>,
    archive_key: &str,
    events: &[(String, ArchivedEvent)],
) -> Result<u64, MetaError> {
    let mut stats: ArchiveStats = txn
        .get(store::ARCHIVE_STATS, archive_key)?
        .unwrap_or_default();
    let mut removed = 0;
    for (key, event) in events {
        if txn.delete(store::ARCHIVE_EVENTS, key)? {
            removed += 1;
            stats.count = stats.count.saturating_sub(1);
            stats.bytes = stats.bytes.saturating_sub(event.event.len() as u64);
        }
    }
    stats.version = store::FORMAT_VERSION;
    txn.put(store::ARCHIVE_STATS, archive_key, &stats)?;
    Ok(removed)
}

/// Removes every archived event of an archive that no longer exists.
pub fn drop_events(meta: &Meta, archive_key: &str) -> Result<(), MetaError> {
    let prefix = format!("{archive_key}/");
    let end = format!("{archive_key}0");
    loop {
        let batch: Vec<(String, ArchivedEvent)> =
            meta.range(store::ARCHIVE_EVENTS, &prefix, &end, SWEEP_BATCH)?;
        if batch.is_empty() {
            return Ok(());
        }
        meta.write(|txn| {
            for (key, _) in &batch {
                txn.delete(store::ARCHIVE_EVENTS, key)?;
            }
            Ok::<_, MetaError>(())
        })?;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn archive(name: &str, retention_days: u32) -> StoredArchive {
        StoredArchive {
            version: store::FORMAT_VERSION,
            account: "123456789012".into(),
            region: "us-east-1".into(),
            name: name.into(),
            source_arn: "arn:aws:events:us-east-1:123456789012:event-bus/default".into(),
            bus: store::DEFAULT_BUS.into(),
            event_pattern: None,
            description: None,
            retention_days,
            kms_key: None,
            created_ms: 0,
        }
    }

    fn archived(archive: &StoredArchive, id: &str, time_ms: i64) -> (String, ArchivedEvent) {
        (
            id.to_owned(),
            ArchivedEvent {
                version: store::FORMAT_VERSION,
                archive: archive.key(),
                event: format!("{{\"id\":\"{id}\"}}"),
                time_ms,
                ingested_ms: time_ms,
            },
        )
    }

    fn stats(meta: &Meta, archive: &StoredArchive) -> (u64, u64) {
        let stats: ArchiveStats = meta
            .get(store::ARCHIVE_STATS, &archive.key())
            .expect("get")
            .unwrap_or_default();
        (stats.count, stats.bytes)
    }

    #[test]
    fn appending_counts_once_and_skips_deleted_archives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Meta::open(dir.path()).expect("open");
        let kept = archive("kept", 0);
        meta.put(store::ARCHIVES, &kept.key(), &kept).expect("put");
        let gone = archive("gone", 0);
        let events = vec![
            archived(&kept, "e1", 1_000),
            archived(&kept, "e2", 2_000),
            archived(&gone, "e3", 1_000),
        ];
        meta.write(|txn| append(txn, &events)).expect("append");
        meta.write(|txn| append(txn, &events[..1])).expect("again");
        assert_eq!(stats(&meta, &kept), (2, 2 * 11));
        let stored: Vec<(String, ArchivedEvent)> =
            meta.list(store::ARCHIVE_EVENTS, "").expect("list");
        assert_eq!(stored.len(), 2);
        assert!(stored.iter().all(|(_, e)| e.archive == kept.key()));
    }

    #[test]
    fn retention_drops_only_older_events() {
        assert_eq!(retention_cut(0, 10 * DAY_MS), None);
        assert_eq!(retention_cut(2, 10 * DAY_MS), Some(8 * DAY_MS));
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Meta::open(dir.path()).expect("open");
        let short = archive("short", 1);
        let forever = archive("forever", 0);
        for stored in [&short, &forever] {
            meta.put(store::ARCHIVES, &stored.key(), stored)
                .expect("put");
        }
        let now = 10 * DAY_MS;
        let events = vec![
            archived(&short, "old", now - 2 * DAY_MS),
            archived(&short, "new", now - DAY_MS / 2),
            archived(&forever, "old", now - 9 * DAY_MS),
        ];
        meta.write(|txn| append(txn, &events)).expect("append");
        assert_eq!(sweep(&meta, now).expect("sweep"), 1);
        assert_eq!(stats(&meta, &short), (1, 12));
        assert_eq!(stats(&meta, &forever).0, 1);
        assert_eq!(sweep(&meta, now).expect("sweep again"), 0);
    }

    #[test]
    fn event_times_parse_from_the_envelope() {
        assert_eq!(
            event_time_ms(&json!({"time": "2026-01-02T03:04:05Z"})),
            Some(1_767_323_045_000)
        );
        assert_eq!(event_time_ms(&json!({"time": "yesterday"})), None);
    }
}
