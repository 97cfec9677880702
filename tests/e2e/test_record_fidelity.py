"""Records keep map keys and values exactly as sent: `requestParameters` and
`responseElements` are shaped by each service's botocore model (structure members in
lowerCamelCase, map keys and every value untouched), through the real boto3 clients."""

import json

from conftest import create_trail_bucket


def record(server, event_name, **match):
    """The CloudTrail record of the newest `event_name` call whose requestParameters hold
    every `match` item."""
    for event in server.lookup(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": event_name}]
    ):
        body = json.loads(event["CloudTrailEvent"])
        params = body.get("requestParameters") or {}
        if all(params.get(key) == value for key, value in match.items()):
            return body
    raise AssertionError(f"no {event_name} record with {match}")


def test_map_keys_survive_in_records_of_every_model_driven_service(server):
    logs = server.client("logs")
    logs.create_log_group(
        logGroupName="fidelity", tags={"StratusRedTeam": "true", "cost-Center": "A.b"}
    )
    params = record(server, "CreateLogGroup", logGroupName="fidelity")["requestParameters"]
    assert params["tags"] == {"StratusRedTeam": "true", "cost-Center": "A.b"}

    sqs = server.client("sqs")
    sqs.create_queue(
        QueueName="fidelity",
        Attributes={"VisibilityTimeout": "45", "DelaySeconds": "1"},
        tags={"Owner-Team": "Blue"},
    )
    params = record(server, "CreateQueue", queueName="fidelity")["requestParameters"]
    assert params["attributes"] == {"VisibilityTimeout": "45", "DelaySeconds": "1"}
    assert params["tags"] == {"Owner-Team": "Blue"}

    cloudtrail = server.client("cloudtrail")
    create_trail_bucket(server.client("s3"), "fidelity-logs")
    cloudtrail.create_trail(
        Name="fidelity",
        S3BucketName="fidelity-logs",
        TagsList=[{"Key": "Env", "Value": "Prod"}],
    )
    created = record(server, "CreateTrail", name="fidelity")
    assert created["requestParameters"]["tagsList"] == [{"key": "Env", "value": "Prod"}]
    assert created["responseElements"]["s3BucketName"] == "fidelity-logs"
    assert created["responseElements"]["trailARN"].endswith(":trail/fidelity")

    events = server.client("events")
    events.put_rule(
        Name="fidelity", EventPattern=json.dumps({"source": ["my.App"]}), Tags=[{"Key": "K", "Value": "V"}]
    )
    params = record(server, "PutRule", name="fidelity")["requestParameters"]
    assert params["tags"] == [{"key": "K", "value": "V"}]
    assert json.loads(params["eventPattern"]) == {"source": ["my.App"]}

    cloudwatch = server.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="fidelity",
        Namespace="App",
        MetricName="Errors",
        Dimensions=[{"Name": "Service-Name", "Value": "Checkout"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    params = record(server, "PutMetricAlarm", alarmName="fidelity")["requestParameters"]
    assert params["dimensions"] == [{"name": "Service-Name", "value": "Checkout"}]

    sns = server.client("sns")
    sns.create_topic(Name="fidelity", Attributes={"DisplayName": "Fidelity"})
    params = record(server, "CreateTopic", name="fidelity")["requestParameters"]
    assert params["attributes"] == {"DisplayName": "Fidelity"}
