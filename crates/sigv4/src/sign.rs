//! Signing, for our own load generator and tests; shares canonicalisation with verification.

use aws_lc_rs::{digest, hmac};
use time::OffsetDateTime;

use crate::canonical::{
    ALGORITHM, CanonicalInput, Canonicalization, ScopeRef, UNSIGNED_PAYLOAD, UriEncoding, amz_date,
    hex32, push_encoded, push_hex, write_canonical_request, write_scope_date, write_string_to_sign,
};
use crate::error::SignError;
use crate::parse::{MAX_PRESIGN_EXPIRES, Request};
use crate::verify::derive_signing_key;

/// Who signs, for which scope, when, and how.
#[derive(Clone, Copy, Debug)]
pub struct SigningParams<'a> {
    /// The access key id placed in the credential.
    pub access_key_id: &'a str,
    /// The secret access key the signing key is derived from.
    pub secret_access_key: &'a str,
    /// A session token, sent (and signed) as `x-amz-security-token`.
    pub security_token: Option<&'a str>,
    /// The credential scope region.
    pub region: &'a str,
    /// The credential scope service.
    pub service: &'a str,
    /// The signing time.
    pub time: OffsetDateTime,
    /// How the canonical request is built.
    pub canonicalization: Canonicalization,
    /// Whether to add (and sign) an `x-amz-content-sha256` header, as S3 requires.
    pub content_sha256_header: bool,
}

/// The headers [`sign`] produced; add them all to the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningOutput {
    /// The `authorization` header value.
    pub authorization: String,
    /// The `x-amz-date` header value.
    pub x_amz_date: String,
    /// The `x-amz-content-sha256` header value, when requested.
    pub x_amz_content_sha256: Option<String>,
    /// The `x-amz-security-token` header value, when signing with a session token.
    pub x_amz_security_token: Option<String>,
}

impl SigningOutput {
    /// The headers to add, as (lowercase name, value) pairs.
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::with_capacity(4);
        out.push(("authorization", self.authorization.as_str()));
        out.push(("x-amz-date", self.x_amz_date.as_str()));
        if let Some(v) = &self.x_amz_content_sha256 {
            out.push(("x-amz-content-sha256", v.as_str()));
        }
        if let Some(v) = &self.x_amz_security_token {
            out.push(("x-amz-security-token", v.as_str()));
        }
        out
    }
}

/// Headers the official signers leave unsigned because proxies rewrite them, plus the ones
/// this signer sets itself.
fn excluded(name: &str) -> bool {
    [
        "authorization",
        "user-agent",
        "x-amzn-trace-id",
        "transfer-encoding",
        "x-amz-date",
        "x-amz-security-token",
    ]
    .iter()
    .any(|e| name.eq_ignore_ascii_case(e))
}

fn signed_header_list(headers: &[(&str, &str)]) -> Result<String, SignError> {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort_unstable();
    names.dedup();
    // An HTTP/2 request may carry its host as `:authority` alone, which is then signed by
    // that name, as the JavaScript SDK v3 does.
    if !names.iter().any(|n| n == "host" || n == ":authority") {
        return Err(SignError::MissingHost);
    }
    Ok(names.join(";"))
}

fn signature_hex(params: &SigningParams<'_>, creq: &str) -> String {
    let creq_hash = digest::digest(&digest::SHA256, creq.as_bytes());
    let mut creq_hash_bytes = [0u8; 32];
    creq_hash_bytes.copy_from_slice(creq_hash.as_ref());
    let mut date = String::with_capacity(8);
    write_scope_date(&mut date, params.time);
    let mut sts = String::with_capacity(128);
    write_string_to_sign(
        &mut sts,
        params.time,
        &ScopeRef {
            date: &date,
            region: params.region,
            service: params.service,
        },
        &creq_hash_bytes,
    );
    let key = derive_signing_key(
        params.secret_access_key,
        &date,
        params.region,
        params.service,
    );
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), sts.as_bytes());
    let mut out = String::with_capacity(64);
    push_hex(&mut out, tag.as_ref());
    out
}

fn credential_scope(params: &SigningParams<'_>) -> String {
    let mut s = String::with_capacity(64);
    s.push_str(params.access_key_id);
    s.push('/');
    write_scope_date(&mut s, params.time);
    s.push('/');
    s.push_str(params.region);
    s.push('/');
    s.push_str(params.service);
    s.push_str("/aws4_request");
    s
}

fn body_sha256_hex(body: &[u8]) -> String {
    let mut d = [0u8; 32];
    d.copy_from_slice(digest::digest(&digest::SHA256, body).as_ref());
    String::from_utf8_lossy(&hex32(&d)).into_owned()
}

/// Signs `request` with the `Authorization` header scheme. Every header in the request is
/// signed except `user-agent`, `x-amzn-trace-id`, `transfer-encoding` and `authorization`
/// (as the official signers do); `host` (or, for HTTP/2, `:authority`) must be present.
pub fn sign(
    request: &Request<'_>,
    body: &[u8],
    params: &SigningParams<'_>,
) -> Result<SigningOutput, SignError> {
    let x_amz_date = amz_date(params.time);
    let payload_hash = match request.header("x-amz-content-sha256") {
        Some(v) if !params.content_sha256_header => v.to_owned(),
        _ => body_sha256_hex(body),
    };
    let mut headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .copied()
        .filter(|(n, _)| {
            !(excluded(n)
                || (params.content_sha256_header && n.eq_ignore_ascii_case("x-amz-content-sha256")))
        })
        .collect();
    headers.push(("x-amz-date", &x_amz_date));
    if let Some(token) = params.security_token {
        headers.push(("x-amz-security-token", token));
    }
    if params.content_sha256_header {
        headers.push(("x-amz-content-sha256", &payload_hash));
    }
    let signed_headers = signed_header_list(&headers)?;
    let mut creq = String::with_capacity(512);
    write_canonical_request(
        &mut creq,
        &CanonicalInput {
            method: request.method,
            path: request.path,
            query: request.query,
            headers: &headers,
            signed_headers: &signed_headers,
            payload_hash: &payload_hash,
            skip_signature_param: false,
            rules: params.canonicalization,
        },
    );
    let signature = signature_hex(params, &creq);
    let authorization = format!(
        "{ALGORITHM} Credential={}, SignedHeaders={signed_headers}, Signature={signature}",
        credential_scope(params)
    );
    Ok(SigningOutput {
        authorization,
        x_amz_date,
        x_amz_content_sha256: params.content_sha256_header.then_some(payload_hash),
        x_amz_security_token: params.security_token.map(str::to_owned),
    })
}

/// Presigns `request`: returns the complete query string (the request's own parameters
/// followed by the `X-Amz-*` ones, ending with `X-Amz-Signature`) to send instead of
/// `request.query`. S3-style canonicalisation leaves the payload unsigned; otherwise the
/// body's SHA-256 is signed, as botocore does for non-S3 services.
pub fn presign(
    request: &Request<'_>,
    body: &[u8],
    params: &SigningParams<'_>,
    expires_secs: u32,
) -> Result<String, SignError> {
    if expires_secs == 0 || expires_secs > MAX_PRESIGN_EXPIRES {
        return Err(SignError::InvalidExpiry(expires_secs));
    }
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .copied()
        .filter(|(n, _)| {
            !excluded(n)
                && !n.eq_ignore_ascii_case("x-amz-user-agent")
                && !n.eq_ignore_ascii_case("x-amz-checksum-mode")
        })
        .collect();
    let signed_headers = signed_header_list(&headers)?;
    let mut query = String::with_capacity(request.query.len() + 256);
    query.push_str(request.query);
    let mut add = |k: &str, v: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(k);
        query.push('=');
        push_encoded(&mut query, v);
    };
    add("X-Amz-Algorithm", ALGORITHM);
    add("X-Amz-Credential", &credential_scope(params));
    add("X-Amz-Date", &amz_date(params.time));
    add("X-Amz-Expires", &expires_secs.to_string());
    add("X-Amz-SignedHeaders", &signed_headers);
    if let Some(token) = params.security_token {
        add("X-Amz-Security-Token", token);
    }
    let payload_hash = match params.canonicalization.uri_encoding {
        UriEncoding::Single => UNSIGNED_PAYLOAD.to_owned(),
        UriEncoding::Double => body_sha256_hex(body),
    };
    let mut creq = String::with_capacity(512);
    write_canonical_request(
        &mut creq,
        &CanonicalInput {
            method: request.method,
            path: request.path,
            query: &query,
            headers: &headers,
            signed_headers: &signed_headers,
            payload_hash: &payload_hash,
            skip_signature_param: false,
            rules: params.canonicalization,
        },
    );
    let signature = signature_hex(params, &creq);
    query.push_str("&X-Amz-Signature=");
    query.push_str(&signature);
    Ok(query)
}
