//! Server certificates: uploaded, listed and deleted; their private keys are checked and not
//! kept (see [`ServerCertificateRecord`]).

use http::StatusCode;
use palisade_store::ServerCertificateRecord;
use rustls_pemfile::Item;
use serde_json::{Value, json};

use super::{
    Cx, Entity, already_exists, check_tags, limit_exceeded, no_such_entity, now, page_by, paged,
    path, req, s, tags, tags_json,
};
use crate::error::ApiError;
use crate::identity::new_unique_id;

/// AWS's quota of server certificates per account.
pub(super) const MAX_CERTS: usize = 20;

fn no_such_cert(name: &str) -> ApiError {
    no_such_entity(format!(
        "The Server Certificate with name {name} cannot be found."
    ))
}

/// AWS's answer to a certificate body it cannot read.
pub(super) fn malformed_certificate() -> ApiError {
    ApiError::new(
        "MalformedCertificate",
        "Unable to parse certificate. Please ensure the certificate is in PEM format.",
        StatusCode::BAD_REQUEST,
    )
}

fn malformed_private_key() -> ApiError {
    ApiError::new(
        "MalformedCertificate",
        "Unable to parse the private key. Please ensure it is in PEM format.",
        StatusCode::BAD_REQUEST,
    )
}

/// AWS's answer to a `CertificateChain` whose certificate at `index` (-1 when none could be
/// read) does not sign the one before it, the body first.
fn invalid_chain(index: i64) -> ApiError {
    ApiError::new(
        "MalformedCertificate",
        format!(
            "Unable to validate certificate chain. The certificate chain must start with the \
             immediate signing certificate, followed by any intermediaries in order. The index \
             within the chain of the invalid certificate is: {index}"
        ),
        StatusCode::BAD_REQUEST,
    )
}

/// One DER element: (tag, contents, rest).
pub(super) fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = rest.get(..n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest.get(n..)?)
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// One DER element of the expected `tag`: (contents, the whole element, rest).
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8], &[u8])> {
    let (t, contents, rest) = der(input)?;
    let whole = input.get(..input.len().checked_sub(rest.len())?)?;
    (t == tag).then_some((contents, whole, rest))
}

/// A DER element: `tag`, its length and `contents`.
pub(super) fn der_encode(tag: u8, contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | u8::try_from(bytes.len()).unwrap_or(0));
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// A non-negative big-endian integer without its leading zero bytes.
pub(super) fn unsigned(n: &[u8]) -> &[u8] {
    let start = n.iter().position(|&b| b != 0).unwrap_or(n.len());
    n.get(start..).unwrap_or_default()
}

/// A non-negative big-endian integer in the two's-complement form of a DER INTEGER's contents
/// (and an SSH `mpint`): minimal, with a zero byte before a high bit.
pub(super) fn twos_complement(n: &[u8]) -> Vec<u8> {
    let n = unsigned(n);
    let mut out = Vec::with_capacity(n.len() + 1);
    if n.first().is_some_and(|&b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(n);
    out
}

/// An RSAPublicKey (PKCS#1) in DER.
pub(super) fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut seq = der_encode(0x02, &twos_complement(n));
    seq.extend(der_encode(0x02, &twos_complement(e)));
    der_encode(0x30, &seq)
}

/// The modulus and exponent of an RSAPublicKey in DER, without leading zeros.
pub(super) fn parse_rsa_public_key(der_key: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (seq, _, _) = element(der_key, 0x30)?;
    let (n, _, rest) = element(seq, 0x02)?;
    let (e, _, rest) = element(rest, 0x02)?;
    let (n, e) = (unsigned(n), unsigned(e));
    (rest.is_empty() && !n.is_empty() && !e.is_empty()).then(|| (n.to_vec(), e.to_vec()))
}

fn digits(s: &[u8]) -> Option<i64> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// A UTCTime (0x17) or GeneralizedTime (0x18) as epoch seconds.
fn der_time(tag: u8, v: &[u8]) -> Option<i64> {
    let (year, rest) = match tag {
        0x17 => {
            let yy = digits(v.get(..2)?)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, v.get(2..)?)
        }
        0x18 => (digits(v.get(..4)?)?, v.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| rest.get(i..i + 2).and_then(digits);
    let month = time::Month::try_from(u8::try_from(field(0)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(year).ok()?,
        month,
        u8::try_from(field(2)?).ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(field(4)?).ok()?,
        u8::try_from(field(6)?).ok()?,
        u8::try_from(field(8)?).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

pub(super) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// The parts of an X.509 certificate in DER that IAM's checks read.
pub(super) struct Cert<'a> {
    /// The whole TBSCertificate, as signed.
    tbs: &'a [u8],
    /// The signature algorithm's OID (its contents).
    signature_algorithm: &'a [u8],
    /// The signature (the BIT STRING's bits).
    signature: &'a [u8],
    /// The issuer and subject Names, whole.
    issuer: &'a [u8],
    subject: &'a [u8],
    pub(super) not_before: i64,
    pub(super) not_after: i64,
    /// The subject public key's algorithm OID and, for EC keys, the curve's OID.
    key_algorithm: &'a [u8],
    key_curve: Option<&'a [u8]>,
    /// The subject public key: an RSAPublicKey in DER, or an EC point.
    public_key: &'a [u8],
}

/// Parses a DER certificate; `None` unless it is one.
pub(super) fn parse_cert(input: &[u8]) -> Option<Cert<'_>> {
    let (cert, _, trailing) = element(input, 0x30)?;
    if !trailing.is_empty() {
        return None;
    }
    let (tbs_contents, tbs, rest) = element(cert, 0x30)?;
    let (alg, _, rest) = element(rest, 0x30)?;
    let (signature_algorithm, _, _) = element(alg, 0x06)?;
    let (bits, _, _) = element(rest, 0x03)?;
    let signature = bits.strip_prefix(&[0])?;

    let mut rest = tbs_contents;
    if let Some((_, _, after)) = element(rest, 0xa0) {
        rest = after; // the explicit version
    }
    let (_, _, rest) = element(rest, 0x02)?; // serial number
    let (_, _, rest) = element(rest, 0x30)?; // signature algorithm
    let (_, issuer, rest) = element(rest, 0x30)?;
    let (validity, _, rest) = element(rest, 0x30)?;
    let (_, subject, rest) = element(rest, 0x30)?;
    let (spki, _, _) = element(rest, 0x30)?;

    let (tag, v, after) = der(validity)?;
    let not_before = der_time(tag, v)?;
    let (tag, v, _) = der(after)?;
    let not_after = der_time(tag, v)?;

    let (key_alg, _, key_rest) = element(spki, 0x30)?;
    let (key_algorithm, _, params) = element(key_alg, 0x06)?;
    let key_curve = element(params, 0x06).map(|(oid, _, _)| oid);
    let (bits, _, _) = element(key_rest, 0x03)?;
    let public_key = bits.strip_prefix(&[0])?;
    Some(Cert {
        tbs,
        signature_algorithm,
        signature,
        issuer,
        subject,
        not_before,
        not_after,
        key_algorithm,
        key_curve,
        public_key,
    })
}

/// The DER of each PEM certificate of `pem`, in order; `Err(index)` at the first block that is
/// not one.
pub(super) fn pem_certs(pem: &str) -> Result<Vec<Vec<u8>>, i64> {
    let mut out = Vec::new();
    for item in rustls_pemfile::certs(&mut pem.as_bytes()) {
        let index = i64::try_from(out.len()).unwrap_or(i64::MAX);
        match item {
            Ok(c) if parse_cert(c.as_ref()).is_some() => out.push(c.as_ref().to_vec()),
            _ => return Err(index),
        }
    }
    Ok(out)
}

/// The notAfter of a DER certificate.
#[cfg(test)]
fn not_after(cert: &[u8]) -> Option<i64> {
    parse_cert(cert).map(|c| c.not_after)
}

/// Whether `issuer`'s key verifies `cert`'s signature: `None` when the algorithm is one this
/// check does not know.
fn verifies(issuer: &Cert<'_>, cert: &Cert<'_>) -> Option<bool> {
    use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
    const RSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
    const RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    const RSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    const RSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    const ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
    const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
    let alg: &'static dyn VerificationAlgorithm = if issuer.key_algorithm == OID_RSA {
        let bits =
            parse_rsa_public_key(issuer.public_key).map_or(0, |(n, _)| n.len().saturating_mul(8));
        match cert.signature_algorithm {
            RSA_SHA1 => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            RSA_SHA256 => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            RSA_SHA384 if bits >= 2048 => &signature::RSA_PKCS1_2048_8192_SHA384,
            RSA_SHA512 => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
            _ => return None,
        }
    } else if issuer.key_algorithm == OID_EC {
        match (issuer.key_curve?, cert.signature_algorithm) {
            (P256, ECDSA_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
            (P256, ECDSA_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
            (P256, ECDSA_SHA512) => &signature::ECDSA_P256_SHA512_ASN1,
            (P384, ECDSA_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
            (P384, ECDSA_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
            (P384, ECDSA_SHA512) => &signature::ECDSA_P384_SHA512_ASN1,
            (P521, ECDSA_SHA256) => &signature::ECDSA_P521_SHA256_ASN1,
            (P521, ECDSA_SHA384) => &signature::ECDSA_P521_SHA384_ASN1,
            (P521, ECDSA_SHA512) => &signature::ECDSA_P521_SHA512_ASN1,
            _ => return None,
        }
    } else {
        return None;
    };
    Some(
        UnparsedPublicKey::new(alg, issuer.public_key)
            .verify(cert.tbs, cert.signature)
            .is_ok(),
    )
}

/// Whether `issuer` issued `cert`: its subject is `cert`'s issuer, and its key verifies `cert`'s
/// signature. A signature [`verifies`] cannot check does not vouch (bug: it passed, so any
/// made-up algorithm identifier let a chain through on matching names alone).
fn issued(issuer: &Cert<'_>, cert: &Cert<'_>) -> bool {
    issuer.subject == cert.issuer && verifies(issuer, cert) == Some(true)
}

/// Chains longer than this are refused before any signature is checked: real chains hold two
/// or three certificates, and each link costs a signature verification on a request worker.
const MAX_CHAIN: usize = 16;

/// Checks a `CertificateChain`: PEM certificates, the first the body's issuer, each next one the
/// issuer of the one before.
fn check_chain(body: &Cert<'_>, chain: &str) -> Result<(), ApiError> {
    let ders = pem_certs(chain).map_err(invalid_chain)?;
    if ders.is_empty() {
        return Err(invalid_chain(-1));
    }
    if ders.len() > MAX_CHAIN {
        return Err(invalid_chain(i64::try_from(MAX_CHAIN).unwrap_or(i64::MAX)));
    }
    let mut previous = None;
    for (i, der_cert) in ders.iter().enumerate() {
        let index = i64::try_from(i).unwrap_or(i64::MAX);
        let cert = parse_cert(der_cert).ok_or_else(|| invalid_chain(index))?;
        if !issued(&cert, previous.as_ref().unwrap_or(body)) {
            return Err(invalid_chain(index));
        }
        previous = Some(cert);
    }
    Ok(())
}

/// A public key in a form that compares: an RSA key's modulus and exponent, or an EC point.
#[derive(Debug, PartialEq, Eq)]
enum PublicKey {
    Rsa(Vec<u8>, Vec<u8>),
    Ec(Vec<u8>),
}

/// The certificate's subject public key.
fn subject_public_key(cert: &Cert<'_>) -> Option<PublicKey> {
    if cert.key_algorithm == OID_RSA {
        parse_rsa_public_key(cert.public_key).map(|(n, e)| PublicKey::Rsa(n, e))
    } else {
        Some(PublicKey::Ec(cert.public_key.to_vec()))
    }
}

/// The modulus and exponent of an RSAPrivateKey (PKCS#1) in DER:
/// SEQUENCE { version, modulus, publicExponent, privateExponent, prime1, prime2, exponent1,
/// exponent2, coefficient, ... }, every member present.
fn rsa_private_public(key: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (seq, _, _) = element(key, 0x30)?;
    let (_version, _, rest) = element(seq, 0x02)?;
    let (n, _, mut rest) = element(rest, 0x02)?;
    let (e, _, _) = element(rest, 0x02)?;
    for _ in 0..7 {
        rest = element(rest, 0x02)?.2;
    }
    let (n, e) = (unsigned(n), unsigned(e));
    (!n.is_empty() && !e.is_empty()).then(|| (n.to_vec(), e.to_vec()))
}

/// The RSAPrivateKey inside a PKCS#8 PrivateKeyInfo, if its algorithm is RSA.
fn pkcs8_rsa(key: &[u8]) -> Option<&[u8]> {
    let (seq, _, _) = element(key, 0x30)?;
    let (_version, _, rest) = element(seq, 0x02)?;
    let (alg, _, rest) = element(rest, 0x30)?;
    let (oid, _, _) = element(alg, 0x06)?;
    let (inner, _, _) = element(rest, 0x04)?;
    (oid == OID_RSA).then_some(inner)
}

/// The public key of an RSA private key in DER (PKCS#1): read from the key itself, so that
/// 1,024-bit keys, which IAM takes and aws-lc-rs will not load, are read too; keys aws-lc-rs can
/// load must load.
fn rsa_public_of(pkcs1: &[u8], pkcs8: Option<&[u8]>) -> Option<PublicKey> {
    use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
    let (n, e) = rsa_private_public(pkcs1)?;
    if n.len() >= 256 {
        let loaded = match pkcs8 {
            Some(der) => RsaKeyPair::from_pkcs8(der).is_ok(),
            None => RsaKeyPair::from_der(pkcs1).is_ok(),
        };
        if !loaded {
            return None;
        }
    }
    Some(PublicKey::Rsa(n, e))
}

/// The public key of a private key in PEM (PKCS#1 or PKCS#8 RSA, SEC1 or PKCS#8 EC).
fn public_key_of(item: &Item) -> Option<PublicKey> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
        ECDSA_P521_SHA512_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
    };
    let curves = [
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &ECDSA_P384_SHA384_ASN1_SIGNING,
        &ECDSA_P521_SHA512_ASN1_SIGNING,
    ];
    match item {
        Item::Pkcs1Key(k) => rsa_public_of(k.secret_pkcs1_der(), None),
        Item::Pkcs8Key(k) => {
            let der = k.secret_pkcs8_der();
            match pkcs8_rsa(der) {
                Some(pkcs1) => rsa_public_of(pkcs1, Some(der)),
                None => curves.iter().find_map(|alg| {
                    EcdsaKeyPair::from_pkcs8(alg, der)
                        .ok()
                        .map(|k| PublicKey::Ec(k.public_key().as_ref().to_vec()))
                }),
            }
        }
        Item::Sec1Key(k) => curves.iter().find_map(|alg| {
            EcdsaKeyPair::from_private_key_der(alg, k.secret_sec1_der())
                .ok()
                .map(|k| PublicKey::Ec(k.public_key().as_ref().to_vec()))
        }),
        _ => None,
    }
}

/// The certificate's expiry, once the certificate parses and is within its validity period, its
/// private key parses and belongs to it, and its chain (if any) leads from it. `--dev` accepts
/// bodies that are not certificates (moto's suites upload `"certbody"` and `"certchain"`) and
/// gives them a year.
fn check_certificate(
    cx: &Cx<'_>,
    body: &str,
    key: &str,
    chain: Option<&str>,
) -> Result<i64, ApiError> {
    let der_cert = rustls_pemfile::certs(&mut body.as_bytes())
        .next()
        .and_then(Result::ok);
    let cert = der_cert.as_ref().and_then(|c| parse_cert(c.as_ref()));
    let item = match rustls_pemfile::read_one(&mut key.as_bytes()) {
        Ok(Some(i @ (Item::Pkcs1Key(_) | Item::Pkcs8Key(_) | Item::Sec1Key(_)))) => Some(i),
        _ => None,
    };
    let key_public = item.as_ref().and_then(public_key_of);
    if cx.state.config.dev {
        return Ok(cert
            .map(|c| c.not_after)
            .unwrap_or_else(|| now().saturating_add(365 * 24 * 3600)));
    }
    let Some(cert) = cert else {
        return Err(malformed_certificate());
    };
    // A certificate not yet valid fails X.509 validation; IAM answers MalformedCertificate
    // (with a message the SDK issue calls misleading; this one says what is wrong).
    if cert.not_before > now() {
        return Err(ApiError::new(
            "MalformedCertificate",
            format!(
                "The certificate is not valid until {}; upload a certificate that is valid now.",
                super::report::iso(cert.not_before)
            ),
            StatusCode::BAD_REQUEST,
        ));
    }
    // The model: MalformedCertificate is for a certificate "malformed or expired".
    if cert.not_after <= now() {
        return Err(ApiError::new(
            "MalformedCertificate",
            format!(
                "The certificate expired at {}; upload a certificate that is still valid.",
                super::report::iso(cert.not_after)
            ),
            StatusCode::BAD_REQUEST,
        ));
    }
    let Some(key_public) = key_public else {
        return Err(malformed_private_key());
    };
    if subject_public_key(&cert) != Some(key_public) {
        return Err(ApiError::new(
            "KeyPairMismatch",
            "The private key does not match the certificate's public key.",
            StatusCode::BAD_REQUEST,
        ));
    }
    if let Some(chain) = chain {
        check_chain(&cert, chain)?;
    }
    Ok(cert.not_after)
}

fn metadata(account: &str, c: &ServerCertificateRecord) -> Value {
    json!({
        "Path": c.path,
        "ServerCertificateName": c.name,
        "ServerCertificateId": c.id,
        "Arn": format!("arn:aws:iam::{account}:server-certificate{}{}", c.path, c.name),
        "UploadDate": c.uploaded_at,
        "Expiration": c.expires_at,
    })
}

pub(crate) async fn upload(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "ServerCertificateName")?.to_owned();
    let body = req(input, "CertificateBody")?.to_owned();
    let key = req(input, "PrivateKey")?;
    let chain = s(input, "CertificateChain").map(str::to_owned);
    let path = path(input, "Path")?;
    let tags = tags(input);
    check_tags(&tags, Entity::ServerCertificate)?;
    let expires_at = check_certificate(cx, &body, key, chain.as_deref())?;
    let account = cx.account.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx
                .account
                .server_certificates
                .contains_key(&name.to_lowercase())
            {
                return Err(already_exists(format!(
                    "The Server Certificate with name {name} already exists."
                )));
            }
            if tx.account.server_certificates.len() >= MAX_CERTS {
                return Err(limit_exceeded(format!(
                    "Cannot exceed quota for ServerCertificatesPerAccount: {MAX_CERTS}"
                )));
            }
            let record = ServerCertificateRecord {
                account_id: account.clone(),
                name,
                id: new_unique_id("ASCA"),
                path,
                body,
                chain,
                uploaded_at: now(),
                expires_at,
                tags,
            };
            let mut out = json!({"ServerCertificateMetadata": metadata(&account, &record)});
            if !record.tags.is_empty() {
                crate::services::set(&mut out, "Tags", tags_json(&record.tags));
            }
            tx.insert_server_certificate(record);
            Ok(out)
        })
        .await
}

pub(crate) fn get(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "ServerCertificateName")?;
    cx.state.iam.read_account(cx.account, |a| {
        let c = a
            .server_certificates
            .get(&name.to_lowercase())
            .ok_or_else(|| no_such_cert(name))?;
        let mut out = json!({
            "ServerCertificateMetadata": metadata(cx.account, c),
            "CertificateBody": c.body,
        });
        if let Some(chain) = &c.chain {
            crate::services::set(&mut out, "CertificateChain", json!(chain));
        }
        if !c.tags.is_empty() {
            crate::services::set(&mut out, "Tags", tags_json(&c.tags));
        }
        Ok(json!({"ServerCertificate": out}))
    })?
}

pub(crate) fn list(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let prefix = s(input, "PathPrefix").unwrap_or("/");
    let items = cx.state.iam.read_account(cx.account, |a| {
        a.server_certificates
            .values()
            .filter(|c| c.path.starts_with(prefix))
            .map(|c| metadata(cx.account, c))
            .collect::<Vec<_>>()
    })?;
    let (items, marker) = page_by(
        items,
        crate::services::paging::lowercase_member("ServerCertificateName"),
        input,
    )?;
    Ok(paged(
        json!({"ServerCertificateMetadataList": items}),
        marker,
    ))
}

pub(crate) async fn update(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "ServerCertificateName")?.to_owned();
    let new_name = s(input, "NewServerCertificateName").map(str::to_owned);
    let new_path = match s(input, "NewPath") {
        Some(_) => Some(path(input, "NewPath")?),
        None => None,
    };
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(mut c) = tx
                .account
                .server_certificates
                .get(&name.to_lowercase())
                .cloned()
            else {
                return Err(no_such_cert(&name));
            };
            if let Some(n) = &new_name
                && !n.eq_ignore_ascii_case(&name)
                && tx
                    .account
                    .server_certificates
                    .contains_key(&n.to_lowercase())
            {
                return Err(already_exists(format!(
                    "The Server Certificate with name {n} already exists."
                )));
            }
            if let Some(n) = new_name {
                c.name = n;
            }
            if let Some(p) = new_path {
                c.path = p;
            }
            tx.remove_server_certificate(&name);
            tx.insert_server_certificate(c);
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn delete(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "ServerCertificateName")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx.remove_server_certificate(&name).is_none() {
                return Err(no_such_cert(&name));
            }
            Ok(json!({}))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_not_after_of_a_generated_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["example.com".to_owned()]).unwrap();
        params.not_after = time::macros::datetime!(2031-05-06 07:08:09 UTC);
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            not_after(cert.der().as_ref()),
            Some(time::macros::datetime!(2031-05-06 07:08:09 UTC).unix_timestamp())
        );
        assert_eq!(not_after(b"junk"), None);
    }

    fn ca(
        name: &str,
        alg: &'static rcgen::SignatureAlgorithm,
    ) -> (rcgen::CertificateParams, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        (params, key)
    }

    #[test]
    fn ecdsa_chains_are_verified_by_signature_not_only_by_name() {
        let (root_params, root_key) = ca("Root", &rcgen::PKCS_ECDSA_P384_SHA384);
        let root = root_params.self_signed(&root_key).unwrap();
        let root_issuer = rcgen::Issuer::new(root_params, &root_key);
        let (inter_params, inter_key) = ca("Inter", &rcgen::PKCS_ECDSA_P256_SHA256);
        let inter = inter_params.signed_by(&inter_key, &root_issuer).unwrap();
        let inter_issuer = rcgen::Issuer::new(inter_params.clone(), &inter_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["example.com".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &inter_issuer)
            .unwrap();
        let (_, impostor_key) = ca("Inter", &rcgen::PKCS_ECDSA_P256_SHA256);
        let impostor = inter_params.self_signed(&impostor_key).unwrap();

        let body = parse_cert(leaf.der()).unwrap();
        assert!(check_chain(&body, &inter.pem()).is_ok());
        assert!(check_chain(&body, &(inter.pem() + &root.pem())).is_ok());
        let index = |chain: &str| check_chain(&body, chain).unwrap_err().message;
        assert!(index(&impostor.pem()).ends_with("is: 0"));
        assert!(index(&root.pem()).ends_with("is: 0"));
        assert!(index(&(inter.pem() + &impostor.pem())).ends_with("is: 1"));
        assert!(index("no certificate").ends_with("is: -1"));
        // Regression: a link whose signature algorithm this check cannot verify (Ed25519 here)
        // passed on matching names alone.
        let (ed_params, ed_key) = ca("Inter", &rcgen::PKCS_ED25519);
        let ed = ed_params.self_signed(&ed_key).unwrap();
        let ed_issuer = rcgen::Issuer::new(ed_params, &ed_key);
        let ed_leaf = rcgen::CertificateParams::new(vec!["example.com".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ed_issuer)
            .unwrap();
        let ed_body = parse_cert(ed_leaf.der()).unwrap();
        assert!(check_chain(&ed_body, &ed.pem()).is_err());
        // A chain longer than any real one is refused before its signatures are checked.
        let long = inter.pem().repeat(MAX_CHAIN + 1);
        assert!(index(&long).ends_with(&format!("is: {MAX_CHAIN}")));
    }

    #[test]
    fn rsa_public_keys_round_trip_through_der() {
        let n = [0x00, 0xc3, 0x01, 0x02];
        let der_key = rsa_public_key_der(&n, &[0x01, 0x00, 0x01]);
        assert_eq!(
            der_key,
            [
                0x30, 0x0b, 0x02, 0x04, 0x00, 0xc3, 0x01, 0x02, 0x02, 0x03, 0x01, 0x00, 0x01
            ]
        );
        assert_eq!(
            parse_rsa_public_key(&der_key),
            Some((vec![0xc3, 0x01, 0x02], vec![0x01, 0x00, 0x01]))
        );
        assert_eq!(
            der_encode(0x04, &[0; 200]).get(..3),
            Some(&[0x04, 0x81, 200][..])
        );
        assert_eq!(parse_rsa_public_key(&[0x30, 0x05, 0x02]), None);
        assert_eq!(rsa_private_public(&der_key), None);
    }
}
