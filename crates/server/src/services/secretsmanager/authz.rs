//! Secrets Manager's part of authorization: the secret an operation acts on (its ARN and tags),
//! the `secretsmanager:*` condition keys, secrets' resource policies as a
//! [`ResourcePolicySource`], and the public-policy check behind `BlockPublicPolicy`.

use std::sync::Arc;

use palisade_policy::{
    CompiledPolicy, Context, Effect, Policy, PolicyKind, Value as CtxValue,
    policy::{PrincipalKey, Principals},
};
use serde_json::Value;

use super::{s, scope_of};
use crate::authz::{ResourcePolicySource, Target};
use crate::error::ApiError;
use crate::identity::Caller;
use crate::state::AppState;

/// The secret of an operation. Operations without one (ListSecrets, GetRandomPassword,
/// BatchGetSecretValue) act on `*`; a secret that does not exist yet is named by the ARN it
/// would have, with AWS's six-character suffix left as a wildcard.
pub fn target(state: &AppState, caller: &Caller, region: &str, op: &str, input: &Value) -> Target {
    let none = |arn: String| Target { arn, tags: vec![] };
    let id = match op {
        "CreateSecret" => s(input, "Name"),
        _ => s(input, "SecretId"),
    };
    let Some(id) = id else {
        return none("*".to_owned());
    };
    // The same lookup as the handler's (`Cx::secret`): a policy decides on the secret the
    // operation then acts on, or on an ARN that acts on nothing.
    let (account, reg) = scope_of(&caller.account_id, region, id);
    match state.secrets.read(&account, &reg, |r| {
        r.resolve(id).map(|sec| Target {
            arn: sec.arn.clone(),
            tags: sec.tag_pairs(),
        })
    }) {
        Some(t) => t,
        None if id.starts_with("arn:") => none(id.to_owned()),
        None => none(format!(
            "arn:aws:secretsmanager:{reg}:{account}:secret:{id}-??????"
        )),
    }
}

/// The rotation function a `RotateSecret` call invokes, as a Lambda function ARN: the one it
/// names, or the one the secret has. Secrets Manager invokes it with the caller's authority, so
/// AWS requires `lambda:InvokeFunction` on it as well as `secretsmanager:RotateSecret`.
pub fn rotation_function(
    state: &AppState,
    caller: &Caller,
    region: &str,
    input: &Value,
) -> Option<String> {
    let id = s(input, "SecretId")?;
    let (account, reg) = scope_of(&caller.account_id, region, id);
    let named = s(input, "RotationLambdaARN")
        .map(str::to_owned)
        .or_else(|| {
            state.secrets.read(&account, &reg, |r| {
                r.resolve(id)
                    .and_then(|sec| sec.rotation.as_ref()?.lambda_arn.clone())
            })
        })?;
    if named.starts_with("arn:") {
        return Some(named);
    }
    // A bare function name is the function of that name in the secret's account and Region.
    Some(format!("arn:aws:lambda:{reg}:{account}:function:{named}"))
}

/// The `secretsmanager:*` condition keys of a request.
pub fn context(
    state: &AppState,
    caller: &Caller,
    region: &str,
    op: &str,
    input: &Value,
    c: &mut Context,
) {
    let t = target(state, caller, region, op, input);
    // Not for CreateSecret, whose secret does not exist yet: the Service Authorization
    // Reference gives it secretsmanager:Name instead (bug: the would-be ARN was set, so a
    // `Null secretsmanager:SecretId` guard refused every CreateSecret).
    if t.arn != "*" && op != "CreateSecret" {
        c.insert("secretsmanager:SecretId", CtxValue::string(t.arn.clone()));
    }
    for (k, v) in &t.tags {
        c.insert(
            &format!("secretsmanager:ResourceTag/{k}"),
            CtxValue::string(v.clone()),
        );
    }
    // The secret's own keys (the Secret resource type's), for a secret that exists here: only
    // the small facts, read under one lock, not the secret.
    if t.arn.starts_with("arn:")
        && let (account, reg) = scope_of(&caller.account_id, region, &t.arn)
        && let Some((primary, lambda)) = state.secrets.read(&account, &reg, |r| {
            r.resolve(&t.arn).map(|sec| {
                (
                    sec.primary_region
                        .clone()
                        .unwrap_or_else(|| sec.region.clone()),
                    sec.rotation.as_ref().and_then(|r| r.lambda_arn.clone()),
                )
            })
        })
    {
        c.insert(
            "secretsmanager:SecretPrimaryRegion",
            CtxValue::string(primary),
        );
        if let Some(lambda) = lambda {
            c.insert(
                "secretsmanager:resource/AllowRotationLambdaArn",
                CtxValue::string(lambda),
            );
        }
    }
    // The key a new value is to be encrypted under, as an ARN however the caller names it
    // (key id, alias name or ARN): a policy pinning the key by ARN must match all of them.
    if matches!(op, "CreateSecret" | "UpdateSecret")
        && let Some(id) = s(input, "KmsKeyId").filter(|id| !id.is_empty())
        && let Some(arn) = crate::services::kms::key_arn_of(state, caller, region, id)
    {
        c.insert("secretsmanager:KmsKeyArn", CtxValue::string(arn));
    }
    for (member, key) in [
        ("Name", "secretsmanager:Name"),
        ("Description", "secretsmanager:Description"),
        ("KmsKeyId", "secretsmanager:KmsKeyId"),
        ("RotationLambdaARN", "secretsmanager:RotationLambdaARN"),
        ("VersionId", "secretsmanager:VersionId"),
        ("VersionStage", "secretsmanager:VersionStage"),
        ("Type", "secretsmanager:Type"),
    ] {
        if let Some(v) = s(input, member) {
            c.insert(key, CtxValue::string(v));
        }
    }
    for (member, key) in [
        (
            "ForceDeleteWithoutRecovery",
            "secretsmanager:ForceDeleteWithoutRecovery",
        ),
        ("BlockPublicPolicy", "secretsmanager:BlockPublicPolicy"),
        (
            "ForceOverwriteReplicaSecret",
            "secretsmanager:ForceOverwriteReplicaSecret",
        ),
        ("RotateImmediately", "secretsmanager:RotateImmediately"),
    ] {
        if let Some(v) = input.get(member).and_then(Value::as_bool) {
            c.insert(key, CtxValue::bool(v));
        }
    }
    if let Some(d) = input.get("RecoveryWindowInDays").and_then(Value::as_i64) {
        c.insert(
            "secretsmanager:RecoveryWindowInDays",
            CtxValue::number(d as f64),
        );
    }
    if op == "RotateSecret" {
        c.insert(
            "secretsmanager:ModifyRotationRules",
            CtxValue::bool(input.get("RotationRules").is_some()),
        );
    }
    if let Some(regions) = input.get("AddReplicaRegions").and_then(Value::as_array) {
        c.insert_list(
            "secretsmanager:AddReplicaRegions",
            regions
                .iter()
                .filter_map(|r| s(r, "Region"))
                .map(CtxValue::string)
                .collect(),
        );
    }
}

/// Secrets' resource policies.
#[derive(Debug, Default)]
pub struct SecretPolicies;

impl ResourcePolicySource for SecretPolicies {
    fn resource_policy(
        &self,
        state: &AppState,
        _action: &str,
        resource: &str,
    ) -> Option<Arc<CompiledPolicy>> {
        if !resource.starts_with("arn:") {
            return None;
        }
        let parts: Vec<&str> = resource.split(':').collect();
        let (region, account) = (parts.get(3)?, parts.get(4)?);
        let (own, primary) = state.secrets.read(account, region, |r| {
            r.resolve(resource).map(|s| {
                let primary = s.primary_region.clone().map(|p| (p, s.name.clone()));
                (s.policy.clone(), primary)
            })
        })?;
        // A replica is governed by its primary's current policy: its own copy can lag behind
        // when its replication failed (its Region's key disabled, say), and a Deny added to the
        // primary must hold in every Region at once.
        let doc = match primary {
            Some((primary_region, name)) => state
                .secrets
                .read(account, &primary_region, |r| {
                    r.resolve(&name)
                        .filter(|p| p.replicas.iter().any(|x| x.region == **region))
                        .map(|p| p.policy.clone())
                })
                .unwrap_or(own),
            None => own,
        }?;
        crate::iam::compile(&doc, PolicyKind::Resource, "secret resource policy").map(Arc::new)
    }
}

/// Checks a resource policy's grammar and, with `block_public`, that it grants nothing to
/// everyone.
pub fn check_policy(doc: &str, block_public: bool) -> Result<(), ApiError> {
    let policy = Policy::parse(doc, PolicyKind::Resource).map_err(|e| {
        ApiError::bad_request(
            "MalformedPolicyDocumentException",
            format!("This resource policy contains a syntax error: {e}"),
        )
    })?;
    if block_public && is_public(&policy) {
        return Err(ApiError::bad_request(
            "PublicPolicyException",
            "The BlockPublicPolicy parameter is set to true, and the resource policy did not prevent broad access to the secret.",
        ));
    }
    Ok(())
}

/// An Allow statement for every principal (`*` or `{"AWS": "*"}`), unconditioned, is public.
/// Whether a resource policy grants access beyond fixed principals, as `BlockPublicPolicy`
/// refuses: an Allow to everyone (`*`, or an ARN with a wildcard account or name) or to everyone
/// but some (`NotPrincipal`), unless a condition pins the caller to fixed values of a key that
/// identifies it or its network (the keys and rule of AWS's definition of a public policy: fixed
/// values have no wildcard or variable). A condition on another key (`aws:SecureTransport`)
/// narrows nothing.
fn is_public(policy: &Policy) -> bool {
    // A Deny to everyone outside fixed callers fences every Allow in, as AWS's reasoning over
    // the whole policy sees (bug: an Allow to `*` beside such a Deny was called public).
    if policy.statements.iter().any(fences_everyone_else) {
        return false;
    }
    policy.statements.iter().any(|st| {
        st.effect == Effect::Allow
            && st.principal.as_ref().is_some_and(|p| {
                p.negated
                    || match &p.values {
                        Principals::Wildcard => true,
                        Principals::Map(m) => m.iter().any(|(k, v)| {
                            *k == PrincipalKey::Aws && v.iter().any(|x| x.contains(['*', '?']))
                        }),
                    }
            })
            && !st.conditions.iter().any(pins_the_caller)
    })
}

/// A Deny of every Secrets Manager action on every resource to every principal whose one
/// condition is the negation of a pin (`StringNotEquals aws:PrincipalAccount 111122223333`):
/// whoever the condition does not pin is denied everything, so no Allow reaches further.
fn fences_everyone_else(st: &palisade_policy::policy::Statement) -> bool {
    use palisade_policy::OperatorKind::*;
    let everyone = st.principal.as_ref().is_some_and(|p| {
        !p.negated
            && match &p.values {
                Principals::Wildcard => true,
                Principals::Map(m) => m
                    .iter()
                    .any(|(k, v)| *k == PrincipalKey::Aws && v.iter().any(|x| x == "*")),
            }
    });
    let every_action = !st.action.negated
        && st
            .action
            .values
            .iter()
            .any(|a| a == "*" || a.eq_ignore_ascii_case("secretsmanager:*"));
    let every_resource = st
        .resource
        .as_ref()
        .is_none_or(|r| !r.negated && r.values.iter().any(|x| x == "*"));
    let [c] = st.conditions.as_slice() else {
        return false;
    };
    let negated_pin = matches!(
        c.operator.kind,
        StringNotEquals
            | StringNotEqualsIgnoreCase
            | StringNotLike
            | ArnNotEquals
            | ArnNotLike
            | NotIpAddress
    ) && c.operator.qualifier.is_none()
        && PINNING_KEYS.contains(&c.key.to_ascii_lowercase().as_str())
        && !c.values.is_empty()
        && c.values.iter().all(|v| fixed_value(&c.key, v));
    st.effect == Effect::Deny && everyone && every_action && every_resource && negated_pin
}

/// Keys whose fixed values pin who (or from where) calls.
const PINNING_KEYS: &[&str] = &[
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceowner",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceip",
    "aws:userid",
];

fn pins_the_caller(c: &palisade_policy::policy::ConditionEntry) -> bool {
    use palisade_policy::OperatorKind::*;
    let op = c.operator;
    let exact = matches!(
        op.kind,
        StringEquals | StringEqualsIgnoreCase | StringLike | ArnEquals | ArnLike | IpAddress
    );
    exact
        && !op.if_exists
        && op.qualifier != Some(palisade_policy::SetQualifier::ForAllValues)
        && PINNING_KEYS.contains(&c.key.to_ascii_lowercase().as_str())
        && !c.values.is_empty()
        && c.values.iter().all(|v| fixed_value(&c.key, v))
}

/// A value that names fixed callers: no wildcard or policy variable, and for `aws:SourceIp` a
/// range no wider than a /8 of IPv4 or a /32 of IPv6 (bug: only `/0` counted as broad, so
/// `0.0.0.0/1` with `128.0.0.0/1` pinned nobody yet passed as a pin).
fn fixed_value(key: &str, v: &str) -> bool {
    if v.contains(['*', '?']) || v.contains("${") {
        return false;
    }
    if !key.eq_ignore_ascii_case("aws:SourceIp") {
        return true;
    }
    let (addr, bits) = v.split_once('/').unwrap_or((v, ""));
    let narrowest = if addr.contains(':') { 128 } else { 32 };
    let bits = if bits.is_empty() {
        narrowest
    } else {
        bits.parse::<u32>().unwrap_or(0)
    };
    bits >= if addr.contains(':') { 32 } else { 8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_policies_are_blocked_and_scoped_ones_pass() {
        let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
        let scoped = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
        assert_eq!(
            check_policy(public, true).map_err(|e| e.code),
            Err("PublicPolicyException")
        );
        assert!(check_policy(public, false).is_ok());
        assert!(check_policy(scoped, true).is_ok());
        // Regression: a condition that narrows nothing, and NotPrincipal, passed the check.
        for broad in [
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringLike":{"aws:PrincipalArn":"*"}}}]}"#,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#,
        ] {
            assert_eq!(
                check_policy(broad, true).map_err(|e| e.code),
                Err("PublicPolicyException"),
                "{broad}"
            );
        }
        let pinned = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}}]}"#;
        assert!(check_policy(pinned, true).is_ok());
        // Regression: two /1 ranges cover every address; only /0 used to count as broad.
        let halves = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["0.0.0.0/1","128.0.0.0/1"]}}}]}"#;
        assert_eq!(
            check_policy(halves, true).map_err(|e| e.code),
            Err("PublicPolicyException")
        );
        let office = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/48"]}}}]}"#;
        assert!(check_policy(office, true).is_ok());
        // Regression: an Allow to everyone fenced in by a Deny to everyone outside one account
        // was called public.
        let fenced = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"secretsmanager:*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}}]}"#;
        assert!(check_policy(fenced, true).is_ok());
        // A fence with a hole (a wildcard value, one action only, a second condition that may
        // not hold) fences nothing.
        for leaky in [
            r#"{"Effect":"Deny","Principal":"*","Action":"secretsmanager:*","Resource":"*","Condition":{"StringNotLike":{"aws:PrincipalAccount":"1111*"}}}"#,
            r#"{"Effect":"Deny","Principal":"*","Action":"secretsmanager:DeleteSecret","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}}"#,
            r#"{"Effect":"Deny","Principal":"*","Action":"secretsmanager:*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"},"Bool":{"aws:SecureTransport":"false"}}}"#,
        ] {
            let doc = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}},{leaky}]}}"#
            );
            assert_eq!(
                check_policy(&doc, true).map_err(|e| e.code),
                Err("PublicPolicyException"),
                "{leaky}"
            );
        }
        assert_eq!(
            check_policy("{not json", false).map_err(|e| e.code),
            Err("MalformedPolicyDocumentException")
        );
    }
}
