"""Black-box fixtures: the real `palisade` binary on an ephemeral loopback port with a fresh data
directory, driven by real clients (boto3 and the aws CLI)."""

import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

import boto3
import botocore
import pytest
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]


def binary() -> str:
    explicit = os.environ.get("PALISADE_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    return str(Path(target) / "debug" / "palisade")


def read_event_log(directory):
    """The CloudTrail records in Palisade's audit event log, oldest first, read independently of
    Palisade: segment files of frames (u32 length, u32 CRC-32, body), the body's fields
    length-prefixed and the record last (crates/store/src/event_log.rs)."""
    records = []
    for segment in sorted(Path(directory).glob("*.log")):
        data = segment.read_bytes()
        at = 0
        while at + 8 <= len(data):
            length, crc = struct.unpack_from("<II", data, at)
            body = data[at + 8 : at + 8 + length]
            if length == 0 or len(body) < length or zlib.crc32(body) != crc:
                break
            pos = 17  # position, time, flags

            def field():
                nonlocal pos
                (n,) = struct.unpack_from("<I", body, pos)
                pos += 4
                if n == 0xFFFFFFFF:
                    return None
                pos += n
                return body[pos - n : pos]

            for _ in range(7):  # id, account, source, name, key id, user, error code
                field()
            (resources,) = struct.unpack_from("<I", body, pos)
            pos += 4
            for _ in range(2 * resources):
                field()
            records.append(field().decode())
            at += 8 + length
    return records


def make_cert(common_name, issuer=None, ca=False, san_ip=None, days=30, key_size=2048, not_before_days=-1):
    """A fresh RSA key of `key_size` bits and its certificate, valid from `not_before_days` to
    `days` from now: self-signed, or signed by `issuer=(key, cert)`; a CA certificate with `ca`,
    one naming an IP address with `san_ip`. Returns (key, cert)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    signer, issuer_name = (issuer[0], issuer[1].subject) if issuer else (key, name)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=not_before_days))
        .not_valid_after(now + datetime.timedelta(days=days))
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    if san_ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san_ip))]), False)
    return key, builder.sign(signer, hashes.SHA256())


class Server:
    """One running `palisade serve`."""

    def __init__(self, *args, env=None, data_dir=None, preexec_fn=None):
        self.dir = tempfile.TemporaryDirectory(prefix="palisade-test-")
        self.data_dir = Path(data_dir) if data_dir else Path(self.dir.name) / "data"
        self.log_path = Path(self.dir.name) / "server.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        full_env.update(env or {})
        full_env.setdefault("PALISADE_LOG", "info")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary(), "serve", *([] if "--listen" in args else ["--listen", "127.0.0.1:0"]), "--data-dir", str(self.data_dir), *args],
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=full_env,
            text=True,
            preexec_fn=preexec_fn,
        )
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (\S+)", line or "")
        if not match:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r}\n{self.log_path.read_text()}")
        self.url = match.group(1)

    # -- clients --------------------------------------------------------------------------
    def credentials(self, profile="palisade"):
        text = (self.data_dir / "credentials").read_text()
        section = text.split(f"[{profile}]", 1)[1]
        key = re.search(r"aws_access_key_id = (\S+)", section).group(1)
        secret = re.search(r"aws_secret_access_key = (\S+)", section).group(1)
        return key, secret

    def client(self, service, key=None, secret=None, region="us-east-1", **kwargs):
        if key is None:
            key, secret = self.credentials()
        config = Config(retries={"max_attempts": 1})
        if "config" in kwargs:
            config = config.merge(kwargs.pop("config"))
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=config,
            **kwargs,
        )

    def user_client(self, name, service, policy_document=None, region="us-east-1"):
        """Creates IAM user `name` with an inline policy (JSON text) and returns a `service`
        client signed with its new access key."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        if policy_document:
            iam.put_user_policy(UserName=name, PolicyName=f"{name}-inline", PolicyDocument=policy_document)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return self.client(service, key=key["AccessKeyId"], secret=key["SecretAccessKey"], region=region)

    def unsigned(self, service, region="us-east-1"):
        """A client that signs nothing, as boto3 sends STS's AssumeRoleWithWebIdentity and
        AssumeRoleWithSAML (retries off: botocore retries IDPCommunicationError)."""
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            config=Config(signature_version=botocore.UNSIGNED, retries={"total_max_attempts": 1}),
        )

    def aws(self, *args, env=None, check=True):
        """Runs the real aws CLI against the server with the written credentials file."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        full_env.update(
            {
                "AWS_SHARED_CREDENTIALS_FILE": str(self.data_dir / "credentials"),
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        full_env.update(env or {})
        aws = Path(sys.executable).parent / "aws"
        result = subprocess.run(
            [str(aws), "--endpoint-url", self.url, "--output", "json", *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {result.stderr}")
        return result

    def http(self, method, path, body=b"", headers=None):
        """A raw request; returns (status, headers, body)."""
        request = urllib.request.Request(self.url + path, data=body or None, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    # -- state ----------------------------------------------------------------------------
    def events(self):
        """Every audit event in the store, oldest first, as parsed CloudTrail records."""
        return [json.loads(r) for r in read_event_log(self.data_dir / "events")]

    def rotation_outcome(self, version_id, timeout=30):
        """Waits for the rotation that makes `version_id` to end and returns its outcome,
        `RotationSucceeded` or `RotationFailed`: RotateSecret only starts a rotation, as in
        AWS, and a client learns how it went afterwards (here, from the service event)."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events():
                if (
                    e.get("eventType") == "AwsServiceEvent"
                    and e.get("eventName") in ("RotationSucceeded", "RotationFailed")
                    and (e.get("additionalEventData") or {}).get("VersionId") == version_id
                ):
                    return e["eventName"]
            if time.monotonic() > deadline:
                raise AssertionError(f"the rotation of version {version_id} did not end within {timeout}s")
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def close(self):
        self.stop()
        self.dir.cleanup()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def dev_server():
    s = Server("--dev")
    yield s
    s.close()


@pytest.fixture
def start_server():
    started = []

    def start(*args, env=None, data_dir=None, preexec_fn=None):
        s = Server(*args, env=env, data_dir=data_dir, preexec_fn=preexec_fn)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


@pytest.fixture
def two_accounts(start_server):
    """One server holding two accounts: 222222222222 under the default profile, and
    111111111111, whose root key is under the profile `account-111111111111`."""
    first = start_server("--account-id", "111111111111")
    first.stop()
    return start_server("--account-id", "222222222222", data_dir=first.data_dir)
