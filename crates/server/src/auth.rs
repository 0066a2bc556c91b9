//! The authenticate step: SigV4 claims are parsed early (the credential scope routes the
//! request), then verified against the access key's secret.
//!
//! In strict mode an unsigned request, an unknown or inactive key, a wrong signature or a request
//! outside the 15-minute window is refused with the error code the service's own protocol uses.
//! In `--dev` mode any credentials are accepted: a 12-digit access key id selects that account,
//! anything else means the configured default account.

use http::StatusCode;
use palisade_sigv4::{ErrorKind, ParsedAuth, SigV4Error};
use time::OffsetDateTime;

use std::sync::Arc;

use crate::error::ApiError;
use crate::identity::Caller;
use crate::route::WireProtocol;
use crate::session::{self, TokenError};
use crate::state::AppState;

/// The SigV4 claims of a request, detached from it.
#[derive(Debug, Clone)]
pub struct Claims(ParsedAuth<'static>);

impl Claims {
    /// The claimed access key id.
    pub fn access_key_id(&self) -> &str {
        &self.0.access_key_id
    }
    /// The credential scope's region.
    pub fn region(&self) -> &str {
        &self.0.region
    }
    /// The credential scope's service.
    pub fn service(&self) -> &str {
        &self.0.service
    }
}

fn header_pairs(parts: &http::request::Parts) -> Vec<(&str, &str)> {
    let mut pairs: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
        .collect();
    // HTTP/2 carries the host as the `:authority` pseudo-header, which hyper keeps in the URI:
    // most signers sign it as `host` (bug: every signed HTTP/2 request failed its signature).
    if !parts.headers.contains_key(http::header::HOST)
        && let Some(authority) = parts.uri.authority()
    {
        pairs.push(("host", authority.as_str()));
    }
    // Others (the JavaScript SDK v3 over HTTP/2) sign it by its own name, `:authority`, which
    // no header map holds (a header name cannot contain `:`), so it is offered under that name
    // too; the canonical request only reads the names the signer listed (bug: such requests
    // were refused as missing a signed host). The URI's authority is the pseudo-header itself;
    // an HTTP/1.1 request has only its Host.
    let authority = parts
        .uri
        .authority()
        .map(http::uri::Authority::as_str)
        .or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
        });
    if let Some(authority) = authority {
        pairs.push((":authority", authority));
    }
    pairs
}

fn sigv4_request<'a>(
    parts: &'a http::request::Parts,
    headers: &'a [(&'a str, &'a str)],
) -> palisade_sigv4::Request<'a> {
    palisade_sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers,
    }
}

/// Parses the request's SigV4 claims; `None` when the request is not signed at all.
pub fn parse(
    parts: &http::request::Parts,
    protocol: WireProtocol,
) -> Result<Option<Claims>, ApiError> {
    let headers = header_pairs(parts);
    let query = parts.uri.query().unwrap_or_default();
    if !palisade_sigv4::is_signed(&headers, query) {
        return Ok(None);
    }
    palisade_sigv4::parse(&sigv4_request(parts, &headers))
        .map(|p| Some(Claims(p.into_owned())))
        .map_err(|e| sigv4_error(&e, protocol))
}

/// Verifies the request and returns who made it.
pub async fn authenticate(
    state: &AppState,
    parts: &http::request::Parts,
    body: &[u8],
    claims: Option<&Claims>,
    protocol: WireProtocol,
    key_owner: &mut Option<crate::audit::KeyOwner>,
) -> Result<Caller, ApiError> {
    let now = OffsetDateTime::now_utc();
    if state.config.dev {
        // Known credentials still say who is calling (moto's suites assert the identity of IAM
        // users and assumed roles); anything else is the root user of the key's account.
        if let Some(c) = claims
            && let Ok(Some((caller, _, true))) = resolve(state, c, now, protocol, &mut None).await
        {
            record_use(state, c, &caller, now);
            return Ok(caller);
        }
        return Ok(dev_caller(
            claims.map(Claims::access_key_id),
            &state.config.account_id,
        ));
    }
    let Some(claims) = claims else {
        return Err(sigv4_error(&SigV4Error::MissingAuthentication, protocol));
    };
    // Palisade's accounts are in the `aws` partition, and an access key belongs to its
    // partition: a request signed for a Region of another (cn-north-1, us-gov-west-1) is
    // refused as that partition's endpoints refuse a commercial key. Bug: it was served, and
    // made resources with `arn:aws:` ARNs that no such Region could have.
    if palisade_sigv4::region_partition(claims.region()).is_some_and(|p| p != SERVED_PARTITION) {
        return Err(invalid_token(protocol));
    }
    let resolved = resolve(state, claims, now, protocol, key_owner).await;
    // A refusal of a key that exists (a wrong signature, an expired session) is someone
    // holding or guessing at real credentials: its events are sampled apart from the rest.
    // An inactive key exists too: a deactivated (leaked?) key being tried is what an operator
    // most wants to see.
    if let Ok(Some((caller, _, _))) = &resolved {
        *key_owner = Some(crate::audit::KeyOwner::of(caller));
    }
    let Some((caller, secret, true)) = resolved? else {
        return Err(invalid_token(protocol));
    };
    let headers = header_pairs(parts);
    let request = sigv4_request(parts, &headers);
    if let Err(e) = state
        .verifier
        .verify(&claims.0, &request, body, &secret, now)
    {
        // The canonical request is what a client author needs to find where their signer
        // differs, with its parameter values and session token left out: a GET query call
        // carries its parameters there (bug: UpdateLoginProfile's Password reached the log).
        if tracing::enabled!(tracing::Level::DEBUG)
            && let Ok(canonical) = state.verifier.canonical_request(&claims.0, &request, body)
        {
            let canonical = redacted_canonical(&canonical);
            tracing::debug!(error = %e, %canonical, "signature verification failed");
        }
        return Err(sigv4_error(&e, protocol));
    }
    record_use(state, claims, &caller, now);
    Ok(caller)
}

/// A canonical request fit for the log: the query's values (parameters of GET calls, which
/// may be passwords) and the session token's header value replaced by `*`, except the
/// presigning parameters that say how the request was signed.
fn redacted_canonical(canonical: &str) -> String {
    const SHOWN: &[&str] = &[
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
    ];
    let mut out = Vec::new();
    let mut in_headers = true;
    for (i, line) in canonical.split('\n').enumerate() {
        let line = match i {
            0 | 1 => line.to_owned(),
            2 => line
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) if !v.is_empty() && !SHOWN.contains(&k) => format!("{k}=*"),
                    _ => pair.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("&"),
            _ if line.is_empty() => {
                in_headers = false;
                String::new()
            }
            _ if in_headers && line.starts_with("x-amz-security-token:") => {
                "x-amz-security-token:*".to_owned()
            }
            _ => line.to_owned(),
        };
        out.push(line);
    }
    out.join("\n")
}

/// Notes a long-term key's use for `GetAccessKeyLastUsed` and the credential report; session
/// credentials have no such record in AWS.
fn record_use(state: &AppState, claims: &Claims, caller: &Caller, now: OffsetDateTime) {
    if !caller.is_temporary() {
        state.keys.touch(
            claims.access_key_id(),
            claims.service(),
            claims.region(),
            now,
        );
    }
}

/// Finds the caller and secret behind the claimed key, and whether the key is active: a session
/// token when one is presented, else a stored access key. `None` when there is no such key.
async fn resolve(
    state: &AppState,
    claims: &Claims,
    now: OffsetDateTime,
    protocol: WireProtocol,
    expired_owner: &mut Option<crate::audit::KeyOwner>,
) -> Result<Option<(Caller, Arc<str>, bool)>, ApiError> {
    let id = claims.access_key_id();
    if let Some(token) = claims.0.security_token.as_deref() {
        return match session::open_token(&state.sealer, id, token, now.unix_timestamp()) {
            Ok((secret, session)) => Ok(Some((session.caller(id), Arc::from(secret), true))),
            Err(TokenError::Expired(session)) => {
                // Someone replaying expired sessions is sampled by whoever minted them.
                *expired_owner = Some(crate::audit::KeyOwner::of(&session.caller(id)));
                Err(expired_token(protocol))
            }
            Err(TokenError::Invalid) => Err(invalid_token(protocol)),
        };
    }
    let key = state.keys.resolve(id).await.map_err(ApiError::internal)?;
    Ok(key.map(|k| (k.caller, k.secret.clone(), k.active)))
}

/// A session token past its expiry.
fn expired_token(protocol: WireProtocol) -> ApiError {
    let message = "The security token included in the request is expired";
    match protocol {
        WireProtocol::Query => ApiError::new("ExpiredToken", message, StatusCode::FORBIDDEN),
        WireProtocol::Json => ApiError::bad_request("ExpiredTokenException", message),
    }
}

/// The partition Palisade's accounts and ARNs are in.
pub const SERVED_PARTITION: &str = "aws";

pub use palisade_sigv4::region_partition;

/// The caller in `--dev` mode when the credentials are not known.
fn dev_caller(access_key_id: Option<&str>, default_account: &str) -> Caller {
    let account = access_key_id
        .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(default_account);
    Caller::root(account, access_key_id.map(str::to_owned))
}

/// An unknown or inactive access key.
fn invalid_token(protocol: WireProtocol) -> ApiError {
    let message = "The security token included in the request is invalid.";
    match protocol {
        WireProtocol::Query => {
            ApiError::new("InvalidClientTokenId", message, StatusCode::FORBIDDEN)
        }
        WireProtocol::Json => ApiError::bad_request("UnrecognizedClientException", message),
    }
}

/// A verification failure in the form of the service's protocol.
/// The Region a request authenticated for `signing_name` is made in. `aws-global` is the
/// SDKs' name for the partition-wide endpoint of IAM and STS, whose calls AWS records in
/// us-east-1; no other service has one (bug: a KMS key or a secret could be made "in"
/// `aws-global`).
pub fn request_region(
    signed: &str,
    signing_name: &str,
    protocol: WireProtocol,
) -> Result<String, ApiError> {
    if signed != "aws-global" {
        return Ok(signed.to_owned());
    }
    if matches!(signing_name, "iam" | "sts") {
        return Ok(crate::config::DEFAULT_REGION.to_owned());
    }
    Err(sigv4_error(
        &SigV4Error::InvalidCredentialScope(format!(
            "Credential should be scoped to a valid region, not '{signed}'. "
        )),
        protocol,
    ))
}

fn sigv4_error(e: &SigV4Error, protocol: WireProtocol) -> ApiError {
    match protocol {
        WireProtocol::Query => ApiError::new(
            e.aws_code(),
            e.to_string(),
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN),
        ),
        WireProtocol::Json => {
            let message = match e.kind() {
                ErrorKind::Missing => "Missing Authentication Token".to_owned(),
                _ => e.to_string(),
            };
            // JSON-protocol services answer every authentication failure with 400.
            ApiError::bad_request(e.aws_code_json(), message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a GET query call's failed signature logged its canonical request whole, and
    /// with it UpdateLoginProfile's Password and the session token.
    #[test]
    fn logged_canonical_requests_hold_no_parameter_values_or_session_token() {
        let canonical = "GET\n/\nAction=UpdateLoginProfile&Password=LEAK%21&UserName=u1&X-Amz-Date=20261204T000000Z\nhost:iam\nx-amz-security-token:LEAKTOKEN\n\nhost;x-amz-security-token\nUNSIGNED-PAYLOAD";
        let shown = redacted_canonical(canonical);
        assert!(!shown.contains("LEAK"), "{shown}");
        assert_eq!(
            shown,
            "GET\n/\nAction=*&Password=*&UserName=*&X-Amz-Date=20261204T000000Z\nhost:iam\nx-amz-security-token:*\n\nhost;x-amz-security-token\nUNSIGNED-PAYLOAD"
        );
    }

    /// A KMS ListKeys signed by the JavaScript SDK v3's SignatureV4 as its HTTP/2 handler sends
    /// it: no `host`, `:authority` signed instead (the fixture of palisade-sigv4's behaviour
    /// tests, with AWS's example secret).
    const JS_H2_HEADERS: [(&str, &str); 6] = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "TrentService.ListKeys"),
        ("content-length", "11"),
        ("x-amz-date", "20261204T165634Z"),
        (
            "x-amz-content-sha256",
            "700aafb23187e4756a5825fcd6ee4c42ed07ce75fe056235f6286b8d2a3a0f5d",
        ),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/us-east-1/kms/aws4_request, SignedHeaders=:authority;content-length;content-type;x-amz-content-sha256;x-amz-date;x-amz-target, Signature=eb481aa8f5d30e5421cd7b881395a7c2728166cf7c79f662a52cad30a8fd7957",
        ),
    ];

    fn verify_js_h2(parts: &http::request::Parts) -> Result<(), SigV4Error> {
        let headers = header_pairs(parts);
        let request = sigv4_request(parts, &headers);
        let parsed = palisade_sigv4::parse(&request)?;
        let now = OffsetDateTime::from_unix_timestamp(1_796_403_600).unwrap();
        palisade_sigv4::Verifier::default().verify(
            &parsed,
            &request,
            br#"{"Limit":2}"#,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            now,
        )
    }

    #[test]
    fn a_signed_authority_pseudo_header_is_the_requests_authority() {
        // As hyper hands over an HTTP/2 request: the `:authority` in the URI, no Host header.
        let mut h2 = http::Request::builder()
            .method("POST")
            .version(http::Version::HTTP_2)
            .uri("http://kms.us-east-1.amazonaws.com/");
        for (name, value) in JS_H2_HEADERS {
            h2 = h2.header(name, value);
        }
        let (parts, ()) = h2.body(()).unwrap().into_parts();
        verify_js_h2(&parts).unwrap();
        // Over HTTP/1.1 the same name stands for the Host header.
        let mut h1 = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", "kms.us-east-1.amazonaws.com");
        for (name, value) in JS_H2_HEADERS {
            h1 = h1.header(name, value);
        }
        let (parts, ()) = h1.body(()).unwrap().into_parts();
        verify_js_h2(&parts).unwrap();
        // It is signed: another authority does not verify.
        let mut moved = http::Request::builder()
            .method("POST")
            .version(http::Version::HTTP_2)
            .uri("http://kms.us-west-2.amazonaws.com/");
        for (name, value) in JS_H2_HEADERS {
            moved = moved.header(name, value);
        }
        let (parts, ()) = moved.body(()).unwrap().into_parts();
        assert_eq!(verify_js_h2(&parts), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn dev_mode_picks_the_account_from_a_numeric_key() {
        assert_eq!(
            dev_caller(Some("111122223333"), "123456789012").account_id,
            "111122223333"
        );
        assert_eq!(
            dev_caller(Some("AKIAEXAMPLE"), "123456789012").account_id,
            "123456789012"
        );
        assert_eq!(
            dev_caller(None, "123456789012").arn,
            "arn:aws:iam::123456789012:root"
        );
    }
}
