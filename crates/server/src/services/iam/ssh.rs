//! A user's SSH public keys (for CodeCommit) and signing certificates, kept on the user's record.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use palisade_store::UserCredentialRecord;
use serde_json::{Value, json};

use super::certs::{
    der_encode, malformed_certificate, parse_cert, parse_rsa_public_key, pem_certs,
    rsa_public_key_der, twos_complement, unsigned,
};
use super::{
    Cx, limit_exceeded, mutate_user, no_such_entity, no_such_user, now, page_by, paged, req,
    target_user,
};
use crate::error::ApiError;
use crate::identity::{PrincipalKind, new_unique_id};

/// Which of a user's uploaded credentials an operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// SSH public keys.
    Ssh,
    /// Signing certificates.
    Signing,
}

impl Kind {
    fn id_member(self) -> &'static str {
        match self {
            Self::Ssh => "SSHPublicKeyId",
            Self::Signing => "CertificateId",
        }
    }
    fn body_member(self) -> &'static str {
        match self {
            Self::Ssh => "SSHPublicKeyBody",
            Self::Signing => "CertificateBody",
        }
    }
    fn no_such(self, id: &str) -> ApiError {
        match self {
            Self::Ssh => no_such_entity(format!("The Public Key with id {id} cannot be found.")),
            Self::Signing => {
                no_such_entity(format!("The Certificate with id {id} cannot be found."))
            }
        }
    }
    fn quota(self) -> (usize, &'static str) {
        match self {
            Self::Ssh => (5, "PublicKeysPerUser"),
            Self::Signing => (2, "CertificatesPerUser"),
        }
    }
    fn list(self, u: &mut palisade_store::UserRecord) -> &mut Vec<UserCredentialRecord> {
        match self {
            Self::Ssh => &mut u.ssh_keys,
            Self::Signing => &mut u.signing_certificates,
        }
    }
    fn new_id(self) -> String {
        match self {
            // `APKA` and 16 more characters, as AWS's ids.
            Self::Ssh => {
                let id = new_unique_id("APKA");
                id.get(..20).unwrap_or(&id).to_owned()
            }
            // 24 characters.
            Self::Signing => new_unique_id("")
                .chars()
                .chain(new_unique_id("").chars())
                .take(24)
                .collect(),
        }
    }
}

/// The key's fingerprint: colon-separated hex of a digest of the key's OpenSSH blob (whichever
/// form was uploaded; the body itself when it is no RSA key). AWS shows the MD5 digest; Palisade
/// has no MD5, so this is the first 16 bytes of the SHA-256 digest, in the same form.
fn fingerprint(body: &str) -> String {
    let blob = rsa_key(body)
        .map(|(n, e)| ssh_blob(&n, &e))
        .unwrap_or_else(|| body.as_bytes().to_vec());
    let d = digest::digest(&digest::SHA256, &blob);
    d.as_ref()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The bits of an RSA modulus given as a big-endian integer (an SSH `mpint` or DER INTEGER,
/// which may have a leading zero byte).
fn modulus_bits(n: &[u8]) -> usize {
    let n = unsigned(n);
    n.first()
        .map_or(0, |&b| n.len() * 8 - b.leading_zeros() as usize)
}

/// The modulus and exponent of an OpenSSH `ssh-rsa` key blob: string "ssh-rsa", mpint e,
/// mpint n.
fn ssh_rsa_key(blob: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    fn field(b: &[u8]) -> Option<(&[u8], &[u8])> {
        let len = usize::try_from(u32::from_be_bytes(b.get(..4)?.try_into().ok()?)).ok()?;
        let end = len.checked_add(4)?;
        Some((b.get(4..end)?, b.get(end..)?))
    }
    let (kind, rest) = field(blob)?;
    let (e, rest) = field(rest)?;
    let (n, rest) = field(rest)?;
    let (n, e) = (unsigned(n), unsigned(e));
    (kind == b"ssh-rsa" && rest.is_empty() && !n.is_empty() && !e.is_empty())
        .then(|| (n.to_vec(), e.to_vec()))
}

/// The modulus and exponent of a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY`
/// (PKCS#1).
fn pem_rsa_key(body: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let (label, der) = pem_block(body)?;
    match label.as_str() {
        "RSA PUBLIC KEY" => parse_rsa_public_key(&der),
        "PUBLIC KEY" => {
            // SEQUENCE { SEQUENCE { OID rsaEncryption, NULL }, BIT STRING }
            let (_, spki, _) = super::certs::der(&der)?;
            let (_, alg, rest) = super::certs::der(spki)?;
            let (tag, oid, _) = super::certs::der(alg)?;
            if tag != 0x06 || oid != super::certs::OID_RSA {
                return None;
            }
            let (tag, bits, _) = super::certs::der(rest)?;
            if tag != 0x03 {
                return None;
            }
            parse_rsa_public_key(bits.strip_prefix(&[0])?)
        }
        _ => None,
    }
}

/// The modulus and exponent of an RSA public key in OpenSSH or PEM form.
fn rsa_key(body: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let trimmed = body.trim();
    if let Some(rest) = trimmed.strip_prefix("ssh-rsa ") {
        let blob = STANDARD.decode(rest.split_whitespace().next()?).ok()?;
        ssh_rsa_key(&blob)
    } else if trimmed.starts_with("-----BEGIN ") {
        pem_rsa_key(trimmed)
    } else {
        None
    }
}

/// An SSH string: its length and bytes.
fn ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The OpenSSH blob of an RSA key.
fn ssh_blob(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut blob = Vec::new();
    ssh_string(&mut blob, b"ssh-rsa");
    ssh_string(&mut blob, &twos_complement(e));
    ssh_string(&mut blob, &twos_complement(n));
    blob
}

/// An RSA key in OpenSSH form: `ssh-rsa AAAA…`.
fn ssh_form(n: &[u8], e: &[u8]) -> String {
    format!("ssh-rsa {}", STANDARD.encode(ssh_blob(n, e)))
}

/// An RSA key in PEM form: a SubjectPublicKeyInfo, base64 in lines of 64 characters.
fn pem_form(n: &[u8], e: &[u8]) -> String {
    let mut alg = der_encode(0x06, super::certs::OID_RSA);
    alg.extend(der_encode(0x05, &[]));
    let mut bits = vec![0];
    bits.extend(rsa_public_key_der(n, e));
    let mut spki = der_encode(0x30, &alg);
    spki.extend(der_encode(0x03, &bits));
    let b64 = STANDARD.encode(der_encode(0x30, &spki));
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// A key's body in the `Encoding` GetSSHPublicKey asks for: as uploaded when it is in that form
/// already (`SSH`) or converted; a body that is no RSA key (`--dev` takes any) as uploaded.
fn encoded(body: &str, encoding: &str) -> String {
    let Some((n, e)) = rsa_key(body) else {
        return body.to_owned();
    };
    match encoding {
        "PEM" => pem_form(&n, &e),
        _ if body.trim_start().starts_with("ssh-rsa ") => body.to_owned(),
        _ => ssh_form(&n, &e),
    }
}

/// What makes two uploads the same SSH key: its OpenSSH blob, whichever form it came in.
fn ssh_identity(body: &str) -> Vec<u8> {
    rsa_key(body)
        .map(|(n, e)| ssh_blob(&n, &e))
        .unwrap_or_else(|| body.trim().as_bytes().to_vec())
}

/// What makes two uploads the same signing certificate: the DER of its certificate.
fn cert_identity(body: &str) -> Vec<u8> {
    pem_certs(body)
        .ok()
        .and_then(|c| c.into_iter().next())
        .unwrap_or_else(|| body.trim().as_bytes().to_vec())
}

/// The label and decoded contents of the first PEM block of `body`.
fn pem_block(body: &str) -> Option<(String, Vec<u8>)> {
    let start = body.find("-----BEGIN ")?;
    let rest = body.get(start + 11..)?;
    let label_end = rest.find("-----")?;
    let label = rest.get(..label_end)?.to_owned();
    let rest = rest.get(label_end + 5..)?;
    let end = rest.find(&format!("-----END {label}-----"))?;
    let b64: String = rest
        .get(..end)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Some((label, STANDARD.decode(b64).ok()?))
}

/// The smallest RSA key IAM takes for CodeCommit.
const MIN_SSH_KEY_BITS: usize = 2048;

/// An SSH public key as IAM takes it: RSA, in OpenSSH (`ssh-rsa AAAA…`) or PEM form, of at least
/// 2,048 bits. Not in `--dev`, whose test suites upload certificates as keys.
fn check_ssh_key(cx: &Cx<'_>, body: &str) -> Result<(), ApiError> {
    if cx.state.config.dev {
        return Ok(());
    }
    let trimmed = body.trim();
    let modulus = if trimmed.starts_with("ssh-rsa ") || trimmed.starts_with("-----BEGIN ") {
        rsa_key(trimmed).ok_or_else(invalid_public_key)?.0
    } else {
        return Err(ApiError::new(
            "UnrecognizedPublicKeyEncoding",
            "The public key encoding format is unsupported or unrecognized: give an ssh-rsa \
             key in OpenSSH or PEM format.",
            StatusCode::BAD_REQUEST,
        ));
    };
    let bits = modulus_bits(&modulus);
    if bits < MIN_SSH_KEY_BITS {
        return Err(ApiError::new(
            "InvalidPublicKey",
            format!(
                "The public key is invalid: {bits}-bit RSA, where at least {MIN_SSH_KEY_BITS} \
                 bits are required."
            ),
            StatusCode::BAD_REQUEST,
        ));
    }
    Ok(())
}

fn invalid_public_key() -> ApiError {
    ApiError::new(
        "InvalidPublicKey",
        "The public key is malformed or otherwise invalid.",
        StatusCode::BAD_REQUEST,
    )
}

/// A signing certificate: a PEM X.509 certificate within its validity period.
fn check_certificate(body: &str) -> Result<(), ApiError> {
    let ders = pem_certs(body).map_err(|_| malformed_certificate())?;
    let cert = ders
        .first()
        .and_then(|d| parse_cert(d))
        .ok_or_else(malformed_certificate)?;
    let t = now();
    let iso = super::report::iso;
    // The same bounds as a server certificate's: valid from notBefore until (not at) notAfter.
    if cert.not_after <= t {
        return Err(invalid_certificate(&format!(
            "The certificate expired at {}.",
            iso(cert.not_after)
        )));
    }
    if cert.not_before > t {
        return Err(invalid_certificate(&format!(
            "The certificate is not valid until {}.",
            iso(cert.not_before)
        )));
    }
    Ok(())
}

fn invalid_certificate(message: &str) -> ApiError {
    ApiError::new("InvalidCertificate", message, StatusCode::BAD_REQUEST)
}

fn duplicate(kind: Kind) -> ApiError {
    match kind {
        Kind::Ssh => ApiError::new(
            "DuplicateSSHPublicKey",
            "The SSH public key is already associated with the specified IAM user.",
            StatusCode::BAD_REQUEST,
        ),
        Kind::Signing => ApiError::new(
            "DuplicateCertificate",
            "The same certificate is associated with an IAM user in the account.",
            StatusCode::CONFLICT,
        ),
    }
}

/// A key or certificate in the output form; `user` is `None` for the root user's, which, as no
/// IAM user's, name no user (as the root user's access keys do).
fn item_json(kind: Kind, user: Option<&str>, c: &UserCredentialRecord, full: bool) -> Value {
    let mut v = match kind {
        Kind::Ssh => {
            let mut v = json!({
                "SSHPublicKeyId": c.id,
                "Status": c.status,
                "UploadDate": c.uploaded_at,
            });
            if full {
                crate::services::set(&mut v, "Fingerprint", json!(fingerprint(&c.body)));
                crate::services::set(&mut v, "SSHPublicKeyBody", json!(c.body));
            }
            v
        }
        Kind::Signing => json!({
            "CertificateId": c.id,
            "CertificateBody": c.body,
            "Status": c.status,
            "UploadDate": c.uploaded_at,
        }),
    };
    if let Some(user) = user {
        crate::services::set(&mut v, "UserName", json!(user));
    }
    v
}

/// Whose keys or certificates an operation is about.
enum Owner<'a> {
    /// An IAM user, by name.
    User(&'a str),
    /// The root user, which manages its own signing certificates (without `UserName`, with its
    /// own credentials), as the model says IAM lets it.
    Root,
}

/// The owner an operation names: `UserName`, else the calling user, else, for signing
/// certificates, the calling root user.
fn owner<'a>(cx: &'a Cx<'_>, input: &'a Value, kind: Kind) -> Result<Owner<'a>, ApiError> {
    if kind == Kind::Signing
        && input.get("UserName").is_none()
        && cx.caller.user_name.is_none()
        && cx.caller.kind == PrincipalKind::Root
    {
        return Ok(Owner::Root);
    }
    target_user(cx, input).map(Owner::User)
}

/// Changes the owner's list of `kind`: `f` gets the user's name (`None` for the root user) and
/// the list.
async fn mutate_list<T>(
    cx: &Cx<'_>,
    owner: &Owner<'_>,
    kind: Kind,
    f: impl FnOnce(Option<&str>, &mut Vec<UserCredentialRecord>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    match owner {
        Owner::User(name) => {
            mutate_user(cx, name, |u| {
                let name = u.name.clone();
                f(Some(&name), kind.list(u))
            })
            .await
        }
        Owner::Root => {
            cx.state
                .iam
                .mutate(cx.account, |tx| {
                    f(None, &mut tx.settings_mut().root_signing_certificates)
                })
                .await
        }
    }
}

fn wrap(kind: Kind, v: Value) -> Value {
    match kind {
        Kind::Ssh => json!({"SSHPublicKey": v}),
        Kind::Signing => json!({"Certificate": v}),
    }
}

pub(crate) async fn upload(cx: &Cx<'_>, input: &Value, kind: Kind) -> Result<Value, ApiError> {
    let owner = owner(cx, input, kind)?;
    let body = req(input, kind.body_member())?.to_owned();
    let identity = match kind {
        Kind::Signing => {
            check_certificate(&body)?;
            cert_identity(&body)
        }
        Kind::Ssh => {
            check_ssh_key(cx, &body)?;
            ssh_identity(&body)
        }
    };
    let (max, quota) = kind.quota();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            // The same SSH key twice for one user; the same signing certificate twice among the
            // account's IAM users (the root user's own are apart, as IAM users' are from them).
            let taken = match (kind, &owner) {
                (Kind::Ssh, Owner::User(name)) => tx
                    .account
                    .user(name)
                    .ok_or_else(|| no_such_user(name))?
                    .ssh_keys
                    .iter()
                    .any(|k| ssh_identity(&k.body) == identity),
                (Kind::Ssh, Owner::Root) => false,
                (Kind::Signing, Owner::User(name)) => {
                    if tx.account.user(name).is_none() {
                        return Err(no_such_user(name));
                    }
                    tx.account
                        .users
                        .values()
                        .flat_map(|u| &u.signing_certificates)
                        .any(|c| cert_identity(&c.body) == identity)
                }
                (Kind::Signing, Owner::Root) => tx
                    .account
                    .settings
                    .root_signing_certificates
                    .iter()
                    .any(|c| cert_identity(&c.body) == identity),
            };
            if taken {
                return Err(duplicate(kind));
            }
            let (name, list) = match &owner {
                Owner::User(name) => {
                    let u = tx.user_mut(name).ok_or_else(|| no_such_user(name))?;
                    (Some(u.name.clone()), kind.list(u))
                }
                Owner::Root => (None, &mut tx.settings_mut().root_signing_certificates),
            };
            if list.len() >= max {
                return Err(limit_exceeded(format!(
                    "Cannot exceed quota for {quota}: {max}"
                )));
            }
            let record = UserCredentialRecord {
                id: kind.new_id(),
                body,
                status: "Active".to_owned(),
                uploaded_at: now(),
            };
            let out = wrap(kind, item_json(kind, name.as_deref(), &record, true));
            list.push(record);
            Ok(out)
        })
        .await
}

pub(crate) fn get(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = req(input, "UserName")?;
    let id = req(input, "SSHPublicKeyId")?;
    let encoding = req(input, "Encoding")?;
    cx.state.iam.read_account(cx.account, |a| {
        let u = a.user(user).ok_or_else(|| no_such_user(user))?;
        let c = u
            .ssh_keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| Kind::Ssh.no_such(id))?;
        let mut v = item_json(Kind::Ssh, Some(&u.name), c, true);
        crate::services::set(
            &mut v,
            "SSHPublicKeyBody",
            json!(encoded(&c.body, encoding)),
        );
        Ok(wrap(Kind::Ssh, v))
    })?
}

pub(crate) fn list(cx: &Cx<'_>, input: &Value, kind: Kind) -> Result<Value, ApiError> {
    let owner = owner(cx, input, kind)?;
    let items = cx.state.iam.read_account(cx.account, |a| {
        let (name, list) = match owner {
            Owner::Root => (None, &a.settings.root_signing_certificates),
            Owner::User(user) => {
                let u = a.user(user).ok_or_else(|| no_such_user(user))?;
                let list = match kind {
                    Kind::Ssh => &u.ssh_keys,
                    Kind::Signing => &u.signing_certificates,
                };
                (Some(u.name.as_str()), list)
            }
        };
        Ok::<_, ApiError>(
            list.iter()
                .map(|c| item_json(kind, name, c, false))
                .collect::<Vec<_>>(),
        )
    })??;
    let (items, marker) = page_by(
        items,
        crate::services::paging::member(kind.id_member()),
        input,
    )?;
    let member = match kind {
        Kind::Ssh => "SSHPublicKeys",
        Kind::Signing => "Certificates",
    };
    Ok(paged(json!({ member: items }), marker))
}

pub(crate) async fn update(cx: &Cx<'_>, input: &Value, kind: Kind) -> Result<Value, ApiError> {
    let owner = owner(cx, input, kind)?;
    let id = req(input, kind.id_member())?.to_owned();
    let status = req(input, "Status")?.to_owned();
    mutate_list(cx, &owner, kind, |_, list| {
        let Some(c) = list.iter_mut().find(|c| c.id == id) else {
            return Err(kind.no_such(&id));
        };
        c.status = status;
        Ok(json!({}))
    })
    .await
}

pub(crate) async fn delete(cx: &Cx<'_>, input: &Value, kind: Kind) -> Result<Value, ApiError> {
    let owner = owner(cx, input, kind)?;
    let id = req(input, kind.id_member())?.to_owned();
    mutate_list(cx, &owner, kind, |_, list| {
        let before = list.len();
        list.retain(|c| c.id != id);
        if list.len() == before {
            return Err(kind.no_such(&id));
        }
        Ok(json!({}))
    })
    .await
}
