//! Dynamic masking policies, the Redshift model: a policy is a transform per column or JSON
//! path, attached to principals, roles, accounts or everyone (PUBLIC) with a priority. For
//! a caller, each field gets the transform of the highest-priority policy attached to it;
//! exempt principals see clear values. Read APIs call [`PolicySet::rules_for`] with the
//! caller's IAM identity; `palisade mask --policies FILE --as ARN` shows the result.
//!
//! ```yaml
//! exempt: ["arn:aws:iam::123456789012:role/admin"]
//! policies:
//!   - name: card_last4
//!     table: customers              # optional: the dataset it applies to (default: any)
//!     rules:
//!       - column: card
//!         transform: { type: mask, keep_last: 4, unmasked: [symbols] }
//!     attachments:
//!       - role: analyst             # a role name or role ARN pattern
//!         priority: 20
//!       - public: true              # everyone else
//!         priority: 0
//! ```
//! Patterns accept `*` and `?`. As in Redshift, two policies covering the same field may not
//! share a priority.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::MaskError;
use crate::rules::{RuleSpec, RulesFile, Seg, parse_path, read_document, rules_from_value};

/// The IAM identity a policy is evaluated for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The principal ARN as presented (user, role, assumed-role session or root).
    pub principal_arn: String,
    /// The account id.
    pub account: String,
    /// Roles the caller acts as: (role ARN, role name). For an STS assumed-role session the
    /// role ARN is rebuilt without its path, which ARN patterns with `*` still match.
    pub roles: Vec<(String, String)>,
}

impl Caller {
    /// Parses an IAM or STS principal ARN.
    pub fn from_arn(arn: &str) -> Result<Self, String> {
        const EXPECTED: &str = "give an iam user or role arn (arn:aws:iam::ACCOUNT:user/NAME, \
             arn:aws:iam::ACCOUNT:role/NAME) or an sts role session arn \
             (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION)";
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, _region, account, resource] = parts.as_slice() else {
            return Err(format!("not an arn; {EXPECTED}"));
        };
        if *prefix != "arn" {
            return Err(format!("not an arn; {EXPECTED}"));
        }
        // Policies attach to principals: an s3 or kms ARN names a resource.
        if !matches!(*service, "iam" | "sts") {
            return Err(format!(
                "names a {service:?} resource, not a principal; {EXPECTED}"
            ));
        }
        if account.is_empty() {
            return Err(format!("has no account; {EXPECTED}"));
        }
        let mut roles = Vec::new();
        match (*service, resource.split_once('/')) {
            ("iam", Some(("role", rest))) => {
                let name = rest.rsplit('/').next().unwrap_or(rest);
                roles.push((arn.to_owned(), name.to_owned()));
            }
            ("sts", Some(("assumed-role", rest))) => {
                let name = rest.split('/').next().unwrap_or(rest);
                roles.push((
                    format!("arn:{partition}:iam::{account}:role/{name}"),
                    name.to_owned(),
                ));
            }
            _ => {}
        }
        Ok(Self {
            principal_arn: arn.to_owned(),
            account: (*account).to_owned(),
            roles,
        })
    }
}

/// Who a policy is attached to.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// A principal ARN pattern.
    pub principal: Option<String>,
    /// A role name or role ARN pattern.
    pub role: Option<String>,
    /// An account id.
    pub account: Option<String>,
    /// Everyone.
    #[serde(default)]
    pub public: bool,
    /// Higher wins; default 0.
    #[serde(default)]
    pub priority: i64,
}

impl Attachment {
    fn matches(&self, c: &Caller) -> bool {
        if self.public {
            return true;
        }
        if let Some(p) = &self.principal
            && (glob(p, &c.principal_arn) || c.roles.iter().any(|(arn, _)| glob(p, arn)))
        {
            return true;
        }
        if let Some(r) = &self.role {
            let by_arn = r.starts_with("arn:");
            if c.roles
                .iter()
                .any(|(arn, name)| glob(r, if by_arn { arn } else { name }))
            {
                return true;
            }
        }
        self.account.as_deref() == Some(c.account.as_str())
    }
}

/// One masking policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Its name.
    pub name: String,
    /// The table or dataset it applies to; `None` for any.
    pub table: Option<String>,
    /// Its transforms by field.
    pub rules: Vec<RuleSpec>,
    /// Its attachments.
    pub attachments: Vec<Attachment>,
}

impl Policy {
    /// Whether the policy applies to `table` (one without a table applies to every one).
    pub fn applies_to(&self, table: &str) -> bool {
        self.table.as_deref().is_none_or(|t| glob(t, table))
    }
}

/// A policies file.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// The policies.
    pub policies: Vec<Policy>,
    /// Principal ARN patterns that see clear values.
    pub exempt: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    table: Option<String>,
    rules: serde_json::Value,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

/// The field a rule covers, one key however it is written: `column: email`, `path: $.email`
/// and `path: email` are one field, whose highest-priority policy wins (comparing the raw
/// strings let a lower priority's `path: $.email` override a higher one's `column: email`,
/// and missed their priority conflict). A member whose name holds `.`, `[`, `]` or `"` is
/// written `["a.b"]`, so that it stays apart from the path `$.a.b`.
///
/// With `fold`, for inputs whose column names match whatever their case (CSV, TSV, Parquet:
/// `formats::Options::same_column`), names differing only in case are one field too (bug: both
/// applied, one after the other, and the lower priority's redaction hid what the higher one
/// showed). JSON member names keep their case, and so do fields of JSON inputs (folded there,
/// the winner's `Email` took the place of `email`'s rule, and member `email` went out in clear).
fn field_key(r: &RuleSpec, fold: bool) -> String {
    let segs = match (&r.column, &r.path) {
        (Some(c), _) => vec![Seg::Key(c.clone())],
        (None, Some(p)) => match parse_path(p) {
            Ok(segs) => segs,
            // Compiling the rule reports the bad path; until then it is a field of its own.
            Err(_) => return p.clone(),
        },
        (None, None) => return String::new(),
    };
    let mut key = String::from("$");
    for seg in segs {
        let seg = match seg {
            Seg::Key(k) if fold => Seg::Key(k.to_lowercase()),
            other => other,
        };
        match seg {
            Seg::Key(k) if k.contains(['.', '[', ']', '"']) => {
                key.push('[');
                key.push_str(&serde_json::Value::String(k).to_string());
                key.push(']');
            }
            Seg::Key(k) => {
                key.push('.');
                key.push_str(&k);
            }
            Seg::Index(i) => key.push_str(&format!("[{i}]")),
            Seg::All => key.push_str("[*]"),
        }
    }
    key
}

impl PolicySet {
    /// Loads a policies file (JSON, or YAML for `.yaml`/`.yml`).
    pub fn load(path: &Path) -> Result<Self, MaskError> {
        Self::from_value(&read_document(path)?)
    }

    /// Parses and validates a policies document.
    pub fn from_value(doc: &serde_json::Value) -> Result<Self, MaskError> {
        let obj = doc
            .as_object()
            .ok_or_else(|| MaskError::policy("", "expected an object"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "policies" | "exempt" | "version"))
        {
            return Err(MaskError::policy(
                "",
                format!("unknown top-level field {k:?}"),
            ));
        }
        let exempt: Vec<String> = match obj.get("exempt") {
            None => Vec::new(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| MaskError::policy("", format!("exempt: {e}")))?,
        };
        let list = obj
            .get("policies")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| MaskError::policy("", "missing policies list"))?;
        let mut policies = Vec::with_capacity(list.len());
        for (i, p) in list.iter().enumerate() {
            let label = p
                .get("name")
                .and_then(|n| n.as_str())
                .map_or_else(|| format!("#{}", i + 1), str::to_owned);
            let raw: RawPolicy = serde_json::from_value(p.clone())
                .map_err(|e| MaskError::policy(&label, e.to_string()))?;
            let rules = rules_from_value(&raw.rules, &label)?;
            for r in &rules {
                if r.column.is_none() && r.path.is_none() {
                    return Err(MaskError::policy(
                        &label,
                        "every rule needs a column or path",
                    ));
                }
            }
            if raw.attachments.iter().any(|a| {
                !a.public && a.principal.is_none() && a.role.is_none() && a.account.is_none()
            }) {
                return Err(MaskError::policy(
                    &label,
                    "an attachment needs principal, role, account or public: true",
                ));
            }
            policies.push(Policy {
                name: raw.name,
                table: raw.table,
                rules,
                attachments: raw.attachments,
            });
        }
        let set = Self { policies, exempt };
        set.check_priorities()?;
        Ok(set)
    }

    /// Redshift's rule: two policies on the same field (and table) may not share a priority.
    fn check_priorities(&self) -> Result<(), MaskError> {
        let mut seen: BTreeMap<(Option<String>, String, i64), &str> = BTreeMap::new();
        for p in &self.policies {
            let mut prios: Vec<i64> = p.attachments.iter().map(|a| a.priority).collect();
            prios.sort_unstable();
            prios.dedup();
            for r in &p.rules {
                for &prio in &prios {
                    // Folded: equal priorities on `email` and `Email` are refused, as they
                    // would meet on a CSV or Parquet column.
                    let key = (p.table.clone(), field_key(r, true), prio);
                    if let Some(other) = seen.get(&key)
                        && *other != p.name
                    {
                        return Err(MaskError::policy(
                            &p.name,
                            format!(
                                "field {} has priority {prio} in policy {other:?} too; priorities on one field must differ",
                                r.column.as_deref().or(r.path.as_deref()).unwrap_or(&key.1)
                            ),
                        ));
                    }
                    seen.insert(key, &p.name);
                }
            }
        }
        Ok(())
    }

    /// A role ARN pattern with a path that decides for an assumed-role session: such a
    /// session's ARN does not carry its role's path, so whether `role/team/*` covers it cannot
    /// be told offline, and guessing either way can show clear values (bug: the session of
    /// `role/team/analyst` saw what the role's policy masks). Callers refuse to guess.
    pub fn path_pattern_for_session(&self, caller: &Caller) -> Option<&str> {
        if !caller.principal_arn.contains(":assumed-role/") {
            return None;
        }
        let with_path = |p: &str| {
            p.split_once(":role/")
                .is_some_and(|(_, rest)| rest.contains('/'))
        };
        self.exempt
            .iter()
            .map(String::as_str)
            .chain(self.policies.iter().flat_map(|p| {
                p.attachments
                    .iter()
                    .flat_map(|a| a.role.iter().chain(a.principal.iter()))
                    .map(String::as_str)
            }))
            .find(|p| with_path(p))
    }

    /// Whether the caller is exempt.
    pub fn is_exempt(&self, caller: &Caller) -> bool {
        self.exempt.iter().any(|e| {
            glob(e, &caller.principal_arn) || caller.roles.iter().any(|(arn, _)| glob(e, arn))
        })
    }

    /// Whether any policy applies to `table`.
    pub fn covers_table(&self, table: &str) -> bool {
        self.policies.iter().any(|p| p.applies_to(table))
    }

    /// Per field, the winning (policy name, priority, rule) for `caller` on `table`; `fold`
    /// for inputs whose column names match whatever their case (see `field_key`).
    pub fn evaluate(
        &self,
        caller: &Caller,
        table: &str,
        fold: bool,
    ) -> Vec<(String, i64, RuleSpec)> {
        if self.is_exempt(caller) {
            return Vec::new();
        }
        let mut best: BTreeMap<String, (usize, String, i64, RuleSpec)> = BTreeMap::new();
        let mut order = 0usize;
        for p in &self.policies {
            if !p.applies_to(table) {
                continue;
            }
            let Some(prio) = p
                .attachments
                .iter()
                .filter(|a| a.matches(caller))
                .map(|a| a.priority)
                .max()
            else {
                continue;
            };
            for r in &p.rules {
                let key = field_key(r, fold);
                let better = best.get(&key).is_none_or(|(_, _, bp, _)| prio > *bp);
                if better {
                    let mut rule = r.clone();
                    // Named as the policy writes the field, as before.
                    let written = r.column.clone().or_else(|| r.path.clone());
                    rule.name = Some(format!(
                        "{}/{}",
                        p.name,
                        r.name.clone().or(written).unwrap_or_else(|| key.clone())
                    ));
                    let pos = best.get(&key).map_or(order, |b| b.0);
                    best.insert(key, (pos, p.name.clone(), prio, rule));
                    order += 1;
                }
            }
        }
        let mut out: Vec<(usize, String, i64, RuleSpec)> = best.into_values().collect();
        out.sort_by_key(|b| b.0);
        out.into_iter().map(|(_, n, p, r)| (n, p, r)).collect()
    }

    /// A masker applying what `caller` may see of `table`. Read APIs mask each response
    /// document with [`crate::formats::jsonl::JsonPlan`] over it.
    pub fn masker_for<'d>(
        &self,
        caller: &Caller,
        table: &str,
        keys: &mut crate::keys::Keys,
        detector: Box<dyn crate::detect::Detector + 'd>,
    ) -> Result<crate::masker::Masker<'d>, MaskError> {
        let rules = self
            .rules_for(caller, table, false)
            .compile(keys, crate::transform::Direction::Mask)?;
        crate::masker::Masker::new(rules, detector, crate::transform::Direction::Mask)
    }

    /// The rules `caller` sees `table` through, as a rules file; `fold` as for
    /// [`Self::evaluate`].
    pub fn rules_for(&self, caller: &Caller, table: &str, fold: bool) -> RulesFile {
        RulesFile {
            version: Some(1),
            rules: self
                .evaluate(caller, table, fold)
                .into_iter()
                .map(|(_, _, r)| r)
                .collect(),
        }
    }
}

/// `*` matches any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::TransformSpec;

    fn set() -> PolicySet {
        PolicySet::from_value(&serde_json::json!({
            "exempt": ["arn:aws:iam::111122223333:role/admin"],
            "policies": [
                {"name": "public_redact", "attachments": [{"public": true, "priority": 0}],
                 "rules": [{"column": "card", "transform": {"type": "replace"}},
                           {"column": "ssn", "transform": {"type": "null"}}]},
                {"name": "analyst_last4", "table": "customers",
                 "attachments": [{"role": "analyst", "priority": 20},
                                 {"principal": "arn:aws:iam::111122223333:user/ops-*", "priority": 10}],
                 "rules": [{"column": "card", "transform": {"type": "mask", "keep_last": 4}}]},
                {"name": "account_hash", "attachments": [{"account": "444455556666", "priority": 5}],
                 "rules": [{"path": "$.email", "transform": {"type": "hash", "key": "k"}}]}
            ]
        }))
        .unwrap()
    }

    fn transforms(s: &PolicySet, arn: &str, table: &str) -> Vec<(String, &'static str)> {
        s.evaluate(&Caller::from_arn(arn).unwrap(), table, true)
            .into_iter()
            .map(|(_, _, r)| (r.column.or(r.path).unwrap(), r.transform.name()))
            .collect()
    }

    #[test]
    fn highest_priority_wins_per_field() {
        let s = set();
        let analyst = "arn:aws:sts::111122223333:assumed-role/analyst/session-1";
        assert_eq!(
            transforms(&s, analyst, "customers"),
            vec![("card".into(), "mask"), ("ssn".into(), "null")]
        );
        // Attached to the customers table only.
        assert_eq!(
            transforms(&s, analyst, "orders"),
            vec![("card".into(), "replace"), ("ssn".into(), "null")]
        );
        let ops = "arn:aws:iam::111122223333:user/ops-jane";
        assert_eq!(transforms(&s, ops, "customers")[0], ("card".into(), "mask"));
        let other = "arn:aws:iam::111122223333:user/bob";
        assert_eq!(
            transforms(&s, other, "customers")[0],
            ("card".into(), "replace")
        );
        let foreign = "arn:aws:iam::444455556666:user/x";
        assert!(transforms(&s, foreign, "t").contains(&("$.email".into(), "hash")));
        assert!(transforms(&s, "arn:aws:iam::111122223333:role/admin", "customers").is_empty());
        assert!(
            transforms(
                &s,
                "arn:aws:sts::111122223333:assumed-role/admin/s",
                "customers"
            )
            .is_empty()
        );
        let rules = s.rules_for(&Caller::from_arn(analyst).unwrap(), "customers", false);
        assert_eq!(
            rules.rules[0].transform,
            TransformSpec::Mask(
                serde_json::from_value(serde_json::json!({"keep_last":4})).unwrap()
            )
        );
        assert_eq!(rules.rules[0].name.as_deref(), Some("analyst_last4/card"));
    }

    #[test]
    fn read_api_masks_a_document_for_a_caller() {
        use crate::formats::jsonl::JsonPlan;
        let s = PolicySet::from_value(&serde_json::json!({"policies": [
            {"name": "p", "attachments": [{"public": true}],
             "rules": [{"path": "$.customer.card", "transform": {"type": "mask", "keep_last": 4}},
                       {"path": "$.customer.email", "transform": {"type": "hash", "key": "k"}}]}]}))
        .unwrap();
        let mut keys = crate::keys::Keys::new();
        keys.insert_raw("k", &[1u8; 32]);
        let caller = Caller::from_arn("arn:aws:iam::111122223333:user/bob").unwrap();
        let detector = crate::cli::default_detector().unwrap();
        let mut masker = s
            .masker_for(&caller, "orders", &mut keys, detector)
            .unwrap();
        let plan = JsonPlan::new(&masker).unwrap();
        let mut doc = serde_json::json!({"customer": {"card": "4111111111111111", "email": "a@b.example"}, "total": 3});
        plan.apply(&mut masker, &mut doc, 1).unwrap();
        assert_eq!(doc["customer"]["card"], "************1111");
        assert_eq!(doc["customer"]["email"].as_str().unwrap().len(), 64);
        assert_eq!(doc["total"], 3);
    }

    #[test]
    fn a_column_and_a_path_naming_one_field_are_one_field() {
        // Bug: `column: email` and `path: $.email` were two fields, so a public policy's
        // `path: $.email` replaced what the analyst's higher-priority `column: email` kept,
        // and two policies giving them one priority were not refused.
        let s = PolicySet::from_value(&serde_json::json!({"policies": [
            {"name": "analyst_clear_email", "attachments": [{"role": "analyst", "priority": 20}],
             "rules": [{"column": "email", "transform": "keep"}]},
            {"name": "public_redact", "attachments": [{"public": true}],
             "rules": [{"path": "$.email", "transform": {"type": "replace", "value": "HIDDEN"}},
                       {"path": "card", "transform": "redact"},
                       {"column": "a.b", "transform": "redact"},
                       {"path": "$.a.b", "transform": "null"}]}]}))
        .unwrap();
        let analyst = "arn:aws:iam::111122223333:role/analyst";
        assert_eq!(
            transforms(&s, analyst, "t"),
            vec![
                ("email".into(), "keep"),
                ("card".into(), "redact"),
                ("a.b".into(), "redact"),
                ("$.a.b".into(), "null")
            ]
        );
        let other = "arn:aws:iam::111122223333:user/bob";
        assert_eq!(transforms(&s, other, "t")[0], ("$.email".into(), "replace"));
        let e = PolicySet::from_value(&serde_json::json!({"policies": [
            {"name": "a", "attachments": [{"public": true, "priority": 3}], "rules": [{"column": "email", "transform": "null"}]},
            {"name": "b", "attachments": [{"role": "r", "priority": 3}], "rules": [{"path": "$.email", "transform": "redact"}]}
        ]}))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("policy \"b\": field $.email") && e.contains("policy \"a\" too"),
            "{e}"
        );
    }

    #[test]
    fn a_column_named_in_two_cases_is_one_field() {
        let s = PolicySet::from_value(&serde_json::json!({"policies": [
            {"name": "public", "attachments": [{"public": true, "priority": 0}],
             "rules": [{"column": "email", "transform": "redact"}]},
            {"name": "analyst", "attachments": [{"role": "analyst", "priority": 20}],
             "rules": [{"column": "Email", "transform": {"type": "mask", "keep_last": 4}}]}
        ]}))
        .unwrap();
        assert_eq!(
            transforms(&s, "arn:aws:sts::1:assumed-role/analyst/s", "t"),
            [("Email".to_owned(), "mask")]
        );
        // In JSON the two are two members, each with its own rule.
        let json: Vec<String> = s
            .evaluate(
                &Caller::from_arn("arn:aws:sts::1:assumed-role/analyst/s").unwrap(),
                "t",
                false,
            )
            .into_iter()
            .map(|(_, _, r)| r.column.unwrap())
            .collect();
        assert_eq!(json, ["email", "Email"]);
    }

    #[test]
    fn equal_priorities_on_a_field_are_refused() {
        let e = PolicySet::from_value(&serde_json::json!({"policies": [
            {"name": "a", "attachments": [{"public": true, "priority": 1}], "rules": [{"column": "c", "transform": {"type": "null"}}]},
            {"name": "b", "attachments": [{"role": "r", "priority": 1}], "rules": [{"column": "c", "transform": {"type": "redact"}}]}
        ]}))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("policy \"b\": field c") && e.contains("policy \"a\" too"),
            "{e}"
        );
        let e = PolicySet::from_value(&serde_json::json!({"policies": [
            {"name": "a", "attachments": [{"priority": 1}], "rules": [{"column": "c", "transform": {"type": "null"}}]}
        ]}))
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("policy \"a\": "), "{e}");
    }

    #[test]
    fn a_caller_that_is_not_a_principal_arn_is_told_what_to_give() {
        // Bug: `--as arn:aws:s3:::bucket` said only "not an arn".
        let e = Caller::from_arn("arn:aws:s3:::bucket").unwrap_err();
        assert!(
            e.contains("\"s3\" resource, not a principal") && e.contains("role/NAME"),
            "{e}"
        );
        let e = Caller::from_arn("analyst").unwrap_err();
        assert!(
            e.starts_with("not an arn; give an iam user or role arn"),
            "{e}"
        );
        let e = Caller::from_arn("arn:aws:iam:::role/x").unwrap_err();
        assert!(e.starts_with("has no account"), "{e}");
    }

    #[test]
    fn arns_and_globs() {
        assert!(glob("arn:aws:iam::*:role/*", "arn:aws:iam::1:role/x/y"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("*", ""));
        assert!(!glob("abc", "abcd"));
        let c = Caller::from_arn("arn:aws:iam::123456789012:role/team/dev").unwrap();
        assert_eq!(
            c.roles,
            vec![(
                "arn:aws:iam::123456789012:role/team/dev".into(),
                "dev".into()
            )]
        );
        assert!(Caller::from_arn("nonsense").is_err());
        assert!(Caller::from_arn("arn:aws:s3:::bucket").is_err());
    }
}
