//! JSON Lines: each line is one JSON value; rules address members by path.

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::Value;

use crate::error::MaskError;
use crate::formats::{BATCH, Options, Progress};
use crate::masker::Masker;
use crate::rules::{Field, Seg};
use crate::transform::Masked;

/// Transforms `input` to `output`. A record no rule changes is written as it was read, byte
/// for byte; a changed one keeps its member order, spacing and the text of every value the
/// rules left alone (serde_json's `Value` would round big numbers and sort the members).
pub fn run(
    masker: &mut Masker,
    mut input: impl BufRead,
    mut output: impl Write,
    path: &Path,
    out_path: &Path,
    opts: Options,
    progress: &mut Progress,
) -> Result<(), MaskError> {
    let plan = JsonPlan::new(masker)?;
    let mut hits = plan.counters();
    let mut n = 0u64;
    // Documents are transformed in batches so that `shuffle` can permute within a batch;
    // blank lines are kept as they were (None).
    let mut lines: Vec<String> = Vec::with_capacity(BATCH);
    let mut before: Vec<Option<Value>> = Vec::with_capacity(BATCH);
    let mut after: Vec<Option<Value>> = Vec::with_capacity(BATCH);
    let mut done = false;
    while !done {
        lines.clear();
        before.clear();
        after.clear();
        let first = n + 1;
        while lines.len() < BATCH {
            let mut line = String::new();
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
                before.push(None);
                after.push(None);
                lines.push(line);
                continue;
            }
            let mut doc: Value = serde_json::from_str(trimmed).map_err(|e| MaskError::Input {
                path: path.to_owned(),
                record: n,
                message: e.to_string(),
            })?;
            let orig = doc.clone();
            let mut spans = Spans {
                text: trimmed,
                at: 0,
                duplicate_keys: false,
            };
            let root = spans.node();
            let lit = root.as_ref().map(|node| Lit {
                text: trimmed,
                node,
            });
            plan.apply_counted(masker, &mut doc, n, lit, &mut hits)?;
            before.push(Some(orig));
            after.push(Some(doc));
            lines.push(line);
        }
        plan.shuffle_counted(masker, &mut after, &mut hits);
        for (i, line) in lines.iter().enumerate() {
            let (Some(Some(old)), Some(Some(new))) = (before.get(i), after.get(i)) else {
                output
                    .write_all(line.as_bytes())
                    .map_err(|e| MaskError::io(out_path, e))?;
                continue;
            };
            let body = line.trim_end_matches(['\n', '\r']);
            let ending = line.get(body.len()..).unwrap_or("");
            let serialize_err = |e: serde_json::Error| MaskError::Input {
                path: path.to_owned(),
                record: first + i as u64,
                message: e.to_string(),
            };
            let mut out = String::with_capacity(line.len());
            if !write_changed(body, old, new, &mut out).map_err(serialize_err)? {
                output
                    .write_all(line.as_bytes())
                    .map_err(|e| MaskError::io(out_path, e))?;
                continue;
            }
            // A last line without a newline stays without one (bug: one was added).
            out.push_str(ending);
            output
                .write_all(out.as_bytes())
                .map_err(|e| MaskError::io(out_path, e))?;
        }
        masker.count_records(after.iter().filter(|d| d.is_some()).count() as u64);
        progress.tick(n);
    }
    if opts.strict_fields && masker.summary().records > 0 {
        plan.check_matched(masker, &hits, path)?;
    }
    output.flush().map_err(|e| MaskError::io(out_path, e))?;
    Ok(())
}

/// Writes `new`, the masked form of `old` read from `body`, reusing `body`'s text for every
/// part the rules left alone; `false` (and nothing written) when `body` itself is the output.
fn write_changed(
    body: &str,
    old: &Value,
    new: &Value,
    out: &mut String,
) -> Result<bool, serde_json::Error> {
    let mut spans = Spans {
        text: body,
        at: 0,
        duplicate_keys: false,
    };
    match spans.node() {
        // A repeated key's earlier values never reached the rules (`Value` keeps the last),
        // so the original text must not be reused, even when the rules changed nothing: the
        // record is written as the rules saw it.
        Some(_) if spans.duplicate_keys => out.push_str(&serde_json::to_string(new)?),
        Some(_) if old == new => return Ok(false),
        Some(root) => {
            out.push_str(body.get(..root.start).unwrap_or(""));
            emit(body, &root, old, new, out)?;
            out.push_str(body.get(root.end..).unwrap_or(""));
        }
        // Unreachable for a text serde_json parsed; a plain serialization is correct.
        None => out.push_str(&serde_json::to_string(new)?),
    }
    Ok(true)
}

/// Transforms a JSON document (`.json`): an array whose elements are the records (as a
/// JSON Lines file's lines are), or a single record. The document is read whole.
pub fn run_document(
    masker: &mut Masker,
    mut input: impl std::io::Read,
    mut output: impl Write,
    path: &Path,
    out_path: &Path,
    opts: Options,
    progress: &mut Progress,
) -> Result<(), MaskError> {
    let plan = JsonPlan::new(masker)?;
    let mut hits = plan.counters();
    let mut text = String::new();
    input
        .read_to_string(&mut text)
        .map_err(|e| MaskError::io(path, e))?;
    let input_err = |record: u64, message: String| MaskError::Input {
        path: path.to_owned(),
        record,
        message,
    };
    let old: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        // Several values one after another: a JSON Lines file named `.json`, which was read
        // as JSON Lines before `.json` meant one document.
        Err(_)
            if serde_json::Deserializer::from_str(&text)
                .into_iter::<serde::de::IgnoredAny>()
                .all(|v| v.is_ok()) =>
        {
            return run(
                masker,
                text.as_bytes(),
                output,
                path,
                out_path,
                opts,
                progress,
            );
        }
        Err(e) => return Err(input_err(1, e.to_string())),
    };
    let mut spans = Spans {
        text: &text,
        at: 0,
        duplicate_keys: false,
    };
    let root = spans.node();
    let new = match (&old, root.as_ref().map(|r| &r.kind)) {
        (Value::Array(items), Some(Kind::Array { items: nodes, .. })) => {
            let mut docs: Vec<Option<Value>> = items.iter().cloned().map(Some).collect();
            for (i, doc) in docs.iter_mut().enumerate() {
                let Some(doc) = doc else { continue };
                let lit = nodes.get(i).map(|item| Lit {
                    text: &text,
                    node: &item.value,
                });
                plan.apply_counted(masker, doc, i as u64 + 1, lit, &mut hits)?;
            }
            plan.shuffle_counted(masker, &mut docs, &mut hits);
            masker.count_records(docs.len() as u64);
            Value::Array(docs.into_iter().flatten().collect())
        }
        _ => {
            let mut doc = old.clone();
            let lit = root.as_ref().map(|node| Lit { text: &text, node });
            plan.apply_counted(masker, &mut doc, 1, lit, &mut hits)?;
            masker.count_records(1);
            doc
        }
    };
    if opts.strict_fields && masker.summary().records > 0 {
        plan.check_matched(masker, &hits, path)?;
    }
    progress.tick(masker.summary().records);
    let mut out = String::with_capacity(text.len());
    let changed =
        write_changed(&text, &old, &new, &mut out).map_err(|e| input_err(1, e.to_string()))?;
    let out = if changed { out.as_str() } else { text.as_str() };
    output
        .write_all(out.as_bytes())
        .map_err(|e| MaskError::io(out_path, e))?;
    output.flush().map_err(|e| MaskError::io(out_path, e))?;
    Ok(())
}

/// A value's node in the text it was parsed from, so that a number is read as written
/// (`serde_json::Number` rounds what an `f64` cannot hold, and `19.90` prints as `19.9`).
#[derive(Clone, Copy)]
struct Lit<'a> {
    text: &'a str,
    node: &'a Node,
}

impl<'a> Lit<'a> {
    /// The member `key` of an object node (the last one of that key, as serde_json keeps).
    fn member(self, key: &str) -> Option<Lit<'a>> {
        match &self.node.kind {
            Kind::Object { members, .. } => {
                members.iter().rev().find(|m| m.key == key).map(|m| Lit {
                    text: self.text,
                    node: &m.value,
                })
            }
            _ => None,
        }
    }

    /// Element `i` of an array node.
    fn item(self, i: usize) -> Option<Lit<'a>> {
        match &self.node.kind {
            Kind::Array { items, .. } => items.get(i).map(|it| Lit {
                text: self.text,
                node: &it.value,
            }),
            _ => None,
        }
    }

    /// The number as written, when this node still holds `n` (an earlier rule may have
    /// changed or moved the value since the text was read).
    fn number(self, n: &serde_json::Number) -> Option<&'a str> {
        let written = self.text.get(self.node.start..self.node.end)?;
        let parsed: serde_json::Number = serde_json::from_str(written).ok()?;
        (parsed == *n).then_some(written)
    }
}

/// Where a JSON value lies in its line, with the same for its members or elements.
#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Scalar,
    /// Members in written order; `tail` is the text between the last value and `}`.
    Object {
        members: Vec<Member>,
        tail: (usize, usize),
    },
    Array {
        items: Vec<Item>,
        tail: (usize, usize),
    },
}

#[derive(Debug)]
struct Member {
    /// The text before the key: the separating comma and spacing.
    gap: (usize, usize),
    /// The key as written, the colon and the spacing up to the value.
    head: (usize, usize),
    key: String,
    value: Node,
}

#[derive(Debug)]
struct Item {
    gap: (usize, usize),
    value: Node,
}

/// Locates the values of a line that serde_json has already accepted: it only finds
/// boundaries and returns `None` on anything unexpected rather than validating again.
struct Spans<'a> {
    text: &'a str,
    at: usize,
    /// Whether an object repeats a key.
    duplicate_keys: bool,
}

impl Spans<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn string_end(&mut self) -> Option<()> {
        self.at += 1;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                _ => self.at += 1,
            }
        }
    }

    fn node(&mut self) -> Option<Node> {
        self.skip_ws();
        let start = self.at;
        let kind = match self.peek()? {
            b'{' => {
                self.at += 1;
                let mut members = Vec::new();
                loop {
                    let gap_start = self.at;
                    self.skip_ws();
                    match self.peek()? {
                        b'}' => {
                            let tail = (gap_start, self.at);
                            self.at += 1;
                            let mut keys: Vec<&str> =
                                members.iter().map(|m: &Member| m.key.as_str()).collect();
                            keys.sort_unstable();
                            if keys.windows(2).any(|w| w.first() == w.last()) {
                                self.duplicate_keys = true;
                            }
                            break Kind::Object { members, tail };
                        }
                        b',' => {
                            self.at += 1;
                            self.skip_ws();
                        }
                        _ => {}
                    }
                    let key_start = self.at;
                    self.string_end()?;
                    let key: String =
                        serde_json::from_str(self.text.get(key_start..self.at)?).ok()?;
                    self.skip_ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.at += 1;
                    self.skip_ws();
                    let head = (key_start, self.at);
                    let value = self.node()?;
                    members.push(Member {
                        gap: (gap_start, key_start),
                        head,
                        key,
                        value,
                    });
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    let gap_start = self.at;
                    self.skip_ws();
                    match self.peek()? {
                        b']' => {
                            let tail = (gap_start, self.at);
                            self.at += 1;
                            break Kind::Array { items, tail };
                        }
                        b',' => {
                            self.at += 1;
                            self.skip_ws();
                        }
                        _ => {}
                    }
                    let value_start = self.at;
                    let value = self.node()?;
                    items.push(Item {
                        gap: (gap_start, value_start),
                        value,
                    });
                }
            }
            b'"' => {
                self.string_end()?;
                Kind::Scalar
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
                Kind::Scalar
            }
        };
        Some(Node {
            start,
            end: self.at,
            kind,
        })
    }
}

fn slice(text: &str, (from, to): (usize, usize)) -> &str {
    text.get(from..to).unwrap_or("")
}

/// Writes `new`, the masked form of the value `old` read at `node` of `text`, reusing `text`
/// for every part the rules did not change.
fn emit(
    text: &str,
    node: &Node,
    old: &Value,
    new: &Value,
    out: &mut String,
) -> Result<(), serde_json::Error> {
    if old == new {
        out.push_str(slice(text, (node.start, node.end)));
        return Ok(());
    }
    match (&node.kind, old, new) {
        (Kind::Object { members, tail }, Value::Object(o), Value::Object(n)) => {
            out.push('{');
            let lead = members.first().map(|m| m.gap);
            let mut first = true;
            let mut written = std::collections::BTreeSet::new();
            for m in members {
                let Some(nv) = n.get(&m.key) else { continue };
                let ov = o.get(&m.key).unwrap_or(&Value::Null);
                let gap = if first { lead.unwrap_or(m.gap) } else { m.gap };
                out.push_str(slice(text, gap));
                out.push_str(slice(text, m.head));
                emit(text, &m.value, ov, nv, out)?;
                written.insert(m.key.as_str());
                first = false;
            }
            for (k, v) in n {
                if written.contains(k.as_str()) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k)?);
                out.push(':');
                out.push_str(&serde_json::to_string(v)?);
                first = false;
            }
            out.push_str(slice(text, *tail));
            out.push('}');
        }
        (Kind::Array { items, tail }, Value::Array(o), Value::Array(n)) => {
            out.push('[');
            let lead = items.first().map(|m| m.gap);
            if o.len() == n.len() && items.len() == o.len() {
                for (i, ((item, ov), nv)) in items.iter().zip(o).zip(n).enumerate() {
                    let gap = if i == 0 {
                        lead.unwrap_or(item.gap)
                    } else {
                        item.gap
                    };
                    out.push_str(slice(text, gap));
                    emit(text, &item.value, ov, nv, out)?;
                }
            } else {
                // Elements were removed: an element equal to one still ahead in the original
                // keeps its text, any other is written anew.
                let mut next = 0usize;
                for (i, nv) in n.iter().enumerate() {
                    let found = (next..o.len().min(items.len()))
                        .find(|&k| o.get(k).is_some_and(|ov| ov == nv));
                    let gap = match (i, found.and_then(|k| items.get(k))) {
                        (0, _) => lead,
                        (_, Some(item)) => Some(item.gap),
                        (_, None) => None,
                    };
                    match gap {
                        Some(g) if i == 0 || slice(text, g).contains(',') => {
                            out.push_str(slice(text, g));
                        }
                        _ if i == 0 => {}
                        _ => out.push(','),
                    }
                    match found.and_then(|k| items.get(k).map(|item| (k, item))) {
                        Some((k, item)) => {
                            out.push_str(slice(text, (item.value.start, item.value.end)));
                            next = k + 1;
                        }
                        None => out.push_str(&serde_json::to_string(nv)?),
                    }
                }
            }
            out.push_str(slice(text, *tail));
            out.push(']');
        }
        // A number a rule transformed keeps the digits the transform wrote (see `mask_value`).
        (_, Value::Number(_), Value::String(s)) if is_number_literal(s) => out.push_str(s),
        _ => out.push_str(&serde_json::to_string(new)?),
    }
    Ok(())
}

/// Whether `s` is exactly a JSON number.
fn is_number_literal(s: &str) -> bool {
    s.trim() == s && serde_json::from_str::<serde_json::Number>(s).is_ok()
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

    /// Per field rule (fields, then shuffles), how many values its path reached.
    fn counters(&self) -> Vec<u64> {
        vec![0; self.fields.len() + self.shuffles.len()]
    }

    /// Refuses a field rule whose path reached no value in any record: a misspelt member
    /// (`emial`) would leave the file unmasked with a success status, where a CSV or Parquet
    /// file refuses a column that is not in its header.
    fn check_matched(&self, masker: &Masker, hits: &[u64], path: &Path) -> Result<(), MaskError> {
        let rules = self
            .fields
            .iter()
            .map(|(ri, _, _)| *ri)
            .chain(self.shuffles.iter().map(|(ri, _)| *ri));
        for (ri, n) in rules.zip(hits) {
            if *n > 0 {
                continue;
            }
            if let Some(rule) = masker.rules().get(ri) {
                let field = rule
                    .field
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                return Err(MaskError::rule(
                    &rule.name,
                    format!(
                        "path {field} matches no value in any record of {}",
                        path.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Applies the `shuffle` rules across `docs`: the values at each rule's path are
    /// permuted between the documents (a single document is left as it is).
    pub fn shuffle(&self, masker: &mut Masker, docs: &mut [Option<Value>]) {
        let mut hits = self.counters();
        self.shuffle_counted(masker, docs, &mut hits);
    }

    fn shuffle_counted(&self, masker: &mut Masker, docs: &mut [Option<Value>], hits: &mut [u64]) {
        for (k, (ri, segs)) in self.shuffles.iter().enumerate() {
            let mut values = Vec::new();
            for doc in docs.iter_mut().flatten() {
                // Objects and arrays move whole, like scalars: a shuffle permutes the values
                // at the path between records, whatever they hold.
                visit(doc, segs, &mut |v: &mut Value| {
                    values.push(v.take());
                    Action::Keep
                });
            }
            if let Some(h) = hits.get_mut(self.fields.len() + k) {
                *h += values.len() as u64;
            }
            masker.shuffle(*ri, &mut values);
            let mut it = values.into_iter();
            for doc in docs.iter_mut().flatten() {
                visit(doc, segs, &mut |v: &mut Value| {
                    *v = it.next().unwrap_or(Value::Null);
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
        let mut hits = self.counters();
        self.apply_counted(masker, doc, record, None, &mut hits)
    }

    /// [`JsonPlan::apply`] with the document's text (numbers are read as written) and the
    /// count of values each field rule reached.
    fn apply_counted(
        &self,
        masker: &mut Masker,
        doc: &mut Value,
        record: u64,
        lit: Option<Lit<'_>>,
        hits: &mut [u64],
    ) -> Result<(), MaskError> {
        for (k, (ri, segs, entity)) in self.fields.iter().enumerate() {
            let ent = entity
                .as_ref()
                .and_then(|e| lookup_lit(doc, lit, e))
                .map(|(v, l)| entity_text(v, l));
            let mut failure = None;
            let mut reached = 0u64;
            visit_lit(doc, lit, segs, &mut |v: &mut Value, lit| {
                reached += 1;
                if failure.is_some() {
                    return Action::Keep;
                }
                match mask_value(masker, *ri, v, lit, ent.as_deref(), record) {
                    Ok(action) => action,
                    Err(e) => {
                        failure = Some(e);
                        Action::Keep
                    }
                }
            });
            if let Some(h) = hits.get_mut(k) {
                *h += reached;
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }
        if self.text_rules {
            mask_strings(masker, doc, record, &mut Vec::new())?;
        }
        Ok(())
    }
}

/// Applies field rule `ri` to the value at its path. An object or array is not skipped: a
/// transform that ignores the value (`redact`, `null`) takes it whole, any other applies to
/// each leaf inside it, so nothing at a rule's path is written out untransformed.
fn mask_value(
    masker: &mut Masker,
    ri: usize,
    v: &mut Value,
    lit: Option<Lit<'_>>,
    ent: Option<&str>,
    record: u64,
) -> Result<Action, MaskError> {
    let (text, was_number) = match v {
        Value::String(s) if s.is_empty() => {
            masker.note_empty(ri);
            return Ok(Action::Keep);
        }
        Value::String(s) => (s.clone(), false),
        // As written: `12345678901234567890123` and `…124` are one f64, and a transform of the
        // rounded number would give both the same token and unmask to neither.
        Value::Number(x) => (
            lit.and_then(|l| l.number(x))
                .map_or_else(|| x.to_string(), str::to_owned),
            true,
        ),
        Value::Bool(b) => (b.to_string(), false),
        Value::Null => {
            masker.note_empty(ri);
            return Ok(Action::Keep);
        }
        Value::Array(_) | Value::Object(_) => {
            if let Some(whole) = masker.container(ri) {
                return Ok(match whole {
                    Masked::Remove => Action::Remove,
                    Masked::Null => {
                        *v = Value::Null;
                        Action::Keep
                    }
                    Masked::Value(s) => {
                        *v = Value::String(s);
                        Action::Keep
                    }
                    Masked::Keep => Action::Keep,
                });
            }
            match v {
                Value::Array(items) => {
                    let mut kept = Vec::with_capacity(items.len());
                    for (i, mut x) in std::mem::take(items).into_iter().enumerate() {
                        let l = lit.and_then(|l| l.item(i));
                        if mask_value(masker, ri, &mut x, l, ent, record)? == Action::Keep {
                            kept.push(x);
                        }
                    }
                    *items = kept;
                }
                Value::Object(members) => {
                    let mut removed = Vec::new();
                    for (k, x) in members.iter_mut() {
                        let l = lit.and_then(|l| l.member(k));
                        if mask_value(masker, ri, x, l, ent, record)? == Action::Remove {
                            removed.push(k.clone());
                        }
                    }
                    for k in removed {
                        members.remove(&k);
                    }
                }
                _ => {}
            }
            return Ok(Action::Keep);
        }
    };
    let masked = if was_number {
        // FF1 keeps a number a number: its output is walked until it is a JSON number literal
        // (`028364` is not one, and written as a string it came back from unmask as the
        // string "100001"), and the literal is written as it is, so unmask reads the same
        // digits back.
        if let Some(rule) = masker
            .rules()
            .get(ri)
            .filter(|r| r.transform_name == "fpe" && !r.transform.is_decimal_fpe())
        {
            return Err(MaskError::Value {
                rule: rule.name.clone(),
                field: rule.field_label(),
                message: format!(
                    "record {record}: the value is a JSON number; fpe on numbers needs the \
                     numeric alphabet (radix 10) and no surrogate, so that its output is a \
                     number (quote the numbers to encrypt them as strings)"
                ),
            });
        }
        masker.value_within(ri, &text, ent, record, &is_number_literal)?
    } else {
        masker.value(ri, &text, ent, record)?
    };
    Ok(match masked {
        Masked::Value(s) => {
            *v = match serde_json::from_str::<serde_json::Number>(&s) {
                // A number `Number` holds exactly stays one.
                Ok(num) if was_number && num.to_string() == s => Value::Number(num),
                // One it would round is kept as its text, which `emit` writes as a number.
                Ok(_) if was_number && is_number_literal(&s) => Value::String(s),
                _ => Value::String(s),
            };
            Action::Keep
        }
        Masked::Null => {
            *v = Value::Null;
            Action::Keep
        }
        Masked::Remove => Action::Remove,
        Masked::Keep => Action::Keep,
    })
}

/// Free-text rules apply to every string in the document, object keys included (scan reads
/// keys too; an email used as a key is an email); `names` are the members leading to `v`,
/// whose keywords count as scan counts them.
fn mask_strings(
    masker: &mut Masker,
    v: &mut Value,
    record: u64,
    names: &mut Vec<String>,
) -> Result<(), MaskError> {
    match v {
        Value::String(s) => {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let out = masker.text_in(s, record, &refs)?;
            *s = out;
        }
        Value::Array(a) => {
            for x in a {
                mask_strings(masker, x, record, names)?;
            }
        }
        Value::Object(o) => {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut renames = Vec::new();
            for k in o.keys() {
                let masked = masker.text_in(k, record, &refs)?;
                if masked != *k {
                    renames.push((k.clone(), masked));
                }
            }
            for (old, new) in renames {
                if let Some(x) = o.remove(&old) {
                    if o.contains_key(&new) {
                        // Merging would drop one member's value without a word.
                        return Err(MaskError::Value {
                            rule: "identifiers".into(),
                            field: "object key".into(),
                            message: format!(
                                "record {record}: two keys of one object mask to the same key \
                                 {new:?}; use a transform that keeps them apart \
                                 (hash, deterministic_encrypt)"
                            ),
                        });
                    }
                    o.insert(new, x);
                }
            }
            for (k, x) in o.iter_mut() {
                names.push(k.clone());
                let r = mask_strings(masker, x, record, names);
                names.pop();
                r?;
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

/// A date shift's entity as text: a number as written, as unmasking restores it (bug: the
/// entity `1.50000` was read as `1.5` when masking and as written when unmasking, so the dates
/// of such records were moved back by another amount).
fn entity_text(v: &Value, lit: Option<Lit<'_>>) -> String {
    match v {
        Value::Number(n) => lit
            .and_then(|l| l.number(n))
            .map_or_else(|| n.to_string(), str::to_owned),
        other => scalar_text(other),
    }
}

/// [`lookup`], with the value's node in the text when there is one.
fn lookup_lit<'v, 'l>(
    v: &'v Value,
    lit: Option<Lit<'l>>,
    segs: &[Seg],
) -> Option<(&'v Value, Option<Lit<'l>>)> {
    let Some((first, rest)) = segs.split_first() else {
        return Some((v, lit));
    };
    match (first, v) {
        (Seg::Key(k), Value::Object(o)) => {
            lookup_lit(o.get(k)?, lit.and_then(|l| l.member(k)), rest)
        }
        (Seg::Index(i), Value::Array(a)) => {
            lookup_lit(a.get(*i)?, lit.and_then(|l| l.item(*i)), rest)
        }
        (Seg::All, Value::Array(a)) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| lookup_lit(x, lit.and_then(|l| l.item(i)), rest)),
        (Seg::All, Value::Object(o)) => o
            .iter()
            .find_map(|(k, x)| lookup_lit(x, lit.and_then(|l| l.member(k)), rest)),
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

/// [`visit`] with the text each value was read from, where it is known.
fn visit_lit(
    v: &mut Value,
    lit: Option<Lit<'_>>,
    segs: &[Seg],
    f: &mut dyn FnMut(&mut Value, Option<Lit<'_>>) -> Action,
) {
    let Some((first, rest)) = segs.split_first() else {
        if f(v, lit) == Action::Remove {
            *v = Value::Null;
        }
        return;
    };
    let last = rest.is_empty();
    match (first, v) {
        (Seg::Key(k), Value::Object(o)) => {
            let l = lit.and_then(|l| l.member(k));
            if last {
                let remove = o.get_mut(k).is_some_and(|x| f(x, l) == Action::Remove);
                if remove {
                    o.remove(k);
                }
            } else if let Some(x) = o.get_mut(k) {
                visit_lit(x, l, rest, f);
            }
        }
        (Seg::Index(i), Value::Array(a)) => {
            let l = lit.and_then(|l| l.item(*i));
            if let Some(x) = a.get_mut(*i) {
                if last {
                    // Removing would shift the indexes of the other elements; null instead.
                    if f(x, l) == Action::Remove {
                        *x = Value::Null;
                    }
                } else {
                    visit_lit(x, l, rest, f);
                }
            }
        }
        (Seg::All, Value::Array(a)) => {
            // `retain_mut` visits the elements in order, so `i` is each one's index as read.
            let mut i = 0usize;
            if last {
                a.retain_mut(|x| {
                    let l = lit.and_then(|l| l.item(i));
                    i += 1;
                    f(x, l) != Action::Remove
                });
            } else {
                for (i, x) in a.iter_mut().enumerate() {
                    visit_lit(x, lit.and_then(|l| l.item(i)), rest, f);
                }
            }
        }
        (Seg::All, Value::Object(o)) => {
            if last {
                o.retain(|k, x| f(x, lit.and_then(|l| l.member(k))) != Action::Remove);
            } else {
                for (k, x) in o.iter_mut() {
                    visit_lit(x, lit.and_then(|l| l.member(k)), rest, f);
                }
            }
        }
        _ => {}
    }
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
