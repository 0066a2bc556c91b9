//! Rust source emission for one service.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};

use crate::model::{Model, ShapeDef, number};

/// Everything needed to emit one service module.
pub struct ServiceInput<'a> {
    pub name: &'a str,
    pub model: &'a Model,
    pub operations: &'a [String],
    pub botocore_version: &'a str,
}

const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

/// `KMSKeyId` → `kms_key_id`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).and_then(|j| chars.get(j));
            let next = chars.get(i + 1);
            if let Some(p) = prev {
                let boundary = p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()));
                if boundary && !out.ends_with('_') {
                    out.push('_');
                }
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    match out.as_str() {
        "self" | "crate" | "super" | "Self" => format!("{out}_"),
        s if RUST_KEYWORDS.contains(&s) => format!("r#{out}"),
        _ => out,
    }
}

fn screaming(name: &str) -> String {
    snake(name).trim_start_matches("r#").to_ascii_uppercase()
}

/// Enum value → variant name: `ENCRYPT_DECRYPT` → `EncryptDecrypt`, `aws:kms` → `AwsKms`.
pub fn variant(value: &str) -> String {
    let mut out = String::new();
    for seg in value.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = seg.chars();
        let Some(first) = chars.next() else { continue };
        out.push(first.to_ascii_uppercase());
        let rest: String = chars.collect();
        if seg.chars().any(|c| c.is_ascii_lowercase()) {
            out.push_str(&rest);
        } else {
            out.push_str(&rest.to_ascii_lowercase());
        }
    }
    if out.is_empty() {
        out.push_str("Empty");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    if out == "Unknown" || out == "Self" {
        out.push_str("Value");
    }
    out
}

fn type_ident(shape: &str) -> String {
    let mut chars = shape.chars();
    let mut out = String::new();
    if let Some(f) = chars.next() {
        out.push(f.to_ascii_uppercase());
    }
    out.extend(chars.map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }));
    out
}

/// First sentence of botocore HTML documentation, as plain markdown-safe text.
pub fn first_sentence(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut joined = String::new();
    for w in words {
        if !joined.is_empty() {
            joined.push(' ');
        }
        // Punctuation detached from a stripped tag (`<code>x</code> .`) is re-attached.
        joined.push_str(w);
    }
    let joined = joined.replace(" .", ".").replace(" ,", ",");
    let sentence = match joined.find(". ") {
        Some(i) => joined.get(..=i).unwrap_or(&joined).to_owned(),
        None => joined,
    };
    // Markdown hygiene for rustdoc.
    let mut out = String::new();
    for word in sentence.split(' ') {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.starts_with("http://") || word.starts_with("https://") {
            let trimmed = word.trim_end_matches(['.', ',', ')', ';']);
            let tail = word.get(trimmed.len()..).unwrap_or("");
            let _ = write!(out, "<{trimmed}>{tail}");
            continue;
        }
        for c in word.chars() {
            match c {
                '[' => out.push_str("\\["),
                ']' => out.push_str("\\]"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '`' | '\\' => {}
                _ => out.push(c),
            }
        }
    }
    out
}

fn wrap_doc(out: &mut String, text: &str, indent: &str) {
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.len() + word.len() + 1 > 90 {
            let _ = writeln!(out, "{indent}/// {line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}/// {line}");
    }
}

fn opt(n: Option<i64>) -> String {
    match n {
        Some(v) => format!("Some({v})"),
        None => "None".to_owned(),
    }
}

fn lit(s: &str) -> String {
    format!("{s:?}")
}

fn opt_lit(s: Option<&str>) -> String {
    match s {
        Some(v) => format!("Some({v:?})"),
        None => "None".to_owned(),
    }
}

struct Ctx<'a> {
    model: &'a Model,
    index: BTreeMap<&'a str, u16>,
}

impl<'a> Ctx<'a> {
    fn shape(&self, name: &str) -> Result<&'a ShapeDef> {
        self.model
            .shapes
            .get(name)
            .with_context(|| format!("shape {name} not in model"))
    }

    fn id(&self, name: &str) -> Result<u16> {
        self.index
            .get(name)
            .copied()
            .with_context(|| format!("shape {name} not indexed"))
    }

    fn children(&self, name: &str) -> Result<Vec<&'a str>> {
        let s = self.shape(name)?;
        let mut out: Vec<&str> = s.members.0.iter().map(|(_, r)| r.shape.as_str()).collect();
        for r in [&s.member, &s.key, &s.value].into_iter().flatten() {
            out.push(&r.shape);
        }
        Ok(out)
    }

    fn reach(&self, roots: &[&'a str], into: &mut BTreeSet<&'a str>) -> Result<()> {
        let mut stack: Vec<&'a str> = roots.to_vec();
        while let Some(n) = stack.pop() {
            if into.insert(n) {
                stack.extend(self.children(n)?);
            }
        }
        Ok(())
    }

    fn rust_type(&self, name: &str) -> Result<String> {
        let s = self.shape(name)?;
        Ok(match s.kind.as_str() {
            "structure" => type_ident(name),
            "list" => {
                let m = s.member.as_ref().context("list without member")?;
                format!("Vec<{}>", self.rust_type(&m.shape)?)
            }
            "map" => {
                let v = s.value.as_ref().context("map without value")?;
                format!(
                    "std::collections::BTreeMap<String, {}>",
                    self.rust_type(&v.shape)?
                )
            }
            "string" if s.enum_values.is_some() => type_ident(name),
            "string" => "String".to_owned(),
            "integer" => "i32".to_owned(),
            "long" => "i64".to_owned(),
            "float" => "f32".to_owned(),
            "double" => "f64".to_owned(),
            "boolean" => "bool".to_owned(),
            "timestamp" => "crate::types::Timestamp".to_owned(),
            "blob" => "crate::types::Blob".to_owned(),
            other => bail!("unsupported shape type {other} ({name})"),
        })
    }
}

/// Emits the module for one service (unformatted; the caller runs rustfmt).
pub fn service(input: &ServiceInput<'_>) -> Result<String> {
    let model = input.model;
    let meta = &model.metadata;
    let all_ops: Vec<&str> = model.operations.0.iter().map(|(k, _)| k.as_str()).collect();
    let allowed: BTreeSet<&str> = if input.operations.iter().any(|o| o == "*") {
        all_ops.iter().copied().collect()
    } else {
        let mut set = BTreeSet::new();
        for o in input.operations {
            if !all_ops.contains(&o.as_str()) {
                bail!("{}: allow-listed operation {o} not in model", input.name);
            }
            set.insert(o.as_str());
        }
        set
    };

    let mut ctx = Ctx {
        model,
        index: BTreeMap::new(),
    };
    let mut inputs = BTreeSet::new();
    let mut outputs = BTreeSet::new();
    let mut input_roots = Vec::new();
    let mut output_roots = Vec::new();
    let mut op_of_input: BTreeMap<&str, &str> = BTreeMap::new();
    let mut op_of_output: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, op) in &model.operations.0 {
        if !allowed.contains(name.as_str()) {
            continue;
        }
        if let Some(i) = &op.input {
            input_roots.push(i.shape.as_str());
            op_of_input.insert(i.shape.as_str(), name.as_str());
        }
        if let Some(o) = &op.output {
            output_roots.push(o.shape.as_str());
            op_of_output.insert(o.shape.as_str(), name.as_str());
        }
        for e in &op.errors {
            output_roots.push(e.shape.as_str());
        }
    }
    ctx.reach(&input_roots, &mut inputs)?;
    ctx.reach(&output_roots, &mut outputs)?;
    let reachable: BTreeSet<&str> = inputs.union(&outputs).copied().collect();
    for (i, n) in reachable.iter().enumerate() {
        ctx.index.insert(n, u16::try_from(i)?);
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "// generated by palisade-codegen from botocore {}; do not edit\n",
        input.botocore_version
    );
    let _ = writeln!(
        out,
        "//! `{}`: schema tables and typed shapes (botocore `{}` API {}).\n",
        input.name, meta.endpoint_prefix, meta.api_version
    );
    out.push_str(
        "use crate::schema::{OperationInfo, Pattern, Protocol, ServiceInfo, Shape, m};\n\n",
    );

    // --- ServiceInfo
    let protocol = match meta.protocol.as_str() {
        "query" => "Protocol::Query",
        "json" => "Protocol::Json11",
        other => bail!("unsupported protocol {other}"),
    };
    let signing = meta
        .signing_name
        .as_deref()
        .unwrap_or(&meta.endpoint_prefix);
    let _ = writeln!(
        out,
        "/// Service metadata and schema tables.\npub static SERVICE: ServiceInfo = ServiceInfo {{\n\
         name: {},\nsigning_name: {},\nendpoint_prefix: {},\nprotocol: {protocol},\n\
         target_prefix: {},\napi_version: {},\nxml_namespace: {},\noperations: OPERATIONS,\n\
         shapes: SHAPES,\nerrors: errors::ALL,\npatterns: &PATTERNS,\n}};\n",
        lit(input.name),
        lit(signing),
        lit(&meta.endpoint_prefix),
        opt_lit(meta.target_prefix.as_deref()),
        lit(&meta.api_version),
        opt_lit(meta.xml_namespace.as_deref()),
    );

    // --- operations (all, sorted by name)
    let mut ops: Vec<&(String, crate::model::Operation)> = model.operations.0.iter().collect();
    ops.sort_by(|a, b| a.0.cmp(&b.0));
    out.push_str("const OPERATIONS: &[OperationInfo] = &[\n");
    for (name, op) in ops {
        let typed = allowed.contains(name.as_str());
        let id = |r: &Option<crate::model::ShapeRef>| -> Result<String> {
            Ok(match r {
                Some(r) if typed => format!("Some({})", ctx.id(&r.shape)?),
                _ => "None".to_owned(),
            })
        };
        let errs: Vec<String> = op.errors.iter().map(|e| lit(&e.shape)).collect();
        let _ = writeln!(
            out,
            "OperationInfo::new({}, {}, {}, {}, &[{}], {typed}),",
            lit(&op.name),
            id(&op.input)?,
            id(&op.output)?,
            opt_lit(op.output.as_ref().and_then(|o| o.result_wrapper.as_deref())),
            errs.join(", ")
        );
    }
    out.push_str("];\n\n");

    // --- patterns
    let mut patterns: Vec<&str> = Vec::new();
    for n in &reachable {
        if let Some(p) = ctx.shape(n)?.pattern.as_deref()
            && !patterns.contains(&p)
        {
            patterns.push(p);
        }
    }
    let _ = writeln!(
        out,
        "static PATTERNS: [Pattern; {}] = [\n{}];\n",
        patterns.len(),
        patterns
            .iter()
            .map(|p| format!("Pattern::new({}),\n", lit(p)))
            .collect::<String>()
    );

    // --- shapes
    out.push_str("const SHAPES: &[Shape] = &[\n");
    for n in &reachable {
        let s = ctx.shape(n)?;
        let (min, max) = (opt(number(s.min.as_ref())), opt(number(s.max.as_ref())));
        let mut e = match s.kind.as_str() {
            "structure" => {
                let mut members = Vec::new();
                for (mname, r) in &s.members.0 {
                    let mut t = format!(
                        "m({}, {}, {})",
                        lit(mname),
                        ctx.id(&r.shape)?,
                        s.required.contains(mname)
                    );
                    if let Some(l) = &r.location_name {
                        let _ = write!(t, ".location({})", lit(l));
                    }
                    if r.flattened {
                        t.push_str(".flattened()");
                    }
                    if let Some(ns) = &r.xml_namespace {
                        let _ = write!(t, ".xml_namespace({})", lit(&ns.uri));
                    }
                    members.push(t);
                }
                format!("Shape::structure({}, &[{}])", lit(n), members.join(", "))
            }
            "list" => {
                let mr = s.member.as_ref().context("list member")?;
                let mut t = format!(
                    "Shape::list({}, {}, {min}, {max})",
                    lit(n),
                    ctx.id(&mr.shape)?
                );
                if let Some(l) = &mr.location_name {
                    let _ = write!(t, ".location_names(Some({}), None)", lit(l));
                }
                t
            }
            "map" => {
                let k = s.key.as_ref().context("map key")?;
                let v = s.value.as_ref().context("map value")?;
                let mut t = format!(
                    "Shape::map({}, {}, {}, {min}, {max})",
                    lit(n),
                    ctx.id(&k.shape)?,
                    ctx.id(&v.shape)?
                );
                if k.location_name.is_some() || v.location_name.is_some() {
                    let _ = write!(
                        t,
                        ".location_names({}, {})",
                        opt_lit(k.location_name.as_deref()),
                        opt_lit(v.location_name.as_deref())
                    );
                }
                t
            }
            "string" => {
                let mut t = format!("Shape::string({}, {min}, {max})", lit(n));
                if let Some(p) = &s.pattern {
                    let i = patterns
                        .iter()
                        .position(|q| q == p)
                        .context("pattern index")?;
                    let _ = write!(t, ".pattern({i})");
                }
                if let Some(ev) = &s.enum_values {
                    let vals: Vec<String> = ev.iter().map(|v| lit(v)).collect();
                    let _ = write!(t, ".enum_values(&[{}])", vals.join(", "));
                }
                t
            }
            "integer" => format!("Shape::integer({}, {min}, {max})", lit(n)),
            "long" => format!("Shape::long({}, {min}, {max})", lit(n)),
            "float" => format!("Shape::float({})", lit(n)),
            "double" => format!("Shape::double({})", lit(n)),
            "boolean" => format!("Shape::boolean({})", lit(n)),
            "timestamp" => format!(
                "Shape::timestamp({}, {})",
                lit(n),
                opt_lit(s.timestamp_format.as_deref())
            ),
            "blob" => format!("Shape::blob({}, {min}, {max})", lit(n)),
            other => bail!("unsupported shape type {other} ({n})"),
        };
        if s.flattened {
            e.push_str(".flattened()");
        }
        if s.sensitive {
            e.push_str(".sensitive()");
        }
        let _ = writeln!(out, "{e},");
    }
    out.push_str("];\n\n");

    // --- errors (all exception shapes of the model)
    let mut errors: Vec<(&str, &ShapeDef)> = model
        .shapes
        .0
        .iter()
        .filter(|(_, s)| s.exception)
        .map(|(n, s)| (n.as_str(), s))
        .collect();
    errors.sort_by(|a, b| a.0.cmp(b.0));
    out.push_str("/// Modeled error shapes: wire code, HTTP status and fault side.\npub mod errors {\nuse crate::schema::ErrorInfo;\n\n");
    let mut consts = Vec::new();
    let mut seen = BTreeSet::new();
    for (n, s) in &errors {
        let cname = screaming(n);
        if !seen.insert(cname.clone()) {
            bail!("duplicate error const {cname}");
        }
        let code = s
            .error
            .as_ref()
            .and_then(|e| e.code.as_deref())
            .unwrap_or(n);
        let status = s
            .error
            .as_ref()
            .and_then(|e| e.http_status_code)
            .unwrap_or(if s.fault { 500 } else { 400 });
        let sender = s
            .error
            .as_ref()
            .and_then(|e| e.sender_fault)
            .unwrap_or(!s.fault);
        let _ = writeln!(
            out,
            "/// `{n}`.\npub const {cname}: ErrorInfo = ErrorInfo::new({}, {}, {status}, {sender});",
            lit(n),
            lit(code)
        );
        consts.push(cname);
    }
    let _ = writeln!(
        out,
        "\n/// All modeled errors, sorted by shape name.\npub const ALL: &[ErrorInfo] = &[{}];\n}}\n",
        consts.join(", ")
    );

    // --- typed structs and enums
    let mut idents = BTreeSet::new();
    for n in &reachable {
        let s = ctx.shape(n)?;
        let is_struct = s.kind == "structure" && !s.exception;
        let is_enum = s.kind == "string" && s.enum_values.is_some();
        if !is_struct && !is_enum {
            continue;
        }
        let ident = type_ident(n);
        if !idents.insert(ident.clone()) {
            bail!("duplicate type name {ident}");
        }
        let doc = if let Some(op) = op_of_input.get(n) {
            format!("Input of the `{op}` operation.")
        } else if let Some(op) = op_of_output.get(n) {
            format!("Output of the `{op}` operation.")
        } else {
            s.documentation
                .as_deref()
                .map(first_sentence)
                .unwrap_or_default()
        };
        if is_enum {
            let mut body = String::new();
            if !doc.is_empty() {
                wrap_doc(&mut body, &doc, "    ");
            }
            let mut variants = BTreeSet::new();
            let mut arms = String::new();
            for v in s.enum_values.iter().flatten() {
                let mut var = variant(v);
                let base = var.clone();
                let mut k = 2;
                while !variants.insert(var.clone()) {
                    var = format!("{base}{k}");
                    k += 1;
                }
                let _ = writeln!(arms, "        {var} = {},", lit(v));
            }
            let _ = writeln!(
                out,
                "crate::string_enum! {{\n{body}    {ident} {{\n{arms}    }}\n}}\n"
            );
            continue;
        }
        wrap_doc(&mut out, &doc, "");
        let optional_all = outputs.contains(n);
        out.push_str(
            "#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]\n",
        );
        let _ = writeln!(out, "pub struct {ident} {{");
        let mut fields = BTreeSet::new();
        for (mname, r) in &s.members.0 {
            let field = snake(mname);
            if !fields.insert(field.clone()) {
                bail!("{n}: duplicate field {field}");
            }
            let ty = ctx.rust_type(&r.shape)?;
            let required = s.required.contains(mname) && !optional_all;
            if required {
                let _ = writeln!(out, "#[serde(rename = {})]\npub {field}: {ty},", lit(mname));
            } else {
                let _ = writeln!(
                    out,
                    "#[serde(rename = {}, skip_serializing_if = \"Option::is_none\")]\npub {field}: Option<{ty}>,",
                    lit(mname)
                );
            }
        }
        out.push_str("}\n\n");
    }
    Ok(out)
}

/// The `generated.rs` module root.
pub fn root(services: &[&str], botocore_version: &str) -> String {
    let mut out = format!(
        "// generated by palisade-codegen from botocore {botocore_version}; do not edit\n\n\
         //! Generated per-service modules.\n\n"
    );
    for s in services {
        let _ = writeln!(out, "pub mod {s};");
    }
    let list: Vec<String> = services.iter().map(|s| format!("&{s}::SERVICE")).collect();
    let _ = writeln!(
        out,
        "\n/// Every generated service.\npub static ALL_SERVICES: &[&crate::schema::ServiceInfo] = &[{}];",
        list.join(", ")
    );
    out
}
