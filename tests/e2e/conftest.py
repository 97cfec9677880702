"""End-to-end test harness: starts the real `opentrail` binary on a free port and hands tests
boto3 clients and an environment for the real `aws` CLI.

The binary is `$OPENTRAIL_BIN`, else `${CARGO_TARGET_DIR:-<repo>/target}/debug/opentrail`.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import pytest

REPO = Path(__file__).resolve().parents[2]
ACCESS_KEY = "AKIAOPENTRAILE2E"
SECRET_KEY = "opentrail-e2e-secret-key"
ACCOUNT_ID = "123456789012"


def wait_for(what, check, timeout=90.0, interval=0.5):
    """Polls `check` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last saw {last!r}")


def error_of(call, *args, **kwargs):
    """The `Error` member of the ClientError that `call(*args, **kwargs)` must raise."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(*args, **kwargs)
    return info.value.response["Error"]


def now_ms():
    return int(time.time() * 1000)


def s3_keys(s3, bucket, prefix=""):
    """Every key under `prefix` in `bucket` (ListObjectsV2, all pages), sorted."""
    out, token = [], None
    for _ in range(1000):
        args = {"Bucket": bucket, "Prefix": prefix}
        if token:
            args["ContinuationToken"] = token
        page = s3.list_objects_v2(**args)
        out.extend(item["Key"] for item in page.get("Contents", []))
        token = page.get("NextContinuationToken")
        if not token:
            return sorted(out)
    raise AssertionError("listing did not end")


def cloudtrail_bucket_policy(bucket, account_id=ACCOUNT_ID, prefix=None, trail_arns=None):
    """The bucket policy AWS documents for a trail's bucket ("Amazon S3 bucket policy for
    CloudTrail"): `cloudtrail.amazonaws.com` may `s3:GetBucketAcl` on the bucket
    (AWSCloudTrailAclCheck) and `s3:PutObject` with the `bucket-owner-full-control` ACL under
    `[prefix/]AWSLogs/<account_id>/` (AWSCloudTrailWrite). `prefix` is a key prefix or a list of
    them; `trail_arns`, when given, adds the `aws:SourceArn` conditions that limit both to those
    trails."""
    prefixes = prefix if isinstance(prefix, (list, tuple)) else [prefix]
    writes = [f"arn:aws:s3:::{bucket}/{p + '/' if p else ''}AWSLogs/{account_id}/*" for p in prefixes]
    source = {"aws:SourceArn": list(trail_arns)} if trail_arns else {}
    acl_check = {
        "Sid": "AWSCloudTrailAclCheck20150319",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:GetBucketAcl",
        "Resource": f"arn:aws:s3:::{bucket}",
    }
    if source:
        acl_check["Condition"] = {"StringEquals": dict(source)}
    write = {
        "Sid": "AWSCloudTrailWrite20150319",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": writes[0] if len(writes) == 1 else writes,
        "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **source}},
    }
    return {"Version": "2012-10-17", "Statement": [acl_check, write]}


def create_trail_bucket(s3, name, prefix=None, account_id=ACCOUNT_ID, trail_arns=None, **create_args):
    """Creates bucket `name` (with `create_args` for CreateBucket) and puts the bucket policy
    CloudTrail needs to deliver there (see `cloudtrail_bucket_policy`), as a trail's owner must
    on AWS before CreateTrail accepts the bucket; returns the name."""
    s3.create_bucket(Bucket=name, **create_args)
    allow_cloudtrail_delivery(s3, name, prefix=prefix, account_id=account_id, trail_arns=trail_arns)
    return name


def allow_cloudtrail_delivery(s3, name, prefix=None, account_id=ACCOUNT_ID, trail_arns=None):
    """Puts the bucket policy CloudTrail needs on an existing bucket `name`."""
    policy = cloudtrail_bucket_policy(name, account_id, prefix, trail_arns)
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))


def cloudtrail_topic_policy(topic_arn, trail_arns=None):
    """The topic policy AWS documents for a trail's SNS topic ("Amazon SNS topic policy for
    CloudTrail"): `cloudtrail.amazonaws.com` may `SNS:Publish` to the topic
    (AWSCloudTrailSNSPolicy20131101); `trail_arns`, when given, adds the `aws:SourceArn`
    condition AWS recommends."""
    statement = {
        "Sid": "AWSCloudTrailSNSPolicy20131101",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "SNS:Publish",
        "Resource": topic_arn,
    }
    if trail_arns:
        statement["Condition"] = {"StringEquals": {"aws:SourceArn": list(trail_arns)}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def allow_cloudtrail_publish(sns, topic_arn, trail_arns=None):
    """Adds the statement CloudTrail needs to notify there (see `cloudtrail_topic_policy`) to
    the `Policy` attribute of `topic_arn`, keeping its other statements (the topic's default
    policy), as AWS's console does; a CloudTrail statement already there (same Sid: Sids must be
    unique in a policy) is replaced. Returns the topic ARN."""
    attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    policy = json.loads(attributes["Policy"]) if attributes.get("Policy") else {
        "Version": "2012-10-17", "Statement": []}
    statements = policy.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    added = cloudtrail_topic_policy(topic_arn, trail_arns)["Statement"]
    sids = {statement["Sid"] for statement in added}
    policy["Statement"] = [s for s in statements if s.get("Sid") not in sids] + added
    sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(policy))
    return topic_arn


def create_trail_topic(sns, name, trail_arns=None):
    """Creates SNS topic `name` with the topic policy CloudTrail needs; returns its ARN."""
    return allow_cloudtrail_publish(sns, sns.create_topic(Name=name)["TopicArn"], trail_arns)


def binary() -> str:
    explicit = os.environ.get("OPENTRAIL_BIN")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return str(target / "debug" / "opentrail")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One running `opentrail serve` process."""

    def __init__(self, data_dir: Path, extra_env=None, credentials=True):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.extra_env = dict(extra_env or {})
        self.credentials = credentials
        self.process = None
        self.output_path = self.data_dir.parent / f"server-{self.port}.log"

    def start(self, timeout=30.0):
        env = dict(os.environ)
        env.update(
            OPENTRAIL_DEV="1",
            OPENTRAIL_ACCOUNT_ID=ACCOUNT_ID,
            OPENTRAIL_LOG=os.environ.get("OPENTRAIL_LOG", "warn"),
        )
        if self.credentials:
            env.update(
                OPENTRAIL_ROOT_ACCESS_KEY_ID=ACCESS_KEY,
                OPENTRAIL_ROOT_SECRET_ACCESS_KEY=SECRET_KEY,
            )
        env.update(self.extra_env)
        self.output = open(self.output_path, "ab")
        self.process = subprocess.Popen(
            [binary(), "serve", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}"],
            env=env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"opentrail exited early:\n{self.output_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/_opentrail/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("opentrail did not become healthy in time")

    def kill9(self):
        """Kills the process without any chance to flush (SIGKILL)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()
        if getattr(self, "output", None):
            self.output.close()

    def log(self) -> str:
        return self.output_path.read_text(errors="replace")

    def reset(self):
        request = urllib.request.Request(f"{self.endpoint}/_opentrail/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200

    @property
    def env(self):
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_PAGER="",
        )
        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        return env

    def client(self, service, region="us-east-1", **kwargs):
        session = boto3.session.Session(
            aws_access_key_id=kwargs.pop("access_key", ACCESS_KEY),
            aws_secret_access_key=kwargs.pop("secret_key", SECRET_KEY),
            region_name=region,
        )
        config = botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
        return session.client(service, endpoint_url=self.endpoint, config=config, **kwargs)

    def aws(self, *args, region="us-east-1", check=True):
        """Runs the real `aws` CLI; returns parsed JSON output (or raw text when not JSON)."""
        env = self.env
        env["AWS_DEFAULT_REGION"] = region
        result = subprocess.run(
            ["aws", *args], env=env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        try:
            return json.loads(result.stdout) if result.stdout.strip() else None
        except json.JSONDecodeError:
            return result

    def lookup(self, region="us-east-1", **kwargs):
        """All LookupEvents results for the given parameters, newest first."""
        client = self.client("cloudtrail", region=region)
        events, token = [], None
        for _ in range(1000):
            args = dict(kwargs)
            if token:
                args["NextToken"] = token
            page = client.lookup_events(**args)
            events.extend(page["Events"])
            token = page.get("NextToken")
            if not token:
                return events
        raise AssertionError("lookup_events pagination did not end")


@pytest.fixture(scope="session")
def _shared_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("opentrail") / "data"
    server = Server(data_dir).start()
    yield server
    server.stop()


@pytest.fixture
def server(_shared_server):
    """A running server with all state wiped before the test."""
    _shared_server.reset()
    return _shared_server


@pytest.fixture
def new_server(tmp_path):
    """A factory for servers of the test's own (for restarts and crashes); all are stopped."""
    started = []

    def make(data_dir=None, **kwargs):
        server = Server(data_dir or (tmp_path / f"data{len(started)}"), **kwargs)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
