//! Virtual MFA devices: seeds, TOTP codes (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), and
//! the QR code authenticator apps scan, as a PNG.

use aws_lc_rs::hmac;

/// The TOTP time step, seconds.
pub const STEP: i64 = 30;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for b in bytes {
        buffer = (buffer << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let index = usize::try_from((buffer >> bits) & 31).unwrap_or(0);
            out.extend(BASE32.get(index).map(|c| char::from(*c)));
        }
    }
    if bits > 0 {
        let index = usize::try_from((buffer << (5 - bits)) & 31).unwrap_or(0);
        out.extend(BASE32.get(index).map(|c| char::from(*c)));
    }
    out
}

/// The 6-digit code of `seed` for time step `step`.
pub fn code(seed: &[u8], step: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, seed);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let word = mac
        .get(offset..offset + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_be_bytes);
    format!("{:06}", (word & 0x7fff_ffff) % 1_000_000)
}

/// The time step of an epoch time.
pub fn step_of(epoch_secs: i64) -> u64 {
    u64::try_from(epoch_secs.div_euclid(STEP)).unwrap_or(0)
}

/// The step at which `code1` and then `code2` are consecutive codes, looking up to five minutes
/// back and one step ahead (clock drift), as `EnableMFADevice` needs.
pub fn find_consecutive(seed: &[u8], code1: &str, code2: &str, now: i64) -> Option<u64> {
    let now = step_of(now);
    (now.saturating_sub(10)..=now + 1)
        .find(|s| code(seed, *s) == code1 && code(seed, s + 1) == code2)
        .map(|s| s + 1)
}

/// The step a presented code belongs to, within one step of now, if it is newer than
/// `last_step` (a code is accepted once).
pub fn accept(seed: &[u8], presented: &str, now: i64, last_step: Option<u64>) -> Option<u64> {
    let now = step_of(now);
    (now.saturating_sub(2)..=now + 1)
        .filter(|s| last_step.is_none_or(|l| *s > l))
        .find(|s| code(seed, *s) == presented)
}

/// The otpauth URI's QR code as a PNG: black modules on white, 4 pixels a module, with the
/// standard 4-module quiet zone.
pub fn qr_png(uri: &str) -> Option<Vec<u8>> {
    let qr = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let width = qr.width();
    let colors = qr.to_colors();
    const SCALE: usize = 4;
    const QUIET: usize = 4;
    let size = (width + 2 * QUIET) * SCALE;
    let mut raw = Vec::with_capacity((size + 1) * size);
    for y in 0..size {
        raw.push(0u8); // filter: none
        for x in 0..size {
            let (mx, my) = (
                (x / SCALE).checked_sub(QUIET),
                (y / SCALE).checked_sub(QUIET),
            );
            let dark = match (mx, my) {
                (Some(mx), Some(my)) if mx < width && my < width => colors
                    .get(my * width + mx)
                    .is_some_and(|c| *c == qrcode::Color::Dark),
                _ => false,
            };
            raw.push(if dark { 0 } else { 255 });
        }
    }
    let size = u32::try_from(size).ok()?;
    Some(png_grayscale(size, size, &raw))
}

fn crc32(chunks: &[&[u8]]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for bytes in chunks {
        for b in *bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

/// An 8-bit grayscale PNG of already filtered scanlines, deflated with stored blocks (QR codes
/// are small; no compressor needed).
fn png_grayscale(width: u32, height: u32, raw: &[u8]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", truncated to 6 digits.
        let seed = b"12345678901234567890";
        assert_eq!(code(seed, step_of(59)), "287082");
        assert_eq!(code(seed, step_of(1_111_111_109)), "081804");
        assert_eq!(code(seed, step_of(2_000_000_000)), "279037");
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }

    #[test]
    fn consecutive_codes_and_no_reuse() {
        let seed = b"0123456789abcdefghij";
        let now = 1_700_000_000;
        let s = step_of(now);
        let last = find_consecutive(seed, &code(seed, s - 1), &code(seed, s), now).unwrap();
        assert_eq!(last, s);
        assert_eq!(
            find_consecutive(seed, &code(seed, s), &code(seed, s - 1), now),
            None
        );
        assert_eq!(
            accept(seed, &code(seed, s), now, Some(last)),
            None,
            "reused"
        );
        assert_eq!(
            accept(seed, &code(seed, s + 1), now, Some(last)),
            Some(s + 1)
        );
    }

    #[test]
    fn the_qr_code_is_a_png() {
        let png = qr_png("otpauth://totp/dev@123456789012?secret=MZXW6YTBOI").unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(png.ends_with(&[0xae, 0x42, 0x60, 0x82]), "IEND crc");
    }
}
