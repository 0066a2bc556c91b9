//! The AES block function (FIPS 197) over aws-lc-rs ECB, plus AES-CMAC (SP 800-38B).
//!
//! FF1 and AES-SIV need only the forward cipher on single blocks; aws-lc-rs exposes that as
//! ECB, which keeps the expanded key schedule in the key object, so a block costs one call.

use aws_lc_rs::cipher::{AES_128, AES_192, AES_256, EncryptingKey, UnboundCipherKey};

use crate::error::CryptoError;

/// One AES block.
pub type Block = [u8; 16];

/// A forward-only AES key (128, 192 or 256 bits).
pub struct Aes {
    key: EncryptingKey,
}

impl std::fmt::Debug for Aes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Aes").finish_non_exhaustive()
    }
}

impl Aes {
    /// A key of 16, 24 or 32 bytes.
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let alg = match key.len() {
            16 => &AES_128,
            24 => &AES_192,
            32 => &AES_256,
            n => {
                return Err(CryptoError::KeyLength {
                    expected: "16, 24 or 32",
                    got: n,
                });
            }
        };
        let unbound =
            UnboundCipherKey::new(alg, key).map_err(|_| CryptoError::Backend("aes key"))?;
        let key = EncryptingKey::ecb(unbound).map_err(|_| CryptoError::Backend("aes ecb"))?;
        Ok(Self { key })
    }

    /// Encrypts one block in place.
    pub fn encrypt_block(&self, block: &mut Block) -> Result<(), CryptoError> {
        self.key
            .encrypt(block)
            .map(|_| ())
            .map_err(|_| CryptoError::Backend("aes block"))
    }

    /// Encrypts whole blocks in place (`buf.len()` a multiple of 16).
    pub fn encrypt_blocks(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        if buf.is_empty() {
            return Ok(());
        }
        self.key
            .encrypt(buf)
            .map(|_| ())
            .map_err(|_| CryptoError::Backend("aes blocks"))
    }
}

/// Doubling in GF(2^128) with the CMAC/S2V polynomial x^128 + x^7 + x^2 + x + 1.
pub fn dbl(b: Block) -> Block {
    let v = u128::from_be_bytes(b);
    let r = (v << 1) ^ if v >> 127 == 1 { 0x87 } else { 0 };
    r.to_be_bytes()
}

/// XOR of two blocks.
pub fn xor(a: Block, b: Block) -> Block {
    (u128::from_be_bytes(a) ^ u128::from_be_bytes(b)).to_be_bytes()
}

/// AES-CMAC with precomputed subkeys.
#[derive(Debug)]
pub struct Cmac {
    aes: Aes,
    k1: Block,
    k2: Block,
}

impl Cmac {
    /// CMAC under `key` (16, 24 or 32 bytes).
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let aes = Aes::new(key)?;
        let mut l = [0u8; 16];
        aes.encrypt_block(&mut l)?;
        let k1 = dbl(l);
        let k2 = dbl(k1);
        Ok(Self { aes, k1, k2 })
    }

    /// The 16-byte tag of `msg`.
    pub fn mac(&self, msg: &[u8]) -> Result<Block, CryptoError> {
        let mut x = [0u8; 16];
        // The last block (complete or not) is treated specially, so split it off first.
        let (head, last) = if msg.is_empty() {
            (msg, msg)
        } else {
            let cut = (msg.len() - 1) / 16 * 16;
            msg.split_at(cut)
        };
        for chunk in head.chunks_exact(16) {
            x = xor(x, to_block(chunk));
            self.aes.encrypt_block(&mut x)?;
        }
        let last_block = if last.len() == 16 {
            xor(to_block(last), self.k1)
        } else {
            xor(pad(last), self.k2)
        };
        x = xor(x, last_block);
        self.aes.encrypt_block(&mut x)?;
        Ok(x)
    }
}

/// A block from a slice of at most 16 bytes, zero-filled on the right.
pub fn to_block(bytes: &[u8]) -> Block {
    let mut b = [0u8; 16];
    for (d, s) in b.iter_mut().zip(bytes) {
        *d = *s;
    }
    b
}

/// The 10* padding of a partial block (`bytes.len() < 16`).
pub fn pad(bytes: &[u8]) -> Block {
    let mut b = to_block(bytes);
    if let Some(p) = b.get_mut(bytes.len()) {
        *p = 0x80;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmac_sp800_38b_aes128() {
        // SP 800-38B D.1 / RFC 4493 examples.
        let key = hex::decode("2b7e151628aed2a6abf7158809cf4f3c").unwrap();
        let c = Cmac::new(&key).unwrap();
        assert_eq!(
            hex::encode(c.mac(b"").unwrap()),
            "bb1d6929e95937287fa37d129b756746"
        );
        let m = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        assert_eq!(
            hex::encode(c.mac(&m).unwrap()),
            "070a16b46b4d4144f79bdd9dd04a287c"
        );
        let m = hex::decode(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411",
        )
        .unwrap();
        assert_eq!(
            hex::encode(c.mac(&m).unwrap()),
            "dfa66747de9ae63030ca32611497c827"
        );
    }
}
