//! Errors returned when a policy document is rejected.

use crate::policy::PolicyKind;

/// Why a policy document was rejected.
///
/// `Display` gives a specific message naming the offending value, for logs
/// and the CLI. [`PolicyError::aws_message`] gives the exact text AWS returns
/// in a `MalformedPolicyDocument` error, and [`PolicyError::aws_code`] the
/// error code, for the wire protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The document is too long: `size` counts characters other than
    /// whitespace, as AWS does. AWS code `LimitExceeded`.
    #[error(
        "policy document has {size} non-whitespace characters, over the {limit} limit of {kind} policies"
    )]
    TooLarge {
        /// Policy type whose quota applies.
        kind: PolicyKind,
        /// Non-whitespace characters in the document.
        size: usize,
        /// The quota.
        limit: usize,
    },
    /// A character outside TAB, LF, CR and U+0020–U+00FF in a policy type
    /// stored by IAM or STS.
    #[error("policy contains the character {ch:?} (U+{code:04X}), outside the allowed range")]
    InvalidCharacter {
        /// The offending character.
        ch: char,
        /// Its code point.
        code: u32,
    },
    /// Not JSON, or JSON that does not have the shape of a policy (unknown
    /// element, wrong type, duplicate key, bad `Effect`, unknown condition
    /// operator…). AWS: "Syntax errors in policy."
    #[error("syntax error in policy: {detail}")]
    Syntax {
        /// What is wrong, naming the element and the value.
        detail: String,
    },
    /// `Version` is missing or `2008-10-17` in a policy type that requires
    /// `2012-10-17`. AWS: "Policy document must be version 2012-10-17 or
    /// greater."
    #[error("{} is not accepted for {kind} policies: use \"2012-10-17\"", version_text(found.as_deref()))]
    VersionTooOld {
        /// The `Version` found, if any.
        found: Option<String>,
        /// The policy type.
        kind: PolicyKind,
    },
    /// A value that IAM's older parser rejects: an `Effect` not spelled
    /// exactly `Allow`/`Deny`, a truncated ARN, an invalid date. AWS: "The
    /// policy failed legacy parsing".
    #[error("policy failed legacy parsing: {detail}")]
    LegacyParsing {
        /// What is wrong, naming the value.
        detail: String,
    },
    /// Two statements share a non-empty `Sid`. AWS: "Statement IDs (SID) in a
    /// single policy must be unique."
    #[error("duplicate statement id {sid:?}")]
    DuplicateSid {
        /// The repeated Sid.
        sid: String,
    },
    /// A `Sid` with characters IAM does not take (spaces, hyphens, punctuation) in a policy
    /// IAM stores. AWS: "Statement IDs (SID) must be alpha-numeric. Check that your input
    /// satisfies the regular expression [0-9A-Za-z]*". (`_` is accepted, as IAM does.)
    #[error("statement id {sid:?} is not alphanumeric")]
    InvalidSid {
        /// The Sid.
        sid: String,
    },
    /// A statement without `Action`/`NotAction` (or with an empty list). AWS:
    /// "Policy statement must contain actions."
    #[error("statement {statement} has no Action or NotAction")]
    MissingAction {
        /// Index of the statement.
        statement: usize,
    },
    /// A statement without `Resource`/`NotResource` where the policy type
    /// requires one. AWS: "Policy statement must contain resources."
    #[error("statement {statement} has no Resource or NotResource")]
    MissingResource {
        /// Index of the statement.
        statement: usize,
    },
    /// A resource that is neither `*` nor colon-separated.
    #[error("resource {resource:?} is not an ARN or \"*\"")]
    ResourceNotArn {
        /// The offending resource.
        resource: String,
    },
    /// The partition segment of a resource is not an AWS partition.
    #[error("partition {partition:?} of resource {resource:?} is not valid")]
    InvalidPartition {
        /// The partition found.
        partition: String,
        /// The resource, padded to six segments with `*` as AWS reports it.
        resource: String,
    },
    /// A resource whose service segment is missing or contains a wildcard.
    #[error("resource {resource:?} must name a service without wildcards")]
    ResourceVendor {
        /// The offending resource.
        resource: String,
    },
    /// A region in the ARN of a global resource (IAM; S3 buckets/objects).
    #[error("resource {resource:?} of service {service} cannot contain a region")]
    RegionNotAllowed {
        /// The offending resource.
        resource: String,
        /// `iam` or `s3`.
        service: String,
    },
    /// An IAM resource whose path is not `*` and not one of IAM's resource
    /// types (`user/`, `role/`…).
    #[error("iam resource {resource:?} must be \"*\" or start with an iam resource type")]
    IamResourcePath {
        /// The offending resource.
        resource: String,
    },
    /// An action without a `service:` prefix. AWS: "Actions/Conditions must
    /// be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    #[error("action {action:?} has no service prefix")]
    ActionMissingVendor {
        /// The offending action.
        action: String,
    },
    /// An action whose service prefix has invalid characters.
    #[error("service prefix {vendor:?} is not valid")]
    InvalidVendor {
        /// The offending prefix.
        vendor: String,
    },
    /// An action with more than one colon.
    #[error("action {action:?} has more than one colon")]
    ActionTooManyColons {
        /// The offending action.
        action: String,
    },
    /// `Principal`/`NotPrincipal` in a policy type that must not name one
    /// (identity, boundary, session, SCP).
    #[error("{kind} policies must not contain {field}")]
    PrincipalNotAllowed {
        /// The policy type.
        kind: PolicyKind,
        /// `Principal` or `NotPrincipal`.
        field: &'static str,
    },
    /// A statement without `Principal` in a policy type that needs one.
    #[error("statement {statement} has no Principal, which {kind} policies require")]
    MissingPrincipal {
        /// The policy type.
        kind: PolicyKind,
        /// Index of the statement.
        statement: usize,
    },
    /// An element that the policy type forbids (`Resource` in a role trust
    /// policy, `NotPrincipal` in a trust policy…).
    #[error("{kind} policies must not contain {field}")]
    ProhibitedField {
        /// The policy type.
        kind: PolicyKind,
        /// The forbidden element.
        field: &'static str,
    },
    /// A principal value that is not a valid identifier for its type.
    #[error("invalid principal {key}:{value:?}")]
    InvalidPrincipal {
        /// `AWS`, `Service`, `Federated` or `CanonicalUser`.
        key: String,
        /// The offending value.
        value: String,
    },
    /// A construct that the policy type does not support (an `Allow` in an
    /// RCP, an RCP principal other than `"*"`…).
    #[error("{kind} policies do not support {detail}")]
    Unsupported {
        /// The policy type.
        kind: PolicyKind,
        /// What is unsupported, naming the value.
        detail: String,
    },
    /// A trust policy action that is not STS's: a trust policy only says who may assume the
    /// role (and tag the session, set its source identity), nothing else.
    #[error("trust policy action {action:?} is not an sts: action")]
    TrustAction {
        /// The offending action.
        action: String,
    },
}

impl PolicyError {
    /// AWS's error code: `LimitExceeded` for size, otherwise
    /// `MalformedPolicyDocument`.
    pub fn aws_code(&self) -> &'static str {
        match self {
            PolicyError::TooLarge { .. } => "LimitExceeded",
            _ => "MalformedPolicyDocument",
        }
    }

    /// The message AWS returns for this error.
    ///
    /// Texts for policy-type checks that IAM's `CreatePolicy` never makes
    /// (trust, SCP, RCP) follow the wording AWS uses for those APIs where it
    /// is known, and are otherwise ours.
    pub fn aws_message(&self) -> String {
        match self {
            PolicyError::TooLarge { limit, kind, .. } => match kind {
                PolicyKind::Trust => format!("Cannot exceed quota for ACLSizePerRole: {limit}"),
                PolicyKind::Session => {
                    "Packed policy consumes more than the allowed size.".to_string()
                }
                _ => format!("Cannot exceed quota for PolicySize: {limit}"),
            },
            PolicyError::InvalidCharacter { .. } | PolicyError::Syntax { .. } => {
                "Syntax errors in policy.".to_string()
            }
            PolicyError::VersionTooOld { .. } => {
                "Policy document must be version 2012-10-17 or greater.".to_string()
            }
            PolicyError::LegacyParsing { .. } => "The policy failed legacy parsing".to_string(),
            PolicyError::DuplicateSid { .. } => {
                "Statement IDs (SID) in a single policy must be unique.".to_string()
            }
            PolicyError::InvalidSid { .. } => "Statement IDs (SID) must be alpha-numeric. Check \
                that your input satisfies the regular expression [0-9A-Za-z]*"
                .to_string(),
            PolicyError::MissingAction { .. } => {
                "Policy statement must contain actions.".to_string()
            }
            PolicyError::MissingResource { .. } => {
                "Policy statement must contain resources.".to_string()
            }
            PolicyError::ResourceNotArn { resource } => {
                format!("Resource {resource} must be in ARN format or \"*\".")
            }
            PolicyError::InvalidPartition {
                partition,
                resource,
            } => format!("Partition \"{partition}\" is not valid for resource \"{resource}\"."),
            PolicyError::ResourceVendor { .. } => {
                "Resource vendor must be fully qualified and cannot contain regexes.".to_string()
            }
            PolicyError::RegionNotAllowed { resource, service } => {
                if service == "iam" {
                    format!("IAM resource {resource} cannot contain region information.")
                } else {
                    format!("Resource {resource} can not contain region information.")
                }
            }
            PolicyError::IamResourcePath { .. } => format!(
                "IAM resource path must either be \"*\" or start with {}.",
                crate::policy::IAM_RESOURCE_PREFIXES.join(", ")
            ),
            PolicyError::ActionMissingVendor { .. } => {
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
                    .to_string()
            }
            PolicyError::InvalidVendor { vendor } => format!("Vendor {vendor} is not valid"),
            PolicyError::ActionTooManyColons { .. } => {
                "Actions/Condition can contain only one colon.".to_string()
            }
            PolicyError::PrincipalNotAllowed { field, .. } => {
                if *field == "Principal" {
                    "Policy document should not specify a principal.".to_string()
                } else {
                    format!("Has prohibited field {field}")
                }
            }
            PolicyError::MissingPrincipal { .. } => "Missing required field Principal".to_string(),
            PolicyError::ProhibitedField { field, .. } => format!("Has prohibited field {field}"),
            PolicyError::InvalidPrincipal { key, value } => {
                format!("Invalid principal in policy: \"{key}\":\"{value}\"")
            }
            PolicyError::Unsupported { .. } => self.to_string(),
            PolicyError::TrustAction { .. } => {
                "AssumeRole policy may only specify STS AssumeRole actions.".to_string()
            }
        }
    }
}

/// The `Version` a policy has, as a person reads it (not Rust's `Some("…")`).
fn version_text(found: Option<&str>) -> String {
    match found {
        Some(v) => format!("policy version \"{v}\""),
        None => "a policy without a Version".to_owned(),
    }
}
