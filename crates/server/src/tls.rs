//! TLS through rustls with the aws-lc-rs provider.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsMode;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The certificate file holds no certificate, or the key file no private key.
    #[error("{path} holds no {what} in PEM form")]
    Empty {
        /// The file.
        path: String,
        /// `certificate` or `private key`.
        what: &'static str,
    },
    /// rustls refused the certificate or key.
    #[error("invalid certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
    /// Generating the self-signed certificate failed.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Builds the rustls configuration for the mode, or `None` for plain HTTP. A self-signed
/// certificate is written to `<data_dir>/tls/cert.pem` so that clients can be told to trust it
/// (`aws --ca-bundle`, `AWS_CA_BUNDLE`).
pub fn server_config(
    mode: &TlsMode,
    data_dir: &Path,
    sealer: &palisade_seal::Sealer,
) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    match mode {
        TlsMode::SelfSigned => {
            let (certs, key) = self_signed(data_dir, sealer)?;
            with_cert(certs, key).map(Some)
        }
        other => given_config(other),
    }
}

/// The configuration of TLS from given certificate and key files (`None` without TLS): it
/// needs nothing of the data directory, so a server checks it before it creates anything
/// there (bug: a certificate and key that did not match failed the start after the KEK, the
/// store and the event log had been created).
pub fn given_config(mode: &TlsMode) -> Result<Option<Arc<ServerConfig>>, TlsError> {
    let (certs, key) = match mode {
        TlsMode::Off | TlsMode::SelfSigned => return Ok(None),
        TlsMode::Files { cert, key } => {
            let cert_pem = read(cert)?;
            let certs: Vec<CertificateDer<'static>> =
                rustls_pemfile::certs(&mut cert_pem.as_slice())
                    .collect::<Result<_, _>>()
                    .map_err(|source| TlsError::Read {
                        path: cert.display().to_string(),
                        source,
                    })?;
            if certs.is_empty() {
                return Err(TlsError::Empty {
                    path: cert.display().to_string(),
                    what: "certificate",
                });
            }
            warn_if_not_valid_now(&certs, cert);
            let key_pem = read(key)?;
            let private = rustls_pemfile::private_key(&mut key_pem.as_slice())
                .map_err(|source| TlsError::Read {
                    path: key.display().to_string(),
                    source,
                })?
                .ok_or_else(|| TlsError::Empty {
                    path: key.display().to_string(),
                    what: "private key",
                })?;
            (certs, private)
        }
    };
    with_cert(certs, key).map(Some)
}

/// A certificate outside its validity period starts the server, as other servers do, but every
/// client then refuses it with an error that names neither the server nor the file: say so at
/// start (bug: an expired certificate was taken in silence).
fn warn_if_not_valid_now(certs: &[CertificateDer<'static>], path: &Path) {
    let Some(Ok((_, parsed))) = certs
        .first()
        .map(|c| x509_parser::parse_x509_certificate(c.as_ref()))
    else {
        return;
    };
    let validity = parsed.validity();
    if !validity.is_valid() {
        tracing::warn!(
            path = %path.display(),
            not_before = %validity.not_before,
            not_after = %validity.not_after,
            "the tls certificate is not valid now: clients will refuse it"
        );
    }
}

fn with_cert(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The record id the self-signed certificate's private key is sealed under.
const SELF_SIGNED_KEY: &str = "tls:self-signed";

/// The self-signed certificate of `<data-dir>/tls/cert.pem`, made on the first start and kept:
/// clients told to trust it (`AWS_CA_BUNDLE`) keep working across restarts. Its private key is
/// kept sealed under the KEK (`tls/key.sealed`), never in plaintext.
fn self_signed(
    data_dir: &Path,
    sealer: &palisade_seal::Sealer,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.sealed");
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| TlsError::Read { path, source }
    };
    if cert_path.exists() && key_path.exists() {
        let cert_pem = read(&cert_path)?;
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
            .collect::<Result<_, _>>()
            .map_err(io(&cert_path))?;
        let der = sealer
            .open(
                palisade_seal::Purpose::KeyMaterial,
                SELF_SIGNED_KEY,
                &read(&key_path)?,
            )
            .map_err(|e| TlsError::Generate(format!("{}: {e}", key_path.display())))?;
        let key = PrivateKeyDer::try_from(der).map_err(|e| TlsError::Generate(e.to_owned()))?;
        if !certs.is_empty() {
            return Ok((certs, key));
        }
    }
    let generated = rcgen::generate_simple_self_signed(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(|e| TlsError::Generate(e.to_string()))?;
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let der = generated.signing_key.serialize_der();
    let sealed = sealer
        .seal(palisade_seal::Purpose::KeyMaterial, SELF_SIGNED_KEY, &der)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    palisade_seal::write_private(&key_path, &sealed).map_err(io(&key_path))?;
    std::fs::write(&cert_path, generated.cert.pem()).map_err(io(&cert_path))?;
    let key = PrivateKeyDer::try_from(der).map_err(|e| TlsError::Generate(e.to_owned()))?;
    Ok((vec![generated.cert.der().clone()], key))
}
