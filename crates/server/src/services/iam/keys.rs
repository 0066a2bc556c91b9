//! Access keys: at most two per user, usable to sign requests as soon as they are created.

use palisade_store::AccessKeyRecord;
use serde_json::{Value, json};

use super::{Cx, limit_exceeded, no_such_entity, no_such_user, now, page_by, paged, req, s};
use crate::error::ApiError;
use crate::iam::user_arn;
use crate::identity::{Caller, PrincipalKind, new_access_key};

/// AWS's quota of access keys per user.
const MAX_KEYS: usize = 2;

/// The principal whose keys an operation is about: the named user, else the caller (a user, or
/// the root user).
fn owner(cx: &Cx<'_>, input: &Value) -> Result<Caller, ApiError> {
    let name = match s(input, "UserName") {
        Some(n) => n.to_owned(),
        None => match (&cx.caller.user_name, cx.caller.kind) {
            (Some(n), _) => n.clone(),
            (None, PrincipalKind::Root) => return Ok(Caller::root(cx.account, None)),
            (None, _) => {
                return Err(super::validation(
                    "Must specify userName when calling with non-User credentials",
                ));
            }
        },
    };
    cx.state.iam.read_account(cx.account, |a| {
        a.user(&name)
            .map(|u| Caller {
                kind: PrincipalKind::IamUser,
                account_id: cx.account.to_owned(),
                arn: user_arn(cx.account, &u.path, &u.name),
                principal_id: u.id.clone(),
                access_key_id: None,
                user_name: Some(u.name.clone()),
                session: None,
                web_identity: None,
            })
            .ok_or_else(|| no_such_user(&name))
    })?
}

async fn keys_of(cx: &Cx<'_>, owner: &Caller) -> Result<Vec<AccessKeyRecord>, ApiError> {
    cx.state
        .store
        .access_keys_of(cx.account, &owner.arn)
        .await
        .map_err(ApiError::internal)
}

fn no_such_key(id: &str) -> ApiError {
    no_such_entity(format!("The Access Key with id {id} cannot be found"))
}

pub(crate) async fn create_access_key(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    // The owner is looked up under the write lock: a DeleteUser finishing between the lookup
    // and the write left a key for a user that no longer existed, which the next user of that
    // name found in its list (bug).
    let _guard = cx.state.iam.lock_writes().await;
    let owner = owner(cx, input)?;
    if keys_of(cx, &owner).await?.len() >= MAX_KEYS {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}"
        )));
    }
    let (id, secret) = new_access_key().map_err(ApiError::internal)?;
    cx.state
        .keys
        .put(&owner, &id, &secret)
        .await
        .map_err(ApiError::store_write)?;
    let mut key = json!({
        "AccessKeyId": id,
        "Status": "Active",
        "SecretAccessKey": secret,
        "CreateDate": now(),
    });
    if let Some(name) = &owner.user_name {
        crate::services::set(&mut key, "UserName", json!(name));
    }
    Ok(json!({"AccessKey": key}))
}

pub(crate) async fn list_access_keys(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let owner = owner(cx, input)?;
    let keys: Vec<Value> = keys_of(cx, &owner)
        .await?
        .iter()
        .map(|k| {
            let mut v = json!({
                "AccessKeyId": k.access_key_id,
                "Status": k.status,
                "CreateDate": k.created_at,
            });
            if let Some(n) = &k.user_name {
                crate::services::set(&mut v, "UserName", json!(n));
            }
            v
        })
        .collect();
    let (items, marker) = page_by(keys, crate::services::paging::member("AccessKeyId"), input)?;
    Ok(paged(json!({"AccessKeyMetadata": items}), marker))
}

pub(crate) async fn update_access_key(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let id = req(input, "AccessKeyId")?;
    let status = req(input, "Status")?;
    let _guard = cx.state.iam.lock_writes().await;
    let owner = owner(cx, input)?;
    let Some(mut key) = keys_of(cx, &owner)
        .await?
        .into_iter()
        .find(|k| k.access_key_id == id)
    else {
        return Err(no_such_key(id));
    };
    status.clone_into(&mut key.status);
    cx.state
        .store
        .put_access_key(&key)
        .await
        .map_err(ApiError::store_write)?;
    cx.state.keys.forget(id);
    Ok(json!({}))
}

pub(crate) async fn delete_access_key(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let id = req(input, "AccessKeyId")?.to_owned();
    let _guard = cx.state.iam.lock_writes().await;
    let owner = owner(cx, input)?;
    if !keys_of(cx, &owner)
        .await?
        .iter()
        .any(|k| k.access_key_id == id)
    {
        return Err(no_such_key(&id));
    }
    cx.state
        .iam
        .mutate_locked(cx.account, |tx| {
            tx.delete_access_key(&id);
            Ok(())
        })
        .await?;
    cx.state.keys.forget(&id);
    Ok(json!({}))
}

pub(crate) async fn get_access_key_last_used(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let id = req(input, "AccessKeyId")?;
    let record = cx
        .state
        .store
        .access_key(id)
        .await
        .map_err(ApiError::internal)?
        .filter(|k| k.account_id == cx.account)
        .ok_or_else(|| no_such_key(id))?;
    authorize_on_owner(cx, record.user_name.as_deref())?;
    let used = cx
        .state
        .keys
        .last_used(id)
        .await
        .map_err(ApiError::internal)?;
    let last = match used {
        Some(u) => json!({"LastUsedDate": u.at, "ServiceName": u.service, "Region": u.region}),
        None => json!({"ServiceName": "N/A", "Region": "N/A"}),
    };
    let mut out = json!({"AccessKeyLastUsed": last});
    if let Some(n) = record.user_name {
        crate::services::set(&mut out, "UserName", json!(n));
    }
    Ok(out)
}

/// GetAccessKeyLastUsed acts on the user who owns the key (`None`: the root user), which the
/// pipeline could not know before the key was read (it authorized the call on the caller's own
/// user): the call is authorized again on that user, so that a policy naming (or denying) it
/// decides. The root user's key is no exception: a user allowed only on their own user may not
/// read when the root user's key was last used.
fn authorize_on_owner(cx: &Cx<'_>, owner: Option<&str>) -> Result<(), ApiError> {
    let input = match owner {
        Some(owner) if cx.caller.user_name.as_deref() == Some(owner) => return Ok(()),
        Some(owner) => json!({"UserName": owner}),
        None if cx.caller.kind == PrincipalKind::Root => return Ok(()),
        None => json!({crate::authz::ROOT_KEY_OWNER: true}),
    };
    crate::authz::authorize_internal(
        cx.state,
        cx.caller,
        &cx.state.config.region,
        ("iam", "GetAccessKeyLastUsed"),
        &input,
        None,
    )
}
