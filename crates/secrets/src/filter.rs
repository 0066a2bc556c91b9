//! `ListSecrets` / `BatchGetSecretValue` filters.
//!
//! AWS's documented behaviour: `name`, `tag-key`, `tag-value`, `owning-service` and
//! `primary-region` are case-sensitive prefix matches; `description` and `all` break the value
//! into words (on `/_+=.@-` and on lower-to-upper case changes) and match word prefixes
//! case-insensitively. A value starting with `!` negates: the secret passes when no attribute
//! matches. Values of one key are OR-ed, keys are AND-ed.

/// What filters look at in a secret.
#[derive(Debug, Clone, Copy)]
pub struct SecretView<'a> {
    /// The name.
    pub name: &'a str,
    /// The description.
    pub description: Option<&'a str>,
    /// The tags.
    pub tags: &'a [(String, String)],
    /// The owning service, if AWS-managed.
    pub owning_service: Option<&'a str>,
    /// The primary region, for replicated secrets and replicas.
    pub primary_region: Option<&'a str>,
}

/// The filter keys AWS accepts.
pub const KEYS: &[&str] = &[
    "description",
    "name",
    "tag-key",
    "tag-value",
    "primary-region",
    "owning-service",
    "all",
];

/// Why filters are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// An unknown key (a `ValidationException` in AWS).
    #[error(
        "1 validation error detected: Value '{key}' at 'filters.{index}.member.key' failed to satisfy constraint: Member must satisfy enum value set: [all, name, tag-key, description, tag-value]"
    )]
    UnknownKey {
        /// The key.
        key: String,
        /// Its 1-based position.
        index: usize,
    },
    /// A key without values.
    #[error("Invalid filter values for key: {0}")]
    NoValues(String),
}

/// Checks filter keys and values.
pub fn validate_filters(filters: &[(String, Vec<String>)]) -> Result<(), FilterError> {
    for (i, (key, values)) in filters.iter().enumerate() {
        if !KEYS.contains(&key.as_str()) {
            return Err(FilterError::UnknownKey {
                key: key.clone(),
                index: i + 1,
            });
        }
        if values.is_empty() {
            return Err(FilterError::NoValues(key.clone()));
        }
    }
    Ok(())
}

/// Whether the secret passes every filter.
pub fn matches(filters: &[(String, Vec<String>)], s: &SecretView<'_>) -> bool {
    filters.iter().all(|(key, values)| {
        let tag_keys: Vec<&str> = s.tags.iter().map(|(k, _)| k.as_str()).collect();
        let tag_values: Vec<&str> = s.tags.iter().map(|(_, v)| v.as_str()).collect();
        match key.as_str() {
            "name" => any_value(values, &[s.name], Mode::Prefix),
            "tag-key" => any_value(values, &tag_keys, Mode::Prefix),
            "tag-value" => any_value(values, &tag_values, Mode::Prefix),
            "description" => any_value(
                values,
                &s.description.into_iter().collect::<Vec<_>>(),
                Mode::Words,
            ),
            // Case-sensitive prefixes, as AWS documents these two.
            "owning-service" => any_value(
                values,
                &s.owning_service.into_iter().collect::<Vec<_>>(),
                Mode::Prefix,
            ),
            "primary-region" => any_value(
                values,
                &s.primary_region.into_iter().collect::<Vec<_>>(),
                Mode::Prefix,
            ),
            "all" => {
                let mut attrs = vec![s.name];
                attrs.extend(s.description);
                attrs.extend(tag_keys.iter().copied());
                attrs.extend(tag_values.iter().copied());
                any_value(values, &attrs, Mode::Words)
            }
            _ => false,
        }
    })
}

#[derive(Clone, Copy)]
enum Mode {
    Prefix,
    Words,
}

/// Whether one of `values` matches: a plain value when some attribute matches it, a negated
/// one (`!Env`) when none does (a secret without tags passes `tag-key` `!Env`; one with tags
/// `Env` and `Team` does not).
fn any_value(values: &[String], attrs: &[&str], mode: Mode) -> bool {
    values.iter().any(|v| match v.strip_prefix('!') {
        Some(neg) => !attrs.iter().any(|a| one(neg, a, mode)),
        None => attrs.iter().any(|a| one(v, a, mode)),
    })
}

fn one(pattern: &str, attr: &str, mode: Mode) -> bool {
    match mode {
        Mode::Prefix => attr.starts_with(pattern),
        Mode::Words => {
            let pw = words(pattern);
            if pw.is_empty() {
                return false;
            }
            let aw: Vec<String> = words(attr).iter().map(|w| w.to_lowercase()).collect();
            pw.iter()
                .all(|p| aw.iter().any(|a| a.starts_with(&p.to_lowercase())))
        }
    }
}

const SEPARATORS: &[char] = &['/', '-', '_', '+', '=', '.', '@', ' '];

/// Splits on separators, then into words that each start with one character that is not a
/// lower-case letter followed by lower-case letters (`MyTest` → `My`, `Test`; `COMPANYthings`
/// → `COMPAN`, `Ythings`, as AWS matches). A value mixing two kinds of separator stays one
/// word, as AWS treats paths like `my/secret+value`.
fn words(s: &str) -> Vec<String> {
    let kinds = SEPARATORS
        .iter()
        .filter(|c| **c != ' ' && s.contains(**c))
        .count();
    let pieces: Vec<&str> = if kinds > 1 {
        vec![s]
    } else {
        s.split(SEPARATORS).filter(|p| !p.is_empty()).collect()
    };
    let mut out = Vec::new();
    let lower = |c: Option<&char>| c.is_some_and(|c| c.is_ascii_lowercase());
    for p in pieces {
        let chars: Vec<char> = p.chars().collect();
        let mut between = String::new();
        let mut i = 0;
        while let Some(c) = chars.get(i) {
            if !lower(Some(c)) && lower(chars.get(i + 1)) {
                if !between.trim().is_empty() {
                    out.push(between.trim().to_owned());
                }
                between.clear();
                let mut word = String::from(*c);
                i += 1;
                while lower(chars.get(i)) {
                    word.extend(chars.get(i));
                    i += 1;
                }
                out.push(word.trim().to_owned());
            } else {
                between.push(*c);
                i += 1;
            }
        }
        if !between.trim().is_empty() {
            out.push(between.trim().to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(k: &str, v: &[&str]) -> (String, Vec<String>) {
        (k.into(), v.iter().map(|s| (*s).to_owned()).collect())
    }

    fn view<'a>(
        name: &'a str,
        desc: Option<&'a str>,
        tags: &'a [(String, String)],
    ) -> SecretView<'a> {
        SecretView {
            name,
            description: desc,
            tags,
            owning_service: None,
            primary_region: None,
        }
    }

    #[test]
    fn name_is_a_case_sensitive_prefix() {
        let s = view("prod/db", None, &[]);
        assert!(matches(&[f("name", &["prod"])], &s));
        assert!(!matches(&[f("name", &["Prod"])], &s));
        assert!(!matches(&[f("name", &["db"])], &s));
        assert!(matches(&[f("name", &["!dev"])], &s));
    }

    #[test]
    fn description_and_all_match_words_case_insensitively() {
        let tags = vec![("Env".to_owned(), "Production".to_owned())];
        let s = view("MyAppSecret", Some("Database password for billing"), &tags);
        assert!(matches(&[f("description", &["BILL"])], &s));
        assert!(!matches(&[f("description", &["illing"])], &s));
        assert!(matches(&[f("all", &["app"])], &s));
        assert!(matches(&[f("all", &["prod"])], &s));
        assert!(matches(
            &[f("tag-key", &["Env"]), f("tag-value", &["Prod"])],
            &s
        ));
        assert!(!matches(
            &[f("tag-key", &["Env"]), f("tag-value", &["Dev"])],
            &s
        ));
    }

    #[test]
    fn a_negated_value_passes_secrets_where_nothing_matches_it() {
        // Regression: `tag-key` `!Env` passed a secret tagged Env and Team (Team does not start
        // with Env) and never an untagged one.
        let both = vec![
            ("Env".to_owned(), "x".to_owned()),
            ("Team".to_owned(), "y".to_owned()),
        ];
        assert!(!matches(
            &[f("tag-key", &["!Env"])],
            &view("a", None, &both)
        ));
        assert!(matches(&[f("tag-key", &["!Env"])], &view("c", None, &[])));
        assert!(matches(&[f("description", &["!x"])], &view("c", None, &[])));
        let mut replica = view("r", None, &[]);
        replica.primary_region = Some("us-east-1");
        assert!(matches(&[f("primary-region", &["us-east"])], &replica));
        assert!(!matches(&[f("primary-region", &["US-EAST-1"])], &replica));
    }

    #[test]
    fn unknown_keys_and_empty_values_are_refused() {
        assert!(matches!(
            validate_filters(&[f("name", &["a"]), f("colour", &["x"])]),
            Err(FilterError::UnknownKey { index: 2, .. })
        ));
        assert_eq!(
            validate_filters(&[f("name", &[])]),
            Err(FilterError::NoValues("name".into()))
        );
    }
}
