#!/usr/bin/env python3
"""Import throughput: `opentrail import` of local gzipped trail files into a running server.

Run with:

    cargo build --release -p opentrail
    python3 bench/import_bench.py [--records 500000] [--per-file 2000] [--concurrency 4,8]

Writes `--records` records as gzipped `{"Records":[...]}` files of `--per-file` records in the
AWS layout (`AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_
<YYYYMMDDTHHmmZ>_<16 alphanumerics>.json.gz`) under a temporary directory. The records are the
real CloudTrail example records of tests/data/cloudtrail-examples, each with a fresh eventID, an
eventTime in the last 7 days and one of two regions. For each `--concurrency` it starts a fresh
release `opentrail serve` (own data directory, on a real disk: `--dir`, default the system
temporary directory) and times `opentrail import DIR --concurrency N` from start to exit — every
record read, gunzipped, parsed, sent through the ingest API (PutAuditEvents, SigV4) and
acknowledged as durable in the journal. Then it waits until sampled eventIDs of the last files
are found by LookupEvents (the event history has indexed the import) and reports that time too,
with the CPU used by the importer and the server and the server's peak RSS. A second import of
the same files is timed as well: it must add nothing (the server drops eventIDs it holds).

The binary is `$OPENTRAIL_BIN`, else `${CARGO_TARGET_DIR:-<repo>/target}/release/opentrail`.
"""

import argparse
import datetime
import gzip
import json
import os
import random
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import botocore.config

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "tests" / "data" / "cloudtrail-examples"
ACCOUNT = "123456789012"
ACCESS_KEY = "AKIABENCHIMPORT"
SECRET_KEY = "opentrail-bench-secret"
REGIONS = ("us-east-1", "eu-west-1")
REQUIRED = ("eventVersion", "eventTime", "awsRegion", "eventID", "eventType", "eventSource", "eventName")
TICKS = os.sysconf("SC_CLK_TCK")


def binary():
    if os.environ.get("OPENTRAIL_BIN"):
        return os.environ["OPENTRAIL_BIN"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return str(target / "release" / "opentrail")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def examples():
    records = list(json.loads((EXAMPLES / "aws-docs-example-records.json").read_text())["Records"])
    for path in sorted((EXAMPLES / "stratus-red-team").glob("*.json")):
        records.extend(json.loads(path.read_text()))
    return [
        record
        for record in records
        if all(isinstance(record.get(field), str) and record[field] for field in REQUIRED)
        and record.get("eventType") != "AwsCloudTrailInsight"
    ]


def write_files(root, total, per_file, rng):
    """Writes the trail files; returns (files, bytes compressed, bytes of JSON, sample eventIDs)."""
    templates = examples()
    now = datetime.datetime.now(datetime.timezone.utc)
    files = compressed = raw = 0
    samples = []
    written = 0
    while written < total:
        region = REGIONS[files % len(REGIONS)]
        count = min(per_file, total - written)
        # One file covers a few minutes, as a trail's delivery does; files spread over 7 days.
        at = now - datetime.timedelta(seconds=60 + rng.random() * 7 * 86400)
        records = []
        for _ in range(count):
            record = dict(rng.choice(templates))
            record["eventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            when = at - datetime.timedelta(seconds=rng.random() * 300)
            record["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            record["awsRegion"] = region
            record["recipientAccountId"] = ACCOUNT
            records.append(record)
        text = json.dumps({"Records": records}, separators=(",", ":")).encode()
        day = at.strftime("%Y/%m/%d")
        stamp = at.strftime("%Y%m%dT%H%MZ")
        suffix = "".join(rng.choices(string.ascii_letters + string.digits, k=16))
        path = root / "AWSLogs" / ACCOUNT / "CloudTrail" / region / day
        path.mkdir(parents=True, exist_ok=True)
        data = gzip.compress(text, compresslevel=6)
        (path / f"{ACCOUNT}_CloudTrail_{region}_{stamp}_{suffix}.json.gz").write_bytes(data)
        files += 1
        compressed += len(data)
        raw += len(text)
        written += count
        samples.append((region, records[-1]["eventID"]))
    return files, compressed, raw, samples


def cpu_seconds(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return float("nan")


def peak_rss_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return float("nan")


class Server:
    def __init__(self, data_dir):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            OPENTRAIL_ACCOUNT_ID=ACCOUNT,
            OPENTRAIL_ROOT_ACCESS_KEY_ID=ACCESS_KEY,
            OPENTRAIL_ROOT_SECRET_ACCESS_KEY=SECRET_KEY,
            OPENTRAIL_LOG="warn",
        )
        self.log = open(data_dir.parent / f"server-{self.port}.log", "wb")
        self.process = subprocess.Popen(
            [binary(), "serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{self.port}"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"opentrail serve exited early ({self.process.returncode})")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/_opentrail/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("opentrail serve did not become healthy")

    def client(self, region):
        return boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=region
        ).client(
            "cloudtrail",
            endpoint_url=self.endpoint,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def run_import(server, root, concurrency):
    """Runs the importer; returns (wall seconds, importer CPU seconds, its summary line)."""
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION="us-east-1")
    env.pop("AWS_SESSION_TOKEN", None)
    started = time.monotonic()
    process = subprocess.Popen(
        [binary(), "import", "--endpoint-url", server.endpoint, "--concurrency", str(concurrency), str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    out = process.stdout.read().decode(errors="replace").strip()
    err = process.stderr.read().decode(errors="replace").strip()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"opentrail import exited {process.returncode}: {err or out}")
    return wall, usage.ru_utime + usage.ru_stime, out.splitlines()[-1] if out else ""


def wait_indexed(server, samples, timeout=600):
    """Seconds until every sampled eventID is found by LookupEvents."""
    clients = {region: server.client(region) for region in REGIONS}
    started = time.monotonic()
    pending = list(samples)
    while pending:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{len(pending)} sampled events not indexed after {timeout} s")
        region, event_id = pending[-1]
        found = clients[region].lookup_events(
            LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": event_id}]
        )["Events"]
        if found:
            pending.pop()
        else:
            time.sleep(0.05)
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--per-file", type=int, default=2_000)
    parser.add_argument("--concurrency", default="4,8", help="comma-separated importer concurrencies")
    parser.add_argument("--dir", default=None, help="parent of the temporary directory")
    args = parser.parse_args()
    if not Path(binary()).exists():
        sys.exit(f"{binary()} not found: cargo build --release -p opentrail (or set OPENTRAIL_BIN)")

    work = Path(tempfile.mkdtemp(prefix="opentrail-import-bench-", dir=args.dir))
    try:
        rng = random.Random(11)
        root = work / "logs"
        started = time.monotonic()
        files, compressed, raw, samples = write_files(root, args.records, args.per_file, rng)
        print(
            f"import: {args.records:,} records in {files:,} files ({compressed / 1e6:.1f} MB gzipped, "
            f"{raw / 1e6:.1f} MB JSON, {raw // max(args.records, 1)} bytes/record), written in "
            f"{time.monotonic() - started:.1f} s; {os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.2f}"
        )
        # Every 50th file's last record: spread over the import, the last file included.
        sampled = samples[::50] + [samples[-1]]
        header = (
            f"{'concurrency':>11} {'import s':>9} {'records/s':>10} {'importer CPU':>12} "
            f"{'indexed +s':>10} {'server CPU':>10} {'server peak RSS':>15} {'re-import s':>11} {'re-import/s':>11}"
        )
        rows = []
        for concurrency in [int(value) for value in args.concurrency.split(",") if value]:
            data_dir = work / f"data-{concurrency}"
            server = Server(data_dir)
            try:
                server_cpu = cpu_seconds(server.process.pid)
                wall, importer_cpu, summary = run_import(server, root, concurrency)
                indexed = wait_indexed(server, sampled)
                server_cpu = cpu_seconds(server.process.pid) - server_cpu
                again, _, again_summary = run_import(server, root, concurrency)
                region, event_id = samples[0]
                count = sum(
                    len(page["Events"])
                    for page in server.client(region)
                    .get_paginator("lookup_events")
                    .paginate(LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": event_id}])
                )
                if count != 1:
                    raise RuntimeError(f"after the re-import {event_id} is found {count} times")
                rows.append(
                    f"{concurrency:>11} {wall:>9.2f} {args.records / wall:>10,.0f} {importer_cpu:>10.1f} s "
                    f"{indexed:>10.2f} {server_cpu:>8.1f} s {peak_rss_mb(server.process.pid):>12.0f} MB "
                    f"{again:>11.2f} {args.records / again:>11,.0f}"
                )
                print(f"  concurrency {concurrency}: {summary}")
                print(f"  re-import: {again_summary}")
            finally:
                server.stop()
                shutil.rmtree(data_dir, ignore_errors=True)
        print(header)
        for row in rows:
            print(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
