//! The wire: turning request bytes into the model's value form and values back into awsQuery XML
//! or awsJson1_1 responses. The shape-driven codecs live in `palisade-model`; this module adds the
//! HTTP around them.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use palisade_model::schema::{Protocol, ServiceInfo};
use palisade_model::validate::InputError;
use serde_json::Value;

use crate::error::ApiError;
use crate::route::{Route, WireProtocol};

/// The response body type of the gateway.
pub type Body = Full<Bytes>;

/// The parameters of a request: the URL's query string and, for form bodies, the body. Auth
/// parameters of presigned URLs are left in; the codecs ignore members they do not know.
pub fn params(
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let is_json = content_type.is_some_and(|c| c.contains("json"));
    if !is_json && !body.is_empty() {
        out.extend(form_urlencoded::parse(body).into_owned());
    }
    out
}

/// Decodes and validates an operation's input.
pub fn decode_input(
    route: Route,
    params: &[(String, String)],
    body: &[u8],
) -> Result<Value, ApiError> {
    let service = route.service;
    let value = match service.protocol {
        Protocol::Query => {
            palisade_model::codec::query::decode_query(service, route.operation, params).map_err(
                |e| ApiError::bad_request(service.validation_error_code(), e.to_string()),
            )?
        }
        Protocol::Json11 => {
            let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
                Value::Object(serde_json::Map::new())
            } else {
                serde_json::from_slice(body).map_err(|e| {
                    ApiError::bad_request(
                        "SerializationException",
                        format!("the request body is not valid JSON: {e}"),
                    )
                })?
            };
            if !value.is_object() {
                return Err(ApiError::bad_request(
                    "SerializationException",
                    "the request body must be a JSON object",
                ));
            }
            value
        }
    };
    palisade_model::validate::validate_input(service, route.operation, &value).map_err(
        |e| match e {
            // A value of the wrong JSON type is a serialization error in awsJson, as in AWS.
            InputError::Decode(d) if service.protocol == Protocol::Json11 => {
                ApiError::bad_request("SerializationException", d.to_string())
            }
            InputError::Validation(errors)
                if let Some(e) = crate::services::validation_override(
                    service.name,
                    route.operation.name,
                    &errors,
                ) =>
            {
                e
            }
            other => ApiError::bad_request(service.validation_error_code(), other.to_string()),
        },
    )?;
    Ok(value)
}

/// Whether an awsQuery request asks for its answer in JSON (`Accept: application/json`), which
/// the query services honour.
pub fn accepts_json(headers: &http::HeaderMap) -> bool {
    const JSON: &[u8] = b"application/json";
    headers.get_all(http::header::ACCEPT).iter().any(|v| {
        v.as_bytes()
            .windows(JSON.len())
            .any(|w| w.eq_ignore_ascii_case(JSON))
    })
}

/// Encodes a successful response; `json` asks an awsQuery service for its JSON form.
pub fn encode_output(route: Route, output: &Value, request_id: &str, json: bool) -> Response<Body> {
    let service = route.service;
    match service.protocol {
        Protocol::Query if json => {
            let body = palisade_model::codec::xml::encode_query_json_response(
                service,
                route.operation,
                output,
                request_id,
            );
            respond(
                StatusCode::OK,
                "application/json",
                body.into_bytes(),
                request_id,
            )
        }
        Protocol::Query => {
            let xml = palisade_model::codec::xml::encode_query_response(
                service,
                route.operation,
                output,
                request_id,
            );
            respond(StatusCode::OK, "text/xml", xml.into_bytes(), request_id)
        }
        Protocol::Json11 => {
            let json = palisade_model::codec::json::encode_json_output(output);
            respond(
                StatusCode::OK,
                "application/x-amz-json-1.1",
                json.into_bytes(),
                request_id,
            )
        }
    }
}

/// Encodes an error in the protocol of the service (or of the request, when the service is not
/// known); `json` asks for awsQuery's JSON form.
pub fn encode_error(
    protocol: WireProtocol,
    service: Option<&'static ServiceInfo>,
    error: &ApiError,
    request_id: &str,
    json: bool,
) -> Response<Body> {
    match protocol {
        WireProtocol::Query if json => {
            let body = palisade_model::codec::xml::encode_query_json_error(
                error.code,
                &error.message,
                error.sender_fault,
                request_id,
            );
            respond(
                error.status,
                "application/json",
                body.into_bytes(),
                request_id,
            )
        }
        WireProtocol::Query => {
            // A request for no known service is answered in STS's namespace: any awsQuery client
            // reads the error from it.
            let service = service
                .filter(|s| s.protocol == Protocol::Query)
                .or_else(|| palisade_model::schema::service_by_signing_name("sts"));
            let Some(service) = service else {
                return respond(
                    error.status,
                    "text/plain",
                    error.to_string().into_bytes(),
                    request_id,
                );
            };
            let xml = palisade_model::codec::xml::encode_xml_error(
                service,
                error.code,
                &error.message,
                error.sender_fault,
                request_id,
            );
            respond(error.status, "text/xml", xml.into_bytes(), request_id)
        }
        WireProtocol::Json => {
            let body = palisade_model::codec::json::encode_json_error(error.code, &error.message);
            let mut response = respond(
                error.status,
                "application/x-amz-json-1.1",
                body.into_bytes(),
                request_id,
            );
            if let Ok(v) = HeaderValue::from_str(error.code) {
                response.headers_mut().insert("x-amzn-errortype", v);
            }
            response
        }
    }
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
    request_id: &str,
) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}
