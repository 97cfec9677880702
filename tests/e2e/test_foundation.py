"""The foundation, end to end: health and reset routes, credentials, SigV4 refusals, the
recorder (every call is a record with the caller's identity) and durability under kill -9."""

import datetime
import json
import threading
import time
import urllib.error
import urllib.request
from unittest import mock

import botocore.auth
import botocore.exceptions
import pytest

from conftest import ACCESS_KEY, ACCOUNT_ID, create_trail_bucket


def http_status(url, method="GET", data=None, headers=None):
    request = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def error_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    return info.value.response


def test_health_and_reset_only_in_dev_mode(new_server):
    prod = new_server(extra_env={"OPENTRAIL_DEV": "0"}).start()
    status, body = http_status(f"{prod.endpoint}/_opentrail/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, _ = http_status(f"{prod.endpoint}/_opentrail/reset", method="POST", data=b"")
    assert status != 200


def test_generated_root_credentials_are_printed_once_and_kept(new_server, tmp_path):
    data = tmp_path / "generated"
    first = new_server(data, credentials=False).start()
    log = first.log()
    key = log.split("AWS_ACCESS_KEY_ID=")[1].split()[0]
    secret = log.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0]
    assert key.startswith("AKIA") and len(secret) == 40
    client = first.client("cloudtrail", access_key=key, secret_key=secret)
    assert client.list_trails()["Trails"] == []
    first.stop()
    second = new_server(data, credentials=False).start()
    assert "AWS_SECRET_ACCESS_KEY=" not in second.log()  # printed on the first start only
    client = second.client("cloudtrail", access_key=key, secret_key=secret)
    assert client.list_trails()["Trails"] == []


def test_unknown_access_key_is_refused(server):
    err = error_of(lambda: server.client("cloudtrail", access_key="AKIANOBODY").list_trails())
    assert err["Error"]["Code"] == "UnrecognizedClientException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    err = error_of(lambda: server.client("s3", access_key="AKIANOBODY").list_buckets())
    assert err["Error"]["Code"] == "InvalidAccessKeyId"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_wrong_secret_is_refused(server):
    err = error_of(lambda: server.client("cloudtrail", secret_key="wrong").list_trails())
    assert err["Error"]["Code"] == "InvalidSignatureException"
    err = error_of(lambda: server.client("s3", secret_key="wrong").list_buckets())
    assert err["Error"]["Code"] == "SignatureDoesNotMatch"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_missing_authentication_is_refused(server):
    status, body = http_status(
        server.endpoint,
        method="POST",
        data=b"{}",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListTrails",
        },
    )
    assert status in (400, 403)
    assert json.loads(body)["__type"].endswith("MissingAuthenticationTokenException")
    status, body = http_status(f"{server.endpoint}/")
    assert status == 403 and b"<Code>AccessDenied</Code>" in body


def test_skewed_clock_is_refused(server):
    skewed = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=skewed):
        err = error_of(lambda: server.client("cloudtrail").list_trails())
        assert err["Error"]["Code"] == "InvalidSignatureException"
        assert "Signature expired" in err["Error"]["Message"]
        err = error_of(lambda: server.client("s3").list_buckets())
        assert err["Error"]["Code"] == "RequestTimeTooSkewed"
    ok = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=ok):
        assert server.client("cloudtrail").list_trails()["Trails"] == []


def test_calls_are_recorded_with_the_callers_identity(server):
    s3 = server.client("s3")
    create_trail_bucket(s3, "recorded-bucket")
    ct = server.client("cloudtrail")
    ct.create_trail(Name="recorded-trail", S3BucketName="recorded-bucket")
    with pytest.raises(botocore.exceptions.ClientError):
        ct.get_trail(Name="no-such-trail")
    events = server.lookup(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "cloudtrail.amazonaws.com"}])
    by_name = {}
    for event in events:
        by_name.setdefault(event["EventName"], []).append(event)
    create = by_name["CreateTrail"][0]
    assert create["ReadOnly"] == "false"
    assert create["Username"] == "root"
    assert create["AccessKeyId"] == ACCESS_KEY
    record = json.loads(create["CloudTrailEvent"])
    assert record["eventVersion"] == "1.11"
    assert record["eventSource"] == "cloudtrail.amazonaws.com"
    assert record["eventType"] == "AwsApiCall"
    assert record["eventCategory"] == "Management"
    assert record["managementEvent"] is True
    assert record["readOnly"] is False
    assert record["awsRegion"] == "us-east-1"
    assert record["recipientAccountId"] == ACCOUNT_ID
    assert record["sourceIPAddress"] == "127.0.0.1"
    assert record["userAgent"].startswith("Boto3/")
    assert record["userIdentity"] == {
        "type": "Root",
        "principalId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:root",
        "accountId": ACCOUNT_ID,
        "accessKeyId": ACCESS_KEY,
    }
    assert record["requestParameters"]["name"] == "recorded-trail"
    assert record["requestParameters"]["s3BucketName"] == "recorded-bucket"
    assert record["responseElements"]["trailARN"] == f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/recorded-trail"
    failed = json.loads(by_name["GetTrail"][0]["CloudTrailEvent"])
    assert failed["errorCode"] == "TrailNotFoundException"
    assert failed["readOnly"] is True and failed["responseElements"] is None
    # The S3 bucket creation is a management event too; object reads and writes are not.
    s3.put_object(Bucket="recorded-bucket", Key="k", Body=b"x")
    s3_events = server.lookup(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "s3.amazonaws.com"}])
    names = {event["EventName"] for event in s3_events}
    assert "CreateBucket" in names and "PutObject" not in names


def test_events_are_scoped_to_the_calling_region(server):
    server.client("cloudtrail", region="eu-west-1").list_trails()
    west = server.lookup(region="eu-west-1", LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ListTrails"}])
    east = server.lookup(region="us-east-1", LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ListTrails"}])
    assert len(west) == 1 and json.loads(west[0]["CloudTrailEvent"])["awsRegion"] == "eu-west-1"
    assert all(json.loads(e["CloudTrailEvent"])["awsRegion"] == "us-east-1" for e in east)


def test_kill_9_during_a_burst_loses_no_acknowledged_call(new_server, tmp_path):
    data = tmp_path / "crash"
    first = new_server(data).start()
    create_trail_bucket(first.client("s3"), "crash-bucket")
    trail_arn = first.client("cloudtrail").create_trail(Name="crash-trail", S3BucketName="crash-bucket")["TrailARN"]
    acknowledged = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker):
        client = first.client("cloudtrail")
        for n in range(10_000):
            if stop.is_set():
                return
            key = f"w{worker}-{n}"
            try:
                client.add_tags(ResourceId=trail_arn, TagsList=[{"Key": key, "Value": "v"}])
            except Exception:
                return
            with lock:
                acknowledged.append(key)
            if len(acknowledged) >= 40 and worker == 0 and not stop.is_set():
                # Tags are limited to 50 per trail; stop the burst under the limit.
                stop.set()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.kill9()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(acknowledged) >= 20, "the burst did not get going"

    second = new_server(data).start()
    tags = second.client("cloudtrail").list_tags(ResourceIdList=[trail_arn])["ResourceTagList"][0]["TagsList"]
    kept = {tag["Key"] for tag in tags}
    missing_tags = [key for key in acknowledged if key not in kept]
    assert not missing_tags, f"acknowledged tags lost: {missing_tags}"
    recorded = set()
    for event in second.lookup(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AddTags"}]):
        record = json.loads(event["CloudTrailEvent"])
        for tag in record["requestParameters"]["tagsList"]:
            recorded.add(tag["key"])
    missing_events = [key for key in acknowledged if key not in recorded]
    assert not missing_events, f"acknowledged calls missing from event history: {missing_events}"
