//! JSON and JSON Lines: a small tokenizer records where each key and value is, with its JSON
//! path and record index; the buffer is scanned once (with string escapes blanked in place, so
//! offsets stay the file's) and detections are mapped back to records.

use std::collections::HashMap;

use crate::engine::{Engine, IdentSet, Scanner, Structure};
use crate::formats::{Located, Location, Skip};

/// Macie does not analyse JSON nested deeper than this.
pub const MAX_DEPTH: usize = 256;

#[derive(Debug)]
struct Span {
    start: usize,
    end: usize,
    record: u64,
    path: String,
    key: bool,
    mask: u32,
    /// Index in `spans` of the innermost key this span is under ([`NO_KEY`] at the top): a
    /// detection in any of them hides the path of everything below it.
    parent: u32,
}

/// [`Span::parent`] of a span under no key.
const NO_KEY: u32 = u32::MAX;

/// The innermost key span in `stack`.
fn parent_key(stack: &[Frame]) -> u32 {
    stack
        .iter()
        .rev()
        .find_map(|f| match f {
            Frame::Obj {
                key_span: Some(k), ..
            } => Some(*k),
            _ => None,
        })
        .unwrap_or(NO_KEY)
}

enum Frame {
    Obj {
        key: Option<String>,
        /// Index in `spans` of `key`'s span.
        key_span: Option<u32>,
        expect_key: bool,
    },
    Arr {
        idx: u64,
    },
}

/// Macie truncates an element name longer than 240 characters "by removing characters from the
/// beginning of the name", and a path longer than 250 "starting with the first element in the
/// path" (Record.jsonPath): the end of a path, where the value is, is what stays (bug: the
/// beginnings were kept, so a long key lost the leaf the value was under).
fn path_of(stack: &[Frame]) -> String {
    let mut segments: Vec<String> = Vec::with_capacity(stack.len());
    for f in stack {
        let mut seg = String::new();
        match f {
            Frame::Obj { key: Some(k), .. } => {
                let skip = k.chars().count().saturating_sub(240);
                let name: String = k.chars().skip(skip).collect();
                push_element(&mut seg, &name);
            }
            Frame::Obj { key: None, .. } => continue,
            Frame::Arr { idx } => {
                seg.push('[');
                seg.push_str(&idx.to_string());
                seg.push(']');
            }
        }
        segments.push(seg);
    }
    let len = |segs: &[String]| 1 + segs.iter().map(|s| s.chars().count()).sum::<usize>();
    let mut first = 0;
    while first + 1 < segments.len() && segments.get(first..).map_or(0, len) > 250 {
        first += 1;
    }
    let mut p = String::from("$");
    for seg in segments.iter().skip(first) {
        p.push_str(seg);
    }
    let over = p.chars().count().saturating_sub(250);
    if over > 0 {
        // One element longer than the whole budget (a bracketed name with escapes).
        p = std::iter::once('$')
            .chain(p.chars().skip(1 + over))
            .collect();
    }
    p
}

/// Appends the path element of a member `name`: `.name`, or bracket notation where dot
/// notation would be ambiguous.
pub(crate) fn push_element(seg: &mut String, name: &str) {
    if is_plain_name(name) {
        seg.push('.');
        seg.push_str(name);
    } else {
        // `$.a.b` would be read as two levels: bracket notation keeps a key such as
        // `weird key.with "quotes"` one name.
        seg.push_str("['");
        for c in name.chars() {
            if matches!(c, '\'' | '\\') {
                seg.push('\\');
            }
            seg.push(c);
        }
        seg.push_str("']");
    }
}

/// The member names of a path [`push_element`] wrote, unescaped, without array indexes: a
/// bracketed name is one name, whatever dots it holds.
pub(crate) fn element_names(path: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = path.strip_prefix('$').unwrap_or(path).chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut n = String::new();
                while let Some(&c) = chars.peek() {
                    if matches!(c, '.' | '[') {
                        break;
                    }
                    n.push(c);
                    chars.next();
                }
                names.push(n);
            }
            '[' if chars.peek() == Some(&'\'') => {
                chars.next();
                let mut n = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => n.extend(chars.next()),
                        '\'' => break,
                        c => n.push(c),
                    }
                }
                // The closing `]`.
                chars.next();
                names.push(n);
            }
            '[' => {
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    names
}

/// A key that dot notation shows unambiguously: an identifier (letters, digits, `_`, `-`, not
/// starting with a digit or `-`).
fn is_plain_name(k: &str) -> bool {
    let mut chars = k.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// A key's text with its JSON escapes decoded (`\"` is `"`), from its quoted form; `raw` when
/// it is unclosed or does not decode.
fn key_text(quoted: Option<&[u8]>, raw: &[u8]) -> String {
    quoted
        .and_then(|q| serde_json::from_slice::<String>(q).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(raw).into_owned())
}

fn keys_of(stack: &[Frame]) -> String {
    let mut s = String::new();
    for f in stack {
        if let Frame::Obj { key: Some(k), .. } = f {
            s.push_str(k);
            s.push('\u{1f}');
        }
    }
    s
}

struct Tokens {
    spans: Vec<Span>,
    masks: Vec<IdentSet>,
    norm: Vec<u8>,
}

/// With `lines` (JSON Lines) a record is a line, 0-based as Macie's `recordIndex`: each line is
/// tokenized on its own, so a line that is not JSON is scanned as text of its record (its
/// words at `$`) and cannot shift the records after it.
fn tokenize(engine: &Engine, data: &[u8], lines: bool) -> Result<Tokens, Skip> {
    let mut norm = data.to_vec();
    let mut spans = Vec::new();
    let mut masks: Vec<IdentSet> = Vec::new();
    let mut mask_ids: HashMap<String, u32> = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    // Macie's recordIndex of a JSON file, one document, is always 0; in JSON Lines it is the
    // line.
    let mut record = 0u64;
    // A UTF-8 BOM (Windows tools write one) is not a value: read as one, it moved the records
    // after it and left the document at `$` (bug).
    let mut i = if data.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    // The keywords of each distinct name, found once: a document repeats its names in many
    // paths, and looking every path's names up again was most of a JSON scan's time (a 4 MB
    // service model scanned at a sixth of the speed of the same bytes as text).
    let mut name_sets: HashMap<String, IdentSet> = HashMap::new();
    let mut mask_for = |stack: &[Frame], masks: &mut Vec<IdentSet>| -> u32 {
        let k = keys_of(stack);
        *mask_ids.entry(k).or_insert_with_key(|k| {
            let mut set = IdentSet::default();
            for name in k.split('\u{1f}').filter(|x| !x.is_empty()) {
                let own = name_sets
                    .entry(name.to_owned())
                    .or_insert_with(|| engine.keywords_in_names(&[name]));
                set.union_with(own);
            }
            masks.push(set);
            (masks.len() - 1) as u32
        })
    };
    while let Some(&b) = data.get(i) {
        match b {
            b'{' | b'[' => {
                if stack.len() >= MAX_DEPTH {
                    return Err(Skip {
                        reason: "JSON_NESTING_LEVEL_OVER_LIMIT",
                        detail: format!("nesting deeper than {MAX_DEPTH} levels at byte {i}"),
                    });
                }
                stack.push(if b == b'{' {
                    Frame::Obj {
                        key: None,
                        key_span: None,
                        expect_key: true,
                    }
                } else {
                    Frame::Arr { idx: 0 }
                });
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                i += 1;
            }
            b'\n' if lines => {
                record += 1;
                stack.clear();
                i += 1;
            }
            b',' => {
                match stack.last_mut() {
                    Some(Frame::Arr { idx }) => *idx += 1,
                    Some(Frame::Obj {
                        key,
                        key_span,
                        expect_key,
                    }) => {
                        *key = None;
                        *key_span = None;
                        *expect_key = true;
                    }
                    None => {}
                }
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while let Some(&c) = data.get(j) {
                    if c == b'\\' {
                        // Blank the escape so `\n4111…` does not glue an `n` to the value, and
                        // a `\uXXXX` whole: JSON encoders (Go's by default) write `<` and `>` as
                        // `\u003c`/`\u003e`, and `u003cbob@example.com` is no address.
                        let next = data.get(j + 1).copied();
                        let len = match next {
                            Some(b'n' | b't' | b'r' | b'b' | b'f') => 2,
                            Some(b'u')
                                if data
                                    .get(j + 2..j + 6)
                                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                            {
                                6
                            }
                            _ => 1,
                        };
                        for x in norm.iter_mut().skip(j).take(len) {
                            *x = b' ';
                        }
                        // In JSON Lines a newline ends the line whatever precedes it: stepping
                        // over it as an escaped character lost a record, so every later record
                        // was numbered one too low.
                        j += match next {
                            Some(b'\n') if lines => 1,
                            _ if len == 6 => 6,
                            _ => 2,
                        };
                        continue;
                    }
                    // A JSON Lines string cannot hold a raw newline: an unclosed quote ends
                    // with its line instead of swallowing the records after it.
                    if c == b'"' || (lines && c == b'\n') {
                        break;
                    }
                    j += 1;
                }
                let end = j.min(data.len());
                let closed = data.get(end) == Some(&b'"');
                let is_key = matches!(
                    stack.last(),
                    Some(Frame::Obj {
                        expect_key: true,
                        ..
                    })
                );
                if is_key {
                    let k = key_text(
                        data.get(i..end + 1).filter(|_| closed),
                        data.get(start..end).unwrap_or_default(),
                    );
                    let mask = mask_for(&stack, &mut masks);
                    let index = spans.len() as u32;
                    spans.push(Span {
                        start,
                        end,
                        record,
                        path: String::new(),
                        key: true,
                        mask,
                        parent: parent_key(&stack),
                    });
                    if let Some(Frame::Obj {
                        key,
                        key_span,
                        expect_key,
                    }) = stack.last_mut()
                    {
                        *key = Some(k);
                        *key_span = Some(index);
                        *expect_key = false;
                    }
                } else {
                    let mask = mask_for(&stack, &mut masks);
                    spans.push(Span {
                        start,
                        end,
                        record,
                        path: path_of(&stack),
                        key: false,
                        mask,
                        parent: parent_key(&stack),
                    });
                }
                i = if closed { end + 1 } else { end };
            }
            b' ' | b'\t' | b'\r' | b'\n' | b':' => i += 1,
            _ => {
                // A bare scalar: number, true, false, null.
                let start = i;
                while data.get(i).is_some_and(|c| {
                    !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                }) {
                    i += 1;
                }
                let mask = mask_for(&stack, &mut masks);
                spans.push(Span {
                    start,
                    end: i,
                    record,
                    path: path_of(&stack),
                    key: false,
                    mask,
                    parent: parent_key(&stack),
                });
                i = i.max(start + 1);
            }
        }
    }
    Ok(Tokens { spans, masks, norm })
}

/// What a JSON syntax check expects next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Value,
    /// A value or `]`, just after `[`.
    ValueOrClose,
    /// A key or `}`, just after `{`.
    KeyOrClose,
    Key,
    Colon,
    /// `,` or the container's closing bracket (at the top: only whitespace).
    After,
}

/// The first syntax error of `data` as one JSON document (a `.json` file, a JSON Lines line),
/// as (byte offset, what was expected): the tokenizer reads anything, so this tells a file that
/// is JSON from one that is not. A second document after the first is trailing text, not JSON
/// (`{}{}`, `truefalse`, `01`). Iterative, so that no nesting depth can exhaust the stack.
fn syntax_error(data: &[u8]) -> Option<(usize, &'static str)> {
    check(data, false).err()
}

/// [`syntax_error`] of a `.json` file, which may hold several documents apart by whitespace
/// (many tools write JSON Lines under that name) or objects and arrays run together
/// (concatenated JSON: `{}{}`); bare values run together (`truefalse`, `01`) are not JSON.
fn documents_error(data: &[u8]) -> Option<(usize, &'static str)> {
    check(data, true).err()
}

fn check(data: &[u8], several: bool) -> Result<(), (usize, &'static str)> {
    let mut stack: Vec<u8> = Vec::new();
    let mut want = Want::Value;
    let mut i = 0;
    loop {
        let before = i;
        while matches!(data.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            i += 1;
        }
        let Some(&b) = data.get(i) else {
            return if stack.is_empty() && matches!(want, Want::Value | Want::After) {
                Ok(())
            } else {
                Err((i, "more JSON (the document ends early)"))
            };
        };
        match want {
            Want::ValueOrClose if b == b']' => {
                stack.pop();
                i += 1;
                want = Want::After;
            }
            Want::Value | Want::ValueOrClose => {
                match b {
                    b'{' => {
                        stack.push(b'{');
                        i += 1;
                        want = Want::KeyOrClose;
                        continue;
                    }
                    b'[' => {
                        stack.push(b'[');
                        i += 1;
                        want = Want::ValueOrClose;
                        continue;
                    }
                    b'"' => i = string_end(data, i)?,
                    b'-' | b'0'..=b'9' => i = number_end(data, i)?,
                    _ => {
                        let word = [&b"true"[..], b"false", b"null"]
                            .into_iter()
                            .find(|w| data.get(i..i + w.len()) == Some(*w));
                        match word {
                            Some(w) => i += w.len(),
                            None => return Err((i, "a value")),
                        }
                    }
                }
                want = Want::After;
            }
            Want::KeyOrClose if b == b'}' => {
                stack.pop();
                i += 1;
                want = Want::After;
            }
            Want::KeyOrClose | Want::Key => {
                if b != b'"' {
                    return Err((i, "a quoted key"));
                }
                i = string_end(data, i)?;
                want = Want::Colon;
            }
            Want::Colon => {
                if b != b':' {
                    return Err((i, "':'"));
                }
                i += 1;
                want = Want::Value;
            }
            Want::After => match (stack.last(), b) {
                // Objects and arrays may also follow one another directly (concatenated JSON,
                // as Kinesis Data Firehose delivers records); bare values run together may not.
                (None, _)
                    if several
                        && (i > before
                            || matches!(
                                i.checked_sub(1).and_then(|j| data.get(j)),
                                Some(b'}' | b']')
                            )) =>
                {
                    want = Want::Value
                }
                (None, _) => return Err((i, "the end of the document")),
                (Some(b'['), b',') => {
                    i += 1;
                    want = Want::Value;
                }
                (Some(b'{'), b',') => {
                    i += 1;
                    want = Want::Key;
                }
                (Some(b'['), b']') | (Some(b'{'), b'}') => {
                    stack.pop();
                    i += 1;
                }
                (Some(b'['), _) => return Err((i, "',' or ']'")),
                _ => return Err((i, "',' or '}'")),
            },
        }
    }
}

/// Just past the string that opens at `data[i]` (a `"`), or its first error.
fn string_end(data: &[u8], mut i: usize) -> Result<usize, (usize, &'static str)> {
    i += 1;
    loop {
        match data.get(i) {
            None => return Err((i, "a closing quote")),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => match data.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u')
                    if data
                        .get(i + 2..i + 6)
                        .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                {
                    i += 6
                }
                _ => return Err((i, "a valid escape")),
            },
            Some(&c) if c < 0x20 => return Err((i, "no control character inside a string")),
            Some(_) => i += 1,
        }
    }
}

/// Just past the number that starts at `data[i]`, or its first error.
fn number_end(data: &[u8], mut i: usize) -> Result<usize, (usize, &'static str)> {
    let digits = |i: &mut usize| {
        let from = *i;
        while data.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > from
    };
    if data.get(i) == Some(&b'-') {
        i += 1;
    }
    if data.get(i) == Some(&b'0') {
        i += 1;
    } else if !digits(&mut i) {
        return Err((i, "a digit"));
    }
    if data.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return Err((i, "a digit"));
        }
    }
    if matches!(data.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(data.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return Err((i, "a digit"));
        }
    }
    Ok(i)
}

fn span_index(spans: &[Span], offset: usize) -> Option<usize> {
    spans.partition_point(|s| s.start <= offset).checked_sub(1)
}

fn span_at(spans: &[Span], offset: usize) -> Option<&Span> {
    spans.get(span_index(spans, offset)?)
}

/// Whether a key `span` is under (or is itself) holds a detection: Macie then omits the
/// record's `jsonPath`, which would show that key (bug: only the key's own detection lost its
/// path, so an SSN under an email-address key was reported at `$.users['a.b@example.com'].ssn`).
fn under_leaky_key(spans: &[Span], leaky: &[u32], span: &Span) -> bool {
    if leaky.is_empty() {
        return false;
    }
    let mut at = span.parent;
    // Bounded by the nesting limit; a key's parent always comes before it.
    while at != NO_KEY {
        if leaky.binary_search(&at).is_ok() {
            return true;
        }
        match spans.get(at as usize) {
            Some(k) if k.parent < at || k.parent == NO_KEY => at = k.parent,
            _ => break,
        }
    }
    false
}

struct Ctx<'a> {
    t: &'a Tokens,
}

impl Structure for Ctx<'_> {
    fn keywords_at(&self, offset: usize) -> Option<&IdentSet> {
        let s = span_at(&self.t.spans, offset)?;
        if s.key || offset > s.end {
            return None;
        }
        self.t.masks.get(s.mask as usize)
    }

    fn has_keywords(&self) -> bool {
        self.t.masks.iter().any(|m| !m.is_empty())
    }

    fn same_value(&self, a: usize, b: usize) -> bool {
        span_index(&self.t.spans, a) == span_index(&self.t.spans, b)
    }
}

/// JSON Lines are tokenized and scanned in batches of whole lines of about this size: memory
/// follows a batch, not the file (bug: a 200 MB JSON Lines file took 4.5 GB, a span and a
/// path string per value of the whole file held at once).
const LINES_BATCH: usize = 4 << 20;

/// JSON Lines lines that are not JSON: how many, and the first one's error (0-based line,
/// byte offset in the file, what was expected).
#[derive(Default)]
struct BadLines {
    count: u64,
    first: Option<(u64, usize, &'static str)>,
}

/// Why a file that is not (all) JSON is analysed only in part.
fn not_json(data: &[u8], at: usize, what: &str, scope: &str) -> Skip {
    let (line, column) = crate::formats::text::line_column(data, at);
    Skip {
        reason: "INVALID_OR_CORRUPTED_FILE",
        detail: format!(
            "{scope} not JSON: expected {what} at line {line}, column {column}; its detections are located by line"
        ),
    }
}

/// Scans JSON, or JSON Lines with `lines`. Content that is not JSON is still scanned, as text
/// located by line (Macie's lineRanges for a structured file's malformed parts), and `partial`
/// says what is wrong with it (bug: it was reported as records at `$`, as if it were JSON).
pub fn scan(
    engine: &Engine,
    scanner: &mut Scanner<'_>,
    data: &[u8],
    lines: bool,
    partial: &mut Option<Skip>,
) -> Result<Vec<Located>, Skip> {
    let mut line_map = crate::formats::text::LineMap::new(data);
    let bom = if data.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    if !lines {
        if let Some((at, what)) = data.get(bom..).and_then(documents_error) {
            *partial = Some(not_json(data, at + bom, what, "the file is"));
            return Ok(crate::formats::text::scan(scanner, data));
        }
        let mut bad = BadLines::default();
        return scan_part(
            engine,
            scanner,
            data,
            false,
            (0, 0),
            &mut line_map,
            &mut bad,
        );
    }
    let mut bad = BadLines::default();
    let mut out = Vec::new();
    let (mut base, mut records) = (0usize, 0u64);
    while let Some(rest) = data.get(base..).filter(|r| !r.is_empty()) {
        let cut = match rest.get(..LINES_BATCH) {
            Some(head) if rest.len() > LINES_BATCH => memchr::memrchr(b'\n', head)
                .or_else(|| {
                    rest.get(LINES_BATCH..)
                        .and_then(|tail| memchr::memchr(b'\n', tail))
                        .map(|p| LINES_BATCH + p)
                })
                .map_or(rest.len(), |p| p + 1),
            _ => rest.len(),
        };
        let part = rest.get(..cut).unwrap_or(rest);
        out.extend(scan_part(
            engine,
            scanner,
            part,
            true,
            (base, records),
            &mut line_map,
            &mut bad,
        )?);
        records += memchr::memchr_iter(b'\n', part).count() as u64;
        base += cut;
    }
    if let Some((line, at, what)) = bad.first {
        let more = match bad.count {
            0 | 1 => String::new(),
            n => format!(" ({n} lines are not JSON)"),
        };
        let mut why = not_json(data, at, what, &format!("record {line} is"));
        why.detail.push_str(&more);
        *partial = Some(why);
    }
    Ok(out)
}

/// Scans `data`, which starts `base` bytes and `first_record` records into the file.
fn scan_part(
    engine: &Engine,
    scanner: &mut Scanner<'_>,
    data: &[u8],
    lines: bool,
    (base, first_record): (usize, u64),
    line_map: &mut crate::formats::text::LineMap<'_>,
    bad: &mut BadLines,
) -> Result<Vec<Located>, Skip> {
    let t = tokenize(engine, data, lines)?;
    // Records (lines of this part) that are not JSON.
    let mut bad_here = std::collections::HashSet::new();
    if lines {
        let mut start = 0;
        for (record, line) in data.split(|&b| b == b'\n').enumerate() {
            let skip = if base + start == 0 && line.starts_with(b"\xEF\xBB\xBF") {
                3
            } else {
                0
            };
            if let Some((at, what)) = line.get(skip..).and_then(syntax_error) {
                bad_here.insert(record as u64);
                bad.count += 1;
                bad.first.get_or_insert((
                    first_record + record as u64,
                    base + start + skip + at,
                    what,
                ));
            }
            start += line.len() + 1;
        }
    }
    let mut dets = Vec::new();
    scanner.scan(&t.norm, Some(&Ctx { t: &t }), &mut dets);
    let mut leaky: Vec<u32> = dets
        .iter()
        .filter_map(|d| span_index(&t.spans, d.start))
        .filter(|&i| t.spans.get(i).is_some_and(|s| s.key))
        .map(|i| i as u32)
        .collect();
    leaky.sort_unstable();
    leaky.dedup();
    Ok(dets
        .into_iter()
        .map(|mut d| {
            let s = span_at(&t.spans, d.start);
            let record = s.map(|s| s.record).unwrap_or(0);
            let location = Location::Record {
                record_index: first_record + record,
                json_path: s
                    .filter(|s| !s.key && !under_leaky_key(&t.spans, &leaky, s))
                    .map(|s| s.path.clone()),
            };
            d.start += base;
            d.end += base;
            let at = line_map.locate(&d);
            let line = match at {
                Location::Line { start, .. } => Some(start),
                _ => None,
            };
            Located {
                location: if bad_here.contains(&record) {
                    at
                } else {
                    location
                },
                offset: Some(d.start as u64),
                line,
                detection: d,
                value: None,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{element_names, push_element};

    #[test]
    fn element_names_read_back_what_push_element_wrote() {
        let mut p = String::from("$");
        for name in ["plain", "a.b", "it's \\ odd", "frank@example.com"] {
            push_element(&mut p, name);
            p.push_str("[3]");
        }
        assert_eq!(
            element_names(&p),
            vec!["plain", "a.b", "it's \\ odd", "frank@example.com"]
        );
    }
}
