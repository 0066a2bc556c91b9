//! Applying compiled rules to values, fields and free text, with per-rule counts.

use regex::Regex;
use serde::Serialize;

use crate::detect::{Detector, resolve};
use crate::error::MaskError;
use crate::rules::{Field, OnError, Rule};
use crate::transform::{Direction, Masked};

/// Counts for one rule.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RuleStats {
    /// The rule name.
    pub rule: String,
    /// The field (column, path, or `text:IDS`).
    pub field: String,
    /// The transform name.
    pub transform: String,
    /// Values (or spans) transformed.
    pub transformed: u64,
    /// Empty or null values left alone.
    pub empty: u64,
    /// Values that could not be transformed and were handled by `on_error`.
    pub errors: u64,
}

/// What a run did, per rule (in rule order), plus the record count.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Records (rows, lines) read.
    pub records: u64,
    /// Per rule, in rule order.
    pub rules: Vec<RuleStats>,
}

impl Summary {
    /// The counts of the first rule named `name`.
    pub fn rule(&self, name: &str) -> Option<&RuleStats> {
        self.rules.iter().find(|r| r.rule == name)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} records", self.records)?;
        let w = self
            .rules
            .iter()
            .map(|s| s.field.len())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(
            f,
            "{:<w$}  {:<22} {:>12} {:>10} {:>8}",
            "field", "transform", "transformed", "empty", "errors"
        )?;
        for s in &self.rules {
            writeln!(
                f,
                "{:<w$}  {:<22} {:>12} {:>10} {:>8}",
                s.field, s.transform, s.transformed, s.empty, s.errors
            )?;
        }
        Ok(())
    }
}

/// Rules plus a detector, for one direction.
#[derive(Debug)]
pub struct Masker<'d> {
    rules: Vec<Rule>,
    detector: Box<dyn Detector + 'd>,
    direction: Direction,
    stats: Vec<RuleStats>,
    surrogate_re: Regex,
    records: u64,
    /// Per rule, the surrogates found in text that opened (unmasking).
    opened: Vec<u64>,
}

impl<'d> Masker<'d> {
    /// A masker over compiled rules.
    pub fn new(
        rules: Vec<Rule>,
        detector: Box<dyn Detector + 'd>,
        direction: Direction,
    ) -> Result<Self, MaskError> {
        let stats = rules
            .iter()
            .map(|r| RuleStats {
                rule: r.name.clone(),
                field: r.field_label(),
                transform: r.transform_name.to_owned(),
                ..RuleStats::default()
            })
            .collect();
        let stats_len = rules.len();
        let surrogate_re = Regex::new(r"(?-u:\b)([A-Z][A-Z0-9_]*)\(([0-9]{1,6})\):")
            .map_err(|e| MaskError::rule("surrogate", e.to_string()))?;
        Ok(Self {
            rules,
            detector,
            direction,
            stats,
            surrogate_re,
            records: 0,
            opened: vec![0; stats_len],
        })
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The direction.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Adds to the record count.
    pub fn count_records(&mut self, n: u64) {
        self.records += n;
    }

    /// The summary so far.
    pub fn summary(&self) -> Summary {
        Summary {
            records: self.records,
            rules: self.stats.clone(),
        }
    }

    /// After an unmask run: fails when a rule under `on_error: fail` found surrogates in text
    /// and not one of them opened. That is a wrong key or context (or rules the file was not
    /// masked with), not the odd text that looks like a surrogate, and writing the
    /// surrogates back unchanged with a success status would pass for an unmasked file.
    pub fn unopened_surrogates(&self) -> Result<(), MaskError> {
        if self.direction != Direction::Unmask {
            return Ok(());
        }
        for ((rule, stats), opened) in self.rules.iter().zip(&self.stats).zip(&self.opened) {
            if rule.on_error == OnError::Fail && stats.errors > 0 && *opened == 0 {
                return Err(MaskError::Value {
                    rule: rule.name.clone(),
                    field: rule.field_label(),
                    message: format!(
                        "none of the {} surrogates found opened (ciphertext failed \
                         authentication): wrong key, wrong context, or not the rules the file \
                         was masked with",
                        stats.errors
                    ),
                });
            }
        }
        Ok(())
    }

    /// Indices of field rules in the order they must run: a date shift reads its entity
    /// field in clear, so it runs first when masking; unmasking undoes the rules in the
    /// reverse order (bug: it undid two reversible rules on one field in the order they were
    /// applied, and failed).
    pub fn field_order(&self) -> Vec<usize> {
        let fields: Vec<usize> = (0..self.rules.len())
            .filter(|&i| self.rules.get(i).is_some_and(|r| r.field.is_some()))
            .collect();
        let (shift, other): (Vec<usize>, Vec<usize>) = fields
            .into_iter()
            .partition(|&i| self.rules.get(i).is_some_and(|r| r.entity.is_some()));
        let order = shift.into_iter().chain(other);
        match self.direction {
            Direction::Mask => order.collect(),
            Direction::Unmask => order.rev().collect(),
        }
    }

    /// Whether there are free-text rules (rules without a field).
    pub fn has_text_rules(&self) -> bool {
        self.rules.iter().any(|r| r.field.is_none())
    }

    /// Notes an empty value left alone by rule `i`.
    pub fn note_empty(&mut self, i: usize) {
        if let Some(s) = self.stats.get_mut(i) {
            s.empty += 1;
        }
    }

    /// Shuffles `values` in place (Fisher–Yates) and counts them for rule `i`.
    pub fn shuffle<T>(&mut self, i: usize, values: &mut [T]) {
        for k in (1..values.len()).rev() {
            let j = usize::try_from(crate::transform::random_below(k as u64 + 1)).unwrap_or(0);
            values.swap(k, j);
        }
        if let Some(s) = self.stats.get_mut(i) {
            s.transformed += values.len() as u64;
        }
    }

    /// What field rule `i` makes of a whole JSON object or array: `Some` when its transform
    /// does not look at the value (a `redact` removes the member whatever it holds), `None`
    /// when it applies to the container's leaves one by one.
    pub fn container(&mut self, i: usize) -> Option<Masked> {
        let rule = self.rules.get(i)?;
        if rule.identifiers.is_some() || self.direction != Direction::Mask {
            return None;
        }
        let m = rule.transform.whole_value()?;
        if let Some(s) = self.stats.get_mut(i) {
            s.transformed += 1;
        }
        Some(m)
    }

    /// Applies field rule `i` to one non-empty value of record `record`.
    pub fn value(
        &mut self,
        i: usize,
        value: &str,
        entity: Option<&str>,
        record: u64,
    ) -> Result<Masked, MaskError> {
        let Some(rule) = self.rules.get(i) else {
            return Ok(Masked::Keep);
        };
        if rule.identifiers.is_some() {
            // Only the detected spans inside the field. The field's names go to the detector
            // as scan's structure: a `dob` column satisfies DATE_OF_BIRTH's keyword as it does
            // for scan.
            let names = rule.field.as_ref().map(Field::names).unwrap_or_default();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let (out, n, _) = self.spans(value, record, Some(i), &names, None)?;
            if let Some(s) = self.stats.get_mut(i) {
                s.transformed += n;
            }
            return Ok(if n == 0 {
                Masked::Keep
            } else {
                Masked::Value(out)
            });
        }
        let result = match self.direction {
            Direction::Mask => rule.transform.apply(value, entity),
            Direction::Unmask => rule.transform.invert(value, entity),
        };
        tally(self.stats.get_mut(i), rule, record, result)
    }

    /// [`Self::value`] for a field that keeps only the text `accept` takes: a Parquet number
    /// column holds what its type writes back the same (`0123` would be read back as `123`,
    /// `1.50` as `1.5`, and unmask would then decrypt other digits). A format-preserving
    /// encryption walks the cycle: it encrypts (unmasking, decrypts) its own output again
    /// until `accept` takes it. FF1 permutes the strings of one shape and the walk starts
    /// from an accepted value, so it ends, and unmask walks back over the same steps to
    /// the original. Other transforms are applied once.
    pub fn value_within(
        &mut self,
        i: usize,
        value: &str,
        entity: Option<&str>,
        record: u64,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<Masked, MaskError> {
        // Beyond this a walk is hopeless (the accepted strings are too rare among the
        // shape's), not unlucky: for a 10-digit int32, whose walk is the longest of the
        // integer types, 10 000 steps fail with probability under 1e-500.
        const WALK_LIMIT: u32 = 10_000;
        let Some(rule) = self
            .rules
            .get(i)
            .filter(|r| r.identifiers.is_none() && r.transform_name == "fpe")
        else {
            return self.value(i, value, entity, record);
        };
        let mut current = value.to_owned();
        let mut steps = 0u32;
        let result = loop {
            let step = match self.direction {
                Direction::Mask => rule.transform.apply(&current, entity),
                Direction::Unmask => rule.transform.invert(&current, entity),
            };
            match step {
                Ok(Masked::Value(s)) if accept(&s) => break Ok(Masked::Value(s)),
                Ok(Masked::Value(s)) => {
                    steps += 1;
                    if steps >= WALK_LIMIT {
                        break Err(format!(
                            "format-preserving encryption found no output the column's type \
                             keeps exactly in {WALK_LIMIT} steps (a value of {} characters)",
                            s.chars().count()
                        ));
                    }
                    current = s;
                }
                other => break other,
            }
        };
        tally(self.stats.get_mut(i), rule, record, result)
    }

    /// [`Self::value_within`] for a value read again as the entity of a date shift, as the
    /// entity's own rule leaves it (unmasking, its clear value), without counting it again:
    /// the rule of the entity's own field counts it.
    pub fn entity_value(
        &mut self,
        i: usize,
        value: &str,
        record: u64,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<Masked, MaskError> {
        let saved = self.stats.get(i).cloned();
        let result = self.value_within(i, value, None, record, accept);
        if let (Some(s), Some(saved)) = (self.stats.get_mut(i), saved) {
            *s = saved;
        }
        result
    }

    /// Masks (or unmasks) the free text `text` with the free-text rules.
    pub fn text(&mut self, text: &str, record: u64) -> Result<String, MaskError> {
        Ok(self.spans(text, record, None, &[], None)?.0)
    }

    /// Masks (or unmasks) one step of a long text line with the free-text rules: values are
    /// detected in all of `text` (the context before `from` and after `limit` lets keywords
    /// and values that cross the step's edges be found), but only those starting in
    /// `from..limit` are transformed. Returns the output for `text[from..consumed]` and
    /// `consumed`: `limit`, or the end of a value that runs past it. `from` and `limit` must
    /// fall on character boundaries.
    pub fn text_window(
        &mut self,
        text: &str,
        record: u64,
        from: usize,
        limit: usize,
    ) -> Result<(String, usize), MaskError> {
        let (out, _, consumed) = self.spans(text, record, None, &[], Some((from, limit)))?;
        Ok((out, consumed))
    }

    /// Masks (or unmasks) with the free-text rules the value of a field named by `names` (a
    /// column name, the members of a JSON path), whose keywords count as scan counts them.
    pub fn text_in(
        &mut self,
        text: &str,
        record: u64,
        names: &[&str],
    ) -> Result<String, MaskError> {
        Ok(self.spans(text, record, None, names, None)?.0)
    }

    /// Transforms the detected spans (or, unmasking, the surrogates) in `text`. With
    /// `only`, just that rule is used; otherwise the first free-text rule matching each
    /// span's identifier. Returns the new text and the number of spans changed.
    fn spans(
        &mut self,
        text: &str,
        record: u64,
        only: Option<usize>,
        names: &[&str],
        window: Option<(usize, usize)>,
    ) -> Result<(String, u64, usize), MaskError> {
        let (from, limit) = window.unwrap_or((0, usize::MAX));
        let mut out = String::with_capacity(text.len().min(limit.saturating_sub(from)));
        let mut last = from;
        let mut changed = 0u64;
        match self.direction {
            Direction::Mask => {
                let spans = resolve(self.detector.detect_field(text, names));
                for span in spans {
                    // Spans are sorted: before `from` they were handled by the previous step
                    // of a long line, from `limit` on they belong to the next.
                    if span.offset < from {
                        continue;
                    }
                    if span.offset >= limit {
                        break;
                    }
                    let candidates = |r: &Rule| r.matches_identifier(&span.identifier);
                    let idx = match only {
                        Some(i) => self.rules.get(i).filter(|r| candidates(r)).map(|_| i),
                        None => self
                            .rules
                            .iter()
                            .position(|r| r.field.is_none() && candidates(r)),
                    };
                    let Some(idx) = idx else { continue };
                    let end = span.offset + span.length;
                    let (Some(before), Some(piece)) =
                        (text.get(last..span.offset), text.get(span.offset..end))
                    else {
                        continue;
                    };
                    let Some(rule) = self.rules.get(idx) else {
                        continue;
                    };
                    let label = rule
                        .identifier_label(&span.identifier)
                        .unwrap_or(&span.identifier);
                    let result = match rule.transform.apply_as(piece, None, Some(label)) {
                        Ok(m) => m,
                        Err(message) => {
                            if let Some(s) = self.stats.get_mut(idx) {
                                s.errors += 1;
                            }
                            handle_error(rule, record, message)?
                        }
                    };
                    out.push_str(before);
                    match result {
                        Masked::Value(v) => out.push_str(&v),
                        Masked::Keep => out.push_str(piece),
                        Masked::Null | Masked::Remove => {}
                    }
                    if only.is_none()
                        && let Some(s) = self.stats.get_mut(idx)
                    {
                        s.transformed += 1;
                    }
                    changed += 1;
                    last = end;
                }
            }
            Direction::Unmask => {
                let found: Vec<(usize, usize, String)> = self
                    .surrogate_re
                    .captures_iter(text)
                    .filter_map(|c| {
                        let whole = c.get(0)?;
                        let ty = c.get(1)?.as_str().to_owned();
                        let len: usize = c.get(2)?.as_str().parse().ok()?;
                        let rest = text.get(whole.end()..)?;
                        let token_len = rest.char_indices().nth(len).map_or(rest.len(), |(b, _)| b);
                        (rest.chars().count() >= len).then_some((
                            whole.start(),
                            whole.end() + token_len,
                            ty,
                        ))
                    })
                    .collect();
                for (start, end, ty) in found {
                    if start >= limit {
                        break;
                    }
                    if start < last {
                        continue;
                    }
                    let idx = match only {
                        Some(i) => self
                            .rules
                            .get(i)
                            .filter(|r| r.transform.surrogate() == Some(&ty))
                            .map(|_| i),
                        None => self
                            .rules
                            .iter()
                            .position(|r| r.field.is_none() && r.transform.surrogate() == Some(&ty))
                            .or_else(|| {
                                self.rules
                                    .iter()
                                    .position(|r| r.transform.surrogate() == Some(&ty))
                            }),
                    };
                    let Some(idx) = idx else { continue };
                    let (Some(before), Some(piece)) = (text.get(last..start), text.get(start..end))
                    else {
                        continue;
                    };
                    let Some(rule) = self.rules.get(idx) else {
                        continue;
                    };
                    let (plain, opened) = match rule.transform.invert(piece, None) {
                        Ok(Masked::Value(v)) => (v, true),
                        Ok(_) => (piece.to_owned(), true),
                        Err(message) => {
                            if let Some(s) = self.stats.get_mut(idx) {
                                s.errors += 1;
                            }
                            // In free text, one thing shaped like a surrogate that does not
                            // open (authenticated encryption says so) is most likely text the
                            // original already held: it stays as it is, counted in the
                            // errors. When none opens at all, the key or context is wrong:
                            // `unopened_surrogates` fails the run then.
                            let kept = if rule.on_error == OnError::Fail {
                                piece.to_owned()
                            } else {
                                match handle_error(rule, record, message)? {
                                    Masked::Value(v) => v,
                                    Masked::Keep => piece.to_owned(),
                                    Masked::Null | Masked::Remove => String::new(),
                                }
                            };
                            (kept, false)
                        }
                    };
                    out.push_str(before);
                    out.push_str(&plain);
                    last = end;
                    if !opened {
                        continue;
                    }
                    if let Some(n) = self.opened.get_mut(idx) {
                        *n += 1;
                    }
                    if only.is_none()
                        && let Some(s) = self.stats.get_mut(idx)
                    {
                        s.transformed += 1;
                    }
                    changed += 1;
                }
            }
        }
        let end = match window {
            None => text.len(),
            Some(_) => last.max(limit).min(text.len()),
        };
        out.push_str(text.get(last..end).unwrap_or(""));
        Ok((out, changed, end))
    }
}

/// Counts a rule's outcome on one value in its statistics, and turns a failure into what the
/// rule's `on_error` asks for.
fn tally(
    stats: Option<&mut RuleStats>,
    rule: &Rule,
    record: u64,
    result: Result<Masked, String>,
) -> Result<Masked, MaskError> {
    match result {
        Ok(m) => {
            if let Some(s) = stats
                && m != Masked::Keep
            {
                s.transformed += 1;
            }
            Ok(m)
        }
        Err(message) => {
            if let Some(s) = stats {
                s.errors += 1;
            }
            handle_error(rule, record, message)
        }
    }
}

fn handle_error(rule: &Rule, record: u64, message: String) -> Result<Masked, MaskError> {
    match rule.on_error {
        OnError::Fail => Err(MaskError::Value {
            rule: rule.name.clone(),
            field: rule.field_label(),
            message: format!("record {record}: {message}"),
        }),
        OnError::Keep => Ok(Masked::Keep),
        OnError::Redact => Ok(Masked::Remove),
        OnError::Null => Ok(Masked::Null),
    }
}
