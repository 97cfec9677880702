"""EventBridge end to end: rules on CloudTrail API calls and on PutEvents, delivery to SQS,
SNS, API destinations (an HTTP server run by the test) and other buses, input transformers,
retries and the dead-letter queue, and no loss across kill -9. Every wait is bounded."""

import base64
import http.server
import json
import queue
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT_ID, create_trail_bucket, wait_for


class Endpoint:
    """An HTTP endpoint on 127.0.0.1 that records requests and answers with `status`."""

    def __init__(self, status=200):
        self.status = status
        self.requests = queue.Queue()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                outer.requests.put((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.end_headers()

            do_PUT = do_POST

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout=5.0):
        return self.requests.get(timeout=timeout)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def make_queue(server, name, region="us-east-1"):
    sqs = server.client("sqs", region=region)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, url, arn


def receive(sqs, url, count=1, timeout=5.0, attributes=False):
    """Up to `count` messages, waiting at most `timeout` seconds."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        page = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, count - len(got)),
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"] if attributes else [],
        )
        for message in page.get("Messages", []):
            got.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return got


def test_rule_on_a_cloudtrail_call_reaches_sqs_within_a_second(server):
    events = server.client("events")
    sqs, url, arn = make_queue(server, "ct-events")
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventName": ["CreateBucket"]},
    }
    events.put_rule(Name="on-create-bucket", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="on-create-bucket", Targets=[{"Id": "q", "Arn": arn}])

    start = time.monotonic()
    server.client("s3").create_bucket(Bucket="eb-bucket-1")
    messages = receive(sqs, url, timeout=1.0)
    elapsed = time.monotonic() - start
    assert messages, "no event within 1 s"
    assert elapsed < 1.0, elapsed
    event = json.loads(messages[0]["Body"])
    assert event["source"] == "aws.s3"
    assert event["detail-type"] == "AWS API Call via CloudTrail"
    assert event["account"] == ACCOUNT_ID
    assert event["region"] == "us-east-1"
    assert event["version"] == "0" and event["resources"] == []
    assert event["detail"]["eventName"] == "CreateBucket"
    assert event["detail"]["requestParameters"]["bucketName"] == "eb-bucket-1"
    assert event["time"] == event["detail"]["eventTime"]

    # A read-only management call reaches only rules that ask for all management events.
    events.put_rule(Name="reads", EventPattern=json.dumps({"source": ["aws.sqs"], "detail": {"eventName": ["ListQueues"]}}))
    events.put_targets(Rule="reads", Targets=[{"Id": "q", "Arn": arn}])
    sqs.list_queues()
    assert receive(sqs, url, timeout=1.5) == []
    events.put_rule(
        Name="reads",
        EventPattern=json.dumps({"source": ["aws.sqs"], "detail": {"eventName": ["ListQueues"]}}),
        State="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
    )
    sqs.list_queues()
    got = receive(sqs, url, timeout=2.0)
    assert [json.loads(m["Body"])["detail"]["eventName"] for m in got] == ["ListQueues"]


def test_input_transformer_and_input_path_shape_the_message(server):
    events = server.client("events")
    sqs, url, arn = make_queue(server, "shaped")
    pattern = {"source": ["aws.cloudtrail"], "detail": {"eventName": ["CreateTrail", "DeleteTrail"]}}
    events.put_rule(Name="trails", EventPattern=json.dumps(pattern))
    result = events.put_targets(
        Rule="trails",
        Targets=[
            {
                "Id": "t",
                "Arn": arn,
                "InputTransformer": {
                    "InputPathsMap": {"name": "$.detail.requestParameters.name", "op": "$.detail.eventName", "region": "$.region"},
                    "InputTemplate": '{"trail": <name>, "text": "<op> of <name> in <region>", "rule": "<aws.events.rule-name>"}',
                },
            }
        ],
    )
    assert result["FailedEntryCount"] == 0
    create_trail_bucket(server.client("s3"), "eb-trail-bucket")
    cloudtrail = server.client("cloudtrail")
    cloudtrail.create_trail(Name="shaped-trail", S3BucketName="eb-trail-bucket")
    body = json.loads(receive(sqs, url, timeout=2.0)[0]["Body"])
    assert body == {"trail": "shaped-trail", "text": "CreateTrail of shaped-trail in us-east-1", "rule": "trails"}

    events.put_targets(Rule="trails", Targets=[{"Id": "t", "Arn": arn, "InputPath": "$.detail.requestParameters"}])
    cloudtrail.delete_trail(Name="shaped-trail")
    body = json.loads(receive(sqs, url, timeout=2.0)[0]["Body"])
    assert body == {"name": "shaped-trail"}

    events.put_targets(Rule="trails", Targets=[{"Id": "t", "Arn": arn, "Input": '{"fixed": true}'}])
    cloudtrail.create_trail(Name="shaped-trail", S3BucketName="eb-trail-bucket")
    assert json.loads(receive(sqs, url, timeout=2.0)[0]["Body"]) == {"fixed": True}


def api_destination(events, name, url, auth=None):
    auth = auth or ("API_KEY", {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "s3cret"}})
    connection = events.create_connection(Name=f"{name}-conn", AuthorizationType=auth[0], AuthParameters=auth[1])
    return events.create_api_destination(
        Name=name, ConnectionArn=connection["ConnectionArn"], InvocationEndpoint=url, HttpMethod="POST"
    )["ApiDestinationArn"]


def test_put_events_on_a_custom_bus_reach_an_http_endpoint(server):
    events = server.client("events")
    endpoint = Endpoint()
    try:
        bus_arn = events.create_event_bus(Name="orders")["EventBusArn"]
        assert bus_arn == f"arn:aws:events:us-east-1:{ACCOUNT_ID}:event-bus/orders"
        destination = api_destination(events, "hook", endpoint.url + "/hook")
        described = events.describe_connection(Name="hook-conn")
        assert described["AuthParameters"] == {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key"}}
        rule_arn = events.put_rule(
            Name="big-orders",
            EventBusName="orders",
            EventPattern=json.dumps({"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}}),
        )["RuleArn"]
        assert rule_arn == f"arn:aws:events:us-east-1:{ACCOUNT_ID}:rule/orders/big-orders"
        events.put_targets(Rule="big-orders", EventBusName="orders", Targets=[{"Id": "h", "Arn": destination}])

        result = events.put_events(
            Entries=[
                {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"total": 250}), "EventBusName": "orders"},
                {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"total": 5}), "EventBusName": "orders"},
                {"Source": "shop", "DetailType": "order", "Detail": "not json", "EventBusName": "orders"},
                {"Source": "shop", "DetailType": "order", "Detail": "{}", "EventBusName": "missing-bus"},
            ]
        )
        assert result["FailedEntryCount"] == 2
        assert "EventId" in result["Entries"][0] and "EventId" in result["Entries"][1]
        assert result["Entries"][2] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
        assert result["Entries"][3]["ErrorCode"] == "ResourceNotFoundException"

        path, headers, body = endpoint.next(timeout=2.0)
        event = json.loads(body)
        assert path == "/hook"
        assert headers["x-api-key"] == "s3cret"
        assert event["id"] == result["Entries"][0]["EventId"]
        assert (event["source"], event["detail-type"], event["detail"]) == ("shop", "order", {"total": 250})
        with pytest.raises(queue.Empty):
            endpoint.next(timeout=1.0)
    finally:
        endpoint.close()


def test_basic_auth_and_bus_to_bus_forwarding(server):
    events = server.client("events")
    endpoint = Endpoint()
    try:
        events.create_event_bus(Name="downstream")
        destination = api_destination(
            events, "basic", endpoint.url, auth=("BASIC", {"BasicAuthParameters": {"Username": "u", "Password": "p"}})
        )
        events.put_rule(Name="fwd", EventPattern=json.dumps({"source": ["app"]}))
        events.put_targets(
            Rule="fwd", Targets=[{"Id": "bus", "Arn": f"arn:aws:events:us-east-1:{ACCOUNT_ID}:event-bus/downstream"}]
        )
        events.put_rule(Name="sink", EventBusName="downstream", EventPattern=json.dumps({"detail-type": ["ping"]}))
        events.put_targets(Rule="sink", EventBusName="downstream", Targets=[{"Id": "h", "Arn": destination}])
        events.put_events(Entries=[{"Source": "app", "DetailType": "ping", "Detail": '{"n": 1}'}])
        _, headers, body = endpoint.next(timeout=3.0)
        assert headers["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
        assert json.loads(body)["detail"] == {"n": 1}
    finally:
        endpoint.close()


def test_failing_http_target_retries_then_lands_in_the_dead_letter_queue(server):
    events = server.client("events")
    sqs, dlq_url, dlq_arn = make_queue(server, "eb-dlq")
    endpoint = Endpoint(status=500)
    try:
        destination = api_destination(events, "failing", endpoint.url)
        rule_arn = events.put_rule(Name="to-failing", EventPattern=json.dumps({"source": ["retry.test"]}))["RuleArn"]
        events.put_targets(
            Rule="to-failing",
            Targets=[
                {
                    "Id": "h",
                    "Arn": destination,
                    "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
                    "DeadLetterConfig": {"Arn": dlq_arn},
                }
            ],
        )
        event_id = events.put_events(Entries=[{"Source": "retry.test", "DetailType": "t", "Detail": '{"k": "v"}'}])[
            "Entries"
        ][0]["EventId"]
        attempts = [endpoint.next(timeout=5.0) for _ in range(3)]
        assert all(json.loads(body)["id"] == event_id for _, _, body in attempts)
        messages = receive(sqs, dlq_url, timeout=5.0, attributes=True)
        assert len(messages) == 1
        assert json.loads(messages[0]["Body"])["id"] == event_id
        attributes = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
        assert attributes["RULE_ARN"] == rule_arn
        assert attributes["TARGET_ARN"] == destination
        assert attributes["ERROR_CODE"] == "SDK_CLIENT_ERROR"
        assert "500" in attributes["ERROR_MESSAGE"]
        assert attributes["RETRY_ATTEMPTS"] == "2"
        assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttemptsExhausted"
        with pytest.raises(queue.Empty):
            endpoint.next(timeout=1.0)
    finally:
        endpoint.close()


def test_sns_target_and_the_aws_cli(server):
    sns = server.client("sns")
    topic = sns.create_topic(Name="eb-topic")["TopicArn"]
    sqs, url, arn = make_queue(server, "via-sns")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    server.aws("events", "put-rule", "--name", "cli-rule", "--event-pattern", '{"source":["cli.app"]}')
    server.aws("events", "put-targets", "--rule", "cli-rule", "--targets", f"Id=t,Arn={topic}")
    listed = server.aws("events", "list-targets-by-rule", "--rule", "cli-rule")
    assert listed["Targets"] == [{"Id": "t", "Arn": topic}]
    out = server.aws(
        "events", "put-events", "--entries", json.dumps([{"Source": "cli.app", "DetailType": "d", "Detail": "{}"}])
    )
    assert out["FailedEntryCount"] == 0
    body = json.loads(receive(sqs, url, timeout=3.0)[0]["Body"])
    assert body["source"] == "cli.app"
    matched = server.aws(
        "events",
        "test-event-pattern",
        "--event-pattern",
        '{"source":["cli.app"]}',
        "--event",
        json.dumps({"id": "1", "source": "cli.app", "detail-type": "d", "account": ACCOUNT_ID,
                    "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}}),
    )
    assert matched == {"Result": True}


def test_api_errors(server):
    events = server.client("events")

    def error(call, **kwargs):
        with pytest.raises(ClientError) as info:
            call(**kwargs)
        return info.value.response["Error"]

    err = error(events.put_rule, Name="bad", EventPattern='{"source": "not-an-array"}')
    assert err["Code"] == "InvalidEventPatternException"
    assert err["Message"].startswith("Event pattern is not valid. Reason: ")
    err = error(events.put_rule, Name="bad", EventPattern="{not json")
    assert err["Code"] == "InvalidEventPatternException"
    err = error(events.put_rule, Name="x", EventPattern="{}", EventBusName="nope")
    assert (err["Code"], err["Message"]) == ("ResourceNotFoundException", "Event bus nope does not exist.")
    err = error(events.describe_rule, Name="missing")
    assert (err["Code"], err["Message"]) == ("ResourceNotFoundException", "Rule missing does not exist.")
    events.create_event_bus(Name="dup")
    err = error(events.create_event_bus, Name="dup")
    assert (err["Code"], err["Message"]) == ("ResourceAlreadyExistsException", "Event bus dup already exists.")
    err = error(events.delete_event_bus, Name="default")
    assert err["Code"] == "ValidationException"

    events.put_rule(Name="r", EventPattern='{"source": ["a"]}')
    targets = [{"Id": f"t{i}", "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:q{i}"} for i in range(5)]
    assert events.put_targets(Rule="r", Targets=targets)["FailedEntryCount"] == 0
    err = error(events.put_targets, Rule="r", Targets=[{"Id": "t6", "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:q6"}])
    assert err["Code"] == "LimitExceededException"
    err = error(events.delete_rule, Name="r")
    assert (err["Code"], err["Message"]) == ("ValidationException", "Rule can't be deleted since it has targets.")
    result = events.put_targets(
        Rule="r", Targets=[{"Id": "t0", "Arn": targets[0]["Arn"], "Input": "{}", "InputPath": "$.detail"}]
    )
    assert result["FailedEntryCount"] == 1 and result["FailedEntries"][0]["TargetId"] == "t0"
    events.remove_targets(Rule="r", Ids=[t["Id"] for t in targets])
    events.delete_rule(Name="r")
    err = error(events.put_targets, Rule="r", Targets=[{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:1:q"}])
    assert (err["Code"], err["Message"]) == ("ResourceNotFoundException", "Rule r does not exist on EventBus default.")
    err = error(events.put_events, Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}] * 11)
    assert err["Code"] == "ValidationException"


def test_rules_list_page_and_persist(new_server):
    server = new_server().start()
    events = server.client("events")
    for i in range(5):
        events.put_rule(Name=f"rule-{i}", EventPattern='{"source": ["s"]}', Tags=[{"Key": "n", "Value": str(i)}])
    events.put_rule(Name="other", ScheduleExpression="rate(5 minutes)", State="DISABLED")
    page = events.list_rules(NamePrefix="rule-", Limit=2)
    assert [r["Name"] for r in page["Rules"]] == ["rule-0", "rule-1"]
    rest = events.list_rules(NamePrefix="rule-", NextToken=page["NextToken"])
    assert [r["Name"] for r in rest["Rules"]] == ["rule-2", "rule-3", "rule-4"]
    server.kill9()
    restarted = new_server(server.data_dir).start()
    events = restarted.client("events")
    assert len(events.list_rules()["Rules"]) == 6
    described = events.describe_rule(Name="other")
    assert (described["State"], described["ScheduleExpression"]) == ("DISABLED", "rate(5 minutes)")
    arn = events.describe_rule(Name="rule-3")["Arn"]
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "n", "Value": "3"}]


def test_kill_9_between_match_and_delivery_loses_nothing(new_server):
    server = new_server().start()
    events = server.client("events")
    sqs, url, arn = make_queue(server, "durable-target")
    events.put_rule(Name="all-app", EventPattern=json.dumps({"source": ["app"]}))
    events.put_targets(Rule="all-app", Targets=[{"Id": "q", "Arn": arn}])
    # An HTTP target that is down: its deliveries wait for retries when the server dies.
    endpoint = Endpoint()
    port = endpoint.httpd.server_address[1]
    endpoint.close()
    destination = api_destination(events, "later", f"http://127.0.0.1:{port}/later")
    events.put_rule(Name="to-later", EventPattern=json.dumps({"source": ["later"]}))
    events.put_targets(Rule="to-later", Targets=[{"Id": "h", "Arn": destination}])

    ids = []
    for batch in range(5):
        entries = [{"Source": "app", "DetailType": "n", "Detail": json.dumps({"n": batch * 10 + i})} for i in range(10)]
        result = events.put_events(Entries=entries)
        assert result["FailedEntryCount"] == 0
        ids += [e["EventId"] for e in result["Entries"]]
    later_ids = [
        e["EventId"]
        for e in events.put_events(
            Entries=[{"Source": "later", "DetailType": "n", "Detail": json.dumps({"n": i})} for i in range(3)]
        )["Entries"]
    ]
    # A CloudTrail event matched just before the crash.
    events.put_rule(Name="on-bucket", EventPattern=json.dumps({"source": ["aws.s3"], "detail": {"eventName": ["CreateBucket"]}}))
    events.put_targets(Rule="on-bucket", Targets=[{"Id": "q", "Arn": arn}])
    server.client("s3").create_bucket(Bucket="crash-bucket")
    server.kill9()

    # The endpoint comes up on the same port while the server is down.
    import http.server as hs

    received = queue.Queue()

    class Handler(hs.BaseHTTPRequestHandler):
        def do_POST(self):
            received.put(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = hs.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        restarted = new_server(server.data_dir).start()
        sqs = restarted.client("sqs")
        url = sqs.get_queue_url(QueueName="durable-target")["QueueUrl"]
        bodies = [json.loads(m["Body"]) for m in receive(sqs, url, count=100, timeout=10.0)]
        app_ids = {b["id"] for b in bodies if b["source"] == "app"}
        assert app_ids == set(ids)
        assert any(b["source"] == "aws.s3" and b["detail"]["requestParameters"]["bucketName"] == "crash-bucket" for b in bodies)
        got_later = set()
        deadline = time.monotonic() + 15
        while got_later != set(later_ids) and time.monotonic() < deadline:
            try:
                got_later.add(received.get(timeout=1.0)["id"])
            except queue.Empty:
                pass
        assert got_later == set(later_ids)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_calls_are_recorded_in_cloudtrail(server):
    events = server.client("events")
    events.put_rule(Name="recorded", EventPattern='{"source": ["x"]}')

    def found():
        hits = server.lookup(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PutRule"}])
        return hits or None

    hits = wait_for("PutRule in event history", found, timeout=10)
    record = json.loads(hits[0]["CloudTrailEvent"])
    assert record["eventSource"] == "events.amazonaws.com"
    assert record["requestParameters"]["name"] == "recorded"
    assert record["responseElements"]["ruleArn"].endswith(":rule/recorded")
