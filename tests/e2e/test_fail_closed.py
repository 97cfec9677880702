"""No effect without its record: calls in flight while the server is killed with SIGKILL
either leave both their effect and their record, or their effect is absent; after a restart
every log group, queue and bucket that exists is named by a record of the call that made it.
A record written for a call the crash left unanswered says so and does not claim success."""

import json
import random
import threading
import time
import urllib.request

import botocore.exceptions


def created_names(server, event_name, parameter):
    """`parameter` of every `event_name` record in event history."""
    names = set()
    for event in server.lookup(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": event_name}]
    ):
        params = json.loads(event["CloudTrailEvent"]).get("requestParameters") or {}
        if params.get(parameter):
            names.add(params[parameter])
    return names


def hammer(clients, prefix, stop, attempted):
    """Creates log groups, queues and buckets with unique names until `stop` is set."""
    logs, sqs, s3 = clients
    number = 0
    while not stop.is_set() and number < 10_000:
        number += 1
        name = f"{prefix}-{number}"
        attempted.append(name)
        try:
            kind = number % 3
            if kind == 0:
                logs.create_log_group(logGroupName=name)
            elif kind == 1:
                sqs.create_queue(QueueName=name)
            else:
                s3.create_bucket(Bucket=name)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            # The server went away mid-call, or refused it: either is fine here.
            pass


def test_kill9_under_load_leaves_no_effect_without_its_record(new_server, tmp_path):
    server = new_server(tmp_path / "data").start()
    rng = random.Random(7)
    attempted = []
    # Clients are made once: making a boto3 client takes longer than a round.
    clients = [
        (server.client("logs"), server.client("sqs"), server.client("s3")) for _ in range(4)
    ]
    for round_number in range(6):
        stop = threading.Event()
        workers = [
            threading.Thread(
                target=hammer, args=(clients[worker], f"r{round_number}w{worker}", stop, attempted)
            )
            for worker in range(4)
        ]
        for worker in workers:
            worker.start()
        time.sleep(rng.uniform(0.5, 1.5))
        server.kill9()
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        server.start()

    groups = {group["logGroupName"] for group in server.client("logs").describe_log_groups()["logGroups"]}
    queues = {url.rsplit("/", 1)[1] for url in server.client("sqs").list_queues().get("QueueUrls", [])}
    buckets = {bucket["Name"] for bucket in server.client("s3").list_buckets()["Buckets"]}
    assert len(groups) + len(queues) + len(buckets) > 20, "the load made too few resources to judge"

    recorded_groups = created_names(server, "CreateLogGroup", "logGroupName")
    recorded_queues = created_names(server, "CreateQueue", "queueName")
    recorded_buckets = created_names(server, "CreateBucket", "bucketName")
    unrecorded = sorted(
        (groups - recorded_groups) | (queues - recorded_queues) | (buckets - recorded_buckets)
    )
    assert unrecorded == [], f"{len(unrecorded)} effects without records: {unrecorded[:10]}"

    for event in server.lookup(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateLogGroup"}]
    ):
        record = json.loads(event["CloudTrailEvent"])
        if (record.get("additionalEventData") or {}).get("opentrailOutcome") == "unknown":
            assert record["errorCode"] == "InternalFailure", record


def test_health_reports_an_admitting_journal(new_server, tmp_path):
    server = new_server(tmp_path / "data").start()
    with urllib.request.urlopen(f"{server.endpoint}/_opentrail/health") as response:
        assert json.loads(response.read()) == {"status": "ok"}
    server.client("logs").create_log_group(logGroupName="answered")
    records = server.lookup(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateLogGroup"}]
    )
    record = json.loads(records[0]["CloudTrailEvent"])
    assert record["requestParameters"] == {"logGroupName": "answered"}
    assert "errorCode" not in record
