//! The one path every API request takes:
//!
//! ```text
//! decode → authenticate → authorize → handle → audit → encode
//! ```
//!
//! Each step either passes the request on or produces an [`ApiError`]; whatever happens, the audit
//! step records the outcome before the encode step answers, so that allowed, denied and failed
//! requests alike leave an event.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body as HttpBody;
use serde_json::Value;
use time::OffsetDateTime;

use crate::auth;
use crate::context::{ConnInfo, RequestContext};
use crate::error::ApiError;
use crate::protocol::{self, Body};
use crate::route::{self, Route, WireProtocol};
use crate::services;
use crate::state::AppState;

/// How long a request's body may take to arrive once its head has.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A fresh v4 request id. Its random bytes come from AWS-LC's user-space DRBG: `Uuid::new_v4`
/// asks the kernel (one `getrandom` syscall) for every request, which cost more than
/// verifying the signature.
fn request_id() -> String {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return uuid::Uuid::new_v4().to_string();
    }
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Runs one API request through the pipeline.
pub async fn handle<B>(state: &AppState, conn: &ConnInfo, request: Request<B>) -> Response<Body>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    // Read whatever bytes the client sent (bug: one byte past ASCII made the User-Agent
    // empty, so a Deny on `aws:UserAgent` did not match and the event lost the agent): UTF-8
    // when they are, else ISO-8859-1, which HTTP's header text was and Python's http.client
    // (under boto3) still writes.
    let header = |name: http::header::HeaderName| {
        parts
            .headers
            .get(name)
            .map(|v| match std::str::from_utf8(v.as_bytes()) {
                Ok(s) => s.to_owned(),
                Err(_) => v.as_bytes().iter().map(|&b| char::from(b)).collect(),
            })
            .unwrap_or_default()
    };
    let mut ctx = RequestContext {
        request_id: request_id(),
        time: OffsetDateTime::now_utc(),
        // An IPv4 client of a dual-stack listener arrives as `::ffff:a.b.c.d`; AWS evaluates
        // and records it as IPv4 (bug: `aws:SourceIp` IPv4 ranges did not match it, so a Deny
        // by address failed open).
        source_ip: conn.remote.ip().to_canonical().to_string(),
        user_agent: header(http::header::USER_AGENT),
        host: header(http::header::HOST),
        tls: conn.tls.clone(),
        region: state.config.region.clone(),
        route: None,
        caller: None,
        claimed_access_key: None,
        claimed_key_owner: None,
        request_parameters: None,
        would_be_denied: None,
        via_service: None,
        resources: Vec::new(),
        kms_days_unused: None,
        key_material_ids: Vec::new(),
    };

    // Fail closed: while events cannot be written, nothing else is done either.
    let refuse = state.config.audit_enabled
        && state.config.audit_fail_closed
        && !state.audit.healthy()
        && !state.audit.recovered().await;
    // Room in the event log for this request's events is promised once it is authenticated,
    // before it runs (see `admit`); it is held until the events are durable.
    let mut admission = Admission::default();
    let outcome = if refuse {
        read_refused(state, &mut ctx, &parts, body).await;
        Err(ApiError::new(
            "ServiceUnavailable",
            "the audit trail cannot be written, so requests are refused (--audit-fail-closed)",
            http::StatusCode::SERVICE_UNAVAILABLE,
        ))
    } else {
        run(state, &mut ctx, &parts, body, &mut admission).await
    };
    let refuse = refuse || admission.refused;

    // Audit: the event is durable before the client hears anything. A request refused before
    // its caller was known is recorded as sampled (see `UnauthenticatedEvents`).
    let sampled_out = state.config.audit_enabled
        && !refuse
        && ctx.caller.is_none()
        && outcome.is_err()
        && !state.unauthenticated_events.admit(
            crate::gateway::client_address(conn.remote.ip()),
            ctx.claimed_key_owner.as_ref(),
        );
    let additional = ctx.additional_event_data();
    let mut event = || {
        ctx.to_event(
            outcome.as_ref().map(|(_, audit)| audit),
            &state.config.account_id,
        )
    };
    let recorded = if refuse {
        // Not waited for: while the store fails, a refusal must not wait for it too.
        if let Err(e) = state.audit.record_detached(event(), additional) {
            tracing::debug!(error = %e, request_id = %ctx.request_id, "audit event of a refused request dropped");
        }
        Ok(())
    } else if state.config.audit_enabled && !sampled_out {
        state.audit.record_call(event(), additional).await
    } else {
        Ok(())
    };
    // Released once the events are durable (or failed): their room is taken or free again.
    drop(admission);
    let outcome = match recorded {
        Ok(()) => outcome,
        Err(e) if state.config.audit_fail_closed => {
            // The client hears the cause in plain words; the detail is for the operator.
            tracing::error!(error = %e, request_id = %ctx.request_id, "audit event not written");
            Err(e.unavailable())
        }
        Err(e) => {
            tracing::error!(error = %e, request_id = %ctx.request_id, "audit event lost (fail-open)");
            outcome
        }
    };

    // Encode.
    let json = protocol::accepts_json(&parts.headers);
    match (outcome, ctx.route) {
        (Ok((output, _)), Some(route)) => {
            protocol::encode_output(route, &output, &ctx.request_id, json)
        }
        (Ok(_), None) => protocol::encode_error(
            route::wire_protocol(&parts.headers),
            None,
            &ApiError::internal("a response without a route"),
            &ctx.request_id,
            json,
        ),
        (Err(error), route) => {
            let protocol = route.map_or_else(
                || route::wire_protocol(&parts.headers),
                |r| WireProtocol::from(r.service.protocol),
            );
            let service = route.map(|r| r.service);
            protocol::encode_error(protocol, service, &error, &ctx.request_id, json)
        }
    }
}

/// How long a refused request's body may take to arrive: the refusal waits for nothing else.
const REFUSED_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the body of a request refused before it runs (fail-closed), bounded in size and time,
/// and takes from it what the refusal's event can name: the operation and the claimed access
/// key. Unread, the body made hyper drop the keep-alive connection without a word (bug: clients
/// saw BrokenPipe or ConnectionClosedError instead of the 503), and the event said only
/// `Unknown`. Nothing is authenticated: the key is recorded as claimed, the Region is the
/// server's.
async fn read_refused<B>(
    state: &AppState,
    ctx: &mut RequestContext,
    parts: &http::request::Parts,
    body: B,
) where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = state.config.max_body_bytes;
    let declared = declared_length(parts);
    if declared.is_some_and(|n| n > limit) {
        // Not read, as any body over the limit: hyper closes the connection after the answer.
        return;
    }
    // Within the body budget, taken at once for the declared length: while refusing, the
    // server waits for no room (bug: refused requests' bodies were read outside the budget).
    let wanted = u32::try_from(declared.unwrap_or(limit).min(limit)).unwrap_or(u32::MAX);
    let Ok(_room) = state.body_budget.clone().try_acquire_many_owned(wanted) else {
        return;
    };
    let Ok(Ok(collected)) =
        tokio::time::timeout(REFUSED_BODY_TIMEOUT, Limited::new(body, limit).collect()).await
    else {
        return;
    };
    let body = collected.to_bytes();
    let content_type = header_str(parts, http::header::CONTENT_TYPE);
    let params = protocol::params(parts.uri.query(), content_type, &body);
    let protocol = route::wire_protocol(&parts.headers);
    let claims = auth::parse(parts, protocol).ok().flatten();
    if let Some(c) = &claims {
        ctx.claimed_access_key = Some(c.access_key_id().to_owned());
    }
    if let Ok(service) = route::service(
        claims.as_ref().map(|c| c.service()),
        &parts.headers,
        &params,
    ) && let Ok(route) = route::operation(service, &parts.headers, &params)
    {
        ctx.route = Some(route);
    }
}

/// The body length the request declares, if it says one.
fn declared_length(parts: &http::request::Parts) -> Option<usize> {
    header_str(parts, http::header::CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok())
}

fn header_str(parts: &http::request::Parts, name: http::header::HeaderName) -> Option<&str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A request's admission to run: the event-log room promised to it, or its refusal for want of
/// room, and its body's room in memory. Held until its events are durable.
#[derive(Default)]
struct Admission {
    promises: Vec<crate::audit::Promise>,
    refused: bool,
    /// The request body's room in memory (`AppState::body_budget`).
    body: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Reads a request body, bounded in size and time, taking room for each part of it in the
/// server's body budget as it arrives: bodies are read before the signature can be checked,
/// and one HTTP/2 connection may send many (bug: unauthenticated streams made the server hold
/// 200 MB per connection). Room is taken for bytes received, not for a declared length, so a
/// client that declares large bodies and sends nothing holds none.
async fn read_body<B>(
    state: &AppState,
    body: B,
    limit: usize,
    admission: &mut Admission,
) -> Result<Bytes, ApiError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // A body that stops arriving is given up on (bug: a client that sent a head and part of
    // its body held its connection, and a connection slot, forever).
    let deadline = tokio::time::Instant::now() + BODY_TIMEOUT;
    let timed_out = || {
        ApiError::new(
            "RequestTimeout",
            format!(
                "the request body was not received within {} seconds",
                BODY_TIMEOUT.as_secs()
            ),
            http::StatusCode::REQUEST_TIMEOUT,
        )
    };
    let mut body = std::pin::pin!(Limited::new(body, limit));
    let mut buf = bytes::BytesMut::new();
    loop {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .map_err(|_| timed_out())?;
        let Some(frame) = frame else {
            break;
        };
        let frame = frame.map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::too_large(limit)
            } else {
                ApiError::bad_request(
                    "IncompleteBody",
                    format!("the request body could not be read: {e}"),
                )
            }
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
        if n > 0 {
            let room =
                tokio::time::timeout_at(deadline, state.body_budget.clone().acquire_many_owned(n))
                    .await;
            let Ok(Ok(permit)) = room else {
                return Err(ApiError::new(
                    "ServiceUnavailable",
                    "the server is receiving too many request bodies at once; retry later",
                    http::StatusCode::SERVICE_UNAVAILABLE,
                ));
            };
            match &mut admission.body {
                Some(held) => held.merge(permit),
                None => admission.body = Some(permit),
            }
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// Promises room in the event log for a request's events before it runs: refused now, nothing
/// is changed; once its handler has made a change, its events must fit (bug: a burst of
/// requests under way when the disk filled outgrew the room, and their changes were kept
/// without events while they were answered 503). Called once the body has arrived, for the
/// small event any request may end with (`body_len` 0: its text fields are capped,
/// `context::cap`), and again once the caller is authenticated, for events the size of its
/// body (bug: promised from the declared Content-Length before the signature was checked, so
/// anonymous clients holding half-sent requests made the server write gigabytes of zeros ahead
/// of the log).
async fn admit(
    state: &AppState,
    body_len: usize,
    admission: &mut Admission,
) -> Result<(), ApiError> {
    if !(state.config.audit_enabled && state.config.audit_fail_closed) {
        return Ok(());
    }
    // The first promise covers a small event; the second only what the body's size adds to it
    // (bug: promising both whole doubled the room held by requests under way, past the log's
    // reserve, so that requests wrote zeros and synced on the way in).
    let small = crate::audit::event_bound(0);
    let bytes = if admission.promises.is_empty() {
        small
    } else {
        crate::audit::event_bound(body_len as u64).saturating_sub(small)
    };
    if bytes == 0 {
        return Ok(());
    }
    let promise = state.audit.promise(bytes).await;
    let Some(promise) = promise else {
        admission.refused = true;
        return Err(ApiError::new(
            "ServiceUnavailable",
            "the audit trail has no room for this request's event, so it is refused before it \
             runs (--audit-fail-closed)",
            http::StatusCode::SERVICE_UNAVAILABLE,
        ));
    };
    admission.promises.push(promise);
    Ok(())
}

/// Decode, authenticate, authorize and handle. Returns the output and what of it the audit record
/// may show.
async fn run<B>(
    state: &AppState,
    ctx: &mut RequestContext,
    parts: &http::request::Parts,
    body: B,
    admission: &mut Admission,
) -> Result<(Value, Option<Value>), ApiError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Decode: the body (bounded), the signature's claims, the route.
    let limit = state.config.max_body_bytes;
    let declared = declared_length(parts);
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    let body = read_body(state, body, limit, admission).await?;
    // Every request whose body arrived is promised room for a small event (its text fields are
    // capped), so that refused and failed requests cannot take the room promised to requests
    // under way; an authenticated one is promised room for its whole events below.
    admit(state, 0, admission).await?;
    let content_type = header_str(parts, http::header::CONTENT_TYPE);
    let params = protocol::params(parts.uri.query(), content_type, &body);
    let protocol = route::wire_protocol(&parts.headers);
    let claims = auth::parse(parts, protocol)?;
    if let Some(c) = &claims {
        ctx.claimed_access_key = Some(c.access_key_id().to_owned());
    }
    let service = route::service(
        claims.as_ref().map(|c| c.service()),
        &parts.headers,
        &params,
    )?;
    let route = route::operation(service, &parts.headers, &params)?;
    ctx.route = Some(route);

    // Authenticate: by the signature, or, for the calls AWS takes unsigned, by their token or
    // assertion.
    let (caller, input) = if services::sts::is_unsigned(route) {
        route::check_version(route, &params)?;
        let input = protocol::decode_input(route, &params, &body)?;
        ctx.request_parameters = audited_parameters(state, route, &input);
        let caller = services::sts::federated_caller(state, route, &input).await?;
        ctx.caller = Some(caller.clone());
        (caller, input)
    } else {
        let caller = auth::authenticate(
            state,
            parts,
            &body,
            claims.as_ref(),
            route.service.protocol.into(),
            &mut ctx.claimed_key_owner,
        )
        .await?;
        ctx.caller = Some(caller.clone());
        // The signed Region is the caller's word only once the signature proves it: a request
        // that fails authentication is filed in the server's Region, so that anyone cannot
        // make the server keep events (and trail keys and directories) for Regions of their
        // choosing.
        if let Some(c) = &claims {
            ctx.region = auth::request_region(
                c.region(),
                route.service.signing_name,
                route.service.protocol.into(),
            )?;
        }
        route::check_version(route, &params)?;
        let input = protocol::decode_input(route, &params, &body)?;
        ctx.request_parameters = audited_parameters(state, route, &input);
        incoming_transitive_tags(&caller, route, ctx.request_parameters.as_mut());
        (caller, input)
    };

    admit(state, body.len(), admission).await?;

    if route.service.signing_name == "iam" {
        // IAM is global: AWS records its calls, and sets `aws:RequestedRegion`, as us-east-1
        // whatever Region the client signed for (bug: a call signed for any other Region name
        // was filed there, out of sight of the us-east-1 event history and its trails).
        ctx.region = IAM_REGION.to_owned();
    }

    if route.service.signing_name == "kms" {
        ctx.kms_days_unused =
            services::kms::days_unused(state, &caller, &ctx.region, route.operation.name, &input)
                .await;
    }

    // Authorize.
    state
        .authorizer
        .authorize(state, &caller, route, ctx, &input)?;

    // Handle.
    let origin = crate::context::Origin::of(ctx);
    let output = crate::context::ORIGIN
        .scope(
            origin,
            services::dispatch(state, &caller, &ctx.region, route, input),
        )
        .await?;
    let mut output = output;
    if route.service.signing_name == "kms" {
        // The material a cryptographic call used, which KMS records as
        // additionalEventData.keyMaterialId (KMS developer guide, "Encrypt", "Decrypt"), and
        // ReEncrypt as sourceKeyMaterialId and destinationKeyMaterialId ("ReEncrypt").
        let material = |output: &Value, member: &str| {
            output
                .get(member)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        if route.operation.name == "Encrypt" {
            ctx.key_material_ids.extend(
                output
                    .as_object_mut()
                    .and_then(|o| o.remove("KeyMaterialId"))
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .map(|id| ("keyMaterialId", id)),
            );
        } else if route.operation.name == "ReEncrypt" {
            for (name, member) in [
                ("sourceKeyMaterialId", "SourceKeyMaterialId"),
                ("destinationKeyMaterialId", "DestinationKeyMaterialId"),
            ] {
                ctx.key_material_ids
                    .extend(material(&output, member).map(|id| (name, id)));
            }
        } else if KEY_MATERIAL_RECORDED.contains(&route.operation.name) {
            ctx.key_material_ids
                .extend(material(&output, "KeyMaterialId").map(|id| ("keyMaterialId", id)));
        }
    }
    // CloudTrail records no response elements for read-only calls (KMS Encrypt,
    // GetSecretValue, ...): redacting a copy of their output would be wasted.
    let mut audited = (state.config.audit_enabled
        && palisade_audit::records_response(route.operation.name))
    .then(|| crate::context::audit_response(route, &output));
    if route.service.signing_name == "kms"
        && route.operation.name == "CreateGrant"
        && let Some(map) = audited.as_mut().and_then(Value::as_object_mut)
    {
        // A grant token is a bearer credential (RetireGrant takes it alone): CloudTrail records
        // the grant's id and key instead (KMS developer guide, "CreateGrant" CloudTrail example).
        map.remove("grantToken");
        if let Some(key) = ctx.resources.first() {
            map.insert("keyId".to_owned(), Value::String(key.clone()));
        }
    }
    if route.service.signing_name == "kms"
        && route.operation.name == "UpdatePrimaryRegion"
        && let Some(key) = ctx.resources.first()
    {
        // UpdatePrimaryRegion returns nothing, but CloudTrail records the affected key's ARN
        // as responseElements.keyId (KMS developer guide, "UpdatePrimaryRegion").
        audited = audited.map(|_| serde_json::json!({"keyId": key}));
    }
    Ok((output, audited))
}

/// KMS operations whose records name the key material used, from their response's
/// `KeyMaterialId` (Encrypt's response has none: its handler passes it, and it is taken out).
const KEY_MATERIAL_RECORDED: &[&str] = &[
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
];

/// The request as its audit event shows it, when events are recorded.
/// A role session that assumes another role passes its transitive tags on; CloudTrail records
/// them in the AssumeRole event as `incomingTransitiveTags`.
fn incoming_transitive_tags(
    caller: &crate::identity::Caller,
    route: Route,
    params: Option<&mut Value>,
) {
    let (Some(session), Some(params)) = (caller.session.as_ref(), params) else {
        return;
    };
    if route.service.signing_name != "sts" || route.operation.name != "AssumeRole" {
        return;
    }
    let incoming: serde_json::Map<String, Value> = session
        .transitive_tag_keys
        .iter()
        .filter_map(|k| {
            let tag = session.tags.iter().find(|t| &t.key == k)?;
            Some((tag.key.clone(), Value::String(tag.value.clone())))
        })
        .collect();
    if !incoming.is_empty() {
        crate::services::set(params, "incomingTransitiveTags", Value::Object(incoming));
    }
}

/// The Region IAM's calls are made in, whatever Region the client signed for.
const IAM_REGION: &str = "us-east-1";

fn audited_parameters(state: &AppState, route: Route, input: &Value) -> Option<Value> {
    if !state.config.audit_enabled {
        return None;
    }
    let mut params = crate::context::redact_shaped(route.service, route.operation.input, input);
    if route.service.signing_name == "kms"
        && let Some(map) = params.as_object_mut()
    {
        // KMS's records leave the plaintext out altogether, and always name the encryption
        // algorithm a call used, the default included (AWS KMS developer guide, "Decrypt" and
        // "Encrypt" CloudTrail examples).
        map.remove("plaintext");
        let algorithms: &[&str] = match route.operation.name {
            "Encrypt" | "Decrypt" => &["encryptionAlgorithm"],
            "ReEncrypt" => &[
                "sourceEncryptionAlgorithm",
                "destinationEncryptionAlgorithm",
            ],
            _ => &[],
        };
        for a in algorithms {
            map.entry(*a)
                .or_insert_with(|| Value::String("SYMMETRIC_DEFAULT".to_owned()));
        }
    }
    Some(params)
}
