//! Wire codecs: awsQuery form decoding, awsQuery XML and awsJson response encoding.

pub mod json;
pub mod query;
pub mod xml;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::schema::{OperationInfo, Protocol, ServiceInfo};

/// Content type of awsJson 1.1 bodies.
pub const JSON_11_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// Content type of awsQuery XML responses.
pub const XML_CONTENT_TYPE: &str = "text/xml";

/// An encoded response or error body with its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBody {
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// Body bytes (UTF-8).
    pub body: String,
}

/// Encodes an operation output (JSON wire form, e.g. `serde_json::to_value(&typed)`) in the
/// service's protocol: awsQuery XML envelope or awsJson body.
pub fn encode_output(
    service: &ServiceInfo,
    op: &OperationInfo,
    output: &Value,
    request_id: &str,
) -> EncodedBody {
    match service.protocol {
        Protocol::Query => EncodedBody {
            content_type: XML_CONTENT_TYPE,
            body: xml::encode_query_response(service, op, output, request_id),
        },
        Protocol::Json11 => EncodedBody {
            content_type: JSON_11_CONTENT_TYPE,
            body: json::encode_json_output(output),
        },
    }
}

/// [`encode_output`] for a typed output struct.
pub fn encode_typed_output<T: Serialize>(
    service: &ServiceInfo,
    op: &OperationInfo,
    output: &T,
    request_id: &str,
) -> Result<EncodedBody, serde_json::Error> {
    let value = serde_json::to_value(output)?;
    Ok(encode_output(service, op, &value, request_id))
}

/// Encodes an error body in the service's protocol (`sender_fault`: `Sender` vs `Receiver`,
/// used by awsQuery only). The HTTP status is the caller's (see [`crate::ErrorInfo`]).
pub fn encode_error(
    service: &ServiceInfo,
    code: &str,
    message: &str,
    sender_fault: bool,
    request_id: &str,
) -> EncodedBody {
    match service.protocol {
        Protocol::Query => EncodedBody {
            content_type: XML_CONTENT_TYPE,
            body: xml::encode_xml_error(service, code, message, sender_fault, request_id),
        },
        Protocol::Json11 => EncodedBody {
            content_type: JSON_11_CONTENT_TYPE,
            body: json::encode_json_error(code, message),
        },
    }
}

/// Epoch seconds → `2026-11-23T20:16:50.123Z` (milliseconds, UTC).
pub fn format_iso8601(epoch_secs: f64) -> String {
    let millis = (epoch_secs * 1000.0).round() as i128;
    let dt = OffsetDateTime::from_unix_timestamp_nanos(millis.saturating_mul(1_000_000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    )
}

/// Parses an ISO 8601 / RFC 3339 timestamp (a missing zone means UTC) or decimal epoch seconds.
pub fn parse_timestamp(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    let dt = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339))
        .ok()?;
    Some(dt.unix_timestamp() as f64 + f64::from(dt.nanosecond()) / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_round_trip() {
        assert_eq!(
            format_iso8601(1_795_465_010.123),
            "2026-11-23T20:16:50.123Z"
        );
        assert_eq!(format_iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            parse_timestamp("2026-11-23T20:16:50.123Z"),
            Some(1_795_465_010.123)
        );
        assert_eq!(
            parse_timestamp("2026-11-23T20:16:50Z"),
            Some(1_795_465_010.0)
        );
        assert_eq!(
            parse_timestamp("2026-11-23T20:16:50"),
            Some(1_795_465_010.0)
        );
        assert_eq!(parse_timestamp("1795465010"), Some(1_795_465_010.0));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
