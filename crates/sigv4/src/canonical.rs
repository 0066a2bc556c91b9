//! Canonical request and string-to-sign construction, shared by verification and signing.
//!
//! Everything writes into a caller-supplied `String` so that the verifier can reuse one
//! buffer per thread instead of allocating per request.

use std::borrow::Cow;
use std::fmt::Write as _;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// How the request path is turned into the canonical URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UriEncoding {
    /// Every service except S3: the path, as the client encoded it, is URI-encoded again
    /// (so `%` becomes `%25`). This is what botocore and the official SDK signers do.
    Double,
    /// S3: the path is taken as encoded once; only its encoding is canonicalised.
    Single,
}

/// The service-dependent choices in building a canonical request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Canonicalization {
    /// How the path is encoded into the canonical URI.
    pub uri_encoding: UriEncoding,
    /// Whether dot segments and duplicate slashes are removed from the path first.
    pub normalize_path: bool,
}

impl Canonicalization {
    /// The rules of every AWS service except S3.
    pub const AWS: Self = Self {
        uri_encoding: UriEncoding::Double,
        normalize_path: true,
    };
    /// The rules of S3: single encoding, no path normalisation.
    pub const S3: Self = Self {
        uri_encoding: UriEncoding::Single,
        normalize_path: false,
    };
}

impl Default for Canonicalization {
    fn default() -> Self {
        Self::AWS
    }
}

pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The hex digit for the low four bits of `n`, in upper or lower case.
fn hex_digit(n: u8, upper: bool) -> u8 {
    let n = n & 0x0f;
    match (n, upper) {
        (0..=9, _) => b'0' + n,
        (_, true) => b'A' + n - 10,
        (_, false) => b'a' + n - 10,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_encoded_byte(out: &mut String, b: u8) {
    if is_unreserved(b) {
        out.push(char::from(b));
    } else {
        out.push('%');
        out.push(char::from(hex_digit(b >> 4, true)));
        out.push(char::from(hex_digit(b, true)));
    }
}

/// Appends lowercase hex of `bytes`; avoids the allocation `hex::encode` would make.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(char::from(hex_digit(b >> 4, false)));
        out.push(char::from(hex_digit(b, false)));
    }
}

/// Lowercase hex of a 32-byte digest on the stack.
pub(crate) fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes.iter()) {
        if let [hi, lo] = pair {
            *hi = hex_digit(b >> 4, false);
            *lo = hex_digit(b, false);
        }
    }
    out
}

/// Decodes exactly 64 hex digits (either case) into 32 bytes.
pub(crate) fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *o = (hex_val(*hi)? << 4) | hex_val(*lo)?;
    }
    Some(out)
}

/// Reads a `%XX` escape starting at `i`, if there is a well-formed one.
fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    match bytes.get(i..i + 3) {
        Some([b'%', hi, lo]) => Some((hex_val(*hi)? << 4) | hex_val(*lo)?),
        _ => None,
    }
}

/// Whether `raw` already is in canonical form, so it can be borrowed instead of re-encoded.
/// A `+` never is, since it decodes to a space.
fn is_canonical_component(raw: &[u8]) -> bool {
    let upper_hex = |b: u8| b.is_ascii_digit() || (b'A'..=b'F').contains(&b);
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'%' {
            match raw.get(i + 1..i + 3) {
                Some(&[h, l]) if upper_hex(h) && upper_hex(l) => match escape_at(raw, i) {
                    Some(d) if !is_unreserved(d) => i += 3,
                    _ => return false,
                },
                _ => return false,
            }
        } else if is_unreserved(b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// Writes `raw` in canonical RFC 3986 form: well-formed escapes are decoded and every byte
/// outside the unreserved set is re-encoded with uppercase hex. Malformed escapes keep their
/// `%`, encoded as `%25`, as the official signers do.
fn write_canonical_component(out: &mut String, raw: &[u8], plus_is_space: bool, keep_slash: bool) {
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if let Some(d) = escape_at(raw, i) {
            push_encoded_byte(out, d);
            i += 3;
            continue;
        }
        if b == b'+' && plus_is_space {
            out.push_str("%20");
        } else if b == b'/' && keep_slash {
            out.push('/');
        } else {
            push_encoded_byte(out, b);
        }
        i += 1;
    }
}

fn canonical_component(raw: &str, plus_is_space: bool) -> Cow<'_, str> {
    if is_canonical_component(raw.as_bytes()) {
        Cow::Borrowed(raw)
    } else {
        let mut s = String::with_capacity(raw.len() + 8);
        write_canonical_component(&mut s, raw.as_bytes(), plus_is_space, false);
        Cow::Owned(s)
    }
}

/// Removes dot segments and empty segments (RFC 3986 5.2.4 plus slash merging), keeping a
/// trailing slash, exactly as botocore and the official Rust signer do.
pub(crate) fn normalize_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed("/");
    }
    // Not an origin-form path (e.g. `.` or `*`): leave it alone, so that it can never
    // canonicalise to the same URI as a real path and borrow its signature.
    if !path.starts_with('/') {
        return Cow::Borrowed(path);
    }
    let needs_work = path.contains("//") || has_dot_segment(path);
    if !needs_work {
        return Cow::Borrowed(path);
    }
    let mut segments: Vec<&str> = Vec::with_capacity(8);
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    let trailing = ["/", "/.", "/..", "/./", "/../"]
        .iter()
        .any(|s| path.ends_with(s));
    if out.is_empty() || (trailing && !out.ends_with('/')) {
        out.push('/');
    }
    Cow::Owned(out)
}

fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|s| s == "." || s == "..")
}

fn write_canonical_uri(out: &mut String, path: &str, rules: Canonicalization) {
    let path = if rules.normalize_path {
        normalize_path(path)
    } else if path.is_empty() {
        Cow::Borrowed("/")
    } else {
        Cow::Borrowed(path)
    };
    match rules.uri_encoding {
        UriEncoding::Double => {
            for &b in path.as_bytes() {
                if b == b'/' {
                    out.push('/');
                } else {
                    push_encoded_byte(out, b);
                }
            }
        }
        UriEncoding::Single => write_canonical_component(out, path.as_bytes(), false, true),
    }
}

/// Writes the canonical query string. With `skip_signature`, `X-Amz-Signature` is left out,
/// as it must be when verifying a presigned request.
fn write_canonical_query(out: &mut String, query: &str, skip_signature: bool) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(8);
    for piece in query.split('&') {
        if piece.is_empty() {
            continue;
        }
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let k = canonical_component(k, true);
        if skip_signature && k == "X-Amz-Signature" {
            continue;
        }
        pairs.push((k, canonical_component(v, true)));
    }
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// Appends a header value trimmed of leading and trailing whitespace with inner runs of
/// whitespace collapsed to one space. Tabs count as whitespace because botocore collapses
/// them too (`' '.join(value.split())`), and boto3 is the client that matters most.
fn write_header_value(out: &mut String, value: &str) {
    let mut pending_space = false;
    let mut started = false;
    for c in value.chars() {
        if c == ' ' || c == '\t' {
            pending_space = started;
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
            started = true;
        }
    }
}

/// The request pieces the canonical request is built from.
pub(crate) struct CanonicalInput<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub signed_headers: &'a str,
    pub payload_hash: &'a str,
    pub skip_signature_param: bool,
    pub rules: Canonicalization,
}

pub(crate) fn write_canonical_request(out: &mut String, input: &CanonicalInput<'_>) {
    out.push_str(input.method);
    out.push('\n');
    write_canonical_uri(out, input.path, input.rules);
    out.push('\n');
    write_canonical_query(out, input.query, input.skip_signature_param);
    out.push('\n');
    for name in input.signed_headers.split(';') {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for (_, value) in input
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            if !first {
                out.push(',');
            }
            first = false;
            write_header_value(out, value);
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(input.signed_headers);
    out.push('\n');
    out.push_str(input.payload_hash);
}

/// Writes `YYYYMMDDTHHMMSSZ`.
pub(crate) fn write_amz_date(out: &mut String, t: OffsetDateTime) {
    let t = t.to_offset(time::UtcOffset::UTC);
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
}

pub(crate) fn amz_date(t: OffsetDateTime) -> String {
    let mut s = String::with_capacity(16);
    write_amz_date(&mut s, t);
    s
}

/// Writes `YYYYMMDD`.
pub(crate) fn write_scope_date(out: &mut String, t: OffsetDateTime) {
    let t = t.to_offset(time::UtcOffset::UTC);
    let _ = write!(
        out,
        "{:04}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day()
    );
}

pub(crate) struct ScopeRef<'a> {
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

pub(crate) fn write_string_to_sign(
    out: &mut String,
    timestamp: OffsetDateTime,
    scope: &ScopeRef<'_>,
    creq_hash: &[u8; 32],
) {
    out.push_str(ALGORITHM);
    out.push('\n');
    write_amz_date(out, timestamp);
    out.push('\n');
    out.push_str(scope.date);
    out.push('/');
    out.push_str(scope.region);
    out.push('/');
    out.push_str(scope.service);
    out.push_str("/aws4_request\n");
    push_hex(out, creq_hash);
}

/// The number `s` spells, or `None` when it is not all digits or does not fit: a `Date`
/// header is the client's text, and an unchecked multiplication panicked on
/// `Sun, 99999999999 Aug 2015` (bug: overflow checks are on in release builds).
fn digits(s: &[u8]) -> Option<u32> {
    s.iter().try_fold(0u32, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

fn build_datetime(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<OffsetDateTime> {
    let month = Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()?;
    let time = Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(mi).ok()?,
        u8::try_from(s).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Parses ISO 8601 basic format `YYYYMMDDTHHMMSSZ`, the only form `X-Amz-Date` takes.
pub(crate) fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    build_datetime(
        digits(b.get(0..4)?)?,
        digits(b.get(4..6)?)?,
        digits(b.get(6..8)?)?,
        digits(b.get(9..11)?)?,
        digits(b.get(11..13)?)?,
        digits(b.get(13..15)?)?,
    )
}

/// Parses an RFC 7231 IMF-fixdate (`Sun, 30 Aug 2015 12:36:00 GMT`), the form of the `Date`
/// header that AWS accepts in place of `X-Amz-Date`.
pub(crate) fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let rest = s.trim().split_once(", ").map_or(s.trim(), |(_, r)| r);
    let mut parts = rest.split(' ').filter(|p| !p.is_empty());
    let day = digits(parts.next()?.as_bytes())?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year = digits(parts.next()?.as_bytes())?;
    let mut hms = parts.next()?.split(':');
    let h = digits(hms.next()?.as_bytes())?;
    let mi = digits(hms.next()?.as_bytes())?;
    let sec = digits(hms.next()?.as_bytes())?;
    if hms.next().is_some() || !matches!(parts.next(), Some("GMT" | "UTC")) {
        return None;
    }
    build_datetime(year, month, day, h, mi, sec)
}

/// Percent-encodes every byte of `raw` outside the unreserved set; for values we put into a
/// query ourselves, which are not encoded yet.
pub(crate) fn push_encoded(out: &mut String, raw: &str) {
    for &b in raw.as_bytes() {
        push_encoded_byte(out, b);
    }
}
