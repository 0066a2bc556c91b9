//! AWS Signature Version 4 verification (and signing), framework-free.
//!
//! The server hands over the request as plain strings ([`Request`]: method, raw path, raw
//! query, header pairs) plus the body bytes:
//!
//! 1. [`is_signed`] tells whether there is any authentication at all (else AWS answers
//!    `MissingAuthenticationToken`);
//! 2. [`parse`] extracts the [`ParsedAuth`] from the `Authorization` header or the presigned
//!    query, checking everything that needs no secret;
//! 3. the server looks up the secret of [`ParsedAuth::access_key_id`] (and may call
//!    [`ParsedAuth::check_scope`]);
//! 4. [`Verifier::verify`] checks the time window, `x-amz-content-sha256`, and the signature
//!    in constant time, with derived signing keys cached.
//!
//! Every failure is a [`SigV4Error`] whose `Display` is AWS's message and whose
//! [`SigV4Error::aws_code`] / [`SigV4Error::aws_code_json`] are AWS's error codes.
//!
//! [`sign`] and [`presign`] produce signatures with the same canonicalisation code, for the
//! load generator and tests.
//!
//! ```
//! use palisade_sigv4::{Canonicalization, Request, SigningParams, Verifier, parse, sign};
//! use time::macros::datetime;
//!
//! let now = datetime!(2015-08-30 12:36:00 UTC);
//! let body = b"Action=ListUsers&Version=2010-05-08";
//! let headers = [
//!     ("Host", "iam.amazonaws.com"),
//!     ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
//! ];
//! let unsigned = Request { method: "POST", path: "/", query: "", headers: &headers };
//! let params = SigningParams {
//!     access_key_id: "AKIDEXAMPLE",
//!     secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
//!     security_token: None,
//!     region: "us-east-1",
//!     service: "iam",
//!     time: now,
//!     canonicalization: Canonicalization::AWS,
//!     content_sha256_header: false,
//! };
//! let out = sign(&unsigned, body, &params).unwrap();
//!
//! // What the server sees:
//! let mut all: Vec<(&str, &str)> = headers.to_vec();
//! all.extend(out.headers());
//! let request = Request { headers: &all, ..unsigned };
//! let verifier = Verifier::default();
//! let parsed = parse(&request).unwrap();
//! assert_eq!(parsed.access_key_id, "AKIDEXAMPLE");
//! verifier
//!     .verify(&parsed, &request, body, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now)
//!     .unwrap();
//! let err = verifier.verify(&parsed, &request, b"tampered", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now);
//! assert_eq!(err.unwrap_err().aws_code(), "SignatureDoesNotMatch");
//! ```

mod canonical;
mod error;
mod parse;
mod sign;
mod verify;

pub use canonical::{Canonicalization, UriEncoding};
pub use error::{ErrorKind, SigV4Error, SignError};
pub use parse::{
    MAX_PRESIGN_EXPIRES, ParsedAuth, Request, is_region_name, is_signed, parse, region_partition,
};
pub use sign::{SigningOutput, SigningParams, presign, sign};
pub use verify::{Settings, Verifier, derive_signing_key};

#[cfg(test)]
mod tests;
