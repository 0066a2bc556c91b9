//! AWS Key Management Service (awsJson1_1, TrentService, API 2014-11-01).
//!
//! Keys live in memory with their materials unsealed ([`state::Kms`]); every change is written
//! through to the store first. The cryptography is `palisade-kms`'s.

pub(crate) mod authz;
mod ops;
pub(crate) mod state;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::identity::Caller;
use crate::state::AppState;

pub(crate) use ops::days_unused;
pub use state::Kms;

/// Runs an operation of the service in `region`.
pub async fn handle(
    state: &AppState,
    caller: &Caller,
    region: &str,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    let cx = Cx::of_caller(state, caller, region);
    for member in ["KeyId", "TargetKeyId", "DestinationKeyId", "SourceKeyId"] {
        if let Some(e) = s(&input, member)
            .and_then(|id| ops::foreign_key_refused(&caller.account_id, operation, id))
        {
            return Err(e);
        }
    }
    ops::run(&cx, operation, &input).await
}

/// After the IAM user or role `arn` (unique id `id`) is deleted: key policies that named it by
/// ARN name its unique id instead (see [`crate::iam::Iam::orphan_principal_locked`]), and so do
/// grants whose grantee or retiring principal it was (or a session of it), as ListGrants shows
/// them; such a grant serves nobody from then on (see `authz::is_grantee`).
pub async fn orphan_principal(state: &AppState, arn: &str, id: &str) -> Result<(), ApiError> {
    let _guard = state.kms.lock_writes().await;
    let (keys, grants) = state.kms.read(|d| {
        let keys: Vec<state::Key> = d
            .keys
            .values()
            .filter_map(|k| {
                let policy = palisade_policy::rename::replace_principal(&k.record.policy, arn, id)?;
                let mut k = k.clone();
                k.record.policy = policy;
                Some(k)
            })
            .collect();
        let grants: Vec<state::GrantRecord> = d
            .grants
            .values()
            .filter_map(|g| {
                let mut g = g.clone();
                let grantee = orphaned(&g.grantee, g.grantee_id.as_deref(), arn, id);
                let retiring = g
                    .retiring
                    .as_deref()
                    .and_then(|r| orphaned(r, g.retiring_id.as_deref(), arn, id));
                if grantee.is_none() && retiring.is_none() {
                    return None;
                }
                if let Some(uid) = grantee {
                    g.grantee.clone_from(&uid);
                    g.grantee_id = Some(uid);
                }
                if let Some(uid) = retiring {
                    g.retiring = Some(uid.clone());
                    g.retiring_id = Some(uid);
                }
                Some(g)
            })
            .collect();
        (keys, grants)
    })?;
    if keys.is_empty() && grants.is_empty() {
        return Ok(());
    }
    state
        .kms
        .commit(state::Changes {
            keys,
            grants,
            ..state::Changes::default()
        })
        .await
}

/// After the IAM user `old_arn` is renamed or moved to `new_arn`: key policies that named it by
/// ARN name the new one, as IAM updates the policies that name a user as principal (see
/// [`crate::iam::Iam::rename_principal_locked`]). Grants need nothing: those that hold the
/// grantee's unique id still serve the renamed user and nobody else.
pub async fn rename_principal(
    state: &AppState,
    old_arn: &str,
    new_arn: &str,
) -> Result<(), ApiError> {
    let _guard = state.kms.lock_writes().await;
    let keys: Vec<state::Key> = state.kms.read(|d| {
        d.keys
            .values()
            .filter_map(|k| {
                let policy =
                    palisade_policy::rename::replace_principal(&k.record.policy, old_arn, new_arn)?;
                let mut k = k.clone();
                k.record.policy = policy;
                Some(k)
            })
            .collect()
    })?;
    if keys.is_empty() {
        return Ok(());
    }
    state
        .kms
        .commit(state::Changes {
            keys,
            ..state::Changes::default()
        })
        .await
}

/// The unique id a grant's principal is named by once the user or role `arn` (unique id `id`)
/// is deleted, if that principal was it or one of its sessions: `id`, or `id:session`. A grant
/// made before grants kept unique ids names the principal by ARN alone.
fn orphaned(principal: &str, principal_id: Option<&str>, arn: &str, id: &str) -> Option<String> {
    if !principal.starts_with("arn:") {
        // Orphaned already.
        return None;
    }
    match principal_id {
        Some(pid) if pid == id => Some(pid.to_owned()),
        Some(pid) => pid
            .strip_prefix(id)
            .is_some_and(|rest| rest.starts_with(':'))
            .then(|| pid.to_owned()),
        None if principal.eq_ignore_ascii_case(arn) => Some(id.to_owned()),
        None => {
            // A session of the deleted role: `arn:aws:sts::<account>:assumed-role/<role>/<name>`
            // against `arn:aws:iam::<account>:role/<path><role>`.
            let (account, role) = arn
                .strip_prefix("arn:aws:iam::")
                .and_then(|r| r.split_once(":role/"))?;
            let role = role.rsplit('/').next().unwrap_or(role);
            let (session_account, rest) = principal
                .strip_prefix("arn:aws:sts::")
                .and_then(|r| r.split_once(":assumed-role/"))?;
            let (session_role, session) = rest.split_once('/')?;
            (session_account == account && session_role.eq_ignore_ascii_case(role))
                .then(|| format!("{id}:{session}"))
        }
    }
}

/// What every handler works with.
pub(crate) struct Cx<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    pub account: &'a str,
    pub region: &'a str,
}

impl<'a> Cx<'a> {
    /// The context of a call in the caller's own account.
    pub(crate) fn of_caller(state: &'a AppState, caller: &'a Caller, region: &'a str) -> Self {
        Cx {
            state,
            caller,
            account: caller.account_id.as_str(),
            region,
        }
    }
}

pub(crate) fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn s<'a>(input: &'a Value, member: &str) -> Option<&'a str> {
    input.get(member).and_then(Value::as_str)
}

pub(crate) fn blob(input: &Value, member: &str) -> Result<Option<Vec<u8>>, ApiError> {
    s(input, member)
        .map(|v| {
            STANDARD.decode(v).map_err(|_| {
                ApiError::bad_request(
                    "SerializationException",
                    format!("{member} is not valid base64"),
                )
            })
        })
        .transpose()
}

pub(crate) fn b64(bytes: &[u8]) -> Value {
    Value::String(STANDARD.encode(bytes))
}

pub(crate) fn err(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

pub(crate) fn from_kms(e: palisade_kms::KmsError) -> ApiError {
    match e {
        palisade_kms::KmsError::Crypto(m) => ApiError::internal(m),
        palisade_kms::KmsError::InvalidCiphertext => err("InvalidCiphertextException", ""),
        other => err(other.code(), other.to_string()),
    }
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
pub async fn generate_data_key_for_service(
    state: &AppState,
    caller: &Caller,
    region: &str,
    service: &str,
    key_id: Option<&str>,
    context: &palisade_kms::EncryptionContext,
) -> Result<ServiceDataKey, ApiError> {
    let cx = Cx::of_caller(state, caller, region);
    let (key_id, arn) = key_for_service(&cx, service, key_id).await?;
    // The AWS-managed key too: its key policy lets the account's principals use it through
    // the service, and an explicit deny in their own policies still applies (bug: a user
    // denied kms:GenerateDataKey wrote secrets under the managed key, and the KMS event
    // recorded a success).
    let made = authz::check_for_service(&cx, "GenerateDataKey", &arn, service, context)
        .and_then(|()| ops::data_key(&cx, "GenerateDataKey", &arn, context, 32));
    let params = serde_json::json!({
        "keyId": key_id.unwrap_or(&arn),
        "encryptionContext": context,
        "keySpec": "AES_256",
    });
    record_service_call(
        &cx,
        ("GenerateDataKey", service),
        params,
        &arn,
        made.as_ref().err(),
        Durable::Now,
    )
    .await?;
    let (ciphertext, plaintext) = made?;
    Ok(ServiceDataKey {
        plaintext,
        ciphertext,
        key_arn: arn,
    })
}

/// The key a service call uses: the one `key_id` names, or `service`'s AWS-managed key (made on
/// first use) when it names none, or names that key by its alias (bug: `--kms-key-id
/// alias/aws/secretsmanager` failed until some secret had been created without a key). Returns
/// the customer key named, if any (whose use the caller must be allowed), and the key's ARN.
async fn key_for_service<'k>(
    cx: &Cx<'_>,
    service: &str,
    key_id: Option<&'k str>,
) -> Result<(Option<&'k str>, String), ApiError> {
    let alias = format!("alias/aws/{service}");
    let key_id = key_id.filter(|id| *id != alias && !id.ends_with(&format!(":{alias}")));
    let arn = match key_id {
        Some(id) => ops::resolve_arn(cx, id)?,
        None => ops::aws_managed_key(cx, service).await?,
    };
    Ok((key_id, arn))
}

/// Encrypt of a data key another service already holds, on behalf of `service` for `caller`:
/// under `key_id`, or the AWS-managed key `alias/aws/<service>` of `region` when `None`
/// (Secrets Manager's replicas, whose values each replica Region's key protects). Returns the
/// encrypted key and the ARN of the key that encrypted it.
pub async fn encrypt_data_key_for_service(
    state: &AppState,
    caller: &Caller,
    region: &str,
    service: &str,
    key_id: Option<&str>,
    plaintext: &[u8],
    context: &palisade_kms::EncryptionContext,
) -> Result<(Vec<u8>, String), ApiError> {
    let cx = Cx::of_caller(state, caller, region);
    let (key_id, arn) = key_for_service(&cx, service, key_id).await?;
    let made = authz::check_for_service(&cx, "Encrypt", &arn, service, context)
        .and_then(|()| ops::encrypt_for_service(&cx, &arn, plaintext, context));
    let params = serde_json::json!({
        "keyId": key_id.unwrap_or(&arn),
        "encryptionContext": context,
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
    });
    record_service_call(
        &cx,
        ("Encrypt", service),
        params,
        &arn,
        made.as_ref().err(),
        Durable::Now,
    )
    .await?;
    Ok((made?, arn))
}

/// Whether `key_arn` is an AWS-managed key (`alias/aws/<service>`).
pub fn is_aws_managed(state: &AppState, key_arn: &str) -> bool {
    state
        .kms
        .read(|d| d.keys.get(key_arn).is_some_and(|k| k.record.aws_managed))
        .unwrap_or(false)
}

/// The ARN of the enabled symmetric encryption key `key_id` names in `region` of the caller's
/// account: a key another service can protect data with (Secrets Manager's replicas).
pub fn service_key(
    state: &AppState,
    caller: &Caller,
    region: &str,
    key_id: &str,
) -> Result<String, ApiError> {
    let cx = Cx::of_caller(state, caller, region);
    ops::service_key(&cx, key_id)
}

/// Whether `key_arn`'s key policy lets CloudTrail encrypt `trail_arn`'s log files: the
/// request CloudTrail makes, `kms:GenerateDataKey` by the service principal with the trail's
/// ARN as `aws:SourceArn` and as the `aws:cloudtrail:arn` encryption context (the conditions
/// AWS's documented key policy statement tests).
pub fn key_policy_allows_cloudtrail(state: &AppState, key_arn: &str, trail_arn: &str) -> bool {
    use palisade_policy::{Context, EvaluationInput, Principal, Request, ResourceTrust, Value};
    let Ok(Some(policy)) = state
        .kms
        .read(|d| d.keys.get(key_arn).and_then(|k| k.policy.clone()))
    else {
        return false;
    };
    let account = trail_arn.split(':').nth(4).unwrap_or_default().to_owned();
    let mut context = Context::new();
    context.insert("aws:SourceArn", Value::string(trail_arn));
    context.insert("aws:SourceAccount", Value::string(account.clone()));
    context.insert(
        "kms:EncryptionContext:aws:cloudtrail:arn",
        Value::string(trail_arn),
    );
    context.insert_list(
        "kms:EncryptionContextKeys",
        vec![Value::string("aws:cloudtrail:arn")],
    );
    context.insert("kms:CallerAccount", Value::string(account));
    let action = "kms:GenerateDataKey";
    let request = Request::new(
        Principal::service("cloudtrail.amazonaws.com"),
        action,
        key_arn,
        key_arn.split(':').nth(4).map(str::to_owned),
        context,
    );
    palisade_policy::evaluate(
        &EvaluationInput::new(&request)
            .with_resource(&policy)
            .with_trust(ResourceTrust::for_action(action)),
    )
    .is_allowed()
}

/// The ARN of the key `key_id` (key id, alias name or ARN, key ARN) names for the caller in
/// `region`, if it exists: another service's condition keys name keys by ARN
/// (`secretsmanager:KmsKeyArn`).
pub(crate) fn key_arn_of(
    state: &AppState,
    caller: &Caller,
    region: &str,
    key_id: &str,
) -> Option<String> {
    ops::resolve_arn(&Cx::of_caller(state, caller, region), key_id).ok()
}

/// How a service call's event is recorded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durable {
    /// Durable before the call's result is used.
    Now,
    /// Queued ahead of the request's own event, which the caller waits for.
    WithRequest,
}

/// Records the event a multi-Region operation writes in another Region than the request's
/// (ReplicateKey's CreateKey in the replica's Region, UpdatePrimaryRegion's entry in the new
/// primary's), queued ahead of the request's own event, which the caller waits for.
pub(super) async fn record_other_region(
    cx: &Cx<'_>,
    event: palisade_audit::Event,
) -> Result<(), ApiError> {
    if !cx.state.config.audit_enabled {
        return Ok(());
    }
    match cx.state.audit.record_before_own(event).await {
        Ok(()) => Ok(()),
        Err(e) if cx.state.config.audit_fail_closed => Err(e.unavailable()),
        Err(e) => {
            tracing::error!(error = %e, "audit event of another Region dropped");
            Ok(())
        }
    }
}

/// Records the KMS event of a call another service made on the caller's behalf, as CloudTrail
/// does (`invokedBy`).
async fn record_service_call(
    cx: &Cx<'_>,
    (operation, service): (&str, &str),
    params: Value,
    key_arn: &str,
    failed: Option<&ApiError>,
    durable: Durable,
) -> Result<(), ApiError> {
    if !cx.state.config.audit_enabled {
        return Ok(());
    }
    let event = crate::context::service_call_event(
        cx.caller,
        cx.region,
        ("kms", operation),
        &format!("{service}.amazonaws.com"),
        params,
        key_arn,
        failed.map_or(Ok(()), Err),
    );
    let recorded = match durable {
        Durable::Now => cx.state.audit.record_call(event, None).await,
        Durable::WithRequest => cx.state.audit.record_before_own(event).await,
    };
    match recorded {
        Ok(()) => Ok(()),
        Err(e) if cx.state.config.audit_fail_closed => Err(e.unavailable()),
        Err(e) => {
            tracing::error!(error = %e, "audit event of a service call dropped");
            Ok(())
        }
    }
}

/// The Decrypt that a service's read of a data key it holds in memory stands for: AWS's
/// service decrypts on every read, so the caller's policies (an explicit deny of `kms:Decrypt`
/// among them) decide each read and each is recorded as a KMS Decrypt event (bug: a read served
/// from Secrets Manager's key cache skipped both). The event is queued ahead of the request's
/// own, which the caller waits for.
pub async fn authorize_cached_decrypt_for_service(
    state: &AppState,
    caller: &Caller,
    region: &str,
    service: &str,
    key_arn: &str,
    context: &palisade_kms::EncryptionContext,
) -> Result<(), ApiError> {
    let cx = Cx::of_caller(state, caller, region);
    let checked = authz::check_for_service(&cx, "Decrypt", key_arn, service, context);
    record_service_call(
        &cx,
        ("Decrypt", service),
        decrypt_params(context),
        key_arn,
        checked.as_ref().err(),
        Durable::WithRequest,
    )
    .await?;
    checked
}

/// A service's Decrypt as CloudTrail records it.
fn decrypt_params(context: &palisade_kms::EncryptionContext) -> Value {
    serde_json::json!({
        "encryptionContext": context,
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
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
    let cx = Cx::of_caller(state, caller, region);
    let header = palisade_kms::read_header(ciphertext).map_err(from_kms)?;
    let arn = state
        .kms
        .read(|d| ops::arn_for_key_id(d, region, cx.account, &header.key_id))?;
    let opened = authz::check_for_service(&cx, "Decrypt", &arn, service, context)
        .and_then(|()| ops::decrypt_symmetric(&cx, ciphertext, context, None));
    record_service_call(
        &cx,
        ("Decrypt", service),
        decrypt_params(context),
        &arn,
        opened.as_ref().err(),
        Durable::Now,
    )
    .await?;
    let (_, plaintext, _) = opened?;
    Ok(plaintext)
}

/// Deletes keys whose deletion date has passed and rotates keys whose rotation is due.
pub async fn run_due(state: &AppState, now: i64) -> Result<(), ApiError> {
    ops::run_due(state, now).await
}

/// Starts the task that runs [`run_due`] every `kms_task_interval` (a minute).
pub fn start(state: &std::sync::Arc<AppState>) {
    // A weak reference: the state (and with it the audit sink) must go away at shutdown so
    // that the audit writer can drain.
    let weak = std::sync::Arc::downgrade(state);
    let every = state.config.kms_task_interval;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { break };
            if let Err(e) = run_due(&state, now()).await {
                tracing::warn!(error = %e, "kms background task failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::orphaned;
    use crate::identity::Caller;
    use crate::state::test_app as app;

    const ACCOUNT: &str = "123456789012";

    #[tokio::test]
    async fn an_import_token_past_its_parameters_valid_to_is_expired_not_invalid() {
        // Bug: an expired import token got InvalidImportTokenException; the model has
        // ExpiredImportTokenException, which tells the caller to get new parameters.
        let dir = tempfile::tempdir().unwrap();
        let state = app(dir.path()).await;
        let caller = Caller::root(ACCOUNT, None);
        let call = |op: &'static str, input: serde_json::Value| {
            super::handle(&state, &caller, "us-east-1", op, input)
        };
        let arn = call("CreateKey", json!({"Origin": "EXTERNAL"}))
            .await
            .unwrap()["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .to_owned();
        let params = call("GetParametersForImport", json!({"KeyId": arn}))
            .await
            .unwrap();
        let mut key = state
            .kms
            .read(|d| d.keys.get(&arn).cloned())
            .unwrap()
            .unwrap();
        key.record.import_expires = Some(super::now() - 1);
        state
            .kms
            .commit(super::state::Changes {
                keys: vec![key],
                ..super::state::Changes::default()
            })
            .await
            .unwrap();
        let import = json!({
            "KeyId": arn,
            "ImportToken": params["ImportToken"],
            "EncryptedKeyMaterial": "AAAA",
            "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
        });
        let e = call("ImportKeyMaterial", import).await.unwrap_err();
        assert_eq!(e.code, "ExpiredImportTokenException");
    }

    #[tokio::test]
    async fn the_background_tasks_deletions_and_rotations_are_recorded_as_kms_service_events() {
        // Bug: keys deleted at the end of their waiting period and automatic rotations left no
        // audit event; CloudTrail records DeleteKey and RotateKey as AwsServiceEvents of KMS.
        let dir = tempfile::tempdir().unwrap();
        let state = app(dir.path()).await;
        let caller = Caller::root(ACCOUNT, None);
        let call = |op: &'static str, input: serde_json::Value| {
            super::handle(&state, &caller, "us-east-1", op, input)
        };
        let rotated = call("CreateKey", json!({})).await.unwrap()["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .to_owned();
        call(
            "EnableKeyRotation",
            json!({"KeyId": rotated, "RotationPeriodInDays": 90}),
        )
        .await
        .unwrap();
        let deleted = call("CreateKey", json!({})).await.unwrap()["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .to_owned();
        call(
            "ScheduleKeyDeletion",
            json!({"KeyId": deleted, "PendingWindowInDays": 7}),
        )
        .await
        .unwrap();
        super::run_due(&state, super::now() + 91 * 86_400)
            .await
            .unwrap();
        let rows = state.store.recent_events(ACCOUNT, 10).await.unwrap();
        let record = |name: &str| -> serde_json::Value {
            let row = rows.iter().find(|r| r.event_name == name).unwrap();
            serde_json::from_str(&row.record).unwrap()
        };
        let delete = record("DeleteKey");
        assert_eq!(delete["eventType"], "AwsServiceEvent");
        assert_eq!(delete["userIdentity"]["invokedBy"], "kms.amazonaws.com");
        assert_eq!(delete["userIdentity"]["accountId"], ACCOUNT);
        assert_eq!(delete["responseElements"], json!({"keyId": deleted}));
        assert_eq!(delete["resources"][0]["ARN"], json!(deleted));
        let rotate = record("RotateKey");
        assert_eq!(rotate["eventType"], "AwsServiceEvent");
        assert_eq!(rotate["resources"][0]["ARN"], json!(rotated));
        let details = &rotate["serviceEventDetails"];
        assert_eq!(details["rotationType"], "AUTOMATIC");
        assert_eq!(details["keyOrigin"], "AWS_KMS");
        assert_ne!(
            details["previousKeyMaterialId"],
            details["currentKeyMaterialId"]
        );
        assert_eq!(rows.len(), 2);
    }

    #[tokio::test]
    async fn a_deleted_replica_leaves_its_primarys_replica_list() {
        // Bug: a replica deleted at the end of its waiting period stayed in its primary's
        // ReplicaKeys, and replicating the key to its Region again listed the Region twice.
        let dir = tempfile::tempdir().unwrap();
        let state = app(dir.path()).await;
        let caller = Caller::root(ACCOUNT, None);
        let call = |region: &'static str, op: &'static str, input: serde_json::Value| {
            super::handle(&state, &caller, region, op, input)
        };
        let primary = call("us-east-1", "CreateKey", json!({"MultiRegion": true}))
            .await
            .unwrap()["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .to_owned();
        let replicate = json!({"KeyId": primary, "ReplicaRegion": "us-west-2"});
        let replica = call("us-east-1", "ReplicateKey", replicate.clone())
            .await
            .unwrap()["ReplicaKeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .to_owned();
        call(
            "us-west-2",
            "ScheduleKeyDeletion",
            json!({"KeyId": replica, "PendingWindowInDays": 7}),
        )
        .await
        .unwrap();
        super::run_due(&state, super::now() + 8 * 86_400)
            .await
            .unwrap();
        let replicas =
            |meta: &serde_json::Value| meta["MultiRegionConfiguration"]["ReplicaKeys"].clone();
        let described = call("us-east-1", "DescribeKey", json!({"KeyId": primary}))
            .await
            .unwrap();
        assert_eq!(replicas(&described["KeyMetadata"]), json!([]));
        let again = call("us-east-1", "ReplicateKey", replicate).await.unwrap();
        let listed = replicas(&again["ReplicaKeyMetadata"]);
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/team/app";

    #[test]
    fn a_deleted_principals_grants_name_its_unique_id_and_no_one_elses_do() {
        // Held by id: the id itself, or a session of the role.
        assert_eq!(
            orphaned(ROLE, Some("AROA1"), ROLE, "AROA1").as_deref(),
            Some("AROA1")
        );
        let session = "arn:aws:sts::123456789012:assumed-role/app/s1";
        assert_eq!(
            orphaned(session, Some("AROA1:s1"), ROLE, "AROA1").as_deref(),
            Some("AROA1:s1")
        );
        // Another principal's grant, one with a longer id that merely starts alike, and one
        // orphaned before are left alone.
        assert_eq!(orphaned(ROLE, Some("AROA2"), ROLE, "AROA1"), None);
        assert_eq!(orphaned(session, Some("AROA12:s1"), ROLE, "AROA1"), None);
        assert_eq!(orphaned("AROA1", Some("AROA1"), ROLE, "AROA1"), None);
        // Grants stored by ARN alone: the ARN, or a session of the role in its account.
        assert_eq!(
            orphaned(ROLE, None, ROLE, "AROA1").as_deref(),
            Some("AROA1")
        );
        assert_eq!(
            orphaned(session, None, ROLE, "AROA1").as_deref(),
            Some("AROA1:s1")
        );
        let elsewhere = "arn:aws:sts::210987654321:assumed-role/app/s1";
        assert_eq!(orphaned(elsewhere, None, ROLE, "AROA1"), None);
        let user = "arn:aws:iam::123456789012:user/app";
        assert_eq!(orphaned(user, None, ROLE, "AROA1"), None);
    }
}
