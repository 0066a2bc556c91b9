//! What the pipeline knows about one request as it goes, and the audit event built from it.

use std::net::SocketAddr;

use palisade_audit::{Event, Resource, TlsDetails, UserIdentity};
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::identity::Caller;
use crate::route::Route;

/// The connection a request came over.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// TLS details when the connection is TLS (`aws:SecureTransport`).
    pub tls: Option<TlsInfo>,
}

/// The negotiated TLS parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// e.g. `TLSv1.3`.
    pub version: String,
    /// e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
}

/// Everything the pipeline learnt about a request; it becomes the audit event.
#[derive(Debug)]
pub struct RequestContext {
    /// The id returned to the client.
    pub request_id: String,
    /// When the request arrived.
    pub time: OffsetDateTime,
    /// The client's address.
    pub source_ip: String,
    /// The client's User-Agent.
    pub user_agent: String,
    /// The Host header.
    pub host: String,
    /// TLS details, if any.
    pub tls: Option<TlsInfo>,
    /// The region the request is addressed to (credential scope, else the server's).
    pub region: String,
    /// The route, once known.
    pub route: Option<Route>,
    /// The caller, once authenticated.
    pub caller: Option<Caller>,
    /// The access key id the request claimed, even when authentication failed.
    pub claimed_access_key: Option<String>,
    /// Whose that key is, when it exists (its request failed on a wrong signature, an
    /// inactive key or an expired session, not on an unknown key).
    pub claimed_key_owner: Option<crate::audit::KeyOwner>,
    /// Request parameters for the audit record, redacted.
    pub request_parameters: Option<Value>,
    /// In `audit` enforcement, the denial the request would have got.
    pub would_be_denied: Option<ApiError>,
    /// For a call one service makes to another on the caller's behalf (Secrets Manager to
    /// KMS), the calling service's endpoint name, as `kms:ViaService` shows it. Never set from
    /// anything a client sends.
    pub via_service: Option<String>,
    /// The ARNs of the resources the request acts on, for the event's `resources` (two for
    /// KMS ReEncrypt: its destination and source keys).
    pub resources: Vec<String>,
    /// For KMS DisableKey and ScheduleKeyDeletion: whole days since the key was last used in a
    /// cryptographic operation (`kms:TrailingDaysWithoutKeyUsage`), read from the audit trail
    /// before authorization, which cannot wait for the store.
    pub kms_days_unused: Option<i64>,
    /// The key material a KMS cryptographic call used, for `additionalEventData`: its member
    /// name there (`keyMaterialId`; ReEncrypt's `sourceKeyMaterialId` and
    /// `destinationKeyMaterialId`) and the `KeyMaterialId`.
    pub key_material_ids: Vec<(&'static str, String)>,
}

impl RequestContext {
    /// The context of a call a service makes on the caller's behalf, inside a request.
    pub fn internal(caller: &Caller, region: &str) -> Self {
        Self {
            request_id: String::new(),
            time: OffsetDateTime::now_utc(),
            source_ip: String::new(),
            user_agent: String::new(),
            host: String::new(),
            tls: None,
            region: region.to_owned(),
            route: None,
            caller: Some(caller.clone()),
            claimed_access_key: None,
            claimed_key_owner: None,
            request_parameters: None,
            would_be_denied: None,
            via_service: None,
            resources: Vec::new(),
            kms_days_unused: None,
            key_material_ids: Vec::new(),
        }
    }
}

/// The connection facts of the request being handled, for the checks a handler makes as part
/// of the caller's own request (BatchGetSecretValue authorizes GetSecretValue per secret),
/// whose `aws:SourceIp`, `aws:UserAgent` and `aws:SecureTransport` are the request's.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The client's address.
    pub source_ip: String,
    /// The client's User-Agent.
    pub user_agent: String,
    /// TLS details, if any.
    pub tls: Option<TlsInfo>,
    /// When the request arrived.
    pub time: OffsetDateTime,
}

tokio::task_local! {
    /// Set by the pipeline around a request's handler.
    pub static ORIGIN: Origin;
}

impl Origin {
    /// The facts of `ctx`'s request.
    pub fn of(ctx: &RequestContext) -> Self {
        Origin {
            source_ip: ctx.source_ip.clone(),
            user_agent: ctx.user_agent.clone(),
            tls: ctx.tls.clone(),
            time: ctx.time,
        }
    }
}

impl RequestContext {
    /// The context of a check a handler makes as part of the caller's own request: the
    /// request's connection facts when there is one (bug: BatchGetSecretValue's checks had no
    /// source address or user agent, so a Deny conditioned on them did not apply to it).
    pub fn callers_own(caller: &Caller, region: &str) -> Self {
        let mut c = Self::internal(caller, region);
        let _ = ORIGIN.try_with(|o| {
            c.source_ip = o.source_ip.clone();
            c.user_agent = o.user_agent.clone();
            c.tls = o.tls.clone();
            c.time = o.time;
        });
        c
    }

    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub fn secure_transport(&self) -> bool {
        self.tls.is_some()
    }

    /// CloudTrail's `additionalEventData` for the event, if any: the key material a KMS
    /// cryptographic call used (as KMS records it), the would-be denial in `audit`
    /// enforcement.
    pub fn additional_event_data(&self) -> Option<Value> {
        let mut data = serde_json::Map::new();
        for (name, id) in &self.key_material_ids {
            data.insert((*name).to_owned(), Value::String(id.clone()));
        }
        if let Some(e) = &self.would_be_denied {
            data.insert(
                "wouldBeDenied".to_owned(),
                serde_json::json!({"errorCode": e.code, "errorMessage": e.message}),
            );
        }
        (!data.is_empty()).then_some(Value::Object(data))
    }

    /// Builds the CloudTrail event for the outcome; the request's parameters move into it.
    pub fn to_event(
        &mut self,
        outcome: Result<&Option<Value>, &ApiError>,
        default_account: &str,
    ) -> Event {
        let (service, operation) = match &self.route {
            Some(r) => (r.service.endpoint_prefix, r.operation.name),
            None => ("unknown", "Unknown"),
        };
        let mut event = Event::api_call(
            self.time,
            service,
            operation,
            &self.region,
            &self.request_id,
        );
        event.source_ip_address = self.source_ip.clone();
        event.user_agent = cap(&self.user_agent, MAX_TEXT_FIELD);
        // A call without input has `null`, as CloudTrail records GetCallerIdentity's, not `{}`.
        event.request_parameters = self
            .request_parameters
            .take()
            .filter(|p| p.as_object().is_none_or(|o| !o.is_empty()));
        // A secret being created is authorized by its name with IAM's `-??????` wildcard for the
        // suffix it does not have yet; the event names the secret it got.
        let created = match outcome {
            // The response elements, in CloudTrail's member casing (`arn`).
            Ok(Some(out)) => out.get("arn").and_then(Value::as_str),
            _ => None,
        };
        // A key or trail being created has no ARN to authorize against (`*`); the event names
        // the one it got, as CloudTrail's does.
        let new_resource = match outcome {
            Ok(Some(out)) if self.resources.is_empty() => out
                .pointer("/keyMetadata/arn")
                .or_else(|| out.get("trailARN"))
                .and_then(Value::as_str),
            _ => None,
        };
        event.resources = self
            .resources
            .iter()
            // A list call is authorized on a resource type with no name (`user/`), which
            // CloudTrail does not show as a resource.
            .filter(|arn| !arn.ends_with('/') && arn.as_str() != "*")
            // A secret named by a name that found none (a failed create, a missing secret) is
            // no resource: the wildcard ARN it was authorized by is not a secret's ARN (bug: the
            // record listed `...:secret:nosuch-??????`).
            .filter_map(|arn| match created {
                Some(real) if arn.ends_with("-??????") => Some(real.to_owned()),
                _ if arn.ends_with("-??????") => None,
                _ => Some(arn.clone()),
            })
            .chain(new_resource.map(str::to_owned))
            .map(|arn| Resource {
                account_id: arn.split(':').nth(4).unwrap_or_default().to_owned(),
                kind: resource_type(&arn).to_owned(),
                arn,
            })
            .collect();
        event.tls_details = self.tls.as_ref().map(|t| TlsDetails {
            tls_version: t.version.clone(),
            cipher_suite: t.cipher_suite.clone(),
            client_provided_host_header: self.host.clone(),
        });
        match &self.caller {
            Some(c) => {
                event.user_identity = user_identity(c);
                event.recipient_account_id = c.account_id.clone();
            }
            None => {
                event.user_identity.access_key_id = self.claimed_access_key.clone();
                event.recipient_account_id = default_account.to_owned();
            }
        }
        match outcome {
            Ok(response) => {
                // An operation without output has `null`, as CloudTrail shows it, not `{}`.
                if palisade_audit::records_response(operation) {
                    event.response_elements = response
                        .clone()
                        .filter(|r| r.as_object().is_none_or(|o| !o.is_empty()));
                }
            }
            Err(e) => {
                event.error_code = Some(cloudtrail_error_code(self.route, e.code).to_owned());
                // A failure without a message has no errorMessage, as in CloudTrail's records.
                event.error_message =
                    (!e.message.is_empty()).then(|| cap(&e.message, MAX_TEXT_FIELD));
            }
        }
        event
    }
}

/// The most a record keeps of a client's text (its User-Agent, an error message quoting its
/// input): refused anonymous requests must not write what they like at any length into the
/// trail (bug: a 60 KB User-Agent or operation name was recorded whole, 220 MB/s of log from
/// unauthenticated requests).
const MAX_TEXT_FIELD: usize = 1024;

/// CloudTrail's limit on `requestParameters` and `responseElements`: a larger one is omitted
/// from the record (`audit::to_row`, where a record is serialised anyway).
pub(crate) const MAX_ELEMENTS_FIELD: usize = 100 * 1024;

/// `text` cut to at most `max` bytes on a character boundary.
pub(crate) fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}

/// Whether request parameters or response elements fit CloudTrail's field size.
pub(crate) fn within_field_limit(v: &Value) -> bool {
    // Serialised length, counted without building the text.
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            if self.0 > MAX_ELEMENTS_FIELD {
                return Err(std::io::Error::other("over the field limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Count(0), v).is_ok()
}

/// The error code a CloudTrail record names: the error's shape name in the service's model
/// (IAM's `NoSuchEntityException`, whose wire code is `NoSuchEntity`), as AWS records it, so
/// that detections written against real records match; the wire code for errors the model does
/// not list (`AccessDenied`, signature errors).
fn cloudtrail_error_code(route: Option<Route>, code: &'static str) -> &'static str {
    route
        .and_then(|r| r.service.errors.iter().find(|e| e.code == code))
        .map_or(code, |e| e.name)
}

/// The copy of a successful cross-account call's event for the account that owns its resource:
/// CloudTrail records such a call in both accounts, under one `sharedEventID` and two
/// `eventID`s. A refused or failed call is recorded in the caller's account only.
pub(crate) fn owner_copy(event: &mut Event) -> Option<Event> {
    if event.error_code.is_some() {
        return None;
    }
    let owner = event
        .resources
        .iter()
        .map(|r| r.account_id.as_str())
        .find(|a| {
            a.len() == 12
                && a.bytes().all(|b| b.is_ascii_digit())
                && *a != event.recipient_account_id
        })?
        .to_owned();
    event.shared_event_id = Some(uuid::Uuid::new_v4().to_string());
    let mut copy = event.clone();
    copy.recipient_account_id = owner;
    copy.event_id = uuid::Uuid::new_v4().to_string();
    // The owner sees who called as CloudTrail shows it there: another account, by principal
    // id, with neither the caller's ARN, user name nor access key (those stay in the caller's
    // own trail).
    copy.user_identity = UserIdentity {
        kind: "AWSAccount".to_owned(),
        principal_id: copy.user_identity.principal_id.take(),
        account_id: copy.user_identity.account_id.take(),
        ..UserIdentity::default()
    };
    Some(copy)
}

/// CloudTrail's `sessionContext` for temporary credentials.
/// CloudTrail's `userIdentity` of a caller.
pub(crate) fn user_identity(c: &Caller) -> UserIdentity {
    // CloudTrail names a web identity by its provider, with neither ARN nor account.
    let web = c.web_identity.as_ref();
    UserIdentity {
        kind: c.kind.as_str().to_owned(),
        principal_id: Some(c.principal_id.clone()),
        arn: web.is_none().then(|| c.arn.clone()),
        account_id: web.is_none().then(|| c.account_id.clone()),
        access_key_id: c.access_key_id.clone(),
        // A federated user is not the IAM user that issued its session (that one is the
        // session's issuer).
        user_name: c
            .user_name
            .clone()
            .filter(|_| c.kind != crate::identity::PrincipalKind::FederatedUser),
        session_context: c.session.as_ref().map(|s| session_context(s)),
        identity_provider: web.map(|w| w.identity_provider().to_owned()),
        invoked_by: None,
    }
}

/// The event of a call that a service makes to another on the caller's behalf (Secrets
/// Manager's GenerateDataKey and Decrypt): CloudTrail records it in the called service with the
/// caller's identity, `invokedBy` and the calling service as source address and user agent.
pub(crate) fn service_call_event(
    caller: &Caller,
    region: &str,
    (service, operation): (&str, &str),
    invoked_by: &str,
    request_parameters: Value,
    resource_arn: &str,
    outcome: Result<(), &ApiError>,
) -> Event {
    let mut event = Event::api_call(
        OffsetDateTime::now_utc(),
        service,
        operation,
        region,
        &uuid::Uuid::new_v4().to_string(),
    );
    event.user_identity = user_identity(caller);
    event.user_identity.invoked_by = Some(invoked_by.to_owned());
    event.source_ip_address = invoked_by.to_owned();
    event.user_agent = invoked_by.to_owned();
    event.recipient_account_id = caller.account_id.clone();
    event.request_parameters = Some(request_parameters);
    event.resources = vec![Resource {
        account_id: resource_arn
            .split(':')
            .nth(4)
            .unwrap_or_default()
            .to_owned(),
        kind: resource_type(resource_arn).to_owned(),
        arn: resource_arn.to_owned(),
    }];
    if let Err(e) = outcome {
        event.error_code = Some(e.code.to_owned());
        event.error_message = (!e.message.is_empty()).then(|| e.message.clone());
    }
    event
}

fn session_context(s: &crate::session::Session) -> Value {
    let iso = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    };
    let mut out = serde_json::json!({
        "attributes": {
            "creationDate": iso(s.issued_at),
            "mfaAuthenticated": if s.mfa_at.is_some() { "true" } else { "false" },
        }
    });
    if let (Some(arn), Some(id), Some(name)) = (&s.role_arn, &s.role_id, &s.role_name) {
        crate::services::set(
            &mut out,
            "sessionIssuer",
            serde_json::json!({
                "type": "Role",
                "principalId": id,
                "arn": arn,
                "accountId": s.account_id,
                "userName": name,
            }),
        );
    }
    // A federated user's session was issued by an IAM user or the root user, which CloudTrail
    // names as the issuer.
    if s.source == crate::session::SessionSource::Federation {
        let issuer = match &s.user_name {
            Some(name) => serde_json::json!({
                "type": "IAMUser",
                "principalId": s.user_id,
                "arn": crate::iam::user_arn(&s.account_id, "/", name),
                "accountId": s.account_id,
                "userName": name,
            }),
            None => serde_json::json!({
                "type": "Root",
                "principalId": s.account_id,
                "arn": crate::identity::root_arn(&s.account_id),
                "accountId": s.account_id,
            }),
        };
        crate::services::set(&mut out, "sessionIssuer", issuer);
    }
    if let Some(si) = &s.source_identity {
        crate::services::set(&mut out, "sourceIdentity", Value::String(si.clone()));
    }
    if let Some(provider) = &s.federated_provider {
        crate::services::set(
            &mut out,
            "webIdFederationData",
            serde_json::json!({"federatedProvider": provider, "attributes": {}}),
        );
    } else if out.get("sessionIssuer").is_some() {
        // CloudTrail's role and federated-user sessions carry the member empty.
        crate::services::set(&mut out, "webIdFederationData", serde_json::json!({}));
    }
    out
}

/// Member names whose values never reach an audit record: plaintexts, secret values, passwords
/// and key material, as AWS leaves them out of CloudTrail.
const SENSITIVE_MEMBERS: &[&str] = &[
    "Plaintext",
    "SecretString",
    "SecretBinary",
    "Password",
    "NewPassword",
    "OldPassword",
    "PrivateKeyPlaintext",
    "SessionToken",
    "WebIdentityToken",
    "SAMLAssertion",
    "EncryptedKeyMaterial",
    "ImportToken",
    "SharedSecret",
    "Mac",
    "Base32StringSeed",
    "QRCodePNG",
    "AuthenticationCode1",
    "AuthenticationCode2",
    "TokenCode",
    "RandomPassword",
    "ServicePassword",
    "ServiceCredentialSecret",
    // The rest of the members the served models mark `sensitive` (see the test below).
    "Message",
    "PrivateKey",
    "AddPrivateKey",
    "KeyStorePassword",
    "XksProxyAuthenticationCredential",
    "XksProxyConfiguration",
    "RotationToken",
    "TradeInToken",
    "PublicKey",
];

/// Members CloudTrail leaves out of records altogether: a Decrypt's record names the key,
/// context and algorithm, not the ciphertext; the credentials of AssumeRole's or
/// CreateAccessKey's record have no secret key at all, not a placeholder for one.
const OMITTED_MEMBERS: &[&str] = &[
    "SecretAccessKey",
    "CiphertextBlob",
    "Signature",
    "CiphertextForRecipient",
    "AttestationDocument",
    // ML-KEM's encapsulated secret: "omitted from the log entry" (KMS developer guide).
    "SharedSecretCiphertextBlob",
];

/// CloudTrail's resource type for an ARN (`AWS::KMS::Key`, `AWS::IAM::User`, ...).
fn resource_type(arn: &str) -> &'static str {
    let mut parts = arn.splitn(6, ':');
    let service = parts.nth(2).unwrap_or_default();
    let resource = parts.nth(2).unwrap_or_default();
    let kind = resource.split(['/', ':']).next().unwrap_or_default();
    match (service, kind) {
        ("kms", "key") => "AWS::KMS::Key",
        ("kms", "alias") => "AWS::KMS::Alias",
        ("secretsmanager", "secret") => "AWS::SecretsManager::Secret",
        ("iam", "user") => "AWS::IAM::User",
        ("iam", "role") => "AWS::IAM::Role",
        ("iam", "group") => "AWS::IAM::Group",
        ("iam", "policy") => "AWS::IAM::Policy",
        ("iam", "instance-profile") => "AWS::IAM::InstanceProfile",
        ("iam", "mfa") => "AWS::IAM::MFADevice",
        ("cloudtrail", "trail") => "AWS::CloudTrail::Trail",
        ("sts", _) => "AWS::STS::FederatedUser",
        _ => "AWS::Unknown",
    }
}

/// Turns an input or output into CloudTrail's form: lowerCamelCase member names, sensitive
/// values replaced by `HIDDEN_DUE_TO_SECURITY_REASONS` as CloudTrail does, guided by the
/// value's shape (without one every object is taken for a structure): the keys of a map (an encryption context,
/// grant constraints) are the caller's data and are recorded verbatim, as CloudTrail records
/// them. Taking them for member names rewrote `Purpose` to `purpose`, merged it with a
/// `purpose` given beside it, and dropped a key named `Signature` (bug: a caller could hide
/// context pairs from the audit trail).
pub fn redact_shaped(
    svc: &'static palisade_model::schema::ServiceInfo,
    shape: Option<palisade_model::schema::ShapeId>,
    value: &Value,
) -> Value {
    redact(shape.map(|id| (svc, id)), value, 0)
}

type Shaped = Option<(
    &'static palisade_model::schema::ServiceInfo,
    palisade_model::schema::ShapeId,
)>;

fn redact(shape: Shaped, value: &Value, depth: usize) -> Value {
    use palisade_model::schema::ShapeKind;
    // Recursive shapes end somewhere; below this depth the shape no longer guides.
    let kind = shape
        .filter(|_| depth < 32)
        .and_then(|(svc, id)| svc.shape(id).map(|s| (svc, &s.kind)));
    match (value, kind) {
        (Value::Object(map), Some((svc, ShapeKind::Map { value: v, .. }))) => Value::Object(
            map.iter()
                .map(|(k, x)| (k.clone(), redact(Some((svc, *v)), x, depth + 1)))
                .collect(),
        ),
        (Value::Object(map), kind) => {
            let members = match kind {
                Some((svc, ShapeKind::Structure { members })) => Some((svc, *members)),
                _ => None,
            };
            let named = |list: &[&str], k: &str| list.iter().any(|m| m.eq_ignore_ascii_case(k));
            Value::Object(
                map.iter()
                    // A structure's record has its modelled members only (bug: an unknown
                    // `secretString` beside `SecretString` reached the record in clear, took
                    // the place of the hidden one, and a megabyte of unknown input was stored
                    // with every call).
                    .filter(|(k, _)| {
                        members.is_none_or(|(_, ms)| ms.iter().any(|m| m.name == k.as_str()))
                    })
                    .filter(|(k, _)| !named(OMITTED_MEMBERS, k))
                    .map(|(k, v)| {
                        let v = if named(SENSITIVE_MEMBERS, k) {
                            Value::String("HIDDEN_DUE_TO_SECURITY_REASONS".to_owned())
                        } else {
                            let inner = members.and_then(|(svc, ms)| {
                                ms.iter().find(|m| m.name == k).map(|m| (svc, m.target))
                            });
                            redact(inner, v, depth + 1)
                        };
                        (lower_camel(k), v)
                    })
                    .collect(),
            )
        }
        (Value::Array(items), kind) => {
            let inner = match kind {
                Some((svc, ShapeKind::List { member, .. })) => Some((svc, *member)),
                _ => None,
            };
            Value::Array(items.iter().map(|x| redact(inner, x, depth + 1)).collect())
        }
        (other, _) => other.clone(),
    }
}

/// A response as CloudTrail's `responseElements` show it: [`redact_shaped`], with the
/// timestamps of the operation's output written as CloudTrail writes them (`"Dec 3, 2026,
/// 12:37:05 PM"`), not as the epoch seconds the wire protocols carry.
pub fn audit_response(route: crate::route::Route, output: &Value) -> Value {
    let mut out = output.clone();
    if let Some(shape) = route.operation.output {
        cloudtrail_dates(route.service, shape, &mut out, 0);
    }
    redact_shaped(route.service, route.operation.output, &out)
}

fn cloudtrail_dates(
    svc: &palisade_model::schema::ServiceInfo,
    id: palisade_model::schema::ShapeId,
    v: &mut Value,
    depth: usize,
) {
    use palisade_model::schema::ShapeKind;
    // Recursive shapes (policy documents are strings, but some models nest) end somewhere.
    if depth > 32 {
        return;
    }
    let Some(shape) = svc.shape(id) else { return };
    match (&shape.kind, v) {
        (ShapeKind::Structure { members }, Value::Object(map)) => {
            for m in members.iter() {
                if let Some(x) = map.get_mut(m.name) {
                    cloudtrail_dates(svc, m.target, x, depth + 1);
                }
            }
        }
        (ShapeKind::List { member, .. }, Value::Array(items)) => {
            for x in items {
                cloudtrail_dates(svc, *member, x, depth + 1);
            }
        }
        (ShapeKind::Map { value, .. }, Value::Object(map)) => {
            for x in map.values_mut() {
                cloudtrail_dates(svc, *value, x, depth + 1);
            }
        }
        (ShapeKind::Timestamp { .. }, v @ Value::Number(_)) => {
            if let Some(t) = v
                .as_f64()
                .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs.floor() as i64).ok())
            {
                *v = Value::String(cloudtrail_date(t));
            }
        }
        _ => {}
    }
}

/// `Dec 3, 2026, 12:37:05 PM`: how CloudTrail writes dates inside response elements.
fn cloudtrail_date(t: OffsetDateTime) -> String {
    let month = match t.month() {
        time::Month::January => "Jan",
        time::Month::February => "Feb",
        time::Month::March => "Mar",
        time::Month::April => "Apr",
        time::Month::May => "May",
        time::Month::June => "Jun",
        time::Month::July => "Jul",
        time::Month::August => "Aug",
        time::Month::September => "Sep",
        time::Month::October => "Oct",
        time::Month::November => "Nov",
        time::Month::December => "Dec",
    };
    let hour = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    let half = if t.hour() < 12 { "AM" } else { "PM" };
    format!(
        "{month} {}, {}, {hour}:{:02}:{:02} {half}",
        t.day(),
        t.year(),
        t.minute(),
        t.second()
    )
}

/// A member's name as CloudTrail records it: the first letter in lower case (`secretId`), and a
/// name all in capitals in lower case (`arn`, as Secrets Manager's records spell it since
/// February 2024; bug: `aRN`, which rules keyed on `responseElements.arn` do not match).
fn lower_camel(name: &str) -> String {
    if name.len() > 1 && name.bytes().all(|b| b.is_ascii_uppercase()) {
        return name.to_ascii_lowercase();
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn response_dates_are_written_as_cloudtrail_writes_them() {
        let t = |s| OffsetDateTime::from_unix_timestamp(s).unwrap();
        assert_eq!(
            cloudtrail_date(t(1_796_299_953)),
            "Dec 3, 2026, 12:12:33 PM"
        );
        assert_eq!(
            cloudtrail_date(t(1_796_299_953 - 3600 * 12)),
            "Dec 3, 2026, 12:12:33 AM"
        );
        assert_eq!(
            cloudtrail_date(t(1_796_299_953 + 3600 * 13)),
            "Dec 4, 2026, 1:12:33 AM"
        );
    }

    /// Regression: UploadServerCertificate's `PrivateKey` and CreateCustomKeyStore's
    /// `KeyStorePassword` reached audit records in clear, because the list was written by hand.
    /// Every member whose shape a served model marks `sensitive` is now on it (or inside one that
    /// is).
    #[test]
    fn every_member_the_models_mark_sensitive_is_hidden() {
        use palisade_model::schema::{ServiceInfo, ShapeId, ShapeKind};
        fn walk(svc: &ServiceInfo, id: ShapeId, seen: &mut Vec<u16>, missing: &mut Vec<String>) {
            if seen.contains(&id.0) {
                return;
            }
            seen.push(id.0);
            let Some(shape) = svc.shape(id) else { return };
            match &shape.kind {
                ShapeKind::Structure { members } => {
                    for m in *members {
                        if SENSITIVE_MEMBERS.contains(&m.name) || OMITTED_MEMBERS.contains(&m.name)
                        {
                            continue;
                        }
                        let target = svc.shape(m.target);
                        let list_of_sensitive = match target.map(|t| &t.kind) {
                            Some(ShapeKind::List { member, .. }) => {
                                svc.shape(*member).is_some_and(|e| e.sensitive)
                            }
                            _ => false,
                        };
                        if target.is_some_and(|t| t.sensitive) || list_of_sensitive {
                            missing.push(format!("{}: {}.{}", svc.name, shape.name, m.name));
                        }
                        walk(svc, m.target, seen, missing);
                    }
                }
                ShapeKind::List { member, .. } => walk(svc, *member, seen, missing),
                ShapeKind::Map { key, value, .. } => {
                    walk(svc, *key, seen, missing);
                    walk(svc, *value, seen, missing);
                }
                _ => {}
            }
        }
        let mut missing = Vec::new();
        for svc in palisade_model::all_services() {
            let mut seen = Vec::new();
            for op in svc.operations {
                for id in [op.input, op.output].into_iter().flatten() {
                    walk(svc, id, &mut seen, &mut missing);
                }
            }
        }
        assert!(
            missing.is_empty(),
            "sensitive members an audit record would show: {missing:?}"
        );
    }

    #[test]
    fn encryption_context_keys_are_recorded_as_given() {
        // Regression: map keys were taken for member names, so `Purpose` and `purpose` merged
        // and a context key named `Signature` vanished from the record.
        let kms = palisade_model::all_services()
            .iter()
            .copied()
            .find(|s| s.name == "kms")
            .unwrap();
        let op = kms.operation("Encrypt").unwrap();
        let v = json!({"KeyId": "k", "Plaintext": "cGxhaW4=",
            "EncryptionContext": {"Purpose": "a", "purpose": "b", "Signature": "zz", "SecretARN": "s"}});
        let r = redact_shaped(kms, op.input, &v);
        assert_eq!(
            r["encryptionContext"],
            json!({"Purpose": "a", "purpose": "b", "Signature": "zz", "SecretARN": "s"})
        );
        assert_eq!(r["keyId"], "k");
        assert_eq!(r["plaintext"], "HIDDEN_DUE_TO_SECURITY_REASONS");
        let grant = kms.operation("CreateGrant").unwrap();
        let v =
            json!({"KeyId": "k", "Constraints": {"EncryptionContextSubset": {"Department": "IT"}}});
        let r = redact_shaped(kms, grant.input, &v);
        assert_eq!(
            r["constraints"]["encryptionContextSubset"],
            json!({"Department": "IT"})
        );
    }

    #[test]
    fn secrets_never_reach_the_audit_record() {
        let v = json!({"SecretId": "db", "SecretString": "hunter2", "Tags": [{"Key": "a", "Password": "p"}]});
        let r = redact(None, &v, 0);
        assert_eq!(r["secretId"], "db");
        assert_eq!(r["secretString"], "HIDDEN_DUE_TO_SECURITY_REASONS");
        assert_eq!(r["tags"][0]["key"], "a");
        assert!(!r.to_string().contains("hunter2"));
        assert!(!r.to_string().contains("\"p\""));
    }
}
