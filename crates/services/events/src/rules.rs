//! Rule and target operations: PutRule, DescribeRule, ListRules, DeleteRule, EnableRule,
//! DisableRule, ListRuleNamesByTarget, PutTargets, RemoveTargets, ListTargetsByRule, the tag
//! operations (rules and buses) and TestEventPattern.

use opentrail_model::Arn;
use opentrail_patterns::Pattern;
use serde_json::{Map, Value, json};

use super::buses;
use super::engine::{STATE_ALL_MANAGEMENT, STATE_DISABLED, STATE_ENABLED};
use super::error::EventsError;
use super::ops::{self, BusRef, Call};
use super::store::{self, DEFAULT_BUS, StoredBus, StoredRule};
use super::transform;

/// Rules per event bus (AWS's default quota).
const MAX_RULES: usize = 300;
/// Targets per rule (AWS's hard limit).
const MAX_TARGETS: usize = 5;

fn load_rule(call: &Call, bus: &BusRef, name: &str) -> Result<Option<StoredRule>, EventsError> {
    let key = store::rule_key(&bus.account, &bus.region, &bus.name, name);
    Ok(call.meta().get::<StoredRule>(store::RULES, &key)?)
}

fn rule_on_bus(call: &Call, bus: &BusRef, name: &str) -> Result<StoredRule, EventsError> {
    load_rule(call, bus, name)?.ok_or_else(|| EventsError::rule_not_found_on_bus(name, &bus.name))
}

fn save_rule(call: &Call, rule: &StoredRule) -> Result<(), EventsError> {
    call.meta().put(store::RULES, &rule.key(), rule)?;
    call.engine.rules_changed();
    Ok(())
}

fn rules_of(call: &Call, bus: &BusRef) -> Result<Vec<StoredRule>, EventsError> {
    let mut rules: Vec<StoredRule> = call
        .meta()
        .list::<StoredRule>(store::RULES, &format!("{}/", bus.key()))?
        .into_iter()
        .map(|(_, rule)| rule)
        .collect();
    rules.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rules)
}

/// Parses and validates an event pattern as PutRule does.
pub fn parse_pattern(text: &str) -> Result<Pattern, EventsError> {
    Pattern::parse(text).map_err(|err| EventsError::InvalidEventPattern(err.message))
}

fn check_schedule(expression: &str) -> Result<(), EventsError> {
    let valid = |inner: Option<&str>, check: &dyn Fn(&str) -> bool| inner.is_some_and(check);
    let rate = expression
        .strip_prefix("rate(")
        .and_then(|s| s.strip_suffix(')'));
    let cron = expression
        .strip_prefix("cron(")
        .and_then(|s| s.strip_suffix(')'));
    let rate_ok = valid(rate, &|inner| {
        let mut parts = inner.split_whitespace();
        let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let Ok(value) = value.parse::<u64>() else {
            return false;
        };
        value >= 1
            && matches!(
                (value, unit),
                (1, "minute" | "hour" | "day") | (2.., "minutes" | "hours" | "days")
            )
    });
    let cron_ok = valid(cron, &|inner| inner.split_whitespace().count() == 6);
    if rate_ok || cron_ok {
        return Ok(());
    }
    Err(EventsError::Validation(
        "Parameter ScheduleExpression is not valid.".into(),
    ))
}

pub fn put_rule(call: &Call) -> Result<Value, EventsError> {
    let name = call.str("Name").unwrap_or("");
    ops::check_name(name, "name")?;
    let bus = call.existing_bus("EventBusName")?;
    let pattern = call.non_empty("EventPattern");
    if let Some(text) = pattern {
        parse_pattern(text)?;
    }
    let schedule = call.non_empty("ScheduleExpression");
    if let Some(expression) = schedule {
        if bus.name != DEFAULT_BUS {
            return Err(EventsError::Validation(
                "ScheduleExpression is supported only on the default event bus.".into(),
            ));
        }
        check_schedule(expression)?;
    }
    if pattern.is_none() && schedule.is_none() {
        return Err(EventsError::Validation(
            "Parameter(s) EventPattern or ScheduleExpression must be specified.".into(),
        ));
    }
    let state = call.non_empty("State").unwrap_or(STATE_ENABLED);
    if ![STATE_ENABLED, STATE_DISABLED, STATE_ALL_MANAGEMENT].contains(&state) {
        return Err(EventsError::Validation(format!(
            "1 validation error detected: Value '{state}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"
        )));
    }
    let existing = load_rule(call, &bus, name)?;
    if let Some(rule) = &existing {
        refuse_managed(rule)?;
    }
    if existing.is_none() && rules_of(call, &bus)?.len() >= MAX_RULES {
        return Err(EventsError::LimitExceeded(format!(
            "The requested resource exceeds the maximum number allowed of {MAX_RULES} rules on event bus {}.",
            bus.name
        )));
    }
    let mut tags = existing
        .as_ref()
        .map(|rule| rule.tags.clone())
        .unwrap_or_default();
    for tag in ops::parse_tags(call.input.get("Tags"))? {
        ops::merge_tag(&mut tags, tag);
    }
    let rule = StoredRule {
        version: store::FORMAT_VERSION,
        account: bus.account.clone(),
        region: bus.region.clone(),
        bus: bus.name.clone(),
        name: name.to_owned(),
        event_pattern: pattern.map(str::to_owned),
        schedule: schedule.map(str::to_owned),
        state: state.to_owned(),
        description: call.str("Description").map(str::to_owned),
        role_arn: call.non_empty("RoleArn").map(str::to_owned),
        managed_by: existing.as_ref().and_then(|rule| rule.managed_by.clone()),
        archive: existing.as_ref().and_then(|rule| rule.archive.clone()),
        created_by: existing
            .as_ref()
            .map_or_else(|| call.account.clone(), |rule| rule.created_by.clone()),
        tags,
        targets: existing.map(|rule| rule.targets).unwrap_or_default(),
    };
    save_rule(call, &rule)?;
    Ok(json!({"RuleArn": rule.arn()}))
}

/// Managed rules (an archive's) change only with what manages them.
fn refuse_managed(rule: &StoredRule) -> Result<(), EventsError> {
    match &rule.managed_by {
        Some(managed_by) => Err(EventsError::ManagedRule(format!(
            "Rule {} is managed by {managed_by} and cannot be modified.",
            rule.name
        ))),
        None => Ok(()),
    }
}

fn rule_json(rule: &StoredRule, describe: bool) -> Value {
    let mut out = Map::new();
    out.insert("Name".into(), json!(rule.name));
    out.insert("Arn".into(), json!(rule.arn()));
    if let Some(pattern) = &rule.event_pattern {
        out.insert("EventPattern".into(), json!(pattern));
    }
    if let Some(schedule) = &rule.schedule {
        out.insert("ScheduleExpression".into(), json!(schedule));
    }
    out.insert("State".into(), json!(rule.state));
    if let Some(description) = &rule.description {
        out.insert("Description".into(), json!(description));
    }
    if let Some(role) = &rule.role_arn {
        out.insert("RoleArn".into(), json!(role));
    }
    if let Some(managed_by) = &rule.managed_by {
        out.insert("ManagedBy".into(), json!(managed_by));
    }
    out.insert("EventBusName".into(), json!(rule.bus));
    if describe {
        out.insert("CreatedBy".into(), json!(rule.created_by));
    }
    Value::Object(out)
}

pub fn describe_rule(call: &Call) -> Result<Value, EventsError> {
    let name = call.str("Name").unwrap_or("");
    let bus = call.existing_bus("EventBusName")?;
    let rule = load_rule(call, &bus, name)?
        .ok_or_else(|| EventsError::ResourceNotFound(format!("Rule {name} does not exist.")))?;
    Ok(rule_json(&rule, true))
}

pub fn list_rules(call: &Call) -> Result<Value, EventsError> {
    let bus = call.existing_bus("EventBusName")?;
    let prefix = call.str("NamePrefix").unwrap_or("");
    let rules: Vec<StoredRule> = rules_of(call, &bus)?
        .into_iter()
        .filter(|rule| rule.name.starts_with(prefix))
        .collect();
    let (page, next) = ops::paginate(&rules, call.str("NextToken"), call.limit())?;
    let mut out =
        json!({"Rules": page.iter().map(|rule| rule_json(rule, false)).collect::<Vec<_>>()});
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

pub fn delete_rule(call: &Call) -> Result<Value, EventsError> {
    let name = call.str("Name").unwrap_or("");
    let bus = call.existing_bus("EventBusName")?;
    let Some(rule) = load_rule(call, &bus, name)? else {
        return Ok(json!({}));
    };
    if !rule.targets.is_empty() {
        return Err(EventsError::Validation(
            "Rule can't be deleted since it has targets.".into(),
        ));
    }
    let force = call
        .input
        .get("Force")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(managed_by) = &rule.managed_by
        && !force
    {
        return Err(EventsError::Validation(format!(
            "Rule {name} is managed by {managed_by}; delete it with Force."
        )));
    }
    call.meta().delete(store::RULES, &rule.key())?;
    call.engine.rules_changed();
    Ok(json!({}))
}

fn set_state(call: &Call, state: &str) -> Result<Value, EventsError> {
    let name = call.str("Name").unwrap_or("");
    let bus = call.existing_bus("EventBusName")?;
    let mut rule = load_rule(call, &bus, name)?
        .ok_or_else(|| EventsError::ResourceNotFound(format!("Rule {name} does not exist.")))?;
    refuse_managed(&rule)?;
    // Enabling keeps a rule that already sees every management event as it is.
    if !(state == STATE_ENABLED && rule.state == STATE_ALL_MANAGEMENT) {
        rule.state = state.to_owned();
    }
    save_rule(call, &rule)?;
    Ok(json!({}))
}

pub fn enable_rule(call: &Call) -> Result<Value, EventsError> {
    set_state(call, STATE_ENABLED)
}

pub fn disable_rule(call: &Call) -> Result<Value, EventsError> {
    set_state(call, STATE_DISABLED)
}

pub fn list_rule_names_by_target(call: &Call) -> Result<Value, EventsError> {
    let bus = call.existing_bus("EventBusName")?;
    let target_arn = call.str("TargetArn").unwrap_or("");
    let names: Vec<String> = rules_of(call, &bus)?
        .into_iter()
        .filter(|rule| {
            rule.targets
                .iter()
                .any(|t| t.get("Arn").and_then(Value::as_str) == Some(target_arn))
        })
        .map(|rule| rule.name)
        .collect();
    let (page, next) = ops::paginate(&names, call.str("NextToken"), call.limit())?;
    let mut out = json!({"RuleNames": page});
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

/// Whether an ARN has the `arn:<partition>:<service>:<region>:<account>:<resource>` form.
fn is_arn(text: &str) -> bool {
    Arn::parse(text).is_some()
}

/// Why one target cannot be stored (a FailedEntries entry), or `None`.
fn check_target(target: &Value) -> Option<(String, String)> {
    let id = target.get("Id").and_then(Value::as_str).unwrap_or("");
    let invalid = |message: String| Some(("ValidationException".to_owned(), message));
    if ops::check_name(id, "targets.member.id").is_err() {
        return invalid(format!("Parameter Id {id} is not valid."));
    }
    let inputs = ["Input", "InputPath", "InputTransformer"]
        .iter()
        .filter(|member| target.get(**member).is_some_and(|v| !v.is_null()))
        .count();
    if inputs > 1 {
        return invalid(format!(
            "Only one of Input, InputPath, or InputTransformer must be provided for target {id}."
        ));
    }
    if let Some(input) = target.get("Input").and_then(Value::as_str)
        && serde_json::from_str::<Value>(input).is_err()
    {
        return invalid(format!(
            "Parameter Input is not valid for target {id}: it must be valid JSON text."
        ));
    }
    if let Some(path) = target.get("InputPath").and_then(Value::as_str)
        && let Err(err) = transform::check_path(path)
    {
        return invalid(format!("InputPath for target {id} is invalid: {err}"));
    }
    if let Some(transformer) = target.get("InputTransformer")
        && let Err(err) = transform::check_transformer(transformer)
    {
        return invalid(format!(
            "InputTransformer for target {id} is invalid: {err}"
        ));
    }
    None
}

pub fn put_targets(call: &Call) -> Result<Value, EventsError> {
    let targets: Vec<Value> = call
        .input
        .get("Targets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for target in &targets {
        let arn = target.get("Arn").and_then(Value::as_str).unwrap_or("");
        let id = target.get("Id").and_then(Value::as_str).unwrap_or("");
        if !is_arn(arn) {
            return Err(EventsError::Validation(format!(
                "Parameter {arn} is not valid. Reason: Provided Arn is not in correct format."
            )));
        }
        if arn.starts_with("arn:aws:sqs:")
            && arn.ends_with(".fifo")
            && target.get("SqsParameters").is_none()
        {
            return Err(EventsError::Validation(format!(
                "Parameter(s) SqsParameters must be specified for target: {id}."
            )));
        }
    }
    let name = call.str("Rule").unwrap_or("");
    let bus = call.bus_ref("EventBusName")?;
    let mut rule = rule_on_bus(call, &bus, name)?;
    refuse_managed(&rule)?;
    let mut failed = Vec::new();
    let mut changed = false;
    for target in targets {
        let id = target.get("Id").and_then(Value::as_str).unwrap_or("");
        if let Some((code, message)) = check_target(&target) {
            failed.push(json!({"TargetId": id, "ErrorCode": code, "ErrorMessage": message}));
            continue;
        }
        let count = rule.targets.len();
        match rule
            .targets
            .iter_mut()
            .find(|t| t.get("Id").and_then(Value::as_str) == Some(id))
        {
            Some(existing) => *existing = target,
            None if count >= MAX_TARGETS => {
                return Err(EventsError::LimitExceeded(format!(
                    "The requested resource exceeds the maximum number allowed: a rule can have at most {MAX_TARGETS} targets."
                )));
            }
            None => rule.targets.push(target),
        }
        changed = true;
    }
    if changed {
        save_rule(call, &rule)?;
    }
    Ok(json!({"FailedEntryCount": failed.len(), "FailedEntries": failed}))
}

pub fn remove_targets(call: &Call) -> Result<Value, EventsError> {
    let name = call.str("Rule").unwrap_or("");
    let bus = call.bus_ref("EventBusName")?;
    let mut rule = rule_on_bus(call, &bus, name)?;
    refuse_managed(&rule)?;
    let ids: Vec<&str> = call
        .input
        .get("Ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let before = rule.targets.len();
    rule.targets.retain(|target| {
        !target
            .get("Id")
            .and_then(Value::as_str)
            .is_some_and(|id| ids.contains(&id))
    });
    if rule.targets.len() != before {
        save_rule(call, &rule)?;
    }
    Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
}

pub fn list_targets_by_rule(call: &Call) -> Result<Value, EventsError> {
    let name = call.str("Rule").unwrap_or("");
    let bus = call.bus_ref("EventBusName")?;
    let rule = rule_on_bus(call, &bus, name)?;
    let (page, next) = ops::paginate(&rule.targets, call.str("NextToken"), call.limit())?;
    let mut out = json!({"Targets": page});
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

/// What a taggable ARN names.
enum Taggable {
    Rule(BusRef, String),
    Bus(BusRef),
}

fn taggable(call: &Call) -> Result<Taggable, EventsError> {
    let arn = call.str("ResourceARN").unwrap_or("");
    let Some(Arn {
        region,
        account,
        resource,
        ..
    }) = Arn::of_service(arn, "events")
    else {
        return Err(EventsError::Validation(format!(
            "Parameter {arn} is not valid. Reason: Provided Arn is not in correct format."
        )));
    };
    let bus_named = |name: &str| BusRef {
        account: account.to_string(),
        region: region.to_string(),
        name: name.to_owned(),
    };
    if let Some(rest) = resource.strip_prefix("rule/") {
        return Ok(match rest.split_once('/') {
            Some((bus, name)) => Taggable::Rule(bus_named(bus), name.to_owned()),
            None => Taggable::Rule(bus_named(DEFAULT_BUS), rest.to_owned()),
        });
    }
    if let Some(name) = resource.strip_prefix("event-bus/") {
        return Ok(Taggable::Bus(bus_named(name)));
    }
    Err(EventsError::ResourceNotFound(format!(
        "Resource {arn} does not exist."
    )))
}

/// Runs `change` on the tags of the resource the call names and stores them.
fn with_tags(
    call: &Call,
    change: impl FnOnce(&mut Vec<store::Tag>),
) -> Result<Vec<store::Tag>, EventsError> {
    match taggable(call)? {
        Taggable::Rule(bus, name) => {
            let mut rule = rule_on_bus(call, &bus, &name)?;
            change(&mut rule.tags);
            call.meta().put(store::RULES, &rule.key(), &rule)?;
            Ok(rule.tags)
        }
        Taggable::Bus(bus) => {
            let mut stored: StoredBus =
                buses::load(call, &bus)?.ok_or_else(|| EventsError::bus_not_found(&bus.name))?;
            change(&mut stored.tags);
            call.meta().put(store::BUSES, &bus.key(), &stored)?;
            Ok(stored.tags)
        }
    }
}

pub fn tag_resource(call: &Call) -> Result<Value, EventsError> {
    let tags = ops::parse_tags(call.input.get("Tags"))?;
    with_tags(call, |existing| {
        for tag in tags {
            ops::merge_tag(existing, tag);
        }
    })?;
    Ok(json!({}))
}

pub fn untag_resource(call: &Call) -> Result<Value, EventsError> {
    let keys: Vec<String> = call
        .input
        .get("TagKeys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    with_tags(call, |existing| {
        existing.retain(|tag| !keys.contains(&tag.key))
    })?;
    Ok(json!({}))
}

pub fn list_tags_for_resource(call: &Call) -> Result<Value, EventsError> {
    let tags = match taggable(call)? {
        Taggable::Rule(bus, name) => rule_on_bus(call, &bus, &name)?.tags,
        Taggable::Bus(bus) => {
            buses::load(call, &bus)?
                .ok_or_else(|| EventsError::bus_not_found(&bus.name))?
                .tags
        }
    };
    Ok(json!({"Tags": ops::tags_json(&tags)}))
}

pub fn test_event_pattern(call: &Call) -> Result<Value, EventsError> {
    let pattern = parse_pattern(call.str("EventPattern").unwrap_or(""))?;
    let event: Value = serde_json::from_str(call.str("Event").unwrap_or(""))
        .map_err(|_| EventsError::Validation("Parameter Event is not valid.".into()))?;
    if !event.is_object() {
        return Err(EventsError::Validation(
            "Parameter Event is not valid.".into(),
        ));
    }
    Ok(json!({"Result": pattern.matches(&event)}))
}
