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
const MAX_CERTS: usize = 20;

fn no_such_cert(name: &str) -> ApiError {
    no_such_entity(format!(
        "The Server Certificate with name {name} cannot be found."
    ))
}

fn malformed(what: &str) -> ApiError {
    ApiError::new(
        "MalformedCertificate",
        format!("Unable to parse {what}. Please ensure it is in PEM format."),
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

/// The fields of a certificate's TBSCertificate from its validity on.
fn from_validity(cert: &[u8]) -> Option<&[u8]> {
    let (_, cert, _) = der(cert)?;
    let (_, tbs, _) = der(cert)?;
    let (tag, _, mut rest) = der(tbs)?;
    if tag == 0xa0 {
        // The explicit version; the serial number follows.
        rest = der(rest)?.2;
    }
    let rest = der(rest)?.2; // signature algorithm
    der(rest).map(|(_, _, rest)| rest) // after the issuer
}

/// The notAfter of a DER certificate.
fn not_after(cert: &[u8]) -> Option<i64> {
    let (_, validity, _) = der(from_validity(cert)?)?;
    let (_, _, after) = der(validity)?;
    let (tag, v, _) = der(after)?;
    der_time(tag, v)
}

/// The certificate's subject public key: the contents of the SubjectPublicKeyInfo's BIT STRING
/// (an RSAPublicKey in DER, or an EC point).
fn subject_public_key(cert: &[u8]) -> Option<Vec<u8>> {
    let rest = der(from_validity(cert)?)?.2; // validity
    let rest = der(rest)?.2; // subject
    let (_, spki, _) = der(rest)?;
    let (_, bits, _) = der(der(spki)?.2)?;
    // The first byte counts unused bits: zero for keys.
    Some(bits.get(1..)?.to_vec())
}

/// The public key of a private key in PEM (PKCS#1 or PKCS#8 RSA, SEC1 or PKCS#8 EC), in the form
/// of [`subject_public_key`].
fn public_key_of(item: &Item) -> Option<Vec<u8>> {
    use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
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
        Item::Pkcs1Key(k) => RsaKeyPair::from_der(k.secret_pkcs1_der())
            .ok()
            .map(|k| k.public_key().as_ref().to_vec()),
        Item::Pkcs8Key(k) => {
            let der = k.secret_pkcs8_der();
            RsaKeyPair::from_pkcs8(der)
                .ok()
                .map(|k| k.public_key().as_ref().to_vec())
                .or_else(|| {
                    curves.iter().find_map(|alg| {
                        EcdsaKeyPair::from_pkcs8(alg, der)
                            .ok()
                            .map(|k| k.public_key().as_ref().to_vec())
                    })
                })
        }
        Item::Sec1Key(k) => curves.iter().find_map(|alg| {
            EcdsaKeyPair::from_private_key_der(alg, k.secret_sec1_der())
                .ok()
                .map(|k| k.public_key().as_ref().to_vec())
        }),
        _ => None,
    }
}

/// The certificate's expiry, once the certificate and its private key parse and belong together.
/// `--dev` accepts bodies that are not certificates (moto's suites upload `"certbody"`) and gives
/// them a year.
fn check_certificate(cx: &Cx<'_>, body: &str, key: &str) -> Result<i64, ApiError> {
    let cert = rustls_pemfile::certs(&mut body.as_bytes())
        .next()
        .and_then(Result::ok);
    let expiry = cert.as_ref().and_then(|c| not_after(c.as_ref()));
    let item = match rustls_pemfile::read_one(&mut key.as_bytes()) {
        Ok(Some(i @ (Item::Pkcs1Key(_) | Item::Pkcs8Key(_) | Item::Sec1Key(_)))) => Some(i),
        _ => None,
    };
    let key_public = item.as_ref().and_then(public_key_of);
    match (expiry, key_public) {
        _ if cx.state.config.dev => {
            Ok(expiry.unwrap_or_else(|| now().saturating_add(365 * 24 * 3600)))
        }
        (None, _) => Err(malformed("the certificate")),
        (Some(_), None) => Err(malformed("the private key")),
        (Some(e), Some(k)) => {
            if cert.as_ref().and_then(|c| subject_public_key(c.as_ref())) == Some(k) {
                Ok(e)
            } else {
                Err(ApiError::new(
                    "KeyPairMismatch",
                    "The private key does not match the certificate's public key.",
                    StatusCode::BAD_REQUEST,
                ))
            }
        }
    }
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
    let expires_at = check_certificate(cx, &body, key)?;
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
}
