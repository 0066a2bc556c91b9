//! KMS's part of authorization: the resource a request acts on, the `kms:*` condition keys,
//! key policies as the resource policy, and grants.
//!
//! A key policy must allow (the engine treats `kms:*` actions with explicit trust), directly or
//! by delegating to IAM through the account principal, as the default policy does. Grants allow
//! their operations to their grantee even where the policies do not.

use std::sync::Arc;

use palisade_policy::{CompiledPolicy, Context, Value as CtxValue};
use serde_json::Value;

use super::{Cx, s};
use crate::authz::{ResourcePolicySource, Target};
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::identity::{Caller, PrincipalKind};
use crate::state::AppState;

/// Key policies, by key ARN.
#[derive(Debug)]
pub struct KeyPolicies;

impl ResourcePolicySource for KeyPolicies {
    fn resource_policy(
        &self,
        state: &AppState,
        action: &str,
        resource: &str,
    ) -> Option<Arc<CompiledPolicy>> {
        // AWS: "The kms:RetireGrant permission is not effective in a key policy": the grant
        // decides who retires it, IAM policies only delegate (see `retire_delegated`).
        if action == "kms:RetireGrant" {
            return None;
        }
        state
            .kms
            .read(|d| d.keys.get(resource).and_then(|k| k.policy.clone()))
            .ok()
            .flatten()
    }
}

/// The ARN of the alias a request names (`AliasName`), which IAM policies grant alias
/// operations on.
pub fn alias_arn(caller: &Caller, region: &str, input: &Value) -> Option<String> {
    let name = s(input, "AliasName")?;
    Some(format!("arn:aws:kms:{region}:{}:{name}", caller.account_id))
}

/// The key the request's `AliasName` names now.
pub fn aliased_key(
    state: &AppState,
    caller: &Caller,
    region: &str,
    input: &Value,
) -> Option<String> {
    let name = s(input, "AliasName")?;
    super::ops::resolve_arn(&Cx::of_caller(state, caller, region), name).ok()
}

/// The member naming the key an operation acts on, or `None` for operations on no key.
fn key_member(op: &str) -> Option<&'static str> {
    Some(match op {
        "CreateKey" | "ListKeys" | "ListAliases" | "GenerateRandom" | "ListRetirableGrants" => {
            return None;
        }
        "CreateAlias" | "UpdateAlias" => "TargetKeyId",
        // DeleteAlias acts on the key its alias names (and on the alias: see `alias_arn`).
        "DeleteAlias" => "AliasName",
        // ReEncrypt's resource is its destination key; its source key is authorized as
        // ReEncryptFrom.
        "ReEncrypt" | "ReEncryptTo" => "DestinationKeyId",
        "ReEncryptFrom" => "SourceKeyId",
        _ => "KeyId",
    })
}

/// The error of a request naming a key or alias that does not exist: KMS resolves the key
/// before it can read the key's policy, so such a request is answered NotFoundException
/// whatever the caller may do, not AccessDeniedException on `*`; nor is a RetireGrant that
/// names no grant, which is invalid. Used only to word a denial: the request is refused either
/// way.
pub fn missing_key(
    state: &AppState,
    caller: &Caller,
    region: &str,
    op: &str,
    input: &Value,
) -> Option<ApiError> {
    if op == "RetireGrant"
        && let Some(e) = super::ops::retire_grant_unnamed(input)
    {
        return Some(e);
    }
    if op == "RetireGrant"
        && s(input, "GrantToken").is_some()
        && key_of(state, caller, region, op, input).is_none()
    {
        return Some(ApiError::bad_request(
            "InvalidGrantTokenException",
            "The grant token is not valid.",
        ));
    }
    let id = s(input, key_member(op)?)?;
    if let Some(e) = super::ops::foreign_key_refused(&caller.account_id, op, id) {
        return Some(e);
    }
    super::ops::resolve_arn(&Cx::of_caller(state, caller, region), id)
        .err()
        .filter(|e| e.code == "NotFoundException")
}

/// The key ARN an operation acts on, or `None` for operations on no key.
pub fn key_of(
    state: &AppState,
    caller: &Caller,
    region: &str,
    op: &str,
    input: &Value,
) -> Option<String> {
    let cx = Cx::of_caller(state, caller, region);
    let member = key_member(op)?;
    if op == "RetireGrant"
        && let Some(token) = s(input, "GrantToken")
    {
        // A token names its grant, and so the key, in any account.
        return state
            .kms
            .grant_by_token(token)
            .ok()
            .flatten()
            .map(|g| g.key_arn);
    }
    if let Some(id) = s(input, member) {
        return super::ops::resolve_arn(&cx, id).ok();
    }
    if op == "Decrypt" || op == "ReEncryptFrom" {
        let blob = s(input, "CiphertextBlob")?;
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, blob).ok()?;
        let header = palisade_kms::read_header(&bytes).ok()?;
        return state
            .kms
            .read(|d| super::ops::arn_for_key_id(d, region, &caller.account_id, &header.key_id))
            .ok();
    }
    None
}

/// The resource of a KMS request.
pub fn target(state: &AppState, caller: &Caller, region: &str, op: &str, input: &Value) -> Target {
    match key_of(state, caller, region, op, input) {
        Some(arn) => {
            let tags = state
                .kms
                .read(|d| d.keys.get(&arn).map(|k| k.record.tags.clone()))
                .ok()
                .flatten()
                .unwrap_or_default();
            Target { arn, tags }
        }
        None => Target {
            arn: "*".to_owned(),
            tags: vec![],
        },
    }
}

/// The member holding the encryption context an operation is authorized with: a
/// re-encryption's source context for its source key, its destination context for the other.
fn context_member(op: &str) -> &'static str {
    match op {
        "ReEncryptFrom" => "SourceEncryptionContext",
        "ReEncrypt" | "ReEncryptTo" => "DestinationEncryptionContext",
        _ => "EncryptionContext",
    }
}

/// The `kms:*` condition keys of a request.
pub fn context(
    state: &AppState,
    caller: &Caller,
    ctx: &RequestContext,
    op: &str,
    input: &Value,
    c: &mut Context,
) {
    c.insert(
        "kms:CallerAccount",
        CtxValue::string(caller.account_id.clone()),
    );
    if let Some(via) = &ctx.via_service {
        c.insert("kms:ViaService", CtxValue::string(via.clone()));
    }
    // CreateGrant's encryption context is its grant's constraint (bug: the keys were never set
    // for it, so a policy allowing grants only for a tenant's context denied every grant and a
    // Deny on a context key did not bind).
    let pairs = if op == "CreateGrant" {
        input.get("Constraints").and_then(|c| {
            c.get("EncryptionContextEquals")
                .or_else(|| c.get("EncryptionContextSubset"))
        })
    } else {
        input.get(context_member(op))
    };
    if let Some(m) = pairs.and_then(Value::as_object) {
        let mut keys = Vec::new();
        for (k, v) in m {
            if let Some(v) = v.as_str() {
                c.insert(
                    &format!("kms:EncryptionContext:{k}"),
                    CtxValue::string(v.to_owned()),
                );
            }
            keys.push(k.clone());
        }
        c.insert_list(
            "kms:EncryptionContextKeys",
            keys.into_iter().map(CtxValue::string).collect(),
        );
    }
    // Only the facts the keys need: cloning the record would copy its policy and sealed
    // materials on every request.
    let facts = key_of(state, caller, &ctx.region, op, input).and_then(|arn| {
        state
            .kms
            .read(|d| {
                d.keys.get(&arn).map(|k| {
                    let r = &k.record;
                    KeyFacts {
                        spec: r.spec.clone(),
                        usage: r.usage.clone(),
                        origin: r.origin.clone(),
                        multi_region: r.multi_region,
                        primary: r.primary_region.as_deref().is_none_or(|p| p == r.region),
                        // Most keys have no alias: then this is a look-up in an empty map.
                        aliases: d.key_aliases.get(&arn).cloned().unwrap_or_default(),
                    }
                })
            })
            .ok()
            .flatten()
    });
    match facts {
        Some(f) => {
            c.insert("kms:KeySpec", CtxValue::string(f.spec.clone()));
            c.insert("kms:CustomerMasterKeySpec", CtxValue::string(f.spec));
            c.insert("kms:KeyUsage", CtxValue::string(f.usage.clone()));
            c.insert("kms:CustomerMasterKeyUsage", CtxValue::string(f.usage));
            c.insert("kms:KeyOrigin", CtxValue::string(f.origin));
            c.insert("kms:MultiRegion", CtxValue::bool(f.multi_region));
            if f.multi_region {
                let kind = if f.primary { "PRIMARY" } else { "REPLICA" };
                c.insert("kms:MultiRegionKeyType", CtxValue::string(kind));
            }
            // Multi-valued, and absent for a key without aliases, so that a
            // `ForAnyValue:StringLike` Deny binds only keys with a matching alias.
            if !f.aliases.is_empty() {
                c.insert_list(
                    "kms:ResourceAliases",
                    f.aliases.into_iter().map(CtxValue::string).collect(),
                );
            }
        }
        None if op == "CreateKey" => {
            let spec = s(input, "KeySpec").unwrap_or("SYMMETRIC_DEFAULT");
            c.insert("kms:KeySpec", CtxValue::string(spec.to_owned()));
            c.insert(
                "kms:KeyUsage",
                CtxValue::string(s(input, "KeyUsage").unwrap_or("ENCRYPT_DECRYPT").to_owned()),
            );
            c.insert(
                "kms:KeyOrigin",
                CtxValue::string(s(input, "Origin").unwrap_or("AWS_KMS").to_owned()),
            );
            let multi_region = input
                .get("MultiRegion")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            c.insert("kms:MultiRegion", CtxValue::bool(multi_region));
            if multi_region {
                // CreateKey makes primaries; replicas come from ReplicateKey.
                c.insert("kms:MultiRegionKeyType", CtxValue::string("PRIMARY"));
            }
        }
        None => {}
    }
    request_parameter_keys(op, input, c);
    if let Some(days) = ctx.kms_days_unused {
        c.insert(
            "kms:TrailingDaysWithoutKeyUsage",
            CtxValue::number(days as f64),
        );
    }
    if matches!(op, "ReEncryptFrom" | "ReEncryptTo") {
        // The key the ciphertext was encrypted under (named, or read from the blob's header)
        // against the destination key, both resolved: the same key named once by alias and
        // once by ARN is the same key.
        let region = &ctx.region;
        let same = key_of(state, caller, region, "ReEncryptFrom", input).is_some_and(|src| {
            key_of(state, caller, region, "ReEncryptTo", input).is_some_and(|dst| dst == src)
        });
        c.insert("kms:ReEncryptOnSameKey", CtxValue::bool(same));
    }
    for (member, key) in [
        ("SigningAlgorithm", "kms:SigningAlgorithm"),
        ("EncryptionAlgorithm", "kms:EncryptionAlgorithm"),
        ("MacAlgorithm", "kms:MacAlgorithm"),
        ("MessageType", "kms:MessageType"),
        ("KeyAgreementAlgorithm", "kms:KeyAgreementAlgorithm"),
        ("GranteePrincipal", "kms:GranteePrincipal"),
        ("RetiringPrincipal", "kms:RetiringPrincipal"),
        ("GranteeServicePrincipal", "kms:GranteeServicePrincipal"),
        ("RetiringServicePrincipal", "kms:RetiringServicePrincipal"),
        ("ReplicaRegion", "kms:ReplicaRegion"),
        ("PrimaryRegion", "kms:PrimaryRegion"),
        ("WrappingAlgorithm", "kms:WrappingAlgorithm"),
        ("WrappingKeySpec", "kms:WrappingKeySpec"),
    ] {
        if let Some(v) = s(input, member) {
            c.insert(key, CtxValue::string(v.to_owned()));
        }
    }
    // AWS sets these keys when the parameter is left out, to its default ("they work even when
    // the parameter doesn't appear in the request"): a Deny on the default value must not be
    // bypassed by omitting it, nor an Allow on it be missed.
    let defaults: &[(&str, &str)] = match op {
        "Sign" | "Verify" => &[("kms:MessageType", "RAW")],
        "Encrypt"
        | "Decrypt"
        | "GenerateDataKey"
        | "GenerateDataKeyWithoutPlaintext"
        | "GenerateDataKeyPair"
        | "GenerateDataKeyPairWithoutPlaintext" => {
            &[("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")]
        }
        // Each half of a re-encryption under its own algorithm (bug: only the op "ReEncrypt"
        // was matched, which authorization never passes: its halves are ReEncryptFrom and
        // ReEncryptTo, so the key was never set for them).
        "ReEncrypt" | "ReEncryptFrom" | "ReEncryptTo" => {
            &[("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")]
        }
        _ => &[],
    };
    for (key, value) in defaults {
        if !c.contains(key) {
            c.insert(key, CtxValue::string((*value).to_owned()));
        }
    }
    if let Some(spec) = s(input, "KeyPairSpec") {
        c.insert("kms:DataKeyPairSpec", CtxValue::string(spec.to_owned()));
    }
    let algorithm = match op {
        "ReEncrypt" | "ReEncryptTo" => s(input, "DestinationEncryptionAlgorithm"),
        "ReEncryptFrom" => s(input, "SourceEncryptionAlgorithm"),
        _ => None,
    };
    if let Some(a) = algorithm {
        c.insert("kms:EncryptionAlgorithm", CtxValue::string(a.to_owned()));
    }
    if op == "CreateGrant" {
        let ops: Vec<String> = input
            .get("Operations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        c.insert_list(
            "kms:GrantOperations",
            ops.into_iter().map(CtxValue::string).collect(),
        );
        if let Some(arn) = input
            .get("Constraints")
            .and_then(|k| k.get("SourceArn"))
            .and_then(Value::as_str)
        {
            c.insert("kms:GrantConstraintSourceArn", CtxValue::string(arn));
        }
    }
    if matches!(op, "CreateGrant" | "ListGrants" | "RevokeGrant") {
        // Only AWS services integrated with KMS set this true; direct callers never do. The
        // Service Authorization Reference lists it for all three (bug: only CreateGrant).
        c.insert("kms:GrantIsForAWSResource", CtxValue::bool(false));
    }
    // A key named by alias (name or alias ARN) in a cryptographic call, DescribeKey or
    // GetPublicKey: policies may allow or deny by the alias used. A re-encryption's is the
    // alias it names the key of this half by (`SourceKeyId` or `DestinationKeyId`). The alias
    // operations' `AliasName` is not a request alias (AWS sets the key only for the calls
    // above; bug: a Deny on kms:RequestAlias refused CreateAlias, which AWS lets through).
    let alias_op = matches!(op, "CreateAlias" | "UpdateAlias" | "DeleteAlias");
    if let Some(id) = key_member(op)
        .filter(|_| !alias_op)
        .and_then(|m| s(input, m))
    {
        let alias = id
            .strip_prefix("arn:")
            .and_then(|rest| rest.split_once(":alias/"))
            .map(|(_, name)| format!("alias/{name}"))
            .or_else(|| id.starts_with("alias/").then(|| id.to_owned()));
        if let Some(alias) = alias {
            c.insert("kms:RequestAlias", CtxValue::string(alias));
        }
    }
}

/// What the key-property condition keys say of the key a request acts on.
struct KeyFacts {
    spec: String,
    usage: String,
    origin: String,
    multi_region: bool,
    /// A multi-Region key in its primary's Region, or any other key.
    primary: bool,
    aliases: Vec<String>,
}

/// The condition keys that only some operations' parameters set; each is computed only for
/// the operations it applies to. AWS sets them to the parameter's default when it is left out
/// ("this type of condition works even when the parameter doesn't appear in the request"), so
/// that a Deny on the default cannot be bypassed by omitting the parameter.
fn request_parameter_keys(op: &str, input: &Value, c: &mut Context) {
    // Which of a key's policies the call reads or sets: `default` when left out, so a Deny on
    // the default cannot be bypassed by omitting the name (bug: never set, so such a Deny
    // denied nothing).
    if matches!(op, "GetKeyPolicy" | "PutKeyPolicy") {
        let name = s(input, "PolicyName").unwrap_or("default");
        c.insert("kms:PolicyName", CtxValue::string(name.to_owned()));
    }
    match op {
        "CreateKey" | "PutKeyPolicy" => {
            let bypass = input
                .get("BypassPolicyLockoutSafetyCheck")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            c.insert("kms:BypassPolicyLockoutSafetyCheck", CtxValue::bool(bypass));
        }
        "ScheduleKeyDeletion" => {
            let days = input
                .get("PendingWindowInDays")
                .and_then(Value::as_i64)
                .unwrap_or(30);
            c.insert(
                "kms:ScheduleKeyDeletionPendingWindowInDays",
                CtxValue::number(days as f64),
            );
        }
        "EnableKeyRotation" => {
            let days = input
                .get("RotationPeriodInDays")
                .and_then(Value::as_i64)
                .unwrap_or(365);
            c.insert("kms:RotationPeriodInDays", CtxValue::number(days as f64));
        }
        "CreateGrant" => {
            let constraints = input.get("Constraints");
            for kind in ["EncryptionContextEquals", "EncryptionContextSubset"] {
                if constraints.and_then(|k| k.get(kind)).is_some() {
                    c.insert("kms:GrantConstraintType", CtxValue::string(kind));
                }
            }
        }
        "ImportKeyMaterial" => {
            let model = s(input, "ExpirationModel").unwrap_or("KEY_MATERIAL_EXPIRES");
            c.insert("kms:ExpirationModel", CtxValue::string(model));
            // A Date key holding epoch seconds: date operators and numeric ones (on the text)
            // both compare it.
            if let Some(v) = input
                .get("ValidTo")
                .and_then(Value::as_f64)
                .and_then(|t| CtxValue::date(&(t as i64).to_string()))
            {
                c.insert("kms:ValidTo", v);
            }
        }
        _ => {}
    }
}

/// Whether a grant on the key lets the caller run `op` with this input.
pub fn grant_allows(
    state: &AppState,
    caller: &Caller,
    region: &str,
    op: &str,
    input: &Value,
) -> bool {
    if op == "RetireGrant" {
        return may_retire(state, caller, region, input);
    }
    let Some(arn) = key_of(state, caller, region, op, input) else {
        return false;
    };
    let context: Vec<(String, String)> = input
        .get(context_member(op))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let op_name = match op {
        "ReEncrypt" => "ReEncryptTo",
        other => other,
    };
    state
        .kms
        .read(|d| {
            // AWS applies grant constraints only to operations that take an encryption
            // context, which only symmetric encryption keys do: not to DescribeKey or
            // RetireGrant, nor to asymmetric or HMAC keys' operations.
            let constrained = matches!(
                op_name,
                "Encrypt"
                    | "Decrypt"
                    | "GenerateDataKey"
                    | "GenerateDataKeyWithoutPlaintext"
                    | "GenerateDataKeyPair"
                    | "GenerateDataKeyPairWithoutPlaintext"
                    | "ReEncryptFrom"
                    | "ReEncryptTo"
            ) && d
                .keys
                .get(&arn)
                .is_some_and(|k| k.record.spec == "SYMMETRIC_DEFAULT");
            d.grants_of(&arn).any(|g| {
                !on_behalf_of_resource(g)
                    && is_grantee(&g.grantee, g.grantee_id.as_deref(), caller)
                    && g.operations.iter().any(|o| o == op_name)
                    && if op == "CreateGrant" {
                        // A grant that allows CreateGrant lets its grantee pass on no more
                        // than it has: a subset of its operations, under constraints at least
                        // as strict (AWS: "limited in the grants that they can create").
                        narrower(g, input)
                    } else {
                        !constrained || constraints_hold(g.constraints.as_ref(), &context)
                    }
            })
        })
        .unwrap_or(false)
}

/// Whether a grant's grantee (or retiring principal) names the caller: its own ARN, or, for a
/// role session, the role (AWS: a grant to a role "allows users who are authorized to assume
/// the role" to use it). A principal the grant holds by unique id (`unique_id`) is matched by
/// that id alone, as AWS stores grantees: a user or role deleted and created again under the
/// same name is another principal, whose sessions the grant does not serve (bug: grants were
/// matched by ARN, so they passed to whoever took the name next). Once that principal is
/// deleted the grant names its id instead of an ARN and serves nobody, not even sessions that
/// outlive their role.
fn is_grantee(principal: &str, unique_id: Option<&str>, caller: &Caller) -> bool {
    let session = caller.session.as_ref();
    match unique_id {
        Some(_) if !principal.starts_with("arn:") => false,
        Some(id) => match caller.kind {
            PrincipalKind::IamUser => caller.principal_id == id,
            // A grant to the role (its id) or to this very session (`AROA…:name`).
            PrincipalKind::AssumedRole => {
                caller.principal_id == id || session.and_then(|s| s.role_id.as_deref()) == Some(id)
            }
            _ => false,
        },
        None => {
            principal == caller.arn
                || session
                    .and_then(|s| s.role_arn.as_deref())
                    .is_some_and(|role| role == principal)
        }
    }
}

/// Whether a grant's `SourceArn` constraint limits it to requests an AWS service makes on behalf
/// of a resource (AWS: "effectively the same as having the aws:SourceArn global condition key
/// in the grant", for every operation). No request reaching Palisade is made on behalf of a
/// resource, so such a grant allows nothing; ignoring the constraint would have made it an
/// unconstrained grant.
fn on_behalf_of_resource(g: &super::state::GrantRecord) -> bool {
    g.constraints
        .as_ref()
        .and_then(|c| c.get("SourceArn"))
        .is_some_and(|a| !a.is_null())
}

/// Whether the grant CreateGrant asks for is within `parent`: its operations a subset of the
/// parent's, and the parent's encryption-context constraint kept or narrowed.
fn narrower(parent: &super::state::GrantRecord, input: &Value) -> bool {
    let wanted = input.get("Operations").and_then(Value::as_array);
    let ops_ok = wanted.is_some_and(|ops| {
        ops.iter().all(|o| {
            o.as_str()
                .is_some_and(|o| parent.operations.iter().any(|p| p == o))
        })
    });
    if !ops_ok {
        return false;
    }
    let Some(pc) = &parent.constraints else {
        return true;
    };
    let pairs = |c: Option<&Value>, member: &str| -> Option<Vec<(String, String)>> {
        c.and_then(|c| c.get(member))
            .and_then(Value::as_object)
            .map(|m| {
                let mut v: Vec<(String, String)> = m
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect();
                v.sort();
                v
            })
    };
    let child = input.get("Constraints");
    let (child_equals, child_subset) = (
        pairs(child, "EncryptionContextEquals"),
        pairs(child, "EncryptionContextSubset"),
    );
    if let Some(equals) = pairs(Some(pc), "EncryptionContextEquals")
        && child_equals.as_ref() != Some(&equals)
    {
        return false;
    }
    if let Some(subset) = pairs(Some(pc), "EncryptionContextSubset") {
        let covers = |c: &Option<Vec<(String, String)>>| {
            c.as_ref()
                .is_some_and(|c| subset.iter().all(|p| c.contains(p)))
        };
        if !(covers(&child_equals) || covers(&child_subset)) {
            return false;
        }
    }
    true
}

/// Whether an IAM policy's `kms:RetireGrant` may count for this grant: AWS lets the key's own
/// account delegate retiring to its principals, and an account named as the retiring principal
/// delegate it to its own. Anywhere else the permission alone retires nothing (bug: any account
/// whose policy allowed kms:RetireGrant on "*" could delete another account's grants).
pub fn retire_delegated(state: &AppState, caller: &Caller, region: &str, input: &Value) -> bool {
    let Some(grant) = named_grant(state, caller, region, input) else {
        return false;
    };
    let key_account = grant.key_arn.split(':').nth(4).unwrap_or_default();
    let caller_root = format!("arn:aws:iam::{}:root", caller.account_id);
    key_account == caller.account_id || grant.retiring.as_deref() == Some(caller_root.as_str())
}

/// The grant a RetireGrant names: by its token, or by its id and key.
fn named_grant(
    state: &AppState,
    caller: &Caller,
    region: &str,
    input: &Value,
) -> Option<super::state::GrantRecord> {
    if let Some(token) = input.get("GrantToken").and_then(Value::as_str) {
        return state.kms.grant_by_token(token).ok().flatten();
    }
    let grant_id = input.get("GrantId").and_then(Value::as_str)?;
    let key = key_of(state, caller, region, "RetireGrant", input)?;
    state
        .kms
        .read(|d| d.grants.get(grant_id).filter(|g| g.key_arn == key).cloned())
        .ok()
        .flatten()
}

/// The error of a RetireGrant naming, by id, a grant the key does not have: KMS answers it
/// NotFoundException, not a denial that sends the key's own account looking at its policies;
/// and of one naming a key but no grant, which is invalid.
pub fn missing_grant(
    state: &AppState,
    caller: &Caller,
    region: &str,
    input: &Value,
) -> Option<ApiError> {
    if let Some(e) = super::ops::retire_grant_unnamed(input) {
        return Some(e);
    }
    let id = s(input, "GrantId")?;
    if s(input, "GrantToken").is_some()
        || key_of(state, caller, region, "RetireGrant", input).is_none()
    {
        return None;
    }
    named_grant(state, caller, region, input)
        .is_none()
        .then(|| ApiError::bad_request("NotFoundException", format!("Grant ID {id} not found")))
}

/// RetireGrant, by grant: its retiring principal, its grantee when the grant allows RetireGrant,
/// or the root user of the account that created it (AWS's "Retiring and revoking grants").
/// Whoever else may retire is decided by policies, before this.
fn may_retire(state: &AppState, caller: &Caller, region: &str, input: &Value) -> bool {
    let Some(g) = named_grant(state, caller, region, input) else {
        return false;
    };
    let issuer_account = g.issuer.split(':').nth(4).unwrap_or_default();
    g.retiring
        .as_deref()
        .is_some_and(|r| is_grantee(r, g.retiring_id.as_deref(), caller))
        || (is_grantee(&g.grantee, g.grantee_id.as_deref(), caller)
            && g.operations.iter().any(|o| o == "RetireGrant"))
        || (caller.kind == PrincipalKind::Root && caller.account_id == issuer_account)
}

fn constraints_hold(constraints: Option<&Value>, context: &[(String, String)]) -> bool {
    let Some(c) = constraints else {
        return true;
    };
    let pairs = |member: &str| -> Option<Vec<(String, String)>> {
        c.get(member).and_then(Value::as_object).map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
    };
    // In a grant constraint the keys are not case-sensitive; the values are (AWS's
    // GrantConstraints).
    let folded = |pairs: &[(String, String)]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect();
        v.sort();
        v
    };
    let context = folded(context);
    if let Some(equals) = pairs("EncryptionContextEquals")
        && folded(&equals) != context
    {
        return false;
    }
    if let Some(subset) = pairs("EncryptionContextSubset")
        && !folded(&subset).iter().all(|p| context.contains(p))
    {
        return false;
    }
    true
}

/// Authorizes a KMS operation that another service runs on the caller's behalf (Secrets
/// Manager's data keys): the caller needs the permission, with `kms:ViaService` set.
pub(crate) fn check_for_service(
    cx: &Cx<'_>,
    op: &'static str,
    key_arn: &str,
    service: &str,
    context: &palisade_kms::EncryptionContext,
) -> Result<(), ApiError> {
    let input = serde_json::json!({"KeyId": key_arn, "EncryptionContext": context});
    let via = Some(format!("{service}.{}.amazonaws.com", cx.region));
    crate::authz::authorize_internal(cx.state, cx.caller, cx.region, ("kms", op), &input, via)
}
