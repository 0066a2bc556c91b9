//! Custom data identifiers and allow lists, with Macie's shapes (CreateCustomDataIdentifier,
//! CreateAllowList) and limits.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::identifiers::Severity;

/// One `severityLevels` entry.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeverityLevel {
    /// Occurrences from which this severity applies.
    pub occurrences_threshold: u64,
    /// `LOW`, `MEDIUM` or `HIGH`.
    #[serde(deserialize_with = "de_severity")]
    pub severity: Severity,
}

fn de_severity<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Severity, D::Error> {
    let s = String::deserialize(d)?;
    match s.to_ascii_uppercase().as_str() {
        "LOW" => Ok(Severity::Low),
        "MEDIUM" => Ok(Severity::Medium),
        "HIGH" => Ok(Severity::High),
        _ => Err(serde::de::Error::custom(format!(
            "unknown severity {s:?}: expected LOW, MEDIUM or HIGH"
        ))),
    }
}

/// A custom data identifier, as Macie's CreateCustomDataIdentifier request. Unknown fields are
/// refused: a misspelt `keyword` silently dropped would drop the keyword requirement.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomIdentifier {
    /// Name, reported as the detection type.
    pub name: String,
    /// Optional ARN-like identifier for the finding's `customDataIdentifiers.detections[].arn`.
    #[serde(default)]
    pub arn: Option<String>,
    /// Pattern in the regex crate's syntax (ASCII `\d`, `\w`, `\b`, as PCRE's defaults), at most 512
    /// characters.
    pub regex: String,
    /// At most 50 keywords of 3–90 characters; one must precede a match within
    /// `maximum_match_distance` (case-insensitive).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// At most 10 words of 4–90 characters; a match containing one is dropped (case-sensitive).
    #[serde(default)]
    pub ignore_words: Vec<String>,
    /// 1–300, default 50: from the end of the keyword to the end of the match.
    #[serde(default = "default_distance", deserialize_with = "de_distance")]
    pub maximum_match_distance: u32,
    /// Up to 3 thresholds; default: MEDIUM from 1 occurrence.
    #[serde(default)]
    pub severity_levels: Vec<SeverityLevel>,
    /// Macie's request fields that do not change what is found, accepted so that a
    /// CreateCustomDataIdentifier request can be used as it is.
    #[serde(default)]
    pub description: Option<String>,
    /// See `description`.
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    /// See `description`.
    #[serde(default)]
    pub client_token: Option<String>,
}

fn default_distance() -> u32 {
    50
}

/// Names the field and the value, which serde's "expected u32" does not.
fn de_distance<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    let v = serde_json::Number::deserialize(d)?;
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (1..=300).contains(n))
        .ok_or_else(|| {
            serde::de::Error::custom(format!("maximumMatchDistance {v} must be an integer 1-300"))
        })
}

impl CustomIdentifier {
    /// A custom identifier with Macie's defaults.
    pub fn new(name: impl Into<String>, regex: impl Into<String>) -> Self {
        CustomIdentifier {
            name: name.into(),
            arn: None,
            regex: regex.into(),
            keywords: Vec::new(),
            ignore_words: Vec::new(),
            maximum_match_distance: 50,
            severity_levels: Vec::new(),
            description: None,
            tags: None,
            client_token: None,
        }
    }

    /// Checks Macie's limits.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::CustomIdentifier {
            name: self.name.clone(),
            reason,
        };
        if self.name.is_empty() || self.name.chars().count() > 128 {
            return Err(bad("name must be 1-128 characters".into()));
        }
        let n = self.regex.chars().count();
        if n == 0 || n > 512 {
            return Err(bad(format!("regex has {n} characters; the limit is 1-512")));
        }
        if self.keywords.len() > 50 {
            return Err(bad(format!(
                "{} keywords; the limit is 50",
                self.keywords.len()
            )));
        }
        if let Some(k) = self
            .keywords
            .iter()
            .find(|k| !(3..=90).contains(&k.chars().count()))
        {
            return Err(bad(format!("keyword {k:?} must be 3-90 characters")));
        }
        if self.ignore_words.len() > 10 {
            return Err(bad(format!(
                "{} ignore words; the limit is 10",
                self.ignore_words.len()
            )));
        }
        if let Some(w) = self
            .ignore_words
            .iter()
            .find(|w| !(4..=90).contains(&w.chars().count()))
        {
            return Err(bad(format!("ignore word {w:?} must be 4-90 characters")));
        }
        if !(1..=300).contains(&self.maximum_match_distance) {
            return Err(bad(format!(
                "maximumMatchDistance {} must be 1-300",
                self.maximum_match_distance
            )));
        }
        if self.severity_levels.len() > 3 {
            return Err(bad(format!(
                "{} severity levels; the limit is 3",
                self.severity_levels.len()
            )));
        }
        // Macie's rules: each severity once, every threshold at least 1, and thresholds that
        // rise with the severity (otherwise which severity a count gets is ambiguous).
        if let Some(l) = self
            .severity_levels
            .iter()
            .find(|l| l.occurrences_threshold == 0)
        {
            return Err(bad(format!(
                "occurrencesThreshold of severity {} is 0; it must be at least 1",
                l.severity.as_str().to_uppercase()
            )));
        }
        let mut levels: Vec<&SeverityLevel> = self.severity_levels.iter().collect();
        levels.sort_by_key(|l| l.severity);
        for pair in levels.windows(2) {
            let [lo, hi] = pair else { continue };
            if lo.severity == hi.severity {
                return Err(bad(format!(
                    "severity {} is given twice",
                    lo.severity.as_str().to_uppercase()
                )));
            }
            if lo.occurrences_threshold >= hi.occurrences_threshold {
                return Err(bad(format!(
                    "occurrencesThreshold {} for {} is not below {} for {}; thresholds must rise \
                     from LOW to HIGH",
                    lo.occurrences_threshold,
                    lo.severity.as_str().to_uppercase(),
                    hi.occurrences_threshold,
                    hi.severity.as_str().to_uppercase()
                )));
            }
        }
        Ok(())
    }

    /// Macie's severity for `count` occurrences: `None` below the lowest threshold.
    pub fn severity_for(&self, count: u64) -> Option<Severity> {
        if self.severity_levels.is_empty() {
            return (count >= 1).then_some(Severity::Medium);
        }
        self.severity_levels
            .iter()
            .filter(|l| count >= l.occurrences_threshold)
            .map(|l| l.severity)
            .max()
    }
}

/// An allow list: Macie's two kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowList {
    /// Literal entries; a detection whose text equals one, ignoring case, is dropped.
    Words {
        /// The list's name.
        name: String,
        /// Entries (at most 100,000).
        words: Vec<String>,
    },
    /// A regex (1–512 characters); a detection whose whole text it matches is dropped.
    Regex {
        /// The list's name.
        name: String,
        /// The pattern.
        regex: String,
    },
}

impl AllowList {
    /// The list's name.
    pub fn name(&self) -> &str {
        match self {
            AllowList::Words { name, .. } | AllowList::Regex { name, .. } => name,
        }
    }

    /// Checks Macie's limits.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::AllowList {
            name: self.name().to_owned(),
            reason,
        };
        match self {
            AllowList::Words { words, .. } if words.len() > 100_000 => {
                Err(bad(format!("{} entries; the limit is 100000", words.len())))
            }
            // Macie refuses an empty list (S3_OBJECT_EMPTY): it allows nothing, and is more
            // likely the wrong file than a list meant empty.
            AllowList::Words { words, .. } if words.is_empty() => Err(bad(
                "has no entries (Macie: S3_OBJECT_EMPTY); an entry is 1-90 characters".into(),
            )),
            AllowList::Words { words, .. } => match words
                .iter()
                .enumerate()
                .find(|(_, w)| w.chars().count() > 90)
            {
                Some((i, w)) => {
                    let shown: String = w.chars().take(40).collect();
                    Err(bad(format!(
                        "entry {} ({shown:?}…) has {} characters; each entry is 1-90",
                        i + 1,
                        w.chars().count()
                    )))
                }
                None => Ok(()),
            },
            AllowList::Regex { regex, .. } if regex.is_empty() || regex.chars().count() > 512 => {
                Err(bad(format!(
                    "regex has {} characters; the limit is 1-512",
                    regex.chars().count()
                )))
            }
            _ => Ok(()),
        }
    }
}

/// One object or an array of them, each deserialized on its own so that an error names the
/// entry and the field (an untagged enum only says that nothing matched).
fn entries<T: serde::de::DeserializeOwned>(path: &Path, text: &[u8], what: &str) -> Result<Vec<T>> {
    let doc: serde_json::Value = serde_json::from_slice(text).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })?;
    let (items, one) = match doc {
        serde_json::Value::Array(v) => (v, false),
        other => (vec![other], true),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let name = v.get("name").and_then(serde_json::Value::as_str);
            let entry = match (one, name) {
                (true, Some(n)) => format!("{what} {n:?}"),
                (true, None) => what.to_owned(),
                (false, Some(n)) => format!("{what} {i} ({n:?})"),
                (false, None) => format!("{what} {i}"),
            };
            T::deserialize(&v).map_err(|source| Error::Entry {
                path: path.to_owned(),
                entry,
                source,
            })
        })
        .collect()
}

/// Reads custom identifiers from a JSON file: one CreateCustomDataIdentifier-shaped object or an
/// array of them.
pub fn load_custom(path: &Path) -> Result<Vec<CustomIdentifier>> {
    let text = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
    let list: Vec<CustomIdentifier> = entries(path, text, "custom data identifier")?;
    for c in &list {
        c.validate()?;
    }
    Ok(list)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AllowListJson {
    #[serde(default)]
    name: Option<String>,
    criteria: Criteria,
    // Macie's CreateAllowList fields that do not change what is allowed.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    tags: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    client_token: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Criteria {
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    words: Option<Vec<String>>,
}

/// Reads an allow list: a `.json` file holds CreateAllowList-shaped objects
/// (`{"name", "criteria": {"regex"}}`, or `{"criteria": {"words": [...]}}` in place of an S3 words
/// list); any other file is a line-delimited literal list, like Macie's `s3WordsList`.
pub fn load_allow_list(path: &Path) -> Result<Vec<AllowList>> {
    let text = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    // Windows editors write a BOM, which would otherwise be part of the first word.
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
    let default_name = path.display().to_string();
    let lists = if path.extension().is_some_and(|e| e == "json") {
        let items: Vec<AllowListJson> = entries(path, text, "allow list")?;
        let mut out = Vec::new();
        for it in items {
            let name = it.name.unwrap_or_else(|| default_name.clone());
            match (it.criteria.regex, it.criteria.words) {
                (Some(regex), None) => out.push(AllowList::Regex { name, regex }),
                (None, Some(words)) => out.push(AllowList::Words { name, words }),
                _ => {
                    return Err(Error::AllowList {
                        name,
                        reason: "criteria needs exactly one of regex or words".into(),
                    });
                }
            }
        }
        out
    } else {
        let words = String::from_utf8_lossy(text)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        vec![AllowList::Words {
            name: default_name,
            words,
        }]
    };
    for l in &lists {
        l.validate()?;
    }
    Ok(lists)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let mut c = CustomIdentifier::new("emp", "EMP-[0-9]{6}");
        assert!(c.validate().is_ok());
        c.maximum_match_distance = 0;
        assert!(c.validate().is_err());
        c.maximum_match_distance = 301;
        assert!(c.validate().is_err());
        c.maximum_match_distance = 300;
        c.keywords = vec!["ab".into()];
        assert!(c.validate().is_err());
        c.keywords = (0..51).map(|i| format!("kw{i}")).collect();
        assert!(c.validate().is_err());
        c.keywords = vec![];
        c.ignore_words = vec!["abc".into()];
        assert!(c.validate().is_err());
        c.ignore_words = vec![];
        c.regex = "a".repeat(513);
        assert!(c.validate().is_err());
    }

    #[test]
    fn severity_levels() {
        let mut c = CustomIdentifier::new("emp", "x");
        assert_eq!(c.severity_for(1), Some(Severity::Medium));
        c.severity_levels = vec![
            SeverityLevel {
                occurrences_threshold: 5,
                severity: Severity::Low,
            },
            SeverityLevel {
                occurrences_threshold: 50,
                severity: Severity::High,
            },
        ];
        assert_eq!(c.severity_for(4), None);
        assert_eq!(c.severity_for(5), Some(Severity::Low));
        assert_eq!(c.severity_for(60), Some(Severity::High));
    }

    #[test]
    fn parse_json() {
        let c: CustomIdentifier = serde_json::from_str(
            r#"{"name":"emp","regex":"EMP-[0-9]{6}","keywords":["employee"],"maximumMatchDistance":20,
                "severityLevels":[{"occurrencesThreshold":1,"severity":"HIGH"}]}"#,
        )
        .unwrap();
        assert_eq!(c.maximum_match_distance, 20);
        assert_eq!(c.severity_for(1), Some(Severity::High));
    }
}
