//! The one error type every step of the pipeline returns, carrying what the wire needs: AWS's
//! error code, the message, the HTTP status and whether the caller is at fault.

use http::StatusCode;

/// An error as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// AWS's error code, e.g. `SignatureDoesNotMatch`.
    pub code: &'static str,
    /// The human-readable message; AWS's own text where known.
    pub message: String,
    /// The HTTP status.
    pub status: StatusCode,
    /// `true` for `Sender` faults (4xx), `false` for `Receiver` faults (5xx).
    pub sender_fault: bool,
}

impl ApiError {
    /// A client error with status 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, message, StatusCode::BAD_REQUEST)
    }

    /// An error with an explicit status; 5xx statuses are receiver faults.
    pub fn new(code: &'static str, message: impl Into<String>, status: StatusCode) -> Self {
        Self {
            code,
            message: message.into(),
            status,
            sender_fault: !status.is_server_error(),
        }
    }

    /// An internal failure. The details go to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal failure");
        Self::new(
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
            StatusCode::INTERNAL_SERVER_ERROR,
        )
    }

    /// A change the store could not write (a full disk, an I/O error): nothing was changed,
    /// and the caller may retry once the operator has made room, so it is the service being
    /// unavailable rather than an unknown failure.
    pub fn store_write(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "a change could not be stored");
        Self::new(
            "ServiceUnavailable",
            format!("the change could not be stored: {detail}"),
            StatusCode::SERVICE_UNAVAILABLE,
        )
    }

    /// A request body larger than the configured limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            "RequestEntityTooLarge",
            format!("the request body is larger than the limit of {limit} bytes"),
            StatusCode::PAYLOAD_TOO_LARGE,
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
