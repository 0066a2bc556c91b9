//! The authorization step: every request to every service goes through the policy engine before
//! its handler runs.
//!
//! [`PolicyAuthorizer`] gathers what AWS's evaluation looks at (the caller's identity policies
//! (own and groups', or the role's), the permissions boundary, the session policies, and the
//! resource's own policy where the service has one) plus the request context with AWS's global
//! condition keys, and asks `palisade-policy` for a decision. Services with resource-based
//! policies plug in through [`ResourcePolicySource`] (role trust policies for `sts:AssumeRole`
//! today; KMS key policies, secret policies and bucket policies later).
//!
//! In `audit` enforcement a would-be denial is logged and recorded in the audit event
//! (`additionalEventData.wouldBeDenied`) and the request proceeds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use palisade_policy::{
    CompiledPolicy, Context, Decision, DecisionKind, EvaluationInput, Layer, PolicyKind, PolicySet,
    Principal, Request, Value as CtxValue, evaluate,
};
use palisade_store::IamKind;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::Enforcement;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::iam::{group_arn, instance_profile_arn, policy_arn, role_arn, user_arn};
use crate::identity::{Caller, PrincipalKind};
use crate::route::{Route, WireProtocol};
use crate::session::SessionSource;
use crate::state::AppState;

/// Decides whether a caller may run an operation.
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// `Ok` to proceed, or the access-denied error to return.
    fn authorize(
        &self,
        state: &AppState,
        caller: &Caller,
        route: Route,
        ctx: &mut RequestContext,
        input: &Value,
    ) -> Result<(), ApiError>;
}

/// A service's resource-based policies: the policy that governs `resource`, if it has one.
pub trait ResourcePolicySource: Send + Sync + std::fmt::Debug {
    /// The resource's policy, and whether same-account callers need it to allow explicitly.
    fn resource_policy(
        &self,
        state: &AppState,
        action: &str,
        resource: &str,
    ) -> Option<Arc<CompiledPolicy>>;
}

/// Resource policies by service signing name.
pub type ResourcePolicies = HashMap<&'static str, Arc<dyn ResourcePolicySource>>;

/// Allows root users and denies everyone else (the behaviour before IAM existed; kept for
/// tests of the pipeline).
#[derive(Debug, Default)]
pub struct RootOnly;

impl Authorizer for RootOnly {
    fn authorize(
        &self,
        _state: &AppState,
        caller: &Caller,
        route: Route,
        _ctx: &mut RequestContext,
        _input: &Value,
    ) -> Result<(), ApiError> {
        let action = format!("{}:{}", route.service.signing_name, route.operation.name);
        if caller.kind == PrincipalKind::Root || action == "sts:GetCallerIdentity" {
            return Ok(());
        }
        Err(access_denied(
            route.service.protocol.into(),
            caller,
            &action,
            "*",
            &format!("because no identity-based policy allows the {action} action"),
        ))
    }
}

/// Role trust policies: the resource policy of `sts:AssumeRole*`, `sts:TagSession` and
/// `sts:SetSourceIdentity` on a role.
#[derive(Debug, Default)]
pub struct RoleTrust;

impl RoleTrust {
    /// Whether a role's trust policy is the resource policy of `action`.
    fn governs(action: &str) -> bool {
        let action = action.to_ascii_lowercase();
        action.starts_with("sts:assumerole")
            || action == "sts:tagsession"
            || action == "sts:setsourceidentity"
    }
}

impl ResourcePolicySource for RoleTrust {
    fn resource_policy(
        &self,
        state: &AppState,
        action: &str,
        resource: &str,
    ) -> Option<Arc<CompiledPolicy>> {
        if !RoleTrust::governs(action) {
            return None;
        }
        let account = resource.split(':').nth(4)?;
        let name = resource.rsplit('/').next()?;
        // Only the role's exact ARN names it (see `sts::role_to_assume`): the caller's policies
        // were matched against this text.
        let doc = state
            .iam
            .read_account(account, |a| {
                a.role(name)
                    .filter(|r| crate::iam::role_arn(&r.account_id, &r.path, &r.name) == resource)
                    .map(|r| r.trust_policy.clone())
            })
            .ok()
            .flatten()?;
        crate::iam::compile(&doc, PolicyKind::Trust, "trust policy").map(Arc::new)
    }
}

/// Authorization through the IAM policy engine.
#[derive(Debug)]
pub struct PolicyAuthorizer {
    /// Enforce, or only audit.
    pub enforcement: Enforcement,
}

/// The resource a request acts on, as AWS names it in policies and denials.
#[derive(Debug, Clone)]
pub struct Target {
    /// The ARN, or `*`.
    pub arn: String,
    /// Its tags (`aws:ResourceTag/*`).
    pub tags: Vec<(String, String)>,
}

impl Authorizer for PolicyAuthorizer {
    fn authorize(
        &self,
        state: &AppState,
        caller: &Caller,
        route: Route,
        ctx: &mut RequestContext,
        input: &Value,
    ) -> Result<(), ApiError> {
        let target = resolve_target(state, caller, route, ctx, input);
        // CloudTrail's `resources` of the event. ReEncrypt's name the source key, then the
        // destination key (KMS developer guide, "ReEncrypt" CloudTrail example).
        if route.service.signing_name == "kms"
            && route.operation.name == "ReEncrypt"
            && let Some(source) = crate::services::kms::authz::key_of(
                state,
                caller,
                &ctx.region,
                "ReEncryptFrom",
                input,
            )
            && !ctx.resources.contains(&source)
        {
            ctx.resources.push(source);
        }
        if target.arn != "*" && !ctx.resources.contains(&target.arn) {
            ctx.resources.push(target.arn.clone());
        }
        if self.enforcement == Enforcement::Off {
            // Even with enforcement off (`--dev`), an explicit deny in a KMS key policy
            // applies: AWS denies whomever a key policy denies, the account's root included.
            if route.service.signing_name == "kms"
                && let Some(e) = key_policy_denies(state, caller, route, ctx, input, &target)
            {
                return Err(e);
            }
            return Ok(());
        }
        let outcome = decide(state, caller, route, ctx, input, &target);
        let Err((error, action, resource)) = outcome else {
            if self.enforcement == Enforcement::Enforce
                && let Some(e) = key_policy_locks_out(state, caller, route, ctx, input, &target)
                    .or_else(|| secret_policy_locks_out(state, caller, route, ctx, input, &target))
            {
                return Err(e);
            }
            return Ok(());
        };
        match self.enforcement {
            Enforcement::Enforce if route.service.signing_name == "kms" && target.arn == "*" => {
                Err(crate::services::kms::authz::missing_key(
                    state,
                    caller,
                    &ctx.region,
                    route.operation.name,
                    input,
                )
                .unwrap_or(error))
            }
            Enforcement::Enforce
                if route.service.signing_name == "kms" && route.operation.name == "RetireGrant" =>
            {
                Err(
                    crate::services::kms::authz::missing_grant(state, caller, &ctx.region, input)
                        .unwrap_or(error),
                )
            }
            Enforcement::Enforce => Err(error),
            _ => {
                tracing::warn!(
                    principal = %caller.arn,
                    %action,
                    %resource,
                    reason = %error.message,
                    "would be denied (enforcement: audit)"
                );
                ctx.would_be_denied = Some(error);
                Ok(())
            }
        }
    }
}

type Denial = (ApiError, String, String);

/// The access-denied error when the target's KMS key policy explicitly denies the request.
fn key_policy_denies(
    state: &AppState,
    caller: &Caller,
    route: Route,
    ctx: &RequestContext,
    input: &Value,
    target: &Target,
) -> Option<ApiError> {
    let action = format!("kms:{}", route.operation.name);
    let policy = state
        .resource_policies
        .get("kms")
        .and_then(|src| src.resource_policy(state, &action, &target.arn))?;
    let request = request_for(state, caller, route, ctx, input, target, &action);
    let decision = evaluate(&EvaluationInput::new(&request).with_resource(&policy));
    (decision.decision == DecisionKind::ExplicitlyDenied).then(|| {
        access_denied(
            route.service.protocol.into(),
            caller,
            &action,
            &target.arn,
            &reason(&decision, &action),
        )
    })
}

/// KMS's policy lockout safety check: a key policy given to CreateKey, PutKeyPolicy or
/// ReplicateKey must let the caller call PutKeyPolicy on the key again, unless
/// `BypassPolicyLockoutSafetyCheck` is set; otherwise no one could ever change it (the account's root user included, as KMS applies key
/// policies to it too). Only when policies are enforced: in `--dev` they are not, and a key is
/// never out of reach.
fn key_policy_locks_out(
    state: &AppState,
    caller: &Caller,
    route: Route,
    ctx: &RequestContext,
    input: &Value,
    target: &Target,
) -> Option<ApiError> {
    if route.service.signing_name != "kms"
        || !matches!(
            route.operation.name,
            "CreateKey" | "PutKeyPolicy" | "ReplicateKey"
        )
        || input
            .get("BypassPolicyLockoutSafetyCheck")
            .and_then(Value::as_bool)
            == Some(true)
    {
        return None;
    }
    // A malformed policy is the handler's to refuse.
    let doc = input.get("Policy").and_then(Value::as_str)?;
    let policy = crate::services::kms::state::parse_key_policy(doc).ok()?;
    let policy = CompiledPolicy::new(&policy);
    // CreateKey's key has no ARN yet; statements name keys by `*` or their own ARN, so any
    // key ARN of the account and Region stands for it.
    // ReplicateKey's policy is the new replica's, whose ARN is the primary's in the replica
    // Region (bug: ReplicateKey skipped this check, so its Policy could lock everyone out).
    let replica_region = input.get("ReplicaRegion").and_then(Value::as_str);
    let key_arn = if target.arn == "*" {
        format!(
            "arn:aws:kms:{}:{}:key/00000000-0000-0000-0000-000000000000",
            ctx.region, caller.account_id
        )
    } else if route.operation.name == "ReplicateKey"
        && let Some(region) = replica_region
    {
        let mut parts: Vec<&str> = target.arn.split(':').collect();
        if let Some(r) = parts.get_mut(3) {
            *r = region;
        }
        parts.join(":")
    } else {
        target.arn.clone()
    };
    let key = Target {
        arn: key_arn,
        tags: target.tags.clone(),
    };
    let cx = (state, caller, route, ctx, input);
    (!allowed_under(cx, &key, "kms:PutKeyPolicy", &policy)).then(|| {
        crate::services::kms::err(
            "MalformedPolicyDocumentException",
            "The new key policy will not allow you to update the key policy in the future.",
        )
    })
}

/// Secrets Manager's lockout check ("Verifies the policy does not lock out a caller", in
/// ValidateResourcePolicy's reference; the user guide's "Lockout" error): a resource policy
/// given to PutResourcePolicy or ValidateResourcePolicy must leave the caller able to call
/// PutResourcePolicy on the secret, or no one could change or remove it again (an explicit
/// deny in it binds the account's root user too, and Palisade has no support desk to undo it).
fn secret_policy_locks_out(
    state: &AppState,
    caller: &Caller,
    route: Route,
    ctx: &RequestContext,
    input: &Value,
    target: &Target,
) -> Option<ApiError> {
    if route.service.signing_name != "secretsmanager"
        || !matches!(
            route.operation.name,
            "PutResourcePolicy" | "ValidateResourcePolicy"
        )
    {
        return None;
    }
    // A malformed policy is the handler's to refuse.
    let doc = input.get("ResourcePolicy").and_then(Value::as_str)?;
    let policy = palisade_policy::Policy::parse(doc, palisade_policy::PolicyKind::Resource).ok()?;
    let policy = CompiledPolicy::new(&policy);
    // ValidateResourcePolicy may name no secret: any secret of the caller's account and Region
    // stands for the one the policy is meant for.
    let placeholder;
    let target = if target.arn == "*" {
        placeholder = Target {
            arn: format!(
                "arn:aws:secretsmanager:{}:{}:secret:placeholder-000000",
                ctx.region, caller.account_id
            ),
            tags: vec![],
        };
        &placeholder
    } else {
        target
    };
    let cx = (state, caller, route, ctx, input);
    (!allowed_under(cx, target, "secretsmanager:PutResourcePolicy", &policy)).then(|| {
        ApiError::bad_request(
            "MalformedPolicyDocumentException",
            "Your requested changes will not allow you to manage this secret in the future.",
        )
    })
}

/// Whether the caller's own policies and `policy` as the target's resource policy would allow
/// `action` on it: what a lockout check asks of a policy before it replaces the current one.
fn allowed_under(
    (state, caller, route, ctx, input): (&AppState, &Caller, Route, &RequestContext, &Value),
    target: &Target,
    action: &str,
    policy: &CompiledPolicy,
) -> bool {
    let request = request_for(state, caller, route, ctx, input, target, action);
    let policies = caller_policies(state, caller);
    evaluate(&policies.apply(EvaluationInput::new(&request).with_resource(policy))).is_allowed()
}

/// The request the policy engine decides: the caller as principal, `action` on the target,
/// with the global and the service's condition keys.
fn request_for(
    state: &AppState,
    caller: &Caller,
    route: Route,
    ctx: &RequestContext,
    input: &Value,
    target: &Target,
    action: &str,
) -> Request {
    let mut context = global_context(state, caller, ctx, target);
    service_context(state, caller, route, action, input, &mut context, ctx);
    // AWS-managed policies (`arn:aws:iam::aws:policy/…`) belong to no account and every account
    // reads and attaches them: the caller's own identity policies decide, as for its own
    // resources, not a resource policy that an account of `aws` could never have.
    let owner = (target.arn.split(':').nth(4) == Some("aws")).then(|| caller.account_id.clone());
    Request::new(principal(caller), action, &target.arn, owner, context)
}

/// Authorizes, inside a request, an operation a handler needs authorized on the caller's behalf
/// (another service's, or its own on a resource only the handler could find), through the same
/// authorizer as requests, with an internal context (no connection details: conditions on
/// `aws:SourceIp` or `aws:SecureTransport` do not match).
pub(crate) fn authorize_internal(
    state: &AppState,
    caller: &Caller,
    region: &str,
    (signing_name, op): (&str, &str),
    input: &Value,
    via_service: Option<String>,
) -> Result<(), ApiError> {
    let service = palisade_model::schema::service_by_signing_name(signing_name)
        .ok_or_else(|| ApiError::internal(format!("{signing_name} is missing from the model")))?;
    let operation = service
        .operation(op)
        .ok_or_else(|| ApiError::internal(format!("the {signing_name} model has no {op}")))?;
    let route = Route { service, operation };
    // A check on another service's behalf carries no connection facts (AWS leaves
    // aws:SourceIp out of forward access sessions); one of the caller's own has them.
    let mut ctx = match via_service {
        Some(_) => RequestContext::internal(caller, region),
        None => RequestContext::callers_own(caller, region),
    };
    ctx.route = Some(route);
    ctx.via_service = via_service;
    state
        .authorizer
        .authorize(state, caller, route, &mut ctx, input)
}

/// The resource a request acts on, whatever its service.
fn resolve_target(
    state: &AppState,
    caller: &Caller,
    route: Route,
    ctx: &RequestContext,
    input: &Value,
) -> Target {
    match route.service.signing_name {
        "secretsmanager" => crate::services::secretsmanager::authz::target(
            state,
            caller,
            &ctx.region,
            route.operation.name,
            input,
        ),
        "kms" => crate::services::kms::authz::target(
            state,
            caller,
            &ctx.region,
            route.operation.name,
            input,
        ),
        "cloudtrail" => crate::services::cloudtrail::authz::target(
            state,
            caller,
            &ctx.region,
            route.operation.name,
            input,
        ),
        _ => target(state, caller, route, input),
    }
}

fn decide(
    state: &AppState,
    caller: &Caller,
    route: Route,
    ctx: &RequestContext,
    input: &Value,
    target: &Target,
) -> Result<(), Denial> {
    if route.service.signing_name == "kms" && route.operation.name == "ReEncrypt" {
        // IAM has no kms:ReEncrypt: a re-encryption is decrypting under the source key
        // (kms:ReEncryptFrom) and encrypting under the destination key (kms:ReEncryptTo), and
        // both must be allowed, or anyone who may encrypt under some key could re-encrypt
        // (read) what another key protects.
        decide_action(state, caller, route, ctx, input, target, "kms:ReEncryptTo")?;
        let source =
            crate::services::kms::authz::target(state, caller, &ctx.region, "ReEncryptFrom", input);
        return decide_action(
            state,
            caller,
            route,
            ctx,
            input,
            &source,
            "kms:ReEncryptFrom",
        );
    }
    let action = format!("{}:{}", route.service.signing_name, route.operation.name);
    decide_action(state, caller, route, ctx, input, target, &action)?;
    for extra in additional_actions(route, caller, input) {
        decide_action(state, caller, route, ctx, input, target, extra)?;
    }
    if let Some(tagging) = tag_on_create(route, input) {
        decide_action(state, caller, route, ctx, input, target, tagging)?;
    }
    // Putting a role in an instance profile hands it to whatever runs with the profile: AWS
    // requires iam:PassRole on the role ("The caller of this operation must be granted the
    // PassRole permission on the IAM role").
    if route.service.signing_name == "iam" && route.operation.name == "AddRoleToInstanceProfile" {
        // The role the call names, resolved as GetRole resolves it.
        let role = iam_target(state, caller, "GetRole", input);
        decide_action(state, caller, route, ctx, input, &role, "iam:PassRole")?;
    }
    // A rename or move needs the permission on the new name and path too (AWS: "the requester
    // must have permission on both the source object and the target object"), or a caller
    // limited to `user/dev-*` could make a `user/admin-x` (bug: a server certificate could be
    // moved out of the only path its caller may change).
    if route.service.signing_name == "iam"
        && matches!(
            route.operation.name,
            "UpdateUser" | "UpdateGroup" | "UpdateServerCertificate"
        )
        && let Some(renamed) = renamed_arn(&target.arn, input)
    {
        let renamed = Target {
            arn: renamed,
            tags: target.tags.clone(),
        };
        let action = format!("iam:{}", route.operation.name);
        decide_action(state, caller, route, ctx, input, &renamed, &action)?;
    }
    // A secret created with replicas is also replicated (AWS's required permissions).
    if route.service.signing_name == "secretsmanager"
        && route.operation.name == "CreateSecret"
        && given(input, "AddReplicaRegions")
    {
        let action = "secretsmanager:ReplicateSecretToRegions";
        decide_action(state, caller, route, ctx, input, target, action)?;
    }
    // AWS's required permissions for ValidateResourcePolicy are "secretsmanager:
    // ValidateResourcePolicy and secretsmanager:PutResourcePolicy" (bug: the first alone
    // sufficed).
    if route.service.signing_name == "secretsmanager"
        && route.operation.name == "ValidateResourcePolicy"
    {
        let action = "secretsmanager:PutResourcePolicy";
        decide_action(state, caller, route, ctx, input, target, action)?;
    }
    // BatchGetSecretValue's required permissions: "If you use filters, you must also have
    // secretsmanager:ListSecrets" (bug: without it a caller denied ListSecrets listed every
    // secret's ARN through the batch's Errors).
    if route.service.signing_name == "secretsmanager"
        && route.operation.name == "BatchGetSecretValue"
        // Present, even empty: the handler then selects by filters (every secret for none).
        && input.get("Filters").is_some()
    {
        let action = "secretsmanager:ListSecrets";
        decide_action(state, caller, route, ctx, input, target, action)?;
    }
    if route.service.signing_name == "secretsmanager"
        && route.operation.name == "RotateSecret"
        && let Some(function) = crate::services::secretsmanager::authz::rotation_function(
            state,
            caller,
            &ctx.region,
            input,
        )
    {
        let function = Target {
            arn: function,
            tags: vec![],
        };
        decide_action(
            state,
            caller,
            route,
            ctx,
            input,
            &function,
            "lambda:InvokeFunction",
        )?;
    }
    for (extra, other) in kms_other_resources(state, caller, route, ctx, input, target) {
        decide_action(state, caller, route, ctx, input, &other, extra)?;
    }
    Ok(())
}

/// The ARN a user or group gets from UpdateUser/UpdateGroup's `NewUserName`/`NewGroupName` and
/// `NewPath`; None when the call renames and moves nothing.
fn renamed_arn(arn: &str, input: &Value) -> Option<String> {
    let new_name = input
        .get("NewUserName")
        .or_else(|| input.get("NewGroupName"))
        .or_else(|| input.get("NewServerCertificateName"))
        .and_then(Value::as_str);
    let new_path = input.get("NewPath").and_then(Value::as_str);
    if new_name.is_none() && new_path.is_none() {
        return None;
    }
    // The resource is everything after the fifth colon: an IAM path may hold colons (bug: the
    // last colon was taken, so `/team:a/` moved to `/other/` was authorized as
    // `team:a/other/…`, inside the caller's `team:a/*`).
    let mut fields = arn.splitn(6, ':');
    let head: Vec<&str> = fields.by_ref().take(5).collect();
    let resource = fields.next()?;
    let head = head.join(":");
    let (kind, rest) = resource.split_once('/')?;
    let (path, name) = match rest.rsplit_once('/') {
        Some((p, n)) => (format!("/{p}/"), n),
        None => ("/".to_owned(), rest),
    };
    let path = new_path.unwrap_or(&path);
    let name = new_name.unwrap_or(name);
    Some(format!("{head}:{kind}{path}{name}"))
}

/// Creating with tags also needs the service's permission to tag what is created (AWS's "tag on
/// create"): without it, whoever may create could attach the tags that attribute-based policies
/// grant access by.
const TAG_ON_CREATE: &[(&str, &str, &str)] = &[
    ("iam", "CreateUser", "iam:TagUser"),
    ("iam", "CreateRole", "iam:TagRole"),
    ("iam", "CreatePolicy", "iam:TagPolicy"),
    ("iam", "CreateInstanceProfile", "iam:TagInstanceProfile"),
    (
        "iam",
        "CreateOpenIDConnectProvider",
        "iam:TagOpenIDConnectProvider",
    ),
    ("iam", "CreateSAMLProvider", "iam:TagSAMLProvider"),
    ("iam", "CreateVirtualMFADevice", "iam:TagMFADevice"),
    ("iam", "UploadServerCertificate", "iam:TagServerCertificate"),
    ("sts", "GetWebIdentityToken", "sts:TagGetWebIdentityToken"),
    ("kms", "CreateKey", "kms:TagResource"),
    ("kms", "ReplicateKey", "kms:TagResource"),
    (
        "secretsmanager",
        "CreateSecret",
        "secretsmanager:TagResource",
    ),
];

/// Whether the input has a non-empty list in `member`: an empty one asks for nothing.
fn given(input: &Value, member: &str) -> bool {
    input
        .get(member)
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// The tagging action a create call with tags also needs, if any.
fn tag_on_create(route: Route, input: &Value) -> Option<&'static str> {
    if !given(input, "Tags") {
        return None;
    }
    TAG_ON_CREATE
        .iter()
        .find(|(service, op, _)| {
            *service == route.service.signing_name && *op == route.operation.name
        })
        .map(|(_, _, action)| *action)
}

/// KMS calls that act in a second place, and what they need there (AWS's "required
/// permissions"): a replica is a key created in its Region (`kms:CreateKey` in IAM policies); a
/// new primary Region is changed on the replica there as on the primary
/// (`kms:UpdatePrimaryRegion` on both keys); an alias operation needs its permission on the
/// alias (IAM policies) as well as on the keys it touches (key policies): for UpdateAlias, the
/// key the alias leaves as well as the one it comes to.
fn kms_other_resources(
    state: &AppState,
    caller: &Caller,
    route: Route,
    ctx: &RequestContext,
    input: &Value,
    target: &Target,
) -> Vec<(&'static str, Target)> {
    use crate::services::kms::authz::{alias_arn, aliased_key};
    if route.service.signing_name != "kms" {
        return Vec::new();
    }
    let anywhere = || Target {
        arn: "*".to_owned(),
        tags: vec![],
    };
    let bare = |arn: String| Target { arn, tags: vec![] };
    let alias = || alias_arn(caller, &ctx.region, input).map(bare);
    match route.operation.name {
        "CreateAlias" => alias()
            .map(|a| vec![("kms:CreateAlias", a)])
            .unwrap_or_default(),
        "DeleteAlias" => alias()
            .map(|a| vec![("kms:DeleteAlias", a)])
            .unwrap_or_default(),
        "UpdateAlias" => alias()
            .into_iter()
            .chain(aliased_key(state, caller, &ctx.region, input).map(bare))
            .map(|t| ("kms:UpdateAlias", t))
            .collect(),
        "ReplicateKey" => vec![("kms:CreateKey", anywhere())],
        "UpdatePrimaryRegion" => {
            // The replica is the same key id in the new primary Region.
            let mut parts: Vec<&str> = target.arn.split(':').collect();
            match (parts.get_mut(3), s(input, "PrimaryRegion")) {
                (Some(region), Some(new)) if target.arn != "*" => {
                    *region = new;
                    vec![(
                        "kms:UpdatePrimaryRegion",
                        Target {
                            arn: parts.join(":"),
                            tags: vec![],
                        },
                    )]
                }
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

/// The actions a call needs besides its own. AWS: a session given tags needs `sts:TagSession`,
/// and one given a source identity `sts:SetSourceIdentity`, on the role, allowed by its trust
/// policy (and, within an account, by the caller's own policies) like the assume itself.
/// Transitive tags a chained session inherits from the one calling need `sts:TagSession` too
/// (bug: they needed none, so a role whose trust policy allows only `sts:AssumeRole` got a
/// session whose `aws:PrincipalTag` values an earlier hop chose). AWS does the same: with
/// `sts:TagSession` taken out of the next role's trust policy, a chain carrying transitive tags
/// fails even when the call passes no tags.
fn additional_actions(route: Route, caller: &Caller, input: &Value) -> Vec<&'static str> {
    if route.service.signing_name != "sts"
        || !matches!(
            route.operation.name,
            "AssumeRole"
                | "AssumeRoleWithWebIdentity"
                | "AssumeRoleWithSAML"
                | "GetFederationToken"
        )
    {
        return Vec::new();
    }
    let web = caller.web_identity.as_deref();
    let mut out = Vec::new();
    let inherits_tags = caller
        .session
        .as_ref()
        .is_some_and(|s| s.transitive_tags().next().is_some());
    if given(input, "Tags")
        || given(input, "TransitiveTagKeys")
        || web.is_some_and(|w| !w.tags.is_empty())
        || inherits_tags
    {
        out.push("sts:TagSession");
    }
    // A chained session carries its source identity on, which the target role's trust policy
    // must allow as if it were set anew (AWS: "Otherwise, the assume role operation will fail").
    let inherited = caller
        .session
        .as_ref()
        .is_some_and(|s| s.source_identity.is_some());
    if input.get("SourceIdentity").is_some()
        || inherited
        || web.is_some_and(|w| w.source_identity.is_some())
    {
        out.push("sts:SetSourceIdentity");
    }
    out
}

fn decide_action(
    state: &AppState,
    caller: &Caller,
    route: Route,
    ctx: &RequestContext,
    input: &Value,
    target: &Target,
    action: &str,
) -> Result<(), Denial> {
    let protocol: WireProtocol = route.service.protocol.into();
    let service = route.service.signing_name;
    let action = action.to_owned();
    let deny = |reason: String| -> Denial {
        (
            access_denied(protocol, caller, &action, &target.arn, &reason),
            action.clone(),
            target.arn.clone(),
        )
    };

    // Rules of STS that are not policies. Temporary credentials of any kind cannot call
    // GetSessionToken or GetFederationToken, whatever the policies say, and STS says so in the
    // same words for every kind (bug: a GetSessionToken session calling GetFederationToken got
    // a policy-style denial, as if a policy could allow it).
    if service == "sts"
        && matches!(
            route.operation.name,
            "GetSessionToken" | "GetFederationToken"
        )
        && caller.is_temporary()
    {
        return Err((
            crate::services::sts::no_session_credentials(route.operation.name),
            action,
            target.arn.clone(),
        ));
    }
    // GetSessionToken needs no permission (AWS: "No permissions are required for users to
    // perform this operation").
    if service == "sts" && route.operation.name == "GetSessionToken" {
        return Ok(());
    }
    // AWS: "No permissions are required to perform this operation. If an administrator attaches
    // a policy to your identity that explicitly denies access to the sts:GetCallerIdentity
    // action, you can still perform this operation."
    if service == "sts" && route.operation.name == "GetCallerIdentity" {
        return Ok(());
    }
    if let Some(session) = &caller.session
        && session.source == SessionSource::SessionToken
    {
        // IAM does not take GetSessionToken credentials obtained without MFA at all: it answers
        // as for a token it does not know (aws-vault #15, aws-cli #8918: 403
        // InvalidClientTokenId), not with a denial naming a policy (bug: Palisade's own
        // AccessDenied told scripts to look at policies that could never help).
        if service == "iam" && session.mfa_at.is_none() {
            return Err((
                ApiError::new(
                    "InvalidClientTokenId",
                    "The security token included in the request is invalid",
                    http::StatusCode::FORBIDDEN,
                ),
                action,
                target.arn.clone(),
            ));
        }
        // AWS documents that these credentials call no STS API but AssumeRole and
        // GetCallerIdentity, not what the others answer: Palisade denies them (fail-closed)
        // with an AccessDenied that says why.
        if service == "sts" && !matches!(route.operation.name, "AssumeRole" | "GetCallerIdentity") {
            return Err(deny(
                "because only sts:AssumeRole and sts:GetCallerIdentity may be called with \
                 GetSessionToken credentials"
                    .to_owned(),
            ));
        }
    }
    // AWS: federated-user credentials "cannot call any IAM operations" nor "any STS operations
    // except GetCallerIdentity", whatever the session policy allows.
    if let Some(session) = &caller.session
        && session.source == SessionSource::Federation
    {
        if service == "iam" {
            return Err(deny(
                "because IAM calls are not allowed with GetFederationToken credentials".to_owned(),
            ));
        }
        if service == "sts" {
            return Err(deny(
                "because only sts:GetCallerIdentity may be called with GetFederationToken \
                 credentials"
                    .to_owned(),
            ));
        }
    }
    // STS checks an MFA code before the trust policy: a wrong code gets the MFA refusal, not
    // a denial that sends the caller looking at the trust policy.
    if service == "sts" && route.operation.name == "AssumeRole" && action == "sts:AssumeRole" {
        let checked = crate::services::mfa_input(input).and_then(|pair| match pair {
            Some((serial, code)) if !state.config.dev => {
                crate::services::check_mfa_code(state, caller, serial, code, ctx.time)
            }
            _ => Ok(()),
        });
        if let Err(e) = checked {
            return Err((e, action, target.arn.clone()));
        }
    }
    if service == "sts"
        && route.operation.name == "AssumeRole"
        && caller.kind == PrincipalKind::Root
    {
        return Err((
            ApiError::new(
                "AccessDenied",
                "Roles may not be assumed by root accounts.",
                http::StatusCode::FORBIDDEN,
            ),
            action,
            target.arn.clone(),
        ));
    }

    // The principal and its policies.
    let mut request = request_for(state, caller, route, ctx, input, target, &action);
    // An account named as a grant's retiring principal delegates retiring it with its own IAM
    // policies: for that decision the grant is its own, whoever owns the key.
    let retire_delegated = action == "kms:RetireGrant"
        && crate::services::kms::authz::retire_delegated(state, caller, &ctx.region, input);
    if retire_delegated {
        request.resource_account = Some(caller.account_id.clone());
    }

    let policies = caller_policies(state, caller);
    let mut input_ev = policies.apply(EvaluationInput::new(&request));
    let resource_policy = state
        .resource_policies
        .get(service)
        .and_then(|src| src.resource_policy(state, &action, &target.arn));
    match &resource_policy {
        Some(p) => input_ev = input_ev.with_resource(p),
        // A role is assumed only with its trust policy's permission: a role that does not exist
        // has none, whatever the caller's own policies allow. (GetFederationToken's
        // sts:TagSession acts on the federated user, which has no trust policy.)
        None if service == "sts"
            && RoleTrust::governs(&action)
            && target.arn.contains(":role/") =>
        {
            return Err(deny(format!(
                "because no resource-based policy allows the {action} action"
            )));
        }
        // Without a resource policy (listing, creating, or a service that has none) the
        // identity side decides, even for services whose resource policies must allow
        // explicitly (KMS).
        None => {
            input_ev = input_ev.with_trust(palisade_policy::ResourceTrust::Implicit);
        }
    }
    let decision = evaluate(&input_ev);
    if decision.is_allowed() && (action != "kms:RetireGrant" || retire_delegated) {
        return Ok(());
    }
    // The account's password policy can itself give every IAM user iam:ChangePassword on their
    // own user and iam:GetAccountPasswordPolicy (AllowUsersToChangePassword); an explicit deny
    // still wins.
    if service == "iam"
        && caller.kind == PrincipalKind::IamUser
        && matches!(
            route.operation.name,
            "ChangePassword" | "GetAccountPasswordPolicy"
        )
        && decision.decision != DecisionKind::ExplicitlyDenied
        && state
            .iam
            .read_account(&caller.account_id, |a| {
                a.settings
                    .password_policy
                    .as_ref()
                    .is_some_and(|p| p.allow_users_to_change)
            })
            .unwrap_or(false)
    {
        return Ok(());
    }
    // A KMS grant allows its operations to its grantee; an explicit deny still wins.
    if service == "kms"
        && decision.decision != DecisionKind::ExplicitlyDenied
        && crate::services::kms::authz::grant_allows(
            state,
            caller,
            &ctx.region,
            action_op(route, &action),
            input,
        )
    {
        return Ok(());
    }
    Err(deny(reason(&decision, &action)))
}

/// The caller's identity-side policies: its own (a user's with its groups', or the role's) with
/// its permissions boundary, and the session's policies, if any.
struct CallerPolicies {
    identity: Option<Arc<crate::iam::Permissions>>,
    session: Option<Arc<PolicySet>>,
}

impl CallerPolicies {
    /// Adds them to an evaluation: identity policies (none is an empty set), boundary, session.
    fn apply<'a>(&'a self, ev: EvaluationInput<'a>) -> EvaluationInput<'a> {
        static EMPTY: PolicySet = PolicySet::new();
        let mut ev = ev.with_identity(self.identity.as_ref().map_or(&EMPTY, |p| &p.identity));
        if let Some(b) = self.identity.as_ref().and_then(|p| p.boundary.as_ref()) {
            ev = ev.with_boundary(b);
        }
        if let Some(set) = &self.session {
            ev = ev.with_session(set);
        }
        ev
    }
}

fn caller_policies(state: &AppState, caller: &Caller) -> CallerPolicies {
    let mut identity: Option<Arc<crate::iam::Permissions>> = None;
    let mut session_set: Option<Arc<PolicySet>> = None;
    match caller.kind {
        // A web identity has no policies of its own: the role's trust policy decides.
        PrincipalKind::Root
        | PrincipalKind::Anonymous
        | PrincipalKind::WebIdentity
        | PrincipalKind::SamlUser => {}
        PrincipalKind::IamUser => {
            // The user is named by unique id: a user deleted and recreated under the same name
            // is another user, whose policies neither a GetSessionToken session nor a key of
            // the old one gets (bug: a key created while its user was being deleted outlived
            // the user and served the namesake created next).
            let session_user_id = caller
                .session
                .as_ref()
                .map_or(caller.principal_id.as_str(), |s| s.principal_id.as_str());
            let session_user_id = Some(session_user_id).filter(|id| id.starts_with("AIDA"));
            identity = caller
                .user_name
                .as_deref()
                .and_then(|u| state.iam.permissions(&caller.account_id, IamKind::User, u))
                .filter(|p| session_user_id.is_none_or(|id| id == p.id));
        }
        PrincipalKind::AssumedRole => {
            if let Some(s) = &caller.session
                && let Some(role) = &s.role_name
            {
                identity = state
                    .iam
                    .permissions(&caller.account_id, IamKind::Role, role)
                    .filter(|p| s.role_id.as_deref().is_none_or(|id| id == p.id));
            }
        }
        PrincipalKind::FederatedUser => {
            if let Some(s) = &caller.session {
                identity = match &s.user_name {
                    Some(user) => state
                        .iam
                        .permissions(&caller.account_id, IamKind::User, user)
                        .filter(|p| s.user_id.as_deref().is_none_or(|id| id == p.id)),
                    // Issued by the root user, whose permissions are everything: the session
                    // policies alone decide (bug: such a session was allowed nothing).
                    None => Some(root_permissions(caller)),
                };
            }
        }
    }
    if let Some(s) = &caller.session
        && (s.has_session_policies() || s.source == SessionSource::Federation)
        && let Some(key) = &caller.access_key_id
    {
        session_set = Some(
            state
                .iam
                .session_policies(key, s.policy.as_deref(), &s.policy_arns),
        );
    }
    CallerPolicies {
        identity,
        session: session_set,
    }
}

/// The root user's permissions as identity policies, for the sessions it issues: everything.
fn root_permissions(caller: &Caller) -> Arc<crate::iam::Permissions> {
    static ALL: std::sync::LazyLock<PolicySet> = std::sync::LazyLock::new(|| {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        palisade_policy::Policy::parse(doc, palisade_policy::PolicyKind::Identity)
            .map(|p| PolicySet::from(palisade_policy::CompiledPolicy::new(&p)))
            .unwrap_or_default()
    });
    Arc::new(crate::iam::Permissions {
        identity: ALL.clone(),
        boundary: None,
        tags: Vec::new(),
        arn: crate::identity::root_arn(&caller.account_id),
        id: caller.account_id.clone(),
    })
}

/// AWS's reason phrase: "because no identity-based policy allows the X action", "with an
/// explicit deny in a resource-based policy", ...
pub fn reason(decision: &Decision, action: &str) -> String {
    let layer = decision
        .blocked_by
        .first()
        .copied()
        .unwrap_or(Layer::Identity);
    let (article, what) = match layer {
        Layer::Scp => ("a", "service control policy"),
        Layer::Rcp => ("a", "resource control policy"),
        Layer::Vpce => ("a", "VPC endpoint policy"),
        Layer::Resource => ("a", "resource-based policy"),
        Layer::Identity => ("an", "identity-based policy"),
        Layer::Boundary => ("a", "permissions boundary"),
        Layer::Session => ("a", "session policy"),
    };
    match decision.decision {
        DecisionKind::ExplicitlyDenied => format!("with an explicit deny in {article} {what}"),
        _ => format!("because no {what} allows the {action} action"),
    }
}

/// The message's ` on resource: …`. Secrets Manager names no resource for actions on none
/// (`ListSecrets`), and a secret that does not exist by the id the caller gave, not by the
/// `-??????` pattern its policies are matched against.
fn on_resource(action: &str, resource: &str) -> String {
    if !action.starts_with("secretsmanager:") {
        return format!(" on resource: {resource}");
    }
    if resource == "*" {
        return String::new();
    }
    let given = resource
        .strip_suffix("-??????")
        .and_then(|r| r.split_once(":secret:"))
        .map_or(resource, |(_, name)| name);
    format!(" on resource: {given}")
}

/// AWS's access-denied error, naming the principal, the action, the resource and the reason.
pub fn access_denied(
    protocol: WireProtocol,
    caller: &Caller,
    action: &str,
    resource: &str,
    reason: &str,
) -> ApiError {
    // AWS names neither the token's holder nor the role to a web identity it turns away.
    let message = if matches!(
        caller.kind,
        PrincipalKind::WebIdentity | PrincipalKind::SamlUser
    ) {
        format!("Not authorized to perform {action}")
    } else if action.starts_with("sts:AssumeRole")
        || action == "sts:TagSession"
        || action == "sts:SetSourceIdentity"
    {
        // STS does not say which side refused a role: a caller in another account learns
        // nothing about the role's trust policy from the message. The same goes for the
        // permissions an assume needs besides its own (bug: their denials said "because no
        // resource-based policy allows the sts:TagSession action").
        format!(
            "User: {} is not authorized to perform: {action} on resource: {resource}",
            caller.arn
        )
    } else {
        format!(
            "User: {} is not authorized to perform: {action}{} {reason}",
            caller.arn,
            on_resource(action, resource)
        )
    };
    match protocol {
        WireProtocol::Query => ApiError::new("AccessDenied", message, http::StatusCode::FORBIDDEN),
        WireProtocol::Json => ApiError::bad_request("AccessDeniedException", message),
    }
}

/// The caller as the engine sees it.
pub fn principal(caller: &Caller) -> Principal {
    let parsed = Principal::parse(&caller.arn).unwrap_or_else(|_| Principal::anonymous());
    let parsed = parsed.with_user_id(caller.principal_id.clone());
    match (&caller.kind, &caller.session) {
        (PrincipalKind::AssumedRole, Some(s)) => match &s.role_arn {
            Some(role) => parsed.with_base_arn(role.clone()),
            None => parsed,
        },
        (PrincipalKind::FederatedUser, Some(s)) => match &s.user_name {
            Some(u) => parsed.with_base_arn(format!("arn:aws:iam::{}:user/{u}", caller.account_id)),
            None => parsed,
        },
        _ => parsed,
    }
}

fn iso(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn global_context(
    state: &AppState,
    caller: &Caller,
    ctx: &RequestContext,
    target: &Target,
) -> Context {
    // The global keys, the service's and the engine's own: about thirty.
    let mut c = Context::with_capacity(32);
    if let Some(t) = CtxValue::date(&iso(ctx.time)) {
        c.insert("aws:CurrentTime", t);
    }
    c.insert(
        "aws:EpochTime",
        CtxValue::number(ctx.time.unix_timestamp() as f64),
    );
    if let Ok(ip) = ctx.source_ip.parse::<IpAddr>() {
        c.insert("aws:SourceIp", CtxValue::ip(ip));
    }
    c.insert(
        "aws:SecureTransport",
        CtxValue::bool(ctx.secure_transport()),
    );
    c.insert("aws:RequestedRegion", CtxValue::string(ctx.region.clone()));
    c.insert("aws:UserAgent", CtxValue::string(ctx.user_agent.clone()));
    // A call another service makes with the caller's identity (a forward access session:
    // Secrets Manager asking KMS for a data key) is made "via an AWS service", and CalledVia
    // names that service's principal (`secretsmanager.amazonaws.com`), so that a guardrail
    // denying direct use of KMS does not also break the service's use of it. `via_service` is
    // set only by the server, never from a request.
    match ctx.via_service.as_deref().and_then(|v| v.split('.').next()) {
        Some(service) => {
            let principal = format!("{service}.amazonaws.com");
            c.insert("aws:ViaAWSService", CtxValue::bool(true));
            c.insert_list("aws:CalledVia", vec![CtxValue::string(principal.clone())]);
            c.insert("aws:CalledViaFirst", CtxValue::string(principal.clone()));
            c.insert("aws:CalledViaLast", CtxValue::string(principal));
        }
        None => {
            c.insert("aws:ViaAWSService", CtxValue::bool(false));
        }
    }
    if let Some(s) = &caller.session {
        // These keys exist only for temporary credentials, as in AWS.
        c.insert(
            "aws:MultiFactorAuthPresent",
            CtxValue::bool(s.mfa_at.is_some()),
        );
        if let Some(at) = s.mfa_at {
            c.insert(
                "aws:MultiFactorAuthAge",
                CtxValue::number((ctx.time.unix_timestamp() - at).max(0) as f64),
            );
        }
        if let Ok(t) = OffsetDateTime::from_unix_timestamp(s.issued_at)
            && let Some(v) = CtxValue::date(&iso(t))
        {
            c.insert("aws:TokenIssueTime", v);
        }
        if let Some(si) = &s.source_identity {
            c.insert("aws:SourceIdentity", CtxValue::string(si.clone()));
        }
    }
    for_each_principal_tag(state, caller, |k, v| {
        c.insert(
            &format!("aws:PrincipalTag/{k}"),
            CtxValue::string(v.to_owned()),
        );
    });
    for (k, v) in &target.tags {
        c.insert(&format!("aws:ResourceTag/{k}"), CtxValue::string(v.clone()));
    }
    // IAM's own spelling of a user's or role's tags: guardrails written with it must bind.
    let iam_entity = target
        .arn
        .split(':')
        .nth(5)
        .is_some_and(|r| r.starts_with("user/") || r.starts_with("role/"));
    if target.arn.starts_with("arn:aws:iam::") && iam_entity {
        for (k, v) in &target.tags {
            c.insert(&format!("iam:ResourceTag/{k}"), CtxValue::string(v.clone()));
        }
    }
    c
}

/// Sets multi-valued key `key` to the strings of list `member`, when the input has that list.
fn insert_strings(c: &mut Context, key: &str, input: &Value, member: &str) {
    if let Some(items) = input.get(member).and_then(Value::as_array) {
        let values = items.iter().filter_map(Value::as_str).map(CtxValue::string);
        c.insert_list(key, values.collect());
    }
}

/// The caller's principal tags (`aws:PrincipalTag/*`): the user's or role's, then the session's,
/// which override them (a later call with the same key wins).
pub(crate) fn for_each_principal_tag(
    state: &AppState,
    caller: &Caller,
    mut f: impl FnMut(&str, &str),
) {
    let user = |name: Option<&str>, id: Option<&str>| {
        name.and_then(|u| state.iam.permissions(&caller.account_id, IamKind::User, u))
            // A user deleted and recreated under the same name is another user, whose tags
            // the old one's sessions do not get, as with its policies.
            .filter(|p| id.is_none_or(|id| id == p.id))
    };
    let base = match (&caller.kind, &caller.session) {
        // A GetSessionToken session names its user by unique id too.
        (PrincipalKind::IamUser, session) => user(
            caller.user_name.as_deref(),
            session
                .as_ref()
                .map(|s| s.principal_id.as_str())
                .filter(|id| id.starts_with("AIDA")),
        ),
        (PrincipalKind::AssumedRole, Some(s)) => s
            .role_name
            .as_deref()
            .and_then(|r| state.iam.permissions(&caller.account_id, IamKind::Role, r))
            .filter(|p| s.role_id.as_deref().is_none_or(|id| id == p.id)),
        // A federated user's principal tags are its IAM user's with the session's over them
        // (AWS, GetFederationToken: "session tags override a user tag with the same key"; bug:
        // the user's tags were missing, so ABAC on them denied every federated user).
        (PrincipalKind::FederatedUser, Some(s)) => {
            user(s.user_name.as_deref(), s.user_id.as_deref())
        }
        _ => None,
    };
    for t in base.iter().flat_map(|p| p.tags.iter()) {
        f(&t.key, &t.value);
    }
    for t in caller.session.iter().flat_map(|s| s.tags.iter()) {
        f(&t.key, &t.value);
    }
}

fn s<'a>(input: &'a Value, member: &str) -> Option<&'a str> {
    input.get(member).and_then(Value::as_str)
}

/// Request tags and service-specific keys.
/// The operation an action names (`kms:ReEncryptFrom` for ReEncrypt's source key): what the
/// service's own condition keys and grants are about.
fn action_op(route: Route, action: &str) -> &str {
    action
        .split_once(':')
        .map_or(route.operation.name, |(_, op)| op)
}

fn service_context(
    state: &AppState,
    caller: &Caller,
    route: Route,
    action: &str,
    input: &Value,
    c: &mut Context,
    ctx: &RequestContext,
) {
    // CloudTrail names its tag list TagsList (bug: its tags were not seen, so aws:TagKeys and
    // aws:RequestTag conditions on CreateTrail, AddTags and RemoveTags did not bind).
    let list = input.get("Tags").or_else(|| input.get("TagsList"));
    // RemoveTags names the tags it removes, values optional: only their keys are request keys.
    let removing = route.operation.name == "RemoveTags";
    if let Some(tags) = list.and_then(Value::as_array) {
        let mut keys = Vec::with_capacity(tags.len());
        for t in tags {
            // KMS names the members TagKey and TagValue (bug: its tags were not seen, so
            // aws:TagKeys and aws:RequestTag conditions on CreateKey and TagResource did not
            // bind). A tag without a value still has its key in aws:TagKeys: skipping it let a
            // `{"Key": "forbidden"}` tag past a Deny on that key.
            let Some(k) = s(t, "Key").or_else(|| s(t, "TagKey")) else {
                continue;
            };
            if !removing {
                let v = s(t, "Value").or_else(|| s(t, "TagValue")).unwrap_or("");
                c.insert(&format!("aws:RequestTag/{k}"), CtxValue::string(v));
            }
            keys.push(CtxValue::string(k));
        }
        c.insert_list("aws:TagKeys", keys);
    } else {
        insert_strings(c, "aws:TagKeys", input, "TagKeys");
    }
    match route.service.signing_name {
        "iam" => {
            // Only the attach and detach actions carry the policy's ARN as a key (the Service
            // Authorization Reference): GetPolicy or CreatePolicyVersion under a condition on
            // it is not allowed (bug: it was set for every action with a PolicyArn).
            if matches!(
                route.operation.name,
                "AttachUserPolicy"
                    | "DetachUserPolicy"
                    | "AttachGroupPolicy"
                    | "DetachGroupPolicy"
                    | "AttachRolePolicy"
                    | "DetachRolePolicy"
            ) && let Some(arn) = s(input, "PolicyArn")
            {
                c.insert("iam:PolicyARN", CtxValue::string(arn));
            }
            if route.operation.name == "CreateServiceLinkedRole"
                && let Some(service) = s(input, "AWSServiceName")
            {
                c.insert("iam:AWSServiceName", CtxValue::string(service));
            }
            if let Some(arn) = s(input, "PermissionsBoundary") {
                c.insert("iam:PermissionsBoundary", CtxValue::string(arn));
            } else if matches!(
                route.operation.name,
                "AttachUserPolicy"
                    | "DetachUserPolicy"
                    | "PutUserPolicy"
                    | "DeleteUserPolicy"
                    | "DeleteUserPermissionsBoundary"
                    | "AttachRolePolicy"
                    | "DetachRolePolicy"
                    | "PutRolePolicy"
                    | "DeleteRolePolicy"
                    | "DeleteRolePermissionsBoundary"
                    | "DeleteRole"
                    | "GetRole"
                    | "UpdateRole"
                    | "UpdateRoleDescription"
                    | "UpdateAssumeRolePolicy"
            ) {
                // The boundary the user or role has now: delegated administrators are allowed
                // to manage only entities that keep a given boundary. Every action the Service
                // Authorization Reference lists the key for (bug: DeleteRole, GetRole,
                // UpdateRole, UpdateRoleDescription and UpdateAssumeRolePolicy lacked it, so a
                // Deny guarding the platform's boundary let a delegated administrator rewrite
                // or delete a bounded role).
                let account = caller.account_id.as_str();
                let current = state
                    .iam
                    .read_account(account, |a| {
                        match (s(input, "UserName"), s(input, "RoleName")) {
                            (Some(u), _) => a.user(u).and_then(|u| u.boundary.clone()),
                            (None, Some(r)) => a.role(r).and_then(|r| r.boundary.clone()),
                            _ => None,
                        }
                    })
                    .ok()
                    .flatten();
                if let Some(arn) = current {
                    c.insert("iam:PermissionsBoundary", CtxValue::string(arn));
                }
            }
        }
        "sts" => {
            if let Some(v) = s(input, "ExternalId") {
                c.insert("sts:ExternalId", CtxValue::string(v));
            }
            if route.operation.name == "GetWebIdentityToken" {
                insert_strings(c, "sts:IdentityTokenAudience", input, "Audience");
                // The token's lifetime, the default one when none is asked for (Palisade's
                // choice: AWS does not say), so that a ceiling in a policy also holds for
                // requests that leave it out.
                let seconds = input
                    .get("DurationSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(crate::outbound::DEFAULT_TOKEN_SECONDS);
                c.insert("sts:DurationSeconds", CtxValue::number(seconds as f64));
                if let Some(v) = s(input, "SigningAlgorithm") {
                    c.insert("sts:SigningAlgorithm", CtxValue::string(v));
                }
            }
            if let Some(v) = s(input, "RoleSessionName") {
                c.insert("sts:RoleSessionName", CtxValue::string(v));
            }
            // A chained session's source identity is carried on into the new one, and its
            // trust policy sees it as if it were set anew (bug: a trust policy requiring
            // `sts:SourceIdentity` refused the chained call that carried it).
            let inherited = (route.operation.name == "AssumeRole")
                .then_some(caller.session.as_ref())
                .flatten()
                .and_then(|p| p.source_identity.as_deref());
            if let Some(v) = s(input, "SourceIdentity").or(inherited) {
                c.insert("sts:SourceIdentity", CtxValue::string(v));
            }
            insert_strings(c, "sts:TransitiveTagKeys", input, "TransitiveTagKeys");
            if route.operation.name == "AssumeRole"
                && let Some(parent) = &caller.session
            {
                inherited_tags_context(parent, input, c);
            }
            // The token's claims, as the trust policy of a web identity's role sees them
            // (`token.actions.githubusercontent.com:sub`).
            if let Some(w) = &caller.web_identity {
                c.insert("aws:FederatedProvider", CtxValue::string(&w.provider_arn));
                if let Some(saml) = &w.saml {
                    c.insert("saml:aud", CtxValue::string(&w.audience));
                    c.insert("saml:sub", CtxValue::string(&w.subject));
                    c.insert("saml:sub_type", CtxValue::string(&saml.subject_type));
                    c.insert("saml:iss", CtxValue::string(&w.issuer));
                    c.insert("saml:namequalifier", CtxValue::string(&saml.name_qualifier));
                    // `account-id/provider-name` of the provider the assertion came through.
                    if let Some((head, name)) = w.provider_arn.split_once(":saml-provider/")
                        && let Some(account) = head.rsplit(':').next()
                    {
                        c.insert("saml:doc", CtxValue::string(format!("{account}/{name}")));
                    }
                } else {
                    c.insert(&format!("{}:aud", w.issuer), CtxValue::string(&w.audience));
                    c.insert(&format!("{}:sub", w.issuer), CtxValue::string(&w.subject));
                }
                if !w.amr.is_empty() {
                    c.insert_list(
                        &format!("{}:amr", w.issuer),
                        w.amr.iter().map(CtxValue::string).collect(),
                    );
                }
                // The token's session tags are the request's tags.
                if !w.tags.is_empty() {
                    for t in &w.tags {
                        c.insert(
                            &format!("aws:RequestTag/{}", t.key),
                            CtxValue::string(&t.value),
                        );
                    }
                    c.insert_list(
                        "aws:TagKeys",
                        w.tags.iter().map(|t| CtxValue::string(&t.key)).collect(),
                    );
                }
                if let Some(si) = &w.source_identity {
                    c.insert("sts:SourceIdentity", CtxValue::string(si));
                }
            }
            // A valid MFA code presented with AssumeRole makes MFA present for the trust
            // policy; the handler then consumes the code.
            if let Ok(Some((serial, code))) = crate::services::mfa_input(input)
                && crate::services::mfa_code_is_valid(state, caller, serial, code, ctx.time)
            {
                c.insert("aws:MultiFactorAuthPresent", CtxValue::bool(true));
                c.insert("aws:MultiFactorAuthAge", CtxValue::number(0.0));
            }
        }
        "kms" => {
            let op = action_op(route, action);
            crate::services::kms::authz::context(state, caller, ctx, op, input, c)
        }
        "secretsmanager" => crate::services::secretsmanager::authz::context(
            state,
            caller,
            &ctx.region,
            route.operation.name,
            input,
            c,
        ),
        _ => {}
    }
}

/// The transitive tags a chained `AssumeRole` carries on, as the next role's trust policy sees
/// them: among the request's tags (`aws:RequestTag/*`, `aws:TagKeys`) and transitive keys
/// (`sts:TransitiveTagKeys`), as if the call had passed them itself, since the new session gets
/// them as its own. AWS does not document whether an `sts:TagSession` condition on these keys
/// binds inherited tags; Palisade makes it bind (fail-closed), so a trust policy that limits the
/// tag keys or values a session may carry also limits those it inherits (bug: the keys held only
/// the request's own tags, and `ForAllValues:StringEquals` on `aws:TagKeys` let any inherited
/// key through).
fn inherited_tags_context(parent: &crate::session::Session, input: &Value, c: &mut Context) {
    let inherited: Vec<&crate::session::SessionTag> = parent.transitive_tags().collect();
    if inherited.is_empty() {
        return;
    }
    let given = |member: &str, field: &str| -> Vec<String> {
        input
            .get(member)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                if field.is_empty() {
                    t.as_str()
                } else {
                    s(t, field)
                }
            })
            .map(str::to_owned)
            .collect()
    };
    let mut keys = given("Tags", "Key");
    let mut transitive = given("TransitiveTagKeys", "");
    for t in &inherited {
        c.insert(
            &format!("aws:RequestTag/{}", t.key),
            CtxValue::string(&t.value),
        );
        keys.push(t.key.clone());
        transitive.push(t.key.clone());
    }
    c.insert_list(
        "aws:TagKeys",
        keys.into_iter().map(CtxValue::string).collect(),
    );
    c.insert_list(
        "sts:TransitiveTagKeys",
        transitive.into_iter().map(CtxValue::string).collect(),
    );
}

/// The resource of an operation, from its input.
pub fn target(state: &AppState, caller: &Caller, route: Route, input: &Value) -> Target {
    let account = caller.account_id.as_str();
    let none = |arn: String| Target { arn, tags: vec![] };
    match route.service.signing_name {
        "iam" => iam_target(state, caller, route.operation.name, input),
        "sts" => match route.operation.name {
            "AssumeRole" | "AssumeRoleWithWebIdentity" | "AssumeRoleWithSAML" => {
                let arn = s(input, "RoleArn").unwrap_or("*").to_owned();
                let tags = arn
                    .split(':')
                    .nth(4)
                    .zip(arn.rsplit('/').next())
                    .and_then(|(acct, name)| {
                        state
                            .iam
                            .read_account(acct, |a| a.role(name).map(|r| tag_pairs(&r.tags)))
                            .ok()
                            .flatten()
                    })
                    .unwrap_or_default();
                Target { arn, tags }
            }
            "GetFederationToken" => none(format!(
                "arn:aws:sts::{account}:federated-user/{}",
                s(input, "Name").unwrap_or_default()
            )),
            _ => none("*".to_owned()),
        },
        _ => none("*".to_owned()),
    }
}

fn tag_pairs(tags: &[palisade_store::TagRecord]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

/// A member of the input of GetAccessKeyLastUsed's second authorization (see
/// `services::iam::keys`) saying the key is the root user's: the resource is then the root
/// user. The query decoder drops members the model does not have, so no request can set it.
pub(crate) const ROOT_KEY_OWNER: &str = "@RootKeyOwner";

fn iam_target(state: &AppState, caller: &Caller, op: &str, input: &Value) -> Target {
    let account = caller.account_id.as_str();
    let none = |arn: String| Target { arn, tags: vec![] };
    let path = |member: &str| s(input, member).unwrap_or("/").to_owned();
    let user = |name: &str| {
        state
            .iam
            .read_account(account, |a| {
                a.user(name).map(|u| Target {
                    arn: user_arn(account, &u.path, &u.name),
                    tags: tag_pairs(&u.tags),
                })
            })
            .ok()
            .flatten()
            .unwrap_or_else(|| none(user_arn(account, &path("Path"), name)))
    };
    let role = |name: &str| {
        state
            .iam
            .read_account(account, |a| {
                a.role(name).map(|r| Target {
                    arn: role_arn(account, &r.path, &r.name),
                    tags: tag_pairs(&r.tags),
                })
            })
            .ok()
            .flatten()
            .unwrap_or_else(|| none(role_arn(account, &path("Path"), name)))
    };
    let group = |name: &str| {
        let found = state
            .iam
            .read_account(account, |a| {
                a.group(name).map(|g| group_arn(account, &g.path, &g.name))
            })
            .ok()
            .flatten();
        none(found.unwrap_or_else(|| group_arn(account, &path("Path"), name)))
    };
    let instance_profile = |name: &str| {
        let found = state
            .iam
            .read_account(account, |a| {
                a.instance_profiles.get(&name.to_lowercase()).map(|p| {
                    (
                        instance_profile_arn(account, &p.path, &p.name),
                        tag_pairs(&p.tags),
                    )
                })
            })
            .ok()
            .flatten();
        match found {
            Some((arn, tags)) => Target { arn, tags },
            None => none(instance_profile_arn(account, &path("Path"), name)),
        }
    };
    match op {
        "GetAccessKeyLastUsed" if input.get(ROOT_KEY_OWNER).is_some() => {
            return none(crate::identity::root_arn(account));
        }
        // Listing operations name the type's ARN prefix, as AWS's denials do.
        "ListUsers" => return none(format!("arn:aws:iam::{account}:user/")),
        "ListRoles" => return none(format!("arn:aws:iam::{account}:role/")),
        "ListGroups" => return none(format!("arn:aws:iam::{account}:group/")),
        "ListPolicies" => return none(format!("arn:aws:iam::{account}:policy/")),
        "ListInstanceProfiles" => {
            return none(format!("arn:aws:iam::{account}:instance-profile/"));
        }
        "AddUserToGroup" | "RemoveUserFromGroup" => {
            if let Some(g) = s(input, "GroupName") {
                return group(g);
            }
        }
        // These act on the user, group, role (or policy) their ARN names, the resource types
        // IAM's authorization reference gives them. Bug: they were decided on "*", so a Deny of
        // simulating another user's permissions did not stop anyone, and a policy allowing
        // `user/${aws:username}` did not let a user simulate themselves.
        "SimulatePrincipalPolicy"
        | "GetContextKeysForPrincipalPolicy"
        | "GenerateServiceLastAccessedDetails"
        | "ListPoliciesGrantingServiceAccess" => {
            let member = if op.starts_with("Simulate") || op.starts_with("GetContextKeys") {
                "PolicySourceArn"
            } else {
                "Arn"
            };
            if let Some(arn) = s(input, member) {
                let own = arn.split(':').nth(4).is_some_and(|a| a == account);
                let resource = arn.split(':').nth(5).unwrap_or_default();
                let name = resource.rsplit('/').next().unwrap_or_default();
                // Another account's principal is no principal here: the handler answers
                // NoSuchEntity, as for a name that finds no one.
                return match resource.split('/').next() {
                    Some("user") if own => user(name),
                    Some("role") if own => role(name),
                    Some("group") if own => group(name),
                    _ if own => none(arn.to_owned()),
                    _ => none("*".to_owned()),
                };
            }
        }
        "AddRoleToInstanceProfile" | "RemoveRoleFromInstanceProfile" => {
            if let Some(p) = s(input, "InstanceProfileName") {
                return instance_profile(p);
            }
        }
        "CreatePolicy" => {
            return none(policy_arn(
                account,
                &path("Path"),
                s(input, "PolicyName").unwrap_or_default(),
            ));
        }
        "CreateVirtualMFADevice" => {
            return none(format!(
                "arn:aws:iam::{account}:mfa{}{}",
                path("Path"),
                s(input, "VirtualMFADeviceName").unwrap_or_default()
            ));
        }
        "CreateServiceLinkedRole" => {
            // The role it would create, so that AWS's documented policies (a resource of
            // `role/aws-service-role/SERVICE/NAME*`) match.
            let service = s(input, "AWSServiceName").unwrap_or_default();
            let name = crate::services::iam::principals::service_linked_role_name(
                service,
                s(input, "CustomSuffix"),
            );
            return none(format!(
                "arn:aws:iam::{account}:role/aws-service-role/{service}/{name}"
            ));
        }
        "CreateSAMLProvider" => {
            let name = s(input, "Name").unwrap_or_default();
            return none(format!("arn:aws:iam::{account}:saml-provider/{name}"));
        }
        "CreateOpenIDConnectProvider" => {
            let url = s(input, "Url").unwrap_or_default();
            let issuer = url
                .split_once("://")
                .map_or(url, |(_, rest)| rest)
                .split(['?', '#'])
                .next()
                .unwrap_or_default()
                .trim_end_matches('/');
            return none(format!("arn:aws:iam::{account}:oidc-provider/{issuer}"));
        }
        _ => {}
    }
    // Identity providers and server certificates are resources of their own, named by ARN (or,
    // for certificates, by name and path), with their tags.
    if let Some(arn) = s(input, "OpenIDConnectProviderArn").or_else(|| s(input, "SAMLProviderArn"))
    {
        let tags = state
            .iam
            .read_account(account, |a| {
                a.providers.get(arn).map(|p| tag_pairs(&p.tags))
            })
            .ok()
            .flatten()
            .unwrap_or_default();
        return Target {
            arn: arn.to_owned(),
            tags,
        };
    }
    if let Some(name) = s(input, "ServerCertificateName") {
        let found = state
            .iam
            .read_account(account, |a| {
                a.server_certificates
                    .get(&name.to_lowercase())
                    .map(|c| (c.path.clone(), c.name.clone(), tag_pairs(&c.tags)))
            })
            .ok()
            .flatten();
        let (cert_path, cert_name, tags) =
            found.unwrap_or_else(|| (path("Path"), name.to_owned(), Vec::new()));
        return Target {
            arn: format!("arn:aws:iam::{account}:server-certificate{cert_path}{cert_name}"),
            tags,
        };
    }
    if let Some(u) = s(input, "UserName") {
        return user(u);
    }
    if let Some(g) = s(input, "GroupName") {
        return group(g);
    }
    if let Some(r) = s(input, "RoleName") {
        return role(r);
    }
    if let Some(p) = s(input, "InstanceProfileName") {
        return instance_profile(p);
    }
    if let Some(arn) = s(input, "PolicyArn") {
        return none(arn.to_owned());
    }
    // DeactivateMFADevice and ResyncMFADevice act on a user (their resource type in IAM's
    // authorization reference), never on the device's ARN: a user allowed on
    // `user/${aws:username}` manages their own device, one allowed on `mfa/*` nobody's.
    if let Some(serial) = s(input, "SerialNumber")
        && !matches!(op, "DeactivateMFADevice" | "ResyncMFADevice")
    {
        return none(serial.to_owned());
    }
    // Operations on the caller's own user.
    let own_user = matches!(
        op,
        "GetUser"
            | "CreateAccessKey"
            | "ListAccessKeys"
            | "UpdateAccessKey"
            | "DeleteAccessKey"
            | "ChangePassword"
            | "GetLoginProfile"
            | "CreateLoginProfile"
            | "UpdateLoginProfile"
            | "DeleteLoginProfile"
            | "ListMFADevices"
            | "DeactivateMFADevice"
            | "ListUserTags"
            | "ListSSHPublicKeys"
            | "UploadSSHPublicKey"
            | "UpdateSSHPublicKey"
            | "DeleteSSHPublicKey"
            | "ListSigningCertificates"
            | "UploadSigningCertificate"
            | "UpdateSigningCertificate"
            | "DeleteSigningCertificate"
            | "GetAccessKeyLastUsed"
            | "ResetServiceSpecificCredential"
            | "UpdateServiceSpecificCredential"
            | "DeleteServiceSpecificCredential"
    ) || (op == "ListServiceSpecificCredentials"
        // Every user's credentials are not the caller's own.
        && input.get("AllUsers").and_then(Value::as_bool) != Some(true));
    match (&caller.user_name, caller.kind, own_user) {
        (Some(name), PrincipalKind::IamUser, true) => user(name),
        _ => none("*".to_owned()),
    }
}
