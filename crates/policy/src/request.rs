//! The request being authorized: principal, action, resource and context.

use crate::date::Timestamp;
use crate::fnv::FnvMap;
use std::net::IpAddr;
use std::ops::Range;

/// The kind of principal making a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalType {
    /// The account's root user (`arn:aws:iam::A:root`).
    Root,
    /// An IAM user.
    User,
    /// An assumed-role session (`arn:aws:sts::A:assumed-role/R/S`).
    RoleSession,
    /// A `GetFederationToken` session (`arn:aws:sts::A:federated-user/U`).
    FederatedUser,
    /// A web-identity or SAML provider calling
    /// `AssumeRoleWithWebIdentity`/`AssumeRoleWithSAML`; `arn` is the
    /// provider (`cognito-identity.amazonaws.com`, an OIDC provider ARN…).
    WebIdentity,
    /// An AWS service principal (`lambda.amazonaws.com`).
    Service,
    /// An unauthenticated caller.
    Anonymous,
}

impl PrincipalType {
    /// The value of `aws:PrincipalType`.
    pub fn aws_name(self) -> &'static str {
        match self {
            PrincipalType::Root => "Account",
            PrincipalType::User => "User",
            PrincipalType::RoleSession => "AssumedRole",
            PrincipalType::FederatedUser => "FederatedUser",
            PrincipalType::WebIdentity => "WebIdentityUser",
            PrincipalType::Service => "Service",
            PrincipalType::Anonymous => "Anonymous",
        }
    }

    /// Whether the principal is an IAM identity of an account (subject to
    /// identity policies, boundaries and SCPs).
    pub fn is_account_identity(self) -> bool {
        matches!(
            self,
            PrincipalType::Root
                | PrincipalType::User
                | PrincipalType::RoleSession
                | PrincipalType::FederatedUser
        )
    }
}

/// Who makes the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The kind of principal.
    pub kind: PrincipalType,
    /// The caller's ARN (session ARN for sessions; service or provider name
    /// for services and web identities; `anonymous` for anonymous callers).
    pub arn: String,
    /// The caller's account, for account identities.
    pub account: Option<String>,
    /// The IAM entity behind a session: the role ARN (with its path) of a
    /// role session, the IAM user ARN of a federated user. It is
    /// `aws:PrincipalArn` for role sessions and what a resource policy naming
    /// the role matches.
    pub base_arn: Option<String>,
    /// The caller's unique ID (`aws:userid`), e.g. `AROA…:session`.
    pub user_id: Option<String>,
}

impl Principal {
    /// Parses a principal ARN: `…:root`, `…:user/…`, `…:role/…` (taken as a
    /// session of that role), `arn:…:sts::A:assumed-role/R/S` (the role ARN
    /// is derived without path: call [`Principal::with_base_arn`] when the
    /// role has one), `arn:…:sts::A:federated-user/U`. Also accepts
    /// `anonymous`, `*` (anonymous) and service principal names
    /// (`x.amazonaws.com`).
    pub fn parse(s: &str) -> Result<Principal, String> {
        if s == "anonymous" || s == "*" {
            return Ok(Principal::anonymous());
        }
        if !s.starts_with("arn:") {
            if s.ends_with(".amazonaws.com") || s.ends_with(".amazonaws.com.cn") {
                return Ok(Principal::service(s));
            }
            return Err(format!(
                "principal {s:?} is not an iam/sts arn, \"anonymous\" or a service principal"
            ));
        }
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [_, partition, service, _, account, resource] = parts.as_slice() else {
            return Err(format!("principal arn {s:?} has fewer than six segments"));
        };
        let account = Some((*account).to_string()).filter(|a| !a.is_empty());
        let kind = match (*service, *resource) {
            ("iam", "root") => PrincipalType::Root,
            ("iam", r) if r.starts_with("user/") => PrincipalType::User,
            ("iam", r) if r.starts_with("role/") => PrincipalType::RoleSession,
            ("sts", r) if r.starts_with("assumed-role/") => PrincipalType::RoleSession,
            ("sts", r) if r.starts_with("federated-user/") => PrincipalType::FederatedUser,
            ("iam", r) if r.starts_with("oidc-provider/") || r.starts_with("saml-provider/") => {
                PrincipalType::WebIdentity
            }
            _ => {
                return Err(format!(
                    "principal arn {s:?} is not a root, user, role, assumed-role or federated-user arn"
                ));
            }
        };
        let base_arn = match kind {
            PrincipalType::RoleSession if service == &"iam" => Some(s.to_string()),
            PrincipalType::RoleSession => {
                let role = resource
                    .strip_prefix("assumed-role/")
                    .and_then(|r| r.split('/').next())
                    .unwrap_or("");
                Some(format!(
                    "arn:{partition}:iam::{}:role/{role}",
                    account.as_deref().unwrap_or("")
                ))
            }
            _ => None,
        };
        Ok(Principal {
            kind,
            arn: s.to_string(),
            account,
            base_arn,
            user_id: None,
        })
    }

    /// An anonymous caller.
    pub fn anonymous() -> Principal {
        Principal {
            kind: PrincipalType::Anonymous,
            arn: "anonymous".to_string(),
            account: None,
            base_arn: None,
            user_id: Some("anonymous".to_string()),
        }
    }

    /// An AWS service principal such as `lambda.amazonaws.com`.
    pub fn service(name: &str) -> Principal {
        Principal {
            kind: PrincipalType::Service,
            arn: name.to_string(),
            account: None,
            base_arn: None,
            user_id: None,
        }
    }

    /// Sets the IAM entity behind a session (role ARN with path, or the
    /// federating IAM user's ARN).
    pub fn with_base_arn(mut self, arn: impl Into<String>) -> Principal {
        self.base_arn = Some(arn.into());
        self
    }

    /// Sets the unique ID (`aws:userid`).
    pub fn with_user_id(mut self, id: impl Into<String>) -> Principal {
        self.user_id = Some(id.into());
        self
    }

    /// `aws:PrincipalArn`: the role ARN for role sessions, the caller's ARN
    /// for other account identities.
    pub fn principal_arn(&self) -> Option<&str> {
        match self.kind {
            PrincipalType::RoleSession => self.base_arn.as_deref().or(Some(&self.arn)),
            PrincipalType::Service | PrincipalType::Anonymous => None,
            _ => Some(&self.arn),
        }
    }

    /// Whether the principal is a service-linked role session (path
    /// `/aws-service-role/`), which SCPs and RCPs do not restrict.
    pub fn is_service_linked_role(&self) -> bool {
        self.kind == PrincipalType::RoleSession
            && self
                .base_arn
                .as_deref()
                .is_some_and(|a| a.contains(":role/aws-service-role/"))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Typed {
    String,
    Bool(bool),
    Number(Number),
    Date(Timestamp),
    Ip(IpAddr),
    Binary(Vec<u8>),
}

/// A single context value. It keeps its text (used by string operators and
/// policy variables) and, when built from a typed constructor, its parsed
/// form; other operators parse the text on demand.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    text: Box<str>,
    typed: Typed,
}

impl Value {
    /// A string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value {
            text: s.into().into_boxed_str(),
            typed: Typed::String,
        }
    }
    /// A boolean value (`true`/`false` as text).
    pub fn bool(b: bool) -> Value {
        Value {
            text: if b { "true" } else { "false" }.into(),
            typed: Typed::Bool(b),
        }
    }
    /// A number (a value that is not finite is kept as text and matches no numeric operator).
    pub fn number(n: f64) -> Value {
        let text = n.to_string();
        match parse_number(&text) {
            Some(parsed) => Value {
                text: text.into_boxed_str(),
                typed: Typed::Number(parsed),
            },
            None => Value::string(text),
        }
    }
    /// A date given as ISO 8601 or epoch seconds; `None` if invalid.
    pub fn date(s: &str) -> Option<Value> {
        let t = crate::date::parse(s)?;
        Some(Value {
            text: s.into(),
            typed: Typed::Date(t),
        })
    }
    /// An IP address.
    pub fn ip(ip: IpAddr) -> Value {
        Value {
            text: ip.to_string().into_boxed_str(),
            typed: Typed::Ip(ip),
        }
    }
    /// Binary data (its text is the base64 encoding, as in policies).
    pub fn binary(bytes: Vec<u8>) -> Value {
        Value {
            text: crate::base64::encode(&bytes).into_boxed_str(),
            typed: Typed::Binary(bytes),
        }
    }
    /// The value as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub(crate) fn as_number(&self) -> Option<Number> {
        match &self.typed {
            Typed::Number(n) => Some(n.clone()),
            _ => parse_number(&self.text),
        }
    }
    pub(crate) fn as_date(&self) -> Option<Timestamp> {
        match self.typed {
            Typed::Date(t) => Some(t),
            _ => crate::date::parse(&self.text),
        }
    }
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self.typed {
            Typed::Bool(b) => Some(b),
            _ => parse_bool(&self.text),
        }
    }
    pub(crate) fn as_ip(&self) -> Option<IpAddr> {
        match self.typed {
            Typed::Ip(ip) => Some(ip),
            _ => self.text.parse().ok(),
        }
    }
    pub(crate) fn with_binary<R>(&self, f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        match &self.typed {
            Typed::Binary(b) => f(Some(b)),
            _ => f(crate::base64::decode(&self.text).as_deref()),
        }
    }
}

/// A decimal number compared exactly: IAM's numeric operators take integers and decimals of any
/// length, and `f64` would make `9007199254740993` equal `9007199254740992`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Number {
    negative: bool,
    /// Digits before the point, without leading zeros.
    int: Box<str>,
    /// Digits after the point, without trailing zeros.
    frac: Box<str>,
}

impl Ord for Number {
    fn cmp(&self, other: &Number) -> std::cmp::Ordering {
        let magnitude = self
            .int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.cmp(&other.int))
            .then_with(|| self.frac.cmp(&other.frac));
        match (self.negative, other.negative) {
            (false, false) => magnitude,
            (true, true) => magnitude.reverse(),
            (false, true) => std::cmp::Ordering::Greater,
            (true, false) => std::cmp::Ordering::Less,
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Parses a policy or context number: an optionally signed integer or
/// decimal, no exponent, no surrounding space.
pub(crate) fn parse_number(s: &str) -> Option<Number> {
    let negative = s.starts_with('-');
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(body.contains('.') && frac.is_empty());
    if !ok {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    Some(Number {
        // Minus zero is zero.
        negative: negative && !(int.is_empty() && frac.is_empty()),
        int: int.into(),
        frac: frac.into(),
    })
}

/// `true`/`false`, in any case.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A context key's value: one value, or a list (a multi-valued key).
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A single-valued key.
    Single(Value),
    /// A multi-valued key; plain (non-set) operators never match it.
    List(Vec<Value>),
}

/// The request context: condition keys (case-insensitive) and their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    entries: FnvMap<Box<str>, Entry>,
}

/// The key in lower case, allocating once.
fn lower_key(key: &str) -> Box<str> {
    if key.bytes().any(|b| b.is_ascii_uppercase()) || !key.is_ascii() {
        key.to_lowercase().into_boxed_str()
    } else {
        key.into()
    }
}

/// Whether a (lower-case) key carries tags, whose values the caller chooses: IAM takes an empty
/// value of such a key as null ("For condition keys that are defined by the user, such as passing
/// tags in a request, it is possible to include an empty string. In this case, the value in the
/// request context is null", IAM User Guide, condition operators). So `Null: true` holds for a
/// tag given with an empty value, and `ForAllValues` over `aws:TagKeys` of `[""]` holds as over
/// no keys. Other keys keep their empty strings (`s3:prefix` of `""` is a real prefix).
fn is_tag_key(key: &str) -> bool {
    let Some((_, name)) = key.split_once(':') else {
        return false;
    };
    name == "tagkeys"
        || name.starts_with("requesttag/")
        || name.starts_with("resourcetag/")
        || name.starts_with("principaltag/")
}

impl Context {
    /// An empty context.
    pub fn new() -> Context {
        Context::default()
    }

    /// An empty context with room for `n` keys: a request's context is built key by key, and
    /// growing the table as it goes cost a few percent of a request's CPU.
    pub fn with_capacity(n: usize) -> Context {
        Context {
            entries: FnvMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    /// Sets a single-valued key.
    pub fn insert(&mut self, key: &str, value: Value) -> &mut Context {
        let key = lower_key(key);
        let entry = if value.text.is_empty() && is_tag_key(&key) {
            Entry::List(Vec::new())
        } else {
            Entry::Single(value)
        };
        self.entries.insert(key, entry);
        self
    }

    /// Removes a key (case-insensitively).
    pub fn remove(&mut self, key: &str) -> &mut Context {
        self.entries.remove(&lower_key(key));
        self
    }

    /// Sets a multi-valued key. An empty list behaves as an absent key.
    pub fn insert_list(&mut self, key: &str, mut values: Vec<Value>) -> &mut Context {
        let key = lower_key(key);
        if is_tag_key(&key) {
            values.retain(|v| !v.text.is_empty());
        }
        self.entries.insert(key, Entry::List(values));
        self
    }

    /// Builder form of [`Context::insert`] for a string.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Context {
        self.insert(key, Value::string(value));
        self
    }

    /// Looks a key up (case-insensitively). Empty lists count as absent.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        let e = if key.bytes().any(|b| b.is_ascii_uppercase()) || !key.is_ascii() {
            self.entries.get(key.to_lowercase().as_str())
        } else {
            self.entries.get(key)
        };
        match e {
            Some(Entry::List(v)) if v.is_empty() => None,
            other => other,
        }
    }

    /// Looks up a key already in lower case.
    pub(crate) fn get_lower(&self, key: &str) -> Option<&Entry> {
        match self.entries.get(key) {
            Some(Entry::List(v)) if v.is_empty() => None,
            other => other,
        }
    }

    /// Whether the key is set (even to an empty list).
    pub fn contains(&self, key: &str) -> bool {
        if key.bytes().any(|b| b.is_ascii_uppercase()) || !key.is_ascii() {
            self.entries.contains_key(key.to_lowercase().as_str())
        } else {
            self.entries.contains_key(key)
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of a single-valued key as text, for policy variables.
    pub(crate) fn variable(&self, key_lower: &str) -> Option<&str> {
        match self.get_lower(key_lower) {
            Some(Entry::Single(v)) => Some(v.as_str()),
            _ => None,
        }
    }

    /// Builds a context from a JSON object. Strings, booleans and numbers
    /// become values and arrays multi-valued keys; an object
    /// `{"type": T, "value": v}` (or `"values": [..]`) gives a typed value,
    /// `T` being an IAM `ContextKeyType` (`string`, `stringList`, `numeric`,
    /// `numericList`, `boolean`, `booleanList`, `ip`, `ipList`, `binary`
    /// (base64), `binaryList`, `date`, `dateList`). Errors name the key.
    pub fn from_json(v: &serde_json::Value) -> Result<Context, String> {
        let serde_json::Value::Object(map) = v else {
            return Err("context must be a json object".to_string());
        };
        let mut ctx = Context::new();
        for (k, v) in map {
            match v {
                serde_json::Value::Array(items) => {
                    let vals = items
                        .iter()
                        .map(|i| untyped(k, i))
                        .collect::<Result<Vec<_>, _>>()?;
                    ctx.insert_list(k, vals);
                }
                serde_json::Value::Object(o) => {
                    let ty = o.get("type").and_then(|t| t.as_str()).ok_or_else(|| {
                        format!("context key {k:?}: a typed value needs a \"type\" string")
                    })?;
                    let (base, list) = match ty.strip_suffix("List") {
                        Some(b) => (b, true),
                        None => (ty, false),
                    };
                    if list {
                        let items =
                            o.get("values").and_then(|v| v.as_array()).ok_or_else(|| {
                                format!("context key {k:?}: type {ty} needs a \"values\" array")
                            })?;
                        let vals = items
                            .iter()
                            .map(|i| typed(k, base, i))
                            .collect::<Result<Vec<_>, _>>()?;
                        ctx.insert_list(k, vals);
                    } else {
                        let item = o.get("value").ok_or_else(|| {
                            format!("context key {k:?}: type {ty} needs a \"value\"")
                        })?;
                        ctx.insert(k, typed(k, base, item)?);
                    }
                }
                other => {
                    ctx.insert(k, untyped(k, other)?);
                }
            }
        }
        Ok(ctx)
    }
}

fn untyped(k: &str, v: &serde_json::Value) -> Result<Value, String> {
    match v {
        serde_json::Value::String(s) => Ok(Value::string(s.clone())),
        serde_json::Value::Bool(b) => Ok(Value::bool(*b)),
        serde_json::Value::Number(n) => typed(k, "numeric", v)
            .map_err(|_| format!("context key {k:?}: number {n} is not an integer or decimal")),
        other => Err(format!(
            "context key {k:?}: values must be strings, booleans or numbers, found {other}"
        )),
    }
}

fn typed(k: &str, ty: &str, v: &serde_json::Value) -> Result<Value, String> {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        other => return Err(format!("context key {k:?}: invalid {ty} value {other}")),
    };
    let bad = || format!("context key {k:?}: {text:?} is not a valid {ty}");
    match ty {
        "string" => Ok(Value::string(text)),
        "numeric" => parse_number(&text)
            .map(|n| Value {
                text: text.as_str().into(),
                typed: Typed::Number(n),
            })
            .ok_or_else(bad),
        "boolean" => parse_bool(&text).map(Value::bool).ok_or_else(bad),
        "ip" => text.parse().map(Value::ip).map_err(|_| bad()),
        "binary" => crate::base64::decode(&text)
            .map(Value::binary)
            .ok_or_else(bad),
        "date" => Value::date(&text).ok_or_else(bad),
        other => Err(format!(
            "context key {k:?}: unknown type {other:?} (expected string, numeric, boolean, ip, binary, date, or one of them followed by List)"
        )),
    }
}

/// The request to authorize. Building it normalises the action and resource
/// once so that matching a statement allocates nothing.
#[derive(Debug, Clone)]
pub struct Request {
    /// Who makes the request.
    pub principal: Principal,
    action: String,
    action_lower: String,
    service_len: usize,
    resource: String,
    resource_norm: String,
    segments: Option<[Range<usize>; 6]>,
    /// The account owning the resource; `None` means the principal's own.
    pub resource_account: Option<String>,
    /// The context, including the global keys derived from the principal.
    pub context: Context,
}

impl Request {
    /// Builds a request. The global keys `aws:PrincipalArn`,
    /// `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:username`,
    /// `aws:userid`, `aws:PrincipalIsAWSService`, `aws:PrincipalServiceName`
    /// and `aws:ResourceAccount` are derived unless `context` sets them. Time
    /// keys (`aws:CurrentTime`, `aws:EpochTime`) are not: the library reads no
    /// clock, so the caller sets them.
    pub fn new(
        principal: Principal,
        action: &str,
        resource: &str,
        resource_account: Option<String>,
        mut context: Context,
    ) -> Request {
        let action_lower = action.to_lowercase();
        let service_len = action_lower.find(':').unwrap_or(action_lower.len());
        let (resource_norm, segments) = normalise_arn(resource);
        let mut derive = |key: &str, v: Option<Value>| {
            if let Some(v) = v
                && !context.contains(key)
            {
                context.insert(key, v);
            }
        };
        derive(
            "aws:principalarn",
            principal.principal_arn().map(Value::string),
        );
        derive(
            "aws:principalaccount",
            principal.account.clone().map(Value::string),
        );
        derive(
            "aws:principaltype",
            Some(Value::string(principal.kind.aws_name())),
        );
        derive(
            "aws:principalisawsservice",
            Some(Value::bool(principal.kind == PrincipalType::Service)),
        );
        if principal.kind == PrincipalType::Service {
            derive(
                "aws:principalservicename",
                Some(Value::string(principal.arn.clone())),
            );
        }
        if principal.kind == PrincipalType::User {
            let name = principal.arn.rsplit('/').next().unwrap_or("").to_string();
            derive("aws:username", Some(Value::string(name)));
        }
        let user_id = principal.user_id.clone().or_else(|| {
            (principal.kind == PrincipalType::Root)
                .then(|| principal.account.clone())
                .flatten()
        });
        derive("aws:userid", user_id.map(Value::string));
        let res_account = resource_account.clone().or_else(|| {
            segments
                .as_ref()
                .and_then(|s| resource.get(s[4].clone()))
                .filter(|a| !a.is_empty())
                .map(str::to_string)
        });
        derive("aws:resourceaccount", res_account.map(Value::string));
        Request {
            principal,
            action: action.to_string(),
            action_lower,
            service_len,
            resource: resource.to_string(),
            resource_norm,
            segments,
            resource_account,
            context,
        }
    }

    /// The action as given.
    pub fn action(&self) -> &str {
        &self.action
    }
    /// The action in lower case.
    pub fn action_lower(&self) -> &str {
        &self.action_lower
    }
    /// The service prefix, lower case.
    pub fn service(&self) -> &str {
        self.action_lower.get(..self.service_len).unwrap_or("")
    }
    /// The action name after the colon, lower case.
    pub fn action_name(&self) -> &str {
        self.action_lower.get(self.service_len + 1..).unwrap_or("")
    }
    /// The resource as given.
    pub fn resource(&self) -> &str {
        &self.resource
    }
    /// Segment `i` (0 = `arn`, 5 = resource part) of the resource ARN; the
    /// first five are lower-cased. `None` when the resource is not an ARN.
    pub(crate) fn resource_segment(&self, i: usize) -> Option<&str> {
        let r = self.segments.as_ref()?.get(i)?.clone();
        self.resource_norm.get(r)
    }
    /// Whether the resource is an ARN.
    pub fn resource_is_arn(&self) -> bool {
        self.segments.is_some()
    }
    /// The account owning the resource: explicit, else the ARN's account
    /// segment, else the principal's account.
    pub fn effective_resource_account(&self) -> Option<&str> {
        self.resource_account
            .as_deref()
            .or_else(|| self.resource_segment(4).filter(|a| !a.is_empty()))
            .or(self.principal.account.as_deref())
    }
}

/// Lower-cases the first five ARN segments (compared case-insensitively) and
/// records segment offsets; missing trailing segments are empty.
fn normalise_arn(resource: &str) -> (String, Option<[Range<usize>; 6]>) {
    if !resource.starts_with("arn:") {
        return (resource.to_string(), None);
    }
    let mut norm = String::with_capacity(resource.len());
    let mut ranges: [Range<usize>; 6] = Default::default();
    let mut rest = resource;
    for (i, slot) in ranges.iter_mut().enumerate() {
        let (seg, next) = if i < 5 {
            match rest.split_once(':') {
                Some((s, n)) => (s, Some(n)),
                None => (rest, None),
            }
        } else {
            (rest, None)
        };
        if i > 0 {
            norm.push(':');
        }
        let start = norm.len();
        if i < 5 {
            norm.push_str(&seg.to_lowercase());
        } else {
            norm.push_str(seg);
        }
        *slot = start..norm.len();
        // Segments past the end of a short ARN stay empty.
        rest = next.unwrap_or("");
    }
    (norm, Some(ranges))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_principals() {
        let p = Principal::parse("arn:aws:sts::111122223333:assumed-role/Admin/alice").unwrap();
        assert_eq!(p.kind, PrincipalType::RoleSession);
        assert_eq!(
            p.principal_arn(),
            Some("arn:aws:iam::111122223333:role/Admin")
        );
        assert_eq!(
            Principal::parse("lambda.amazonaws.com").unwrap().kind,
            PrincipalType::Service
        );
        assert!(Principal::parse("bob").is_err());
    }

    #[test]
    fn typed_context_from_json() {
        let ctx = Context::from_json(&serde_json::json!({
            "a": {"type": "ip", "value": "10.0.0.1"},
            "b": {"type": "numericList", "values": [1, "2.5"]},
            "c": ["x", true],
        }))
        .unwrap();
        assert!(matches!(ctx.get("A"), Some(Entry::Single(v)) if v.as_ip().is_some()));
        assert!(matches!(ctx.get("b"), Some(Entry::List(v)) if v.len() == 2));
        let e = Context::from_json(&serde_json::json!({"k": {"type": "ip", "value": "nope"}}))
            .unwrap_err();
        assert!(e.contains("\"k\"") && e.contains("nope"), "{e}");
        assert!(
            Context::from_json(&serde_json::json!({"k": {"type": "weird", "value": 1}})).is_err()
        );
    }

    #[test]
    fn normalises_resource() {
        let r = Request::new(
            Principal::parse("arn:aws:iam::111122223333:user/alice").unwrap(),
            "S3:GetObject",
            "arn:AWS:s3:::Bucket/Key:x",
            None,
            Context::new(),
        );
        assert_eq!(r.service(), "s3");
        assert_eq!(r.action_name(), "getobject");
        assert_eq!(r.resource_segment(1), Some("aws"));
        assert_eq!(r.resource_segment(5), Some("Bucket/Key:x"));
        assert!(matches!(
            r.context.get("AWS:USERNAME"),
            Some(Entry::Single(v)) if v.as_str() == "alice"
        ));
    }

    /// Regression: numbers compared as `f64`, so `9007199254740993` equalled
    /// `9007199254740992` under NumericEquals.
    #[test]
    fn numbers_compare_exactly_as_decimals() {
        let n = |s: &str| parse_number(s).unwrap_or_else(|| panic!("{s}"));
        assert!(n("9007199254740993") > n("9007199254740992"));
        assert_eq!(n("007.50"), n("7.5"));
        assert_eq!(n("-0"), n("0.000"));
        assert!(n("-2") < n("-1.5"));
        assert!(n("-1") < n("0.1"));
        assert!(n("10") > n("9.999"));
        assert!(n("0.25") < n("0.3"));
        for bad in ["", "1e5", "1.", ".5", " 1", "--1", "0x10"] {
            assert!(parse_number(bad).is_none(), "{bad}");
        }
    }
}
