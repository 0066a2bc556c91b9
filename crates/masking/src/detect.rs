//! Finding sensitive values in free text, so that rules can mask them by offset.
//!
//! [`Detector`] is the seam: anything that returns (offset, length, identifier) spans can drive
//! masking. [`DiscoveryDetector`] is the one `palisade mask` uses: the discovery engine behind
//! `palisade scan` (so that what scan reports, mask masks), plus [`RegexDetector`], a small
//! keyword-free detector (email, credit card with Luhn, US SSN, phone number) that also masks
//! card and SSN values that stand without the keywords Macie's identifiers require.
//!
//! Rules name identifiers by the discovery engine's managed IDs (`EMAIL_ADDRESS`,
//! `USA_SOCIAL_SECURITY_NUMBER`, …); the built-in detector's first names (`EMAIL`, `USA_SSN`,
//! `CREDIT_CARD`) remain aliases ([`canonical_identifier`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use palisade_discovery::engine::{IdentSet, Scanner, Structure};
use palisade_discovery::{Engine, EngineBuilder, Selection};
use regex::Regex;

/// A detected value: byte offset and byte length in the scanned text, and the identifier (a
/// discovery managed ID such as `EMAIL_ADDRESS`, or a custom detector's own name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Byte offset of the first byte.
    pub offset: usize,
    /// Length in bytes.
    pub length: usize,
    /// The identifier id.
    pub identifier: String,
}

/// Something that finds sensitive spans in text.
pub trait Detector: std::fmt::Debug + Send + Sync {
    /// Spans found in `text`; they may overlap and come in any order (masking sorts them and
    /// keeps the first of overlapping spans). Offsets must fall on character boundaries.
    fn detect(&self, text: &str) -> Vec<Span>;

    /// Spans found in `text`, the value of a field named by `names` (a column name, or the
    /// members of a JSON path): scan counts a keyword in a column name or path as the keyword
    /// an identifier requires (Macie's rule for structured data), so mask must too. A detector
    /// without keywords ignores the names.
    fn detect_field(&self, text: &str, names: &[&str]) -> Vec<Span> {
        let _ = names;
        self.detect(text)
    }
}

type Validator = fn(&str) -> bool;

/// The built-in detector's first names, which rules written for it still use (README.md).
const ALIASES: &[(&str, &str)] = &[
    ("EMAIL", "EMAIL_ADDRESS"),
    ("USA_SSN", "USA_SOCIAL_SECURITY_NUMBER"),
    ("CREDIT_CARD", "CREDIT_CARD_NUMBER"),
];

/// The managed ID a rule's identifier names (case-insensitive, aliases resolved), or `None` when
/// no identifier has that ID: such a rule would silently mask nothing.
pub fn canonical_identifier(id: &str) -> Option<String> {
    let up = id.trim().to_ascii_uppercase();
    let id = ALIASES
        .iter()
        .find(|(alias, _)| *alias == up)
        .map_or(up.as_str(), |(_, managed)| managed);
    palisade_discovery::identifiers::find(id).map(|_| id.to_owned())
}

/// Whether a span found as `found` is one of `wanted` (a canonical ID): the same ID, or an ID
/// the wanted identifier resolves to (an IBAN's country ID for `IBAN`, the no-keyword card ID
/// for `CREDIT_CARD_NUMBER`).
pub fn identifier_matches(wanted: &str, found: &str) -> bool {
    wanted == found || palisade_discovery::identifiers::find(found).is_some_and(|m| m.id == wanted)
}

/// The discovery engine for the identifiers `ids` name (canonical IDs), or for every managed
/// identifier with `None` (a `*` rule). Compiled once per run.
pub fn discovery_engine(ids: Option<Vec<String>>) -> Result<Engine, String> {
    let selection = ids.map_or(Selection::All, Selection::Include);
    EngineBuilder::new()
        .selection(selection)
        .build()
        .map_err(|e| e.to_string())
}

/// The discovery engine, plus [`RegexDetector`].
#[derive(Debug)]
pub struct DiscoveryDetector<'e> {
    engine: &'e Engine,
    /// One scanner for the run: making one per value (its regex caches) cost more than the
    /// scan of a short cell.
    scanner: Mutex<Scanner<'e>>,
    builtin: RegexDetector,
    /// The identifiers whose keywords each field's names carry, computed once per field: a
    /// file has few distinct columns or paths and many values.
    field_keywords: Mutex<HashMap<Vec<String>, IdentSet>>,
}

/// A field's names as the engine's structure: every offset of the value is in that field.
struct FieldNames<'a>(&'a IdentSet);

impl Structure for FieldNames<'_> {
    fn keywords_at(&self, _offset: usize) -> Option<&IdentSet> {
        Some(self.0)
    }

    fn has_keywords(&self) -> bool {
        !self.0.is_empty()
    }
}

impl<'e> DiscoveryDetector<'e> {
    /// A detector over a compiled engine.
    pub fn new(engine: &'e Engine) -> Result<Self, String> {
        let builtin = RegexDetector::new().map_err(|e| e.to_string())?;
        Ok(Self {
            engine,
            scanner: Mutex::new(engine.scanner()),
            builtin,
            field_keywords: Mutex::new(HashMap::new()),
        })
    }

    fn scan(&self, text: &str, structure: Option<&dyn Structure>) -> Vec<Span> {
        let mut found = Vec::new();
        // A panic elsewhere cannot leave the scanner's caches wrong, only stale.
        let mut scanner = self.scanner.lock().unwrap_or_else(PoisonError::into_inner);
        scanner.scan(text.as_bytes(), structure, &mut found);
        drop(scanner);
        let mut out: Vec<Span> = found
            .iter()
            .filter(|d| text.is_char_boundary(d.start) && text.is_char_boundary(d.end))
            .map(|d| Span {
                offset: d.start,
                length: d.len(),
                identifier: self.engine.type_id(d).to_owned(),
            })
            .collect();
        out.extend(self.builtin.detect(text));
        out
    }
}

impl Detector for DiscoveryDetector<'_> {
    fn detect(&self, text: &str) -> Vec<Span> {
        self.scan(text, None)
    }

    fn detect_field(&self, text: &str, names: &[&str]) -> Vec<Span> {
        if names.is_empty() {
            return self.scan(text, None);
        }
        let key: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut cache = self
            .field_keywords
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let set = cache
            .entry(key)
            .or_insert_with(|| self.engine.keywords_in_names(names))
            .clone();
        drop(cache);
        self.scan(text, Some(&FieldNames(&set)))
    }
}

/// The built-in keyword-free detector; it reports discovery's IDs.
#[derive(Debug)]
pub struct RegexDetector {
    patterns: Vec<(String, Regex, Option<Validator>)>,
}

impl RegexDetector {
    /// The built-in identifiers. Patterns use ASCII word boundaries (`(?-u:\b)`), which keep
    /// the regex engine on its fast path for non-ASCII text.
    pub fn new() -> Result<Self, regex::Error> {
        let defs: [(&str, &str, Option<Validator>); 4] = [
            (
                "CREDIT_CARD_NUMBER",
                r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)",
                Some(luhn_ok),
            ),
            (
                "USA_SOCIAL_SECURITY_NUMBER",
                r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)",
                Some(ssn_ok),
            ),
            (
                "EMAIL_ADDRESS",
                r"(?-u:\b)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?-u:\b)",
                None,
            ),
            (
                "PHONE_NUMBER",
                r"(?:\+[1-9][0-9]{0,2}[ .-]?)?(?:\([0-9]{2,4}\)|[0-9]{2,4})[ .-]?[0-9]{3}[ .-]?[0-9]{3,4}(?-u:\b)",
                Some(phone_ok),
            ),
        ];
        let mut patterns = Vec::with_capacity(defs.len());
        for (id, re, v) in defs {
            patterns.push((id.to_owned(), Regex::new(re)?, v));
        }
        Ok(Self { patterns })
    }

    /// Adds a custom identifier.
    pub fn with_pattern(mut self, identifier: &str, regex: Regex) -> Self {
        self.patterns.push((identifier.to_owned(), regex, None));
        self
    }
}

impl Detector for RegexDetector {
    fn detect(&self, text: &str) -> Vec<Span> {
        let mut out = Vec::new();
        for (id, re, validate) in &self.patterns {
            for m in re.find_iter(text) {
                if validate.is_none_or(|v| v(m.as_str())) {
                    out.push(Span {
                        offset: m.start(),
                        length: m.len(),
                        identifier: id.clone(),
                    });
                }
            }
        }
        out
    }
}

fn luhn_ok(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn ssn_ok(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(area), Some(group), Some(serial)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    // Never-issued areas and groups, and the famous Woolworth wallet-card number.
    area != "000"
        && area != "666"
        && !area.starts_with('9')
        && group != "00"
        && serial != "0000"
        && s != "078-05-1120"
}

fn phone_ok(s: &str) -> bool {
    let n = s.chars().filter(char::is_ascii_digit).count();
    // A bare run of digits is more likely an id than a phone number.
    (10..=15).contains(&n) && s.chars().any(|c| !c.is_ascii_digit())
}

/// Sorted, non-overlapping spans: on overlap the earlier (then longer) span wins.
pub fn resolve(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by(|a, b| a.offset.cmp(&b.offset).then(b.length.cmp(&a.length)));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    let mut end = 0usize;
    for s in spans {
        if s.offset >= end || out.is_empty() {
            end = s.offset + s.length;
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_builtin_types() {
        let d = RegexDetector::new().unwrap();
        let text = "mail ann.lee@example.co.uk, card 4111 1111 1111 1111, ssn 123-45-6789, \
                    call +1 415-555-0100; not 078-05-1120 nor 4111 1111 1111 1112";
        let spans = resolve(d.detect(text));
        let found: Vec<(&str, &str)> = spans
            .iter()
            .map(|s| (s.identifier.as_str(), &text[s.offset..s.offset + s.length]))
            .collect();
        assert_eq!(
            found,
            vec![
                ("EMAIL_ADDRESS", "ann.lee@example.co.uk"),
                ("CREDIT_CARD_NUMBER", "4111 1111 1111 1111"),
                ("USA_SOCIAL_SECURITY_NUMBER", "123-45-6789"),
                ("PHONE_NUMBER", "+1 415-555-0100"),
            ]
        );
    }
}
