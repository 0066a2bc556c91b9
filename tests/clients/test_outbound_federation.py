"""Outbound identity federation: STS GetWebIdentityToken gives a principal a JSON web token
that an external service verifies with the account issuer's published keys, driven with boto3
against strict mode, and verified here as an external service would (discovery, JWKS, signature).
"""

import base64
import json
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from test_iam_sts import ACCOUNT, allow, error, new_user, policy, session_client

AUDIENCE = "https://api.example.com"


def b64d(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def verify(token, issuer):
    """Checks the token as a relying party does: the issuer's discovery document names the
    JWKS, whose key of the header's kid verifies the signature. Returns (header, claims)."""
    head, body, sig = token.split(".")
    header, claims = json.loads(b64d(head)), json.loads(b64d(body))
    config = get_json(f"{issuer}/.well-known/openid-configuration")
    assert config["issuer"] == issuer
    assert set(config["id_token_signing_alg_values_supported"]) == {"RS256", "ES384"}
    key = next(k for k in get_json(config["jwks_uri"])["keys"] if k["kid"] == header["kid"])
    signed, signature = f"{head}.{body}".encode(), b64d(sig)
    num = lambda m: int.from_bytes(b64d(key[m]), "big")  # noqa: E731
    if header["alg"] == "RS256":
        public = rsa.RSAPublicNumbers(num("e"), num("n")).public_key()
        public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert header["alg"] == "ES384" and key["crv"] == "P-384" and len(signature) == 96
        public = ec.EllipticCurvePublicNumbers(num("x"), num("y"), ec.SECP384R1()).public_key()
        r, s = int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")
        public.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA384()))
    return header, claims


def test_tokens_need_the_feature_enabled_and_verify_with_the_published_keys(server):
    iam, sts = server.client("iam"), server.client("sts")
    with pytest.raises(ClientError) as e:
        iam.get_outbound_web_identity_federation_info()
    assert error(e)["Code"] == "FeatureDisabled"
    with pytest.raises(ClientError) as e:
        sts.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")
    assert error(e)["Code"] == "OutboundWebIdentityFederationDisabledException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    issuer = iam.enable_outbound_web_identity_federation()["IssuerIdentifier"]
    assert issuer.startswith(f"{server.url}/_palisade/outbound/")
    with pytest.raises(ClientError) as e:
        iam.enable_outbound_web_identity_federation()
    assert error(e)["Code"] == "FeatureEnabled"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    info = iam.get_outbound_web_identity_federation_info()
    assert (info["IssuerIdentifier"], info["JwtVendingEnabled"]) == (issuer, True)

    user = iam.create_user(UserName="worker")["User"]
    iam.tag_user(UserName="worker", Tags=[{"Key": "team", "Value": "data"}])
    iam.put_user_policy(UserName="worker", PolicyName="tokens", PolicyDocument=policy(
        allow("sts:GetWebIdentityToken", Condition={
            "ForAllValues:StringEquals": {"sts:IdentityTokenAudience": AUDIENCE},
            "NumericLessThanEquals": {"sts:DurationSeconds": 600},
        })))
    key = iam.create_access_key(UserName="worker")["AccessKey"]
    worker = server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    for alg in ("RS256", "ES384"):
        before = int(time.time())
        out = worker.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm=alg)
        header, claims = verify(out["WebIdentityToken"], issuer)
        assert header["alg"] == alg
        assert claims["iss"] == issuer and claims["aud"] == AUDIENCE
        assert claims["sub"] == user["Arn"]
        assert claims["exp"] - claims["iat"] == 300 and claims["iat"] >= before
        aws = claims["https://sts.amazonaws.com/"]
        assert aws["aws_account"] == ACCOUNT and aws["source_region"] == "us-east-1"
        assert aws["principal_tags"] == {"team": "data"}
        assert int(out["Expiration"].timestamp()) == claims["exp"]

    # The policy's conditions: another audience, a longer life, tags without their permission.
    for kwargs in ({"Audience": ["https://evil.example"]}, {"DurationSeconds": 900},
                   {"Tags": [{"Key": "job", "Value": "etl"}]}):
        with pytest.raises(ClientError) as e:
            worker.get_web_identity_token(**{"Audience": [AUDIENCE], "SigningAlgorithm": "RS256", **kwargs})
        assert error(e)["Code"] == "AccessDenied", kwargs
    with pytest.raises(ClientError) as e:
        worker.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="HS256")
    assert error(e)["Code"] == "ValidationError"

    # Disabled: nothing issued, nothing published; enabled again, the same issuer and keys.
    jwks = get_json(f"{issuer}/.well-known/jwks.json")
    iam.disable_outbound_web_identity_federation()
    with pytest.raises(ClientError) as e:
        iam.disable_outbound_web_identity_federation()
    assert error(e)["Code"] == "FeatureDisabled"
    assert iam.get_outbound_web_identity_federation_info()["JwtVendingEnabled"] is False
    with pytest.raises(urllib.error.HTTPError) as e:
        get_json(f"{issuer}/.well-known/jwks.json")
    assert e.value.code == 404
    with pytest.raises(ClientError) as e:
        worker.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")
    assert error(e)["Code"] == "OutboundWebIdentityFederationDisabledException"
    assert iam.enable_outbound_web_identity_federation()["IssuerIdentifier"] == issuer
    assert get_json(f"{issuer}/.well-known/jwks.json") == jwks


def test_a_role_sessions_token_names_the_role_and_cannot_outlive_the_session(server):
    iam = server.client("iam")
    issuer = iam.enable_outbound_web_identity_federation()["IssuerIdentifier"]
    trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"]})
    role = iam.create_role(RoleName="etl", AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(RoleName="etl", PolicyName="tokens", PolicyDocument=policy(
        allow(["sts:GetWebIdentityToken", "sts:TagGetWebIdentityToken"])))
    _, sts, _ = new_user(server, "scheduler", allow(["sts:AssumeRole", "sts:TagSession"], role["Arn"]))
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="nightly", DurationSeconds=900,
                            Tags=[{"Key": "stage", "Value": "prod"}])["Credentials"]
    session = session_client(server, "sts", creds)
    with pytest.raises(ClientError) as e:
        session.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="ES384", DurationSeconds=3600)
    assert error(e)["Code"] == "SessionDurationEscalationException"
    with pytest.raises(ClientError) as e:
        session.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256",
                                       Tags=[{"Key": "job", "Value": "a"}, {"Key": "JOB", "Value": "b"}])
    assert "Duplicate tag keys" in error(e)["Message"]
    token = session.get_web_identity_token(
        Audience=[AUDIENCE, "https://other.example"], SigningAlgorithm="ES384",
        Tags=[{"Key": "job", "Value": "etl"}])["WebIdentityToken"]
    _, claims = verify(token, issuer)
    assert claims["sub"] == claims["principal_id"] == role["Arn"]
    assert claims["aud"] == [AUDIENCE, "https://other.example"]
    aws = claims["https://sts.amazonaws.com/"]
    assert aws["request_tags"] == {"job": "etl"}
    assert aws["principal_tags"] == {"stage": "prod"}
    assert aws["original_session_exp"].endswith("Z")
    # The token is a credential: it is not kept in the audit trail or anywhere on disk.
    for path in server.data_dir.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_the_issuer_and_its_keys_survive_a_restart_under_the_public_url(start_server):
    first = start_server("--public-url", "https://palisade.example.com/")
    iam = first.client("iam")
    issuer = iam.enable_outbound_web_identity_federation()["IssuerIdentifier"]
    assert issuer.startswith("https://palisade.example.com/_palisade/outbound/")
    path = issuer.removeprefix("https://palisade.example.com")
    jwks = get_json(f"{first.url}{path}/.well-known/jwks.json")
    token = first.client("sts").get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")
    first.stop()
    again = start_server("--public-url", "https://palisade.example.com", data_dir=first.data_dir)
    assert again.client("iam").get_outbound_web_identity_federation_info()["IssuerIdentifier"] == issuer
    assert get_json(f"{again.url}{path}/.well-known/jwks.json") == jwks
    config = get_json(f"{again.url}{path}/.well-known/openid-configuration")
    assert config["issuer"] == issuer and config["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    # A token from before the restart still verifies with what the issuer publishes now.
    head, body, sig = token["WebIdentityToken"].split(".")
    key = next(k for k in jwks["keys"] if k["kid"] == json.loads(b64d(head))["kid"])
    num = lambda m: int.from_bytes(b64d(key[m]), "big")  # noqa: E731
    rsa.RSAPublicNumbers(num("e"), num("n")).public_key().verify(
        b64d(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    for bad in ("https://palisade.example.com/x?y=1", "ftp://palisade.example.com"):
        with pytest.raises(RuntimeError, match="--public-url"):
            start_server("--public-url", bad)


def test_the_aws_cli_enables_the_feature_and_gets_a_token(server):
    issuer = json.loads(server.aws("--profile", "palisade", "iam",
                                   "enable-outbound-web-identity-federation").stdout)["IssuerIdentifier"]
    # aws CLI v1 fetches parameters that look like URLs, so the audience here is not one.
    out = json.loads(server.aws("--profile", "palisade", "sts", "get-web-identity-token",
                                "--audience", "my-saas-api", "--signing-algorithm", "ES384",
                                "--duration-seconds", "120").stdout)
    _, claims = verify(out["WebIdentityToken"], issuer)
    assert claims["aud"] == "my-saas-api" and claims["exp"] - claims["iat"] == 120
    assert claims["sub"] == f"arn:aws:iam::{ACCOUNT}:root"


def test_an_outbound_token_is_no_way_back_in(server):
    # Bug: a token from GetWebIdentityToken was accepted by AssumeRoleWithWebIdentity (its
    # issuer registered as an OIDC provider): a session could mint itself a 12-hour one, and an
    # account vouch for another's principals. AWS refuses its outbound tokens there.
    iam = server.client("iam")
    iam.enable_outbound_web_identity_federation()
    token = server.client("sts").get_web_identity_token(Audience=["sts.amazonaws.com"], SigningAlgorithm="RS256")["WebIdentityToken"]
    with pytest.raises(ClientError) as e:
        server.unsigned("sts").assume_role_with_web_identity(
            RoleArn="arn:aws:iam::123456789012:role/any", RoleSessionName="back-in", WebIdentityToken=token
        )
    assert error(e)["Code"] == "InvalidIdentityToken"
    assert "GetWebIdentityToken" in error(e)["Message"]
