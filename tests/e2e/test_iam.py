"""IAM end to end with the real `aws` CLI and boto3: users, access keys, groups, managed and
inline policies, roles; listing and paging; AWS's errors and HTTP statuses; and the CloudTrail
records of IAM calls (global: awsRegion us-east-1), with the new key's secret left out."""

import json

from conftest import ACCOUNT_ID, error_of

POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def test_users_keys_policies_and_roles_through_the_cli(server):
    user = server.aws("iam", "create-user", "--user-name", "alice", "--path", "/ops/")["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/ops/alice"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21

    key = server.aws("iam", "create-access-key", "--user-name", "alice")["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
    assert len(key["SecretAccessKey"]) == 40
    assert key["Status"] == "Active"
    listed = server.aws("iam", "list-access-keys", "--user-name", "alice")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    assert "SecretAccessKey" not in listed[0]

    policy = server.aws(
        "iam", "create-policy", "--policy-name", "read-objects",
        "--policy-document", json.dumps(POLICY),
    )["Policy"]
    assert policy["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:policy/read-objects"
    assert policy["DefaultVersionId"] == "v1"
    server.aws("iam", "attach-user-policy", "--user-name", "alice", "--policy-arn", policy["Arn"])
    attached = server.aws("iam", "list-attached-user-policies", "--user-name", "alice")
    assert attached["AttachedPolicies"] == [{"PolicyName": "read-objects", "PolicyArn": policy["Arn"]}]
    version = server.aws(
        "iam", "get-policy-version", "--policy-arn", policy["Arn"], "--version-id", "v1"
    )["PolicyVersion"]
    assert version["Document"] == POLICY

    role = server.aws(
        "iam", "create-role", "--role-name", "auditor",
        "--assume-role-policy-document", json.dumps(TRUST), "--max-session-duration", "7200",
    )["Role"]
    assert role["RoleId"].startswith("AROA")
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/auditor"
    got = server.aws("iam", "get-role", "--role-name", "auditor")["Role"]
    assert got["AssumeRolePolicyDocument"] == TRUST
    assert got["MaxSessionDuration"] == 7200

    users = server.aws("iam", "list-users")["Users"]
    assert [u["UserName"] for u in users] == ["alice"]
    roles = server.aws("iam", "list-roles")["Roles"]
    assert [r["RoleName"] for r in roles] == ["auditor"]
    local = server.aws("iam", "list-policies", "--scope", "Local")["Policies"]
    assert [p["PolicyName"] for p in local] == ["read-objects"]
    aws_managed = server.aws("iam", "list-policies", "--scope", "AWS")["Policies"]
    assert "arn:aws:iam::aws:policy/AdministratorAccess" in [p["Arn"] for p in aws_managed]


def test_groups_inline_policies_and_paging_with_boto3(server):
    iam = server.client("iam")
    for name in ["u1", "u2", "u3", "u4", "u5"]:
        iam.create_user(UserName=name)
    first = iam.list_users(MaxItems=2)
    assert first["IsTruncated"] is True
    second = iam.list_users(MaxItems=2, Marker=first["Marker"])
    assert [u["UserName"] for u in first["Users"] + second["Users"]] == ["u1", "u2", "u3", "u4"]
    everyone = [u["UserName"] for page in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 2}) for u in page["Users"]]
    assert everyone == ["u1", "u2", "u3", "u4", "u5"]

    iam.create_group(GroupName="devs")
    iam.add_user_to_group(GroupName="devs", UserName="u1")
    group = iam.get_group(GroupName="devs")
    assert [u["UserName"] for u in group["Users"]] == ["u1"]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="u1")["Groups"]] == ["devs"]

    iam.put_user_policy(UserName="u1", PolicyName="inline", PolicyDocument=json.dumps(POLICY))
    assert iam.get_user_policy(UserName="u1", PolicyName="inline")["PolicyDocument"] == POLICY
    assert iam.list_user_policies(UserName="u1")["PolicyNames"] == ["inline"]

    iam.tag_user(UserName="u2", Tags=[{"Key": "team", "Value": "blue"}])
    assert iam.list_user_tags(UserName="u2")["Tags"] == [{"Key": "team", "Value": "blue"}]
    iam.untag_user(UserName="u2", TagKeys=["team"])
    assert iam.list_user_tags(UserName="u2")["Tags"] == []


def test_errors_have_aws_codes_and_statuses(server):
    iam = server.client("iam")
    iam.create_user(UserName="bob")

    def status_and_code(call, **kwargs):
        try:
            call(**kwargs)
        except iam.exceptions.ClientError as err:
            return err.response["ResponseMetadata"]["HTTPStatusCode"], err.response["Error"]["Code"]
        raise AssertionError("call should have failed")

    assert status_and_code(iam.get_user, UserName="nobody") == (404, "NoSuchEntity")
    assert status_and_code(iam.create_user, UserName="BOB") == (409, "EntityAlreadyExists")
    assert status_and_code(iam.create_user, UserName="bad name") == (400, "ValidationError")
    iam.create_access_key(UserName="bob")
    iam.create_access_key(UserName="bob")
    assert status_and_code(iam.create_access_key, UserName="bob") == (409, "LimitExceeded")
    assert status_and_code(iam.delete_user, UserName="bob") == (409, "DeleteConflict")
    assert status_and_code(
        iam.create_policy, PolicyName="p", PolicyDocument="{not json"
    ) == (400, "MalformedPolicyDocument")
    assert status_and_code(
        iam.create_role, RoleName="r", AssumeRolePolicyDocument=json.dumps(TRUST),
        MaxSessionDuration=50000,
    ) == (400, "ValidationError")
    message = error_of(iam.get_role, RoleName="ghost")["Message"]
    assert message == "The role with name ghost cannot be found."

    policy_arn = iam.create_policy(PolicyName="p", PolicyDocument=json.dumps(POLICY))["Policy"]["Arn"]
    for _ in range(4):
        iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=json.dumps(POLICY))
    assert status_and_code(
        iam.create_policy_version, PolicyArn=policy_arn, PolicyDocument=json.dumps(POLICY)
    ) == (409, "LimitExceeded")


def test_cloudtrail_records_iam_calls_without_secrets(server):
    iam = server.client("iam", region="eu-west-1")
    iam.create_user(UserName="carol")
    key = iam.create_access_key(UserName="carol")["AccessKey"]

    records = [
        json.loads(event["CloudTrailEvent"])
        for event in server.lookup(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateAccessKey"}]
        )
    ]
    assert len(records) == 1
    record = records[0]
    assert record["eventSource"] == "iam.amazonaws.com"
    assert record["awsRegion"] == "us-east-1"
    assert record["requestParameters"] == {"userName": "carol"}
    recorded_key = record["responseElements"]["accessKey"]
    assert recorded_key["accessKeyId"] == key["AccessKeyId"]
    assert recorded_key["status"] == "Active"
    assert "secretAccessKey" not in recorded_key
    assert key["SecretAccessKey"] not in json.dumps(record)

    iam.create_login_profile(UserName="carol", Password="Correct-Horse-9", PasswordResetRequired=True)
    login = server.lookup(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateLoginProfile"}]
    )
    login_record = json.loads(login[0]["CloudTrailEvent"])
    assert login_record["requestParameters"] == {"userName": "carol", "passwordResetRequired": True}
    assert "Correct-Horse-9" not in json.dumps(login_record)

    created = server.lookup(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}]
    )
    user_record = json.loads(created[0]["CloudTrailEvent"])
    assert user_record["responseElements"]["user"]["userName"] == "carol"
    assert user_record["userIdentity"]["type"] == "Root"


def test_oversized_and_malformed_policies_are_refused_with_iams_messages(server):
    iam = server.client("iam")
    iam.create_user(UserName="quota-user")

    def document(chars):
        head = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/'
        tail = '"}]}'
        return head + "x" * (chars - len(head) - len(tail)) + tail

    iam.put_user_policy(UserName="quota-user", PolicyName="one", PolicyDocument=document(2000))
    err = error_of(iam.put_user_policy, UserName="quota-user", PolicyName="two", PolicyDocument=document(100))
    assert err["Code"] == "LimitExceeded", err
    assert err["Message"] == "Maximum policy size of 2048 bytes exceeded for user quota-user"

    err = error_of(iam.create_policy, PolicyName="too-big", PolicyDocument=document(6145))
    assert (err["Code"], err["Message"]) == ("LimitExceeded", "Cannot exceed quota for PolicySize: 6144")
    # Whitespace does not count, as IAM measures.
    spaced = document(6100).replace(",", ",\n" + " " * 40)
    assert len(spaced) > 6144
    iam.create_policy(PolicyName="spaced", PolicyDocument=spaced)

    err = error_of(iam.create_policy, PolicyName="bad", PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3GetObject","Resource":"*"}]}')
    assert err["Code"] == "MalformedPolicyDocument", err
    assert err["Message"] == "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
