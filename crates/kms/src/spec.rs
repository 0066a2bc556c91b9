//! Key specs and key usages, with AWS's names.

use std::fmt;
use std::str::FromStr;

use crate::KmsError;

/// A key spec (`KeySpec`), minus SM2 (China Regions only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySpec {
    /// AES-256-GCM.
    SymmetricDefault,
    /// RSA 2048.
    Rsa2048,
    /// RSA 3072.
    Rsa3072,
    /// RSA 4096.
    Rsa4096,
    /// P-256.
    EccNistP256,
    /// P-384.
    EccNistP384,
    /// P-521.
    EccNistP521,
    /// secp256k1.
    EccSecgP256k1,
    /// HMAC-SHA-224.
    Hmac224,
    /// HMAC-SHA-256.
    Hmac256,
    /// HMAC-SHA-384.
    Hmac384,
    /// HMAC-SHA-512.
    Hmac512,
    /// Ed25519 (RFC 8032).
    EccNistEdwards25519,
    /// ML-KEM-512 (FIPS 203).
    MlKem512,
    /// ML-KEM-768 (FIPS 203).
    MlKem768,
    /// ML-KEM-1024 (FIPS 203).
    MlKem1024,
    /// ML-DSA-44 (FIPS 204).
    MlDsa44,
    /// ML-DSA-65 (FIPS 204).
    MlDsa65,
    /// ML-DSA-87 (FIPS 204).
    MlDsa87,
}

const NAMES: &[(KeySpec, &str)] = &[
    (KeySpec::SymmetricDefault, "SYMMETRIC_DEFAULT"),
    (KeySpec::Rsa2048, "RSA_2048"),
    (KeySpec::Rsa3072, "RSA_3072"),
    (KeySpec::Rsa4096, "RSA_4096"),
    (KeySpec::EccNistP256, "ECC_NIST_P256"),
    (KeySpec::EccNistP384, "ECC_NIST_P384"),
    (KeySpec::EccNistP521, "ECC_NIST_P521"),
    (KeySpec::EccSecgP256k1, "ECC_SECG_P256K1"),
    (KeySpec::Hmac224, "HMAC_224"),
    (KeySpec::Hmac256, "HMAC_256"),
    (KeySpec::Hmac384, "HMAC_384"),
    (KeySpec::Hmac512, "HMAC_512"),
    (KeySpec::EccNistEdwards25519, "ECC_NIST_EDWARDS25519"),
    (KeySpec::MlKem512, "ML_KEM_512"),
    (KeySpec::MlKem768, "ML_KEM_768"),
    (KeySpec::MlKem1024, "ML_KEM_1024"),
    (KeySpec::MlDsa44, "ML_DSA_44"),
    (KeySpec::MlDsa65, "ML_DSA_65"),
    (KeySpec::MlDsa87, "ML_DSA_87"),
];

impl KeySpec {
    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("SYMMETRIC_DEFAULT", |(_, n)| n)
    }
}

impl KeySpec {
    /// SYMMETRIC_DEFAULT.
    pub fn is_symmetric(self) -> bool {
        self == Self::SymmetricDefault
    }

    /// RSA_*.
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }

    /// ECC_*.
    pub fn is_ecc(self) -> bool {
        matches!(
            self,
            Self::EccNistP256 | Self::EccNistP384 | Self::EccNistP521 | Self::EccSecgP256k1
        )
    }

    /// HMAC_*.
    pub fn is_hmac(self) -> bool {
        matches!(
            self,
            Self::Hmac224 | Self::Hmac256 | Self::Hmac384 | Self::Hmac512
        )
    }

    /// ML_KEM_*.
    pub fn is_ml_kem(self) -> bool {
        matches!(self, Self::MlKem512 | Self::MlKem768 | Self::MlKem1024)
    }

    /// ML_DSA_*.
    pub fn is_ml_dsa(self) -> bool {
        matches!(self, Self::MlDsa44 | Self::MlDsa65 | Self::MlDsa87)
    }

    /// The key usages AWS allows for the spec; the first is the default.
    pub fn usages(self) -> &'static [KeyUsage] {
        match self {
            Self::SymmetricDefault => &[KeyUsage::EncryptDecrypt],
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => {
                &[KeyUsage::EncryptDecrypt, KeyUsage::SignVerify]
            }
            Self::EccNistP256 | Self::EccNistP384 | Self::EccNistP521 => {
                &[KeyUsage::SignVerify, KeyUsage::KeyAgreement]
            }
            Self::EccSecgP256k1
            | Self::EccNistEdwards25519
            | Self::MlDsa44
            | Self::MlDsa65
            | Self::MlDsa87 => &[KeyUsage::SignVerify],
            Self::Hmac224 | Self::Hmac256 | Self::Hmac384 | Self::Hmac512 => {
                &[KeyUsage::GenerateVerifyMac]
            }
            Self::MlKem512 | Self::MlKem768 | Self::MlKem1024 => {
                &[KeyUsage::EncapsulateDecapsulate]
            }
        }
    }

    /// `EncryptionAlgorithms` of DescribeKey.
    pub fn encryption_algorithms(self, usage: KeyUsage) -> &'static [&'static str] {
        match (self, usage) {
            (Self::SymmetricDefault, _) => &["SYMMETRIC_DEFAULT"],
            (s, KeyUsage::EncryptDecrypt) if s.is_rsa() => {
                &["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
            }
            _ => &[],
        }
    }

    /// `SigningAlgorithms` of DescribeKey.
    pub fn signing_algorithms(self, usage: KeyUsage) -> &'static [&'static str] {
        if usage != KeyUsage::SignVerify {
            return &[];
        }
        match self {
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &[
                "RSASSA_PKCS1_V1_5_SHA_256",
                "RSASSA_PKCS1_V1_5_SHA_384",
                "RSASSA_PKCS1_V1_5_SHA_512",
                "RSASSA_PSS_SHA_256",
                "RSASSA_PSS_SHA_384",
                "RSASSA_PSS_SHA_512",
            ],
            Self::EccNistP256 | Self::EccSecgP256k1 => &["ECDSA_SHA_256"],
            Self::EccNistP384 => &["ECDSA_SHA_384"],
            Self::EccNistP521 => &["ECDSA_SHA_512"],
            // Not ED25519_PH_SHA_512: aws-lc-rs offers pure Ed25519 only.
            Self::EccNistEdwards25519 => &["ED25519_SHA_512"],
            Self::MlDsa44 | Self::MlDsa65 | Self::MlDsa87 => &["ML_DSA_SHAKE_256"],
            _ => &[],
        }
    }

    /// `MacAlgorithms` of DescribeKey.
    pub fn mac_algorithms(self) -> &'static [&'static str] {
        match self {
            Self::Hmac224 => &["HMAC_SHA_224"],
            Self::Hmac256 => &["HMAC_SHA_256"],
            Self::Hmac384 => &["HMAC_SHA_384"],
            Self::Hmac512 => &["HMAC_SHA_512"],
            _ => &[],
        }
    }

    /// `KeyAgreementAlgorithms` of DescribeKey.
    pub fn key_agreement_algorithms(self, usage: KeyUsage) -> &'static [&'static str] {
        if usage == KeyUsage::KeyAgreement {
            &["ECDH"]
        } else {
            &[]
        }
    }
}

impl KeySpec {
    /// `EncapsulationAlgorithms` of DescribeKey.
    pub fn encapsulation_algorithms(self, usage: KeyUsage) -> &'static [&'static str] {
        if usage == KeyUsage::EncapsulateDecapsulate {
            &["ML_KEM"]
        } else {
            &[]
        }
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeySpec {
    type Err = KmsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NAMES
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(spec, _)| *spec)
            .ok_or_else(|| KmsError::Unsupported(format!("key spec {s}")))
    }
}

/// A key usage (`KeyUsageType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    /// Encrypt, Decrypt, ReEncrypt, data keys.
    EncryptDecrypt,
    /// Sign and Verify.
    SignVerify,
    /// GenerateMac and VerifyMac.
    GenerateVerifyMac,
    /// DeriveSharedSecret.
    KeyAgreement,
    /// Encapsulate and Decapsulate (ML-KEM).
    EncapsulateDecapsulate,
}

impl KeyUsage {
    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EncryptDecrypt => "ENCRYPT_DECRYPT",
            Self::SignVerify => "SIGN_VERIFY",
            Self::GenerateVerifyMac => "GENERATE_VERIFY_MAC",
            Self::KeyAgreement => "KEY_AGREEMENT",
            Self::EncapsulateDecapsulate => "ENCAPSULATE_DECAPSULATE",
        }
    }
}

impl FromStr for KeyUsage {
    type Err = KmsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ENCRYPT_DECRYPT" => Ok(Self::EncryptDecrypt),
            "SIGN_VERIFY" => Ok(Self::SignVerify),
            "GENERATE_VERIFY_MAC" => Ok(Self::GenerateVerifyMac),
            "KEY_AGREEMENT" => Ok(Self::KeyAgreement),
            "ENCAPSULATE_DECAPSULATE" => Ok(Self::EncapsulateDecapsulate),
            _ => Err(KmsError::Unsupported(format!("key usage {s}"))),
        }
    }
}
