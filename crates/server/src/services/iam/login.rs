//! Console passwords (login profiles) and the account password policy, enforced on create,
//! update and `ChangePassword`. Passwords are kept only as Argon2id hashes.

use http::StatusCode;
use palisade_store::{LoginProfileRecord, PasswordPolicyRecord};
use serde_json::{Value, json};

use super::{
    Cx, already_exists, boolean, int, mutate_user, no_such_entity, no_such_user, now, req, s,
};
use crate::error::ApiError;
use crate::identity::PrincipalKind;
use crate::password;

fn violation(message: String) -> ApiError {
    ApiError::bad_request("PasswordPolicyViolation", message)
}

fn no_such_profile(user: &str) -> ApiError {
    no_such_entity(format!("Login Profile for User {user} cannot be found."))
}

async fn hash(pw: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

async fn verify(pw: String, hash: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .map_err(ApiError::internal)
}

fn policy(cx: &Cx<'_>) -> Result<Option<PasswordPolicyRecord>, ApiError> {
    cx.state
        .iam
        .read_account(cx.account, |a| a.settings.password_policy.clone())
}

fn profile_json(user: &str, p: &LoginProfileRecord) -> Value {
    json!({"LoginProfile": {
        "UserName": user,
        "CreateDate": p.created_at,
        "PasswordResetRequired": p.reset_required,
    }})
}

pub(crate) async fn create_login_profile(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = super::target_user(cx, input)?.to_owned();
    let pw = req(input, "Password")?.to_owned();
    let reset = boolean(input, "PasswordResetRequired").unwrap_or(false);
    let exists = cx
        .state
        .iam
        .read_account(cx.account, |a| a.user(&user).map(|u| u.login.is_some()))?;
    match exists {
        None => return Err(no_such_user(&user)),
        Some(true) => {
            return Err(already_exists(format!(
                "Login Profile for user {user} already exists."
            )));
        }
        Some(false) => {}
    }
    password::check(policy(cx)?.as_ref(), !cx.state.config.dev, &pw).map_err(violation)?;
    let hashed = hash(pw).await?;
    mutate_user(cx, &user, |u| {
        if u.login.is_some() {
            return Err(already_exists(format!(
                "Login Profile for user {user} already exists."
            )));
        }
        let t = now();
        let profile = LoginProfileRecord {
            password_hash: hashed,
            created_at: t,
            reset_required: reset,
            set_at: t,
            previous_hashes: vec![],
        };
        let out = profile_json(&u.name, &profile);
        u.login = Some(profile);
        Ok(out)
    })
    .await
}

pub(crate) fn get_login_profile(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = super::target_user(cx, input)?;
    cx.state.iam.read_account(cx.account, |a| {
        let u = a.user(user).ok_or_else(|| no_such_user(user))?;
        u.login
            .as_ref()
            .map(|p| profile_json(&u.name, p))
            .ok_or_else(|| no_such_profile(user))
    })?
}

/// Replaces a user's password, keeping the previous hash for the reuse rule.
async fn set_password(
    cx: &Cx<'_>,
    user: &str,
    pw: String,
    reset: Option<bool>,
) -> Result<(), ApiError> {
    let policy = policy(cx)?;
    password::check(policy.as_ref(), !cx.state.config.dev, &pw).map_err(violation)?;
    let reuse = policy
        .as_ref()
        .and_then(|p| p.reuse_prevention)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    if reuse > 0 {
        let previous = cx.state.iam.read_account(cx.account, |a| {
            a.user(user).and_then(|u| u.login.as_ref()).map(|l| {
                std::iter::once(l.password_hash.clone())
                    .chain(l.previous_hashes.iter().cloned())
                    .take(reuse)
                    .collect::<Vec<_>>()
            })
        })?;
        for h in previous.unwrap_or_default() {
            if verify(pw.clone(), h).await? {
                return Err(violation(format!(
                    "Password has been used in the last {reuse} passwords"
                )));
            }
        }
    }
    let hashed = hash(pw).await?;
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(u) = tx.user_mut(user) else {
                return Err(no_such_user(user));
            };
            let Some(login) = u.login.as_mut() else {
                return Err(no_such_profile(user));
            };
            let old = std::mem::replace(&mut login.password_hash, hashed);
            login.previous_hashes.insert(0, old);
            login.previous_hashes.truncate(24);
            login.set_at = now();
            if let Some(r) = reset {
                login.reset_required = r;
            }
            Ok(())
        })
        .await
}

pub(crate) async fn update_login_profile(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = super::target_user(cx, input)?.to_owned();
    let reset = boolean(input, "PasswordResetRequired");
    let has = cx
        .state
        .iam
        .read_account(cx.account, |a| a.user(&user).map(|u| u.login.is_some()))?;
    match has {
        None => return Err(no_such_user(&user)),
        Some(false) => return Err(no_such_profile(&user)),
        Some(true) => {}
    }
    match s(input, "Password") {
        Some(pw) => set_password(cx, &user, pw.to_owned(), reset).await?,
        None => {
            cx.state
                .iam
                .mutate(cx.account, |tx| {
                    if let Some(l) = tx.user_mut(&user).and_then(|u| u.login.as_mut())
                        && let Some(r) = reset
                    {
                        l.reset_required = r;
                    }
                    Ok(())
                })
                .await?;
        }
    }
    Ok(json!({}))
}

pub(crate) async fn delete_login_profile(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = super::target_user(cx, input)?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(u) = tx.account.user(&user) else {
                return Err(no_such_user(&user));
            };
            if u.login.is_none() {
                return Err(no_such_profile(&user));
            }
            if let Some(u) = tx.user_mut(&user) {
                u.login = None;
            }
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn change_password(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let (PrincipalKind::IamUser, Some(user)) = (cx.caller.kind, cx.caller.user_name.clone()) else {
        return Err(ApiError::bad_request(
            "InvalidUserType",
            "Only IAM users can change their own password.",
        ));
    };
    let old = req(input, "OldPassword")?.to_owned();
    let new = req(input, "NewPassword")?.to_owned();
    // AllowUsersToChangePassword is an extra implicit grant, applied by the authorizer: when
    // it is off, an IAM policy granting iam:ChangePassword (IAMUserChangePassword) still lets
    // the user change their password, so it is not checked again here.
    let hash_now = cx.state.iam.read_account(cx.account, |a| {
        a.user(&user)
            .and_then(|u| u.login.as_ref())
            .map(|l| l.password_hash.clone())
    })?;
    let Some(hash_now) = hash_now else {
        return Err(no_such_profile(&user));
    };
    if !verify(old, hash_now).await? {
        return Err(ApiError::new(
            "AccessDenied",
            "The old password is incorrect.",
            StatusCode::FORBIDDEN,
        ));
    }
    set_password(cx, &user, new, Some(false)).await?;
    Ok(json!({}))
}

pub(crate) async fn update_password_policy(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let p = PasswordPolicyRecord {
        minimum_length: int(input, "MinimumPasswordLength").unwrap_or(6),
        require_symbols: boolean(input, "RequireSymbols").unwrap_or(false),
        require_numbers: boolean(input, "RequireNumbers").unwrap_or(false),
        require_uppercase: boolean(input, "RequireUppercaseCharacters").unwrap_or(false),
        require_lowercase: boolean(input, "RequireLowercaseCharacters").unwrap_or(false),
        allow_users_to_change: boolean(input, "AllowUsersToChangePassword").unwrap_or(false),
        max_age_days: int(input, "MaxPasswordAge").filter(|d| *d > 0),
        reuse_prevention: int(input, "PasswordReusePrevention").filter(|d| *d > 0),
        hard_expiry: boolean(input, "HardExpiry"),
    };
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            tx.settings_mut().password_policy = Some(p);
            Ok(json!({}))
        })
        .await
}

pub(crate) fn get_password_policy(cx: &Cx<'_>) -> Result<Value, ApiError> {
    let Some(p) = policy(cx)? else {
        return Err(no_such_entity(format!(
            "The Password Policy with domain name {} cannot be found.",
            cx.account
        )));
    };
    let mut out = json!({
        "MinimumPasswordLength": p.minimum_length,
        "RequireSymbols": p.require_symbols,
        "RequireNumbers": p.require_numbers,
        "RequireUppercaseCharacters": p.require_uppercase,
        "RequireLowercaseCharacters": p.require_lowercase,
        "AllowUsersToChangePassword": p.allow_users_to_change,
        "ExpirePasswords": p.max_age_days.is_some(),
    });
    if let Some(d) = p.max_age_days {
        crate::services::set(&mut out, "MaxPasswordAge", json!(d));
    }
    if let Some(n) = p.reuse_prevention {
        crate::services::set(&mut out, "PasswordReusePrevention", json!(n));
    }
    if let Some(h) = p.hard_expiry {
        crate::services::set(&mut out, "HardExpiry", json!(h));
    }
    Ok(json!({"PasswordPolicy": out}))
}

pub(crate) async fn delete_password_policy(cx: &Cx<'_>) -> Result<Value, ApiError> {
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx.account.settings.password_policy.is_none() {
                return Err(no_such_entity(
                    "The account policy with name PasswordPolicy cannot be found.",
                ));
            }
            tx.settings_mut().password_policy = None;
            Ok(json!({}))
        })
        .await
}
