#!/usr/bin/env python3
"""API call -> alarm notification latency, through the real HTTP API with boto3.

Run with (from the repository root, after `cargo build --release -p opentrail`):

    OPENTRAIL_BIN=$CARGO_TARGET_DIR/release/opentrail python3 bench/alarm_latency.py [--trials 20]

Starts `opentrail serve` on a free port with a fresh data directory, then for each trial makes a
10 s-period alarm (Sum >= 1, notBreaching) on its own metric whose ALARM action is an SNS topic
subscribed by an SQS queue, waits for the alarm to settle in OK, sends one PutMetricData and
measures the time until the ALARM notification can be received from the queue (long polling).
Prints p50 / p90 / max in milliseconds. The target in the issue is < 2 s with a 10 s period.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
import botocore.config

KEY, SECRET, ACCOUNT = "AKIABENCHALARMS", "bench-secret", "123456789012"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    binary = os.environ.get("OPENTRAIL_BIN", "target/release/opentrail")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, OPENTRAIL_ACCOUNT_ID=ACCOUNT, OPENTRAIL_ROOT_ACCESS_KEY_ID=KEY,
                   OPENTRAIL_ROOT_SECRET_ACCESS_KEY=SECRET, OPENTRAIL_LOG="warn")
        server = subprocess.Popen([binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"{endpoint}/_opentrail/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            session = boto3.session.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1")
            config = botocore.config.Config(retries={"max_attempts": 1})
            cw, sns, sqs = (session.client(s, endpoint_url=endpoint, config=config) for s in ("cloudwatch", "sns", "sqs"))
            topic = sns.create_topic(Name="bench-alarms")["TopicArn"]
            url = sqs.create_queue(QueueName="bench-alarms")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
            latencies = []
            for trial in range(args.trials):
                name = f"bench-{trial}"
                cw.put_metric_alarm(AlarmName=name, Namespace="Bench", MetricName=name, Statistic="Sum", Period=10,
                                    EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold",
                                    TreatMissingData="notBreaching", AlarmActions=[topic])
                deadline = time.monotonic() + 30
                while cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] != "OK":
                    if time.monotonic() > deadline:
                        sys.exit(f"{name} did not settle in OK")
                    time.sleep(0.05)
                started = time.monotonic()
                cw.put_metric_data(Namespace="Bench", MetricData=[{"MetricName": name, "Value": 1.0}])
                got = None
                while got is None and time.monotonic() - started < 30:
                    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                        body = json.loads(message["Body"])
                        if body["AlarmName"] == name and body["NewStateValue"] == "ALARM":
                            got = time.monotonic()
                if got is None:
                    sys.exit(f"{name}: no ALARM notification within 30 s")
                latencies.append((got - started) * 1000)
            latencies.sort()
            p90 = latencies[max(0, int(len(latencies) * 0.9) - 1)]
            print(f"alarm notification latency over {len(latencies)} trials (10 s period): "
                  f"p50 {statistics.median(latencies):.0f} ms, p90 {p90:.0f} ms, max {latencies[-1]:.0f} ms")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
