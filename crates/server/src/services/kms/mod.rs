//! AWS Key Management Service (awsJson1_1, TrentService, API 2014-11-01).

// The service data-key API is used by Secrets Manager, which is being built.
#![allow(dead_code)]

use palisade_seal::Purpose;
use serde_json::Value;

use crate::error::ApiError;
use crate::identity::Caller;
use crate::state::AppState;

/// Runs an operation of the service in `region`.
pub async fn handle(
    state: &AppState,
    caller: &Caller,
    region: &str,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    let _ = (state, caller, region, input);
    Err(super::not_implemented("kms", operation))
}

/// A data key made for another service (Secrets Manager today; S3 SSE-KMS later).
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceDataKey {
    /// The 32-byte AES key, to use and forget.
    pub plaintext: Vec<u8>,
    /// The key encrypted under the KMS key, to store next to the data.
    pub ciphertext: Vec<u8>,
    /// The KMS key's full ARN.
    pub key_arn: String,
}

impl std::fmt::Debug for ServiceDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceDataKey")
            .field("key_arn", &self.key_arn)
            .finish_non_exhaustive()
    }
}

/// GenerateDataKey on behalf of `service` (its signing name, for `kms:ViaService`) for `caller`:
/// under `key_id` (id, ARN, alias name or alias ARN), or, when `None`, under the AWS-managed key
/// `alias/aws/<service>`, created on first use. With a customer key the caller needs
/// `kms:GenerateDataKey` on it, as in AWS.
///
/// Stand-in until KMS lands: seals a random key with the root key.
pub async fn generate_data_key_for_service(
    state: &AppState,
    caller: &Caller,
    region: &str,
    service: &str,
    key_id: Option<&str>,
    context: &palisade_kms::EncryptionContext,
) -> Result<ServiceDataKey, ApiError> {
    let _ = context;
    let plaintext = palisade_kms::random_bytes(32).map_err(ApiError::internal)?;
    let ciphertext = state
        .sealer
        .seal(Purpose::SecretValue, service, &plaintext)
        .map_err(ApiError::internal)?;
    let key = key_id.map_or_else(|| format!("alias/aws/{service}"), str::to_owned);
    Ok(ServiceDataKey {
        plaintext,
        ciphertext,
        key_arn: format!("arn:aws:kms:{region}:{}:{key}", caller.account_id),
    })
}

/// Decrypt of a data key made by [`generate_data_key_for_service`], on behalf of `service` for
/// `caller` (who needs `kms:Decrypt` on a customer key). Returns the plaintext key.
pub async fn decrypt_data_key_for_service(
    state: &AppState,
    caller: &Caller,
    region: &str,
    service: &str,
    ciphertext: &[u8],
    context: &palisade_kms::EncryptionContext,
) -> Result<Vec<u8>, ApiError> {
    let _ = (caller, region, context);
    state
        .sealer
        .open(Purpose::SecretValue, service, ciphertext)
        .map_err(ApiError::internal)
}
