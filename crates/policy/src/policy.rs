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
//! Decisions where AWS is silent: duplicate JSON keys are a syntax error
//! (two readers could otherwise disagree on which one counts); `null` items
//! in `Action`/`Resource` arrays are ignored (IAM accepts them); element and
//! operator names are case-sensitive.

use crate::error::PolicyError;
use crate::json::Json;
use crate::operator::{Operator, ValueType};
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

fn syntax(detail: impl Into<String>) -> PolicyError {
    PolicyError::Syntax {
        detail: detail.into(),
    }
}

fn check_duplicates(members: &[(String, Json)], at: &str) -> Result<(), PolicyError> {
    for (i, (k, _)) in members.iter().enumerate() {
        if members.iter().skip(i + 1).any(|(k2, _)| k2 == k) {
            return Err(syntax(format!("duplicate key {k:?} in {at}")));
        }
    }
    Ok(())
}

fn string_list(v: &Json, what: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Json::String(s) => Ok(vec![s.clone()]),
        Json::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Json::String(s) => out.push(s.clone()),
                    Json::Null => {}
                    other => {
                        return Err(syntax(format!(
                            "{what} items must be strings, found {}",
                            other.type_name()
                        )));
                    }
                }
            }
            Ok(out)
        }
        other => Err(syntax(format!(
            "{what} must be a string or an array, found {}",
            other.type_name()
        ))),
    }
}

fn scalar_text(v: &Json, what: &str) -> Result<String, PolicyError> {
    match v {
        Json::String(s) | Json::Number(s) => Ok(s.clone()),
        Json::Bool(b) => Ok(b.to_string()),
        other => Err(syntax(format!(
            "{what} values must be strings, numbers or booleans, found {}",
            other.type_name()
        ))),
    }
}

fn parse_principals(v: &Json, field: &str) -> Result<Principals, PolicyError> {
    match v {
        Json::String(s) if s == "*" => Ok(Principals::Wildcard),
        Json::String(s) => Err(PolicyError::InvalidPrincipal {
            key: field.to_string(),
            value: s.clone(),
        }),
        Json::Object(members) => {
            check_duplicates(members, field)?;
            let mut out = Vec::with_capacity(members.len());
            for (k, val) in members {
                let key = match k.as_str() {
                    "AWS" => PrincipalKey::Aws,
                    "Service" => PrincipalKey::Service,
                    "Federated" => PrincipalKey::Federated,
                    "CanonicalUser" => PrincipalKey::CanonicalUser,
                    other => return Err(syntax(format!("unknown principal type {other:?}"))),
                };
                out.push((key, string_list(val, field)?));
            }
            Ok(Principals::Map(out))
        }
        other => Err(syntax(format!(
            "{field} must be \"*\" or an object, found {}",
            other.type_name()
        ))),
    }
}

/// The raw statement between the syntax pass and the later checks.
struct RawStatement {
    sid: Option<String>,
    effect: String,
    principal: Option<Negatable<Principals>>,
    action: Option<Negatable<Vec<String>>>,
    resource: Option<Negatable<Vec<String>>>,
    conditions: Vec<ConditionEntry>,
}

fn parse_statement(v: &Json, index: usize) -> Result<RawStatement, PolicyError> {
    let Json::Object(members) = v else {
        return Err(syntax(format!(
            "statement {index} must be an object, found {}",
            v.type_name()
        )));
    };
    check_duplicates(members, "statement")?;
    let mut st = RawStatement {
        sid: None,
        effect: String::new(),
        principal: None,
        action: None,
        resource: None,
        conditions: Vec::new(),
    };
    let mut has_effect = false;
    for (k, val) in members {
        match k.as_str() {
            "Sid" => match val {
                Json::String(s) => st.sid = Some(s.clone()),
                other => {
                    return Err(syntax(format!(
                        "Sid must be a string, found {}",
                        other.type_name()
                    )));
                }
            },
            "Effect" => match val {
                Json::String(s)
                    if s.eq_ignore_ascii_case("allow") || s.eq_ignore_ascii_case("deny") =>
                {
                    st.effect = s.clone();
                    has_effect = true;
                }
                Json::String(s) => return Err(syntax(format!("invalid Effect {s:?}"))),
                other => {
                    return Err(syntax(format!(
                        "Effect must be a string, found {}",
                        other.type_name()
                    )));
                }
            },
            "Principal" | "NotPrincipal" => {
                if st.principal.is_some() {
                    return Err(syntax("statement has both Principal and NotPrincipal"));
                }
                st.principal = Some(Negatable {
                    negated: k == "NotPrincipal",
                    values: parse_principals(val, k)?,
                });
            }
            "Action" | "NotAction" => {
                if st.action.is_some() {
                    return Err(syntax("statement has both Action and NotAction"));
                }
                st.action = Some(Negatable {
                    negated: k == "NotAction",
                    values: string_list(val, k)?,
                });
            }
            "Resource" | "NotResource" => {
                if st.resource.is_some() {
                    return Err(syntax("statement has both Resource and NotResource"));
                }
                st.resource = Some(Negatable {
                    negated: k == "NotResource",
                    values: string_list(val, k)?,
                });
            }
            "Condition" => st.conditions = parse_condition(val)?,
            other => return Err(syntax(format!("unknown statement element {other:?}"))),
        }
    }
    if !has_effect {
        return Err(syntax(format!("statement {index} has no Effect")));
    }
    Ok(st)
}

fn parse_condition(v: &Json) -> Result<Vec<ConditionEntry>, PolicyError> {
    let Json::Object(ops) = v else {
        return Err(syntax(format!(
            "Condition must be an object, found {}",
            v.type_name()
        )));
    };
    check_duplicates(ops, "Condition")?;
    let mut out = Vec::new();
    for (op_name, block) in ops {
        let Json::Object(keys) = block else {
            return Err(syntax(format!(
                "condition operator {op_name:?} must map to an object, found {}",
                block.type_name()
            )));
        };
        check_duplicates(keys, op_name)?;
        if keys.is_empty() {
            // IAM accepts an empty block even under an unknown operator.
            continue;
        }
        let operator = Operator::parse(op_name)
            .ok_or_else(|| syntax(format!("unknown condition operator {op_name:?}")))?;
        for (key, vals) in keys {
            let values = match vals {
                Json::Array(items) => items
                    .iter()
                    .map(|i| scalar_text(i, "condition"))
                    .collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar_text(other, "condition")?],
            };
            out.push(ConditionEntry {
                operator,
                operator_name: op_name.clone(),
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

fn valid_partition(p: &str) -> bool {
    PARTITIONS.contains(&p)
}

/// IAM's older parser rejects truncated ARNs (in a known partition): fewer
/// than five colons with an empty segment, or an empty service.
fn legacy_resource_ok(r: &str) -> bool {
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

fn resource_format_error(r: &str) -> Option<PolicyError> {
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

fn action_error(a: &str) -> Option<PolicyError> {
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

fn valid_principal_value(key: PrincipalKey, v: &str) -> bool {
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

fn legacy_date_check(entries: &[ConditionEntry]) -> Result<(), PolicyError> {
    for e in entries {
        if e.operator.kind.value_type() == ValueType::Date {
            for v in &e.values {
                if crate::date::parse(v).is_none() {
                    return Err(PolicyError::LegacyParsing {
                        detail: format!("invalid date {v:?} for condition key {:?}", e.key),
                    });
                }
            }
        }
    }
    Ok(())
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
        let size = policy_size(json);
        if size > limit {
            return Err(PolicyError::TooLarge { kind, size, limit });
        }
        if kind.iam_stored()
            && let Some(ch) = json
                .chars()
                .find(|c| !matches!(*c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'))
        {
            return Err(PolicyError::InvalidCharacter {
                ch,
                code: u32::from(ch),
            });
        }
        let doc = Json::parse(json).map_err(|e| syntax(format!("invalid json: {e}")))?;

        // 2. Syntax.
        let Json::Object(top) = &doc else {
            return Err(syntax(format!(
                "policy must be a json object, found {}",
                doc.type_name()
            )));
        };
        check_duplicates(top, "policy")?;
        let mut version = None;
        let mut id = None;
        let mut statement_json = None;
        for (k, v) in top {
            match (k.as_str(), v) {
                ("Version", Json::String(s)) if s == "2012-10-17" || s == "2008-10-17" => {
                    version = Some(s.clone());
                }
                ("Version", other) => {
                    return Err(syntax(format!(
                        "invalid Version {}: use \"2012-10-17\"",
                        other.to_value()
                    )));
                }
                ("Id", Json::String(s)) => id = Some(s.clone()),
                ("Id", other) => {
                    return Err(syntax(format!(
                        "Id must be a string, found {}",
                        other.type_name()
                    )));
                }
                ("Statement", v) => statement_json = Some(v),
                (other, _) => return Err(syntax(format!("unknown policy element {other:?}"))),
            }
        }
        let (raw_statements, statement_is_array) = match statement_json {
            None => return Err(syntax("policy has no Statement")),
            Some(Json::Array(items)) if items.is_empty() => {
                return Err(syntax("Statement is an empty array"));
            }
            Some(Json::Array(items)) => (
                items
                    .iter()
                    .enumerate()
                    .map(|(i, s)| parse_statement(s, i))
                    .collect::<Result<Vec<_>, _>>()?,
                true,
            ),
            Some(obj @ Json::Object(_)) => (vec![parse_statement(obj, 0)?], false),
            Some(other) => {
                return Err(syntax(format!(
                    "Statement must be an object or an array, found {}",
                    other.type_name()
                )));
            }
        };

        // 3. Version.
        if requires_2012 && version.as_deref() != Some("2012-10-17") {
            return Err(PolicyError::VersionTooOld {
                found: version,
                kind,
            });
        }

        // 4. Legacy parsing.
        for st in &raw_statements {
            if st.effect != "Allow" && st.effect != "Deny" {
                return Err(PolicyError::LegacyParsing {
                    detail: format!(
                        "Effect {:?} must be spelled \"Allow\" or \"Deny\"",
                        st.effect
                    ),
                });
            }
            if let Some(res) = &st.resource
                && let Some(bad) = res.values.iter().find(|r| !legacy_resource_ok(r))
            {
                return Err(PolicyError::LegacyParsing {
                    detail: format!("truncated resource {bad:?}"),
                });
            }
            legacy_date_check(&st.conditions)?;
        }

        // 5. Sids.
        if kind.iam_stored()
            && let Some(sid) = raw_statements.iter().find_map(|st| {
                st.sid
                    .as_deref()
                    .filter(|s| !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            })
        {
            return Err(PolicyError::InvalidSid {
                sid: sid.to_string(),
            });
        }
        for (i, st) in raw_statements.iter().enumerate() {
            if let Some(sid) = st.sid.as_deref().filter(|s| !s.is_empty())
                && raw_statements
                    .iter()
                    .skip(i + 1)
                    .any(|o| o.sid.as_deref() == Some(sid))
            {
                return Err(PolicyError::DuplicateSid {
                    sid: sid.to_string(),
                });
            }
        }
        // 6. Actions present.
        for (i, st) in raw_statements.iter().enumerate() {
            if st.action.as_ref().is_none_or(|a| a.values.is_empty()) {
                return Err(PolicyError::MissingAction { statement: i });
            }
        }

        // 7. Resource formats.
        for st in &raw_statements {
            if let Some(res) = &st.resource
                && let Some(e) = res.values.iter().find_map(|r| resource_format_error(r))
            {
                return Err(e);
            }
        }

        // 8. Action prefixes.
        for st in &raw_statements {
            if let Some(a) = &st.action
                && let Some(e) = a.values.iter().find_map(|a| action_error(a))
            {
                return Err(e);
            }
        }

        // 8b. A trust policy's actions are STS's (`sts:AssumeRole*`, `sts:TagSession`,
        // `sts:SetSourceIdentity`, ...), or every action.
        if kind == PolicyKind::Trust {
            for st in &raw_statements {
                if let Some(a) = st.action.as_ref().filter(|a| !a.negated)
                    && let Some(bad) = a.values.iter().find(|v| {
                        *v != "*" && !v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("sts:"))
                    })
                {
                    return Err(PolicyError::TrustAction {
                        action: bad.clone(),
                    });
                }
            }
        }

        // 9. Resources present or prohibited.
        for (i, st) in raw_statements.iter().enumerate() {
            if kind == PolicyKind::Trust {
                if let Some(r) = &st.resource {
                    return Err(PolicyError::ProhibitedField {
                        kind,
                        field: if r.negated { "NotResource" } else { "Resource" },
                    });
                }
            } else if st.resource.as_ref().is_none_or(|r| r.values.is_empty()) {
                return Err(PolicyError::MissingResource { statement: i });
            }
        }

        // 10. Principals and policy-type restrictions.
        for (i, st) in raw_statements.iter().enumerate() {
            match &st.principal {
                Some(p) if kind.forbids_principal() => {
                    return Err(PolicyError::PrincipalNotAllowed {
                        kind,
                        field: if p.negated {
                            "NotPrincipal"
                        } else {
                            "Principal"
                        },
                    });
                }
                None if kind.requires_principal() => {
                    return Err(PolicyError::MissingPrincipal { kind, statement: i });
                }
                Some(p) => {
                    if p.negated && matches!(kind, PolicyKind::Trust | PolicyKind::Rcp) {
                        return Err(PolicyError::ProhibitedField {
                            kind,
                            field: "NotPrincipal",
                        });
                    }
                    if let Principals::Map(map) = &p.values {
                        for (key, vals) in map {
                            if let Some(bad) = vals.iter().find(|v| !valid_principal_value(*key, v))
                            {
                                return Err(PolicyError::InvalidPrincipal {
                                    key: key.name().to_string(),
                                    value: bad.clone(),
                                });
                            }
                        }
                    }
                    if kind == PolicyKind::Rcp && p.values != Principals::Wildcard {
                        return Err(PolicyError::Unsupported {
                            kind,
                            detail: "a Principal other than \"*\"".to_string(),
                        });
                    }
                }
                None => {}
            }
            if kind == PolicyKind::Rcp && st.effect == "Allow" {
                return Err(PolicyError::Unsupported {
                    kind,
                    detail: format!(
                        "Allow statements (statement {i}): only the AWS-managed RCPFullAWSAccess allows"
                    ),
                });
            }
        }

        let statements = raw_statements
            .into_iter()
            .map(|st| Statement {
                sid: st.sid,
                effect: if st.effect == "Allow" {
                    Effect::Allow
                } else {
                    Effect::Deny
                },
                principal: st.principal,
                action: st.action.unwrap_or(Negatable {
                    negated: false,
                    values: Vec::new(),
                }),
                resource: st.resource,
                conditions: st.conditions,
            })
            .collect();
        Ok(Policy {
            kind,
            version,
            id,
            statements,
            statement_is_array,
            size,
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
