//! KMS semantics without HTTP: key specs and usages, key material, the ciphertext blob format,
//! and every cryptographic operation KMS offers, all through aws-lc-rs.
//!
//! The server crate owns keys' metadata, policies, grants and persistence; it hands this crate
//! the unsealed [`Material`] of a key and gets bytes back. Errors name the KMS error code they
//! map to ([`KmsError::code`]).

mod asym;
mod blob;
mod error;
mod spec;

pub use asym::{rsa_encrypt_with_public, wrap_for_import};
pub use blob::{MAX_PLAINTEXT, canonical_context};

pub use error::KmsError;
pub use spec::{KeySpec, KeyUsage};

use std::collections::BTreeMap;
use std::fmt;

/// An encryption context: string pairs bound to a ciphertext as additional authenticated data.
pub type EncryptionContext = BTreeMap<String, String>;

/// The secret material of one key version. Never printed; the bytes are what the server seals
/// (`palisade-seal`, purpose `KeyMaterial`) before they reach the store.
///
/// Encoding of [`Material::as_bytes`]: the raw key for symmetric and HMAC keys, PKCS#8 DER of the
/// private key for RSA and EC keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Material {
    spec: KeySpec,
    bytes: Vec<u8>,
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Material")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Material {
    /// Fresh material for a key of `spec`.
    pub fn generate(spec: KeySpec) -> Result<Self, KmsError> {
        let bytes = match spec {
            KeySpec::SymmetricDefault => random_bytes(32)?,
            KeySpec::Hmac224 => random_bytes(28)?,
            KeySpec::Hmac256 => random_bytes(32)?,
            KeySpec::Hmac384 => random_bytes(48)?,
            KeySpec::Hmac512 => random_bytes(64)?,
            _ => asym::generate_private(spec)?,
        };
        Ok(Self { spec, bytes })
    }

    /// Material read back (unsealed) or imported. Checks that the bytes fit the spec.
    pub fn from_bytes(spec: KeySpec, bytes: Vec<u8>) -> Result<Self, KmsError> {
        let n = bytes.len();
        let fits = match spec {
            KeySpec::SymmetricDefault => n == 32,
            // The lengths AWS accepts for imported HMAC keys.
            KeySpec::Hmac224 => (28..=64).contains(&n),
            KeySpec::Hmac256 => (32..=64).contains(&n),
            KeySpec::Hmac384 => (48..=128).contains(&n),
            KeySpec::Hmac512 => (64..=128).contains(&n),
            _ => {
                asym::check_private(spec, &bytes)?;
                true
            }
        };
        if !fits {
            return Err(KmsError::IncorrectKeyMaterial(format!(
                "{n} bytes of key material do not fit a {spec} key"
            )));
        }
        Ok(Self { spec, bytes })
    }

    /// The spec.
    pub fn spec(&self) -> KeySpec {
        self.spec
    }

    /// The encoded material (see the type's docs), for sealing.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The DER SubjectPublicKeyInfo of an asymmetric key (GetPublicKey).
    pub fn public_key_der(&self) -> Result<Vec<u8>, KmsError> {
        asym::public_key_der(self.spec, &self.bytes)
    }
}

/// What the cleartext header of a symmetric ciphertext blob says, read without decrypting: the
/// key and the version of its material that encrypted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader {
    /// The key id (a UUID, or `mrk-` and 32 hex digits for multi-Region keys).
    pub key_id: String,
    /// The material version within the key (0 for the first material; rotations add versions).
    pub material_version: u32,
}

/// Reads the header of a symmetric ciphertext blob. Anything that is not one of our blobs gets
/// `InvalidCiphertextException`.
pub fn read_header(blob: &[u8]) -> Result<BlobHeader, KmsError> {
    blob::read_header(blob)
}

/// Encrypts up to 4096 bytes under a symmetric key's material, binding the header and the
/// encryption context.
pub fn encrypt_symmetric(
    header: &BlobHeader,
    material: &Material,
    plaintext: &[u8],
    context: &EncryptionContext,
) -> Result<Vec<u8>, KmsError> {
    blob::encrypt(header, material, plaintext, context)
}

/// Decrypts a blob made by [`encrypt_symmetric`] with the material its header names. Any changed
/// byte, or a different context, gets `InvalidCiphertextException`.
pub fn decrypt_symmetric(
    blob: &[u8],
    material: &Material,
    context: &EncryptionContext,
) -> Result<Vec<u8>, KmsError> {
    blob::decrypt(blob, material, context)
}

/// RSAES-OAEP encryption with an RSA key's public half (`RSAES_OAEP_SHA_1` or `_SHA_256`).
pub fn rsa_encrypt(
    material: &Material,
    algorithm: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    asym::rsa_encrypt(material.spec, &material.bytes, algorithm, plaintext)
}

/// RSAES-OAEP decryption.
pub fn rsa_decrypt(
    material: &Material,
    algorithm: &str,
    ciphertext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    asym::rsa_decrypt(&material.bytes, algorithm, ciphertext)
}

/// Whether `message` is the message itself or its digest (KMS's `MessageType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// The message; KMS hashes it.
    Raw,
    /// Already the digest of the algorithm's hash; its length must match.
    Digest,
    /// ML-DSA's message representative µ, computed by the caller (FIPS 204, external µ).
    ExternalMu,
}

/// Signs with an asymmetric key (`SigningAlgorithmSpec`). ECDSA signatures are DER, as KMS's.
pub fn sign(
    material: &Material,
    algorithm: &str,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, KmsError> {
    asym::sign(
        material.spec,
        &material.bytes,
        algorithm,
        message_type,
        message,
    )
}

/// Verifies a signature; `Ok(false)` when it does not match (KMSInvalidSignatureException).
pub fn verify(
    material: &Material,
    algorithm: &str,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, KmsError> {
    asym::verify(
        material.spec,
        &material.bytes,
        algorithm,
        message_type,
        message,
        signature,
    )
}

/// HMAC with an HMAC key (`MacAlgorithmSpec`).
pub fn generate_mac(
    material: &Material,
    algorithm: &str,
    message: &[u8],
) -> Result<Vec<u8>, KmsError> {
    asym::mac(material.spec, &material.bytes, algorithm, message)
}

/// Constant-time MAC check; `Ok(false)` when it does not match (KMSInvalidMacException).
pub fn verify_mac(
    material: &Material,
    algorithm: &str,
    message: &[u8],
    mac: &[u8],
) -> Result<bool, KmsError> {
    asym::verify_mac(material.spec, &material.bytes, algorithm, message, mac)
}

/// A fresh key pair for GenerateDataKeyPair: (PKCS#8 DER private key, SPKI DER public key).
pub fn generate_data_key_pair(spec: KeySpec) -> Result<(Vec<u8>, Vec<u8>), KmsError> {
    if spec.is_symmetric() || spec.is_hmac() {
        return Err(KmsError::Validation(format!(
            "{spec} is not a key pair spec"
        )));
    }
    if spec.is_ml_kem() {
        // Its private key would have to leave as PKCS#8, whose ML-KEM form aws-lc-rs does not
        // write; handing out the raw FIPS 203 key instead would mislead every client.
        return Err(KmsError::Unsupported(format!(
            "KeyPairSpec {spec} (its private key's PKCS#8 seed form)"
        )));
    }
    let private = asym::generate_private(spec)?;
    let public = asym::public_key_der(spec, &private)?;
    Ok((private, public))
}

/// ML-KEM Encapsulate with an ENCAPSULATE_DECAPSULATE key: (ciphertext, shared secret).
pub fn encapsulate(material: &Material) -> Result<(Vec<u8>, Vec<u8>), KmsError> {
    asym::encapsulate(material.spec, &material.bytes)
}

/// ML-KEM Decapsulate: the shared secret a ciphertext of [`encapsulate`] carries.
pub fn decapsulate(material: &Material, ciphertext: &[u8]) -> Result<Vec<u8>, KmsError> {
    asym::decapsulate(material.spec, &material.bytes, ciphertext)
}

/// ECDH with a KEY_AGREEMENT key and the peer's SPKI DER public key (DeriveSharedSecret).
pub fn derive_shared_secret(
    material: &Material,
    peer_public_der: &[u8],
) -> Result<Vec<u8>, KmsError> {
    asym::derive(material.spec, &material.bytes, peer_public_der)
}

/// Unwraps key material imported with ImportKeyMaterial: `wrapping` is the RSA private key made
/// for GetParametersForImport, `algorithm` its `AlgorithmSpec` (`RSAES_PKCS1_V1_5`,
/// `RSAES_OAEP_SHA_1`, `RSAES_OAEP_SHA_256`, `RSA_AES_KEY_WRAP_SHA_1`, `RSA_AES_KEY_WRAP_SHA_256`),
/// and the result the material for a key of `spec`.
pub fn unwrap_imported(
    wrapping: &Material,
    algorithm: &str,
    encrypted: &[u8],
    spec: KeySpec,
) -> Result<Material, KmsError> {
    let bytes = asym::unwrap(&wrapping.bytes, algorithm, encrypted)?;
    Material::from_bytes(spec, bytes)
}

/// `n` random bytes (GenerateRandom, data keys).
pub fn random_bytes(n: usize) -> Result<Vec<u8>, KmsError> {
    let mut out = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut out)
        .map_err(|_| KmsError::Crypto("the random generator failed".into()))?;
    Ok(out)
}

/// A fresh RSA wrapping key for GetParametersForImport (`WrappingKeySpec`).
pub fn wrapping_key(spec: &str) -> Result<Material, KmsError> {
    let spec = match spec {
        "RSA_2048" => KeySpec::Rsa2048,
        "RSA_3072" => KeySpec::Rsa3072,
        "RSA_4096" => KeySpec::Rsa4096,
        other => return Err(KmsError::Unsupported(format!("wrapping key spec {other}"))),
    };
    Material::generate(spec)
}

impl Drop for Material {
    fn drop(&mut self) {
        // Best effort: key bytes should not linger in freed memory.
        self.bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ml_dsa_signs_the_raw_message_its_public_key_verifies_and_refuses_the_rest() {
        for (spec, sig_len) in [
            (KeySpec::MlDsa44, 2420),
            (KeySpec::MlDsa65, 3309),
            (KeySpec::MlDsa87, 4627),
        ] {
            // Stored as a PKCS#8 seed and read back, as the store does.
            let m = Material::generate(spec).unwrap();
            let m = Material::from_bytes(spec, m.as_bytes().to_vec()).unwrap();
            let sig = sign(&m, "ML_DSA_SHAKE_256", MessageType::Raw, b"hello").unwrap();
            assert_eq!(sig.len(), sig_len, "{spec}");
            assert!(verify(&m, "ML_DSA_SHAKE_256", MessageType::Raw, b"hello", &sig).unwrap());
            assert!(!verify(&m, "ML_DSA_SHAKE_256", MessageType::Raw, b"hellO", &sig).unwrap());
            let verifier = match spec {
                KeySpec::MlDsa44 => &aws_lc_rs::signature::ML_DSA_44,
                KeySpec::MlDsa65 => &aws_lc_rs::signature::ML_DSA_65,
                _ => &aws_lc_rs::signature::ML_DSA_87,
            };
            let spki = m.public_key_der().unwrap();
            let outside = aws_lc_rs::signature::UnparsedPublicKey::new(verifier, &spki);
            assert!(outside.verify(b"hello", &sig).is_ok());
            assert!(sign(&m, "ML_DSA_SHAKE_256", MessageType::Digest, &[0; 64]).is_err());
            assert!(matches!(
                sign(&m, "ML_DSA_SHAKE_256", MessageType::ExternalMu, &[0; 64]),
                Err(KmsError::Unsupported(_))
            ));
            assert!(sign(&m, "ECDSA_SHA_256", MessageType::Raw, b"hello").is_err());
        }
        let p256 = Material::generate(KeySpec::EccNistP256).unwrap();
        assert!(matches!(
            sign(&p256, "ECDSA_SHA_256", MessageType::ExternalMu, &[0; 64]),
            Err(KmsError::Validation(_))
        ));
    }

    #[test]
    fn ed25519_signs_the_raw_message_and_refuses_digests_and_other_algorithms() {
        let m = Material::generate(KeySpec::EccNistEdwards25519).unwrap();
        let m = Material::from_bytes(KeySpec::EccNistEdwards25519, m.as_bytes().to_vec()).unwrap();
        let sig = sign(&m, "ED25519_SHA_512", MessageType::Raw, b"hello").unwrap();
        assert_eq!(sig.len(), 64);
        assert!(verify(&m, "ED25519_SHA_512", MessageType::Raw, b"hello", &sig).unwrap());
        assert!(!verify(&m, "ED25519_SHA_512", MessageType::Raw, b"hellO", &sig).unwrap());
        // The SubjectPublicKeyInfo ends with the 32-byte key an outside verifier checks with.
        let spki = m.public_key_der().unwrap();
        assert_eq!(spki.len(), 44);
        let outside = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ED25519,
            &spki[12..],
        );
        assert!(outside.verify(b"hello", &sig).is_ok());
        assert!(sign(&m, "ED25519_SHA_512", MessageType::Digest, &[0; 64]).is_err());
        assert!(sign(&m, "ECDSA_SHA_256", MessageType::Raw, b"hello").is_err());
        assert_eq!(
            KeySpec::EccNistEdwards25519.signing_algorithms(KeyUsage::SignVerify),
            &["ED25519_SHA_512"]
        );
    }

    #[test]
    fn ml_kem_shares_a_secret_through_its_ciphertext_for_every_spec() {
        for (spec, public_len, ct_len, arc) in [
            (KeySpec::MlKem512, 800, 768, 1u8),
            (KeySpec::MlKem768, 1184, 1088, 2),
            (KeySpec::MlKem1024, 1568, 1568, 3),
        ] {
            let m = Material::generate(spec).unwrap();
            // Stored material reads back as the same key.
            let m = Material::from_bytes(spec, m.as_bytes().to_vec()).unwrap();
            let (ct, secret) = encapsulate(&m).unwrap();
            assert_eq!((ct.len(), secret.len()), (ct_len, 32));
            assert_eq!(decapsulate(&m, &ct).unwrap(), secret);
            // Implicit rejection: a changed ciphertext gives another secret, not an error.
            let mut bad = ct.clone();
            bad[0] ^= 1;
            assert_ne!(decapsulate(&m, &bad).unwrap(), secret);
            assert!(matches!(
                decapsulate(&m, &ct[1..]),
                Err(KmsError::InvalidCiphertext)
            ));
            // SubjectPublicKeyInfo: the NIST OID 2.16.840.1.101.3.4.4.<arc>, then the raw key.
            let spki = m.public_key_der().unwrap();
            let oid = [
                0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, arc,
            ];
            assert_eq!(spki[0], 0x30);
            assert!(spki.windows(oid.len()).any(|w| w == oid));
            assert_eq!(spki.len(), 4 + 2 + oid.len() + 4 + 1 + public_len);
            assert_eq!(spec.usages(), &[KeyUsage::EncapsulateDecapsulate]);
        }
        assert!(Material::from_bytes(KeySpec::MlKem768, vec![0; 10]).is_err());
    }

    #[test]
    fn signatures_verify_for_every_spec_and_algorithm_and_digest_mode() {
        use aws_lc_rs::digest;
        let cases: &[(KeySpec, &[&str])] = &[
            (
                KeySpec::Rsa2048,
                &[
                    "RSASSA_PSS_SHA_256",
                    "RSASSA_PSS_SHA_384",
                    "RSASSA_PSS_SHA_512",
                    "RSASSA_PKCS1_V1_5_SHA_256",
                    "RSASSA_PKCS1_V1_5_SHA_384",
                    "RSASSA_PKCS1_V1_5_SHA_512",
                ],
            ),
            (KeySpec::EccNistP256, &["ECDSA_SHA_256"]),
            (KeySpec::EccNistP384, &["ECDSA_SHA_384"]),
            (KeySpec::EccNistP521, &["ECDSA_SHA_512"]),
            (KeySpec::EccSecgP256k1, &["ECDSA_SHA_256"]),
        ];
        for (spec, algs) in cases {
            let m = Material::generate(*spec).unwrap();
            assert!(!m.public_key_der().unwrap().is_empty());
            for alg in *algs {
                let sig = sign(&m, alg, MessageType::Raw, b"message").unwrap();
                assert!(
                    verify(&m, alg, MessageType::Raw, b"message", &sig).unwrap(),
                    "{spec} {alg}"
                );
                assert!(!verify(&m, alg, MessageType::Raw, b"other", &sig).unwrap());
                let d = match alg.rsplit('_').next().unwrap() {
                    "256" => digest::digest(&digest::SHA256, b"message"),
                    "384" => digest::digest(&digest::SHA384, b"message"),
                    _ => digest::digest(&digest::SHA512, b"message"),
                };
                assert!(
                    verify(&m, alg, MessageType::Digest, d.as_ref(), &sig).unwrap(),
                    "{spec} {alg} digest"
                );
                let e = sign(&m, alg, MessageType::Digest, b"short").unwrap_err();
                assert_eq!(
                    e.to_string(),
                    format!("Digest is invalid length for algorithm {alg}.")
                );
            }
        }
        let p256 = Material::generate(KeySpec::EccNistP256).unwrap();
        let e = sign(&p256, "ECDSA_SHA_384", MessageType::Raw, b"m").unwrap_err();
        // Bug: a ValidationException on the member's enum, which the algorithm satisfies.
        assert_eq!(e.code(), "InvalidKeyUsageException");
        assert_eq!(
            e.to_string(),
            "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256."
        );
        for (spec, alg) in [
            (KeySpec::Rsa2048, "ECDSA_SHA_256"),
            (KeySpec::EccSecgP256k1, "RSASSA_PSS_SHA_256"),
            (KeySpec::EccNistEdwards25519, "ECDSA_SHA_256"),
            (KeySpec::MlDsa44, "ED25519_SHA_512"),
        ] {
            let m = Material::generate(spec).unwrap();
            let e = verify(&m, alg, MessageType::Raw, b"m", &[0; 64]).unwrap_err();
            assert_eq!(
                e,
                KmsError::InvalidKeyUsage(format!(
                    "Algorithm {alg} is incompatible with key spec {spec}."
                ))
            );
        }
    }

    #[test]
    fn rsa_oaep_round_trips_and_enforces_awss_size_limit() {
        let m = Material::generate(KeySpec::Rsa2048).unwrap();
        for alg in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] {
            let ct = rsa_encrypt(&m, alg, b"hello").unwrap();
            assert_eq!(rsa_decrypt(&m, alg, &ct).unwrap(), b"hello");
        }
        let e = rsa_encrypt(&m, "RSAES_OAEP_SHA_1", &[0; 215]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Algorithm RSAES_OAEP_SHA_1 and key spec RSA_2048 cannot encrypt data larger than 214 bytes."
        );
    }

    #[test]
    fn hmac_and_ecdh_and_key_pairs() {
        let h = Material::generate(KeySpec::Hmac256).unwrap();
        let tag = generate_mac(&h, "HMAC_SHA_256", b"m").unwrap();
        assert!(verify_mac(&h, "HMAC_SHA_256", b"m", &tag).unwrap());
        assert!(!verify_mac(&h, "HMAC_SHA_256", b"n", &tag).unwrap());
        assert!(generate_mac(&h, "HMAC_SHA_512", b"m").is_err());
        let a = Material::generate(KeySpec::EccNistP256).unwrap();
        let b = Material::generate(KeySpec::EccNistP256).unwrap();
        let s1 = derive_shared_secret(&a, &b.public_key_der().unwrap()).unwrap();
        let s2 = derive_shared_secret(&b, &a.public_key_der().unwrap()).unwrap();
        assert_eq!(s1, s2);
        assert_eq!(s1.len(), 32);
        // The peer's key is a DER SubjectPublicKeyInfo of the same curve, nothing else (bug: a
        // bare X9.62 point was taken, and every failure said only "key agreement failed").
        let spki = b.public_key_der().unwrap();
        let point = &spki[spki.len() - 65..];
        let refused = |peer: &[u8]| match derive_shared_secret(&a, peer) {
            Err(KmsError::Validation(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(refused(point).contains("a bare elliptic curve point is not one"));
        assert!(refused(b"-----BEGIN PUBLIC KEY-----\nMFkw").contains("PEM"));
        let mut trailing = spki.clone();
        trailing.push(0);
        assert!(refused(&trailing).contains("SubjectPublicKeyInfo"));
        let p384 = Material::generate(KeySpec::EccNistP384).unwrap();
        assert_eq!(
            refused(&p384.public_key_der().unwrap()),
            "the public key's curve is that of ECC_NIST_P384, not ECC_NIST_P256: key agreement \
             needs both keys on one curve"
        );
        let rsa = Material::generate(KeySpec::Rsa2048).unwrap();
        assert!(
            refused(&rsa.public_key_der().unwrap())
                .starts_with("the public key is not an elliptic curve key")
        );
        let mut off_curve = spki.clone();
        let last = off_curve.len() - 1;
        off_curve[last] ^= 1;
        assert_eq!(
            refused(&off_curve),
            "the public key is not a valid point on the curve of ECC_NIST_P256"
        );
        let (private, public) = generate_data_key_pair(KeySpec::EccNistP384).unwrap();
        let m = Material::from_bytes(KeySpec::EccNistP384, private).unwrap();
        assert_eq!(m.public_key_der().unwrap(), public);
    }

    #[test]
    fn imported_material_unwraps_with_every_wrapping_algorithm() {
        let wrapping = wrapping_key("RSA_2048").unwrap();
        let spki = wrapping.public_key_der().unwrap();
        let material = random_bytes(32).unwrap();
        for alg in [
            "RSAES_OAEP_SHA_1",
            "RSAES_OAEP_SHA_256",
            "RSA_AES_KEY_WRAP_SHA_1",
            "RSA_AES_KEY_WRAP_SHA_256",
        ] {
            let wrapped = wrap_for_import(&spki, alg, &material).unwrap();
            let m = unwrap_imported(&wrapping, alg, &wrapped, KeySpec::SymmetricDefault).unwrap();
            assert_eq!(m.as_bytes(), material.as_slice(), "{alg}");
        }
        let wrong = wrap_for_import(&spki, "RSAES_OAEP_SHA_1", &material[..16]).unwrap();
        assert_eq!(
            unwrap_imported(
                &wrapping,
                "RSAES_OAEP_SHA_1",
                &wrong,
                KeySpec::SymmetricDefault
            )
            .unwrap_err()
            .code(),
            "IncorrectKeyMaterialException"
        );
    }
}
