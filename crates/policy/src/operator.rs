//! Condition operators: the 26 base operators plus `Null`, the `IfExists`
//! suffix and the `ForAllValues:`/`ForAnyValue:` set qualifiers.
//!
//! Operator names are matched case-sensitively: the IAM grammar spells them
//! exactly, and rejecting `stringequals` at parse time is the fail-closed
//! choice (a reference simulator accepts any case; we do not).

use std::fmt;

/// A base condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum OperatorKind {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

/// The type of value an operator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Strings.
    String,
    /// Integers or decimals.
    Numeric,
    /// Dates (ISO 8601 or epoch seconds).
    Date,
    /// `true`/`false`.
    Bool,
    /// Base64 bytes.
    Binary,
    /// IP addresses and CIDR blocks.
    Ip,
    /// ARNs, compared segment by segment.
    Arn,
    /// Key presence (`Null`).
    Null,
}

/// A set qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetQualifier {
    /// `ForAllValues:`: every request value must match; true when the key is
    /// absent or empty.
    ForAllValues,
    /// `ForAnyValue:`: some request value must match; false when absent.
    ForAnyValue,
}

/// A full operator as written in a `Condition` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operator {
    /// `ForAllValues:`/`ForAnyValue:`, if any.
    pub qualifier: Option<SetQualifier>,
    /// The base operator.
    pub kind: OperatorKind,
    /// The `IfExists` suffix.
    pub if_exists: bool,
}

const ALL: [(OperatorKind, &str); 27] = [
    (OperatorKind::StringEquals, "StringEquals"),
    (OperatorKind::StringNotEquals, "StringNotEquals"),
    (
        OperatorKind::StringEqualsIgnoreCase,
        "StringEqualsIgnoreCase",
    ),
    (
        OperatorKind::StringNotEqualsIgnoreCase,
        "StringNotEqualsIgnoreCase",
    ),
    (OperatorKind::StringLike, "StringLike"),
    (OperatorKind::StringNotLike, "StringNotLike"),
    (OperatorKind::NumericEquals, "NumericEquals"),
    (OperatorKind::NumericNotEquals, "NumericNotEquals"),
    (OperatorKind::NumericLessThan, "NumericLessThan"),
    (OperatorKind::NumericLessThanEquals, "NumericLessThanEquals"),
    (OperatorKind::NumericGreaterThan, "NumericGreaterThan"),
    (
        OperatorKind::NumericGreaterThanEquals,
        "NumericGreaterThanEquals",
    ),
    (OperatorKind::DateEquals, "DateEquals"),
    (OperatorKind::DateNotEquals, "DateNotEquals"),
    (OperatorKind::DateLessThan, "DateLessThan"),
    (OperatorKind::DateLessThanEquals, "DateLessThanEquals"),
    (OperatorKind::DateGreaterThan, "DateGreaterThan"),
    (OperatorKind::DateGreaterThanEquals, "DateGreaterThanEquals"),
    (OperatorKind::Bool, "Bool"),
    (OperatorKind::BinaryEquals, "BinaryEquals"),
    (OperatorKind::IpAddress, "IpAddress"),
    (OperatorKind::NotIpAddress, "NotIpAddress"),
    (OperatorKind::ArnEquals, "ArnEquals"),
    (OperatorKind::ArnLike, "ArnLike"),
    (OperatorKind::ArnNotEquals, "ArnNotEquals"),
    (OperatorKind::ArnNotLike, "ArnNotLike"),
    (OperatorKind::Null, "Null"),
];

impl OperatorKind {
    /// Every base operator, `Null` last.
    pub fn all() -> impl Iterator<Item = OperatorKind> {
        ALL.iter().map(|(k, _)| *k)
    }

    /// The operator's name.
    pub fn name(self) -> &'static str {
        ALL.iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .unwrap_or("Null")
    }

    /// Parses an exact base-operator name.
    pub fn from_name(s: &str) -> Option<OperatorKind> {
        ALL.iter().find(|(_, n)| *n == s).map(|(k, _)| *k)
    }

    /// Whether the operator is a negation: it holds when the key is absent,
    /// and against a value it holds when no policy value matches.
    pub fn is_negated(self) -> bool {
        use OperatorKind::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// The positive operator that this one negates (itself if positive).
    pub fn positive(self) -> OperatorKind {
        use OperatorKind::*;
        match self {
            StringNotEquals => StringEquals,
            StringNotEqualsIgnoreCase => StringEqualsIgnoreCase,
            StringNotLike => StringLike,
            NumericNotEquals => NumericEquals,
            DateNotEquals => DateEquals,
            NotIpAddress => IpAddress,
            ArnNotEquals => ArnEquals,
            ArnNotLike => ArnLike,
            other => other,
        }
    }

    /// The type of value the operator compares.
    pub fn value_type(self) -> ValueType {
        use OperatorKind::*;
        match self {
            StringEquals
            | StringNotEquals
            | StringEqualsIgnoreCase
            | StringNotEqualsIgnoreCase
            | StringLike
            | StringNotLike => ValueType::String,
            NumericEquals
            | NumericNotEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals => ValueType::Numeric,
            DateEquals
            | DateNotEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals => ValueType::Date,
            Bool => ValueType::Bool,
            BinaryEquals => ValueType::Binary,
            IpAddress | NotIpAddress => ValueType::Ip,
            ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => ValueType::Arn,
            Null => ValueType::Null,
        }
    }

    /// Whether policy variables are substituted in this operator's values.
    ///
    /// String and ARN operators: yes. Numeric, date, binary, IP and `Null`:
    /// no (AWS documents them as unsupported). `Bool`: the AWS pages
    /// contradict each other; we decided **yes** (as a reference simulator
    /// does), pinned by a corpus case.
    pub fn supports_variables(self) -> bool {
        matches!(
            self.value_type(),
            ValueType::String | ValueType::Arn | ValueType::Bool
        )
    }
}

impl Operator {
    /// Parses an operator name such as `ForAnyValue:StringLikeIfExists`.
    /// `Null` takes no `IfExists`.
    pub fn parse(s: &str) -> Option<Operator> {
        let (qualifier, rest) = if let Some(r) = s.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), r)
        } else if let Some(r) = s.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), r)
        } else {
            (None, s)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let kind = OperatorKind::from_name(base)?;
        if kind == OperatorKind::Null && if_exists {
            return None;
        }
        Some(Operator {
            qualifier,
            kind,
            if_exists,
        })
    }
}

impl fmt::Display for OperatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.qualifier {
            Some(SetQualifier::ForAllValues) => f.write_str("ForAllValues:")?,
            Some(SetQualifier::ForAnyValue) => f.write_str("ForAnyValue:")?,
            None => {}
        }
        f.write_str(self.kind.name())?;
        if self.if_exists {
            f.write_str("IfExists")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        let op = Operator::parse("ForAllValues:StringEqualsIfExists").unwrap();
        assert_eq!(op.qualifier, Some(SetQualifier::ForAllValues));
        assert_eq!(op.kind, OperatorKind::StringEquals);
        assert!(op.if_exists);
        assert_eq!(op.to_string(), "ForAllValues:StringEqualsIfExists");
        assert!(Operator::parse("ForAnyValue::StringEqualsIfExists").is_none());
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("stringequals").is_none());
        assert_eq!(OperatorKind::all().count(), 27);
        for k in OperatorKind::all() {
            assert_eq!(OperatorKind::from_name(k.name()), Some(k));
        }
    }
}
