"""AWS Organizations end to end with the aws CLI and boto3: an organization, two accounts
created asynchronously, an OU and a move, service control policies, trusted access for
CloudTrail and a delegated administrator registered through CloudTrail's own API — AWS's
errors on the way, the CloudTrail records of the calls, and the organization surviving a
restart."""

import json
import re
import time

import botocore.exceptions
import pytest

from conftest import ACCOUNT_ID, error_of

DENY_S3 = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}],
    }
)


def full_error(call, **kwargs):
    """The whole response of the ClientError `call(**kwargs)` must raise (modelled error
    members such as `Reason` sit beside `Error`)."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return info.value.response


def create_account(org, name):
    """Creates an account and waits for its request to succeed; returns the account id."""
    status = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
    assert status["State"] == "IN_PROGRESS"
    assert re.fullmatch(r"car-[a-z0-9]{32}", status["Id"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = org.describe_create_account_status(CreateAccountRequestId=status["Id"])[
            "CreateAccountStatus"
        ]
        if status["State"] != "IN_PROGRESS":
            break
        time.sleep(0.2)
    assert status["State"] == "SUCCEEDED", status
    assert re.fullmatch(r"[0-9]{12}", status["AccountId"])
    return status["AccountId"]


def test_organization_accounts_ous_scps_and_cloudtrail_delegated_admin(server):
    org = server.client("organizations")
    cloudtrail = server.client("cloudtrail")

    # Not in an organization yet.
    err = error_of(org.describe_organization)
    assert err["Code"] == "AWSOrganizationsNotInUseException"
    err = error_of(cloudtrail.register_organization_delegated_admin, MemberAccountId="210987654321")
    assert err["Code"] == "OrganizationsNotInUseException"

    created = server.aws("organizations", "create-organization", "--feature-set", "ALL")["Organization"]
    org_id = created["Id"]
    assert re.fullmatch(r"o-[a-z0-9]{10}", org_id)
    assert created["MasterAccountId"] == ACCOUNT_ID
    assert created["Arn"] == f"arn:aws:organizations::{ACCOUNT_ID}:organization/{org_id}"
    assert created["FeatureSet"] == "ALL"
    assert org.describe_organization()["Organization"]["Id"] == org_id
    err = error_of(org.create_organization)
    assert err["Code"] == "AlreadyInOrganizationException"

    roots = server.aws("organizations", "list-roots")["Roots"]
    root_id = roots[0]["Id"]
    assert re.fullmatch(r"r-[a-z0-9]{4}", root_id)
    assert roots[0]["Arn"] == f"arn:aws:organizations::{ACCOUNT_ID}:root/{org_id}/{root_id}"
    assert roots[0]["PolicyTypes"] == []

    dev = create_account(org, "dev")
    prod = create_account(org, "prod")
    listed = {account["Id"]: account for account in org.list_accounts()["Accounts"]}
    assert set(listed) == {ACCOUNT_ID, dev, prod}
    assert listed[dev]["Arn"] == f"arn:aws:organizations::{ACCOUNT_ID}:account/{org_id}/{dev}"
    assert listed[dev]["JoinedMethod"] == "CREATED" and listed[dev]["Status"] == "ACTIVE"
    statuses = org.list_create_account_status(States=["SUCCEEDED"])["CreateAccountStatuses"]
    assert {status["AccountId"] for status in statuses} == {dev, prod}

    ou = server.aws(
        "organizations", "create-organizational-unit", "--parent-id", root_id, "--name", "workloads"
    )["OrganizationalUnit"]
    ou_id = ou["Id"]
    assert re.fullmatch(rf"ou-{root_id[2:]}-[a-z0-9]{{8}}", ou_id)
    assert ou["Arn"] == f"arn:aws:organizations::{ACCOUNT_ID}:ou/{org_id}/{ou_id}"
    err = error_of(org.create_organizational_unit, ParentId=root_id, Name="workloads")
    assert err["Code"] == "DuplicateOrganizationalUnitException"

    server.aws(
        "organizations", "move-account", "--account-id", prod,
        "--source-parent-id", root_id, "--destination-parent-id", ou_id,
    )
    assert org.list_parents(ChildId=prod)["Parents"] == [{"Id": ou_id, "Type": "ORGANIZATIONAL_UNIT"}]
    in_ou = org.list_accounts_for_parent(ParentId=ou_id)["Accounts"]
    assert [account["Id"] for account in in_ou] == [prod]
    err = error_of(org.move_account, AccountId=prod, SourceParentId=root_id, DestinationParentId=ou_id)
    assert err["Code"] == "DuplicateAccountException"
    err = error_of(org.delete_organizational_unit, OrganizationalUnitId=ou_id)
    assert err["Code"] == "OrganizationalUnitNotEmptyException"

    # Service control policies: created while the type is off, attached once it is on.
    policy = server.aws(
        "organizations", "create-policy", "--type", "SERVICE_CONTROL_POLICY",
        "--name", "no-bucket-deletes", "--description", "deny s3:DeleteBucket",
        "--content", DENY_S3,
    )["Policy"]["PolicySummary"]
    policy_id = policy["Id"]
    assert re.fullmatch(r"p-[a-z0-9]{8}", policy_id)
    assert policy["Arn"] == (
        f"arn:aws:organizations::{ACCOUNT_ID}:policy/{org_id}/service_control_policy/{policy_id}"
    )
    err = error_of(org.attach_policy, PolicyId=policy_id, TargetId=ou_id)
    assert err["Code"] == "PolicyTypeNotEnabledException"
    err = error_of(
        org.create_policy, Type="SERVICE_CONTROL_POLICY", Name="broken", Description="", Content="{not json"
    )
    assert err["Code"] == "MalformedPolicyDocumentException"
    response = full_error(
        org.create_policy, Type="SERVICE_CONTROL_POLICY", Name="huge", Description="",
        Content=json.dumps({"Version": "2012-10-17", "Statement": [], "Sid": "x" * 5200}),
    )
    assert response["Error"]["Code"] == "ConstraintViolationException"
    assert response["Reason"] == "POLICY_CONTENT_LIMIT_EXCEEDED"

    enabled = server.aws(
        "organizations", "enable-policy-type", "--root-id", root_id,
        "--policy-type", "SERVICE_CONTROL_POLICY",
    )["Root"]
    assert enabled["PolicyTypes"] == [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]
    server.aws("organizations", "attach-policy", "--policy-id", policy_id, "--target-id", ou_id)
    err = error_of(org.attach_policy, PolicyId=policy_id, TargetId=ou_id)
    assert err["Code"] == "DuplicatePolicyAttachmentException"
    on_ou = org.list_policies_for_target(TargetId=ou_id, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert {p["Id"] for p in on_ou} == {"p-FullAWSAccess", policy_id}
    targets = org.list_targets_for_policy(PolicyId=policy_id)["Targets"]
    assert targets == [
        {"TargetId": ou_id, "Arn": ou["Arn"], "Name": "workloads", "Type": "ORGANIZATIONAL_UNIT"}
    ]
    err = error_of(org.delete_policy, PolicyId=policy_id)
    assert err["Code"] == "PolicyInUseException"
    err = error_of(org.attach_policy, PolicyId=policy_id, TargetId="ou-zzzz-zzzzzzzz")
    assert err["Code"] == "OrganizationalUnitNotFoundException"

    # Trusted access and a delegated administrator, through CloudTrail's API.
    server.aws(
        "organizations", "enable-aws-service-access", "--service-principal", "cloudtrail.amazonaws.com"
    )
    access = org.list_aws_service_access_for_organization()["EnabledServicePrincipals"]
    assert [entry["ServicePrincipal"] for entry in access] == ["cloudtrail.amazonaws.com"]
    server.aws("cloudtrail", "register-organization-delegated-admin", "--member-account-id", dev)
    admins = org.list_delegated_administrators(ServicePrincipal="cloudtrail.amazonaws.com")[
        "DelegatedAdministrators"
    ]
    assert [admin["Id"] for admin in admins] == [dev]
    services = org.list_delegated_services_for_account(AccountId=dev)["DelegatedServices"]
    assert [service["ServicePrincipal"] for service in services] == ["cloudtrail.amazonaws.com"]
    err = error_of(cloudtrail.register_organization_delegated_admin, MemberAccountId=dev)
    assert err["Code"] == "AccountRegisteredException"
    err = error_of(cloudtrail.register_organization_delegated_admin, MemberAccountId=ACCOUNT_ID)
    assert err["Code"] == "CannotDelegateManagementAccountException"
    err = error_of(cloudtrail.register_organization_delegated_admin, MemberAccountId="210987654321")
    assert err["Code"] == "AccountNotFoundException"
    err = error_of(org.remove_account_from_organization, AccountId=dev)
    assert err["Code"] == "ConstraintViolationException"
    cloudtrail.deregister_organization_delegated_admin(DelegatedAdminAccountId=dev)
    assert org.list_delegated_administrators()["DelegatedAdministrators"] == []
    err = error_of(cloudtrail.deregister_organization_delegated_admin, DelegatedAdminAccountId=dev)
    assert err["Code"] == "AccountNotRegisteredException"

    err = error_of(org.delete_organization)
    assert err["Code"] == "OrganizationNotEmptyException"

    # A global service: a call signed for another region is recorded in us-east-1.
    server.client("organizations", region="eu-west-1").describe_organization()

    # Every call is recorded, Organizations' under its own event source.
    events = server.lookup(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateOrganization"}])
    records = [json.loads(event["CloudTrailEvent"]) for event in events]
    assert [r.get("errorCode") for r in records] == ["AlreadyInOrganizationException", None]
    success = records[1]
    assert success["eventSource"] == "organizations.amazonaws.com"
    assert success["awsRegion"] == "us-east-1"
    assert success["requestParameters"] == {"featureSet": "ALL"}
    assert success["responseElements"]["organization"]["id"] == org_id
    by_source = server.lookup(
        LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "organizations.amazonaws.com"}]
    )
    names = {event["EventName"] for event in by_source}
    described = {"AttributeKey": "EventName", "AttributeValue": "DescribeOrganization"}
    # The failed call before the organization, the one after it, and the one signed for eu-west-1.
    assert len(server.lookup(LookupAttributes=[described])) == 3
    assert server.lookup(region="eu-west-1", LookupAttributes=[described]) == []
    assert {"CreateAccount", "MoveAccount", "EnablePolicyType", "AttachPolicy", "CreatePolicy"} <= names
    attach = [
        json.loads(event["CloudTrailEvent"])
        for event in server.lookup(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AttachPolicy"}]
        )
    ]
    codes = sorted(str(record.get("errorCode")) for record in attach)
    assert codes == sorted(
        ["PolicyTypeNotEnabledException", "None", "DuplicatePolicyAttachmentException",
         "OrganizationalUnitNotFoundException"]
    )
    registered = [
        json.loads(event["CloudTrailEvent"])
        for event in server.lookup(
            LookupAttributes=[
                {"AttributeKey": "EventName", "AttributeValue": "RegisterOrganizationDelegatedAdmin"}
            ]
        )
    ]
    ok = [record for record in registered if "errorCode" not in record]
    assert len(ok) == 1 and ok[0]["eventSource"] == "cloudtrail.amazonaws.com"
    assert ok[0]["requestParameters"] == {"memberAccountId": dev}


def test_the_organization_survives_a_restart(new_server):
    first = new_server().start()
    org = first.client("organizations")
    org_id = org.create_organization()["Organization"]["Id"]
    account = create_account(org, "kept")
    data_dir = first.data_dir
    first.stop()
    second = new_server(data_dir).start()
    org = second.client("organizations")
    assert org.describe_organization()["Organization"]["Id"] == org_id
    assert org.describe_account(AccountId=account)["Account"]["Name"] == "kept"
