//! placeholder
pub mod base64;
pub mod date;
pub mod error;
pub mod ip;
pub mod json;
pub mod operator;
pub mod pattern;
pub mod policy;
pub use error::PolicyError;
pub use policy::{Policy, PolicyKind};
