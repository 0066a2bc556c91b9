//! Compiled condition entries and their evaluation against a context.
//!
//! Semantics (IAM User Guide, *Condition operators* and *multivalued context
//! keys*), with our decisions where it is silent:
//!
//! * Absent key (or empty list): `Null:true` holds; `ForAllValues:` holds;
//!   `ForAnyValue:` fails, with `IfExists` too; a plain operator holds only with
//!   `IfExists` or when negated (`StringNotEquals`, `NotIpAddress`…).
//! * Present key: a positive operator holds when some policy value matches the
//!   request value; a negated one when none does.
//! * A plain operator never matches a multi-valued key (a key given as a
//!   list), negated or not, `IfExists` or not.
//! * `ForAllValues:`/`ForAnyValue:` against a single value treat it as a
//!   one-element set.
//! * A policy value with an unresolved variable (absent key, no default)
//!   matches nothing. A request value of the wrong type (e.g. `abc` under
//!   `NumericEquals`) matches no policy value.
//! * Numbers compare exactly, as decimals of any length.

use crate::date::Timestamp;
use crate::ip::Cidr;
use crate::operator::{Operator, OperatorKind, SetQualifier, ValueType};
use crate::pattern::{Piece, Template};
use crate::policy::ConditionEntry;
use crate::request::{Context, Entry, Number, Value, parse_bool, parse_number};

/// An ARN pattern compared segment by segment: `*` never crosses a `:` in
/// the first five segments; in the sixth (resource) part it spans anything.
#[derive(Debug, Clone)]
pub(crate) enum ArnPattern {
    /// Six segment templates.
    Segments(Box<[Template; 6]>),
    /// Six segment templates of a `Resource` ARN in which one of the first five segments ends
    /// in `*`: that `*` may also span colons ("If the `*` wildcard is the last character of a
    /// resource ARN segment, it can expand to match beyond the colon boundaries", IAM User
    /// Guide, *Resource*), so `arn:aws:sqs:us-east-*:queue` covers
    /// `arn:aws:sqs:us-east-1:111122223333:queue`.
    Spanning(Box<[Template; 6]>),
    /// A value made of a variable whose segments are unknown until resolved
    /// (e.g. `${aws:PrincipalArn}`): matched as a whole.
    Whole(Template),
}

/// Splits at `:` outside `${…}`, into at most `max` parts.
pub(crate) fn split_colons(s: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'$') if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            Some(b'}') if depth > 0 => depth -= 1,
            Some(b':') if depth == 0 && out.len() + 1 < max => {
                out.push(s.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(s.get(start..).unwrap_or(""));
    out
}

impl ArnPattern {
    /// Compiles an ARN pattern. Missing trailing segments are `*`, as AWS
    /// pads short ARNs. With `lower_prefix` the first five segments are
    /// lower-cased (the `Resource` element compares them case-insensitively;
    /// `Arn*` operators do not).
    pub(crate) fn new(s: &str, variables: bool, lower_prefix: bool) -> ArnPattern {
        let parts = split_colons(s, 6);
        // A `Resource` takes variables only after the fifth colon ("You can't use a variable to
        // replace parts of the ARN before the fifth colon", IAM User Guide, *Policy variables*):
        // a short one keeps them as text, in the segments below.
        if variables && !lower_prefix && parts.len() < 6 && s.contains("${") {
            return ArnPattern::Whole(Template::new(s, true, true));
        }
        let seg = |i: usize| -> Template {
            let text = parts.get(i).copied().unwrap_or("*");
            if i < 5 {
                let t = if lower_prefix {
                    text.to_lowercase()
                } else {
                    text.to_string()
                };
                // Variables are only substituted in the resource part of a
                // `Resource`; condition ARNs take them anywhere.
                Template::new(&t, variables && !lower_prefix, true)
            } else {
                Template::new(text, variables, true)
            }
        };
        let segs = Box::new([seg(0), seg(1), seg(2), seg(3), seg(4), seg(5)]);
        let spans = |t: &Template| t.pieces.last() == Some(&Piece::Star);
        if lower_prefix && segs.iter().take(5).any(spans) {
            ArnPattern::Spanning(segs)
        } else {
            ArnPattern::Segments(segs)
        }
    }

    /// Matches an ARN given as text.
    pub(crate) fn matches_text(&self, text: &str, ctx: &Context) -> bool {
        let lookup = |k: &str| ctx.variable(k);
        match self {
            ArnPattern::Whole(t) => t.matches(text, lookup),
            ArnPattern::Segments(segs) => {
                let mut it = text.splitn(6, ':');
                segs.iter()
                    .all(|t| t.matches(it.next().unwrap_or(""), lookup))
            }
            ArnPattern::Spanning(segs) => spanning_match(segs, text, ctx),
        }
    }

    /// Matches pre-split segments (the request's normalised resource).
    pub(crate) fn matches_segments<'a>(
        &self,
        seg: impl Fn(usize) -> Option<&'a str>,
        ctx: &Context,
    ) -> bool {
        let lookup = |k: &str| ctx.variable(k);
        match self {
            ArnPattern::Whole(t) => {
                // Rebuild the text only on this rare path.
                let text: Vec<&str> = (0..6).map(|i| seg(i).unwrap_or("")).collect();
                t.matches(&text.join(":"), lookup)
            }
            ArnPattern::Segments(segs) => segs
                .iter()
                .enumerate()
                .all(|(i, t)| t.matches(seg(i).unwrap_or(""), lookup)),
            ArnPattern::Spanning(segs) => {
                // Segment by segment first: the common case, and no allocation.
                if segs
                    .iter()
                    .enumerate()
                    .all(|(i, t)| t.matches(seg(i).unwrap_or(""), lookup))
                {
                    return true;
                }
                // However the first five segments split the units, the sixth gets what follows
                // one of the colons from the fifth on, or nothing: when it matches none of those,
                // no split does (the common miss, a resource name of another statement, decided
                // without building the text).
                let rest = seg(5).unwrap_or("");
                let [_, _, _, _, _, last] = &**segs;
                let tails = std::iter::once(rest)
                    .chain(
                        rest.match_indices(':')
                            .map(|(i, _)| rest.get(i + 1..).unwrap_or("")),
                    )
                    .chain(std::iter::once(""));
                if !tails.into_iter().any(|t| last.matches(t, lookup)) {
                    return false;
                }
                let text: Vec<&str> = (0..6).map(|i| seg(i).unwrap_or("")).collect();
                spanning_match(segs, &text.join(":"), ctx)
            }
        }
    }
}

/// ARNs with more colons are not searched for a spanning match: a bound on the work an odd
/// resource name can cause.
const MAX_SPANNING_UNITS: usize = 64;

/// Matches `text` against six segment templates where a segment ending in `*` (among the first
/// five) may take several colon-separated units of the text, and the sixth takes the rest.
/// Each (segment, unit) pair is tried at most once.
fn spanning_match(segs: &[Template; 6], text: &str, ctx: &Context) -> bool {
    let lookup = |k: &str| ctx.variable(k);
    // Start offsets of the colon-separated units; `starts.len()` is past the end.
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices(':').map(|(i, _)| i + 1))
        .collect();
    if starts.len() > MAX_SPANNING_UNITS {
        return false;
    }
    let units = starts.len();
    let unit_end = |k: usize| starts.get(k + 1).map_or(text.len(), |&n| n - 1);
    let from = |k: usize| starts.get(k).copied().unwrap_or(text.len());
    let mut failed = vec![false; 6 * (units + 1)];
    // Depth-first over (segment, first unit it starts at); any split that matches will do.
    let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
    while let Some((i, k)) = stack.pop() {
        let Some(t) = segs.get(i) else {
            continue;
        };
        if let Some(f) = failed.get_mut(i * (units + 1) + k) {
            if *f {
                continue;
            }
            *f = true;
        }
        let start = from(k);
        if i == 5 {
            if t.matches(text.get(start..).unwrap_or(""), lookup) {
                return true;
            }
            continue;
        }
        let last = if t.pieces.last() == Some(&Piece::Star) {
            units.saturating_sub(1).max(k)
        } else {
            k
        };
        for e in k..=last {
            let end = if k >= units { text.len() } else { unit_end(e) };
            let cand = text.get(start.min(end)..end).unwrap_or("");
            if t.matches(cand, lookup) {
                stack.push((i + 1, (e + 1).min(units)));
            }
        }
    }
    false
}

#[derive(Debug, Clone)]
enum Values {
    Str(Vec<Template>),
    Fold(Vec<Template>),
    Num(Vec<Option<Number>>),
    Date(Vec<Option<Timestamp>>),
    Bool(Vec<Template>),
    Bin(Vec<Option<Vec<u8>>>),
    Ip(Vec<Option<Cidr>>),
    Arn(Vec<ArnPattern>),
    Null(Vec<Option<bool>>),
}

impl Values {
    fn is_empty(&self) -> bool {
        match self {
            Values::Str(v) | Values::Fold(v) | Values::Bool(v) => v.is_empty(),
            Values::Num(v) => v.is_empty(),
            Values::Date(v) => v.is_empty(),
            Values::Bin(v) => v.is_empty(),
            Values::Ip(v) => v.is_empty(),
            Values::Arn(v) => v.is_empty(),
            Values::Null(v) => v.is_empty(),
        }
    }
}

/// One compiled `Operator: {key: values}` entry.
#[derive(Debug, Clone)]
pub(crate) struct CompiledCondition {
    op: Operator,
    key: Box<str>,
    values: Values,
}

fn eq_fold(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

impl CompiledCondition {
    pub(crate) fn new(e: &ConditionEntry, variables: bool) -> CompiledCondition {
        let kind = e.operator.kind;
        let vars = variables && kind.supports_variables();
        let vals = &e.values;
        let values = match kind.value_type() {
            ValueType::String => {
                let like = matches!(kind.positive(), OperatorKind::StringLike);
                let t: Vec<Template> = vals.iter().map(|v| Template::new(v, vars, like)).collect();
                if kind.positive() == OperatorKind::StringEqualsIgnoreCase {
                    Values::Fold(t)
                } else {
                    Values::Str(t)
                }
            }
            ValueType::Numeric => Values::Num(vals.iter().map(|v| parse_number(v)).collect()),
            ValueType::Date => Values::Date(vals.iter().map(|v| crate::date::parse(v)).collect()),
            ValueType::Bool => {
                Values::Bool(vals.iter().map(|v| Template::new(v, vars, false)).collect())
            }
            ValueType::Binary => {
                Values::Bin(vals.iter().map(|v| crate::base64::decode(v)).collect())
            }
            ValueType::Ip => Values::Ip(vals.iter().map(|v| Cidr::parse(v)).collect()),
            ValueType::Arn => Values::Arn(
                vals.iter()
                    .map(|v| ArnPattern::new(v, vars, false))
                    .collect(),
            ),
            ValueType::Null => Values::Null(vals.iter().map(|v| parse_bool(v)).collect()),
        };
        CompiledCondition {
            op: e.operator,
            key: e.key.to_lowercase().into_boxed_str(),
            values,
        }
    }

    /// Whether the condition holds in `ctx`.
    pub(crate) fn eval(&self, ctx: &Context) -> bool {
        // A condition with an empty value list holds for nothing, whatever the operator: the
        // statement "provides no permissions" (Access Analyzer's EMPTY_ARRAY_CONDITION), and a
        // negated operator must not turn `[]` into a grant to everyone.
        if self.values.is_empty() {
            return false;
        }
        let mut entry = ctx.get_lower(&self.key);
        // For the set operators an empty string is a null data set, as an absent key is (AWS:
        // ForAllValues "returns true … if the key values resolve to a null data set, such as an
        // empty string"; ForAnyValue false "for no matching key or a null dataset").
        let null_set = match entry {
            Some(Entry::Single(v)) => v.as_str().is_empty(),
            Some(Entry::List(vs)) => vs.iter().all(|v| v.as_str().is_empty()),
            None => false,
        };
        if self.op.qualifier.is_some() && null_set {
            entry = None;
        }
        if let Values::Null(wants) = &self.values {
            let absent = entry.is_none();
            return wants.contains(&Some(absent));
        }
        match entry {
            None => match self.op.qualifier {
                Some(SetQualifier::ForAllValues) => true,
                // `IfExists` tests each value inside the set operator, so it cannot make an
                // absent key hold: AWS denies such a request ("For no matching key or a null
                // dataset, the condition returns false"; re:Post QU9HFmDzP0QGuU-fd7rS6B7w).
                Some(SetQualifier::ForAnyValue) => false,
                None => self.op.if_exists || self.op.kind.is_negated(),
            },
            Some(Entry::Single(v)) => self.test(v, ctx),
            Some(Entry::List(vs)) => match self.op.qualifier {
                None => false,
                Some(SetQualifier::ForAllValues) => vs.iter().all(|v| self.test(v, ctx)),
                Some(SetQualifier::ForAnyValue) => vs.iter().any(|v| self.test(v, ctx)),
            },
        }
    }

    fn test(&self, v: &Value, ctx: &Context) -> bool {
        let hit = self.positive(v, ctx);
        if self.op.kind.is_negated() { !hit } else { hit }
    }

    fn positive(&self, v: &Value, ctx: &Context) -> bool {
        use OperatorKind::*;
        let lookup = |k: &str| ctx.variable(k);
        match &self.values {
            Values::Str(ts) => ts.iter().any(|t| t.matches(v.as_str(), lookup)),
            Values::Fold(ts) => ts.iter().any(|t| match t.literal() {
                Some(lit) => eq_fold(lit, v.as_str()),
                None => t.render(lookup).is_some_and(|s| eq_fold(&s, v.as_str())),
            }),
            Values::Num(ns) => {
                let Some(r) = v.as_number() else {
                    return false;
                };
                ns.iter().flatten().any(|p| match self.op.kind.positive() {
                    NumericEquals => r == *p,
                    NumericLessThan => r < *p,
                    NumericLessThanEquals => r <= *p,
                    NumericGreaterThan => r > *p,
                    NumericGreaterThanEquals => r >= *p,
                    _ => false,
                })
            }
            Values::Date(ds) => {
                let Some(r) = v.as_date() else {
                    return false;
                };
                ds.iter().flatten().any(|p| match self.op.kind.positive() {
                    DateEquals => r == *p,
                    DateLessThan => r < *p,
                    DateLessThanEquals => r <= *p,
                    DateGreaterThan => r > *p,
                    DateGreaterThanEquals => r >= *p,
                    _ => false,
                })
            }
            Values::Bool(ts) => {
                let Some(r) = v.as_bool() else {
                    return false;
                };
                ts.iter().any(|t| {
                    let b = match t.literal() {
                        Some(lit) => parse_bool(lit),
                        None => t.render(lookup).and_then(|s| parse_bool(&s)),
                    };
                    b == Some(r)
                })
            }
            Values::Bin(bs) => {
                v.with_binary(|r| r.is_some_and(|r| bs.iter().flatten().any(|p| p.as_slice() == r)))
            }
            Values::Ip(cs) => {
                let Some(ip) = v.as_ip() else {
                    return false;
                };
                cs.iter().flatten().any(|c| c.contains(ip))
            }
            Values::Arn(ps) => ps.iter().any(|p| p.matches_text(v.as_str(), ctx)),
            Values::Null(_) => false,
        }
    }
}

/// Whether a static pattern (no variables) matches; used by tests.
#[cfg(test)]
pub(crate) fn glob(p: &str, t: &str) -> bool {
    crate::pattern::matches(&crate::pattern::glob_pieces(p, true), t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ConditionEntry;

    fn cond(op: &str, key: &str, vals: &[&str]) -> CompiledCondition {
        CompiledCondition::new(
            &ConditionEntry {
                operator: Operator::parse(op).unwrap(),
                operator_name: op.to_string(),
                key: key.to_string(),
                values: vals.iter().map(|s| s.to_string()).collect(),
            },
            true,
        )
    }

    #[test]
    fn missing_key_rules() {
        let ctx = Context::new();
        assert!(!cond("StringEquals", "k", &["a"]).eval(&ctx));
        assert!(cond("StringNotEquals", "k", &["a"]).eval(&ctx));
        assert!(cond("StringEqualsIfExists", "k", &["a"]).eval(&ctx));
        assert!(cond("ForAllValues:StringEquals", "k", &["a"]).eval(&ctx));
        assert!(!cond("ForAnyValue:StringEquals", "k", &["a"]).eval(&ctx));
        assert!(cond("Null", "k", &["true"]).eval(&ctx));
        assert!(!cond("Null", "k", &["false"]).eval(&ctx));
    }

    #[test]
    fn a_resource_segment_ending_in_a_star_spans_colons_and_misses_stay_misses() {
        let ctx = Context::new();
        let check = |pattern: &str, arn: &str| {
            let p = ArnPattern::new(pattern, false, true);
            let segs = split_colons(arn, 6);
            p.matches_segments(|i| segs.get(i).copied(), &ctx)
        };
        // The region's `*` takes the account too; the padded sixth segment takes nothing.
        assert!(check(
            "arn:aws:kms:*:key/abc",
            "arn:aws:kms:us-east-1:111111111111:key/abc"
        ));
        // The sixth segment may start at a colon after the fifth.
        assert!(check(
            "arn:aws:logs:*:*:stream/s",
            "arn:aws:logs:us-east-1:111111111111:group/g:stream/s"
        ));
        // Regression for the fast reject: another statement's resource name is no match
        // however the units split, and neither is a tail that only looks alike.
        assert!(!check(
            "arn:aws:sqs:*:111111111111:res01/*",
            "arn:aws:sqs:us-east-1:111111111111:res92/q"
        ));
        assert!(!check(
            "arn:aws:logs:*:*:stream/t",
            "arn:aws:logs:us-east-1:111111111111:group/g:stream/s"
        ));
    }

    #[test]
    fn arn_like_is_segment_wise() {
        let ctx = Context::new().with(
            "aws:SourceArn",
            "arn:aws:svc:us-east-2:999999999999:store/abc:111122223333",
        );
        assert!(
            !cond(
                "ArnLike",
                "aws:SourceArn",
                &["arn:aws:svc:*:111122223333:finance/*"]
            )
            .eval(&ctx)
        );
        assert!(
            cond(
                "ArnLike",
                "aws:SourceArn",
                &["arn:aws:svc:*:999999999999:store/*"]
            )
            .eval(&ctx)
        );
        assert!(
            !cond(
                "StringLike",
                "aws:SourceArn",
                &["arn:aws:svc:*:111122223333:finance/*"]
            )
            .eval(&ctx)
        );
        assert!(glob(
            "arn:aws:svc:*:111122223333*",
            "arn:aws:svc:us-east-2:999999999999:store/abc:111122223333"
        ));
    }
}
