//! Palisade's AWS service model: schema tables, typed shapes, validation and wire codecs for
//! IAM, STS (awsQuery) and KMS, Secrets Manager, CloudTrail (awsJson 1.1), generated from the
//! pinned botocore 1.44.5 models in `vendor/botocore/`.
//!
//! # Layout
//!
//! - [`schema`]: [`ServiceInfo`], [`OperationInfo`], [`Shape`] and the routing lookups
//!   [`service_by_signing_name`], [`service_by_target_prefix`], [`resolve_target`],
//!   [`ServiceInfo::operation`], [`all_services`].
//! - `generated/<service>.rs` (re-exported as [`sts`], [`iam`], [`kms`], [`secretsmanager`],
//!   [`cloudtrail`]): per service `SERVICE`, the `errors` table (`errors::NO_SUCH_ENTITY_EXCEPTION`
//!   …) and typed structs (`CreateKeyRequest`, …) and string enums (`KeyUsageType`, …).
//! - [`validate`]: [`validate_input`] / [`parse_input`] with AWS-format messages.
//! - [`codec`]: [`codec::query::decode_query`], [`codec::encode_output`],
//!   [`codec::encode_error`] (and the XML / JSON specifics).
//! - [`types`]: [`Blob`] (base64 in JSON) and [`Timestamp`] (epoch seconds as a JSON number).
//!
//! # Request flow
//!
//! ```text
//! awsJson:  X-Amz-Target → resolve_target → service.operation(name)
//!           body → serde_json::Value → parse_input::<kms::CreateKeyRequest>(…)
//! awsQuery: SigV4 scope service → service_by_signing_name → form Action → service.operation
//!           form pairs → decode_query → parse_input::<iam::CreateUserRequest>(…)
//! handler → typed output → encode_typed_output(service, op, &out, request_id)
//! failure → encode_error(service, code, message, sender_fault, request_id)
//! ```
//!
//! # Regenerating
//!
//! The generated files are committed. After changing `crates/codegen/allowlist.json` or the
//! vendored models, run `cargo run -p palisade-codegen --locked` (or `scripts/codegen.sh`);
//! it rewrites `crates/model/src/generated{.rs,/*.rs}` through rustfmt.
//! `cargo run -p palisade-codegen --locked -- --check` exits non-zero naming stale files, and
//! the codegen crate's `generated_code_is_fresh` test does the same in `cargo test`.
//!
//! # Adding an operation
//!
//! Add its name to the service's `operations` list in `crates/codegen/allowlist.json` (`"*"`
//! means all operations of the model), regenerate, and commit the result. Operations that are
//! not allow-listed still appear in `SERVICE.operations` with `typed: false` and no shape ids,
//! so the server can answer "not implemented" rather than "unknown operation". A new service
//! needs its `service-2.json` vendored under `vendor/botocore/` and an allow-list entry.

pub mod codec;
mod pattern;
pub mod schema;
pub mod types;
pub mod validate;

#[rustfmt::skip]
mod generated;

pub use generated::{cloudtrail, iam, kms, secretsmanager, sts};
pub use schema::{
    ErrorInfo, Member, OperationInfo, Pattern, Protocol, ServiceInfo, Shape, ShapeId, ShapeKind,
    all_services, resolve_target, service_by_signing_name, service_by_target_prefix,
};
pub use types::{Blob, Timestamp};
pub use validate::{
    DecodeError, InputError, ValidationError, ValidationErrors, parse_input, validate_input,
};

/// Translates a botocore (Java) `pattern` into anchored `regex` crate syntax; `None` when the
/// pattern uses look-around or back-references (not enforced).
pub fn translate_pattern(java: &str) -> Option<String> {
    pattern::translate(java)
}
