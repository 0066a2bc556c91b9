//! Outbound identity federation: an account's principals get JSON web tokens from STS
//! (`GetWebIdentityToken`) that external services verify with the account's published keys, as
//! with AWS's `EnableOutboundWebIdentityFederation`.
//!
//! Each account that enables the feature gets an issuer of its own: a URL under Palisade's public
//! URL (`--public-url`, by default the address it listens on), `<public>/_palisade/outbound/<id>`,
//! which serves the OpenID Connect discovery documents (`/.well-known/openid-configuration` and
//! `/.well-known/jwks.json`) without authentication, as AWS's per-account issuer hosts do. The
//! random id keeps one account's issuer from being guessed from another's.
//!
//! Two keys per account, made when the feature is first enabled: RSA 2048 for `RS256` and P-384
//! for `ES384`, the two algorithms `GetWebIdentityToken` offers. Their private halves are stored
//! only sealed under the root key (`Purpose::WebIdentitySigningKey`, bound to the account, the issuer
//! and the algorithm). The issuers are read once at start; the map in memory is then the whole
//! truth, so a lookup by an id that is not one reads nothing (the discovery routes are public). Disabling keeps the issuer and the keys, so that enabling again does not change
//! what external services were told to trust; tokens are not issued and the keys are not
//! published while the feature is off.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::StatusCode;
use palisade_seal::{Purpose, Sealer};
use palisade_store::{Document, DocumentChange};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// The store collection: one document per account that ever enabled the feature.
const COLLECTION: &str = "iam.outbound_federation";

/// Where issuers live under the public URL. Under `/_palisade/`, which no AWS API path (nor an
/// S3 bucket name) can take.
pub const PATH_PREFIX: &str = "/_palisade/outbound/";

/// The claim under which a token's AWS-specific claims are nested.
pub const CLAIMS_NAMESPACE: &str = "https://sts.amazonaws.com/";

/// The JWS algorithms `GetWebIdentityToken` signs with.
pub const ALGORITHMS: [&str; 2] = ["RS256", "ES384"];

/// A token's lifetime when the request names none, in seconds.
pub const DEFAULT_TOKEN_SECONDS: i64 = 300;

/// One of [`ALGORITHMS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, the RSA 2048 key.
    Rs256,
    /// ECDSA P-384 with SHA-384, the EC key.
    Es384,
}

impl Alg {
    /// The algorithm a JWS `alg` names, if it is one of ours.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "ES384" => Some(Self::Es384),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es384 => "ES384",
        }
    }
}

/// An account's issuer: its id, whether tokens are issued, and its signing keys.
#[derive(Clone)]
pub struct Issuer {
    /// The random part of the issuer URL.
    pub id: String,
    /// Whether the feature is on.
    pub enabled: bool,
    keys: Arc<Keys>,
}

/// An issuer's two key pairs and their sealed forms as stored.
struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    sealed_rsa: String,
    sealed_ec: String,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.debug_struct("Issuer")
            .field("id", &self.id)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// The stored form: the keys sealed, base64.
#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    enabled: bool,
    rs256: String,
    es384: String,
}

/// Every account's issuer, in memory over the store.
#[derive(Debug, Default)]
pub struct Outbound {
    /// By account id.
    issuers: RwLock<HashMap<String, Arc<Issuer>>>,
    /// Held by whatever changes an issuer, from reading it to saving it.
    writer: tokio::sync::Mutex<()>,
}

/// What a sealed key is bound to: its account, issuer and algorithm, so that no stored key can
/// be moved to another of the three.
fn seal_id(account: &str, issuer: &str, alg: &str) -> String {
    format!("outbound-federation/{account}/{issuer}/{alg}")
}

/// The key ids, in the form AWS's issuers publish (one key per algorithm; a rotation would
/// publish `_1` beside `_0`).
const RSA_KID: &str = "RSA_0";
const EC_KID: &str = "EC384_0";

fn rsa_jwk_members(key: &RsaKeyPair) -> (String, String) {
    let parts: PublicKeyComponents<Vec<u8>> = key.public_key().into();
    (
        URL_SAFE_NO_PAD.encode(&parts.n),
        URL_SAFE_NO_PAD.encode(&parts.e),
    )
}

/// The P-384 public point's coordinates (the point is `04 || x || y`).
fn ec_jwk_members(key: &EcdsaKeyPair) -> (String, String) {
    let point = key.public_key().as_ref();
    let x = point.get(1..49).unwrap_or_default();
    let y = point.get(49..97).unwrap_or_default();
    (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y))
}

impl Keys {
    fn new(rsa_der: &[u8], ec_der: &[u8], sealed: (String, String)) -> Result<Self, ApiError> {
        let rsa = RsaKeyPair::from_pkcs8(rsa_der)
            .map_err(|_| ApiError::internal("web identity rsa key is not pkcs#8"))?;
        let ec = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, ec_der)
            .map_err(|_| ApiError::internal("web identity ec key is not pkcs#8"))?;
        // The JWK's coordinates are cut from the uncompressed point: 04 || x || y.
        let point = ec.public_key().as_ref().len();
        if point != 97 {
            return Err(ApiError::internal(format!(
                "web identity ec public key is {point} bytes, not an uncompressed p-384 point"
            )));
        }
        Ok(Self {
            rsa,
            ec,
            sealed_rsa: sealed.0,
            sealed_ec: sealed.1,
        })
    }

    /// Opens the sealed keys of `account`'s issuer.
    fn unseal(
        sealer: &Sealer,
        account: &str,
        issuer: &str,
        sealed: (String, String),
    ) -> Result<Self, ApiError> {
        let open = |alg: &str, b64: &str| {
            let blob = STANDARD.decode(b64).map_err(ApiError::internal)?;
            sealer
                .open(
                    Purpose::WebIdentitySigningKey,
                    &seal_id(account, issuer, alg),
                    &blob,
                )
                .map_err(ApiError::internal)
        };
        let rsa = open("RS256", &sealed.0)?;
        let ec = open("ES384", &sealed.1)?;
        Self::new(&rsa, &ec, sealed)
    }

    /// Fresh keys for `account`, sealed.
    fn generate(sealer: &Sealer, account: &str, issuer: &str) -> Result<Self, ApiError> {
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| ApiError::internal("rsa key generation failed"))?;
        let rsa_der: Pkcs8V1Der<'static> = rsa
            .as_der()
            .map_err(|_| ApiError::internal("rsa key encoding failed"))?;
        let ec = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
            .map_err(|_| ApiError::internal("ec key generation failed"))?;
        let ec_der = ec
            .to_pkcs8v1()
            .map_err(|_| ApiError::internal("ec key encoding failed"))?;
        let seal = |alg: &str, der: &[u8]| {
            sealer
                .seal(
                    Purpose::WebIdentitySigningKey,
                    &seal_id(account, issuer, alg),
                    der,
                )
                .map(|s| STANDARD.encode(s))
                .map_err(ApiError::internal)
        };
        let sealed = (
            seal("RS256", rsa_der.as_ref())?,
            seal("ES384", ec_der.as_ref())?,
        );
        Self::new(rsa_der.as_ref(), ec_der.as_ref(), sealed)
    }
}

impl Issuer {
    /// The public keys as a JWK set.
    pub fn jwks(&self) -> Value {
        let k = &self.keys;
        let (n, e) = rsa_jwk_members(&k.rsa);
        let (x, y) = ec_jwk_members(&k.ec);
        json!({"keys": [
            {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": RSA_KID, "n": n, "e": e},
            {"kty": "EC", "use": "sig", "alg": "ES384", "kid": EC_KID, "crv": "P-384", "x": x, "y": y},
        ]})
    }

    /// A compact JWS of `claims` signed with `alg`'s key.
    pub fn sign(&self, alg: Alg, claims: &Value) -> Result<String, ApiError> {
        let k = &self.keys;
        let kid = match alg {
            Alg::Rs256 => RSA_KID,
            Alg::Es384 => EC_KID,
        };
        let header = json!({"alg": alg.name(), "kid": kid, "typ": "JWT"});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let sig = if alg == Alg::Rs256 {
            let mut sig = vec![0u8; k.rsa.public_modulus_len()];
            k.rsa
                .sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    signing_input.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| ApiError::internal("rs256 signing failed"))?;
            sig
        } else {
            k.ec.sign(&rng, signing_input.as_bytes())
                .map_err(|_| ApiError::internal("es384 signing failed"))?
                .as_ref()
                .to_vec()
        };
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// The issuer URL of issuer `id`: `<public url>/_palisade/outbound/<id>`.
pub fn issuer_url(state: &AppState, id: &str) -> String {
    format!(
        "{}{PATH_PREFIX}{id}",
        state.config.public_url.trim_end_matches('/')
    )
}

/// The OpenID Connect discovery document of the issuer at `url`.
pub fn openid_configuration(url: &str) -> Value {
    json!({
        "issuer": url,
        "jwks_uri": format!("{url}/.well-known/jwks.json"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "jti", CLAIMS_NAMESPACE],
        "id_token_signing_alg_values_supported": ALGORITHMS,
    })
}

fn feature_enabled() -> ApiError {
    ApiError::new(
        "FeatureEnabled",
        "Outbound web identity federation is already enabled for this account.",
        StatusCode::CONFLICT,
    )
}

fn feature_disabled() -> ApiError {
    ApiError::new(
        "FeatureDisabled",
        "Outbound web identity federation is disabled for this account.",
        StatusCode::NOT_FOUND,
    )
}

impl Outbound {
    /// Reads every account's issuer from the store, at start. From then on the map is the whole
    /// truth: a lookup that misses reads nothing (the discovery routes are public, and an unknown
    /// id must cost nothing).
    pub async fn load(
        &self,
        store: &dyn palisade_store::Store,
        sealer: &Sealer,
    ) -> Result<(), ApiError> {
        let docs = store
            .documents(COLLECTION)
            .await
            .map_err(ApiError::internal)?;
        let mut loaded = HashMap::new();
        for d in docs {
            let s: Stored = serde_json::from_slice(&d.body).map_err(ApiError::internal)?;
            let keys = Keys::unseal(sealer, &d.key, &s.id, (s.rs256, s.es384))?;
            let issuer = Issuer {
                id: s.id,
                enabled: s.enabled,
                keys: Arc::new(keys),
            };
            loaded.insert(d.key, Arc::new(issuer));
        }
        if let Ok(mut m) = self.issuers.write() {
            *m = loaded;
        }
        Ok(())
    }

    /// Forgets everything (the store was reset), after any change in progress.
    pub async fn clear(&self) {
        let _writing = self.writer.lock().await;
        if let Ok(mut m) = self.issuers.write() {
            m.clear();
        }
    }

    /// The account's issuer, if it ever enabled the feature.
    pub fn issuer(&self, account: &str) -> Option<Arc<Issuer>> {
        self.issuers.read().ok()?.get(account).cloned()
    }

    /// The issuer whose URL ends in `id`, enabled or not.
    pub fn by_id(&self, id: &str) -> Option<Arc<Issuer>> {
        // Only what an issuer id can be reaches the map.
        uuid::Uuid::parse_str(id).ok()?;
        let m = self.issuers.read().ok()?;
        m.values().find(|i| i.id == id).cloned()
    }

    async fn save(
        &self,
        state: &AppState,
        account: &str,
        issuer: Issuer,
    ) -> Result<Arc<Issuer>, ApiError> {
        let stored = Stored {
            id: issuer.id.clone(),
            enabled: issuer.enabled,
            rs256: issuer.keys.sealed_rsa.clone(),
            es384: issuer.keys.sealed_ec.clone(),
        };
        state
            .store
            .apply_documents(&[DocumentChange::Put(Document {
                collection: COLLECTION.to_owned(),
                key: account.to_owned(),
                body: serde_json::to_vec(&stored).map_err(ApiError::internal)?,
            })])
            .await
            .map_err(ApiError::store_write)?;
        let issuer = Arc::new(issuer);
        if let Ok(mut m) = self.issuers.write() {
            m.insert(account.to_owned(), issuer.clone());
        }
        Ok(issuer)
    }

    /// `EnableOutboundWebIdentityFederation`: turns the feature on, making the issuer and its
    /// keys the first time. Returns the issuer URL.
    pub async fn enable(&self, state: &AppState, account: &str) -> Result<String, ApiError> {
        // One change at a time: two first enables must not make two issuers, one of whose
        // URLs and tokens the other's save would orphan.
        let _writing = self.writer.lock().await;
        let issuer = match self.issuer(account) {
            Some(i) if i.enabled => return Err(feature_enabled()),
            Some(i) => Issuer {
                enabled: true,
                ..(*i).clone()
            },
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                let sealer = state.sealer.clone();
                let (acct, kid) = (account.to_owned(), id.clone());
                // RSA key generation takes long enough to stall a runtime thread.
                let keys =
                    tokio::task::spawn_blocking(move || Keys::generate(&sealer, &acct, &kid))
                        .await
                        .map_err(ApiError::internal)??;
                Issuer {
                    id,
                    enabled: true,
                    keys: Arc::new(keys),
                }
            }
        };
        let saved = self.save(state, account, issuer).await?;
        Ok(issuer_url(state, &saved.id))
    }

    /// `DisableOutboundWebIdentityFederation`.
    pub async fn disable(&self, state: &AppState, account: &str) -> Result<(), ApiError> {
        let _writing = self.writer.lock().await;
        match self.issuer(account) {
            Some(i) if i.enabled => {
                let off = Issuer {
                    enabled: false,
                    ..(*i).clone()
                };
                self.save(state, account, off).await?;
                Ok(())
            }
            _ => Err(feature_disabled()),
        }
    }

    /// `GetOutboundWebIdentityFederationInfo`: the issuer URL and whether tokens are issued;
    /// `FeatureDisabled` when the account never enabled the feature.
    pub fn info(&self, state: &AppState, account: &str) -> Result<(String, bool), ApiError> {
        match self.issuer(account) {
            Some(i) => Ok((issuer_url(state, &i.id), i.enabled)),
            None => Err(feature_disabled()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> Issuer {
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let rsa_der: Pkcs8V1Der<'static> = rsa.as_der().unwrap();
        let ec = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
        let ec_der = ec.to_pkcs8v1().unwrap();
        let keys = Keys::new(
            rsa_der.as_ref(),
            ec_der.as_ref(),
            (String::new(), String::new()),
        );
        Issuer {
            id: "i".into(),
            enabled: true,
            keys: Arc::new(keys.unwrap()),
        }
    }

    /// The signer against the verifier Palisade uses for other issuers' tokens
    /// (`AssumeRoleWithWebIdentity`): each algorithm verifies with the published key of its
    /// header's `kid`, and with no other.
    #[test]
    fn tokens_verify_with_the_published_key_their_header_names() {
        let issuer = issuer();
        let jwks = issuer.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        for alg in ALGORITHMS {
            let token = issuer
                .sign(Alg::parse(alg).unwrap(), &json!({"sub": "s"}))
                .unwrap();
            let mut parts = token.rsplitn(2, '.');
            let sig = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
            let signed = parts.next().unwrap();
            let head = signed.split('.').next().unwrap();
            let header: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap();
            assert_eq!(header["alg"], alg);
            for key in keys {
                let named = key["kid"] == header["kid"];
                let ok = crate::oidc::verify_jwk(key, alg, signed.as_bytes(), &sig).unwrap();
                assert_eq!(ok, named, "{alg} with {}", key["kid"]);
            }
            let mut tampered = signed.as_bytes().to_vec();
            if let Some(b) = tampered.last_mut() {
                *b ^= 1;
            }
            let key = keys.iter().find(|k| k["kid"] == header["kid"]).unwrap();
            assert!(!crate::oidc::verify_jwk(key, alg, &tampered, &sig).unwrap());
        }
    }
}
