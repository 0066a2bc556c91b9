//! Property tests: wildcard matching against a regex reference, a
//! differential test of identity-policy evaluation against a small
//! reference evaluator, evaluation invariants, and parsers that never panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use palisade_policy::lint::{has_errors, validate_policy};
use palisade_policy::pattern::{Template, glob_pieces, matches};
use palisade_policy::simulate::simulate_cases;
use palisade_policy::{
    CompiledPolicy, Context, DecisionKind, EvaluationInput, Policy, PolicyKind, PolicySet,
    Principal, Request, evaluate,
};
use proptest::prelude::*;
use regex::Regex;

fn glob_regex(p: &str, case_insensitive: bool) -> Regex {
    let mut r = String::from(if case_insensitive { "(?is)^" } else { "(?s)^" });
    for c in p.chars() {
        match c {
            '*' => r.push_str(".*"),
            '?' => r.push('.'),
            c => r.push_str(&regex::escape(&c.to_string())),
        }
    }
    r.push('$');
    Regex::new(&r).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn glob_matches_like_regex(p in "[ab*?/:é]{0,8}", t in "[ab/:é]{0,10}") {
        prop_assert_eq!(matches(&glob_pieces(&p, true), &t), glob_regex(&p, false).is_match(&t), "pattern {:?} text {:?}", p, t);
    }

    #[test]
    fn template_without_variables_is_the_glob(p in "[ab*?$]{0,8}", t in "[ab*?$]{0,8}") {
        let tpl = Template::new(&p, true, true);
        prop_assert_eq!(tpl.matches(&t, |_| None), glob_regex(&p, false).is_match(&t));
    }

    #[test]
    fn policy_parser_never_panics(s in "\\PC{0,200}") {
        for kind in PolicyKind::ALL {
            let _ = Policy::parse(&s, kind);
        }
        let _ = validate_policy(&s, PolicyKind::Identity);
        let _ = simulate_cases(&s);
    }

    #[test]
    fn structured_garbage_never_panics(doc in json_like()) {
        for kind in PolicyKind::ALL {
            let parsed = Policy::parse(&doc, kind);
            if let Ok(p) = &parsed {
                let _ = CompiledPolicy::new(p);
            }
            let findings = validate_policy(&doc, kind);
            // The validator reports all of IAM's checks, the parser the first failure: a
            // document IAM refuses is never passed (size aside, a warning where the quota
            // depends on where the policy goes).
            if let Err(e) = &parsed {
                let size = matches!(e, palisade_policy::PolicyError::TooLarge { .. });
                prop_assert!(size || has_errors(&findings), "{kind} {doc}: {e}");
            }
        }
    }

    #[test]
    fn dates_and_templates_never_panic(s in "\\PC{0,40}") {
        let _ = palisade_policy::date::parse(&s);
        let t = Template::new(&s, true, true);
        let _ = t.matches(&s, |_| Some("x"));
        let _ = palisade_policy::ip::Cidr::parse(&s);
        let _ = palisade_policy::base64::decode(&s);
    }
}

/// JSON-ish documents built from policy vocabulary, so that the fuzzer
/// reaches deep into the validator.
fn json_like() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("\"*\"".to_string()),
        Just("\"2012-10-17\"".to_string()),
        Just("\"Allow\"".to_string()),
        Just("\"s3:Get*\"".to_string()),
        Just("\"arn:aws:s3:::b/${aws:username}\"".to_string()),
        Just("\"arn:aws:iam::111122223333:root\"".to_string()),
        Just("\"2016-12-13t2:00:00\"".to_string()),
        Just("true".to_string()),
        Just("12".to_string()),
        Just("null".to_string()),
        "\"[a-z:*/${}?]{0,12}\"",
    ];
    let key = prop_oneof![
        Just("Version"),
        Just("Statement"),
        Just("Effect"),
        Just("Action"),
        Just("NotAction"),
        Just("Resource"),
        Just("NotResource"),
        Just("Principal"),
        Just("NotPrincipal"),
        Just("Condition"),
        Just("AWS"),
        Just("Service"),
        Just("StringLike"),
        Just("ForAllValues:StringEquals"),
        Just("DateGreaterThan"),
        Just("Null"),
        Just("aws:TagKeys"),
        Just("Sid"),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((key.clone(), inner), 0..5).prop_map(|v| {
                let members: Vec<String> =
                    v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

// ---- Differential test against a reference evaluator ----

#[derive(Debug, Clone)]
struct Stmt {
    deny: bool,
    not_action: bool,
    actions: Vec<&'static str>,
    not_resource: bool,
    resources: Vec<&'static str>,
    cond: Option<(bool, &'static str)>,
}

const ACTIONS: [&str; 9] = [
    "s3:GetObject",
    "s3:Get*",
    "s3:*",
    "*",
    "sqs:SendMessage",
    "s3:?etObject",
    "S3:GETOBJECT",
    "ec2:*",
    "s3:Put*",
];
const RESOURCES: [&str; 8] = [
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::*",
    "arn:aws:sqs:us-east-1:111111111111:q",
    "arn:aws:s3:::c/*",
    "arn:aws:s3:::b/?",
    "arn:aws:sqs:*:111111111111:*",
];
const REQ_ACTIONS: [&str; 4] = [
    "s3:GetObject",
    "s3:PutObject",
    "sqs:SendMessage",
    "ec2:RunInstances",
];
const REQ_RESOURCES: [&str; 4] = [
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::c/x",
    "arn:aws:sqs:us-east-1:111111111111:q",
    "arn:aws:s3:::b/kk",
];

fn stmt() -> impl Strategy<Value = Stmt> {
    (
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::collection::vec(prop::sample::select(&ACTIONS[..]), 1..3),
        prop::bool::weighted(0.2),
        prop::collection::vec(prop::sample::select(&RESOURCES[..]), 1..3),
        prop::option::of((any::<bool>(), prop::sample::select(&["red", "blue"][..]))),
    )
        .prop_map(
            |(deny, not_action, actions, not_resource, resources, cond)| Stmt {
                deny,
                not_action,
                actions,
                not_resource,
                resources,
                cond,
            },
        )
}

fn to_json(stmts: &[Stmt]) -> String {
    let s: Vec<serde_json::Value> = stmts
        .iter()
        .map(|s| {
            let mut o = serde_json::json!({"Effect": if s.deny {"Deny"} else {"Allow"}});
            o[if s.not_action { "NotAction" } else { "Action" }] = serde_json::json!(s.actions);
            o[if s.not_resource {
                "NotResource"
            } else {
                "Resource"
            }] = serde_json::json!(s.resources);
            if let Some((neg, v)) = s.cond {
                let op = if neg {
                    "StringNotEquals"
                } else {
                    "StringEquals"
                };
                o["Condition"] = serde_json::json!({op: {"aws:PrincipalTag/team": v}});
            }
            o
        })
        .collect();
    serde_json::json!({"Version": "2012-10-17", "Statement": s}).to_string()
}

fn seg_match(p: &str, t: &str, ci: bool) -> bool {
    glob_regex(p, ci).is_match(t)
}

fn ref_resource(p: &str, r: &str) -> bool {
    if p == "*" {
        return true;
    }
    let ps: Vec<&str> = p.splitn(6, ':').collect();
    let rs: Vec<&str> = r.splitn(6, ':').collect();
    (0..6).all(|i| seg_match(ps.get(i).unwrap_or(&"*"), rs.get(i).unwrap_or(&""), i < 5))
}

fn ref_applies(s: &Stmt, action: &str, resource: &str, team: Option<&str>) -> bool {
    let a = s.actions.iter().any(|p| seg_match(p, action, true));
    if a == s.not_action {
        return false;
    }
    let r = s.resources.iter().any(|p| ref_resource(p, resource));
    if r == s.not_resource {
        return false;
    }
    match s.cond {
        None => true,
        Some((neg, v)) => match team {
            None => neg,
            Some(t) => (t == v) != neg,
        },
    }
}

fn reference(
    policies: &[Vec<Stmt>],
    action: &str,
    resource: &str,
    team: Option<&str>,
) -> DecisionKind {
    let all = policies.iter().flatten();
    let applying: Vec<&Stmt> = all
        .filter(|s| ref_applies(s, action, resource, team))
        .collect();
    if applying.iter().any(|s| s.deny) {
        DecisionKind::ExplicitlyDenied
    } else if applying.iter().any(|s| !s.deny) {
        DecisionKind::Allowed
    } else {
        DecisionKind::ImplicitlyDenied
    }
}

fn engine(
    policies: &[Vec<Stmt>],
    action: &str,
    resource: &str,
    team: Option<&str>,
) -> DecisionKind {
    let set: PolicySet = policies
        .iter()
        .map(|p| CompiledPolicy::parse(&to_json(p), PolicyKind::Identity).unwrap())
        .collect();
    let mut ctx = Context::new();
    if let Some(t) = team {
        ctx = ctx.with("aws:PrincipalTag/team", t);
    }
    let req = Request::new(
        Principal::parse("arn:aws:iam::111111111111:user/alice").unwrap(),
        action,
        resource,
        None,
        ctx,
    );
    evaluate(&EvaluationInput::new(&req).with_identity(&set)).decision
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, .. ProptestConfig::default() })]

    #[test]
    fn identity_evaluation_matches_reference(
        policies in prop::collection::vec(prop::collection::vec(stmt(), 1..4), 0..4),
        action in prop::sample::select(&REQ_ACTIONS[..]),
        resource in prop::sample::select(&REQ_RESOURCES[..]),
        team in prop::option::of(prop::sample::select(&["red", "blue"][..])),
    ) {
        prop_assert_eq!(
            engine(&policies, action, resource, team),
            reference(&policies, action, resource, team),
            "{:?}", policies.iter().map(|p| to_json(p)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn adding_a_deny_never_allows(
        policies in prop::collection::vec(prop::collection::vec(stmt(), 1..4), 1..3),
        mut extra in stmt(),
        action in prop::sample::select(&REQ_ACTIONS[..]),
        resource in prop::sample::select(&REQ_RESOURCES[..]),
        team in prop::option::of(prop::sample::select(&["red", "blue"][..])),
    ) {
        extra.deny = true;
        let before = engine(&policies, action, resource, team);
        let mut more = policies.clone();
        more.push(vec![extra]);
        let after = engine(&more, action, resource, team);
        if before != DecisionKind::Allowed {
            prop_assert_ne!(after, DecisionKind::Allowed);
        }
        if before == DecisionKind::ExplicitlyDenied {
            prop_assert_eq!(after, DecisionKind::ExplicitlyDenied);
        }
    }

    #[test]
    fn adding_an_allow_never_lifts_an_explicit_deny(
        policies in prop::collection::vec(prop::collection::vec(stmt(), 1..4), 1..3),
        mut extra in stmt(),
        action in prop::sample::select(&REQ_ACTIONS[..]),
        resource in prop::sample::select(&REQ_RESOURCES[..]),
    ) {
        extra.deny = false;
        let before = engine(&policies, action, resource, None);
        let mut more = policies.clone();
        more.push(vec![extra]);
        let after = engine(&more, action, resource, None);
        if before == DecisionKind::ExplicitlyDenied {
            prop_assert_eq!(after, DecisionKind::ExplicitlyDenied);
        }
        if before == DecisionKind::Allowed {
            prop_assert_eq!(after, DecisionKind::Allowed);
        }
    }

    #[test]
    fn a_boundary_never_widens(
        policies in prop::collection::vec(prop::collection::vec(stmt(), 1..4), 1..3),
        boundary in prop::collection::vec(stmt(), 1..4),
        action in prop::sample::select(&REQ_ACTIONS[..]),
        resource in prop::sample::select(&REQ_RESOURCES[..]),
    ) {
        let before = engine(&policies, action, resource, None);
        let set: PolicySet = policies
            .iter()
            .map(|p| CompiledPolicy::parse(&to_json(p), PolicyKind::Identity).unwrap())
            .collect();
        let pb = PolicySet::from(CompiledPolicy::parse(&to_json(&boundary), PolicyKind::Boundary).unwrap());
        let req = Request::new(
            Principal::parse("arn:aws:iam::111111111111:user/alice").unwrap(),
            action, resource, None, Context::new(),
        );
        let after = evaluate(&EvaluationInput::new(&req).with_identity(&set).with_boundary(&pb)).decision;
        if before != DecisionKind::Allowed {
            prop_assert_ne!(after, DecisionKind::Allowed);
        }
    }
}

fn compile_all(policies: &[Vec<Stmt>], kind: PolicyKind) -> PolicySet {
    policies
        .iter()
        .map(|p| CompiledPolicy::parse(&to_json(p), kind).unwrap())
        .collect()
}

fn layered_engine(
    identity: &[Vec<Stmt>],
    boundary: &Option<Vec<Stmt>>,
    scps: &[Vec<Vec<Stmt>>],
    action: &str,
    resource: &str,
) -> DecisionKind {
    let id = compile_all(identity, PolicyKind::Identity);
    let pb = boundary
        .as_ref()
        .map(|b| compile_all(std::slice::from_ref(b), PolicyKind::Boundary));
    let levels: Vec<PolicySet> = scps
        .iter()
        .map(|l| compile_all(l, PolicyKind::Scp))
        .collect();
    let req = Request::new(
        Principal::parse("arn:aws:iam::111111111111:user/alice").unwrap(),
        action,
        resource,
        None,
        Context::new(),
    );
    let mut input = EvaluationInput::new(&req)
        .with_identity(&id)
        .with_scps(&levels);
    if let Some(pb) = &pb {
        input = input.with_boundary(pb);
    }
    evaluate(&input).decision
}

/// The layer logic written directly from the AWS flowchart.
fn layered_reference(
    identity: &[Vec<Stmt>],
    boundary: &Option<Vec<Stmt>>,
    scps: &[Vec<Vec<Stmt>>],
    action: &str,
    resource: &str,
) -> DecisionKind {
    let applies = |ps: &[Vec<Stmt>], deny: bool| {
        ps.iter()
            .flatten()
            .any(|s| s.deny == deny && ref_applies(s, action, resource, None))
    };
    let all_sets: Vec<&[Vec<Stmt>]> = std::iter::once(identity)
        .chain(boundary.as_ref().map(std::slice::from_ref))
        .chain(scps.iter().map(Vec::as_slice))
        .collect();
    if all_sets.iter().any(|s| applies(s, true)) {
        return DecisionKind::ExplicitlyDenied;
    }
    let scp_ok = scps.iter().all(|l| applies(l, false));
    let pb_ok = boundary
        .as_ref()
        .is_none_or(|b| applies(std::slice::from_ref(b), false));
    if applies(identity, false) && pb_ok && scp_ok {
        DecisionKind::Allowed
    } else {
        DecisionKind::ImplicitlyDenied
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 800, .. ProptestConfig::default() })]

    #[test]
    fn layered_evaluation_matches_reference(
        identity in prop::collection::vec(prop::collection::vec(stmt(), 1..3), 0..3),
        boundary in prop::option::of(prop::collection::vec(stmt(), 1..3)),
        scps in prop::collection::vec(prop::collection::vec(prop::collection::vec(stmt(), 1..3), 0..2), 0..3),
        action in prop::sample::select(&REQ_ACTIONS[..]),
        resource in prop::sample::select(&REQ_RESOURCES[..]),
    ) {
        prop_assert_eq!(
            layered_engine(&identity, &boundary, &scps, action, resource),
            layered_reference(&identity, &boundary, &scps, action, resource)
        );
    }
}
