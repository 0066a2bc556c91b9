//! The one error type every step of the pipeline returns, carrying what the wire needs: AWS's
//! error code, the message, the HTTP status and whether the caller is at fault.

use http::StatusCode;

/// The cause of a failed write to the data directory, in words fit for a client: which of the
/// operator's problems it is (to fix it), never the store's error text (paths, SQL, codes).
pub fn storage_cause(detail: &str) -> &'static str {
    let d = detail.to_ascii_lowercase();
    // SQLite reports a full disk as SQLITE_FULL (13) "database or disk is full", the event log
    // as the OS error ENOSPC (28); a read-only remount as SQLITE_READONLY (8) or EROFS (30).
    if d.contains("no space left")
        || d.contains("disk is full")
        || d.contains("os error 28")
        || d.contains("code: 13)")
    {
        "no space left on device"
    } else if d.contains("read-only") || d.contains("readonly") || d.contains("os error 30") {
        "read-only file system"
    } else if d.contains("quota") || d.contains("os error 122") {
        "disk quota exceeded"
    } else {
        "input/output error"
    }
}

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
    /// The message names the cause in plain words only (bug: it carried the store's own error,
    /// SQL engine codes and all, to any caller); the detail goes to the log.
    pub fn store_write(detail: impl std::fmt::Display) -> Self {
        let detail = detail.to_string();
        tracing::error!(%detail, "a change could not be stored");
        Self::new(
            "ServiceUnavailable",
            format!(
                "the change could not be stored: the data directory cannot be written: {}",
                storage_cause(&detail)
            ),
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

#[cfg(test)]
mod store_write_tests {
    use super::*;

    /// Regression: a full disk answered 503 with SQLite's own text ("store error: error returned
    /// from database: (code: 13) database or disk is full"), and some writes answered 500.
    #[test]
    fn a_full_disk_is_named_in_plain_words_without_the_store_error() {
        let e = ApiError::store_write(
            "store error: error returned from database: (code: 13) database or disk is full",
        );
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            e.message,
            "the change could not be stored: the data directory cannot be written: no space left on device"
        );
        let e = ApiError::store_write(
            "audit event log: writing audit events: Read-only file system (os error 30)",
        );
        assert!(
            e.message.ends_with("read-only file system"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("os error"));
        assert_eq!(
            storage_cause("writing audit events: No space left on device (os error 28)"),
            "no space left on device"
        );
    }
}
