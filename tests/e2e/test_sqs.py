"""SQS end to end with boto3, the real `aws` CLI and raw query-protocol requests: queues and
attributes, messages with attributes (MD5s checked independently), visibility timeouts,
long polling, redrive to dead-letter queues, FIFO ordering and deduplication, batches and
their errors, tags and permissions, durability across `kill -9`, and the CloudTrail records
of management calls."""

import hashlib
import json
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from conftest import ACCESS_KEY, ACCOUNT_ID, SECRET_KEY, error_of

XMLNS = "{http://queue.amazonaws.com/doc/2012-11-05/}"


def attributes_md5(attributes):
    """AWS's message-attribute digest, written from its documentation."""
    buffer = b""
    for name in sorted(attributes):
        value = attributes[name]
        for part in (name.encode(), value["DataType"].encode()):
            buffer += struct.pack("!I", len(part)) + part
        if "StringValue" in value:
            data = value["StringValue"].encode()
            buffer += b"\x01" + struct.pack("!I", len(data)) + data
        else:
            data = value["BinaryValue"]
            buffer += b"\x02" + struct.pack("!I", len(data)) + data
    return hashlib.md5(buffer).hexdigest()


def test_queue_lifecycle_attributes_and_listing(server):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
    assert url == f"{server.endpoint}/{ACCOUNT_ID}/orders"
    # Creating it again with the same attributes is idempotent; different ones conflict.
    assert sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == url
    err = error_of(lambda: sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "46"}))
    assert err["Code"] == "QueueAlreadyExists"
    assert sqs.get_queue_url(QueueName="orders")["QueueUrl"] == url

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "45"
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:orders"
    assert attributes["ApproximateNumberOfMessages"] == "0"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "3"})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])["Attributes"] == {
        "DelaySeconds": "3"
    }
    err = error_of(lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "50000"}))
    assert err["Code"] == "InvalidAttributeValue"
    err = error_of(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Bogus"]))
    assert err["Code"] == "InvalidAttributeName"

    for index in range(5):
        sqs.create_queue(QueueName=f"page-{index}")
    first = sqs.list_queues(QueueNamePrefix="page-", MaxResults=2)
    assert len(first["QueueUrls"]) == 2 and "NextToken" in first
    seen = list(first["QueueUrls"])
    token = first["NextToken"]
    while token:
        page = sqs.list_queues(QueueNamePrefix="page-", MaxResults=2, NextToken=token)
        seen += page["QueueUrls"]
        token = page.get("NextToken")
    assert seen == [f"{server.endpoint}/{ACCOUNT_ID}/page-{i}" for i in range(5)]

    sqs.delete_queue(QueueUrl=url)
    err = error_of(lambda: sqs.get_queue_url(QueueName="orders"))
    assert err["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=url, MessageBody="x")
    # Queues are per region.
    assert "QueueUrls" not in server.client("sqs", region="eu-west-1").list_queues(QueueNamePrefix="page-")


def test_messages_attributes_and_digests(server):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="digests")["QueueUrl"]
    attributes = {
        "city": {"DataType": "String", "StringValue": "Zürich"},
        "count": {"DataType": "Number", "StringValue": "42"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
    }
    body = "héllo wörld ✓"
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == attributes_md5(attributes)

    received = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert len(received) == 1
    message = received[0]
    assert message["Body"] == body and message["MessageId"] == sent["MessageId"]
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01\xff"
    assert message["MD5OfMessageAttributes"] == attributes_md5(attributes)
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert int(message["Attributes"]["SentTimestamp"]) > 1_600_000_000_000

    # Only the asked-for attributes come back, with the digest of those.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["ci.*"])["Messages"][0]
    assert list(again["MessageAttributes"]) == ["city"]
    assert again["MD5OfMessageAttributes"] == attributes_md5({"city": attributes["city"]})

    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])  # already gone: fine
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    err = error_of(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage"))
    assert err["Code"] == "ReceiptHandleIsInvalid"

    # Size and content limits.
    err = error_of(lambda: sqs.send_message(QueueUrl=url, MessageBody="x" * (1024 * 1024 + 1)))
    assert err["Code"] == "InvalidParameterValue"
    err = error_of(lambda: sqs.send_message(QueueUrl=url, MessageBody="bad \x01 char"))
    assert err["Code"] == "InvalidMessageContents"
    err = error_of(lambda: sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=901))
    assert err["Code"] == "InvalidParameterValue"


def test_visibility_timeout_and_delay(server):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="visibility", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    first = sqs.receive_message(QueueUrl=url)["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
    time.sleep(1.3)
    second = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert second["MessageId"] == first["MessageId"]
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    # Extending the timeout keeps it hidden past the queue's default.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=5)
    time.sleep(1.3)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])

    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    assert sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"] == {"ApproximateNumberOfMessagesDelayed": "1"}
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)["Messages"]
    assert got[0]["Body"] == "later"


def test_long_polling_wakes_on_send(server):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
    result = {}

    def receive():
        started = time.monotonic()
        result["response"] = server.client("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=10)
        result["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=receive)
    thread.start()
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    thread.join(timeout=15)
    assert result["response"]["Messages"][0]["Body"] == "wake up"
    assert 0.4 < result["elapsed"] < 5

    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert time.monotonic() - started >= 0.9
    err = error_of(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=21))
    assert err["Code"] == "InvalidParameterValue"


def test_redrive_to_dead_letter_queue(server):
    sqs = server.client("sqs")
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    source = sqs.create_queue(QueueName="work", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [source]

    sqs.send_message(QueueUrl=source, MessageBody="poison")
    for _ in range(2):
        assert sqs.receive_message(QueueUrl=source, VisibilityTimeout=0)["Messages"][0]["Body"] == "poison"
    # The third receive finds it over maxReceiveCount: it moves to the dead-letter queue.
    assert "Messages" not in sqs.receive_message(QueueUrl=source)
    moved = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=2)["Messages"]
    assert [m["Body"] for m in moved] == ["poison"]

    err = error_of(
        lambda: sqs.create_queue(
            QueueName="orphan",
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn + "x", "maxReceiveCount": 1})},
        )
    )
    assert err["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


def test_fifo_ordering_groups_and_deduplication(server):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    ids = []
    for index in range(6):
        sent = sqs.send_message(
            QueueUrl=url, MessageBody=f"m{index}", MessageGroupId="g1" if index % 2 == 0 else "g2",
            MessageDeduplicationId=f"d{index}",
        )
        ids.append(sent["MessageId"])
        assert len(sent["SequenceNumber"]) == 20
    duplicate = sqs.send_message(QueueUrl=url, MessageBody="m0", MessageGroupId="g1", MessageDeduplicationId="d0")
    assert duplicate["MessageId"] == ids[0]

    batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in batch] == [f"m{i}" for i in range(6)]
    assert batch[0]["Attributes"]["MessageGroupId"] == "g1"
    # Both groups are in flight now: nothing more is delivered until they are done.
    sqs.send_message(QueueUrl=url, MessageBody="m6", MessageGroupId="g1", MessageDeduplicationId="d6")
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    for message in batch:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "m6"

    content = sqs.create_queue(
        QueueName="content.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    a = sqs.send_message(QueueUrl=content, MessageBody="same", MessageGroupId="g")
    b = sqs.send_message(QueueUrl=content, MessageBody="same", MessageGroupId="g")
    assert a["MessageId"] == b["MessageId"]
    assert sqs.get_queue_attributes(QueueUrl=content, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"
    ]["ApproximateNumberOfMessages"] == "1"

    err = error_of(lambda: sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="z"))
    assert err["Code"] == "MissingParameter"
    err = error_of(lambda: sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g"))
    assert err["Code"] == "InvalidParameterValue"
    err = error_of(lambda: sqs.create_queue(QueueName="nofifo", Attributes={"FifoQueue": "true"}))
    assert err["Code"] == "InvalidParameterValue"


def test_batches_and_their_errors(server):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="batches")["QueueUrl"]
    result = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "MessageBody": "one"},
            {"Id": "b", "MessageBody": "two", "DelaySeconds": 1000},
            {"Id": "c", "MessageBody": "three", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
        ],
    )
    assert sorted(entry["Id"] for entry in result["Successful"]) == ["a", "c"]
    assert [entry["Id"] for entry in result["Failed"]] == ["b"]
    assert result["Failed"][0]["SenderFault"] is True

    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in messages) == ["one", "three"]
    changed = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[{"Id": "x", "ReceiptHandle": messages[0]["ReceiptHandle"], "VisibilityTimeout": 60},
                 {"Id": "y", "ReceiptHandle": "garbage", "VisibilityTimeout": 60}],
    )
    assert [e["Id"] for e in changed["Successful"]] == ["x"]
    assert changed["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        + [{"Id": "bad", "ReceiptHandle": "garbage"}],
    )
    assert sorted(e["Id"] for e in deleted["Successful"]) == ["d0", "d1"]
    assert deleted["Failed"][0]["Id"] == "bad"

    err = error_of(lambda: sqs.send_message_batch(QueueUrl=url, Entries=[]))
    assert err["Code"] == "AWS.SimpleQueueService.EmptyBatchRequest"
    err = error_of(lambda: sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "same", "MessageBody": "1"}, {"Id": "same", "MessageBody": "2"}]))
    assert err["Code"] == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
    err = error_of(lambda: sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)]))
    assert err["Code"] == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    err = error_of(lambda: sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x" * 300_000} for i in range(4)]))
    assert err["Code"] == "AWS.SimpleQueueService.BatchRequestTooLong"

    sqs.send_message(QueueUrl=url, MessageBody="purge me")
    sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_tags_and_permissions(server):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="tagged", tags={"team": "a"})["QueueUrl"]
    sqs.tag_queue(QueueUrl=url, Tags={"env": "dev"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a", "env": "dev"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "dev"}

    sqs.add_permission(QueueUrl=url, Label="share", AWSAccountIds=["111111111111"], Actions=["SendMessage"])
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Sid"] == "share"
    assert policy["Statement"][0]["Action"] == "SQS:SendMessage"
    sqs.remove_permission(QueueUrl=url, Label="share")
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
    own = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:*"}]})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": own})
    assert json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    ) == json.loads(own)


def signed_query(server, params, path="/"):
    """A query-protocol request as older SDKs send it, signed with SigV4."""
    body = urllib.parse.urlencode(params)
    request = botocore.awsrequest.AWSRequest(
        method="POST", url=server.endpoint + path, data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    credentials = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
    botocore.auth.SigV4Auth(credentials, "sqs", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(
        server.endpoint + path, data=body.encode(), headers=dict(request.headers), method="POST"
    )
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:
            return response.status, ET.fromstring(response.read())
    except urllib.error.HTTPError as err:
        return err.code, ET.fromstring(err.read())


def test_query_protocol(server):
    status, doc = signed_query(server, {
        "Action": "CreateQueue", "Version": "2012-11-05", "QueueName": "legacy",
        "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "17",
    })
    assert status == 200
    assert doc.tag == f"{XMLNS}CreateQueueResponse"
    url = doc.find(f"{XMLNS}CreateQueueResult/{XMLNS}QueueUrl").text
    assert url.endswith(f"/{ACCOUNT_ID}/legacy")
    status, doc = signed_query(server, {
        "Action": "SendMessage", "Version": "2012-11-05", "QueueUrl": url, "MessageBody": "<hi & bye>",
        "MessageAttribute.1.Name": "k", "MessageAttribute.1.Value.DataType": "String",
        "MessageAttribute.1.Value.StringValue": "v",
    })
    assert status == 200
    result = doc.find(f"{XMLNS}SendMessageResult")
    assert result.find(f"{XMLNS}MD5OfMessageBody").text == hashlib.md5(b"<hi & bye>").hexdigest()
    assert result.find(f"{XMLNS}MD5OfMessageAttributes").text == attributes_md5(
        {"k": {"DataType": "String", "StringValue": "v"}})
    # The queue may also be named by the request path.
    status, doc = signed_query(server, {
        "Action": "ReceiveMessage", "Version": "2012-11-05", "MessageAttributeName.1": "All",
        "AttributeName.1": "All",
    }, path=f"/{ACCOUNT_ID}/legacy")
    assert status == 200
    message = doc.find(f"{XMLNS}ReceiveMessageResult/{XMLNS}Message")
    assert message.find(f"{XMLNS}Body").text == "<hi & bye>"
    assert message.find(f"{XMLNS}MessageAttribute/{XMLNS}Name").text == "k"
    names = [a.find(f"{XMLNS}Name").text for a in message.findall(f"{XMLNS}Attribute")]
    assert "ApproximateReceiveCount" in names
    status, doc = signed_query(server, {"Action": "GetQueueUrl", "Version": "2012-11-05", "QueueName": "none"})
    assert status == 400
    assert doc.find(f"{XMLNS}Error/{XMLNS}Code").text == "AWS.SimpleQueueService.NonExistentQueue"
    assert doc.find(f"{XMLNS}Error/{XMLNS}Type").text == "Sender"


def test_cli_round_trip(server):
    # aws-cli v1 ignores AWS_ENDPOINT_URL for SQS (it keeps the legacy queue.amazonaws.com
    # endpoint), so the endpoint is passed explicitly.
    def aws(*args):
        return server.aws("--endpoint-url", server.endpoint, "sqs", *args)

    url = aws("create-queue", "--queue-name", "cli-queue")["QueueUrl"]
    sent = aws("send-message", "--queue-url", url, "--message-body", "from the cli")
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"from the cli").hexdigest()
    received = aws("receive-message", "--queue-url", url, "--wait-time-seconds", "1")
    assert received["Messages"][0]["Body"] == "from the cli"
    aws("delete-message", "--queue-url", url, "--receipt-handle", received["Messages"][0]["ReceiptHandle"])
    assert aws("receive-message", "--queue-url", url) is None
    assert url in aws("list-queues")["QueueUrls"]


def test_management_calls_are_recorded_and_bodies_never(server):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="audited")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="top secret body")
    events = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = server.lookup(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "sqs.amazonaws.com"}])
        if any(e["EventName"] == "CreateQueue" for e in events):
            break
        time.sleep(0.2)
    create = [e for e in events if e["EventName"] == "CreateQueue"]
    assert create, events
    record = json.loads(create[0]["CloudTrailEvent"])
    assert record["requestParameters"] == {"queueName": "audited"}
    assert record["responseElements"] == {"queueUrl": url}
    assert record["resources"] == [
        {"accountId": ACCOUNT_ID, "type": "AWS::SQS::Queue", "ARN": f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:audited"}
    ]
    assert record["managementEvent"] is True
    # SendMessage is a data event: not in event history, and no record holds the body.
    assert not any(e["EventName"] == "SendMessage" for e in events)
    journal = server.data_dir / "journal"
    blob = b"".join(p.read_bytes() for p in journal.rglob("*.log"))
    assert b"SendMessage" in blob
    assert b"top secret body" not in blob
    assert b"HIDDEN_DUE_TO_SECURITY_REASONS" in blob


def test_messages_survive_kill_9(new_server):
    server = new_server().start()
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="durable", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    fifo = sqs.create_queue(QueueName="durable.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    bodies = [f"message {i}" for i in range(50)]
    for start in range(0, 50, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": bodies[i]} for i in range(start, start + 10)])
    for i in range(5):
        sqs.send_message(QueueUrl=fifo, MessageBody=f"f{i}", MessageGroupId="g", MessageDeduplicationId=f"d{i}")
    # One message received (in flight) and one deleted before the crash.
    taken = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=taken[0]["ReceiptHandle"])
    server.kill9()

    restarted = new_server(server.data_dir).start()
    sqs = restarted.client("sqs")
    url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
    time.sleep(1.1)  # the in-flight message's visibility timeout passes
    got = []
    for _ in range(20):
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"])
        messages = page.get("Messages", [])
        if not messages:
            break
        got += messages
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    assert sorted(m["Body"] for m in got) == sorted(b for b in bodies if b != taken[0]["Body"])
    again = [m for m in got if m["MessageId"] == taken[1]["MessageId"]]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    fifo = sqs.get_queue_url(QueueName="durable.fifo")["QueueUrl"]
    ordered = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in ordered] == [f"f{i}" for i in range(5)]
    # Deduplication survives the restart too.
    dup = sqs.send_message(QueueUrl=fifo, MessageBody="f0", MessageGroupId="g", MessageDeduplicationId="d0")
    assert dup["MessageId"] == ordered[0]["MessageId"]
