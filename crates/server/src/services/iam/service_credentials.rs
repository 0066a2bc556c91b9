//! A user's service-specific credentials: a user name and password for CodeCommit (Git over
//! HTTPS) and Amazon Keyspaces, or an API key for Bedrock and CloudWatch Logs. IAM makes them;
//! the service checks them. Palisade serves none of those services, so it keeps each
//! credential's public part and status, and shows the password or secret once, when it is made
//! or reset, without keeping it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use palisade_store::ServiceCredentialRecord;
use serde_json::{Value, json};

use super::{
    Cx, invalid_input, limit_exceeded, mutate_user, no_such_entity, no_such_user, now, page_by,
    paged, req, s, target_user,
};
use crate::error::ApiError;
use crate::identity::{new_unique_id, random_bytes};

/// Services that take a user name and password.
const PASSWORD_SERVICES: [&str; 2] = ["codecommit.amazonaws.com", "cassandra.amazonaws.com"];
/// Services that take an API key, which may be made to expire.
const API_KEY_SERVICES: [&str; 2] = ["bedrock.amazonaws.com", "logs.amazonaws.com"];
/// IAM's quota per user and service.
const PER_USER_AND_SERVICE: usize = 2;

fn not_supported(service: &str) -> ApiError {
    ApiError::new(
        "NotSupportedService",
        format!("The specified service {service} does not support service-specific credentials."),
        StatusCode::NOT_FOUND,
    )
}

fn no_such_credential(id: &str) -> ApiError {
    no_such_entity(format!(
        "The service-specific credential with id {id} cannot be found."
    ))
}

/// A fresh secret: 33 random bytes, 44 characters of base64.
fn secret() -> Result<String, ApiError> {
    let bytes = random_bytes(33).map_err(ApiError::internal)?;
    Ok(STANDARD.encode(bytes))
}

/// `Expired` once an API key's age has passed, whatever it was set to.
fn status(c: &ServiceCredentialRecord, at: i64) -> &str {
    match c.expires_at {
        Some(e) if e <= at => "Expired",
        _ => &c.status,
    }
}

/// The credential as the API shows it: the listing's metadata, or with `secret` the full
/// credential that Create and Reset return.
fn item(user: &str, c: &ServiceCredentialRecord, secret: Option<&str>) -> Value {
    let api_key = API_KEY_SERVICES.contains(&c.service.as_str());
    let mut v = json!({
        "UserName": user,
        "Status": status(c, now()),
        "CreateDate": c.created_at,
        "ServiceSpecificCredentialId": c.id,
        "ServiceName": c.service,
    });
    let (public, private) = if api_key {
        ("ServiceCredentialAlias", "ServiceCredentialSecret")
    } else {
        ("ServiceUserName", "ServicePassword")
    };
    crate::services::set(&mut v, public, json!(c.service_user));
    if let Some(secret) = secret {
        crate::services::set(&mut v, private, json!(secret));
    }
    if let Some(e) = c.expires_at {
        crate::services::set(&mut v, "ExpirationDate", json!(e));
    }
    v
}

/// `CreateServiceSpecificCredential`.
pub(crate) async fn create(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = target_user(cx, input)?.to_owned();
    let service = req(input, "ServiceName")?.to_owned();
    let api_key = API_KEY_SERVICES.contains(&service.as_str());
    if !api_key && !PASSWORD_SERVICES.contains(&service.as_str()) {
        return Err(not_supported(&service));
    }
    let age_days = input.get("CredentialAgeDays").and_then(Value::as_i64);
    // AWS documents the age as valid for API keys only, not the error it gives otherwise:
    // refusing it is Palisade's choice, so that no one believes a password will expire.
    if age_days.is_some() && !api_key {
        return Err(invalid_input(format!(
            "CredentialAgeDays applies only to API keys (Bedrock, CloudWatch Logs), not to \
             {service}"
        )));
    }
    let secret = secret()?;
    let account = cx.account.to_owned();
    mutate_user(cx, &user, |u| {
        let taken = u
            .service_credentials
            .iter()
            .filter(|c| c.service == service)
            .count();
        if taken >= PER_USER_AND_SERVICE {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: \
                     {PER_USER_AND_SERVICE}"
            )));
        }
        let created_at = now();
        let id = new_unique_id("ACCA");
        let service_user = if api_key {
            // The user, the key's number among the user's keys for the service (the lowest free
            // one, so that no two keys share an alias), and the account.
            let alias = |n: usize| format!("{}+{n}-at-{account}", u.name);
            let free = (1..=PER_USER_AND_SERVICE).find(|&n| {
                !u.service_credentials
                    .iter()
                    .any(|c| c.service == service && c.service_user == alias(n))
            });
            alias(free.unwrap_or(taken + 1))
        } else {
            format!("{}-at-{account}", u.name)
        };
        let record = ServiceCredentialRecord {
            id: id.get(..20).unwrap_or(&id).to_owned(),
            service,
            service_user,
            status: "Active".to_owned(),
            created_at,
            expires_at: age_days.map(|d| created_at + d * 86_400),
        };
        let out = json!({"ServiceSpecificCredential": item(&u.name, &record, Some(&secret))});
        u.service_credentials.push(record);
        Ok(out)
    })
    .await
}

/// `ListServiceSpecificCredentials`: one user's (the caller's by default), or with `AllUsers`
/// every user's; optionally of one service.
pub(crate) fn list(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let all = input
        .get("AllUsers")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if all && let Some(name) = s(input, "UserName") {
        return Err(invalid_input(format!(
            "AllUsers cannot be given with UserName {name}"
        )));
    }
    let service = s(input, "ServiceName");
    if let Some(svc) = service
        && !PASSWORD_SERVICES.contains(&svc)
        && !API_KEY_SERVICES.contains(&svc)
    {
        return Err(not_supported(svc));
    }
    let one = if all {
        None
    } else {
        Some(target_user(cx, input)?)
    };
    let items = cx.state.iam.read_account(cx.account, |a| {
        let users: Vec<_> = match one {
            Some(name) => vec![a.user(name).ok_or_else(|| no_such_user(name))?],
            None => a.users.values().collect(),
        };
        Ok::<_, ApiError>(
            users
                .into_iter()
                .flat_map(|u| {
                    u.service_credentials
                        .iter()
                        .filter(|c| service.is_none_or(|svc| c.service == svc))
                        .map(|c| item(&u.name, c, None))
                })
                .collect::<Vec<_>>(),
        )
    })??;
    let (items, marker) = page_by(
        items,
        crate::services::paging::member("ServiceSpecificCredentialId"),
        input,
    )?;
    Ok(paged(json!({"ServiceSpecificCredentials": items}), marker))
}

/// `ResetServiceSpecificCredential`: a new password (or API key secret), shown once.
pub(crate) async fn reset(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = target_user(cx, input)?.to_owned();
    let id = req(input, "ServiceSpecificCredentialId")?.to_owned();
    let secret = secret()?;
    mutate_user(cx, &user, |u| {
        let name = u.name.clone();
        let Some(c) = u.service_credentials.iter().find(|c| c.id == id) else {
            return Err(no_such_credential(&id));
        };
        Ok(json!({"ServiceSpecificCredential": item(&name, c, Some(&secret))}))
    })
    .await
}

/// `UpdateServiceSpecificCredential`: `Active` or `Inactive`.
pub(crate) async fn update(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = target_user(cx, input)?.to_owned();
    let id = req(input, "ServiceSpecificCredentialId")?.to_owned();
    let status = req(input, "Status")?.to_owned();
    if status == "Expired" {
        return Err(invalid_input(
            "a credential's status can be set to Active or Inactive, not Expired",
        ));
    }
    mutate_user(cx, &user, |u| {
        let Some(c) = u.service_credentials.iter_mut().find(|c| c.id == id) else {
            return Err(no_such_credential(&id));
        };
        c.status = status;
        Ok(json!({}))
    })
    .await
}

/// `DeleteServiceSpecificCredential`.
pub(crate) async fn delete(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = target_user(cx, input)?.to_owned();
    let id = req(input, "ServiceSpecificCredentialId")?.to_owned();
    mutate_user(cx, &user, |u| {
        let before = u.service_credentials.len();
        u.service_credentials.retain(|c| c.id != id);
        if u.service_credentials.len() == before {
            return Err(no_such_credential(&id));
        }
        Ok(json!({}))
    })
    .await
}
