//! CloudTrail record shaping (`requestParameters`, `responseElements`) against the embedded
//! botocore models: member names lowerCamel, map keys and every value as sent.

use opentrail_api::models::model;
use opentrail_api::{EmbeddedModel, Side, lower_first};
use serde_json::{Value, json};

fn input(service: EmbeddedModel, operation: &str, value: Value) -> Value {
    model(service).record_elements(operation, Side::Input, &value)
}

fn output(service: EmbeddedModel, operation: &str, value: Value) -> Value {
    model(service).record_elements(operation, Side::Output, &value)
}

#[test]
fn lower_first_lowers_only_the_first_character() {
    assert_eq!(lower_first("TrailName"), "trailName");
    assert_eq!(lower_first("TrailARN"), "trailARN");
    assert_eq!(lower_first("S3BucketName"), "s3BucketName");
    assert_eq!(lower_first("tags"), "tags");
    assert_eq!(lower_first("Éclair"), "éclair");
    assert_eq!(lower_first(""), "");
}

#[test]
fn logs_tags_map_keys_are_kept() {
    assert_eq!(
        input(
            EmbeddedModel::Logs,
            "CreateLogGroup",
            json!({"LogGroupName": "g", "Tags": {"StratusRedTeam": "true"}})
        ),
        json!({"logGroupName": "g", "tags": {"StratusRedTeam": "true"}})
    );
    // The JSON clients already send lowerCamel member names; the value is unchanged.
    assert_eq!(
        input(
            EmbeddedModel::Logs,
            "CreateLogGroup",
            json!({"logGroupName": "g", "tags": {"StratusRedTeam": "true"}})
        ),
        json!({"logGroupName": "g", "tags": {"StratusRedTeam": "true"}})
    );
}

#[test]
fn cloudtrail_structures_in_lists_are_lowered() {
    assert_eq!(
        input(
            EmbeddedModel::Cloudtrail,
            "AddTags",
            json!({"ResourceId": "arn:aws:cloudtrail:us-east-1:1:trail/T",
                   "TagsList": [{"Key": "K", "Value": "V"}]})
        ),
        json!({"resourceId": "arn:aws:cloudtrail:us-east-1:1:trail/T",
               "tagsList": [{"key": "K", "value": "V"}]})
    );
    assert_eq!(
        output(
            EmbeddedModel::Cloudtrail,
            "CreateTrail",
            json!({"Name": "T", "S3BucketName": "B", "TrailARN": "arn:T", "IsMultiRegionTrail": true})
        ),
        json!({"name": "T", "s3BucketName": "B", "trailARN": "arn:T", "isMultiRegionTrail": true})
    );
}

#[test]
fn sqs_attribute_and_tag_maps_are_kept() {
    assert_eq!(
        input(
            EmbeddedModel::Sqs,
            "CreateQueue",
            json!({"QueueName": "q", "Attributes": {"VisibilityTimeout": "30"},
                   "tags": {"Team": "Blue"}})
        ),
        json!({"queueName": "q", "attributes": {"VisibilityTimeout": "30"},
               "tags": {"Team": "Blue"}})
    );
    assert_eq!(
        input(
            EmbeddedModel::Sqs,
            "SendMessage",
            json!({"QueueUrl": "https://q", "MessageBody": "Hello",
                   "MessageAttributes": {"TraceId": {"DataType": "String", "StringValue": "Abc"}}})
        ),
        json!({"queueUrl": "https://q", "messageBody": "Hello",
               "messageAttributes": {"TraceId": {"dataType": "String", "stringValue": "Abc"}}})
    );
}

#[test]
fn events_entries_are_lowered_and_detail_kept() {
    assert_eq!(
        input(
            EmbeddedModel::Events,
            "PutEvents",
            json!({"Entries": [{"Source": "My.App", "DetailType": "Thing",
                                "Detail": "{\"Key\":\"V\"}", "Resources": ["arn:X"]}]})
        ),
        json!({"entries": [{"source": "My.App", "detailType": "Thing",
                            "detail": "{\"Key\":\"V\"}", "resources": ["arn:X"]}]})
    );
    assert_eq!(
        output(
            EmbeddedModel::Events,
            "PutEvents",
            json!({"FailedEntryCount": 0, "Entries": [{"EventId": "E-1"}]})
        ),
        json!({"failedEntryCount": 0, "entries": [{"eventId": "E-1"}]})
    );
}

#[test]
fn sns_attributes_map_and_tag_list() {
    assert_eq!(
        input(
            EmbeddedModel::Sns,
            "CreateTopic",
            json!({"Name": "T", "Attributes": {"DisplayName": "Shown"},
                   "Tags": [{"Key": "Team", "Value": "Blue"}]})
        ),
        json!({"name": "T", "attributes": {"DisplayName": "Shown"},
               "tags": [{"key": "Team", "value": "Blue"}]})
    );
}

#[test]
fn monitoring_and_cloudtrail_data() {
    assert_eq!(
        input(
            EmbeddedModel::Monitoring,
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [{"MetricName": "Latency",
                   "Dimensions": [{"Name": "Host", "Value": "A"}], "Value": 1.5}]})
        ),
        json!({"namespace": "App", "metricData": [{"metricName": "Latency",
               "dimensions": [{"name": "Host", "value": "A"}], "value": 1.5}]})
    );
    let audit = json!({"channelArn": "arn:C", "auditEvents": [{"id": "1", "eventData": "{}"}]});
    assert_eq!(
        input(
            EmbeddedModel::CloudtrailData,
            "PutAuditEvents",
            audit.clone()
        ),
        audit
    );
}

#[test]
fn what_the_model_does_not_describe_is_kept_below_its_key() {
    // An unknown member: its key lowered, everything under it verbatim.
    assert_eq!(
        input(
            EmbeddedModel::Logs,
            "CreateLogGroup",
            json!({"LogGroupName": "g", "Extra": {"Inner": {"Deep": [{"Key": 1}]}}})
        ),
        json!({"logGroupName": "g", "extra": {"Inner": {"Deep": [{"Key": 1}]}}})
    );
    // An unknown operation, and a side the operation has no shape for: the same.
    assert_eq!(
        input(
            EmbeddedModel::Logs,
            "NoSuchOperation",
            json!({"Foo": {"Bar": 1}})
        ),
        json!({"foo": {"Bar": 1}})
    );
    assert_eq!(
        output(
            EmbeddedModel::Logs,
            "DeleteLogGroup",
            json!({"Foo": {"Bar": 1}})
        ),
        json!({"foo": {"Bar": 1}})
    );
    // Values that do not fit their shape, and non-objects, are kept.
    assert_eq!(
        input(
            EmbeddedModel::Logs,
            "CreateLogGroup",
            json!({"Tags": "NotAMap", "LogGroupName": ["G"]})
        ),
        json!({"tags": "NotAMap", "logGroupName": ["G"]})
    );
    assert_eq!(
        input(EmbeddedModel::Logs, "CreateLogGroup", json!(["X"])),
        json!(["X"])
    );
    assert_eq!(
        input(EmbeddedModel::Logs, "CreateLogGroup", Value::Null),
        Value::Null
    );
}
