//! The KMS operations.

use std::sync::Arc;

use palisade_kms::{BlobHeader, EncryptionContext, KeySpec, KeyUsage, Material, MessageType};
use palisade_store::{EventAttribute, EventQuery};
use serde_json::{Value, json};

use super::state::{
    ALIASES, AliasRecord, Changes, GRANTS, ImportedMaterial, KEYS, Key, KeyRecord, KmsData,
    RotationRecord, alias_arn, digest_binding, imported_material_id, key_arn, version_material_id,
};
use super::{Cx, b64, blob, err, from_kms, now, s};
use crate::error::ApiError;
use crate::services::paging::member;
use crate::state::AppState;

const DAY: i64 = 86_400;

/// The operations whose `KeyId` is a key id or key ARN only, as the KMS API reference says;
/// an alias there would name a different key once the alias moves.
const KEY_ID_ONLY: &[&str] = &[
    "CancelKeyDeletion",
    "CreateGrant",
    "DeleteImportedKeyMaterial",
    "DisableKey",
    "DisableKeyRotation",
    "EnableKey",
    "EnableKeyRotation",
    "GetKeyLastUsage",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "ImportKeyMaterial",
    "ListAliases",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListResourceTags",
    "PutKeyPolicy",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "TagResource",
    "UntagResource",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
];

pub(crate) async fn run(cx: &Cx<'_>, op: &str, i: &Value) -> Result<Value, ApiError> {
    if KEY_ID_ONLY.contains(&op) {
        no_alias(i)?;
    }
    // A grant token is one CreateGrant handed out: a made-up one is refused, as KMS does.
    // (--dev takes any, as moto's suites pass placeholders.)
    if !cx.state.config.dev {
        for token in i
            .get("GrantTokens")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if cx.state.kms.grant_by_token(token)?.is_none() {
                return Err(err(
                    "InvalidGrantTokenException",
                    "The grant token is not valid.",
                ));
            }
        }
    }
    // A Recipient asks for the answer's secret encrypted to an attested enclave's public key
    // instead of in the clear. Attestation is out of scope, and answering in the clear would
    // hand the secret to whoever called outside the enclave (bug: the member was ignored).
    if i.get("Recipient").is_some_and(|r| !r.is_null()) {
        return Err(err(
            "UnsupportedOperationException",
            format!(
                "palisade does not support Recipient in {op}: attestation (Nitro Enclaves, \
                 NitroTPM) is out of scope, and the plaintext is never returned in its place"
            ),
        ));
    }
    let dry_run =
        DRY_RUN_OPERATIONS.contains(&op) && i.get("DryRun").and_then(Value::as_bool) == Some(true);
    if dry_run && ignores_ciphertext(i) {
        return dry_run_ignoring_ciphertext(cx, op, i);
    }
    let out = match op {
        "CreateKey" => create_key(cx, i).await,
        "DescribeKey" => describe_key(cx, i),
        "ListKeys" => list_keys(cx, i),
        "UpdateKeyDescription" => {
            update_key(cx, i, |k| {
                not_pending_deletion(k)?;
                k.description = s(i, "Description").unwrap_or_default().to_owned();
                Ok(())
            })
            .await
        }
        "EnableKey" => update_key(cx, i, enable).await,
        "DisableKey" => update_key(cx, i, disable).await,
        "ScheduleKeyDeletion" => schedule_deletion(cx, i).await,
        "CancelKeyDeletion" => cancel_deletion(cx, i).await,
        "CreateAlias" => create_alias(cx, i).await,
        "UpdateAlias" => update_alias(cx, i).await,
        "DeleteAlias" => delete_alias(cx, i).await,
        "ListAliases" => list_aliases(cx, i),
        "GetKeyPolicy" => get_key_policy(cx, i),
        "PutKeyPolicy" => put_key_policy(cx, i).await,
        "ListKeyPolicies" => {
            let key = with_key(cx, i, |k| Ok(k.record.arn.clone()))?;
            let _ = key;
            Ok(json!({"PolicyNames": ["default"], "Truncated": false}))
        }
        "TagResource" => tag_resource(cx, i).await,
        "UntagResource" => untag_resource(cx, i).await,
        "ListResourceTags" => list_resource_tags(cx, i),
        "Encrypt" => encrypt(cx, i),
        "Decrypt" => decrypt(cx, i),
        "ReEncrypt" => re_encrypt(cx, i),
        "GenerateDataKey" => generate_data_key(cx, i, true),
        "GenerateDataKeyWithoutPlaintext" => generate_data_key(cx, i, false),
        "GenerateDataKeyPair" => generate_data_key_pair(cx, i, true),
        "GenerateDataKeyPairWithoutPlaintext" => generate_data_key_pair(cx, i, false),
        "GenerateRandom" => {
            no_custom_key_store(i)?;
            let Some(n) = i.get("NumberOfBytes").and_then(Value::as_u64) else {
                return Err(err("ValidationException", "NumberOfBytes is required."));
            };
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            let bytes = palisade_kms::random_bytes(n).map_err(from_kms)?;
            Ok(json!({"Plaintext": b64(&bytes)}))
        }
        "Sign" => sign(cx, i),
        "Verify" => verify(cx, i),
        "GetPublicKey" => get_public_key(cx, i),
        "GenerateMac" => generate_mac(cx, i),
        "VerifyMac" => verify_mac(cx, i),
        "DeriveSharedSecret" => derive_shared_secret(cx, i),
        "Encapsulate" => encapsulate(cx, i),
        "Decapsulate" => decapsulate(cx, i),
        "EnableKeyRotation" => enable_rotation(cx, i).await,
        "DisableKeyRotation" => {
            update_key(cx, i, |k| {
                rotatable(k, Rotation::Automatic)?;
                k.rotation_enabled = false;
                k.next_rotation = None;
                Ok(())
            })
            .await
        }
        "GetKeyRotationStatus" => rotation_status(cx, i),
        "RotateKeyOnDemand" => rotate_on_demand(cx, i).await,
        "ListKeyRotations" => list_rotations(cx, i),
        "CreateGrant" => create_grant(cx, i, dry_run).await,
        "ListGrants" => list_grants(cx, i, false),
        "ListRetirableGrants" => list_grants(cx, i, true),
        "RetireGrant" => retire_grant(cx, i, false, dry_run).await,
        "RevokeGrant" => retire_grant(cx, i, true, dry_run).await,
        "GetParametersForImport" => get_parameters_for_import(cx, i).await,
        "ImportKeyMaterial" => import_key_material(cx, i).await,
        "DeleteImportedKeyMaterial" => delete_imported_material(cx, i).await,
        "GetKeyLastUsage" => key_last_usage(cx, i).await,
        "ReplicateKey" => replicate_key(cx, i).await,
        "UpdatePrimaryRegion" => update_primary_region(cx, i).await,
        other => Err(err(
            "UnsupportedOperationException",
            format!(
                "palisade does not support {other}: custom key stores and attestation are out of scope"
            ),
        )),
    };
    if dry_run {
        // The operations that change something (grants) stopped before the change; the others
        // ran in full, their answer dropped.
        out?;
        return Err(dry_run_succeeded());
    }
    out
}

/// The operations that take `DryRun` (the model's), which are cryptographic operations and
/// grant operations.
const DRY_RUN_OPERATIONS: &[&str] = &[
    "CreateGrant",
    "Decapsulate",
    "Decrypt",
    "DeriveSharedSecret",
    "Encapsulate",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "ReEncrypt",
    "RetireGrant",
    "RevokeGrant",
    "Sign",
    "Verify",
    "VerifyMac",
];

/// `DryRun`'s answer to a request that would have succeeded. AWS: DryRun verifies "that you
/// have the necessary permissions" and "that you have specified the parameters in the call
/// correctly", so a request is answered this only once it has passed every check the real call
/// makes (bug: only the key's existence, state and usage were checked, so a signing algorithm
/// unfit for the key or a grant to nobody passed). The pipeline authorized it before any
/// handler ran; the grant operations stop before their change, the others run in full and
/// their answer is dropped (they change nothing).
fn dry_run_succeeded() -> ApiError {
    err(
        "DryRunOperationException",
        "The request would have succeeded, but the DryRun option is set.",
    )
}

/// `DryRunModifiers: [IGNORE_CIPHERTEXT]`: Decrypt and ReEncrypt check the caller's permission
/// without a ciphertext to check.
fn ignores_ciphertext(i: &Value) -> bool {
    i.get("DryRunModifiers")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|v| v.as_str() == Some("IGNORE_CIPHERTEXT")))
}

/// A dry run that ignores the ciphertext: the keys the request names (which it must name, as
/// there is no ciphertext to read one from) are usable for decryption and encryption.
fn dry_run_ignoring_ciphertext(cx: &Cx<'_>, op: &str, i: &Value) -> Result<Value, ApiError> {
    let members: &[&str] = match op {
        "ReEncrypt" => &["SourceKeyId", "DestinationKeyId"],
        _ => &["KeyId"],
    };
    for member in members {
        let id = s(i, member).ok_or_else(|| {
            err(
                "ValidationException",
                format!("{member} is required when DryRunModifiers is IGNORE_CIPHERTEXT"),
            )
        })?;
        with_key_id(cx, id, |k| {
            usable(k)?;
            require_usage(k, KeyUsage::EncryptDecrypt, op)
        })?;
    }
    Err(dry_run_succeeded())
}

// ---- keys and their resolution -----------------------------------------------------------

fn not_found_key(arn: &str) -> ApiError {
    err("NotFoundException", format!("Key '{arn}' does not exist"))
}

fn not_found_alias(arn: &str) -> ApiError {
    err("NotFoundException", format!("Alias {arn} is not found."))
}

/// The operations another account's principal may call on a key, given the key's ARN and a key
/// policy (or grant) that lets it: KMS's "Cross-account use: Yes". Every other operation
/// (key administration, aliases, tags, policies, rotation settings, import, deletion) acts only
/// on keys of the caller's own account, whatever a key policy says, so that an account cannot
/// take over or delete another's key.
const CROSS_ACCOUNT_OPERATIONS: &[&str] = &[
    "CreateGrant",
    "Decapsulate",
    "Decrypt",
    "DeriveSharedSecret",
    "DescribeKey",
    "Encapsulate",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GetKeyRotationStatus",
    "GetPublicKey",
    "ListGrants",
    "ReEncrypt",
    "RetireGrant",
    "RevokeGrant",
    "Sign",
    "Verify",
    "VerifyMac",
];

/// The answer to `op` naming, by ARN, a key or alias of another account when `op` is not one of
/// [`CROSS_ACCOUNT_OPERATIONS`]: KMS looks such a key up in the caller's own account, where it
/// does not exist.
pub(crate) fn foreign_key_refused(caller_account: &str, op: &str, id: &str) -> Option<ApiError> {
    if CROSS_ACCOUNT_OPERATIONS.contains(&op) {
        return None;
    }
    let rest = id.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let account = parts.nth(3)?;
    if account == caller_account {
        return None;
    }
    Some(if parts.next().is_some_and(|r| r.starts_with("alias/")) {
        not_found_alias(id)
    } else {
        not_found_key(id)
    })
}

/// The key ARN a `KeyId` names: key id, key ARN, alias name or alias ARN.
fn resolve_in(d: &KmsData, cx: &Cx<'_>, key_id: &str) -> Result<String, ApiError> {
    if let Some(rest) = key_id.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let (Some(region), Some(account), Some(resource)) =
            (parts.get(2), parts.get(3), parts.get(4))
        else {
            return Err(not_found_key(key_id));
        };
        // Keys are regional: an ARN of another Region names no key here (multi-Region keys
        // have a replica, with its own ARN, in each Region), so policies conditioned on
        // aws:RequestedRegion cannot be sidestepped through another Region's ARN.
        // KMS answers `Invalid arn <region>` (users quote it in kube-aws#1041 and
        // pulumi#17022).
        if *region != cx.region {
            return Err(err("NotFoundException", format!("Invalid arn {region}")));
        }
        if resource.starts_with("alias/") {
            let alias = d
                .aliases
                .get(key_id)
                .ok_or_else(|| not_found_alias(key_id))?;
            return Ok(key_arn(region, account, &alias.target_key_id));
        }
        if d.keys.contains_key(key_id) {
            return Ok(key_id.to_owned());
        }
        return Err(not_found_key(key_id));
    }
    if key_id.starts_with("alias/") {
        let arn = alias_arn(cx.region, cx.account, key_id);
        if let Some(alias) = d.aliases.get(&arn) {
            return Ok(key_arn(cx.region, cx.account, &alias.target_key_id));
        }
        return Err(not_found_alias(&arn));
    }
    if !looks_like_key_id(key_id) {
        return Err(invalid_key_id(key_id));
    }
    let arn = key_arn(cx.region, cx.account, key_id);
    if d.keys.contains_key(&arn) {
        Ok(arn)
    } else {
        Err(not_found_key(&arn))
    }
}

/// The ARN of the key with this id in the Region: the caller's own, else another account's
/// (ciphertexts name their key by id; key ids are unique).
pub(crate) fn arn_for_key_id(d: &KmsData, region: &str, account: &str, id: &str) -> String {
    let own = key_arn(region, account, id);
    if d.keys.contains_key(&own) {
        return own;
    }
    d.keys
        .values()
        .find(|k| k.record.id == id && k.record.region == region)
        .map_or(own, |k| k.record.arn.clone())
}

fn invalid_key_id(id: &str) -> ApiError {
    err("NotFoundException", format!("Invalid keyId {id}"))
}

/// A key id: a UUID, or `mrk-` and 32 hex digits.
fn looks_like_key_id(id: &str) -> bool {
    let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    if let Some(rest) = id.strip_prefix("mrk-") {
        return rest.len() == 32 && hex(rest);
    }
    let parts: Vec<&str> = id.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| hex(p))
}

/// Operations that take only a key id or key ARN, not an alias (rotation, deletion, policies).
fn no_alias(i: &Value) -> Result<(), ApiError> {
    match s(i, "KeyId") {
        Some(id) if id.starts_with("alias/") || id.contains(":alias/") => Err(invalid_key_id(id)),
        _ => Ok(()),
    }
}

pub(crate) fn resolve_arn(cx: &Cx<'_>, key_id: &str) -> Result<String, ApiError> {
    cx.state.kms.read(|d| resolve_in(d, cx, key_id))?
}

fn key_id_of(i: &Value) -> Result<&str, ApiError> {
    s(i, "KeyId").ok_or_else(|| {
        err(
            "ValidationException",
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null",
        )
    })
}

/// Runs `f` on the key the input's `KeyId` names.
fn with_key<T>(
    cx: &Cx<'_>,
    i: &Value,
    f: impl FnOnce(&Key) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let id = key_id_of(i)?;
    with_key_id(cx, id, f)
}

fn with_key_id<T>(
    cx: &Cx<'_>,
    id: &str,
    f: impl FnOnce(&Key) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    cx.state.kms.read(|d| {
        let arn = resolve_in(d, cx, id)?;
        let key = d.keys.get(&arn).ok_or_else(|| not_found_key(&arn))?;
        f(key)
    })?
}

/// Changes the key the input names and writes it through.
async fn update_key(
    cx: &Cx<'_>,
    i: &Value,
    f: impl FnOnce(&mut KeyRecord) -> Result<(), ApiError>,
) -> Result<Value, ApiError> {
    let _guard = cx.state.kms.lock_writes().await;
    let mut key = with_key(cx, i, |k| Ok(k.clone()))?;
    f(&mut key.record)?;
    cx.state
        .kms
        .commit(Changes {
            keys: vec![key],
            ..Changes::default()
        })
        .await?;
    Ok(json!({}))
}

fn enable(k: &mut KeyRecord) -> Result<(), ApiError> {
    set_enabled(k, "Enabled")
}

fn disable(k: &mut KeyRecord) -> Result<(), ApiError> {
    set_enabled(k, "Disabled")
}

/// EnableKey and DisableKey: only a key with usable material that is not pending deletion
/// changes; the check is on the state KMS shows, so that material past its ValidTo counts as
/// gone before the background task has removed it.
fn set_enabled(k: &mut KeyRecord, to: &str) -> Result<(), ApiError> {
    match key_state(k) {
        "Enabled" | "Disabled" => {
            to.clone_into(&mut k.state);
            Ok(())
        }
        other => Err(invalid_state(&k.arn, state_words(other))),
    }
}

/// Whether the key waits for its own deletion or for its replicas'. KMS keeps such a key in
/// that state whatever happens to its material, so that the deletion is never lost.
fn pending_deletion(r: &KeyRecord) -> bool {
    matches!(
        r.state.as_str(),
        "PendingDeletion" | "PendingReplicaDeletion"
    )
}

/// Whether the key has no material it can use now: never imported, or any material permanently
/// associated with it deleted or past its ValidTo (gone whether or not the background task has
/// removed it yet). Material waiting for a rotation on demand counts for nothing.
fn material_gone(r: &KeyRecord, t: i64) -> bool {
    if r.origin != "EXTERNAL" {
        return r.sealed.is_empty();
    }
    r.imported.is_empty()
        || r.imported
            .iter()
            .filter(|m| !m.pending_rotation)
            .any(|m| !held(m, t))
}

/// Whether imported material is past its ValidTo.
fn past_valid_to(m: &ImportedMaterial, t: i64) -> bool {
    m.valid_to.is_some_and(|v| v <= t)
}

/// Whether KMS holds imported material at `t`: imported and not past its ValidTo, whether or
/// not the background task has deleted it yet (it runs up to a minute later).
fn held(m: &ImportedMaterial, t: i64) -> bool {
    m.present && !past_valid_to(m, t)
}

/// The key's state as KMS shows and enforces it, the one every operation checks: a key whose
/// material is gone waits for an import, unless it is pending deletion.
fn key_state(r: &KeyRecord) -> &str {
    if material_gone(r, now()) && !pending_deletion(r) {
        "PendingImport"
    } else {
        r.state.as_str()
    }
}

/// A key state in the words of KMSInvalidStateException's message.
fn state_words(state: &str) -> &str {
    match state {
        "Enabled" => "enabled",
        "Disabled" => "disabled",
        "PendingImport" => "pending import",
        "PendingDeletion" => "pending deletion",
        "PendingReplicaDeletion" => "pending replica deletion",
        other => other,
    }
}

fn invalid_state(arn: &str, what: &str) -> ApiError {
    err("KMSInvalidStateException", format!("{arn} is {what}."))
}

/// KMS's key-state table: a key pending deletion takes no new grants, tags, aliases or
/// description, so that nothing comes to depend on a key about to be destroyed.
fn not_pending_deletion(r: &KeyRecord) -> Result<(), ApiError> {
    match r.state.as_str() {
        "PendingDeletion" => Err(invalid_state(&r.arn, "pending deletion")),
        "PendingReplicaDeletion" => Err(invalid_state(&r.arn, "pending replica deletion")),
        _ => Ok(()),
    }
}

/// Whether `other` is another key of the multi-Region key `r` is (its replica, its primary
/// or a sibling replica): the same id in the same account, in another Region.
fn is_sibling(r: &KeyRecord, other: &KeyRecord) -> bool {
    other.id == r.id && other.account == r.account && other.arn != r.arn
}

/// The other keys of a multi-Region key (its replicas, or its primary and sibling replicas).
fn related_keys(state: &AppState, r: &KeyRecord) -> Result<Vec<String>, ApiError> {
    state.kms.read(|d| {
        d.keys
            .values()
            .filter(|k| is_sibling(r, &k.record))
            .map(|k| k.record.arn.clone())
            .collect()
    })
}

/// A key that can run a cryptographic operation now.
fn usable(k: &Key) -> Result<(), ApiError> {
    let r = &k.record;
    match key_state(r) {
        "Enabled" => Ok(()),
        "Disabled" => Err(err("DisabledException", format!("{} is disabled.", r.arn))),
        other => Err(invalid_state(&r.arn, state_words(other))),
    }
}

/// The ARN of the key `key_id` names in the caller's account and `cx.region`, when another
/// service can protect data with it: an enabled symmetric encryption key.
pub(crate) fn service_key(cx: &Cx<'_>, key_id: &str) -> Result<String, ApiError> {
    with_key_id(cx, key_id, |k| {
        usable(k)?;
        require_usage(k, KeyUsage::EncryptDecrypt, "GenerateDataKey")?;
        if !k.record.spec().is_symmetric() {
            return Err(err(
                "InvalidKeyUsageException",
                format!("{} is not a symmetric encryption key.", k.record.arn),
            ));
        }
        Ok(k.record.arn.clone())
    })
}

fn require_usage(k: &Key, usage: KeyUsage, op: &str) -> Result<(), ApiError> {
    if k.record.usage() == usage {
        return Ok(());
    }
    Err(err(
        "InvalidKeyUsageException",
        format!(
            "{} key usage is {} which is not valid for {op}.",
            k.record.arn, k.record.usage
        ),
    ))
}

pub(crate) fn metadata(r: &KeyRecord) -> Value {
    let spec = r.spec();
    let usage = r.usage();
    let state = key_state(r);
    let mut m = json!({
        "AWSAccountId": r.account,
        "KeyId": r.id,
        "Arn": r.arn,
        "CreationDate": r.created,
        "Enabled": state == "Enabled",
        "Description": r.description,
        "KeyUsage": r.usage,
        "KeyState": state,
        "Origin": r.origin,
        "KeyManager": if r.aws_managed { "AWS" } else { "CUSTOMER" },
        "CustomerMasterKeySpec": r.spec,
        "KeySpec": r.spec,
        "MultiRegion": r.multi_region,
    });
    let mut set = |k: &str, v: Value| super::super::set(&mut m, k, v);
    let enc = spec.encryption_algorithms(usage);
    if !enc.is_empty() {
        set("EncryptionAlgorithms", json!(enc));
    }
    let sig = spec.signing_algorithms(usage);
    if !sig.is_empty() {
        set("SigningAlgorithms", json!(sig));
    }
    let mac = spec.mac_algorithms();
    if !mac.is_empty() {
        set("MacAlgorithms", json!(mac));
    }
    let agree = spec.key_agreement_algorithms(usage);
    if !agree.is_empty() {
        set("KeyAgreementAlgorithms", json!(agree));
    }
    let encap = spec.encapsulation_algorithms(usage);
    if !encap.is_empty() {
        set("EncapsulationAlgorithms", json!(encap));
    }
    if let Some(d) = r.deletion_date {
        set("DeletionDate", json!(d));
    }
    // The model: present only while a primary waits for its replicas' deletion.
    if let Some(w) = r
        .pending_window_days
        .filter(|_| r.state == "PendingReplicaDeletion")
    {
        set("PendingDeletionWindowInDays", json!(w));
    }
    // The expiration model is the imported materials': a key without them all has none
    // (imported material past its ValidTo is deleted, the background task catching up within a
    // minute). ValidTo is the earliest of the materials permanently associated with the key.
    if r.origin == "EXTERNAL" && !material_gone(r, now()) {
        let valid_to = r
            .imported
            .iter()
            .filter(|m| !m.pending_rotation)
            .filter_map(|m| m.valid_to)
            .min();
        set(
            "ExpirationModel",
            json!(if valid_to.is_some() {
                "KEY_MATERIAL_EXPIRES"
            } else {
                "KEY_MATERIAL_DOES_NOT_EXPIRE"
            }),
        );
        if let Some(v) = valid_to {
            set("ValidTo", json!(v));
        }
    }
    // Imported material that was deleted (or expired) is still the key's current material, to
    // be imported again: KMS keeps naming it.
    if r.spec().is_symmetric() && (!r.sealed.is_empty() || !r.imported.is_empty()) {
        set(
            "CurrentKeyMaterialId",
            json!(material_id(r, r.current_version())),
        );
    }
    if r.multi_region {
        let primary_region = r.primary_region.clone().unwrap_or_else(|| r.region.clone());
        let primary =
            json!({"Arn": key_arn(&primary_region, &r.account, &r.id), "Region": primary_region});
        let replicas: Vec<Value> = r
            .replica_regions
            .iter()
            .map(|reg| json!({"Arn": key_arn(reg, &r.account, &r.id), "Region": reg}))
            .collect();
        set(
            "MultiRegionConfiguration",
            json!({
                "MultiRegionKeyType": if primary_region == r.region { "PRIMARY" } else { "REPLICA" },
                "PrimaryKey": primary,
                "ReplicaKeys": replicas,
            }),
        );
    }
    m
}

/// The id of a key's material version (`KeyMaterialId`): 64 hex digits, the same for every key
/// of a multi-Region key (they share their materials) and revealing nothing of the material.
/// An imported material's is the one it was given at its import.
fn material_id(r: &KeyRecord, version: usize) -> String {
    match r.imported.get(version) {
        Some(m) => m.id.clone(),
        None => version_material_id(&r.account, &r.id, version),
    }
}

/// The default key policy, in the text KMS returns for it (its own layout, members in this
/// order), so that tools comparing GetKeyPolicy's text with AWS's see the same document.
fn default_policy(account: &str) -> String {
    let root = crate::identity::root_arn(account);
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \
         \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \
         \"Principal\" : {{\n      \"AWS\" : \"{root}\"\n    }},\n    \"Action\" : \"kms:*\",\n    \
         \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

fn check_policy(cx: &Cx<'_>, doc: &str) -> Result<(), ApiError> {
    use super::state::KeyPolicyError;
    match super::state::parse_key_policy(doc) {
        // A principal naming a user or role that does not exist (strict mode, as IAM's check).
        Ok(_) if cx.state.config.dev => Ok(()),
        Ok(_) => match cx
            .state
            .iam
            .read(|d| d.missing_principal(doc, cx.account))?
        {
            Some(_) => Err(err(
                "MalformedPolicyDocumentException",
                "Policy contains a statement with one or more invalid principals.",
            )),
            None => Ok(()),
        },
        // `--dev` leniency for test suites that pass placeholder text as a policy: such a key
        // has no usable policy, which only matters when enforcement is on, and it is off in
        // `--dev`.
        Err(KeyPolicyError::Malformed(_)) if cx.state.config.dev => Ok(()),
        Err(KeyPolicyError::TooLarge(size)) => Err(err(
            "LimitExceededException",
            format!(
                "the key policy is {size} bytes long; a key policy can be at most {} bytes",
                super::state::KEY_POLICY_MAX
            ),
        )),
        Err(KeyPolicyError::Malformed(e)) => {
            Err(err("MalformedPolicyDocumentException", e.to_string()))
        }
    }
}

/// A grant's grantee or retiring principal: an AWS principal's ARN (an account, user, role,
/// federated user or assumed-role session) or a service principal; in strict mode a user or role
/// that does not exist is refused, as in a key policy.
/// The principal a grant names in one of two members, `(name, is a service principal)`; both is
/// invalid.
fn grant_party<'a>(
    i: &'a Value,
    principal: &str,
    service: &str,
) -> Result<Option<(&'a str, bool)>, ApiError> {
    match (s(i, principal), s(i, service)) {
        (Some(_), Some(_)) => Err(err(
            "ValidationException",
            format!("You can specify either {principal} or {service}, but not both."),
        )),
        (Some(p), None) => Ok(Some((p, false))),
        (None, Some(p)) => Ok(Some((p, true))),
        (None, None) => Ok(None),
    }
}

/// A service principal is a service's name (`logs.amazonaws.com`), never an ARN.
fn check_service_principal(principal: &str) -> Result<(), ApiError> {
    if principal.contains(':') || !principal.ends_with(".amazonaws.com") {
        return Err(err(
            "ValidationException",
            format!(
                "{principal} is not a valid service principal: a service principal names an AWS service, such as logs.amazonaws.com"
            ),
        ));
    }
    Ok(())
}

fn check_grant_principal(cx: &Cx<'_>, principal: &str) -> Result<(), ApiError> {
    let service = principal.ends_with(".amazonaws.com") && !principal.contains(':');
    let arn = principal.starts_with("arn:") && principal.split(':').count() >= 6;
    if !service && !arn {
        return Err(err(
            "InvalidArnException",
            format!(
                "{principal} is not a valid principal: a grant names an AWS principal by its ARN"
            ),
        ));
    }
    if arn
        && !cx.state.config.dev
        && !cx
            .state
            .iam
            .read(|d| d.principal_exists(principal, cx.account))?
    {
        return Err(err(
            "InvalidArnException",
            format!("{principal} names no principal that exists"),
        ));
    }
    Ok(())
}

fn tags_of(i: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for t in i
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let k = s(t, "TagKey").unwrap_or_default().to_owned();
        if k.starts_with("aws:") {
            return Err(err("TagException", "Tags beginning with aws: are reserved"));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(err(
                "TagException",
                format!("Duplicate tag keys are not allowed: {k}"),
            ));
        }
        out.push((k, s(t, "TagValue").unwrap_or_default().to_owned()));
    }
    Ok(out)
}

fn new_key_id(multi_region: bool) -> String {
    let u = uuid::Uuid::new_v4();
    if multi_region {
        format!("mrk-{}", u.simple())
    } else {
        u.to_string()
    }
}

/// Palisade keeps no custom key stores, so a request naming one names a store that does not exist
/// (AWS's `CustomKeyStoreNotFoundException`), never one answered from the default key store.
fn no_custom_key_store(i: &Value) -> Result<(), ApiError> {
    match s(i, "CustomKeyStoreId") {
        Some(id) => Err(err(
            "CustomKeyStoreNotFoundException",
            format!("custom key store {id} does not exist: palisade keeps no custom key stores"),
        )),
        None => Ok(()),
    }
}

async fn create_key(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let spec_name = s(i, "KeySpec")
        .or_else(|| s(i, "CustomerMasterKeySpec"))
        .unwrap_or("SYMMETRIC_DEFAULT");
    let spec: KeySpec = spec_name.parse().map_err(|_| {
        err(
            "UnsupportedOperationException",
            format!("KeySpec {spec_name} is not supported in this Region."),
        )
    })?;
    if s(i, "KeyUsage").is_none() && spec != KeySpec::SymmetricDefault {
        return Err(err(
            "ValidationException",
            "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
        ));
    }
    let usage_name = s(i, "KeyUsage").unwrap_or("ENCRYPT_DECRYPT");
    let usage: KeyUsage = usage_name.parse().map_err(|_| {
        err(
            "ValidationException",
            format!("KeyUsage {usage_name} is not supported"),
        )
    })?;
    if !spec.usages().contains(&usage) {
        return Err(err(
            "ValidationException",
            format!("KeyUsage {usage_name} is not compatible with KeySpec {spec_name}"),
        ));
    }
    let origin = s(i, "Origin").unwrap_or("AWS_KMS");
    // Bug: a CustomKeyStoreId or XksKeyId was ignored and an ordinary key made, so a caller who
    // meant the key to live in their HSM or external key store got one that does not.
    no_custom_key_store(i)?;
    if s(i, "XksKeyId").is_some() && origin != "EXTERNAL_KEY_STORE" {
        return Err(err(
            "ValidationException",
            format!("XksKeyId is valid only with Origin EXTERNAL_KEY_STORE, not {origin}"),
        ));
    }
    if !matches!(origin, "AWS_KMS" | "EXTERNAL") {
        return Err(err(
            "UnsupportedOperationException",
            format!("Origin {origin} needs a custom key store, which palisade does not support"),
        ));
    }
    let policy = match s(i, "Policy") {
        Some(p) => {
            check_policy(cx, p)?;
            p.to_owned()
        }
        None => default_policy(cx.account),
    };
    let tags = tags_of(i)?;
    let multi_region = i
        .get("MultiRegion")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let id = new_key_id(multi_region);
    let arn = key_arn(cx.region, cx.account, &id);
    let (materials, sealed) = if origin == "EXTERNAL" {
        (vec![], vec![])
    } else {
        let m = Material::generate(spec).map_err(from_kms)?;
        let sealed = cx.state.kms.seal(&arn, 0, &m)?;
        (vec![Some(Arc::new(m))], vec![sealed])
    };
    let record = KeyRecord {
        account: cx.account.to_owned(),
        region: cx.region.to_owned(),
        id,
        arn,
        created: now(),
        description: s(i, "Description").unwrap_or_default().to_owned(),
        spec: spec.as_str().to_owned(),
        usage: usage.as_str().to_owned(),
        origin: origin.to_owned(),
        state: if origin == "EXTERNAL" {
            "PendingImport"
        } else {
            "Enabled"
        }
        .to_owned(),
        deletion_date: None,
        pending_window_days: None,
        aws_managed: false,
        multi_region,
        primary_region: multi_region.then(|| cx.region.to_owned()),
        replica_regions: vec![],
        policy,
        tags,
        rotation_enabled: false,
        rotation_period_days: 365,
        next_rotation: None,
        rotations: vec![],
        sealed,
        valid_to: None,
        import_wrapping: None,
        imported_digest: None,
        import_token: None,
        import_expires: None,
        imported: vec![],
    };
    let meta = metadata(&record);
    let _guard = cx.state.kms.lock_writes().await;
    cx.state
        .kms
        .commit(Changes {
            keys: vec![Key {
                record,
                materials,
                policy: None,
            }],
            ..Changes::default()
        })
        .await?;
    Ok(json!({"KeyMetadata": meta}))
}

/// The services whose AWS-managed keys (`alias/aws/<service>`) Palisade creates on first use.
const PREDEFINED_ALIASES: &[&str] = &["secretsmanager"];

/// The alias of a service's AWS-managed key.
fn aws_managed_alias(service: &str) -> String {
    format!("alias/aws/{service}")
}

/// The AWS-managed key `alias/aws/<service>`, created on first use.
pub(crate) async fn aws_managed_key(cx: &Cx<'_>, service: &str) -> Result<String, ApiError> {
    let alias = aws_managed_alias(service);
    if let Ok(arn) = resolve_arn(cx, &alias) {
        return Ok(arn);
    }
    let _guard = cx.state.kms.lock_writes().await;
    if let Ok(arn) = resolve_arn(cx, &alias) {
        return Ok(arn);
    }
    let id = new_key_id(false);
    let arn = key_arn(cx.region, cx.account, &id);
    let m = Material::generate(KeySpec::SymmetricDefault).map_err(from_kms)?;
    let sealed = cx.state.kms.seal(&arn, 0, &m)?;
    let account = cx.account;
    let via = format!("{service}.{}.amazonaws.com", cx.region);
    let policy = json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{service}-2"),
        "Statement": [
            {
                "Sid": "Allow access through the service for all principals in the account that are authorized to use it",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": account, "kms:ViaService": via}},
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": crate::identity::root_arn(account)},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*",
            },
        ],
    })
    .to_string();
    let t = now();
    let record = KeyRecord {
        account: account.to_owned(),
        region: cx.region.to_owned(),
        id: id.clone(),
        arn: arn.clone(),
        created: t,
        // AWS's wording names the service as people write it (bug: "my secretsmanager data").
        description: format!(
            "Default key that protects my {} data when no other key is defined",
            match service {
                "secretsmanager" => "Secrets Manager",
                other => other,
            }
        ),
        spec: "SYMMETRIC_DEFAULT".into(),
        usage: "ENCRYPT_DECRYPT".into(),
        origin: "AWS_KMS".into(),
        state: "Enabled".into(),
        deletion_date: None,
        pending_window_days: None,
        aws_managed: true,
        multi_region: false,
        primary_region: None,
        replica_regions: vec![],
        policy,
        tags: vec![],
        // AWS rotates AWS-managed keys every year.
        rotation_enabled: true,
        rotation_period_days: 365,
        next_rotation: Some(t + 365 * DAY),
        rotations: vec![],
        sealed: vec![sealed],
        valid_to: None,
        import_wrapping: None,
        imported_digest: None,
        import_token: None,
        import_expires: None,
        imported: vec![],
    };
    let alias_rec = AliasRecord {
        account: account.to_owned(),
        region: cx.region.to_owned(),
        name: alias.clone(),
        arn: alias_arn(cx.region, account, &alias),
        target_key_id: id,
        created: t,
        updated: t,
    };
    cx.state
        .kms
        .commit(Changes {
            keys: vec![Key {
                record,
                materials: vec![Some(Arc::new(m))],
                policy: None,
            }],
            aliases: vec![alias_rec],
            ..Changes::default()
        })
        .await?;
    Ok(arn)
}

fn describe_key(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let mut record = with_key(cx, i, |k| Ok(k.record.clone()))?;
    // A replica lists every replica of its key too (itself included), as its primary knows
    // them.
    if is_replica(&record)
        && let Some(primary) = &record.primary_region
    {
        let primary_arn = key_arn(primary, &record.account, &record.id);
        if let Some(regions) = cx.state.kms.read(|d| {
            d.keys
                .get(&primary_arn)
                .map(|p| p.record.replica_regions.clone())
        })? {
            record.replica_regions = regions;
        }
    }
    Ok(json!({"KeyMetadata": metadata(&record)}))
}

/// ListKeys' and ListKeyRotations' page: up to 1,000 entries, 100 by default.
const PAGE_KEYS: (usize, usize) = (100, 1000);
/// ListAliases', ListGrants' and ListRetirableGrants' page: AWS's reference says `Limit` "must
/// be between 1 and 100, inclusive. If you do not include a value, it defaults to 50." (bug:
/// they took ListKeys' 100 and 1,000, so a client that read one page here missed entries on AWS).
const PAGE_50_OF_100: (usize, usize) = (50, 100);
/// ListResourceTags' page: between 1 and 50, 50 by default.
const PAGE_TAGS: (usize, usize) = (50, 50);

/// `Limit`/`Marker` paging: the page of `items` from the request's `Marker` and the next
/// marker; `key` names an item (see `services::paging`). The page holds `Limit` items within
/// the operation's `(default, most)` (a larger `Limit`, which the model allows up to 1,000,
/// gives `most`).
fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> Option<String>,
    i: &Value,
    (default, most): (usize, usize),
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = i
        .get("Limit")
        .and_then(Value::as_u64)
        .map_or(default, |l| usize::try_from(l).unwrap_or(most))
        .clamp(1, most);
    let marker = s(i, "Marker");
    crate::services::paging::page(items, key, marker, limit).map_err(|_| {
        err(
            "InvalidMarkerException",
            format!("the marker {} is not valid", marker.unwrap_or_default()),
        )
    })
}

fn paged(mut v: Value, next: Option<String>) -> Value {
    super::super::set(&mut v, "Truncated", json!(next.is_some()));
    if let Some(n) = next {
        super::super::set(&mut v, "NextMarker", json!(n));
    }
    v
}

fn list_keys(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let mut keys: Vec<(i64, String, String)> = cx.state.kms.read(|d| {
        d.keys
            .values()
            .filter(|k| k.record.account == cx.account && k.record.region == cx.region)
            .map(|k| (k.record.created, k.record.id.clone(), k.record.arn.clone()))
            .collect()
    })?;
    keys.sort();
    let entries: Vec<Value> = keys
        .into_iter()
        .map(|(_, id, arn)| json!({"KeyId": id, "KeyArn": arn}))
        .collect();
    let (items, next) = page(entries, member("KeyId"), i, PAGE_KEYS)?;
    Ok(paged(json!({"Keys": items}), next))
}

async fn schedule_deletion(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let days = i
        .get("PendingWindowInDays")
        .and_then(Value::as_i64)
        .unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(err(
            "ValidationException",
            "PendingWindowInDays value must be between 7 and 30",
        ));
    }
    let _guard = cx.state.kms.lock_writes().await;
    let mut key = with_key(cx, i, |k| Ok(k.clone()))?;
    let has_replicas = !is_replica(&key.record)
        && key.record.multi_region
        && !related_keys(cx.state, &key.record)?.is_empty();
    let r = &mut key.record;
    not_pending_deletion(r)?;
    if r.aws_managed {
        return Err(err(
            "UnsupportedOperationException",
            format!("{} is an AWS managed key and cannot be deleted", r.arn),
        ));
    }
    r.pending_window_days = Some(days);
    // A primary outlives its replicas: its waiting period begins when the last of them is
    // deleted (PendingReplicaDeletion, no date yet).
    let out = if has_replicas {
        "PendingReplicaDeletion".clone_into(&mut r.state);
        r.deletion_date = None;
        json!({"KeyId": r.arn, "KeyState": "PendingReplicaDeletion", "PendingWindowInDays": days})
    } else {
        let date = now() + days * DAY;
        "PendingDeletion".clone_into(&mut r.state);
        r.deletion_date = Some(date);
        json!({"KeyId": r.arn, "DeletionDate": date, "KeyState": "PendingDeletion", "PendingWindowInDays": days})
    };
    cx.state
        .kms
        .commit(Changes {
            keys: vec![key],
            ..Changes::default()
        })
        .await?;
    Ok(out)
}

async fn cancel_deletion(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let _guard = cx.state.kms.lock_writes().await;
    let mut key = with_key(cx, i, |k| Ok(k.clone()))?;
    let r = &mut key.record;
    if r.state != "PendingDeletion" && r.state != "PendingReplicaDeletion" {
        return Err(err(
            "KMSInvalidStateException",
            format!("{} is not pending deletion.", r.arn),
        ));
    }
    // AWS: a key whose deletion is cancelled comes back disabled, or waiting for its material
    // when it has none (bug: a key never imported came back Disabled, and EnableKey then
    // "enabled" a key with no material).
    let to = if material_gone(r, now()) {
        "PendingImport"
    } else {
        "Disabled"
    };
    to.clone_into(&mut r.state);
    r.deletion_date = None;
    r.pending_window_days = None;
    let out = json!({"KeyId": r.arn});
    cx.state
        .kms
        .commit(Changes {
            keys: vec![key],
            ..Changes::default()
        })
        .await?;
    Ok(out)
}

// ---- aliases ------------------------------------------------------------------------------

fn check_alias_name(name: &str, creating: bool) -> Result<(), ApiError> {
    if !name.starts_with("alias/") {
        return Err(err("ValidationException", "Invalid identifier"));
    }
    // Bug: `alias/` alone was created, and then named its key in every call.
    if name == "alias/" {
        return Err(err(
            "ValidationException",
            "alias name alias/ has no name after the alias/ prefix",
        ));
    }
    if name
        .get("alias/".len()..)
        .is_some_and(|rest| rest.contains(':'))
    {
        return Err(err(
            "ValidationException",
            format!("{name} contains invalid characters for an alias"),
        ));
    }
    if creating && name.starts_with("alias/aws/") {
        // AWS answers with an empty message.
        return Err(err("NotAuthorizedException", ""));
    }
    Ok(())
}

fn alias_target(cx: &Cx<'_>, i: &Value) -> Result<String, ApiError> {
    let target = s(i, "TargetKeyId").unwrap_or_default();
    if target.starts_with("alias/") || target.contains(":alias/") {
        return Err(err(
            "ValidationException",
            "Aliases must refer to keys. Not aliases",
        ));
    }
    with_key_id(cx, target, |k| {
        not_pending_deletion(&k.record)?;
        Ok(k.record.id.clone())
    })
}

/// AWS's quota of aliases per KMS key.
const ALIASES_PER_KEY: usize = 50;
/// AWS's quota of grants per KMS key.
const GRANTS_PER_KEY: usize = 50_000;

/// Refuses one more alias for the key `key_id` names when it has [`ALIASES_PER_KEY`] (bug: any
/// number were accepted).
fn check_alias_quota(cx: &Cx<'_>, key_id: &str) -> Result<(), ApiError> {
    let key = super::state::key_arn(cx.region, cx.account, key_id);
    let n = cx
        .state
        .kms
        .read(|d| d.key_aliases.get(&key).map_or(0, Vec::len))?;
    if n >= ALIASES_PER_KEY {
        return Err(err(
            "LimitExceededException",
            format!("KMS key {key} already has {n} aliases, the most a key may have."),
        ));
    }
    Ok(())
}

async fn create_alias(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let name = s(i, "AliasName").unwrap_or_default();
    check_alias_name(name, true)?;
    let target = alias_target(cx, i)?;
    let arn = alias_arn(cx.region, cx.account, name);
    let _guard = cx.state.kms.lock_writes().await;
    if cx.state.kms.read(|d| d.aliases.contains_key(&arn))? {
        return Err(err(
            "AlreadyExistsException",
            format!("An alias with the name {arn} already exists"),
        ));
    }
    check_alias_quota(cx, &target)?;
    let t = now();
    cx.state
        .kms
        .commit(Changes {
            aliases: vec![AliasRecord {
                account: cx.account.to_owned(),
                region: cx.region.to_owned(),
                name: name.to_owned(),
                arn,
                target_key_id: target,
                created: t,
                updated: t,
            }],
            ..Changes::default()
        })
        .await?;
    Ok(json!({}))
}

async fn update_alias(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let name = s(i, "AliasName").unwrap_or_default();
    check_alias_name(name, false)?;
    let target = alias_target(cx, i)?;
    let arn = alias_arn(cx.region, cx.account, name);
    let _guard = cx.state.kms.lock_writes().await;
    let mut alias = cx
        .state
        .kms
        .read(|d| d.aliases.get(&arn).cloned())?
        .ok_or_else(|| not_found_alias(&arn))?;
    // An alias keeps naming a key of the same type and usage, so that code using it does not
    // start failing (or signing where it encrypted).
    let shape = |id: &str| {
        with_key_id(cx, id, |k| {
            let family = match k.record.spec.as_str() {
                "SYMMETRIC_DEFAULT" => "symmetric",
                s if s.starts_with("HMAC_") => "HMAC",
                _ => "asymmetric",
            };
            Ok((family, k.record.usage.clone()))
        })
    };
    let (new_family, new_usage) = shape(&target)?;
    if let Ok((old_family, old_usage)) = shape(&alias.target_key_id)
        && (old_family, &old_usage) != (new_family, &new_usage)
    {
        return Err(err(
            "ValidationException",
            format!(
                "{name} points to a {old_family} key with key usage {old_usage}; it cannot be \
                 updated to a {new_family} key with key usage {new_usage}"
            ),
        ));
    }
    if alias.target_key_id != target {
        check_alias_quota(cx, &target)?;
    }
    alias.target_key_id = target;
    alias.updated = now();
    cx.state
        .kms
        .commit(Changes {
            aliases: vec![alias],
            ..Changes::default()
        })
        .await?;
    Ok(json!({}))
}

async fn delete_alias(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let name = s(i, "AliasName").unwrap_or_default();
    check_alias_name(name, false)?;
    let arn = alias_arn(cx.region, cx.account, name);
    let _guard = cx.state.kms.lock_writes().await;
    if !cx.state.kms.read(|d| d.aliases.contains_key(&arn))? {
        return Err(not_found_alias(&arn));
    }
    cx.state
        .kms
        .commit(Changes {
            deletes: vec![(ALIASES, arn)],
            ..Changes::default()
        })
        .await?;
    Ok(json!({}))
}

fn list_aliases(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let key_filter = match s(i, "KeyId") {
        Some(id) => Some(with_key_id(cx, id, |k| Ok(k.record.id.clone()))?),
        None => None,
    };
    let mut aliases: Vec<Value> = cx.state.kms.read(|d| {
        d.aliases
            .values()
            .filter(|a| a.account == cx.account && a.region == cx.region)
            .filter(|a| key_filter.as_ref().is_none_or(|k| *k == a.target_key_id))
            .map(|a| {
                json!({
                    "AliasName": a.name,
                    "AliasArn": a.arn,
                    "TargetKeyId": a.target_key_id,
                    "CreationDate": a.created,
                    "LastUpdatedDate": a.updated,
                })
            })
            .collect()
    })?;
    if key_filter.is_none() {
        // AWS lists the aliases of AWS-managed keys it has not created yet, without a
        // `TargetKeyId` ("predefined aliases"); these are the ones Palisade creates on first use.
        // They come after the account's own aliases (AWS documents no order), so that the
        // first page of a busy account still shows the aliases its owner made.
        for service in PREDEFINED_ALIASES {
            let name = aws_managed_alias(service);
            if !aliases
                .iter()
                .any(|v| v.get("AliasName").and_then(Value::as_str) == Some(name.as_str()))
            {
                let arn = alias_arn(cx.region, cx.account, &name);
                aliases.push(json!({"AliasName": name, "AliasArn": arn}));
            }
        }
    }
    let (items, next) = page(aliases, member("AliasName"), i, PAGE_50_OF_100)?;
    Ok(paged(json!({"Aliases": items}), next))
}

// ---- policies and tags ----------------------------------------------------------------------

fn get_key_policy(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let name = s(i, "PolicyName").unwrap_or("default");
    if name != "default" {
        return Err(err(
            "NotFoundException",
            format!("No such policy exists: {name}"),
        ));
    }
    with_key(cx, i, |k| {
        Ok(json!({"Policy": k.record.policy, "PolicyName": "default"}))
    })
}

async fn put_key_policy(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let name = s(i, "PolicyName").unwrap_or("default");
    if name == "AWS_RAM" {
        // RAM keeps that policy; no caller can set it (the PutKeyPolicy reference).
        return Err(err(
            "ValidationException",
            "the AWS_RAM key policy is managed by AWS RAM and cannot be set; only the default \
             key policy can",
        ));
    }
    if name != "default" {
        return Err(err(
            "NotFoundException",
            format!("No such policy exists: {name}"),
        ));
    }
    let doc = s(i, "Policy").unwrap_or_default();
    check_policy(cx, doc)?;
    update_key(cx, i, |k| {
        doc.clone_into(&mut k.policy);
        Ok(())
    })
    .await
}

async fn tag_resource(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let tags = tags_of(i)?;
    update_key(cx, i, |k| {
        not_pending_deletion(k)?;
        for (key, value) in tags {
            match k.tags.iter_mut().find(|(t, _)| *t == key) {
                Some(existing) => existing.1 = value,
                None => k.tags.push((key, value)),
            }
        }
        if k.tags.len() > 50 {
            return Err(err(
                "LimitExceededException",
                "A KMS key can have at most 50 tags",
            ));
        }
        Ok(())
    })
    .await
}

async fn untag_resource(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let remove: Vec<String> = i
        .get("TagKeys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    update_key(cx, i, |k| {
        not_pending_deletion(k)?;
        k.tags.retain(|(t, _)| !remove.contains(t));
        Ok(())
    })
    .await
}

fn list_resource_tags(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let tags: Vec<Value> = with_key(cx, i, |k| {
        Ok(k.record
            .tags
            .iter()
            .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
            .collect())
    })?;
    let (items, next) = page(tags, member("TagKey"), i, PAGE_TAGS)?;
    Ok(paged(json!({"Tags": items}), next))
}

// ---- cryptographic operations -----------------------------------------------------------------

fn context_of(i: &Value, member: &str) -> EncryptionContext {
    i.get(member)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Encrypts under the key `arn` (symmetric or RSA): (blob, algorithm).
/// Encrypt for another service's use (its data keys): the ciphertext blob.
pub(crate) fn encrypt_for_service(
    cx: &Cx<'_>,
    arn: &str,
    plaintext: &[u8],
    context: &EncryptionContext,
) -> Result<Vec<u8>, ApiError> {
    encrypt_with(cx, arn, plaintext, context, None).map(|e| e.blob)
}

/// What an encryption made: the blob, its algorithm and, under a symmetric key, the
/// `KeyMaterialId` of the material version it used.
struct Encrypted {
    blob: Vec<u8>,
    algorithm: String,
    material_id: Option<String>,
}

fn encrypt_with(
    cx: &Cx<'_>,
    arn: &str,
    plaintext: &[u8],
    context: &EncryptionContext,
    algorithm: Option<&str>,
) -> Result<Encrypted, ApiError> {
    cx.state.kms.read(|d| {
        let k = d.keys.get(arn).ok_or_else(|| not_found_key(arn))?;
        usable(k)?;
        require_usage(k, KeyUsage::EncryptDecrypt, "Encrypt")?;
        let m = k
            .current()
            .ok_or_else(|| invalid_state(arn, "pending import"))?;
        let spec = k.record.spec();
        if spec.is_symmetric() {
            let alg = algorithm.unwrap_or("SYMMETRIC_DEFAULT");
            if alg != "SYMMETRIC_DEFAULT" {
                return Err(err(
                    "InvalidKeyUsageException",
                    format!("Algorithm {alg} is incompatible with key spec SYMMETRIC_DEFAULT."),
                ));
            }
            let version = k.record.current_version();
            let header = BlobHeader {
                key_id: k.record.id.clone(),
                material_version: u32::try_from(version).unwrap_or(0),
            };
            let blob = palisade_kms::encrypt_symmetric(&header, m, plaintext, context)
                .map_err(from_kms)?;
            return Ok(Encrypted {
                blob,
                algorithm: alg.to_owned(),
                material_id: Some(material_id(&k.record, version)),
            });
        }
        no_context_for_asymmetric(context)?;
        // The algorithm defaults to SYMMETRIC_DEFAULT, which an RSA key cannot do.
        let alg = algorithm.unwrap_or("SYMMETRIC_DEFAULT");
        if alg == "SYMMETRIC_DEFAULT" {
            return Err(err(
                "InvalidKeyUsageException",
                format!(
                    "Algorithm {alg} is incompatible with key spec {}.",
                    k.record.spec
                ),
            ));
        }
        let blob = palisade_kms::rsa_encrypt(m, alg, plaintext).map_err(from_kms)?;
        Ok(Encrypted {
            blob,
            algorithm: alg.to_owned(),
            material_id: None,
        })
    })?
}

/// RSA encryption binds no encryption context, so one given with an asymmetric key would be
/// ignored, and the caller left believing it bound the ciphertext (bug: it was). AWS refuses
/// it; an empty context is no context.
fn no_context_for_asymmetric(context: &EncryptionContext) -> Result<(), ApiError> {
    if context.is_empty() {
        return Ok(());
    }
    Err(err(
        "ValidationException",
        "You cannot specify an encryption context in a cryptographic operation with an asymmetric KMS key or an HMAC KMS key.",
    ))
}

fn encrypt(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let arn = resolve_arn(cx, key_id_of(i)?)?;
    let plaintext = blob(i, "Plaintext")?.unwrap_or_default();
    let context = context_of(i, "EncryptionContext");
    let e = encrypt_with(cx, &arn, &plaintext, &context, s(i, "EncryptionAlgorithm"))?;
    let mut out =
        json!({"CiphertextBlob": b64(&e.blob), "KeyId": arn, "EncryptionAlgorithm": e.algorithm});
    // EncryptResponse has no KeyMaterialId in the model, but the call's CloudTrail record does:
    // the pipeline moves it there (`KEY_MATERIAL_RECORDED`) before the response is encoded.
    if let Some(id) = e.material_id {
        super::super::set(&mut out, "KeyMaterialId", json!(id));
    }
    Ok(out)
}

/// The material a ciphertext naming version `v` of the key decrypts with: one the key holds and
/// uses. Bug: material imported for a rotation on demand that has not happened
/// (`PENDING_ROTATION`) decrypted ciphertexts naming its version, though it is not permanently
/// associated with the key and must not be used before the rotation.
fn decrypting_material(k: &Key, v: usize) -> Option<&Arc<Material>> {
    if waits_for_rotation(&k.record, v) {
        return None;
    }
    k.material(v)
}

/// Decrypts a symmetric blob: (key ARN, plaintext, `KeyMaterialId` of the material used).
pub(crate) fn decrypt_symmetric(
    cx: &Cx<'_>,
    ciphertext: &[u8],
    context: &EncryptionContext,
    expected: Option<&str>,
) -> Result<(String, Vec<u8>, String), ApiError> {
    let header = palisade_kms::read_header(ciphertext).map_err(from_kms)?;
    let arn = cx
        .state
        .kms
        .read(|d| arn_for_key_id(d, cx.region, cx.account, &header.key_id))?;
    if let Some(want) = expected
        && want != arn
    {
        return Err(err(
            "IncorrectKeyException",
            "The key ID in the request does not identify a CMK that can perform this operation.",
        ));
    }
    cx.state.kms.read(|d| {
        let k = d.keys.get(&arn).ok_or_else(|| {
            // KMS's answer for a ciphertext of a key in another Region (bug:
            // InvalidCiphertextException, which tells the caller the blob is damaged). A key
            // id known nowhere stays InvalidCiphertextException: a changed byte of the blob
            // must read as damage, and a deleted key leaves no trace to tell it apart.
            if d.keys.values().any(|k| k.record.id == header.key_id) {
                err(
                    "AccessDeniedException",
                    "The ciphertext refers to a customer master key that does not exist, does \
                     not exist in this region, or you are not allowed to access.",
                )
            } else {
                err("InvalidCiphertextException", "")
            }
        })?;
        usable(k)?;
        let v = usize::try_from(header.material_version).unwrap_or(usize::MAX);
        let m = decrypting_material(k, v).ok_or_else(|| err("InvalidCiphertextException", ""))?;
        let plain = palisade_kms::decrypt_symmetric(ciphertext, m, context).map_err(from_kms)?;
        Ok((arn.clone(), plain, material_id(&k.record, v)))
    })?
}

/// What a decryption opened: the key's ARN, the plaintext, the algorithm and, under a
/// symmetric key, the `KeyMaterialId` of the material version it used.
struct Decrypted {
    arn: String,
    plaintext: Vec<u8>,
    algorithm: String,
    material_id: Option<String>,
}

/// Decrypts with whatever key the request and blob name.
fn decrypt_any(
    cx: &Cx<'_>,
    ciphertext: &[u8],
    context: &EncryptionContext,
    key_id: Option<&str>,
    algorithm: Option<&str>,
) -> Result<Decrypted, ApiError> {
    let expected = key_id.map(|id| resolve_arn(cx, id)).transpose()?;
    if let Some(arn) = &expected {
        let rsa = cx
            .state
            .kms
            .read(|d| d.keys.get(arn).is_some_and(|k| k.record.spec().is_rsa()))?;
        if rsa {
            no_context_for_asymmetric(context)?;
            let alg = match algorithm {
                Some(alg) if alg != "SYMMETRIC_DEFAULT" => alg,
                other => {
                    let spec = cx.state.kms.read(|d| {
                        d.keys
                            .get(arn)
                            .map(|k| k.record.spec.clone())
                            .unwrap_or_default()
                    })?;
                    return Err(err(
                        "InvalidKeyUsageException",
                        format!(
                            "Algorithm {} is incompatible with key spec {spec}.",
                            other.unwrap_or("SYMMETRIC_DEFAULT")
                        ),
                    ));
                }
            };
            return cx.state.kms.read(|d| {
                let k = d.keys.get(arn).ok_or_else(|| not_found_key(arn))?;
                usable(k)?;
                require_usage(k, KeyUsage::EncryptDecrypt, "Decrypt")?;
                let m = k
                    .current()
                    .ok_or_else(|| invalid_state(arn, "pending import"))?;
                let plaintext = palisade_kms::rsa_decrypt(m, alg, ciphertext).map_err(from_kms)?;
                Ok(Decrypted {
                    arn: arn.clone(),
                    plaintext,
                    algorithm: alg.to_owned(),
                    material_id: None,
                })
            })?;
        }
    }
    if let Some(alg) = algorithm
        && alg != "SYMMETRIC_DEFAULT"
    {
        return Err(err("InvalidCiphertextException", ""));
    }
    let (arn, plaintext, material) =
        decrypt_symmetric(cx, ciphertext, context, expected.as_deref())?;
    Ok(Decrypted {
        arn,
        plaintext,
        algorithm: "SYMMETRIC_DEFAULT".to_owned(),
        material_id: Some(material),
    })
}

fn decrypt(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let ct = blob(i, "CiphertextBlob")?.unwrap_or_default();
    let context = context_of(i, "EncryptionContext");
    let d = decrypt_any(
        cx,
        &ct,
        &context,
        s(i, "KeyId"),
        s(i, "EncryptionAlgorithm"),
    )?;
    // Bug: no KeyMaterialId, which the model gives with a symmetric encryption key.
    let mut out =
        json!({"KeyId": d.arn, "Plaintext": b64(&d.plaintext), "EncryptionAlgorithm": d.algorithm});
    if let Some(id) = d.material_id {
        super::super::set(&mut out, "KeyMaterialId", json!(id));
    }
    Ok(out)
}

fn re_encrypt(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let ct = blob(i, "CiphertextBlob")?.unwrap_or_default();
    let source = decrypt_any(
        cx,
        &ct,
        &context_of(i, "SourceEncryptionContext"),
        s(i, "SourceKeyId"),
        s(i, "SourceEncryptionAlgorithm"),
    )?;
    let dest = resolve_arn(
        cx,
        s(i, "DestinationKeyId")
            .ok_or_else(|| err("ValidationException", "DestinationKeyId is required"))?,
    )?;
    let e = encrypt_with(
        cx,
        &dest,
        &source.plaintext,
        &context_of(i, "DestinationEncryptionContext"),
        s(i, "DestinationEncryptionAlgorithm"),
    )?;
    let mut out = json!({
        "CiphertextBlob": b64(&e.blob),
        "SourceKeyId": source.arn,
        "KeyId": dest,
        "SourceEncryptionAlgorithm": source.algorithm,
        "DestinationEncryptionAlgorithm": e.algorithm,
    });
    // Bug: neither material id, which the model gives for each symmetric side.
    if let Some(id) = source.material_id {
        super::super::set(&mut out, "SourceKeyMaterialId", json!(id));
    }
    if let Some(id) = e.material_id {
        super::super::set(&mut out, "DestinationKeyMaterialId", json!(id));
    }
    Ok(out)
}

/// Data keys (and data key pairs) are encrypted under symmetric encryption keys only; the
/// error names the operation asked for (`op`), not the Encrypt it runs underneath nor another
/// data-key operation (bug: GenerateDataKeyWithoutPlaintext's said GenerateDataKey): a key of
/// another usage in AWS's words ("<arn> key usage is SIGN_VERIFY which is not valid for
/// GenerateDataKeyWithoutPlaintext."), an asymmetric encryption key by its spec.
fn require_symmetric_encryption(cx: &Cx<'_>, arn: &str, op: &str) -> Result<(), ApiError> {
    let facts = cx.state.kms.read(|d| {
        d.keys.get(arn).map(|k| {
            (
                k.record.usage() == KeyUsage::EncryptDecrypt,
                k.record.spec().is_symmetric(),
                k.record.usage.clone(),
                k.record.spec.clone(),
            )
        })
    })?;
    match facts {
        Some((false, _, usage, _)) => Err(err(
            "InvalidKeyUsageException",
            format!("{arn} key usage is {usage} which is not valid for {op}."),
        )),
        Some((true, false, _, spec)) => Err(err(
            "InvalidKeyUsageException",
            format!(
                "{arn} key spec is {spec} which is not valid for {op}: data keys need a symmetric encryption KMS key."
            ),
        )),
        _ => Ok(()),
    }
}

/// A fresh data key of `n` bytes under the symmetric key `arn`: (blob, plaintext).
pub(crate) fn data_key(
    cx: &Cx<'_>,
    op: &str,
    arn: &str,
    context: &EncryptionContext,
    n: usize,
) -> Result<(Vec<u8>, Vec<u8>), ApiError> {
    new_data_key(cx, op, arn, context, n).map(|(e, plain)| (e.blob, plain))
}

fn new_data_key(
    cx: &Cx<'_>,
    op: &str,
    arn: &str,
    context: &EncryptionContext,
    n: usize,
) -> Result<(Encrypted, Vec<u8>), ApiError> {
    require_symmetric_encryption(cx, arn, op)?;
    let plain = palisade_kms::random_bytes(n).map_err(from_kms)?;
    let e = encrypt_with(cx, arn, &plain, context, None)?;
    Ok((e, plain))
}

fn generate_data_key(cx: &Cx<'_>, i: &Value, with_plaintext: bool) -> Result<Value, ApiError> {
    let arn = resolve_arn(cx, key_id_of(i)?)?;
    let n = match (
        s(i, "KeySpec"),
        i.get("NumberOfBytes").and_then(Value::as_u64),
    ) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(err(
                "ValidationException",
                "Please specify either number of bytes or key spec.",
            ));
        }
        (Some("AES_128"), None) => 16,
        (Some(_), None) => 32,
        (None, Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let op = if with_plaintext {
        "GenerateDataKey"
    } else {
        "GenerateDataKeyWithoutPlaintext"
    };
    let (e, plain) = new_data_key(cx, op, &arn, &context_of(i, "EncryptionContext"), n)?;
    // Bug: no KeyMaterialId, the material version the data key is encrypted under.
    let mut out = json!({"CiphertextBlob": b64(&e.blob), "KeyId": arn});
    if let Some(id) = e.material_id {
        super::super::set(&mut out, "KeyMaterialId", json!(id));
    }
    if with_plaintext {
        super::super::set(&mut out, "Plaintext", b64(&plain));
    }
    Ok(out)
}

fn generate_data_key_pair(cx: &Cx<'_>, i: &Value, with_plaintext: bool) -> Result<Value, ApiError> {
    let arn = resolve_arn(cx, key_id_of(i)?)?;
    let pair_spec = s(i, "KeyPairSpec").unwrap_or_default();
    let spec: KeySpec = pair_spec.parse().map_err(|_| {
        err(
            "UnsupportedOperationException",
            format!("KeyPairSpec {pair_spec} is not supported"),
        )
    })?;
    let op = if with_plaintext {
        "GenerateDataKeyPair"
    } else {
        "GenerateDataKeyPairWithoutPlaintext"
    };
    require_symmetric_encryption(cx, &arn, op)?;
    let (private, public) = palisade_kms::generate_data_key_pair(spec).map_err(from_kms)?;
    let e = encrypt_with(
        cx,
        &arn,
        &private,
        &context_of(i, "EncryptionContext"),
        None,
    )?;
    let mut out = json!({
        "PrivateKeyCiphertextBlob": b64(&e.blob),
        "PublicKey": b64(&public),
        "KeyId": arn,
        "KeyPairSpec": pair_spec,
    });
    if let Some(id) = e.material_id {
        super::super::set(&mut out, "KeyMaterialId", json!(id));
    }
    if with_plaintext {
        super::super::set(&mut out, "PrivateKeyPlaintext", b64(&private));
    }
    Ok(out)
}

fn with_usable_key<T>(
    cx: &Cx<'_>,
    i: &Value,
    usage: KeyUsage,
    op: &str,
    f: impl FnOnce(&Key, &Material) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    with_key(cx, i, |k| {
        usable(k)?;
        require_usage(k, usage, op)?;
        let m = k
            .current()
            .ok_or_else(|| invalid_state(&k.record.arn, "pending import"))?;
        f(k, m)
    })
}

fn message_type(i: &Value) -> MessageType {
    match s(i, "MessageType") {
        Some("DIGEST") => MessageType::Digest,
        Some("EXTERNAL_MU") => MessageType::ExternalMu,
        _ => MessageType::Raw,
    }
}

fn sign(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let msg = blob(i, "Message")?.unwrap_or_default();
    let alg = s(i, "SigningAlgorithm").unwrap_or_default();
    with_usable_key(cx, i, KeyUsage::SignVerify, "Sign", |k, m| {
        let sig = palisade_kms::sign(m, alg, message_type(i), &msg).map_err(from_kms)?;
        Ok(json!({"KeyId": k.record.arn, "Signature": b64(&sig), "SigningAlgorithm": alg}))
    })
}

fn verify(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let msg = blob(i, "Message")?.unwrap_or_default();
    let sig = blob(i, "Signature")?.unwrap_or_default();
    let alg = s(i, "SigningAlgorithm").unwrap_or_default();
    with_usable_key(cx, i, KeyUsage::SignVerify, "Verify", |k, m| {
        if !palisade_kms::verify(m, alg, message_type(i), &msg, &sig).map_err(from_kms)? {
            return Err(err("KMSInvalidSignatureException", ""));
        }
        Ok(json!({"KeyId": k.record.arn, "SignatureValid": true, "SigningAlgorithm": alg}))
    })
}

fn get_public_key(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    with_key(cx, i, |k| {
        usable(k)?;
        let spec = k.record.spec();
        if spec.is_symmetric() || spec.is_hmac() {
            return Err(err(
                "UnsupportedOperationException",
                format!("{} is not an asymmetric KMS key.", k.record.arn),
            ));
        }
        let m = k
            .current()
            .ok_or_else(|| invalid_state(&k.record.arn, "pending import"))?;
        let public = m.public_key_der().map_err(from_kms)?;
        let usage = k.record.usage();
        let mut out = json!({
            "KeyId": k.record.arn,
            "PublicKey": b64(&public),
            "CustomerMasterKeySpec": k.record.spec,
            "KeySpec": k.record.spec,
            "KeyUsage": k.record.usage,
        });
        for (member, algs) in [
            ("EncryptionAlgorithms", spec.encryption_algorithms(usage)),
            ("SigningAlgorithms", spec.signing_algorithms(usage)),
            (
                "KeyAgreementAlgorithms",
                spec.key_agreement_algorithms(usage),
            ),
            (
                "EncapsulationAlgorithms",
                spec.encapsulation_algorithms(usage),
            ),
        ] {
            if !algs.is_empty() {
                super::super::set(&mut out, member, json!(algs));
            }
        }
        Ok(out)
    })
}

fn generate_mac(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let msg = blob(i, "Message")?.unwrap_or_default();
    let alg = s(i, "MacAlgorithm").unwrap_or_default();
    with_usable_key(cx, i, KeyUsage::GenerateVerifyMac, "GenerateMac", |k, m| {
        let mac = palisade_kms::generate_mac(m, alg, &msg).map_err(from_kms)?;
        Ok(json!({"KeyId": k.record.arn, "Mac": b64(&mac), "MacAlgorithm": alg}))
    })
}

fn verify_mac(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let msg = blob(i, "Message")?.unwrap_or_default();
    let mac = blob(i, "Mac")?.unwrap_or_default();
    let alg = s(i, "MacAlgorithm").unwrap_or_default();
    with_usable_key(cx, i, KeyUsage::GenerateVerifyMac, "VerifyMac", |k, m| {
        if !palisade_kms::verify_mac(m, alg, &msg, &mac).map_err(from_kms)? {
            return Err(err("KMSInvalidMacException", ""));
        }
        Ok(json!({"KeyId": k.record.arn, "MacValid": true, "MacAlgorithm": alg}))
    })
}

fn derive_shared_secret(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let peer = blob(i, "PublicKey")?.unwrap_or_default();
    let alg = s(i, "KeyAgreementAlgorithm").unwrap_or("ECDH");
    with_usable_key(
        cx,
        i,
        KeyUsage::KeyAgreement,
        "DeriveSharedSecret",
        |k, m| {
            let secret = palisade_kms::derive_shared_secret(m, &peer).map_err(from_kms)?;
            Ok(json!({
                "KeyId": k.record.arn,
                "SharedSecret": b64(&secret),
                "KeyAgreementAlgorithm": alg,
                "KeyOrigin": k.record.origin,
            }))
        },
    )
}

/// ML-KEM's `Encapsulate`: a fresh shared secret and its ciphertext under the key's public key.
fn encapsulate(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let alg = s(i, "EncapsulationAlgorithm").unwrap_or("ML_KEM");
    with_usable_key(
        cx,
        i,
        KeyUsage::EncapsulateDecapsulate,
        "Encapsulate",
        |k, m| {
            let (ct, secret) = palisade_kms::encapsulate(m).map_err(from_kms)?;
            Ok(json!({
                "KeyId": k.record.arn,
                "SharedSecret": b64(&secret),
                "SharedSecretCiphertextBlob": b64(&ct),
                "EncapsulationAlgorithm": alg,
            }))
        },
    )
}

/// ML-KEM's `Decapsulate`: the shared secret an `Encapsulate` ciphertext carries.
fn decapsulate(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let ct = blob(i, "SharedSecretCiphertextBlob")?.unwrap_or_default();
    let alg = s(i, "EncapsulationAlgorithm").unwrap_or("ML_KEM");
    with_usable_key(
        cx,
        i,
        KeyUsage::EncapsulateDecapsulate,
        "Decapsulate",
        |k, m| {
            let secret = palisade_kms::decapsulate(m, &ct).map_err(from_kms)?;
            Ok(json!({
                "KeyId": k.record.arn,
                "SharedSecret": b64(&secret),
                "EncapsulationAlgorithm": alg,
            }))
        },
    )
}

// ---- rotation ---------------------------------------------------------------------------------

/// Whether the key is a multi-Region replica (its primary is in another Region).
fn is_replica(k: &KeyRecord) -> bool {
    k.multi_region && k.primary_region.as_deref().is_some_and(|p| p != k.region)
}

/// Which rotation a request asks about: the two differ in which keys support them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rotation {
    Automatic,
    OnDemand,
}

fn rotatable(k: &KeyRecord, kind: Rotation) -> Result<(), ApiError> {
    if is_replica(k) {
        // Replicas share their primary's material, rotations included.
        return Err(err(
            "UnsupportedOperationException",
            format!(
                "{} is a multi-Region replica key: rotation is managed on its primary key in {}.",
                k.arn,
                k.primary_region.as_deref().unwrap_or_default()
            ),
        ));
    }
    let unsupported = |m: String| Err(err("UnsupportedOperationException", m));
    match kind {
        _ if k.spec().is_symmetric() && k.origin == "AWS_KMS" => {}
        // AWS rotates imported symmetric keys on demand into new material imported for it
        // (ImportType NEW_KEY_MATERIAL); `rotate_on_demand` checks that it is there.
        Rotation::OnDemand if k.spec().is_symmetric() && k.origin == "EXTERNAL" => {}
        Rotation::Automatic => {
            return unsupported(format!(
                "{} does not support automatic key rotation: only symmetric encryption keys with AWS_KMS origin do.",
                k.arn
            ));
        }
        Rotation::OnDemand => {
            return unsupported(format!(
                "{} does not support on-demand key rotation: only symmetric encryption keys do.",
                k.arn
            ));
        }
    }
    // Bug: a primary waiting for its replicas' deletion was rotated.
    match key_state(k) {
        "Enabled" => Ok(()),
        "Disabled" => Err(err("DisabledException", format!("{} is disabled.", k.arn))),
        other => Err(invalid_state(&k.arn, state_words(other))),
    }
}

async fn enable_rotation(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let days = i
        .get("RotationPeriodInDays")
        .and_then(Value::as_i64)
        .unwrap_or(365);
    if !(90..=2560).contains(&days) {
        return Err(err(
            "ValidationException",
            format!(
                "1 validation error detected: Value '{days}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value between 90 and 2560"
            ),
        ));
    }
    update_key(cx, i, |k| {
        rotatable(k, Rotation::Automatic)?;
        k.rotation_enabled = true;
        k.rotation_period_days = days;
        k.next_rotation = Some(now() + days * DAY);
        Ok(())
    })
    .await
}

fn rotation_status(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let own = with_key(cx, i, |k| Ok(k.record.clone()))?;
    // A replica rotates with its primary: it reports the primary's schedule.
    let primary = if is_replica(&own) {
        let region = own.primary_region.as_deref().unwrap_or_default();
        let arn = key_arn(region, &own.account, &own.id);
        cx.state
            .kms
            .read(|d| d.keys.get(&arn).map(|p| p.record.clone()))?
    } else {
        None
    };
    let r = primary.as_ref().unwrap_or(&own);
    // The API reference: while a key is pending deletion its rotation status is false; it
    // returns when the deletion is cancelled, so the stored setting is kept.
    let enabled = r.rotation_enabled && !pending_deletion(&own) && !pending_deletion(r);
    let mut out = json!({"KeyRotationEnabled": enabled, "KeyId": own.arn});
    if enabled {
        super::super::set(
            &mut out,
            "RotationPeriodInDays",
            json!(r.rotation_period_days),
        );
        if let Some(n) = r.next_rotation {
            super::super::set(&mut out, "NextRotationDate", json!(n));
        }
    }
    Ok(out)
}

/// Whether `GetKeyLastUsage` tracks the operation: the model's `KeyLastUsageTrackingOperation`.
fn tracked(op: &str) -> bool {
    palisade_model::schema::service_by_signing_name("kms")
        .and_then(|kms| kms.shape_by_name("KeyLastUsageTrackingOperation"))
        .is_some_and(|(_, shape)| {
            matches!(&shape.kind, palisade_model::schema::ShapeKind::String { enum_values, .. }
                if enum_values.contains(&op))
        })
}

/// `GetKeyLastUsage`, read from the audit trail: the newest successful cryptographic call that
/// named the key. Tracking starts as far back as LookupEvents reaches (90 days), which is the
/// `TrackingStartDate`; the trail is the record AWS's own tracking summarises.
async fn key_last_usage(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let (arn, account, created) = with_key(cx, i, |k| {
        Ok((
            k.record.arn.clone(),
            k.record.account.clone(),
            k.record.created,
        ))
    })?;
    if account != cx.account {
        return Err(not_found_key(&arn));
    }
    let now_ms = crate::services::now_ms();
    let start_ms = tracking_start_ms(now_ms);
    // The caller is authorized for the key: the whole tracking window is read.
    let last = last_use(cx.state, &account, &arn, now_ms, usize::MAX).await?;
    let mut out = json!({
        "KeyId": arn,
        "TrackingStartDate": start_ms / 1000,
        "KeyCreationDate": created,
    });
    if let LastUse::Used(row) = last {
        let request_id = serde_json::from_str::<Value>(&row.record)
            .ok()
            .and_then(|r| {
                r.get("requestID")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        let mut usage = json!({
            "Operation": row.event_name,
            "Timestamp": row.event_time_ms as f64 / 1000.0,
            "CloudTrailEventId": row.event_id,
        });
        if let Some(id) = request_id {
            super::super::set(&mut usage, "KmsRequestId", json!(id));
        }
        super::super::set(&mut out, "KeyLastUsage", usage);
    }
    Ok(out)
}

/// Where `GetKeyLastUsage`'s tracking starts: as far back as LookupEvents reaches.
fn tracking_start_ms(now_ms: i64) -> i64 {
    now_ms - 90 * DAY * 1000
}

/// The newest successful cryptographic call on the key since tracking starts, from the trail.
/// Whether a look-up of a key's last use found one, found none, or gave up (`last_use`).
enum LastUse {
    Used(Box<palisade_store::AuditRow>),
    Unused,
    Unknown,
}

/// Looks back at most `max_pages` pages of 100 of the key's events.
async fn last_use(
    state: &AppState,
    account: &str,
    arn: &str,
    now_ms: i64,
    max_pages: usize,
) -> Result<LastUse, ApiError> {
    let mut before = None;
    // Newest first; most events that name a key are its cryptographic calls, so the first page
    // usually has one.
    for _ in 0..max_pages {
        let rows = state
            .store
            .lookup_events(&EventQuery {
                account_id: account.to_owned(),
                attribute: Some((EventAttribute::ResourceName, arn.to_owned())),
                start_ms: tracking_start_ms(now_ms),
                end_ms: now_ms,
                before,
                limit: 100,
                region: None,
            })
            .await
            .map_err(ApiError::internal)?;
        let Some((oldest, _)) = rows.last() else {
            return Ok(LastUse::Unused);
        };
        before = Some(*oldest);
        if let Some((_, row)) = rows.into_iter().find(|(_, row)| {
            row.event_source == "kms.amazonaws.com"
                && row.error_code.is_none()
                && tracked(&row.event_name)
        }) {
            return Ok(LastUse::Used(Box::new(row)));
        }
    }
    Ok(LastUse::Unknown)
}

/// Pages of a key's events `days_unused` reads at most.
const DAYS_UNUSED_PAGES: usize = 20;

/// `kms:TrailingDaysWithoutKeyUsage` for DisableKey and ScheduleKeyDeletion: whole days since
/// the key's last successful cryptographic use, or, never used since tracking started, since
/// the later of its creation and that start (what `GetKeyLastUsage` reports). None for other
/// operations, and for a key that cannot be read (the request then fails on its own).
pub(crate) async fn days_unused(
    state: &AppState,
    caller: &crate::services::Caller,
    region: &str,
    op: &str,
    input: &Value,
) -> Option<i64> {
    if !matches!(op, "DisableKey" | "ScheduleKeyDeletion") {
        return None;
    }
    let arn = super::authz::key_of(state, caller, region, op, input)?;
    let (account, created) = state
        .kms
        .read(|d| {
            d.keys
                .get(&arn)
                .map(|k| (k.record.account.clone(), k.record.created))
        })
        .ok()
        .flatten()?;
    let now_ms = crate::services::now_ms();
    // Asked before authorization, by anyone who can name the key: the look-back is bounded,
    // and a use it cannot rule out counts as a use today, so that a Deny guarding keys in use
    // binds rather than fails open when the trail is unreadable or the key's history is long.
    let since_ms = match last_use(state, &account, &arn, now_ms, DAYS_UNUSED_PAGES).await {
        Ok(LastUse::Used(row)) => row.event_time_ms,
        Ok(LastUse::Unused) => tracking_start_ms(now_ms).max(created.saturating_mul(1000)),
        Ok(LastUse::Unknown) => now_ms,
        Err(e) => {
            tracing::warn!(key = %arn, error = %e.message, "key usage unreadable; kms:TrailingDaysWithoutKeyUsage counted as 0");
            now_ms
        }
    };
    Some(now_ms.saturating_sub(since_ms).max(0) / (DAY * 1000))
}

/// Adds a material version to the key (a rotation), and the same version to each of its
/// multi-Region replicas, which share its material: a ciphertext made under the new version in
/// any Region decrypts in all of them. Returns the replicas, to be committed with the key.
fn rotate(kms: &super::Kms, key: &mut Key, kind: &str, at: i64) -> Result<Vec<Key>, ApiError> {
    let m = Arc::new(Material::generate(key.record.spec()).map_err(from_kms)?);
    let replicas: Vec<Key> = kms.read(|d| {
        key.record
            .replica_regions
            .iter()
            .filter_map(|region| {
                d.keys
                    .get(&key_arn(region, &key.record.account, &key.record.id))
                    .cloned()
            })
            .collect()
    })?;
    let mut out = Vec::with_capacity(replicas.len());
    for mut replica in replicas {
        add_material(kms, &mut replica, &m, kind, at)?;
        out.push(replica);
    }
    add_material(kms, key, &m, kind, at)?;
    Ok(out)
}

fn add_material(
    kms: &super::Kms,
    key: &mut Key,
    m: &Arc<Material>,
    kind: &str,
    at: i64,
) -> Result<(), ApiError> {
    let version = key.materials.len();
    key.record
        .sealed
        .push(kms.seal(&key.record.arn, version, m)?);
    key.materials.push(Some(m.clone()));
    key.record.rotations.push(RotationRecord {
        material_version: u32::try_from(version).unwrap_or(u32::MAX),
        at,
        kind: kind.to_owned(),
    });
    Ok(())
}

async fn rotate_on_demand(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let _guard = cx.state.kms.lock_writes().await;
    let mut key = with_key(cx, i, |k| Ok(k.clone()))?;
    rotatable(&key.record, Rotation::OnDemand)?;
    let on_demand = key
        .record
        .rotations
        .iter()
        .filter(|r| r.kind == "ON_DEMAND")
        .count();
    if on_demand >= 25 {
        return Err(err(
            "LimitExceededException",
            format!(
                "{} has reached the limit of 25 on-demand rotations",
                key.record.arn
            ),
        ));
    }
    let mut keys = if key.record.origin == "EXTERNAL" {
        rotate_into_imported(cx, &mut key, now())?
    } else {
        rotate(&cx.state.kms, &mut key, "ON_DEMAND", now())?
    };
    let arn = key.record.arn.clone();
    keys.push(key);
    cx.state
        .kms
        .commit(Changes {
            keys,
            ..Changes::default()
        })
        .await?;
    Ok(json!({"KeyId": arn}))
}

/// RotateKeyOnDemand of an imported key: the material imported for it (`PENDING_ROTATION`)
/// becomes current, in the key and in each of its multi-Region replicas, which must all have
/// imported it first. Returns the replicas, to be committed with the key.
fn rotate_into_imported(cx: &Cx<'_>, key: &mut Key, at: i64) -> Result<Vec<Key>, ApiError> {
    let r = &key.record;
    let pending = r
        .imported
        .last()
        .filter(|m| m.pending_rotation && held(m, at))
        .map(|m| m.id.clone());
    let Some(id) = pending else {
        return Err(err(
            "UnsupportedOperationException",
            format!(
                "{} has no key material in PENDING_ROTATION state: import new key material with ImportType NEW_KEY_MATERIAL before rotating it on demand.",
                r.arn
            ),
        ));
    };
    let version = r.imported.len().saturating_sub(1);
    let mut replicas: Vec<Key> = cx.state.kms.read(|d| {
        r.replica_regions
            .iter()
            .filter_map(|region| d.keys.get(&key_arn(region, &r.account, &r.id)).cloned())
            .collect()
    })?;
    // The model's PENDING_MULTI_REGION_IMPORT_AND_ROTATION: not every replica has it yet.
    if let Some(missing) = replicas.iter().find(|k| {
        k.record
            .imported
            .get(version)
            .is_none_or(|m| m.id != id || !held(m, at))
    }) {
        return Err(err(
            "UnsupportedOperationException",
            format!(
                "Key material {id} is not imported into the replica key {} yet: import it into every replica key before rotating {} on demand.",
                missing.record.arn, r.arn
            ),
        ));
    }
    for k in replicas.iter_mut().chain(std::iter::once(&mut *key)) {
        if let Some(m) = k.record.imported.get_mut(version) {
            m.pending_rotation = false;
        }
        k.record.rotations.push(RotationRecord {
            material_version: u32::try_from(version).unwrap_or(u32::MAX),
            at,
            kind: "ON_DEMAND".to_owned(),
        });
    }
    Ok(replicas)
}

/// One entry of ListKeyRotations; an imported key's tell also how its material stands.
/// `awaited`: material waiting for a rotation that some multi-Region replica has not imported.
fn rotation_entry(
    r: &KeyRecord,
    version: usize,
    rotation: Option<&RotationRecord>,
    awaited: bool,
) -> Value {
    let current = r.current_version();
    let imported = r.imported.get(version);
    let state = match imported {
        Some(m) if m.pending_rotation && awaited => "PENDING_MULTI_REGION_IMPORT_AND_ROTATION",
        Some(m) if m.pending_rotation => "PENDING_ROTATION",
        _ if version == current => "CURRENT",
        _ => "NON_CURRENT",
    };
    let mut out = json!({
        "KeyId": r.arn,
        "KeyMaterialId": material_id(r, version),
        "KeyMaterialState": state,
    });
    let mut set = |k: &str, v: Value| super::super::set(&mut out, k, v);
    if let Some(rot) = rotation {
        set("RotationDate", json!(rot.at));
        set("RotationType", json!(rot.kind));
    }
    if let Some(m) = imported {
        if let Some(d) = &m.description {
            set("KeyMaterialDescription", json!(d));
        }
        let present = held(m, now());
        set(
            "ImportState",
            json!(if present {
                "IMPORTED"
            } else {
                "PENDING_IMPORT"
            }),
        );
        if present {
            set(
                "ExpirationModel",
                json!(if m.valid_to.is_some() {
                    "KEY_MATERIAL_EXPIRES"
                } else {
                    "KEY_MATERIAL_DOES_NOT_EXPIRE"
                }),
            );
            if let Some(v) = m.valid_to {
                set("ValidTo", json!(v));
            }
        }
    }
    out
}

fn list_rotations(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let id = key_id_of(i)?;
    let rotations: Vec<Value> = cx.state.kms.read(|d| {
        let arn = resolve_in(d, cx, id)?;
        let k = d.keys.get(&arn).ok_or_else(|| not_found_key(&arn))?;
        let r = &k.record;
        if !r.spec().is_symmetric() {
            return Err(err(
                "UnsupportedOperationException",
                format!("{} does not support key rotation.", r.arn),
            ));
        }
        let all = s(i, "IncludeKeyMaterial") == Some("ALL_KEY_MATERIAL");
        let mut out = Vec::new();
        // With ALL_KEY_MATERIAL the key's first material is listed before its rotations, and
        // imported material waiting for a rotation after them.
        if all && (!r.sealed.is_empty() || !r.imported.is_empty()) {
            out.push(rotation_entry(r, 0, None, false));
        }
        out.extend(
            r.rotations
                .iter()
                .map(|rot| rotation_entry(r, rot.material_version as usize, Some(rot), false)),
        );
        if all && let Some(v) = r.imported.iter().rposition(|m| m.pending_rotation) {
            // Bug: a primary listed its waiting material as PENDING_ROTATION while a replica
            // had not imported it yet, which the model calls
            // PENDING_MULTI_REGION_IMPORT_AND_ROTATION (RotateKeyOnDemand refuses it then).
            let t = now();
            let awaited = !is_replica(r)
                && r.replica_regions.iter().any(|region| {
                    d.keys
                        .get(&key_arn(region, &r.account, &r.id))
                        .and_then(|k| k.record.imported.get(v))
                        .is_none_or(|m| {
                            Some(&m.id) != r.imported.get(v).map(|p| &p.id) || !held(m, t)
                        })
                });
            out.push(rotation_entry(r, v, None, awaited));
        }
        Ok(out)
    })??;
    let (items, next) = page(rotations, |_| None, i, PAGE_KEYS)?;
    Ok(paged(json!({"Rotations": items}), next))
}

/// The background step: deletes keys past their deletion date (with their aliases and grants)
/// and rotates keys whose automatic rotation is due.
pub(crate) async fn run_due(state: &AppState, t: i64) -> Result<(), ApiError> {
    let kms = &state.kms;
    let _guard = kms.lock_writes().await;
    let (due_delete, due_rotate, aliases, grants, expired) = kms.read(|d| {
        let delete: Vec<KeyRecord> = d
            .keys
            .values()
            .filter(|k| {
                k.record.state == "PendingDeletion"
                    && k.record.deletion_date.is_some_and(|x| x <= t)
            })
            .map(|k| k.record.clone())
            .collect();
        let deleted = |arn: &str| delete.iter().any(|k| k.arn == arn);
        // Primaries whose last replica is deleted now (or was): their waiting period starts.
        let released: Vec<Key> = d
            .keys
            .values()
            .filter(|k| k.record.state == "PendingReplicaDeletion")
            .filter(|p| {
                !d.keys
                    .values()
                    .any(|k| is_sibling(&p.record, &k.record) && !deleted(&k.record.arn))
            })
            .cloned()
            .collect();
        let expired: Vec<Key> = d
            .keys
            .values()
            .filter(|k| {
                k.record
                    .imported
                    .iter()
                    .any(|m| m.present && past_valid_to(m, t))
                    && !deleted(&k.record.arn)
            })
            .cloned()
            .collect();
        let rotate: Vec<Key> = d
            .keys
            .values()
            .filter(|k| {
                k.record.rotation_enabled
                    && k.record.state == "Enabled"
                    && k.record.next_rotation.is_some_and(|x| x <= t)
                    && !is_replica(&k.record)
            })
            .cloned()
            .collect();
        let aliases: Vec<String> = d
            .aliases
            .values()
            .filter(|a| deleted(&key_arn(&a.region, &a.account, &a.target_key_id)))
            .map(|a| a.arn.clone())
            .collect();
        let grants: Vec<String> = d
            .grants
            .values()
            .filter(|g| deleted(&g.key_arn))
            .map(|g| g.id.clone())
            .collect();
        (delete, rotate, aliases, grants, (expired, released))
    })?;
    let (expired, released) = expired;
    if due_delete.is_empty() && due_rotate.is_empty() && expired.is_empty() && released.is_empty() {
        return Ok(());
    }
    let mut changes = Changes::default();
    let mut events = Vec::new();
    // Replicas' copies of a primary's expired material waiting for a rotation: (ARN, version,
    // id).
    let mut replica_copies: Vec<(String, usize, String)> = Vec::new();
    for mut key in released {
        let days = key.record.pending_window_days.unwrap_or(30);
        "PendingDeletion".clone_into(&mut key.record.state);
        key.record.deletion_date = Some(t + days * DAY);
        changes.keys.push(key);
    }
    for mut key in expired {
        // KMS deletes imported material at its ValidTo: the key waits for it to be imported
        // again (a key pending deletion, its own or its replicas', stays so); material waiting
        // for a rotation is gone without changing the key's state.
        tracing::info!(key = %key.record.arn, "imported key material expired");
        let due: Vec<usize> = key
            .record
            .imported
            .iter()
            .enumerate()
            .filter(|(_, m)| m.present && past_valid_to(m, t))
            .map(|(v, _)| v)
            .collect();
        // Newest first, so that dropping a pending material leaves the others' versions.
        for v in due.into_iter().rev() {
            let material = material_id(&key.record, v);
            events.push(service_event(
                "DeleteExpiredKeyMaterial",
                &key.record,
                Some(json!({"keyId": key.record.id, "keyMaterialId": material})),
                None,
            ));
            let replica = is_replica(&key.record);
            // Bug: only the primary's copy went; its replicas kept theirs, which then neither
            // expired nor could ever be rotated into. Deleted from them too, as
            // DeleteImportedKeyMaterial of the primary's does.
            if waits_for_rotation(&key.record, v) && !replica && key.record.multi_region {
                let r = &key.record;
                replica_copies.extend(
                    r.replica_regions
                        .iter()
                        .map(|region| (key_arn(region, &r.account, &r.id), v, material.clone())),
                );
            }
            drop_material(&mut key, v, replica);
        }
        changes.keys.push(key);
    }
    for (arn, v, id) in replica_copies {
        // A replica already changed in this step (its own material expired) is changed again.
        let mut replica = match changes.keys.iter().position(|k| k.record.arn == arn) {
            Some(at) => changes.keys.swap_remove(at),
            None => match kms.read(|d| d.keys.get(&arn).cloned())? {
                Some(k) => k,
                None => continue,
            },
        };
        drop_pending_copy(&mut replica, v, &id);
        changes.keys.push(replica);
    }
    for key in due_delete {
        let arn = key.arn.clone();
        tracing::info!(key = %arn, "kms key deleted at the end of its waiting period");
        // CloudTrail names the deleted key in responseElements though DeleteKey answers nobody.
        events.push(service_event(
            "DeleteKey",
            &key,
            None,
            Some(json!({"keyId": arn})),
        ));
        changes.deletes.push((KEYS, arn));
    }
    changes
        .deletes
        .extend(aliases.into_iter().map(|a| (ALIASES, a)));
    changes
        .deletes
        .extend(grants.into_iter().map(|g| (GRANTS, g)));
    // A deleted replica leaves its primary's list of replicas (bug: DescribeKey kept listing
    // it, and replicating the key to that Region again listed the Region twice).
    let mut due_rotate = due_rotate;
    for key in changes_deleted_replicas(&changes, kms)? {
        let Some(primary) = key.primary_region.as_deref() else {
            continue;
        };
        let primary_arn = key_arn(primary, &key.account, &key.id);
        let prune = |k: &mut Key| {
            k.record.replica_regions.retain(|r| *r != key.region);
        };
        let mut found = false;
        for k in changes.keys.iter_mut().chain(due_rotate.iter_mut()) {
            if k.record.arn == primary_arn {
                prune(k);
                found = true;
            }
        }
        if !found && let Some(mut k) = kms.read(|d| d.keys.get(&primary_arn).cloned())? {
            prune(&mut k);
            changes.keys.push(k);
        }
    }
    for mut key in due_rotate {
        let previous = material_id(&key.record, key.record.current_version());
        let replicas = rotate(kms, &mut key, "AUTOMATIC", t)?;
        events.push(service_event(
            "RotateKey",
            &key.record,
            Some(json!({
                "rotationType": "AUTOMATIC",
                "keyOrigin": key.record.origin,
                "previousKeyMaterialId": previous,
                "currentKeyMaterialId": material_id(&key.record, key.record.current_version()),
            })),
            None,
        ));
        key.record.next_rotation = Some(t + key.record.rotation_period_days * DAY);
        changes.keys.extend(replicas);
        changes.keys.push(key);
    }
    kms.commit(changes).await?;
    drop(_guard);
    // Bug: the background task's deletions, expiries and rotations left no trace in the audit
    // trail; CloudTrail records each as a KMS service event. Recorded once the change is
    // committed, so that no event tells of a change that did not happen.
    if state.config.audit_enabled {
        for event in events {
            if let Err(e) = state.audit.record_with(event, None).await {
                tracing::error!(error = %e, "audit event of the kms background task dropped");
            }
        }
    }
    Ok(())
}

/// The replicas among the keys `changes` deletes.
fn changes_deleted_replicas(
    changes: &Changes,
    kms: &super::Kms,
) -> Result<Vec<KeyRecord>, ApiError> {
    let arns: Vec<&String> = changes
        .deletes
        .iter()
        .filter(|(table, _)| *table == KEYS)
        .map(|(_, arn)| arn)
        .collect();
    kms.read(|d| {
        arns.iter()
            .filter_map(|arn| d.keys.get(*arn))
            .filter(|k| is_replica(&k.record))
            .map(|k| k.record.clone())
            .collect()
    })
}

/// The CloudTrail record of work KMS does on its own (an `AwsServiceEvent`): no caller, the
/// key's account as the identity, KMS as the one who acted.
fn service_event(
    name: &str,
    key: &KeyRecord,
    details: Option<Value>,
    response: Option<Value>,
) -> palisade_audit::Event {
    let mut event = palisade_audit::Event::service_event(
        "kms",
        name,
        &key.region,
        palisade_audit::Resource {
            arn: key.arn.clone(),
            account_id: key.account.clone(),
            kind: "AWS::KMS::Key".to_owned(),
        },
    );
    event.service_event_details = details;
    event.response_elements = response;
    event
}

// ---- grants -----------------------------------------------------------------------------------

/// Whether a grant on a key of this spec and usage can allow `op` (AWS: a grant's operations
/// must suit the key's type and usage, or CreateGrant fails with ValidationException; a grant
/// for Sign on a symmetric encryption key is refused).
fn grant_operation_fits(spec: KeySpec, usage: KeyUsage, op: &str) -> bool {
    match op {
        "Encrypt" | "Decrypt" | "ReEncryptFrom" | "ReEncryptTo" => {
            usage == KeyUsage::EncryptDecrypt
        }
        "GenerateDataKey"
        | "GenerateDataKeyWithoutPlaintext"
        | "GenerateDataKeyPair"
        | "GenerateDataKeyPairWithoutPlaintext" => {
            usage == KeyUsage::EncryptDecrypt && spec.is_symmetric()
        }
        "Sign" | "Verify" => usage == KeyUsage::SignVerify,
        "GenerateMac" | "VerifyMac" => usage == KeyUsage::GenerateVerifyMac,
        "DeriveSharedSecret" => usage == KeyUsage::KeyAgreement,
        "Encapsulate" | "Decapsulate" => usage == KeyUsage::EncapsulateDecapsulate,
        "GetPublicKey" => !spec.is_symmetric() && !spec.is_hmac(),
        // CreateGrant, RetireGrant, DescribeKey, and operations newer than this list.
        _ => true,
    }
}

/// The most encryption context pairs a grant constraint holds, and the longest value in one
/// (CreateGrant: "Each constraint value can include up to 8 encryption context pairs. The
/// encryption context value in each constraint cannot exceed 384 characters.").
const CONSTRAINT_PAIRS_MAX: usize = 8;
const CONSTRAINT_VALUE_MAX: usize = 384;

/// A grant's encryption-context constraints: within AWS's limits, and only on a grant whose
/// operations take an encryption context, which no operation of an asymmetric or HMAC key does
/// (bug: such grants were made, their constraint silently never applied). The management
/// operations a constraint does not apply to (DescribeKey, RetireGrant, CreateGrant) may be
/// granted with one on any key.
fn check_grant_constraints(
    spec: KeySpec,
    operations: &[String],
    constraints: Option<&Value>,
) -> Result<(), ApiError> {
    let maps: Vec<&serde_json::Map<String, Value>> =
        ["EncryptionContextEquals", "EncryptionContextSubset"]
            .iter()
            .filter_map(|member| {
                constraints
                    .and_then(|c| c.get(*member))
                    .and_then(Value::as_object)
            })
            .collect();
    if maps.is_empty() {
        return Ok(());
    }
    let cryptographic = operations
        .iter()
        .any(|op| !matches!(op.as_str(), "DescribeKey" | "RetireGrant" | "CreateGrant"));
    if !spec.is_symmetric() && cryptographic {
        return Err(err(
            "ValidationException",
            "You cannot use an encryption context grant constraint for cryptographic operations with asymmetric KMS keys or HMAC KMS keys.",
        ));
    }
    for m in maps {
        if m.len() > CONSTRAINT_PAIRS_MAX {
            return Err(err(
                "ValidationException",
                format!(
                    "Each constraint value can include up to {CONSTRAINT_PAIRS_MAX} encryption context pairs."
                ),
            ));
        }
        if m.values()
            .filter_map(Value::as_str)
            .any(|v| v.chars().count() > CONSTRAINT_VALUE_MAX)
        {
            return Err(err(
                "ValidationException",
                format!(
                    "The encryption context value in each constraint cannot exceed {CONSTRAINT_VALUE_MAX} characters."
                ),
            ));
        }
    }
    Ok(())
}

async fn create_grant(cx: &Cx<'_>, i: &Value, dry_run: bool) -> Result<Value, ApiError> {
    let arn = resolve_arn(cx, key_id_of(i)?)?;
    let operations: Vec<String> = i
        .get("Operations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    if operations.is_empty() {
        return Err(err(
            "ValidationException",
            "A grant must allow at least one operation: Operations is empty.",
        ));
    }
    with_key(cx, i, |k| {
        not_pending_deletion(&k.record)?;
        let (spec, usage) = (k.record.spec(), k.record.usage());
        match operations
            .iter()
            .find(|op| !grant_operation_fits(spec, usage, op))
        {
            Some(op) => Err(err(
                "ValidationException",
                format!(
                    "{op} is not a valid grant operation for {}, a {} key with key usage {}.",
                    k.record.arn, k.record.spec, k.record.usage
                ),
            )),
            None => Ok(()),
        }?;
        check_grant_constraints(spec, &operations, i.get("Constraints"))
    })?;
    // A grant is for an AWS principal (an ARN) or for an AWS service (bug: a grant naming
    // only GranteeServicePrincipal was refused as the principal "").
    let (grantee, grantee_service) = grant_party(i, "GranteePrincipal", "GranteeServicePrincipal")?
        .ok_or_else(|| {
            err(
                "ValidationException",
                "You must specify either GranteePrincipal or GranteeServicePrincipal.",
            )
        })?;
    let grantee = grantee.to_owned();
    let retiring_party = grant_party(i, "RetiringPrincipal", "RetiringServicePrincipal")?;
    for (p, service) in std::iter::once((grantee.as_str(), grantee_service)).chain(retiring_party) {
        if service {
            check_service_principal(p)?;
        } else {
            check_grant_principal(cx, p)?;
        }
    }
    if grantee_service {
        // AWS: "When you specify a GranteeServicePrincipal, you must also specify a SourceArn
        // grant constraint. In addition, you must specify either a RetiringPrincipal or a
        // RetiringServicePrincipal."
        let source_arn = i
            .get("Constraints")
            .and_then(|c| c.get("SourceArn"))
            .is_some_and(|a| !a.is_null());
        if !source_arn {
            return Err(err(
                "ValidationException",
                "When you specify a GranteeServicePrincipal, you must also specify a SourceArn grant constraint.",
            ));
        }
        if retiring_party.is_none() {
            return Err(err(
                "ValidationException",
                "When you specify a GranteeServicePrincipal, you must also specify either a RetiringPrincipal or a RetiringServicePrincipal.",
            ));
        }
    }
    if dry_run {
        return Err(dry_run_succeeded());
    }
    let name = s(i, "Name").map(str::to_owned);
    let _guard = cx.state.kms.lock_writes().await;
    // Again under the lock: a ScheduleKeyDeletion that finished while it was awaited must not
    // get a new grant on its key.
    with_key(cx, i, |k| not_pending_deletion(&k.record))?;
    // A retry with the same name and identical parameters gets the grant it created (AWS's
    // idempotent retries); any other parameter differing makes a new grant (bug: a retry adding
    // constraints or a retiring principal got the unconstrained grant back, reported as made).
    let same_ops =
        |g: &[String]| g.len() == operations.len() && operations.iter().all(|o| g.contains(o));
    let retiring = retiring_party.map(|(p, _)| p);
    let retiring_service = retiring_party.is_some_and(|(_, service)| service);
    let constraints = i.get("Constraints").filter(|c| !c.is_null());
    if let Some(n) = &name
        && let Some(existing) = cx.state.kms.read(|d| {
            d.grants_of(&arn)
                .find(|g| {
                    g.name.as_ref() == Some(n)
                        && same_ops(&g.operations)
                        && g.grantee == grantee
                        && g.grantee_service == grantee_service
                        && g.retiring.as_deref() == retiring
                        && g.retiring_service == retiring_service
                        && g.constraints.as_ref().filter(|c| !c.is_null()) == constraints
                })
                .cloned()
        })?
    {
        let token = cx.state.kms.grant_token(&existing.id)?;
        return Ok(json!({"GrantToken": token, "GrantId": existing.id}));
    }
    let grants = cx.state.kms.read(|d| d.grant_count(&arn))?;
    if grants >= GRANTS_PER_KEY {
        return Err(err(
            "LimitExceededException",
            format!("KMS key {arn} already has {grants} grants, the most a key may have."),
        ));
    }
    let id = hex::encode(palisade_kms::random_bytes(32).map_err(from_kms)?);
    let token = cx.state.kms.grant_token(&id)?;
    // The grant is the principals' that exist now, by their unique ids (see `GrantRecord`).
    let (grantee_id, retiring_id) = cx.state.iam.read(|d| {
        (
            d.principal_unique_id(&grantee),
            retiring.and_then(|r| d.principal_unique_id(r)),
        )
    })?;
    let grant = super::state::GrantRecord {
        id: id.clone(),
        token: token.clone(),
        key_arn: arn,
        name,
        grantee,
        grantee_id,
        retiring: retiring.map(str::to_owned),
        grantee_service,
        retiring_service,
        retiring_id,
        issuer: cx.caller.arn.clone(),
        operations,
        constraints: i.get("Constraints").cloned(),
        created: now(),
    };
    cx.state
        .kms
        .commit(Changes {
            grants: vec![grant],
            ..Changes::default()
        })
        .await?;
    Ok(json!({"GrantToken": token, "GrantId": id}))
}

fn grant_entry(g: &super::state::GrantRecord) -> Value {
    let mut v = json!({
        "KeyId": g.key_arn,
        "GrantId": g.id,
        "CreationDate": g.created,
        "IssuingAccount": g.issuer.split(':').nth(4).map(crate::identity::root_arn),
        "Operations": g.operations,
    });
    let grantee = if g.grantee_service {
        "GranteeServicePrincipal"
    } else {
        "GranteePrincipal"
    };
    super::super::set(&mut v, grantee, json!(g.grantee));
    if let Some(n) = &g.name {
        super::super::set(&mut v, "Name", json!(n));
    }
    if let Some(r) = &g.retiring {
        let member = if g.retiring_service {
            "RetiringServicePrincipal"
        } else {
            "RetiringPrincipal"
        };
        super::super::set(&mut v, member, json!(r));
    }
    if let Some(c) = &g.constraints {
        super::super::set(&mut v, "Constraints", c.clone());
    }
    v
}

fn list_grants(cx: &Cx<'_>, i: &Value, retirable: bool) -> Result<Value, ApiError> {
    // A service principal names grants by its own filter (bug: GranteeServicePrincipal was
    // ignored and every grant of the key listed; RetiringServicePrincipal was refused as a
    // RetiringPrincipal "" that is not an ARN).
    let one_of = |a: &str, b: &str| match (s(i, a), s(i, b)) {
        (Some(_), Some(_)) => Err(err(
            "ValidationException",
            format!("You can specify either {a} or {b}, but not both."),
        )),
        (x, y) => Ok(x.map(|v| (v, false)).or(y.map(|v| (v, true)))),
    };
    let ids: Vec<String> = if retirable {
        let named = one_of("RetiringPrincipal", "RetiringServicePrincipal")?;
        let Some((principal, service)) = named else {
            return Err(err(
                "ValidationException",
                "You must specify either RetiringPrincipal or RetiringServicePrincipal.",
            ));
        };
        // A service principal is a service's name, never an ARN, which would skip the checks
        // on RetiringPrincipal below.
        if service && (principal.contains(':') || !principal.ends_with(".amazonaws.com")) {
            return Err(err(
                "ValidationException",
                format!("RetiringServicePrincipal {principal:?} is not a service principal"),
            ));
        }
        if !service && (principal.split(':').count() < 6 || !principal.starts_with("arn:")) {
            return Err(err(
                "InvalidArnException",
                format!("retiring principal {principal:?} is not an arn"),
            ));
        }
        // AWS: "You must specify a principal in your AWS account" (bug: naming another
        // account's principal listed its grants, tokens' ids and keys included).
        if !service && principal.split(':').nth(4) != Some(cx.caller.account_id.as_str()) {
            return Err(crate::authz::access_denied(
                crate::route::WireProtocol::Json,
                cx.caller,
                "kms:ListRetirableGrants",
                principal,
                "because the retiring principal is not in the caller's account",
            ));
        }
        // A service principal belongs to no account: the caller's own keys' grants only.
        let own = |key_arn: &str| !service || key_arn.split(':').nth(4) == Some(cx.account);
        cx.state.kms.read(|d| {
            d.grants
                .values()
                .filter(|g| g.retiring.as_deref() == Some(principal) && own(&g.key_arn))
                .map(|g| g.id.clone())
                .collect()
        })?
    } else {
        let grantee = one_of("GranteePrincipal", "GranteeServicePrincipal")?;
        let arn = resolve_arn(cx, key_id_of(i)?)?;
        cx.state.kms.read(|d| {
            d.grants_of(&arn)
                .filter(|g| s(i, "GrantId").is_none_or(|id| id == g.id))
                .filter(|g| grantee.is_none_or(|(p, _)| p == g.grantee))
                .map(|g| g.id.clone())
                .collect()
        })?
    };
    // Paged by id before any entry is built: a key may have 50,000 grants, and building them
    // all made each page cost time in the key's grants (listing them all, in their square).
    let (ids, next) = page(ids, |id| Some(id.clone()), i, PAGE_50_OF_100)?;
    let items: Vec<Value> = cx.state.kms.read(|d| {
        ids.iter()
            .filter_map(|id| d.grants.get(id))
            .map(grant_entry)
            .collect()
    })?;
    Ok(paged(json!({"Grants": items}), next))
}

/// RetireGrant names its grant by token, or by grant id and key ("To identify the grant to
/// retire, use a grant token, or both the grant ID and a key identifier"); a request naming it
/// neither way is invalid, before anyone's permission is looked at (bug: it was refused as
/// access denied on "*", even to the account's root user).
pub(crate) fn retire_grant_unnamed(i: &Value) -> Option<ApiError> {
    let named =
        s(i, "GrantToken").is_some() || (s(i, "GrantId").is_some() && s(i, "KeyId").is_some());
    (!named).then(|| {
        err(
            "ValidationException",
            "a grant to retire is identified by its grant token, or by both its grant ID and a \
             key identifier (key ID or key ARN) of its KMS key",
        )
    })
}

async fn retire_grant(
    cx: &Cx<'_>,
    i: &Value,
    revoke: bool,
    dry_run: bool,
) -> Result<Value, ApiError> {
    if let Some(e) = retire_grant_unnamed(i).filter(|_| !revoke) {
        return Err(e);
    }
    let _guard = cx.state.kms.lock_writes().await;
    let grant = if let (false, Some(token)) = (revoke, s(i, "GrantToken")) {
        cx.state.kms.grant_by_token(token)?.ok_or_else(|| {
            err(
                "InvalidGrantTokenException",
                "The grant token is not valid.",
            )
        })?
    } else {
        let arn = resolve_arn(cx, key_id_of(i)?)?;
        let id = s(i, "GrantId").unwrap_or_default();
        cx.state
            .kms
            .read(|d| d.grants.get(id).filter(|g| g.key_arn == arn).cloned())?
            .ok_or_else(|| err("NotFoundException", format!("Grant ID {id} not found")))?
    };
    if dry_run {
        return Err(dry_run_succeeded());
    }
    cx.state
        .kms
        .commit(Changes {
            deletes: vec![(GRANTS, grant.id)],
            ..Changes::default()
        })
        .await?;
    Ok(json!({}))
}

// ---- import -----------------------------------------------------------------------------------

/// Import operations need a key of EXTERNAL origin.
fn external(r: &KeyRecord) -> Result<(), ApiError> {
    if r.origin != "EXTERNAL" {
        return Err(err(
            "UnsupportedOperationException",
            format!(
                "{} origin is {} which is not valid for this operation.",
                r.arn, r.origin
            ),
        ));
    }
    Ok(())
}

/// GetParametersForImport and ImportKeyMaterial need a key of EXTERNAL origin that is not
/// pending deletion (its own or its replicas'): the key-state table refuses them, and an
/// import must never bring a key back from a deletion that only CancelKeyDeletion may cancel.
fn importable(r: &KeyRecord) -> Result<(), ApiError> {
    external(r)?;
    if pending_deletion(r) {
        return Err(invalid_state(&r.arn, state_words(&r.state)));
    }
    Ok(())
}

async fn get_parameters_for_import(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let spec = s(i, "WrappingKeySpec").unwrap_or("RSA_2048");
    let alg = s(i, "WrappingAlgorithm").unwrap_or("RSAES_OAEP_SHA_256");
    if !matches!(
        alg,
        "RSAES_OAEP_SHA_1"
            | "RSAES_OAEP_SHA_256"
            | "RSA_AES_KEY_WRAP_SHA_1"
            | "RSA_AES_KEY_WRAP_SHA_256"
    ) {
        return Err(err(
            "UnsupportedOperationException",
            format!("WrappingAlgorithm {alg} is not supported"),
        ));
    }
    let _guard = cx.state.kms.lock_writes().await;
    let mut key = with_key(cx, i, |k| Ok(k.clone()))?;
    importable(&key.record)?;
    let wrapping = palisade_kms::wrapping_key(spec).map_err(from_kms)?;
    let public = wrapping.public_key_der().map_err(from_kms)?;
    let token = palisade_kms::random_bytes(64).map_err(from_kms)?;
    let token_text = hex::encode(&token);
    let binding = format!("{}#import", key.record.arn);
    key.record.import_wrapping = Some(seal_bytes(cx, &binding, wrapping.as_bytes())?);
    key.record.import_token = Some(format!("{alg}:{spec}:{token_text}"));
    let valid_to = now() + DAY;
    key.record.import_expires = Some(valid_to);
    let arn = key.record.arn.clone();
    cx.state
        .kms
        .commit(Changes {
            keys: vec![key],
            ..Changes::default()
        })
        .await?;
    Ok(json!({
        "KeyId": arn,
        "ImportToken": b64(token_text.as_bytes()),
        "PublicKey": b64(&public),
        "ParametersValidTo": valid_to,
    }))
}

/// The ValidTo an import asks for: with `KEY_MATERIAL_EXPIRES`, the default, a time in the next
/// 365 days, which is required; with `KEY_MATERIAL_DOES_NOT_EXPIRE` none.
fn import_valid_to(i: &Value) -> Result<Option<i64>, ApiError> {
    let invalid = |m: String| Err(err("ValidationException", m));
    let valid_to = i.get("ValidTo").and_then(Value::as_f64);
    match (s(i, "ExpirationModel"), valid_to) {
        (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), Some(_)) => invalid(
            "ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE."
                .to_owned(),
        ),
        // AWS's words; an import that leaves both out gets them too, since the model's
        // default is KEY_MATERIAL_EXPIRES.
        (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), None) => Ok(None),
        (_, None) => invalid(
            "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES".to_owned(),
        ),
        (_, Some(v)) => {
            let t = now();
            if !(v > t as f64 && v <= (t + 365 * DAY) as f64) {
                return invalid(format!(
                    "ValidTo {v} must be in the future and at most 365 days from now."
                ));
            }
            Ok(Some(v as i64))
        }
    }
}

/// The version of the key's imported material a `KeyMaterialId` names.
fn named_version(r: &KeyRecord, id: &str) -> Result<usize, ApiError> {
    r.imported.iter().position(|m| m.id == id).ok_or_else(|| {
        err(
            "NotFoundException",
            format!("Key material {id} is not associated with {}.", r.arn),
        )
    })
}

/// Where an import puts its material.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ImportTarget {
    /// The key's first material (version 0), permanently associated with it.
    First,
    /// Material the key already has (held or not): it must be the same.
    Existing(usize),
    /// New material for a rotation on demand (`NEW_KEY_MATERIAL`): it must differ from the
    /// key's others, and waits for the rotation.
    New,
}

/// Which material an import is for, or why it cannot be: `NEW_KEY_MATERIAL` only into a
/// symmetric key that has material, is not a multi-Region replica (new material goes into the
/// primary, then into each replica as existing material) and has no other material waiting for
/// a rotation; `EXISTING_KEY_MATERIAL` (the default once a key has material) the one its
/// `KeyMaterialId` names, or the current one.
fn import_target(r: &KeyRecord, new: bool, named: Option<&str>) -> Result<ImportTarget, ApiError> {
    if let Some(id) = named {
        return Ok(ImportTarget::Existing(named_version(r, id)?));
    }
    if r.imported.is_empty() {
        return Ok(ImportTarget::First);
    }
    if !new {
        return Ok(ImportTarget::Existing(r.current_version()));
    }
    let unsupported = |m: String| Err(err("UnsupportedOperationException", m));
    if !r.spec().is_symmetric() {
        return unsupported(format!(
            "{} is not a symmetric encryption key: its key material cannot be rotated, and only the same key material can be imported again, with ImportType EXISTING_KEY_MATERIAL.",
            r.arn
        ));
    }
    if is_replica(r) {
        return unsupported(format!(
            "{} is a multi-Region replica key: new key material is imported into its primary key in {}, then into each replica key with ImportType EXISTING_KEY_MATERIAL and its KeyMaterialId.",
            r.arn,
            r.primary_region.as_deref().unwrap_or_default()
        ));
    }
    if let Some(m) = r.imported.last().filter(|m| m.pending_rotation) {
        // Expired material waits for the background task (up to a minute) to go: it can no
        // longer be rotated in, so the message says what does work.
        let message = match m.valid_to.filter(|_| past_valid_to(m, now())) {
            Some(t) => format!(
                "{} has key material {} in PENDING_ROTATION state that expired at {t}: delete that key material (DeleteImportedKeyMaterial with its KeyMaterialId) before importing new key material.",
                r.arn, m.id
            ),
            None => format!(
                "{} already has key material {} in PENDING_ROTATION state: rotate the key on demand, or delete that key material, before importing other new key material.",
                r.arn, m.id
            ),
        };
        return Err(err("KMSInvalidStateException", message));
    }
    Ok(ImportTarget::New)
}

/// Makes `version` a slot of the key's materials, empty when new.
fn ensure_slot(key: &mut Key, version: usize) {
    let len = version.saturating_add(1);
    if key.record.sealed.len() < len {
        key.record.sealed.resize(len, Vec::new());
    }
    if key.materials.len() < len {
        key.materials.resize(len, None);
    }
}

async fn import_key_material(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let valid_to = import_valid_to(i)?;
    let new = s(i, "ImportType") == Some("NEW_KEY_MATERIAL");
    let named = s(i, "KeyMaterialId");
    if new && named.is_some() {
        return Err(err(
            "ValidationException",
            "You cannot specify a key material ID with ImportType set to NEW_KEY_MATERIAL.",
        ));
    }
    let description = s(i, "KeyMaterialDescription").map(str::to_owned);
    let token = blob(i, "ImportToken")?.unwrap_or_default();
    let encrypted = blob(i, "EncryptedKeyMaterial")?.unwrap_or_default();
    let _guard = cx.state.kms.lock_writes().await;
    let mut key = with_key(cx, i, |k| Ok(k.clone()))?;
    let r = &key.record;
    // Hole: the import ignored the key's state and always enabled it, so a caller allowed only
    // ImportKeyMaterial could enable a disabled key or undo a scheduled deletion.
    importable(r)?;
    let target = import_target(r, new, named)?;
    let bad_token = || {
        err(
            "InvalidImportTokenException",
            format!(
                "The import token is invalid or is associated with a different KMS key than {}.",
                r.arn
            ),
        )
    };
    let stored = r.import_token.clone().ok_or_else(bad_token)?;
    let mut parts = stored.splitn(3, ':');
    let (Some(alg), Some(wrapping_spec), Some(want)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_token());
    };
    if want.as_bytes() != token.as_slice() {
        return Err(bad_token());
    }
    // The model has an exception of its own for a token past its ParametersValidTo, which
    // tells the caller to get new parameters rather than look for a wrong key.
    match r.import_expires {
        Some(t) if t >= now() => {}
        Some(t) => {
            return Err(err(
                "ExpiredImportTokenException",
                format!(
                    "The import token for {} expired at {t}; call GetParametersForImport for a new one.",
                    r.arn
                ),
            ));
        }
        None => return Err(bad_token()),
    }
    let sealed = r.import_wrapping.clone().ok_or_else(bad_token)?;
    let wrapping_bytes = cx
        .state
        .sealer
        .open(
            palisade_seal::Purpose::KeyMaterial,
            &format!("{}#import", r.arn),
            &sealed,
        )
        .map_err(ApiError::internal)?;
    let wrapping_spec: KeySpec = wrapping_spec.parse().map_err(|_| bad_token())?;
    let wrapping = Material::from_bytes(wrapping_spec, wrapping_bytes).map_err(from_kms)?;
    let material =
        palisade_kms::unwrap_imported(&wrapping, alg, &encrypted, r.spec()).map_err(from_kms)?;
    // A material is known by its sealed digest, which stays with the key after the material
    // itself is deleted or expires.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, material.as_bytes());
    let equal =
        |a: &[u8], b: &[u8]| aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok();
    let is_material = |k: &Key, version: usize| -> Result<Option<bool>, ApiError> {
        match k
            .record
            .imported
            .get(version)
            .and_then(|m| m.digest.as_ref())
        {
            Some(sealed) => {
                let known = cx
                    .state
                    .sealer
                    .open(
                        palisade_seal::Purpose::KeyMaterial,
                        &digest_binding(&k.record.arn, version),
                        sealed,
                    )
                    .map_err(ApiError::internal)?;
                Ok(Some(equal(&known, digest.as_ref())))
            }
            // Records from before digests: the material itself, while held.
            None => Ok(k
                .material(version)
                .map(|m| equal(m.as_bytes(), material.as_bytes()))),
        }
    };
    let arn = key.record.arn.clone();
    let symmetric = key.record.spec().is_symmetric();
    let version = match target {
        ImportTarget::New => {
            // New material must be new: one the key already has would be two versions of the
            // same material (AWS's words for a mismatch otherwise).
            for v in 0..key.record.imported.len() {
                if is_material(&key, v)? == Some(true) {
                    return Err(err(
                        "IncorrectKeyMaterialException",
                        format!(
                            "The key material you are trying to import as new key material is already associated with {arn} as key material {}; import it with ImportType EXISTING_KEY_MATERIAL.",
                            material_id(&key.record, v)
                        ),
                    ));
                }
            }
            key.record.imported.len()
        }
        ImportTarget::First => 0,
        ImportTarget::Existing(v) => v,
    };
    if target != ImportTarget::New {
        // Re-importing must bring back the same material: ciphertexts depend on it. The keys
        // of a multi-Region key share their materials: what the primary or another replica
        // holds under the same KeyMaterialId is the only material any of them takes.
        let id = match target {
            ImportTarget::First => version_material_id(&key.record.account, &key.record.id, 0),
            _ => material_id(&key.record, version),
        };
        let mut same = is_material(&key, version)? != Some(false);
        if key.record.multi_region {
            let siblings: Vec<Key> = cx.state.kms.read(|d| {
                d.keys
                    .values()
                    .filter(|k| is_sibling(&key.record, &k.record))
                    .cloned()
                    .collect()
            })?;
            for sibling in &siblings {
                if let Some(v) = sibling.record.imported.iter().position(|m| m.id == id)
                    && sibling
                        .record
                        .imported
                        .get(v)
                        .is_some_and(|m| m.digest.is_some())
                {
                    same = same && is_material(sibling, v)? == Some(true);
                }
            }
        }
        if !same {
            return Err(err(
                "IncorrectKeyMaterialException",
                "The key material you are trying to import is different from the key material previously imported into this KMS key.",
            ));
        }
        if target == ImportTarget::First {
            key.record.imported = vec![ImportedMaterial {
                id,
                description: None,
                digest: None,
                valid_to: None,
                present: false,
                pending_rotation: false,
            }];
        }
    } else {
        // Bug: the id was random; AWS derives it from the key and the material, so the same
        // material imported again as new (after its deletion) gets the same id.
        let id = imported_material_id(&key.record.id, material.as_bytes());
        key.record.imported.push(ImportedMaterial {
            id,
            description: None,
            digest: None,
            valid_to: None,
            present: false,
            pending_rotation: true,
        });
    }
    // Only a key waiting for its material becomes Enabled; a disabled key stays disabled,
    // as only EnableKey may enable it.
    let waiting = key_state(&key.record) == "PendingImport";
    ensure_slot(&mut key, version);
    let sealed_digest = seal_bytes(cx, &digest_binding(&arn, version), digest.as_ref())?;
    let sealed_material = cx.state.kms.seal(&arn, version, &material)?;
    if let Some(slot) = key.record.sealed.get_mut(version) {
        *slot = sealed_material;
    }
    if let Some(slot) = key.materials.get_mut(version) {
        *slot = Some(Arc::new(material));
    }
    let entry = key
        .record
        .imported
        .get_mut(version)
        .ok_or_else(|| ApiError::internal("imported material version out of range"))?;
    if entry.digest.is_none() {
        entry.digest = Some(sealed_digest);
    }
    entry.valid_to = valid_to;
    entry.present = true;
    // AWS keeps the description of the last import that gave one.
    if description.is_some() && symmetric {
        entry.description = description;
    }
    let material_id = entry.id.clone();
    if waiting && !material_gone(&key.record, now()) {
        "Enabled".clone_into(&mut key.record.state);
    }
    key.record.import_token = None;
    key.record.import_wrapping = None;
    key.record.import_expires = None;
    let mut keys = if target == ImportTarget::New {
        await_in_replicas(cx, &key, version)?
    } else {
        Vec::new()
    };
    keys.push(key);
    cx.state
        .kms
        .commit(Changes {
            keys,
            ..Changes::default()
        })
        .await?;
    Ok(json!({"KeyId": arn, "KeyMaterialId": material_id}))
}

/// New material imported into a multi-Region primary waits in each replica (`PENDING_IMPORT`)
/// for the same material to be imported there, at the same version, so that a ciphertext names
/// the same material in every Region. Material a replica still had waiting for a rotation that
/// its primary no longer has goes. Returns the replicas, to be committed with the primary.
fn await_in_replicas(cx: &Cx<'_>, primary: &Key, version: usize) -> Result<Vec<Key>, ApiError> {
    let r = &primary.record;
    let mut replicas: Vec<Key> = cx.state.kms.read(|d| {
        r.replica_regions
            .iter()
            .filter_map(|region| d.keys.get(&key_arn(region, &r.account, &r.id)).cloned())
            .collect()
    })?;
    for k in &mut replicas {
        let rec = &mut k.record;
        rec.imported.truncate(version);
        for m in r.imported.iter().skip(rec.imported.len()) {
            rec.imported.push(ImportedMaterial {
                digest: None,
                valid_to: None,
                present: false,
                ..m.clone()
            });
        }
        let len = rec.imported.len();
        rec.sealed.resize(len, Vec::new());
        k.materials.resize(len, None);
    }
    Ok(replicas)
}

/// Seals bytes that derive from key material (an import's wrapping key, an imported
/// material's digest) under the root key, bound to `binding`.
fn seal_bytes(cx: &Cx<'_>, binding: &str, bytes: &[u8]) -> Result<Vec<u8>, ApiError> {
    cx.state
        .sealer
        .seal(palisade_seal::Purpose::KeyMaterial, binding, bytes)
        .map_err(ApiError::internal)
}

/// Whether version `v` of the key is imported material waiting for a rotation on demand.
fn waits_for_rotation(r: &KeyRecord, v: usize) -> bool {
    r.imported.get(v).is_some_and(|m| m.pending_rotation)
}

/// Drops a replica's copy of its primary's material `id` at version `v` when the copy is still
/// waiting for a rotation (the primary's went, by deletion or expiry); whether it did.
fn drop_pending_copy(replica: &mut Key, v: usize, id: &str) -> bool {
    let waiting = replica
        .record
        .imported
        .get(v)
        .is_some_and(|m| m.id == id && m.pending_rotation);
    if waiting {
        drop_material(replica, v, false);
    }
    waiting
}

/// Deletes the imported material of version `version` from the key (DeleteImportedKeyMaterial,
/// or its ValidTo passing). Material permanently associated with the key stays listed, to be
/// imported again, and the key waits for it (a key pending deletion, its own or its replicas',
/// keeps that state). Material waiting for a rotation is gone without changing the key's
/// state, except from a multi-Region replica (`keep_pending`), where it waits to be imported
/// again as long as its primary has it.
fn drop_material(key: &mut Key, version: usize, keep_pending: bool) {
    let last = key.record.imported.len().saturating_sub(1);
    let Some(m) = key.record.imported.get_mut(version) else {
        return;
    };
    let pending = m.pending_rotation;
    if pending && !keep_pending && version == last {
        key.record.imported.truncate(version);
        key.record.sealed.truncate(version);
        key.materials.truncate(version);
        return;
    }
    m.present = false;
    m.valid_to = None;
    if let Some(sealed) = key.record.sealed.get_mut(version) {
        sealed.clear();
    }
    if let Some(slot) = key.materials.get_mut(version) {
        *slot = None;
    }
    if !pending && !pending_deletion(&key.record) {
        "PendingImport".clone_into(&mut key.record.state);
    }
}

async fn delete_imported_material(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let _guard = cx.state.kms.lock_writes().await;
    let mut key = with_key(cx, i, |k| Ok(k.clone()))?;
    external(&key.record)?;
    // Without a KeyMaterialId, the current material.
    let version = match s(i, "KeyMaterialId") {
        Some(id) => named_version(&key.record, id)?,
        None => key.record.current_version(),
    };
    let out = json!({"KeyId": key.record.arn, "KeyMaterialId": material_id(&key.record, version)});
    let replica = is_replica(&key.record);
    let pending = waits_for_rotation(&key.record, version);
    let mut keys = Vec::new();
    // The API reference: deleting a primary's material that waits for a rotation deletes it
    // from its replicas too; a replica's deletions are its own.
    if pending && !replica && key.record.multi_region {
        let id = material_id(&key.record, version);
        let r = &key.record;
        let replicas: Vec<Key> = cx.state.kms.read(|d| {
            r.replica_regions
                .iter()
                .filter_map(|region| d.keys.get(&key_arn(region, &r.account, &r.id)).cloned())
                .collect()
        })?;
        for mut k in replicas {
            if drop_pending_copy(&mut k, version, &id) {
                keys.push(k);
            }
        }
    }
    if key.record.imported.is_empty() {
        // Nothing imported yet: the key goes on waiting (a key pending deletion keeps its
        // state, as the API reference has it).
        if !pending_deletion(&key.record) {
            "PendingImport".clone_into(&mut key.record.state);
        }
    } else {
        // The material is gone from memory and store; its ciphertexts stay undecryptable
        // until the same material is imported again.
        drop_material(&mut key, version, replica);
    }
    keys.push(key);
    cx.state
        .kms
        .commit(Changes {
            keys,
            ..Changes::default()
        })
        .await?;
    Ok(out)
}

// ---- multi-Region keys ------------------------------------------------------------------------

async fn replicate_key(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let target = s(i, "ReplicaRegion").unwrap_or_default().to_owned();
    let _guard = cx.state.kms.lock_writes().await;
    let mut primary = with_key(cx, i, |k| Ok(k.clone()))?;
    let r = &primary.record;
    if !r.multi_region {
        return Err(err(
            "UnsupportedOperationException",
            format!("{} is not a multi-Region key", r.arn),
        ));
    }
    if r.primary_region.as_deref() != Some(r.region.as_str()) {
        return Err(err(
            "UnsupportedOperationException",
            format!("{} is not a multi-region primary key.", r.arn),
        ));
    }
    replica_region_fits(&target, &r.region)?;
    // A key waiting for deletion cannot be replicated (AWS's ScheduleKeyDeletion: such a key
    // "cannot be replicated"); a disabled one can, its state being its own.
    not_pending_deletion(r)?;
    let replica_arn = key_arn(&target, &r.account, &r.id);
    if target == r.region || cx.state.kms.read(|d| d.keys.contains_key(&replica_arn))? {
        return Err(err(
            "AlreadyExistsException",
            format!("Replica key {replica_arn} already exists"),
        ));
    }
    let mut record = r.clone();
    record.region.clone_from(&target);
    record.arn.clone_from(&replica_arn);
    record.created = now();
    // A replica shares its primary's material and properties, not its key policy, description
    // or tags: those are the request's, or KMS's defaults.
    match s(i, "Policy") {
        Some(p) => {
            check_policy(cx, p)?;
            p.clone_into(&mut record.policy);
        }
        None => record.policy = default_policy(&record.account),
    }
    record.description = s(i, "Description").unwrap_or_default().to_owned();
    record.tags = if i.get("Tags").is_some() {
        tags_of(i)?
    } else {
        Vec::new()
    };
    record.replica_regions = vec![];
    // Key state is not shared (bug: the primary's was copied, so a disabled primary gave a
    // disabled replica and a deletion date came along): a new replica is enabled, or, with
    // imported material, waits for it.
    record.deletion_date = None;
    record.pending_window_days = None;
    record.import_wrapping = None;
    record.import_token = None;
    record.import_expires = None;
    // A replica of a key with imported material gets none: each of the primary's materials
    // (by the same KeyMaterialId, at the same version) must be imported into it (bug: it got
    // the primary's and was usable at once, which AWS never allows). Digests are sealed under
    // the primary's ARN; the replica's own are made at its imports.
    let materials: Vec<Option<Arc<Material>>> = if record.origin == "EXTERNAL" {
        "PendingImport".clone_into(&mut record.state);
        for m in &mut record.imported {
            m.digest = None;
            m.valid_to = None;
            m.present = false;
        }
        vec![None; record.imported.len()]
    } else {
        "Enabled".clone_into(&mut record.state);
        primary.materials.clone()
    };
    record.sealed = materials
        .iter()
        .enumerate()
        .map(|(v, m)| match m {
            Some(m) => cx.state.kms.seal(&replica_arn, v, m),
            None => Ok(Vec::new()),
        })
        .collect::<Result<_, _>>()?;
    // A Region whose replica was deleted may be listed still (keys stored before deletions
    // pruned the list): listed once.
    if !primary.record.replica_regions.contains(&target) {
        primary.record.replica_regions.push(target);
    }
    let replica = Key {
        record,
        materials,
        policy: None,
    };
    // The answer's configuration lists every replica, the new one included (as DescribeKey
    // of the replica does).
    let mut shown = replica.record.clone();
    shown
        .replica_regions
        .clone_from(&primary.record.replica_regions);
    let mut shown = metadata(&shown);
    // The replica is still being created when KMS answers: its material is not named yet.
    if let Some(m) = shown.as_object_mut() {
        m.remove("CurrentKeyMaterialId");
    }
    let mut out = json!({
        "ReplicaKeyMetadata": shown,
        "ReplicaPolicy": replica.record.policy,
    });
    // ReplicaTags echoes the request's Tags; KMS leaves it out when none were given (bug: `[]`).
    if i.get("Tags").is_some() {
        super::super::set(
            &mut out,
            "ReplicaTags",
            replica
                .record
                .tags
                .iter()
                .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
                .collect(),
        );
    }
    // AWS: a ReplicateKey request is also a CreateKey in the replica's Region, which KMS makes
    // on the caller's behalf (bug: the replica's Region recorded nothing).
    let mut created = crate::context::service_call_event(
        cx.caller,
        &replica.record.region,
        ("kms", "CreateKey"),
        "kms.amazonaws.com",
        json!({
            "keySpec": replica.record.spec,
            "keyUsage": replica.record.usage,
            "origin": replica.record.origin,
            "multiRegion": true,
            "description": replica.record.description,
        }),
        &replica.record.arn,
        Ok(()),
    );
    created.response_elements = Some(json!({"keyMetadata": {
        "aWSAccountId": replica.record.account,
        "keyId": replica.record.id,
        "arn": replica.record.arn,
    }}));
    cx.state
        .kms
        .commit(Changes {
            keys: vec![primary, replica],
            ..Changes::default()
        })
        .await?;
    super::record_other_region(cx, created).await?;
    Ok(out)
}

/// Whether `target` can hold a replica of a key in `primary`: a Region of the same partition
/// (bug: any string was taken, `xx-foo-1`, or `cn-north-1` for a key in `us-east-1`).
fn replica_region_fits(target: &str, primary: &str) -> Result<(), ApiError> {
    let partition = palisade_sigv4::region_partition(target);
    if partition.is_some() && partition == palisade_sigv4::region_partition(primary) {
        return Ok(());
    }
    Err(err(
        "ValidationException",
        format!(
            "1 validation error detected: Value '{target}' at 'replicaRegion' failed to satisfy \
             constraint: Member must be a Region in the same partition as the primary key's \
             Region {primary}"
        ),
    ))
}

async fn update_primary_region(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let new_primary = s(i, "PrimaryRegion").unwrap_or_default().to_owned();
    let _guard = cx.state.kms.lock_writes().await;
    let key = with_key(cx, i, |k| Ok(k.clone()))?;
    if !key.record.multi_region {
        return Err(err(
            "UnsupportedOperationException",
            format!("{} is not a multi-Region key", key.record.arn),
        ));
    }
    // Only the primary hands its role on, from its own Region.
    if is_replica(&key.record) {
        return Err(err(
            "UnsupportedOperationException",
            format!("{} is not a multi-region primary key.", key.record.arn),
        ));
    }
    let related: Vec<Key> = cx.state.kms.read(|d| {
        d.keys
            .values()
            .filter(|k| k.record.id == key.record.id && k.record.account == key.record.account)
            .cloned()
            .collect()
    })?;
    let regions: Vec<String> = related.iter().map(|k| k.record.region.clone()).collect();
    if !regions.contains(&new_primary) {
        return Err(err(
            "NotFoundException",
            format!("There is no replica of {} in {new_primary}", key.record.arn),
        ));
    }
    // AWS (multi-region-update): "Both the primary key and the replica key must be in the
    // Enabled key state" (bug: any state was taken).
    for k in related
        .iter()
        .filter(|k| k.record.region == key.record.region || k.record.region == new_primary)
    {
        match key_state(&k.record) {
            "Enabled" => continue,
            other => return Err(invalid_state(&k.record.arn, state_words(other))),
        }
    }
    let mut changes = Changes::default();
    for mut k in related {
        // Automatic rotation is a shared property, held by the primary (bug: the new primary
        // kept its own stale replica settings, so the swap turned rotation off).
        k.record.rotation_enabled = key.record.rotation_enabled;
        k.record.rotation_period_days = key.record.rotation_period_days;
        k.record.next_rotation = key.record.next_rotation;
        k.record.primary_region = Some(new_primary.clone());
        k.record.replica_regions = if k.record.region == new_primary {
            regions
                .iter()
                .filter(|r| **r != new_primary)
                .cloned()
                .collect()
        } else {
            vec![]
        };
        changes.keys.push(k);
    }
    cx.state.kms.commit(changes).await?;
    // AWS writes an entry in each affected Region, the new primary's too, with that Region's
    // key ARN as responseElements.keyId (bug: only the caller's Region recorded the call).
    let arn = key_arn(&new_primary, &key.record.account, &key.record.id);
    let mut other = crate::context::service_call_event(
        cx.caller,
        &new_primary,
        ("kms", "UpdatePrimaryRegion"),
        "kms.amazonaws.com",
        json!({"keyId": s(i, "KeyId").unwrap_or_default(), "primaryRegion": new_primary}),
        &arn,
        Ok(()),
    );
    // The caller's own call, not one KMS made for it: its address, and AWS's agent for the
    // entry it writes in the other Region.
    other.user_identity.invoked_by = None;
    if let Ok(ip) = crate::context::ORIGIN.try_with(|o| o.source_ip.clone()) {
        other.source_ip_address = ip;
    }
    "AWS Internal".clone_into(&mut other.user_agent);
    other.response_elements = Some(json!({"keyId": arn}));
    super::record_other_region(cx, other).await?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use palisade_kms::{BlobHeader, KeySpec, Material};

    use super::{
        ImportTarget, ImportedMaterial, Key, KeyRecord, decrypting_material, import_target,
        material_gone,
    };

    fn external(spec: &str, region: &str, primary: Option<&str>) -> KeyRecord {
        serde_json::from_value(serde_json::json!({
            "account": "123456789012", "region": region, "id": "mrk-1",
            "arn": format!("arn:aws:kms:{region}:123456789012:key/mrk-1"), "created": 0,
            "description": "", "spec": spec, "usage": "ENCRYPT_DECRYPT", "origin": "EXTERNAL",
            "state": "Enabled", "deletion_date": null, "pending_window_days": null,
            "aws_managed": false, "multi_region": primary.is_some(), "primary_region": primary,
            "policy": "{}", "tags": [], "rotation_enabled": false, "rotation_period_days": 365,
            "next_rotation": null, "sealed": [],
        }))
        .unwrap()
    }

    fn material(id: &str, present: bool, pending: bool, valid_to: Option<i64>) -> ImportedMaterial {
        ImportedMaterial {
            id: id.to_owned(),
            description: None,
            digest: None,
            valid_to,
            present,
            pending_rotation: pending,
        }
    }

    fn with(mut r: KeyRecord, materials: Vec<ImportedMaterial>) -> KeyRecord {
        r.sealed = vec![vec![1]; materials.len()];
        r.imported = materials;
        r
    }

    #[test]
    fn which_material_an_import_is_for() {
        let fresh = external("SYMMETRIC_DEFAULT", "us-east-1", None);
        assert_eq!(
            import_target(&fresh, false, None).unwrap(),
            ImportTarget::First
        );
        assert_eq!(
            import_target(&fresh, true, None).unwrap(),
            ImportTarget::First
        );
        let one = with(fresh.clone(), vec![material("a", true, false, None)]);
        assert_eq!(
            import_target(&one, false, None).unwrap(),
            ImportTarget::Existing(0)
        );
        assert_eq!(import_target(&one, true, None).unwrap(), ImportTarget::New);
        assert_eq!(
            import_target(&one, false, Some("a")).unwrap(),
            ImportTarget::Existing(0)
        );
        assert_eq!(
            import_target(&one, false, Some("z")).unwrap_err().code,
            "NotFoundException"
        );
        // At most one material waits for a rotation; without a KeyMaterialId an import is the
        // current material's, not the waiting one's.
        let waiting = with(
            fresh.clone(),
            vec![
                material("a", true, false, None),
                material("b", true, true, None),
            ],
        );
        assert_eq!(
            import_target(&waiting, true, None).unwrap_err().code,
            "KMSInvalidStateException"
        );
        assert_eq!(
            import_target(&waiting, false, None).unwrap(),
            ImportTarget::Existing(0)
        );
        assert_eq!(
            import_target(&waiting, false, Some("b")).unwrap(),
            ImportTarget::Existing(1)
        );
        // Asymmetric and HMAC keys hold one material; replicas take new material as existing.
        let rsa = with(
            external("RSA_2048", "us-east-1", None),
            vec![material("a", true, false, None)],
        );
        assert_eq!(
            import_target(&rsa, true, None).unwrap_err().code,
            "UnsupportedOperationException"
        );
        let replica = with(
            external("SYMMETRIC_DEFAULT", "us-west-2", Some("us-east-1")),
            vec![material("a", true, false, None)],
        );
        assert_eq!(
            import_target(&replica, true, None).unwrap_err().code,
            "UnsupportedOperationException"
        );
    }

    #[test]
    fn a_key_is_usable_only_with_every_permanently_associated_material() {
        let fresh = external("SYMMETRIC_DEFAULT", "us-east-1", None);
        assert!(material_gone(&fresh, 100));
        let both = with(
            fresh.clone(),
            vec![
                material("a", true, false, Some(200)),
                material("b", true, false, None),
            ],
        );
        assert!(!material_gone(&both, 100));
        // Past any one's ValidTo, or with any one deleted, the key waits for an import.
        assert!(material_gone(&both, 200));
        let deleted = with(
            fresh.clone(),
            vec![
                material("a", true, false, None),
                material("b", false, false, None),
            ],
        );
        assert!(material_gone(&deleted, 100));
        // Material waiting for a rotation counts for nothing.
        let pending = with(
            fresh,
            vec![
                material("a", true, false, None),
                material("b", false, true, Some(50)),
            ],
        );
        assert!(!material_gone(&pending, 100));
    }

    #[test]
    fn pending_material_decrypts_nothing_before_its_rotation() {
        // Bug: Decrypt and ReEncrypt took a ciphertext naming the version of PENDING_ROTATION
        // material, which is not permanently associated with the key and must not be used
        // before the rotation: such a ciphertext is invalid, as any naming material the key
        // does not use.
        let first = Arc::new(Material::generate(KeySpec::SymmetricDefault).unwrap());
        let pending = Arc::new(Material::generate(KeySpec::SymmetricDefault).unwrap());
        let mut key = Key {
            record: with(
                external("SYMMETRIC_DEFAULT", "us-east-1", None),
                vec![
                    material("a", true, false, None),
                    material("b", true, true, None),
                ],
            ),
            materials: vec![Some(first), Some(pending.clone())],
            policy: None,
        };
        let header = BlobHeader {
            key_id: "mrk-1".to_owned(),
            material_version: 1,
        };
        let blob =
            palisade_kms::encrypt_symmetric(&header, &pending, b"x", &Default::default()).unwrap();
        assert_eq!(
            palisade_kms::read_header(&blob).unwrap().material_version,
            1
        );
        assert!(decrypting_material(&key, 0).is_some());
        assert!(decrypting_material(&key, 1).is_none());
        // Once rotated into, it decrypts.
        key.record.imported[1].pending_rotation = false;
        let m = decrypting_material(&key, 1).unwrap();
        assert_eq!(
            palisade_kms::decrypt_symmetric(&blob, m, &Default::default()).unwrap(),
            b"x"
        );
    }
}
