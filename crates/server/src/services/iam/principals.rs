//! Users, groups, roles, instance profiles, and the tags of every taggable entity.

use palisade_policy::PolicyKind;
use palisade_store::{GroupRecord, InstanceProfileRecord, RoleRecord, TagRecord, UserRecord};
use serde_json::{Value, json};

use super::account::AccountQuota;
use super::{
    Cx, Entity, already_exists, check_policy, check_tags, delete_conflict, encode_document,
    invalid_input, merge_tags, no_such_entity, no_such_group, no_such_role, no_such_user, now,
    page_by, paged, path, req, s, strings, tags, tags_json, validation,
};
use crate::error::ApiError;
use crate::iam::{AccountIam, Tx, group_arn, instance_profile_arn, role_arn, user_arn};
use crate::identity::{PrincipalKind, new_unique_id};
use crate::services::paging::lowercase_member;

// -- output forms ---------------------------------------------------------------------------------

/// A user's or role's boundary. Its type is `Policy`, what AWS answers (the AWS CLI's example
/// outputs; AWS said in awsdocs/iam-user-guide#82 that the model's `PermissionsBoundaryPolicy`
/// is wrong), so that clients comparing it to AWS's answers match.
fn boundary_json(arn: Option<&String>) -> Option<Value> {
    arn.map(|a| json!({"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": a}))
}

/// A user in the output form; `full` adds tags and the boundary (GetUser, CreateUser).
pub(crate) fn user_json(u: &UserRecord, full: bool) -> Value {
    let mut v = json!({
        "Path": u.path,
        "UserName": u.name,
        "UserId": u.id,
        "Arn": user_arn(&u.account_id, &u.path, &u.name),
        "CreateDate": u.created_at,
    });
    if let Some(at) = u.password_last_used {
        crate::services::set(&mut v, "PasswordLastUsed", json!(at));
    }
    if full {
        if let Some(b) = boundary_json(u.boundary.as_ref()) {
            crate::services::set(&mut v, "PermissionsBoundary", b);
        }
        if !u.tags.is_empty() {
            crate::services::set(&mut v, "Tags", tags_json(&u.tags));
        }
    }
    v
}

pub(crate) fn group_json(g: &GroupRecord) -> Value {
    json!({
        "Path": g.path,
        "GroupName": g.name,
        "GroupId": g.id,
        "Arn": group_arn(&g.account_id, &g.path, &g.name),
        "CreateDate": g.created_at,
    })
}

/// A role in the output form; `full` adds tags, boundary and last use (GetRole, CreateRole).
pub(crate) fn role_json(r: &RoleRecord, full: bool) -> Value {
    let mut v = json!({
        "Path": r.path,
        "RoleName": r.name,
        "RoleId": r.id,
        "Arn": role_arn(&r.account_id, &r.path, &r.name),
        "CreateDate": r.created_at,
        "AssumeRolePolicyDocument": encode_document(&r.trust_policy),
        "MaxSessionDuration": r.max_session_duration,
    });
    if let Some(d) = &r.description {
        crate::services::set(&mut v, "Description", json!(d));
    }
    if full {
        if let Some(b) = boundary_json(r.boundary.as_ref()) {
            crate::services::set(&mut v, "PermissionsBoundary", b);
        }
        if !r.tags.is_empty() {
            crate::services::set(&mut v, "Tags", tags_json(&r.tags));
        }
        crate::services::set(
            &mut v,
            "RoleLastUsed",
            match &r.last_used {
                Some((at, region)) => json!({"LastUsedDate": at, "Region": region}),
                None => json!({}),
            },
        );
    }
    v
}

/// An instance profile in the output form; `with_tags` adds its tags, which ListInstanceProfiles
/// leaves out (the model: listings return a subset of a resource's attributes, not its tags).
fn instance_profile_json(acct: &AccountIam, p: &InstanceProfileRecord, with_tags: bool) -> Value {
    let roles: Vec<Value> = p
        .roles
        .iter()
        .filter_map(|r| acct.role(r))
        .map(|r| role_json(r, false))
        .collect();
    let mut v = json!({
        "Path": p.path,
        "InstanceProfileName": p.name,
        "InstanceProfileId": p.id,
        "Arn": instance_profile_arn(&p.account_id, &p.path, &p.name),
        "CreateDate": p.created_at,
        "Roles": roles,
    });
    if with_tags && !p.tags.is_empty() {
        crate::services::set(&mut v, "Tags", tags_json(&p.tags));
    }
    v
}

/// Checks a new user's or role's boundary inside the transaction that creates it: checked
/// before, a DeletePolicy could run in between and leave the boundary naming no policy.
fn check_boundary_arn(tx: &Tx<'_>, arn: Option<&String>) -> Result<(), ApiError> {
    match arn {
        Some(arn) if !tx.attachable_policy(arn) => Err(super::policies::no_such_boundary(arn)),
        _ => Ok(()),
    }
}

// -- users ----------------------------------------------------------------------------------------

pub(crate) async fn create_user(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "UserName")?.to_owned();
    let path = path(input, "Path")?;
    let tags = tags(input);
    check_tags(&tags, Entity::User)?;
    let boundary = s(input, "PermissionsBoundary").map(str::to_owned);
    let account = cx.account.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            check_boundary_arn(tx, boundary.as_ref())?;
            if tx.account.user(&name).is_some() {
                return Err(already_exists(format!(
                    "User with name {name} already exists."
                )));
            }
            AccountQuota::Users.check(tx.account.users.len())?;
            let user = UserRecord {
                account_id: account,
                name,
                id: new_unique_id("AIDA"),
                path,
                created_at: now(),
                tags,
                inline: Default::default(),
                attached: vec![],
                groups: vec![],
                boundary,
                login: None,
                password_last_used: None,
                ssh_keys: vec![],
                signing_certificates: vec![],
                service_credentials: vec![],
            };
            let out = json!({"User": user_json(&user, true)});
            tx.insert_user(user);
            Ok(out)
        })
        .await
}

pub(crate) async fn get_user(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = match s(input, "UserName") {
        Some(n) => n,
        None => match cx.caller.user_name.as_deref() {
            Some(n) => n,
            None if cx.caller.kind == PrincipalKind::Root => {
                // The root user is no IAM user: AWS shows no UserName or Path for it, and its
                // creation date is the account's (Palisade has no root password, so there is
                // no PasswordLastUsed either).
                let created = root_created_at(cx).await?;
                return Ok(json!({"User": {
                    "UserId": cx.account,
                    "Arn": crate::identity::root_arn(cx.account),
                    "CreateDate": created,
                }}));
            }
            None => {
                return Err(validation(
                    "Must specify userName when calling with non-User credentials",
                ));
            }
        },
    };
    cx.state.iam.read_account(cx.account, |a| {
        a.user(name)
            .map(|u| json!({"User": user_json(u, true)}))
            .ok_or_else(|| no_such_user(name))
    })?
}

/// When the caller's account, and so its root user, was created (epoch seconds). An account the
/// store has not recorded (`--dev` serves any account id) is taken as created now.
pub(crate) async fn root_created_at(cx: &Cx<'_>) -> Result<i64, ApiError> {
    let created = cx
        .state
        .store
        .account_created_at(cx.account)
        .await
        .map_err(ApiError::internal)?;
    Ok(created.unwrap_or_else(now))
}

pub(crate) fn list_users(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let prefix = s(input, "PathPrefix").unwrap_or("/");
    let users: Vec<Value> = cx.state.iam.read_account(cx.account, |a| {
        a.users
            .values()
            .filter(|u| u.path.starts_with(prefix))
            .map(|u| user_json(u, false))
            .collect()
    })?;
    let (items, marker) = page_by(users, lowercase_member("UserName"), input)?;
    Ok(paged(json!({"Users": items}), marker))
}

pub(crate) async fn update_user(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "UserName")?.to_owned();
    let new_name = s(input, "NewUserName").map(str::to_owned);
    let new_path = match s(input, "NewPath") {
        Some(_) => Some(path(input, "NewPath")?),
        None => None,
    };
    // Held until the trust policies follow the new ARN, so that no other change to IAM sees
    // the user renamed while a trust policy still names the old ARN.
    let guard = cx.state.iam.lock_writes().await;
    let (old_arn, new_arn, final_name) = cx
        .state
        .iam
        .mutate_locked(cx.account, |tx| {
            let Some(user) = tx.account.user(&name).cloned() else {
                return Err(no_such_user(&name));
            };
            if let Some(n) = &new_name
                && !n.eq_ignore_ascii_case(&user.name)
                && tx.account.user(n).is_some()
            {
                return Err(already_exists(format!(
                    "User with name {n} already exists."
                )));
            }
            let old_arn = user_arn(&user.account_id, &user.path, &user.name);
            let mut updated = user.clone();
            if let Some(n) = &new_name {
                updated.name.clone_from(n);
            }
            if let Some(p) = &new_path {
                updated.path.clone_from(p);
            }
            let new_arn = user_arn(&updated.account_id, &updated.path, &updated.name);
            // MFA devices enabled for the user follow the new name.
            let serials: Vec<String> = tx
                .account
                .mfa
                .values()
                .filter(|d| d.user.as_deref() == Some(user.name.as_str()))
                .map(|d| d.serial.clone())
                .collect();
            for serial in serials {
                if let Some(d) = tx.mfa_mut(&serial) {
                    d.user = Some(updated.name.clone());
                }
            }
            let final_name = updated.name.clone();
            tx.remove_user(&user.name);
            tx.insert_user(updated);
            Ok((old_arn, new_arn, final_name))
        })
        .await?;
    if old_arn == new_arn {
        return Ok(json!({}));
    }
    // The user's access keys name the principal by ARN.
    let keys = cx
        .state
        .store
        .access_keys_of(cx.account, &old_arn)
        .await
        .map_err(ApiError::internal)?;
    for mut k in keys {
        k.principal_arn.clone_from(&new_arn);
        k.user_name = Some(final_name.clone());
        cx.state
            .store
            .put_access_key(&k)
            .await
            .map_err(ApiError::store_write)?;
        cx.state.keys.forget(&k.access_key_id);
    }
    // Policies that name the user as principal hold its unique id in AWS, and show its
    // current ARN: they follow the rename, so that the renamed user keeps the access they
    // give and a new user created under the old name does not inherit it.
    cx.state
        .iam
        .rename_principal_locked(&old_arn, &new_arn)
        .await?;
    drop(guard);
    crate::services::kms::rename_principal(cx.state, &old_arn, &new_arn).await?;
    crate::services::secretsmanager::replace_principal(cx.state, &old_arn, &new_arn).await?;
    Ok(json!({}))
}

/// Key policies, KMS grants and secret resource policies that named a deleted user or role name
/// its unique id from now on, as role trust policies do (after IAM's own lock is released: those services
/// take their own).
async fn orphan_elsewhere(cx: &Cx<'_>, arn: &str, id: &str) -> Result<(), ApiError> {
    crate::services::kms::orphan_principal(cx.state, arn, id).await?;
    crate::services::secretsmanager::replace_principal(cx.state, arn, id).await
}

pub(crate) async fn delete_user(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "UserName")?.to_owned();
    let found = cx.state.iam.read_account(cx.account, |a| {
        a.user(&name)
            .map(|u| (user_arn(&u.account_id, &u.path, &u.name), u.id.clone()))
    })?;
    let Some((arn, id)) = found else {
        return Err(no_such_user(&name));
    };
    let _guard = cx.state.iam.lock_writes().await;
    let keys = cx
        .state
        .store
        .access_keys_of(cx.account, &arn)
        .await
        .map_err(ApiError::internal)?;
    cx.state
        .iam
        .mutate_locked(cx.account, |tx| {
            let Some(user) = tx.account.user(&name) else {
                return Err(no_such_user(&name));
            };
            let conflict = if !user.inline.is_empty() {
                Some("Cannot delete entity, must delete policies first.")
            } else if !user.attached.is_empty() {
                Some("Cannot delete entity, must detach all policies first.")
            } else if !keys.is_empty() {
                Some("Cannot delete entity, must delete access keys first.")
            } else if user.login.is_some() {
                Some("Cannot delete entity, must delete login profile first.")
            } else if tx
                .account
                .mfa
                .values()
                .any(|d| d.user.as_deref() == Some(user.name.as_str()))
            {
                Some("Cannot delete entity, must delete MFA device first.")
            } else if !user.signing_certificates.is_empty() {
                Some("Cannot delete entity, must delete signing certificates first.")
            } else if !user.ssh_keys.is_empty() {
                Some("Cannot delete entity, must delete SSH public keys first.")
            } else if !user.service_credentials.is_empty() {
                Some("Cannot delete entity, must delete service specific credentials first.")
            } else if !user.groups.is_empty() {
                // AWS leaves group membership to the caller too.
                Some("Cannot delete entity, must remove users from group first.")
            } else {
                None
            };
            if let Some(message) = conflict {
                return Err(delete_conflict(message));
            }
            tx.remove_user(&name);
            Ok(json!({}))
        })
        .await?;
    cx.state.iam.orphan_principal_locked(&arn, &id).await?;
    drop(_guard);
    orphan_elsewhere(cx, &arn, &id).await?;
    Ok(json!({}))
}

// -- groups ---------------------------------------------------------------------------------------

pub(crate) async fn create_group(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "GroupName")?.to_owned();
    let path = path(input, "Path")?;
    let account = cx.account.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx.account.group(&name).is_some() {
                return Err(already_exists(format!(
                    "Group with name {name} already exists."
                )));
            }
            AccountQuota::Groups.check(tx.account.groups.len())?;
            let group = GroupRecord {
                account_id: account,
                name,
                id: new_unique_id("AGPA"),
                path,
                created_at: now(),
                inline: Default::default(),
                attached: vec![],
            };
            let out = json!({"Group": group_json(&group)});
            tx.insert_group(group);
            Ok(out)
        })
        .await
}

pub(crate) fn get_group(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "GroupName")?;
    let (group, users) = cx.state.iam.read_account(cx.account, |a| {
        let group = a.group(name).ok_or_else(|| no_such_group(name))?;
        let users: Vec<Value> = a
            .users
            .values()
            .filter(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(&group.name)))
            .map(|u| user_json(u, false))
            .collect();
        Ok::<_, ApiError>((group_json(group), users))
    })??;
    let (items, marker) = page_by(users, lowercase_member("UserName"), input)?;
    Ok(paged(json!({"Group": group, "Users": items}), marker))
}

pub(crate) fn list_groups(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let prefix = s(input, "PathPrefix").unwrap_or("/");
    let groups: Vec<Value> = cx.state.iam.read_account(cx.account, |a| {
        a.groups
            .values()
            .filter(|g| g.path.starts_with(prefix))
            .map(group_json)
            .collect()
    })?;
    let (items, marker) = page_by(groups, lowercase_member("GroupName"), input)?;
    Ok(paged(json!({"Groups": items}), marker))
}

pub(crate) async fn update_group(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "GroupName")?.to_owned();
    let new_name = s(input, "NewGroupName").map(str::to_owned);
    let new_path = match s(input, "NewPath") {
        Some(_) => Some(path(input, "NewPath")?),
        None => None,
    };
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(group) = tx.account.group(&name).cloned() else {
                return Err(no_such_group(&name));
            };
            if let Some(n) = &new_name
                && !n.eq_ignore_ascii_case(&group.name)
                && tx.account.group(n).is_some()
            {
                return Err(already_exists(format!(
                    "Group with name {n} already exists."
                )));
            }
            let mut updated = group.clone();
            if let Some(n) = &new_name {
                updated.name.clone_from(n);
                let members: Vec<String> = tx
                    .account
                    .users
                    .values()
                    .filter(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(&group.name)))
                    .map(|u| u.name.clone())
                    .collect();
                for m in members {
                    if let Some(u) = tx.user_mut(&m) {
                        for g in &mut u.groups {
                            if g.eq_ignore_ascii_case(&group.name) {
                                g.clone_from(n);
                            }
                        }
                    }
                }
            }
            if let Some(p) = &new_path {
                updated.path.clone_from(p);
            }
            tx.remove_group(&group.name);
            tx.insert_group(updated);
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn delete_group(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "GroupName")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(group) = tx.account.group(&name) else {
                return Err(no_such_group(&name));
            };
            if tx
                .account
                .users
                .values()
                .any(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(&group.name)))
            {
                return Err(delete_conflict(
                    "Cannot delete entity, must remove users from group first.",
                ));
            }
            if !group.inline.is_empty() {
                return Err(delete_conflict(
                    "Cannot delete entity, must delete policies first.",
                ));
            }
            if !group.attached.is_empty() {
                return Err(delete_conflict(
                    "Cannot delete entity, must detach all policies first.",
                ));
            }
            tx.remove_group(&name);
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn add_user_to_group(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let group = req(input, "GroupName")?.to_owned();
    let user = req(input, "UserName")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(g) = tx.account.group(&group).map(|g| g.name.clone()) else {
                return Err(no_such_group(&group));
            };
            let Some(u) = tx.user_mut(&user) else {
                return Err(no_such_user(&user));
            };
            if !u.groups.iter().any(|x| x.eq_ignore_ascii_case(&g)) {
                if u.groups.len() >= 10 {
                    return Err(super::limit_exceeded(
                        "Cannot exceed quota for GroupsPerUser: 10",
                    ));
                }
                u.groups.push(g);
            }
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn remove_user_from_group(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let group = req(input, "GroupName")?.to_owned();
    let user = req(input, "UserName")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx.account.group(&group).is_none() {
                return Err(no_such_group(&group));
            }
            let Some(u) = tx.account.user(&user) else {
                return Err(no_such_user(&user));
            };
            if !u.groups.iter().any(|x| x.eq_ignore_ascii_case(&group)) {
                return Err(no_such_entity(format!(
                    "User {user} is not in group {group}"
                )));
            }
            if let Some(u) = tx.user_mut(&user) {
                u.groups.retain(|x| !x.eq_ignore_ascii_case(&group));
            }
            Ok(json!({}))
        })
        .await
}

pub(crate) fn list_groups_for_user(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let user = req(input, "UserName")?;
    let groups = cx.state.iam.read_account(cx.account, |a| {
        let u = a.user(user).ok_or_else(|| no_such_user(user))?;
        Ok::<_, ApiError>(
            u.groups
                .iter()
                .filter_map(|g| a.group(g))
                .map(group_json)
                .collect::<Vec<_>>(),
        )
    })??;
    let (items, marker) = page_by(groups, lowercase_member("GroupName"), input)?;
    Ok(paged(json!({"Groups": items}), marker))
}

// -- roles ----------------------------------------------------------------------------------------

fn check_session_duration(d: i64) -> Result<(), ApiError> {
    if !(3600..=43200).contains(&d) {
        return Err(validation(format!(
            "1 validation error detected: Value '{d}' at 'maxSessionDuration' failed to satisfy \
             constraint: Member must have value {} to {}",
            if d < 3600 {
                "greater than or equal"
            } else {
                "less than or equal"
            },
            if d < 3600 { 3600 } else { 43200 }
        )));
    }
    Ok(())
}

pub(crate) async fn create_role(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "RoleName")?.to_owned();
    let path = path(input, "Path")?;
    if path.starts_with(SERVICE_ROLE_PATH) {
        return Err(invalid_input(format!(
            "Path prefix '{SERVICE_ROLE_PATH}' can only be used for AWS Service linked Roles"
        )));
    }
    let trust = req(input, "AssumeRolePolicyDocument")?.to_owned();
    // --dev stores any trust document, as moto does (its suites create roles with documents
    // like "some policy"); such a role cannot be assumed. Strict mode validates as IAM does.
    if !cx.state.config.dev {
        check_policy(&trust, PolicyKind::Trust)?;
        super::check_github_trust(&trust)?;
    }
    super::check_principals(cx, &trust)?;
    let max = super::int(input, "MaxSessionDuration").unwrap_or(3600);
    check_session_duration(max)?;
    let tags = tags(input);
    check_tags(&tags, Entity::Role)?;
    let boundary = s(input, "PermissionsBoundary").map(str::to_owned);
    let account = cx.account.to_owned();
    let description = s(input, "Description").map(str::to_owned);
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            check_boundary_arn(tx, boundary.as_ref())?;
            if tx.account.role(&name).is_some() {
                return Err(already_exists(format!(
                    "Role with name {name} already exists."
                )));
            }
            AccountQuota::Roles.check(tx.account.roles.len())?;
            let role = RoleRecord {
                account_id: account,
                name,
                id: new_unique_id("AROA"),
                path,
                created_at: now(),
                trust_policy: trust,
                description,
                max_session_duration: max,
                tags,
                inline: Default::default(),
                attached: vec![],
                boundary,
                last_used: None,
            };
            let mut out = role_json(&role, true);
            if let Some(map) = out.as_object_mut() {
                map.remove("RoleLastUsed");
            }
            tx.insert_role(role);
            Ok(json!({"Role": out}))
        })
        .await
}

/// Where service-linked roles live; AWS refuses this path to `CreateRole`, so a role under it
/// is one `CreateServiceLinkedRole` made.
const SERVICE_ROLE_PATH: &str = "/aws-service-role/";

/// The AWS-managed policy AWS attaches to a service's service-linked role, for the services
/// whose policy Palisade has.
fn service_role_policy(service: &str) -> Option<String> {
    let name = match service {
        "cloudtrail.amazonaws.com" => "CloudTrailServiceRolePolicy",
        _ => return None,
    };
    Some(format!(
        "arn:aws:iam::aws:policy{}{name}",
        super::policies::SERVICE_ROLE_POLICY_PATH
    ))
}

fn is_service_linked(role: &RoleRecord) -> bool {
    role.path.starts_with(SERVICE_ROLE_PATH)
}

/// Refuses the operations that would change or delete a service-linked role: its trust policy
/// and permissions are the service's, and a caller who could widen them (a trust policy of
/// `"AWS": "*"`, AdministratorAccess attached) could act as the service. Only its description
/// (and tags) may change, as in AWS.
pub(crate) fn refuse_service_linked(
    cx: &Cx<'_>,
    operation: &str,
    input: &Value,
) -> Result<(), ApiError> {
    let protected = match operation {
        "DeleteRole"
        | "UpdateAssumeRolePolicy"
        | "AttachRolePolicy"
        | "DetachRolePolicy"
        | "PutRolePolicy"
        | "DeleteRolePolicy"
        | "PutRolePermissionsBoundary"
        | "DeleteRolePermissionsBoundary" => true,
        "UpdateRole" => input.get("MaxSessionDuration").is_some(),
        _ => false,
    };
    let Some(name) = s(input, "RoleName").filter(|_| protected) else {
        return Ok(());
    };
    let linked = cx
        .state
        .iam
        .read_account(cx.account, |a| a.role(name).is_some_and(is_service_linked))?;
    if linked {
        return Err(super::unmodifiable_role(name));
    }
    Ok(())
}

/// The role name AWS gives a service's service-linked role, e.g. `AWSServiceRoleForAutoScaling`
/// for `autoscaling.amazonaws.com`, from AWS's table for the common services; otherwise the
/// service prefix as it is; `_suffix` appended when a custom suffix is given.
pub(crate) fn service_linked_role_name(service: &str, custom_suffix: Option<&str>) -> String {
    let name = service_role_base_name(service);
    match custom_suffix {
        Some(suffix) => format!("{name}_{suffix}"),
        None => name,
    }
}

fn service_role_base_name(service: &str) -> String {
    let prefix = service.strip_suffix(".amazonaws.com").unwrap_or(service);
    let suffix = match prefix {
        "autoscaling" => "AutoScaling",
        "elasticbeanstalk" => "ElasticBeanstalk",
        "custom-resource.application-autoscaling" => "ApplicationAutoScaling_CustomResource",
        "ecs.application-autoscaling" => "ApplicationAutoScaling_ECSService",
        "dynamodb.application-autoscaling" => "ApplicationAutoScaling_DynamoDBTable",
        "ecs" => "ECS",
        "rds" => "RDS",
        "elasticloadbalancing" => "ElasticLoadBalancing",
        "organizations" => "Organizations",
        "support" => "Support",
        "trustedadvisor" => "TrustedAdvisor",
        "sso" => "SSO",
        "config" => "Config",
        "guardduty" => "AmazonGuardDuty",
        "spot" => "EC2Spot",
        "eks" => "AmazonEKS",
        "kafka" => "Kafka",
        "lambda" => "Lambda",
        "secretsmanager" => "SecretsManager",
        "kms" => "KeyManagementService",
        "cloudtrail" => "CloudTrail",
        other => other.split('.').next().unwrap_or(other),
    };
    format!("AWSServiceRoleFor{suffix}")
}

pub(crate) async fn create_service_linked_role(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let service = req(input, "AWSServiceName")?.to_owned();
    if !service.ends_with(".amazonaws.com") {
        return Err(invalid_input(format!("Invalid service name: {service}")));
    }
    let name = service_linked_role_name(&service, s(input, "CustomSuffix"));
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
    })
    .to_string();
    let account = cx.account.to_owned();
    let description = s(input, "Description").map(str::to_owned);
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx.account.role(&name).is_some() {
                return Err(invalid_input(format!(
                    "Service role name {name} has been taken in this account, please try a \
                     different suffix."
                )));
            }
            AccountQuota::Roles.check(tx.account.roles.len())?;
            let role = RoleRecord {
                account_id: account,
                name,
                id: new_unique_id("AROA"),
                path: format!("/aws-service-role/{service}/"),
                created_at: now(),
                trust_policy: trust,
                description,
                max_session_duration: 3600,
                tags: vec![],
                inline: Default::default(),
                // The service's own policy, where Palisade knows it (bug: the role had none).
                attached: service_role_policy(&service).into_iter().collect(),
                boundary: None,
                last_used: None,
            };
            let out = role_json(&role, false);
            tx.insert_role(role);
            Ok(json!({"Role": out}))
        })
        .await
}

pub(crate) async fn delete_service_linked_role(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let name = req(input, "RoleName")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            // Only service-linked roles: an ordinary role is deleted by DeleteRole, which
            // checks what is still attached to it.
            if !tx.account.role(&name).is_some_and(is_service_linked) {
                return Err(no_such_entity(format!(
                    "The service-linked role with name {name} cannot be found."
                )));
            }
            let Some(role) = tx.remove_role(&name) else {
                return Err(no_such_role(&name));
            };
            // AWS's form: task/aws-service-role/<service principal>/<role name>/<uuid>.
            let id = format!("task{}{}/{}", role.path, role.name, uuid::Uuid::new_v4());
            Ok(json!({"DeletionTaskId": id}))
        })
        .await
}

/// `GetServiceLinkedRoleDeletionStatus`: deletions finish before DeleteServiceLinkedRole
/// answers, so every task it handed out has succeeded; an id it cannot have handed out is none.
pub(crate) fn deletion_status(input: &Value) -> Result<Value, ApiError> {
    let id = req(input, "DeletionTaskId")?;
    let ours = id
        .strip_prefix("task/aws-service-role/")
        .and_then(|rest| rest.rsplit_once('/'))
        .is_some_and(|(role, task)| !role.is_empty() && uuid::Uuid::parse_str(task).is_ok());
    if !ours {
        return Err(no_such_entity(format!(
            "Deletion task not found for id {id}."
        )));
    }
    Ok(json!({"Status": "SUCCEEDED"}))
}

pub(crate) fn get_role(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "RoleName")?;
    cx.state.iam.read_account(cx.account, |a| {
        a.role(name)
            .map(|r| json!({"Role": role_json(r, true)}))
            .ok_or_else(|| no_such_role(name))
    })?
}

pub(crate) fn list_roles(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let prefix = s(input, "PathPrefix").unwrap_or("/");
    let roles: Vec<Value> = cx.state.iam.read_account(cx.account, |a| {
        a.roles
            .values()
            .filter(|r| r.path.starts_with(prefix))
            .map(|r| role_json(r, false))
            .collect()
    })?;
    let (items, marker) = page_by(roles, lowercase_member("RoleName"), input)?;
    Ok(paged(json!({"Roles": items}), marker))
}

pub(crate) async fn update_role(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "RoleName")?.to_owned();
    let description = s(input, "Description").map(str::to_owned);
    let max = super::int(input, "MaxSessionDuration");
    if let Some(m) = max {
        check_session_duration(m)?;
    }
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(r) = tx.role_mut(&name) else {
                return Err(no_such_role(&name));
            };
            if description.is_some() {
                r.description = description;
            }
            if let Some(m) = max {
                r.max_session_duration = m;
            }
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn update_role_description(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "RoleName")?.to_owned();
    let description = req(input, "Description")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(r) = tx.role_mut(&name) else {
                return Err(no_such_role(&name));
            };
            r.description = Some(description);
            Ok(json!({"Role": role_json(r, true)}))
        })
        .await
}

pub(crate) async fn update_assume_role_policy(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let name = req(input, "RoleName")?.to_owned();
    let doc = req(input, "PolicyDocument")?.to_owned();
    check_policy(&doc, PolicyKind::Trust)?;
    super::check_github_trust(&doc)?;
    super::check_principals(cx, &doc)?;
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(r) = tx.role_mut(&name) else {
                return Err(no_such_role(&name));
            };
            r.trust_policy = doc;
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn delete_role(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "RoleName")?.to_owned();
    let _guard = cx.state.iam.lock_writes().await;
    let (arn, id) = cx
        .state
        .iam
        .mutate_locked(cx.account, |tx| {
            let Some(role) = tx.account.role(&name) else {
                return Err(no_such_role(&name));
            };
            let gone = (
                crate::iam::role_arn(&role.account_id, &role.path, &role.name),
                role.id.clone(),
            );
            if tx
                .account
                .instance_profiles
                .values()
                .any(|p| p.roles.iter().any(|r| r.eq_ignore_ascii_case(&role.name)))
            {
                return Err(delete_conflict(
                    "Cannot delete entity, must remove roles from instance profile first.",
                ));
            }
            if !role.attached.is_empty() {
                return Err(delete_conflict(
                    "Cannot delete entity, must detach all policies first.",
                ));
            }
            if !role.inline.is_empty() {
                return Err(delete_conflict(
                    "Cannot delete entity, must delete policies first.",
                ));
            }
            tx.remove_role(&name);
            Ok(gone)
        })
        .await?;
    cx.state.iam.orphan_principal_locked(&arn, &id).await?;
    drop(_guard);
    orphan_elsewhere(cx, &arn, &id).await?;
    Ok(json!({}))
}

// -- instance profiles ----------------------------------------------------------------------------

fn no_such_instance_profile(name: &str) -> ApiError {
    no_such_entity(format!("Instance Profile {name} cannot be found."))
}

pub(crate) async fn create_instance_profile(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "InstanceProfileName")?.to_owned();
    let path = path(input, "Path")?;
    let tags = tags(input);
    check_tags(&tags, Entity::InstanceProfile)?;
    let account = cx.account.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx
                .account
                .instance_profiles
                .contains_key(&name.to_lowercase())
            {
                return Err(already_exists(format!(
                    "Instance Profile {name} already exists."
                )));
            }
            AccountQuota::InstanceProfiles.check(tx.account.instance_profiles.len())?;
            let p = InstanceProfileRecord {
                account_id: account,
                name,
                id: new_unique_id("AIPA"),
                path,
                created_at: now(),
                roles: vec![],
                tags,
            };
            let out = json!({"InstanceProfile": instance_profile_json(tx.account, &p, true)});
            tx.insert_instance_profile(p);
            Ok(out)
        })
        .await
}

pub(crate) fn get_instance_profile(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "InstanceProfileName")?;
    cx.state.iam.read_account(cx.account, |a| {
        a.instance_profiles
            .get(&name.to_lowercase())
            .map(|p| json!({"InstanceProfile": instance_profile_json(a, p, true)}))
            .ok_or_else(|| no_such_instance_profile(name))
    })?
}

pub(crate) fn list_instance_profiles(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let prefix = s(input, "PathPrefix").unwrap_or("/");
    let all: Vec<Value> = cx.state.iam.read_account(cx.account, |a| {
        a.instance_profiles
            .values()
            .filter(|p| p.path.starts_with(prefix))
            .map(|p| instance_profile_json(a, p, false))
            .collect()
    })?;
    let (items, marker) = page_by(all, lowercase_member("InstanceProfileName"), input)?;
    Ok(paged(json!({"InstanceProfiles": items}), marker))
}

pub(crate) fn list_instance_profiles_for_role(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let role = req(input, "RoleName")?;
    let all = cx.state.iam.read_account(cx.account, |a| {
        if a.role(role).is_none() {
            return Err(no_such_role(role));
        }
        Ok(a.instance_profiles
            .values()
            .filter(|p| p.roles.iter().any(|r| r.eq_ignore_ascii_case(role)))
            .map(|p| instance_profile_json(a, p, true))
            .collect::<Vec<_>>())
    })??;
    let (items, marker) = page_by(all, lowercase_member("InstanceProfileName"), input)?;
    Ok(paged(json!({"InstanceProfiles": items}), marker))
}

pub(crate) async fn delete_instance_profile(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "InstanceProfileName")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(p) = tx.account.instance_profiles.get(&name.to_lowercase()) else {
                return Err(no_such_instance_profile(&name));
            };
            if !p.roles.is_empty() {
                return Err(delete_conflict(
                    "Cannot delete entity, must remove roles from instance profile first.",
                ));
            }
            tx.remove_instance_profile(&name);
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn add_role_to_instance_profile(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let name = req(input, "InstanceProfileName")?.to_owned();
    let role = req(input, "RoleName")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(role_name) = tx.account.role(&role).map(|r| r.name.clone()) else {
                return Err(no_such_role(&role));
            };
            let Some(p) = tx.instance_profile_mut(&name) else {
                return Err(no_such_instance_profile(&name));
            };
            if !p.roles.is_empty() {
                return Err(super::limit_exceeded(
                    "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1",
                ));
            }
            p.roles.push(role_name);
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn remove_role_from_instance_profile(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let name = req(input, "InstanceProfileName")?.to_owned();
    let role = req(input, "RoleName")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx.account.role(&role).is_none() {
                return Err(no_such_role(&role));
            }
            let Some(p) = tx.instance_profile_mut(&name) else {
                return Err(no_such_instance_profile(&name));
            };
            p.roles.retain(|r| !r.eq_ignore_ascii_case(&role));
            Ok(json!({}))
        })
        .await
}

// -- tags -----------------------------------------------------------------------------------------

fn entity_tags<'a>(
    tx: &'a mut crate::iam::Tx<'_>,
    entity: Entity,
    key: &str,
) -> Option<&'a mut Vec<TagRecord>> {
    match entity {
        Entity::User => tx.user_mut(key).map(|r| &mut r.tags),
        Entity::Role => tx.role_mut(key).map(|r| &mut r.tags),
        Entity::Policy => tx.policy_mut(key).map(|r| &mut r.tags),
        Entity::InstanceProfile => tx.instance_profile_mut(key).map(|r| &mut r.tags),
        Entity::MfaDevice => tx.mfa_mut(key).map(|r| &mut r.tags),
        Entity::OidcProvider | Entity::SamlProvider => {
            let protocol = provider_protocol(entity);
            let found = tx
                .account
                .providers
                .get(key)
                .map(|p| p.protocol == protocol);
            if found != Some(true) {
                return None;
            }
            tx.provider_mut(key).map(|r| &mut r.tags)
        }
        Entity::ServerCertificate => tx.server_certificate_mut(key).map(|r| &mut r.tags),
        Entity::Group => None,
    }
}

/// The `protocol` of the providers an entity names.
fn provider_protocol(entity: Entity) -> &'static str {
    if entity == Entity::SamlProvider {
        "saml"
    } else {
        "oidc"
    }
}

fn no_such(entity: Entity, key: &str) -> ApiError {
    match entity {
        Entity::User => no_such_user(key),
        Entity::Role => no_such_role(key),
        Entity::Group => no_such_group(key),
        Entity::Policy => no_such_entity(format!("Policy {key} was not found.")),
        Entity::InstanceProfile => no_such_instance_profile(key),
        Entity::MfaDevice => no_such_entity(format!("{} {key} cannot be found.", entity.noun())),
        Entity::OidcProvider | Entity::SamlProvider => {
            no_such_entity(format!("{} not found for arn {key}", entity.noun()))
        }
        Entity::ServerCertificate => no_such_entity(format!(
            "The Server Certificate with name {key} cannot be found."
        )),
    }
}

pub(crate) async fn tag(cx: &Cx<'_>, input: &Value, entity: Entity) -> Result<Value, ApiError> {
    let key = req(input, entity.name_member())?.to_owned();
    let new = tags(input);
    check_tags(&new, entity)?;
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(current) = entity_tags(tx, entity, &key) else {
                return Err(no_such(entity, &key));
            };
            let mut merged = current.clone();
            merge_tags(&mut merged, new, entity);
            // The request's own tags passed: more than 50 now is the resource's limit.
            if merged.len() > 50 {
                return Err(super::limit_exceeded(
                    "The number of tags has reached the maximum limit.",
                ));
            }
            *current = merged;
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn untag(cx: &Cx<'_>, input: &Value, entity: Entity) -> Result<Value, ApiError> {
    let key = req(input, entity.name_member())?.to_owned();
    let remove = strings(input, "TagKeys");
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(current) = entity_tags(tx, entity, &key) else {
                return Err(no_such(entity, &key));
            };
            current.retain(|t| !remove.iter().any(|k| entity.same_tag_key(k, &t.key)));
            Ok(json!({}))
        })
        .await
}

pub(crate) fn list_tags(cx: &Cx<'_>, input: &Value, entity: Entity) -> Result<Value, ApiError> {
    let key = req(input, entity.name_member())?;
    let found = cx.state.iam.read_account(cx.account, |a| match entity {
        Entity::User => a.user(key).map(|r| r.tags.clone()),
        Entity::Role => a.role(key).map(|r| r.tags.clone()),
        Entity::Policy => a.policies.get(key).map(|r| r.tags.clone()),
        Entity::InstanceProfile => a
            .instance_profiles
            .get(&key.to_lowercase())
            .map(|r| r.tags.clone()),
        Entity::MfaDevice => a.mfa.get(key).map(|r| r.tags.clone()),
        Entity::OidcProvider | Entity::SamlProvider => a
            .providers
            .get(key)
            .filter(|p| p.protocol == provider_protocol(entity))
            .map(|r| r.tags.clone()),
        Entity::ServerCertificate => a
            .server_certificates
            .get(&key.to_lowercase())
            .map(|r| r.tags.clone()),
        Entity::Group => None,
    })?;
    let Some(found) = found else {
        return Err(no_such(entity, key));
    };
    let (items, marker) = page_by(found, |t| Some(t.key.clone()), input)?;
    Ok(paged(json!({"Tags": tags_json(&items)}), marker))
}
