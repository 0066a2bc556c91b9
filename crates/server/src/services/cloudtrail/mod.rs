//! AWS CloudTrail (awsJson1_1, API 2013-11-01).

use serde_json::Value;

use crate::error::ApiError;
use crate::identity::Caller;
use crate::state::AppState;

/// Runs an operation of the service in `region`.
pub async fn handle(
    state: &AppState,
    caller: &Caller,
    region: &str,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    let _ = (state, caller, region, input);
    Err(super::not_implemented("cloudtrail", operation))
}
