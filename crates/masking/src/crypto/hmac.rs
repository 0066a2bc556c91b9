//! HMAC-SHA256 (RFC 2104) over aws-lc-rs one-shot SHA-256.
//!
//! `aws_lc_rs::hmac::sign` copies a heap-allocated HMAC context per call, which costs more
//! than hashing a short cell value. Two one-shot digests over stack buffers with the padded
//! key blocks precomputed give the same tag at about twice the speed.

use aws_lc_rs::digest::{SHA256, digest};

/// An HMAC-SHA256 key with its padded blocks precomputed.
#[derive(Clone)]
pub struct HmacSha256 {
    ipad: [u8; 64],
    opad: [u8; 64],
}

impl std::fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacSha256").finish_non_exhaustive()
    }
}

const INLINE: usize = 256;

impl HmacSha256 {
    /// A key of any length (longer than a block is hashed first, as RFC 2104 says).
    pub fn new(key: &[u8]) -> Self {
        let hashed;
        let key = if key.len() > 64 {
            hashed = digest(&SHA256, key);
            hashed.as_ref()
        } else {
            key
        };
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for ((i, o), k) in ipad.iter_mut().zip(opad.iter_mut()).zip(key) {
            *i ^= k;
            *o ^= k;
        }
        Self { ipad, opad }
    }

    /// The 32-byte tag of `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 32] {
        let inner = if msg.len() <= INLINE {
            let mut buf = [0u8; 64 + INLINE];
            let (pad, rest) = buf.split_at_mut(64);
            pad.copy_from_slice(&self.ipad);
            let len = 64 + msg.len();
            if let Some(dst) = rest.get_mut(..msg.len()) {
                dst.copy_from_slice(msg);
            }
            digest(&SHA256, buf.get(..len).unwrap_or(&buf))
        } else {
            let mut buf = Vec::with_capacity(64 + msg.len());
            buf.extend_from_slice(&self.ipad);
            buf.extend_from_slice(msg);
            digest(&SHA256, &buf)
        };
        let mut outer = [0u8; 96];
        let (pad, rest) = outer.split_at_mut(64);
        pad.copy_from_slice(&self.opad);
        rest.copy_from_slice(inner.as_ref());
        let mut tag = [0u8; 32];
        tag.copy_from_slice(digest(&SHA256, &outer).as_ref());
        tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::hmac;

    #[test]
    fn matches_aws_lc_hmac() {
        for key_len in [0usize, 16, 32, 64, 65, 131] {
            let key: Vec<u8> = (0..key_len).map(|i| i as u8).collect();
            let ours = HmacSha256::new(&key);
            let theirs = hmac::Key::new(hmac::HMAC_SHA256, &key);
            for msg_len in [0usize, 1, 55, 56, 64, 200, 256, 257, 1000] {
                let msg: Vec<u8> = (0..msg_len).map(|i| (i * 3) as u8).collect();
                assert_eq!(
                    ours.sign(&msg).as_slice(),
                    hmac::sign(&theirs, &msg).as_ref()
                );
            }
        }
    }

    #[test]
    fn rfc4231_case_2() {
        let tag = HmacSha256::new(b"Jefe").sign(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
