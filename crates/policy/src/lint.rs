//! `palisade policy validate`: findings in the style of IAM Access
//! Analyzer's `ValidatePolicy`.
//!
//! Every check IAM makes on the document is run to the end (`crate::check`): each failure is
//! an `ERROR` with AWS's message and Access Analyzer's code for the check (`JSON_SYNTAX_ERROR`,
//! `INVALID_CONDITION_OPERATOR`, `MISSING_PRINCIPAL`, `INVALID_ACTION`…; `INVALID_ARN` and
//! `MALFORMED_POLICY_DOCUMENT` where it has none), at the element it is about. What could be
//! read is then checked against the Service Authorization Reference and for risky or redundant
//! constructs. Each finding carries a JSON path such as `Statement[0].Action[1]`.

use crate::ip::Cidr;
use crate::json::Json;
use crate::operator::{Operator, OperatorKind, SetQualifier, ValueType};
use crate::pattern;
use crate::policy::{Effect, Policy, PolicyKind, PrincipalKey, Principals, Statement};
use crate::request::{parse_bool, parse_number};
use crate::service_data::{self, ServiceData};
use serde_json::{Value as JsonValue, json};
use std::collections::HashSet;
use std::fmt;

/// How serious a finding is, in Access Analyzer's four classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The policy is invalid or does not do what it says.
    Error,
    /// The policy grants more than intended.
    SecurityWarning,
    /// The policy does not follow the grammar's best practices.
    Warning,
    /// The policy could be simpler.
    Suggestion,
}

impl Severity {
    /// `ERROR`, `SECURITY_WARNING`, `WARNING`, `SUGGESTION`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::SecurityWarning => "SECURITY_WARNING",
            Severity::Warning => "WARNING",
            Severity::Suggestion => "SUGGESTION",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Severity class.
    pub severity: Severity,
    /// Issue code, e.g. `INVALID_ACTION`.
    pub code: &'static str,
    /// What is wrong, naming the value.
    pub message: String,
    /// JSON path of the offending element (empty for the whole document).
    pub path: String,
}

/// Whether any finding is an `ERROR` (the CLI then exits with status 1).
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}

/// Findings as a JSON array of `{"findingType", "issueCode", "message",
/// "path"}`.
pub fn findings_to_json(findings: &[Finding]) -> JsonValue {
    JsonValue::Array(
        findings
            .iter()
            .map(|f| {
                json!({
                    "findingType": f.severity.name(),
                    "issueCode": f.code,
                    "message": f.message,
                    "path": f.path,
                })
            })
            .collect(),
    )
}

/// Findings as an aligned text table (`SEVERITY  CODE  PATH  MESSAGE`), or
/// `no findings` when there is none.
pub fn render_table(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no findings\n".to_string();
    }
    let head = ["SEVERITY", "CODE", "PATH", "MESSAGE"];
    let rows: Vec<[&str; 4]> = findings
        .iter()
        .map(|f| {
            [
                f.severity.name(),
                f.code,
                if f.path.is_empty() { "-" } else { &f.path },
                &f.message,
            ]
        })
        .collect();
    let mut w = head.map(str::len);
    for r in &rows {
        for (wi, c) in w.iter_mut().zip(r.iter()) {
            *wi = (*wi).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&head).chain(rows.iter()) {
        let [a, b, c, d] = r;
        let [wa, wb, wc, _] = w;
        out.push_str(&format!("{a:<wa$}  {b:<wb$}  {c:<wc$}  {d}\n"));
    }
    out
}

struct Linter<'a> {
    data: &'a ServiceData,
    out: Vec<Finding>,
    /// Paths of the problems IAM's checks found: the element checks below skip them.
    flagged: HashSet<String>,
}

impl Linter<'_> {
    fn add(&mut self, severity: Severity, code: &'static str, path: String, message: String) {
        self.out.push(Finding {
            severity,
            code,
            message,
            path,
        });
    }
}

/// Path of value `j` of element `elem` in statement JSON `st`: `…Action[1]`
/// for arrays, `…Action` for a single string.
fn item_path(base: &str, st: Option<&Json>, elem: &str, j: usize) -> String {
    crate::check::value_path(&format!("{base}.{elem}"), st.and_then(|s| s.get(elem)), j)
}

/// The finding for a document over its type's quota. Access Analyzer's are general warnings:
/// the quota depends on where the policy goes (a role's inline policies share 10,240
/// characters, a KMS key policy has 32,768, a trust policy's quota can be raised), so the
/// other checks still run (bug: an `ERROR` that stopped them all). Organizations' quota for
/// SCPs and RCPs is fixed, and Access Analyzer's SCP finding an error.
fn size_finding(json: &str, kind: PolicyKind) -> Option<Finding> {
    let size = crate::policy::policy_size(json);
    let limit = kind.size_limit();
    if size <= limit {
        return None;
    }
    let (severity, code, quota) = match kind {
        PolicyKind::Identity | PolicyKind::Boundary => (
            Severity::Warning,
            "POLICY_SIZE_EXCEEDS_IDENTITY_POLICY_QUOTA",
            "the quota of a managed policy (a user's inline policies share 2,048, a group's \
             5,120, a role's 10,240)",
        ),
        PolicyKind::Session => (
            Severity::Warning,
            "POLICY_SIZE_EXCEEDS_IDENTITY_POLICY_QUOTA",
            "the quota of an inline session policy (STS also limits the packed size of \
             session policies and tags together)",
        ),
        PolicyKind::Trust => (
            Severity::Warning,
            "POLICY_SIZE_EXCEEDS_ROLE_TRUST_POLICY_QUOTA",
            "the default quota of a role trust policy (ignore this if the account's quota was \
             raised)",
        ),
        PolicyKind::Resource | PolicyKind::VpcEndpoint => (
            Severity::Warning,
            "POLICY_SIZE_EXCEEDS_RESOURCE_POLICY_QUOTA",
            "the quota of S3 bucket, Secrets Manager and endpoint policies (KMS key policies \
             allow 32,768)",
        ),
        PolicyKind::Scp => (
            Severity::Error,
            "POLICY_SIZE_EXCEEDS_SCP_QUOTA",
            "the quota of a service control policy",
        ),
        PolicyKind::Rcp => (
            Severity::Error,
            "POLICY_SIZE_EXCEEDS_RCP_QUOTA",
            "the quota of a resource control policy",
        ),
    };
    Some(Finding {
        severity,
        code,
        message: format!(
            "the policy has {size} non-whitespace characters, over the {limit} of {quota}: \
             split it into smaller policies"
        ),
        path: String::new(),
    })
}

/// Validates `json` as a policy of type `kind` and returns the findings,
/// most severe first.
pub fn validate_policy(json: &str, kind: PolicyKind) -> Vec<Finding> {
    let checked = Policy::check(json, kind);
    let mut l = Linter {
        data: service_data::data(),
        out: size_finding(json, kind).into_iter().collect(),
        flagged: checked.problems.iter().map(|p| p.path.clone()).collect(),
    };
    // Every check IAM makes, each failure at its element, with Access Analyzer's issue code
    // (bug: the first failure stopped validation, and came without its path).
    for p in &checked.problems {
        l.add(
            Severity::Error,
            p.code,
            p.path.clone(),
            crate::simulate::with_detail(&p.error),
        );
    }
    let Some(policy) = checked.policy else {
        return finish(l.out);
    };
    let doc = Json::parse(json).ok();
    let stmts_json: Vec<&Json> = match doc.as_ref().and_then(|d| d.get("Statement")) {
        Some(Json::Array(a)) => a.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    };
    // A statement that is not an object was reported; there is nothing in it to check.
    let readable = |i: usize| matches!(stmts_json.get(i), Some(Json::Object(_)));
    // IAM refuses this trust policy when it is saved (CreateRole, UpdateAssumeRolePolicy).
    if policy.kind == PolicyKind::Trust
        && let Some((i, provider, key)) = policy.unscoped_github_subject()
    {
        l.add(
            Severity::Error,
            "MALFORMED_POLICY_DOCUMENT",
            format!("{}.Condition", policy.statement_path(i)),
            format!(
                "Trust policy with trusted principal {provider} must evaluate, using StringEquals, StringLike or StringEqualsIgnoreCase, {key} which is not scoped to all."
            ),
        );
    }
    // A Version that is missing where one is required, or invalid, was reported as an error.
    if policy.version.is_none() && !checked.problems.iter().any(|p| p.code == "INVALID_VERSION") {
        l.add(
            Severity::Warning,
            "MISSING_VERSION",
            String::new(),
            "no Version: policy variables are literal text; add \"Version\": \"2012-10-17\""
                .to_string(),
        );
    }
    for (i, st) in policy.statements.iter().enumerate() {
        if !readable(i) {
            continue;
        }
        let base = policy.statement_path(i);
        let sj = stmts_json.get(i).copied();
        lint_statement(&mut l, &policy, st, &base, sj);
        // Operators with empty blocks are dropped by the parser; look at the
        // document for them.
        if let Some(Json::Object(ops)) = sj.and_then(|s| s.get("Condition")) {
            for (op, block) in ops {
                if matches!(block, Json::Object(m) if m.is_empty()) {
                    let path = format!("{base}.Condition.{op}");
                    if Operator::parse(op).is_none() {
                        l.add(
                            Severity::Error,
                            "INVALID_CONDITION_OPERATOR",
                            path,
                            format!("unknown condition operator {op:?}"),
                        );
                    } else {
                        l.add(
                            Severity::Suggestion,
                            "EMPTY_OBJECT_CONDITION",
                            path,
                            format!("operator {op} has no condition key"),
                        );
                    }
                }
            }
        }
    }
    // Redundant statements: same content, Sid aside. A statement with an error is compared
    // as written, not as read: what could not be read is missing from it.
    let intact = |i: usize| {
        let base = policy.statement_path(i);
        readable(i)
            && !checked.problems.iter().any(|p| {
                p.path
                    .strip_prefix(&base)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            })
    };
    for (i, a) in policy.statements.iter().enumerate() {
        for (j, b) in policy.statements.iter().enumerate().skip(i + 1) {
            let same = intact(i)
                && intact(j)
                && a.effect == b.effect
                && a.action == b.action
                && a.resource == b.resource
                && a.principal == b.principal
                && a.conditions == b.conditions;
            if same {
                l.add(
                    Severity::Suggestion,
                    "REDUNDANT_STATEMENT",
                    policy.statement_path(j),
                    format!("statement {j} repeats {}", policy.statement_path(i)),
                );
            }
        }
    }
    finish(l.out)
}

/// The findings without repeats, most severe first (in the order found within a severity).
fn finish(mut out: Vec<Finding>) -> Vec<Finding> {
    let mut seen = std::collections::HashSet::new();
    out.retain(|f| seen.insert((f.code, f.path.clone(), f.message.clone())));
    out.sort_by_key(|f| f.severity);
    out
}

/// Whether glob `pattern` matches `text` (wildcards in `text` are taken
/// literally: good enough for redundancy suggestions).
fn action_matches(pattern: &str, text: &str) -> bool {
    pattern::matches(&pattern::glob_pieces(pattern, true), text)
}

fn lint_statement(
    l: &mut Linter<'_>,
    policy: &Policy,
    st: &Statement,
    base: &str,
    sj: Option<&Json>,
) {
    let elem = if st.action.negated {
        "NotAction"
    } else {
        "Action"
    };
    if let Some(sid) = &st.sid {
        if sid.is_empty() {
            l.add(
                Severity::Suggestion,
                "EMPTY_SID_VALUE",
                format!("{base}.Sid"),
                "empty Sid: remove it or give it a value".to_string(),
            );
        } else if policy.kind.iam_stored()
            && !sid.chars().all(|c| c.is_ascii_alphanumeric())
            && !l.flagged.contains(&format!("{base}.Sid"))
        {
            l.add(
                // IAM refuses such a Sid in the policies it stores; Access Analyzer reports it
                // as an error.
                Severity::Error,
                "UNSUPPORTED_SID",
                format!("{base}.Sid"),
                format!("Sid {sid:?} should only contain [0-9A-Za-z]"),
            );
        }
    }
    // Actions.
    for (j, a) in st.action.values.iter().enumerate() {
        let path = item_path(base, sj, elem, j);
        if l.flagged.contains(&path) {
            continue;
        }
        if a.contains("${") {
            l.add(
                Severity::Error,
                "VARIABLE_UNSUPPORTED_IN_ELEMENT",
                path.clone(),
                format!("policy variables are not supported in {elem}: {a:?}"),
            );
        }
        if a == "*" {
            continue;
        }
        let Some((svc, name)) = a.split_once(':') else {
            continue;
        };
        let svc_l = svc.to_lowercase();
        let name_l = name.to_lowercase();
        if svc.contains(['*', '?']) {
            l.add(
                Severity::Suggestion,
                "WILDCARD_IN_SERVICE_NAME",
                path,
                format!("wildcard in the service prefix of {a:?}: name the services"),
            );
            continue;
        }
        let Some(service) = l.data.service(&svc_l) else {
            l.add(
                Severity::Error,
                "INVALID_SERVICE",
                path,
                format!("unknown service prefix {svc:?} in action {a:?}"),
            );
            continue;
        };
        let found = if name.contains(['*', '?']) {
            service
                .actions()
                .any(|n| action_matches(&name_l, &n.to_lowercase()))
        } else {
            service.action(name).is_some()
        };
        if !found {
            l.add(
                Severity::Error,
                "INVALID_ACTION",
                path,
                format!("action {a:?} matches no action of service {svc}"),
            );
        }
    }
    // Redundant actions inside the statement.
    for (j, a) in st.action.values.iter().enumerate() {
        let al = a.to_lowercase();
        if let Some(k) = st.action.values.iter().enumerate().position(|(k, b)| {
            k != j && {
                let bl = b.to_lowercase();
                bl != al && action_matches(&bl, &al)
            }
        }) {
            l.add(
                Severity::Suggestion,
                "REDUNDANT_ACTION",
                item_path(base, sj, elem, j),
                format!(
                    "{a:?} is covered by {:?}",
                    st.action.values.get(k).map(String::as_str).unwrap_or("")
                ),
            );
        }
    }
    // Resources.
    if let Some(res) = &st.resource {
        let relem = if res.negated {
            "NotResource"
        } else {
            "Resource"
        };
        for (j, r) in res.values.iter().enumerate() {
            let path = item_path(base, sj, relem, j);
            if !l.flagged.contains(&path) {
                lint_resource(l, policy, r, path);
            }
        }
        for (j, r) in res.values.iter().enumerate() {
            if let Some(k) = res.values.iter().enumerate().position(|(k, o)| {
                k != j && o != r && !r.contains("${") && !o.contains("${") && action_matches(o, r)
            }) {
                l.add(
                    Severity::Suggestion,
                    "REDUNDANT_RESOURCE",
                    item_path(base, sj, relem, j),
                    format!(
                        "{r:?} is covered by {:?}",
                        res.values.get(k).map(String::as_str).unwrap_or("")
                    ),
                );
            }
        }
    }
    if st.effect == Effect::Allow {
        lint_pass_role(l, st, base, sj);
        if policy.kind == PolicyKind::Trust {
            lint_federated_trust(l, st, base, sj);
        }
    }
    // Principals.
    if let Some(p) = &st.principal {
        if p.negated && st.effect == Effect::Allow {
            l.add(
                Severity::SecurityWarning,
                "ALLOW_WITH_NOT_PRINCIPAL",
                format!("{base}.NotPrincipal"),
                "Allow with NotPrincipal grants every principal not listed, anonymous included"
                    .to_string(),
            );
        }
        let wildcard = match &p.values {
            Principals::Wildcard => true,
            Principals::Map(m) => m.iter().any(|(_, v)| v.iter().any(|x| x == "*")),
        };
        if wildcard && !p.negated && st.effect == Effect::Allow && st.conditions.is_empty() {
            let (sev, code) = if policy.kind == PolicyKind::Trust {
                (Severity::SecurityWarning, "TRUST_POLICY_WILDCARD_PRINCIPAL")
            } else {
                (Severity::SecurityWarning, "PUBLIC_ACCESS")
            };
            l.add(
                sev,
                code,
                format!("{base}.Principal"),
                "Allow to \"*\" without a condition grants access to everyone, anonymous callers included"
                    .to_string(),
            );
        }
        if let Principals::Map(m) = &p.values {
            let elem = if p.negated {
                "NotPrincipal"
            } else {
                "Principal"
            };
            if m.is_empty() {
                l.add(
                    Severity::Suggestion,
                    "EMPTY_OBJECT_PRINCIPAL",
                    format!("{base}.{elem}"),
                    format!("empty {elem} object matches nobody"),
                );
            }
            for (key, _) in m.iter().filter(|(_, v)| v.is_empty()) {
                l.add(
                    Severity::Suggestion,
                    "EMPTY_ARRAY_PRINCIPAL",
                    format!("{base}.{elem}.{}", key.name()),
                    format!(
                        "{elem}.{} is an empty array: it names nobody, so it adds nothing to the statement",
                        key.name()
                    ),
                );
            }
        }
    }
    // Conditions.
    for (i, c) in st.conditions.iter().enumerate() {
        let path = format!("{base}.Condition.{}.{}", c.operator_name, c.key);
        // Keys are case-insensitive: two spellings of one key in one operator block are one
        // key given twice, and which value wins is not defined.
        if st.conditions.iter().take(i).any(|d| {
            d.operator_name == c.operator_name
                && d.key != c.key
                && d.key.eq_ignore_ascii_case(&c.key)
        }) {
            l.add(
                Severity::Error,
                "DUPLICATE_KEYS_WITH_DIFFERENT_CASE",
                path.clone(),
                format!(
                    "condition key {} appears twice in {} with different case",
                    c.key, c.operator_name
                ),
            );
        }
        lint_condition(l, policy, c, path);
    }
}

/// Whether resource pattern `r` has a wildcard and can name IAM roles: `*`, or an ARN whose
/// service is `iam` (or a wildcard) and whose resource part, up to its first wildcard, can
/// begin a role's (`role/…`). Missing trailing fields are `*`, as AWS pads short ARNs.
fn wildcard_role_resource(r: &str) -> bool {
    if !r.contains(['*', '?']) {
        return false;
    }
    let parts = crate::condition::split_colons(r, 6);
    let service = parts.get(2).copied().unwrap_or("*").to_lowercase();
    let resource = parts.get(5).copied().unwrap_or("*");
    let literal = resource
        .find(['*', '?'])
        .and_then(|i| resource.get(..i))
        .unwrap_or(resource);
    action_matches(&service, "iam")
        && ("role/".starts_with(literal) || literal.starts_with("role/"))
}

/// Access Analyzer's `iam:PassRole` checks. An `Allow` reaches `iam:PassRole` through an
/// action that matches it (`iam:PassRole`, `iam:Pass*`, `*`) or a `NotAction` that does not
/// exclude it; it passes roles too broadly with a wildcard in a resource that can name roles,
/// or with `NotResource`, which allows every role it does not list (bug: only an `Action` and
/// a `"*"` resource were looked at, so `NotAction`, `arn:aws:iam::*:role/*` and
/// `"Action": "*"` with `NotResource` went unreported or misnamed).
fn lint_pass_role(l: &mut Linter<'_>, st: &Statement, base: &str, sj: Option<&Json>) {
    const PASS_ROLE: &str = "iam:passrole";
    let reaching: Vec<&String> = st
        .action
        .values
        .iter()
        .filter(|a| action_matches(&a.to_lowercase(), PASS_ROLE))
        .collect();
    let star_action = if st.action.negated {
        if !reaching.is_empty() {
            return;
        }
        None
    } else {
        let Some(first) = reaching.first() else {
            return;
        };
        Some(
            reaching
                .iter()
                .find(|a| a.contains(['*', '?']))
                .unwrap_or(first),
        )
    };
    let Some(res) = &st.resource else {
        return;
    };
    if res.negated {
        // A NotResource that leaves out every role grants none.
        let excluded = |arn: &str| res.values.iter().any(|r| action_matches(r, arn));
        if excluded("arn:aws:iam::111122223333:role/a")
            && excluded("arn:aws:iam::444455556666:role/b/c")
        {
            return;
        }
        let (code, what) = match star_action {
            None => (
                "PASS_ROLE_WITH_NOT_ACTION_AND_NOT_RESOURCE",
                "NotAction that does not exclude iam:PassRole".to_string(),
            ),
            Some(a) if a.contains(['*', '?']) => (
                "PASS_ROLE_WITH_STAR_IN_ACTION_AND_NOT_RESOURCE",
                format!("the action {a:?}"),
            ),
            Some(a) => ("PASS_ROLE_WITH_NOT_RESOURCE", format!("the action {a:?}")),
        };
        l.add(
            Severity::SecurityWarning,
            code,
            format!("{base}.NotResource"),
            format!(
                "{what} with NotResource allows iam:PassRole on every role NotResource does not \
                 list: name the roles in Resource instead"
            ),
        );
        return;
    }
    // iam:PassedToService limits the services a role can be passed to, which is the other fix
    // Access Analyzer offers.
    if st
        .conditions
        .iter()
        .any(|c| c.key.eq_ignore_ascii_case("iam:PassedToService"))
    {
        return;
    }
    let Some((j, r)) = res
        .values
        .iter()
        .enumerate()
        .find(|(_, r)| wildcard_role_resource(r))
    else {
        return;
    };
    let (code, what) = match star_action {
        None => (
            "PASS_ROLE_WITH_STAR_IN_RESOURCE_AND_NOT_ACTION",
            "NotAction that does not exclude iam:PassRole".to_string(),
        ),
        Some(a) if a.contains(['*', '?']) => (
            "PASS_ROLE_WITH_STAR_IN_ACTION_AND_RESOURCE",
            format!("the action {a:?}"),
        ),
        Some(_) => (
            "PASS_ROLE_WITH_STAR_IN_RESOURCE",
            "iam:PassRole".to_string(),
        ),
    };
    l.add(
        Severity::SecurityWarning,
        code,
        item_path(base, sj, "Resource", j),
        format!(
            "{what} on {r:?} allows passing any matching role to any service: name the roles, \
             or add an iam:PassedToService condition"
        ),
    );
}

/// What a `Federated` principal is: a SAML provider, or an OpenID Connect issuer (an IAM
/// `oidc-provider/<issuer>`, or a web identity provider named directly, such as
/// `accounts.google.com` or `cognito-identity.amazonaws.com`), whose condition keys start with
/// `<issuer>:`.
enum Federation<'a> {
    Saml,
    Oidc { issuer: &'a str },
}

fn federation(principal: &str) -> Federation<'_> {
    if principal.contains(":saml-provider/") {
        Federation::Saml
    } else {
        Federation::Oidc {
            issuer: principal
                .split_once(":oidc-provider/")
                .map_or(principal, |(_, issuer)| issuer),
        }
    }
}

fn is_github(issuer: &str) -> bool {
    issuer
        .split('/')
        .next()
        .is_some_and(|host| host.eq_ignore_ascii_case("token.actions.githubusercontent.com"))
}

/// Whether a GitHub `sub` pattern names its repository literally (`repo:owner/name:…`), so that
/// a wildcard can only widen it to that repository's branches, environments or events.
fn names_github_repository(sub: &str) -> bool {
    sub.strip_prefix("repo:")
        .map(|rest| rest.split(':').next().unwrap_or(rest))
        .and_then(|repo| repo.split_once('/'))
        .is_some_and(|(owner, name)| {
            !owner.is_empty() && !name.is_empty() && !format!("{owner}{name}").contains(['*', '?'])
        })
}

/// Access Analyzer's checks of an `Allow` in a role trust policy that federates: the action
/// must suit the provider (`sts:AssumeRoleWithSAML` a SAML provider,
/// `sts:AssumeRoleWithWebIdentity` an OpenID Connect one), an OIDC provider needs a condition on
/// its own keys (anyone its issuer signs a token for could assume the role otherwise), and a
/// GitHub `sub` pattern should name the repository (bug: none of these was checked).
fn lint_federated_trust(l: &mut Linter<'_>, st: &Statement, base: &str, sj: Option<&Json>) {
    let Some(Principals::Map(map)) = st
        .principal
        .as_ref()
        .filter(|p| !p.negated)
        .map(|p| &p.values)
    else {
        return;
    };
    let federated: Vec<&String> = map
        .iter()
        .filter(|(k, _)| *k == PrincipalKey::Federated)
        .flat_map(|(_, v)| v)
        .collect();
    let principals: Vec<&String> = map.iter().flat_map(|(_, v)| v).collect();
    // Mismatched actions: only literal ones say which call the statement is for.
    if !st.action.negated {
        for (j, a) in st.action.values.iter().enumerate() {
            let saml = a.eq_ignore_ascii_case("sts:AssumeRoleWithSAML");
            if !saml && !a.eq_ignore_ascii_case("sts:AssumeRoleWithWebIdentity") {
                continue;
            }
            let suits = federated
                .iter()
                .any(|p| matches!(federation(p), Federation::Saml) == saml);
            if !suits {
                let names: Vec<&str> = principals.iter().map(|p| p.as_str()).collect();
                l.add(
                    Severity::Error,
                    "MISMATCHED_ACTION_FOR_PRINCIPAL",
                    item_path(base, sj, "Action", j),
                    format!(
                        "{a} cannot be called by {}: it takes {} in Principal.Federated",
                        names.join(", "),
                        if saml {
                            "a SAML provider (saml-provider/…)"
                        } else {
                            "an OpenID Connect provider (oidc-provider/…, or a web identity \
                             provider such as accounts.google.com)"
                        }
                    ),
                );
            }
        }
    }
    let web_identity = {
        let hit = st
            .action
            .values
            .iter()
            .any(|a| action_matches(&a.to_lowercase(), "sts:assumerolewithwebidentity"));
        hit != st.action.negated
    };
    if !web_identity {
        return;
    }
    let federated_json = sj
        .and_then(|s| s.get("Principal"))
        .and_then(|p| p.get("Federated"));
    for (j, p) in federated.iter().enumerate() {
        let Federation::Oidc { issuer } = federation(p) else {
            continue;
        };
        let prefix = format!("{}:", issuer.to_lowercase());
        if is_github(issuer) {
            // No `sub` condition at all is IAM's own refusal, reported above; a pattern that
            // does not name the repository lets other owners' workflows in.
            let sub = format!("{issuer}:sub");
            for c in st.conditions.iter().filter(|c| {
                c.operator.kind == OperatorKind::StringLike && c.key.eq_ignore_ascii_case(&sub)
            }) {
                for v in c.values.iter().filter(|v| {
                    v.contains(['*', '?'])
                        && !v.chars().all(|ch| ch == '*' || ch == '?')
                        && !names_github_repository(v)
                }) {
                    l.add(
                        Severity::Warning,
                        "SPECIFIC_GITHUB_REPO_AND_BRANCH_RECOMMENDED",
                        format!("{base}.Condition.{}.{}", c.operator_name, c.key),
                        format!(
                            "{v:?} lets workflows of repositories you do not own assume the \
                             role: name the repository and branch, e.g. repo:owner/name:ref:refs/heads/main"
                        ),
                    );
                }
            }
        } else if !st
            .conditions
            .iter()
            .any(|c| c.key.to_lowercase().starts_with(&prefix))
        {
            l.add(
                Severity::SecurityWarning,
                "MISSING_CONDITION_KEY_FOR_OIDC_PRINCIPAL",
                crate::check::value_path(&format!("{base}.Principal.Federated"), federated_json, j),
                format!(
                    "{p} is trusted without a condition on its {issuer}: keys (aud, sub…): \
                     anyone it issues a token to can assume the role"
                ),
            );
        }
    }
}

fn lint_resource(l: &mut Linter<'_>, policy: &Policy, r: &str, path: String) {
    if r == "*" {
        return;
    }
    // A variable's own colon (`${aws:RequestedRegion}`) does not separate fields (bug: the
    // fields after it were read one off, and the account was called invalid).
    let parts: Vec<&str> = crate::condition::split_colons(r, 6);
    if r.contains("${") {
        if !policy.variables_enabled() {
            l.add(
                Severity::Error,
                "VARIABLE_UNSUPPORTED_IN_VERSION",
                path.clone(),
                format!("{r:?} uses a policy variable, which needs Version 2012-10-17"),
            );
        } else if parts.iter().take(5).any(|p| p.contains("${")) || parts.len() < 6 {
            l.add(
                Severity::Error,
                "VARIABLE_UNSUPPORTED_IN_ELEMENT",
                path.clone(),
                format!("{r:?}: variables are only substituted after the fifth colon"),
            );
        }
        check_variables(l, r, path.clone());
    }
    if parts.len() < 6 {
        l.add(
            Severity::Error,
            "MISSING_ARN_FIELD",
            path,
            format!("{r:?} has fewer than six colon-separated fields"),
        );
        return;
    }
    let field = |i: usize| parts.get(i).copied().unwrap_or("");
    let literal = |f: &str| !f.contains(['*', '?']) && !f.contains("${");
    if field(0) != "arn" {
        l.add(
            Severity::Error,
            "INVALID_ARN_PREFIX",
            path,
            format!("{r:?} does not start with arn:"),
        );
        return;
    }
    if literal(field(2)) && field(2) != field(2).to_lowercase() {
        l.add(
            Severity::Error,
            "INVALID_ARN_SERVICE_CASE",
            path.clone(),
            format!("the service {:?} in {r:?} must be lower case", field(2)),
        );
    }
    let region = field(3);
    let region_ok = |r: &str| {
        let pieces: Vec<&str> = r.split('-').collect();
        pieces.len() >= 3
            && pieces.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
            && pieces
                .last()
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
    };
    if literal(region) && !region.is_empty() && !region_ok(region) {
        l.add(
            Severity::Error,
            "INVALID_REGION",
            path.clone(),
            format!("{region:?} in {r:?} is not a Region"),
        );
    }
    let account = field(4);
    if literal(account)
        && !account.is_empty()
        && account != "aws"
        && !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
    {
        l.add(
            Severity::Error,
            "INVALID_ARN_ACCOUNT",
            path.clone(),
            format!("{account:?} in {r:?} is not a 12-digit account id"),
        );
    }
    let service = parts.get(2).copied().unwrap_or("").to_lowercase();
    let Some(svc) = l.data.service(&service) else {
        l.add(
            Severity::Error,
            "INVALID_ARN_SERVICE",
            path,
            format!("unknown service {service:?} in resource {r:?}"),
        );
        return;
    };
    // A service whose every resource type is regional needs the Region, wildcards or not.
    let regional = !svc.resource_formats.is_empty()
        && svc
            .resource_formats
            .iter()
            .all(|f| f.split(':').nth(1).is_some_and(|r| !r.is_empty()));
    if region.is_empty() && regional {
        l.add(
            Severity::Error,
            "MISSING_ARN_REGION",
            path,
            format!("{r:?} has no Region: {service} resources are regional"),
        );
        return;
    }
    // Only fully literal ARNs are compared to the resource formats.
    if r.contains(['*', '?']) || r.contains("${") || svc.resource_formats.is_empty() {
        return;
    }
    let tail = parts.get(2..).map(|p| p.join(":")).unwrap_or_default();
    let ok = svc.resource_formats.iter().any(|f| {
        let pat = crate::service_data::placeholder_glob(f);
        pattern::matches(&pattern::glob_pieces(&pat, true), &tail)
    });
    if !ok {
        l.add(
            Severity::Error,
            "INVALID_ARN_RESOURCE",
            path,
            format!("{r:?} matches no resource type of service {service}"),
        );
    }
}

fn check_variables(l: &mut Linter<'_>, text: &str, path: String) {
    // The syntax first: what `pattern::variables` skips as malformed.
    for (i, _) in text.match_indices("${") {
        let after = text.get(i + 2..).unwrap_or("");
        let Some(end) = after.find('}') else {
            l.add(
                Severity::Error,
                "MISSING_BRACE_IN_VARIABLE",
                path.clone(),
                format!("{text:?} has a variable without its closing brace"),
            );
            continue;
        };
        let inner = after.get(..end).unwrap_or("");
        let (key, default) = match inner.split_once(',') {
            Some((k, d)) => (k, Some(d.trim())),
            None => (inner, None),
        };
        let (code, what) = if inner.is_empty() {
            ("EMPTY_VARIABLE", "an empty variable")
        } else if key != key.trim() || key.contains(' ') {
            (
                "UNSUPPORTED_SPACE_IN_VARIABLE",
                "a space in a variable's name",
            )
        } else if default
            .is_some_and(|d| !(d.len() >= 2 && d.starts_with('\'') && d.ends_with('\'')))
        {
            (
                "MISSING_QUOTE_IN_VARIABLE",
                "a default value not in single quotes",
            )
        } else {
            continue;
        };
        l.add(
            Severity::Error,
            code,
            path.clone(),
            format!("{text:?} has {what}: ${{{inner}}}"),
        );
    }
    for v in pattern::variables(text) {
        if let Some(t) = l.data.key_type(&v.key)
            && t.multi
        {
            l.add(
                Severity::Error,
                "INVALID_VARIABLE_KEY",
                path.clone(),
                format!(
                    "variable ${{{}}} uses a multi-valued key, which never resolves",
                    v.key
                ),
            );
        }
    }
}

fn lint_condition(
    l: &mut Linter<'_>,
    policy: &Policy,
    c: &crate::policy::ConditionEntry,
    path: String,
) {
    let op = c.operator;
    let vt = op.kind.value_type();
    // Values.
    if c.values.is_empty() {
        l.add(
            Severity::Suggestion,
            "EMPTY_ARRAY_CONDITION",
            path.clone(),
            format!(
                "condition key {} has no value: the condition never holds",
                c.key
            ),
        );
    }
    for v in &c.values {
        if v.contains("${") {
            if !policy.variables_enabled() {
                l.add(
                    Severity::Error,
                    "VARIABLE_UNSUPPORTED_IN_VERSION",
                    path.clone(),
                    format!("{v:?} uses a policy variable, which needs Version 2012-10-17"),
                );
            } else if !op.kind.supports_variables() {
                l.add(
                    Severity::Error,
                    "INVALID_VARIABLE_FOR_OPERATOR",
                    path.clone(),
                    format!(
                        "operator {} does not substitute policy variables: {v:?}",
                        op.kind
                    ),
                );
            }
            check_variables(l, v, path.clone());
            continue;
        }
        let ok = match vt {
            ValueType::Numeric => parse_number(v).is_some(),
            // IAM's own check (`crate::check`) reports a date it cannot read.
            ValueType::Date => true,
            ValueType::Bool | ValueType::Null => parse_bool(v).is_some(),
            ValueType::Binary => crate::base64::decode(v).is_some(),
            ValueType::Ip => Cidr::parse(v).is_some(),
            ValueType::String | ValueType::Arn => true,
        };
        if !ok {
            l.add(
                Severity::Error,
                "INVALID_CONDITION_DATA_TYPE",
                path.clone(),
                format!("{v:?} is not a valid value for operator {}", op.kind),
            );
        }
        if matches!(
            op.kind,
            OperatorKind::StringEquals | OperatorKind::StringNotEquals
        ) && v.contains(['*', '?'])
        {
            l.add(
                Severity::Warning,
                "WILDCARD_WITHOUT_LIKE_OPERATOR",
                path.clone(),
                format!(
                    "{v:?} contains a wildcard, which {} compares literally: use StringLike",
                    op.kind
                ),
            );
        }
        if let Some(cidr) = Cidr::parse(v).filter(|_| vt == ValueType::Ip)
            && cidr.network() != cidr
        {
            l.add(
                Severity::Suggestion,
                "IMPROVE_IP_RANGE",
                path.clone(),
                format!(
                    "the bits of {v} past its /{} prefix are ignored: write {}",
                    cidr.prefix(),
                    cidr.network()
                ),
            );
        }
        if vt == ValueType::String && !v.contains(['*', '?']) {
            let vpc = |prefix: &str| {
                v.strip_prefix(prefix).is_some_and(|id| {
                    matches!(id.len(), 8 | 17) && id.bytes().all(|b| b.is_ascii_alphanumeric())
                })
            };
            if c.key.eq_ignore_ascii_case("aws:SourceVpc") && !vpc("vpc-") {
                l.add(
                    Severity::Error,
                    "INVALID_VPC_FORMAT",
                    path.clone(),
                    format!("{v:?} is not a VPC id: vpc- and 8 or 17 letters and digits"),
                );
            }
            if c.key.eq_ignore_ascii_case("aws:SourceVpce") && !vpc("vpce-") {
                l.add(
                    Severity::Error,
                    "INVALID_VPCE_FORMAT",
                    path.clone(),
                    format!("{v:?} is not a VPC endpoint id: vpce- and 8 or 17 letters and digits"),
                );
            }
        }
        if vt == ValueType::Ip
            && c.key.eq_ignore_ascii_case("aws:SourceIp")
            && Cidr::parse(v).is_some_and(|c| c.is_private())
        {
            l.add(
                Severity::Error,
                if op.kind == OperatorKind::NotIpAddress {
                    "PRIVATE_NOT_IP_ADDRESS"
                } else {
                    "PRIVATE_IP_ADDRESS"
                },
                path.clone(),
                format!("aws:SourceIp never carries the private address {v}: use aws:VpcSourceIp"),
            );
        }
    }
    if op.kind == OperatorKind::Bool && c.values.len() > 1 {
        l.add(
            Severity::Error,
            "INVALID_CONDITION_MULTIPLE_BOOLEAN",
            path.clone(),
            format!(
                "Bool on {} has {} values: a boolean key holds one value",
                c.key,
                c.values.len()
            ),
        );
    }
    // Any value holds where the greatest (least) does: one is enough.
    let bound = match op.kind {
        OperatorKind::NumericLessThan | OperatorKind::NumericLessThanEquals => Some("greatest"),
        OperatorKind::NumericGreaterThan | OperatorKind::NumericGreaterThanEquals => Some("least"),
        _ => None,
    };
    let numbers: Vec<_> = c
        .values
        .iter()
        .filter_map(|v| parse_number(v).map(|n| (n, v)))
        .collect();
    if let Some(which) = bound
        && numbers.len() > 1
        && numbers.len() == c.values.len()
    {
        let best = if which == "greatest" {
            numbers.iter().max_by(|a, b| a.0.cmp(&b.0))
        } else {
            numbers.iter().min_by(|a, b| a.0.cmp(&b.0))
        };
        if let Some((_, v)) = best {
            l.add(
                Severity::Suggestion,
                "REDUNDANT_CONDITION_VALUE_NUM",
                path.clone(),
                format!(
                    "{} holds for {} when it holds for any of its values: {v} alone, the {which}, says the same",
                    op.kind, c.key
                ),
            );
        }
    }
    if op.kind == OperatorKind::Null && op.qualifier.is_some() {
        l.add(
            Severity::Suggestion,
            "NULL_WITH_QUALIFIER",
            path.clone(),
            "Null checks presence; a set qualifier changes nothing".to_string(),
        );
    }
    // Keys.
    let key = &c.key;
    let Some((prefix, _)) = key.split_once(':') else {
        // Keys such as `token.actions.githubusercontent.com:sub` have a colon;
        // one without is never set.
        l.add(
            Severity::Error,
            "INVALID_CONDITION_KEY_FORMAT",
            path,
            format!("condition key {key:?} has no service prefix"),
        );
        return;
    };
    let spec = l.data.key_spec(key);
    // A tag key template (`aws:PrincipalTag/${TagKey}`) left without its tag key: nothing is
    // ever set under it (bug: `aws:PrincipalTag/` passed, its template's glob matching it).
    let tag_template = |spec: Option<&crate::service_data::KeySpec>| {
        spec.is_some_and(|s| s.is_templated() && s.name.to_lowercase().contains("tag/"))
    };
    let untagged = if key.ends_with('/') {
        tag_template(spec)
    } else {
        spec.is_none() && tag_template(l.data.key_spec(&format!("{key}/k")))
    };
    if untagged {
        l.add(
            Severity::Error,
            "MISSING_TAG_KEY_IN_CONDITION",
            path,
            format!(
                "{key} names no tag: use {}/<tag-key>",
                key.trim_end_matches('/')
            ),
        );
        return;
    }
    // Still honoured by IAM, but replaced (Access Analyzer warns, it does not fail the policy).
    if key.eq_ignore_ascii_case("aws:ARN") {
        l.add(
            Severity::Warning,
            "DEPRECATED_GLOBAL_CONDITION_KEY",
            path,
            format!("{key} is deprecated: use aws:PrincipalArn"),
        );
        return;
    }
    let Some(spec) = spec else {
        if prefix.eq_ignore_ascii_case("aws") {
            l.add(
                Severity::Error,
                "INVALID_GLOBAL_CONDITION_KEY",
                path,
                format!("{key:?} is not a global condition key"),
            );
        } else if l.data.service(&prefix.to_lowercase()).is_some() {
            l.add(
                Severity::Error,
                "INVALID_SERVICE_CONDITION_KEY",
                path,
                format!("{key:?} is not a condition key of service {prefix}"),
            );
        }
        return;
    };
    let kt = spec.ty;
    if kt.multi && op.qualifier.is_none() && op.kind != OperatorKind::Null {
        l.add(
            Severity::Error,
            "MISSING_QUALIFIER",
            path.clone(),
            format!(
                "{key} is multi-valued: {} without ForAllValues:/ForAnyValue: never matches it",
                op.kind
            ),
        );
    }
    if !kt.multi && op.qualifier == Some(SetQualifier::ForAllValues) {
        l.add(
            Severity::SecurityWarning,
            "FORALLVALUES_WITH_SINGLE_VALUED_KEY",
            path.clone(),
            format!(
                "ForAllValues on the single-valued key {key} also holds when the key is absent"
            ),
        );
    }
    if op.kind == OperatorKind::Null {
        return;
    }
    let compatible = match (vt, kt.value) {
        (a, b) if a == b => true,
        (ValueType::String, _) => true,
        (ValueType::Arn, ValueType::String) => true,
        _ => false,
    };
    if !compatible {
        l.add(
            Severity::Error,
            "DATA_TYPE_MISMATCH",
            path,
            format!(
                "operator {} compares {:?} values but {key} is of type {:?}",
                op.kind, vt, kt.value
            ),
        );
    } else if vt == ValueType::String && kt.value != ValueType::String {
        l.add(
            Severity::Warning,
            "TYPE_MISMATCH",
            path,
            format!(
                "{key} is of type {:?}: use a {:?} operator instead of {}",
                kt.value, kt.value, op.kind
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(doc: &str, kind: PolicyKind) -> Vec<&'static str> {
        validate_policy(doc, kind).iter().map(|f| f.code).collect()
    }

    #[test]
    fn reports_malformed_documents() {
        let f = validate_policy("{}", PolicyKind::Identity);
        assert_eq!(
            codes("{}", PolicyKind::Identity),
            ["MISSING_STATEMENT", "INVALID_VERSION"]
        );
        assert!(has_errors(&f));
        // Access Analyzer's issue codes (bug: these were MALFORMED_POLICY_DOCUMENT or
        // INVALID_ARN, which no ValidatePolicy filter matches).
        let st = |extra: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"{extra}}}}}"#
            )
        };
        for (doc, kind, code) in [
            ("{".to_owned(), PolicyKind::Identity, "JSON_SYNTAX_ERROR"),
            (st(r#","Principal":"*""#), PolicyKind::Identity, "UNSUPPORTED_PRINCIPAL"),
            (st(""), PolicyKind::Resource, "MISSING_PRINCIPAL"),
            (st(r#","NotAction":"s3:Put*""#), PolicyKind::Identity, "UNSUPPORTED_ELEMENT_COMBINATION"),
            (st(r#","Foo":"x""#), PolicyKind::Identity, "INVALID_POLICY_ELEMENT"),
            (st(r#","Condition":{"NullIfExists":{"aws:TokenIssueTime":"true"}}"#), PolicyKind::Identity, "NULL_WITH_IF_EXISTS"),
            (
                r#"{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#.to_owned(),
                PolicyKind::Identity,
                "INVALID_VERSION",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allo","Action":"s3:GetObject","Resource":"*"}}"#.to_owned(),
                PolicyKind::Identity,
                "INVALID_EFFECT",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam:us-east-1:123456789012:user/a"}}"#.to_owned(),
                PolicyKind::Identity,
                "ARN_REGION_NOT_ALLOWED",
            ),
        ] {
            assert_eq!(codes(&doc, kind), vec![code], "{doc}");
        }
        let f = validate_policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEqual":{"s3:prefix":"a"}}}}"#,
            PolicyKind::Identity,
        );
        assert_eq!(f[0].code, "INVALID_CONDITION_OPERATOR");
        assert!(f[0].message.contains("StringEqual"), "{}", f[0].message);
    }

    /// (code, path) of every finding.
    fn located(doc: &str, kind: PolicyKind) -> Vec<(&'static str, String)> {
        validate_policy(doc, kind)
            .into_iter()
            .map(|f| (f.code, f.path))
            .collect()
    }

    #[test]
    fn a_parse_level_error_does_not_hide_the_other_findings_or_its_path() {
        // Regression: validation stopped at the first error IAM's parser found, reported it
        // without a path ("-"), and never reached the statements after it.
        let doc = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEqualz":{"s3:prefix":"a"}}},
            {"Effect":"Allow","Action":"iam:PassRole","Resource":"*"},
            {"Effect":"Allow","Action":"s3:GetObjekt","Resource":"notanarn"}]}"#;
        let got = located(doc, PolicyKind::Identity);
        // Statement 1 without its unreadable condition is not statement 0 again.
        assert!(
            !got.iter().any(|(code, _)| *code == "REDUNDANT_STATEMENT"),
            "{got:?}"
        );
        for want in [
            (
                "INVALID_CONDITION_OPERATOR",
                "Statement[1].Condition.StringEqualz",
            ),
            ("PASS_ROLE_WITH_STAR_IN_RESOURCE", "Statement[2].Resource"),
            ("INVALID_ARN", "Statement[3].Resource"),
            ("INVALID_ACTION", "Statement[3].Action"),
        ] {
            assert!(
                got.contains(&(want.0, want.1.to_owned())),
                "{want:?} missing from {got:?}"
            );
        }
        // Each of IAM's checks, at its element, beside the rest.
        let doc = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"a b","Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
            {"Effect":"Allow","Resource":"*"},
            {"Effect":"Allow","Action":["s3:GetObject","s3:Nope"],"Resource":"*"},
            {"Sid":"a b","Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#;
        let got = located(doc, PolicyKind::Identity);
        for want in [
            ("UNSUPPORTED_SID", "Statement[0].Sid"),
            ("MISSING_ACTION", "Statement[1]"),
            ("INVALID_ACTION", "Statement[2].Action[1]"),
            ("UNIQUE_SIDS_REQUIRED", "Statement[3].Sid"),
        ] {
            assert!(
                got.contains(&(want.0, want.1.to_owned())),
                "{want:?} missing from {got:?}"
            );
        }
        let doc = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::*:root"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        let got = located(doc, PolicyKind::Resource);
        for want in [
            ("INVALID_PRINCIPAL", "Statement[0].Principal.AWS[1]"),
            ("MISSING_PRINCIPAL", "Statement[1]"),
            ("PUBLIC_ACCESS", "Statement[2].Principal"),
        ] {
            assert!(
                got.contains(&(want.0, want.1.to_owned())),
                "{want:?} missing from {got:?}"
            );
        }
    }

    #[test]
    fn an_oversized_policy_is_a_warning_with_access_analyzers_code_and_checks_go_on() {
        // Regression: size was an ERROR against a fixed per-type quota that stopped every
        // other check, though a role's inline policies may have 10,240 characters, a KMS key
        // policy 32,768, and a trust policy's quota can be raised.
        let big = |kind: PolicyKind, extra: &str| {
            let resources: Vec<String> = (0..kind.size_limit() / 30)
                .map(|i| format!("\"arn:aws:s3:::bucket-{i:08}/*\""))
                .collect();
            let principal = if kind.requires_principal() {
                r#""Principal":{"AWS":"111122223333"},"#
            } else {
                ""
            };
            let (action, resource) = if kind == PolicyKind::Trust {
                (r#""sts:AssumeRole""#.to_owned(), String::new())
            } else {
                (
                    r#""s3:GetObjekt""#.to_owned(),
                    format!(r#","Resource":[{}]"#, resources.join(",")),
                )
            };
            let condition = if kind == PolicyKind::Trust {
                format!(
                    r#","Condition":{{"StringEquals":{{"aws:PrincipalTag/team":[{}]}}}}"#,
                    resources.join(",")
                )
            } else {
                String::new()
            };
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",{principal}"Action":{action}{resource}{condition}{extra}}}]}}"#
            )
        };
        for (kind, code) in [
            (
                PolicyKind::Identity,
                "POLICY_SIZE_EXCEEDS_IDENTITY_POLICY_QUOTA",
            ),
            (
                PolicyKind::Trust,
                "POLICY_SIZE_EXCEEDS_ROLE_TRUST_POLICY_QUOTA",
            ),
            (
                PolicyKind::Resource,
                "POLICY_SIZE_EXCEEDS_RESOURCE_POLICY_QUOTA",
            ),
        ] {
            let doc = big(kind, "");
            assert!(crate::policy::policy_size(&doc) > kind.size_limit());
            let f = validate_policy(&doc, kind);
            let size = f.iter().find(|f| f.code == code);
            assert!(
                size.is_some_and(|f| f.severity == Severity::Warning && f.path.is_empty()),
                "{kind}: {}",
                render_table(&f)
            );
            if kind == PolicyKind::Trust {
                assert!(!has_errors(&f), "{kind}: {}", render_table(&f));
            } else {
                // The other checks ran.
                assert!(
                    f.iter().any(|f| f.code == "INVALID_ACTION"),
                    "{kind}: {}",
                    render_table(&f)
                );
            }
        }
        // Organizations' quota is fixed: an error, as Access Analyzer's for SCPs.
        let f = validate_policy(&big(PolicyKind::Scp, ""), PolicyKind::Scp);
        assert!(
            f.iter()
                .any(|f| f.code == "POLICY_SIZE_EXCEEDS_SCP_QUOTA" && f.severity == Severity::Error),
            "{}",
            render_table(&f)
        );
    }

    #[test]
    fn pass_role_checks_cover_not_action_not_resource_and_wildcard_role_arns() {
        // Regression: only `Action` with an exact "*" resource was checked.
        let one = |statement: &str| {
            let doc = format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#);
            validate_policy(&doc, PolicyKind::Identity)
                .into_iter()
                .filter(|f| f.code.starts_with("PASS_ROLE"))
                .map(|f| (f.code, f.path))
                .collect::<Vec<_>>()
        };
        let cases = [
            (
                r#"{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}"#,
                "PASS_ROLE_WITH_STAR_IN_RESOURCE_AND_NOT_ACTION",
                "Statement[0].Resource",
            ),
            (
                r#"{"Effect":"Allow","NotAction":"s3:*","NotResource":"arn:aws:s3:::b"}"#,
                "PASS_ROLE_WITH_NOT_ACTION_AND_NOT_RESOURCE",
                "Statement[0].NotResource",
            ),
            (
                r#"{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::*:role/*"}"#,
                "PASS_ROLE_WITH_STAR_IN_RESOURCE",
                "Statement[0].Resource",
            ),
            (
                r#"{"Effect":"Allow","Action":"*","NotResource":"arn:aws:s3:::b"}"#,
                "PASS_ROLE_WITH_STAR_IN_ACTION_AND_NOT_RESOURCE",
                "Statement[0].NotResource",
            ),
            (
                r#"{"Effect":"Allow","Action":"iam:PassRole","NotResource":"arn:aws:iam::111122223333:role/admin"}"#,
                "PASS_ROLE_WITH_NOT_RESOURCE",
                "Statement[0].NotResource",
            ),
            (
                r#"{"Effect":"Allow","Action":["s3:GetObject","iam:Pass*"],"Resource":["arn:aws:s3:::b/*","arn:aws:iam::111122223333:role/app-*"]}"#,
                "PASS_ROLE_WITH_STAR_IN_ACTION_AND_RESOURCE",
                "Statement[0].Resource[1]",
            ),
        ];
        for (statement, code, path) in cases {
            assert_eq!(one(statement), [(code, path.to_owned())], "{statement}");
        }
        for quiet in [
            // Excluded, named, limited to a service, on no role, denied.
            r#"{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}"#,
            r#"{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::111122223333:role/app"}"#,
            r#"{"Effect":"Allow","Action":"iam:PassRole","Resource":"*","Condition":{"StringEquals":{"iam:PassedToService":"ec2.amazonaws.com"}}}"#,
            r#"{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/*"}"#,
            r#"{"Effect":"Allow","Action":"*","NotResource":"*"}"#,
            r#"{"Effect":"Deny","Action":"iam:PassRole","Resource":"*"}"#,
        ] {
            assert_eq!(one(quiet), [], "{quiet}");
        }
    }

    #[test]
    fn federated_trust_policies_are_checked_for_their_provider_and_conditions() {
        // Regression: an OIDC provider without a condition, a SAML provider with the web
        // identity action and a GitHub subject of any repository passed without a finding.
        let trust = |principal: &str, action: &str, condition: &str| {
            let doc = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":{principal}}},"Action":{action}{condition}}}]}}"#
            );
            located(&doc, PolicyKind::Trust)
        };
        let oidc =
            r#""arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC""#;
        let saml = r#""arn:aws:iam::111122223333:saml-provider/corp""#;
        let github =
            r#""arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com""#;
        let web = r#""sts:AssumeRoleWithWebIdentity""#;
        assert_eq!(
            trust(oidc, web, ""),
            [(
                "MISSING_CONDITION_KEY_FOR_OIDC_PRINCIPAL",
                "Statement[0].Principal.Federated".to_owned()
            )]
        );
        let scoped = r#","Condition":{"StringEquals":{"oidc.eks.us-east-1.amazonaws.com/id/ABC:sub":"system:serviceaccount:ns:app"}}"#;
        assert_eq!(trust(oidc, web, scoped), []);
        assert_eq!(
            trust(saml, web, ""),
            [(
                "MISMATCHED_ACTION_FOR_PRINCIPAL",
                "Statement[0].Action".to_owned()
            )]
        );
        assert_eq!(
            trust(
                oidc,
                r#"["sts:AssumeRoleWithSAML","sts:AssumeRoleWithWebIdentity"]"#,
                scoped
            ),
            [(
                "MISMATCHED_ACTION_FOR_PRINCIPAL",
                "Statement[0].Action[0]".to_owned()
            )]
        );
        assert_eq!(trust(saml, r#""sts:AssumeRoleWithSAML""#, ""), []);
        let sub = |v: &str| {
            format!(
                r#","Condition":{{"StringEquals":{{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}},"StringLike":{{"token.actions.githubusercontent.com:sub":"{v}"}}}}"#
            )
        };
        for any_repo in ["repo:*", "repo:org/*", "repo:*/app:ref:refs/heads/main"] {
            assert_eq!(
                trust(github, web, &sub(any_repo)),
                [(
                    "SPECIFIC_GITHUB_REPO_AND_BRANCH_RECOMMENDED",
                    "Statement[0].Condition.StringLike.token.actions.githubusercontent.com:sub"
                        .to_owned()
                )],
                "{any_repo}"
            );
        }
        assert_eq!(trust(github, web, &sub("repo:org/app:*")), []);
    }

    #[test]
    fn the_actions_the_server_authorizes_are_valid() {
        // Regression: kms:Encapsulate and kms:Decapsulate were INVALID_ACTION (exit 1).
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encapsulate","kms:Decapsulate","secretsmanager:ListResourcePolicies"],"Resource":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}]}"#;
        assert_eq!(located(doc, PolicyKind::Identity), []);
    }

    #[test]
    fn arn_fields_are_read_around_variables_and_must_not_be_empty() {
        // Regression: an empty bucket and a KMS key without a Region passed; a Region variable
        // shifted the fields, so the account was called invalid.
        let resource = |r: &str| {
            let doc = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"*","Resource":"{r}"}}]}}"#
            );
            located(&doc, PolicyKind::Identity)
                .into_iter()
                .map(|(code, _)| code)
                .collect::<Vec<_>>()
        };
        assert_eq!(resource("arn:aws:s3:::"), ["INVALID_ARN_RESOURCE"]);
        assert_eq!(resource("arn:aws:kms:::key/abc"), ["MISSING_ARN_REGION"]);
        assert_eq!(
            resource("arn:aws:kms::111122223333:key/*"),
            ["MISSING_ARN_REGION"]
        );
        assert_eq!(
            resource("arn:aws:ec2:${aws:RequestedRegion}:123456789012:instance/*"),
            ["VARIABLE_UNSUPPORTED_IN_ELEMENT"]
        );
        for fine in [
            "arn:aws:s3:::b",
            "arn:aws:kms:us-east-1:111122223333:key/abc",
            "arn:aws:iam::111122223333:role/x",
            "arn:aws:s3:::b/${aws:username}/*",
        ] {
            assert_eq!(resource(fine), Vec::<&str>::new(), "{fine}");
        }
    }

    #[test]
    fn condition_keys_values_and_effects_get_access_analyzers_findings() {
        // Regressions: an empty tag key and malformed VPC ids passed; aws:ARN failed the policy
        // though IAM still honours it; a bad date came without a path, under another code than
        // a bad number; "allow" was MALFORMED_POLICY_DOCUMENT; no suggestions were made.
        let with = |principal: &str, condition: &str| {
            let doc = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow"{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{condition}}}]}}"#
            );
            let kind = if principal.is_empty() {
                PolicyKind::Identity
            } else {
                PolicyKind::Resource
            };
            validate_policy(&doc, kind)
                .into_iter()
                .map(|f| (f.severity, f.code, f.path))
                .collect::<Vec<_>>()
        };
        let one = |condition: &str, severity, code: &str, path: &str| {
            let got = with("", condition);
            assert_eq!(got, [(severity, code, path.to_owned())], "{condition}");
        };
        one(
            r#"{"StringEquals":{"aws:PrincipalTag/":"x"}}"#,
            Severity::Error,
            "MISSING_TAG_KEY_IN_CONDITION",
            "Statement[0].Condition.StringEquals.aws:PrincipalTag/",
        );
        one(
            r#"{"StringEquals":{"aws:ResourceTag":"x"}}"#,
            Severity::Error,
            "MISSING_TAG_KEY_IN_CONDITION",
            "Statement[0].Condition.StringEquals.aws:ResourceTag",
        );
        one(
            r#"{"StringEquals":{"aws:SourceVpc":"notavpc"}}"#,
            Severity::Error,
            "INVALID_VPC_FORMAT",
            "Statement[0].Condition.StringEquals.aws:SourceVpc",
        );
        one(
            r#"{"StringEquals":{"aws:SourceVpce":"vpc-123"}}"#,
            Severity::Error,
            "INVALID_VPCE_FORMAT",
            "Statement[0].Condition.StringEquals.aws:SourceVpce",
        );
        one(
            r#"{"ArnLike":{"aws:ARN":"arn:aws:iam::111122223333:user/*"}}"#,
            Severity::Warning,
            "DEPRECATED_GLOBAL_CONDITION_KEY",
            "Statement[0].Condition.ArnLike.aws:ARN",
        );
        one(
            r#"{"DateGreaterThan":{"aws:CurrentTime":"yesterday"}}"#,
            Severity::Error,
            "INVALID_CONDITION_DATA_TYPE",
            "Statement[0].Condition.DateGreaterThan.aws:CurrentTime",
        );
        one(
            r#"{"NumericLessThan":{"aws:MultiFactorAuthAge":"soon"}}"#,
            Severity::Error,
            "INVALID_CONDITION_DATA_TYPE",
            "Statement[0].Condition.NumericLessThan.aws:MultiFactorAuthAge",
        );
        one(
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.7/8"}}"#,
            Severity::Suggestion,
            "IMPROVE_IP_RANGE",
            "Statement[0].Condition.IpAddress.aws:SourceIp",
        );
        one(
            r#"{"NumericLessThan":{"aws:MultiFactorAuthAge":["10","20"]}}"#,
            Severity::Suggestion,
            "REDUNDANT_CONDITION_VALUE_NUM",
            "Statement[0].Condition.NumericLessThan.aws:MultiFactorAuthAge",
        );
        for fine in [
            r#"{"StringEquals":{"aws:SourceVpc":["vpc-12345678","vpc-11223344556677889"],"aws:SourceVpce":"vpce-1a2b3c4d"}}"#,
            r#"{"StringLike":{"aws:SourceVpc":"vpc-*"}}"#,
            r#"{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","203.0.113.7","2001:db8::/32"]}}"#,
            r#"{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}"#,
        ] {
            assert_eq!(with("", fine), [], "{fine}");
        }
        let f = with(r#","Principal":{"AWS":[]}"#, "{}");
        assert_eq!(
            f,
            [(
                Severity::Suggestion,
                "EMPTY_ARRAY_PRINCIPAL",
                "Statement[0].Principal.AWS".to_owned()
            )]
        );
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"allow","Action":"s3:GetObject","Resource":"*"}]}"#;
        assert_eq!(
            located(doc, PolicyKind::Identity),
            [("INVALID_EFFECT", "Statement[0].Effect".to_owned())]
        );
    }

    #[test]
    fn reports_unknown_services_actions_and_keys() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObjekt","nosuch:Get","s3:Get*","s3:GetObject"],"Resource":"arn:aws:s3:::b/*",
            "Condition":{"StringEquals":{"aws:SourceIpp":"x","s3:nonsense":"y"},"NumericLessThan":{"aws:PrincipalTag/x":"1"},"ForAllValues:StringEquals":{"aws:username":"a"},"StringLike":{"aws:TagKeys":"a"}}}]}"#;
        let c = codes(doc, PolicyKind::Identity);
        for want in [
            "INVALID_ACTION",
            "INVALID_SERVICE",
            "REDUNDANT_ACTION",
            "INVALID_GLOBAL_CONDITION_KEY",
            "INVALID_SERVICE_CONDITION_KEY",
            "DATA_TYPE_MISMATCH",
            "FORALLVALUES_WITH_SINGLE_VALUED_KEY",
            "MISSING_QUALIFIER",
        ] {
            assert!(c.contains(&want), "{want} missing from {c:?}");
        }
    }

    #[test]
    fn reports_access_analyzers_syntax_errors_in_conditions_variables_and_arns() {
        // Regression: each of these passed with no findings.
        let with = |resource: &str, condition: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":{resource},"Condition":{condition}}}]}}"#
            )
        };
        let cases = [
            (
                r#""arn:aws:s3:::b/${aws:username""#,
                "{}",
                "MISSING_BRACE_IN_VARIABLE",
            ),
            (r#""arn:aws:s3:::b/${}""#, "{}", "EMPTY_VARIABLE"),
            (
                r#""arn:aws:s3:::b/${ aws:username }""#,
                "{}",
                "UNSUPPORTED_SPACE_IN_VARIABLE",
            ),
            (
                r#""arn:aws:s3:::b/${aws:username, \"x\"}""#,
                "{}",
                "MISSING_QUOTE_IN_VARIABLE",
            ),
            (
                r#""arn:aws:ec2:us-east-99x:123456789012:instance/i-1""#,
                "{}",
                "INVALID_REGION",
            ),
            (
                r#""arn:aws:iam::12345:user/x""#,
                "{}",
                "INVALID_ARN_ACCOUNT",
            ),
            (r#""arn:aws:S3:::b""#, "{}", "INVALID_ARN_SERVICE_CASE"),
            (
                r#""*""#,
                r#"{"Bool":{"aws:SecureTransport":["true","false"]}}"#,
                "INVALID_CONDITION_MULTIPLE_BOOLEAN",
            ),
            (
                r#""*""#,
                r#"{"StringEquals":{"aws:username":"a","AWS:UserName":"b"}}"#,
                "DUPLICATE_KEYS_WITH_DIFFERENT_CASE",
            ),
        ];
        for (resource, condition, want) in cases {
            let c = codes(&with(resource, condition), PolicyKind::Identity);
            assert!(
                c.contains(&want),
                "{want} missing from {c:?} for {resource} {condition}"
            );
        }
        let clean = with(
            r#"["arn:aws:s3:::b/${aws:username}/*","arn:aws:s3:::b/${aws:PrincipalTag/team, 'none'}/${*}"]"#,
            "{}",
        );
        assert!(codes(&clean, PolicyKind::Identity).is_empty());
    }

    #[test]
    fn reports_security_issues_and_redundancy() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"},{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}]}"#;
        let c = codes(doc, PolicyKind::Identity);
        assert!(c.contains(&"PASS_ROLE_WITH_STAR_IN_RESOURCE"), "{c:?}");
        assert!(c.contains(&"REDUNDANT_STATEMENT"), "{c:?}");
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","NotPrincipal":{"AWS":"111122223333"}}]}"#;
        assert!(codes(doc, PolicyKind::Resource).contains(&"ALLOW_WITH_NOT_PRINCIPAL"));
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/x}","Condition":{"NumericEquals":{"s3:max-keys":"${aws:username}"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
        let c = codes(doc, PolicyKind::Identity);
        assert!(c.contains(&"INVALID_VARIABLE_FOR_OPERATOR"), "{c:?}");
        assert!(c.contains(&"PRIVATE_IP_ADDRESS"), "{c:?}");
    }

    #[test]
    fn clean_policy_has_no_findings() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"StringEquals":{"aws:PrincipalTag/team":"red"},"Bool":{"aws:SecureTransport":"true"}}}]}"#;
        let f = validate_policy(doc, PolicyKind::Identity);
        assert!(f.is_empty(), "{}", render_table(&f));
        assert_eq!(render_table(&f), "no findings\n");
    }

    #[test]
    fn renders_a_table_and_json() {
        let f = validate_policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Nope","Resource":"*"}}"#,
            PolicyKind::Identity,
        );
        let t = render_table(&f);
        assert!(t.starts_with("SEVERITY"), "{t}");
        assert!(t.contains("Statement.Action"), "{t}");
        assert_eq!(findings_to_json(&f)[0]["issueCode"], "INVALID_ACTION");
    }
}
