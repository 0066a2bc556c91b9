//! FF1 format-preserving encryption (NIST SP 800-38G, Algorithms 7 and 8).
//!
//! Numerals are `u16` digits below the radix. Most real values (card numbers, phone numbers,
//! identifiers up to a few dozen characters) take a fast path where every intermediate
//! number fits a `u128`; longer ones fall back to a small limb arithmetic that never needs a
//! big-by-big division, because `y mod radix^m` is taken digit by digit.

use crate::crypto::aes::{Aes, Block, xor};
use crate::error::CryptoError;

/// Smallest radix^len that FF1 accepts (SP 800-38G Rev. 1 requires at least one million).
pub const MIN_DOMAIN: u128 = 1_000_000;
/// Longest input accepted, in numerals; far below the standard's 2^32 but ample for cells.
pub const MAX_LEN: usize = 4096;

/// An FF1 key over AES-128, AES-192 or AES-256.
#[derive(Debug)]
pub struct Ff1 {
    aes: Aes,
    radix: u32,
}

impl Ff1 {
    /// FF1 for `radix` (2..=65536) under `key` (16, 24 or 32 bytes).
    pub fn new(key: &[u8], radix: u32) -> Result<Self, CryptoError> {
        if !(2..=65536).contains(&radix) {
            return Err(CryptoError::Radix(radix));
        }
        Ok(Self {
            aes: Aes::new(key)?,
            radix,
        })
    }

    /// The radix.
    pub fn radix(&self) -> u32 {
        self.radix
    }

    /// The shortest input length this radix accepts.
    pub fn min_len(&self) -> usize {
        let mut len = 1usize;
        let mut dom = u128::from(self.radix);
        while dom < MIN_DOMAIN {
            dom = dom.saturating_mul(u128::from(self.radix));
            len += 1;
        }
        len.max(2)
    }

    /// Encrypts the numeral string `x` under `tweak`.
    pub fn encrypt(&self, tweak: &[u8], x: &[u16]) -> Result<Vec<u16>, CryptoError> {
        self.cipher(tweak, x, true)
    }

    /// Decrypts the numeral string `x` under `tweak`.
    pub fn decrypt(&self, tweak: &[u8], x: &[u16]) -> Result<Vec<u16>, CryptoError> {
        self.cipher(tweak, x, false)
    }

    fn check(&self, x: &[u16]) -> Result<(), CryptoError> {
        let n = x.len();
        if n < self.min_len() || n > MAX_LEN {
            return Err(CryptoError::Ff1Length {
                len: n,
                min: self.min_len(),
                max: MAX_LEN,
            });
        }
        if x.iter().any(|&d| u32::from(d) >= self.radix) {
            return Err(CryptoError::Numeral);
        }
        Ok(())
    }

    fn cipher(&self, tweak: &[u8], x: &[u16], encrypt: bool) -> Result<Vec<u16>, CryptoError> {
        self.check(x)?;
        if bytes_for(self.radix, x.len() - x.len() / 2) <= 12 {
            return self.cipher_u128(tweak, x, encrypt);
        }
        self.cipher_digits(tweak, x, encrypt)
    }

    /// FF1 where radix^v < 2^96 (so `b <= 12` and `d <= 16`): the halves stay numbers for all
    /// ten rounds, and the PRF input's constant prefix (P, the tweak, the padding) is folded
    /// into the CBC-MAC state once, leaving one AES call per round.
    fn cipher_u128(&self, tweak: &[u8], x: &[u16], encrypt: bool) -> Result<Vec<u16>, CryptoError> {
        let n = x.len();
        let t = tweak.len();
        let u = n / 2;
        let v = n - u;
        let radix = self.radix;
        let b = bytes_for(radix, v);
        let d = 4 * b.div_ceil(4) + 4;
        let mut state = self.p_block(radix, u, n, t)?;
        // Q = T || 0^pad || [i] || NUM(B)^b; all but the last 1 + b bytes are constant.
        let zeros = (16 - (t + b + 1) % 16) % 16;
        let prefix_len = t + zeros;
        let mut prefix = Vec::with_capacity(prefix_len);
        prefix.extend_from_slice(tweak);
        prefix.resize(prefix_len, 0);
        let full = (prefix_len / 16) * 16;
        let (blocks, tail) = prefix.split_at(full);
        for chunk in blocks.chunks_exact(16) {
            let mut blk = [0u8; 16];
            blk.copy_from_slice(chunk);
            state = xor(state, blk);
            self.aes.encrypt_block(&mut state)?;
        }
        let mut last = [0u8; 16];
        for (dst, src) in last.iter_mut().zip(tail) {
            *dst = *src;
        }
        let r = u128::from(radix);
        let mod_u = r.pow(u as u32);
        let mod_v = r.pow(v as u32);
        let (l, rt) = x.split_at(u);
        let (mut a, mut bnum) = (num_radix_u128(radix, l), num_radix_u128(radix, rt));
        let num_pos = 16 - b;
        for step in 0..10u8 {
            let i = if encrypt { step } else { 9 - step };
            let src = if encrypt { bnum } else { a };
            let mut blk = last;
            if let Some(slot) = blk.get_mut(num_pos - 1) {
                *slot = i;
            }
            let src_bytes = src.to_be_bytes();
            if let (Some(dst), Some(srcb)) = (blk.get_mut(num_pos..), src_bytes.get(16 - b..)) {
                dst.copy_from_slice(srcb);
            }
            let mut rr = xor(state, blk);
            self.aes.encrypt_block(&mut rr)?;
            let y = u128::from_be_bytes(rr) >> (8 * (16 - d));
            let modulus = if i % 2 == 0 { mod_u } else { mod_v };
            let y = y % modulus;
            if encrypt {
                let c = (a + y) % modulus;
                a = bnum;
                bnum = c;
            } else {
                let c = (bnum + modulus - y) % modulus;
                bnum = a;
                a = c;
            }
        }
        let mut out = str_radix_u128(radix, a, u);
        out.extend(str_radix_u128(radix, bnum, v));
        Ok(out)
    }

    fn p_block(&self, radix: u32, u: usize, n: usize, t: usize) -> Result<Block, CryptoError> {
        let mut p = [0u8; 16];
        p[0] = 1;
        p[1] = 2;
        p[2] = 1;
        p[3..6].copy_from_slice(&radix.to_be_bytes()[1..4]);
        p[6] = 10;
        p[7] = (u % 256) as u8;
        p[8..12].copy_from_slice(&(n as u32).to_be_bytes());
        p[12..16].copy_from_slice(&(t as u32).to_be_bytes());
        self.aes.encrypt_block(&mut p)?;
        Ok(p)
    }

    /// FF1 for any length, with numerals as digit strings and limb arithmetic.
    fn cipher_digits(
        &self,
        tweak: &[u8],
        x: &[u16],
        encrypt: bool,
    ) -> Result<Vec<u16>, CryptoError> {
        let n = x.len();
        let t = tweak.len();
        let u = n / 2;
        let v = n - u;
        let radix = self.radix;
        let b = bytes_for(radix, v);
        let d = 4 * b.div_ceil(4) + 4;
        let p_state = self.p_block(radix, u, n, t)?;
        let zeros = (16 - (t + b + 1) % 16) % 16;
        let mut q = Vec::with_capacity(t + zeros + 1 + b);
        q.extend_from_slice(tweak);
        q.resize(t + zeros, 0);
        let q_prefix = q.len();
        let (l, r) = x.split_at(u);
        let (mut a, mut bb) = (l.to_vec(), r.to_vec());
        for step in 0..10u8 {
            let i = if encrypt { step } else { 9 - step };
            // Encryption feeds B to the PRF, decryption feeds A (the previous round's B).
            let (src, dst) = if encrypt { (&bb, &a) } else { (&a, &bb) };
            q.truncate(q_prefix);
            q.push(i);
            q.extend_from_slice(&Big::from_digits(radix, src).to_be_bytes(b)?);
            let s = self.prf_expand(p_state, &q, d)?;
            let m = if i % 2 == 0 { u } else { v };
            let mut y = Big::from_be_bytes(&s);
            // y mod radix^m, least significant digit first.
            let y_digits: Vec<u32> = (0..m).map(|_| y.divmod(radix)).collect();
            let c = add_digits(radix, dst, &y_digits, encrypt);
            if encrypt {
                a = std::mem::replace(&mut bb, c);
            } else {
                bb = std::mem::replace(&mut a, c);
            }
        }
        a.extend_from_slice(&bb);
        Ok(a)
    }

    /// `S`: the CBC-MAC `R` of `P || Q`, extended by encrypting `R xor [j]` to `d` bytes.
    fn prf_expand(&self, p_state: Block, q: &[u8], d: usize) -> Result<Vec<u8>, CryptoError> {
        let mut r = p_state;
        for chunk in q.chunks_exact(16) {
            let mut blk = [0u8; 16];
            blk.copy_from_slice(chunk);
            r = xor(r, blk);
            self.aes.encrypt_block(&mut r)?;
        }
        let mut s = Vec::with_capacity(d.div_ceil(16) * 16);
        s.extend_from_slice(&r);
        let mut j = 1u128;
        while s.len() < d {
            let mut blk = (u128::from_be_bytes(r) ^ j).to_be_bytes();
            self.aes.encrypt_block(&mut blk)?;
            s.extend_from_slice(&blk);
            j += 1;
        }
        s.truncate(d);
        Ok(s)
    }
}

/// `b = ceil(ceil(v * log2(radix)) / 8)`, computed exactly as the byte length of radix^v - 1.
fn bytes_for(radix: u32, v: usize) -> usize {
    // radix^v usually fits a u128; the limb arithmetic is only for long inputs.
    let mut p = 1u128;
    let mut fits = true;
    for _ in 0..v {
        match p.checked_mul(u128::from(radix)) {
            Some(x) => p = x,
            None => {
                fits = false;
                break;
            }
        }
    }
    if fits {
        let bits = 128 - (p - 1).leading_zeros() as usize;
        return bits.div_ceil(8);
    }
    let mut big = Big::one();
    for _ in 0..v {
        big.mul_add(radix, 0);
    }
    big.sub_one();
    big.bit_len().div_ceil(8)
}

fn num_radix_u128(radix: u32, x: &[u16]) -> u128 {
    x.iter()
        .fold(0u128, |acc, &d| acc * u128::from(radix) + u128::from(d))
}

fn str_radix_u128(radix: u32, mut c: u128, m: usize) -> Vec<u16> {
    let mut out = vec![0u16; m];
    let r = u128::from(radix);
    if let (10, Ok(mut c64)) = (radix, u64::try_from(c)) {
        // A constant divisor compiles to a multiplication; radix 10 is the common case.
        for slot in out.iter_mut().rev() {
            *slot = (c64 % 10) as u16;
            c64 /= 10;
        }
    } else if let Ok(mut c64) = u64::try_from(c) {
        let r64 = u64::from(radix);
        for slot in out.iter_mut().rev() {
            *slot = (c64 % r64) as u16;
            c64 /= r64;
        }
    } else {
        for slot in out.iter_mut().rev() {
            *slot = (c % r) as u16;
            c /= r;
        }
    }
    out
}

/// `a ± y mod radix^m`, with `a` most significant first and `y` least significant first.
fn add_digits(radix: u32, a: &[u16], y: &[u32], add: bool) -> Vec<u16> {
    let mut out = vec![0u16; a.len()];
    let mut carry: i64 = 0;
    let r = i64::from(radix);
    for ((slot, &ad), &yd) in out.iter_mut().rev().zip(a.iter().rev()).zip(y) {
        let s = if add {
            i64::from(ad) + i64::from(yd) + carry
        } else {
            i64::from(ad) - i64::from(yd) + carry
        };
        let digit = s.rem_euclid(r);
        carry = (s - digit) / r;
        *slot = digit as u16;
    }
    out
}

/// A non-negative integer as little-endian 32-bit limbs; only what FF1 needs.
#[derive(Clone, Debug)]
struct Big(Vec<u32>);

impl Big {
    fn one() -> Self {
        Self(vec![1])
    }

    fn from_digits(radix: u32, x: &[u16]) -> Self {
        let mut b = Self(Vec::new());
        for &d in x {
            b.mul_add(radix, u32::from(d));
        }
        b
    }

    fn from_be_bytes(bytes: &[u8]) -> Self {
        let mut limbs: Vec<u32> = bytes
            .rchunks(4)
            .map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
            .collect();
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
        Self(limbs)
    }

    fn mul_add(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.0 {
            let t = u64::from(*limb) * u64::from(m) + carry;
            *limb = t as u32;
            carry = t >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    /// Divides in place, returning the remainder.
    fn divmod(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / u64::from(d)) as u32;
            rem = cur % u64::from(d);
        }
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        rem as u32
    }

    fn sub_one(&mut self) {
        for limb in &mut self.0 {
            if *limb > 0 {
                *limb -= 1;
                break;
            }
            *limb = u32::MAX;
        }
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn bit_len(&self) -> usize {
        match self.0.last() {
            None => 0,
            Some(top) => (self.0.len() - 1) * 32 + (32 - top.leading_zeros() as usize),
        }
    }

    fn to_be_bytes(&self, len: usize) -> Result<Vec<u8>, CryptoError> {
        if self.bit_len().div_ceil(8) > len {
            return Err(CryptoError::Numeral);
        }
        let mut out = vec![0u8; len];
        for (i, slot) in out.iter_mut().rev().enumerate() {
            let limb = self.0.get(i / 4).copied().unwrap_or(0);
            *slot = (limb >> (8 * (i % 4))) as u8;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K128: &str = "2B7E151628AED2A6ABF7158809CF4F3C";
    const K192: &str = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F";
    const K256: &str = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94";
    const T10: &str = "39383736353433323130";
    const T36: &str = "3737373770717273373737";
    const A36: &str = "0123456789abcdefghijklmnopqrstuvwxyz";

    fn digits(s: &str) -> Vec<u16> {
        s.chars().map(|c| A36.find(c).unwrap() as u16).collect()
    }

    fn text(d: &[u16]) -> String {
        d.iter()
            .map(|&i| A36.as_bytes()[i as usize] as char)
            .collect()
    }

    fn check(key: &str, radix: u32, tweak: &str, pt: &str, ct: &str) {
        let f = Ff1::new(&hex::decode(key).unwrap(), radix).unwrap();
        let tweak = hex::decode(tweak).unwrap();
        let enc = f.encrypt(&tweak, &digits(pt)).unwrap();
        assert_eq!(text(&enc), ct, "encrypt {pt}");
        assert_eq!(text(&f.decrypt(&tweak, &enc).unwrap()), pt, "decrypt {ct}");
        // The limb path must agree with the u128 path, both ways.
        let slow = f.cipher_digits(&tweak, &digits(pt), true).unwrap();
        assert_eq!(text(&slow), ct, "limb path {pt}");
        assert_eq!(text(&f.cipher_digits(&tweak, &slow, false).unwrap()), pt);
        let slow = f.cipher_slow(&tweak, &digits(pt)).unwrap();
        assert_eq!(text(&slow), ct, "reference path {pt}");
    }

    impl Ff1 {
        /// The general arithmetic forced, to check it against the same vectors.
        fn cipher_slow(&self, tweak: &[u8], x: &[u16]) -> Result<Vec<u16>, CryptoError> {
            let n = x.len();
            let u = n / 2;
            let v = n - u;
            let b = bytes_for(self.radix, v);
            let d = 4 * b.div_ceil(4) + 4;
            let mut p = [
                1u8,
                2,
                1,
                0,
                0,
                0,
                10,
                (u % 256) as u8,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ];
            p[3..6].copy_from_slice(&self.radix.to_be_bytes()[1..4]);
            p[8..12].copy_from_slice(&(n as u32).to_be_bytes());
            p[12..16].copy_from_slice(&(tweak.len() as u32).to_be_bytes());
            self.aes.encrypt_block(&mut p)?;
            let zeros = (16 - (tweak.len() + b + 1) % 16) % 16;
            let (mut a, mut bb) = (x[..u].to_vec(), x[u..].to_vec());
            for i in 0..10u8 {
                let mut q = tweak.to_vec();
                q.resize(tweak.len() + zeros, 0);
                q.push(i);
                q.extend_from_slice(&Big::from_digits(self.radix, &bb).to_be_bytes(b)?);
                let s = self.prf_expand(p, &q, d)?;
                let m = if i % 2 == 0 { u } else { v };
                let mut y = Big::from_be_bytes(&s);
                let yd: Vec<u32> = (0..m).map(|_| y.divmod(self.radix)).collect();
                let c = add_digits(self.radix, &a, &yd, true);
                a = std::mem::replace(&mut bb, c);
            }
            a.extend_from_slice(&bb);
            Ok(a)
        }
    }

    #[test]
    fn nist_sp800_38g_ff1_samples() {
        check(K128, 10, "", "0123456789", "2433477484");
        check(K128, 10, T10, "0123456789", "6124200773");
        check(K128, 36, T36, "0123456789abcdefghi", "a9tv40mll9kdu509eum");
        check(K192, 10, "", "0123456789", "2830668132");
        check(K192, 10, T10, "0123456789", "2496655549");
        check(K192, 36, T36, "0123456789abcdefghi", "xbj3kv35jrawxv32ysr");
        check(K256, 10, "", "0123456789", "6657667009");
        check(K256, 10, T10, "0123456789", "1001623463");
        check(K256, 36, T36, "0123456789abcdefghi", "xs8a0azh2avyalyzuwd");
    }

    #[test]
    fn byte_lengths() {
        // b = ceil(ceil(v * log2(radix)) / 8), at and across the u128 boundary.
        assert_eq!(bytes_for(10, 5), 3);
        assert_eq!(bytes_for(16, 4), 2);
        assert_eq!(bytes_for(16, 31), 16);
        assert_eq!(bytes_for(16, 32), 16);
        assert_eq!(bytes_for(16, 33), 17);
        assert_eq!(bytes_for(2, 128), 16);
        assert_eq!(bytes_for(2, 129), 17);
        assert_eq!(bytes_for(10, 39), 17);
        assert_eq!(bytes_for(36, 10), 7);
    }

    #[test]
    fn fast_and_limb_paths_agree() {
        for radix in [2u32, 10, 16, 26, 36, 62, 255, 1000] {
            let f = Ff1::new(&[radix as u8; 24], radix).unwrap();
            for len in f.min_len()..f.min_len() + 30 {
                if bytes_for(radix, len - len / 2) > 12 {
                    break;
                }
                let x: Vec<u16> = (0..len)
                    .map(|i| ((i * 31 + 7) as u32 % radix) as u16)
                    .collect();
                for tweak in [&b""[..], b"tw", b"a tweak longer than one block!!"] {
                    let fast = f.cipher_u128(tweak, &x, true).unwrap();
                    assert_eq!(
                        fast,
                        f.cipher_digits(tweak, &x, true).unwrap(),
                        "radix {radix} len {len}"
                    );
                    assert_eq!(f.cipher_u128(tweak, &fast, false).unwrap(), x);
                }
            }
        }
    }

    #[test]
    fn long_inputs_round_trip_on_the_limb_path() {
        let f = Ff1::new(&[3u8; 32], 62).unwrap();
        for len in [6usize, 20, 21, 40, 100, 257] {
            let x: Vec<u16> = (0..len).map(|i| (i * 7 % 62) as u16).collect();
            let c = f.encrypt(b"ctx", &x).unwrap();
            assert_eq!(c.len(), len);
            assert_ne!(c, x);
            assert!(c.iter().all(|&d| d < 62));
            assert_eq!(f.decrypt(b"ctx", &c).unwrap(), x);
        }
    }

    #[test]
    fn short_domains_are_refused() {
        let f = Ff1::new(&[3u8; 16], 10).unwrap();
        assert_eq!(f.min_len(), 6);
        assert!(f.encrypt(b"", &[1, 2, 3, 4, 5]).is_err());
        assert!(f.encrypt(b"", &[1, 2, 3, 4, 5, 10]).is_err());
        assert!(Ff1::new(&[3u8; 16], 1).is_err());
        let f = Ff1::new(&[3u8; 16], 2).unwrap();
        assert_eq!(f.min_len(), 20);
        let x = vec![1u16; 20];
        assert_eq!(f.decrypt(b"t", &f.encrypt(b"t", &x).unwrap()).unwrap(), x);
    }
}
