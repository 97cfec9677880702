"""`opentrail validate-logs` side by side with the real `aws cloudtrail validate-logs`.

A server with short cadences delivers a trail's log files and signed digests; both commands
validate the same time range and must print the same report (stdout byte for byte, the same
INVALID lines on stderr) and agree on the exit status — first on the untouched chain, then
after tampering: an overwritten log, a deleted log, a deleted digest. Our command reads the
digests and logs through the server's S3 API (object_store) and the keys through
ListPublicKeys (SigV4-signed awsJson), as it would against AWS. Every wait is bounded."""

import datetime
import gzip
import json
import subprocess
import time
import uuid

from conftest import ACCOUNT_ID, binary, create_trail_bucket, wait_for
from conftest import s3_keys as keys

FAST = {"OPENTRAIL_DELIVERY_INTERVAL": "2", "OPENTRAIL_DIGEST_INTERVAL": "6"}
TRAIL = "validated"
ARN = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/{TRAIL}"


def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def digest_document(s3, bucket, key):
    return json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def report_lines(text):
    """The report lines of a stderr (the CLI may add warnings of its own)."""
    return [line for line in text.splitlines() if "\t" in line or line.startswith("No log files")]


def run_both(server, start, end, extra=()):
    args = ["--trail-arn", ARN, "--start-time", stamp(start), "--end-time", stamp(end), "--verbose", *extra]
    ours = subprocess.run(
        [binary(), "validate-logs", *args],
        env=server.env, capture_output=True, text=True, timeout=120,
    )
    theirs = subprocess.run(
        ["aws", "cloudtrail", "validate-logs", *args, "--region", "us-east-1"],
        env=server.env, capture_output=True, text=True, timeout=120,
    )
    return ours, theirs


def assert_same_report(ours, theirs, status):
    context = f"\n--- opentrail:\n{ours.stdout}{ours.stderr}\n--- aws:\n{theirs.stdout}{theirs.stderr}"
    assert theirs.returncode == status, context
    assert ours.returncode == status, context
    assert ours.stdout == theirs.stdout, context
    assert report_lines(ours.stderr) == report_lines(theirs.stderr), context
    return ours.stdout + ours.stderr


def test_validate_logs_matches_the_aws_cli(new_server):
    server = new_server(extra_env=FAST).start()
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    bucket = f"validated-{uuid.uuid4().hex[:8]}"
    s3 = server.client("s3")
    create_trail_bucket(s3, bucket, prefix="audit")
    server.aws(
        "cloudtrail", "create-trail", "--name", TRAIL, "--s3-bucket-name", bucket,
        "--s3-key-prefix", "audit", "--enable-log-file-validation",
    )
    server.aws("cloudtrail", "start-logging", "--name", TRAIL)
    ct = server.client("cloudtrail")
    for _ in range(3):
        ct.describe_trails()
        ct.get_trail_status(Name=TRAIL)

    digest_prefix = f"audit/AWSLogs/{ACCOUNT_ID}/CloudTrail-Digest/us-east-1/"

    def chain_with_logs():
        found = keys(s3, bucket, digest_prefix)
        with_logs = [key for key in found if digest_document(s3, bucket, key)["logFiles"]]
        return found if len(found) >= 2 and with_logs else None

    wait_for("two digests, one listing a log file", chain_with_logs)

    # Stop logging so the chain stops growing: both commands must see the same digests.
    ct.stop_logging(Name=TRAIL)
    settled = {"count": -1, "since": time.monotonic()}

    def stable():
        count = len(keys(s3, bucket, digest_prefix))
        if count != settled["count"]:
            settled.update(count=count, since=time.monotonic())
            return None
        return count if time.monotonic() - settled["since"] > 8 else None

    wait_for("the digest chain to stop growing", stable, interval=1.0)
    digests = keys(s3, bucket, digest_prefix)
    assert len(digests) >= 3, digests
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)

    # Untouched: both valid, same report.
    ours, theirs = run_both(server, started, end)
    output = assert_same_report(ours, theirs, 0)
    assert "INVALID" not in output
    assert f"{len(digests)}/{len(digests)} digest files valid" in output, output
    assert "log files valid" in output, output

    # Bucket and prefix given instead of DescribeTrails.
    ours_direct = subprocess.run(
        [binary(), "validate-logs", "--trail-arn", ARN, "--start-time", stamp(started),
         "--end-time", stamp(end), "--s3-bucket", bucket, "--s3-prefix", "audit", "--verbose"],
        env=server.env, capture_output=True, text=True, timeout=120,
    )
    assert ours_direct.returncode == 0, ours_direct.stdout + ours_direct.stderr
    assert ours_direct.stdout == ours.stdout

    covered = [
        entry["s3Object"]
        for key in digests
        for entry in digest_document(s3, bucket, key)["logFiles"]
    ]
    assert covered, "no digest lists a log file"
    victim = covered[0]
    original = s3.get_object(Bucket=bucket, Key=victim)["Body"].read()

    # An overwritten log file.
    forged = json.loads(gzip.decompress(original))
    forged["Records"] = forged["Records"][1:] + [{"eventName": "Forged"}]
    s3.put_object(Bucket=bucket, Key=victim, Body=gzip.compress(json.dumps(forged).encode()))
    output = assert_same_report(*run_both(server, started, end), 1)
    assert f"Log file\ts3://{bucket}/{victim}\tINVALID: hash value doesn't match" in output, output

    # A deleted log file.
    s3.delete_object(Bucket=bucket, Key=victim)
    output = assert_same_report(*run_both(server, started, end), 1)
    assert f"Log file\ts3://{bucket}/{victim}\tINVALID: not found" in output, output
    s3.put_object(Bucket=bucket, Key=victim, Body=original)
    assert_same_report(*run_both(server, started, end), 0)

    # A deleted digest in the middle of the chain.
    middle = digests[len(digests) // 2]
    s3.delete_object(Bucket=bucket, Key=middle)
    output = assert_same_report(*run_both(server, started, end), 1)
    assert f"Digest file\ts3://{bucket}/{middle}\tINVALID: not found" in output, output


def test_usage_and_connection_errors_exit_2(new_server):
    server = new_server().start()
    env = server.env
    bad_arn = subprocess.run(
        [binary(), "validate-logs", "--trail-arn", "mytrail", "--start-time", "2024-01-01T00:00:00Z"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert bad_arn.returncode == 2
    assert "Invalid trail ARN provided: mytrail" in bad_arn.stderr

    unknown = subprocess.run(
        [binary(), "validate-logs", "--trail-arn", ARN, "--start-time", "2024-01-01T00:00:00Z"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert unknown.returncode == 2
    assert f"A trail could not be found for {ARN}" in unknown.stderr

    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    refused = subprocess.run(
        [binary(), "validate-logs", "--trail-arn", ARN, "--start-time", "2024-01-01T00:00:00Z"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert refused.returncode == 2
    assert "Could not connect to the endpoint URL" in refused.stderr
