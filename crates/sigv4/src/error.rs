//! Errors of verification and signing, mapped onto the codes and messages AWS returns.

/// The broad class of a verification failure; the server picks the wire code per protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No SigV4 authentication at all (no `Authorization` header, no presigned query).
    Missing,
    /// Authentication present but malformed or lacking a required part.
    Incomplete,
    /// Well-formed authentication whose signature or credential scope does not match.
    Mismatch,
    /// The request time lies outside the accepted window.
    Expired,
    /// The `x-amz-content-sha256` header is invalid or disagrees with the body.
    ContentSha256Mismatch,
}

/// Why a request failed SigV4 verification.
///
/// `Display` yields the message AWS puts in the error body; [`SigV4Error::aws_code`] and
/// [`SigV4Error::aws_code_json`] the error code for query-protocol (IAM, STS) and
/// JSON-protocol (KMS, Secrets Manager) services respectively.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters were present.
    #[error("Request is missing Authentication Token")]
    MissingAuthentication,
    /// The `Authorization` header or presigned query parameters are malformed or incomplete;
    /// the message is AWS's text for the specific defect.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The credential scope is unusable (wrong terminator, date, region or service); the
    /// message is AWS's text for the specific defect.
    #[error("{0}")]
    InvalidCredentialScope(String),
    /// The signature did not match the one computed from the request and the secret key.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    SignatureMismatch,
    /// The request is older than the clock-skew window or past its presigned expiry.
    #[error("{0}")]
    Expired(String),
    /// The request is dated further in the future than the clock-skew window allows.
    #[error("{0}")]
    NotYetValid(String),
    /// The `x-amz-content-sha256` header is well-formed but is not the SHA-256 of the body.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
    /// The `x-amz-content-sha256` header is neither a SHA-256 hex digest nor an accepted
    /// sentinel such as `UNSIGNED-PAYLOAD`.
    #[error("{0}")]
    InvalidContentSha256(String),
}

impl SigV4Error {
    /// The broad class of the failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::MissingAuthentication => ErrorKind::Missing,
            Self::IncompleteSignature(_) => ErrorKind::Incomplete,
            Self::InvalidCredentialScope(_) | Self::SignatureMismatch => ErrorKind::Mismatch,
            Self::Expired(_) | Self::NotYetValid(_) => ErrorKind::Expired,
            Self::ContentSha256Mismatch | Self::InvalidContentSha256(_) => {
                ErrorKind::ContentSha256Mismatch
            }
        }
    }

    /// The error code query-protocol services (IAM, STS) return; an expired signature is
    /// reported there as `SignatureDoesNotMatch`, as AWS does.
    pub fn aws_code(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Missing => "MissingAuthenticationToken",
            ErrorKind::Incomplete => "IncompleteSignature",
            ErrorKind::Mismatch | ErrorKind::Expired => "SignatureDoesNotMatch",
            ErrorKind::ContentSha256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The error code JSON-protocol services (KMS, Secrets Manager) return.
    pub fn aws_code_json(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Missing => "MissingAuthenticationTokenException",
            ErrorKind::Incomplete => "IncompleteSignatureException",
            ErrorKind::Mismatch | ErrorKind::Expired => "InvalidSignatureException",
            ErrorKind::ContentSha256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status AWS query-protocol services use for this failure.
    pub fn http_status(&self) -> u16 {
        match self.kind() {
            ErrorKind::Missing | ErrorKind::Mismatch | ErrorKind::Expired => 403,
            ErrorKind::Incomplete | ErrorKind::ContentSha256Mismatch => 400,
        }
    }
}

/// Why [`crate::sign`] or [`crate::presign`] could not sign a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The request has no `host` header (nor an HTTP/2 `:authority`), which SigV4 requires to
    /// be signed.
    #[error("request has no host or :authority header to sign")]
    MissingHost,
    /// The presign expiry is outside 1..=604800 seconds.
    #[error("presign expiry {0} s is outside 1..=604800")]
    InvalidExpiry(u32),
}
