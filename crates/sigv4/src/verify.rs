//! Signature verification with a sharded signing-key cache.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::RwLock;

use aws_lc_rs::{constant_time, digest, hmac};
use time::{Duration, OffsetDateTime};

use crate::canonical::{
    CanonicalInput, Canonicalization, ScopeRef, UNSIGNED_PAYLOAD, amz_date, decode_hex32, hex32,
    write_canonical_request, write_string_to_sign,
};
use crate::error::SigV4Error;
use crate::parse::{ParsedAuth, Request};

/// Verification policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How the canonical request is built; [`Canonicalization::AWS`] for IAM, STS, KMS,
    /// Secrets Manager.
    pub canonicalization: Canonicalization,
    /// Whether `x-amz-content-sha256: UNSIGNED-PAYLOAD` (and an unsigned presigned payload)
    /// is accepted. Off for non-S3 services: their bodies must be covered by the signature.
    pub allow_unsigned_payload: bool,
    /// How far the request time may be from the server's clock, either way (AWS: 15 min).
    pub clock_skew: Duration,
    /// Services' own windows, by signing name, where they are not `clock_skew` (see
    /// [`AWS_SERVICE_CLOCK_SKEW`]).
    pub service_clock_skew: &'static [(&'static str, Duration)],
    /// Upper bound on cached signing keys; the cache is sharded and a full shard is cleared.
    pub cache_capacity: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            canonicalization: Canonicalization::AWS,
            allow_unsigned_payload: false,
            clock_skew: Duration::minutes(15),
            service_clock_skew: AWS_SERVICE_CLOCK_SKEW,
            cache_capacity: 4096,
        }
    }
}

/// AWS's clock-skew window by signing name where it is not 15 minutes: KMS and Secrets
/// Manager refuse a request signed more than 5 minutes off (`Signature expired: ... (... - 5
/// min.)`), while IAM and STS allow 15. A client tested against a wider window than AWS's
/// passes here and fails there.
pub const AWS_SERVICE_CLOCK_SKEW: &[(&str, Duration)] = &[
    ("kms", Duration::minutes(5)),
    ("secretsmanager", Duration::minutes(5)),
];

impl Settings {
    /// The policy of S3: single URI encoding, no path normalisation, unsigned payloads allowed.
    pub fn s3() -> Self {
        Self {
            canonicalization: Canonicalization::S3,
            allow_unsigned_payload: true,
            ..Self::default()
        }
    }
}

const SHARDS: usize = 16;

/// How long a presigned STS request is good for, whatever its `X-Amz-Expires` says.
const STS_PRESIGNED_LIFETIME_SECS: u32 = 15 * 60;

/// The cache key already is a uniformly distributed SHA-256, so hashing it again is waste.
#[derive(Clone, Copy, Debug, Default)]
struct PrehashedKey;

#[derive(Debug, Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for (i, &b) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(b) << (8 * i);
        }
    }
    // Slices hash their length first; it is always 32 and carries no entropy.
    fn write_usize(&mut self, _: usize) {}
}

impl BuildHasher for PrehashedKey {
    type Hasher = PrehashedHasher;
    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher::default()
    }
}

type Shard = RwLock<HashMap<[u8; 32], [u8; 32], PrehashedKey>>;

/// Verifies SigV4 signatures; cheap to share across connections (`Send + Sync`).
#[derive(Debug)]
pub struct Verifier {
    settings: Settings,
    shards: [Shard; SHARDS],
    shard_capacity: usize,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new(Settings::default())
    }
}

thread_local! {
    static BUFFER: RefCell<String> = RefCell::new(String::with_capacity(1024));
}

/// Runs `f` with this thread's scratch buffer, so verifying allocates no canonical-request
/// string per call.
fn with_buffer<R>(f: impl FnOnce(&mut String) -> R) -> R {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let result = f(&mut buf);
            // Do not keep a huge buffer alive because of one huge request.
            if buf.capacity() > 64 * 1024 {
                *buf = String::with_capacity(1024);
            } else {
                buf.clear();
            }
            result
        }
        Err(_) => f(&mut String::with_capacity(1024)),
    })
}

/// Derives the SigV4 signing key: HMAC chain over date, region, service and `aws4_request`.
pub fn derive_signing_key(
    secret_access_key: &str,
    date: &str,
    region: &str,
    service: &str,
) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret_access_key.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret_access_key.as_bytes());
    let mut key = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &k_secret),
        date.as_bytes(),
    );
    for part in [region, service, "aws4_request"] {
        key = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, key.as_ref()),
            part.as_bytes(),
        );
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(key.as_ref());
    out
}

fn cache_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    // Length-prefixed so distinct tuples can never collide by shifting bytes between fields;
    // hashed so the cache never holds a secret in plain form.
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in [secret, date, region, service] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

impl Verifier {
    /// A verifier with the given policy and an empty signing-key cache.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            shards: std::array::from_fn(|_| RwLock::new(HashMap::with_hasher(PrehashedKey))),
            shard_capacity: (settings.cache_capacity / SHARDS).max(1),
        }
    }

    /// The policy this verifier applies.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The signing key for a secret and scope, from the cache or freshly derived.
    pub fn signing_key(
        &self,
        secret_access_key: &str,
        date: &str,
        region: &str,
        service: &str,
    ) -> [u8; 32] {
        let id = cache_key(secret_access_key, date, region, service);
        let shard = self.shards.get(usize::from(id[0]) % SHARDS);
        let Some(shard) = shard else {
            return derive_signing_key(secret_access_key, date, region, service);
        };
        if let Some(key) = shard
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
        {
            return *key;
        }
        let key = derive_signing_key(secret_access_key, date, region, service);
        let mut map = shard
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Clearing a full shard is crude but keeps memory bounded without LRU bookkeeping;
        // a key is re-derived in a microsecond, and entries are per day anyway.
        if map.len() >= self.shard_capacity {
            map.clear();
        }
        map.insert(id, key);
        key
    }

    /// Checks the request time against `now`: the clock-skew window for header
    /// authentication; for presigned requests, not before `X-Amz-Date` minus the skew and
    /// not after `X-Amz-Date` plus `X-Amz-Expires` (for STS, plus 15 minutes).
    pub fn check_time(
        &self,
        parsed: &ParsedAuth<'_>,
        now: OffsetDateTime,
    ) -> Result<(), SigV4Error> {
        let skew = self
            .settings
            .service_clock_skew
            .iter()
            .find(|(name, _)| *name == parsed.service)
            .map_or(self.settings.clock_skew, |&(_, skew)| skew);
        let skew_min = skew.whole_minutes();
        let ts = parsed.timestamp;
        if ts - now > skew {
            return Err(SigV4Error::NotYetValid(format!(
                "Signature not yet current: {} is still later than {} ({} + {skew_min} min.)",
                amz_date(ts),
                amz_date(now + skew),
                amz_date(now)
            )));
        }
        // STS takes no account of `X-Amz-Expires`: a presigned STS URL is good for 15 minutes
        // from `X-Amz-Date`, whatever it asks for. Such URLs are bearer proofs of identity
        // (aws-iam-authenticator, Vault's AWS auth), so honouring a week-long `X-Amz-Expires`
        // would let a leaked one be replayed for a week (bug).
        let expires = match parsed.expires {
            Some(_) if parsed.service == "sts" => Some(STS_PRESIGNED_LIFETIME_SECS),
            other => other,
        };
        match expires {
            Some(expires) => {
                let expires = Duration::seconds(i64::from(expires));
                if now - ts > expires {
                    return Err(SigV4Error::Expired(format!(
                        "Signature expired: {} is now earlier than {} ({} - {} sec.)",
                        amz_date(ts),
                        amz_date(now - expires),
                        amz_date(now),
                        expires.whole_seconds()
                    )));
                }
            }
            None => {
                if now - ts > skew {
                    return Err(SigV4Error::Expired(format!(
                        "Signature expired: {} is now earlier than {} ({} - {skew_min} min.)",
                        amz_date(ts),
                        amz_date(now - skew),
                        amz_date(now)
                    )));
                }
            }
        }
        Ok(())
    }

    /// The payload hashes to try, in order; checks `x-amz-content-sha256` against the body.
    fn payload_hashes<'r>(
        &self,
        parsed: &ParsedAuth<'_>,
        request: &Request<'r>,
        body_hash: &'r [u8; 64],
    ) -> Result<[Option<&'r str>; 2], SigV4Error> {
        let body_hex = std::str::from_utf8(body_hash).unwrap_or_default();
        if let Some(claimed) = request.header("x-amz-content-sha256") {
            if claimed == UNSIGNED_PAYLOAD {
                if !self.settings.allow_unsigned_payload {
                    return Err(SigV4Error::InvalidContentSha256(
                        "x-amz-content-sha256 must be the SHA-256 hex digest of the body for this service.".to_owned(),
                    ));
                }
                return Ok([Some(claimed), None]);
            }
            let Some(claimed_bytes) = decode_hex32(claimed) else {
                return Err(SigV4Error::InvalidContentSha256(
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value."
                        .to_owned(),
                ));
            };
            let Some(actual) = decode_hex32(body_hex) else {
                return Err(SigV4Error::ContentSha256Mismatch);
            };
            constant_time::verify_slices_are_equal(&claimed_bytes, &actual)
                .map_err(|_| SigV4Error::ContentSha256Mismatch)?;
            return Ok([Some(claimed), None]);
        }
        if parsed.presigned && self.settings.allow_unsigned_payload {
            // Presigned URLs (S3 style) usually leave the payload unsigned; fall back to the
            // body hash for signers that did sign it.
            return Ok([Some(UNSIGNED_PAYLOAD), Some(body_hex)]);
        }
        Ok([Some(body_hex), None])
    }

    fn write_canonical(
        &self,
        out: &mut String,
        parsed: &ParsedAuth<'_>,
        request: &Request<'_>,
        payload_hash: &str,
    ) {
        write_canonical_request(
            out,
            &CanonicalInput {
                method: request.method,
                path: request.path,
                query: request.query,
                headers: request.headers,
                signed_headers: &parsed.signed_headers,
                payload_hash,
                skip_signature_param: parsed.presigned,
                rules: self.settings.canonicalization,
            },
        );
    }

    /// The canonical request the signature must cover, for diagnostics and tests; uses the
    /// first payload hash [`Verifier::verify`] would try.
    pub fn canonical_request(
        &self,
        parsed: &ParsedAuth<'_>,
        request: &Request<'_>,
        body: &[u8],
    ) -> Result<String, SigV4Error> {
        let body_hash = hex32(&sha256(body));
        let [first, _] = self.payload_hashes(parsed, request, &body_hash)?;
        let mut out = String::with_capacity(512);
        self.write_canonical(&mut out, parsed, request, first.unwrap_or_default());
        Ok(out)
    }

    /// The string to sign for a canonical request, for diagnostics and tests.
    pub fn string_to_sign(parsed: &ParsedAuth<'_>, canonical_request: &str) -> String {
        let mut out = String::with_capacity(128);
        write_string_to_sign(
            &mut out,
            parsed.timestamp,
            &ScopeRef {
                date: &parsed.credential_date,
                region: &parsed.region,
                service: &parsed.service,
            },
            &sha256(canonical_request.as_bytes()),
        );
        out
    }

    /// Verifies `parsed` (from [`crate::parse`] on the same request) against the request,
    /// its body and the secret key of `parsed.access_key_id`, at server time `now`.
    ///
    /// Checks, in order: the time window, `x-amz-content-sha256` against the body, then the
    /// signature (compared in constant time).
    pub fn verify(
        &self,
        parsed: &ParsedAuth<'_>,
        request: &Request<'_>,
        body: &[u8],
        secret_access_key: &str,
        now: OffsetDateTime,
    ) -> Result<(), SigV4Error> {
        self.check_time(parsed, now)?;
        let body_hash = hex32(&sha256(body));
        let hashes = self.payload_hashes(parsed, request, &body_hash)?;
        let key = self.signing_key(
            secret_access_key,
            &parsed.credential_date,
            &parsed.region,
            &parsed.service,
        );
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
        let scope = ScopeRef {
            date: &parsed.credential_date,
            region: &parsed.region,
            service: &parsed.service,
        };
        for payload_hash in hashes.into_iter().flatten() {
            let ok = with_buffer(|buf| {
                self.write_canonical(buf, parsed, request, payload_hash);
                let creq_hash = sha256(buf.as_bytes());
                buf.clear();
                write_string_to_sign(buf, parsed.timestamp, &scope, &creq_hash);
                hmac::verify(&key, buf.as_bytes(), &parsed.signature).is_ok()
            });
            if ok {
                return Ok(());
            }
        }
        Err(SigV4Error::SignatureMismatch)
    }
}
