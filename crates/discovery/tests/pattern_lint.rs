//! Lints the managed patterns for constructs that collapse regex-automata's speed or change
//! meaning on non-ASCII input: Unicode word boundaries and classes, unbounded lazy prefixes,
//! huge bounded repetitions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use palisade_discovery::identifiers::{IPV6_PATTERN, MANAGED};
use regex_syntax::ParserBuilder;
use regex_syntax::hir::{Hir, HirKind, Look};

fn all_patterns() -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<(&str, &str)> = MANAGED
        .iter()
        .flat_map(|m| m.patterns.iter().map(move |p| (m.id, *p)))
        .collect();
    v.push(("IP_ADDRESS", IPV6_PATTERN));
    v
}

fn walk(h: &Hir, id: &str, pattern: &str) {
    match h.kind() {
        HirKind::Look(l) => assert!(
            !matches!(
                l,
                Look::WordUnicode
                    | Look::WordUnicodeNegate
                    | Look::WordStartUnicode
                    | Look::WordEndUnicode
                    | Look::WordStartHalfUnicode
                    | Look::WordEndHalfUnicode
            ),
            "{id}: Unicode word boundary in {pattern:?}; write (?-u:\\b)"
        ),
        HirKind::Class(regex_syntax::hir::Class::Unicode(c)) => {
            // A Unicode class is fine only when it is all ASCII, or a negated ASCII class
            // that stops at the usual delimiters ([^\r\n], [^ "'<>]).
            let ascii = c.ranges().iter().all(|r| r.end() <= '\x7f');
            let negated_ascii = c.ranges().last().is_some_and(|r| r.end() == '\u{10ffff}');
            assert!(
                ascii || negated_ascii,
                "{id}: non-ASCII class {c:?} in {pattern:?}; use [0-9], [A-Za-z]"
            );
        }
        HirKind::Repetition(r) => {
            if let Some(max) = r.max {
                assert!(
                    max <= 128,
                    "{id}: repetition bound {max} in {pattern:?} blows up the automata"
                );
            }
            walk(&r.sub, id, pattern);
        }
        HirKind::Capture(c) => walk(&c.sub, id, pattern),
        HirKind::Concat(v) | HirKind::Alternation(v) => {
            for x in v {
                walk(x, id, pattern);
            }
        }
        _ => {}
    }
}

#[test]
fn patterns_are_dfa_friendly() {
    for (id, p) in all_patterns() {
        // Parsed with Unicode on (the regex crate's default): the patterns must be ASCII-explicit
        // on their own, not only under the engine's ASCII configuration.
        let hir = ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(p)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        walk(&hir, id, p);
        assert!(
            !p.contains("\\d") && !p.contains("\\w") && !p.contains("\\s"),
            "{id}: {p:?}"
        );
        assert!(
            !p.starts_with(".*") && !p.starts_with("(?s).*"),
            "{id}: leading .* in {p:?}"
        );
        assert!(p.len() <= 1024, "{id}: pattern too long");
    }
}

#[test]
fn every_identifier_has_an_id_and_pattern_or_scanner() {
    for m in MANAGED {
        assert!(!m.id.is_empty());
        assert!(!m.patterns.is_empty() || m.id == "IP_ADDRESS", "{}", m.id);
        if m.keyword == palisade_discovery::identifiers::KeywordRule::Required {
            assert!(
                !m.keywords.is_empty(),
                "{} requires keywords but has none",
                m.id
            );
            for k in m.keywords {
                assert!(k.len() >= 3, "{}: keyword {k:?} shorter than 3 bytes", m.id);
                assert_eq!(*k, k.to_lowercase(), "{}: keywords are lowercase", m.id);
            }
        }
    }
}
