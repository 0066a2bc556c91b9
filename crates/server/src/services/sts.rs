//! AWS Security Token Service: who am I, and temporary credentials (`ASIA…` keys with session
//! tokens that expire).

use http::StatusCode;
use palisade_policy::{PolicyKind, policy_size};
use serde_json::{Value, json};

use crate::error::ApiError;
use base64::Engine as _;

use crate::identity::{Caller, PrincipalKind, SamlSession, WebIdentity, new_unique_id};
use crate::oidc::{Token, TokenError};
use crate::route::Route;
use crate::services::iam::mfa::verify_token_code;
use crate::session::{self, Holder, Session, SessionSource, SessionTag};
use crate::state::AppState;

/// Runs an STS operation.
pub async fn handle(
    state: &AppState,
    caller: &Caller,
    region: &str,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    match operation {
        "GetCallerIdentity" => Ok(get_caller_identity(caller)),
        "AssumeRole" => assume_role(state, caller, &input).await,
        "AssumeRoleWithWebIdentity" => assume_role_with_web_identity(state, caller, &input).await,
        "AssumeRoleWithSAML" => assume_role_with_saml(state, caller, &input).await,
        "GetSessionToken" => get_session_token(state, caller, &input).await,
        "GetFederationToken" => get_federation_token(state, caller, &input).await,
        "GetAccessKeyInfo" => get_access_key_info(state, caller, &input).await,
        "GetWebIdentityToken" => get_web_identity_token(state, caller, region, &input).await,
        "DecodeAuthorizationMessage" => Err(ApiError::bad_request(
            "InvalidAuthorizationMessageException",
            "The encoded authorization message is invalid. Palisade's denials carry their \
             reason in clear text and never issue encoded messages.",
        )),
        other => Err(ApiError::new(
            "NotImplemented",
            format!("palisade does not implement sts:{other} yet"),
            StatusCode::NOT_IMPLEMENTED,
        )),
    }
}

/// `GetWebIdentityToken`: a JSON web token naming the caller, signed with the account's
/// outbound federation key (`crate::outbound`), for an external service that trusts the
/// account's issuer. `sub` is the principal's ARN; for a role session the role's, as AWS's tokens
/// have it, the session's own details going in the claims under `https://sts.amazonaws.com/`.
async fn get_web_identity_token(
    state: &AppState,
    caller: &Caller,
    region: &str,
    input: &Value,
) -> Result<Value, ApiError> {
    let issuer = match state.outbound.issuer(&caller.account_id) {
        Some(i) if i.enabled => i,
        _ => {
            return Err(ApiError::new(
                "OutboundWebIdentityFederationDisabledException",
                "Outbound web identity federation is disabled for your account",
                StatusCode::FORBIDDEN,
            ));
        }
    };
    let alg_name = input
        .get("SigningAlgorithm")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(alg) = crate::outbound::Alg::parse(alg_name) else {
        return Err(validation(format!(
            "1 validation error detected: Value '{alg_name}' at 'signingAlgorithm' failed to \
             satisfy constraint: Member must satisfy enum value set: [RS256, ES384]"
        )));
    };
    let audience: Vec<&str> = input
        .get("Audience")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let duration = input
        .get("DurationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(crate::outbound::DEFAULT_TOKEN_SECONDS);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expires = now + duration;
    if let Some(s) = &caller.session
        && expires > s.expires_at
    {
        return Err(ApiError::new(
            "SessionDurationEscalationException",
            format!(
                "The requested token duration would extend the session beyond its original \
                 expiration time: the token would expire {} seconds after the session",
                expires - s.expires_at
            ),
            StatusCode::FORBIDDEN,
        ));
    }
    let session = caller.session.as_deref();
    let subject = session
        .and_then(|s| s.role_arn.clone())
        .unwrap_or_else(|| caller.arn.clone());
    let mut aws = serde_json::Map::new();
    aws.insert("aws_account".into(), json!(caller.account_id));
    aws.insert("source_region".into(), json!(region));
    // Tag keys are case-insensitive in IAM: a session tag overrides a principal tag that
    // differs only in case, and the token carries one of them, as authorization saw it.
    let mut principal_tags = serde_json::Map::new();
    crate::authz::for_each_principal_tag(state, caller, |k, v| {
        principal_tags.retain(|have, _| !have.eq_ignore_ascii_case(k));
        principal_tags.insert(k.to_owned(), json!(v));
    });
    if !principal_tags.is_empty() {
        aws.insert("principal_tags".into(), Value::Object(principal_tags));
    }
    let request_tags = session_tags(input)?;
    if !request_tags.is_empty() {
        let map = request_tags.into_iter().map(|t| (t.key, json!(t.value)));
        aws.insert("request_tags".into(), Value::Object(map.collect()));
    }
    if let Some(s) = session {
        if s.role_arn.is_some()
            && let Ok(exp) = time::OffsetDateTime::from_unix_timestamp(s.expires_at)
            && let Ok(exp) = exp.format(&time::format_description::well_known::Rfc3339)
        {
            aws.insert("original_session_exp".into(), json!(exp));
        }
        if let Some(p) = &s.federated_provider {
            aws.insert("federated_provider".into(), json!(p));
        }
        if let Some(si) = &s.source_identity {
            aws.insert("source_identity".into(), json!(si));
        }
    }
    let aud = match audience.as_slice() {
        [one] => json!(one),
        many => json!(many),
    };
    let claims = json!({
        "aud": aud,
        "sub": subject,
        // AWS's tokens carry the principal once more, as `principal_id`.
        "principal_id": subject,
        crate::outbound::CLAIMS_NAMESPACE: aws,
        "iss": crate::outbound::issuer_url(state, &issuer.id),
        "exp": expires,
        "iat": now,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    Ok(json!({
        "WebIdentityToken": issuer.sign(alg, &claims)?,
        "Expiration": expires,
    }))
}

/// `GetCallerIdentity`: who signed the request. AWS allows it whatever the policies say.
pub fn get_caller_identity(caller: &Caller) -> Value {
    json!({
        "UserId": caller.principal_id,
        "Account": caller.account_id,
        "Arn": caller.arn,
    })
}

fn s<'a>(input: &'a Value, member: &str) -> Option<&'a str> {
    input.get(member).and_then(Value::as_str)
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("ValidationError", message)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn duration(input: &Value, default: i64, min: i64, max: i64, what: &str) -> Result<i64, ApiError> {
    let d = input
        .get("DurationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(default);
    if d < min {
        return Err(validation(format!(
            "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy \
             constraint: Member must have value greater than or equal to {min}"
        )));
    }
    if d > max {
        return Err(validation(format!(
            "The requested DurationSeconds exceeds the {what}."
        )));
    }
    Ok(d)
}

/// The `Tags` member. Keys are case-insensitive: two that differ only in case would let whoever
/// reads the tags see a value that the policy's `aws:RequestTag` condition never saw.
fn session_tags(input: &Value) -> Result<Vec<SessionTag>, ApiError> {
    let mut tags: Vec<SessionTag> = Vec::new();
    for t in input
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = s(t, "Key").unwrap_or_default();
        push_tag(&mut tags, key, s(t, "Value").unwrap_or_default())?;
    }
    Ok(tags)
}

/// Adds a session tag, with STS's rules whatever the tag came from (the call, a web identity
/// token, a SAML assertion): no `aws:` keys, and no key twice in any case.
fn push_tag(tags: &mut Vec<SessionTag>, key: &str, value: &str) -> Result<(), ApiError> {
    if crate::services::is_reserved_tag_key(key) {
        return Err(ApiError::bad_request(
            "InvalidParameterValue",
            format!("Tag key {key} is reserved: keys beginning with aws: are for AWS's use."),
        ));
    }
    if tags.iter().any(|have| have.key.eq_ignore_ascii_case(key)) {
        return Err(ApiError::bad_request(
            "InvalidParameterValue",
            format!(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive. \
                 (key: {key})"
            ),
        ));
    }
    tags.push(SessionTag {
        key: key.to_owned(),
        value: value.to_owned(),
    });
    Ok(())
}

fn policy_arns(input: &Value) -> Vec<String> {
    input
        .get("PolicyArns")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| s(p, "arn"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Checks the session policies; returns the packed size as a percentage of the quota.
/// Checks the session policies of a session in `account` (the role's, or the federated user's):
/// managed ones must be AWS's or that account's own.
fn check_session_policies(
    state: &AppState,
    account: &str,
    policy: Option<&str>,
    arns: &[String],
) -> Result<i64, ApiError> {
    let mut size = 0usize;
    if let Some(doc) = policy {
        // AWS: "The plaintext that you use for both inline and managed session policies can't
        // exceed 2,048 characters", whatever the packed form's share.
        if doc.chars().count() > 2048 {
            return Err(validation(
                "1 validation error detected: Value at 'policy' failed to satisfy constraint: \
                 Member must have length less than or equal to 2048",
            ));
        }
        palisade_policy::Policy::parse(doc, PolicyKind::Session).map_err(|e| match e {
            palisade_policy::PolicyError::TooLarge { .. } => packed_too_large(policy_size(doc)),
            e => ApiError::bad_request("MalformedPolicyDocument", e.aws_message()),
        })?;
        size += policy_size(doc);
    }
    if arns.len() > 10 {
        return Err(validation(
            "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: \
             Member must have length less than or equal to 10",
        ));
    }
    for arn in arns {
        let exists = state
            .iam
            .read(|d| d.attachable_policy(arn, account).is_some())?;
        if !exists {
            return Err(validation(format!(
                "Policy {arn} does not exist or is not attachable."
            )));
        }
        size += arn.len();
    }
    if size > 2048 {
        return Err(packed_too_large(size));
    }
    Ok(i64::try_from(size * 100 / 2048).unwrap_or(100))
}

fn packed_too_large(size: usize) -> ApiError {
    ApiError::bad_request(
        "PackedPolicyTooLarge",
        format!(
            "Packed policy consumes {}% of allotted space, please use smaller policy.",
            size * 100 / 2048
        ),
    )
}

/// Issues the credentials of a session.
fn credentials(state: &AppState, session: &Session) -> Result<Value, ApiError> {
    let (id, secret) =
        crate::identity::new_session_key_pair(&session.account_id).map_err(ApiError::internal)?;
    let token =
        session::seal_token(&state.sealer, &id, &secret, session).map_err(ApiError::internal)?;
    Ok(json!({
        "AccessKeyId": id,
        "SecretAccessKey": secret,
        "SessionToken": token,
        "Expiration": session.expires_at,
    }))
}

/// The account and name of the role `RoleArn` names.
fn role_arn_parts(input: &Value) -> Result<(String, String), ApiError> {
    let role_arn = s(input, "RoleArn").unwrap_or_default();
    let account = role_arn.split(':').nth(4).unwrap_or_default();
    let role_name = role_arn.rsplit('/').next().unwrap_or_default();
    if account.is_empty() || !role_arn.contains(":role/") {
        return Err(validation(format!("{role_arn} is invalid")));
    }
    Ok((account.to_owned(), role_name.to_owned()))
}

/// A role about to be assumed.
struct RoleToAssume {
    account: String,
    id: String,
    /// The full ARN, with the role's path.
    arn: String,
    name: String,
    /// The longest session it allows, in seconds.
    max_session: i64,
}

impl RoleToAssume {
    /// A session of the role named `session_name`, from `issued` for `duration` seconds, with
    /// what every way of assuming a role sets alike; callers add MFA, policies, tags.
    fn session(
        &self,
        source: SessionSource,
        session_name: &str,
        issued: i64,
        duration: i64,
    ) -> Session {
        let RoleToAssume {
            account, id, name, ..
        } = self;
        let holder = Holder {
            kind: PrincipalKind::AssumedRole,
            account_id: account.clone(),
            arn: format!("arn:aws:sts::{account}:assumed-role/{name}/{session_name}"),
            principal_id: format!("{id}:{session_name}"),
        };
        Session {
            role_name: Some(name.clone()),
            role_arn: Some(self.arn.clone()),
            role_id: Some(id.clone()),
            session_name: Some(session_name.to_owned()),
            ..Session::new(source, holder, issued, duration)
        }
    }
}

/// The role to assume.
/// The role `role_arn` names: only its exact ARN, path included, does. Policies are matched
/// against the ARN the caller gives, so an ARN that merely ends in the role's name (another path,
/// partition, Region or service) must name no role, or a caller allowed `role/dev/*` could
/// assume `role/prod/admin` as `role/dev/admin`.
fn role_to_assume(
    state: &AppState,
    account: &str,
    role_name: &str,
    role_arn: &str,
) -> Result<Option<RoleToAssume>, ApiError> {
    state.iam.read_account(account, |a| {
        a.role(role_name)
            .map(|r| RoleToAssume {
                account: account.to_owned(),
                id: r.id.clone(),
                arn: crate::iam::role_arn(&r.account_id, &r.path, &r.name),
                name: r.name.clone(),
                max_session: r.max_session_duration,
            })
            .filter(|r| r.arn == role_arn)
    })
}

/// Issues a role session's credentials and notes the role's use: the members every
/// `AssumeRole*` answers with.
async fn issue_role_session(
    state: &AppState,
    session: &Session,
    packed: i64,
) -> Result<Value, ApiError> {
    // Session tags are packed with the session policies into the same allotment, so they count
    // in the size reported. AWS compresses the packed form in a way it does not document: tags
    // count uncompressed here, and are never the reason a session is refused (only policies
    // over the quota are), so the figure stops at 100.
    let tag_bytes: usize = session
        .tags
        .iter()
        .map(|t| t.key.len() + t.value.len())
        .chain(session.transitive_tag_keys.iter().map(String::len))
        .sum();
    let tag_share = i64::try_from((tag_bytes * 100).div_ceil(2048)).unwrap_or(100);
    let packed = packed.saturating_add(tag_share).min(100);
    let creds = credentials(state, session)?;
    if let Some(role) = &session.role_name {
        note_role_used(state, &session.account_id, role, session.issued_at).await;
    }
    let mut out = json!({
        "Credentials": creds,
        "AssumedRoleUser": {"AssumedRoleId": session.principal_id, "Arn": session.arn},
    });
    if packs_anything(session) {
        crate::services::set(&mut out, "PackedPolicySize", json!(packed));
    }
    if let Some(si) = &session.source_identity {
        crate::services::set(&mut out, "SourceIdentity", json!(si));
    }
    Ok(out)
}

/// Notes that a role was assumed, for `GetRole`'s `RoleLastUsed`.
async fn note_role_used(state: &AppState, account: &str, role_name: &str, at: i64) {
    let region = state.config.region.clone();
    let _ = state
        .iam
        .mutate(account, |tx| {
            if let Some(r) = tx.role_mut(role_name) {
                r.last_used = Some((at, region));
            }
            Ok(())
        })
        .await;
}

async fn assume_role(state: &AppState, caller: &Caller, input: &Value) -> Result<Value, ApiError> {
    let role_arn = s(input, "RoleArn").unwrap_or_default().to_owned();
    let session_name = s(input, "RoleSessionName").unwrap_or_default().to_owned();
    let (account, role_name) = role_arn_parts(input)?;
    let role = match role_to_assume(state, &account, &role_name, &role_arn)? {
        Some(r) => r,
        // Enforcement refuses a role that does not exist before this; with enforcement in
        // `audit` mode the call gets here and still gets no session for a role there is not.
        None if !state.config.dev => {
            return Err(crate::authz::access_denied(
                crate::route::WireProtocol::Query,
                caller,
                "sts:AssumeRole",
                &role_arn,
                "because no resource-based policy allows the sts:AssumeRole action",
            ));
        }
        // `--dev`: moto's suites assume roles they never created.
        None => RoleToAssume {
            account: account.clone(),
            id: new_unique_id("AROA"),
            arn: role_arn.clone(),
            name: role_name,
            max_session: 43_200,
        },
    };
    // Role chaining is limited to one hour.
    let chained = caller.kind == PrincipalKind::AssumedRole;
    let max = if chained { 3600 } else { role.max_session };
    let what = if chained {
        "1 hour session limit for roles assumed by role chaining"
    } else {
        "MaxSessionDuration set for this role"
    };
    let d = duration(input, 3600, 900, max, what)?;
    let policy = s(input, "Policy").map(str::to_owned);
    let arns = policy_arns(input);
    let packed = check_session_policies(state, &role.account, policy.as_deref(), &arns)?;
    let mut mfa_at = None;
    if let Some((serial, code)) = crate::services::mfa_input(input)? {
        if state.config.dev {
            mfa_at = Some(now());
        } else {
            mfa_at = Some(
                verify_token_code(
                    state,
                    &caller.account_id,
                    caller.user_name.as_deref(),
                    serial,
                    code,
                )
                .await?,
            );
        }
    }
    // Transitive tags of the calling session pass on and cannot be overridden.
    let mut tags = session_tags(input)?;
    let mut transitive = transitive_tag_keys(input, &tags)?;
    if let Some(parent) = &caller.session {
        inherit_transitive_tags(parent, &mut tags, &mut transitive)?;
    }
    if tags.len() > 50 {
        return Err(validation("Session tags are limited to 50."));
    }
    // A source identity, once set, persists across chained sessions and cannot be changed.
    let inherited = caller
        .session
        .as_ref()
        .and_then(|s| s.source_identity.clone());
    let source_identity = match (inherited, s(input, "SourceIdentity")) {
        (Some(old), Some(new)) if old != new => {
            return Err(validation(
                "The source identity is already set for this assume role session",
            ));
        }
        (Some(old), _) => Some(old),
        (None, given) => given.map(str::to_owned),
    };
    let issued = now();
    let session = Session {
        mfa_at: mfa_at.or(caller.session.as_ref().and_then(|s| s.mfa_at)),
        policy,
        policy_arns: arns,
        tags,
        transitive_tag_keys: transitive,
        source_identity: source_identity.clone(),
        ..role.session(SessionSource::AssumeRole, &session_name, issued, d)
    };
    let out = issue_role_session(state, &session, packed).await?;
    Ok(out)
}

/// The `TransitiveTagKeys` member, each key spelled as the tag it names. AWS: a transitive key
/// "must be included in the requested tags" (bug: keys naming no tag, or naming one in another
/// case, were taken as given, so the tag was not passed on and a later hop could set it anew).
/// Keys compare without regard to case, as IAM's tag keys do; a key given twice counts once.
fn transitive_tag_keys(input: &Value, tags: &[SessionTag]) -> Result<Vec<String>, ApiError> {
    let mut keys: Vec<String> = Vec::new();
    let requested = input
        .get("TransitiveTagKeys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for key in requested {
        let Some(tag) = tags.iter().find(|t| t.key.eq_ignore_ascii_case(key)) else {
            return Err(ApiError::bad_request(
                "InvalidParameterValue",
                "The specified transitive tag key must be included in the requested tags.",
            ));
        };
        if !keys.iter().any(|k| k.eq_ignore_ascii_case(&tag.key)) {
            keys.push(tag.key.clone());
        }
    }
    Ok(keys)
}

/// Adds the calling session's transitive tags to a chained session's, still transitive. A tag
/// the request sets with the key of one of them, in any case, is refused with AWS's error: the
/// value a trust policy's `aws:PrincipalTag` checks was fixed by the first hop, and no later hop
/// may change it.
fn inherit_transitive_tags(
    parent: &Session,
    tags: &mut Vec<SessionTag>,
    transitive: &mut Vec<String>,
) -> Result<(), ApiError> {
    for t in parent.transitive_tags() {
        if tags.iter().any(|x| x.key.eq_ignore_ascii_case(&t.key)) {
            return Err(ApiError::bad_request(
                "InvalidParameterValue",
                "One of the specified transitive tag keys can't be set because it conflicts with \
                 a transitive tag key from the calling session.",
            ));
        }
        tags.push(t.clone());
        if !transitive.iter().any(|k| k.eq_ignore_ascii_case(&t.key)) {
            transitive.push(t.key.clone());
        }
    }
    Ok(())
}

/// Whether a route is one of the STS calls that AWS takes unsigned and authenticates by their
/// token or assertion.
pub fn is_unsigned(route: Route) -> bool {
    route.service.signing_name == "sts"
        && matches!(
            route.operation.name,
            "AssumeRoleWithWebIdentity" | "AssumeRoleWithSAML"
        )
}

/// Authenticates a call AWS takes unsigned ([`is_unsigned`]) by its token or assertion.
pub async fn federated_caller(
    state: &AppState,
    route: Route,
    input: &Value,
) -> Result<Caller, ApiError> {
    if route.operation.name == "AssumeRoleWithSAML" {
        saml_caller(state, input).await
    } else {
        web_identity_caller(state, input).await
    }
}

fn invalid_identity_token(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidIdentityToken", message)
}

/// Authenticates an `AssumeRoleWithWebIdentity` call by its OpenID Connect token: the issuer
/// must be an OIDC provider of the role's account, the audience one of its client ids, the token
/// current and signed by one of the issuer's published keys (in `--dev` the signature is not
/// checked, so that tokens can be made up for local tests). Whether the holder may assume the
/// role is the role's trust policy's to say, in the authorize step.
pub async fn web_identity_caller(state: &AppState, input: &Value) -> Result<Caller, ApiError> {
    let (account, _) = role_arn_parts(input)?;
    let token =
        Token::parse(s(input, "WebIdentityToken").unwrap_or_default()).map_err(|e| match e {
            TokenError::NotJwt => invalid_identity_token(e.to_string()),
            e => invalid_identity_token(format!("The web identity token is malformed: {e}")),
        })?;
    let iss = token
        .str("iss")
        .ok_or_else(|| invalid_identity_token("The web identity token has no iss claim"))?;
    // AWS: tokens from GetWebIdentityToken "cannot be used for OpenID Connect (OIDC)
    // federation into AWS (via the AssumeRoleWithWebIdentity API)". Accepting them would let a
    // session mint itself a longer one, and one account vouch for another's principals.
    let own_issuer = crate::outbound::issuer_url(state, "");
    if token.has(crate::outbound::CLAIMS_NAMESPACE) || iss.starts_with(&own_issuer) {
        return Err(invalid_identity_token(
            "Tokens from GetWebIdentityToken cannot be used with AssumeRoleWithWebIdentity",
        ));
    }
    let issuer = iss
        .strip_prefix("https://")
        .unwrap_or(iss)
        .trim_end_matches('/')
        .to_owned();
    let provider_arn = format!("arn:aws:iam::{account}:oidc-provider/{issuer}");
    let provider = state
        .iam
        .read_account(&account, |a| a.providers.get(&provider_arn).cloned())?
        .ok_or_else(|| {
            invalid_identity_token(format!(
                "No OpenIDConnect provider found in your account for {iss}"
            ))
        })?;
    let audience = token
        .audiences()
        .into_iter()
        .find(|a| provider.client_ids.iter().any(|c| c == a))
        .map(str::to_owned)
        .ok_or_else(|| invalid_identity_token("Incorrect token audience"))?;
    let now = now();
    let expires_at = token
        .time("exp")
        .ok_or_else(|| invalid_identity_token("The web identity token has no exp claim"))?;
    if now >= expires_at {
        return Err(ApiError::bad_request(
            "ExpiredTokenException",
            format!(
                "Token expired: current date/time {now} must be before the expiration date/time {expires_at}"
            ),
        ));
    }
    // A little leeway for the provider's clock.
    if token.time("nbf").is_some_and(|nbf| nbf > now + 300) {
        return Err(invalid_identity_token(
            "The web identity token is not valid yet (nbf is in the future)",
        ));
    }
    let subject = token
        .str("sub")
        .ok_or_else(|| invalid_identity_token("The web identity token has no sub claim"))?
        .to_owned();
    if !state.config.dev {
        state
            .oidc_keys
            .verify(&token, &issuer, &provider.thumbprints)
            .await
            .map_err(|e| match e {
                TokenError::Invalid(m) => invalid_identity_token(format!(
                    "The web identity token that was passed could not be validated: {m}"
                )),
                TokenError::NotJwt => invalid_identity_token(e.to_string()),
                // AWS answers an identity provider it cannot reach with InvalidIdentityToken
                // (which SDKs do not retry), not IDPCommunicationError.
                TokenError::Unreachable(m) => invalid_identity_token(format!(
                    "Couldn't retrieve verification key from your identity provider, please \
                     reference AssumeRoleWithWebIdentity documentation for requirements ({m})"
                )),
            })?;
    }
    let (tags, transitive_tag_keys) = token_tags(&token)?;
    let source_identity = token
        .str("https://aws.amazon.com/source_identity")
        .map(str::to_owned);
    check_federated_session(
        None,
        &tags,
        &transitive_tag_keys,
        source_identity.as_deref(),
    )?;
    let amr = match token.claims.get("amr") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Caller {
        kind: PrincipalKind::WebIdentity,
        account_id: account,
        arn: provider_arn.clone(),
        principal_id: format!("{issuer}:{audience}:{subject}"),
        access_key_id: None,
        user_name: Some(subject.clone()),
        session: None,
        web_identity: Some(std::sync::Arc::new(WebIdentity {
            issuer,
            provider_arn,
            audience,
            subject,
            amr,
            tags,
            transitive_tag_keys,
            source_identity,
            saml: None,
        })),
    })
}

/// The session tags a token carries in its `https://aws.amazon.com/tags` claim:
/// `{"principal_tags": {"Key": ["Value"]}, "transitive_tag_keys": ["Key"]}`.
fn token_tags(token: &Token) -> Result<(Vec<SessionTag>, Vec<String>), ApiError> {
    let Some(claim) = token.claims.get("https://aws.amazon.com/tags") else {
        return Ok((Vec::new(), Vec::new()));
    };
    let malformed = || {
        invalid_identity_token(
            "The https://aws.amazon.com/tags claim must be an object with principal_tags (an \
             object of one-value lists) and transitive_tag_keys (a list)",
        )
    };
    if !claim.is_object() {
        return Err(malformed());
    }
    let mut tags = Vec::new();
    if let Some(principal) = claim.get("principal_tags") {
        for (key, value) in principal.as_object().ok_or_else(malformed)? {
            // AWS's format: each value a list of one string.
            let value = match value {
                Value::Array(a) if a.len() == 1 => {
                    a.first().and_then(Value::as_str).ok_or_else(malformed)?
                }
                _ => return Err(malformed()),
            };
            push_tag(&mut tags, key, value)?;
        }
    }
    if tags.len() > 50 {
        return Err(validation("Session tags are limited to 50."));
    }
    let transitive = match claim.get("transitive_tag_keys") {
        None => Vec::new(),
        Some(Value::Array(keys)) => keys
            .iter()
            .map(|k| k.as_str().map(str::to_owned).ok_or_else(malformed))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(malformed()),
    };
    Ok((tags, transitive))
}

/// The session of a web identity or SAML user once its token or assertion is verified and the
/// trust policy has allowed it: the credentials, and the response members both calls share.
async fn federated_session(
    state: &AppState,
    caller: &Caller,
    input: &Value,
    operation: &str,
) -> Result<Value, ApiError> {
    let denied = || {
        ApiError::new(
            "AccessDenied",
            format!("Not authorized to perform sts:{operation}"),
            StatusCode::FORBIDDEN,
        )
    };
    let Some(web) = caller.web_identity.as_deref() else {
        return Err(denied());
    };
    let saml = web.saml.as_ref();
    let session_name = match saml {
        Some(s) => s.session_name.clone(),
        None => s(input, "RoleSessionName").unwrap_or_default().to_owned(),
    };
    let (account, role_name) = role_arn_parts(input)?;
    let Some(role) = role_to_assume(
        state,
        &account,
        &role_name,
        s(input, "RoleArn").unwrap_or_default(),
    )?
    else {
        return Err(denied());
    };
    let max = role.max_session;
    // A session lasts DurationSeconds (an hour by default), or until the assertion's
    // SessionNotOnOrAfter if that comes first (AWS's API reference). Its SessionDuration
    // attribute is for console sessions: it may shorten an API session, never lengthen it.
    let d = duration(
        input,
        3600.min(max),
        900,
        max,
        "MaxSessionDuration set for this role",
    )?
    .min(saml.and_then(|s| s.duration).unwrap_or(i64::MAX))
    .min(
        saml.and_then(|s| s.not_after)
            .map_or(i64::MAX, |t| t.saturating_sub(now())),
    );
    if d <= 0 {
        return Err(ApiError::bad_request(
            "ExpiredTokenException",
            "Token expired: the assertion's SessionNotOnOrAfter has passed",
        ));
    }
    let policy = s(input, "Policy").map(str::to_owned);
    let arns = policy_arns(input);
    let packed = check_session_policies(state, &role.account, policy.as_deref(), &arns)?;
    let issued = now();
    let session = Session {
        policy,
        policy_arns: arns,
        tags: web.tags.clone(),
        transitive_tag_keys: web.transitive_tag_keys.clone(),
        source_identity: web.source_identity.clone(),
        federated_provider: saml.is_none().then(|| web.provider_arn.clone()),
        ..role.session(SessionSource::WebIdentity, &session_name, issued, d)
    };
    let out = issue_role_session(state, &session, packed).await?;
    Ok(out)
}

/// `AssumeRoleWithWebIdentity`, once the token is verified and the trust policy has allowed it.
async fn assume_role_with_web_identity(
    state: &AppState,
    caller: &Caller,
    input: &Value,
) -> Result<Value, ApiError> {
    let mut out = federated_session(state, caller, input, "AssumeRoleWithWebIdentity").await?;
    if let Some(web) = caller.web_identity.as_deref() {
        crate::services::set(&mut out, "SubjectFromWebIdentityToken", json!(web.subject));
        crate::services::set(&mut out, "Provider", json!(web.issuer));
        crate::services::set(&mut out, "Audience", json!(web.audience));
    }
    Ok(out)
}

/// `AssumeRoleWithSAML`, once the assertion is verified and the trust policy has allowed it.
async fn assume_role_with_saml(
    state: &AppState,
    caller: &Caller,
    input: &Value,
) -> Result<Value, ApiError> {
    let mut out = federated_session(state, caller, input, "AssumeRoleWithSAML").await?;
    if let Some(web) = caller.web_identity.as_deref()
        && let Some(saml) = &web.saml
    {
        crate::services::set(&mut out, "Subject", json!(web.subject));
        crate::services::set(&mut out, "SubjectType", json!(saml.subject_type));
        crate::services::set(&mut out, "Issuer", json!(web.issuer));
        crate::services::set(&mut out, "Audience", json!(web.audience));
        crate::services::set(&mut out, "NameQualifier", json!(saml.name_qualifier));
    }
    Ok(out)
}

/// Checks what a token or assertion asks of the session as AWS checks the same members of
/// `AssumeRole`: a session name and source identity of 2 to 64 of `[\w+=,.@-]`, tag keys of 1 to
/// 128 and values of up to 256 characters, transitive keys among the tags. A session name with
/// `/` or `:` would change the session's ARN.
fn check_federated_session(
    session_name: Option<&str>,
    tags: &[SessionTag],
    transitive: &[String],
    source_identity: Option<&str>,
) -> Result<(), ApiError> {
    let name_like = |v: &str| {
        (2..=64).contains(&v.chars().count())
            && v.chars()
                .all(|c| c.is_alphanumeric() || "_+=,.@-".contains(c))
    };
    let tag_chars = |v: &str| {
        v.chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
    };
    if let Some(n) = session_name
        && !name_like(n)
    {
        return Err(invalid_identity_token(format!(
            "The role session name {n:?} must be 2 to 64 letters, digits or _+=,.@-"
        )));
    }
    if let Some(si) = source_identity
        && !name_like(si)
    {
        return Err(invalid_identity_token(format!(
            "The source identity {si:?} must be 2 to 64 letters, digits or _+=,.@-"
        )));
    }
    for t in tags {
        if t.key.is_empty()
            || t.key.chars().count() > 128
            || t.value.chars().count() > 256
            || !tag_chars(&t.key)
            || !tag_chars(&t.value)
        {
            return Err(invalid_identity_token(format!(
                "The session tag {:?}={:?} is not a valid tag",
                t.key, t.value
            )));
        }
    }
    for k in transitive {
        if !tags.iter().any(|t| t.key.eq_ignore_ascii_case(k)) {
            return Err(invalid_identity_token(format!(
                "The transitive tag key {k:?} is not one of the session's tags"
            )));
        }
    }
    Ok(())
}

/// AWS's SAML attribute names.
const SAML_ATTR: &str = "https://aws.amazon.com/SAML/Attributes/";

/// Authenticates an `AssumeRoleWithSAML` call by its assertion: `PrincipalArn` must be a SAML
/// provider of the role's account, the response signed by a certificate of the provider's
/// metadata document, current, and its `Role` attribute must offer the requested role with that
/// provider (in `--dev` the signature is not checked). The role's trust policy decides in the
/// authorize step, with the `saml:*` keys.
pub async fn saml_caller(state: &AppState, input: &Value) -> Result<Caller, ApiError> {
    let (account, _) = role_arn_parts(input)?;
    let role_arn = s(input, "RoleArn").unwrap_or_default();
    let provider_arn = s(input, "PrincipalArn").unwrap_or_default().to_owned();
    let provider_name = provider_arn
        .split_once(":saml-provider/")
        .map(|(_, n)| n.to_owned())
        .ok_or_else(|| validation(format!("{provider_arn} is not a SAML provider ARN")))?;
    let metadata = state
        .iam
        .read_account(&account, |a| {
            a.providers
                .get(&provider_arn)
                .filter(|p| p.protocol == "saml")
                .and_then(|p| p.metadata.clone())
        })?
        .ok_or_else(|| {
            invalid_identity_token(format!(
                "No SAML provider {provider_arn} found in the account of {role_arn}"
            ))
        })?;
    let assertion = crate::saml::verify(
        s(input, "SAMLAssertion").unwrap_or_default(),
        &metadata,
        now(),
        !state.config.dev,
    )
    .map_err(|e| match e {
        crate::saml::SamlError::Invalid(m) => {
            invalid_identity_token(format!("Invalid SAML response: {m}"))
        }
        crate::saml::SamlError::Expired(m) => ApiError::bad_request("ExpiredTokenException", m),
    })?;
    let offered = assertion
        .attribute(&format!("{SAML_ATTR}Role"))
        .iter()
        .any(|pair| {
            let mut parts = pair.split(',').map(str::trim);
            let (a, b) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            (a == provider_arn && b == role_arn) || (b == provider_arn && a == role_arn)
        });
    if !offered {
        return Err(ApiError::new(
            "AccessDenied",
            format!(
                "Not authorized to perform sts:AssumeRoleWithSAML: the assertion's Role attribute does not offer {role_arn} with {provider_arn}"
            ),
            StatusCode::FORBIDDEN,
        ));
    }
    let session_name = assertion
        .attribute(&format!("{SAML_ATTR}RoleSessionName"))
        .first()
        .cloned()
        .ok_or_else(|| invalid_identity_token("RoleSessionName is required in AuthnResponse"))?;
    let duration = match assertion
        .attribute(&format!("{SAML_ATTR}SessionDuration"))
        .first()
    {
        None => None,
        Some(d) => Some(
            d.parse::<i64>()
                .ok()
                .filter(|d| (900..=43_200).contains(d))
                .ok_or_else(|| {
                    invalid_identity_token(format!(
                        "Invalid SAML response: SessionDuration {d:?} is not 900 to 43200 seconds"
                    ))
                })?,
        ),
    };
    let mut tags = Vec::new();
    for (name, values) in &assertion.attributes {
        if let Some(key) = name.strip_prefix(&format!("{SAML_ATTR}PrincipalTag:"))
            && let Some(value) = values.first()
        {
            push_tag(&mut tags, key, value)?;
        }
    }
    if tags.len() > 50 {
        return Err(validation("Session tags are limited to 50."));
    }
    let transitive_tag_keys = assertion
        .attribute(&format!("{SAML_ATTR}TransitiveTagKeys"))
        .to_vec();
    let source_identity = assertion
        .attribute(&format!("{SAML_ATTR}SourceIdentity"))
        .first()
        .cloned();
    check_federated_session(
        Some(&session_name),
        &tags,
        &transitive_tag_keys,
        source_identity.as_deref(),
    )?;
    let subject_type = match assertion.subject_format.as_deref() {
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent") => "persistent".to_owned(),
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient") => "transient".to_owned(),
        Some(other) => other.to_owned(),
        None => "unspecified".to_owned(),
    };
    // AWS: BASE64(SHA1(Issuer + account id + "/" + the provider's name)).
    let name_qualifier =
        base64::engine::general_purpose::STANDARD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            format!("{}{account}/{provider_name}", assertion.issuer).as_bytes(),
        ));
    let audience = assertion
        .recipient
        .clone()
        .or_else(|| assertion.audiences.first().cloned())
        .unwrap_or_default();
    Ok(Caller {
        kind: PrincipalKind::SamlUser,
        account_id: account,
        arn: provider_arn.clone(),
        principal_id: format!("{name_qualifier}:{}", assertion.subject),
        access_key_id: None,
        user_name: Some(assertion.subject.clone()),
        session: None,
        web_identity: Some(std::sync::Arc::new(WebIdentity {
            issuer: assertion.issuer,
            provider_arn,
            audience,
            subject: assertion.subject,
            amr: Vec::new(),
            tags,
            transitive_tag_keys,
            source_identity,
            saml: Some(SamlSession {
                session_name,
                duration,
                not_after: assertion.session_not_on_or_after,
                subject_type,
                name_qualifier,
            }),
        })),
    })
}

pub(crate) fn no_session_credentials(operation: &str) -> ApiError {
    ApiError::new(
        "AccessDenied",
        format!("Cannot call {operation} with session credentials"),
        StatusCode::FORBIDDEN,
    )
}

async fn get_session_token(
    state: &AppState,
    caller: &Caller,
    input: &Value,
) -> Result<Value, ApiError> {
    if caller.is_temporary() {
        return Err(no_session_credentials("GetSessionToken"));
    }
    // The root user's sessions last at most an hour: a longer duration is cut to one, as STS
    // documents ("defaults to one hour"), not refused.
    let d = duration(
        input,
        43_200,
        900,
        129_600,
        "maximum of 36 hours (1 hour for root users)",
    )?;
    let d = if caller.kind == PrincipalKind::Root {
        d.min(3600)
    } else {
        d
    };
    let mut mfa_at = None;
    if let Some((serial, code)) = crate::services::mfa_input(input)? {
        mfa_at = Some(if state.config.dev {
            now()
        } else {
            verify_token_code(
                state,
                &caller.account_id,
                caller.user_name.as_deref(),
                serial,
                code,
            )
            .await?
        });
    }
    let issued = now();
    let holder = Holder {
        kind: caller.kind,
        account_id: caller.account_id.clone(),
        arn: caller.arn.clone(),
        principal_id: caller.principal_id.clone(),
    };
    let session = Session {
        mfa_at,
        user_name: caller.user_name.clone(),
        ..Session::new(SessionSource::SessionToken, holder, issued, d)
    };
    Ok(json!({"Credentials": credentials(state, &session)?}))
}

async fn get_federation_token(
    state: &AppState,
    caller: &Caller,
    input: &Value,
) -> Result<Value, ApiError> {
    if caller.is_temporary() {
        return Err(no_session_credentials("GetFederationToken"));
    }
    let name = s(input, "Name").unwrap_or_default().to_owned();
    let d = duration(
        input,
        43_200,
        900,
        129_600,
        "maximum of 36 hours (1 hour for root users)",
    )?;
    // As GetSessionToken: the root user's longer durations are cut to an hour.
    let d = if caller.kind == PrincipalKind::Root {
        d.min(3600)
    } else {
        d
    };
    let policy = s(input, "Policy").map(str::to_owned);
    let arns = policy_arns(input);
    let packed = check_session_policies(state, &caller.account_id, policy.as_deref(), &arns)?;
    let issued = now();
    let arn = format!("arn:aws:sts::{}:federated-user/{name}", caller.account_id);
    let id = format!("{}:{name}", caller.account_id);
    let holder = Holder {
        kind: PrincipalKind::FederatedUser,
        account_id: caller.account_id.clone(),
        arn: arn.clone(),
        principal_id: id.clone(),
    };
    let session = Session {
        user_name: caller.user_name.clone(),
        user_id: Some(caller.principal_id.clone()),
        session_name: Some(name),
        policy,
        policy_arns: arns,
        tags: session_tags(input)?,
        ..Session::new(SessionSource::Federation, holder, issued, d)
    };
    let mut out = json!({
        "Credentials": credentials(state, &session)?,
        "FederatedUser": {"FederatedUserId": id, "Arn": arn},
    });
    if packs_anything(&session) {
        crate::services::set(&mut out, "PackedPolicySize", json!(packed));
    }
    Ok(out)
}

/// Whether a request passed session policies or tags: STS reports `PackedPolicySize` only then.
fn packs_anything(session: &Session) -> bool {
    session.policy.is_some() || !session.policy_arns.is_empty() || !session.tags.is_empty()
}

async fn get_access_key_info(
    state: &AppState,
    caller: &Caller,
    input: &Value,
) -> Result<Value, ApiError> {
    let id = s(input, "AccessKeyId").unwrap_or_default();
    let stored = state
        .store
        .access_key(id)
        .await
        .map_err(ApiError::internal)?
        .map(|k| k.account_id);
    // A temporary key is never stored: its id carries its account, as AWS's do. Other ids
    // Palisade did not issue name no account it knows, and get the caller's, as before.
    let account = stored
        .or_else(|| {
            id.starts_with("ASIA")
                .then(|| crate::identity::key_id_account(id))
                .flatten()
        })
        .unwrap_or_else(|| caller.account_id.clone());
    Ok(json!({"Account": account}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Holder;

    fn tag(key: &str, value: &str) -> SessionTag {
        SessionTag {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn transitive_keys_must_name_requested_tags_in_any_case() {
        let tags = vec![tag("team", "blue"), tag("cost", "1")];
        let keys = transitive_tag_keys(&json!({"TransitiveTagKeys": ["TEAM", "team"]}), &tags)
            .expect("a key naming a tag in another case is the tag's");
        assert_eq!(keys, ["team"]);
        for (input, tags) in [
            (json!({"TransitiveTagKeys": ["b"]}), tags.as_slice()),
            (json!({"TransitiveTagKeys": ["team", "b"]}), tags.as_slice()),
            (json!({"TransitiveTagKeys": ["team"]}), &[][..]),
        ] {
            let e = transitive_tag_keys(&input, tags).expect_err("a key naming no tag");
            assert_eq!(e.code, "InvalidParameterValue");
            assert_eq!(
                e.message,
                "The specified transitive tag key must be included in the requested tags."
            );
        }
        assert!(transitive_tag_keys(&json!({}), &[]).unwrap().is_empty());
    }

    #[test]
    fn inherited_transitive_tags_cannot_be_set_again_in_any_case() {
        let holder = Holder {
            kind: PrincipalKind::AssumedRole,
            account_id: "123456789012".into(),
            arn: "arn:aws:sts::123456789012:assumed-role/r/s".into(),
            principal_id: "AROAEXAMPLE:s".into(),
        };
        let parent = Session {
            tags: vec![tag("team", "blue"), tag("cost", "1")],
            transitive_tag_keys: vec!["TEAM".into()],
            ..Session::new(SessionSource::AssumeRole, holder, 0, 3600)
        };
        let mut tags = vec![tag("env", "prod")];
        let mut transitive = vec!["env".to_owned()];
        inherit_transitive_tags(&parent, &mut tags, &mut transitive).unwrap();
        assert_eq!(tags, [tag("env", "prod"), tag("team", "blue")]);
        assert_eq!(transitive, ["env", "team"]);
        let mut tags = vec![tag("Team", "red")];
        let e = inherit_transitive_tags(&parent, &mut tags, &mut Vec::new()).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
        assert!(
            e.message
                .contains("conflicts with a transitive tag key from the calling session")
        );
    }
}
