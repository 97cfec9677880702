"""`opentrail import` and the ingest API (`cloudtrail-data` PutAuditEvents) end to end.

Real CloudTrail records (tests/data/cloudtrail-examples) are re-stamped with fresh eventIDs,
recent eventTimes, the server's account and two regions, written as gzipped trail files in the
AWS layout plus a JSON-array file and a record-per-line file, imported through the CLI, and
checked with LookupEvents against counts computed here from the files."""

import base64
import collections
import datetime
import gzip
import hashlib
import json
import random
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import pytest

from conftest import ACCESS_KEY, ACCOUNT_ID, SECRET_KEY, binary, wait_for

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "cloudtrail-examples"
REGIONS = ("us-east-1", "eu-west-1")
OTHER_ACCOUNT = "210987654321"
REQUIRED = ("eventVersion", "eventTime", "awsRegion", "eventID", "eventType", "eventSource", "eventName")
ATTRIBUTES = ("EventName", "EventSource", "Username", "ResourceType", "ResourceName", "ReadOnly", "AccessKeyId")


def example_records():
    """The example records that are whole CloudTrail records (not Insights)."""
    records = list(json.loads((EXAMPLES / "aws-docs-example-records.json").read_text())["Records"])
    for path in sorted((EXAMPLES / "stratus-red-team").glob("*.json")):
        records.extend(json.loads(path.read_text()))
    return [
        record
        for record in records
        if all(isinstance(record.get(field), str) and record[field] for field in REQUIRED)
        and record.get("eventType") != "AwsCloudTrailInsight"
    ]


def restamp(record, rng, account=ACCOUNT_ID, region=None, max_age_s=4 * 86400):
    out = json.loads(json.dumps(record))
    out["eventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=rng.randint(60, max_age_s))
    out["eventTime"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    out["recipientAccountId"] = account
    out["awsRegion"] = region or rng.choice(REGIONS)
    return out


def corpus(copies, seed, account=ACCOUNT_ID):
    rng = random.Random(seed)
    base = example_records()
    return [restamp(record, rng, account=account) for _ in range(copies) for record in base]


def write_trail_files(root, records, per_file=50):
    """Gzipped trail log files in the AWS layout; returns their paths."""
    groups = collections.defaultdict(list)
    for record in records:
        day = record["eventTime"][:10]
        groups[(record["recipientAccountId"], record["awsRegion"], day)].append(record)
    paths = []
    for (account, region, day), items in sorted(groups.items()):
        year, month, dd = day.split("-")
        folder = Path(root) / "AWSLogs" / account / "CloudTrail" / region / year / month / dd
        folder.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(items), per_file):
            chunk = items[start : start + per_file]
            stamp = chunk[0]["eventTime"].replace("-", "").replace(":", "")[:13] + "Z"
            name = f"{account}_CloudTrail_{region}_{stamp}_{uuid.uuid4().hex[:16]}.json.gz"
            path = folder / name
            path.write_bytes(gzip.compress(json.dumps({"Records": chunk}).encode()))
            paths.append(path)
    return paths


def is_management(record):
    category = record.get("eventCategory")
    if category:
        return category == "Management"
    if record.get("eventType") == "AwsCloudTrailInsight":
        return False
    return record.get("managementEvent") is not False


def username(record):
    identity = record.get("userIdentity") or {}
    if identity.get("userName"):
        return identity["userName"]
    if identity.get("type") == "Root":
        return "root"
    if identity.get("type") in ("AssumedRole", "FederatedUser") and identity.get("arn"):
        return identity["arn"].rsplit("/", 1)[-1]
    return None


def attribute_values(record):
    """(attribute, value) pairs a record is found by in event history, computed from the file."""
    out = set()
    out.add(("EventName", record["eventName"]))
    out.add(("EventSource", record["eventSource"]))
    if isinstance(record.get("readOnly"), bool):
        out.add(("ReadOnly", "true" if record["readOnly"] else "false"))
    name = username(record)
    if name:
        out.add(("Username", name))
    key = (record.get("userIdentity") or {}).get("accessKeyId")
    if key:
        out.add(("AccessKeyId", key))
    for resource in record.get("resources") or []:
        if resource.get("type"):
            out.add(("ResourceType", resource["type"]))
        arn = resource.get("ARN")
        if arn:
            out.add(("ResourceName", arn))
            parts = arn.split(":", 5)
            if len(parts) == 6 and parts[2] == "s3" and parts[3] == "" and parts[4] == "" and parts[5] and "/" not in parts[5]:
                out.add(("ResourceName", parts[5]))
    return {(k, v) for k, v in out if v}


def visible(records, region):
    return [
        r for r in records
        if r["recipientAccountId"] == ACCOUNT_ID and r["awsRegion"] == region and is_management(r)
    ]


def run_import(server, *sources, extra=(), timeout=600):
    env = server.env
    result = subprocess.run(
        [binary(), "import", "--endpoint-url", server.endpoint, *extra, *map(str, sources)],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    return result


def all_events(server, region, **kwargs):
    """LookupEvents results (all pages) without the calls the server recorded itself (the
    tests' own LookupEvents and S3 calls, made with the test's access key)."""
    events = server.lookup(region=region, **kwargs)
    own = [e for e in events if e.get("AccessKeyId") == ACCESS_KEY]
    for event in own:
        assert json.loads(event["CloudTrailEvent"])["userAgent"], "a recorded call, not an import"
    return [e for e in events if e.get("AccessKeyId") != ACCESS_KEY]


# --- the full import -------------------------------------------------------------------------


def test_import_directory_and_array_file_then_exact_counts(server, tmp_path):
    records = corpus(copies=2, seed=1)
    array_records = corpus(copies=1, seed=2)
    line_records = corpus(copies=1, seed=3)[:40]
    foreign = corpus(copies=1, seed=4, account=OTHER_ACCOUNT)[:30]
    logs = tmp_path / "logs"
    files = write_trail_files(logs, records + foreign)
    # A digest file in the layout must be left alone.
    digest = logs / "AWSLogs" / ACCOUNT_ID / "CloudTrail-Digest" / "us-east-1" / "d.json.gz"
    digest.parent.mkdir(parents=True)
    digest.write_bytes(gzip.compress(b'{"digestStartTime":"x"}'))
    array_file = tmp_path / "events.json"
    array_file.write_text(json.dumps(array_records, indent=2))
    lines_file = tmp_path / "events.jsonl"
    lines_file.write_text("\n".join(json.dumps(r) for r in line_records) + "\n")
    everything = records + array_records + line_records + foreign

    result = run_import(server, logs, array_file, lines_file)
    assert result.returncode == 0, result.stderr
    total = len(everything)
    assert f"imported {total} records from {len(files) + 2} files" in result.stdout, result.stdout

    by_id = {r["eventID"]: r for r in everything}
    for region in REGIONS:
        expected = visible(everything, region)
        events = all_events(server, region)
        assert len(events) == len(expected), region
        times = [e["EventTime"] for e in events]
        assert times == sorted(times, reverse=True), "newest first"
        for event in events:
            original = by_id[event["EventId"]]
            assert json.loads(event["CloudTrailEvent"]) == original
        # Exact counts per attribute value, computed from the files.
        counts = collections.Counter(pair for r in expected for pair in attribute_values(r))
        assert {k for k, _ in counts} >= {"EventName", "EventSource", "ReadOnly", "Username", "AccessKeyId"}
        checked = collections.Counter()
        for (key, value), count in sorted(counts.items()):
            found = all_events(server, region, LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])
            assert len(found) == count, (region, key, value)
            checked[key] += 1
        assert set(checked) >= {"EventName", "EventSource", "ReadOnly", "Username", "AccessKeyId", "ResourceType", "ResourceName"} or region != "us-east-1"
    # The other account's records went in but are not this account's history.
    foreign_id = foreign[0]["eventID"]
    found = all_events(server, foreign[0]["awsRegion"], LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": foreign_id}])
    assert found == []

    # A second import adds nothing.
    again = run_import(server, logs, array_file, lines_file)
    assert again.returncode == 0, again.stderr
    for region in REGIONS:
        assert len(all_events(server, region)) == len(visible(everything, region))


def test_import_from_an_s3_prefix(server, tmp_path):
    records = corpus(copies=1, seed=11)[:120]
    s3 = server.client("s3")
    s3.create_bucket(Bucket="old-trail-logs")
    local = tmp_path / "logs"
    for path in write_trail_files(local, records, per_file=40):
        key = "archive/" + path.relative_to(local).as_posix()
        s3.put_object(Bucket="old-trail-logs", Key=key, Body=path.read_bytes())
    s3.put_object(Bucket="old-trail-logs", Key="elsewhere/x.json.gz", Body=gzip.compress(b"[]"))
    result = run_import(server, "s3://old-trail-logs/archive/")
    assert result.returncode == 0, result.stderr
    assert f"imported {len(records)} records" in result.stdout
    for region in REGIONS:
        assert len(all_events(server, region)) == len(visible(records, region))


# --- malformed input -------------------------------------------------------------------------


def test_malformed_files_and_records_are_reported_and_skipped(server, tmp_path):
    good = corpus(copies=1, seed=21)[:30]
    bad_records = corpus(copies=1, seed=22)[:3]
    del bad_records[0]["eventTime"]
    bad_records[1]["readOnly"] = "yes"
    bad_records[2]["eventTime"] = "yesterday"
    root = tmp_path / "in"
    root.mkdir()
    (root / "a-good.json.gz").write_bytes(gzip.compress(json.dumps({"Records": good[:10]}).encode()))
    mixed = [good[10], bad_records[0], 5, good[11], bad_records[1], bad_records[2]]
    (root / "b-mixed.json").write_text(json.dumps({"Records": mixed}))
    (root / "c-broken.json.gz").write_bytes(gzip.compress(b'{"Records": [{"eventID": "x"}')[:-6])
    (root / "d-truncated.json").write_text('{"Records": [\n' + json.dumps(good[12]) + ",\n{\"eventID\": ")
    lines = [json.dumps(r) for r in good[13:16]]
    lines.insert(1, "{not json")
    (root / "e-lines.jsonl").write_text("\n".join(lines) + "\n")
    (root / "notes.txt").write_text("not a log file, not read")

    result = run_import(server, root)
    assert result.returncode == 1, result.stdout + result.stderr
    err = result.stderr
    mixed_path = str(root / "b-mixed.json")
    assert f"{mixed_path}: record 1: skipped: FieldNotFound" in err
    assert f"{mixed_path}: record 2: skipped: not a json object" in err
    assert f"{mixed_path}: record 4: skipped: InvalidData: readOnly must be a boolean" in err
    assert f"{mixed_path}: record 5: skipped: InvalidData: eventTime" in err
    assert f"{root / 'c-broken.json.gz'}: skipped: not a valid gzip file" in err
    assert f"{root / 'd-truncated.json'}: skipped: not valid json" in err and "line 3" in err
    assert f"{root / 'e-lines.jsonl'}: line 2: skipped: not valid json" in err
    assert "notes.txt" not in err
    imported = good[:10] + [good[10], good[11]] + good[13:16]
    assert f"imported {len(imported)} records" in result.stdout
    assert "skipped 5 records and 2 files" in result.stdout
    for region in REGIONS:
        assert len(all_events(server, region)) == len(visible(imported, region))


def test_unreachable_server_and_bad_arguments_are_fatal(server, tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"Records": corpus(copies=1, seed=31)[:1]}))
    env = server.env
    dead = subprocess.run(
        [binary(), "import", "--endpoint-url", "http://127.0.0.1:9", str(path)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert dead.returncode == 2
    assert "could not connect" in dead.stderr
    missing = run_import(server, tmp_path / "nope")
    assert missing.returncode == 2
    assert "nope" in missing.stderr
    env.pop("AWS_ACCESS_KEY_ID")
    no_keys = subprocess.run([binary(), "import", str(path)], env=env, capture_output=True, text=True, timeout=60)
    assert no_keys.returncode == 2
    assert "AWS_ACCESS_KEY_ID" in no_keys.stderr


# --- crash safety ----------------------------------------------------------------------------


def test_kill_9_during_import_loses_no_acknowledged_record(new_server, tmp_path):
    server = new_server().start()
    records = corpus(copies=40, seed=41)
    logs = tmp_path / "logs"
    write_trail_files(logs, records, per_file=100)
    ack_log = tmp_path / "acked.txt"
    process = subprocess.Popen(
        [binary(), "import", "--endpoint-url", server.endpoint, "--ack-log", str(ack_log), str(logs)],
        env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_for("the first acknowledged batches", lambda: ack_log.exists() and ack_log.read_text().count("\n") >= 1000, timeout=120, interval=0.02)
    server.kill9()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2, f"the import finished before the kill; make the corpus bigger\n{out}{err}"
    acked = set(ack_log.read_text().split())
    assert 1000 <= len(acked) < len(records)

    restarted = new_server(data_dir=server.data_dir).start()
    by_id = {r["eventID"]: r for r in records}
    stored = set()
    for region in REGIONS:
        stored |= {e["EventId"] for e in all_events(restarted, region)}
    expected_acked = {i for i in acked if is_management(by_id[i])}
    assert expected_acked <= stored, f"{len(expected_acked - stored)} acknowledged records lost"

    # Importing again completes the set, without duplicates.
    again = run_import(restarted, logs)
    assert again.returncode == 0, again.stderr
    for region in REGIONS:
        events = all_events(restarted, region)
        ids = [e["EventId"] for e in events]
        assert len(ids) == len(set(ids))
        assert len(ids) == len(visible(records, region))


# --- the ingest API through boto3 ------------------------------------------------------------


CHANNEL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:channel/opentrail"


def test_boto3_put_audit_events_with_per_record_failures(server):
    client = server.client("cloudtrail-data")
    good, missing, bad_type, bad_sum, bad_account = corpus(copies=1, seed=51)[:5]
    for record in (good, missing, bad_type, bad_sum, bad_account):
        record["awsRegion"] = "us-east-1"
    del missing["eventName"]
    bad_type["userIdentity"] = "root"
    bad_account["recipientAccountId"] = "12"
    good_text = json.dumps(good)
    answer = client.put_audit_events(
        channelArn=CHANNEL,
        auditEvents=[
            {"id": "good", "eventData": good_text, "eventDataChecksum": hashlib.sha256(good_text.encode()).hexdigest()},
            {"id": "missing", "eventData": json.dumps(missing)},
            {"id": "badtype", "eventData": json.dumps(bad_type)},
            {"id": "badsum", "eventData": json.dumps(bad_sum), "eventDataChecksum": base64.b64encode(b"x" * 32).decode()},
            {"id": "badaccount", "eventData": json.dumps(bad_account)},
            {"id": "notjson", "eventData": "{oops"},
        ],
    )
    assert answer["successful"] == [{"id": "good", "eventID": good["eventID"]}]
    failed = {f["id"]: f["errorCode"] for f in answer["failed"]}
    assert failed == {
        "missing": "FieldNotFound",
        "badtype": "InvalidData",
        "badsum": "InvalidChecksum",
        "badaccount": "InvalidRecipient",
        "notjson": "InvalidData",
    }
    assert all(f["errorMessage"] for f in answer["failed"])
    found = server.lookup(LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": good["eventID"]}])
    assert len(found) == 1 and json.loads(found[0]["CloudTrailEvent"]) == good

    # Idempotent by eventID, also within one request.
    again = client.put_audit_events(
        channelArn=CHANNEL,
        auditEvents=[{"id": "a", "eventData": good_text}, {"id": "b", "eventData": good_text}],
    )
    assert sorted(again["successful"], key=lambda s: s["id"]) == [
        {"id": "a", "eventID": good["eventID"]},
        {"id": "b", "eventID": good["eventID"]},
    ]
    assert [e["EventId"] for e in all_events(server, "us-east-1")] == [good["eventID"]]

    # The ingest calls themselves are not recorded.
    assert not [e for e in server.lookup() if e["EventName"] == "PutAuditEvents"]


def test_put_audit_events_whole_request_errors(server):
    client = server.client("cloudtrail-data")
    record = json.dumps(corpus(copies=1, seed=61)[0])

    def error(**kwargs):
        with pytest.raises(botocore.exceptions.ClientError) as info:
            client.put_audit_events(channelArn=CHANNEL, **kwargs)
        return info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]

    many = [{"id": f"e{i}", "eventData": record} for i in range(101)]
    assert error(auditEvents=many) == ("ValidationException", 400)
    assert error(auditEvents=[{"id": "x", "eventData": record}, {"id": "x", "eventData": record}]) == ("DuplicatedAuditEventId", 400)
    assert error(auditEvents=[{"id": "bad id!", "eventData": record}]) == ("ValidationException", 400)
    big = json.dumps({"pad": "y" * 200_000})
    assert error(auditEvents=[{"id": f"b{i}", "eventData": big} for i in range(6)]) == ("ValidationException", 400)
    huge = json.dumps({"pad": "y" * 300_000})
    answer = client.put_audit_events(channelArn=CHANNEL, auditEvents=[{"id": "huge", "eventData": huge}])
    assert answer["failed"][0]["errorCode"] == "FieldTooLong"

    # GET is refused with a clear error; other paths are unknown operations.
    credentials = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
    for method, path, status, code in (
        ("GET", "/PutAuditEvents", 405, "MethodNotAllowedException"),
        ("POST", "/Nothing", 404, "UnknownOperationException"),
    ):
        request = botocore.awsrequest.AWSRequest(method=method, url=server.endpoint + path, data=b"")
        botocore.auth.SigV4Auth(credentials, "cloudtrail-data", "us-east-1").add_auth(request)
        prepared = urllib.request.Request(server.endpoint + path, method=method, headers=dict(request.headers))
        try:
            urllib.request.urlopen(prepared, timeout=10)
            raise AssertionError("expected an error")
        except urllib.error.HTTPError as failure:
            assert failure.code == status
            body = json.loads(failure.read())
            assert body["__type"] == code and "POST" in body["message"]
