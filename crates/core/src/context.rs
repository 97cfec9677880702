//! What a service handler knows about the call it serves, and what it reports back for the
//! CloudTrail record.

use opentrail_model::{Identity, Resource};
use serde_json::Value;
use time::OffsetDateTime;

/// Who made a call, where and when. Built once per request by [`crate::dispatch`].
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    /// The account the call acts in (the signing key's account).
    pub account_id: String,
    /// The region from the SigV4 credential scope.
    pub region: String,
    pub identity: Identity,
    pub source_ip: String,
    pub user_agent: Option<String>,
    pub time: OffsetDateTime,
    /// The `Host` header as the client sent it (S3 records it in `requestParameters`).
    pub host: Option<String>,
}

/// What a service reports about one call so the recorder can write its record.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDetails {
    /// `cloudtrail.amazonaws.com`, `s3.amazonaws.com`, …
    pub event_source: String,
    pub event_name: String,
    pub read_only: bool,
    /// `false` makes the record a Data event (S3 object reads and writes).
    pub management: bool,
    /// `Some(Value::Null)` records an explicit `null`.
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
    pub additional_event_data: Option<Value>,
    pub resources: Vec<Resource>,
    /// `(errorCode, errorMessage)` of a failed call.
    pub error: Option<(String, String)>,
    pub api_version: Option<String>,
}

impl EventDetails {
    /// Details of a call with no parameters or elements recorded yet.
    pub fn new(event_source: &str, event_name: &str, read_only: bool) -> EventDetails {
        EventDetails {
            event_source: event_source.to_owned(),
            event_name: event_name.to_owned(),
            read_only,
            management: true,
            request_parameters: Some(Value::Null),
            response_elements: Some(Value::Null),
            additional_event_data: None,
            resources: Vec::new(),
            error: None,
            api_version: None,
        }
    }
}

/// Renames every object key to lowerCamelCase (first letter lowered), recursively, the way
/// AWS writes `requestParameters` and `responseElements` of JSON-protocol services:
/// `TrailARN` becomes `trailARN`, `S3BucketName` becomes `s3BucketName`.
pub fn lower_camel(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, inner)| (lower_first(key), lower_camel(inner)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(lower_camel).collect()),
        other => other.clone(),
    }
}

fn lower_first(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lower_camel_renames_nested_keys_only() {
        let input =
            json!({"TrailARN": "arn", "S3BucketName": "b", "Tags": [{"Key": "K", "Value": "V"}]});
        assert_eq!(
            lower_camel(&input),
            json!({"trailARN": "arn", "s3BucketName": "b", "tags": [{"key": "K", "value": "V"}]})
        );
    }
}
