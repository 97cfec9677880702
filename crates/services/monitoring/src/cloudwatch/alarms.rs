//! The alarm operations: PutMetricAlarm, DescribeAlarms, DescribeAlarmsForMetric, DeleteAlarms,
//! SetAlarmState, Enable/DisableAlarmActions, DescribeAlarmHistory and the tag operations.
//!
//! An alarm's configuration is kept as PutMetricAlarm gave it (model member names) and checked
//! by `opentrail_alarms::validate` ([`super::rule`]); its state moves on evaluation
//! ([`super::evaluator`]) or SetAlarmState, and each move is one transaction with its history
//! item and notifications.

use opentrail_alarms::State;
use opentrail_model::Arn;
use serde_json::{Map, Value, json};

use super::Call;
use super::error::CwError;
use super::metrics::{seconds, timestamp_ms};
use super::rule::{metric_stat, rule_of, watched};
use super::store::{
    self, ALARMS_TABLE, FORMAT_VERSION, HISTORY_TABLE, HistoryItem, StoredAlarm, string_list,
};

/// DescribeAlarms pages hold at most this many alarms (MaxRecords 1–100, default 50).
const DEFAULT_MAX_RECORDS: usize = 50;
/// The members of PutMetricAlarm that DescribeAlarms gives back as they were set.
const CONFIG_MEMBERS: &[&str] = &[
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
];
/// Reason of a new alarm's first state, as AWS words it.
const INITIAL_REASON: &str = "Unchecked: Initial alarm creation";

/// The Metrics form: exactly one MetricStat query that returns data (metric math is not built).
fn check_metrics_form(config: &Value) -> Result<(), CwError> {
    let Some(queries) = config.get("Metrics").and_then(Value::as_array) else {
        return Ok(());
    };
    for member in [
        "MetricName",
        "Namespace",
        "Statistic",
        "ExtendedStatistic",
        "Dimensions",
        "Period",
    ] {
        if config.get(member).is_some() {
            return Err(CwError::InvalidParameterCombination(format!(
                "The parameters Metrics and {member} are mutually exclusive and you have specified both."
            )));
        }
    }
    if queries
        .iter()
        .any(|query| query.get("Expression").is_some())
    {
        return Err(CwError::Validation(
            "Metrics: metric math alarms are not supported by this server; use one MetricStat query"
                .into(),
        ));
    }
    if queries.len() != 1 || metric_stat(config).is_none() {
        return Err(CwError::Validation(
            "Metrics must hold exactly one query with a MetricStat on this server".into(),
        ));
    }
    Ok(())
}

fn history(
    alarm: &StoredAlarm,
    time_ms: i64,
    item_type: &str,
    summary: String,
    data: Value,
) -> HistoryItem {
    HistoryItem::new(&alarm.name, time_ms, item_type, summary, &data)
}

fn history_key(alarm: &StoredAlarm, time_ms: i64) -> String {
    store::history_key(&alarm.account, &alarm.region, &alarm.name, time_ms)
}

/// The history data of a configuration change (type, version and the configuration).
fn config_history_data(kind: &str, alarm: &StoredAlarm, previous: Option<&StoredAlarm>) -> Value {
    let mut data = json!({
        "type": kind,
        "version": "1.0",
        "updatedAlarm": describe(alarm),
    });
    if let Some(previous) = previous {
        data["originalUpdatedAlarm"] = describe(previous);
    }
    data
}

pub async fn put_metric_alarm(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    let name = call.text(input, "AlarmName")?.to_owned();
    check_metrics_form(input)?;
    if input.get("Metrics").is_none() {
        for member in ["MetricName", "Namespace"] {
            if input.get(member).is_none() {
                return Err(CwError::Validation(format!(
                    "The parameter {member} is required when Metrics is not specified."
                )));
            }
        }
    }
    rule_of(input)?;
    let mut config = Map::new();
    for member in CONFIG_MEMBERS {
        if let Some(value) = input.get(*member) {
            config.insert((*member).to_owned(), value.clone());
        }
    }
    let tags = tag_map(input.get("Tags"));
    let key = store::alarm_key(call.account, call.region, &name);
    let now = call.now_ms;
    call.state.meta.write(|txn| -> Result<(), CwError> {
        let previous: Option<StoredAlarm> = txn.get(ALARMS_TABLE, &key)?;
        let alarm = match &previous {
            Some(previous) => StoredAlarm {
                config: Value::Object(config),
                config_updated_ms: now,
                ..previous.clone()
            },
            None => StoredAlarm {
                version: FORMAT_VERSION,
                account: call.account.to_owned(),
                region: call.region.to_owned(),
                name: name.clone(),
                config: Value::Object(config),
                state: State::InsufficientData.as_str().to_owned(),
                state_reason: INITIAL_REASON.to_owned(),
                state_reason_data: None,
                state_updated_ms: now,
                state_transitioned_ms: now,
                config_updated_ms: now,
                manual_until_ms: None,
                tags,
            },
        };
        let (kind, summary) = match previous {
            Some(_) => ("Update", format!("Alarm \"{name}\" updated")),
            None => ("Create", format!("Alarm \"{name}\" created")),
        };
        let data = config_history_data(kind, &alarm, previous.as_ref());
        let item = history(&alarm, now, "ConfigurationUpdate", summary, data);
        txn.put(HISTORY_TABLE, &history_key(&alarm, now), &item)?;
        txn.put(ALARMS_TABLE, &key, &alarm)?;
        Ok(())
    })?;
    // A new or changed alarm is evaluated at once rather than at the next tick.
    call.metrics.metrics().committed();
    Ok(json!({}))
}

fn tag_map(value: Option<&Value>) -> std::collections::BTreeMap<String, String> {
    store::pairs_of(value, "Key", "Value").into_iter().collect()
}

/// The `MetricAlarm` shape of an alarm.
pub fn describe(alarm: &StoredAlarm) -> Value {
    let mut out = Map::new();
    out.insert("AlarmName".into(), json!(alarm.name));
    out.insert("AlarmArn".into(), json!(alarm.arn()));
    out.insert(
        "AlarmConfigurationUpdatedTimestamp".into(),
        seconds(alarm.config_updated_ms),
    );
    out.insert("ActionsEnabled".into(), json!(alarm.actions_enabled()));
    for list in [
        "OKActions",
        "AlarmActions",
        "InsufficientDataActions",
        "Dimensions",
    ] {
        out.insert(list.into(), json!([]));
    }
    if let Some(config) = alarm.config.as_object() {
        for (member, value) in config {
            out.insert(member.clone(), value.clone());
        }
    }
    if out.contains_key("Metrics") {
        out.remove("Dimensions");
    }
    out.insert("StateValue".into(), json!(alarm.state));
    out.insert("StateReason".into(), json!(alarm.state_reason));
    if let Some(data) = &alarm.state_reason_data {
        out.insert("StateReasonData".into(), json!(data));
    }
    out.insert(
        "StateUpdatedTimestamp".into(),
        seconds(alarm.state_updated_ms),
    );
    out.insert(
        "StateTransitionedTimestamp".into(),
        seconds(alarm.state_transitioned_ms),
    );
    Value::Object(out)
}

/// Every alarm of the caller's account in the request's region, by name.
fn all_alarms(call: &Call<'_>) -> Result<Vec<StoredAlarm>, CwError> {
    Ok(call
        .state
        .meta
        .list::<StoredAlarm>(
            ALARMS_TABLE,
            &store::region_prefix(call.account, call.region),
        )?
        .into_iter()
        .map(|(_, alarm)| alarm)
        .collect())
}

fn max_records(input: &Value, default: usize) -> usize {
    input
        .get("MaxRecords")
        .and_then(Value::as_u64)
        .map(|value| value as usize)
        .unwrap_or(default)
}

pub async fn describe_alarms(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    let names = string_list(input.get("AlarmNames"));
    let prefix = input.get("AlarmNamePrefix").and_then(Value::as_str);
    if !names.is_empty() && prefix.is_some() {
        return Err(CwError::InvalidParameterCombination(
            "The parameters AlarmNames and AlarmNamePrefix are mutually exclusive and you have specified both."
                .into(),
        ));
    }
    let state_value = input.get("StateValue").and_then(Value::as_str);
    let action_prefix = input.get("ActionPrefix").and_then(Value::as_str);
    let types = string_list(input.get("AlarmTypes"));
    let metric_alarms_wanted = types.is_empty() || types.iter().any(|t| t == "MetricAlarm");
    let limit = max_records(input, DEFAULT_MAX_RECORDS);
    let after = input.get("NextToken").and_then(Value::as_str);
    let mut alarms = if metric_alarms_wanted {
        all_alarms(call)?
    } else {
        Vec::new()
    };
    alarms.retain(|alarm| {
        (names.is_empty() || names.contains(&alarm.name))
            && prefix.is_none_or(|prefix| alarm.name.starts_with(prefix))
            && state_value.is_none_or(|state| alarm.state == state)
            && action_prefix.is_none_or(|action| {
                ["OKActions", "AlarmActions", "InsufficientDataActions"]
                    .iter()
                    .any(|list| alarm.texts(list).iter().any(|arn| arn.starts_with(action)))
            })
    });
    if let Some(after) = after {
        alarms.retain(|alarm| alarm.name.as_str() > after);
    }
    let more = alarms.len() > limit;
    alarms.truncate(limit);
    let mut output = json!({
        "MetricAlarms": alarms.iter().map(describe).collect::<Vec<_>>(),
        "CompositeAlarms": [],
    });
    if more && let Some(last) = alarms.last() {
        output["NextToken"] = json!(last.name);
    }
    Ok(output)
}

pub async fn describe_alarms_for_metric(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    let namespace = call.text(input, "Namespace")?;
    let name = call.text(input, "MetricName")?;
    let mut dimensions = store::dimensions_of(input.get("Dimensions"));
    dimensions.sort();
    let mut alarms = all_alarms(call)?;
    alarms.retain(|alarm| {
        let watched = watched(&alarm.config);
        let mut alarm_dimensions = watched.dimensions.clone();
        alarm_dimensions.sort();
        let same = |member: &str| {
            input
                .get(member)
                .is_none_or(|wanted| alarm.config.get(member) == Some(wanted))
        };
        watched.namespace == namespace
            && watched.name == name
            && (input.get("Dimensions").is_none() || alarm_dimensions == dimensions)
            && same("Statistic")
            && same("ExtendedStatistic")
            && same("Period")
            && same("Unit")
    });
    Ok(json!({"MetricAlarms": alarms.iter().map(describe).collect::<Vec<_>>()}))
}

pub async fn delete_alarms(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    // Names that name no alarm are passed over, as AWS does.
    let names = string_list(input.get("AlarmNames"));
    call.state.meta.write(|txn| -> Result<(), CwError> {
        for name in &names {
            txn.delete(
                ALARMS_TABLE,
                &store::alarm_key(call.account, call.region, name),
            )?;
            let prefix = store::history_prefix(call.account, call.region, name);
            let items: Vec<(String, HistoryItem)> = txn.list(HISTORY_TABLE, &prefix)?;
            for (key, _) in items {
                txn.delete(HISTORY_TABLE, &key)?;
            }
        }
        Ok(())
    })?;
    Ok(json!({}))
}

pub async fn set_alarm_state(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    let name = call.text(input, "AlarmName")?;
    let state_text = call.text(input, "StateValue")?;
    let reason = call.text(input, "StateReason")?;
    let new_state: State = state_text.parse().map_err(|_| {
        CwError::Validation(format!(
            "1 validation error detected: Value '{state_text}' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"
        ))
    })?;
    let reason_data = input
        .get("StateReasonData")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(data) = &reason_data
        && serde_json::from_str::<Value>(data).is_err()
    {
        return Err(CwError::InvalidFormat(
            "The value of StateReasonData is not valid JSON.".into(),
        ));
    }
    let key = store::alarm_key(call.account, call.region, name);
    let Some(alarm) = call.state.meta.get::<StoredAlarm>(ALARMS_TABLE, &key)? else {
        return Err(CwError::ResourceNotFound(format!("Alarm {name} not found")));
    };
    super::evaluator::change_state(
        call.state,
        &alarm,
        new_state,
        reason.to_owned(),
        reason_data,
        call.now_ms,
        Some(call.now_ms + manual_hold_ms(&alarm)),
    )?;
    super::evaluator::send_pending(call.state).await;
    Ok(json!({}))
}

/// How long a state from SetAlarmState holds before evaluation may replace it: the alarm's
/// period, between 10 s and 60 s (AWS evaluates every 10 s or every minute).
fn manual_hold_ms(alarm: &StoredAlarm) -> i64 {
    let period_s = rule_of(&alarm.config).map_or(60, |rule| i64::from(rule.period_s));
    period_s.clamp(10, 60) * 1000
}

async fn set_actions_enabled(
    call: &Call<'_>,
    input: &Value,
    enabled: bool,
) -> Result<Value, CwError> {
    let names = string_list(input.get("AlarmNames"));
    let now = call.now_ms;
    call.state.meta.write(|txn| -> Result<(), CwError> {
        for name in &names {
            let key = store::alarm_key(call.account, call.region, name);
            let Some(mut alarm) = txn.get::<StoredAlarm>(ALARMS_TABLE, &key)? else {
                continue;
            };
            if let Some(config) = alarm.config.as_object_mut() {
                config.insert("ActionsEnabled".into(), json!(enabled));
            }
            alarm.config_updated_ms = now;
            let summary = format!(
                "Alarm \"{name}\" actions {}",
                if enabled { "enabled" } else { "disabled" }
            );
            let data = config_history_data("Update", &alarm, None);
            let item = history(&alarm, now, "ConfigurationUpdate", summary, data);
            txn.put(HISTORY_TABLE, &history_key(&alarm, now), &item)?;
            txn.put(ALARMS_TABLE, &key, &alarm)?;
        }
        Ok(())
    })?;
    Ok(json!({}))
}

pub async fn enable_alarm_actions(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    set_actions_enabled(call, input, true).await
}

pub async fn disable_alarm_actions(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    set_actions_enabled(call, input, false).await
}

pub async fn describe_alarm_history(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    let name = input.get("AlarmName").and_then(Value::as_str);
    let item_type = input.get("HistoryItemType").and_then(Value::as_str);
    let start_ms = timestamp_ms(input.get("StartDate"));
    let end_ms = timestamp_ms(input.get("EndDate"));
    let ascending = input.get("ScanBy").and_then(Value::as_str) == Some("TimestampAscending");
    let limit = max_records(input, 100);
    let skip = match input.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(token) => token.parse::<usize>().map_err(|_| {
            CwError::InvalidNextToken("Request parameter NextToken is invalid".into())
        })?,
    };
    let types = string_list(input.get("AlarmTypes"));
    if !types.is_empty() && !types.iter().any(|t| t == "MetricAlarm") {
        return Ok(json!({"AlarmHistoryItems": []}));
    }
    let prefix = match name {
        Some(name) => store::history_prefix(call.account, call.region, name),
        None => store::region_prefix(call.account, call.region),
    };
    let horizon = call.now_ms - store::HISTORY_RETENTION_MS;
    let mut items: Vec<HistoryItem> = call
        .state
        .meta
        .list::<HistoryItem>(HISTORY_TABLE, &prefix)?
        .into_iter()
        .map(|(_, item)| item)
        .filter(|item| {
            item.timestamp_ms >= horizon
                && item_type.is_none_or(|wanted| item.item_type == wanted)
                && start_ms.is_none_or(|start| item.timestamp_ms >= start)
                && end_ms.is_none_or(|end| item.timestamp_ms <= end)
        })
        .collect();
    items.sort_by_key(|item| item.timestamp_ms);
    if !ascending {
        items.reverse();
    }
    let total = items.len();
    let page: Vec<Value> = items
        .into_iter()
        .skip(skip)
        .take(limit)
        .map(|item| {
            json!({
                "AlarmName": item.alarm_name,
                "AlarmType": "MetricAlarm",
                "Timestamp": seconds(item.timestamp_ms),
                "HistoryItemType": item.item_type,
                "HistorySummary": item.summary,
                "HistoryData": item.data,
            })
        })
        .collect();
    let mut output = json!({"AlarmHistoryItems": page});
    if skip + limit < total {
        output["NextToken"] = json!((skip + limit).to_string());
    }
    Ok(output)
}

/// The alarm an ARN names in the caller's account, if the ARN is an alarm ARN.
fn alarm_key_of_arn(call: &Call<'_>, arn: &str) -> Result<String, CwError> {
    let not_found =
        || CwError::ResourceNotFoundException("The specified resource does not exist.".into());
    match Arn::of_service(arn, "cloudwatch") {
        Some(parsed) if parsed.account == call.account => {
            match parsed.resource.strip_prefix("alarm:") {
                Some(name) => Ok(store::alarm_key(parsed.account, parsed.region, name)),
                None => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}

fn tagged_alarm(call: &Call<'_>, input: &Value) -> Result<(String, StoredAlarm), CwError> {
    let arn = call.text(input, "ResourceARN")?;
    let key = alarm_key_of_arn(call, arn)?;
    let alarm = call
        .state
        .meta
        .get::<StoredAlarm>(ALARMS_TABLE, &key)?
        .ok_or_else(|| {
            CwError::ResourceNotFoundException("The specified resource does not exist.".into())
        })?;
    Ok((key, alarm))
}

pub async fn tag_resource(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    let (key, mut alarm) = tagged_alarm(call, input)?;
    alarm.tags.extend(tag_map(input.get("Tags")));
    if alarm.tags.len() > 50 {
        return Err(CwError::InvalidParameterValue(
            "A resource can have at most 50 tags.".into(),
        ));
    }
    call.state.meta.put(ALARMS_TABLE, &key, &alarm)?;
    Ok(json!({}))
}

pub async fn untag_resource(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    let (key, mut alarm) = tagged_alarm(call, input)?;
    for tag in string_list(input.get("TagKeys")) {
        alarm.tags.remove(&tag);
    }
    call.state.meta.put(ALARMS_TABLE, &key, &alarm)?;
    Ok(json!({}))
}

pub async fn list_tags_for_resource(call: &Call<'_>, input: &Value) -> Result<Value, CwError> {
    let (_, alarm) = tagged_alarm(call, input)?;
    let tags: Vec<Value> = alarm
        .tags
        .iter()
        .map(|(key, value)| json!({"Key": key, "Value": value}))
        .collect();
    Ok(json!({"Tags": tags}))
}
