"""Trail delivery into an external S3-compatible store (`OPENTRAIL_DELIVERY_S3_*`), end to end
against a real `moto_server` process (PyPI `moto[server]`) that the tests start on a free port
and stop at the end. A missing or broken `moto_server` fails the tests; nothing is mocked.

Covered: CreateTrail checks the bucket on the external service (not the embedded store); log
files and signed digests land in the AWS layout in moto's bucket, each record exactly once,
with SSE-KMS under the trail's key or SSE-S3, and digests with SSE-S3 and their
`x-amz-meta-signature`; `opentrail validate-logs` (and, side by side, the real `aws cloudtrail
validate-logs`) reads the chain from moto (`AWS_ENDPOINT_URL_S3`) and the keys from opentrail
(`AWS_ENDPOINT_URL_CLOUDTRAIL`) and catches a deleted log file; a bucket deleted on the service shows in GetTrailStatus and the log, and
once it is back every record waiting in the journal arrives. Every wait is bounded."""

import datetime
import gzip
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT_ID, Server, binary, free_port, wait_for
from conftest import s3_keys as keys

MOTO_KEY = "AKIAMOTOEXTERNAL1234"
MOTO_SECRET = "moto-external-secret"
FAST = {"OPENTRAIL_DELIVERY_INTERVAL": "2", "OPENTRAIL_DIGEST_INTERVAL": "6"}
KMS_ALIAS = "alias/trail-logs"
KMS_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:{KMS_ALIAS}"

LOG_KEY = re.compile(
    r"^(?P<prefix>.+)/AWSLogs/(?P<account>\d{12})/CloudTrail/(?P<region>[a-z0-9-]+)/"
    r"\d{4}/\d{2}/\d{2}/(?P=account)_CloudTrail_(?P=region)_\d{8}T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$"
)
DIGEST_KEY = re.compile(
    r"^(?P<prefix>.+)/AWSLogs/(?P<account>\d{12})/CloudTrail-Digest/(?P<region>[a-z0-9-]+)/"
    r"\d{4}/\d{2}/\d{2}/(?P=account)_CloudTrail-Digest_(?P=region)_(?P<trail>[^_]+)_"
    r"(?P<home>[a-z0-9-]+)_\d{8}T\d{6}Z\.json\.gz$"
)


class Moto:
    """One running `moto_server` process."""

    def __init__(self, log_path):
        command = os.environ.get("OPENTRAIL_MOTO_SERVER", "moto_server")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = open(log_path, "ab")
        try:
            self.process = subprocess.Popen(
                [command, "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            )
        except OSError as error:
            self.log.close()
            pytest.fail(f"cannot start {command} (pip install 'moto[server]==5.2.1'): {error}")
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                self.stop()
                pytest.fail(f"{command} exited early:\n{log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers: any HTTP status will do
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{command} did not answer on port {self.port} within 60 s")
            time.sleep(0.1)

    def client(self):
        session = boto3.session.Session(
            aws_access_key_id=MOTO_KEY, aws_secret_access_key=MOTO_SECRET, region_name="us-east-1",
        )
        config = botocore.config.Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"})
        return session.client("s3", endpoint_url=self.url, config=config)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def moto(tmp_path):
    server = Moto(tmp_path / "moto.log")
    yield server
    server.stop()


def external_env(moto):
    return {
        **FAST,
        "OPENTRAIL_DELIVERY_S3_ENDPOINT": moto.url,
        "OPENTRAIL_DELIVERY_S3_ACCESS_KEY_ID": MOTO_KEY,
        "OPENTRAIL_DELIVERY_S3_SECRET_ACCESS_KEY": MOTO_SECRET,
    }


def log_files(s3, bucket, prefix):
    """{key: [records]} of the log files under `prefix` (a key prefix without its slash)."""
    files = {}
    for key in keys(s3, bucket, f"{prefix}/" * bool(prefix) + f"AWSLogs/{ACCOUNT_ID}/CloudTrail/"):
        document = json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        assert list(document) == ["Records"], key
        files[key] = document["Records"]
    return files


def request_counts(files):
    """requestID -> how many times it was delivered, and eventID -> the same."""
    by_request, by_event = {}, {}
    for records in files.values():
        for record in records:
            by_request[record.get("requestID")] = by_request.get(record.get("requestID"), 0) + 1
            by_event[record["eventID"]] = by_event.get(record["eventID"], 0) + 1
    return by_request, by_event


def digest_document(s3, bucket, key):
    return json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_trail_delivers_into_an_external_s3_store(moto, new_server):
    s3 = moto.client()
    bucket = f"external-logs-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    server = new_server(extra_env=external_env(moto)).start()
    ct = server.client("cloudtrail")
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)

    # The bucket is looked up on the external service, not in the embedded store.
    assert bucket not in [b["Name"] for b in server.client("s3").list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as missing:
        ct.create_trail(Name="nowhere", S3BucketName=f"missing-{uuid.uuid4().hex[:8]}")
    assert missing.value.response["Error"]["Code"] == "S3BucketDoesNotExistException"
    server.client("s3").create_bucket(Bucket="embedded-only")
    with pytest.raises(ClientError) as embedded_only:
        ct.create_trail(Name="nowhere", S3BucketName="embedded-only")
    assert embedded_only.value.response["Error"]["Code"] == "S3BucketDoesNotExistException"

    ct.create_trail(Name="validated", S3BucketName=bucket, S3KeyPrefix="audit",
                    EnableLogFileValidation=True)
    ct.create_trail(Name="encrypted", S3BucketName=bucket, S3KeyPrefix="secret", KmsKeyId=KMS_ALIAS)
    assert ct.get_trail(Name="encrypted")["Trail"]["KmsKeyId"] == KMS_ARN
    with pytest.raises(ClientError) as update_missing:
        ct.update_trail(Name="encrypted", S3BucketName=f"missing-{uuid.uuid4().hex[:8]}")
    assert update_missing.value.response["Error"]["Code"] == "S3BucketDoesNotExistException"
    ct.start_logging(Name="validated")
    ct.start_logging(Name="encrypted")

    wanted = set()
    for _ in range(3):
        wanted.add(ct.describe_trails()["ResponseMetadata"]["RequestId"])
        wanted.add(ct.get_trail_status(Name="validated")["ResponseMetadata"]["RequestId"])

    def all_delivered():
        found = {}
        for prefix in ("audit", "secret"):
            files = log_files(s3, bucket, prefix)
            by_request, _ = request_counts(files)
            if not wanted <= set(by_request):
                return None
            found[prefix] = files
        return found

    delivered = wait_for("every call in both trails' log files in moto", all_delivered)
    for prefix, files in delivered.items():
        by_request, by_event = request_counts(files)
        for rid in wanted:
            assert by_request[rid] == 1, (prefix, rid, by_request[rid])
        duplicated = {event: n for event, n in by_event.items() if n != 1}
        assert not duplicated, (prefix, duplicated)
        for key in files:
            match = LOG_KEY.match(key)
            assert match, key
            assert match["prefix"] == prefix and match["account"] == ACCOUNT_ID, key
            assert match["region"] == "us-east-1", key

    # Log files: SSE-KMS under the trail's key, or SSE-S3; gzip JSON as CloudTrail writes.
    for key in delivered["secret"]:
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms", head
        assert head["SSEKMSKeyId"] == KMS_ARN, head
    for key in delivered["audit"]:
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "AES256", head
        assert head["ContentType"] == "application/x-gzip", head

    digest_prefix = f"audit/AWSLogs/{ACCOUNT_ID}/CloudTrail-Digest/us-east-1/"

    def digest_with_logs():
        found = keys(s3, bucket, digest_prefix)
        with_logs = [key for key in found if digest_document(s3, bucket, key)["logFiles"]]
        return found if with_logs else None

    wait_for("a digest listing a log file in moto", digest_with_logs)
    assert not keys(s3, bucket, f"secret/AWSLogs/{ACCOUNT_ID}/CloudTrail-Digest/"), \
        "a trail without validation wrote digests"

    status = ct.get_trail_status(Name="validated")
    assert "LatestDeliveryError" not in status, status
    assert "LatestDeliveryTime" in status and "LatestDigestDeliveryTime" in status, status

    # Stop logging so the chain stops growing, then validate it.
    ct.stop_logging(Name="validated")
    ct.stop_logging(Name="encrypted")
    settled = {"count": -1, "since": time.monotonic()}

    def stable():
        count = len(keys(s3, bucket, digest_prefix))
        if count != settled["count"]:
            settled.update(count=count, since=time.monotonic())
            return None
        return count if time.monotonic() - settled["since"] > 8 else None

    wait_for("the digest chain to stop growing", stable, interval=1.0)
    digests = keys(s3, bucket, digest_prefix)
    assert len(digests) >= 2, digests
    for key in digests:
        match = DIGEST_KEY.match(key)
        assert match and match["trail"] == "validated" and match["home"] == "us-east-1", key
        head = s3.head_object(Bucket=bucket, Key=key)
        assert re.fullmatch(r"[0-9a-f]{512}", head["Metadata"]["signature"]), head["Metadata"]
        assert head["Metadata"]["signature-algorithm"] == "SHA256withRSA", head["Metadata"]
        assert head["ServerSideEncryption"] == "AES256", head
        document = digest_document(s3, bucket, key)
        assert document["digestS3Bucket"] == bucket and document["digestS3Object"] == key

    # Nothing went to the embedded store.
    assert bucket not in [b["Name"] for b in server.client("s3").list_buckets()["Buckets"]]

    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
    env = server.env
    env["AWS_ENDPOINT_URL_S3"] = moto.url
    env["AWS_ENDPOINT_URL_CLOUDTRAIL"] = server.endpoint
    arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/validated"
    command = [binary(), "validate-logs", "--trail-arn", arn, "--start-time", stamp(started),
               "--end-time", stamp(end), "--verbose"]

    def validate(status):
        """Runs `opentrail validate-logs` and the real `aws cloudtrail validate-logs` (which
        honours the same endpoint variables); both must exit with `status`, print the same
        report, and the output is returned."""
        ours = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        theirs = subprocess.run(
            ["aws", "cloudtrail", "validate-logs", *command[2:], "--region", "us-east-1"],
            env=env, capture_output=True, text=True, timeout=120,
        )
        context = f"\n--- opentrail:\n{ours.stdout}{ours.stderr}\n--- aws:\n{theirs.stdout}{theirs.stderr}"
        assert ours.returncode == status, context
        assert theirs.returncode == status, context
        assert ours.stdout == theirs.stdout, context
        return ours.stdout + ours.stderr

    output = validate(0)
    assert "INVALID" not in output, output
    assert f"{len(digests)}/{len(digests)} digest files valid" in output, output
    assert "log files valid" in output, output

    # Delete the newest log file on the external service: the chain no longer validates.
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"audit/AWSLogs/{ACCOUNT_ID}/CloudTrail/")
    newest = max(listed["Contents"], key=lambda item: (item["LastModified"], item["Key"]))["Key"]
    covered = {entry["s3Object"] for key in digests for entry in digest_document(s3, bucket, key)["logFiles"]}
    assert newest in covered, (newest, covered)
    s3.delete_object(Bucket=bucket, Key=newest)
    output = validate(1)
    assert f"Log file\ts3://{bucket}/{newest}\tINVALID: not found" in output, output


def test_a_bucket_deleted_on_the_external_store_delays_records_but_loses_none(moto, new_server):
    s3 = moto.client()
    bucket = f"external-flaky-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    server = new_server(extra_env=external_env(moto)).start()
    ct = server.client("cloudtrail")
    ct.create_trail(Name="flaky", S3BucketName=bucket)
    ct.start_logging(Name="flaky")
    first = ct.describe_trails()["ResponseMetadata"]["RequestId"]
    wait_for("the first call in moto",
             lambda: first in request_counts(log_files(s3, bucket, ""))[0] if keys(s3, bucket) else None)

    for key in keys(s3, bucket):
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)
    waiting = {ct.get_trail_status(Name="flaky")["ResponseMetadata"]["RequestId"] for _ in range(4)}

    status = wait_for(
        "NoSuchBucket in GetTrailStatus",
        lambda: (lambda s: s if s.get("LatestDeliveryError") == "NoSuchBucket" else None)(
            ct.get_trail_status(Name="flaky")),
    )
    assert "LatestDeliveryAttemptTime" in status, status
    assert "trail delivery failed" in server.log(), server.log()[-2000:]
    # The trail is still there and still logging; nothing was written in the meantime.
    assert status["IsLogging"] is True

    s3.create_bucket(Bucket=bucket)
    delivered = wait_for(
        "the calls made while the bucket was gone",
        lambda: (lambda files: files if waiting <= set(request_counts(files)[0]) else None)(
            log_files(s3, bucket, "")),
        timeout=120,
    )
    by_request, by_event = request_counts(delivered)
    for rid in waiting:
        assert by_request[rid] == 1, (rid, by_request[rid])
    assert all(count == 1 for count in by_event.values()), by_event
    assert first not in by_request, "a record delivered before the bucket was deleted came again"
    wait_for("the error to clear",
             lambda: (lambda s: s if "LatestDeliveryError" not in s else None)(
                 ct.get_trail_status(Name="flaky")))


def test_invalid_external_store_settings_stop_the_server_with_a_clear_error(tmp_path):
    cases = [
        ({"OPENTRAIL_DELIVERY_S3_ACCESS_KEY_ID": "AKID", "OPENTRAIL_DELIVERY_S3_SECRET_ACCESS_KEY": "s"},
         "OPENTRAIL_DELIVERY_S3_ENDPOINT is not"),
        ({"OPENTRAIL_DELIVERY_S3_ENDPOINT": "127.0.0.1:9000"}, "http:// or https://"),
        ({"OPENTRAIL_DELIVERY_S3_ENDPOINT": "http://127.0.0.1:9000",
          "OPENTRAIL_DELIVERY_S3_ACCESS_KEY_ID": "AKID"}, "set both"),
    ]
    for index, (env, message) in enumerate(cases):
        server = Server(tmp_path / f"data{index}", extra_env=env)
        try:
            with pytest.raises(RuntimeError) as failed:
                server.start(timeout=30)
            assert "exited early" in str(failed.value)
            assert message in server.log(), server.log()
        finally:
            server.stop()
