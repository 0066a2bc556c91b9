//! Account-level operations: aliases, the summary and the authorization details.

use serde_json::{Value, json};

use super::policies::{PolicyView, aws_policy_json, customer_policy_json};
use super::principals::{group_json, role_json, user_json};
use super::{
    Cx, already_exists, encode_document, limit_exceeded, no_such_entity, page_by, paged, req,
    strings,
};
use crate::error::ApiError;
use crate::iam::managed;
use crate::iam::{AccountIam, IamData, PolicyRef, instance_profile_arn};

/// An account-wide quota: GetAccountSummary reports it and the call creating such an entity
/// refuses to go past it, from this one place so that the two never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountQuota {
    Users,
    Groups,
    Roles,
    /// Customer managed policies.
    Policies,
    InstanceProfiles,
}

impl AccountQuota {
    /// AWS's default quota.
    pub(crate) const fn max(self) -> usize {
        match self {
            Self::Users => 5000,
            Self::Groups => 300,
            Self::Roles | Self::InstanceProfiles => 1000,
            Self::Policies => 1500,
        }
    }

    /// The quota's name in IAM's LimitExceeded message.
    const fn name(self) -> &'static str {
        match self {
            Self::Users => "UsersPerAccount",
            Self::Groups => "GroupsPerAccount",
            Self::Roles => "RolesPerAccount",
            Self::Policies => "PoliciesPerAccount",
            Self::InstanceProfiles => "InstanceProfilesPerAccount",
        }
    }

    /// Refuses one more entity when the account has `count` already. The caller counts under
    /// the write lock it creates the entity with, so that concurrent creates cannot overshoot.
    pub(crate) fn check(self, count: usize) -> Result<(), ApiError> {
        if count >= self.max() {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for {}: {}.",
                self.name(),
                self.max()
            )));
        }
        Ok(())
    }
}

pub(crate) async fn create_account_alias(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let alias = req(input, "AccountAlias")?.to_owned();
    // An alias names one account in the partition (it is the sign-in URL's host name), so one
    // held by another account on this server is taken. Checked under the write lock, so two
    // accounts cannot take the same alias at once.
    let _guard = cx.state.iam.lock_writes().await;
    let taken = cx.state.iam.read(|d| {
        d.accounts
            .iter()
            .any(|(id, a)| id != cx.account && a.settings.aliases.contains(&alias))
    })?;
    if taken {
        return Err(already_exists(format!(
            "The account alias {alias} already exists."
        )));
    }
    cx.state
        .iam
        .mutate_locked(cx.account, |tx| {
            // An account has at most one alias: a new one replaces it.
            tx.settings_mut().aliases = vec![alias];
            Ok(json!({}))
        })
        .await
}

/// `SetSecurityTokenServicePreferences`: the token version `GetAccountSummary` reports. Palisade
/// has no Regions to enable, where the version matters in AWS, so it changes nothing else.
pub(crate) async fn set_sts_preferences(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let version = match req(input, "GlobalEndpointTokenVersion")? {
        "v2Token" => 2,
        _ => 1,
    };
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            tx.settings_mut().global_endpoint_token_version = Some(version);
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn delete_account_alias(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let alias = req(input, "AccountAlias")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if !tx.account.settings.aliases.contains(&alias) {
                return Err(no_such_entity(format!(
                    "The account alias {alias} cannot be found."
                )));
            }
            tx.settings_mut().aliases.retain(|a| a != &alias);
            Ok(json!({}))
        })
        .await
}

pub(crate) fn list_account_aliases(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let aliases = cx
        .state
        .iam
        .read_account(cx.account, |a| a.settings.aliases.clone())?;
    // Paged like every other listing, so that a marker it did not hand out is refused too.
    let (items, marker) = page_by(aliases, |a| Some(a.clone()), input)?;
    Ok(paged(json!({"AccountAliases": items}), marker))
}

pub(crate) async fn get_account_summary(cx: &Cx<'_>) -> Result<Value, ApiError> {
    let root_keys = cx
        .state
        .store
        .access_keys_of(cx.account, &crate::identity::root_arn(cx.account))
        .await
        .map_err(ApiError::internal)?;
    cx.state.iam.read_account(cx.account, |a| {
        let in_use = a.mfa.values().filter(|d| d.user.is_some()).count();
        // Versions in use are attachments: each attached managed policy (AWS's or the
        // account's) puts its default version to use once per user, group or role (bug: stored
        // versions were counted, attached or not; the quota, 10,000, exceeds the 7,500 versions
        // an account can store).
        let versions: usize = a.users.values().map(|u| u.attached.len()).sum::<usize>()
            + a.groups.values().map(|g| g.attached.len()).sum::<usize>()
            + a.roles.values().map(|r| r.attached.len()).sum::<usize>();
        let providers = a.providers.len();
        json!({"SummaryMap": {
            "Users": a.users.len(),
            "UsersQuota": AccountQuota::Users.max(),
            "Groups": a.groups.len(),
            "GroupsQuota": AccountQuota::Groups.max(),
            "Roles": a.roles.len(),
            "RolesQuota": AccountQuota::Roles.max(),
            "Policies": a.policies.len(),
            "PoliciesQuota": AccountQuota::Policies.max(),
            "InstanceProfiles": a.instance_profiles.len(),
            "InstanceProfilesQuota": AccountQuota::InstanceProfiles.max(),
            "MFADevices": a.mfa.len(),
            "MFADevicesInUse": in_use,
            "AccountMFAEnabled": 0,
            "AccountAccessKeysPresent": usize::from(!root_keys.is_empty()),
            "AccountSigningCertificatesPresent": usize::from(
                !a.settings.root_signing_certificates.is_empty()
            ),
            "AttachedPoliciesPerGroupQuota": 10,
            "AttachedPoliciesPerRoleQuota": 10,
            "AttachedPoliciesPerUserQuota": 10,
            "GroupsPerUserQuota": 10,
            "PolicySizeQuota": 6144,
            "PolicyVersionsInUse": versions,
            "PolicyVersionsInUseQuota": 10000,
            "Providers": providers,
            "ServerCertificates": a.server_certificates.len(),
            "ServerCertificatesQuota": super::certs::MAX_CERTS,
            "SigningCertificatesPerUserQuota": 2,
            "UserPolicySizeQuota": 2048,
            "GroupPolicySizeQuota": 5120,
            "RolePolicySizeQuota": 10240,
            "AccessKeysPerUserQuota": 2,
            "AssumeRolePolicySizeQuota": 2048,
            "VersionsPerPolicyQuota": 5,
            "GlobalEndpointTokenVersion": a.settings.global_endpoint_token_version.unwrap_or(1),
        }})
    })
}

fn inline_list(inline: &std::collections::BTreeMap<String, String>) -> Value {
    Value::Array(
        inline
            .iter()
            .map(|(n, d)| json!({"PolicyName": n, "PolicyDocument": encode_document(d)}))
            .collect(),
    )
}

fn attached_list(d: &IamData, arns: &[String]) -> Value {
    Value::Array(
        arns.iter()
            .filter_map(|arn| {
                d.managed_policy(arn)
                    .map(|p| json!({"PolicyName": p.name(), "PolicyArn": arn}))
            })
            .collect(),
    )
}

/// One GetAccountAuthorizationDetails entry: of `list` (0 users, 1 groups, 2 roles, 3
/// policies) the one keyed `key` in the account's maps (a lower-cased name, or a policy's
/// ARN), with its policies; `None` when it is gone.
fn details_entry(d: &IamData, a: &AccountIam, list: usize, key: &str) -> Option<Value> {
    Some(match list {
        0 => {
            let u = a.users.get(key)?;
            let mut v = user_json(u, true);
            crate::services::set(&mut v, "UserPolicyList", inline_list(&u.inline));
            crate::services::set(&mut v, "GroupList", json!(u.groups));
            crate::services::set(
                &mut v,
                "AttachedManagedPolicies",
                attached_list(d, &u.attached),
            );
            v
        }
        1 => {
            let g = a.groups.get(key)?;
            let mut v = group_json(g);
            crate::services::set(&mut v, "GroupPolicyList", inline_list(&g.inline));
            crate::services::set(
                &mut v,
                "AttachedManagedPolicies",
                attached_list(d, &g.attached),
            );
            v
        }
        2 => {
            let r = a.roles.get(key)?;
            let mut v = role_json(r, true);
            crate::services::set(&mut v, "RolePolicyList", inline_list(&r.inline));
            crate::services::set(
                &mut v,
                "AttachedManagedPolicies",
                attached_list(d, &r.attached),
            );
            crate::services::set(
                &mut v,
                "InstanceProfileList",
                Value::Array(
                    a.instance_profiles
                        .values()
                        .filter(|p| p.roles.iter().any(|x| x.eq_ignore_ascii_case(&r.name)))
                        .map(|p| {
                            json!({
                                "Path": p.path,
                                "InstanceProfileName": p.name,
                                "InstanceProfileId": p.id,
                                "Arn": instance_profile_arn(&p.account_id, &p.path, &p.name),
                                "CreateDate": p.created_at,
                                "Roles": [role_json(r, false)],
                            })
                        })
                        .collect(),
                ),
            );
            v
        }
        _ => match a.policies.get(key) {
            Some(p) => {
                let mut v = customer_policy_json(p, Some(a), PolicyView::Details);
                crate::services::set(
                    &mut v,
                    "PolicyVersionList",
                    Value::Array(
                        p.versions
                            .iter()
                            .map(|ver| {
                                json!({
                                    "Document": encode_document(&ver.document),
                                    "VersionId": ver.version_id,
                                    "IsDefaultVersion": ver.version_id == p.default_version,
                                    "CreateDate": ver.created_at,
                                })
                            })
                            .collect(),
                    ),
                );
                v
            }
            None => {
                let Some(PolicyRef::Aws(p)) = d.managed_policy(key) else {
                    return None;
                };
                // The same fields as a customer-managed entry, counts included.
                let mut v = aws_policy_json(p, Some(a), PolicyView::Details);
                crate::services::set(
                    &mut v,
                    "PolicyVersionList",
                    json!([{
                        "Document": encode_document(p.document),
                        "VersionId": p.version,
                        "IsDefaultVersion": true,
                        "CreateDate": p.updated,
                    }]),
                );
                v
            }
        },
    })
}

pub(crate) fn get_account_authorization_details(
    cx: &Cx<'_>,
    input: &Value,
) -> Result<Value, ApiError> {
    let filter = strings(input, "Filter");
    let want = |f: &str| filter.is_empty() || filter.iter().any(|x| x == f);
    // Every entry's list and key, in the listing's order: the page is cut from these, and only
    // its entries are built (bug: every entry of the account, documents and all, was built for
    // each page, so listing a large account took time in its square).
    let keys: Vec<(usize, String)> = cx.state.iam.read(|d| {
        let empty = Default::default();
        let a: &AccountIam = d.account(cx.account).unwrap_or(&empty);
        let mut keys = Vec::new();
        if want("User") {
            keys.extend(a.users.keys().map(|k| (0, k.clone())));
        }
        if want("Group") {
            keys.extend(a.groups.keys().map(|k| (1, k.clone())));
        }
        if want("Role") {
            keys.extend(a.roles.keys().map(|k| (2, k.clone())));
        }
        if want("LocalManagedPolicy") {
            keys.extend(a.policies.keys().map(|k| (3, k.clone())));
        }
        if want("AWSManagedPolicy") {
            // AWS lists the AWS-managed policies the account uses.
            let used = |arn: &str| {
                a.users
                    .values()
                    .any(|u| u.attached.iter().any(|x| x == arn))
                    || a.groups
                        .values()
                        .any(|g| g.attached.iter().any(|x| x == arn))
                    || a.roles
                        .values()
                        .any(|r| r.attached.iter().any(|x| x == arn))
            };
            for p in managed::POLICIES {
                let arn = p.arn();
                if used(&arn) && matches!(d.managed_policy(&arn), Some(PolicyRef::Aws(_))) {
                    keys.push((3, arn));
                }
            }
        }
        keys
    })?;
    // One page across the four lists, in their order (MaxItems and Marker count their entries
    // together, as IAM's paginator expects), keyed by list and name (ARN for policies), so that
    // a client changing what it has listed while paging neither skips nor repeats entries.
    let (keys, marker) = super::page_by(keys, |(list, key)| Some(format!("{list}/{key}")), input)?;
    let lists: [Vec<Value>; 4] = cx.state.iam.read(|d| {
        let empty = Default::default();
        let a: &AccountIam = d.account(cx.account).unwrap_or(&empty);
        let mut lists: [Vec<Value>; 4] = Default::default();
        for (list, key) in &keys {
            if let (Some(out), Some(v)) = (lists.get_mut(*list), details_entry(d, a, *list, key)) {
                out.push(v);
            }
        }
        lists
    })?;
    let [users, groups, roles, policies] = lists;
    Ok(super::paged(
        json!({
            "UserDetailList": users,
            "GroupDetailList": groups,
            "RoleDetailList": roles,
            "Policies": policies,
        }),
        marker,
    ))
}

#[cfg(test)]
mod tests {
    use super::AccountQuota;

    #[test]
    fn an_account_quota_allows_up_to_its_maximum_and_names_itself_when_refusing() {
        // Regression: the account-wide quotas GetAccountSummary reports were not enforced
        // (CreateGroup succeeded at 301 groups).
        for (quota, name, max) in [
            (AccountQuota::Users, "UsersPerAccount", 5000),
            (AccountQuota::Groups, "GroupsPerAccount", 300),
            (AccountQuota::Roles, "RolesPerAccount", 1000),
            (AccountQuota::Policies, "PoliciesPerAccount", 1500),
            (
                AccountQuota::InstanceProfiles,
                "InstanceProfilesPerAccount",
                1000,
            ),
        ] {
            assert_eq!(quota.max(), max);
            assert!(quota.check(0).is_ok());
            assert!(quota.check(max - 1).is_ok());
            for count in [max, max + 1] {
                let Err(e) = quota.check(count) else {
                    panic!("{name} allowed {count} + 1");
                };
                assert_eq!(e.code, "LimitExceeded");
                assert_eq!(e.message, format!("Cannot exceed quota for {name}: {max}."));
                assert_eq!(e.status, http::StatusCode::CONFLICT);
            }
        }
    }
}
