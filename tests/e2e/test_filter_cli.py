"""`opentrail filter --pattern PATTERN [FILE...]`: grep with a CloudWatch Logs filter pattern.

Runs the binary on files the tests write — plain log lines, CloudTrail files as
`{"Records":[…]}` (gzipped and not), JSON arrays, one record per line, stdin — and checks what
it prints and its exit status (0 matched, 1 nothing matched, 2 bad pattern or unreadable
input). Then the 14 CIS / Security Hub CloudWatch.1–14 filters, verbatim, over realistic
CloudTrail records: each must print exactly the records it is meant to catch."""

import gzip
import json
import subprocess
import uuid

import pytest

from conftest import binary

# CIS / Security Hub CloudWatch.1–14, verbatim (shared/spec/cloudtrail-formats.md §8).
CIS = {
    1: '{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}',
    2: '{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}',
    3: '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }',
    4: "{($.eventName=DeleteGroupPolicy) || ($.eventName=DeleteRolePolicy) || ($.eventName=DeleteUserPolicy) || ($.eventName=PutGroupPolicy) || ($.eventName=PutRolePolicy) || ($.eventName=PutUserPolicy) || ($.eventName=CreatePolicy) || ($.eventName=DeletePolicy) || ($.eventName=CreatePolicyVersion) || ($.eventName=DeletePolicyVersion) || ($.eventName=AttachRolePolicy) || ($.eventName=DetachRolePolicy) || ($.eventName=AttachUserPolicy) || ($.eventName=DetachUserPolicy) || ($.eventName=AttachGroupPolicy) || ($.eventName=DetachGroupPolicy)}",
    5: "{($.eventName=CreateTrail) || ($.eventName=UpdateTrail) || ($.eventName=DeleteTrail) || ($.eventName=StartLogging) || ($.eventName=StopLogging)}",
    6: '{($.eventName=ConsoleLogin) && ($.errorMessage="Failed authentication")}',
    7: "{($.eventSource=kms.amazonaws.com) && (($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}",
    8: "{($.eventSource=s3.amazonaws.com) && (($.eventName=PutBucketAcl) || ($.eventName=PutBucketPolicy) || ($.eventName=PutBucketCors) || ($.eventName=PutBucketLifecycle) || ($.eventName=PutBucketReplication) || ($.eventName=DeleteBucketPolicy) || ($.eventName=DeleteBucketCors) || ($.eventName=DeleteBucketLifecycle) || ($.eventName=DeleteBucketReplication))}",
    9: "{($.eventSource=config.amazonaws.com) && (($.eventName=StopConfigurationRecorder) || ($.eventName=DeleteDeliveryChannel) || ($.eventName=PutDeliveryChannel) || ($.eventName=PutConfigurationRecorder))}",
    10: "{($.eventName=AuthorizeSecurityGroupIngress) || ($.eventName=AuthorizeSecurityGroupEgress) || ($.eventName=RevokeSecurityGroupIngress) || ($.eventName=RevokeSecurityGroupEgress) || ($.eventName=CreateSecurityGroup) || ($.eventName=DeleteSecurityGroup)}",
    11: "{($.eventName=CreateNetworkAcl) || ($.eventName=CreateNetworkAclEntry) || ($.eventName=DeleteNetworkAcl) || ($.eventName=DeleteNetworkAclEntry) || ($.eventName=ReplaceNetworkAclEntry) || ($.eventName=ReplaceNetworkAclAssociation)}",
    12: "{($.eventName=CreateCustomerGateway) || ($.eventName=DeleteCustomerGateway) || ($.eventName=AttachInternetGateway) || ($.eventName=CreateInternetGateway) || ($.eventName=DeleteInternetGateway) || ($.eventName=DetachInternetGateway)}",
    13: "{($.eventName=CreateRoute) || ($.eventName=CreateRouteTable) || ($.eventName=ReplaceRoute) || ($.eventName=ReplaceRouteTableAssociation) || ($.eventName=DeleteRouteTable) || ($.eventName=DeleteRoute) || ($.eventName=DisassociateRouteTable)}",
    14: "{($.eventName=CreateVpc) || ($.eventName=DeleteVpc) || ($.eventName=ModifyVpcAttribute) || ($.eventName=AcceptVpcPeeringConnection) || ($.eventName=CreateVpcPeeringConnection) || ($.eventName=DeleteVpcPeeringConnection) || ($.eventName=RejectVpcPeeringConnection) || ($.eventName=AttachClassicLinkVpc) || ($.eventName=DetachClassicLinkVpc) || ($.eventName=DisableVpcClassicLink) || ($.eventName=EnableVpcClassicLink)}",
}

ACCOUNT = "111122223333"
IAM_USER = {
    "type": "IAMUser",
    "principalId": "AIDACKCEVSQ6C2EXAMPLE",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/anaya",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
    "userName": "anaya",
}
ROOT = {
    "type": "Root",
    "principalId": ACCOUNT,
    "arn": f"arn:aws:iam::{ACCOUNT}:root",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAIOSFODNN7EXAMPLE",
}


def record(event_source, event_name, identity=IAM_USER, **extra):
    """A realistic management-event record; `extra` adds or overrides top-level fields."""
    base = {
        "eventVersion": "1.11",
        "userIdentity": identity,
        "eventTime": "2026-11-22T04:00:00Z",
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5 exe/x86_64",
        "requestParameters": {"example": event_name},
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": event_name.startswith(("Describe", "Get", "List")),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    base.update(extra)
    return base


def console_login(identity, success, mfa):
    extra = {
        "eventType": "AwsConsoleSignIn",
        "responseElements": {"ConsoleLogin": "Success" if success else "Failure"},
        "additionalEventData": {
            "LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No",
            "MFAUsed": mfa,
        },
    }
    if not success:
        extra["errorMessage"] = "Failed authentication"
    return record("signin.amazonaws.com", "ConsoleLogin", identity, **extra)


# (record, the controls it must fire): every control has records that fire it and records
# that come close without firing it.
CASES = [
    (record("ec2.amazonaws.com", "DescribeInstances", ROOT), {1}),
    (record("ec2.amazonaws.com", "DescribeInstances", dict(ROOT, invokedBy="support.amazonaws.com")), set()),
    (record("kms.amazonaws.com", "Decrypt", ROOT, eventType="AwsServiceEvent"), set()),
    (record("ec2.amazonaws.com", "RunInstances", errorCode="Client.UnauthorizedOperation",
            errorMessage="You are not authorized to perform this operation."), {2}),
    (record("s3.amazonaws.com", "PutBucketPolicy", errorCode="AccessDenied", errorMessage="Access Denied"), {2, 8}),
    (record("dynamodb.amazonaws.com", "Scan", errorCode="ThrottlingException"), set()),
    (console_login(IAM_USER, success=True, mfa="No"), {3}),
    (console_login(IAM_USER, success=True, mfa="Yes"), set()),
    (console_login(IAM_USER, success=False, mfa="No"), {6}),
    (console_login(ROOT, success=False, mfa="No"), {1, 6}),
    (record("iam.amazonaws.com", "PutUserPolicy"), {4}),
    (record("iam.amazonaws.com", "GetUserPolicy"), set()),
    (record("cloudtrail.amazonaws.com", "StopLogging"), {5}),
    (record("cloudtrail.amazonaws.com", "DescribeTrails"), set()),
    (record("kms.amazonaws.com", "ScheduleKeyDeletion"), {7}),
    (record("kms.amazonaws.com", "Decrypt"), set()),
    (record("kms-fips.amazonaws.com", "DisableKey"), set()),
    (record("s3.amazonaws.com", "PutBucketPolicy"), {8}),
    (record("s3.amazonaws.com", "GetBucketPolicy"), set()),
    (record("config.amazonaws.com", "StopConfigurationRecorder"), {9}),
    (record("config.amazonaws.com", "DescribeConfigurationRecorders"), set()),
    (record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"), {10}),
    (record("ec2.amazonaws.com", "DescribeSecurityGroups"), set()),
    (record("ec2.amazonaws.com", "CreateNetworkAclEntry"), {11}),
    (record("ec2.amazonaws.com", "DescribeNetworkAcls"), set()),
    (record("ec2.amazonaws.com", "CreateInternetGateway"), {12}),
    (record("ec2.amazonaws.com", "DescribeInternetGateways"), set()),
    (record("ec2.amazonaws.com", "CreateRoute"), {13}),
    (record("ec2.amazonaws.com", "DescribeRouteTables"), set()),
    (record("ec2.amazonaws.com", "CreateVpc"), {14}),
    (record("ec2.amazonaws.com", "DescribeVpcs"), set()),
]


def run(*args, stdin=None):
    return subprocess.run(
        [binary(), "filter", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


APACHE = [
    '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534',
    '127.0.0.1 - bob [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
    '10.0.0.9 - - [10/Oct/2000:14:01:02 -0700] "POST /login HTTP/1.1" 500 17',
]


def test_terms_over_log_lines(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("[ERROR 400] BAD REQUEST\n[INFO 200] OK\n[ERROR 420] INVALID ARGUMENTS\n\n")
    done = run("--pattern", "ERROR -ARGUMENTS", log)
    assert (done.returncode, done.stdout, done.stderr) == (0, "[ERROR 400] BAD REQUEST\n", "")
    done = run("--pattern", "?OK ?ARGUMENTS", log, "--count")
    assert (done.returncode, done.stdout) == (0, "2\n")
    done = run("--pattern", '"ERROR 4"', log)
    assert done.stdout.splitlines() == ["[ERROR 400] BAD REQUEST", "[ERROR 420] INVALID ARGUMENTS"]


def test_nothing_matched_exits_1(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("[INFO 200] OK\n")
    done = run("--pattern", "ERROR", log)
    assert (done.returncode, done.stdout) == (1, "")
    done = run("-p", "ERROR", "-c", log)
    assert (done.returncode, done.stdout) == (1, "0\n")


def test_bad_pattern_exits_2_with_aws_message(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("ORDER-ITEM-1 shipped\n")
    done = run("--pattern", "ORDER-ITEM-1", log)
    assert done.returncode == 2 and done.stdout == ""
    assert "Invalid character(s) in term" in done.stderr
    done = run("--pattern", "{ $.eventName = ConsoleLogin", log)
    assert done.returncode == 2
    assert "If a filter pattern starts with '{' it must end with '}'" in done.stderr
    # Quoted, the same text is a valid phrase.
    assert run("--pattern", '"ORDER-ITEM-1"', log).returncode == 0


def test_unreadable_input_exits_2_after_the_readable_ones(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("ERROR here\n")
    missing = tmp_path / "missing.log"
    done = run("--pattern", "ERROR", log, missing)
    assert done.returncode == 2
    assert done.stdout == "ERROR here\n"
    assert "missing.log" in done.stderr
    corrupt = tmp_path / "corrupt.json.gz"
    corrupt.write_bytes(b"\x1f\x8b" + b"not gzip at all")
    assert run("--pattern", "ERROR", corrupt).returncode == 2


def test_stdin_when_no_file():
    done = run("--pattern", "[ip, user, username, timestamp, request, status_code = 4*, bytes]", stdin="\n".join(APACHE) + "\n")
    assert (done.returncode, done.stdout) == (0, APACHE[0] + "\n")
    done = run("--pattern", "[..., status_code >= 500, bytes]", stdin="\n".join(APACHE))
    assert done.stdout == APACHE[2] + "\n"
    done = run("--pattern", "%apache_pb\\.gif%", "--count", stdin="\n".join(APACHE))
    assert done.stdout == "1\n"


def test_cloudtrail_file_shapes_become_compact_records(tmp_path):
    records = [record("iam.amazonaws.com", "CreateUser"), record("s3.amazonaws.com", "ListBuckets")]
    wrapped = json.dumps({"Records": records}, indent=2)
    shapes = {
        "wrapped.json": wrapped.encode(),
        "wrapped.json.gz": gzip.compress(wrapped.encode()),
        "array.json": json.dumps(records, indent=1).encode(),
        "lines.json": "".join(json.dumps(r) + "\n" for r in records).encode(),
        "gzip-without-suffix": gzip.compress(wrapped.encode()),
    }
    expected = compact(records[0]) + "\n"
    for name, data in shapes.items():
        path = tmp_path / name
        path.write_bytes(data)
        done = run("--pattern", "{ $.eventSource = iam.amazonaws.com }", path)
        assert (done.returncode, done.stdout, done.stderr) == (0, expected, ""), name
        # Unstructured terms see the compact JSON text, as the log group would.
        done = run("--pattern", '"\\"eventName\\":\\"ListBuckets\\""', path)
        assert done.stdout == compact(records[1]) + "\n", name
    done = run("--pattern", "{ $.eventName = * }", "--count", *[tmp_path / name for name in shapes])
    assert done.stdout == f"{2 * len(shapes)}\n"


@pytest.fixture(scope="module")
def cis_trail_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cis") / f"{ACCOUNT}_CloudTrail_us-east-1_20261122T0400Z_abc.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": [rec for rec, _ in CASES]}).encode()))
    return path


@pytest.mark.parametrize("control", sorted(CIS))
def test_cis_filter_catches_exactly_its_records(cis_trail_file, control):
    expected = [rec["eventID"] for rec, fires in CASES if control in fires]
    assert expected, f"CloudWatch.{control} has no record that should fire it"
    done = run("--pattern", CIS[control], cis_trail_file)
    assert done.returncode == 0, done.stderr
    printed = [json.loads(line)["eventID"] for line in done.stdout.splitlines()]
    assert printed == expected
    # And nothing at all on the records meant for the other controls.
    quiet = [rec for rec, fires in CASES if control not in fires]
    done = run("--pattern", CIS[control], stdin="".join(compact(rec) + "\n" for rec in quiet))
    assert (done.returncode, done.stdout) == (1, "")
