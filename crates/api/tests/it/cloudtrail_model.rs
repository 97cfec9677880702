//! Validation against the real botocore CloudTrail model (fixtures/cloudtrail-2013-11-01.json).

use opentrail_api::ServiceModel;
use serde_json::json;

const CLOUDTRAIL: &str = include_str!("../fixtures/cloudtrail-2013-11-01.json");

fn model() -> ServiceModel {
    ServiceModel::from_json(CLOUDTRAIL).expect("botocore cloudtrail model parses")
}

fn error_message(operation: &str, input: serde_json::Value) -> String {
    let err = model()
        .validate_input(operation, &input)
        .expect_err("input must be rejected");
    assert_eq!(err.code, "ValidationException");
    assert_eq!(err.status, http::StatusCode::BAD_REQUEST);
    err.message
}

#[test]
fn model_lists_cloudtrail_operations() {
    let model = model();
    let names = model.operation_names();
    for expected in [
        "CreateTrail",
        "LookupEvents",
        "PutEventSelectors",
        "StartLogging",
        "AddTags",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
        assert!(model.has_operation(expected));
    }
    assert!(!model.has_operation("DeleteEverything"));
    assert_eq!(
        model.metadata().target_prefix.as_deref(),
        Some("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101")
    );
}

#[test]
fn valid_requests_pass() {
    let model = model();
    let ok = [
        (
            "CreateTrail",
            json!({"Name": "t", "S3BucketName": "b", "IsMultiRegionTrail": true}),
        ),
        ("LookupEvents", json!({})),
        (
            "LookupEvents",
            json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}],
                   "StartTime": 1_700_000_000, "EndTime": "2025-03-14T15:09:26Z", "MaxResults": 50}),
        ),
        (
            "GetTrailStatus",
            json!({"Name": "t", "SomethingNew": [1, 2]}),
        ),
    ];
    for (operation, input) in ok {
        assert_eq!(
            model.validate_input(operation, &input),
            Ok(()),
            "{operation} {input}"
        );
    }
}

#[test]
fn required_members() {
    assert_eq!(
        error_message("CreateTrail", json!({})),
        "2 validation errors detected: Value null at 'name' failed to satisfy constraint: Member must not be null; Value null at 's3BucketName' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        error_message("GetTrailStatus", json!({"Name": null})),
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn lookup_events_constraints() {
    assert_eq!(
        error_message("LookupEvents", json!({"MaxResults": 0})),
        "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
    assert_eq!(
        error_message("LookupEvents", json!({"MaxResults": 51})),
        "1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50"
    );
    assert_eq!(
        error_message(
            "LookupEvents",
            json!({"LookupAttributes": [{"AttributeKey": "Nope", "AttributeValue": ""}]})
        ),
        "2 validation errors detected: Value 'Nope' at 'lookupAttributes.1.member.attributeKey' failed to satisfy constraint: Member must satisfy enum value set: [EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId]; Value '' at 'lookupAttributes.1.member.attributeValue' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    assert_eq!(
        error_message(
            "LookupEvents",
            json!({"LookupAttributes": [{"AttributeKey": "EventName"}]})
        ),
        "1 validation error detected: Value null at 'lookupAttributes.1.member.attributeValue' failed to satisfy constraint: Member must not be null"
    );
    let long_value = "x".repeat(2001);
    let message = error_message(
        "LookupEvents",
        json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": long_value}]}),
    );
    assert!(
        message.ends_with("Member must have length less than or equal to 2000"),
        "{message}"
    );
}

#[test]
fn type_errors_are_serialization_exceptions() {
    let model = model();
    for (operation, input) in [
        ("LookupEvents", json!({"MaxResults": "5"})),
        ("LookupEvents", json!({"StartTime": true})),
        (
            "LookupEvents",
            json!({"LookupAttributes": {"AttributeKey": "EventName"}}),
        ),
        (
            "CreateTrail",
            json!({"Name": "t", "S3BucketName": "b", "IsMultiRegionTrail": "yes"}),
        ),
        ("CreateTrail", json!({"Name": ["t"], "S3BucketName": "b"})),
    ] {
        let err = model
            .validate_input(operation, &input)
            .expect_err("type mismatch");
        assert_eq!(err.code, "SerializationException", "{operation} {input}");
    }
}

#[test]
fn tag_list_limits() {
    let tags: Vec<serde_json::Value> = (0..201).map(|i| json!({"Key": format!("k{i}")})).collect();
    let message = error_message(
        "CreateTrail",
        json!({"Name": "t", "S3BucketName": "b", "TagsList": tags}),
    );
    assert!(
        message.starts_with("1 validation error detected: Value '[")
            && message.ends_with("at 'tagsList' failed to satisfy constraint: Member must have length less than or equal to 200"),
        "{message}"
    );
    let message = error_message(
        "CreateTrail",
        json!({"Name": "t", "S3BucketName": "b", "TagsList": [{"Value": "v"}]}),
    );
    assert_eq!(
        message,
        "1 validation error detected: Value null at 'tagsList.1.member.key' failed to satisfy constraint: Member must not be null"
    );
}
