//! Input validation against the schema, producing AWS-style messages.
//!
//! Input is the JSON wire form (awsJson bodies as received; awsQuery forms after
//! [`crate::codec::query::decode_query`]). Two kinds of failures:
//!
//! - [`DecodeError`]: the value has the wrong JSON type for the shape (a string where a number
//!   is expected, invalid base64, …). awsJson services answer `SerializationException`.
//! - [`ValidationErrors`]: constraint violations, reported all at once in AWS's format:
//!   `1 validation error detected: Value 'abc' at 'keyId' failed to satisfy constraint: Member
//!   must have length less than or equal to 2048`.
//!
//! Paths use lowerCamelCase member names; list elements are `name.N.member` with 1-based `N`
//! (AWS's Coral style, used by both awsJson and awsQuery services, e.g. `tags.1.member.tagKey`).
//! Map key and value constraints are reported once per map, at the map's path, as
//! `Map keys must satisfy constraint: [...]` / `Map value must satisfy constraint: [...]`.
//! Values of `sensitive` shapes are not echoed (`Value at 'password' failed to …`).

use std::fmt;

use serde_json::Value;

use crate::schema::{OperationInfo, Protocol, ServiceInfo, ShapeId, ShapeKind};

/// The input does not have the JSON type its shape requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Path of the offending member (lowerCamelCase, as in validation messages) or awsQuery
    /// parameter name.
    pub path: String,
    /// Human-readable description.
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

/// One constraint violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Member path, e.g. `tags.1.member.tagKey`.
    pub path: String,
    /// Rendered offending value (`None` → `null`).
    pub value: Option<String>,
    /// Do not echo the value (`sensitive` shape).
    pub sensitive: bool,
    /// e.g. `Member must not be null`.
    pub constraint: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.value, self.sensitive) {
            (None, _) => write!(f, "Value null at '{}'", self.path)?,
            (Some(_), true) => write!(f, "Value at '{}'", self.path)?,
            (Some(v), false) => write!(f, "Value '{v}' at '{}'", self.path)?,
        }
        write!(f, " failed to satisfy constraint: {}", self.constraint)
    }
}

/// All constraint violations of one request (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} validation error{} detected: ",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Why an input was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// Wrong JSON type / undecodable value.
    Decode(DecodeError),
    /// Constraint violations.
    Validation(ValidationErrors),
    /// The (validated) value could not be converted to the typed struct.
    Typed(String),
}

impl InputError {
    /// AWS error code for this failure on `service`'s protocol: `ValidationError` (awsQuery),
    /// `ValidationException` / `SerializationException` (awsJson).
    pub fn code(&self, service: &ServiceInfo) -> &'static str {
        match (self, service.protocol) {
            (Self::Validation(_), _) | (_, Protocol::Query) => service.validation_error_code(),
            (Self::Decode(_) | Self::Typed(_), Protocol::Json11) => "SerializationException",
        }
    }

    /// HTTP status (always 400).
    pub fn http_status(&self) -> u16 {
        400
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => e.fmt(f),
            Self::Validation(e) => e.fmt(f),
            Self::Typed(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for InputError {}

impl From<DecodeError> for InputError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl From<ValidationErrors> for InputError {
    fn from(e: ValidationErrors) -> Self {
        Self::Validation(e)
    }
}

/// Validates an operation input in JSON wire form (member names as in the model).
///
/// `null` members count as absent. An operation without an input shape accepts anything.
pub fn validate_input(
    service: &ServiceInfo,
    op: &OperationInfo,
    input: &Value,
) -> Result<(), InputError> {
    let Some(shape) = op.input else {
        return Ok(());
    };
    let empty = Value::Object(serde_json::Map::new());
    let input = if input.is_null() { &empty } else { input };
    let mut v = Validator {
        service,
        errors: Vec::new(),
    };
    v.walk(shape, input, "")?;
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(InputError::Validation(ValidationErrors(v.errors)))
    }
}

/// Validates `input` and converts it to the operation's typed input struct.
pub fn parse_input<T: serde::de::DeserializeOwned>(
    service: &ServiceInfo,
    op: &OperationInfo,
    input: Value,
) -> Result<T, InputError> {
    validate_input(service, op, &input)?;
    let input = if input.is_null() {
        Value::Object(serde_json::Map::new())
    } else {
        input
    };
    serde_json::from_value(input).map_err(|e| InputError::Typed(e.to_string()))
}

/// `KeyId` → `keyId`.
pub fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(f) => f.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        lower_camel(member)
    } else {
        format!("{path}.{}", lower_camel(member))
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Java-`toString`-like rendering used inside `Value '…'`.
pub(crate) fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{k}={}", render(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => other.to_string(),
    }
}

fn decode_err(path: &str, expected: &str, found: &Value) -> DecodeError {
    let at = if path.is_empty() { "input" } else { path };
    DecodeError {
        path: path.to_owned(),
        message: format!(
            "Expected {expected} at '{at}' but found {}",
            json_kind(found)
        ),
    }
}

struct Validator<'s> {
    service: &'s ServiceInfo,
    errors: Vec<ValidationError>,
}

impl Validator<'_> {
    fn push(&mut self, path: &str, value: &Value, sensitive: bool, constraint: String) {
        self.errors.push(ValidationError {
            path: path.to_owned(),
            value: Some(render(value)),
            sensitive,
            constraint,
        });
    }

    /// Type-checks `value` against `id` and appends constraint violations.
    fn walk(&mut self, id: ShapeId, value: &Value, path: &str) -> Result<(), DecodeError> {
        let Some(shape) = self.service.shape(id) else {
            return Ok(());
        };
        let sensitive = shape.sensitive;
        let mut found = Vec::new();
        match &shape.kind {
            ShapeKind::Structure { members } => {
                let obj = value
                    .as_object()
                    .ok_or_else(|| decode_err(path, "a structure", value))?;
                for m in *members {
                    let mpath = join(path, m.name);
                    match obj.get(m.name).filter(|v| !v.is_null()) {
                        None if m.required => self.errors.push(ValidationError {
                            path: mpath,
                            value: None,
                            sensitive: false,
                            constraint: "Member must not be null".to_owned(),
                        }),
                        None => {}
                        Some(v) => self.walk(m.target, v, &mpath)?,
                    }
                }
                return Ok(());
            }
            ShapeKind::List {
                member, min, max, ..
            } => {
                let arr = value
                    .as_array()
                    .ok_or_else(|| decode_err(path, "a list", value))?;
                length(&mut found, arr.len(), *min, *max);
                for c in found {
                    self.push(path, value, sensitive, c);
                }
                for (i, item) in arr.iter().enumerate() {
                    if item.is_null() {
                        continue;
                    }
                    let ipath = format!("{path}.{}.member", i + 1);
                    self.walk(*member, item, &ipath)?;
                }
                return Ok(());
            }
            ShapeKind::Map {
                key,
                value: vshape,
                min,
                max,
                ..
            } => {
                let obj = value
                    .as_object()
                    .ok_or_else(|| decode_err(path, "a map", value))?;
                length(&mut found, obj.len(), *min, *max);
                let mut key_c: Vec<String> = Vec::new();
                let mut val_c: Vec<String> = Vec::new();
                let scalar_values = self.service.shape(*vshape).is_some_and(|s| {
                    !matches!(
                        s.kind,
                        ShapeKind::Structure { .. }
                            | ShapeKind::List { .. }
                            | ShapeKind::Map { .. }
                    )
                });
                for (k, v) in obj {
                    let mut kc = Vec::new();
                    self.scalar(*key, &Value::String(k.clone()), path, &mut kc)?;
                    for c in kc {
                        if !key_c.contains(&c) {
                            key_c.push(c);
                        }
                    }
                    if v.is_null() {
                        continue;
                    }
                    if scalar_values {
                        let mut vc = Vec::new();
                        self.scalar(*vshape, v, &format!("{path}.{k}"), &mut vc)?;
                        for c in vc {
                            if !val_c.contains(&c) {
                                val_c.push(c);
                            }
                        }
                    } else {
                        self.walk(*vshape, v, &format!("{path}.{k}"))?;
                    }
                }
                if !key_c.is_empty() {
                    found.push(format!(
                        "Map keys must satisfy constraint: [{}]",
                        key_c.join(", ")
                    ));
                }
                if !val_c.is_empty() {
                    found.push(format!(
                        "Map value must satisfy constraint: [{}]",
                        val_c.join(", ")
                    ));
                }
            }
            _ => self.scalar(id, value, path, &mut found)?,
        }
        for c in found {
            self.push(path, value, sensitive, c);
        }
        Ok(())
    }

    /// Type-checks a scalar and collects its constraint violations into `out`.
    fn scalar(
        &self,
        id: ShapeId,
        value: &Value,
        path: &str,
        out: &mut Vec<String>,
    ) -> Result<(), DecodeError> {
        let Some(shape) = self.service.shape(id) else {
            return Ok(());
        };
        match &shape.kind {
            ShapeKind::String {
                min,
                max,
                pattern,
                enum_values,
            } => {
                let s = value
                    .as_str()
                    .ok_or_else(|| decode_err(path, "a string", value))?;
                length(out, s.chars().count(), *min, *max);
                if let Some(p) = pattern.and_then(|i| self.service.pattern(i))
                    && let Some(re) = p.regex()
                    && !re.is_match(s)
                {
                    out.push(format!(
                        "Member must satisfy regular expression pattern: {}",
                        p.source
                    ));
                }
                if !enum_values.is_empty() && !enum_values.contains(&s) {
                    out.push(format!(
                        "Member must satisfy enum value set: [{}]",
                        enum_values.join(", ")
                    ));
                }
            }
            ShapeKind::Integer { min, max } | ShapeKind::Long { min, max } => {
                let is_int = matches!(shape.kind, ShapeKind::Integer { .. });
                let n = value.as_i64().ok_or_else(|| {
                    decode_err(path, if is_int { "an integer" } else { "a long" }, value)
                })?;
                if is_int && i32::try_from(n).is_err() {
                    return Err(DecodeError {
                        path: path.to_owned(),
                        message: format!("Value {n} at '{path}' is out of range for an integer"),
                    });
                }
                if let Some(lo) = min
                    && n < *lo
                {
                    out.push(format!(
                        "Member must have value greater than or equal to {lo}"
                    ));
                }
                if let Some(hi) = max
                    && n > *hi
                {
                    out.push(format!("Member must have value less than or equal to {hi}"));
                }
            }
            ShapeKind::Float | ShapeKind::Double => {
                value
                    .as_f64()
                    .ok_or_else(|| decode_err(path, "a number", value))?;
            }
            ShapeKind::Boolean => {
                value
                    .as_bool()
                    .ok_or_else(|| decode_err(path, "a boolean", value))?;
            }
            ShapeKind::Timestamp { .. } => {
                // Seconds from year 1 to year 9999, as a date can hold (bug: 1e308 was taken,
                // and LookupEvents answered for it).
                value
                    .as_f64()
                    .filter(|t| (-62_135_596_800.0..253_402_300_800.0).contains(t))
                    .ok_or_else(|| {
                        decode_err(path, "a timestamp (epoch seconds, years 1 to 9999)", value)
                    })?;
            }
            ShapeKind::Blob { min, max } => {
                let s = value
                    .as_str()
                    .ok_or_else(|| decode_err(path, "a base64-encoded blob", value))?;
                let bytes = crate::types::decode_base64(s).ok_or_else(|| DecodeError {
                    path: path.to_owned(),
                    message: format!("Invalid base64 at '{path}'"),
                })?;
                length(out, bytes.len(), *min, *max);
            }
            ShapeKind::Structure { .. } | ShapeKind::List { .. } | ShapeKind::Map { .. } => {}
        }
        Ok(())
    }
}

fn length(out: &mut Vec<String>, len: usize, min: Option<i64>, max: Option<i64>) {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    if let Some(lo) = min
        && len < lo
    {
        out.push(format!(
            "Member must have length greater than or equal to {lo}"
        ));
    }
    if let Some(hi) = max
        && len > hi
    {
        out.push(format!(
            "Member must have length less than or equal to {hi}"
        ));
    }
}
