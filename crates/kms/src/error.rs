//! Why a KMS operation failed, with the KMS error code each reason maps to.

/// A failed KMS cryptographic operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    /// The blob is not ours, was changed, or the context differs: `InvalidCiphertextException`.
    #[error("the ciphertext is invalid")]
    InvalidCiphertext,
    /// Input that fails a KMS rule (length, algorithm for the spec): `ValidationException`.
    #[error("{0}")]
    Validation(String),
    /// The key spec or usage does not support the operation: `InvalidKeyUsageException`.
    #[error("{0}")]
    InvalidKeyUsage(String),
    /// Imported material that is malformed or does not fit: `IncorrectKeyMaterialException`.
    #[error("{0}")]
    IncorrectKeyMaterial(String),
    /// Imported material that the import's wrapping key does not unwrap (another wrapping key,
    /// another algorithm, corrupted bytes): `InvalidCiphertextException`, as KMS documents
    /// for ImportKeyMaterial.
    #[error("{0}")]
    NotUnwrapped(String),
    /// Something this build does not do: `UnsupportedOperationException`.
    #[error("{0} is not supported")]
    Unsupported(String),
    /// aws-lc-rs failed where it should not (key generation, randomness): `KMSInternalException`.
    #[error("{0}")]
    Crypto(String),
}

impl KmsError {
    /// The KMS error code (`__type`) this error is returned as.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidCiphertext => "InvalidCiphertextException",
            Self::Validation(_) => "ValidationException",
            Self::InvalidKeyUsage(_) => "InvalidKeyUsageException",
            Self::IncorrectKeyMaterial(_) => "IncorrectKeyMaterialException",
            Self::NotUnwrapped(_) => "InvalidCiphertextException",
            Self::Unsupported(_) => "UnsupportedOperationException",
            Self::Crypto(_) => "KMSInternalException",
        }
    }
}
