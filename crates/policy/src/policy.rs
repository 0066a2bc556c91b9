//! Policy documents: the typed model and the parser/validator.
//!
//! Validation follows IAM's order of checks, reconstructed from the 132
//! documents and messages in moto's test suite (`tests/data/moto_policy_vectors.json`):
//!
//! 1. size and characters (policy-type quota; IAM-stored types only allow TAB,
//!    LF, CR and U+0020–U+00FF);
//! 2. syntax: JSON, known elements in their JSON types, no duplicate keys,
//!    `Effect` spelled `allow`/`deny` in any case, known condition operators
//!    (an unknown operator with an empty block is accepted, as IAM does);
//! 3. version (types that need `2012-10-17`);
//! 4. "legacy parsing": `Effect` exactly `Allow`/`Deny`, truncated ARNs in a
//!    known partition, invalid `Date*` values;
//! 5. `Sid`s of the characters IAM takes in the policies it stores (`[0-9A-Za-z]`, and `_`,
//!    which IAM accepts despite the documented pattern; moto vector 39 pins it, lint warns),
//!    unique when non-empty;
//! 6. every statement has actions;
//! 7. resource formats (first error wins): ARN shape, partition, service,
//!    region of global services, IAM resource paths;
//! 8. action prefixes;
//! 9. resources present (or absent, for trust policies);
//! 10. principal rules of the policy type, then SCP/RCP restrictions.
//!
//! The checks themselves are in [`crate::check`], which runs them all and keeps every failure
//! with its JSON path (for `palisade policy validate`); [`Policy::parse`] returns the first
//! failure of the earliest step, the one IAM reports.
//!
//! Decisions where AWS is silent: duplicate JSON keys are a syntax error
//! (two readers could otherwise disagree on which one counts); `null` items
//! in `Action`/`Resource` arrays are ignored (IAM accepts them); element and
//! operator names are case-sensitive.

use crate::error::PolicyError;
use crate::operator::Operator;
use std::fmt;
use std::str::FromStr;

/// IAM resource types that may start the resource part of an `iam` ARN.
pub const IAM_RESOURCE_PREFIXES: [&str; 13] = [
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
];

/// Partitions accepted in resource ARNs.
pub const PARTITIONS: [&str; 9] = [
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
    "*",
];

/// The type of a policy, which decides which elements it may contain, its
/// size quota and how it takes part in evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Identity-based policy (managed or inline) of a user, group or role.
    Identity,
    /// Resource-based policy (bucket, key, queue, secret…).
    Resource,
    /// Role trust policy (`AssumeRolePolicyDocument`).
    Trust,
    /// Permissions boundary.
    Boundary,
    /// Session policy passed to `AssumeRole*`/`GetFederationToken`.
    Session,
    /// Service control policy.
    Scp,
    /// Resource control policy.
    Rcp,
    /// VPC endpoint policy.
    VpcEndpoint,
}

impl PolicyKind {
    /// All policy types.
    pub const ALL: [PolicyKind; 8] = [
        PolicyKind::Identity,
        PolicyKind::Resource,
        PolicyKind::Trust,
        PolicyKind::Boundary,
        PolicyKind::Session,
        PolicyKind::Scp,
        PolicyKind::Rcp,
        PolicyKind::VpcEndpoint,
    ];

    /// Default size quota in non-whitespace characters: managed policies
    /// 6,144; trust policies 2,048 (raisable to 4,096); session policies
    /// 2,048; SCPs and RCPs 5,120; resource and endpoint policies 20,480
    /// (S3, SQS, Secrets Manager; KMS key policies allow 32,768: use
    /// [`Policy::parse_with_limit`]).
    pub fn size_limit(self) -> usize {
        match self {
            PolicyKind::Identity | PolicyKind::Boundary => 6_144,
            PolicyKind::Trust | PolicyKind::Session => 2_048,
            PolicyKind::Scp | PolicyKind::Rcp => 5_120,
            PolicyKind::Resource | PolicyKind::VpcEndpoint => 20_480,
        }
    }

    /// Whether the type needs `"Version": "2012-10-17"`. Resource, trust,
    /// session and endpoint policies also accept `2008-10-17` or no version
    /// (policy variables are then literal text).
    pub fn requires_2012(self) -> bool {
        matches!(
            self,
            PolicyKind::Identity | PolicyKind::Boundary | PolicyKind::Scp | PolicyKind::Rcp
        )
    }

    /// Whether statements must name a principal.
    pub fn requires_principal(self) -> bool {
        matches!(
            self,
            PolicyKind::Resource | PolicyKind::Trust | PolicyKind::Rcp | PolicyKind::VpcEndpoint
        )
    }

    /// Whether `Principal`/`NotPrincipal` is forbidden.
    pub fn forbids_principal(self) -> bool {
        matches!(
            self,
            PolicyKind::Identity | PolicyKind::Boundary | PolicyKind::Session | PolicyKind::Scp
        )
    }

    /// Whether the document is stored by IAM/STS, which restricts characters
    /// to TAB, LF, CR, U+0020–U+00FF.
    pub fn iam_stored(self) -> bool {
        matches!(
            self,
            PolicyKind::Identity | PolicyKind::Boundary | PolicyKind::Trust | PolicyKind::Session
        )
    }

    /// The lower-case name used by the CLI (`identity`, `resource`, `trust`,
    /// `boundary`, `session`, `scp`, `rcp`, `endpoint`).
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Identity => "identity",
            PolicyKind::Resource => "resource",
            PolicyKind::Trust => "trust",
            PolicyKind::Boundary => "boundary",
            PolicyKind::Session => "session",
            PolicyKind::Scp => "scp",
            PolicyKind::Rcp => "rcp",
            PolicyKind::VpcEndpoint => "endpoint",
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PolicyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .or(match s {
                "vpce" | "vpc-endpoint" => Some(PolicyKind::VpcEndpoint),
                "permissions-boundary" => Some(PolicyKind::Boundary),
                _ => None,
            })
            .ok_or_else(|| {
                format!(
                    "unknown policy type {s:?}: expected identity, resource, trust, boundary, session, scp, rcp or endpoint"
                )
            })
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Grants (or, in ceilings, permits) the access.
    Allow,
    /// Denies the access; wins over any allow.
    Deny,
}

impl Effect {
    /// `Allow` or `Deny`.
    pub fn name(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// A list of values under `X` or `NotX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negatable<T> {
    /// True for `NotAction`/`NotResource`/`NotPrincipal`.
    pub negated: bool,
    /// The values.
    pub values: T,
}

/// The principal types of a `Principal` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKey {
    /// `AWS`: accounts, users, roles, sessions.
    Aws,
    /// `Service`: AWS service principals.
    Service,
    /// `Federated`: SAML/OIDC providers.
    Federated,
    /// `CanonicalUser`: S3 canonical user IDs.
    CanonicalUser,
}

impl PrincipalKey {
    /// The key as written in policies.
    pub fn name(self) -> &'static str {
        match self {
            PrincipalKey::Aws => "AWS",
            PrincipalKey::Service => "Service",
            PrincipalKey::Federated => "Federated",
            PrincipalKey::CanonicalUser => "CanonicalUser",
        }
    }
}

/// The value of `Principal`/`NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    /// `"*"`: everyone, anonymous included.
    Wildcard,
    /// A map of principal type to values.
    Map(Vec<(PrincipalKey, Vec<String>)>),
}

/// One `Operator: { key: values }` entry of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionEntry {
    /// The operator.
    pub operator: Operator,
    /// The operator as written.
    pub operator_name: String,
    /// The condition key as written.
    pub key: String,
    /// The values, booleans and numbers turned into their JSON text.
    pub values: Vec<String>,
}

/// A policy statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`, if present.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal`/`NotPrincipal`.
    pub principal: Option<Negatable<Principals>>,
    /// `Action`/`NotAction` (non-empty after validation).
    pub action: Negatable<Vec<String>>,
    /// `Resource`/`NotResource`; absent in trust policies.
    pub resource: Option<Negatable<Vec<String>>>,
    /// The condition entries, all of which must hold.
    pub conditions: Vec<ConditionEntry>,
}

/// A parsed and validated policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The policy type it was validated as.
    pub kind: PolicyKind,
    /// `Version` as written.
    pub version: Option<String>,
    /// `Id`.
    pub id: Option<String>,
    /// The statements, in order.
    pub statements: Vec<Statement>,
    /// Whether `Statement` was an array (for JSON paths).
    pub statement_is_array: bool,
    /// Non-whitespace characters in the document.
    pub size: usize,
}

/// Non-whitespace characters, the measure of AWS's policy quotas.
pub fn policy_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

fn valid_partition(p: &str) -> bool {
    PARTITIONS.contains(&p)
}

/// IAM's older parser rejects truncated ARNs (in a known partition): fewer
/// than five colons with an empty segment, or an empty service.
pub(crate) fn legacy_resource_ok(r: &str) -> bool {
    if r == "*" {
        return true;
    }
    let parts: Vec<&str> = r.split(':').collect();
    match parts.get(1) {
        Some(p) if valid_partition(p) => {}
        _ => return true,
    }
    let colons = parts.len() - 1;
    if colons < 5 && r.contains("::") {
        return false;
    }
    !matches!(parts.get(2), Some(s) if s.is_empty())
}

pub(crate) fn resource_format_error(r: &str) -> Option<PolicyError> {
    if r == "*" {
        return None;
    }
    let Some((_, rest)) = r.split_once(':') else {
        return Some(PolicyError::ResourceNotArn {
            resource: r.to_string(),
        });
    };
    let (partition, after) = match rest.split_once(':') {
        Some((p, a)) => (p, Some(a)),
        None => (rest, None),
    };
    if !valid_partition(partition) {
        // AWS reports the resource padded to six segments with `*`.
        let rem: Vec<&str> = after.unwrap_or("").split(':').collect();
        let first = rem.first().copied().unwrap_or("");
        let a1 = if !first.is_empty() || rem.len() > 1 {
            first
        } else {
            "*"
        };
        let a2 = rem.get(1).copied().unwrap_or("*");
        let a3 = rem.get(2).copied().unwrap_or("*");
        let a4 = if rem.len() > 3 {
            rem.get(3..).map(|s| s.join(":")).unwrap_or_default()
        } else {
            "*".to_string()
        };
        return Some(PolicyError::InvalidPartition {
            partition: partition.to_string(),
            resource: format!("arn:{partition}:{a1}:{a2}:{a3}:{a4}"),
        });
    }
    let Some(after) = after else {
        return Some(PolicyError::ResourceVendor {
            resource: r.to_string(),
        });
    };
    // A variable's own colon (`${aws:PrincipalAccount}`) does not separate fields.
    let mut segs = crate::condition::split_colons(after, 4).into_iter();
    let service = segs.next().unwrap_or("");
    if service.is_empty() || service.contains(['*', '?']) {
        return Some(PolicyError::ResourceVendor {
            resource: r.to_string(),
        });
    }
    let region = segs.next();
    let account = segs.next();
    let resource_part = segs.next();
    let region_set = region.is_some_and(|s| !s.is_empty());
    // S3 buckets and objects have neither region nor account; access points,
    // jobs and other regional S3 resources carry both.
    let region_error = match service {
        "iam" => region_set,
        "s3" => region_set && account.is_none_or(str::is_empty),
        _ => false,
    };
    if region_error {
        return Some(PolicyError::RegionNotAllowed {
            resource: r.to_string(),
            service: service.to_string(),
        });
    }
    if service == "iam"
        && let Some(rp) = resource_part
        && rp != "*"
        && !IAM_RESOURCE_PREFIXES.iter().any(|p| rp.starts_with(p))
    {
        return Some(PolicyError::IamResourcePath {
            resource: r.to_string(),
        });
    }
    None
}

fn valid_vendor(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*' | '?'))
}

pub(crate) fn action_error(a: &str) -> Option<PolicyError> {
    if a == "*" {
        return None;
    }
    let Some((vendor, name)) = a.split_once(':') else {
        return Some(PolicyError::ActionMissingVendor {
            action: a.to_string(),
        });
    };
    if !valid_vendor(vendor) {
        return Some(PolicyError::InvalidVendor {
            vendor: vendor.to_string(),
        });
    }
    if name.contains(':') {
        return Some(PolicyError::ActionTooManyColons {
            action: a.to_string(),
        });
    }
    None
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `v` is an accepted `AWS` principal: `*`, an account ID, an IAM
/// unique ID (`AIDA…`, `AROA…`, which IAM shows for deleted principals), or
/// an `iam`/`sts` ARN of an account, user, role or session without wildcards.
pub fn valid_aws_principal(v: &str) -> bool {
    if v == "*" || is_account_id(v) {
        return true;
    }
    if v.len() >= 16
        && v.starts_with('A')
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return true;
    }
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    if *arn != "arn"
        || !valid_partition(partition)
        || *partition == "*"
        || !region.is_empty()
        || !is_account_id(account)
        || resource.contains(['*', '?'])
        || resource.is_empty()
    {
        return false;
    }
    match *service {
        "iam" => {
            *resource == "root" || resource.starts_with("user/") || resource.starts_with("role/")
        }
        "sts" => resource.starts_with("assumed-role/") || resource.starts_with("federated-user/"),
        _ => false,
    }
}

pub(crate) fn valid_principal_value(key: PrincipalKey, v: &str) -> bool {
    match key {
        PrincipalKey::Aws => valid_aws_principal(v),
        PrincipalKey::Service => {
            v == "*"
                || (v.contains('.')
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')))
        }
        PrincipalKey::Federated => !v.is_empty() && !v.contains(['*', '?']),
        PrincipalKey::CanonicalUser => {
            v == "*" || (v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        }
    }
}

/// Whether the action pattern `pattern` (`service:action` with `*` and `?`, case-insensitive)
/// matches some action of `service`: one of `actions` (the service's actions, lower-cased), or,
/// for a service the reference does not list, any action at all.
fn pattern_reaches(pattern: &str, service: &str, actions: &[String]) -> bool {
    let pattern = pattern.to_lowercase();
    let pieces = crate::pattern::glob_pieces(&pattern, true);
    if actions.is_empty() {
        let (svc, act) = pattern.split_once(':').unwrap_or((pattern.as_str(), ""));
        let svc_ok = crate::pattern::matches(&crate::pattern::glob_pieces(svc, true), service);
        return pattern == "*" || (svc_ok && !act.is_empty());
    }
    actions
        .iter()
        .any(|a| crate::pattern::matches(&pieces, &format!("{service}:{a}")))
}

impl Policy {
    /// Whether an `Allow` statement can grant some action of `service` (a service prefix such as
    /// `kms`), as IAM's `ListPoliciesGrantingServiceAccess` decides it: by the actions alone,
    /// whatever the statement's resources and conditions; a `NotAction` statement grants the
    /// service unless it excludes every one of its actions.
    pub fn grants_service(&self, service: &str) -> bool {
        let service = service.to_lowercase();
        let actions: Vec<String> = crate::service_data::data()
            .service(&service)
            .map(|s| s.actions().map(str::to_lowercase).collect())
            .unwrap_or_default();
        self.statements
            .iter()
            .filter(|st| st.effect == Effect::Allow)
            .any(|st| {
                let patterns = &st.action.values;
                if !st.action.negated {
                    return patterns
                        .iter()
                        .any(|p| pattern_reaches(p, &service, &actions));
                }
                // Parsed once, not once per action of the service.
                let pieces: Vec<_> = patterns
                    .iter()
                    .map(|p| crate::pattern::glob_pieces(&p.to_lowercase(), true))
                    .collect();
                let excluded = |a: &str| pieces.iter().any(|p| crate::pattern::matches(p, a));
                if actions.is_empty() {
                    return !excluded(&format!("{service}:*"));
                }
                actions.iter().any(|a| !excluded(&format!("{service}:{a}")))
            })
    }

    /// Whether an `Allow` statement names `action` (`service:Action`) by its actions alone,
    /// whatever its resources and conditions: what a policy can have been used for.
    pub fn grants_action(&self, action: &str) -> bool {
        let action = action.to_lowercase();
        self.statements
            .iter()
            .filter(|st| st.effect == Effect::Allow)
            .any(|st| {
                let named = st.action.values.iter().any(|p| {
                    crate::pattern::matches(
                        &crate::pattern::glob_pieces(&p.to_lowercase(), true),
                        &action,
                    )
                });
                named != st.action.negated
            })
    }

    /// Parses and validates `json` as a policy of type `kind`, with the
    /// type's default size quota.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        Policy::parse_with_limit(json, kind, kind.size_limit())
    }

    /// Like [`Policy::parse`] with an explicit size quota (e.g. 4,096 for a
    /// trust policy after a quota increase, 32,768 for a KMS key policy).
    pub fn parse_with_limit(
        json: &str,
        kind: PolicyKind,
        limit: usize,
    ) -> Result<Policy, PolicyError> {
        Policy::parse_checked(json, kind, limit, kind.requires_2012())
    }

    /// Parses an inline identity policy (PutUserPolicy, PutGroupPolicy, PutRolePolicy) under its
    /// entity's quota. Unlike a managed policy it may leave `Version` out or say `2008-10-17`
    /// (AWS: the version then defaults to 2008-10-17, and policy variables are literal text).
    pub fn parse_inline(json: &str, limit: usize) -> Result<Policy, PolicyError> {
        Policy::parse_checked(json, PolicyKind::Identity, limit, false)
    }

    /// Parses a document that was validated when it was stored, for evaluation. The quotas
    /// and the `Version` rule belong to the operation that stored it (an inline policy may
    /// leave `Version` out, a role's inline policies share 10,240 characters, a managed policy
    /// passed as a session policy is not held to the 2,048 of an inline one): applying the
    /// type's defaults again here dropped such a policy from evaluation, so a Deny in it
    /// denied nothing (bug).
    pub fn parse_stored(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        Policy::parse_checked(json, kind, usize::MAX, false)
    }

    fn parse_checked(
        json: &str,
        kind: PolicyKind,
        limit: usize,
        requires_2012: bool,
    ) -> Result<Policy, PolicyError> {
        let checked = crate::check::check_document(json, kind, Some(limit), requires_2012);
        if let Some(first) = checked.first() {
            return Err(first.error.clone());
        }
        checked.policy.ok_or_else(|| PolicyError::Syntax {
            detail: "policy must be a json object".to_owned(),
        })
    }

    /// The context keys the policy reads when `action` is requested (every statement when
    /// `None`): the keys of its conditions and the policy variables (`${aws:username}`) in its
    /// resources and condition values, as IAM's `GetContextKeysFor*Policy` and the simulator's
    /// `MissingContextValues` report them. Each key once (case-insensitively), in the order
    /// first seen.
    pub fn context_keys(&self, action: Option<&str>) -> Vec<String> {
        let action = action.map(str::to_lowercase);
        let variables = self.variables_enabled();
        let mut keys: Vec<String> = Vec::new();
        let mut add = |k: &str| {
            if !k.is_empty() && !keys.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                keys.push(k.to_owned());
            }
        };
        for st in &self.statements {
            if let Some(a) = &action {
                let hit = st.action.values.iter().any(|p| {
                    crate::pattern::matches(
                        &crate::pattern::glob_pieces(&p.to_lowercase(), true),
                        a,
                    )
                });
                if hit == st.action.negated {
                    continue;
                }
            }
            let resources = st.resource.iter().flat_map(|r| r.values.iter());
            let values = st.conditions.iter().flat_map(|c| c.values.iter());
            if variables {
                for text in resources.chain(values) {
                    for v in crate::pattern::variables(text) {
                        add(&v.key);
                    }
                }
            }
            for c in &st.conditions {
                add(&c.key);
            }
        }
        keys
    }

    /// Whether policy variables are substituted (`Version` `2012-10-17`).
    pub fn variables_enabled(&self) -> bool {
        self.version.as_deref() == Some("2012-10-17")
    }

    /// The JSON path of statement `index` (`Statement[2]`, or `Statement`
    /// when the document has a single statement object).
    pub fn statement_path(&self, index: usize) -> String {
        if self.statement_is_array {
            format!("Statement[{index}]")
        } else {
            "Statement".to_string()
        }
    }

    /// The first Allow statement trusting GitHub Actions' OpenID Connect provider
    /// (`oidc-provider/token.actions.githubusercontent.com`, or an enterprise's
    /// `…/token.actions.githubusercontent.com/<slug>`) without scoping the token's `sub`: IAM
    /// refuses such a trust policy, since GitHub signs tokens for every repository with the same
    /// keys and the role would be open to any workflow on GitHub. Scoped means a
    /// `StringEquals`, `StringLike` or `StringEqualsIgnoreCase` condition on `<issuer>:sub`
    /// none of whose values is only wildcards. Returns the statement's index, the provider
    /// ARN and the `sub` key to name in IAM's message.
    pub fn unscoped_github_subject(&self) -> Option<(usize, String, String)> {
        use crate::operator::OperatorKind::{StringEquals, StringEqualsIgnoreCase, StringLike};
        self.statements
            .iter()
            .enumerate()
            .filter(|(_, st)| st.effect == Effect::Allow)
            .find_map(|(i, st)| {
                let p = st.principal.as_ref().filter(|p| !p.negated)?;
                let Principals::Map(map) = &p.values else {
                    return None;
                };
                map.iter()
                    .filter(|(k, _)| *k == PrincipalKey::Federated)
                    .flat_map(|(_, v)| v)
                    .find_map(|arn| {
                        let (_, issuer) = arn.split_once(":oidc-provider/")?;
                        let host = issuer.split('/').next()?;
                        if !host.eq_ignore_ascii_case("token.actions.githubusercontent.com") {
                            return None;
                        }
                        let key = format!("{issuer}:sub");
                        let scoped = st.conditions.iter().any(|c| {
                            matches!(
                                c.operator.kind,
                                StringEquals | StringLike | StringEqualsIgnoreCase
                            ) && c.key.eq_ignore_ascii_case(&key)
                                && !c.values.is_empty()
                                && c.values
                                    .iter()
                                    .all(|v| !v.chars().all(|ch| ch == '*' || ch == '?'))
                        });
                        (!scoped).then(|| (i, arn.clone(), key))
                    })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keys_are_condition_keys_and_variables_of_the_statements_that_apply() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*",
                 "Condition":{"StringLike":{"s3:prefix":"${aws:userid}/${*}"},"Bool":{"aws:SecureTransport":"true"}}},
                {"Effect":"Allow","Action":"kms:*","Resource":"*",
                 "Condition":{"StringEquals":{"aws:PrincipalTag/team":"${aws:PrincipalTag/Team, 'none'}"}}}]}"#,
            PolicyKind::Identity,
        )
        .unwrap();
        assert_eq!(
            p.context_keys(None),
            [
                "aws:username",
                "aws:userid",
                "s3:prefix",
                "aws:SecureTransport",
                "aws:PrincipalTag/Team"
            ]
        );
        assert_eq!(
            p.context_keys(Some("KMS:Decrypt")),
            ["aws:PrincipalTag/Team"]
        );
        assert!(p.context_keys(Some("iam:ListUsers")).is_empty());
    }

    fn grants(statements: &str, service: &str) -> bool {
        let doc = format!(r#"{{"Version":"2012-10-17","Statement":{statements}}}"#);
        Policy::parse(&doc, PolicyKind::Identity)
            .unwrap()
            .grants_service(service)
    }

    #[test]
    fn a_policy_grants_an_action_its_allows_name() {
        let doc = |st: &str| {
            Policy::parse(
                &format!(r#"{{"Version":"2012-10-17","Statement":[{st}]}}"#),
                PolicyKind::Identity,
            )
            .unwrap()
        };
        let p = doc(r#"{"Effect":"Allow","Action":["kms:En*","iam:ListUsers"],"Resource":"*"}"#);
        assert!(p.grants_action("kms:Encrypt") && p.grants_action("IAM:listusers"));
        assert!(!p.grants_action("kms:ListKeys"));
        let not = doc(r#"{"Effect":"Allow","NotAction":"kms:*","Resource":"*"}"#);
        assert!(not.grants_action("sts:AssumeRole") && !not.grants_action("kms:Decrypt"));
        assert!(
            !doc(r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#).grants_action("kms:Decrypt")
        );
    }

    #[test]
    fn a_policy_grants_a_service_when_an_allow_reaches_one_of_its_actions() {
        let allow = |a: &str| format!(r#"{{"Effect":"Allow","Action":{a},"Resource":"*"}}"#);
        assert!(grants(&allow(r#""kms:Decrypt""#), "kms"));
        assert!(
            grants(&allow(r#""KMS:de*""#), "kms"),
            "case-insensitive, wildcards"
        );
        assert!(grants(&allow(r#""*""#), "secretsmanager"));
        assert!(!grants(&allow(r#""kms:*""#), "iam"));
        // A wildcard that names no action of the service reaches none.
        assert!(!grants(&allow(r#""kms:NoSuchAction*""#), "kms"));
        // A Deny grants nothing, whatever it names.
        assert!(!grants(
            r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#,
            "kms"
        ));
        // NotAction: every service it does not wholly exclude.
        let not = |a: &str| format!(r#"{{"Effect":"Allow","NotAction":{a},"Resource":"*"}}"#);
        assert!(grants(&not(r#""iam:*""#), "kms"));
        assert!(!grants(&not(r#""iam:*""#), "iam"));
        assert!(grants(&not(r#""iam:Delete*""#), "iam"));
        // A service the reference does not list: judged by the service part of the pattern.
        assert!(grants(&allow(r#""madeup:Do""#), "madeup"));
        assert!(!grants(&not(r#""madeup:*""#), "madeup"));
    }

    #[test]
    fn parses_a_simple_policy() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
            PolicyKind::Identity,
        )
        .unwrap();
        assert_eq!(p.statements.len(), 1);
        assert!(!p.statement_is_array);
    }

    #[test]
    fn duplicate_keys_are_syntax_errors() {
        let e = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
            PolicyKind::Identity,
        )
        .unwrap_err();
        assert_eq!(e.aws_message(), "Syntax errors in policy.");
    }

    #[test]
    fn trust_policies_forbid_resource() {
        let e = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}}"#,
            PolicyKind::Trust,
        )
        .unwrap_err();
        assert_eq!(e.aws_message(), "Has prohibited field Resource");
    }

    #[test]
    fn principal_checks_by_kind() {
        let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:*","Resource":"*"}}"#;
        assert_eq!(
            Policy::parse(doc, PolicyKind::Identity)
                .unwrap_err()
                .aws_message(),
            "Policy document should not specify a principal."
        );
        assert!(Policy::parse(doc, PolicyKind::Resource).is_ok());
        let bad = doc.replace("111122223333", "arn:aws:iam::*:root");
        assert!(matches!(
            Policy::parse(&bad, PolicyKind::Resource),
            Err(PolicyError::InvalidPrincipal { .. })
        ));
    }
}
