//! Managed data identifiers: Macie's IDs, categories, keyword rules and severity classes, with the
//! regex that finds candidates and the validator that confirms them.
//!
//! Patterns are written for regex-automata's DFAs: ASCII classes (`[0-9]`, not `\d`), ASCII word
//! boundaries (`(?-u:\b)`), no huge bounded repetitions. `tests/pattern_lint.rs` enforces this.

use serde::Serialize;

use crate::validate as v;

/// Macie's finding categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    /// Secrets and keys.
    Credentials,
    /// Card, bank and account data.
    FinancialInformation,
    /// PII and PHI.
    PersonalInformation,
    /// Detections of custom data identifiers.
    CustomIdentifier,
}

/// Macie's severity levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Severity {
    /// Score 1.
    Low,
    /// Score 2.
    Medium,
    /// Score 3.
    High,
}

impl Severity {
    /// Macie's numeric score.
    pub fn score(self) -> u8 {
        match self {
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 3,
        }
    }

    /// Macie's description string.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
        }
    }
}

/// How severity grows with the occurrence count (Macie's bands 1, 2–99, ≥100).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeverityClass {
    /// Credentials, card numbers, bank accounts, national IDs: High at any count.
    High,
    /// Card security codes and passports: Medium, then High.
    MediumHighHigh,
    /// Expiry, birth date, licence, name, address, phone: Low, Medium, High.
    LowMediumHigh,
}

impl SeverityClass {
    /// The severity for `count` occurrences.
    pub fn for_count(self, count: u64) -> Severity {
        match (self, count) {
            (SeverityClass::High, _) => Severity::High,
            (SeverityClass::MediumHighHigh, 0..=1) => Severity::Medium,
            (SeverityClass::MediumHighHigh, _) => Severity::High,
            (SeverityClass::LowMediumHigh, 0..=1) => Severity::Low,
            (SeverityClass::LowMediumHigh, 2..=99) => Severity::Medium,
            (SeverityClass::LowMediumHigh, _) => Severity::High,
        }
    }
}

/// Whether a keyword must be near a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeywordRule {
    /// Reported without a keyword.
    No,
    /// Reported only with a keyword within 30 characters (or in the column name / JSON path).
    Required,
    /// The validator decides per candidate (e.g. phone numbers need one unless they carry a
    /// country code).
    Varies,
    /// Always reported; the reported ID depends on the keyword (`CREDIT_CARD_NUMBER` with one,
    /// the `no_keyword_id` without).
    Optional,
}

/// How sure a detection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Confidence {
    /// Validated by a checksum, a distinctive format or a keyword.
    High,
    /// Heuristic (gazetteer names): expect false positives.
    Low,
}

/// What a validator says about a candidate: the confirmed span (relative to the candidate), an
/// optional more specific ID, and whether this candidate needs a keyword (for `KeywordRule::Varies`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    /// Start of the confirmed value inside the candidate.
    pub start: usize,
    /// End of the confirmed value inside the candidate.
    pub end: usize,
    /// A more specific identifier ID (IBAN country).
    pub id: Option<&'static str>,
    /// For `KeywordRule::Varies`: this candidate needs a keyword.
    pub needs_keyword: bool,
}

impl Check {
    fn whole(s: &[u8]) -> Option<Check> {
        Some(Check {
            start: 0,
            end: s.len(),
            id: None,
            needs_keyword: false,
        })
    }
    fn whole_if(ok: bool, s: &[u8]) -> Option<Check> {
        if ok { Check::whole(s) } else { None }
    }
}

/// Confirms a candidate; `None` drops it.
pub type Validator = fn(&[u8]) -> Option<Check>;

/// A managed data identifier.
#[derive(Debug)]
pub struct Managed {
    /// Macie's identifier ID (or a Palisade extension ID when `macie` is false).
    pub id: &'static str,
    /// Macie's category.
    pub category: Category,
    /// Severity by occurrence count.
    pub severity: SeverityClass,
    /// Keyword requirement.
    pub keyword: KeywordRule,
    /// ID reported when `keyword` is `Optional` and no keyword is near.
    pub no_keyword_id: Option<&'static str>,
    /// Lowercase keywords (matched case-insensitively).
    pub keywords: &'static [&'static str],
    /// Candidate patterns.
    pub patterns: &'static [&'static str],
    /// Confirms candidates.
    pub validate: Validator,
    /// In Macie's RECOMMENDED set.
    pub recommended: bool,
    /// A Macie managed identifier ID (false: a Palisade extension).
    pub macie: bool,
    /// Detection confidence.
    pub confidence: Confidence,
    /// Found by a dedicated scanner instead of the shared regex passes (patterns that would
    /// slow the shared DFA down on ordinary text).
    pub special: Special,
}

/// Dedicated scanners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    /// Only the regex passes.
    None,
    /// IPv6: hex digits keep a DFA busy on every word, so candidates start from `:` bytes and the
    /// pattern runs anchored.
    Ipv6,
    /// Names: candidates start at capitalised words whose first token is a known given name.
    Name,
}

/// The IPv6 pattern (anchored at a candidate start).
pub const IPV6_PATTERN: &str = r"(?-u:\b)(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4})(?-u:\b)";

fn always(s: &[u8]) -> Option<Check> {
    Check::whole(s)
}

fn cc(s: &[u8]) -> Option<Check> {
    // The regex may take a trailing group that belongs to something else ("… 1111 2023"): try the
    // whole candidate, then drop trailing groups.
    let mut end = s.len();
    loop {
        let cand = s.get(..end)?;
        let d = v::digits(cand);
        if d.len() < 13 {
            return None;
        }
        if d.len() <= 19 && v::card_grouping_ok(cand) && v::credit_card(&d) {
            return Some(Check {
                start: 0,
                end,
                id: None,
                needs_keyword: false,
            });
        }
        end = cand.iter().rposition(|b| !b.is_ascii_digit())?;
    }
}

fn iban(s: &[u8]) -> Option<Check> {
    let cc = s.get(..2)?;
    let (len, country) = v::iban_country(cc)?;
    let mut compact = Vec::with_capacity(len);
    let mut end = 0;
    for (i, &b) in s.iter().enumerate() {
        if b.is_ascii_alphanumeric() {
            compact.push(b);
            if compact.len() == len {
                end = i + 1;
                break;
            }
        }
    }
    if compact.len() != len || !v::iban_mod97(&compact) {
        return None;
    }
    // A cut inside a group ("DE89 3704 0044 0532 0130 00X") is not an IBAN boundary.
    if s.get(end).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (g, consistent) = v::groups(s.get(..end)?);
    if !consistent || (g.len() > 1 && g.iter().rev().skip(1).any(|&x| x != 4)) {
        return None;
    }
    Some(Check {
        start: 0,
        end,
        id: Some(iban_id(country)),
        needs_keyword: false,
    })
}

/// `<COUNTRY>_BANK_ACCOUNT_NUMBER`, Macie's per-country IBAN identifier IDs.
fn iban_id(country: &str) -> &'static str {
    IBAN_IDS
        .iter()
        .find(|id| id.strip_suffix("_BANK_ACCOUNT_NUMBER") == Some(country))
        .copied()
        .unwrap_or("IBAN")
}

/// Every ID the IBAN identifier can report (kept in step with `validate::IBAN_COUNTRIES`).
pub const IBAN_IDS: &[&str] = &[
    "ANDORRA_BANK_ACCOUNT_NUMBER",
    "UNITED_ARAB_EMIRATES_BANK_ACCOUNT_NUMBER",
    "ALBANIA_BANK_ACCOUNT_NUMBER",
    "AUSTRIA_BANK_ACCOUNT_NUMBER",
    "AZERBAIJAN_BANK_ACCOUNT_NUMBER",
    "BOSNIA_AND_HERZEGOVINA_BANK_ACCOUNT_NUMBER",
    "BELGIUM_BANK_ACCOUNT_NUMBER",
    "BULGARIA_BANK_ACCOUNT_NUMBER",
    "BAHRAIN_BANK_ACCOUNT_NUMBER",
    "BRAZIL_BANK_ACCOUNT_NUMBER",
    "BELARUS_BANK_ACCOUNT_NUMBER",
    "SWITZERLAND_BANK_ACCOUNT_NUMBER",
    "COSTA_RICA_BANK_ACCOUNT_NUMBER",
    "CYPRUS_BANK_ACCOUNT_NUMBER",
    "CZECHIA_BANK_ACCOUNT_NUMBER",
    "GERMANY_BANK_ACCOUNT_NUMBER",
    "DENMARK_BANK_ACCOUNT_NUMBER",
    "DOMINICAN_REPUBLIC_BANK_ACCOUNT_NUMBER",
    "ESTONIA_BANK_ACCOUNT_NUMBER",
    "EGYPT_BANK_ACCOUNT_NUMBER",
    "SPAIN_BANK_ACCOUNT_NUMBER",
    "FINLAND_BANK_ACCOUNT_NUMBER",
    "FAROE_ISLANDS_BANK_ACCOUNT_NUMBER",
    "FRANCE_BANK_ACCOUNT_NUMBER",
    "UK_BANK_ACCOUNT_NUMBER",
    "GEORGIA_BANK_ACCOUNT_NUMBER",
    "GIBRALTAR_BANK_ACCOUNT_NUMBER",
    "GREENLAND_BANK_ACCOUNT_NUMBER",
    "GREECE_BANK_ACCOUNT_NUMBER",
    "GUATEMALA_BANK_ACCOUNT_NUMBER",
    "CROATIA_BANK_ACCOUNT_NUMBER",
    "HUNGARY_BANK_ACCOUNT_NUMBER",
    "IRELAND_BANK_ACCOUNT_NUMBER",
    "ISRAEL_BANK_ACCOUNT_NUMBER",
    "IRAQ_BANK_ACCOUNT_NUMBER",
    "ICELAND_BANK_ACCOUNT_NUMBER",
    "ITALY_BANK_ACCOUNT_NUMBER",
    "JORDAN_BANK_ACCOUNT_NUMBER",
    "KUWAIT_BANK_ACCOUNT_NUMBER",
    "KAZAKHSTAN_BANK_ACCOUNT_NUMBER",
    "LEBANON_BANK_ACCOUNT_NUMBER",
    "SAINT_LUCIA_BANK_ACCOUNT_NUMBER",
    "LIECHTENSTEIN_BANK_ACCOUNT_NUMBER",
    "LITHUANIA_BANK_ACCOUNT_NUMBER",
    "LUXEMBOURG_BANK_ACCOUNT_NUMBER",
    "LATVIA_BANK_ACCOUNT_NUMBER",
    "MONACO_BANK_ACCOUNT_NUMBER",
    "MOLDOVA_BANK_ACCOUNT_NUMBER",
    "MONTENEGRO_BANK_ACCOUNT_NUMBER",
    "NORTH_MACEDONIA_BANK_ACCOUNT_NUMBER",
    "MAURITANIA_BANK_ACCOUNT_NUMBER",
    "MALTA_BANK_ACCOUNT_NUMBER",
    "MAURITIUS_BANK_ACCOUNT_NUMBER",
    "NETHERLANDS_BANK_ACCOUNT_NUMBER",
    "NORWAY_BANK_ACCOUNT_NUMBER",
    "PAKISTAN_BANK_ACCOUNT_NUMBER",
    "POLAND_BANK_ACCOUNT_NUMBER",
    "PALESTINE_BANK_ACCOUNT_NUMBER",
    "PORTUGAL_BANK_ACCOUNT_NUMBER",
    "QATAR_BANK_ACCOUNT_NUMBER",
    "ROMANIA_BANK_ACCOUNT_NUMBER",
    "SERBIA_BANK_ACCOUNT_NUMBER",
    "SAUDI_ARABIA_BANK_ACCOUNT_NUMBER",
    "SEYCHELLES_BANK_ACCOUNT_NUMBER",
    "SWEDEN_BANK_ACCOUNT_NUMBER",
    "SLOVENIA_BANK_ACCOUNT_NUMBER",
    "SLOVAKIA_BANK_ACCOUNT_NUMBER",
    "SAN_MARINO_BANK_ACCOUNT_NUMBER",
    "SAO_TOME_AND_PRINCIPE_BANK_ACCOUNT_NUMBER",
    "EL_SALVADOR_BANK_ACCOUNT_NUMBER",
    "TIMOR_LESTE_BANK_ACCOUNT_NUMBER",
    "TUNISIA_BANK_ACCOUNT_NUMBER",
    "TURKEY_BANK_ACCOUNT_NUMBER",
    "UKRAINE_BANK_ACCOUNT_NUMBER",
    "VATICAN_CITY_BANK_ACCOUNT_NUMBER",
    "VIRGIN_ISLANDS_BANK_ACCOUNT_NUMBER",
    "KOSOVO_BANK_ACCOUNT_NUMBER",
];

fn ssn(s: &[u8]) -> Option<Check> {
    let (g, consistent) = v::groups(s);
    let shape = matches!(&*g, [9] | [3, 2, 4]);
    Check::whole_if(consistent && shape && v::ssn(&v::digits(s)), s)
}

fn itin(s: &[u8]) -> Option<Check> {
    let (g, consistent) = v::groups(s);
    let shape = matches!(&*g, [9] | [3, 2, 4]);
    Check::whole_if(consistent && shape && v::itin(&v::digits(s)), s)
}

fn nhs(s: &[u8]) -> Option<Check> {
    let (g, consistent) = v::groups(s);
    let shape = matches!(&*g, [10] | [3, 3, 4]);
    Check::whole_if(consistent && shape && v::nhs(&v::digits(s)), s)
}

fn sin(s: &[u8]) -> Option<Check> {
    let (g, consistent) = v::groups(s);
    let shape = matches!(&*g, [9] | [3, 3, 3]);
    Check::whole_if(consistent && shape && v::sin(&v::digits(s)), s)
}

fn aadhaar(s: &[u8]) -> Option<Check> {
    let (g, consistent) = v::groups(s);
    let shape = matches!(&*g, [12] | [4, 4, 4]);
    Check::whole_if(consistent && shape && v::verhoeff(&v::digits(s)), s)
}

fn cpf(s: &[u8]) -> Option<Check> {
    Check::whole_if(v::cpf(&v::digits(s)), s)
}

fn cnpj(s: &[u8]) -> Option<Check> {
    Check::whole_if(v::cnpj(&v::digits(s)), s)
}

fn aba(s: &[u8]) -> Option<Check> {
    Check::whole_if(v::aba(&v::digits(s)), s)
}

fn bank_account(s: &[u8]) -> Option<Check> {
    // All one digit is a placeholder, not an account.
    let d = v::digits(s);
    Check::whole_if(!d.iter().all(|&x| Some(&x) == d.first()), s)
}

fn not_all_zero(s: &[u8]) -> Option<Check> {
    let zero = s.iter().filter(|b| b.is_ascii_digit()).all(|&b| b == b'0');
    Check::whole_if(!zero, s)
}

fn nino(s: &[u8]) -> Option<Check> {
    let p = s.get(..2)?;
    let bad = [b"BG", b"GB", b"NK", b"KN", b"TN", b"NT", b"ZZ"];
    let (g, consistent) = v::groups(s);
    let shape = matches!(&*g, [9] | [2, 2, 2, 2, 1]);
    Check::whole_if(consistent && shape && !bad.iter().any(|x| &x[..] == p), s)
}

fn email(s: &[u8]) -> Option<Check> {
    // A string prefix of Python and friends (b'ann@example.com') is not part of the address,
    // where a name's apostrophe (o'connor@example.ie) is.
    const STRING_PREFIXES: [&[u8]; 8] = [b"b", b"r", b"u", b"f", b"br", b"rb", b"fr", b"rf"];
    let start = match s.iter().position(|&b| b == b'\'') {
        Some(q)
            if s.get(..q)
                .is_some_and(|p| STRING_PREFIXES.iter().any(|x| p.eq_ignore_ascii_case(x))) =>
        {
            q + 1
        }
        _ => 0,
    };
    let s = s.get(start..)?;
    if !s.first().is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    let at = s.iter().position(|&b| b == b'@')?;
    let (local, domain) = (s.get(..at)?, s.get(at + 1..)?);
    let ok = (1..=64).contains(&local.len())
        && domain.len() <= 253
        && !local.starts_with(b".")
        && !local.ends_with(b".")
        && !domain.starts_with(b"-")
        && !local.windows(2).any(|w| w == b"..")
        && !domain.windows(2).any(|w| w == b"..")
        && !asset_name(domain);
    Check::whole_if(ok, s).map(|c| Check {
        start: c.start + start,
        end: c.end + start,
        ..c
    })
}

/// A high-density asset's file name seen from its `@` (`logo@2x.png`, `icon@3x.webp`): a scale
/// then a file extension that is no top-level domain (bug: reported as an email address).
fn asset_name(domain: &[u8]) -> bool {
    const EXTENSIONS: [&[u8]; 9] = [
        b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"ico", b"bmp", b"tiff",
    ];
    let Some(dot) = domain.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (scale, ext) = (
        domain.get(..dot).unwrap_or(&[]),
        domain.get(dot + 1..).unwrap_or(&[]),
    );
    scale.len() >= 2
        && scale.last().is_some_and(|b| b.eq_ignore_ascii_case(&b'x'))
        && scale
            .get(..scale.len() - 1)
            .is_some_and(|n| n.iter().all(u8::is_ascii_digit))
        && EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e))
}

fn ip(s: &[u8]) -> Option<Check> {
    let txt = std::str::from_utf8(s).ok()?;
    if txt.contains(':') {
        let ok = txt.parse::<std::net::Ipv6Addr>().is_ok();
        // Bare "::" or "1::" forms are too ambiguous in code and logs.
        return Check::whole_if(ok && txt.len() >= 7 && txt.matches(':').count() >= 2, s);
    }
    let ok = txt.parse::<std::net::Ipv4Addr>().is_ok();
    // Version strings ("1.2.3.4" in a changelog) parse too; a leading zero octet is one tell.
    Check::whole_if(
        ok && !txt.split('.').any(|o| o.len() > 1 && o.starts_with('0')),
        s,
    )
}

fn url(s: &[u8]) -> Option<Check> {
    // Trailing punctuation belongs to the sentence, not the URL.
    let mut end = s.len();
    while end > 0
        && matches!(
            s.get(end - 1),
            Some(b'.' | b',' | b';' | b':' | b')' | b'!' | b'?')
        )
    {
        end -= 1;
    }
    let body = s.get(..end)?;
    let host_start = body
        .windows(3)
        .position(|w| w == b"://")
        .map(|p| p + 3)
        .unwrap_or(0);
    let host = body.get(host_start..)?;
    let host_end = host
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#' | b':'))
        .unwrap_or(host.len());
    let host = host.get(..host_end)?;
    let ok = host.contains(&b'.') && host.len() >= 4 && !host.ends_with(b".");
    Some(Check {
        start: 0,
        end,
        id: None,
        needs_keyword: false,
    })
    .filter(|_| ok)
}

fn aws_secret(s: &[u8]) -> Option<Check> {
    // The two secret keys printed in AWS documentation.
    const DOC: [&[u8]; 2] = [
        b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        b"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    ];
    let mixed = s.iter().any(u8::is_ascii_lowercase)
        && s.iter().any(u8::is_ascii_uppercase)
        && s.iter().any(u8::is_ascii_digit);
    // Any key ending as AWS's placeholders do (`…EXAMPLEKEY`), as the docs and the SigV4 test
    // suite vary them (bug: `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY` was reported).
    Check::whole_if(
        mixed && !DOC.contains(&s) && !s.ends_with(b"EXAMPLEKEY") && v::entropy(s) > 4.0,
        s,
    )
}

fn aws_key_id(s: &[u8]) -> Option<Check> {
    // AWS's documentation key ids all end in `EXAMPLE` (`AKIAIOSFODNN7EXAMPLE`,
    // `ASIAIOSFODNN7EXAMPLE`, `AKIAI44QH8DHBEXAMPLE`, …).
    Check::whole_if(!s.ends_with(b"EXAMPLE"), s)
}

/// A private key block with key material: a run of at least 16 base64 characters with upper
/// and lower case letters and digits, as encoded key bytes have (bug: a placeholder,
/// `-----BEGIN RSA PRIVATE KEY-----\nkey omitted for security reasons\n-----END …`, was
/// reported as a key).
fn key_block(s: &[u8]) -> Option<Check> {
    let base64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    let material = s.split(|b| !base64(b)).any(|run| {
        run.len() >= 16
            && run.iter().any(u8::is_ascii_uppercase)
            && run.iter().any(u8::is_ascii_lowercase)
            && run.iter().any(u8::is_ascii_digit)
    });
    Check::whole_if(material, s)
}

fn stripe(s: &[u8]) -> Option<Check> {
    // Stripe's documentation keys.
    const DOC: [&[u8]; 3] = [
        b"sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        b"sk_test_BQokikJOvBiI2HlWgH4olfQ2",
        b"sk_test_26PHem9AhJZvU623DfE1x4sd",
    ];
    Check::whole_if(!DOC.contains(&s) && v::entropy(s) > 3.0, s)
}

fn jwt(s: &[u8]) -> Option<Check> {
    let mut parts = s.split(|&b| b == b'.');
    let header = v::base64_decode(parts.next()?)?;
    let payload = v::base64_decode(parts.next()?)?;
    let ok = header.first() == Some(&b'{')
        && memchr::memmem::find(&header, b"\"alg\"").is_some()
        && payload.first() == Some(&b'{');
    Check::whole_if(ok, s)
}

fn basic_auth(s: &[u8]) -> Option<Check> {
    let token = s.rsplit(|&b| b == b' ' || b == b'\t').next()?;
    let dec = v::base64_decode(token)?;
    Check::whole_if(dec.contains(&b':') && std::str::from_utf8(&dec).is_ok(), s)
}

fn generic_secret(s: &[u8]) -> Option<Check> {
    // The regex takes `keyword = value`; report the value, if it looks random.
    let sep = s.iter().rposition(|&b| matches!(b, b'=' | b':'))?;
    let mut start = sep + 1;
    while matches!(s.get(start), Some(b' ' | b'\t' | b'"' | b'\'')) {
        start += 1;
    }
    let mut end = s.len();
    while end > start && matches!(s.get(end - 1), Some(b'"' | b'\'')) {
        end -= 1;
    }
    let val = s.get(start..end)?;
    // AWS's documentation placeholders (`AKIAIOSFODNN7EXAMPLE`, `…EXAMPLEKEY`), which the AWS
    // key identifiers leave out, are no secret under a generic keyword either (bug: they were
    // reported as GENERIC_SECRET).
    if val.ends_with(b"EXAMPLE") || val.ends_with(b"EXAMPLEKEY") {
        return None;
    }
    // `aws_secret_access_key = <40 chars>` is AWS_CREDENTIALS's, found once this candidate is
    // dropped and the scan moves past the keyword.
    let key = s.get(..sep)?.to_ascii_lowercase();
    if val.len() == 40
        && (memchr::memmem::find(&key, b"aws").is_some()
            || memchr::memmem::find(&key, b"access").is_some())
    {
        return None;
    }
    let classes = [
        val.iter().any(u8::is_ascii_lowercase),
        val.iter().any(u8::is_ascii_uppercase),
        val.iter().any(u8::is_ascii_digit),
    ]
    .iter()
    .filter(|&&x| x)
    .count();
    let ok = val.len() >= 16 && classes >= 2 && v::entropy(val) >= 3.5;
    Some(Check {
        start,
        end,
        id: None,
        needs_keyword: false,
    })
    .filter(|_| ok)
}

fn date_parts(s: &[u8]) -> Option<(u32, u32, u32)> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let txt = std::str::from_utf8(s).ok()?.to_ascii_lowercase();
    let mut nums = Vec::new();
    let mut month_word = None;
    for tok in txt.split(|c: char| !c.is_ascii_alphanumeric()) {
        if tok.is_empty() {
            continue;
        }
        if let Ok(n) = tok.parse::<u32>() {
            nums.push((n, tok.len()));
        } else if let Some(m) = MONTHS
            .iter()
            .position(|m| tok.get(..3).is_some_and(|p| p == *m))
        {
            month_word = Some(m as u32 + 1);
        } else if !matches!(tok, "st" | "nd" | "rd" | "th" | "of") {
            return None;
        }
    }
    let year4 = |n: u32, len: usize| if len == 2 { 1900 + n } else { n };
    match (month_word, nums.as_slice()) {
        (Some(m), [(a, _), (y, yl)]) => Some((year4(*y, *yl), m, *a)),
        (None, [(y, 4), (m, _), (d, _)]) => Some((*y, *m, *d)),
        // US order first (m/d/y), then day-first when the month would be > 12.
        (None, [(a, _), (b, _), (y, yl)]) => {
            if *a > 12 {
                Some((year4(*y, *yl), *b, *a))
            } else {
                Some((year4(*y, *yl), *a, *b))
            }
        }
        _ => None,
    }
}

fn dob(s: &[u8]) -> Option<Check> {
    let (y, m, d) = date_parts(s)?;
    Check::whole_if(v::plausible_date(y, m, d) && y <= 2030, s)
}

fn expiry(s: &[u8]) -> Option<Check> {
    let txt = std::str::from_utf8(s).ok()?;
    let nums: Vec<u32> = txt
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect();
    let ok = match nums.as_slice() {
        [m, y] => (1..=12).contains(m) && (*y < 100 || (2000..=2099).contains(y)),
        [y] => (2000..=2099).contains(y) || *y < 100,
        _ => false,
    };
    Check::whole_if(ok, s)
}

fn cvv(s: &[u8]) -> Option<Check> {
    Check::whole(s)
}

/// Digits in a NANP number, without and with its country code 1.
pub const PHONE_US_DIGITS: std::ops::RangeInclusive<usize> = 10..=11;
/// Digits in the other countries' phone numbers, country code included.
pub const PHONE_INTL_DIGITS: std::ops::RangeInclusive<usize> = 9..=13;

/// Phone numbers: a leading `+<country code>` makes the keyword unnecessary (Macie's rule); so does a
/// NANP number written in its usual `(NXX) NXX-XXXX` / `NXX-NXX-XXXX` shape.
fn phone_us(s: &[u8]) -> Option<Check> {
    let d = v::digits(s);
    let (national, cc) = match d.len() {
        n if n == *PHONE_US_DIGITS.start() => (&*d, false),
        n if n == *PHONE_US_DIGITS.end() && d.first() == Some(&1) => (d.get(1..)?, true),
        _ => return None,
    };
    let area = national.first()?;
    let exch = national.get(3)?;
    if *area < 2 || *exch < 2 || national.get(1..3) == Some(&[1, 1]) {
        return None;
    }
    let formatted = s.contains(&b'(') || v::groups(s).0.len() >= 3;
    Some(Check {
        start: 0,
        end: s.len(),
        id: None,
        needs_keyword: !(formatted || (cc && s.first() == Some(&b'+'))),
    })
}

fn phone_intl(s: &[u8]) -> Option<Check> {
    let d = v::digits(s);
    if !PHONE_INTL_DIGITS.contains(&d.len()) {
        return None;
    }
    Some(Check {
        start: 0,
        end: s.len(),
        id: None,
        needs_keyword: s.first() != Some(&b'+'),
    })
}

fn mag_stripe(s: &[u8]) -> Option<Check> {
    // The PAN is the first digit run; it must pass Luhn.
    let start = s.iter().position(u8::is_ascii_digit)?;
    let len = s
        .get(start..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let pan = v::digits(s.get(start..start + len)?);
    Check::whole_if(v::luhn(&pan), s)
}

fn france_nir(s: &[u8]) -> Option<Check> {
    // Corsica's departments 2A and 2B count as 19 and 18 for the key.
    let compact: Vec<u8> = s
        .iter()
        .filter(|b| !b.is_ascii_whitespace())
        .copied()
        .collect();
    let body = compact.get(..13)?;
    let key: u64 = std::str::from_utf8(compact.get(13..)?).ok()?.parse().ok()?;
    let txt = std::str::from_utf8(body)
        .ok()?
        .replace("2A", "19")
        .replace("2B", "18");
    let n: u64 = txt.parse().ok()?;
    Check::whole_if(97 - n % 97 == key, s)
}

fn germany_id(s: &[u8]) -> Option<Check> {
    // ICAO 9303 check digit: weights 7, 3, 1 over the serial (letters A=10 … Z=35).
    let (serial, check) = s.split_at_checked(9)?;
    let sum: u32 = serial
        .iter()
        .zip([7u32, 3, 1].iter().cycle())
        .map(|(&c, w)| {
            let v = if c.is_ascii_digit() {
                u32::from(c - b'0')
            } else {
                u32::from(c - b'A') + 10
            };
            v * w
        })
        .sum();
    Check::whole_if(
        check.first().map(|&c| u32::from(c - b'0')) == Some(sum % 10),
        s,
    )
}

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

fn dni_letter(n: u32) -> Option<u8> {
    DNI_LETTERS.get((n % 23) as usize).copied()
}

fn spain_dni(s: &[u8]) -> Option<Check> {
    let n: u32 = std::str::from_utf8(s.get(..8)?).ok()?.parse().ok()?;
    Check::whole_if(s.last().copied() == dni_letter(n), s)
}

fn spain_nie(s: &[u8]) -> Option<Check> {
    let lead = match s.first()? {
        b'X' => 0,
        b'Y' => 1,
        _ => 2,
    };
    let d = v::digits(s);
    let n = d.iter().fold(lead, |acc, &x| acc * 10 + u32::from(x));
    Check::whole_if(s.last().copied() == dni_letter(n), s)
}

fn spain_ssn(s: &[u8]) -> Option<Check> {
    let d = v::digits(s);
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        Some(d.get(r)?.iter().fold(0u64, |a, &x| a * 10 + u64::from(x)))
    };
    let (prov, body, check) = (num(0..2)?, num(2..10)?, num(10..12)?);
    let n = if body < 10_000_000 {
        body + prov * 10_000_000
    } else {
        prov * 100_000_000 + body
    };
    Check::whole_if(n % 97 == check, s)
}

fn au_tfn(s: &[u8]) -> Option<Check> {
    let d = v::digits(s);
    let w: &[u32] = match d.len() {
        9 => &[1, 4, 3, 7, 5, 8, 6, 9, 10],
        8 => &[10, 7, 8, 4, 6, 3, 5, 1],
        _ => return None,
    };
    let sum: u32 = d.iter().zip(w).map(|(&x, &w)| u32::from(x) * w).sum();
    Check::whole_if(sum.is_multiple_of(11), s)
}

fn has_digit(s: &[u8]) -> Option<Check> {
    Check::whole_if(s.iter().any(u8::is_ascii_digit), s)
}

fn name(s: &[u8]) -> Option<Check> {
    let first_end = s.iter().position(|&b| b == b' ')?;
    let first = std::str::from_utf8(s.get(..first_end)?).ok()?;
    let last = std::str::from_utf8(s.get(first_end + 1..)?).ok()?;
    let ok = crate::names::FIRST.binary_search(&first).is_ok()
        && !crate::names::NOT_SURNAME.contains(&last)
        && last.len() >= 2;
    Check::whole_if(ok, s)
}

fn address(s: &[u8]) -> Option<Check> {
    Check::whole(s)
}

const KW_CC: &[&str] = &[
    "credit card",
    "card number",
    "card no",
    "card num",
    "cc#",
    "ccn",
    "visa",
    "mastercard",
    "master card",
    "amex",
    "american express",
    "discover",
    "jcb",
    "maestro",
    "diners",
    "unionpay",
    "carte bancaire",
    "kreditkarte",
    "tarjeta",
    "carta di credito",
    "pan",
    "payment card",
];

const KW_SSN: &[&str] = &[
    "ssn",
    "ss#",
    "ssn#",
    "social security",
    "social sec",
    "soc sec",
    "ssa number",
    "social security no",
];

const KW_BANK: &[&str] = &[
    "bank account",
    "account number",
    "account no",
    "acct",
    "checking",
    "savings",
    "bank acc",
    "account #",
    "account#",
    "a/c",
    "beneficiary",
    "iban",
    "numéro de compte",
    "kontonummer",
    "numero de cuenta",
];

/// Phone keywords: the English ones, for every country's numbers, then a country's own words,
/// which unlock only its numbers (bug: the French "portable" and the German "handy", ordinary
/// English words, made numbers near them UK and US phone numbers).
macro_rules! phone_keywords {
    ($($own:literal),*) => {
        &[
            "phone", "tel", "telephone", "mobile", "cell", "fax", "call", "contact", $($own),*
        ]
    };
}

const KW_PHONE: &[&str] = phone_keywords!();
const KW_PHONE_FR: &[&str] = phone_keywords!("téléphone", "portable");
const KW_PHONE_DE: &[&str] = phone_keywords!("telefon", "handy");
const KW_PHONE_IT: &[&str] = phone_keywords!("telefono", "cellulare");
const KW_PHONE_ES: &[&str] = phone_keywords!("teléfono", "telefono", "móvil", "movil", "celular");
const KW_PHONE_BR: &[&str] = phone_keywords!("telefone", "telefono", "celular");
/// Every managed identifier, in the order their patterns are tried at one position (most specific
/// first: leftmost-first picks the earliest pattern at a start).
pub static MANAGED: &[Managed] = &[
    Managed {
        id: "PKCS",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[
            // `\` too: a key kept on one line with escaped newlines (`"-----BEGIN…\nMIIE…\n…"`
            // in a .env file, YAML or a log) was not found.
            r"-----BEGIN (?:RSA |DSA |EC |ENCRYPTED )?PRIVATE KEY-----[A-Za-z0-9+/=\r\n \t:,.()\\-]*?-----END (?:RSA |DSA |EC |ENCRYPTED )?PRIVATE KEY-----",
        ],
        validate: key_block,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "OPENSSH_PRIVATE_KEY",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[
            r"-----BEGIN OPENSSH PRIVATE KEY-----[A-Za-z0-9+/=\r\n \t\\]*-----END OPENSSH PRIVATE KEY-----",
        ],
        validate: key_block,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "PGP_PRIVATE_KEY",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[
            r"-----BEGIN PGP PRIVATE KEY BLOCK-----[A-Za-z0-9+/=\r\n \t:,.()\\-]*?-----END PGP PRIVATE KEY BLOCK-----",
        ],
        validate: key_block,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "PUTTY_PRIVATE_KEY",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[
            r"PuTTY-User-Key-File-[0-9]: [^\r\n]*\r?\nEncryption: [^\r\n]*\r?\nComment: [^\r\n]*\r?\nPublic-Lines: [0-9]+\r?\n[A-Za-z0-9+/=\r\n]*Private-Lines: [0-9]+\r?\n[A-Za-z0-9+/=\r\n]*Private-MAC: [0-9a-fA-F]+",
        ],
        validate: always,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "HTTP_BASIC_AUTH_HEADER",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[r"(?i-u:(?:proxy-)?authorization:[ \t]*basic)[ \t]+[A-Za-z0-9+/]{4,}={0,2}"],
        validate: basic_auth,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "JSON_WEB_TOKEN",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[r"(?-u:\b)eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"],
        validate: jwt,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "STRIPE_CREDENTIALS",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[r"(?-u:\b)(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,99}(?-u:\b)"],
        validate: stripe,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "GCP_API_KEY",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[r"(?-u:\b)AIza[0-9A-Za-z_-]{35}(?-u:\b)"],
        validate: always,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "GITHUB_TOKEN",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[
            r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})(?-u:\b)",
        ],
        validate: always,
        recommended: false,
        macie: false,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "SLACK_TOKEN",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[
            r"(?-u:\b)xox[abposr]-[0-9]{8,13}-[0-9A-Za-z-]{8,100}|https://hooks\.slack\.com/services/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/[A-Za-z0-9]{24}",
        ],
        validate: always,
        recommended: false,
        macie: false,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "AWS_ACCESS_KEY_ID",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?-u:\b)"],
        validate: aws_key_id,
        recommended: false,
        macie: false,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "URL",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[
            r#"(?-u:\b)(?:(?i-u:https?|ftp)://|www\.)[A-Za-z0-9._~%!$&'*+,;=:@-]*[A-Za-z0-9-](?::[0-9]{1,5})?(?:[/?#][^ \t\r\n"'<>\\^`{|}]*)?"#,
        ],
        validate: url,
        recommended: false,
        macie: false,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "EMAIL_ADDRESS",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[
            // `'` is atext (RFC 5322): o'connor.sean@example.ie is one address.
            r"(?-u:\b)[A-Za-z0-9][A-Za-z0-9._%+'-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?-u:\b)",
        ],
        validate: email,
        recommended: false,
        macie: false,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "IP_ADDRESS",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[
            r"(?-u:\b)(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}(?-u:\b)",
        ],
        validate: ip,
        recommended: false,
        macie: false,
        confidence: Confidence::High,
        special: Special::Ipv6,
    },
    Managed {
        id: "IBAN",
        category: Category::FinancialInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[r"(?-u:\b)[A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]){11,30}(?-u:\b)"],
        validate: iban,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "CREDIT_CARD_NUMBER",
        category: Category::FinancialInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Optional,
        no_keyword_id: Some("CREDIT_CARD_NUMBER_(NO_KEYWORD)"),
        keywords: KW_CC,
        patterns: &[r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)"],
        validate: cc,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "USA_SOCIAL_SECURITY_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: KW_SSN,
        patterns: &[r"(?-u:\b)[0-9]{3}(?:-[0-9]{2}-|[ ][0-9]{2}[ ]|[0-9]{2})[0-9]{4}(?-u:\b)"],
        validate: ssn,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "USA_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "itin",
            "taxpayer",
            "tax id",
            "tax identification",
            "tin",
            "tax number",
        ],
        patterns: &[r"(?-u:\b)9[0-9]{2}(?:-[0-9]{2}-|[ ][0-9]{2}[ ]|[0-9]{2})[0-9]{4}(?-u:\b)"],
        validate: itin,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "UK_NATIONAL_INSURANCE_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[
            r"(?-u:\b)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D](?-u:\b)",
        ],
        validate: nino,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "BRAZIL_CNPJ_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &["cnpj", "cadastro nacional"],
        patterns: &[r"(?-u:\b)[0-9]{2}\.?[0-9]{3}\.?[0-9]{3}/?[0-9]{4}-?[0-9]{2}(?-u:\b)"],
        validate: cnpj,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "BRAZIL_CPF_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &["cpf", "cadastro de pessoa", "cadastro de pessoas físicas"],
        patterns: &[r"(?-u:\b)[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}(?-u:\b)"],
        validate: cpf,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "DATE_OF_BIRTH",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "dob",
            "d.o.b",
            "date of birth",
            "birth date",
            "birthdate",
            "birthday",
            "born",
            "b-day",
            "bday",
            "date de naissance",
            "geburtsdatum",
            "fecha de nacimiento",
            "data di nascita",
            "data de nascimento",
        ],
        patterns: &[
            // Year first with `/` or `.` too (`1985/03/14`), and a month's name between dashes
            // (`14-Mar-1985`), as Macie's date formats allow (bug: both were missed).
            r"(?-u:\b)(?:[0-9]{1,2}[/.-][0-9]{1,2}[/.-](?:[0-9]{4}|[0-9]{2})|[0-9]{4}[/.-][0-9]{1,2}[/.-][0-9]{1,2}|(?i-u:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? [0-9]{1,2}(?:st|nd|rd|th)?,? [0-9]{4}|[0-9]{1,2}(?:st|nd|rd|th)?[ -](?:of )?(?i-u:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?[ -][0-9]{4})(?-u:\b)",
        ],
        validate: dob,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "UK_NHS_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "nhs",
            "national health service",
            "health service",
            "nhs number",
        ],
        patterns: &[r"(?-u:\b)[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}(?-u:\b)"],
        validate: nhs,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "CANADA_SOCIAL_INSURANCE_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "sin",
            "social insurance",
            "numéro d'assurance sociale",
            "assurance sociale",
            "nas",
        ],
        patterns: &[r"(?-u:\b)[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{3}(?-u:\b)"],
        validate: sin,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "INDIA_AADHAAR_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &["aadhaar", "aadhar", "uidai", "uid", "आधार"],
        patterns: &[r"(?-u:\b)[2-9][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}(?-u:\b)"],
        validate: aadhaar,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "PHONE_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::Varies,
        no_keyword_id: None,
        keywords: KW_PHONE,
        patterns: &[
            // `+1` may run straight into the area code (E.164, `+12125550143`), where no word
            // boundary separates them (bug: such numbers were never found).
            r"(?:\+1[ .-]?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-]?)|(?:(?-u:\b)1[ .-])?(?:\([2-9][0-9]{2}\) ?|(?-u:\b)[2-9][0-9]{2}[ .-]?))[2-9][0-9]{2}[ .-]?[0-9]{4}(?-u:\b)",
        ],
        validate: phone_us,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "UK_PHONE_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::Varies,
        no_keyword_id: None,
        keywords: KW_PHONE,
        patterns: &[
            r"(?:\+44 ?(?:\(0\) ?)?|(?-u:\b)0)(?:7[0-9]{3} ?[0-9]{3} ?[0-9]{3}|[1-3][0-9]{2,3} ?[0-9]{3} ?[0-9]{3,4}|20 ?[0-9]{4} ?[0-9]{4})(?-u:\b)",
        ],
        validate: phone_intl,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "FRANCE_PHONE_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::Varies,
        no_keyword_id: None,
        keywords: KW_PHONE_FR,
        patterns: &[r"(?:\+33 ?(?:\(0\))?|(?-u:\b)0)[1-9](?:[ .-]?[0-9]{2}){4}(?-u:\b)"],
        validate: phone_intl,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "GERMANY_PHONE_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::Varies,
        no_keyword_id: None,
        keywords: KW_PHONE_DE,
        patterns: &[r"(?:\+49 ?(?:\(0\))?|(?-u:\b)0)[1-9][0-9]{1,4}[ /-]?[0-9]{3,9}(?-u:\b)"],
        validate: phone_intl,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "ITALY_PHONE_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::Varies,
        no_keyword_id: None,
        keywords: KW_PHONE_IT,
        patterns: &[
            // Landlines group their subscriber digits 4+4 as often as 3+4 (+39 06 1234 5678).
            r"(?:\+39 ?|(?-u:\b))(?:3[0-9]{2}[ .-]?[0-9]{3}|0[0-9]{1,3}[ .-]?[0-9]{3,4})[ .-]?[0-9]{3,4}(?-u:\b)",
        ],
        validate: phone_intl,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "SPAIN_PHONE_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::Varies,
        no_keyword_id: None,
        keywords: KW_PHONE_ES,
        patterns: &[
            r"(?:\+34 ?|(?-u:\b))[6789][0-9]{2}[ .-]?[0-9]{2,3}[ .-]?[0-9]{2,3}(?:[ .-]?[0-9]{2})?(?-u:\b)",
        ],
        validate: phone_intl,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "BRAZIL_PHONE_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::Varies,
        no_keyword_id: None,
        keywords: KW_PHONE_BR,
        patterns: &[r"(?:\+55 ?|(?-u:\b))\(?[1-9][0-9]\)? ?9?[0-9]{4}-?[0-9]{4}(?-u:\b)"],
        validate: phone_intl,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "ABA_ROUTING_NUMBER",
        category: Category::FinancialInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "routing",
            "aba",
            "rtn",
            "transit number",
            "bank routing",
            "abartn",
        ],
        patterns: &[r"(?-u:\b)[0-9]{4}-?[0-9]{4}-?[0-9](?-u:\b)"],
        validate: aba,
        recommended: false,
        macie: false,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "BANK_ACCOUNT_NUMBER",
        category: Category::FinancialInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: KW_BANK,
        patterns: &[r"(?-u:\b)[0-9]{9,17}(?-u:\b)"],
        validate: bank_account,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "USA_PASSPORT_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::MediumHighHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &["passport", "passport no", "passport number", "passport#"],
        patterns: &[r"(?-u:\b)(?:[0-9]{9}|[A-Z][0-9]{8})(?-u:\b)"],
        validate: not_all_zero,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "DRIVERS_LICENSE",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "driver's license",
            "drivers license",
            "driver license",
            "driver's licence",
            "drivers licence",
            "driving licence",
            "dl#",
            "dl #",
            "dl no",
            "dl number",
            "license number",
            "licence number",
            "lic#",
        ],
        patterns: &[
            r"(?-u:\b)(?:[A-Z]{1,2}[0-9]{4,14}|[A-Z][0-9]{3}-[0-9]{3}-[0-9]{2}-[0-9]{3}-[0-9]|[0-9]{7,12})(?-u:\b)",
        ],
        validate: not_all_zero,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "CREDIT_CARD_EXPIRATION",
        category: Category::FinancialInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "exp",
            "expiry",
            "expiration",
            "expires",
            "exp date",
            "valid thru",
            "valid through",
            "good thru",
            "expy",
            "mm/yy",
            "date d'expiration",
            "ablaufdatum",
            "caducidad",
            "scadenza",
        ],
        patterns: &[
            r"(?-u:\b)(?:(?:0[1-9]|1[0-2])[/-](?:20)?[0-9]{2}|(?i-u:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* 20[0-9]{2}|[0-9]{2}-(?i-u:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)|(?i-u:expy)=20[0-9]{2})(?-u:\b)",
        ],
        validate: expiry,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "CREDIT_CARD_SECURITY_CODE",
        category: Category::FinancialInformation,
        severity: SeverityClass::MediumHighHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "cvv",
            "cvv2",
            "cvc",
            "cvc2",
            "cid",
            "csc",
            "security code",
            "card verification",
            "verification code",
            "cryptogramme",
            "prüfnummer",
            "código de seguridad",
        ],
        patterns: &[r"(?-u:\b)[0-9]{3,4}(?-u:\b)"],
        validate: cvv,
        recommended: false,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "SWIFT_CODE",
        category: Category::FinancialInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &["swift", "bic", "swift code", "bic code", "bank identifier"],
        patterns: &[
            r"(?-u:\b)[A-Z]{4}(?:AD|AE|AT|AU|BE|BG|BR|CA|CH|CN|CY|CZ|DE|DK|EE|ES|FI|FR|GB|GR|HK|HR|HU|IE|IN|IT|JP|LT|LU|LV|MT|MX|NL|NO|NZ|PL|PT|RO|SE|SG|SI|SK|US|ZA)[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?-u:\b)",
        ],
        validate: always,
        recommended: false,
        macie: false,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "CREDIT_CARD_MAGNETIC_STRIPE",
        category: Category::FinancialInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "track 1",
            "track 2",
            "track1",
            "track2",
            "magnetic stripe",
            "mag stripe",
            "magstripe",
            "swipe",
            "card data",
        ],
        patterns: &[
            r"%B[0-9]{13,19}\^[A-Za-z /.]{2,26}\^[0-9]{4}[0-9]*\?",
            r";[0-9]{13,19}=[0-9]{4}[0-9]*\?",
        ],
        validate: mag_stripe,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "UK_DRIVERS_LICENSE",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "driving licence",
            "driving license",
            "dvla",
            "driver number",
            "licence number",
            "driving licence number",
        ],
        patterns: &[
            r"(?-u:\b)[A-Z9]{5}[0-9][0156][0-9][0-3][0-9][0-9][A-Z9]{2}[0-9][A-Z]{2}(?-u:\b)",
        ],
        validate: always,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "CANADA_DRIVERS_LICENSE",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "driver's licence",
            "drivers licence",
            "driver licence",
            "permis de conduire",
            "ontario licence",
            "licence number",
        ],
        patterns: &[r"(?-u:\b)[A-Z][0-9]{4}-?[0-9]{5}-?[0-9]{5}(?-u:\b)"],
        validate: always,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "UK_ELECTORAL_ROLL_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "electoral roll",
            "electoral number",
            "electoral register",
            "elector number",
            "polling number",
        ],
        patterns: &[r"(?-u:\b)[A-Z]{2,3}[0-9]{1,4}(?-u:\b)"],
        validate: always,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "FRANCE_NATIONAL_IDENTIFICATION_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "nir",
            "insee",
            "numéro de sécurité sociale",
            "numero de securite sociale",
            "sécurité sociale",
            "carte vitale",
            "numéro d'identification",
            "national identification",
        ],
        patterns: &[
            r"(?-u:\b)[12] ?[0-9]{2} ?(?:0[1-9]|1[0-2]|[2-9][0-9]) ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}(?-u:\b)",
        ],
        validate: france_nir,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "GERMANY_NATIONAL_IDENTIFICATION_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "personalausweis",
            "ausweisnummer",
            "ausweis",
            "identity card",
            "id card",
            "personalausweisnummer",
        ],
        patterns: &[r"(?-u:\b)[CFGHJKLMNPRTVWXYZ][CFGHJKLMNPRTVWXYZ0-9]{8}[0-9](?-u:\b)"],
        validate: germany_id,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "ITALY_NATIONAL_IDENTIFICATION_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "codice fiscale",
            "carta d'identità",
            "carta di identità",
            "fiscal code",
        ],
        patterns: &[
            r"(?-u:\b)[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z](?-u:\b)",
        ],
        validate: always,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "SPAIN_DNI_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "dni",
            "documento nacional de identidad",
            "número de dni",
            "numero de dni",
            "nif",
        ],
        patterns: &[r"(?-u:\b)[0-9]{8}[ -]?[A-Z](?-u:\b)"],
        validate: spain_dni,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "SPAIN_NIE_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "nie",
            "número de identidad de extranjero",
            "numero de identidad de extranjero",
            "extranjero",
        ],
        patterns: &[r"(?-u:\b)[XYZ][ -]?[0-9]{7}[ -]?[A-Z](?-u:\b)"],
        validate: spain_nie,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "SPAIN_SOCIAL_SECURITY_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "seguridad social",
            "número de la seguridad social",
            "numero de seguridad social",
            "nuss",
            "naf",
        ],
        patterns: &[r"(?-u:\b)[0-9]{2}[ /-]?[0-9]{8}[ /-]?[0-9]{2}(?-u:\b)"],
        validate: spain_ssn,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "CANADA_PASSPORT_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::MediumHighHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "passport",
            "passeport",
            "canadian passport",
            "passport number",
        ],
        patterns: &[r"(?-u:\b)[A-Z]{2}[0-9]{6}(?-u:\b)"],
        validate: always,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "FRANCE_PASSPORT_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::MediumHighHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &["passeport", "numéro de passeport", "french passport"],
        patterns: &[r"(?-u:\b)[0-9]{2}[A-Z]{2}[0-9]{5}(?-u:\b)"],
        validate: always,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "GERMANY_PASSPORT_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::MediumHighHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "reisepass",
            "reisepassnummer",
            "passnummer",
            "german passport",
        ],
        patterns: &[r"(?-u:\b)[CFGHJK][CFGHJKLMNPRTVWXYZ0-9]{8}(?-u:\b)"],
        validate: has_digit,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "ITALY_PASSPORT_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::MediumHighHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &["passaporto", "numero passaporto", "italian passport"],
        patterns: &[r"(?-u:\b)[A-Z]{2}[0-9]{7}(?-u:\b)"],
        validate: always,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "SPAIN_PASSPORT_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::MediumHighHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &["pasaporte", "número de pasaporte", "spanish passport"],
        patterns: &[r"(?-u:\b)[A-Z]{3}[0-9]{6}(?-u:\b)"],
        validate: always,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "UK_PASSPORT_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::MediumHighHigh,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "uk passport",
            "british passport",
            "gb passport",
            "hm passport",
        ],
        patterns: &[r"(?-u:\b)[0-9]{9}(?-u:\b)"],
        validate: not_all_zero,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "INDIA_PERMANENT_ACCOUNT_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &["pan", "permanent account number", "pan card", "income tax"],
        patterns: &[r"(?-u:\b)[A-Z]{3}[PCHFATBLJG][A-Z][0-9]{4}[A-Z](?-u:\b)"],
        validate: always,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "AUSTRALIA_TAX_FILE_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &["tfn", "tax file number", "tax file no"],
        patterns: &[r"(?-u:\b)[0-9]{3} ?[0-9]{3} ?[0-9]{2,3}(?-u:\b)"],
        validate: au_tfn,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "UK_TAX_IDENTIFICATION_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "utr",
            "unique taxpayer reference",
            "tax reference",
            "self assessment",
            "taxpayer reference",
        ],
        patterns: &[r"(?-u:\b)[0-9]{5} ?[0-9]{5}(?-u:\b)"],
        validate: not_all_zero,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "GERMANY_TAX_IDENTIFICATION_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "steuer-id",
            "steuerid",
            "steueridentifikationsnummer",
            "steuernummer",
            "identifikationsnummer",
            "tax id",
        ],
        patterns: &[r"(?-u:\b)[1-9][0-9]{2} ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}(?-u:\b)"],
        validate: not_all_zero,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "FRANCE_TAX_IDENTIFICATION_NUMBER",
        category: Category::PersonalInformation,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "numéro fiscal",
            "numero fiscal",
            "spi",
            "référence fiscale",
            "tax id",
            "identifiant fiscal",
        ],
        patterns: &[r"(?-u:\b)[0-3] ?[0-9]{2} ?[0-9]{3} ?[0-9]{3} ?[0-9]{3} ?[0-9]{1}(?-u:\b)"],
        validate: not_all_zero,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "ADDRESS",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[
            // US: number, street, suffix, optional unit, city, state, ZIP.
            r"(?-u:\b)[0-9]{1,6} (?:[A-Z][a-z]+ ){1,4}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl)\.?,?(?: (?:Apt\.?|Suite|Ste\.?|Unit|#) ?[0-9A-Za-z-]{1,6},?)? (?:[A-Z][a-z]+ ){0,3}[A-Z][a-z]+,? [A-Z]{2} [0-9]{5}(?:-[0-9]{4})?(?-u:\b)",
            // UK: number, street, town, postcode.
            r"(?-u:\b)[0-9]{1,4} (?:[A-Z][a-z]+ ){1,4}(?:Street|Road|Lane|Avenue|Close|Drive|Way|Gardens|Crescent|Place|Square|Terrace|Hill|Grove|Row|Mews),? (?:[A-Z][a-z]+ ){0,3}[A-Z][a-z]+,? [A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}(?-u:\b)",
        ],
        validate: address,
        recommended: false,
        macie: true,
        confidence: Confidence::Low,
        special: Special::None,
    },
    Managed {
        id: "NAME",
        category: Category::PersonalInformation,
        severity: SeverityClass::LowMediumHigh,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[],
        patterns: &[
            r"(?-u:\b)[A-Z][a-z]{1,14} (?:[A-Z]\. )?[A-Z][a-z]{1,19}(?:-[A-Z][a-z]{1,19})?(?-u:\b)",
        ],
        validate: name,
        recommended: false,
        macie: true,
        confidence: Confidence::Low,
        special: Special::Name,
    },
    Managed {
        id: "AWS_CREDENTIALS",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::Required,
        no_keyword_id: None,
        keywords: &[
            "aws_secret_access_key",
            "aws_secret_key",
            "secret access key",
            "secretaccesskey",
            "secret_access_key",
            "secret key",
            "set-awscredential",
            "credentials",
            "aws_secret",
            "akia",
            "asia",
        ],
        patterns: &[r"(?-u:\b)[A-Za-z0-9/+]{40}(?-u:\b)"],
        validate: aws_secret,
        recommended: true,
        macie: true,
        confidence: Confidence::High,
        special: Special::None,
    },
    Managed {
        id: "GENERIC_SECRET",
        category: Category::Credentials,
        severity: SeverityClass::High,
        keyword: KeywordRule::No,
        no_keyword_id: None,
        keywords: &[
            "secret",
            "passwd",
            "password",
            "pwd",
            "token",
            "api_key",
            "api-key",
            "apikey",
            "access_key",
            "access-key",
            "accesskey",
            "auth_key",
            "auth-key",
            "authkey",
            "private_key",
            "private-key",
            "privatekey",
            "client_secret",
        ],
        patterns: &[
            r#"(?i-u:secret|passwd|password|pwd|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|private[_-]?key|client[_-]?secret)[A-Za-z0-9_.-]{0,20}["']?[ \t]*[:=][ \t]*["']?[A-Za-z0-9+/_.=~-]{16,128}["']?"#,
        ],
        validate: generic_secret,
        recommended: false,
        macie: false,
        confidence: Confidence::High,
        special: Special::None,
    },
];

/// Looks up a managed identifier by ID, including IDs it resolves to (IBAN countries, the
/// no-keyword card ID).
pub fn find(id: &str) -> Option<&'static Managed> {
    MANAGED.iter().find(|m| {
        m.id == id || m.no_keyword_id == Some(id) || (m.id == "IBAN" && IBAN_IDS.contains(&id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trigger_literal_has_a_place_in_the_tuned_order() {
        // A literal missing from TRIGGER_ORDER goes last, which may slow every scan; rerun the
        // `trigger_order` example after adding one.
        for m in MANAGED {
            if let Pass::Literal(t) | Pass::Token(t) = pass_of(m) {
                for (l, _) in t {
                    assert!(TRIGGER_ORDER.contains(l), "{}: {l}", m.id);
                }
            }
        }
        let mut sorted = TRIGGER_ORDER.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            TRIGGER_ORDER.len(),
            "a literal is listed twice"
        );
    }

    #[test]
    fn iban_ids_cover_countries() {
        for (_, _, name) in crate::validate::IBAN_COUNTRIES {
            assert_ne!(iban_id(name), "IBAN", "{name}");
        }
    }

    #[test]
    fn date_parsing() {
        assert_eq!(date_parts(b"03/14/1985"), Some((1985, 3, 14)));
        assert_eq!(date_parts(b"1985-03-14"), Some((1985, 3, 14)));
        assert_eq!(date_parts(b"March 14, 1985"), Some((1985, 3, 14)));
        assert_eq!(date_parts(b"14 March 1985"), Some((1985, 3, 14)));
        assert_eq!(date_parts(b"25/12/1990"), Some((1990, 12, 25)));
    }
}

/// Which pass finds an identifier's candidates (see `engine`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Every candidate holds a digit: searched in windows around digit runs.
    Digits,
    /// Every candidate holds (or follows) one of these case-sensitive literals: searched in windows
    /// of the given extent after each hit.
    Literal(&'static [(&'static str, usize)]),
    /// Like `Literal`, for values that hold no space, tab or line break after the literal (URLs,
    /// tokens): a window also ends at the first of those, so that a long extent costs nothing
    /// when the value is short.
    Token(&'static [(&'static str, usize)]),
    /// Searched over the whole buffer on its own (the regex engine has a good prefilter for it).
    Whole,
    /// A dedicated scanner (`Special`).
    Special,
    /// Searched before where addresses end: a ZIP code after a state code, a UK postcode's
    /// inward code.
    Address,
}

const PEM: usize = 64 << 10;

/// The order in which the literals of the `Literal` and `Token` passes are handed to the trigger
/// automaton.
///
/// Why it matters: the automaton's prefilter (aho-corasick's Teddy, 16 buckets for more than 32
/// literals) puts literals with the same first bytes in one bucket and gives each new prefix the
/// bucket its position selects. A bucket flags any three bytes whose nibbles match one of its
/// literals', so literals sharing a bucket widen each other's net, and which ones share decides
/// how often ordinary text stops the scan for a check. Sorted, they flagged prose so often that
/// this pass ran at 1.6-3.5 GB/s; this order, found by a search measured on generated prose,
/// PII-dense text, Rust source and English licences and release notes
/// (`cargo run --release -p palisade-discovery --example trigger_order -- FILES...`), runs at
/// 2.1-11 GB/s on the same files, and 1.7 -> 2.1 GB/s on changelogs it was not tuned on.
/// Literals not listed go last.
pub const TRIGGER_ORDER: &[&str] = &[
    "bic",
    "ASIA",
    "k_test_",
    "ACCA",
    "TOKEN",
    "AKIA",
    "ghr_",
    "WWW.",
    "KEY",
    "Swift",
    "pwd",
    "://",
    "Passw",
    "PASSW",
    "SECRET",
    "SWIFT",
    "passw",
    "secret",
    "github_pat_",
    "Token",
    "AIza",
    "swift",
    "-----BEGIN",
    "eyJ",
    "Secret",
    "ABIA",
    "k_live_",
    "PWD",
    "key",
    "UTHORIZATION",
    "hooks.slack.com",
    "ghp_",
    "ghs_",
    "ghu_",
    "www.",
    "uthorization",
    "Key",
    "PuTTY-User-Key-File",
    "token",
    "BIC",
    "gho_",
    "xox",
];

/// The pass of a managed identifier.
pub fn pass_of(m: &Managed) -> Pass {
    match m.id {
        "EMAIL_ADDRESS" => Pass::Whole,
        "NAME" => Pass::Special,
        "ADDRESS" => Pass::Address,
        "PKCS" | "OPENSSH_PRIVATE_KEY" | "PGP_PRIVATE_KEY" => Pass::Literal(&[("-----BEGIN", PEM)]),
        "PUTTY_PRIVATE_KEY" => Pass::Literal(&[("PuTTY-User-Key-File", 16 << 10)]),
        "HTTP_BASIC_AUTH_HEADER" => {
            Pass::Literal(&[("uthorization", 1024), ("UTHORIZATION", 1024)])
        }
        "JSON_WEB_TOKEN" => Pass::Token(&[("eyJ", 16 << 10)]),
        "STRIPE_CREDENTIALS" => Pass::Token(&[("k_live_", 128), ("k_test_", 128)]),
        "GCP_API_KEY" => Pass::Token(&[("AIza", 64)]),
        "GITHUB_TOKEN" => Pass::Token(&[
            ("ghp_", 64),
            ("gho_", 64),
            ("ghu_", 64),
            ("ghs_", 64),
            ("ghr_", 64),
            ("github_pat_", 128),
        ]),
        "SLACK_TOKEN" => Pass::Token(&[("xox", 160), ("hooks.slack.com", 160)]),
        "AWS_ACCESS_KEY_ID" => {
            Pass::Token(&[("AKIA", 32), ("ASIA", 32), ("ABIA", 32), ("ACCA", 32)])
        }
        "URL" => Pass::Token(&[("://", 4096), ("www.", 4096), ("WWW.", 4096)]),
        "GENERIC_SECRET" => Pass::Literal(&[
            ("secret", 200),
            ("Secret", 200),
            ("SECRET", 200),
            ("passw", 200),
            ("Passw", 200),
            ("PASSW", 200),
            ("pwd", 200),
            ("PWD", 200),
            ("token", 200),
            ("Token", 200),
            ("TOKEN", 200),
            ("key", 200),
            ("Key", 200),
            ("KEY", 200),
        ]),
        "SWIFT_CODE" => Pass::Literal(&[
            ("swift", 64),
            ("SWIFT", 64),
            ("Swift", 64),
            ("BIC", 64),
            ("bic", 64),
        ]),
        _ => Pass::Digits,
    }
}
