"""Regression tests for authorization bypasses found by a strict-mode security review
(2026-12-03). Each test names the hole it pins; all run in strict mode."""

import json

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"


def doc(*statements, version="2012-10-17"):
    return json.dumps({"Version": version, "Statement": list(statements)})


def allow(action, resource="*"):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def trust_account():
    return doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})


def user(server, name, *statements):
    """A user with an inline policy; returns its (key id, secret)."""
    iam = server.client("iam")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(*statements))
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def as_(server, service, creds):
    return server.client(service, key=creds[0], secret=creds[1])


def code(e):
    return e.value.response["Error"]["Code"]


def test_a_role_arn_must_be_the_roles_own_to_assume_it(server):
    # Hole: AssumeRole looked the role up by the last segment of RoleArn, while policies were
    # matched against the whole text, so a user allowed only `role/dev/*` assumed `/prod/admin`
    # as `role/dev/admin` (or with another partition, Region or service in the ARN).
    iam = server.client("iam")
    iam.create_role(RoleName="admin", Path="/prod/", AssumeRolePolicyDocument=trust_account())
    iam.attach_role_policy(RoleName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_role(RoleName="builder", Path="/dev/", AssumeRolePolicyDocument=trust_account())
    dev = user(server, "dev", allow("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/dev/*"))
    sts = as_(server, "sts", dev)
    sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/dev/builder", RoleSessionName="ok")
    for forged in [
        f"arn:aws:iam::{ACCOUNT}:role/dev/admin",
        f"arn:aws:iam::{ACCOUNT}:role/dev/x/admin",
    ]:
        with pytest.raises(ClientError) as e:
            sts.assume_role(RoleArn=forged, RoleSessionName="forged")
        assert code(e) == "AccessDenied", forged
    # A Deny on the role's real ARN holds whatever spelling names it.
    root_allowed = user(
        server,
        "ops",
        allow("sts:AssumeRole"),
        {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/prod/admin"},
    )
    ops = as_(server, "sts", root_allowed)
    for variant in [
        f"arn:aws:iam::{ACCOUNT}:role/admin",
        f"arn:aws-cn:iam::{ACCOUNT}:role/prod/admin",
        f"arn:aws:iam:us-east-1:{ACCOUNT}:role/prod/admin",
        f"arn:aws:sts::{ACCOUNT}:role/prod/admin",
    ]:
        with pytest.raises(ClientError) as e:
            ops.assume_role(RoleArn=variant, RoleSessionName="variant")
        assert code(e) == "AccessDenied", variant


def test_only_a_grants_retiring_principal_grantee_or_creator_account_retires_it(server):
    # Hole: RetireGrant was allowed to anyone, policies or not.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    grantee = user(server, "app")
    outsider = user(server, "outsider")
    g = kms.create_grant(
        KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/app", Operations=["Decrypt"]
    )
    out = as_(server, "kms", outsider)
    with pytest.raises(ClientError) as e:
        out.retire_grant(GrantToken=g["GrantToken"])
    assert code(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        out.retire_grant(KeyId=key, GrantId=g["GrantId"])
    assert code(e) == "AccessDeniedException"
    # The grantee may retire only a grant that allows RetireGrant.
    with pytest.raises(ClientError) as e:
        as_(server, "kms", grantee).retire_grant(GrantToken=g["GrantToken"])
    assert code(e) == "AccessDeniedException"
    g2 = kms.create_grant(
        KeyId=key,
        GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/app",
        Operations=["Decrypt", "RetireGrant"],
    )
    as_(server, "kms", grantee).retire_grant(GrantToken=g2["GrantToken"])
    g3 = kms.create_grant(
        KeyId=key,
        GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/app",
        RetiringPrincipal=f"arn:aws:iam::{ACCOUNT}:user/outsider",
        Operations=["Decrypt"],
    )
    out.retire_grant(KeyId=key, GrantId=g3["GrantId"])


def test_a_grant_to_create_grants_passes_on_no_more_than_it_has(server):
    # Hole: a grantee whose grant allowed only CreateGrant granted itself Decrypt.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    me = f"arn:aws:iam::{ACCOUNT}:user/delegate"
    creds = user(server, "delegate")
    user(server, "other")
    kms.create_grant(KeyId=key, GranteePrincipal=me, Operations=["CreateGrant", "Encrypt"])
    mine = as_(server, "kms", creds)
    with pytest.raises(ClientError) as e:
        mine.create_grant(KeyId=key, GranteePrincipal=me, Operations=["Decrypt"])
    assert code(e) == "AccessDeniedException"
    mine.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/other", Operations=["Encrypt"])
    # A constrained parent passes on its constraint or a stricter one, not a looser one.
    kms.create_grant(
        KeyId=key,
        GranteePrincipal=me,
        Operations=["CreateGrant", "Decrypt"],
        Constraints={"EncryptionContextSubset": {"app": "billing"}},
    )
    with pytest.raises(ClientError):
        mine.create_grant(KeyId=key, GranteePrincipal=me, Operations=["Decrypt"])
    mine.create_grant(
        KeyId=key,
        GranteePrincipal=me,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextEquals": {"app": "billing", "team": "x"}},
    )


def test_a_grant_to_a_role_covers_the_roles_sessions(server):
    # Hole (a wrong denial): grants were matched against the session ARN only.
    iam, kms = server.client("iam"), server.client("kms")
    iam.create_role(RoleName="worker", AssumeRolePolicyDocument=trust_account())
    key = kms.create_key()["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"hello")["CiphertextBlob"]
    kms.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/worker", Operations=["Decrypt"])
    caller = user(server, "runner", allow("sts:AssumeRole"))
    c = as_(server, "sts", caller).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/worker", RoleSessionName="job"
    )["Credentials"]
    session_kms = server.client("kms", key=c["AccessKeyId"], secret=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
    assert session_kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"


def test_identity_providers_and_certificates_are_authorized_by_their_own_arn(server):
    # Hole: these operations were authorized against "*", so a Deny on the provider's ARN was
    # ignored and an Allow on it alone refused.
    iam = server.client("iam")
    arn = iam.create_open_id_connect_provider(Url="https://idp.example.com", ThumbprintList=["a" * 40])[
        "OpenIDConnectProviderArn"
    ]
    denied = as_(
        server,
        "iam",
        user(server, "almost-admin", allow("iam:*"), {"Effect": "Deny", "Action": "iam:*", "Resource": arn}),
    )
    for call in (
        lambda: denied.get_open_id_connect_provider(OpenIDConnectProviderArn=arn),
        lambda: denied.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDenied"
    reader = as_(server, "iam", user(server, "reader", allow("iam:GetOpenIDConnectProvider", arn)))
    assert reader.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["Url"] == "idp.example.com"


def recreate_and_use_old_session(server, name, start_session, *statements):
    """Makes `name` with `statements`, opens a session with `start_session(sts)`, deletes the user
    and makes a new one of the same name allowed kms:ListKeys; returns the old session's kms
    client."""
    iam = server.client("iam")
    c = start_session(as_(server, "sts", user(server, name, *statements)))["Credentials"]
    for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
    for p in iam.list_user_policies(UserName=name)["PolicyNames"]:
        iam.delete_user_policy(UserName=name, PolicyName=p)
    iam.delete_user(UserName=name)
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(allow("kms:ListKeys")))
    return server.client("kms", key=c["AccessKeyId"], secret=c["SecretAccessKey"], aws_session_token=c["SessionToken"])


def test_a_session_of_a_deleted_user_gets_nothing_from_a_new_user_of_the_same_name(server):
    # Hole: sessions found their user by name, so GetSessionToken and GetFederationToken
    # credentials of a deleted user carried the permissions of a new user of the same name.
    stale = recreate_and_use_old_session(server, "temp", lambda sts: sts.get_session_token())
    with pytest.raises(ClientError) as e:
        stale.list_keys()
    assert code(e) == "AccessDeniedException"
    federated = recreate_and_use_old_session(
        server,
        "fed",
        lambda sts: sts.get_federation_token(Name="visitor", Policy=doc(allow("kms:ListKeys"))),
        allow("sts:GetFederationToken"),
    )
    with pytest.raises(ClientError) as e:
        federated.list_keys()
    assert code(e) == "AccessDeniedException"


def test_a_source_identity_cannot_be_changed_by_chaining(server):
    # Hole: a chained AssumeRole replaced the calling session's source identity.
    iam = server.client("iam")
    iam.create_role(
        RoleName="r1",
        AssumeRolePolicyDocument=doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
            }
        ),
    )
    iam.put_role_policy(RoleName="r1", PolicyName="p", PolicyDocument=doc(allow(["sts:AssumeRole", "sts:SetSourceIdentity"])))
    caller = user(server, "alice", allow(["sts:AssumeRole", "sts:SetSourceIdentity"]))
    c = as_(server, "sts", caller).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/r1", RoleSessionName="s1", SourceIdentity="alice"
    )["Credentials"]
    chained = server.client("sts", key=c["AccessKeyId"], secret=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
    with pytest.raises(ClientError):
        chained.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/r1", RoleSessionName="s2", SourceIdentity="bob")
    again = chained.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/r1", RoleSessionName="s3")
    assert again["SourceIdentity"] == "alice"


def test_adding_a_role_to_an_instance_profile_needs_pass_role(server):
    # Hole: AddRoleToInstanceProfile did not require iam:PassRole on the role.
    iam = server.client("iam")
    iam.create_role(RoleName="ec2", AssumeRolePolicyDocument=trust_account())
    iam.create_instance_profile(InstanceProfileName="web")
    no_pass = as_(server, "iam", user(server, "p1", allow("iam:AddRoleToInstanceProfile")))
    with pytest.raises(ClientError) as e:
        no_pass.add_role_to_instance_profile(InstanceProfileName="web", RoleName="ec2")
    assert code(e) == "AccessDenied"
    with_pass = as_(server, "iam", user(server, "p2", allow(["iam:AddRoleToInstanceProfile", "iam:PassRole"])))
    with_pass.add_role_to_instance_profile(InstanceProfileName="web", RoleName="ec2")


def test_another_accounts_managed_policy_is_not_attachable(server):
    # Hole: managed policies were found by ARN in any account, so one account attached
    # another's policy (and got its permissions), or used it as a session policy.
    iam = server.client("iam")
    iam.create_user(UserName="u")
    foreign = "arn:aws:iam::111111111111:policy/theirs"
    for call in (
        lambda: iam.attach_user_policy(UserName="u", PolicyArn=foreign),
        lambda: iam.put_user_permissions_boundary(UserName="u", PermissionsBoundary=foreign),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "NoSuchEntity"


def test_a_key_arn_of_another_region_names_no_key(server):
    # Hole: a us-east-1 key ARN worked through the eu-west-1 endpoint, which sidestepped
    # policies conditioned on aws:RequestedRegion.
    key = server.client("kms").create_key()["KeyMetadata"]["Arn"]
    eu = server.client("kms", region="eu-west-1")
    with pytest.raises(ClientError) as e:
        eu.encrypt(KeyId=key, Plaintext=b"x")
    assert code(e) == "NotFoundException"


def test_kms_request_alias_is_the_alias_a_call_names_its_key_by(server):
    # Hole (a wrong denial): kms:RequestAlias was set only from AliasName, never for Encrypt.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key)
    statement = allow("kms:Encrypt")
    statement["Condition"] = {"StringEquals": {"kms:RequestAlias": "alias/app"}}
    app = as_(server, "kms", user(server, "app-user", statement))
    app.encrypt(KeyId="alias/app", Plaintext=b"x")
    app.encrypt(KeyId=f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/app", Plaintext=b"x")
    with pytest.raises(ClientError) as e:
        app.encrypt(KeyId=key, Plaintext=b"x")
    assert code(e) == "AccessDeniedException"


def test_iam_permissions_boundary_is_the_targets_boundary_for_policy_changes(server):
    # Hole (a wrong denial): iam:PermissionsBoundary was set only from a PermissionsBoundary
    # member, so AWS's delegated-administrator pattern (manage users only if they keep the
    # boundary) refused every call.
    iam = server.client("iam")
    boundary = iam.create_policy(PolicyName="boundary", PolicyDocument=doc(allow("s3:*")))["Policy"]["Arn"]
    iam.create_user(UserName="bounded", PermissionsBoundary=boundary)
    iam.create_user(UserName="free")
    statement = allow("iam:PutUserPolicy")
    statement["Condition"] = {"StringEquals": {"iam:PermissionsBoundary": boundary}}
    admin = as_(server, "iam", user(server, "delegated", statement))
    admin.put_user_policy(UserName="bounded", PolicyName="p", PolicyDocument=doc(allow("s3:GetObject")))
    with pytest.raises(ClientError) as e:
        admin.put_user_policy(UserName="free", PolicyName="p", PolicyDocument=doc(allow("s3:GetObject")))
    assert code(e) == "AccessDenied"


def test_audit_enforcement_issues_no_session_for_a_role_that_does_not_exist(start_server):
    # Hole: with `--enforcement audit` the would-be denial let the call through, and the handler
    # made up a role for the session (a leniency meant for --dev only).
    s = start_server("--enforcement", "audit")
    creds = user(s, "probe", allow("sts:AssumeRole"))
    with pytest.raises(ClientError) as e:
        as_(s, "sts", creds).assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/ghost", RoleSessionName="boo")
    assert code(e) == "AccessDenied"


def test_get_access_key_last_used_is_authorized_on_the_keys_user(server):
    # Hole: it was authorized against "*", so a Deny on a user's ARN did not protect that user's
    # keys, and a self-service policy on one's own user ARN did not allow one's own.
    iam = server.client("iam")
    alice_key = user(server, "alice")[0]
    probe = user(
        server,
        "probe",
        allow("iam:GetAccessKeyLastUsed"),
        {"Effect": "Deny", "Action": "iam:GetAccessKeyLastUsed", "Resource": f"arn:aws:iam::{ACCOUNT}:user/alice"},
    )
    with pytest.raises(ClientError) as e:
        as_(server, "iam", probe).get_access_key_last_used(AccessKeyId=alice_key)
    assert code(e) == "AccessDenied"
    self_service = user(server, "self", allow("iam:GetAccessKeyLastUsed", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"))
    mine = as_(server, "iam", self_service)
    assert mine.get_access_key_last_used(AccessKeyId=self_service[0])["UserName"] == "self"
    with pytest.raises(ClientError) as e:
        mine.get_access_key_last_used(AccessKeyId=alice_key)
    assert code(e) == "AccessDenied"
    assert iam.get_access_key_last_used(AccessKeyId=alice_key)["UserName"] == "alice"


def test_a_trust_policy_does_not_trust_a_new_user_with_a_deleted_users_name(server):
    # Hole: trust policies matched principals by ARN only, so after a trusted user was deleted,
    # anyone who created a user of the same name (in the trusted account) could assume the role.
    # IAM ties the policy to the principal's unique id and shows that id once it is deleted.
    iam = server.client("iam")
    frank = f"arn:aws:iam::{ACCOUNT}:user/frank"
    creds = user(server, "frank", allow("sts:AssumeRole"))
    old_id = iam.get_user(UserName="frank")["User"]["UserId"]
    role = iam.create_role(
        RoleName="trusts-frank",
        AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": frank}, "Action": "sts:AssumeRole"}),
    )["Role"]["Arn"]
    as_(server, "sts", creds).assume_role(RoleArn=role, RoleSessionName="first")
    kms = server.client("kms")
    key = kms.create_key(
        Policy=doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": ["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey"], "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": frank}, "Action": "kms:Encrypt", "Resource": "*"},
        )
    )["KeyMetadata"]["Arn"]
    as_(server, "kms", creds).encrypt(KeyId=key, Plaintext=b"x")
    iam.delete_access_key(UserName="frank", AccessKeyId=creds[0])
    iam.delete_user_policy(UserName="frank", PolicyName="p")
    iam.delete_user(UserName="frank")
    trust = iam.get_role(RoleName="trusts-frank")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"]["AWS"] == old_id
    assert old_id in kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    again = user(server, "frank", allow("sts:AssumeRole"), allow("kms:Encrypt"))
    with pytest.raises(ClientError) as e:
        as_(server, "sts", again).assume_role(RoleArn=role, RoleSessionName="second")
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        as_(server, "kms", again).encrypt(KeyId=key, Plaintext=b"x")
    assert code(e) == "AccessDeniedException"


def test_renaming_a_user_moves_it_in_the_policies_that_name_it_as_principal(server):
    # Hole: UpdateUser (NewUserName, or NewPath alone) re-keyed the user's access keys and MFA
    # devices only: role trust policies, key policies and secret policies kept the old ARN, so
    # the renamed user lost the access they gave and a new user created under the old name
    # inherited it. IAM updates policies naming a user as principal (they hold its unique id).
    iam = server.client("iam")
    old = f"arn:aws:iam::{ACCOUNT}:user/gina"
    creds = user(server, "gina", allow("sts:AssumeRole"))
    role = iam.create_role(
        RoleName="trusts-gina",
        AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": old}, "Action": "sts:AssumeRole"}),
    )["Role"]["Arn"]
    kms = server.client("kms")
    key = kms.create_key(
        Policy=doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": ["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey"], "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": [old]}, "Action": "kms:Encrypt", "Resource": "*"},
        )
    )["KeyMetadata"]["Arn"]
    sm = server.client("secretsmanager")
    secret = sm.create_secret(Name="for-gina", SecretString="s3cret")["ARN"]
    sm.put_resource_policy(
        SecretId=secret,
        ResourcePolicy=doc({"Effect": "Allow", "Principal": {"AWS": old}, "Action": "secretsmanager:DescribeSecret", "Resource": "*"}),
    )

    def reaches_all(creds):
        as_(server, "sts", creds).assume_role(RoleArn=role, RoleSessionName="ss")
        as_(server, "kms", creds).encrypt(KeyId=key, Plaintext=b"x")
        as_(server, "secretsmanager", creds).describe_secret(SecretId=secret)

    def reaches_none(creds):
        for call in (
            lambda: as_(server, "sts", creds).assume_role(RoleArn=role, RoleSessionName="ss"),
            lambda: as_(server, "kms", creds).encrypt(KeyId=key, Plaintext=b"x"),
            lambda: as_(server, "secretsmanager", creds).describe_secret(SecretId=secret),
        ):
            with pytest.raises(ClientError) as e:
                call()
            assert code(e) in ("AccessDenied", "AccessDeniedException")

    reaches_all(creds)
    for change, arn in (
        ({"NewPath": "/ops/"}, f"arn:aws:iam::{ACCOUNT}:user/ops/gina"),
        ({"NewUserName": "gina2"}, f"arn:aws:iam::{ACCOUNT}:user/ops/gina2"),
    ):
        current = iam.list_users(PathPrefix="/")["Users"][0]["UserName"]
        iam.update_user(UserName=current, **change)
        trust = iam.get_role(RoleName="trusts-gina")["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"]["AWS"] == arn
        assert json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])["Statement"][1]["Principal"]["AWS"] == [arn]
        assert arn in sm.get_resource_policy(SecretId=secret)["ResourcePolicy"]
        reaches_all(creds)
    reaches_none(user(server, "gina", allow("sts:AssumeRole")))


def test_a_deny_conditioned_on_a_users_arn_still_binds_its_namesake_after_rename_or_delete(server):
    # Hole: renaming or deleting a user rewrote its ARN everywhere in key and secret policies,
    # conditions included, so a Deny on `aws:PrincipalArn` = the user's ARN came to name the
    # renamed user (or the deleted one's unique id) and a new user of that name was let in. AWS
    # rewrites principals only; a condition holds a name and stays as written.
    iam = server.client("iam")
    name_arn = f"arn:aws:iam::{ACCOUNT}:user/contractor"
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalArn": name_arn}},
    }
    kms = server.client("kms")
    key = kms.create_key(
        Policy=doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
            deny,
        )
    )["KeyMetadata"]["Arn"]
    sm = server.client("secretsmanager")
    secret = sm.create_secret(Name="not-for-contractors", SecretString="s3cret")["ARN"]
    sm.put_resource_policy(SecretId=secret, ResourcePolicy=doc(deny))
    for step in ("rename", "delete"):
        creds = user(server, "contractor", allow(["kms:*", "secretsmanager:*"]))
        if step == "rename":
            iam.update_user(UserName="contractor", NewUserName=f"contractor-{step}")
        else:
            for k in iam.list_access_keys(UserName="contractor")["AccessKeyMetadata"]:
                iam.delete_access_key(UserName="contractor", AccessKeyId=k["AccessKeyId"])
            iam.delete_user_policy(UserName="contractor", PolicyName="p")
            iam.delete_user(UserName="contractor")
        assert name_arn in kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
        assert name_arn in sm.get_resource_policy(SecretId=secret)["ResourcePolicy"]
        namesake = user(server, "contractor", allow(["kms:*", "secretsmanager:*"]))
        for call in (
            lambda: as_(server, "kms", namesake).describe_key(KeyId=key),
            lambda: as_(server, "secretsmanager", namesake).get_secret_value(SecretId=secret),
        ):
            with pytest.raises(ClientError) as e:
                call()
            assert code(e) in ("AccessDenied", "AccessDeniedException")
        # Clean up the namesake so that the next step creates the user afresh.
        for k in iam.list_access_keys(UserName="contractor")["AccessKeyMetadata"]:
            iam.delete_access_key(UserName="contractor", AccessKeyId=k["AccessKeyId"])
        iam.delete_user_policy(UserName="contractor", PolicyName="p")
        iam.delete_user(UserName="contractor")


def test_an_inline_policy_without_version_still_denies(server):
    # Regression: an inline policy without "Version" (or with 2008-10-17), which IAM accepts,
    # was dropped at evaluation for want of 2012-10-17: its Deny denied nothing.
    creds = user(server, "versionless", allow("kms:*"))
    iam = server.client("iam")
    iam.put_user_policy(
        UserName="versionless",
        PolicyName="deny-list",
        PolicyDocument=json.dumps({"Statement": [{"Effect": "Deny", "Action": "kms:ListKeys", "Resource": "*"}]}),
    )
    iam.create_group(GroupName="old-style")
    iam.add_user_to_group(GroupName="old-style", UserName="versionless")
    iam.put_group_policy(
        GroupName="old-style",
        PolicyName="deny-aliases",
        PolicyDocument=doc({"Effect": "Deny", "Action": "kms:ListAliases", "Resource": "*"}, version="2008-10-17"),
    )
    kms = as_(server, "kms", creds)
    kms.create_key()
    for call in (kms.list_keys, kms.list_aliases):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDeniedException"
        assert "explicit deny in an identity-based policy" in e.value.response["Error"]["Message"]


def test_a_role_inline_policy_over_6144_characters_still_denies(server):
    # Regression: a role's inline policies may total 10,240 characters, and IAM stored one of
    # about 7,200; evaluation held it to the 6,144 of a managed policy and ignored it.
    iam = server.client("iam")
    iam.create_role(RoleName="big-inline", AssumeRolePolicyDocument=trust_account())
    iam.put_role_policy(RoleName="big-inline", PolicyName="allow", PolicyDocument=doc(allow("kms:*")))
    padding = [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{i:08d}-0000-0000-0000-000000000000" for i in range(90)]
    big = doc({"Effect": "Deny", "Action": "kms:ListKeys", "Resource": ["*", *padding]})
    assert len("".join(big.split())) > 6144
    iam.put_role_policy(RoleName="big-inline", PolicyName="deny", PolicyDocument=big)
    sts = as_(server, "sts", user(server, "assumer", allow("sts:AssumeRole")))
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/big-inline", RoleSessionName="session")["Credentials"]
    kms = server.client("kms", key=c["AccessKeyId"], secret=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
    kms.list_aliases()
    with pytest.raises(ClientError) as e:
        kms.list_keys()
    assert code(e) == "AccessDeniedException"


def test_kms_tag_conditions_see_the_tags_of_create_key_and_tag_resource(server):
    # Regression: KMS's tags are TagKey/TagValue; the request context read Key/Value only, so
    # aws:TagKeys and aws:RequestTag conditions on CreateKey and TagResource never matched.
    only_team = {"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}
    creds = user(
        server,
        "tagger",
        {"Effect": "Allow", "Action": ["kms:CreateKey", "kms:TagResource"], "Resource": "*", "Condition": only_team},
        {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestTag/team": "red"}}},
    )
    kms = as_(server, "kms", creds)
    with pytest.raises(ClientError) as e:
        kms.create_key(Tags=[{"TagKey": "admin", "TagValue": "true"}])
    assert code(e) == "AccessDeniedException"
    key = kms.create_key(Tags=[{"TagKey": "team", "TagValue": "red"}])["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.tag_resource(KeyId=key, Tags=[{"TagKey": "admin", "TagValue": "true"}])
    assert code(e) == "AccessDeniedException"
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "blue"}])
    tags = server.client("kms").list_resource_tags(KeyId=key)["Tags"]
    assert tags == [{"TagKey": "team", "TagValue": "blue"}]


def test_an_ipv4_client_of_a_dual_stack_listener_is_evaluated_as_ipv4(start_server):
    # Regression: on `--listen [::]:PORT` an IPv4 client's aws:SourceIp was `::ffff:127.0.0.1`,
    # which no IPv4 range matches: a Deny by address failed open, and the record showed the
    # mapped form.
    try:
        server = start_server("--listen", "[::]:0")
    except RuntimeError as e:
        pytest.skip(f"no IPv6 on this machine: {e}")
    port = server.url.rsplit(":", 1)[1]
    server.url = f"http://127.0.0.1:{port}"
    creds = user(
        server,
        "from-loopback",
        allow("kms:*"),
        {"Effect": "Deny", "Action": "kms:ListKeys", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
    )
    kms = as_(server, "kms", creds)
    with pytest.raises(ClientError) as e:
        kms.list_keys()
    assert code(e) == "AccessDeniedException"
    records = [json.loads(e["CloudTrailEvent"]) for e in server.client("cloudtrail").lookup_events(MaxResults=5)["Events"]]
    assert {r["sourceIPAddress"] for r in records} == {"127.0.0.1"}


def test_a_managed_session_policy_is_not_held_to_the_inline_limit_and_follows_its_default_version(server):
    # Regression: a managed policy passed in PolicyArns was cut at the 2,048 characters of an
    # inline session policy (the session got nothing from it), and a session kept the policy
    # version it started with after SetAsDefault.
    iam = server.client("iam")
    iam.create_role(RoleName="scoped", AssumeRolePolicyDocument=trust_account())
    iam.put_role_policy(RoleName="scoped", PolicyName="all", PolicyDocument=doc(allow("kms:*")))
    padding = [f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/padding-{i:04d}" for i in range(70)]
    big = doc(allow(["kms:ListKeys", "kms:ListAliases"], ["*", *padding]))
    assert len("".join(big.split())) > 2048
    arn = iam.create_policy(PolicyName="session-scope", PolicyDocument=big)["Policy"]["Arn"]
    sts = as_(server, "sts", user(server, "assumer", allow("sts:AssumeRole")))
    c = sts.assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/scoped", RoleSessionName="session", PolicyArns=[{"arn": arn}]
    )["Credentials"]
    kms = server.client("kms", key=c["AccessKeyId"], secret=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
    kms.list_keys()
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(allow("kms:ListAliases")), SetAsDefault=True)
    kms.list_aliases()
    with pytest.raises(ClientError) as e:
        kms.list_keys()
    assert code(e) == "AccessDeniedException"


def _chain_roles(server, second_trust_actions, second_condition=None):
    """Role `abac` (assumable by the account with tags) and role `abac2`, trusting `abac` with
    `second_trust_actions`, that may list users only with aws:PrincipalTag/team = sess."""
    iam = server.client("iam")
    iam.create_role(
        RoleName="abac",
        AssumeRolePolicyDocument=doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}
        ),
    )
    iam.put_role_policy(RoleName="abac", PolicyName="p", PolicyDocument=doc(allow("sts:AssumeRole")))
    iam.create_role(RoleName="abac2", AssumeRolePolicyDocument=trust_of_abac(second_trust_actions, second_condition))
    iam.put_role_policy(
        RoleName="abac2",
        PolicyName="p",
        PolicyDocument=doc(
            {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "sess"}}}
        ),
    )
    caller = user(server, "chainer", allow(["sts:AssumeRole", "sts:TagSession"]))
    first = as_(server, "sts", caller).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/abac",
        RoleSessionName="one",
        Tags=[{"Key": "team", "Value": "sess"}],
        TransitiveTagKeys=["team"],
    )["Credentials"]
    return server.client("sts", key=first["AccessKeyId"], secret=first["SecretAccessKey"], aws_session_token=first["SessionToken"])


def trust_of_abac(actions, condition=None):
    statements = [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/abac"}, "Action": "sts:AssumeRole"}]
    if "sts:TagSession" in actions:
        tag = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/abac"}, "Action": "sts:TagSession"}
        if condition:
            tag["Condition"] = condition
        statements.append(tag)
    return doc(*statements)


def test_inherited_transitive_tags_need_the_next_roles_sts_tag_session(server):
    # Hole: a chained session inherited the calling session's transitive tags without the next
    # role's trust policy allowing sts:TagSession, so a role trusting only sts:AssumeRole got a
    # session whose aws:PrincipalTag/team an earlier hop chose, and ABAC on it granted access.
    chained = _chain_roles(server, ["sts:AssumeRole"])
    with pytest.raises(ClientError) as e:
        chained.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/abac2", RoleSessionName="two")
    assert code(e) == "AccessDenied"
    message = e.value.response["Error"]["Message"]
    assert "sts:TagSession" in message
    # STS says no more of a refused sts:TagSession than of a refused sts:AssumeRole: not which
    # side refused (bug: "because no resource-based policy allows the sts:TagSession action").
    assert "because" not in message and message.endswith(f"on resource: arn:aws:iam::{ACCOUNT}:role/abac2")


@pytest.mark.parametrize(
    "condition, allowed",
    [
        (None, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["dept"]}}, False),
        ({"StringEquals": {"aws:RequestTag/team": "other"}}, False),
        ({"StringEquals": {"aws:RequestTag/team": "sess"}}, True),
        ({"ForAllValues:StringEquals": {"sts:TransitiveTagKeys": ["dept"]}}, False),
    ],
)
def test_sts_tag_session_conditions_bind_inherited_transitive_tags(server, condition, allowed):
    # Hole: aws:TagKeys and aws:RequestTag held only the request's own tags, so a trust policy
    # limiting the tags a session may carry let any inherited transitive tag through.
    chained = _chain_roles(server, ["sts:AssumeRole", "sts:TagSession"], condition)
    if not allowed:
        with pytest.raises(ClientError) as e:
            chained.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/abac2", RoleSessionName="two")
        assert code(e) == "AccessDenied"
        return
    c = chained.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/abac2", RoleSessionName="two")["Credentials"]
    iam = server.client("iam", key=c["AccessKeyId"], secret=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
    iam.list_users()


def test_a_federated_user_has_its_iam_users_tags_as_principal_tags(server):
    # Hole: a GetFederationToken session had only its session tags as aws:PrincipalTag, not its
    # IAM user's (AWS: "the session's principal tags include the user's tags and the passed
    # session tags", session tags overriding a user tag of the same key).
    iam = server.client("iam")
    tagged = {"StringEquals": {"aws:PrincipalTag/team": "blue"}}
    creds = user(
        server,
        "fed-src",
        allow(["sts:GetFederationToken", "sts:TagSession"]),
        {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*", "Condition": tagged},
    )
    iam.tag_user(UserName="fed-src", Tags=[{"Key": "team", "Value": "blue"}])
    sts = as_(server, "sts", creds)
    everything = doc(allow("*"))

    def kms_of(fed):
        c = fed["Credentials"]
        return server.client("kms", key=c["AccessKeyId"], secret=c["SecretAccessKey"], aws_session_token=c["SessionToken"])

    kms_of(sts.get_federation_token(Name="plain", Policy=everything)).list_keys()
    overridden = sts.get_federation_token(Name="red", Policy=everything, Tags=[{"Key": "TEAM", "Value": "red"}])
    with pytest.raises(ClientError) as e:
        kms_of(overridden).list_keys()
    assert code(e) == "AccessDeniedException"
    # A GetSessionToken session of the user has the user's tags too.
    plain = sts.get_session_token()["Credentials"]
    server.client(
        "kms", key=plain["AccessKeyId"], secret=plain["SecretAccessKey"], aws_session_token=plain["SessionToken"]
    ).list_keys()


def test_simulating_a_principal_is_authorized_on_that_principal(server):
    # Hole: SimulatePrincipalPolicy and GetContextKeysForPrincipalPolicy were decided on "*",
    # so a Deny on simulating alice did not stop carol from reading alice's permissions, and a
    # policy allowing `user/${aws:username}` did not let bob simulate himself.
    alice = f"arn:aws:iam::{ACCOUNT}:user/alice"
    server.client("iam").create_user(UserName="alice")
    carol = as_(server, "iam", user(
        server, "carol",
        allow(["iam:SimulatePrincipalPolicy", "iam:GetContextKeysForPrincipalPolicy"]),
        {"Effect": "Deny", "Action": "iam:*", "Resource": alice},
    ))
    with pytest.raises(ClientError) as e:
        carol.simulate_principal_policy(PolicySourceArn=alice, ActionNames=["s3:GetObject"])
    assert code(e) == "AccessDenied" and alice in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        carol.get_context_keys_for_principal_policy(PolicySourceArn=alice)
    assert code(e) == "AccessDenied"
    assert carol.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/carol", ActionNames=["s3:GetObject"]
    )["EvaluationResults"]
    own = f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"
    bob = as_(server, "iam", user(server, "bob", allow("iam:SimulatePrincipalPolicy", own)))
    result = bob.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/bob", ActionNames=["iam:SimulatePrincipalPolicy"],
        ResourceArns=[f"arn:aws:iam::{ACCOUNT}:user/bob"],
    )["EvaluationResults"]
    assert result[0]["EvalDecision"] == "allowed"
    with pytest.raises(ClientError) as e:
        bob.simulate_principal_policy(PolicySourceArn=alice, ActionNames=["s3:GetObject"])
    assert code(e) == "AccessDenied"


# Service condition keys as the Service Authorization Reference lists them (review of
# 2026-12-04): each test pins a key that was missing from, or wrongly present in, a request.


def _denied(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    assert code(e) in ("AccessDenied", "AccessDeniedException")


def test_iam_permissions_boundary_guards_updating_and_deleting_a_bounded_role(server):
    # Hole: DeleteRole, UpdateRole, UpdateRoleDescription, UpdateAssumeRolePolicy and GetRole
    # lacked the role's current boundary, so a Deny guarding the platform boundary let a
    # delegated administrator rewrite the role's trust policy or delete it.
    iam = server.client("iam")
    boundary = iam.create_policy(PolicyName="platform", PolicyDocument=doc(allow("s3:*")))["Policy"]["Arn"]
    iam.create_role(RoleName="bounded", AssumeRolePolicyDocument=trust_account(), PermissionsBoundary=boundary)
    iam.create_role(RoleName="free", AssumeRolePolicyDocument=trust_account())
    guarded = ["iam:DeleteRole", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy"]
    deny = {"Effect": "Deny", "Action": guarded, "Resource": "*", "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}}}
    read_bounded = {"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*", "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}}}
    admin = as_(server, "iam", user(server, "delegated", allow(guarded), deny, read_bounded))
    open_trust = doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
    _denied(admin.update_assume_role_policy, RoleName="bounded", PolicyDocument=open_trust)
    _denied(admin.update_role, RoleName="bounded", MaxSessionDuration=7200)
    _denied(admin.update_role_description, RoleName="bounded", Description="x")
    _denied(admin.delete_role, RoleName="bounded")
    assert admin.get_role(RoleName="bounded")["Role"]["RoleName"] == "bounded"
    _denied(admin.get_role, RoleName="free")
    admin.update_role(RoleName="free", MaxSessionDuration=7200)
    admin.delete_role(RoleName="free")


def test_iam_policy_arn_is_a_key_of_attaching_and_detaching_only(server):
    # Wrong allow: iam:PolicyARN was set for every action with a PolicyArn member, so a policy
    # allowing GetPolicy or CreatePolicyVersion "if iam:PolicyARN is P" allowed them; AWS sets
    # the key for the attach and detach actions only.
    iam = server.client("iam")
    arn = iam.create_policy(PolicyName="p1", PolicyDocument=doc(allow("s3:GetObject")))["Policy"]["Arn"]
    iam.create_user(UserName="target")
    only_p1 = {"StringEquals": {"iam:PolicyARN": arn}}
    actions = ["iam:GetPolicy", "iam:CreatePolicyVersion", "iam:AttachUserPolicy"]
    admin = as_(server, "iam", user(server, "attacher", {"Effect": "Allow", "Action": actions, "Resource": "*", "Condition": only_p1}))
    _denied(admin.get_policy, PolicyArn=arn)
    _denied(admin.create_policy_version, PolicyArn=arn, PolicyDocument=doc(allow("s3:*")))
    admin.attach_user_policy(UserName="target", PolicyArn=arn)


def test_cloudtrail_tags_list_reaches_tag_conditions(server):
    # Hole: CloudTrail's tags are in TagsList, which the request context never read, so a Deny
    # on aws:TagKeys did not stop AddTags, RemoveTags or CreateTrail, and an Allow on
    # aws:RequestTag refused CreateTrail.
    server.client("cloudtrail").create_trail(Name="sec", S3BucketName="audit-bucket")
    arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/sec"
    no_owner = {
        "Effect": "Deny",
        "Action": ["cloudtrail:AddTags", "cloudtrail:RemoveTags", "cloudtrail:CreateTrail"],
        "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["owner"]}},
    }
    ct = as_(server, "cloudtrail", user(server, "trails", allow("cloudtrail:*"), no_owner))
    _denied(ct.add_tags, ResourceId=arn, TagsList=[{"Key": "owner", "Value": "me"}])
    _denied(ct.remove_tags, ResourceId=arn, TagsList=[{"Key": "owner"}])
    _denied(ct.create_trail, Name="trail2", S3BucketName="audit-bucket", TagsList=[{"Key": "owner", "Value": "x"}])
    ct.add_tags(ResourceId=arn, TagsList=[{"Key": "team", "Value": "blue"}])
    blue = {"Effect": "Allow", "Action": "cloudtrail:CreateTrail", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestTag/team": "blue"}}}
    creator = as_(server, "cloudtrail", user(server, "creator", blue))
    creator.create_trail(Name="trail3", S3BucketName="audit-bucket", TagsList=[{"Key": "team", "Value": "blue"}])
    _denied(creator.create_trail, Name="trail4", S3BucketName="audit-bucket", TagsList=[{"Key": "team", "Value": "red"}])


def test_kms_re_encryption_halves_see_their_encryption_algorithm(server):
    # Hole: kms:EncryptionAlgorithm was set only for an operation named "ReEncrypt", which
    # authorization never evaluates (its halves are ReEncryptFrom and ReEncryptTo): the Allow
    # form refused every re-encryption and the Deny form let them all through.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    symmetric = {"StringEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}
    allowed = as_(server, "kms", user(server, "re1", {"Effect": "Allow", "Action": "kms:ReEncrypt*", "Resource": "*", "Condition": symmetric}))
    allowed.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key)
    denied = as_(server, "kms", user(server, "re2", allow("kms:ReEncrypt*"), {"Effect": "Deny", "Action": "kms:ReEncrypt*", "Resource": "*", "Condition": symmetric}))
    _denied(denied.re_encrypt, CiphertextBlob=blob, DestinationKeyId=key)
    # Each half sees its own algorithm: the source's for ReEncryptFrom, the destination's for
    # ReEncryptTo (an RSA source into a symmetric key).
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    rsa_blob = kms.encrypt(KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    halves = as_(
        server,
        "kms",
        user(
            server,
            "re3",
            {"Effect": "Allow", "Action": "kms:ReEncryptFrom", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}},
            {"Effect": "Allow", "Action": "kms:ReEncryptTo", "Resource": "*", "Condition": symmetric},
        ),
    )
    halves.re_encrypt(
        CiphertextBlob=rsa_blob, SourceKeyId=rsa, SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256", DestinationKeyId=key
    )
    _denied(halves.re_encrypt, CiphertextBlob=blob, DestinationKeyId=key)


def test_kms_create_grant_conditions_see_the_constraint_and_service_principals(server):
    # Hole: CreateGrant's kms:EncryptionContext keys (its constraint's pairs) and the service
    # principal keys were never set; kms:GrantIsForAWSResource only on CreateGrant; and a
    # grant naming only GranteeServicePrincipal was refused as the principal "".
    kms = server.client("kms")
    iam = server.client("iam")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    grantee = iam.create_user(UserName="grantee")["User"]["Arn"]
    dept_x = {"StringEquals": {"kms:EncryptionContext:dept": "x"}, "Bool": {"kms:GrantIsForAWSResource": "false"}}
    granter = as_(
        server,
        "kms",
        user(
            server,
            "granter",
            {"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "*", "Condition": dept_x},
            {"Effect": "Allow", "Action": ["kms:ListGrants", "kms:RevokeGrant"], "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "false"}}},
            {"Effect": "Deny", "Action": "kms:CreateGrant", "Resource": "*", "Condition": {"StringEquals": {"kms:GranteeServicePrincipal": "ec2.amazonaws.com"}}},
        ),
    )
    grant = granter.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Decrypt"], Constraints={"EncryptionContextSubset": {"dept": "x"}})
    _denied(granter.create_grant, KeyId=key, GranteePrincipal=grantee, Operations=["Decrypt"], Constraints={"EncryptionContextSubset": {"dept": "y"}})
    service_grant = {
        "KeyId": key,
        "GranteeServicePrincipal": "ec2.amazonaws.com",
        "RetiringServicePrincipal": "ec2.amazonaws.com",
        "Operations": ["Decrypt"],
        "Constraints": {"SourceArn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-1", "EncryptionContextSubset": {"dept": "x"}},
    }
    _denied(granter.create_grant, **service_grant)
    assert [g["GrantId"] for g in granter.list_grants(KeyId=key)["Grants"]] == [grant["GrantId"]]
    granter.revoke_grant(KeyId=key, GrantId=grant["GrantId"])
    # The account's root makes a service grant; it is listed under the service members.
    made = kms.create_grant(**service_grant)["GrantId"]
    listed = kms.list_grants(KeyId=key, GranteeServicePrincipal="ec2.amazonaws.com")["Grants"]
    assert [(g["GrantId"], g["GranteeServicePrincipal"], g["RetiringServicePrincipal"]) for g in listed] == [
        (made, "ec2.amazonaws.com", "ec2.amazonaws.com")
    ]
    assert "GranteePrincipal" not in listed[0]
    with pytest.raises(ClientError) as e:
        kms.create_grant(KeyId=key, GranteeServicePrincipal="ec2.amazonaws.com", RetiringServicePrincipal="ec2.amazonaws.com", Operations=["Decrypt"])
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        kms.create_grant(KeyId=key, GranteePrincipal=grantee, GranteeServicePrincipal="ec2.amazonaws.com", Operations=["Decrypt"])
    assert code(e) == "ValidationException"


def test_a_grant_with_a_source_arn_constraint_does_not_serve_direct_calls(server):
    # Hole: the SourceArn constraint (AWS: "effectively the same as having the aws:SourceArn
    # global condition key in the grant") was ignored, so the grant served its grantee's own
    # calls as an unconstrained one.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    creds = user(server, "via-grant")
    grantee = server.client("iam").get_user(UserName="via-grant")["User"]["Arn"]
    kms.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Encrypt"], Constraints={"SourceArn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-1"})
    _denied(as_(server, "kms", creds).encrypt, KeyId=key, Plaintext=b"x")
    kms.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Encrypt"])
    as_(server, "kms", creds).encrypt(KeyId=key, Plaintext=b"x")


def test_a_chained_session_carries_its_source_identity_to_the_next_trust_policy(server):
    # Wrong denial: a chained AssumeRole carries the session's source identity on, but
    # sts:SourceIdentity was set only from the request's own member, so a trust policy
    # requiring it refused the chain.
    iam = server.client("iam")
    everyone = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}
    iam.create_role(RoleName="first", AssumeRolePolicyDocument=doc(everyone))
    iam.put_role_policy(RoleName="first", PolicyName="p", PolicyDocument=doc(allow(["sts:AssumeRole", "sts:SetSourceIdentity"])))
    alice_only = dict(everyone, Condition={"StringEquals": {"sts:SourceIdentity": "alice"}})
    iam.create_role(RoleName="second", AssumeRolePolicyDocument=doc(alice_only))
    caller = as_(server, "sts", user(server, "alice", allow(["sts:AssumeRole", "sts:SetSourceIdentity"])))
    c = caller.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/first", RoleSessionName="s1", SourceIdentity="alice")["Credentials"]
    chained = server.client("sts", key=c["AccessKeyId"], secret=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
    second = chained.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/second", RoleSessionName="s2")
    assert second["SourceIdentity"] == "alice"


def test_create_secret_has_no_secret_id_key(server):
    # Wrong denial: CreateSecret set secretsmanager:SecretId to the would-be ARN, so a guard
    # requiring the key to be absent refused every CreateSecret (AWS lists the Name key there).
    no_id = {"Effect": "Allow", "Action": "secretsmanager:CreateSecret", "Resource": "*", "Condition": {"Null": {"secretsmanager:SecretId": "true"}}}
    sm = as_(server, "secretsmanager", user(server, "creator", no_id))
    assert sm.create_secret(Name="fresh", SecretString="v")["Name"] == "fresh"


def test_kms_trailing_days_without_key_usage_guards_disabling_a_key_in_use(server):
    # Hole: kms:TrailingDaysWithoutKeyUsage was never set, so AWS's guardrail against disabling
    # or deleting keys still in use (Deny when fewer than N days unused) denied nothing.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    kms.encrypt(KeyId=key, Plaintext=b"in use")
    recent = {"NumericLessThan": {"kms:TrailingDaysWithoutKeyUsage": "30"}}
    guarded = as_(
        server,
        "kms",
        user(
            server,
            "keyadmin",
            allow(["kms:DisableKey", "kms:ScheduleKeyDeletion", "kms:EnableKey"]),
            {"Effect": "Deny", "Action": ["kms:DisableKey", "kms:ScheduleKeyDeletion", "kms:EnableKey"], "Resource": "*", "Condition": recent},
        ),
    )
    _denied(guarded.disable_key, KeyId=key)
    _denied(guarded.schedule_key_deletion, KeyId=key, PendingWindowInDays=7)
    # Set for those two operations only: the Deny names EnableKey too, whose request has no
    # such key, so the condition does not match there.
    guarded.enable_key(KeyId=key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"


def test_a_user_agent_past_ascii_still_meets_a_deny_on_it_and_is_recorded(server):
    # Regression: one byte past ASCII in User-Agent made the server read it as empty, so a
    # Deny on aws:UserAgent did not match (the call was allowed) and the event lost the agent.
    from botocore.config import Config

    key, secret = user(
        server,
        "ua-user",
        allow("iam:ListPolicies"),
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:UserAgent": "*sqlmap*"}}},
    )
    iam = server.client("iam", key=key, secret=secret, config=Config(user_agent="sqlmap/1.7 café"))
    with pytest.raises(ClientError) as e:
        iam.list_policies(MaxItems=1)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    agents = [ev["userAgent"] for ev in server.events() if ev["eventName"] == "ListPolicies"]
    assert agents and agents[-1].startswith("sqlmap/1.7 café"), agents
    # A Deny naming the agent's own non-ASCII text matches it too.
    iam_root = server.client("iam")
    iam_root.put_user_policy(UserName="ua-user", PolicyName="p", PolicyDocument=doc(
        allow("iam:ListPolicies"),
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:UserAgent": "*café*"}}},
    ))
    iam_cafe = server.client("iam", key=key, secret=secret, config=Config(user_agent="client café"))
    with pytest.raises(ClientError) as e:
        iam_cafe.list_policies(MaxItems=1)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
