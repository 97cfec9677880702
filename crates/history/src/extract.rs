//! Reads the fields the index needs from a record's JSON text — one parse per record
//! ([`RecordRef`]), borrowing strings from the input, skipping everything else
//! (`requestParameters` & co. are never materialised).
//!
//! Meaning comes from `opentrail-model`: the category, the owning account and the `Username`
//! are computed by [`Record::category`], [`Record::account_id`] and
//! [`UserIdentity::lookup_username`] on a partial `Record` that holds just the members those
//! methods read. A unit test checks this against a full `Record` parse of the real example data.

use opentrail_model::Arn;
use std::borrow::Cow;

use opentrail_model::{EventCategory, Record, RecordRef, UserIdentity};

use crate::query::{HistoryEvent, HistoryResource, LookupAttributeKey};

/// A record as the history sees it.
pub(crate) struct Extracted<'a> {
    view: RecordRef<'a>,
    /// `eventID`, required.
    event_id: Cow<'a, str>,
    /// `awsRegion`, required.
    region: Cow<'a, str>,
    /// The members of [`Record`] the model's methods need, nothing else.
    partial: Record,
    /// `eventTime` in milliseconds since the epoch.
    pub(crate) time_ms: i64,
    username: Option<String>,
}

/// Parses one record's JSON text; `None` when it is not a record (not UTF-8, not JSON, a
/// required member missing, or an `eventTime` that does not parse).
pub(crate) fn parse(bytes: &[u8]) -> Option<Extracted<'_>> {
    let mut view = RecordRef::parse(bytes).ok()?;
    if let Some(details) = view.insight_details.take() {
        // Event history shows an Insights event under the API it is about.
        view.event_name = view.event_name.or(details.event_name);
        view.event_source = view.event_source.or(details.event_source);
    }
    // The members every record has (the required fields of [`Record`]); without them the JSON
    // text is not a record.
    if view.event_version.as_deref().is_none_or(str::is_empty) {
        return None;
    }
    let event_id = view.event_id.take()?;
    let region = view.aws_region.take()?;
    view.event_type.as_ref()?;
    let time_ms = view.event_time_ms()?;
    let user_identity = view.user_identity.as_ref().map(|identity| UserIdentity {
        identity_type: owned(&identity.identity_type),
        arn: owned(&identity.arn),
        account_id: owned(&identity.account_id),
        user_name: owned(&identity.user_name),
        ..UserIdentity::default()
    });
    let username = user_identity
        .as_ref()
        .and_then(UserIdentity::lookup_username);
    let partial = Record {
        // `category()` only reads eventType when eventCategory is absent.
        event_type: match view.event_category {
            Some(_) => String::new(),
            None => view.event_type.as_deref().unwrap_or_default().to_owned(),
        },
        event_category: view.event_category,
        management_event: view.management_event,
        recipient_account_id: owned(&view.recipient_account_id),
        user_identity,
        ..Record::default()
    };
    Some(Extracted {
        view,
        event_id,
        region,
        partial,
        time_ms,
        username,
    })
}

fn owned(value: &Option<Cow<'_, str>>) -> Option<String> {
    value.as_deref().map(str::to_owned)
}

impl<'a> Extracted<'a> {
    pub(crate) fn category(&self) -> EventCategory {
        self.partial.category()
    }

    pub(crate) fn account_id(&self) -> Option<&str> {
        self.partial.account_id()
    }

    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    pub(crate) fn event_id(&self) -> &Cow<'a, str> {
        &self.event_id
    }

    /// Calls `emit` once for every (attribute, value) this record can be found by. Empty values
    /// are not indexed (a LookupEvents attribute value has at least one character); repeated
    /// resource values are emitted once.
    pub(crate) fn for_each_attribute(&self, mut emit: impl FnMut(LookupAttributeKey, &str)) {
        let mut emit_nonempty = |key, value: &str| {
            if !value.is_empty() {
                emit(key, value);
            }
        };
        let view = &self.view;
        emit_nonempty(LookupAttributeKey::EventId, &self.event_id);
        if let Some(name) = &view.event_name {
            emit_nonempty(LookupAttributeKey::EventName, name);
        }
        if let Some(read_only) = view.read_only {
            emit_nonempty(LookupAttributeKey::ReadOnly, bool_text(read_only));
        }
        if let Some(username) = &self.username {
            emit_nonempty(LookupAttributeKey::Username, username);
        }
        if let Some(source) = &view.event_source {
            emit_nonempty(LookupAttributeKey::EventSource, source);
        }
        if let Some(key_id) = self.access_key_id() {
            emit_nonempty(LookupAttributeKey::AccessKeyId, key_id);
        }
        let resources = view.resources.as_deref().unwrap_or_default();
        for (i, resource) in resources.iter().enumerate() {
            let earlier = &resources[..i];
            if let Some(kind) = resource.resource_type.as_deref()
                && !earlier
                    .iter()
                    .any(|r| r.resource_type.as_deref() == Some(kind))
            {
                emit_nonempty(LookupAttributeKey::ResourceType, kind);
            }
            let Some(arn) = resource.arn.as_deref() else {
                continue;
            };
            let seen = |value: &str| {
                earlier.iter().any(|r| {
                    r.arn
                        .as_deref()
                        .is_some_and(|a| a == value || resource_name(a) == value)
                })
            };
            if !seen(arn) {
                emit_nonempty(LookupAttributeKey::ResourceName, arn);
            }
            let name = resource_name(arn);
            if name != arn && !seen(name) {
                emit_nonempty(LookupAttributeKey::ResourceName, name);
            }
        }
    }

    /// Whether the record can be found by `key` = `value`.
    pub(crate) fn has_attribute(&self, key: LookupAttributeKey, value: &str) -> bool {
        let mut found = false;
        self.for_each_attribute(|k, v| found |= k == key && v == value);
        found
    }

    fn access_key_id(&self) -> Option<&str> {
        self.view.user_identity.as_ref()?.access_key_id.as_deref()
    }

    /// The LookupEvents view of this record, without its text (`cloudtrail_event` is empty:
    /// the caller owns the text this record borrows from).
    pub(crate) fn into_event(self) -> HistoryEvent {
        let access_key_id = self.access_key_id().map(str::to_owned);
        let view = self.view;
        HistoryEvent {
            event_id: self.event_id.into_owned(),
            event_name: view.event_name.map(Cow::into_owned),
            read_only: view.read_only.map(|b| bool_text(b).to_owned()),
            access_key_id,
            event_time_ms: self.time_ms,
            event_source: view.event_source.map(Cow::into_owned),
            username: self.username,
            resources: view
                .resources
                .unwrap_or_default()
                .into_iter()
                .map(|resource| HistoryResource {
                    resource_name: resource.arn.as_deref().map(|a| resource_name(a).to_owned()),
                    resource_type: resource.resource_type.map(Cow::into_owned),
                })
                .collect(),
            cloudtrail_event: String::new(),
        }
    }
}

fn bool_text(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// The `ResourceName` event history shows for an ARN: the bucket name for an S3 bucket ARN
/// (`arn:<partition>:s3:::NAME`, no slash), otherwise the full ARN.
pub(crate) fn resource_name(arn: &str) -> &str {
    let Some(Arn {
        region: "",
        account: "",
        resource: name,
        ..
    }) = Arn::of_service(arn, "s3")
    else {
        return arn;
    };
    if name.is_empty() || name.contains('/') {
        return arn;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_bucket_arns_become_bucket_names() {
        assert_eq!(resource_name("arn:aws:s3:::my-bucket"), "my-bucket");
        assert_eq!(resource_name("arn:aws-cn:s3:::b"), "b");
        assert_eq!(
            resource_name("arn:aws:s3:::my-bucket/key.txt"),
            "arn:aws:s3:::my-bucket/key.txt"
        );
        assert_eq!(
            resource_name("arn:aws:iam::123456789012:role/r"),
            "arn:aws:iam::123456789012:role/r"
        );
        assert_eq!(resource_name("arn:aws:s3:::"), "arn:aws:s3:::");
        assert_eq!(resource_name("not an arn"), "not an arn");
    }

    #[test]
    fn non_records_are_rejected() {
        assert!(parse(b"not json").is_none());
        assert!(parse(b"{}").is_none());
        assert!(parse(&[0xff, 0xfe]).is_none());
        let no_time = br#"{"eventVersion":"1.08","eventTime":"soon","awsRegion":"r","eventID":"e","eventType":"AwsApiCall"}"#;
        assert!(parse(no_time).is_none());
    }

    #[test]
    fn attributes_of_a_record() {
        let text = br#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/R/session-1","accountId":"111122223333","accessKeyId":"ASIAX"},"eventTime":"2024-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"CreateBucket","awsRegion":"us-east-1","eventID":"e-1","readOnly":false,"resources":[{"ARN":"arn:aws:s3:::b1","type":"AWS::S3::Bucket"},{"ARN":"arn:aws:s3:::b1","type":"AWS::S3::Bucket"},{"ARN":"arn:aws:iam::111122223333:role/R"}],"eventType":"AwsApiCall","recipientAccountId":"111122223333"}"#;
        let record = parse(text).expect("a record");
        let mut seen = Vec::new();
        record.for_each_attribute(|key, value| seen.push((key.as_str(), value.to_owned())));
        let expected: Vec<(&str, String)> = [
            ("EventId", "e-1"),
            ("EventName", "CreateBucket"),
            ("ReadOnly", "false"),
            ("Username", "session-1"),
            ("EventSource", "s3.amazonaws.com"),
            ("AccessKeyId", "ASIAX"),
            ("ResourceType", "AWS::S3::Bucket"),
            ("ResourceName", "arn:aws:s3:::b1"),
            ("ResourceName", "b1"),
            ("ResourceName", "arn:aws:iam::111122223333:role/R"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
        assert_eq!(seen, expected);
        assert_eq!(record.account_id(), Some("111122223333"));
        assert_eq!(record.category(), EventCategory::Management);
        let event = record.into_event();
        assert_eq!(event.resources.len(), 3);
        assert_eq!(event.resources[0].resource_name.as_deref(), Some("b1"));
        assert_eq!(event.resources[2].resource_type, None);
        assert_eq!(event.read_only.as_deref(), Some("false"));
        assert_eq!(event.event_time_ms, 1_704_164_645_000);
    }

    #[test]
    fn insights_records_use_the_api_they_are_about() {
        let text = br#"{"eventVersion":"1.07","eventTime":"2020-07-21T20:56:00Z","awsRegion":"us-east-1","eventID":"i-1","eventType":"AwsCloudTrailInsight","recipientAccountId":"838185438692","insightDetails":{"state":"Start","eventSource":"autoscaling.amazonaws.com","eventName":"CompleteLifecycleAction","insightType":"ApiCallRateInsight"},"eventCategory":"Insight"}"#;
        let record = parse(text).expect("a record");
        assert_eq!(record.category(), EventCategory::Insight);
        assert_eq!(record.account_id(), Some("838185438692"));
        let mut seen = Vec::new();
        record.for_each_attribute(|key, value| seen.push(format!("{}={value}", key.as_str())));
        assert_eq!(
            seen,
            [
                "EventId=i-1",
                "EventName=CompleteLifecycleAction",
                "EventSource=autoscaling.amazonaws.com"
            ]
        );
    }

    /// The partial parse must agree with the full model parse on real records.
    /// The crate's directory where the tests run (read when they run: a test binary may have been
    /// built from a checkout at another path).
    fn manifest_dir() -> String {
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
    }

    #[test]
    fn agrees_with_the_full_model_on_real_records() {
        let dir =
            std::path::Path::new(&manifest_dir()).join("../../tests/data/cloudtrail-examples");
        let text =
            fs_err::read_to_string(dir.join("aws-docs-example-records.json")).expect("examples");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
        let mut records = doc["Records"].as_array().expect("Records").clone();
        for entry in fs_err::read_dir(dir.join("stratus-red-team")).expect("stratus dir") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = fs_err::read_to_string(&path).expect("stratus file");
                let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
                records.extend(doc.as_array().expect("array").iter().cloned());
            }
        }
        let mut checked = 0;
        for value in &records {
            let text = serde_json::to_string(value).expect("serialize");
            let Ok(full) = serde_json::from_str::<Record>(&text) else {
                // Old records without eventID: not records for the model, nor for the history.
                assert!(parse(text.as_bytes()).is_none(), "{text}");
                continue;
            };
            checked += 1;
            let mine = parse(text.as_bytes()).expect("history parses the record");
            assert_eq!(mine.category(), full.category(), "{text}");
            assert_eq!(mine.account_id(), full.account_id(), "{text}");
            let full_username = full
                .user_identity
                .as_ref()
                .and_then(UserIdentity::lookup_username);
            assert_eq!(mine.username, full_username, "{text}");
            assert_eq!(mine.region(), full.aws_region);
            assert_eq!(mine.event_id().as_ref(), full.event_id);
        }
        assert!(checked > 300, "only {checked} records checked");
    }
}
