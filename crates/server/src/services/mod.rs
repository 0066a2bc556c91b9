//! The handlers, one module per service. A handler gets the validated input as the model's JSON
//! value form and returns the output in the same form; the codecs turn both into the wire format.

pub(crate) mod cloudtrail;
pub(crate) mod iam;
pub(crate) mod kms;
mod paging;
pub(crate) mod secretsmanager;
pub mod sts;

use http::StatusCode;
use palisade_seal::Purpose;
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::identity::Caller;
use crate::route::Route;
use crate::state::AppState;

/// The services this build answers, for the health endpoint.
pub const SERVED: &[&str] = &["cloudtrail", "iam", "kms", "secretsmanager", "sts"];

/// Runs the operation's handler.
pub async fn dispatch(
    state: &AppState,
    caller: &Caller,
    region: &str,
    route: Route,
    input: Value,
) -> Result<Value, ApiError> {
    let operation = route.operation.name;
    match route.service.name {
        "sts" => sts::handle(state, caller, region, operation, input).await,
        "iam" => iam::handle(state, caller, operation, input).await,
        "kms" => kms::handle(state, caller, region, operation, input).await,
        "secretsmanager" => secretsmanager::handle(state, caller, region, operation, input).await,
        "cloudtrail" => cloudtrail::handle(state, caller, region, operation, input).await,
        service => Err(not_implemented(service, operation)),
    }
}

/// A service's own answer to input that fails the model's constraints, where the service checks
/// those members itself and AWS answers with the service's error rather than the front end's
/// `ValidationException`.
pub(crate) fn validation_override(
    service: &str,
    operation: &str,
    errors: &palisade_model::validate::ValidationErrors,
) -> Option<ApiError> {
    const PATTERN: &str = "Member must satisfy regular expression pattern";
    let first = errors.0.first()?;
    let invalid = |m: &str| Some(ApiError::bad_request("InvalidParameterException", m));
    match (service, operation, first.path.as_str()) {
        ("secretsmanager", "RotateSecret", "clientRequestToken") => {
            invalid("ClientRequestToken must be 32-64 characters long.")
        }
        ("secretsmanager", "RotateSecret", "rotationRules.automaticallyAfterDays") => {
            invalid("RotationRules.AutomaticallyAfterDays must be within 1-1000.")
        }
        ("iam", _, member @ ("path" | "newPath")) if first.constraint.starts_with(PATTERN) => {
            Some(iam::invalid_path(member))
        }
        ("iam", _, "pathPrefix") if first.constraint.starts_with(PATTERN) => {
            Some(iam::invalid_path_prefix())
        }
        _ => None,
    }
}

/// The answer for an operation this build does not implement.
pub(crate) fn not_implemented(service: &str, operation: &str) -> ApiError {
    ApiError::new(
        "NotImplemented",
        format!("palisade does not implement {service}:{operation} yet"),
        StatusCode::NOT_IMPLEMENTED,
    )
}

/// Now in epoch milliseconds: the audit trail's clock, so that a query up to now includes an
/// event of this very second (whole seconds times 1000 would leave it out).
pub(crate) fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// Sets a member of a JSON object (no-op on anything else).
/// Whether a tag key is in the `aws:` namespace (any case), which AWS keeps for its own tags.
pub(crate) fn is_reserved_tag_key(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}

pub(crate) fn set(target: &mut Value, key: &str, value: Value) {
    if let Some(map) = target.as_object_mut() {
        map.insert(key.to_owned(), value);
    }
}

/// Whether `code` is a current, unused code of the MFA device `serial` enabled for the calling
/// user. Does not consume the code (the authorizer asks before the handler consumes it).
pub fn mfa_code_is_valid(
    state: &AppState,
    caller: &Caller,
    serial: &str,
    code: &str,
    now: OffsetDateTime,
) -> bool {
    check_mfa_code(state, caller, serial, code, now).is_ok()
}

/// STS's refusal of an MFA device that is not the caller's (or does not exist).
pub fn mfa_unknown_device() -> ApiError {
    ApiError::new(
        "AccessDenied",
        "MultiFactorAuthentication failed, unable to validate MFA code. Please verify your MFA \
         serial number is valid and associated with this user.",
        http::StatusCode::FORBIDDEN,
    )
}

/// STS's refusal of a code that is wrong, stale or already used.
pub fn mfa_bad_code() -> ApiError {
    ApiError::new(
        "AccessDenied",
        "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
        http::StatusCode::FORBIDDEN,
    )
}

/// The MFA serial number and code of an STS request: both or neither.
pub fn mfa_input(input: &Value) -> Result<Option<(&str, &str)>, ApiError> {
    let get = |m: &str| input.get(m).and_then(Value::as_str);
    match (get("SerialNumber"), get("TokenCode")) {
        (Some(serial), Some(code)) => Ok(Some((serial, code))),
        (None, None) => Ok(None),
        _ => Err(ApiError::new(
            "AccessDenied",
            "MultiFactorAuthentication failed, must provide both MFA serial number and one time \
             pass code.",
            http::StatusCode::FORBIDDEN,
        )),
    }
}

/// Checks an MFA code of the calling user's device `serial` without consuming it: AWS's
/// refusal when the device is not the caller's or the code is not a current unused one.
pub fn check_mfa_code(
    state: &AppState,
    caller: &Caller,
    serial: &str,
    code: &str,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let Some(user) = caller.user_name.as_deref() else {
        return Err(mfa_unknown_device());
    };
    let device = state
        .iam
        .read_account(&caller.account_id, |a| a.mfa.get(serial).cloned())
        .ok()
        .flatten();
    let Some(device) = device.filter(|d| {
        d.user
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(user))
    }) else {
        return Err(mfa_unknown_device());
    };
    let Ok(seed) = state
        .sealer
        .open(Purpose::MfaSeed, &device.serial, &device.sealed_seed)
    else {
        return Err(mfa_bad_code());
    };
    crate::mfa::accept(&seed, code, now.unix_timestamp(), device.last_step)
        .map(|_| ())
        .ok_or_else(mfa_bad_code)
}
