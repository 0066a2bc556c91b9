//! IAM's domain records: what the store keeps of users, groups, roles, managed policies, MFA
//! devices, instance profiles, identity providers and account settings.
//!
//! Each record is stored whole as one row of `iam_entities`, keyed by account, kind and a key
//! that is unique within the kind (the lower-cased name for users, groups, roles and instance
//! profiles, since IAM names are unique case-insensitively; the ARN for policies, devices and
//! providers). Access keys stay in `access_keys`.
//!
//! Nothing secret is in a record in the clear: login profiles hold Argon2id hashes, MFA devices
//! hold seeds sealed by `palisade-seal`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A tag on an IAM entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRecord {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A user's console password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginProfileRecord {
    /// PHC-format Argon2id hash of the password.
    pub password_hash: String,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// Whether the user must set a new password at next sign-in.
    pub reset_required: bool,
    /// When the password was last set, epoch seconds (for the password policy's maximum age).
    #[serde(default)]
    pub set_at: i64,
    /// Hashes of earlier passwords, newest first (for the policy's reuse prevention).
    #[serde(default)]
    pub previous_hashes: Vec<String>,
}

impl fmt::Debug for LoginProfileRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginProfileRecord")
            .field("created_at", &self.created_at)
            .field("reset_required", &self.reset_required)
            .finish_non_exhaustive()
    }
}

/// An uploaded SSH public key or signing certificate of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCredentialRecord {
    /// The key or certificate id.
    pub id: String,
    /// The public key or certificate body.
    pub body: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// Upload time, epoch seconds.
    pub uploaded_at: i64,
}

/// A user's service-specific credential (CodeCommit and Keyspaces passwords, Bedrock and
/// CloudWatch Logs API keys). Its password or secret is shown once, when it is made, and is not
/// kept: no service Palisade serves checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCredentialRecord {
    /// `ACCA…`.
    pub id: String,
    /// The service it is for (`codecommit.amazonaws.com`, ...).
    pub service: String,
    /// The public part: `<user>-at-<account>` for passwords, the alias for API keys.
    pub service_user: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// For API keys made with an age, when they expire, epoch seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// An IAM user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The owning account.
    pub account_id: String,
    /// The name as created.
    pub name: String,
    /// `AIDA…`.
    pub id: String,
    /// The path, `/` by default.
    pub path: String,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// Tags, in the order given.
    #[serde(default)]
    pub tags: Vec<TagRecord>,
    /// Inline policies: name → document.
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// ARNs of attached managed policies.
    #[serde(default)]
    pub attached: Vec<String>,
    /// Names of the groups the user is in.
    #[serde(default)]
    pub groups: Vec<String>,
    /// ARN of the permissions boundary.
    #[serde(default)]
    pub boundary: Option<String>,
    /// The login profile, if the user has a password.
    #[serde(default)]
    pub login: Option<LoginProfileRecord>,
    /// When the password was last used, epoch seconds.
    #[serde(default)]
    pub password_last_used: Option<i64>,
    /// SSH public keys.
    #[serde(default)]
    pub ssh_keys: Vec<UserCredentialRecord>,
    /// Signing certificates.
    #[serde(default)]
    pub signing_certificates: Vec<UserCredentialRecord>,
    /// Service-specific credentials.
    #[serde(default)]
    pub service_credentials: Vec<ServiceCredentialRecord>,
}

/// An IAM group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// The owning account.
    pub account_id: String,
    /// The name as created.
    pub name: String,
    /// `AGPA…`.
    pub id: String,
    /// The path.
    pub path: String,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// Inline policies: name → document.
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// ARNs of attached managed policies.
    #[serde(default)]
    pub attached: Vec<String>,
}

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    /// The owning account.
    pub account_id: String,
    /// The name as created.
    pub name: String,
    /// `AROA…`.
    pub id: String,
    /// The path.
    pub path: String,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// The trust policy document.
    pub trust_policy: String,
    /// The description.
    #[serde(default)]
    pub description: Option<String>,
    /// The longest session, in seconds (3,600 … 43,200).
    pub max_session_duration: i64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<TagRecord>,
    /// Inline policies: name → document.
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// ARNs of attached managed policies.
    #[serde(default)]
    pub attached: Vec<String>,
    /// ARN of the permissions boundary.
    #[serde(default)]
    pub boundary: Option<String>,
    /// When the role was last assumed, epoch seconds, and in which region.
    #[serde(default)]
    pub last_used: Option<(i64, String)>,
}

/// One version of a customer-managed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersionRecord {
    /// `v1`, `v2`, …
    pub version_id: String,
    /// The document.
    pub document: String,
    /// Creation time, epoch seconds.
    pub created_at: i64,
}

/// A customer-managed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPolicyRecord {
    /// The owning account.
    pub account_id: String,
    /// The name.
    pub name: String,
    /// `ANPA…`.
    pub id: String,
    /// The path.
    pub path: String,
    /// The ARN.
    pub arn: String,
    /// The description.
    #[serde(default)]
    pub description: Option<String>,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// Last update (new default version), epoch seconds.
    pub updated_at: i64,
    /// The default version's id.
    pub default_version: String,
    /// The versions, oldest first (at most 5).
    pub versions: Vec<PolicyVersionRecord>,
    /// The number the next version gets.
    pub next_version: u32,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<TagRecord>,
}

/// A virtual MFA device.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaDeviceRecord {
    /// The owning account.
    pub account_id: String,
    /// The serial number (the device's ARN).
    pub serial: String,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// The TOTP seed, sealed with `palisade-seal` (purpose `MfaSeed`, bound to the serial).
    pub sealed_seed: Vec<u8>,
    /// The user the device is enabled for.
    #[serde(default)]
    pub user: Option<String>,
    /// When it was enabled, epoch seconds.
    #[serde(default)]
    pub enabled_at: Option<i64>,
    /// The last TOTP time step accepted, so that a code is never accepted twice.
    #[serde(default)]
    pub last_step: Option<u64>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<TagRecord>,
}

impl fmt::Debug for MfaDeviceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaDeviceRecord")
            .field("serial", &self.serial)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// An instance profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceProfileRecord {
    /// The owning account.
    pub account_id: String,
    /// The name.
    pub name: String,
    /// `AIPA…`.
    pub id: String,
    /// The path.
    pub path: String,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// Names of its roles (at most one).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<TagRecord>,
}

/// An OpenID Connect or SAML identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRecord {
    /// The owning account.
    pub account_id: String,
    /// The ARN.
    pub arn: String,
    /// `oidc` or `saml`.
    pub protocol: String,
    /// OIDC: the issuer URL.
    #[serde(default)]
    pub url: Option<String>,
    /// OIDC: the audiences.
    #[serde(default)]
    pub client_ids: Vec<String>,
    /// OIDC: the certificate thumbprints.
    #[serde(default)]
    pub thumbprints: Vec<String>,
    /// SAML: the metadata document.
    #[serde(default)]
    pub metadata: Option<String>,
    /// Creation time, epoch seconds.
    pub created_at: i64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<TagRecord>,
}

/// A server certificate (for load balancers and CloudFront, which Palisade does not serve). Its
/// private key is checked at upload and not kept: nothing Palisade serves would use it, and IAM
/// never returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCertificateRecord {
    /// The owning account.
    pub account_id: String,
    /// The name.
    pub name: String,
    /// `ASCA…`.
    pub id: String,
    /// The path.
    pub path: String,
    /// The PEM certificate body.
    pub body: String,
    /// The PEM chain.
    #[serde(default)]
    pub chain: Option<String>,
    /// Upload time, epoch seconds.
    pub uploaded_at: i64,
    /// The certificate's notAfter, epoch seconds.
    pub expires_at: i64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<TagRecord>,
}

/// The account's password policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicyRecord {
    /// Minimum length (6 … 128).
    pub minimum_length: i64,
    /// Needs a symbol.
    pub require_symbols: bool,
    /// Needs a digit.
    pub require_numbers: bool,
    /// Needs an upper-case letter.
    pub require_uppercase: bool,
    /// Needs a lower-case letter.
    pub require_lowercase: bool,
    /// Users may change their own password.
    pub allow_users_to_change: bool,
    /// Days a password is valid.
    pub max_age_days: Option<i64>,
    /// How many previous passwords may not be reused.
    pub reuse_prevention: Option<i64>,
    /// Whether an expired password can only be reset by an administrator.
    pub hard_expiry: Option<bool>,
}

/// Account-wide IAM settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSettingsRecord {
    /// The owning account.
    pub account_id: String,
    /// The account alias (at most one).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The password policy.
    #[serde(default)]
    pub password_policy: Option<PasswordPolicyRecord>,
    /// The version of the session tokens STS's global endpoint issues (1 or 2), set with
    /// `SetSecurityTokenServicePreferences`; `None` is AWS's default, 1.
    #[serde(default)]
    pub global_endpoint_token_version: Option<u8>,
    /// The root user's signing certificates: IAM manages them as a user's, without a user
    /// record to keep them on.
    #[serde(default)]
    pub root_signing_certificates: Vec<UserCredentialRecord>,
}

/// Any IAM entity the store keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum IamRecord {
    /// A user.
    User(UserRecord),
    /// A group.
    Group(GroupRecord),
    /// A role.
    Role(RoleRecord),
    /// A customer-managed policy.
    Policy(ManagedPolicyRecord),
    /// A virtual MFA device.
    MfaDevice(MfaDeviceRecord),
    /// An instance profile.
    InstanceProfile(InstanceProfileRecord),
    /// An identity provider.
    Provider(ProviderRecord),
    /// A server certificate.
    ServerCertificate(ServerCertificateRecord),
    /// The account's settings.
    Settings(AccountSettingsRecord),
}

/// The kinds of [`IamRecord`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IamKind {
    /// Users.
    User,
    /// Groups.
    Group,
    /// Roles.
    Role,
    /// Customer-managed policies.
    Policy,
    /// Virtual MFA devices.
    MfaDevice,
    /// Instance profiles.
    InstanceProfile,
    /// Identity providers.
    Provider,
    /// Server certificates.
    ServerCertificate,
    /// Account settings.
    Settings,
}

impl IamKind {
    /// The `kind` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Role => "role",
            Self::Policy => "policy",
            Self::MfaDevice => "mfa",
            Self::InstanceProfile => "instance-profile",
            Self::Provider => "provider",
            Self::ServerCertificate => "server-certificate",
            Self::Settings => "settings",
        }
    }
}

impl IamRecord {
    /// The owning account.
    pub fn account_id(&self) -> &str {
        match self {
            Self::User(r) => &r.account_id,
            Self::Group(r) => &r.account_id,
            Self::Role(r) => &r.account_id,
            Self::Policy(r) => &r.account_id,
            Self::MfaDevice(r) => &r.account_id,
            Self::InstanceProfile(r) => &r.account_id,
            Self::Provider(r) => &r.account_id,
            Self::ServerCertificate(r) => &r.account_id,
            Self::Settings(r) => &r.account_id,
        }
    }

    /// The record's kind.
    pub fn kind(&self) -> IamKind {
        match self {
            Self::User(_) => IamKind::User,
            Self::Group(_) => IamKind::Group,
            Self::Role(_) => IamKind::Role,
            Self::Policy(_) => IamKind::Policy,
            Self::MfaDevice(_) => IamKind::MfaDevice,
            Self::InstanceProfile(_) => IamKind::InstanceProfile,
            Self::Provider(_) => IamKind::Provider,
            Self::ServerCertificate(_) => IamKind::ServerCertificate,
            Self::Settings(_) => IamKind::Settings,
        }
    }

    /// The key unique within the account and kind.
    pub fn key(&self) -> String {
        match self {
            Self::User(r) => r.name.to_lowercase(),
            Self::Group(r) => r.name.to_lowercase(),
            Self::Role(r) => r.name.to_lowercase(),
            Self::InstanceProfile(r) => r.name.to_lowercase(),
            Self::ServerCertificate(r) => r.name.to_lowercase(),
            Self::Policy(r) => r.arn.clone(),
            Self::MfaDevice(r) => r.serial.clone(),
            Self::Provider(r) => r.arn.clone(),
            Self::Settings(_) => "settings".to_owned(),
        }
    }
}

/// One change in an atomic IAM write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamChange {
    /// Inserts or replaces a record.
    Put(Box<IamRecord>),
    /// Deletes a record.
    Delete {
        /// The account.
        account_id: String,
        /// The kind.
        kind: IamKind,
        /// The key ([`IamRecord::key`]).
        key: String,
    },
    /// Deletes an access key.
    DeleteAccessKey(String),
}

impl From<UserRecord> for IamRecord {
    fn from(r: UserRecord) -> Self {
        Self::User(r)
    }
}
impl From<GroupRecord> for IamRecord {
    fn from(r: GroupRecord) -> Self {
        Self::Group(r)
    }
}
impl From<RoleRecord> for IamRecord {
    fn from(r: RoleRecord) -> Self {
        Self::Role(r)
    }
}
impl From<ManagedPolicyRecord> for IamRecord {
    fn from(r: ManagedPolicyRecord) -> Self {
        Self::Policy(r)
    }
}
impl From<MfaDeviceRecord> for IamRecord {
    fn from(r: MfaDeviceRecord) -> Self {
        Self::MfaDevice(r)
    }
}
impl From<InstanceProfileRecord> for IamRecord {
    fn from(r: InstanceProfileRecord) -> Self {
        Self::InstanceProfile(r)
    }
}
impl From<ProviderRecord> for IamRecord {
    fn from(r: ProviderRecord) -> Self {
        Self::Provider(r)
    }
}
impl From<ServerCertificateRecord> for IamRecord {
    fn from(r: ServerCertificateRecord) -> Self {
        Self::ServerCertificate(r)
    }
}
