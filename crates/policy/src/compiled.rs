//! Compiled policies: patterns built once, statements indexed by service
//! prefix, so that evaluating a request allocates nothing per statement.

use crate::condition::{ArnPattern, CompiledCondition};
use crate::fnv::FnvMap;
use crate::pattern::{self, Piece};
use crate::policy::{Effect, Policy, PolicyKind, PrincipalKey, Principals, Statement};
use crate::request::{Principal, PrincipalType, Request};
use std::sync::Arc;

/// How a resource policy's matching `Allow` names the principal; decides
/// which ceilings still apply (see [`crate::eval`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grant {
    /// The account (`"123456789012"` or `arn:aws:iam::123456789012:root`):
    /// a delegation, the identity side must still allow.
    Account,
    /// `"*"` (or `{"AWS": "*"}`).
    Wildcard,
    /// The IAM entity behind the session: the role ARN of a role session, or
    /// the IAM user ARN of a federated user.
    Base,
    /// The caller itself: user ARN, role-session ARN, federated-user ARN,
    /// service principal or web-identity provider.
    Direct,
}

#[derive(Debug, Clone)]
enum ActionPattern {
    All,
    Glob {
        service: Vec<Piece<Box<str>>>,
        name: Vec<Piece<Box<str>>>,
    },
}

impl ActionPattern {
    fn new(a: &str) -> ActionPattern {
        if a == "*" {
            return ActionPattern::All;
        }
        let lower = a.to_lowercase();
        let (svc, name) = lower.split_once(':').unwrap_or((lower.as_str(), ""));
        ActionPattern::Glob {
            service: pattern::glob_pieces(svc, true),
            name: pattern::glob_pieces(name, true),
        }
    }

    fn matches(&self, req: &Request) -> bool {
        match self {
            ActionPattern::All => true,
            ActionPattern::Glob { service, name } => {
                pattern::matches(service, req.service())
                    && pattern::matches(name, req.action_name())
            }
        }
    }

    /// The literal service prefix, if the pattern has one.
    fn literal_service(&self) -> Option<&str> {
        match self {
            ActionPattern::Glob { service, .. } => match service.as_slice() {
                [Piece::Lit(s)] => Some(s),
                _ => None,
            },
            ActionPattern::All => None,
        }
    }
}

#[derive(Debug, Clone)]
enum ResourcePattern {
    Any,
    Arn(ArnPattern),
}

#[derive(Debug, Clone, Default)]
struct CompiledPrincipal {
    negated: bool,
    any: bool,
    accounts: Vec<Box<str>>,
    arns: Vec<Box<str>>,
    ids: Vec<Box<str>>,
    services: Vec<Box<str>>,
    any_service: bool,
    federated: Vec<Box<str>>,
}

impl CompiledPrincipal {
    fn new(negated: bool, p: &Principals) -> CompiledPrincipal {
        let mut c = CompiledPrincipal {
            negated,
            ..CompiledPrincipal::default()
        };
        let Principals::Map(map) = p else {
            c.any = true;
            return c;
        };
        for (key, vals) in map {
            for v in vals {
                match key {
                    PrincipalKey::Aws if v == "*" => c.any = true,
                    PrincipalKey::Aws if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) => {
                        c.accounts.push(v.as_str().into());
                    }
                    PrincipalKey::Aws if v.starts_with("arn:") && v.ends_with(":root") => {
                        let acct = v.split(':').nth(4).unwrap_or("");
                        c.accounts.push(acct.into());
                    }
                    PrincipalKey::Aws if v.starts_with("arn:") => c.arns.push(v.as_str().into()),
                    PrincipalKey::Aws => c.ids.push(v.as_str().into()),
                    PrincipalKey::Service if v == "*" => c.any_service = true,
                    PrincipalKey::Service => c.services.push(v.to_lowercase().into()),
                    PrincipalKey::Federated => c.federated.push(v.as_str().into()),
                    // S3 canonical IDs are not modelled by the request; they
                    // only match through "*".
                    PrincipalKey::CanonicalUser => {}
                }
            }
        }
        c
    }

    fn has(list: &[Box<str>], v: Option<&str>) -> bool {
        v.is_some_and(|v| list.iter().any(|x| &**x == v))
    }

    /// The strongest way the principal is named, if it is.
    fn grant(&self, p: &Principal) -> Option<Grant> {
        match p.kind {
            PrincipalType::Anonymous => self.any.then_some(Grant::Wildcard),
            PrincipalType::Service => {
                if self.any_service || Self::has(&self.services, Some(&p.arn.to_lowercase())) {
                    Some(Grant::Direct)
                } else {
                    self.any.then_some(Grant::Wildcard)
                }
            }
            PrincipalType::WebIdentity => {
                if Self::has(&self.federated, Some(&p.arn)) {
                    Some(Grant::Direct)
                } else {
                    self.any.then_some(Grant::Wildcard)
                }
            }
            _ => {
                let base = p.base_arn.as_deref();
                let is_base_itself = base == Some(p.arn.as_str());
                let uid = p
                    .user_id
                    .as_deref()
                    .map(|u| u.split(':').next().unwrap_or(u));
                // A role's unique ID (AROA…) names the role, not the session.
                let uid_hit = Self::has(&self.ids, uid);
                if !is_base_itself && Self::has(&self.arns, Some(&p.arn)) {
                    Some(Grant::Direct)
                } else if Self::has(&self.arns, base)
                    || (p.kind == PrincipalType::RoleSession && uid_hit)
                {
                    Some(Grant::Base)
                } else if uid_hit {
                    Some(Grant::Direct)
                } else if self.any {
                    Some(Grant::Wildcard)
                } else if Self::has(&self.accounts, p.account.as_deref()) {
                    Some(Grant::Account)
                } else {
                    None
                }
            }
        }
    }

    /// For `NotPrincipal`: the caller is excluded only when each of its
    /// facets (session, role, account) is listed, because AWS evaluates each.
    fn excludes(&self, p: &Principal) -> bool {
        if self.any {
            return true;
        }
        match p.kind {
            PrincipalType::Anonymous => false,
            PrincipalType::Service => {
                self.any_service || Self::has(&self.services, Some(&p.arn.to_lowercase()))
            }
            PrincipalType::WebIdentity => Self::has(&self.federated, Some(&p.arn)),
            _ => {
                let account_ok = Self::has(&self.accounts, p.account.as_deref());
                let arn_ok = Self::has(&self.arns, Some(&p.arn))
                    || (p.kind == PrincipalType::Root && account_ok);
                let base_ok = match (p.kind, p.base_arn.as_deref()) {
                    (PrincipalType::RoleSession, Some(b)) => Self::has(&self.arns, Some(b)),
                    _ => true,
                };
                account_ok && arn_ok && base_ok
            }
        }
    }
}

/// A compiled statement.
#[derive(Debug, Clone)]
pub(crate) struct CompiledStatement {
    pub(crate) sid: Option<Arc<str>>,
    pub(crate) effect: Effect,
    not_action: bool,
    actions: Vec<ActionPattern>,
    not_resource: bool,
    resources: Option<Vec<ResourcePattern>>,
    principal: Option<CompiledPrincipal>,
    conditions: Vec<CompiledCondition>,
}

impl CompiledStatement {
    fn new(st: &Statement, variables: bool) -> CompiledStatement {
        CompiledStatement {
            sid: st.sid.as_deref().map(Arc::from),
            effect: st.effect,
            not_action: st.action.negated,
            actions: st
                .action
                .values
                .iter()
                .map(|a| ActionPattern::new(a))
                .collect(),
            not_resource: st.resource.as_ref().is_some_and(|r| r.negated),
            resources: st.resource.as_ref().map(|r| {
                r.values
                    .iter()
                    .map(|v| {
                        if v == "*" {
                            ResourcePattern::Any
                        } else {
                            ResourcePattern::Arn(ArnPattern::new(v, variables, true))
                        }
                    })
                    .collect()
            }),
            principal: st
                .principal
                .as_ref()
                .map(|p| CompiledPrincipal::new(p.negated, &p.values)),
            conditions: st
                .conditions
                .iter()
                .map(|c| CompiledCondition::new(c, variables))
                .collect(),
        }
    }

    /// Whether the statement applies to the request; for statements with a
    /// `Principal`, also how the principal is named.
    ///
    /// `wildcard_resource` is set for actions without resource-level
    /// permissions: only `"Resource": "*"` covers them.
    ///
    /// `boundary` says whether the principal has a permissions boundary: a `Deny` with
    /// `NotPrincipal` then applies to it whatever the element lists (AWS: "The NotPrincipal
    /// element with a Deny effect will always deny any IAM principal that has a permissions
    /// boundary policy attached").
    pub(crate) fn matches(
        &self,
        req: &Request,
        (wildcard_resource, boundary): (bool, bool),
    ) -> Option<Option<Grant>> {
        let action_hit = self.actions.iter().any(|a| a.matches(req));
        if action_hit == self.not_action {
            return None;
        }
        if let Some(res) = &self.resources {
            let hit = res.iter().any(|r| match r {
                ResourcePattern::Any => true,
                ResourcePattern::Arn(_) if wildcard_resource || !req.resource_is_arn() => false,
                ResourcePattern::Arn(p) => {
                    p.matches_segments(|i| req.resource_segment(i), &req.context)
                }
            });
            if hit == self.not_resource {
                return None;
            }
        }
        let grant = match &self.principal {
            None => None,
            Some(p) if p.negated => {
                let always = boundary && self.effect == Effect::Deny;
                if !always && p.excludes(&req.principal) {
                    return None;
                }
                Some(Grant::Wildcard)
            }
            Some(p) => Some(p.grant(&req.principal)?),
        };
        if !self.conditions.iter().all(|c| c.eval(&req.context)) {
            return None;
        }
        Some(grant)
    }
}

/// A policy compiled for evaluation. Cheap to share behind an [`Arc`].
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    kind: PolicyKind,
    name: Option<Arc<str>>,
    pub(crate) statements: Vec<CompiledStatement>,
    by_service: FnvMap<Box<str>, Vec<u32>>,
    general: Vec<u32>,
}

impl CompiledPolicy {
    /// Compiles a validated policy.
    pub fn new(policy: &Policy) -> CompiledPolicy {
        let vars = policy.variables_enabled();
        let statements: Vec<CompiledStatement> = policy
            .statements
            .iter()
            .map(|s| CompiledStatement::new(s, vars))
            .collect();
        let mut by_service: FnvMap<Box<str>, Vec<u32>> = FnvMap::default();
        let mut general = Vec::new();
        for (i, st) in statements.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let services: Option<Vec<&str>> = if st.not_action {
                None
            } else {
                st.actions
                    .iter()
                    .map(ActionPattern::literal_service)
                    .collect()
            };
            match services {
                Some(svcs) => {
                    for s in svcs {
                        let list = by_service.entry(s.into()).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
                None => general.push(i),
            }
        }
        CompiledPolicy {
            kind: policy.kind,
            name: None,
            statements,
            by_service,
            general,
        }
    }

    /// Parses, validates and compiles in one step.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<CompiledPolicy, crate::PolicyError> {
        Ok(CompiledPolicy::new(&Policy::parse(json, kind)?))
    }

    /// Compiles a stored document (see [`Policy::parse_stored`]).
    pub fn parse_stored(
        json: &str,
        kind: PolicyKind,
    ) -> Result<CompiledPolicy, crate::PolicyError> {
        Ok(CompiledPolicy::new(&Policy::parse_stored(json, kind)?))
    }

    /// Attaches a name (e.g. the policy ARN) reported in matched statements.
    pub fn with_name(mut self, name: impl Into<Arc<str>>) -> CompiledPolicy {
        self.name = Some(name.into());
        self
    }

    /// The name given by [`CompiledPolicy::with_name`].
    pub fn name(&self) -> Option<&Arc<str>> {
        self.name.as_ref()
    }

    /// The policy type.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// Number of statements.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether the policy has no statement.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Calls `f(index, statement, grant)` for every statement that applies,
    /// in document order. Only statements whose actions can name the
    /// request's service are examined.
    pub(crate) fn for_each_match(
        &self,
        req: &Request,
        scope: (bool, bool),
        mut f: impl FnMut(usize, &CompiledStatement, Option<Grant>),
    ) {
        let specific: &[u32] = self
            .by_service
            .get(req.service())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let (mut a, mut b) = (self.general.iter().peekable(), specific.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            let Some(&i) = next else { break };
            let i = i as usize;
            if let Some(st) = self.statements.get(i)
                && let Some(grant) = st.matches(req, scope)
            {
                f(i, st, grant);
            }
        }
    }
}

/// An ordered set of compiled policies evaluated together (a principal's
/// identity policies, one level of an SCP chain…). Clones share the policies.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<Arc<CompiledPolicy>>,
}

impl PolicySet {
    /// An empty set.
    pub const fn new() -> PolicySet {
        PolicySet {
            policies: Vec::new(),
        }
    }

    /// Adds a policy.
    pub fn push(&mut self, p: impl Into<Arc<CompiledPolicy>>) {
        self.policies.push(p.into());
    }

    /// The policies, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<CompiledPolicy>> {
        self.policies.iter()
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

impl FromIterator<CompiledPolicy> for PolicySet {
    fn from_iter<T: IntoIterator<Item = CompiledPolicy>>(iter: T) -> Self {
        PolicySet {
            policies: iter.into_iter().map(Arc::new).collect(),
        }
    }
}

impl FromIterator<Arc<CompiledPolicy>> for PolicySet {
    fn from_iter<T: IntoIterator<Item = Arc<CompiledPolicy>>>(iter: T) -> Self {
        PolicySet {
            policies: iter.into_iter().collect(),
        }
    }
}

impl From<Vec<CompiledPolicy>> for PolicySet {
    fn from(v: Vec<CompiledPolicy>) -> Self {
        v.into_iter().collect()
    }
}

impl From<CompiledPolicy> for PolicySet {
    fn from(p: CompiledPolicy) -> Self {
        std::iter::once(p).collect()
    }
}
