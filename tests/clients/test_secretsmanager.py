"""Secrets Manager, black-box: versions and staging labels, deletion, resource policies across
accounts in strict mode, rotation through the random, webhook and PostgreSQL rotators, and no
secret value at rest in the data directory."""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"


def error(excinfo):
    return excinfo.value.response["Error"]


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def stages(sm, secret_id):
    return {v["VersionId"]: sorted(v["VersionStages"]) for v in sm.list_secret_version_ids(SecretId=secret_id)["Versions"]}


def test_versions_move_awscurrent_and_awsprevious_and_tokens_are_idempotent(server):
    sm = server.client("secretsmanager")
    t1, t2, t3 = (str(uuid.uuid4()) for _ in range(3))
    created = sm.create_secret(Name="app/db", SecretString="v1", ClientRequestToken=t1, Tags=[{"Key": "team", "Value": "core"}])
    assert created["ARN"].startswith("arn:aws:secretsmanager:us-east-1:")
    assert created["VersionId"] == t1
    # The same token and value again is a no-op; another value with it is refused.
    sm.put_secret_value(SecretId="app/db", SecretString="v1", ClientRequestToken=t1)
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId="app/db", SecretString="other", ClientRequestToken=t1)
    assert error(e)["Code"] == "ResourceExistsException"
    sm.put_secret_value(SecretId="app/db", SecretString="v2", ClientRequestToken=t2)
    sm.put_secret_value(SecretId=created["ARN"], SecretString="v3", ClientRequestToken=t3)
    assert stages(sm, "app/db") == {t2: ["AWSPREVIOUS"], t3: ["AWSCURRENT"]}
    assert sm.get_secret_value(SecretId="app/db")["SecretString"] == "v3"
    assert sm.get_secret_value(SecretId="app/db", VersionStage="AWSPREVIOUS")["SecretString"] == "v2"
    assert sm.get_secret_value(SecretId="app/db", VersionId=t1)["SecretString"] == "v1"
    # A partial ARN (without the random suffix) finds the secret too.
    partial = created["ARN"].rsplit("-", 1)[0]
    assert sm.describe_secret(SecretId=partial)["Name"] == "app/db"
    # Moving AWSCURRENT back needs the version that holds it; AWSPREVIOUS follows.
    with pytest.raises(ClientError) as e:
        sm.update_secret_version_stage(SecretId="app/db", VersionStage="AWSCURRENT", MoveToVersionId=t2)
    assert error(e)["Code"] == "InvalidParameterException"
    sm.update_secret_version_stage(SecretId="app/db", VersionStage="AWSCURRENT", MoveToVersionId=t2, RemoveFromVersionId=t3)
    assert stages(sm, "app/db") == {t2: ["AWSCURRENT"], t3: ["AWSPREVIOUS"]}
    # Binary values round-trip.
    sm.create_secret(Name="blob", SecretBinary=b"\x00\xffkey")
    assert sm.get_secret_value(SecretId="blob")["SecretBinary"] == b"\x00\xffkey"
    # Listing filters by tag and name.
    listed = sm.list_secrets(Filters=[{"Key": "tag-key", "Values": ["team"]}])["SecretList"]
    assert [s["Name"] for s in listed] == ["app/db"]
    assert sm.get_random_password(PasswordLength=40, ExcludePunctuation=True)["RandomPassword"].isalnum()
    # The aws CLI works unchanged.
    out = json.loads(server.aws("secretsmanager", "get-secret-value", "--secret-id", "app/db").stdout)
    assert out["SecretString"] == "v2"


def test_deleted_secrets_are_unreadable_until_restored_and_force_delete_removes_them(server):
    sm = server.client("secretsmanager")
    sm.create_secret(Name="old", SecretString="x")
    with pytest.raises(ClientError) as e:
        sm.delete_secret(SecretId="old", RecoveryWindowInDays=3)
    assert error(e)["Code"] == "InvalidParameterException"
    deleted = sm.delete_secret(SecretId="old", RecoveryWindowInDays=7)
    assert deleted["DeletionDate"].timestamp() - time.time() > 6 * 86400
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId="old")
    # AWS's words, which clients match on (bug: GetSecretValue answered with moto's).
    assert error(e) == {
        "Code": "InvalidRequestException",
        "Message": "You can't perform this operation on the secret because it was marked for deletion.",
    }
    batch = sm.batch_get_secret_value(SecretIdList=["old"])
    assert batch["Errors"][0]["Message"] == error(e)["Message"]
    assert sm.list_secrets()["SecretList"] == []
    assert [s["Name"] for s in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]] == ["old"]
    sm.restore_secret(SecretId="old")
    assert sm.get_secret_value(SecretId="old")["SecretString"] == "x"
    sm.delete_secret(SecretId="old", ForceDeleteWithoutRecovery=True)
    with pytest.raises(ClientError) as e:
        sm.describe_secret(SecretId="old")
    assert error(e)["Code"] == "ResourceNotFoundException"


def test_secret_values_survive_a_restart_and_never_reach_the_data_dir_or_the_audit_trail(start_server):
    s = start_server()
    sm = s.client("secretsmanager")
    value = "canary-" + uuid.uuid4().hex
    binary = os.urandom(24) + b"binary-canary"
    sm.create_secret(Name="canary", SecretString=value)
    sm.create_secret(Name="canary-bin", SecretBinary=binary)
    sm.put_secret_value(SecretId="canary", SecretString=value + "-2")
    pw = sm.get_random_password()["RandomPassword"]
    assert sm.get_secret_value(SecretId="canary")["SecretString"] == value + "-2"
    events = s.events()
    assert any(e["eventName"] == "GetSecretValue" for e in events)
    key, secret = s.credentials()
    data_dir = s.data_dir
    s.stop()
    needles = [value.encode(), base64.b64encode(value.encode()), binary, base64.b64encode(binary), pw.encode()]
    for path in data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for n in needles:
                assert n not in content, f"a secret value is readable in {path}"
    assert value not in s.log_path.read_text()
    assert pw not in json.dumps(events)
    # After a restart the values decrypt again.
    s2 = start_server(data_dir=data_dir)
    sm2 = s2.client("secretsmanager", key=key, secret=secret)
    assert sm2.get_secret_value(SecretId="canary")["SecretString"] == value + "-2"
    assert sm2.get_secret_value(SecretId="canary-bin")["SecretBinary"] == binary


def test_resource_policies_grant_other_accounts_and_public_ones_can_be_blocked(two_accounts):
    s = two_accounts
    key_a, secret_a = s.credentials("account-111111111111")
    sm_a = s.client("secretsmanager", key=key_a, secret=secret_a)
    # As in AWS, another account can read a secret only under a customer key whose policy lets
    # it decrypt: the AWS-managed key serves its own account only.
    kms_a = s.client("kms", key=key_a, secret=secret_a)
    key_policy = policy(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:Decrypt", "Resource": "*"},
    )
    shared_key = kms_a.create_key(Policy=key_policy)["KeyMetadata"]["Arn"]
    shared = sm_a.create_secret(Name="shared", SecretString="for-b", KmsKeyId=shared_key)["ARN"]
    private = sm_a.create_secret(Name="private", SecretString="not-for-b")["ARN"]
    public = policy({"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    with pytest.raises(ClientError) as e:
        sm_a.put_resource_policy(SecretId=shared, ResourcePolicy=public, BlockPublicPolicy=True)
    assert error(e)["Code"] == "PublicPolicyException"
    assert sm_a.validate_resource_policy(ResourcePolicy=public)["PolicyValidationPassed"] is False
    grant = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
        }
    )
    sm_a.put_resource_policy(SecretId=shared, ResourcePolicy=grant, BlockPublicPolicy=True)
    assert json.loads(sm_a.get_resource_policy(SecretId=shared)["ResourcePolicy"]) == json.loads(grant)
    iam_b = s.client("iam")
    for user, statements in (("reader", [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue", "kms:Decrypt"], "Resource": "*"}]), ("nobody", [])):
        iam_b.create_user(UserName=user)
        if statements:
            iam_b.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=policy(*statements))
    reader_key = iam_b.create_access_key(UserName="reader")["AccessKey"]
    nobody_key = iam_b.create_access_key(UserName="nobody")["AccessKey"]
    reader = s.client("secretsmanager", key=reader_key["AccessKeyId"], secret=reader_key["SecretAccessKey"])
    nobody = s.client("secretsmanager", key=nobody_key["AccessKeyId"], secret=nobody_key["SecretAccessKey"])
    # Cross-account access needs both the secret's policy and the caller's own grant.
    assert reader.get_secret_value(SecretId=shared)["SecretString"] == "for-b"
    with pytest.raises(ClientError) as e:
        reader.get_secret_value(SecretId=private)
    assert error(e)["Code"] == "AccessDeniedException"
    assert private in error(e)["Message"]
    with pytest.raises(ClientError) as e:
        nobody.get_secret_value(SecretId=shared)
    assert error(e)["Code"] == "AccessDeniedException"
    # A batch read returns only what the caller may read one by one.
    batch = reader.batch_get_secret_value(SecretIdList=[shared, private])
    assert [v["Name"] for v in batch["SecretValues"]] == ["shared"]
    assert [(e["SecretId"], e["ErrorCode"]) for e in batch["Errors"]] == [(private, "AccessDeniedException")]
    # The policy does not grant writes.
    with pytest.raises(ClientError) as e:
        reader.put_secret_value(SecretId=shared, SecretString="hijack")
    assert error(e)["Code"] == "AccessDeniedException"
    sm_a.delete_resource_policy(SecretId=shared)
    with pytest.raises(ClientError) as e:
        reader.get_secret_value(SecretId=shared)
    assert error(e)["Code"] == "AccessDeniedException"


def test_random_rotator_replaces_the_password_and_keeps_the_previous_value(server):
    sm = server.client("secretsmanager")
    sm.create_secret(Name="svc", SecretString=json.dumps({"username": "svc", "password": "initial"}))
    # In strict mode a rotation needs a rotator; nothing is rotated without one.
    with pytest.raises(ClientError) as e:
        sm.rotate_secret(SecretId="svc", RotationRules={"AutomaticallyAfterDays": 1})
    assert error(e)["Code"] == "InvalidRequestException"
    out = sm.rotate_secret(
        SecretId="svc",
        RotationLambdaARN=LAMBDA + "palisade-rotator-random",
        RotationRules={"ScheduleExpression": "rate(10 days)", "Duration": "3h"},
    )
    assert server.rotation_outcome(out["VersionId"]) == "RotationSucceeded"
    current = json.loads(sm.get_secret_value(SecretId="svc")["SecretString"])
    assert current["username"] == "svc" and current["password"] != "initial" and len(current["password"]) == 32
    assert sm.get_secret_value(SecretId="svc", VersionStage="AWSPREVIOUS")["SecretString"].find("initial") > 0
    assert sm.get_secret_value(SecretId="svc")["VersionId"] == out["VersionId"]
    d = sm.describe_secret(SecretId="svc")
    assert d["RotationEnabled"] is True
    assert d["RotationRules"] == {"AutomaticallyAfterDays": 10, "ScheduleExpression": "rate(10 days)", "Duration": "3h"}
    assert 9 * 86400 < d["NextRotationDate"].timestamp() - time.time() <= 10 * 86400
    assert "AWSPENDING" not in str(stages(sm, "svc"))
    sm.cancel_rotate_secret(SecretId="svc")
    assert sm.describe_secret(SecretId="svc")["RotationEnabled"] is False


class Webhook:
    """A rotation function behind HTTP: calls back into Secrets Manager like a Lambda."""

    def __init__(self, sm, fail_step=None):
        self.sm, self.fail_step, self.calls, self.errors = sm, fail_step, [], []
        self.fail_body = b"{}"
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.calls.append(event)
                status = 500 if event["Step"] == hook.fail_step else 200
                if status == 200:
                    try:
                        hook.step(event)
                    except Exception as e:  # a failing rotation function, as a Lambda fails
                        hook.errors.append(str(e))
                        status = 500
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}" if status == 200 else hook.fail_body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/rotate"

    def step(self, event):
        arn, token = event["SecretId"], event["ClientRequestToken"]
        # AWS's rotation templates begin every step by checking that Secrets Manager made the
        # token an AWSPENDING version (bug: Palisade made none, so they failed at once).
        versions = self.sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
        if token not in versions:
            raise ValueError(f"secret version {token} has no stage for rotation")
        if "AWSCURRENT" in versions[token]:
            return
        if "AWSPENDING" not in versions[token]:
            raise ValueError(f"secret version {token} not set as AWSPENDING for rotation")
        if event["Step"] == "createSecret":
            # As AWS's templates: a retried rotation keeps the pending value it already made.
            try:
                self.sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
                return
            except ClientError:
                pass
            pw = self.sm.get_random_password(ExcludePunctuation=True)["RandomPassword"]
            self.sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=pw, VersionStages=["AWSPENDING"])
        elif event["Step"] == "finishSecret":
            current = next(v for v in self.sm.list_secret_version_ids(SecretId=arn)["Versions"] if "AWSCURRENT" in v["VersionStages"])
            self.sm.update_secret_version_stage(
                SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current["VersionId"]
            )


def test_a_webhook_answering_a_value_putsecretvalue_refuses_fails_the_rotation(start_server):
    # Regression: a webhook's createSecret answer was stored without PutSecretValue's checks,
    # so an empty or 70,000-character SecretString became the current value.
    answers = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()
            if event["Step"] == "createSecret":
                self.wfile.write(json.dumps({"SecretString": answers[event["SecretId"]]}).encode())

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        s = start_server("--rotation-webhook", f"answer=http://127.0.0.1:{httpd.server_address[1]}/")
        sm = s.client("secretsmanager")
        for name, value, outcome in [("empty", "", "RotationFailed"), ("huge", "x" * 70_000, "RotationFailed"), ("fine", "é" * 65_536, "RotationSucceeded")]:
            arn = sm.create_secret(Name=name, SecretString="before")["ARN"]
            answers[arn] = value
            out = sm.rotate_secret(SecretId=name, RotationLambdaARN=LAMBDA + "answer")
            assert s.rotation_outcome(out["VersionId"]) == outcome, name
            current = sm.get_secret_value(SecretId=name)["SecretString"]
            assert current == ("before" if outcome == "RotationFailed" else value), name
    finally:
        httpd.shutdown()


def test_webhook_rotator_gets_the_four_lambda_steps_and_a_failure_keeps_awscurrent(start_server):
    # The webhook needs a client of the server, and the server needs the webhook's URL.
    hook = Webhook(None)
    failing = Webhook(None, fail_step="testSecret")
    s = start_server("--rotation-webhook", f"hook={hook.url}", "--rotation-webhook", f"broken={failing.url}")
    sm = s.client("secretsmanager")
    hook.sm = failing.sm = sm
    sm.create_secret(Name="hooked", SecretString="before")
    out = sm.rotate_secret(SecretId="hooked", RotationLambdaARN=LAMBDA + "hook", RotationRules={"AutomaticallyAfterDays": 30})
    assert s.rotation_outcome(out["VersionId"]) == "RotationSucceeded"
    assert [c["Step"] for c in hook.calls] == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    assert hook.errors == []
    assert all(set(c) == {"Step", "SecretId", "ClientRequestToken", "RotationToken"} for c in hook.calls)
    assert {c["ClientRequestToken"] for c in hook.calls} == {out["VersionId"]}
    value = sm.get_secret_value(SecretId="hooked")
    assert value["VersionId"] == out["VersionId"] and value["SecretString"] != "before"
    assert sm.get_secret_value(SecretId="hooked", VersionStage="AWSPREVIOUS")["SecretString"] == "before"

    sm.create_secret(Name="fragile", SecretString="stays")
    out = sm.rotate_secret(SecretId="fragile", RotationLambdaARN=LAMBDA + "broken")
    assert s.rotation_outcome(out["VersionId"]) == "RotationFailed"
    assert [c["Step"] for c in failing.calls] == ["createSecret", "setSecret", "testSecret"]
    assert sm.get_secret_value(SecretId="fragile")["SecretString"] == "stays"
    assert stages(sm, "fragile")[out["VersionId"]] == ["AWSPENDING"]
    # Bug: another RotateSecret was accepted while the failed one held AWSPENDING, and one
    # naming another function promoted the value whose setSecret had failed. AWS refuses it
    # (its own retries reattempt the failed rotation), whatever the call changes.
    failing.fail_step = None
    for change in ({}, {"RotationLambdaARN": LAMBDA + "palisade-rotator-random"}, {"RotationRules": {"AutomaticallyAfterDays": 7}, "RotateImmediately": False}):
        with pytest.raises(ClientError) as e:
            sm.rotate_secret(SecretId="fragile", **change)
        assert error(e) == {"Code": "InvalidRequestException", "Message": "A previous rotation isn't complete. That rotation will be reattempted."}
    assert sm.get_secret_value(SecretId="fragile")["SecretString"] == "stays"
    # Removing the label abandons the failed rotation; the next one starts afresh.
    sm.update_secret_version_stage(SecretId="fragile", VersionStage="AWSPENDING", RemoveFromVersionId=out["VersionId"])
    again = sm.rotate_secret(SecretId="fragile")
    assert s.rotation_outcome(again["VersionId"]) == "RotationSucceeded"
    assert again["VersionId"] != out["VersionId"]
    assert sm.get_secret_value(SecretId="fragile")["VersionId"] == again["VersionId"]
    # Each rotation leaves CloudTrail service events.
    service_events = [e for e in s.events() if e["eventType"] == "AwsServiceEvent"]
    names = [e["eventName"] for e in service_events]
    assert names.count("RotationStarted") == 3 and names.count("RotationFailed") == 1
    assert names.count("RotationSucceeded") == 2
    # As AWS writes them, Secrets Manager's own (bug: sourceIPAddress and userAgent were empty
    # and userIdentity had no invokedBy).
    for e in service_events:
        assert e["userIdentity"]["invokedBy"] == "secretsmanager.amazonaws.com"
        assert e["userIdentity"]["accountId"] == "123456789012"
        assert e["sourceIPAddress"] == e["userAgent"] == "secretsmanager.amazonaws.com"
    # An unknown function name is refused.
    with pytest.raises(ClientError) as e:
        sm.rotate_secret(SecretId="hooked", RotationLambdaARN=LAMBDA + "nope")
    assert error(e)["Code"] == "ResourceNotFoundException"


def test_cancel_rotate_secret_stops_a_running_rotation_between_steps(start_server):
    # Bug: CancelRotateSecret answered while a rotation ran, and the rotation went on to
    # testSecret and finishSecret and made the new version current.
    hook = Webhook(None)
    entered, release = threading.Event(), threading.Event()
    plain_step = hook.step

    def slow_step(event):
        plain_step(event)
        if event["Step"] == "setSecret":
            entered.set()
            release.wait(10)

    hook.step = slow_step
    s = start_server("--rotation-webhook", f"hook={hook.url}")
    sm = hook.sm = s.client("secretsmanager")
    sm.create_secret(Name="slow", SecretString="before")
    out = sm.rotate_secret(SecretId="slow", RotationLambdaARN=LAMBDA + "hook")
    assert entered.wait(10)
    cancelled = sm.cancel_rotate_secret(SecretId="slow")
    release.set()
    assert s.rotation_outcome(out["VersionId"]) == "RotationFailed"
    assert [c["Step"] for c in hook.calls] == ["createSecret", "setSecret"]
    assert sm.get_secret_value(SecretId="slow")["SecretString"] == "before"
    # The answer names the interrupted rotation's version, left AWSPENDING to examine.
    assert stages(sm, "slow")[cancelled["VersionId"]] == ["AWSPENDING"]
    assert sm.describe_secret(SecretId="slow")["RotationEnabled"] is False


def test_rotate_secret_answers_at_once_and_a_client_that_gives_up_cannot_stop_the_rotation(start_server):
    # Bug: RotateSecret ran the rotation inside the request. A client whose read timeout was
    # shorter than the rotation function dropped the connection, which killed the rotation
    # between steps (no finishSecret, no RotationSucceeded or RotationFailed event); its retry
    # was refused as "a previous rotation", and the secret stayed marked as rotating, so no
    # RotateSecret or scheduled rotation ran for it again until a restart. AWS starts the
    # rotation and answers at once.
    hook = Webhook(None)
    plain_step = hook.step

    def slow_test(event):
        plain_step(event)
        if event["Step"] == "testSecret":
            time.sleep(3)

    hook.step = slow_test
    s = start_server("--rotation-webhook", f"slowrot={hook.url}")
    key, secret = s.credentials()
    impatient = boto3.client(
        "secretsmanager",
        endpoint_url=s.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(read_timeout=1, retries={"max_attempts": 3}),
    )
    hook.sm = s.client("secretsmanager")
    impatient.create_secret(Name="slow1", SecretString="before")
    started = time.monotonic()
    out = impatient.rotate_secret(SecretId="slow1", RotationLambdaARN=LAMBDA + "slowrot")
    assert time.monotonic() - started < 2.5
    # While it runs, another rotation is refused, as AWS refuses it.
    with pytest.raises(ClientError) as e:
        impatient.rotate_secret(SecretId="slow1")
    assert error(e)["Message"] == "A previous rotation isn't complete. That rotation will be reattempted."
    assert s.rotation_outcome(out["VersionId"]) == "RotationSucceeded"
    assert [c["Step"] for c in hook.calls] == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    assert impatient.get_secret_value(SecretId="slow1")["VersionId"] == out["VersionId"]
    # Once it has ended, the secret rotates again.
    hook.step = plain_step
    again = impatient.rotate_secret(SecretId="slow1")
    assert s.rotation_outcome(again["VersionId"]) == "RotationSucceeded"
    assert impatient.get_secret_value(SecretId="slow1")["VersionId"] == again["VersionId"]


def crash_during_step(start_server, step, name, **rotate):
    """Starts a rotation of a new secret `name` through a webhook that hangs in `step` the first
    time, kills the server there, and starts it again on the same data: (the new server, the
    RotateSecret answer, the webhook, whose `sm` is the new server's client)."""
    hook = Webhook(None)
    plain_step = hook.step
    entered = threading.Event()
    restarted = threading.Event()

    def hang_once(event):
        if event["Step"] == step and not entered.is_set():
            entered.set()
            # The server that sent this is killed meanwhile: the step is dropped, not run late
            # against the restarted server, where it would race the retried rotation.
            time.sleep(30)
            return
        # After the hang, calls come from the restarted server, which retries at once, possibly
        # before `hook.sm` names it: wait for that, or the step calls the killed server (a
        # flaky RotationFailed under load).
        if entered.is_set():
            restarted.wait(20)
        plain_step(event)

    hook.step = hang_once
    s = start_server("--rotation-webhook", f"hook={hook.url}")
    sm = hook.sm = s.client("secretsmanager")
    sm.create_secret(Name=name, SecretString="before")
    out = sm.rotate_secret(SecretId=name, RotationLambdaARN=LAMBDA + "hook", **rotate)
    assert entered.wait(10)
    s.stop(sig=signal.SIGKILL)
    again = start_server("--rotation-webhook", f"hook={hook.url}", data_dir=s.data_dir)
    hook.sm = again.client("secretsmanager")
    restarted.set()
    return again, out, hook


def test_a_rotation_cut_off_by_a_crash_is_taken_up_again_after_the_restart(start_server):
    # Regression: a rotation under way when the server stopped was never retried, and its
    # AWSPENDING version made every RotateSecret answer "That rotation will be reattempted."
    # until someone removed the label by hand.
    again, out, hook = crash_during_step(start_server, "createSecret", "cut")
    assert again.rotation_outcome(out["VersionId"], timeout=40) == "RotationSucceeded"
    assert hook.sm.get_secret_value(SecretId="cut")["VersionId"] == out["VersionId"]
    assert hook.sm.get_secret_value(SecretId="cut")["SecretString"] != "before"


def test_a_test_rotation_cut_off_by_a_crash_is_ended_after_the_restart(start_server):
    # Regression: a RotateImmediately=false run under way when the server stopped left its
    # value-less AWSPENDING version behind, and every RotateSecret then answered "That rotation
    # will be reattempted." though nothing would reattempt it.
    again, out, hook = crash_during_step(start_server, "testSecret", "dry", RotateImmediately=False)
    sm = hook.sm
    deadline = time.monotonic() + 30
    while out["VersionId"] in sm.describe_secret(SecretId="dry")["VersionIdsToStages"]:
        assert time.monotonic() < deadline, "the interrupted test run's version is still there"
        time.sleep(0.2)
    rotated = sm.rotate_secret(SecretId="dry")
    assert again.rotation_outcome(rotated["VersionId"]) == "RotationSucceeded"


def test_rotation_schedules_and_functions_secrets_manager_refuses(server):
    # Bugs: cron(* * * * ? *) was accepted and rotated every minute (AWS's floor is four
    # hours); a function ARN of another Region or account reached this Region's webhook of the
    # same name.
    sm = server.client("secretsmanager")
    sm.create_secret(Name="r", SecretString="v")
    for cron in ("cron(* * * * ? *)", "cron(0 * * * ? *)", "cron(0 0,2 * * ? *)"):
        with pytest.raises(ClientError) as e:
            sm.rotate_secret(SecretId="r", RotationLambdaARN=LAMBDA + "palisade-rotator-random", RotationRules={"ScheduleExpression": cron})
        assert error(e)["Code"] == "InvalidParameterException", cron
    for arn in (
        "arn:aws:lambda:eu-west-1:123456789012:function:palisade-rotator-random",
        "arn:aws:lambda:us-east-1:999999999999:function:palisade-rotator-random",
    ):
        with pytest.raises(ClientError) as e:
            sm.rotate_secret(SecretId="r", RotationLambdaARN=arn)
        assert error(e)["Code"] == "AccessDeniedException", arn
    assert sm.get_secret_value(SecretId="r")["SecretString"] == "v"


def test_rotation_needs_lambda_invoke_and_a_test_run_leaves_no_version(start_server):
    # Bugs: RotateSecret did not need lambda:InvokeFunction on the rotation function (AWS's
    # required permissions); RotateImmediately=false left no version for the function's test,
    # so a template-style function failed it.
    hook = Webhook(None)
    s = start_server("--rotation-webhook", f"hook={hook.url}")
    sm = hook.sm = s.client("secretsmanager")
    sm.create_secret(Name="guarded", SecretString="v0")
    rotator = s.user_client(
        "rotator",
        "secretsmanager",
        policy(
            {"Effect": "Allow", "Action": ["secretsmanager:RotateSecret", "secretsmanager:DescribeSecret"], "Resource": "*"},
            {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "*"},
        ),
    )
    with pytest.raises(ClientError) as e:
        rotator.rotate_secret(SecretId="guarded", RotationLambdaARN=LAMBDA + "palisade-rotator-random")
    assert error(e)["Code"] == "AccessDeniedException"
    assert "lambda:InvokeFunction" in error(e)["Message"]
    assert sm.get_secret_value(SecretId="guarded")["SecretString"] == "v0"

    out = sm.rotate_secret(SecretId="guarded", RotationLambdaARN=LAMBDA + "hook", RotationRules={"AutomaticallyAfterDays": 5}, RotateImmediately=False)
    assert s.rotation_outcome(out["VersionId"]) == "RotationSucceeded"
    assert [c["Step"] for c in hook.calls] == ["testSecret"] and hook.errors == []
    # The test's version is gone again; nothing was rotated.
    assert out["VersionId"] not in stages(sm, "guarded")
    assert sm.get_secret_value(SecretId="guarded")["SecretString"] == "v0"
    out = sm.rotate_secret(SecretId="guarded")
    assert s.rotation_outcome(out["VersionId"]) == "RotationSucceeded"
    assert sm.get_secret_value(SecretId="guarded")["SecretString"] != "v0" and hook.errors == []


def test_the_random_rotator_keeps_what_it_does_not_replace(server):
    # Bug: the random rotator replaced a JSON object without a password member (and a binary
    # secret) with a bare string, and re-serialised JSON: keys reordered, big numbers rounded.
    sm = server.client("secretsmanager")
    fn = LAMBDA + "palisade-rotator-random"
    text = '{"user":"x","big":12345678901234567890123,"password":"old","extra":[1, 2]}'
    sm.create_secret(Name="json", SecretString=text)
    out = sm.rotate_secret(SecretId="json", RotationLambdaARN=fn)
    assert server.rotation_outcome(out["VersionId"]) == "RotationSucceeded"
    new = sm.get_secret_value(SecretId="json")["SecretString"]
    password = json.loads(new)["password"]
    assert password != "old"
    assert new == text.replace('"old"', json.dumps(password))

    sm.create_secret(Name="keys", SecretString='{"user":"x","api_key":"k"}')
    out = sm.rotate_secret(SecretId="keys", RotationLambdaARN=fn)
    assert server.rotation_outcome(out["VersionId"]) == "RotationFailed"
    # Nothing to replace: the rotation fails and the value stays as it was.
    assert sm.get_secret_value(SecretId="keys")["SecretString"] == '{"user":"x","api_key":"k"}'

    blob = os.urandom(48)
    sm.create_secret(Name="bin", SecretBinary=blob)
    out = sm.rotate_secret(SecretId="bin", RotationLambdaARN=fn)
    assert server.rotation_outcome(out["VersionId"]) == "RotationSucceeded"
    value = sm.get_secret_value(SecretId="bin")
    assert "SecretString" not in value and len(value["SecretBinary"]) == 48 and value["SecretBinary"] != blob


def test_rotation_windows_and_calculated_days(server):
    # Bugs: a Duration running into the next window or the next UTC day was accepted; after a
    # rotation on a ScheduleExpression, DescribeSecret lacked the AutomaticallyAfterDays that
    # AWS calculates from the schedule.
    sm = server.client("secretsmanager")
    sm.create_secret(Name="w", SecretString="v")
    fn = LAMBDA + "palisade-rotator-random"
    for rules in ({"ScheduleExpression": "rate(4 hours)", "Duration": "5h"}, {"ScheduleExpression": "cron(0 23 * * ? *)", "Duration": "3h"}):
        with pytest.raises(ClientError) as e:
            sm.rotate_secret(SecretId="w", RotationLambdaARN=fn, RotationRules=rules)
        assert error(e)["Code"] == "InvalidParameterException", rules
    out = sm.rotate_secret(SecretId="w", RotationLambdaARN=fn, RotationRules={"ScheduleExpression": "cron(0 16 ? * MON *)", "Duration": "2h"})
    assert server.rotation_outcome(out["VersionId"]) == "RotationSucceeded"
    rules = sm.describe_secret(SecretId="w")["RotationRules"]
    assert rules == {"AutomaticallyAfterDays": 7, "ScheduleExpression": "cron(0 16 ? * MON *)", "Duration": "2h"}
    listed = next(x for x in sm.list_secrets()["SecretList"] if x["Name"] == "w")
    assert listed["RotationRules"]["AutomaticallyAfterDays"] == 7


def test_a_secret_waiting_for_deletion_gets_no_replica_or_policy(server):
    # Bug: ReplicateSecretToRegions and PutResourcePolicy succeeded on a deleted secret.
    sm = server.client("secretsmanager")
    sm.create_secret(Name="gone", SecretString="v")
    sm.delete_secret(SecretId="gone", RecoveryWindowInDays=7)
    for call in (
        lambda: sm.replicate_secret_to_regions(SecretId="gone", AddReplicaRegions=[{"Region": "us-west-2"}]),
        lambda: sm.put_resource_policy(SecretId="gone", ResourcePolicy=policy({"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"})),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)["Code"] == "InvalidRequestException"


@pytest.fixture
def postgres():
    base = Path(tempfile.mkdtemp(prefix="palisade-pg-"))
    os.chmod(base, 0o755)
    script = HERE / "setup-postgres.sh"
    result = subprocess.run([str(script), "start", str(base / "pg")], capture_output=True, text=True, timeout=180)
    if result.returncode == 77:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr
    port = int(result.stdout.strip().split("=")[1])
    yield port
    subprocess.run([str(script), "stop", str(base / "pg")], capture_output=True, timeout=60)
    shutil.rmtree(base, ignore_errors=True)


def psql(port, user, password, sql):
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", "postgres", "-tAc", sql],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


def test_postgresql_rotator_changes_the_database_password(start_server, postgres):
    if not shutil.which("psql"):
        pytest.skip("psql is not installed")
    # At debug, where the database driver logs the statements it runs.
    server = start_server(env={"PALISADE_LOG": "debug"})
    assert psql(postgres, "admin", "admin-password", "CREATE ROLE app LOGIN PASSWORD 'first-password'").returncode == 0
    sm = server.client("secretsmanager")
    creds = {"engine": "postgres", "host": "127.0.0.1", "port": postgres, "username": "app", "password": "first-password", "dbname": "postgres"}
    sm.create_secret(Name="db/app", SecretString=json.dumps(creds))
    out = sm.rotate_secret(SecretId="db/app", RotationLambdaARN=LAMBDA + "palisade-rotator-postgresql-single-user", RotationRules={"AutomaticallyAfterDays": 1})
    assert server.rotation_outcome(out["VersionId"]) == "RotationSucceeded"
    new = json.loads(sm.get_secret_value(SecretId="db/app")["SecretString"])
    assert new["password"] != "first-password"
    assert psql(postgres, "app", new["password"], "SELECT current_user").stdout.strip() == "app"
    assert psql(postgres, "app", "first-password", "SELECT 1").returncode != 0
    assert "LastRotatedDate" in sm.describe_secret(SecretId="db/app")
    # Regression: the driver logged ALTER USER with the new password (at debug, and at warn
    # when the statement took over a second).
    assert new["password"] not in server.log_path.read_text()
    # A secret whose credentials do not work fails to rotate and keeps its value.
    bad = dict(creds, password="wrong")
    sm.create_secret(Name="db/bad", SecretString=json.dumps(bad))
    out = sm.rotate_secret(SecretId="db/bad", RotationLambdaARN=LAMBDA + "palisade-rotator-postgresql-single-user")
    assert server.rotation_outcome(out["VersionId"]) == "RotationFailed"
    assert json.loads(sm.get_secret_value(SecretId="db/bad")["SecretString"])["password"] == "wrong"
    assert "database password" not in server.log_path.read_text()


def test_postgresql_rotator_never_sets_a_password_for_a_server_the_current_value_does_not_name(server, postgres):
    # Regression: a caller who may write a database secret but not read it pointed AWSCURRENT at
    # a server of theirs; the rotator failed to log in there, logged in to the real server with
    # AWSPREVIOUS, set a new password on it, then sent that password to the caller's server in
    # testSecret. And the driver's error text in the RotationFailed event told a closed port
    # from an open one, mapping the server's network for anyone who may rotate a secret.
    if not shutil.which("psql"):
        pytest.skip("psql is not installed")
    assert psql(postgres, "admin", "admin-password", "CREATE ROLE victim LOGIN PASSWORD 'real-password'").returncode == 0
    sm = server.client("secretsmanager")
    real = {"engine": "postgres", "host": "127.0.0.1", "port": postgres, "username": "victim", "password": "real-password"}
    sm.create_secret(Name="db/victim", SecretString=json.dumps(real))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        elsewhere = s.getsockname()[1]  # closed once the block ends: nothing listens there
    sm.put_secret_value(SecretId="db/victim", SecretString=json.dumps(dict(real, port=elsewhere, password="x")))
    out = sm.rotate_secret(SecretId="db/victim", RotationLambdaARN=LAMBDA + "palisade-rotator-postgresql-single-user")
    assert server.rotation_outcome(out["VersionId"]) == "RotationFailed"
    assert psql(postgres, "victim", "real-password", "SELECT current_user").stdout.strip() == "victim"
    failed = [e for e in server.events() if e.get("eventName") == "RotationFailed"]
    assert failed and all("refused" not in json.dumps(e).lower() and "os error" not in json.dumps(e) for e in failed)
    assert str(postgres) not in json.dumps(failed), "the previous value's server is not named"


def test_the_secrets_manager_alias_is_listed_before_its_key_exists_and_points_at_it_after(server):
    # AWS lists predefined aliases of AWS-managed keys it has not created yet, without a
    # TargetKeyId; the key appears with the first secret that needs it.
    kms, sm = server.client("kms"), server.client("secretsmanager")
    predefined = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}["alias/aws/secretsmanager"]
    assert "TargetKeyId" not in predefined
    assert predefined["AliasArn"] == "arn:aws:kms:us-east-1:123456789012:alias/aws/secretsmanager"
    sm.create_secret(Name="first", SecretString="s3cr3t")
    created = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}["alias/aws/secretsmanager"]
    key = kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    assert created["TargetKeyId"] == key["KeyId"] and key["KeyManager"] == "AWS"
    assert [a["AliasName"] for a in kms.list_aliases()["Aliases"]].count("alias/aws/secretsmanager") == 1


def test_a_paginator_that_deletes_each_page_as_it_goes_deletes_every_secret(server):
    # Regression: NextToken was an index, so after a page of deleted secrets the next page
    # skipped as many, and a clean-up loop left half of them behind.
    sm = server.client("secretsmanager")
    names = [f"cleanup-{i}" for i in range(7)]
    for n in names:
        sm.create_secret(Name=n, SecretString="s3cr3t")
    for order in ({}, {"SortOrder": "desc"}, {"SortBy": "name"}):
        seen = []
        pages = sm.get_paginator("list_secrets").paginate(**order, PaginationConfig={"PageSize": 2})
        for page in pages:
            seen.extend(s["Name"] for s in page["SecretList"])
        assert sorted(seen) == names, order
    seen = []
    for page in sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 2}):
        for s in page["SecretList"]:
            seen.append(s["Name"])
            sm.delete_secret(SecretId=s["ARN"], ForceDeleteWithoutRecovery=True)
    assert seen == names
    assert sm.list_secrets()["SecretList"] == []


def test_a_regions_endpoint_does_not_serve_another_regions_arn(server):
    # Bug: with a replica in us-west-2, the us-east-1 endpoint answered for the replica's ARN
    # (and us-west-2 for the primary's) with the other Region's secret.
    east, west = server.client("secretsmanager"), server.client("secretsmanager", region="us-west-2")
    primary = east.create_secret(Name="both", SecretString="v")["ARN"]
    east.replicate_secret_to_regions(SecretId="both", AddReplicaRegions=[{"Region": "us-west-2"}])
    replica = primary.replace("us-east-1", "us-west-2")
    assert west.get_secret_value(SecretId=replica)["SecretString"] == "v"
    for client, arn in ((east, replica), (west, primary)):
        with pytest.raises(ClientError) as e:
            client.get_secret_value(SecretId=arn)
        assert error(e)["Code"] == "ResourceNotFoundException"


def test_a_failed_replication_is_tried_again_when_asked_again(server):
    # Bug: once a Region's replica had failed (a key of another Region), asking again with a
    # usable key changed nothing; only removing and re-adding the Region recovered.
    east, west = server.client("secretsmanager"), server.client("secretsmanager", region="us-west-2")
    east_key = server.client("kms").create_key()["KeyMetadata"]["Arn"]
    east.create_secret(Name="retry", SecretString="v")
    out = east.replicate_secret_to_regions(SecretId="retry", AddReplicaRegions=[{"Region": "us-west-2", "KmsKeyId": east_key}])
    assert out["ReplicationStatus"][0]["Status"] == "Failed"
    out = east.replicate_secret_to_regions(SecretId="retry", AddReplicaRegions=[{"Region": "us-west-2"}])
    assert [r["Status"] for r in out["ReplicationStatus"]] == ["InSync"]
    assert west.get_secret_value(SecretId="retry")["SecretString"] == "v"


def test_labels_stay_on_one_version_and_reserved_tags_are_refused(server):
    # Regressions: VersionStages ["AWSCURRENT", "AWSPREVIOUS"] left AWSPREVIOUS on two versions
    # and a repeated label was stored twice; the 20-label quota was counted per version; a
    # user could set the reserved aws:secretsmanager:owningService tag (faking OwningService);
    # and a negated tag-key filter passed secrets that had the key.
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="labels", SecretString="1")["ARN"]
    sm.put_secret_value(SecretId=arn, SecretString="2", VersionStages=["AWSCURRENT", "AWSPREVIOUS", "X", "X"])
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert sorted(stages.values()) == [["AWSCURRENT", "AWSPREVIOUS", "X"]]
    for i in range(17):  # 20 labels in all
        sm.update_secret_version_stage(SecretId=arn, VersionStage=f"L{i}", MoveToVersionId=next(iter(stages)))
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId=arn, SecretString="3", VersionStages=["one-too-many"])
    assert error(e)["Code"] == "LimitExceededException"
    with pytest.raises(ClientError) as e:
        sm.tag_resource(SecretId=arn, Tags=[{"Key": "aws:secretsmanager:owningService", "Value": "rds"}])
    assert error(e)["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name="too-many-tags", SecretString="x", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert error(e)["Code"] == "InvalidParameterException"
    assert "OwningService" not in sm.describe_secret(SecretId=arn)
    sm.tag_resource(SecretId=arn, Tags=[{"Key": "Env", "Value": "a"}, {"Key": "Team", "Value": "b"}])
    sm.create_secret(Name="untagged", SecretString="x")
    names = [s["Name"] for s in sm.list_secrets(Filters=[{"Key": "tag-key", "Values": ["!Env"]}])["SecretList"]]
    assert names == ["untagged"]


def test_a_new_kms_key_encrypts_the_labelled_versions_again(server):
    # Regression: UpdateSecret's KmsKeyId was only stored: the versions stayed under the old
    # key, a key that could not encrypt was accepted (and broke every later write), and an
    # empty KmsKeyId was kept as the key's name.
    sm, kms = server.client("secretsmanager"), server.client("kms")
    old_key = kms.create_key()["KeyMetadata"]["Arn"]
    new_key = kms.create_key()["KeyMetadata"]["Arn"]
    arn = sm.create_secret(Name="rekeyed", SecretString="one", KmsKeyId=old_key)["ARN"]
    sm.put_secret_value(SecretId=arn, SecretString="two")
    sm.update_secret(SecretId=arn, KmsKeyId=new_key)
    versions = sm.list_secret_version_ids(SecretId=arn)["Versions"]
    assert {k for v in versions for k in v["KmsKeyIds"]} == {new_key}
    kms.disable_key(KeyId=old_key)
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "two"
    assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == "one"
    with pytest.raises(ClientError):
        sm.update_secret(SecretId=arn, KmsKeyId="alias/does-not-exist")
    assert sm.describe_secret(SecretId=arn)["KmsKeyId"] == new_key
    sm.update_secret(SecretId=arn, KmsKeyId="")
    assert "KmsKeyId" not in sm.describe_secret(SecretId=arn)
    sm.put_secret_value(SecretId=arn, SecretString="three")
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "three"


def test_last_accessed_dates_are_per_version_and_survive_a_restart(start_server):
    # Regression: a second version read on the same day got no LastAccessedDate, and the dates
    # lived in memory only.
    s = start_server()
    sm = s.client("secretsmanager")
    arn = sm.create_secret(Name="read", SecretString="1")["ARN"]
    sm.put_secret_value(SecretId=arn, SecretString="2")
    sm.get_secret_value(SecretId=arn)
    sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")
    dates = lambda client: {
        tuple(v["VersionStages"]): "LastAccessedDate" in v for v in client.list_secret_version_ids(SecretId=arn)["Versions"]
    }
    assert dates(sm) == {("AWSCURRENT",): True, ("AWSPREVIOUS",): True}
    s.stop()
    again = start_server(data_dir=s.data_dir)
    sm2 = again.client("secretsmanager")
    assert "LastAccessedDate" in sm2.describe_secret(SecretId=arn)
    assert dates(sm2) == {("AWSCURRENT",): True, ("AWSPREVIOUS",): True}


def test_a_replica_is_protected_by_its_own_regions_key(server):
    # Bug: a replica kept the primary's encrypted data keys: the replica Region's KmsKeyId
    # protected nothing (disabling it changed nothing), and disabling the primary's key broke
    # the replica too.
    east, west = server.client("secretsmanager"), server.client("secretsmanager", region="us-west-2")
    kms_east, kms_west = server.client("kms"), server.client("kms", region="us-west-2")
    east_key = kms_east.create_key()["KeyMetadata"]["Arn"]
    west_key = kms_west.create_key()["KeyMetadata"]["Arn"]
    east.create_secret(Name="mirrored", SecretString="v1", KmsKeyId=east_key)
    east.replicate_secret_to_regions(SecretId="mirrored", AddReplicaRegions=[{"Region": "us-west-2", "KmsKeyId": west_key}])
    assert west.get_secret_value(SecretId="mirrored")["SecretString"] == "v1"
    assert west.describe_secret(SecretId="mirrored")["KmsKeyId"] == west_key
    [version] = west.list_secret_version_ids(SecretId="mirrored")["Versions"]
    assert version["KmsKeyIds"] == [west_key]
    # The primary Region's key going away leaves the replica readable...
    kms_east.disable_key(KeyId=east_key)
    assert west.get_secret_value(SecretId="mirrored")["SecretString"] == "v1"
    kms_east.enable_key(KeyId=east_key)
    # ...and the replica Region's key controls the replica.
    kms_west.disable_key(KeyId=west_key)
    with pytest.raises(ClientError) as e:
        west.get_secret_value(SecretId="mirrored")
    assert error(e)["Code"] == "DecryptionFailure"
    assert east.get_secret_value(SecretId="mirrored")["SecretString"] == "v1"
    # A new value the replica's key cannot take fails the replication, not the write.
    east.put_secret_value(SecretId="mirrored", SecretString="v2")
    [status] = east.describe_secret(SecretId="mirrored")["ReplicationStatus"]
    assert status["Status"] == "Failed" and status["StatusMessage"].startswith("Replication failed:")


def test_the_aws_managed_key_may_be_named_before_it_exists(server):
    # Bug: KmsKeyId alias/aws/secretsmanager failed (EncryptionFailure, alias not found) until
    # some secret had been created without a key; AWS makes the managed key on first use.
    sm = server.client("secretsmanager")
    sm.create_secret(Name="named", SecretString="v", KmsKeyId="alias/aws/secretsmanager")
    assert sm.get_secret_value(SecretId="named")["SecretString"] == "v"
    aliases = server.client("kms").list_aliases()["Aliases"]
    assert any(a["AliasName"] == "alias/aws/secretsmanager" and a.get("TargetKeyId") for a in aliases)


def test_a_deny_of_kms_decrypt_applies_to_every_read_and_each_read_is_a_kms_decrypt_event(server):
    # Regression: a read served from the data-key cache (after anyone had read the secret
    # under aws/secretsmanager) skipped the caller's kms:Decrypt check and left no KMS Decrypt
    # event, so an explicit Deny of kms:Decrypt held only until the cache was warm.
    sm = server.client("secretsmanager")
    sm.create_secret(Name="prod/fresh", SecretString="fresh1")
    assert sm.get_secret_value(SecretId="prod/fresh")["SecretString"] == "fresh1"
    ops = server.user_client(
        "ops",
        "secretsmanager",
        policy(
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
            {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"},
        ),
    )
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            ops.get_secret_value(SecretId="prod/fresh")
        assert error(e)["Code"] == "AccessDeniedException"
        assert error(e)["Message"] == "Access to KMS is not allowed"
    sm.get_secret_value(SecretId="prod/fresh")
    decrypts = [e for e in server.events() if e["eventName"] == "Decrypt"]
    # One per read: root's two and ops's two refused ones, each naming who read.
    assert [(d["userIdentity"]["arn"].rsplit(":", 1)[1], d.get("errorCode")) for d in decrypts] == [
        ("root", None),
        ("user/ops", "AccessDeniedException"),
        ("user/ops", "AccessDeniedException"),
        ("root", None),
    ]
    assert all(d["userIdentity"]["invokedBy"] == "secretsmanager.amazonaws.com" for d in decrypts)


def test_batch_get_secret_value_applies_source_ip_conditions_and_records_each_read(server):
    # Regression: the batch's per-secret checks had no source address or user agent, so a
    # Deny on aws:SourceIp did not apply to it; and it recorded no GetSecretValue per secret.
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="walled", SecretString="inside")["ARN"]
    open_arn = sm.create_secret(Name="open", SecretString="outside")["ARN"]
    sm.put_resource_policy(
        SecretId="walled",
        ResourcePolicy=policy(
            {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
             "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
        ),
    )
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId=arn)
    assert error(e)["Code"] == "AccessDeniedException"
    out = sm.batch_get_secret_value(SecretIdList=[arn, open_arn])
    assert [v["Name"] for v in out["SecretValues"]] == ["open"]
    assert [x["ErrorCode"] for x in out["Errors"]] == ["AccessDeniedException"]
    events = server.events()
    batch_at = next(i for i, e in enumerate(events) if e["eventName"] == "BatchGetSecretValue")
    reads = [e for e in events[:batch_at] if e["eventName"] == "GetSecretValue" and "invokedBy" in e["userIdentity"]]
    assert [(r["resources"][0]["ARN"], r.get("errorCode")) for r in reads] == [
        (arn, "AccessDeniedException"),
        (open_arn, None),
    ]
    [batch] = [e for e in server.events() if e["eventName"] == "BatchGetSecretValue"]
    assert batch["readOnly"] is True


def test_denials_name_the_resource_as_secrets_manager_does(server):
    # Bug: ListSecrets' denial said "on resource: *" and a missing secret's named the
    # `-??????` pattern; Secrets Manager names no resource for the first and the id as given
    # for the second.
    sm = server.user_client("nobody", "secretsmanager")
    with pytest.raises(ClientError) as e:
        sm.list_secrets()
    assert error(e)["Message"] == (
        "User: arn:aws:iam::123456789012:user/nobody is not authorized to perform: "
        "secretsmanager:ListSecrets because no identity-based policy allows the "
        "secretsmanager:ListSecrets action"
    )
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId="prod/nonexist")
    assert "secretsmanager:GetSecretValue on resource: prod/nonexist because" in error(e)["Message"]


def test_validate_resource_policy_refuses_what_put_resource_policy_refuses(server):
    # Bug: a policy naming a principal that does not exist passed ValidateResourcePolicy, then
    # PutResourcePolicy refused it; a CI check that validates first was misled.
    sm = server.client("secretsmanager")
    sm.create_secret(Name="checked", SecretString="v")
    doc = policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/doesnotexist"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    for call in (
        lambda: sm.validate_resource_policy(SecretId="checked", ResourcePolicy=doc),
        lambda: sm.put_resource_policy(SecretId="checked", ResourcePolicy=doc),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)["Code"] == "MalformedPolicyDocumentException"
        assert "role/doesnotexist" in error(e)["Message"]


def test_kms_key_arn_primary_region_and_rotation_function_keys_bind(server):
    # Regression: secretsmanager:KmsKeyArn, secretsmanager:SecretPrimaryRegion and
    # secretsmanager:resource/AllowRotationLambdaArn were never set: an Allow of CreateSecret
    # pinned to a key's ARN refused creating a secret under that very key, and conditions on a
    # secret's primary Region or rotation function never matched.
    kms = server.client("kms")
    pinned = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/pinned", TargetKeyId=pinned["KeyId"])
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    west = server.client("kms", region="us-west-2").create_key()["KeyMetadata"]["Arn"]
    root = server.client("secretsmanager")
    root.create_secret(Name="mirrored", SecretString="v1")
    root.replicate_secret_to_regions(SecretId="mirrored", AddReplicaRegions=[{"Region": "us-west-2", "KmsKeyId": west}])
    server.client("secretsmanager", region="us-west-2").create_secret(Name="local", SecretString="v1")
    root.create_secret(Name="rotated", SecretString=json.dumps({"password": "p"}))
    out = root.rotate_secret(SecretId="rotated", RotationLambdaARN=LAMBDA + "palisade-rotator-random", RotationRules={"AutomaticallyAfterDays": 30})
    assert server.rotation_outcome(out["VersionId"]) == "RotationSucceeded"
    root.create_secret(Name="plain", SecretString="v1")
    statements = [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": ["secretsmanager:CreateSecret", "secretsmanager:GetSecretValue"], "Resource": "*"},
        {"Effect": "Allow", "Action": "secretsmanager:CreateSecret", "Resource": "*",
         "Condition": {"StringEquals": {"secretsmanager:KmsKeyArn": pinned["Arn"]}}},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
         "Condition": {"StringEquals": {"secretsmanager:SecretPrimaryRegion": "us-east-1"}}},
        {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
         "Condition": {"StringLike": {"secretsmanager:resource/AllowRotationLambdaArn": "*:function:palisade-rotator-*"}}},
    ]
    iam = server.client("iam")
    iam.create_user(UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="p", PolicyDocument=policy(*statements))
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    user, user_west = (
        server.client("secretsmanager", key=key["AccessKeyId"], secret=key["SecretAccessKey"], region=region)
        for region in ("us-east-1", "us-west-2")
    )

    def denied(call):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)["Code"] == "AccessDeniedException", error(e)

    # The key however it is named: id, alias, ARN.
    user.create_secret(Name="a", SecretString="x", KmsKeyId=pinned["KeyId"])
    user.create_secret(Name="b", SecretString="x", KmsKeyId="alias/pinned")
    user.create_secret(Name="c", SecretString="x", KmsKeyId=pinned["Arn"])
    denied(lambda: user.create_secret(Name="d", SecretString="x", KmsKeyId=other))
    denied(lambda: user.create_secret(Name="e", SecretString="x"))
    # A replica's primary Region is its primary's.
    assert user.get_secret_value(SecretId="mirrored")["SecretString"] == "v1"
    assert user_west.get_secret_value(SecretId="mirrored")["SecretString"] == "v1"
    denied(lambda: user_west.get_secret_value(SecretId="local"))
    assert user.get_secret_value(SecretId="plain")["SecretString"] == "v1"
    denied(lambda: user.get_secret_value(SecretId="rotated"))


def test_kms_calls_secrets_manager_makes_for_the_caller_are_via_an_aws_service(server):
    # Regression: the KMS calls Secrets Manager makes with the caller's identity had
    # aws:ViaAWSService false and no aws:CalledVia, so the usual guardrail "no direct use of
    # KMS" (Deny kms:* unless via a service) broke every secret ("Access to KMS is not allowed").
    key = server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    guardrail = policy(
        {"Effect": "Allow", "Action": ["kms:*", "secretsmanager:*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:*", "Resource": "*", "Condition": {"Bool": {"aws:ViaAWSService": "false"}}},
    )
    only_via_secrets_manager = policy(
        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Condition": {
            "ForAnyValue:StringEquals": {"aws:CalledVia": "secretsmanager.amazonaws.com"},
            "StringEquals": {"aws:CalledViaFirst": "secretsmanager.amazonaws.com", "aws:CalledViaLast": "secretsmanager.amazonaws.com"},
        }},
    )
    for name, document in (("guarded", guardrail), ("via", only_via_secrets_manager)):
        iam = server.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document)
        creds = iam.create_access_key(UserName=name)["AccessKey"]
        sm, kms = (server.client(s, key=creds["AccessKeyId"], secret=creds["SecretAccessKey"]) for s in ("secretsmanager", "kms"))
        sm.create_secret(Name=name, SecretString="v1", KmsKeyId=key)
        sm.put_secret_value(SecretId=name, SecretString="v2")
        assert sm.get_secret_value(SecretId=name)["SecretString"] == "v2"
        with pytest.raises(ClientError) as e:
            kms.encrypt(KeyId=key, Plaintext=b"x")
        assert error(e)["Code"] == "AccessDeniedException", name


def test_a_secret_holds_at_most_one_hundred_versions_and_a_write_stores_only_its_value(server):
    # Bugs: versions were never limited (AWS keeps every version of the last 24 hours against a
    # quota of 100 per secret, and refuses writes beyond it with LimitExceededException); and
    # every write stored every version's value again, so 300 writes of 64 KiB grew the store's
    # log to gigabytes.
    sm = server.client("secretsmanager")
    pad = "x" * 60000
    sm.create_secret(Name="busy", SecretString=f"v0{pad}")
    for n in range(1, 100):
        sm.put_secret_value(SecretId="busy", SecretString=f"v{n}{pad}")
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId="busy", SecretString=f"v100{pad}")
    assert error(e)["Code"] == "LimitExceededException"
    versions = sm.list_secret_version_ids(SecretId="busy", IncludeDeprecated=True)["Versions"]
    assert len(versions) == 100
    assert sm.get_secret_value(SecretId="busy")["SecretString"] == f"v99{pad}"
    for _ in range(20):
        sm.update_secret(SecretId="busy", Description="only the description")
    # 100 values of ~80 KiB sealed: each stored once, not once per later write (~80 MiB here).
    stored = sum(p.stat().st_size for p in server.data_dir.glob("*.db*"))
    assert stored > 0
    assert stored < 32 * 1024 * 1024, stored


def test_a_new_kms_key_the_caller_cannot_encrypt_with_leaves_the_versions_under_the_old_key(server):
    # Bug: UpdateSecret with a KmsKeyId the caller could not encrypt with failed as a whole
    # (AccessDeniedException). AWS: "If you don't have kms:Encrypt permission to the new key,
    # Secrets Manager does not re-encrypt existing secret versions with the new key": the
    # update stands, the versions keep their key, and new values need the new key.
    kms = server.client("kms")
    old_key = kms.create_key()["KeyMetadata"]["Arn"]
    new_key = kms.create_key()["KeyMetadata"]["Arn"]
    user = server.user_client(
        "rekeyer",
        "secretsmanager",
        policy(
            {"Effect": "Allow", "Action": ["secretsmanager:*", "kms:*"], "Resource": "*"},
            {"Effect": "Deny", "Action": ["kms:Encrypt", "kms:GenerateDataKey"], "Resource": new_key},
        ),
    )
    arn = user.create_secret(Name="kept-key", SecretString="one", KmsKeyId=old_key)["ARN"]
    user.update_secret(SecretId=arn, KmsKeyId=new_key, Description="moved")
    described = user.describe_secret(SecretId=arn)
    assert described["KmsKeyId"] == new_key and described["Description"] == "moved"
    versions = user.list_secret_version_ids(SecretId=arn)["Versions"]
    assert [v["KmsKeyIds"] for v in versions] == [[old_key]]
    assert user.get_secret_value(SecretId=arn)["SecretString"] == "one"
    with pytest.raises(ClientError) as e:
        user.put_secret_value(SecretId=arn, SecretString="two")
    assert error(e)["Code"] == "AccessDeniedException"
    sm = server.client("secretsmanager")
    sm.put_secret_value(SecretId=arn, SecretString="two")
    current = next(v for v in sm.list_secret_version_ids(SecretId=arn)["Versions"] if "AWSCURRENT" in v["VersionStages"])
    assert current["KmsKeyIds"] == [new_key]


def test_an_invalid_name_gets_aws_validation_exception(server):
    # Bug: an invalid name got InvalidParameterException with a text of Palisade's own, which
    # left out the "!" it accepts; AWS answers ValidationException with this text.
    sm = server.client("secretsmanager")
    for name in ("with space", "semi;colon", "tab\tname"):
        with pytest.raises(ClientError) as e:
            sm.create_secret(Name=name, SecretString="v")
        assert error(e) == {
            "Code": "ValidationException",
            "Message": "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        }, name
    assert sm.create_secret(Name="rds!cluster-1", SecretString="v")["Name"] == "rds!cluster-1"


def test_a_rotation_functions_error_text_reaches_no_log_or_event(start_server):
    # Bug: the first 200 characters of a failing webhook's answer went verbatim into the
    # RotationFailed event's errorMessage, the server log and the secret's record; a rotation
    # function whose error quoted the new password leaked it. Only the status and a
    # Lambda-style errorType are kept.
    leak = "Hunter2-new-password"
    hook = Webhook(None, fail_step="setSecret")
    hook.fail_body = json.dumps({"errorType": "ValueError", "errorMessage": f"cannot set {leak}"}).encode()
    s = start_server("--rotation-webhook", f"echo={hook.url}?token=webhook-token")
    sm = hook.sm = s.client("secretsmanager")
    sm.create_secret(Name="echoed", SecretString="v")
    out = sm.rotate_secret(SecretId="echoed", RotationLambdaARN=LAMBDA + "echo")
    assert s.rotation_outcome(out["VersionId"]) == "RotationFailed"
    failed = next(e for e in s.events() if e["eventName"] == "RotationFailed")
    assert failed["errorMessage"].endswith("answered 500 Internal Server Error (ValueError)"), failed["errorMessage"]
    everything = json.dumps(s.events()) + s.log_path.read_text()
    assert leak not in everything and "webhook-token" not in everything
    for path in s.data_dir.rglob("*"):
        if path.is_file():
            assert leak.encode() not in path.read_bytes(), path


def test_validate_resource_policy_needs_put_resource_policy_too(server):
    # Bug: secretsmanager:ValidateResourcePolicy alone sufficed; AWS's required permissions
    # are "secretsmanager:ValidateResourcePolicy and secretsmanager:PutResourcePolicy".
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="validated", SecretString="v")["ARN"]
    doc = policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    only = server.user_client("validator", "secretsmanager", policy({"Effect": "Allow", "Action": "secretsmanager:ValidateResourcePolicy", "Resource": "*"}))
    with pytest.raises(ClientError) as e:
        only.validate_resource_policy(SecretId=arn, ResourcePolicy=doc)
    assert error(e)["Code"] == "AccessDeniedException"
    assert "secretsmanager:PutResourcePolicy" in error(e)["Message"]
    both = server.user_client(
        "validator2",
        "secretsmanager",
        policy({"Effect": "Allow", "Action": ["secretsmanager:ValidateResourcePolicy", "secretsmanager:PutResourcePolicy"], "Resource": "*"}),
    )
    assert both.validate_resource_policy(SecretId=arn, ResourcePolicy=doc)["PolicyValidationPassed"] is True


def test_a_resource_policy_that_would_lock_the_caller_out_is_refused(server):
    # Bug: PutResourcePolicy stored, and ValidateResourcePolicy passed, a policy denying
    # secretsmanager:* to everyone (the user guide's "Lockout" example); the secret's policy
    # could then never be changed or removed again, not even by the account's root user.
    sm = server.client("secretsmanager")
    sm.create_secret(Name="guarded", SecretString="v")
    lockout = policy({"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*"})
    for call in (
        lambda: sm.validate_resource_policy(SecretId="guarded", ResourcePolicy=lockout),
        lambda: sm.validate_resource_policy(ResourcePolicy=lockout),
        lambda: sm.put_resource_policy(SecretId="guarded", ResourcePolicy=lockout),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)["Code"] == "MalformedPolicyDocumentException"
        assert "will not allow you to manage this secret in the future" in error(e)["Message"]
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId="guarded")
    # Denying everything but the policy's own management stays possible.
    reads_denied = policy({"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    assert sm.validate_resource_policy(SecretId="guarded", ResourcePolicy=reads_denied)["PolicyValidationPassed"] is True
    sm.put_resource_policy(SecretId="guarded", ResourcePolicy=reads_denied)
    sm.delete_resource_policy(SecretId="guarded")


def test_tags_policies_deletion_and_restoration_move_last_changed_date(server):
    # Bug: TagResource, UntagResource, Put/DeleteResourcePolicy, DeleteSecret and RestoreSecret
    # left LastChangedDate as it was; AWS: "modified in any way".
    sm = server.client("secretsmanager")
    sm.create_secret(Name="changing", SecretString="v")
    doc = policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    for change in (
        lambda: sm.tag_resource(SecretId="changing", Tags=[{"Key": "k", "Value": "v"}]),
        lambda: sm.untag_resource(SecretId="changing", TagKeys=["k"]),
        lambda: sm.put_resource_policy(SecretId="changing", ResourcePolicy=doc),
        lambda: sm.delete_resource_policy(SecretId="changing"),
        lambda: sm.delete_secret(SecretId="changing", RecoveryWindowInDays=7),
        lambda: sm.restore_secret(SecretId="changing"),
    ):
        before = sm.describe_secret(SecretId="changing")["LastChangedDate"]
        time.sleep(1.05)
        change()
        assert sm.describe_secret(SecretId="changing")["LastChangedDate"] > before


def test_deprecated_versions_unscheduled_rotations_and_oversized_values_answer_as_aws(dev_server):
    # Bugs: a deprecated version answered "VersionStages": [] (the model's list holds at least
    # one label; AWS leaves it out), RotateSecret without RotationRules left "RotationRules": {}
    # in DescribeSecret, and a value over 65536 bytes got a message of Palisade's own.
    sm = dev_server.client("secretsmanager", "testing", "testing")
    first = sm.create_secret(Name="old", SecretString="v1")["VersionId"]
    sm.put_secret_value(SecretId="old", SecretString="v2")
    sm.put_secret_value(SecretId="old", SecretString="v3")
    assert "VersionStages" not in sm.get_secret_value(SecretId="old", VersionId=first)
    listed = sm.list_secret_version_ids(SecretId="old", IncludeDeprecated=True)["Versions"]
    assert "VersionStages" not in next(v for v in listed if v["VersionId"] == first)
    sm.rotate_secret(SecretId="old")
    assert "RotationRules" not in sm.describe_secret(SecretId="old")
    with pytest.raises(ClientError) as e:
        sm.put_secret_value(SecretId="old", SecretString="é" * 40000)
    assert error(e) == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to 65536",
    }


def user_clients(server, name, document, regions):
    """IAM user `name` with inline policy `document`, and a Secrets Manager client of its key
    in each of `regions`."""
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-inline", PolicyDocument=document)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return [server.client("secretsmanager", key=key["AccessKeyId"], secret=key["SecretAccessKey"], region=r) for r in regions]


def test_a_replica_carries_its_primarys_resource_policy(server):
    # Bug (security): replicas never got the primary's resource policy, so a Deny in it was
    # bypassed by reading the replica in its Region; and GetResourcePolicy refused replicas.
    s1, s2 = server.client("secretsmanager"), server.client("secretsmanager", region="eu-west-1")
    arn = s1.create_secret(Name="guarded", SecretString="topsecret", AddReplicaRegions=[{"Region": "eu-west-1"}])["ARN"]
    u1, u2 = user_clients(
        server,
        "reader",
        policy({"Effect": "Allow", "Action": ["secretsmanager:*", "kms:Decrypt"], "Resource": "*"}),
        ["us-east-1", "eu-west-1"],
    )
    assert u2.get_secret_value(SecretId="guarded")["SecretString"] == "topsecret"
    user_arn = f"arn:aws:iam::{arn.split(':')[4]}:user/reader"
    doc = policy({"Effect": "Deny", "Principal": {"AWS": user_arn}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    s1.put_resource_policy(SecretId="guarded", ResourcePolicy=doc)
    for client in (u1, u2):
        with pytest.raises(ClientError) as e:
            client.get_secret_value(SecretId="guarded")
        assert error(e)["Code"] == "AccessDeniedException"
    # The replica shows the policy it carries; changing it stays the primary's.
    assert json.loads(s2.get_resource_policy(SecretId="guarded")["ResourcePolicy"]) == json.loads(doc)
    with pytest.raises(ClientError) as e:
        s2.delete_resource_policy(SecretId="guarded")
    assert error(e)["Code"] == "InvalidParameterException"
    # Removing it on the primary lifts it everywhere.
    s1.delete_resource_policy(SecretId="guarded")
    assert "ResourcePolicy" not in s2.get_resource_policy(SecretId="guarded")
    assert u2.get_secret_value(SecretId="guarded")["SecretString"] == "topsecret"


def test_a_failed_replica_is_retried_and_removed_with_its_region(server):
    # Bug: a replica whose replication had failed once was never refreshed by later writes
    # (serving its stale value), and RemoveRegionsFromReplication left it behind, still
    # readable after the primary was deleted, and undeletable as a replica.
    s1, s2 = server.client("secretsmanager"), server.client("secretsmanager", region="eu-west-1")
    k2 = server.client("kms", region="eu-west-1")
    eukey = k2.create_key()["KeyMetadata"]["Arn"]
    s1.create_secret(Name="flaky", SecretString="v1", AddReplicaRegions=[{"Region": "eu-west-1", "KmsKeyId": eukey}])
    k2.disable_key(KeyId=eukey)
    s1.put_secret_value(SecretId="flaky", SecretString="v2")
    [status] = s1.describe_secret(SecretId="flaky")["ReplicationStatus"]
    assert status["Status"] == "Failed"
    k2.enable_key(KeyId=eukey)
    # The next write brings the failed replica up to date again.
    s1.put_secret_value(SecretId="flaky", SecretString="v3")
    [status] = s1.describe_secret(SecretId="flaky")["ReplicationStatus"]
    assert status["Status"] == "InSync"
    assert s2.get_secret_value(SecretId="flaky")["SecretString"] == "v3"
    # Failed again, then removed: the replica goes with its Region.
    k2.disable_key(KeyId=eukey)
    s1.put_secret_value(SecretId="flaky", SecretString="v4")
    k2.enable_key(KeyId=eukey)
    out = s1.remove_regions_from_replication(SecretId="flaky", RemoveReplicaRegions=["eu-west-1"])
    assert out["ReplicationStatus"] == []
    with pytest.raises(ClientError) as e:
        s2.get_secret_value(SecretId="flaky")
    assert error(e)["Code"] == "ResourceNotFoundException"
    s1.delete_secret(SecretId="flaky", ForceDeleteWithoutRecovery=True)


def test_removing_a_region_keeps_an_unrelated_secret_of_the_same_name(server):
    # Guard for the fix above: a replication that failed on a name clash removes nothing there.
    s1, s2 = server.client("secretsmanager"), server.client("secretsmanager", region="eu-west-1")
    s2.create_secret(Name="clash", SecretString="theirs")
    s1.create_secret(Name="clash", SecretString="ours", AddReplicaRegions=[{"Region": "eu-west-1"}])
    s1.put_secret_value(SecretId="clash", SecretString="ours2")
    assert s2.get_secret_value(SecretId="clash")["SecretString"] == "theirs"
    s1.remove_regions_from_replication(SecretId="clash", RemoveReplicaRegions=["eu-west-1"])
    assert s2.get_secret_value(SecretId="clash")["SecretString"] == "theirs"


def test_replica_regions_must_be_other_regions_of_the_primarys_partition(server):
    # Bug: any Region was taken and reported InSync: a misspelt one, or another partition's.
    sm = server.client("secretsmanager")
    sm.create_secret(Name="local", SecretString="v")
    for region in ("xx-foo-1", "cn-north-1", "us-gov-west-1", "us-east-1"):
        with pytest.raises(ClientError) as e:
            sm.replicate_secret_to_regions(SecretId="local", AddReplicaRegions=[{"Region": region}])
        assert error(e) == {"Code": "InvalidParameterException", "Message": "Invalid replica region."}, region
        with pytest.raises(ClientError) as e:
            sm.create_secret(Name=f"new-{region}", SecretString="v", AddReplicaRegions=[{"Region": region}])
        assert error(e)["Code"] == "InvalidParameterException", region
    assert "ReplicationStatus" not in sm.describe_secret(SecretId="local")


def test_a_replica_may_name_the_aws_managed_key_before_it_exists_there(server):
    # Bug: KmsKeyId alias/aws/secretsmanager on a replica failed replication in a Region where
    # that AWS-managed key had not been made yet; AWS makes it on first use.
    s1, s2 = server.client("secretsmanager"), server.client("secretsmanager", region="eu-west-1")
    out = s1.create_secret(
        Name="managed", SecretString="v", AddReplicaRegions=[{"Region": "eu-west-1", "KmsKeyId": "alias/aws/secretsmanager"}]
    )
    assert [r["Status"] for r in out["ReplicationStatus"]] == ["InSync"]
    assert s2.get_secret_value(SecretId="managed")["SecretString"] == "v"


def test_replication_status_shows_replica_access_and_delete_names_replicas_as_aws_does(server):
    # Bugs: ReplicationStatus had no LastAccessedDate; the refusal to delete a replicated
    # primary named the secret as given (not its ARN), joined Regions with "," and had no period.
    s1, s2 = server.client("secretsmanager"), server.client("secretsmanager", region="eu-west-1")
    arn = s1.create_secret(Name="seen", SecretString="v", AddReplicaRegions=[{"Region": "eu-west-1"}, {"Region": "us-west-2"}])["ARN"]
    [first, second] = s1.describe_secret(SecretId="seen")["ReplicationStatus"]
    assert "LastAccessedDate" not in first and "LastAccessedDate" not in second
    s2.get_secret_value(SecretId="seen")
    status = {r["Region"]: r for r in s1.describe_secret(SecretId="seen")["ReplicationStatus"]}
    assert "LastAccessedDate" in status["eu-west-1"] and "LastAccessedDate" not in status["us-west-2"]
    assert "LastAccessedDate" not in s1.describe_secret(SecretId="seen")
    with pytest.raises(ClientError) as e:
        s1.delete_secret(SecretId="seen")
    assert error(e) == {
        "Code": "InvalidParameterException",
        "Message": f"You can't delete secret {arn} that still has replica regions [eu-west-1, us-west-2].",
    }


def foreign_arns(account, name):
    """ARNs that end in `:secret:<name>` but name no secret of us-east-1's endpoint: another
    Region, a made-up Region, another partition and another service."""
    return [
        f"arn:aws:secretsmanager:eu-west-1:{account}:secret:{name}",
        f"arn:aws:secretsmanager:xx-nowhere-9:{account}:secret:{name}",
        f"arn:aws-cn:secretsmanager:us-east-1:{account}:secret:{name}",
        f"arn:aws:kms:us-east-1:{account}:secret:{name}",
    ]


def test_an_arn_naming_another_region_partition_or_service_does_not_reach_this_regions_secret(server):
    # Bug (security): a partial ARN (no random suffix) naming another Region, partition or
    # service acted on this Region's secret of that name, while authorization looked in the
    # ARN's Region, found nothing and so applied neither the secret's resource policy nor IAM's
    # scoping: a Deny was bypassed for reads, writes and deletes.
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="locked", SecretString="crown-jewels")["ARN"]
    account = arn.split(":")[4]
    sm.put_resource_policy(
        SecretId="locked",
        ResourcePolicy=policy(
            {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*",
             "Condition": {"StringNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{account}:root"}}},
        ),
    )
    user = server.user_client(
        "mallory", "secretsmanager",
        policy({"Effect": "Allow", "Action": ["secretsmanager:*", "kms:*"], "Resource": "*"}),
    )
    for same in ("locked", arn, arn[:-7]):
        with pytest.raises(ClientError) as e:
            user.get_secret_value(SecretId=same)
        assert error(e)["Code"] == "AccessDeniedException", same
    # The owner still reaches it by its own partial ARN, and the event names the secret.
    assert sm.get_secret_value(SecretId=arn[:-7])["SecretString"] == "crown-jewels"
    reads = [e for e in server.events() if e["eventName"] == "GetSecretValue" and "errorCode" not in e]
    assert reads[-1]["resources"][0]["ARN"] == arn
    for foreign in foreign_arns(account, "locked"):
        calls = [
            lambda: user.get_secret_value(SecretId=foreign),
            lambda: user.put_secret_value(SecretId=foreign, SecretString="overwritten"),
            lambda: user.delete_resource_policy(SecretId=foreign),
            lambda: user.describe_secret(SecretId=foreign),
            lambda: user.update_secret(SecretId=foreign, Description="mine"),
            lambda: user.tag_resource(SecretId=foreign, Tags=[{"Key": "k", "Value": "v"}]),
            lambda: user.delete_secret(SecretId=foreign),
        ]
        for call in calls:
            with pytest.raises(ClientError) as e:
                call()
            assert error(e)["Code"] == "ResourceNotFoundException", foreign
        # A forced delete of a secret that is not there succeeds, as in AWS, and deletes nothing.
        out = user.delete_secret(SecretId=foreign, ForceDeleteWithoutRecovery=True)
        assert out["ARN"] != arn
        batch = user.batch_get_secret_value(SecretIdList=[foreign])
        assert batch["SecretValues"] == []
        assert [x["ErrorCode"] for x in batch["Errors"]] == ["ResourceNotFoundException"]
        assert all(arn not in json.dumps(e.get("resources", [])) for e in server.events()[-3:])
    assert sm.get_secret_value(SecretId="locked")["SecretString"] == "crown-jewels"
    assert "ResourcePolicy" in sm.get_resource_policy(SecretId="locked")
    assert sm.describe_secret(SecretId="locked").get("Description") is None


def test_iam_scoped_to_another_region_does_not_reach_this_regions_secrets_by_arn(server):
    # Bug (security): a user allowed only on us-west-2's secrets overwrote and deleted
    # us-east-1's at the us-east-1 endpoint by naming them with a us-west-2 partial ARN.
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="east", SecretString="original")["ARN"]
    account = arn.split(":")[4]
    west_only = f"arn:aws:secretsmanager:us-west-2:{account}:secret:*"
    user = server.user_client(
        "westie", "secretsmanager",
        policy({"Effect": "Allow", "Action": ["secretsmanager:*", "kms:*"], "Resource": [west_only, "arn:aws:kms:*"]}),
    )
    with pytest.raises(ClientError) as e:
        user.get_secret_value(SecretId="east")
    assert error(e)["Code"] == "AccessDeniedException"
    disguised = f"arn:aws:secretsmanager:us-west-2:{account}:secret:east"
    for call in (
        lambda: user.get_secret_value(SecretId=disguised),
        lambda: user.put_secret_value(SecretId=disguised, SecretString="overwritten"),
        lambda: user.delete_secret(SecretId=disguised),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)["Code"] == "ResourceNotFoundException"
    user.delete_secret(SecretId=disguised, ForceDeleteWithoutRecovery=True)
    assert sm.get_secret_value(SecretId="east")["SecretString"] == "original"
    assert sm.describe_secret(SecretId="east").get("DeletedDate") is None


def test_batch_get_secret_value_pages_survive_a_loop_that_deletes_each_page(server):
    # Regression: BatchGetSecretValue with Filters paged by position, so a migration loop that
    # deleted each page's secrets before asking for the next page never saw a third of them.
    sm = server.client("secretsmanager")
    names = [f"mig/s{i:02}" for i in range(30)]
    for n in names:
        sm.create_secret(Name=n, SecretString="v")
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        out = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": ["mig/"]}], MaxResults=10, **kw)
        for v in out["SecretValues"]:
            seen.append(v["Name"])
            sm.delete_secret(SecretId=v["ARN"], ForceDeleteWithoutRecovery=True)
        token = out.get("NextToken")
        if not token:
            break
    assert sorted(seen) == names


def test_batch_get_secret_value_with_filters_needs_list_secrets(server):
    # Bug: BatchGetSecretValue with Filters did not require secretsmanager:ListSecrets (AWS's
    # required permissions do), and its Errors named every secret's ARN to a caller denied it.
    sm = server.client("secretsmanager")
    sm.create_secret(Name="listed-a", SecretString="a")
    document = policy(
        {"Effect": "Allow", "Action": ["secretsmanager:BatchGetSecretValue", "secretsmanager:GetSecretValue", "kms:Decrypt"], "Resource": "*"},
    )
    user = server.user_client("batcher", "secretsmanager", document)
    for filters in ([{"Key": "name", "Values": ["listed"]}], []):
        with pytest.raises(ClientError) as e:
            user.batch_get_secret_value(Filters=filters)
        assert error(e)["Code"] == "AccessDeniedException"
        assert "secretsmanager:ListSecrets" in error(e)["Message"]
    # By id it needs no ListSecrets.
    assert [v["SecretString"] for v in user.batch_get_secret_value(SecretIdList=["listed-a"])["SecretValues"]] == ["a"]
    server.client("iam").put_user_policy(
        UserName="batcher", PolicyName="list",
        PolicyDocument=policy({"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}),
    )
    out = user.batch_get_secret_value(Filters=[{"Key": "name", "Values": ["listed"]}])
    assert [v["SecretString"] for v in out["SecretValues"]] == ["a"]


def test_batch_get_secret_value_with_filters_lists_a_secret_without_a_value_as_an_error(server):
    # Bug: one filtered secret without an AWSCURRENT value failed the whole call
    # (ResourceNotFoundException) and the other secrets' values were lost.
    sm = server.client("secretsmanager")
    sm.create_secret(Name="batch-full", SecretString="x")
    empty = sm.create_secret(Name="batch-empty")["ARN"]
    out = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": ["batch-"]}])
    assert [v["Name"] for v in out["SecretValues"]] == ["batch-full"]
    assert [(x["SecretId"], x["ErrorCode"]) for x in out["Errors"]] == [(empty, "ResourceNotFoundException")]


def test_batch_get_secret_value_needs_filters_or_a_secret_id_list(server):
    # Bug: a call with neither answered an empty success; the model: "You must include
    # Filters or SecretIdList, but not both."
    sm = server.client("secretsmanager")
    with pytest.raises(ClientError) as e:
        sm.batch_get_secret_value()
    assert error(e)["Code"] == "InvalidParameterException"


def test_get_random_password_with_a_space_keeps_every_required_type(server):
    # Bug: with IncludeSpace the space took one of the forced positions, so a password as long
    # as the required types (PasswordLength 4) always lacked one of them.
    sm = server.client("secretsmanager")
    for _ in range(20):
        p = sm.get_random_password(PasswordLength=4, IncludeSpace=True)["RandomPassword"]
        assert any(c.islower() for c in p) and any(c.isupper() for c in p), p
        assert any(c.isdigit() for c in p) and any(not c.isalnum() and c != " " for c in p), p


def test_secret_records_name_the_arn_as_cloudtrail_does_and_no_wildcard_resources(server):
    # Bugs: responseElements spelt the ARN `aRN` (CloudTrail's spelling before February 2024;
    # rules keyed on `responseElements.arn` missed it), and a failed create or a read of a
    # missing secret listed the authorization wildcard `...:secret:NAME-??????` as a resource.
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="recorded", SecretString="v1")["ARN"]
    sm.put_secret_value(SecretId="recorded", SecretString="v2")
    with pytest.raises(ClientError):
        sm.get_secret_value(SecretId="nosuch")
    with pytest.raises(ClientError):
        sm.create_secret(Name="recorded", SecretString="again")
    events = server.events()
    for name in ("CreateSecret", "PutSecretValue"):
        ok = [e for e in events if e["eventName"] == name and "errorCode" not in e][-1]
        assert ok["responseElements"]["arn"] == arn and "aRN" not in ok["responseElements"]
    assert "??????" not in json.dumps(events)


# Secrets under customer keys (review of 2026-12-04): what AWS's Secrets Manager does with KMS.


def test_another_account_cannot_write_a_secret_under_the_owners_managed_key(two_accounts):
    # Regression: account 222222222222, granted PutSecretValue by the secret's policy, sealed
    # the owner's secret under its own account's aws/secretsmanager key: the owner could no
    # longer read its secret, and the writer could.
    s = two_accounts
    key_a, secret_a = s.credentials("account-111111111111")
    sm_a = s.client("secretsmanager", key=key_a, secret=secret_a)
    arn = sm_a.create_secret(Name="owned", SecretString="v1")["ARN"]
    grant = policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": ["secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue"], "Resource": "*"})
    sm_a.put_resource_policy(SecretId=arn, ResourcePolicy=grant)
    sm_b = s.client("secretsmanager")
    message = "You can't access a secret from a different AWS account if you encrypt the secret with the default KMS service key."
    for call in (lambda: sm_b.put_secret_value(SecretId=arn, SecretString="v2"), lambda: sm_b.get_secret_value(SecretId=arn)):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == {"Code": "AccessDeniedException", "Message": message}
    assert sm_a.get_secret_value(SecretId=arn)["SecretString"] == "v1"


def test_a_deny_of_generate_data_key_holds_under_the_managed_key(server):
    # Regression: the AWS-managed key's use was never authorized on writes, so a user denied
    # kms:GenerateDataKey created secrets, and the KMS event recorded a success.
    sm = server.user_client(
        "denied",
        "secretsmanager",
        policy(
            {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "kms:GenerateDataKey", "Resource": "*"},
        ),
    )
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name="nope", SecretString="v")
    assert error(e) == {"Code": "AccessDeniedException", "Message": "Access to KMS is not allowed"}
    [event] = [e for e in server.events() if e["eventName"] == "GenerateDataKey"]
    assert event["errorCode"].startswith("AccessDenied"), event


def test_a_key_change_stands_when_the_previous_key_cannot_decrypt(server):
    # Regression: UpdateSecret(KmsKeyId=new) failed while the old key was disabled (and with it
    # every later write, which used the old key); AWS leaves such versions under their key and
    # changes it.
    kms, sm = server.client("kms"), server.client("secretsmanager")
    old, new = (kms.create_key()["KeyMetadata"]["Arn"] for _ in range(2))
    sm.create_secret(Name="rekeyed", SecretString="v1", KmsKeyId=old)
    kms.disable_key(KeyId=old)
    sm.update_secret(SecretId="rekeyed", KmsKeyId=new)
    assert sm.describe_secret(SecretId="rekeyed")["KmsKeyId"] == new
    sm.put_secret_value(SecretId="rekeyed", SecretString="v2")
    assert sm.get_secret_value(SecretId="rekeyed")["SecretString"] == "v2"
    # A version the old key cannot open keeps it, and the others still move: AWSCURRENT (v2,
    # under `new`) moves to `newest` though AWSPREVIOUS (v1) stays under the disabled `old`
    # (bug: the first such version ended the re-encryption).
    newest = kms.create_key()["KeyMetadata"]["Arn"]
    sm.update_secret(SecretId="rekeyed", KmsKeyId=newest)
    kms.disable_key(KeyId=new)
    assert sm.get_secret_value(SecretId="rekeyed")["SecretString"] == "v2"


def test_a_key_set_without_a_value_is_checked_and_the_managed_key_is_not_shown(server):
    # Regressions: CreateSecret and UpdateSecret accepted a KmsKeyId naming no key when the
    # secret had no value (every later write failed); DescribeSecret showed KmsKeyId for a
    # secret on aws/secretsmanager named explicitly, which AWS leaves out.
    sm = server.client("secretsmanager")
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name="bogus", KmsKeyId="alias/no-such-key")
    assert error(e)["Code"] == "EncryptionFailure"
    sm.create_secret(Name="empty")
    with pytest.raises(ClientError) as e:
        sm.update_secret(SecretId="empty", KmsKeyId="alias/no-such-key")
    assert error(e)["Code"] == "EncryptionFailure"
    # A key that works is checked as AWS checks it: GenerateDataKey and Decrypt for a version
    # named RequestToValidateKeyAccess.
    key = server.client("kms").create_key()["KeyMetadata"]["Arn"]
    sm.create_secret(Name="keyed", KmsKeyId=key)
    checked = [
        (e["eventName"], e["requestParameters"]["encryptionContext"]["SecretVersionId"])
        for e in server.events()
        if e["eventName"] in ("GenerateDataKey", "Decrypt")
    ]
    assert checked == [("GenerateDataKey", "RequestToValidateKeyAccess"), ("Decrypt", "RequestToValidateKeyAccess")]
    for name, kwargs in (("named", {"KmsKeyId": "alias/aws/secretsmanager"}), ("blank", {"KmsKeyId": ""}), ("default", {})):
        sm.create_secret(Name=name, SecretString="v", **kwargs)
        assert "KmsKeyId" not in sm.describe_secret(SecretId=name), name
    key = server.client("kms").describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    assert key["Description"] == "Default key that protects my Secrets Manager data when no other key is defined"


def test_another_accounts_writer_seals_under_the_owners_key_named_by_alias(two_accounts):
    # Regression: a secret's KmsKeyId given as an alias was resolved in the writer's account, so
    # another account allowed to write the secret sealed it under its own key of that alias
    # name, and the owner could no longer read its secret.
    s = two_accounts
    key_a, secret_a = s.credentials("account-111111111111")
    kms_a, sm_a = s.client("kms", key=key_a, secret=secret_a), s.client("secretsmanager", key=key_a, secret=secret_a)
    key_policy = policy(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"},
    )
    kms_a.create_alias(AliasName="alias/app", TargetKeyId=kms_a.create_key(Policy=key_policy)["KeyMetadata"]["KeyId"])
    kms_b = s.client("kms")
    kms_b.create_alias(AliasName="alias/app", TargetKeyId=kms_b.create_key()["KeyMetadata"]["KeyId"])
    arn = sm_a.create_secret(Name="aliased", SecretString="v1", KmsKeyId="alias/app")["ARN"]
    grant = policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "secretsmanager:PutSecretValue", "Resource": "*"})
    sm_a.put_resource_policy(SecretId=arn, ResourcePolicy=grant)
    s.client("secretsmanager").put_secret_value(SecretId=arn, SecretString="v2")
    assert sm_a.get_secret_value(SecretId=arn)["SecretString"] == "v2"
    # Nor may it move the secret to the managed key, which serves the owner's account only.
    sm_a.put_resource_policy(SecretId=arn, ResourcePolicy=policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "secretsmanager:UpdateSecret", "Resource": "*"}))
    with pytest.raises(ClientError) as e:
        s.client("secretsmanager").update_secret(SecretId=arn, KmsKeyId="")
    assert error(e)["Code"] == "AccessDeniedException"
    assert sm_a.describe_secret(SecretId=arn)["KmsKeyId"] == "alias/app"
