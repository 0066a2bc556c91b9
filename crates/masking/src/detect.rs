//! Finding sensitive values in free text, so that rules can mask them by offset.
//!
//! [`Detector`] is the seam to the discovery engine (`palisade-discovery`): anything that
//! returns (offset, length, identifier) spans can drive masking. [`RegexDetector`] is a small
//! built-in one (email, credit card with Luhn, US SSN, phone number) so that masking works on
//! its own.

use regex::Regex;

/// A detected value: byte offset and byte length in the scanned text, and the identifier
/// (`EMAIL`, `CREDIT_CARD`, `USA_SSN`, `PHONE_NUMBER`, or any discovery identifier id).
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
}

type Validator = fn(&str) -> bool;

/// The built-in detector.
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
                "CREDIT_CARD",
                r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)",
                Some(luhn_ok),
            ),
            (
                "USA_SSN",
                r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)",
                Some(ssn_ok),
            ),
            (
                "EMAIL",
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
                ("EMAIL", "ann.lee@example.co.uk"),
                ("CREDIT_CARD", "4111 1111 1111 1111"),
                ("USA_SSN", "123-45-6789"),
                ("PHONE_NUMBER", "+1 415-555-0100"),
            ]
        );
    }
}
