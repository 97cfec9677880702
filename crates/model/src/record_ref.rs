//! [`RecordRef`]: the one borrowed view of a record's JSON text, for the paths that read a few
//! members of many records (history indexing, trail delivery, the Logs trail worker, EventBridge
//! routing, the ingest API's checks) without building a [`Record`](crate::Record).
//!
//! One parse, no `Value`: members the view does not name (`requestParameters`,
//! `responseElements`, …) are skipped unparsed, and strings are borrowed from the input. A
//! string with a JSON escape (`\"`, `\u00e9`, …) cannot be borrowed as it is written, so it is
//! unescaped into an owned string ([`Cow::Owned`]); every other string is a slice of the input
//! ([`Cow::Borrowed`]).
//!
//! The members and their types are those the ingest API checks (`cloudtrail::ingest::validate`
//! names the same ones): every record in the journal — built by the server from a [`Record`],
//! or ingested after those checks — parses as a `RecordRef`. A member that is `null` reads as
//! absent. `eventCategory` must be one of the known categories.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};

use crate::record::EventCategory;

/// The members of a record that opentrail's readers look at, borrowed from its JSON text.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRef<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    pub event_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub user_identity: Option<UserIdentityRef<'a>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub event_time: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub event_source: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub event_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub aws_region: Option<Cow<'a, str>>,
    #[serde(rename = "sourceIPAddress", borrow, default, deserialize_with = "text")]
    pub source_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub error_code: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub error_message: Option<Cow<'a, str>>,
    #[serde(rename = "requestID", borrow, default, deserialize_with = "text")]
    pub request_id: Option<Cow<'a, str>>,
    #[serde(rename = "eventID", borrow, default, deserialize_with = "text")]
    pub event_id: Option<Cow<'a, str>>,
    #[serde(default)]
    pub read_only: Option<bool>,
    #[serde(borrow, default)]
    pub resources: Option<Vec<ResourceRef<'a>>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub event_type: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub api_version: Option<Cow<'a, str>>,
    #[serde(default)]
    pub management_event: Option<bool>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub recipient_account_id: Option<Cow<'a, str>>,
    #[serde(rename = "sharedEventID", borrow, default, deserialize_with = "text")]
    pub shared_event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub vpc_endpoint_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub vpc_endpoint_account_id: Option<Cow<'a, str>>,
    #[serde(default)]
    pub event_category: Option<EventCategory>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub session_credential_from_console: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub insight_details: Option<InsightDetailsRef<'a>>,
}

/// The `userIdentity` members of a [`RecordRef`].
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentityRef<'a> {
    #[serde(rename = "type", borrow, default, deserialize_with = "text")]
    pub identity_type: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub arn: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub access_key_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub user_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub invoked_by: Option<Cow<'a, str>>,
}

/// One of a [`RecordRef`]'s `resources`.
#[derive(Debug, Default, Deserialize)]
pub struct ResourceRef<'a> {
    #[serde(rename = "ARN", borrow, default, deserialize_with = "text")]
    pub arn: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow, default, deserialize_with = "text")]
    pub resource_type: Option<Cow<'a, str>>,
    #[serde(rename = "accountId", borrow, default, deserialize_with = "text")]
    pub account_id: Option<Cow<'a, str>>,
}

/// The `insightDetails` members of a [`RecordRef`]: an Insights record names the API it is
/// about here, not at the top level.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InsightDetailsRef<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    pub event_source: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub event_name: Option<Cow<'a, str>>,
}

impl<'a> RecordRef<'a> {
    /// Parses a record's JSON text (which must be UTF-8 as a whole).
    ///
    /// The text is checked for UTF-8 once, then parsed as a `str`: cheaper than
    /// `serde_json::from_slice`, which checks every string it reads on its own (a quarter of
    /// the parse of a 1.5 KB record).
    pub fn parse(json: &'a [u8]) -> serde_json::Result<RecordRef<'a>> {
        let text = std::str::from_utf8(json).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }

    /// The event category, as [`Record::category`](crate::Record::category) derives it.
    pub fn category(&self) -> EventCategory {
        if let Some(category) = self.event_category {
            return category;
        }
        if self.event_type.as_deref() == Some("AwsCloudTrailInsight") {
            return EventCategory::Insight;
        }
        if self.management_event == Some(false) {
            return EventCategory::Data;
        }
        EventCategory::Management
    }

    /// The account the record belongs to, as [`Record::account_id`](crate::Record::account_id)
    /// finds it: `recipientAccountId`, else the caller's account.
    pub fn account_id(&self) -> Option<&str> {
        self.recipient_account_id
            .as_deref()
            .or_else(|| self.user_identity.as_ref()?.account_id.as_deref())
    }

    /// `eventTime` in milliseconds since the epoch; `None` when it is absent or not a time.
    pub fn event_time_ms(&self) -> Option<i64> {
        crate::time::parse_event_time_ms(self.event_time.as_deref()?)
    }
}

/// An optional string member, borrowed from the input unless it has escapes.
///
/// `#[serde(borrow)]` alone borrows only a bare `Cow<str>` field; inside an `Option` serde's
/// `Cow` impl would copy every string. The newtype carries the borrow through the `Option`.
fn text<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Text<'a>>::deserialize(deserializer)?.map(|text| text.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Record;

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let json = br#"{"eventSource":"s3.amazonaws.com","userAgent":"say \"hi\" caf\u00e9","userIdentity":{"arn":"arn:aws:iam::111122223333:user/a\/b"},"resources":[{"ARN":"arn:aws:s3:::b"}],"eventName":null}"#;
        let record = RecordRef::parse(json).expect("a record");
        assert!(matches!(
            record.event_source,
            Some(Cow::Borrowed("s3.amazonaws.com"))
        ));
        assert!(matches!(&record.user_agent, Some(Cow::Owned(text)) if text == "say \"hi\" café"));
        let identity = record.user_identity.as_ref().expect("identity");
        assert!(
            matches!(&identity.arn, Some(Cow::Owned(arn)) if arn == "arn:aws:iam::111122223333:user/a/b")
        );
        let resources = record.resources.as_deref().expect("resources");
        assert!(matches!(
            resources[0].arn,
            Some(Cow::Borrowed("arn:aws:s3:::b"))
        ));
        assert!(record.event_name.is_none(), "null reads as absent");
    }

    #[test]
    fn wrong_types_and_unknown_categories_are_not_records() {
        assert!(RecordRef::parse(br#"{"eventTime":5}"#).is_err());
        assert!(RecordRef::parse(br#"{"readOnly":"true"}"#).is_err());
        assert!(RecordRef::parse(br#"{"userIdentity":{"accountId":1}}"#).is_err());
        assert!(RecordRef::parse(br#"{"resources":[{"type":[]}]}"#).is_err());
        assert!(RecordRef::parse(br#"{"eventCategory":"Other"}"#).is_err());
        assert!(RecordRef::parse(br#"{"requestParameters":{"any":[1,{"x":null}]}}"#).is_ok());
    }

    #[test]
    fn category_account_and_time_agree_with_the_record() {
        let records = [
            r#"{"eventVersion":"1.08","eventTime":"2024-01-02T03:04:05Z","awsRegion":"us-east-1","eventID":"e","eventType":"AwsApiCall","recipientAccountId":"111122223333","userIdentity":{"accountId":"222233334444"}}"#,
            r#"{"eventVersion":"1.08","eventTime":"2024-01-02T03:04:05Z","awsRegion":"us-east-1","eventID":"e","eventType":"AwsApiCall","managementEvent":false,"userIdentity":{"accountId":"222233334444"}}"#,
            r#"{"eventVersion":"1.07","eventTime":"2024-01-02T03:04:05Z","awsRegion":"us-east-1","eventID":"e","eventType":"AwsCloudTrailInsight"}"#,
            r#"{"eventVersion":"1.11","eventTime":"2024-01-02T03:04:05Z","awsRegion":"us-east-1","eventID":"e","eventType":"AwsApiCall","eventCategory":"NetworkActivity"}"#,
        ];
        for text in records {
            let full: Record = serde_json::from_str(text).expect("record");
            let view = RecordRef::parse(text.as_bytes()).expect("view");
            assert_eq!(view.category(), full.category(), "{text}");
            assert_eq!(view.account_id(), full.account_id(), "{text}");
            assert_eq!(
                view.event_time_ms(),
                crate::time::parse_event_time_ms(&full.event_time)
            );
        }
    }
}
