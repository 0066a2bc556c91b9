//! CloudTrail-shaped audit events.
//!
//! Every request that reaches the gateway, whether it was allowed, denied or failed, becomes one
//! [`Event`] in CloudTrail's record schema (eventVersion 1.11). This crate only defines the shape
//! and how it is built; the server fills it in and the store persists it. Nothing here knows about
//! HTTP.
//!
//! Secret values, plaintexts and key material must never reach an event: the server passes
//! `requestParameters` and `responseElements` through a per-operation redaction step before they
//! get here, in the same way AWS leaves them out of its own records.

pub mod cli;
pub mod delivery;
pub mod merkle;
pub mod trail;
pub mod validate;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The CloudTrail record version this crate writes.
pub const EVENT_VERSION: &str = "1.11";

/// Who made the request, in CloudTrail's `userIdentity` shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `Root`, `IAMUser`, `AssumedRole`, `FederatedUser`, `WebIdentityUser`, `AWSService` or
    /// `Unknown`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The principal's unique id (the account id for the root user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// The principal's ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The account that owns the principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The access key id that signed the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The friendly name of an IAM user (absent for the root user and roles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Session details for temporary credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_context: Option<Value>,
    /// For a `WebIdentityUser`, the issuer of its token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<String>,
    /// The service that made the call on the principal's behalf (Secrets Manager's calls to
    /// KMS: `secretsmanager.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

/// TLS details of the connection the request came over.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsDetails {
    /// e.g. `TLSv1.3`.
    pub tls_version: String,
    /// e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
    /// The Host header the client sent.
    pub client_provided_host_header: String,
}

/// One resource the request touched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// The resource ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// The owning account.
    #[serde(rename = "accountId")]
    pub account_id: String,
    /// e.g. `AWS::KMS::Key`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A fresh time-ordered (v7) event id. The random bits come from AWS-LC's user-space DRBG:
/// `Uuid::now_v7` asks the kernel for them (a `getrandom` syscall) on every event.
fn event_id() -> String {
    let mut random = [0u8; 10];
    if aws_lc_rs::rand::fill(&mut random).is_err() {
        return uuid::Uuid::now_v7().to_string();
    }
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    uuid::Builder::from_unix_timestamp_millis(ms, &random)
        .into_uuid()
        .to_string()
}

/// One CloudTrail record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Always [`EVENT_VERSION`] for events this crate writes.
    pub event_version: String,
    /// Who made the request.
    pub user_identity: UserIdentity,
    /// RFC 3339 UTC time, second precision, as CloudTrail writes it.
    pub event_time: String,
    /// `<service>.amazonaws.com`.
    pub event_source: String,
    /// The operation name, e.g. `GetCallerIdentity`.
    pub event_name: String,
    /// The region the request was addressed to.
    pub aws_region: String,
    /// The client's IP address.
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    /// The client's User-Agent header.
    pub user_agent: String,
    /// The error code when the request failed or was denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The error message when the request failed or was denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The request's parameters, redacted.
    pub request_parameters: Option<Value>,
    /// The response's elements, redacted; `null` for read-only calls, as in CloudTrail.
    pub response_elements: Option<Value>,
    /// What the service adds to the record (KMS's `keyMaterialId`; `wouldBeDenied` in
    /// `audit` enforcement).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub additional_event_data: Option<Value>,
    /// The request id returned to the client.
    #[serde(rename = "requestID")]
    pub request_id: String,
    /// A unique id for this event.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// Whether the operation only reads.
    pub read_only: bool,
    /// The resources the request touched.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub resources: Vec<Resource>,
    /// `AwsApiCall` for every request through the gateway.
    pub event_type: String,
    /// Whether this is a management event (all control-plane calls are).
    pub management_event: bool,
    /// The account the event is delivered to.
    pub recipient_account_id: String,
    /// What a service's own event (`AwsServiceEvent`) did, in the service's words: KMS's
    /// expired material, rotations.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service_event_details: Option<Value>,
    /// Set when one call is recorded in two accounts (the caller's and the resource owner's,
    /// for a cross-account call): the same value in both events, whose `eventID`s differ.
    #[serde(
        rename = "sharedEventID",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub shared_event_id: Option<String>,
    /// `Management` or `Data`.
    pub event_category: String,
    /// Present when the request came over TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_details: Option<TlsDetails>,
}

impl Event {
    /// Starts an event for one API call made at `time`.
    pub fn api_call(
        time: OffsetDateTime,
        service: &str,
        operation: &str,
        region: &str,
        request_id: &str,
    ) -> Self {
        Self {
            event_version: EVENT_VERSION.to_owned(),
            user_identity: UserIdentity {
                kind: "Unknown".to_owned(),
                ..UserIdentity::default()
            },
            event_time: format_event_time(time),
            event_source: format!("{service}.amazonaws.com"),
            event_name: operation.to_owned(),
            aws_region: region.to_owned(),
            source_ip_address: String::new(),
            user_agent: String::new(),
            error_code: None,
            error_message: None,
            request_parameters: None,
            response_elements: None,
            additional_event_data: None,
            request_id: request_id.to_owned(),
            // Time-ordered (v7): events are appended to the event-id index instead of scattered
            // through it, which keeps the audit write cheap at high request rates.
            event_id: event_id(),
            read_only: is_read_only(operation),
            resources: Vec::new(),
            event_type: "AwsApiCall".to_owned(),
            management_event: true,
            recipient_account_id: String::new(),
            service_event_details: None,
            event_category: "Management".to_owned(),
            shared_event_id: None,
            tls_details: None,
        }
    }

    /// Starts an event for what service `service` did on its own (`AwsServiceEvent`): a
    /// rotation, a key's deletion when due. As in AWS's records, the identity, source address
    /// and user agent all name the service, and `resource` is what it acted on.
    pub fn service_event(service: &str, name: &str, region: &str, resource: Resource) -> Self {
        let host = format!("{service}.amazonaws.com");
        let mut event = Self::api_call(
            OffsetDateTime::now_utc(),
            service,
            name,
            region,
            &uuid::Uuid::new_v4().to_string(),
        );
        event.user_identity.kind = "AWSService".to_owned();
        event.user_identity.account_id = Some(resource.account_id.clone());
        event.user_identity.invoked_by = Some(host.clone());
        event.source_ip_address.clone_from(&host);
        event.user_agent = host;
        "AwsServiceEvent".clone_into(&mut event.event_type);
        event.read_only = false;
        event.recipient_account_id.clone_from(&resource.account_id);
        event.resources = vec![resource];
        event
    }

    /// Whether the call was refused or failed.
    pub fn is_error(&self) -> bool {
        self.error_code.is_some()
    }
}

/// Formats a time as CloudTrail does: `2026-11-23T20:16:50Z`.
pub fn format_event_time(time: OffsetDateTime) -> String {
    let t = time
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(time);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// CloudTrail's `readOnly` flag, derived from the operation's verb as AWS does for the services
/// Palisade serves: reads are `Get*`, `List*`, `Describe*`, `Lookup*` and the few verbs that only
/// compute (`Decrypt` is not among them: AWS records it as `readOnly: true`, so it is listed).
pub fn is_read_only(operation: &str) -> bool {
    // GetFederationToken mints credentials for a new principal: CloudTrail records it as a
    // write (`"readOnly": false`), so a search for writes finds this persistence technique.
    if operation == "GetFederationToken" {
        return false;
    }
    const READ_PREFIXES: [&str; 7] = [
        "Get", "BatchGet", "List", "Describe", "Lookup", "Simulate", "Validate",
    ];
    // KMS's cryptographic operations change no resource: CloudTrail marks them read-only and
    // records no response elements (the data key of GenerateDataKey, say).
    const READ_OPS: [&str; 16] = [
        "Decrypt",
        "Encrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateMac",
        "GenerateRandom",
        "Sign",
        "Verify",
        "VerifyMac",
        "DeriveSharedSecret",
        "Encapsulate",
        "Decapsulate",
        "DecodeAuthorizationMessage",
    ];
    READ_PREFIXES.iter().any(|p| operation.starts_with(p)) || READ_OPS.contains(&operation)
}

/// Whether the record of a successful `operation` keeps its response in `responseElements`.
/// CloudTrail leaves it out for read-only calls, except the identity of credentials or a token
/// issued (the access key id, the token id; never a secret): without it a temporary key seen
/// in later records cannot be traced back to the call that issued it.
pub fn records_response(operation: &str) -> bool {
    !is_read_only(operation)
        || matches!(
            operation,
            "GetSessionToken" | "GetFederationToken" | "GetWebIdentityToken"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_serialises_with_cloudtrail_field_names() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let mut e = Event::api_call(t, "sts", "GetCallerIdentity", "us-east-1", "req-1");
        e.source_ip_address = "127.0.0.1".into();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["eventVersion"], "1.11");
        assert_eq!(v["eventSource"], "sts.amazonaws.com");
        assert_eq!(v["eventTime"], "2023-11-14T22:13:20Z");
        assert_eq!(v["sourceIPAddress"], "127.0.0.1");
        assert_eq!(v["requestID"], "req-1");
        assert_eq!(v["readOnly"], true);
        assert_eq!(v["userIdentity"]["type"], "Unknown");
        assert!(v.get("errorCode").is_none());
    }

    #[test]
    fn read_only_follows_the_verb() {
        assert!(is_read_only("ListKeys"));
        assert!(is_read_only("GetCallerIdentity"));
        assert!(!is_read_only("CreateKey"));
        assert!(!is_read_only("PutSecretValue"));
        assert!(is_read_only("GenerateDataKey"));
        assert!(is_read_only("Sign"));
    }
}
