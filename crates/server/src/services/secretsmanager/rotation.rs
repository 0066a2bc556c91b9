//! Rotation: `RotateSecret`, `CancelRotateSecret`, the rotation runner and its rotators, and the
//! background task that runs scheduled rotations, retries failed ones and purges secrets whose
//! recovery window is over.
//!
//! A rotation runs AWS's four Lambda steps — `createSecret`, `setSecret`, `testSecret`,
//! `finishSecret` — through a rotator chosen by the secret's `RotationLambdaARN` function name:
//!
//! * `palisade-rotator-postgresql-single-user`: the built-in PostgreSQL rotator (AWS's
//!   single-user template: log in with the current credentials of the secret's JSON
//!   `{engine, host, port, username, password, dbname}`, `ALTER USER ... PASSWORD`, log in with
//!   the new one, promote it);
//! * `palisade-rotator-random`: a new random value (or, for a JSON object with a `password`
//!   member, a new password in it);
//! * any other name: the webhook configured with `palisade serve --rotation-webhook NAME=URL`,
//!   which gets each step as the JSON a rotation Lambda receives and either calls back into
//!   Secrets Manager as a Lambda would, or answers `createSecret` with `{"SecretString": ...}`
//!   and leaves the rest to Palisade.
//!
//! A failed step leaves `AWSCURRENT` where it was and `AWSPENDING` on the new version; the
//! failure is recorded on the secret and the rotation is retried with the same token.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use palisade_secrets::staging::{self, AWSCURRENT, AWSPENDING};
use palisade_secrets::{PasswordSpec, RotationRules};
use serde_json::{Value, json};

use super::state::{Rotation, Secret};
use super::{Cx, b, invalid_parameter, invalid_request, marked_deleted, n, now, s};
use crate::error::ApiError;
use crate::identity::Caller;
use crate::state::AppState;

/// The function name that selects the PostgreSQL rotator.
pub const POSTGRES_ROTATOR: &str = "palisade-rotator-postgresql-single-user";
/// The function name that selects the random-value rotator.
pub const RANDOM_ROTATOR: &str = "palisade-rotator-random";

/// How often the background task looks for due rotations and deletions.
const TICK: Duration = Duration::from_secs(10);
/// Failed rotations are retried this many times, with doubling delays from [`RETRY_BASE`].
const MAX_RETRIES: u32 = 5;
const RETRY_BASE: i64 = 60;

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// The rotator of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotator {
    /// The built-in PostgreSQL single-user rotator.
    Postgres,
    /// The random-value rotator.
    Random,
    /// A webhook URL.
    Webhook(String),
}

/// The function name of a Lambda ARN (`arn:aws:lambda:r:a:function:NAME[:qualifier]`) or a
/// bare name.
pub fn function_name(arn: &str) -> &str {
    match arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => arn,
    }
}

/// The rotator a `RotationLambdaARN` selects.
pub fn rotator_for(state: &AppState, lambda_arn: &str) -> Result<Rotator, ApiError> {
    let name = function_name(lambda_arn);
    match name {
        POSTGRES_ROTATOR => Ok(Rotator::Postgres),
        RANDOM_ROTATOR => Ok(Rotator::Random),
        other => state
            .config
            .rotation_webhooks
            .iter()
            .find(|(n, _)| n == other)
            .map(|(_, url)| Rotator::Webhook(url.clone()))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "ResourceNotFoundException",
                    format!(
                        "Resource not found for ARN '{lambda_arn}': no rotator named {other:?} \
                         (use {POSTGRES_ROTATOR}, {RANDOM_ROTATOR}, or a name given with \
                         --rotation-webhook)"
                    ),
                )
            }),
    }
}

fn rules_of(r: &Rotation) -> Option<RotationRules> {
    RotationRules::parse(r.after_days, r.expression.as_deref(), r.duration.as_deref()).ok()
}

/// A new AWSCURRENT value set by PutSecretValue or UpdateSecret at `t`: for a schedule in days,
/// "manually updating the secret value ... is considered a valid rotation" (RotationRulesType),
/// so the next window is counted from it (bug: the schedule ran on from the last rotation and
/// rotated a value put the day before). Schedules in hours and cron expressions keep their
/// windows, which do not count from the last rotation.
pub(crate) fn value_set_manually(sec: &mut Secret, t: i64) {
    let Some(rot) = sec.rotation.as_mut().filter(|r| r.enabled) else {
        return;
    };
    if let Some(rules) = rules_of(rot)
        && matches!(
            rules.schedule,
            palisade_secrets::schedule::Schedule::Days(_)
        )
    {
        rot.next = rules.next_after(t);
    }
}

/// `RotateSecret`.
pub async fn rotate_secret(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let id = s(i, "SecretId").unwrap_or_default();
    if let Some(t) = s(i, "ClientRequestToken") {
        palisade_secrets::validate_token(t).map_err(|e| invalid_parameter(e.to_string()))?;
    }
    let rules_in = i.get("RotationRules");
    let new_rules = match rules_in {
        Some(r) => Some(
            RotationRules::parse(
                n(r, "AutomaticallyAfterDays"),
                s(r, "ScheduleExpression"),
                s(r, "Duration"),
            )
            .map_err(|e| invalid_parameter(e.to_string()))?,
        ),
        None => None,
    };
    let immediately = b(i, "RotateImmediately").unwrap_or(true);
    let (secret, token, rotator) = {
        let _w = cx.state.secrets.writer.lock().await;
        let mut secret = cx.secret(id)?;
        super::writable(&secret)?;
        if secret.deleted.is_some() {
            return Err(marked_deleted());
        }
        let mut rot = secret.rotation.clone().unwrap_or_default();
        // AWSPENDING on a version that is not AWSCURRENT is a rotation that has not finished:
        // AWS refuses another (its own retries reattempt that one) rather than let a new call
        // change the function or the rules under it, or promote a value its setSecret never
        // applied. Removing the label (UpdateSecretVersionStage) abandons it.
        if staging::rotation_in_progress(&secret.versions) || is_rotating(cx.state, &secret.arn) {
            return Err(previous_not_complete());
        }
        if let Some(l) = s(i, "RotationLambdaARN") {
            // The function is in the secret's own account and Region, or Secrets Manager
            // cannot invoke it: the webhook a name selects is this Region's function, not
            // every account's and Region's of that name.
            let parts: Vec<&str> = l.splitn(7, ':').collect();
            if let [_, _, "lambda", region, account, "function", _] = parts.as_slice()
                && (*region != secret.region || *account != secret.account)
            {
                return Err(ApiError::new(
                    "AccessDeniedException",
                    format!(
                        "Secrets Manager cannot invoke the specified Lambda function {l}: it \
                         is not in account {} and Region {} of the secret.",
                        secret.account, secret.region
                    ),
                    http::StatusCode::BAD_REQUEST,
                ));
            }
            rot.lambda_arn = Some(l.to_owned());
        }
        if let Some(r) = rules_in {
            rot.after_days = n(r, "AutomaticallyAfterDays");
            rot.expression = s(r, "ScheduleExpression").map(str::to_owned);
            rot.duration = s(r, "Duration").map(str::to_owned);
        }
        let rotator = match rot.lambda_arn.as_deref() {
            Some(l) => Some(rotator_for(cx.state, l)?),
            None => None,
        };
        if rotator.is_none() && !cx.state.config.dev {
            return Err(invalid_request(format!(
                "No rotation function is configured for this secret: give RotationLambdaARN \
                 with function {POSTGRES_ROTATOR}, {RANDOM_ROTATOR} or a name given to \
                 --rotation-webhook"
            )));
        }
        let rules = new_rules.or_else(|| rules_of(&rot));
        rot.enabled = rules.is_some();
        let t = now();
        rot.next = rules.as_ref().and_then(|r| r.next_after(t));
        // A new rotation starts afresh: the count of a failed one (abandoned by removing its
        // AWSPENDING label) no longer applies.
        rot.failures = 0;
        rot.retry_at = None;
        let token = s(i, "ClientRequestToken")
            .map(str::to_owned)
            .unwrap_or_else(super::new_token);
        // The token names the new version: an existing version that is not pending would be
        // made current again with its old value (a rotation that reinstates an old password).
        if secret
            .versions
            .iter()
            .any(|v| v.id == token && !v.stages.iter().any(|x| x == AWSPENDING))
        {
            return Err(ApiError::bad_request(
                "ResourceExistsException",
                format!(
                    "You can't use ClientRequestToken {token} because that value is already in use for a version of secret {}.",
                    secret.arn
                ),
            ));
        }
        secret.rotation = Some(rot);
        secret.last_changed = t;
        if rotator.is_none() && immediately {
            // --dev without a rotator (moto's behaviour): the current value is re-issued as a
            // new AWSCURRENT version.
            if let Some(cur) = secret.staged(AWSCURRENT).cloned()
                && let Some((value, binary)) = super::read_value(cx, &secret, &cur).await?
            {
                super::add_value(
                    cx,
                    &mut secret,
                    &token,
                    &value,
                    binary,
                    vec![AWSCURRENT.into()],
                )
                .await?;
            }
            if let Some(r) = secret.rotation.as_mut() {
                r.last_rotated = Some(t);
            }
        }
        // The rotation is claimed before the secret is saved, under the writer's lock: a
        // second RotateSecret arriving before the rotation's task has started is refused
        // rather than run beside it.
        let running = match rotator {
            Some(_) => {
                Some(Running::claim(cx.state, &secret.arn).ok_or_else(previous_not_complete)?)
            }
            None => None,
        };
        super::save(cx.state, secret.clone()).await?;
        (secret, token, rotator.zip(running))
    };
    let out = json!({"ARN": secret.arn, "Name": secret.name, "VersionId": token});
    let Some((rotator, running)) = rotator else {
        return Ok(out);
    };
    let steps: &'static [&'static str] = if immediately {
        &STEPS
    } else {
        // Without an immediate rotation AWS only runs testSecret, to check the function.
        &["testSecret"]
    };
    // As in AWS, RotateSecret starts the rotation and answers: the rotation runs in a task of
    // its own, which neither a slow rotation function nor a client that gives up and drops the
    // connection can cut short (bug: it ran inside the request, so a client's read timeout
    // killed it between steps, and its retry was refused as "a previous rotation").
    match cx
        .state
        .secrets
        .app
        .get()
        .and_then(std::sync::Weak::upgrade)
    {
        Some(app) => {
            let caller = cx.caller.clone();
            tokio::spawn(async move {
                if let Err(e) = run(&app, &caller, &secret, &token, &rotator, steps, running).await
                {
                    tracing::warn!(secret = %secret.arn, error = %e, "rotation failed");
                }
            });
        }
        // No background task (in-process tests that never started one): run it here.
        None => {
            if let Err(e) = run(
                cx.state, cx.caller, &secret, &token, &rotator, steps, running,
            )
            .await
            {
                tracing::warn!(secret = %secret.arn, error = %e, "rotation failed");
            }
        }
    }
    Ok(out)
}

fn previous_not_complete() -> ApiError {
    invalid_request("A previous rotation isn't complete. That rotation will be reattempted.")
}

/// A secret's entry in [`super::Secrets::rotating`] while its rotation runs. Dropping it
/// removes the entry whatever ended the rotation: a step's error, the end of the run, or the
/// task being dropped half-way (bug: the entry was removed only at the end of a run that went
/// to completion, and a rotation cut short left the secret unrotatable until a restart).
#[derive(Debug)]
pub struct Running {
    map: Arc<std::sync::Mutex<std::collections::HashMap<String, bool>>>,
    arn: String,
}

impl Running {
    /// Claims the rotation of `arn`; None when one is already running.
    pub fn claim(state: &AppState, arn: &str) -> Option<Self> {
        let map = state.secrets.rotating.clone();
        {
            let mut r = map.lock().ok()?;
            if r.contains_key(arn) {
                return None;
            }
            r.insert(arn.to_owned(), false);
        }
        Some(Self {
            map,
            arn: arn.to_owned(),
        })
    }

    /// Ends the claim; whether CancelRotateSecret had asked the rotation to stop.
    fn release(self) -> bool {
        self.map
            .lock()
            .ok()
            .and_then(|mut r| r.remove(&self.arn))
            .unwrap_or(false)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A poisoned lock is recovered rather than skipped: a stale entry would block the
        // secret's rotations for good.
        let mut r = match self.map.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        r.remove(&self.arn);
    }
}

/// `CancelRotateSecret`.
pub async fn cancel_rotate_secret(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let _w = cx.state.secrets.writer.lock().await;
    let mut secret = cx.secret(s(i, "SecretId").unwrap_or_default())?;
    super::writable(&secret)?;
    if secret.deleted.is_some() {
        return Err(marked_deleted());
    }
    let Some(rot) = secret
        .rotation
        .as_mut()
        .filter(|r| r.lambda_arn.is_some() || r.enabled)
    else {
        return Err(invalid_request(
            "You tried to enable rotation on a secret that doesn't already have a Lambda function ARN configured and you didn't include such an ARN as a parameter in this call.",
        ));
    };
    rot.enabled = false;
    rot.next = None;
    rot.retry_at = None;
    if let Ok(mut r) = cx.state.secrets.rotating.lock()
        && let Some(stop) = r.get_mut(&secret.arn)
    {
        *stop = true;
    }
    // AWS answers with the version the interrupted rotation created, for the caller to
    // examine or remove: the one staged AWSPENDING.
    let mut out = json!({"ARN": secret.arn, "Name": secret.name});
    if let Some(v) = secret.staged(AWSPENDING) {
        super::super::set(&mut out, "VersionId", json!(v.id));
    }
    super::save(cx.state, secret).await?;
    Ok(out)
}

/// Whether CancelRotateSecret asked the running rotation of the secret to stop.
fn cancelled(state: &AppState, secret: &Secret) -> bool {
    state
        .secrets
        .rotating
        .lock()
        .map(|r| r.get(&secret.arn).copied().unwrap_or(false))
        .unwrap_or(false)
}

fn is_rotating(state: &AppState, arn: &str) -> bool {
    state
        .secrets
        .rotating
        .lock()
        .map(|r| r.contains_key(arn))
        .unwrap_or(false)
}

/// Runs `steps` of a rotation claimed by `running`, recording the outcome on the secret.
pub async fn run(
    state: &AppState,
    caller: &Caller,
    secret: &Secret,
    token: &str,
    rotator: &Rotator,
    steps: &[&str],
    running: Running,
) -> Result<(), String> {
    let cx = Cx {
        state,
        caller,
        region: &secret.region,
    };
    let full = steps.contains(&"finishSecret");
    if let Err(e) = prepare_pending(&cx, secret, token, full).await {
        return Err(format!("cannot create the AWSPENDING version: {e}"));
    }
    service_event(state, secret, "RotationStarted", token, None).await;
    let mut result = Ok(());
    for (n, step) in steps.iter().enumerate() {
        // CancelRotateSecret stops a rotation between steps: what ran stays (AWSPENDING for the
        // caller to examine), nothing further is invoked.
        if n > 0 && cancelled(state, secret) {
            result = Err(format!("cancelled before {step}"));
            break;
        }
        tracing::info!(secret = %secret.arn, %step, "rotation step");
        if let Err(e) = run_step(&cx, secret, token, rotator, step).await {
            result = Err(format!("{step} failed: {e}"));
            break;
        }
    }
    if result.is_ok() && full {
        result = if cancelled(state, secret) {
            Err("cancelled before the new version became AWSCURRENT".to_owned())
        } else {
            finish(&cx, secret, token)
                .await
                .map_err(|e| format!("finishSecret failed: {e}"))
        };
    }
    let stopped = running.release();
    if let Err(e) = record(&cx, secret, token, full, stopped, &result).await {
        tracing::error!(secret = %secret.arn, error = %e, "cannot record the rotation outcome");
    }
    let (name, reason) = match &result {
        Ok(()) => ("RotationSucceeded", None),
        Err(e) => ("RotationFailed", Some(e.as_str())),
    };
    service_event(state, secret, name, token, reason).await;
    result
}

/// Records a CloudTrail service event of the rotation (AWS's `RotationStarted`,
/// `RotationSucceeded`, `RotationFailed`). Failure reasons name steps, hosts and users, never
/// values.
async fn service_event(
    state: &AppState,
    secret: &Secret,
    name: &str,
    token: &str,
    reason: Option<&str>,
) {
    // AWS's rotation events are Secrets Manager's own: `invokedBy`, `sourceIPAddress` and
    // `userAgent` all name the service (bug: the last two were empty and `invokedBy` absent,
    // so trail consumers could not tell who acted).
    let mut event = palisade_audit::Event::service_event(
        "secretsmanager",
        name,
        &secret.region,
        palisade_audit::Resource {
            arn: secret.arn.clone(),
            account_id: secret.account.clone(),
            kind: "AWS::SecretsManager::Secret".to_owned(),
        },
    );
    if let Some(r) = reason {
        event.error_code = Some("RotationFailed".to_owned());
        event.error_message = Some(r.to_owned());
    }
    let extra = json!({"SecretId": secret.arn, "VersionId": token});
    if let Err(e) = state.audit.record_with(event, Some(extra)).await {
        tracing::error!(error = %e, "cannot record the rotation event");
    }
}

/// Creates the rotation's version `token`, labelled AWSPENDING and without a value, before any
/// step runs, as AWS does: a rotation function checks first that its token names an AWSPENDING
/// version (AWS's templates raise otherwise), and its createSecret then finds no AWSPENDING
/// value (`ResourceNotFoundException`) and puts one with the token.
///
/// A full rotation also books its retry here: the outcome replaces the booking (`finish`,
/// `record`), so only a rotation cut off by a crash or a shutdown finds it, and is taken up
/// again by `run_due` (bug:
/// such a rotation was never retried, and its AWSPENDING version refused every RotateSecret
/// with "That rotation will be reattempted." until someone removed the label by hand).
async fn prepare_pending(
    cx: &Cx<'_>,
    secret: &Secret,
    token: &str,
    full: bool,
) -> Result<(), String> {
    let _w = cx.state.secrets.writer.lock().await;
    let mut sec = now_of(cx, secret)?;
    if let Some(rot) = sec.rotation.as_mut() {
        if full {
            // Due at once: while this process runs the rotation, `run_due` skips the secret.
            rot.retry_at = Some(now());
        } else {
            rot.testing = Some(token.to_owned());
        }
    }
    if sec
        .version(token)
        .is_some_and(|v| v.stages.iter().any(|x| x == AWSPENDING))
    {
        return super::save(cx.state, sec).await.map_err(|e| e.message);
    }
    if sec.version(token).is_none() {
        sec.versions.push(super::state::Version {
            id: token.to_owned(),
            stages: Vec::new(),
            created: now(),
            last_accessed: None,
            value: None,
        });
    }
    let from = staging::holder(&sec.versions, AWSPENDING).map(str::to_owned);
    staging::move_stage(&mut sec.versions, AWSPENDING, from.as_deref(), Some(token))
        .map_err(|e| e.to_string())?;
    // The rotation's version counts against the quota of versions like any other.
    super::prune_versions(&mut sec, now()).map_err(|e| e.message)?;
    super::save(cx.state, sec).await.map_err(|e| e.message)
}

async fn record(
    cx: &Cx<'_>,
    secret: &Secret,
    token: &str,
    full: bool,
    cancelled: bool,
    result: &Result<(), String>,
) -> Result<(), ApiError> {
    let _w = cx.state.secrets.writer.lock().await;
    let Some(mut sec) = cx
        .state
        .secrets
        .find(&secret.account, &secret.region, &secret.arn)
    else {
        return Ok(());
    };
    let t = now();
    if !full {
        end_test_run(&mut sec, token);
    }
    let rot = sec.rotation.get_or_insert_with(Rotation::default);
    match result {
        Ok(()) if full => {
            rot.last_rotated = Some(t);
            rot.failures = 0;
            rot.last_error = None;
            rot.retry_at = None;
            rot.next = rules_of(rot)
                .filter(|_| rot.enabled)
                .and_then(|r| r.next_after(t));
        }
        Ok(()) => {}
        Err(e) => {
            rot.failures += 1;
            rot.last_error = Some(e.clone());
            // A cancelled rotation is not retried, and a failed test has nothing to retry.
            rot.retry_at = (rot.failures <= MAX_RETRIES && !cancelled && full)
                .then(|| t + RETRY_BASE * (1i64 << rot.failures.min(10)));
        }
    }
    super::save(cx.state, sec).await
}

async fn current_json(cx: &Cx<'_>, secret: &Secret, stage: &str) -> Result<Option<Value>, String> {
    let value = current_value(cx, secret, stage).await?;
    Ok(value.and_then(|(bytes, _)| serde_json::from_slice(&bytes).ok()))
}

/// The value labelled `stage` and whether it is binary.
async fn current_value(
    cx: &Cx<'_>,
    secret: &Secret,
    stage: &str,
) -> Result<Option<(Vec<u8>, bool)>, String> {
    let sec = now_of(cx, secret)?;
    let Some(v) = sec.staged(stage).cloned() else {
        return Ok(None);
    };
    super::read_value(cx, &sec, &v).await.map_err(|e| e.message)
}

/// A JSON object's members in their order, each value as its original text.
struct RawMembers(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> serde::Deserialize<'de> for RawMembers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = RawMembers;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawMembers, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(RawMembers(out))
            }
        }
        d.deserialize_map(Members)
    }
}

/// `json` with its top-level `password` member set to `password`; None when `json` is not an
/// object with such a member. The other members keep their order and their exact text: a
/// rotation that re-serialised the secret would reorder it and round numbers beyond `f64`
/// (`12345678901234567890123` read back as `1.2345678901234568e+22`).
fn with_password(json: &[u8], password: &str) -> Option<String> {
    let RawMembers(members) = serde_json::from_slice(json).ok()?;
    if !members.iter().any(|(k, _)| k == "password") {
        return None;
    }
    let mut out = String::from("{");
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).ok()?);
        out.push(':');
        if key == "password" {
            out.push_str(&serde_json::to_string(password).ok()?);
        } else {
            out.push_str(value.get());
        }
    }
    out.push('}');
    Some(out)
}

async fn version_value(
    cx: &Cx<'_>,
    secret: &Secret,
    token: &str,
) -> Result<Option<Vec<u8>>, String> {
    let sec = now_of(cx, secret)?;
    let Some(v) = sec.version(token).cloned() else {
        return Ok(None);
    };
    Ok(super::read_value(cx, &sec, &v)
        .await
        .map_err(|e| e.message)?
        .map(|(b, _)| b))
}

/// The secret as it is now: a rotation's steps run while callers change it.
fn now_of(cx: &Cx<'_>, secret: &Secret) -> Result<Secret, String> {
    cx.state
        .secrets
        .find(&secret.account, &secret.region, &secret.arn)
        .ok_or_else(|| "the secret no longer exists".to_owned())
}

/// The longest SecretString (characters) or SecretBinary (bytes) the model allows.
const MAX_SECRET_VALUE: usize = 65_536;

/// Stores `value` as the AWSPENDING version `token`.
async fn put_pending(
    cx: &Cx<'_>,
    secret: &Secret,
    token: &str,
    value: &[u8],
    binary: bool,
) -> Result<(), String> {
    // What PutSecretValue, which a rotation function calls in AWS, accepts (bug: a webhook's
    // empty or 70,000-character SecretString became the current value).
    let len = match std::str::from_utf8(value) {
        Ok(s) if !binary => s.chars().count(),
        _ => value.len(),
    };
    if !(1..=MAX_SECRET_VALUE).contains(&len) {
        return Err(format!(
            "the new secret value has {len} {}; Secrets Manager takes 1 to {MAX_SECRET_VALUE}",
            if binary { "bytes" } else { "characters" }
        ));
    }
    let _w = cx.state.secrets.writer.lock().await;
    let mut sec = now_of(cx, secret)?;
    super::add_value(
        cx,
        &mut sec,
        token,
        value,
        binary,
        vec![AWSPENDING.to_owned()],
    )
    .await
    .map_err(|e| e.message)?;
    super::save(cx.state, sec).await.map_err(|e| e.message)
}

fn password(exclude: &str) -> Result<String, String> {
    palisade_secrets::generate_password(
        &PasswordSpec {
            exclude_characters: exclude.to_owned(),
            ..PasswordSpec::default()
        },
        &mut super::pick,
    )
    .map_err(|e| e.to_string())
}

async fn run_step(
    cx: &Cx<'_>,
    secret: &Secret,
    token: &str,
    rotator: &Rotator,
    step: &str,
) -> Result<(), String> {
    match rotator {
        Rotator::Webhook(url) => webhook_step(cx, secret, token, url, step).await,
        Rotator::Random => {
            if step != "createSecret" || version_value(cx, secret, token).await?.is_some() {
                return Ok(());
            }
            let current = current_value(cx, secret, AWSCURRENT).await?;
            let (new, binary) = match current {
                Some((bytes, true)) => {
                    // A binary secret stays binary: new random bytes of its length.
                    let mut new = vec![0u8; bytes.len().clamp(16, 65_536)];
                    aws_lc_rs::rand::fill(&mut new)
                        .map_err(|_| "the random generator failed".to_owned())?;
                    (new, true)
                }
                Some((bytes, false)) => match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Object(_)) => {
                        let new = with_password(&bytes, &password("")?).ok_or(
                            "the secret is a JSON object without a \"password\" member; the \
                             random rotator replaces only that member and leaves the rest as \
                             it is",
                        )?;
                        (new.into_bytes(), false)
                    }
                    Ok(Value::Array(_)) => {
                        return Err("the secret is a JSON array; the random rotator replaces \
                             a plain value or the \"password\" member of a JSON object"
                            .to_owned());
                    }
                    _ => (password("")?.into_bytes(), false),
                },
                None => (password("")?.into_bytes(), false),
            };
            put_pending(cx, secret, token, &new, binary).await
        }
        Rotator::Postgres => postgres_step(cx, secret, token, step).await,
    }
}

/// Moves AWSCURRENT to the new version (unless the rotation function did) and drops
/// AWSPENDING.
async fn finish(cx: &Cx<'_>, secret: &Secret, token: &str) -> Result<(), String> {
    let _w = cx.state.secrets.writer.lock().await;
    let mut sec = now_of(cx, secret)?;
    let Some(v) = sec.version(token) else {
        return Err(format!("createSecret made no version {token}"));
    };
    if v.value.is_none() {
        return Err(format!("version {token} has no value"));
    }
    if !v.stages.iter().any(|x| x == AWSCURRENT) {
        let from = staging::holder(&sec.versions, AWSCURRENT).map(str::to_owned);
        staging::move_stage(&mut sec.versions, AWSCURRENT, from.as_deref(), Some(token))
            .map_err(|e| e.to_string())?;
    }
    if staging::holder(&sec.versions, AWSPENDING).is_some() {
        let from = staging::holder(&sec.versions, AWSPENDING).map(str::to_owned);
        staging::move_stage(&mut sec.versions, AWSPENDING, from.as_deref(), None)
            .map_err(|e| e.to_string())?;
    }
    sec.last_changed = now();
    // The retry booked in `prepare_pending` goes with the promotion, in the same write: a crash
    // before `record` must not leave a booking that starts a rotation nobody asked for.
    if let Some(rot) = sec.rotation.as_mut() {
        rot.retry_at = None;
    }
    super::save(cx.state, sec).await.map_err(|e| e.message)
}

// ---------------------------------------------------------------------------------------------
// Webhook rotator.

async fn webhook_step(
    cx: &Cx<'_>,
    secret: &Secret,
    token: &str,
    url: &str,
    step: &str,
) -> Result<(), String> {
    let body = json!({
        "Step": step,
        "SecretId": secret.arn,
        "ClientRequestToken": token,
        "RotationToken": uuid::Uuid::new_v4().to_string(),
    });
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let name = webhook_name(url);
    let req = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|_| format!("bad webhook url {name}"))?;
    let resp = tokio::time::timeout(Duration::from_secs(60), client.request(req))
        .await
        .map_err(|_| format!("webhook {name} did not answer within 60s"))?
        .map_err(|e| format!("webhook {name} unreachable: {e}"))?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("webhook {name} answer unreadable: {e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(webhook_failure(&name, status, &bytes));
    }
    if step == "createSecret"
        && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
        && let Some(new) = v.get("SecretString").and_then(Value::as_str)
        && version_value(cx, secret, token).await?.is_none()
    {
        put_pending(cx, secret, token, new.as_bytes(), false).await?;
    }
    Ok(())
}

/// A webhook's URL as failures name it: scheme, host, port and path, without credentials or a
/// query, which may hold a token.
fn webhook_name(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(u) => {
            format!(
                "{}://{}{}",
                u.scheme_str().unwrap_or("http"),
                u.host().unwrap_or_default(),
                u.port().map(|p| format!(":{p}")).unwrap_or_default()
            ) + u.path()
        }
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

/// The failure of a webhook's non-2xx answer: its status, and the `errorType` of a Lambda-style
/// error body (`{"errorType": "...", "errorMessage": "..."}`) when it looks like a type name.
/// Never the body's text: a rotation function's error may quote the new password, and this
/// text goes to the log, the secret's record and the RotationFailed event (bug: the body's
/// first 200 characters went to all three).
fn webhook_failure(name: &str, status: http::StatusCode, body: &[u8]) -> String {
    let kind = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errorType")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .filter(|k| {
            !k.is_empty()
                && k.len() <= 64
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.:$".contains(c))
        });
    match kind {
        Some(k) => format!("webhook {name} answered {status} ({k})"),
        None => format!("webhook {name} answered {status}"),
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL single-user rotator.

#[derive(Debug, Clone)]
struct PgCreds {
    host: String,
    port: u16,
    username: String,
    password: String,
    dbname: String,
}

fn creds(v: &Value) -> Result<PgCreds, String> {
    let get = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(engine) = get("engine")
        && engine != "postgres"
        && engine != "postgresql"
    {
        return Err(format!("engine {engine:?} is not postgres"));
    }
    Ok(PgCreds {
        host: get("host").ok_or("the secret has no host")?,
        port: v
            .get("port")
            .and_then(|p| {
                p.as_u64()
                    .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
            })
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(5432),
        username: get("username").ok_or("the secret has no username")?,
        password: get("password").ok_or("the secret has no password")?,
        dbname: get("dbname").unwrap_or_else(|| "postgres".to_owned()),
    })
}

async fn pg_connect(c: &PgCreds) -> Result<sqlx::PgConnection, String> {
    use sqlx::{ConnectOptions, Connection};
    // The driver logs statements (at debug, and slow ones at warn), and ALTER USER carries
    // the new password inline, as PostgreSQL takes no parameter there (bug: the new password
    // reached the server log whenever the statement took over a second).
    let opts = sqlx::postgres::PgConnectOptions::new()
        .host(&c.host)
        .port(c.port)
        .username(&c.username)
        .password(&c.password)
        .database(&c.dbname)
        .disable_statement_logging();
    tokio::time::timeout(
        Duration::from_secs(15),
        sqlx::PgConnection::connect_with(&opts),
    )
    .await
    // A timeout reads as any failed login: telling them apart told a filtered port from a
    // closed one.
    .map_err(|_| {
        tracing::warn!(host = %c.host, port = c.port, "postgresql rotator: connecting timed out");
        format!(
            "cannot log in to {}:{} as {} (the server log has the driver's error)",
            c.host, c.port, c.username
        )
    })?
    .map_err(|e| {
        // The driver's text goes to the operator's log only. A secret's writer picks the host
        // and port, and its RotationFailed event is theirs to read: the text told a refused
        // port from an open one and quoted bytes of whatever answered there (bug: a tenant
        // could map the server's loopback and internal network through it).
        tracing::warn!(host = %c.host, port = c.port, user = %c.username, error = %e, "postgresql rotator: login failed");
        format!(
            "cannot log in to {}:{} as {} (the server log has the driver's error)",
            c.host, c.port, c.username
        )
    })
}

/// Whether two credentials are for the same database user on the same server. The pending
/// value is made from AWSCURRENT's; anyone who may write a value could otherwise point the
/// current one at a server of theirs and have the rotator log in with the previous, working
/// credentials, set a new password on the real server, then send it to theirs in testSecret
/// (bug). AWS's single-user template refuses another user or host the same way; the port is
/// compared too, since Palisade's connection does not verify a TLS certificate that would tie
/// the name to the real server.
fn same_target(a: &PgCreds, b: &PgCreds) -> bool {
    a.host.eq_ignore_ascii_case(&b.host) && a.port == b.port && a.username == b.username
}

async fn pg_value(cx: &Cx<'_>, secret: &Secret, token: &str) -> Result<PgCreds, String> {
    let bytes = version_value(cx, secret, token)
        .await?
        .ok_or("the pending version has no value")?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| "the pending value is not JSON")?;
    creds(&v)
}

async fn postgres_step(
    cx: &Cx<'_>,
    secret: &Secret,
    token: &str,
    step: &str,
) -> Result<(), String> {
    use sqlx::Executor;
    match step {
        "createSecret" => {
            if version_value(cx, secret, token).await?.is_some() {
                return Ok(());
            }
            let Some((bytes, false)) = current_value(cx, secret, AWSCURRENT).await? else {
                return Err("the AWSCURRENT value is not a JSON object".to_owned());
            };
            let Ok(cur @ Value::Object(_)) = serde_json::from_slice::<Value>(&bytes) else {
                return Err("the AWSCURRENT value is not a JSON object".to_owned());
            };
            creds(&cur)?;
            // As AWS's template: no characters that need quoting in SQL or URLs.
            let new = with_password(&bytes, &password("/@\"'\\ ")?)
                .ok_or("the AWSCURRENT value has no password")?;
            put_pending(cx, secret, token, new.as_bytes(), false).await
        }
        "setSecret" => {
            let pending = pg_value(cx, secret, token).await?;
            if pg_connect(&pending).await.is_ok() {
                // Already set (a retried rotation).
                return Ok(());
            }
            let current = current_json(cx, secret, AWSCURRENT)
                .await?
                .ok_or("the AWSCURRENT value is not a JSON object")?;
            let current = creds(&current)?;
            if !same_target(&current, &pending) {
                // The current value's user and server are not named: the caller may not be
                // allowed to read them.
                return Err(format!(
                    "the pending credentials are for {} on {}:{}, not the current user and server: \
                     a rotation changes the password of the current user on its server only",
                    pending.username, pending.host, pending.port
                ));
            }
            let mut conn = None;
            let mut last_err = String::new();
            for stage in [AWSCURRENT, palisade_secrets::AWSPREVIOUS] {
                let Some(v) = current_json(cx, secret, stage).await? else {
                    continue;
                };
                let Ok(c) = creds(&v) else { continue };
                if !same_target(&c, &pending) {
                    last_err = format!("the {stage} credentials are for another user or server");
                    continue;
                }
                match pg_connect(&c).await {
                    Ok(x) => {
                        conn = Some(x);
                        break;
                    }
                    Err(e) => last_err = e,
                }
            }
            let mut conn = conn.ok_or_else(|| {
                format!("cannot log in with the current or previous credentials: {last_err}")
            })?;
            let sql = format!(
                "ALTER USER {} WITH PASSWORD {}",
                quote_ident(&pending.username),
                quote_literal(&pending.password)
            );
            // Identifier and literal are quoted above; ALTER USER takes no bind parameters.
            conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)))
                .await
                .map(|_| ())
                .map_err(|e| {
                    tracing::warn!(user = %pending.username, error = %e, "postgresql rotator: ALTER USER failed");
                    format!(
                        "ALTER USER {} failed (the server log has the database's error)",
                        pending.username
                    )
                })
        }
        "testSecret" => {
            let pending = pg_value(cx, secret, token).await?;
            let mut conn = pg_connect(&pending).await?;
            conn.execute("SELECT 1").await.map(|_| ()).map_err(|e| {
                tracing::warn!(error = %e, "postgresql rotator: SELECT 1 failed");
                "SELECT 1 failed (the server log has the database's error)".to_owned()
            })
        }
        _ => Ok(()),
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

// ---------------------------------------------------------------------------------------------
// The background task.

/// Starts the background task: scheduled rotations, retries of failed ones, and deletion of
/// secrets whose recovery window is over. It holds the state weakly so shutdown is not held
/// up.
pub fn start(state: &Arc<AppState>) {
    let weak: Weak<AppState> = Arc::downgrade(state);
    let _ = state.secrets.app.set(weak.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { break };
            if let Err(e) = super::purge_due(&state).await {
                tracing::warn!(error = %e, "purging deleted secrets failed");
            }
            run_due(&state).await;
        }
    });
}

async fn skip_window(state: &AppState, sec: &Secret, next: Option<i64>) -> Result<(), ApiError> {
    let _w = state.secrets.writer.lock().await;
    let Some(mut fresh) = state.secrets.find(&sec.account, &sec.region, &sec.arn) else {
        return Ok(());
    };
    if let Some(r) = fresh.rotation.as_mut() {
        tracing::info!(secret = %sec.arn, "rotation window missed; waiting for the next one");
        r.next = next;
    }
    super::save(state, fresh).await
}

/// A test run (RotateImmediately false) removes the version it created, whatever the outcome,
/// as AWS's does: nothing was rotated, and a label left behind would hold every later rotation
/// up as unfinished.
fn end_test_run(sec: &mut Secret, token: &str) {
    sec.versions.retain(|v| {
        v.id != token
            || v.stages
                .iter()
                .any(|x| x == AWSCURRENT || x == palisade_secrets::AWSPREVIOUS)
    });
    if let Some(rot) = sec.rotation.as_mut() {
        rot.testing = None;
    }
}

/// Ends a test run that a crash or shutdown cut off, as its own end would have (bug: its
/// AWSPENDING version stayed, and every RotateSecret answered that a rotation "will be
/// reattempted").
async fn end_interrupted_test(state: &AppState, sec: &Secret, token: &str) -> Result<(), ApiError> {
    let _w = state.secrets.writer.lock().await;
    let Some(mut fresh) = state.secrets.find(&sec.account, &sec.region, &sec.arn) else {
        return Ok(());
    };
    end_test_run(&mut fresh, token);
    super::save(state, fresh).await
}

async fn drop_booking(state: &AppState, sec: &Secret) -> Result<(), ApiError> {
    let _w = state.secrets.writer.lock().await;
    let Some(mut fresh) = state.secrets.find(&sec.account, &sec.region, &sec.arn) else {
        return Ok(());
    };
    if let Some(r) = fresh.rotation.as_mut() {
        r.retry_at = None;
    }
    super::save(state, fresh).await
}

/// Runs the rotations that are due or to be retried.
pub async fn run_due(state: &AppState) {
    let t = now();
    for sec in state.secrets.all() {
        let Some(rot) = &sec.rotation else { continue };
        if sec.deleted.is_some() || sec.primary_region.is_some() || is_rotating(state, &sec.arn) {
            continue;
        }
        if let Some(token) = &rot.testing {
            if let Err(e) = end_interrupted_test(state, &sec, token).await {
                tracing::warn!(secret = %sec.arn, error = %e, "cannot end an interrupted test rotation");
            }
            continue;
        }
        let retry = rot.retry_at.is_some_and(|r| r <= t);
        let due = rot.enabled && rot.next.is_some_and(|nx| nx <= t);
        if !(retry || due) {
            continue;
        }
        // A window that closed while the server was down: a schedule of chosen times (cron,
        // hours) waits for its next window; a schedule in days, which says how old a value
        // may get, rotates now (bug: a 2-day schedule missed by a day's outage went 4 days
        // unrotated, a 30-day one up to 60).
        if due
            && !retry
            && let (Some(rules), Some(start)) = (rules_of(rot), rot.next)
            && t >= rules.window_end(start)
            && !matches!(
                rules.schedule,
                palisade_secrets::schedule::Schedule::Days(_)
            )
        {
            if let Err(e) = skip_window(state, &sec, rules.next_after(t)).await {
                tracing::warn!(secret = %sec.arn, error = %e, "cannot move a missed rotation window");
            }
            continue;
        }
        let Some(rotator) = rot
            .lambda_arn
            .as_deref()
            .and_then(|l| rotator_for(state, l).ok())
        else {
            continue;
        };
        let pending = sec
            .versions
            .iter()
            .find(|v| {
                v.stages.iter().any(|x| x == AWSPENDING)
                    && !v.stages.iter().any(|x| x == AWSCURRENT)
            })
            .map(|v| v.id.clone());
        // A retry is of an unfinished version; with none left (finished, or its label removed
        // by hand), there is nothing to retry and the booking goes.
        if retry && !due && pending.is_none() {
            if let Err(e) = drop_booking(state, &sec).await {
                tracing::warn!(secret = %sec.arn, error = %e, "cannot drop a rotation retry");
            }
            continue;
        }
        let token = pending.unwrap_or_else(super::new_token);
        let Some(running) = Running::claim(state, &sec.arn) else {
            continue;
        };
        // Scheduled rotations act as Secrets Manager itself, for the secret's owner.
        let caller = Caller::root(&sec.account, None);
        if let Err(e) = run(state, &caller, &sec, &token, &rotator, &STEPS, running).await {
            tracing::warn!(secret = %sec.arn, error = %e, "scheduled rotation failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_come_from_lambda_arns() {
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:palisade-rotator-random"),
            RANDOM_ROTATOR
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:hook:PROD"),
            "hook"
        );
        assert_eq!(function_name("hook"), "hook");
    }

    #[test]
    fn rotating_a_json_password_keeps_the_other_members_as_they_were() {
        let before = br#"{"user":"x","big":12345678901234567890123,"password":"old","a":[1, 2]}"#;
        let after = with_password(before, "new\"pw").unwrap();
        assert_eq!(
            after,
            r#"{"user":"x","big":12345678901234567890123,"password":"new\"pw","a":[1, 2]}"#
        );
        assert!(with_password(br#"{"user":"x"}"#, "p").is_none());
        assert!(with_password(b"[1]", "p").is_none());
        assert!(with_password(b"plain", "p").is_none());
    }

    #[test]
    fn a_webhook_failure_names_its_status_and_error_type_never_its_text() {
        // Regression: the first 200 characters of the answer went into the log, the secret's
        // record and the RotationFailed event; a function echoing the new password leaked it.
        let name = webhook_name("http://user:pw@127.0.0.1:8080/rotate?token=t0k3n");
        assert_eq!(name, "http://127.0.0.1:8080/rotate");
        let lambda = br#"{"errorType":"ValueError","errorMessage":"password Hunter2! rejected"}"#;
        let e = webhook_failure(&name, http::StatusCode::INTERNAL_SERVER_ERROR, lambda);
        assert_eq!(
            e,
            "webhook http://127.0.0.1:8080/rotate answered 500 Internal Server Error (ValueError)"
        );
        let plain = b"new password is Hunter2!";
        let e = webhook_failure(&name, http::StatusCode::BAD_REQUEST, plain);
        assert!(!e.contains("Hunter2"), "{e}");
        let odd = br#"{"errorType":"pw Hunter2!"}"#;
        let e = webhook_failure(&name, http::StatusCode::BAD_REQUEST, odd);
        assert!(!e.contains("Hunter2"), "{e}");
    }

    #[test]
    fn sql_quoting_doubles_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn postgres_credentials_need_host_user_and_password() {
        let ok =
            json!({"engine":"postgres","host":"h","port":"5433","username":"u","password":"p"});
        let c = creds(&ok).unwrap();
        assert_eq!((c.port, c.dbname.as_str()), (5433, "postgres"));
        assert!(
            creds(&json!({"engine":"mysql","host":"h","username":"u","password":"p"})).is_err()
        );
        assert!(creds(&json!({"host":"h","username":"u"})).is_err());
    }
}
