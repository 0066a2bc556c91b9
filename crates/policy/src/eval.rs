//! The decision: AWS's policy evaluation logic over every policy type.
//!
//! 1. `sts:GetCallerIdentity` by an authenticated caller is always allowed.
//! 2. A matching `Deny` in any applicable policy gives `ExplicitlyDenied`.
//! 3. RCPs: `RCPFullAWSAccess` is implicitly attached at every level, so
//!    only their denies matter; they apply to services that support RCPs,
//!    not to service-linked roles nor to `kms:RetireGrant`.
//! 4. SCPs (account identities, not service-linked roles): every level must
//!    contain a matching `Allow`.
//! 5. A VPC endpoint policy, when given, must allow.
//! 6. The grant:
//!    * anonymous, service and web-identity callers: the resource policy
//!      must allow them;
//!    * same account, implicit trust: allowed through the identity side
//!      (identity ∧ boundary ∧ session policy) or through a resource policy
//!      naming the caller: a user ARN or role-session/federated-user ARN
//!      needs nothing else; a role ARN (or `"*"` for sessions) is still
//!      capped by the boundary and the session policy; an account grant is a
//!      delegation that needs the identity side;
//!    * same account, explicit trust (KMS key policies, role trust
//!      policies): the resource policy must allow; if it names only the
//!      account, the identity side must allow too;
//!    * cross account: both the identity side and the resource policy.
//!
//! Decisions where AWS is silent, each pinned by a corpus case:
//! * a root user's identity side always allows (it has no identity
//!   policies); SCPs and explicit denies still apply;
//! * a federated user (`GetFederationToken`) with no session policy has no
//!   permissions, unless a resource policy names its session ARN;
//! * a resource policy granting `"*"` acts for users like naming the user,
//!   for sessions like naming the role (ceilings apply);
//! * when the resource account is unknown it is the principal's account;
//! * several permissions-boundary documents form one boundary (any allows).

use crate::compiled::{CompiledPolicy, Grant, PolicySet};
use crate::policy::Effect;
use crate::request::{PrincipalType, Request};
use crate::service_data;
use std::fmt;
use std::sync::Arc;

/// The outcome of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionKind {
    /// The request is allowed.
    Allowed,
    /// No applicable allow (or a ceiling without allow).
    ImplicitlyDenied,
    /// An applicable `Deny` statement.
    ExplicitlyDenied,
}

impl DecisionKind {
    /// `Allowed`, `ImplicitlyDenied` or `ExplicitlyDenied`.
    pub fn name(self) -> &'static str {
        match self {
            DecisionKind::Allowed => "Allowed",
            DecisionKind::ImplicitlyDenied => "ImplicitlyDenied",
            DecisionKind::ExplicitlyDenied => "ExplicitlyDenied",
        }
    }
}

impl fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A layer of the evaluation, as reported in `blockedBy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    /// Service control policies (`scp`).
    Scp,
    /// Resource control policies (`rcp`).
    Rcp,
    /// VPC endpoint policy (`vpce`).
    Vpce,
    /// Resource-based policy (`resource`).
    Resource,
    /// Identity-based policies (`identity`).
    Identity,
    /// Permissions boundary (`pb`).
    Boundary,
    /// Session policy (`session`).
    Session,
}

impl Layer {
    /// The short name: `scp`, `rcp`, `vpce`, `resource`, `identity`, `pb`,
    /// `session`.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Scp => "scp",
            Layer::Rcp => "rcp",
            Layer::Vpce => "vpce",
            Layer::Resource => "resource",
            Layer::Identity => "identity",
            Layer::Boundary => "pb",
            Layer::Session => "session",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A statement that applied to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedStatement {
    /// The layer of its policy.
    pub layer: Layer,
    /// Level in an SCP/RCP chain (0 = root); 0 elsewhere.
    pub level: usize,
    /// Index of the policy in its set.
    pub policy: usize,
    /// The policy's name, if one was attached.
    pub policy_name: Option<Arc<str>>,
    /// Index of the statement in the policy.
    pub statement: usize,
    /// The statement's `Sid`.
    pub sid: Option<Arc<str>>,
    /// The statement's effect.
    pub effect: Effect,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The outcome.
    pub decision: DecisionKind,
    /// The layers that denied (explicitly) or failed to allow (implicitly);
    /// empty when allowed.
    pub blocked_by: Vec<Layer>,
    /// Every statement that applied, in evaluation order.
    pub matched: Vec<MatchedStatement>,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.decision == DecisionKind::Allowed
    }

    /// The AWS-style reason phrase for an `AccessDenied` message, e.g.
    /// "with an explicit deny in a service control policy" or "because no
    /// identity-based policy allows the s3:GetObject action".
    pub fn reason(&self, action: &str) -> String {
        let Some(layer) = self.blocked_by.first() else {
            return String::new();
        };
        let what = match layer {
            Layer::Scp => "service control policy",
            Layer::Rcp => "resource control policy",
            Layer::Vpce => "VPC endpoint policy",
            Layer::Resource => "resource-based policy",
            Layer::Identity => "identity-based policy",
            Layer::Boundary => "permissions boundary",
            Layer::Session => "session policy",
        };
        match self.decision {
            DecisionKind::ExplicitlyDenied => format!("with an explicit deny in a {what}"),
            _ => format!("because no {what} allows the {action} action"),
        }
    }
}

/// Whether a resource policy must explicitly allow same-account callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResourceTrust {
    /// Identity policies alone suffice in the same account (S3, SQS,
    /// Secrets Manager…).
    #[default]
    Implicit,
    /// The resource policy must allow (KMS key policies, role trust
    /// policies).
    Explicit,
}

/// The actions a role's trust policy governs: `sts:AssumeRole*`, `sts:TagSession` and
/// `sts:SetSourceIdentity`.
fn is_trust_action(action: &str) -> bool {
    action
        .get(..14)
        .is_some_and(|s| s.eq_ignore_ascii_case("sts:assumerole"))
        || action.eq_ignore_ascii_case("sts:tagsession")
        || action.eq_ignore_ascii_case("sts:setsourceidentity")
}

impl ResourceTrust {
    /// The usual trust for an action: explicit for `kms:*` and the actions
    /// a role's trust policy governs (`sts:AssumeRole*`, `sts:TagSession`,
    /// `sts:SetSourceIdentity`), implicit otherwise.
    pub fn for_action(action: &str) -> ResourceTrust {
        let starts = |p: &str| {
            action
                .get(..p.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(p))
        };
        if starts("kms:") || is_trust_action(action) {
            ResourceTrust::Explicit
        } else {
            ResourceTrust::Implicit
        }
    }
}

static EMPTY: PolicySet = PolicySet::new();

/// Everything an evaluation looks at. Build with [`EvaluationInput::new`]
/// and the `with_*` methods; nothing is copied.
#[derive(Debug, Clone, Copy)]
pub struct EvaluationInput<'a> {
    /// The request.
    pub request: &'a Request,
    /// The principal's identity policies (user + groups, or role).
    pub identity: &'a PolicySet,
    /// The permissions boundary, if the principal has one.
    pub boundary: Option<&'a PolicySet>,
    /// The session policies, if the session was created with any.
    pub session: Option<&'a PolicySet>,
    /// The resource policy (bucket policy, key policy, trust policy…).
    pub resource: Option<&'a CompiledPolicy>,
    /// SCP levels from the root to the principal's account; empty when SCPs
    /// do not apply (no organization, management account).
    pub scps: &'a [PolicySet],
    /// RCP levels from the root to the resource's account; empty when RCPs
    /// do not apply.
    pub rcps: &'a [PolicySet],
    /// The VPC endpoint policy, when the request came through one.
    pub endpoint: Option<&'a PolicySet>,
    /// Whether the resource policy must explicitly allow.
    pub trust: ResourceTrust,
}

impl<'a> EvaluationInput<'a> {
    /// An input with no policy at all and the trust usual for the action.
    pub fn new(request: &'a Request) -> EvaluationInput<'a> {
        EvaluationInput {
            request,
            identity: &EMPTY,
            boundary: None,
            session: None,
            resource: None,
            scps: &[],
            rcps: &[],
            endpoint: None,
            trust: ResourceTrust::for_action(request.action()),
        }
    }
    /// Sets the identity policies.
    pub fn with_identity(mut self, set: &'a PolicySet) -> Self {
        self.identity = set;
        self
    }
    /// Sets the permissions boundary.
    pub fn with_boundary(mut self, set: &'a PolicySet) -> Self {
        self.boundary = Some(set);
        self
    }
    /// Sets the session policies.
    pub fn with_session(mut self, set: &'a PolicySet) -> Self {
        self.session = Some(set);
        self
    }
    /// Sets the resource policy.
    pub fn with_resource(mut self, p: &'a CompiledPolicy) -> Self {
        self.resource = Some(p);
        self
    }
    /// Sets the SCP chain.
    pub fn with_scps(mut self, levels: &'a [PolicySet]) -> Self {
        self.scps = levels;
        self
    }
    /// Sets the RCP chain.
    pub fn with_rcps(mut self, levels: &'a [PolicySet]) -> Self {
        self.rcps = levels;
        self
    }
    /// Sets the VPC endpoint policy.
    pub fn with_endpoint(mut self, set: &'a PolicySet) -> Self {
        self.endpoint = Some(set);
        self
    }
    /// Sets the resource trust.
    pub fn with_trust(mut self, trust: ResourceTrust) -> Self {
        self.trust = trust;
        self
    }
}

#[derive(Default, Clone, Copy)]
struct LayerResult {
    allow: bool,
    deny: bool,
    grant: Option<Grant>,
}

struct Evaluator<'a> {
    req: &'a Request,
    wildcard_resource: bool,
    /// The principal has a permissions boundary (see `CompiledStatement::matches`).
    boundary: bool,
    matched: Vec<MatchedStatement>,
}

impl Evaluator<'_> {
    fn policy(
        &mut self,
        layer: Layer,
        level: usize,
        index: usize,
        p: &CompiledPolicy,
        r: &mut LayerResult,
    ) {
        let matched = &mut self.matched;
        p.for_each_match(
            self.req,
            (self.wildcard_resource, self.boundary),
            |i, st, grant| {
                match st.effect {
                    Effect::Allow => {
                        r.allow = true;
                        r.grant = r.grant.max(grant);
                    }
                    Effect::Deny => r.deny = true,
                }
                matched.push(MatchedStatement {
                    layer,
                    level,
                    policy: index,
                    policy_name: p.name().cloned(),
                    statement: i,
                    sid: st.sid.clone(),
                    effect: st.effect,
                });
            },
        );
    }

    fn set(&mut self, layer: Layer, level: usize, set: &PolicySet) -> LayerResult {
        let mut r = LayerResult::default();
        for (i, p) in set.iter().enumerate() {
            self.policy(layer, level, i, p, &mut r);
        }
        r
    }
}

fn push(v: &mut Vec<Layer>, l: Layer) {
    if !v.contains(&l) {
        v.push(l);
    }
}

/// Evaluates a request against its policies.
pub fn evaluate(input: &EvaluationInput<'_>) -> Decision {
    let req = input.request;
    let p = &req.principal;
    if p.kind != PrincipalType::Anonymous && req.action_lower() == "sts:getcalleridentity" {
        return Decision {
            decision: DecisionKind::Allowed,
            blocked_by: Vec::new(),
            matched: Vec::new(),
        };
    }
    let data = service_data::data();
    let mut ev = Evaluator {
        req,
        wildcard_resource: data.is_wildcard_only(req.service(), req.action_name()),
        boundary: input.boundary.is_some(),
        matched: Vec::new(),
    };
    let account_identity = p.kind.is_account_identity();
    let slr = p.is_service_linked_role();

    let identity = if account_identity {
        ev.set(Layer::Identity, 0, input.identity)
    } else {
        LayerResult::default()
    };
    let boundary = match input.boundary {
        Some(b) if account_identity => Some(ev.set(Layer::Boundary, 0, b)),
        _ => None,
    };
    let session = match input.session {
        Some(s) if account_identity => Some(ev.set(Layer::Session, 0, s)),
        _ => None,
    };
    let resource = match input.resource {
        Some(rp) => {
            let mut r = LayerResult::default();
            ev.policy(Layer::Resource, 0, 0, rp, &mut r);
            Some(r)
        }
        None => None,
    };
    let mut scp_deny = false;
    let mut scp_all_allow = true;
    if account_identity && !slr {
        for (level, set) in input.scps.iter().enumerate() {
            let r = ev.set(Layer::Scp, level, set);
            scp_deny |= r.deny;
            scp_all_allow &= r.allow;
        }
    }
    let mut rcp_deny = false;
    // kms:RetireGrant is documented as unaffected by RCPs.
    if !slr
        && !input.rcps.is_empty()
        && data.rcp_supported(req.service())
        && req.action_lower() != "kms:retiregrant"
    {
        for (level, set) in input.rcps.iter().enumerate() {
            rcp_deny |= ev.set(Layer::Rcp, level, set).deny;
        }
    }
    let endpoint = input.endpoint.map(|e| ev.set(Layer::Vpce, 0, e));

    let mut blocked = Vec::new();
    let denies = [
        (scp_deny, Layer::Scp),
        (rcp_deny, Layer::Rcp),
        (endpoint.is_some_and(|r| r.deny), Layer::Vpce),
        (resource.is_some_and(|r| r.deny), Layer::Resource),
        (identity.deny, Layer::Identity),
        (boundary.is_some_and(|r| r.deny), Layer::Boundary),
        (session.is_some_and(|r| r.deny), Layer::Session),
    ];
    for (hit, layer) in denies {
        if hit {
            push(&mut blocked, layer);
        }
    }
    if !blocked.is_empty() {
        return Decision {
            decision: DecisionKind::ExplicitlyDenied,
            blocked_by: blocked,
            matched: ev.matched,
        };
    }

    if account_identity && !slr && !input.scps.is_empty() && !scp_all_allow {
        push(&mut blocked, Layer::Scp);
    }
    if endpoint.is_some_and(|r| !r.allow) {
        push(&mut blocked, Layer::Vpce);
    }
    let res_grant = resource.and_then(|r| {
        if r.allow {
            r.grant.or(Some(Grant::Direct))
        } else {
            None
        }
    });

    if !account_identity {
        if res_grant.is_none() {
            push(&mut blocked, Layer::Resource);
        }
    } else {
        let identity_ok = p.kind == PrincipalType::Root || identity.allow;
        let pb_ok = boundary.is_none_or(|r| r.allow);
        let session_ok = match session {
            Some(r) => r.allow,
            None => p.kind != PrincipalType::FederatedUser,
        };
        let same_account = match (req.effective_resource_account(), p.account.as_deref()) {
            (Some(r), Some(a)) => r == a,
            _ => true,
        };
        let ceilings_ok = pb_ok && session_ok;
        let identity_side = identity_ok && ceilings_ok;
        let explicit = input.trust == ResourceTrust::Explicit;
        // A resource policy that names a user passes over the user's boundary, except a role's
        // trust policy: AWS's "if a user is listed in a trust policy and has a permissions
        // boundary, it must allow the sts:AssumeRole action" (else a boundary-confined user
        // named in a trust policy would escape into the role's permissions).
        let direct_ok = !is_trust_action(req.action()) || pb_ok;
        let allowed = if same_account {
            let via_identity = identity_side && (!explicit || res_grant.is_some());
            let via_resource = match res_grant {
                Some(Grant::Direct) => direct_ok,
                Some(Grant::Base) => ceilings_ok,
                Some(Grant::Wildcard) => match p.kind {
                    PrincipalType::User | PrincipalType::Root => direct_ok,
                    _ => ceilings_ok,
                },
                Some(Grant::Account) | None => false,
            };
            via_identity || via_resource
        } else {
            identity_side && res_grant.is_some()
        };
        if !allowed {
            if !identity_ok {
                push(&mut blocked, Layer::Identity);
            }
            if !pb_ok {
                push(&mut blocked, Layer::Boundary);
            }
            if !session_ok {
                push(&mut blocked, Layer::Session);
            }
            if res_grant.is_none() && (explicit || !same_account) {
                push(&mut blocked, Layer::Resource);
            }
            if blocked.is_empty() {
                push(&mut blocked, Layer::Identity);
            }
        }
    }
    Decision {
        decision: if blocked.is_empty() {
            DecisionKind::Allowed
        } else {
            DecisionKind::ImplicitlyDenied
        },
        blocked_by: blocked,
        matched: ev.matched,
    }
}
