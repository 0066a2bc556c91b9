//! awsQuery form decoding into the JSON wire form.
//!
//! Input: the request's form parameters, already split and percent-decoded. Output: a JSON
//! object keyed by model member names, exactly like an awsJson body, so that validation and
//! typed parsing are shared between protocols:
//!
//! - structures: `Name.Member`; lists: `Name.member.N` (or `Name.<locationName>.N`; flattened:
//!   `Name.N`), ordered by `N`, and `Name=` (empty) for an empty list; maps:
//!   `Name.entry.N.key` / `Name.entry.N.value` (flattened: `Name.N.key`);
//! - booleans `true`/`false`; integers; floats; timestamps ISO 8601 → epoch seconds (f64);
//!   blobs stay base64 strings;
//! - `Action`, `Version` and unknown parameters are ignored, as AWS does.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use crate::schema::{OperationInfo, ServiceInfo, ShapeId, ShapeKind};
use crate::validate::DecodeError;

/// Decodes the form parameters of `op` into its JSON wire form. Operations without an input
/// shape decode to `{}`.
pub fn decode_query(
    service: &ServiceInfo,
    op: &OperationInfo,
    params: &[(String, String)],
) -> Result<Value, DecodeError> {
    let Some(input) = op.input else {
        return Ok(Value::Object(Map::new()));
    };
    let entries: Vec<Entry<'_>> = params
        .iter()
        .filter(|(k, _)| k != "Action" && k != "Version")
        .map(|(k, v)| Entry {
            full: k,
            rest: k,
            value: v,
        })
        .collect();
    let mut d = Decoder { service };
    Ok(d.structure(input, &entries)?
        .unwrap_or_else(|| Value::Object(Map::new())))
}

#[derive(Clone, Copy)]
struct Entry<'a> {
    /// Full parameter name (for error messages).
    full: &'a str,
    /// Remaining key relative to the node being decoded (`""` = the node itself).
    rest: &'a str,
    value: &'a str,
}

/// Entries whose remaining key is `name` or starts with `name.`, with `name` stripped.
fn children<'a>(entries: &[Entry<'a>], name: &str) -> Vec<Entry<'a>> {
    entries
        .iter()
        .filter_map(|e| {
            let tail = e.rest.strip_prefix(name)?;
            let rest = if tail.is_empty() {
                ""
            } else {
                tail.strip_prefix('.')?
            };
            Some(Entry { rest, ..*e })
        })
        .collect()
}

/// Groups entries by a leading 1-based index segment: `N` or `N.rest`.
fn indexed<'a>(entries: &[Entry<'a>]) -> BTreeMap<u64, Vec<Entry<'a>>> {
    let mut out: BTreeMap<u64, Vec<Entry<'a>>> = BTreeMap::new();
    for e in entries {
        let (head, rest) = e.rest.split_once('.').unwrap_or((e.rest, ""));
        // Indexes start at 1: `member.0` is no item, as an unknown parameter is none.
        if let Ok(n) = head.parse::<u64>()
            && n >= 1
        {
            out.entry(n).or_default().push(Entry { rest, ..*e });
        }
    }
    out
}

fn malformed(e: &Entry<'_>, what: &str) -> DecodeError {
    DecodeError {
        path: e.full.to_owned(),
        message: format!(
            "Invalid value '{}' for parameter {}: expected {what}",
            e.value, e.full
        ),
    }
}

struct Decoder<'s> {
    service: &'s ServiceInfo,
}

impl Decoder<'_> {
    fn structure(
        &mut self,
        id: ShapeId,
        entries: &[Entry<'_>],
    ) -> Result<Option<Value>, DecodeError> {
        let Some(ShapeKind::Structure { members }) = self.service.shape(id).map(|s| &s.kind) else {
            return Ok(None);
        };
        let mut obj = Map::new();
        for m in *members {
            let sub = children(entries, m.wire_name());
            if sub.is_empty() {
                continue;
            }
            let flattened = m.flattened;
            if let Some(v) = self.value(m.target, &sub, flattened)? {
                obj.insert(m.name.to_owned(), v);
            }
        }
        Ok(Some(Value::Object(obj)))
    }

    fn value(
        &mut self,
        id: ShapeId,
        entries: &[Entry<'_>],
        member_flattened: bool,
    ) -> Result<Option<Value>, DecodeError> {
        let Some(shape) = self.service.shape(id) else {
            return Ok(None);
        };
        let own = entries.iter().find(|e| e.rest.is_empty());
        match &shape.kind {
            ShapeKind::Structure { .. } => self.structure(id, entries),
            ShapeKind::List {
                member,
                member_location_name,
                flattened,
                ..
            } => {
                let items = if *flattened || member_flattened {
                    indexed(entries)
                } else {
                    indexed(&children(entries, member_location_name.unwrap_or("member")))
                };
                if items.is_empty() {
                    // `Name=` encodes an empty list; `Name=value` encodes nothing, and is
                    // ignored as unknown parameters are (bug: it was read as an empty list, so
                    // `UntagUser ... TagKeys=a` answered 200 and removed nothing).
                    return Ok(own
                        .filter(|e| e.value.is_empty())
                        .map(|_| Value::Array(Vec::new())));
                }
                let mut out = Vec::with_capacity(items.len());
                for sub in items.values() {
                    if let Some(v) = self.value(*member, sub, false)? {
                        out.push(v);
                    }
                }
                // Items that hold no value (`ActionNames.member.1.x=...`) are unknown
                // parameters too: the list is absent, not empty.
                Ok((!out.is_empty()).then_some(Value::Array(out)))
            }
            ShapeKind::Map {
                key,
                value,
                key_location_name,
                value_location_name,
                flattened,
                ..
            } => {
                let items = if *flattened || member_flattened {
                    indexed(entries)
                } else {
                    indexed(&children(entries, "entry"))
                };
                if items.is_empty() {
                    return Ok(own
                        .filter(|e| e.value.is_empty())
                        .map(|_| Value::Object(Map::new())));
                }
                let mut out = Map::new();
                for sub in items.values() {
                    let k = children(sub, key_location_name.unwrap_or("key"));
                    let v = children(sub, value_location_name.unwrap_or("value"));
                    let Some(Value::String(k)) = self.value(*key, &k, false)? else {
                        continue;
                    };
                    let v = self.value(*value, &v, false)?.unwrap_or(Value::Null);
                    out.insert(k, v);
                }
                Ok(Some(Value::Object(out)))
            }
            _ => {
                let Some(e) = own else {
                    return Ok(None);
                };
                scalar(&shape.kind, e).map(Some)
            }
        }
    }
}

fn scalar(kind: &ShapeKind, e: &Entry<'_>) -> Result<Value, DecodeError> {
    let s = e.value;
    Ok(match kind {
        ShapeKind::Integer { .. } | ShapeKind::Long { .. } => {
            let n: i64 = s.trim().parse().map_err(|_| malformed(e, "an integer"))?;
            Value::Number(n.into())
        }
        ShapeKind::Float | ShapeKind::Double => {
            let f: f64 = s.trim().parse().map_err(|_| malformed(e, "a number"))?;
            Value::Number(Number::from_f64(f).ok_or_else(|| malformed(e, "a finite number"))?)
        }
        ShapeKind::Boolean => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(malformed(e, "true or false")),
        },
        ShapeKind::Timestamp { .. } => {
            let t =
                super::parse_timestamp(s).ok_or_else(|| malformed(e, "an ISO 8601 timestamp"))?;
            Value::Number(Number::from_f64(t).ok_or_else(|| malformed(e, "a timestamp"))?)
        }
        _ => Value::String(s.to_owned()),
    })
}
