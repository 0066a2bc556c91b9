//! The handlers, one module per service. A handler gets the validated input as the model's JSON
//! value form and returns the output in the same form; the codecs turn both into the wire format.

mod sts;

use http::StatusCode;
use serde_json::Value;

use crate::error::ApiError;
use crate::identity::Caller;
use crate::route::Route;
use crate::state::AppState;

/// The services this build answers, for the health endpoint.
pub const SERVED: &[&str] = &["sts"];

/// Runs the operation's handler.
pub async fn dispatch(
    _state: &AppState,
    caller: &Caller,
    route: Route,
    _input: Value,
) -> Result<Value, ApiError> {
    match (route.service.name, route.operation.name) {
        ("sts", "GetCallerIdentity") => to_value(sts::get_caller_identity(caller)),
        (service, operation) => Err(ApiError::new(
            "NotImplemented",
            format!("palisade does not implement {service}:{operation} yet"),
            StatusCode::NOT_IMPLEMENTED,
        )),
    }
}

fn to_value<T: serde::Serialize>(output: T) -> Result<Value, ApiError> {
    serde_json::to_value(output).map_err(ApiError::internal)
}
