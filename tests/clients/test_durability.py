"""Durability when the disk fills, black-box: the data directory on a small tmpfs (the test mounts
one, and is skipped where it may not)."""

import json
import os
import subprocess
import tempfile
import time

import pytest
from botocore.exceptions import ClientError


def tmpfs(size):
    """A tmpfs of `size` mounted for one test (skipped where mounting is not allowed)."""
    mount = tempfile.mkdtemp(prefix="palisade-full-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mount], capture_output=True)
    if mounted.returncode != 0:
        os.rmdir(mount)
        pytest.skip("cannot mount a tmpfs here: " + mounted.stderr.decode(errors="replace").strip())
    yield mount
    subprocess.run(["umount", "-l", mount], capture_output=True)
    os.rmdir(mount)


@pytest.fixture
def small_disk():
    yield from tmpfs("4m")


def test_writes_acknowledged_around_a_full_disk_survive_a_restart(start_server, small_disk):
    # Bug: a COMMIT that failed on a full disk left its connection in the pool believing a
    # transaction was open; later writes on it were acknowledged (200, with their audit events)
    # but never committed, and were gone after a restart, while the other connections waited
    # on the write lock it held.
    data = os.path.join(small_disk, "data")
    s = start_server(data_dir=data)
    kms = s.client("kms")
    filler = os.path.join(small_disk, "filler")
    acked, refused = [], set()
    for cycle in range(3):
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1k"], capture_output=True)
        for n in range(12):
            try:
                acked.append(kms.create_key(Description=f"full-{cycle}-{n}")["KeyMetadata"]["KeyId"])
            except ClientError as e:
                refused.add(e.response["Error"]["Code"])
        os.remove(filler)
        time.sleep(0.5)
        for n in range(4):
            acked.append(kms.create_key(Description=f"after-{cycle}-{n}")["KeyMetadata"]["KeyId"])
    # A full disk is the service being unavailable, not an unknown failure.
    assert refused <= {"ServiceUnavailable"}, refused
    s.stop()
    again = start_server(data_dir=data)
    kms = again.client("kms")
    for key in acked:
        assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyId"] == key


def test_a_full_disk_never_leaves_a_change_without_its_event(start_server, small_disk):
    # Bugs: on a full disk the request whose event first failed had made its change anyway (a
    # key with no CreateKey event, answered 503, so a retry made a second key); the first
    # request after space was freed was refused too.
    data = os.path.join(small_disk, "data")
    s = start_server(data_dir=data)
    kms, ct = s.client("kms"), s.client("cloudtrail")
    filler = os.path.join(small_disk, "filler")
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1k"], capture_output=True)
    acked = []
    for n in range(30):
        try:
            acked.append(kms.create_key(Description=f"k{n}")["KeyMetadata"]["KeyId"])
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ServiceUnavailable"
    os.remove(filler)
    kms.list_keys()  # the first request after room was made is served
    keys = {k["KeyId"] for k in kms.get_paginator("list_keys").paginate().build_full_result()["Keys"]}
    assert keys == set(acked)
    created = set()
    for page in ct.get_paginator("lookup_events").paginate(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}]):
        for e in page["Events"]:
            record = json.loads(e["CloudTrailEvent"])
            if "errorCode" not in record:
                created.add(record["responseElements"]["keyMetadata"]["keyId"])
    assert created == keys


def test_refusals_on_a_full_disk_keep_the_connection_and_name_the_operation(start_server, small_disk):
    # Bugs: while refusing requests (fail-closed) the server never read their bodies, and hyper
    # dropped each keep-alive connection without a word: clients saw BrokenPipe or
    # ConnectionClosedError instead of the 503. And the refusals were recorded as eventName
    # "Unknown" from unknown.amazonaws.com, though the request named its operation and key.
    data = os.path.join(small_disk, "data")
    s = start_server(data_dir=data)
    kms, ct = s.client("kms"), s.client("cloudtrail")  # the fixture's clients do not retry
    kms.list_keys()
    filler = os.path.join(small_disk, "filler")
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1k"], capture_output=True)
    codes = []
    for n in range(40):
        try:
            kms.create_key(Description=f"refused-{n}" + "x" * 4000)
        except ClientError as e:
            codes.append(e.response["Error"]["Code"])
    # Every answer is an AWS error (a dropped connection raises something else and fails here).
    assert codes and set(codes) == {"ServiceUnavailable"}, codes
    os.remove(filler)
    kms.list_keys()
    unknown = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Unknown"}])
    assert unknown["Events"] == []


@pytest.fixture
def disk_20m():
    yield from tmpfs("20m")


def test_a_burst_of_large_changes_on_a_full_disk_never_outgrows_the_audit_room(start_server, disk_20m):
    # Bug: requests under way when the disk filled wrote more than the event log's room
    # (24 CreateKey calls with 31 KB policies at once): some were answered 503 "the audit
    # event could not be written" while their keys were kept, with no CreateKey event. Room
    # is now promised to each request before it runs, and one that does not fit is refused
    # before it changes anything. (The reviewer's timing is hard to hit on every machine:
    # this asserts the invariant under the same conditions; the room accounting itself is
    # tested in the event log's unit tests.)
    import threading

    data = os.path.join(disk_20m, "data")
    s = start_server(data_dir=data)
    root = "arn:aws:iam::123456789012:root"
    stmts = [{"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}]
    while len(json.dumps({"Version": "2012-10-17", "Statement": stmts})) < 31000:
        stmts.append({"Sid": f"S{len(stmts)}", "Effect": "Allow", "Principal": {"AWS": root},
                      "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"})
    policy = json.dumps({"Version": "2012-10-17", "Statement": stmts})
    clients = [s.client("kms") for _ in range(24)]
    for c in clients:
        c.list_aliases(Limit=1)
    # SQLite's write-ahead log grown first, as a busy server's is: the store then has room to
    # reuse when the disk is full, and the changes go through while the event log fills.
    grow = clients[0].create_key()["KeyMetadata"]["KeyId"]
    grown = []

    def put_policies(c):
        for _ in range(3):
            c.put_key_policy(KeyId=grow, PolicyName="default", Policy=policy)
        grown.append(c)

    threads = [threading.Thread(target=put_policies, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    acked_before = {grow}
    filler = os.path.join(disk_20m, "filler")
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1k"], capture_output=True)
    barrier = threading.Barrier(len(clients))
    acked, codes = [], []

    def create(c):
        barrier.wait()
        try:
            acked.append(c.create_key(Policy=policy)["KeyMetadata"]["KeyId"])
        except ClientError as e:
            codes.append(e.response["Error"]["Code"])

    threads = [threading.Thread(target=create, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(codes) <= {"ServiceUnavailable"}, codes
    os.remove(filler)
    kms, ct = s.client("kms"), s.client("cloudtrail")
    kms.list_keys()
    keys = {k["KeyId"] for k in kms.get_paginator("list_keys").paginate().build_full_result()["Keys"]}
    assert keys == set(acked) | acked_before
    created = set()
    for page in ct.get_paginator("lookup_events").paginate(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}]):
        for e in page["Events"]:
            record = json.loads(e["CloudTrailEvent"])
            if "errorCode" not in record:
                created.add(record["responseElements"]["keyMetadata"]["keyId"])
    assert created == keys


def test_a_file_size_limit_is_refused_as_a_full_disk_not_a_crash(start_server, tmp_path):
    # Bug: under a file-size limit (ulimit -f) the event log's write past it raised SIGXFSZ,
    # which ended the server without a word, and again at each restart before it listened.
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (3_000_000, 3_000_000))

    data = tmp_path / "data"

    def fill(server, prefix):
        iam = server.client("iam")
        for n in range(4000):
            try:
                iam.create_user(UserName=f"{prefix}{n}", Path="/" + "p" * 500 + "/")
            except ClientError as e:
                return e.response["Error"]["Code"]
        return None

    s = start_server(data_dir=data, preexec_fn=limit)
    assert fill(s, "u") == "ServiceUnavailable"
    assert s.proc.poll() is None, "the server died"
    s.stop()
    # It starts again under the same limit, serves what room is left, then refuses.
    again = start_server(data_dir=data, preexec_fn=limit)
    assert fill(again, "v") == "ServiceUnavailable"
    assert again.proc.poll() is None, "the restarted server died"


def test_the_open_file_limit_is_raised_to_the_hard_limit_and_a_low_one_is_reported(start_server):
    # Bug: the server kept the usual soft limit of 1,024 descriptors below its 4,096
    # connections; clients used them up and the event log could not start its next segment,
    # refusing every request with 503.
    import resource

    s = start_server(preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 2048)))
    limits = open(f"/proc/{s.proc.pid}/limits").read()
    soft = next(line.split()[3] for line in limits.splitlines() if line.startswith("Max open files"))
    assert soft == "2048", limits
    assert "open-file limit" in s.log_path.read_text()
    low = start_server(preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)))
    assert "the open-file limit (64) is below --max-connections" in low.log_path.read_text()
    assert low.client("sts").get_caller_identity()["Account"] == "123456789012"
