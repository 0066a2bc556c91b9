//! Virtual MFA devices: created with a sealed seed, enabled with two consecutive codes, and
//! presented to STS (`SerialNumber` + `TokenCode`) to get MFA-authenticated sessions.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use palisade_seal::Purpose;
use palisade_store::MfaDeviceRecord;
use serde_json::{Value, json};

use super::principals::user_json;
use super::{
    Cx, Entity, already_exists, check_tags, delete_conflict, invalid_input, no_such_entity,
    no_such_user, now, page_by, paged, path, req, s, tags, tags_json, target_user,
};
use crate::error::ApiError;
use crate::identity::random_bytes;
use crate::mfa;
use crate::services::paging::member;
use crate::state::AppState;

fn invalid_code() -> ApiError {
    ApiError::new(
        "InvalidAuthenticationCode",
        "Authentication code for device is not valid.",
        StatusCode::FORBIDDEN,
    )
}

fn no_such_device(serial: &str) -> ApiError {
    no_such_entity(format!(
        "VirtualMFADevice with serial number {serial} doesn't exist."
    ))
}

fn seed(state: &AppState, d: &MfaDeviceRecord) -> Result<Vec<u8>, ApiError> {
    state
        .sealer
        .open(Purpose::MfaSeed, &d.serial, &d.sealed_seed)
        .map_err(ApiError::internal)
}

pub(crate) async fn create_virtual_mfa_device(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let name = req(input, "VirtualMFADeviceName")?.to_owned();
    let path = path(input, "Path")?;
    let tags = tags(input);
    check_tags(&tags, Entity::MfaDevice)?;
    let serial = format!("arn:aws:iam::{}:mfa{path}{name}", cx.account);
    // Every other MFA operation takes the serial number, which the model limits to 256
    // characters: a device with a longer one could never be enabled or deleted.
    if serial.chars().count() > 256 {
        return Err(invalid_input(format!(
            "the virtual MFA device's serial number {serial} is longer than 256 characters"
        )));
    }
    let raw_seed = random_bytes(20).map_err(ApiError::internal)?;
    let sealed_seed = cx
        .state
        .sealer
        .seal(Purpose::MfaSeed, &serial, &raw_seed)
        .map_err(ApiError::internal)?;
    let b32 = mfa::base32(&raw_seed);
    let uri = format!("otpauth://totp/{name}@{}?secret={b32}", cx.account);
    // The model sets no maximum on the name, but a QR code holds at most ~2,900 bytes: a name
    // too long for one is the caller's error, not the server's.
    let png = mfa::qr_png(&uri).ok_or_else(|| {
        invalid_input(format!(
            "the virtual MFA device name is too long for its QR code: {} characters",
            name.chars().count()
        ))
    })?;
    let account = cx.account.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx.account.mfa.contains_key(&serial) {
                return Err(already_exists(
                    "MFADevice entity at the same path and name already exists.",
                ));
            }
            let mut out = json!({
                "SerialNumber": serial,
                "Base32StringSeed": STANDARD.encode(b32.as_bytes()),
                "QRCodePNG": STANDARD.encode(&png),
            });
            if !tags.is_empty() {
                crate::services::set(&mut out, "Tags", tags_json(&tags));
            }
            tx.insert_mfa(MfaDeviceRecord {
                account_id: account,
                serial: serial.clone(),
                created_at: now(),
                sealed_seed,
                user: None,
                enabled_at: None,
                last_step: None,
                tags,
            });
            Ok(json!({"VirtualMFADevice": out}))
        })
        .await
}

pub(crate) async fn enable_mfa_device(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = req(input, "UserName")?.to_owned();
    let serial = req(input, "SerialNumber")?.to_owned();
    let code1 = req(input, "AuthenticationCode1")?.to_owned();
    let code2 = req(input, "AuthenticationCode2")?.to_owned();
    let device = cx
        .state
        .iam
        .read_account(cx.account, |a| a.mfa.get(&serial).cloned())?;
    let Some(device) = device else {
        return Err(no_such_device(&serial));
    };
    let seed = seed(cx.state, &device)?;
    let dev = cx.state.config.dev;
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(user_name) = tx.account.user(&user).map(|u| u.name.clone()) else {
                return Err(no_such_user(&user));
            };
            let Some(d) = tx.mfa_mut(&serial) else {
                return Err(no_such_device(&serial));
            };
            if d.user.is_some() {
                return Err(already_exists("MFA Device is already in use."));
            }
            // --dev accepts any codes, as it accepts any credentials (moto's suites enable
            // devices with made-up codes).
            let step = match mfa::find_consecutive(&seed, &code1, &code2, now()) {
                Some(step) => step,
                None if dev => mfa::step_of(now()),
                None => return Err(invalid_code()),
            };
            d.user = Some(user_name);
            d.enabled_at = Some(now());
            // A device deactivated and enabled again keeps its spent codes spent.
            d.last_step = Some(d.last_step.map_or(step, |l| l.max(step)));
            Ok(json!({}))
        })
        .await
}

fn not_enabled_for(serial: &str, user: &str) -> ApiError {
    no_such_entity(format!(
        "MFA Device with serial number {serial} is not enabled for user {user}."
    ))
}

pub(crate) async fn resync_mfa_device(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = req(input, "UserName")?.to_owned();
    let serial = req(input, "SerialNumber")?.to_owned();
    let code1 = req(input, "AuthenticationCode1")?.to_owned();
    let code2 = req(input, "AuthenticationCode2")?.to_owned();
    // The call is authorized on the named user, so the device must be that user's: otherwise
    // anyone allowed to resync their own device could resync (and rewind) anyone's.
    let device = cx.state.iam.read_account(cx.account, |a| {
        let owner = a.user(&user).map(|u| u.name.clone());
        (owner, a.mfa.get(&serial).cloned())
    })?;
    let device = match device {
        (None, _) => return Err(no_such_user(&user)),
        (Some(_), None) => return Err(no_such_device(&serial)),
        (Some(owner), Some(d))
            if d.user
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(&owner)) =>
        {
            d
        }
        (Some(_), Some(_)) => return Err(not_enabled_for(&serial, &user)),
    };
    let seed = seed(cx.state, &device)?;
    let step = mfa::find_consecutive(&seed, &code1, &code2, now()).ok_or_else(invalid_code)?;
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(d) = tx.mfa_mut(&serial) else {
                return Err(no_such_device(&serial));
            };
            // Checked again under the lock: the device may have been deactivated meanwhile.
            if d.user != device.user {
                return Err(not_enabled_for(&serial, &user));
            }
            // Never backwards: a code STS has already accepted must stay spent.
            d.last_step = Some(d.last_step.map_or(step, |l| l.max(step)));
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn deactivate_mfa_device(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let serial = req(input, "SerialNumber")?.to_owned();
    // Without a user name the device must be the caller's own (AWS: it defaults to the
    // principal making the request), never whichever user it happens to belong to.
    let user = target_user(cx, input)?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(owner) = tx.account.user(&user).map(|u| u.name.clone()) else {
                return Err(no_such_user(&user));
            };
            let Some(d) = tx.mfa_mut(&serial) else {
                return Err(no_such_device(&serial));
            };
            if !d
                .user
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(&owner))
            {
                return Err(not_enabled_for(&serial, &user));
            }
            d.user = None;
            d.enabled_at = None;
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn delete_virtual_mfa_device(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let serial = req(input, "SerialNumber")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(d) = tx.account.mfa.get(&serial) else {
                return Err(no_such_device(&serial));
            };
            if d.user.is_some() {
                return Err(delete_conflict("MFA device is still in use."));
            }
            tx.remove_mfa(&serial);
            Ok(json!({}))
        })
        .await
}

pub(crate) fn list_mfa_devices(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = s(input, "UserName").or(cx.caller.user_name.as_deref());
    let devices = cx.state.iam.read_account(cx.account, |a| {
        if let Some(u) = user
            && a.user(u).is_none()
        {
            return Err(no_such_user(u));
        }
        Ok(a.mfa
            .values()
            .filter(|d| match (&d.user, user) {
                (Some(owner), Some(u)) => owner.eq_ignore_ascii_case(u),
                _ => false,
            })
            .map(|d| {
                json!({
                    "UserName": d.user,
                    "SerialNumber": d.serial,
                    "EnableDate": d.enabled_at,
                })
            })
            .collect::<Vec<_>>())
    })??;
    let (items, marker) = page_by(devices, member("SerialNumber"), input)?;
    Ok(paged(json!({"MFADevices": items}), marker))
}

pub(crate) fn list_virtual_mfa_devices(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let status = s(input, "AssignmentStatus").unwrap_or("Any");
    let devices = cx.state.iam.read_account(cx.account, |a| {
        a.mfa
            .values()
            .filter(|d| match status {
                "Assigned" => d.user.is_some(),
                "Unassigned" => d.user.is_none(),
                _ => true,
            })
            .map(|d| {
                let mut v = json!({"SerialNumber": d.serial});
                if let Some(u) = d.user.as_deref().and_then(|u| a.user(u)) {
                    crate::services::set(&mut v, "User", user_json(u, false));
                    crate::services::set(&mut v, "EnableDate", json!(d.enabled_at));
                }
                // No Tags: the model says this listing does not return them (ListMFADeviceTags
                // does).
                v
            })
            .collect::<Vec<_>>()
    })?;
    // Keyed by serial number, the order they are listed in: a clean-up deleting each page's
    // devices before asking for the next skips none.
    let (items, marker) = page_by(devices, member("SerialNumber"), input)?;
    Ok(paged(json!({"VirtualMFADevices": items}), marker))
}

pub(crate) fn get_mfa_device(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let serial = req(input, "SerialNumber")?;
    cx.state.iam.read_account(cx.account, |a| {
        let d = a.mfa.get(serial).ok_or_else(|| no_such_device(serial))?;
        let mut out = json!({"SerialNumber": d.serial});
        if let Some(u) = &d.user {
            crate::services::set(&mut out, "UserName", json!(u));
            crate::services::set(&mut out, "EnableDate", json!(d.enabled_at));
        }
        Ok(out)
    })?
}

/// Checks a `TokenCode` presented to STS for the device `serial` of `user` (`None` for the
/// root user); returns when MFA was authenticated. A code is accepted once.
pub(crate) async fn verify_token_code(
    state: &AppState,
    account: &str,
    user: Option<&str>,
    serial: &str,
    code: &str,
) -> Result<i64, ApiError> {
    let device = state
        .iam
        .read_account(account, |a| a.mfa.get(serial).cloned())?;
    let denied = crate::services::mfa_bad_code;
    let Some(device) = device else {
        return Err(crate::services::mfa_unknown_device());
    };
    let owner_ok = match (user, device.user.as_deref()) {
        (Some(u), Some(owner)) => u.eq_ignore_ascii_case(owner),
        _ => false,
    };
    if !owner_ok {
        return Err(crate::services::mfa_unknown_device());
    }
    let seed = seed(state, &device)?;
    let t = now();
    let step = mfa::accept(&seed, code, t, device.last_step).ok_or_else(denied)?;
    state
        .iam
        .mutate(account, |tx| {
            if let Some(d) = tx.mfa_mut(serial) {
                if d.last_step.is_some_and(|l| l >= step) {
                    return Err(denied());
                }
                d.last_step = Some(step);
            }
            Ok(())
        })
        .await?;
    Ok(t)
}
