//! Archives: CreateArchive, DescribeArchive, ListArchives, UpdateArchive, DeleteArchive, how
//! events get into an archive, and retention.
//!
//! As in AWS, an archive is fed by a managed rule on its bus, `Events-Archive-<name>`
//! (`ManagedBy` `prod.vhs.events.aws.internal`), whose pattern is the archive's pattern (or
//! none) with `"replay-name": [{"exists": false}]` added, so that replayed events are never
//! archived again, and whose one target is AWS's internal archive target. The rule is stored
//! and compiled like any rule, so archiving rides the path every event already takes: the
//! matches of an archive rule come out of [`super::engine::route`] as archived events and are
//! written ([`append`]) in the same transaction as the other matches of the event — before
//! PutEvents answers, or together with the `events` worker's journal position. An archived
//! event is therefore never lost once acknowledged, and never stored twice (its key is its
//! event time and id).
//!
//! Retention: [`sweep`] drops the events older than an archive's `RetentionDays` (0 keeps them
//! indefinitely); the `events-archives` worker ([`super::replays::run`]) calls it every minute.

use opentrail_model::Arn;
use std::collections::HashMap;

use opentrail_meta::{Meta, MetaError, Txn};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::engine::STATE_ENABLED;
use super::error::EventsError;
use super::ops::{self, Call, epoch_seconds};
use super::rules;
use super::store::{self, ArchiveStats, ArchivedEvent, StoredArchive, StoredRule};

/// `ManagedBy` of archive rules, as AWS shows it.
pub const MANAGED_BY: &str = "prod.vhs.events.aws.internal";
pub const STATE_ARCHIVE_ENABLED: &str = "ENABLED";
const DAY_MS: i64 = 86_400_000;
/// Archived events dropped per retention transaction.
const SWEEP_BATCH: usize = 1024;

/// The name of an archive's managed rule.
pub fn rule_name(archive: &str) -> String {
    format!("Events-Archive-{archive}")
}

/// The managed rule's pattern: the archive's pattern with `replay-name` must-not-exist.
pub fn rule_pattern(archive_pattern: Option<&str>) -> Result<String, EventsError> {
    let mut pattern = match archive_pattern {
        Some(text) => {
            rules::parse_pattern(text)?;
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                _ => return Err(EventsError::InvalidEventPattern("Invalid JSON".into())),
            }
        }
        None => Map::new(),
    };
    pattern.insert("replay-name".into(), json!([{"exists": false}]));
    Ok(Value::Object(pattern).to_string())
}

/// The managed rule of an archive, with AWS's internal archive target.
fn managed_rule(archive: &StoredArchive) -> Result<StoredRule, EventsError> {
    let template = format!(
        "{{\"archive-arn\": \"{}\", \"event\": <aws.events.event.json>, \"ingestion-time\": <aws.events.event.ingestion-time>}}",
        archive.arn()
    );
    Ok(StoredRule {
        version: store::FORMAT_VERSION,
        account: archive.account.clone(),
        region: archive.region.clone(),
        bus: archive.bus.clone(),
        name: rule_name(&archive.name),
        event_pattern: Some(rule_pattern(archive.event_pattern.as_deref())?),
        schedule: None,
        state: STATE_ENABLED.to_owned(),
        description: None,
        role_arn: None,
        managed_by: Some(MANAGED_BY.to_owned()),
        archive: Some(archive.name.clone()),
        created_by: archive.account.clone(),
        tags: Vec::new(),
        targets: vec![json!({
            "Id": rule_name(&archive.name),
            "Arn": format!("arn:aws:events:{}:::", archive.region),
            "InputTransformer": {"InputPathsMap": {}, "InputTemplate": template},
        })],
    })
}

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

fn not_found(name: &str) -> EventsError {
    EventsError::ResourceNotFound(format!("Archive {name} does not exist."))
}

/// The archive the call's `ArchiveName` names, which must exist.
fn existing(call: &Call) -> Result<StoredArchive, EventsError> {
    let name = call.str("ArchiveName").unwrap_or("");
    let key = store::archive_key(&call.account, &call.region, name);
    call.meta()
        .get::<StoredArchive>(store::ARCHIVES, &key)?
        .ok_or_else(|| not_found(name))
}

/// The archive an archive ARN names, if it exists.
pub fn by_arn(meta: &Meta, arn: &str) -> Result<Option<StoredArchive>, MetaError> {
    let Some(arn) = Arn::of_service(arn, "events") else {
        return Ok(None);
    };
    let Some(name) = arn.resource.strip_prefix("archive/") else {
        return Ok(None);
    };
    meta.get(
        store::ARCHIVES,
        &store::archive_key(arn.account, arn.region, name),
    )
}

fn retention(call: &Call) -> Result<Option<u32>, EventsError> {
    match call.input.get("RetentionDays").and_then(Value::as_i64) {
        None => Ok(None),
        Some(days) => u32::try_from(days).map(Some).map_err(|_| {
            EventsError::Validation(format!(
                "1 validation error detected: Value '{days}' at 'retentionDays' failed to satisfy constraint: Member must have value greater than or equal to 0"
            ))
        }),
    }
}

pub fn create_archive(call: &Call) -> Result<Value, EventsError> {
    let name = call.str("ArchiveName").unwrap_or("");
    ops::check_name(name, "archiveName")?;
    let source_arn = call.str("EventSourceArn").unwrap_or("");
    let bus = ops::parse_bus(source_arn, &call.account, &call.region)?;
    if !ops::bus_exists(call.meta(), &bus)? {
        return Err(EventsError::bus_not_found(&bus.name));
    }
    let archive = StoredArchive {
        version: store::FORMAT_VERSION,
        account: call.account.clone(),
        region: call.region.clone(),
        name: name.to_owned(),
        source_arn: source_arn.to_owned(),
        bus: bus.name.clone(),
        event_pattern: call.non_empty("EventPattern").map(str::to_owned),
        description: call.str("Description").map(str::to_owned),
        retention_days: retention(call)?.unwrap_or(0),
        kms_key: call.non_empty("KmsKeyIdentifier").map(str::to_owned),
        created_ms: call.now_ms,
    };
    let rule = managed_rule(&archive)?;
    call.meta().write(|txn| {
        if txn
            .get::<StoredArchive>(store::ARCHIVES, &archive.key())?
            .is_some()
        {
            return Err(EventsError::ResourceAlreadyExists(format!(
                "Archive {name} already exists."
            )));
        }
        txn.put(store::ARCHIVES, &archive.key(), &archive)?;
        txn.put(
            store::ARCHIVE_STATS,
            &archive.key(),
            &ArchiveStats {
                version: store::FORMAT_VERSION,
                count: 0,
                bytes: 0,
            },
        )?;
        txn.put(store::RULES, &rule.key(), &rule)?;
        Ok(())
    })?;
    call.engine.rules_changed();
    Ok(json!({
        "ArchiveArn": archive.arn(),
        "State": STATE_ARCHIVE_ENABLED,
        "CreationTime": epoch_seconds(archive.created_ms),
    }))
}

fn stats_of(call: &Call, archive: &StoredArchive) -> Result<ArchiveStats, EventsError> {
    Ok(call
        .meta()
        .get(store::ARCHIVE_STATS, &archive.key())?
        .unwrap_or_default())
}

pub fn describe_archive(call: &Call) -> Result<Value, EventsError> {
    let archive = existing(call)?;
    let stats = stats_of(call, &archive)?;
    let mut out = Map::new();
    out.insert("ArchiveArn".into(), json!(archive.arn()));
    out.insert("ArchiveName".into(), json!(archive.name));
    out.insert("EventSourceArn".into(), json!(archive.source_arn));
    if let Some(description) = &archive.description {
        out.insert("Description".into(), json!(description));
    }
    if let Some(pattern) = &archive.event_pattern {
        out.insert("EventPattern".into(), json!(pattern));
    }
    out.insert("State".into(), json!(STATE_ARCHIVE_ENABLED));
    if let Some(kms) = &archive.kms_key {
        out.insert("KmsKeyIdentifier".into(), json!(kms));
    }
    out.insert("RetentionDays".into(), json!(archive.retention_days));
    out.insert("SizeBytes".into(), json!(stats.bytes));
    out.insert("EventCount".into(), json!(stats.count));
    out.insert("CreationTime".into(), epoch_seconds(archive.created_ms));
    Ok(Value::Object(out))
}

pub fn list_archives(call: &Call) -> Result<Value, EventsError> {
    let prefix = call.non_empty("NamePrefix");
    let source = call.non_empty("EventSourceArn");
    let state = call.non_empty("State");
    if [prefix, source, state].iter().flatten().count() > 1 {
        return Err(EventsError::Validation(
            "At most one filter is allowed for ListArchives. Use either : State, EventSourceArn, or NamePrefix."
                .into(),
        ));
    }
    let mut archives: Vec<StoredArchive> = call
        .meta()
        .list::<StoredArchive>(
            store::ARCHIVES,
            &format!("{}/{}/", call.account, call.region),
        )?
        .into_iter()
        .map(|(_, archive)| archive)
        .filter(|archive| prefix.is_none_or(|prefix| archive.name.starts_with(prefix)))
        .filter(|archive| source.is_none_or(|source| archive.source_arn == source))
        .filter(|_| state.is_none_or(|state| state == STATE_ARCHIVE_ENABLED))
        .collect();
    archives.sort_by(|a, b| a.name.cmp(&b.name));
    let (page, next) = ops::paginate(&archives, call.str("NextToken"), call.limit())?;
    let mut listed = Vec::with_capacity(page.len());
    for archive in &page {
        let stats = stats_of(call, archive)?;
        listed.push(json!({
            "ArchiveName": archive.name,
            "EventSourceArn": archive.source_arn,
            "State": STATE_ARCHIVE_ENABLED,
            "RetentionDays": archive.retention_days,
            "SizeBytes": stats.bytes,
            "EventCount": stats.count,
            "CreationTime": epoch_seconds(archive.created_ms),
        }));
    }
    let mut out = json!({"Archives": listed});
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

pub fn update_archive(call: &Call) -> Result<Value, EventsError> {
    let mut archive = existing(call)?;
    if let Some(description) = call.str("Description") {
        archive.description = Some(description.to_owned());
    }
    if let Some(pattern) = call.str("EventPattern") {
        archive.event_pattern = Some(pattern.to_owned()).filter(|p| !p.is_empty());
    }
    if let Some(days) = retention(call)? {
        archive.retention_days = days;
    }
    if let Some(kms) = call.str("KmsKeyIdentifier") {
        archive.kms_key = Some(kms.to_owned()).filter(|k| !k.is_empty());
    }
    let rule = managed_rule(&archive)?;
    call.meta().write(|txn| {
        txn.put(store::ARCHIVES, &archive.key(), &archive)?;
        txn.put(store::RULES, &rule.key(), &rule)
    })?;
    call.engine.rules_changed();
    Ok(json!({
        "ArchiveArn": archive.arn(),
        "State": STATE_ARCHIVE_ENABLED,
        "CreationTime": epoch_seconds(archive.created_ms),
    }))
}

pub fn delete_archive(call: &Call) -> Result<Value, EventsError> {
    let archive = existing(call)?;
    let key = archive.key();
    let rule_key = store::rule_key(
        &archive.account,
        &archive.region,
        &archive.bus,
        &rule_name(&archive.name),
    );
    // The archive and its rule go first, so nothing more is archived; the events follow in
    // batches (an archive may hold many).
    call.meta().write(|txn| {
        txn.delete(store::ARCHIVES, &key)?;
        txn.delete(store::ARCHIVE_STATS, &key)?;
        txn.delete(store::RULES, &rule_key)?;
        Ok::<_, EventsError>(())
    })?;
    call.engine.rules_changed();
    drop_events(call.meta(), &key)?;
    Ok(json!({}))
}

/// Removes every archived event of an archive that no longer exists.
fn drop_events(meta: &Meta, archive_key: &str) -> Result<(), MetaError> {
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
mod tests {
    use super::*;

    fn archive(name: &str, retention_days: u32) -> StoredArchive {
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
    fn the_rule_pattern_excludes_replays_and_keeps_the_archive_pattern() {
        let all: Value = serde_json::from_str(&rule_pattern(None).expect("pattern")).expect("json");
        assert_eq!(all, json!({"replay-name": [{"exists": false}]}));
        let some: Value = serde_json::from_str(
            &rule_pattern(Some(r#"{"source": ["a"], "detail-type": ["t"]}"#)).expect("pattern"),
        )
        .expect("json");
        assert_eq!(
            some,
            json!({"source": ["a"], "detail-type": ["t"], "replay-name": [{"exists": false}]})
        );
        assert!(matches!(
            rule_pattern(Some("invalid")),
            Err(EventsError::InvalidEventPattern(_))
        ));
        assert!(matches!(
            rule_pattern(Some(r#"{"a": {"b": "c"}}"#)),
            Err(EventsError::InvalidEventPattern(_))
        ));
    }

    #[test]
    fn the_managed_rule_matches_new_events_only() {
        let mut stored = archive("a", 0);
        stored.event_pattern = Some(r#"{"source": ["app"]}"#.into());
        let rule = managed_rule(&stored).expect("rule");
        assert_eq!(rule.name, "Events-Archive-a");
        assert_eq!(rule.managed_by.as_deref(), Some(MANAGED_BY));
        let pattern = opentrail_patterns::Pattern::parse(rule.event_pattern.as_deref().expect("p"))
            .expect("parses");
        assert!(pattern.matches(&json!({"source": "app", "detail": {}})));
        assert!(!pattern.matches(&json!({"source": "other", "detail": {}})));
        assert!(!pattern.matches(&json!({"source": "app", "replay-name": "r"})));
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
