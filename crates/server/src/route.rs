//! Which service and operation a request is for, decided as AWS endpoints do on a shared port:
//! the SigV4 credential scope's service first, then `X-Amz-Target`, then the form's `Action` (with
//! `Version` telling IAM from STS when the request is not signed).

use http::HeaderMap;
use palisade_model::schema::{OperationInfo, Protocol, ServiceInfo};

use crate::error::ApiError;

/// The protocol a request speaks, decided before the service is known so that even an unknown
/// service gets an error in a form its client can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireProtocol {
    /// awsQuery: form-encoded parameters, XML responses.
    Query,
    /// awsJson1_1.
    Json,
}

impl From<Protocol> for WireProtocol {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Query => Self::Query,
            Protocol::Json11 => Self::Json,
        }
    }
}

/// A request's destination.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The service.
    pub service: &'static ServiceInfo,
    /// The operation.
    pub operation: &'static OperationInfo,
}

/// Guesses the protocol from the request's headers alone.
pub fn wire_protocol(headers: &HeaderMap) -> WireProtocol {
    let json_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if headers.contains_key("x-amz-target") || json_type {
        WireProtocol::Json
    } else {
        WireProtocol::Query
    }
}

/// The `X-Amz-Target` header, if any.
pub fn target(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-amz-target").and_then(|v| v.to_str().ok())
}

/// Finds the service from the credential scope's service name, or from the request's shape when
/// it is not signed.
pub fn service(
    scope_service: Option<&str>,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<&'static ServiceInfo, ApiError> {
    if let Some(name) = scope_service {
        return palisade_model::schema::service_by_signing_name(name).ok_or_else(|| {
            unknown_service(wire_protocol(headers), &format!("the service `{name}`"))
        });
    }
    if let Some(target) = target(headers) {
        return palisade_model::schema::resolve_target(target)
            .map(|(svc, _)| svc)
            .ok_or_else(|| unknown_service(WireProtocol::Json, &format!("the target `{target}`")));
    }
    let version = param(params, "Version");
    let by_version = palisade_model::schema::all_services()
        .iter()
        .copied()
        .find(|s| s.protocol == Protocol::Query && Some(s.api_version) == version);
    if let Some(svc) = by_version {
        return Ok(svc);
    }
    // An unsigned request without a version: STS serves the only unsigned operations
    // (AssumeRoleWithWebIdentity, AssumeRoleWithSAML).
    palisade_model::schema::service_by_signing_name("sts")
        .ok_or_else(|| unknown_service(WireProtocol::Query, "the request"))
}

/// Finds the operation within the service.
pub fn operation(
    service: &'static ServiceInfo,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<Route, ApiError> {
    match service.protocol {
        Protocol::Json11 => {
            let Some(target) = target(headers) else {
                return Err(ApiError::bad_request(
                    "UnknownOperationException",
                    "the request has no X-Amz-Target header",
                ));
            };
            let op_name = match target.rsplit_once('.') {
                Some((prefix, op)) if service.has_target_prefix(prefix) => op,
                _ => {
                    return Err(ApiError::bad_request(
                        "UnknownOperationException",
                        format!(
                            "the target `{target}` is not an operation of {}",
                            service.name
                        ),
                    ));
                }
            };
            service
                .operation(op_name)
                .map(|operation| Route { service, operation })
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "UnknownOperationException",
                        format!(
                            "the target `{target}` is not an operation of {}",
                            service.name
                        ),
                    )
                })
        }
        Protocol::Query => {
            let Some(action) = param(params, "Action") else {
                return Err(ApiError::bad_request(
                    "MissingAction",
                    "the request must contain the parameter Action",
                ));
            };
            service
                .operation(action)
                .map(|operation| Route { service, operation })
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "InvalidAction",
                        format!("The action {action} is not valid for this web service."),
                    )
                })
        }
    }
}

/// A query API's operations exist in its one API version: AWS refuses an action asked of
/// another version, or of none (bug: any Version was served). Checked once the request is
/// authenticated, so that a tampered body is refused as a signature mismatch first.
pub fn check_version(route: Route, params: &[(String, String)]) -> Result<(), ApiError> {
    if route.service.protocol != Protocol::Query {
        return Ok(());
    }
    let version = param(params, "Version");
    if version == Some(route.service.api_version) {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "InvalidAction",
        format!(
            "Could not find operation {} for version {}",
            route.operation.name,
            version.unwrap_or("NO_VERSION_SPECIFIED")
        ),
    ))
}

fn unknown_service(protocol: WireProtocol, what: &str) -> ApiError {
    let message = format!("palisade does not serve {what}");
    match protocol {
        WireProtocol::Json => ApiError::bad_request("UnknownOperationException", message),
        WireProtocol::Query => ApiError::bad_request("InvalidAction", message),
    }
}

/// The first value of a form or query parameter.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
