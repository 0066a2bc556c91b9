//! Cryptographic primitives built on aws-lc-rs: the AES block, CMAC, AES-SIV and FF1, plus
//! the keyed hash and envelope encryption helpers used by the transforms.

pub mod aes;
pub mod ff1;
pub mod hmac;
pub mod siv;
