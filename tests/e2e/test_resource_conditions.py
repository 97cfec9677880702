"""Tag condition keys and EventBridge bus policies, end to end through boto3: an IAM user
allowed a call only on resources tagged env=dev (`aws:ResourceTag/env`) is refused it on a
resource tagged env=prod, for SQS queues and SNS topics; a policy requiring `aws:RequestTag/team`
refuses a CreateQueue without that tag; `ForAllValues:StringEquals` on `aws:TagKeys` limits the
tags a call may set; an EventBridge bus policy (PutPermission) allows a principal its own
policies do not, and its explicit Deny refuses PutEvents that an identity policy allows."""

import json
import uuid

import pytest

from conftest import create_trail_bucket
from test_authorization import allow, assert_denied, client, deny, make_user

REGION = "us-east-1"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tagged_dev(action):
    return allow(action, Condition={"StringEquals": {"aws:ResourceTag/env": "dev"}})


def test_sqs_send_needs_the_queue_tagged_dev(server):
    sqs = server.client("sqs")
    dev = sqs.create_queue(QueueName=unique("dev"), tags={"env": "dev"})["QueueUrl"]
    prod = sqs.create_queue(QueueName=unique("prod"), tags={"env": "prod"})["QueueUrl"]
    untagged = sqs.create_queue(QueueName=unique("none"))["QueueUrl"]
    _, key = make_user(server.client("iam"), unique("dev-sender"), tagged_dev("sqs:SendMessage"))
    as_user = client(server, "sqs", key)
    assert as_user.send_message(QueueUrl=dev, MessageBody="hello")["MessageId"]
    assert_denied(as_user.send_message, "AccessDenied", QueueUrl=prod, MessageBody="no")
    assert_denied(as_user.send_message, "AccessDenied", QueueUrl=untagged, MessageBody="no")
    # Retagging the queue changes the answer at once.
    sqs.tag_queue(QueueUrl=prod, Tags={"env": "dev"})
    assert as_user.send_message(QueueUrl=prod, MessageBody="now")["MessageId"]
    sqs.untag_queue(QueueUrl=prod, TagKeys=["env"])
    assert_denied(as_user.send_message, "AccessDenied", QueueUrl=prod, MessageBody="no")


def test_sns_publish_needs_the_topic_tagged_dev(server):
    sns = server.client("sns")
    dev = sns.create_topic(Name=unique("dev"), Tags=[{"Key": "env", "Value": "dev"}])["TopicArn"]
    prod = sns.create_topic(Name=unique("prod"), Tags=[{"Key": "env", "Value": "prod"}])["TopicArn"]
    _, key = make_user(server.client("iam"), unique("dev-publisher"), tagged_dev("SNS:Publish"))
    as_user = client(server, "sns", key)
    assert as_user.publish(TopicArn=dev, Message="hello")["MessageId"]
    assert_denied(as_user.publish, "AuthorizationError", TopicArn=prod, Message="no")


def test_create_queue_needs_the_team_request_tag(server):
    policy = allow(
        "sqs:CreateQueue", Condition={"Null": {"aws:RequestTag/team": "false"}}
    )
    _, key = make_user(server.client("iam"), unique("queue-maker"), policy)
    as_user = client(server, "sqs", key)
    assert as_user.create_queue(QueueName=unique("ok"), tags={"team": "a"})["QueueUrl"]
    assert_denied(as_user.create_queue, "AccessDenied", QueueName=unique("bare"))
    assert_denied(as_user.create_queue, "AccessDenied", QueueName=unique("other"), tags={"env": "dev"})


def test_tag_keys_limit_the_tags_a_call_may_set(server):
    sqs = server.client("sqs")
    queue = sqs.create_queue(QueueName=unique("tagme"))["QueueUrl"]
    topic = server.client("sns").create_topic(Name=unique("tagme"))["TopicArn"]
    keys = {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}
    _, key = make_user(
        server.client("iam"), unique("tagger"),
        allow(["sqs:TagQueue", "sqs:CreateQueue"], Condition=keys),
        allow("sns:TagResource", Condition=keys),
    )
    as_sqs = client(server, "sqs", key)
    as_sqs.tag_queue(QueueUrl=queue, Tags={"team": "a", "env": "dev"})
    assert sqs.list_queue_tags(QueueUrl=queue)["Tags"] == {"team": "a", "env": "dev"}
    assert_denied(as_sqs.tag_queue, "AccessDenied", QueueUrl=queue, Tags={"team": "a", "cost": "1"})
    assert "cost" not in sqs.list_queue_tags(QueueUrl=queue)["Tags"]
    assert as_sqs.create_queue(QueueName=unique("keys"), tags={"env": "dev"})["QueueUrl"]
    assert_denied(as_sqs.create_queue, "AccessDenied", QueueName=unique("keys"), tags={"owner": "x"})
    as_sns = client(server, "sns", key)
    as_sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "env", "Value": "dev"}])
    assert_denied(
        as_sns.tag_resource, "AuthorizationError",
        ResourceArn=topic, Tags=[{"Key": "secret", "Value": "1"}],
    )


def bus_policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def entry(bus):
    return {"Source": "my.app", "DetailType": "d", "Detail": "{}", "EventBusName": bus}


def test_a_bus_policy_deny_refuses_put_events_an_identity_policy_allows(server):
    events = server.client("events")
    iam = server.client("iam")
    name = unique("bus")
    bus_arn = events.create_event_bus(Name=name)["EventBusArn"]
    other = unique("open")
    events.create_event_bus(Name=other)
    user, key = make_user(iam, unique("putter"), allow("events:PutEvents"))
    as_user = client(server, "events", key)
    assert as_user.put_events(Entries=[entry(name)])["FailedEntryCount"] == 0

    events.put_permission(
        EventBusName=name,
        Policy=bus_policy(
            {
                "Sid": "no-putter",
                "Effect": "Deny",
                "Principal": {"AWS": user["Arn"]},
                "Action": "events:PutEvents",
                "Resource": bus_arn,
            }
        ),
    )
    assert_denied(as_user.put_events, "AccessDeniedException", Entries=[entry(name)])
    assert_denied(as_user.put_events, "AccessDeniedException", Entries=[entry(bus_arn)])
    # One entry on the denied bus refuses the whole call; other buses stay open.
    assert_denied(
        as_user.put_events, "AccessDeniedException", Entries=[entry(other), entry(name)]
    )
    assert as_user.put_events(Entries=[entry(other)])["FailedEntryCount"] == 0
    events.remove_permission(EventBusName=name, RemoveAllPermissions=True)
    assert as_user.put_events(Entries=[entry(name)])["FailedEntryCount"] == 0


def test_a_bus_policy_allows_a_principal_its_own_policies_do_not(server):
    events = server.client("events")
    iam = server.client("iam")
    name = unique("shared")
    bus_arn = events.create_event_bus(Name=name)["EventBusArn"]
    user, key = make_user(iam, unique("guest"))
    as_user = client(server, "events", key)
    assert_denied(as_user.put_events, "AccessDeniedException", Entries=[entry(name)])
    assert_denied(as_user.describe_event_bus, "AccessDeniedException", Name=name)
    events.put_permission(
        EventBusName=name,
        Policy=bus_policy(
            {
                "Sid": "guest",
                "Effect": "Allow",
                "Principal": {"AWS": user["Arn"]},
                "Action": ["events:PutEvents", "events:DescribeEventBus"],
                "Resource": bus_arn,
            }
        ),
    )
    assert as_user.put_events(Entries=[entry(name)])["FailedEntryCount"] == 0
    assert as_user.describe_event_bus(Name=name)["Arn"] == bus_arn
    # The policy names this bus only: the default bus stays closed.
    assert_denied(as_user.put_events, "AccessDeniedException", Entries=[entry("default")])


@pytest.mark.parametrize("value, allowed", [("dev", True), ("prod", False)])
def test_event_bus_tags_are_resource_tags(server, value, allowed):
    events = server.client("events")
    name = unique("tagged")
    events.create_event_bus(Name=name, Tags=[{"Key": "env", "Value": value}])
    _, key = make_user(server.client("iam"), unique("bus-user"), tagged_dev("events:PutEvents"))
    as_user = client(server, "events", key)
    if allowed:
        assert as_user.put_events(Entries=[entry(name)])["FailedEntryCount"] == 0
    else:
        assert_denied(as_user.put_events, "AccessDeniedException", Entries=[entry(name)])


def test_trail_tags_are_resource_tags_and_tags_list_request_tags(server):
    s3 = server.client("s3")
    cloudtrail = server.client("cloudtrail")
    bucket = unique("trail-bucket")
    create_trail_bucket(s3, bucket)
    dev = cloudtrail.create_trail(
        Name=unique("dev"), S3BucketName=bucket, TagsList=[{"Key": "env", "Value": "dev"}]
    )["TrailARN"]
    prod = cloudtrail.create_trail(
        Name=unique("prod"), S3BucketName=bucket, TagsList=[{"Key": "env", "Value": "prod"}]
    )["TrailARN"]
    _, key = make_user(
        server.client("iam"), unique("trail-reader"),
        tagged_dev("cloudtrail:GetTrailStatus"),
        allow("cloudtrail:AddTags", Condition={"StringEquals": {"aws:RequestTag/team": "core"}}),
    )
    as_user = client(server, "cloudtrail", key)
    assert "IsLogging" in as_user.get_trail_status(Name=dev)
    assert_denied(as_user.get_trail_status, "AccessDeniedException", Name=prod)
    as_user.add_tags(ResourceId=prod, TagsList=[{"Key": "team", "Value": "core"}])
    assert_denied(
        as_user.add_tags, "AccessDeniedException",
        ResourceId=prod, TagsList=[{"Key": "team", "Value": "other"}],
    )


def test_log_group_tags_are_resource_tags_and_create_tags_request_tags(server):
    logs = server.client("logs")
    dev, prod = unique("/dev"), unique("/prod")
    logs.create_log_group(logGroupName=dev, tags={"env": "dev"})
    logs.create_log_group(logGroupName=prod, tags={"env": "prod"})
    _, key = make_user(
        server.client("iam"), unique("logs-user"),
        tagged_dev("logs:PutRetentionPolicy"),
        allow("logs:CreateLogGroup", Condition={"StringEquals": {"aws:RequestTag/env": "dev"}}),
    )
    as_user = client(server, "logs", key)
    as_user.put_retention_policy(logGroupName=dev, retentionInDays=7)
    assert_denied(
        as_user.put_retention_policy, "AccessDeniedException", logGroupName=prod, retentionInDays=7
    )
    as_user.create_log_group(logGroupName=unique("/mine"), tags={"env": "dev"})
    assert_denied(as_user.create_log_group, "AccessDeniedException", logGroupName=unique("/bare"))
