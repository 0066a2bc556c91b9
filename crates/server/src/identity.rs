//! Who is calling: access keys, the principals behind them, and the root account bootstrap.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use palisade_seal::{Purpose, Sealer};
use palisade_store::{AccessKeyRecord, KeyLastUsed, Store, StoreError};
use time::OffsetDateTime;

/// The kind of principal, named as CloudTrail's `userIdentity.type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account's root user.
    Root,
    /// An IAM user.
    IamUser,
    /// A session of an assumed role.
    AssumedRole,
    /// A `GetFederationToken` session.
    FederatedUser,
    /// Nobody signed the request.
    Anonymous,
    /// The holder of an OpenID Connect token calling `AssumeRoleWithWebIdentity`.
    WebIdentity,
    /// The subject of a SAML assertion calling `AssumeRoleWithSAML`.
    SamlUser,
}

impl PrincipalKind {
    /// The CloudTrail name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "Root",
            Self::IamUser => "IAMUser",
            Self::AssumedRole => "AssumedRole",
            Self::FederatedUser => "FederatedUser",
            Self::Anonymous => "Unknown",
            Self::WebIdentity => "WebIdentityUser",
            Self::SamlUser => "SAMLUser",
        }
    }

    /// The kind named by [`PrincipalKind::as_str`].
    pub fn parse(s: &str) -> Self {
        match s {
            "Root" => Self::Root,
            "IAMUser" => Self::IamUser,
            "AssumedRole" => Self::AssumedRole,
            "FederatedUser" => Self::FederatedUser,
            "WebIdentityUser" => Self::WebIdentity,
            "SAMLUser" => Self::SamlUser,
            _ => Self::Anonymous,
        }
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The principal's kind.
    pub kind: PrincipalKind,
    /// The account the principal belongs to.
    pub account_id: String,
    /// The principal's ARN.
    pub arn: String,
    /// The principal's unique id (`aws:userid`): the account id for root.
    pub principal_id: String,
    /// The access key that signed the request.
    pub access_key_id: Option<String>,
    /// The IAM user name.
    pub user_name: Option<String>,
    /// For temporary credentials, the session they belong to.
    pub session: Option<Arc<crate::session::Session>>,
    /// For `AssumeRoleWithWebIdentity` and `AssumeRoleWithSAML`, the verified token's or
    /// assertion's identity.
    pub web_identity: Option<Arc<WebIdentity>>,
}

/// Who an OpenID Connect token or a SAML assertion says its holder is, once it has been
/// verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebIdentity {
    /// OIDC: the issuer as IAM names the provider, its URL without `https://`. SAML: the
    /// assertion's `Issuer`.
    pub issuer: String,
    /// The IAM OIDC or SAML provider's ARN.
    pub provider_arn: String,
    /// OIDC: the audience that matched one of the provider's client ids. SAML: the subject
    /// confirmation's `Recipient` (`saml:aud`).
    pub audience: String,
    /// The `sub` claim, or the assertion's `NameID`.
    pub subject: String,
    /// The `amr` claim's values, when it has any.
    pub amr: Vec<String>,
    /// Session tags from the `https://aws.amazon.com/tags` claim's `principal_tags`.
    pub tags: Vec<crate::session::SessionTag>,
    /// The tag keys the claim's `transitive_tag_keys` names.
    pub transitive_tag_keys: Vec<String>,
    /// The `https://aws.amazon.com/source_identity` claim (`SourceIdentity` attribute).
    pub source_identity: Option<String>,
    /// What only a SAML assertion has.
    pub saml: Option<SamlSession>,
}

/// The session a SAML assertion asks for, and how AWS names its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlSession {
    /// The `RoleSessionName` attribute.
    pub session_name: String,
    /// The `SessionDuration` attribute.
    pub duration: Option<i64>,
    /// The `AuthnStatement`'s `SessionNotOnOrAfter` (epoch seconds): no session outlives it.
    pub not_after: Option<i64>,
    /// `persistent`, `transient` or the `NameID`'s format URI.
    pub subject_type: String,
    /// AWS's `NameQualifier`: BASE64(SHA1(issuer + account + "/" + provider name)).
    pub name_qualifier: String,
}

impl WebIdentity {
    /// CloudTrail's `identityProvider`: the OIDC issuer, or a SAML user's name qualifier.
    pub fn identity_provider(&self) -> &str {
        self.saml
            .as_ref()
            .map_or(&self.issuer, |s| &s.name_qualifier)
    }
}

/// The ARN of an account's root user, which is also how policies name the account as a whole.
pub fn root_arn(account_id: &str) -> String {
    format!("arn:aws:iam::{account_id}:root")
}

impl Caller {
    /// The root user of an account.
    pub fn root(account_id: &str, access_key_id: Option<String>) -> Self {
        Self {
            kind: PrincipalKind::Root,
            account_id: account_id.to_owned(),
            arn: root_arn(account_id),
            principal_id: account_id.to_owned(),
            access_key_id,
            user_name: None,
            session: None,
            web_identity: None,
        }
    }

    /// Whether the request was signed with temporary credentials.
    pub fn is_temporary(&self) -> bool {
        self.session.is_some()
    }
}

/// An access key with its secret unsealed, kept in memory so that verifying a signature needs no
/// store read.
#[derive(Clone)]
pub struct ActiveKey {
    /// The principal the key belongs to.
    pub caller: Caller,
    /// The secret access key.
    pub secret: Arc<str>,
    /// Whether the key is `Active`.
    pub active: bool,
}

impl std::fmt::Debug for ActiveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveKey")
            .field("caller", &self.caller)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// Why a key could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed secret did not open: the data directory's root key is not the one the key was
    /// sealed with.
    #[error("the secret of access key {0} cannot be unsealed: is this the data directory's kek?")]
    Unseal(String),
    /// The root key given in PALISADE_ROOT_ACCESS_KEY_ID / PALISADE_ROOT_SECRET_ACCESS_KEY is
    /// not one an AWS client can use, or its id belongs to another principal.
    #[error("invalid root access key from the environment: {0}")]
    BadRootKey(String),
    /// Writing the credentials file failed.
    #[error("cannot write the credentials file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Resolves access key ids to principals and secrets, through an in-memory cache in front of
/// the store.
#[derive(Debug)]
pub struct KeyRing {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    cache: RwLock<HashMap<String, ActiveKey>>,
    /// Bumped, under the cache's lock, whenever a key is forgotten: a lookup that read the
    /// store before a change caches what it read only if no change came since (bug: a key
    /// deleted or deactivated while a lookup of it was reading the store was put back in the
    /// cache after `forget`, and accepted until its next change).
    generation: AtomicU64,
    /// Last use of each key, and when it was last written to the store.
    last_used: RwLock<HashMap<String, (KeyLastUsed, i64)>>,
}

/// How often a key's last use is written to the store, in seconds: at most once a minute per
/// key, so that a busy key costs no write per request.
const LAST_USED_PERSIST_SECS: i64 = 60;

impl KeyRing {
    /// A key ring over the store.
    pub fn new(store: Arc<dyn Store>, sealer: Arc<Sealer>) -> Self {
        Self {
            store,
            sealer,
            cache: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            last_used: RwLock::new(HashMap::new()),
        }
    }

    /// Notes that a key was used; written to the store at most once a minute.
    pub fn touch(&self, access_key_id: &str, service: &str, region: &str, now: OffsetDateTime) {
        let at = now.unix_timestamp();
        let used = KeyLastUsed {
            at,
            service: service.to_owned(),
            region: region.to_owned(),
        };
        let persist = match self.last_used.write() {
            Ok(mut map) => {
                let persisted = map.get(access_key_id).map_or(i64::MIN, |(_, p)| *p);
                let persist = at.saturating_sub(persisted) >= LAST_USED_PERSIST_SECS;
                let mark = if persist { at } else { persisted };
                map.insert(access_key_id.to_owned(), (used.clone(), mark));
                persist
            }
            Err(_) => false,
        };
        if persist {
            let store = self.store.clone();
            let id = access_key_id.to_owned();
            tokio::spawn(async move {
                if let Err(e) = store.touch_access_key(&id, &used).await {
                    tracing::warn!(error = %e, "cannot record an access key's last use");
                }
            });
        }
    }

    /// Writes the last uses not yet in the store (those within a minute of the last write), so
    /// that a restart does not turn a key's last use back by up to a minute, to an earlier
    /// service (bug: GetAccessKeyLastUsed and the credential report went backwards after a
    /// clean shutdown). Called at shutdown.
    pub async fn flush(&self) {
        let pending: Vec<(String, KeyLastUsed)> = match self.last_used.read() {
            Ok(map) => map
                .iter()
                // `>=`: a use in the same second as the written one may name another service.
                .filter(|(_, (used, persisted))| used.at >= *persisted)
                .map(|(id, (used, _))| (id.clone(), used.clone()))
                .collect(),
            Err(_) => Vec::new(),
        };
        for (id, used) in pending {
            if let Err(e) = self.store.touch_access_key(&id, &used).await {
                tracing::warn!(error = %e, "cannot record an access key's last use");
            }
        }
    }

    /// The last use of a key, from memory or the store.
    pub async fn last_used(&self, access_key_id: &str) -> Result<Option<KeyLastUsed>, KeyError> {
        if let Ok(map) = self.last_used.read()
            && let Some((used, _)) = map.get(access_key_id)
        {
            return Ok(Some(used.clone()));
        }
        Ok(self
            .store
            .access_key(access_key_id)
            .await?
            .and_then(|r| r.last_used))
    }

    /// Looks up an access key; `None` when no such key exists.
    pub async fn resolve(&self, access_key_id: &str) -> Result<Option<ActiveKey>, KeyError> {
        if let Ok(cache) = self.cache.read()
            && let Some(key) = cache.get(access_key_id)
        {
            return Ok(Some(key.clone()));
        }
        let seen = self.generation.load(Ordering::Acquire);
        let Some(record) = self.store.access_key(access_key_id).await? else {
            return Ok(None);
        };
        let key = self.unseal(&record)?;
        if let Ok(mut cache) = self.cache.write()
            && self.generation.load(Ordering::Acquire) == seen
        {
            cache.insert(access_key_id.to_owned(), key.clone());
        }
        Ok(Some(key))
    }

    fn unseal(&self, record: &AccessKeyRecord) -> Result<ActiveKey, KeyError> {
        let secret = self
            .sealer
            .open(
                Purpose::AccessKeySecret,
                &record.access_key_id,
                &record.sealed_secret,
            )
            .map_err(|_| KeyError::Unseal(record.access_key_id.clone()))?;
        let secret = String::from_utf8(secret)
            .map_err(|_| KeyError::Unseal(record.access_key_id.clone()))?;
        Ok(ActiveKey {
            caller: Caller {
                kind: PrincipalKind::parse(&record.principal_type),
                account_id: record.account_id.clone(),
                arn: record.principal_arn.clone(),
                principal_id: record.principal_id.clone(),
                access_key_id: Some(record.access_key_id.clone()),
                user_name: record.user_name.clone(),
                session: None,
                web_identity: None,
            },
            secret: Arc::from(secret),
            active: record.status == "Active",
        })
    }

    /// Stores a new key for `caller`, sealing the secret.
    pub async fn put(
        &self,
        caller: &Caller,
        access_key_id: &str,
        secret: &str,
    ) -> Result<(), KeyError> {
        let sealed = self
            .sealer
            .seal(Purpose::AccessKeySecret, access_key_id, secret.as_bytes())
            .map_err(|_| KeyError::Unseal(access_key_id.to_owned()))?;
        let record = AccessKeyRecord {
            access_key_id: access_key_id.to_owned(),
            account_id: caller.account_id.clone(),
            principal_type: caller.kind.as_str().to_owned(),
            principal_arn: caller.arn.clone(),
            principal_id: caller.principal_id.clone(),
            user_name: caller.user_name.clone(),
            sealed_secret: sealed,
            status: "Active".to_owned(),
            created_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            last_used: None,
        };
        // The account may be one a reset (or --dev) has not created yet.
        self.store.ensure_account(&caller.account_id).await?;
        self.store.put_access_key(&record).await?;
        self.forget(access_key_id);
        Ok(())
    }

    /// Drops one key from the cache (after its status changed or it was deleted).
    pub fn forget(&self, access_key_id: &str) {
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(access_key_id);
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Seals a secret for storage under `access_key_id`.
    pub fn seal_secret(&self, access_key_id: &str, secret: &str) -> Result<Vec<u8>, KeyError> {
        self.sealer
            .seal(Purpose::AccessKeySecret, access_key_id, secret.as_bytes())
            .map_err(|_| KeyError::Unseal(access_key_id.to_owned()))
    }

    /// Forgets every cached key (after a reset of the store).
    pub fn clear(&self) {
        if let Ok(mut cache) = self.cache.write() {
            cache.clear();
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        if let Ok(mut map) = self.last_used.write() {
            map.clear();
        }
    }
}

const KEY_ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_string(prefix: &str, len: usize, alphabet: &[u8]) -> Result<String, KeyError> {
    let mut bytes = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KeyError::Unseal("random".to_owned()))?;
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    // Both alphabets have a power-of-two length, so the modulo introduces no bias.
    out.extend(
        bytes
            .iter()
            .filter_map(|b| alphabet.get(usize::from(*b) % alphabet.len()))
            .map(|c| char::from(*c)),
    );
    Ok(out)
}

/// A new long-term access key id (`AKIA` and 16 base32 characters) and its 40-character secret.
pub fn new_access_key() -> Result<(String, String), KeyError> {
    new_key_pair("AKIA")
}

/// A new key id with the given prefix (`AKIA` long-term, `ASIA` temporary) and a secret.
pub fn new_key_pair(prefix: &str) -> Result<(String, String), KeyError> {
    Ok((
        random_string(prefix, 16, KEY_ID_ALPHABET)?,
        random_string("", 40, SECRET_ALPHABET)?,
    ))
}

/// The bits of a key id's 80 (its 16 base32 characters after the prefix) that hold the account,
/// where AWS's key ids hold it: bits 7 to 46 of the first 48.
const ACCOUNT_SHIFT: u32 = 32 + 7;
const ACCOUNT_MASK: u128 = (1 << 40) - 1;

/// A new temporary (`ASIA`) key id that carries `account`, and a secret. Nothing about a session
/// is stored, so `GetAccessKeyInfo` reads the account from the id, as AWS's ids carry it (bug:
/// it answered the caller's own account for another account's role session). The other 40 bits
/// are random, so ids stay unguessable; an account that is not 12 digits gets a random id.
pub fn new_session_key_pair(account: &str) -> Result<(String, String), KeyError> {
    let number = account
        .parse::<u64>()
        .ok()
        .filter(|n| account.len() == 12 && *n <= 999_999_999_999);
    let Some(number) = number else {
        return new_key_pair("ASIA");
    };
    let random = random_bytes(10)?;
    let mut bits = random
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    bits &= !(ACCOUNT_MASK << ACCOUNT_SHIFT);
    bits |= u128::from(number) << ACCOUNT_SHIFT;
    let mut id = String::with_capacity(20);
    id.push_str("ASIA");
    for i in (0..16).rev() {
        let index = usize::try_from((bits >> (i * 5)) & 0x1f).unwrap_or_default();
        if let Some(c) = KEY_ID_ALPHABET.get(index) {
            id.push(char::from(*c));
        }
    }
    Ok((id, random_string("", 40, SECRET_ALPHABET)?))
}

/// The account a key id carries ([`new_session_key_pair`]), if it is a 20-character key id of
/// base32 characters holding a 12-digit account.
pub fn key_id_account(key_id: &str) -> Option<String> {
    let body = key_id.get(4..).filter(|b| b.len() == 16)?;
    let mut bits = 0u128;
    for c in body.bytes() {
        let value = KEY_ID_ALPHABET.iter().position(|a| *a == c)?;
        bits = (bits << 5) | u128::try_from(value).ok()?;
    }
    let number = (bits >> ACCOUNT_SHIFT) & ACCOUNT_MASK;
    (number <= 999_999_999_999).then(|| format!("{number:012}"))
}

/// A new unique id as IAM makes them: a four-letter prefix (`AIDA` users, `AROA` roles,
/// `AGPA` groups, `ANPA` policies, `AIPA` instance profiles) and 17 characters.
pub fn new_unique_id(prefix: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    random_string(prefix, 17, ALPHABET).unwrap_or_else(|_| {
        // The system random source failing is not something IAM ids can recover from; fall
        // back to a v4 uuid's randomness (also from the OS) rather than fail the request.
        let hex = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
        format!("{prefix}{}", hex.get(..17).unwrap_or_default())
    })
}

/// Random bytes from the system source.
pub fn random_bytes(len: usize) -> Result<Vec<u8>, KeyError> {
    let mut bytes = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KeyError::Unseal("random".to_owned()))?;
    Ok(bytes)
}

/// What start-up did about the root user's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// A new root key was created and written to the credentials file.
    Created(PathBuf),
    /// The root key given in the environment was installed and written to the credentials file.
    FromEnvironment(PathBuf),
    /// The account already had its root key; the credentials file was left as it is.
    Existing(PathBuf),
    /// The account's root user has keys (or had them, and they were deleted), but the
    /// credentials file does not hold one: no new key is minted behind the operator's back.
    Withheld(PathBuf),
}

/// Makes sure the account and its root user's access key exist, and that the credentials file
/// describes the key, in AWS shared-credentials format, under profiles `palisade` and `default`.
pub async fn bootstrap_root(
    store: &dyn Store,
    keys: &KeyRing,
    data_dir: &Path,
    account_id: &str,
    env_key: Option<(&str, &str)>,
) -> Result<Bootstrap, KeyError> {
    store.ensure_account(account_id).await?;
    let path = data_dir.join("credentials");
    let root = Caller::root(account_id, None);
    if let Some((id, secret)) = env_key {
        if !(16..=128).contains(&id.len())
            || !id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(KeyError::BadRootKey(format!(
                "access key id {id:?} must be 16 to 128 upper-case letters and digits, such as AKIA..."
            )));
        }
        if secret.len() < 16
            || secret
                .bytes()
                .any(|b| b.is_ascii_whitespace() || !b.is_ascii())
        {
            return Err(KeyError::BadRootKey(
                "the secret access key must be at least 16 printable ASCII characters".to_owned(),
            ));
        }
        if let Some(other) = store.access_key(id).await?
            && other.principal_arn != root.arn
        {
            return Err(KeyError::BadRootKey(format!(
                "access key id {id} already belongs to {}",
                other.principal_arn
            )));
        }
        // IAM's quota of two access keys holds for the root user too: installing a third
        // would leave an old key working that the operator meant to replace (bug).
        let existing = store.access_keys_of(account_id, &root.arn).await?;
        if existing.len() >= 2 && !existing.iter().any(|k| k.access_key_id == id) {
            let ids: Vec<&str> = existing.iter().map(|k| k.access_key_id.as_str()).collect();
            return Err(KeyError::BadRootKey(format!(
                "the root user already has two access keys ({}), IAM's limit: delete one \
                 (aws iam delete-access-key --access-key-id ...) before installing {id}",
                ids.join(", ")
            )));
        }
        keys.put(&root, id, secret).await?;
        write_credentials(&path, account_id, id, secret)?;
        return Ok(Bootstrap::FromEnvironment(path));
    }
    let existing = store.access_keys_of(account_id, &root.arn).await?;
    let has_profile = read_profiles(&path)
        .iter()
        .any(|(n, _)| *n == account_profile(account_id));
    // The root user has keys that are not in the file (it was deleted), or had keys that the
    // operator deleted through IAM, as AWS advises: neither is a reason to mint another.
    if (!existing.is_empty() && !path.exists()) || (existing.is_empty() && has_profile) {
        return Ok(Bootstrap::Withheld(path));
    }
    if !existing.is_empty() && path.exists() {
        // The account's own profile, written when it was created, becomes the default again.
        let profiles = read_profiles(&path);
        if let Some((_, pairs)) = profiles
            .iter()
            .find(|(n, _)| *n == account_profile(account_id))
            && let (Some(id), Some(secret)) = (
                pairs.iter().find(|(k, _)| k == "aws_access_key_id"),
                pairs.iter().find(|(k, _)| k == "aws_secret_access_key"),
            )
        {
            let (id, secret) = (id.1.clone(), secret.1.clone());
            write_credentials(&path, account_id, &id, &secret)?;
        }
        return Ok(Bootstrap::Existing(path));
    }
    let (id, secret) = new_access_key()?;
    keys.put(&root, &id, &secret).await?;
    write_credentials(&path, account_id, &id, &secret)?;
    Ok(Bootstrap::Created(path))
}

/// The profile that keeps an account's root key in the credentials file.
fn account_profile(account_id: &str) -> String {
    format!("account-{account_id}")
}

/// The profiles of a shared-credentials file: (name, key = value pairs), in file order.
fn read_profiles(path: &Path) -> Vec<(String, Vec<(String, String)>)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((name.trim().to_owned(), Vec::new()));
        } else if let (Some((k, v)), Some((_, pairs))) = (line.split_once('='), out.last_mut()) {
            pairs.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

/// Writes the root key of the account being started as the `palisade` and `default` profiles
/// and as its own `account-<id>` profile, keeping the other accounts' profiles: a second account
/// started on the same data directory must not lose the first one's root key.
fn write_credentials(
    path: &Path,
    account_id: &str,
    id: &str,
    secret: &str,
) -> Result<(), KeyError> {
    let own = account_profile(account_id);
    let kept: Vec<_> = read_profiles(path)
        .into_iter()
        .filter(|(n, _)| n != "palisade" && n != "default" && *n != own)
        .collect();
    let mut text = String::new();
    for profile in ["palisade", "default", own.as_str()] {
        text.push_str(&format!(
            "[{profile}]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n\n"
        ));
    }
    for (name, pairs) in kept {
        text.push_str(&format!("[{name}]\n"));
        for (k, v) in pairs {
            text.push_str(&format!("{k} = {v}\n"));
        }
        text.push('\n');
    }
    palisade_seal::write_private(path, text.as_bytes()).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_keys_look_like_aws_keys() {
        let (id, secret) = new_access_key().unwrap();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKIA"));
        assert!(
            id.chars()
                .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
        );
        assert_eq!(secret.len(), 40);
        assert_ne!(new_access_key().unwrap().0, id);
    }

    #[test]
    fn session_key_ids_carry_their_account_as_aws_ids_do() {
        for account in [
            "123456789012",
            "000000000001",
            "999999999999",
            "111111111111",
        ] {
            let (id, secret) = new_session_key_pair(account).unwrap();
            assert_eq!(id.len(), 20);
            assert!(id.starts_with("ASIA"));
            assert_eq!(secret.len(), 40);
            assert_eq!(key_id_account(&id).as_deref(), Some(account));
            assert_ne!(new_session_key_pair(account).unwrap().0, id);
        }
        // Ids that are not 16 base32 characters after the prefix carry no account.
        assert!(key_id_account("ASIA").is_none());
        assert!(key_id_account("ASIAabcdefghijklmnop").is_none());
        assert!(key_id_account("ASIA0000000000000000").is_none());
        // An account that is not 12 digits gets a plain random id.
        assert!(new_session_key_pair("local").unwrap().0.starts_with("ASIA"));
    }
}
