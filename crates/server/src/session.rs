//! Temporary credentials: STS sessions and their tokens.
//!
//! A session token is self-contained, as AWS's are: the session's secret access key and
//! everything the session carries (who it is, its session policies and tags, when it was issued,
//! whether MFA was used, when it expires) sealed with `palisade-seal` (purpose `SessionToken`)
//! and bound to the session's `ASIA…` access key id, then base64-encoded. Nothing about a session
//! is stored; a token that does not open under this deployment's root key, or that was issued for
//! another access key id, is invalid, and one past its expiry gets `ExpiredToken`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use palisade_seal::{Purpose, Sealer};
use serde::{Deserialize, Serialize};

use crate::identity::{Caller, PrincipalKind};

/// How a session was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionSource {
    /// `GetSessionToken`: the caller's own identity, possibly with MFA.
    SessionToken,
    /// `AssumeRole`.
    AssumeRole,
    /// `GetFederationToken`.
    Federation,
    /// `AssumeRoleWithWebIdentity`.
    WebIdentity,
}

/// A session tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// What a session carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// How it was made.
    pub source: SessionSource,
    /// Issue time, epoch seconds (`aws:TokenIssueTime`).
    pub issued_at: i64,
    /// Expiry, epoch seconds.
    pub expires_at: i64,
    /// When MFA was presented, epoch seconds (`aws:MultiFactorAuthAge`).
    #[serde(default)]
    pub mfa_at: Option<i64>,
    /// The kind of the principal (`IAMUser`/`Root` for `GetSessionToken`, `AssumedRole`,
    /// `FederatedUser`).
    pub principal_type: String,
    /// The account.
    pub account_id: String,
    /// The session's ARN (the caller's own ARN for `GetSessionToken`).
    pub arn: String,
    /// `aws:userid`: `AROA…:session` for roles, `account:name` for federated users.
    pub principal_id: String,
    /// The IAM user behind it (`GetSessionToken`, `GetFederationToken`).
    #[serde(default)]
    pub user_name: Option<String>,
    /// That user's unique id: a user deleted and recreated under the same name is another
    /// user, whose policies the session does not get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// For role sessions: the role's name.
    #[serde(default)]
    pub role_name: Option<String>,
    /// For role sessions: the role's ARN with its path.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// For role sessions: the role's unique id (a recreated role of the same name is another
    /// role, whose policies the session does not get).
    #[serde(default)]
    pub role_id: Option<String>,
    /// The session name.
    #[serde(default)]
    pub session_name: Option<String>,
    /// The inline session policy.
    #[serde(default)]
    pub policy: Option<String>,
    /// Managed session policies.
    #[serde(default)]
    pub policy_arns: Vec<String>,
    /// Session tags.
    #[serde(default)]
    pub tags: Vec<SessionTag>,
    /// Keys of the tags that pass on to chained sessions.
    #[serde(default)]
    pub transitive_tag_keys: Vec<String>,
    /// `sts:SourceIdentity`.
    #[serde(default)]
    pub source_identity: Option<String>,
    /// For a session from `AssumeRoleWithWebIdentity`, the OIDC provider's ARN (CloudTrail's
    /// `webIdFederationData`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_provider: Option<String>,
}

/// Who a session is for: the principal every session has, whatever made it.
#[derive(Debug, Clone)]
pub struct Holder {
    /// The kind of principal the session's calls are made as.
    pub kind: PrincipalKind,
    /// The account.
    pub account_id: String,
    /// The session's ARN.
    pub arn: String,
    /// `aws:userid`.
    pub principal_id: String,
}

impl Session {
    /// A session of `holder` from `issued` for `duration` seconds with nothing else: no MFA,
    /// role, policies, tags or source identity, which each kind of session sets over this.
    pub fn new(source: SessionSource, holder: Holder, issued: i64, duration: i64) -> Session {
        Session {
            source,
            issued_at: issued,
            expires_at: issued + duration,
            mfa_at: None,
            principal_type: holder.kind.as_str().to_owned(),
            account_id: holder.account_id,
            arn: holder.arn,
            principal_id: holder.principal_id,
            user_name: None,
            user_id: None,
            role_name: None,
            role_arn: None,
            role_id: None,
            session_name: None,
            policy: None,
            policy_arns: vec![],
            tags: vec![],
            transitive_tag_keys: vec![],
            source_identity: None,
            federated_provider: None,
        }
    }

    /// The tags that pass on to a session this one assumes: those whose key is one of the
    /// transitive keys, compared without regard to case as IAM compares tag keys (bug: an exact
    /// comparison dropped a tag named `team` set transitive as `TEAM`, and the next hop could
    /// then set it anew).
    pub fn transitive_tags(&self) -> impl Iterator<Item = &SessionTag> {
        self.tags.iter().filter(|t| {
            self.transitive_tag_keys
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&t.key))
        })
    }

    /// Whether the session was made with session policies (which then cap it).
    pub fn has_session_policies(&self) -> bool {
        self.policy.is_some() || !self.policy_arns.is_empty()
    }

    /// The caller a request signed with this session's credentials is.
    pub fn caller(self: &Arc<Self>, access_key_id: &str) -> Caller {
        Caller {
            kind: PrincipalKind::parse(&self.principal_type),
            account_id: self.account_id.clone(),
            arn: self.arn.clone(),
            principal_id: self.principal_id.clone(),
            access_key_id: Some(access_key_id.to_owned()),
            user_name: self.user_name.clone(),
            session: Some(self.clone()),
            web_identity: None,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    secret: String,
    session: Session,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of this deployment, or not for this access key.
    #[error("The security token included in the request is invalid.")]
    Invalid,
    /// Past its expiry: the session it was, whose owner the refusal is sampled by.
    #[error("The security token included in the request is expired")]
    Expired(Arc<Session>),
}

/// Seals a session into a token for `access_key_id`.
pub fn seal_token(
    sealer: &Sealer,
    access_key_id: &str,
    secret: &str,
    session: &Session,
) -> Result<String, TokenError> {
    let plain = serde_json::to_vec(&Sealed {
        secret: secret.to_owned(),
        session: session.clone(),
    })
    .map_err(|_| TokenError::Invalid)?;
    let blob = sealer
        .seal(Purpose::SessionToken, access_key_id, &plain)
        .map_err(|_| TokenError::Invalid)?;
    Ok(STANDARD.encode(blob))
}

/// Opens a token presented with `access_key_id`: the secret and the session.
pub fn open_token(
    sealer: &Sealer,
    access_key_id: &str,
    token: &str,
    now: i64,
) -> Result<(String, Arc<Session>), TokenError> {
    let blob = STANDARD
        .decode(token.trim())
        .map_err(|_| TokenError::Invalid)?;
    let plain = sealer
        .open(Purpose::SessionToken, access_key_id, &blob)
        .map_err(|_| TokenError::Invalid)?;
    let sealed: Sealed = serde_json::from_slice(&plain).map_err(|_| TokenError::Invalid)?;
    if now >= sealed.session.expires_at {
        return Err(TokenError::Expired(Arc::new(sealed.session)));
    }
    Ok((sealed.secret, Arc::new(sealed.session)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_at: i64) -> Session {
        let holder = Holder {
            kind: PrincipalKind::AssumedRole,
            account_id: "123456789012".into(),
            arn: "arn:aws:sts::123456789012:assumed-role/r/s".into(),
            principal_id: "AROAEXAMPLE:s".into(),
        };
        Session {
            role_name: Some("r".into()),
            role_arn: Some("arn:aws:iam::123456789012:role/r".into()),
            role_id: Some("AROAEXAMPLE".into()),
            session_name: Some("s".into()),
            ..Session::new(SessionSource::AssumeRole, holder, 0, expires_at)
        }
    }

    #[test]
    fn transitive_tags_match_their_keys_in_any_case() {
        let tag = |k: &str, v: &str| SessionTag {
            key: k.into(),
            value: v.into(),
        };
        let s = Session {
            tags: vec![tag("team", "blue"), tag("cost", "1"), tag("env", "prod")],
            transitive_tag_keys: vec!["TEAM".into(), "env".into()],
            ..session(100)
        };
        let keys: Vec<&str> = s.transitive_tags().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, ["team", "env"]);
    }

    #[test]
    fn tokens_open_only_for_their_key_and_until_they_expire() {
        let sealer = Sealer::new(&[3u8; 32]).unwrap();
        let token = seal_token(&sealer, "ASIA1", "secret", &session(100)).unwrap();
        assert!(!token.contains("secret"));
        let (secret, s) = open_token(&sealer, "ASIA1", &token, 99).unwrap();
        assert_eq!(secret, "secret");
        assert_eq!(s.arn, "arn:aws:sts::123456789012:assumed-role/r/s");
        assert_eq!(
            open_token(&sealer, "ASIA2", &token, 99).unwrap_err(),
            TokenError::Invalid
        );
        assert!(matches!(
            open_token(&sealer, "ASIA1", &token, 100).unwrap_err(),
            TokenError::Expired(_)
        ));
        let other = Sealer::new(&[4u8; 32]).unwrap();
        assert_eq!(
            open_token(&other, "ASIA1", &token, 99).unwrap_err(),
            TokenError::Invalid
        );
    }
}
