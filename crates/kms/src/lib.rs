//! KMS semantics without HTTP: key specs and usages, key material, the ciphertext blob format,
//! and every cryptographic operation KMS offers, all through aws-lc-rs.
//!
//! The server crate owns keys' metadata, policies, grants and persistence; it hands this crate
//! the unsealed [`Material`] of a key and gets bytes back. Errors name the KMS error code they
//! map to ([`KmsError::code`]).

mod error;
mod spec;

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
        Err(KmsError::Unsupported(format!("generating {spec} material")))
    }

    /// Material read back (unsealed) or imported. Checks that the bytes fit the spec.
    pub fn from_bytes(spec: KeySpec, bytes: Vec<u8>) -> Result<Self, KmsError> {
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
        Err(KmsError::Unsupported("public keys".into()))
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
    let _ = blob;
    Err(KmsError::InvalidCiphertext)
}

/// Encrypts up to 4096 bytes under a symmetric key's material, binding the header and the
/// encryption context.
pub fn encrypt_symmetric(
    header: &BlobHeader,
    material: &Material,
    plaintext: &[u8],
    context: &EncryptionContext,
) -> Result<Vec<u8>, KmsError> {
    let _ = (header, material, plaintext, context);
    Err(KmsError::Unsupported("symmetric encryption".into()))
}

/// Decrypts a blob made by [`encrypt_symmetric`] with the material its header names. Any changed
/// byte, or a different context, gets `InvalidCiphertextException`.
pub fn decrypt_symmetric(
    blob: &[u8],
    material: &Material,
    context: &EncryptionContext,
) -> Result<Vec<u8>, KmsError> {
    let _ = (blob, material, context);
    Err(KmsError::InvalidCiphertext)
}

/// RSAES-OAEP encryption with an RSA key's public half (`RSAES_OAEP_SHA_1` or `_SHA_256`).
pub fn rsa_encrypt(
    material: &Material,
    algorithm: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let _ = (material, algorithm, plaintext);
    Err(KmsError::Unsupported("rsa encryption".into()))
}

/// RSAES-OAEP decryption.
pub fn rsa_decrypt(
    material: &Material,
    algorithm: &str,
    ciphertext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let _ = (material, algorithm, ciphertext);
    Err(KmsError::InvalidCiphertext)
}

/// Whether `message` is the message itself or its digest (KMS's `MessageType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// The message; KMS hashes it.
    Raw,
    /// Already the digest of the algorithm's hash; its length must match.
    Digest,
}

/// Signs with an asymmetric key (`SigningAlgorithmSpec`). ECDSA signatures are DER, as KMS's.
pub fn sign(
    material: &Material,
    algorithm: &str,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let _ = (material, algorithm, message_type, message);
    Err(KmsError::Unsupported("signing".into()))
}

/// Verifies a signature; `Ok(false)` when it does not match (KMSInvalidSignatureException).
pub fn verify(
    material: &Material,
    algorithm: &str,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, KmsError> {
    let _ = (material, algorithm, message_type, message, signature);
    Err(KmsError::Unsupported("verification".into()))
}

/// HMAC with an HMAC key (`MacAlgorithmSpec`).
pub fn generate_mac(
    material: &Material,
    algorithm: &str,
    message: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let _ = (material, algorithm, message);
    Err(KmsError::Unsupported("macs".into()))
}

/// Constant-time MAC check; `Ok(false)` when it does not match (KMSInvalidMacException).
pub fn verify_mac(
    material: &Material,
    algorithm: &str,
    message: &[u8],
    mac: &[u8],
) -> Result<bool, KmsError> {
    let _ = (material, algorithm, message, mac);
    Err(KmsError::Unsupported("macs".into()))
}

/// A fresh key pair for GenerateDataKeyPair: (PKCS#8 DER private key, SPKI DER public key).
pub fn generate_data_key_pair(spec: KeySpec) -> Result<(Vec<u8>, Vec<u8>), KmsError> {
    Err(KmsError::Unsupported(format!("data key pairs of {spec}")))
}

/// ECDH with a KEY_AGREEMENT key and the peer's SPKI DER public key (DeriveSharedSecret).
pub fn derive_shared_secret(
    material: &Material,
    peer_public_der: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let _ = (material, peer_public_der);
    Err(KmsError::Unsupported("key agreement".into()))
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
    let _ = (wrapping, algorithm, encrypted, spec);
    Err(KmsError::Unsupported("key import".into()))
}

/// `n` random bytes (GenerateRandom, data keys).
pub fn random_bytes(n: usize) -> Result<Vec<u8>, KmsError> {
    let mut out = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut out)
        .map_err(|_| KmsError::Crypto("the random generator failed".into()))?;
    Ok(out)
}
