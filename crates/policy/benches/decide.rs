//! Decision benchmark: `cargo bench -p palisade-policy`.
//!
//! Prints decisions/s and per-decision p50/p99 for each scenario (`BENCH_ONLY="(b)"` for one). Each
//! sample times a batch of 32 decisions (an `Instant` read costs tens of
//! nanoseconds), so the percentiles are of batch means.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use palisade_policy::{
    CompiledPolicy, Context, EvaluationInput, PolicyKind, PolicySet, Principal, Request, Value,
    evaluate,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

const BATCH: u32 = 32;

fn measure(name: &str, mut f: impl FnMut() -> bool) {
    // `BENCH_ONLY="(b)"` runs the scenarios whose name contains it (to profile one alone).
    if std::env::var("BENCH_ONLY").is_ok_and(|only| !name.contains(&only)) {
        return;
    }
    // Warm up (also loads the embedded service data).
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(300) {
        black_box(f());
    }
    let mut samples = Vec::with_capacity(40_000);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        for _ in 0..BATCH {
            black_box(f());
        }
        samples.push(t.elapsed().as_nanos() as f64 / f64::from(BATCH));
    }
    let total = start.elapsed().as_secs_f64();
    let n = samples.len() as f64 * f64::from(BATCH);
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize] / 1000.0;
    println!(
        "{name:<58} {:>10.0} decisions/s   p50 {:>6.2} µs   p99 {:>6.2} µs",
        n / total,
        pct(0.50),
        pct(0.99)
    );
}

fn compile(kind: PolicyKind, doc: &str) -> CompiledPolicy {
    CompiledPolicy::parse(doc, kind).unwrap()
}

fn main() {
    let alice = Principal::parse("arn:aws:iam::111111111111:user/alice").unwrap();

    // (a) One identity policy.
    let one: PolicySet = PolicySet::from(compile(
        PolicyKind::Identity,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::bucket/*"}]}"#,
    ));
    let req_a = Request::new(
        alice.clone(),
        "s3:GetObject",
        "arn:aws:s3:::bucket/key",
        None,
        Context::new(),
    );
    assert!(evaluate(&EvaluationInput::new(&req_a).with_identity(&one)).is_allowed());
    measure("(a) one identity policy", || {
        evaluate(&EvaluationInput::new(&req_a).with_identity(&one)).is_allowed()
    });

    // (b) 10 policies, 50 statements, all with conditions.
    let services = ["s3", "sqs", "kms", "secretsmanager", "dynamodb"];
    let ten: PolicySet = (0..10)
        .map(|p| {
            let stmts: Vec<String> = (0..5)
                .map(|s| {
                    let svc = services[(p + s) % services.len()];
                    format!(
                        r#"{{"Sid":"P{p}S{s}","Effect":"{}","Action":["{svc}:Get*","{svc}:List*","{svc}:Describe*"],"Resource":"arn:aws:{svc}:*:111111111111:res{p}{s}/*","Condition":{{"StringEquals":{{"aws:PrincipalTag/team":["red","blue"]}},"IpAddress":{{"aws:SourceIp":["10.0.0.0/8","192.0.2.0/24"]}},"Bool":{{"aws:SecureTransport":"true"}}}}}}"#,
                        if s == 4 && p % 3 == 0 { "Deny" } else { "Allow" }
                    )
                })
                .collect();
            compile(
                PolicyKind::Identity,
                &format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, stmts.join(",")),
            )
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("aws:PrincipalTag/team", Value::string("red"))
        .insert("aws:SourceIp", Value::ip("10.1.2.3".parse().unwrap()))
        .insert("aws:SecureTransport", Value::bool(true))
        .insert("aws:RequestedRegion", Value::string("us-east-1"))
        .insert(
            "aws:CurrentTime",
            Value::date("2026-01-01T00:00:00Z").unwrap(),
        );
    let req_b = Request::new(
        alice.clone(),
        "sqs:GetQueueUrl",
        "arn:aws:sqs:us-east-1:111111111111:res92/q",
        None,
        ctx.clone(),
    );
    let d = evaluate(&EvaluationInput::new(&req_b).with_identity(&ten));
    assert!(d.is_allowed(), "{d:?}");
    measure("(b) 10 policies, 50 statements with conditions", || {
        evaluate(&EvaluationInput::new(&req_b).with_identity(&ten)).is_allowed()
    });

    // (c) Cross account: resource policy, boundary, three SCP levels.
    let identity = PolicySet::from(compile(
        PolicyKind::Identity,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
    ));
    let boundary = PolicySet::from(compile(
        PolicyKind::Boundary,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}]}"#,
    ));
    let resource = compile(
        PolicyKind::Resource,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}},{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::shared/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
    );
    let full =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let scps = vec![
        PolicySet::from(compile(PolicyKind::Scp, full)),
        PolicySet::from(vec![
            compile(PolicyKind::Scp, full),
            compile(
                PolicyKind::Scp,
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["us-east-1","eu-west-1"]}}}]}"#,
            ),
        ]),
        PolicySet::from(compile(PolicyKind::Scp, full)),
    ];
    let mut ctx_c = ctx.clone();
    ctx_c.insert("aws:PrincipalOrgID", Value::string("o-abc"));
    let req_c = Request::new(
        alice.clone(),
        "s3:GetObject",
        "arn:aws:s3:::shared/data.csv",
        Some("222222222222".to_string()),
        ctx_c.clone(),
    );
    let decide = |r: &Request| {
        evaluate(
            &EvaluationInput::new(r)
                .with_identity(&identity)
                .with_boundary(&boundary)
                .with_resource(&resource)
                .with_scps(&scps),
        )
        .is_allowed()
    };
    assert!(decide(&req_c));
    measure(
        "(c) cross-account, resource policy, boundary, 3 SCP levels",
        || decide(&req_c),
    );
    measure(
        "(c') same, including building the request and context",
        || {
            let mut ctx = Context::new();
            ctx.insert("aws:PrincipalTag/team", Value::string("red"))
                .insert("aws:SourceIp", Value::ip("10.1.2.3".parse().unwrap()))
                .insert("aws:SecureTransport", Value::bool(true))
                .insert("aws:RequestedRegion", Value::string("us-east-1"))
                .insert("aws:PrincipalOrgID", Value::string("o-abc"));
            let r = Request::new(
                alice.clone(),
                "s3:GetObject",
                "arn:aws:s3:::shared/data.csv",
                Some("222222222222".to_string()),
                ctx,
            );
            decide(&r)
        },
    );
}
