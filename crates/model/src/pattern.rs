//! Translation of botocore (Java `java.util.regex`) patterns to `regex` crate syntax.
//!
//! AWS evaluates `pattern` with Java `Matcher.matches()`, i.e. the whole value must match, so
//! the translation is anchored as `^(?:…)$`. Differences handled:
//! - `\uXXXX` escapes become `\x{XXXX}`; a surrogate pair `\uD800\uDC00` becomes the
//!   supplementary code point; the (non-Java) `\u10000`/`\u10FFFF` spelling used by some
//!   models is read as the intended supplementary code point.
//! - `\w`, `\d`, `\s` are ASCII-only in Java (without `UNICODE_CHARACTER_CLASS`), Unicode in
//!   the `regex` crate: they are expanded to explicit ASCII classes.
//! - Escaped punctuation that the `regex` crate does not accept is unescaped.
//!
//! Look-around and back-references are unsupported by the `regex` crate: such patterns return
//! `None` and are not enforced.

/// Patterns of the served models that use look-around, rewritten without it. Each rewrite is
/// equivalent within the shape's own length bounds, which are checked separately.
const REWRITTEN: &[(&str, &str)] = &[
    // IAM's account alias: lower-case letters, digits and single hyphens, not at either end
    // (3 to 63 characters by the shape's min and max).
    (
        r"^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$",
        r"^(?:[a-z0-9](?:-?[a-z0-9])+)$",
    ),
];

/// Translates a botocore pattern; `None` if it uses unsupported constructs.
pub fn translate(java: &str) -> Option<String> {
    if let Some((_, rewritten)) = REWRITTEN.iter().find(|(p, _)| *p == java) {
        return Some((*rewritten).to_owned());
    }
    let chars: Vec<char> = java.chars().collect();
    let mut out = String::with_capacity(java.len() + 8);
    let mut in_class = false;
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => {
                let next = *chars.get(i + 1)?;
                i += 2;
                match next {
                    'u' => {
                        let (cp, used) = read_unicode_escape(&chars, i)?;
                        i += used;
                        push_codepoint(&mut out, cp);
                    }
                    'w' => out.push_str(if in_class {
                        "0-9A-Za-z_"
                    } else {
                        "[0-9A-Za-z_]"
                    }),
                    'd' => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                    's' => out.push_str(if in_class {
                        " \\t\\n\\x0B\\f\\r"
                    } else {
                        "[ \\t\\n\\x0B\\f\\r]"
                    }),
                    'W' | 'D' | 'S' if in_class => return None,
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    'D' => out.push_str("[^0-9]"),
                    'S' => out.push_str("[^ \\t\\n\\x0B\\f\\r]"),
                    'p' | 'P' | 'x' | 't' | 'n' | 'r' | 'f' | 'b' | 'B' | 'A' | 'z' => {
                        out.push('\\');
                        out.push(next);
                    }
                    c if c.is_ascii_digit() => return None, // back-reference
                    c if c.is_ascii_alphabetic() => return None, // unknown escape class
                    c if regex_syntax_meta(c) => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => {
                        // Punctuation escaped only for Java's benefit (`\/`, `\:`, `\=`, `\!`).
                        out.push(c);
                    }
                }
                continue;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class && chars.get(i + 1) == Some(&'?') => {
                let kind = chars.get(i + 2).copied();
                if matches!(kind, Some('=' | '!' | '<')) {
                    return None; // look-around
                }
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    Some(format!("^(?:{out})$"))
}

fn regex_syntax_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

fn hex_at(chars: &[char], start: usize, len: usize) -> Option<u32> {
    let s: String = chars.get(start..start + len)?.iter().collect();
    if s.len() != len || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(&s, 16).ok()
}

/// Reads the hex digits after `\u` at `start`; returns (code point, chars consumed).
fn read_unicode_escape(chars: &[char], start: usize) -> Option<(u32, usize)> {
    // `\u10000`..`\u10FFFF`: models use this for supplementary planes.
    for len in [6, 5] {
        if let Some(v) = hex_at(chars, start, len)
            && (0x10000..=0x10FFFF).contains(&v)
            && chars.get(start) == Some(&'1')
        {
            return Some((v, len));
        }
    }
    let hi = hex_at(chars, start, 4)?;
    if (0xD800..0xDC00).contains(&hi)
        && chars.get(start + 4) == Some(&'\\')
        && chars.get(start + 5) == Some(&'u')
        && let Some(lo) = hex_at(chars, start + 6, 4)
        && (0xDC00..0xE000).contains(&lo)
    {
        return Some((0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), 10));
    }
    Some((hi, 4))
}

fn push_codepoint(out: &mut String, cp: u32) {
    if (0xD800..0xE000).contains(&cp) {
        // A lone surrogate cannot occur in a Rust string; map it to the nearest scalar value
        // so that ranges such as `\u0020-\uD7FF` keep their meaning.
        let adjusted = if cp < 0xDC00 { 0xD7FF } else { 0xE000 };
        out.push_str(&format!("\\x{{{adjusted:X}}}"));
    } else {
        out.push_str(&format!("\\x{{{cp:X}}}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn full(p: &str) -> Regex {
        Regex::new(&translate(p).unwrap()).unwrap()
    }

    #[test]
    fn unicode_escapes() {
        let r = full("[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+");
        assert!(r.is_match("abc\tdef"));
        assert!(!r.is_match("abc\u{1}"));
        let r = full(
            "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+",
        );
        assert!(r.is_match("héllo 😀"));
        let r = full("[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*");
        assert!(r.is_match("x😀y\t"));
    }

    #[test]
    fn java_classes_are_ascii() {
        let r = full("[\\w+=,.@-]+");
        assert!(r.is_match("my-user_1@x.com"));
        assert!(!r.is_match("ünicode"));
        assert!(full("\\d{12}").is_match("123456789012"));
        assert!(!full("\\d{12}").is_match("1234567890123"));
    }

    #[test]
    fn anchored_full_match() {
        assert!(!full("[0-9]+h").is_match("12hx"));
        assert!(full("^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$").is_match("!a/b"));
    }

    #[test]
    fn lookaround_unsupported() {
        assert_eq!(translate("^(?!aws:)[a-z]+$"), None);
    }

    /// Regression: the account alias pattern has a look-ahead, so it was not enforced and
    /// `CreateAccountAlias` stored `a\x01b`, `$$$` and `UPPER`.
    #[test]
    fn the_account_alias_pattern_is_rewritten_without_lookahead() {
        let re = full("^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$");
        for ok in ["abc", "my-corp-1", "a-b", "0a0"] {
            assert!(re.is_match(ok), "{ok}");
        }
        for bad in [
            "-ab", "ab-", "a--b", "UPPER", "$$$", "a\u{1}b", "a b", "ß-x",
        ] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }
}
