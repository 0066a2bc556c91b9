"""Times LookupEvents queries against a server seeded by seed_events (see lookup-events.sh)."""

import argparse
import datetime
import json
import statistics
import time

import boto3
from botocore.config import Config

p = argparse.ArgumentParser()
p.add_argument("--endpoint", required=True)
p.add_argument("--events", type=int, required=True)
args = p.parse_args()

ct = boto3.client(
    "cloudtrail",
    endpoint_url=args.endpoint,
    region_name="us-east-1",
    aws_access_key_id="AKIABENCH",
    aws_secret_access_key="bench",
    config=Config(retries={"max_attempts": 0}),
)
now = datetime.datetime.now(datetime.timezone.utc)
key_arn = "arn:aws:kms:us-east-1:123456789012:key/000001f3-1111-2222-3333-444444444444"
first = ct.lookup_events(MaxResults=50)
queries = {
    "newest page": {},
    "second page (NextToken)": {"NextToken": first["NextToken"]},
    "EventName (1 in 40)": {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Encrypt3"}]},
    "Username (1 in 200)": {"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "user-7"}]},
    "AccessKeyId (1 in 200)": {"LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIA0000000000000007"}]},
    "EventSource (1 in 8)": {"LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": "sts.amazonaws.com"}]},
    "ReadOnly=false": {"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}]},
    "EventId (one event)": {"LookupAttributes": [{"AttributeKey": "EventId", "AttributeValue": first["Events"][10]["EventId"]}]},
    "ResourceName (1 in 1000)": {"LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": key_arn}]},
    "ResourceType": {"LookupAttributes": [{"AttributeKey": "ResourceType", "AttributeValue": "AWS::KMS::Key"}]},
    "one day, 15 days ago": {"StartTime": now - datetime.timedelta(days=16), "EndTime": now - datetime.timedelta(days=15)},
    "EventName matching nothing": {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "NoSuchEvent"}]},
}
for label, q in queries.items():
    times = []
    count = 0
    for _ in range(20):
        started = time.perf_counter()
        out = ct.lookup_events(MaxResults=50, **q)
        times.append((time.perf_counter() - started) * 1000)
        count = len(out["Events"])
    times.sort()
    print(json.dumps({
        "query": label,
        "events_in_store": args.events,
        "returned": count,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
    }))
