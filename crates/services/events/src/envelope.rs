//! The EventBridge envelope of a CloudTrail record, as rules on the default bus see it
//! (`cloudtrail-formats.md` §6). Shared by the server (journal → default bus) and
//! `opentrail match --envelope`.
//!
//! ```text
//! {"version":"0","id":…,"detail-type":"AWS API Call via CloudTrail","source":"aws.s3",
//!  "account":…,"time":<eventTime>,"region":<awsRegion>,"resources":[],"detail":{<record>}}
//! ```

use std::borrow::Cow;

use opentrail_model::RecordRef;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The detail-type of API calls.
pub const API_CALL: &str = "AWS API Call via CloudTrail";
/// The detail-type of console sign-ins as EventBridge's documentation spells it (emitted).
pub const CONSOLE_SIGNIN: &str = "AWS Console Signin via CloudTrail";
/// The spelling of the CloudTrail guide, which many rules use; rules with either match.
pub const CONSOLE_SIGNIN_ALT: &str = "AWS Console Sign In via CloudTrail";

/// The `detail-type` of a CloudTrail record, from its `eventType`.
pub fn detail_type(record: &Value) -> &'static str {
    match record.get("eventType").and_then(Value::as_str) {
        Some("AwsConsoleSignIn") => CONSOLE_SIGNIN,
        Some("AwsConsoleAction") => "AWS Console Action via CloudTrail",
        Some("AwsServiceEvent") => "AWS Service Event via CloudTrail",
        Some("AwsCloudTrailInsight") => "AWS Insight via CloudTrail",
        Some("AwsVpceEvent") | Some("NetworkActivityEvent") => {
            "AWS Network Activity Event via CloudTrail"
        }
        _ => API_CALL,
    }
}

/// `aws.<service>` of an `eventSource` (`s3.amazonaws.com` → `aws.s3`).
pub fn source_of(event_source: &str) -> String {
    let service = event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source);
    let service = service.split('.').next().unwrap_or(service);
    format!("aws.{service}")
}

/// A stable event id (a UUID) derived from `seed`, so that a record delivered twice after a
/// crash carries the same id both times.
pub fn stable_id(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Whether the record is a read-only management event: those reach only rules in state
/// `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
pub fn is_read_only_management(record: &Value) -> bool {
    let read_only = record.get("readOnly").and_then(Value::as_bool) == Some(true);
    let management = record
        .get("managementEvent")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    read_only && management
}

/// The envelope of a CloudTrail record; `None` when the value is not a record (not an object
/// or without `eventSource`).
pub fn cloudtrail_envelope(record: &Value) -> Option<Value> {
    let object = record.as_object()?;
    let event_source = object.get("eventSource")?.as_str()?;
    let text = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or("");
    let account = object
        .get("recipientAccountId")
        .and_then(Value::as_str)
        .or_else(|| {
            object
                .get("userIdentity")
                .and_then(|identity| identity.get("accountId"))
                .and_then(Value::as_str)
        })
        .unwrap_or("");
    let seed = match object.get("eventID").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        None => record.to_string(),
    };
    let mut envelope = Map::new();
    envelope.insert("version".into(), json!("0"));
    envelope.insert("id".into(), json!(stable_id(&seed)));
    envelope.insert("detail-type".into(), json!(detail_type(record)));
    envelope.insert("source".into(), json!(source_of(event_source)));
    envelope.insert("account".into(), json!(account));
    envelope.insert("time".into(), json!(text("eventTime")));
    envelope.insert("region".into(), json!(text("awsRegion")));
    envelope.insert("resources".into(), json!([]));
    envelope.insert("detail".into(), record.clone());
    Some(Value::Object(envelope))
}

/// The same event with the other spelling of the console sign-in detail-type, so that rules
/// written with either match; `None` for other events.
pub fn alternate_spelling(envelope: &Value) -> Option<Value> {
    if envelope.get("detail-type").and_then(Value::as_str) != Some(CONSOLE_SIGNIN) {
        return None;
    }
    let mut alternate = envelope.clone();
    alternate["detail-type"] = json!(CONSOLE_SIGNIN_ALT);
    Some(alternate)
}

/// What routing a record needs before it is parsed whole: the account and region whose
/// default bus it goes to, and whether it is a read-only management event. Read from the JSON
/// text without building a value ([`RecordRef`]), with the same rules as
/// [`cloudtrail_envelope`] (`account` and `region`) and [`is_read_only_management`]; `None`
/// when those say "not a record", or when the text does not parse as a `RecordRef` (every
/// record in the journal does: the server builds them from a `Record`, the ingest API checks
/// their types).
pub struct Route<'a> {
    pub account: Cow<'a, str>,
    pub region: Cow<'a, str>,
    pub read_only_management: bool,
}

/// The [`Route`] of a record's JSON text.
pub fn route_of(payload: &[u8]) -> Option<Route<'_>> {
    let view = RecordRef::parse(payload).ok()?;
    view.event_source.as_ref()?;
    let account = view
        .recipient_account_id
        .or_else(|| view.user_identity.and_then(|identity| identity.account_id))
        .unwrap_or_default();
    Some(Route {
        account,
        region: view.aws_region.unwrap_or_default(),
        read_only_management: view.read_only == Some(true) && view.management_event != Some(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_of_an_s3_call() {
        let record = json!({
            "eventVersion": "1.11", "eventID": "e-1", "eventSource": "s3.amazonaws.com",
            "eventName": "CreateBucket", "eventTime": "2026-01-02T03:04:05Z",
            "awsRegion": "eu-west-1", "recipientAccountId": "123456789012",
            "eventType": "AwsApiCall", "readOnly": false, "managementEvent": true,
        });
        let envelope = cloudtrail_envelope(&record).expect("a record");
        assert_eq!(envelope["source"], "aws.s3");
        assert_eq!(envelope["detail-type"], API_CALL);
        assert_eq!(envelope["account"], "123456789012");
        assert_eq!(envelope["region"], "eu-west-1");
        assert_eq!(envelope["time"], "2026-01-02T03:04:05Z");
        assert_eq!(envelope["detail"], record);
        assert_eq!(
            envelope["id"],
            cloudtrail_envelope(&record).expect("again")["id"]
        );
        assert!(!is_read_only_management(&record));
        assert!(cloudtrail_envelope(&json!({"a": 1})).is_none());
    }

    #[test]
    fn sources_and_detail_types() {
        assert_eq!(source_of("signin.amazonaws.com"), "aws.signin");
        assert_eq!(
            source_of("cloudtrail-data.amazonaws.com"),
            "aws.cloudtrail-data"
        );
        let signin =
            json!({"eventSource": "signin.amazonaws.com", "eventType": "AwsConsoleSignIn"});
        let envelope = cloudtrail_envelope(&signin).expect("a record");
        assert_eq!(envelope["detail-type"], CONSOLE_SIGNIN);
        let alternate = alternate_spelling(&envelope).expect("sign-in");
        assert_eq!(alternate["detail-type"], CONSOLE_SIGNIN_ALT);
        assert!(is_read_only_management(&json!({"readOnly": true})));
        assert!(!is_read_only_management(
            &json!({"readOnly": true, "managementEvent": false})
        ));
    }

    #[test]
    fn route_agrees_with_the_envelope() {
        let records = [
            json!({"eventSource": "s3.amazonaws.com", "awsRegion": "eu-west-1",
                   "recipientAccountId": "111111111111", "readOnly": true,
                   "userIdentity": {"accountId": "222222222222"}}),
            json!({"eventSource": "iam.amazonaws.com", "awsRegion": "us-east-1",
                   "userIdentity": {"accountId": "222222222222"}, "readOnly": false}),
            json!({"eventSource": "s3.amazonaws.com", "readOnly": true,
                   "managementEvent": false}),
            json!({"eventSource": "kms.amazonaws.com", "awsRegion": "ap-south-1",
                   "readOnly": true, "managementEvent": true}),
        ];
        for record in &records {
            let text = record.to_string();
            let route = route_of(text.as_bytes()).expect("a record");
            let envelope = cloudtrail_envelope(record).expect("a record");
            assert_eq!(envelope["account"], route.account.as_ref(), "{record}");
            assert_eq!(envelope["region"], route.region.as_ref(), "{record}");
            assert_eq!(
                is_read_only_management(record),
                route.read_only_management,
                "{record}"
            );
        }
        assert!(route_of(br#"{"awsRegion": "eu-west-1"}"#).is_none());
        assert!(route_of(b"not json").is_none());
    }
}
