"""A data directory whose file system fills up, for real: the server's data directory lives on a
small tmpfs, a filler file takes the free space, and CreateLogGroup calls run until they stop
succeeding. No log group may exist without the record of the call that made it, and once the
filler is removed the server takes calls again by itself, without a restart.

Twice: with the disk headroom check (calls are refused before they act, so every answer is a
success or a 503, reads too, and health says why), and without it (the stores themselves run
out of space mid-call: such a call fails with a 500 and its record says so; the metadata store
and the history index must reopen themselves once space returns).

Mounting a tmpfs needs root (CAP_SYS_ADMIN); elsewhere the test is skipped and says so."""

import errno
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import botocore.exceptions
import pytest

from conftest import wait_for

SIZE_MB = 160
# What is left free after the filler when the headroom is checked: less than the journal's
# 4 MiB admission reserve and the headroom below.
SLACK_BYTES = 2 * 1024 * 1024
HEADROOM_BYTES = 8 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def health(server):
    """(status, body) of /_opentrail/health."""
    try:
        with urllib.request.urlopen(f"{server.endpoint}/_opentrail/health", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def fill(mount_point, leave_free):
    """Takes all but `leave_free` bytes of the file system with one file. The server may write
    between measuring the free space and taking it (ENOSPC): then it is measured again."""
    filler = mount_point / "filler"
    for _ in range(50):
        stats = os.statvfs(mount_point)
        free = stats.f_bavail * stats.f_frsize
        size = max(free - leave_free, 0)
        try:
            with open(filler, "ab") as out:
                os.posix_fallocate(out.fileno(), out.tell(), size)
            return filler
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise
            time.sleep(0.01)
    raise AssertionError("the free space kept shrinking while the filler took it")


def put_event(logs, message):
    """PutLogEvents of one event into before-the-disk-fills/s; its HTTP status."""
    return status_of(
        logs.put_log_events,
        logGroupName="before-the-disk-fills",
        logStreamName="s",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": message}],
    )


def status_of(call, **kwargs):
    try:
        call(**kwargs)
        return 200
    except botocore.exceptions.ClientError as err:
        return err.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize("headroom", [HEADROOM_BYTES, 0], ids=["headroom", "no-headroom"])
def test_a_full_disk_refuses_calls_and_recovers_by_itself(new_server, small_disk, tmp_path, headroom):
    server = new_server(
        small_disk / "data", extra_env={"OPENTRAIL_DISK_HEADROOM_BYTES": str(headroom)}
    )
    server.output_path = tmp_path / "server.log"  # not on the disk that fills up
    server.start()
    logs = server.client("logs")
    logs.create_log_group(logGroupName="before-the-disk-fills")
    logs.create_log_stream(logGroupName="before-the-disk-fills", logStreamName="s")
    put_event(logs, "before")
    sqs = server.client("sqs")
    queue = sqs.create_queue(QueueName="before-the-disk-fills")["QueueUrl"]
    # Without the headroom check nothing is left free, so every store's next write fails.
    filler = fill(small_disk, SLACK_BYTES if headroom else 0)

    # Log events while the disk is full (without the headroom they reach the event store and
    # may poison it); none may be acknowledged and lost.
    # (Large enough to need new blocks: a small write may still fit a partly used one.)
    during = [f"during-{number}-" + "x" * 65_536 for number in range(10)]
    acknowledged = {message for message in during if put_event(logs, message) == 200}
    sent = {
        body
        for body in (f"m-{number}-" + "y" * 65_536 for number in range(10))
        if status_of(sqs.send_message, QueueUrl=queue, MessageBody=body) == 200
    }

    answered = {}
    failed_in_a_row = 0
    for number in range(3_000):
        name = f"g-{number}"
        answered[name] = status_of(logs.create_log_group, logGroupName=name)
        failed_in_a_row = failed_in_a_row + 1 if answered[name] != 200 else 0
        if failed_in_a_row >= 20:
            break
    statuses = set(answered.values())
    assert failed_in_a_row >= 20, f"the full disk never stopped the calls; answers: {statuses}"
    if headroom:
        # Refused before acting: every answer is a success or a 503, reads are refused as
        # well, and health says why.
        assert statuses <= {200, 503}, f"unexpected answers: {statuses}"
        assert status_of(logs.describe_log_groups) == 503
        status, body = health(server)
        assert status == 503, body
        assert "headroom" in body, body
    else:
        # The stores ran out of space mid-call: such a call fails (and is recorded as failed).
        assert statuses <= {200, 500, 503}, f"unexpected answers: {statuses}"

    filler.unlink()
    wait_for("the server to take calls again", lambda: health(server)[0] == 200, timeout=60)
    logs.create_log_group(logGroupName="after-space-returned")
    assert server.process.poll() is None, "the server exited"

    groups = set()
    for page in logs.get_paginator("describe_log_groups").paginate():
        groups.update(group["logGroupName"] for group in page["logGroups"])
    succeeded = {name for name, status in answered.items() if status == 200}
    assert succeeded <= groups, f"acknowledged groups lost: {sorted(succeeded - groups)[:10]}"
    # A refused call either never acted, or acted and its record was kept and appended once
    # space returned (the client was told 503 either way): no group may lack its record.

    recorded = set()
    for event in server.lookup(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateLogGroup"}]
    ):
        params = json.loads(event["CloudTrailEvent"]).get("requestParameters") or {}
        if params.get("logGroupName"):
            recorded.add(params["logGroupName"])
    assert groups <= recorded, f"groups without a record: {sorted(groups - recorded)[:10]}"
    assert {"before-the-disk-fills", "after-space-returned"} <= recorded

    # The log event store works again too (reopened if a failed write poisoned it).
    def put_after_recovery():
        return put_event(logs, "after") == 200

    wait_for("log events to be taken again", put_after_recovery, timeout=60)
    messages = {
        event["message"]
        for event in logs.get_log_events(
            logGroupName="before-the-disk-fills", logStreamName="s", startFromHead=True
        )["events"]
    }
    assert {"before", "after"} <= messages, messages
    lost = acknowledged - messages
    assert not lost, f"{len(lost)} acknowledged events lost"

    # So does the queue store: sent messages are all there, and new ones are taken.
    wait_for(
        "messages to be taken again",
        lambda: status_of(sqs.send_message, QueueUrl=queue, MessageBody="after") == 200,
        timeout=60,
    )
    received = set()
    for _ in range(50):
        batch = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=300, WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            break
        received.update(message["Body"] for message in batch)
    assert "after" in received
    missing = sent - received
    assert not missing, f"{len(missing)} acknowledged messages lost"
