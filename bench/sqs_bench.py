#!/usr/bin/env python3
"""Superseded by the Rust load generator `cargo bench -p opentrail-bench --bench sqs`
(crates/bench/benches/sqs.rs; figures in bench/README.md): this Python client spends most of a
2-core machine's CPU on itself. Kept for a quick check where no Rust build is at hand.

SQS throughput through the HTTP API: messages/s sent, received and deleted, with a pipelined
client (many keep-alive connections in several processes), opentrail and moto_server side by
side on the same machine.

Run with:

    cargo build -p opentrail            # or --release, and point OPENTRAIL_BIN at it
    python3 bench/sqs_bench.py [--seconds 10] [--processes 2] [--connections 32] [--batch 10]
                               [--targets opentrail,moto]

Each worker process drives many keep-alive connections from one asyncio loop (raw HTTP/1.1,
requests pre-built, identical requests signed once); each connection loops: SendMessageBatch (batch messages),
ReceiveMessage (up to batch, long polling off), DeleteMessageBatch. A message counts once it has
been sent, received and deleted. Every opentrail request is SigV4-signed (a small signer with the
signing key derived once) and is also recorded by the CloudTrail recorder, both fsync'd
(group commit), as in production. `--batch 1` uses SendMessage / DeleteMessage instead.
"""

import argparse
import asyncio
import datetime
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ACCESS_KEY = "AKIABENCHSQS"
SECRET_KEY = "opentrail-bench-secret"
REGION = "us-east-1"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early ({process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


class Signer:
    """SigV4 for awsJson POSTs to `/`, with the day's signing key cached."""

    def __init__(self, host):
        self.host = host
        self.day = None
        self.key = None

    def headers(self, target, body):
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        if day != self.day:
            key = ("AWS4" + SECRET_KEY).encode()
            for part in (day, REGION, "sqs", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self.day, self.key = day, key
        payload_hash = hashlib.sha256(body).hexdigest()
        canonical = (
            f"POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:{self.host}\n"
            f"x-amz-date:{amz_date}\nx-amz-target:AmazonSQS.{target}\n\n"
            f"content-type;host;x-amz-date;x-amz-target\n{payload_hash}"
        )
        scope = f"{day}/{REGION}/sqs/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Date": amz_date,
            "X-Amz-Target": f"AmazonSQS.{target}",
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
                f"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={signature}"
            ),
        }


class Client:
    def __init__(self, port):
        self.host = f"127.0.0.1:{port}"
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.signer = Signer(self.host)

    def call(self, target, payload):
        body = json.dumps(payload).encode()
        self.conn.request("POST", "/", body=body, headers=self.signer.headers(target, body))
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{target} answered {response.status}: {data[:300]!r}")
        return json.loads(data) if data else {}


class RawConnection:
    """A keep-alive HTTP/1.1 connection on asyncio streams that sends pre-built requests and
    reads responses by Content-Length: far cheaper per request than http.client."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def call(self, request_bytes):
        if self.writer is None:
            await self.open()
        self.writer.write(request_bytes)
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 60)
        status = int(head[9:12])
        length = None
        close = head.startswith(b"HTTP/1.0")
        for line in head.split(b"\r\n"):
            lower = line.lower()
            if lower.startswith(b"content-length:"):
                length = int(line[15:])
            elif lower.startswith(b"connection:"):
                close = b"close" in lower
        if length is None:
            body = await asyncio.wait_for(self.reader.read(), 60)
            close = True
        else:
            body = await asyncio.wait_for(self.reader.readexactly(length), 60)
        if close:
            # Servers without keep-alive (moto's development server) get a new connection.
            self.writer.close()
            self.writer = None
        if status != 200:
            raise RuntimeError(f"answered {status}: {body[:300]!r}")
        return body


def build_request(signer, host, target, payload):
    body = json.dumps(payload).encode()
    headers = signer.headers(target, body)
    lines = [f"POST / HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def worker_connection(port, queue_url, batch, stop_at, counter, errors):
    host = f"127.0.0.1:{port}"
    signer = Signer(host)
    connection = RawConnection(port)
    body = "x" * 200
    # Identical requests are signed once (a SigV4 signature stays valid for minutes).
    if batch == 1:
        send = build_request(signer, host, "SendMessage", {"QueueUrl": queue_url, "MessageBody": body})
    else:
        send = build_request(signer, host, "SendMessageBatch", {"QueueUrl": queue_url, "Entries": [
            {"Id": str(i), "MessageBody": body} for i in range(batch)]})
    receive = build_request(signer, host, "ReceiveMessage", {
        "QueueUrl": queue_url, "MaxNumberOfMessages": batch, "WaitTimeSeconds": 0})
    done = 0
    try:
        await connection.open()
        while time.monotonic() < stop_at:
            await connection.call(send)
            messages = json.loads(await connection.call(receive)).get("Messages", [])
            if not messages:
                continue
            if batch == 1:
                delete = build_request(signer, host, "DeleteMessage", {
                    "QueueUrl": queue_url, "ReceiptHandle": messages[0]["ReceiptHandle"]})
                await connection.call(delete)
            else:
                delete = build_request(signer, host, "DeleteMessageBatch", {"QueueUrl": queue_url, "Entries": [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]})
                result = json.loads(await connection.call(delete))
                if result.get("Failed"):
                    raise RuntimeError(f"delete failures: {result['Failed'][:2]}")
            done += len(messages)
    except Exception as err:  # reported by the parent
        errors.append(repr(err))
    counter.append(done)


def worker_process(port, queue_urls, connections, batch, start_at, stop_at, results):
    async def main():
        while time.monotonic() < start_at:
            await asyncio.sleep(0.001)
        counter, errors = [], []
        await asyncio.gather(*[
            worker_connection(port, queue_urls[i % len(queue_urls)], batch, stop_at, counter, errors)
            for i in range(connections)
        ])
        return sum(counter), errors[:3]

    results.put(asyncio.run(main()))


def run_load(port, args, label):
    setup = Client(port)
    queue_urls = [
        setup.call("CreateQueue", {"QueueName": f"bench-{label}-{i}"})["QueueUrl"].replace("localhost", "127.0.0.1")
        for i in range(args.queues)
    ]
    results = multiprocessing.Queue()
    start_at = time.monotonic() + 1.0
    stop_at = start_at + args.seconds
    processes = [
        multiprocessing.Process(target=worker_process, args=(port, queue_urls, args.connections, args.batch, start_at, stop_at, results))
        for _ in range(args.processes)
    ]
    for process in processes:
        process.start()
    total, errors = 0, []
    for _ in processes:
        done, errs = results.get()
        total += done
        errors += errs
    for process in processes:
        process.join()
    elapsed = time.monotonic() - start_at
    return total / elapsed, errors


def start_opentrail(tmp):
    binary = os.environ.get("OPENTRAIL_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug" / "opentrail")
    port = free_port()
    env = dict(os.environ, OPENTRAIL_ACCOUNT_ID="123456789012", OPENTRAIL_ROOT_ACCESS_KEY_ID=ACCESS_KEY,
               OPENTRAIL_ROOT_SECRET_ACCESS_KEY=SECRET_KEY, OPENTRAIL_LOG="warn")
    process = subprocess.Popen([binary, "serve", "--data-dir", str(Path(tmp) / "data"), "--listen", f"127.0.0.1:{port}"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(f"http://127.0.0.1:{port}/_opentrail/health", process)
    return port, process


def start_moto():
    port = free_port()
    process = subprocess.Popen([shutil.which("moto_server") or "moto_server", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(f"http://127.0.0.1:{port}/moto-api/", process)
    return port, process


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32, help="connections per process")
    parser.add_argument("--batch", type=int, default=10, choices=range(1, 11))
    parser.add_argument("--queues", type=int, default=4)
    parser.add_argument("--targets", default="opentrail,moto")
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for target in args.targets.split(","):
            port, process = start_opentrail(tmp) if target == "opentrail" else start_moto()
            try:
                rate, errors = run_load(port, args, target)
            finally:
                process.terminate()
                process.wait(timeout=30)
            figures[target] = rate
            print(f"{target:>10}: {rate:10.0f} messages/s sent+received+deleted "
                  f"({args.processes}x{args.connections} connections, batch {args.batch}, {args.seconds:.0f} s)")
            for error in errors:
                print(f"{'':>12}error: {error}")
    if "opentrail" in figures and figures.get("moto"):
        print(f"opentrail / moto_server: {figures['opentrail'] / figures['moto']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
