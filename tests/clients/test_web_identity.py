"""STS AssumeRoleWithWebIdentity against a real OpenID Connect provider: an HTTPS server on
loopback with a self-signed certificate (trusted by its thumbprint, as IAM providers are),
publishing its discovery document and signing keys, and RS256 ID tokens signed with them."""

import base64
import json
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from conftest import make_cert
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

AUDIENCE = "sts.amazonaws.com"
SUBJECT = "repo:acme/app:ref:refs/heads/main"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64int(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def make_ca():
    return make_cert("Test Root CA", ca=True)


class Idp:
    """An OpenID Connect provider serving its keys over HTTPS on an ephemeral port."""

    def __init__(self, ca=None, impostor_of=None):
        """Self-signed by default; `ca=(key, cert)` serves a leaf that CA signed; `impostor_of=ca`
        serves a self-signed leaf with that CA's (public) certificate sent alongside it."""
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        tls_key, cert = make_cert("127.0.0.1", issuer=ca, san_ip="127.0.0.1", days=1)
        chain = [cert] + ([ca[1]] if ca else []) + ([impostor_of[1]] if impostor_of else [])
        self.thumbprint = cert.fingerprint(hashes.SHA1()).hex()
        self.dir = tempfile.TemporaryDirectory(prefix="palisade-idp-")
        cert_path, key_path = Path(self.dir.name) / "cert.pem", Path(self.dir.name) / "key.pem"
        cert_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
        key_path.write_bytes(
            tls_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": idp.url, "jwks_uri": idp.url + "/jwks"}
                elif self.path == "/jwks":
                    body = {"keys": [idp.jwk()]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"https://{self.host}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def jwk(self):
        numbers = self.key.public_key().public_numbers()
        return {"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": b64int(numbers.n), "e": b64int(numbers.e)}

    def token(self, key=None, **claims):
        now = int(time.time())
        body = {"iss": self.url, "aud": AUDIENCE, "sub": SUBJECT, "iat": now, "exp": now + 600, **claims}
        signed = f"{b64url(json.dumps({'alg': 'RS256', 'kid': 'k1', 'typ': 'JWT'}).encode())}.{b64url(json.dumps(body).encode())}"
        signature = (key or self.key).sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signed}.{b64url(signature)}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.dir.cleanup()


@pytest.fixture
def idp():
    p = Idp()
    yield p
    p.close()


def error(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e["Message"]


def deploy_role(server, idp):
    """A provider for `idp` and a role that its tokens for acme/app's main branch may assume."""
    iam = server.client("iam")
    provider = iam.create_open_id_connect_provider(
        Url=idp.url, ClientIDList=[AUDIENCE], ThumbprintList=[idp.thumbprint]
    )["OpenIDConnectProviderArn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{idp.host}:aud": AUDIENCE},
                    "StringLike": {f"{idp.host}:sub": "repo:acme/app:ref:refs/heads/main"},
                },
            }
        ],
    }
    role = iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(
        RoleName="deploy",
        PolicyName="list-users",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}
        ),
    )
    return provider, role["Arn"]


def test_a_providers_token_assumes_the_role_its_trust_policy_names_with_the_roles_permissions(server, idp):
    provider, role_arn = deploy_role(server, idp)
    account = role_arn.split(":")[4]
    token = idp.token()

    out = server.unsigned("sts").assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="ci", WebIdentityToken=token, DurationSeconds=900
    )
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/deploy/ci"
    assert out["SubjectFromWebIdentityToken"] == SUBJECT
    assert out["Audience"] == AUDIENCE
    assert out["Provider"] == idp.host
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    lifetime = creds["Expiration"].timestamp() - time.time()
    assert 800 < lifetime <= 900

    # The session has the role's permissions and no more.
    def client(service):
        return server.client(
            service, key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"]
        )

    assert client("sts").get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]
    client("iam").list_users()
    with pytest.raises(ClientError) as e:
        client("iam").list_roles()
    assert error(e)[0] == "AccessDenied"

    # The real aws CLI sends the call unsigned as well.
    cli = server.aws(
        "sts",
        "assume-role-with-web-identity",
        "--role-arn",
        role_arn,
        "--role-session-name",
        "cli",
        "--web-identity-token",
        idp.token(),
    )
    assert json.loads(cli.stdout)["AssumedRoleUser"]["Arn"].endswith(":assumed-role/deploy/cli")

    # The audit trail has the call, from the web identity, without its token.
    events = [e for e in server.events() if e["eventName"] == "AssumeRoleWithWebIdentity"]
    assert len(events) == 2 and all(e.get("errorCode") is None for e in events)
    assert events[0]["userIdentity"]["type"] == "WebIdentityUser"
    assert events[0]["userIdentity"]["userName"] == SUBJECT
    assert events[0]["userIdentity"]["identityProvider"] == idp.host
    assert events[0]["userIdentity"]["principalId"] == f"{idp.host}:{AUDIENCE}:{SUBJECT}"
    assert token not in json.dumps(events)
    assert events[0]["requestParameters"]["webIdentityToken"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert creds["SecretAccessKey"] not in json.dumps(events)
    # What the session then does names the provider it came from, as CloudTrail does.
    listed = [e for e in server.events() if e["eventName"] == "ListUsers"]
    context = listed[0]["userIdentity"]["sessionContext"]
    assert context["webIdFederationData"]["federatedProvider"] == provider
    assert context["sessionIssuer"]["arn"] == role_arn


def test_tokens_that_must_not_pass_get_awss_errors(server, idp):
    provider, role_arn = deploy_role(server, idp)
    sts = server.unsigned("sts")

    def attempt(token):
        with pytest.raises(ClientError) as e:
            sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="ci", WebIdentityToken=token)
        return error(e)

    # Signed by the provider, but for a branch the trust policy does not name.
    assert attempt(idp.token(sub="repo:acme/app:ref:refs/heads/feature")) == (
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
    )
    # For another audience.
    assert attempt(idp.token(aud="someone-else")) == ("InvalidIdentityToken", "Incorrect token audience")
    # Expired.
    code, message = attempt(idp.token(exp=int(time.time()) - 60))
    assert code == "ExpiredTokenException" and message.startswith("Token expired: current date/time")
    # Signed by a key the provider does not publish.
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    code, message = attempt(idp.token(key=forger))
    assert code == "InvalidIdentityToken" and "signature does not verify" in message, message
    # From an issuer that is not a provider of the account.
    assert attempt(idp.token(iss="https://idp.example.com")) == (
        "InvalidIdentityToken",
        "No OpenIDConnect provider found in your account for https://idp.example.com",
    )
    # Not a token at all.
    code, _ = attempt("not-a-jwt")
    assert code == "InvalidIdentityToken"

    # A provider whose thumbprint is not the server's certificate's is not trusted for keys.
    server.client("iam").update_open_id_connect_provider_thumbprint(
        OpenIDConnectProviderArn=provider, ThumbprintList=["0" * 40]
    )
    code, message = attempt(idp.token())
    # AWS's code for a provider it cannot get keys from (botocore retries IDPCommunicationError).
    assert code == "InvalidIdentityToken" and message.startswith("Couldn't retrieve verification key") and "TLS" in message, message

    # Every refusal is audited with its error code, as CloudTrail names it: the model's error
    # shape (`InvalidIdentityTokenException`), not the wire code.
    codes = [e.get("errorCode") for e in server.events() if e["eventName"] == "AssumeRoleWithWebIdentity"]
    assert codes == [
        "AccessDenied",
        "InvalidIdentityTokenException",
        "ExpiredTokenException",
        "InvalidIdentityTokenException",
        "InvalidIdentityTokenException",
        "InvalidIdentityTokenException",
        "InvalidIdentityTokenException",
    ]


def test_session_tags_in_the_token_tag_the_session_when_the_trust_policy_allows_tagging(server, idp):
    provider, role_arn = deploy_role(server, idp)
    iam = server.client("iam")
    iam.put_role_policy(
        RoleName="deploy",
        PolicyName="list-users",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "iam:ListUsers",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:PrincipalTag/env": "prod"}},
                    }
                ],
            }
        ),
    )
    token = idp.token(
        **{
            "https://aws.amazon.com/tags": {"principal_tags": {"env": ["prod"]}, "transitive_tag_keys": ["env"]},
            "https://aws.amazon.com/source_identity": "alice",
        }
    )
    sts = server.unsigned("sts")
    # The trust policy allows the assume but not tagging it or setting its source identity.
    with pytest.raises(ClientError) as e:
        sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="ci", WebIdentityToken=token)
    assert error(e) == ("AccessDenied", "Not authorized to perform sts:TagSession")

    trust = iam.get_role(RoleName="deploy")["Role"]["AssumeRolePolicyDocument"]  # parsed by boto3
    trust["Statement"][0]["Action"] = ["sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"]
    iam.update_assume_role_policy(RoleName="deploy", PolicyDocument=json.dumps(trust))
    out = sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="ci", WebIdentityToken=token)
    assert out["SourceIdentity"] == "alice"
    creds = out["Credentials"]
    session = server.client(
        "iam", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"]
    )
    session.list_users()  # allowed only for sessions tagged env=prod
    # Bug: a token's tags escaped STS's tag rules (aws: keys, a key twice in two cases, plain
    # strings instead of AWS's one-value lists, a claim that is no object).
    for claim in (
        {"principal_tags": {"aws:env": ["prod"]}},
        {"principal_tags": {"env": ["prod"], "ENV": ["dev"]}},
        {"principal_tags": {"env": "prod"}},
        "env=prod",
    ):
        bad = idp.token(**{"https://aws.amazon.com/tags": claim})
        with pytest.raises(ClientError) as e:
            sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="ci", WebIdentityToken=bad)
        assert error(e)[0] in ("InvalidParameterValue", "InvalidIdentityToken"), claim


def test_keys_come_only_from_a_server_that_chains_to_the_pinned_ca(server):
    ca = make_ca()
    ca_thumbprint = ca[1].fingerprint(hashes.SHA1()).hex()
    iam = server.client("iam")
    real, impostor = Idp(ca=ca), Idp(impostor_of=ca)
    try:
        # Without a ThumbprintList IAM records the top certificate the server presents: the CA.
        created = iam.create_open_id_connect_provider(Url=real.url, ClientIDList=[AUDIENCE])
        got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=created["OpenIDConnectProviderArn"])
        assert got["ThumbprintList"] == [ca_thumbprint]
        iam.create_open_id_connect_provider(Url=impostor.url, ClientIDList=[AUDIENCE], ThumbprintList=[ca_thumbprint])
        for name, p in (("real", real), ("fake", impostor)):
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{p.host}"},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                    }
                ],
            }
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        sts = server.unsigned("sts")
        # A leaf the pinned CA signed is trusted.
        sts.assume_role_with_web_identity(
            RoleArn="arn:aws:iam::123456789012:role/real", RoleSessionName="ci", WebIdentityToken=real.token()
        )
        # A self-signed leaf sent with the (public) pinned CA certificate beside it is not.
        with pytest.raises(ClientError) as e:
            sts.assume_role_with_web_identity(
                RoleArn="arn:aws:iam::123456789012:role/fake", RoleSessionName="ci", WebIdentityToken=impostor.token()
            )
        assert error(e)[0] == "InvalidIdentityToken" and "verification key" in error(e)[1], error(e)
    finally:
        real.close()
        impostor.close()


def test_the_aws_cli_assumes_a_role_from_a_token_file_as_it_does_in_kubernetes(server, idp, tmp_path):
    # The IRSA / GitHub Actions flow: no keys at all, only AWS_WEB_IDENTITY_TOKEN_FILE and
    # AWS_ROLE_ARN; the CLI's credential chain calls AssumeRoleWithWebIdentity by itself.
    _, role_arn = deploy_role(server, idp)
    token_file = tmp_path / "token"
    token_file.write_text(idp.token())
    env = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_ARN": role_arn,
        "AWS_ROLE_SESSION_NAME": "pod-1",
        "AWS_ENDPOINT_URL": server.url,
    }
    out = server.aws("sts", "get-caller-identity", env=env)
    assert json.loads(out.stdout)["Arn"].endswith(":assumed-role/deploy/pod-1")
    out = server.aws("iam", "list-users", env=env)  # the role's permission, through the session
    assert "Users" in json.loads(out.stdout)


def test_a_provider_created_without_thumbprints_trusts_the_certificate_its_server_presents(server, idp):
    iam = server.client("iam")
    arn = iam.create_open_id_connect_provider(Url=idp.url, ClientIDList=[AUDIENCE])["OpenIDConnectProviderArn"]
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ThumbprintList"] == [idp.thumbprint]
    # An issuer that cannot be reached is refused, naming what to give instead.
    with pytest.raises(ClientError) as e:
        iam.create_open_id_connect_provider(Url="https://127.0.0.1:9", ClientIDList=[AUDIENCE])
    code, message = error(e)
    assert code == "InvalidInput" and "ThumbprintList" in message, message


def test_provider_urls_and_thumbprints_iam_refuses(server, idp):
    # Bugs: a query or fragment in the URL was silently dropped (and user information kept in
    # the ARN), and thumbprints that are not hex were stored; an access token sent as the web
    # identity token got Palisade's own words, not STS's.
    iam = server.client("iam")
    for url in ("https://idp.example.com/x?y=z", "https://idp.example.com/#f", "https://user:pw@idp.example.com"):
        with pytest.raises(ClientError) as e:
            iam.create_open_id_connect_provider(Url=url, ClientIDList=["a"], ThumbprintList=["a" * 40])
        assert error(e)[0] == "InvalidInput", url
    with pytest.raises(ClientError) as e:
        iam.create_open_id_connect_provider(Url="https://idp.example.com", ClientIDList=["a"], ThumbprintList=["z" * 40])
    assert error(e)[0] == "InvalidInput"
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    provider, role_arn = deploy_role(server, idp)
    with pytest.raises(ClientError) as e:
        server.unsigned("sts").assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="ci", WebIdentityToken="an-opaque-access-token")
    assert error(e) == (
        "InvalidIdentityToken",
        "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)",
    )


def test_a_trust_policy_for_github_actions_must_scope_the_tokens_subject(server):
    # Regression: a role trusting GitHub's OIDC provider with no sub condition, only an aud
    # one, or sub "*" was accepted: any workflow of any repository on GitHub could assume it.
    iam = server.client("iam")
    provider = iam.create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40],
    )["OpenIDConnectProviderArn"]
    aud = {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}

    def trust(condition=None):
        statement = {"Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity"}
        if condition is not None:
            statement["Condition"] = condition
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    message = (
        f"Trust policy with trusted principal {provider} must evaluate, using StringEquals, StringLike or "
        "StringEqualsIgnoreCase, token.actions.githubusercontent.com:sub which is not scoped to all."
    )
    unscoped = [None, aud, {**aud, "StringLike": {"token.actions.githubusercontent.com:sub": "*"}},
                {"StringNotEquals": {"token.actions.githubusercontent.com:sub": "repo:evil/*"}}]
    for condition in unscoped:
        with pytest.raises(ClientError) as e:
            iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=trust(condition))
        assert error(e) == ("MalformedPolicyDocument", message), condition
    scoped = {**aud, "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo-org/octo-repo:*"}}
    iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=trust(scoped))
    for condition in unscoped:
        with pytest.raises(ClientError) as e:
            iam.update_assume_role_policy(RoleName="deploy", PolicyDocument=trust(condition))
        assert error(e) == ("MalformedPolicyDocument", message), condition
    iam.update_assume_role_policy(
        RoleName="deploy", PolicyDocument=trust({"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:o/r:ref:refs/heads/main"}}),
    )
