//! The scanning engine: one multi-pattern regex pass for every enabled identifier, validators on
//! candidates only, and one Aho-Corasick automaton for all keywords, searched in a window around a
//! candidate.
//!
//! The engine works on byte slices and knows nothing of files: formats and the future Macie2 job
//! runner hand it buffers (`Engine::scan_bytes`, `Engine::scan_reader`) and map offsets to
//! locations themselves.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, PatternID, PatternSet};

use crate::starts::{self, Starts};
use wide::u8x16;

use crate::custom::{AllowList, CustomIdentifier};
use crate::error::{Error, Result};
use crate::identifiers::{
    Category, Check, Confidence, IBAN_IDS, IPV6_PATTERN, KeywordRule, MANAGED, Managed,
    PHONE_INTL_DIGITS, PHONE_US_DIGITS, Pass, Severity, Special, pass_of,
};

/// Macie's keyword proximity for managed identifiers, in characters.
pub const KEYWORD_DISTANCE: usize = 30;

/// Where the `chars` characters of UTF-8 text before byte `at` start. Macie counts keyword
/// distances in characters, and a character takes up to four bytes: counting bytes missed a
/// keyword 30 characters of CJK or accented text away. ASCII text, the common case, is
/// answered without a walk; no more than four bytes a character are walked.
fn chars_back(data: &[u8], at: usize, chars: usize) -> usize {
    let at = at.min(data.len());
    let fast = at.saturating_sub(chars);
    if data.get(fast..at).is_some_and(<[u8]>::is_ascii) {
        return fast;
    }
    // At most four bytes a character: bytes that are not UTF-8 (Windows-1252's curly quotes)
    // cannot stretch the distance without end.
    let floor = at.saturating_sub(chars.saturating_mul(4));
    let mut p = at;
    let mut n = 0;
    while p > floor && n < chars {
        p -= 1;
        if data.get(p).is_some_and(|&b| !is_continuation(b)) {
            n += 1;
        }
    }
    p
}

/// Where the `chars` characters of UTF-8 text from byte `at` end (see [`chars_back`]).
fn chars_forward(data: &[u8], at: usize, chars: usize) -> usize {
    let at = at.min(data.len());
    let fast = (at + chars).min(data.len());
    if data.get(at..fast).is_some_and(<[u8]>::is_ascii) {
        return fast;
    }
    let ceil = at.saturating_add(chars.saturating_mul(4)).min(data.len());
    let mut p = at;
    for _ in 0..chars {
        if p >= ceil {
            break;
        }
        p += 1;
        while p < ceil && data.get(p).is_some_and(|&b| is_continuation(b)) {
            p += 1;
        }
    }
    p
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Which managed identifiers to run (Macie's `managedDataIdentifierSelector`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every managed identifier.
    All,
    /// Macie's RECOMMENDED set (the part of it we implement).
    Recommended,
    /// None: only custom identifiers.
    None,
    /// These IDs only.
    Include(Vec<String>),
    /// Every identifier but these.
    Exclude(Vec<String>),
}

impl Selection {
    /// Parses `--identifiers`: `ALL`, `RECOMMENDED`, `NONE`, a comma list of IDs, IDs prefixed
    /// with `-` to exclude, or a base keyword followed by additions and exclusions
    /// (`RECOMMENDED,EMAIL_ADDRESS,-NAME`).
    pub fn parse(spec: &str) -> Result<Selection> {
        let mut base: Option<Selection> = None;
        let mut add = Vec::new();
        let mut remove = Vec::new();
        // `--identifiers ""` (an unset variable) would otherwise select everything.
        if spec.split(',').all(|t| t.trim().is_empty()) {
            return Err(Error::Argument {
                option: "--identifiers",
                value: spec.to_owned(),
                reason: "names no identifier: give ALL, RECOMMENDED, NONE, IDs or -IDs",
            });
        }
        for tok in spec.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match tok.to_ascii_uppercase().as_str() {
                "ALL" => base = Some(Selection::All),
                "RECOMMENDED" => base = Some(Selection::Recommended),
                "NONE" => base = Some(Selection::None),
                up => {
                    let (list, id) = match up.strip_prefix('-') {
                        Some(id) => (&mut remove, id.to_owned()),
                        None => (&mut add, up.to_owned()),
                    };
                    if crate::identifiers::find(&id).is_none() && id != "IBAN" {
                        return Err(Error::UnknownIdentifier(id));
                    }
                    list.push(id);
                }
            }
        }
        let base_ids: Vec<String> = match base {
            Some(Selection::All) => all_ids(|_| true),
            Some(Selection::Recommended) => all_ids(|m| m.recommended),
            Some(_) => Vec::new(),
            None if add.is_empty() => all_ids(|_| true),
            None => Vec::new(),
        };
        let mut ids: Vec<String> = base_ids;
        for a in add {
            if !ids.contains(&a) {
                ids.push(a);
            }
        }
        ids.retain(|i| !remove.contains(i));
        Ok(Selection::Include(ids))
    }

    fn includes(&self) -> Vec<String> {
        match self {
            Selection::All => all_ids(|_| true),
            Selection::Recommended => all_ids(|m| m.recommended),
            Selection::None => Vec::new(),
            Selection::Include(v) => v.clone(),
            Selection::Exclude(v) => {
                let mut ids = all_ids(|_| true);
                ids.retain(|i| !v.contains(i));
                ids
            }
        }
    }
}

fn all_ids(f: impl Fn(&Managed) -> bool) -> Vec<String> {
    MANAGED
        .iter()
        .filter(|m| f(m))
        .map(|m| m.id.to_owned())
        .collect()
}

/// A set of small integers, one bit each: identifier sets and the engine's filter tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    fn insert(&mut self, i: usize) {
        let (w, b) = (i / 64, i % 64);
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        if let Some(x) = self.0.get_mut(w) {
            *x |= 1 << b;
        }
    }

    fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|x| x & (1 << (i % 64)) != 0)
    }
}

impl FromIterator<usize> for Bits {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Bits {
        let mut bits = Bits::default();
        for i in iter {
            bits.insert(i);
        }
        bits
    }
}

/// A set of identifier indices (engine-local numbering).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentSet(Bits);

impl IdentSet {
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds identifier `i`.
    pub fn insert(&mut self, i: usize) {
        self.0.insert(i);
    }

    /// Whether identifier `i` is in the set.
    pub fn contains(&self, i: usize) -> bool {
        self.0.contains(i)
    }

    /// Adds every identifier of `other`.
    pub fn union_with(&mut self, other: &IdentSet) {
        let (a, b) = (&mut self.0.0, &other.0.0);
        if a.len() < b.len() {
            a.resize(b.len(), 0);
        }
        for (x, y) in a.iter_mut().zip(b) {
            *x |= y;
        }
    }
}

/// Structural context of a buffer: which identifiers have a keyword in the column name or JSON
/// path of the value at an offset (Macie's rule for structured data).
pub trait Structure {
    /// Identifiers whose keyword requirement is met by the structure at `offset`.
    fn keywords_at(&self, offset: usize) -> Option<&IdentSet>;

    /// Whether any column name or path carries a keyword (then keyword-required identifiers are
    /// searched everywhere, not only near keywords in the text).
    fn has_keywords(&self) -> bool;

    /// Whether offsets `a` and `b` are in the same value (cell, JSON string, Parquet value): in
    /// structured data Macie takes a keyword from the value itself, its column name or its
    /// path, never from a neighbouring value within the distance.
    fn same_value(&self, _a: usize, _b: usize) -> bool {
        true
    }
}

enum Kind {
    Managed(&'static Managed),
    // Boxed: a custom identifier is many times the size of a managed one's reference.
    Custom(Box<CustomIdentifier>),
}

struct Ident {
    kind: Kind,
    /// `None`: every ID the identifier resolves to is selected; `Some`: only these.
    only: Option<HashSet<&'static str>>,
}

/// What one detection is: the identifier and where it is in the scanned buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detection {
    /// Engine-local identifier index (see `Engine::type_id`).
    pub ident: u32,
    /// A resolved ID that differs from the identifier's own (IBAN country, no-keyword card).
    pub resolved: Option<&'static str>,
    /// Byte offset of the value.
    pub start: usize,
    /// Byte offset just past the value.
    pub end: usize,
}

impl Detection {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the detection is empty (never, for real detections).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// A compiled multi-pattern regex and the identifier of each of its patterns.
struct Group {
    re: Regex,
    /// The same patterns with `MatchKind::All`, the only kind for which an overlapping search
    /// reports every pattern matching at a position. Compiled when a candidate first fails its
    /// validator: text without PII may never need it, and compiling it costs as much as `re`.
    all: OnceLock<Option<Regex>>,
    /// Where a match can begin, for the anchored search inside windows (`Search::Windows`);
    /// `None` where the patterns allow no such claim, and for groups searched prefiltered.
    starts: Option<Starts>,
    patterns: Vec<String>,
    search: Search,
    pattern_ident: Vec<u32>,
}

impl Group {
    /// The `MatchKind::All` regex; `None` only if the patterns that compiled for `re` fail to
    /// compile again, which cannot happen for the same syntax.
    fn all(&self) -> Option<&Regex> {
        self.all
            .get_or_init(|| {
                Regex::builder()
                    .syntax(syntax_config())
                    .configure(
                        meta_config()
                            .auto_prefilter(self.search == Search::Prefiltered)
                            .match_kind(regex_automata::MatchKind::All),
                    )
                    .build_many(&self.patterns)
                    .ok()
            })
            .as_ref()
    }
}

/// A group's search caches: the `MatchKind::All` one is made with that regex.
type GroupCache = (meta::Cache, Option<meta::Cache>);

fn group_cache(g: &Group) -> GroupCache {
    (g.re.create_cache(), None)
}

/// The patterns of one identifier, and the longest value they can match.
///
/// Its regexes are compiled on first use: there are dozens of keyword-required identifiers, most
/// texts contain the keywords of few of them, and compiling them all took half of the engine's
/// start-up (measured: 9–13 ms of 16–22 ms), which a scan of one file pays in full.
struct OneIdent {
    patterns: Vec<String>,
    ident: u32,
    group: OnceLock<Option<Group>>,
    reach: usize,
}

impl OneIdent {
    /// The compiled patterns; `None` only if they do not compile, which the managed patterns'
    /// tests rule out.
    fn group(&self) -> Option<&Group> {
        self.group
            .get_or_init(|| {
                group(
                    (self.patterns.clone(), vec![self.ident; self.patterns.len()]),
                    Search::Windows,
                )
                .ok()
                .flatten()
            })
            .as_ref()
    }
}

/// The longest value assumed for a pattern with an unbounded repetition (a month name's `[a-z]*`):
/// keyword-required values are short, and a stretch this long around each keyword keeps the
/// search local.
const UNBOUNDED_REACH: usize = 128;

fn one_ident(patterns: &[String], ident: u32) -> Option<OneIdent> {
    if patterns.is_empty() {
        return None;
    }
    let reach = patterns.iter().fold(0usize, |r, p| {
        let longest = starts::parse(p)
            .and_then(|hir| hir.properties().maximum_len())
            .unwrap_or(UNBOUNDED_REACH);
        r.max(longest)
    });
    Some(OneIdent {
        patterns: patterns.to_vec(),
        ident,
        group: OnceLock::new(),
        reach,
    })
}

/// What the numbers of a window must look like for an identifier's pattern to match there.
/// Gates only ever let through more than the pattern could match: a gate that wrongly shut
/// would lose detections, so identifiers not known here are `Always`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    /// A digit run starting with one of `first` (any digit when empty) or right after a `+`,
    /// followed by runs joined to it by at most two of ` -./()+`, with at least `min` digits
    /// from it on: the least a match of the patterns holds (phone numbers, cards).
    Cluster { min: usize, first: &'static [u8] },
    /// Four runs joined by single dots (an IPv4 address).
    DottedQuad,
    /// A run right after two capitals (an IBAN's country code; a NINO's prefix, which may be
    /// followed by a space).
    CapsBefore { space: bool },
    /// No shape known.
    Always,
}

impl Gate {
    fn of(id: &str, patterns: &[String]) -> Gate {
        // `validated`: the fewest digits the identifier's validator accepts, where that is more
        // than its patterns hold (phone numbers).
        let intl = *PHONE_INTL_DIGITS.start();
        let cluster = |first: &'static [u8], validated: usize| match least_digits(patterns) {
            Some(min) => Gate::Cluster {
                min: min.max(validated),
                first,
            },
            None => Gate::Always,
        };
        match id {
            "IP_ADDRESS" => Gate::DottedQuad,
            "IBAN" => Gate::CapsBefore { space: false },
            "UK_NATIONAL_INSURANCE_NUMBER" => Gate::CapsBefore { space: true },
            "CREDIT_CARD_NUMBER" => cluster(b"", 0),
            "PHONE_NUMBER" => cluster(b"", *PHONE_US_DIGITS.start()),
            "BRAZIL_PHONE_NUMBER" => cluster(b"", intl),
            // National forms start with the trunk prefix 0 (Italy's mobiles with 3, Spain's
            // numbers with 6 to 9); international ones with `+`.
            "UK_PHONE_NUMBER" | "FRANCE_PHONE_NUMBER" | "GERMANY_PHONE_NUMBER" => {
                cluster(b"0", intl)
            }
            "ITALY_PHONE_NUMBER" => cluster(b"03", intl),
            "SPAIN_PHONE_NUMBER" => cluster(b"6789", intl),
            _ => Gate::Always,
        }
    }
}

/// The fewest ASCII digits a match of any of `patterns` holds.
fn least_digits(patterns: &[String]) -> Option<usize> {
    patterns.iter().try_fold(usize::MAX, |m, p| {
        Some(m.min(min_digits(&starts::parse(p)?)))
    })
}

/// The fewest ASCII digits any match of `hir` holds.
fn min_digits(hir: &regex_syntax::hir::Hir) -> usize {
    use regex_syntax::hir::{Class, HirKind};
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 0,
        HirKind::Literal(l) => l.0.iter().filter(|b| b.is_ascii_digit()).count(),
        HirKind::Class(Class::Bytes(c)) => usize::from(
            c.ranges()
                .iter()
                .all(|r| r.start().is_ascii_digit() && r.end().is_ascii_digit()),
        ),
        HirKind::Class(Class::Unicode(c)) => usize::from(
            c.ranges()
                .iter()
                .all(|r| r.start().is_ascii_digit() && r.end().is_ascii_digit()),
        ),
        HirKind::Repetition(r) => (r.min as usize).saturating_mul(min_digits(&r.sub)),
        HirKind::Capture(c) => min_digits(&c.sub),
        HirKind::Concat(hs) => hs.iter().map(min_digits).sum(),
        HirKind::Alternation(hs) => hs.iter().map(min_digits).min().unwrap_or(0),
    }
}

/// The gates of the digits pass folded into a few thresholds, tested once per digit run.
#[derive(Debug, Clone)]
struct Gates {
    /// An identifier with no known shape: every window opens.
    always: bool,
    /// Fewest cluster digits from a run, by the run's first digit.
    by_first: [usize; 10],
    /// Fewest cluster digits from a run right after a `+`.
    after_plus: usize,
    dotted_quad: bool,
    caps_before: bool,
    caps_space_before: bool,
}

impl Gates {
    fn new(gates: &[Gate]) -> Gates {
        let mut g = Gates {
            always: false,
            by_first: [usize::MAX; 10],
            after_plus: usize::MAX,
            dotted_quad: false,
            caps_before: false,
            caps_space_before: false,
        };
        for &gate in gates {
            match gate {
                Gate::Cluster { min, first } => {
                    g.after_plus = g.after_plus.min(min);
                    for (d, m) in (b'0'..=b'9').zip(g.by_first.iter_mut()) {
                        if first.is_empty() || first.contains(&d) {
                            *m = (*m).min(min);
                        }
                    }
                }
                Gate::DottedQuad => g.dotted_quad = true,
                Gate::CapsBefore { space } => {
                    g.caps_before = true;
                    g.caps_space_before |= space;
                }
                Gate::Always => g.always = true,
            }
        }
        g
    }

    /// Whether any gate opens for a window whose digit runs are `runs`. `tail` is scratch
    /// space: per run, the digits from it to the end of its cluster.
    fn open(&self, data: &[u8], runs: &[(usize, usize)], tail: &mut Vec<usize>) -> bool {
        if self.always {
            return true;
        }
        let at = |i: usize| data.get(i).copied().unwrap_or(0);
        let upper = |i: usize| at(i).is_ascii_uppercase();
        let joined = |a: (usize, usize), b: (usize, usize)| {
            let gap = data.get(a.1..b.0).unwrap_or(&[]);
            gap.len() <= 2 && gap.iter().all(|b| b" -./()+".contains(b))
        };
        tail.clear();
        tail.resize(runs.len(), 0);
        let mut next: Option<(usize, usize)> = None;
        for (k, &r) in runs.iter().enumerate().rev() {
            let rest = match (next, tail.get(k + 1)) {
                (Some(n), Some(&t)) if joined(r, n) => t,
                _ => 0,
            };
            if let Some(t) = tail.get_mut(k) {
                *t = (r.1 - r.0) + rest;
            }
            next = Some(r);
        }
        let mut dots = 0usize;
        let mut prev: Option<(usize, usize)> = None;
        for (k, &(rs, re)) in runs.iter().enumerate() {
            dots = match prev {
                Some(p) if data.get(p.1..rs) == Some(b".") => dots + 1,
                _ => 0,
            };
            prev = Some((rs, re));
            let digits = tail.get(k).copied().unwrap_or(0);
            let first = usize::from(at(rs).wrapping_sub(b'0'));
            let open = self.by_first.get(first).is_some_and(|&m| digits >= m)
                || (rs > 0 && at(rs - 1) == b'+' && digits >= self.after_plus)
                || (self.dotted_quad && dots >= 3)
                || (self.caps_before && rs >= 2 && upper(rs - 1) && upper(rs - 2))
                || (self.caps_space_before
                    && rs >= 3
                    && at(rs - 1) == b' '
                    && upper(rs - 2)
                    && upper(rs - 3));
            if open {
                return true;
            }
        }
        false
    }
}

/// A regex run anchored at candidate starts found by a dedicated scanner.
struct Anchored1 {
    re: Regex,
    ident: u32,
}

/// Digit-run windows: bytes searched before the first and after the last digit of a run
/// (IBAN and NINO letters, month names, `+`/`(` of phone numbers), widened to the whole token.
const DIGIT_LEFT: usize = 16;
const DIGIT_RIGHT: usize = 24;
/// How far a token is followed to each side of a digit run (40-character AWS secrets).
const TOKEN_REACH: usize = 64;
/// Before the end of an address (a ZIP code, a postcode's inward code), room for the street
/// address that ends there; after it, room for a ZIP+4.
const ADDRESS_LEFT: usize = 160;
const ADDRESS_RIGHT: usize = 16;

/// Whether the digit run `rs..re` ends an address: a ZIP code after a state code and a space, or
/// a UK postcode's inward code (a digit and two capitals).
fn ends_address(data: &[u8], (rs, re): (usize, usize)) -> bool {
    let upper = |i: usize| data.get(i).is_some_and(u8::is_ascii_uppercase);
    (re - rs == 5 && rs >= 3 && data.get(rs - 1) == Some(&b' ') && upper(rs - 2) && upper(rs - 3))
        || (re - rs == 1 && upper(re) && upper(re + 1))
}

/// A compiled set of identifiers and allow lists. Shareable across threads; each thread scans
/// through its own `Scanner`.
///
/// Identifiers run in passes whose results are merged, each cheap on ordinary text:
/// * digits: every identifier whose values hold a digit, searched only in windows around digit
///   runs (found by a vectorised scan), since a multi-pattern DFA over all text runs at a few
///   hundred MB/s while prose has a digit run every few hundred bytes;
/// * literal: credentials and URLs, searched after hits of their fixed prefixes (one
///   Aho-Corasick pass over a few dozen case-sensitive literals);
/// * whole: email addresses (the regex engine's inner-literal prefilter on `@`) and custom
///   identifiers, over everything;
/// * the dedicated IPv6 and name scanners.
///
/// Keyword proximity is checked per candidate, in a 30-character window.
pub struct Engine {
    idents: Vec<Ident>,
    digits: Option<Group>,
    digits_kw: Option<Group>,
    /// The patterns of each keyword-required identifier of `digits_kw` on their own (by
    /// identifier index): a window runs only the identifiers whose keywords are near it, so that
    /// a number next to "phone" is not tried as a CVV, a passport and a bank account.
    digits_kw_one: Vec<Option<OneIdent>>,
    /// The shape a window's numbers must have for each identifier of `digits` to match.
    digits_gates: Gates,
    /// ADDRESS, searched before where addresses end (`ends_address`).
    address: Option<Group>,
    literal: Option<Group>,
    literal_triggers: Option<AhoCorasick>,
    /// Per trigger: how far after it a value may reach, and whether it ends at a space.
    literal_extent: Vec<(usize, bool)>,
    whole: Option<Group>,
    /// Each custom identifier on its own: Macie runs every custom identifier over the whole
    /// object and reports its matches whatever other identifiers found there.
    custom: Vec<Group>,
    ipv6: Option<Anchored1>,
    /// The NAME identifier, when selected.
    name: Option<u32>,
    /// The GENERIC_SECRET identifier, when selected: specific credentials win over it.
    generic: Option<u32>,
    /// One bit per given name's first three bytes (`name_prefix_key`).
    name_prefixes: Bits,
    /// One bit per given name's `names::bloom_key`.
    name_bloom: Bits,
    keywords: Option<AhoCorasick>,
    keyword_owners: Vec<Vec<u32>>,
    keyword_bytes: Vec<Vec<u8>>,
    keyword_buckets: Vec<Vec<u32>>,
    keyword_filled: Bits,
    /// One bit per (first byte, second byte) of a keyword, ASCII case folded.
    keyword_pairs: Bits,
    max_keyword: usize,
    allow_words: HashSet<String>,
    allow_regex: Option<Regex>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("identifiers", &self.idents.len())
            .finish()
    }
}

/// The syntax every pattern is compiled with: ASCII semantics for `\b`, `\d`, `\w` and `(?i)`
/// (PCRE's defaults, and what keeps the DFAs usable on non-ASCII input), and no UTF-8
/// requirement because we scan raw bytes.
fn syntax_config() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

/// The lazy DFA cache: on PII-dense text the multi-pattern DFAs visit many states, and a small
/// cache is cleared and rebuilt over and over (measured: 8 MiB → 32 MiB is ~35% faster there).
/// It grows only as states are built, so ordinary text stays small.
fn meta_config() -> meta::Config {
    meta::Config::new()
        .utf8_empty(false)
        .hybrid_cache_capacity(32 << 20)
}

/// How a group's regexes find candidates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Search {
    /// Over whole buffers: the regex engine's literal prefilter skips ahead (`@` of emails).
    Prefiltered,
    /// In short windows the engine picked out already: a prefilter would be started for every
    /// window and skip nothing (measured: a third of the digits pass's time went to Teddy).
    Windows,
}

fn group(
    (patterns, pattern_ident): (Vec<String>, Vec<u32>),
    search: Search,
) -> Result<Option<Group>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let re = Regex::builder()
        .syntax(syntax_config())
        .configure(meta_config().auto_prefilter(search == Search::Prefiltered))
        .build_many(&patterns)
        .map_err(|e| Error::Regex {
            pattern: patterns.join(" | "),
            source: Box::new(e),
        })?;
    let starts = match search {
        Search::Windows => Starts::of(&patterns),
        Search::Prefiltered => None,
    };
    Ok(Some(Group {
        re,
        all: OnceLock::new(),
        starts,
        patterns,
        search,
        pattern_ident,
    }))
}

fn anchored(pattern: &str, ident: u32) -> Result<Anchored1> {
    let re = Regex::builder()
        .syntax(syntax_config())
        .configure(meta_config())
        .build(pattern)
        .map_err(|e| Error::Regex {
            pattern: pattern.to_owned(),
            source: Box::new(e),
        })?;
    Ok(Anchored1 { re, ident })
}

/// Builds an engine.
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    selection: Selection,
    custom: Vec<CustomIdentifier>,
    allow: Vec<AllowList>,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            selection: Selection::All,
            custom: Vec::new(),
            allow: Vec::new(),
        }
    }
}

impl EngineBuilder {
    /// All managed identifiers, no custom identifiers, no allow lists.
    pub fn new() -> Self {
        Self::default()
    }

    /// Selects managed identifiers.
    pub fn selection(mut self, s: Selection) -> Self {
        self.selection = s;
        self
    }

    /// Adds a custom data identifier.
    pub fn custom(mut self, c: CustomIdentifier) -> Self {
        self.custom.push(c);
        self
    }

    /// Adds an allow list.
    pub fn allow_list(mut self, a: AllowList) -> Self {
        self.allow.push(a);
        self
    }

    /// Compiles the engine.
    pub fn build(self) -> Result<Engine> {
        let mut idents = Vec::new();
        let wanted = self.selection.includes();
        for m in MANAGED {
            let own = wanted.iter().any(|w| w == m.id);
            let mut only: HashSet<&'static str> = HashSet::new();
            if let Some(nk) = m.no_keyword_id
                && wanted.iter().any(|w| w == nk)
            {
                only.insert(nk);
            }
            if m.id == "IBAN" {
                only.extend(IBAN_IDS.iter().filter(|i| wanted.iter().any(|w| w == *i)));
            }
            if own {
                idents.push(Ident {
                    kind: Kind::Managed(m),
                    only: None,
                });
            } else if !only.is_empty() {
                idents.push(Ident {
                    kind: Kind::Managed(m),
                    only: Some(only),
                });
            }
        }
        for c in self.custom {
            c.validate()?;
            // Compile alone first, so a bad pattern is reported with its identifier's name.
            Regex::builder()
                .syntax(syntax_config())
                .configure(meta_config())
                .build(&c.regex)
                .map_err(|e| Error::CustomIdentifier {
                    name: c.name.clone(),
                    reason: format!(
                        "regex {:?} does not compile: {}",
                        c.regex,
                        crate::error::regex_reason(&e)
                    ),
                })?;
            idents.push(Ident {
                kind: Kind::Custom(Box::new(c)),
                only: None,
            });
        }

        let mut digits: (Vec<String>, Vec<u32>) = (Vec::new(), Vec::new());
        let mut digits_kw: (Vec<String>, Vec<u32>) = (Vec::new(), Vec::new());
        let mut digits_kw_one: Vec<Option<OneIdent>> = Vec::new();
        let mut digits_gates: Vec<Gate> = Vec::new();
        let mut literal: (Vec<String>, Vec<u32>) = (Vec::new(), Vec::new());
        let mut whole: (Vec<String>, Vec<u32>) = (Vec::new(), Vec::new());
        let mut address: (Vec<String>, Vec<u32>) = (Vec::new(), Vec::new());
        let mut triggers: Vec<(&'static str, usize, bool)> = Vec::new();
        let mut ipv6 = None;
        let mut name = None;
        let mut custom = Vec::new();
        for (i, id) in idents.iter().enumerate() {
            let i = i as u32;
            let required = match &id.kind {
                Kind::Managed(m) => m.keyword == KeywordRule::Required,
                Kind::Custom(_) => false,
            };
            let (pats, pass): (Vec<String>, Pass) = match &id.kind {
                Kind::Managed(m) => {
                    if m.special == Special::Ipv6 {
                        ipv6 = Some(anchored(IPV6_PATTERN, i)?);
                    }
                    (
                        m.patterns.iter().map(|p| (*p).to_owned()).collect(),
                        pass_of(m),
                    )
                }
                Kind::Custom(c) => {
                    if let Some(g) = group((vec![c.regex.clone()], vec![i]), Search::Prefiltered)? {
                        custom.push(g);
                    }
                    continue;
                }
            };
            let target = match pass {
                Pass::Special => {
                    // NAME's pattern is written out in `name_at`.
                    name = Some(i);
                    continue;
                }
                Pass::Address => &mut address,
                Pass::Digits if required => {
                    digits_kw_one.resize_with(i as usize, || None);
                    digits_kw_one.push(one_ident(&pats, i));
                    &mut digits_kw
                }
                Pass::Digits => {
                    digits_gates.push(match &id.kind {
                        Kind::Managed(m) => Gate::of(m.id, &pats),
                        Kind::Custom(_) => Gate::Always,
                    });
                    &mut digits
                }
                Pass::Whole => &mut whole,
                Pass::Literal(t) => {
                    triggers.extend(t.iter().map(|&(l, n)| (l, n, false)));
                    &mut literal
                }
                Pass::Token(t) => {
                    triggers.extend(t.iter().map(|&(l, n)| (l, n, true)));
                    &mut literal
                }
            };
            for p in pats {
                target.0.push(p);
                target.1.push(i);
            }
        }
        let digits = group(digits, Search::Windows)?;
        let digits_kw = group(digits_kw, Search::Windows)?;
        let literal = group(literal, Search::Windows)?;
        let whole = group(whole, Search::Prefiltered)?;
        let address = group(address, Search::Windows)?;
        triggers.sort();
        triggers.dedup_by(|a, b| {
            // Same literal from two identifiers: keep the larger extent, and end windows at a
            // space only when both values hold none.
            if a.0 == b.0 {
                b.1 = b.1.max(a.1);
                b.2 = b.2 && a.2;
                true
            } else {
                false
            }
        });
        // Sorted only to merge duplicates above; the automaton's speed depends on the order.
        let rank = |l: &str| {
            crate::identifiers::TRIGGER_ORDER
                .iter()
                .position(|&t| t == l)
                .unwrap_or(usize::MAX)
        };
        triggers.sort_by_key(|t| rank(t.0));
        let literal_extent = triggers.iter().map(|t| (t.1, t.2)).collect();
        let literal_triggers = if triggers.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(triggers.iter().map(|t| t.0))?,
            )
        };

        // One automaton for every keyword of every identifier; a keyword shared by identifiers
        // (phone numbers of several countries) is one entry with several owners.
        let mut kw_index: HashMap<String, usize> = HashMap::new();
        let mut kw_list: Vec<String> = Vec::new();
        let mut keyword_owners: Vec<Vec<u32>> = Vec::new();
        for (i, id) in idents.iter().enumerate() {
            let kws: Vec<String> = match &id.kind {
                Kind::Managed(m) => m.keywords.iter().map(|k| (*k).to_owned()).collect(),
                Kind::Custom(c) => c.keywords.clone(),
            };
            for k in kws.iter().flat_map(|k| spelled(&k.to_lowercase())) {
                let slot = *kw_index.entry(k.clone()).or_insert_with(|| {
                    kw_list.push(k);
                    keyword_owners.push(Vec::new());
                    keyword_owners.len() - 1
                });
                if let Some(o) = keyword_owners.get_mut(slot)
                    && !o.contains(&(i as u32))
                {
                    o.push(i as u32);
                }
            }
        }
        let keywords = if kw_list.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&kw_list)?,
            )
        };
        let keyword_bytes: Vec<Vec<u8>> = kw_list.iter().map(|k| k.as_bytes().to_vec()).collect();
        let mut keyword_buckets = vec![Vec::new(); KEYWORD_BUCKETS];
        for (i, k) in keyword_bytes.iter().enumerate() {
            // Keywords are at least 3 bytes (Macie's minimum); shorter ones could never match a
            // 3-byte bucket and are dropped here.
            if k.len() >= 3
                && let Some(b) = keyword_buckets.get_mut(prefix_bucket(k))
            {
                b.push(i as u32);
            }
        }
        let max_keyword = kw_list.iter().map(String::len).max().unwrap_or(0);
        let keyword_pairs = keyword_bytes
            .iter()
            .filter(|k| k.len() >= 3)
            .map(|k| pair_key(k))
            .collect();

        let mut allow_words = HashSet::new();
        let mut allow_patterns = Vec::new();
        for a in self.allow {
            a.validate()?;
            match a {
                AllowList::Words { words, .. } => {
                    allow_words.extend(words.into_iter().map(|w| w.to_lowercase()))
                }
                AllowList::Regex { name, regex } => {
                    Regex::builder()
                        .syntax(syntax_config())
                        .build(&regex)
                        .map_err(|e| Error::AllowList {
                            name: name.clone(),
                            reason: format!(
                                "regex {regex:?} does not compile: {}",
                                crate::error::regex_reason(&e)
                            ),
                        })?;
                    allow_patterns.push(format!("^(?:{regex})$"));
                }
            }
        }
        let allow_regex = if allow_patterns.is_empty() {
            None
        } else {
            Some(
                Regex::builder()
                    .syntax(syntax_config())
                    .build_many(&allow_patterns)
                    .map_err(|e| Error::Regex {
                        pattern: allow_patterns.join(" | "),
                        source: Box::new(e),
                    })?,
            )
        };

        digits_kw_one.resize_with(idents.len(), || None);
        let generic = idents
            .iter()
            .position(|x| matches!(&x.kind, Kind::Managed(m) if m.id == "GENERIC_SECRET"))
            .map(|i| i as u32);
        Ok(Engine {
            idents,
            digits,
            digits_kw,
            digits_kw_one,
            digits_gates: Gates::new(&digits_gates),
            address,
            literal,
            literal_triggers,
            literal_extent,
            whole,
            custom,
            ipv6,
            name,
            generic,
            name_bloom: crate::names::FIRST
                .iter()
                .map(|n| crate::names::bloom_key(n.as_bytes()))
                .collect(),
            name_prefixes: crate::names::FIRST
                .iter()
                .map(|n| name_prefix_key(n.as_bytes()))
                .collect(),
            keywords,
            keyword_owners,
            keyword_bytes,
            keyword_filled: keyword_buckets
                .iter()
                .enumerate()
                .filter(|(_, b)| !b.is_empty())
                .map(|(i, _)| i)
                .collect(),
            keyword_pairs,
            keyword_buckets,
            max_keyword,
            allow_words,
            allow_regex,
        })
    }
}

impl Engine {
    /// An engine with every managed identifier.
    pub fn with_defaults() -> Result<Engine> {
        EngineBuilder::new().build()
    }

    /// A per-thread scanner.
    pub fn scanner(&self) -> Scanner<'_> {
        Scanner {
            engine: self,
            digits: self.digits.as_ref().map(group_cache),
            digits_kw: self.digits_kw.as_ref().map(group_cache),
            digits_kw_one: Vec::new(),
            runs: Vec::new(),
            window_runs: Vec::new(),
            tail: Vec::new(),
            address_ends: Vec::new(),
            near: Vec::new(),
            windows: Vec::new(),
            literal: self.literal.as_ref().map(group_cache),
            whole: self.whole.as_ref().map(group_cache),
            custom: self.custom.iter().map(group_cache).collect(),
            address: self.address.as_ref().map(group_cache),
            ipv6: self.ipv6.as_ref().map(|a| a.re.create_cache()),
            tmp: Vec::new(),
            custom_found: Vec::new(),
            kw: KeywordHits::default(),
        }
    }

    /// Scans one buffer (no structure: plain text rules).
    pub fn scan_bytes(&self, data: &[u8]) -> Vec<Detection> {
        let mut out = Vec::new();
        self.scanner().scan(data, None, &mut out);
        out
    }

    /// Scans a stream in chunks with an overlap, so that memory stays bounded for any object
    /// size. Offsets are from the start of the stream.
    pub fn scan_reader<R: Read>(&self, r: R) -> std::io::Result<Vec<Detection>> {
        let mut out = Vec::new();
        self.scanner().scan_stream(r, |chunk| {
            out.extend(chunk.found.iter().map(|d| Detection {
                start: chunk.base + d.start,
                end: chunk.base + d.end,
                ..*d
            }));
        })?;
        Ok(out)
    }

    /// Number of identifiers (engine-local indices are `0..len`).
    pub fn identifier_count(&self) -> usize {
        self.idents.len()
    }

    /// The reported type of a detection: Macie's managed ID or the custom identifier's name.
    pub fn type_id<'a>(&'a self, d: &Detection) -> &'a str {
        self.type_name(d.ident, d.resolved)
    }

    /// The reported type of identifier `ident` with the resolved ID a detection carries.
    pub fn type_name<'a>(&'a self, ident: u32, resolved: Option<&'static str>) -> &'a str {
        if let Some(r) = resolved {
            return r;
        }
        match self.idents.get(ident as usize).map(|i| &i.kind) {
            Some(Kind::Managed(m)) => m.id,
            Some(Kind::Custom(c)) => &c.name,
            None => "UNKNOWN",
        }
    }

    /// The category of identifier `i`.
    pub fn category(&self, i: u32) -> Category {
        match self.idents.get(i as usize).map(|i| &i.kind) {
            Some(Kind::Managed(m)) => m.category,
            _ => Category::CustomIdentifier,
        }
    }

    /// The confidence of identifier `i`.
    pub fn confidence(&self, i: u32) -> Confidence {
        match self.idents.get(i as usize).map(|i| &i.kind) {
            Some(Kind::Managed(m)) => m.confidence,
            _ => Confidence::High,
        }
    }

    /// The custom identifier behind index `i`, if it is one.
    pub fn custom_identifier(&self, i: u32) -> Option<&CustomIdentifier> {
        match self.idents.get(i as usize).map(|i| &i.kind) {
            Some(Kind::Custom(c)) => Some(c),
            _ => None,
        }
    }

    /// Macie's severity of `count` occurrences of identifier `i` (`None`: below a custom
    /// identifier's lowest threshold, so no finding).
    pub fn severity(&self, i: u32, count: u64) -> Option<Severity> {
        match self.idents.get(i as usize).map(|i| &i.kind) {
            Some(Kind::Managed(m)) => Some(m.severity.for_count(count)),
            Some(Kind::Custom(c)) => c.severity_for(count),
            None => None,
        }
    }

    /// Identifiers with a keyword in any of `names` (column names, JSON path elements). Names are
    /// compared with `_`, `-` and `.` read as spaces, so `card_number` carries "card number", and
    /// also split into words where camelCase and digits start them, so `dateOfBirth` carries
    /// "date of birth".
    pub fn keywords_in_names<S: AsRef<str>>(&self, names: &[S]) -> IdentSet {
        let mut set = IdentSet::default();
        let Some(ac) = &self.keywords else {
            return set;
        };
        for n in names {
            let norm: String = n
                .as_ref()
                .chars()
                .map(|c| if matches!(c, '_' | '-' | '.') { ' ' } else { c })
                .collect();
            // The name as written is matched too: a keyword may hold a letter next to a digit.
            let words = camel_words(&norm);
            let forms = std::iter::once(norm.as_str()).chain(words.as_deref());
            // Whole words only (bug: `business_id` carried "sin", `incident_id` "cid" and
            // `user_uid` "uid", each making the column's numbers findings).
            let whole = |f: &str, m: &aho_corasick::Match| {
                let b = f.as_bytes();
                let starts = m.start() == 0
                    || b.get(m.start() - 1)
                        .is_some_and(|c| !c.is_ascii_alphanumeric());
                starts && ends_word(b.get(m.start()..m.end()).unwrap_or(&[]), b, m.end())
            };
            let found =
                forms.flat_map(|f| ac.find_overlapping_iter(f).filter(move |m| whole(f, m)));
            for m in found {
                for &o in self
                    .keyword_owners
                    .get(m.pattern().as_usize())
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                {
                    set.insert(o as usize);
                }
            }
        }
        set
    }

    fn keyword_near(
        &self,
        data: &[u8],
        s: usize,
        e: usize,
        ident: u32,
        structure: Option<&dyn Structure>,
        kw: &mut KeywordHits,
    ) -> bool {
        if structure
            .and_then(|st| st.keywords_at(s))
            .is_some_and(|set| set.contains(ident as usize))
        {
            return true;
        }
        if self.keyword_bytes.is_empty() {
            return false;
        }
        let custom = match self.idents.get(ident as usize).map(|i| &i.kind) {
            Some(Kind::Custom(c)) => Some(c.maximum_match_distance as usize),
            _ => None,
        };
        // Where a keyword may end (before the match) and start (after it), in bytes: the
        // distances are characters, as Macie counts them.
        let (near_lo, near_hi) = match custom {
            // Custom: a keyword must precede the match, its end within the distance of the
            // match's end.
            Some(dist) => (chars_back(data, e, dist), s),
            None => (
                chars_back(data, s, KEYWORD_DISTANCE),
                chars_forward(data, e, KEYWORD_DISTANCE),
            ),
        };
        let (lo, hi) = (near_lo.saturating_sub(self.max_keyword), near_hi);
        if !(kw.valid && kw.lo <= lo && hi <= kw.hi) {
            // Keyword hits are collected once per stretch of text and reused by every candidate
            // in it: dense text has a candidate every few bytes.
            // Dense text: read ahead, the next candidate is near. Sparse text: just this window.
            let ahead = if kw.valid && lo < kw.hi + 512 { 512 } else { 0 };
            let to = (hi + self.max_keyword + ahead).min(data.len());
            self.collect_keywords(data, lo, to, kw);
        }
        let first = kw.hits.partition_point(|h| h.0 < lo);
        for &(ks, ke, k) in kw.hits.get(first..).unwrap_or(&[]) {
            if ks > hi {
                break;
            }
            if !self
                .keyword_owners
                .get(k as usize)
                .is_some_and(|o| o.contains(&ident))
            {
                continue;
            }
            let ok = match custom {
                Some(_) => ke <= s && ke >= near_lo,
                None => ke >= near_lo && ks <= near_hi,
            };
            // Bug: a keyword in the next cell or field within the distance counted.
            if ok && structure.is_none_or(|st| st.same_value(ks, s)) {
                return true;
            }
        }
        false
    }

    /// Keywords starting words in `data[lo..hi]`, looked up at each word start by their first
    /// three bytes (an order of magnitude cheaper than an automaton pass).
    fn collect_keywords(&self, data: &[u8], lo: usize, hi: usize, kw: &mut KeywordHits) {
        kw.hits.clear();
        kw.lo = lo;
        kw.hi = hi;
        kw.valid = true;
        let Some(window) = data.get(lo..hi) else {
            return;
        };
        // Word starts as a bit mask per 64-byte block, then a test of the word's first two bytes
        // against the keywords' (one bit of an 8 KiB table), then a bucket lookup.
        let mut prev_sep = lo == 0 || data.get(lo - 1).is_none_or(|&p| is_separator(p));
        for (bi, block) in window.chunks(64).enumerate() {
            let seps = separator_mask(block);
            let mut mask = !seps & ((seps << 1) | u64::from(prev_sep));
            if block.len() < 64 {
                mask &= (1u64 << block.len()) - 1;
            }
            prev_sep = (seps >> (block.len() - 1)) & 1 == 1;
            while mask != 0 {
                let k = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let at = lo + bi * 64 + k;
                let Some(key) = data.get(at..at + 3) else {
                    continue;
                };
                let pair = pair_key(key);
                if !self.keyword_pairs.contains(pair) {
                    continue;
                }
                let bucket = prefix_bucket(key);
                if !self.keyword_filled.contains(bucket) {
                    continue;
                }
                for &k in self
                    .keyword_buckets
                    .get(bucket)
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                {
                    if let Some(w) = self.keyword_bytes.get(k as usize)
                        && data
                            .get(at..at + w.len())
                            .is_some_and(|x| x.eq_ignore_ascii_case(w))
                        && ends_word(w, data, at + w.len())
                    {
                        kw.hits.push((at, at + w.len(), k));
                    }
                }
            }
        }
    }

    /// Whether identifier `i` is GENERIC_SECRET, which gives way to specific credentials.
    fn is_generic(&self, i: u32) -> bool {
        self.generic == Some(i)
    }

    fn allowed(&self, value: &[u8]) -> bool {
        if !self.allow_words.is_empty() {
            let v = String::from_utf8_lossy(value).to_lowercase();
            if self.allow_words.contains(v.trim()) {
                return true;
            }
        }
        self.allow_regex.as_ref().is_some_and(|r| r.is_match(value))
    }

    /// Validates a candidate `[s, e)` of pattern `pid`: validator, keyword rule, ignore words,
    /// selection, then allow lists. `Err(Some(end))`: the value is allowed, and its text up to
    /// `end` is consumed, so that no match is searched inside it again (bug: an allowed
    /// `alice.smith@example.com` was dropped and its tail `smith@example.com` reported).
    fn confirm(
        &self,
        data: &[u8],
        span: (usize, usize),
        ident: u32,
        structure: Option<&dyn Structure>,
        kw: &mut KeywordHits,
    ) -> Result<Detection, Option<usize>> {
        let d = self.check(data, span, ident, structure, kw).ok_or(None)?;
        if self.allowed(data.get(d.start..d.end).ok_or(None)?) {
            return Err(Some(d.end));
        }
        Ok(d)
    }

    /// [`Engine::confirm`] without the allow lists.
    fn check(
        &self,
        data: &[u8],
        (s, e): (usize, usize),
        ident: u32,
        structure: Option<&dyn Structure>,
        kw: &mut KeywordHits,
    ) -> Option<Detection> {
        let id = self.idents.get(ident as usize)?;
        let cand = data.get(s..e)?;
        let (check, rule, no_kw_id) = match &id.kind {
            Kind::Managed(m) => ((m.validate)(cand)?, m.keyword, m.no_keyword_id),
            Kind::Custom(c) => {
                if c.ignore_words
                    .iter()
                    .any(|w| memchr::memmem::find(cand, w.as_bytes()).is_some())
                {
                    return None;
                }
                let rule = if c.keywords.is_empty() {
                    KeywordRule::No
                } else {
                    KeywordRule::Required
                };
                (
                    Check {
                        start: 0,
                        end: cand.len(),
                        id: None,
                        needs_keyword: false,
                    },
                    rule,
                    None,
                )
            }
        };
        let (mut vs, mut ve) = (s + check.start, s + check.end);
        if ve <= vs {
            return None;
        }
        let managed = match &id.kind {
            Kind::Managed(m) => m.id,
            Kind::Custom(_) => "",
        };
        match managed {
            // Grouped digits that the text goes on grouping (`4820 5858 4420 3120 2241` in a
            // hex dump or a table) hold no card number: a card is the whole number (bug: a
            // 16-digit window of longer grouped runs was reported, though the same digits
            // ungrouped were not).
            "CREDIT_CARD_NUMBER" if groups_continue(data, vs, ve) => return None,
            // `02/12` of `2022/02/12`, `2021` of `2021-10-09`: part of a full date, not an
            // expiry or a security code.
            "CREDIT_CARD_EXPIRATION" | "CREDIT_CARD_SECURITY_CODE" if inside_date(data, vs, ve) => {
                return None;
            }
            // Colon-separated hex that goes on (`5E:8D:C4:AD:E7:AF:6E:27:…`, a fingerprint or
            // serial) or holds no digit at all (`aead::Aad`, a Rust path) is no IPv6 address.
            "IP_ADDRESS"
                if data.get(vs..ve).is_some_and(|v| v.contains(&b':'))
                    && (hex_groups_continue(data, vs, ve)
                        || !data
                            .get(vs..ve)
                            .is_some_and(|v| v.iter().any(u8::is_ascii_digit))) =>
            {
                return None;
            }
            // The pattern's letters are ASCII; a surname goes on through the letters it
            // stopped at (bug: `Vincent Lefèvre` was reported as `Vincent Lef`, and masking
            // left `èvre` in the clear). A name that starts inside a word is none.
            "NAME" => {
                if letter_before(data, vs) {
                    return None;
                }
                ve = letters_end(data, ve);
            }
            _ => {}
        }
        if let Kind::Managed(m) = &id.kind
            && m.id == "EMAIL_ADDRESS"
            && vs
                .checked_sub(1)
                .and_then(|i| data.get(i))
                .is_some_and(|&b| b >= 0x80)
        {
            // The local part may hold non-ASCII letters (`müller@…`), where the pattern's ASCII
            // word boundary began the match mid-word: the whole local part is the address
            // (bug: `ller@beispiel.de` was reported, and masking left `mü` in the clear).
            while vs > 0
                && data.get(vs - 1).is_some_and(|&b| {
                    b >= 0x80 || b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
                })
            {
                vs -= 1;
            }
            // Not into a UTF-8 sequence's middle: back to its lead byte.
            while vs < ve && data.get(vs).is_some_and(|&b| (0x80..0xC0).contains(&b)) {
                vs += 1;
            }
        }
        if matches!(id.kind, Kind::Managed(_)) && fraction_at(data, vs) {
            // `0.5943208249263128`: the digits after a number's decimal point are not a card
            // number, an account or any other identifier (about 3% of random doubles passed
            // the Luhn check and were reported as cards).
            return None;
        }
        if let Kind::Managed(m) = &id.kind
            && m.id == "IP_ADDRESS"
            && version_before(data, vs)
        {
            // "version 1.2.3.4", "v1.2.3.4", "build 1.2.3.4": a version number, not an address.
            return None;
        }
        if let Kind::Managed(m) = &id.kind
            && m.id == "IP_ADDRESS"
            && !data.get(vs..ve).is_some_and(|v| v.contains(&b':'))
            && dotted_number_around(data, vs, ve)
        {
            // `1.3.6.1.2.1.1.1.0` (an OID), `2.31.0.1.5`: four parts of a longer dotted number
            // are no address (bug: their first four were reported as one).
            return None;
        }
        let mut resolved = check.id;
        match rule {
            KeywordRule::No => {}
            KeywordRule::Required => {
                if !self.keyword_near(data, s, e, ident, structure, kw) {
                    return None;
                }
            }
            KeywordRule::Varies => {
                if check.needs_keyword && !self.keyword_near(data, s, e, ident, structure, kw) {
                    return None;
                }
            }
            KeywordRule::Optional => {
                if !self.keyword_near(data, s, e, ident, structure, kw) {
                    resolved = no_kw_id;
                }
            }
        }
        if let Some(only) = &id.only {
            let rid = resolved.or(match &id.kind {
                Kind::Managed(m) => Some(m.id),
                Kind::Custom(_) => None,
            })?;
            if !only.contains(rid) {
                return None;
            }
        }
        Some(Detection {
            ident,
            resolved,
            start: vs,
            end: ve,
        })
    }
}

/// One chunk of a stream scanned by `Scanner::scan_stream`.
#[derive(Debug)]
pub struct StreamChunk<'a> {
    /// The bytes in memory: the previous chunk's overlap, then new bytes.
    pub bytes: &'a [u8],
    /// Stream offset of `bytes[0]`.
    pub base: usize,
    /// Detections of this chunk, in order, offsets relative to `bytes`; none is reported twice.
    pub found: &'a [Detection],
    /// `bytes[..done]` will not be seen again (the rest is the next chunk's overlap).
    pub done: usize,
}

/// Keyword hits of a stretch of the buffer being scanned.
#[derive(Debug, Default)]
pub struct KeywordHits {
    valid: bool,
    lo: usize,
    hi: usize,
    hits: Vec<(usize, usize, u32)>,
}

/// Per-thread scanning state (regex caches, scratch space).
pub struct Scanner<'e> {
    engine: &'e Engine,
    digits: Option<GroupCache>,
    digits_kw: Option<GroupCache>,
    /// Caches of `Engine::digits_kw_one`, made on first use: most files need few of them.
    digits_kw_one: Vec<Option<GroupCache>>,
    /// Digit runs of the buffer, and for each window the range of its runs.
    runs: Vec<(usize, usize)>,
    window_runs: Vec<(usize, usize)>,
    tail: Vec<usize>,
    /// Digit runs that end an address (`ends_address`).
    address_ends: Vec<(usize, usize)>,
    /// Keyword-required identifiers with a keyword near the current window.
    near: Vec<(u32, usize, usize)>,
    windows: Vec<(usize, usize)>,
    literal: Option<GroupCache>,
    whole: Option<GroupCache>,
    custom: Vec<GroupCache>,
    address: Option<GroupCache>,
    ipv6: Option<meta::Cache>,
    tmp: Vec<Detection>,
    custom_found: Vec<Detection>,
    kw: KeywordHits,
}

impl std::fmt::Debug for Scanner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner").finish_non_exhaustive()
    }
}

/// Runs a multi-pattern group over `data[lo..hi]` (look-around sees the whole buffer).
#[allow(clippy::too_many_arguments)]
fn scan_group(
    engine: &Engine,
    g: &Group,
    (cache, all_cache): &mut GroupCache,
    data: &[u8],
    (lo, hi): (usize, usize),
    structure: Option<&dyn Structure>,
    out: &mut Vec<Detection>,
    kw: &mut KeywordHits,
) {
    let npat = g.pattern_ident.len();
    let mut patset: Option<PatternSet> = None;
    let mut pos = lo;
    while pos < hi {
        let m = match &g.starts {
            // The leftmost match is the first one found anchored at a position that can begin
            // one, in order (see `starts`).
            Some(starts) => (pos..hi).filter(|&c| starts.at(data, c)).find_map(|c| {
                g.re.search_with(cache, &Input::new(data).span(c..hi).anchored(Anchored::Yes))
            }),
            None => g.re.search_with(cache, &Input::new(data).span(pos..hi)),
        };
        let Some(m) = m else {
            break;
        };
        let (s, e, pid) = (m.start(), m.end(), m.pattern().as_usize());
        let ident = |p: usize| g.pattern_ident.get(p).copied();
        let mut allowed_end = None;
        let mut found = match ident(pid) {
            Some(i) if e > s => engine
                .confirm(data, (s, e), i, structure, kw)
                .map_err(|end| allowed_end = end)
                .ok(),
            _ => None,
        };
        if found.is_none() && allowed_end.is_none() {
            // Leftmost-first reported one pattern at `s`; a later pattern may match here and
            // validate (a 9-digit number failing one identifier may be another's).
            // One overlapping anchored pass says which patterns match at `s`; only those are
            // searched again for their own end.
            let set = patset.get_or_insert_with(|| PatternSet::new(npat));
            set.clear();
            if let Some(all) = g.all() {
                all.which_overlapping_matches_with(
                    all_cache.get_or_insert_with(|| all.create_cache()),
                    &Input::new(data).span(s..hi).anchored(Anchored::Yes),
                    set,
                );
            }
            let others: Vec<usize> = set
                .iter()
                .map(|p| p.as_usize())
                .filter(|&q| q > pid)
                .collect();
            for q in others {
                let input = Input::new(data)
                    .span(s..hi)
                    .anchored(Anchored::Pattern(PatternID::new_unchecked(q)));
                if let Some(m2) = g.re.search_with(cache, &input)
                    && m2.end() > m2.start()
                    && let Some(i) = ident(q)
                    && let Ok(d) = engine.confirm(data, (m2.start(), m2.end()), i, structure, kw)
                {
                    found = Some(d);
                    break;
                }
            }
        }
        match found {
            Some(d) => {
                // A generic secret's value is searched again for a specific one (bug:
                // `token: ghp_…` and `aws_access_key_id = AKIA…` were reported as
                // GENERIC_SECRET, whose match began at the keyword and hid the token's own);
                // where one matches, the merge keeps it, as it keeps the earlier identifier at
                // one offset.
                pos = if engine.is_generic(d.ident) {
                    d.start.max(s + 1)
                } else {
                    d.end.max(s + 1)
                };
                out.push(d);
            }
            None => pos = allowed_end.map_or_else(|| skip_word(data, s), |end| end.max(s + 1)),
        }
    }
}

/// The position after the word at `s` (or `s + 1`): a match inside a word would not start at a
/// boundary.
fn skip_word(data: &[u8], s: usize) -> usize {
    let mut next = s + 1;
    if data.get(s).is_some_and(u8::is_ascii_alphanumeric) {
        while data.get(next).is_some_and(u8::is_ascii_alphanumeric) {
            next += 1;
        }
    }
    next
}

/// Whether a digit at `at` starts the fraction of a decimal number: it follows `<digit>.`, a
/// `.` that starts a number (`.59`, `-.59`, a cell's `.59`), or the decimal comma of a number
/// below one (`0,59`, as European exports write it; only after a lone `0`, since `1,4111…` in a
/// comma-separated row is an id and a card number).
fn fraction_at(data: &[u8], at: usize) -> bool {
    let before = |n: usize| at.checked_sub(n).and_then(|i| data.get(i)).copied();
    let starts_number = |b: Option<u8>| {
        b.is_none_or(|b| {
            b.is_ascii_whitespace()
                || matches!(
                    b,
                    b'-' | b'+' | b',' | b';' | b'"' | b'\'' | b'(' | b'=' | b':'
                )
        })
    };
    if !data.get(at).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    match before(1) {
        Some(b'.') => before(2).is_some_and(|b| b.is_ascii_digit()) || starts_number(before(2)),
        Some(b',') => before(2) == Some(b'0') && starts_number(before(3)),
        _ => false,
    }
}

/// Whether the separator-grouped digits `data[vs..ve]` are a window of a longer grouped run: a
/// neighbouring group of four (hex digits, one at least: hex dumps group so) after the same separator, that
/// either is no year or has another such group beyond it, or such groups on both sides. A card
/// followed by its expiry year (`… 8539 2027`), a row number, a time or an expiry (`05 4111 …`,
/// `… 1111 12/27`) is not.
fn groups_continue(data: &[u8], vs: usize, ve: usize) -> bool {
    let Some(sep) = data
        .get(vs..ve)
        .and_then(|v| v.iter().find(|b| matches!(b, b' ' | b'-')))
        .copied()
    else {
        return false;
    };
    let at = |i: usize| data.get(i).copied();
    let hex = |i: usize| at(i).is_some_and(|b| b.is_ascii_hexdigit());
    let word = |i: usize| at(i).is_some_and(|b| b.is_ascii_alphanumeric());
    // The group of four starting at `i` (delimited), if there is one.
    let group_at = |i: usize| -> Option<&[u8]> {
        let g = data.get(i..i + 4)?;
        (g.iter().all(u8::is_ascii_hexdigit)
            && g.iter().any(u8::is_ascii_digit)
            && !word(i + 4)
            && (i == 0 || !word(i - 1)))
        .then_some(g)
    };
    let year = |g: &[u8]| g.starts_with(b"19") || g.starts_with(b"20");
    let after = (at(ve) == Some(sep) && hex(ve + 1))
        .then(|| group_at(ve + 1))
        .flatten();
    let before = (vs >= 5 && at(vs - 1) == Some(sep))
        .then(|| group_at(vs - 5))
        .flatten();
    let further_after = after.is_some() && at(ve + 5) == Some(sep) && group_at(ve + 6).is_some();
    let further_before =
        before.is_some() && vs >= 10 && at(vs - 6) == Some(sep) && group_at(vs - 10).is_some();
    match (after, before) {
        (Some(_), Some(_)) => true,
        (Some(g), None) => !year(g) || further_after,
        (None, Some(g)) => !year(g) || further_before,
        (None, None) => false,
    }
}

/// Whether `data[vs..ve]` is part of a longer date: a date separator and a digit right before
/// or right after it.
fn inside_date(data: &[u8], vs: usize, ve: usize) -> bool {
    let at = |i: Option<usize>| i.and_then(|i| data.get(i)).copied();
    let sep = |i: Option<usize>| matches!(at(i), Some(b'/' | b'-' | b'.'));
    let digit = |i: Option<usize>| at(i).is_some_and(|b| b.is_ascii_digit());
    (sep(Some(ve)) && digit(Some(ve + 1))) || (sep(vs.checked_sub(1)) && digit(vs.checked_sub(2)))
}

/// Whether colon-separated hex `data[vs..ve]` goes on: a colon and a hex digit right after
/// or right before it.
fn hex_groups_continue(data: &[u8], vs: usize, ve: usize) -> bool {
    let at = |i: Option<usize>| i.and_then(|i| data.get(i)).copied();
    let hex = |i: Option<usize>| at(i).is_some_and(|b| b.is_ascii_hexdigit());
    (at(Some(ve)) == Some(b':') && hex(Some(ve + 1)))
        || (at(vs.checked_sub(1)) == Some(b':') && hex(vs.checked_sub(2)))
}

/// Whether `c` is a letter of a script that separates words with spaces (Latin, Greek,
/// Cyrillic and their extensions, below U+0530): a CJK character next to a name is another
/// word (`請聯系John Smith`, `John Smith先生`).
fn spaced_letter(c: char) -> bool {
    c.is_alphabetic() && (c as u32) < 0x0530
}

/// The character of UTF-8 `data` that ends at `at`, if it is a letter (see [`spaced_letter`]).
fn letter_before(data: &[u8], at: usize) -> bool {
    let from = (at.saturating_sub(4)..at)
        .find(|&i| data.get(i).is_some_and(|&b| !(0x80..0xC0).contains(&b)));
    from.and_then(|i| data.get(i..at))
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.chars().next_back())
        .is_some_and(spaced_letter)
}

/// Where the letters (see [`spaced_letter`]) of UTF-8 `data` from `at` end.
fn letters_end(data: &[u8], mut at: usize) -> usize {
    loop {
        let len = match data.get(at) {
            Some(b) if b.is_ascii_alphabetic() => 1,
            Some(0xC0..=0xDF) => 2,
            Some(0xE0..=0xEF) => 3,
            Some(0xF0..=0xF7) => 4,
            _ => return at,
        };
        let letter = data
            .get(at..at + len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.chars().next())
            .is_some_and(spaced_letter);
        if !letter {
            return at;
        }
        at += len;
    }
}

/// Whether `data[vs..ve]` continues a dotted number: `<digit>.` before it or `.<digit>` after.
fn dotted_number_around(data: &[u8], vs: usize, ve: usize) -> bool {
    let digit = |i: Option<usize>| i.and_then(|i| data.get(i)).is_some_and(u8::is_ascii_digit);
    let dot = |i: Option<usize>| i.and_then(|i| data.get(i)) == Some(&b'.');
    (dot(vs.checked_sub(1)) && digit(vs.checked_sub(2))) || (dot(Some(ve)) && digit(Some(ve + 1)))
}

/// Whether the words just before `at` announce a version number.
fn version_before(data: &[u8], at: usize) -> bool {
    if at > 0 && matches!(data.get(at - 1), Some(b'v' | b'V')) {
        return true;
    }
    // A version specifier (`requests==2.31.0.1`, `pkg>=1.2.3.4`, `~=`, `!=`, `<=`): a package
    // pin, not an address (bug: a requirements file's four-part pins were IP addresses). Not
    // after a name that says address (`ip.addr==10.1.2.3`, `src!=192.168.0.1` in a capture
    // filter), nor without a name before the operator.
    if at >= 2
        && data.get(at - 1) == Some(&b'=')
        && matches!(data.get(at - 2), Some(b'=' | b'>' | b'<' | b'~' | b'!'))
    {
        let end = at - 2;
        let mut start = end;
        while start > 0
            && data
                .get(start - 1)
                .is_some_and(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            start -= 1;
        }
        let name = data.get(start..end).unwrap_or(&[]).to_ascii_lowercase();
        let last = name
            .rsplit(|&b| b == b'.' || b == b'_')
            .next()
            .unwrap_or(&[]);
        let addressy = matches!(
            last,
            b"ip" | b"addr" | b"address" | b"host" | b"src" | b"dst" | b"ipaddr" | b"server"
        );
        return !name.is_empty() && !addressy;
    }
    let lo = at.saturating_sub(16);
    let before = data.get(lo..at).unwrap_or(&[]).to_ascii_lowercase();
    let before = before.trim_ascii_end();
    let last = before
        .rsplit(|b| !b.is_ascii_alphabetic())
        .next()
        .unwrap_or(&[]);
    matches!(
        last,
        b"version" | b"ver" | b"release" | b"build" | b"firmware" | b"v"
    )
}

/// ASCII bytes that end a word (everything but letters and digits); non-ASCII bytes are word
/// bytes, so keywords in other scripts are found too.
fn is_separator(b: u8) -> bool {
    b < 0x80 && !b.is_ascii_alphanumeric()
}

const KEYWORD_BUCKETS: usize = 4096;

/// Bit of a word's first three bytes in `Engine::keyword_pairs`: a hash of the bytes with bit 5
/// set (ASCII case folding that also folds a few punctuation marks together, which only lets a
/// few more words through to the exact test).
fn pair_key(p: &[u8]) -> usize {
    let b = |i: usize| u64::from(p.get(i).copied().unwrap_or(0) | 0x20);
    let x = b(0) | b(1) << 8 | b(2) << 16;
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as usize
}

/// Lanes of `v` in `lo..=hi`, as all-ones lanes: `v - lo <= hi - lo`, unsigned.
fn lanes_in(v: u8x16, lo: u8, hi: u8) -> u8x16 {
    let t = v - u8x16::splat(lo);
    t.min(u8x16::splat(hi.wrapping_sub(lo))).simd_eq(t)
}

/// Bit `k` set when `class` flags byte `k` of `block` (at most 64 bytes; a short block is padded
/// with `pad`). `class` maps sixteen bytes to all-ones lanes: with SSE2's byte compares and
/// `movemask` this runs at about 20 GB/s, five times the word arithmetic it replaced, which
/// matters because every byte of every buffer goes through a few of these.
fn byte_mask(block: &[u8], pad: u8, class: impl Fn(u8x16) -> u8x16) -> u64 {
    let mut full = [pad; 64];
    let bytes: &[u8; 64] = match block.try_into() {
        Ok(b) => b,
        Err(_) => {
            for (f, &b) in full.iter_mut().zip(block) {
                *f = b;
            }
            &full
        }
    };
    let mut mask = 0u64;
    for (i, chunk) in bytes.as_chunks::<16>().0.iter().enumerate() {
        mask |= u64::from(class(u8x16::new(*chunk)).to_bitmask()) << (i * 16);
    }
    mask
}

/// ASCII letters and digits.
fn alnum_lanes(v: u8x16) -> u8x16 {
    lanes_in(v, b'0', b'9') | lanes_in(v | u8x16::splat(0x20), b'a', b'z')
}

/// Bytes that end a word (`is_separator`).
fn separator_mask(block: &[u8]) -> u64 {
    byte_mask(block, b'a', |v| lanes_in(v, 0, 0x7f) & !alnum_lanes(v))
}

/// ASCII digits.
fn digit_mask(block: &[u8]) -> u64 {
    byte_mask(block, b'a', |v| lanes_in(v, b'0', b'9'))
}

/// ASCII word bytes of `(?-u:\b)`: letters, digits and `_`.
fn word_mask(block: &[u8]) -> u64 {
    byte_mask(block, b' ', |v| {
        alnum_lanes(v) | v.simd_eq(u8x16::splat(b'_'))
    })
}

/// ASCII capital letters.
fn upper_mask(block: &[u8]) -> u64 {
    byte_mask(block, b'a', |v| lanes_in(v, b'A', b'Z'))
}

/// Bucket of a keyword by its first three bytes, ASCII case folded.
fn prefix_bucket(p: &[u8]) -> usize {
    p.iter().take(3).fold(0usize, |h, &b| {
        h.wrapping_mul(131)
            .wrapping_add(usize::from(b.to_ascii_lowercase()))
    }) % KEYWORD_BUCKETS
}

/// A keyword and the spellings Macie matches it by: "a keyword with a space also matches the
/// same word with no space, `_` or `-`" (bug: `date_of_birth:`, `credit-card:` and a
/// `creditcard` column found nothing).
fn spelled(keyword: &str) -> Vec<String> {
    let mut forms = vec![keyword.to_owned()];
    if keyword.contains(' ') {
        for sep in ["_", "-", ""] {
            forms.push(keyword.replace(' ', sep));
        }
    }
    forms
}

/// Whether a keyword found at `data[at..end]` ends where its last word does: a keyword is a
/// word or phrase, not a prefix (bug: "sin" matched in "Since", "exp" in "Expenses", "tel" in
/// "telemetry", each making a nearby number a finding). A keyword ending in punctuation
/// (`cc#`, `account #`) may run into what follows; a non-ASCII byte after it ends the word, so
/// `SSN（…` in CJK text keeps its keyword.
fn ends_word(keyword: &[u8], data: &[u8], end: usize) -> bool {
    !keyword.last().is_some_and(u8::is_ascii_alphanumeric)
        || !data.get(end).is_some_and(u8::is_ascii_alphanumeric)
}

/// Merges `next` into the open window, or flushes the open one through `flush`.
fn merge_window(
    open: Option<(usize, usize)>,
    next: (usize, usize),
    mut flush: impl FnMut((usize, usize)),
) -> Option<(usize, usize)> {
    match open {
        Some((lo, hi)) if next.0 <= hi => Some((lo, hi.max(next.1))),
        Some(w) => {
            flush(w);
            Some(next)
        }
        None => Some(next),
    }
}

/// Runs of ASCII digits, as (start, end), from a digit bit mask per 64-byte block: a block
/// with many short numbers costs one mask, not a test per run.
fn digit_runs(data: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let block_mask = |base: usize| {
        let block = data.get(base..(base + 64).min(data.len())).unwrap_or(&[]);
        digit_mask(block)
    };
    let mut base = 0usize;
    let mut mask = block_mask(0);
    std::iter::from_fn(move || {
        loop {
            if mask == 0 {
                base += 64;
                if base >= data.len() {
                    return None;
                }
                mask = block_mask(base);
                continue;
            }
            let k = mask.trailing_zeros() as usize;
            let start = base + k;
            let ones = (!(mask >> k)).trailing_zeros() as usize;
            let mut end = start + ones;
            if k + ones >= 64 {
                // The run reaches the end of the block: follow it, then resume in the block
                // where it ends, past it.
                while data.get(end).is_some_and(u8::is_ascii_digit) {
                    end += 1;
                }
                base = end / 64 * 64;
                mask = block_mask(base) & (!0u64).checked_shl((end - base) as u32).unwrap_or(0);
            } else {
                mask &= (!0u64) << (k + ones);
            }
            return Some((start, end));
        }
    })
}

fn is_hex_or_colon(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':'
}

impl Scanner<'_> {
    /// Scans a stream in chunks of 1 MiB with an overlap, so that memory stays bounded for any
    /// size and the buffer is reused; `visit` gets each chunk with its detections.
    pub fn scan_stream<R: Read>(
        &mut self,
        mut r: R,
        mut visit: impl FnMut(StreamChunk<'_>),
    ) -> std::io::Result<()> {
        // Every pass (digit runs, names, literal triggers, keywords) reads the whole chunk: one
        // that fits in a core's L2 cache is read from there each time. Measured on text without
        // PII, 4 MiB → 1 MiB: 12% less CPU time; PII-dense text, where the overlap is scanned
        // twice, unchanged; 256 KiB was slower on both.
        const CHUNK: usize = 1 << 20;
        // Longer than any managed match we care to split (PEM blocks excepted) plus the keyword
        // window on both sides.
        const OVERLAP: usize = 64 << 10;
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + OVERLAP);
        let mut base = 0usize;
        let mut local = Vec::new();
        let mut kept = Vec::new();
        let mut emitted_to = 0usize;
        loop {
            // Read into the buffer's spare capacity: zeroing it first would write every byte
            // of the stream once more.
            let want = CHUNK + OVERLAP - buf.len();
            // What was read before an error (a truncated gzip's readable part) is scanned
            // before the error is returned: it was read, and callers report it as a part.
            let read = (&mut r).take(want as u64).read_to_end(&mut buf);
            let eof = read.is_err() || buf.len() < CHUNK + OVERLAP;
            local.clear();
            self.scan(&buf, None, &mut local);
            // Detections starting in the overlap tail are left for the next round, which sees
            // them with their full right context.
            let keep_from = if eof {
                buf.len()
            } else {
                buf.len().saturating_sub(OVERLAP)
            };
            kept.clear();
            for d in &local {
                if base + d.start >= emitted_to && (d.start < keep_from || eof) {
                    kept.push(*d);
                    emitted_to = base + d.end;
                }
            }
            visit(StreamChunk {
                bytes: &buf,
                base,
                found: &kept,
                done: keep_from,
            });
            if eof {
                return read.map(|_| ());
            }
            buf.drain(..keep_from);
            base += keep_from;
        }
    }

    /// The passes that start from digit runs: windows around them for the digit identifiers,
    /// the keyword-required ones where their keywords reach, and addresses back from their ends.
    fn scan_digits(
        &mut self,
        data: &[u8],
        structure: Option<&dyn Structure>,
        tmp: &mut Vec<Detection>,
    ) {
        let engine = self.engine;
        let kw = &mut self.kw;
        let mut windows = std::mem::take(&mut self.windows);
        windows.clear();
        let mut runs = std::mem::take(&mut self.runs);
        runs.clear();
        let mut window_runs = std::mem::take(&mut self.window_runs);
        window_runs.clear();
        let mut address_ends = std::mem::take(&mut self.address_ends);
        address_ends.clear();
        let mut win: Option<(usize, usize)> = None;
        let mut first_run = 0usize;
        let at_space = |i: usize| data.get(i).is_none_or(u8::is_ascii_whitespace);
        for (rs, re) in digit_runs(data) {
            let mut lo = rs.saturating_sub(DIGIT_LEFT);
            let mut hi = (re + DIGIT_RIGHT).min(data.len());
            // Widen to the whole token around the run. A run whose window joins the open
            // one keeps that window's start, so it is not widened to the left; nor to the
            // right when the open window reaches further and ends at a space, where widening
            // would stop (dense text has several runs per window).
            let inside = win.is_some_and(|(_, wh)| lo <= wh);
            if !inside {
                let floor = lo.saturating_sub(TOKEN_REACH);
                while lo > floor && data.get(lo - 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                    lo -= 1;
                }
            }
            if !(inside && win.is_some_and(|(_, wh)| hi <= wh && at_space(wh))) {
                let ceil = (hi + TOKEN_REACH).min(data.len());
                while hi < ceil && data.get(hi).is_some_and(|b| !b.is_ascii_whitespace()) {
                    hi += 1;
                }
            }
            // Tested now, while the bytes are in cache.
            if engine.address.is_some() && ends_address(data, (rs, re)) {
                address_ends.push((rs, re));
            }
            let n = runs.len();
            win = merge_window(win, (lo, hi), |w| {
                windows.push(w);
                window_runs.push((first_run, n));
                first_run = n;
            });
            runs.push((rs, re));
        }
        if let Some(w) = win {
            windows.push(w);
            window_runs.push((first_run, runs.len()));
        }
        let everywhere = structure.is_some_and(|s| s.has_keywords());
        // The stretch a window's candidates look for keywords in.
        // Keywords are collected by where they start: one ending within the distance before
        // a value starts up to the longest keyword earlier; one after it, within the
        // distance after the value's end.
        let need = |w: (usize, usize)| {
            (
                chars_back(data, w.0, KEYWORD_DISTANCE).saturating_sub(engine.max_keyword),
                chars_forward(data, w.1, KEYWORD_DISTANCE),
            )
        };
        for (wi, &w) in windows.iter().enumerate() {
            let (lo, hi) = need(w);
            if engine.digits_kw.is_some() && !(kw.valid && kw.lo <= lo && hi <= kw.hi) {
                // Keyword hits are collected once for this window and the windows whose
                // stretches overlap it or nearly do (dense text), and reused by every
                // candidate in them; text between sparse windows is not read.
                let mut end = hi;
                for &n in windows.get(wi + 1..).unwrap_or(&[]) {
                    let (nlo, nhi) = need(n);
                    if nlo > end + 64 {
                        break;
                    }
                    end = nhi;
                }
                engine.collect_keywords(data, lo, end, kw);
            }
            if let (Some(g), Some(c)) = (&engine.digits, self.digits.as_mut()) {
                // Only the identifiers whose shape the window's numbers have: in prose most
                // windows hold a year or an amount that no identifier can match, and none
                // runs at all.
                // One search with all the patterns costs less than several with a few, so
                // the gates only decide whether the window is searched at all.
                let (a, b) = window_runs.get(wi).copied().unwrap_or((0, 0));
                let wr = runs.get(a..b).unwrap_or(&[]);
                if engine.digits_gates.open(data, wr, &mut self.tail) {
                    scan_group(engine, g, c, data, w, structure, tmp, kw);
                }
            }
            if let (Some(g), Some(c)) = (&engine.digits_kw, self.digits_kw.as_mut()) {
                // Keyword-required identifiers run only where a keyword is near.
                if everywhere {
                    scan_group(engine, g, c, data, w, structure, tmp, kw);
                    continue;
                }
                // Each identifier runs only in the stretches its own keywords reach: a value
                // within the keyword distance of a keyword, as long as the longest value.
                let first = kw.hits.partition_point(|h| h.0 < lo);
                let near = &mut self.near;
                near.clear();
                for &(ks, ke, k) in kw.hits.get(first..).unwrap_or(&[]) {
                    if ks > hi {
                        break;
                    }
                    let owners = engine.keyword_owners.get(k as usize).map(Vec::as_slice);
                    for &o in owners.unwrap_or(&[]) {
                        let Some(one) = engine
                            .digits_kw_one
                            .get(o as usize)
                            .and_then(Option::as_ref)
                        else {
                            continue;
                        };
                        let span = (
                            chars_back(data, ks, KEYWORD_DISTANCE)
                                .saturating_sub(one.reach)
                                .max(w.0),
                            (chars_forward(data, ke, KEYWORD_DISTANCE) + one.reach).min(w.1),
                        );
                        if span.0 < span.1 {
                            near.push((o, span.0, span.1));
                        }
                    }
                }
                // By identifier, then by start, so that spans of one identifier merge.
                near.sort_unstable();
                let mut open: Option<(u32, usize, usize)> = None;
                for k in 0..=near.len() {
                    let next = near.get(k).copied();
                    if let (Some(o), Some(n)) = (open, next)
                        && o.0 == n.0
                        && n.1 <= o.2
                    {
                        open = Some((o.0, o.1, o.2.max(n.2)));
                        continue;
                    }
                    if let Some((i, a, b)) = open
                        && let Some(one) = engine
                            .digits_kw_one
                            .get(i as usize)
                            .and_then(Option::as_ref)
                    {
                        let caches = &mut self.digits_kw_one;
                        if caches.len() <= i as usize {
                            caches.resize_with(i as usize + 1, || None);
                        }
                        if let Some(slot) = caches.get_mut(i as usize)
                            && let Some(g) = one.group()
                        {
                            let c = slot.get_or_insert_with(|| group_cache(g));
                            scan_group(engine, g, c, data, (a, b), structure, tmp, kw);
                        }
                    }
                    open = next;
                }
            }
        }
        if let (Some(g), Some(c)) = (&engine.address, self.address.as_mut()) {
            let mut win: Option<(usize, usize)> = None;
            for &r in &address_ends {
                let w = (
                    r.0.saturating_sub(ADDRESS_LEFT),
                    (r.1 + ADDRESS_RIGHT).min(data.len()),
                );
                win = merge_window(win, w, |w| {
                    scan_group(engine, g, c, data, w, structure, tmp, kw)
                });
            }
            if let Some(w) = win {
                scan_group(engine, g, c, data, w, structure, tmp, kw);
            }
        }
        self.windows = windows;
        self.address_ends = address_ends;
        self.runs = runs;
        self.window_runs = window_runs;
    }

    /// Appends the detections in `data` to `out`, in order of offset, without overlaps.
    pub fn scan(
        &mut self,
        data: &[u8],
        structure: Option<&dyn Structure>,
        out: &mut Vec<Detection>,
    ) {
        let engine = self.engine;
        self.kw.valid = false;
        let mut tmp = std::mem::take(&mut self.tmp);
        tmp.clear();
        if let (Some(g), Some(c)) = (&engine.whole, self.whole.as_mut()) {
            let whole = (0, data.len());
            scan_group(engine, g, c, data, whole, structure, &mut tmp, &mut self.kw);
        }
        if engine.digits.is_some() || engine.digits_kw.is_some() || engine.address.is_some() {
            self.scan_digits(data, structure, &mut tmp);
        }
        let kw = &mut self.kw;
        if let (Some(g), Some(c)) = (&engine.literal, self.literal.as_mut()) {
            if structure.is_some_and(|s| s.has_keywords()) {
                // A column name or JSON path may carry SWIFT's keyword: search everything.
                scan_group(engine, g, c, data, (0, data.len()), structure, &mut tmp, kw);
            } else if let Some(ac) = &engine.literal_triggers {
                let mut win: Option<(usize, usize)> = None;
                for m in ac.find_iter(data) {
                    let (extent, token) = engine
                        .literal_extent
                        .get(m.pattern().as_usize())
                        .copied()
                        .unwrap_or((256, false));
                    let lo = m.start().saturating_sub(32);
                    let mut hi = (m.end() + extent).min(data.len());
                    if token {
                        let rest = data.get(m.end()..hi).unwrap_or(&[]);
                        if let Some(k) = rest
                            .iter()
                            .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                        {
                            hi = m.end() + k;
                        }
                    }
                    win = merge_window(win, (lo, hi), |w| {
                        scan_group(engine, g, c, data, w, structure, &mut tmp, kw)
                    });
                }
                if let Some(w) = win {
                    scan_group(engine, g, c, data, w, structure, &mut tmp, kw);
                }
            }
        }
        if let (Some(a), Some(c)) = (&engine.ipv6, self.ipv6.as_mut()) {
            let mut next = 0usize;
            for colon in memchr::memchr_iter(b':', data) {
                if colon < next {
                    continue;
                }
                let mut st = colon;
                while st > 0
                    && colon - st < 40
                    && data.get(st - 1).is_some_and(|&b| is_hex_or_colon(b))
                {
                    st -= 1;
                }
                if st > 0 && data.get(st - 1).is_some_and(u8::is_ascii_alphanumeric) {
                    continue;
                }
                let input = Input::new(data)
                    .span(st..data.len())
                    .anchored(Anchored::Yes);
                if let Some(m) = a.re.search_with(c, &input)
                    && let Ok(d) =
                        engine.confirm(data, (m.start(), m.end()), a.ident, structure, kw)
                {
                    next = d.end;
                    tmp.push(d);
                }
            }
        }
        if let Some(ident) = engine.name {
            scan_names(engine, ident, data, structure, &mut tmp, kw);
        }
        // Merge the passes: by offset, earlier identifiers first at one offset, no overlaps.
        // Each pass appends in offset order: a stable sort merges those runs in near-linear time.
        let key = |d: &Detection| (d.start, d.ident, std::cmp::Reverse(d.end));
        tmp.sort_by_key(key);
        let from = out.len();
        let mut last_end = 0usize;
        for d in tmp.drain(..) {
            if d.start >= last_end {
                last_end = d.end;
                out.push(d);
            }
        }
        self.tmp = tmp;
        // Custom identifiers are reported whatever else matched the same text, as Macie does
        // (a custom employee-number pattern is not hidden by a managed one).
        let mut found = std::mem::take(&mut self.custom_found);
        found.clear();
        for (g, c) in engine.custom.iter().zip(self.custom.iter_mut()) {
            scan_group(
                engine,
                g,
                c,
                data,
                (0, data.len()),
                structure,
                &mut found,
                &mut self.kw,
            );
        }
        if !found.is_empty() {
            out.append(&mut found);
            if let Some(mine) = out.get_mut(from..) {
                mine.sort_by_key(key);
            }
        }
        self.custom_found = found;
    }
}

/// Capitalised words whose first token is a known given name, checked with the NAME pattern.
fn scan_names(
    engine: &Engine,
    ident: u32,
    data: &[u8],
    structure: Option<&dyn Structure>,
    out: &mut Vec<Detection>,
    kw: &mut KeywordHits,
) {
    let mut resume = 0usize;
    let mut prev_word = false;
    for (bi, block) in data.chunks(64).enumerate() {
        // Capitals at a word start, as a bit mask; prose has one every few dozen bytes, and the
        // first three bytes of most are no given name's.
        let words = word_mask(block);
        let mut caps = upper_mask(block) & !((words << 1) | u64::from(prev_word));
        prev_word = (words >> (block.len() - 1)) & 1 == 1;
        while caps != 0 {
            let s = bi * 64 + caps.trailing_zeros() as usize;
            caps &= caps - 1;
            let key = name_prefix_key(data.get(s..).unwrap_or(&[]));
            if s < resume || !engine.name_prefixes.contains(key) {
                continue;
            }
            let mut we = s + 1;
            while data.get(we).is_some_and(u8::is_ascii_lowercase) {
                we += 1;
            }
            if data.get(we) != Some(&b' ') {
                continue;
            }
            // Capitalised words of the text's vocabulary that share a name's first three bytes
            // come back often: a second filter, by length and last byte, spares the search.
            let raw = data.get(s..we).unwrap_or(&[]);
            let key = crate::names::bloom_key(raw);
            if !engine.name_bloom.contains(key) {
                continue;
            }
            let word = std::str::from_utf8(raw).unwrap_or("");
            if crate::names::FIRST.binary_search(&word).is_err() {
                continue;
            }
            if let Some(e) = name_at(data, s)
                && let Ok(d) = engine.confirm(data, (s, e), ident, structure, kw)
            {
                resume = d.end;
                out.push(d);
            }
        }
    }
}

/// Bit of a capitalised word's first three bytes (a space after a two-letter word) in
/// `Engine::name_prefixes`.
fn name_prefix_key(w: &[u8]) -> usize {
    let b = |i: usize| u64::from(w.get(i).copied().unwrap_or(b' '));
    let x = b(0) | b(1) << 8 | b(2) << 16;
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as usize
}

/// The end of the NAME pattern's match anchored at `s`:
/// `\b[A-Z][a-z]{1,14} (?:[A-Z]\. )?[A-Z][a-z]{1,19}(?:-[A-Z][a-z]{1,19})?\b`, with the regex's
/// leftmost-first choices (a test compares the two). Written out because it runs at every
/// capitalised given name, where a regex search costs more than the rest of the scan.
fn name_at(data: &[u8], s: usize) -> Option<usize> {
    let at = |i: usize| data.get(i).copied();
    let is_word = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let lower_run = |from: usize| {
        data.get(from..)
            .unwrap_or(&[])
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count()
    };
    // A capital and 1..=max lower-case letters; the run is maximal, as nothing after a shorter
    // one could match.
    let word = |from: usize, max: usize| {
        let n = lower_run(from + 1);
        (at(from).is_some_and(|b| b.is_ascii_uppercase()) && (1..=max).contains(&n))
            .then_some(from + 1 + n)
    };
    if s > 0 && is_word(at(s - 1)) {
        return None;
    }
    let first_end = word(s, 14)?;
    if at(first_end) != Some(b' ') {
        return None;
    }
    let mut p = first_end + 1;
    if at(p).is_some_and(|b| b.is_ascii_uppercase())
        && at(p + 1) == Some(b'.')
        && at(p + 2) == Some(b' ')
    {
        p += 3;
    }
    let last_end = word(p, 19)?;
    if at(last_end) == Some(b'-')
        && let Some(e) = word(last_end + 1, 19)
        && !is_word(at(e))
    {
        return Some(e);
    }
    (!is_word(at(last_end))).then_some(last_end)
}

/// `name` with a space where a word starts inside it (`dateOfBirth`, `SSNNumber`, `address2`),
/// or `None` when no word starts inside it.
fn camel_words(name: &str) -> Option<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 8);
    let mut split = false;
    for (i, &c) in chars.iter().enumerate() {
        if let Some(&p) = i.checked_sub(1).and_then(|j| chars.get(j)) {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let starts = (p.is_lowercase() && c.is_uppercase())
                || (p.is_uppercase() && c.is_uppercase() && next_lower)
                || (p.is_alphabetic() && c.is_ascii_digit())
                || (p.is_ascii_digit() && c.is_alphabetic());
            if starts {
                out.push(' ');
                split = true;
            }
        }
        out.push(c);
    }
    split.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_names_are_split_into_words() {
        let w = |n: &str| camel_words(n);
        assert_eq!(w("dateOfBirth").as_deref(), Some("date Of Birth"));
        assert_eq!(w("SSNNumber").as_deref(), Some("SSN Number"));
        assert_eq!(w("address2").as_deref(), Some("address 2"));
        assert_eq!(w("ssn"), None);
        assert_eq!(w("SSN"), None);
    }

    impl Engine {
        /// The same engine searching every window byte by byte, as before `Starts`.
        fn without_starts(mut self) -> Engine {
            for g in [
                &mut self.digits,
                &mut self.digits_kw,
                &mut self.literal,
                &mut self.address,
            ]
            .into_iter()
            .flatten()
            {
                g.starts = None;
            }
            for one in self.digits_kw_one.iter_mut().flatten() {
                let _ = one.group();
                if let Some(Some(g)) = one.group.get_mut() {
                    g.starts = None;
                }
            }
            self
        }
    }

    static WITH_STARTS: std::sync::LazyLock<Engine> =
        std::sync::LazyLock::new(|| Engine::with_defaults().expect("default engine"));
    static WITHOUT_STARTS: std::sync::LazyLock<Engine> = std::sync::LazyLock::new(|| {
        Engine::with_defaults()
            .expect("default engine")
            .without_starts()
    });

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Searching anchored at the positions `Starts` allows finds exactly what an unanchored
        /// search of every window finds: numbers in every grouping, capitals, the `+` and `(`
        /// of phone numbers, and keywords that switch on the keyword-required identifiers.
        #[test]
        fn anchored_search_at_the_starts_finds_what_the_unanchored_search_finds(
            s in "([0-9]{1,5}|[ .()+/-]|[A-Z]{1,3}|[a-z]{1,6}|ssn |card |passport |phone |iban |dob |\\n\
                  |342915897692303|3514 2232 2092 0988|GB28 WEVZ 1143 1453 4282 98|069-53-8442\
                  |FR3692889621406552770582309|221-622-4058|\\+1-550-810-4963|1\\.205\\.177\\.26)*"
        ) {
            let a = WITH_STARTS.scan_bytes(s.as_bytes());
            let b = WITHOUT_STARTS.scan_bytes(s.as_bytes());
            proptest::prop_assert_eq!(a, b, "in {:?}", s);
        }
    }

    #[test]
    fn the_differential_tests_values_are_found_by_both_searches() {
        // So that the property above compares detections, not two empty lists.
        let text = b"card 342915897692303, ssn 069-53-8442 iban GB28 WEVZ 1143 1453 4282 98 \
            phone (221) 622-4058 or +1-550-810-4963 from 1.205.177.26";
        let a = WITH_STARTS.scan_bytes(text);
        assert!(a.len() >= 6, "{a:?}");
        assert_eq!(a, WITHOUT_STARTS.scan_bytes(text));
    }

    #[test]
    fn the_regexes_compiled_on_first_use_compile() {
        // They are built lazily and a failure would only skip an identifier, so prove here that
        // none fails.
        let e = Engine::with_defaults().expect("default engine");
        for g in [&e.digits, &e.digits_kw, &e.literal, &e.whole, &e.address]
            .into_iter()
            .flatten()
        {
            assert!(g.all().is_some(), "{:?}", g.patterns);
        }
        // Every windowed group of the managed identifiers can be searched anchored at its
        // starts (a group without them is searched over every byte: correct, but slower).
        for g in [&e.digits, &e.digits_kw, &e.literal, &e.address]
            .into_iter()
            .flatten()
        {
            assert!(g.starts.is_some(), "no starts for {:?}", g.patterns);
        }
        let ones: Vec<&OneIdent> = e.digits_kw_one.iter().flatten().collect();
        assert!(
            ones.len() > 10,
            "keyword-required identifiers: {}",
            ones.len()
        );
        for one in ones {
            let g = one.group().expect("compiles");
            assert!(g.all().is_some(), "{:?}", one.patterns);
            assert!(g.starts.is_some(), "no starts for {:?}", one.patterns);
        }
    }

    #[test]
    fn byte_masks_agree_with_the_byte_tests() {
        let mut block = Vec::new();
        for b in 0..=255u8 {
            block.push(b);
        }
        for chunk in block
            .chunks(64)
            .chain(block.chunks(37))
            .chain(block.chunks(5))
        {
            let want = |f: fn(&u8) -> bool| {
                chunk
                    .iter()
                    .enumerate()
                    .fold(0u64, |m, (k, b)| m | u64::from(f(b)) << k)
            };
            assert_eq!(
                separator_mask(chunk),
                want(|&b| is_separator(b)),
                "{chunk:?}"
            );
            assert_eq!(upper_mask(chunk), want(u8::is_ascii_uppercase), "{chunk:?}");
            assert_eq!(digit_mask(chunk), want(u8::is_ascii_digit), "{chunk:?}");
            assert_eq!(
                word_mask(chunk),
                want(|b| b.is_ascii_alphanumeric() || *b == b'_'),
                "{chunk:?}"
            );
        }
    }

    /// `name_at` is the NAME pattern written out: on random text made of the bytes that matter
    /// to it, it must agree with the regex at every capital.
    #[test]
    fn name_at_agrees_with_the_name_pattern() {
        let pattern = crate::identifiers::find("NAME")
            .and_then(|m| m.patterns.first().copied())
            .unwrap_or("");
        let re = Regex::builder()
            .syntax(syntax_config())
            .build(pattern)
            .unwrap();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut matched = 0;
        for _ in 0..20_000 {
            // Capitalised words around the pattern's length limits, initials and separators.
            let mut data = Vec::new();
            for _ in 0..(next() % 6) {
                match next() % 8 {
                    0..=3 => {
                        data.push(b'A' + (next() % 3) as u8);
                        let n = (next() % 23) as usize;
                        data.extend(std::iter::repeat_n(b'a' + (next() % 3) as u8, n));
                    }
                    4 => data.extend_from_slice(b"Q. "),
                    _ => data.push(b" -._1\xc3 "[(next() % 7) as usize]),
                }
                if next() % 2 == 0 {
                    data.push(b' ');
                }
            }
            for s in 0..data.len() {
                if !data[s].is_ascii_uppercase() {
                    continue;
                }
                let input = Input::new(&data)
                    .span(s..data.len())
                    .anchored(Anchored::Yes);
                let want = re.search(&input).map(|m| m.end());
                assert_eq!(
                    name_at(&data, s),
                    want,
                    "{:?} at {s}",
                    String::from_utf8_lossy(&data)
                );
                matched += usize::from(want.is_some());
            }
        }
        assert!(
            matched > 100,
            "the random text matched only {matched} times"
        );
    }

    /// The digits pass skips windows whose numbers no identifier can match (prose with years
    /// and amounts) and searches those with a number of any shape an identifier has.
    #[test]
    fn window_gates() {
        let e = Engine::with_defaults().unwrap();
        let gates = &e.digits_gates;
        // Cards need 13 digits, phone numbers 9 (10 in the US); nothing needs fewer.
        assert!(!gates.always, "{gates:?}");
        assert_eq!(gates.by_first.iter().min(), Some(&9), "{gates:?}");
        let opens = |text: &str| {
            let runs: Vec<_> = digit_runs(text.as_bytes()).collect();
            gates.open(text.as_bytes(), &runs, &mut Vec::new())
        };
        for prose in [
            "In 2010 we shipped 185 units for 65022.16 USD.",
            "version 2.10 of 12 May",
            "room 101, floor 3",
        ] {
            assert!(!opens(prose), "{prose}");
        }
        for value in [
            "4539 1488 0343 6467",
            "(415) 555-0132",
            "+44 20 7946 0958",
            "tel 030 1234567",
            "10.1.2.3",
            "DE89 3704",
            "AB 12 34 56 C",
        ] {
            assert!(opens(value), "{value}");
        }
        let ends =
            |text: &str| digit_runs(text.as_bytes()).any(|r| ends_address(text.as_bytes(), r));
        assert!(ends("Washington, DC 20500"));
        assert!(ends("London SW1A 2AA"));
        assert!(!ends("for 65022.16 USD"));
    }

    #[test]
    fn digit_runs_match_a_byte_by_byte_scan() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for len in [0usize, 1, 63, 64, 65, 127, 128, 129, 300] {
            for density in [1u64, 3, 8] {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        if rng % 10 < density {
                            b'0' + (rng % 10) as u8
                        } else {
                            b'x'
                        }
                    })
                    .collect();
                let mut want = Vec::new();
                let mut i = 0;
                while i < data.len() {
                    if data[i].is_ascii_digit() {
                        let s = i;
                        while i < data.len() && data[i].is_ascii_digit() {
                            i += 1;
                        }
                        want.push((s, i));
                    } else {
                        i += 1;
                    }
                }
                assert_eq!(
                    digit_runs(&data).collect::<Vec<_>>(),
                    want,
                    "{len} {density}"
                );
            }
        }
        let long = vec![b'7'; 200];
        assert_eq!(digit_runs(&long).collect::<Vec<_>>(), vec![(0, 200)]);
    }
}
