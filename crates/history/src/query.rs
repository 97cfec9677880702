//! What LookupEvents asks for and what it gets back.

/// The one attribute a LookupEvents request may filter on (`LookupAttributes[0].AttributeKey`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LookupAttributeKey {
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

impl LookupAttributeKey {
    /// Every key, in the order of the CloudTrail API model.
    pub const ALL: [LookupAttributeKey; 8] = [
        LookupAttributeKey::EventId,
        LookupAttributeKey::EventName,
        LookupAttributeKey::ReadOnly,
        LookupAttributeKey::Username,
        LookupAttributeKey::ResourceType,
        LookupAttributeKey::ResourceName,
        LookupAttributeKey::EventSource,
        LookupAttributeKey::AccessKeyId,
    ];

    /// Parses the wire name (`"EventName"`, …); exact, case-sensitive like AWS.
    pub fn parse(s: &str) -> Option<Self> {
        LookupAttributeKey::ALL
            .into_iter()
            .find(|key| key.as_str() == s)
    }

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            LookupAttributeKey::EventId => "EventId",
            LookupAttributeKey::EventName => "EventName",
            LookupAttributeKey::ReadOnly => "ReadOnly",
            LookupAttributeKey::Username => "Username",
            LookupAttributeKey::ResourceType => "ResourceType",
            LookupAttributeKey::ResourceName => "ResourceName",
            LookupAttributeKey::EventSource => "EventSource",
            LookupAttributeKey::AccessKeyId => "AccessKeyId",
        }
    }
}

/// One LookupEvents request, already validated by the caller.
#[derive(Clone, Debug)]
pub struct LookupQuery {
    /// Only events of this account (`Record::account_id()`).
    pub account_id: String,
    /// Only events whose `awsRegion` is this region.
    pub region: String,
    /// At most one attribute; its value must match exactly (case-sensitive).
    pub attribute: Option<(LookupAttributeKey, String)>,
    /// Inclusive lower bound on `eventTime`, milliseconds since the epoch.
    pub start_ms: Option<i64>,
    /// Inclusive upper bound on `eventTime`, milliseconds since the epoch.
    pub end_ms: Option<i64>,
    /// `true`: only Insights records; `false`: only management events.
    pub insight: bool,
    /// Page size, 1..=50.
    pub max_results: usize,
    /// The token of the previous page of the same query.
    pub next_token: Option<String>,
}

/// One page of results, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupPage {
    pub events: Vec<HistoryEvent>,
    /// Present only when at least one more event matches.
    pub next_token: Option<String>,
}

/// One entry of `Events` in a LookupEvents response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEvent {
    pub event_id: String,
    pub event_name: Option<String>,
    /// `"true"` or `"false"`, a string as in the API (the record holds a JSON boolean).
    pub read_only: Option<String>,
    pub access_key_id: Option<String>,
    pub event_time_ms: i64,
    pub event_source: Option<String>,
    pub username: Option<String>,
    pub resources: Vec<HistoryResource>,
    /// The record JSON text exactly as it was indexed.
    pub cloudtrail_event: String,
}

/// One entry of `Resources`: the record's `type` and the name derived from its `ARN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryResource {
    pub resource_type: Option<String>,
    pub resource_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_keys_round_trip_and_are_case_sensitive() {
        for key in LookupAttributeKey::ALL {
            assert_eq!(LookupAttributeKey::parse(key.as_str()), Some(key));
        }
        assert_eq!(LookupAttributeKey::parse("eventname"), None);
        assert_eq!(LookupAttributeKey::parse(""), None);
    }
}
