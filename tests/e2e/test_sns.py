"""SNS end to end with boto3: topics (standard and FIFO), attributes and tags, subscriptions,
fan-out into SQS queues with attribute and body filter policies, raw delivery, an HTTP
subscriber that confirms through SubscribeURL and verifies message signatures against the
certificate opentrail serves, AWS's errors, and the CloudTrail records of SNS calls."""

import base64
import json
import queue
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from conftest import ACCOUNT_ID, create_trail_bucket, create_trail_topic, error_of


def make_queue(sqs, name, **attributes):
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive_all(sqs, url, expected, timeout=5.0):
    messages = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        messages.extend(got)
    return messages


def test_topics_attributes_tags_and_errors(server):
    sns = server.client("sns")
    arn = sns.create_topic(Name="orders", Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:{ACCOUNT_ID}:orders"
    assert sns.create_topic(Name="orders")["TopicArn"] == arn
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Orders")
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["DisplayName"] == "Orders"
    assert attributes["Owner"] == ACCOUNT_ID
    assert json.loads(attributes["Policy"])["Statement"][0]["Resource"] == arn
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]

    fifo = sns.create_topic(
        Name="orders.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"}
    )["TopicArn"]
    assert sns.get_topic_attributes(TopicArn=fifo)["Attributes"]["FifoTopic"] == "true"
    assert error_of(lambda: sns.create_topic(Name="bad name"))["Code"] == "InvalidParameter"
    assert error_of(lambda: sns.create_topic(Name="x", Attributes={"FifoTopic": "true"}))[
        "Code"
    ] == "InvalidParameter"

    for index in range(105):
        sns.create_topic(Name=f"t{index:03}")
    first = sns.list_topics()
    assert len(first["Topics"]) == 100 and "NextToken" in first
    second = sns.list_topics(NextToken=first["NextToken"])
    assert len(first["Topics"]) + len(second["Topics"]) == 107

    missing = arn + "-missing"
    err = error_of(lambda: sns.get_topic_attributes(TopicArn=missing))
    assert (err["Code"], err["Message"]) == ("NotFound", "Topic does not exist")
    err = error_of(lambda: sns.publish(TopicArn="not-an-arn", Message="x"))
    assert (err["Code"], err["Message"]) == ("InvalidParameter", "Invalid parameter: TopicArn")
    sns.delete_topic(TopicArn=arn)
    assert error_of(lambda: sns.list_subscriptions_by_topic(TopicArn=arn))["Code"] == "NotFound"


def test_fan_out_to_sqs_with_filters_and_raw_delivery(server):
    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name="events")["TopicArn"]
    all_url, all_arn = make_queue(sqs, "all")
    red_url, red_arn = make_queue(sqs, "red")
    big_url, big_arn = make_queue(sqs, "big")
    raw_url, raw_arn = make_queue(sqs, "raw")
    sub_all = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=all_arn)["SubscriptionArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=red_arn,
        Attributes={"FilterPolicy": json.dumps({"color": ["red"], "size": [{"numeric": [">", 3]}]})},
    )
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=big_arn,
        Attributes={
            "FilterPolicy": json.dumps({"order": {"kind": ["big"]}}),
            "FilterPolicyScope": "MessageBody",
        },
    )
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"}
    )
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub_all)["Attributes"]
    assert attrs["Protocol"] == "sqs" and attrs["PendingConfirmation"] == "false"
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 4

    sns.publish(
        TopicArn=topic,
        Message=json.dumps({"order": {"kind": "big"}}),
        Subject="hello",
        MessageAttributes={
            "color": {"DataType": "String", "StringValue": "red"},
            "size": {"DataType": "Number", "StringValue": "5"},
        },
    )
    sns.publish(
        TopicArn=topic,
        Message="plain text",
        MessageAttributes={"color": {"DataType": "String", "StringValue": "blue"}},
    )
    # Durable on return: the messages are in the queues already.
    everything = receive_all(sqs, all_url, 2)
    assert len(everything) == 2
    envelopes = [json.loads(m["Body"]) for m in everything]
    assert all(e["Type"] == "Notification" and e["TopicArn"] == topic for e in envelopes)
    first = next(e for e in envelopes if e.get("Subject") == "hello")
    assert first["MessageAttributes"]["color"] == {"Type": "String", "Value": "red"}
    assert first["SignatureVersion"] and first["Signature"] and first["SigningCertURL"]
    red = receive_all(sqs, red_url, 1)
    assert len(red) == 1 and json.loads(red[0]["Body"])["Subject"] == "hello"
    big = receive_all(sqs, big_url, 1)
    assert len(big) == 1 and json.loads(json.loads(big[0]["Body"])["Message"]) == {"order": {"kind": "big"}}
    raw = receive_all(sqs, raw_url, 2)
    bodies = sorted(m["Body"] for m in raw)
    assert bodies == sorted([json.dumps({"order": {"kind": "big"}}), "plain text"])
    red_raw = next(m for m in raw if m["Body"] != "plain text")
    assert red_raw["MessageAttributes"]["color"]["StringValue"] == "red"
    assert sqs.receive_message(QueueUrl=red_url, WaitTimeSeconds=1).get("Messages") is None

    structured = sns.publish(
        TopicArn=topic,
        MessageStructure="json",
        Message=json.dumps({"default": "dflt", "sqs": "for-sqs"}),
    )
    assert structured["MessageId"]
    assert [m["Body"] for m in receive_all(sqs, raw_url, 1)] == ["for-sqs"]
    err = error_of(lambda: sns.publish(TopicArn=topic, MessageStructure="json", Message="{}"))
    assert err["Message"] == "Invalid parameter: Message Structure - No default entry in JSON message body"

    batch = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "a", "Message": "one"},
            {"Id": "b", "Message": ""},
        ],
    )
    assert [e["Id"] for e in batch["Successful"]] == ["a"]
    assert [e["Id"] for e in batch["Failed"]] == ["b"]
    dlq_url, dlq_arn = make_queue(sqs, "dead-letters")
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:no-such-queue",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})},
    )
    sns.publish(TopicArn=topic, Message="undeliverable")
    dead = receive_all(sqs, dlq_url, 1)
    assert [json.loads(m["Body"])["Message"] for m in dead] == ["undeliverable"]
    sns.unsubscribe(SubscriptionArn=sub_all)
    assert error_of(lambda: sns.get_subscription_attributes(SubscriptionArn=sub_all))["Code"] == "NotFound"


def test_fifo_topic_to_fifo_queue(server):
    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name="t.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url, arn = make_queue(sqs, "q.fifo", FifoQueue="true")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    err = error_of(lambda: sns.publish(TopicArn=topic, Message="m", MessageGroupId="g"))
    assert err["Code"] == "InvalidParameter"
    for index in range(3):
        result = sns.publish(
            TopicArn=topic, Message=f"m{index}", MessageGroupId="g", MessageDeduplicationId=f"d{index}"
        )
        assert result["SequenceNumber"]
    sns.publish(TopicArn=topic, Message="again", MessageGroupId="g", MessageDeduplicationId="d0")
    bodies = []
    for _ in range(3):
        got = receive_all(sqs, url, 1)
        bodies.extend(m["Body"] for m in got)
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert bodies == ["m0", "m1", "m2"]


class Subscriber:
    """An HTTP endpoint on 127.0.0.1 that records what SNS POSTs to it."""

    def __init__(self):
        self.received = queue.Queue()
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                outer.received.put((dict(self.headers), json.loads(body)))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout=10.0):
        return self.received.get(timeout=timeout)

    def close(self):
        self.httpd.shutdown()


def verify_signature(message):
    with urllib.request.urlopen(message["SigningCertURL"], timeout=10) as response:
        cert = x509.load_pem_x509_certificate(response.read())
    if message["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    canonical = "".join(f"{k}\n{message[k]}\n" for k in keys if k in message).encode()
    algorithm = hashes.SHA256() if message["SignatureVersion"] == "2" else hashes.SHA1()
    cert.public_key().verify(
        base64.b64decode(message["Signature"]), canonical, padding.PKCS1v15(), algorithm
    )


@pytest.mark.parametrize("version", [None, "1", "2"])
def test_http_subscriber_confirms_and_verifies_signed_messages(server, version):
    sns = server.client("sns")
    # Without the attribute a topic signs with version 1 (SHA1withRSA), as AWS does.
    attributes = {"SignatureVersion": version} if version else {}
    topic = sns.create_topic(Name="hooks", Attributes=attributes)["TopicArn"]
    expected_version = version or "1"
    subscriber = Subscriber()
    try:
        pending = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
        assert pending["SubscriptionArn"] == "pending confirmation"
        headers, confirmation = subscriber.next()
        assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        assert confirmation["Type"] == "SubscriptionConfirmation" and confirmation["Token"]
        assert confirmation["SignatureVersion"] == expected_version
        verify_signature(confirmation)
        with urllib.request.urlopen(confirmation["SubscribeURL"], timeout=10) as response:
            assert b"<SubscriptionArn>arn:aws:sns:" in response.read()
        subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        assert subs[0]["SubscriptionArn"].startswith(topic + ":")

        sns.publish(TopicArn=topic, Message="ping", Subject="s")
        headers, note = subscriber.next()
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-topic-arn"] == topic
        assert headers["x-amz-sns-subscription-arn"] == subs[0]["SubscriptionArn"]
        assert (note["Message"], note["Subject"]) == ("ping", "s")
        assert note["SignatureVersion"] == expected_version
        verify_signature(note)
        tampered = dict(note, Message="pong")
        with pytest.raises(Exception):
            verify_signature(tampered)

        email = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com")
        assert email["SubscriptionArn"] == "pending confirmation"
    finally:
        subscriber.close()


def test_sqs_envelopes_of_one_message_carry_the_same_valid_signature(server):
    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name="signed-fan-out")["TopicArn"]
    urls = []
    for name in ["signed-a", "signed-b"]:
        url, arn = make_queue(sqs, name)
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        urls.append(url)
    sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[{"Id": str(i), "Message": f"m{i}"} for i in range(3)],
    )
    envelopes = [[json.loads(m["Body"]) for m in receive_all(sqs, url, 3)] for url in urls]
    assert [len(e) for e in envelopes] == [3, 3]
    # Each queue gets the messages in publish order.
    assert [[e["Message"] for e in queue_envelopes] for queue_envelopes in envelopes] == [
        ["m0", "m1", "m2"],
        ["m0", "m1", "m2"],
    ]
    for a, b in zip(*envelopes):
        assert a["MessageId"] == b["MessageId"] and a["Signature"] == b["Signature"]
        assert a["UnsubscribeURL"] != b["UnsubscribeURL"]
        assert a["SignatureVersion"] == "1"
        verify_signature(a)
        verify_signature(b)


def test_add_and_remove_permission_edit_the_topic_policy(server):
    sns = server.client("sns")
    topic = sns.create_topic(Name="shared")["TopicArn"]
    sns.add_permission(
        TopicArn=topic,
        Label="partners",
        AWSAccountId=["111111111111", "222222222222"],
        ActionName=["Publish", "Subscribe"],
    )
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    assert policy["Statement"][0]["Sid"] == "__default_statement_ID"
    assert policy["Statement"][1] == {
        "Sid": "partners",
        "Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root"]},
        "Action": ["SNS:Publish", "SNS:Subscribe"],
        "Resource": topic,
    }
    again = error_of(lambda: sns.add_permission(
        TopicArn=topic, Label="partners", AWSAccountId=["111111111111"], ActionName=["Publish"]))
    assert (again["Code"], again["Message"]) == ("InvalidParameter", "Statement already exists")
    bad = error_of(lambda: sns.add_permission(
        TopicArn=topic, Label="other", AWSAccountId=["111111111111"], ActionName=["Launch"]))
    assert bad["Message"] == "Policy statement action out of service scope!"
    missing = error_of(lambda: sns.add_permission(
        TopicArn=topic + "-nope", Label="x", AWSAccountId=["111111111111"], ActionName=["Publish"]))
    assert (missing["Code"], missing["Message"]) == ("NotFound", "Topic does not exist")

    sns.remove_permission(TopicArn=topic, Label="partners")
    sns.remove_permission(TopicArn=topic, Label="never-added")
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["__default_statement_ID"]
    gone = error_of(lambda: sns.remove_permission(TopicArn=topic + "-nope", Label="x"))
    assert gone["Code"] == "NotFound"


def test_calls_are_recorded_and_publish_is_a_data_event(server):
    sns = server.client("sns")
    topic = sns.create_topic(Name="audited")["TopicArn"]
    sns.publish(TopicArn=topic, Message="top secret body")
    deadline = time.monotonic() + 10
    events = []
    while time.monotonic() < deadline:
        events = server.lookup(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "sns.amazonaws.com"}])
        if any(e["EventName"] == "CreateTopic" for e in events):
            break
        time.sleep(0.2)
    create = next(e for e in events if e["EventName"] == "CreateTopic")
    record = json.loads(create["CloudTrailEvent"])
    assert record["requestParameters"] == {"name": "audited"}
    assert record["responseElements"] == {"topicArn": topic}
    assert record["managementEvent"] is True
    # Publish is a Data event: LookupEvents shows management events only.
    assert not any(e["EventName"] == "Publish" for e in events)


def test_trail_notifies_its_topic_after_delivery(new_server):
    server = new_server(extra_env={"OPENTRAIL_DELIVERY_INTERVAL": "2"}).start()
    sns, sqs = server.client("sns"), server.client("sqs")
    s3, cloudtrail = server.client("s3"), server.client("cloudtrail")
    create_trail_bucket(s3, "trail-logs")
    err = error_of(
        lambda: cloudtrail.create_trail(Name="notify-trail", S3BucketName="trail-logs", SnsTopicName="missing")
    )
    assert err["Code"] == "InsufficientSnsTopicPolicyException"
    assert err["Message"] == "SNS Topic does not exist or the topic policy is incorrect!"
    topic = create_trail_topic(sns, "trail-topic")
    url, arn = make_queue(sqs, "trail-notes")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    trail = cloudtrail.create_trail(Name="notify-trail", S3BucketName="trail-logs", SnsTopicName="trail-topic")
    assert trail["SnsTopicARN"] == topic
    cloudtrail.start_logging(Name="notify-trail")
    s3.list_buckets()
    deadline = time.monotonic() + 30
    note = None
    while note is None and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        if got:
            note = json.loads(got[0]["Body"])
    assert note is not None, "no trail notification within 30 s"
    assert note["s3Bucket"] == "trail-logs"
    assert note["s3ObjectKey"] and all(key.endswith(".json.gz") for key in note["s3ObjectKey"])
    s3.head_object(Bucket="trail-logs", Key=note["s3ObjectKey"][0])
    deadline = time.monotonic() + 10
    status = cloudtrail.get_trail_status(Name="notify-trail")
    while "LatestNotificationTime" not in status and time.monotonic() < deadline:
        time.sleep(0.2)
        status = cloudtrail.get_trail_status(Name="notify-trail")
    assert "LatestNotificationTime" in status
    assert "LatestNotificationError" not in status
    err = error_of(lambda: cloudtrail.update_trail(Name="notify-trail", SnsTopicName="gone"))
    assert err["Code"] == "InsufficientSnsTopicPolicyException"


def test_http_messages_that_never_get_through_go_to_the_dead_letter_queue(server):
    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name="flaky")["TopicArn"]
    dlq_url, dlq_arn = make_queue(sqs, "http-dead-letters")
    subscriber = Subscriber()
    try:
        sns.subscribe(
            TopicArn=topic,
            Protocol="http",
            Endpoint=subscriber.url,
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})},
        )
        _, confirmation = subscriber.next()
        sns.confirm_subscription(TopicArn=topic, Token=confirmation["Token"])
        subscriber.status = 500
        sns.publish(TopicArn=topic, Message="lost")
        attempts = [subscriber.next()[1]["Message"] for _ in range(4)]
        assert attempts == ["lost"] * 4
        dead = receive_all(sqs, dlq_url, 1, timeout=10)
        assert [json.loads(m["Body"])["Message"] for m in dead] == ["lost"]
    finally:
        subscriber.close()
