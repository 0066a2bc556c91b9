"""Regression tests for differences from AWS that a user-journey review found (2026-12-03): each
test names what Palisade did and pins what AWS does."""

import json

import pytest
from botocore.exceptions import ClientError
from test_authz_hardening import doc, user

ACCOUNT = "123456789012"


def code(e):
    return e.value.response["Error"]["Code"]


def message(e):
    return e.value.response["Error"]["Message"]


def test_kms_calls_secrets_manager_makes_for_the_caller_are_audited_as_kms_events(server):
    # Bug: Secrets Manager's GenerateDataKey and Decrypt on a customer key left no KMS event, so
    # the key's trail did not show who used it through Secrets Manager.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    sm = server.client("secretsmanager")
    sm.create_secret(Name="db", SecretString="hunter2", KmsKeyId=key)
    assert sm.get_secret_value(SecretId="db")["SecretString"] == "hunter2"
    kms_events = [e for e in server.events() if e["eventSource"] == "kms.amazonaws.com"]
    by_name = {e["eventName"]: e for e in kms_events}
    assert {"GenerateDataKey", "Decrypt"} <= set(by_name)
    for e in (by_name["GenerateDataKey"], by_name["Decrypt"]):
        assert e["userIdentity"]["invokedBy"] == "secretsmanager.amazonaws.com"
        assert e["userIdentity"]["type"] == "Root"
        assert e["sourceIPAddress"] == "secretsmanager.amazonaws.com"
        assert e["resources"][0]["ARN"] == key
        assert "hunter2" not in json.dumps(e)
    assert by_name["Decrypt"]["requestParameters"]["encryptionContext"]["SecretARN"].startswith("arn:aws:secretsmanager:")


def test_a_secret_whose_kms_key_denies_the_caller_answers_access_to_kms_is_not_allowed(server):
    # Bug: DecryptionFailure with Secrets Manager's sentence written twice; AWS answers
    # AccessDeniedException "Access to KMS is not allowed".
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    server.client("secretsmanager").create_secret(Name="s", SecretString="v", KmsKeyId=key)
    reader = server.client(
        "secretsmanager", *user(server, "reader", {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    )
    with pytest.raises(ClientError) as e:
        reader.get_secret_value(SecretId="s")
    assert code(e) == "AccessDeniedException"
    assert message(e) == "Access to KMS is not allowed"
    # The KMS event of the refused Decrypt says why.
    denied = [e for e in server.events() if e["eventSource"] == "kms.amazonaws.com" and e.get("errorCode")]
    assert denied and "reader" in denied[-1]["userIdentity"]["arn"]


def test_policies_naming_a_user_that_does_not_exist_are_refused(server):
    # Bug: a trust policy, key policy or secret policy naming `user/nobody` was stored; AWS
    # refuses it, so that a user created later under that name gets nothing.
    nobody = f"arn:aws:iam::{ACCOUNT}:user/nobody"
    iam = server.client("iam")
    with pytest.raises(ClientError) as e:
        iam.create_role(
            RoleName="r",
            AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": nobody}, "Action": "sts:AssumeRole"}),
        )
    assert code(e) == "MalformedPolicyDocument"
    assert message(e) == f'Invalid principal in policy: "AWS":"{nobody}"'
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    root = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
    with pytest.raises(ClientError) as e:
        kms.put_key_policy(
            KeyId=key,
            PolicyName="default",
            Policy=doc(root, {"Effect": "Allow", "Principal": {"AWS": nobody}, "Action": "kms:Decrypt", "Resource": "*"}),
        )
    assert code(e) == "MalformedPolicyDocumentException"
    sm = server.client("secretsmanager")
    sm.create_secret(Name="s", SecretString="v")
    with pytest.raises(ClientError) as e:
        sm.put_resource_policy(
            SecretId="s",
            ResourcePolicy=doc({"Effect": "Allow", "Principal": {"AWS": nobody}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}),
        )
    assert code(e) == "MalformedPolicyDocumentException"
    # Once the user exists, all three are taken; another account's principals cannot be checked.
    iam.create_user(UserName="nobody")
    iam.create_role(
        RoleName="r",
        AssumeRolePolicyDocument=doc(
            {"Effect": "Allow", "Principal": {"AWS": [nobody, "arn:aws:iam::999999999999:user/x"]}, "Action": "sts:AssumeRole"}
        ),
    )
    kms.put_key_policy(
        KeyId=key,
        PolicyName="default",
        Policy=doc(root, {"Effect": "Allow", "Principal": {"AWS": nobody}, "Action": "kms:Decrypt", "Resource": "*"}),
    )


def test_a_grant_names_an_existing_principal_by_its_arn(server):
    # Bug: CreateGrant took `alice`, `bogus` or the ARN of a user that does not exist.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for grantee, retiring in (("alice", None), (f"arn:aws:iam::{ACCOUNT}:user/nobody", None), (f"arn:aws:iam::{ACCOUNT}:root", "bogus")):
        extra = {"RetiringPrincipal": retiring} if retiring else {}
        with pytest.raises(ClientError) as e:
            kms.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Decrypt"], **extra)
        assert code(e) == "InvalidArnException"
    assert kms.list_grants(KeyId=key)["Grants"] == []
    kms.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root", Operations=["Decrypt"])


def test_an_alias_keeps_naming_a_key_of_the_same_type_and_usage(server):
    # Bug: UpdateAlias moved an alias from an encryption key to a signing key.
    kms = server.client("kms")
    enc = kms.create_key()["KeyMetadata"]["KeyId"]
    enc2 = kms.create_key()["KeyMetadata"]["KeyId"]
    sign = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=enc)
    with pytest.raises(ClientError) as e:
        kms.update_alias(AliasName="alias/app", TargetKeyId=sign)
    assert code(e) == "ValidationException"
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == enc
    kms.update_alias(AliasName="alias/app", TargetKeyId=enc2)
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == enc2


def test_operations_that_take_a_key_id_or_arn_refuse_an_alias(server):
    # Bug: DisableKey, TagResource and others acted on the key an alias named, where KMS takes
    # only a key id or ARN.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key)
    for call in (
        lambda: kms.disable_key(KeyId="alias/app"),
        lambda: kms.tag_resource(KeyId="alias/app", Tags=[{"TagKey": "a", "TagValue": "b"}]),
        lambda: kms.list_grants(KeyId="alias/app"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "NotFoundException"
        assert message(e) == "Invalid keyId alias/app"
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["Enabled"] is True
    assert kms.encrypt(KeyId="alias/app", Plaintext=b"x")["KeyId"].endswith(key)


def test_a_key_or_alias_that_does_not_exist_is_not_found_whoever_asks(server):
    # Bug: a user without KMS permissions got AccessDeniedException on resource `*` for an alias
    # that does not exist; KMS resolves the key before its policy and answers NotFoundException.
    kms = server.client("kms", *user(server, "nokms"))
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId="alias/missing", Plaintext=b"x")
    assert code(e) == "NotFoundException"
    assert message(e) == f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/missing is not found."
    # An existing key is still refused, and named.
    key = server.client("kms").create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key, Plaintext=b"x")
    assert code(e) == "AccessDeniedException"
    assert key in message(e)


def test_key_creation_follows_kms_defaults_and_tag_rules(server):
    kms = server.client("kms")
    # Bug: an HMAC key without KeyUsage was made a MAC key; KMS wants the usage of every key
    # but a symmetric encryption key.
    with pytest.raises(ClientError) as e:
        kms.create_key(KeySpec="HMAC_256")
    assert code(e) == "ValidationException"
    assert message(e) == "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
    with pytest.raises(ClientError) as e:
        kms.create_key(KeySpec="HMAC_256", KeyUsage="ENCRYPT_DECRYPT")
    assert message(e) == "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec HMAC_256"
    # Bug: a tag key given twice was stored twice.
    with pytest.raises(ClientError) as e:
        kms.create_key(Tags=[{"TagKey": "env", "TagValue": "a"}, {"TagKey": "env", "TagValue": "b"}])
    assert code(e) == "TagException"
    sm = server.client("secretsmanager")
    sm.create_secret(Name="t", SecretString="v", Tags=[{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}])
    assert sm.describe_secret(SecretId="t")["Tags"] == [{"Key": "a", "Value": "2"}]


def test_lookup_events_shows_the_events_of_the_region_asked(server):
    # Bug: a lookup in eu-west-1 returned us-east-1's events; CloudTrail's event history is per
    # Region (IAM's, a global service's, are in us-east-1).
    server.client("kms").create_key()
    server.client("kms", region="eu-west-1").create_key()
    server.client("iam").create_user(UserName="global")
    by_name = [{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}]
    for region in ("us-east-1", "eu-west-1"):
        events = server.client("cloudtrail", region=region).lookup_events(LookupAttributes=by_name)["Events"]
        assert [json.loads(e["CloudTrailEvent"])["awsRegion"] for e in events] == [region]
    users = [{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}]
    assert len(server.client("cloudtrail").lookup_events(LookupAttributes=users)["Events"]) == 1
    assert server.client("cloudtrail", region="eu-west-1").lookup_events(LookupAttributes=users)["Events"] == []
    assert server.client("cloudtrail", region="ap-south-1").lookup_events()["Events"] == []


def test_lookup_events_for_insights_returns_no_management_events(server):
    # Bug: EventCategory=insight was ignored and every management event came back.
    server.client("kms").create_key()
    ct = server.client("cloudtrail")
    assert ct.lookup_events(EventCategory="insight")["Events"] == []
    assert ct.lookup_events()["Events"]


def test_the_simulator_without_a_resource_policy_evaluates_identity_policies_alone(server):
    # Bug: a KMS action allowed by the user's policy was simulated as implicitDeny (for want of
    # a key policy that was never given), while listing the statement that allowed it.
    key = server.client("kms").create_key()["KeyMetadata"]["Arn"]
    user(server, "alice", {"Sid": "enc", "Effect": "Allow", "Action": "kms:Encrypt", "Resource": key})
    out = server.client("iam").simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/alice", ActionNames=["kms:Encrypt", "kms:Decrypt"], ResourceArns=[key]
    )["EvaluationResults"]
    assert [r["EvalDecision"] for r in out] == ["allowed", "implicitDeny"]


def test_audit_records_leave_out_ciphertexts_and_void_responses(server):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"app": "a"})["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "a"})
    kms.disable_key(KeyId=key)
    events = server.events()
    decrypt = [e for e in events if e["eventName"] == "Decrypt"][-1]
    # Bug: the whole ciphertext was in the record; CloudTrail keeps the context and algorithm.
    assert "ciphertextBlob" not in decrypt["requestParameters"]
    assert decrypt["requestParameters"]["encryptionContext"] == {"app": "a"}
    # Bug: an operation without output had `responseElements: {}`; CloudTrail writes null.
    disable = [e for e in events if e["eventName"] == "DisableKey"][-1]
    assert disable["responseElements"] is None


def test_assume_role_reports_packed_policy_size_only_for_session_policies_or_tags(server):
    # Bug: `PackedPolicySize: 0` came back when nothing was packed; STS leaves it out then.
    creds = user(server, "u", {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": "*"})
    role = server.client("iam").create_role(
        RoleName="r",
        AssumeRolePolicyDocument=doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/u"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}
        ),
    )["Role"]["Arn"]
    sts = server.client("sts", *creds)
    assert "PackedPolicySize" not in sts.assume_role(RoleArn=role, RoleSessionName="plain")
    tagged = sts.assume_role(RoleArn=role, RoleSessionName="tagged", Tags=[{"Key": "k", "Value": "v"}])
    # Bug: tags alone reported 0; they are packed into the same allotment as policies.
    assert tagged["PackedPolicySize"] > 0
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role, RoleSessionName="reserved", Tags=[{"Key": "aws:x", "Value": "v"}])
    assert code(e) == "InvalidParameterValue"


def test_federation_token_credentials_call_neither_iam_nor_sts(server):
    # Hole: GetFederationToken credentials with an allow-everything session policy created IAM
    # users and access keys and assumed roles; AWS allows them no IAM call and no STS call but
    # GetCallerIdentity, whatever the policy says.
    creds = user(server, "fedder", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    token = server.client("sts", *creds).get_federation_token(
        Name="fed-all", Policy=doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
    )["Credentials"]

    def as_fed(service):
        return server.client(
            service, key=token["AccessKeyId"], secret=token["SecretAccessKey"], aws_session_token=token["SessionToken"]
        )

    with pytest.raises(ClientError) as e:
        as_fed("iam").create_user(UserName="fedmade")
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        as_fed("sts").get_session_token()
    assert code(e) in ("AccessDenied", "AccessDeniedException")
    assert as_fed("sts").get_caller_identity()["Arn"].endswith(":federated-user/fed-all")
    as_fed("kms").create_key()  # other services follow the session policy
    assert "fedmade" not in [u["UserName"] for u in server.client("iam").list_users()["Users"]]


def test_aws_managed_policies_can_be_read(server):
    # Bug: GetPolicy on arn:aws:iam::aws:policy/… was denied even to the root user, as if the
    # policy were another account's resource.
    iam = server.client("iam")
    arn = "arn:aws:iam::aws:policy/AdministratorAccess"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["PolicyName"] == "AdministratorAccess"
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    assert iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    reader = server.client("iam", *user(server, "ro", {"Effect": "Allow", "Action": "iam:GetPolicy", "Resource": "*"}))
    assert reader.get_policy(PolicyArn=arn)["Policy"]["Arn"] == arn
    nobody = server.client("iam", *user(server, "none"))
    with pytest.raises(ClientError) as e:
        nobody.get_policy(PolicyArn=arn)
    assert code(e) == "AccessDenied"


def test_awscurrent_can_be_moved_but_not_removed(server):
    # Bug: UpdateSecretVersionStage removed AWSCURRENT with no version to move it to, leaving a
    # secret that GetSecretValue could no longer read.
    sm = server.client("secretsmanager")
    current = sm.create_secret(Name="s", SecretString="v")["VersionId"]
    with pytest.raises(ClientError) as e:
        sm.update_secret_version_stage(SecretId="s", VersionStage="AWSCURRENT", RemoveFromVersionId=current)
    assert code(e) == "InvalidParameterException"
    assert sm.get_secret_value(SecretId="s")["SecretString"] == "v"


def test_the_root_users_longer_sessions_are_cut_to_an_hour(server):
    # Bug: root GetSessionToken with DurationSeconds=7200 was refused; STS gives it an hour.
    import datetime

    creds = server.client("sts").get_session_token(DurationSeconds=7200)["Credentials"]
    left = creds["Expiration"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(minutes=55) < left <= datetime.timedelta(hours=1, minutes=1)


def test_an_rsa_key_without_an_encryption_algorithm_is_refused_as_kms_does(server):
    # Bug: ValidationException "EncryptionAlgorithm is required"; KMS applies its default,
    # SYMMETRIC_DEFAULT, and refuses it for the key.
    kms = server.client("kms")
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key, Plaintext=b"x")
    assert code(e) == "InvalidKeyUsageException"
    assert message(e) == "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048."
    blob = kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    assert kms.decrypt(KeyId=key, CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"x"


def test_account_authorization_details_come_in_pages(server):
    # Bug: MaxItems and Marker were ignored; every entry came in one page, IsTruncated false.
    iam = server.client("iam")
    for n in range(5):
        iam.create_user(UserName=f"u{n}")
    iam.create_group(GroupName="g")
    first = iam.get_account_authorization_details(Filter=["User", "Group"], MaxItems=3)
    assert len(first["UserDetailList"]) == 3 and first["IsTruncated"] is True
    pages = iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Group"], PaginationConfig={"PageSize": 2}
    )
    users, groups, count = [], [], 0
    for page in pages:
        count += 1
        users += [u["UserName"] for u in page["UserDetailList"]]
        groups += [g["GroupName"] for g in page["GroupDetailList"]]
    assert sorted(users) == [f"u{n}" for n in range(5)] and groups == ["g"] and count == 3


def test_a_replica_needs_a_kms_key_its_region_can_encrypt_with(server):
    # Bug: a replica's KmsKeyId was never looked at: `alias/nope`, a key of another Region or a
    # disabled key all reported "Replication succeeded".
    sm = server.client("secretsmanager")
    sm.create_secret(Name="r", SecretString="v")
    east_key = server.client("kms").create_key()["KeyMetadata"]["Arn"]
    west = server.client("kms", region="eu-west-1")
    disabled = west.create_key()["KeyMetadata"]["KeyId"]
    west.disable_key(KeyId=disabled)
    good = west.create_key()["KeyMetadata"]["Arn"]
    out = sm.replicate_secret_to_regions(
        SecretId="r",
        AddReplicaRegions=[
            {"Region": "eu-west-1", "KmsKeyId": "alias/nope"},
            {"Region": "ap-south-1", "KmsKeyId": east_key},
        ],
    )["ReplicationStatus"]
    assert [r["Status"] for r in out] == ["Failed", "Failed"]
    assert "alias/nope" in out[0]["StatusMessage"]
    sm.remove_regions_from_replication(SecretId="r", RemoveReplicaRegions=["eu-west-1", "ap-south-1"])
    out = sm.replicate_secret_to_regions(SecretId="r", AddReplicaRegions=[{"Region": "eu-west-1", "KmsKeyId": disabled}])
    assert out["ReplicationStatus"][0]["Status"] == "Failed"
    sm.remove_regions_from_replication(SecretId="r", RemoveReplicaRegions=["eu-west-1"])
    out = sm.replicate_secret_to_regions(SecretId="r", AddReplicaRegions=[{"Region": "eu-west-1", "KmsKeyId": good}])
    assert out["ReplicationStatus"][0]["Status"] == "InSync"
    assert server.client("secretsmanager", region="eu-west-1").get_secret_value(SecretId="r")["SecretString"] == "v"


def test_policy_versions_are_listed_and_created_without_their_document(server):
    # Bug: CreatePolicyVersion and ListPolicyVersions returned each version's document; IAM
    # returns it from GetPolicyVersion (and GetAccountAuthorizationDetails) only.
    iam = server.client("iam")
    allow_all = doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    arn = iam.create_policy(PolicyName="p", PolicyDocument=allow_all)["Policy"]["Arn"]
    created = iam.create_policy_version(PolicyArn=arn, PolicyDocument=allow_all, SetAsDefault=True)["PolicyVersion"]
    assert "Document" not in created and created["VersionId"] == "v2"
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v2", "v1"] and all("Document" not in v for v in versions)
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"]["Statement"]


def test_a_rotation_cannot_reuse_the_token_of_an_old_version(server):
    # Bug: RotateSecret with the ClientRequestToken of the first version made that version
    # current again, reinstating the old password instead of rotating.
    sm = server.client("secretsmanager")
    first = sm.create_secret(Name="rot", SecretString=json.dumps({"password": "plain"}))["VersionId"]
    sm.put_secret_value(SecretId="rot", SecretString=json.dumps({"password": "second"}))
    rotator = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:palisade-rotator-random"
    with pytest.raises(ClientError) as e:
        sm.rotate_secret(SecretId="rot", ClientRequestToken=first, RotationLambdaARN=rotator, RotationRules={"AutomaticallyAfterDays": 30})
    assert code(e) == "ResourceExistsException"
    assert json.loads(sm.get_secret_value(SecretId="rot")["SecretString"])["password"] == "second"
    out = sm.rotate_secret(SecretId="rot", RotationLambdaARN=rotator, RotationRules={"AutomaticallyAfterDays": 30})
    assert server.rotation_outcome(out["VersionId"]) == "RotationSucceeded"
    assert json.loads(sm.get_secret_value(SecretId="rot")["SecretString"])["password"] not in ("plain", "second")
    assert out["VersionId"] != first


SLR_TRUST = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})


def test_service_linked_roles_are_only_the_services_to_change(server):
    # Hole: DeleteServiceLinkedRole deleted an ordinary role with its policies attached, past an
    # explicit deny of iam:DeleteRole; and a service-linked role's trust policy, permissions and
    # boundary could be changed like any role's (a trust of "AWS": "*" let anyone act as the
    # service).
    iam = server.client("iam")
    iam.create_role(RoleName="victim", AssumeRolePolicyDocument=SLR_TRUST)
    iam.attach_role_policy(RoleName="victim", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    with pytest.raises(ClientError) as e:
        iam.delete_service_linked_role(RoleName="victim")
    assert code(e) == "NoSuchEntity"
    assert iam.get_role(RoleName="victim")["Role"]["RoleName"] == "victim"
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName="fake", Path="/aws-service-role/ecs.amazonaws.com/", AssumeRolePolicyDocument=SLR_TRUST)
    assert code(e) == "InvalidInput"

    name = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")["Role"]["RoleName"]
    attempts = [
        lambda: iam.update_assume_role_policy(RoleName=name, PolicyDocument=SLR_TRUST),
        lambda: iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"),
        lambda: iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=doc({"Effect": "Allow", "Action": "*", "Resource": "*"})),
        lambda: iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary="arn:aws:iam::aws:policy/ReadOnlyAccess"),
        lambda: iam.update_role(RoleName=name, MaxSessionDuration=7200),
        lambda: iam.delete_role(RoleName=name),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as e:
            attempt()
        assert code(e) == "UnmodifiableEntity"
        assert message(e) == f"Cannot perform the operation on the protected role '{name}' - this role is only modifiable by AWS"
    # Its description may change, and its service deletes it.
    iam.update_role_description(RoleName=name, Description="scaling")
    assert iam.delete_service_linked_role(RoleName=name)["DeletionTaskId"].startswith("task/aws-service-role/")
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=name)
    assert code(e) == "NoSuchEntity"


def test_create_service_linked_role_is_authorized_on_the_role_it_creates(server):
    # Bug: the request named resource `*` and no iam:AWSServiceName, so AWS's documented policy
    # (the role's ARN, conditioned on the service) never allowed it.
    creds = user(
        server,
        "ops",
        {
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS*",
            "Condition": {"StringLike": {"iam:AWSServiceName": "rds.amazonaws.com"}},
        },
    )
    iam = server.client("iam", *creds)
    role = iam.create_service_linked_role(AWSServiceName="rds.amazonaws.com")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForRDS"
    # AWS writes the trust policy with plain strings (it had one-element lists).
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "rds.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    with pytest.raises(ClientError) as e:
        iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
    assert code(e) == "AccessDenied"
    assert "role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS" in message(e)


def test_the_password_policy_lets_users_change_their_own_password(server):
    # Bug: AllowUsersToChangePassword was stored and returned but gave no permission.
    iam = server.client("iam")
    creds = user(server, "alice")
    iam.create_login_profile(UserName="alice", Password="Initial-pass-1")
    alice = server.client("iam", *creds)
    with pytest.raises(ClientError) as e:
        alice.change_password(OldPassword="Initial-pass-1", NewPassword="Second-pass-2")
    assert code(e) == "AccessDenied"
    iam.update_account_password_policy(AllowUsersToChangePassword=True, MinimumPasswordLength=8)
    alice.change_password(OldPassword="Initial-pass-1", NewPassword="Second-pass-2")
    assert alice.get_account_password_policy()["PasswordPolicy"]["AllowUsersToChangePassword"] is True
    # Only their own password: administering others still needs a policy.
    with pytest.raises(ClientError) as e:
        alice.update_login_profile(UserName="alice", Password="Third-pass-3")
    assert code(e) == "AccessDenied"


def test_without_a_password_policy_passwords_meet_aws_default_policy(server):
    # Bug: with no account policy six characters of one kind passed; AWS's default policy asks
    # for eight, of three kinds of character.
    iam = server.client("iam")
    iam.create_user(UserName="bob")
    for weak in ("abcdef", "abcdefgh", "ABCDEFG1"):
        with pytest.raises(ClientError) as e:
            iam.create_login_profile(UserName="bob", Password=weak)
        assert code(e) == "PasswordPolicyViolation"
    iam.create_login_profile(UserName="bob", Password="Abcdefg1")


def test_iam_refuses_reserved_tag_keys_and_the_fifty_first_tag(server):
    # Bug: tags keyed `aws:...` were stored; and the 51st tag got a validation message about the
    # request instead of IAM's limit message.
    iam = server.client("iam")
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName="t", Tags=[{"Key": "AWS:owner", "Value": "me"}])
    assert code(e) == "InvalidInput"
    iam.create_user(UserName="t", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    with pytest.raises(ClientError) as e:
        iam.tag_user(UserName="t", Tags=[{"Key": "one-more", "Value": "v"}])
    assert code(e) == "LimitExceeded"
    assert message(e) == "The number of tags has reached the maximum limit."


def test_iam_tag_keys_are_case_insensitive_only_for_users_and_roles(server):
    # Bug: every IAM resource folded tag keys' case. IAM does so for users and roles only; for
    # customer managed policies, instance profiles, identity providers, server certificates and
    # virtual MFA devices, Costcenter and costcenter are two keys (IAM User Guide, tagging).
    iam = server.client("iam")
    pair = [{"Key": "Costcenter", "Value": "1234"}, {"Key": "costcenter", "Value": "5678"}]
    arn = iam.create_policy(PolicyName="p", PolicyDocument=doc({"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}), Tags=pair)["Policy"]["Arn"]
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == pair
    iam.create_instance_profile(InstanceProfileName="ip", Tags=pair[:1])
    iam.tag_instance_profile(InstanceProfileName="ip", Tags=pair[1:])
    assert iam.list_instance_profile_tags(InstanceProfileName="ip")["Tags"] == pair
    iam.untag_instance_profile(InstanceProfileName="ip", TagKeys=["COSTCENTER", "costcenter"])
    assert iam.list_instance_profile_tags(InstanceProfileName="ip")["Tags"] == pair[:1]
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="m", Tags=pair)["VirtualMFADevice"]["SerialNumber"]
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == pair
    # Users and roles: one key whatever its case; the last one given wins, key and value.
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName="u", Tags=pair)
    assert code(e) == "InvalidInput" and "Duplicate tag keys" in message(e)
    iam.create_user(UserName="u", Tags=pair[:1])
    iam.tag_user(UserName="u", Tags=pair[1:])
    assert iam.list_user_tags(UserName="u")["Tags"] == pair[1:]
    iam.untag_user(UserName="u", TagKeys=["COSTCENTER"])
    assert iam.list_user_tags(UserName="u")["Tags"] == []
    # Exactly the same key twice is a duplicate for every resource.
    with pytest.raises(ClientError) as e:
        iam.tag_policy(PolicyArn=arn, Tags=[pair[0], pair[0]])
    assert code(e) == "InvalidInput"


def test_list_virtual_mfa_devices_and_list_instance_profiles_return_no_tags(server):
    # Bug: both listings returned each item's Tags; the model says they do not (the resource's
    # Get or List*Tags operation does), as ListPolicies and ListServerCertificates already did.
    iam = server.client("iam")
    tags = [{"Key": "team", "Value": "sec"}]
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="m", Tags=tags)["VirtualMFADevice"]["SerialNumber"]
    iam.create_instance_profile(InstanceProfileName="ip", Tags=tags)
    [device] = iam.list_virtual_mfa_devices()["VirtualMFADevices"]
    assert device["SerialNumber"] == serial and "Tags" not in device
    [profile] = iam.list_instance_profiles()["InstanceProfiles"]
    assert profile["InstanceProfileName"] == "ip" and "Tags" not in profile
    assert iam.get_instance_profile(InstanceProfileName="ip")["InstanceProfile"]["Tags"] == tags
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == tags


def test_a_virtual_mfa_device_whose_serial_is_too_long_is_not_created(server):
    # Bug: a 300-character name made a device whose serial number (over the model's 256) no
    # other MFA operation accepts, so it could never be enabled or deleted.
    iam = server.client("iam")
    iam.meta.config.parameter_validation = False
    with pytest.raises(ClientError) as e:
        iam.create_virtual_mfa_device(VirtualMFADeviceName="a" * 300)
    assert code(e) == "InvalidInput"
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []
