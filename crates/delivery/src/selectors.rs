//! Which records a trail delivers: basic event selectors (management read/write, excluded
//! management sources, data resources) and advanced event selectors (field conditions with
//! `Equals`, `StartsWith`, `EndsWith`, `NotEquals`, `NotStartsWith`, `NotEndsWith`), and the
//! rest of a trail's choice ([`TrailFilter`]: its account, regions, global service events and
//! logging window). This is the one place that evaluates selectors: trail delivery and the
//! CloudWatch Logs trail worker both ask [`TrailFilter::takes`].
//!
//! The types here are plain structs the server converts its stored trail selectors into, so
//! this module stays free of the API's wire shapes. Records are read through
//! [`opentrail_model::RecordRef`]. Matching rules:
//!
//! - **No selectors** ([`TrailSelectors::AllManagement`]): every management event.
//! - **Basic**: a record matches when any selector does. A management event matches a
//!   selector that includes management events, whose read/write type fits the record's
//!   `readOnly`, and that does not exclude its event source. A data event matches a selector
//!   whose read/write type fits and one of whose data resources names it: same resource type
//!   and an ARN that starts with one of the values (`arn:aws:s3` is every object,
//!   `arn:aws:s3:::bucket/` the objects of one bucket; bucket-level data calls such as
//!   ListObjects match the values under their bucket). Network activity and Insights events
//!   never match basic selectors.
//! - **Advanced**: a record matches when any selector does; a selector matches when all its
//!   field conditions hold. In one condition the positive operators (`Equals`, `StartsWith`,
//!   `EndsWith`) are ORed — any value of any of them suffices, and when there is none the
//!   positive part holds — and the negative ones (`NotEquals`, `NotStartsWith`,
//!   `NotEndsWith`) must all hold. A field the record lacks fails positive operators and
//!   passes negative ones. `resources.type` and `resources.ARN` are evaluated per resource:
//!   the selector holds when one resource of the record satisfies all its `resources.*`
//!   conditions (a record without resources is evaluated as one resource with neither).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use opentrail_model::{EventCategory, RecordRef, ResourceRef};

/// A trail's event selectors, in the form delivery evaluates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrailSelectors {
    /// No selectors were ever put: all management events, read and write.
    #[default]
    AllManagement,
    Basic(Vec<BasicSelector>),
    Advanced(Vec<AdvancedSelector>),
}

/// Which calls a basic selector takes, by `readOnly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadWrite {
    ReadOnly,
    WriteOnly,
    All,
}

impl ReadWrite {
    fn admits(self, read_only: Option<bool>) -> bool {
        match self {
            ReadWrite::All => true,
            ReadWrite::ReadOnly => read_only == Some(true),
            ReadWrite::WriteOnly => read_only != Some(true),
        }
    }
}

/// A basic event selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicSelector {
    pub read_write: ReadWrite,
    pub include_management_events: bool,
    pub data_resources: Vec<DataResource>,
    /// Event sources whose management events this selector leaves out.
    pub exclude_management_event_sources: Vec<String>,
}

/// The data events of one resource type a basic selector takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataResource {
    /// `AWS::S3::Object`, `AWS::Lambda::Function`, `AWS::DynamoDB::Table`.
    pub resource_type: String,
    /// ARN prefixes.
    pub values: Vec<String>,
}

/// An advanced event selector: every condition must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvancedSelector {
    pub conditions: Vec<FieldCondition>,
}

/// The condition on one record field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldCondition {
    /// `eventCategory`, `eventSource`, `eventName`, `eventType`, `readOnly`,
    /// `resources.type`, `resources.ARN`, `userIdentity.arn`, `errorCode`,
    /// `sessionCredentialFromConsole`, `vpcEndpointId`.
    pub field: String,
    pub equals: Vec<String>,
    pub starts_with: Vec<String>,
    pub ends_with: Vec<String>,
    pub not_equals: Vec<String>,
    pub not_starts_with: Vec<String>,
    pub not_ends_with: Vec<String>,
}

impl FieldCondition {
    /// Whether `value` (the field's value, `None` when the record lacks it) satisfies this
    /// condition.
    pub fn holds(&self, value: Option<&str>) -> bool {
        let has_positive =
            !(self.equals.is_empty() && self.starts_with.is_empty() && self.ends_with.is_empty());
        let Some(value) = value else {
            return !has_positive;
        };
        let positive = !has_positive
            || self.equals.iter().any(|v| value == v)
            || self
                .starts_with
                .iter()
                .any(|v| value.starts_with(v.as_str()))
            || self.ends_with.iter().any(|v| value.ends_with(v.as_str()));
        positive
            && !self.not_equals.iter().any(|v| value == v)
            && !self
                .not_starts_with
                .iter()
                .any(|v| value.starts_with(v.as_str()))
            && !self
                .not_ends_with
                .iter()
                .any(|v| value.ends_with(v.as_str()))
    }

    fn is_resource_field(&self) -> bool {
        self.field.starts_with("resources.")
    }
}

impl TrailSelectors {
    /// Whether a trail with these selectors delivers `record`.
    pub fn matches(&self, record: &RecordRef<'_>) -> bool {
        let category = record.category();
        if category == EventCategory::Insight {
            return false;
        }
        match self {
            TrailSelectors::AllManagement => category == EventCategory::Management,
            TrailSelectors::Basic(selectors) => selectors
                .iter()
                .any(|selector| basic_matches(selector, record, category)),
            TrailSelectors::Advanced(selectors) => selectors
                .iter()
                .any(|selector| advanced_matches(selector, record)),
        }
    }
}

fn basic_matches(
    selector: &BasicSelector,
    record: &RecordRef<'_>,
    category: EventCategory,
) -> bool {
    if !selector.read_write.admits(record.read_only) {
        return false;
    }
    match category {
        EventCategory::Management => {
            selector.include_management_events
                && !record.event_source.as_ref().is_some_and(|source| {
                    selector
                        .exclude_management_event_sources
                        .iter()
                        .any(|excluded| excluded.as_str() == source.as_ref())
                })
        }
        EventCategory::Data => selector.data_resources.iter().any(|data| {
            record
                .resources
                .iter()
                .flatten()
                .any(|resource| data_resource_matches(data, resource))
        }),
        EventCategory::NetworkActivity | EventCategory::Insight => false,
    }
}

/// Whether `resource` of a data event falls under `data`.
fn data_resource_matches(data: &DataResource, resource: &ResourceRef<'_>) -> bool {
    let Some(arn) = resource.arn.as_deref() else {
        return false;
    };
    let resource_type = resource.resource_type.as_deref();
    let same_type = resource_type.is_none_or(|kind| kind == data.resource_type);
    if same_type {
        return data
            .values
            .iter()
            .any(|value| arn.starts_with(value.as_str()));
    }
    // Bucket-level data calls (ListObjects) fall under the object values of their bucket.
    data.resource_type == "AWS::S3::Object"
        && resource_type == Some("AWS::S3::Bucket")
        && data.values.iter().any(|value| {
            let service_wide = !value.contains(":::") || value.ends_with(":::");
            (service_wide && arn.starts_with(value.as_str()))
                || value
                    .strip_prefix(arn)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

fn advanced_matches(selector: &AdvancedSelector, record: &RecordRef<'_>) -> bool {
    let record_fields_hold = selector
        .conditions
        .iter()
        .filter(|condition| !condition.is_resource_field())
        .all(|condition| condition.holds(field_value(record, &condition.field).as_deref()));
    if !record_fields_hold {
        return false;
    }
    let resource_conditions: Vec<&FieldCondition> = selector
        .conditions
        .iter()
        .filter(|condition| condition.is_resource_field())
        .collect();
    if resource_conditions.is_empty() {
        return true;
    }
    let none = ResourceRef::default();
    let resources: Vec<&ResourceRef<'_>> = match record.resources.as_deref() {
        Some(list) if !list.is_empty() => list.iter().collect(),
        _ => vec![&none],
    };
    resources.iter().any(|resource| {
        resource_conditions.iter().all(|condition| {
            let value = match condition.field.as_str() {
                "resources.type" => resource.resource_type.as_deref(),
                "resources.ARN" => resource.arn.as_deref(),
                _ => None,
            };
            condition.holds(value)
        })
    })
}

/// The value of a non-resource field of `record`, as advanced selectors compare it.
fn field_value<'r>(record: &'r RecordRef<'_>, field: &str) -> Option<Cow<'r, str>> {
    let borrowed = |value: &'r Option<Cow<'_, str>>| value.as_deref().map(Cow::Borrowed);
    match field {
        "eventCategory" => Some(Cow::Borrowed(record.category().as_str())),
        "eventSource" => borrowed(&record.event_source),
        "eventName" => borrowed(&record.event_name),
        "eventType" => Some(Cow::Borrowed(
            record.event_type.as_deref().unwrap_or_default(),
        )),
        "readOnly" => record
            .read_only
            .map(|read_only| Cow::Owned(read_only.to_string())),
        "userIdentity.arn" => borrowed(&record.user_identity.as_ref()?.arn),
        "errorCode" => borrowed(&record.error_code),
        "sessionCredentialFromConsole" => borrowed(&record.session_credential_from_console),
        "vpcEndpointId" => borrowed(&record.vpc_endpoint_id),
        _ => None,
    }
}

/// Event sources of global services, left out when a trail excludes global service events.
pub const GLOBAL_SOURCES: [&str; 4] = [
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "cloudfront.amazonaws.com",
    "route53.amazonaws.com",
];

/// When a trail logs: from its `StartLogging` (taken to the whole second, as record times
/// are) while it is logging, or up to its `StopLogging`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoggingWindow {
    pub is_logging: bool,
    pub start_ms: Option<i64>,
    pub stop_ms: Option<i64>,
}

impl LoggingWindow {
    /// Whether the trail was logging at `event_ms` (record times have whole seconds).
    pub fn covers(&self, event_ms: i64) -> bool {
        let Some(start) = self.start_ms else {
            return false;
        };
        if event_ms < start - start.rem_euclid(1000) {
            return false;
        }
        if self.is_logging {
            return true;
        }
        self.stop_ms.is_some_and(|stop| event_ms <= stop)
    }
}

/// Everything that decides whether a trail takes a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailFilter {
    /// The trail's account: it takes only records of this account (an organization trail:
    /// of the accounts in `organization_accounts`).
    pub account_id: String,
    /// The accounts of the organization of an organization trail, the management account
    /// included.
    pub organization_accounts: Option<Arc<BTreeSet<String>>>,
    pub home_region: String,
    /// A single-region trail takes only records of its home region.
    pub is_multi_region_trail: bool,
    /// Without it, records of [`GLOBAL_SOURCES`] are left out.
    pub include_global_service_events: bool,
    pub logging: LoggingWindow,
    pub selectors: TrailSelectors,
}

impl TrailFilter {
    /// Whether the trail takes `record`, whose event time is `event_ms`.
    pub fn takes(&self, record: &RecordRef<'_>, event_ms: i64) -> bool {
        let account = record.account_id().unwrap_or_default();
        let ours = match &self.organization_accounts {
            Some(accounts) => accounts.contains(account),
            None => account == self.account_id,
        };
        if !ours {
            return false;
        }
        if !self.is_multi_region_trail
            && record.aws_region.as_deref().unwrap_or_default() != self.home_region
        {
            return false;
        }
        if !self.include_global_service_events
            && record
                .event_source
                .as_deref()
                .is_some_and(|source| GLOBAL_SOURCES.contains(&source))
        {
            return false;
        }
        self.logging.covers(event_ms) && self.selectors.matches(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentrail_model::{Record, Resource};

    /// `matches` on the view parsed from `record`'s JSON, as delivery reads it.
    trait MatchesRecord {
        fn matches_record(&self, record: &Record) -> bool;
    }

    impl MatchesRecord for TrailSelectors {
        fn matches_record(&self, record: &Record) -> bool {
            let json = serde_json::to_vec(record).expect("record json");
            let view: RecordRef<'_> = serde_json::from_slice(&json).expect("record view");
            self.matches(&view)
        }
    }

    fn record(category: EventCategory, source: &str, name: &str, read_only: bool) -> Record {
        Record {
            event_version: "1.11".into(),
            event_time: "2024-01-02T03:04:05Z".into(),
            event_source: Some(source.into()),
            event_name: Some(name.into()),
            aws_region: "us-east-1".into(),
            event_id: "e".into(),
            event_type: "AwsApiCall".into(),
            read_only: Some(read_only),
            event_category: Some(category),
            ..Record::default()
        }
    }

    fn s3_object_event(name: &str, bucket: &str, key: &str, read_only: bool) -> Record {
        let mut event = record(EventCategory::Data, "s3.amazonaws.com", name, read_only);
        event.resources = Some(vec![
            Resource {
                account_id: None,
                resource_type: Some("AWS::S3::Object".into()),
                arn: Some(format!("arn:aws:s3:::{bucket}/{key}")),
            },
            Resource {
                account_id: Some("123456789012".into()),
                resource_type: Some("AWS::S3::Bucket".into()),
                arn: Some(format!("arn:aws:s3:::{bucket}")),
            },
        ]);
        event
    }

    fn condition(field: &str) -> FieldCondition {
        FieldCondition {
            field: field.into(),
            ..FieldCondition::default()
        }
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn logging_window_uses_start_and_stop() {
        let mut window = LoggingWindow::default();
        assert!(!window.covers(5_000));
        window.is_logging = true;
        window.start_ms = Some(10_500);
        assert!(window.covers(10_000));
        assert!(!window.covers(9_000));
        window.is_logging = false;
        window.stop_ms = Some(20_000);
        assert!(window.covers(20_000));
        assert!(!window.covers(21_000));
    }

    #[test]
    fn default_takes_management_only() {
        let selectors = TrailSelectors::AllManagement;
        assert!(selectors.matches_record(&record(
            EventCategory::Management,
            "iam.amazonaws.com",
            "CreateUser",
            false
        )));
        assert!(selectors.matches_record(&record(
            EventCategory::Management,
            "iam.amazonaws.com",
            "GetUser",
            true
        )));
        assert!(!selectors.matches_record(&s3_object_event("GetObject", "b", "k", true)));
        assert!(!selectors.matches_record(&record(
            EventCategory::Insight,
            "iam.amazonaws.com",
            "x",
            false
        )));
    }

    #[test]
    fn basic_read_write_and_excluded_sources() {
        let write_only = TrailSelectors::Basic(vec![BasicSelector {
            read_write: ReadWrite::WriteOnly,
            include_management_events: true,
            data_resources: Vec::new(),
            exclude_management_event_sources: strings(&["kms.amazonaws.com"]),
        }]);
        let write = record(
            EventCategory::Management,
            "iam.amazonaws.com",
            "CreateUser",
            false,
        );
        let read = record(
            EventCategory::Management,
            "iam.amazonaws.com",
            "GetUser",
            true,
        );
        let kms = record(
            EventCategory::Management,
            "kms.amazonaws.com",
            "CreateKey",
            false,
        );
        assert!(write_only.matches_record(&write));
        assert!(!write_only.matches_record(&read));
        assert!(!write_only.matches_record(&kms));

        let read_only = TrailSelectors::Basic(vec![BasicSelector {
            read_write: ReadWrite::ReadOnly,
            include_management_events: true,
            data_resources: Vec::new(),
            exclude_management_event_sources: Vec::new(),
        }]);
        assert!(read_only.matches_record(&read));
        assert!(!read_only.matches_record(&write));

        let no_management = TrailSelectors::Basic(vec![BasicSelector {
            read_write: ReadWrite::All,
            include_management_events: false,
            data_resources: Vec::new(),
            exclude_management_event_sources: Vec::new(),
        }]);
        assert!(!no_management.matches_record(&write));
    }

    #[test]
    fn basic_data_resources_by_arn_prefix() {
        let selectors = TrailSelectors::Basic(vec![BasicSelector {
            read_write: ReadWrite::All,
            include_management_events: false,
            data_resources: vec![DataResource {
                resource_type: "AWS::S3::Object".into(),
                values: strings(&["arn:aws:s3:::logged/"]),
            }],
            exclude_management_event_sources: Vec::new(),
        }]);
        assert!(selectors.matches_record(&s3_object_event("PutObject", "logged", "a/b", false)));
        assert!(!selectors.matches_record(&s3_object_event("PutObject", "other", "a/b", false)));
        assert!(!selectors.matches_record(&s3_object_event("PutObject", "logged-not", "k", false)));
        let mut list = record(EventCategory::Data, "s3.amazonaws.com", "ListObjects", true);
        list.resources = Some(vec![Resource {
            account_id: None,
            resource_type: Some("AWS::S3::Bucket".into()),
            arn: Some("arn:aws:s3:::logged".into()),
        }]);
        assert!(selectors.matches_record(&list));

        let everything = TrailSelectors::Basic(vec![BasicSelector {
            read_write: ReadWrite::WriteOnly,
            include_management_events: true,
            data_resources: vec![DataResource {
                resource_type: "AWS::S3::Object".into(),
                values: strings(&["arn:aws:s3"]),
            }],
            exclude_management_event_sources: Vec::new(),
        }]);
        assert!(everything.matches_record(&s3_object_event("PutObject", "any", "k", false)));
        assert!(!everything.matches_record(&s3_object_event("GetObject", "any", "k", true)));
        assert!(!everything.matches_record(&list));
    }

    #[test]
    fn each_advanced_operator() {
        let value = Some("s3.amazonaws.com");
        let mut equals = condition("eventSource");
        equals.equals = strings(&["iam.amazonaws.com", "s3.amazonaws.com"]);
        assert!(equals.holds(value));
        equals.equals = strings(&["iam.amazonaws.com"]);
        assert!(!equals.holds(value));

        let mut starts = condition("eventSource");
        starts.starts_with = strings(&["s3."]);
        assert!(starts.holds(value));
        starts.starts_with = strings(&["iam."]);
        assert!(!starts.holds(value));

        let mut ends = condition("eventSource");
        ends.ends_with = strings(&[".amazonaws.com"]);
        assert!(ends.holds(value));
        ends.ends_with = strings(&[".example.com"]);
        assert!(!ends.holds(value));

        let mut not_equals = condition("eventSource");
        not_equals.not_equals = strings(&["s3.amazonaws.com"]);
        assert!(!not_equals.holds(value));
        not_equals.not_equals = strings(&["iam.amazonaws.com"]);
        assert!(not_equals.holds(value));

        let mut not_starts = condition("eventSource");
        not_starts.not_starts_with = strings(&["s3"]);
        assert!(!not_starts.holds(value));
        not_starts.not_starts_with = strings(&["iam"]);
        assert!(not_starts.holds(value));

        let mut not_ends = condition("eventSource");
        not_ends.not_ends_with = strings(&[".com"]);
        assert!(!not_ends.holds(value));
        not_ends.not_ends_with = strings(&[".org"]);
        assert!(not_ends.holds(value));

        // Positive and negative together: one positive and none of the negatives.
        let mut both = condition("eventSource");
        both.starts_with = strings(&["s3"]);
        both.not_ends_with = strings(&[".cn"]);
        assert!(both.holds(value));
        assert!(!both.holds(Some("s3.amazonaws.com.cn")));
        // A missing field fails positive operators and passes negative ones.
        assert!(!equals.holds(None));
        assert!(not_equals.holds(None));
    }

    #[test]
    fn advanced_selectors_combine_fields_and_resources() {
        let mut category = condition("eventCategory");
        category.equals = strings(&["Data"]);
        let mut resource_type = condition("resources.type");
        resource_type.equals = strings(&["AWS::S3::Object"]);
        let mut arn = condition("resources.ARN");
        arn.starts_with = strings(&["arn:aws:s3:::logged/"]);
        arn.not_ends_with = strings(&[".tmp"]);
        let mut read_only = condition("readOnly");
        read_only.equals = strings(&["false"]);
        let data = AdvancedSelector {
            conditions: vec![category, resource_type, arn, read_only],
        };
        let mut management = condition("eventCategory");
        management.equals = strings(&["Management"]);
        let mut source = condition("eventSource");
        source.not_equals = strings(&["kms.amazonaws.com"]);
        let mut name = condition("eventName");
        name.starts_with = strings(&["Create", "Delete"]);
        let management = AdvancedSelector {
            conditions: vec![management, source, name],
        };
        let selectors = TrailSelectors::Advanced(vec![data, management]);

        assert!(selectors.matches_record(&s3_object_event("PutObject", "logged", "a", false)));
        assert!(!selectors.matches_record(&s3_object_event("PutObject", "logged", "a.tmp", false)));
        assert!(!selectors.matches_record(&s3_object_event("GetObject", "logged", "a", true)));
        assert!(!selectors.matches_record(&s3_object_event("PutObject", "other", "a", false)));
        assert!(selectors.matches_record(&record(
            EventCategory::Management,
            "iam.amazonaws.com",
            "CreateUser",
            false
        )));
        assert!(!selectors.matches_record(&record(
            EventCategory::Management,
            "iam.amazonaws.com",
            "GetUser",
            true
        )));
        assert!(!selectors.matches_record(&record(
            EventCategory::Management,
            "kms.amazonaws.com",
            "CreateKey",
            false
        )));
    }

    #[test]
    fn advanced_other_fields() {
        let mut event = record(
            EventCategory::Management,
            "iam.amazonaws.com",
            "CreateUser",
            false,
        );
        event.error_code = Some("AccessDenied".into());
        event.user_identity = Some(opentrail_model::UserIdentity {
            arn: Some("arn:aws:iam::123456789012:user/alice".into()),
            ..Default::default()
        });
        let selector = |field: &str, ends: &str| {
            let mut management = condition("eventCategory");
            management.equals = strings(&["Management"]);
            let mut other = condition(field);
            other.ends_with = strings(&[ends]);
            TrailSelectors::Advanced(vec![AdvancedSelector {
                conditions: vec![management, other],
            }])
        };
        assert!(selector("errorCode", "Denied").matches_record(&event));
        assert!(selector("userIdentity.arn", "/alice").matches_record(&event));
        assert!(!selector("userIdentity.arn", "/bob").matches_record(&event));
        assert!(selector("eventType", "ApiCall").matches_record(&event));
        assert!(!selector("vpcEndpointId", "x").matches_record(&event));
    }
}
