//! Managed policies and their versions, attachments, inline policies and permissions
//! boundaries.

use std::collections::BTreeMap;

use palisade_policy::{PolicyKind, policy_size};
use palisade_store::{ManagedPolicyRecord, PolicyVersionRecord};
use serde_json::{Value, json};

use super::account::AccountQuota;
use super::{
    Cx, Entity, already_exists, boolean, check_policy, check_tags, delete_conflict,
    encode_document, invalid_input, limit_exceeded, no_such_entity, no_such_group, no_such_role,
    no_such_user, now, page_by, paged, path, req, s, tags, tags_json,
};
use crate::error::ApiError;
use crate::iam::managed::{self, AwsPolicy};
use crate::iam::{AccountIam, IamData, PolicyRef, Tx, policy_arn};
use crate::identity::new_unique_id;
use crate::services::paging::member;

/// How many managed policies an entity may have attached (AWS's default quota).
const MAX_ATTACHED: usize = 10;
/// How many versions a managed policy keeps.
const MAX_VERSIONS: usize = 5;

fn usage(acct: Option<&AccountIam>, arn: &str) -> (usize, usize) {
    let Some(a) = acct else { return (0, 0) };
    let has = |list: &Vec<String>| list.iter().any(|x| x == arn);
    let attached = a.users.values().filter(|u| has(&u.attached)).count()
        + a.groups.values().filter(|g| has(&g.attached)).count()
        + a.roles.values().filter(|r| has(&r.attached)).count();
    let boundary = a
        .users
        .values()
        .filter(|u| u.boundary.as_deref() == Some(arn))
        .count()
        + a.roles
            .values()
            .filter(|r| r.boundary.as_deref() == Some(arn))
            .count();
    (attached, boundary)
}

/// Which operation a managed policy is shown by: AWS returns a different subset of the policy's
/// attributes from each (CreatePolicy leaves out the description, GetPolicy always has the tag
/// list, ListPolicies has neither, GetAccountAuthorizationDetails has no tags in its shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicyView {
    Create,
    Get,
    List,
    Details,
}

impl PolicyView {
    fn shows_description(self) -> bool {
        matches!(self, Self::Get | Self::Details)
    }

    fn shows_tags(self, has_tags: bool) -> bool {
        match self {
            Self::Get => true,
            Self::Create => has_tags,
            Self::List | Self::Details => false,
        }
    }
}

pub(crate) fn customer_policy_json(
    p: &ManagedPolicyRecord,
    acct: Option<&AccountIam>,
    view: PolicyView,
) -> Value {
    let (attached, boundary) = usage(acct, &p.arn);
    let mut v = json!({
        "PolicyName": p.name,
        "PolicyId": p.id,
        "Arn": p.arn,
        "Path": p.path,
        "DefaultVersionId": p.default_version,
        "AttachmentCount": attached,
        "PermissionsBoundaryUsageCount": boundary,
        "IsAttachable": true,
        "CreateDate": p.created_at,
        "UpdateDate": p.updated_at,
    });
    if let Some(d) = p.description.as_ref().filter(|_| view.shows_description()) {
        crate::services::set(&mut v, "Description", json!(d));
    }
    if view.shows_tags(!p.tags.is_empty()) {
        crate::services::set(&mut v, "Tags", tags_json(&p.tags));
    }
    v
}

pub(crate) fn aws_policy_json(p: &AwsPolicy, acct: Option<&AccountIam>, view: PolicyView) -> Value {
    let arn = p.arn();
    let (attached, boundary) = usage(acct, &arn);
    let mut v = json!({
        "PolicyName": p.name,
        "PolicyId": p.id,
        "Arn": arn,
        "Path": p.path,
        "DefaultVersionId": p.version,
        "AttachmentCount": attached,
        "PermissionsBoundaryUsageCount": boundary,
        "IsAttachable": !crate::iam::managed::is_deprecated(p),
        "CreateDate": p.created,
        "UpdateDate": p.updated,
    });
    if view.shows_description() {
        crate::services::set(&mut v, "Description", json!(p.description));
    }
    if view.shows_tags(false) {
        crate::services::set(&mut v, "Tags", json!([]));
    }
    v
}

fn policy_ref_json(p: PolicyRef<'_>, acct: Option<&AccountIam>, view: PolicyView) -> Value {
    match p {
        PolicyRef::Aws(a) => aws_policy_json(a, acct, view),
        PolicyRef::Customer(c) => customer_policy_json(c, acct, view),
    }
}

fn not_attachable(arn: &str) -> ApiError {
    no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
}

/// The error for a permissions boundary that names no policy the account can use, as IAM
/// words it for CreateUser, CreateRole and Put*PermissionsBoundary alike.
pub(super) fn no_such_boundary(arn: &str) -> ApiError {
    no_such_entity(format!(
        "Scope ARN: {arn} does not exist or is not attachable."
    ))
}

/// The error for a policy ARN that names no policy: InvalidInput when it is not a managed
/// policy's ARN at all, as IAM answers (`ARN bogus is not valid.`).
fn no_such_policy(arn: &str) -> ApiError {
    let well_formed = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(":policy/"))
        .is_some_and(|(account, name)| {
            !name.is_empty()
                && (account == "aws"
                    || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
        });
    if !well_formed {
        return invalid_input(format!("ARN {arn} is not valid."));
    }
    no_such_entity(format!("Policy {arn} was not found."))
}

pub(crate) async fn create_policy(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "PolicyName")?.to_owned();
    let path = path(input, "Path")?;
    let doc = req(input, "PolicyDocument")?.to_owned();
    check_policy(&doc, PolicyKind::Identity)?;
    let tags = tags(input);
    check_tags(&tags, Entity::Policy)?;
    let description = s(input, "Description").map(str::to_owned);
    let account = cx.account.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx
                .account
                .policies
                .values()
                .any(|p| p.name.eq_ignore_ascii_case(&name))
            {
                return Err(already_exists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            AccountQuota::Policies.check(tx.account.policies.len())?;
            let t = now();
            let record = ManagedPolicyRecord {
                arn: policy_arn(&account, &path, &name),
                account_id: account,
                name,
                id: new_unique_id("ANPA"),
                path,
                description,
                created_at: t,
                updated_at: t,
                default_version: "v1".to_owned(),
                versions: vec![PolicyVersionRecord {
                    version_id: "v1".to_owned(),
                    document: doc,
                    created_at: t,
                }],
                next_version: 2,
                tags,
            };
            let out = json!({"Policy": customer_policy_json(&record, None, PolicyView::Create)});
            tx.insert_policy(record);
            Ok(out)
        })
        .await
}

pub(crate) fn get_policy(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "PolicyArn")?;
    cx.state.iam.read(|d| {
        d.managed_policy(arn)
            .map(|p| json!({"Policy": policy_ref_json(p, d.account(cx.account), PolicyView::Get)}))
            .ok_or_else(|| no_such_policy(arn))
    })?
}

pub(crate) fn list_policies(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let scope = s(input, "Scope").unwrap_or("All");
    let only_attached = boolean(input, "OnlyAttached").unwrap_or(false);
    let usage_filter = s(input, "PolicyUsageFilter");
    let prefix = s(input, "PathPrefix").unwrap_or("/");
    // PolicyUsageFilter lists the policies used that way: attached as permissions policies
    // (AttachmentCount), or used as permissions boundaries (PermissionsBoundaryUsageCount);
    // OnlyAttached alone, the policies attached as permissions policies.
    let listed = |acct: Option<&AccountIam>, arn: &str| {
        let (attached, boundary) = usage(acct, arn);
        match usage_filter {
            Some("PermissionsBoundary") => boundary > 0,
            Some(_) => attached > 0,
            None => !only_attached || attached > 0,
        }
    };
    let all: Vec<Value> = cx.state.iam.read(|d| {
        let acct = d.account(cx.account);
        let mut out = Vec::new();
        if scope != "Local" {
            for p in managed::POLICIES {
                if p.path.starts_with(prefix) && listed(acct, &p.arn()) {
                    out.push(aws_policy_json(p, acct, PolicyView::List));
                }
            }
        }
        if scope != "AWS"
            && let Some(a) = acct
        {
            for p in a.policies.values() {
                if p.path.starts_with(prefix) && listed(acct, &p.arn) {
                    out.push(customer_policy_json(p, acct, PolicyView::List));
                }
            }
        }
        out
    })?;
    let (items, marker) = page_by(all, member("Arn"), input)?;
    Ok(paged(json!({"Policies": items}), marker))
}

pub(crate) async fn delete_policy(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "PolicyArn")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(p) = tx.account.policies.get(&arn) else {
                return Err(no_such_policy(&arn));
            };
            let (attached, boundary) = usage(Some(tx.account), &arn);
            if attached > 0 || boundary > 0 {
                return Err(delete_conflict(
                    "Cannot delete a policy attached to entities.",
                ));
            }
            if p.versions.len() > 1 {
                return Err(delete_conflict(
                    "This policy has more than one version. Before you delete a policy, you \
                     must delete the policy's versions. The default version is deleted with the \
                     policy.",
                ));
            }
            tx.remove_policy(&arn);
            Ok(json!({}))
        })
        .await
}

fn version_json(p: &ManagedPolicyRecord, v: &PolicyVersionRecord, with_document: bool) -> Value {
    let mut out = json!({
        "VersionId": v.version_id,
        "IsDefaultVersion": v.version_id == p.default_version,
        "CreateDate": v.created_at,
    });
    if with_document {
        crate::services::set(&mut out, "Document", json!(encode_document(&v.document)));
    }
    out
}

pub(crate) async fn create_policy_version(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "PolicyArn")?.to_owned();
    let doc = req(input, "PolicyDocument")?.to_owned();
    check_policy(&doc, PolicyKind::Identity)?;
    let set_default = boolean(input, "SetAsDefault").unwrap_or(false);
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(p) = tx.policy_mut(&arn) else {
                return Err(no_such_policy(&arn));
            };
            if p.versions.len() >= MAX_VERSIONS {
                return Err(limit_exceeded(
                    "A managed policy can have up to 5 versions. Before you create a new \
                     version, you must delete an existing version.",
                ));
            }
            let t = now();
            let version = PolicyVersionRecord {
                version_id: format!("v{}", p.next_version),
                document: doc,
                created_at: t,
            };
            p.next_version = p.next_version.saturating_add(1);
            if set_default {
                p.default_version.clone_from(&version.version_id);
            }
            // The model: with several versions, UpdateDate is when the newest was created,
            // whether or not it is the default.
            p.updated_at = t;
            // CreatePolicyVersion and ListPolicyVersions return no Document (the model's
            // documentation of PolicyVersion.Document); GetPolicyVersion does.
            let out = json!({"PolicyVersion": version_json(p, &version, false)});
            p.versions.push(version);
            Ok(out)
        })
        .await
}

pub(crate) fn get_policy_version(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "PolicyArn")?;
    let version = req(input, "VersionId")?;
    cx.state.iam.read(|d| match d.managed_policy(arn) {
        Some(PolicyRef::Aws(p)) if p.version == version => Ok(json!({"PolicyVersion": {
            "Document": encode_document(p.document),
            "VersionId": p.version,
            "IsDefaultVersion": true,
            "CreateDate": p.updated,
        }})),
        Some(PolicyRef::Customer(p)) => p
            .versions
            .iter()
            .find(|v| v.version_id == version)
            .map(|v| json!({"PolicyVersion": version_json(p, v, true)}))
            .ok_or_else(|| {
                no_such_entity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                ))
            }),
        _ => Err(no_such_entity(format!(
            "Policy {arn} version {version} does not exist or is not attachable."
        ))),
    })?
}

pub(crate) fn list_policy_versions(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "PolicyArn")?;
    let versions = cx.state.iam.read(|d| match d.managed_policy(arn) {
        Some(PolicyRef::Aws(p)) => Ok(vec![json!({
            "VersionId": p.version,
            "IsDefaultVersion": true,
            "CreateDate": p.updated,
        })]),
        Some(PolicyRef::Customer(p)) => Ok(p
            .versions
            .iter()
            .rev()
            .map(|v| version_json(p, v, false))
            .collect()),
        None => Err(no_such_policy(arn)),
    })??;
    // Newest first, keyed by the version's number (zero-padded, so that the keys descend as
    // the list does): a client deleting versions as it pages skips none.
    let (items, marker) = page_by(versions, version_key, input)?;
    Ok(paged(json!({"Versions": items}), marker))
}

/// The paging key of a listed policy version: its number, zero-padded (`v12` → `0000000012`).
fn version_key(v: &Value) -> Option<String> {
    let number: u64 = v
        .get("VersionId")
        .and_then(Value::as_str)?
        .strip_prefix('v')?
        .parse()
        .ok()?;
    Some(format!("{number:010}"))
}

/// The paging key of an entity ListEntitiesForPolicy lists: its list (users, groups, roles, in
/// that order) and its lower-cased name.
fn entity_key((list, v): &(&str, Value)) -> Option<String> {
    let (rank, member) = match *list {
        "PolicyUsers" => (0, "UserName"),
        "PolicyGroups" => (1, "GroupName"),
        _ => (2, "RoleName"),
    };
    let name = v.get(member).and_then(Value::as_str)?;
    Some(format!("{rank}/{}", name.to_lowercase()))
}

pub(crate) async fn delete_policy_version(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "PolicyArn")?.to_owned();
    let version = req(input, "VersionId")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(p) = tx.account.policies.get(&arn) else {
                return Err(no_such_policy(&arn));
            };
            if !p.versions.iter().any(|v| v.version_id == version) {
                return Err(no_such_entity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                )));
            }
            if p.default_version == version {
                return Err(delete_conflict(
                    "Cannot delete the default version of a policy.",
                ));
            }
            if let Some(p) = tx.policy_mut(&arn) {
                p.versions.retain(|v| v.version_id != version);
            }
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn set_default_policy_version(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let arn = req(input, "PolicyArn")?.to_owned();
    let version = req(input, "VersionId")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let Some(p) = tx.policy_mut(&arn) else {
                return Err(no_such_policy(&arn));
            };
            if !p.versions.iter().any(|v| v.version_id == version) {
                return Err(no_such_entity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                )));
            }
            p.default_version = version;
            p.updated_at = now();
            Ok(json!({}))
        })
        .await
}

pub(crate) fn list_entities_for_policy(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "PolicyArn")?;
    let filter = s(input, "EntityFilter");
    let usage_filter = s(input, "PolicyUsageFilter");
    let as_policy = usage_filter.is_none_or(|u| u == "PermissionsPolicy");
    let as_boundary = usage_filter.is_none_or(|u| u == "PermissionsBoundary");
    cx.state.iam.read(|d| {
        let Some(policy) = d.managed_policy(arn) else {
            return Err(no_such_policy(arn));
        };
        // The two policy-kind filters select every entity type when the policy is of that kind
        // and none otherwise: they filter on the policy, not on the entities.
        let aws_managed = matches!(policy, PolicyRef::Aws(_));
        let want = |f: &str| match filter {
            None => true,
            Some("LocalManagedPolicy") => !aws_managed,
            Some("AWSManagedPolicy") => aws_managed,
            Some(x) => x == f,
        };
        // One list, users then groups then roles, so that MaxItems and Marker page across
        // all three as IAM does.
        let prefix = s(input, "PathPrefix").unwrap_or("/");
        let mut entities: Vec<(&str, Value)> = Vec::new();
        if let Some(a) = d.account(cx.account) {
            let uses = |attached: &Vec<String>, boundary: Option<&String>| {
                (as_policy && attached.iter().any(|x| x == arn))
                    || (as_boundary && boundary.is_some_and(|b| b == arn))
            };
            if want("User") {
                entities.extend(
                    a.users
                        .values()
                        .filter(|u| u.path.starts_with(prefix))
                        .filter(|u| uses(&u.attached, u.boundary.as_ref()))
                        .map(|u| ("PolicyUsers", json!({"UserName": u.name, "UserId": u.id}))),
                );
            }
            if want("Group") {
                entities.extend(
                    a.groups
                        .values()
                        .filter(|g| g.path.starts_with(prefix))
                        .filter(|g| uses(&g.attached, None))
                        .map(|g| {
                            (
                                "PolicyGroups",
                                json!({"GroupName": g.name, "GroupId": g.id}),
                            )
                        }),
                );
            }
            if want("Role") {
                entities.extend(
                    a.roles
                        .values()
                        .filter(|r| r.path.starts_with(prefix))
                        .filter(|r| uses(&r.attached, r.boundary.as_ref()))
                        .map(|r| ("PolicyRoles", json!({"RoleName": r.name, "RoleId": r.id}))),
                );
            }
        }
        // Keyed by list and lower-cased name, the order they are listed in: a client
        // detaching each page's entities before asking for the next skips none.
        let (items, marker) = page_by(entities, entity_key, input)?;
        let mut out = json!({"PolicyUsers": [], "PolicyGroups": [], "PolicyRoles": []});
        for (list, entity) in items {
            if let Some(Value::Array(v)) = out.get_mut(list) {
                v.push(entity);
            }
        }
        Ok(paged(out, marker))
    })?
}

// -- attachments ----------------------------------------------------------------------------------

fn attached_mut<'a>(
    tx: &'a mut Tx<'_>,
    entity: Entity,
    name: &str,
) -> Result<&'a mut Vec<String>, ApiError> {
    match entity {
        Entity::User => tx
            .user_mut(name)
            .map(|u| &mut u.attached)
            .ok_or_else(|| no_such_user(name)),
        Entity::Group => tx
            .group_mut(name)
            .map(|g| &mut g.attached)
            .ok_or_else(|| no_such_group(name)),
        Entity::Role => tx
            .role_mut(name)
            .map(|r| &mut r.attached)
            .ok_or_else(|| no_such_role(name)),
        _ => Err(invalid_input("not an entity with attached policies")),
    }
}

fn quota_name(entity: Entity) -> &'static str {
    match entity {
        Entity::User => "PoliciesPerUser",
        Entity::Group => "PoliciesPerGroup",
        _ => "PoliciesPerRole",
    }
}

/// The path of the AWS-managed policies of service-linked roles.
pub(crate) const SERVICE_ROLE_POLICY_PATH: &str = "/aws-service-role/";

pub(crate) async fn attach(cx: &Cx<'_>, input: &Value, entity: Entity) -> Result<Value, ApiError> {
    let name = req(input, entity.name_member())?.to_owned();
    let arn = req(input, "PolicyArn")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if !tx.attachable_policy(&arn) {
                return Err(not_attachable(&arn));
            }
            // A service-linked role's policy is the service's to attach, when the role is made
            // (AWS: "Cannot attach a Service Role Policy to a Customer Role.").
            if managed::by_arn(&arn).is_some_and(|p| p.path == SERVICE_ROLE_POLICY_PATH) {
                let to = match entity {
                    Entity::User => "a User",
                    Entity::Group => "a Group",
                    _ => "a Customer Role",
                };
                return Err(ApiError::bad_request(
                    "PolicyNotAttachable",
                    format!("Cannot attach a Service Role Policy to {to}."),
                ));
            }
            let list = attached_mut(tx, entity, &name)?;
            if !list.contains(&arn) {
                if list.len() >= MAX_ATTACHED {
                    return Err(limit_exceeded(format!(
                        "Cannot exceed quota for {}: {MAX_ATTACHED}",
                        quota_name(entity)
                    )));
                }
                list.push(arn);
            }
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn detach(cx: &Cx<'_>, input: &Value, entity: Entity) -> Result<Value, ApiError> {
    let name = req(input, entity.name_member())?.to_owned();
    let arn = req(input, "PolicyArn")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let list = attached_mut(tx, entity, &name)?;
            if !list.contains(&arn) {
                return Err(no_such_policy(&arn));
            }
            list.retain(|a| a != &arn);
            Ok(json!({}))
        })
        .await
}

fn attached_of<'a>(
    a: &'a AccountIam,
    entity: Entity,
    name: &str,
) -> Result<&'a Vec<String>, ApiError> {
    match entity {
        Entity::User => a
            .user(name)
            .map(|u| &u.attached)
            .ok_or_else(|| no_such_user(name)),
        Entity::Group => a
            .group(name)
            .map(|g| &g.attached)
            .ok_or_else(|| no_such_group(name)),
        _ => a
            .role(name)
            .map(|r| &r.attached)
            .ok_or_else(|| no_such_role(name)),
    }
}

pub(crate) fn list_attached(cx: &Cx<'_>, input: &Value, entity: Entity) -> Result<Value, ApiError> {
    let name = req(input, entity.name_member())?;
    let prefix = s(input, "PathPrefix").unwrap_or("/");
    let all = cx.state.iam.read(|d: &IamData| {
        let Some(a) = d.account(cx.account) else {
            return Err(match entity {
                Entity::User => no_such_user(name),
                Entity::Group => no_such_group(name),
                _ => no_such_role(name),
            });
        };
        let list = attached_of(a, entity, name)?;
        Ok(list
            .iter()
            .filter_map(|arn| {
                let p = d.managed_policy(arn)?;
                let path = match p {
                    PolicyRef::Aws(a) => a.path,
                    PolicyRef::Customer(c) => c.path.as_str(),
                };
                path.starts_with(prefix)
                    .then(|| json!({"PolicyName": p.name(), "PolicyArn": arn}))
            })
            .collect::<Vec<_>>())
    })??;
    let (items, marker) = page_by(all, member("PolicyArn"), input)?;
    Ok(paged(json!({"AttachedPolicies": items}), marker))
}

// -- inline policies ------------------------------------------------------------------------------

fn inline_mut<'a>(
    tx: &'a mut Tx<'_>,
    entity: Entity,
    name: &str,
) -> Result<&'a mut BTreeMap<String, String>, ApiError> {
    match entity {
        Entity::User => tx
            .user_mut(name)
            .map(|u| &mut u.inline)
            .ok_or_else(|| no_such_user(name)),
        Entity::Group => tx
            .group_mut(name)
            .map(|g| &mut g.inline)
            .ok_or_else(|| no_such_group(name)),
        _ => tx
            .role_mut(name)
            .map(|r| &mut r.inline)
            .ok_or_else(|| no_such_role(name)),
    }
}

fn inline_of<'a>(
    a: &'a AccountIam,
    entity: Entity,
    name: &str,
) -> Result<(&'a str, &'a BTreeMap<String, String>), ApiError> {
    match entity {
        Entity::User => a
            .user(name)
            .map(|u| (u.name.as_str(), &u.inline))
            .ok_or_else(|| no_such_user(name)),
        Entity::Group => a
            .group(name)
            .map(|g| (g.name.as_str(), &g.inline))
            .ok_or_else(|| no_such_group(name)),
        _ => a
            .role(name)
            .map(|r| (r.name.as_str(), &r.inline))
            .ok_or_else(|| no_such_role(name)),
    }
}

/// The aggregate size quota of inline policies: user 2,048, group 5,120, role 10,240.
fn inline_quota(entity: Entity) -> usize {
    match entity {
        Entity::User => 2_048,
        Entity::Group => 5_120,
        _ => 10_240,
    }
}

fn no_such_inline(entity: Entity, policy: &str) -> ApiError {
    no_such_entity(format!(
        "The {} policy with name {policy} cannot be found.",
        entity.noun()
    ))
}

pub(crate) async fn put_inline(
    cx: &Cx<'_>,
    input: &Value,
    entity: Entity,
) -> Result<Value, ApiError> {
    let name = req(input, entity.name_member())?.to_owned();
    let policy = req(input, "PolicyName")?.to_owned();
    let doc = req(input, "PolicyDocument")?.to_owned();
    // One inline policy may use its entity's whole quota (a role's 10,240 characters), not the
    // 6,144 of a managed policy: the quota check below words it as IAM does.
    palisade_policy::Policy::parse_inline(&doc, usize::MAX).map_err(|e| {
        ApiError::new(
            e.aws_code(),
            e.aws_message(),
            super::policy_status(e.aws_code()),
        )
    })?;
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let inline = inline_mut(tx, entity, &name)?;
            let others: usize = inline
                .iter()
                .filter(|(k, _)| **k != policy)
                .map(|(_, d)| policy_size(d))
                .sum();
            let quota = inline_quota(entity);
            if others.saturating_add(policy_size(&doc)) > quota {
                return Err(limit_exceeded(format!(
                    "Maximum policy size of {quota} bytes exceeded for {} {name}",
                    entity.noun()
                )));
            }
            inline.insert(policy, doc);
            Ok(json!({}))
        })
        .await
}

pub(crate) fn get_inline(cx: &Cx<'_>, input: &Value, entity: Entity) -> Result<Value, ApiError> {
    let name = req(input, entity.name_member())?;
    let policy = req(input, "PolicyName")?;
    cx.state.iam.read_account(cx.account, |a| {
        let (real_name, inline) = inline_of(a, entity, name)?;
        let doc = inline
            .get(policy)
            .ok_or_else(|| no_such_inline(entity, policy))?;
        Ok(json!({
            entity.name_member(): real_name,
            "PolicyName": policy,
            "PolicyDocument": encode_document(doc),
        }))
    })?
}

pub(crate) async fn delete_inline(
    cx: &Cx<'_>,
    input: &Value,
    entity: Entity,
) -> Result<Value, ApiError> {
    let name = req(input, entity.name_member())?.to_owned();
    let policy = req(input, "PolicyName")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            let (_, current) = inline_of(tx.account, entity, &name)?;
            if !current.contains_key(&policy) {
                return Err(no_such_inline(entity, &policy));
            }
            inline_mut(tx, entity, &name)?.remove(&policy);
            Ok(json!({}))
        })
        .await
}

pub(crate) fn list_inline(cx: &Cx<'_>, input: &Value, entity: Entity) -> Result<Value, ApiError> {
    let name = req(input, entity.name_member())?;
    let names = cx.state.iam.read_account(cx.account, |a| {
        inline_of(a, entity, name).map(|(_, m)| m.keys().cloned().collect::<Vec<_>>())
    })??;
    let (items, marker) = page_by(names, |n| Some(n.clone()), input)?;
    Ok(paged(json!({"PolicyNames": items}), marker))
}

// -- permissions boundaries -----------------------------------------------------------------------

pub(crate) async fn put_boundary(
    cx: &Cx<'_>,
    input: &Value,
    entity: Entity,
) -> Result<Value, ApiError> {
    let name = req(input, entity.name_member())?.to_owned();
    let arn = req(input, "PermissionsBoundary")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if !tx.attachable_policy(&arn) {
                return Err(no_such_boundary(&arn));
            }
            match entity {
                Entity::User => {
                    tx.user_mut(&name)
                        .ok_or_else(|| no_such_user(&name))?
                        .boundary = Some(arn);
                }
                _ => {
                    tx.role_mut(&name)
                        .ok_or_else(|| no_such_role(&name))?
                        .boundary = Some(arn);
                }
            }
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn delete_boundary(
    cx: &Cx<'_>,
    input: &Value,
    entity: Entity,
) -> Result<Value, ApiError> {
    let name = req(input, entity.name_member())?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            match entity {
                Entity::User => {
                    tx.user_mut(&name)
                        .ok_or_else(|| no_such_user(&name))?
                        .boundary = None;
                }
                _ => {
                    tx.role_mut(&name)
                        .ok_or_else(|| no_such_role(&name))?
                        .boundary = None;
                }
            }
            Ok(json!({}))
        })
        .await
}
