//! The CloudTrail record, field for field as AWS writes it (eventVersion 1.11).
//!
//! Fields are declared in the order AWS emits them, so a serialized record reads like a real
//! one. Members that AWS always writes (`requestParameters`, `responseElements`) keep the
//! difference between an explicit `null` and an absent member, so imported records round-trip
//! unchanged; members this struct does not know are kept in [`Record::extra`].

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::identity::UserIdentity;

/// The event version opentrail writes for the records it creates.
pub const EVENT_VERSION: &str = "1.11";

/// One CloudTrail record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub event_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_identity: Option<UserIdentity>,
    pub event_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    pub aws_region: String,
    #[serde(
        rename = "sourceIPAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// `Some(Value::Null)` is an explicit `null`; `None` means the member was absent.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_parameters: Option<Value>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_elements: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
    #[serde(rename = "requestID", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<Resource>>,
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_event: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_account_id: Option<String>,
    #[serde(
        rename = "sharedEventID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_event_details: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_category: Option<EventCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addendum: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_credential_from_console: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_device_details: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_details: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insight_details: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_context: Option<Value>,
    /// Members this version of opentrail does not model, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl Record {
    /// The record's category; records older than eventVersion 1.07 have none and count as
    /// management events unless they say otherwise.
    pub fn category(&self) -> EventCategory {
        if let Some(category) = self.event_category {
            return category;
        }
        if self.event_type == "AwsCloudTrailInsight" {
            return EventCategory::Insight;
        }
        if self.management_event == Some(false) {
            return EventCategory::Data;
        }
        EventCategory::Management
    }

    /// Whether the record is a management event (what event history keeps).
    pub fn is_management(&self) -> bool {
        self.category() == EventCategory::Management
    }

    /// The account the record belongs to: `recipientAccountId`, else the caller's account.
    pub fn account_id(&self) -> Option<&str> {
        self.recipient_account_id
            .as_deref()
            .or_else(|| self.user_identity.as_ref()?.account_id.as_deref())
    }
}

/// `eventCategory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventCategory {
    Management,
    Data,
    NetworkActivity,
    Insight,
}

impl EventCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            EventCategory::Management => "Management",
            EventCategory::Data => "Data",
            EventCategory::NetworkActivity => "NetworkActivity",
            EventCategory::Insight => "Insight",
        }
    }
}

/// One entry of `resources`. The ARN key is upper-case in real records; `type` may be absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(rename = "ARN", default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_null_and_absent_members_round_trip() {
        let text = r#"{"eventVersion":"1.08","eventTime":"2024-01-02T03:04:05Z","awsRegion":"us-east-1","requestParameters":null,"eventID":"e1","eventType":"AwsApiCall","somethingNew":{"a":1}}"#;
        let record: Record = serde_json::from_str(text).expect("parse");
        assert_eq!(record.request_parameters, Some(Value::Null));
        assert_eq!(record.response_elements, None);
        assert_eq!(
            record.extra.get("somethingNew"),
            Some(&serde_json::json!({"a":1}))
        );
        let back = serde_json::to_string(&record).expect("serialize");
        assert!(back.contains(r#""requestParameters":null"#));
        assert!(!back.contains("responseElements"));
        assert!(back.contains(r#""somethingNew":{"a":1}"#));
    }

    #[test]
    fn category_falls_back_for_old_records() {
        let mut record = Record {
            event_type: "AwsApiCall".into(),
            ..Record::default()
        };
        assert_eq!(record.category(), EventCategory::Management);
        record.management_event = Some(false);
        assert_eq!(record.category(), EventCategory::Data);
        record.event_category = Some(EventCategory::Insight);
        assert_eq!(record.category(), EventCategory::Insight);
    }
}
