//! AWS Identity and Access Management (awsQuery, API 2010-05-08).
//!
//! Handlers read and change the in-memory IAM state ([`crate::iam::Iam`]), which writes through
//! to the store. Inputs arrive validated against the model in its JSON value form; outputs are
//! built in the same form and encoded by the model's XML codec.

mod account;
mod advisor;
mod certs;
mod keys;
mod login;
pub(crate) mod mfa;
mod policies;
pub(crate) mod principals;
mod providers;
mod report;
mod service_credentials;
mod simulate;
mod ssh;

use http::StatusCode;
use palisade_policy::{Policy, PolicyKind};
use palisade_store::TagRecord;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::identity::Caller;
use crate::state::AppState;

/// Runs an IAM operation.
pub async fn handle(
    state: &AppState,
    caller: &Caller,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    let cx = Cx {
        state,
        caller,
        account: caller.account_id.as_str(),
    };
    let i = &input;
    principals::refuse_service_linked(&cx, operation, i)?;
    match operation {
        // Users.
        "CreateUser" => principals::create_user(&cx, i).await,
        "GetUser" => principals::get_user(&cx, i).await,
        "ListUsers" => principals::list_users(&cx, i),
        "UpdateUser" => principals::update_user(&cx, i).await,
        "DeleteUser" => principals::delete_user(&cx, i).await,
        "TagUser" => principals::tag(&cx, i, Entity::User).await,
        "UntagUser" => principals::untag(&cx, i, Entity::User).await,
        "ListUserTags" => principals::list_tags(&cx, i, Entity::User),
        // Groups.
        "CreateGroup" => principals::create_group(&cx, i).await,
        "GetGroup" => principals::get_group(&cx, i),
        "ListGroups" => principals::list_groups(&cx, i),
        "UpdateGroup" => principals::update_group(&cx, i).await,
        "DeleteGroup" => principals::delete_group(&cx, i).await,
        "AddUserToGroup" => principals::add_user_to_group(&cx, i).await,
        "RemoveUserFromGroup" => principals::remove_user_from_group(&cx, i).await,
        "ListGroupsForUser" => principals::list_groups_for_user(&cx, i),
        // Roles.
        "CreateRole" => principals::create_role(&cx, i).await,
        "CreateServiceLinkedRole" => principals::create_service_linked_role(&cx, i).await,
        "DeleteServiceLinkedRole" => principals::delete_service_linked_role(&cx, i).await,
        "GetServiceLinkedRoleDeletionStatus" => principals::deletion_status(i),
        "GetRole" => principals::get_role(&cx, i),
        "ListRoles" => principals::list_roles(&cx, i),
        "UpdateRole" => principals::update_role(&cx, i).await,
        "UpdateRoleDescription" => principals::update_role_description(&cx, i).await,
        "UpdateAssumeRolePolicy" => principals::update_assume_role_policy(&cx, i).await,
        "DeleteRole" => principals::delete_role(&cx, i).await,
        "TagRole" => principals::tag(&cx, i, Entity::Role).await,
        "UntagRole" => principals::untag(&cx, i, Entity::Role).await,
        "ListRoleTags" => principals::list_tags(&cx, i, Entity::Role),
        // Instance profiles.
        "CreateInstanceProfile" => principals::create_instance_profile(&cx, i).await,
        "GetInstanceProfile" => principals::get_instance_profile(&cx, i),
        "ListInstanceProfiles" => principals::list_instance_profiles(&cx, i),
        "ListInstanceProfilesForRole" => principals::list_instance_profiles_for_role(&cx, i),
        "DeleteInstanceProfile" => principals::delete_instance_profile(&cx, i).await,
        "AddRoleToInstanceProfile" => principals::add_role_to_instance_profile(&cx, i).await,
        "RemoveRoleFromInstanceProfile" => {
            principals::remove_role_from_instance_profile(&cx, i).await
        }
        "TagInstanceProfile" => principals::tag(&cx, i, Entity::InstanceProfile).await,
        "UntagInstanceProfile" => principals::untag(&cx, i, Entity::InstanceProfile).await,
        "ListInstanceProfileTags" => principals::list_tags(&cx, i, Entity::InstanceProfile),
        // Managed policies.
        "CreatePolicy" => policies::create_policy(&cx, i).await,
        "GetPolicy" => policies::get_policy(&cx, i),
        "ListPolicies" => policies::list_policies(&cx, i),
        "DeletePolicy" => policies::delete_policy(&cx, i).await,
        "CreatePolicyVersion" => policies::create_policy_version(&cx, i).await,
        "GetPolicyVersion" => policies::get_policy_version(&cx, i),
        "ListPolicyVersions" => policies::list_policy_versions(&cx, i),
        "DeletePolicyVersion" => policies::delete_policy_version(&cx, i).await,
        "SetDefaultPolicyVersion" => policies::set_default_policy_version(&cx, i).await,
        "TagPolicy" => principals::tag(&cx, i, Entity::Policy).await,
        "UntagPolicy" => principals::untag(&cx, i, Entity::Policy).await,
        "ListPolicyTags" => principals::list_tags(&cx, i, Entity::Policy),
        "ListEntitiesForPolicy" => policies::list_entities_for_policy(&cx, i),
        "AttachUserPolicy" => policies::attach(&cx, i, Entity::User).await,
        "AttachGroupPolicy" => policies::attach(&cx, i, Entity::Group).await,
        "AttachRolePolicy" => policies::attach(&cx, i, Entity::Role).await,
        "DetachUserPolicy" => policies::detach(&cx, i, Entity::User).await,
        "DetachGroupPolicy" => policies::detach(&cx, i, Entity::Group).await,
        "DetachRolePolicy" => policies::detach(&cx, i, Entity::Role).await,
        "ListAttachedUserPolicies" => policies::list_attached(&cx, i, Entity::User),
        "ListAttachedGroupPolicies" => policies::list_attached(&cx, i, Entity::Group),
        "ListAttachedRolePolicies" => policies::list_attached(&cx, i, Entity::Role),
        // Inline policies.
        "PutUserPolicy" => policies::put_inline(&cx, i, Entity::User).await,
        "PutGroupPolicy" => policies::put_inline(&cx, i, Entity::Group).await,
        "PutRolePolicy" => policies::put_inline(&cx, i, Entity::Role).await,
        "GetUserPolicy" => policies::get_inline(&cx, i, Entity::User),
        "GetGroupPolicy" => policies::get_inline(&cx, i, Entity::Group),
        "GetRolePolicy" => policies::get_inline(&cx, i, Entity::Role),
        "DeleteUserPolicy" => policies::delete_inline(&cx, i, Entity::User).await,
        "DeleteGroupPolicy" => policies::delete_inline(&cx, i, Entity::Group).await,
        "DeleteRolePolicy" => policies::delete_inline(&cx, i, Entity::Role).await,
        "ListUserPolicies" => policies::list_inline(&cx, i, Entity::User),
        "ListGroupPolicies" => policies::list_inline(&cx, i, Entity::Group),
        "ListRolePolicies" => policies::list_inline(&cx, i, Entity::Role),
        // Permissions boundaries.
        "PutUserPermissionsBoundary" => policies::put_boundary(&cx, i, Entity::User).await,
        "PutRolePermissionsBoundary" => policies::put_boundary(&cx, i, Entity::Role).await,
        "DeleteUserPermissionsBoundary" => policies::delete_boundary(&cx, i, Entity::User).await,
        "DeleteRolePermissionsBoundary" => policies::delete_boundary(&cx, i, Entity::Role).await,
        // Access keys.
        "CreateAccessKey" => keys::create_access_key(&cx, i).await,
        "ListAccessKeys" => keys::list_access_keys(&cx, i).await,
        "UpdateAccessKey" => keys::update_access_key(&cx, i).await,
        "DeleteAccessKey" => keys::delete_access_key(&cx, i).await,
        "GetAccessKeyLastUsed" => keys::get_access_key_last_used(&cx, i).await,
        // Passwords.
        "CreateLoginProfile" => login::create_login_profile(&cx, i).await,
        "GetLoginProfile" => login::get_login_profile(&cx, i),
        "UpdateLoginProfile" => login::update_login_profile(&cx, i).await,
        "DeleteLoginProfile" => login::delete_login_profile(&cx, i).await,
        "ChangePassword" => login::change_password(&cx, i).await,
        "UpdateAccountPasswordPolicy" => login::update_password_policy(&cx, i).await,
        "GetAccountPasswordPolicy" => login::get_password_policy(&cx),
        "DeleteAccountPasswordPolicy" => login::delete_password_policy(&cx).await,
        // MFA.
        "CreateVirtualMFADevice" => mfa::create_virtual_mfa_device(&cx, i).await,
        "EnableMFADevice" => mfa::enable_mfa_device(&cx, i).await,
        "DeactivateMFADevice" => mfa::deactivate_mfa_device(&cx, i).await,
        "DeleteVirtualMFADevice" => mfa::delete_virtual_mfa_device(&cx, i).await,
        "ListMFADevices" => mfa::list_mfa_devices(&cx, i),
        "ListVirtualMFADevices" => mfa::list_virtual_mfa_devices(&cx, i),
        "GetMFADevice" => mfa::get_mfa_device(&cx, i),
        "ResyncMFADevice" => mfa::resync_mfa_device(&cx, i).await,
        "TagMFADevice" => principals::tag(&cx, i, Entity::MfaDevice).await,
        "UntagMFADevice" => principals::untag(&cx, i, Entity::MfaDevice).await,
        "ListMFADeviceTags" => principals::list_tags(&cx, i, Entity::MfaDevice),
        // OpenID Connect providers.
        "CreateOpenIDConnectProvider" => providers::create_oidc(&cx, i).await,
        "GetOpenIDConnectProvider" => providers::get_oidc(&cx, i),
        "ListOpenIDConnectProviders" => providers::list_oidc(&cx),
        "DeleteOpenIDConnectProvider" => providers::delete_oidc(&cx, i).await,
        "UpdateOpenIDConnectProviderThumbprint" => providers::update_oidc_thumbprint(&cx, i).await,
        "AddClientIDToOpenIDConnectProvider" => providers::add_client_id(&cx, i).await,
        "RemoveClientIDFromOpenIDConnectProvider" => providers::remove_client_id(&cx, i).await,
        "TagOpenIDConnectProvider" => principals::tag(&cx, i, Entity::OidcProvider).await,
        "UntagOpenIDConnectProvider" => principals::untag(&cx, i, Entity::OidcProvider).await,
        "ListOpenIDConnectProviderTags" => principals::list_tags(&cx, i, Entity::OidcProvider),
        // SAML providers.
        "CreateSAMLProvider" => providers::create_saml(&cx, i).await,
        "GetSAMLProvider" => providers::get_saml(&cx, i),
        "ListSAMLProviders" => providers::list_saml(&cx),
        "UpdateSAMLProvider" => providers::update_saml(&cx, i).await,
        "DeleteSAMLProvider" => providers::delete_saml(&cx, i).await,
        "TagSAMLProvider" => principals::tag(&cx, i, Entity::SamlProvider).await,
        "UntagSAMLProvider" => principals::untag(&cx, i, Entity::SamlProvider).await,
        "ListSAMLProviderTags" => principals::list_tags(&cx, i, Entity::SamlProvider),
        // SSH public keys and signing certificates.
        "UploadSSHPublicKey" => ssh::upload(&cx, i, ssh::Kind::Ssh).await,
        "GetSSHPublicKey" => ssh::get(&cx, i),
        "ListSSHPublicKeys" => ssh::list(&cx, i, ssh::Kind::Ssh),
        "UpdateSSHPublicKey" => ssh::update(&cx, i, ssh::Kind::Ssh).await,
        "DeleteSSHPublicKey" => ssh::delete(&cx, i, ssh::Kind::Ssh).await,
        // Service-specific credentials.
        "CreateServiceSpecificCredential" => service_credentials::create(&cx, i).await,
        "ListServiceSpecificCredentials" => service_credentials::list(&cx, i),
        "ResetServiceSpecificCredential" => service_credentials::reset(&cx, i).await,
        "UpdateServiceSpecificCredential" => service_credentials::update(&cx, i).await,
        "DeleteServiceSpecificCredential" => service_credentials::delete(&cx, i).await,
        "UploadSigningCertificate" => ssh::upload(&cx, i, ssh::Kind::Signing).await,
        "ListSigningCertificates" => ssh::list(&cx, i, ssh::Kind::Signing),
        "UpdateSigningCertificate" => ssh::update(&cx, i, ssh::Kind::Signing).await,
        "DeleteSigningCertificate" => ssh::delete(&cx, i, ssh::Kind::Signing).await,
        // Server certificates.
        "UploadServerCertificate" => certs::upload(&cx, i).await,
        "GetServerCertificate" => certs::get(&cx, i),
        "ListServerCertificates" => certs::list(&cx, i),
        "UpdateServerCertificate" => certs::update(&cx, i).await,
        "DeleteServerCertificate" => certs::delete(&cx, i).await,
        "TagServerCertificate" => principals::tag(&cx, i, Entity::ServerCertificate).await,
        "UntagServerCertificate" => principals::untag(&cx, i, Entity::ServerCertificate).await,
        "ListServerCertificateTags" => principals::list_tags(&cx, i, Entity::ServerCertificate),
        // The account.
        "CreateAccountAlias" => account::create_account_alias(&cx, i).await,
        "DeleteAccountAlias" => account::delete_account_alias(&cx, i).await,
        "ListAccountAliases" => account::list_account_aliases(&cx, i),
        "GetAccountSummary" => account::get_account_summary(&cx).await,
        // Outbound identity federation (tokens from STS GetWebIdentityToken).
        "EnableOutboundWebIdentityFederation" => {
            let issuer = state.outbound.enable(state, cx.account).await?;
            Ok(json!({"IssuerIdentifier": issuer}))
        }
        "DisableOutboundWebIdentityFederation" => {
            state.outbound.disable(state, cx.account).await?;
            Ok(json!({}))
        }
        "GetOutboundWebIdentityFederationInfo" => {
            let (issuer, enabled) = state.outbound.info(state, cx.account)?;
            Ok(json!({"IssuerIdentifier": issuer, "JwtVendingEnabled": enabled}))
        }
        "SetSecurityTokenServicePreferences" => account::set_sts_preferences(&cx, i).await,
        "GenerateCredentialReport" => report::generate(&cx).await,
        "GetCredentialReport" => report::get(&cx),
        "GetAccountAuthorizationDetails" => account::get_account_authorization_details(&cx, i),
        // The policy engine.
        "SimulatePrincipalPolicy" => simulate::simulate_principal_policy(&cx, i),
        "SimulateCustomPolicy" => simulate::simulate_custom_policy(&cx, i),
        "GetContextKeysForCustomPolicy" => simulate::context_keys_for_custom_policy(i),
        "GetContextKeysForPrincipalPolicy" => simulate::context_keys_for_principal_policy(&cx, i),
        "GenerateServiceLastAccessedDetails" => advisor::generate(&cx, i).await,
        "GetServiceLastAccessedDetails" => advisor::get(&cx, i),
        "GetServiceLastAccessedDetailsWithEntities" => advisor::get_with_entities(&cx, i),
        "ListPoliciesGrantingServiceAccess" => {
            simulate::list_policies_granting_service_access(&cx, i)
        }
        // Palisade's accounts belong to no organization, so centralized root access has
        // nothing to act on, and no partner files delegation requests with it.
        "ListOrganizationsFeatures"
        | "EnableOrganizationsRootCredentialsManagement"
        | "DisableOrganizationsRootCredentialsManagement"
        | "EnableOrganizationsRootSessions"
        | "DisableOrganizationsRootSessions" => Err(ApiError::bad_request(
            "OrganizationNotFoundException",
            "The request was rejected because no organization is associated with your account.",
        )),
        "ListDelegationRequests" => Ok(json!({"DelegationRequests": [], "isTruncated": false})),
        "GetAccountProperties" => Ok(json!({"Properties": {}})),
        other => Err(ApiError::new(
            "NotImplemented",
            format!("palisade does not implement iam:{other} yet"),
            StatusCode::NOT_IMPLEMENTED,
        )),
    }
}

/// What every handler works with.
pub(crate) struct Cx<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    pub account: &'a str,
}

/// The entities that carry policies or tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entity {
    User,
    Group,
    Role,
    Policy,
    InstanceProfile,
    MfaDevice,
    OidcProvider,
    SamlProvider,
    ServerCertificate,
}

impl Entity {
    /// The input member naming the entity.
    fn name_member(self) -> &'static str {
        match self {
            Self::User => "UserName",
            Self::Group => "GroupName",
            Self::Role => "RoleName",
            Self::Policy => "PolicyArn",
            Self::InstanceProfile => "InstanceProfileName",
            Self::MfaDevice => "SerialNumber",
            Self::OidcProvider => "OpenIDConnectProviderArn",
            Self::SamlProvider => "SAMLProviderArn",
            Self::ServerCertificate => "ServerCertificateName",
        }
    }
    /// Whether two tag keys of this entity are the same key. IAM users' and roles' tag keys are
    /// case-insensitive (case is kept, but `department` replaces `Department`); every other
    /// taggable IAM resource's are case-sensitive, so `Costcenter` and `costcenter` are two
    /// keys (IAM User Guide, "Tagging IAM resources", Case sensitivity). Case is folded as IAM
    /// folds names, by Unicode lower case: tag keys may hold any letter.
    pub(crate) fn same_tag_key(self, a: &str, b: &str) -> bool {
        a == b || (matches!(self, Self::User | Self::Role) && a.to_lowercase() == b.to_lowercase())
    }
    /// How AWS names the entity in NoSuchEntity messages.
    fn noun(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Role => "role",
            Self::Policy => "policy",
            Self::InstanceProfile => "Instance Profile",
            Self::MfaDevice => "MFA device",
            Self::OidcProvider => "OpenIDConnect Provider",
            Self::SamlProvider => "SAMLProvider",
            Self::ServerCertificate => "Server Certificate",
        }
    }
}

// -- errors ---------------------------------------------------------------------------------------

pub(crate) fn no_such_entity(message: impl Into<String>) -> ApiError {
    ApiError::new("NoSuchEntity", message, StatusCode::NOT_FOUND)
}

pub(crate) fn already_exists(message: impl Into<String>) -> ApiError {
    ApiError::new("EntityAlreadyExists", message, StatusCode::CONFLICT)
}

pub(crate) fn delete_conflict(message: impl Into<String>) -> ApiError {
    ApiError::new("DeleteConflict", message, StatusCode::CONFLICT)
}

pub(crate) fn limit_exceeded(message: impl Into<String>) -> ApiError {
    ApiError::new("LimitExceeded", message, StatusCode::CONFLICT)
}

pub(crate) fn invalid_input(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidInput", message)
}

pub(crate) fn validation(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("ValidationError", message)
}

pub(crate) fn no_such_user(name: &str) -> ApiError {
    no_such_entity(format!("The user with name {name} cannot be found."))
}

pub(crate) fn no_such_group(name: &str) -> ApiError {
    no_such_entity(format!("The group with name {name} cannot be found."))
}

/// A service-linked role belongs to its service: only the service changes or deletes it.
pub(crate) fn unmodifiable_role(name: &str) -> ApiError {
    ApiError::bad_request(
        "UnmodifiableEntity",
        format!(
            "Cannot perform the operation on the protected role '{name}' - this role is only \
             modifiable by AWS"
        ),
    )
}

pub(crate) fn no_such_role(name: &str) -> ApiError {
    no_such_entity(format!("The role with name {name} cannot be found."))
}

// -- input ----------------------------------------------------------------------------------------

/// A string member.
pub(crate) fn s<'a>(input: &'a Value, member: &str) -> Option<&'a str> {
    input.get(member).and_then(Value::as_str)
}

/// A required string member (the model's validation has checked it is there).
pub(crate) fn req<'a>(input: &'a Value, member: &str) -> Result<&'a str, ApiError> {
    s(input, member).ok_or_else(|| validation(format!("{member} is required")))
}

/// An integer member.
pub(crate) fn int(input: &Value, member: &str) -> Option<i64> {
    input.get(member).and_then(Value::as_i64)
}

/// A boolean member.
pub(crate) fn boolean(input: &Value, member: &str) -> Option<bool> {
    input.get(member).and_then(Value::as_bool)
}

/// A list-of-strings member.
pub(crate) fn strings(input: &Value, member: &str) -> Vec<String> {
    input
        .get(member)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// IAM's own answer to a path that is not one (`Path`, `NewPath`): IAM checks paths itself, with
/// this wording, rather than reporting the model's pattern.
pub(crate) fn invalid_path(member: &str) -> ApiError {
    validation(format!(
        "The specified value for {member} is invalid. It must begin and end with / and contain \
         only alphanumeric characters and/or / characters."
    ))
}

/// IAM's answer to a `PathPrefix` that is not one.
pub(crate) fn invalid_path_prefix() -> ApiError {
    validation(
        "The specified value for pathPrefix is invalid. It must begin with the / character and \
         contain only alphanumeric characters and/or / characters.",
    )
}

/// The `Path` member, `/` by default. Besides the model's pattern (which the front end checks),
/// IAM refuses an empty segment: `/a//b/` names no path.
pub(crate) fn path(input: &Value, member: &str) -> Result<String, ApiError> {
    let p = s(input, member).unwrap_or("/");
    if !p.starts_with('/') || !p.ends_with('/') || p.contains("//") {
        let mut wire = member.to_owned();
        if let Some(first) = wire.get_mut(..1) {
            first.make_ascii_lowercase();
        }
        return Err(invalid_path(&wire));
    }
    Ok(p.to_owned())
}

/// Changes the record of user `name` in the caller's account, or answers `NoSuchEntity`.
pub(crate) async fn mutate_user<T>(
    cx: &Cx<'_>,
    name: &str,
    f: impl FnOnce(&mut palisade_store::UserRecord) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    cx.state
        .iam
        .mutate(cx.account, |tx| match tx.user_mut(name) {
            Some(u) => f(u),
            None => Err(no_such_user(name)),
        })
        .await
}

/// The `Tags` member.
pub(crate) fn tags(input: &Value) -> Vec<TagRecord> {
    input
        .get("Tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|t| TagRecord {
                    key: s(t, "Key").unwrap_or_default().to_owned(),
                    value: s(t, "Value").unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Checks the tags given for `entity` against IAM's rules: at most 50, no `aws:` key, unique
/// keys (case-insensitively for users and roles: see [`Entity::same_tag_key`]).
pub(crate) fn check_tags(tags: &[TagRecord], entity: Entity) -> Result<(), ApiError> {
    if tags.len() > 50 {
        return Err(limit_exceeded(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member \
             must have length less than or equal to 50.",
        ));
    }
    for (i, t) in tags.iter().enumerate() {
        if crate::services::is_reserved_tag_key(&t.key) {
            return Err(invalid_input(format!(
                "Tag key {} is reserved: keys beginning with aws: are for AWS's use.",
                t.key
            )));
        }
        let earlier = tags.get(..i).unwrap_or_default();
        if earlier.iter().any(|e| entity.same_tag_key(&e.key, &t.key)) {
            return Err(invalid_input(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
    }
    Ok(())
}

/// Merges `new` into the tags of `entity`: a tag of the same key (see [`Entity::same_tag_key`])
/// is replaced, key included, as IAM keeps the case of the key it was last given.
pub(crate) fn merge_tags(tags: &mut Vec<TagRecord>, new: Vec<TagRecord>, entity: Entity) {
    for t in new {
        match tags
            .iter_mut()
            .find(|e| entity.same_tag_key(&e.key, &t.key))
        {
            Some(e) => *e = t,
            None => tags.push(t),
        }
    }
}

/// Tags in the output form.
pub(crate) fn tags_json(tags: &[TagRecord]) -> Value {
    Value::Array(
        tags.iter()
            .map(|t| json!({"Key": t.key, "Value": t.value}))
            .collect(),
    )
}

/// Parses a policy document as IAM does before storing it.
pub(crate) fn check_policy(doc: &str, kind: PolicyKind) -> Result<(), ApiError> {
    Policy::parse(doc, kind)
        .map(|_| ())
        .map_err(|e| ApiError::new(e.aws_code(), e.aws_message(), policy_status(e.aws_code())))
}

/// Refuses a trust policy that lets GitHub Actions' OpenID Connect provider in without scoping
/// the token's `sub`, with IAM's words: any workflow of any repository on GitHub could assume
/// the role.
pub(crate) fn check_github_trust(doc: &str) -> Result<(), ApiError> {
    let Ok(policy) = Policy::parse(doc, PolicyKind::Trust) else {
        return Ok(());
    };
    match policy.unscoped_github_subject() {
        Some((_, provider, key)) => Err(ApiError::bad_request(
            "MalformedPolicyDocument",
            format!(
                "Trust policy with trusted principal {provider} must evaluate, using StringEquals, StringLike or StringEqualsIgnoreCase, {key} which is not scoped to all."
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses a trust or resource policy naming an IAM user or role that does not exist, as IAM
/// does when it saves one (strict mode; `--dev` stores what moto's suites send).
pub(crate) fn check_principals(cx: &Cx<'_>, doc: &str) -> Result<(), ApiError> {
    if cx.state.config.dev {
        return Ok(());
    }
    match cx
        .state
        .iam
        .read(|d| d.missing_principal(doc, cx.account))?
    {
        Some(arn) => Err(ApiError::bad_request(
            "MalformedPolicyDocument",
            format!("Invalid principal in policy: \"AWS\":\"{arn}\""),
        )),
        None => Ok(()),
    }
}

pub(crate) fn policy_status(code: &str) -> StatusCode {
    if code == "LimitExceeded" {
        StatusCode::CONFLICT
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// A policy document as IAM returns it: URL-encoded JSON.
pub(crate) fn encode_document(doc: &str) -> String {
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(doc, SET).to_string()
}

/// A list page of items that have no identity to page by and do not change between pages (a
/// simulation's results, a last-accessed report): see [`page_by`], which every listing of
/// things a client can delete uses.
pub(crate) fn page<T>(items: Vec<T>, input: &Value) -> Result<(Vec<T>, Option<String>), ApiError> {
    page_by(items, |_| None, input)
}

/// A list page: `MaxItems` (default 100) items from the `Marker` on; `key` names an item, so
/// that a client deleting what it lists while paging neither skips nor repeats items (see
/// `services::paging`).
pub(crate) fn page_by<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> Option<String>,
    input: &Value,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let max = int(input, "MaxItems")
        .and_then(|m| usize::try_from(m).ok())
        .filter(|m| *m > 0)
        .unwrap_or(100);
    // IAM refuses a marker it did not issue.
    crate::services::paging::page(items, key, s(input, "Marker"), max)
        .map_err(|_| validation("Invalid Marker."))
}

/// Adds `IsTruncated` and `Marker` to a list response.
pub(crate) fn paged(mut body: Value, marker: Option<String>) -> Value {
    if let Some(map) = body.as_object_mut() {
        map.insert("IsTruncated".to_owned(), Value::Bool(marker.is_some()));
        if let Some(m) = marker {
            map.insert("Marker".to_owned(), Value::String(m));
        }
    }
    body
}

/// Epoch seconds now.
pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The user an operation is about: the `UserName` member, else the calling user.
pub(crate) fn target_user<'a>(cx: &'a Cx<'_>, input: &'a Value) -> Result<&'a str, ApiError> {
    match s(input, "UserName") {
        Some(name) => Ok(name),
        None => cx.caller.user_name.as_deref().ok_or_else(|| {
            validation("Must specify userName when calling with non-User credentials")
        }),
    }
}
