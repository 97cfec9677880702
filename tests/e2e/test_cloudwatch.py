"""CloudWatch metrics and alarms end to end with boto3 and the real `aws` CLI (both speak Smithy
RPC v2 CBOR to CloudWatch), plus raw awsJson 1.0 and awsQuery requests as older SDKs send them:
PutMetricData in its three forms, GetMetricStatistics, GetMetricData, ListMetrics, the alarm
lifecycle and its history, alarms firing through SNS into SQS with AWS's notification message,
the 14 CIS / Security Hub CloudWatch.1–14 metric filters on a trail's log group each raising its
alarm, the seeds' error-rate scenario driven by real API calls through a trail, alarm state across
`kill -9`, and AWS errors."""

import json
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from conftest import ACCESS_KEY, ACCOUNT_ID, SECRET_KEY, cloudtrail_bucket_policy, create_trail_bucket, error_of, wait_for
from test_filter_cli import CASES, CIS, compact

NS = {"cw": "http://monitoring.amazonaws.com/doc/2010-08-01/"}


def alarm_queue(server, name="alarms"):
    """A topic whose notifications land in a queue; returns (topic arn, queue url)."""
    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name=f"{name}-topic")["TopicArn"]
    url = sqs.create_queue(QueueName=f"{name}-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, url


def notifications(sqs, url, count, timeout=15.0):
    """SNS envelopes from the queue until `count` arrived or the time is up."""
    found = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_put_metric_data_and_read_it_back(server):
    cw = server.client("cloudwatch")
    now = int(time.time()) // 60 * 60 - 120
    cw.put_metric_data(Namespace="App", MetricData=[
        {"MetricName": "Latency", "Dimensions": [{"Name": "Op", "Value": "Get"}], "Timestamp": now, "Value": 10.0, "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": [{"Name": "Op", "Value": "Get"}], "Timestamp": now + 1, "Values": [20.0, 30.0], "Counts": [1.0, 2.0], "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": [{"Name": "Op", "Value": "Put"}], "Timestamp": now,
         "StatisticValues": {"SampleCount": 4.0, "Sum": 100.0, "Minimum": 5.0, "Maximum": 50.0}, "Unit": "Milliseconds"},
        {"MetricName": "Requests", "Timestamp": now, "Value": 1.0},
    ])
    stats = cw.get_metric_statistics(
        Namespace="App", MetricName="Latency", Dimensions=[{"Name": "Op", "Value": "Get"}],
        StartTime=now - 60, EndTime=now + 60, Period=60,
        Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"], ExtendedStatistics=["p50"])
    assert stats["Label"] == "Latency"
    [point] = stats["Datapoints"]
    assert point["Timestamp"].timestamp() == now
    assert (point["SampleCount"], point["Sum"], point["Minimum"], point["Maximum"]) == (4.0, 90.0, 10.0, 30.0)
    assert point["Average"] == 22.5
    assert point["Unit"] == "Milliseconds"
    assert "p50" in point["ExtendedStatistics"]

    put = cw.get_metric_statistics(Namespace="App", MetricName="Latency", Dimensions=[{"Name": "Op", "Value": "Put"}],
                                   StartTime=now - 60, EndTime=now + 60, Period=60, Statistics=["SampleCount", "Average"])
    assert [(p["SampleCount"], p["Average"]) for p in put["Datapoints"]] == [(4.0, 25.0)]
    # A metric is its exact dimension set: no dimensions is another metric.
    assert cw.get_metric_statistics(Namespace="App", MetricName="Latency", StartTime=now - 60, EndTime=now + 60,
                                    Period=60, Statistics=["Sum"])["Datapoints"] == []

    data = cw.get_metric_data(StartTime=now - 60, EndTime=now + 60, MetricDataQueries=[
        {"Id": "get", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Latency",
                                                "Dimensions": [{"Name": "Op", "Value": "Get"}]},
                                     "Period": 60, "Stat": "Maximum"}},
        {"Id": "requests", "Label": "calls", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Requests"}, "Period": 60, "Stat": "Sum"}},
    ])["MetricDataResults"]
    assert [(r["Id"], r["Label"], r["Values"], r["StatusCode"]) for r in data] == [
        ("get", "Latency", [30.0], "Complete"), ("requests", "calls", [1.0], "Complete")]
    assert data[0]["Timestamps"][0].timestamp() == now

    metrics = cw.list_metrics(Namespace="App")["Metrics"]
    assert sorted((m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in metrics) == [
        ("Latency", (("Op", "Get"),)), ("Latency", (("Op", "Put"),)), ("Requests", ())]
    assert len(cw.list_metrics(Dimensions=[{"Name": "Op", "Value": "Put"}])["Metrics"]) == 1
    assert len(cw.list_metrics(Dimensions=[{"Name": "Op"}])["Metrics"]) == 2
    assert cw.list_metrics(Namespace="Other")["Metrics"] == []


def test_metric_errors_are_aws_shaped(server):
    cw = server.client("cloudwatch")
    bad = error_of(lambda: cw.put_metric_data(Namespace="AWS/EC2", MetricData=[{"MetricName": "x", "Value": 1.0}]))
    assert bad["Code"] == "InvalidParameterValue" and "AWS/EC2" in bad["Message"]
    both = error_of(lambda: cw.put_metric_data(Namespace="App", MetricData=[
        {"MetricName": "x", "Value": 1.0, "StatisticValues": {"SampleCount": 1.0, "Sum": 1.0, "Minimum": 1.0, "Maximum": 1.0}}]))
    assert both["Code"] == "InvalidParameterCombination"
    sizes = error_of(lambda: cw.put_metric_data(Namespace="App", MetricData=[{"MetricName": "x", "Values": [1.0, 2.0], "Counts": [1.0]}]))
    assert sizes["Code"] == "InvalidParameterValue" and "same size" in sizes["Message"]
    old = error_of(lambda: cw.put_metric_data(Namespace="App", MetricData=[{"MetricName": "x", "Value": 1.0, "Timestamp": time.time() - 30 * 86400}]))
    assert old["Code"] == "InvalidParameterValue" and "two weeks" in old["Message"]
    now = time.time()
    backwards = error_of(lambda: cw.get_metric_statistics(Namespace="App", MetricName="x", StartTime=now, EndTime=now - 60, Period=60, Statistics=["Sum"]))
    assert backwards["Code"] == "InvalidParameterValue"
    too_many = error_of(lambda: cw.get_metric_statistics(Namespace="App", MetricName="x", StartTime=now - 86400 * 2, EndTime=now, Period=60, Statistics=["Sum"]))
    assert too_many["Code"] == "InvalidParameterCombination" and "1,440" not in too_many["Message"] and "1440" in too_many["Message"]
    missing = error_of(lambda: cw.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x"))
    assert missing["Code"] == "ResourceNotFound"


def test_alarm_lifecycle_history_and_tags(server):
    cw = server.client("cloudwatch")
    topic, _ = alarm_queue(server)
    cw.put_metric_alarm(
        AlarmName="high-latency", AlarmDescription="p99 too high", Namespace="App", MetricName="Latency",
        Dimensions=[{"Name": "Op", "Value": "Get"}], ExtendedStatistic="p99", Period=60, EvaluationPeriods=3,
        DatapointsToAlarm=2, Threshold=500.0, ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching", AlarmActions=[topic], Tags=[{"Key": "team", "Value": "web"}])
    [alarm] = cw.describe_alarms(AlarmNames=["high-latency"])["MetricAlarms"]
    assert alarm["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{ACCOUNT_ID}:alarm:high-latency"
    assert alarm["StateReason"] == "Unchecked: Initial alarm creation"
    assert (alarm["ExtendedStatistic"], alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == ("p99", 60, 3, 2)
    assert alarm["Threshold"] == 500.0 and alarm["AlarmActions"] == [topic] and alarm["ActionsEnabled"] is True
    # With no data and notBreaching, the first evaluation moves it to OK.
    wait_for("the first evaluation", lambda: cw.describe_alarms(AlarmNames=["high-latency"])["MetricAlarms"][0]["StateValue"] == "OK", timeout=15)

    cw.put_metric_alarm(AlarmName="errors", Namespace="App", MetricName="Errors", Statistic="Sum", Period=10,
                        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold")
    assert [a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix="err")["MetricAlarms"]] == ["errors"]
    assert [a["AlarmName"] for a in cw.describe_alarms(ActionPrefix=topic)["MetricAlarms"]] == ["high-latency"]
    page = cw.describe_alarms(MaxRecords=1)
    assert len(page["MetricAlarms"]) == 1 and "NextToken" in page
    assert len(cw.describe_alarms(MaxRecords=1, NextToken=page["NextToken"])["MetricAlarms"]) == 1
    for_metric = cw.describe_alarms_for_metric(Namespace="App", MetricName="Latency", Dimensions=[{"Name": "Op", "Value": "Get"}])
    assert [a["AlarmName"] for a in for_metric["MetricAlarms"]] == ["high-latency"]

    cw.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="testing the pager")
    [errors] = cw.describe_alarms(AlarmNames=["errors"], StateValue="ALARM")["MetricAlarms"]
    assert errors["StateReason"] == "testing the pager"
    cw.disable_alarm_actions(AlarmNames=["errors"])
    assert cw.describe_alarms(AlarmNames=["errors"])["MetricAlarms"][0]["ActionsEnabled"] is False
    cw.enable_alarm_actions(AlarmNames=["errors"])
    assert cw.describe_alarms(AlarmNames=["errors"])["MetricAlarms"][0]["ActionsEnabled"] is True

    history = cw.describe_alarm_history(AlarmName="errors", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert history[0]["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    assert json.loads(history[0]["HistoryData"])["newState"]["stateValue"] == "ALARM"
    created = cw.describe_alarm_history(AlarmName="errors", HistoryItemType="ConfigurationUpdate", ScanBy="TimestampAscending")
    assert created["AlarmHistoryItems"][0]["HistorySummary"] == 'Alarm "errors" created'

    arn = alarm["AlarmArn"]
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "web"}]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "tier", "Value": "1"}])
    cw.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "tier", "Value": "1"}]
    assert error_of(lambda: cw.list_tags_for_resource(ResourceARN=arn + "-gone"))["Code"] == "ResourceNotFoundException"

    # Names that name no alarm are passed over.
    cw.delete_alarms(AlarmNames=["errors", "never-made"])
    assert [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]] == ["high-latency"]
    assert cw.describe_alarm_history(AlarmName="errors")["AlarmHistoryItems"] == []
    cw.delete_alarms(AlarmNames=["high-latency"])
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_alarm_rules_are_validated(server):
    cw = server.client("cloudwatch")
    base = dict(AlarmName="a", Namespace="App", MetricName="m", EvaluationPeriods=1, Threshold=1.0,
                ComparisonOperator="GreaterThanThreshold")
    period = error_of(lambda: cw.put_metric_alarm(**base, Statistic="Sum", Period=45))
    assert period["Code"] in ("ValidationError", "InvalidParameterValue") and "Period" in period["Message"]
    both = error_of(lambda: cw.put_metric_alarm(**base, Statistic="Sum", ExtendedStatistic="p90", Period=60))
    assert both["Code"] == "InvalidParameterCombination"
    neither = error_of(lambda: cw.put_metric_alarm(**base, Period=60))
    assert neither["Code"] in ("InvalidParameterCombination", "MissingParameter", "ValidationError")
    too_long = error_of(lambda: cw.put_metric_alarm(**{**base, "EvaluationPeriods": 1441}, Statistic="Sum", Period=60))
    assert too_long["Code"] in ("ValidationError", "InvalidParameterValue", "InvalidParameterCombination")
    more_than_n = error_of(lambda: cw.put_metric_alarm(**base, Statistic="Sum", Period=60, DatapointsToAlarm=2))
    assert more_than_n["Code"] in ("ValidationError", "InvalidParameterValue", "InvalidParameterCombination")
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_alarm_notifies_sns_with_aws_message_and_recovers(server):
    cw, sqs = server.client("cloudwatch"), server.client("sqs")
    topic, url = alarm_queue(server)
    cw.put_metric_alarm(AlarmName="errors", AlarmDescription="any error", Namespace="App", MetricName="Errors",
                        Statistic="Sum", Period=10, EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
                        AlarmActions=[topic], OKActions=[topic])
    [first] = notifications(sqs, url, 1)  # INSUFFICIENT_DATA -> OK
    assert first["Subject"] == 'OK: "errors" in US East (N. Virginia)'
    assert json.loads(first["Message"])["NewStateValue"] == "OK"

    started = time.monotonic()
    cw.put_metric_data(Namespace="App", MetricData=[{"MetricName": "Errors", "Value": 3.0}])
    [fired] = notifications(sqs, url, 1)
    took = time.monotonic() - started
    assert took < 5, f"the alarm notification took {took:.1f} s"
    assert fired["Type"] == "Notification" and fired["TopicArn"] == topic
    assert fired["Subject"] == 'ALARM: "errors" in US East (N. Virginia)'
    message = json.loads(fired["Message"])
    assert list(message)[:4] == ["AlarmName", "AlarmDescription", "AWSAccountId", "AlarmConfigurationUpdatedTimestamp"]
    assert (message["AlarmName"], message["AlarmDescription"], message["AWSAccountId"]) == ("errors", "any error", ACCOUNT_ID)
    assert (message["NewStateValue"], message["OldStateValue"], message["Region"]) == ("ALARM", "OK", "US East (N. Virginia)")
    assert message["NewStateReason"].startswith("Threshold Crossed: 1 datapoint [3.0 (")
    assert message["NewStateReason"].endswith(")] was greater than or equal to the threshold (1.0).")
    assert message["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{ACCOUNT_ID}:alarm:errors"
    trigger = message["Trigger"]
    assert (trigger["MetricName"], trigger["Namespace"], trigger["Statistic"], trigger["Period"], trigger["Threshold"]) == (
        "Errors", "App", "SUM", 10, 1.0)
    assert trigger["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and trigger["TreatMissingData"] == "notBreaching"
    [alarm] = cw.describe_alarms(AlarmNames=["errors"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    reason_data = json.loads(alarm["StateReasonData"])
    assert reason_data["recentDatapoints"] == [3.0] and reason_data["threshold"] == 1.0

    # No new data: once the breaching point leaves the evaluation range (N + 2 periods), the
    # missing points are not breaching and the alarm is back to OK.
    [recovered] = notifications(sqs, url, 1, timeout=60)
    assert json.loads(recovered["Message"])["NewStateValue"] == "OK"
    actions = cw.describe_alarm_history(AlarmName="errors", HistoryItemType="Action")["AlarmHistoryItems"]
    assert len(actions) == 3 and all(item["HistorySummary"].startswith("Successfully executed action") for item in actions)


def cis_alarm_setup(server, group):
    """One metric filter and one alarm per CIS control on `group`; returns the notification queue."""
    logs, cw = server.client("logs"), server.client("cloudwatch")
    topic, url = alarm_queue(server, "cis")
    for control, pattern in CIS.items():
        logs.put_metric_filter(logGroupName=group, filterName=f"CloudWatch.{control}", filterPattern=pattern,
                               metricTransformations=[{"metricName": f"CloudWatch.{control}", "metricNamespace": "CISBenchmark", "metricValue": "1"}])
        cw.put_metric_alarm(AlarmName=f"CloudWatch.{control}", Namespace="CISBenchmark", MetricName=f"CloudWatch.{control}",
                            Statistic="Sum", Period=10, EvaluationPeriods=1, Threshold=1.0,
                            ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[topic])
    return url


def put_records(logs, group, stream, records):
    base = int(time.time() * 1000)
    events = [{"timestamp": base + i, "message": compact(rec)} for i, rec in enumerate(records)]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def alarm_names(found):
    return sorted(json.loads(n["Message"])["AlarmName"] for n in found if json.loads(n["Message"])["NewStateValue"] == "ALARM")


def test_cis_filters_on_a_trail_log_group_each_fire_their_alarm(server):
    logs, sqs = server.client("logs"), server.client("sqs")
    group, stream = "CloudTrail/cis", f"{ACCOUNT_ID}_CloudTrail_us-east-1"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    url = cis_alarm_setup(server, group)

    # Records that no control is meant for: every alarm stays quiet.
    quiet = [rec for rec, fires in CASES if not fires]
    assert quiet
    put_records(logs, group, stream, quiet)
    assert alarm_names(notifications(sqs, url, 1, timeout=4)) == []

    # Then each control's own records: exactly the 14 alarms go off, each once.
    put_records(logs, group, stream, [rec for rec, fires in CASES if fires])
    fired = alarm_names(notifications(sqs, url, len(CIS), timeout=20))
    assert fired == sorted(f"CloudWatch.{control}" for control in CIS)


def test_error_rate_alarm_on_real_calls_through_a_trail(server):
    """The seeds' scenario: a trail sends its records to a log group, a metric filter counts
    errors, an alarm on the count notifies SNS, which delivers to SQS."""
    s3, ct, logs, cw, sqs = (server.client(s) for s in ("s3", "cloudtrail", "logs", "cloudwatch", "sqs"))
    create_trail_bucket(s3, "trail-bucket")
    logs.create_log_group(logGroupName="CloudTrail/errors")
    logs.put_metric_filter(logGroupName="CloudTrail/errors", filterName="api-errors", filterPattern='{ $.errorCode = "*" }',
                           metricTransformations=[{"metricName": "ApiErrors", "metricNamespace": "CloudTrailMetrics", "metricValue": "1"}])
    # CIS CloudWatch.8, S3 bucket policy changes, on the same group.
    logs.put_metric_filter(logGroupName="CloudTrail/errors", filterName="bucket-policy", filterPattern=CIS[8],
                           metricTransformations=[{"metricName": "S3BucketPolicyChanges", "metricNamespace": "CloudTrailMetrics", "metricValue": "1"}])
    topic, url = alarm_queue(server, "seed")
    for metric, threshold in (("ApiErrors", 3.0), ("S3BucketPolicyChanges", 1.0)):
        cw.put_metric_alarm(AlarmName=metric, Namespace="CloudTrailMetrics", MetricName=metric, Statistic="Sum",
                            Period=10, EvaluationPeriods=1, Threshold=threshold,
                            ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[topic])
    ct.create_trail(Name="alarmed", S3BucketName="trail-bucket",
                    CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:CloudTrail/errors:*",
                    CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/CloudTrail_CloudWatchLogs_Role")
    ct.start_logging(Name="alarmed")

    # Two failed calls stay under the error threshold of 3.
    for _ in range(2):
        error_of(lambda: ct.get_trail(Name="no-such-trail"))
    assert alarm_names(notifications(sqs, url, 1, timeout=4)) == []
    # A burst of three (well inside one 10 s period) crosses it.
    for _ in range(3):
        error_of(lambda: ct.get_trail(Name="no-such-trail"))
    assert alarm_names(notifications(sqs, url, 1, timeout=15)) == ["ApiErrors"]

    # The owner narrows the bucket policy to this trail.
    policy = cloudtrail_bucket_policy("trail-bucket", trail_arns=[f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/alarmed"])
    s3.put_bucket_policy(Bucket="trail-bucket", Policy=json.dumps(policy))
    assert alarm_names(notifications(sqs, url, 1, timeout=15)) == ["S3BucketPolicyChanges"]


def test_alarm_state_and_history_survive_kill_9(new_server):
    server = new_server().start()
    cw = server.client("cloudwatch")
    cw.put_metric_alarm(AlarmName="durable", Namespace="App", MetricName="Errors", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold")
    cw.put_metric_data(Namespace="App", MetricData=[{"MetricName": "Errors", "Value": 5.0}])
    wait_for("the alarm", lambda: cw.describe_alarms(AlarmNames=["durable"])["MetricAlarms"][0]["StateValue"] == "ALARM", timeout=15)
    server.kill9()
    server.start()
    cw = server.client("cloudwatch")
    [alarm] = cw.describe_alarms(AlarmNames=["durable"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    assert any(item["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
               for item in cw.describe_alarm_history(AlarmName="durable")["AlarmHistoryItems"])
    now = time.time()
    stats = cw.get_metric_statistics(Namespace="App", MetricName="Errors", StartTime=now - 600, EndTime=now + 60,
                                     Period=60, Statistics=["Sum"])
    assert [p["Sum"] for p in stats["Datapoints"]] == [5.0]


def test_the_aws_cli_speaks_to_cloudwatch(server):
    server.aws("cloudwatch", "put-metric-data", "--namespace", "Cli", "--metric-name", "Jobs", "--value", "2", "--unit", "Count")
    listed = server.aws("cloudwatch", "list-metrics", "--namespace", "Cli")
    assert [m["MetricName"] for m in listed["Metrics"]] == ["Jobs"]
    server.aws("cloudwatch", "put-metric-alarm", "--alarm-name", "jobs", "--namespace", "Cli", "--metric-name", "Jobs",
               "--statistic", "Sum", "--period", "60", "--evaluation-periods", "1", "--threshold", "1",
               "--comparison-operator", "GreaterThanOrEqualToThreshold")
    alarms = server.aws("cloudwatch", "describe-alarms", "--alarm-names", "jobs")
    assert alarms["MetricAlarms"][0]["Threshold"] == 1.0
    failed = subprocess.run(["aws", "cloudwatch", "set-alarm-state", "--alarm-name", "nope", "--state-value", "OK",
                             "--state-reason", "x"], env=server.env, capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0 and "ResourceNotFound" in failed.stderr


def signed(server, body, headers):
    request = botocore.awsrequest.AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers=headers)
    credentials = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
    botocore.auth.SigV4Auth(credentials, "monitoring", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(server.endpoint + "/", data=body, headers=dict(request.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(prepared, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_older_clients_json_and_query_protocols(server):
    cw = server.client("cloudwatch")
    cw.put_metric_alarm(AlarmName="legacy", Namespace="App", MetricName="m", Statistic="Average", Period=300,
                        EvaluationPeriods=2, Threshold=2.5, ComparisonOperator="LessThanThreshold")
    json_headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "GraniteServiceVersion20100801.DescribeAlarms"}
    status, body = signed(server, json.dumps({"AlarmNames": ["legacy"]}).encode(), json_headers)
    assert status == 200
    [alarm] = json.loads(body)["MetricAlarms"]
    assert (alarm["AlarmName"], alarm["Threshold"], alarm["EvaluationPeriods"]) == ("legacy", 2.5, 2)
    assert isinstance(alarm["AlarmConfigurationUpdatedTimestamp"], (int, float))
    json_headers["X-Amz-Target"] = "GraniteServiceVersion20100801.SetAlarmState"
    status, body = signed(server, json.dumps({"AlarmName": "gone", "StateValue": "OK", "StateReason": "x"}).encode(), json_headers)
    assert status == 404 and json.loads(body)["__type"] == "ResourceNotFound"

    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    query = "Action=PutMetricData&Version=2010-08-01&Namespace=Query&MetricData.member.1.MetricName=Hits&MetricData.member.1.Value=4" \
            "&MetricData.member.1.Dimensions.member.1.Name=Host&MetricData.member.1.Dimensions.member.1.Value=a"
    status, body = signed(server, query.encode(), form)
    assert status == 200, body
    status, body = signed(server, b"Action=ListMetrics&Version=2010-08-01&Namespace=Query", form)
    assert status == 200
    root = ET.fromstring(body)
    names = [e.text for e in root.iterfind(".//cw:Metrics/cw:member/cw:MetricName", NS)]
    dims = [e.text for e in root.iterfind(".//cw:Metrics/cw:member/cw:Dimensions/cw:member/cw:Value", NS)]
    assert (names, dims) == (["Hits"], ["a"])
    status, body = signed(server, b"Action=DescribeAlarms&Version=2010-08-01&AlarmNames.member.1=legacy", form)
    assert status == 200
    root = ET.fromstring(body)
    assert [e.text for e in root.iterfind(".//cw:MetricAlarms/cw:member/cw:Threshold", NS)] == ["2.5"]
    status, body = signed(server, b"Action=SetAlarmState&Version=2010-08-01&AlarmName=none&StateValue=OK&StateReason=x", form)
    assert status == 404 and ET.fromstring(body).find(".//cw:Error/cw:Code", NS).text == "ResourceNotFound"


def test_calls_are_recorded_with_metric_calls_as_data_events(server):
    cw = server.client("cloudwatch")
    cw.put_metric_alarm(AlarmName="recorded", Namespace="App", MetricName="m", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    cw.put_metric_data(Namespace="App", MetricData=[{"MetricName": "m", "Value": 1.0}])
    events = server.lookup(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "monitoring.amazonaws.com"}])
    names = [e["EventName"] for e in events]
    assert "PutMetricAlarm" in names and "PutMetricData" not in names  # data events stay out of event history
    record = json.loads(next(e for e in events if e["EventName"] == "PutMetricAlarm")["CloudTrailEvent"])
    assert record["requestParameters"]["alarmName"] == "recorded"
    assert record["resources"][0]["ARN"] == f"arn:aws:cloudwatch:us-east-1:{ACCOUNT_ID}:alarm:recorded"
