//! Service last accessed data (IAM's access advisor): which of the services an identity's
//! policies allow it actually tried to use, and when, read from the audit trail.
//!
//! AWS tracks 400 days; Palisade reads as far back as LookupEvents reaches (90 days), and an
//! attempt counts whether it was allowed or not, as in AWS. The report is computed when the job
//! is generated (AWS runs it in the background and reports `IN_PROGRESS` meanwhile; clients poll
//! until `COMPLETED`, which they get at once here) and kept in memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use palisade_policy::{Policy, PolicyKind};
use palisade_store::EventQuery;
use serde_json::{Value, json};

use super::{Cx, invalid_input, no_such_entity, page, paged, req, s};
use crate::error::ApiError;
use crate::iam::{AccountIam, IamData, group_arn, role_arn, user_arn};

/// How far back the trail is read: LookupEvents' window.
const WINDOW_MS: i64 = 90 * 86_400_000;

/// The services whose actions are tracked one by one in an `ACTION_LEVEL` report (AWS tracks
/// more, none of which Palisade serves).
const ACTION_LEVEL_SERVICES: &[&str] = &["iam"];

/// Names of the services Palisade serves, as the report spells them; others get their prefix.
const SERVICE_NAMES: &[(&str, &str)] = &[
    ("cloudtrail", "AWS CloudTrail"),
    ("iam", "AWS Identity and Access Management"),
    ("kms", "AWS Key Management Service"),
    ("secretsmanager", "AWS Secrets Manager"),
    ("sts", "AWS Security Token Service"),
];

/// An identity the report covers, and how its calls appear in events.
struct Entity {
    arn: String,
    info: Value,
    /// `userIdentity.arn` of its calls (users), or the `sessionIssuer` ARN (roles' sessions);
    /// a group's are its members'.
    users: Vec<String>,
    roles: Vec<String>,
}

/// The newest attempt of an entity on a service (or action): epoch ms and Region.
type Last = (i64, String);

fn entity(kind: &str, arn: String, name: &str, id: &str, path: &str) -> Value {
    json!({"Arn": arn, "Name": name, "Type": kind, "Id": id, "Path": path})
}

/// The identities an ARN names for the report, and the policy documents that say which services
/// they may use.
fn targets(
    a_id: &str,
    a: &AccountIam,
    d: &IamData,
    arn: &str,
) -> Result<(Vec<Entity>, Vec<String>), ApiError> {
    let missing = || no_such_entity(format!("{arn} not found"));
    let user_entity = |u: &palisade_store::UserRecord| {
        let uarn = user_arn(&u.account_id, &u.path, &u.name);
        Entity {
            info: entity("USER", uarn.clone(), &u.name, &u.id, &u.path),
            arn: uarn.clone(),
            users: vec![uarn],
            roles: vec![],
        }
    };
    let managed = |arns: &[String]| -> Vec<String> {
        arns.iter()
            .filter_map(|p| d.managed_policy(p).map(|m| m.document().to_owned()))
            .collect()
    };
    let name = arn.rsplit('/').next().unwrap_or(arn);
    // The kind is the resource's first word after the fifth colon: a path may hold `:user/`.
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    // Entities are found by name, so the ARN's account and path must be checked too: another
    // account's `user/adv`, or `user/other-path/adv`, is not this account's user adv.
    let account = arn.split(':').nth(4).unwrap_or_default();
    let named = |real: &str| {
        let prefix_len = real.len().saturating_sub(name.len());
        real.len() == arn.len() && real.get(..prefix_len) == arn.get(..prefix_len)
    };
    if resource.starts_with("user/") {
        let u = a
            .user(name)
            .filter(|u| named(&user_arn(&u.account_id, &u.path, &u.name)))
            .ok_or_else(missing)?;
        let mut docs: Vec<String> = u.inline.values().cloned().collect();
        docs.extend(managed(&u.attached));
        for g in u.groups.iter().filter_map(|g| a.group(g)) {
            docs.extend(g.inline.values().cloned());
            docs.extend(managed(&g.attached));
        }
        return Ok((vec![user_entity(u)], docs));
    }
    if resource.starts_with("role/") {
        let r = a
            .role(name)
            .filter(|r| named(&role_arn(&r.account_id, &r.path, &r.name)))
            .ok_or_else(missing)?;
        let rarn = role_arn(&r.account_id, &r.path, &r.name);
        let mut docs: Vec<String> = r.inline.values().cloned().collect();
        docs.extend(managed(&r.attached));
        let e = Entity {
            info: entity("ROLE", rarn.clone(), &r.name, &r.id, &r.path),
            arn: rarn.clone(),
            users: vec![],
            roles: vec![rarn],
        };
        return Ok((vec![e], docs));
    }
    let members = |group: &str| -> Vec<&palisade_store::UserRecord> {
        a.users
            .values()
            .filter(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(group)))
            .collect()
    };
    if resource.starts_with("group/") {
        let g = a
            .group(name)
            .filter(|g| named(&group_arn(&g.account_id, &g.path, &g.name)))
            .ok_or_else(missing)?;
        let mut docs: Vec<String> = g.inline.values().cloned().collect();
        docs.extend(managed(&g.attached));
        return Ok((
            members(&g.name).into_iter().map(user_entity).collect(),
            docs,
        ));
    }
    if resource.starts_with("policy/") {
        // AWS-managed, or this account's: another account's policy is not reported on.
        if account != "aws" && account != a_id {
            return Err(missing());
        }
        let p = d.managed_policy(arn).ok_or_else(missing)?;
        let docs = vec![p.document().to_owned()];
        let has = |attached: &[String]| attached.iter().any(|x| x == arn);
        let mut out: Vec<Entity> = a
            .users
            .values()
            .filter(|u| has(&u.attached))
            .map(user_entity)
            .collect();
        for g in a.groups.values().filter(|g| has(&g.attached)) {
            let garn = group_arn(&g.account_id, &g.path, &g.name);
            out.push(Entity {
                info: entity("GROUP", garn.clone(), &g.name, &g.id, &g.path),
                arn: garn,
                users: members(&g.name)
                    .into_iter()
                    .map(|u| user_arn(&u.account_id, &u.path, &u.name))
                    .collect(),
                roles: vec![],
            });
        }
        for r in a.roles.values().filter(|r| has(&r.attached)) {
            let rarn = role_arn(&r.account_id, &r.path, &r.name);
            out.push(Entity {
                info: entity("ROLE", rarn.clone(), &r.name, &r.id, &r.path),
                arn: rarn.clone(),
                users: vec![],
                roles: vec![rarn],
            });
        }
        return Ok((out, docs));
    }
    Err(invalid_input(format!(
        "ARN {arn} is not the ARN of a user, group, role or managed policy."
    )))
}

/// The services that at least one of the documents allows some action of. The documents are
/// stored ones, read as authorization reads them (bug: an inline policy without `Version` or
/// with `2008-10-17`, which IAM stores and enforces, was skipped, and the services it grants
/// left out of the report).
fn granted(docs: &[String]) -> BTreeSet<String> {
    let policies: Vec<Policy> = docs
        .iter()
        .filter_map(|d| Policy::parse_stored(d, PolicyKind::Identity).ok())
        .collect();
    palisade_policy::service_data::data()
        .prefixes()
        .filter(|ns| policies.iter().any(|p| p.grants_service(ns)))
        .map(str::to_owned)
        .collect()
}

/// Epoch ms as the report's timestamps (epoch seconds, like every IAM date Palisade returns).
fn secs(ms: i64) -> i64 {
    ms / 1000
}

/// `GenerateServiceLastAccessedDetails`.
pub(crate) async fn generate(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "Arn")?;
    let action_level = s(input, "Granularity") == Some("ACTION_LEVEL");
    let (entities, docs) = cx.state.iam.read(|d| {
        let empty = AccountIam::default();
        let a = d.account(cx.account).unwrap_or(&empty);
        targets(cx.account, a, d, arn)
    })??;
    let services = granted(&docs);
    // A group's or a policy's report counts only what its policies can have allowed (AWS: "only
    // the service last access data for members that used the group's policies"; a policy's
    // report names "the user or role that last used the policy"): a member's use of a service
    // through its other policies is not this one's (bug: it was credited).
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    let through_docs = !(resource.starts_with("user/") || resource.starts_with("role/"));
    // Events repeat a few actions many times: each is judged against the policies once.
    let mut granted_action: HashMap<String, bool> = HashMap::new();
    let doc_policies: Vec<Policy> = docs
        .iter()
        .filter_map(|d| Policy::parse_stored(d, PolicyKind::Identity).ok())
        .collect();
    let now_ms = crate::services::now_ms();
    let created = secs(now_ms);

    // Per entity: the newest attempt per service, and per (service, action).
    let mut by_service: Vec<HashMap<String, Last>> = vec![HashMap::new(); entities.len()];
    let mut by_action: Vec<HashMap<(String, String), Last>> = vec![HashMap::new(); entities.len()];
    let mut before = None;
    loop {
        let rows = cx
            .state
            .store
            .lookup_events(&EventQuery {
                account_id: cx.account.to_owned(),
                attribute: None,
                start_ms: now_ms - WINDOW_MS,
                end_ms: now_ms,
                before,
                limit: 1000,
                region: None,
            })
            .await
            .map_err(ApiError::internal)?;
        for (_, row) in &rows {
            let Ok(record) = serde_json::from_str::<Value>(&row.record) else {
                continue;
            };
            let at = |path: &str| record.pointer(path).and_then(Value::as_str);
            let user =
                at("/userIdentity/arn").filter(|_| at("/userIdentity/type") == Some("IAMUser"));
            let role = at("/userIdentity/sessionContext/sessionIssuer/arn");
            let ns = row.event_source.split('.').next().unwrap_or_default();
            let region = at("/awsRegion").unwrap_or_default();
            if through_docs {
                let action = format!("{ns}:{}", row.event_name);
                let allowed = *granted_action
                    .entry(action)
                    .or_insert_with_key(|a| doc_policies.iter().any(|p| p.grants_action(a)));
                if !allowed {
                    continue;
                }
            }
            for (i, e) in entities.iter().enumerate() {
                let hit = user.is_some_and(|u| e.users.iter().any(|x| x == u))
                    || role.is_some_and(|r| e.roles.iter().any(|x| x == r));
                if !hit {
                    continue;
                }
                // Newest first: the first attempt seen is the last made.
                let last = (row.event_time_ms, region.to_owned());
                if let Some(m) = by_service.get_mut(i) {
                    m.entry(ns.to_owned()).or_insert_with(|| last.clone());
                }
                // Actions one by one only for the report that lists them.
                if let Some(m) = by_action.get_mut(i).filter(|_| action_level) {
                    m.entry((ns.to_owned(), row.event_name.clone()))
                        .or_insert(last);
                }
            }
        }
        match rows.last() {
            Some((seq, _)) if rows.len() == 1000 => before = Some(*seq),
            _ => break,
        }
    }

    let name_of = |ns: &str| {
        SERVICE_NAMES
            .iter()
            .find(|(p, _)| *p == ns)
            .map_or(ns.to_owned(), |(_, n)| (*n).to_owned())
    };
    let mut report_services = Vec::new();
    let mut report_entities: BTreeMap<String, Value> = BTreeMap::new();
    for ns in &services {
        let hits: Vec<(&Entity, &Last)> = entities
            .iter()
            .zip(&by_service)
            .filter_map(|(e, m)| m.get(ns).map(|l| (e, l)))
            .collect();
        let mut entry = json!({
            "ServiceName": name_of(ns),
            "ServiceNamespace": ns,
        });
        // The model: "This field is null if no principals attempted to access the service."
        if !hits.is_empty() {
            crate::services::set(&mut entry, "TotalAuthenticatedEntities", json!(hits.len()));
        }
        if let Some((e, (at, region))) = hits.iter().max_by_key(|(_, (at, _))| *at) {
            crate::services::set(&mut entry, "LastAuthenticated", json!(secs(*at)));
            crate::services::set(&mut entry, "LastAuthenticatedEntity", json!(e.arn));
            crate::services::set(&mut entry, "LastAuthenticatedRegion", json!(region));
        }
        if action_level && ACTION_LEVEL_SERVICES.contains(&ns.as_str()) {
            let mut actions: BTreeMap<&str, (i64, &str, &str)> = BTreeMap::new();
            for (e, m) in entities.iter().zip(&by_action) {
                for ((service, action), (at, region)) in m {
                    if service != ns {
                        continue;
                    }
                    let slot =
                        actions
                            .entry(action.as_str())
                            .or_insert((*at, region, e.arn.as_str()));
                    if *at > slot.0 {
                        *slot = (*at, region, e.arn.as_str());
                    }
                }
            }
            let tracked: Vec<Value> = actions
                .into_iter()
                .map(|(action, (at, region, who))| {
                    json!({
                        "ActionName": action,
                        "LastAccessedEntity": who,
                        "LastAccessedTime": secs(at),
                        "LastAccessedRegion": region,
                    })
                })
                .collect();
            // Null, as the model says, when none of the tracked actions was used.
            if !tracked.is_empty() {
                crate::services::set(&mut entry, "TrackedActionsLastAccessed", json!(tracked));
            }
        }
        report_services.push(entry);
        // "By default, the list of associated entities is sorted by date, with the most recent
        // access listed first"; entities that never used the service come last, in name order.
        let mut dated: Vec<(Option<i64>, &Entity)> = entities
            .iter()
            .zip(&by_service)
            .map(|(e, m)| (m.get(ns).map(|(at, _)| *at), e))
            .collect();
        dated.sort_by(|(a, x), (b, y)| b.cmp(a).then_with(|| x.arn.cmp(&y.arn)));
        let details: Vec<Value> = dated
            .into_iter()
            .map(|(at, e)| {
                let mut d = json!({"EntityInfo": e.info});
                if let Some(at) = at {
                    crate::services::set(&mut d, "LastAuthenticated", json!(secs(at)));
                }
                d
            })
            .collect();
        report_entities.insert(ns.clone(), json!(details));
    }
    // The model: "By default, the list is sorted by service namespace" (bug: by name, which put
    // the five services Palisade names ahead of the rest).
    report_services.sort_by(|a, b| {
        let ns = |v: &Value| {
            v.get("ServiceNamespace")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        ns(a).cmp(&ns(b))
    });
    let job_id = uuid::Uuid::new_v4().to_string();
    let report = json!({
        "JobType": if action_level { "ACTION_LEVEL" } else { "SERVICE_LEVEL" },
        "JobCreationDate": created,
        "JobCompletionDate": created,
        "Services": report_services,
        "Entities": report_entities,
    });
    cx.state
        .iam
        .set_advisor_job(&job_id, &cx.caller.arn, report)
        .await
        .map_err(ApiError::store_write)?;
    Ok(json!({"JobId": job_id}))
}

/// A member of a stored report (`Null` when absent).
fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or(&Value::Null)
}

fn job(cx: &Cx<'_>, input: &Value) -> Result<std::sync::Arc<Value>, ApiError> {
    let id = req(input, "JobId")?;
    cx.state
        .iam
        .advisor_job(id, &cx.caller.arn)
        .ok_or_else(|| no_such_entity(format!("The job with ID {id} cannot be found.")))
}

/// `GetServiceLastAccessedDetails`.
pub(crate) fn get(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let report = job(cx, input)?;
    let services = field(&report, "Services")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let (items, marker) = page(services, input)?;
    Ok(paged(
        json!({
            "JobStatus": "COMPLETED",
            "JobType": field(&report, "JobType"),
            "JobCreationDate": field(&report, "JobCreationDate"),
            "JobCompletionDate": field(&report, "JobCompletionDate"),
            "ServicesLastAccessed": items,
        }),
        marker,
    ))
}

/// `GetServiceLastAccessedDetailsWithEntities`.
pub(crate) fn get_with_entities(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let report = job(cx, input)?;
    let ns = req(input, "ServiceNamespace")?;
    let entities = field(field(&report, "Entities"), ns)
        .as_array()
        .cloned()
        .unwrap_or_default();
    let (items, marker) = page(entities, input)?;
    Ok(paged(
        json!({
            "JobStatus": "COMPLETED",
            "JobCreationDate": field(&report, "JobCreationDate"),
            "JobCompletionDate": field(&report, "JobCompletionDate"),
            "EntityDetailsList": items,
        }),
        marker,
    ))
}
