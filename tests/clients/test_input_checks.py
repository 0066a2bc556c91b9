"""Regression tests for what black-box fuzzing of the server found (2026-12-03): input AWS refuses
that Palisade took, answers clients could not parse, and a secret that reached the audit trail.
Each test names the bug it pins. Strict mode throughout."""

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import make_cert

ACCOUNT = "123456789012"


def raw(server, service):
    """A root client without botocore's own parameter checks, so the server's are what answers."""
    key, secret = server.credentials()
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_assuming_a_role_that_does_not_exist_is_denied_whatever_the_callers_policy(server):
    # Bug: with no role there was no trust policy to consult, so the caller's own
    # `sts:AssumeRole` on `*` decided, and credentials for a role that does not exist came back.
    iam = server.client("iam")
    iam.create_user(UserName="u")
    iam.put_user_policy(
        UserName="u",
        PolicyName="p",
        PolicyDocument=doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
    )
    key = iam.create_access_key(UserName="u")["AccessKey"]
    sts = server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/does-not-exist", RoleSessionName="session")
    assert code(e) == "AccessDenied"
    assert "sts:AssumeRole" in e.value.response["Error"]["Message"]


def test_a_server_certificates_private_key_never_reaches_the_audit_trail(server):
    # Bug: the hand-written list of sensitive members missed UploadServerCertificate's
    # PrivateKey, and LookupEvents showed the key to anyone allowed to read events.
    from cryptography.hazmat.primitives import serialization

    key, cert = make_cert("www.example.com")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    server.client("iam").upload_server_certificate(
        ServerCertificateName="www", CertificateBody=cert_pem, PrivateKey=key_pem
    )
    events = server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "UploadServerCertificate"}]
    )["Events"]
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["requestParameters"]["privateKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    secret_line = key_pem.splitlines()[1]
    assert secret_line not in events[0]["CloudTrailEvent"]
    for f in (server.data_dir / "events").iterdir():
        assert secret_line.encode() not in f.read_bytes()


def test_a_server_certificate_needs_its_own_private_key(server):
    # Bug: any PEM private key was taken with any certificate; IAM answers KeyPairMismatch.
    from cryptography.hazmat.primitives import serialization

    key, cert = make_cert("a.example.com")
    other, _ = make_cert("b.example.com")
    pem = lambda k: k.private_bytes(  # noqa: E731
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    body = cert.public_bytes(serialization.Encoding.PEM).decode()
    iam = server.client("iam")
    with pytest.raises(ClientError) as e:
        iam.upload_server_certificate(ServerCertificateName="a", CertificateBody=body, PrivateKey=pem(other))
    assert code(e) == "KeyPairMismatch"
    iam.upload_server_certificate(ServerCertificateName="a", CertificateBody=body, PrivateKey=pem(key))


def test_moving_a_server_certificate_needs_permission_on_its_new_name_and_path(server):
    # Hole: UpdateServerCertificate was authorized on the old name only, so a user allowed to
    # change the certificates under /a/ could move one to /b/ (the model: the caller "must have
    # permission to change the server certificate with the old name and the new name").
    key, cert = make_cert("moved.example.com")
    root = server.client("iam")
    root.upload_server_certificate(
        ServerCertificateName="moved",
        Path="/a/",
        CertificateBody=_pem(cert),
        PrivateKey=_pem(key),
    )
    root.create_user(UserName="certops")
    root.put_user_policy(
        UserName="certops",
        PolicyName="a-only",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "iam:UpdateServerCertificate",
            "Resource": "arn:aws:iam::123456789012:server-certificate/a/*"}]}),
    )
    k = root.create_access_key(UserName="certops")["AccessKey"]
    ops = server.client("iam", key=k["AccessKeyId"], secret=k["SecretAccessKey"])
    for change in ({"NewPath": "/b/"}, {"NewServerCertificateName": "elsewhere", "NewPath": "/b/"}):
        with pytest.raises(ClientError) as e:
            ops.update_server_certificate(ServerCertificateName="moved", **change)
        assert code(e) == "AccessDenied" and "server-certificate/b/" in e.value.response["Error"]["Message"]
    ops.update_server_certificate(ServerCertificateName="moved", NewServerCertificateName="renamed")
    meta = root.get_server_certificate(ServerCertificateName="renamed")["ServerCertificate"]["ServerCertificateMetadata"]
    assert meta["Path"] == "/a/"
    # Hole: with a colon in the path, the new ARN was built from the text after the last colon
    # (`team:a/other/…`), which the caller's `team:a/*` matched.
    key2, cert2 = make_cert("colon.example.com")
    root.upload_server_certificate(
        ServerCertificateName="colon",
        Path="/team:a/",
        CertificateBody=_pem(cert2),
        PrivateKey=_pem(key2),
    )
    root.put_user_policy(
        UserName="certops",
        PolicyName="a-only",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "iam:UpdateServerCertificate",
            "Resource": "arn:aws:iam::123456789012:server-certificate/team:a/*"}]}),
    )
    with pytest.raises(ClientError) as e:
        ops.update_server_certificate(ServerCertificateName="colon", NewPath="/other/")
    assert code(e) == "AccessDenied" and "server-certificate/other/colon" in e.value.response["Error"]["Message"]


def test_ssh_public_keys_must_be_rsa_of_2048_bits_in_openssh_or_pem_form(server):
    # Bug: UploadSSHPublicKey stored any text, "garbage" included.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    iam = server.client("iam")
    iam.create_user(UserName="dev")
    openssh = lambda k: k.public_key().public_bytes(  # noqa: E731
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    with pytest.raises(ClientError) as e:
        iam.upload_ssh_public_key(UserName="dev", SSHPublicKeyBody="garbage")
    assert code(e) == "UnrecognizedPublicKeyEncoding"
    with pytest.raises(ClientError) as e:
        iam.upload_ssh_public_key(UserName="dev", SSHPublicKeyBody=openssh(ed25519.Ed25519PrivateKey.generate()))
    assert code(e) == "UnrecognizedPublicKeyEncoding"
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ClientError) as e:
        iam.upload_ssh_public_key(UserName="dev", SSHPublicKeyBody=openssh(small))
    assert code(e) == "InvalidPublicKey"
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    iam.upload_ssh_public_key(UserName="dev", SSHPublicKeyBody=openssh(good) + " dev@laptop")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # the same key is a duplicate
    pem = other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    iam.upload_ssh_public_key(UserName="dev", SSHPublicKeyBody=pem)
    assert len(iam.list_ssh_public_keys(UserName="dev")["SSHPublicKeys"]) == 2


def test_values_xml_cannot_carry_get_an_error_the_client_can_read(server):
    # Bug: an error message echoing a NUL was not XML, so botocore raised ResponseParserError;
    # and CreateAccountAlias stored "a\x01b" (its pattern's look-ahead was not enforced), which
    # broke every ListAccountAliases after.
    iam = raw(server, "iam")
    with pytest.raises(ClientError) as e:
        iam.get_user(UserName="a\x00b")
    assert code(e) == "ValidationError"
    for alias in ["a\x01b", "UPPER", "$$$", "a--b", "-ab"]:
        with pytest.raises(ClientError) as e:
            iam.create_account_alias(AccountAlias=alias)
        assert code(e) == "ValidationError", alias
    iam.create_account_alias(AccountAlias="my-corp-1")
    assert iam.list_account_aliases()["AccountAliases"] == ["my-corp-1"]
    with pytest.raises(ClientError) as e:
        iam.create_open_id_connect_provider(Url="https://a\x01.example.com", ThumbprintList=["a" * 40])
    assert code(e) == "InvalidInput"


def test_a_key_policy_that_would_lock_its_author_out_is_refused_unless_bypassed(server):
    # Bug: PutKeyPolicy took a policy that did not let the caller change it again, after which no
    # one (root included) could manage the key; KMS's policy lockout safety check refuses it.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    server.client("iam").create_user(UserName="other")
    someone_else = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/other"},
            "Action": "kms:Encrypt",
            "Resource": "*",
        }
    )
    with pytest.raises(ClientError) as e:
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=someone_else)
    assert code(e) == "MalformedPolicyDocumentException"
    assert "will not allow you to update the key policy in the future" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        kms.create_key(Policy=someone_else)
    assert code(e) == "MalformedPolicyDocumentException"
    kms.describe_key(KeyId=key)  # still manageable
    # KMS takes key policies up to 32 KB, more than other resource policies' 20,480 characters.
    big = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "s" + "a" * 25_000,
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(big))
    kms.encrypt(KeyId=key, Plaintext=b"x")
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=someone_else, BypassPolicyLockoutSafetyCheck=True)
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId=key)
    assert code(e) == "AccessDeniedException"


def test_grants_allow_only_operations_the_key_can_do(server):
    # Bug: CreateGrant took Operations=[] and Sign on a symmetric encryption key.
    kms = raw(server, "kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    grantee = f"arn:aws:iam::{ACCOUNT}:root"
    for ops in ([], ["Sign"], ["GenerateMac"]):
        with pytest.raises(ClientError) as e:
            kms.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=ops)
        assert code(e) == "ValidationException", ops
    kms.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Decrypt", "DescribeKey"])
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_grant(KeyId=signing, GranteePrincipal=grantee, Operations=["Sign", "GetPublicKey"])
    with pytest.raises(ClientError) as e:
        kms.create_grant(KeyId=signing, GranteePrincipal=grantee, Operations=["Decrypt"])
    assert code(e) == "ValidationException"


def test_odd_iam_input_gets_a_client_error_not_a_server_failure(server):
    iam = raw(server, "iam")
    # Bug: a name too long for the QR code answered 500 InternalFailure.
    with pytest.raises(ClientError) as e:
        iam.create_virtual_mfa_device(VirtualMFADeviceName="A" * 5000)
    assert code(e) == "InvalidInput"
    # Bug: SAML metadata that is not metadata was stored.
    with pytest.raises(ClientError) as e:
        iam.create_saml_provider(Name="idp", SAMLMetadataDocument="x" * 1200)
    assert code(e) == "InvalidInput"
    # Bug: any deletion task id was reported SUCCEEDED.
    with pytest.raises(ClientError) as e:
        iam.get_service_linked_role_deletion_status(DeletionTaskId="no-such-task")
    assert code(e) == "NoSuchEntity"


def test_cloudtrail_tagging_answers_with_its_own_errors(server):
    # Bug: AddTags/ListTags answered TrailNotFoundException, which these operations do not have.
    ct = server.client("cloudtrail")
    with pytest.raises(ClientError) as e:
        ct.add_tags(ResourceId="not-an-arn", TagsList=[{"Key": "k", "Value": "v"}])
    assert code(e) == "CloudTrailARNInvalidException"
    with pytest.raises(ClientError) as e:
        ct.list_tags(ResourceIdList=[f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/none"])
    assert code(e) == "ResourceNotFoundException"


def test_trail_names_are_refused_with_the_rule_they_break(server):
    # Bug: every invalid name got "must starts with a letter or number", even "ab" (too short).
    ct = server.client("cloudtrail")
    cases = {
        "ab": "Trail name too short",
        "a" * 129: "Trail name too long",
        "-abc": "must starts with a letter or number",
        "abc-": "must ends with a letter or number",
        "a$bc": "can only contain",
        "a..b": "adjacent periods",
    }
    for name, message in cases.items():
        with pytest.raises(ClientError) as e:
            ct.create_trail(Name=name, S3BucketName="bucket")
        assert code(e) == "InvalidTrailNameException"
        assert message in e.value.response["Error"]["Message"], name


def test_the_policy_simulator_answers_an_unreadable_policy_with_invalid_input(server):
    # Bug: SimulateCustomPolicy answered MalformedPolicyDocument, which its model does not have.
    iam = server.client("iam")
    for call in (
        lambda: iam.simulate_custom_policy(PolicyInputList=['{"Statement": []}'], ActionNames=["s3:GetObject"]),
        lambda: iam.get_context_keys_for_custom_policy(PolicyInputList=["not json"]),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "InvalidInput"


def test_a_created_secrets_event_names_the_secret_it_got(server):
    # Bug: CreateSecret's event named the secret by the `-??????` wildcard its authorization
    # used, so LookupEvents by the secret's real ARN did not find its creation.
    arn = server.client("secretsmanager").create_secret(Name="db/pass", SecretString="s3cr3t")["ARN"]
    events = server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": arn}]
    )["Events"]
    assert [e["EventName"] for e in events] == ["CreateSecret"]
    assert events[0]["Resources"][0]["ResourceName"] == arn


def test_lookup_events_names_root_and_role_sessions_as_cloudtrail_does(server):
    # Bug: events of the root user and of role sessions had no Username, so the Username lookup
    # attribute could not find them; CloudTrail shows `root` and the session's name.
    iam = server.client("iam")
    iam.create_role(
        RoleName="auditor",
        AssumeRolePolicyDocument=doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ),
    )
    iam.put_role_policy(RoleName="auditor", PolicyName="p", PolicyDocument=doc({"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}))
    iam.create_user(UserName="u")
    iam.put_user_policy(UserName="u", PolicyName="p", PolicyDocument=doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
    k = iam.create_access_key(UserName="u")["AccessKey"]
    c = server.client("sts", key=k["AccessKeyId"], secret=k["SecretAccessKey"]).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/auditor", RoleSessionName="night-shift"
    )["Credentials"]
    server.client("iam", key=c["AccessKeyId"], secret=c["SecretAccessKey"], aws_session_token=c["SessionToken"]).list_roles()
    ct = server.client("cloudtrail")
    by = lambda name: ct.lookup_events(  # noqa: E731
        LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": name}]
    )["Events"]
    assert "ListRoles" in [e["EventName"] for e in by("night-shift")]
    assert "CreateRole" in [e["EventName"] for e in by("root")]


def test_created_keys_and_trails_are_the_resources_of_their_events(server):
    # Bug: CreateKey and CreateTrail were authorized against "*" and their events named no
    # resource, so LookupEvents by the new key's or trail's ARN did not find their creation.
    key = server.client("kms").create_key()["KeyMetadata"]["Arn"]
    trail = server.client("cloudtrail").create_trail(Name="trail-1", S3BucketName="logs")["TrailARN"]
    ct = server.client("cloudtrail")
    for arn, name in [(key, "CreateKey"), (trail, "CreateTrail")]:
        events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": arn}])[
            "Events"
        ]
        assert name in [e["EventName"] for e in events], arn


def _pem(obj):
    """A certificate or private key in PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM).decode()
    return obj.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def test_a_server_certificates_chain_must_lead_from_it_in_order(server):
    # Bug: UploadServerCertificate ignored CertificateChain: "garbage", a malformed PEM block, an
    # unrelated certificate and a look-alike of the issuer with another key were all stored.
    root = make_cert("Root CA", ca=True)
    inter = make_cert("Intermediate CA", issuer=root, ca=True)
    key, leaf = make_cert("www.example.com", issuer=inter)
    _, unrelated = make_cert("unrelated.example.com")
    _, impostor = make_cert("Intermediate CA", ca=True)  # the issuer's name, another key
    iam = server.client("iam")
    upload = lambda name, chain: iam.upload_server_certificate(  # noqa: E731
        ServerCertificateName=name, CertificateBody=_pem(leaf), PrivateKey=_pem(key), CertificateChain=chain
    )
    bad_block = "-----BEGIN CERTIFICATE-----\nMIIBnotacertificate\n-----END CERTIFICATE-----\n"
    cases = [
        ("garbage", "-1"),
        (bad_block, "0"),
        (_pem(unrelated), "0"),
        (_pem(impostor), "0"),
        (_pem(root[1]) + _pem(inter[1]), "0"),
        (_pem(inter[1]) + _pem(unrelated), "1"),
        (_pem(inter[1]) + bad_block, "1"),
    ]
    for chain, index in cases:
        with pytest.raises(ClientError) as e:
            upload("bad", chain)
        assert code(e) == "MalformedCertificate"
        assert e.value.response["Error"]["Message"] == (
            "Unable to validate certificate chain. The certificate chain must start with the immediate signing "
            "certificate, followed by any intermediaries in order. The index within the chain of the invalid "
            f"certificate is: {index}"
        ), chain
    upload("with-intermediate", _pem(inter[1]))
    upload("with-root", _pem(inter[1]) + _pem(root[1]))
    got = iam.get_server_certificate(ServerCertificateName="with-root")["ServerCertificate"]
    assert got["CertificateChain"] == _pem(inter[1]) + _pem(root[1])


def test_certificates_outside_their_validity_period_are_refused(server):
    # Bug: a server certificate not valid until tomorrow was taken (IAM: MalformedCertificate), and
    # so was an expired signing certificate (InvalidCertificate); only notAfter was read, and for
    # signing certificates not even that.
    iam = server.client("iam")
    key, future = make_cert("future.example.com", not_before_days=1, days=30)
    with pytest.raises(ClientError) as e:
        iam.upload_server_certificate(ServerCertificateName="f", CertificateBody=_pem(future), PrivateKey=_pem(key))
    assert code(e) == "MalformedCertificate"
    # And an expired one: the model's MalformedCertificate is for one "malformed or expired".
    key, past = make_cert("past.example.com", not_before_days=-30, days=-1)
    with pytest.raises(ClientError) as e:
        iam.upload_server_certificate(ServerCertificateName="p", CertificateBody=_pem(past), PrivateKey=_pem(key))
    assert code(e) == "MalformedCertificate" and "expired" in e.value.response["Error"]["Message"]
    iam.create_user(UserName="signer")
    for not_before, not_after in [(-30, -1), (1, 30)]:
        _, cert = make_cert("signer", not_before_days=not_before, days=not_after)
        with pytest.raises(ClientError) as e:
            iam.upload_signing_certificate(UserName="signer", CertificateBody=_pem(cert))
        assert code(e) == "InvalidCertificate", (not_before, not_after)
    _, valid = make_cert("signer")
    iam.upload_signing_certificate(UserName="signer", CertificateBody=_pem(valid))


def test_the_same_ssh_key_or_signing_certificate_is_not_uploaded_twice(server):
    # Bug: the same SSH public key was stored twice for one user (IAM: DuplicateSSHPublicKey,
    # 400), and the same signing certificate twice in the account (DuplicateCertificate, 409).
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    iam = server.client("iam")
    iam.create_user(UserName="a")
    iam.create_user(UserName="b")
    pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    openssh = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    iam.upload_ssh_public_key(UserName="a", SSHPublicKeyBody=openssh)
    for body in (openssh, openssh + " again@laptop", pem):  # the same key in any form
        with pytest.raises(ClientError) as e:
            iam.upload_ssh_public_key(UserName="a", SSHPublicKeyBody=body)
        assert code(e) == "DuplicateSSHPublicKey"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    iam.upload_ssh_public_key(UserName="b", SSHPublicKeyBody=openssh)  # another user may
    _, cert = make_cert("signer")
    iam.upload_signing_certificate(UserName="a", CertificateBody=_pem(cert))
    for user in ("a", "b"):
        with pytest.raises(ClientError) as e:
            iam.upload_signing_certificate(UserName=user, CertificateBody=_pem(cert))
        assert code(e) == "DuplicateCertificate"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert len(iam.list_signing_certificates(UserName="a")["Certificates"]) == 1
    assert iam.list_signing_certificates(UserName="b")["Certificates"] == []


def test_get_ssh_public_key_answers_in_the_encoding_asked_for(server):
    # Bug: GetSSHPublicKey ignored Encoding and returned the body as uploaded.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    iam = server.client("iam")
    iam.create_user(UserName="dev")
    for size in (2048, 3072):
        pub = rsa.generate_private_key(public_exponent=65537, key_size=size).public_key()
        openssh = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        pkcs1 = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
        for i, uploaded in enumerate((openssh + " dev@laptop", pem, pkcs1)):
            key_id = iam.upload_ssh_public_key(UserName="dev", SSHPublicKeyBody=uploaded)["SSHPublicKey"][
                "SSHPublicKeyId"
            ]
            get = lambda enc: iam.get_ssh_public_key(  # noqa: E731
                UserName="dev", SSHPublicKeyId=key_id, Encoding=enc
            )["SSHPublicKey"]["SSHPublicKeyBody"]
            assert get("PEM") == pem
            assert all(len(line) <= 64 for line in get("PEM").splitlines())
            assert get("SSH").split()[:2] == openssh.split()[:2]
            iam.delete_ssh_public_key(UserName="dev", SSHPublicKeyId=key_id)


def test_a_1024_bit_rsa_server_certificate_is_taken(server):
    # Bug: a valid 1024-bit RSA certificate and key were refused as "Unable to parse the private
    # key" (aws-lc-rs loads no RSA key under 2,048 bits); IAM takes 1,024-bit keys.
    from cryptography.hazmat.primitives import serialization

    iam = server.client("iam")
    key, cert = make_cert("legacy.example.com", key_size=1024)
    other, _ = make_cert("other.example.com", key_size=1024)
    with pytest.raises(ClientError) as e:
        iam.upload_server_certificate(ServerCertificateName="legacy", CertificateBody=_pem(cert), PrivateKey=_pem(other))
    assert code(e) == "KeyPairMismatch"
    iam.upload_server_certificate(ServerCertificateName="legacy", CertificateBody=_pem(cert), PrivateKey=_pem(key))
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    iam.upload_server_certificate(ServerCertificateName="legacy8", CertificateBody=_pem(cert), PrivateKey=pkcs8)


def test_certificate_and_default_password_errors_read_as_aws_writes_them(server):
    # Bug: MalformedCertificate read "Unable to parse the certificate. Please ensure it is in PEM
    # format.", and the default password policy's violation was Palisade's own sentence.
    iam = server.client("iam")
    key, _ = make_cert("x.example.com")
    with pytest.raises(ClientError) as e:
        iam.upload_server_certificate(ServerCertificateName="x", CertificateBody="garbage", PrivateKey=_pem(key))
    assert code(e) == "MalformedCertificate"
    assert e.value.response["Error"]["Message"] == (
        "Unable to parse certificate. Please ensure the certificate is in PEM format."
    )
    iam.create_user(UserName="console")
    with pytest.raises(ClientError) as e:
        iam.create_login_profile(UserName="console", Password="abcdefg1")
    assert code(e) == "PasswordPolicyViolation"
    assert e.value.response["Error"]["Message"] == (
        "Password should meet 1 more of the following requirements: Password should have at least one "
        "uppercase letter, Password should have at least one symbol"
    )
