"""KMS as a user sees it against a strict-mode server: real encryption with contexts that bind,
key policies and grants that really decide, rotation that keeps old ciphertexts readable,
asymmetric keys that interoperate with a standard crypto library, imported and multi-Region
keys, and no key material or data key in the data directory or the log."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding


def error(excinfo):
    return excinfo.value.response["Error"]


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user_clients(server, name, *statements):
    iam = server.client("iam")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return server.client("kms", key=key["AccessKeyId"], secret=key["SecretAccessKey"]), f"arn:aws:iam::123456789012:user/{name}"


def test_encryption_context_binds_and_any_changed_byte_is_invalid_ciphertext(server):
    kms = server.client("kms")
    key = kms.create_key(Description="app")["KeyMetadata"]
    assert key["Arn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"attack at dawn", EncryptionContext={"ab": "c"})
    assert out["KeyId"] == key["Arn"]
    blob = out["CiphertextBlob"]
    back = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"ab": "c"})
    assert back["Plaintext"] == b"attack at dawn" and back["KeyId"] == key["Arn"]
    # {"ab": "c"} and {"a": "bc"} concatenate alike but are different contexts.
    for context in ({"a": "bc"}, {}):
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        assert error(e)["Code"] == "InvalidCiphertextException"
    for i in range(0, len(blob), 7):
        tampered = bytearray(blob)
        tampered[i] ^= 0x40
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext={"ab": "c"})
        assert error(e)["Code"] in ("InvalidCiphertextException", "NotFoundException"), i


def test_a_ciphertext_of_another_regions_key_is_access_denied_not_damaged(server):
    # Bug: InvalidCiphertextException with no message, which says the blob is damaged; KMS
    # answers that the key does not exist in this Region or is not the caller's to use.
    blob = server.client("kms", region="us-west-2").encrypt(
        KeyId=server.client("kms", region="us-west-2").create_key()["KeyMetadata"]["KeyId"], Plaintext=b"x"
    )["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        server.client("kms", region="us-east-1").decrypt(CiphertextBlob=blob)
    assert error(e) == {
        "Code": "AccessDeniedException",
        "Message": "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.",
    }


def test_key_policy_must_allow_and_grants_allow_their_operations(server):
    root = server.client("kms")
    # A key whose policy does not delegate to IAM: identity policies alone do not help.
    closed = root.create_key(
        Policy=policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"})
    )["KeyMetadata"]["Arn"]
    kms, _ = user_clients(server, "alice", {"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    # The default policy delegates to IAM through the account principal, so alice may use it.
    default_key = root.create_key()["KeyMetadata"]["Arn"]
    assert kms.encrypt(KeyId=default_key, Plaintext=b"x")["KeyId"] == default_key
    # alice's identity policy allows kms:*; the root principal in a key policy delegates to
    # IAM, so she may use `closed` too; an explicit deny in the key policy stops her.
    deny_alice = policy(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::123456789012:user/alice"}, "Action": "kms:Encrypt", "Resource": "*"},
    )
    root.put_key_policy(KeyId=closed, PolicyName="default", Policy=deny_alice)
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=closed, Plaintext=b"x")
    assert error(e)["Code"] == "AccessDeniedException"
    assert "explicit deny in a resource-based policy" in error(e)["Message"]
    # bob has no permissions at all; a grant lets him decrypt, within its constraints.
    bob, bob_arn = user_clients(server, "bob")
    blob = root.encrypt(KeyId=default_key, Plaintext=b"for bob", EncryptionContext={"team": "red"})["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        bob.decrypt(CiphertextBlob=blob, EncryptionContext={"team": "red"})
    assert error(e)["Code"] == "AccessDeniedException"
    grant = root.create_grant(
        KeyId=default_key,
        GranteePrincipal=bob_arn,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"team": "red"}},
    )
    assert bob.decrypt(CiphertextBlob=blob, EncryptionContext={"team": "red"})["Plaintext"] == b"for bob"
    with pytest.raises(ClientError) as e:
        bob.encrypt(KeyId=default_key, Plaintext=b"not granted")
    assert error(e)["Code"] == "AccessDeniedException"
    assert [g["GrantId"] for g in root.list_grants(KeyId=default_key)["Grants"]] == [grant["GrantId"]]
    root.revoke_grant(KeyId=default_key, GrantId=grant["GrantId"])
    with pytest.raises(ClientError) as e:
        bob.decrypt(CiphertextBlob=blob, EncryptionContext={"team": "red"})
    assert error(e)["Code"] == "AccessDeniedException"


def test_re_encrypt_needs_re_encrypt_from_on_the_source_key_and_re_encrypt_to_on_the_destination(server):
    # Regression: ReEncrypt was authorized as one action on the destination key only, so a user
    # who could encrypt under their own key could re-encrypt, and so read, what any other key
    # protected.
    root = server.client("kms")
    secret_key = root.create_key(Description="payroll")["KeyMetadata"]["Arn"]
    own_key = root.create_key(Description="eve's")["KeyMetadata"]["Arn"]
    blob = root.encrypt(KeyId=secret_key, Plaintext=b"salaries", EncryptionContext={"app": "payroll"})["CiphertextBlob"]
    eve, _ = user_clients(
        server,
        "eve",
        {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptTo"], "Resource": own_key},
    )
    with pytest.raises(ClientError) as e:
        eve.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"app": "payroll"}, DestinationKeyId=own_key)
    assert error(e)["Code"] == "AccessDeniedException"
    assert f"kms:ReEncryptFrom on resource: {secret_key}" in error(e)["Message"]

    # Allowed on the source key, but only for its own encryption context: the condition sees
    # the source context for ReEncryptFrom.
    server.client("iam").put_user_policy(
        UserName="eve",
        PolicyName="from-payroll",
        PolicyDocument=policy(
            {
                "Effect": "Allow",
                "Action": "kms:ReEncryptFrom",
                "Resource": secret_key,
                "Condition": {"StringEquals": {"kms:EncryptionContext:app": "payroll"}},
            }
        ),
    )
    out = eve.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"app": "payroll"},
        DestinationKeyId=own_key,
        DestinationEncryptionContext={"app": "copy"},
    )
    assert out["SourceKeyId"] == secret_key and out["KeyId"] == own_key
    # Its CloudTrail event names both keys, as CloudTrail's ReEncrypt events do.
    event = [e for e in server.events() if e["eventName"] == "ReEncrypt" and "errorCode" not in e][-1]
    assert sorted(r["ARN"] for r in event["resources"]) == sorted([secret_key, own_key])
    assert eve.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"app": "copy"})["Plaintext"] == b"salaries"
    # An AWS-style kms:ReEncrypt* grant on every key covers both sides.
    mallory, _ = user_clients(server, "mallory", {"Effect": "Allow", "Action": "kms:ReEncrypt*", "Resource": "*"})
    mallory.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"app": "payroll"}, DestinationKeyId=own_key)


def test_rotation_keeps_old_ciphertexts_readable_and_deletion_can_be_cancelled(server):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    old = kms.encrypt(KeyId=key, Plaintext=b"before")["CiphertextBlob"]
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 90
    kms.rotate_key_on_demand(KeyId=key)
    rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]
    new = kms.encrypt(KeyId=key, Plaintext=b"after")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"after"
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=old)
    assert error(e)["Code"] == "KMSInvalidStateException"
    kms.cancel_key_deletion(KeyId=key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(ClientError) as e:
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=3)
    assert error(e)["Code"] == "ValidationException"


def test_asymmetric_keys_interoperate_with_a_standard_crypto_library(server):
    kms = server.client("kms")
    rsa_key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=rsa_key)["PublicKey"])
    sig = kms.sign(KeyId=rsa_key, Message=b"release 1.0", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    public.verify(sig, b"release 1.0", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    assert kms.verify(KeyId=rsa_key, Message=b"release 1.0", Signature=sig, SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"]
    with pytest.raises(ClientError) as e:
        kms.verify(KeyId=rsa_key, Message=b"release 2.0", Signature=sig, SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert error(e)["Code"] == "KMSInvalidSignatureException"
    ec_key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"payload")
    sig = kms.sign(KeyId=ec_key, Message=digest.finalize(), MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    serialization.load_der_public_key(kms.get_public_key(KeyId=ec_key)["PublicKey"]).verify(sig, b"payload", ec.ECDSA(hashes.SHA256()))
    # RSA encryption: what a client encrypts with the public key, KMS decrypts.
    enc_key = kms.create_key(KeySpec="RSA_3072", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    enc_public = serialization.load_der_public_key(kms.get_public_key(KeyId=enc_key)["PublicKey"])
    ct = enc_public.encrypt(b"wrapped", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    assert kms.decrypt(KeyId=enc_key, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"wrapped"
    # Data key pairs: the private key decrypts under the symmetric key and matches the public one.
    sym = kms.create_key()["KeyMetadata"]["KeyId"]
    pair = kms.generate_data_key_pair(KeyId=sym, KeyPairSpec="ECC_NIST_P384")
    private = kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"]
    assert private == pair["PrivateKeyPlaintext"]
    loaded = serialization.load_der_private_key(private, None)
    assert loaded.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == pair["PublicKey"]
    # ECDH: both sides derive the same secret.
    agree = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    mine = ec.generate_private_key(ec.SECP256R1())
    mine_public = mine.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    shared = kms.derive_shared_secret(KeyId=agree, KeyAgreementAlgorithm="ECDH", PublicKey=mine_public)["SharedSecret"]
    theirs = serialization.load_der_public_key(kms.get_public_key(KeyId=agree)["PublicKey"])
    assert shared == mine.exchange(ec.ECDH(), theirs)
    # HMAC keys.
    mac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    mac = kms.generate_mac(KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert kms.verify_mac(KeyId=mac_key, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]


def test_imported_material_works_and_never_reaches_the_data_dir(start_server):
    s = start_server()
    kms = s.client("kms")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert key["KeyState"] == "PendingImport"
    params = kms.get_parameters_for_import(KeyId=key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    material = os.urandom(32)
    wrapping = serialization.load_der_public_key(params["PublicKey"])
    wrapped = wrapping.encrypt(material, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    kms.import_key_material(KeyId=key["KeyId"], ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"byok")["CiphertextBlob"]
    data_key = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")["Plaintext"]
    kms.delete_imported_key_material(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob)
    assert error(e)["Code"] == "KMSInvalidStateException"
    # Other material is refused, even with the first one deleted (a bug: it was taken, and
    # every ciphertext of the key became undecryptable).
    params = kms.get_parameters_for_import(KeyId=key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    other = serialization.load_der_public_key(params["PublicKey"]).encrypt(os.urandom(32), padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key["KeyId"], ImportToken=params["ImportToken"], EncryptedKeyMaterial=other, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert error(e)["Code"] == "IncorrectKeyMaterialException"
    # The same material imported again brings the ciphertexts back.
    params = kms.get_parameters_for_import(KeyId=key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    wrapped = serialization.load_der_public_key(params["PublicKey"]).encrypt(material, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    kms.import_key_material(KeyId=key["KeyId"], ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok"
    s.stop()
    for path in s.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for needle in (material, base64.b64encode(material), data_key, base64.b64encode(data_key)):
                assert needle not in content, f"key material or a data key is readable in {path}"
    log = s.log_path.read_bytes()
    assert base64.b64encode(material) not in log and base64.b64encode(data_key) not in log


def test_multi_region_ciphertexts_decrypt_in_a_replica_region(server):
    east = server.client("kms", region="us-east-1")
    west = server.client("kms", region="eu-west-1")
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    assert key["KeyId"].startswith("mrk-") and key["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    replica = east.replicate_key(KeyId=key["KeyId"], ReplicaRegion="eu-west-1")["ReplicaKeyMetadata"]
    assert replica["Arn"] == key["Arn"].replace("us-east-1", "eu-west-1")
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"everywhere", EncryptionContext={"k": "v"})["CiphertextBlob"]
    out = west.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})
    assert out["Plaintext"] == b"everywhere" and out["KeyId"] == replica["Arn"]
    # A rotation of the primary reaches its replicas (a bug: it did not, and what the primary
    # encrypted after it no longer decrypted in the replica's Region); a replica does not
    # rotate on its own.
    east.rotate_key_on_demand(KeyId=key["KeyId"])
    rotated = east.encrypt(KeyId=key["KeyId"], Plaintext=b"after")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=rotated)["Plaintext"] == b"after"
    assert len(west.list_key_rotations(KeyId=key["KeyId"])["Rotations"]) == 1
    for call in (west.rotate_key_on_demand, west.enable_key_rotation):
        with pytest.raises(ClientError) as e:
            call(KeyId=key["KeyId"])
        assert error(e)["Code"] == "UnsupportedOperationException"
    east.enable_key_rotation(KeyId=key["KeyId"])
    assert west.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    # The current primary hands the role on, in its own Region.
    east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion="eu-west-1")
    config = east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]
    assert config["MultiRegionKeyType"] == "REPLICA" and config["PrimaryKey"]["Region"] == "eu-west-1"
    west.rotate_key_on_demand(KeyId=key["KeyId"])
    newest = west.encrypt(KeyId=key["KeyId"], Plaintext=b"newest")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=newest)["Plaintext"] == b"newest"


def test_replicating_a_key_needs_create_key_as_well_as_replicate_key(server):
    # Regression: ReplicateKey was authorized on the primary key alone; AWS also needs
    # kms:CreateKey (a replica is a key created in its Region) and kms:TagResource for its tags.
    key = server.client("kms").create_key(MultiRegion=True)["KeyMetadata"]["Arn"]
    kms, _ = user_clients(server, "rita", {"Effect": "Allow", "Action": "kms:ReplicateKey", "Resource": key})
    with pytest.raises(ClientError) as e:
        kms.replicate_key(KeyId=key, ReplicaRegion="eu-west-1")
    assert error(e)["Code"] == "AccessDeniedException"
    assert "kms:CreateKey" in error(e)["Message"]
    server.client("iam").put_user_policy(
        UserName="rita", PolicyName="create", PolicyDocument=policy({"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*"})
    )
    with pytest.raises(ClientError) as e:
        kms.replicate_key(KeyId=key, ReplicaRegion="eu-west-1", Tags=[{"TagKey": "team", "TagValue": "a"}])
    assert "kms:TagResource" in error(e)["Message"]
    replica = kms.replicate_key(KeyId=key, ReplicaRegion="eu-west-1")["ReplicaKeyMetadata"]
    assert replica["Arn"] == key.replace("us-east-1", "eu-west-1")


def test_alias_operations_need_permission_on_the_alias_and_on_each_key_they_touch(server):
    # Regression: alias operations were authorized on the target key alone (DeleteAlias on
    # nothing at all), so a policy scoping aliases by name did not hold, and UpdateAlias could
    # move an alias away from a key its caller had no rights on.
    root = server.client("kms")
    mine = root.create_key()["KeyMetadata"]["Arn"]
    theirs = root.create_key()["KeyMetadata"]["Arn"]
    root.create_alias(AliasName="alias/prod-db", TargetKeyId=theirs)
    prefix = "arn:aws:kms:us-east-1:123456789012:alias/app-"
    kms, _ = user_clients(
        server,
        "ana",
        {"Effect": "Allow", "Action": ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"], "Resource": [prefix + "*", mine]},
    )
    kms.create_alias(AliasName="alias/app-one", TargetKeyId=mine)
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/other", TargetKeyId=mine)
    assert "kms:CreateAlias on resource: arn:aws:kms:us-east-1:123456789012:alias/other" in error(e)["Message"]
    # Moving someone else's alias to her key needs rights on that alias and on the key it leaves.
    with pytest.raises(ClientError) as e:
        kms.update_alias(AliasName="alias/prod-db", TargetKeyId=mine)
    assert error(e)["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        kms.delete_alias(AliasName="alias/prod-db")
    assert error(e)["Code"] == "AccessDeniedException"
    kms.delete_alias(AliasName="alias/app-one")
    assert [a["AliasName"] for a in root.list_aliases(KeyId=theirs)["Aliases"]] == ["alias/prod-db"]


def test_keys_survive_a_restart_and_the_aws_cli_works(start_server):
    s = start_server()
    kms = s.client("kms")
    kms.create_key(Description="persisted")
    key = kms.list_keys()["Keys"][0]["KeyArn"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key)
    blob = kms.encrypt(KeyId="alias/app", Plaintext=b"durable")["CiphertextBlob"]
    creds = s.credentials()
    data_dir = s.data_dir
    s.stop()
    s2 = start_server(data_dir=data_dir)
    kms2 = s2.client("kms", key=creds[0], secret=creds[1])
    assert kms2.decrypt(CiphertextBlob=blob)["Plaintext"] == b"durable"
    out = s2.aws("kms", "describe-key", "--key-id", "alias/app")
    assert json.loads(out.stdout)["KeyMetadata"]["Description"] == "persisted"


def test_the_aws_encryption_sdk_cli_round_trips_through_palisades_kms(server, tmp_path):
    # The ESDK checks that KMS names keys by full ARN and returns data keys of the right length;
    # it finds the endpoint through AWS_ENDPOINT_URL_KMS, as it would any KMS.
    kms = server.client("kms")
    key = kms.create_key(Description="esdk")["KeyMetadata"]["Arn"]
    plain = tmp_path / "plain.bin"
    plain.write_bytes(os.urandom(20_000))
    access, secret = server.credentials()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": access,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_KMS": server.url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    cli = str(Path(sys.executable).parent / "aws-encryption-cli")
    common = ["--wrapping-keys", f"key={key}", "--commitment-policy", "require-encrypt-require-decrypt", "-S"]
    enc = subprocess.run(
        [cli, "--encrypt", "-i", str(plain), "-o", str(tmp_path / "plain.ct"), "--encryption-context", "purpose=test", *common],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert enc.returncode == 0, enc.stderr
    assert plain.read_bytes() not in (tmp_path / "plain.ct").read_bytes()
    dec = subprocess.run(
        [cli, "--decrypt", "-i", str(tmp_path / "plain.ct"), "-o", str(tmp_path / "back.bin"), "--encryption-context", "purpose=test", "--max-encrypted-data-keys", "1", *common],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert dec.returncode == 0, dec.stderr
    assert (tmp_path / "back.bin").read_bytes() == plain.read_bytes()
    events = [e["eventName"] for e in server.events() if e["eventSource"] == "kms.amazonaws.com"]
    assert "GenerateDataKey" in events and "Decrypt" in events


def test_paginators_that_delete_each_page_as_they_go_delete_everything(server):
    # Regression: markers were indexes, so a page of deleted aliases or revoked grants made the
    # next page skip as many, and a clean-up loop left half of them behind.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    names = [f"alias/cleanup-{i}" for i in range(7)]
    for n in names:
        kms.create_alias(AliasName=n, TargetKeyId=key)
    seen = []
    for page in kms.get_paginator("list_aliases").paginate(KeyId=key, PaginationConfig={"PageSize": 2}):
        for a in page["Aliases"]:
            seen.append(a["AliasName"])
            kms.delete_alias(AliasName=a["AliasName"])
    assert sorted(seen) == names
    assert kms.list_aliases(KeyId=key)["Aliases"] == []
    grantee = server.client("sts").get_caller_identity()["Arn"]
    grants = {
        kms.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Decrypt"])["GrantId"]
        for _ in range(5)
    }
    revoked = set()
    for page in kms.get_paginator("list_grants").paginate(KeyId=key, PaginationConfig={"PageSize": 2}):
        for g in page["Grants"]:
            revoked.add(g["GrantId"])
            kms.revoke_grant(KeyId=key, GrantId=g["GrantId"])
    assert revoked == grants


def test_get_key_last_usage_reports_the_newest_successful_cryptographic_call(server):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]
    fresh = kms.get_key_last_usage(KeyId=key["KeyId"])
    assert "KeyLastUsage" not in fresh, "a new key has not been used"
    assert fresh["KeyId"] == key["Arn"]
    assert fresh["KeyCreationDate"] >= fresh["TrackingStartDate"]

    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob)
    # Neither a failed call nor a management call counts.
    with pytest.raises(ClientError):
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})
    kms.describe_key(KeyId=key["KeyId"])
    used = kms.get_key_last_usage(KeyId=key["KeyId"])["KeyLastUsage"]
    assert used["Operation"] == "Decrypt"
    assert used["KmsRequestId"] and used["CloudTrailEventId"]
    events = server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": used["CloudTrailEventId"]}])["Events"]
    assert [e["EventName"] for e in events] == ["Decrypt"]


def test_ml_kem_keys_encapsulate_and_decapsulate_a_shared_secret(server):
    kms = server.client("kms")
    key = kms.create_key(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]
    assert key["KeySpec"] == "ML_KEM_768" and key["EncapsulationAlgorithms"] == ["ML_KEM"]
    public = kms.get_public_key(KeyId=key["KeyId"])
    assert public["EncapsulationAlgorithms"] == ["ML_KEM"]
    assert len(public["PublicKey"]) == 1184 + 22, "SubjectPublicKeyInfo around the 1,184-byte key"

    out = kms.encapsulate(KeyId=key["KeyId"], EncapsulationAlgorithm="ML_KEM")
    assert len(out["SharedSecret"]) == 32 and len(out["SharedSecretCiphertextBlob"]) == 1088
    back = kms.decapsulate(KeyId=key["KeyId"], EncapsulationAlgorithm="ML_KEM",
                           SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"])
    assert back["SharedSecret"] == out["SharedSecret"] and back["KeyId"] == key["Arn"]
    # ML-KEM rejects implicitly: a changed ciphertext decapsulates to an unrelated secret.
    changed = bytes([out["SharedSecretCiphertextBlob"][0] ^ 1]) + out["SharedSecretCiphertextBlob"][1:]
    other = kms.decapsulate(KeyId=key["KeyId"], EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=changed)
    assert other["SharedSecret"] != out["SharedSecret"]
    with pytest.raises(ClientError) as e:
        kms.decapsulate(KeyId=key["KeyId"], EncapsulationAlgorithm="ML_KEM",
                        SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"][:-1])
    assert error(e)["Code"] == "InvalidCiphertextException"
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.encapsulate(KeyId=symmetric, EncapsulationAlgorithm="ML_KEM")
    assert error(e)["Code"] == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as e:
        kms.create_key(KeySpec="ML_KEM_512", KeyUsage="ENCRYPT_DECRYPT")
    assert error(e)["Code"] == "ValidationException"
    # Data key pairs of ML-KEM would need its PKCS#8 form, which Palisade does not write yet.
    with pytest.raises(ClientError) as e:
        kms.generate_data_key_pair(KeyId=symmetric, KeyPairSpec="ML_KEM_768")
    assert error(e)["Code"] == "UnsupportedOperationException"
    assert error(e)["Message"] == (
        "KeyPairSpec ML_KEM_768 (its private key's PKCS#8 seed form) is not supported")
    # The secret never reaches the audit trail.
    records = [e["CloudTrailEvent"] for e in server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Encapsulate"}])["Events"]]
    assert records and all(base64.b64encode(out["SharedSecret"]).decode() not in r for r in records)


def test_dry_run_checks_the_request_and_does_nothing(server):
    # Regression: DryRun was ignored, so a dry-run CreateGrant or RevokeGrant changed the grants.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    me = server.client("sts").get_caller_identity()["Arn"]
    with pytest.raises(ClientError) as e:
        kms.create_grant(KeyId=key, GranteePrincipal=me, Operations=["Decrypt"], DryRun=True)
    assert error(e)["Code"] == "DryRunOperationException"
    assert kms.list_grants(KeyId=key)["Grants"] == []
    grant = kms.create_grant(KeyId=key, GranteePrincipal=me, Operations=["Decrypt"])["GrantId"]
    with pytest.raises(ClientError) as e:
        kms.revoke_grant(KeyId=key, GrantId=grant, DryRun=True)
    assert error(e)["Code"] == "DryRunOperationException"
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key)["Grants"]] == [grant]
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key, Plaintext=b"x", DryRun=True)
    assert error(e)["Code"] == "DryRunOperationException"
    # What would fail still fails with its own error.
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=key, Message=b"x", SigningAlgorithm="ECDSA_SHA_256", DryRun=True)
    assert error(e)["Code"] == "InvalidKeyUsageException"
    kms.disable_key(KeyId=key)
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key, Plaintext=b"x", DryRun=True)
    assert error(e)["Code"] == "DisabledException"


def test_ml_dsa_keys_sign_messages_that_another_fips_204_implementation_verifies(server):
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    kms = server.client("kms")
    for spec in ("ML_DSA_44", "ML_DSA_65", "ML_DSA_87"):
        key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
        assert key["KeySpec"] == spec and key["SigningAlgorithms"] == ["ML_DSA_SHAKE_256"]
        message = b"firmware image 7.1"
        sig = kms.sign(KeyId=key["KeyId"], Message=message, MessageType="RAW",
                       SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
        public = kms.get_public_key(KeyId=key["KeyId"])
        assert public["SigningAlgorithms"] == ["ML_DSA_SHAKE_256"]
        # pyca/cryptography's (OpenSSL's) ML-DSA verifies KMS's signature with the SPKI it hands out.
        load_der_public_key(public["PublicKey"]).verify(sig, message)
        assert kms.verify(KeyId=key["KeyId"], Message=message, Signature=sig,
                          SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"] is True
        with pytest.raises(ClientError) as e:
            kms.verify(KeyId=key["KeyId"], Message=message + b"!", Signature=sig, SigningAlgorithm="ML_DSA_SHAKE_256")
        assert error(e)["Code"] == "KMSInvalidSignatureException"
    # ML-DSA signs messages, not digests; an external mu is ML-DSA's alone.
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=key["KeyId"], Message=b"x" * 64, MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256")
    assert error(e)["Code"] == "ValidationException"
    p256 = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=p256, Message=b"x" * 64, MessageType="EXTERNAL_MU", SigningAlgorithm="ECDSA_SHA_256")
    assert error(e)["Code"] == "ValidationException"


def test_ed25519_keys_sign_messages_that_any_ed25519_library_verifies(server):
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    kms = server.client("kms")
    key = kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert key["SigningAlgorithms"] == ["ED25519_SHA_512"]
    sig = kms.sign(KeyId=key["KeyId"], Message=b"release 1.2", MessageType="RAW",
                   SigningAlgorithm="ED25519_SHA_512")["Signature"]
    public = load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    public.verify(sig, b"release 1.2")  # raises if the signature is not Ed25519's
    assert kms.verify(KeyId=key["KeyId"], Message=b"release 1.2", Signature=sig,
                      SigningAlgorithm="ED25519_SHA_512")["SignatureValid"] is True
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=key["KeyId"], Message=b"x" * 64, MessageType="DIGEST", SigningAlgorithm="ED25519_SHA_512")
    assert error(e)["Code"] == "ValidationException"
    # HashEdDSA is refused in a sentence (bug: "...; sign the message itself with ED25519_SHA_512
    # is not supported" read as if the advice were unsupported).
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=key["KeyId"], Message=b"x" * 64, MessageType="DIGEST", SigningAlgorithm="ED25519_PH_SHA_512")
    assert error(e)["Code"] == "UnsupportedOperationException"
    assert error(e)["Message"].endswith("sign the message itself with ED25519_SHA_512) is not supported")
    # Data key pairs of the spec come as PKCS#8 and SubjectPublicKeyInfo.
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    pair = kms.generate_data_key_pair(KeyId=symmetric, KeyPairSpec="ECC_NIST_EDWARDS25519")
    private = load_der_private_key(pair["PrivateKeyPlaintext"], password=None)
    load_der_public_key(pair["PublicKey"]).verify(private.sign(b"m"), b"m")


def wrap_for(kms, key_id, material):
    """Import parameters for `key_id` and `material` wrapped with them."""
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    public = serialization.load_der_public_key(params["PublicKey"])
    wrapped = public.encrypt(material, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    return params["ImportToken"], wrapped


def test_imported_material_expires_and_must_match_across_a_multi_region_key(server):
    # Bugs: ValidTo in the past (or years ahead, or beside KEY_MATERIAL_DOES_NOT_EXPIRE) was
    # taken and material never expired; bytes the wrapping key does not unwrap got
    # IncorrectKeyMaterialException; and a multi-Region replica took other material than its
    # primary's, breaking every ciphertext there for good.
    import time

    kms = server.client("kms")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    now = time.time()
    for extra in (
        {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": now - 3600},
        {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": now + 400 * 86400},
        {"ExpirationModel": "KEY_MATERIAL_EXPIRES"},
        {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": now + 86400},
    ):
        token, wrapped = wrap_for(kms, key, material)
        with pytest.raises(ClientError) as e:
            kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, **extra)
        assert error(e)["Code"] == "ValidationException", extra
    token, _ = wrap_for(kms, key, material)
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=os.urandom(256), ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert error(e)["Code"] == "InvalidCiphertextException"
    token, wrapped = wrap_for(kms, key, material)
    kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=time.time() + 2)
    assert kms.encrypt(KeyId=key, Plaintext=b"x")
    time.sleep(3)
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key, Plaintext=b"x")
    assert error(e)["Code"] == "KMSInvalidStateException"
    # Bug: DescribeKey showed the key Enabled with its past ValidTo until the background task
    # ran; KMS shows the key waiting for its material again.
    shown = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (shown["KeyState"], shown["Enabled"]) == ("PendingImport", False)
    assert "ExpirationModel" not in shown and "ValidTo" not in shown
    # Bug: an import with neither ExpirationModel nor ValidTo was taken as never expiring;
    # the model's default is KEY_MATERIAL_EXPIRES, which needs a ValidTo.
    token, wrapped = wrap_for(kms, key, material)
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped)
    assert error(e) == {"Code": "ValidationException", "Message": "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"}

    mrk = kms.create_key(Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=mrk, ReplicaRegion="us-west-2")
    token, wrapped = wrap_for(kms, mrk, material)
    kms.import_key_material(KeyId=mrk, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    west = server.client("kms", region="us-west-2")
    token, wrapped = wrap_for(west, mrk, os.urandom(32))
    with pytest.raises(ClientError) as e:
        west.import_key_material(KeyId=mrk, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert error(e)["Code"] == "IncorrectKeyMaterialException"
    token, wrapped = wrap_for(west, mrk, material)
    west.import_key_material(KeyId=mrk, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    blob = kms.encrypt(KeyId=mrk, Plaintext=b"everywhere")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"everywhere"


def test_a_key_pending_deletion_takes_no_grant_tag_alias_or_description(server):
    # Bug: CreateGrant, TagResource, UntagResource, UpdateKeyDescription, CreateAlias and
    # UpdateAlias all succeeded on a key about to be destroyed.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/live", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    for call in (
        lambda: kms.create_grant(KeyId=key, GranteePrincipal=key.split(":")[4].join(["arn:aws:iam::", ":root"]), Operations=["Decrypt"]),
        lambda: kms.tag_resource(KeyId=key, Tags=[{"TagKey": "k", "TagValue": "v"}]),
        lambda: kms.untag_resource(KeyId=key, TagKeys=["k"]),
        lambda: kms.update_key_description(KeyId=key, Description="d"),
        lambda: kms.create_alias(AliasName="alias/doomed", TargetKeyId=key),
        lambda: kms.update_alias(AliasName="alias/live", TargetKeyId=key),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == {"Code": "KMSInvalidStateException", "Message": f"{key} is pending deletion."}


def test_replicas_have_their_own_policy_description_and_tags_and_only_the_primary_moves(server):
    # Bugs: ReplicateKey copied the primary's description, tags and key policy; and
    # UpdatePrimaryRegion succeeded when called on a replica.
    kms = server.client("kms")
    mrk = kms.create_key(MultiRegion=True, Description="primary", Tags=[{"TagKey": "t", "TagValue": "1"}])["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=mrk, ReplicaRegion="us-west-2")
    kms.replicate_key(KeyId=mrk, ReplicaRegion="eu-west-1")
    west = server.client("kms", region="us-west-2")
    replica = west.describe_key(KeyId=mrk)["KeyMetadata"]
    assert replica["Description"] == ""
    # A replica lists all the replicas, itself included (it listed none).
    assert sorted(r["Region"] for r in replica["MultiRegionConfiguration"]["ReplicaKeys"]) == ["eu-west-1", "us-west-2"]
    assert west.list_resource_tags(KeyId=mrk)["Tags"] == []
    with pytest.raises(ClientError) as e:
        west.update_primary_region(KeyId=mrk, PrimaryRegion="eu-west-1")
    assert error(e)["Code"] == "UnsupportedOperationException"
    kms.update_primary_region(KeyId=mrk, PrimaryRegion="us-west-2")
    assert west.describe_key(KeyId=mrk)["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"


def test_a_primary_with_replicas_waits_for_them_before_its_deletion_starts(server):
    # Bug: ScheduleKeyDeletion of a primary with replicas set PendingDeletion with its own
    # date; KMS makes it PendingReplicaDeletion until the last replica is deleted.
    kms = server.client("kms")
    mrk = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=mrk, ReplicaRegion="us-west-2")
    out = kms.schedule_key_deletion(KeyId=mrk, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in out
    meta = kms.describe_key(KeyId=mrk)["KeyMetadata"]
    assert meta["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in meta
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=mrk, Plaintext=b"x")
    assert error(e)["Code"] == "KMSInvalidStateException"
    kms.cancel_key_deletion(KeyId=mrk)
    assert kms.describe_key(KeyId=mrk)["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(ClientError) as e:
        kms.cancel_key_deletion(KeyId=mrk)
    assert error(e)["Message"].endswith(" is not pending deletion.")
    # A key without replicas starts its waiting period at once.
    single = kms.create_key()["KeyMetadata"]["KeyId"]
    assert kms.schedule_key_deletion(KeyId=single, PendingWindowInDays=7)["KeyState"] == "PendingDeletion"


def test_grant_listings_page_by_50_and_filter_service_principals(server):
    # Regressions: ListAliases, ListGrants and ListRetirableGrants took ListKeys' page (100 by
    # default, up to 1,000) where AWS's is 50 by default and at most 100; ListGrants ignored
    # GranteeServicePrincipal and listed every grant; ListRetirableGrants refused
    # RetiringServicePrincipal as a RetiringPrincipal "" that is not an ARN.
    kms, iam = server.client("kms"), server.client("iam")
    user = iam.create_user(UserName="grantee")["User"]["Arn"]
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(60):
        kms.create_grant(KeyId=key, GranteePrincipal=user, Operations=["Decrypt"])
    kms.create_grant(KeyId=key, GranteePrincipal="rds.amazonaws.com", Operations=["Decrypt"],
                     RetiringPrincipal="rds.amazonaws.com")
    first = kms.list_grants(KeyId=key)
    assert len(first["Grants"]) == 50 and first["Truncated"] is True
    assert len(kms.list_grants(KeyId=key, Limit=1000)["Grants"]) == 61
    service = kms.list_grants(KeyId=key, GranteeServicePrincipal="rds.amazonaws.com")["Grants"]
    assert [g["GranteePrincipal"] for g in service] == ["rds.amazonaws.com"]
    with pytest.raises(ClientError) as e:
        kms.list_grants(KeyId=key, GranteePrincipal=user, GranteeServicePrincipal="rds.amazonaws.com")
    assert error(e)["Code"] == "ValidationException"
    retirable = kms.list_retirable_grants(RetiringServicePrincipal="rds.amazonaws.com")["Grants"]
    assert [g["GranteePrincipal"] for g in retirable] == ["rds.amazonaws.com"]
    # An ARN is no service principal: it would skip RetiringPrincipal's account check.
    with pytest.raises(ClientError) as e:
        kms.list_retirable_grants(RetiringServicePrincipal="arn:aws:iam::999999999999:root")
    assert error(e)["Code"] == "ValidationException"
    for n in range(120):
        if n % 40 == 0:
            target = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=f"alias/page-{n:03}", TargetKeyId=target)
    aliases = kms.list_aliases()
    assert len(aliases["Aliases"]) == 50 and aliases["Truncated"] is True
    assert len(kms.list_aliases(Limit=1000)["Aliases"]) == 100


def test_a_made_up_grant_token_is_refused(server):
    # Bug: any string was taken as a grant token.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key, Plaintext=b"x", GrantTokens=["garbage"])
    assert error(e)["Code"] == "InvalidGrantTokenException"
    token = kms.create_grant(KeyId=key, GranteePrincipal=key.split(":")[4].join(["arn:aws:iam::", ":root"]), Operations=["Encrypt"])["GrantToken"]
    assert kms.encrypt(KeyId=key, Plaintext=b"x", GrantTokens=[token])["CiphertextBlob"]


def test_key_material_ids_appear_where_the_current_model_has_them(server):
    # Bug: ImportKeyMaterial answered {}, DescribeKey had no CurrentKeyMaterialId, and
    # ListKeyRotations entries had no KeyMaterialId or KeyMaterialState.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    first = kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key)
    second = kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert len(first) == 64 and first != second
    rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in rotations] == [(second, "CURRENT")]
    every = kms.list_key_rotations(KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [r["KeyMaterialId"] for r in every] == [first, second]
    imported = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    token, wrapped = wrap_for(kms, imported, os.urandom(32))
    out = kms.import_key_material(KeyId=imported, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert out["KeyId"].endswith(imported) and out["KeyMaterialId"] == kms.describe_key(KeyId=imported)["KeyMetadata"]["CurrentKeyMaterialId"]
    # Bug: deleting the imported material dropped CurrentKeyMaterialId, which KMS keeps naming
    # (the same material is imported again); a key never imported into has no material id.
    kms.delete_imported_key_material(KeyId=imported)
    assert kms.describe_key(KeyId=imported)["KeyMetadata"]["CurrentKeyMaterialId"] == out["KeyMaterialId"]
    fresh = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert "CurrentKeyMaterialId" not in fresh and "ExpirationModel" not in fresh


def test_data_key_pairs_need_a_symmetric_encryption_key_and_say_so(server):
    # Bug: GenerateDataKeyPair under a signing or HMAC key said the key was "not valid for
    # Encrypt", an operation the caller never asked for.
    kms = server.client("kms")
    for args in ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}, {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}):
        key = kms.create_key(**args)["KeyMetadata"]["Arn"]
        with pytest.raises(ClientError) as e:
            kms.generate_data_key_pair(KeyId=key, KeyPairSpec="RSA_2048")
        assert error(e)["Code"] == "InvalidKeyUsageException"
        assert "not valid for GenerateDataKeyPair" in error(e)["Message"]


def test_another_account_may_use_a_key_its_policy_shares_but_never_administer_it(two_accounts):
    # Regression: a key policy granting another account kms:* let that account put a new key
    # policy (locking the owner out) and schedule the key's deletion. KMS allows only the
    # cryptographic operations, DescribeKey, GetKeyRotationStatus, GetPublicKey and grants
    # across accounts; everything else looks the key up in the caller's own account.
    s = two_accounts
    key_a, secret_a = s.credentials("account-111111111111")
    kms_a = s.client("kms", key=key_a, secret=secret_a)
    shared = kms_a.create_key(
        Policy=policy(
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:*", "Resource": "*"},
        )
    )["KeyMetadata"]["Arn"]
    kms_a.create_alias(AliasName="alias/shared", TargetKeyId=shared)
    kms_b = s.client("kms")
    blob = kms_b.encrypt(KeyId=shared, Plaintext=b"from b")["CiphertextBlob"]
    assert kms_b.decrypt(CiphertextBlob=blob)["Plaintext"] == b"from b"
    assert kms_b.describe_key(KeyId=shared)["KeyMetadata"]["Arn"] == shared
    assert kms_b.get_key_rotation_status(KeyId=shared)["KeyRotationEnabled"] is False
    refused = [
        lambda: kms_b.put_key_policy(KeyId=shared, PolicyName="default", Policy=policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:*", "Resource": "*"})),
        lambda: kms_b.get_key_policy(KeyId=shared, PolicyName="default"),
        lambda: kms_b.schedule_key_deletion(KeyId=shared, PendingWindowInDays=7),
        lambda: kms_b.disable_key(KeyId=shared),
        lambda: kms_b.tag_resource(KeyId=shared, Tags=[{"TagKey": "owner", "TagValue": "b"}]),
        lambda: kms_b.update_key_description(KeyId=shared, Description="mine now"),
        lambda: kms_b.enable_key_rotation(KeyId=shared),
        lambda: kms_b.create_alias(AliasName="alias/stolen", TargetKeyId=shared),
    ]
    for call in refused:
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)["Code"] == "NotFoundException"
        assert shared in error(e)["Message"]
    with pytest.raises(ClientError) as e:
        kms_b.list_resource_tags(KeyId="arn:aws:kms:us-east-1:111111111111:alias/shared")
    assert error(e)["Code"] == "NotFoundException"
    meta = kms_a.describe_key(KeyId=shared)["KeyMetadata"]
    assert (meta["KeyState"], meta["Description"]) == ("Enabled", "")
    assert "222222222222" in kms_a.get_key_policy(KeyId=shared, PolicyName="default")["Policy"]
    # B's use of A's key is recorded in both accounts under one sharedEventID; B's refused
    # calls only in B's.
    def records(client, name):
        events = client.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
        return [json.loads(e["CloudTrailEvent"]) for e in events]

    ct_a = s.client("cloudtrail", key=key_a, secret=secret_a)
    ct_b = s.client("cloudtrail")
    [in_a], [in_b] = records(ct_a, "Encrypt"), records(ct_b, "Encrypt")
    assert in_a["sharedEventID"] == in_b["sharedEventID"] and in_a["eventID"] != in_b["eventID"]
    assert (in_a["recipientAccountId"], in_b["recipientAccountId"]) == ("111111111111", "222222222222")
    # Bug: A's copy showed B's user, its ARN and access key; the owner sees another account.
    assert in_a["userIdentity"] == {"type": "AWSAccount", "principalId": in_b["userIdentity"]["principalId"], "accountId": "222222222222"}
    assert records(ct_a, "ScheduleKeyDeletion") == [] and len(records(ct_b, "ScheduleKeyDeletion")) == 1


def test_condition_keys_with_default_values_are_set_when_the_parameter_is_left_out(server):
    # Bug: kms:MessageType, kms:EncryptionAlgorithm and kms:DataKeyPairSpec were set only when
    # the request named them, so leaving a parameter at its default slipped past a Deny on it.
    kms = server.client("kms")
    sym = kms.create_key()["KeyMetadata"]["KeyId"]
    signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    user, _ = user_clients(
        server,
        "defaults",
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:Sign", "Resource": "*", "Condition": {"StringEquals": {"kms:MessageType": "RAW"}}},
        {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}},
        {"Effect": "Deny", "Action": "kms:GenerateDataKeyPair", "Resource": "*", "Condition": {"StringEquals": {"kms:DataKeyPairSpec": "RSA_2048"}}},
    )
    for call in (
        lambda: user.sign(KeyId=signer, Message=b"m", SigningAlgorithm="ECDSA_SHA_256"),
        lambda: user.encrypt(KeyId=sym, Plaintext=b"x"),
        lambda: user.generate_data_key_pair(KeyId=sym, KeyPairSpec="RSA_2048"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)["Code"] == "AccessDeniedException"
    digest = bytes(32)
    assert user.sign(KeyId=signer, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert user.generate_data_key_pair(KeyId=sym, KeyPairSpec="ECC_NIST_P256")["PublicKey"]


def test_grant_constraints_apply_only_where_an_encryption_context_is_taken(server):
    # Bugs: a constrained grant refused DescribeKey and every operation of an asymmetric key,
    # and compared the constraint's keys case-sensitively (AWS: keys are not, values are).
    kms = server.client("kms")
    sym = kms.create_key()["KeyMetadata"]["KeyId"]
    signer = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    grantee, arn = user_clients(server, "grantee")
    kms.create_grant(KeyId=sym, GranteePrincipal=arn, Operations=["Encrypt", "DescribeKey"], Constraints={"EncryptionContextSubset": {"dept": "a"}})
    # An asymmetric key's grant may carry one only for operations it does not apply to.
    kms.create_grant(KeyId=signer, GranteePrincipal=arn, Operations=["DescribeKey"], Constraints={"EncryptionContextSubset": {"dept": "a"}})
    assert grantee.describe_key(KeyId=sym)["KeyMetadata"]["KeyId"]
    assert grantee.describe_key(KeyId=signer)["KeyMetadata"]["KeyId"]
    assert grantee.encrypt(KeyId=sym, Plaintext=b"x", EncryptionContext={"DEPT": "a"})["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        grantee.encrypt(KeyId=sym, Plaintext=b"x", EncryptionContext={"dept": "A"})
    assert error(e)["Code"] == "AccessDeniedException"


def test_encryption_context_grant_constraints_need_a_symmetric_key_and_stay_within_awss_limits(server):
    # Bug: CreateGrant took encryption-context constraints for an asymmetric or HMAC key's
    # cryptographic operations (AWS: "You cannot use an encryption context grant constraint for
    # cryptographic operations with asymmetric KMS keys or HMAC KMS keys"), which then never
    # applied, and constraints of 9 pairs or with a 385-character value (AWS: at most 8 pairs,
    # values of at most 384 characters).
    kms = server.client("kms")
    me = "arn:aws:iam::123456789012:root"
    cases = [
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}, ["Sign"]),
        ({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}, ["Decrypt"]),
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}, ["DeriveSharedSecret"]),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, ["GenerateMac", "DescribeKey"]),
    ]
    for spec, operations in cases:
        key = kms.create_key(**spec)["KeyMetadata"]["Arn"]
        for kind in ("EncryptionContextEquals", "EncryptionContextSubset"):
            with pytest.raises(ClientError) as e:
                kms.create_grant(KeyId=key, GranteePrincipal=me, Operations=operations, Constraints={kind: {"a": "b"}})
            assert error(e) == {
                "Code": "ValidationException",
                "Message": "You cannot use an encryption context grant constraint for cryptographic operations with asymmetric KMS keys or HMAC KMS keys.",
            }, (spec, kind)
        assert kms.list_grants(KeyId=key)["Grants"] == []
    sym = kms.create_key()["KeyMetadata"]["Arn"]
    eight = {str(n): "v" for n in range(8)}
    kms.create_grant(KeyId=sym, GranteePrincipal=me, Operations=["Encrypt"], Constraints={"EncryptionContextSubset": eight})
    kms.create_grant(KeyId=sym, GranteePrincipal=me, Operations=["Encrypt"], Constraints={"EncryptionContextEquals": {"k": "v" * 384}})
    for constraints in ({"EncryptionContextSubset": {**eight, "8": "v"}}, {"EncryptionContextEquals": {"k": "v" * 385}}):
        with pytest.raises(ClientError) as e:
            kms.create_grant(KeyId=sym, GranteePrincipal=me, Operations=["Encrypt"], Constraints=constraints)
        assert error(e)["Code"] == "ValidationException"
    assert len(kms.list_grants(KeyId=sym)["Grants"]) == 2


def test_requests_kms_refuses_for_missing_parameters_and_replica_answers(server):
    # Bugs: CreateKey of an RSA key without KeyUsage made an encryption key, GenerateRandom
    # without NumberOfBytes returned 32 bytes, and ReplicateKey's answer listed no replica.
    kms = server.client("kms")
    with pytest.raises(ClientError) as e:
        kms.create_key(KeySpec="RSA_2048")
    assert error(e) == {"Code": "ValidationException", "Message": "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."}
    with pytest.raises(ClientError) as e:
        kms.generate_random()
    assert error(e) == {"Code": "ValidationException", "Message": "NumberOfBytes is required."}
    mrk = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    replica = kms.replicate_key(KeyId=mrk, ReplicaRegion="us-west-2")["ReplicaKeyMetadata"]
    assert [r["Region"] for r in replica["MultiRegionConfiguration"]["ReplicaKeys"]] == ["us-west-2"]
    single = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=single, PendingWindowInDays=7)
    assert "PendingDeletionWindowInDays" not in kms.describe_key(KeyId=single)["KeyMetadata"]


def test_another_account_cannot_list_or_retire_grants_it_is_not_named_in(two_accounts):
    # Regression: RetireGrant was authorized on "*" by the caller's own IAM policy alone, so
    # any account allowing itself kms:RetireGrant deleted other accounts' grants (and its event
    # named no key, so the key's owner never saw it); ListRetirableGrants listed grants for a
    # principal of another account. AWS: the grant decides who retires it; kms:RetireGrant
    # in IAM counts only in the key's account or the account named as retiring principal.
    s = two_accounts
    key_a, secret_a = s.credentials("account-111111111111")
    kms_a = s.client("kms", key=key_a, secret=secret_a)
    key = kms_a.create_key()["KeyMetadata"]["Arn"]
    s.client("iam", key=key_a, secret=secret_a).create_user(UserName="alice")
    alice = "arn:aws:iam::111111111111:user/alice"
    grant = kms_a.create_grant(KeyId=key, GranteePrincipal=alice, RetiringPrincipal=alice, Operations=["Decrypt"])
    iam_b = s.client("iam")
    iam_b.create_user(UserName="mallory")
    iam_b.put_user_policy(UserName="mallory", PolicyName="p", PolicyDocument=policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}))
    k = iam_b.create_access_key(UserName="mallory")["AccessKey"]
    kms_b = s.client("kms", key=k["AccessKeyId"], secret=k["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        kms_b.list_retirable_grants(RetiringPrincipal=alice)
    assert error(e)["Code"] == "AccessDeniedException"
    for call in (
        lambda: kms_b.retire_grant(KeyId=key, GrantId=grant["GrantId"]),
        lambda: kms_b.retire_grant(GrantToken=grant["GrantToken"]),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)["Code"] == "AccessDeniedException"
        assert key in error(e)["Message"]
    assert [g["GrantId"] for g in kms_a.list_grants(KeyId=key)["Grants"]] == [grant["GrantId"]]
    # A grant whose retiring principal is account B: B's IAM policy delegates retiring it, and
    # the key's owner gets a copy of the event naming the key.
    shared = kms_a.create_grant(KeyId=key, GranteePrincipal=alice, RetiringPrincipal="arn:aws:iam::222222222222:root", Operations=["Encrypt"])
    kms_b.retire_grant(KeyId=key, GrantId=shared["GrantId"])
    ct_a = s.client("cloudtrail", key=key_a, secret=secret_a)
    events = ct_a.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "RetireGrant"}])["Events"]
    assert [r["ResourceName"] for e in events for r in e["Resources"]] == [key]
    # An unknown token is InvalidGrantTokenException, not a denial.
    with pytest.raises(ClientError) as e:
        kms_b.retire_grant(GrantToken="bm90IGEgdG9rZW4=")
    assert error(e)["Code"] == "InvalidGrantTokenException"
    # The creating account retires by the grant alone; its grant token never reaches the trail.
    kms_a.retire_grant(GrantToken=grant["GrantToken"])
    created = ct_a.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateGrant"}])["Events"]
    record = json.loads(created[0]["CloudTrailEvent"])
    assert set(record["responseElements"]) == {"grantId", "keyId"} and record["responseElements"]["keyId"] == key
    assert grant["GrantToken"] not in json.dumps([e["CloudTrailEvent"] for e in created])


def test_encryption_context_keys_reach_the_audit_record_as_given(server):
    # Regression: context keys were rewritten like member names (Purpose -> purpose, merging
    # with a given `purpose`) and a key named Signature was dropped from the record.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    context = {"Purpose": "a", "purpose": "b", "Signature": "zz"}
    kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=context)
    [event] = [e for e in server.events() if e["eventName"] == "Encrypt"]
    assert event["requestParameters"]["encryptionContext"] == context


def test_a_create_grant_retry_with_other_constraints_makes_a_new_grant(server):
    # Regression: the idempotency match compared only key, name, operations and grantee, so a
    # retry adding constraints or a retiring principal got the unconstrained grant back.
    kms = server.client("kms")
    server.client("iam").create_user(UserName="ops")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    ops = "arn:aws:iam::123456789012:user/ops"
    first = kms.create_grant(KeyId=key, GranteePrincipal=ops, Operations=["Decrypt", "Encrypt"], Name="tight")
    again = kms.create_grant(KeyId=key, GranteePrincipal=ops, Operations=["Encrypt", "Decrypt"], Name="tight")
    assert again["GrantId"] == first["GrantId"]
    tighter = kms.create_grant(
        KeyId=key, GranteePrincipal=ops, Operations=["Decrypt", "Encrypt"], Name="tight",
        Constraints={"EncryptionContextEquals": {"tenant": "a"}}, RetiringPrincipal=ops,
    )
    assert tighter["GrantId"] != first["GrantId"]
    grants = {g["GrantId"]: g for g in kms.list_grants(KeyId=key)["Grants"]}
    assert grants[tighter["GrantId"]]["Constraints"] == {"EncryptionContextEquals": {"tenant": "a"}}
    assert grants[tighter["GrantId"]]["RetiringPrincipal"] == ops


ALLOW_KMS = {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}


def deny_kms_when(condition, action="kms:*"):
    return {"Effect": "Deny", "Action": action, "Resource": "*", "Condition": condition}


def denied(call):
    with pytest.raises(ClientError) as e:
        call()
    assert error(e)["Code"] == "AccessDeniedException", error(e)


def test_kms_resource_aliases_binds_a_deny_on_the_keys_aliases(server):
    # Regression: kms:ResourceAliases was never set, so a Deny on keys with a prod alias let
    # encrypt through with such a key.
    root = server.client("kms")
    prod = root.create_key()["KeyMetadata"]["KeyId"]
    root.create_alias(AliasName="alias/prod-payments", TargetKeyId=prod)
    root.create_alias(AliasName="alias/billing", TargetKeyId=prod)
    dev = root.create_key()["KeyMetadata"]["KeyId"]
    root.create_alias(AliasName="alias/dev-payments", TargetKeyId=dev)
    bare = root.create_key()["KeyMetadata"]["KeyId"]
    kms, _ = user_clients(
        server, "alice", ALLOW_KMS,
        deny_kms_when({"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/prod-*"}}),
    )
    denied(lambda: kms.encrypt(KeyId=prod, Plaintext=b"x"))
    denied(lambda: kms.generate_data_key(KeyId="alias/billing", KeySpec="AES_256"))
    kms.encrypt(KeyId=dev, Plaintext=b"x")
    kms.encrypt(KeyId=bare, Plaintext=b"x")
    # Aliases moved or removed stop binding the key at once.
    root.update_alias(AliasName="alias/prod-payments", TargetKeyId=bare)
    kms.encrypt(KeyId=prod, Plaintext=b"x")
    denied(lambda: kms.encrypt(KeyId=bare, Plaintext=b"x"))
    root.delete_alias(AliasName="alias/prod-payments")
    kms.encrypt(KeyId=bare, Plaintext=b"x")


def test_kms_lockout_bypass_deletion_window_and_rotation_period_keys_bind(server):
    # Regression: kms:BypassPolicyLockoutSafetyCheck, kms:ScheduleKeyDeletionPendingWindowInDays
    # and kms:RotationPeriodInDays were never set, so AWS's recommended guardrails let every
    # such call through.
    kms, me = user_clients(
        server, "alice", ALLOW_KMS,
        deny_kms_when({"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}}),
        deny_kms_when({"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "30"}}),
        deny_kms_when({"NumericLessThan": {"kms:RotationPeriodInDays": "365"}}),
    )
    denied(lambda: kms.create_key(BypassPolicyLockoutSafetyCheck=True))
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    doc = policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"})
    denied(lambda: kms.put_key_policy(KeyId=key, PolicyName="default", Policy=doc, BypassPolicyLockoutSafetyCheck=True))
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=doc)
    denied(lambda: kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90))
    kms.enable_key_rotation(KeyId=key)  # the default, 365 days
    assert kms.get_key_rotation_status(KeyId=key)["RotationPeriodInDays"] == 365
    denied(lambda: kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7))
    assert kms.schedule_key_deletion(KeyId=key)["PendingWindowInDays"] == 30


def test_kms_multi_region_key_type_grant_constraint_type_and_reencrypt_on_same_key_bind(server):
    # Regression: kms:MultiRegionKeyType, kms:GrantConstraintType and kms:ReEncryptOnSameKey were
    # never set.
    root = server.client("kms")
    primary = root.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    single = root.create_key()["KeyMetadata"]["KeyId"]
    other = root.create_key()["KeyMetadata"]["KeyId"]
    root.create_alias(AliasName="alias/other", TargetKeyId=other)
    server.client("iam").create_user(UserName="ops")
    kms, _ = user_clients(
        server, "alice", ALLOW_KMS,
        deny_kms_when({"StringEquals": {"kms:MultiRegionKeyType": "PRIMARY"}}, ["kms:Encrypt", "kms:CreateKey"]),
        deny_kms_when({"Null": {"kms:GrantConstraintType": "true"}}, "kms:CreateGrant"),
        deny_kms_when({"Bool": {"kms:ReEncryptOnSameKey": "true"}}, "kms:ReEncrypt*"),
        deny_kms_when({"StringEquals": {"kms:RequestAlias": "alias/other"}}, "kms:ReEncryptTo"),
    )
    denied(lambda: kms.encrypt(KeyId=primary, Plaintext=b"x"))
    denied(lambda: kms.create_key(MultiRegion=True))
    blob = kms.encrypt(KeyId=single, Plaintext=b"x")["CiphertextBlob"]
    kms.create_key()
    ops = "arn:aws:iam::123456789012:user/ops"
    denied(lambda: kms.create_grant(KeyId=single, GranteePrincipal=ops, Operations=["Decrypt"]))
    kms.create_grant(KeyId=single, GranteePrincipal=ops, Operations=["Decrypt"], Constraints={"EncryptionContextSubset": {"app": "a"}})
    # The same key, however it is named (the source is read from the ciphertext).
    denied(lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=single))
    arn = f"arn:aws:kms:us-east-1:123456789012:key/{single}"
    denied(lambda: kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=single, DestinationKeyId=arn))
    # kms:RequestAlias of a re-encryption's destination is the alias it names it by.
    denied(lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId="alias/other"))
    kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other)


def test_kms_import_expiration_model_and_valid_to_bind(server):
    # Regression: kms:ExpirationModel and kms:ValidTo were never set, so a Deny on key material
    # that never expires (or expires too late) let ImportKeyMaterial through.
    import time
    root = server.client("kms")
    key = root.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    late = int(time.time()) + 60 * 86400
    kms, _ = user_clients(
        server, "alice", ALLOW_KMS,
        deny_kms_when({"StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}}),
        deny_kms_when({"NumericGreaterThan": {"kms:ValidTo": str(late - 86400)}}),
    )
    bogus = {"KeyId": key, "ImportToken": b"not a token", "EncryptedKeyMaterial": b"x" * 32}
    denied(lambda: kms.import_key_material(**bogus, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"))
    denied(lambda: kms.import_key_material(**bogus, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=late))
    # Allowed, then refused for the bogus token by the operation itself.
    with pytest.raises(ClientError) as e:
        kms.import_key_material(**bogus, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=late - 30 * 86400)
    assert error(e)["Code"] != "AccessDeniedException"


def test_retire_grant_of_an_unknown_id_is_not_found_and_a_bad_principal_is_invalid_arn(server):
    # Bug: RetireGrant naming a grant id the key does not have was refused as AccessDenied
    # ("no identity-based policy allows", even to the root user), and ListRetirableGrants with
    # a principal that is not an ARN answered as a cross-account denial.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as e:
        kms.retire_grant(KeyId=key, GrantId="0" * 64)
    assert (error(e)["Code"], error(e)["Message"]) == ("NotFoundException", f"Grant ID {'0' * 64} not found")
    with pytest.raises(ClientError) as e:
        kms.list_retirable_grants(RetiringPrincipal="notanarn")
    assert error(e)["Code"] == "InvalidArnException"


def test_replicate_key_policy_must_pass_the_lockout_safety_check(server):
    # Bug: ReplicateKey skipped KMS's policy lockout safety check that CreateKey and
    # PutKeyPolicy make, so its Policy could leave the replica's policy unchangeable.
    kms = server.client("kms")
    mrk = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    locked = policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:Decrypt", "Resource": "*"})
    with pytest.raises(ClientError) as e:
        kms.replicate_key(KeyId=mrk, ReplicaRegion="eu-west-1", Policy=locked)
    assert error(e) == {"Code": "MalformedPolicyDocumentException", "Message": "The new key policy will not allow you to update the key policy in the future."}
    out = kms.replicate_key(KeyId=mrk, ReplicaRegion="eu-west-1", Policy=locked, BypassPolicyLockoutSafetyCheck=True)
    assert json.loads(out["ReplicaPolicy"]) == json.loads(locked)


def test_a_replica_of_imported_material_waits_for_the_same_material(server):
    # Bug: the replica of an EXTERNAL multi-Region key got its primary's material and was
    # Enabled at once; KMS creates it without material (PendingImport), to be imported.
    kms, k2 = server.client("kms"), server.client("kms", region="eu-west-1")
    mrk = kms.create_key(Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    token, wrapped = wrap_for(kms, mrk, material)
    kms.import_key_material(KeyId=mrk, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    replica = kms.replicate_key(KeyId=mrk, ReplicaRegion="eu-west-1")["ReplicaKeyMetadata"]
    assert (replica["KeyState"], replica["Enabled"]) == ("PendingImport", False)
    with pytest.raises(ClientError) as e:
        k2.encrypt(KeyId=mrk, Plaintext=b"x")
    assert error(e)["Code"] == "KMSInvalidStateException"
    token, wrapped = wrap_for(k2, mrk, os.urandom(32))
    with pytest.raises(ClientError) as e:
        k2.import_key_material(KeyId=mrk, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert error(e)["Code"] == "IncorrectKeyMaterialException"
    token, wrapped = wrap_for(k2, mrk, material)
    k2.import_key_material(KeyId=mrk, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    blob = kms.encrypt(KeyId=mrk, Plaintext=b"both")["CiphertextBlob"]
    assert k2.decrypt(CiphertextBlob=blob)["Plaintext"] == b"both"


def test_replicate_key_takes_no_state_from_the_primary(server):
    # Bug: the replica copied its primary's state: a disabled primary gave a disabled replica,
    # and a primary pending deletion (or pending replica deletion) could still be replicated.
    kms, k2 = server.client("kms"), server.client("kms", region="eu-west-1")
    mrk = kms.create_key(MultiRegion=True)["KeyMetadata"]["Arn"]
    kms.disable_key(KeyId=mrk)
    replica = kms.replicate_key(KeyId=mrk, ReplicaRegion="eu-west-1")["ReplicaKeyMetadata"]
    assert (replica["KeyState"], replica["Enabled"]) == ("Enabled", True)
    assert "DeletionDate" not in replica
    assert k2.encrypt(KeyId=replica["Arn"], Plaintext=b"x")
    kms.enable_key(KeyId=mrk)
    # With a replica, the primary waits for it (PendingReplicaDeletion); alone, PendingDeletion.
    kms.schedule_key_deletion(KeyId=mrk, PendingWindowInDays=7)
    lone = kms.create_key(MultiRegion=True)["KeyMetadata"]["Arn"]
    kms.schedule_key_deletion(KeyId=lone, PendingWindowInDays=7)
    for key in (mrk, lone):
        with pytest.raises(ClientError) as e:
            kms.replicate_key(KeyId=key, ReplicaRegion="us-west-2")
        assert error(e)["Code"] == "KMSInvalidStateException", key


def test_update_primary_region_needs_both_keys_enabled_and_keeps_rotation(server):
    # Bugs: UpdatePrimaryRegion took keys in any state (AWS: "Both the primary key and the
    # replica key must be in the Enabled key state"), and turned automatic rotation off, the
    # new primary keeping its stale replica settings.
    kms, k2 = server.client("kms"), server.client("kms", region="eu-west-1")
    mrk = kms.create_key(MultiRegion=True)["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=mrk, RotationPeriodInDays=100)
    kms.replicate_key(KeyId=mrk, ReplicaRegion="eu-west-1")
    replica = mrk.replace("us-east-1", "eu-west-1")
    for client, key in ((k2, replica), (kms, mrk)):
        client.disable_key(KeyId=key)
        with pytest.raises(ClientError) as e:
            kms.update_primary_region(KeyId=mrk, PrimaryRegion="eu-west-1")
        assert error(e) == {"Code": "KMSInvalidStateException", "Message": f"{key} is disabled."}
        client.enable_key(KeyId=key)
    kms.update_primary_region(KeyId=mrk, PrimaryRegion="eu-west-1")
    status = k2.get_key_rotation_status(KeyId=replica)
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 100)
    assert kms.get_key_rotation_status(KeyId=mrk)["KeyRotationEnabled"] is True


def test_replica_regions_must_be_regions_of_the_primarys_partition(server):
    # Bug: any ReplicaRegion was taken: a misspelt one, or another partition's.
    kms = server.client("kms")
    mrk = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    for region in ("xx-foo-1", "cn-north-1", "us-gov-west-1"):
        with pytest.raises(ClientError) as e:
            kms.replicate_key(KeyId=mrk, ReplicaRegion=region)
        assert error(e)["Code"] == "ValidationException", region
    assert kms.describe_key(KeyId=mrk)["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"] == []


def test_multi_region_calls_are_recorded_in_each_affected_region(server):
    # Bugs: ReplicateKey left no CreateKey event in the replica's Region (AWS: "a ReplicateKey
    # operation and a CreateKey operation"), and UpdatePrimaryRegion was recorded only in the
    # caller's Region, without the key ARN as responseElements.keyId.
    kms = server.client("kms")
    mrk = kms.create_key(MultiRegion=True)["KeyMetadata"]["Arn"]
    kms.replicate_key(KeyId=mrk, ReplicaRegion="eu-west-1")
    replica = mrk.replace("us-east-1", "eu-west-1")
    kms.update_primary_region(KeyId=mrk, PrimaryRegion="eu-west-1")
    events = server.events()
    [created] = [e for e in events if e["eventName"] == "CreateKey" and e["awsRegion"] == "eu-west-1"]
    assert created["resources"][0]["ARN"] == replica
    assert created["userIdentity"]["invokedBy"] == "kms.amazonaws.com"
    updates = {e["awsRegion"]: e for e in events if e["eventName"] == "UpdatePrimaryRegion"}
    assert set(updates) == {"us-east-1", "eu-west-1"}
    assert updates["us-east-1"]["responseElements"] == {"keyId": mrk}
    assert updates["eu-west-1"]["responseElements"] == {"keyId": replica}
    assert updates["eu-west-1"]["requestParameters"]["primaryRegion"] == "eu-west-1"
    lookup = server.client("cloudtrail", region="eu-west-1").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "UpdatePrimaryRegion"}]
    )["Events"]
    assert len(lookup) == 1


def test_replicate_key_answer_leaves_out_what_was_not_given(server):
    # Bug: ReplicateKey answered ReplicaTags [] without Tags, and named the new replica's
    # CurrentKeyMaterialId while KMS was still creating it.
    kms = server.client("kms")
    mrk = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    out = kms.replicate_key(KeyId=mrk, ReplicaRegion="eu-west-1")
    assert "ReplicaTags" not in out and "CurrentKeyMaterialId" not in out["ReplicaKeyMetadata"]
    out = kms.replicate_key(KeyId=mrk, ReplicaRegion="us-west-2", Tags=[{"TagKey": "team", "TagValue": "a"}])
    assert out["ReplicaTags"] == [{"TagKey": "team", "TagValue": "a"}]


def test_a_grant_is_its_principals_and_not_a_namesakes_created_after_its_deletion(server):
    # Security bug: grants named their grantee and retiring principal by ARN, so a user or role
    # deleted and created again under the same name (and every session of the new role) got the
    # old one's grants. AWS holds them by unique id, which ListGrants shows once the principal
    # is gone.
    kms, iam = server.client("kms"), server.client("iam")
    signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    sign = dict(KeyId=signer, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    old, arn = user_clients(server, "temp1")
    grant = kms.create_grant(KeyId=signer, GranteePrincipal=arn, RetiringPrincipal=arn, Operations=["Sign"])
    assert old.sign(**sign)["Signature"]
    for k in iam.list_access_keys(UserName="temp1")["AccessKeyMetadata"]:
        iam.delete_access_key(UserName="temp1", AccessKeyId=k["AccessKeyId"])
    iam.delete_user(UserName="temp1")
    [listed] = kms.list_grants(KeyId=signer)["Grants"]
    assert listed["GranteePrincipal"].startswith("AIDA") and listed["RetiringPrincipal"] == listed["GranteePrincipal"]
    namesake, same_arn = user_clients(server, "temp1")
    assert same_arn == arn
    for call in (lambda: namesake.sign(**sign), lambda: namesake.retire_grant(KeyId=signer, GrantId=grant["GrantId"])):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)["Code"] == "AccessDeniedException"
    assert kms.list_retirable_grants(RetiringPrincipal=arn)["Grants"] == []
    # A role: its sessions use the grant; a role of the same name made later does not.
    trust = policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"})
    role_arn = iam.create_role(RoleName="signer", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    kms.create_grant(KeyId=signer, GranteePrincipal=role_arn, Operations=["Sign"])
    iam.create_user(UserName="assumer")
    iam.put_user_policy(UserName="assumer", PolicyName="p", PolicyDocument=policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
    k = iam.create_access_key(UserName="assumer")["AccessKey"]
    sts = server.client("sts", key=k["AccessKeyId"], secret=k["SecretAccessKey"])

    def session_kms():
        c = sts.assume_role(RoleArn=role_arn, RoleSessionName="signing")["Credentials"]
        return server.client("kms", key=c["AccessKeyId"], secret=c["SecretAccessKey"], aws_session_token=c["SessionToken"])

    before = session_kms()
    assert before.sign(**sign)["Signature"]
    iam.delete_role(RoleName="signer")
    iam.create_role(RoleName="signer", AssumeRolePolicyDocument=trust)
    for client in (session_kms(), before):
        with pytest.raises(ClientError) as e:
            client.sign(**sign)
        assert error(e)["Code"] == "AccessDeniedException"
    assert sorted(g["GranteePrincipal"][:4] for g in kms.list_grants(KeyId=signer)["Grants"]) == ["AIDA", "AROA"]


def test_dry_run_fails_as_the_request_would_and_succeeds_only_when_it_would(server):
    # Bug: DryRun checked only that the key existed, was usable and had the operation's usage,
    # so requests that fail (an algorithm unfit for the key, a grant to nobody or of an
    # operation the key cannot do, an RSA encryption without its algorithm or of too much data,
    # a revocation of no grant, a data key pair under an RSA key) were answered
    # DryRunOperationException. AWS: DryRun verifies the parameters too.
    kms = server.client("kms")
    sym = kms.create_key()["KeyMetadata"]["Arn"]
    p256 = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    me = "arn:aws:iam::123456789012:root"
    failing = [
        (kms.sign, dict(KeyId=p256, Message=b"m", SigningAlgorithm="ECDSA_SHA_384")),
        (kms.create_grant, dict(KeyId=sym, GranteePrincipal=me, Operations=["Sign"])),
        (kms.create_grant, dict(KeyId=sym, GranteePrincipal="arn:aws:iam::123456789012:user/nobody", Operations=["Encrypt"])),
        (kms.encrypt, dict(KeyId=rsa, Plaintext=b"x")),
        (kms.encrypt, dict(KeyId=rsa, Plaintext=b"x" * 191, EncryptionAlgorithm="RSAES_OAEP_SHA_256")),
        (kms.revoke_grant, dict(KeyId=sym, GrantId="0" * 64)),
        (kms.generate_data_key_pair, dict(KeyId=rsa, KeyPairSpec="RSA_2048")),
        (kms.decrypt, dict(CiphertextBlob=b"\x01" * 64)),
    ]
    for call, args in failing:
        with pytest.raises(ClientError) as real:
            call(**args)
        with pytest.raises(ClientError) as dry:
            call(**args, DryRun=True)
        assert error(dry) == error(real), (call, args)
        assert error(real)["Code"] != "DryRunOperationException"
    assert kms.list_grants(KeyId=sym)["Grants"] == []
    blob = kms.encrypt(KeyId=sym, Plaintext=b"x")["CiphertextBlob"]
    grant = kms.create_grant(KeyId=sym, GranteePrincipal=me, Operations=["Decrypt"])
    succeeding = [
        (kms.sign, dict(KeyId=p256, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")),
        (kms.encrypt, dict(KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")),
        (kms.decrypt, dict(CiphertextBlob=blob)),
        # Without a ciphertext to check, only the key and the permission are.
        (kms.decrypt, dict(KeyId=sym, CiphertextBlob=b"\x01" * 64, DryRunModifiers=["IGNORE_CIPHERTEXT"])),
        (kms.create_grant, dict(KeyId=sym, GranteePrincipal=me, Operations=["Encrypt"])),
        (kms.retire_grant, dict(GrantToken=grant["GrantToken"])),
        (kms.revoke_grant, dict(KeyId=sym, GrantId=grant["GrantId"])),
    ]
    for call, args in succeeding:
        with pytest.raises(ClientError) as dry:
            call(**args, DryRun=True)
        assert error(dry)["Code"] == "DryRunOperationException", (call, args)
    assert [g["GrantId"] for g in kms.list_grants(KeyId=sym)["Grants"]] == [grant["GrantId"]]


def test_an_encryption_context_with_an_rsa_key_is_refused_not_ignored(server):
    # Bug: Encrypt, Decrypt and ReEncrypt with an RSA key ignored the encryption context, so a
    # caller believed it bound a ciphertext it did not. AWS: "You cannot specify an encryption
    # context in a cryptographic operation with an asymmetric KMS key".
    kms = server.client("kms")
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    sym = kms.create_key()["KeyMetadata"]["Arn"]
    alg = "RSAES_OAEP_SHA_256"
    blob = kms.encrypt(KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm=alg)["CiphertextBlob"]
    sym_blob = kms.encrypt(KeyId=sym, Plaintext=b"x")["CiphertextBlob"]
    context = {"app": "billing"}
    for call in (
        lambda: kms.encrypt(KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm=alg, EncryptionContext=context),
        lambda: kms.decrypt(KeyId=rsa, CiphertextBlob=blob, EncryptionAlgorithm=alg, EncryptionContext=context),
        lambda: kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=rsa, SourceEncryptionAlgorithm=alg, SourceEncryptionContext=context, DestinationKeyId=sym),
        lambda: kms.re_encrypt(CiphertextBlob=sym_blob, DestinationKeyId=rsa, DestinationEncryptionAlgorithm=alg, DestinationEncryptionContext=context),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == {
            "Code": "ValidationException",
            "Message": "You cannot specify an encryption context in a cryptographic operation with an asymmetric KMS key or an HMAC KMS key.",
        }
    # An empty one is none.
    assert kms.decrypt(KeyId=rsa, CiphertextBlob=blob, EncryptionAlgorithm=alg, EncryptionContext={})["Plaintext"] == b"x"


def test_a_signing_algorithm_the_key_spec_cannot_do_is_invalid_key_usage(server):
    # Bug: Sign and Verify with a model algorithm unfit for the key's spec answered a
    # ValidationException on the member's enum; AWS: InvalidKeyUsageException, "Algorithm
    # ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.", as for encryption algorithms.
    kms = server.client("kms")
    cases = [("ECC_NIST_P256", "ECDSA_SHA_384"), ("RSA_2048", "ECDSA_SHA_256"), ("ECC_NIST_P384", "RSASSA_PSS_SHA_256"), ("ECC_NIST_P256", "ED25519_SHA_512")]
    for spec, alg in cases:
        key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        for call in (
            lambda: kms.sign(KeyId=key, Message=b"m", SigningAlgorithm=alg),
            lambda: kms.verify(KeyId=key, Message=b"m", SigningAlgorithm=alg, Signature=b"s" * 64),
        ):
            with pytest.raises(ClientError) as e:
                call()
            assert error(e) == {"Code": "InvalidKeyUsageException", "Message": f"Algorithm {alg} is incompatible with key spec {spec}."}


def test_a_recipient_is_refused_rather_than_answered_in_the_clear(server):
    # Bug: Recipient (a Nitro attestation document, for the answer's secret to be encrypted to
    # the enclave's key) was ignored, so Decrypt, GenerateDataKeyPair and DeriveSharedSecret
    # returned the plaintext in the clear to whoever called. Attestation is out of scope.
    kms = server.client("kms")
    sym = kms.create_key()["KeyMetadata"]["Arn"]
    agree = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=sym, Plaintext=b"secret")["CiphertextBlob"]
    peer = kms.get_public_key(KeyId=agree)["PublicKey"]
    recipient = {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": b"\xd2\x84attestation"}
    for call in (
        lambda: kms.decrypt(CiphertextBlob=blob, Recipient=recipient),
        lambda: kms.generate_data_key(KeyId=sym, KeySpec="AES_256", Recipient=recipient),
        lambda: kms.generate_data_key_pair(KeyId=sym, KeyPairSpec="ECC_NIST_P256", Recipient=recipient),
        lambda: kms.derive_shared_secret(KeyId=agree, KeyAgreementAlgorithm="ECDH", PublicKey=peer, Recipient=recipient),
        lambda: kms.generate_random(NumberOfBytes=32, Recipient=recipient),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)["Code"] == "UnsupportedOperationException"
        assert "Recipient" in error(e)["Message"]


def test_derive_shared_secret_takes_a_der_public_key_of_its_curve_and_says_what_else_is_wrong(server):
    # Bug: DeriveSharedSecret took a bare X9.62 point, where AWS takes only a DER-encoded X.509
    # SubjectPublicKeyInfo, and answered every bad peer key (another curve, PEM, an RSA key)
    # with a bare "key agreement failed".
    from cryptography.hazmat.primitives.asymmetric import rsa

    kms = server.client("kms")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["Arn"]
    peer = ec.generate_private_key(ec.SECP256R1())
    der = peer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ours = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    secret = kms.derive_shared_secret(KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=der)["SharedSecret"]
    assert secret == peer.exchange(ec.ECDH(), ours)
    point = peer.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    pem = peer.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    rsa_der = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for public, says in [
        (point, "a bare elliptic curve point is not one"),
        (pem, "the public key is PEM"),
        (p384, "the public key's curve is that of ECC_NIST_P384, not ECC_NIST_P256"),
        (rsa_der, "the public key is not an elliptic curve key"),
    ]:
        with pytest.raises(ClientError) as e:
            kms.derive_shared_secret(KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=public)
        assert error(e)["Code"] == "ValidationException"
        assert says in error(e)["Message"]


def test_data_key_errors_name_the_operation_asked_for(server):
    # Bug: GenerateDataKeyWithoutPlaintext and GenerateDataKeyPairWithoutPlaintext under an
    # unfit key said the key was not valid for GenerateDataKey / GenerateDataKeyPair. AWS:
    # "<arn> key usage is SIGN_VERIFY which is not valid for GenerateDataKeyWithoutPlaintext."
    kms = server.client("kms")
    signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    calls = {
        "GenerateDataKey": lambda key: kms.generate_data_key(KeyId=key, KeySpec="AES_256"),
        "GenerateDataKeyWithoutPlaintext": lambda key: kms.generate_data_key_without_plaintext(KeyId=key, KeySpec="AES_256"),
        "GenerateDataKeyPair": lambda key: kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256"),
        "GenerateDataKeyPairWithoutPlaintext": lambda key: kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="ECC_NIST_P256"),
    }
    for op, call in calls.items():
        with pytest.raises(ClientError) as e:
            call(signer)
        assert error(e) == {"Code": "InvalidKeyUsageException", "Message": f"{signer} key usage is SIGN_VERIFY which is not valid for {op}."}
        with pytest.raises(ClientError) as e:
            call(rsa)
        assert error(e)["Code"] == "InvalidKeyUsageException"
        assert error(e)["Message"].startswith(f"{rsa} key spec is RSA_2048 which is not valid for {op}:")


def test_each_create_grant_answer_has_its_own_token_and_retire_grant_must_name_its_grant(server):
    # Bugs: a CreateGrant retried with the same Name returned the first answer's GrantToken
    # again (AWS: each request gets a token of its own, all naming the grant), and RetireGrant
    # naming no grant was refused as access denied on "*", even to the root user, where it is
    # invalid.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    me = "arn:aws:iam::123456789012:root"
    first, second = (kms.create_grant(KeyId=key, GranteePrincipal=me, Operations=["Encrypt"], Name="retried") for _ in range(2))
    assert first["GrantId"] == second["GrantId"] and first["GrantToken"] != second["GrantToken"]
    for token in (first["GrantToken"], second["GrantToken"]):
        assert kms.encrypt(KeyId=key, Plaintext=b"x", GrantTokens=[token])["CiphertextBlob"]
    for args in ({}, {"GrantId": first["GrantId"]}, {"KeyId": key}):
        with pytest.raises(ClientError) as e:
            kms.retire_grant(**args)
        assert error(e)["Code"] == "ValidationException", args
    kms.retire_grant(GrantToken=second["GrantToken"])
    assert kms.list_grants(KeyId=key)["Grants"] == []
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key, Plaintext=b"x", GrantTokens=[first["GrantToken"]])
    assert error(e)["Code"] == "InvalidGrantTokenException"


ROOT_STATEMENT = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}


def test_key_policies_are_checked_as_kms_checks_them(server):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    # The default policy reads as KMS writes it (its layout and member order).
    text = kms.get_key_policy(KeyId=key)["Policy"]
    assert text.startswith('{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n')
    assert json.loads(text)["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    # Bug: a statement without Action or without Resource was refused; KMS accepts it and it
    # has no effect.
    no_action = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Resource": "*"}
    no_resource = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:*"}
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy(ROOT_STATEMENT, no_action, no_resource))
    assert kms.encrypt(KeyId=key, Plaintext=b"x")["KeyId"].endswith(key)
    # Bug: such a statement skipped every other check; only the missing element is forgiven.
    for bad in (
        {"Effect": "Maybe", "Principal": {"AWS": "*"}, "Resource": "*"},
        {"Effect": "Allow", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Resource": "*", "Condition": {"StringEqualz": {"aws:username": "x"}}},
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Resource": "*", "Foo": 1},
    ):
        with pytest.raises(ClientError) as e:
            kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy(ROOT_STATEMENT, bad))
        assert error(e)["Code"] == "MalformedPolicyDocumentException", bad
    # Bug: with a statement lacking Action the document was rewritten before the checks, and a
    # duplicate key (two Effects) passed.
    twice = '{"Version": "2012-10-17", "Statement": [%s, {"Effect": "Deny", "Effect": "Allow", "Principal": {"AWS": "*"}, "Resource": "*"}]}' % json.dumps(ROOT_STATEMENT)
    with pytest.raises(ClientError) as e:
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=twice)
    assert error(e)["Code"] == "MalformedPolicyDocumentException"
    # A policy of ineffective statements only locks everyone out: the lockout check says so, and
    # with the check bypassed it is taken.
    with pytest.raises(ClientError) as e:
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy(no_action))
    assert error(e)["Code"] == "MalformedPolicyDocumentException"
    assert "empty" not in error(e)["Message"]
    # Bug: the quota counted characters other than whitespace and answered
    # MalformedPolicyDocumentException; KMS counts the document's 32 KB and answers
    # LimitExceededException.
    padded = policy(ROOT_STATEMENT) + " " * 33000
    with pytest.raises(ClientError) as e:
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=padded)
    assert error(e)["Code"] == "LimitExceededException"
    assert "32768" in error(e)["Message"]
    # RAM's policy cannot be set by anyone.
    with pytest.raises(ClientError) as e:
        kms.put_key_policy(KeyId=key, PolicyName="AWS_RAM", Policy=policy(ROOT_STATEMENT))
    assert error(e)["Code"] == "ValidationException"


def test_kms_policy_name_reaches_key_policy_conditions(server):
    # Bug: kms:PolicyName was never set, so a Deny of reading the default policy denied nothing.
    kms = server.client("kms")
    deny_read = {
        "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:GetKeyPolicy", "Resource": "*",
        "Condition": {"StringEquals": {"kms:PolicyName": "default"}},
    }
    key = kms.create_key(Policy=policy(ROOT_STATEMENT, deny_read))["KeyMetadata"]["KeyId"]
    denied(lambda: kms.get_key_policy(KeyId=key))
    denied(lambda: kms.get_key_policy(KeyId=key, PolicyName="default"))
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyId"] == key


def test_alias_operations_carry_no_request_alias(server):
    # Bug: kms:RequestAlias was set from CreateAlias's AliasName, so a Deny meant for calls that
    # name a key by alias refused creating that alias, which AWS allows.
    root = server.client("kms")
    key = root.create_key()["KeyMetadata"]["KeyId"]
    kms, _ = user_clients(server, "alias-admin", ALLOW_KMS, deny_kms_when({"StringEquals": {"kms:RequestAlias": "alias/guarded"}}))
    kms.create_alias(AliasName="alias/guarded", TargetKeyId=key)
    denied(lambda: kms.encrypt(KeyId="alias/guarded", Plaintext=b"x"))
    kms.encrypt(KeyId=key, Plaintext=b"x")
    kms.delete_alias(AliasName="alias/guarded")


def test_a_key_arn_of_another_region_is_an_invalid_arn_as_kms_says(server):
    # KMS names the Region of the ARN it cannot use here (users quote `Invalid arn us-east-1`).
    arn = server.client("kms").create_key()["KeyMetadata"]["Arn"]
    west = server.client("kms", region="eu-west-1")
    for call in (lambda: west.describe_key(KeyId=arn), lambda: west.encrypt(KeyId=arn, Plaintext=b"x")):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == {"Code": "NotFoundException", "Message": "Invalid arn us-east-1"}


def import_material(kms, key_id, material, **expiry):
    token, wrapped = wrap_for(kms, key_id, material)
    expiry = expiry or {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    return kms.import_key_material(KeyId=key_id, ImportToken=token, EncryptedKeyMaterial=wrapped, **expiry)


def invalid_state(call):
    with pytest.raises(ClientError) as e:
        call()
    assert error(e)["Code"] == "KMSInvalidStateException", error(e)
    return error(e)["Message"]


def test_import_key_material_neither_enables_a_disabled_key_nor_cancels_its_deletion(server):
    # Hole: ImportKeyMaterial ignored the key's state and always set it Enabled, so a caller
    # allowed only to import, and denied EnableKey and CancelKeyDeletion, could enable a
    # disabled key, and undo a scheduled deletion with a token obtained before it.
    root = server.client("kms")
    kms, _ = user_clients(
        server,
        "importer",
        {"Effect": "Allow", "Action": ["kms:GetParametersForImport", "kms:ImportKeyMaterial", "kms:DescribeKey"], "Resource": "*"},
        {"Effect": "Deny", "Action": ["kms:EnableKey", "kms:CancelKeyDeletion"], "Resource": "*"},
    )
    key = root.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    import_material(root, key, material)
    root.disable_key(KeyId=key)
    # A re-import of the same material is allowed and may change the expiry; the state stays.
    import_material(kms, key, material)
    shown = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (shown["KeyState"], shown["Enabled"]) == ("Disabled", False)
    token, wrapped = wrap_for(kms, key, material)
    root.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    message = invalid_state(lambda: kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"))
    assert message.endswith(" is pending deletion.")
    invalid_state(lambda: kms.get_parameters_for_import(KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"))
    shown = root.describe_key(KeyId=key)["KeyMetadata"]
    assert shown["KeyState"] == "PendingDeletion" and "DeletionDate" in shown
    # A key waiting for its material is still enabled by its import.
    root.cancel_key_deletion(KeyId=key)
    root.enable_key(KeyId=key)
    root.delete_imported_key_material(KeyId=key)
    import_material(kms, key, material)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"


def test_a_primary_waiting_for_its_replicas_deletion_keeps_it_whatever_happens_to_its_material(server):
    # Bug: a primary in PendingReplicaDeletion became PendingImport when its material was
    # deleted (or expired) and Enabled when it was imported again, its deletion forgotten;
    # it could be rotated on demand, and GetKeyRotationStatus said rotation was on.
    import time

    kms = server.client("kms")
    mrk = kms.create_key(Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    import_material(kms, mrk, material)
    kms.replicate_key(KeyId=mrk, ReplicaRegion="us-west-2")
    assert kms.schedule_key_deletion(KeyId=mrk, PendingWindowInDays=7)["KeyState"] == "PendingReplicaDeletion"
    kms.delete_imported_key_material(KeyId=mrk)
    assert kms.describe_key(KeyId=mrk)["KeyMetadata"]["KeyState"] == "PendingReplicaDeletion"
    invalid_state(lambda: kms.get_parameters_for_import(KeyId=mrk, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"))
    # Cancelled, a key without material waits for it again.
    kms.cancel_key_deletion(KeyId=mrk)
    assert kms.describe_key(KeyId=mrk)["KeyMetadata"]["KeyState"] == "PendingImport"
    import_material(kms, mrk, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=time.time() + 2)
    assert kms.describe_key(KeyId=mrk)["KeyMetadata"]["KeyState"] == "Enabled"
    kms.schedule_key_deletion(KeyId=mrk, PendingWindowInDays=7)
    time.sleep(3)
    assert kms.describe_key(KeyId=mrk)["KeyMetadata"]["KeyState"] == "PendingReplicaDeletion"
    kms.cancel_key_deletion(KeyId=mrk)
    assert kms.describe_key(KeyId=mrk)["KeyMetadata"]["KeyState"] == "PendingImport"

    generated = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=generated)
    kms.replicate_key(KeyId=generated, ReplicaRegion="us-west-2")
    kms.schedule_key_deletion(KeyId=generated, PendingWindowInDays=7)
    assert invalid_state(lambda: kms.rotate_key_on_demand(KeyId=generated)).endswith(" is pending replica deletion.")
    assert kms.get_key_rotation_status(KeyId=generated)["KeyRotationEnabled"] is False
    assert server.client("kms", region="us-west-2").get_key_rotation_status(KeyId=generated)["KeyRotationEnabled"] is False


def test_rotation_status_is_off_while_a_key_is_pending_deletion_and_back_when_cancelled(server):
    # Bug: GetKeyRotationStatus of a key pending deletion said true with a NextRotationDate;
    # the API reference says false while pending deletion, true again once cancelled.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] is False and "NextRotationDate" not in status
    kms.cancel_key_deletion(KeyId=key)
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 90


def test_a_key_without_material_comes_back_from_deletion_waiting_for_it(server):
    # Bug: CancelKeyDeletion of a key never imported into made it Disabled, and EnableKey then
    # showed it Enabled though it could encrypt nothing; KMS makes it PendingImport.
    kms = server.client("kms")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert invalid_state(lambda: kms.enable_key(KeyId=key)).endswith(" is pending import.")
    invalid_state(lambda: kms.disable_key(KeyId=key))


def test_enable_and_disable_key_see_expired_material_before_the_background_task_does(server):
    # Bug: DescribeKey showed PendingImport once ValidTo had passed, but EnableKey and
    # DisableKey went by the stored state and succeeded until the background task ran.
    import time

    kms = server.client("kms")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    import_material(kms, key, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=time.time() + 2)
    time.sleep(3)
    assert invalid_state(lambda: kms.disable_key(KeyId=key)).endswith(" is pending import.")
    invalid_state(lambda: kms.enable_key(KeyId=key))
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
    import_material(kms, key, material)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"


def test_imported_material_of_a_key_pending_deletion_can_be_deleted_and_the_state_stays(server):
    # Bug: DeleteImportedKeyMaterial of a key pending deletion was refused; the API reference
    # allows it and leaves the key's state as it is.
    kms = server.client("kms")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    import_material(kms, key, os.urandom(32))
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    kms.delete_imported_key_material(KeyId=key)
    shown = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert shown["KeyState"] == "PendingDeletion" and "DeletionDate" in shown
    kms.cancel_key_deletion(KeyId=key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_expired_material_is_deleted_by_kms_and_recorded_as_its_service_event(start_server):
    # Bug: the background task's expiry of imported material (like its deletions and
    # rotations) left no audit event; CloudTrail records DeleteExpiredKeyMaterial as an
    # AwsServiceEvent of KMS naming the key and its material.
    import time

    server = start_server("--kms-task-seconds", "1")
    kms = server.client("kms")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    material_id = import_material(kms, key["KeyId"], os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=time.time() + 2)["KeyMaterialId"]
    deadline = time.time() + 20
    events = []
    while not events and time.time() < deadline:
        time.sleep(1)
        events = server.client("cloudtrail").lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "DeleteExpiredKeyMaterial"}]
        )["Events"]
    assert len(events) == 1
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["eventType"] == "AwsServiceEvent" and record["eventSource"] == "kms.amazonaws.com"
    assert record["userIdentity"]["accountId"] == "123456789012"
    assert record["userIdentity"]["invokedBy"] == "kms.amazonaws.com"
    assert record["serviceEventDetails"] == {"keyId": key["KeyId"], "keyMaterialId": material_id}
    assert record["resources"] == [{"accountId": "123456789012", "type": "AWS::KMS::Key", "ARN": key["Arn"]}]
    assert record["recipientAccountId"] == "123456789012" and record["readOnly"] is False
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"


def test_key_material_ids_must_name_the_keys_material_and_on_demand_rotation_says_what_it_lacks(server):
    # Bugs: DeleteImportedKeyMaterial deleted the current material whatever KeyMaterialId it
    # named; ImportKeyMaterial took any KeyMaterialId, and one beside ImportType
    # NEW_KEY_MATERIAL, which the model forbids; RotateKeyOnDemand of an imported key said it
    # did not support *automatic* rotation.
    kms = server.client("kms")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    current = import_material(kms, key, material)["KeyMaterialId"]
    other = "0" * 64
    with pytest.raises(ClientError) as e:
        kms.delete_imported_key_material(KeyId=key, KeyMaterialId=other)
    assert error(e)["Code"] == "NotFoundException" and other in error(e)["Message"]
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.encrypt(KeyId=key, Plaintext=b"x")
    token, wrapped = wrap_for(kms, key, material)
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialId=other)
    assert error(e)["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialId=current, ImportType="NEW_KEY_MATERIAL")
    assert error(e)["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        kms.rotate_key_on_demand(KeyId=key)
    assert error(e)["Code"] == "UnsupportedOperationException" and "automatic" not in error(e)["Message"]
    kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialId=current)
    assert kms.delete_imported_key_material(KeyId=key, KeyMaterialId=current)["KeyMaterialId"] == current
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_imported_keys_rotate_on_demand_into_new_imported_material(server):
    # AWS's on-demand rotation of imported keys (2025): new material imported with ImportType
    # NEW_KEY_MATERIAL waits in PENDING_ROTATION until RotateKeyOnDemand makes it current;
    # every material stays the key's, each to be imported again once deleted.
    kms = server.client("kms")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    first_material, second_material = os.urandom(32), os.urandom(32)
    first = import_material(kms, key, first_material)["KeyMaterialId"]
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"] == first
    old = kms.encrypt(KeyId=key, Plaintext=b"old")["CiphertextBlob"]
    # Nothing to rotate into yet.
    with pytest.raises(ClientError) as e:
        kms.rotate_key_on_demand(KeyId=key)
    assert error(e)["Code"] == "UnsupportedOperationException" and "PENDING_ROTATION" in error(e)["Message"]
    # New material must be new.
    token, wrapped = wrap_for(kms, key, first_material)
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL")
    assert error(e)["Code"] == "IncorrectKeyMaterialException"
    token, wrapped = wrap_for(kms, key, second_material)
    second = kms.import_key_material(
        KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ImportType="NEW_KEY_MATERIAL",
        KeyMaterialDescription="second one", ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )["KeyMaterialId"]
    assert len(second) == 64 and second != first
    every = kms.list_key_rotations(KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"], r["ImportState"]) for r in every] == [
        (first, "CURRENT", "IMPORTED"), (second, "PENDING_ROTATION", "IMPORTED")]
    assert every[1]["KeyMaterialDescription"] == "second one" and "RotationDate" not in every[1]
    assert every[1]["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert kms.list_key_rotations(KeyId=key)["Rotations"] == []
    # Pending material is used for nothing, and at most one waits.
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"] == first
    token, wrapped = wrap_for(kms, key, os.urandom(32))
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL")
    assert error(e)["Code"] == "KMSInvalidStateException" and second in error(e)["Message"]

    assert kms.rotate_key_on_demand(KeyId=key)["KeyId"].endswith(key)
    shown = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (shown["CurrentKeyMaterialId"], shown["KeyState"]) == (second, "Enabled")
    new = kms.encrypt(KeyId=key, Plaintext=b"new")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"old"
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"new"
    rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"], r["RotationType"]) for r in rotations] == [(second, "CURRENT", "ON_DEMAND")]
    every = kms.list_key_rotations(KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in every] == [(first, "NON_CURRENT"), (second, "CURRENT")]
    # Automatic rotation stays for keys KMS makes the material of.
    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId=key)
    assert error(e)["Code"] == "UnsupportedOperationException"

    # Deleting the non-current material: it is still the key's, and the key waits for it.
    out = kms.delete_imported_key_material(KeyId=key, KeyMaterialId=first)
    assert out["KeyMaterialId"] == first
    shown = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (shown["KeyState"], shown["CurrentKeyMaterialId"]) == ("PendingImport", second)
    every = kms.list_key_rotations(KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["ImportState"]) for r in every] == [(first, "PENDING_IMPORT"), (second, "IMPORTED")]
    for call in (lambda: kms.decrypt(CiphertextBlob=old), lambda: kms.encrypt(KeyId=key, Plaintext=b"x")):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)["Code"] == "KMSInvalidStateException"
    # Only that material comes back under its id.
    token, wrapped = wrap_for(kms, key, second_material)
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialId=first)
    assert error(e)["Code"] == "IncorrectKeyMaterialException"
    token, wrapped = wrap_for(kms, key, first_material)
    assert kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialId=first)["KeyMaterialId"] == first
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"old"
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"new"

    # Without a KeyMaterialId, DeleteImportedKeyMaterial deletes the current material, and an
    # import is of the current material.
    assert kms.delete_imported_key_material(KeyId=key)["KeyMaterialId"] == second
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert import_material(kms, key, second_material)["KeyMaterialId"] == second
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"

    # Pending material that is deleted is gone, without changing the key's state; other
    # material can take its place.
    token, wrapped = wrap_for(kms, key, os.urandom(32))
    third = kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert kms.delete_imported_key_material(KeyId=key, KeyMaterialId=third)["KeyMaterialId"] == third
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    every = kms.list_key_rotations(KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [r["KeyMaterialId"] for r in every] == [first, second]
    with pytest.raises(ClientError) as e:
        kms.delete_imported_key_material(KeyId=key, KeyMaterialId=third)
    assert error(e)["Code"] == "NotFoundException"
    token, wrapped = wrap_for(kms, key, os.urandom(32))
    fourth = kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert fourth not in (first, second, third)
    kms.rotate_key_on_demand(KeyId=key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"] == fourth
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"old"


def test_asymmetric_and_hmac_imported_keys_hold_one_material(server):
    # AWS: only symmetric encryption keys take new key material; others keep their first.
    kms = server.client("kms")
    key = kms.create_key(Origin="EXTERNAL", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    import_material(kms, key, os.urandom(32))
    token, wrapped = wrap_for(kms, key, os.urandom(32))
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL")
    assert error(e)["Code"] == "UnsupportedOperationException"
    with pytest.raises(ClientError) as e:
        kms.rotate_key_on_demand(KeyId=key)
    assert error(e)["Code"] == "UnsupportedOperationException"


def test_new_imported_material_of_a_multi_region_key_goes_into_the_primary_then_each_replica(server):
    kms = server.client("kms")
    west = server.client("kms", region="us-west-2")
    key = kms.create_key(Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=key, ReplicaRegion="us-west-2")
    first_material, second_material = os.urandom(32), os.urandom(32)
    first = import_material(kms, key, first_material)["KeyMaterialId"]
    assert import_material(west, key, first_material)["KeyMaterialId"] == first
    # A replica takes no new material of its own.
    token, wrapped = wrap_for(west, key, second_material)
    with pytest.raises(ClientError) as e:
        west.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL")
    assert error(e)["Code"] == "UnsupportedOperationException"
    token, wrapped = wrap_for(kms, key, second_material)
    second = kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    listed = west.list_key_rotations(KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"], r["ImportState"]) for r in listed] == [
        (first, "CURRENT", "IMPORTED"), (second, "PENDING_ROTATION", "PENDING_IMPORT")]
    # Not rotated until every replica has it; a replica takes only the primary's material.
    with pytest.raises(ClientError) as e:
        kms.rotate_key_on_demand(KeyId=key)
    assert error(e)["Code"] == "UnsupportedOperationException" and "us-west-2" in error(e)["Message"]
    token, wrapped = wrap_for(west, key, os.urandom(32))
    with pytest.raises(ClientError) as e:
        west.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialId=second)
    assert error(e)["Code"] == "IncorrectKeyMaterialException"
    token, wrapped = wrap_for(west, key, second_material)
    west.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialId=second)
    with pytest.raises(ClientError) as e:
        west.rotate_key_on_demand(KeyId=key)
    assert error(e)["Code"] == "UnsupportedOperationException"
    kms.rotate_key_on_demand(KeyId=key)
    assert west.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"] == second
    blob = kms.encrypt(KeyId=key, Plaintext=b"everywhere")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"everywhere"
    blob = west.encrypt(KeyId=key, Plaintext=b"back")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"back"


def test_expired_pending_material_is_not_rotated_into_before_the_sweep_removes_it(server):
    # Bug: RotateKeyOnDemand took PENDING_ROTATION material past its ValidTo that the background
    # task (up to a minute later) had not deleted yet, leaving the key PendingImport; a
    # multi-Region primary went PendingImport while its replica stayed Enabled. Material past
    # its ValidTo is not held: the rotation is refused as when nothing waits for it.
    import time

    kms = server.client("kms")
    west = server.client("kms", region="us-west-2")
    single = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    mrk = kms.create_key(Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=mrk, ReplicaRegion="us-west-2")
    firsts = {}
    for key in (single, mrk):
        material = os.urandom(32)
        firsts[key] = import_material(kms, key, material)["KeyMaterialId"]
    import_material(west, mrk, material)
    new = os.urandom(32)
    soon = {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": time.time() + 2}
    for key in (single, mrk):
        token, wrapped = wrap_for(kms, key, new)
        kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ImportType="NEW_KEY_MATERIAL", **soon)
    pending = kms.list_key_rotations(KeyId=mrk, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"][-1]["KeyMaterialId"]
    token, wrapped = wrap_for(west, mrk, new)
    west.import_key_material(KeyId=mrk, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialId=pending)
    time.sleep(3)
    for key in (single, mrk):
        with pytest.raises(ClientError) as e:
            kms.rotate_key_on_demand(KeyId=key)
        assert error(e)["Code"] == "UnsupportedOperationException" and "PENDING_ROTATION" in error(e)["Message"]
        shown = kms.describe_key(KeyId=key)["KeyMetadata"]
        assert (shown["KeyState"], shown["CurrentKeyMaterialId"]) == ("Enabled", firsts[key])
        assert kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"])["Plaintext"] == b"x"
    shown = west.describe_key(KeyId=mrk)["KeyMetadata"]
    assert (shown["KeyState"], shown["CurrentKeyMaterialId"]) == ("Enabled", firsts[mrk])
    # Other new material is refused until the expired one is gone, and the refusal says how to
    # get rid of it (it used to tell the caller to rotate, which the expiry rules out). Should the
    # background task have deleted it meanwhile, the import simply succeeds.
    token, wrapped = wrap_for(kms, single, os.urandom(32))
    try:
        kms.import_key_material(KeyId=single, ImportToken=token, EncryptedKeyMaterial=wrapped,
                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "KMSInvalidStateException"
        assert "expired at" in e.response["Error"]["Message"] and "DeleteImportedKeyMaterial" in e.response["Error"]["Message"]


def test_crypto_responses_name_the_key_material_they_used(server):
    # Bug: Decrypt, ReEncrypt and the GenerateDataKey family answered without KeyMaterialId
    # (SourceKeyMaterialId / DestinationKeyMaterialId), which the model gives for symmetric
    # encryption keys: the material version actually used, also after a rotation.
    kms = server.client("kms")
    made = kms.create_key()["KeyMetadata"]["KeyId"]
    imported = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    import_material(kms, imported, os.urandom(32))
    for key in (made, imported):
        first = kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
        old = kms.encrypt(KeyId=key, Plaintext=b"old")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=old)["KeyMaterialId"] == first
        assert kms.generate_data_key(KeyId=key, KeySpec="AES_256")["KeyMaterialId"] == first
        assert kms.generate_data_key_without_plaintext(KeyId=key, NumberOfBytes=16)["KeyMaterialId"] == first
        assert kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256")["KeyMaterialId"] == first
        assert kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="ECC_NIST_P256")["KeyMaterialId"] == first
        if key == imported:
            token, wrapped = wrap_for(kms, key, os.urandom(32))
            kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ImportType="NEW_KEY_MATERIAL")
        kms.rotate_key_on_demand(KeyId=key)
        second = kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
        assert second != first
        assert kms.decrypt(CiphertextBlob=old)["KeyMaterialId"] == first
        out = kms.re_encrypt(CiphertextBlob=old, DestinationKeyId=key)
        assert (out["SourceKeyMaterialId"], out["DestinationKeyMaterialId"]) == (first, second)
        assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["KeyMaterialId"] == second
        assert kms.generate_data_key(KeyId=key, KeySpec="AES_128")["KeyMaterialId"] == second
    # Not for an asymmetric key.
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=rsa, Plaintext=b"r", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob, KeyId=rsa, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert out["Plaintext"] == b"r" and "KeyMaterialId" not in out


def test_a_primarys_expired_pending_material_goes_from_its_replicas_too(start_server):
    # Bug: when a multi-Region primary's PENDING_ROTATION material expired, the background task
    # deleted it from the primary only; its replicas kept their copies. They go too, as with
    # DeleteImportedKeyMaterial of the primary's.
    import time

    server = start_server("--kms-task-seconds", "1")
    kms = server.client("kms")
    west = server.client("kms", region="us-west-2")
    key = kms.create_key(Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=key, ReplicaRegion="us-west-2")
    material, new = os.urandom(32), os.urandom(32)
    first = import_material(kms, key, material)["KeyMaterialId"]
    import_material(west, key, material)
    token, wrapped = wrap_for(kms, key, new)
    pending = kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ImportType="NEW_KEY_MATERIAL", ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=time.time() + 2)["KeyMaterialId"]
    token, wrapped = wrap_for(west, key, new)
    west.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialId=pending)
    listed = lambda c: [r["KeyMaterialId"] for r in c.list_key_rotations(KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]]
    assert listed(west) == [first, pending]
    deadline = time.time() + 20
    while listed(kms) != [first] and time.time() < deadline:
        time.sleep(0.5)
    assert listed(kms) == [first] and listed(west) == [first]
    for c in (kms, west):
        assert c.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    # Other new material can take its place everywhere.
    token, wrapped = wrap_for(kms, key, os.urandom(32))
    kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ImportType="NEW_KEY_MATERIAL", ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")


def test_a_primary_lists_material_its_replicas_lack_as_pending_multi_region_import(server):
    # Bug: a multi-Region primary listed new material as PENDING_ROTATION while a replica had
    # not imported it; the model's PENDING_MULTI_REGION_IMPORT_AND_ROTATION is for exactly that,
    # and PENDING_ROTATION once every replica has it.
    kms = server.client("kms")
    west = server.client("kms", region="us-west-2")
    key = kms.create_key(Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=key, ReplicaRegion="us-west-2")
    material, new = os.urandom(32), os.urandom(32)
    import_material(kms, key, material)
    import_material(west, key, material)
    token, wrapped = wrap_for(kms, key, new)
    pending = kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ImportType="NEW_KEY_MATERIAL", ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")["KeyMaterialId"]
    state = lambda c: c.list_key_rotations(KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"][-1]["KeyMaterialState"]
    assert state(kms) == "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"
    token, wrapped = wrap_for(west, key, new)
    west.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", KeyMaterialId=pending)
    assert state(kms) == "PENDING_ROTATION" and state(west) == "PENDING_ROTATION"


def test_new_key_material_ids_derive_from_the_key_and_the_material(server):
    # Bug: ids of new imported material were random; AWS derives them from the key and the
    # material, so the same material imported again as new after its deletion gets the same
    # id, and a multi-Region key's Regions agree on it.
    import hashlib

    kms = server.client("kms")
    for multi_region in (False, True):
        key = kms.create_key(Origin="EXTERNAL", MultiRegion=multi_region)["KeyMetadata"]["KeyId"]
        import_material(kms, key, os.urandom(32))
        new = os.urandom(32)
        want = hashlib.sha256(b"palisade:kms:key-material-id\0" + key.encode() + b"\0" + new).hexdigest()
        ids = []
        for _ in range(2):
            token, wrapped = wrap_for(kms, key, new)
            ids.append(kms.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped, ImportType="NEW_KEY_MATERIAL", ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")["KeyMaterialId"])
            kms.delete_imported_key_material(KeyId=key, KeyMaterialId=ids[-1])
        assert ids == [want, want]


def test_a_wrong_import_token_is_invalid_and_names_the_key(server):
    # Bug: every refused token got "Import token is invalid or expired."; the model has
    # ExpiredImportTokenException for an expired one, so an invalid one says only that.
    kms = server.client("kms")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    _, wrapped = wrap_for(kms, key["KeyId"], os.urandom(32))
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key["KeyId"], ImportToken=b"not the token", EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert error(e)["Code"] == "InvalidImportTokenException" and key["Arn"] in error(e)["Message"]
    assert "expired" not in error(e)["Message"]


def test_a_custom_key_store_is_never_answered_from_the_default_one(server):
    # Regression: CreateKey with a CustomKeyStoreId or XksKeyId made an ordinary key, and
    # GenerateRandom with a CustomKeyStoreId answered from Palisade's own generator: a caller who
    # meant the key to live in their HSM or external key store got one that does not, unwarned.
    kms = server.client("kms")
    before = kms.list_keys()["Keys"]
    for call in (lambda: kms.create_key(CustomKeyStoreId="cks-1234567890abcdef0"),
                 lambda: kms.generate_random(NumberOfBytes=16, CustomKeyStoreId="cks-1234567890abcdef0")):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)["Code"] == "CustomKeyStoreNotFoundException"
        assert "cks-1234567890abcdef0" in error(e)["Message"]
    with pytest.raises(ClientError) as e:
        kms.create_key(XksKeyId="bb8562717f809024")
    assert error(e)["Code"] == "ValidationException" and "EXTERNAL_KEY_STORE" in error(e)["Message"]
    assert kms.list_keys()["Keys"] == before


def test_a_key_has_at_most_fifty_aliases(server):
    # Regression: any number of aliases were accepted for one key (AWS's quota is 50).
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    for n in range(50):
        kms.create_alias(AliasName=f"alias/a{n}", TargetKeyId=key)
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/one-too-many", TargetKeyId=key)
    assert e.value.response["Error"]["Code"] == "LimitExceededException"
    kms.create_alias(AliasName="alias/elsewhere", TargetKeyId=other)
    with pytest.raises(ClientError) as e:
        kms.update_alias(AliasName="alias/elsewhere", TargetKeyId=key)
    assert e.value.response["Error"]["Code"] == "LimitExceededException"


def test_an_alias_needs_a_name_after_its_prefix(server):
    # Regression: `alias/` alone was created, listed and then named its key in every call.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/", TargetKeyId=key)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "alias/" in e.value.response["Error"]["Message"]
    assert "alias/" not in [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
