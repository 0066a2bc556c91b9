"""`palisade mask` and `unmask` with keys from Palisade's own KMS: a data key wrapped under a KMS
key (`kms_wrapped`) and an envelope key (`kms_key`) mask and unmask a CSV, every use is decided
by the key's policy, and a caller whom the key policy denies cannot unmask."""

import base64
import json
import subprocess

from conftest import binary


def run(args, env, cwd):
    return subprocess.run([binary(), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def write_inputs(tmp_path, keys):
    """The keys file, rules (a deterministic token for email, an envelope for note) and CSV."""
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    (tmp_path / "rules.yaml").write_text(
        "rules:\n"
        "  - column: email\n"
        "    transform: {type: deterministic_encrypt, key: pii, context: email}\n"
        "  - column: note\n"
        "    transform: {type: encrypt, key: envelope, context: note}\n"
    )
    (tmp_path / "people.csv").write_text("name,email,note\nann,ann@example.com,likes tea\n")


def test_mask_and_unmask_with_keys_from_palisades_kms(server, tmp_path):
    kms = server.client("kms")
    key = kms.create_key(Description="masking")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/masking", TargetKeyId=key)
    wrapped = kms.generate_data_key(KeyId="alias/masking", KeySpec="AES_256")["CiphertextBlob"]
    keys = {
        "keys": {
            "pii": {"kms_wrapped": {"key_id": "alias/masking", "ciphertext_blob": base64.b64encode(wrapped).decode()}},
            "envelope": {"kms_key": "alias/masking"},
        }
    }
    write_inputs(tmp_path, keys)
    access, secret = server.credentials()
    env = {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret, "PATH": "/usr/bin:/bin"}
    endpoint = ["--kms-endpoint", server.url]
    masked = run(["mask", "--rules", "rules.yaml", "--keys", "keys.json", *endpoint, "people.csv", "-o", "masked.csv"], env, tmp_path)
    assert masked.returncode == 0, masked.stderr
    text = (tmp_path / "masked.csv").read_text()
    assert "ann@example.com" not in text and "likes tea" not in text and "ann" in text
    # As the SDKs do, the tools also take keys from a profile of the shared credentials file,
    # the only place the README's quickstart puts them (a bug: only variables were read).
    profile_env = {
        "AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
        "AWS_PROFILE": "palisade",
        "PATH": "/usr/bin:/bin",
    }
    clear = run(["unmask", "--rules", "rules.yaml", "--keys", "keys.json", *endpoint, "masked.csv", "-o", "clear.csv"], profile_env, tmp_path)
    assert clear.returncode == 0, clear.stderr
    assert (tmp_path / "clear.csv").read_text() == (tmp_path / "people.csv").read_text()
    # Every KMS use was decided and audited by the server.
    names = [e["eventName"] for e in server.events()]
    assert "Decrypt" in names
    # A key policy that denies decryption stops unmasking.
    kms.put_key_policy(
        KeyId=key,
        PolicyName="default",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"},
                    {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"},
                ],
            }
        ),
    )
    denied = run(["unmask", "--rules", "rules.yaml", "--keys", "keys.json", *endpoint, "masked.csv", "-o", "again.csv"], env, tmp_path)
    assert denied.returncode != 0
    assert "AccessDenied" in denied.stderr


def test_encryption_context_user_agent_and_default_region(server, tmp_path):
    """Review defect 11: kms_wrapped and kms_key entries take an encryption context, passed to
    Decrypt and GenerateDataKey; requests carry a User-Agent (CloudTrail's userAgent was "");
    and AWS_DEFAULT_REGION is read (only AWS_REGION was)."""
    kms = server.client("kms")
    key = kms.create_key(Description="masking with context")["KeyMetadata"]["KeyId"]
    context = {"purpose": "masking"}
    wrapped = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=context)["CiphertextBlob"]
    keys = {
        "keys": {
            "pii": {
                "kms_wrapped": {
                    "key_id": key,
                    "ciphertext_blob": base64.b64encode(wrapped).decode(),
                    "encryption_context": context,
                }
            },
            "envelope": {"kms_key": {"key_id": key, "encryption_context": {"purpose": "envelope"}}},
        }
    }
    write_inputs(tmp_path, keys)
    access, secret = server.credentials()
    env = {
        "AWS_ACCESS_KEY_ID": access,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "PATH": "/usr/bin:/bin",
    }
    endpoint = ["--kms-endpoint", server.url]
    masked = run(["mask", "--rules", "rules.yaml", "--keys", "keys.json", *endpoint, "people.csv", "-o", "masked.csv"], env, tmp_path)
    assert masked.returncode == 0, masked.stderr
    manifest = json.loads((tmp_path / "masked.csv.keys.json").read_text())
    assert manifest["data_keys"][0]["encryption_context"] == {"purpose": "envelope"}
    clear = run(["unmask", "--rules", "rules.yaml", "--keys", "keys.json", *endpoint, "masked.csv", "-o", "clear.csv"], env, tmp_path)
    assert clear.returncode == 0, clear.stderr
    assert (tmp_path / "clear.csv").read_text() == (tmp_path / "people.csv").read_text()
    tool_events = [e for e in server.events() if e.get("userAgent", "").startswith("palisade-mask/")]
    names = sorted({e["eventName"] for e in tool_events})
    assert names == ["Decrypt", "GenerateDataKey"], names
    assert all(e["awsRegion"] == "us-east-1" for e in tool_events)
    # Without its context the wrapped key does not open: an error, exit status 2.
    keys["keys"]["pii"]["kms_wrapped"].pop("encryption_context")
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    wrong = run(["mask", "--rules", "rules.yaml", "--keys", "keys.json", *endpoint, "people.csv", "-o", "again.csv"], env, tmp_path)
    assert wrong.returncode == 2, wrong.stderr
    assert "Decrypt" in wrong.stderr
    # KMS's InvalidCiphertextException has an empty message: the tool says what to check.
    assert "InvalidCiphertextException" in wrong.stderr and "encryption_context" in wrong.stderr, wrong.stderr
    assert not (tmp_path / "again.csv").exists()


def test_concurrent_runs_sharing_an_envelope_manifest_keep_every_data_key(server, tmp_path):
    """Bug: runs sharing one --envelope manifest read, merged and replaced it without a lock,
    through one fixed temporary name, so some outputs lost their KMS data key (mask exited 0,
    unmask failed "data key … is not in the envelope manifest") and some runs failed with a
    misleading "No such file or directory"."""
    kms = server.client("kms")
    key = kms.create_key(Description="shared envelope")["KeyMetadata"]["KeyId"]
    wrapped = kms.generate_data_key(KeyId=key, KeySpec="AES_256")["CiphertextBlob"]
    keys = {
        "keys": {
            "pii": {"kms_wrapped": {"key_id": key, "ciphertext_blob": base64.b64encode(wrapped).decode()}},
            "envelope": {"kms_key": key},
        }
    }
    write_inputs(tmp_path, keys)
    access, secret = server.credentials()
    env = {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret, "PATH": "/usr/bin:/bin"}
    endpoint = ["--kms-endpoint", server.url]
    runs = 8
    for i in range(runs):
        (tmp_path / f"p{i}.csv").write_text(f"name,email,note\nn{i},u{i}@example.com,secret {i}\n")
    procs = [
        subprocess.Popen(
            [binary(), "mask", "--rules", "rules.yaml", "--keys", "keys.json", *endpoint, f"p{i}.csv", "-o", f"m{i}.csv",
             "--envelope", "shared.json", "--no-progress", "-q"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(runs)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    manifest = json.loads((tmp_path / "shared.json").read_text())
    assert len(manifest["data_keys"]) == runs
    for i in range(runs):
        clear = run(["unmask", "--rules", "rules.yaml", "--keys", "keys.json", *endpoint, f"m{i}.csv", "-o", f"c{i}.csv",
                     "--envelope", "shared.json"], env, tmp_path)
        assert clear.returncode == 0, clear.stderr
        assert (tmp_path / f"c{i}.csv").read_text() == (tmp_path / f"p{i}.csv").read_text()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
