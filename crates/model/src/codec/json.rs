//! awsJson 1.1 bodies.

use serde_json::Value;

/// Removes `null` members and list elements recursively.
pub fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => {
            items.retain(|v| !v.is_null());
            items.iter_mut().for_each(drop_nulls);
        }
        _ => {}
    }
}

/// Encodes an output value (timestamps are already epoch-second numbers and blobs base64
/// strings in the JSON wire form) without `null`s. An absent output encodes as `{}`.
pub fn encode_json_output(output: &Value) -> String {
    if output.is_null() {
        return "{}".to_owned();
    }
    let mut v = output.clone();
    drop_nulls(&mut v);
    v.to_string()
}

/// `{"__type":"Code","message":"..."}`.
pub fn encode_json_error(code: &str, message: &str) -> String {
    serde_json::json!({ "__type": code, "message": message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_dropped() {
        let v = json!({"A": null, "B": [1, null, {"C": null, "D": 1.5}], "E": "x"});
        assert_eq!(encode_json_output(&v), r#"{"B":[1,{"D":1.5}],"E":"x"}"#);
        assert_eq!(encode_json_output(&Value::Null), "{}");
    }

    #[test]
    fn error_body() {
        assert_eq!(
            encode_json_error("NotFoundException", "Key 'x' does not exist"),
            r#"{"__type":"NotFoundException","message":"Key 'x' does not exist"}"#
        );
    }
}
