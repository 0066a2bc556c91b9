//! Every check IAM makes on a policy document, run to the end instead of stopping at the first
//! failure: each problem with the JSON path of the element it is about and Access Analyzer's
//! issue code for it.
//!
//! [`Policy::parse`](crate::Policy::parse) reports the first problem of the earliest of IAM's
//! steps (see [`crate::policy`] for the order), which is the one IAM itself reports; `palisade
//! policy validate` reports them all (bug: it stopped at the first parse-level error, without
//! its location, and never got to the checks after it). One walk serves both, so that the two
//! can never disagree on what is valid.
//!
//! After a problem the walk goes on with what it could read: an element of the wrong JSON type
//! is left out, a duplicate key's later copies are ignored, an unknown condition operator's
//! block is skipped, and later checks stay quiet about an element already reported.

use crate::error::PolicyError;
use crate::json::Json;
use crate::operator::{Operator, ValueType};
use crate::policy::{
    ConditionEntry, Effect, Negatable, Policy, PolicyKind, PrincipalKey, Principals, Statement,
    action_error, legacy_resource_ok, policy_size, resource_format_error, valid_principal_value,
};
use std::collections::HashSet;

/// IAM's steps, in the order it runs them (`crate::policy`'s module documentation): a problem
/// of an earlier step is reported before any of a later one.
mod step {
    pub const SIZE: u8 = 1;
    pub const SYNTAX: u8 = 2;
    pub const VERSION: u8 = 3;
    pub const LEGACY: u8 = 4;
    pub const SID: u8 = 5;
    pub const SID_UNIQUE: u8 = 6;
    pub const ACTION_PRESENT: u8 = 7;
    pub const RESOURCE_FORMAT: u8 = 8;
    pub const ACTION_PREFIX: u8 = 9;
    pub const TRUST_ACTION: u8 = 10;
    pub const RESOURCE_PRESENT: u8 = 11;
    pub const PRINCIPAL: u8 = 12;
}

/// Access Analyzer has no finding for these; ours.
const MALFORMED: &str = "MALFORMED_POLICY_DOCUMENT";

/// One problem found in a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// IAM's step that found it.
    step: u8,
    /// JSON path of the offending element (`Statement[1].Action[0]`, `Version`), empty for the
    /// whole document.
    pub path: String,
    /// Access Analyzer's issue code for the check (`INVALID_EFFECT`, `MISSING_PRINCIPAL`…), or
    /// `MALFORMED_POLICY_DOCUMENT` where it has none.
    pub code: &'static str,
    /// What IAM answers for it.
    pub error: PolicyError,
}

/// Everything the checks found in a document: see [`Policy::check`].
#[derive(Debug, Clone)]
pub struct Checked {
    /// The document as far as it could be read, `None` when it is not a JSON object. With
    /// problems it is not a valid policy and must not be evaluated: unreadable elements are
    /// missing, and a statement whose `Effect` is not `Allow` in some case reads as `Deny` (so
    /// that what it might grant raises no warnings of its own).
    pub policy: Option<Policy>,
    /// Every problem, in the order found (by statement within each step).
    pub problems: Vec<Problem>,
}

impl Checked {
    /// The problem IAM reports: the first of the earliest step.
    pub fn first(&self) -> Option<&Problem> {
        self.problems
            .iter()
            .fold(None, |best: Option<&Problem>, p| match best {
                Some(b) if b.step <= p.step => Some(b),
                _ => Some(p),
            })
    }
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
    /// Paths with a problem, so that later steps do not report an element twice.
    flagged: HashSet<String>,
}

impl Checker {
    fn add(&mut self, step: u8, path: String, code: &'static str, error: PolicyError) {
        self.flagged.insert(path.clone());
        self.problems.push(Problem {
            step,
            path,
            code,
            error,
        });
    }

    fn syntax(&mut self, path: String, code: &'static str, detail: String) {
        self.add(step::SYNTAX, path, code, PolicyError::Syntax { detail });
    }

    fn flagged(&self, path: &str) -> bool {
        self.flagged.contains(path)
    }
}

/// `base.key`, or `key` at the top.
fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// The path of the `j`-th string of a string-or-array element at `path`: `path[k]` with `k` its
/// index in the array (items that are not strings were left out of the values), or `path` for
/// a single string.
pub(crate) fn value_path(path: &str, element: Option<&Json>, j: usize) -> String {
    match element {
        Some(Json::Array(items)) => {
            let k = items
                .iter()
                .enumerate()
                .filter(|(_, item)| matches!(item, Json::String(_)))
                .nth(j)
                .map_or(j, |(k, _)| k);
            format!("{path}[{k}]")
        }
        _ => path.to_owned(),
    }
}

/// The members of an object without the later copies of a key given twice, each such key
/// reported once, in the order of their first occurrences (IAM names the first).
fn dedup<'a>(
    c: &mut Checker,
    members: &'a [(String, Json)],
    path: &str,
    at: &str,
) -> Vec<&'a (String, Json)> {
    let mut out: Vec<&(String, Json)> = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        if out.iter().any(|(k, _)| *k == m.0) {
            continue;
        }
        if members.iter().skip(i + 1).any(|(k, _)| *k == m.0) {
            c.syntax(
                join(path, &m.0),
                MALFORMED,
                format!("duplicate key {:?} in {at}", m.0),
            );
        }
        out.push(m);
    }
    out
}

/// A string or an array of strings (`null` items are ignored, as IAM does); `None` when the
/// element is of another type.
fn string_list(c: &mut Checker, v: &Json, what: &str, path: &str) -> Option<Vec<String>> {
    match v {
        Json::String(s) => Some(vec![s.clone()]),
        Json::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (j, item) in items.iter().enumerate() {
                match item {
                    Json::String(s) => out.push(s.clone()),
                    Json::Null => {}
                    other => c.syntax(
                        format!("{path}[{j}]"),
                        MALFORMED,
                        format!("{what} items must be strings, found {}", other.type_name()),
                    ),
                }
            }
            Some(out)
        }
        other => {
            c.syntax(
                path.to_owned(),
                MALFORMED,
                format!(
                    "{what} must be a string or an array, found {}",
                    other.type_name()
                ),
            );
            None
        }
    }
}

fn scalar_text(v: &Json) -> Result<String, String> {
    match v {
        Json::String(s) | Json::Number(s) => Ok(s.clone()),
        Json::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "condition values must be strings, numbers or booleans, found {}",
            other.type_name()
        )),
    }
}

fn parse_principals(c: &mut Checker, v: &Json, field: &str, path: &str) -> Option<Principals> {
    match v {
        Json::String(s) if s == "*" => Some(Principals::Wildcard),
        Json::String(s) => {
            c.add(
                step::SYNTAX,
                path.to_owned(),
                "INVALID_PRINCIPAL",
                PolicyError::InvalidPrincipal {
                    key: field.to_owned(),
                    value: s.clone(),
                },
            );
            None
        }
        Json::Object(members) => {
            let mut out = Vec::with_capacity(members.len());
            for (k, val) in dedup(c, members, path, field) {
                let key = match k.as_str() {
                    "AWS" => PrincipalKey::Aws,
                    "Service" => PrincipalKey::Service,
                    "Federated" => PrincipalKey::Federated,
                    "CanonicalUser" => PrincipalKey::CanonicalUser,
                    other => {
                        c.syntax(
                            join(path, other),
                            "INVALID_PRINCIPAL_KEY",
                            format!("unknown principal type {other:?}"),
                        );
                        continue;
                    }
                };
                if let Some(values) = string_list(c, val, field, &join(path, k)) {
                    out.push((key, values));
                }
            }
            Some(Principals::Map(out))
        }
        other => {
            c.syntax(
                path.to_owned(),
                "INVALID_PRINCIPAL_FORMAT",
                format!(
                    "{field} must be \"*\" or an object, found {}",
                    other.type_name()
                ),
            );
            None
        }
    }
}

fn parse_condition(c: &mut Checker, v: &Json, path: &str) -> Vec<ConditionEntry> {
    let Json::Object(ops) = v else {
        c.syntax(
            path.to_owned(),
            MALFORMED,
            format!("Condition must be an object, found {}", v.type_name()),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (op_name, block) in dedup(c, ops, path, "Condition") {
        let op_path = join(path, op_name);
        let Json::Object(keys) = block else {
            c.syntax(
                op_path,
                MALFORMED,
                format!(
                    "condition operator {op_name:?} must map to an object, found {}",
                    block.type_name()
                ),
            );
            continue;
        };
        let keys = dedup(c, keys, &op_path, op_name);
        if keys.is_empty() {
            // IAM accepts an empty block even under an unknown operator.
            continue;
        }
        let Some(operator) = Operator::parse(op_name) else {
            let code = if op_name.rsplit(':').next() == Some("NullIfExists") {
                "NULL_WITH_IF_EXISTS"
            } else {
                "INVALID_CONDITION_OPERATOR"
            };
            c.syntax(
                op_path,
                code,
                format!("unknown condition operator {op_name:?}"),
            );
            continue;
        };
        for (key, vals) in keys {
            let values = match vals {
                Json::Array(items) => items.iter().map(scalar_text).collect(),
                other => scalar_text(other).map(|v| vec![v]),
            };
            match values {
                Ok(values) => out.push(ConditionEntry {
                    operator,
                    operator_name: op_name.clone(),
                    key: key.clone(),
                    values,
                }),
                Err(detail) => c.syntax(join(&op_path, key), MALFORMED, detail),
            }
        }
    }
    out
}

/// A statement as read, before the checks of the later steps.
struct RawStatement<'a> {
    /// `None` when the statement is not an object.
    json: Option<&'a Json>,
    path: String,
    sid: Option<String>,
    /// `Effect` when it is `allow` or `deny` in some case.
    effect: Option<String>,
    principal: Option<Negatable<Principals>>,
    action: Option<Negatable<Vec<String>>>,
    resource: Option<Negatable<Vec<String>>>,
    conditions: Vec<ConditionEntry>,
    /// Elements present in the statement, readable or not: a later step does not call an
    /// element missing that was there but unreadable (and already reported).
    given: Vec<&'static str>,
}

impl RawStatement<'_> {
    fn has(&self, element: &str) -> bool {
        self.given.contains(&element)
    }

    /// Records `element` (or its `Not` form) as given; false, after reporting it at `at`, when
    /// the other form came first.
    fn claim(&mut self, c: &mut Checker, at: &str, element: &'static str) -> bool {
        if self.has(element) {
            c.syntax(
                at.to_owned(),
                "UNSUPPORTED_ELEMENT_COMBINATION",
                format!("statement has both {element} and Not{element}"),
            );
            return false;
        }
        self.given.push(element);
        true
    }

    /// The JSON of element `name`.
    fn element(&self, name: &str) -> Option<&Json> {
        self.json.and_then(|j| j.get(name))
    }

    /// The path of the `j`-th value of element `name`.
    fn item_path(&self, name: &str, j: usize) -> String {
        value_path(&join(&self.path, name), self.element(name), j)
    }
}

fn negatable_name(negated: bool, plain: &'static str, not: &'static str) -> &'static str {
    if negated { not } else { plain }
}

fn parse_statement<'a>(
    c: &mut Checker,
    v: &'a Json,
    index: usize,
    path: String,
) -> RawStatement<'a> {
    let mut st = RawStatement {
        json: None,
        path,
        sid: None,
        effect: None,
        principal: None,
        action: None,
        resource: None,
        conditions: Vec::new(),
        given: Vec::new(),
    };
    let Json::Object(members) = v else {
        c.syntax(
            st.path.clone(),
            MALFORMED,
            format!(
                "statement {index} must be an object, found {}",
                v.type_name()
            ),
        );
        return st;
    };
    st.json = Some(v);
    let base = st.path.clone();
    for (k, val) in dedup(c, members, &base, "statement") {
        let at = join(&base, k);
        match k.as_str() {
            "Sid" => match val {
                Json::String(s) => st.sid = Some(s.clone()),
                other => c.syntax(
                    at,
                    MALFORMED,
                    format!("Sid must be a string, found {}", other.type_name()),
                ),
            },
            "Effect" => {
                st.given.push("Effect");
                match val {
                    Json::String(s)
                        if s.eq_ignore_ascii_case("allow") || s.eq_ignore_ascii_case("deny") =>
                    {
                        st.effect = Some(s.clone());
                    }
                    Json::String(s) => {
                        c.syntax(at, "INVALID_EFFECT", format!("invalid Effect {s:?}"))
                    }
                    other => c.syntax(
                        at,
                        "INVALID_EFFECT",
                        format!("Effect must be a string, found {}", other.type_name()),
                    ),
                }
            }
            "Principal" | "NotPrincipal" => {
                if !st.claim(c, &at, "Principal") {
                    continue;
                }
                st.principal = parse_principals(c, val, k, &at).map(|values| Negatable {
                    negated: k == "NotPrincipal",
                    values,
                });
            }
            "Action" | "NotAction" => {
                if !st.claim(c, &at, "Action") {
                    continue;
                }
                st.action = string_list(c, val, k, &at).map(|values| Negatable {
                    negated: k == "NotAction",
                    values,
                });
            }
            "Resource" | "NotResource" => {
                if !st.claim(c, &at, "Resource") {
                    continue;
                }
                st.resource = string_list(c, val, k, &at).map(|values| Negatable {
                    negated: k == "NotResource",
                    values,
                });
            }
            "Condition" => st.conditions = parse_condition(c, val, &at),
            other => c.syntax(
                at,
                "INVALID_POLICY_ELEMENT",
                format!("unknown statement element {other:?}"),
            ),
        }
    }
    if !st.has("Effect") {
        c.syntax(
            base,
            "MISSING_EFFECT",
            format!("statement {index} has no Effect"),
        );
    }
    st
}

impl Policy {
    /// Runs every check [`Policy::parse`] makes on `json` as a policy of type `kind` (its
    /// default quota aside: the size is the caller's to judge) and returns all the problems,
    /// with what could be read of the document.
    pub fn check(json: &str, kind: PolicyKind) -> Checked {
        check_document(json, kind, None, kind.requires_2012())
    }
}

/// The checks behind [`Policy::check`] and [`Policy::parse`], with the size quota `limit` and
/// whether the type needs `Version` `2012-10-17`.
pub(crate) fn check_document(
    json: &str,
    kind: PolicyKind,
    limit: Option<usize>,
    requires_2012: bool,
) -> Checked {
    let mut c = Checker::default();
    // 1. Size and characters.
    let size = policy_size(json);
    if let Some(limit) = limit
        && size > limit
    {
        c.add(
            step::SIZE,
            String::new(),
            "POLICY_SIZE_EXCEEDS_QUOTA",
            PolicyError::TooLarge { kind, size, limit },
        );
    }
    if kind.iam_stored()
        && let Some(ch) = json
            .chars()
            .find(|c| !matches!(*c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'))
    {
        c.add(
            step::SIZE,
            String::new(),
            MALFORMED,
            PolicyError::InvalidCharacter {
                ch,
                code: u32::from(ch),
            },
        );
    }
    let doc = match Json::parse(json) {
        Ok(doc) => doc,
        Err(e) => {
            c.syntax(
                String::new(),
                "JSON_SYNTAX_ERROR",
                format!("invalid json: {e}"),
            );
            return Checked {
                policy: None,
                problems: c.problems,
            };
        }
    };

    // 2. Syntax.
    let Json::Object(top) = &doc else {
        c.syntax(
            String::new(),
            MALFORMED,
            format!("policy must be a json object, found {}", doc.type_name()),
        );
        return Checked {
            policy: None,
            problems: c.problems,
        };
    };
    let mut version = None;
    let mut version_given = false;
    let mut id = None;
    let mut statement_json = None;
    for (k, v) in dedup(&mut c, top, "", "policy") {
        match (k.as_str(), v) {
            ("Version", Json::String(s)) if s == "2012-10-17" || s == "2008-10-17" => {
                version = Some(s.clone());
                version_given = true;
            }
            ("Version", other) => {
                version_given = true;
                c.syntax(
                    "Version".to_owned(),
                    "INVALID_VERSION",
                    format!("invalid Version {}: use \"2012-10-17\"", other.to_value()),
                );
            }
            ("Id", Json::String(s)) => id = Some(s.clone()),
            ("Id", other) => c.syntax(
                "Id".to_owned(),
                MALFORMED,
                format!("Id must be a string, found {}", other.type_name()),
            ),
            ("Statement", v) => statement_json = Some(v),
            (other, _) => c.syntax(
                other.to_owned(),
                "INVALID_POLICY_ELEMENT",
                format!("unknown policy element {other:?}"),
            ),
        }
    }
    let mut statement_is_array = false;
    let raw: Vec<RawStatement<'_>> = match statement_json {
        None => {
            c.syntax(
                String::new(),
                "MISSING_STATEMENT",
                "policy has no Statement".to_owned(),
            );
            Vec::new()
        }
        Some(Json::Array(items)) if items.is_empty() => {
            c.syntax(
                "Statement".to_owned(),
                "MISSING_STATEMENT",
                "Statement is an empty array".to_owned(),
            );
            Vec::new()
        }
        Some(Json::Array(items)) => {
            statement_is_array = true;
            items
                .iter()
                .enumerate()
                .map(|(i, s)| parse_statement(&mut c, s, i, format!("Statement[{i}]")))
                .collect()
        }
        Some(obj @ Json::Object(_)) => vec![parse_statement(&mut c, obj, 0, "Statement".into())],
        Some(other) => {
            c.syntax(
                "Statement".to_owned(),
                MALFORMED,
                format!(
                    "Statement must be an object or an array, found {}",
                    other.type_name()
                ),
            );
            Vec::new()
        }
    };
    // The later steps look at the statements that are objects.
    let readable = || raw.iter().enumerate().filter(|(_, st)| st.json.is_some());

    // 3. Version (one given but invalid was reported as such).
    if requires_2012 && version.as_deref() != Some("2012-10-17") && !c.flagged("Version") {
        c.add(
            step::VERSION,
            if version_given {
                "Version".to_owned()
            } else {
                String::new()
            },
            "INVALID_VERSION",
            PolicyError::VersionTooOld {
                found: version.clone(),
                kind,
            },
        );
    }

    // 4. Legacy parsing.
    for (_, st) in readable() {
        if let Some(e) = st.effect.as_deref()
            && e != "Allow"
            && e != "Deny"
        {
            c.add(
                step::LEGACY,
                join(&st.path, "Effect"),
                "INVALID_EFFECT",
                PolicyError::LegacyParsing {
                    detail: format!("Effect {e:?} must be spelled \"Allow\" or \"Deny\""),
                },
            );
        }
        if let Some(res) = &st.resource {
            let name = negatable_name(res.negated, "Resource", "NotResource");
            for (j, r) in res.values.iter().enumerate() {
                if !legacy_resource_ok(r) {
                    // Too few fields, or none for the service.
                    let code = if r.split(':').count() < 6 {
                        "MISSING_ARN_FIELD"
                    } else {
                        "INVALID_ARN"
                    };
                    c.add(
                        step::LEGACY,
                        st.item_path(name, j),
                        code,
                        PolicyError::LegacyParsing {
                            detail: format!("truncated resource {r:?}"),
                        },
                    );
                }
            }
        }
        // A date IAM cannot read is found here, before Access Analyzer's check of a number of
        // the wrong type, but it is the same kind of mistake and reported the same way (bug: the
        // one came without a path, as MALFORMED_POLICY_DOCUMENT, the other not).
        for e in &st.conditions {
            if e.operator.kind.value_type() != ValueType::Date {
                continue;
            }
            for v in &e.values {
                if crate::date::parse(v).is_none() {
                    c.add(
                        step::LEGACY,
                        join(
                            &st.path,
                            &format!("Condition.{}.{}", e.operator_name, e.key),
                        ),
                        "INVALID_CONDITION_DATA_TYPE",
                        PolicyError::LegacyParsing {
                            detail: format!("invalid date {v:?} for condition key {:?}", e.key),
                        },
                    );
                }
            }
        }
    }

    // 5. Sids of the characters IAM takes, then unique ones.
    if kind.iam_stored() {
        for (_, st) in readable() {
            if let Some(sid) = st
                .sid
                .as_deref()
                .filter(|s| !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            {
                c.add(
                    step::SID,
                    join(&st.path, "Sid"),
                    "UNSUPPORTED_SID",
                    PolicyError::InvalidSid {
                        sid: sid.to_owned(),
                    },
                );
            }
        }
    }
    for (i, st) in raw.iter().enumerate() {
        let Some(sid) = st.sid.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        // Each repeated Sid once, from its first occurrence, at the statements that repeat it.
        if raw.iter().take(i).any(|o| o.sid.as_deref() == Some(sid)) {
            continue;
        }
        for o in raw.iter().skip(i + 1) {
            if o.sid.as_deref() == Some(sid) {
                c.add(
                    step::SID_UNIQUE,
                    join(&o.path, "Sid"),
                    "UNIQUE_SIDS_REQUIRED",
                    PolicyError::DuplicateSid {
                        sid: sid.to_owned(),
                    },
                );
            }
        }
    }

    // 6. Actions present.
    for (i, st) in readable() {
        match &st.action {
            None if st.has("Action") => {}
            Some(a) if !a.values.is_empty() => {}
            a => c.add(
                step::ACTION_PRESENT,
                match a {
                    Some(a) => join(&st.path, negatable_name(a.negated, "Action", "NotAction")),
                    None => st.path.clone(),
                },
                "MISSING_ACTION",
                PolicyError::MissingAction { statement: i },
            ),
        }
    }

    // 7. Resource formats.
    for (_, st) in readable() {
        let Some(res) = &st.resource else { continue };
        let name = negatable_name(res.negated, "Resource", "NotResource");
        for (j, r) in res.values.iter().enumerate() {
            let path = st.item_path(name, j);
            if c.flagged(&path) {
                continue;
            }
            if let Some(e) = resource_format_error(r) {
                let code = match e {
                    PolicyError::InvalidPartition { .. } => "INVALID_PARTITION",
                    PolicyError::RegionNotAllowed { .. } => "ARN_REGION_NOT_ALLOWED",
                    _ => "INVALID_ARN",
                };
                c.add(step::RESOURCE_FORMAT, path, code, e);
            }
        }
    }

    // 8. Action prefixes.
    for (_, st) in readable() {
        let Some(a) = &st.action else { continue };
        let name = negatable_name(a.negated, "Action", "NotAction");
        for (j, action) in a.values.iter().enumerate() {
            let path = st.item_path(name, j);
            if !c.flagged(&path)
                && let Some(e) = action_error(action)
            {
                c.add(step::ACTION_PREFIX, path, "INVALID_ACTION", e);
            }
        }
    }

    // 8b. A trust policy's actions are STS's (`sts:AssumeRole*`, `sts:TagSession`,
    // `sts:SetSourceIdentity`, ...), or every action.
    if kind == PolicyKind::Trust {
        for (_, st) in readable() {
            let Some(a) = st.action.as_ref().filter(|a| !a.negated) else {
                continue;
            };
            for (j, action) in a.values.iter().enumerate() {
                let path = st.item_path("Action", j);
                let sts = action
                    .get(..4)
                    .is_some_and(|p| p.eq_ignore_ascii_case("sts:"));
                if action != "*" && !sts && !c.flagged(&path) {
                    c.add(
                        step::TRUST_ACTION,
                        path,
                        MALFORMED,
                        PolicyError::TrustAction {
                            action: action.clone(),
                        },
                    );
                }
            }
        }
    }

    // 9. Resources present or prohibited.
    for (i, st) in readable() {
        if kind == PolicyKind::Trust {
            if let Some(r) = &st.resource {
                let field = negatable_name(r.negated, "Resource", "NotResource");
                c.add(
                    step::RESOURCE_PRESENT,
                    join(&st.path, field),
                    MALFORMED,
                    PolicyError::ProhibitedField { kind, field },
                );
            }
            continue;
        }
        match &st.resource {
            None if st.has("Resource") => {}
            Some(r) if !r.values.is_empty() => {}
            r => c.add(
                step::RESOURCE_PRESENT,
                match r {
                    Some(r) => join(
                        &st.path,
                        negatable_name(r.negated, "Resource", "NotResource"),
                    ),
                    None => st.path.clone(),
                },
                "MISSING_RESOURCE",
                PolicyError::MissingResource { statement: i },
            ),
        }
    }

    // 10. Principals and policy-type restrictions.
    for (i, st) in readable() {
        let element = st.principal.as_ref().map_or("Principal", |p| {
            negatable_name(p.negated, "Principal", "NotPrincipal")
        });
        match &st.principal {
            Some(p) if kind.forbids_principal() => c.add(
                step::PRINCIPAL,
                join(&st.path, element),
                "UNSUPPORTED_PRINCIPAL",
                PolicyError::PrincipalNotAllowed {
                    kind,
                    field: negatable_name(p.negated, "Principal", "NotPrincipal"),
                },
            ),
            None if kind.requires_principal() && !st.has("Principal") => c.add(
                step::PRINCIPAL,
                st.path.clone(),
                "MISSING_PRINCIPAL",
                PolicyError::MissingPrincipal { kind, statement: i },
            ),
            Some(p) => {
                if p.negated && matches!(kind, PolicyKind::Trust | PolicyKind::Rcp) {
                    c.add(
                        step::PRINCIPAL,
                        join(&st.path, "NotPrincipal"),
                        MALFORMED,
                        PolicyError::ProhibitedField {
                            kind,
                            field: "NotPrincipal",
                        },
                    );
                }
                if let Principals::Map(map) = &p.values {
                    let at = join(&st.path, element);
                    for (key, vals) in map {
                        let key_path = join(&at, key.name());
                        let key_json = st.element(element).and_then(|e| e.get(key.name()));
                        for (j, bad) in vals
                            .iter()
                            .enumerate()
                            .filter(|(_, v)| !valid_principal_value(*key, v))
                        {
                            c.add(
                                step::PRINCIPAL,
                                value_path(&key_path, key_json, j),
                                "INVALID_PRINCIPAL",
                                PolicyError::InvalidPrincipal {
                                    key: key.name().to_owned(),
                                    value: bad.clone(),
                                },
                            );
                        }
                    }
                }
                if kind == PolicyKind::Rcp && p.values != Principals::Wildcard {
                    c.add(
                        step::PRINCIPAL,
                        join(&st.path, element),
                        MALFORMED,
                        PolicyError::Unsupported {
                            kind,
                            detail: "a Principal other than \"*\"".to_owned(),
                        },
                    );
                }
            }
            None => {}
        }
        if kind == PolicyKind::Rcp && st.effect.as_deref() == Some("Allow") {
            c.add(
                step::PRINCIPAL,
                join(&st.path, "Effect"),
                MALFORMED,
                PolicyError::Unsupported {
                    kind,
                    detail: format!(
                        "Allow statements (statement {i}): only the AWS-managed RCPFullAWSAccess allows"
                    ),
                },
            );
        }
    }

    let statements = raw
        .into_iter()
        .map(|st| Statement {
            sid: st.sid,
            effect: match st.effect.as_deref() {
                Some(e) if e.eq_ignore_ascii_case("allow") => Effect::Allow,
                _ => Effect::Deny,
            },
            // Reported above; what it would allow is not the policy's.
            principal: st.principal.filter(|_| !kind.forbids_principal()),
            action: st.action.unwrap_or(Negatable {
                negated: false,
                values: Vec::new(),
            }),
            resource: st.resource,
            conditions: st.conditions,
        })
        .collect();
    Checked {
        policy: Some(Policy {
            kind,
            version,
            id,
            statements,
            statement_is_array,
            size,
        }),
        problems: c.problems,
    }
}
