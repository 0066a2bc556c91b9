//! Deserialisation of botocore `service-2.json` (order-preserving where order matters).

use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

/// A JSON object kept in document order.
#[derive(Debug)]
pub struct OrderedMap<T>(pub Vec<(String, T)>);

impl<T> Default for OrderedMap<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> OrderedMap<T> {
    pub fn get(&self, key: &str) -> Option<&T> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrderedMap<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OrderedMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, T>()? {
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Debug, Deserialize)]
pub struct Model {
    pub metadata: Metadata,
    pub operations: OrderedMap<Operation>,
    pub shapes: OrderedMap<ShapeDef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub api_version: String,
    pub endpoint_prefix: String,
    pub protocol: String,
    pub signing_name: Option<String>,
    pub target_prefix: Option<String>,
    pub xml_namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Operation {
    pub name: String,
    pub input: Option<ShapeRef>,
    pub output: Option<ShapeRef>,
    #[serde(default)]
    pub errors: Vec<ShapeRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XmlNs {
    pub uri: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShapeRef {
    pub shape: String,
    pub result_wrapper: Option<String>,
    pub location_name: Option<String>,
    #[serde(default)]
    pub flattened: bool,
    pub xml_namespace: Option<XmlNs>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorTrait {
    pub code: Option<String>,
    pub http_status_code: Option<u16>,
    pub sender_fault: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShapeDef {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub members: OrderedMap<ShapeRef>,
    #[serde(default)]
    pub required: Vec<String>,
    pub member: Option<ShapeRef>,
    pub key: Option<ShapeRef>,
    pub value: Option<ShapeRef>,
    pub min: Option<serde_json::Number>,
    pub max: Option<serde_json::Number>,
    pub pattern: Option<String>,
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    pub documentation: Option<String>,
    #[serde(default)]
    pub exception: bool,
    pub error: Option<ErrorTrait>,
    #[serde(default)]
    pub fault: bool,
    #[serde(default)]
    pub sensitive: bool,
    pub timestamp_format: Option<String>,
    #[serde(default)]
    pub flattened: bool,
}

pub fn number(n: Option<&serde_json::Number>) -> Option<i64> {
    let n = n?;
    n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))
}
