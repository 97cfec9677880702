//! Event bus operations: CreateEventBus, DeleteEventBus, DescribeEventBus, ListEventBuses,
//! UpdateEventBus, PutPermission, RemovePermission.

use serde_json::{Map, Value, json};

use super::error::EventsError;
use super::ops::{self, BusRef, Call, epoch_seconds};
use super::store::{self, DEFAULT_BUS, StoredBus, StoredRule};

/// Custom buses per account and region (AWS's default quota).
const MAX_BUSES: usize = 100;

/// The stored bus, or the default bus as it is before anything was written to it.
pub fn load(call: &Call, bus: &BusRef) -> Result<Option<StoredBus>, EventsError> {
    if let Some(found) = call.meta().get::<StoredBus>(store::BUSES, &bus.key())? {
        return Ok(Some(found));
    }
    if bus.name == DEFAULT_BUS {
        let created = StoredBus::new(&bus.account, &bus.region, DEFAULT_BUS, call.now_ms);
        call.meta().put(store::BUSES, &bus.key(), &created)?;
        return Ok(Some(created));
    }
    Ok(None)
}

pub fn create_event_bus(call: &Call) -> Result<Value, EventsError> {
    let name = call.str("Name").unwrap_or("");
    if let Some(source) = call.non_empty("EventSourceName") {
        return Err(EventsError::ResourceNotFound(format!(
            "Event source {source} does not exist."
        )));
    }
    if name.contains('/') {
        return Err(EventsError::Validation(
            "Event bus name must not contain '/'.".into(),
        ));
    }
    let bus = BusRef {
        account: call.account.clone(),
        region: call.region.clone(),
        name: name.to_owned(),
    };
    if name == DEFAULT_BUS
        || call
            .meta()
            .get::<StoredBus>(store::BUSES, &bus.key())?
            .is_some()
    {
        return Err(EventsError::ResourceAlreadyExists(format!(
            "Event bus {name} already exists."
        )));
    }
    let prefix = format!("{}/{}/", call.account, call.region);
    let count = call
        .meta()
        .list::<StoredBus>(store::BUSES, &prefix)?
        .iter()
        .filter(|(_, b)| b.name != DEFAULT_BUS)
        .count();
    if count >= MAX_BUSES {
        return Err(EventsError::LimitExceeded(format!(
            "The requested resource exceeds the maximum number allowed of {MAX_BUSES} event buses."
        )));
    }
    let mut stored = StoredBus::new(&call.account, &call.region, name, call.now_ms);
    stored.description = call.str("Description").map(str::to_owned);
    stored.kms_key = call.str("KmsKeyIdentifier").map(str::to_owned);
    stored.dead_letter = call.input.get("DeadLetterConfig").cloned();
    stored.tags = ops::parse_tags(call.input.get("Tags"))?;
    call.meta().put(store::BUSES, &bus.key(), &stored)?;
    let mut out = Map::new();
    out.insert("EventBusArn".into(), json!(stored.arn()));
    add_optional(&mut out, &stored);
    Ok(Value::Object(out))
}

fn add_optional(out: &mut Map<String, Value>, bus: &StoredBus) {
    if let Some(description) = &bus.description {
        out.insert("Description".into(), json!(description));
    }
    if let Some(kms) = &bus.kms_key {
        out.insert("KmsKeyIdentifier".into(), json!(kms));
    }
    if let Some(dead_letter) = &bus.dead_letter {
        out.insert("DeadLetterConfig".into(), dead_letter.clone());
    }
}

pub fn delete_event_bus(call: &Call) -> Result<Value, EventsError> {
    let bus = call.bus_ref("Name")?;
    if bus.name == DEFAULT_BUS {
        return Err(EventsError::Validation(
            "Cannot delete event bus default.".into(),
        ));
    }
    let rules_prefix = format!("{}/", bus.key());
    call.meta().write(|txn| {
        txn.delete(store::BUSES, &bus.key())?;
        let rules: Vec<(String, StoredRule)> = txn.list(store::RULES, &rules_prefix)?;
        for (key, _) in rules {
            txn.delete(store::RULES, &key)?;
        }
        Ok::<_, EventsError>(())
    })?;
    call.engine.rules_changed();
    Ok(json!({}))
}

fn describe(bus: &StoredBus, with_policy: bool) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("Name".into(), json!(bus.name));
    out.insert("Arn".into(), json!(bus.arn()));
    add_optional(&mut out, bus);
    if with_policy && let Some(policy) = &bus.policy {
        out.insert("Policy".into(), json!(policy.to_string()));
    }
    out.insert("CreationTime".into(), epoch_seconds(bus.created_ms));
    out.insert("LastModifiedTime".into(), epoch_seconds(bus.modified_ms));
    out
}

pub fn describe_event_bus(call: &Call) -> Result<Value, EventsError> {
    let bus = call.bus_ref("Name")?;
    let stored = load(call, &bus)?.ok_or_else(|| EventsError::bus_not_found(&bus.name))?;
    Ok(Value::Object(describe(&stored, true)))
}

pub fn list_event_buses(call: &Call) -> Result<Value, EventsError> {
    let prefix = call.str("NamePrefix").unwrap_or("");
    let default = BusRef {
        account: call.account.clone(),
        region: call.region.clone(),
        name: DEFAULT_BUS.to_owned(),
    };
    // Make sure the default bus has its creation time.
    load(call, &default)?;
    let mut buses: Vec<StoredBus> = call
        .meta()
        .list::<StoredBus>(store::BUSES, &format!("{}/{}/", call.account, call.region))?
        .into_iter()
        .map(|(_, bus)| bus)
        .filter(|bus| bus.name.starts_with(prefix))
        .collect();
    buses.sort_by(|a, b| a.name.cmp(&b.name));
    let (page, next) = ops::paginate(&buses, call.str("NextToken"), call.limit())?;
    let mut out = json!({
        "EventBuses": page.iter().map(|bus| Value::Object(describe(bus, true))).collect::<Vec<_>>()
    });
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

pub fn update_event_bus(call: &Call) -> Result<Value, EventsError> {
    let bus = call.bus_ref("Name")?;
    let mut stored = load(call, &bus)?.ok_or_else(|| EventsError::bus_not_found(&bus.name))?;
    if let Some(description) = call.str("Description") {
        stored.description = Some(description.to_owned());
    }
    if let Some(kms) = call.str("KmsKeyIdentifier") {
        stored.kms_key = Some(kms.to_owned()).filter(|k| !k.is_empty());
    }
    if let Some(dead_letter) = call.input.get("DeadLetterConfig") {
        stored.dead_letter = Some(dead_letter.clone());
    }
    stored.modified_ms = call.now_ms;
    call.meta().put(store::BUSES, &bus.key(), &stored)?;
    let mut out = Map::new();
    out.insert("Arn".into(), json!(stored.arn()));
    out.insert("Name".into(), json!(stored.name));
    add_optional(&mut out, &stored);
    Ok(Value::Object(out))
}

pub fn put_permission(call: &Call) -> Result<Value, EventsError> {
    let bus = call.existing_bus("EventBusName")?;
    let mut stored = load(call, &bus)?.ok_or_else(|| EventsError::bus_not_found(&bus.name))?;
    if let Some(policy) = call.non_empty("Policy") {
        let parsed: Value = serde_json::from_str(policy).map_err(|_| {
            EventsError::Validation("Parameter Policy is not valid. Reason: Invalid JSON.".into())
        })?;
        stored.policy = Some(parsed);
    } else {
        let action = call.str("Action").unwrap_or("");
        if action != "events:PutEvents" {
            return Err(EventsError::Validation(
                "Provided value in parameter 'action' is not supported.".into(),
            ));
        }
        let principal = call.str("Principal").unwrap_or("");
        let sid = call.str("StatementId").unwrap_or("");
        if principal.is_empty() || sid.is_empty() {
            return Err(EventsError::Validation(
                "Parameters Principal and StatementId are required unless Policy is given.".into(),
            ));
        }
        let principal = if principal == "*" {
            json!("*")
        } else {
            json!({"AWS": format!("arn:aws:iam::{principal}:root")})
        };
        let mut statement = json!({
            "Sid": sid, "Effect": "Allow", "Principal": principal,
            "Action": action, "Resource": bus.arn(),
        });
        if let Some(condition) = call.input.get("Condition") {
            statement["Condition"] = json!({
                "StringEquals": {
                    condition.get("Key").and_then(Value::as_str).unwrap_or(""):
                        condition.get("Value").cloned().unwrap_or(Value::Null)
                }
            });
        }
        let mut policy = stored
            .policy
            .take()
            .unwrap_or_else(|| json!({"Version": "2012-10-17", "Statement": []}));
        if let Some(statements) = policy.get_mut("Statement").and_then(Value::as_array_mut) {
            statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(sid));
            statements.push(statement);
        }
        stored.policy = Some(policy);
    }
    stored.modified_ms = call.now_ms;
    call.meta().put(store::BUSES, &bus.key(), &stored)?;
    Ok(json!({}))
}

pub fn remove_permission(call: &Call) -> Result<Value, EventsError> {
    let bus = call.existing_bus("EventBusName")?;
    let mut stored = load(call, &bus)?.ok_or_else(|| EventsError::bus_not_found(&bus.name))?;
    let remove_all = call
        .input
        .get("RemoveAllPermissions")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if remove_all {
        stored.policy = None;
    } else {
        let Some(policy) = stored.policy.as_mut() else {
            return Err(EventsError::ResourceNotFound(
                "EventBus does not have a policy.".into(),
            ));
        };
        let sid = call.str("StatementId").unwrap_or("");
        let statements = policy.get_mut("Statement").and_then(Value::as_array_mut);
        let Some(statements) = statements else {
            return Err(EventsError::ResourceNotFound(
                "Statement with the provided id does not exist.".into(),
            ));
        };
        let before = statements.len();
        statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(sid));
        if statements.len() == before {
            return Err(EventsError::ResourceNotFound(
                "Statement with the provided id does not exist.".into(),
            ));
        }
        if statements.is_empty() {
            stored.policy = None;
        }
    }
    stored.modified_ms = call.now_ms;
    call.meta().put(store::BUSES, &bus.key(), &stored)?;
    Ok(json!({}))
}
