"""Times whole listings and their first pages (see bench/listings.sh)."""

import argparse
import json
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

p = argparse.ArgumentParser()
p.add_argument("--endpoint", required=True)
p.add_argument("--credentials", required=True)
p.add_argument("--grants", type=int, default=10000)
p.add_argument("--secrets", type=int, default=3000)
p.add_argument("--users", type=int, default=1000)
a = p.parse_args()
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = a.credentials
config = Config(max_pool_connections=32, retries={"max_attempts": 1}, read_timeout=300)
local = threading.local()


def client(service):
    if not hasattr(local, service):
        session = boto3.session.Session(profile_name="palisade", region_name="us-east-1")
        setattr(local, service, session.client(service, endpoint_url=a.endpoint, config=config))
    return getattr(local, service)


def parallel(fn, n):
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(fn, range(n)))


def median_ms(fn, n=7):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def whole(call, items, token_in, token_out, **kw):
    """Pages through a listing; returns (items, milliseconds)."""
    start, token, n = time.perf_counter(), None, 0
    while True:
        r = call(**kw, **({token_in: token} if token else {}))
        n += sum(len(r.get(k, [])) for k in items)
        token = r.get(token_out)
        if not token or r.get("Truncated") is False or r.get("IsTruncated") is False:
            return n, round((time.perf_counter() - start) * 1000)


def report(name, count, total_ms, first_ms):
    print(json.dumps({"listing": name, "items": count, "all_pages_ms": total_ms, "first_page_ms": first_ms}), flush=True)


kms = client("kms")
key = kms.create_key()["KeyMetadata"]["KeyId"]
root = "arn:aws:iam::" + client("sts").get_caller_identity()["Account"] + ":root"
parallel(lambda i: client("kms").create_grant(KeyId=key, GranteePrincipal=root, Operations=["Encrypt"], Name=f"g{i}"), a.grants)
n, ms = whole(kms.list_grants, ["Grants"], "Marker", "NextMarker", KeyId=key, Limit=100)
report("kms:ListGrants", n, ms, median_ms(lambda: kms.list_grants(KeyId=key, Limit=100)))

sm = client("secretsmanager")
parallel(lambda i: client("secretsmanager").create_secret(Name=f"s{i}", SecretString="v"), a.secrets)
n, ms = whole(sm.list_secrets, ["SecretList"], "NextToken", "NextToken", MaxResults=100)
report("secretsmanager:ListSecrets", n, ms, median_ms(lambda: sm.list_secrets(MaxResults=100)))

iam = client("iam")
parallel(lambda i: client("iam").create_user(UserName=f"u{i}"), a.users)
n, ms = whole(iam.get_account_authorization_details, ["UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"], "Marker", "Marker", MaxItems=100)
report("iam:GetAccountAuthorizationDetails", n, ms, median_ms(lambda: iam.get_account_authorization_details(MaxItems=100)))
