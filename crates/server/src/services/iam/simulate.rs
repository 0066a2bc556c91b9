//! The policy simulator and context-key discovery, on the same engine that authorizes requests.

use std::collections::{BTreeMap, HashSet};

use palisade_policy::{
    CompiledPolicy, Context, DecisionKind, EvaluationInput, Layer, Policy, PolicyKind, PolicySet,
    Principal, Request, Value as CtxValue, evaluate,
};
use palisade_store::IamKind;
use serde_json::{Value, json};

use super::{Cx, check_policy, invalid_input, no_such_entity, page, paged, req, s, strings};
use crate::error::ApiError;

/// A context entry of the simulator's input in the engine's form.
fn context(input: &Value) -> Result<Context, ApiError> {
    let mut ctx = Context::new();
    let entries = input
        .get("ContextEntries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for e in entries {
        let Some(key) = s(&e, "ContextKeyName") else {
            continue;
        };
        let kind = s(&e, "ContextKeyType").unwrap_or("string");
        let values = strings(&e, "ContextKeyValues");
        let one = |v: &str| -> Result<CtxValue, ApiError> {
            let base = kind.trim_end_matches("List");
            let bad = || {
                invalid_input(format!(
                    "Invalid value {v} for context key {key} of type {kind}"
                ))
            };
            Ok(match base {
                "numeric" => CtxValue::number(v.parse::<f64>().map_err(|_| bad())?),
                "boolean" => CtxValue::bool(v.eq_ignore_ascii_case("true")),
                "date" => CtxValue::date(v).ok_or_else(bad)?,
                "ip" => CtxValue::ip(v.parse().map_err(|_| bad())?),
                "binary" => CtxValue::binary(palisade_policy::base64::decode(v).ok_or_else(bad)?),
                _ => CtxValue::string(v),
            })
        };
        let parsed = values
            .iter()
            .map(|v| one(v))
            .collect::<Result<Vec<_>, _>>()?;
        if kind.ends_with("List") {
            ctx.insert_list(key, parsed);
        } else if let Some(v) = parsed.into_iter().next() {
            ctx.insert(key, v);
        }
    }
    Ok(ctx)
}

/// The policy simulator and GetContextKeysFor* answer a policy they cannot read with
/// InvalidInput, the one client error their model has, not MalformedPolicyDocument or
/// LimitExceeded as the operations that store policies do.
fn as_invalid_input(e: ApiError) -> ApiError {
    invalid_input(e.message)
}

fn compile_inputs(docs: &[String], kind: PolicyKind, label: &str) -> Result<PolicySet, ApiError> {
    let mut set = PolicySet::new();
    for (i, doc) in docs.iter().enumerate() {
        check_policy(doc, kind).map_err(as_invalid_input)?;
        let p = CompiledPolicy::parse(doc, kind).map_err(|e| invalid_input(e.aws_message()))?;
        set.push(p.with_name(format!("{label}.{}", i + 1)));
    }
    Ok(set)
}

fn decision_name(d: DecisionKind) -> &'static str {
    match d {
        DecisionKind::Allowed => "allowed",
        DecisionKind::ExplicitlyDenied => "explicitDeny",
        DecisionKind::ImplicitlyDenied => "implicitDeny",
    }
}

struct Sources<'a> {
    principal: Principal,
    identity: &'a PolicySet,
    boundary: Option<&'a PolicySet>,
    identity_type: &'static str,
}

fn run(cx: &Cx<'_>, input: &Value, src: &Sources<'_>) -> Result<Value, ApiError> {
    let actions = strings(input, "ActionNames");
    let mut resources = strings(input, "ResourceArns");
    if resources.is_empty() {
        resources.push("*".to_owned());
    }
    let resource_policy = match s(input, "ResourcePolicy") {
        Some(doc) => {
            check_policy(doc, PolicyKind::Resource).map_err(as_invalid_input)?;
            Some(
                CompiledPolicy::parse(doc, PolicyKind::Resource)
                    .map_err(|e| invalid_input(e.aws_message()))?
                    .with_name("ResourcePolicy"),
            )
        }
        None => None,
    };
    let owner = s(input, "ResourceOwner")
        .map(|o| o.split(':').nth(4).unwrap_or(o).to_owned())
        .or_else(|| Some(cx.account.to_owned()));
    let ctx = context(input)?;
    let mut results = Vec::new();
    for action in &actions {
        for resource in &resources {
            let request = Request::new(
                src.principal.clone(),
                action,
                resource,
                owner.clone(),
                ctx.clone(),
            );
            let mut ev = EvaluationInput::new(&request).with_identity(src.identity);
            if let Some(b) = src.boundary {
                ev = ev.with_boundary(b);
            }
            match &resource_policy {
                Some(p) => ev = ev.with_resource(p),
                // Without a resource policy the simulator evaluates identity-based policies
                // alone, as IAM's does: a KMS action is not denied for want of a key policy
                // that was never given.
                None => ev = ev.with_trust(palisade_policy::ResourceTrust::Implicit),
            }
            let d = evaluate(&ev);
            let matched: Vec<Value> = d
                .matched
                .iter()
                .filter(|m| {
                    // AWS lists the statements that decided: the denies, or the allows.
                    (d.decision == DecisionKind::ExplicitlyDenied)
                        == (m.effect == palisade_policy::Effect::Deny)
                })
                .map(|m| {
                    json!({
                        "SourcePolicyId": m.policy_name.as_deref().unwrap_or_default(),
                        "SourcePolicyType": match m.layer {
                            Layer::Resource => "resource",
                            Layer::Boundary => "permissions-boundary",
                            _ => src.identity_type,
                        },
                    })
                })
                .collect();
            let mut r = json!({
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": decision_name(d.decision),
                "MatchedStatements": matched,
                "MissingContextValues": [],
            });
            if src.boundary.is_some() {
                crate::services::set(
                    &mut r,
                    "PermissionsBoundaryDecisionDetail",
                    json!({"AllowedByPermissionsBoundary": !d.blocked_by.contains(&Layer::Boundary)}),
                );
            }
            results.push(r);
        }
    }
    let (items, marker) = page(results, input)?;
    Ok(paged(json!({"EvaluationResults": items}), marker))
}

pub(crate) fn simulate_custom_policy(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let identity = compile_inputs(
        &strings(input, "PolicyInputList"),
        PolicyKind::Identity,
        "PolicyInputList",
    )?;
    let boundary_docs = strings(input, "PermissionsBoundaryPolicyInputList");
    let boundary = if boundary_docs.is_empty() {
        None
    } else {
        Some(compile_inputs(
            &boundary_docs,
            PolicyKind::Boundary,
            "PermissionsBoundaryPolicyInputList",
        )?)
    };
    let caller = s(input, "CallerArn")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("arn:aws:iam::{}:user/simulated-user", cx.account));
    let principal =
        Principal::parse(&caller).map_err(|e| invalid_input(format!("Invalid CallerArn: {e}")))?;
    run(
        cx,
        input,
        &Sources {
            principal,
            identity: &identity,
            boundary: boundary.as_ref(),
            identity_type: "IAM Policy",
        },
    )
}

/// The user, role or group an ARN names (the name without its path).
fn identity_of(arn: &str) -> Result<(IamKind, &str), ApiError> {
    let (kind, name) = arn
        .split_once(":user/")
        .map(|(_, n)| (IamKind::User, n))
        .or_else(|| arn.split_once(":role/").map(|(_, n)| (IamKind::Role, n)))
        .or_else(|| arn.split_once(":group/").map(|(_, n)| (IamKind::Group, n)))
        .ok_or_else(|| invalid_input(format!("Invalid ARN: {arn}")))?;
    Ok((kind, name.rsplit('/').next().unwrap_or(name)))
}

pub(crate) fn simulate_principal_policy(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let source = req(input, "PolicySourceArn")?;
    let (kind, name) = identity_of(source)?;
    let mut identity = PolicySet::new();
    let mut boundary = None;
    let principal_arn;
    match kind {
        IamKind::Group => {
            let docs = cx.state.iam.read(|d| {
                let g = d.account(cx.account).and_then(|a| a.group(name))?;
                let mut docs: Vec<(String, String)> = g
                    .inline
                    .iter()
                    .map(|(n, d)| (n.clone(), d.clone()))
                    .collect();
                for arn in &g.attached {
                    if let Some(p) = d.managed_policy(arn) {
                        docs.push((p.name().to_owned(), p.document().to_owned()));
                    }
                }
                Some(docs)
            })?;
            let docs = docs.ok_or_else(|| no_such_entity(format!("Group {name} not found")))?;
            for (n, doc) in docs {
                if let Some(c) = crate::iam::compile(&doc, PolicyKind::Identity, &n) {
                    identity.push(c);
                }
            }
            principal_arn = format!(
                "arn:aws:iam::{}:user/simulated-member-of-{name}",
                cx.account
            );
        }
        _ => {
            let perms = cx
                .state
                .iam
                .permissions(cx.account, kind, name)
                .ok_or_else(|| no_such_entity(format!("{source} not found")))?;
            for p in perms.identity.iter() {
                identity.push(p.clone());
            }
            boundary = perms.boundary.clone();
            principal_arn = perms.arn.clone();
        }
    }
    for (i, doc) in strings(input, "PolicyInputList").iter().enumerate() {
        check_policy(doc, PolicyKind::Identity).map_err(as_invalid_input)?;
        if let Some(c) = crate::iam::compile(
            doc,
            PolicyKind::Identity,
            &format!("PolicyInputList.{}", i + 1),
        ) {
            identity.push(c);
        }
    }
    let boundary_docs = strings(input, "PermissionsBoundaryPolicyInputList");
    if !boundary_docs.is_empty() {
        boundary = Some(compile_inputs(
            &boundary_docs,
            PolicyKind::Boundary,
            "PermissionsBoundaryPolicyInputList",
        )?);
    }
    let caller = s(input, "CallerArn").unwrap_or(&principal_arn);
    let principal =
        Principal::parse(caller).map_err(|e| invalid_input(format!("Invalid CallerArn: {e}")))?;
    run(
        cx,
        input,
        &Sources {
            principal,
            identity: &identity,
            boundary: boundary.as_ref(),
            identity_type: match kind {
                IamKind::Role => "role",
                IamKind::Group => "group",
                _ => "user",
            },
        },
    )
}

fn keys_of(docs: &[String]) -> Result<Vec<String>, ApiError> {
    let mut keys: Vec<String> = Vec::new();
    for doc in docs {
        let policy = Policy::parse(doc, PolicyKind::Identity)
            .or_else(|_| Policy::parse(doc, PolicyKind::Resource))
            .map_err(|e| invalid_input(e.aws_message()))?;
        for st in &policy.statements {
            for c in &st.conditions {
                if !keys.iter().any(|k| k.eq_ignore_ascii_case(&c.key)) {
                    keys.push(c.key.clone());
                }
            }
        }
    }
    Ok(keys)
}

pub(crate) fn context_keys_for_custom_policy(input: &Value) -> Result<Value, ApiError> {
    Ok(json!({"ContextKeyNames": keys_of(&strings(input, "PolicyInputList"))?}))
}

pub(crate) fn context_keys_for_principal_policy(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let source = req(input, "PolicySourceArn")?;
    let name = source.rsplit('/').next().unwrap_or(source);
    let mut docs: Vec<String> = cx.state.iam.read(|d| {
        let Some(a) = d.account(cx.account) else {
            return vec![];
        };
        let (inline, attached, groups) = if source.contains(":user/") {
            match a.user(name) {
                Some(u) => (u.inline.clone(), u.attached.clone(), u.groups.clone()),
                None => return vec![],
            }
        } else if source.contains(":role/") {
            match a.role(name) {
                Some(r) => (r.inline.clone(), r.attached.clone(), vec![]),
                None => return vec![],
            }
        } else {
            match a.group(name) {
                Some(g) => (g.inline.clone(), g.attached.clone(), vec![]),
                None => return vec![],
            }
        };
        let mut docs: Vec<String> = inline.into_values().collect();
        let mut arns = attached;
        for g in groups {
            if let Some(g) = a.group(&g) {
                docs.extend(g.inline.values().cloned());
                arns.extend(g.attached.iter().cloned());
            }
        }
        for arn in arns {
            if let Some(p) = d.managed_policy(&arn) {
                docs.push(p.document().to_owned());
            }
        }
        docs
    })?;
    docs.extend(strings(input, "PolicyInputList"));
    Ok(json!({"ContextKeyNames": keys_of(&docs)?}))
}

/// `ListPoliciesGrantingServiceAccess`: for each service, the identity's permissions policies
/// that allow one of its actions (a user's include its groups'; boundaries and resource
/// policies are not considered, as in IAM).
pub(crate) fn list_policies_granting_service_access(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let arn = req(input, "Arn")?;
    let (kind, name) = identity_of(arn)?;
    let kind_name = match kind {
        IamKind::Role => "ROLE",
        IamKind::Group => "GROUP",
        _ => "USER",
    };
    // (entry as returned, document) of every policy that applies.
    let policies = cx.state.iam.read(|d| {
        let a = d.account(cx.account)?;
        let (owner, inline, attached, groups) = match kind {
            IamKind::Role => a
                .role(name)
                .map(|r| (&r.name, &r.inline, &r.attached, &[][..]))?,
            IamKind::Group => a
                .group(name)
                .map(|g| (&g.name, &g.inline, &g.attached, &[][..]))?,
            _ => a
                .user(name)
                .map(|u| (&u.name, &u.inline, &u.attached, u.groups.as_slice()))?,
        };
        let mut out: Vec<(Value, String)> = Vec::new();
        let mut push_inline = |owner_kind: &str, owner: &str, inline: &BTreeMap<String, String>| {
            for (n, doc) in inline {
                let entry = json!({"PolicyName": n, "PolicyType": "INLINE", "EntityType": owner_kind, "EntityName": owner});
                out.push((entry, doc.clone()));
            }
        };
        push_inline(kind_name, owner, inline);
        let group_records: Vec<_> = groups.iter().filter_map(|g| a.group(g)).collect();
        for g in &group_records {
            push_inline("GROUP", &g.name, &g.inline);
        }
        let mut arns: Vec<&String> = attached.iter().collect();
        for g in &group_records {
            arns.extend(g.attached.iter());
        }
        let mut seen = HashSet::new();
        for p in arns {
            if seen.insert(p.as_str())
                && let Some(m) = d.managed_policy(p)
            {
                let entry = json!({"PolicyName": m.name(), "PolicyType": "MANAGED", "PolicyArn": p});
                out.push((entry, m.document().to_owned()));
            }
        }
        Some(out)
    })?;
    let policies = policies.ok_or_else(|| no_such_entity(format!("{arn} not found")))?;
    let parsed: Vec<(Value, Option<Policy>)> = policies
        .into_iter()
        .map(|(entry, doc)| (entry, Policy::parse(&doc, PolicyKind::Identity).ok()))
        .collect();
    let entries: Vec<Value> = strings(input, "ServiceNamespaces")
        .iter()
        .map(|ns| {
            let granting: Vec<&Value> = parsed
                .iter()
                .filter(|(_, p)| p.as_ref().is_some_and(|p| p.grants_service(ns)))
                .map(|(entry, _)| entry)
                .collect();
            json!({"ServiceNamespace": ns, "Policies": granting})
        })
        .collect();
    Ok(json!({"PoliciesGrantingServiceAccess": entries, "IsTruncated": false}))
}
