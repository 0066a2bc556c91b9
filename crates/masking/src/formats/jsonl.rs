//! JSON Lines: each line is one JSON value; rules address members by path.

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::Value;

use crate::error::MaskError;
use crate::formats::{BATCH, Progress};
use crate::masker::Masker;
use crate::rules::{Field, Seg};
use crate::transform::Masked;

/// Transforms `input` to `output`.
pub fn run(
    masker: &mut Masker,
    mut input: impl BufRead,
    mut output: impl Write,
    path: &Path,
    out_path: &Path,
    progress: &mut Progress,
) -> Result<(), MaskError> {
    let plan = JsonPlan::new(masker)?;
    let mut line = String::new();
    let mut n = 0u64;
    // Documents are transformed in batches so that `shuffle` can permute within a batch;
    // blank lines are kept as they were (None).
    let mut batch: Vec<Option<Value>> = Vec::with_capacity(BATCH);
    let mut done = false;
    while !done {
        batch.clear();
        let first = n + 1;
        while batch.len() < BATCH {
            line.clear();
            let read = input
                .read_line(&mut line)
                .map_err(|e| MaskError::io(path, e))?;
            if read == 0 {
                done = true;
                break;
            }
            n += 1;
            let trimmed = line.trim_end_matches(['\n', '\r']);
            if trimmed.trim().is_empty() {
                batch.push(None);
                continue;
            }
            let mut doc: Value = serde_json::from_str(trimmed).map_err(|e| MaskError::Input {
                path: path.to_owned(),
                record: n,
                message: e.to_string(),
            })?;
            plan.apply(masker, &mut doc, n)?;
            batch.push(Some(doc));
        }
        plan.shuffle(masker, &mut batch);
        for (i, doc) in batch.iter().enumerate() {
            let mut out = match doc {
                None => String::new(),
                Some(d) => serde_json::to_string(d).map_err(|e| MaskError::Input {
                    path: path.to_owned(),
                    record: first + i as u64,
                    message: e.to_string(),
                })?,
            };
            out.push('\n');
            output
                .write_all(out.as_bytes())
                .map_err(|e| MaskError::io(out_path, e))?;
        }
        masker.count_records(batch.iter().filter(|d| d.is_some()).count() as u64);
        progress.tick(n);
    }
    output.flush().map_err(|e| MaskError::io(out_path, e))?;
    Ok(())
}

/// The field rules of a [`Masker`] resolved to JSON paths: masks one document at a time, for
/// JSON Lines here and for read APIs applying a caller's masking policy to a response.
#[derive(Debug, Clone)]
pub struct JsonPlan {
    fields: Vec<(usize, Vec<Seg>, Option<Vec<Seg>>)>,
    shuffles: Vec<(usize, Vec<Seg>)>,
    text_rules: bool,
}

impl JsonPlan {
    /// The plan for `masker`'s rules.
    pub fn new(masker: &Masker) -> Result<Self, MaskError> {
        let mut fields = Vec::new();
        let mut shuffles = Vec::new();
        for ri in masker.field_order() {
            let Some(r) = masker.rules().get(ri) else {
                continue;
            };
            let Some(f) = r.field.as_ref() else { continue };
            if r.transform.is_shuffle() {
                shuffles.push((ri, f.segments()));
            } else {
                fields.push((ri, f.segments(), r.entity.as_ref().map(Field::segments)));
            }
        }
        Ok(Self {
            fields,
            shuffles,
            text_rules: masker.has_text_rules(),
        })
    }

    /// Applies the `shuffle` rules across `docs`: the scalar values at each rule's path are
    /// permuted between the documents (a single document is left as it is).
    pub fn shuffle(&self, masker: &mut Masker, docs: &mut [Option<Value>]) {
        for (ri, segs) in &self.shuffles {
            let mut values = Vec::new();
            for doc in docs.iter_mut().flatten() {
                visit(doc, segs, &mut |v: &mut Value| {
                    if !matches!(v, Value::Array(_) | Value::Object(_)) {
                        values.push(v.take());
                    }
                    Action::Keep
                });
            }
            masker.shuffle(*ri, &mut values);
            let mut it = values.into_iter();
            for doc in docs.iter_mut().flatten() {
                visit(doc, segs, &mut |v: &mut Value| {
                    if !matches!(v, Value::Array(_) | Value::Object(_)) {
                        *v = it.next().unwrap_or(Value::Null);
                    }
                    Action::Keep
                });
            }
        }
    }

    /// Masks (or unmasks) `doc` in place; `record` numbers it in errors.
    pub fn apply(
        &self,
        masker: &mut Masker,
        doc: &mut Value,
        record: u64,
    ) -> Result<(), MaskError> {
        for (ri, segs, entity) in &self.fields {
            let ent = entity
                .as_ref()
                .and_then(|e| lookup(doc, e))
                .map(scalar_text);
            let mut failure = None;
            visit(doc, segs, &mut |v: &mut Value| {
                if failure.is_some() {
                    return Action::Keep;
                }
                let (text, was_number) = match v {
                    Value::String(s) if s.is_empty() => {
                        masker.note_empty(*ri);
                        return Action::Keep;
                    }
                    Value::String(s) => (s.clone(), false),
                    Value::Number(x) => (x.to_string(), true),
                    Value::Bool(b) => (b.to_string(), false),
                    Value::Null => {
                        masker.note_empty(*ri);
                        return Action::Keep;
                    }
                    // Objects and arrays are containers; address their leaves with a path.
                    Value::Array(_) | Value::Object(_) => return Action::Keep,
                };
                match masker.value(*ri, &text, ent.as_deref(), record) {
                    Ok(Masked::Value(s)) => {
                        *v = match serde_json::from_str::<serde_json::Number>(&s) {
                            Ok(num) if was_number => Value::Number(num),
                            _ => Value::String(s),
                        };
                        Action::Keep
                    }
                    Ok(Masked::Null) => {
                        *v = Value::Null;
                        Action::Keep
                    }
                    Ok(Masked::Remove) => Action::Remove,
                    Ok(Masked::Keep) => Action::Keep,
                    Err(e) => {
                        failure = Some(e);
                        Action::Keep
                    }
                }
            });
            if let Some(e) = failure {
                return Err(e);
            }
        }
        if self.text_rules {
            mask_strings(masker, doc, record)?;
        }
        Ok(())
    }
}

/// Free-text rules apply to every string in the document.
fn mask_strings(masker: &mut Masker, v: &mut Value, record: u64) -> Result<(), MaskError> {
    match v {
        Value::String(s) => {
            let out = masker.text(s, record)?;
            *s = out;
        }
        Value::Array(a) => {
            for x in a {
                mask_strings(masker, x, record)?;
            }
        }
        Value::Object(o) => {
            for (_, x) in o.iter_mut() {
                mask_strings(masker, x, record)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The first value at `segs`.
pub fn lookup<'a>(v: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    let Some((first, rest)) = segs.split_first() else {
        return Some(v);
    };
    match (first, v) {
        (Seg::Key(k), Value::Object(o)) => lookup(o.get(k)?, rest),
        (Seg::Index(i), Value::Array(a)) => lookup(a.get(*i)?, rest),
        (Seg::All, Value::Array(a)) => a.iter().find_map(|x| lookup(x, rest)),
        (Seg::All, Value::Object(o)) => o.values().find_map(|x| lookup(x, rest)),
        _ => None,
    }
}

/// What to do with a visited value.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Keep it (possibly changed in place).
    Keep,
    /// Remove it from its parent.
    Remove,
}

/// Calls `f` on every value at `segs`; removes those for which it returns [`Action::Remove`].
pub fn visit(v: &mut Value, segs: &[Seg], f: &mut dyn FnMut(&mut Value) -> Action) {
    let Some((first, rest)) = segs.split_first() else {
        // The root itself cannot be removed; null it instead.
        if f(v) == Action::Remove {
            *v = Value::Null;
        }
        return;
    };
    let last = rest.is_empty();
    match (first, v) {
        (Seg::Key(k), Value::Object(o)) => {
            if last {
                let remove = o.get_mut(k).is_some_and(|x| f(x) == Action::Remove);
                if remove {
                    o.remove(k);
                }
            } else if let Some(x) = o.get_mut(k) {
                visit(x, rest, f);
            }
        }
        (Seg::Index(i), Value::Array(a)) => {
            if let Some(x) = a.get_mut(*i) {
                if last {
                    // Removing would shift the indexes of the other elements; null instead.
                    if f(x) == Action::Remove {
                        *x = Value::Null;
                    }
                } else {
                    visit(x, rest, f);
                }
            }
        }
        (Seg::All, Value::Array(a)) => {
            if last {
                a.retain_mut(|x| f(x) != Action::Remove);
            } else {
                for x in a.iter_mut() {
                    visit(x, rest, f);
                }
            }
        }
        (Seg::All, Value::Object(o)) => {
            if last {
                o.retain(|_, x| f(x) != Action::Remove);
            } else {
                for (_, x) in o.iter_mut() {
                    visit(x, rest, f);
                }
            }
        }
        _ => {}
    }
}
