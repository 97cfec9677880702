"""Trail delivery end to end: log files in the AWS S3 layout, basic and advanced selectors,
signed digest files checked by the real `aws cloudtrail validate-logs` (and caught tampering),
ListPublicKeys, GetTrailStatus delivery fields, delivery failures, and kill -9 in the middle
of delivery losing and duplicating nothing.

Servers run with short cadences (`OPENTRAIL_DELIVERY_INTERVAL`, `OPENTRAIL_DIGEST_INTERVAL`);
every wait is bounded."""

import base64
import datetime
import gzip
import json
import random
import re
import subprocess
import time
import uuid

import pytest

from conftest import ACCOUNT_ID, create_trail_bucket
from conftest import wait_for as shared_wait_for

DEBUG = False
FAST = {"OPENTRAIL_DELIVERY_INTERVAL": "1", "OPENTRAIL_DIGEST_INTERVAL": "4"}

LOG_KEY = re.compile(
    r"^(?:(?P<prefix>.+)/)?AWSLogs/(?P<account>\d{12})/CloudTrail/(?P<region>[a-z0-9-]+)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P=account)_CloudTrail_(?P=region)_"
    r"(?P<stamp>\d{8}T\d{4}Z)_(?P<unique>[A-Za-z0-9]{16})\.json\.gz$"
)
DIGEST_KEY = re.compile(
    r"^(?:(?P<prefix>.+)/)?AWSLogs/(?P<account>\d{12})/CloudTrail-Digest/(?P<region>[a-z0-9-]+)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P=account)_CloudTrail-Digest_(?P=region)_"
    r"(?P<trail>[^_]+)_(?P<home>[a-z0-9-]+)_(?P<stamp>\d{8}T\d{6}Z)\.json\.gz$"
)


def wait_for(what, check, timeout=60.0, interval=0.5):
    """`conftest.wait_for` with this module's shorter default bound."""
    return shared_wait_for(what, check, timeout=timeout, interval=interval)


def keys(server, bucket, prefix=""):
    s3 = server.client("s3")
    out, token = [], None
    for _ in range(1000):
        args = {"Bucket": bucket, "Prefix": prefix}
        if token:
            args["ContinuationToken"] = token
        page = s3.list_objects_v2(**args)
        out.extend(item["Key"] for item in page.get("Contents", []))
        token = page.get("NextContinuationToken")
        if not token:
            return out
    raise AssertionError("listing did not end")


def log_files(server, bucket):
    """{key: [records]} of every log file in the bucket."""
    s3 = server.client("s3")
    files = {}
    for key in keys(server, bucket):
        if "/CloudTrail/" not in key:
            continue
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        document = json.loads(gzip.decompress(body))
        assert list(document) == ["Records"], key
        files[key] = document["Records"]
    return files


def records_by_request(files):
    """requestID -> list of (key, record) over every file."""
    found = {}
    for key, records in files.items():
        for record in records:
            found.setdefault(record.get("requestID"), []).append((key, record))
    return found


def delivered(server, bucket, request_ids):
    files = log_files(server, bucket)
    found = records_by_request(files)
    return files if all(rid in found for rid in request_ids) else None


def start_trail(server, name, bucket, region="us-east-1", **kwargs):
    ct = server.client("cloudtrail", region)
    ct.create_trail(Name=name, S3BucketName=bucket, **kwargs)
    ct.start_logging(Name=name)
    return ct


def request_id(response):
    return response["ResponseMetadata"]["RequestId"]


def validate_logs(server, trail_arn, start, region="us-east-1"):
    """Runs the real `aws cloudtrail validate-logs` on the digests of `region` (the CLI takes
    the digests' region from `--region`, and asks that region for the public keys)."""
    env = server.env
    env["AWS_DEFAULT_REGION"] = region
    result = subprocess.run(
        [
            "aws", "cloudtrail", "validate-logs",
            "--trail-arn", trail_arn,
            "--start-time", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--region", region,
            "--verbose", *(["--debug"] if DEBUG else []),
        ],
        env=env, capture_output=True, text=True, timeout=120,
    )
    if DEBUG:
        return result.returncode, result.stdout + "\n".join(
            line[-900:] for line in result.stderr.splitlines() if "PublicKeyList" in line or "StartTime" in line)
    return result.returncode, result.stdout + result.stderr


def test_multi_region_layout_digests_and_validate_logs(new_server):
    server = new_server(extra_env=FAST).start()
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    bucket = create_trail_bucket(server.client("s3"), f"trail-logs-{uuid.uuid4().hex[:8]}", prefix="audit/trails")
    ct = start_trail(
        server, "everywhere", bucket, S3KeyPrefix="audit/trails",
        IsMultiRegionTrail=True, EnableLogFileValidation=True,
    )
    arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/everywhere"

    wanted = {}
    for region in ("us-east-1", "eu-west-1"):
        client = server.client("cloudtrail", region)
        for _ in range(3):
            wanted[request_id(client.describe_trails())] = region
            wanted[request_id(client.get_trail_status(Name=arn))] = region
    files = wait_for("delivery of every call", lambda: delivered(server, bucket, wanted))

    found = records_by_request(files)
    event_ids = [record["eventID"] for records in files.values() for record in records]
    assert len(event_ids) == len(set(event_ids)), "a record was delivered twice"
    for rid, region in wanted.items():
        assert len(found[rid]) == 1, rid
        key, record = found[rid][0]
        assert record["awsRegion"] == region
    for key, records in files.items():
        match = LOG_KEY.match(key)
        assert match, key
        assert match["prefix"] == "audit/trails"
        assert match["account"] == ACCOUNT_ID
        stamp = datetime.datetime.strptime(match["stamp"], "%Y%m%dT%H%MZ")
        assert (match["y"], match["m"], match["d"]) == (
            f"{stamp.year:04d}", f"{stamp.month:02d}", f"{stamp.day:02d}")
        assert {record["awsRegion"] for record in records} == {match["region"]}
        assert records, "empty log file"

    status = ct.get_trail_status(Name="everywhere")
    assert status["IsLogging"] is True
    assert "LatestDeliveryError" not in status
    assert status["LatestDeliveryTime"].year >= 2024
    assert status["LatestDeliveryAttemptSucceeded"] != ""
    assert status["TimeLoggingStarted"] != ""

    # Digests: a chain per region, the first one a starting digest.
    def digests(region, count):
        found = [k for k in keys(server, bucket, f"audit/trails/AWSLogs/{ACCOUNT_ID}/CloudTrail-Digest/{region}/")]
        return found if len(found) >= count else None

    east = wait_for("three us-east-1 digests", lambda: digests("us-east-1", 3), timeout=60)
    west = wait_for("two eu-west-1 digests", lambda: digests("eu-west-1", 2), timeout=60)
    for key in east + west:
        match = DIGEST_KEY.match(key)
        assert match, key
        assert (match["trail"], match["home"]) == ("everywhere", "us-east-1")
    s3 = server.client("s3")
    first = s3.get_object(Bucket=bucket, Key=sorted(east)[0])
    assert first["Metadata"]["signature-algorithm"] == "SHA256withRSA"
    assert re.fullmatch(r"[0-9a-f]+", first["Metadata"]["signature"])
    document = json.loads(gzip.decompress(first["Body"].read()))
    assert document["previousDigestSignature"] is None
    assert document["digestS3Object"] == sorted(east)[0]
    second = json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=sorted(east)[1])["Body"].read()))
    assert second["previousDigestS3Object"] == sorted(east)[0]
    assert second["previousDigestSignature"] == first["Metadata"]["signature"]
    assert ct.get_trail_status(Name="everywhere")["LatestDigestDeliveryTime"].year >= 2024

    # ListPublicKeys answers the CLI's way: one base64 of the DER RSAPublicKey.
    keys_east = ct.list_public_keys(StartTime=started, EndTime=datetime.datetime.now(datetime.timezone.utc))
    assert len(keys_east["PublicKeyList"]) == 1
    key = keys_east["PublicKeyList"][0]
    der = key["Value"]
    assert der[:4] == b"\x30\x82\x01\x0a", der[:8]
    assert key["Fingerprint"] == document["digestPublicKeyFingerprint"]
    west_keys = server.client("cloudtrail", "eu-west-1").list_public_keys()["PublicKeyList"]
    assert len(west_keys) == 1 and west_keys[0]["Fingerprint"] != key["Fingerprint"]

    # The real CLI validates both regions' chains.
    for region in ("us-east-1", "eu-west-1"):
        code, output = validate_logs(server, arn, started, region)
        assert code == 0, output
        assert "INVALID" not in output, output
        assert re.search(r"(\d+)/\1 digest files valid", output), output
        assert re.search(r"(\d+)/\1 log files valid", output), output

    # Tampering: an overwritten log file, a deleted log file, a deleted digest.
    listed = [k for k in east]
    covered = []
    for digest_key in sorted(listed)[:-1]:
        body = json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=digest_key)["Body"].read()))
        covered.extend(entry["s3Object"] for entry in body["logFiles"])
    assert len(covered) >= 1, "no log file listed in a digest"
    victim = covered[0]
    original = s3.get_object(Bucket=bucket, Key=victim)["Body"].read()
    forged = json.loads(gzip.decompress(original))
    forged["Records"] = forged["Records"][1:] + [{"eventName": "Forged"}]
    s3.put_object(Bucket=bucket, Key=victim, Body=gzip.compress(json.dumps(forged).encode()))
    code, output = validate_logs(server, arn, started)
    assert code != 0, output
    assert f"s3://{bucket}/{victim}\tINVALID: hash value doesn't match" in output, output

    s3.put_object(Bucket=bucket, Key=victim, Body=original)
    code, output = validate_logs(server, arn, started)
    assert code == 0, output

    s3.delete_object(Bucket=bucket, Key=victim)
    code, output = validate_logs(server, arn, started)
    assert code != 0, output
    assert f"s3://{bucket}/{victim}\tINVALID: not found" in output, output
    s3.put_object(Bucket=bucket, Key=victim, Body=original)

    middle = sorted(listed)[1]
    s3.delete_object(Bucket=bucket, Key=middle)
    code, output = validate_logs(server, arn, started)
    assert code != 0, output
    assert f"Digest file\ts3://{bucket}/{middle}\tINVALID: not found" in output, output


def test_stop_logging_writes_a_final_digest(new_server):
    server = new_server(extra_env={"OPENTRAIL_DELIVERY_INTERVAL": "1", "OPENTRAIL_DIGEST_INTERVAL": "3600"}).start()
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    bucket = create_trail_bucket(server.client("s3"), f"final-{uuid.uuid4().hex[:8]}")
    ct = start_trail(server, "finisher", bucket, EnableLogFileValidation=True)
    rid = request_id(ct.describe_trails())
    wait_for("delivery", lambda: delivered(server, bucket, [rid]))
    stop = ct.stop_logging(Name="finisher")
    digest_prefix = f"AWSLogs/{ACCOUNT_ID}/CloudTrail-Digest/us-east-1/"
    found = wait_for("final digest", lambda: keys(server, bucket, digest_prefix))
    assert len(found) == 1
    document = json.loads(gzip.decompress(
        server.client("s3").get_object(Bucket=bucket, Key=found[0])["Body"].read()))
    listed = {entry["s3Object"] for entry in document["logFiles"]}
    files = log_files(server, bucket)
    found_records = records_by_request(files)
    assert found_records[rid][0][0] in listed
    assert request_id(stop) in found_records, "StopLogging itself is delivered"
    assert found_records[request_id(stop)][0][0] in listed
    arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/finisher"
    code, output = validate_logs(server, arn, started)
    assert code == 0, output
    assert "1/1 digest files valid" in output, output


def test_basic_and_advanced_selectors(new_server):
    server = new_server(extra_env=FAST).start()
    s3 = server.client("s3")
    suffix = uuid.uuid4().hex[:8]
    logs_a, logs_b = f"logs-a-{suffix}", f"logs-b-{suffix}"
    data_x, data_y = f"data-x-{suffix}", f"data-y-{suffix}"
    for name in (logs_a, logs_b):
        create_trail_bucket(s3, name)
    for name in (data_x, data_y):
        s3.create_bucket(Bucket=name)
    ct = server.client("cloudtrail")
    ct.create_trail(Name="basic", S3BucketName=logs_a)
    ct.put_event_selectors(TrailName="basic", EventSelectors=[{
        "ReadWriteType": "WriteOnly",
        "IncludeManagementEvents": True,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{data_x}/"]}],
    }])
    ct.create_trail(Name="advanced", S3BucketName=logs_b)
    ct.put_event_selectors(TrailName="advanced", AdvancedEventSelectors=[
        {"Name": "reads of y", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "resources.ARN", "StartsWith": [f"arn:aws:s3:::{data_y}/"], "NotEndsWith": [".tmp"]},
            {"Field": "readOnly", "Equals": ["true"]},
        ]},
        {"Name": "cloudtrail reads", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "eventSource", "Equals": ["cloudtrail.amazonaws.com"]},
            {"Field": "readOnly", "Equals": ["true"]},
        ]},
    ])
    ct.start_logging(Name="basic")
    ct.start_logging(Name="advanced")

    calls = {
        "put x": request_id(s3.put_object(Bucket=data_x, Key="k1", Body=b"1")),
        "put y": request_id(s3.put_object(Bucket=data_y, Key="k2", Body=b"2")),
        "put y tmp": request_id(s3.put_object(Bucket=data_y, Key="k3.tmp", Body=b"3")),
        "get x": request_id(s3.get_object(Bucket=data_x, Key="k1")),
        "get y": request_id(s3.get_object(Bucket=data_y, Key="k2")),
        "get y tmp": request_id(s3.get_object(Bucket=data_y, Key="k3.tmp")),
        "describe": request_id(ct.describe_trails()),
        "create bucket": request_id(s3.create_bucket(Bucket=f"data-z-{suffix}")),
        "add tags": request_id(ct.add_tags(ResourceId=f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/basic",
                                           TagsList=[{"Key": "k", "Value": "v"}])),
    }
    expect_a = {"put x", "create bucket", "add tags"}
    expect_b = {"get y", "describe"}
    files_a = wait_for("basic trail delivery", lambda: delivered(server, logs_a, [calls[n] for n in expect_a]))
    files_b = wait_for("advanced trail delivery", lambda: delivered(server, logs_b, [calls[n] for n in expect_b]))
    # A marker call after everything, to know the earlier records had their chance.
    marker = request_id(ct.describe_trails())
    wait_for("marker", lambda: delivered(server, logs_b, [marker]))
    files_a, files_b = log_files(server, logs_a), log_files(server, logs_b)
    found_a, found_b = records_by_request(files_a), records_by_request(files_b)
    for name, rid in calls.items():
        assert len(found_a.get(rid, [])) == (1 if name in expect_a else 0), f"basic trail and {name}"
        assert len(found_b.get(rid, [])) == (1 if name in expect_b else 0), f"advanced trail and {name}"
    for records in files_a.values():
        for record in records:
            assert record.get("readOnly") is False, record["eventName"]
    for records in files_b.values():
        for record in records:
            assert record.get("readOnly") is True, record["eventName"]


def test_delivery_errors_show_in_status_and_records_wait(new_server):
    server = new_server(extra_env=FAST).start()
    s3 = server.client("s3")
    bucket = create_trail_bucket(s3, f"gone-{uuid.uuid4().hex[:8]}")
    ct = server.client("cloudtrail")
    ct.create_trail(Name="orphan", S3BucketName=bucket)
    s3.delete_bucket(Bucket=bucket)
    ct.start_logging(Name="orphan")
    rids = [request_id(ct.describe_trails()) for _ in range(3)]
    status = wait_for(
        "NoSuchBucket in the status",
        lambda: (lambda s: s if s.get("LatestDeliveryError") == "NoSuchBucket" else None)(
            ct.get_trail_status(Name="orphan")),
    )
    assert status["LatestDeliveryAttemptTime"] != ""
    create_trail_bucket(s3, bucket)
    files = wait_for("delivery after the bucket came back", lambda: delivered(server, bucket, rids))
    found = records_by_request(files)
    assert all(len(found[rid]) == 1 for rid in rids)
    recovered = wait_for(
        "the error to clear",
        lambda: (lambda s: s if "LatestDeliveryError" not in s else None)(ct.get_trail_status(Name="orphan")),
    )
    assert recovered["LatestDeliveryAttemptSucceeded"] != ""


def test_kill_9_during_delivery_loses_and_duplicates_nothing(new_server, tmp_path):
    data_dir = tmp_path / "crashy"
    env = {"OPENTRAIL_DELIVERY_INTERVAL": "1", "OPENTRAIL_DIGEST_INTERVAL": "2"}
    server = new_server(data_dir, extra_env=env).start()
    bucket = create_trail_bucket(server.client("s3"), f"crash-{uuid.uuid4().hex[:8]}")
    start_trail(server, "survivor", bucket, EnableLogFileValidation=True)
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    acknowledged = []
    rng = random.Random(7)
    for _ in range(4):
        ct = server.client("cloudtrail")
        deadline = time.monotonic() + rng.uniform(1.0, 2.5)
        while time.monotonic() < deadline:
            acknowledged.append(request_id(ct.describe_trails()))
        server.kill9()
        server = new_server(data_dir, extra_env=env).start()
    files = wait_for("every acknowledged call", lambda: delivered(server, bucket, acknowledged), timeout=90)
    found = records_by_request(files)
    for rid in acknowledged:
        assert len(found[rid]) == 1, f"{rid} delivered {len(found[rid])} times"
    event_ids = [record["eventID"] for records in files.values() for record in records]
    assert len(event_ids) == len(set(event_ids)), "duplicate records after crashes"
    contents = {}
    for key, records in files.items():
        contents.setdefault(json.dumps(records, sort_keys=True), []).append(key)
    assert all(len(keys) == 1 for keys in contents.values()), "the same file content twice"
    # Digests written across the crashes still form a valid chain.
    wait_for("a digest", lambda: keys(server, bucket, f"AWSLogs/{ACCOUNT_ID}/CloudTrail-Digest/"))
    arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/survivor"
    code, output = validate_logs(server, arn, started)
    assert code == 0, output
    assert "INVALID" not in output, output
