//! OpenID Connect ID tokens for `AssumeRoleWithWebIdentity`: the token's claims, and its
//! signature checked against the keys its issuer publishes (the JWKS named by the issuer's
//! `/.well-known/openid-configuration`).
//!
//! # Why the keys are fetched the way they are
//!
//! The keys decide who may assume a role, so where they come from is the security of the whole
//! exchange. They are fetched over TLS only, from a server whose leaf certificate chains (valid
//! dates, server authentication, signatures) to a CA certificate with one of the provider's
//! `ThumbprintList` entries (the SHA-1 fingerprint IAM documents: of the top intermediate CA),
//! or is itself pinned (a self-signed certificate); the leaf must name the issuer's host. Palisade carries no list of public root CAs (it is meant
//! to run air-gapped, against an on-premises identity provider), so a provider without a matching
//! thumbprint cannot be trusted and its tokens are refused. Redirects are not followed; answers
//! are bounded in size and time (AWS gives the provider five seconds).
//!
//! Keys are cached per issuer and thumbprint list for ten minutes; a token naming a key id the
//! cache does not hold fetches them again (the provider has rotated its keys), at most once a
//! minute per issuer. A failed fetch is remembered for thirty seconds: tokens come from anyone,
//! and each must not make the server call out to a provider that is down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::{BodyExt, Empty, Limited};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use serde_json::{Map, Value};

/// How long the identity provider has to answer each request.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest discovery document or key set read.
const MAX_DOCUMENT: usize = 1 << 20;
/// How long fetched keys are used before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(600);
/// The least time between two fetches for a key id that is not known.
const REFETCH_AFTER: Duration = Duration::from_secs(60);
/// How long a failed fetch is answered from memory before the provider is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Tokens larger than this are refused without parsing (the model allows 20,000 characters).
const MAX_TOKEN: usize = 20_000;

/// Why a token was not accepted. Each variant maps to one of STS's error codes.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, a claim is missing or malformed, or the signature does not verify
    /// (`InvalidIdentityToken`).
    #[error("{0}")]
    Invalid(String),
    /// Not a compact JWS at all, often an OAuth access token sent instead of an ID token
    /// (`InvalidIdentityToken`, with STS's own sentence).
    #[error(
        "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
    )]
    NotJwt,
    /// The provider could not be reached, or its answers were not usable
    /// (`IDPCommunicationError`).
    #[error("{0}")]
    Unreachable(String),
}

/// A parsed, not yet verified, JSON Web Token.
#[derive(Debug)]
pub struct Token {
    alg: String,
    kid: Option<String>,
    /// The claims.
    pub claims: Map<String, Value>,
    signed: String,
    signature: Vec<u8>,
}

fn invalid(message: impl Into<String>) -> TokenError {
    TokenError::Invalid(message.into())
}

fn b64_json(part: &str, what: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| invalid(format!("the token's {what} is not base64url: {e}")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid(format!("the token's {what} is not a JSON object"))),
    }
}

impl Token {
    /// Parses a compact JWS (`header.payload.signature`).
    pub fn parse(token: &str) -> Result<Token, TokenError> {
        if token.len() > MAX_TOKEN {
            return Err(invalid("the token is longer than 20000 characters"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::NotJwt);
        };
        let header = b64_json(h, "header")?;
        // RFC 7515: extensions marked critical must be understood, and none are.
        if header.contains_key("crit") {
            return Err(invalid(
                "the token's header has critical extensions (crit), which are not supported",
            ));
        }
        let claims = b64_json(p, "payload")?;
        let signature = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|e| invalid(format!("the token's signature is not base64url: {e}")))?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
        Ok(Token {
            alg,
            kid,
            claims,
            signed: format!("{h}.{p}"),
            signature,
        })
    }

    /// Whether the token has claim `name`, whatever its value.
    pub fn has(&self, name: &str) -> bool {
        self.claims.contains_key(name)
    }

    /// A string claim.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A numeric date claim (seconds since the epoch).
    pub fn time(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    }

    /// The audiences (`aud` is a string or a list of strings).
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Checks the signature with `keys`, a JWKS's `keys` list.
    fn verify_with(&self, keys: &[Value]) -> Result<(), TokenError> {
        let candidates: Vec<&Value> = keys
            .iter()
            .filter(
                |k| match (&self.kid, k.get("kid").and_then(Value::as_str)) {
                    (Some(want), Some(have)) => want == have,
                    _ => true,
                },
            )
            .filter(|k| {
                k.get("use")
                    .and_then(Value::as_str)
                    .is_none_or(|u| u == "sig")
            })
            .collect();
        if candidates.is_empty() {
            return Err(invalid(format!(
                "the identity provider publishes no key {} for this token",
                self.kid.as_deref().unwrap_or("without an id")
            )));
        }
        let message = self.signed.as_bytes();
        for key in candidates {
            match verify_jwk(key, &self.alg, message, &self.signature) {
                Ok(true) => return Ok(()),
                // A malformed key in the set is not this token's key; the others may be.
                Ok(false) | Err(TokenError::Unreachable(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Err(invalid("the token's signature does not verify"))
    }
}

fn jwk_bytes(key: &Value, member: &str) -> Result<Vec<u8>, TokenError> {
    key.get(member)
        .and_then(Value::as_str)
        .and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
        .ok_or_else(|| {
            TokenError::Unreachable(format!(
                "a key of the identity provider has no valid `{member}`"
            ))
        })
}

/// Whether `signature` is `key`'s signature of `message` under the JWS algorithm `alg`.
pub(crate) fn verify_jwk(
    key: &Value,
    alg: &str,
    message: &[u8],
    sig: &[u8],
) -> Result<bool, TokenError> {
    let kty = key.get("kty").and_then(Value::as_str).unwrap_or_default();
    let rsa: Option<&'static signature::RsaParameters> = match alg {
        "RS256" => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
        "PS256" => Some(&signature::RSA_PSS_2048_8192_SHA256),
        "PS384" => Some(&signature::RSA_PSS_2048_8192_SHA384),
        "PS512" => Some(&signature::RSA_PSS_2048_8192_SHA512),
        _ => None,
    };
    if let Some(params) = rsa {
        if kty != "RSA" {
            return Ok(false);
        }
        let n = jwk_bytes(key, "n")?;
        let e = jwk_bytes(key, "e")?;
        return Ok(RsaPublicKeyComponents { n: &n, e: &e }
            .verify(params, message, sig)
            .is_ok());
    }
    let (ec, crv): (&'static signature::EcdsaVerificationAlgorithm, &str) = match alg {
        "ES256" => (&signature::ECDSA_P256_SHA256_FIXED, "P-256"),
        "ES384" => (&signature::ECDSA_P384_SHA384_FIXED, "P-384"),
        "ES512" => (&signature::ECDSA_P521_SHA512_FIXED, "P-521"),
        other => {
            return Err(invalid(format!(
                "the token's signing algorithm {other:?} is not supported"
            )));
        }
    };
    if kty != "EC" || key.get("crv").and_then(Value::as_str) != Some(crv) {
        return Ok(false);
    }
    let mut point = vec![4u8];
    point.extend(jwk_bytes(key, "x")?);
    point.extend(jwk_bytes(key, "y")?);
    Ok(UnparsedPublicKey::new(ec, point)
        .verify(message, sig)
        .is_ok())
}

/// A JWKS's keys and when they were fetched.
type Fetched = (Instant, Arc<Vec<Value>>);

/// Fetched key sets by issuer and thumbprints.
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, Fetched>>,
    /// The last failed fetch per slot: anyone may send tokens, and each must not make the
    /// server call out to a provider that is down (or made up).
    failures: Mutex<HashMap<String, (Instant, String)>>,
}

impl KeyCache {
    /// Verifies `token`'s signature with the keys of `issuer` (`host[:port][/path]`, without
    /// the scheme), trusting its TLS server by `thumbprints`.
    pub async fn verify(
        &self,
        token: &Token,
        issuer: &str,
        thumbprints: &[String],
    ) -> Result<(), TokenError> {
        // Keys fetched under other thumbprints say nothing about these: an administrator who
        // changes a provider's thumbprints must not be served keys the old ones let in.
        let slot = format!("{issuer} {}", thumbprints.join(","));
        let cached = self.entries.lock().ok().and_then(|m| m.get(&slot).cloned());
        if let Some((at, keys)) = &cached {
            let fresh = at.elapsed() < KEYS_TTL;
            match token.verify_with(keys) {
                Ok(()) if fresh => return Ok(()),
                // A key id the cached set does not hold: the provider may have rotated.
                Err(_) if fresh && at.elapsed() < REFETCH_AFTER => {
                    return token.verify_with(keys);
                }
                _ => {}
            }
        }
        let failed = self
            .failures
            .lock()
            .ok()
            .and_then(|m| m.get(&slot).cloned())
            .filter(|(at, _)| at.elapsed() < RETRY_AFTER);
        if let Some((_, message)) = failed {
            return Err(TokenError::Unreachable(format!(
                "{message} (not retried for {}s)",
                RETRY_AFTER.as_secs()
            )));
        }
        let keys = match fetch_keys(issuer, thumbprints).await {
            Ok(keys) => Arc::new(keys),
            Err(e) => {
                if let Ok(mut m) = self.failures.lock() {
                    m.insert(slot, (Instant::now(), e.to_string()));
                }
                return Err(e);
            }
        };
        if let Ok(mut m) = self.failures.lock() {
            m.remove(&slot);
        }
        if let Ok(mut m) = self.entries.lock() {
            m.insert(slot, (Instant::now(), keys.clone()));
        }
        token.verify_with(&keys)
    }
}

async fn fetch_keys(issuer: &str, thumbprints: &[String]) -> Result<Vec<Value>, TokenError> {
    let discovery = format!("https://{issuer}/.well-known/openid-configuration");
    let doc = get_json(&discovery, thumbprints).await?;
    let jwks_uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| TokenError::Unreachable(format!("{discovery} names no jwks_uri")))?
        .to_owned();
    let jwks = get_json(&jwks_uri, thumbprints).await?;
    match jwks.get("keys") {
        Some(Value::Array(keys)) => Ok(keys.clone()),
        _ => Err(TokenError::Unreachable(format!(
            "{jwks_uri} is not a JSON web key set"
        ))),
    }
}

/// Where a URL points: its parsed form, host, port and TLS server name.
type Target = (http::Uri, String, u16, ServerName<'static>);

fn target(url: &str) -> Result<Target, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("not a valid url: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err("only https:// urls are fetched".to_owned());
    }
    let host = uri
        .host()
        .ok_or_else(|| "no host".to_owned())?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let server_name =
        ServerName::try_from(host.clone()).map_err(|e| format!("bad host name {host:?}: {e}"))?;
    Ok((uri, host, port, server_name))
}

/// A TLS connection to `host:port` whose certificate `verifier` accepted.
async fn connect(
    host: &str,
    port: u16,
    server_name: ServerName<'static>,
    verifier: Arc<dyn ServerCertVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))
}

/// What IAM records when a provider is created without thumbprints: the thumbprint of the top
/// certificate the issuer's server presents (its top intermediate CA, or a self-signed leaf).
/// The certificates are only read, and nothing is sent over the connection.
pub async fn fetch_thumbprint(issuer: &str) -> Result<String, String> {
    let url = format!("https://{issuer}");
    let (_, host, port, server_name) = target(&url)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(Pinned {
        thumbprints: None,
        provider: provider.clone(),
    });
    let tls = tokio::time::timeout(
        FETCH_TIMEOUT,
        connect(&host, port, server_name, verifier, provider),
    )
    .await
    .map_err(|_| format!("{url} did not answer within {}s", FETCH_TIMEOUT.as_secs()))??;
    let top = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.last())
        .ok_or_else(|| format!("{url} presented no certificate"))?;
    Ok(thumbprint(top))
}

/// GETs a JSON document over TLS from a server trusted by thumbprint.
async fn get_json(url: &str, thumbprints: &[String]) -> Result<Value, TokenError> {
    let unreachable = |e: String| TokenError::Unreachable(format!("fetching {url}: {e}"));
    let (uri, host, port, server_name) = target(url).map_err(unreachable)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(Pinned {
        thumbprints: Some(thumbprints.to_vec()),
        provider: provider.clone(),
    });
    let fetch = async {
        let tls = connect(&host, port, server_name, verifier, provider)
            .await
            .map_err(unreachable)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| unreachable(e.to_string()))?;
        let _driver = AbortOnDrop(tokio::spawn(conn));
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let authority = uri.authority().map_or(host.as_str(), |a| a.as_str());
        let request = http::Request::get(path)
            .header(http::header::HOST, authority)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, "palisade-sts")
            .body(Empty::<bytes::Bytes>::new())
            .map_err(|e| unreachable(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unreachable(format!("status {}", response.status())));
        }
        let body = Limited::new(response.into_body(), MAX_DOCUMENT)
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| unreachable(format!("not JSON: {e}")))
    };
    tokio::time::timeout(FETCH_TIMEOUT, fetch)
        .await
        .map_err(|_| unreachable(format!("no answer within {}s", FETCH_TIMEOUT.as_secs())))?
}

/// Stops the connection task however the fetch ends (an error, or the timeout dropping it).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Trusts a server whose leaf certificate is pinned by one of the provider's thumbprints, or
/// chains to a CA certificate that is; the leaf must name the host, and the handshake's
/// signatures are verified as usual. Without thumbprints it accepts any certificate: that is
/// only for reading a server's certificates ([`fetch_thumbprint`]), never for fetching data.
#[derive(Debug)]
struct Pinned {
    thumbprints: Option<Vec<String>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

/// IAM's thumbprint of a certificate: its SHA-1 fingerprint in hex.
fn thumbprint(cert: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        cert,
    ))
}

impl Pinned {
    fn pins(&self, cert: &CertificateDer<'_>) -> bool {
        let t = thumbprint(cert);
        self.thumbprints
            .iter()
            .flatten()
            .any(|p| p.eq_ignore_ascii_case(&t))
    }
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.thumbprints.is_none() {
            return Ok(ServerCertVerified::assertion());
        }
        // A pinned leaf (a self-signed certificate, as IAM documents) is trusted as it is.
        if self.pins(end_entity) {
            let leaf = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&leaf, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        // Otherwise the leaf must chain, validly and for this host, to a pinned CA the server
        // sent. A pinned certificate merely sent alongside proves nothing: CA certificates are
        // public, and an impostor could send the real one next to its own leaf.
        let mut roots = rustls::RootCertStore::empty();
        for c in intermediates.iter().filter(|c| self.pins(c)) {
            roots.add(c.clone().into_owned())?;
        }
        if roots.is_empty() {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        }
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            self.provider.clone(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?
        .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair};

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn es256_token(claims: &Value) -> (String, Value) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .unwrap();
        let signed = format!(
            "{}.{}",
            b64(&serde_json::json!({"alg": "ES256", "kid": "k1"})),
            b64(claims)
        );
        let sig = pair.sign(&rng, signed.as_bytes()).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        (
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())),
            jwk,
        )
    }

    #[test]
    fn a_signed_token_verifies_and_a_changed_one_does_not() {
        let (token, jwk) = es256_token(&serde_json::json!({"iss": "https://idp", "sub": "x"}));
        let t = Token::parse(&token).unwrap();
        assert_eq!(t.str("sub"), Some("x"));
        t.verify_with(std::slice::from_ref(&jwk)).unwrap();

        // Another subject with the same signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = b64(&serde_json::json!({"iss": "https://idp", "sub": "admin"}));
        parts[1] = &forged;
        let t = Token::parse(&parts.join(".")).unwrap();
        assert!(matches!(t.verify_with(&[jwk]), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn unsigned_tokens_and_unknown_key_ids_are_refused() {
        let (token, mut jwk) = es256_token(&serde_json::json!({"sub": "x"}));
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none"})),
            token.split('.').nth(1).unwrap()
        );
        let t = Token::parse(&none).unwrap();
        assert!(t.verify_with(std::slice::from_ref(&jwk)).is_err());
        jwk["kid"] = "other".into();
        let t = Token::parse(&token).unwrap();
        let e = t.verify_with(&[jwk]).unwrap_err().to_string();
        assert!(e.contains("no key k1"), "{e}");
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong() {
        for (token, want) in [
            ("abc", "not a valid JWT"),
            ("a.b.c.d", "not a valid JWT"),
            ("!!.e30.", "header is not base64url"),
            ("e30.WzFd.", "payload is not a JSON object"),
        ] {
            let e = Token::parse(token).unwrap_err().to_string();
            assert!(e.contains(want), "{token}: {e}");
        }
    }

    #[test]
    fn audiences_are_a_string_or_a_list() {
        let t = Token {
            alg: String::new(),
            kid: None,
            claims: serde_json::from_value(serde_json::json!({"aud": ["a", "b"]})).unwrap(),
            signed: String::new(),
            signature: Vec::new(),
        };
        assert_eq!(t.audiences(), ["a", "b"]);
    }
}
