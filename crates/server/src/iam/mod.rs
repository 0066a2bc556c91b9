//! IAM's state, held in memory and written through to the store.
//!
//! Every request is authorized against the caller's policies, so they must be at hand without a
//! store read: the whole IAM state of every account lives in memory ([`IamData`]), loaded at
//! start, and each mutation is applied there and then written to the store in one transaction
//! ([`Iam::mutate`]). Mutations are serialised; reads never wait for the store.
//!
//! What the authorizer needs of a principal (its identity policies, compiled, its boundary and
//! tags) is cached per principal in [`Permissions`] and dropped whenever IAM changes.

pub mod managed;
mod managed_data;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use palisade_policy::{CompiledPolicy, PolicyKind, PolicySet};
use palisade_store::{
    AccountSettingsRecord, GroupRecord, IamChange, IamKind, IamRecord, InstanceProfileRecord,
    ManagedPolicyRecord, MfaDeviceRecord, ProviderRecord, RoleRecord, ServerCertificateRecord,
    Store, StoreError, TagRecord, UserRecord,
};

use crate::error::ApiError;

/// The IAM state of one account. Maps are keyed as the store keys them: lower-cased names for
/// users, groups, roles and instance profiles; ARNs for policies, MFA devices and providers.
#[derive(Debug, Clone, Default)]
pub struct AccountIam {
    /// Users.
    pub users: BTreeMap<String, UserRecord>,
    /// Groups.
    pub groups: BTreeMap<String, GroupRecord>,
    /// Roles.
    pub roles: BTreeMap<String, RoleRecord>,
    /// Customer-managed policies.
    pub policies: BTreeMap<String, ManagedPolicyRecord>,
    /// Virtual MFA devices.
    pub mfa: BTreeMap<String, MfaDeviceRecord>,
    /// Instance profiles.
    pub instance_profiles: BTreeMap<String, InstanceProfileRecord>,
    /// Identity providers.
    pub providers: BTreeMap<String, ProviderRecord>,
    /// Server certificates (keyed by lower-cased name).
    pub server_certificates: BTreeMap<String, ServerCertificateRecord>,
    /// Account settings.
    pub settings: AccountSettingsRecord,
}

impl AccountIam {
    /// A user by name (case-insensitive).
    pub fn user(&self, name: &str) -> Option<&UserRecord> {
        self.users.get(&name.to_lowercase())
    }
    /// A group by name.
    pub fn group(&self, name: &str) -> Option<&GroupRecord> {
        self.groups.get(&name.to_lowercase())
    }
    /// A role by name.
    pub fn role(&self, name: &str) -> Option<&RoleRecord> {
        self.roles.get(&name.to_lowercase())
    }
}

/// Every account's IAM state.
#[derive(Debug, Default)]
pub struct IamData {
    /// By account id.
    pub accounts: HashMap<String, AccountIam>,
}

impl IamData {
    fn insert(&mut self, record: IamRecord) {
        let account = self
            .accounts
            .entry(record.account_id().to_owned())
            .or_default();
        let key = record.key();
        match record {
            IamRecord::User(r) => {
                account.users.insert(key, r);
            }
            IamRecord::Group(r) => {
                account.groups.insert(key, r);
            }
            IamRecord::Role(r) => {
                account.roles.insert(key, r);
            }
            IamRecord::Policy(r) => {
                account.policies.insert(key, r);
            }
            IamRecord::MfaDevice(r) => {
                account.mfa.insert(key, r);
            }
            IamRecord::InstanceProfile(r) => {
                account.instance_profiles.insert(key, r);
            }
            IamRecord::Provider(r) => {
                account.providers.insert(key, r);
            }
            IamRecord::ServerCertificate(r) => {
                account.server_certificates.insert(key, r);
            }
            IamRecord::Settings(r) => account.settings = r,
        }
    }

    /// An account's state, if it has any.
    pub fn account(&self, account_id: &str) -> Option<&AccountIam> {
        self.accounts.get(account_id)
    }

    /// The first `AWS` principal of a resource or trust policy that names an IAM user or role
    /// that does not exist, in `own_account` or another account this server holds. AWS resolves
    /// such principals when a policy is saved and refuses the policy when one names nobody, so
    /// that a user created later under that name does not inherit the access. Principals of
    /// accounts the server does not hold cannot be checked and pass.
    pub fn missing_principal(&self, doc: &str, own_account: &str) -> Option<String> {
        let doc: serde_json::Value = serde_json::from_str(doc).ok()?;
        let statements = match doc.get("Statement")? {
            serde_json::Value::Array(a) => a.iter().collect::<Vec<_>>(),
            one => vec![one],
        };
        let principals = statements
            .into_iter()
            .flat_map(|st| [st.get("Principal"), st.get("NotPrincipal")])
            .flatten()
            .filter_map(|p| p.get("AWS"))
            .flat_map(|aws| match aws {
                serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
                other => other.as_str().into_iter().collect::<Vec<_>>(),
            })
            .collect::<Vec<_>>();
        principals
            .into_iter()
            .find(|arn| !self.principal_exists(arn, own_account))
            .map(str::to_owned)
    }

    /// Whether an `AWS` principal names something that exists: an IAM user or role (or a session
    /// of a role) of `own_account` or of another account this server holds. Anything else (an
    /// account, a principal of an account the server does not hold) cannot be checked and
    /// passes.
    pub fn principal_exists(&self, arn: &str, own_account: &str) -> bool {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let ["arn", _, service, _, account, resource] = parts.as_slice() else {
            return true;
        };
        let (service, account, resource) = (*service, *account, *resource);
        let known = self.account(account);
        if known.is_none() && account != own_account {
            return true;
        }
        let last = |rest: &'_ str| rest.rsplit('/').next().unwrap_or(rest).to_owned();
        match (service, resource.split_once('/')) {
            ("iam", Some(("user", rest))) => known
                .and_then(|a| a.user(&last(rest)))
                .is_some_and(|u| user_arn(account, &u.path, &u.name).eq_ignore_ascii_case(arn)),
            ("iam", Some(("role", rest))) => known
                .and_then(|a| a.role(&last(rest)))
                .is_some_and(|r| role_arn(account, &r.path, &r.name).eq_ignore_ascii_case(arn)),
            ("sts", Some(("assumed-role", rest))) => known
                .and_then(|a| a.role(rest.split('/').next().unwrap_or(rest)))
                .is_some(),
            _ => true,
        }
    }

    /// The unique id of the IAM user or role an ARN names (`AIDA…`, `AROA…`), or, for an
    /// assumed-role session's ARN, its role's id with the session name (`AROA…:name`, the
    /// session's `aws:userid`). `None` for anything else: accounts, federated users, principals
    /// that do not exist or of accounts the server does not hold. What names a principal by this
    /// id (a KMS grant) names that principal only, not one created later under the same name.
    pub fn principal_unique_id(&self, arn: &str) -> Option<String> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let ["arn", _, service, _, account, resource] = parts.as_slice() else {
            return None;
        };
        let (service, account, resource) = (*service, *account, *resource);
        let known = self.account(account)?;
        let last = |rest: &'_ str| rest.rsplit('/').next().unwrap_or(rest).to_owned();
        match (service, resource.split_once('/')) {
            ("iam", Some(("user", rest))) => known
                .user(&last(rest))
                .filter(|u| user_arn(account, &u.path, &u.name).eq_ignore_ascii_case(arn))
                .map(|u| u.id.clone()),
            ("iam", Some(("role", rest))) => known
                .role(&last(rest))
                .filter(|r| role_arn(account, &r.path, &r.name).eq_ignore_ascii_case(arn))
                .map(|r| r.id.clone()),
            ("sts", Some(("assumed-role", rest))) => {
                let (role, session) = rest.split_once('/')?;
                known.role(role).map(|r| format!("{}:{session}", r.id))
            }
            _ => None,
        }
    }

    /// A managed policy by ARN: AWS-managed or customer-managed in any account.
    /// A managed policy `account` can attach, use as a boundary or as a session policy: AWS's,
    /// or one of its own. Another account's policy is not attachable, though it exists.
    pub fn attachable_policy(&self, arn: &str, account: &str) -> Option<PolicyRef<'_>> {
        let empty = AccountIam::default();
        let mine = self.accounts.get(account).unwrap_or(&empty);
        attachable(mine, account, arn)
            .then(|| self.managed_policy(arn))
            .flatten()
    }

    pub fn managed_policy(&self, arn: &str) -> Option<PolicyRef<'_>> {
        if let Some(p) = managed::by_arn(arn) {
            return Some(PolicyRef::Aws(p));
        }
        let account = arn.split(':').nth(4)?;
        self.accounts
            .get(account)?
            .policies
            .get(arn)
            .map(PolicyRef::Customer)
    }
}

/// Whether `account_id` may attach the managed policy `arn`: AWS's, or one of its own.
fn attachable(account: &AccountIam, account_id: &str, arn: &str) -> bool {
    managed::by_arn(arn).is_some_and(|p| !managed::is_deprecated(p))
        || (arn.split(':').nth(4) == Some(account_id) && account.policies.contains_key(arn))
}

/// A managed policy, AWS's or the customer's.
#[derive(Debug, Clone, Copy)]
pub enum PolicyRef<'a> {
    /// AWS-managed.
    Aws(&'static managed::AwsPolicy),
    /// Customer-managed.
    Customer(&'a ManagedPolicyRecord),
}

impl PolicyRef<'_> {
    /// The default version's document.
    pub fn document(&self) -> &str {
        match self {
            Self::Aws(p) => p.document,
            Self::Customer(p) => p
                .versions
                .iter()
                .find(|v| v.version_id == p.default_version)
                .map_or("", |v| v.document.as_str()),
        }
    }
    /// The policy's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Aws(p) => p.name,
            Self::Customer(p) => &p.name,
        }
    }
}

/// A mutation in progress: changes to one account's state, remembering what was touched so
/// that exactly those records are written.
#[derive(Debug)]
pub struct Tx<'a> {
    /// The account's state (read it freely; change it through the `*_mut`, `insert_*` and
    /// `remove_*` methods so that the change is written).
    pub account: &'a mut AccountIam,
    account_id: String,
    dirty: HashSet<(IamKind, String)>,
    extra: Vec<IamChange>,
}

macro_rules! accessors {
    ($field:ident, $record:ty, $kind:expr, $get_mut:ident, $insert:ident, $remove:ident, $keyf:expr) => {
        /// Changes a record (marks it for writing).
        pub fn $get_mut(&mut self, key: &str) -> Option<&mut $record> {
            let key = ($keyf)(key);
            let found = self.account.$field.get_mut(&key);
            if found.is_some() {
                self.dirty.insert(($kind, key));
            }
            found
        }
        /// Inserts or replaces a record.
        pub fn $insert(&mut self, record: $record) {
            let key = IamRecord::from(record.clone()).key();
            self.dirty.insert(($kind, key.clone()));
            self.account.$field.insert(key, record);
        }
        /// Removes a record.
        pub fn $remove(&mut self, key: &str) -> Option<$record> {
            let key = ($keyf)(key);
            let removed = self.account.$field.remove(&key);
            if removed.is_some() {
                self.dirty.insert(($kind, key));
            }
            removed
        }
    };
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}
fn exact(s: &str) -> String {
    s.to_owned()
}

impl Tx<'_> {
    accessors!(
        users,
        UserRecord,
        IamKind::User,
        user_mut,
        insert_user,
        remove_user,
        lower
    );
    accessors!(
        groups,
        GroupRecord,
        IamKind::Group,
        group_mut,
        insert_group,
        remove_group,
        lower
    );
    accessors!(
        roles,
        RoleRecord,
        IamKind::Role,
        role_mut,
        insert_role,
        remove_role,
        lower
    );
    accessors!(
        policies,
        ManagedPolicyRecord,
        IamKind::Policy,
        policy_mut,
        insert_policy,
        remove_policy,
        exact
    );
    accessors!(
        mfa,
        MfaDeviceRecord,
        IamKind::MfaDevice,
        mfa_mut,
        insert_mfa,
        remove_mfa,
        exact
    );
    accessors!(
        instance_profiles,
        InstanceProfileRecord,
        IamKind::InstanceProfile,
        instance_profile_mut,
        insert_instance_profile,
        remove_instance_profile,
        lower
    );
    accessors!(
        providers,
        ProviderRecord,
        IamKind::Provider,
        provider_mut,
        insert_provider,
        remove_provider,
        exact
    );
    accessors!(
        server_certificates,
        ServerCertificateRecord,
        IamKind::ServerCertificate,
        server_certificate_mut,
        insert_server_certificate,
        remove_server_certificate,
        lower
    );

    /// The account's settings, to change.
    pub fn settings_mut(&mut self) -> &mut AccountSettingsRecord {
        self.dirty
            .insert((IamKind::Settings, "settings".to_owned()));
        self.account
            .settings
            .account_id
            .clone_from(&self.account_id);
        &mut self.account.settings
    }

    /// Deletes an access key in the same transaction.
    pub fn delete_access_key(&mut self, access_key_id: &str) {
        self.extra
            .push(IamChange::DeleteAccessKey(access_key_id.to_owned()));
    }

    /// The account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Whether the account can attach `arn` or use it as a boundary, as
    /// [`IamData::attachable_policy`] decides. Asked inside the transaction that attaches it, so
    /// that a DeletePolicy cannot run between the check and the write and leave an attachment
    /// to a policy that no longer exists.
    pub fn attachable_policy(&self, arn: &str) -> bool {
        attachable(self.account, &self.account_id, arn)
    }

    fn changes(self) -> Vec<IamChange> {
        let Tx {
            account,
            account_id,
            dirty,
            mut extra,
        } = self;
        let mut out = Vec::with_capacity(dirty.len() + extra.len());
        for (kind, key) in dirty {
            let record = match kind {
                IamKind::User => account.users.get(&key).cloned().map(IamRecord::User),
                IamKind::Group => account.groups.get(&key).cloned().map(IamRecord::Group),
                IamKind::Role => account.roles.get(&key).cloned().map(IamRecord::Role),
                IamKind::Policy => account.policies.get(&key).cloned().map(IamRecord::Policy),
                IamKind::MfaDevice => account.mfa.get(&key).cloned().map(IamRecord::MfaDevice),
                IamKind::InstanceProfile => account
                    .instance_profiles
                    .get(&key)
                    .cloned()
                    .map(IamRecord::InstanceProfile),
                IamKind::Provider => account
                    .providers
                    .get(&key)
                    .cloned()
                    .map(IamRecord::Provider),
                IamKind::ServerCertificate => account
                    .server_certificates
                    .get(&key)
                    .cloned()
                    .map(IamRecord::ServerCertificate),
                IamKind::Settings => Some(IamRecord::Settings(account.settings.clone())),
            };
            out.push(match record {
                Some(r) => IamChange::Put(Box::new(r)),
                None => IamChange::Delete {
                    account_id: account_id.clone(),
                    kind,
                    key,
                },
            });
        }
        out.append(&mut extra);
        out
    }
}

/// What the authorizer needs of a user or role.
#[derive(Debug, Default)]
pub struct Permissions {
    /// Identity policies: own inline and attached, and (users) the groups'.
    pub identity: PolicySet,
    /// The permissions boundary.
    pub boundary: Option<PolicySet>,
    /// The principal's tags (`aws:PrincipalTag/*`).
    pub tags: Vec<TagRecord>,
    /// The principal's path-qualified ARN.
    pub arn: String,
    /// The unique id (a session of a deleted and recreated role must not get the new role's
    /// permissions).
    pub id: String,
}

/// The IAM state and its store.
#[derive(Debug)]
pub struct Iam {
    store: Arc<dyn Store>,
    data: RwLock<IamData>,
    writer: tokio::sync::Mutex<()>,
    perms: RwLock<HashMap<String, Arc<Permissions>>>,
    sessions: RwLock<HashMap<String, Arc<PolicySet>>>,
    /// Bumped by `invalidate`: permissions built from the state as it was before a change are
    /// cached only if no change came while they were built (a detach racing a request could
    /// otherwise leave the old permissions cached until the next change).
    generation: AtomicU64,
    /// The last credential report of each account: when it was generated (epoch seconds) and
    /// its CSV; in the store too (collection [`REPORTS`]), so that a restart within the four
    /// hours AWS keeps a report does not lose it.
    reports: RwLock<HashMap<String, CredentialReport>>,
    /// Service-last-accessed reports by job id: (the ARN of the principal that generated it,
    /// report). In memory, as AWS keeps a report only for a while after it is generated.
    advisor: RwLock<HashMap<String, (String, Arc<serde_json::Value>)>>,
}

/// The most service-last-accessed reports kept; beyond it the oldest go.
const ADVISOR_JOBS_MAX: usize = 1_000;

/// A generated credential report: when (epoch seconds) and its CSV.
pub type CredentialReport = (i64, Arc<Vec<u8>>);

/// The store collection of credential reports, one per account: the generation time as 8
/// big-endian bytes, then the CSV (user names, ARNs and dates; no secret).
const REPORTS: &str = "iam.credential-report";

/// The store collection of access advisor reports, one document per job id.
const ADVISOR_JOBS: &str = "iam.advisor-jobs";

/// The most compiled session policies kept; beyond it the cache starts over.
const SESSION_CACHE_MAX: usize = 10_000;

impl Iam {
    /// An empty IAM state over the store; [`Iam::load`] reads what the store holds.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            data: RwLock::new(IamData::default()),
            writer: tokio::sync::Mutex::new(()),
            perms: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            sessions: RwLock::new(HashMap::new()),
            reports: RwLock::new(HashMap::new()),
            advisor: RwLock::new(HashMap::new()),
        }
    }

    /// The account's last credential report: generation time (epoch seconds) and CSV.
    pub fn credential_report(&self, account_id: &str) -> Option<CredentialReport> {
        self.reports.read().ok()?.get(account_id).cloned()
    }

    /// Keeps a freshly generated credential report, in memory and in the store.
    pub async fn set_credential_report(
        &self,
        account_id: &str,
        at: i64,
        csv: Vec<u8>,
    ) -> Result<(), StoreError> {
        let mut body = at.to_be_bytes().to_vec();
        body.extend_from_slice(&csv);
        self.store
            .apply_documents(&[palisade_store::DocumentChange::Put(
                palisade_store::Document {
                    collection: REPORTS.to_owned(),
                    key: account_id.to_owned(),
                    body,
                },
            )])
            .await?;
        if let Ok(mut r) = self.reports.write() {
            r.insert(account_id.to_owned(), (at, Arc::new(csv)));
        }
        Ok(())
    }

    /// Keeps a service-last-accessed report under its job id, for the principal `owner` (an
    /// ARN) that generated it, in the store too (bug: reports lived in memory only, and a job
    /// id handed out before a restart answered NoSuchEntity after it). The oldest job goes
    /// when there are [`ADVISOR_JOBS_MAX`].
    pub async fn set_advisor_job(
        &self,
        job_id: &str,
        owner: &str,
        report: serde_json::Value,
    ) -> Result<(), StoreError> {
        let oldest = self.advisor.read().ok().and_then(|jobs| {
            (jobs.len() >= ADVISOR_JOBS_MAX)
                .then(|| {
                    jobs.iter()
                        .min_by_key(|(_, (_, r))| {
                            r.get("JobCreationDate").and_then(serde_json::Value::as_i64)
                        })
                        .map(|(id, _)| id.clone())
                })
                .flatten()
        });
        let body = serde_json::to_vec(&serde_json::json!({"owner": owner, "report": report}))
            .map_err(|source| StoreError::Record {
                key: job_id.to_owned(),
                source,
            })?;
        let mut changes = vec![palisade_store::DocumentChange::Put(
            palisade_store::Document {
                collection: ADVISOR_JOBS.to_owned(),
                key: job_id.to_owned(),
                body,
            },
        )];
        if let Some(id) = &oldest {
            changes.push(palisade_store::DocumentChange::Delete {
                collection: ADVISOR_JOBS.to_owned(),
                key: id.clone(),
            });
        }
        self.store.apply_documents(&changes).await?;
        if let Ok(mut jobs) = self.advisor.write() {
            if let Some(id) = oldest {
                jobs.remove(&id);
            }
            jobs.insert(job_id.to_owned(), (owner.to_owned(), Arc::new(report)));
        }
        Ok(())
    }

    /// The service-last-accessed report with that job id, if `owner` (an ARN) generated it.
    /// AWS lets only the user, or the role session, that started a job read it: a job id is no
    /// capability to pass around.
    pub fn advisor_job(&self, job_id: &str, owner: &str) -> Option<Arc<serde_json::Value>> {
        let jobs = self.advisor.read().ok()?;
        jobs.get(job_id)
            .filter(|(generated_by, _)| generated_by == owner)
            .map(|(_, r)| r.clone())
    }

    /// Replaces the state in memory with what the store holds.
    pub async fn load(&self) -> Result<(), StoreError> {
        let mut fresh = IamData::default();
        for record in self.store.iam_records().await? {
            fresh.insert(record);
        }
        if let Ok(mut data) = self.data.write() {
            *data = fresh;
        }
        self.invalidate();
        let mut reports = HashMap::new();
        for doc in self.store.documents(REPORTS).await? {
            if let Some((at, csv)) = doc.body.split_first_chunk::<8>() {
                reports.insert(doc.key, (i64::from_be_bytes(*at), Arc::new(csv.to_vec())));
            }
        }
        if let Ok(mut r) = self.reports.write() {
            *r = reports;
        }
        let mut jobs = HashMap::new();
        for doc in self.store.documents(ADVISOR_JOBS).await? {
            let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&doc.body) else {
                continue;
            };
            let owner = v
                .get("owner")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            if let (Some(owner), Some(report)) =
                (owner, v.get_mut("report").map(serde_json::Value::take))
            {
                jobs.insert(doc.key, (owner, Arc::new(report)));
            }
        }
        if let Ok(mut a) = self.advisor.write() {
            *a = jobs;
        }
        Ok(())
    }

    /// Reads the state.
    pub fn read<T>(&self, f: impl FnOnce(&IamData) -> T) -> Result<T, ApiError> {
        let data = self
            .data
            .read()
            .map_err(|_| ApiError::internal("iam state lock poisoned"))?;
        Ok(f(&data))
    }

    /// Reads one account's state (empty when it has none).
    pub fn read_account<T>(
        &self,
        account_id: &str,
        f: impl FnOnce(&AccountIam) -> T,
    ) -> Result<T, ApiError> {
        static EMPTY: std::sync::OnceLock<AccountIam> = std::sync::OnceLock::new();
        self.read(|d| {
            f(d.account(account_id)
                .unwrap_or_else(|| EMPTY.get_or_init(AccountIam::default)))
        })
    }

    /// Serialises a sequence of reads and writes outside [`Iam::mutate`] (access keys).
    pub async fn lock_writes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    /// Changes one account's state: `f` runs on the state in memory; what it touched is then
    /// written to the store in one transaction. An error from `f` leaves nothing written (`f`
    /// must check before it changes anything).
    pub async fn mutate<T>(
        &self,
        account_id: &str,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let _guard = self.writer.lock().await;
        self.mutate_locked(account_id, f).await
    }

    /// After a user or role is deleted: every role trust policy, in any account, that names it
    /// by ARN names its unique id instead, as IAM shows such policies. The policy then no longer
    /// lets anyone in, not even a new user or role created with the same name: trust was given
    /// to the principal that was, not to whoever takes its name next. The caller holds
    /// [`Iam::lock_writes`].
    pub async fn orphan_principal_locked(
        &self,
        arn: &str,
        unique_id: &str,
    ) -> Result<(), ApiError> {
        self.replace_principal_locked(arn, unique_id).await
    }

    /// After a user is renamed or moved to another path: every role trust policy, in any
    /// account, that names it by its old ARN names it by the new one, as IAM updates the
    /// policies that name a user as principal (they hold its unique id). Otherwise the renamed
    /// user would lose the trust and a new user created under the old name would inherit it.
    /// The caller holds [`Iam::lock_writes`].
    pub async fn rename_principal_locked(
        &self,
        old_arn: &str,
        new_arn: &str,
    ) -> Result<(), ApiError> {
        self.replace_principal_locked(old_arn, new_arn).await
    }

    /// Replaces the principal `from` (an ARN) with `to` in every role trust policy that names it
    /// as a principal (`palisade_policy::rename`: conditions naming it stay as written).
    async fn replace_principal_locked(&self, from: &str, to: &str) -> Result<(), ApiError> {
        let naming: Vec<(String, Vec<(String, String)>)> = self.read(|d| {
            d.accounts
                .iter()
                .map(|(account, a)| {
                    let roles = a
                        .roles
                        .values()
                        .filter_map(|r| {
                            palisade_policy::rename::replace_principal(&r.trust_policy, from, to)
                                .map(|doc| (r.name.clone(), doc))
                        })
                        .collect::<Vec<_>>();
                    (account.clone(), roles)
                })
                .filter(|(_, roles)| !roles.is_empty())
                .collect()
        })?;
        for (account, roles) in naming {
            self.mutate_locked(&account, |tx| {
                for (name, doc) in &roles {
                    if let Some(r) = tx.role_mut(name) {
                        r.trust_policy.clone_from(doc);
                    }
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    /// [`Iam::mutate`] for a caller that already holds [`Iam::lock_writes`].
    pub async fn mutate_locked<T>(
        &self,
        account_id: &str,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let (out, changes) = {
            let mut data = self
                .data
                .write()
                .map_err(|_| ApiError::internal("iam state lock poisoned"))?;
            let account = data.accounts.entry(account_id.to_owned()).or_default();
            let mut tx = Tx {
                account,
                account_id: account_id.to_owned(),
                dirty: HashSet::new(),
                extra: Vec::new(),
            };
            let out = f(&mut tx)?;
            (out, tx.changes())
        };
        self.invalidate();
        if !changes.is_empty()
            && let Err(e) = self.store.apply_iam(&changes).await
        {
            // Memory is ahead of the store: start again from what is durable.
            self.reload().await;
            return Err(ApiError::store_write(e));
        }
        Ok(out)
    }

    async fn reload(&self) {
        if let Err(e) = self.load().await {
            tracing::error!(error = %e, "cannot reload the iam state");
        }
    }

    /// Forgets everything (after the store was reset).
    pub fn clear(&self) {
        if let Ok(mut data) = self.data.write() {
            *data = IamData::default();
        }
        self.invalidate();
        if let Ok(mut r) = self.reports.write() {
            r.clear();
        }
        if let Ok(mut a) = self.advisor.write() {
            a.clear();
        }
    }

    fn invalidate(&self) {
        if let Ok(mut p) = self.perms.write() {
            p.clear();
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        // A session's managed session policies are read at each request, as AWS reads a
        // managed policy's default version (bug: a session kept the version it started with).
        if let Ok(mut s) = self.sessions.write() {
            s.clear();
        }
    }

    /// The permissions of a user (`kind` `user`) or role (`role`), cached.
    pub fn permissions(
        &self,
        account_id: &str,
        kind: IamKind,
        name: &str,
    ) -> Option<Arc<Permissions>> {
        let cache_key = format!("{}:{account_id}:{}", kind.as_str(), name.to_lowercase());
        if let Ok(p) = self.perms.read()
            && let Some(found) = p.get(&cache_key)
        {
            return Some(found.clone());
        }
        let seen = self.generation.load(Ordering::Acquire);
        let built = self
            .read(|d| build_permissions(d, account_id, kind, name))
            .ok()
            .flatten()?;
        let built = Arc::new(built);
        if let Ok(mut p) = self.perms.write()
            && self.generation.load(Ordering::Acquire) == seen
        {
            p.insert(cache_key, built.clone());
        }
        Some(built)
    }

    /// The compiled session policies of a session (inline and managed), cached by its access
    /// key id.
    pub fn session_policies(
        &self,
        access_key_id: &str,
        inline: Option<&str>,
        arns: &[String],
    ) -> Arc<PolicySet> {
        if let Ok(s) = self.sessions.read()
            && let Some(found) = s.get(access_key_id)
        {
            return found.clone();
        }
        let seen = self.generation.load(Ordering::Acquire);
        let mut set = PolicySet::new();
        if let Some(doc) = inline
            && let Some(p) = compile(doc, PolicyKind::Session, "session policy")
        {
            set.push(p);
        }
        if let Ok(data) = self.data.read() {
            for arn in arns {
                if let Some(p) = data.managed_policy(arn)
                    && let Some(c) = compile(p.document(), PolicyKind::Session, p.name())
                {
                    set.push(c);
                }
            }
        }
        let set = Arc::new(set);
        if let Ok(mut s) = self.sessions.write()
            && self.generation.load(Ordering::Acquire) == seen
        {
            if s.len() >= SESSION_CACHE_MAX {
                s.clear();
            }
            s.insert(access_key_id.to_owned(), set.clone());
        }
        set
    }
}

/// Compiles a stored document under the rules it was stored with (`parse_stored`); a
/// document the engine no longer accepts is skipped (and logged) rather than failing every
/// request of its principal.
pub fn compile(doc: &str, kind: PolicyKind, name: &str) -> Option<CompiledPolicy> {
    match CompiledPolicy::parse_stored(doc, kind) {
        Ok(p) => Some(p.with_name(name.to_owned())),
        Err(e) => {
            tracing::warn!(policy = name, error = %e, "a stored policy does not compile; ignored");
            None
        }
    }
}

fn push_managed(set: &mut PolicySet, data: &IamData, arns: &[String]) {
    for arn in arns {
        if let Some(p) = data.managed_policy(arn)
            && let Some(c) = compile(p.document(), PolicyKind::Identity, p.name())
        {
            set.push(c);
        }
    }
}

fn push_inline(set: &mut PolicySet, inline: &BTreeMap<String, String>) {
    for (name, doc) in inline {
        if let Some(c) = compile(doc, PolicyKind::Identity, name) {
            set.push(c);
        }
    }
}

fn boundary_set(data: &IamData, arn: Option<&String>) -> Option<PolicySet> {
    let arn = arn?;
    let mut set = PolicySet::new();
    if let Some(p) = data.managed_policy(arn)
        && let Some(c) = compile(p.document(), PolicyKind::Boundary, p.name())
    {
        set.push(c);
    }
    // A boundary that no longer exists allows nothing: the set stays empty.
    Some(set)
}

fn build_permissions(
    data: &IamData,
    account_id: &str,
    kind: IamKind,
    name: &str,
) -> Option<Permissions> {
    let account = data.account(account_id)?;
    match kind {
        IamKind::User => {
            let user = account.user(name)?;
            let mut identity = PolicySet::new();
            push_inline(&mut identity, &user.inline);
            push_managed(&mut identity, data, &user.attached);
            for g in &user.groups {
                if let Some(group) = account.group(g) {
                    push_inline(&mut identity, &group.inline);
                    push_managed(&mut identity, data, &group.attached);
                }
            }
            Some(Permissions {
                identity,
                boundary: boundary_set(data, user.boundary.as_ref()),
                tags: user.tags.clone(),
                arn: user_arn(account_id, &user.path, &user.name),
                id: user.id.clone(),
            })
        }
        IamKind::Role => {
            let role = account.role(name)?;
            let mut identity = PolicySet::new();
            push_inline(&mut identity, &role.inline);
            push_managed(&mut identity, data, &role.attached);
            Some(Permissions {
                identity,
                boundary: boundary_set(data, role.boundary.as_ref()),
                tags: role.tags.clone(),
                arn: role_arn(account_id, &role.path, &role.name),
                id: role.id.clone(),
            })
        }
        _ => None,
    }
}

/// `arn:aws:iam::<account>:user<path><name>`.
pub fn user_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:user{path}{name}")
}

/// `arn:aws:iam::<account>:role<path><name>`.
pub fn role_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:role{path}{name}")
}

/// `arn:aws:iam::<account>:group<path><name>`.
pub fn group_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:group{path}{name}")
}

/// `arn:aws:iam::<account>:policy<path><name>`.
pub fn policy_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:policy{path}{name}")
}

/// `arn:aws:iam::<account>:instance-profile<path><name>`.
pub fn instance_profile_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:instance-profile{path}{name}")
}
