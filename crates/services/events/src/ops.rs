//! What every EventBridge operation shares: the [`Call`] context, bus references, pagination
//! and tags.

use opentrail_model::Arn;
use std::sync::Arc;

use serde_json::{Value, json};

use super::engine::Engine;
use super::error::EventsError;
use super::store::{self, DEFAULT_BUS, StoredBus, Tag};
use opentrail_core::AppState;

/// What an operation needs besides its input.
pub struct Call {
    pub state: Arc<AppState>,
    pub engine: Arc<Engine>,
    pub account: String,
    pub region: String,
    pub input: Value,
    pub now_ms: i64,
}

/// A bus named by name or ARN: `(account, region, name)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusRef {
    pub account: String,
    pub region: String,
    pub name: String,
}

impl BusRef {
    pub fn key(&self) -> String {
        store::bus_key(&self.account, &self.region, &self.name)
    }

    pub fn arn(&self) -> String {
        store::bus_arn(&self.account, &self.region, &self.name)
    }
}

impl Call {
    pub fn str(&self, name: &str) -> Option<&str> {
        self.input.get(name).and_then(Value::as_str)
    }

    /// A string member that is present and not empty (AWS treats `""` as absent here).
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.str(name).filter(|text| !text.is_empty())
    }

    pub fn meta(&self) -> &opentrail_meta::Meta {
        &self.state.meta
    }

    /// The bus a member names (default bus when absent).
    pub fn bus_ref(&self, member: &str) -> Result<BusRef, EventsError> {
        match self.non_empty(member) {
            None => Ok(BusRef {
                account: self.account.clone(),
                region: self.region.clone(),
                name: DEFAULT_BUS.to_owned(),
            }),
            Some(text) => parse_bus(text, &self.account, &self.region),
        }
    }

    /// The bus a member names, which must exist.
    pub fn existing_bus(&self, member: &str) -> Result<BusRef, EventsError> {
        let bus = self.bus_ref(member)?;
        if !bus_exists(self.meta(), &bus)? {
            return Err(EventsError::bus_not_found(&bus.name));
        }
        Ok(bus)
    }

    pub fn limit(&self) -> usize {
        self.input
            .get("Limit")
            .and_then(Value::as_u64)
            .map_or(100, |limit| limit.clamp(1, 100) as usize)
    }
}

/// Parses a bus name or `arn:aws:events:<region>:<account>:event-bus/<name>`.
pub fn parse_bus(text: &str, account: &str, region: &str) -> Result<BusRef, EventsError> {
    if !text.starts_with("arn:") {
        return Ok(BusRef {
            account: account.to_owned(),
            region: region.to_owned(),
            name: text.to_owned(),
        });
    }
    match Arn::of_service(text, "events") {
        Some(Arn {
            region: arn_region,
            account: arn_account,
            resource,
            ..
        }) => {
            let name = resource
                .strip_prefix("event-bus/")
                .filter(|name| !name.is_empty())
                .ok_or_else(|| {
                    EventsError::Validation(format!(
                        "Parameter {text} is not valid. Reason: Provided Arn is not in correct format."
                    ))
                })?;
            Ok(BusRef {
                account: arn_account.to_string(),
                region: arn_region.to_string(),
                name: name.to_owned(),
            })
        }
        _ => Err(EventsError::Validation(format!(
            "Parameter {text} is not valid. Reason: Provided Arn is not in correct format."
        ))),
    }
}

pub fn bus_exists(meta: &opentrail_meta::Meta, bus: &BusRef) -> Result<bool, EventsError> {
    if bus.name == DEFAULT_BUS {
        return Ok(true);
    }
    Ok(meta.get::<StoredBus>(store::BUSES, &bus.key())?.is_some())
}

/// Epoch seconds (the awsJson timestamp) of milliseconds.
pub fn epoch_seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// One page of `items` after the position `token` names; `(page, next token)`.
pub fn paginate<T: Clone>(
    items: &[T],
    token: Option<&str>,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), EventsError> {
    let start = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .ok()
            .filter(|start| *start <= items.len())
            .ok_or_else(|| EventsError::Validation("The NextToken provided is invalid.".into()))?,
    };
    let end = (start + limit).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}

/// The `Tags` member, validated (keys 1..128, values ..256, no duplicates across the list
/// decided by the last one).
pub fn parse_tags(value: Option<&Value>) -> Result<Vec<Tag>, EventsError> {
    let Some(list) = value.and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut tags: Vec<Tag> = Vec::new();
    for item in list {
        let key = item.get("Key").and_then(Value::as_str).unwrap_or("");
        let value = item.get("Value").and_then(Value::as_str).unwrap_or("");
        merge_tag(
            &mut tags,
            Tag {
                key: key.to_owned(),
                value: value.to_owned(),
            },
        );
    }
    Ok(tags)
}

pub use opentrail_core::tags::{merge_tag, tags_json};

/// Checks a rule or target name: `[.\-_A-Za-z0-9]+`.
pub fn check_name(value: &str, member: &str) -> Result<(), EventsError> {
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Ok(());
    }
    Err(EventsError::Validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_arns_and_names() {
        let bus = parse_bus(
            "arn:aws:events:eu-west-1:111122223333:event-bus/b",
            "123456789012",
            "us-east-1",
        )
        .expect("arn");
        assert_eq!(
            (bus.account.as_str(), bus.region.as_str(), bus.name.as_str()),
            ("111122223333", "eu-west-1", "b")
        );
        assert!(parse_bus("arn:aws:events:eu-west-1:1:rule/x", "1", "r").is_err());
        assert_eq!(
            parse_bus("b", "1", "r").expect("name").arn(),
            "arn:aws:events:r:1:event-bus/b"
        );
    }

    #[test]
    fn pages() {
        let items = [1, 2, 3];
        let (page, next) = paginate(&items, None, 2).expect("page");
        assert_eq!((page, next.as_deref()), (vec![1, 2], Some("2")));
        let (page, next) = paginate(&items, Some("2"), 2).expect("page");
        assert_eq!((page, next), (vec![3], None));
        assert!(paginate(&items, Some("x"), 2).is_err());
    }
}
