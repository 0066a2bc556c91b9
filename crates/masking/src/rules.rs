//! The rules file: which transform applies to which column, JSON path or detected identifier.
//!
//! ```yaml
//! rules:
//!   - name: card                 # optional; errors name it (default: the field)
//!     column: card_number        # a CSV/Parquet column or top-level JSON member
//!     transform: { type: mask, keep_last: 4, unmasked: [symbols] }
//!   - path: $.customer.emails[*] # a JSON path: members, [*] and [n]
//!     transform: { type: hash, key: pii }
//!   - column: notes              # only the detected spans inside the field
//!     identifiers: [EMAIL, USA_SSN]
//!     transform: { type: replace }
//!   - identifiers: ["*"]         # free text (plain-text inputs): every detected span
//!     on_error: redact           # fail (default), keep, redact or null
//!     transform: { type: deterministic_encrypt, key: pii, surrogate: PII }
//! ```
//! JSON is accepted as well (the file is parsed as YAML when its name ends in `.yaml`/`.yml`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::MaskError;
use crate::transform::{Direction, Transform, TransformSpec};

/// What to do when a value cannot be transformed (not a date, too short for FF1, …).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Stop with an error naming the rule, field and record.
    #[default]
    Fail,
    /// Leave the value unchanged.
    Keep,
    /// Remove the value.
    Redact,
    /// Replace it with null.
    Null,
}

/// One rule as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Name used in errors and the summary.
    pub name: Option<String>,
    /// A column or top-level member.
    pub column: Option<String>,
    /// A JSON path.
    pub path: Option<String>,
    /// Restrict the rule to detected spans of these identifiers (`*` for all).
    pub identifiers: Option<Vec<String>>,
    /// The info type used by `replace` placeholders (default: the identifier or column).
    pub info_type: Option<String>,
    /// Failure handling.
    #[serde(default)]
    pub on_error: OnError,
    /// The transform: `{type: mask, keep_last: 4}`, or a transform without parameters by
    /// name alone (`transform: redact`).
    #[serde(deserialize_with = "transform_spec")]
    pub transform: TransformSpec,
}

/// A transform given by name alone is the transform of that type with its defaults.
fn transform_spec<'de, D: serde::Deserializer<'de>>(d: D) -> Result<TransformSpec, D::Error> {
    use serde::Deserialize;
    let v = serde_json::Value::deserialize(d)?;
    let v = match v {
        serde_json::Value::String(name) => serde_json::json!({ "type": name }),
        serde_json::Value::Object(o) => serde_json::Value::Object(o),
        // serde's own message ("invalid type: null, expected internally tagged enum") names
        // neither the field nor what to write; YAML's `transform: null` or `transform:` is
        // the likeliest way to get here.
        other => {
            let what = match other {
                serde_json::Value::Null => "empty (null)",
                serde_json::Value::Bool(_) => "a boolean",
                serde_json::Value::Number(_) => "a number",
                _ => "a list",
            };
            return Err(serde::de::Error::custom(format!(
                "transform is {what}: give a transform name (`transform: redact`) or a map \
                 with its type (`transform: {{type: mask, keep_last: 4}}`); a transform that \
                 writes null is `transform: \"null\"` (quoted in YAML)"
            )));
        }
    };
    TransformSpec::deserialize(v).map_err(serde::de::Error::custom)
}

/// A rules file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// Format version (1).
    #[serde(default)]
    pub version: Option<u32>,
    /// The rules, applied in order.
    pub rules: Vec<RuleSpec>,
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
    /// Every element of an array (or every member of an object).
    All,
}

/// Where a rule applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A column (or top-level member) by name.
    Column(String),
    /// A JSON path.
    Path(Vec<Seg>),
}

impl Field {
    /// The column name for flat formats: a column, or a path of exactly one member.
    pub fn column_name(&self) -> Option<String> {
        match self {
            Self::Column(c) => Some(c.clone()),
            Self::Path(segs) => {
                let names: Option<Vec<&str>> = segs
                    .iter()
                    .map(|s| match s {
                        Seg::Key(k) => Some(k.as_str()),
                        _ => None,
                    })
                    .collect();
                names.map(|n| n.join("."))
            }
        }
    }

    /// The names a detector may read keywords in: the column, or the path's members.
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::Column(c) => vec![c.clone()],
            Self::Path(segs) => segs
                .iter()
                .filter_map(|s| match s {
                    Seg::Key(k) => Some(k.clone()),
                    _ => None,
                })
                .collect(),
        }
    }

    /// The path form (a column is a one-member path).
    pub fn segments(&self) -> Vec<Seg> {
        match self {
            Self::Column(c) => vec![Seg::Key(c.clone())],
            Self::Path(s) => s.clone(),
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Column(c) => write!(f, "{c}"),
            Self::Path(segs) => {
                f.write_str("$")?;
                for s in segs {
                    match s {
                        Seg::Key(k) => write!(f, ".{k}")?,
                        Seg::Index(i) => write!(f, "[{i}]")?,
                        Seg::All => f.write_str("[*]")?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// Parses `$.a.b[*].c[0]` (the `$.` is optional; `a.*` is the same as `a[*]`).
pub fn parse_path(p: &str) -> Result<Vec<Seg>, String> {
    let body = p.strip_prefix('$').unwrap_or(p);
    let body = body.strip_prefix('.').unwrap_or(body);
    let mut segs = Vec::new();
    for part in body.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => part.split_at(i),
            None => (part, ""),
        };
        match name {
            "" if rest.is_empty() => return Err(format!("path {p:?} has an empty member name")),
            "" => {}
            "*" => segs.push(Seg::All),
            n => segs.push(Seg::Key(n.to_owned())),
        }
        while !rest.is_empty() {
            let close = rest
                .find(']')
                .ok_or_else(|| format!("path {p:?} has an unclosed ["))?;
            let inner = rest.get(1..close).unwrap_or("");
            segs.push(match inner {
                "*" => Seg::All,
                i => Seg::Index(
                    i.parse()
                        .map_err(|_| format!("path {p:?}: bad index [{i}]"))?,
                ),
            });
            rest = rest.get(close + 1..).unwrap_or("");
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(format!("path {p:?}: unexpected {rest:?} after ]"));
            }
        }
    }
    if segs.is_empty() {
        return Err(format!("path {p:?} is empty"));
    }
    Ok(segs)
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// Name for errors and the summary.
    pub name: String,
    /// Where it applies; `None` for free-text identifier rules.
    pub field: Option<Field>,
    /// Identifier filter.
    pub identifiers: Option<Vec<String>>,
    /// Failure handling.
    pub on_error: OnError,
    /// The transform's name.
    pub transform_name: &'static str,
    /// The prepared transform.
    pub transform: Transform,
    /// The date-shift entity field, resolved.
    pub entity: Option<Field>,
}

impl Rule {
    /// Whether this rule applies to a detected identifier.
    pub fn matches_identifier(&self, id: &str) -> bool {
        self.identifier_label(id).is_some()
    }

    /// The name a span found as `found` goes by for this rule (`replace`'s `<TYPE>`): the
    /// identifier as the rule wrote it, so `EMAIL` rules keep writing `<EMAIL>`, or the found ID
    /// for `*`; `None` when the rule does not apply to it.
    pub fn identifier_label<'a>(&'a self, found: &'a str) -> Option<&'a str> {
        self.identifiers.as_ref()?.iter().find_map(|i| {
            if i == "*" {
                return Some(found);
            }
            let wanted = crate::detect::canonical_identifier(i)?;
            crate::detect::identifier_matches(&wanted, found).then_some(i.as_str())
        })
    }

    /// The label used in errors and the summary: the field, or the identifiers.
    pub fn field_label(&self) -> String {
        match (&self.field, &self.identifiers) {
            (Some(f), _) => f.to_string(),
            (None, Some(ids)) => format!("text:{}", ids.join("|")),
            (None, None) => "?".into(),
        }
    }
}

fn parse_value(path: &Path, text: &str) -> Result<serde_json::Value, MaskError> {
    let yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    let parsed = if yaml {
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
    } else {
        serde_json::from_str(text).map_err(|e| e.to_string())
    };
    parsed.map_err(|message| MaskError::Parse {
        path: path.to_owned(),
        message,
    })
}

/// Reads a JSON or YAML file into a generic value (rules and policies files).
pub fn read_document(path: &Path) -> Result<serde_json::Value, MaskError> {
    let text = std::fs::read_to_string(path).map_err(|e| MaskError::io(path, e))?;
    parse_value(path, &text)
}

/// Deserializes rule specs one by one so that an error names the rule it is in.
pub fn rules_from_value(rules: &serde_json::Value, what: &str) -> Result<Vec<RuleSpec>, MaskError> {
    let list = rules.as_array().ok_or_else(|| {
        if what.is_empty() {
            MaskError::rule(what, "rules must be a list")
        } else {
            MaskError::policy(what, "rules must be a list")
        }
    })?;
    let mut out = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let label = r
            .get("name")
            .and_then(|n| n.as_str())
            .map(str::to_owned)
            .or_else(|| r.get("column").and_then(|c| c.as_str()).map(str::to_owned))
            .or_else(|| r.get("path").and_then(|c| c.as_str()).map(str::to_owned))
            .unwrap_or_else(|| format!("#{}", i + 1));
        let spec: RuleSpec = serde_json::from_value(r.clone()).map_err(|e| {
            // `what` names the policy a rule is in; a rules file's rules stand alone.
            if what.is_empty() {
                MaskError::rule(&label, e.to_string())
            } else {
                MaskError::policy(what, format!("rule {label:?}: {e}"))
            }
        })?;
        out.push(spec);
    }
    Ok(out)
}

impl RulesFile {
    /// Loads a rules file (JSON, or YAML for `.yaml`/`.yml`).
    pub fn load(path: &Path) -> Result<Self, MaskError> {
        let doc = read_document(path)?;
        Self::from_value(&doc)
    }

    /// Parses a rules document.
    pub fn from_value(doc: &serde_json::Value) -> Result<Self, MaskError> {
        let obj = doc
            .as_object()
            .ok_or_else(|| MaskError::rule("file", "expected an object with a rules list"))?;
        if let Some(k) = obj.keys().find(|k| *k != "rules" && *k != "version") {
            return Err(MaskError::rule(
                "file",
                format!("unknown top-level field {k:?}"),
            ));
        }
        let version = obj
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .map(|v| v as u32);
        if version.is_some_and(|v| v != 1) {
            return Err(MaskError::rule("file", "only version 1 is supported"));
        }
        let rules = obj
            .get("rules")
            .ok_or_else(|| MaskError::rule("file", "missing rules"))?;
        Ok(Self {
            version,
            rules: rules_from_value(rules, "")?,
        })
    }

    /// The rules `unmask` can invert: the reversible ones, except date shifts whose entity
    /// field was itself masked irreversibly (the shift could not be found again). Those come
    /// back as (rule name, entity) pairs.
    pub fn reversible(&self) -> (Self, Vec<(String, String)>) {
        let irreversible: Vec<&str> = self
            .rules
            .iter()
            .filter(|r| !r.transform.reversible() && r.identifiers.is_none())
            .filter_map(|r| r.column.as_deref().or(r.path.as_deref()))
            .collect();
        let mut skipped = Vec::new();
        let mut rules = Vec::new();
        for r in &self.rules {
            if !r.transform.reversible() {
                continue;
            }
            if let Some(e) = r.transform.entity() {
                let bare = |s: &str| s.trim_start_matches("$.").to_owned();
                if irreversible.iter().any(|f| bare(f) == bare(e)) {
                    let name = r
                        .name
                        .clone()
                        .or_else(|| r.column.clone())
                        .or_else(|| r.path.clone());
                    skipped.push((name.unwrap_or_default(), e.to_owned()));
                    continue;
                }
            }
            rules.push(r.clone());
        }
        (
            Self {
                version: self.version,
                rules,
            },
            skipped,
        )
    }

    /// Prepares every rule's transform.
    pub fn compile(
        &self,
        keys: &mut crate::keys::Keys,
        direction: Direction,
    ) -> Result<Vec<Rule>, MaskError> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| compile_rule(r, i, keys, direction))
            .collect()
    }
}

/// Prepares one rule; `index` names unnamed rules.
pub fn compile_rule(
    r: &RuleSpec,
    index: usize,
    keys: &mut crate::keys::Keys,
    direction: Direction,
) -> Result<Rule, MaskError> {
    let field = match (&r.column, &r.path) {
        (Some(_), Some(_)) => None,
        (Some(c), None) => Some(Some(Field::Column(c.clone()))),
        (None, Some(p)) => {
            Some(Some(Field::Path(parse_path(p).map_err(|m| {
                MaskError::rule(r.name.as_deref().unwrap_or(p), m)
            })?)))
        }
        (None, None) => Some(None),
    };
    let name = r
        .name
        .clone()
        .or_else(|| r.column.clone())
        .or_else(|| r.path.clone())
        .or_else(|| r.identifiers.as_ref().map(|i| i.join("|")))
        .unwrap_or_else(|| format!("#{}", index + 1));
    let field = field.ok_or_else(|| MaskError::rule(&name, "give column or path, not both"))?;
    if field.is_none() && r.identifiers.as_ref().is_none_or(Vec::is_empty) {
        return Err(MaskError::rule(
            &name,
            "needs a column, a path or identifiers",
        ));
    }
    let identifiers = match &r.identifiers {
        // `identifiers: []` on a column would detect nothing and mask nothing.
        Some(ids) if ids.is_empty() => {
            return Err(MaskError::rule(
                &name,
                "identifiers is empty: name the identifiers to mask, use \"*\" for all, or \
                 leave identifiers out to transform the whole field",
            ));
        }
        None => None,
        Some(ids) => Some(checked_identifiers(ids).map_err(|m| MaskError::rule(&name, m))?),
    };
    let info_type = r
        .info_type
        .clone()
        .or_else(|| {
            r.identifiers
                .as_ref()
                .and_then(|i| i.first().filter(|s| *s != "*").cloned())
        })
        .or_else(|| r.column.as_ref().map(|c| c.to_uppercase()))
        .unwrap_or_else(|| "REDACTED".into());
    let transform = r
        .transform
        .compile(&info_type, keys, direction)
        .map_err(|e| match e {
            MaskError::Rule { message, .. } => {
                MaskError::rule(&name, format!("field {}: {message}", field_text(&field, r)))
            }
            other => MaskError::rule(&name, other.to_string()),
        })?;
    if r.transform == TransformSpec::Shuffle && field.is_none() {
        return Err(MaskError::rule(&name, "shuffle needs a column or path"));
    }
    let entity = match r.transform.entity() {
        None => None,
        Some(e) => Some(if e.starts_with('$') || e.contains('[') {
            Field::Path(parse_path(e).map_err(|m| MaskError::rule(&name, m))?)
        } else {
            Field::Column(e.to_owned())
        }),
    };
    Ok(Rule {
        name,
        field,
        identifiers,
        on_error: r.on_error,
        transform_name: r.transform.name(),
        transform,
        entity,
    })
}

/// The rule's identifiers, upper-cased as scan's `--identifiers` takes them; an ID no
/// identifier has is refused, since the rule would silently mask nothing.
fn checked_identifiers(ids: &[String]) -> Result<Vec<String>, String> {
    ids.iter()
        .map(|i| {
            let id = i.trim().to_ascii_uppercase();
            if id == "*" || crate::detect::canonical_identifier(&id).is_some() {
                Ok(id)
            } else {
                Err(format!(
                    "unknown identifier {i:?}: use a managed data identifier ID as `palisade scan` \
                     reports it (EMAIL_ADDRESS, USA_SOCIAL_SECURITY_NUMBER, AWS_CREDENTIALS, …), \
                     one of the aliases EMAIL, USA_SSN, CREDIT_CARD, or \"*\" for all"
                ))
            }
        })
        .collect()
}

/// The canonical IDs the rules' identifiers name, for the detector's selection: `None` when a
/// rule takes every identifier (`*`).
pub fn selected_identifiers(rules: &[Rule]) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for id in rules
        .iter()
        .filter_map(|r| r.identifiers.as_ref())
        .flatten()
    {
        if id == "*" {
            return None;
        }
        if let Some(c) = crate::detect::canonical_identifier(id)
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    Some(out)
}

fn field_text(field: &Option<Field>, r: &RuleSpec) -> String {
    match field {
        Some(f) => f.to_string(),
        None => format!(
            "identifiers {:?}",
            r.identifiers.clone().unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keys;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("$.a.b[*].c[2]").unwrap(),
            vec![
                Seg::Key("a".into()),
                Seg::Key("b".into()),
                Seg::All,
                Seg::Key("c".into()),
                Seg::Index(2)
            ]
        );
        assert_eq!(parse_path("x").unwrap(), vec![Seg::Key("x".into())]);
        assert_eq!(
            parse_path("a.*").unwrap(),
            vec![Seg::Key("a".into()), Seg::All]
        );
        assert!(parse_path("a[").is_err());
        assert!(parse_path("a..b").is_err());
        assert!(parse_path("a[x]").is_err());
        assert_eq!(
            Field::Path(parse_path("a[0].b").unwrap()).to_string(),
            "$.a[0].b"
        );
    }

    #[test]
    fn yaml_and_json_agree() {
        let dir = tempfile::tempdir().unwrap();
        let y = dir.path().join("r.yaml");
        std::fs::write(
            &y,
            "rules:\n  - name: card\n    column: card\n    transform: {type: mask, keep_last: 4}\n  - path: $.a.b\n    transform:\n      type: hash\n      key: k\n",
        )
        .unwrap();
        let j = dir.path().join("r.json");
        std::fs::write(
            &j,
            r#"{"rules":[{"name":"card","column":"card","transform":{"type":"mask","keep_last":4}},
                {"path":"$.a.b","transform":{"type":"hash","key":"k"}}]}"#,
        )
        .unwrap();
        assert_eq!(RulesFile::load(&y).unwrap(), RulesFile::load(&j).unwrap());
    }

    /// Regression: a rule's shape error read `rule " rule email": unknown field ...` (a leading
    /// space, and "rule" twice).
    #[test]
    fn shape_errors_name_the_rule_once() {
        let doc = serde_json::json!({"rules":[
            {"column":"email","transform":{"type":"date_shift","key":"pii"}}]});
        let e = RulesFile::from_value(&doc).unwrap_err().to_string();
        assert!(
            e.starts_with("rule \"email\": missing field `lower_days`"),
            "{e}"
        );
        let doc = serde_json::json!({"rules":[{"column":"email","colour":"red","transform":{"type":"null"}}]});
        let e = RulesFile::from_value(&doc).unwrap_err().to_string();
        assert!(
            e.starts_with("rule \"email\": unknown field `colour`"),
            "{e}"
        );
    }

    /// Review defect 12: `transform: null` gave serde's "invalid type: null, expected
    /// internally tagged enum", and `identifiers: []` on a column silently masked nothing.
    #[test]
    fn defect_12_null_transform_and_empty_identifiers_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let y = dir.path().join("r.yaml");
        std::fs::write(&y, "rules:\n  - column: email\n    transform: null\n").unwrap();
        let e = RulesFile::load(&y).unwrap_err().to_string();
        assert!(
            e.starts_with("rule \"email\": transform is empty (null): give a transform name"),
            "{e}"
        );
        assert!(!e.contains("internally tagged"), "{e}");
        // The quoted name is the `null` transform.
        std::fs::write(&y, "rules:\n  - column: email\n    transform: \"null\"\n").unwrap();
        RulesFile::load(&y).unwrap();

        let doc = serde_json::json!({"rules":[
            {"column":"email","identifiers":[],"transform":"replace"}]});
        let e = RulesFile::from_value(&doc)
            .unwrap()
            .compile(&mut Keys::new(), Direction::Mask)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("email") && e.contains("identifiers is empty"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_rule_and_field() {
        let doc = serde_json::json!({"rules":[
            {"name":"ok","column":"a","transform":{"type":"null"}},
            {"name":"cards","column":"card","transform":{"type":"mask","keep_lsat":4}}]});
        let e = RulesFile::from_value(&doc).unwrap_err().to_string();
        assert!(e.contains("cards") && e.contains("keep_lsat"), "{e}");

        let doc = serde_json::json!({"rules":[
            {"column":"dob","transform":{"type":"date_shift","key":"nokey","lower_days":1,"upper_days":2}}]});
        let e = RulesFile::from_value(&doc)
            .unwrap()
            .compile(&mut Keys::new(), Direction::Mask)
            .unwrap_err()
            .to_string();
        assert!(e.contains("dob") && e.contains("nokey"), "{e}");

        let doc = serde_json::json!({"rules":[
            {"name":"r1","column":"zip","transform":{"type":"bucket","size":-1}}]});
        let e = RulesFile::from_value(&doc)
            .unwrap()
            .compile(&mut Keys::new(), Direction::Mask)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("r1") && e.contains("zip") && e.contains("size"),
            "{e}"
        );

        let doc = serde_json::json!({"rules":[{"name":"r2","transform":{"type":"null"}}]});
        let e = RulesFile::from_value(&doc)
            .unwrap()
            .compile(&mut Keys::new(), Direction::Mask)
            .unwrap_err()
            .to_string();
        assert!(e.contains("r2"), "{e}");
        let doc = serde_json::json!({"rulez":[]});
        assert!(RulesFile::from_value(&doc).is_err());
    }
}
