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
    /// Accounts other than the caller's that get their own copy of the record, for a call
    /// that acts on a resource of another account (AWS writes such a call to the caller's
    /// account and to the resource owner's, each copy with its own `eventID` and
    /// `recipientAccountId` and one `sharedEventID`). The owners of the `resources` of a call
    /// that succeeded are added by [`EventDetails::other_accounts`]; this names any other.
    pub shared_with: Vec<String>,
    /// The request pipeline decided which account owns what the call acted on when it
    /// authorized it (a member reading its organization's trail is not a cross-account
    /// call): only [`EventDetails::shared_with`] counts, not the owners of `resources`.
    pub owners_judged: bool,
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
            shared_with: Vec::new(),
            owners_judged: false,
        }
    }

    /// The accounts other than `caller_account` that get a copy of the record, each once:
    /// [`EventDetails::shared_with`], then the owners of the resources a successful call acted
    /// on (a failed call acted on none; AssumeRole of another account's role, SendMessage to
    /// another account's queue, a copy from another account's bucket succeeded on them).
    pub fn other_accounts(&self, caller_account: &str) -> Vec<String> {
        let owners = self
            .resources
            .iter()
            .filter(|_| self.error.is_none() && !self.owners_judged)
            .filter_map(|resource| resource.account_id.as_deref());
        let mut accounts: Vec<String> = Vec::new();
        for account in self.shared_with.iter().map(String::as_str).chain(owners) {
            if account != caller_account
                && opentrail_model::ids::is_account_id(account)
                && !accounts.iter().any(|known| known == account)
            {
                accounts.push(account.to_owned());
            }
        }
        accounts
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

    fn resource(account: Option<&str>) -> Resource {
        Resource {
            account_id: account.map(str::to_owned),
            resource_type: Some("AWS::IAM::Role".into()),
            arn: Some("arn:aws:iam::111111111111:role/R".into()),
        }
    }

    #[test]
    fn other_accounts_are_the_foreign_owners_of_a_successful_call() {
        let mut details = EventDetails::new("sts.amazonaws.com", "AssumeRole", false);
        details.resources = vec![
            resource(Some("111111111111")),
            resource(Some("222222222222")),
            resource(Some("111111111111")),
            resource(None),
            resource(Some("aws")),
        ];
        details.shared_with = vec!["333333333333".into(), "222222222222".into()];
        assert_eq!(
            details.other_accounts("222222222222"),
            vec!["333333333333".to_owned(), "111111111111".to_owned()]
        );
        details.error = Some(("AccessDenied".into(), "no".into()));
        assert_eq!(
            details.other_accounts("222222222222"),
            vec!["333333333333".to_owned()]
        );
        assert!(
            EventDetails::new("s3.amazonaws.com", "ListBuckets", true)
                .other_accounts("222222222222")
                .is_empty()
        );
    }
}
