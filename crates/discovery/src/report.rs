//! Findings in Macie's schema, and the other output shapes (`jsonl` detections, SARIF, the
//! summary table).

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Value, json};

use crate::engine::Engine;
use crate::formats::archive::FileResult;
use crate::formats::{Format, Located, Location, Skip};
use crate::identifiers::{Category, Severity};

/// Macie keeps at most 15 occurrences per detection type in a finding.
pub const MAX_OCCURRENCES: usize = 15;

fn mime(format: Format) -> &'static str {
    match format {
        Format::Text => "text/plain",
        Format::Csv => "text/csv",
        Format::Tsv => "text/tab-separated-values",
        Format::Json => "application/json",
        Format::JsonLines => "application/x-ndjson",
        Format::Parquet => "application/parquet",
        Format::Gzip => "application/gzip",
        Format::Zip => "application/zip",
        Format::Tar => "application/x-tar",
        Format::Binary => "application/octet-stream",
    }
}

fn category_str(c: Category) -> &'static str {
    match c {
        Category::Credentials => "CREDENTIALS",
        Category::FinancialInformation => "FINANCIAL_INFORMATION",
        Category::PersonalInformation => "PERSONAL_INFORMATION",
        Category::CustomIdentifier => "CUSTOM_IDENTIFIER",
    }
}

fn occurrence(l: &Located) -> Value {
    let mut v = serde_json::to_value(&l.location).unwrap_or(Value::Null);
    if let (Some(val), Value::Object(m)) = (&l.value, &mut v) {
        m.insert("value".into(), Value::String(val.clone()));
    }
    v
}

fn occurrences(items: &[&Located]) -> Value {
    let mut by_kind: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
    for l in items.iter().take(MAX_OCCURRENCES) {
        by_kind
            .entry(l.location.occurrence_kind())
            .or_default()
            .push(occurrence(l));
    }
    json!(by_kind)
}

/// `s` as it may be written to a terminal: control characters (escape sequences, newlines, a
/// member name's `\r`) and bidirectional overrides escaped, since archive member names, column
/// names and paths come from the data scanned (bug: they were printed raw).
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Per detection type of one file: (identifier index, type ID) → detections.
fn group<'a>(
    engine: &'a Engine,
    dets: &'a [Located],
) -> BTreeMap<(u32, &'a str), Vec<&'a Located>> {
    let mut m: BTreeMap<(u32, &str), Vec<&Located>> = BTreeMap::new();
    for l in dets {
        m.entry((l.detection.ident, engine.type_id(&l.detection)))
            .or_default()
            .push(l);
    }
    m
}

/// The finding for one file, or `None` when nothing reaches a finding (no detections, or only
/// custom detections below their lowest severity threshold).
pub fn finding(engine: &Engine, r: &FileResult) -> Option<Value> {
    let mut tally = Tally::default();
    tally.add(r.outcome.as_ref().ok()?);
    finding_counted(engine, r, &tally)
}

/// Keeps what [`finding_counted`] needs of a file's detections: the first
/// [`MAX_OCCURRENCES`] of each identifier (`seen` counts what was offered so far).
pub fn keep_occurrences(seen: &mut Tally, dets: Vec<Located>, kept: &mut Vec<Located>) {
    for l in dets {
        if seen.bump(&l) <= MAX_OCCURRENCES as u64 {
            kept.push(l);
        }
    }
}

/// The finding for one file whose detections were counted in `tally`; `r` holds at least the
/// first [`MAX_OCCURRENCES`] of each type (all of them, or what [`keep_occurrences`] kept), so
/// that a file with millions of detections need not be held to report them.
pub fn finding_counted(engine: &Engine, r: &FileResult, tally: &Tally) -> Option<Value> {
    let dets = r.outcome.as_ref().ok()?;
    let samples = group(engine, dets);
    let mut counts: BTreeMap<(u32, &str), u64> = BTreeMap::new();
    for &((ident, resolved), n) in &tally.counts {
        *counts
            .entry((ident, engine.type_name(ident, resolved)))
            .or_default() += n;
    }
    let mut severity: Option<Severity> = None;
    let mut categories: BTreeMap<Category, (u64, Vec<Value>)> = BTreeMap::new();
    let mut custom: Vec<Value> = Vec::new();
    let mut custom_total = 0u64;
    let mut additional = false;
    for ((ident, ty), count) in counts {
        let Some(sev) = engine.severity(ident, count) else {
            continue;
        };
        let items = samples.get(&(ident, ty)).map(Vec::as_slice).unwrap_or(&[]);
        severity = severity.max(Some(sev));
        additional |= count > MAX_OCCURRENCES as u64;
        if let Some(c) = engine.custom_identifier(ident) {
            custom_total += count;
            custom.push(json!({
                "arn": c.arn.clone().unwrap_or_else(|| format!("custom-data-identifier/{}", c.name)),
                "name": c.name,
                "count": count,
                "occurrences": occurrences(items),
            }));
        } else {
            let e = categories
                .entry(engine.category(ident))
                .or_insert((0, Vec::new()));
            e.0 += count;
            e.1.push(json!({
                "type": ty,
                "count": count,
                "occurrences": occurrences(items),
            }));
        }
    }
    let severity = severity?;
    let mut kinds: Vec<Category> = categories.keys().copied().collect();
    if custom_total > 0 {
        kinds.push(Category::CustomIdentifier);
    }
    let ty = match kinds.as_slice() {
        [Category::Credentials] => "SensitiveData:S3Object/Credentials",
        [Category::FinancialInformation] => "SensitiveData:S3Object/Financial",
        [Category::PersonalInformation] => "SensitiveData:S3Object/Personal",
        [Category::CustomIdentifier] => "SensitiveData:S3Object/CustomIdentifier",
        _ => "SensitiveData:S3Object/Multiple",
    };
    let sensitive: Vec<Value> = categories
        .into_iter()
        .map(|(c, (total, detections))| {
            json!({"category": category_str(c), "totalCount": total, "detections": detections})
        })
        .collect();
    Some(json!({
        "schemaVersion": "1.0",
        "type": ty,
        "category": "CLASSIFICATION",
        "count": 1,
        "severity": {"description": severity.as_str(), "score": severity.score()},
        "resourcesAffected": {"s3Object": {"key": r.path, "size": r.size}},
        "classificationDetails": {
            "originType": "SENSITIVE_DATA_DISCOVERY_JOB",
            "result": {
                "status": status(r),
                "mimeType": mime(r.format),
                "sizeClassified": r.size,
                "additionalOccurrences": additional,
                "sensitiveData": sensitive,
                "customDataIdentifiers": {"totalCount": custom_total, "detections": custom},
            }
        }
    }))
}

/// A file's classification status: COMPLETE, or PARTIAL with the reason the analysis stopped.
fn status(r: &FileResult) -> Value {
    match &r.partial {
        Some(s) => json!({"code": "PARTIAL", "reason": s.reason}),
        None => json!({"code": "COMPLETE"}),
    }
}

/// A file skipped, or analysed only in part, as Macie's discovery result status.
pub fn skipped(r: &FileResult) -> Option<Value> {
    let (code, s) = match (&r.outcome, &r.partial) {
        (Err(s), _) => ("SKIPPED", s),
        (Ok(_), Some(s)) => ("PARTIAL", s),
        (Ok(_), None) => return None,
    };
    Some(json!({
        "path": r.path,
        "status": {"code": code, "reason": s.reason},
        "detail": s.detail,
    }))
}

/// Writes one JSON line per detection (`--format jsonl`). Written straight to `out`: a PII-dense
/// file has a detection every few dozen bytes, and a string per line cost as much as the scan.
pub fn write_jsonl(engine: &Engine, r: &FileResult, out: &mut dyn Write) -> std::io::Result<()> {
    let Ok(dets) = &r.outcome else {
        return Ok(());
    };
    let path = json_str(&r.path);
    // Lines are put together in one buffer and written 64 KiB at a time (a write per line cost
    // a copy per line through the writer's own buffer); numbers through `itoa`, as `write!`'s
    // formatting machinery cost more than the rest of the line.
    const FLUSH: usize = 64 << 10;
    let mut line: Vec<u8> = Vec::with_capacity(FLUSH + 1024);
    let mut num = itoa::Buffer::new();
    for l in dets {
        if line.len() >= FLUSH {
            out.write_all(&line)?;
            line.clear();
        }
        line.extend_from_slice(b"{\"path\":");
        line.extend_from_slice(path.as_bytes());
        line.extend_from_slice(b",\"type\":");
        write_json_str(&mut line, engine.type_id(&l.detection))?;
        line.extend_from_slice(b",\"offset\":");
        match l.offset {
            Some(o) => line.extend_from_slice(num.format(o).as_bytes()),
            None => line.extend_from_slice(b"null"),
        }
        line.extend_from_slice(b",\"length\":");
        line.extend_from_slice(num.format(l.detection.len()).as_bytes());
        line.extend_from_slice(b",\"location\":{\"");
        line.extend_from_slice(l.location.occurrence_kind().as_bytes());
        line.extend_from_slice(b"\":[");
        match &l.location {
            Location::Line {
                start,
                end,
                start_column,
            } => {
                line.extend_from_slice(b"{\"start\":");
                line.extend_from_slice(num.format(*start).as_bytes());
                line.extend_from_slice(b",\"end\":");
                line.extend_from_slice(num.format(*end).as_bytes());
                line.extend_from_slice(b",\"startColumn\":");
                line.extend_from_slice(num.format(*start_column).as_bytes());
                line.push(b'}');
            }
            other => serde_json::to_writer(&mut line, other).map_err(std::io::Error::other)?,
        }
        line.extend_from_slice(b"]}");
        if let Some(v) = &l.value {
            line.extend_from_slice(b",\"value\":");
            write_json_str(&mut line, v)?;
        }
        line.extend_from_slice(b"}\n");
    }
    out.write_all(&line)
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A JSON string literal, copied as is when nothing in it needs escaping (managed identifier IDs).
fn write_json_str(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.write_all(b"\"")?;
        out.write_all(s.as_bytes())?;
        out.write_all(b"\"")
    } else {
        serde_json::to_writer(out, s).map_err(std::io::Error::other)
    }
}

/// SARIF 2.1.0, written as results arrive: the document's results come before its rules (its
/// keys are written in sorted order, as `serde_json` writes them), so each result is written
/// once and only the rules, one per identifier, are kept to the end.
#[derive(Debug, Default)]
pub struct SarifWriter {
    rules: BTreeMap<String, Value>,
    results: usize,
}

/// `v` pretty-printed as if nested `depth` levels deep: its lines after the first indented.
fn pretty_at(v: &Value, depth: usize) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    text.replace('\n', &format!("\n{}", "  ".repeat(depth)))
}

impl SarifWriter {
    /// Writes the results of `r`.
    pub fn add(
        &mut self,
        engine: &Engine,
        r: &FileResult,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let Ok(dets) = &r.outcome else {
            return Ok(());
        };
        for l in dets {
            let ty = engine.type_id(&l.detection).to_owned();
            // A custom identifier's detections are printed once its lowest threshold is met
            // (`cli::Gate`): that threshold's severity.
            let sev = engine
                .severity(l.detection.ident, 1)
                .or_else(|| {
                    let c = engine.custom_identifier(l.detection.ident)?;
                    let lowest = c
                        .severity_levels
                        .iter()
                        .min_by_key(|v| v.occurrences_threshold)?;
                    Some(lowest.severity)
                })
                .unwrap_or(Severity::Medium);
            self.rules.entry(ty.clone()).or_insert_with(|| {
                json!({
                    "id": ty,
                    "shortDescription": {"text": format!("{ty} detected")},
                    "properties": {"category": category_str(engine.category(l.detection.ident))},
                })
            });
            let mut region = serde_json::Map::new();
            if let crate::formats::Location::Line {
                start,
                end,
                start_column,
            } = &l.location
            {
                region.insert("startLine".into(), json!(start));
                region.insert("endLine".into(), json!(end));
                region.insert("startColumn".into(), json!(start_column));
            } else {
                // GitHub code scanning rejects a region without a line: the cell's or record's
                // line where the file has lines, else the first (a Parquet file's results carry
                // the row and path as a logical location too, below).
                region.insert("startLine".into(), json!(l.line.unwrap_or(1)));
            }
            if let Some(off) = l.offset {
                region.insert("byteOffset".into(), json!(off));
                region.insert("byteLength".into(), json!(l.detection.len()));
            }
            let mut physical = json!({"artifactLocation": {"uri": sarif_uri(&r.path)}});
            if !region.is_empty()
                && let Value::Object(m) = &mut physical
            {
                m.insert("region".into(), Value::Object(region));
            }
            // A file without lines or offsets (Parquet) has its record as a logical location:
            // its `startLine` 1 is there only for readers that need a line.
            let mut location = json!({"physicalLocation": physical});
            if let (
                crate::formats::Location::Record {
                    record_index,
                    json_path,
                },
                None,
                Value::Object(m),
            ) = (&l.location, l.offset, &mut location)
            {
                let name = match json_path {
                    Some(p) => format!("record {record_index} {p}"),
                    None => format!("record {record_index}"),
                };
                m.insert(
                    "logicalLocations".into(),
                    json!([{"fullyQualifiedName": name, "kind": "element"}]),
                );
            }
            let mut res = json!({
                "ruleId": ty,
                "level": match sev { Severity::High => "error", Severity::Medium => "warning", Severity::Low => "note" },
                "message": {"text": format!("{ty} detected")},
                "locations": [location],
                "properties": {"location": l.location},
            });
            // A result has no `value` property in SARIF 2.1.0: the revealed value goes in its
            // property bag (bug: it was a top-level property, which the schema rejects).
            if let (Some(val), Some(Value::Object(m))) = (&l.value, res.get_mut("properties")) {
                m.insert("value".into(), Value::String(val.clone()));
            }
            let head: &[u8] = if self.results == 0 {
                b"{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n  \"runs\": [\n    {\n      \"results\": [\n        "
            } else {
                b",\n        "
            };
            out.write_all(head)?;
            out.write_all(pretty_at(&res, 4).as_bytes())?;
            self.results += 1;
        }
        Ok(())
    }

    /// Writes the rest of the document: the invocation (whether every file was analysed, and a
    /// notification per file skipped or analysed in part, from `skipped`, entries as
    /// [`skipped`] makes them), the rules of the identifiers found, and the version.
    pub fn finish(
        self,
        out: &mut dyn Write,
        successful: bool,
        skipped: &[Value],
    ) -> std::io::Result<()> {
        let tool = json!({"driver": {"name": "palisade-scan", "rules": self.rules.into_values().collect::<Vec<_>>()}});
        if self.results == 0 {
            out.write_all(b"{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n  \"runs\": [\n    {\n      \"results\": [],\n")?;
        } else {
            out.write_all(b"\n      ],\n")?;
        }
        // Columns count Unicode code points (`startColumn`); without this readers assume
        // UTF-16 code units.
        out.write_all(b"      \"columnKind\": \"unicodeCodePoints\",\n")?;
        // Content left unanalysed fails the run (exit 2): SARIF says so per invocation, with a
        // notification per file (bug: the log had no invocation, so a reader saw a clean run).
        let notifications: Vec<Value> = skipped
            .iter()
            .map(|s| {
                let text = |at: &str| s.pointer(at).and_then(Value::as_str).unwrap_or_default();
                let (reason, code) = (text("/status/reason"), text("/status/code"));
                let (path, detail) = (text("/path"), text("/detail"));
                let what = if code == "PARTIAL" {
                    "analysed only in part"
                } else {
                    "skipped"
                };
                json!({
                    "level": if reason == "UNSUPPORTED_FILE_TYPE_EXCEPTION" { "note" } else { "error" },
                    "message": {"text": format!("{what}: {reason} ({detail})")},
                    "descriptor": {"id": reason},
                    "locations": [{"physicalLocation": {"artifactLocation": {"uri": sarif_uri(path)}}}],
                    "properties": {"status": code},
                })
            })
            .collect();
        let invocations = json!([{
            "executionSuccessful": successful,
            "toolExecutionNotifications": notifications,
        }]);
        out.write_all(b"      \"invocations\": ")?;
        out.write_all(pretty_at(&invocations, 3).as_bytes())?;
        out.write_all(b",\n")?;
        out.write_all(b"      \"tool\": ")?;
        out.write_all(pretty_at(&tool, 3).as_bytes())?;
        out.write_all(b"\n    }\n  ],\n  \"version\": \"2.1.0\"\n}\n")
    }
}

/// Counts by identifier and by file.
#[derive(Debug, Default)]
pub struct Summary {
    /// type → (detections, files).
    pub by_type: BTreeMap<String, (u64, u64)>,
    /// path → (detections, severity).
    pub by_file: BTreeMap<String, (u64, Option<Severity>)>,
    /// Files and members analysed.
    pub scanned: u64,
    /// Bytes analysed.
    pub bytes: u64,
    /// Skipped: reason → count.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Analysed in part (counted in `scanned` too): reason → count.
    pub partial: BTreeMap<&'static str, u64>,
}

/// One file's detections counted by identifier, as the summary needs them; a streamed file's
/// are counted batch by batch.
#[derive(Debug, Default)]
pub struct Tally {
    /// (identifier, resolved ID) → detections: a PII-dense file has a detection every few
    /// dozen bytes, and its type's name is needed once per type.
    counts: Vec<((u32, Option<&'static str>), u64)>,
    total: u64,
}

impl Tally {
    /// Counts `dets`.
    pub fn add(&mut self, dets: &[Located]) {
        for l in dets {
            self.bump(l);
        }
    }

    /// Counts one detection; returns how many of its kind were counted, it included.
    fn bump(&mut self, l: &Located) -> u64 {
        let key = (l.detection.ident, l.detection.resolved);
        self.total += 1;
        match self.counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.counts.push((key, 1));
                1
            }
        }
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl Summary {
    /// Adds one result.
    pub fn add(&mut self, engine: &Engine, r: &FileResult) {
        let mut tally = Tally::default();
        let outcome = match &r.outcome {
            Ok(dets) => {
                tally.add(dets);
                Ok(&tally)
            }
            Err(s) => Err(s),
        };
        self.add_counted(engine, &r.path, r.size, outcome);
    }

    /// Adds one file's result, its detections already counted.
    pub fn add_counted(
        &mut self,
        engine: &Engine,
        path: &str,
        size: u64,
        outcome: Result<&Tally, &Skip>,
    ) {
        let tally = match outcome {
            Err(s) => {
                *self.skipped.entry(s.reason).or_default() += 1;
                return;
            }
            Ok(t) => t,
        };
        self.scanned += 1;
        self.bytes += size;
        if tally.is_empty() {
            return;
        }
        let mut per_type: BTreeMap<(u32, &str), u64> = BTreeMap::new();
        for &((ident, resolved), n) in &tally.counts {
            *per_type
                .entry((ident, engine.type_name(ident, resolved)))
                .or_default() += n;
        }
        // Only what makes a finding is counted: custom detections below their identifier's
        // lowest threshold make none (bug: the file was listed with severity "-" and counted
        // in filesWithFindings).
        let (mut severity, mut total) = (None, 0);
        for ((ident, ty), n) in per_type {
            let Some(sev) = engine.severity(ident, n) else {
                continue;
            };
            let e = self.by_type.entry(ty.to_owned()).or_default();
            e.0 += n;
            e.1 += 1;
            total += n;
            severity = severity.max(Some(sev));
        }
        if severity.is_some() {
            self.by_file.insert(path.to_owned(), (total, severity));
        }
    }

    /// The two summary tables.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let w = self
            .by_type
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max(10);
        s.push_str(&format!(
            "\n{:<w$}  {:>10}  {:>6}\n",
            "IDENTIFIER", "DETECTIONS", "FILES"
        ));
        for (t, (n, f)) in &self.by_type {
            let t = printable(t);
            s.push_str(&format!("{t:<w$}  {n:>10}  {f:>6}\n"));
        }
        let w = self
            .by_file
            .keys()
            .map(|p| printable(p).chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        s.push_str(&format!(
            "\n{:<w$}  {:>10}  SEVERITY\n",
            "FILE", "DETECTIONS"
        ));
        for (p, (n, sev)) in &self.by_file {
            let p = printable(p);
            s.push_str(&format!(
                "{p:<w$}  {n:>10}  {}\n",
                sev.map(Severity::as_str).unwrap_or("-")
            ));
        }
        let skipped: u64 = self.skipped.values().sum();
        s.push_str(&format!(
            "\n{} files scanned ({} bytes), {} with findings, {} skipped",
            self.scanned,
            self.bytes,
            self.by_file.len(),
            skipped
        ));
        let reasons = |m: &BTreeMap<&str, u64>| {
            let r: Vec<String> = m.iter().map(|(r, n)| format!("{r}: {n}")).collect();
            r.join(", ")
        };
        if skipped > 0 {
            s.push_str(&format!(" ({})", reasons(&self.skipped)));
        }
        let partial: u64 = self.partial.values().sum();
        if partial > 0 {
            s.push_str(&format!(
                ", {partial} partly analysed ({})",
                reasons(&self.partial)
            ));
        }
        s.push('\n');
        s
    }
}

/// A path as a SARIF `uri` (a URI reference): bytes other than a path's unreserved and
/// sub-delimiter characters are percent-encoded, so that `my file#1 é.txt` is one path and not a
/// path with a fragment.
fn sarif_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod sarif_uri_tests {
    #[test]
    fn sarif_uris_percent_encode_what_a_path_may_not_hold() {
        // Bug: `sp/my file#1 é.txt` was written as is, so `#1 é.txt` read as a fragment.
        assert_eq!(
            super::sarif_uri("sp/my file#1 é.txt"),
            "sp/my%20file%231%20%C3%A9.txt"
        );
        assert_eq!(
            super::sarif_uri("bundle.zip!exports/customers.csv.gz"),
            "bundle.zip!exports/customers.csv.gz"
        );
    }
}
