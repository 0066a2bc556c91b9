//! Credential reports: GenerateCredentialReport and GetCredentialReport.
//!
//! AWS builds the report asynchronously: the first GenerateCredentialReport answers `STARTED`,
//! later ones `COMPLETE`, and a report is reused for four hours before a new one is generated.
//! Palisade builds it at once (it reads only memory and the key store) but keeps the same
//! answers, because clients poll for `COMPLETE`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Cx;
use crate::error::ApiError;
use crate::iam::user_arn;

/// How long a report is served before GenerateCredentialReport makes a new one (AWS: 4 hours).
const REPORT_LIFETIME_SECS: i64 = 4 * 3600;

const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,\
password_last_changed,password_next_rotation,mfa_active,access_key_1_active,\
access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,\
access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,\
access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,\
cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

pub(crate) async fn generate(cx: &Cx<'_>) -> Result<Value, ApiError> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if let Some((at, _)) = cx.state.iam.credential_report(cx.account)
        && now - at < REPORT_LIFETIME_SECS
    {
        return Ok(json!({"State": "COMPLETE"}));
    }
    let csv = build(cx).await?;
    cx.state
        .iam
        .set_credential_report(cx.account, now, csv)
        .await
        .map_err(ApiError::store_write)?;
    Ok(json!({
        "State": "STARTED",
        "Description": "No report exists. Starting a new report generation task",
    }))
}

pub(crate) fn get(cx: &Cx<'_>) -> Result<Value, ApiError> {
    let Some((at, csv)) = cx.state.iam.credential_report(cx.account) else {
        return Err(ApiError::new(
            "ReportNotPresent",
            "Credential report not present. Please use GenerateCredentialReport API.",
            StatusCode::GONE,
        ));
    };
    if OffsetDateTime::now_utc().unix_timestamp() - at >= REPORT_LIFETIME_SECS {
        return Err(ApiError::new(
            "ReportExpired",
            "Credential report has expired. Please use GenerateCredentialReport API.",
            StatusCode::GONE,
        ));
    }
    Ok(json!({
        "Content": STANDARD.encode(csv.as_slice()),
        "ReportFormat": "text/csv",
        "GeneratedTime": at,
    }))
}

pub(super) fn iso(epoch: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.replace_nanosecond(0).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .map_or_else(|| "N/A".to_owned(), |s| s.replace('Z', "+00:00"))
}

/// The CSV: the root user first, as AWS lists it, then every IAM user in name order.
async fn build(cx: &Cx<'_>) -> Result<Vec<u8>, ApiError> {
    let account = cx.account;
    let (users, max_age, root_certs) = cx.state.iam.read_account(account, |a| {
        let users: Vec<_> = a
            .users
            .values()
            .map(|u| {
                let mfa = a.mfa.values().any(|d| {
                    d.enabled_at.is_some()
                        && d.user
                            .as_deref()
                            .is_some_and(|n| n.eq_ignore_ascii_case(&u.name))
                });
                (u.clone(), mfa)
            })
            .collect();
        let max_age = a
            .settings
            .password_policy
            .as_ref()
            .and_then(|p| p.max_age_days);
        (users, max_age, a.settings.root_signing_certificates.clone())
    })?;
    let mut out = String::with_capacity(256 * (users.len() + 2));
    out.push_str(HEADER);
    out.push('\n');
    let root_arn = crate::identity::root_arn(account);
    let root_keys = cx
        .state
        .store
        .access_keys_of(account, &root_arn)
        .await
        .map_err(ApiError::internal)?;
    let root_since = iso(super::principals::root_created_at(cx).await?);
    let mut root_row = vec![
        "<root_account>".to_owned(),
        root_arn,
        root_since,
        "not_supported".to_owned(),
        "no_information".to_owned(),
        "not_supported".to_owned(),
        "not_supported".to_owned(),
        "false".to_owned(),
    ];
    root_row.extend(key_columns(cx, &root_keys).await);
    root_row.extend(cert_columns(&root_certs));
    push_row(&mut out, &root_row);
    for (user, mfa) in users {
        let arn = user_arn(account, &user.path, &user.name);
        let keys = cx
            .state
            .store
            .access_keys_of(account, &arn)
            .await
            .map_err(ApiError::internal)?;
        let (enabled, last_used, changed, next) = match &user.login {
            Some(login) => {
                let set = if login.set_at > 0 {
                    login.set_at
                } else {
                    login.created_at
                };
                (
                    "true",
                    user.password_last_used
                        .map_or_else(|| "no_information".to_owned(), iso),
                    iso(set),
                    max_age.map_or_else(|| "N/A".to_owned(), |d| iso(set + d * 86_400)),
                )
            }
            None => (
                "false",
                "N/A".to_owned(),
                "N/A".to_owned(),
                "N/A".to_owned(),
            ),
        };
        let mut row = vec![
            user.name.clone(),
            arn,
            iso(user.created_at),
            enabled.to_owned(),
            last_used,
            changed,
            next,
            mfa.to_string(),
        ];
        row.extend(key_columns(cx, &keys).await);
        row.extend(cert_columns(&user.signing_certificates));
        push_row(&mut out, &row);
    }
    Ok(out.into_bytes())
}

/// Appends one CSV record. A user name may hold a comma and a path a comma or a quote, so a
/// field is quoted as RFC 4180 says: unquoted, `x,true` would shift every later column and
/// could forge `mfa_active`.
fn push_row(out: &mut String, fields: &[String]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push('\n');
}

/// The four columns of a principal's first two signing certificates, in upload order.
fn cert_columns(certs: &[palisade_store::UserCredentialRecord]) -> Vec<String> {
    let mut cols = Vec::with_capacity(4);
    for i in 0..2 {
        match certs.get(i) {
            Some(c) => cols.extend([(c.status == "Active").to_string(), iso(c.uploaded_at)]),
            None => cols.extend(["false", "N/A"].map(str::to_owned)),
        }
    }
    cols
}

/// The ten columns of a principal's first two access keys, in creation order: the store's order
/// (`Store::access_keys_of`), which also orders keys created in the same second, where sorting
/// by the creation time in seconds let two such keys swap places between reports.
async fn key_columns(cx: &Cx<'_>, keys: &[palisade_store::AccessKeyRecord]) -> Vec<String> {
    let mut cols = Vec::with_capacity(10);
    for i in 0..2 {
        let Some(k) = keys.get(i) else {
            cols.extend(["false", "N/A", "N/A", "N/A", "N/A"].map(str::to_owned));
            continue;
        };
        let used = cx
            .state
            .keys
            .last_used(&k.access_key_id)
            .await
            .ok()
            .flatten();
        let (date, region, service) = used.map_or_else(
            || ("N/A".to_owned(), "N/A".to_owned(), "N/A".to_owned()),
            |u| (iso(u.at), u.region, u.service),
        );
        cols.extend([
            (k.status == "Active").to_string(),
            iso(k.created_at),
            date,
            region,
            service,
        ]);
    }
    cols
}
