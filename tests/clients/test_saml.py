"""STS AssumeRoleWithSAML with SAML responses signed as identity providers sign them (signxml:
enveloped RSA-SHA256 signatures, exclusive canonicalization), checked against the IAM SAML
provider's metadata document."""

import base64
import datetime
import hashlib
import json
import uuid

import pytest
from botocore.exceptions import ClientError
from conftest import make_cert
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import XMLSigner, methods
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

ISSUER = "https://idp.example.com/saml"
AWS_SAML = "https://signin.aws.amazon.com/saml"


def key_and_cert(name):
    return make_cert(name, days=365)


class Idp:
    def __init__(self):
        self.key, self.cert = key_and_cert("idp.example.com")

    def metadata(self):
        der = base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()
        return f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{ISSUER}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{der}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""

    def response(
        self, roles, session_name="alice", lifetime=300, key=None, cert=None, tamper=None, audience=AWS_SAML,
        recipient=AWS_SAML, session_duration="1800", session_not_after=None, confirmations=1,
    ):
        """A base64 SAMLResponse whose assertion is signed (by this IdP unless `key` is given)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
        until = fmt(now + datetime.timedelta(seconds=lifetime))
        aid = "_" + uuid.uuid4().hex
        role_values = "".join(f"<saml:AttributeValue>{r}</saml:AttributeValue>" for r in roles)
        confirmation = f"""<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
      <saml:SubjectConfirmationData NotOnOrAfter="{until}" Recipient="{recipient}"/>
    </saml:SubjectConfirmation>"""
        authn = ""
        if session_not_after is not None:
            sna = fmt(now + datetime.timedelta(seconds=session_not_after))
            authn = f"""<saml:AuthnStatement AuthnInstant="{fmt(now)}" SessionNotOnOrAfter="{sna}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"""
        duration = (
            f"""<saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/SessionDuration"><saml:AttributeValue>{session_duration}</saml:AttributeValue></saml:Attribute>"""
            if session_duration
            else ""
        )
        assertion = f"""<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{aid}" IssueInstant="{fmt(now)}" Version="2.0">
  <saml:Issuer>{ISSUER}</saml:Issuer>
  <saml:Subject>
    <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">alice@example.com</saml:NameID>
    {confirmation * confirmations}
  </saml:Subject>
  <saml:Conditions NotBefore="{fmt(now - datetime.timedelta(seconds=60))}" NotOnOrAfter="{until}">
    <saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>
  </saml:Conditions>
  {authn}
  <saml:AttributeStatement>
    <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role">{role_values}</saml:Attribute>
    <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName"><saml:AttributeValue>{session_name}</saml:AttributeValue></saml:Attribute>
    {duration}
  </saml:AttributeStatement>
</saml:Assertion>"""
        signer = XMLSigner(
            method=methods.enveloped,
            signature_algorithm=SignatureMethod.RSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
        signed = signer.sign(
            etree.fromstring(assertion.encode()),
            key=(key or self.key).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            cert=(cert or self.cert).public_bytes(serialization.Encoding.PEM).decode(),
            reference_uri=aid,
        )
        signed_xml = etree.tostring(signed).decode()
        if tamper:
            signed_xml = tamper(signed_xml)
        response = f"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{fmt(now)}" Destination="{AWS_SAML}"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{ISSUER}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{signed_xml}</samlp:Response>"""
        return base64.b64encode(response.encode()).decode()


def error(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e["Message"]


def trust(provider, audience):
    """A trust policy letting the provider's users whose assertions are for `audience` in."""
    statement = {
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithSAML",
        "Condition": {"StringEquals": {"SAML:aud": audience}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture
def federation(server):
    """A SAML provider for a fresh IdP and a role its users may assume."""
    idp = Idp()
    iam = server.client("iam")
    provider = iam.create_saml_provider(Name="corp-idp", SAMLMetadataDocument=idp.metadata())["SAMLProviderArn"]
    role = iam.create_role(RoleName="engineer", AssumeRolePolicyDocument=trust(provider, AWS_SAML))["Role"]["Arn"]
    return idp, provider, role


def test_a_signed_assertion_assumes_the_role_it_offers(server, federation):
    idp, provider, role = federation
    account = role.split(":")[4]
    assertion = idp.response([f"{provider},{role}"])
    out = server.unsigned("sts").assume_role_with_saml(RoleArn=role, PrincipalArn=provider, SAMLAssertion=assertion)

    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/engineer/alice"
    assert out["Subject"] == "alice@example.com"
    assert out["SubjectType"] == "persistent"
    assert out["Issuer"] == ISSUER
    assert out["Audience"] == AWS_SAML
    qualifier = base64.b64encode(hashlib.sha1(f"{ISSUER}{account}/corp-idp".encode()).digest()).decode()
    assert out["NameQualifier"] == qualifier
    # The assertion's SessionDuration (30 minutes) is the session's length.
    lifetime = out["Credentials"]["Expiration"].timestamp() - datetime.datetime.now().timestamp()
    assert 1700 < lifetime <= 1800
    creds = out["Credentials"]
    sts = server.client(
        "sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"]
    )
    assert sts.get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]

    # The role may also be offered second in the pair, as some identity providers write it.
    server.unsigned("sts").assume_role_with_saml(
        RoleArn=role, PrincipalArn=provider, SAMLAssertion=idp.response([f"{role},{provider}"])
    )

    events = [e for e in server.events() if e["eventName"] == "AssumeRoleWithSAML"]
    assert events[0]["userIdentity"]["type"] == "SAMLUser"
    assert events[0]["userIdentity"]["identityProvider"] == qualifier
    assert events[0]["userIdentity"]["userName"] == "alice@example.com"
    assert assertion not in json.dumps(events)


def test_assertions_that_must_not_pass_get_awss_errors(server, federation):
    idp, provider, role = federation
    sts = server.unsigned("sts")

    def attempt(assertion, principal=provider):
        with pytest.raises(ClientError) as e:
            sts.assume_role_with_saml(RoleArn=role, PrincipalArn=principal, SAMLAssertion=assertion)
        return error(e)

    pair = [f"{provider},{role}"]
    # Changed after signing: another session name.
    code, message = attempt(idp.response(pair, tamper=lambda x: x.replace(">alice<", ">mallory<")))
    assert code == "InvalidIdentityToken" and "digest does not match" in message, message
    # Signed by a key the provider's metadata does not hold, whose certificate rides along in
    # the response's KeyInfo: that certificate is not trusted.
    other_key, other_cert = key_and_cert("attacker.example.com")
    code, message = attempt(idp.response(pair, key=other_key, cert=other_cert))
    assert code == "InvalidIdentityToken" and "does not verify" in message, message
    # Expired.
    code, _ = attempt(idp.response(pair, lifetime=-10))
    assert code == "ExpiredTokenException"
    # The assertion does not offer this role.
    code, _ = attempt(idp.response([f"{provider},{role}-other"]))
    assert code == "AccessDenied"
    # Made by the identity provider for another service.
    code, message = attempt(idp.response(pair, audience="https://wiki.example.com/saml"))
    assert code == "InvalidIdentityToken" and "not for AWS" in message, message
    # Nested deep enough to exhaust a recursive canonicalizer, before anything is verified.
    deep = "<x>" * 200 + "</x>" * 200
    code, message = attempt(idp.response(pair, tamper=lambda x: x.replace(">alice<", f">alice{deep}<")))
    assert code == "InvalidIdentityToken" and "nested deeper" in message, message
    # Not a SAML response.
    code, _ = attempt(base64.b64encode(b"<html/>").decode())
    assert code == "InvalidIdentityToken"

    # The trust policy decides: one that names another audience turns the user away.
    server.client("iam").update_assume_role_policy(
        RoleName="engineer", PolicyDocument=trust(provider, "https://elsewhere.example.com/saml")
    )
    assert attempt(idp.response(pair)) == ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithSAML")


def test_a_comment_inside_a_signed_value_does_not_cut_it_short(server, federation):
    # Regression for the SAML comment-injection attack: a comment inserted after signing leaves
    # the digest unchanged (canonicalization drops comments), and a reader taking only the first
    # text node would read "alice" where "alice.evil" was signed.
    idp, provider, role = federation
    assertion = idp.response(
        [f"{provider},{role}"], session_name="alice.evil", tamper=lambda x: x.replace(">alice.evil<", ">alice<!---->.evil<")
    )
    out = server.unsigned("sts").assume_role_with_saml(RoleArn=role, PrincipalArn=provider, SAMLAssertion=assertion)
    assert out["AssumedRoleUser"]["Arn"].endswith("/engineer/alice.evil")


def test_saml_providers_report_their_metadata_and_refuse_metadata_without_a_certificate(server):
    # Bugs: metadata whose only certificate was empty or not X.509 was accepted (no assertion
    # could ever verify); ValidUntil ignored the metadata's validUntil; SAMLProviderUUID was
    # missing; and saml:doc was not in the request context.
    idp = Idp()
    iam = server.client("iam")
    der = base64.b64encode(idp.cert.public_bytes(serialization.Encoding.DER)).decode()
    for junk in ("", "QUJD"):
        with pytest.raises(ClientError) as e:
            # (A comment keeps the document over the model's 1,000-character minimum.)
            doc = idp.metadata().replace(der, junk) + "<!--" + "p" * 1000 + "-->"
            iam.create_saml_provider(Name="bad", SAMLMetadataDocument=doc)
        assert error(e)[0] == "InvalidInput"
    dated = idp.metadata().replace(f'entityID="{ISSUER}"', f'entityID="{ISSUER}" validUntil="2031-05-01T00:00:00Z"')
    provider = iam.create_saml_provider(Name="corp", SAMLMetadataDocument=dated)["SAMLProviderArn"]
    got = iam.get_saml_provider(SAMLProviderArn=provider)
    assert got["ValidUntil"].year == 2031
    assert len(got["SAMLProviderUUID"]) == 36
    account = provider.split(":")[4]
    doc_trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider},
                    "Action": "sts:AssumeRoleWithSAML",
                    "Condition": {"StringEquals": {"saml:doc": f"{account}/corp"}},
                }
            ],
        }
    )
    role = iam.create_role(RoleName="by-doc", AssumeRolePolicyDocument=doc_trust)["Role"]["Arn"]
    out = server.unsigned("sts").assume_role_with_saml(
        RoleArn=role, PrincipalArn=provider, SAMLAssertion=idp.response([f"{provider},{role}"])
    )
    assert out["AssumedRoleUser"]["Arn"].endswith(":assumed-role/by-doc/alice")


def test_sessions_end_with_the_idps_session_and_assertions_are_for_aws(server, federation):
    # Bugs: SessionNotOnOrAfter was ignored (credentials outlived the IdP's session); a
    # Recipient that is not AWS's endpoint was accepted, and with two SubjectConfirmations the
    # second was read; SessionDuration lengthened API sessions past the one-hour default.
    idp, provider, role = federation
    iam = server.client("iam")
    iam.update_role(RoleName="engineer", MaxSessionDuration=7200)
    sts = server.unsigned("sts")

    def lifetime(out):
        return out["Credentials"]["Expiration"].timestamp() - datetime.datetime.now().timestamp()

    out = sts.assume_role_with_saml(RoleArn=role, PrincipalArn=provider, SAMLAssertion=idp.response([f"{provider},{role}"], session_duration=None, session_not_after=1000))
    assert 900 < lifetime(out) <= 1000
    out = sts.assume_role_with_saml(RoleArn=role, PrincipalArn=provider, SAMLAssertion=idp.response([f"{provider},{role}"], session_duration="7200"))
    assert 3500 < lifetime(out) <= 3600
    for bad in (dict(recipient="https://wiki.example.com/acs"), dict(confirmations=2)):
        with pytest.raises(ClientError) as e:
            sts.assume_role_with_saml(RoleArn=role, PrincipalArn=provider, SAMLAssertion=idp.response([f"{provider},{role}"], **bad))
        assert error(e)[0] == "InvalidIdentityToken", bad
    regional = idp.response([f"{provider},{role}"], recipient="https://eu-west-1.signin.aws.amazon.com/saml", audience="https://eu-west-1.signin.aws.amazon.com/saml")
    iam.update_assume_role_policy(RoleName="engineer", PolicyDocument=trust(provider, "https://eu-west-1.signin.aws.amazon.com/saml"))
    assert sts.assume_role_with_saml(RoleArn=role, PrincipalArn=provider, SAMLAssertion=regional)["Credentials"]
