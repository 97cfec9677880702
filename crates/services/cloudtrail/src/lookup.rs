//! LookupEvents: AWS's request rules, then one page from the event-history index.
//!
//! The call first waits (briefly) until the index has applied everything already in the
//! journal, so a caller finds the calls it just made.

use std::sync::Arc;
use std::time::Duration;

use opentrail_history::{HistoryEvent, LookupAttributeKey, LookupPage, LookupQuery};
use serde_json::{Map, Value, json};

use super::error::CloudTrailError;
use opentrail_core::AppState;
use opentrail_core::context::RequestContext;

/// The default and largest page.
pub const MAX_RESULTS: usize = 50;
const ATTRIBUTE_VALUE_MAX: usize = 2000;
/// How long a lookup waits for the index to catch up with the journal.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(5);

fn invalid_attributes(message: impl Into<String>) -> CloudTrailError {
    CloudTrailError::InvalidLookupAttributes(message.into())
}

/// Reads a `Date` member: epoch seconds (what the SDKs send) or an RFC 3339 string.
pub(super) fn time_ms(input: &Value, key: &str) -> Result<Option<i64>, CloudTrailError> {
    let invalid = || {
        CloudTrailError::InvalidTimeRange(format!(
            "{key} is not a valid time: expected epoch seconds or an ISO 8601 timestamp."
        ))
    };
    let seconds = match input.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number.as_f64().ok_or_else(invalid)?,
        Some(Value::String(text)) => match text.parse::<f64>() {
            Ok(seconds) => seconds,
            Err(_) => {
                return opentrail_model::time::parse_event_time_ms(text)
                    .map(Some)
                    .ok_or_else(invalid);
            }
        },
        Some(_) => return Err(invalid()),
    };
    let ms = (seconds * 1000.0).round();
    #[allow(clippy::cast_precision_loss)]
    if !ms.is_finite() || ms.abs() > i64::MAX as f64 / 2.0 {
        return Err(invalid());
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(Some(ms as i64))
}

/// Checks a LookupEvents request and turns it into a query of the caller's account and region.
pub fn parse_query(ctx: &RequestContext, input: &Value) -> Result<LookupQuery, CloudTrailError> {
    let insight = match input.get("EventCategory") {
        None | Some(Value::Null) => false,
        Some(Value::String(category)) if category == "insight" => true,
        Some(other) => {
            return Err(CloudTrailError::InvalidEventCategory(format!(
                "Event category {} is not valid. The only valid value is insight.",
                other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_owned)
            )));
        }
    };
    let attributes = match input.get("LookupAttributes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(invalid_attributes("LookupAttributes must be a list.")),
    };
    if attributes.len() > 1 {
        return Err(invalid_attributes(
            "You cannot specify more than one lookup attribute. Specify one attribute at a time.",
        ));
    }
    let attribute = match attributes.first() {
        None => None,
        Some(item) => {
            let key_text = item
                .get("AttributeKey")
                .and_then(Value::as_str)
                .unwrap_or("");
            let key = LookupAttributeKey::parse(key_text).ok_or_else(|| {
                invalid_attributes(format!(
                    "Invalid AttributeKey {key_text:?}. Valid keys: {}.",
                    LookupAttributeKey::ALL.map(|key| key.as_str()).join(", ")
                ))
            })?;
            let value = item
                .get("AttributeValue")
                .and_then(Value::as_str)
                .unwrap_or("");
            let length = value.chars().count();
            if length == 0 || length > ATTRIBUTE_VALUE_MAX {
                return Err(invalid_attributes(format!(
                    "AttributeValue of {} must have 1 to {ATTRIBUTE_VALUE_MAX} characters.",
                    key.as_str()
                )));
            }
            if insight
                && !matches!(
                    key,
                    LookupAttributeKey::EventId
                        | LookupAttributeKey::EventName
                        | LookupAttributeKey::EventSource
                )
            {
                return Err(invalid_attributes(format!(
                    "Insights events can be looked up only by EventId, EventName or EventSource, not by {}.",
                    key.as_str()
                )));
            }
            Some((key, value.to_owned()))
        }
    };
    let start_ms = time_ms(input, "StartTime")?;
    let end_ms = time_ms(input, "EndTime")?;
    if let (Some(start), Some(end)) = (start_ms, end_ms)
        && start > end
    {
        return Err(CloudTrailError::InvalidTimeRange(
            "Start time must be earlier than or equal to end time.".into(),
        ));
    }
    let max_results = match input.get("MaxResults") {
        None | Some(Value::Null) => MAX_RESULTS,
        Some(value) => value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=MAX_RESULTS).contains(n))
            .ok_or_else(|| {
                CloudTrailError::InvalidMaxResults(format!(
                    "MaxResults must be between 1 and {MAX_RESULTS}."
                ))
            })?,
    };
    let next_token = match input.get("NextToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) if !token.is_empty() => Some(token.clone()),
        Some(_) => {
            return Err(CloudTrailError::InvalidNextToken(
                "The NextToken is not valid.".into(),
            ));
        }
    };
    Ok(LookupQuery {
        account_id: ctx.account_id.clone(),
        region: ctx.region.clone(),
        attribute,
        start_ms,
        end_ms,
        insight,
        max_results,
        next_token,
    })
}

fn event_to_wire(event: HistoryEvent) -> Value {
    let mut out = Map::new();
    out.insert("EventId".into(), json!(event.event_id));
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            out.insert(key.into(), json!(value));
        }
    };
    put("EventName", event.event_name);
    put("ReadOnly", event.read_only);
    put("AccessKeyId", event.access_key_id);
    #[allow(clippy::cast_precision_loss)]
    let seconds = event.event_time_ms as f64 / 1000.0;
    out.insert("EventTime".into(), json!(seconds));
    if let Some(source) = event.event_source {
        out.insert("EventSource".into(), json!(source));
    }
    if let Some(username) = event.username {
        out.insert("Username".into(), json!(username));
    }
    let resources: Vec<Value> = event
        .resources
        .into_iter()
        .map(|resource| {
            let mut entry = Map::new();
            if let Some(kind) = resource.resource_type {
                entry.insert("ResourceType".into(), json!(kind));
            }
            if let Some(name) = resource.resource_name {
                entry.insert("ResourceName".into(), json!(name));
            }
            Value::Object(entry)
        })
        .collect();
    out.insert("Resources".into(), Value::Array(resources));
    out.insert("CloudTrailEvent".into(), json!(event.cloudtrail_event));
    Value::Object(out)
}

/// The LookupEvents answer for one page.
pub fn page_to_wire(page: LookupPage) -> Value {
    let events: Vec<Value> = page.events.into_iter().map(event_to_wire).collect();
    let mut out = json!({ "Events": events });
    if let Some(token) = page.next_token {
        out["NextToken"] = json!(token);
    }
    out
}

/// LookupEvents.
pub async fn lookup_events(
    state: &Arc<AppState>,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Value, CloudTrailError> {
    let query = parse_query(ctx, input)?;
    if !state.history_caught_up(CATCH_UP_LIMIT).await {
        tracing::warn!("history index is behind the journal; lookup may miss recent events");
    }
    let history = state.history.clone();
    let page = tokio::task::spawn_blocking(move || history.lookup(&query))
        .await
        .map_err(|err| CloudTrailError::Internal(format!("lookup task failed: {err}")))??;
    Ok(page_to_wire(page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentrail_history::HistoryResource;

    fn ctx() -> RequestContext {
        RequestContext::for_tests("eu-west-1")
    }

    fn error_code(input: Value) -> &'static str {
        match parse_query(&ctx(), &input) {
            Ok(_) => "ok",
            Err(err) => err.aws_code(),
        }
    }

    #[test]
    fn a_full_request_becomes_a_scoped_query() {
        let query = parse_query(
            &ctx(),
            &json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateTrail"}],
                    "StartTime": 1_700_000_000, "EndTime": 1_700_000_001.5, "MaxResults": 7, "NextToken": "abc"}),
        )
        .expect("valid");
        assert_eq!(query.account_id, "123456789012");
        assert_eq!(query.region, "eu-west-1");
        assert_eq!(
            query.attribute,
            Some((LookupAttributeKey::EventName, "CreateTrail".into()))
        );
        assert_eq!(query.start_ms, Some(1_700_000_000_000));
        assert_eq!(query.end_ms, Some(1_700_000_001_500));
        assert_eq!(query.max_results, 7);
        assert!(!query.insight);
        assert_eq!(query.next_token.as_deref(), Some("abc"));
        let defaults = parse_query(&ctx(), &json!({})).expect("valid");
        assert_eq!(defaults.max_results, MAX_RESULTS);
        let iso =
            parse_query(&ctx(), &json!({"StartTime": "2023-11-14T22:13:20Z"})).expect("valid");
        assert_eq!(iso.start_ms, Some(1_700_000_000_000));
    }

    #[test]
    fn aws_errors_for_bad_requests() {
        let two = json!({"LookupAttributes": [
            {"AttributeKey": "EventName", "AttributeValue": "a"},
            {"AttributeKey": "Username", "AttributeValue": "b"}]});
        assert_eq!(error_code(two), "InvalidLookupAttributesException");
        assert_eq!(
            error_code(
                json!({"LookupAttributes": [{"AttributeKey": "Nope", "AttributeValue": "a"}]})
            ),
            "InvalidLookupAttributesException"
        );
        assert_eq!(
            error_code(json!({"EventCategory": "insight",
                "LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "a"}]})),
            "InvalidLookupAttributesException"
        );
        assert_eq!(
            error_code(json!({"StartTime": 20, "EndTime": 10})),
            "InvalidTimeRangeException"
        );
        assert_eq!(
            error_code(json!({"StartTime": "yesterday"})),
            "InvalidTimeRangeException"
        );
        assert_eq!(
            error_code(json!({"MaxResults": 0})),
            "InvalidMaxResultsException"
        );
        assert_eq!(
            error_code(json!({"MaxResults": 51})),
            "InvalidMaxResultsException"
        );
        assert_eq!(
            error_code(json!({"EventCategory": "management"})),
            "InvalidEventCategoryException"
        );
        assert_eq!(
            error_code(json!({"NextToken": ""})),
            "InvalidNextTokenException"
        );
        assert_eq!(error_code(json!({"EventCategory": "insight"})), "ok");
    }

    #[test]
    fn events_omit_absent_members() {
        let page = LookupPage {
            events: vec![HistoryEvent {
                event_id: "e1".into(),
                event_name: Some("StopLogging".into()),
                read_only: Some("false".into()),
                access_key_id: None,
                event_time_ms: 1_700_000_000_250,
                event_source: Some("cloudtrail.amazonaws.com".into()),
                username: None,
                resources: vec![HistoryResource {
                    resource_type: Some("AWS::CloudTrail::Trail".into()),
                    resource_name: Some("arn:aws:cloudtrail:eu-west-1:123456789012:trail/t".into()),
                }],
                cloudtrail_event: "{}".into(),
            }],
            next_token: Some("next".into()),
        };
        let wire = page_to_wire(page);
        let event = &wire["Events"][0];
        assert_eq!(event["EventTime"], json!(1_700_000_000.25));
        assert_eq!(event["ReadOnly"], "false");
        assert!(event.get("AccessKeyId").is_none());
        assert!(event.get("Username").is_none());
        assert_eq!(
            event["Resources"][0]["ResourceType"],
            "AWS::CloudTrail::Trail"
        );
        assert_eq!(wire["NextToken"], "next");
    }
}
