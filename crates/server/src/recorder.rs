//! The recorder: every call the server handles becomes one CloudTrail record, appended to the
//! journal before the response is sent.
//!
//! Records follow AWS's field rules: `responseElements` is `null` for read-only calls and empty
//! responses; fields over AWS's size limits are omitted or truncated as AWS does
//! (`requestParameters`/`responseElements` over 100 KB are dropped, `userAgent`, `errorCode`
//! and `errorMessage` are cut at 1 KB, `additionalEventData` over 28 KB is dropped).
//!
//! A call that acts on a resource of another account is written to both accounts, as AWS
//! does ([`build_records`]): the caller's record and a copy for the resource owner, each
//! with its own `eventID` and `recipientAccountId`, and one `sharedEventID` linking them.

use opentrail_model::record::EVENT_VERSION;
use opentrail_model::{EventCategory, Record};
use serde_json::Value;

use opentrail_core::context::{EventDetails, RequestContext};

const ELEMENTS_LIMIT: usize = 100 * 1024;
const SHORT_FIELD_LIMIT: usize = 1024;
const ADDITIONAL_DATA_LIMIT: usize = 28 * 1024;
/// Global services, whose records carry the region AWS serves them from whatever region a
/// client signed for: `(eventSource, awsRegion)`.
const GLOBAL_SERVICES: &[(&str, &str)] = &[("iam.amazonaws.com", "us-east-1")];

/// The journal payload of a record: its compact JSON. Written into a buffer sized for a
/// typical record (~1 KB), so that serializing does not grow it step by step.
pub fn serialize_record(record: &Record) -> Result<Vec<u8>, serde_json::Error> {
    let mut payload = Vec::with_capacity(1536);
    serde_json::to_writer(&mut payload, record)?;
    Ok(payload)
}

/// Builds the records of one call: the caller's record first, then one copy per other account
/// the call is written to ([`EventDetails::other_accounts`]). Copies differ from the caller's
/// record in `eventID` and `recipientAccountId` only; when there are copies, every record
/// carries the same new `sharedEventID`. The caller's record keeps the call's `eventID` (the
/// one its intent names).
pub fn build_records(ctx: &RequestContext, details: EventDetails) -> Vec<Record> {
    let others = details.other_accounts(&ctx.account_id);
    let mut record = build_record(ctx, details);
    if others.is_empty() {
        return vec![record];
    }
    let shared_event_id = opentrail_model::ids::new_event_id();
    record.shared_event_id = Some(shared_event_id.clone());
    let mut records = Vec::with_capacity(1 + others.len());
    for account in others {
        let mut copy = record.clone();
        copy.event_id = opentrail_model::ids::new_event_id();
        copy.recipient_account_id = Some(account);
        records.push(copy);
    }
    records.insert(0, record);
    records
}

/// Builds the record of one call, in the caller's account.
pub fn build_record(ctx: &RequestContext, details: EventDetails) -> Record {
    let category = if details.management {
        EventCategory::Management
    } else {
        EventCategory::Data
    };
    let (error_code, error_message) = match details.error {
        Some((code, message)) => (
            Some(truncate(code, SHORT_FIELD_LIMIT)),
            Some(truncate(message, SHORT_FIELD_LIMIT)),
        ),
        None => (None, None),
    };
    let response_elements = if details.read_only || is_empty_object(&details.response_elements) {
        Some(Value::Null)
    } else {
        details.response_elements
    };
    let aws_region = GLOBAL_SERVICES
        .iter()
        .find(|(source, _)| *source == details.event_source)
        .map_or_else(|| ctx.region.clone(), |(_, region)| (*region).to_owned());
    Record {
        event_version: EVENT_VERSION.to_owned(),
        user_identity: Some(ctx.identity.user_identity()),
        event_time: opentrail_model::time::format_event_time(ctx.time),
        event_source: Some(details.event_source),
        event_name: Some(details.event_name),
        aws_region: details.aws_region.clone().unwrap_or(aws_region),
        source_ip_address: Some(ctx.source_ip.clone()),
        user_agent: ctx
            .user_agent
            .clone()
            .map(|agent| truncate(agent, SHORT_FIELD_LIMIT)),
        error_code,
        error_message,
        request_parameters: Some(limit_elements(details.request_parameters)),
        response_elements: Some(limit_elements(response_elements)),
        additional_event_data: details
            .additional_event_data
            .filter(|data| json_len(data) <= ADDITIONAL_DATA_LIMIT),
        request_id: Some(ctx.request_id.clone()),
        event_id: ctx.event_id.clone(),
        read_only: Some(details.read_only),
        resources: (!details.resources.is_empty()).then_some(details.resources),
        event_type: "AwsApiCall".to_owned(),
        api_version: details.api_version,
        management_event: Some(details.management),
        recipient_account_id: Some(ctx.account_id.clone()),
        event_category: Some(category),
        tls_details: None,
        ..Record::default()
    }
}

fn is_empty_object(value: &Option<Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Object(map)) => map.is_empty(),
        Some(_) => false,
    }
}

fn limit_elements(value: Option<Value>) -> Value {
    match value {
        Some(value) if json_len(&value) <= ELEMENTS_LIMIT => value,
        // AWS omits the content of oversized elements.
        _ => Value::Null,
    }
}

fn json_len(value: &Value) -> usize {
    serde_json::to_vec(value)
        .map(|bytes| bytes.len())
        .unwrap_or(usize::MAX)
}

fn truncate(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> RequestContext {
        RequestContext {
            request_id: "req-1".into(),
            event_id: "e-1".into(),
            user_agent: Some("x".repeat(2000)),
            time: time::OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time"),
            ..RequestContext::for_tests("eu-west-1")
        }
    }

    #[test]
    fn read_only_calls_record_null_response_elements() {
        let mut details = EventDetails::new("cloudtrail.amazonaws.com", "GetTrail", true);
        details.request_parameters = Some(json!({"name": "t"}));
        details.response_elements = Some(json!({"trail": {}}));
        let record = build_record(&ctx(), details);
        assert_eq!(record.response_elements, Some(Value::Null));
        assert_eq!(record.request_parameters, Some(json!({"name": "t"})));
        assert_eq!(record.user_agent.as_deref().map(str::len), Some(1024));
        assert_eq!(record.event_time, "2023-11-14T22:13:20Z");
        assert_eq!(record.aws_region, "eu-west-1");
        assert_eq!(record.event_category, Some(EventCategory::Management));
    }

    #[test]
    fn a_global_service_records_its_own_region() {
        let mut details = EventDetails::new("organizations.amazonaws.com", "CreateAccount", false);
        details.aws_region = Some("us-east-1".into());
        assert_eq!(build_record(&ctx(), details).aws_region, "us-east-1");
    }

    #[test]
    fn oversized_parameters_are_omitted_and_errors_kept() {
        let mut details = EventDetails::new("s3.amazonaws.com", "PutObject", false);
        details.management = false;
        details.request_parameters = Some(json!({"big": "y".repeat(200 * 1024)}));
        details.response_elements = Some(json!({"x-amz-version-id": "1"}));
        details.error = Some(("NoSuchBucket".into(), "gone".into()));
        let record = build_record(&ctx(), details);
        assert_eq!(record.request_parameters, Some(Value::Null));
        assert_eq!(
            record.response_elements,
            Some(json!({"x-amz-version-id": "1"}))
        );
        assert_eq!(record.error_code.as_deref(), Some("NoSuchBucket"));
        assert_eq!(record.event_category, Some(EventCategory::Data));
        assert_eq!(record.management_event, Some(false));
    }

    fn role_of(account: &str) -> opentrail_model::Resource {
        opentrail_model::Resource {
            account_id: Some(account.into()),
            resource_type: Some("AWS::IAM::Role".into()),
            arn: Some(format!("arn:aws:iam::{account}:role/R")),
        }
    }

    #[test]
    fn a_call_on_another_accounts_resource_is_written_to_both_accounts() {
        let ctx = ctx();
        let mut details = EventDetails::new("sts.amazonaws.com", "AssumeRole", false);
        details.resources = vec![role_of("111111111111")];
        let records = build_records(&ctx, details);
        assert_eq!(records.len(), 2);
        let (mine, theirs) = (&records[0], &records[1]);
        assert_eq!(mine.event_id, "e-1");
        assert_eq!(
            mine.recipient_account_id.as_deref(),
            Some(ctx.account_id.as_str())
        );
        assert_eq!(theirs.recipient_account_id.as_deref(), Some("111111111111"));
        assert_ne!(theirs.event_id, mine.event_id);
        let shared = mine.shared_event_id.as_deref().expect("a sharedEventID");
        assert_eq!(theirs.shared_event_id.as_deref(), Some(shared));
        assert_ne!(shared, mine.event_id);
        assert_ne!(shared, theirs.event_id);
        assert_eq!(theirs.user_identity, mine.user_identity);
        assert_eq!(theirs.request_id, mine.request_id);
        assert_eq!(theirs.resources, mine.resources);
    }

    #[test]
    fn a_call_in_the_callers_own_account_has_one_record_and_no_shared_id() {
        let ctx = ctx();
        let mut details = EventDetails::new("sts.amazonaws.com", "AssumeRole", false);
        details.resources = vec![role_of(&ctx.account_id)];
        let records = build_records(&ctx, details.clone());
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].shared_event_id, None);
        details.resources = vec![role_of("111111111111")];
        details.error = Some(("AccessDenied".into(), "no".into()));
        assert_eq!(build_records(&ctx, details).len(), 1);
    }
}
