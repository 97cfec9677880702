"""CloudWatch Logs end to end with boto3 and the real `aws` CLI: log groups and streams,
PutLogEvents batch rules and rejections, GetLogEvents paging, FilterLogEvents with term and
JSON patterns, metric filters and TestMetricFilter, a trail sending its records to a log
group, durability across `kill -9`, and AWS errors."""

import json
import time

import botocore.exceptions

from conftest import ACCOUNT_ID, create_trail_bucket, error_of, now_ms, wait_for

DAY_MS = 24 * 3600 * 1000


def make_stream(logs, group="app", stream="s1"):
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)


def test_groups_and_streams_lifecycle(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName="/app/web", tags={"team": "a"})
    logs.create_log_group(logGroupName="/app/worker")
    logs.create_log_group(logGroupName="/other")
    assert error_of(lambda: logs.create_log_group(logGroupName="/other"))["Code"] == "ResourceAlreadyExistsException"

    groups = logs.describe_log_groups(logGroupNamePrefix="/app")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/app/web", "/app/worker"]
    web = groups[0]
    assert web["arn"] == f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:/app/web:*"
    assert web["logGroupArn"] == f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:/app/web"
    assert "retentionInDays" not in web

    page = logs.describe_log_groups(limit=2)
    assert len(page["logGroups"]) == 2 and "nextToken" in page
    rest = logs.describe_log_groups(limit=2, nextToken=page["nextToken"])
    assert [g["logGroupName"] for g in rest["logGroups"]] == ["/other"]
    assert "nextToken" not in rest
    pattern = logs.describe_log_groups(logGroupNamePattern="WORK")["logGroups"]
    assert [g["logGroupName"] for g in pattern] == ["/app/worker"]

    logs.put_retention_policy(logGroupName="/app/web", retentionInDays=7)
    assert logs.describe_log_groups(logGroupNamePrefix="/app/web")["logGroups"][0]["retentionInDays"] == 7
    bad = error_of(lambda: logs.put_retention_policy(logGroupName="/app/web", retentionInDays=2))
    assert bad["Code"] == "InvalidParameterException"
    assert "enum value set" in bad["Message"]
    logs.delete_retention_policy(logGroupName="/app/web")
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix="/app/web")["logGroups"][0]

    key = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    logs.associate_kms_key(logGroupName="/app/web", kmsKeyId=key)
    assert logs.describe_log_groups(logGroupNamePrefix="/app/web")["logGroups"][0]["kmsKeyId"] == key
    logs.disassociate_kms_key(logGroupName="/app/web")
    assert "kmsKeyId" not in logs.describe_log_groups(logGroupNamePrefix="/app/web")["logGroups"][0]

    logs.tag_log_group(logGroupName="/app/web", tags={"env": "dev"})
    assert logs.list_tags_log_group(logGroupName="/app/web")["tags"] == {"team": "a", "env": "dev"}
    logs.untag_log_group(logGroupName="/app/web", tags=["team"])
    arn = web["logGroupArn"]
    logs.tag_resource(resourceArn=arn, tags={"k": "v"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "dev", "k": "v"}
    logs.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"k": "v"}

    for name in ["b", "a", "c"]:
        logs.create_log_stream(logGroupName="/app/web", logStreamName=name)
    assert error_of(lambda: logs.create_log_stream(logGroupName="/app/web", logStreamName="a"))["Code"] == "ResourceAlreadyExistsException"
    streams = logs.describe_log_streams(logGroupName="/app/web", limit=2)
    assert [s["logStreamName"] for s in streams["logStreams"]] == ["a", "b"]
    more = logs.describe_log_streams(logGroupName="/app/web", limit=2, nextToken=streams["nextToken"])
    assert [s["logStreamName"] for s in more["logStreams"]] == ["c"]
    assert more["logStreams"][0]["arn"] == f"{arn}:log-stream:c"
    logs.put_log_events(logGroupName="/app/web", logStreamName="a", logEvents=[{"timestamp": now_ms(), "message": "x"}])
    by_time = logs.describe_log_streams(logGroupName="/app/web", orderBy="LastEventTime", descending=True)
    assert by_time["logStreams"][0]["logStreamName"] == "a"
    assert "lastEventTimestamp" in by_time["logStreams"][0]
    err = error_of(lambda: logs.describe_log_streams(logGroupName="/app/web", orderBy="LastEventTime", logStreamNamePrefix="a"))
    assert err["Message"] == "Cannot order by LastEventTime with a logStreamNamePrefix."

    logs.delete_log_stream(logGroupName="/app/web", logStreamName="b")
    assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="/app/web")["logStreams"]] == ["a", "c"]
    logs.delete_log_group(logGroupName="/app/web")
    err = error_of(lambda: logs.describe_log_streams(logGroupName="/app/web"))
    assert err == {"Code": "ResourceNotFoundException", "Message": "The specified log group does not exist."}
    # A group created again starts empty.
    make_stream(logs, "/app/web", "a")
    assert logs.get_log_events(logGroupName="/app/web", logStreamName="a")["events"] == []

    # The real aws CLI speaks the same protocol.
    out = server.aws("logs", "describe-log-groups", "--log-group-name-prefix", "/app")
    assert [g["logGroupName"] for g in out["logGroups"]] == ["/app/web", "/app/worker"]


def test_put_log_events_rules_and_rejections(server):
    logs = server.client("logs")
    make_stream(logs)
    now = now_ms()
    result = logs.put_log_events(
        logGroupName="app",
        logStreamName="s1",
        logEvents=[
            {"timestamp": now - 15 * DAY_MS, "message": "too old"},
            {"timestamp": now - 1000, "message": "kept 1"},
            {"timestamp": now, "message": "kept 2"},
            {"timestamp": now + 3 * 3600 * 1000, "message": "too new"},
        ],
    )
    assert result["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0, "tooNewLogEventStartIndex": 3}
    assert len(result["nextSequenceToken"]) == 56
    messages = [e["message"] for e in logs.get_log_events(logGroupName="app", logStreamName="s1")["events"]]
    assert messages == ["kept 1", "kept 2"]

    err = error_of(lambda: logs.put_log_events(logGroupName="app", logStreamName="s1", logEvents=[
        {"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}]))
    assert err == {"Code": "InvalidParameterException",
                   "Message": "Log events in a single PutLogEvents request must be in chronological order."}
    err = error_of(lambda: logs.put_log_events(logGroupName="app", logStreamName="s1", logEvents=[
        {"timestamp": now - DAY_MS - 60_000, "message": "a"}, {"timestamp": now, "message": "b"}]))
    assert err["Code"] == "InvalidParameterException" and "24 hours" in err["Message"]
    big = "x" * (1_048_576 // 2)
    err = error_of(lambda: logs.put_log_events(logGroupName="app", logStreamName="s1", logEvents=[
        {"timestamp": now, "message": big}, {"timestamp": now, "message": big}]))
    assert err["Code"] == "InvalidParameterException" and "exceeds limit of 1048576" in err["Message"]
    err = error_of(lambda: logs.put_log_events(logGroupName="app", logStreamName="s1",
                                               logEvents=[{"timestamp": now, "message": "m"}] * 10001))
    assert err["Code"] == "InvalidParameterException" and "10000" in err["Message"]
    err = error_of(lambda: logs.put_log_events(logGroupName="app", logStreamName="nope",
                                               logEvents=[{"timestamp": now, "message": "m"}]))
    assert err == {"Code": "ResourceNotFoundException", "Message": "The specified log stream does not exist."}
    # The sequence token is ignored, as AWS does now.
    logs.put_log_events(logGroupName="app", logStreamName="s1", sequenceToken="1" * 56,
                        logEvents=[{"timestamp": now, "message": "kept 3"}])
    assert len(logs.get_log_events(logGroupName="app", logStreamName="s1")["events"]) == 3


def test_get_log_events_paging(server):
    logs = server.client("logs")
    make_stream(logs)
    base = now_ms() - 60_000
    logs.put_log_events(logGroupName="app", logStreamName="s1",
                        logEvents=[{"timestamp": base + i, "message": str(i)} for i in range(25)])

    tail = logs.get_log_events(logGroupName="app", logStreamName="s1", limit=10)
    assert [e["message"] for e in tail["events"]] == [str(i) for i in range(15, 25)]
    older = logs.get_log_events(logGroupName="app", logStreamName="s1", limit=10, nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in older["events"]] == [str(i) for i in range(5, 15)]
    oldest = logs.get_log_events(logGroupName="app", logStreamName="s1", limit=10, nextToken=older["nextBackwardToken"])
    assert [e["message"] for e in oldest["events"]] == [str(i) for i in range(5)]
    none = logs.get_log_events(logGroupName="app", logStreamName="s1", limit=10, nextToken=oldest["nextBackwardToken"])
    assert none["events"] == []
    again = logs.get_log_events(logGroupName="app", logStreamName="s1", limit=3, nextToken=none["nextForwardToken"])
    assert [e["message"] for e in again["events"]] == ["0", "1", "2"]

    head = logs.get_log_events(logGroupName="app", logStreamName="s1", limit=20, startFromHead=True)
    assert [e["message"] for e in head["events"]] == [str(i) for i in range(20)]
    rest = logs.get_log_events(logGroupName="app", logStreamName="s1", limit=20, nextToken=head["nextForwardToken"])
    assert [e["message"] for e in rest["events"]] == [str(i) for i in range(20, 25)]
    end = logs.get_log_events(logGroupName="app", logStreamName="s1", nextToken=rest["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"]
    # Polling the forward token picks up later events.
    logs.put_log_events(logGroupName="app", logStreamName="s1", logEvents=[{"timestamp": base + 100, "message": "late"}])
    late = logs.get_log_events(logGroupName="app", logStreamName="s1", nextToken=end["nextForwardToken"])
    assert [e["message"] for e in late["events"]] == ["late"]

    window = logs.get_log_events(logGroupName="app", logStreamName="s1", startTime=base + 5, endTime=base + 8, startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["5", "6", "7"]
    for token in ["n/00000000000000000000000000000000000000000000000000000000", "garbage"]:
        err = error_of(lambda: logs.get_log_events(logGroupName="app", logStreamName="s1", nextToken=token))
        assert err == {"Code": "InvalidParameterException", "Message": "The specified nextToken is invalid."}
    err = error_of(lambda: logs.get_log_events(logGroupName="app", logStreamName="s1", limit=10001))
    assert err["Code"] == "InvalidParameterException" and "less than or equal to 10000" in err["Message"]


def test_filter_log_events_with_term_and_json_patterns(server):
    logs = server.client("logs")
    make_stream(logs, "app", "a")
    logs.create_log_stream(logGroupName="app", logStreamName="b")
    base = now_ms() - 60_000
    logs.put_log_events(logGroupName="app", logStreamName="a", logEvents=[
        {"timestamp": base, "message": "ERROR disk full"},
        {"timestamp": base + 2, "message": json.dumps({"level": "error", "latency": 250})},
        {"timestamp": base + 4, "message": "INFO all good"},
    ])
    logs.put_log_events(logGroupName="app", logStreamName="b", logEvents=[
        {"timestamp": base + 1, "message": "ERROR timeout"},
        {"timestamp": base + 3, "message": json.dumps({"level": "info", "latency": 5})},
    ])
    everything = logs.filter_log_events(logGroupName="app")
    assert [e["timestamp"] - base for e in everything["events"]] == [0, 1, 2, 3, 4]
    assert [e["logStreamName"] for e in everything["events"]] == ["a", "b", "a", "b", "a"]
    assert all(isinstance(e["eventId"], str) for e in everything["events"])

    errors = logs.filter_log_events(logGroupName="app", filterPattern="ERROR")
    assert [e["message"] for e in errors["events"]] == ["ERROR disk full", "ERROR timeout"]
    slow = logs.filter_log_events(logGroupName="app", filterPattern="{ $.latency > 100 }")
    assert [json.loads(e["message"])["level"] for e in slow["events"]] == ["error"]
    only_b = logs.filter_log_events(logGroupName="app", logStreamNames=["b"], filterPattern="ERROR")
    assert [e["message"] for e in only_b["events"]] == ["ERROR timeout"]
    timed = logs.filter_log_events(logGroupName="app", startTime=base + 1, endTime=base + 3)
    assert [e["timestamp"] - base for e in timed["events"]] == [1, 2, 3]

    first = logs.filter_log_events(logGroupName="app", limit=2)
    assert len(first["events"]) == 2 and "nextToken" in first
    seen = [e["eventId"] for e in first["events"]]
    token = first["nextToken"]
    for _ in range(10):
        page = logs.filter_log_events(logGroupName="app", limit=2, nextToken=token)
        seen += [e["eventId"] for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == [e["eventId"] for e in everything["events"]]

    err = error_of(lambda: logs.filter_log_events(logGroupName="app", logStreamNames=["a"], logStreamNamePrefix="a"))
    assert err["Code"] == "InvalidParameterException"
    err = error_of(lambda: logs.filter_log_events(logGroupName="missing"))
    assert err["Code"] == "ResourceNotFoundException"

    cli = server.aws("logs", "filter-log-events", "--log-group-name", "app", "--filter-pattern", "timeout")
    assert [e["message"] for e in cli["events"]] == ["ERROR timeout"]


def test_metric_filters_and_test_metric_filter(server):
    logs = server.client("logs")
    make_stream(logs)
    logs.put_metric_filter(
        logGroupName="app", filterName="latency", filterPattern="{ $.latency = * }",
        metricTransformations=[{"metricName": "Latency", "metricNamespace": "App",
                                "metricValue": "$.latency", "unit": "Milliseconds"}])
    logs.put_metric_filter(
        logGroupName="app", filterName="errors", filterPattern="ERROR",
        metricTransformations=[{"metricName": "Errors", "metricNamespace": "App",
                                "metricValue": "1", "defaultValue": 0}])
    described = logs.describe_metric_filters(logGroupName="app")["metricFilters"]
    assert [f["filterName"] for f in described] == ["errors", "latency"]
    assert described[1]["metricTransformations"][0]["unit"] == "Milliseconds"
    assert described[0]["metricTransformations"][0]["defaultValue"] == 0
    by_metric = logs.describe_metric_filters(metricName="Errors", metricNamespace="App")["metricFilters"]
    assert [f["filterName"] for f in by_metric] == ["errors"]
    assert logs.describe_log_groups(logGroupNamePrefix="app")["logGroups"][0]["metricFilterCount"] == 2

    err = error_of(lambda: logs.put_metric_filter(
        logGroupName="missing", filterName="f", filterPattern="x",
        metricTransformations=[{"metricName": "m", "metricNamespace": "n", "metricValue": "1"}]))
    assert err == {"Code": "ResourceNotFoundException", "Message": "The specified log group does not exist."}
    err = error_of(lambda: logs.put_metric_filter(
        logGroupName="app", filterName="f", filterPattern="x",
        metricTransformations=[{"metricName": "m", "metricNamespace": "n", "metricValue": "1",
                                "defaultValue": 0, "dimensions": {"d": "$.d"}}]))
    assert err["Code"] == "InvalidParameterException"
    err = error_of(lambda: logs.put_metric_filter(
        logGroupName="app", filterName="f", filterPattern="x",
        metricTransformations=[{"metricName": "m", "metricNamespace": "n", "metricValue": "1"}] * 2))
    assert err["Code"] == "InvalidParameterException"

    matches = logs.test_metric_filter(
        filterPattern="[ip, user, status=5*]",
        logEventMessages=["1.2.3.4 alice 503", "1.2.3.4 bob 200", "5.6.7.8 carol 500"])["matches"]
    assert [m["eventNumber"] for m in matches] == [1, 3]
    assert matches[0]["eventMessage"] == "1.2.3.4 alice 503"
    assert matches[0]["extractedValues"]["$user"] == "alice"
    json_matches = logs.test_metric_filter(
        filterPattern='{ $.eventName = "ConsoleLogin" }',
        logEventMessages=[json.dumps({"eventName": "ConsoleLogin"}), json.dumps({"eventName": "Other"})])["matches"]
    assert [m["eventNumber"] for m in json_matches] == [1]

    logs.delete_metric_filter(logGroupName="app", filterName="latency")
    assert [f["filterName"] for f in logs.describe_metric_filters(logGroupName="app")["metricFilters"]] == ["errors"]
    err = error_of(lambda: logs.delete_metric_filter(logGroupName="app", filterName="latency"))
    assert err["Code"] == "ResourceNotFoundException"


def test_trail_sends_records_to_its_log_group(server):
    s3 = server.client("s3")
    create_trail_bucket(s3, "trail-bucket")
    logs = server.client("logs")
    logs.create_log_group(logGroupName="CloudTrail/logs")
    logs.put_metric_filter(
        logGroupName="CloudTrail/logs", filterName="bucket-calls",
        filterPattern='{ $.eventSource = "s3.amazonaws.com" }',
        metricTransformations=[{"metricName": "S3Calls", "metricNamespace": "CloudTrailMetrics", "metricValue": "1"}])
    group_arn = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:CloudTrail/logs:*"
    ct = server.client("cloudtrail")
    ct.create_trail(Name="to-logs", S3BucketName="trail-bucket", CloudWatchLogsLogGroupArn=group_arn,
                    CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/CloudTrail_CloudWatchLogs_Role")
    ct.start_logging(Name="to-logs")
    s3.create_bucket(Bucket="after-logging-started")
    stream = f"{ACCOUNT_ID}_CloudTrail_us-east-1"

    def delivered():
        try:
            events = logs.filter_log_events(logGroupName="CloudTrail/logs", logStreamNames=[stream],
                                            filterPattern='{ $.eventName = "CreateBucket" }')["events"]
        except botocore.exceptions.ClientError:
            return None
        return events or None

    events = wait_for("the trail's records in its log group", delivered, timeout=10)
    record = json.loads(events[0]["message"])
    assert record["requestParameters"]["bucketName"] == "after-logging-started"
    assert record["recipientAccountId"] == ACCOUNT_ID
    assert ", " not in events[0]["message"] and ": " not in events[0]["message"]  # compact JSON
    status = wait_for("the CloudWatch Logs delivery time", lambda: ct.get_trail_status(Name="to-logs").get("LatestCloudWatchLogsDeliveryTime"), timeout=10)
    assert status is not None
    streams = logs.describe_log_streams(logGroupName="CloudTrail/logs")["logStreams"]
    assert [s["logStreamName"] for s in streams] == [stream]


def test_log_events_survive_kill_9(new_server):
    server = new_server().start()
    logs = server.client("logs")
    make_stream(logs)
    logs.put_retention_policy(logGroupName="app", retentionInDays=30)
    logs.put_metric_filter(logGroupName="app", filterName="f", filterPattern="ERROR",
                           metricTransformations=[{"metricName": "E", "metricNamespace": "N", "metricValue": "1"}])
    base = now_ms() - 1000
    for i in range(20):
        logs.put_log_events(logGroupName="app", logStreamName="s1",
                            logEvents=[{"timestamp": base + i, "message": f"event {i}"}])
    server.kill9()
    restarted = new_server(server.data_dir).start()
    logs = restarted.client("logs")
    events = logs.get_log_events(logGroupName="app", logStreamName="s1", startFromHead=True)["events"]
    assert [e["message"] for e in events] == [f"event {i}" for i in range(20)]
    group = logs.describe_log_groups()["logGroups"][0]
    assert group["retentionInDays"] == 30 and group["metricFilterCount"] == 1
    logs.put_log_events(logGroupName="app", logStreamName="s1", logEvents=[{"timestamp": base + 50, "message": "after"}])
    assert logs.filter_log_events(logGroupName="app", filterPattern="after")["events"][0]["message"] == "after"


def test_errors_are_aws_shaped(server):
    logs = server.client("logs")
    err = error_of(lambda: logs.create_log_group(logGroupName="a" * 513))
    assert err["Code"] == "InvalidParameterException"
    assert "Member must have length less than or equal to 512" in err["Message"]
    err = error_of(lambda: logs.create_log_group(logGroupName="bad name!"))
    assert err["Code"] == "InvalidParameterException" and "regular expression pattern" in err["Message"]
    err = error_of(lambda: logs.delete_log_group(logGroupName="missing"))
    assert err == {"Code": "ResourceNotFoundException", "Message": "The specified log group does not exist."}
    err = error_of(lambda: logs.describe_log_groups(limit=51))
    assert err["Code"] == "InvalidParameterException" and "less than or equal to 50" in err["Message"]
    logs.create_log_group(logGroupName="g")
    err = error_of(lambda: logs.describe_log_streams(logGroupName="g", orderBy="Nope"))
    assert "Member must satisfy enum value set: [LogStreamName, LastEventTime]" in err["Message"]
    group_star = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:g:*"
    err = error_of(lambda: logs.describe_log_streams(logGroupIdentifier=group_star))
    assert "regular expression pattern" in err["Message"]
    streams = logs.describe_log_streams(logGroupIdentifier=group_star[:-2])
    assert streams["logStreams"] == []
    err = error_of(lambda: logs.get_log_events(logGroupName="g", logStreamName="missing"))
    assert err == {"Code": "ResourceNotFoundException", "Message": "The specified log stream does not exist."}


def test_trail_delivery_resumes_after_kill_9_without_duplicates(new_server):
    server = new_server().start()
    create_trail_bucket(server.client("s3"), "trail-bucket")
    logs = server.client("logs")
    logs.create_log_group(logGroupName="ct")
    ct = server.client("cloudtrail")
    ct.create_trail(Name="crash-trail", S3BucketName="trail-bucket",
                    CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:ct:*",
                    CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/r")
    ct.start_logging(Name="crash-trail")
    logs.create_log_group(logGroupName="before-crash")

    def names(client):
        events = client.filter_log_events(logGroupName="ct", filterPattern='{ $.eventName = "CreateLogGroup" }')["events"]
        return [json.loads(e["message"])["requestParameters"]["logGroupName"] for e in events]

    wait_for("the record before the crash", lambda: "before-crash" in names(logs), timeout=10)
    server.kill9()
    restarted = new_server(server.data_dir).start()
    logs = restarted.client("logs")
    logs.create_log_group(logGroupName="after-crash")
    wait_for("the record after the crash", lambda: "after-crash" in names(logs), timeout=10)
    events = logs.filter_log_events(logGroupName="ct")["events"]
    ids = [json.loads(e["message"])["eventID"] for e in events]
    assert len(ids) == len(set(ids))
    # The group "ct" was made before the trail started logging: not sent.
    assert names(logs) == ["before-crash", "after-crash"]
