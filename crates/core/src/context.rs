//! What a service handler knows about the call it serves, and what it reports back for the
//! CloudTrail record.

use opentrail_api::{EmbeddedModel, Side};
use opentrail_model::{Identity, Resource};
use serde_json::Value;
use time::OffsetDateTime;

/// Who made a call, where and when. Built once per request by [`crate::dispatch`].
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    /// The `eventID` of the call's record, chosen before the call takes effect (the intent
    /// log names the record by it).
    pub event_id: String,
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

impl RequestContext {
    /// A call by the root of the default account in `region`, at the epoch, with no user
    /// agent or host: for tests, which set what they need with struct update syntax (as
    /// [`crate::ServerConfig::for_tests`] is for configurations).
    pub fn for_tests(region: &str) -> RequestContext {
        let account = opentrail_model::ids::DEFAULT_ACCOUNT_ID;
        RequestContext {
            request_id: "r".into(),
            event_id: "e".into(),
            account_id: account.into(),
            region: region.into(),
            identity: Identity::root(account, "AKIAEXAMPLE"),
            source_ip: "127.0.0.1".into(),
            user_agent: None,
            time: OffsetDateTime::UNIX_EPOCH,
            host: None,
        }
    }
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
    /// The record's `awsRegion` when it is not the request's signing region: global services
    /// (Organizations, IAM) record every call in `us-east-1`, whatever region signed it.
    pub aws_region: Option<String>,
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
            aws_region: None,
        }
    }
}

/// `requestParameters` of a call, shaped by the service's botocore model as AWS records them:
/// structure members in lowerCamelCase, map keys and every value exactly as sent.
pub fn request_parameters(service: EmbeddedModel, operation: &str, input: &Value) -> Value {
    opentrail_api::models::model(service).record_elements(operation, Side::Input, input)
}

/// `responseElements` of a call, shaped like [`request_parameters`] from the output shape.
pub fn response_elements(service: EmbeddedModel, operation: &str, output: &Value) -> Value {
    opentrail_api::models::model(service).record_elements(operation, Side::Output, output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_lower_camel_and_map_keys_are_kept() {
        let input = json!({"TrailName": "t", "TagsList": [{"Key": "K", "Value": "V"}]});
        assert_eq!(
            request_parameters(EmbeddedModel::Cloudtrail, "CreateTrail", &input),
            json!({"trailName": "t", "tagsList": [{"key": "K", "value": "V"}]})
        );
        let input = json!({"logGroupName": "g", "tags": {"StratusRedTeam": "true"}});
        assert_eq!(
            request_parameters(EmbeddedModel::Logs, "CreateLogGroup", &input),
            json!({"logGroupName": "g", "tags": {"StratusRedTeam": "true"}})
        );
    }
}
