"""`opentrail match` end to end: the event-ruler conformance cases (valid and invalid
patterns) through the binary, the input shapes it reads, `--count`, `--envelope` and its exit
statuses."""

import collections
import gzip
import json
import subprocess

from conftest import REPO, binary

DATA = REPO / "crates" / "patterns" / "tests" / "data"


def run_match(*args, stdin=None):
    return subprocess.run(
        [binary(), "match", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_conformance_cases_through_the_binary(tmp_path):
    cases = json.loads((DATA / "cases.json").read_text())
    assert len(cases) > 300
    by_pattern = collections.OrderedDict()
    for case in cases:
        key = json.dumps(case["pattern"], sort_keys=True)
        by_pattern.setdefault(key, (case["pattern"], []))[1].append(case)
    failures = []
    for index, (pattern, group) in enumerate(by_pattern.values()):
        lines = [json.dumps(case["event"]) for case in group]
        events_file = tmp_path / f"events-{index}.jsonl"
        events_file.write_text("\n".join(lines) + "\n")
        result = run_match("--pattern", json.dumps(pattern), str(events_file))
        expected = [line for line, case in zip(lines, group) if case["match"]]
        printed = result.stdout.splitlines()
        want_status = 0 if expected else 1
        if printed != expected or result.returncode != want_status:
            failures.append(
                f"{group[0]['source']}: pattern {json.dumps(pattern)} printed {printed}, expected {expected} "
                f"(status {result.returncode}, stderr {result.stderr.strip()})"
            )
    assert not failures, "\n".join(failures[:20])


def test_invalid_patterns_exit_2_with_a_message():
    invalid = json.loads((DATA / "invalid-patterns.json").read_text())
    assert invalid
    for case in invalid:
        result = run_match("--pattern", json.dumps(case["pattern"]), stdin='{"x": 1}\n')
        assert result.returncode == 2, (case["pattern"], result.stdout)
        assert result.stdout == ""
        assert "invalid event pattern" in result.stderr, result.stderr
    result = run_match("--pattern", "{not json", stdin="{}\n")
    assert result.returncode == 2


def record(name, source="s3.amazonaws.com", read_only=False, i=0):
    return {
        "eventVersion": "1.11",
        "eventID": f"00000000-0000-0000-0000-00000000000{i}",
        "eventTime": "2026-01-02T03:04:05Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "eu-west-1",
        "eventType": "AwsApiCall",
        "readOnly": read_only,
        "managementEvent": True,
        "recipientAccountId": "123456789012",
        "userIdentity": {"type": "Root", "accountId": "123456789012"},
    }


def test_input_shapes_count_and_envelope(tmp_path):
    records = [record("CreateBucket", i=1), record("ListBuckets", read_only=True, i=2), record("CreateTrail", "cloudtrail.amazonaws.com", i=3)]
    trail_file = tmp_path / "trail.json.gz"
    trail_file.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    array_file = tmp_path / "array.json"
    array_file.write_text(json.dumps(records, indent=2))

    pattern = json.dumps({"source": ["aws.s3"], "detail-type": ["AWS API Call via CloudTrail"]})
    result = run_match("--envelope", "--pattern", pattern, str(trail_file))
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [event["detail"]["eventName"] for event in printed] == ["CreateBucket", "ListBuckets"]
    first = printed[0]
    assert (first["version"], first["source"], first["account"], first["region"]) == ("0", "aws.s3", "123456789012", "eu-west-1")
    assert first["time"] == "2026-01-02T03:04:05Z" and first["resources"] == []
    assert first["detail"] == records[0]

    result = run_match("--count", "--pattern", json.dumps({"eventName": [{"prefix": "Create"}]}), str(array_file), str(trail_file))
    assert (result.returncode, result.stdout.strip()) == (0, "4")

    # Without --envelope the records themselves are matched; stdin JSON lines keep their text.
    lines = "\n".join(json.dumps(r) for r in records) + "\n"
    result = run_match("--pattern", json.dumps({"eventSource": ["cloudtrail.amazonaws.com"]}), stdin=lines)
    assert result.returncode == 0
    assert result.stdout == json.dumps(records[2]) + "\n"

    result = run_match("--pattern", json.dumps({"eventName": ["Nothing"]}), stdin=lines)
    assert (result.returncode, result.stdout) == (1, "")
    result = run_match("--count", "--pattern", json.dumps({"eventName": ["Nothing"]}), stdin=lines)
    assert (result.returncode, result.stdout.strip()) == (1, "0")

    result = run_match("--pattern", "{\"a\": [1]}", stdin='{"a": 1}\nnot json\n')
    assert result.returncode == 2 and "line 2" in result.stderr
    result = run_match("--pattern", "{\"a\": [1]}", str(tmp_path / "missing.json"))
    assert result.returncode == 2 and "missing.json" in result.stderr
