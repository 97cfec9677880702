"""CloudWatch Logs subscription filters end to end with boto3: an SQS queue and an EventBridge
bus as destinations, the control message, AWS's DATA_MESSAGE payload with exactly the events
the pattern matches, one message per PutLogEvents call and stream, trail records reaching a
subscription, deliveries across `kill -9`, Describe/Delete, the quota of two and AWS errors."""

import json
import time

from conftest import ACCOUNT_ID, create_trail_bucket, error_of, now_ms

CONTROL_TEXT = "CWL CONTROL MESSAGE: Checking health of destination"
ERROR_MISSING_DESTINATION = (
    "Could not deliver test message to specified destination. Check if the destination is valid."
)


def make_queue(server, name):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, url, arn


def receive(sqs, url, count, timeout=10.0):
    """Up to `count` message bodies (parsed JSON), waiting at most `timeout` seconds."""
    got = []
    deadline = time.monotonic() + timeout
    for _ in range(100):
        if len(got) >= count or time.monotonic() >= deadline:
            break
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, count - len(got)), WaitTimeSeconds=1)
        for message in page.get("Messages", []):
            got.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return got


def receive_data(sqs, url, count, timeout=10.0):
    """Up to `count` DATA_MESSAGE payloads; control messages are skipped."""
    out = []
    deadline = time.monotonic() + timeout
    for _ in range(100):
        if len(out) >= count or time.monotonic() >= deadline:
            break
        left = max(0.5, deadline - time.monotonic())
        out.extend(body for body in receive(sqs, url, count - len(out), timeout=left)
                   if body["messageType"] == "DATA_MESSAGE")
    return out


def make_stream(logs, group="app", stream="s1"):
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)


def test_sqs_destination_gets_the_control_message_then_exactly_the_matching_events(server):
    logs = server.client("logs")
    sqs, url, arn = make_queue(server, "subscribed")
    make_stream(logs)
    logs.put_subscription_filter(logGroupName="app", filterName="errors", filterPattern="ERROR", destinationArn=arn)

    control = receive(sqs, url, 1)
    assert len(control) == 1
    assert control[0]["messageType"] == "CONTROL_MESSAGE"
    assert control[0]["owner"] == "CloudwatchLogs"
    assert control[0]["logEvents"][0]["message"].startswith(CONTROL_TEXT)

    base = now_ms() - 1000
    logs.put_log_events(logGroupName="app", logStreamName="s1", logEvents=[
        {"timestamp": base, "message": "ERROR disk full"},
        {"timestamp": base + 1, "message": "all good"},
        {"timestamp": base + 2, "message": "ERROR again"},
        {"timestamp": base + 3, "message": "error in lower case does not match"},
    ])
    # One PutLogEvents call, one stream: one message carrying both matching events.
    messages = receive(sqs, url, 2, timeout=4)
    assert len(messages) == 1, messages
    payload = messages[0]
    assert payload["messageType"] == "DATA_MESSAGE"
    assert payload["owner"] == ACCOUNT_ID
    assert payload["logGroup"] == "app"
    assert payload["logStream"] == "s1"
    assert payload["subscriptionFilters"] == ["errors"]
    assert [(e["timestamp"], e["message"]) for e in payload["logEvents"]] == [
        (base, "ERROR disk full"), (base + 2, "ERROR again")]
    # The ids are the events' ids, as FilterLogEvents shows them.
    stored = logs.filter_log_events(logGroupName="app", filterPattern="ERROR")["events"]
    assert [e["id"] for e in payload["logEvents"]] == [e["eventId"] for e in stored]

    logs.put_log_events(logGroupName="app", logStreamName="s1",
                        logEvents=[{"timestamp": base + 10, "message": "nothing to see"}])
    logs.put_log_events(logGroupName="app", logStreamName="s1",
                        logEvents=[{"timestamp": base + 11, "message": "ERROR third"}])
    messages = receive(sqs, url, 2, timeout=4)
    assert [[e["message"] for e in m["logEvents"]] for m in messages] == [["ERROR third"]]

    # After DeleteSubscriptionFilter nothing more is sent.
    logs.delete_subscription_filter(logGroupName="app", filterName="errors")
    logs.put_log_events(logGroupName="app", logStreamName="s1",
                        logEvents=[{"timestamp": base + 12, "message": "ERROR unsubscribed"}])
    assert receive(sqs, url, 1, timeout=2) == []


def test_describe_update_delete_quota_and_errors(server):
    logs = server.client("logs")
    sqs, url, arn = make_queue(server, "dest")
    logs.create_log_group(logGroupName="g")
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/logs-to-sqs"
    logs.put_subscription_filter(logGroupName="g", filterName="b-second", filterPattern="",
                                 destinationArn=arn, roleArn=role, distribution="Random")
    logs.put_subscription_filter(logGroupName="g", filterName="a-first", filterPattern="{ $.level = \"error\" }",
                                 destinationArn=arn)
    filters = logs.describe_subscription_filters(logGroupName="g")["subscriptionFilters"]
    assert [f["filterName"] for f in filters] == ["a-first", "b-second"]
    first, second = filters
    assert first["logGroupName"] == "g"
    assert first["filterPattern"] == "{ $.level = \"error\" }"
    assert first["destinationArn"] == arn
    assert first["distribution"] == "ByLogStream"
    assert "roleArn" not in first
    assert second["roleArn"] == role and second["distribution"] == "Random"
    assert abs(second["creationTime"] - now_ms()) < 60_000

    # A put on an existing name updates it and keeps its creation time; a third is refused.
    logs.put_subscription_filter(logGroupName="g", filterName="b-second", filterPattern="WARN", destinationArn=arn)
    updated = logs.describe_subscription_filters(logGroupName="g", filterNamePrefix="b")["subscriptionFilters"]
    assert [(f["filterName"], f["filterPattern"], f["distribution"]) for f in updated] == [("b-second", "WARN", "ByLogStream")]
    assert updated[0]["creationTime"] == second["creationTime"]
    err = error_of(lambda: logs.put_subscription_filter(logGroupName="g", filterName="c-third", filterPattern="",
                                                        destinationArn=arn))
    assert err == {"Code": "LimitExceededException", "Message": "Resource limit exceeded."}

    page = logs.describe_subscription_filters(logGroupName="g", limit=1)
    assert [f["filterName"] for f in page["subscriptionFilters"]] == ["a-first"]
    rest = logs.describe_subscription_filters(logGroupName="g", limit=1, nextToken=page["nextToken"])
    assert [f["filterName"] for f in rest["subscriptionFilters"]] == ["b-second"]
    assert "nextToken" not in rest
    assert logs.describe_subscription_filters(logGroupName="g", filterNamePrefix="zzz")["subscriptionFilters"] == []

    missing_group = {"Code": "ResourceNotFoundException", "Message": "The specified log group does not exist."}
    assert error_of(lambda: logs.describe_subscription_filters(logGroupName="nope")) == missing_group
    assert error_of(lambda: logs.put_subscription_filter(logGroupName="nope", filterName="f", filterPattern="",
                                                         destinationArn=arn)) == missing_group
    assert error_of(lambda: logs.delete_subscription_filter(logGroupName="nope", filterName="f")) == missing_group
    assert error_of(lambda: logs.delete_subscription_filter(logGroupName="g", filterName="c-third")) == {
        "Code": "ResourceNotFoundException", "Message": "The specified subscription filter does not exist."}

    # The pattern goes through the same engine as metric filters, with the same message.
    logs.create_log_group(logGroupName="other")
    bad_pattern = "{ $.level = "
    metric_err = error_of(lambda: logs.put_metric_filter(
        logGroupName="other", filterName="m", filterPattern=bad_pattern,
        metricTransformations=[{"metricName": "M", "metricNamespace": "N", "metricValue": "1"}]))
    sub_err = error_of(lambda: logs.put_subscription_filter(logGroupName="other", filterName="s",
                                                            filterPattern=bad_pattern, destinationArn=arn))
    assert sub_err["Code"] == "InvalidParameterException"
    assert sub_err == metric_err
    err = error_of(lambda: logs.put_subscription_filter(logGroupName="other", filterName="a:b", filterPattern="",
                                                        destinationArn=arn))
    assert err["Code"] == "InvalidParameterException" and "regular expression pattern: [^:*]*" in err["Message"]
    err = error_of(lambda: logs.put_subscription_filter(logGroupName="other", filterName="s", filterPattern="",
                                                        destinationArn=arn, distribution="Sideways"))
    assert err["Code"] == "InvalidParameterException" and "enum value set" in err["Message"]

    for unsupported in [f"arn:aws:kinesis:us-east-1:{ACCOUNT_ID}:stream/s",
                        f"arn:aws:firehose:us-east-1:{ACCOUNT_ID}:deliverystream/d",
                        f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:f",
                        f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:destination:d"]:
        err = error_of(lambda: logs.put_subscription_filter(logGroupName="other", filterName="s", filterPattern="",
                                                            destinationArn=unsupported))
        assert err["Code"] == "InvalidParameterException", unsupported
        assert "not supported by this server" in err["Message"], err
    for missing in [f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:no-such-queue",
                    f"arn:aws:events:us-east-1:{ACCOUNT_ID}:event-bus/no-such-bus"]:
        err = error_of(lambda: logs.put_subscription_filter(logGroupName="other", filterName="s", filterPattern="",
                                                            destinationArn=missing))
        assert err == {"Code": "InvalidParameterException", "Message": ERROR_MISSING_DESTINATION}, missing
    # Refused puts store nothing.
    assert logs.describe_subscription_filters(logGroupName="other")["subscriptionFilters"] == []

    # Deleting the group removes its filters.
    logs.delete_log_group(logGroupName="g")
    logs.create_log_group(logGroupName="g")
    assert logs.describe_subscription_filters(logGroupName="g")["subscriptionFilters"] == []


def test_bus_destination_reaches_a_rule_target(server):
    events = server.client("events")
    logs = server.client("logs")
    sqs, url, queue_arn = make_queue(server, "from-bus")
    bus_arn = events.create_event_bus(Name="log-bus")["EventBusArn"]
    events.put_rule(Name="log-data", EventBusName="log-bus", EventPattern=json.dumps(
        {"source": ["aws.logs"], "detail": {"messageType": ["DATA_MESSAGE"]}}))
    events.put_targets(Rule="log-data", EventBusName="log-bus", Targets=[{"Id": "q", "Arn": queue_arn}])
    make_stream(logs, group="/svc/api", stream="web-1")
    logs.put_subscription_filter(logGroupName="/svc/api", filterName="to-bus",
                                 filterPattern='{ $.status = 500 }', destinationArn=bus_arn)
    base = now_ms() - 1000
    logs.put_log_events(logGroupName="/svc/api", logStreamName="web-1", logEvents=[
        {"timestamp": base, "message": json.dumps({"status": 200, "path": "/ok"})},
        {"timestamp": base + 1, "message": json.dumps({"status": 500, "path": "/boom"})},
    ])
    got = receive(sqs, url, 1)
    assert len(got) == 1, got
    event = got[0]
    assert event["source"] == "aws.logs"
    assert event["detail-type"] == "CloudWatch Logs subscription"
    assert event["account"] == ACCOUNT_ID and event["region"] == "us-east-1"
    assert event["resources"] == [f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:/svc/api"]
    detail = event["detail"]
    assert detail["messageType"] == "DATA_MESSAGE"
    assert detail["logGroup"] == "/svc/api" and detail["logStream"] == "web-1"
    assert detail["subscriptionFilters"] == ["to-bus"]
    assert [json.loads(e["message"])["path"] for e in detail["logEvents"]] == ["/boom"]
    # The control message went to the bus too, but this rule takes only data.
    assert receive(sqs, url, 1, timeout=2) == []


def test_trail_records_reach_the_subscription(server):
    s3 = server.client("s3")
    create_trail_bucket(s3, "trail-bucket")
    logs = server.client("logs")
    sqs, url, arn = make_queue(server, "trail-subscribed")
    logs.create_log_group(logGroupName="CloudTrail/logs")
    logs.put_subscription_filter(logGroupName="CloudTrail/logs", filterName="buckets",
                                 filterPattern='{ $.eventName = "CreateBucket" }', destinationArn=arn)
    ct = server.client("cloudtrail")
    ct.create_trail(Name="to-logs", S3BucketName="trail-bucket",
                    CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:CloudTrail/logs:*",
                    CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/CloudTrail_CloudWatchLogs_Role")
    ct.start_logging(Name="to-logs")
    s3.create_bucket(Bucket="after-logging-started")
    payloads = receive_data(sqs, url, 1, timeout=15)
    assert len(payloads) == 1, payloads
    payload = payloads[0]
    assert payload["logGroup"] == "CloudTrail/logs"
    assert payload["logStream"] == f"{ACCOUNT_ID}_CloudTrail_us-east-1"
    assert payload["subscriptionFilters"] == ["buckets"]
    records = [json.loads(e["message"]) for e in payload["logEvents"]]
    assert [r["eventName"] for r in records] == ["CreateBucket"]
    assert records[0]["requestParameters"]["bucketName"] == "after-logging-started"


def test_matching_events_are_delivered_across_kill_9(new_server):
    server = new_server().start()
    logs = server.client("logs")
    sqs, url, arn = make_queue(server, "durable")
    make_stream(logs)
    logs.put_subscription_filter(logGroupName="app", filterName="all", filterPattern="keep", destinationArn=arn)
    base = now_ms() - 1000
    for i in range(20):
        logs.put_log_events(logGroupName="app", logStreamName="s1", logEvents=[
            {"timestamp": base + i, "message": f"keep {i}"},
            {"timestamp": base + i, "message": f"drop {i}"},
        ])
    server.kill9()
    restarted = new_server(server.data_dir).start()
    sqs = restarted.client("sqs")
    url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
    expected = {f"keep {i}" for i in range(20)}
    delivered = set()
    deadline = time.monotonic() + 15
    for _ in range(50):
        if delivered >= expected or time.monotonic() >= deadline:
            break
        for payload in receive_data(sqs, url, 10, timeout=2):
            delivered.update(e["message"] for e in payload["logEvents"])
    # At least once: every acknowledged matching event, nothing that did not match.
    assert delivered == expected
