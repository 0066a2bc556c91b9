//! AWS Secrets Manager (awsJson1_1, API 2017-10-17).
//!
//! Secrets live in memory per (account, region) over the store ([`state::Secrets`]); values are
//! envelope-encrypted with data keys from Palisade's KMS ([`crypto`]); rotation runs the four
//! Lambda steps through pluggable rotators ([`rotation`]); resource policies and condition keys
//! plug into the authorizer ([`authz`]). The semantics without I/O (staging labels, tokens,
//! passwords, schedules, filters) are in `palisade-secrets`.

pub mod authz;
pub mod crypto;
pub mod rotation;
pub mod state;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use palisade_secrets::staging::{self, AWSCURRENT};
use palisade_secrets::{PasswordSpec, Replay, SecretView};
use serde_json::{Map, Value, json};

use self::state::{Change, Replica, Secret, Tag, Version};
use crate::error::ApiError;
use crate::identity::Caller;
use crate::services::paging::member;
use crate::state::AppState;

pub use self::state::Secrets;

/// Runs an operation of the service in `region`.
pub async fn handle(
    state: &AppState,
    caller: &Caller,
    region: &str,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    let cx = Cx {
        state,
        caller,
        region,
    };
    let i = &input;
    match operation {
        "CreateSecret" => create_secret(&cx, i).await,
        "GetSecretValue" => get_secret_value(&cx, i).await,
        "BatchGetSecretValue" => batch_get_secret_value(&cx, i).await,
        "PutSecretValue" => put_secret_value(&cx, i).await,
        "UpdateSecret" => update_secret(&cx, i).await,
        "DescribeSecret" => describe_secret(&cx, i),
        "ListSecrets" => list_secrets(&cx, i),
        "ListSecretVersionIds" => list_secret_version_ids(&cx, i),
        "UpdateSecretVersionStage" => update_secret_version_stage(&cx, i).await,
        "DeleteSecret" => delete_secret(&cx, i).await,
        "RestoreSecret" => restore_secret(&cx, i).await,
        "RotateSecret" => rotation::rotate_secret(&cx, i).await,
        "CancelRotateSecret" => rotation::cancel_rotate_secret(&cx, i).await,
        "TagResource" => tag_resource(&cx, i).await,
        "UntagResource" => untag_resource(&cx, i).await,
        "GetResourcePolicy" => get_resource_policy(&cx, i),
        "PutResourcePolicy" => put_resource_policy(&cx, i).await,
        "DeleteResourcePolicy" => delete_resource_policy(&cx, i).await,
        "ValidateResourcePolicy" => validate_resource_policy(&cx, i),
        "ListResourcePolicies" => list_resource_policies(&cx, i),
        "GetRandomPassword" => get_random_password(i),
        "ReplicateSecretToRegions" => replicate_secret_to_regions(&cx, i).await,
        "RemoveRegionsFromReplication" => remove_regions_from_replication(&cx, i).await,
        "StopReplicationToReplica" => stop_replication_to_replica(&cx, i).await,
        "AssociateCrossAccountReplica" | "DisassociateCrossAccountReplica" => {
            Err(ApiError::bad_request(
                "InvalidRequestException",
                format!(
                    "palisade does not support cross-account replicas ({operation}); replicate \
                     within the account with ReplicateSecretToRegions"
                ),
            ))
        }
        _ => Err(super::not_implemented("secretsmanager", operation)),
    }
}

/// What every handler needs.
pub struct Cx<'a> {
    /// The shared state.
    pub state: &'a AppState,
    /// The caller.
    pub caller: &'a Caller,
    /// The request's region.
    pub region: &'a str,
}

impl Cx<'_> {
    /// The (account, region) a secret id is looked up in (see [`scope_of`]).
    pub fn scope(&self, id: &str) -> (String, String) {
        scope_of(&self.caller.account_id, self.region, id)
    }

    /// The secret named by `SecretId`.
    pub fn secret(&self, id: &str) -> Result<Secret, ApiError> {
        let (a, r) = self.scope(id);
        self.state.secrets.find(&a, &r, id).ok_or_else(not_found)
    }
}

/// The (account, region) a secret id is looked up in, by authorization and handlers alike (so
/// that both decide on the same secret): an ARN names its account (cross-account access needs
/// the ARN, as in AWS), a name is the caller's. The Region is always the request's: each
/// Region's endpoint serves its own secrets, so the ARN of another Region's secret (a replica's
/// primary, say) is not found here; [`state::Region::resolve`] then requires the rest of an ARN
/// (partition, service, Region, account) to be the secret's own.
pub fn scope_of(account: &str, region: &str, id: &str) -> (String, String) {
    if id.starts_with("arn:")
        && let Some(a) = id.split(':').nth(4)
        && !a.is_empty()
    {
        return (a.to_owned(), region.to_owned());
    }
    (account.to_owned(), region.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Errors (AWS's texts).

pub(crate) fn not_found() -> ApiError {
    ApiError::bad_request(
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    )
}

pub(crate) fn invalid_parameter(m: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidParameterException", m)
}

pub(crate) fn invalid_request(m: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidRequestException", m)
}

pub(crate) fn marked_deleted() -> ApiError {
    invalid_request(
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

pub(crate) fn on_replica() -> ApiError {
    invalid_parameter(
        "Operation not permitted on a replica secret. Call must be made in primary secret's region.",
    )
}

fn token_error(e: palisade_secrets::TokenError) -> ApiError {
    invalid_parameter(e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Input helpers.

pub(crate) fn s<'a>(i: &'a Value, k: &str) -> Option<&'a str> {
    i.get(k).and_then(Value::as_str)
}

pub(crate) fn b(i: &Value, k: &str) -> Option<bool> {
    i.get(k).and_then(Value::as_bool)
}

pub(crate) fn n(i: &Value, k: &str) -> Option<i64> {
    i.get(k).and_then(Value::as_i64)
}

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn secret_id(i: &Value) -> &str {
    s(i, "SecretId").unwrap_or_default()
}

/// The new value of a write: (bytes, binary), or none. Both given is an error.
fn value_of(i: &Value) -> Result<Option<(Vec<u8>, bool)>, ApiError> {
    match (s(i, "SecretString"), s(i, "SecretBinary")) {
        (Some(_), Some(_)) => Err(invalid_parameter(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        )),
        (Some(v), None) => Ok(Some((v.as_bytes().to_vec(), false))),
        (None, Some(v)) => B64
            .decode(v)
            .map(|b| Some((b, true)))
            .map_err(|_| invalid_parameter("SecretBinary is not valid base64.")),
        (None, None) => Ok(None),
    }
    .and_then(|v| match v {
        // The model's limit, checked in bytes (a string of 65536 characters can be longer),
        // reported in the model validator's words, as AWS's front end reports it; the value
        // itself is sensitive and not echoed.
        Some((ref bytes, binary)) if bytes.len() > palisade_secrets::MAX_VALUE_BYTES => Err(ApiError::bad_request(
            "ValidationException",
            format!(
                "1 validation error detected: Value at '{}' failed to satisfy constraint: \
                 Member must have length less than or equal to {}",
                if binary { "secretBinary" } else { "secretString" },
                palisade_secrets::MAX_VALUE_BYTES
            ),
        )),
        other => Ok(other),
    })
}

/// The tags of a request; a key given twice keeps its last value, as TagResource does with a
/// key the secret has.
fn tags_of(i: &Value, key: &str) -> Vec<Tag> {
    let mut tags: Vec<Tag> = Vec::new();
    for t in i.get(key).and_then(Value::as_array).into_iter().flatten() {
        let Some(k) = s(t, "Key") else { continue };
        let value = s(t, "Value").unwrap_or_default().to_owned();
        match tags.iter_mut().find(|x| x.key == k) {
            Some(x) => x.value = value,
            None => tags.push(Tag {
                key: k.to_owned(),
                value,
            }),
        }
    }
    tags
}

/// Tags a request may set: at most 50 on a secret, and, in strict mode, no key in the `aws:`
/// namespace, which AWS reserves (`aws:secretsmanager:owningService` would otherwise let
/// anyone make a secret look managed by another service). `--dev` takes them, as moto's
/// tests set that key to mark a secret as another service's.
fn check_tags(cx: &Cx<'_>, tags: &[Tag]) -> Result<(), ApiError> {
    if tags.len() > 50 {
        return Err(invalid_parameter(format!(
            "a secret can have at most 50 tags; this request would give it {}",
            tags.len()
        )));
    }
    reserved_tag_keys(cx, tags.iter().map(|t| t.key.as_str()))
}

/// In strict mode, refuses a tag key in AWS's reserved `aws:` namespace (see [`check_tags`]).
fn reserved_tag_keys<'a>(
    cx: &Cx<'_>,
    mut keys: impl Iterator<Item = &'a str>,
) -> Result<(), ApiError> {
    match keys.find(|k| k.to_ascii_lowercase().starts_with("aws:")) {
        Some(k) if !cx.state.config.dev => Err(invalid_parameter(format!(
            "Invalid tag key {k}: tag keys that start with aws: are reserved for AWS use."
        ))),
        _ => Ok(()),
    }
}

fn tags_json(tags: &[Tag]) -> Value {
    Value::Array(
        tags.iter()
            .map(|t| json!({"Key": t.key, "Value": t.value}))
            .collect(),
    )
}

fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn random_suffix() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = [0u8; 6];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    bytes
        .iter()
        .map(|b| char::from(*CHARS.get(usize::from(*b) % CHARS.len()).unwrap_or(&b'a')))
        .collect()
}

/// A uniformly random index below `n`, from the system's CSPRNG.
pub(crate) fn pick(n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let bound = u32::try_from(n).unwrap_or(u32::MAX);
    // Rejection sampling avoids modulo bias.
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let mut b = [0u8; 4];
        if aws_lc_rs::rand::fill(&mut b).is_err() {
            return 0;
        }
        let v = u32::from_be_bytes(b);
        if v < zone {
            return (v % bound) as usize;
        }
    }
}

fn day(t: i64) -> i64 {
    t.div_euclid(86_400) * 86_400
}

// ---------------------------------------------------------------------------------------------
// Saving: a primary's changes are copied to its in-sync replicas.

/// The replica of `primary` in `replica`'s Region: the same versions, their data keys protected
/// by the replica's own KMS key there. A version the replica already holds keeps its wrapping,
/// so only new values cost a KMS call.
async fn replica_copy(
    state: &AppState,
    primary: &Secret,
    replica: &Replica,
) -> Result<Secret, ApiError> {
    let region = replica.region.as_str();
    let mut r = primary.clone();
    r.region = region.to_owned();
    r.arn = replica_arn(&primary.arn, &primary.region, region);
    r.primary_region = Some(primary.region.clone());
    r.replicas = vec![];
    // The resource policy is replicated with the secret, as AWS does (bug: replicas had none,
    // so a Deny in the primary's policy could be bypassed by reading the replica).
    r.kms_key_id.clone_from(&replica.kms_key_id);
    let existing = state.secrets.find(&primary.account, region, &r.arn);
    // Reads are the replica's own: its last access is not the primary's.
    r.last_accessed = existing.as_ref().and_then(|e| e.last_accessed);
    // Secrets Manager itself keeps replicas in step, for the secret's owner.
    let owner = Caller::root(&primary.account, None);
    let cached = crypto::may_use_cache(&owner, &primary.account, primary.kms_key_id.as_deref());
    for v in &mut r.versions {
        let Some(sealed) = &mut v.value else {
            continue;
        };
        let held = existing
            .as_ref()
            .and_then(|e| e.version(&v.id))
            .and_then(|old| old.value.as_ref())
            .filter(|old| old.ciphertext == sealed.ciphertext && old.nonce == sealed.nonce);
        *sealed = match held {
            Some(old) => old.clone(),
            None => {
                crypto::rewrap(
                    state,
                    &owner,
                    sealed,
                    &v.id,
                    (region, replica.kms_key_id.as_deref()),
                    cached,
                )
                .await?
            }
        };
    }
    Ok(r)
}

/// Whether `found`, the secret with `primary`'s name in another Region, is `primary`'s replica
/// (and not an unrelated secret that happens to share the name).
fn is_replica_of(found: &Secret, primary: &Secret) -> bool {
    found.primary_region.as_deref() == Some(primary.region.as_str())
        && found.arn == replica_arn(&primary.arn, &primary.region, &found.region)
}

/// The writes that bring `secret`'s replicas up to date. A replica whose key cannot take the
/// new values is marked failed (with the reason, as ReplicationStatus shows it) and keeps what
/// it had. A failed replica is tried again on every write (bug: one failure was permanent, and
/// the replica went on serving its stale value and policy), unless the failure was a name
/// clash: a secret there that is not this one's replica is never overwritten without
/// `ForceOverwriteReplicaSecret`.
async fn replica_changes(state: &AppState, secret: &mut Secret) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut outcome = Vec::new();
    for (i, r) in secret.replicas.iter().enumerate() {
        if r.status != "InSync"
            && state
                .secrets
                .find(&secret.account, &r.region, &secret.name)
                .is_some_and(|found| !is_replica_of(&found, secret))
        {
            continue;
        }
        match replica_copy(state, secret, r).await {
            Ok(copy) => {
                changes.push(Change::Put(copy));
                outcome.push((i, None));
            }
            Err(e) => outcome.push((i, Some(e.message))),
        }
    }
    for (i, failure) in outcome {
        let Some(r) = secret.replicas.get_mut(i) else {
            continue;
        };
        match failure {
            Some(why) => {
                tracing::warn!(secret = %secret.arn, region = %r.region, error = %why, "replication failed");
                "Failed".clone_into(&mut r.status);
                r.message = format!("Replication failed: {why}");
            }
            None => {
                "InSync".clone_into(&mut r.status);
                "Replication succeeded".clone_into(&mut r.message);
            }
        }
    }
    changes
}

fn replica_arn(arn: &str, from: &str, to: &str) -> String {
    arn.replacen(&format!(":{from}:"), &format!(":{to}:"), 1)
}

/// After an IAM user or role is deleted: secret resource policies that named it by ARN name its
/// unique id instead (see [`crate::iam::Iam::orphan_principal_locked`]); after a user is renamed
/// or moved, they name its new ARN (see [`crate::iam::Iam::rename_principal_locked`]). Both are
/// the principal `from` (the old ARN) replaced by `to` where a statement names it as a
/// principal (`palisade_policy::rename`: conditions naming it stay as written).
pub async fn replace_principal(state: &AppState, from: &str, to: &str) -> Result<(), ApiError> {
    let _w = state.secrets.writer.lock().await;
    let naming: Vec<(Secret, String)> = state
        .secrets
        .all()
        .into_iter()
        .filter(|s| s.primary_region.is_none())
        .filter_map(|s| {
            let doc = palisade_policy::rename::replace_principal(s.policy.as_deref()?, from, to)?;
            Some((s, doc))
        })
        .collect();
    for (mut secret, doc) in naming {
        secret.policy = Some(doc);
        save(state, secret).await?;
    }
    Ok(())
}

/// Writes a primary secret and its in-sync replicas.
pub(crate) async fn save(state: &AppState, mut secret: Secret) -> Result<(), ApiError> {
    let mut changes = replica_changes(state, &mut secret).await;
    changes.insert(0, Change::Put(secret));
    state.secrets.apply(changes).await
}

fn writable(secret: &Secret) -> Result<(), ApiError> {
    if secret.primary_region.is_some() {
        return Err(on_replica());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Values and versions.

/// Encrypts `value` as a new version `id` of `secret` with `stages`.
pub(crate) async fn add_value(
    cx: &Cx<'_>,
    secret: &mut Secret,
    id: &str,
    value: &[u8],
    binary: bool,
    stages: Vec<String>,
) -> Result<(), ApiError> {
    let (sealed, key) = crypto::seal(
        cx.state,
        cx.caller,
        &secret.region,
        &secret.arn,
        id,
        secret.kms_key_id.as_deref(),
        value,
        binary,
    )
    .await?;
    cx.state.secrets.cache_key(&secret.arn, id, key);
    let t = now();
    secret.last_changed = t;
    if let Some(existing) = secret.versions.iter_mut().find(|v| v.id == id) {
        // A version that rotation created without a value gets its value now, then the
        // requested labels move to it.
        existing.value = Some(sealed);
        for st in &stages {
            if secret.version(id).is_some_and(|v| v.stages.contains(st)) {
                continue;
            }
            let from = secret_holder(&secret.versions, st);
            staging::move_stage(&mut secret.versions, st, from.as_deref(), Some(id))
                .map_err(staging_error)?;
        }
        return Ok(());
    }
    staging::add_version(
        &mut secret.versions,
        Version {
            id: id.to_owned(),
            stages,
            created: t,
            last_accessed: None,
            value: Some(sealed),
        },
    )
    .map_err(staging_error)?;
    prune_versions(secret, t)
}

/// Removes the oldest versions without labels beyond AWS's 100, except those created in the
/// last 24 hours, which AWS keeps; a secret that would still hold more than 100 has reached
/// the quota, and the write is refused (bug: versions were never limited, and as every write
/// stores the whole secret, each write grew slower and the store's log without bound).
pub(crate) fn prune_versions(secret: &mut Secret, t: i64) -> Result<(), ApiError> {
    for gone in staging::prune(&mut secret.versions, |v| t - v.created >= 86_400) {
        tracing::debug!(version = %gone, "deprecated version removed");
    }
    if secret.versions.len() > palisade_secrets::MAX_VERSIONS {
        return Err(ApiError::bad_request(
            "LimitExceededException",
            format!(
                "You have reached the quota of {} versions for secret {}. Secrets Manager \
                 removes versions without staging labels when there are more than {}, but not \
                 versions created in the last 24 hours.",
                palisade_secrets::MAX_VERSIONS,
                secret.name,
                palisade_secrets::MAX_VERSIONS
            ),
        ));
    }
    Ok(())
}

/// A refused label change: the labels quota is LimitExceededException, as Secrets Manager's
/// quotas are; the rest InvalidParameterException.
fn staging_error(e: staging::StagingError) -> ApiError {
    match e {
        staging::StagingError::TooManyStages(_) => {
            ApiError::bad_request("LimitExceededException", e.to_string())
        }
        other => invalid_parameter(other.to_string()),
    }
}

fn secret_holder(versions: &[Version], stage: &str) -> Option<String> {
    staging::holder(versions, stage).map(str::to_owned)
}

/// The plaintext of a version.
pub(crate) async fn read_value(
    cx: &Cx<'_>,
    secret: &Secret,
    v: &Version,
) -> Result<Option<(Vec<u8>, bool)>, ApiError> {
    let Some(sealed) = &v.value else {
        return Ok(None);
    };
    let plain = crypto::open(cx.state, cx.caller, &secret.region, sealed, &v.id).await?;
    Ok(Some((plain, sealed.binary)))
}

/// AWS's idempotency for a write with a token that may already name a version.
async fn replay_of(
    cx: &Cx<'_>,
    secret: &Secret,
    token: &str,
    value: &[u8],
    binary: bool,
) -> Result<Replay, ApiError> {
    let Some(v) = secret.version(token) else {
        return Ok(Replay::New);
    };
    let Some((existing, was_binary)) = read_value(cx, secret, v).await? else {
        // Created by rotation without a value: the write supplies it.
        return Ok(Replay::New);
    };
    let r = if was_binary == binary {
        palisade_secrets::replay(Some(&existing), value)
    } else {
        Replay::Conflict
    };
    if r == Replay::Conflict {
        return Err(ApiError::bad_request(
            "ResourceExistsException",
            format!(
                "You can't use ClientRequestToken {token} because that value is already in use for a version of secret {}.",
                secret.arn
            ),
        ));
    }
    Ok(r)
}

/// A primary's ReplicationStatus: each replica with its key, status and, once read there, the
/// day its replica was last accessed (bug: LastAccessedDate was never shown).
fn replication_json(state: &AppState, secret: &Secret) -> Value {
    Value::Array(
        secret
            .replicas
            .iter()
            .map(|r| {
                let mut out = json!({
                    "Region": r.region,
                    "KmsKeyId": r.kms_key_id.clone().unwrap_or_else(|| MANAGED_KEY.to_owned()),
                    "Status": r.status,
                    "StatusMessage": r.message,
                });
                let accessed = state.secrets.read(&secret.account, &r.region, |there| {
                    there
                        .resolve(&secret.name)
                        .filter(|found| is_replica_of(found, secret))
                        .and_then(|found| found.last_accessed)
                });
                if let Some(t) = accessed {
                    super::set(&mut out, "LastAccessedDate", json!(t));
                }
                out
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Operations.

async fn create_secret(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let name = s(i, "Name").unwrap_or_default().to_owned();
    if !palisade_secrets::valid_name(&name) {
        // AWS's code and text, which clients match on (bug: InvalidParameterException with a
        // text of Palisade's own that left out the `!` it accepts).
        return Err(ApiError::bad_request(
            "ValidationException",
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ));
    }
    let value = value_of(i)?;
    check_tags(cx, &tags_of(i, "Tags"))?;
    let token = match s(i, "ClientRequestToken") {
        Some(t) => {
            palisade_secrets::validate_token(t).map_err(token_error)?;
            t.to_owned()
        }
        None => new_token(),
    };
    let account = cx.caller.account_id.clone();
    let _w = cx.state.secrets.writer.lock().await;
    if let Some(existing) = cx.state.secrets.find(&account, cx.region, &name) {
        if existing.primary_region.is_some() {
            return Err(on_replica());
        }
        if existing.deleted.is_some() {
            return Err(invalid_request(
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            ));
        }
        if s(i, "ClientRequestToken").is_some()
            && let Some((bytes, binary)) = &value
            && replay_of(cx, &existing, &token, bytes, *binary).await? == Replay::Same
        {
            return Ok(json!({"ARN": existing.arn, "Name": existing.name, "VersionId": token}));
        }
        return Err(ApiError::bad_request(
            "ResourceExistsException",
            format!("The operation failed because the secret {name} already exists."),
        ));
    }
    let t = now();
    let mut secret = Secret {
        account: account.clone(),
        region: cx.region.to_owned(),
        arn: format!(
            "arn:aws:secretsmanager:{}:{account}:secret:{name}-{}",
            cx.region,
            random_suffix()
        ),
        name,
        description: s(i, "Description").map(str::to_owned),
        kms_key_id: customer_key(cx.state, s(i, "KmsKeyId")),
        tags: tags_of(i, "Tags"),
        created: t,
        created_ns: time::OffsetDateTime::now_utc().unix_timestamp_nanos(),
        tagged: i.get("Tags").is_some(),
        last_changed: t,
        last_accessed: None,
        deleted: None,
        rotation: None,
        policy: None,
        versions: vec![],
        replicas: vec![],
        primary_region: None,
    };
    if let Some((bytes, binary)) = &value {
        add_value(
            cx,
            &mut secret,
            &token,
            bytes,
            *binary,
            vec![AWSCURRENT.to_owned()],
        )
        .await?;
    } else if secret.kms_key_id.is_some() {
        crypto::validate_key_access(
            cx.state,
            cx.caller,
            &secret.region,
            &secret.arn,
            secret.kms_key_id.as_deref(),
        )
        .await?;
    }
    let mut extra = Vec::new();
    if let Some(regions) = i.get("AddReplicaRegions").and_then(Value::as_array) {
        extra = add_replicas(
            cx,
            &mut secret,
            regions,
            b(i, "ForceOverwriteReplicaSecret").unwrap_or(false),
        )?;
    }
    let copies = replica_changes(cx.state, &mut secret).await;
    let mut out = json!({"ARN": secret.arn, "Name": secret.name});
    if value.is_some() {
        super::set(&mut out, "VersionId", json!(token));
    }
    if !secret.replicas.is_empty() {
        super::set(
            &mut out,
            "ReplicationStatus",
            replication_json(cx.state, &secret),
        );
    }
    let mut changes: Vec<Change> = extra;
    changes.extend(copies);
    changes.insert(0, Change::Put(secret));
    cx.state.secrets.apply(changes).await?;
    Ok(out)
}

/// The alias of Secrets Manager's AWS-managed key.
const MANAGED_KEY: &str = "alias/aws/secretsmanager";

/// Adds replicas to a primary; returns the changes to other regions' secrets (overwrites).
fn add_replicas(
    cx: &Cx<'_>,
    secret: &mut Secret,
    regions: &[Value],
    force: bool,
) -> Result<Vec<Change>, ApiError> {
    let mut changes = Vec::new();
    for r in regions {
        let region = s(r, "Region").unwrap_or_default();
        // A replica Region is another Region of the primary's partition (bug: any string was
        // taken and reported InSync: `xx-foo-1`, or `cn-north-1` for a secret in `us-east-1`).
        let partition = palisade_sigv4::region_partition(region);
        if region == secret.region
            || partition.is_none()
            || partition != palisade_sigv4::region_partition(&secret.region)
        {
            return Err(invalid_parameter("Invalid replica region."));
        }
    }
    for r in regions {
        let region = s(r, "Region").unwrap_or_default().to_owned();
        // A Region already replicated to is kept; one whose replication failed is tried
        // again (with the key and overwrite choice of this request).
        if secret
            .replicas
            .iter()
            .any(|x| x.region == region && x.status != "Failed")
        {
            continue;
        }
        secret.replicas.retain(|x| x.region != region);
        let kms = s(r, "KmsKeyId").map(str::to_owned);
        let clash = cx
            .state
            .secrets
            .find(&secret.account, &region, &secret.name);
        // The replica's key must be one the replica's Region has and can encrypt with.
        // The AWS-managed key is made in the replica's Region on first use, as in the primary's
        // (bug: naming it failed replication where no secret had used it yet).
        let managed = |id: &&str| *id == MANAGED_KEY || id.ends_with(&format!(":{MANAGED_KEY}"));
        let key_problem = kms.as_deref().filter(|id| !managed(id)).and_then(|id| {
            crate::services::kms::service_key(cx.state, cx.caller, &region, id).err()
        });
        let (status, message) = match clash {
            _ if key_problem.is_some() => (
                "Failed".to_owned(),
                format!(
                    "Replication failed: the KMS key {} cannot encrypt in {region}: {}",
                    kms.as_deref().unwrap_or_default(),
                    key_problem.map(|e| e.message).unwrap_or_default()
                ),
            ),
            Some(other) if !force => {
                let _ = other;
                (
                    "Failed".to_owned(),
                    format!(
                        "Replication failed: Secret name {} already exists in region {region}.",
                        secret.name
                    ),
                )
            }
            Some(other) => {
                changes.push(Change::Delete(
                    other.account.clone(),
                    other.region.clone(),
                    other.name.clone(),
                ));
                ("InSync".to_owned(), "Replication succeeded".to_owned())
            }
            None => ("InSync".to_owned(), "Replication succeeded".to_owned()),
        };
        secret.replicas.push(Replica {
            region,
            kms_key_id: kms,
            status,
            message,
        });
    }
    // Overwritten secrets are removed before the replica copies are written.
    Ok(changes)
}

async fn get_secret_value(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let id = secret_id(i);
    let (account, region) = cx.scope(id);
    // Only what is needed leaves the lock: names, the version and its sealed value.
    let found = cx.state.secrets.read(&account, &region, |r| {
        r.resolve(id).map(|sec| {
            let version = pick_version(sec, s(i, "VersionId"), s(i, "VersionStage"));
            (
                sec.arn.clone(),
                sec.name.clone(),
                sec.deleted.is_some(),
                (
                    sec.region.clone(),
                    crypto::may_use_cache(cx.caller, &sec.account, sec.kms_key_id.as_deref()),
                ),
                version.map(|v| (v.id.clone(), v.stages.clone(), v.created, v.value.clone())),
            )
        })
    });
    let Some((arn, name, deleted, (sec_region, cached), version)) = found else {
        return Err(not_found());
    };
    if deleted {
        // AWS's wording, which clients match on (external-secrets tells a secret scheduled for
        // deletion from a missing one by "was marked for deletion").
        return Err(marked_deleted());
    }
    let (vid, stages, created, sealed) = version?;
    let Some(sealed) = sealed else {
        return Err(no_value(s(i, "VersionId"), s(i, "VersionStage")));
    };
    let key = crypto::data_key(cx.state, cx.caller, &sec_region, &sealed, &vid, cached).await?;
    let plain = crypto::open_with(&key, &sealed, &vid)?;
    if cx
        .state
        .secrets
        .touch(&account, &region, &name, &vid, day(now()))
        .is_some()
    {
        // Once a day per version: the access dates are written through, under the writer's
        // lock and from the secret as it is now, so that no concurrent change is lost.
        let _w = cx.state.secrets.writer.lock().await;
        if let Some(current) = cx.state.secrets.find(&account, &region, &name) {
            cx.state.secrets.apply(vec![Change::Put(current)]).await?;
        }
    }
    let mut out = Map::new();
    out.insert("ARN".into(), json!(arn));
    out.insert("Name".into(), json!(name));
    out.insert("VersionId".into(), json!(vid));
    if sealed.binary {
        out.insert("SecretBinary".into(), json!(B64.encode(&plain)));
    } else {
        out.insert(
            "SecretString".into(),
            json!(String::from_utf8_lossy(&plain)),
        );
    }
    // The model's VersionStages holds at least one label: a deprecated version has none, and
    // AWS leaves the member out rather than send an empty list.
    if !stages.is_empty() {
        out.insert("VersionStages".into(), json!(stages));
    }
    out.insert("CreatedDate".into(), json!(created));
    Ok(Value::Object(out))
}

/// Authorizes `secretsmanager:GetSecretValue` on one secret of a batch, through the same
/// authorizer as a request (identity, resource policy, cross-account rules), with the batch
/// request's connection facts.
fn authorize_get(cx: &Cx<'_>, id: &str) -> Result<(), ApiError> {
    crate::authz::authorize_internal(
        cx.state,
        cx.caller,
        cx.region,
        ("secretsmanager", "GetSecretValue"),
        &json!({"SecretId": id}),
        None,
    )
}

fn no_value(version_id: Option<&str>, stage: Option<&str>) -> ApiError {
    match version_id {
        Some(v) => ApiError::bad_request(
            "ResourceNotFoundException",
            format!("Secrets Manager can't find the specified secret value for VersionId: {v}"),
        ),
        None => ApiError::bad_request(
            "ResourceNotFoundException",
            format!(
                "Secrets Manager can't find the specified secret value for staging label: {}",
                stage.unwrap_or(AWSCURRENT)
            ),
        ),
    }
}

fn pick_version<'a>(
    sec: &'a Secret,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<&'a Version, ApiError> {
    match (version_id, stage) {
        (Some(id), st) => {
            let v = sec.version(id).ok_or_else(|| no_value(Some(id), None))?;
            if let Some(st) = st
                && !v.stages.iter().any(|x| x == st)
            {
                return Err(invalid_request(
                    "You provided a VersionStage that is not associated to the provided VersionId.",
                ));
            }
            Ok(v)
        }
        (None, st) => {
            let st = st.unwrap_or(AWSCURRENT);
            sec.staged(st).ok_or_else(|| no_value(None, Some(st)))
        }
    }
}

fn filters_of(i: &Value) -> Result<Vec<(String, Vec<String>)>, ApiError> {
    let filters: Vec<(String, Vec<String>)> = i
        .get("Filters")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        s(f, "Key").unwrap_or_default().to_owned(),
                        f.get("Values")
                            .and_then(Value::as_array)
                            .map(|v| {
                                v.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if filters.iter().any(|(k, _)| k.is_empty()) {
        return Err(invalid_parameter("Invalid filter key"));
    }
    palisade_secrets::validate_filters(&filters).map_err(|e| match e {
        palisade_secrets::FilterError::UnknownKey { .. } => {
            ApiError::bad_request("ValidationException", e.to_string())
        }
        palisade_secrets::FilterError::NoValues(_) => invalid_parameter(e.to_string()),
    })?;
    Ok(filters)
}

fn view(sec: &Secret) -> (Vec<(String, String)>, Option<String>) {
    let primary = sec
        .primary_region
        .clone()
        .or_else(|| (!sec.replicas.is_empty()).then(|| sec.region.clone()));
    (sec.tag_pairs(), primary)
}

/// `project` of each secret the filters match. A projection, not the secret: cloning every
/// matching secret with all its versions made each page of a listing cost time in every secret
/// of the Region (listing them all, in their square).
fn matching<T>(
    cx: &Cx<'_>,
    filters: &[(String, Vec<String>)],
    planned: bool,
    project: impl Fn(&Secret) -> T,
) -> Vec<T> {
    let account = cx.caller.account_id.clone();
    cx.state.secrets.read(&account, cx.region, |r| {
        r.by_name
            .values()
            .filter(|sec| planned || sec.deleted.is_none())
            .filter(|sec| {
                if filters.is_empty() {
                    return true;
                }
                let (tags, primary) = view(sec);
                palisade_secrets::matches(
                    filters,
                    &SecretView {
                        name: &sec.name,
                        description: sec.description.as_deref(),
                        tags: &tags,
                        owning_service: sec.owning_service(),
                        primary_region: primary.as_deref(),
                    },
                )
            })
            .map(project)
            .collect()
    })
}

/// `MaxResults`/`NextToken` paging; `key` names an item (see `services::paging`).
fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> Option<String>,
    i: &Value,
    default: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let max = n(i, "MaxResults")
        .and_then(|m| usize::try_from(m).ok())
        .filter(|m| *m > 0)
        .unwrap_or(default);
    let token = s(i, "NextToken");
    crate::services::paging::page(items, key, token, max).map_err(|_| {
        ApiError::bad_request(
            "InvalidNextTokenException",
            format!(
                "The NextToken value {:?} is not valid.",
                token.unwrap_or_default()
            ),
        )
    })
}

async fn batch_get_secret_value(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let ids: Vec<String> = i
        .get("SecretIdList")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let has_filters = i.get("Filters").is_some();
    if !ids.is_empty() && has_filters {
        return Err(invalid_parameter(
            "Either 'SecretIdList' or 'Filters' must be provided, but not both.",
        ));
    }
    // The model: "You must include Filters or SecretIdList, but not both" (bug: a call with
    // neither answered an empty success).
    if ids.is_empty() && !has_filters {
        return Err(invalid_parameter(
            "You must include Filters or SecretIdList, but not both.",
        ));
    }
    if n(i, "MaxResults").is_some() && !has_filters {
        return Err(invalid_parameter(
            "'Filters' not specified. 'Filters' must also be specified when 'MaxResults' is provided.",
        ));
    }
    let (targets, next) = if has_filters {
        let filters = filters_of(i)?;
        let mut arns: Vec<String> = matching(cx, &filters, false, |sec| sec.arn.clone());
        // Paged by ARN, in ARN order, as ListSecrets pages by its keys (bug: by position, so a
        // loop that deleted each page's secrets before asking for the next skipped a page's
        // worth of them).
        arns.sort();
        page(arns, |a| Some(a.clone()), i, 20)?
    } else {
        page(ids, |_| None, i, 20)?
    };
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for id in targets {
        // As in AWS, the batch reads only what the caller may read one by one.
        let got = match authorize_get(cx, &id) {
            Ok(()) => get_secret_value(cx, &json!({"SecretId": id})).await,
            Err(e) => Err(e),
        };
        record_batch_read(cx, &id, &got).await?;
        // A secret the batch cannot read is an entry of `Errors` however it was chosen (bug:
        // a filtered secret without an AWSCURRENT value failed the whole call and lost the
        // others' values): AWS lists there the "errors Secrets Manager encountered while
        // attempting to retrieve individual secrets".
        match got {
            Ok(v) => values.push(v),
            Err(e) => {
                errors.push(json!({"SecretId": id, "ErrorCode": e.code, "Message": e.message}))
            }
        }
    }
    let mut out = json!({"SecretValues": values, "Errors": errors});
    if let Some(t) = next {
        super::set(&mut out, "NextToken", json!(t));
    }
    Ok(out)
}

/// AWS: "Secrets Manager generates CloudTrail GetSecretValue log entries for each secret you
/// request" with BatchGetSecretValue (bug: the batch left one event naming no secret, so a
/// secret's reads, and its owner's copy of another account's read, went unrecorded). Queued
/// ahead of the batch's own event.
async fn record_batch_read(
    cx: &Cx<'_>,
    id: &str,
    got: &Result<Value, ApiError>,
) -> Result<(), ApiError> {
    if !cx.state.config.audit_enabled {
        return Ok(());
    }
    let arn = match got {
        Ok(v) => s(v, "ARN").map(str::to_owned),
        Err(_) => None,
    }
    .unwrap_or_else(|| id.to_owned());
    let event = crate::context::service_call_event(
        cx.caller,
        cx.region,
        ("secretsmanager", "GetSecretValue"),
        "secretsmanager.amazonaws.com",
        json!({"secretId": id}),
        &arn,
        got.as_ref().map(|_| ()),
    );
    match cx.state.audit.record_before_own(event).await {
        Err(e) if cx.state.config.audit_fail_closed => Err(e.unavailable()),
        _ => Ok(()),
    }
}

async fn put_secret_value(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let Some((value, binary)) = value_of(i)? else {
        return Err(invalid_request(
            "You must provide either SecretString or SecretBinary.",
        ));
    };
    let token = match s(i, "ClientRequestToken") {
        Some(t) => {
            palisade_secrets::validate_token(t).map_err(token_error)?;
            t.to_owned()
        }
        None => new_token(),
    };
    let stages: Vec<String> = i
        .get("VersionStages")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_else(|| vec![AWSCURRENT.to_owned()]);
    let _w = cx.state.secrets.writer.lock().await;
    let mut secret = cx.secret(secret_id(i))?;
    writable(&secret)?;
    if secret.deleted.is_some() {
        return Err(marked_deleted());
    }
    if replay_of(cx, &secret, &token, &value, binary).await? == Replay::Same {
        let stages = secret
            .version(&token)
            .map(|v| v.stages.clone())
            .unwrap_or_default();
        return Ok(
            json!({"ARN": secret.arn, "Name": secret.name, "VersionId": token, "VersionStages": stages}),
        );
    }
    add_value(cx, &mut secret, &token, &value, binary, stages).await?;
    let stages = secret
        .version(&token)
        .map(|v| v.stages.clone())
        .unwrap_or_default();
    if stages.iter().any(|s| s == AWSCURRENT) {
        rotation::value_set_manually(&mut secret, now());
    }
    let out = json!({"ARN": secret.arn, "Name": secret.name, "VersionId": token, "VersionStages": stages});
    save(cx.state, secret).await?;
    Ok(out)
}

async fn update_secret(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let value = value_of(i)?;
    let token = match s(i, "ClientRequestToken") {
        Some(t) => {
            palisade_secrets::validate_token(t).map_err(token_error)?;
            t.to_owned()
        }
        None => new_token(),
    };
    let _w = cx.state.secrets.writer.lock().await;
    let mut secret = cx.secret(secret_id(i))?;
    writable(&secret)?;
    if let Some((bytes, binary)) = &value
        && replay_of(cx, &secret, &token, bytes, *binary).await? == Replay::Same
    {
        return Ok(json!({"ARN": secret.arn, "Name": secret.name, "VersionId": token}));
    }
    if secret.deleted.is_some() {
        return Err(marked_deleted());
    }
    if let Some(d) = s(i, "Description") {
        secret.description = Some(d.to_owned());
    }
    if let Some(k) = s(i, "KmsKeyId") {
        // An empty KmsKeyId means the AWS-managed key again.
        let new_key = customer_key(cx.state, Some(k));
        if new_key != secret.kms_key_id {
            // Another account may not move the secret to the managed key, which serves the
            // owner's account only (bug: the change was accepted, the versions kept their key
            // and the secret claimed the managed key).
            crypto::owners_managed_key_only(cx.caller, &secret.arn, new_key.as_deref())?;
            // With no value to encrypt under it now, the key is checked as Secrets Manager
            // checks it; otherwise re-encrypting the versions (or the new value) does.
            if value.is_none() && secret.versions.iter().all(|v| v.value.is_none()) {
                crypto::validate_key_access(
                    cx.state,
                    cx.caller,
                    &secret.region,
                    &secret.arn,
                    new_key.as_deref(),
                )
                .await?;
            }
            rekey(cx, &mut secret, new_key.as_deref()).await?;
            secret.kms_key_id = new_key;
        }
    }
    secret.last_changed = now();
    let mut out = json!({"ARN": secret.arn, "Name": secret.name});
    if let Some((bytes, binary)) = &value {
        add_value(
            cx,
            &mut secret,
            &token,
            bytes,
            *binary,
            vec![AWSCURRENT.to_owned()],
        )
        .await?;
        rotation::value_set_manually(&mut secret, now());
        super::set(&mut out, "VersionId", json!(token));
    }
    save(cx.state, secret).await?;
    Ok(out)
}

/// The customer key a secret's `KmsKeyId` names: none for an empty one or one naming the
/// AWS-managed key (by alias, alias ARN or key ARN), which the secret uses by default and which
/// DescribeSecret does not show (bug: it showed `alias/aws/secretsmanager` when named).
fn customer_key(state: &AppState, key_id: Option<&str>) -> Option<String> {
    key_id
        .filter(|k| {
            !k.is_empty()
                && !crypto::is_managed_alias(k)
                && !crate::services::kms::is_aws_managed(state, k)
        })
        .map(str::to_owned)
}

/// UpdateSecret's new `KmsKeyId`: the versions labelled AWSCURRENT, AWSPENDING or AWSPREVIOUS
/// are encrypted again under the new key (AWS does so; other versions keep theirs), so that a
/// key that cannot encrypt (one that does not exist, or is disabled) fails the update instead
/// of every later write. A caller denied encryption with the new key still updates the secret,
/// and the versions keep their old key, as AWS documents.
async fn rekey(cx: &Cx<'_>, secret: &mut Secret, key_id: Option<&str>) -> Result<(), ApiError> {
    let cached = crypto::may_use_cache(cx.caller, &secret.account, secret.kms_key_id.as_deref());
    let mut resealed = Vec::new();
    let mut kept_old_key = false;
    for v in &secret.versions {
        let labelled = v
            .stages
            .iter()
            .any(|s| matches!(s.as_str(), AWSCURRENT | "AWSPENDING" | "AWSPREVIOUS"));
        let Some(sealed) = v.value.as_ref().filter(|_| labelled) else {
            continue;
        };
        let key = match crypto::data_key(cx.state, cx.caller, &secret.region, sealed, &v.id, cached)
            .await
        {
            Ok(key) => key,
            // AWS: without kms:Decrypt on the previous key the versions are not re-encrypted,
            // and the key change stands; so it does when that key is disabled or gone (bug:
            // the update failed, and with it every later write, which used the old key). This
            // version keeps its key; the others are still re-encrypted (bug: the first such
            // version ended the re-encryption, leaving readable versions, AWSCURRENT among
            // them, under the key the operator meant to retire).
            Err(e) if matches!(e.code, "AccessDeniedException" | "DecryptionFailure") => {
                tracing::info!(
                    secret = %secret.arn,
                    version = %v.id,
                    "the caller cannot decrypt this version with its KMS key; it keeps that key"
                );
                kept_old_key = true;
                continue;
            }
            Err(e) => return Err(e),
        };
        let plain = crypto::open_with(&key, sealed, &v.id)?;
        let new = match crypto::seal(
            cx.state,
            cx.caller,
            &secret.region,
            &secret.arn,
            &v.id,
            key_id,
            &plain,
            sealed.binary,
        )
        .await
        {
            Ok((new, _)) => new,
            // AWS: "If you don't have kms:Encrypt permission to the new key, Secrets Manager
            // does not re-encrypt existing secret versions with the new key." The update
            // stands and the versions stay under their old key (bug: the whole UpdateSecret
            // failed). New values still need the new key, as every write seals with it.
            Err(e) if e.code == "AccessDeniedException" => {
                tracing::info!(
                    secret = %secret.arn,
                    "the caller cannot encrypt with the new KMS key; existing versions keep their key"
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        resealed.push((v.id.clone(), new));
    }
    if resealed.is_empty() && kept_old_key {
        // Nothing was encrypted under the new key: it is checked as a key set on a secret
        // without a value is.
        crypto::validate_key_access(cx.state, cx.caller, &secret.region, &secret.arn, key_id)
            .await?;
    }
    // The data keys cached for the old encryption no longer open anything.
    cx.state.secrets.forget_keys(&secret.arn);
    for (id, new) in resealed {
        if let Some(v) = secret.versions.iter_mut().find(|v| v.id == id) {
            v.value = Some(new);
        }
    }
    Ok(())
}

fn rotation_rules_json(r: &state::Rotation) -> Value {
    let mut rules = Map::new();
    // For a ScheduleExpression, AWS fills AutomaticallyAfterDays in from the schedule after
    // each successful rotation.
    let calculated = || {
        let last = r.last_rotated?;
        palisade_secrets::RotationRules::parse(None, r.expression.as_deref(), None)
            .ok()?
            .automatically_after_days(last)
    };
    if let Some(d) = r.after_days.or_else(calculated) {
        rules.insert("AutomaticallyAfterDays".into(), json!(d));
    }
    if let Some(e) = &r.expression {
        rules.insert("ScheduleExpression".into(), json!(e));
    }
    if let Some(d) = &r.duration {
        rules.insert("Duration".into(), json!(d));
    }
    Value::Object(rules)
}

fn describe(state: &AppState, sec: &Secret, list: bool) -> Value {
    let mut o = Map::new();
    o.insert("ARN".into(), json!(sec.arn));
    o.insert("Name".into(), json!(sec.name));
    if let Some(d) = &sec.description {
        o.insert("Description".into(), json!(d));
    }
    if let Some(k) = &sec.kms_key_id {
        o.insert("KmsKeyId".into(), json!(k));
    }
    if let Some(r) = &sec.rotation {
        o.insert("RotationEnabled".into(), json!(r.enabled));
        if let Some(l) = &r.lambda_arn {
            o.insert("RotationLambdaARN".into(), json!(l));
        }
        // A rotation configured without a schedule has no rules to show: AWS leaves the member
        // out rather than answer an empty object.
        let rules = rotation_rules_json(r);
        if rules.as_object().is_some_and(|m| !m.is_empty()) {
            o.insert("RotationRules".into(), rules);
        }
        if let Some(t) = r.last_rotated {
            o.insert("LastRotatedDate".into(), json!(t));
        }
        if let Some(t) = r.next.filter(|_| r.enabled) {
            o.insert("NextRotationDate".into(), json!(t));
        }
    }
    o.insert("LastChangedDate".into(), json!(sec.last_changed));
    if let Some(t) = sec.last_accessed {
        o.insert("LastAccessedDate".into(), json!(t));
    }
    if let Some(t) = sec.deleted {
        o.insert("DeletedDate".into(), json!(t));
    }
    if sec.tagged || !sec.tags.is_empty() {
        o.insert("Tags".into(), tags_json(&sec.tags));
    }
    if !sec.versions.is_empty() {
        let map: Map<String, Value> = sec
            .versions
            .iter()
            .filter(|v| !v.stages.is_empty())
            .map(|v| (v.id.clone(), json!(v.stages)))
            .collect();
        o.insert(
            if list {
                "SecretVersionsToStages"
            } else {
                "VersionIdsToStages"
            }
            .into(),
            Value::Object(map),
        );
    }
    if let Some(svc) = sec.owning_service() {
        o.insert("OwningService".into(), json!(svc));
    }
    o.insert("CreatedDate".into(), json!(sec.created));
    if let Some(p) = &sec.primary_region {
        o.insert("PrimaryRegion".into(), json!(p));
    } else if !sec.replicas.is_empty() {
        o.insert("PrimaryRegion".into(), json!(sec.region));
    }
    if !list && !sec.replicas.is_empty() {
        o.insert("ReplicationStatus".into(), replication_json(state, sec));
    }
    Value::Object(o)
}

fn describe_secret(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let sec = cx.secret(secret_id(i))?;
    Ok(describe(cx.state, &sec, false))
}

fn list_secrets(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let filters = filters_of(i)?;
    // Each order's key as a string that sorts the same way, for the paging markers.
    let sort_by = s(i, "SortBy").unwrap_or("created-date");
    let key = |x: &Secret| match sort_by {
        "name" => x.name.clone(),
        "last-accessed-date" => format!(
            "{}.{:040}",
            x.last_accessed
                .map(|t| format!("{t:020}"))
                .unwrap_or_default(),
            x.created_ns
        ),
        "last-changed-date" => format!("{:020}.{:040}", x.last_changed, x.created_ns),
        _ => format!("{:040}", x.created_ns),
    };
    // (order key, name): the page is cut from these, and only its secrets are read whole.
    let mut found = matching(
        cx,
        &filters,
        b(i, "IncludePlannedDeletion").unwrap_or(false),
        |x| (key(x), x.name.clone()),
    );
    found.sort_unstable();
    if s(i, "SortOrder") == Some("desc") {
        found.reverse();
    }
    let (items, next) = page(found, |x| Some(x.0.clone()), i, 100)?;
    let account = cx.caller.account_id.clone();
    let secrets: Vec<Secret> = cx.state.secrets.read(&account, cx.region, |r| {
        items
            .iter()
            .filter_map(|(_, name)| r.by_name.get(name).cloned())
            .collect()
    });
    let list: Vec<Value> = secrets
        .iter()
        .map(|x| describe(cx.state, x, true))
        .collect();
    let mut out = json!({"SecretList": list});
    if let Some(t) = next {
        super::set(&mut out, "NextToken", json!(t));
    }
    Ok(out)
}

fn list_secret_version_ids(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let sec = cx.secret(secret_id(i))?;
    let deprecated = b(i, "IncludeDeprecated").unwrap_or(false);
    let versions: Vec<Value> = sec
        .versions
        .iter()
        .filter(|v| deprecated || !v.stages.is_empty())
        .map(|v| {
            let mut e = json!({"VersionId": v.id, "CreatedDate": v.created});
            // As GetSecretValue: no empty VersionStages for a deprecated version.
            if !v.stages.is_empty() {
                super::set(&mut e, "VersionStages", json!(v.stages));
            }
            if let Some(t) = v.last_accessed {
                super::set(&mut e, "LastAccessedDate", json!(t));
            }
            if let Some(k) = v.value.as_ref() {
                super::set(&mut e, "KmsKeyIds", json!([k.key_arn]));
            }
            e
        })
        .collect();
    let (versions, next) = page(versions, member("VersionId"), i, 100)?;
    let mut out = json!({"ARN": sec.arn, "Name": sec.name, "Versions": versions});
    if let Some(t) = next {
        super::set(&mut out, "NextToken", json!(t));
    }
    Ok(out)
}

async fn update_secret_version_stage(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let stage = s(i, "VersionStage").unwrap_or_default();
    let _w = cx.state.secrets.writer.lock().await;
    let mut secret = cx.secret(secret_id(i))?;
    writable(&secret)?;
    if secret.deleted.is_some() {
        return Err(marked_deleted());
    }
    staging::move_stage(
        &mut secret.versions,
        stage,
        s(i, "RemoveFromVersionId"),
        s(i, "MoveToVersionId"),
    )
    .map_err(staging_error)?;
    secret.last_changed = now();
    let out = json!({"ARN": secret.arn, "Name": secret.name});
    save(cx.state, secret).await?;
    Ok(out)
}

async fn delete_secret(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let id = secret_id(i);
    let window = n(i, "RecoveryWindowInDays");
    let force = b(i, "ForceDeleteWithoutRecovery").unwrap_or(false);
    if let Some(w) = window
        && !palisade_secrets::RECOVERY_WINDOW_DAYS.contains(&w)
    {
        return Err(invalid_parameter(
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
        ));
    }
    if window.is_some() && force {
        return Err(invalid_parameter(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        ));
    }
    let _w = cx.state.secrets.writer.lock().await;
    let Ok(mut secret) = cx.secret(id) else {
        if force {
            // AWS answers a forced delete of an unknown secret with success.
            let (account, region) = cx.scope(id);
            let name = id.rsplit(":secret:").next().unwrap_or(id);
            // An ARN is answered as given: one naming another Region or partition must not
            // read as this Region's secret of that name having been deleted.
            let arn = if id.starts_with("arn:") {
                id.to_owned()
            } else {
                format!(
                    "arn:aws:secretsmanager:{region}:{account}:secret:{name}-{}",
                    random_suffix()
                )
            };
            return Ok(json!({
                "ARN": arn,
                "Name": name,
                "DeletionDate": now(),
            }));
        }
        return Err(not_found());
    };
    writable(&secret)?;
    if !secret.replicas.is_empty() {
        let regions: Vec<&str> = secret.replicas.iter().map(|r| r.region.as_str()).collect();
        return Err(invalid_parameter(format!(
            "You can't delete secret {} that still has replica regions [{}].",
            secret.arn,
            regions.join(", ")
        )));
    }
    if secret.deleted.is_some() && !force {
        return Err(marked_deleted());
    }
    let out_arn = secret.arn.clone();
    let out_name = secret.name.clone();
    if force {
        cx.state.secrets.forget_keys(&secret.arn);
        cx.state
            .secrets
            .apply(vec![Change::Delete(
                secret.account.clone(),
                secret.region.clone(),
                secret.name.clone(),
            )])
            .await?;
        return Ok(json!({"ARN": out_arn, "Name": out_name, "DeletionDate": now()}));
    }
    let t = now();
    let when = t + window.unwrap_or(30) * 86_400;
    secret.deleted = Some(when);
    secret.last_changed = t;
    save(cx.state, secret).await?;
    Ok(json!({"ARN": out_arn, "Name": out_name, "DeletionDate": when}))
}

async fn restore_secret(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let _w = cx.state.secrets.writer.lock().await;
    let mut secret = cx.secret(secret_id(i))?;
    writable(&secret)?;
    secret.deleted = None;
    secret.last_changed = now();
    let out = json!({"ARN": secret.arn, "Name": secret.name});
    save(cx.state, secret).await?;
    Ok(out)
}

/// Deletes secrets whose recovery window has passed. Called by the background task.
pub async fn purge_due(state: &AppState) -> Result<usize, ApiError> {
    let t = now();
    let due = || -> Vec<Secret> {
        state
            .secrets
            .all()
            .into_iter()
            .filter(|s| s.deleted.is_some_and(|d| d <= t))
            .collect()
    };
    if due().is_empty() {
        return Ok(0);
    }
    let _w = state.secrets.writer.lock().await;
    // Chosen again under the lock: a RestoreSecret that finished while the lock was awaited
    // would otherwise see its secret purged right after it answered.
    let due = due();
    let changes: Vec<Change> = due
        .iter()
        .map(|s| Change::Delete(s.account.clone(), s.region.clone(), s.name.clone()))
        .collect();
    for s in &due {
        state.secrets.forget_keys(&s.arn);
        tracing::info!(secret = %s.arn, "recovery window over; secret deleted");
    }
    state.secrets.apply(changes).await?;
    Ok(due.len())
}

async fn tag_resource(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let new = tags_of(i, "Tags");
    let _w = cx.state.secrets.writer.lock().await;
    let mut secret = cx.secret(secret_id(i))?;
    writable(&secret)?;
    secret.tagged = true;
    for t in new {
        match secret.tags.iter_mut().find(|x| x.key == t.key) {
            Some(x) => x.value = t.value,
            None => secret.tags.push(t),
        }
    }
    check_tags(cx, &secret.tags)?;
    secret.last_changed = now();
    save(cx.state, secret).await?;
    Ok(json!({}))
}

async fn untag_resource(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let keys: Vec<&str> = i
        .get("TagKeys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    reserved_tag_keys(cx, keys.iter().copied())?;
    let _w = cx.state.secrets.writer.lock().await;
    let mut secret = cx.secret(secret_id(i))?;
    writable(&secret)?;
    secret.tags.retain(|t| !keys.contains(&t.key.as_str()));
    secret.last_changed = now();
    save(cx.state, secret).await?;
    Ok(json!({}))
}

/// Reading a replica's policy is allowed (only changing it is the primary's): the replica
/// carries its primary's policy, and callers need to see what governs it.
fn get_resource_policy(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let sec = cx.secret(secret_id(i))?;
    let mut out = json!({"ARN": sec.arn, "Name": sec.name});
    if let Some(p) = &sec.policy {
        super::set(&mut out, "ResourcePolicy", json!(p));
    }
    Ok(out)
}

fn list_resource_policies(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let sec = cx.secret(secret_id(i))?;
    let list: Vec<Value> = sec
        .policy
        .iter()
        .map(|_| json!({"PolicyName": "default"}))
        .collect();
    Ok(json!({"ResourcePolicies": list}))
}

async fn put_resource_policy(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let doc = s(i, "ResourcePolicy").unwrap_or_default();
    let _w = cx.state.secrets.writer.lock().await;
    let mut secret = cx.secret(secret_id(i))?;
    writable(&secret)?;
    if secret.deleted.is_some() {
        return Err(marked_deleted());
    }
    match authz::check_policy(doc, b(i, "BlockPublicPolicy").unwrap_or(false)) {
        Ok(()) => {}
        // The same `--dev` leniency as KMS key policies: placeholder text is kept, and as it
        // compiles to no policy it grants nothing; enforcement is off in `--dev` anyway.
        Err(e) if e.code == "MalformedPolicyDocumentException" && cx.state.config.dev => {}
        Err(e) => return Err(e),
    }
    if let Some(e) = unsupported_principal(cx, doc, &secret.account)? {
        return Err(e);
    }
    secret.policy = Some(doc.to_owned());
    secret.last_changed = now();
    let out = json!({"ARN": secret.arn, "Name": secret.name});
    save(cx.state, secret).await?;
    Ok(out)
}

/// The refusal of a policy naming a principal that does not exist (not checked in `--dev`).
fn unsupported_principal(
    cx: &Cx<'_>,
    doc: &str,
    account: &str,
) -> Result<Option<ApiError>, ApiError> {
    if cx.state.config.dev {
        return Ok(None);
    }
    let missing = cx.state.iam.read(|d| d.missing_principal(doc, account))?;
    Ok(missing.map(|arn| {
        ApiError::bad_request(
            "MalformedPolicyDocumentException",
            format!("This resource policy contains an unsupported principal: {arn}"),
        )
    }))
}

async fn delete_resource_policy(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let _w = cx.state.secrets.writer.lock().await;
    let mut secret = cx.secret(secret_id(i))?;
    writable(&secret)?;
    secret.policy = None;
    secret.last_changed = now();
    let out = json!({"ARN": secret.arn, "Name": secret.name});
    save(cx.state, secret).await?;
    Ok(out)
}

fn validate_resource_policy(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let account = match s(i, "SecretId") {
        Some(id) => cx.secret(id)?.account,
        None => cx.caller.account_id.clone(),
    };
    let doc = s(i, "ResourcePolicy").unwrap_or_default();
    match authz::check_policy(doc, true) {
        // What PutResourcePolicy would refuse does not pass (bug: a principal that does not
        // exist passed validation, then failed the put).
        Ok(()) => match unsupported_principal(cx, doc, &account)? {
            Some(e) => Err(e),
            None => Ok(json!({"PolicyValidationPassed": true, "ValidationErrors": []})),
        },
        Err(e) if e.code == "MalformedPolicyDocumentException" => Err(e),
        Err(e) => Ok(json!({
            "PolicyValidationPassed": false,
            "ValidationErrors": [{"CheckName": "BLOCK_PUBLIC_POLICY", "ErrorMessage": e.message}],
        })),
    }
}

fn get_random_password(i: &Value) -> Result<Value, ApiError> {
    let spec = PasswordSpec {
        length: n(i, "PasswordLength")
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(32),
        exclude_characters: s(i, "ExcludeCharacters").unwrap_or_default().to_owned(),
        exclude_numbers: b(i, "ExcludeNumbers").unwrap_or(false),
        exclude_punctuation: b(i, "ExcludePunctuation").unwrap_or(false),
        exclude_uppercase: b(i, "ExcludeUppercase").unwrap_or(false),
        exclude_lowercase: b(i, "ExcludeLowercase").unwrap_or(false),
        include_space: b(i, "IncludeSpace").unwrap_or(false),
        require_each_included_type: b(i, "RequireEachIncludedType").unwrap_or(true),
    };
    let p = palisade_secrets::generate_password(&spec, &mut pick)
        .map_err(|e| invalid_parameter(e.to_string()))?;
    Ok(json!({"RandomPassword": p}))
}

async fn replicate_secret_to_regions(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let regions = i
        .get("AddReplicaRegions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let _w = cx.state.secrets.writer.lock().await;
    let mut secret = cx.secret(secret_id(i))?;
    writable(&secret)?;
    // A secret waiting for deletion gets no new replicas, which it would take with it.
    if secret.deleted.is_some() {
        return Err(marked_deleted());
    }
    let extra = add_replicas(
        cx,
        &mut secret,
        &regions,
        b(i, "ForceOverwriteReplicaSecret").unwrap_or(false),
    )?;
    if !extra.is_empty() {
        cx.state.secrets.apply(extra).await?;
    }
    let mut changes = replica_changes(cx.state, &mut secret).await;
    let out = json!({"ARN": secret.arn, "ReplicationStatus": replication_json(cx.state, &secret)});
    changes.insert(0, Change::Put(secret));
    cx.state.secrets.apply(changes).await?;
    Ok(out)
}

async fn remove_regions_from_replication(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let regions: Vec<String> = i
        .get("RemoveReplicaRegions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let _w = cx.state.secrets.writer.lock().await;
    let mut secret = cx.secret(secret_id(i))?;
    writable(&secret)?;
    let mut changes = Vec::new();
    // Whatever its status, a Region's replica goes with its Region (bug: a replica whose
    // replication had failed once was left behind, still readable, and, being a replica,
    // undeletable); a secret there that is not this one's replica (a name clash) stays.
    for r in secret
        .replicas
        .iter()
        .filter(|r| regions.contains(&r.region))
    {
        if let Some(found) = cx
            .state
            .secrets
            .find(&secret.account, &r.region, &secret.name)
            && is_replica_of(&found, &secret)
        {
            cx.state.secrets.forget_keys(&found.arn);
            changes.push(Change::Delete(
                found.account.clone(),
                found.region.clone(),
                found.name.clone(),
            ));
        }
    }
    secret.replicas.retain(|r| !regions.contains(&r.region));
    let out = json!({"ARN": secret.arn, "ReplicationStatus": replication_json(cx.state, &secret)});
    changes.insert(0, Change::Put(secret.clone()));
    cx.state.secrets.apply(changes).await?;
    save(cx.state, secret).await?;
    Ok(out)
}

async fn stop_replication_to_replica(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let _w = cx.state.secrets.writer.lock().await;
    let mut replica = cx.secret(secret_id(i))?;
    let Some(primary_region) = replica.primary_region.take() else {
        return Err(invalid_request(format!(
            "The secret {} is not a replica; StopReplicationToReplica must be called on a replica in its region.",
            replica.name
        )));
    };
    let mut changes = Vec::new();
    if let Some(mut primary) =
        cx.state
            .secrets
            .find(&replica.account, &primary_region, &replica.name)
    {
        primary.replicas.retain(|r| r.region != replica.region);
        changes.push(Change::Put(primary));
    }
    let out = json!({"ARN": replica.arn});
    changes.push(Change::Put(replica));
    cx.state.secrets.apply(changes).await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::state::test_app as app;

    async fn call(state: &AppState, op: &str, input: Value) -> Result<Value, ApiError> {
        let caller = Caller::root("123456789012", None);
        handle(state, &caller, "us-east-1", op, input).await
    }

    /// Creates secret `name` with the value "old" and sets it to rotate by the random rotator
    /// under `rules`, without rotating now.
    async fn rotating(state: &AppState, name: &str, rules: Value) {
        call(
            state,
            "CreateSecret",
            json!({"Name": name, "SecretString": "old"}),
        )
        .await
        .unwrap();
        let lambda = format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            rotation::RANDOM_ROTATOR
        );
        call(
            state,
            "RotateSecret",
            json!({"SecretId": name, "RotationLambdaARN": lambda,
                   "RotationRules": rules, "RotateImmediately": false}),
        )
        .await
        .unwrap();
    }

    /// Changes secret `name`'s rotation state in the store, as time would have.
    async fn with_rotation(
        state: &AppState,
        name: &str,
        change: impl FnOnce(&mut state::Rotation),
    ) {
        let mut s = state
            .secrets
            .find("123456789012", "us-east-1", name)
            .unwrap();
        if let Some(r) = s.rotation.as_mut() {
            change(r);
        }
        state.secrets.apply(vec![Change::Put(s)]).await.unwrap();
    }

    #[tokio::test]
    async fn secrets_past_their_recovery_window_are_purged_from_memory_and_store() {
        let dir = tempfile::tempdir().unwrap();
        let state = app(dir.path()).await;
        call(
            &state,
            "CreateSecret",
            json!({"Name": "gone", "SecretString": "x"}),
        )
        .await
        .unwrap();
        call(
            &state,
            "CreateSecret",
            json!({"Name": "kept", "SecretString": "y"}),
        )
        .await
        .unwrap();
        call(
            &state,
            "DeleteSecret",
            json!({"SecretId": "kept", "RecoveryWindowInDays": 7}),
        )
        .await
        .unwrap();
        let mut s = state
            .secrets
            .find("123456789012", "us-east-1", "gone")
            .unwrap();
        s.deleted = Some(now() - 1);
        state.secrets.apply(vec![Change::Put(s)]).await.unwrap();
        assert_eq!(purge_due(&state).await.unwrap(), 1);
        state.secrets.load().await.unwrap();
        assert!(
            state
                .secrets
                .find("123456789012", "us-east-1", "gone")
                .is_none()
        );
        assert!(
            state
                .secrets
                .find("123456789012", "us-east-1", "kept")
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_rotation_cut_short_leaves_the_secret_free_to_rotate_again() {
        // Regression: the running-rotation entry was removed only by a run that went to its
        // end; a rotation whose task was dropped (a client dropping the connection dropped it)
        // left the secret refusing every rotation until a restart.
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(app(dir.path()).await);
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-abcdef";
        let held = rotation::Running::claim(&state, arn).unwrap();
        assert!(rotation::Running::claim(&state, arn).is_none());
        let task = tokio::spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(rotation::Running::claim(&state, arn).is_some());
    }

    #[tokio::test]
    async fn versions_are_limited_to_aws_quota_of_one_hundred() {
        // Regression: versions were never limited (versions under 24 hours old are never
        // removed), so a secret written in a loop grew without bound, and with it every write.
        let dir = tempfile::tempdir().unwrap();
        let state = app(dir.path()).await;
        call(
            &state,
            "CreateSecret",
            json!({"Name": "busy", "SecretString": "v0"}),
        )
        .await
        .unwrap();
        for n in 1..100 {
            call(
                &state,
                "PutSecretValue",
                json!({"SecretId": "busy", "SecretString": format!("v{n}")}),
            )
            .await
            .unwrap();
        }
        let refused = call(
            &state,
            "PutSecretValue",
            json!({"SecretId": "busy", "SecretString": "v100"}),
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code, "LimitExceededException");
        let get = || call(&state, "GetSecretValue", json!({"SecretId": "busy"}));
        assert_eq!(get().await.unwrap()["SecretString"], "v99");
        // Once the deprecated versions are a day old, the oldest make room for new ones.
        let mut s = state
            .secrets
            .find("123456789012", "us-east-1", "busy")
            .unwrap();
        assert_eq!(s.versions.len(), 100);
        for v in &mut s.versions {
            v.created -= 2 * 86_400;
        }
        let oldest = s.versions[0].id.clone();
        state.secrets.apply(vec![Change::Put(s)]).await.unwrap();
        call(
            &state,
            "UpdateSecret",
            json!({"SecretId": "busy", "SecretString": "v100"}),
        )
        .await
        .unwrap();
        let s = state
            .secrets
            .find("123456789012", "us-east-1", "busy")
            .unwrap();
        assert_eq!(s.versions.len(), 100);
        assert!(s.version(&oldest).is_none());
        assert_eq!(get().await.unwrap()["SecretString"], "v100");
    }

    #[tokio::test]
    async fn every_kind_of_change_moves_last_changed_date() {
        // Regression: tags, resource policies, DeleteSecret and RestoreSecret left
        // LastChangedDate where it was; AWS: "modified in any way".
        let dir = tempfile::tempdir().unwrap();
        let state = app(dir.path()).await;
        call(
            &state,
            "CreateSecret",
            json!({"Name": "c", "SecretString": "v"}),
        )
        .await
        .unwrap();
        let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
        .to_string();
        let changes = [
            (
                "TagResource",
                json!({"SecretId": "c", "Tags": [{"Key": "k", "Value": "v"}]}),
            ),
            ("UntagResource", json!({"SecretId": "c", "TagKeys": ["k"]})),
            (
                "PutResourcePolicy",
                json!({"SecretId": "c", "ResourcePolicy": policy}),
            ),
            ("DeleteResourcePolicy", json!({"SecretId": "c"})),
            ("DeleteSecret", json!({"SecretId": "c"})),
            ("RestoreSecret", json!({"SecretId": "c"})),
        ];
        for (op, input) in changes {
            let mut s = state
                .secrets
                .find("123456789012", "us-east-1", "c")
                .unwrap();
            s.last_changed = 1_000;
            state.secrets.apply(vec![Change::Put(s)]).await.unwrap();
            call(&state, op, input).await.unwrap();
            let d = call(&state, "DescribeSecret", json!({"SecretId": "c"}))
                .await
                .unwrap();
            assert!(d["LastChangedDate"].as_i64().unwrap() > now() - 60, "{op}");
        }
    }

    #[tokio::test]
    async fn deprecated_versions_and_unscheduled_rotations_have_no_empty_members() {
        // Regression: a deprecated version answered "VersionStages": [] (the model's list holds
        // at least one label), RotateSecret without rules left "RotationRules": {}, and a
        // value over 65536 bytes got a message of Palisade's own.
        let dir = tempfile::tempdir().unwrap();
        let state = app(dir.path()).await;
        let first = call(
            &state,
            "CreateSecret",
            json!({"Name": "d", "SecretString": "v1"}),
        )
        .await
        .unwrap()["VersionId"]
            .clone();
        for v in ["v2", "v3"] {
            call(
                &state,
                "PutSecretValue",
                json!({"SecretId": "d", "SecretString": v}),
            )
            .await
            .unwrap();
        }
        let old = call(
            &state,
            "GetSecretValue",
            json!({"SecretId": "d", "VersionId": first}),
        )
        .await
        .unwrap();
        assert_eq!(old["SecretString"], "v1");
        assert!(old.get("VersionStages").is_none(), "{old}");
        let listed = call(
            &state,
            "ListSecretVersionIds",
            json!({"SecretId": "d", "IncludeDeprecated": true}),
        )
        .await
        .unwrap();
        let versions = listed["Versions"].as_array().unwrap();
        assert_eq!(versions.len(), 3);
        let deprecated = versions.iter().find(|v| v["VersionId"] == first).unwrap();
        assert!(deprecated.get("VersionStages").is_none(), "{deprecated}");
        // --dev without a rotator: the rotation re-issues the current value.
        call(&state, "RotateSecret", json!({"SecretId": "d"}))
            .await
            .unwrap();
        let d = call(&state, "DescribeSecret", json!({"SecretId": "d"}))
            .await
            .unwrap();
        assert!(d.get("RotationRules").is_none(), "{d}");
        let big = "é".repeat(40_000);
        let e = call(
            &state,
            "PutSecretValue",
            json!({"SecretId": "d", "SecretString": big}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert_eq!(
            e.message,
            "1 validation error detected: Value at 'secretString' failed to satisfy constraint: \
             Member must have length less than or equal to 65536"
        );
    }

    #[tokio::test]
    async fn a_write_stores_only_the_values_it_adds() {
        // Regression: versions' values lived in the secret's document, so every write stored
        // all of them again (300 writes of 64 KiB values grew the store's log to gigabytes).
        let dir = tempfile::tempdir().unwrap();
        let state = app(dir.path()).await;
        let values = || async {
            state
                .store
                .documents(state::VALUES)
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.key)
                .collect::<Vec<_>>()
        };
        let big = "x".repeat(60_000);
        call(
            &state,
            "CreateSecret",
            json!({"Name": "big", "SecretString": big}),
        )
        .await
        .unwrap();
        for _ in 0..3 {
            call(
                &state,
                "PutSecretValue",
                json!({"SecretId": "big", "SecretString": big}),
            )
            .await
            .unwrap();
        }
        assert_eq!(values().await.len(), 4);
        let secret_doc = &state.store.documents(state::COLLECTION).await.unwrap()[0];
        assert!(secret_doc.body.len() < 4_096, "{}", secret_doc.body.len());
        // A change without a new value writes the secret's document alone.
        let mut s = state
            .secrets
            .find("123456789012", "us-east-1", "big")
            .unwrap();
        s.description = Some("d".into());
        let docs = state.secrets.documents_of(&mut [Change::Put(s)]).unwrap();
        assert_eq!(docs.len(), 1);
        // A new value adds one document; a pruned version's goes.
        let mut s = state
            .secrets
            .find("123456789012", "us-east-1", "big")
            .unwrap();
        let first = s.versions.remove(0).id;
        let docs = state.secrets.documents_of(&mut [Change::Put(s)]).unwrap();
        assert!(
            matches!(&docs[0], palisade_store::DocumentChange::Delete { key, .. } if key.ends_with(&first))
        );
        // What is stored reads back after a restart, old documents with inline values too.
        let mut legacy = state
            .secrets
            .find("123456789012", "us-east-1", "big")
            .unwrap();
        legacy.name = "legacy".into();
        legacy.arn = legacy.arn.replace(":big-", ":legacy-");
        state
            .store
            .apply_documents(&[palisade_store::DocumentChange::Put(
                palisade_store::Document {
                    collection: state::COLLECTION.to_owned(),
                    key: "123456789012/us-east-1/legacy".into(),
                    body: serde_json::to_vec(&legacy).unwrap(),
                },
            )])
            .await
            .unwrap();
        state.secrets.load().await.unwrap();
        let get = |id: &'static str| call(&state, "GetSecretValue", json!({"SecretId": id}));
        assert_eq!(get("big").await.unwrap()["SecretString"], big.as_str());
        assert_eq!(values().await.len(), 8);
        let docs = state.store.documents(state::COLLECTION).await.unwrap();
        assert!(docs.iter().all(|d| d.body.len() < 4_096));
        state.secrets.load().await.unwrap();
        // The legacy copy is bound to the original ARN, so it opens only under it; what matters
        // is that its values were kept (moved to their own documents).
        let l = state
            .secrets
            .find("123456789012", "us-east-1", "legacy")
            .unwrap();
        assert!(l.versions.iter().all(|v| v.value.is_some()));
        // A deleted secret takes its values with it.
        call(
            &state,
            "DeleteSecret",
            json!({"SecretId": "big", "ForceDeleteWithoutRecovery": true}),
        )
        .await
        .unwrap();
        assert_eq!(values().await.len(), 4);
    }

    #[tokio::test]
    async fn due_rotations_run_in_the_background_and_move_awscurrent() {
        let dir = tempfile::tempdir().unwrap();
        let state = app(dir.path()).await;
        rotating(&state, "r", json!({"AutomaticallyAfterDays": 1})).await;
        let get = || call(&state, "GetSecretValue", json!({"SecretId": "r"}));
        assert_eq!(get().await.unwrap()["SecretString"], "old");
        // Not due yet: nothing happens.
        rotation::run_due(&state).await;
        assert_eq!(get().await.unwrap()["SecretString"], "old");
        // A window of a cron schedule that closed long ago is skipped rather than run late (one
        // in days is run late: see `a_missed_window_of_a_day_schedule_runs_late`).
        with_rotation(&state, "r", |r| {
            r.after_days = None;
            r.expression = Some("cron(0 12 * * ? *)".to_owned());
            r.next = Some(now() - 3 * 86_400);
        })
        .await;
        rotation::run_due(&state).await;
        assert_eq!(get().await.unwrap()["SecretString"], "old");
        let s = state
            .secrets
            .find("123456789012", "us-east-1", "r")
            .unwrap();
        assert!(s.rotation.as_ref().and_then(|r| r.next).unwrap() > now());
        with_rotation(&state, "r", |r| r.next = Some(now() - 1)).await;
        rotation::run_due(&state).await;
        let v = get().await.unwrap();
        assert_ne!(v["SecretString"], "old");
        assert_eq!(v["SecretString"].as_str().map(str::len), Some(32));
        let d = call(&state, "DescribeSecret", json!({"SecretId": "r"}))
            .await
            .unwrap();
        assert!(d["NextRotationDate"].as_i64().unwrap() > now());
    }

    /// Regression: a window of a schedule in days missed while the server was down was skipped,
    /// so a 30-day schedule could leave a value up to 60 days old.
    #[tokio::test]
    async fn a_missed_window_of_a_day_schedule_runs_late() {
        let dir = tempfile::tempdir().unwrap();
        let state = app(dir.path()).await;
        rotating(&state, "late", json!({"AutomaticallyAfterDays": 2})).await;
        with_rotation(&state, "late", |r| r.next = Some(now() - 3 * 86_400)).await;
        rotation::run_due(&state).await;
        let v = call(&state, "GetSecretValue", json!({"SecretId": "late"}))
            .await
            .unwrap();
        assert_ne!(v["SecretString"], "old");
    }

    /// Regression: PutSecretValue and UpdateSecret left a day schedule counting from the last
    /// rotation; AWS counts a manual update as a rotation ("Manually updating the secret value
    /// by calling PutSecretValue or UpdateSecret is considered a valid rotation").
    #[tokio::test]
    async fn a_manual_update_restarts_a_schedule_in_days() {
        let dir = tempfile::tempdir().unwrap();
        let state = app(dir.path()).await;
        rotating(&state, "days", json!({"AutomaticallyAfterDays": 30})).await;
        rotating(
            &state,
            "hourly",
            json!({"ScheduleExpression": "rate(4 hours)"}),
        )
        .await;
        let next = |name: &str| {
            state
                .secrets
                .find("123456789012", "us-east-1", name)
                .unwrap()
                .rotation
                .and_then(|r| r.next)
        };
        // As if the last rotation had been 20 days ago: due in 10 days.
        let due_soon = now().div_euclid(86_400) * 86_400 + 10 * 86_400;
        for name in ["days", "hourly"] {
            with_rotation(&state, name, |r| r.next = Some(due_soon)).await;
        }
        let thirty_days = now().div_euclid(86_400) * 86_400 + 30 * 86_400;
        call(
            &state,
            "PutSecretValue",
            json!({"SecretId": "days", "SecretString": "new"}),
        )
        .await
        .unwrap();
        assert_eq!(next("days"), Some(thirty_days));
        // A value put without AWSCURRENT is no rotation, and a schedule in hours keeps its
        // windows.
        with_rotation(&state, "days", |r| r.next = Some(due_soon)).await;
        call(
            &state,
            "PutSecretValue",
            json!({"SecretId": "days", "SecretString": "staged", "VersionStages": ["STAGED"]}),
        )
        .await
        .unwrap();
        assert_eq!(next("days"), Some(due_soon));
        call(
            &state,
            "UpdateSecret",
            json!({"SecretId": "hourly", "SecretString": "new"}),
        )
        .await
        .unwrap();
        assert_eq!(next("hourly"), Some(due_soon));
    }
}
