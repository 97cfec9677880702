//! The checks of one ingested record, each failure with the `PutAuditEvents` error code AWS
//! uses for it.
//!
//! A record must be a JSON object with the members every CloudTrail record has:
//! `eventVersion`, `eventTime` (`YYYY-MM-DDTHH:MM:SSZ`, UTC), `awsRegion`, `eventID`,
//! `eventType`, an owning account (`recipientAccountId`, else `userIdentity.accountId`, 12
//! digits), and — except for Insights records, which may carry them in `insightDetails` —
//! `eventSource` and `eventName`. The members the event history reads must have their
//! CloudTrail types (strings, `readOnly`/`managementEvent` booleans, `resources` a list of
//! objects, `eventCategory` one of the known categories; `null` counts as absent), so that
//! every accepted record is indexed. Sizes: `eventData` at most 256 KiB (CloudTrail's event
//! size limit), `eventID` at most 128 characters, `eventVersion` 256, `eventSource` and
//! `eventName` 1024, `awsRegion` 64.

use base64::Engine as _;
use opentrail_model::{EventCategory, Record, RecordRef};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The largest `eventData` accepted (CloudTrail's event size limit).
pub const MAX_EVENT_DATA_BYTES: usize = 256 * 1024;

/// Members with a length limit, and the limit in characters.
const LENGTH_LIMITS: &[(&str, usize)] = &[
    ("eventID", 128),
    ("eventVersion", 256),
    ("eventSource", 1024),
    ("eventName", 1024),
    ("awsRegion", 64),
    ("eventType", 128),
];

/// Top-level members that must be strings when present.
const STRING_MEMBERS: &[&str] = &[
    "eventVersion",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestID",
    "eventID",
    "eventType",
    "apiVersion",
    "recipientAccountId",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "eventCategory",
    "sessionCredentialFromConsole",
];

/// Top-level members that must be booleans when present.
const BOOL_MEMBERS: &[&str] = &["readOnly", "managementEvent"];

/// Top-level members that must be objects when present.
const OBJECT_MEMBERS: &[&str] = &["userIdentity", "insightDetails"];

/// `userIdentity` members that must be strings when present.
const IDENTITY_STRING_MEMBERS: &[&str] = &[
    "type",
    "principalId",
    "arn",
    "accountId",
    "accessKeyId",
    "userName",
    "invokedBy",
];

/// Why one record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("eventData is not a json object: {0}")]
    NotJson(String),
    #[error("{0} is required")]
    FieldNotFound(&'static str),
    #[error("{field} must be {expected}, got {got}")]
    WrongType {
        field: String,
        expected: &'static str,
        got: &'static str,
    },
    #[error("{field} must have at most {max} characters, got {got}")]
    FieldTooLong {
        field: String,
        max: usize,
        got: usize,
    },
    #[error("eventData must have at most {MAX_EVENT_DATA_BYTES} bytes, got {0}")]
    EventTooLarge(usize),
    #[error(
        "eventTime {0:?} is not a CloudTrail time: expected YYYY-MM-DDTHH:MM:SSZ (UTC, whole seconds)"
    )]
    BadTime(String),
    #[error("eventCategory {0:?} is not one of Management, Data, NetworkActivity, Insight")]
    BadCategory(String),
    #[error("{field} {value:?} is not a 12-digit account id")]
    BadAccount { field: &'static str, value: String },
    #[error(
        "eventDataChecksum does not match eventData: expected the sha-256 of eventData in hex or base64"
    )]
    Checksum,
}

impl RecordError {
    /// The `errorCode` of the `failed` entry.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::NotJson(_)
            | RecordError::WrongType { .. }
            | RecordError::BadTime(_)
            | RecordError::BadCategory(_) => "InvalidData",
            RecordError::FieldNotFound(_) => "FieldNotFound",
            RecordError::FieldTooLong { .. } | RecordError::EventTooLarge(_) => "FieldTooLong",
            RecordError::BadAccount { .. } => "InvalidRecipient",
            RecordError::Checksum => "InvalidChecksum",
        }
    }
}

/// A record that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRecord {
    pub event_id: String,
    pub account_id: String,
    pub region: String,
    pub time_ms: i64,
    pub category: EventCategory,
    /// The record as compact JSON, members in their original order.
    pub json: Vec<u8>,
}

/// Checks one `eventData` (and its checksum, when given).
///
/// Most records take the fast path: one borrowed parse of the members that matter and the
/// text minified as it is (member order and number spellings untouched). A record that path
/// refuses is parsed again in full to say exactly what is wrong with it.
pub fn validate(event_data: &str, checksum: Option<&str>) -> Result<ValidRecord, RecordError> {
    if event_data.len() > MAX_EVENT_DATA_BYTES {
        return Err(RecordError::EventTooLarge(event_data.len()));
    }
    if let Some(checksum) = checksum
        && !checksum_matches(event_data.as_bytes(), checksum)
    {
        return Err(RecordError::Checksum);
    }
    if event_data.trim_start().starts_with('{')
        && let Ok(view) = serde_json::from_str::<RecordRef<'_>>(event_data)
    {
        let fields = fields_of(&view);
        let checked = check_fields(&fields)?;
        return Ok(checked.into_record(minify(event_data)));
    }
    validate_slowly(event_data)
}

/// The full parse: every type problem is named.
fn validate_slowly(event_data: &str) -> Result<ValidRecord, RecordError> {
    let value: Value =
        serde_json::from_str(event_data).map_err(|err| RecordError::NotJson(err.to_string()))?;
    let Value::Object(record) = &value else {
        return Err(RecordError::NotJson(format!(
            "got {}",
            opentrail_api::json::json_kind(&value)
        )));
    };
    check_types(record)?;
    let text = |field: &str| record.get(field).and_then(Value::as_str);
    let fields = Fields {
        event_version: text("eventVersion"),
        event_time: text("eventTime"),
        event_source: text("eventSource"),
        event_name: text("eventName"),
        aws_region: text("awsRegion"),
        event_id: text("eventID"),
        event_type: text("eventType"),
        event_category: text("eventCategory"),
        management_event: record.get("managementEvent").and_then(Value::as_bool),
        recipient_account_id: text("recipientAccountId"),
        identity_account_id: record
            .get("userIdentity")
            .and_then(|identity| identity.get("accountId"))
            .and_then(Value::as_str),
    };
    let checked = check_fields(&fields)?;
    let json = serde_json::to_vec(&value).map_err(|err| RecordError::NotJson(err.to_string()))?;
    Ok(checked.into_record(json))
}

/// The members of a record the checks read.
struct Fields<'a> {
    event_version: Option<&'a str>,
    event_time: Option<&'a str>,
    event_source: Option<&'a str>,
    event_name: Option<&'a str>,
    aws_region: Option<&'a str>,
    event_id: Option<&'a str>,
    event_type: Option<&'a str>,
    event_category: Option<&'a str>,
    management_event: Option<bool>,
    recipient_account_id: Option<&'a str>,
    identity_account_id: Option<&'a str>,
}

/// What the checks found out.
struct Checked {
    event_id: String,
    account_id: String,
    region: String,
    time_ms: i64,
    category: EventCategory,
}

impl Checked {
    fn into_record(self, json: Vec<u8>) -> ValidRecord {
        ValidRecord {
            event_id: self.event_id,
            account_id: self.account_id,
            region: self.region,
            time_ms: self.time_ms,
            category: self.category,
            json,
        }
    }
}

fn check_fields(fields: &Fields<'_>) -> Result<Checked, RecordError> {
    let limited = [
        ("eventID", fields.event_id),
        ("eventVersion", fields.event_version),
        ("eventSource", fields.event_source),
        ("eventName", fields.event_name),
        ("awsRegion", fields.aws_region),
        ("eventType", fields.event_type),
    ];
    for (field, value) in limited {
        let max = LENGTH_LIMITS
            .iter()
            .find(|(name, _)| *name == field)
            .map_or(usize::MAX, |(_, max)| *max);
        if let Some(text) = value {
            let got = text.chars().count();
            if got > max {
                return Err(RecordError::FieldTooLong {
                    field: field.to_owned(),
                    max,
                    got,
                });
            }
        }
    }
    let required = |field: &'static str, value: Option<&str>| -> Result<String, RecordError> {
        value
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
            .ok_or(RecordError::FieldNotFound(field))
    };
    required("eventVersion", fields.event_version)?;
    let event_time = required("eventTime", fields.event_time)?;
    let region = required("awsRegion", fields.aws_region)?;
    let event_id = required("eventID", fields.event_id)?;
    let event_type = required("eventType", fields.event_type)?;
    let time_ms = parse_time(&event_time)?;

    let event_category = match fields.event_category {
        Some(name) => Some(
            serde_json::from_value::<EventCategory>(Value::String(name.to_owned()))
                .map_err(|_| RecordError::BadCategory(name.to_owned()))?,
        ),
        None => None,
    };
    let partial = Record {
        event_type,
        event_category,
        management_event: fields.management_event,
        ..Record::default()
    };
    let category = partial.category();
    if category != EventCategory::Insight {
        required("eventSource", fields.event_source)?;
        required("eventName", fields.event_name)?;
    }
    let account_id = owning_account(fields)?;
    Ok(Checked {
        event_id,
        account_id,
        region,
        time_ms,
        category,
    })
}

/// The [`Fields`] of the fast path's borrowed view. [`RecordRef`] holds the members
/// [`check_types`] checks, with the same types (so a record whose view parses passes
/// [`check_types`]); an `eventCategory` it does not know fails the view and takes the slow path,
/// which says [`RecordError::BadCategory`].
fn fields_of<'v>(view: &'v RecordRef<'_>) -> Fields<'v> {
    Fields {
        event_version: view.event_version.as_deref(),
        event_time: view.event_time.as_deref(),
        event_source: view.event_source.as_deref(),
        event_name: view.event_name.as_deref(),
        aws_region: view.aws_region.as_deref(),
        event_id: view.event_id.as_deref(),
        event_type: view.event_type.as_deref(),
        event_category: view.event_category.map(EventCategory::as_str),
        management_event: view.management_event,
        recipient_account_id: view.recipient_account_id.as_deref(),
        identity_account_id: view
            .user_identity
            .as_ref()
            .and_then(|identity| identity.account_id.as_deref()),
    }
}

/// `text` (valid JSON) without the whitespace outside its strings.
///
/// Strings are copied whole: `memchr` finds the next quote or backslash, so the bytes inside
/// a string (most of a record) are not looked at one by one.
fn minify(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => at += 1,
            b'"' => {
                let start = at;
                at += 1;
                while let Some(found) = memchr::memchr2(b'"', b'\\', &bytes[at..]) {
                    if bytes[at + found] == b'"' {
                        at += found + 1;
                        break;
                    }
                    // A backslash: the escaped byte cannot end the string.
                    at += found + 2;
                }
                let end = at.min(bytes.len());
                out.extend_from_slice(&bytes[start..end]);
                at = end;
            }
            _ => {
                out.push(byte);
                at += 1;
            }
        }
    }
    out
}

fn wrong_type(field: String, expected: &'static str, got: &Value) -> RecordError {
    RecordError::WrongType {
        field,
        expected,
        got: opentrail_api::json::json_kind(got),
    }
}

/// Checks the types of the members the history and the model read.
fn check_types(record: &Map<String, Value>) -> Result<(), RecordError> {
    for (field, value) in record {
        let field = field.as_str();
        let ok = if STRING_MEMBERS.contains(&field) {
            matches!(value, Value::String(_) | Value::Null)
        } else if BOOL_MEMBERS.contains(&field) {
            matches!(value, Value::Bool(_) | Value::Null)
        } else if OBJECT_MEMBERS.contains(&field) {
            matches!(value, Value::Object(_) | Value::Null)
        } else {
            true
        };
        if !ok {
            let expected = if STRING_MEMBERS.contains(&field) {
                "a string"
            } else if BOOL_MEMBERS.contains(&field) {
                "a boolean"
            } else {
                "an object"
            };
            return Err(wrong_type(field.to_owned(), expected, value));
        }
    }
    if let Some(Value::Object(identity)) = record.get("userIdentity") {
        for field in IDENTITY_STRING_MEMBERS {
            match identity.get(*field) {
                None | Some(Value::String(_) | Value::Null) => {}
                Some(other) => {
                    return Err(wrong_type(
                        format!("userIdentity.{field}"),
                        "a string",
                        other,
                    ));
                }
            }
        }
    }
    if let Some(Value::Object(details)) = record.get("insightDetails") {
        for field in ["eventSource", "eventName"] {
            match details.get(field) {
                None | Some(Value::String(_) | Value::Null) => {}
                Some(other) => {
                    return Err(wrong_type(
                        format!("insightDetails.{field}"),
                        "a string",
                        other,
                    ));
                }
            }
        }
    }
    match record.get("resources") {
        None | Some(Value::Null) => {}
        Some(Value::Array(resources)) => {
            for (index, resource) in resources.iter().enumerate() {
                let Value::Object(resource) = resource else {
                    return Err(wrong_type(
                        format!("resources[{index}]"),
                        "an object",
                        resource,
                    ));
                };
                for field in ["ARN", "type", "accountId"] {
                    match resource.get(field) {
                        None | Some(Value::String(_) | Value::Null) => {}
                        Some(other) => {
                            return Err(wrong_type(
                                format!("resources[{index}].{field}"),
                                "a string",
                                other,
                            ));
                        }
                    }
                }
            }
        }
        Some(other) => return Err(wrong_type("resources".to_owned(), "a list", other)),
    }
    Ok(())
}

/// `recipientAccountId`, else `userIdentity.accountId`; 12 digits.
fn owning_account(fields: &Fields<'_>) -> Result<String, RecordError> {
    let (field, value) = match (fields.recipient_account_id, fields.identity_account_id) {
        (Some(value), _) => ("recipientAccountId", value),
        (None, Some(value)) => ("userIdentity.accountId", value),
        (None, None) => return Err(RecordError::FieldNotFound("recipientAccountId")),
    };
    if !opentrail_model::ids::is_account_id(value) {
        return Err(RecordError::BadAccount {
            field,
            value: value.to_owned(),
        });
    }
    Ok(value.to_owned())
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ`, the one form CloudTrail writes.
fn parse_time(text: &str) -> Result<i64, RecordError> {
    let bad = || RecordError::BadTime(text.to_owned());
    let shape_ok = text.len() == 20
        && text.bytes().enumerate().all(|(index, byte)| match index {
            4 | 7 => byte == b'-',
            10 => byte == b'T',
            13 | 16 => byte == b':',
            19 => byte == b'Z',
            _ => byte.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(bad());
    }
    opentrail_model::time::parse_event_time_ms(text).ok_or_else(bad)
}

/// Whether `checksum` is the SHA-256 of `data`, in hex (any case) or base64.
fn checksum_matches(data: &[u8], checksum: &str) -> bool {
    let digest = Sha256::digest(data);
    let checksum = checksum.trim();
    if checksum.len() == 64 {
        return hex::decode(checksum).is_ok_and(|bytes| bytes.as_slice() == digest.as_slice());
    }
    base64::engine::general_purpose::STANDARD
        .decode(checksum)
        .is_ok_and(|bytes| bytes.as_slice() == digest.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Value {
        json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "userName": "alice"},
            "eventTime": "2024-05-01T10:00:00Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "CreateBucket",
            "awsRegion": "eu-west-1",
            "requestParameters": null,
            "eventID": "0b2c1e9a-0000-4000-8000-000000000001",
            "readOnly": false,
            "eventType": "AwsApiCall",
            "recipientAccountId": "111122223333"
        })
    }

    fn check(value: &Value) -> Result<ValidRecord, RecordError> {
        validate(&value.to_string(), None)
    }

    fn code(value: &Value) -> &'static str {
        match check(value) {
            Ok(_) => "ok",
            Err(err) => err.code(),
        }
    }

    #[test]
    fn a_full_record_keeps_its_identity_and_bytes() {
        let pretty = serde_json::to_string_pretty(&record()).expect("json");
        let valid = validate(&pretty, None).expect("valid");
        assert_eq!(valid.event_id, "0b2c1e9a-0000-4000-8000-000000000001");
        assert_eq!(valid.account_id, "111122223333");
        assert_eq!(valid.region, "eu-west-1");
        assert_eq!(valid.time_ms, 1_714_557_600_000);
        assert_eq!(valid.category, EventCategory::Management);
        let back: Value = serde_json::from_slice(&valid.json).expect("json");
        assert_eq!(back, record());
        assert!(!valid.json.contains(&b'\n'), "stored compact");
        let text = String::from_utf8(valid.json).expect("utf-8");
        assert!(text.starts_with(r#"{"eventVersion":"1.08","userIdentity""#));
    }

    #[test]
    fn missing_members_are_field_not_found() {
        for field in [
            "eventVersion",
            "eventTime",
            "eventSource",
            "eventName",
            "awsRegion",
            "eventID",
            "eventType",
        ] {
            let mut value = record();
            value.as_object_mut().expect("object").remove(field);
            let err = check(&value).expect_err(field);
            assert_eq!(err, RecordError::FieldNotFound(field));
            assert_eq!(err.code(), "FieldNotFound");
        }
        let mut no_account = record();
        no_account
            .as_object_mut()
            .expect("object")
            .remove("recipientAccountId");
        assert_eq!(code(&no_account), "ok", "userIdentity.accountId suffices");
        no_account["userIdentity"]
            .as_object_mut()
            .expect("object")
            .remove("accountId");
        assert_eq!(code(&no_account), "FieldNotFound");
    }

    #[test]
    fn insights_records_may_name_their_api_in_insight_details() {
        let insight = json!({
            "eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "awsRegion": "us-east-1",
            "eventID": "i1", "eventType": "AwsCloudTrailInsight", "recipientAccountId": "111122223333",
            "sharedEventID": "s1", "insightDetails": {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances"},
            "eventCategory": "Insight"
        });
        let valid = check(&insight).expect("valid");
        assert_eq!(valid.category, EventCategory::Insight);
    }

    #[test]
    fn types_times_sizes_and_accounts_are_checked() {
        let mut value = record();
        value["readOnly"] = json!("false");
        let err = check(&value).expect_err("string readOnly");
        assert_eq!(err.code(), "InvalidData");
        assert!(
            err.to_string().contains("readOnly must be a boolean"),
            "{err}"
        );

        let mut value = record();
        value["userIdentity"]["accessKeyId"] = json!(5);
        assert_eq!(code(&value), "InvalidData");

        let mut value = record();
        value["resources"] = json!([{"ARN": 1}]);
        let err = check(&value).expect_err("resource arn");
        assert!(err.to_string().contains("resources[0].ARN"), "{err}");

        for bad_time in [
            "2024-05-01 10:00:00",
            "2024-05-01T10:00:00.5Z",
            "2024-13-01T10:00:00Z",
        ] {
            let mut value = record();
            value["eventTime"] = json!(bad_time);
            assert_eq!(code(&value), "InvalidData", "{bad_time}");
        }

        let mut value = record();
        value["eventCategory"] = json!("Other");
        assert_eq!(code(&value), "InvalidData");

        let mut value = record();
        value["eventID"] = json!("x".repeat(129));
        assert_eq!(code(&value), "FieldTooLong");

        let mut value = record();
        value["recipientAccountId"] = json!("12345");
        assert_eq!(code(&value), "InvalidRecipient");

        let mut value = record();
        value["requestParameters"] = json!({"blob": "y".repeat(MAX_EVENT_DATA_BYTES)});
        assert_eq!(code(&value), "FieldTooLong");

        assert_eq!(
            validate("[1,2]", None).expect_err("array").code(),
            "InvalidData"
        );
        assert_eq!(
            validate("{not json", None).expect_err("text").code(),
            "InvalidData"
        );
    }

    #[test]
    fn minifying_keeps_strings_and_numbers_as_written() {
        let text = "{ \"a\" : \"x  y\\\" \\n\" ,\n\t\"b\": [1.50, 2e3 ] }";
        assert_eq!(
            String::from_utf8(minify(text)).expect("utf-8"),
            "{\"a\":\"x  y\\\" \\n\",\"b\":[1.50,2e3]}"
        );
        // Escaped backslashes and quotes at the end of strings, an escape at a string's start.
        let text = r#"{ "a" : "\\" , "b" : "\\\"" , "c": "\" x" , "d" : [ "" , " " ] }"#;
        assert_eq!(
            String::from_utf8(minify(text)).expect("utf-8"),
            r#"{"a":"\\","b":"\\\"","c":"\" x","d":[""," "]}"#
        );
        let mut value = record();
        value["errorMessage"] = Value::Null;
        value["tags"] = json!({"k": [1.50, "a b"]});
        let pretty = serde_json::to_string_pretty(&value).expect("json");
        let valid = validate(&pretty, None).expect("nulls are absent members");
        let back: Value = serde_json::from_slice(&valid.json).expect("json");
        assert_eq!(back, value);
    }

    #[test]
    fn the_slow_path_names_what_the_fast_path_refused() {
        // Duplicate members are refused by the typed view, then accepted by the full parse
        // (the last one wins, as in every JSON reader).
        let text = record()
            .to_string()
            .replacen('{', "{\"eventVersion\":\"0\",", 1);
        let valid = validate(&text, None).expect("valid");
        assert_eq!(valid.event_id, "0b2c1e9a-0000-4000-8000-000000000001");
        let mut value = record();
        value["userIdentity"]["userName"] = json!(["x"]);
        let err = check(&value).expect_err("list user name");
        assert_eq!(
            err.to_string(),
            "userIdentity.userName must be a string, got array"
        );
    }

    #[test]
    fn checksums_in_hex_or_base64() {
        let data = record().to_string();
        let digest = Sha256::digest(data.as_bytes());
        let hex_sum = hex::encode(digest);
        let b64_sum = base64::engine::general_purpose::STANDARD.encode(digest);
        assert!(validate(&data, Some(&hex_sum)).is_ok());
        assert!(validate(&data, Some(&hex_sum.to_uppercase())).is_ok());
        assert!(validate(&data, Some(&b64_sum)).is_ok());
        let err = validate(&data, Some(&"0".repeat(64))).expect_err("mismatch");
        assert_eq!(err.code(), "InvalidChecksum");
        assert_eq!(
            validate(&data, Some("nonsense")).expect_err("bad").code(),
            "InvalidChecksum"
        );
    }
}
