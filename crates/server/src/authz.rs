//! The authorization step. The IAM issue replaces [`RootOnly`] with enforcement through the
//! policy engine; the pipeline only knows the [`Authorizer`] trait.

use crate::context::RequestContext;
use crate::error::ApiError;
use crate::identity::{Caller, PrincipalKind};
use crate::route::{Route, WireProtocol};

/// Decides whether a caller may run an operation.
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// `Ok` to proceed, or the access-denied error to return.
    fn authorize(
        &self,
        caller: &Caller,
        route: Route,
        ctx: &RequestContext,
    ) -> Result<(), ApiError>;
}

/// Allows root users and denies everyone else: the only principals that exist before IAM is
/// served are the accounts' root users, so this is exact until then.
#[derive(Debug, Default)]
pub struct RootOnly;

impl Authorizer for RootOnly {
    fn authorize(
        &self,
        caller: &Caller,
        route: Route,
        _ctx: &RequestContext,
    ) -> Result<(), ApiError> {
        let action = format!("{}:{}", route.service.signing_name, route.operation.name);
        // GetCallerIdentity cannot be denied.
        if caller.kind == PrincipalKind::Root || action == "sts:GetCallerIdentity" {
            return Ok(());
        }
        Err(access_denied(
            route.service.protocol.into(),
            caller,
            &action,
            "*",
        ))
    }
}

/// AWS's access-denied error, naming the principal, the action and the resource.
pub fn access_denied(
    protocol: WireProtocol,
    caller: &Caller,
    action: &str,
    resource: &str,
) -> ApiError {
    let message = format!(
        "User: {} is not authorized to perform: {action} on resource: {resource} because no \
         identity-based policy allows the {action} action",
        caller.arn
    );
    match protocol {
        WireProtocol::Query => ApiError::new("AccessDenied", message, http::StatusCode::FORBIDDEN),
        WireProtocol::Json => ApiError::bad_request("AccessDeniedException", message),
    }
}
