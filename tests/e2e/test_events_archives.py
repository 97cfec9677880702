"""EventBridge archives and replays end to end: archives with and without a pattern on the
default and a custom bus, their managed rules, CloudTrail events reaching an archive, replays
to rules with SQS targets (the time window, `replay-name`, FilterArns, cancelling), AWS's
errors, and archive contents and a replay across kill -9. Every wait is bounded."""

import json
import time
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT_ID, wait_for
from test_events import make_queue, receive

REGION = "us-east-1"
DEFAULT_BUS = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/default"


def put(events, source, numbers, bus=None):
    entries = [{"Source": source, "DetailType": "n", "Detail": json.dumps({"n": n})} for n in numbers]
    if bus:
        for entry in entries:
            entry["EventBusName"] = bus
    result = events.put_events(Entries=entries)
    assert result["FailedEntryCount"] == 0
    return [entry["EventId"] for entry in result["Entries"]]


def count(events, name):
    return events.describe_archive(ArchiveName=name)["EventCount"]


def error(call, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def wait_replay(events, name, states=("COMPLETED",), timeout=10.0):
    return wait_for(
        f"replay {name} in {states}",
        lambda: (d := events.describe_replay(ReplayName=name))["State"] in states and d,
        timeout=timeout,
        interval=0.1,
    )


def past_second():
    """Waits until the wall clock is in a later second than now; returns the time before."""
    before = time.time()
    time.sleep(1.2)
    return before


def test_archives_keep_what_their_pattern_matches_on_default_and_custom_buses(server):
    events = server.client("events")
    custom = events.create_event_bus(Name="archived-bus")["EventBusArn"]
    created = events.create_archive(
        ArchiveName="app-only",
        EventSourceArn=DEFAULT_BUS,
        EventPattern=json.dumps({"source": ["app"]}),
        Description="only app events",
        RetentionDays=7,
        KmsKeyIdentifier="alias/archive-key",
    )
    assert created["ArchiveArn"] == f"arn:aws:events:{REGION}:{ACCOUNT_ID}:archive/app-only"
    assert created["State"] == "ENABLED"
    events.create_archive(ArchiveName="everything", EventSourceArn=custom)

    put(events, "app", [1, 2])
    put(events, "other", [3])
    put(events, "app", [4], bus="archived-bus")
    put(events, "other", [5, 6], bus=custom)

    described = events.describe_archive(ArchiveName="app-only")
    assert described["EventCount"] == 2
    assert described["SizeBytes"] > 0
    assert described["RetentionDays"] == 7
    assert described["KmsKeyIdentifier"] == "alias/archive-key"
    assert described["Description"] == "only app events"
    assert described["EventSourceArn"] == DEFAULT_BUS
    assert json.loads(described["EventPattern"]) == {"source": ["app"]}
    assert count(events, "everything") == 3

    # The managed rules, as AWS shows them.
    rules = {r["Name"]: r for r in events.list_rules()["Rules"]}
    rule = rules["Events-Archive-app-only"]
    assert rule["ManagedBy"] == "prod.vhs.events.aws.internal"
    assert json.loads(rule["EventPattern"]) == {"source": ["app"], "replay-name": [{"exists": False}]}
    custom_rules = events.list_rules(EventBusName="archived-bus")["Rules"]
    assert [r["Name"] for r in custom_rules] == ["Events-Archive-everything"]
    assert json.loads(custom_rules[0]["EventPattern"]) == {"replay-name": [{"exists": False}]}
    targets = events.list_targets_by_rule(Rule="Events-Archive-app-only")["Targets"]
    assert [t["Arn"] for t in targets] == [f"arn:aws:events:{REGION}:::"]

    listed = events.list_archives()["Archives"]
    assert [a["ArchiveName"] for a in listed] == ["app-only", "everything"]
    assert [a["EventCount"] for a in listed] == [2, 3]
    assert "ArchiveArn" not in listed[0]
    assert [a["ArchiveName"] for a in events.list_archives(EventSourceArn=custom)["Archives"]] == ["everything"]
    assert [a["ArchiveName"] for a in events.list_archives(NamePrefix="every")["Archives"]] == ["everything"]
    assert events.list_archives(State="DISABLED")["Archives"] == []
    page = events.list_archives(Limit=1)
    assert [a["ArchiveName"] for a in page["Archives"]] == ["app-only"]
    rest = events.list_archives(NextToken=page["NextToken"])["Archives"]
    assert [a["ArchiveName"] for a in rest] == ["everything"]

    # A new pattern applies to the events that come next.
    events.update_archive(ArchiveName="app-only", EventPattern=json.dumps({"source": ["other"]}), RetentionDays=0)
    put(events, "app", [7])
    put(events, "other", [8])
    described = events.describe_archive(ArchiveName="app-only")
    assert (described["EventCount"], described["RetentionDays"]) == (3, 0)

    events.delete_archive(ArchiveName="app-only")
    assert "Events-Archive-app-only" not in {r["Name"] for r in events.list_rules()["Rules"]}
    assert [a["ArchiveName"] for a in events.list_archives()["Archives"]] == ["everything"]


def test_a_cloudtrail_recorded_call_reaches_the_default_bus_archive(server):
    events = server.client("events")
    pattern = {"source": ["aws.sqs"], "detail": {"eventName": ["CreateQueue"]}}
    events.create_archive(ArchiveName="queue-calls", EventSourceArn=DEFAULT_BUS, EventPattern=json.dumps(pattern))
    sqs = server.client("sqs")
    sqs.create_queue(QueueName="archived-call")
    sqs.list_queues()  # read-only: never reaches an ENABLED rule
    wait_for("the CreateQueue event in the archive", lambda: count(events, "queue-calls") == 1, timeout=10.0, interval=0.2)
    time.sleep(1.0)
    assert count(events, "queue-calls") == 1

    # Replayed, it carries the CloudTrail record and replay-name.
    sqs_target, url, arn = make_queue(server, "ct-replayed")
    events.put_rule(Name="ct-replay", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="ct-replay", Targets=[{"Id": "q", "Arn": arn}])
    # The target queue's own CreateQueue is archived too; replay it all.
    wait_for("both calls archived", lambda: count(events, "queue-calls") == 2, timeout=10.0, interval=0.2)
    end = past_second()
    events.start_replay(
        ReplayName="ct",
        EventSourceArn=f"arn:aws:events:{REGION}:{ACCOUNT_ID}:archive/queue-calls",
        EventStartTime=datetime.fromtimestamp(end - 120, timezone.utc),
        EventEndTime=datetime.fromtimestamp(end, timezone.utc),
        Destination={"Arn": DEFAULT_BUS},
    )
    wait_replay(events, "ct")
    bodies = [json.loads(m["Body"]) for m in receive(sqs_target, url, count=3, timeout=3.0)]
    assert sorted(b["detail"]["requestParameters"]["queueName"] for b in bodies) == ["archived-call", "ct-replayed"]
    assert all(b["replay-name"] == "ct" and b["detail-type"] == "AWS API Call via CloudTrail" for b in bodies)


def test_replay_sends_exactly_the_window_to_the_bus_rules(server):
    events = server.client("events")
    archive_arn = events.create_archive(
        ArchiveName="app", EventSourceArn=DEFAULT_BUS, EventPattern=json.dumps({"source": ["app"]})
    )["ArchiveArn"]
    start = time.time() - 2
    original_ids = put(events, "app", [1, 2, 3])
    end = past_second()
    put(events, "app", [4])  # after the window
    assert count(events, "app") == 4

    sqs, url, arn = make_queue(server, "replayed")
    events.put_rule(Name="app-rule", EventPattern=json.dumps({"source": ["app"]}))
    events.put_targets(Rule="app-rule", Targets=[{"Id": "q", "Arn": arn}])
    started = events.start_replay(
        ReplayName="window",
        Description="the first three",
        EventSourceArn=archive_arn,
        EventStartTime=datetime.fromtimestamp(start, timezone.utc),
        EventEndTime=datetime.fromtimestamp(end, timezone.utc),
        Destination={"Arn": DEFAULT_BUS},
    )
    assert started["ReplayArn"] == f"arn:aws:events:{REGION}:{ACCOUNT_ID}:replay/window"
    assert started["State"] == "STARTING"
    done = wait_replay(events, "window")
    assert done["Description"] == "the first three"
    assert done["Destination"] == {"Arn": DEFAULT_BUS}
    assert done["EventSourceArn"] == archive_arn
    assert "ReplayEndTime" in done and "EventLastReplayedTime" in done

    bodies = [json.loads(m["Body"]) for m in receive(sqs, url, count=10, timeout=3.0)]
    assert sorted(b["detail"]["n"] for b in bodies) == [1, 2, 3]
    assert all(b["replay-name"] == "window" for b in bodies)
    assert not {b["id"] for b in bodies} & set(original_ids)
    # Replayed events are not archived again.
    assert count(events, "app") == 4
    listed = events.list_replays()["Replays"]
    assert [(r["ReplayName"], r["State"]) for r in listed] == [("window", "COMPLETED")]
    assert events.list_replays(State="RUNNING")["Replays"] == []
    assert len(events.list_replays(EventSourceArn=archive_arn)["Replays"]) == 1


def test_filter_arns_and_cancel(server):
    events = server.client("events")
    archive_arn = events.create_archive(ArchiveName="all", EventSourceArn=DEFAULT_BUS)["ArchiveArn"]
    start = time.time() - 2
    put(events, "app", [1, 2])
    end = past_second()
    sqs, url_one, arn_one = make_queue(server, "filter-one")
    _, url_two, arn_two = make_queue(server, "filter-two")
    for name, arn in [("one", arn_one), ("two", arn_two)]:
        events.put_rule(Name=name, EventPattern=json.dumps({"source": ["app"]}))
        events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    rule_two = events.describe_rule(Name="two")["Arn"]
    window = dict(
        EventSourceArn=archive_arn,
        EventStartTime=datetime.fromtimestamp(start, timezone.utc),
        EventEndTime=datetime.fromtimestamp(end, timezone.utc),
    )
    events.start_replay(ReplayName="only-two", Destination={"Arn": DEFAULT_BUS, "FilterArns": [rule_two]}, **window)
    wait_replay(events, "only-two")
    assert sorted(json.loads(m["Body"])["detail"]["n"] for m in receive(sqs, url_two, count=5, timeout=3.0)) == [1, 2]
    assert receive(sqs, url_one, count=1, timeout=1.5) == []

    # Cancelling: a replay either is cancelled or had already completed; twice is an error.
    events.start_replay(ReplayName="cancelled", Destination={"Arn": DEFAULT_BUS}, **window)
    try:
        assert events.cancel_replay(ReplayName="cancelled")["State"] == "CANCELLING"
        wait_replay(events, "cancelled", states=("CANCELLED",))
    except ClientError as err:
        assert err.response["Error"]["Code"] == "IllegalStatusException"
        assert events.describe_replay(ReplayName="cancelled")["State"] == "COMPLETED"
    assert error(events.cancel_replay, ReplayName="cancelled") == (
        "IllegalStatusException",
        "Replay cancelled is not in a valid state for this operation.",
    )


def test_archive_and_replay_errors(server):
    events = server.client("events")
    events.create_event_bus(Name="other-bus")
    archive_arn = events.create_archive(ArchiveName="a", EventSourceArn=DEFAULT_BUS)["ArchiveArn"]
    assert error(events.create_archive, ArchiveName="a", EventSourceArn=DEFAULT_BUS) == (
        "ResourceAlreadyExistsException",
        "Archive a already exists.",
    )
    assert error(
        events.create_archive,
        ArchiveName="b",
        EventSourceArn=f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/missing",
    ) == ("ResourceNotFoundException", "Event bus missing does not exist.")
    code, message = error(events.create_archive, ArchiveName="b", EventSourceArn=DEFAULT_BUS, EventPattern="invalid")
    assert code == "InvalidEventPatternException" and message.startswith("Event pattern is not valid. Reason: ")
    assert error(events.create_archive, ArchiveName="a" * 49, EventSourceArn=DEFAULT_BUS)[0] == "ValidationException"
    for call in (events.describe_archive, events.delete_archive, events.update_archive):
        assert error(call, ArchiveName="nope") == ("ResourceNotFoundException", "Archive nope does not exist.")
    assert error(events.list_archives, NamePrefix="a", State="ENABLED") == (
        "ValidationException",
        "At most one filter is allowed for ListArchives. Use either : State, EventSourceArn, or NamePrefix.",
    )
    # The managed rule changes only with its archive.
    assert error(events.put_targets, Rule="Events-Archive-a", Targets=[{"Id": "x", "Arn": DEFAULT_BUS}])[0] == "ManagedRuleException"
    assert error(events.put_rule, Name="Events-Archive-a", EventPattern='{"source": ["x"]}')[0] == "ManagedRuleException"

    window = dict(EventStartTime=datetime(2021, 2, 1, tzinfo=timezone.utc), EventEndTime=datetime(2021, 2, 2, tzinfo=timezone.utc))
    assert error(events.start_replay, ReplayName="r", EventSourceArn=archive_arn, Destination={"Arn": "invalid"}, **window) == (
        "ValidationException",
        "Parameter Destination.Arn is not valid. Reason: Must contain an event bus ARN.",
    )
    assert error(
        events.start_replay,
        ReplayName="r",
        EventSourceArn=f"arn:aws:events:{REGION}:{ACCOUNT_ID}:archive/gone",
        Destination={"Arn": DEFAULT_BUS},
        **window,
    ) == ("ValidationException", "Parameter EventSourceArn is not valid. Reason: Archive gone does not exist.")
    assert error(
        events.start_replay,
        ReplayName="r",
        EventSourceArn=archive_arn,
        Destination={"Arn": f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/other-bus"},
        **window,
    ) == ("ValidationException", "Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not permitted.")
    assert error(
        events.start_replay,
        ReplayName="r",
        EventSourceArn=archive_arn,
        Destination={"Arn": DEFAULT_BUS},
        EventStartTime=datetime(2021, 2, 2, tzinfo=timezone.utc),
        EventEndTime=datetime(2021, 2, 1, tzinfo=timezone.utc),
    ) == ("ValidationException", "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime.")
    events.start_replay(ReplayName="r", EventSourceArn=archive_arn, Destination={"Arn": DEFAULT_BUS}, **window)
    assert error(events.start_replay, ReplayName="r", EventSourceArn=archive_arn, Destination={"Arn": DEFAULT_BUS}, **window) == (
        "ResourceAlreadyExistsException",
        "Replay r already exists.",
    )
    assert wait_replay(events, "r")["State"] == "COMPLETED"
    for call in (events.describe_replay, events.cancel_replay):
        assert error(call, ReplayName="nope") == ("ResourceNotFoundException", "Replay nope does not exist.")
    assert error(events.list_replays, NamePrefix="r", State="COMPLETED")[0] == "ValidationException"


def test_archived_events_survive_kill_9_and_replay_after_restart(new_server):
    server = new_server().start()
    events = server.client("events")
    archive_arn = events.create_archive(
        ArchiveName="durable", EventSourceArn=DEFAULT_BUS, EventPattern=json.dumps({"source": ["app", "aws.s3"]})
    )["ArchiveArn"]
    start = time.time() - 2
    ids = []
    for batch in range(5):
        ids += put(events, "app", range(batch * 10, batch * 10 + 10))
    # And one CloudTrail event, archived by the journal worker.
    server.client("s3").create_bucket(Bucket="archived-bucket")
    wait_for("the CreateBucket call archived", lambda: count(events, "durable") == 51, timeout=10.0, interval=0.2)
    before = events.describe_archive(ArchiveName="durable")
    server.kill9()

    restarted = new_server(server.data_dir).start()
    events = restarted.client("events")
    after = events.describe_archive(ArchiveName="durable")
    assert (after["EventCount"], after["SizeBytes"]) == (before["EventCount"], before["SizeBytes"])
    sqs, url, arn = make_queue(restarted, "after-crash")
    events.put_rule(Name="app", EventPattern=json.dumps({"source": ["app"]}))
    events.put_targets(Rule="app", Targets=[{"Id": "q", "Arn": arn}])
    end = past_second()
    events.start_replay(
        ReplayName="after-crash",
        EventSourceArn=archive_arn,
        EventStartTime=datetime.fromtimestamp(start, timezone.utc),
        EventEndTime=datetime.fromtimestamp(end, timezone.utc),
        Destination={"Arn": DEFAULT_BUS},
    )
    # Killed while the replay may still run: after the restart it resumes (or is already done),
    # and every event of the window reaches the queue at least once.
    restarted.kill9()
    again = new_server(server.data_dir).start()
    events = again.client("events")
    done = wait_replay(events, "after-crash")
    assert done["State"] == "COMPLETED" and "ReplayEndTime" in done
    sqs = again.client("sqs")
    url = sqs.get_queue_url(QueueName="after-crash")["QueueUrl"]
    bodies = [json.loads(m["Body"]) for m in receive(sqs, url, count=100, timeout=5.0)]
    assert {b["detail"]["n"] for b in bodies} == set(range(50))
    assert all(b["replay-name"] == "after-crash" for b in bodies)
    assert count(events, "durable") == 51
