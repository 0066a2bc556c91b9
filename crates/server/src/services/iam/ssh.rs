//! A user's SSH public keys (for CodeCommit) and signing certificates, kept on the user's record.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use palisade_store::UserCredentialRecord;
use serde_json::{Value, json};

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

/// The key's fingerprint: colon-separated hex of a digest of the key blob (the base64 field of
/// an OpenSSH key line, else the whole body). AWS shows the MD5 digest; Palisade has no MD5, so
/// this is the first 16 bytes of the SHA-256 digest, in the same form.
fn fingerprint(body: &str) -> String {
    let blob = body
        .split_whitespace()
        .nth(1)
        .and_then(|b| STANDARD.decode(b).ok())
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
    let n = match n.iter().position(|&b| b != 0) {
        Some(i) => n.get(i..).unwrap_or_default(),
        None => return 0,
    };
    n.first()
        .map_or(0, |&b| n.len() * 8 - b.leading_zeros() as usize)
}

/// The modulus of an OpenSSH `ssh-rsa` key blob: string "ssh-rsa", mpint e, mpint n.
fn ssh_rsa_modulus(blob: &[u8]) -> Option<&[u8]> {
    fn field(b: &[u8]) -> Option<(&[u8], &[u8])> {
        let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
        Some((b.get(4..4 + len)?, b.get(4 + len..)?))
    }
    let (kind, rest) = field(blob)?;
    let (_e, rest) = field(rest)?;
    let (n, rest) = field(rest)?;
    (kind == b"ssh-rsa" && rest.is_empty()).then_some(n)
}

/// The modulus of a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1).
fn pem_rsa_modulus(body: &str) -> Option<Vec<u8>> {
    let (label, der) = pem_block(body)?;
    let rsa_public_key = match label.as_str() {
        "RSA PUBLIC KEY" => der,
        "PUBLIC KEY" => {
            // SEQUENCE { SEQUENCE { OID rsaEncryption, NULL }, BIT STRING }
            let (_, spki, _) = super::certs::der(&der)?;
            let (_, alg, rest) = super::certs::der(spki)?;
            let (_, oid, _) = super::certs::der(alg)?;
            if oid != [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01] {
                return None;
            }
            let (tag, bits, _) = super::certs::der(rest)?;
            (tag == 0x03).then(|| bits.get(1..).unwrap_or_default().to_vec())?
        }
        _ => return None,
    };
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    let (_, seq, _) = super::certs::der(&rsa_public_key)?;
    let (tag, n, _) = super::certs::der(seq)?;
    (tag == 0x02).then(|| n.to_vec())
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
    let modulus = if let Some(rest) = trimmed.strip_prefix("ssh-rsa ") {
        let blob = rest
            .split_whitespace()
            .next()
            .and_then(|b| STANDARD.decode(b).ok());
        blob.as_deref()
            .and_then(ssh_rsa_modulus)
            .map(<[u8]>::to_vec)
            .ok_or_else(invalid_public_key)?
    } else if trimmed.starts_with("-----BEGIN ") {
        pem_rsa_modulus(trimmed).ok_or_else(invalid_public_key)?
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

fn check_certificate(body: &str) -> Result<(), ApiError> {
    let mut reader = body.as_bytes();
    let parsed: Vec<_> = rustls_pemfile::certs(&mut reader).collect();
    if parsed.is_empty() || parsed.iter().any(Result::is_err) {
        return Err(ApiError::new(
            "MalformedCertificate",
            "Unable to parse certificate. Please ensure the certificate is in PEM format.",
            StatusCode::BAD_REQUEST,
        ));
    }
    Ok(())
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
    match kind {
        Kind::Signing => check_certificate(&body)?,
        Kind::Ssh => check_ssh_key(cx, &body)?,
    }
    let (max, quota) = kind.quota();
    mutate_list(cx, &owner, kind, |name, list| {
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
        let out = wrap(kind, item_json(kind, name, &record, true));
        list.push(record);
        Ok(out)
    })
    .await
}

pub(crate) fn get(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = req(input, "UserName")?;
    let id = req(input, "SSHPublicKeyId")?;
    cx.state.iam.read_account(cx.account, |a| {
        let u = a.user(user).ok_or_else(|| no_such_user(user))?;
        let c = u
            .ssh_keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| Kind::Ssh.no_such(id))?;
        Ok(wrap(
            Kind::Ssh,
            item_json(Kind::Ssh, Some(&u.name), c, true),
        ))
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
