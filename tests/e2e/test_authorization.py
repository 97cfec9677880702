"""Authorization on every call, end to end through boto3 and the real `aws` CLI: IAM users
with narrow policies are allowed one call and denied the next with each protocol's error code
and AWS's message; both calls are recorded (the denied one with errorCode AccessDenied and no
requestParameters); explicit denies, conditions, permissions boundaries, group policies,
policy changes, inactive and deleted keys; STS role sessions (same-account and cross-account
through an organization's member account), session policies, wrong session tokens; and a
service control policy denying a member account's admin role session."""

import json
import re
import subprocess
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import ACCOUNT_ID, error_of, wait_for

REGION = "us-east-1"


def document(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


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


def make_user(iam, name, *statements, boundary=None):
    """A user with an inline policy of `statements` (if any) and one access key."""
    args = {"UserName": name}
    if boundary:
        args["PermissionsBoundary"] = boundary
    user = iam.create_user(**args)["User"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="narrow", PolicyDocument=document(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return user, key


def denied_message(arn, action, resource=None, why="because no identity-based policy allows the {action} action"):
    on = f" on resource: {resource}" if resource else ""
    return f"User: {arn} is not authorized to perform: {action}{on} " + why.format(action=action)


def assert_denied(call, code, **kwargs):
    """The message of the refusal `call(**kwargs)` must meet: `code`, with AWS's status (400
    for an awsJson service's AccessDeniedException, else 403)."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    response = info.value.response
    assert response["Error"]["Code"] == code, response
    status = 400 if code == "AccessDeniedException" else 403
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status, response
    return response["Error"]["Message"]


def records_by_key(server, access_key_id, count, region=REGION, lookup=None):
    """The records of calls signed with `access_key_id`, oldest first, once there are `count`."""
    lookup = lookup or server.lookup

    def found():
        events = lookup(
            region=region,
            LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": access_key_id}],
        )
        return events if len(events) >= count else None

    events = wait_for(f"{count} records of {access_key_id}", found, timeout=20)
    return [json.loads(event["CloudTrailEvent"]) for event in reversed(events)]


# ---------------------------------------------------------------------------------------------
# IAM users with narrow policies, per protocol


def test_cloudtrail_json_allowed_then_denied_and_both_recorded(server):
    iam = server.client("iam")
    user, key = make_user(iam, "reader", allow("cloudtrail:DescribeTrails"))
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", user["UserId"]), user["UserId"]
    ct = client(server, "cloudtrail", key)
    assert ct.describe_trails()["trailList"] == []

    message = assert_denied(ct.get_trail_status, "AccessDeniedException", Name="anything")
    assert message.startswith(f"User: {user['Arn']} is not authorized to perform: cloudtrail:GetTrailStatus"), message
    assert message.endswith("because no identity-based policy allows the cloudtrail:GetTrailStatus action"), message

    allowed, refused = records_by_key(server, key["AccessKeyId"], 2)
    assert allowed["eventName"] == "DescribeTrails"
    assert refused["eventName"] == "GetTrailStatus"
    for record in (allowed, refused):
        assert record["userIdentity"] == {
            "type": "IAMUser",
            "principalId": user["UserId"],
            "arn": user["Arn"],
            "accountId": ACCOUNT_ID,
            "accessKeyId": key["AccessKeyId"],
            "userName": "reader",
        }, record["userIdentity"]
        assert record["recipientAccountId"] == ACCOUNT_ID
    assert "errorCode" not in allowed
    assert refused["errorCode"] == "AccessDenied"
    assert refused["errorMessage"] == message
    assert refused["requestParameters"] is None
    assert refused.get("responseElements") is None

    # The aws CLI sees the same refusal.
    env = server.env
    env.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    cli = subprocess.run(
        ["aws", "cloudtrail", "get-trail-status", "--name", "anything"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert cli.returncode != 0, cli.stderr
    assert "AccessDeniedException" in cli.stderr and "cloudtrail:GetTrailStatus" in cli.stderr, cli.stderr
    cli = subprocess.run(
        ["aws", "cloudtrail", "describe-trails"], env=env, capture_output=True, text=True, timeout=60
    )
    assert cli.returncode == 0, cli.stderr


def test_sqs_one_queue_only(server):
    sqs = server.client("sqs")
    mine = sqs.create_queue(QueueName="mine")["QueueUrl"]
    other = sqs.create_queue(QueueName="other")["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:mine"
    other_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:other"
    user, key = make_user(
        server.client("iam"), "sender", allow(["sqs:SendMessage", "sqs:GetQueueAttributes"], arn)
    )
    as_user = client(server, "sqs", key)
    assert as_user.send_message(QueueUrl=mine, MessageBody="hello")["MessageId"]
    message = assert_denied(as_user.send_message, "AccessDenied", QueueUrl=other, MessageBody="no")
    assert message == denied_message(user["Arn"], "sqs:SendMessage", other_arn), message
    # SQS speaks JSON and carries its query code in x-amzn-query-error, as AWS's does.
    with pytest.raises(botocore.exceptions.ClientError) as info:
        as_user.send_message(QueueUrl=other, MessageBody="no")
    headers = info.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("x-amzn-query-error") == "AccessDenied;Sender", headers
    message = assert_denied(as_user.receive_message, "AccessDenied", QueueUrl=mine)
    assert message == denied_message(user["Arn"], "sqs:ReceiveMessage", arn), message

    # Management events (LookupEvents shows those; SendMessage is a data event).
    as_user.get_queue_attributes(QueueUrl=mine, AttributeNames=["All"])
    message = assert_denied(as_user.get_queue_attributes, "AccessDenied", QueueUrl=other, AttributeNames=["All"])
    assert message == denied_message(user["Arn"], "sqs:GetQueueAttributes", other_arn), message
    message = assert_denied(as_user.create_queue, "AccessDenied", QueueName="third")
    assert message.startswith(f"User: {user['Arn']} is not authorized to perform: sqs:CreateQueue"), message

    records = records_by_key(server, key["AccessKeyId"], 3)
    assert [r["eventName"] for r in records] == ["GetQueueAttributes", "GetQueueAttributes", "CreateQueue"]
    assert [r.get("errorCode") for r in records] == [None, "AccessDenied", "AccessDenied"]
    assert records[0]["requestParameters"]["queueUrl"] == mine
    assert all(r["requestParameters"] is None for r in records[1:])
    assert records[1]["errorMessage"] == denied_message(user["Arn"], "sqs:GetQueueAttributes", other_arn)
    assert all(r["userIdentity"]["type"] == "IAMUser" for r in records)


def test_sns_s3_and_iam_denials(server):
    sns = server.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    s3 = server.client("s3")
    s3.create_bucket(Bucket="narrow-bucket")
    user, key = make_user(
        server.client("iam"), "narrow",
        allow("sns:ListTopics"), allow("s3:ListAllMyBuckets"), allow("iam:GetUser"),
    )
    as_sns = client(server, "sns", key)
    assert topic in [t["TopicArn"] for t in as_sns.list_topics()["Topics"]]
    # (AWS spells SNS's actions "SNS:Publish" in the message: see the test below.)
    message = assert_denied(as_sns.publish, "AuthorizationError", TopicArn=topic, Message="x")
    assert message.lower() == denied_message(user["Arn"], "sns:Publish", topic).lower(), message
    message = assert_denied(as_sns.get_topic_attributes, "AuthorizationError", TopicArn=topic)
    assert message.lower() == denied_message(user["Arn"], "sns:GetTopicAttributes", topic).lower(), message

    as_s3 = client(server, "s3", key)
    assert "narrow-bucket" in [b["Name"] for b in as_s3.list_buckets()["Buckets"]]
    error = error_of(as_s3.put_object, Bucket="narrow-bucket", Key="k", Body=b"x")
    assert error["Code"] == "AccessDenied", error
    assert error["Message"].startswith(f"User: {user['Arn']} is not authorized to perform: s3:PutObject"), error
    error = error_of(as_s3.get_bucket_tagging, Bucket="narrow-bucket")
    assert error["Code"] == "AccessDenied", error
    assert error["Message"] == denied_message(
        user["Arn"], "s3:GetBucketTagging", '"arn:aws:s3:::narrow-bucket"'
    ), error

    as_iam = client(server, "iam", key)
    assert as_iam.get_user()["User"]["Arn"] == user["Arn"]
    message = assert_denied(as_iam.list_users, "AccessDenied")
    assert message.startswith(f"User: {user['Arn']} is not authorized to perform: iam:ListUsers"), message

    records = records_by_key(server, key["AccessKeyId"], 6)
    by_name = {r["eventName"]: r for r in records}
    assert set(by_name) == {"ListTopics", "GetTopicAttributes", "ListBuckets", "GetBucketTagging", "GetUser", "ListUsers"}, by_name.keys()
    for name in ("GetTopicAttributes", "GetBucketTagging", "ListUsers"):
        assert by_name[name]["errorCode"] == "AccessDenied", by_name[name]
        assert by_name[name]["userIdentity"]["userName"] == "narrow"
    assert by_name["GetTopicAttributes"]["requestParameters"] is None
    assert by_name["ListUsers"]["requestParameters"] is None
    # S3 records a refused call's request as AWS does (bucket name and host).
    assert by_name["GetBucketTagging"]["requestParameters"]["bucketName"] == "narrow-bucket"
    for name in ("ListTopics", "ListBuckets", "GetUser"):
        assert "errorCode" not in by_name[name], by_name[name]


def test_sns_denial_message_spells_the_action_as_aws_does(server):
    topic = server.client("sns").create_topic(Name="spelled")["TopicArn"]
    user, key = make_user(server.client("iam"), "speller")
    message = assert_denied(client(server, "sns", key).publish, "AuthorizationError", TopicArn=topic, Message="x")
    assert message == denied_message(user["Arn"], "SNS:Publish", topic), message


def test_trail_resource_level_permissions(server):
    user, key = make_user(
        server.client("iam"), "trail-reader",
        allow("cloudtrail:GetTrailStatus", f"arn:aws:cloudtrail:{REGION}:{ACCOUNT_ID}:trail/mine"),
    )
    ct = client(server, "cloudtrail", key)
    # Allowed by name on its own trail's ARN (the trail need not exist to be authorized)...
    assert error_of(ct.get_trail_status, Name="mine")["Code"] == "TrailNotFoundException"
    # ... and refused on another trail, naming its ARN.
    message = assert_denied(ct.get_trail_status, "AccessDeniedException", Name="other")
    assert message == denied_message(
        user["Arn"], "cloudtrail:GetTrailStatus", f"arn:aws:cloudtrail:{REGION}:{ACCOUNT_ID}:trail/other"
    ), message


def test_s3_denial_message_quotes_the_resource(server):
    server.client("s3").create_bucket(Bucket="quoted-bucket")
    user, key = make_user(server.client("iam"), "quoter")
    error = error_of(client(server, "s3", key).put_object, Bucket="quoted-bucket", Key="k", Body=b"x")
    assert error["Message"] == (
        f'User: {user["Arn"]} is not authorized to perform: s3:PutObject on resource: '
        '"arn:aws:s3:::quoted-bucket/k" because no identity-based policy allows the s3:PutObject action'
    ), error


# ---------------------------------------------------------------------------------------------
# Policy evaluation


def test_explicit_deny_beats_allow_and_conditions(server):
    iam = server.client("iam")
    user, key = make_user(
        iam, "conditioned",
        allow("cloudtrail:*"),
        deny("cloudtrail:DeleteTrail"),
        deny("cloudtrail:ListTrails", Condition={"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}),
        deny("cloudtrail:ListPublicKeys", Condition={"NotIpAddress": {"aws:SourceIp": "10.99.0.0/16"}}),
    )
    ct = client(server, "cloudtrail", key)
    ct.describe_trails()
    message = assert_denied(ct.delete_trail, "AccessDeniedException", Name="t")
    assert message.endswith("with an explicit deny in an identity-based policy"), message
    assert message.startswith(f"User: {user['Arn']} is not authorized to perform: cloudtrail:DeleteTrail"), message

    # aws:RequestedRegion: denied outside eu-west-1, allowed in it.
    assert_denied(ct.list_trails, "AccessDeniedException")
    client(server, "cloudtrail", key, region="eu-west-1").list_trails()

    # aws:SourceIp: the test calls from 127.0.0.1, outside 10.99.0.0/16.
    message = assert_denied(ct.list_public_keys, "AccessDeniedException")
    assert message.endswith("with an explicit deny in an identity-based policy"), message
    iam.put_user_policy(
        UserName="conditioned", PolicyName="narrow",
        PolicyDocument=document(
            allow("cloudtrail:*"),
            deny("cloudtrail:ListPublicKeys", Condition={"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}),
        ),
    )
    ct.list_public_keys()  # the change takes effect on the next call
    ct.list_trails()


def test_permissions_boundary_narrows_an_admin(server):
    iam = server.client("iam")
    boundary = iam.create_policy(
        PolicyName="only-sqs", PolicyDocument=document(allow("sqs:*"))
    )["Policy"]["Arn"]
    user, key = make_user(iam, "bounded", boundary=boundary)
    iam.attach_user_policy(UserName="bounded", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    client(server, "sqs", key).create_queue(QueueName="bounded-queue")
    message = assert_denied(client(server, "cloudtrail", key).describe_trails, "AccessDeniedException")
    assert message.startswith(f"User: {user['Arn']} is not authorized to perform: cloudtrail:DescribeTrails"), message
    assert message.endswith("because no permissions boundary allows the cloudtrail:DescribeTrails action"), message
    # Removing the boundary gives the admin back everything.
    iam.delete_user_permissions_boundary(UserName="bounded")
    client(server, "cloudtrail", key).describe_trails()


def test_group_policy_and_changes_take_effect_on_the_next_call(server):
    iam = server.client("iam")
    user, key = make_user(iam, "member")
    ct = client(server, "cloudtrail", key)
    assert_denied(ct.describe_trails, "AccessDeniedException")
    iam.create_group(GroupName="auditors")
    iam.put_group_policy(GroupName="auditors", PolicyName="read", PolicyDocument=document(allow("cloudtrail:Describe*")))
    assert_denied(ct.describe_trails, "AccessDeniedException")  # not a member yet
    iam.add_user_to_group(GroupName="auditors", UserName="member")
    ct.describe_trails()
    iam.remove_user_from_group(GroupName="auditors", UserName="member")
    assert_denied(ct.describe_trails, "AccessDeniedException")

    # A managed policy attached, then detached.
    managed = iam.create_policy(PolicyName="ct-read", PolicyDocument=document(allow("cloudtrail:DescribeTrails")))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="member", PolicyArn=managed)
    ct.describe_trails()
    # A new default version narrowing it.
    iam.create_policy_version(
        PolicyArn=managed, PolicyDocument=document(allow("cloudtrail:ListTrails")), SetAsDefault=True
    )
    assert_denied(ct.describe_trails, "AccessDeniedException")
    ct.list_trails()
    iam.detach_user_policy(UserName="member", PolicyArn=managed)
    assert_denied(ct.list_trails, "AccessDeniedException")


def test_inactive_and_deleted_keys_are_refused(server):
    iam = server.client("iam")
    user, key = make_user(iam, "temporary", allow("sqs:*"), allow("cloudtrail:*"))
    sqs = client(server, "sqs", key)
    ct = client(server, "cloudtrail", key)
    sqs.list_queues()
    iam.update_access_key(UserName="temporary", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    error = error_of(sqs.list_queues)
    # SQS speaks JSON (awsQueryCompatible): the query code when the header carries it.
    assert error["Code"] in ("InvalidClientTokenId", "UnrecognizedClientException"), error
    assert error["Message"] == "The security token included in the request is invalid.", error
    assert error_of(ct.describe_trails)["Code"] == "UnrecognizedClientException"
    iam.update_access_key(UserName="temporary", AccessKeyId=key["AccessKeyId"], Status="Active")
    ct.describe_trails()

    iam.delete_user_policy(UserName="temporary", PolicyName="narrow")
    iam.delete_access_key(UserName="temporary", AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName="temporary")
    assert error_of(ct.describe_trails)["Code"] == "UnrecognizedClientException"
    error = error_of(client(server, "sts", key).get_caller_identity)
    assert error["Code"] == "InvalidClientTokenId", error
    assert error["Message"] == "The security token included in the request is invalid.", error


# ---------------------------------------------------------------------------------------------
# STS: same-account role sessions


def trust(principal):
    return document({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"})


def test_assume_role_session_recorded_as_assumed_role(server):
    iam = server.client("iam")
    user, key = make_user(iam, "assumer", allow("sts:AssumeRole"))
    role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=trust(user["Arn"]))["Role"]
    iam.put_role_policy(RoleName="reader", PolicyName="read", PolicyDocument=document(allow("cloudtrail:DescribeTrails")))
    # A role whose trust policy does not name the user.
    iam.create_role(RoleName="stranger", AssumeRolePolicyDocument=trust("arn:aws:iam::111122223333:root"))

    sts = client(server, "sts", key)
    assert sts.get_caller_identity()["Arn"] == user["Arn"]
    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="audit")
    credentials = out["Credentials"]
    session_arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/reader/audit"
    assert out["AssumedRoleUser"]["Arn"] == session_arn
    error = error_of(sts.assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/stranger", RoleSessionName="xx")
    assert error["Code"] == "AccessDenied", error
    assert error["Message"] == (
        f"User: {user['Arn']} is not authorized to perform: sts:AssumeRole on resource: "
        f"arn:aws:iam::{ACCOUNT_ID}:role/stranger"
    ), error

    # The session needs no permission for GetCallerIdentity, and has only its role's.
    session_sts = client(server, "sts", credentials)
    me = session_sts.get_caller_identity()
    me.pop("ResponseMetadata")
    assert me == {"Arn": session_arn, "Account": ACCOUNT_ID, "UserId": f"{role['RoleId']}:audit"}
    ct = client(server, "cloudtrail", credentials)
    ct.describe_trails()
    message = assert_denied(ct.list_trails, "AccessDeniedException")
    assert message == denied_message(session_arn, "cloudtrail:ListTrails", message.split(" on resource: ")[1].split(" ")[0]), message

    records = records_by_key(server, credentials["AccessKeyId"], 3)
    assert [r["eventName"] for r in records] == ["GetCallerIdentity", "DescribeTrails", "ListTrails"]
    # A change to the role's policy reaches its live session on the next call.
    iam.put_role_policy(RoleName="reader", PolicyName="read", PolicyDocument=document(allow("cloudtrail:ListTrails")))
    ct.list_trails()
    assert_denied(ct.describe_trails, "AccessDeniedException")
    identity = records[1]["userIdentity"]
    assert identity["type"] == "AssumedRole"
    assert identity["principalId"] == f"{role['RoleId']}:audit"
    assert identity["arn"] == session_arn
    assert identity["accountId"] == ACCOUNT_ID
    assert identity["accessKeyId"] == credentials["AccessKeyId"]
    context = identity["sessionContext"]
    assert context["sessionIssuer"] == {
        "type": "Role",
        "principalId": role["RoleId"],
        "arn": role["Arn"],
        "accountId": ACCOUNT_ID,
        "userName": "reader",
    }
    assert context["attributes"]["mfaAuthenticated"] == "false"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", context["attributes"]["creationDate"])
    assert records[2]["errorCode"] == "AccessDenied" and records[2]["requestParameters"] is None

    # The AssumeRole calls themselves are the user's.
    assumes = records_by_key(server, key["AccessKeyId"], 3)
    assert [r["eventName"] for r in assumes] == ["GetCallerIdentity", "AssumeRole", "AssumeRole"]
    assert assumes[1]["userIdentity"]["type"] == "IAMUser"
    assert assumes[2]["errorCode"] == "AccessDenied"


def test_session_tokens_and_session_policies(server):
    iam = server.client("iam")
    role = iam.create_role(RoleName="wide", AssumeRolePolicyDocument=trust(ACCOUNT_ID))["Role"]
    iam.attach_role_policy(RoleName="wide", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    sts = server.client("sts")
    credentials = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="wide")["Credentials"]
    client(server, "sqs", credentials).list_queues()

    # Missing session token: the temporary key alone is not recognized.
    bare = {k: v for k, v in credentials.items() if k != "SessionToken"}
    assert error_of(client(server, "sqs", bare).list_queues)["Code"] in (
        "InvalidClientTokenId", "UnrecognizedClientException",
    )
    assert error_of(client(server, "cloudtrail", bare).describe_trails)["Code"] == "UnrecognizedClientException"
    assert error_of(client(server, "sts", bare).get_caller_identity)["Code"] == "InvalidClientTokenId"
    # A wrong one: AWS answers that the token is invalid.
    wrong = {**credentials, "SessionToken": credentials["SessionToken"][:-8] + "AAAAAAAA"}
    assert error_of(client(server, "sts", wrong).get_caller_identity)["Code"] in (
        "InvalidClientTokenId", "InvalidToken",
    )
    assert error_of(client(server, "cloudtrail", wrong).describe_trails)["Code"] in (
        "UnrecognizedClientException", "InvalidClientTokenId",
    )

    # A session policy narrows the admin role to SQS reads.
    narrowed = sts.assume_role(
        RoleArn=role["Arn"], RoleSessionName="narrow",
        Policy=document(allow(["sqs:ListQueues", "sqs:GetQueueUrl"])),
    )["Credentials"]
    client(server, "sqs", narrowed).list_queues()
    session_arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/wide/narrow"
    message = assert_denied(client(server, "sqs", narrowed).create_queue, "AccessDenied", QueueName="q")
    assert message.startswith(f"User: {session_arn} is not authorized to perform: sqs:CreateQueue"), message
    assert message.endswith("because no session policy allows the sqs:CreateQueue action"), message
    # A managed session policy (PolicyArns) too.
    managed = iam.create_policy(PolicyName="ct-only", PolicyDocument=document(allow("cloudtrail:DescribeTrails")))["Policy"]["Arn"]
    by_arn = sts.assume_role(
        RoleArn=role["Arn"], RoleSessionName="arns", PolicyArns=[{"arn": managed}]
    )["Credentials"]
    client(server, "cloudtrail", by_arn).describe_trails()
    assert_denied(client(server, "sqs", by_arn).list_queues, "AccessDenied")
    # GetCallerIdentity needs no permission, even from the narrowest session.
    assert client(server, "sts", by_arn).get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/wide/arns"


def test_get_caller_identity_needs_no_permission(server):
    iam = server.client("iam")
    user, key = make_user(iam, "nobody", deny("*"))
    me = client(server, "sts", key).get_caller_identity()
    me.pop("ResponseMetadata")
    assert me == {"Arn": user["Arn"], "UserId": user["UserId"], "Account": ACCOUNT_ID}
    assert_denied(client(server, "sqs", key).list_queues, "AccessDenied")


# ---------------------------------------------------------------------------------------------
# Organizations: cross-account role sessions and service control policies


def organization_with_member(server, name="member"):
    """An organization with all features and one member account; the member's admin session."""
    orgs = server.client("organizations")
    org = orgs.create_organization(FeatureSet="ALL")["Organization"]
    status = orgs.create_account(Email=f"{name}-{uuid.uuid4().hex[:6]}@example.com", AccountName=name)[
        "CreateAccountStatus"
    ]

    def done():
        state = orgs.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
        return state if state["State"] != "IN_PROGRESS" else None

    status = wait_for("the member account", done, timeout=30)
    assert status["State"] == "SUCCEEDED", status
    member = status["AccountId"]
    admin = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="admin"
    )["Credentials"]
    return org, member, admin


def test_cross_account_assume_role_from_a_member_user(server):
    org, member, admin = organization_with_member(server)
    assert client(server, "sts", admin).get_caller_identity()["Account"] == member

    member_iam = client(server, "iam", admin)
    target = f"arn:aws:iam::{ACCOUNT_ID}:role/from-member"
    user, key = make_user(member_iam, "visitor", allow("sts:AssumeRole", target))
    assert user["Arn"] == f"arn:aws:iam::{member}:user/visitor"
    lonely, lonely_key = make_user(member_iam, "lonely")

    iam = server.client("iam")
    role = iam.create_role(RoleName="from-member", AssumeRolePolicyDocument=trust(member))["Role"]
    iam.put_role_policy(RoleName="from-member", PolicyName="read", PolicyDocument=document(allow("cloudtrail:DescribeTrails")))

    out = client(server, "sts", key).assume_role(RoleArn=target, RoleSessionName="visit")
    credentials = out["Credentials"]
    session_arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/from-member/visit"
    assert out["AssumedRoleUser"]["Arn"] == session_arn
    assert client(server, "sts", credentials).get_caller_identity()["Account"] == ACCOUNT_ID
    client(server, "cloudtrail", credentials).describe_trails()

    records = records_by_key(server, credentials["AccessKeyId"], 2)
    described = [r for r in records if r["eventName"] == "DescribeTrails"][0]
    assert described["recipientAccountId"] == ACCOUNT_ID
    assert described["userIdentity"]["type"] == "AssumedRole"
    assert described["userIdentity"]["accountId"] == ACCOUNT_ID
    assert described["userIdentity"]["arn"] == session_arn
    assert described["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] == role["Arn"]

    # Without an identity-policy allow in the member account, the trust policy is not enough.
    error = error_of(client(server, "sts", lonely_key).assume_role, RoleArn=target, RoleSessionName="no")
    assert error["Code"] == "AccessDenied", error
    assert error["Message"].startswith(
        f"User: {lonely['Arn']} is not authorized to perform: sts:AssumeRole on resource: {target}"
    ), error

    # The member's user's AssumeRole is recorded in the member account (as AWS does for the
    # caller's account) — look it up there with the member's admin session.
    def member_lookup(region=REGION, **kwargs):
        return client(server, "cloudtrail", admin, region=region).lookup_events(**kwargs)["Events"]

    member_records = records_by_key(server, key["AccessKeyId"], 1, lookup=member_lookup)
    assert member_records[0]["eventName"] == "AssumeRole"
    assert member_records[0]["userIdentity"]["arn"] == user["Arn"]


def test_scp_denies_even_the_member_admin_session(server):
    org, member, admin = organization_with_member(server, "governed")
    orgs = server.client("organizations")
    root = orgs.list_roots()["Roots"][0]
    orgs.enable_policy_type(RootId=root["Id"], PolicyType="SERVICE_CONTROL_POLICY")
    client(server, "sqs", admin).create_queue(QueueName="before-scp")
    policy = orgs.create_policy(
        Name="no-queues", Description="", Type="SERVICE_CONTROL_POLICY",
        Content=document(deny("sqs:CreateQueue")),
    )["Policy"]["PolicySummary"]
    orgs.attach_policy(PolicyId=policy["Id"], TargetId=member)

    session_arn = f"arn:aws:sts::{member}:assumed-role/OrganizationAccountAccessRole/admin"
    message = assert_denied(client(server, "sqs", admin).create_queue, "AccessDenied", QueueName="after-scp")
    assert message.startswith(f"User: {session_arn} is not authorized to perform: sqs:CreateQueue"), message
    assert message.endswith("with an explicit deny in a service control policy"), message
    client(server, "sqs", admin).list_queues()
    # ... and to the member's IAM users, whatever their own policies allow.
    user, key = make_user(client(server, "iam", admin), "member-admin", allow("*"))
    message = assert_denied(client(server, "sqs", key).create_queue, "AccessDenied", QueueName="by-user")
    assert message == denied_message(
        user["Arn"], "sqs:CreateQueue", f"arn:aws:sqs:{REGION}:{member}:by-user",
        why="with an explicit deny in a service control policy",
    ), message
    # The management account is not governed by SCPs.
    server.client("sqs").create_queue(QueueName="management-queue")

    orgs.detach_policy(PolicyId=policy["Id"], TargetId=member)
    client(server, "sqs", admin).create_queue(QueueName="after-detach")


# ---------------------------------------------------------------------------------------------
# Resource policies, policy variables, more SCPs


def test_resource_policies_grant_and_deny(server):
    iam = server.client("iam")
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="shared")["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:shared"
    user, key = make_user(iam, "guest")  # no identity policy at all
    admin, admin_key = make_user(iam, "boss")
    iam.attach_user_policy(UserName="boss", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    as_guest = client(server, "sqs", key)
    assert_denied(as_guest.get_queue_attributes, "AccessDenied", QueueUrl=url, AttributeNames=["All"])

    # Same account: a queue policy naming the user is enough.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document(
        {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sqs:GetQueueAttributes", "Resource": arn},
        {"Effect": "Deny", "Principal": {"AWS": admin["Arn"]}, "Action": "sqs:SendMessage", "Resource": arn},
    )})
    as_guest.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert_denied(as_guest.send_message, "AccessDenied", QueueUrl=url, MessageBody="x")
    # An explicit deny in the queue policy beats the admin's allow.
    message = assert_denied(client(server, "sqs", admin_key).send_message, "AccessDenied", QueueUrl=url, MessageBody="x")
    assert message == (
        f"User: {admin['Arn']} is not authorized to perform: sqs:SendMessage on resource: {arn} "
        "with an explicit deny in a resource-based policy"
    ), message
    client(server, "sqs", admin_key).get_queue_attributes(QueueUrl=url, AttributeNames=["All"])

    # S3: a bucket policy granting the guest reads of one prefix.
    s3 = server.client("s3")
    s3.create_bucket(Bucket="guest-bucket")
    s3.put_object(Bucket="guest-bucket", Key="public/a.txt", Body=b"a")
    s3.put_object(Bucket="guest-bucket", Key="private/b.txt", Body=b"b")
    s3.put_bucket_policy(Bucket="guest-bucket", Policy=document({
        "Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::guest-bucket/public/*",
    }))
    as_s3 = client(server, "s3", key)
    assert as_s3.get_object(Bucket="guest-bucket", Key="public/a.txt")["Body"].read() == b"a"
    assert error_of(as_s3.get_object, Bucket="guest-bucket", Key="private/b.txt")["Code"] == "AccessDenied"

    # SNS: a topic policy granting the guest Publish.
    sns = server.client("sns")
    topic = sns.create_topic(Name="open")["TopicArn"]
    assert_denied(client(server, "sns", key).publish, "AuthorizationError", TopicArn=topic, Message="x")
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=document({
        "Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sns:Publish", "Resource": topic,
    }))
    client(server, "sns", key).publish(TopicArn=topic, Message="x")


def test_policy_variables(server):
    iam = server.client("iam")
    sqs = server.client("sqs")
    queues = {name: sqs.create_queue(QueueName=f"{name}-work")["QueueUrl"] for name in ("alice", "bob")}
    policy = allow("sqs:GetQueueAttributes", f"arn:aws:sqs:*:{ACCOUNT_ID}:${{aws:username}}-*")
    alice, alice_key = make_user(iam, "alice", policy)
    make_user(iam, "bob", policy)
    as_alice = client(server, "sqs", alice_key)
    as_alice.get_queue_attributes(QueueUrl=queues["alice"], AttributeNames=["All"])
    message = assert_denied(as_alice.get_queue_attributes, "AccessDenied", QueueUrl=queues["bob"], AttributeNames=["All"])
    assert message == denied_message(alice["Arn"], "sqs:GetQueueAttributes", f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:bob-work"), message


def test_iam_user_operations_act_on_the_user_arn(server):
    iam = server.client("iam")
    policy = allow(["iam:GetUser", "iam:ListAccessKeys"], f"arn:aws:iam::{ACCOUNT_ID}:user/${{aws:username}}")
    alice, alice_key = make_user(iam, "alice", policy)
    make_user(iam, "bob", policy)
    as_alice = client(server, "iam", alice_key)
    assert as_alice.get_user(UserName="alice")["User"]["Arn"] == alice["Arn"]
    message = assert_denied(as_alice.list_access_keys, "AccessDenied", UserName="bob")
    assert message == denied_message(alice["Arn"], "iam:ListAccessKeys", f"arn:aws:iam::{ACCOUNT_ID}:user/bob"), message


def test_scp_allow_list_and_denied_record_in_the_member_account(server):
    org, member, admin = organization_with_member(server, "allowlisted")
    orgs = server.client("organizations")
    root = orgs.list_roots()["Roots"][0]
    orgs.enable_policy_type(RootId=root["Id"], PolicyType="SERVICE_CONTROL_POLICY")
    only_sqs = orgs.create_policy(
        Name="only-sqs-and-ct", Description="", Type="SERVICE_CONTROL_POLICY",
        Content=document(allow(["sqs:*", "cloudtrail:*", "sts:*"])),
    )["Policy"]["PolicySummary"]
    orgs.attach_policy(PolicyId=only_sqs["Id"], TargetId=member)
    # FullAWSAccess stays on the root but the account's own level must allow too: detach it
    # from the account so only the allow-list applies there.
    orgs.detach_policy(PolicyId="p-FullAWSAccess", TargetId=member)
    client(server, "sqs", admin).list_queues()
    session_arn = f"arn:aws:sts::{member}:assumed-role/OrganizationAccountAccessRole/admin"
    message = assert_denied(client(server, "sns", admin).list_topics, "AuthorizationError")
    assert message.startswith(f"User: {session_arn} is not authorized to perform: SNS:ListTopics"), message
    assert message.endswith("because no service control policy allows the SNS:ListTopics action"), message

    # The member's refused call is recorded in the member's own history.
    def member_lookup(region=REGION, **kwargs):
        return client(server, "cloudtrail", admin, region=region).lookup_events(**kwargs)["Events"]

    records = records_by_key(server, admin["AccessKeyId"], 2, lookup=member_lookup)
    refused = [r for r in records if r["eventName"] == "ListTopics"]
    assert refused and refused[0]["errorCode"] == "AccessDenied", records
    assert refused[0]["recipientAccountId"] == member
    assert refused[0]["userIdentity"]["accountId"] == member
    # ... and not in the management account's.
    assert server.lookup(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": admin["AccessKeyId"]}]
    ) == []


def test_cross_account_resource_policy_needs_both_sides(server):
    org, member, admin = organization_with_member(server, "neighbour")
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:inbox"
    member_iam = client(server, "iam", admin)
    writer, writer_key = make_user(member_iam, "writer", allow("sqs:SendMessage", arn))
    reader, reader_key = make_user(member_iam, "reader")
    # No queue policy: the member's identity-policy allow is not enough across accounts.
    message = assert_denied(client(server, "sqs", writer_key).send_message, "AccessDenied", QueueUrl=url, MessageBody="x")
    assert message.startswith(f"User: {writer['Arn']} is not authorized to perform: sqs:SendMessage on resource: {arn}"), message
    # A queue policy granting the organization (aws:PrincipalOrgID).
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document({
        "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": arn,
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": org["Id"]}},
    })})
    client(server, "sqs", writer_key).send_message(QueueUrl=url, MessageBody="x")
    # The reader has the queue policy's allow but no identity-policy allow in its own account.
    assert_denied(client(server, "sqs", reader_key).send_message, "AccessDenied", QueueUrl=url, MessageBody="x")


def test_cli_with_user_and_session_credentials(server):
    iam = server.client("iam")
    user, key = make_user(iam, "cli-user", allow("sts:AssumeRole"))
    iam.create_role(RoleName="cli-role", AssumeRolePolicyDocument=trust(user["Arn"]))
    iam.put_role_policy(RoleName="cli-role", PolicyName="p", PolicyDocument=document(allow("sqs:ListQueues")))

    def aws(credentials, *args):
        env = server.env
        env.update(AWS_ACCESS_KEY_ID=credentials["AccessKeyId"], AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"])
        if credentials.get("SessionToken"):
            env["AWS_SESSION_TOKEN"] = credentials["SessionToken"]
        # (the CLI's SQS client ignores AWS_ENDPOINT_URL: aws/aws-cli#8737)
        return subprocess.run(
            ["aws", "--endpoint-url", server.endpoint, *args], env=env, capture_output=True, text=True, timeout=60
        )

    out = aws(key, "sts", "assume-role", "--role-arn", f"arn:aws:iam::{ACCOUNT_ID}:role/cli-role",
              "--role-session-name", "from-cli")
    assert out.returncode == 0, out.stderr
    credentials = json.loads(out.stdout)["Credentials"]
    me = aws(credentials, "sts", "get-caller-identity")
    assert me.returncode == 0, me.stderr
    assert json.loads(me.stdout)["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/cli-role/from-cli"
    listed = aws(credentials, "sqs", "list-queues")
    assert listed.returncode == 0, listed.stderr
    refused = aws(credentials, "sqs", "create-queue", "--queue-name", "nope")
    assert refused.returncode != 0
    assert "(AccessDenied) when calling the CreateQueue operation: User: " \
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/cli-role/from-cli is not authorized to perform: sqs:CreateQueue" \
        in refused.stderr, refused.stderr
    refused = aws(key, "iam", "list-users")
    assert "(AccessDenied) when calling the ListUsers operation" in refused.stderr, refused.stderr
    wrong = aws({**credentials, "SessionToken": "not-the-token"}, "sts", "get-caller-identity")
    assert wrong.returncode != 0
    assert "(InvalidClientTokenId)" in wrong.stderr, wrong.stderr


def test_session_credentials_limits(server):
    iam = server.client("iam")
    user, key = make_user(iam, "sessioned", allow("*"))
    session = client(server, "sts", key).get_session_token()["Credentials"]
    # GetSessionToken credentials have the user's permissions elsewhere...
    client(server, "sqs", session).list_queues()
    assert client(server, "sts", session).get_caller_identity()["Arn"] == user["Arn"]
    # ... but no IAM call without MFA (IAM answers as for an unknown token) ...
    error = error_of(client(server, "iam", session).list_users)
    assert error["Code"] == "InvalidClientTokenId", error
    assert error["Message"] == "The security token included in the request is invalid.", error
    # ... and no STS call but AssumeRole and GetCallerIdentity.
    message = assert_denied(client(server, "sts", session).get_session_token, "AccessDenied")
    assert message == "Cannot call GetSessionToken with session credentials", message

    # No session credentials get a session token, not even a role session's.
    role = iam.create_role(RoleName="limited", AssumeRolePolicyDocument=trust(ACCOUNT_ID))["Role"]
    iam.attach_role_policy(RoleName="limited", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    credentials = server.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="lim")["Credentials"]
    message = assert_denied(client(server, "sts", credentials).get_session_token, "AccessDenied")
    assert message == "Cannot call GetSessionToken with session credentials", message
    client(server, "iam", credentials).list_users()  # a role session may call IAM

    records = records_by_key(server, credentials["AccessKeyId"], 2)
    refused = [r for r in records if r["eventName"] == "GetSessionToken"][0]
    assert refused["errorCode"] == "AccessDenied"
    assert refused["errorMessage"] == "Cannot call GetSessionToken with session credentials"


def test_get_session_token_needs_no_permission(server):
    user, key = make_user(server.client("iam"), "unprivileged")
    assert client(server, "sts", key).get_session_token()["Credentials"]["AccessKeyId"].startswith("ASIA")
