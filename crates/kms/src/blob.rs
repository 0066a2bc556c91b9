//! The ciphertext blob of symmetric keys: our own versioned format.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "PKM" and format version 0x01
//! 4       1     key id form: 1 = UUID, 2 = multi-Region (mrk- + 32 hex), 3 = other
//! 5       16    key id (forms 1 and 2), or u8 length + bytes (form 3)
//! …       4     material version, big-endian (which of the key's materials encrypted it)
//! …       16    random salt of the per-request key
//! …       12    random AES-GCM nonce
//! …       n     ciphertext
//! …       16    GCM tag
//! ```
//!
//! Security rationale:
//! - Each request derives its own AES-256-GCM key with HKDF-SHA256 from the key material and a
//!   fresh 16-byte salt, as AWS KMS derives a per-request key from its HSM backing key. Random
//!   96-bit nonces therefore never approach GCM's 2^32-invocations-per-key bound, however many
//!   requests a key serves.
//! - The whole header (format, key id, material version, salt, nonce) is authenticated, so no
//!   byte of a blob can change without `InvalidCiphertextException`.
//! - The encryption context is authenticated in a canonical, length-prefixed encoding (count,
//!   then each pair sorted by the UTF-8 bytes of its key, every key and value prefixed with its
//!   u16 length), so `{"ab":"c"}` and `{"a":"bc"}` are different contexts and the order of pairs
//!   in a request does not matter.
//! - Region and account are not bound: a multi-Region key's ciphertext decrypts in any replica.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};

use crate::{EncryptionContext, KmsError, Material, random_bytes};

const MAGIC: [u8; 4] = *b"PKM\x01";
const FORM_UUID: u8 = 1;
const FORM_MRK: u8 = 2;
const FORM_OTHER: u8 = 3;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const INFO: &[u8] = b"palisade kms blob v1";

/// The most plaintext Encrypt takes (AWS: 4096 bytes).
pub const MAX_PLAINTEXT: usize = 4096;

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn hex16(s: &str) -> Option<[u8; 16]> {
    let bytes = s.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let (hi, lo) = (hex_value(*pair.first()?)?, hex_value(*pair.get(1)?)?);
        *out.get_mut(i)? = (hi << 4) | lo;
    }
    Some(out)
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 15] {
            s.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    s
}

fn encode_key_id(key_id: &str, out: &mut Vec<u8>) -> Result<(), KmsError> {
    let uuid_hex: String = key_id.chars().filter(|c| *c != '-').collect();
    let is_uuid = key_id.len() == 36 && key_id.matches('-').count() == 4;
    if is_uuid && let Some(b) = hex16(&uuid_hex) {
        out.push(FORM_UUID);
        out.extend_from_slice(&b);
        return Ok(());
    }
    if let Some(rest) = key_id.strip_prefix("mrk-")
        && let Some(b) = hex16(rest)
    {
        out.push(FORM_MRK);
        out.extend_from_slice(&b);
        return Ok(());
    }
    let len = u8::try_from(key_id.len())
        .map_err(|_| KmsError::Validation(format!("key id {key_id} is too long for a blob")))?;
    out.push(FORM_OTHER);
    out.push(len);
    out.extend_from_slice(key_id.as_bytes());
    Ok(())
}

fn format_uuid(b: &[u8]) -> String {
    let h = to_hex(b);
    format!(
        "{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or_default(),
        h.get(8..12).unwrap_or_default(),
        h.get(12..16).unwrap_or_default(),
        h.get(16..20).unwrap_or_default(),
        h.get(20..32).unwrap_or_default()
    )
}

/// The parsed header and where the ciphertext starts.
struct Parsed {
    header: crate::BlobHeader,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    header_len: usize,
}

fn take<'a>(blob: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], KmsError> {
    let end = at.checked_add(n).ok_or(KmsError::InvalidCiphertext)?;
    let s = blob.get(*at..end).ok_or(KmsError::InvalidCiphertext)?;
    *at = end;
    Ok(s)
}

fn parse(blob: &[u8]) -> Result<Parsed, KmsError> {
    let mut at = 0;
    if take(blob, &mut at, 4)? != MAGIC {
        return Err(KmsError::InvalidCiphertext);
    }
    let form = *take(blob, &mut at, 1)?
        .first()
        .ok_or(KmsError::InvalidCiphertext)?;
    let key_id = match form {
        FORM_UUID => format_uuid(take(blob, &mut at, 16)?),
        FORM_MRK => format!("mrk-{}", to_hex(take(blob, &mut at, 16)?)),
        FORM_OTHER => {
            let len = *take(blob, &mut at, 1)?
                .first()
                .ok_or(KmsError::InvalidCiphertext)?;
            String::from_utf8(take(blob, &mut at, usize::from(len))?.to_vec())
                .map_err(|_| KmsError::InvalidCiphertext)?
        }
        _ => return Err(KmsError::InvalidCiphertext),
    };
    let version: [u8; 4] = take(blob, &mut at, 4)?
        .try_into()
        .map_err(|_| KmsError::InvalidCiphertext)?;
    let salt: [u8; SALT_LEN] = take(blob, &mut at, SALT_LEN)?
        .try_into()
        .map_err(|_| KmsError::InvalidCiphertext)?;
    let nonce: [u8; NONCE_LEN] = take(blob, &mut at, NONCE_LEN)?
        .try_into()
        .map_err(|_| KmsError::InvalidCiphertext)?;
    if blob.len() < at + TAG_LEN {
        return Err(KmsError::InvalidCiphertext);
    }
    Ok(Parsed {
        header: crate::BlobHeader {
            key_id,
            material_version: u32::from_be_bytes(version),
        },
        salt,
        nonce,
        header_len: at,
    })
}

/// The canonical encoding of an encryption context (see the module docs).
pub fn canonical_context(context: &EncryptionContext) -> Result<Vec<u8>, KmsError> {
    let len16 = |n: usize, what: &str| {
        u16::try_from(n)
            .map_err(|_| KmsError::Validation(format!("the encryption context {what} is too long")))
    };
    let mut out = Vec::with_capacity(2 + context.len() * 16);
    out.extend_from_slice(&len16(context.len(), "has too many pairs and")?.to_be_bytes());
    // BTreeMap iterates in the byte order of the keys' UTF-8.
    for (k, v) in context {
        out.extend_from_slice(&len16(k.len(), "key")?.to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&len16(v.len(), "value")?.to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    Ok(out)
}

fn request_key(material: &Material, salt: &[u8]) -> Result<LessSafeKey, KmsError> {
    if material.spec() != crate::KeySpec::SymmetricDefault {
        return Err(KmsError::InvalidKeyUsage(format!(
            "a {} key cannot encrypt symmetrically",
            material.spec()
        )));
    }
    let prk = Salt::new(HKDF_SHA256, salt).extract(material.as_bytes());
    let okm = prk
        .expand(&[INFO], &AES_256_GCM)
        .map_err(|_| KmsError::Crypto("hkdf failed".into()))?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

pub(crate) fn encrypt(
    header: &crate::BlobHeader,
    material: &Material,
    plaintext: &[u8],
    context: &EncryptionContext,
) -> Result<Vec<u8>, KmsError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(KmsError::Validation(format!(
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_PLAINTEXT}"
        )));
    }
    let random = random_bytes(SALT_LEN + NONCE_LEN)?;
    let (salt, nonce) = random.split_at(SALT_LEN);
    let mut out = Vec::with_capacity(64 + plaintext.len());
    out.extend_from_slice(&MAGIC);
    encode_key_id(&header.key_id, &mut out)?;
    out.extend_from_slice(&header.material_version.to_be_bytes());
    out.extend_from_slice(salt);
    out.extend_from_slice(nonce);
    let header_len = out.len();
    let mut aad = out.clone();
    aad.extend_from_slice(&canonical_context(context)?);
    let key = request_key(material, salt)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| KmsError::Crypto("bad nonce length".into()))?;
    out.extend_from_slice(plaintext);
    let mut body = out.split_off(header_len);
    key.seal_in_place_append_tag(nonce, Aad::from(aad), &mut body)
        .map_err(|_| KmsError::Crypto("aes-gcm seal failed".into()))?;
    out.extend_from_slice(&body);
    Ok(out)
}

pub(crate) fn read_header(blob: &[u8]) -> Result<crate::BlobHeader, KmsError> {
    parse(blob).map(|p| p.header)
}

pub(crate) fn decrypt(
    blob: &[u8],
    material: &Material,
    context: &EncryptionContext,
) -> Result<Vec<u8>, KmsError> {
    let parsed = parse(blob)?;
    let header = blob
        .get(..parsed.header_len)
        .ok_or(KmsError::InvalidCiphertext)?;
    let mut aad = header.to_vec();
    aad.extend_from_slice(&canonical_context(context)?);
    let key = request_key(material, &parsed.salt).map_err(|_| KmsError::InvalidCiphertext)?;
    let mut body = blob
        .get(parsed.header_len..)
        .ok_or(KmsError::InvalidCiphertext)?
        .to_vec();
    let nonce = Nonce::assume_unique_for_key(parsed.nonce);
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut body)
        .map_err(|_| KmsError::InvalidCiphertext)?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobHeader, KeySpec};
    use proptest::prelude::*;

    fn material() -> Material {
        Material::generate(KeySpec::SymmetricDefault).unwrap()
    }

    fn header(id: &str) -> BlobHeader {
        BlobHeader {
            key_id: id.into(),
            material_version: 3,
        }
    }

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn round_trips_and_reads_the_header_for_every_key_id_form() {
        let m = material();
        for id in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "alias-less-odd-id",
        ] {
            let blob = encrypt(&header(id), &m, b"secret", &ctx(&[("a", "b")])).unwrap();
            assert_eq!(read_header(&blob).unwrap(), header(id));
            assert_eq!(decrypt(&blob, &m, &ctx(&[("a", "b")])).unwrap(), b"secret");
        }
    }

    #[test]
    fn every_changed_byte_and_every_truncation_is_invalid_ciphertext() {
        let m = material();
        let blob = encrypt(
            &header("1234abcd-12ab-34cd-56ef-1234567890ab"),
            &m,
            b"data key",
            &ctx(&[]),
        )
        .unwrap();
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x01;
            assert_eq!(
                decrypt(&t, &m, &ctx(&[])),
                Err(KmsError::InvalidCiphertext),
                "byte {i}"
            );
        }
        for n in 0..blob.len() {
            assert!(decrypt(&blob[..n], &m, &ctx(&[])).is_err(), "length {n}");
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert!(decrypt(&longer, &m, &ctx(&[])).is_err());
    }

    #[test]
    fn contexts_that_concatenate_alike_do_not_collide() {
        let m = material();
        let blob = encrypt(&header("k"), &m, b"x", &ctx(&[("ab", "c")])).unwrap();
        assert_eq!(
            decrypt(&blob, &m, &ctx(&[("a", "bc")])),
            Err(KmsError::InvalidCiphertext)
        );
        assert_ne!(
            canonical_context(&ctx(&[("ab", "c")])).unwrap(),
            canonical_context(&ctx(&[("a", "bc")])).unwrap()
        );
    }

    #[test]
    fn another_keys_material_cannot_decrypt() {
        let blob = encrypt(&header("k"), &material(), b"x", &ctx(&[])).unwrap();
        assert_eq!(
            decrypt(&blob, &material(), &ctx(&[])),
            Err(KmsError::InvalidCiphertext)
        );
    }

    #[test]
    fn plaintext_over_4096_bytes_is_refused() {
        let e = encrypt(&header("k"), &material(), &[0; 4097], &ctx(&[])).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = read_header(&bytes);
            let _ = decrypt(&bytes, &material(), &EncryptionContext::new());
        }

        #[test]
        fn context_pairs_round_trip(pairs in proptest::collection::btree_map("[a-z]{0,6}", "[a-z]{0,6}", 0..5)) {
            let m = material();
            let blob = encrypt(&header("k"), &m, b"v", &pairs).unwrap();
            prop_assert_eq!(decrypt(&blob, &m, &pairs).unwrap(), b"v".to_vec());
        }
    }
}
