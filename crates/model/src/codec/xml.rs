//! awsQuery XML responses and errors.

use std::fmt::Write as _;

use serde_json::Value;

use crate::schema::{Member, OperationInfo, ServiceInfo, ShapeId, ShapeKind};

/// Escapes XML text and attribute content.
///
/// Characters XML 1.0 cannot carry at all, even as references (C0 controls other than tab, line
/// feed and carriage return; U+FFFE and U+FFFF), become U+FFFD: an error message echoing a value
/// with a NUL must still be a document the client can parse.
pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\u{0}'..='\u{8}'
            | '\u{b}'
            | '\u{c}'
            | '\u{e}'..='\u{1f}'
            | '\u{fffe}'
            | '\u{ffff}' => {
                out.push('\u{fffd}');
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Encodes an output value (JSON wire form) as the awsQuery response:
/// `<OpResponse xmlns="NS"><OpResult>…</OpResult><ResponseMetadata><RequestId>…</RequestId>
/// </ResponseMetadata></OpResponse>`. Members appear in model order; `null`s are omitted; the
/// Result element is omitted when the operation has no output shape.
pub fn encode_query_response(
    service: &ServiceInfo,
    op: &OperationInfo,
    output: &Value,
    request_id: &str,
) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(out, "<{}Response", op.name);
    if let Some(ns) = service.xml_namespace {
        out.push_str(" xmlns=\"");
        escape(ns, &mut out);
        out.push('"');
    }
    out.push('>');
    if let Some(shape) = op.output {
        let wrapper = op
            .result_wrapper
            .map_or_else(|| format!("{}Result", op.name), str::to_owned);
        let _ = write!(out, "<{wrapper}>");
        Encoder { service }.children(shape, output, &mut out);
        let _ = write!(out, "</{wrapper}>");
    }
    out.push_str("<ResponseMetadata><RequestId>");
    escape(request_id, &mut out);
    let _ = write!(out, "</RequestId></ResponseMetadata></{}Response>", op.name);
    out
}

/// `<ErrorResponse xmlns="NS"><Error><Type>Sender</Type><Code>…</Code><Message>…</Message>
/// </Error><RequestId>…</RequestId></ErrorResponse>`.
pub fn encode_xml_error(
    service: &ServiceInfo,
    code: &str,
    message: &str,
    sender_fault: bool,
    request_id: &str,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<ErrorResponse");
    if let Some(ns) = service.xml_namespace {
        out.push_str(" xmlns=\"");
        escape(ns, &mut out);
        out.push('"');
    }
    out.push_str("><Error><Type>");
    out.push_str(if sender_fault { "Sender" } else { "Receiver" });
    out.push_str("</Type><Code>");
    escape(code, &mut out);
    out.push_str("</Code><Message>");
    escape(message, &mut out);
    out.push_str("</Message></Error><RequestId>");
    escape(request_id, &mut out);
    out.push_str("</RequestId></ErrorResponse>");
    out
}

/// The JSON form of an awsQuery response, which the query services (STS, IAM) send instead of
/// XML when the request says `Accept: application/json`:
/// `{"<Op>Response": {"<Op>Result": {...}, "ResponseMetadata": {"RequestId": "..."}}}`, with
/// the output's modelled members under their model names, lists as arrays and timestamps as
/// epoch seconds. aws-iam-authenticator (EKS) reads a presigned GetCallerIdentity this way.
pub fn encode_query_json_response(
    service: &ServiceInfo,
    op: &OperationInfo,
    output: &Value,
    request_id: &str,
) -> String {
    let mut response = serde_json::Map::new();
    if let Some(shape) = op.output {
        let wrapper = op
            .result_wrapper
            .map_or_else(|| format!("{}Result", op.name), str::to_owned);
        response.insert(wrapper, shaped(service, shape, output, 0));
    }
    response.insert(
        "ResponseMetadata".to_owned(),
        serde_json::json!({ "RequestId": request_id }),
    );
    let mut top = serde_json::Map::new();
    top.insert(format!("{}Response", op.name), Value::Object(response));
    Value::Object(top).to_string()
}

/// The JSON form of an awsQuery error (`Accept: application/json`):
/// `{"Error": {"Code", "Message", "Type"}, "RequestId"}`.
pub fn encode_query_json_error(
    code: &str,
    message: &str,
    sender_fault: bool,
    request_id: &str,
) -> String {
    serde_json::json!({
        "Error": {
            "Code": code,
            "Message": message,
            "Type": if sender_fault { "Sender" } else { "Receiver" },
        },
        "RequestId": request_id,
    })
    .to_string()
}

/// A value cut to its shape: a structure's modelled, non-null members; lists and maps item by
/// item. Shapes nest only as deep as the model does; the bound guards a recursive shape.
fn shaped(service: &ServiceInfo, id: ShapeId, v: &Value, depth: usize) -> Value {
    let Some(shape) = service.shape(id).filter(|_| depth < 64) else {
        return Value::Null;
    };
    match (&shape.kind, v) {
        (ShapeKind::Structure { members }, Value::Object(obj)) => Value::Object(
            members
                .iter()
                .filter_map(|m| {
                    let x = obj.get(m.name).filter(|x| !x.is_null())?;
                    Some((m.name.to_owned(), shaped(service, m.target, x, depth + 1)))
                })
                .collect(),
        ),
        (ShapeKind::List { member, .. }, Value::Array(items)) => Value::Array(
            items
                .iter()
                .filter(|x| !x.is_null())
                .map(|x| shaped(service, *member, x, depth + 1))
                .collect(),
        ),
        (ShapeKind::Map { value, .. }, Value::Object(obj)) => Value::Object(
            obj.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), shaped(service, *value, x, depth + 1)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

struct Encoder<'s> {
    service: &'s ServiceInfo,
}

impl Encoder<'_> {
    /// Writes the members of structure `id` (without an enclosing element).
    fn children(&self, id: ShapeId, value: &Value, out: &mut String) {
        let (Some(ShapeKind::Structure { members }), Some(obj)) =
            (self.service.shape(id).map(|s| &s.kind), value.as_object())
        else {
            return;
        };
        for m in *members {
            if let Some(v) = obj.get(m.name).filter(|v| !v.is_null()) {
                self.member(m, v, out);
            }
        }
    }

    fn member(&self, m: &Member, v: &Value, out: &mut String) {
        let name = m.wire_name();
        let Some(shape) = self.service.shape(m.target) else {
            return;
        };
        match &shape.kind {
            ShapeKind::List {
                member,
                member_location_name,
                flattened,
                ..
            } if *flattened || m.flattened => {
                let item_name = member_location_name.unwrap_or(name);
                for item in v.as_array().into_iter().flatten() {
                    if !item.is_null() {
                        self.element(item_name, *member, item, out);
                    }
                }
            }
            ShapeKind::Map { flattened, .. } if *flattened || m.flattened => {
                self.map_entries(m.target, name, v, out);
            }
            _ => self.element(name, m.target, v, out),
        }
    }

    fn map_entries(&self, id: ShapeId, entry_name: &str, v: &Value, out: &mut String) {
        let Some(ShapeKind::Map {
            key,
            value,
            key_location_name,
            value_location_name,
            ..
        }) = self.service.shape(id).map(|s| &s.kind)
        else {
            return;
        };
        for (k, item) in v.as_object().into_iter().flatten() {
            if item.is_null() {
                continue;
            }
            let _ = write!(out, "<{entry_name}>");
            self.element(
                key_location_name.unwrap_or("key"),
                *key,
                &Value::String(k.clone()),
                out,
            );
            self.element(value_location_name.unwrap_or("value"), *value, item, out);
            let _ = write!(out, "</{entry_name}>");
        }
    }

    /// Writes `<name>…</name>` for a value of shape `id`.
    fn element(&self, name: &str, id: ShapeId, v: &Value, out: &mut String) {
        let Some(shape) = self.service.shape(id) else {
            return;
        };
        let _ = write!(out, "<{name}>");
        match &shape.kind {
            ShapeKind::Structure { .. } => self.children(id, v, out),
            ShapeKind::List {
                member,
                member_location_name,
                ..
            } => {
                let item_name = member_location_name.unwrap_or("member");
                for item in v.as_array().into_iter().flatten() {
                    if !item.is_null() {
                        self.element(item_name, *member, item, out);
                    }
                }
            }
            ShapeKind::Map { .. } => self.map_entries(id, "entry", v, out),
            ShapeKind::Timestamp { format } => match (v, *format) {
                (Value::Number(n), Some("unixTimestamp")) => {
                    let _ = write!(out, "{n}");
                }
                (Value::Number(n), _) => {
                    out.push_str(&super::format_iso8601(n.as_f64().unwrap_or(0.0)));
                }
                (other, _) => text(other, out),
            },
            _ => text(v, out),
        }
        let _ = write!(out, "</{name}>");
    }
}

fn text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => escape(s, out),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Null => {}
        other => escape(&other.to_string(), out),
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    /// Regression: `GetUser` with `UserName="a\x00b"` answered a ValidationError echoing the NUL,
    /// which no XML parser accepts, so botocore raised ResponseParserError instead of the error.
    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        let mut out = String::new();
        escape("a\u{0}b\u{1}\tc\n\u{ffff}<", &mut out);
        assert_eq!(out, "a\u{fffd}b\u{fffd}\tc\n\u{fffd}&lt;");
    }
}
