//! Archives: CreateArchive, DescribeArchive, ListArchives, UpdateArchive, DeleteArchive, and
//! the managed rule that feeds each archive.
//!
//! As in AWS, an archive is fed by a managed rule on its bus, `Events-Archive-<name>`
//! (`ManagedBy` `prod.vhs.events.aws.internal`), whose pattern is the archive's pattern (or
//! none) with `"replay-name": [{"exists": false}]` added, so that replayed events are never
//! archived again, and whose one target is AWS's internal archive target. The rule is stored
//! and compiled like any rule, so archiving rides the path every event already takes: the
//! matches of an archive rule come out of [`super::engine::route`] as archived events and are
//! written ([`super::archived_events::append`]) in the same transaction as the other matches
//! of the event — before PutEvents answers, or together with the `events` worker's journal
//! position. An archived event is therefore never lost once acknowledged, and never stored
//! twice (its key is its event time and id).
//!
//! Retention ([`super::archived_events::sweep`]) drops the events older than an archive's
//! `RetentionDays`; the `events-archives` worker ([`super::replays::Replayer`]) calls it every
//! minute.

use opentrail_model::Arn;

use opentrail_meta::{Meta, MetaError};
use serde_json::{Map, Value, json};

use super::archived_events;
use super::engine::STATE_ENABLED;
use super::error::EventsError;
use super::ops::{self, Call, epoch_seconds};
use super::rules;
use super::store::{self, ArchiveStats, StoredArchive, StoredRule};

/// `ManagedBy` of archive rules, as AWS shows it.
pub const MANAGED_BY: &str = "prod.vhs.events.aws.internal";
pub const STATE_ARCHIVE_ENABLED: &str = "ENABLED";

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
    archived_events::drop_events(call.meta(), &key)?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archived_events::tests::archive;

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
}
