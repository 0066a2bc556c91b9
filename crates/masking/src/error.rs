//! Errors. Every message is lowercase and names the rule, field or value at fault.

use std::path::PathBuf;

/// A failure of a cryptographic primitive.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// A key of the wrong size was supplied.
    #[error("key is {got} bytes, expected {expected}")]
    KeyLength {
        /// The accepted sizes.
        expected: &'static str,
        /// The size supplied.
        got: usize,
    },
    /// The FF1 radix is outside 2..=65536.
    #[error("radix {0} is outside 2..=65536")]
    Radix(u32),
    /// The FF1 input is too short for a safe domain or too long.
    #[error(
        "value has {len} encryptable characters; format-preserving encryption needs {min} to {max}"
    )]
    Ff1Length {
        /// The numeral count.
        len: usize,
        /// The minimum for the radix.
        min: usize,
        /// The maximum accepted.
        max: usize,
    },
    /// A numeral outside the radix, or a number that does not fit its byte string.
    #[error("numeral outside the radix")]
    Numeral,
    /// A ciphertext failed authentication or is malformed.
    #[error("ciphertext failed authentication (wrong key, wrong context or altered value)")]
    Authentication,
    /// aws-lc-rs refused an operation (the string names which).
    #[error("crypto backend failed in {0}")]
    Backend(&'static str),
}

/// Everything that can go wrong in masking.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    /// A primitive failed while transforming a value of a rule's field.
    #[error("rule {rule:?}, field {field:?}: {source}")]
    Crypto {
        /// The rule name.
        rule: String,
        /// The column, path or identifier.
        field: String,
        /// The primitive's error.
        #[source]
        source: CryptoError,
    },
    /// A transform cannot be applied to a value (bad date, number, alphabet …).
    #[error("rule {rule:?}, field {field:?}: {message}")]
    Value {
        /// The rule name.
        rule: String,
        /// The column, path or identifier.
        field: String,
        /// What is wrong with the value (never the value itself, which may be sensitive).
        message: String,
    },
    /// A rule or policy is invalid.
    #[error("rule {rule:?}: {message}")]
    Rule {
        /// The rule (or policy) name.
        rule: String,
        /// What is wrong.
        message: String,
    },
    /// A masking policy, or the policies file itself (an empty name), is invalid.
    #[error("{}: {message}", policy_label(policy))]
    Policy {
        /// The policy's name (or `#N` for an unnamed one), empty for the file as a whole.
        policy: String,
        /// What is wrong.
        message: String,
    },
    /// The rules or policies file cannot be parsed.
    #[error("cannot parse {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A key is missing, malformed or cannot be obtained.
    #[error("key {key:?}: {message}")]
    Key {
        /// The key name.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The KMS endpoint failed or refused.
    #[error("kms {operation}: {message}")]
    Kms {
        /// The KMS operation (GenerateDataKey, Decrypt).
        operation: &'static str,
        /// The transport error or the service's error type and message.
        message: String,
    },
    /// An input or output file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An input record is malformed.
    #[error("{path}: record {record}: {message}")]
    Input {
        /// The file.
        path: PathBuf,
        /// The 1-based record (line or row) number.
        record: u64,
        /// What is wrong.
        message: String,
    },
    /// A command-line argument combination is invalid.
    #[error("{0}")]
    Usage(String),
}

fn policy_label(policy: &str) -> String {
    if policy.is_empty() {
        "policies file".to_owned()
    } else {
        format!("policy {policy:?}")
    }
}

impl MaskError {
    pub(crate) fn policy(policy: &str, message: impl Into<String>) -> Self {
        Self::Policy {
            policy: policy.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn rule(rule: &str, message: impl Into<String>) -> Self {
        Self::Rule {
            rule: rule.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
