//! AES-SIV (RFC 5297): deterministic authenticated encryption.
//!
//! S2V runs over AES-CMAC and the payload is encrypted with AES-CTR keyed by the second half
//! of the key. The S2V state after the associated data is exposed separately so that a column's
//! context (constant for the column) is folded in once, not once per value.

use crate::crypto::aes::{Aes, Block, Cmac, dbl, pad, xor};
use crate::error::CryptoError;

/// The length of the synthetic IV prepended to every ciphertext.
pub const SIV_LEN: usize = 16;

/// An AES-SIV key: 32 bytes (AES-128-SIV), 48 (AES-192-SIV) or 64 (AES-256-SIV).
#[derive(Debug)]
pub struct AesSiv {
    mac: Cmac,
    ctr: Aes,
}

/// The S2V state after the associated data, ready for the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct S2vState(Block);

impl AesSiv {
    /// Splits `key` into the CMAC half and the CTR half, as RFC 5297 section 2.6 says.
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        if !matches!(key.len(), 32 | 48 | 64) {
            return Err(CryptoError::KeyLength {
                expected: "32, 48 or 64",
                got: key.len(),
            });
        }
        let (k1, k2) = key.split_at(key.len() / 2);
        Ok(Self {
            mac: Cmac::new(k1)?,
            ctr: Aes::new(k2)?,
        })
    }

    /// S2V over the associated data strings, stopping before the payload.
    pub fn associate(&self, ads: &[&[u8]]) -> Result<S2vState, CryptoError> {
        let mut d = self.mac.mac(&[0u8; 16])?;
        for ad in ads {
            d = xor(dbl(d), self.mac.mac(ad)?);
        }
        Ok(S2vState(d))
    }

    fn s2v_final(&self, state: S2vState, payload: &[u8]) -> Result<Block, CryptoError> {
        let d = state.0;
        if payload.len() >= 16 {
            // xorend: D goes into the last 16 bytes of the payload.
            let mut t = payload.to_vec();
            let start = t.len() - 16;
            for (b, k) in t.iter_mut().skip(start).zip(d) {
                *b ^= k;
            }
            self.mac.mac(&t)
        } else {
            self.mac.mac(&xor(dbl(d), pad(payload)))
        }
    }

    fn ctr(&self, v: Block, data: &mut [u8]) -> Result<(), CryptoError> {
        // Clearing bits 63 and 31 lets 32- and 64-bit counter implementations interoperate.
        let q = u128::from_be_bytes(v) & 0xffff_ffff_ffff_ffff_7fff_ffff_7fff_ffff;
        let blocks = data.len().div_ceil(16);
        let mut stream = Vec::with_capacity(blocks * 16);
        for i in 0..blocks {
            stream.extend_from_slice(&q.wrapping_add(i as u128).to_be_bytes());
        }
        self.ctr.encrypt_blocks(&mut stream)?;
        for (b, k) in data.iter_mut().zip(stream) {
            *b ^= k;
        }
        Ok(())
    }

    /// Encrypts `payload` after `state`'s associated data: returns `V || C`.
    pub fn seal(&self, state: S2vState, payload: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let v = self.s2v_final(state, payload)?;
        let mut out = Vec::with_capacity(SIV_LEN + payload.len());
        out.extend_from_slice(&v);
        out.extend_from_slice(payload);
        if let Some(body) = out.get_mut(SIV_LEN..) {
            self.ctr(v, body)?;
        }
        Ok(out)
    }

    /// Decrypts and authenticates `V || C`.
    pub fn open(&self, state: S2vState, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (v, c) = sealed
            .split_at_checked(SIV_LEN)
            .ok_or(CryptoError::Authentication)?;
        let v: Block = v.try_into().map_err(|_| CryptoError::Authentication)?;
        let mut p = c.to_vec();
        self.ctr(v, &mut p)?;
        let t = self.s2v_final(state, &p)?;
        aws_lc_rs::constant_time::verify_slices_are_equal(&t, &v)
            .map_err(|_| CryptoError::Authentication)?;
        Ok(p)
    }

    /// One-shot encryption with a list of associated data strings.
    pub fn encrypt(&self, ads: &[&[u8]], payload: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.seal(self.associate(ads)?, payload)
    }

    /// One-shot decryption with a list of associated data strings.
    pub fn decrypt(&self, ads: &[&[u8]], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.open(self.associate(ads)?, sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn rfc5297_a1_deterministic() {
        let key = h("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff");
        let ad = h("10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627");
        let pt = h("11223344 55667788 99aabbcc ddee");
        let siv = AesSiv::new(&key).unwrap();
        let out = siv.encrypt(&[&ad], &pt).unwrap();
        assert_eq!(
            hex::encode(&out),
            "85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c"
        );
        assert_eq!(siv.decrypt(&[&ad], &out).unwrap(), pt);
    }

    #[test]
    fn rfc5297_a2_nonce_based() {
        let key = h("7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f");
        let ad1 = h(
            "00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100",
        );
        let ad2 = h("10203040 50607080 90a0");
        let nonce = h("09f91102 9d74e35b d84156c5 635688c0");
        let pt = h(
            "74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720 5349562d 414553",
        );
        let siv = AesSiv::new(&key).unwrap();
        let out = siv.encrypt(&[&ad1, &ad2, &nonce], &pt).unwrap();
        assert_eq!(
            hex::encode(&out),
            "7bdb6e3b432667eb06f4d14bff2fbd0fcb900f2fddbe404326601965c889bf17dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c485b62a3fd5c0d"
        );
        assert_eq!(siv.decrypt(&[&ad1, &ad2, &nonce], &out).unwrap(), pt);
    }

    #[test]
    fn tampering_is_detected() {
        let siv = AesSiv::new(&[7u8; 64]).unwrap();
        let mut out = siv.encrypt(&[b"col"], b"hello world").unwrap();
        assert_eq!(siv.decrypt(&[b"col"], &out).unwrap(), b"hello world");
        assert!(siv.decrypt(&[b"other"], &out).is_err());
        out[17] ^= 1;
        assert!(siv.decrypt(&[b"col"], &out).is_err());
        assert!(siv.decrypt(&[b"col"], &out[..10]).is_err());
        // Empty payloads and payloads of exactly one block.
        for len in [0usize, 15, 16, 17, 32, 33] {
            let p = vec![0x5a; len];
            let s = siv.encrypt(&[], &p).unwrap();
            assert_eq!(siv.decrypt(&[], &s).unwrap(), p);
        }
    }
}
