//! A small JSON reader that keeps object members in document order and keeps
//! duplicate keys.
//!
//! `serde_json::Value` silently keeps the last of two duplicate keys, which
//! would let `{"Effect":"Deny","Effect":"Allow"}` mean different things to
//! different readers; policies must be rejected instead, so the parser needs to
//! see every member. Nesting is bounded so hostile input cannot exhaust the
//! stack.

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, kept as written so no precision is lost.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, members in document order, duplicates kept.
    Object(Vec<(String, Json)>),
}

/// Nesting deeper than this is rejected: real policies nest at most 5 levels.
const MAX_DEPTH: usize = 64;

impl Json {
    /// Parses one JSON document; trailing non-whitespace is an error.
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            bytes: text.as_bytes(),
            pos: 0,
        };
        p.skip_ws();
        let v = p.value(0)?;
        p.skip_ws();
        if p.pos != p.bytes.len() {
            return Err(format!("unexpected trailing data at byte {}", p.pos));
        }
        Ok(v)
    }

    /// A short name of the value's JSON type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    /// Looks up the first member named `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Converts to a `serde_json::Value` (duplicates collapse to the last).
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => serde_json::Value::Bool(*b),
            Json::Number(n) => serde_json::from_str(n).unwrap_or(serde_json::Value::Null),
            Json::String(s) => serde_json::Value::String(s.clone()),
            Json::Array(a) => serde_json::Value::Array(a.iter().map(Json::to_value).collect()),
            Json::Object(m) => serde_json::Value::Object(
                m.iter().map(|(k, v)| (k.clone(), v.to_value())).collect(),
            ),
        }
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", b as char, self.pos))
        }
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, String> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end) == Some(word.as_bytes()) {
            self.pos = end;
            Ok(v)
        } else {
            Err(format!("invalid literal at byte {}", self.pos))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        match self.peek() {
            None => Err("unexpected end of input".to_string()),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(c) => Err(format!(
                "unexpected character '{}' at byte {}",
                c as char, self.pos
            )),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, String> {
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':')?;
            self.skip_ws();
            let v = self.value(depth + 1)?;
            members.push((key, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(format!("expected ',' or '}}' at byte {}", self.pos)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, String> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(format!("expected ',' or ']' at byte {}", self.pos)),
            }
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.pos;
            while let Some(b'0'..=b'9') = p.peek() {
                p.pos += 1;
            }
            p.pos - s
        };
        if digits(self) == 0 {
            return Err(format!("invalid number at byte {start}"));
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(format!("invalid number at byte {start}"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(format!("invalid number at byte {start}"));
            }
        }
        let text = self
            .bytes
            .get(start..self.pos)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(|| format!("invalid number at byte {start}"))?;
        Ok(Json::Number(text.to_string()))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let slice = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| "truncated \\u escape".to_string())?;
        let s = std::str::from_utf8(slice).map_err(|_| "invalid \\u escape".to_string())?;
        let v = u32::from_str_radix(s, 16).map_err(|_| format!("invalid \\u escape '{s}'"))?;
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            let chunk = self
                .bytes
                .get(start..self.pos)
                .and_then(|b| std::str::from_utf8(b).ok())
                .ok_or_else(|| format!("invalid utf-8 in string at byte {start}"))?;
            out.push_str(chunk);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self.peek().ok_or_else(|| "truncated escape".to_string())?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err("unpaired surrogate in string".to_string());
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("unpaired surrogate in string".to_string());
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            let c = char::from_u32(code)
                                .ok_or_else(|| format!("invalid code point {code:#x}"))?;
                            out.push(c);
                        }
                        other => {
                            return Err(format!("invalid escape '\\{}'", other as char));
                        }
                    }
                }
                Some(_) => return Err(format!("control character in string at byte {}", self.pos)),
                None => return Err("unterminated string".to_string()),
            }
        }
    }
}

/// A place in a document as IAM's policy simulator reports it: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// Where each statement of a policy document starts and ends, in the order of its `Statement`
/// (an object alone is one statement), as the simulator's `StartPosition`/`EndPosition`: the
/// place just after the statement's `{` and just after its `}` (AWS's own example has a one-line
/// policy whose statement's `{` is the 37th character answered with columns 38 and 167).
/// Empty when the text is no object with a `Statement` of objects.
pub fn statement_positions(text: &str) -> Vec<(Position, Position)> {
    let bytes = text.as_bytes();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let Some(stmt) = top_member(bytes, "Statement") else {
        return Vec::new();
    };
    let mut pos = skip_ws(bytes, stmt);
    match bytes.get(pos) {
        Some(b'{') => {
            if let Some(end) = skip_value(bytes, pos, 0) {
                spans.push((pos, end));
            }
        }
        Some(b'[') => {
            pos += 1;
            loop {
                pos = skip_ws(bytes, pos);
                match bytes.get(pos) {
                    Some(b'{') => {
                        let Some(end) = skip_value(bytes, pos, 0) else {
                            break;
                        };
                        spans.push((pos, end));
                        pos = skip_ws(bytes, end);
                        if bytes.get(pos) == Some(&b',') {
                            pos += 1;
                        } else {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
        _ => {}
    }
    // `end` is the offset after `}`: the place after it is one character further.
    spans
        .into_iter()
        .map(|(start, end)| (position_at(text, start + 1), position_at(text, end)))
        .collect()
}

/// The 1-based position of the character at byte `offset`, lines ending at `\n`.
fn position_at(text: &str, offset: usize) -> Position {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
    Position { line, column }
}

fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos).is_some_and(|b| b.is_ascii_whitespace()) {
        pos += 1;
    }
    pos
}

/// The offset of the value of the top-level object's first member named `name`.
fn top_member(bytes: &[u8], name: &str) -> Option<usize> {
    let mut pos = skip_ws(bytes, 0);
    if bytes.get(pos) != Some(&b'{') {
        return None;
    }
    pos += 1;
    loop {
        pos = skip_ws(bytes, pos);
        if bytes.get(pos) != Some(&b'"') {
            return None;
        }
        let key_end = skip_string(bytes, pos)?;
        let key = bytes.get(pos + 1..key_end - 1)?;
        pos = skip_ws(bytes, key_end);
        if bytes.get(pos) != Some(&b':') {
            return None;
        }
        pos = skip_ws(bytes, pos + 1);
        // Keys of the policy grammar have no escapes, so comparing raw bytes is enough.
        if key == name.as_bytes() {
            return Some(pos);
        }
        pos = skip_ws(bytes, skip_value(bytes, pos, 0)?);
        if bytes.get(pos) != Some(&b',') {
            return None;
        }
        pos += 1;
    }
}

/// The offset just after the string starting at `pos` (its opening quote).
fn skip_string(bytes: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos + 1;
    loop {
        match bytes.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The offset just after the value starting at `pos`.
fn skip_value(bytes: &[u8], pos: usize, depth: usize) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    match bytes.get(pos)? {
        b'"' => skip_string(bytes, pos),
        open @ (b'{' | b'[') => {
            let close = if *open == b'{' { b'}' } else { b']' };
            let mut i = skip_ws(bytes, pos + 1);
            if bytes.get(i) == Some(&close) {
                return Some(i + 1);
            }
            loop {
                i = skip_value(bytes, i, depth + 1)?;
                i = skip_ws(bytes, i);
                match bytes.get(i)? {
                    b':' | b',' => i = skip_ws(bytes, i + 1),
                    c if *c == close => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        _ => {
            let mut i = pos;
            while bytes.get(i).is_some_and(|b| {
                !matches!(b, b',' | b'}' | b']' | b':') && !b.is_ascii_whitespace()
            }) {
                i += 1;
            }
            (i > pos).then_some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_duplicates_and_order() {
        let j = Json::parse(r#"{"b":1,"a":2,"b":3}"#).unwrap();
        let Json::Object(m) = j else { panic!() };
        let keys: Vec<_> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
    }

    #[test]
    fn rejects_garbage_and_deep_nesting() {
        assert!(Json::parse("This is not a json document").is_err());
        assert!(Json::parse("{} x").is_err());
        assert!(Json::parse(&"[".repeat(100_000)).is_err());
        assert!(Json::parse(r#""\ud800""#).is_err());
    }

    #[test]
    fn decodes_escapes() {
        let j = Json::parse(r#""a\u00e9\ud83d\ude00\n""#).unwrap();
        assert_eq!(j, Json::String("aé😀\n".to_string()));
    }
    #[test]
    fn statement_positions_follow_aws_example() {
        // Bug: MatchedStatements had no StartPosition/EndPosition; AWS's CLI example answers
        // this one-line policy with line 1, columns 38 and 167.
        let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}"#;
        let p = statement_positions(doc);
        assert_eq!(
            p,
            vec![(
                Position {
                    line: 1,
                    column: 38
                },
                Position {
                    line: 1,
                    column: 167
                }
            )]
        );
    }

    #[test]
    fn statement_positions_of_an_array_over_lines() {
        let doc = "{\n \"Statement\": [\n  {\"Effect\":\"Deny\",\"Action\":\"a:b\",\"Resource\":\"}\"},\n  {\"Sid\": \"x\"}\n ],\n \"Version\": \"2012-10-17\"\n}";
        let p = statement_positions(doc);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].0, Position { line: 3, column: 4 });
        assert_eq!(
            p[0].1,
            Position {
                line: 3,
                column: 50
            }
        );
        assert_eq!(
            p[1],
            (
                Position { line: 4, column: 4 },
                Position {
                    line: 4,
                    column: 15
                }
            )
        );
        assert!(statement_positions("[1]").is_empty());
        assert!(statement_positions("{\"Statement\": {").is_empty());
    }
}
