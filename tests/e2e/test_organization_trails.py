"""Organization trails end to end: an organization with all features, CloudTrail's trusted
access and two member accounts; an organization trail from the management account with log
file validation, into a bucket whose policy is the one AWS documents for organization trails.
Calls made in each member account (through OrganizationAccountAccessRole sessions) arrive
under `AWSLogs/<o-id>/<account>/CloudTrail/<region>/…`, each account has its own digest chain
under `AWSLogs/<o-id>/<account>/CloudTrail-Digest/<region>/…`, and the real
`aws cloudtrail validate-logs --account-id <member>` passes for each member. Every wait is
bounded."""

import datetime
import gzip
import json
import re
import subprocess
import time
import uuid

import boto3
import botocore.config
import pytest

from conftest import ACCOUNT_ID, error_of, s3_keys, wait_for

FAST = {"OPENTRAIL_DELIVERY_INTERVAL": "1", "OPENTRAIL_DIGEST_INTERVAL": "4"}
REGION = "us-east-1"
TRAIL = "org-trail"
TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT_ID}:trail/{TRAIL}"


def client(server, service, credentials, region=REGION):
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials.get("SessionToken"),
        region_name=region,
    )
    config = botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
    return session.client(service, endpoint_url=server.endpoint, config=config)


def organization_bucket_policy(bucket, org_id):
    """The bucket policy AWS documents for an organization trail."""
    source = {"aws:SourceArn": TRAIL_ARN}
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSCloudTrailAclCheck20150319",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringEquals": source},
            },
            {
                "Sid": "AWSCloudTrailWrite20150319",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{ACCOUNT_ID}/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **source}},
            },
            {
                "Sid": "AWSCloudTrailOrganizationWrite20150319",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{org_id}/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **source}},
            },
        ],
    })


def create_member(orgs, name):
    status = orgs.create_account(Email=f"{name}-{uuid.uuid4().hex[:6]}@example.com", AccountName=name)[
        "CreateAccountStatus"
    ]

    def done():
        state = orgs.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
        return state if state["State"] != "IN_PROGRESS" else None

    status = wait_for(f"account {name}", done, timeout=30)
    assert status["State"] == "SUCCEEDED", status
    return status["AccountId"]


def digest_document(s3, bucket, key):
    return json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def log_records(s3, bucket, prefix):
    records = []
    for key in s3_keys(s3, bucket, prefix):
        document = json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        records.extend((key, record) for record in document["Records"])
    return records


def validate(server, member, start):
    """The real `aws cloudtrail validate-logs` for one member account (the CLI learns the
    organization id from DescribeOrganization; its Organizations client only honours
    AWS_ENDPOINT_URL, which `server.env` sets)."""
    return subprocess.run(
        [
            "aws", "cloudtrail", "validate-logs", "--trail-arn", TRAIL_ARN,
            "--start-time", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--account-id", member, "--region", REGION, "--verbose",
        ],
        env=server.env, capture_output=True, text=True, timeout=120,
    )


def test_organization_trail_delivers_and_validates_each_member(new_server):
    server = new_server(extra_env=FAST).start()
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    orgs = server.client("organizations")
    org_id = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    members = [create_member(orgs, "alpha"), create_member(orgs, "beta")]

    bucket = f"org-trail-{uuid.uuid4().hex[:8]}"
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=organization_bucket_policy(bucket, org_id))
    ct = server.client("cloudtrail")

    # Without CloudTrail's trusted access an organization trail is refused.
    error = error_of(
        ct.create_trail, Name=TRAIL, S3BucketName=bucket, IsOrganizationTrail=True,
        EnableLogFileValidation=True,
    )
    assert error["Code"] == "CloudTrailAccessNotEnabledException", error
    server.aws("organizations", "enable-aws-service-access", "--service-principal", "cloudtrail.amazonaws.com")

    # A member account may not create one.
    alpha_admin = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{members[0]}:role/OrganizationAccountAccessRole", RoleSessionName="setup"
    )["Credentials"]
    error = error_of(
        client(server, "cloudtrail", alpha_admin).create_trail,
        Name="member-org-trail", S3BucketName=bucket, IsOrganizationTrail=True,
    )
    assert error["Code"] == "NotOrganizationMasterAccountException", error

    trail = server.aws(
        "cloudtrail", "create-trail", "--name", TRAIL, "--s3-bucket-name", bucket,
        "--is-organization-trail", "--enable-log-file-validation",
    )
    assert trail["IsOrganizationTrail"] is True
    assert trail["TrailARN"] == TRAIL_ARN
    server.aws("cloudtrail", "start-logging", "--name", TRAIL)
    described = ct.describe_trails(trailNameList=[TRAIL])["trailList"][0]
    assert described["IsOrganizationTrail"] is True and described["LogFileValidationEnabled"] is True

    # Calls in each member account, through the member's admin role session.
    sessions = {}
    request_ids = {}
    for member in members:
        credentials = server.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole",
            RoleSessionName=f"work-{member[-4:]}",
        )["Credentials"]
        sessions[member] = credentials
        sqs = client(server, "sqs", credentials)
        created = sqs.create_queue(QueueName=f"queue-{member[-4:]}")
        listed = client(server, "cloudtrail", credentials).describe_trails()
        request_ids[member] = {
            created["ResponseMetadata"]["RequestId"], listed["ResponseMetadata"]["RequestId"],
        }
        # A member sees the organization trail (it may not change it), by ARN when it names it.
        shadow = [t for t in listed["trailList"] if t["TrailARN"] == TRAIL_ARN]
        assert shadow and shadow[0]["IsOrganizationTrail"] is True, listed["trailList"]
        member_ct = client(server, "cloudtrail", credentials)
        assert [t["TrailARN"] for t in member_ct.describe_trails(trailNameList=[TRAIL_ARN])["trailList"]] == [TRAIL_ARN]
        assert member_ct.describe_trails(trailNameList=[TRAIL])["trailList"] == []
        assert member_ct.describe_trails(includeShadowTrails=False)["trailList"] == []

    def members_delivered():
        for member in members:
            prefix = f"AWSLogs/{org_id}/{member}/CloudTrail/{REGION}/"
            seen = {record.get("requestID") for _, record in log_records(s3, bucket, prefix)}
            if not request_ids[member] <= seen:
                return None
        return True

    wait_for("each member's calls in the organization's layout", members_delivered, timeout=60)

    log_key = re.compile(
        rf"^AWSLogs/{org_id}/(?P<account>\d{{12}})/CloudTrail/{REGION}/\d{{4}}/\d\d/\d\d/"
        rf"(?P=account)_CloudTrail_{REGION}_\d{{8}}T\d{{4}}Z_[A-Za-z0-9]{{16}}\.json\.gz$"
    )
    for member in members:
        prefix = f"AWSLogs/{org_id}/{member}/CloudTrail/{REGION}/"
        records = log_records(s3, bucket, prefix)
        for key, record in records:
            assert log_key.match(key), key
            assert key.split("/")[2] == member
            assert record["recipientAccountId"] == member, record
        ours = [record for _, record in records if record.get("requestID") in request_ids[member]]
        assert {record["eventName"] for record in ours} == {"CreateQueue", "DescribeTrails"}
        for record in ours:
            identity = record["userIdentity"]
            assert identity["type"] == "AssumedRole"
            assert identity["accountId"] == member
            assert identity["arn"] == (
                f"arn:aws:sts::{member}:assumed-role/OrganizationAccountAccessRole/work-{member[-4:]}"
            )
            assert identity["sessionContext"]["sessionIssuer"]["arn"] == (
                f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
            )
        # No member's records leak into another member's files.
        other = [m for m in members if m != member][0]
        assert not request_ids[other] & {record.get("requestID") for _, record in records}
    # Nothing of a member is delivered outside the organization's prefix.
    for member in members:
        assert s3_keys(s3, bucket, f"AWSLogs/{member}/") == []

    # A digest chain per member account, listing the member's log files.
    def chains():
        for member in members:
            prefix = f"AWSLogs/{org_id}/{member}/CloudTrail-Digest/{REGION}/"
            found = s3_keys(s3, bucket, prefix)
            if len(found) < 2 or not any(digest_document(s3, bucket, key)["logFiles"] for key in found):
                return None
        return True

    wait_for("two digests per member, one listing a log file", chains, timeout=90)
    for member in members:
        prefix = f"AWSLogs/{org_id}/{member}/CloudTrail-Digest/{REGION}/"
        for key in s3_keys(s3, bucket, prefix):
            document = digest_document(s3, bucket, key)
            assert document["digestS3Bucket"] == bucket
            assert document["awsAccountId"] == member, document
            assert document["digestS3Object"] == key
            for entry in document["logFiles"]:
                assert entry["s3Object"].startswith(f"AWSLogs/{org_id}/{member}/CloudTrail/{REGION}/"), entry

    # Stop logging so the chains stop growing, then validate each member with the real CLI.
    ct.stop_logging(Name=TRAIL)
    settled = {"count": -1, "since": time.monotonic()}

    def stable():
        count = len(s3_keys(s3, bucket, f"AWSLogs/{org_id}/"))
        if count != settled["count"]:
            settled.update(count=count, since=time.monotonic())
            return None
        return count if time.monotonic() - settled["since"] > 6 else None

    wait_for("the chains to stop growing", stable, timeout=60, interval=1.0)
    for member in members:
        digests = s3_keys(s3, bucket, f"AWSLogs/{org_id}/{member}/CloudTrail-Digest/{REGION}/")
        result = validate(server, member, started)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "INVALID" not in output, output
        assert f"{len(digests)}/{len(digests)} digest files valid" in output, output
        assert "log files valid" in output and " 0/" not in output.split("digest files valid")[1], output

    # Tampering with one member's log file is caught for that member only.
    alpha, beta = members
    covered = [
        entry["s3Object"]
        for key in s3_keys(s3, bucket, f"AWSLogs/{org_id}/{alpha}/CloudTrail-Digest/{REGION}/")
        for entry in digest_document(s3, bucket, key)["logFiles"]
    ]
    victim = covered[0]
    original = s3.get_object(Bucket=bucket, Key=victim)["Body"].read()
    forged = json.loads(gzip.decompress(original))
    forged["Records"] = forged["Records"][1:] + [{"eventName": "Forged"}]
    s3.put_object(Bucket=bucket, Key=victim, Body=gzip.compress(json.dumps(forged).encode()))
    result = validate(server, alpha, started)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Log file\ts3://{bucket}/{victim}\tINVALID: hash value doesn't match" in result.stderr + result.stdout
    assert validate(server, beta, started).returncode == 0


def test_multi_region_organization_trail_with_prefix_covers_later_members(new_server):
    server = new_server(extra_env=FAST).start()
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    orgs = server.client("organizations")
    org_id = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    server.aws("organizations", "enable-aws-service-access", "--service-principal", "cloudtrail.amazonaws.com")
    first = create_member(orgs, "first")
    prefix = "org"
    bucket = f"org-multi-{uuid.uuid4().hex[:8]}"
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    ct = server.client("cloudtrail")

    # A policy without the organization statement is not enough for an organization trail.
    policy = json.loads(organization_bucket_policy(bucket, org_id))
    for statement in policy["Statement"]:
        if statement["Action"] == "s3:PutObject":
            statement["Resource"] = statement["Resource"].replace(f"{bucket}/AWSLogs/", f"{bucket}/{prefix}/AWSLogs/")
    without_org = {**policy, "Statement": policy["Statement"][:2]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(without_org))
    args = dict(
        Name=TRAIL, S3BucketName=bucket, S3KeyPrefix=prefix, IsOrganizationTrail=True,
        IsMultiRegionTrail=True, EnableLogFileValidation=True,
    )
    assert error_of(ct.create_trail, **args)["Code"] == "InsufficientS3BucketPolicyException"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    ct.create_trail(**args)
    ct.start_logging(Name=TRAIL)

    # A member that joins after the trail started is covered too.
    second = create_member(orgs, "second")
    calls = {}
    for member in (first, second):
        credentials = server.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="multi",
        )["Credentials"]
        for region in (REGION, "eu-west-1"):
            out = client(server, "sqs", credentials, region=region).create_queue(QueueName=f"q-{region}")
            calls[(member, region)] = out["ResponseMetadata"]["RequestId"]
    management = server.client("sqs", region="eu-west-1").create_queue(QueueName="mgmt")
    calls[(ACCOUNT_ID, "eu-west-1")] = management["ResponseMetadata"]["RequestId"]

    def delivered():
        for (account, region), request in calls.items():
            where = f"{prefix}/AWSLogs/{org_id}/{account}/CloudTrail/{region}/"
            if request not in {record.get("requestID") for _, record in log_records(s3, bucket, where)}:
                return None
        return True

    wait_for("each account's calls in each region under the organization's prefix", delivered, timeout=60)
    assert s3_keys(s3, bucket, "AWSLogs/") == []

    def chains():
        for account in (first, second, ACCOUNT_ID):
            for region in (REGION, "eu-west-1"):
                where = f"{prefix}/AWSLogs/{org_id}/{account}/CloudTrail-Digest/{region}/"
                found = s3_keys(s3, bucket, where)
                if len(found) < 2:
                    return None
        return True

    wait_for("digest chains per account and region", chains, timeout=90)
    ct.stop_logging(Name=TRAIL)
    settled = {"count": -1, "since": time.monotonic()}

    def stable():
        count = len(s3_keys(s3, bucket, f"{prefix}/AWSLogs/{org_id}/"))
        if count != settled["count"]:
            settled.update(count=count, since=time.monotonic())
            return None
        return count if time.monotonic() - settled["since"] > 6 else None

    wait_for("the chains to stop growing", stable, timeout=60, interval=1.0)
    for account in (first, second, ACCOUNT_ID):
        for region in (REGION, "eu-west-1"):
            digests = s3_keys(s3, bucket, f"{prefix}/AWSLogs/{org_id}/{account}/CloudTrail-Digest/{region}/")
            result = subprocess.run(
                [
                    "aws", "cloudtrail", "validate-logs", "--trail-arn", TRAIL_ARN,
                    "--start-time", started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "--account-id", account, "--region", region, "--verbose",
                ],
                env=server.env, capture_output=True, text=True, timeout=120,
            )
            output = result.stdout + result.stderr
            assert result.returncode == 0, (account, region, output)
            assert f"{len(digests)}/{len(digests)} digest files valid" in output, (account, region, output)


def test_member_reads_the_organization_trail_status_by_arn(server):
    orgs = server.client("organizations")
    org_id = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    server.aws("organizations", "enable-aws-service-access", "--service-principal", "cloudtrail.amazonaws.com")
    member = create_member(orgs, "reader")
    bucket = f"org-status-{uuid.uuid4().hex[:8]}"
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=organization_bucket_policy(bucket, org_id))
    ct = server.client("cloudtrail")
    ct.create_trail(Name=TRAIL, S3BucketName=bucket, IsOrganizationTrail=True)
    ct.start_logging(Name=TRAIL)
    admin = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="reader"
    )["Credentials"]
    # AWS: a member account names an organization trail by its full ARN to read its status.
    assert client(server, "cloudtrail", admin).get_trail_status(Name=TRAIL_ARN)["IsLogging"] is True
