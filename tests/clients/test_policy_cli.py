"""`palisade policy simulate` and `palisade policy validate`, run as a user runs them."""

import json
import subprocess

from conftest import binary

ALLOW_GET = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"}],
}
DENY_FROM_OUTSIDE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        }
    ],
}


def run(*args, stdin=None):
    return subprocess.run([binary(), "policy", *args], input=stdin, capture_output=True, text=True, timeout=60)


def case(ip):
    return {
        "request": {
            "principal": "arn:aws:iam::111111111111:user/alice",
            "action": "s3:GetObject",
            "resource": "arn:aws:s3:::bucket/key",
            "resourceAccount": "111111111111",
            "context": {"aws:SourceIp": ip},
        },
        "identityPolicies": [ALLOW_GET, DENY_FROM_OUTSIDE],
    }


def test_simulate_prints_one_result_per_case_in_order(tmp_path):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([case("10.1.2.3"), case("192.0.2.1")]))
    r = run("simulate", str(path))
    assert r.returncode == 0, r.stderr
    results = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["decision"] for x in results] == ["Allowed", "ExplicitlyDenied"]
    assert results[1]["blockedBy"]


def test_simulate_without_any_allow_is_an_implicit_deny(tmp_path):
    c = case("10.1.2.3")
    c["identityPolicies"] = []
    path = tmp_path / "case.json"
    path.write_text(json.dumps(c))
    r = run("simulate", str(path))
    assert json.loads(r.stdout)["decision"] == "ImplicitlyDenied"


def test_simulate_names_the_bad_field(tmp_path):
    c = case("10.1.2.3")
    del c["request"]["action"]
    path = tmp_path / "case.json"
    path.write_text(json.dumps(c))
    r = run("simulate", str(path))
    assert r.returncode != 0
    assert "action" in r.stderr


def test_validate_flags_errors_and_exits_1(tmp_path):
    bad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObjectz", "Resource": "arn:aws:s3:::bucket/*"}],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    r = run("validate", str(path), "--format", "json")
    assert r.returncode == 1, r.stdout + r.stderr
    findings = json.loads(r.stdout)
    text = json.dumps(findings)
    assert "ERROR" in text
    assert "GetObjectz" in text or "s3:GetObjectz" in text


def test_validate_clean_policy_exits_0_with_a_table(tmp_path):
    path = tmp_path / "good.json"
    path.write_text(json.dumps(ALLOW_GET))
    r = run("validate", str(path))
    assert r.returncode == 0, r.stdout + r.stderr


def test_validate_reads_standard_input_and_knows_policy_types():
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    r = run("validate", "-", "--type", "trust", "--format", "json", stdin=json.dumps(trust))
    assert r.returncode == 1
    assert "ERROR" in r.stdout


def test_simulate_evaluates_date_conditions_at_the_current_time(tmp_path):
    # Regression: aws:CurrentTime was never set, so a Deny conditioned on it never applied
    # (AWS includes the request time in every request).
    c = case("10.1.2.3")
    c["identityPolicies"] = [
        ALLOW_GET,
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}
            ],
        },
    ]
    path = tmp_path / "case.json"
    path.write_text(json.dumps(c))
    assert json.loads(run("simulate", str(path)).stdout)["decision"] == "ExplicitlyDenied"
    c["request"]["context"]["aws:CurrentTime"] = "2019-06-01T00:00:00Z"
    path.write_text(json.dumps(c))
    assert json.loads(run("simulate", str(path)).stdout)["decision"] == "Allowed"


def test_validate_refuses_what_iam_refuses_in_sids_and_trust_policies(tmp_path):
    # Regressions: a Sid with a space was only a warning (IAM refuses it), and a trust policy
    # allowing s3:GetObject passed.
    sid = {"Version": "2012-10-17", "Statement": [{"Sid": "a b", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    path = tmp_path / "sid.json"
    path.write_text(json.dumps(sid))
    r = run("validate", str(path), "--format", "json")
    assert r.returncode == 1
    assert any(f["issueCode"] == "UNSUPPORTED_SID" and f["findingType"] == "ERROR" for f in json.loads(r.stdout))
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "s3:GetObject"}]}
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(trust))
    r = run("validate", str(path), "--type", "trust", "--format", "json")
    assert r.returncode == 1
    assert "AssumeRole policy may only specify STS AssumeRole actions." in r.stdout


def test_validate_refuses_a_github_actions_trust_policy_without_a_scoped_subject():
    # Regression: validate passed a trust policy that IAM refuses, one letting any GitHub
    # workflow assume the role.
    provider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    statement = {"Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
                 "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}
    trust = {"Version": "2012-10-17", "Statement": [statement]}
    r = run("validate", "-", "--type", "trust", "--format", "json", stdin=json.dumps(trust))
    assert r.returncode == 1
    [finding] = [f for f in json.loads(r.stdout) if f["findingType"] == "ERROR"]
    assert finding["issueCode"] == "MALFORMED_POLICY_DOCUMENT"
    assert "token.actions.githubusercontent.com:sub which is not scoped to all" in finding["message"], finding
    statement["Condition"]["StringLike"] = {"token.actions.githubusercontent.com:sub": "repo:o/r:*"}
    r = run("validate", "-", "--type", "trust", "--format", "json", stdin=json.dumps(trust))
    assert r.returncode == 0, r.stdout


def test_validate_reports_every_finding_with_its_path(tmp_path):
    # Regression: validation stopped at the first error IAM's parser found (here the misspelt
    # operator), printed it with PATH "-", and never reached the later statements.
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringEqualz": {"s3:prefix": "a"}}},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "notanarn"},
        ],
    }
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    r = run("validate", str(path), "--format", "json")
    assert r.returncode == 1, r.stderr
    found = {(f["issueCode"], f["path"]) for f in json.loads(r.stdout)}
    assert {
        ("INVALID_CONDITION_OPERATOR", "Statement[1].Condition.StringEqualz"),
        ("PASS_ROLE_WITH_STAR_IN_RESOURCE", "Statement[2].Resource"),
        ("INVALID_ARN", "Statement[3].Resource"),
        ("INVALID_ACTION", "Statement[3].Action"),
    } <= found, found
    table = run("validate", str(path)).stdout
    assert "Statement[1].Condition.StringEqualz" in table and "\n-" not in table


def test_validate_knows_the_kms_actions_the_server_authorizes():
    # Regression: kms:Encapsulate and kms:Decapsulate were INVALID_ACTION (exit 1).
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["kms:Encapsulate", "kms:Decapsulate"],
                       "Resource": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
    }
    r = run("validate", "-", "--format", "json", stdin=json.dumps(doc))
    assert r.returncode == 0, r.stdout
    assert json.loads(r.stdout) == []
