//! `palisade policy simulate FILE`: evaluate JSON cases.
//!
//! A case:
//!
//! ```json
//! {"request": {"principal": "arn:aws:iam::111111111111:user/alice",
//!              "action": "s3:GetObject",
//!              "resource": "arn:aws:s3:::bucket/key",
//!              "resourceAccount": "111111111111",
//!              "context": {"aws:SourceIp": "10.1.2.3", "aws:TagKeys": ["a", "b"]}},
//!  "identityPolicies": [<policy>], "resourcePolicy": <policy or null>,
//!  "permissionsBoundaries": [<policy>], "sessionPolicy": <policy or null>,
//!  "serviceControlPolicies": [[<root>], [<OU>], [<account>]],
//!  "resourceControlPolicies": [[...]], "endpointPolicies": [<policy>]}
//! ```
//!
//! Optional request fields: `principalArn` (the role ARN with its path, for
//! a role session), `userId`, `trust` (`"explicit"`/`"implicit"`, default
//! by action). Optional case fields: `resourcePolicyType` (`resource`,
//! `trust`; default `trust` for `sts:AssumeRole*`), and `name`,
//! `description`, `expect` (metadata, ignored here; the corpus tests read
//! `expect`). A policy is a JSON object or a string holding one.
//!
//! The result of a case:
//! `{"decision": "Allowed"|"ImplicitlyDenied"|"ExplicitlyDenied",
//!   "blockedBy": ["scp", …], "matched": [{"layer", "level", "policy",
//!   "statement", "sid", "effect"}]}`.

use crate::compiled::{CompiledPolicy, PolicySet};
use crate::eval::{Decision, EvaluationInput, ResourceTrust, evaluate};
use crate::json::Json;
use crate::policy::{Policy, PolicyKind};
use crate::request::{Context, Principal, Request};
use serde_json::{Value as JsonValue, json};
use std::fmt;

/// A case that cannot be simulated, naming the case and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulateError {
    /// Index of the case in the input array (`None` for a single case or a
    /// whole-input error).
    pub case: Option<usize>,
    /// JSON path of the offending field, e.g. `identityPolicies[1]`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SimulateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = self.case {
            write!(f, "case {c}: ")?;
        }
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "field {}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for SimulateError {}

fn err(field: impl Into<String>, message: impl Into<String>) -> SimulateError {
    SimulateError {
        case: None,
        field: field.into(),
        message: message.into(),
    }
}

/// Serialises a [`Json`] back to text, keeping duplicate keys so that the
/// policy parser sees the document as written.
fn to_text(j: &Json, out: &mut String) {
    match j {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(n),
        Json::String(s) => out.push_str(&JsonValue::String(s.clone()).to_string()),
        Json::Array(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                to_text(it, out);
            }
            out.push(']');
        }
        Json::Object(members) => {
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&JsonValue::String(k.clone()).to_string());
                out.push(':');
                to_text(v, out);
            }
            out.push('}');
        }
    }
}

fn policy(j: &Json, kind: PolicyKind, field: &str) -> Result<CompiledPolicy, SimulateError> {
    let text = match j {
        Json::String(s) => s.clone(),
        Json::Object(_) => {
            let mut s = String::new();
            to_text(j, &mut s);
            s
        }
        other => {
            return Err(err(
                field,
                format!(
                    "a policy must be an object or a string, found {}",
                    other.type_name()
                ),
            ));
        }
    };
    // Simulation checks semantics, not quotas: allow the largest quota of
    // any resource policy (KMS key policies, 32 KB).
    let limit = kind.size_limit().max(32_768);
    let p =
        Policy::parse_with_limit(&text, kind, limit).map_err(|e| err(field, with_detail(&e)))?;
    Ok(CompiledPolicy::new(&p))
}

fn policy_list(
    j: Option<&Json>,
    kind: PolicyKind,
    field: &str,
) -> Result<PolicySet, SimulateError> {
    match j {
        None | Some(Json::Null) => Ok(PolicySet::new()),
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, p)| policy(p, kind, &format!("{field}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(PolicySet::from),
        Some(other) => Err(err(
            field,
            format!("expected an array of policies, found {}", other.type_name()),
        )),
    }
}

fn levels(
    j: Option<&Json>,
    kind: PolicyKind,
    field: &str,
) -> Result<Vec<PolicySet>, SimulateError> {
    match j {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, level)| match level {
                Json::Array(_) => policy_list(Some(level), kind, &format!("{field}[{i}]")),
                other => Err(err(
                    format!("{field}[{i}]"),
                    format!(
                        "expected an array of policies for this level, found {}",
                        other.type_name()
                    ),
                )),
            })
            .collect(),
        Some(other) => Err(err(
            field,
            format!(
                "expected an array of levels (arrays of policies), found {}",
                other.type_name()
            ),
        )),
    }
}

fn string_field<'a>(
    obj: &'a Json,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, SimulateError> {
    match obj.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(other) => Err(err(
            format!("{path}.{key}"),
            format!("expected a string, found {}", other.type_name()),
        )),
    }
}

const CASE_FIELDS: [&str; 12] = [
    "request",
    "identityPolicies",
    "resourcePolicy",
    "resourcePolicyType",
    "permissionsBoundaries",
    "sessionPolicy",
    "serviceControlPolicies",
    "resourceControlPolicies",
    "endpointPolicies",
    "name",
    "description",
    "expect",
];

const REQUEST_FIELDS: [&str; 8] = [
    "principal",
    "action",
    "resource",
    "resourceAccount",
    "context",
    "principalArn",
    "userId",
    "trust",
];

/// Evaluates one parsed case.
fn run_case(case: &Json) -> Result<Decision, SimulateError> {
    let Json::Object(members) = case else {
        return Err(err(
            "",
            format!("a case must be an object, found {}", case.type_name()),
        ));
    };
    if let Some((k, _)) = members
        .iter()
        .find(|(k, _)| !CASE_FIELDS.contains(&k.as_str()))
    {
        return Err(err(k.as_str(), "unknown field"));
    }
    let req_json = case
        .get("request")
        .ok_or_else(|| err("request", "missing"))?;
    let Json::Object(req_members) = req_json else {
        return Err(err(
            "request",
            format!("expected an object, found {}", req_json.type_name()),
        ));
    };
    if let Some((k, _)) = req_members
        .iter()
        .find(|(k, _)| !REQUEST_FIELDS.contains(&k.as_str()))
    {
        return Err(err(format!("request.{k}"), "unknown field"));
    }
    let principal_s = string_field(req_json, "principal", "request")?
        .ok_or_else(|| err("request.principal", "missing"))?;
    let mut principal = Principal::parse(principal_s).map_err(|e| err("request.principal", e))?;
    if let Some(base) = string_field(req_json, "principalArn", "request")? {
        principal = principal.with_base_arn(base);
    }
    if let Some(uid) = string_field(req_json, "userId", "request")? {
        principal = principal.with_user_id(uid);
    }
    let action = string_field(req_json, "action", "request")?
        .ok_or_else(|| err("request.action", "missing"))?;
    if action != "*" && !action.contains(':') {
        return Err(err(
            "request.action",
            format!("action {action:?} has no service prefix"),
        ));
    }
    let resource = string_field(req_json, "resource", "request")?.unwrap_or("*");
    let resource_account =
        string_field(req_json, "resourceAccount", "request")?.map(str::to_string);
    let mut context = match req_json.get("context") {
        None | Some(Json::Null) => Context::new(),
        Some(c) => Context::from_json(&c.to_value()).map_err(|e| err("request.context", e))?,
    };
    // AWS includes the request's time in every request; a case that does not set it is
    // evaluated now, so that date conditions are not silently skipped.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if !context.contains("aws:CurrentTime")
        && let Some(v) = crate::Value::date(&now.to_string())
    {
        context.insert("aws:CurrentTime", v);
    }
    if !context.contains("aws:EpochTime") {
        context.insert("aws:EpochTime", crate::Value::number(now as f64));
    }
    let trust = match string_field(req_json, "trust", "request")? {
        None => ResourceTrust::for_action(action),
        Some("explicit") => ResourceTrust::Explicit,
        Some("implicit") => ResourceTrust::Implicit,
        Some(other) => {
            return Err(err(
                "request.trust",
                format!("expected \"explicit\" or \"implicit\", found {other:?}"),
            ));
        }
    };
    let request = Request::new(principal, action, resource, resource_account, context);

    let resource_kind = match string_field(case, "resourcePolicyType", "")? {
        Some("trust") => PolicyKind::Trust,
        Some("resource") => PolicyKind::Resource,
        Some(other) => {
            return Err(err(
                "resourcePolicyType",
                format!("expected \"resource\" or \"trust\", found {other:?}"),
            ));
        }
        None if action.to_ascii_lowercase().starts_with("sts:assumerole") => PolicyKind::Trust,
        None => PolicyKind::Resource,
    };
    let identity = policy_list(
        case.get("identityPolicies"),
        PolicyKind::Identity,
        "identityPolicies",
    )?;
    let boundary = match case.get("permissionsBoundaries") {
        None | Some(Json::Null) => None,
        Some(Json::Array(a)) if a.is_empty() => None,
        b => Some(policy_list(
            b,
            PolicyKind::Boundary,
            "permissionsBoundaries",
        )?),
    };
    let session = match case.get("sessionPolicy") {
        None | Some(Json::Null) => None,
        Some(p) => Some(PolicySet::from(policy(
            p,
            PolicyKind::Session,
            "sessionPolicy",
        )?)),
    };
    let resource_policy = match case.get("resourcePolicy") {
        None | Some(Json::Null) => None,
        Some(p) => Some(policy(p, resource_kind, "resourcePolicy")?),
    };
    let scps = levels(
        case.get("serviceControlPolicies"),
        PolicyKind::Scp,
        "serviceControlPolicies",
    )?;
    let rcps = levels(
        case.get("resourceControlPolicies"),
        PolicyKind::Rcp,
        "resourceControlPolicies",
    )?;
    let endpoint = match case.get("endpointPolicies") {
        None | Some(Json::Null) => None,
        Some(Json::Array(a)) if a.is_empty() => None,
        e => Some(policy_list(e, PolicyKind::VpcEndpoint, "endpointPolicies")?),
    };

    let mut input = EvaluationInput::new(&request)
        .with_identity(&identity)
        .with_scps(&scps)
        .with_rcps(&rcps)
        .with_trust(trust);
    if let Some(b) = &boundary {
        input = input.with_boundary(b);
    }
    if let Some(s) = &session {
        input = input.with_session(s);
    }
    if let Some(r) = &resource_policy {
        input = input.with_resource(r);
    }
    if let Some(e) = &endpoint {
        input = input.with_endpoint(e);
    }
    Ok(evaluate(&input))
}

/// The JSON form of a decision.
pub fn decision_to_json(d: &Decision) -> JsonValue {
    json!({
        "decision": d.decision.name(),
        "blockedBy": d.blocked_by.iter().map(|l| l.name()).collect::<Vec<_>>(),
        "matched": d.matched.iter().map(|m| {
            let mut o = json!({
                "layer": m.layer.name(),
                "level": m.level,
                "policy": m.policy,
                "statement": m.statement,
                "sid": m.sid.as_deref(),
                "effect": m.effect.name(),
            });
            if let (Some(name), Some(obj)) = (&m.policy_name, o.as_object_mut()) {
                obj.insert("policyName".to_string(), JsonValue::String(name.to_string()));
            }
            o
        }).collect::<Vec<_>>(),
    })
}

/// Evaluates one case (a JSON object) or an array of cases, returning the
/// decision of each.
pub fn simulate_decisions(input: &str) -> Result<Vec<Decision>, SimulateError> {
    let doc = Json::parse(input).map_err(|e| err("", format!("input is not valid json: {e}")))?;
    match &doc {
        Json::Array(cases) => cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                run_case(c).map_err(|mut e| {
                    e.case = Some(i);
                    e
                })
            })
            .collect(),
        Json::Object(_) => Ok(vec![run_case(&doc)?]),
        other => Err(err(
            "",
            format!(
                "input must be a case object or an array of cases, found {}",
                other.type_name()
            ),
        )),
    }
}

/// Evaluates one case or an array of cases and returns one JSON result per
/// case: `{"decision", "blockedBy", "matched"}`.
pub fn simulate_cases(input: &str) -> Result<Vec<JsonValue>, SimulateError> {
    Ok(simulate_decisions(input)?
        .iter()
        .map(decision_to_json)
        .collect())
}

/// An engine error as the tools print it: AWS's message, then our fuller one when it says more.
pub(crate) fn with_detail(e: &crate::PolicyError) -> String {
    let aws = e.aws_message();
    let ours = e.to_string();
    if aws == ours {
        aws
    } else {
        format!("{aws} ({ours})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulates_a_case() {
        let out = simulate_cases(
            r#"{"request":{"principal":"arn:aws:iam::111111111111:user/alice","action":"s3:GetObject","resource":"arn:aws:s3:::bucket/key"},
               "identityPolicies":[{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::bucket/*"}]}]}"#,
        )
        .unwrap();
        assert_eq!(out[0]["decision"], "Allowed");
        assert_eq!(out[0]["matched"][0]["sid"], "A");
    }

    #[test]
    fn errors_name_the_field() {
        let e = simulate_cases(
            r#"[{"request":{"principal":"arn:aws:iam::111111111111:user/alice","action":"s3:GetObject"},
                "identityPolicies":[{"Version":"2012-10-17","Statement":[]}]}]"#,
        )
        .unwrap_err();
        assert_eq!(e.case, Some(0));
        assert_eq!(e.field, "identityPolicies[0]");
        assert!(e.to_string().contains("Syntax errors in policy."), "{e}");
        let e = simulate_cases(r#"{"request":{"principal":"bob","action":"s3:GetObject"}}"#)
            .unwrap_err();
        assert_eq!(e.field, "request.principal");
        let e = simulate_cases(
            r#"{"request":{"principal":"anonymous","action":"s3:GetObject"},"identity":[]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "identity");
    }
}
