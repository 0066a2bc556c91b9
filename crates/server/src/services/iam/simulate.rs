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
                // Bug: any text but "true" was taken for false, so a typo simulated a
                // different request than the one meant.
                "boolean" if v.eq_ignore_ascii_case("true") => CtxValue::bool(true),
                "boolean" if v.eq_ignore_ascii_case("false") => CtxValue::bool(false),
                "boolean" => return Err(bad()),
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

/// A policy of the simulation, with how results name it.
struct Source {
    /// `SourcePolicyId`.
    id: String,
    /// `SourcePolicyType`.
    kind: &'static str,
    doc: String,
    /// The ARN of a managed policy.
    arn: Option<String>,
    /// The entity an inline policy is embedded in: (`user`, `group` or `role`, its name).
    embedded_in: Option<(&'static str, String)>,
}

impl Source {
    fn input(doc: &str, id: String, kind: &'static str) -> Source {
        Source {
            id,
            kind,
            doc: doc.to_owned(),
            arn: None,
            embedded_in: None,
        }
    }
}

/// The policies of a simulation and what the simulator knows of their statements.
struct Compiled {
    set: PolicySet,
    /// Parsed again for the context keys each action reads.
    parsed: Vec<Policy>,
}

/// Compiles `sources` as `kind`; each compiled policy is named by its index in `sources`, so
/// that matched statements can be traced back. A stored policy that no longer compiles is
/// skipped as authorization skips it; an input one is InvalidInput.
fn compile(sources: &[Source], kind: PolicyKind, stored: bool) -> Result<Compiled, ApiError> {
    let mut set = PolicySet::new();
    let mut parsed = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        if !stored {
            check_policy(&src.doc, kind).map_err(as_invalid_input)?;
        }
        let parsed_doc = if stored {
            Policy::parse_stored(&src.doc, kind)
        } else {
            Policy::parse(&src.doc, kind)
        };
        match parsed_doc {
            Ok(p) => {
                set.push(CompiledPolicy::new(&p).with_name(i.to_string()));
                parsed.push(p);
            }
            Err(e) if !stored => return Err(invalid_input(e.aws_message())),
            Err(_) => {}
        }
    }
    Ok(Compiled { set, parsed })
}

fn decision_name(d: DecisionKind) -> &'static str {
    match d {
        DecisionKind::Allowed => "allowed",
        DecisionKind::ExplicitlyDenied => "explicitDeny",
        DecisionKind::ImplicitlyDenied => "implicitDeny",
    }
}

/// The principal keys a simulation without a caller cannot know: SimulateCustomPolicy's
/// caller is nobody in particular.
const NO_CALLER: &[&str] = &[
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principaltype",
    "aws:username",
    "aws:userid",
];

/// The principal keys a group cannot answer: a group has no user name, id or ARN of a caller,
/// only its members do (its account is known, and its members are users).
const GROUP_MEMBER: &[&str] = &["aws:principalarn", "aws:username", "aws:userid"];

struct Sources {
    principal: Principal,
    /// The principal's own keys (`aws:username`, `aws:PrincipalArn`, ...) the simulation cannot
    /// know, so that a policy reading them reports them missing instead of reading made-up values.
    unknown_keys: &'static [&'static str],
    identity: Vec<Source>,
    boundary: Option<Source>,
    /// Service control policies, one list per level of the organization (root first).
    scps: Vec<Vec<Source>>,
}

/// `ResourceOwner`: an account id or `arn:aws:iam::<account>:root`.
fn resource_owner(input: &Value) -> Result<Option<String>, ApiError> {
    let Some(o) = s(input, "ResourceOwner") else {
        return Ok(None);
    };
    let account = o
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.strip_suffix(":root"))
        .unwrap_or(o);
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_input(format!(
            "Invalid ResourceOwner {o}: expected an account id or arn:aws:iam::<account id>:root"
        )));
    }
    Ok(Some(account.to_owned()))
}

/// A stand-in caller for a group: one of its members, whose own keys are unknown.
fn group_member(group_arn: &str) -> Result<(Principal, &'static [&'static str]), ApiError> {
    let account = group_arn.split(':').nth(4).unwrap_or_default();
    let group = group_arn.rsplit('/').next().unwrap_or_default();
    let p = Principal::parse(&format!(
        "arn:aws:iam::{account}:user/simulated-member-of-{group}"
    ))
    .map_err(|e| invalid_input(format!("Invalid group ARN {group_arn}: {e}")))?;
    Ok((p, GROUP_MEMBER))
}

/// `CallerArn`: the ARN of an IAM user, group or role, never of a session or a service. A group
/// stands for one of its members, whose name the simulation cannot know.
fn caller_principal(arn: &str) -> Result<(Principal, &'static [&'static str]), ApiError> {
    let entity = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(':'))
        .filter(|(account, rest)| {
            account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && ["user/", "group/", "role/"]
                    .iter()
                    .any(|k| rest.starts_with(k) && rest.len() > k.len())
        });
    let Some((_, rest)) = entity else {
        return Err(invalid_input(format!(
            "Invalid CallerArn {arn}: the caller must be the ARN of an IAM user, group or role"
        )));
    };
    if rest.starts_with("group/") {
        return group_member(arn);
    }
    let p = Principal::parse(arn)
        .map_err(|e| invalid_input(format!("Invalid CallerArn {arn}: {e}")))?;
    Ok((p, &[]))
}

/// `EvalDecisionDetails`' name of each policy type.
const IAM_POLICY: &str = "IAM Policy";
const RESOURCE_POLICY: &str = "Resource Policy";
const BOUNDARY_POLICY: &str = "Permissions Boundary Policy";

/// How restrictive a decision is, to aggregate them: AWS's top-level decision is the most
/// restrictive of the resources'.
fn severity(d: DecisionKind) -> u8 {
    match d {
        DecisionKind::Allowed => 0,
        DecisionKind::ImplicitlyDenied => 1,
        DecisionKind::ExplicitlyDenied => 2,
    }
}

fn most_restrictive(a: DecisionKind, b: DecisionKind) -> DecisionKind {
    if severity(b) > severity(a) { b } else { a }
}

/// The simulation of one action on one resource.
struct Outcome {
    resource: String,
    decision: DecisionKind,
    matched: Vec<Value>,
    missing: Vec<String>,
    boundary_allows: Option<bool>,
    orgs_allow: Option<bool>,
    /// Each policy type's own decision, for a cross-account request only.
    details: Option<Vec<(&'static str, DecisionKind)>>,
}

fn push_unique<T: PartialEq>(into: &mut Vec<T>, v: T) {
    if !into.contains(&v) {
        into.push(v);
    }
}

fn run(cx: &Cx<'_>, input: &Value, src: &Sources) -> Result<Value, ApiError> {
    let actions = strings(input, "ActionNames");
    if let Some(bad) = actions.iter().find(|a| !a.contains(':')) {
        return Err(invalid_input(format!(
            "Invalid action name {bad}: an action name must include its service prefix, such as iam:CreateUser"
        )));
    }
    let mut resources = strings(input, "ResourceArns");
    // AWS reports per-resource results only for resources named; "*" alone, given or by
    // default, is all resources and answered at the top level.
    let named = !(resources.is_empty() || resources.iter().all(|r| r == "*"));
    if resources.is_empty() {
        resources.push("*".to_owned());
    }
    let resource_source = s(input, "ResourcePolicy")
        .map(|doc| Source::input(doc, "ResourcePolicy".to_owned(), "resource"));
    let resource_policy = resource_source
        .as_ref()
        .map(|rp| compile(std::slice::from_ref(rp), PolicyKind::Resource, false))
        .transpose()?;
    // Resources whose ARN names no account, and the resource policy, belong to the caller's
    // account unless ResourceOwner says otherwise.
    let owner = resource_owner(input)?
        .or_else(|| src.principal.account.clone())
        .or_else(|| Some(cx.account.to_owned()));
    let identity = compile(&src.identity, PolicyKind::Identity, true)?;
    let boundary = src
        .boundary
        .as_ref()
        .map(|b| compile(std::slice::from_ref(b), PolicyKind::Boundary, true))
        .transpose()?;
    let scps = src
        .scps
        .iter()
        .map(|level| compile(level, PolicyKind::Scp, true))
        .collect::<Result<Vec<_>, _>>()?;
    let scp_sets: Vec<PolicySet> = scps.iter().map(|c| c.set.clone()).collect();
    let ctx = context(input)?;
    // Where each statement of each policy is, read once for every result that names it.
    let positions = |s: &Source| palisade_policy::json::statement_positions(&s.doc);
    let identity_pos: Vec<_> = src.identity.iter().map(positions).collect();
    let boundary_pos = src.boundary.as_ref().map(positions).unwrap_or_default();
    let scp_pos: Vec<Vec<_>> = src
        .scps
        .iter()
        .map(|l| l.iter().map(positions).collect())
        .collect();
    let resource_pos = resource_source.as_ref().map(positions).unwrap_or_default();
    let statement_of = |m: &palisade_policy::MatchedStatement| -> Value {
        let i = m
            .policy_name
            .as_deref()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(usize::MAX);
        let (found, pos) = match m.layer {
            Layer::Resource => (resource_source.as_ref(), resource_pos.get(m.statement)),
            Layer::Boundary => (src.boundary.as_ref(), boundary_pos.get(m.statement)),
            Layer::Scp => (
                src.scps.get(m.level).and_then(|l| l.get(i)),
                scp_pos
                    .get(m.level)
                    .and_then(|l| l.get(i))
                    .and_then(|p| p.get(m.statement)),
            ),
            _ => (
                src.identity.get(i),
                identity_pos.get(i).and_then(|p| p.get(m.statement)),
            ),
        };
        let (id, kind) = found.map_or_else(|| (String::new(), "none"), |p| (p.id.clone(), p.kind));
        let mut v = json!({"SourcePolicyId": id, "SourcePolicyType": kind});
        if let Some((start, end)) = pos {
            crate::services::set(
                &mut v,
                "StartPosition",
                json!({"Line": start.line, "Column": start.column}),
            );
            crate::services::set(
                &mut v,
                "EndPosition",
                json!({"Line": end.line, "Column": end.column}),
            );
        }
        v
    };
    let mut results = Vec::new();
    for action in &actions {
        let mut outcomes = Vec::new();
        for resource in resources.iter() {
            // With a resource policy, a resource whose ARN names its account is that account's
            // whatever ResourceOwner says (AWS: ResourceOwner is for resources that do not
            // identify their owner). Without one, identity policies are evaluated alone, as
            // before, so the owner cannot turn them into a cross-account denial.
            let arn_account = resource
                .split(':')
                .nth(4)
                .filter(|a| !a.is_empty() && resource_policy.is_some())
                .map(str::to_owned);
            let mut request = Request::new(
                src.principal.clone(),
                action,
                resource,
                arn_account.or_else(|| owner.clone()),
                ctx.clone(),
            );
            for key in src.unknown_keys {
                if !ctx.contains(key) {
                    request.context.remove(key);
                }
            }
            let mut ev = EvaluationInput::new(&request).with_identity(&identity.set);
            if let Some(b) = &boundary {
                ev = ev.with_boundary(&b.set);
            }
            if !scp_sets.is_empty() {
                ev = ev.with_scps(&scp_sets);
            }
            match resource_policy.as_ref().and_then(|r| r.set.iter().next()) {
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
                    // AWS lists the statements that decided: the denies, or the allows (none
                    // for an implicit deny), and only identity-based and resource-based ones
                    // (the model: "doesn't include statements from service control policies").
                    matches!(m.layer, Layer::Identity | Layer::Resource)
                        && d.decision != DecisionKind::ImplicitlyDenied
                        && (d.decision == DecisionKind::ExplicitlyDenied)
                            == (m.effect == palisade_policy::Effect::Deny)
                })
                .map(statement_of)
                .collect();
            // The keys the applicable statements read that neither the input nor the caller
            // supplied: a decision that depends on them is not to be trusted.
            let mut missing: Vec<String> = Vec::new();
            let all = identity
                .parsed
                .iter()
                .chain(boundary.iter().flat_map(|b| b.parsed.iter()))
                .chain(resource_policy.iter().flat_map(|r| r.parsed.iter()))
                .chain(scps.iter().flat_map(|l| l.parsed.iter()));
            for p in all {
                for k in p.context_keys(Some(action)) {
                    if request.context.get(&k).is_none()
                        && !missing.iter().any(|m| m.eq_ignore_ascii_case(&k))
                    {
                        missing.push(k);
                    }
                }
            }
            // Each layer's own verdict, evaluated alone: the decision's `blocked_by` names only
            // the denying layers of an explicit deny, so reading it said a boundary or SCP
            // that allows nothing allowed the action whenever an identity policy denied it.
            let alone = |ev: EvaluationInput<'_>| {
                evaluate(&ev.with_trust(palisade_policy::ResourceTrust::Implicit)).is_allowed()
            };
            let boundary_allows = boundary
                .as_ref()
                .map(|b| alone(EvaluationInput::new(&request).with_identity(&b.set)));
            let orgs_allow = (!scp_sets.is_empty()).then(|| {
                alone(
                    EvaluationInput::new(&request)
                        .with_identity(allow_all())
                        .with_scps(&scp_sets),
                )
            });
            // A layer's decision is what its own matching statements say: the evaluation
            // records every applicable statement of every layer.
            let layer = |l: Layer| {
                let of = d.matched.iter().filter(|m| m.layer == l);
                if of
                    .clone()
                    .any(|m| m.effect == palisade_policy::Effect::Deny)
                {
                    DecisionKind::ExplicitlyDenied
                } else if of.clone().next().is_some() {
                    DecisionKind::Allowed
                } else {
                    DecisionKind::ImplicitlyDenied
                }
            };
            let cross_account =
                request.effective_resource_account() != src.principal.account.as_deref();
            // AWS: when an SCP denies, "the simulation ends" and there are no details.
            let details = (cross_account && !d.blocked_by.contains(&Layer::Scp)).then(|| {
                let mut v = vec![(IAM_POLICY, layer(Layer::Identity))];
                if resource_policy.is_some() {
                    v.push((RESOURCE_POLICY, layer(Layer::Resource)));
                }
                if boundary.is_some() {
                    v.push((BOUNDARY_POLICY, layer(Layer::Boundary)));
                }
                v
            });
            outcomes.push(Outcome {
                resource: resource.clone(),
                decision: d.decision,
                matched,
                missing,
                boundary_allows,
                orgs_allow,
                details,
            });
        }
        results.push(aggregate(action, &outcomes, named));
    }
    let (items, marker) = page(results, input)?;
    Ok(paged(json!({"EvaluationResults": items}), marker))
}

fn details_json(details: &[(&'static str, DecisionKind)]) -> Value {
    Value::Object(
        details
            .iter()
            .map(|(k, d)| ((*k).to_owned(), json!(decision_name(*d))))
            .collect(),
    )
}

/// One action's result over all its resources, as AWS answers since it returns one result per
/// action: the most restrictive decision, the statements that made it, every missing key, and
/// each named resource's own result in `ResourceSpecificResults`.
fn aggregate(action: &str, outcomes: &[Outcome], named: bool) -> Value {
    let decision = outcomes
        .iter()
        .map(|o| o.decision)
        .fold(DecisionKind::Allowed, most_restrictive);
    let mut matched = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    for o in outcomes {
        // Only statements that contributed to the reported decision (the model).
        if o.decision == decision {
            for m in &o.matched {
                push_unique(&mut matched, m.clone());
            }
        }
        for k in &o.missing {
            if !missing.iter().any(|m| m.eq_ignore_ascii_case(k)) {
                missing.push(k.clone());
            }
        }
    }
    // The template of the resources' type when they are all of one, else "*" (also when no
    // resource was named, as for an action without resource types).
    let service = action
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let data = palisade_policy::service_data::data();
    let formats: Vec<Option<String>> = outcomes
        .iter()
        .map(|o| {
            named
                .then(|| data.resource_format(&service, &o.resource))
                .flatten()
        })
        .collect();
    let template = match formats.first() {
        Some(Some(f)) if formats.iter().all(|g| g.as_ref() == Some(f)) => f.clone(),
        _ => "*".to_owned(),
    };
    let mut r = json!({
        "EvalActionName": action,
        "EvalResourceName": template,
        "EvalDecision": decision_name(decision),
        "MatchedStatements": matched,
        "MissingContextValues": missing,
    });
    // Whether a layer allows on every resource; `None` when the layer took no part.
    let all = |part: fn(&_) -> Option<bool>| {
        outcomes
            .iter()
            .map(part)
            .reduce(|a, b| a.zip(b).map(|(a, b)| a && b))
            .flatten()
    };
    if let Some(allowed) = all(|o| o.boundary_allows) {
        crate::services::set(
            &mut r,
            "PermissionsBoundaryDecisionDetail",
            json!({"AllowedByPermissionsBoundary": allowed}),
        );
    }
    if let Some(allowed) = all(|o| o.orgs_allow) {
        crate::services::set(
            &mut r,
            "OrganizationsDecisionDetail",
            json!({"AllowedByOrganizations": allowed}),
        );
    }
    // The most restrictive decision of each policy type over the cross-account resources;
    // empty for same-account named resources, absent for "*" alone (the model).
    let mut top: Vec<(&'static str, DecisionKind)> = Vec::new();
    let mut cross = false;
    for (k, d) in outcomes.iter().filter_map(|o| o.details.as_ref()).flatten() {
        cross = true;
        match top.iter_mut().find(|(t, _)| t == k) {
            Some((_, cur)) => *cur = most_restrictive(*cur, *d),
            None => top.push((k, *d)),
        }
    }
    if cross || named {
        crate::services::set(&mut r, "EvalDecisionDetails", details_json(&top));
    }
    if named {
        let per: Vec<Value> = outcomes
            .iter()
            .map(|o| {
                let mut v = json!({
                    "EvalResourceName": o.resource,
                    "EvalResourceDecision": decision_name(o.decision),
                    "MatchedStatements": o.matched,
                    "MissingContextValues": o.missing,
                });
                if let Some(d) = &o.details {
                    crate::services::set(&mut v, "EvalDecisionDetails", details_json(d));
                }
                if let Some(allowed) = o.boundary_allows {
                    crate::services::set(
                        &mut v,
                        "PermissionsBoundaryDecisionDetail",
                        json!({"AllowedByPermissionsBoundary": allowed}),
                    );
                }
                v
            })
            .collect();
        crate::services::set(&mut r, "ResourceSpecificResults", json!(per));
    }
    r
}

/// An identity policy allowing everything, to evaluate another layer on its own.
fn allow_all() -> &'static PolicySet {
    static ALL: std::sync::LazyLock<PolicySet> = std::sync::LazyLock::new(|| {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        Policy::parse(doc, PolicyKind::Identity)
            .map(|p| PolicySet::from(CompiledPolicy::new(&p)))
            .unwrap_or_default()
    });
    &ALL
}

/// `PermissionsBoundaryPolicyInputList`: at most one boundary, as an entity has at most one.
fn boundary_input(input: &Value) -> Result<Option<Source>, ApiError> {
    let docs = strings(input, "PermissionsBoundaryPolicyInputList");
    if docs.len() > 1 {
        return Err(invalid_input(format!(
            "PermissionsBoundaryPolicyInputList has {} policies: a simulation takes at most one permissions boundary",
            docs.len()
        )));
    }
    let Some(doc) = docs.first() else {
        return Ok(None);
    };
    check_policy(doc, PolicyKind::Boundary).map_err(as_invalid_input)?;
    Ok(Some(Source::input(
        doc,
        "PermissionsBoundaryPolicyInputList.1".to_owned(),
        "permissions-boundary",
    )))
}

fn inputs(input: &Value, kind: &'static str) -> Result<Vec<Source>, ApiError> {
    strings(input, "PolicyInputList")
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            check_policy(doc, PolicyKind::Identity).map_err(as_invalid_input)?;
            Ok(Source::input(
                doc,
                format!("PolicyInputList.{}", i + 1),
                kind,
            ))
        })
        .collect()
}

pub(crate) fn simulate_custom_policy(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    if let Some(bad) = strings(input, "ActionNames")
        .iter()
        .find(|a| a.contains(['*', '?']))
    {
        return Err(invalid_input(format!(
            "Invalid action name {bad}: SimulateCustomPolicy does not take wildcards in action names"
        )));
    }
    let caller = s(input, "CallerArn");
    if caller.is_none() && s(input, "ResourcePolicy").is_some() {
        return Err(invalid_input(
            "CallerArn is required when ResourcePolicy is given: the resource policy's Principal needs a caller to match",
        ));
    }
    let (principal, unknown_keys) = match caller {
        Some(arn) => caller_principal(arn)?,
        None => (
            Principal::parse(&format!("arn:aws:iam::{}:user/simulated-user", cx.account))
                .map_err(invalid_input)?,
            NO_CALLER,
        ),
    };
    let mut scps = Vec::new();
    if let Some(levels) = input
        .get("OrderedOrganizationPolicyInputList")
        .and_then(Value::as_array)
    {
        for (l, level) in levels.iter().enumerate() {
            let docs = strings(level, "ServiceControlPolicyInputList");
            let mut sources = Vec::new();
            for (i, doc) in docs.iter().enumerate() {
                check_policy(doc, PolicyKind::Scp).map_err(as_invalid_input)?;
                sources.push(Source::input(
                    doc,
                    format!("OrderedOrganizationPolicyInputList.{}.{}", l + 1, i + 1),
                    "none",
                ));
            }
            scps.push(sources);
        }
    }
    run(
        cx,
        input,
        &Sources {
            principal,
            unknown_keys,
            identity: inputs(input, "IAM Policy")?,
            boundary: boundary_input(input)?,
            scps,
        },
    )
}

/// The user, role or group an ARN names: (kind, path, name).
fn identity_of(arn: &str) -> Result<(IamKind, String, &str), ApiError> {
    let (kind, rest) = arn
        .split_once(":user/")
        .map(|(_, n)| (IamKind::User, n))
        .or_else(|| arn.split_once(":role/").map(|(_, n)| (IamKind::Role, n)))
        .or_else(|| arn.split_once(":group/").map(|(_, n)| (IamKind::Group, n)))
        // AWS's own words for a source ARN that names no user, group or role.
        .ok_or_else(|| {
            invalid_input(format!(
                "Invalid Entity Arn: {arn} does not clearly define entity type and name."
            ))
        })?;
    Ok(match rest.rsplit_once('/') {
        Some((path, name)) => (kind, format!("/{path}/"), name),
        None => (kind, "/".to_owned(), rest),
    })
}

/// An entity's ARN, its permissions policies and its permissions boundary.
type EntityPolicies = (String, Vec<Source>, Option<Source>);

/// The policies of a user (its own and its groups'), group or role as the simulator shows them,
/// with its boundary and ARN; `None` when `arn` names none of this account's entities.
fn entity_policies(cx: &Cx<'_>, arn: &str) -> Result<Option<EntityPolicies>, ApiError> {
    let (kind, path, name) = identity_of(arn)?;
    if arn.split(':').nth(4) != Some(cx.account) {
        return Ok(None);
    }
    cx.state.iam.read(|d| {
        let a = d.account(cx.account)?;
        let mut out = Vec::new();
        let inline = |out: &mut Vec<Source>,
                      of: &'static str,
                      owner: &str,
                      docs: &BTreeMap<String, String>| {
            for (n, doc) in docs {
                out.push(Source {
                    id: n.clone(),
                    kind: of,
                    doc: doc.clone(),
                    arn: None,
                    embedded_in: Some((of, owner.to_owned())),
                });
            }
        };
        let mut attached: Vec<&String> = Vec::new();
        let (entity_path, boundary, entity_arn) = match kind {
            IamKind::User => {
                let u = a.user(name)?;
                inline(&mut out, "user", &u.name, &u.inline);
                attached.extend(&u.attached);
                for g in u.groups.iter().filter_map(|g| a.group(g)) {
                    inline(&mut out, "group", &g.name, &g.inline);
                    attached.extend(&g.attached);
                }
                (
                    u.path.clone(),
                    u.boundary.clone(),
                    crate::iam::user_arn(cx.account, &u.path, &u.name),
                )
            }
            IamKind::Role => {
                let r = a.role(name)?;
                inline(&mut out, "role", &r.name, &r.inline);
                attached.extend(&r.attached);
                (
                    r.path.clone(),
                    r.boundary.clone(),
                    crate::iam::role_arn(cx.account, &r.path, &r.name),
                )
            }
            _ => {
                let g = a.group(name)?;
                inline(&mut out, "group", &g.name, &g.inline);
                attached.extend(&g.attached);
                (
                    g.path.clone(),
                    None,
                    format!("arn:aws:iam::{}:group{}{}", cx.account, g.path, g.name),
                )
            }
        };
        if entity_path != path {
            return None;
        }
        let mut seen = HashSet::new();
        for p in attached {
            if seen.insert(p.as_str())
                && let Some(m) = d.managed_policy(p)
            {
                out.push(Source {
                    id: m.name().to_owned(),
                    kind: if p.contains(":aws:policy/") {
                        "aws-managed"
                    } else {
                        "user-managed"
                    },
                    doc: m.document().to_owned(),
                    arn: Some(p.clone()),
                    embedded_in: None,
                });
            }
        }
        let boundary = boundary.and_then(|b| {
            d.managed_policy(&b).map(|m| Source {
                id: m.name().to_owned(),
                kind: "permissions-boundary",
                doc: m.document().to_owned(),
                arn: Some(b.clone()),
                embedded_in: None,
            })
        });
        Some((entity_arn, out, boundary))
    })
}

/// Whether `text` matches `pattern`, whose `*` matches any run and `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    palisade_policy::pattern::matches(&palisade_policy::pattern::glob_pieces(pattern, true), text)
}

/// One entry of `PolicyExclusionList`, checked: which policies it takes out of the simulation.
struct Exclusion<'a> {
    kind: Option<&'a str>,
    arn: Option<&'a str>,
    inline: Option<(&'a str, &'a str, &'a str)>,
}

fn exclusions(input: &Value) -> Result<Vec<Exclusion<'_>>, ApiError> {
    let mut out = Vec::new();
    for e in input
        .get("PolicyExclusionList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let arn = s(e, "PolicyArn");
        if let Some(a) = arn {
            let name = a
                .strip_prefix("arn:aws:iam::")
                .and_then(|r| r.split_once(":policy/"))
                .filter(|(account, _)| {
                    *account == "aws"
                        || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
                })
                .map(|(_, name)| name);
            if name.is_none_or(|n| n.is_empty() || n.matches('*').count() > 1) {
                return Err(invalid_input(format!(
                    "Invalid PolicyArn {a} in PolicyExclusionList: expected a managed policy ARN with at most one * in its name"
                )));
            }
        }
        let inline = match e.get("InlinePolicyIdentifier") {
            Some(i) => {
                let (Some(n), Some(t), Some(on)) = (
                    s(i, "PolicyName"),
                    s(i, "AttachmentType"),
                    s(i, "AttachmentName"),
                ) else {
                    return Err(invalid_input(
                        "Invalid InlinePolicyIdentifier in PolicyExclusionList: PolicyName, AttachmentType and AttachmentName are required",
                    ));
                };
                // The docs allow wildcards in AttachmentName, but the model's pattern
                // ([\w+=,.@-]+) refuses `*` and `?` before this runs, as AWS's front end
                // does; matching it as a glob stays right should the model ever allow them.
                Some((n, t, on))
            }
            None => None,
        };
        out.push(Exclusion {
            kind: s(e, "PolicyType"),
            arn,
            inline,
        });
    }
    Ok(out)
}

impl Exclusion<'_> {
    fn excludes(&self, p: &Source) -> bool {
        let by_kind = self.kind.is_some_and(|k| match k {
            "inline" => p.embedded_in.is_some(),
            "aws-managed" | "user-managed" => p.kind == k,
            "permission-boundary" => p.kind == "permissions-boundary",
            _ => false,
        });
        let by_arn = self
            .arn
            .zip(p.arn.as_deref())
            .is_some_and(|(pattern, arn)| glob(pattern, arn));
        let by_inline = self.inline.zip(p.embedded_in.as_ref()).is_some_and(
            |((name, on_kind, on_name), (kind, owner))| {
                name == p.id && on_kind == *kind && glob(on_name, owner)
            },
        );
        by_kind || by_arn || by_inline
    }
}

pub(crate) fn simulate_principal_policy(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let source = req(input, "PolicySourceArn")?;
    let (kind, _, _) = identity_of(source)?;
    let excluded = exclusions(input)?;
    let (principal_arn, mut identity, mut boundary) = entity_policies(cx, source)?
        .ok_or_else(|| no_such_entity(format!("{source} not found")))?;
    identity.retain(|p| !excluded.iter().any(|e| e.excludes(p)));
    if boundary
        .as_ref()
        .is_some_and(|b| excluded.iter().any(|e| e.excludes(b)))
    {
        boundary = None;
    }
    let own_kind = match kind {
        IamKind::Role => "role",
        IamKind::Group => "group",
        _ => "user",
    };
    identity.extend(inputs(input, own_kind)?);
    if let Some(b) = boundary_input(input)? {
        boundary = Some(b);
    }
    let (caller, unknown_keys) = match s(input, "CallerArn") {
        Some(arn) => caller_principal(arn)?,
        None => {
            if kind == IamKind::Group && s(input, "ResourcePolicy").is_some() {
                return Err(invalid_input(
                    "CallerArn is required when ResourcePolicy is given and PolicySourceArn is a group",
                ));
            }
            // Bug: a group was simulated as a made-up member "simulated-member-of-<group>"
            // whose name answered ${aws:username}; a group has no user name, so it is missing.
            if kind == IamKind::Group {
                group_member(&principal_arn)?
            } else {
                (
                    Principal::parse(&principal_arn).map_err(invalid_input)?,
                    &[][..],
                )
            }
        }
    };
    run(
        cx,
        input,
        &Sources {
            principal: caller,
            unknown_keys,
            identity,
            boundary,
            scps: Vec::new(),
        },
    )
}

fn keys_of(docs: &[String]) -> Result<Vec<String>, ApiError> {
    let mut keys: Vec<String> = Vec::new();
    for doc in docs {
        // A resource policy is read too, but a document neither kind reads is reported with
        // the identity reading's error, as SimulateCustomPolicy reports it (bug: the resource
        // reading's "Missing required field Principal" hid "must be version 2012-10-17").
        let policy = match Policy::parse(doc, PolicyKind::Identity) {
            Ok(p) => p,
            Err(first) => Policy::parse(doc, PolicyKind::Resource)
                .map_err(|_| invalid_input(first.aws_message()))?,
        };
        for k in policy.context_keys(None) {
            if !keys.iter().any(|x| x.eq_ignore_ascii_case(&k)) {
                keys.push(k);
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
    let (_, mut policies, _) = entity_policies(cx, source)?
        .ok_or_else(|| no_such_entity(format!("{source} not found")))?;
    let mut docs: Vec<String> = policies.drain(..).map(|p| p.doc).collect();
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
    let (kind, _, name) = identity_of(arn)?;
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
        .map(|(entry, doc)| (entry, Policy::parse_stored(&doc, PolicyKind::Identity).ok()))
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
