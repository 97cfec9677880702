"""`opentrail lookup` end to end: records put in through the ingest API (boto3
`cloudtrail-data`), then searched with several attributes at once, record fields with
wildcards, human time ranges and each output format; results are compared with the same
filters applied here to the records."""

import datetime
import json
import subprocess
import uuid

import pytest

from conftest import ACCOUNT_ID, binary

CHANNEL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:channel/opentrail"
USERS = ("alice", "bob", "carol")
NAMES = ("CreateBucket", "DeleteBucket", "GetObject", "PutBucketPolicy")


def make_records():
    """60 records over the last 3 days: users × event names × outcomes, one region."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    records = []
    for i in range(60):
        user = USERS[i % 3]
        name = NAMES[i % 4]
        age = datetime.timedelta(minutes=37 * i + 1)
        record = {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": f"AIDA{user.upper()}",
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/{user}",
                "accountId": ACCOUNT_ID,
                "accessKeyId": f"AKIA{user.upper()}{i % 2}",
                "userName": user,
            },
            "eventTime": (now - age).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "s3.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": f"10.0.0.{i}",
            "userAgent": "test",
            "requestParameters": {"bucketName": f"bucket-{i % 5}"},
            "responseElements": None,
            "requestID": uuid.uuid4().hex,
            "eventID": str(uuid.uuid4()),
            "readOnly": name == "GetObject",
            "resources": [{"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::bucket-{i % 5}"}],
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT_ID,
            "eventCategory": "Management",
        }
        if i % 7 == 0:
            record["errorCode"] = "AccessDenied" if i % 2 == 0 else "AccessDeniedException"
            record["errorMessage"] = "no"
        records.append(record)
    return records


@pytest.fixture
def loaded(server):
    records = make_records()
    client = server.client("cloudtrail-data")
    for start in range(0, len(records), 25):
        chunk = records[start : start + 25]
        answer = client.put_audit_events(
            channelArn=CHANNEL,
            auditEvents=[{"id": f"r{start + i}", "eventData": json.dumps(r)} for i, r in enumerate(chunk)],
        )
        assert len(answer["successful"]) == len(chunk), answer["failed"]
    return server, records


def lookup(server, *args, check=True):
    result = subprocess.run(
        [binary(), "lookup", "--endpoint-url", server.endpoint, *args],
        env=server.env, capture_output=True, text=True, timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def jsonl(server, *args):
    out = lookup(server, "--output", "jsonl", *args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def newest_first(records):
    return sorted(records, key=lambda r: r["eventTime"], reverse=True)


def ids(records):
    return [r["eventID"] for r in records]


def test_several_attributes_at_once(loaded):
    server, records = loaded
    found = jsonl(server, "--attr", "Username=alice", "--attr", "EventName=CreateBucket")
    expected = [r for r in records if r["userIdentity"]["userName"] == "alice" and r["eventName"] == "CreateBucket"]
    assert expected and ids(found) == ids(newest_first(expected))
    assert found == newest_first(expected), "each line is the record itself"

    found = jsonl(server, "--attr", "ResourceName=bucket-2", "--attr", "ReadOnly=true", "--attr", "AccessKeyId=AKIABOB1")
    expected = [
        r for r in records
        if r["resources"][0]["ARN"].endswith("bucket-2") and r["readOnly"] and r["userIdentity"]["accessKeyId"] == "AKIABOB1"
    ]
    assert ids(found) == ids(newest_first(expected))

    one = records[17]
    found = jsonl(server, "--attr", "EventName=" + one["eventName"], "--attr", "EventId=" + one["eventID"])
    assert ids(found) == [one["eventID"]]


def test_where_on_any_field_with_wildcards(loaded):
    server, records = loaded
    found = jsonl(server, "--where", "errorCode=AccessDenied*")
    expected = [r for r in records if r.get("errorCode", "").startswith("AccessDenied")]
    assert len(expected) >= 4 and ids(found) == ids(newest_first(expected))

    found = jsonl(server, "--where", "errorCode=AccessDenied")
    assert ids(found) == ids(newest_first([r for r in records if r.get("errorCode") == "AccessDenied"]))

    arn = f"arn:aws:iam::{ACCOUNT_ID}:user/carol"
    found = jsonl(server, "--where", f"userIdentity.arn={arn}", "--where", "requestParameters.bucketName=bucket-*", "--attr", "EventName=GetObject")
    expected = [r for r in records if r["userIdentity"]["arn"] == arn and r["eventName"] == "GetObject"]
    assert expected and ids(found) == ids(newest_first(expected))

    found = jsonl(server, "--where", "resources.ARN=*bucket-4", "--where", "readOnly=false")
    expected = [r for r in records if r["resources"][0]["ARN"].endswith("bucket-4") and not r["readOnly"]]
    assert ids(found) == ids(newest_first(expected))


def test_time_ranges_and_max(loaded):
    server, records = loaded
    now = datetime.datetime.now(datetime.timezone.utc)

    def age(r):
        return now - datetime.datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)

    found = jsonl(server, "--since", "3h")
    # Allow for the seconds between making the records and this call.
    expected = [r for r in records if age(r) <= datetime.timedelta(hours=3)]
    assert ids(found) == ids(newest_first(expected))
    assert 0 < len(found) < len(records)

    start = records[30]["eventTime"]
    end = records[10]["eventTime"]
    found = jsonl(server, "--start", start, "--end", end)
    assert ids(found) == ids(newest_first(records[10:31]))

    # The server records the lookups themselves (cloudtrail.amazonaws.com): leave them out.
    found = jsonl(server, "--max", "7", "--attr", "EventSource=s3.amazonaws.com")
    assert ids(found) == ids(newest_first(records)[:7])
    everything = jsonl(server, "--where", "eventSource=s3.amazonaws.com")
    assert ids(everything) == ids(newest_first(records)), "all pages"


def test_output_formats(loaded):
    server, records = loaded
    as_json = json.loads(lookup(server, "--output", "json", "--attr", "Username=bob").stdout)
    expected = newest_first([r for r in records if r["userIdentity"]["userName"] == "bob"])
    assert as_json == expected

    table = lookup(server, "--attr", "Username=bob", "--max", "3").stdout.splitlines()
    assert table[0].split() == ["EventTime", "EventName", "EventSource", "Username", "EventId"]
    assert len(table) == 4
    for line, record in zip(table[1:], expected[:3]):
        assert line.split() == [record["eventTime"], record["eventName"], "s3.amazonaws.com", "bob", record["eventID"]]

    empty = json.loads(lookup(server, "--output", "json", "--attr", "Username=nobody").stdout)
    assert empty == []


def test_bad_arguments_exit_2(loaded):
    server, _ = loaded
    for args, text in (
        (["--attr", "Colour=red"], "Colour"),
        (["--attr", "EventName"], "Key=Value"),
        (["--where", "errorCode"], "path=value"),
        (["--since", "2 fortnights"], "--since"),
        (["--start", "yesterday"], "--start"),
        (["--start", "2024-02-01", "--end", "2024-01-01"], "after"),
    ):
        result = lookup(server, *args, check=False)
        assert result.returncode == 2, args
        assert text in result.stderr, (args, result.stderr)
    dead = subprocess.run(
        [binary(), "lookup", "--endpoint-url", "http://127.0.0.1:9"],
        env=server.env, capture_output=True, text=True, timeout=60,
    )
    assert dead.returncode == 2 and "could not connect" in dead.stderr
