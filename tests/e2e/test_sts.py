"""STS end to end with the real `aws` CLI and boto3: GetCallerIdentity as root, AssumeRole on
a role that trusts the account (credentials, the assumed-role user, duration bounds, the
trust check, session name checks), GetSessionToken, GetAccessKeyInfo, and the CloudTrail
records of STS calls with the credentials' secret and session token left out."""

import json
import re

from conftest import ACCESS_KEY, ACCOUNT_ID, error_of

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": ACCOUNT_ID},
            "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
        }
    ],
}


def make_role(server, name="auditor", trust=TRUST, **kwargs):
    iam = server.client("iam")
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), **kwargs)["Role"]


def test_get_caller_identity_as_root(server):
    me = server.aws("sts", "get-caller-identity")
    assert me == {
        "UserId": ACCOUNT_ID,
        "Account": ACCOUNT_ID,
        "Arn": f"arn:aws:iam::{ACCOUNT_ID}:root",
    }


def test_assume_role_as_root(server):
    role = make_role(server, MaxSessionDuration=7200)
    sts = server.client("sts")
    out = sts.assume_role(
        RoleArn=role["Arn"], RoleSessionName="review-1", DurationSeconds=7200,
        Tags=[{"Key": "project", "Value": "audit"}], SourceIdentity="alice",
    )
    credentials = out["Credentials"]
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", credentials["AccessKeyId"])
    assert len(credentials["SecretAccessKey"]) == 40
    assert len(credentials["SessionToken"]) > 100
    lifetime = credentials["Expiration"].timestamp() - __import__("time").time()
    assert 7100 < lifetime <= 7200
    assert out["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role['RoleId']}:review-1",
        "Arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/auditor/review-1",
    }
    assert out["SourceIdentity"] == "alice"

    assert error_of(
        sts.assume_role, RoleArn=role["Arn"], RoleSessionName="bad name", DurationSeconds=900
    )["Code"] == "ValidationError"
    assert error_of(
        sts.assume_role, RoleArn=role["Arn"], RoleSessionName="long-one", DurationSeconds=7201
    )["Code"] == "ValidationError"
    missing = error_of(
        sts.assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/ghost", RoleSessionName="x1"
    )
    assert missing["Code"] == "AccessDenied"

    other = make_role(
        server, "not-for-you",
        trust={**TRUST, "Statement": [{**TRUST["Statement"][0], "Principal": {"AWS": "111122223333"}}]},
    )
    assert error_of(sts.assume_role, RoleArn=other["Arn"], RoleSessionName="x1")["Code"] == "AccessDenied"


def test_session_token_and_access_key_info(server):
    sts = server.client("sts")
    credentials = sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert sts.get_access_key_info(AccessKeyId=credentials["AccessKeyId"])["Account"] == ACCOUNT_ID
    assert sts.get_access_key_info(AccessKeyId=ACCESS_KEY)["Account"] == ACCOUNT_ID
    assert error_of(sts.get_session_token, DurationSeconds=7200)["Code"] == "ValidationError"


def test_cloudtrail_records_sts_calls_without_secrets(server):
    role = make_role(server)
    sts = server.client("sts", region="eu-west-1")
    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="recorded")
    server.aws("sts", "get-caller-identity")

    events = server.lookup(
        region="eu-west-1",
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AssumeRole"}],
    )
    assert len(events) == 1
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["eventSource"] == "sts.amazonaws.com"
    assert record["awsRegion"] == "eu-west-1"
    assert record["requestParameters"]["roleArn"] == role["Arn"]
    assert record["requestParameters"]["roleSessionName"] == "recorded"
    credentials = record["responseElements"]["credentials"]
    assert credentials["accessKeyId"] == out["Credentials"]["AccessKeyId"]
    assert "expiration" in credentials
    assert "sessionToken" not in credentials and "secretAccessKey" not in credentials
    text = json.dumps(record)
    assert out["Credentials"]["SecretAccessKey"] not in text
    assert out["Credentials"]["SessionToken"] not in text
    assert record["responseElements"]["assumedRoleUser"]["arn"] == out["AssumedRoleUser"]["Arn"]
    assert {"ARN": role["Arn"], "accountId": ACCOUNT_ID, "type": "AWS::IAM::Role"} in record["resources"]

    calls = server.lookup(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}]
    )
    assert len(calls) == 1
    assert json.loads(calls[0]["CloudTrailEvent"])["readOnly"] is True


def test_iam_user_and_role_session_credentials_sign_calls(server):
    iam = server.client("iam")
    iam.create_user(UserName="dave")
    iam.put_user_policy(
        UserName="dave", PolicyName="who-am-i",
        PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["sqs:ListQueues"], "Resource": "*"}],
        }),
    )
    key = iam.create_access_key(UserName="dave")["AccessKey"]
    user_sts = server.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    me = user_sts.get_caller_identity()
    assert me["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/dave"
    assert me["UserId"].startswith("AIDA")
    last_used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert last_used["ServiceName"] == "sts"
    assert "LastUsedDate" in last_used

    token = user_sts.get_session_token(DurationSeconds=900)["Credentials"]
    me_again = boto3_session_client(server, "sts", token).get_caller_identity()
    assert me_again["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/dave"
    user_iam = server.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    denied = error_of(user_iam.create_user, UserName="eve")
    assert denied["Code"] == "AccessDenied"
    assert f"user/dave is not authorized to perform: iam:CreateUser" in denied["Message"]

    role = make_role(server, "reader")
    # The role has no policy: GetCallerIdentity needs no permission.
    out = server.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="s-1")
    credentials = out["Credentials"]
    session = boto3_session_client(server, "sts", credentials)
    me = session.get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/reader/s-1"
    assert me["UserId"] == f"{role['RoleId']}:s-1"

    events = server.lookup(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": credentials["AccessKeyId"]}]
    )
    assert events, "the session's call is recorded"
    identity = json.loads(events[0]["CloudTrailEvent"])["userIdentity"]
    assert identity["type"] == "AssumedRole"
    assert identity["principalId"] == f"{role['RoleId']}:s-1"
    assert identity["sessionContext"]["sessionIssuer"] == {
        "type": "Role",
        "principalId": role["RoleId"],
        "arn": role["Arn"],
        "accountId": ACCOUNT_ID,
        "userName": "reader",
    }
    assert identity["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"


def boto3_session_client(server, service, credentials):
    import boto3

    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    ).client(service, endpoint_url=server.endpoint)


def test_users_keys_and_sessions_survive_kill_9(new_server):
    server = new_server().start()
    iam = server.client("iam")
    iam.create_user(UserName="frank")
    iam.put_user_policy(
        UserName="frank", PolicyName="list",
        PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}],
        }),
    )
    key = iam.create_access_key(UserName="frank")["AccessKey"]
    role = make_role(server, "survivor")
    credentials = server.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="s-9")["Credentials"]
    server.kill9()
    server.start()

    iam = server.client("iam")
    assert iam.get_user(UserName="frank")["User"]["UserName"] == "frank"
    assert iam.get_role(RoleName="survivor")["Role"]["RoleId"] == role["RoleId"]
    frank_sqs = server.client("sqs", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert "QueueUrls" not in frank_sqs.list_queues() or frank_sqs.list_queues()["QueueUrls"] == []
    me = boto3_session_client(server, "sts", credentials).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/survivor/s-9"
