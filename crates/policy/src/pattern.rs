//! Wildcard patterns (`*`, `?`) and policy-variable templates (`${key}`).
//!
//! A pattern is a list of pieces: literal text, `?` (exactly one character)
//! and `*` (any run, including empty, of any characters, `/` and `:`
//! included). Matching splits the pattern at each `*` into runs of fixed
//! character length; the first run is anchored at the start, the last at the
//! end, and each middle run takes its leftmost occurrence, which is optimal for
//! fixed-length runs. Nothing allocates.

/// One element of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<S> {
    /// Literal text.
    Lit(S),
    /// `?`: exactly one character.
    One,
    /// `*`: any run of characters.
    Star,
}

/// Splits `s` into pieces; `*` and `?` are wildcards when `wildcards` is set.
pub fn glob_pieces(s: &str, wildcards: bool) -> Vec<Piece<Box<str>>> {
    let mut out = Vec::new();
    let mut lit = String::new();
    for c in s.chars() {
        match c {
            '*' if wildcards => {
                flush(&mut out, &mut lit);
                if out.last() != Some(&Piece::Star) {
                    out.push(Piece::Star);
                }
            }
            '?' if wildcards => {
                flush(&mut out, &mut lit);
                out.push(Piece::One);
            }
            _ => lit.push(c),
        }
    }
    flush(&mut out, &mut lit);
    out
}

fn flush(out: &mut Vec<Piece<Box<str>>>, lit: &mut String) {
    if !lit.is_empty() {
        out.push(Piece::Lit(std::mem::take(lit).into_boxed_str()));
    }
}

/// Whether `pieces` matches all of `text` (case-sensitive).
pub fn matches<S: AsRef<str>>(pieces: &[Piece<S>], text: &str) -> bool {
    // Most policy patterns are one of these shapes.
    match pieces {
        [] => return text.is_empty(),
        [Piece::Star] => return true,
        [Piece::Lit(s)] => return s.as_ref() == text,
        [Piece::Lit(s), Piece::Star] => return text.starts_with(s.as_ref()),
        [Piece::Star, Piece::Lit(s)] => return text.ends_with(s.as_ref()),
        _ => {}
    }
    let mut runs = pieces.split(|p| matches!(p, Piece::Star));
    let Some(first) = runs.next() else {
        return text.is_empty();
    };
    let Some(mut pos) = match_run(first, text, 0) else {
        return false;
    };
    let Some(last) = runs.next_back() else {
        // No star at all: the single run must cover the whole text.
        return pos == text.len();
    };
    let Some(tail_start) = suffix_start(last, text) else {
        return false;
    };
    if tail_start < pos {
        return false;
    }
    for run in runs {
        if run.is_empty() {
            continue;
        }
        let mut found = None;
        let mut start = pos;
        while start <= tail_start {
            if let Some(end) = match_run(run, text, start) {
                if end <= tail_start {
                    found = Some(end);
                }
                break;
            }
            match text.get(start..).and_then(|t| t.chars().next()) {
                Some(c) => start += c.len_utf8(),
                None => break,
            }
        }
        match found {
            Some(end) => pos = end,
            None => return false,
        }
    }
    match_run(last, text, tail_start) == Some(text.len())
}

/// Matches a star-free run at byte offset `pos`; returns the end offset.
fn match_run<S: AsRef<str>>(run: &[Piece<S>], text: &str, mut pos: usize) -> Option<usize> {
    for p in run {
        let rest = text.get(pos..)?;
        match p {
            Piece::Lit(s) => {
                let s = s.as_ref();
                if !rest.starts_with(s) {
                    return None;
                }
                pos += s.len();
            }
            Piece::One => pos += rest.chars().next()?.len_utf8(),
            Piece::Star => return None,
        }
    }
    Some(pos)
}

/// Where a star-free run must start to end exactly at the end of `text`.
fn suffix_start<S: AsRef<str>>(run: &[Piece<S>], text: &str) -> Option<usize> {
    let mut end = text.len();
    for p in run.iter().rev() {
        match p {
            Piece::Lit(s) => end = end.checked_sub(s.as_ref().len())?,
            Piece::One => {
                let c = text.get(..end)?.chars().next_back()?;
                end -= c.len_utf8();
            }
            Piece::Star => return None,
        }
    }
    // The literal may have cut a character in two; match_run rechecks.
    text.is_char_boundary(end).then_some(end)
}

/// One element of a template: a pattern piece or a policy variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A pattern piece.
    Piece(Piece<Box<str>>),
    /// `${key}` or `${key, 'default'}`; `key` is lower-cased because condition
    /// keys are case-insensitive.
    Var {
        /// Lower-cased key.
        key: Box<str>,
        /// Default used when the key is absent.
        default: Option<Box<str>>,
    },
}

/// A value that may contain policy variables and wildcards, compiled once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Static pieces when there is no variable; empty otherwise.
    pub pieces: Vec<Piece<Box<str>>>,
    /// Tokens when there is at least one variable; empty otherwise.
    pub toks: Vec<Tok>,
    /// The text as written in the policy.
    pub raw: Box<str>,
}

/// A variable reference found in a value, for validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    /// The key as written.
    pub key: String,
    /// Whether a default was given.
    pub has_default: bool,
}

/// Parses the `${…}` content; `None` when it is not a well-formed variable, in
/// which case the text is kept literally.
fn parse_var(inner: &str) -> Option<Tok> {
    match inner {
        "*" => return Some(Tok::Piece(Piece::Lit("*".into()))),
        "?" => return Some(Tok::Piece(Piece::Lit("?".into()))),
        "$" => return Some(Tok::Piece(Piece::Lit("$".into()))),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        Some((k, d)) => {
            let d = d.trim();
            let d = d.strip_prefix('\'')?.strip_suffix('\'')?;
            (k.trim(), Some(d.into()))
        }
        None => (inner, None),
    };
    if key.is_empty() || key.contains(char::is_whitespace) || key.contains(['$', '{']) {
        return None;
    }
    Some(Tok::Var {
        key: key.to_lowercase().into(),
        default,
    })
}

/// Lists the variables in `s` (for validation); malformed ones are skipped.
pub fn variables(s: &str) -> Vec<VarRef> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let after = rest.get(i + 2..).unwrap_or("");
        match after.find('}') {
            Some(j) => {
                let inner = after.get(..j).unwrap_or("");
                if let Some(Tok::Var { default, .. }) = parse_var(inner) {
                    let key = inner.split(',').next().unwrap_or("").trim().to_string();
                    out.push(VarRef {
                        key,
                        has_default: default.is_some(),
                    });
                }
                rest = after.get(j + 1..).unwrap_or("");
            }
            None => break,
        }
    }
    out
}

impl Template {
    /// Compiles `s`. Variables are recognised only when `variables` is set
    /// (policy version 2012-10-17); `*`/`?` are wildcards when `wildcards` is
    /// set. Text produced by `${*}`, `${?}`, `${$}` or by a variable's value is
    /// always literal.
    pub fn new(s: &str, variables: bool, wildcards: bool) -> Template {
        let raw: Box<str> = s.into();
        if !variables || !s.contains("${") {
            return Template {
                pieces: glob_pieces(s, wildcards),
                toks: Vec::new(),
                raw,
            };
        }
        let mut toks: Vec<Tok> = Vec::new();
        let mut rest = s;
        let mut any_var = false;
        let push_text = |toks: &mut Vec<Tok>, t: &str| {
            toks.extend(glob_pieces(t, wildcards).into_iter().map(Tok::Piece));
        };
        while let Some(i) = rest.find("${") {
            push_text(&mut toks, rest.get(..i).unwrap_or(""));
            let after = rest.get(i + 2..).unwrap_or("");
            let parsed = after
                .find('}')
                .and_then(|j| Some((parse_var(after.get(..j)?)?, j)));
            match parsed {
                Some((tok, j)) => {
                    any_var |= matches!(tok, Tok::Var { .. });
                    toks.push(tok);
                    rest = after.get(j + 1..).unwrap_or("");
                }
                None => {
                    push_text(&mut toks, "${");
                    rest = after;
                }
            }
        }
        push_text(&mut toks, rest);
        // Merge adjacent literals so static templates get the fast path.
        let mut merged: Vec<Tok> = Vec::with_capacity(toks.len());
        for t in toks {
            if let (Some(Tok::Piece(Piece::Lit(a))), Tok::Piece(Piece::Lit(b))) =
                (merged.last_mut(), &t)
            {
                let mut s = a.to_string();
                s.push_str(b);
                *a = s.into_boxed_str();
                continue;
            }
            merged.push(t);
        }
        if any_var {
            Template {
                pieces: Vec::new(),
                toks: merged,
                raw,
            }
        } else {
            let pieces = merged
                .into_iter()
                .filter_map(|t| match t {
                    Tok::Piece(p) => Some(p),
                    Tok::Var { .. } => None,
                })
                .collect();
            Template {
                pieces,
                toks: Vec::new(),
                raw,
            }
        }
    }

    /// Whether the template contains a policy variable.
    pub fn has_vars(&self) -> bool {
        !self.toks.is_empty()
    }

    /// Whether the template is exactly `*`.
    pub fn is_star(&self) -> bool {
        self.toks.is_empty() && self.pieces == [Piece::Star]
    }

    /// Whether the template has a wildcard piece.
    pub fn has_wildcards(&self) -> bool {
        self.pieces.iter().any(|p| !matches!(p, Piece::Lit(_)))
            || self
                .toks
                .iter()
                .any(|t| matches!(t, Tok::Piece(Piece::One | Piece::Star)))
    }

    /// The literal text when the template has neither variables nor
    /// wildcards.
    pub fn literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [] if self.toks.is_empty() => Some(""),
            [Piece::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Resolves variables with `lookup`; `None` when a variable is absent and
    /// has no default (the value is then null and matches nothing).
    pub fn resolve<'a, F>(&'a self, lookup: F) -> Option<Vec<Piece<&'a str>>>
    where
        F: Fn(&str) -> Option<&'a str>,
    {
        let mut out = Vec::with_capacity(self.toks.len());
        for t in &self.toks {
            match t {
                Tok::Piece(Piece::Lit(s)) => out.push(Piece::Lit(&**s)),
                Tok::Piece(Piece::One) => out.push(Piece::One),
                Tok::Piece(Piece::Star) => out.push(Piece::Star),
                Tok::Var { key, default } => match lookup(key) {
                    Some(v) => out.push(Piece::Lit(v)),
                    None => out.push(Piece::Lit(default.as_deref()?)),
                },
            }
        }
        Some(out)
    }

    /// Matches `text`, resolving variables with `lookup`. An unresolved
    /// variable makes the template match nothing.
    pub fn matches<'a, F>(&'a self, text: &str, lookup: F) -> bool
    where
        F: Fn(&str) -> Option<&'a str>,
    {
        if self.toks.is_empty() {
            return matches(&self.pieces, text);
        }
        // Resolve into a stack buffer: no allocation for ordinary templates.
        const N: usize = 16;
        if self.toks.len() <= N {
            let mut buf: [Piece<&str>; N] = [Piece::One; N];
            for (slot, t) in buf.iter_mut().zip(&self.toks) {
                *slot = match t {
                    Tok::Piece(Piece::Lit(s)) => Piece::Lit(&**s),
                    Tok::Piece(Piece::One) => Piece::One,
                    Tok::Piece(Piece::Star) => Piece::Star,
                    Tok::Var { key, default } => match lookup(key).or(default.as_deref()) {
                        Some(v) => Piece::Lit(v),
                        None => return false,
                    },
                };
            }
            return buf
                .get(..self.toks.len())
                .is_some_and(|pieces| matches(pieces, text));
        }
        match self.resolve(lookup) {
            Some(pieces) => matches(&pieces, text),
            None => false,
        }
    }

    /// The resolved literal text (wildcards rendered as `*`/`?`); `None` when
    /// a variable is unresolved.
    pub fn render<'a, F>(&'a self, lookup: F) -> Option<String>
    where
        F: Fn(&str) -> Option<&'a str>,
    {
        let pieces: Vec<Piece<&str>> = if self.toks.is_empty() {
            self.pieces
                .iter()
                .map(|p| match p {
                    Piece::Lit(s) => Piece::Lit(&**s),
                    Piece::One => Piece::One,
                    Piece::Star => Piece::Star,
                })
                .collect()
        } else {
            self.resolve(lookup)?
        };
        let mut s = String::new();
        for p in pieces {
            match p {
                Piece::Lit(t) => s.push_str(t),
                Piece::One => s.push('?'),
                Piece::Star => s.push('*'),
            }
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        matches(&glob_pieces(p, true), t)
    }

    #[test]
    fn globbing() {
        assert!(m("*", ""));
        assert!(m("*", "abc"));
        assert!(m("a*c", "abc"));
        assert!(m("a*c", "ac"));
        assert!(!m("a*c", "ab"));
        assert!(m("bucket/*/test/*", "bucket/1/2/test/3/x"));
        assert!(m("?", "é"));
        assert!(!m("?", ""));
        assert!(m("a?c*", "abcdef"));
        assert!(m("*a*a*", "aa"));
        assert!(!m("*a*a*", "a"));
        assert!(m("*ab", "aab"));
        assert!(!m("abc", "abcd"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn templates() {
        let t = Template::new("home/${aws:username}/*", true, true);
        assert!(t.has_vars());
        let look = |k: &str| (k == "aws:username").then_some("al*ce");
        assert!(t.matches("home/al*ce/x", look));
        // A value's `*` is literal.
        assert!(!t.matches("home/alice/x", look));
        let none = |_: &str| None;
        assert!(!t.matches("home//x", none));
        let d = Template::new("${aws:PrincipalTag/team, 'none'}", true, true);
        assert!(d.matches("none", none));
        let e = Template::new("a${*}b${?}${$}", true, true);
        assert_eq!(e.literal(), Some("a*b?$"));
        let old = Template::new("${aws:username}", false, true);
        assert_eq!(old.literal(), Some("${aws:username}"));
        let bad = Template::new("${aws:username", true, true);
        assert_eq!(bad.literal(), Some("${aws:username"));
    }
}
