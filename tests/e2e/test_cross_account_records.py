"""Cross-account calls end to end: AWS writes a call that acts on another account's resource to
both accounts, the caller's and the resource owner's, each copy with its own `eventID` and
`recipientAccountId` and one `sharedEventID` linking them. A member account's IAM user assumes
a role of the management account, and LookupEvents in each account finds its own copy of the
AssumeRole record. An organization trail CloudTrail's delegated administrator creates is owned
by the management account (its ARN, its bucket policy), as AWS documents."""

import json
import uuid

import boto3
import botocore.config

from conftest import ACCOUNT_ID, error_of, wait_for

REGION = "us-east-1"


def document(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def client(server, service, credentials, region=REGION):
    """A boto3 client signing with `credentials` (an IAM access key or STS credentials)."""
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials.get("SessionToken"),
        region_name=region,
    )
    config = botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
    return session.client(service, endpoint_url=server.endpoint, config=config)


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


def organization_with_member(server, name="member"):
    """An organization with all features and one member account; the member's admin session."""
    orgs = server.client("organizations")
    org = orgs.create_organization(FeatureSet="ALL")["Organization"]
    member = create_member(orgs, name)
    admin = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="admin"
    )["Credentials"]
    return org, member, admin


def records_of(lookup, access_key_id, count):
    """The records LookupEvents (`lookup`, one account's) holds of calls signed with
    `access_key_id`, oldest first, once there are at least `count`."""

    def found():
        events = lookup(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": access_key_id}])
        return events if len(events) >= count else None

    events = wait_for(f"{count} records of {access_key_id}", found, timeout=20)
    return [json.loads(event["CloudTrailEvent"]) for event in reversed(events)]


def lookup_as(server, credentials):
    """LookupEvents of the account `credentials` belong to, every page."""
    ct = client(server, "cloudtrail", credentials)

    def lookup(**kwargs):
        events, token = [], None
        while True:
            page = ct.lookup_events(**kwargs, **({"NextToken": token} if token else {}))
            events.extend(page["Events"])
            token = page.get("NextToken")
            if not token:
                return events

    return lookup


def test_cross_account_assume_role_is_recorded_in_both_accounts(server):
    org, member, admin = organization_with_member(server)
    member_iam = client(server, "iam", admin)
    target = f"arn:aws:iam::{ACCOUNT_ID}:role/from-member"
    own_role = f"arn:aws:iam::{member}:role/at-home"
    member_iam.create_user(UserName="visitor")
    member_iam.put_user_policy(
        UserName="visitor", PolicyName="assume",
        PolicyDocument=document({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": [target, own_role]}),
    )
    key = member_iam.create_access_key(UserName="visitor")["AccessKey"]
    member_iam.create_user(UserName="lonely")
    lonely_key = member_iam.create_access_key(UserName="lonely")["AccessKey"]
    trust = lambda account: document(  # noqa: E731
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
    )
    server.client("iam").create_role(RoleName="from-member", AssumeRolePolicyDocument=trust(member))
    member_iam.create_role(RoleName="at-home", AssumeRolePolicyDocument=trust(member))

    sts = client(server, "sts", key)
    sts.assume_role(RoleArn=target, RoleSessionName="visit")
    sts.assume_role(RoleArn=own_role, RoleSessionName="home")
    # A refused call acted on nothing: it is recorded in the caller's account only.
    error = error_of(client(server, "sts", lonely_key).assume_role, RoleArn=target, RoleSessionName="no")
    assert error["Code"] == "AccessDenied", error

    in_member = records_of(lookup_as(server, admin), key["AccessKeyId"], 2)
    in_management = records_of(server.lookup, key["AccessKeyId"], 1)
    assert [r["eventName"] for r in in_member] == ["AssumeRole", "AssumeRole"], in_member
    # The management account holds the cross-account call only, not the member's own one.
    assert len(in_management) == 1, in_management
    theirs = in_management[0]
    mine = [r for r in in_member if r["requestParameters"]["roleArn"] == target][0]
    at_home = [r for r in in_member if r["requestParameters"]["roleArn"] == own_role][0]

    assert mine["recipientAccountId"] == member
    assert theirs["recipientAccountId"] == ACCOUNT_ID
    assert mine["eventID"] != theirs["eventID"]
    assert mine["sharedEventID"] == theirs["sharedEventID"]
    assert mine["sharedEventID"] not in (mine["eventID"], theirs["eventID"])
    assert mine["requestID"] == theirs["requestID"]
    for record in (mine, theirs):
        assert record["eventName"] == "AssumeRole"
        assert record["userIdentity"]["type"] == "IAMUser"
        assert record["userIdentity"]["accountId"] == member
        assert record["userIdentity"]["arn"] == f"arn:aws:iam::{member}:user/visitor"
        assert record["resources"] == [{"accountId": ACCOUNT_ID, "type": "AWS::IAM::Role", "ARN": target}]
    assert "sharedEventID" not in at_home, at_home

    # The management account's LookupEvents finds its copy by its own eventID too.
    by_id = server.lookup(LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": theirs["eventID"]}])
    assert len(by_id) == 1, by_id
    assert server.lookup(LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": mine["eventID"]}]) == []

    refused = records_of(lookup_as(server, admin), lonely_key["AccessKeyId"], 1)
    assert refused[0]["errorCode"] == "AccessDenied"
    assert "sharedEventID" not in refused[0]
    assert server.lookup(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": lonely_key["AccessKeyId"]}]
    ) == []


def organization_bucket_policy(bucket, org_id, trail_arn, account_id):
    """The bucket policy AWS documents for an organization trail of `account_id`."""
    source = {"aws:SourceArn": trail_arn}
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl", "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringEquals": source},
            },
            {
                "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{account_id}/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **source}},
            },
            {
                "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{org_id}/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **source}},
            },
        ],
    })


def test_an_organization_trail_of_the_delegated_admin_is_the_management_accounts(server):
    org, member, admin = organization_with_member(server, "security")
    server.aws("organizations", "enable-aws-service-access", "--service-principal", "cloudtrail.amazonaws.com")
    server.client("cloudtrail").register_organization_delegated_admin(MemberAccountId=member)
    name = "delegated-org-trail"
    management_arn = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT_ID}:trail/{name}"
    member_arn = f"arn:aws:cloudtrail:{REGION}:{member}:trail/{name}"
    s3 = server.client("s3")
    delegated = client(server, "cloudtrail", admin)

    # A bucket policy written for a trail of the delegated admin's own account does not let
    # CloudTrail deliver the management account's trail.
    wrong = f"wrong-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=wrong)
    s3.put_bucket_policy(Bucket=wrong, Policy=organization_bucket_policy(wrong, org["Id"], member_arn, member))
    error = error_of(delegated.create_trail, Name=name, S3BucketName=wrong, IsOrganizationTrail=True)
    assert error["Code"] == "InsufficientS3BucketPolicyException", error

    bucket = f"org-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=organization_bucket_policy(bucket, org["Id"], management_arn, ACCOUNT_ID))
    created = delegated.create_trail(Name=name, S3BucketName=bucket, IsOrganizationTrail=True)
    assert created["TrailARN"] == management_arn, created
    assert created["IsOrganizationTrail"] is True

    # The management account owns it; the delegated admin sees it, by name and by ARN.
    own = server.client("cloudtrail").describe_trails(trailNameList=[name])["trailList"]
    assert [t["TrailARN"] for t in own] == [management_arn], own
    assert delegated.get_trail(Name=management_arn)["Trail"]["TrailARN"] == management_arn
    assert delegated.get_trail(Name=name)["Trail"]["TrailARN"] == management_arn
    listed = delegated.list_trails()["Trails"]
    assert [t["TrailARN"] for t in listed] == [management_arn], listed
    # Its name is now taken in the management account.
    error = error_of(server.client("cloudtrail").create_trail, Name=name, S3BucketName=bucket)
    assert error["Code"] == "TrailAlreadyExistsException", error

    # The CreateTrail is recorded in the delegated administrator's account, where it was made.
    def created_in(lookup):
        events = lookup(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateTrail"}])
        ok = [json.loads(e["CloudTrailEvent"]) for e in events]
        ok = [r for r in ok if "errorCode" not in r]
        return ok or None

    in_member = wait_for("CreateTrail in the member", lambda: created_in(lookup_as(server, admin)), timeout=20)
    assert in_member[0]["recipientAccountId"] == member
    assert in_member[0]["responseElements"]["trailARN"] == management_arn, in_member[0]

    # The delegated administrator changes and deletes it as its own.
    delegated.start_logging(Name=management_arn)
    assert server.client("cloudtrail").get_trail_status(Name=name)["IsLogging"] is True
    updated = delegated.update_trail(Name=management_arn, EnableLogFileValidation=True)
    assert updated["LogFileValidationEnabled"] is True, updated
    assert server.client("cloudtrail").get_trail(Name=name)["Trail"]["LogFileValidationEnabled"] is True
    delegated.delete_trail(Name=management_arn)
    assert server.client("cloudtrail").describe_trails(trailNameList=[name])["trailList"] == []
