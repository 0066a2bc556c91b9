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
    assert not (tmp_path / "again.csv").exists()
