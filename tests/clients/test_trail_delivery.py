"""Trail delivery as a user sees it: a logging trail with log-file validation writes gzipped
CloudTrail log files, signed digest files and Merkle checkpoints into the delivery directory;
`palisade audit validate` passes them with the keys from ListPublicKeys, awscli's own digest
validator accepts our signatures, and every kind of tampering is reported."""

import base64
import gzip
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import binary

ACCOUNT = "123456789012"


def validate(dir, keys, *extra):
    result = subprocess.run(
        [binary(), "audit", "validate", "--dir", str(dir), "--public-keys", str(keys), "--format", "json", *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def findings(report):
    return [(r["status"], r["path"], r.get("detail")) for r in report["results"] if r["status"] != "valid"]


def files(root, area, suffix=".json.gz"):
    return sorted(p for p in root.rglob(f"*{suffix}") if f"/{area}/" in str(p))


def delivered_names(root):
    return [r["eventName"] for p in files(root, "CloudTrail") for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]


@pytest.fixture
def delivered(start_server):
    """A trail that logged some calls, delivered and digested them, then stopped."""
    s = start_server("--trail-delivery-seconds", "1", "--trail-digest-seconds", "2")
    ct = s.client("cloudtrail")
    ct.create_trail(Name="main", S3BucketName="audit-logs", S3KeyPrefix="org", EnableLogFileValidation=True)
    ct.start_logging(Name="main")
    kms = s.client("kms")
    key = kms.create_key(Description="delivered")["KeyMetadata"]["Arn"]
    kms.encrypt(KeyId=key, Plaintext=b"plaintext-that-must-not-be-delivered")
    time.sleep(2.5)  # a delivery and a digest
    s.client("sts").get_caller_identity()
    with pytest.raises(ClientError):
        kms.describe_key(KeyId="alias/does-not-exist")
    time.sleep(1.5)  # another log file, not yet digested
    ct.stop_logging(Name="main")  # delivers and digests what is left
    for _ in range(50):  # and, moments later, StopLogging's own event
        if "StopLogging" in delivered_names(s.data_dir / "trails"):
            break
        time.sleep(0.2)
    keys = Path(s.dir.name) / "public-keys.json"
    keys.write_text(s.aws("cloudtrail", "list-public-keys").stdout)
    return s, s.data_dir / "trails", keys


def test_a_logging_trail_delivers_cloudtrail_files_that_validate(delivered):
    s, root, keys = delivered
    base = root / "audit-logs" / "org" / "AWSLogs" / ACCOUNT
    logs = files(base, "CloudTrail")
    digests = files(base, "CloudTrail-Digest")
    assert len(logs) >= 2 and len(digests) >= 2
    name = logs[0].name
    assert name.startswith(f"{ACCOUNT}_CloudTrail_us-east-1_") and name.endswith(".json.gz")
    assert logs[0].parent.relative_to(base / "CloudTrail" / "us-east-1").parts[0].isdigit()
    records = [r for p in logs for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]
    names = [r["eventName"] for r in records]
    assert "CreateKey" in names and "Encrypt" in names and "GetCallerIdentity" in names
    failed = [r for r in records if r["eventName"] == "DescribeKey"]
    assert failed and failed[0]["errorCode"] == "NotFoundException"
    for p in logs:
        assert b"plaintext-that-must-not-be-delivered" not in gzip.decompress(p.read_bytes())
    # Bug: trail files were 0644 in 0755 directories, readable by every local user.
    for p in logs + digests:
        assert p.stat().st_mode & 0o777 == 0o600, p
        assert p.parent.stat().st_mode & 0o777 == 0o700, p.parent
    digest = json.loads(gzip.decompress(digests[-1].read_bytes()))
    assert digest["digestSignatureAlgorithm"] == "SHA256withRSA"
    assert digest["digestS3Bucket"] == "audit-logs"
    assert digest["previousDigestSignature"]
    first = json.loads(gzip.decompress(digests[0].read_bytes()))
    assert first["previousDigestSignature"] is None
    assert first["logFiles"][0]["hashAlgorithm"] == "SHA-256"
    # Regression: each digest's range began at its own oldest event, leaving gaps; they are
    # consecutive (digest names sort by time).
    ranges = [json.loads(gzip.decompress(d.read_bytes())) for d in digests]
    for before, after in zip(ranges, ranges[1:]):
        assert after["digestStartTime"] == before["digestEndTime"]

    status = s.client("cloudtrail").get_trail_status(Name="main")
    assert not status["IsLogging"]
    assert "LatestDeliveryTime" in status and "LatestDigestDeliveryTime" in status

    code, report = validate(root, keys)
    assert code == 0, findings(report)
    kinds = {r["kind"] for r in report["results"]}
    assert kinds == {"log-file", "digest", "checkpoint"}


def test_a_stopped_trail_delivers_its_stop_and_nothing_recorded_after_it(delivered):
    # Regression: StopLogging delivered before its own event was written, so no trail ever
    # showed it; and a second StopLogging delivered what was recorded while the trail was
    # stopped.
    s, root, keys = delivered
    ct = s.client("cloudtrail")
    s.client("iam").list_users(MaxItems=77)
    ct.stop_logging(Name="main")
    time.sleep(3.5)  # past the final delivery of a first stop
    names = delivered_names(root)
    assert names.count("StopLogging") == 1 and names[-1] == "StopLogging"
    assert "ListUsers" not in names
    code, report = validate(root, keys)
    assert code == 0, findings(report)


def test_awscli_s_own_validator_accepts_our_digest_signatures(delivered):
    from awscli.customizations.cloudtrail.validation import (
        DigestProvider,
        Sha256RSADigestValidator,
    )

    s, root, keys = delivered
    listed = json.loads(keys.read_text())["PublicKeyList"]
    assert len(listed) == 1 and len(listed[0]["Fingerprint"]) == 32
    provider = DigestProvider(None, ACCOUNT, "main", "us-east-1", "us-east-1")
    import re

    pattern = re.compile(provider._create_digest_key_regex("org"))
    for path in files(root, "CloudTrail-Digest"):
        key = str(path.relative_to(root / "audit-logs"))
        assert pattern.match(key), key
        raw = gzip.decompress(path.read_bytes())
        data = json.loads(raw)
        meta = json.loads(path.with_name(path.name + ".metadata").read_text())
        data["_signature"] = meta["signature"]
        data["_signature_algorithm"] = meta["signature-algorithm"]
        assert data["digestPublicKeyFingerprint"] == listed[0]["Fingerprint"]
        # Raises DigestSignatureError on a bad signature.
        Sha256RSADigestValidator().validate("audit-logs", key, listed[0]["Value"], data, raw)


@pytest.mark.parametrize(
    "tamper",
    [
        "changed-byte",
        "truncated",
        "deleted-digest",
        "deleted-newest-log",
        # Regressions: a log file in no digest was reported valid even when nothing covered it,
        # so a forged or replayed file, or any edit after deleting the digests and checkpoints,
        # passed.
        "forged-next-file",
        "replayed-under-another-day",
        "evidence-deleted-then-edited",
    ],
)
def test_the_validator_reports_tampering(delivered, tamper, tmp_path):
    _, root, keys = delivered
    copy = tmp_path / "trails"
    shutil.copytree(root, copy)
    logs = files(copy, "CloudTrail")
    if tamper == "changed-byte":
        body = gzip.decompress(logs[0].read_bytes()).replace(b"CreateKey", b"CreateKez", 1)
        logs[0].write_bytes(gzip.compress(body))
        expect = "modified"
    elif tamper == "truncated":
        raw = logs[0].read_bytes()
        logs[0].write_bytes(raw[: len(raw) // 2])
        expect = "modified"
    elif tamper == "deleted-digest":
        files(copy, "CloudTrail-Digest")[0].unlink()
        expect = "missing"
    elif tamper == "deleted-newest-log":
        logs[-1].unlink()
        expect = "missing"
    elif tamper == "forged-next-file":
        name = logs[-1].name
        seq = int(name[-16:-8], 16) + 1
        logs[-1].with_name(f"{name[:-16]}{seq:08x}.json.gz").write_bytes(logs[0].read_bytes())
        expect = "unverified"
    elif tamper == "replayed-under-another-day":
        other_day = logs[0].parent.parent / "28"
        other_day.mkdir(exist_ok=True)
        (other_day / logs[0].name).write_bytes(logs[0].read_bytes())
        expect = "modified"
    else:
        for area in ("CloudTrail-Digest", "Palisade-Checkpoint"):
            for f in (copy / "audit-logs").rglob("*"):
                if f.is_file() and f"/{area}/" in str(f):
                    f.unlink()
        body = gzip.decompress(logs[0].read_bytes()).replace(b"CreateKey", b"CreateKez", 1)
        logs[0].write_bytes(gzip.compress(body))
        expect = "unverified"
    code, report = validate(copy, keys)
    assert code == 1
    assert expect in {f[0] for f in findings(report)}, findings(report)
    # The untouched original still validates.
    assert validate(root, keys)[0] == 0


def run_validate(dir, keys, *extra):
    """The validator's exit status, JSON output (or None) and error text, whatever the status."""
    result = subprocess.run(
        [binary(), "audit", "validate", "--dir", str(dir), "--public-keys", str(keys), "--format", "json", *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, json.loads(result.stdout) if result.stdout else None, result.stderr


def remove_area(root, area):
    for f in list(root.rglob("*")):
        if f.is_file() and f"/{area}/" in str(f):
            f.unlink()


def test_a_digest_that_fails_its_signature_vouches_for_no_log_file(delivered, tmp_path):
    # Bug: log files were judged against a digest whose signature failed: a log file edited,
    # its new hash written into its digest and the checkpoints deleted read as valid; and with
    # no trusted key at all every log file was valid.
    _, root, keys = delivered
    copy = tmp_path / "trails"
    shutil.copytree(root, copy)
    remove_area(copy, "Palisade-Checkpoint")
    digest = files(copy, "CloudTrail-Digest")[0]
    data = json.loads(gzip.decompress(digest.read_bytes()))
    listed = data["logFiles"][0]
    target = copy / listed["s3Bucket"] / listed["s3Object"]
    body = gzip.decompress(target.read_bytes()).replace(b"CreateKey", b"DeleteKey", 1)
    target.write_bytes(gzip.compress(body))
    import hashlib

    listed["hashValue"] = hashlib.sha256(body).hexdigest()
    digest.write_bytes(gzip.compress(json.dumps(data).encode()))
    code, report = validate(copy, keys)
    assert code == 1
    by_path = {r["path"]: r["status"] for r in report["results"]}
    assert by_path[str(target.relative_to(copy))] == "unverified", findings(report)
    assert by_path[str(digest.relative_to(copy))] == "badly-signed", findings(report)

    none = tmp_path / "none.json"
    none.write_text(json.dumps({"PublicKeyList": []}))
    code, report = validate(root, none)
    assert code == 1
    logs = [r for r in report["results"] if r["kind"] == "log-file"]
    assert logs and all(r["status"] == "unverified" for r in logs), findings(report)


def test_deleted_checkpoints_are_missing(delivered, tmp_path):
    # Bug: removing every checkpoint went unnoticed (VALID, exit 0), though the trail writes
    # one after each digest.
    _, root, keys = delivered
    copy = tmp_path / "trails"
    shutil.copytree(root, copy)
    remove_area(copy, "Palisade-Checkpoint")
    code, report = validate(copy, keys)
    assert code == 1
    assert [(f[0], f[1]) for f in findings(report)] == [
        ("missing", f"audit-logs/org/AWSLogs/{ACCOUNT}/Palisade-Checkpoint/us-east-1/")
    ], findings(report)


def test_a_deleted_digest_is_one_finding_under_its_own_path(delivered, tmp_path):
    # Bug: a deleted digest was reported twice, once under a path without its bucket.
    _, root, keys = delivered
    copy = tmp_path / "trails"
    shutil.copytree(root, copy)
    for victim in (files(copy, "CloudTrail-Digest")[0], files(copy, "CloudTrail-Digest")[-1]):
        saved = victim.read_bytes()
        victim.unlink()
        code, report = validate(copy, keys)
        assert code == 1
        assert [(f[0], f[1]) for f in findings(report)] == [("missing", str(victim.relative_to(copy)))], findings(report)
        victim.write_bytes(saved)


def test_usage_errors_name_what_to_give_instead(delivered, tmp_path):
    # Bugs: --dir at or below AWSLogs read as an empty directory (exit 1), and a key list whose
    # key is not an RSA key was accepted, making every digest badly signed.
    _, root, keys = delivered
    for below in ("AWSLogs", f"AWSLogs/{ACCOUNT}", f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1"):
        code, out, err = run_validate(root / "audit-logs" / "org" / below, keys)
        assert code == 2 and out is None, err
        assert err.rstrip().endswith(f"(the server's --trail-dir), {root.resolve()}"), err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"PublicKeyList": [{"Value": "AAAA"}]}))
    code, out, err = run_validate(root, bad)
    assert code == 2 and "PublicKeyList[0]" in err and '"AAAA"' in err, err
    # Nothing to validate: the JSON says why, not only stderr.
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run_validate(empty, keys)
    assert code == 1 and out["valid"] is False
    assert out["reason"] == "no log files, digests or checkpoints found", out


def test_a_key_not_from_list_public_keys_is_badly_signed(delivered, tmp_path):
    _, root, _ = delivered
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"PublicKeyList": [{"Value": base64.b64encode(der).decode()}]}))
    code, report = validate(root, keys)
    assert code == 1
    assert {"badly-signed"} <= {f[0] for f in findings(report)}


def test_bucket_names_that_are_not_s3_names_are_refused(server):
    ct = server.client("cloudtrail")
    # Regression: an IP address was taken as a bucket name.
    for bad in ["../escape", "UPPER", "a", "192.168.1.1"]:
        with pytest.raises(ClientError) as e:
            ct.create_trail(Name="trail-one", S3BucketName=bad)
        assert e.value.response["Error"]["Code"] == "InvalidS3BucketNameException"
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name="trail-one", S3BucketName="fine-bucket", S3KeyPrefix="a/../../b")
    assert e.value.response["Error"]["Code"] == "InvalidS3PrefixException"


def test_requests_are_refused_while_events_cannot_be_written(start_server):
    """--audit-fail-closed (the strict-mode default): the audit log's directory is gone, so the
    next segment cannot be created and the audit write fails; requests are refused until it can
    write again, and events that were refused are not in the log."""
    # Tiny segments: every group of events starts a new segment file.
    server = start_server("--audit-segment-bytes", "1")
    sts = server.client("sts")
    sts.get_caller_identity()
    events = server.data_dir / "events"
    moved = server.data_dir / "events-moved"
    events.rename(moved)
    events.write_text("not a directory")
    with pytest.raises(ClientError) as e:
        sts.get_caller_identity()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    # Refused at once now, before running, with a message that says why.
    with pytest.raises(ClientError) as e:
        server.client("kms").create_key(Description="must not be created")
    assert e.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert "audit" in e.value.response["Error"]["Message"]
    events.unlink()
    moved.rename(events)
    # The refused request's own event was the probe that found the log writable again.
    for _ in range(3):
        try:
            sts.get_caller_identity()
            break
        except ClientError:
            time.sleep(0.2)
    sts.get_caller_identity()
    assert server.client("kms").list_keys()["Keys"] == []
    names = [
        e["EventName"]
        for e in server.client("cloudtrail").lookup_events(MaxResults=50)["Events"]
    ]
    assert names.count("GetCallerIdentity") >= 2


def test_a_multi_region_trail_delivers_and_signs_per_region(start_server, tmp_path):
    s = start_server("--trail-delivery-seconds", "1", "--trail-digest-seconds", "3600")
    ct = s.client("cloudtrail")
    ct.create_trail(Name="everywhere", S3BucketName="org-trail", IsMultiRegionTrail=True, EnableLogFileValidation=True)
    ct.create_trail(Name="home-only", S3BucketName="home-trail")
    ct.start_logging(Name="everywhere")
    ct.start_logging(Name="home-only")
    s.client("kms", region="eu-west-1").create_key(Description="in eu-west-1")
    s.client("kms").create_key(Description="in us-east-1")
    time.sleep(2)
    ct.stop_logging(Name="everywhere")
    ct.stop_logging(Name="home-only")
    root = s.data_dir / "trails"
    for _ in range(50):  # the stops' own events follow in a last file
        if delivered_names(root / "org-trail").count("StopLogging") == 2:
            break
        time.sleep(0.2)
    base = root / "org-trail" / "AWSLogs" / ACCOUNT
    regions = {p.parent.relative_to(base / "CloudTrail").parts[0] for p in files(base, "CloudTrail")}
    assert {"us-east-1", "eu-west-1"} <= regions
    eu = [r for p in (base / "CloudTrail" / "eu-west-1").rglob("*.json.gz") for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]
    assert {r["awsRegion"] for r in eu} == {"eu-west-1"}
    assert files(base, "CloudTrail-Digest")
    # The single-Region trail has no eu-west-1 events, and no digests (validation is off).
    home = root / "home-trail" / "AWSLogs" / ACCOUNT
    assert not (home / "CloudTrail" / "eu-west-1").exists()
    assert files(home, "CloudTrail") and not files(home, "CloudTrail-Digest")
    # Each Region signs with its own key; the validator needs both.
    keys = {}
    for region in ("us-east-1", "eu-west-1"):
        listed = s.client("cloudtrail", region=region).list_public_keys()["PublicKeyList"]
        assert len(listed) == 1
        keys[region] = base64.b64encode(listed[0]["Value"]).decode()
    assert keys["us-east-1"] != keys["eu-west-1"]
    lists = {}
    for region, key in keys.items():
        lists[region] = tmp_path / f"{region}.json"
        lists[region].write_text(json.dumps({"PublicKeyList": [{"Value": key}]}))
    code, report = validate(root, lists["us-east-1"])
    assert code == 1
    unsigned = [detail for status, _, detail in findings(report) if status == "badly-signed"]
    assert any("eu-west-1" in d for d in unsigned)
    # Each Region's list, as `list-public-keys --region` prints it, given once per Region.
    code, report = validate(root, lists["us-east-1"], "--public-keys", str(lists["eu-west-1"]))
    assert code == 0, findings(report)


def test_a_log_file_not_yet_in_a_digest_cannot_be_changed_around_its_records(start_server, tmp_path):
    # Regression: checkpoints hashed a file's records, not the file, so until its digest (hourly
    # by default) a member added beside "Records" went unnoticed. They now sign the files too.
    s = start_server("--trail-delivery-seconds", "1", "--trail-digest-seconds", "3600")
    ct = s.client("cloudtrail")
    ct.create_trail(Name="main", S3BucketName="audit-logs", EnableLogFileValidation=True)
    ct.start_logging(Name="main")
    s.client("kms").create_key(Description="undigested")
    time.sleep(2.5)
    keys = tmp_path / "keys.json"
    keys.write_text(s.aws("cloudtrail", "list-public-keys").stdout)
    root = s.data_dir / "trails"
    logs = files(root, "CloudTrail")
    assert logs and validate(root, keys)[0] == 0
    copy = tmp_path / "trails"
    shutil.copytree(root, copy)
    target = files(copy, "CloudTrail")[0]
    body = json.loads(gzip.decompress(target.read_bytes()))
    body["Injected"] = {"eventName": "DeleteTrail"}
    target.write_bytes(gzip.compress(json.dumps(body).encode()))
    code, report = validate(copy, keys)
    assert code == 1
    statuses = {f[0] for f in findings(report)}
    assert "unverified" in statuses and "modified" in statuses, findings(report)


def wait_for_stop(root, name="StopLogging"):
    for _ in range(50):
        if name in delivered_names(root):
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} was never delivered")


def test_event_selectors_leave_out_the_sources_they_exclude(start_server):
    # Regression: ExcludeManagementEventSources and advanced eventSource NotEquals were
    # accepted and ignored, so KMS events were still delivered.
    s = start_server("--trail-delivery-seconds", "1")
    ct = s.client("cloudtrail")
    ct.create_trail(Name="basic", S3BucketName="basic-logs")
    ct.put_event_selectors(
        TrailName="basic",
        EventSelectors=[{"IncludeManagementEvents": True, "ExcludeManagementEventSources": ["kms.amazonaws.com"]}],
    )
    ct.create_trail(Name="advanced", S3BucketName="advanced-logs")
    ct.put_event_selectors(
        TrailName="advanced",
        AdvancedEventSelectors=[
            {
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Management"]},
                    {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]},
                ]
            }
        ],
    )
    ct.start_logging(Name="basic")
    ct.start_logging(Name="advanced")
    s.client("kms").create_key(Description="not for these trails")
    s.client("sts").get_caller_identity()
    ct.stop_logging(Name="basic")
    ct.stop_logging(Name="advanced")
    root = s.data_dir / "trails"
    for bucket in ("basic-logs", "advanced-logs"):
        wait_for_stop(root / bucket)
        names = delivered_names(root / bucket)
        assert "GetCallerIdentity" in names and "CreateKey" not in names, (bucket, names)


def test_event_selectors_cloudtrail_refuses_are_refused(server):
    # Regression: eventSource Equals (a trail narrowed to one service's management events),
    # which CloudTrail refuses, was accepted.
    ct = server.client("cloudtrail")
    ct.create_trail(Name="narrow", S3BucketName="narrow-logs")
    management = {"Field": "eventCategory", "Equals": ["Management"]}
    for selectors in [
        {"AdvancedEventSelectors": [{"FieldSelectors": [management, {"Field": "eventSource", "Equals": ["kms.amazonaws.com"]}]}]},
        {"AdvancedEventSelectors": [{"FieldSelectors": [management, {"Field": "eventSource", "NotEquals": ["iam.amazonaws.com"]}]}]},
        {"AdvancedEventSelectors": [{"FieldSelectors": [management, {"Field": "eventName", "Equals": ["Decrypt"]}]}]},
        {"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "NotEquals": ["Data"]}]}]},
        {"AdvancedEventSelectors": [{"FieldSelectors": [management, {"Field": "readOnly", "NotEquals": ["true"]}]}]},
        {"EventSelectors": [{"ExcludeManagementEventSources": ["iam.amazonaws.com"]}]},
    ]:
        with pytest.raises(ClientError) as e:
            ct.put_event_selectors(TrailName="narrow", **selectors)
        assert e.value.response["Error"]["Code"] == "InvalidEventSelectorsException", selectors
    ct.put_event_selectors(
        TrailName="narrow",
        AdvancedEventSelectors=[{"FieldSelectors": [management, {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com", "rdsdata.amazonaws.com"]}]}],
    )


def test_events_of_the_second_logging_starts_or_stops_in_stay_out(start_server):
    # Regression: start and stop were kept in whole seconds, so a call made in the same second
    # just before StartLogging, or just after StopLogging, was delivered.
    s = start_server("--trail-delivery-seconds", "1")
    ct = s.client("cloudtrail")
    ct.create_trail(Name="edges", S3BucketName="edge-logs")
    iam = s.client("iam")
    iam.list_users(MaxItems=11)
    ct.start_logging(Name="edges")
    iam.list_users(MaxItems=22)
    ct.stop_logging(Name="edges")
    iam.list_users(MaxItems=33)
    root = s.data_dir / "trails"
    wait_for_stop(root)
    time.sleep(2.5)
    records = [r for p in files(root, "CloudTrail") for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]
    listed = [r["requestParameters"]["maxItems"] for r in records if r["eventName"] == "ListUsers"]
    assert listed == [22], listed
    names = [r["eventName"] for r in records]
    assert names.count("StartLogging") == 1 and names[-1] == "StopLogging", names


def test_a_trail_created_again_under_its_old_name_leaves_the_old_history_valid(start_server):
    # Regression: the recreated trail's files took the first one's names (file tags came from
    # the ARN alone and the sequence restarted), so the untouched old history was reported as
    # tampered with.
    s = start_server("--trail-delivery-seconds", "1")
    ct = s.client("cloudtrail")
    root = s.data_dir / "trails"
    for round in range(2):
        ct.create_trail(Name="again", S3BucketName="again-logs", EnableLogFileValidation=True)
        ct.start_logging(Name="again")
        s.client("sts").get_caller_identity()
        ct.stop_logging(Name="again")
        for _ in range(50):
            if delivered_names(root).count("StopLogging") == round + 1:
                break
            time.sleep(0.2)
        time.sleep(0.5)
        if round == 0:
            ct.delete_trail(Name="again")
    keys = Path(s.dir.name) / "public-keys.json"
    keys.write_text(s.aws("cloudtrail", "list-public-keys").stdout)
    assert delivered_names(root).count("StopLogging") == 2
    code, report = validate(root, keys)
    assert code == 0, findings(report)


def test_a_restart_right_after_a_stop_still_delivers_the_stop(start_server):
    # Regression: StopLogging's own event is delivered moments after the stop; a StartLogging
    # before that delivery moved the trail past it, so the files showed StartLogging twice in a
    # row and never the StopLogging.
    s = start_server("--trail-delivery-seconds", "5")
    ct = s.client("cloudtrail")
    ct.create_trail(Name="flip", S3BucketName="flip-logs")
    ct.start_logging(Name="flip")
    ct.stop_logging(Name="flip")
    ct.start_logging(Name="flip")
    s.client("sts").get_caller_identity()
    ct.stop_logging(Name="flip")
    root = s.data_dir / "trails"
    for _ in range(100):
        if delivered_names(root).count("StopLogging") == 2:
            break
        time.sleep(0.2)
    names = [n for n in delivered_names(root) if n in ("StartLogging", "StopLogging", "GetCallerIdentity")]
    assert names == ["StartLogging", "StopLogging", "StartLogging", "GetCallerIdentity", "StopLogging"], names


def test_a_failed_delivery_is_not_reported_as_delivered(start_server):
    # Regression: LatestDeliveryTime and LatestDeliveryAttemptSucceeded were set before the
    # files were written, so a delivery that failed read as the latest success; and the error
    # was a generic unknown failure.
    s = start_server("--trail-delivery-seconds", "1")
    ct = s.client("cloudtrail")
    root = s.data_dir / "trails"
    root.mkdir(parents=True, exist_ok=True)
    (root / "blocked-logs").write_text("a file where the bucket's folder should be")
    ct.create_trail(Name="blocked", S3BucketName="blocked-logs")
    ct.start_logging(Name="blocked")
    s.client("sts").get_caller_identity()
    for _ in range(50):
        status = ct.get_trail_status(Name="blocked")
        if "LatestDeliveryError" in status:
            break
        time.sleep(0.2)
    assert "not a directory" in status["LatestDeliveryError"], status
    assert str(root) not in status["LatestDeliveryError"]
    assert "LatestDeliveryTime" not in status and status["LatestDeliveryAttemptSucceeded"] == ""
    assert status["LatestDeliveryAttemptTime"] != ""
    (root / "blocked-logs").unlink()
    for _ in range(50):
        status = ct.get_trail_status(Name="blocked")
        if "LatestDeliveryTime" in status:
            break
        time.sleep(0.2)
    assert "LatestDeliveryError" not in status and status["LatestDeliveryAttemptSucceeded"] != ""
    assert "GetCallerIdentity" in delivered_names(root)


def test_a_store_restored_with_an_older_event_log_still_delivers_new_events(start_server, tmp_path):
    # Regression: a data dir copied while the server ran (cp -a and tar copy events/ before
    # palisade.db) came back with trails that had delivered past the log's end; new events took
    # those positions again and reached no trail, silently.
    s = start_server("--trail-delivery-seconds", "1")
    ct = s.client("cloudtrail")
    ct.create_trail(Name="restore", S3BucketName="restore-logs")
    ct.start_logging(Name="restore")
    root = s.data_dir / "trails"

    def wait_for(prefix, n):
        if not until(lambda: sum(u.startswith(prefix) for u in delivered_users(root)) == n):
            raise AssertionError(f"{prefix}: {delivered_users(root)}")

    iam = s.client("iam")
    for i in range(3):
        iam.create_user(UserName=f"before{i}")
    wait_for("before", 3)
    s.stop()
    shutil.copytree(s.data_dir / "events", tmp_path / "events")
    again = start_server("--trail-delivery-seconds", "1", data_dir=s.data_dir)
    for i in range(20):
        again.client("iam").create_user(UserName=f"between{i}")
    wait_for("between", 20)
    again.stop()
    shutil.rmtree(s.data_dir / "events")
    shutil.copytree(tmp_path / "events", s.data_dir / "events")
    restored = start_server("--trail-delivery-seconds", "1", data_dir=s.data_dir)
    for i in range(3):
        restored.client("iam").create_user(UserName=f"after{i}")
    wait_for("after", 3)
    assert "delivered events past the log's end" in restored.log_path.read_text()


def test_a_copy_of_the_data_dir_never_replaces_files_the_original_delivered(start_server, tmp_path):
    # Regression: a restored copy running beside the original with the same trail directory
    # wrote files under the names the original had delivered, replacing them (the
    # replacements then validated as the originals).
    trails = tmp_path / "shared-trails"
    args = ("--trail-delivery-seconds", "1", "--trail-dir", str(trails))
    s = start_server(*args)
    ct = s.client("cloudtrail")
    ct.create_trail(Name="shared", S3BucketName="shared-logs")
    ct.start_logging(Name="shared")
    s.client("iam").create_user(UserName="first")
    until(lambda: "CreateUser" in delivered_names(trails))
    s.stop()
    clone = tmp_path / "clone"
    shutil.copytree(s.data_dir, clone)
    original = start_server(*args, data_dir=s.data_dir)
    copy = start_server(*args, data_dir=clone)
    original.client("iam").create_user(UserName="original")
    until(lambda: "original" in delivered_users(trails))
    copy.client("iam").create_user(UserName="copy")
    until(lambda: "LatestDeliveryError" in copy.client("cloudtrail").get_trail_status(Name="shared"))
    status = copy.client("cloudtrail").get_trail_status(Name="shared")
    assert "another file has its name" in status.get("LatestDeliveryError", ""), status
    users = delivered_users(trails)
    assert "original" in users and "copy" not in users, users
    # Created anew, the copy's trail delivers under names of its own.
    cct = copy.client("cloudtrail")
    cct.delete_trail(Name="shared")
    cct.create_trail(Name="shared", S3BucketName="shared-logs")
    cct.start_logging(Name="shared")
    copy.client("iam").create_user(UserName="copy-again")
    until(lambda: "copy-again" in delivered_users(trails))
    users = delivered_users(trails)
    assert "copy-again" in users and users.count("original") == 1, users


def until(condition, tries=100):
    """Polls `condition` every 0.2 s; whether it came true within `tries` polls."""
    for _ in range(tries):
        if condition():
            return True
        time.sleep(0.2)
    return False


def delivered_users(root):
    return [
        r["requestParameters"]["userName"]
        for p in files(root, "CloudTrail")
        for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]
        if r["eventName"] == "CreateUser"
    ]
