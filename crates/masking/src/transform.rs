//! Transforms: the specification a rule carries (deserialized from the rules file) and its
//! compiled form, which holds prepared keys so that applying it to a value is cheap.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::aead::LessSafeKey;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::crypto::ff1::Ff1;
use crate::crypto::hmac::HmacSha256;
use crate::crypto::siv::{AesSiv, S2vState};
use crate::keys::{Keys, open_with, seal_with};

/// A transform and its parameters, as written in a rules or policies file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TransformSpec {
    /// Remove the value (an empty CSV cell, a removed JSON member, a removed text span).
    Redact,
    /// Replace with a fixed value, by default the type placeholder `<TYPE>`.
    Replace(ReplaceSpec),
    /// Partial masking with a character.
    Mask(MaskSpec),
    /// HMAC-SHA256 keyed hash.
    Hash(HashSpec),
    /// Deterministic encryption, AES-SIV (RFC 5297).
    DeterministicEncrypt(SivSpec),
    /// Probabilistic encryption, AES-256-GCM under a per-run data key (envelope).
    Encrypt(EncryptSpec),
    /// Format-preserving encryption, FF1 (NIST SP 800-38G).
    Fpe(FpeSpec),
    /// Shift dates by a keyed, bounded number of days, the same for one entity.
    DateShift(DateShiftSpec),
    /// Generalize numbers into fixed-size buckets.
    Bucket(BucketSpec),
    /// Generalize dates to the year, month or day.
    DateTruncate(DateTruncateSpec),
    /// Keep a prefix (postal codes and the like), optionally padded to the original length.
    Truncate(TruncateSpec),
    /// Replace with null (an empty CSV cell, JSON null).
    Null,
    /// A random integer between two bounds.
    RandomBetween(RandomBetweenSpec),
    /// A random date between two dates.
    RandomDateBetween(RandomDateSpec),
    /// A random value from a list.
    RandomChoice(RandomChoiceSpec),
    /// Permute the column's values between rows (within each batch of rows).
    Shuffle,
    /// Leave the value as is (for policies, and to exempt a field from a broader rule).
    Keep,
}

/// Parameters of `replace`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReplaceSpec {
    /// The replacement; default `<TYPE>` where TYPE is the rule's info type.
    pub value: Option<String>,
}

/// A character class that `mask` can leave visible.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CharClass {
    /// Anything that is neither alphanumeric nor white space.
    Symbols,
    /// White space.
    Whitespace,
}

/// Parameters of `mask`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MaskSpec {
    /// The masking character, `*` by default.
    #[serde(default = "default_mask_char")]
    pub char: char,
    /// Maskable characters left visible at the start.
    #[serde(default)]
    pub keep_first: usize,
    /// Maskable characters left visible at the end (4 keeps a card's last four digits).
    #[serde(default)]
    pub keep_last: usize,
    /// Mask at most this many characters (Presidio's `chars_to_mask`).
    pub count: Option<usize>,
    /// With `count`, mask from the end instead of the start.
    #[serde(default)]
    pub from_end: bool,
    /// Range start, 0-based, negative from the end (DataBrew MASK_RANGE).
    pub start: Option<i64>,
    /// Range stop (exclusive), negative from the end.
    pub stop: Option<i64>,
    /// Mask only after this delimiter (DataBrew MASK_DELIMITER).
    pub start_delimiter: Option<String>,
    /// Mask only before this delimiter.
    pub end_delimiter: Option<String>,
    /// Leave the delimiters visible (default true).
    #[serde(default = "yes")]
    pub preserve_delimiters: bool,
    /// Character classes left visible.
    #[serde(default)]
    pub unmasked: Vec<CharClass>,
}

fn default_mask_char() -> char {
    '*'
}

fn yes() -> bool {
    true
}

/// Output encoding of `hash`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Lowercase hexadecimal.
    #[default]
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// Parameters of `hash`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HashSpec {
    /// Key name in the key file.
    pub key: String,
    /// Context mixed into the key (e.g. the column name, so equal values in two columns
    /// hash differently); none by default, so that hashes join across columns.
    pub context: Option<String>,
    /// Output encoding.
    #[serde(default)]
    pub encoding: Encoding,
}

/// Parameters of `deterministic_encrypt`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SivSpec {
    /// Key name in the key file.
    pub key: String,
    /// Associated data: the same value gets another token under another context.
    pub context: Option<String>,
    /// Surrogate info type: output `TYPE(len):token`, findable and reversible in free text.
    pub surrogate: Option<String>,
}

/// Parameters of `encrypt`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EncryptSpec {
    /// Key name in the key file (`kms_key` for KMS data keys, or a local key).
    pub key: String,
    /// Associated data.
    pub context: Option<String>,
    /// Surrogate info type, as for `deterministic_encrypt`.
    pub surrogate: Option<String>,
}

/// An FF1 alphabet.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AlphabetSpec {
    /// `0-9` (radix 10).
    Numeric,
    /// `0-9a-f` (radix 16).
    Hexadecimal,
    /// `0-9A-Z` (radix 36).
    UpperAlphanumeric,
    /// `0-9a-z` (radix 36, the NIST sample alphabet).
    LowerAlphanumeric,
    /// `0-9A-Za-z` (radix 62).
    Alphanumeric,
    /// Any string of distinct characters.
    Custom(String),
}

/// Parameters of `fpe`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FpeSpec {
    /// Key name in the key file.
    pub key: String,
    /// Alphabet; characters outside it stay in place. Default numeric.
    pub alphabet: Option<AlphabetSpec>,
    /// Shorthand for the alphabet: 10, 16, 36 (lowercase) or 62.
    pub radix: Option<u32>,
    /// Tweak (e.g. the column name).
    pub context: Option<String>,
    /// Surrogate info type, as for `deterministic_encrypt`.
    pub surrogate: Option<String>,
}

/// How far `date_shift` may move a date either way: the days from -9999-01-01 to 9999-12-31,
/// the calendar's range (a test checks it against `time`'s).
const MAX_SHIFT_DAYS: u64 = 7_304_483;

/// Parameters of `date_shift`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DateShiftSpec {
    /// Key name in the key file.
    pub key: String,
    /// Smallest shift, in days (may be negative).
    pub lower_days: i64,
    /// Largest shift, in days.
    pub upper_days: i64,
    /// Column or path whose value picks the shift (all dates of one patient move together);
    /// without it the whole dataset moves by one keyed shift.
    pub entity: Option<String>,
    /// A `time` format description for the date (default: ISO `YYYY-MM-DD` prefix, any time
    /// of day after it is kept).
    pub format: Option<String>,
}

/// Parameters of `bucket`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    /// Bucket width.
    pub size: f64,
    /// Values below go to `<min`.
    pub min: Option<f64>,
    /// Values at or above go to `>=max`.
    pub max: Option<f64>,
}

/// Granularity of `date_truncate`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DatePart {
    /// `YYYY`.
    Year,
    /// `YYYY-MM`.
    Month,
    /// `YYYY-MM-DD` (drops the time of day).
    Day,
}

/// Parameters of `date_truncate`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DateTruncateSpec {
    /// Granularity.
    pub to: DatePart,
}

/// Parameters of `truncate`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TruncateSpec {
    /// Characters kept.
    pub keep: usize,
    /// Pad back to the original length with this character.
    pub pad: Option<char>,
}

/// Parameters of `random_between`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RandomBetweenSpec {
    /// Lower bound, inclusive.
    pub min: i64,
    /// Upper bound, inclusive.
    pub max: i64,
}

/// Parameters of `random_date_between`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RandomDateSpec {
    /// First date, `YYYY-MM-DD`.
    pub start: String,
    /// Last date, `YYYY-MM-DD`.
    pub end: String,
}

/// Parameters of `random_choice`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RandomChoiceSpec {
    /// The candidates.
    pub values: Vec<String>,
}

/// The result of masking one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Masked {
    /// A new value.
    Value(String),
    /// Null (empty in CSV).
    Null,
    /// Removed (empty in CSV, member removed in JSON, span removed in text).
    Remove,
    /// Unchanged.
    Keep,
}

/// Why a value could not be transformed; the caller adds the rule and field.
pub type ValueError = String;

/// A prepared transform.
#[derive(Debug)]
pub struct Transform {
    op: Op,
}

enum Op {
    Redact,
    Replace {
        value: Option<String>,
        default: String,
    },
    Mask(MaskSpec),
    Hash {
        key: HmacSha256,
        base64: bool,
    },
    Siv {
        siv: AesSiv,
        state: S2vState,
        surrogate: Option<String>,
    },
    Encrypt {
        data_key: Option<crate::keys::DataKey>,
        opened: HashMap<[u8; 4], Arc<LessSafeKey>>,
        aad: Vec<u8>,
        surrogate: Option<String>,
    },
    Fpe {
        ff1: Ff1,
        alphabet: Alphabet,
        tweak: Vec<u8>,
        surrogate: Option<String>,
    },
    DateShift {
        key: HmacSha256,
        lower: i64,
        span: u64,
        entity: Option<String>,
        format: Option<Vec<time::format_description::OwnedFormatItem>>,
    },
    Bucket(BucketSpec),
    DateTruncate(DatePart),
    Truncate(TruncateSpec),
    Null,
    RandomBetween(i64, i64),
    RandomDate(Date, Date),
    RandomChoice(Vec<String>),
    Shuffle,
    Keep,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of debug output; the variant name is enough.
        let name = match self {
            Op::Redact => "redact",
            Op::Replace { .. } => "replace",
            Op::Mask(_) => "mask",
            Op::Hash { .. } => "hash",
            Op::Siv { .. } => "deterministic_encrypt",
            Op::Encrypt { .. } => "encrypt",
            Op::Fpe { .. } => "fpe",
            Op::DateShift { .. } => "date_shift",
            Op::Bucket(_) => "bucket",
            Op::DateTruncate(_) => "date_truncate",
            Op::Truncate(_) => "truncate",
            Op::Null => "null",
            Op::RandomBetween(..) => "random_between",
            Op::RandomDate(..) => "random_date_between",
            Op::RandomChoice(_) => "random_choice",
            Op::Shuffle => "shuffle",
            Op::Keep => "keep",
        };
        f.write_str(name)
    }
}

/// Whether a transform is being prepared for masking or for unmasking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Masking.
    Mask,
    /// Unmasking (only reversible transforms do anything).
    Unmask,
}

impl TransformSpec {
    /// The transform's name as written in rules files.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Redact => "redact",
            Self::Replace(_) => "replace",
            Self::Mask(_) => "mask",
            Self::Hash(_) => "hash",
            Self::DeterministicEncrypt(_) => "deterministic_encrypt",
            Self::Encrypt(_) => "encrypt",
            Self::Fpe(_) => "fpe",
            Self::DateShift(_) => "date_shift",
            Self::Bucket(_) => "bucket",
            Self::DateTruncate(_) => "date_truncate",
            Self::Truncate(_) => "truncate",
            Self::Null => "null",
            Self::RandomBetween(_) => "random_between",
            Self::RandomDateBetween(_) => "random_date_between",
            Self::RandomChoice(_) => "random_choice",
            Self::Shuffle => "shuffle",
            Self::Keep => "keep",
        }
    }

    /// Whether `unmask` can reverse it with the key.
    pub fn reversible(&self) -> bool {
        matches!(
            self,
            Self::DeterministicEncrypt(_) | Self::Encrypt(_) | Self::Fpe(_) | Self::DateShift(_)
        )
    }

    /// The surrogate info type, for the transforms that can emit one.
    pub fn surrogate(&self) -> Option<&str> {
        match self {
            Self::DeterministicEncrypt(s) => s.surrogate.as_deref(),
            Self::Encrypt(s) => s.surrogate.as_deref(),
            Self::Fpe(s) => s.surrogate.as_deref(),
            _ => None,
        }
    }

    /// The entity field a date shift depends on.
    pub fn entity(&self) -> Option<&str> {
        match self {
            Self::DateShift(s) => s.entity.as_deref(),
            _ => None,
        }
    }

    /// Prepares the transform. `info_type` names the placeholder of `replace`.
    pub fn compile(
        &self,
        info_type: &str,
        keys: &mut Keys,
        direction: Direction,
    ) -> Result<Transform, crate::MaskError> {
        let bad = |m: String| crate::MaskError::Rule {
            rule: String::new(),
            message: m,
        };
        let op = match self {
            Self::Redact => Op::Redact,
            Self::Replace(r) => Op::Replace {
                value: r.value.clone(),
                default: format!("<{info_type}>"),
            },
            Self::Mask(m) => {
                if m.count.is_some() && (m.keep_first > 0 || m.keep_last > 0) {
                    return Err(bad(
                        "mask: count cannot be combined with keep_first/keep_last".into(),
                    ));
                }
                if (m.start.is_some() || m.stop.is_some())
                    && (m.start_delimiter.is_some() || m.end_delimiter.is_some())
                {
                    return Err(bad(
                        "mask: start/stop cannot be combined with delimiters".into()
                    ));
                }
                Op::Mask(m.clone())
            }
            Self::Hash(h) => {
                let ctx = h.context.as_deref().unwrap_or("");
                let k = keys.derive(&h.key, "hash", ctx.as_bytes(), 32)?;
                Op::Hash {
                    key: HmacSha256::new(&k),
                    base64: h.encoding == Encoding::Base64,
                }
            }
            Self::DeterministicEncrypt(s) => {
                check_surrogate(s.surrogate.as_deref()).map_err(bad)?;
                let k = keys.derive(&s.key, "aes-siv", b"", 64)?;
                let siv = AesSiv::new(&k).map_err(|e| bad(e.to_string()))?;
                let ctx = s.context.as_deref().unwrap_or("");
                let state = siv
                    .associate(&[ctx.as_bytes()])
                    .map_err(|e| bad(e.to_string()))?;
                Op::Siv {
                    siv,
                    state,
                    surrogate: s.surrogate.clone(),
                }
            }
            Self::Encrypt(s) => {
                check_surrogate(s.surrogate.as_deref()).map_err(bad)?;
                let data_key = match direction {
                    Direction::Mask => Some(keys.data_key(&s.key)?),
                    Direction::Unmask => None,
                };
                Op::Encrypt {
                    data_key,
                    opened: keys.opened(),
                    aad: s.context.clone().unwrap_or_default().into_bytes(),
                    surrogate: s.surrogate.clone(),
                }
            }
            Self::Fpe(f) => {
                check_surrogate(f.surrogate.as_deref()).map_err(bad)?;
                let alphabet = Alphabet::new(f).map_err(bad)?;
                let k = keys.derive(&f.key, "ff1", b"", 32)?;
                let ff1 = Ff1::new(&k, alphabet.radix()).map_err(|e| bad(e.to_string()))?;
                let tweak = f.context.clone().unwrap_or_default().into_bytes();
                Op::Fpe {
                    ff1,
                    alphabet,
                    tweak,
                    surrogate: f.surrogate.clone(),
                }
            }
            Self::DateShift(d) => {
                if d.lower_days > d.upper_days {
                    return Err(bad("date_shift: lower_days is above upper_days".into()));
                }
                // Bug: bounds near i64's ends overflowed (the run died with a panic); no date
                // can move further than the calendar's range anyway.
                for (name, v) in [("lower_days", d.lower_days), ("upper_days", d.upper_days)] {
                    if v.unsigned_abs() > MAX_SHIFT_DAYS {
                        return Err(bad(format!(
                            "date_shift: {name} {v} is outside -{MAX_SHIFT_DAYS}..={MAX_SHIFT_DAYS} \
                             (the span of dates from year -9999 to 9999)"
                        )));
                    }
                }
                let format = match &d.format {
                    None => None,
                    Some(f) => Some(vec![
                        time::format_description::parse_owned::<2>(f)
                            .map_err(|e| bad(format!("date_shift: format {f:?}: {e}")))?,
                    ]),
                };
                let k = keys.derive(&d.key, "date-shift", b"", 32)?;
                Op::DateShift {
                    key: HmacSha256::new(&k),
                    lower: d.lower_days,
                    span: d.upper_days.abs_diff(d.lower_days) + 1,
                    entity: d.entity.clone(),
                    format,
                }
            }
            Self::Bucket(b) => {
                if !(b.size.is_finite() && b.size > 0.0) {
                    return Err(bad("bucket: size must be positive".into()));
                }
                Op::Bucket(b.clone())
            }
            Self::DateTruncate(d) => Op::DateTruncate(d.to),
            Self::Truncate(t) => Op::Truncate(t.clone()),
            Self::Null => Op::Null,
            Self::RandomBetween(r) => {
                if r.min > r.max {
                    return Err(bad("random_between: min is above max".into()));
                }
                Op::RandomBetween(r.min, r.max)
            }
            Self::RandomDateBetween(r) => {
                let s = parse_iso_date(&r.start).ok_or_else(|| {
                    bad(format!(
                        "random_date_between: start {:?} is not YYYY-MM-DD",
                        r.start
                    ))
                })?;
                let e = parse_iso_date(&r.end).ok_or_else(|| {
                    bad(format!(
                        "random_date_between: end {:?} is not YYYY-MM-DD",
                        r.end
                    ))
                })?;
                if s > e {
                    return Err(bad("random_date_between: start is after end".into()));
                }
                Op::RandomDate(s, e)
            }
            Self::RandomChoice(c) => {
                if c.values.is_empty() {
                    return Err(bad("random_choice: values is empty".into()));
                }
                Op::RandomChoice(c.values.clone())
            }
            Self::Shuffle => Op::Shuffle,
            Self::Keep => Op::Keep,
        };
        Ok(Transform { op })
    }
}

fn check_surrogate(s: Option<&str>) -> Result<(), String> {
    match s {
        Some(t)
            if t.is_empty()
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                || !t.as_bytes().first().is_some_and(u8::is_ascii_uppercase) =>
        {
            Err(format!("surrogate {t:?} must match [A-Z][A-Z0-9_]*"))
        }
        _ => Ok(()),
    }
}

impl Transform {
    /// Whether this is `shuffle` (applied by the engine over a batch).
    pub fn is_shuffle(&self) -> bool {
        matches!(self.op, Op::Shuffle)
    }

    /// Whether this is envelope encryption (`encrypt`), whose data keys a manifest keeps.
    pub fn is_envelope(&self) -> bool {
        matches!(self.op, Op::Encrypt { .. })
    }

    /// The result for any value when it does not depend on the value (`redact`, `null`):
    /// such transforms apply to a JSON object or array as a whole, where the others apply
    /// to its leaves.
    /// Whether the output depends on the value (`redact`, `null`, `replace` and the `random_*`
    /// take no account of it; `keep` writes it back): a value that is not text is refused only
    /// by those that read it.
    pub fn reads_value(&self) -> bool {
        !matches!(
            self.op,
            Op::Redact
                | Op::Null
                | Op::Replace { .. }
                | Op::RandomBetween(..)
                | Op::RandomDate(..)
                | Op::RandomChoice(_)
        )
    }

    pub fn whole_value(&self) -> Option<Masked> {
        match self.op {
            Op::Redact => Some(Masked::Remove),
            Op::Null => Some(Masked::Null),
            _ => None,
        }
    }

    /// The entity field a date shift depends on.
    pub fn entity(&self) -> Option<&str> {
        match &self.op {
            Op::DateShift { entity, .. } => entity.as_deref(),
            _ => None,
        }
    }

    /// Whether this is a format-preserving encryption whose output is a decimal number
    /// whenever its input is: the ten digits as its alphabet, and no surrogate prefix.
    pub fn is_decimal_fpe(&self) -> bool {
        match &self.op {
            Op::Fpe {
                alphabet,
                surrogate: None,
                ..
            } => alphabet.chars.len() == 10 && alphabet.chars.iter().all(char::is_ascii_digit),
            _ => false,
        }
    }

    /// The surrogate info type this transform emits, if any.
    pub fn surrogate(&self) -> Option<&str> {
        match &self.op {
            Op::Siv { surrogate, .. }
            | Op::Encrypt { surrogate, .. }
            | Op::Fpe { surrogate, .. } => surrogate.as_deref(),
            _ => None,
        }
    }

    /// Masks one value. `entity` is the entity field's value for `date_shift`.
    pub fn apply(&self, value: &str, entity: Option<&str>) -> Result<Masked, ValueError> {
        self.apply_as(value, entity, None)
    }

    /// Masks one detected value of type `detected` (which names `replace` placeholders).
    pub fn apply_as(
        &self,
        value: &str,
        entity: Option<&str>,
        detected: Option<&str>,
    ) -> Result<Masked, ValueError> {
        Ok(match &self.op {
            Op::Redact => Masked::Remove,
            Op::Replace { value: Some(v), .. } => Masked::Value(v.clone()),
            Op::Replace {
                value: None,
                default,
            } => Masked::Value(match detected {
                Some(t) => format!("<{t}>"),
                None => default.clone(),
            }),
            Op::Mask(m) => Masked::Value(mask(m, value)),
            Op::Hash { key, base64 } => {
                let tag = key.sign(value.as_bytes());
                Masked::Value(if *base64 {
                    B64.encode(tag)
                } else {
                    to_hex(&tag)
                })
            }
            Op::Siv {
                siv,
                state,
                surrogate,
            } => {
                let sealed = siv
                    .seal(*state, value.as_bytes())
                    .map_err(|e| e.to_string())?;
                Masked::Value(with_surrogate(surrogate.as_deref(), B64URL.encode(sealed)))
            }
            Op::Encrypt {
                data_key,
                aad,
                surrogate,
                ..
            } => {
                let dk = data_key.as_ref().ok_or("no data key for encryption")?;
                let sealed =
                    seal_with(&dk.key, aad, value.as_bytes()).map_err(|e| e.to_string())?;
                let mut raw = Vec::with_capacity(4 + sealed.len());
                raw.extend_from_slice(&dk.key_ref);
                raw.extend_from_slice(&sealed);
                Masked::Value(with_surrogate(surrogate.as_deref(), B64URL.encode(raw)))
            }
            Op::Fpe {
                ff1,
                alphabet,
                tweak,
                surrogate,
            } => {
                let out = fpe(ff1, alphabet, tweak, value, true)?;
                Masked::Value(with_surrogate(surrogate.as_deref(), out))
            }
            Op::DateShift {
                key,
                lower,
                span,
                format,
                ..
            } => {
                let days = shift_days(key, *lower, *span, entity.unwrap_or(""));
                Masked::Value(shift_date(value, days, format.as_deref())?)
            }
            Op::Bucket(b) => Masked::Value(bucket(b, value)?),
            Op::DateTruncate(part) => Masked::Value(truncate_date(value, *part)?),
            Op::Truncate(t) => {
                let mut out: String = value.chars().take(t.keep).collect();
                if let Some(p) = t.pad {
                    let n = value.chars().count().saturating_sub(t.keep);
                    out.extend(std::iter::repeat_n(p, n));
                }
                Masked::Value(out)
            }
            Op::Null => Masked::Null,
            Op::RandomBetween(lo, hi) => {
                let span = hi.abs_diff(*lo).saturating_add(1);
                let r = random_below(span);
                Masked::Value(lo.saturating_add_unsigned(r).to_string())
            }
            Op::RandomDate(s, e) => {
                let span = (*e - *s).whole_days().unsigned_abs() + 1;
                let d = *s + time::Duration::days(i64::try_from(random_below(span)).unwrap_or(0));
                Masked::Value(iso_date(d))
            }
            Op::RandomChoice(values) => {
                let i = usize::try_from(random_below(values.len() as u64)).unwrap_or(0);
                Masked::Value(values.get(i).cloned().unwrap_or_default())
            }
            Op::Shuffle | Op::Keep => Masked::Keep,
        })
    }

    /// Reverses a reversible transform; others leave the value unchanged.
    pub fn invert(&self, value: &str, entity: Option<&str>) -> Result<Masked, ValueError> {
        Ok(match &self.op {
            Op::Siv {
                siv,
                state,
                surrogate,
            } => {
                let token = strip_surrogate(surrogate.as_deref(), value)?;
                let raw = B64URL.decode(token).map_err(|_| "token is not base64url")?;
                let plain = siv.open(*state, &raw).map_err(|e| e.to_string())?;
                Masked::Value(String::from_utf8(plain).map_err(|_| "decrypted value is not utf-8")?)
            }
            Op::Encrypt {
                opened,
                aad,
                surrogate,
                ..
            } => {
                let token = strip_surrogate(surrogate.as_deref(), value)?;
                let raw = B64URL.decode(token).map_err(|_| "token is not base64url")?;
                let (r, sealed) = raw.split_at_checked(4).ok_or("token too short")?;
                let r: [u8; 4] = r.try_into().map_err(|_| "token too short")?;
                let key = opened.get(&r).ok_or_else(|| {
                    format!(
                        "data key {} is not in the envelope manifest",
                        hex::encode(r)
                    )
                })?;
                let plain = open_with(key, aad, sealed).map_err(|e| e.to_string())?;
                Masked::Value(String::from_utf8(plain).map_err(|_| "decrypted value is not utf-8")?)
            }
            Op::Fpe {
                ff1,
                alphabet,
                tweak,
                surrogate,
            } => {
                let token = strip_surrogate(surrogate.as_deref(), value)?;
                Masked::Value(fpe(ff1, alphabet, tweak, token, false)?)
            }
            Op::DateShift {
                key,
                lower,
                span,
                format,
                ..
            } => {
                let days = shift_days(key, *lower, *span, entity.unwrap_or(""));
                Masked::Value(shift_date(value, -days, format.as_deref())?)
            }
            _ => Masked::Keep,
        })
    }
}

/// Lowercase hex; the `hex` crate's iterator is measurably slower on the hot path.
fn to_hex(bytes: &[u8]) -> String {
    let digit = |n: u8| char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 });
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(digit(b >> 4));
        s.push(digit(b & 15));
    }
    s
}

fn with_surrogate(surrogate: Option<&str>, token: String) -> String {
    match surrogate {
        None => token,
        Some(t) => format!("{t}({}):{token}", token.chars().count()),
    }
}

fn strip_surrogate<'a>(surrogate: Option<&str>, value: &'a str) -> Result<&'a str, ValueError> {
    let Some(t) = surrogate else { return Ok(value) };
    let rest = value
        .strip_prefix(t)
        .and_then(|r| r.strip_prefix('('))
        .ok_or_else(|| format!("value lacks the surrogate prefix {t}(len):"))?;
    let (len, token) = rest.split_once("):").ok_or("malformed surrogate prefix")?;
    let len: usize = len.parse().map_err(|_| "malformed surrogate length")?;
    if token.chars().count() != len {
        return Err("surrogate length does not match the token".into());
    }
    Ok(token)
}

fn mask(m: &MaskSpec, value: &str) -> String {
    // ASCII values (the common case) are masked as bytes, without decoding to chars.
    if value.is_ascii() && m.char.is_ascii() {
        let mut bytes = value.as_bytes().to_vec();
        mask_units(m, value, &mut bytes, char::from, m.char as u8);
        return String::from_utf8(bytes).unwrap_or_default();
    }
    let mut chars: Vec<char> = value.chars().collect();
    mask_units(m, value, &mut chars, |c| c, m.char);
    chars.into_iter().collect()
}

/// Masks `units` (the characters of `value`, as bytes when it is ASCII) in place.
fn mask_units<T: Copy>(
    m: &MaskSpec,
    value: &str,
    units: &mut [T],
    to_char: impl Fn(T) -> char,
    with: T,
) {
    let n = units.len();
    // 1. The region eligible for masking.
    let (lo, hi) = if m.start_delimiter.is_some() || m.end_delimiter.is_some() {
        delimited_region(m, value, n)
    } else {
        let resolve = |i: i64| -> usize {
            if i < 0 {
                n.saturating_sub(usize::try_from(i.unsigned_abs()).unwrap_or(usize::MAX))
            } else {
                usize::try_from(i).unwrap_or(usize::MAX).min(n)
            }
        };
        (m.start.map_or(0, resolve), m.stop.map_or(n, resolve))
    };
    let region = units.get_mut(lo..hi.max(lo)).unwrap_or(&mut []);
    // 2. Maskable characters in it.
    let keep_ws = m.unmasked.contains(&CharClass::Whitespace);
    let keep_sym = m.unmasked.contains(&CharClass::Symbols);
    let maskable = |c: char| {
        !(keep_ws && c.is_whitespace() || keep_sym && !c.is_alphanumeric() && !c.is_whitespace())
    };
    let total = region.iter().filter(|&&u| maskable(to_char(u))).count();
    // 3. Which of them (by rank) are masked.
    let (from, to) = match m.count {
        Some(c) if m.from_end => (total.saturating_sub(c), total),
        Some(c) => (0, c.min(total)),
        None => (m.keep_first.min(total), total.saturating_sub(m.keep_last)),
    };
    let mut rank = 0usize;
    for u in region.iter_mut() {
        if maskable(to_char(*u)) {
            if rank >= from && rank < to {
                *u = with;
            }
            rank += 1;
        }
    }
}

/// Character positions between the delimiters (plus the delimiters unless preserved).
fn delimited_region(m: &MaskSpec, value: &str, n: usize) -> (usize, usize) {
    let char_pos = |byte: usize| value.get(..byte).map_or(0, |s| s.chars().count());
    let (mut lo, mut after_start_byte) = (0usize, 0usize);
    if let Some(d) = m.start_delimiter.as_deref().filter(|d| !d.is_empty()) {
        match value.find(d) {
            Some(b) => {
                lo = if m.preserve_delimiters {
                    char_pos(b + d.len())
                } else {
                    char_pos(b)
                };
                after_start_byte = b + d.len();
            }
            None => return (0, 0),
        }
    }
    let mut hi = n;
    if let Some(d) = m.end_delimiter.as_deref().filter(|d| !d.is_empty()) {
        match value.get(after_start_byte..).and_then(|s| s.find(d)) {
            Some(b) => {
                let b = after_start_byte + b;
                hi = if m.preserve_delimiters {
                    char_pos(b)
                } else {
                    char_pos(b + d.len())
                };
            }
            None => return (0, 0),
        }
    }
    (lo, hi)
}

/// An FF1 alphabet with a fast ASCII lookup.
#[derive(Debug, Clone)]
pub struct Alphabet {
    chars: Vec<char>,
    ascii: [u16; 128],
    other: HashMap<char, u16>,
}

const NOT_IN: u16 = u16::MAX;

impl Alphabet {
    fn new(f: &FpeSpec) -> Result<Self, String> {
        let named = |a: &AlphabetSpec| -> String {
            match a {
                AlphabetSpec::Numeric => "0123456789".into(),
                AlphabetSpec::Hexadecimal => "0123456789abcdef".into(),
                AlphabetSpec::UpperAlphanumeric => "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".into(),
                AlphabetSpec::LowerAlphanumeric => "0123456789abcdefghijklmnopqrstuvwxyz".into(),
                AlphabetSpec::Alphanumeric => {
                    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".into()
                }
                AlphabetSpec::Custom(s) => s.clone(),
            }
        };
        let text = match (&f.alphabet, f.radix) {
            (Some(_), Some(_)) => return Err("fpe: give alphabet or radix, not both".into()),
            (Some(a), None) => named(a),
            (None, None | Some(10)) => named(&AlphabetSpec::Numeric),
            (None, Some(16)) => named(&AlphabetSpec::Hexadecimal),
            (None, Some(36)) => named(&AlphabetSpec::LowerAlphanumeric),
            (None, Some(62)) => named(&AlphabetSpec::Alphanumeric),
            (None, Some(r)) => {
                return Err(format!(
                    "fpe: radix {r} has no default alphabet; give a custom alphabet"
                ));
            }
        };
        let chars: Vec<char> = text.chars().collect();
        if chars.len() < 2 || chars.len() > 65536 {
            return Err(format!(
                "fpe: alphabet has {} characters; 2 to 65536 are needed",
                chars.len()
            ));
        }
        let mut ascii = [NOT_IN; 128];
        let mut other = HashMap::new();
        for (i, &c) in chars.iter().enumerate() {
            let i = u16::try_from(i).map_err(|_| "fpe: alphabet too long")?;
            let slot = if c.is_ascii() {
                ascii.get_mut(c as usize)
            } else {
                None
            };
            let dup = match slot {
                Some(s) => std::mem::replace(s, i) != NOT_IN,
                None => other.insert(c, i).is_some(),
            };
            if dup {
                return Err(format!("fpe: alphabet repeats {c:?}"));
            }
        }
        Ok(Self {
            chars,
            ascii,
            other,
        })
    }

    /// The radix.
    pub fn radix(&self) -> u32 {
        self.chars.len() as u32
    }

    fn index(&self, c: char) -> Option<u16> {
        if c.is_ascii() {
            self.ascii.get(c as usize).copied().filter(|&i| i != NOT_IN)
        } else {
            self.other.get(&c).copied()
        }
    }
}

fn fpe(
    ff1: &Ff1,
    alphabet: &Alphabet,
    tweak: &[u8],
    value: &str,
    encrypt: bool,
) -> Result<String, ValueError> {
    // Characters outside the alphabet (dashes, spaces) keep their places.
    let mut digits = Vec::with_capacity(value.len());
    for c in value.chars() {
        if let Some(i) = alphabet.index(c) {
            digits.push(i);
        }
    }
    let out = if encrypt {
        ff1.encrypt(tweak, &digits)
    } else {
        ff1.decrypt(tweak, &digits)
    }
    .map_err(|e| e.to_string())?;
    let mut it = out.into_iter();
    let mut s = String::with_capacity(value.len());
    for c in value.chars() {
        if alphabet.index(c).is_some() {
            let d = it.next().unwrap_or(0);
            s.push(alphabet.chars.get(usize::from(d)).copied().unwrap_or(c));
        } else {
            s.push(c);
        }
    }
    Ok(s)
}

fn shift_days(key: &HmacSha256, lower: i64, span: u64, entity: &str) -> i64 {
    let tag = key.sign(entity.as_bytes());
    let mut b = [0u8; 8];
    for (o, i) in b.iter_mut().zip(tag) {
        *o = i;
    }
    // The modulo bias is at most span / 2^64: negligible for day ranges.
    lower.saturating_add_unsigned(u64::from_be_bytes(b) % span)
}

fn parse_iso_date(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.get(..10)?, &fmt).ok()
}

fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn shift_date(
    value: &str,
    days: i64,
    format: Option<&[time::format_description::OwnedFormatItem]>,
) -> Result<String, ValueError> {
    let delta = time::Duration::days(days);
    match format.and_then(<[_]>::first) {
        Some(f) => {
            // The format's own components say what the value holds: a date with a time of day
            // (and an offset) keeps them, moved by whole days (bug: a time in the format made
            // every value fail, as a bare date cannot be written with it).
            const OUT: &str = "shifted date out of range";
            const FORMAT: &str = "cannot format the shifted date";
            if let Ok(t) = time::OffsetDateTime::parse(value, f) {
                let t = t.checked_add(delta).ok_or(OUT)?;
                return t.format(f).map_err(|_| FORMAT.into());
            }
            if let Ok(t) = time::PrimitiveDateTime::parse(value, f) {
                let t = t.checked_add(delta).ok_or(OUT)?;
                return t.format(f).map_err(|_| FORMAT.into());
            }
            let d = Date::parse(value, f).map_err(|_| "value does not match the date format")?;
            let d = d.checked_add(delta).ok_or(OUT)?;
            d.format(f).map_err(|_| FORMAT.into())
        }
        None => {
            let d = parse_iso_date(value).ok_or("value is not an ISO date (YYYY-MM-DD…)")?;
            let d = d.checked_add(delta).ok_or("shifted date out of range")?;
            // Only years 0001 to 9999 are written as ISO dates read them back (bug: 0001-01-01
            // moved back became `-001-11-28`, which unmask could not read).
            if !(1..=9999).contains(&d.year()) {
                return Err("the shifted date is before year 0001 or after 9999".into());
            }
            Ok(iso_date(d) + value.get(10..).unwrap_or(""))
        }
    }
}

fn truncate_date(value: &str, part: DatePart) -> Result<String, ValueError> {
    let d = parse_iso_date(value).ok_or("value is not an ISO date (YYYY-MM-DD…)")?;
    Ok(match part {
        DatePart::Year => format!("{:04}", d.year()),
        DatePart::Month => format!("{:04}-{:02}", d.year(), u8::from(d.month())),
        DatePart::Day => iso_date(d),
    })
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn bucket(b: &BucketSpec, value: &str) -> Result<String, ValueError> {
    let x: f64 = value.trim().parse().map_err(|_| "value is not a number")?;
    if !x.is_finite() {
        return Err("value is not a finite number".into());
    }
    if let Some(min) = b.min.filter(|&m| x < m) {
        return Ok(format!("<{}", fmt_num(min)));
    }
    if let Some(max) = b.max.filter(|&m| x >= m) {
        return Ok(format!(">={}", fmt_num(max)));
    }
    let origin = b.min.unwrap_or(0.0);
    if let Some(label) = decimal_bucket(value.trim(), b.size, origin) {
        return Ok(label);
    }
    let lo = origin + ((x - origin) / b.size).floor() * b.size;
    let hi = lo + b.size;
    // Past what a double resolves, the bucket would not hold the value (bug: `1e308` with a
    // size of 0.1 was `inf-inf`, and a 39-digit value got a bucket whose ends were equal).
    if !(lo.is_finite() && hi.is_finite() && lo < hi && lo <= x && x < hi) {
        return Err(
            "the value has more digits than bucket computes with (36, or a double's)".into(),
        );
    }
    Ok(format!("{}-{}", fmt_num(lo), fmt_num(hi)))
}

/// A decimal number as an integer and its count of decimal places (`-1.50` is (-150, 2)),
/// when it has at most 36 digits (an `i128` holds 38).
fn decimal(text: &str) -> Option<(i128, u32)> {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (text.get(..i)?, text.get(i + 1..)?.parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (neg, digits) = match mantissa.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())
        || int.len() + frac.len() > 36
    {
        return None;
    }
    let mut n: i128 = format!("{int}{frac}").parse().ok()?;
    // An exponent past what 36 digits and 36 places can meet is left to the float path (bug:
    // `1e-2147483648` overflowed here, and `0e2147483647` looped two billion times).
    if !(-40..=40).contains(&exp) {
        return None;
    }
    let mut places = i32::try_from(frac.len()).ok()?.checked_sub(exp)?;
    while places < 0 {
        n = n.checked_mul(10)?;
        places += 1;
    }
    Some((if neg { -n } else { n }, u32::try_from(places).ok()?))
}

/// `value`'s bucket computed in decimal, so that a size of 0.1 puts 0.3 in `0.3-0.4` (in
/// binary floating point it landed in `0.2-0.30000000000000004`); `None` when a number has
/// too many digits for it.
fn decimal_bucket(value: &str, size: f64, origin: f64) -> Option<String> {
    let (x, xp) = decimal(value)?;
    let (s, sp) = decimal(&size.to_string())?;
    let (o, op) = decimal(&origin.to_string())?;
    let places = xp.max(sp).max(op);
    if places > 36 {
        return None;
    }
    let scale = |(n, p): (i128, u32)| n.checked_mul(10i128.checked_pow(places - p)?);
    let (x, s, o) = (scale((x, xp))?, scale((s, sp))?, scale((o, op))?);
    if s <= 0 {
        return None;
    }
    let lo = o.checked_add(x.checked_sub(o)?.div_euclid(s).checked_mul(s)?)?;
    let hi = lo.checked_add(s)?;
    let text = |n: i128| {
        // `unsigned_abs`: the bucket's bound may be `i128::MIN` itself.
        let unit = 10u128.pow(places);
        let (int, frac) = (n.unsigned_abs() / unit, n.unsigned_abs() % unit);
        let sign = if n < 0 { "-" } else { "" };
        if frac == 0 {
            format!("{sign}{int}")
        } else {
            let f = format!("{frac:0width$}", width = places as usize);
            format!("{sign}{int}.{}", f.trim_end_matches('0'))
        }
    };
    Some(format!("{}-{}", text(lo), text(hi)))
}

thread_local! {
    static RNG: RefCell<(Vec<u8>, usize)> = const { RefCell::new((Vec::new(), 0)) };
}

/// A uniform random number below `n` (n >= 1), from aws-lc's generator in 4 KiB refills.
pub(crate) fn random_below(n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    // Rejection sampling removes the modulo bias.
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let r = random_u64();
        if r < zone {
            return r % n;
        }
    }
}

fn random_u64() -> u64 {
    RNG.with(|cell| {
        let mut st = cell.borrow_mut();
        if st.1 + 8 > st.0.len() {
            st.0.resize(4096, 0);
            // aws-lc's DRBG does not fail in practice; a failure leaves stale bytes, which
            // only weakens a non-cryptographic replacement.
            let _ = aws_lc_rs::rand::fill(&mut st.0);
            st.1 = 0;
        }
        let pos = st.1;
        let mut b = [0u8; 8];
        if let Some(src) = st.0.get(pos..pos + 8) {
            b.copy_from_slice(src);
        }
        st.1 += 8;
        u64::from_le_bytes(b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        let mut k = Keys::new();
        k.insert_raw("k1", &[1u8; 32]);
        k.insert_raw("k2", &[2u8; 32]);
        k
    }

    fn spec(json: &str) -> TransformSpec {
        serde_json::from_str(json).unwrap()
    }

    fn run(json: &str, value: &str) -> Masked {
        spec(json)
            .compile("CREDIT_CARD", &mut keys(), Direction::Mask)
            .unwrap()
            .apply(value, None)
            .unwrap()
    }

    fn val(m: Masked) -> String {
        match m {
            Masked::Value(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn masks() {
        let card = "4111-1111-1111-1234";
        assert_eq!(
            val(run(
                r#"{"type":"mask","keep_last":4,"unmasked":["symbols"]}"#,
                card
            )),
            "****-****-****-1234"
        );
        assert_eq!(
            val(run(r#"{"type":"mask","keep_last":4}"#, card)),
            "***************1234"
        );
        assert_eq!(
            val(run(r##"{"type":"mask","char":"#","count":3}"##, "abcdef")),
            "###def"
        );
        assert_eq!(
            val(run(
                r#"{"type":"mask","count":2,"from_end":true}"#,
                "abcdef"
            )),
            "abcd**"
        );
        assert_eq!(
            val(run(r#"{"type":"mask","start":1,"stop":-1}"#, "abcdef")),
            "a****f"
        );
        assert_eq!(
            val(run(
                r#"{"type":"mask","start_delimiter":"@","unmasked":["symbols"]}"#,
                "ann@mail.example"
            )),
            "ann@****.*******"
        );
        assert_eq!(
            val(run(
                r#"{"type":"mask","end_delimiter":"@"}"#,
                "ann@mail.example"
            )),
            "***@mail.example"
        );
        assert_eq!(
            val(run(
                r#"{"type":"mask","start_delimiter":"<","end_delimiter":">","preserve_delimiters":false}"#,
                "a<bc>d"
            )),
            "a****d"
        );
        assert_eq!(
            val(run(
                r#"{"type":"mask","unmasked":["whitespace"],"keep_first":1}"#,
                "Ann Lee"
            )),
            "A** ***"
        );
        assert_eq!(val(run(r#"{"type":"mask","keep_last":10}"#, "ab")), "ab");
        assert_eq!(val(run(r#"{"type":"mask"}"#, "é€x")), "***");
    }

    #[test]
    fn replace_redact_null_keep() {
        assert_eq!(val(run(r#"{"type":"replace"}"#, "x")), "<CREDIT_CARD>");
        assert_eq!(val(run(r#"{"type":"replace","value":"X"}"#, "x")), "X");
        assert_eq!(run(r#"{"type":"redact"}"#, "x"), Masked::Remove);
        assert_eq!(run(r#"{"type":"null"}"#, "x"), Masked::Null);
        assert_eq!(run(r#"{"type":"keep"}"#, "x"), Masked::Keep);
    }

    #[test]
    fn hash_is_keyed_and_contextual() {
        let h = |j: &str| val(run(j, "ann@example.com"));
        let a = h(r#"{"type":"hash","key":"k1"}"#);
        assert_eq!(a.len(), 64);
        assert_eq!(a, h(r#"{"type":"hash","key":"k1"}"#));
        assert_ne!(a, h(r#"{"type":"hash","key":"k2"}"#));
        assert_ne!(a, h(r#"{"type":"hash","key":"k1","context":"email"}"#));
        let b = h(r#"{"type":"hash","key":"k1","encoding":"base64"}"#);
        assert_eq!(B64.decode(b).unwrap(), hex::decode(a).unwrap());
    }

    #[test]
    fn siv_round_trip_with_surrogate() {
        let mut k = keys();
        let s = spec(
            r#"{"type":"deterministic_encrypt","key":"k1","context":"email","surrogate":"EMAIL"}"#,
        );
        let t = s.compile("EMAIL", &mut k, Direction::Mask).unwrap();
        let out = val(t.apply("ann@example.com", None).unwrap());
        assert!(out.starts_with("EMAIL("), "{out}");
        assert_eq!(out, val(t.apply("ann@example.com", None).unwrap()));
        assert_eq!(val(t.invert(&out, None).unwrap()), "ann@example.com");
        let other = spec(
            r#"{"type":"deterministic_encrypt","key":"k2","context":"email","surrogate":"EMAIL"}"#,
        )
        .compile("EMAIL", &mut k, Direction::Mask)
        .unwrap();
        assert_ne!(out, val(other.apply("ann@example.com", None).unwrap()));
        assert!(other.invert(&out, None).is_err());
    }

    #[test]
    fn encrypt_is_probabilistic_and_reversible() {
        let mut k = keys();
        let s = spec(r#"{"type":"encrypt","key":"k1","context":"c"}"#);
        let t = s.compile("X", &mut k, Direction::Mask).unwrap();
        let a = val(t.apply("secret", None).unwrap());
        let b = val(t.apply("secret", None).unwrap());
        assert_ne!(a, b);
        let env = k.envelope().clone();
        let mut k2 = keys();
        k2.add_envelope(&env).unwrap();
        let u = s.compile("X", &mut k2, Direction::Unmask).unwrap();
        assert_eq!(val(u.invert(&a, None).unwrap()), "secret");
        assert_eq!(val(u.invert(&b, None).unwrap()), "secret");
    }

    #[test]
    fn fpe_preserves_format() {
        let mut k = keys();
        let cases = [
            (r#"{"type":"fpe","key":"k1"}"#, "4111-1111-1111-1234"),
            (
                r#"{"type":"fpe","key":"k1","radix":16,"context":"id"}"#,
                "deadbeef00",
            ),
            (r#"{"type":"fpe","key":"k1","radix":36}"#, "abc123xyz"),
            (r#"{"type":"fpe","key":"k1","radix":62}"#, "AbC-123-xYz"),
            (
                r#"{"type":"fpe","key":"k1","alphabet":{"custom":"ACGT"}}"#,
                "GATTACAGATTACA",
            ),
            (
                r#"{"type":"fpe","key":"k1","surrogate":"SSN"}"#,
                "123-45-6789",
            ),
        ];
        for (j, v) in cases {
            let t = spec(j).compile("X", &mut k, Direction::Mask).unwrap();
            let out = val(t.apply(v, None).unwrap());
            assert_ne!(out, v);
            let token = out.rsplit(':').next().unwrap();
            assert_eq!(token.len(), v.len(), "{j}");
            for (a, b) in token.chars().zip(v.chars()) {
                assert_eq!(
                    a.is_ascii_alphanumeric(),
                    b.is_ascii_alphanumeric(),
                    "{j}: {out}"
                );
            }
            assert_eq!(val(t.invert(&out, None).unwrap()), v);
        }
        let t = spec(r#"{"type":"fpe","key":"k1"}"#)
            .compile("X", &mut k, Direction::Mask)
            .unwrap();
        assert!(t.apply("12-34", None).unwrap_err().contains("needs 6"));
    }

    #[test]
    fn date_shift_is_consistent_per_entity_and_bounded() {
        let mut k = keys();
        let t = spec(r#"{"type":"date_shift","key":"k1","lower_days":-30,"upper_days":30,"entity":"patient"}"#)
            .compile("X", &mut k, Direction::Mask)
            .unwrap();
        let a1 = val(t.apply("2024-03-01", Some("p1")).unwrap());
        let a2 = val(t.apply("2024-03-11T10:00:00Z", Some("p1")).unwrap());
        let d1 = parse_iso_date(&a1).unwrap();
        let d2 = parse_iso_date(&a2).unwrap();
        assert_eq!((d2 - d1).whole_days(), 10);
        assert!(a2.ends_with("T10:00:00Z"));
        let shift = (d1 - parse_iso_date("2024-03-01").unwrap()).whole_days();
        assert!((-30..=30).contains(&shift));
        assert_eq!(
            val(t.invert(&a2, Some("p1")).unwrap()),
            "2024-03-11T10:00:00Z"
        );
        let shifts: std::collections::HashSet<i64> = (0..50)
            .map(|i| {
                let s = val(t.apply("2024-03-01", Some(&format!("p{i}"))).unwrap());
                (parse_iso_date(&s).unwrap() - parse_iso_date("2024-03-01").unwrap()).whole_days()
            })
            .collect();
        assert!(shifts.len() > 10);
        let f = spec(r#"{"type":"date_shift","key":"k1","lower_days":5,"upper_days":5,"format":"[month]/[day]/[year]"}"#)
            .compile("X", &mut k, Direction::Mask)
            .unwrap();
        assert_eq!(val(f.apply("12/30/2023", None).unwrap()), "01/04/2024");
        assert!(f.apply("2023-12-30", None).is_err());
    }

    /// Regression: a shift past year 0001 or 9999 wrote a date unmask could not read, and
    /// bucket wrote `inf-inf` or buckets not holding their value past a double's digits.
    #[test]
    fn results_that_would_not_read_back_are_refused() {
        let mut k = keys();
        let back = spec(r#"{"type":"date_shift","key":"k1","lower_days":-400,"upper_days":-400}"#)
            .compile("X", &mut k, Direction::Mask)
            .unwrap();
        assert!(back.apply("0001-01-01", None).is_err());
        assert_eq!(val(back.apply("2001-02-04", None).unwrap()), "2000-01-01");
        for (size, value) in [
            ("0.1", "1e308"),
            ("10", "170141183460469231731687303715884105727"),
            ("1e-30", "12345678901234567890.1"),
        ] {
            let t = spec(&format!(r#"{{"type":"bucket","size":{size}}}"#))
                .compile("X", &mut k, Direction::Mask)
                .unwrap();
            assert!(t.apply(value, None).is_err(), "{size} {value}");
        }
    }

    #[test]
    fn the_longest_date_shift_is_the_calendars_span() {
        assert_eq!(
            (Date::MAX - Date::MIN).whole_days().unsigned_abs(),
            MAX_SHIFT_DAYS
        );
    }

    /// Regression: a custom format with a time of day failed on every value ("cannot format
    /// the shifted date"); the time, and an offset, are kept.
    #[test]
    fn date_shift_keeps_a_time_of_day_in_a_custom_format() {
        let mut k = keys();
        for (format, value, shifted) in [
            (
                "[month]/[day]/[year] [hour]:[minute]",
                "03/15/2021 13:45",
                "03/20/2021 13:45",
            ),
            (
                "[year]-[month]-[day]T[hour]:[minute]:[second]",
                "2021-12-30T23:59:59",
                "2022-01-04T23:59:59",
            ),
            (
                "[year]-[month]-[day] [hour]:[minute] [offset_hour sign:mandatory]:[offset_minute]",
                "2021-03-15 01:02 -05:00",
                "2021-03-20 01:02 -05:00",
            ),
        ] {
            let t = TransformSpec::DateShift(DateShiftSpec {
                key: "k1".into(),
                lower_days: 5,
                upper_days: 5,
                entity: None,
                format: Some(format.into()),
            })
            .compile("X", &mut k, Direction::Mask)
            .unwrap();
            assert_eq!(val(t.apply(value, None).unwrap()), shifted, "{format}");
        }
    }

    /// Regression: with a decimal size, values on a boundary landed in the bucket below and
    /// labels carried binary noise (0.3 in `0.2-0.30000000000000004`).
    #[test]
    fn decimal_buckets_are_exact() {
        for (spec, value, label) in [
            (r#"{"type":"bucket","size":0.1}"#, "0.3", "0.3-0.4"),
            (r#"{"type":"bucket","size":0.1}"#, "0.7", "0.7-0.8"),
            (r#"{"type":"bucket","size":0.1}"#, "0.6", "0.6-0.7"),
            (r#"{"type":"bucket","size":0.1}"#, "0.29", "0.2-0.3"),
            (r#"{"type":"bucket","size":0.1}"#, "-0.05", "-0.1-0"),
            (
                r#"{"type":"bucket","size":0.25,"min":0.5}"#,
                "1.0",
                "1-1.25",
            ),
            (r#"{"type":"bucket","size":5}"#, "-7", "-10--5"),
            (r#"{"type":"bucket","size":5}"#, "1e1", "10-15"),
            (r#"{"type":"bucket","size":10}"#, "37.5", "30-40"),
            // Regression: these overflowed (a panic) or looped for seconds.
            (r#"{"type":"bucket","size":10}"#, "1e-2147483648", "0-10"),
            (r#"{"type":"bucket","size":10}"#, "0e2147483647", "0-10"),
            // Regression: past 18 digits the float path put these in buckets without them.
            (
                r#"{"type":"bucket","size":10}"#,
                "9.99999999999999999999",
                "0-10",
            ),
            (
                r#"{"type":"bucket","size":0.25}"#,
                "12345678901234567890.1",
                "12345678901234567890-12345678901234567890.25",
            ),
            // Regression: a bound of exactly i128::MIN overflowed taking its absolute value.
            (
                r#"{"type":"bucket","size":1024}"#,
                "-170141183460469231731687303715884105e3",
                "-170141183460469231731687303715884105728--170141183460469231731687303715884104704",
            ),
        ] {
            assert_eq!(val(run(spec, value)), label, "{spec} {value}");
        }
    }

    #[test]
    fn generalization() {
        assert_eq!(val(run(r#"{"type":"bucket","size":10}"#, "37")), "30-40");
        assert_eq!(
            val(run(
                r#"{"type":"bucket","size":10,"min":18,"max":90}"#,
                "17"
            )),
            "<18"
        );
        assert_eq!(
            val(run(
                r#"{"type":"bucket","size":10,"min":18,"max":90}"#,
                "95"
            )),
            ">=90"
        );
        assert_eq!(
            val(run(
                r#"{"type":"bucket","size":10,"min":18,"max":90}"#,
                "18"
            )),
            "18-28"
        );
        assert_eq!(val(run(r#"{"type":"bucket","size":0.5}"#, "1.7")), "1.5-2");
        assert_eq!(
            val(run(r#"{"type":"date_truncate","to":"year"}"#, "1984-06-02")),
            "1984"
        );
        assert_eq!(
            val(run(
                r#"{"type":"date_truncate","to":"month"}"#,
                "1984-06-02T01:02:03Z"
            )),
            "1984-06"
        );
        assert_eq!(val(run(r#"{"type":"truncate","keep":3}"#, "94107")), "941");
        assert_eq!(
            val(run(r#"{"type":"truncate","keep":3,"pad":"0"}"#, "94107")),
            "94100"
        );
    }

    #[test]
    fn random_replacements_stay_in_bounds() {
        for _ in 0..200 {
            let n: i64 = val(run(r#"{"type":"random_between","min":-3,"max":3}"#, "x"))
                .parse()
                .unwrap();
            assert!((-3..=3).contains(&n));
            let d = val(run(
                r#"{"type":"random_date_between","start":"2020-01-01","end":"2020-01-31"}"#,
                "x",
            ));
            assert!(
                d.as_str() >= "2020-01-01" && d.as_str() <= "2020-01-31",
                "{d}"
            );
            let c = val(run(r#"{"type":"random_choice","values":["a","b"]}"#, "x"));
            assert!(c == "a" || c == "b");
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        let mut k = keys();
        for j in [
            r#"{"type":"mask","count":2,"keep_last":1}"#,
            r#"{"type":"fpe","key":"k1","radix":7}"#,
            r#"{"type":"fpe","key":"k1","alphabet":{"custom":"aa"}}"#,
            r#"{"type":"date_shift","key":"k1","lower_days":3,"upper_days":1}"#,
            // Regression: these overflowed and the run died with a panic.
            r#"{"type":"date_shift","key":"k1","lower_days":-9223372036854775808,"upper_days":9223372036854775807}"#,
            r#"{"type":"date_shift","key":"k1","lower_days":100000000000000000,"upper_days":100000000000000000}"#,
            r#"{"type":"deterministic_encrypt","key":"k1","surrogate":"bad type"}"#,
            r#"{"type":"hash","key":"missing"}"#,
            r#"{"type":"bucket","size":0}"#,
        ] {
            assert!(
                spec(j).compile("X", &mut k, Direction::Mask).is_err(),
                "{j}"
            );
        }
        assert!(serde_json::from_str::<TransformSpec>(r#"{"type":"mask","chars":"x"}"#).is_err());
        assert!(serde_json::from_str::<TransformSpec>(r#"{"type":"frobnicate"}"#).is_err());
    }
}
