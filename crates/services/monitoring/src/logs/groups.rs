//! Log group and log stream operations: create, delete, describe, retention, KMS key
//! association, tags.

use opentrail_model::Arn;
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::error::LogsError;
use super::ops::{
    Call, check_group_name, check_no_colon_star, group_from_identifier, group_name, limit,
    opt_bool, opt_str, req_str,
};
use super::store::{self, FORMAT_VERSION, StoredGroup, StoredStream};

/// The retention periods AWS accepts, in days.
pub const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
/// Tags one log group may carry.
const MAX_TAGS: usize = 50;
const DESCRIBE_LIMIT: usize = 50;

pub async fn create_log_group(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let name = req_str(input, "logGroupName")?;
    check_group_name("logGroupName", name)?;
    let tags = tags_of(input.get("tags"))?;
    let class = opt_str(input, "logGroupClass").unwrap_or("STANDARD");
    let group = StoredGroup {
        version: FORMAT_VERSION,
        name: name.to_owned(),
        account: call.account.to_owned(),
        region: call.region.to_owned(),
        created_ms: call.now_ms,
        retention_days: None,
        kms_key_id: opt_str(input, "kmsKeyId").map(str::to_owned),
        tags,
        log_group_class: class.to_owned(),
        deletion_protection: opt_bool(input, "deletionProtectionEnabled").unwrap_or(false),
    };
    call.state.meta.write(|txn| {
        let key = group.key();
        if txn.get::<StoredGroup>(store::GROUPS_TABLE, &key)?.is_some() {
            return Err(LogsError::LogGroupExists);
        }
        txn.put(store::GROUPS_TABLE, &key, &group)?;
        Ok(())
    })?;
    Ok(json!({}))
}

pub async fn delete_log_group(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let name = group_name(input, call.account)?;
    let group = call.group(&name)?;
    if group.deletion_protection {
        return Err(LogsError::InvalidOperation(
            "Log group deletion is not allowed when deletion protection is enabled.".into(),
        ));
    }
    let prefix = store::children_prefix(call.account, call.region, &name);
    let streams: Vec<StoredStream> = call.state.meta.write(|txn| {
        let streams: Vec<(String, StoredStream)> = txn.list(store::STREAMS_TABLE, &prefix)?;
        for (key, _) in &streams {
            txn.delete(store::STREAMS_TABLE, key)?;
        }
        for table in [
            store::METRIC_FILTERS_TABLE,
            store::SUBSCRIPTION_FILTERS_TABLE,
        ] {
            let filters: Vec<(String, Value)> = txn.list(table, &prefix)?;
            for (key, _) in &filters {
                txn.delete(table, key)?;
            }
        }
        txn.delete(store::GROUPS_TABLE, &group.key())?;
        Ok::<_, LogsError>(streams.into_iter().map(|(_, stream)| stream).collect())
    })?;
    drop_events(call, streams.iter().map(|stream| stream.id).collect()).await;
    Ok(json!({}))
}

/// Removes the events of deleted streams. Nothing can reach them any more (stream ids are never
/// reused), so a failure only leaves unreachable bytes behind.
async fn drop_events(call: &Call<'_>, ids: Vec<u64>) {
    let result = call
        .blocking(move |events| {
            for id in ids {
                events.delete_stream(id)?;
            }
            Ok(())
        })
        .await;
    if let Err(err) = result {
        tracing::warn!(error = %err, "events of deleted log streams were not removed");
    }
}

pub async fn describe_log_groups(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let prefix = opt_str(input, "logGroupNamePrefix");
    let pattern = opt_str(input, "logGroupNamePattern");
    if prefix.is_some() && pattern.is_some() {
        return Err(LogsError::InvalidParameter(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
                .into(),
        ));
    }
    let identifiers: Option<Vec<String>> = input
        .get("logGroupIdentifiers")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|item| group_from_identifier(item, call.account))
                .collect()
        });
    let class = opt_str(input, "logGroupClass");
    let limit = limit(input, DESCRIBE_LIMIT);
    let after = opt_str(input, "nextToken");
    let pattern_lower = pattern.map(str::to_lowercase);
    let groups = store::groups(
        &call.state.meta,
        call.account,
        call.region,
        prefix.unwrap_or(""),
    )?;
    let mut selected = groups.into_iter().filter(|group| {
        after.is_none_or(|after| group.name.as_str() > after)
            && pattern_lower
                .as_deref()
                .is_none_or(|pattern| group.name.to_lowercase().contains(pattern))
            && class.is_none_or(|class| group.log_group_class == class)
            && identifiers
                .as_ref()
                .is_none_or(|names| names.contains(&group.name))
    });
    let page: Vec<StoredGroup> = selected.by_ref().take(limit).collect();
    let more = selected.next().is_some();
    let mut out = Vec::with_capacity(page.len());
    for group in &page {
        out.push(group_json(call, group).await?);
    }
    let mut response = json!({ "logGroups": out });
    if more && let Some(last) = page.last() {
        response["nextToken"] = json!(last.name);
    }
    Ok(response)
}

async fn group_json(call: &Call<'_>, group: &StoredGroup) -> Result<Value, LogsError> {
    let streams = store::streams(&call.state.meta, call.account, call.region, &group.name)?;
    let filters = store::metric_filters(&call.state.meta, call.account, call.region, &group.name)?;
    let ids: Vec<u64> = streams.iter().map(|stream| stream.id).collect();
    let stored_bytes: u64 = call
        .blocking(move |events| {
            ids.iter()
                .map(|id| events.stats(*id).map(|stats| stats.stored_bytes))
                .sum()
        })
        .await?;
    let mut out = Map::new();
    out.insert("logGroupName".into(), json!(group.name));
    out.insert("creationTime".into(), json!(group.created_ms));
    if let Some(days) = group.retention_days {
        out.insert("retentionInDays".into(), json!(days));
    }
    out.insert("metricFilterCount".into(), json!(filters.len()));
    out.insert("arn".into(), json!(format!("{}:*", group.arn())));
    out.insert("storedBytes".into(), json!(stored_bytes));
    if let Some(key) = &group.kms_key_id {
        out.insert("kmsKeyId".into(), json!(key));
    }
    out.insert("logGroupClass".into(), json!(group.log_group_class));
    out.insert("logGroupArn".into(), json!(group.arn()));
    out.insert(
        "deletionProtectionEnabled".into(),
        json!(group.deletion_protection),
    );
    Ok(Value::Object(out))
}

/// Changes one group atomically.
fn update_group(
    call: &Call<'_>,
    name: &str,
    change: impl FnOnce(&mut StoredGroup) -> Result<(), LogsError>,
) -> Result<(), LogsError> {
    let key = store::group_key(call.account, call.region, name);
    call.state.meta.write(|txn| {
        let mut group: StoredGroup = txn
            .get(store::GROUPS_TABLE, &key)?
            .ok_or(LogsError::LogGroupNotFound)?;
        change(&mut group)?;
        group.version = FORMAT_VERSION;
        txn.put(store::GROUPS_TABLE, &key, &group)?;
        Ok(())
    })
}

pub async fn put_retention_policy(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let name = group_name(input, call.account)?;
    let days = input
        .get("retentionInDays")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let allowed = u32::try_from(days)
        .ok()
        .filter(|days| RETENTION_DAYS.contains(days));
    let Some(days) = allowed else {
        let listed: Vec<String> = RETENTION_DAYS.iter().map(u32::to_string).collect();
        return Err(LogsError::InvalidParameter(format!(
            "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            listed.join(", ")
        )));
    };
    update_group(call, &name, |group| {
        group.retention_days = Some(days);
        Ok(())
    })?;
    Ok(json!({}))
}

pub async fn delete_retention_policy(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let name = group_name(input, call.account)?;
    update_group(call, &name, |group| {
        group.retention_days = None;
        Ok(())
    })?;
    Ok(json!({}))
}

pub async fn associate_kms_key(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let key = req_str(input, "kmsKeyId")?;
    if input.get("resourceIdentifier").is_some() {
        return Err(LogsError::Unsupported(
            "AssociateKmsKey with a resourceIdentifier (query results)".into(),
        ));
    }
    if !key.starts_with("arn:") || !key.contains(":kms:") {
        return Err(LogsError::InvalidParameter(format!(
            "Specified KMS key ARN is not valid: {key}"
        )));
    }
    let name = group_name(input, call.account)?;
    update_group(call, &name, |group| {
        group.kms_key_id = Some(key.to_owned());
        Ok(())
    })?;
    Ok(json!({}))
}

pub async fn disassociate_kms_key(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let name = group_name(input, call.account)?;
    update_group(call, &name, |group| {
        group.kms_key_id = None;
        Ok(())
    })?;
    Ok(json!({}))
}

/// The tags of a request (`tags`), checked.
fn tags_of(value: Option<&Value>) -> Result<BTreeMap<String, String>, LogsError> {
    let Some(map) = value.and_then(Value::as_object) else {
        return Ok(BTreeMap::new());
    };
    let mut tags = BTreeMap::new();
    for (key, value) in map {
        if key.starts_with("aws:") {
            return Err(LogsError::InvalidParameter(format!(
                "Tag keys starting with 'aws:' are reserved: {key}"
            )));
        }
        tags.insert(key.clone(), value.as_str().unwrap_or_default().to_owned());
    }
    Ok(tags)
}

fn add_tags(group: &mut StoredGroup, tags: BTreeMap<String, String>) -> Result<(), LogsError> {
    let mut merged = group.tags.clone();
    merged.extend(tags);
    if merged.len() > MAX_TAGS {
        return Err(LogsError::LimitExceeded(format!(
            "A log group can have up to {MAX_TAGS} tags; this request would leave it with {}.",
            merged.len()
        )));
    }
    group.tags = merged;
    Ok(())
}

pub async fn tag_log_group(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let name = req_str(input, "logGroupName")?;
    let tags = tags_of(input.get("tags"))?;
    update_group(call, name, |group| add_tags(group, tags))?;
    Ok(json!({}))
}

pub async fn untag_log_group(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let name = req_str(input, "logGroupName")?;
    let keys = string_list(input.get("tags"));
    update_group(call, name, |group| {
        for key in &keys {
            group.tags.remove(key);
        }
        Ok(())
    })?;
    Ok(json!({}))
}

pub async fn list_tags_log_group(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = call.group(req_str(input, "logGroupName")?)?;
    Ok(json!({ "tags": group.tags }))
}

use opentrail_core::pipeline::input::strings as string_list;

/// The log group a `resourceArn` names (`arn:aws:logs:<region>:<account>:log-group:<name>`).
fn group_of_resource(call: &Call<'_>, input: &Value) -> Result<String, LogsError> {
    let arn = req_str(input, "resourceArn")?;
    let not_found =
        || LogsError::ResourceNotFound(format!("The specified resource {arn} does not exist."));
    let Some(parsed) = Arn::of_service(arn, "logs") else {
        return Err(LogsError::InvalidParameter(format!(
            "The specified resource ARN {arn} is not valid"
        )));
    };
    match parsed.resource.strip_prefix("log-group:") {
        Some(name) if parsed.region == call.region && parsed.account == call.account => {
            Ok(name.strip_suffix(":*").unwrap_or(name).to_owned())
        }
        _ => Err(not_found()),
    }
}

pub async fn tag_resource(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let name = group_of_resource(call, input)?;
    let tags = tags_of(input.get("tags"))?;
    update_group(call, &name, |group| add_tags(group, tags)).map_err(resource_not_found)?;
    Ok(json!({}))
}

pub async fn untag_resource(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let name = group_of_resource(call, input)?;
    let keys = string_list(input.get("tagKeys"));
    update_group(call, &name, |group| {
        for key in &keys {
            group.tags.remove(key);
        }
        Ok(())
    })
    .map_err(resource_not_found)?;
    Ok(json!({}))
}

pub async fn list_tags_for_resource(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let name = group_of_resource(call, input)?;
    let group = call.group(&name).map_err(resource_not_found)?;
    Ok(json!({ "tags": group.tags }))
}

fn resource_not_found(err: LogsError) -> LogsError {
    match err {
        LogsError::LogGroupNotFound => {
            LogsError::ResourceNotFound("The specified resource does not exist.".into())
        }
        other => other,
    }
}

pub async fn create_log_stream(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = req_str(input, "logGroupName")?;
    let name = req_str(input, "logStreamName")?;
    check_no_colon_star("logStreamName", name)?;
    create_stream(call, group, name)?;
    Ok(json!({}))
}

/// Creates a stream (for CreateLogStream and trail delivery).
pub fn create_stream(call: &Call<'_>, group: &str, name: &str) -> Result<StoredStream, LogsError> {
    let group_key = store::group_key(call.account, call.region, group);
    let key = store::child_key(call.account, call.region, group, name);
    let stream = StoredStream {
        version: FORMAT_VERSION,
        name: name.to_owned(),
        group: group.to_owned(),
        id: rand::random(),
        created_ms: call.now_ms,
    };
    call.state.meta.write(|txn| {
        if txn
            .get::<StoredGroup>(store::GROUPS_TABLE, &group_key)?
            .is_none()
        {
            return Err(LogsError::LogGroupNotFound);
        }
        if txn
            .get::<StoredStream>(store::STREAMS_TABLE, &key)?
            .is_some()
        {
            return Err(LogsError::LogStreamExists);
        }
        txn.put(store::STREAMS_TABLE, &key, &stream)?;
        Ok(())
    })?;
    Ok(stream)
}

pub async fn delete_log_stream(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let group = req_str(input, "logGroupName")?;
    let name = req_str(input, "logStreamName")?;
    call.group(group)?;
    let key = store::child_key(call.account, call.region, group, name);
    let stream = call.state.meta.write(|txn| {
        let stream: StoredStream = txn
            .get(store::STREAMS_TABLE, &key)?
            .ok_or(LogsError::LogStreamNotFound)?;
        txn.delete(store::STREAMS_TABLE, &key)?;
        Ok::<_, LogsError>(stream)
    })?;
    drop_events(call, vec![stream.id]).await;
    Ok(json!({}))
}

pub async fn describe_log_streams(call: &Call<'_>, input: &Value) -> Result<Value, LogsError> {
    let group_name = group_name(input, call.account)?;
    let prefix = opt_str(input, "logStreamNamePrefix");
    let order_by = opt_str(input, "orderBy").unwrap_or("LogStreamName");
    let descending = opt_bool(input, "descending").unwrap_or(false);
    if order_by == "LastEventTime" && prefix.is_some() {
        return Err(LogsError::InvalidParameter(
            "Cannot order by LastEventTime with a logStreamNamePrefix.".into(),
        ));
    }
    let limit = limit(input, DESCRIBE_LIMIT);
    let group = call.group(&group_name)?;
    let streams = store::streams(&call.state.meta, call.account, call.region, &group.name)?;
    let ids: Vec<u64> = streams.iter().map(|stream| stream.id).collect();
    let stats = call
        .blocking(move |events| {
            ids.iter()
                .map(|id| events.stats(*id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let mut rows: Vec<(StoredStream, super::events::StreamStats)> = streams
        .into_iter()
        .zip(stats)
        .filter(|(stream, _)| prefix.is_none_or(|prefix| stream.name.starts_with(prefix)))
        .collect();
    if order_by == "LastEventTime" {
        rows.sort_by(|(a, a_stats), (b, b_stats)| {
            let a_time = a_stats.last_timestamp.unwrap_or(a.created_ms);
            let b_time = b_stats.last_timestamp.unwrap_or(b.created_ms);
            a_time.cmp(&b_time).then_with(|| a.name.cmp(&b.name))
        });
    }
    if descending {
        rows.reverse();
    }
    // Tokens are `<group>@<last stream name>` (by name) or `<group>@#<offset>` (by time).
    let token_prefix = format!("{}@", group.name);
    let start = match opt_str(input, "nextToken") {
        None => 0,
        Some(token) => match token.strip_prefix(&token_prefix) {
            None => rows.len(),
            Some(rest) => match rest.strip_prefix('#') {
                Some(offset) => offset.parse::<usize>().unwrap_or(rows.len()),
                None => rows
                    .iter()
                    .position(|(stream, _)| {
                        if descending {
                            stream.name.as_str() < rest
                        } else {
                            stream.name.as_str() > rest
                        }
                    })
                    .unwrap_or(rows.len()),
            },
        },
    };
    let start = start.min(rows.len());
    let end = (start + limit).min(rows.len());
    let page = &rows[start..end];
    let out: Vec<Value> = page
        .iter()
        .map(|(stream, stats)| stream_json(&group, stream, stats))
        .collect();
    let mut response = json!({ "logStreams": out });
    if end < rows.len() {
        response["nextToken"] = json!(if order_by == "LastEventTime" {
            format!("{token_prefix}#{end}")
        } else {
            format!(
                "{token_prefix}{}",
                page.last().map_or("", |(s, _)| s.name.as_str())
            )
        });
    }
    Ok(response)
}

fn stream_json(
    group: &StoredGroup,
    stream: &StoredStream,
    stats: &super::events::StreamStats,
) -> Value {
    let mut out = Map::new();
    out.insert("logStreamName".into(), json!(stream.name));
    out.insert("creationTime".into(), json!(stream.created_ms));
    if let Some(first) = stats.first_timestamp {
        out.insert("firstEventTimestamp".into(), json!(first));
    }
    if let Some(last) = stats.last_timestamp {
        out.insert("lastEventTimestamp".into(), json!(last));
    }
    if let Some(ingested) = stats.last_ingestion_ms {
        out.insert("lastIngestionTime".into(), json!(ingested));
    }
    out.insert(
        "uploadSequenceToken".into(),
        json!(super::ops::digits56(u128::from(stats.count))),
    );
    out.insert(
        "arn".into(),
        json!(format!("{}:log-stream:{}", group.arn(), stream.name)),
    );
    out.insert("storedBytes".into(), json!(stats.stored_bytes));
    Value::Object(out)
}
