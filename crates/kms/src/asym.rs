//! Asymmetric and HMAC operations: key generation, public keys, RSA-OAEP, signatures, MACs,
//! ECDH, and the unwrapping of imported key material.

use aws_lc_rs::agreement;
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::hmac;
use aws_lc_rs::kem::{self, DecapsulationKey, EncapsulationKey};
use aws_lc_rs::key_wrap::{AES_128, AES_256, AesKek, KeyWrapPadded};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, ParsedPublicKey,
    PqdsaKeyPair, PqdsaSigningAlgorithm, PqdsaVerificationAlgorithm, RsaKeyPair, UnparsedPublicKey,
    VerificationAlgorithm,
};

use crate::{KeySpec, KmsError, MessageType};

pub(crate) fn rsa_size(spec: KeySpec) -> Option<KeySize> {
    match spec {
        KeySpec::Rsa2048 => Some(KeySize::Rsa2048),
        KeySpec::Rsa3072 => Some(KeySize::Rsa3072),
        KeySpec::Rsa4096 => Some(KeySize::Rsa4096),
        _ => None,
    }
}

fn ecdsa_signing(spec: KeySpec) -> Option<&'static EcdsaSigningAlgorithm> {
    match spec {
        KeySpec::EccNistP256 => Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
        KeySpec::EccNistP384 => Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
        KeySpec::EccNistP521 => Some(&signature::ECDSA_P521_SHA512_ASN1_SIGNING),
        KeySpec::EccSecgP256k1 => Some(&signature::ECDSA_P256K1_SHA256_ASN1_SIGNING),
        _ => None,
    }
}

fn ml_dsa(
    spec: KeySpec,
) -> Option<(
    &'static PqdsaSigningAlgorithm,
    &'static PqdsaVerificationAlgorithm,
)> {
    match spec {
        KeySpec::MlDsa44 => Some((&signature::ML_DSA_44_SIGNING, &signature::ML_DSA_44)),
        KeySpec::MlDsa65 => Some((&signature::ML_DSA_65_SIGNING, &signature::ML_DSA_65)),
        KeySpec::MlDsa87 => Some((&signature::ML_DSA_87_SIGNING, &signature::ML_DSA_87)),
        _ => None,
    }
}

fn ml_kem(spec: KeySpec) -> Option<&'static kem::Algorithm<kem::AlgorithmId>> {
    match spec {
        KeySpec::MlKem512 => Some(&kem::ML_KEM_512),
        KeySpec::MlKem768 => Some(&kem::ML_KEM_768),
        KeySpec::MlKem1024 => Some(&kem::ML_KEM_1024),
        _ => None,
    }
}

/// The last arc of the spec's NIST object identifier, 2.16.840.1.101.3.4.4.x (FIPS 203 via
/// the LAMPS ML-KEM certificate profile).
fn ml_kem_oid_arc(spec: KeySpec) -> u8 {
    match spec {
        KeySpec::MlKem512 => 1,
        KeySpec::MlKem768 => 2,
        _ => 3,
    }
}

/// A DER length.
fn der_len(n: usize, out: &mut Vec<u8>) {
    match n {
        0..=0x7f => out.push(n as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, n as u8]),
        _ => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
}

/// The SubjectPublicKeyInfo of a raw ML-KEM encapsulation key: the algorithm identifier has
/// the OID alone, without parameters.
fn ml_kem_spki(spec: KeySpec, raw: &[u8]) -> Vec<u8> {
    let oid = [
        0x06,
        0x09,
        0x60,
        0x86,
        0x48,
        0x01,
        0x65,
        0x03,
        0x04,
        0x04,
        ml_kem_oid_arc(spec),
    ];
    let mut alg = vec![0x30];
    der_len(oid.len(), &mut alg);
    alg.extend_from_slice(&oid);
    let mut bits = vec![0x03];
    der_len(raw.len() + 1, &mut bits);
    bits.push(0);
    bits.extend_from_slice(raw);
    let mut out = vec![0x30];
    der_len(alg.len() + bits.len(), &mut out);
    out.extend_from_slice(&alg);
    out.extend_from_slice(&bits);
    out
}

/// ML-KEM's decapsulation key from stored bytes (its expanded secret key).
fn decapsulation_key(
    spec: KeySpec,
    bytes: &[u8],
) -> Result<DecapsulationKey<kem::AlgorithmId>, KmsError> {
    let alg = ml_kem(spec)
        .ok_or_else(|| KmsError::InvalidKeyUsage(format!("{spec} is not an ML-KEM key spec")))?;
    DecapsulationKey::new(alg, bytes).map_err(|_| {
        KmsError::IncorrectKeyMaterial(format!("the key material is not a {spec} private key"))
    })
}

/// The encapsulation (public) key inside an expanded ML-KEM decapsulation key, which FIPS 203
/// lays out as `dk_pke (384·k) ‖ ek (384·k + 32) ‖ H(ek) ‖ z`: AWS-LC derives no public key
/// from a secret key read back from bytes.
fn encapsulation_key(
    spec: KeySpec,
    bytes: &[u8],
) -> Result<EncapsulationKey<kem::AlgorithmId>, KmsError> {
    let bad =
        || KmsError::IncorrectKeyMaterial(format!("the key material is not a {spec} private key"));
    let alg = ml_kem(spec).ok_or_else(bad)?;
    let k = usize::from(ml_kem_oid_arc(spec)) + 1;
    let raw = bytes.get(384 * k..768 * k + 32).ok_or_else(bad)?;
    EncapsulationKey::new(alg, raw).map_err(|_| bad())
}

/// Encapsulate: a fresh shared secret and its ciphertext under the key's public half.
pub(crate) fn encapsulate(spec: KeySpec, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KmsError> {
    let public = encapsulation_key(spec, bytes)?;
    let (ciphertext, secret) = public
        .encapsulate()
        .map_err(|_| internal("encapsulation"))?;
    Ok((ciphertext.as_ref().to_vec(), secret.as_ref().to_vec()))
}

/// Decapsulate. ML-KEM rejects implicitly: a tampered ciphertext of the right length yields an
/// unrelated secret, not an error; one of the wrong length is refused.
pub(crate) fn decapsulate(
    spec: KeySpec,
    bytes: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let key = decapsulation_key(spec, bytes)?;
    // FIPS 203's ciphertext sizes.
    let size = match spec {
        KeySpec::MlKem512 => 768,
        KeySpec::MlKem768 => 1088,
        _ => 1568,
    };
    if ciphertext.len() != size {
        return Err(KmsError::InvalidCiphertext);
    }
    key.decapsulate(kem::Ciphertext::from(ciphertext))
        .map(|s| s.as_ref().to_vec())
        .map_err(|_| KmsError::InvalidCiphertext)
}

fn internal(what: &str) -> KmsError {
    KmsError::Crypto(format!("{what} failed"))
}

/// Fresh PKCS#8 DER for an asymmetric spec.
pub(crate) fn generate_private(spec: KeySpec) -> Result<Vec<u8>, KmsError> {
    if let Some(size) = rsa_size(spec) {
        let kp = RsaKeyPair::generate(size).map_err(|_| internal("rsa key generation"))?;
        let der: Pkcs8V1Der<'static> = kp.as_der().map_err(|_| internal("rsa encoding"))?;
        return Ok(der.as_ref().to_vec());
    }
    if let Some(alg) = ecdsa_signing(spec) {
        let kp = EcdsaKeyPair::generate(alg).map_err(|_| internal("ec key generation"))?;
        let doc = kp.to_pkcs8v1().map_err(|_| internal("ec encoding"))?;
        return Ok(doc.as_ref().to_vec());
    }
    if spec == KeySpec::EccNistEdwards25519 {
        let kp = Ed25519KeyPair::generate().map_err(|_| internal("ed25519 key generation"))?;
        let doc = kp.to_pkcs8v1().map_err(|_| internal("ed25519 encoding"))?;
        return Ok(doc.as_ref().to_vec());
    }
    if let Some((alg, _)) = ml_dsa(spec) {
        let kp = PqdsaKeyPair::generate(alg).map_err(|_| internal("ml-dsa key generation"))?;
        let doc = kp.to_pkcs8v1().map_err(|_| internal("ml-dsa encoding"))?;
        return Ok(doc.as_ref().to_vec());
    }
    if let Some(alg) = ml_kem(spec) {
        let key = DecapsulationKey::generate(alg).map_err(|_| internal("ml-kem key generation"))?;
        let bytes = key.key_bytes().map_err(|_| internal("ml-kem encoding"))?;
        return Ok(bytes.as_ref().to_vec());
    }
    Err(KmsError::Unsupported(format!(
        "generating private keys of {spec}"
    )))
}

/// Checks that PKCS#8 bytes hold a key of `spec`.
pub(crate) fn check_private(spec: KeySpec, der: &[u8]) -> Result<(), KmsError> {
    let bad =
        || KmsError::IncorrectKeyMaterial(format!("the key material is not a {spec} private key"));
    if let Some(size) = rsa_size(spec) {
        let kp = RsaKeyPair::from_pkcs8(der).map_err(|_| bad())?;
        let want = match size {
            KeySize::Rsa2048 => 256,
            KeySize::Rsa3072 => 384,
            _ => 512,
        };
        return if kp.public_modulus_len() == want {
            Ok(())
        } else {
            Err(bad())
        };
    }
    if let Some(alg) = ecdsa_signing(spec) {
        return EcdsaKeyPair::from_pkcs8(alg, der)
            .map(|_| ())
            .map_err(|_| bad());
    }
    if spec == KeySpec::EccNistEdwards25519 {
        return Ed25519KeyPair::from_pkcs8(der)
            .map(|_| ())
            .map_err(|_| bad());
    }
    if let Some((alg, _)) = ml_dsa(spec) {
        return PqdsaKeyPair::from_pkcs8(alg, der)
            .map(|_| ())
            .map_err(|_| bad());
    }
    if ml_kem(spec).is_some() {
        decapsulation_key(spec, der)?;
        return encapsulation_key(spec, der).map(|_| ());
    }
    Err(bad())
}

pub(crate) fn public_key_der(spec: KeySpec, der: &[u8]) -> Result<Vec<u8>, KmsError> {
    let bad = || KmsError::Crypto(format!("the stored {spec} key does not parse"));
    if rsa_size(spec).is_some() {
        let kp = RsaKeyPair::from_pkcs8(der).map_err(|_| bad())?;
        let spki: PublicKeyX509Der<'static> = kp
            .public_key()
            .as_der()
            .map_err(|_| internal("public key encoding"))?;
        return Ok(spki.as_ref().to_vec());
    }
    if let Some(alg) = ecdsa_signing(spec) {
        let kp = EcdsaKeyPair::from_pkcs8(alg, der).map_err(|_| bad())?;
        let spki: PublicKeyX509Der<'static> = kp
            .public_key()
            .as_der()
            .map_err(|_| internal("public key encoding"))?;
        return Ok(spki.as_ref().to_vec());
    }
    if spec == KeySpec::EccNistEdwards25519 {
        let kp = Ed25519KeyPair::from_pkcs8(der).map_err(|_| bad())?;
        let spki: PublicKeyX509Der<'static> = kp
            .public_key()
            .as_der()
            .map_err(|_| internal("public key encoding"))?;
        return Ok(spki.as_ref().to_vec());
    }
    if let Some((alg, _)) = ml_dsa(spec) {
        let kp = PqdsaKeyPair::from_pkcs8(alg, der).map_err(|_| bad())?;
        let spki: PublicKeyX509Der<'static> = kp
            .public_key()
            .as_der()
            .map_err(|_| internal("public key encoding"))?;
        return Ok(spki.as_ref().to_vec());
    }
    if ml_kem(spec).is_some() {
        let public = encapsulation_key(spec, der)?;
        let raw = public
            .key_bytes()
            .map_err(|_| internal("public key encoding"))?;
        return Ok(ml_kem_spki(spec, raw.as_ref()));
    }
    Err(KmsError::InvalidKeyUsage(format!(
        "a {spec} key has no public key"
    )))
}

fn oaep(algorithm: &str) -> Result<&'static OaepAlgorithm, KmsError> {
    match algorithm {
        "RSAES_OAEP_SHA_1" => Ok(&OAEP_SHA1_MGF1SHA1),
        "RSAES_OAEP_SHA_256" => Ok(&OAEP_SHA256_MGF1SHA256),
        other => Err(KmsError::InvalidKeyUsage(format!(
            "encryption algorithm {other} is not supported by RSA keys"
        ))),
    }
}

pub(crate) fn rsa_encrypt(
    spec: KeySpec,
    der: &[u8],
    algorithm: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let alg = oaep(algorithm)?;
    let private = PrivateDecryptingKey::from_pkcs8(der).map_err(|_| internal("rsa key parsing"))?;
    let public = OaepPublicEncryptingKey::new(private.public_key())
        .map_err(|_| internal("rsa public key"))?;
    let max = public.max_plaintext_size(alg);
    if plaintext.len() > max {
        return Err(KmsError::Validation(format!(
            "Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {max} bytes."
        )));
    }
    let mut out = vec![0u8; public.ciphertext_size()];
    let n = public
        .encrypt(alg, plaintext, &mut out, None)
        .map_err(|_| internal("rsa encryption"))?
        .len();
    out.truncate(n);
    Ok(out)
}

pub(crate) fn rsa_decrypt(
    der: &[u8],
    algorithm: &str,
    ciphertext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let alg = oaep(algorithm)?;
    let private = PrivateDecryptingKey::from_pkcs8(der).map_err(|_| internal("rsa key parsing"))?;
    let key = OaepPrivateDecryptingKey::new(private).map_err(|_| internal("rsa key"))?;
    let mut out = vec![0u8; key.min_output_size()];
    let n = key
        .decrypt(alg, ciphertext, &mut out, None)
        .map_err(|_| KmsError::InvalidCiphertext)?
        .len();
    out.truncate(n);
    Ok(out)
}

/// Encrypts with a bare SPKI public key (tests; import wrapping on the client side).
pub fn rsa_encrypt_with_public(
    spki: &[u8],
    algorithm: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let alg = oaep(algorithm)?;
    let public = PublicEncryptingKey::from_der(spki)
        .map_err(|_| KmsError::Validation("the public key is not an RSA key".into()))?;
    let public = OaepPublicEncryptingKey::new(public).map_err(|_| internal("rsa public key"))?;
    let mut out = vec![0u8; public.ciphertext_size()];
    let n = public
        .encrypt(alg, plaintext, &mut out, None)
        .map_err(|_| internal("rsa encryption"))?
        .len();
    out.truncate(n);
    Ok(out)
}

struct SigningAlg {
    digest: &'static digest::Algorithm,
    rsa: Option<(
        &'static dyn signature::RsaEncoding,
        &'static signature::RsaParameters,
    )>,
    ecdsa: Option<(KeySpec, &'static signature::EcdsaVerificationAlgorithm)>,
}

fn signing_alg(spec: KeySpec, algorithm: &str) -> Result<SigningAlg, KmsError> {
    let rsa = |digest, enc, params| SigningAlg {
        digest,
        rsa: Some((enc, params)),
        ecdsa: None,
    };
    let ec = |digest, curve, verify| SigningAlg {
        digest,
        rsa: None,
        ecdsa: Some((curve, verify)),
    };
    let alg = match algorithm {
        "RSASSA_PSS_SHA_256" => rsa(
            &digest::SHA256,
            &signature::RSA_PSS_SHA256 as _,
            &signature::RSA_PSS_2048_8192_SHA256,
        ),
        "RSASSA_PSS_SHA_384" => rsa(
            &digest::SHA384,
            &signature::RSA_PSS_SHA384 as _,
            &signature::RSA_PSS_2048_8192_SHA384,
        ),
        "RSASSA_PSS_SHA_512" => rsa(
            &digest::SHA512,
            &signature::RSA_PSS_SHA512 as _,
            &signature::RSA_PSS_2048_8192_SHA512,
        ),
        "RSASSA_PKCS1_V1_5_SHA_256" => rsa(
            &digest::SHA256,
            &signature::RSA_PKCS1_SHA256 as _,
            &signature::RSA_PKCS1_2048_8192_SHA256,
        ),
        "RSASSA_PKCS1_V1_5_SHA_384" => rsa(
            &digest::SHA384,
            &signature::RSA_PKCS1_SHA384 as _,
            &signature::RSA_PKCS1_2048_8192_SHA384,
        ),
        "RSASSA_PKCS1_V1_5_SHA_512" => rsa(
            &digest::SHA512,
            &signature::RSA_PKCS1_SHA512 as _,
            &signature::RSA_PKCS1_2048_8192_SHA512,
        ),
        "ECDSA_SHA_256" if spec == KeySpec::EccSecgP256k1 => {
            ec(&digest::SHA256, spec, &signature::ECDSA_P256K1_SHA256_ASN1)
        }
        "ECDSA_SHA_256" => ec(
            &digest::SHA256,
            KeySpec::EccNistP256,
            &signature::ECDSA_P256_SHA256_ASN1,
        ),
        "ECDSA_SHA_384" => ec(
            &digest::SHA384,
            KeySpec::EccNistP384,
            &signature::ECDSA_P384_SHA384_ASN1,
        ),
        "ECDSA_SHA_512" => ec(
            &digest::SHA512,
            KeySpec::EccNistP521,
            &signature::ECDSA_P521_SHA512_ASN1,
        ),
        // The model's algorithms of other key specs.
        "SM2DSA" | "ML_DSA_SHAKE_256" | "ED25519_SHA_512" | "ED25519_PH_SHA_512" => {
            return Err(incompatible(algorithm, spec));
        }
        other => {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'signingAlgorithm' failed to \
                 satisfy constraint: Member must satisfy enum value set"
            )));
        }
    };
    let fits = match alg.ecdsa {
        Some((curve, _)) => curve == spec,
        None => rsa_size(spec).is_some(),
    };
    if !fits {
        return Err(incompatible(algorithm, spec));
    }
    Ok(alg)
}

/// A signing algorithm of the model's that the key's spec cannot do: InvalidKeyUsageException
/// in AWS's words ("Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256."), as
/// for encryption and MAC algorithms (bug: it was a ValidationException on the member's enum,
/// which the algorithm satisfies).
fn incompatible(algorithm: &str, spec: KeySpec) -> KmsError {
    KmsError::InvalidKeyUsage(format!(
        "Algorithm {algorithm} is incompatible with key spec {spec}."
    ))
}

fn message_digest(
    alg: &SigningAlg,
    algorithm: &str,
    kind: MessageType,
    message: &[u8],
) -> Result<Digest, KmsError> {
    match kind {
        MessageType::Raw => Ok(digest::digest(alg.digest, message)),
        MessageType::Digest => {
            if message.len() != alg.digest.output_len() {
                return Err(KmsError::Validation(format!(
                    "Digest is invalid length for algorithm {algorithm}."
                )));
            }
            Digest::import_less_safe(message, alg.digest).map_err(|_| {
                KmsError::Validation(format!(
                    "Digest is invalid length for algorithm {algorithm}."
                ))
            })
        }
        MessageType::ExternalMu => Err(KmsError::Validation(format!(
            "MessageType EXTERNAL_MU is only valid for ML-DSA keys, not {algorithm}"
        ))),
    }
}

/// Ed25519 signs the message itself (PureEdDSA), so it takes RAW messages and its one
/// algorithm. AWS's other one for these keys, HashEdDSA over a digest (`ED25519_PH_SHA_512`),
/// is not supported (aws-lc-rs signs PureEdDSA only), which is said as such rather than as an
/// algorithm the key cannot do.
fn ed25519_checks(algorithm: &str, kind: MessageType) -> Result<(), KmsError> {
    if algorithm == "ED25519_PH_SHA_512" {
        return Err(KmsError::Unsupported(
            "ED25519_PH_SHA_512 (HashEdDSA over a digest; sign the message itself with \
             ED25519_SHA_512)"
                .to_owned(),
        ));
    }
    if algorithm != "ED25519_SHA_512" {
        return Err(incompatible(algorithm, KeySpec::EccNistEdwards25519));
    }
    if kind != MessageType::Raw {
        return Err(KmsError::Validation(
            "ED25519_SHA_512 signs the message itself: MessageType must be RAW".to_owned(),
        ));
    }
    Ok(())
}

/// ML-DSA signs the message itself with its one algorithm. AWS also takes an external µ
/// (`EXTERNAL_MU`), which aws-lc-rs cannot sign or verify.
fn ml_dsa_checks(spec: KeySpec, algorithm: &str, kind: MessageType) -> Result<(), KmsError> {
    if algorithm != "ML_DSA_SHAKE_256" {
        return Err(incompatible(algorithm, spec));
    }
    match kind {
        MessageType::Raw => Ok(()),
        MessageType::Digest => Err(KmsError::Validation(
            "ML_DSA_SHAKE_256 signs the message itself or its external mu: MessageType must \
             be RAW or EXTERNAL_MU"
                .to_owned(),
        )),
        MessageType::ExternalMu => Err(KmsError::Unsupported(
            "ML-DSA signatures of an external mu (MessageType EXTERNAL_MU); send the message \
             with MessageType RAW"
                .to_owned(),
        )),
    }
}

/// `EXTERNAL_MU` is ML-DSA's alone.
fn no_external_mu(spec: KeySpec, kind: MessageType) -> Result<(), KmsError> {
    if kind == MessageType::ExternalMu && !spec.is_ml_dsa() {
        return Err(KmsError::Validation(format!(
            "MessageType EXTERNAL_MU is only valid for ML-DSA keys, not {spec}"
        )));
    }
    Ok(())
}

pub(crate) fn sign(
    spec: KeySpec,
    der: &[u8],
    algorithm: &str,
    kind: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, KmsError> {
    no_external_mu(spec, kind)?;
    if let Some((alg, _)) = ml_dsa(spec) {
        ml_dsa_checks(spec, algorithm, kind)?;
        let kp = PqdsaKeyPair::from_pkcs8(alg, der).map_err(|_| internal("ml-dsa key parsing"))?;
        let mut sig = vec![0u8; alg.signature_len()];
        let n = kp
            .sign(message, &mut sig)
            .map_err(|_| internal("ml-dsa signing"))?;
        sig.truncate(n);
        return Ok(sig);
    }
    if spec == KeySpec::EccNistEdwards25519 {
        ed25519_checks(algorithm, kind)?;
        let kp = Ed25519KeyPair::from_pkcs8(der).map_err(|_| internal("ed25519 key parsing"))?;
        return Ok(kp.sign(message).as_ref().to_vec());
    }
    let alg = signing_alg(spec, algorithm)?;
    let digest = message_digest(&alg, algorithm, kind, message)?;
    if let Some((enc, _)) = alg.rsa {
        let kp = RsaKeyPair::from_pkcs8(der).map_err(|_| internal("rsa key parsing"))?;
        let mut sig = vec![0u8; kp.public_modulus_len()];
        kp.sign_digest(enc, &digest, &mut sig)
            .map_err(|_| internal("rsa signing"))?;
        return Ok(sig);
    }
    let signing = ecdsa_signing(spec).ok_or_else(|| internal("ecdsa algorithm"))?;
    let kp = EcdsaKeyPair::from_pkcs8(signing, der).map_err(|_| internal("ec key parsing"))?;
    let _ = SystemRandom::new();
    let sig = kp
        .sign_digest(&digest)
        .map_err(|_| internal("ecdsa signing"))?;
    Ok(sig.as_ref().to_vec())
}

pub(crate) fn verify(
    spec: KeySpec,
    der: &[u8],
    algorithm: &str,
    kind: MessageType,
    message: &[u8],
    sig: &[u8],
) -> Result<bool, KmsError> {
    no_external_mu(spec, kind)?;
    if let Some((alg, verification)) = ml_dsa(spec) {
        ml_dsa_checks(spec, algorithm, kind)?;
        let kp = PqdsaKeyPair::from_pkcs8(alg, der).map_err(|_| internal("ml-dsa key parsing"))?;
        let public = UnparsedPublicKey::new(verification, kp.public_key().as_ref());
        return Ok(public.verify(message, sig).is_ok());
    }
    if spec == KeySpec::EccNistEdwards25519 {
        ed25519_checks(algorithm, kind)?;
        let kp = Ed25519KeyPair::from_pkcs8(der).map_err(|_| internal("ed25519 key parsing"))?;
        let public = UnparsedPublicKey::new(&signature::ED25519, kp.public_key().as_ref());
        return Ok(public.verify(message, sig).is_ok());
    }
    let alg = signing_alg(spec, algorithm)?;
    let digest = message_digest(&alg, algorithm, kind, message)?;
    let spki = public_key_der(spec, der)?;
    let verification: &'static dyn VerificationAlgorithm = match (alg.rsa, alg.ecdsa) {
        (Some((_, params)), _) => params,
        (_, Some((_, v))) => v,
        _ => return Err(internal("verification algorithm")),
    };
    let key =
        ParsedPublicKey::new(verification, &spki).map_err(|_| internal("public key parsing"))?;
    Ok(key.verify_digest_sig(&digest, sig).is_ok())
}

fn hmac_alg(spec: KeySpec, algorithm: &str) -> Result<hmac::Algorithm, KmsError> {
    let (alg, want) = match algorithm {
        "HMAC_SHA_224" => (hmac::HMAC_SHA224, KeySpec::Hmac224),
        "HMAC_SHA_256" => (hmac::HMAC_SHA256, KeySpec::Hmac256),
        "HMAC_SHA_384" => (hmac::HMAC_SHA384, KeySpec::Hmac384),
        "HMAC_SHA_512" => (hmac::HMAC_SHA512, KeySpec::Hmac512),
        other => {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'macAlgorithm' failed to satisfy \
                 constraint: Member must satisfy enum value set"
            )));
        }
    };
    if want != spec {
        return Err(KmsError::InvalidKeyUsage(format!(
            "Algorithm {algorithm} is incompatible with key spec {spec}."
        )));
    }
    Ok(alg)
}

pub(crate) fn mac(
    spec: KeySpec,
    key: &[u8],
    algorithm: &str,
    message: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let alg = hmac_alg(spec, algorithm)?;
    Ok(hmac::sign(&hmac::Key::new(alg, key), message)
        .as_ref()
        .to_vec())
}

pub(crate) fn verify_mac(
    spec: KeySpec,
    key: &[u8],
    algorithm: &str,
    message: &[u8],
    tag: &[u8],
) -> Result<bool, KmsError> {
    let alg = hmac_alg(spec, algorithm)?;
    Ok(hmac::verify(&hmac::Key::new(alg, key), message, tag).is_ok())
}

fn agreement_alg(spec: KeySpec) -> Result<&'static agreement::Algorithm, KmsError> {
    match spec {
        KeySpec::EccNistP256 => Ok(&agreement::ECDH_P256),
        KeySpec::EccNistP384 => Ok(&agreement::ECDH_P384),
        KeySpec::EccNistP521 => Ok(&agreement::ECDH_P521),
        other => Err(KmsError::InvalidKeyUsage(format!(
            "a {other} key cannot derive shared secrets"
        ))),
    }
}

pub(crate) fn derive(spec: KeySpec, der: &[u8], peer_spki: &[u8]) -> Result<Vec<u8>, KmsError> {
    let alg = agreement_alg(spec)?;
    let point = peer_point(spec, peer_spki)?;
    let private = agreement::PrivateKey::from_private_key_der(alg, der)
        .map_err(|_| internal("ec key parsing"))?;
    let peer = agreement::UnparsedPublicKey::new(alg, point);
    agreement::agree(
        &private,
        peer,
        KmsError::Validation(format!(
            "the public key is not a valid point on the curve of {spec}"
        )),
        |k| Ok(k.to_vec()),
    )
}

/// The DER contents of `id-ecPublicKey`'s OID (1.2.840.10045.2.1).
const EC_PUBLIC_KEY_OID: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// The named curves of EC SubjectPublicKeyInfos, by their OIDs' DER contents: P-256
/// (1.2.840.10045.3.1.7), P-384 (1.3.132.0.34), P-521 (1.3.132.0.35), secp256k1 (1.3.132.0.10).
const CURVE_OIDS: &[(&[u8], KeySpec)] = &[
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        KeySpec::EccNistP256,
    ),
    (&[0x2b, 0x81, 0x04, 0x00, 0x22], KeySpec::EccNistP384),
    (&[0x2b, 0x81, 0x04, 0x00, 0x23], KeySpec::EccNistP521),
    (&[0x2b, 0x81, 0x04, 0x00, 0x0a], KeySpec::EccSecgP256k1),
];

/// One DER element of `input`: its tag, its contents and what follows it. Lengths up to two
/// bytes long: a public key is at most 8 KiB (the model's `PublicKeyType`).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let (bytes, rest) = rest.split_at_checked(usize::from(first & 0x7f))?;
        if bytes.is_empty() || bytes.len() > 2 {
            return None;
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

/// The peer's point from its public key, which must be what the model asks for: a DER-encoded
/// X.509 SubjectPublicKeyInfo (RFC 5280) of an EC key on the KMS key's curve. Each other input
/// gets its own ValidationException (bug: a bare X9.62 point was taken, as aws-lc-rs takes
/// one, and every failure was a bare "key agreement failed").
fn peer_point(spec: KeySpec, spki: &[u8]) -> Result<&[u8], KmsError> {
    if spki.starts_with(b"-----BEGIN") {
        return Err(KmsError::Validation(
            "the public key is PEM: DeriveSharedSecret takes the DER-encoded X.509 public key \
             (SubjectPublicKeyInfo, RFC 5280), the PEM's base64 body decoded"
                .to_owned(),
        ));
    }
    let not_spki = || {
        KmsError::Validation(
            "the public key must be a DER-encoded X.509 public key (SubjectPublicKeyInfo, \
             RFC 5280), as GetPublicKey returns; a bare elliptic curve point is not one"
                .to_owned(),
        )
    };
    let element = |input, want| match der_element(input) {
        Some((tag, contents, rest)) if tag == want => Ok((contents, rest)),
        _ => Err(not_spki()),
    };
    let (body, rest) = element(spki, 0x30)?;
    let (algorithm, body) = element(body, 0x30)?;
    let (bits, trailing) = element(body, 0x03)?;
    let (oid, parameters) = element(algorithm, 0x06)?;
    if !rest.is_empty() || !trailing.is_empty() {
        return Err(not_spki());
    }
    if oid != EC_PUBLIC_KEY_OID {
        return Err(KmsError::Validation(format!(
            "the public key is not an elliptic curve key: key agreement with {spec} needs a \
             public key on its curve"
        )));
    }
    let curve = element(parameters, 0x06)
        .ok()
        .and_then(|(curve, _)| CURVE_OIDS.iter().find(|(oid, _)| *oid == curve))
        .map(|(_, s)| *s);
    match curve {
        Some(curve) if curve == spec => {}
        Some(curve) => {
            return Err(KmsError::Validation(format!(
                "the public key's curve is that of {curve}, not {spec}: key agreement needs \
                 both keys on one curve"
            )));
        }
        None => {
            return Err(KmsError::Validation(format!(
                "the public key's curve is none KMS supports, not {spec}: key agreement needs \
                 both keys on one curve"
            )));
        }
    }
    // A BIT STRING of whole bytes: its first byte counts the unused bits, none here.
    match bits.split_first() {
        Some((0, point)) if !point.is_empty() => Ok(point),
        _ => Err(not_spki()),
    }
}

/// Unwraps imported key material (see [`crate::unwrap_imported`]).
pub(crate) fn unwrap(
    wrapping_der: &[u8],
    algorithm: &str,
    encrypted: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let bad = || {
        KmsError::NotUnwrapped(
            "the imported key material could not be unwrapped with the import parameters".into(),
        )
    };
    match algorithm {
        "RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256" => {
            rsa_decrypt(wrapping_der, algorithm, encrypted).map_err(|_| bad())
        }
        "RSA_AES_KEY_WRAP_SHA_1" | "RSA_AES_KEY_WRAP_SHA_256" => {
            let oaep_name = if algorithm.ends_with("SHA_1") {
                "RSAES_OAEP_SHA_1"
            } else {
                "RSAES_OAEP_SHA_256"
            };
            let private = PrivateDecryptingKey::from_pkcs8(wrapping_der).map_err(|_| bad())?;
            let split = private.key_size_bytes();
            let (wrapped_key, wrapped_material) =
                encrypted.split_at_checked(split).ok_or_else(bad)?;
            let aes = rsa_decrypt(wrapping_der, oaep_name, wrapped_key).map_err(|_| bad())?;
            let kek = match aes.len() {
                16 => AesKek::new(&AES_128, &aes),
                32 => AesKek::new(&AES_256, &aes),
                _ => return Err(bad()),
            }
            .map_err(|_| bad())?;
            let mut out = vec![0u8; wrapped_material.len()];
            let n = kek
                .unwrap_with_padding(wrapped_material, &mut out)
                .map_err(|_| bad())?
                .len();
            out.truncate(n);
            Ok(out)
        }
        other => Err(KmsError::Unsupported(format!("wrapping algorithm {other}"))),
    }
}

/// The client side of import: wraps material for the public wrapping key, as a KMS client would
/// (used by tests).
pub fn wrap_for_import(
    wrapping_spki: &[u8],
    algorithm: &str,
    material: &[u8],
) -> Result<Vec<u8>, KmsError> {
    match algorithm {
        "RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256" => {
            rsa_encrypt_with_public(wrapping_spki, algorithm, material)
        }
        "RSA_AES_KEY_WRAP_SHA_1" | "RSA_AES_KEY_WRAP_SHA_256" => {
            let oaep_name = if algorithm.ends_with("SHA_1") {
                "RSAES_OAEP_SHA_1"
            } else {
                "RSAES_OAEP_SHA_256"
            };
            let aes = crate::random_bytes(32)?;
            let mut out = rsa_encrypt_with_public(wrapping_spki, oaep_name, &aes)?;
            let kek = AesKek::new(&AES_256, &aes).map_err(|_| internal("aes key wrap"))?;
            let mut wrapped = vec![0u8; material.len() + 16];
            let n = kek
                .wrap_with_padding(material, &mut wrapped)
                .map_err(|_| internal("aes key wrap"))?
                .len();
            wrapped.truncate(n);
            out.extend_from_slice(&wrapped);
            Ok(out)
        }
        other => Err(KmsError::Unsupported(format!("wrapping algorithm {other}"))),
    }
}
