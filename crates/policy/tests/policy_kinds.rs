//! Checks that depend on the policy type: elements, versions, quotas.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use palisade_policy::{Policy, PolicyError, PolicyKind};

fn msg(doc: &str, kind: PolicyKind) -> String {
    Policy::parse(doc, kind).unwrap_err().aws_message()
}

const IDENTITY: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
const WITH_PRINCIPAL: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/R"},"Action":"s3:GetObject","Resource":"*"}}"#;
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;

#[test]
fn principal_is_forbidden_in_principal_attached_types() {
    for kind in [
        PolicyKind::Identity,
        PolicyKind::Boundary,
        PolicyKind::Session,
        PolicyKind::Scp,
    ] {
        assert_eq!(
            msg(WITH_PRINCIPAL, kind),
            "Policy document should not specify a principal.",
            "{kind}"
        );
    }
}

#[test]
fn principal_is_required_in_resource_types() {
    for kind in [
        PolicyKind::Resource,
        PolicyKind::Rcp,
        PolicyKind::VpcEndpoint,
    ] {
        assert_eq!(
            msg(IDENTITY, kind),
            "Missing required field Principal",
            "{kind}"
        );
    }
    assert!(Policy::parse(WITH_PRINCIPAL, PolicyKind::Resource).is_ok());
    assert!(Policy::parse(WITH_PRINCIPAL, PolicyKind::VpcEndpoint).is_ok());
    // Regression: our message said "a endpoint policy", "a rcp policy".
    for kind in [PolicyKind::VpcEndpoint, PolicyKind::Rcp] {
        let e = Policy::parse(IDENTITY, kind).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("statement 0 has no Principal, which {kind} policies require")
        );
    }
}

#[test]
fn trust_policies() {
    assert!(Policy::parse(TRUST, PolicyKind::Trust).is_ok());
    // Trust policies need no Resource, other types do.
    assert_eq!(
        msg(TRUST, PolicyKind::Resource),
        "Policy statement must contain resources."
    );
    let not_principal = TRUST.replace("\"Principal\"", "\"NotPrincipal\"");
    assert_eq!(
        msg(&not_principal, PolicyKind::Trust),
        "Has prohibited field NotPrincipal"
    );
    let not_resource = TRUST.replace("}}", ",\"NotResource\":\"*\"}}");
    assert_eq!(
        msg(&not_resource, PolicyKind::Trust),
        "Has prohibited field NotResource"
    );
    // Old trust policies use 2008-10-17.
    let old = TRUST.replace("2012-10-17", "2008-10-17");
    assert!(Policy::parse(&old, PolicyKind::Trust).is_ok());
}

#[test]
fn versions_by_type() {
    let old = IDENTITY.replace("2012-10-17", "2008-10-17");
    for kind in [PolicyKind::Identity, PolicyKind::Boundary, PolicyKind::Scp] {
        assert_eq!(
            msg(&old, kind),
            "Policy document must be version 2012-10-17 or greater.",
            "{kind}"
        );
    }
    assert!(Policy::parse(&old, PolicyKind::Session).is_ok());
    let p = Policy::parse(
        &WITH_PRINCIPAL.replace("2012-10-17", "2008-10-17"),
        PolicyKind::Resource,
    )
    .unwrap();
    assert!(!p.variables_enabled());
}

#[test]
fn rcp_restrictions() {
    let deny = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotEqualsIfExists":{"aws:PrincipalOrgID":"o-1"}}}}"#;
    assert!(Policy::parse(deny, PolicyKind::Rcp).is_ok());
    let allow = deny.replace("Deny", "Allow");
    assert!(matches!(
        Policy::parse(&allow, PolicyKind::Rcp),
        Err(PolicyError::Unsupported { .. })
    ));
    let named = deny.replace(
        "\"Principal\":\"*\"",
        "\"Principal\":{\"AWS\":\"111122223333\"}",
    );
    assert!(matches!(
        Policy::parse(&named, PolicyKind::Rcp),
        Err(PolicyError::Unsupported { .. })
    ));
}

#[test]
fn trust_policies_take_only_sts_actions() {
    // Regression: a trust policy allowing s3:GetObject was accepted.
    let trust = |action: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"123456789012"}},"Action":{action}}}}}"#
        )
    };
    for ok in [
        r#""sts:AssumeRole""#,
        r#"["sts:AssumeRole","STS:TagSession"]"#,
        r#""*""#,
    ] {
        assert!(Policy::parse(&trust(ok), PolicyKind::Trust).is_ok(), "{ok}");
    }
    let e = Policy::parse(&trust(r#""s3:GetObject""#), PolicyKind::Trust).unwrap_err();
    assert!(matches!(&e, PolicyError::TrustAction { action } if action == "s3:GetObject"));
    assert_eq!(
        e.aws_message(),
        "AssumeRole policy may only specify STS AssumeRole actions."
    );
}

#[test]
fn size_quotas_count_non_whitespace() {
    let pad = " ".repeat(10_000);
    let spaced = IDENTITY.replacen('{', &format!("{{{pad}"), 1);
    assert!(Policy::parse(&spaced, PolicyKind::Identity).is_ok());
    let big: Vec<String> = (0..400).map(|i| format!("\"s3:GetObject{i}\"")).collect();
    let doc = IDENTITY.replace("\"s3:GetObject\"", &format!("[{}]", big.join(",")));
    let e = Policy::parse(&doc, PolicyKind::Identity).unwrap_err();
    assert_eq!(e.aws_code(), "LimitExceeded");
    assert_eq!(e.aws_message(), "Cannot exceed quota for PolicySize: 6144");
    assert!(Policy::parse(&doc, PolicyKind::Session).is_err());
    let e = Policy::parse(&doc, PolicyKind::Scp).unwrap_err();
    assert_eq!(e.aws_message(), "Cannot exceed quota for PolicySize: 5120");
    assert!(Policy::parse_with_limit(&doc, PolicyKind::Identity, 10_240).is_ok());
}

#[test]
fn iam_stored_types_restrict_characters() {
    let doc = IDENTITY.replace("s3:GetObject", "s3:GetObjecté");
    assert!(Policy::parse(&doc, PolicyKind::Identity).is_ok());
    let doc = IDENTITY.replace("\"Effect\"", "\"Sid\":\"日本\",\"Effect\"");
    assert_eq!(msg(&doc, PolicyKind::Identity), "Syntax errors in policy.");
    let res = WITH_PRINCIPAL.replace("\"Effect\"", "\"Sid\":\"日本\",\"Effect\"");
    assert!(Policy::parse(&res, PolicyKind::Resource).is_ok());
}

#[test]
fn invalid_principals() {
    for (key, value) in [
        ("AWS", "arn:aws:iam::*:root"),
        ("AWS", "arn:aws:iam::111122223333:user/*"),
        ("AWS", "arn:aws:iam::111122223333:group/G"),
        ("AWS", "alice"),
        ("Service", "not a service"),
        ("CanonicalUser", "abc"),
    ] {
        let doc = WITH_PRINCIPAL.replace(
            r#"{"AWS":"arn:aws:iam::111122223333:role/R"}"#,
            &format!(r#"{{"{key}":"{value}"}}"#),
        );
        assert_eq!(
            msg(&doc, PolicyKind::Resource),
            format!("Invalid principal in policy: \"{key}\":\"{value}\"")
        );
    }
    for ok in [
        "*",
        "111122223333",
        "AIDAJQABLZS4A3QDU576Q",
        "arn:aws:sts::111122223333:assumed-role/R/s",
    ] {
        let doc = WITH_PRINCIPAL.replace("arn:aws:iam::111122223333:role/R", ok);
        assert!(Policy::parse(&doc, PolicyKind::Resource).is_ok(), "{ok}");
    }
}

/// Regression: `policy validate` showed Rust debug output: `policy version None is not
/// accepted`, `policy version Some("2008-10-17")`, `invalid Version String("2020-01-01")`.
#[test]
fn version_errors_show_values_plainly() {
    let statement = r#""Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#;
    let message = |version: &str| {
        let doc = format!("{{{version}{statement}}}");
        palisade_policy::lint::validate_policy(&doc, PolicyKind::Identity)
            .into_iter()
            .map(|f| f.message)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let cases = [
        (
            "",
            "a policy without a Version is not accepted for identity policies",
        ),
        (
            r#""Version":"2008-10-17","#,
            r#"policy version "2008-10-17" is not accepted for identity policies"#,
        ),
        (
            r#""Version":"2020-01-01","#,
            r#"invalid Version "2020-01-01": use "2012-10-17""#,
        ),
        (r#""Version":5,"#, r#"invalid Version 5: use "2012-10-17""#),
    ];
    for (version, want) in cases {
        let m = message(version);
        assert!(m.contains(want), "{version}: {m}");
        assert!(
            !m.contains("Some(") && !m.contains("None") && !m.contains("String("),
            "{m}"
        );
    }
}
