"""CloudTrail control plane end to end, through boto3 and the real `aws` CLI: trails, logging
status, event and Insights selectors, tags, shadow trails of multi-region trails, AWS's errors,
and LookupEvents finding the calls with the fields AWS records."""

import datetime
import json
import subprocess
import uuid

import botocore.exceptions
import pytest

from conftest import (
    ACCESS_KEY,
    ACCOUNT_ID,
    allow_cloudtrail_delivery,
    allow_cloudtrail_publish,
    cloudtrail_bucket_policy,
    create_trail_bucket,
    create_trail_topic,
    error_of,
)

TRAIL_ARN = "arn:aws:cloudtrail:{region}:" + ACCOUNT_ID + ":trail/{name}"


def bucket(server, name=None, prefix=None):
    """A new bucket whose policy lets CloudTrail deliver under `[prefix/]AWSLogs/<account>/`."""
    return create_trail_bucket(server.client("s3"), name or f"ct-{uuid.uuid4().hex[:16]}", prefix=prefix)


def trail(server, name=None, region="us-east-1", **kwargs):
    """Creates a bucket CloudTrail may deliver to and a trail; returns the CreateTrail response."""
    if "S3BucketName" not in kwargs:
        kwargs["S3BucketName"] = bucket(server, prefix=kwargs.get("S3KeyPrefix"))
    name = name or f"trail-{uuid.uuid4().hex[:12]}"
    return server.client("cloudtrail", region).create_trail(Name=name, **kwargs)


# --- trails -------------------------------------------------------------------------------


def test_create_get_describe_list(server):
    ct = server.client("cloudtrail")
    bucket_name = bucket(server, prefix="logs")
    created = ct.create_trail(
        Name="main-trail",
        S3BucketName=bucket_name,
        S3KeyPrefix="logs",
        EnableLogFileValidation=True,
        TagsList=[{"Key": "team", "Value": "sec"}],
    )
    arn = TRAIL_ARN.format(region="us-east-1", name="main-trail")
    assert created["Name"] == "main-trail"
    assert created["TrailARN"] == arn
    assert created["S3BucketName"] == bucket_name
    assert created["S3KeyPrefix"] == "logs"
    assert created["IncludeGlobalServiceEvents"] is True
    assert created["IsMultiRegionTrail"] is False
    assert created["LogFileValidationEnabled"] is True
    assert created["IsOrganizationTrail"] is False
    assert "SnsTopicName" not in created and "HomeRegion" not in created

    got = ct.get_trail(Name="main-trail")["Trail"]
    assert got["HomeRegion"] == "us-east-1"
    assert got["HasCustomEventSelectors"] is False
    assert got["HasInsightSelectors"] is False
    assert ct.get_trail(Name=arn)["Trail"]["Name"] == "main-trail"

    described = ct.describe_trails()["trailList"]
    assert [t["TrailARN"] for t in described] == [arn]
    assert described[0]["S3KeyPrefix"] == "logs"
    assert ct.describe_trails(trailNameList=[arn, "main-trail", "nope-trail"])["trailList"] == described
    assert ct.list_trails()["Trails"] == [
        {"TrailARN": arn, "Name": "main-trail", "HomeRegion": "us-east-1"}
    ]


def test_describe_keeps_creation_order(server):
    names = [f"z-trail-{i}" if i % 2 else f"a-trail-{i}" for i in range(4)]
    for name in names:
        trail(server, name)
    described = server.client("cloudtrail").describe_trails(includeShadowTrails=False)["trailList"]
    assert [t["Name"] for t in described] == names


def test_sns_topic_and_kms_key_are_recorded_as_arns(server):
    create_trail_topic(server.client("sns"), "ct-topic")
    created = trail(server, "notify-trail", SnsTopicName="ct-topic", KmsKeyId="alias/ct")
    assert created["SnsTopicName"] == "ct-topic"
    assert created["SnsTopicARN"] == f"arn:aws:sns:us-east-1:{ACCOUNT_ID}:ct-topic"
    assert created["KmsKeyId"] == f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:alias/ct"


@pytest.mark.parametrize(
    "name,message",
    [
        ("aa", "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 2 characters."),
        ("a" * 129, "Trail name too long. Maximum allowed length: 128 characters. Specified name length: 129 characters."),
        ("-trail", "Trail name must starts with a letter or number."),
        ("trail!", "Trail name must ends with a letter or number."),
        ("my#trail", "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, "
                     "periods (.), hyphens (-), and underscores (_)."),
    ],
)
def test_invalid_trail_names(server, name, message):
    err = error_of(server.client("cloudtrail").create_trail, Name=name, S3BucketName="any-bucket")
    assert err["Code"] == "InvalidTrailNameException"
    assert err["Message"] == message


@pytest.mark.parametrize("name", ["my--trail", "my-_trail", "192.168.5.4"])
def test_adjacent_punctuation_and_ip_names_are_refused(server, name):
    err = error_of(server.client("cloudtrail").create_trail, Name=name, S3BucketName="any-bucket")
    assert err["Code"] == "InvalidTrailNameException"


def test_create_trail_errors(server):
    ct = server.client("cloudtrail")
    err = error_of(ct.create_trail, Name="no-bucket", S3BucketName="missing-bucket-xyz")
    assert err["Code"] == "S3BucketDoesNotExistException"
    assert err["Message"] == "S3 bucket missing-bucket-xyz does not exist!"

    err = error_of(ct.create_trail, Name="t-multi", S3BucketName="missing-bucket-xyz",
                   IncludeGlobalServiceEvents=False, IsMultiRegionTrail=True)
    assert err["Code"] == "InvalidParameterCombinationException"
    assert err["Message"] == "Multi-Region trail must include global service events."

    name = bucket(server)
    err = error_of(ct.create_trail, Name="org-trail", S3BucketName=name, IsOrganizationTrail=True)
    assert err["Code"] == "OrganizationsNotInUseException"

    err = error_of(ct.create_trail, Name="cwl-trail", S3BucketName=name,
                   CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:ct:*")
    assert err["Code"] == "InvalidCloudWatchLogsRoleArnException"
    err = error_of(ct.create_trail, Name="cwl-trail", S3BucketName=name,
                   CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/ct")
    assert err["Code"] == "InvalidCloudWatchLogsLogGroupArnException"
    created = ct.create_trail(
        Name="cwl-trail", S3BucketName=name,
        CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:ct:*",
        CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/ct",
    )
    assert created["CloudWatchLogsRoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/ct"

    err = error_of(ct.create_trail, Name="cwl-trail", S3BucketName=name)
    assert err["Code"] == "TrailAlreadyExistsException"
    assert err["Message"] == f"Trail cwl-trail already exists for customer: {ACCOUNT_ID}"

    err = error_of(ct.create_trail, Name="tagged", S3BucketName=name,
                   TagsList=[{"Key": "aws:reserved", "Value": "x"}])
    assert err["Code"] == "InvalidTagParameterException"


def test_trail_limit_per_region(server):
    for i in range(5):
        trail(server, f"limit-{i}")
    err = error_of(trail, server, "limit-5")
    assert err["Code"] == "MaximumNumberOfTrailsExceededException"
    # Another region has its own five.
    trail(server, "limit-5", region="eu-west-1")


def test_unknown_trails(server):
    ct = server.client("cloudtrail")
    err = error_of(ct.get_trail, Name="unknowntrail")
    assert err["Code"] == "TrailNotFoundException"
    assert err["Message"] == f"Unknown trail: unknowntrail for the user: {ACCOUNT_ID}"
    err = error_of(ct.get_trail_status, Name="unknowntrail")
    assert err["Message"] == (
        f"Unknown trail: {TRAIL_ARN.format(region='us-east-1', name='unknowntrail')} "
        f"for the user: {ACCOUNT_ID}"
    )
    for call in (ct.delete_trail, ct.start_logging, ct.stop_logging, ct.update_trail):
        assert error_of(call, Name="unknowntrail")["Code"] == "TrailNotFoundException"
    err = error_of(ct.get_trail, Name="?")
    assert err["Code"] == "InvalidTrailNameException"
    assert err["Message"] == (
        "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 1 characters."
    )
    err = error_of(ct.get_trail, Name=f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:channel/abc")
    assert err["Code"] == "CloudTrailARNInvalidException"


def test_update_trail(server):
    ct = server.client("cloudtrail", "ap-southeast-1")
    created = trail(server, "upd-trail", region="ap-southeast-1", S3KeyPrefix="old")
    same = ct.update_trail(Name="upd-trail")
    assert same["S3BucketName"] == created["S3BucketName"]
    assert same["S3KeyPrefix"] == "old"

    other = bucket(server)
    create_trail_topic(server.client("sns", "ap-southeast-1"), "stn")
    updated = ct.update_trail(
        Name=created["TrailARN"], S3BucketName=other, S3KeyPrefix="", SnsTopicName="stn",
        IsMultiRegionTrail=True, EnableLogFileValidation=True,
    )
    assert updated["S3BucketName"] == other
    assert "S3KeyPrefix" not in updated
    assert updated["SnsTopicARN"] == f"arn:aws:sns:ap-southeast-1:{ACCOUNT_ID}:stn"
    assert updated["IsMultiRegionTrail"] is True
    got = ct.get_trail(Name="upd-trail")["Trail"]
    assert got["LogFileValidationEnabled"] is True and "S3KeyPrefix" not in got

    assert error_of(ct.update_trail, Name="upd-trail", S3BucketName="gone-bucket-xyz")["Code"] == (
        "S3BucketDoesNotExistException"
    )
    assert error_of(ct.update_trail, Name="upd-trail", IncludeGlobalServiceEvents=False)["Code"] == (
        "InvalidParameterCombinationException"
    )


def test_delete_trail(server):
    ct = server.client("cloudtrail")
    trail(server, "gone-trail")
    assert len(ct.describe_trails()["trailList"]) == 1
    ct.delete_trail(Name="gone-trail")
    assert ct.describe_trails()["trailList"] == []
    assert error_of(ct.get_trail, Name="gone-trail")["Code"] == "TrailNotFoundException"
    # The name is free again.
    trail(server, "gone-trail")


def test_logging_status(server):
    ct = server.client("cloudtrail", "eu-west-3")
    trail(server, "status-trail", region="eu-west-3")
    idle = ct.get_trail_status(Name="status-trail")
    assert idle["IsLogging"] is False
    for key in ("LatestDeliveryAttemptTime", "LatestNotificationAttemptTime",
                "LatestNotificationAttemptSucceeded", "LatestDeliveryAttemptSucceeded",
                "TimeLoggingStarted", "TimeLoggingStopped"):
        assert idle[key] == ""
    assert "StartLoggingTime" not in idle and "LatestDeliveryTime" not in idle

    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    ct.start_logging(Name="status-trail")
    started = ct.get_trail_status(Name="status-trail")
    assert started["IsLogging"] is True
    assert isinstance(started["StartLoggingTime"], datetime.datetime)
    assert started["StartLoggingTime"] >= before
    assert started["TimeLoggingStarted"].endswith("Z")
    assert started["TimeLoggingStopped"] == ""
    assert "StopLoggingTime" not in started

    ct.stop_logging(Name=TRAIL_ARN.format(region="eu-west-3", name="status-trail"))
    stopped = ct.get_trail_status(Name="status-trail")
    assert stopped["IsLogging"] is False
    assert stopped["StopLoggingTime"] >= stopped["StartLoggingTime"]
    assert stopped["TimeLoggingStopped"] != ""


def test_multi_region_trail_shadows(server):
    home = server.client("cloudtrail", "us-east-1")
    away = server.client("cloudtrail", "eu-west-1")
    multi = trail(server, "global-trail", IsMultiRegionTrail=True)
    trail(server, "local-trail")
    trail(server, "eu-trail", region="eu-west-1")
    home.start_logging(Name="global-trail")

    away_trails = away.describe_trails()["trailList"]
    assert sorted(t["Name"] for t in away_trails) == ["eu-trail", "global-trail"]
    shadow = next(t for t in away_trails if t["Name"] == "global-trail")
    assert shadow["HomeRegion"] == "us-east-1"
    assert shadow["TrailARN"] == multi["TrailARN"]
    assert [t["Name"] for t in away.describe_trails(includeShadowTrails=False)["trailList"]] == ["eu-trail"]
    listed = {t["Name"]: t["HomeRegion"] for t in away.list_trails()["Trails"]}
    assert listed == {"global-trail": "us-east-1", "eu-trail": "eu-west-1"}
    assert server.client("cloudtrail", "eu-west-3").list_trails()["Trails"] == [
        {"TrailARN": multi["TrailARN"], "Name": "global-trail", "HomeRegion": "us-east-1"}
    ]

    assert away.get_trail_status(Name=multi["TrailARN"])["IsLogging"] is True
    assert away.get_trail(Name="global-trail")["Trail"]["HomeRegion"] == "us-east-1"
    for call in (away.update_trail, away.delete_trail, away.stop_logging):
        err = error_of(call, Name="global-trail")
        assert err["Code"] == "InvalidHomeRegionException"
    err = error_of(away.put_event_selectors, TrailName="global-trail",
                   EventSelectors=[{"ReadWriteType": "All"}])
    assert err["Code"] == "InvalidHomeRegionException"
    err = error_of(away.add_tags, ResourceId=multi["TrailARN"], TagsList=[{"Key": "k", "Value": "v"}])
    assert err["Code"] == "InvalidHomeRegionException"

    # A single-region trail is invisible elsewhere; a multi-region name is taken everywhere.
    assert error_of(away.get_trail, Name="local-trail")["Code"] == "TrailNotFoundException"
    err = error_of(trail, server, "global-trail", region="ap-south-1")
    assert err["Code"] == "TrailAlreadyExistsException"
    trail(server, "local-trail", region="ap-south-1")


# --- bucket and topic policies ---------------------------------------------------------------


def refusal(call, **kwargs):
    """The error and HTTP status of the ClientError `call(**kwargs)` must raise."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def aws_error(server, *args):
    """The stderr of an `aws` CLI call that must fail."""
    failed = subprocess.run(["aws", *args], env=server.env, capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0, failed.stdout
    return failed.stderr


def put_policy(server, name, *statements):
    server.client("s3").put_bucket_policy(
        Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def test_a_bucket_without_a_policy_is_refused(server):
    ct = server.client("cloudtrail")
    name = f"ct-bare-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=name)
    err, status = refusal(ct.create_trail, Name="bare-trail", S3BucketName=name)
    assert err["Code"] == "InsufficientS3BucketPolicyException"
    assert err["Message"] == f"Incorrect S3 bucket policy is detected for bucket: {name}"
    assert status == 400
    assert ct.describe_trails()["trailList"] == []

    # Once the owner puts the policy AWS documents, the same call succeeds.
    allow_cloudtrail_delivery(server.client("s3"), name)
    assert ct.create_trail(Name="bare-trail", S3BucketName=name)["S3BucketName"] == name


def test_a_policy_without_the_cloudtrail_statements_is_refused(server):
    ct = server.client("cloudtrail")
    name = f"ct-other-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=name)
    # Everything for the account's own users, nothing for the CloudTrail service.
    put_policy(server, name, {
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
        "Action": "s3:*", "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
    })
    err, status = refusal(ct.create_trail, Name="other-trail", S3BucketName=name)
    assert (err["Code"], status) == ("InsufficientS3BucketPolicyException", 400)
    assert err["Message"] == f"Incorrect S3 bucket policy is detected for bucket: {name}"

    # Half of what CloudTrail needs is not enough: the write statement without the ACL check...
    write_only = cloudtrail_bucket_policy(name)["Statement"][1]
    put_policy(server, name, write_only)
    assert refusal(ct.create_trail, Name="other-trail", S3BucketName=name)[0]["Code"] == (
        "InsufficientS3BucketPolicyException")
    # ... nor the statements for another service, nor a deny that overrides them.
    acl_check, write = cloudtrail_bucket_policy(name)["Statement"]
    put_policy(server, name, {**acl_check, "Principal": {"Service": "config.amazonaws.com"}},
               {**write, "Principal": {"Service": "config.amazonaws.com"}})
    assert refusal(ct.create_trail, Name="other-trail", S3BucketName=name)[0]["Code"] == (
        "InsufficientS3BucketPolicyException")
    put_policy(server, name, acl_check, write, {
        "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{name}/*",
    })
    assert refusal(ct.create_trail, Name="other-trail", S3BucketName=name)[0]["Code"] == (
        "InsufficientS3BucketPolicyException")
    assert ct.describe_trails()["trailList"] == []

    put_policy(server, name, acl_check, write)
    ct.create_trail(Name="other-trail", S3BucketName=name)


def test_source_arn_conditions_name_the_trail(server):
    ct = server.client("cloudtrail")
    s3 = server.client("s3")
    this = TRAIL_ARN.format(region="us-east-1", name="arn-trail")
    other = TRAIL_ARN.format(region="us-east-1", name="another-trail")
    name = create_trail_bucket(s3, f"ct-arn-{uuid.uuid4().hex[:8]}", trail_arns=[other])
    err = error_of(ct.create_trail, Name="arn-trail", S3BucketName=name)
    assert err["Code"] == "InsufficientS3BucketPolicyException"
    assert err["Message"] == f"Incorrect S3 bucket policy is detected for bucket: {name}"

    # The same trail name in another region is another trail.
    allow_cloudtrail_delivery(s3, name, trail_arns=[TRAIL_ARN.format(region="eu-west-1", name="arn-trail")])
    assert error_of(ct.create_trail, Name="arn-trail", S3BucketName=name)["Code"] == (
        "InsufficientS3BucketPolicyException")

    allow_cloudtrail_delivery(s3, name, trail_arns=[other, this])
    assert ct.create_trail(Name="arn-trail", S3BucketName=name)["TrailARN"] == this


def test_source_arn_conditions_through_the_cli(server):
    name = f"ct-cli-{uuid.uuid4().hex[:8]}"
    server.aws("s3api", "create-bucket", "--bucket", name)
    other = TRAIL_ARN.format(region="us-east-1", name="someone-elses")
    server.aws("s3api", "put-bucket-policy", "--bucket", name,
               "--policy", json.dumps(cloudtrail_bucket_policy(name, trail_arns=[other])))
    stderr = aws_error(server, "cloudtrail", "create-trail", "--name", "cli-arn-trail", "--s3-bucket-name", name)
    assert "InsufficientS3BucketPolicyException" in stderr
    assert f"Incorrect S3 bucket policy is detected for bucket: {name}" in stderr

    this = TRAIL_ARN.format(region="us-east-1", name="cli-arn-trail")
    server.aws("s3api", "put-bucket-policy", "--bucket", name,
               "--policy", json.dumps(cloudtrail_bucket_policy(name, trail_arns=[this])))
    created = server.aws("cloudtrail", "create-trail", "--name", "cli-arn-trail", "--s3-bucket-name", name)
    assert created["TrailARN"] == this


def test_writes_must_be_allowed_under_this_account_and_prefix(server):
    ct = server.client("cloudtrail")
    s3 = server.client("s3")
    name = create_trail_bucket(s3, f"ct-acct-{uuid.uuid4().hex[:8]}", account_id="210987654321")
    err = error_of(ct.create_trail, Name="acct-trail", S3BucketName=name)
    assert err["Code"] == "InsufficientS3BucketPolicyException"
    assert err["Message"] == f"Incorrect S3 bucket policy is detected for bucket: {name}"

    # Allowed under prefix "audit" only: a trail writing elsewhere is refused.
    allow_cloudtrail_delivery(s3, name, prefix="audit")
    for prefix in ({}, {"S3KeyPrefix": "other"}):
        assert error_of(ct.create_trail, Name="acct-trail", S3BucketName=name, **prefix)["Code"] == (
            "InsufficientS3BucketPolicyException")
    created = ct.create_trail(Name="acct-trail", S3BucketName=name, S3KeyPrefix="audit")
    assert created["S3KeyPrefix"] == "audit"
    # UpdateTrail checks the prefix it would write under too.
    err = error_of(ct.update_trail, Name="acct-trail", S3KeyPrefix="")
    assert err["Code"] == "InsufficientS3BucketPolicyException"
    assert ct.get_trail(Name="acct-trail")["Trail"]["S3KeyPrefix"] == "audit"


def test_update_trail_to_a_bucket_without_a_policy_is_refused(server):
    ct = server.client("cloudtrail")
    created = trail(server, "moving-trail")
    bare = f"ct-bare-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=bare)
    err, status = refusal(ct.update_trail, Name="moving-trail", S3BucketName=bare)
    assert (err["Code"], status) == ("InsufficientS3BucketPolicyException", 400)
    assert err["Message"] == f"Incorrect S3 bucket policy is detected for bucket: {bare}"
    assert ct.get_trail(Name="moving-trail")["Trail"]["S3BucketName"] == created["S3BucketName"]

    # Through the CLI too; then with the policy the move succeeds.
    stderr = aws_error(server, "cloudtrail", "update-trail", "--name", "moving-trail", "--s3-bucket-name", bare)
    assert f"(InsufficientS3BucketPolicyException) when calling the UpdateTrail operation: " \
           f"Incorrect S3 bucket policy is detected for bucket: {bare}" in stderr
    allow_cloudtrail_delivery(server.client("s3"), bare)
    moved = server.aws("cloudtrail", "update-trail", "--name", "moving-trail", "--s3-bucket-name", bare)
    assert moved["S3BucketName"] == bare


def test_a_topic_must_let_cloudtrail_publish(server):
    ct = server.client("cloudtrail")
    sns = server.client("sns")
    topic_arn = sns.create_topic(Name="plain-topic")["TopicArn"]
    name = bucket(server)
    # A new topic's default policy lets only its own account publish.
    err, status = refusal(ct.create_trail, Name="notified", S3BucketName=name, SnsTopicName="plain-topic")
    assert (err["Code"], status) == ("InsufficientSnsTopicPolicyException", 400)
    assert err["Message"] == "SNS Topic does not exist or the topic policy is incorrect!"
    assert ct.describe_trails()["trailList"] == []

    ct.create_trail(Name="notified", S3BucketName=name)
    stderr = aws_error(server, "cloudtrail", "update-trail", "--name", "notified", "--sns-topic-name", topic_arn)
    assert "InsufficientSnsTopicPolicyException" in stderr
    assert "SnsTopicARN" not in ct.get_trail(Name="notified")["Trail"]

    # A condition naming another trail does not help; one naming this trail does.
    other = TRAIL_ARN.format(region="us-east-1", name="other-notified")
    allow_cloudtrail_publish(sns, topic_arn, trail_arns=[other])
    assert error_of(ct.update_trail, Name="notified", SnsTopicName="plain-topic")["Code"] == (
        "InsufficientSnsTopicPolicyException")
    this = TRAIL_ARN.format(region="us-east-1", name="notified")
    allow_cloudtrail_publish(sns, topic_arn, trail_arns=[other, this])
    updated = ct.update_trail(Name="notified", SnsTopicName="plain-topic")
    assert updated["SnsTopicARN"] == topic_arn

    # The statement AWS documents, with no condition, lets any trail of the account notify.
    open_arn = create_trail_topic(sns, "open-topic")
    created = trail(server, "also-notified", SnsTopicName="open-topic")
    assert created["SnsTopicARN"] == open_arn


# --- selectors ------------------------------------------------------------------------------


def test_basic_event_selectors(server):
    ct = server.client("cloudtrail", "eu-west-1")
    created = trail(server, "sel-trail", region="eu-west-1")
    default = ct.get_event_selectors(TrailName="sel-trail")
    assert default["TrailARN"] == created["TrailARN"]
    assert default["EventSelectors"] == [{
        "ReadWriteType": "All", "IncludeManagementEvents": True,
        "DataResources": [], "ExcludeManagementEventSources": [],
    }]
    assert "AdvancedEventSelectors" not in default

    selectors = [{
        "ReadWriteType": "WriteOnly",
        "IncludeManagementEvents": True,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::my-bucket/"]}],
        "ExcludeManagementEventSources": ["kms.amazonaws.com"],
    }]
    put = ct.put_event_selectors(TrailName="sel-trail", EventSelectors=selectors)
    assert put["TrailARN"] == created["TrailARN"]
    assert put["EventSelectors"] == selectors
    assert ct.get_event_selectors(TrailName=created["TrailARN"])["EventSelectors"] == selectors
    assert ct.get_trail(Name="sel-trail")["Trail"]["HasCustomEventSelectors"] is True


def test_advanced_event_selectors_replace_basic_ones(server):
    ct = server.client("cloudtrail")
    trail(server, "adv-trail")
    ct.put_event_selectors(TrailName="adv-trail", EventSelectors=[{"ReadWriteType": "All"}])
    advanced = [
        {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
        {"Name": "s3 writes", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "readOnly", "Equals": ["false"]},
            {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::my-bucket/"]},
        ]},
    ]
    put = ct.put_event_selectors(TrailName="adv-trail", AdvancedEventSelectors=advanced)
    assert put["AdvancedEventSelectors"] == advanced
    assert "EventSelectors" not in put
    got = ct.get_event_selectors(TrailName="adv-trail")
    assert got["AdvancedEventSelectors"] == advanced
    assert "EventSelectors" not in got


@pytest.mark.parametrize(
    "selectors",
    [
        {"EventSelectors": [{"ReadWriteType": "All"}],
         "AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]},
        {"EventSelectors": [{"ReadWriteType": "All"}] * 6},
        {"EventSelectors": [{"DataResources": [
            {"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::b{i}/" for i in range(251)]}]}]},
        {"EventSelectors": [{"DataResources": [{"Type": "AWS::EC2::Instance", "Values": []}]}]},
        {"EventSelectors": [{"ExcludeManagementEventSources": ["ec2.amazonaws.com"]}]},
        {"AdvancedEventSelectors": [{"Name": "aes1", "FieldSelectors": [{"Field": "f", "Equals": ["fs1"]}]}]},
        {"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["x"]}]}]},
        {"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]},
        {"AdvancedEventSelectors": [{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "eventName", "Equals": [f"e{i}" for i in range(500)]}]}]},
    ],
    ids=["both-kinds", "six-selectors", "251-resources", "bad-type", "bad-exclusion",
         "unknown-field", "no-category", "data-without-type", "501-values"],
)
def test_invalid_event_selectors(server, selectors):
    trail(server, "bad-sel-trail")
    err = error_of(server.client("cloudtrail").put_event_selectors, TrailName="bad-sel-trail", **selectors)
    assert err["Code"] == "InvalidEventSelectorsException"


def test_insight_selectors(server):
    ct = server.client("cloudtrail", "us-east-2")
    created = trail(server, "ins-trail", region="us-east-2")
    err = error_of(ct.get_insight_selectors, TrailName="ins-trail")
    assert err["Code"] == "InsightNotEnabledException"
    assert err["Message"].startswith("Trail ins-trail does not have Insights enabled.")

    put = ct.put_insight_selectors(TrailName="ins-trail", InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    assert put == {**put, "TrailARN": created["TrailARN"], "InsightSelectors": [{"InsightType": "ApiCallRateInsight"}]}
    got = ct.get_insight_selectors(TrailName=created["TrailARN"])
    assert got["InsightSelectors"] == [{"InsightType": "ApiCallRateInsight"}]
    assert ct.get_trail(Name="ins-trail")["Trail"]["HasInsightSelectors"] is True

    err = error_of(ct.put_insight_selectors, TrailName="ins-trail",
                   InsightSelectors=[{"InsightType": "ApiCallRateInsight"}, {"InsightType": "ApiCallRateInsight"}])
    assert err["Code"] == "InvalidInsightSelectorsException"

    ct.put_insight_selectors(TrailName="ins-trail", InsightSelectors=[])
    assert error_of(ct.get_insight_selectors, TrailName="ins-trail")["Code"] == "InsightNotEnabledException"

    # Call-rate Insights need write management events.
    ct.put_event_selectors(TrailName="ins-trail", EventSelectors=[{"ReadWriteType": "ReadOnly"}])
    err = error_of(ct.put_insight_selectors, TrailName="ins-trail",
                   InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    assert err["Code"] == "InvalidInsightSelectorsException"
    ct.put_insight_selectors(TrailName="ins-trail", InsightSelectors=[{"InsightType": "ApiErrorRateInsight"}])


# --- tags -----------------------------------------------------------------------------------


def test_tags(server):
    ct = server.client("cloudtrail", "ap-southeast-1")
    arn = trail(server, "tag-trail", region="ap-southeast-1",
                TagsList=[{"Key": "tk", "Value": "tv"}, {"Key": "tk2", "Value": "tv2"}])["TrailARN"]
    ct.add_tags(ResourceId=arn, TagsList=[{"Key": "tk3", "Value": "tv3"}, {"Key": "tk", "Value": "new"}])
    ct.remove_tags(ResourceId=arn, TagsList=[{"Key": "tk2", "Value": "tv2"}])
    assert ct.list_tags(ResourceIdList=[arn])["ResourceTagList"] == [
        {"ResourceId": arn, "TagsList": [{"Key": "tk", "Value": "new"}, {"Key": "tk3", "Value": "tv3"}]}
    ]

    many = [{"Key": f"k{i}", "Value": "v"} for i in range(49)]
    err = error_of(ct.add_tags, ResourceId=arn, TagsList=many)
    assert err["Code"] == "TagsLimitExceededException"
    assert len(ct.list_tags(ResourceIdList=[arn])["ResourceTagList"][0]["TagsList"]) == 2

    assert error_of(ct.add_tags, ResourceId=arn, TagsList=[{"Key": "aws:x", "Value": "v"}])["Code"] == (
        "InvalidTagParameterException"
    )
    missing = TRAIL_ARN.format(region="ap-southeast-1", name="missing-trail")
    assert error_of(ct.add_tags, ResourceId=missing, TagsList=[{"Key": "k", "Value": "v"}])["Code"] == (
        "ResourceNotFoundException"
    )
    assert error_of(ct.list_tags, ResourceIdList=[missing])["Code"] == "ResourceNotFoundException"
    assert error_of(ct.add_tags, ResourceId="tag-trail", TagsList=[{"Key": "k", "Value": "v"}])["Code"] == (
        "CloudTrailARNInvalidException"
    )


# --- event history ----------------------------------------------------------------------------


def test_lookup_finds_create_trail_with_aws_fields(server):
    created = trail(server, "lookup-trail", S3KeyPrefix="p")
    server.client("cloudtrail").get_trail(Name="lookup-trail")

    events = server.lookup(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateTrail"}])
    assert len(events) == 1
    event = events[0]
    assert event["EventName"] == "CreateTrail"
    assert event["EventSource"] == "cloudtrail.amazonaws.com"
    assert event["ReadOnly"] == "false"
    assert event["AccessKeyId"] == ACCESS_KEY
    assert event["Username"] == "root"
    assert isinstance(event["EventTime"], datetime.datetime)
    assert {"ResourceType": "AWS::CloudTrail::Trail", "ResourceName": created["TrailARN"]} in event["Resources"]

    record = json.loads(event["CloudTrailEvent"])
    assert record["eventID"] == event["EventId"]
    assert record["eventName"] == "CreateTrail"
    assert record["eventSource"] == "cloudtrail.amazonaws.com"
    assert record["awsRegion"] == "us-east-1"
    assert record["readOnly"] is False
    assert record["eventType"] == "AwsApiCall"
    assert record["recipientAccountId"] == ACCOUNT_ID
    identity = record["userIdentity"]
    assert identity["type"] == "Root"
    assert identity["arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert identity["accountId"] == ACCOUNT_ID
    assert identity["accessKeyId"] == ACCESS_KEY
    assert record["requestParameters"] == {
        "name": "lookup-trail", "s3BucketName": created["S3BucketName"], "s3KeyPrefix": "p",
    }
    assert record["responseElements"]["trailARN"] == created["TrailARN"]
    assert record["responseElements"]["name"] == "lookup-trail"
    assert record["resources"] == [
        {"accountId": ACCOUNT_ID, "type": "AWS::CloudTrail::Trail", "ARN": created["TrailARN"]}
    ]

    reads = server.lookup(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetTrail"}])
    assert reads[0]["ReadOnly"] == "true"
    read_record = json.loads(reads[0]["CloudTrailEvent"])
    assert read_record["readOnly"] is True
    assert read_record["responseElements"] is None
    assert read_record["requestParameters"] == {"name": "lookup-trail"}


def test_failed_calls_are_recorded_with_their_error(server):
    ct = server.client("cloudtrail")
    error_of(ct.stop_logging, Name="ghost-trail")
    events = server.lookup(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "StopLogging"}])
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["errorCode"] == "TrailNotFoundException"
    assert record["errorMessage"] == f"Unknown trail: ghost-trail for the user: {ACCOUNT_ID}"
    assert record["requestParameters"] == {"name": "ghost-trail"}
    assert record["responseElements"] is None


def test_lookup_by_each_attribute_and_region(server):
    created = trail(server, "attr-trail")
    server.client("cloudtrail").start_logging(Name="attr-trail")
    trail(server, "eu-attr-trail", region="eu-west-1")

    def names(**kwargs):
        return [e["EventName"] for e in server.lookup(**kwargs)]

    def by(key, value, region="us-east-1"):
        return server.lookup(region=region, LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])

    start = by("EventName", "StartLogging")
    assert len(start) == 1
    assert [e["EventId"] for e in by("EventId", start[0]["EventId"])] == [start[0]["EventId"]]
    assert "StartLogging" in [e["EventName"] for e in by("ReadOnly", "false")]
    assert all(e["ReadOnly"] == "false" for e in by("ReadOnly", "false"))
    assert {e["EventName"] for e in by("ResourceName", created["TrailARN"])} >= {"CreateTrail"}
    assert all(e["EventSource"] == "cloudtrail.amazonaws.com"
               for e in by("EventSource", "cloudtrail.amazonaws.com"))
    assert by("ResourceType", "AWS::CloudTrail::Trail")
    assert by("Username", "root")
    assert by("AccessKeyId", ACCESS_KEY)
    assert by("EventName", "NoSuchCall") == []

    # Each region has its own history.
    eu = by("EventName", "CreateTrail", region="eu-west-1")
    assert len(eu) == 1
    assert json.loads(eu[0]["CloudTrailEvent"])["awsRegion"] == "eu-west-1"
    assert "CreateTrail" in names()
    assert len(by("EventName", "CreateTrail")) == 1


def test_lookup_pagination_and_time_range(server):
    ct = server.client("cloudtrail")
    trail(server, "page-trail")
    for _ in range(7):
        ct.get_trail_status(Name="page-trail")
    attribute = [{"AttributeKey": "EventName", "AttributeValue": "GetTrailStatus"}]
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"LookupAttributes": attribute, "MaxResults": 3}
        if token:
            kwargs["NextToken"] = token
        page = ct.lookup_events(**kwargs)
        assert len(page["Events"]) <= 3
        seen.extend(page["Events"])
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3
    assert len(seen) == 7 and len({e["EventId"] for e in seen}) == 7
    times = [e["EventTime"] for e in seen]
    assert times == sorted(times, reverse=True)

    paginated = [
        e for page in ct.get_paginator("lookup_events").paginate(
            LookupAttributes=attribute, PaginationConfig={"PageSize": 2})
        for e in page["Events"]
    ]
    assert [e["EventId"] for e in paginated] == [e["EventId"] for e in seen]

    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    assert ct.lookup_events(LookupAttributes=attribute, StartTime=future)["Events"] == []
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    assert ct.lookup_events(LookupAttributes=attribute, EndTime=past)["Events"] == []
    window = ct.lookup_events(LookupAttributes=attribute, StartTime=past, EndTime=future)["Events"]
    assert len(window) == 7


def test_lookup_errors(server):
    ct = server.client("cloudtrail")
    err = error_of(ct.lookup_events, LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "a"},
        {"AttributeKey": "Username", "AttributeValue": "b"},
    ])
    assert err["Code"] == "InvalidLookupAttributesException"
    now = datetime.datetime.now(datetime.timezone.utc)
    err = error_of(ct.lookup_events, StartTime=now, EndTime=now - datetime.timedelta(hours=1))
    assert err["Code"] == "InvalidTimeRangeException"
    err = error_of(ct.lookup_events, NextToken="not-a-token")
    assert err["Code"] == "InvalidNextTokenException"
    err = error_of(ct.lookup_events, EventCategory="insight",
                   LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "root"}])
    assert err["Code"] == "InvalidLookupAttributesException"
    assert ct.lookup_events(EventCategory="insight")["Events"] == []


# --- the aws CLI ------------------------------------------------------------------------------


def test_aws_cli(server):
    name = bucket(server)
    created = server.aws("cloudtrail", "create-trail", "--name", "cli-trail", "--s3-bucket-name", name,
                         "--is-multi-region-trail")
    assert created["TrailARN"] == TRAIL_ARN.format(region="us-east-1", name="cli-trail")
    assert created["IsMultiRegionTrail"] is True
    server.aws("cloudtrail", "start-logging", "--name", "cli-trail")
    status = server.aws("cloudtrail", "get-trail-status", "--name", "cli-trail")
    assert status["IsLogging"] is True
    described = server.aws("cloudtrail", "describe-trails", region="eu-west-1")
    assert described["trailList"][0]["HomeRegion"] == "us-east-1"

    looked = server.aws("cloudtrail", "lookup-events", "--lookup-attributes",
                        "AttributeKey=EventName,AttributeValue=CreateTrail")
    assert len(looked["Events"]) == 1
    event = looked["Events"][0]
    assert event["EventName"] == "CreateTrail"
    assert event["Username"] == "root"
    assert event["Resources"][0]["ResourceName"] == created["TrailARN"]
    record = json.loads(event["CloudTrailEvent"])
    assert record["requestParameters"] == {"name": "cli-trail", "s3BucketName": name, "isMultiRegionTrail": True}
    assert record["userAgent"].startswith("aws-cli/")

    paged = server.aws("cloudtrail", "lookup-events", "--max-items", "1",
                       "--lookup-attributes", "AttributeKey=EventSource,AttributeValue=cloudtrail.amazonaws.com")
    assert len(paged["Events"]) == 1 and paged.get("NextToken")

    failed = subprocess.run(["aws", "cloudtrail", "get-trail", "--name", "nope-trail"],
                            env=server.env, capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0
    assert "TrailNotFoundException" in failed.stderr
    assert f"Unknown trail: nope-trail for the user: {ACCOUNT_ID}" in failed.stderr
