//! A minimal KMS client for Palisade's `palisade serve` (or any AWS-compatible KMS):
//! `GenerateDataKey` and `Decrypt` over HTTP/1.1, awsJson1_1, signed with SigV4 by
//! `palisade-sigv4`. It is blocking and dependency-free on purpose: masking calls KMS a
//! handful of times per run (once per key), never per value.
//!
//! `https://` endpoints are verified against a CA bundle (`--kms-ca-bundle` or
//! `AWS_CA_BUNDLE`, e.g. the certificate `palisade serve --tls-self-signed` writes); there is
//! no built-in root store.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::error::MaskError;
use crate::keys::{EncryptionContext, Kms};

/// Credentials for signing.
#[derive(Clone)]
pub struct Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches logs.
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The KMS client.
#[derive(Debug, Clone)]
pub struct KmsClient {
    authority: String,
    host: String,
    path: String,
    region: String,
    credentials: Credentials,
    https: bool,
    tls: Option<Arc<rustls::ClientConfig>>,
}

const LIMIT: usize = 1 << 20;

/// The User-Agent of KMS requests.
pub const USER_AGENT: &str = concat!("palisade-mask/", env!("CARGO_PKG_VERSION"));

/// The region to sign KMS requests for, as the AWS SDKs find it: `given` (`--region` or
/// `AWS_REGION`), else `AWS_DEFAULT_REGION`, else the `region` of the profile `AWS_PROFILE`
/// (`default`) in the shared config file (`AWS_CONFIG_FILE`, `~/.aws/config`), else
/// `us-east-1`.
pub fn resolve_region(given: Option<&str>) -> String {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    if let Some(r) = given.filter(|r| !r.trim().is_empty()) {
        return r.trim().to_owned();
    }
    if let Some(r) = var("AWS_DEFAULT_REGION") {
        return r.trim().to_owned();
    }
    let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
    var("AWS_CONFIG_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| var("HOME").map(|h| Path::new(&h).join(".aws/config")))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| profile_region(&text, &profile))
        .unwrap_or_else(|| "us-east-1".to_owned())
}

/// The `region` of `profile` in a shared config file, whose sections are `[default]` and
/// `[profile NAME]`.
fn profile_region(text: &str, profile: &str) -> Option<String> {
    let mut in_profile = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let section = section.trim();
            let name = section.strip_prefix("profile ").map_or(section, str::trim);
            in_profile = name == profile;
            continue;
        }
        if in_profile
            && let Some((name, value)) = line.split_once('=')
            && name.trim() == "region"
        {
            return Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        }
    }
    None
}

impl KmsClient {
    /// A client for `endpoint` (`http://host[:port][/path]` or `https://…`; an https client
    /// also needs [`KmsClient::with_ca_bundle`]).
    pub fn new(endpoint: &str, region: &str, credentials: Credentials) -> Result<Self, MaskError> {
        let err = |m: &str| MaskError::Kms {
            operation: "endpoint",
            message: format!("{endpoint:?}: {m}"),
        };
        let (https, rest) = if let Some(r) = endpoint.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = endpoint.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(err("must start with http:// or https://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (rest.get(..i).unwrap_or(rest), rest.get(i..).unwrap_or("/")),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(err("has no host"));
        }
        let (host, port) = match authority.strip_prefix('[') {
            // [v6-address]:port
            Some(v6) => match v6.split_once(']') {
                Some((h, rest)) => (h, rest.strip_prefix(':')),
                None => return Err(err("has an unclosed [")),
            },
            None => match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        let port = port.unwrap_or(if https { "443" } else { "80" });
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("has a bad port"));
        }
        let host = host.to_owned();
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Self {
            authority,
            host,
            path: path.to_owned(),
            region: region.to_owned(),
            credentials,
            https,
            tls: None,
        })
    }

    /// Trusts the PEM certificates in `path` for https endpoints.
    pub fn with_ca_bundle(mut self, path: &Path) -> Result<Self, MaskError> {
        let err = |m: String| MaskError::Kms {
            operation: "tls",
            message: m,
        };
        let pem = std::fs::read(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| err(format!("{}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| err(format!("{}: {e}", path.display())))?;
        }
        if roots.is_empty() {
            return Err(err(format!("{} has no certificate", path.display())));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        self.tls = Some(Arc::new(config));
        Ok(self)
    }

    /// A client with credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN`, or else, as the AWS SDKs look for them, from the profile
    /// `AWS_PROFILE` (`default`) of the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`,
    /// `~/.aws/credentials`).
    pub fn from_env(endpoint: &str, region: &str) -> Result<Self, MaskError> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => Credentials {
                access_key_id,
                secret_access_key,
                session_token: var("AWS_SESSION_TOKEN"),
            },
            _ => {
                let path = var("AWS_SHARED_CREDENTIALS_FILE")
                    .map(std::path::PathBuf::from)
                    .or_else(|| var("HOME").map(|h| Path::new(&h).join(".aws/credentials")));
                let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
                path.and_then(|p| std::fs::read_to_string(p).ok())
                    .and_then(|text| profile_credentials(&text, &profile))
                    .ok_or_else(|| MaskError::Kms {
                        operation: "credentials",
                        message: format!(
                            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE to a \
                             profile of the shared credentials file (profile {profile:?} has no keys)"
                        ),
                    })?
            }
        };
        let client = Self::new(endpoint, region, credentials)?;
        match var("AWS_CA_BUNDLE") {
            Some(ca) if client.https => client.with_ca_bundle(Path::new(&ca)),
            _ => Ok(client),
        }
    }

    fn call(&self, operation: &'static str, body: &Value) -> Result<Value, MaskError> {
        let err = |message: String| MaskError::Kms { operation, message };
        let body = serde_json::to_vec(body).map_err(|e| err(e.to_string()))?;
        let target = format!("TrentService.{operation}");
        let host = self
            .authority
            .strip_suffix(":80")
            .unwrap_or(&self.authority);
        let headers = [
            ("host", host),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let request = palisade_sigv4::Request {
            method: "POST",
            path: &self.path,
            query: "",
            headers: &headers,
        };
        let params = palisade_sigv4::SigningParams {
            access_key_id: &self.credentials.access_key_id,
            secret_access_key: &self.credentials.secret_access_key,
            security_token: self.credentials.session_token.as_deref(),
            region: &self.region,
            service: "kms",
            time: time::OffsetDateTime::now_utc(),
            canonicalization: palisade_sigv4::Canonicalization::AWS,
            content_sha256_header: false,
        };
        let signed =
            palisade_sigv4::sign(&request, &body, &params).map_err(|e| err(e.to_string()))?;
        let mut head = format!("POST {} HTTP/1.1\r\n", self.path);
        for (n, v) in headers.iter().copied().chain(signed.headers()) {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        // CloudTrail's userAgent (and `aws:UserAgent` in policies) says which tool called.
        head.push_str(&format!("user-agent: {USER_AGENT}\r\n"));
        head.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        ));

        let tls = match (&self.tls, self.https) {
            (_, false) => None,
            (Some(config), true) => Some(Arc::clone(config)),
            (None, true) => {
                return Err(err(
                    "https endpoints need a ca bundle (--kms-ca-bundle or AWS_CA_BUNDLE)".into(),
                ));
            }
        };
        let stream = TcpStream::connect(&self.authority)
            .map_err(|e| err(format!("cannot connect to {}: {e}", self.authority)))?;
        let timeout = Some(Duration::from_secs(30));
        stream
            .set_read_timeout(timeout)
            .map_err(|e| err(e.to_string()))?;
        stream
            .set_write_timeout(timeout)
            .map_err(|e| err(e.to_string()))?;
        let raw = if let Some(config) = tls {
            let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                .map_err(|e| err(format!("server name {:?}: {e}", self.host)))?;
            let conn =
                rustls::ClientConnection::new(config, name).map_err(|e| err(e.to_string()))?;
            exchange(
                rustls::StreamOwned::new(conn, stream),
                head.as_bytes(),
                &body,
            )
        } else {
            exchange(stream, head.as_bytes(), &body)
        }
        .map_err(|e| err(e.to_string()))?;
        let (status, resp) = parse_response(&raw).map_err(err)?;
        let json: Value = serde_json::from_slice(&resp).unwrap_or(Value::Null);
        if status != 200 {
            let ty = json
                .get("__type")
                .and_then(Value::as_str)
                .unwrap_or("error");
            let ty = ty.rsplit('#').next().unwrap_or(ty);
            let msg = json
                .get("message")
                .or_else(|| json.get("Message"))
                .and_then(Value::as_str)
                .unwrap_or("");
            // KMS says nothing more of a blob that does not open, and an empty message left
            // the user guessing which of the two inputs was wrong.
            let hint = if ty == "InvalidCiphertextException" {
                " (the ciphertext_blob does not open: check that it is the CiphertextBlob \
                 GenerateDataKey returned, unchanged, and that encryption_context is the one it \
                 was generated with)"
            } else {
                ""
            };
            return Err(err(format!("http {status}: {ty}: {msg}{hint}")));
        }
        Ok(json)
    }
}

fn b64_field(v: &Value, name: &str, operation: &'static str) -> Result<Vec<u8>, MaskError> {
    let s = v
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| MaskError::Kms {
            operation,
            message: format!("response has no {name}"),
        })?;
    B64.decode(s).map_err(|e| MaskError::Kms {
        operation,
        message: format!("{name}: {e}"),
    })
}

/// Adds `EncryptionContext` to a request when there is one (KMS refuses an empty map no more
/// than it needs one, but an absent member keeps requests as they were).
fn with_context(mut req: Value, context: &EncryptionContext) -> Value {
    if !context.is_empty()
        && let Some(o) = req.as_object_mut()
    {
        o.insert("EncryptionContext".into(), json!(context));
    }
    req
}

impl Kms for KmsClient {
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<(Vec<u8>, Vec<u8>), MaskError> {
        let op = "GenerateDataKey";
        let req = with_context(json!({"KeyId": key_id, "KeySpec": "AES_256"}), context);
        let r = self.call(op, &req)?;
        Ok((
            b64_field(&r, "Plaintext", op)?,
            b64_field(&r, "CiphertextBlob", op)?,
        ))
    }

    fn decrypt(
        &self,
        key_id: Option<&str>,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, MaskError> {
        let op = "Decrypt";
        let mut req = with_context(json!({"CiphertextBlob": B64.encode(blob)}), context);
        if let (Some(k), Some(o)) = (key_id, req.as_object_mut()) {
            o.insert("KeyId".into(), Value::String(k.to_owned()));
        }
        let r = self.call(op, &req)?;
        b64_field(&r, "Plaintext", op)
    }
}

/// Sends the request and reads the response to the end of the connection.
fn exchange(mut s: impl Read + Write, head: &[u8], body: &[u8]) -> std::io::Result<Vec<u8>> {
    s.write_all(head)?;
    s.write_all(body)?;
    s.flush()?;
    let mut raw = Vec::new();
    match s.take(LIMIT as u64).read_to_end(&mut raw) {
        Ok(_) => Ok(raw),
        // Servers often close TLS without close_notify once the response is complete.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && parse_response(&raw).is_ok() => {
            Ok(raw)
        }
        Err(e) => Err(e),
    }
}

/// Status and body of an HTTP/1.1 response read to the end (content-length or chunked).
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("truncated http response")?;
    let head = std::str::from_utf8(raw.get(..split).unwrap_or(&[])).map_err(|_| "bad http head")?;
    let body = raw.get(split + 4..).unwrap_or(&[]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("bad http status line")?;
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        if let Some((n, v)) = l.split_once(':') {
            let v = v.trim();
            if n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if n.eq_ignore_ascii_case("content-length") {
                length = v.parse::<usize>().ok();
            }
        }
    }
    if chunked {
        let mut out = Vec::new();
        let mut rest = body;
        loop {
            let eol = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("bad chunk")?;
            let size_text =
                std::str::from_utf8(rest.get(..eol).unwrap_or(&[])).map_err(|_| "bad chunk")?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| "bad chunk size")?;
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(eol + 2..eol + 2 + size).ok_or("truncated chunk")?);
            rest = rest.get(eol + 4 + size..).ok_or("truncated chunk")?;
        }
        return Ok((status, out));
    }
    let body = match length {
        Some(n) => body.get(..n).ok_or("truncated http body")?,
        None => body,
    };
    Ok((status, body.to_vec()))
}

/// The keys of `profile` in a shared credentials file (INI: `[profile]` sections of
/// `name = value` lines, `#` and `;` comments).
fn profile_credentials(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = section.trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((name, value)) = line.split_once('=') {
            let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
            match name.trim() {
                "aws_access_key_id" => id = value,
                "aws_secret_access_key" => secret = value,
                "aws_session_token" => token = value,
                _ => {}
            }
        }
    }
    Some(Credentials {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_read_from_the_named_profile_of_a_credentials_file() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n\
                    # the server's\n[palisade]\naws_access_key_id=C\naws_secret_access_key = D\n";
        let c = profile_credentials(text, "palisade").unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.as_str()),
            ("C", "D")
        );
        assert_eq!(
            profile_credentials(text, "default").unwrap().access_key_id,
            "A"
        );
        assert!(profile_credentials(text, "missing").is_none());
    }

    use super::*;

    /// Review defect 11: only AWS_REGION was read; the profile's region in the config file
    /// (and AWS_DEFAULT_REGION, which `resolve_region` reads before it) was ignored.
    #[test]
    fn defect_11_region_comes_from_the_profile_of_the_config_file() {
        let text = "[default]\nregion = eu-west-1\n\n[profile palisade]\noutput = json\nregion=ap-south-1\n";
        assert_eq!(
            profile_region(text, "default").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            profile_region(text, "palisade").as_deref(),
            Some("ap-south-1")
        );
        assert_eq!(profile_region(text, "other"), None);
        assert_eq!(resolve_region(Some("us-west-2")), "us-west-2");
    }

    #[test]
    fn parses_responses() {
        let (s, b) = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((s, b.as_slice()), (200, b"{}".as_slice()));
        let (s, b) =
            parse_response(b"HTTP/1.1 400 Bad\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!((s, b.as_slice()), (400, b"abcde".as_slice()));
        assert!(parse_response(b"HTTP/1.1 200").is_err());
    }

    #[test]
    fn endpoints() {
        let c = Credentials {
            access_key_id: "a".into(),
            secret_access_key: "s".into(),
            session_token: None,
        };
        let k = KmsClient::new("https://kms.example:8443/", "us-east-1", c.clone()).unwrap();
        assert_eq!(
            (k.authority.as_str(), k.host.as_str(), k.https),
            ("kms.example:8443", "kms.example", true)
        );
        let k = KmsClient::new("https://kms.example", "us-east-1", c.clone()).unwrap();
        assert_eq!(k.authority, "kms.example:443");
        assert!(KmsClient::new("ftp://x", "us-east-1", c.clone()).is_err());
        let k = KmsClient::new("http://127.0.0.1:4566", "us-east-1", c.clone()).unwrap();
        assert_eq!(
            (k.authority.as_str(), k.path.as_str()),
            ("127.0.0.1:4566", "/")
        );
        let k = KmsClient::new("http://[::1]:4566", "us-east-1", c.clone()).unwrap();
        assert_eq!(
            (k.authority.as_str(), k.host.as_str()),
            ("[::1]:4566", "::1")
        );
        assert!(KmsClient::new("http://h:x", "us-east-1", c.clone()).is_err());
        let k = KmsClient::new("http://localhost/kms", "us-east-1", c).unwrap();
        assert_eq!(
            (k.authority.as_str(), k.path.as_str()),
            ("localhost:80", "/kms")
        );
    }
}
