//! Envelope encryption of secret values: a data key per version from Palisade's KMS (under
//! `alias/aws/secretsmanager` or the secret's `KmsKeyId`), AES-256-GCM under it with the
//! secret's ARN and the version id as AAD. Only the encrypted data key and the ciphertext are
//! kept; decrypted data keys are cached in memory per version so that reads need no KMS call.

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::state::Sealed;
use crate::error::ApiError;
use crate::identity::Caller;
use crate::state::AppState;

const SERVICE: &str = "secretsmanager";

fn context(arn: &str, version: &str) -> palisade_kms::EncryptionContext {
    // AWS's own encryption context for secret values.
    let mut c = palisade_kms::EncryptionContext::new();
    c.insert("SecretARN".to_owned(), arn.to_owned());
    c.insert("SecretVersionId".to_owned(), version.to_owned());
    c
}

fn aad(arn: &str, version: &str) -> Vec<u8> {
    // Length-prefixed so that no (arn, version) pair can collide with another.
    let mut a = Vec::with_capacity(arn.len() + version.len() + 8);
    a.extend_from_slice(&(arn.len() as u32).to_be_bytes());
    a.extend_from_slice(arn.as_bytes());
    a.extend_from_slice(&(version.len() as u32).to_be_bytes());
    a.extend_from_slice(version.as_bytes());
    a
}

fn kms_failure(code: &'static str, e: ApiError) -> ApiError {
    if e.code == "AccessDeniedException" {
        // Secrets Manager's own answer; the KMS denial, naming the key and the reason, is in
        // the KMS event of the call (`invokedBy`).
        return ApiError::new(
            "AccessDeniedException",
            "Access to KMS is not allowed",
            http::StatusCode::BAD_REQUEST,
        );
    }
    let what = if code == "EncryptionFailure" {
        "encrypt"
    } else {
        "decrypt"
    };
    ApiError::bad_request(
        code,
        format!(
            "Secrets Manager can't {what} the protected secret text using the provided KMS key: {}",
            e.message
        ),
    )
}

/// AWS's answer to another account's caller on a secret under the AWS-managed key, which only
/// the secret's own account can use.
fn managed_key_of_another_account() -> ApiError {
    ApiError::new(
        "AccessDeniedException",
        "You can't access a secret from a different AWS account if you encrypt the secret with \
         the default KMS service key.",
        http::StatusCode::BAD_REQUEST,
    )
}

/// The managed key serves the secret's own account only: another account's caller is refused
/// rather than given its own account's managed key (bug: another account's writer sealed the
/// owner's secret under its own managed key, locking the owner out of it).
pub fn owners_managed_key_only(
    caller: &Caller,
    secret_arn: &str,
    kms_key_id: Option<&str>,
) -> Result<(), ApiError> {
    if kms_key_id.is_none_or(is_managed_alias)
        && secret_arn.split(':').nth(4) != Some(caller.account_id.as_str())
    {
        return Err(managed_key_of_another_account());
    }
    Ok(())
}

/// Whether `key_id` names the AWS-managed key by its alias (name or ARN).
pub fn is_managed_alias(key_id: &str) -> bool {
    key_id == "alias/aws/secretsmanager" || key_id.ends_with(":alias/aws/secretsmanager")
}

/// A data key for a value of the secret `arn` under `kms_key_id` (the managed key when `None`),
/// always a key of the secret's owner (see [`owners_managed_key_only`] and [`qualified`]).
async fn owners_data_key(
    state: &AppState,
    caller: &Caller,
    region: &str,
    arn: &str,
    kms_key_id: Option<&str>,
    context: &palisade_kms::EncryptionContext,
) -> Result<crate::services::kms::ServiceDataKey, ApiError> {
    owners_managed_key_only(caller, arn, kms_key_id)?;
    let key_id = kms_key_id.map(|k| qualified(k, arn));
    crate::services::kms::generate_data_key_for_service(
        state,
        caller,
        region,
        SERVICE,
        key_id.as_deref(),
        context,
    )
    .await
    .map_err(|e| kms_failure("EncryptionFailure", e))
}

/// The version id of the KMS calls that check a key before a secret has a value under it.
const VALIDATION_VERSION: &str = "RequestToValidateKeyAccess";

/// Checks that the caller can protect values of the secret `arn` with `key_id` (the managed
/// key when `None`), as Secrets Manager does when a key is set on a secret that has no value
/// to encrypt yet: GenerateDataKey and Decrypt with `SecretVersionId`
/// `RequestToValidateKeyAccess` (bug: a key that did not exist, or that the caller could not
/// use, was accepted and every later write failed).
pub async fn validate_key_access(
    state: &AppState,
    caller: &Caller,
    region: &str,
    arn: &str,
    kms_key_id: Option<&str>,
) -> Result<(), ApiError> {
    let context = context(arn, VALIDATION_VERSION);
    let dk = owners_data_key(state, caller, region, arn, kms_key_id, &context).await?;
    let kms_region = dk.key_arn.split(':').nth(3).unwrap_or(region);
    crate::services::kms::decrypt_data_key_for_service(
        state,
        caller,
        kms_region,
        SERVICE,
        &dk.ciphertext,
        &context,
    )
    .await
    .map_err(|e| kms_failure("DecryptionFailure", e))?;
    Ok(())
}

/// A `KmsKeyId` as the secret's account and Region read it: an alias name or a bare key id
/// names the secret owner's key, whoever writes (bug: another account allowed to write the
/// secret resolved `alias/app` in its own account and sealed the owner's secret under its own
/// key, locking the owner out). ARNs are left as they are.
fn qualified(key_id: &str, secret_arn: &str) -> String {
    let mut parts = secret_arn.split(':');
    let (region, account) = (parts.nth(3), parts.next());
    match (region, account) {
        (Some(region), Some(account)) if !key_id.starts_with("arn:") => {
            let resource = if key_id.starts_with("alias/") {
                key_id.to_owned()
            } else {
                format!("key/{key_id}")
            };
            format!("arn:aws:kms:{region}:{account}:{resource}")
        }
        _ => key_id.to_owned(),
    }
}

/// Encrypts a value for version `version` of the secret `arn`.
#[allow(clippy::too_many_arguments)]
pub async fn seal(
    state: &AppState,
    caller: &Caller,
    region: &str,
    arn: &str,
    version: &str,
    kms_key_id: Option<&str>,
    value: &[u8],
    binary: bool,
) -> Result<(Sealed, Arc<Vec<u8>>), ApiError> {
    let dk = owners_data_key(
        state,
        caller,
        region,
        arn,
        kms_key_id,
        &context(arn, version),
    )
    .await?;
    let key = Arc::new(dk.plaintext.clone());
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| ApiError::internal("no randomness"))?;
    let sealing = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &dk.plaintext)
            .map_err(|_| ApiError::internal("bad data key"))?,
    );
    let mut buf = value.to_vec();
    sealing
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(arn, version)),
            &mut buf,
        )
        .map_err(|_| ApiError::internal("secret value encryption failed"))?;
    Ok((
        Sealed {
            binary,
            key_arn: dk.key_arn.clone(),
            data_key: B64.encode(&dk.ciphertext),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(&buf),
            bound_arn: arn.to_owned(),
        },
        key,
    ))
}

/// Whether a caller may use the cached data key of a secret: only under the AWS-managed key and
/// from the secret's own account, whose key policy allows every principal of the account
/// through Secrets Manager. Each read from the cache is still authorized and recorded as the
/// KMS Decrypt it stands for ([`data_key`]). With a customer key every read goes to KMS.
pub fn may_use_cache(caller: &Caller, secret_account: &str, kms_key_id: Option<&str>) -> bool {
    kms_key_id.is_none_or(|k| k == "alias/aws/secretsmanager")
        && caller.account_id == secret_account
}

/// The data key of a sealed value: from the cache when `cached` allows it, or from KMS (then
/// cached).
pub async fn data_key(
    state: &AppState,
    caller: &Caller,
    region: &str,
    sealed: &Sealed,
    version: &str,
    cached: bool,
) -> Result<Arc<Vec<u8>>, ApiError> {
    let secrets = &state.secrets;
    if sealed.bound_arn.split(':').nth(4) != Some(caller.account_id.as_str())
        && crate::services::kms::is_aws_managed(state, &sealed.key_arn)
    {
        return Err(managed_key_of_another_account());
    }
    if cached && let Some(k) = secrets.cached_key(&sealed.bound_arn, version) {
        let kms_region = sealed.key_arn.split(':').nth(3).unwrap_or(region);
        crate::services::kms::authorize_cached_decrypt_for_service(
            state,
            caller,
            kms_region,
            SERVICE,
            &sealed.key_arn,
            &context(&sealed.bound_arn, version),
        )
        .await
        .map_err(|e| kms_failure("DecryptionFailure", e))?;
        return Ok(k);
    }
    let ct = B64
        .decode(&sealed.data_key)
        .map_err(|_| ApiError::internal("stored data key is not base64"))?;
    // The data key lives in the region of the KMS key that made it.
    let kms_region = sealed.key_arn.split(':').nth(3).unwrap_or(region);
    let key = crate::services::kms::decrypt_data_key_for_service(
        state,
        caller,
        kms_region,
        SERVICE,
        &ct,
        &context(&sealed.bound_arn, version),
    )
    .await
    .map_err(|e| kms_failure("DecryptionFailure", e))?;
    let key = Arc::new(key);
    secrets.cache_key(&sealed.bound_arn, version, key.clone());
    Ok(key)
}

/// The same sealed value with its data key protected by `key_id` in `region` instead (the AWS
/// managed key there when `None`): a replica's values are the primary's ciphertexts, each
/// Region's key protecting their data keys, so that a replica Region's key controls its copy
/// and the replica does not depend on the primary Region's KMS.
pub async fn rewrap(
    state: &AppState,
    caller: &Caller,
    sealed: &Sealed,
    version: &str,
    (region, key_id): (&str, Option<&str>),
    cached: bool,
) -> Result<Sealed, ApiError> {
    let key = data_key(state, caller, region, sealed, version, cached).await?;
    let (ciphertext, key_arn) = crate::services::kms::encrypt_data_key_for_service(
        state,
        caller,
        region,
        SERVICE,
        key_id,
        &key,
        &context(&sealed.bound_arn, version),
    )
    .await
    .map_err(|e| kms_failure("EncryptionFailure", e))?;
    Ok(Sealed {
        key_arn,
        data_key: B64.encode(ciphertext),
        ..sealed.clone()
    })
}

/// Decrypts a sealed value with its data key.
pub fn open_with(key: &[u8], sealed: &Sealed, version: &str) -> Result<Vec<u8>, ApiError> {
    let failure = || {
        ApiError::bad_request(
            "DecryptionFailure",
            "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
        )
    };
    let nonce: [u8; NONCE_LEN] = B64
        .decode(&sealed.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(failure)?;
    let mut buf = B64.decode(&sealed.ciphertext).map_err(|_| failure())?;
    let opening = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| failure())?);
    let plain = opening
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(&sealed.bound_arn, version)),
            &mut buf,
        )
        .map_err(|_| failure())?;
    Ok(plain.to_vec())
}

/// Decrypts a version's value (for writes and rotation: always through KMS).
pub async fn open(
    state: &AppState,
    caller: &Caller,
    region: &str,
    sealed: &Sealed,
    version: &str,
) -> Result<Vec<u8>, ApiError> {
    let key = data_key(state, caller, region, sealed, version, false).await?;
    open_with(&key, sealed, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_account_reads_under_the_managed_key_skip_kms() {
        let me = Caller::root("111111111111", None);
        assert!(may_use_cache(&me, "111111111111", None));
        assert!(may_use_cache(
            &me,
            "111111111111",
            Some("alias/aws/secretsmanager")
        ));
        assert!(!may_use_cache(&me, "111111111111", Some("alias/mine")));
        assert!(!may_use_cache(&me, "222222222222", None));
    }

    #[test]
    fn tampered_binding_does_not_open() {
        let key = [7u8; 32];
        let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
        let nonce = [1u8; NONCE_LEN];
        let mut buf = b"hunter2".to_vec();
        k.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad("arn:a", "v1")),
            &mut buf,
        )
        .unwrap();
        let mut sealed = Sealed {
            binary: false,
            key_arn: "k".into(),
            data_key: String::new(),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(&buf),
            bound_arn: "arn:a".into(),
        };
        assert_eq!(open_with(&key, &sealed, "v1").unwrap(), b"hunter2");
        assert!(open_with(&key, &sealed, "v2").is_err());
        sealed.bound_arn = "arn:b".into();
        assert!(open_with(&key, &sealed, "v1").is_err());
    }
}
