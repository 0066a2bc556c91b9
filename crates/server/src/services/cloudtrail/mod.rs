//! AWS CloudTrail (awsJson1_1, API 2013-11-01): LookupEvents over the audit trail every request
//! already writes, and the trail API (trails, logging status, event selectors, tags).
//!
//! Trails are kept as documents (`cloudtrail.trail`); [`delivery`] writes their log files,
//! digests and checkpoints, and `ListPublicKeys` serves the keys that sign them.

pub mod authz;
pub mod delivery;

use std::collections::BTreeMap;
use std::sync::RwLock;

use palisade_store::{Document, DocumentChange, EventAttribute, EventQuery};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::identity::Caller;
use crate::state::AppState;

const TRAILS: &str = "cloudtrail.trail";

/// A trail as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrailRecord {
    account: String,
    home_region: String,
    name: String,
    arn: String,
    bucket: String,
    key_prefix: Option<String>,
    sns_topic: Option<String>,
    include_global: bool,
    multi_region: bool,
    validation: bool,
    log_group: Option<String>,
    log_role: Option<String>,
    kms_key: Option<String>,
    organization: bool,
    logging: bool,
    start_logging: Option<i64>,
    stop_logging: Option<i64>,
    /// The event log's newest position when logging last started and stopped: the trail
    /// delivers the events written after the start and up to the stop (and StopLogging's own,
    /// written just after). Whole-second times cannot tell apart events of the same second.
    /// `None` in trails stored before positions were kept, which fall back to the times.
    #[serde(default)]
    start_position: Option<i64>,
    #[serde(default)]
    stop_position: Option<i64>,
    /// Drawn at CreateTrail, and part of the trail's tag in file names: a trail deleted and
    /// created again with the same name and bucket does not reuse the first one's file names.
    #[serde(default)]
    generation: Option<String>,
    event_selectors: Option<Value>,
    advanced_event_selectors: Option<Value>,
    tags: Vec<(String, String)>,
}

/// CloudTrail's trails, in memory over the store.
#[derive(Debug, Default)]
pub struct Trails {
    data: RwLock<BTreeMap<String, TrailRecord>>,
    writer: tokio::sync::Mutex<()>,
    /// Delivery progress and signing keys.
    pub delivery: delivery::Delivery,
}

impl Trails {
    /// Reads the trails from the store.
    pub async fn load(
        &self,
        store: &dyn palisade_store::Store,
    ) -> Result<(), palisade_store::StoreError> {
        let mut fresh = BTreeMap::new();
        for doc in store.documents(TRAILS).await? {
            if let Ok(t) = serde_json::from_slice::<TrailRecord>(&doc.body) {
                fresh.insert(t.arn.clone(), t);
            }
        }
        if let Ok(mut d) = self.data.write() {
            *d = fresh;
        }
        self.delivery.load(store).await
    }

    /// Forgets every trail (the store was reset).
    pub fn clear(&self) {
        if let Ok(mut d) = self.data.write() {
            d.clear();
        }
    }
}

fn err(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

fn s<'a>(i: &'a Value, member: &str) -> Option<&'a str> {
    i.get(member).and_then(Value::as_str)
}

fn flag(i: &Value, member: &str) -> Option<bool> {
    i.get(member).and_then(Value::as_bool)
}

/// A request's `TagsList` as (key, value) pairs.
fn tags_list(i: &Value) -> Vec<(String, String)> {
    i.get("TagsList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| {
            (
                s(t, "Key").unwrap_or_default().to_owned(),
                s(t, "Value").unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// What CloudTrail checks in event selectors beyond the model's shapes.
fn check_event_selectors(i: &Value) -> Result<(), ApiError> {
    let invalid = |m: String| Err(err("InvalidEventSelectorsException", m));
    let list = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    // One of the two, not both (InvalidParameterCombinationException is not among
    // PutEventSelectors' errors: its own exception covers "the combination of event selectors
    // or advanced event selectors"), and not neither, nor an empty list (bug: a call with
    // neither reset the trail to the default, and an empty list was kept and the trail
    // delivered nothing).
    match (i.get("EventSelectors"), i.get("AdvancedEventSelectors")) {
        (Some(_), Some(_)) => {
            return invalid(
                "EventSelectors and AdvancedEventSelectors cannot both be specified.".to_owned(),
            );
        }
        (None, None) => {
            return invalid(
                "Either EventSelectors or AdvancedEventSelectors must be specified.".to_owned(),
            );
        }
        _ => {}
    }
    let basic = list(i.get("EventSelectors"));
    let advanced = list(i.get("AdvancedEventSelectors"));
    if i.get("EventSelectors").is_some() && !(1..=5).contains(&basic.len()) {
        return invalid(format!(
            "A trail can have 1 to 5 event selectors; {} were given.",
            basic.len()
        ));
    }
    if i.get("AdvancedEventSelectors").is_some() && advanced.is_empty() {
        return invalid("A trail needs at least one advanced event selector.".to_owned());
    }
    // CloudTrail's quotas (WhatIsCloudTrail-Limits): 250 data resources across a trail's event
    // selectors, 500 condition values across its advanced event selectors.
    // Each value of a data resource is one resource.
    let resources: usize = basic
        .iter()
        .flat_map(|sel| list(sel.get("DataResources")))
        .map(|r| list(r.get("Values")).len())
        .sum();
    if resources > 250 {
        return invalid(format!(
            "A trail can have at most 250 data resources across its event selectors; {resources} were given."
        ));
    }
    let values: usize = advanced
        .iter()
        .flat_map(|sel| list(sel.get("FieldSelectors")))
        .map(|f| {
            OPERATORS
                .iter()
                .map(|op| list(f.get(*op)).len())
                .sum::<usize>()
        })
        .sum();
    if values > 500 {
        return invalid(format!(
            "A trail can have at most 500 values for all conditions in all advanced event selectors; {values} were given."
        ));
    }
    for sel in &basic {
        // CloudTrail can leave out the management events of these two sources only.
        for source in list(sel.get("ExcludeManagementEventSources")) {
            let source = source.as_str().unwrap_or_default();
            if !EXCLUDABLE_SOURCES.contains(&source) {
                return invalid(format!(
                    "ExcludeManagementEventSources value {source} is not valid: only \
                     kms.amazonaws.com and rdsdata.amazonaws.com can be excluded."
                ));
            }
        }
        for r in list(sel.get("DataResources")) {
            let kind = s(&r, "Type").unwrap_or_default();
            let prefix = match kind {
                "AWS::S3::Object" => "arn:aws:s3",
                "AWS::Lambda::Function" => "arn:aws:lambda",
                "AWS::DynamoDB::Table" => "arn:aws:dynamodb",
                other => return invalid(format!("Data resource type {other} is not valid.")),
            };
            for v in list(r.get("Values")) {
                let v = v.as_str().unwrap_or_default();
                if !v.starts_with(prefix) {
                    return invalid(format!(
                        "Value {v} is not valid for data resource type {kind}."
                    ));
                }
            }
        }
    }
    const FIELDS: &[&str] = &[
        "eventCategory",
        "eventSource",
        "eventName",
        "eventType",
        "readOnly",
        "resources.type",
        "resources.ARN",
        "errorCode",
        "sessionCredentialFromConsole",
        "userIdentity.arn",
        "vpcEndpointId",
    ];
    for sel in advanced {
        let fields = list(sel.get("FieldSelectors"));
        for f in &fields {
            let name = s(f, "Field").unwrap_or_default();
            if !FIELDS.contains(&name) {
                return invalid(format!(
                    "Field {name} is not a valid advanced event selector field."
                ));
            }
            let used: Vec<&str> = OPERATORS
                .iter()
                .copied()
                .filter(|op| f.get(*op).is_some())
                .collect();
            if used.is_empty() {
                return invalid(format!("Field selector {name} has no operator."));
            }
            // These fields take Equals only (API_AdvancedFieldSelector).
            if matches!(name, "eventCategory" | "readOnly" | "resources.type")
                && let Some(op) = used.iter().find(|op| **op != "Equals")
            {
                return invalid(format!(
                    "Field {name} only supports the Equals operator, not {op}."
                ));
            }
            if name == "readOnly" {
                for v in list(f.get("Equals")) {
                    let v = v.as_str().unwrap_or_default();
                    if !matches!(v, "true" | "false") {
                        return invalid(format!("readOnly {v} is not valid: use true or false."));
                    }
                }
            }
        }
        let category = fields
            .iter()
            .find(|f| s(f, "Field") == Some("eventCategory"))
            .map(|f| list(f.get("Equals")));
        let values = match category {
            None => {
                return invalid(
                    "Each advanced event selector needs an eventCategory field selector."
                        .to_owned(),
                );
            }
            Some(values) => values,
        };
        for v in &values {
            let v = v.as_str().unwrap_or_default();
            if !matches!(v, "Management" | "Data" | "NetworkActivity") {
                return invalid(format!("eventCategory {v} is not valid."));
            }
        }
        if values.iter().any(|v| v.as_str() == Some("Management")) {
            check_management_selector(&fields)?;
        }
    }
    Ok(())
}

/// The operators of an advanced field selector.
const OPERATORS: &[&str] = &[
    "Equals",
    "StartsWith",
    "EndsWith",
    "NotEquals",
    "NotStartsWith",
    "NotEndsWith",
];

/// The management event sources a trail can leave out (basic `ExcludeManagementEventSources`,
/// advanced `eventSource NotEquals`).
const EXCLUDABLE_SOURCES: &[&str] = &["kms.amazonaws.com", "rdsdata.amazonaws.com"];

/// A trail's management-event selector may name eventCategory, readOnly and eventSource only,
/// and eventSource only to leave out KMS or RDS Data API events (NotEquals): a trail cannot be
/// narrowed to one service's management events.
fn check_management_selector(fields: &[Value]) -> Result<(), ApiError> {
    let invalid = |m: String| Err(err("InvalidEventSelectorsException", m));
    for f in fields {
        let name = s(f, "Field").unwrap_or_default();
        match name {
            "eventCategory" | "readOnly" => {}
            "eventSource" => {
                for op in [
                    "Equals",
                    "StartsWith",
                    "EndsWith",
                    "NotStartsWith",
                    "NotEndsWith",
                ] {
                    if f.get(op).is_some() {
                        return invalid(format!(
                            "Field eventSource of management events only supports the \
                             NotEquals operator, not {op}."
                        ));
                    }
                }
                for v in f
                    .get("NotEquals")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let v = v.as_str().unwrap_or_default();
                    if !EXCLUDABLE_SOURCES.contains(&v) {
                        return invalid(format!(
                            "eventSource {v} is not valid for management events: only \
                             kms.amazonaws.com and rdsdata.amazonaws.com can be excluded."
                        ));
                    }
                }
            }
            other => {
                return invalid(format!(
                    "Field {other} is not supported for management events on a trail: use \
                     eventCategory, readOnly or eventSource."
                ));
            }
        }
    }
    Ok(())
}

/// The tags of one request: a key once, none in the `aws:` namespace, at most 50.
fn check_tags(tags: &[(String, String)]) -> Result<(), ApiError> {
    if tags.len() > 50 {
        return Err(err(
            "TagsLimitExceededException",
            "A trail can have at most 50 tags.",
        ));
    }
    for (n, (k, _)) in tags.iter().enumerate() {
        if crate::services::is_reserved_tag_key(k) {
            return Err(err(
                "InvalidTagParameterException",
                format!("Tag key {k} is reserved: keys beginning with aws: are for AWS's use."),
            ));
        }
        if tags.iter().take(n).any(|(seen, _)| seen == k) {
            return Err(err(
                "InvalidTagParameterException",
                format!("Tag key {k} is given more than once."),
            ));
        }
    }
    Ok(())
}

/// The KMS key a trail's log files would be encrypted with must exist in the trail's Region, be
/// able to encrypt, and have a key policy that lets CloudTrail use it for this trail, as AWS
/// checks (bug: any key was accepted, so a trail looked KMS-protected under a policy that would
/// have refused CloudTrail).
fn check_kms_key(cx: &Cx<'_>, key_id: &str, trail_arn: &str) -> Result<String, ApiError> {
    let key =
        crate::services::kms::service_key(cx.state, cx.caller, cx.region, key_id).map_err(|e| {
            let code = if e.code == "NotFoundException" {
                "KmsKeyNotFoundException"
            } else {
                "KmsException"
            };
            err(code, e.message)
        })?;
    if !crate::services::kms::key_policy_allows_cloudtrail(cx.state, &key, trail_arn) {
        return Err(err(
            "InsufficientEncryptionPolicyException",
            format!(
                "Insufficient permissions to access KMS key {key}: its key policy must allow \
                 cloudtrail.amazonaws.com kms:GenerateDataKey* for trail {trail_arn}."
            ),
        ));
    }
    Ok(key)
}

/// Settings CloudTrail checks on CreateTrail and UpdateTrail that Palisade cannot act on but
/// must not accept silently.
/// The KMS key is checked when it is given (`new_key`): one deleted since stays named.
fn check_settings(cx: &Cx<'_>, t: &mut TrailRecord, new_key: bool) -> Result<(), ApiError> {
    if let Some(k) = t.kms_key.as_ref().filter(|_| new_key) {
        // Kept as the key's full ARN, which the trail's KmsKeyId is ("a fully specified ARN
        // to a KMS key"; bug: an alias or bare key id was echoed back as given).
        t.kms_key = Some(check_kms_key(cx, k, &t.arn)?);
    }
    if t.log_group.is_some() && t.log_role.is_none() {
        return Err(err(
            "InvalidCloudWatchLogsRoleArnException",
            "CloudWatchLogsRoleArn is required when CloudWatchLogsLogGroupArn is given.",
        ));
    }
    if t.organization {
        // Palisade has no AWS Organizations: no account is in an organization.
        return Err(err(
            "OrganizationsNotInUseException",
            format!(
                "An organization trail cannot be created: account {} is not in an organization.",
                t.account
            ),
        ));
    }
    Ok(())
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

struct Cx<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    account: &'a str,
    region: &'a str,
}

/// Runs an operation of the service in `region`.
pub async fn handle(
    state: &AppState,
    caller: &Caller,
    region: &str,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    let cx = Cx {
        state,
        caller,
        account: caller.account_id.as_str(),
        region,
    };
    let i = &input;
    match operation {
        "LookupEvents" => lookup_events(&cx, i).await,
        "CreateTrail" => create_trail(&cx, i).await,
        "UpdateTrail" => update_trail(&cx, i).await,
        "DeleteTrail" => {
            let t = find(&cx, s(i, "Name").unwrap_or_default())?;
            // A multi-Region trail's copies in other Regions are shadows: only its home Region
            // deletes it, as every other change.
            in_home_region(&cx, &t)?;
            commit(&cx, None, Some(t.arn.clone())).await?;
            state.trails.delivery.forget(state, &t.arn).await?;
            Ok(json!({}))
        }
        "GetTrail" => {
            let t = find(&cx, s(i, "Name").unwrap_or_default())?;
            Ok(json!({"Trail": trail_json(&t)}))
        }
        "DescribeTrails" => describe_trails(&cx, i),
        "ListTrails" => {
            let trails: Vec<Value> = visible(&cx)?
                .iter()
                .map(|t| json!({"TrailARN": t.arn, "Name": t.name, "HomeRegion": t.home_region}))
                .collect();
            Ok(json!({"Trails": trails}))
        }
        "GetTrailStatus" => {
            // AWS: "To get the status of a shadow trail (a replication of the trail in another
            // Region), you must specify its ARN" (bug: its name found it).
            let name = s(i, "Name").unwrap_or_default();
            let t = find(&cx, name)?;
            if t.home_region != cx.region && t.arn != name {
                return Err(not_found(&cx, name));
            }
            let mut out = json!({"IsLogging": t.logging});
            if let Some(at) = t.start_logging {
                crate::services::set(&mut out, "StartLoggingTime", json!(at));
            }
            if let Some(at) = t.stop_logging {
                crate::services::set(&mut out, "StopLoggingTime", json!(at));
            }
            let delivery::DeliveryStatus {
                delivered,
                attempted,
                digested,
                error,
            } = state.trails.delivery.status(&t.arn).await;
            if let Some(at) = delivered {
                crate::services::set(&mut out, "LatestDeliveryTime", json!(at));
            }
            if let Some(at) = digested {
                crate::services::set(&mut out, "LatestDigestDeliveryTime", json!(at));
            }
            if let Some(e) = error {
                crate::services::set(&mut out, "LatestDeliveryError", json!(e));
            }
            // The older string members CloudTrail still returns beside the timestamps, empty
            // when nothing happened (notifications: Palisade has no SNS).
            let text = |t: Option<i64>| {
                t.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default()
            };
            for (member, value) in [
                ("TimeLoggingStarted", text(t.start_logging)),
                ("TimeLoggingStopped", text(t.stop_logging)),
                ("LatestDeliveryAttemptTime", text(attempted)),
                ("LatestDeliveryAttemptSucceeded", text(delivered)),
                ("LatestNotificationAttemptTime", String::new()),
                ("LatestNotificationAttemptSucceeded", String::new()),
            ] {
                crate::services::set(&mut out, member, json!(value));
            }
            Ok(out)
        }
        "StartLogging" | "StopLogging" => {
            let start = operation == "StartLogging";
            // A stopped trail first delivers what its stop still owes (StopLogging's own event
            // is delivered moments after the stop): the start below moves its cursor past it.
            // Before the position is read, so that the flush reads nothing the start leaves
            // out.
            if start
                && let Ok(t) = find(&cx, s(i, "Name").unwrap_or_default())
                && !t.logging
            {
                delivery::flush_stopped(state, &t.arn).await?;
            }
            // Read before the change: this call's own event is written after it, and so lands
            // after the start (delivered) or is the one event after the stop that is.
            let position = state
                .store
                .last_event_position()
                .await
                .map_err(ApiError::internal)?;
            update(&cx, s(i, "Name").unwrap_or_default(), |t| {
                // Starting a logging trail or stopping a stopped one changes nothing: a second
                // StopLogging must not move the end of what the trail delivers past the events
                // recorded while it was stopped.
                if t.logging != start {
                    t.logging = start;
                    if start {
                        t.start_logging = Some(now());
                        t.start_position = Some(position);
                    } else {
                        t.stop_logging = Some(now());
                        t.stop_position = Some(position);
                    }
                }
                Ok(())
            })
            .await?;
            if !start {
                // What was recorded up to now is delivered, and digested, at once.
                let arn = find(&cx, s(i, "Name").unwrap_or_default())?.arn;
                delivery::run(state, Some(&arn)).await?;
            }
            Ok(json!({}))
        }
        "PutEventSelectors" => {
            check_event_selectors(i)?;
            let t = update(&cx, s(i, "TrailName").unwrap_or_default(), |t| {
                t.event_selectors = i.get("EventSelectors").cloned();
                t.advanced_event_selectors = i.get("AdvancedEventSelectors").cloned();
                Ok(())
            })
            .await?;
            Ok(selectors(&t))
        }
        "GetEventSelectors" => {
            let t = find(&cx, s(i, "TrailName").unwrap_or_default())?;
            Ok(selectors(&t))
        }
        "AddTags" | "RemoveTags" => {
            let add = operation == "AddTags";
            let tags = tags_list(i);
            if add {
                check_tags(&tags)?;
            }
            let id = tag_resource(s(i, "ResourceId").unwrap_or_default())?;
            let updated = update(&cx, id, |t| {
                for (k, v) in tags {
                    t.tags.retain(|(key, _)| *key != k);
                    if add {
                        t.tags.push((k, v));
                    }
                }
                if t.tags.len() > 50 {
                    return Err(err(
                        "TagsLimitExceededException",
                        "A trail can have at most 50 tags.",
                    ));
                }
                Ok(())
            })
            .await;
            updated.map_err(|e| resource_not_found(e, id))?;
            Ok(json!({}))
        }
        "ListTags" => {
            // The API reference: "The list has a limit of 20 ARNs" (the model sets no bound).
            let asked = i
                .get("ResourceIdList")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if asked > 20 {
                return Err(err(
                    "InvalidParameterException",
                    format!("ResourceIdList has {asked} ARNs; the limit is 20."),
                ));
            }
            let mut list = Vec::new();
            for (n, id) in i
                .get("ResourceIdList")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .enumerate()
            {
                let id = tag_resource(id)?;
                let t = find(&cx, id).map_err(|e| resource_not_found(e, id))?;
                // The request was authorized on the first trail; every other one is decided on
                // its own (`authz::target`).
                if n > 0 {
                    crate::authz::authorize_internal(
                        state,
                        caller,
                        region,
                        ("cloudtrail", "ListTags"),
                        &json!({"ResourceIdList": [t.arn]}),
                        None,
                    )?;
                }
                let tags: Vec<Value> = t
                    .tags
                    .iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v}))
                    .collect();
                list.push(json!({"ResourceId": t.arn, "TagsList": tags}));
            }
            Ok(json!({"ResourceTagList": list}))
        }
        "ListPublicKeys" => list_public_keys(&cx, i).await,
        "GetInsightSelectors" | "PutInsightSelectors" => insight_selectors(&cx, operation, i),
        other => Err(super::not_implemented("cloudtrail", other)),
    }
}

/// Insights on a trail. Palisade does not analyse call rates, so no trail has Insights: Get
/// answers `InsightNotEnabledException` as AWS does for such a trail (Terraform's and Prowler's
/// readers of a trail expect exactly that), Put accepts turning Insights off and refuses turning
/// them on rather than keep selectors that would never produce an Insights event.
fn insight_selectors(cx: &Cx<'_>, operation: &str, i: &Value) -> Result<Value, ApiError> {
    match (s(i, "TrailName"), i.get("EventDataStore")) {
        (Some(_), Some(_)) => {
            return Err(err(
                "InvalidParameterCombinationException",
                "You cannot specify both TrailName and EventDataStore.",
            ));
        }
        (None, Some(_)) => return Err(super::not_implemented("cloudtrail", "event data stores")),
        _ => {}
    }
    let t = find(cx, s(i, "TrailName").unwrap_or_default())?;
    if operation == "GetInsightSelectors" {
        return Err(err(
            "InsightNotEnabledException",
            format!("Trail {} does not have Insights enabled.", t.arn),
        ));
    }
    in_home_region(cx, &t)?;
    let asked = i
        .get("InsightSelectors")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if asked > 0 {
        return Err(err(
            "UnsupportedOperationException",
            format!(
                "palisade does not generate CloudTrail Insights events, so Insights cannot be \
                 enabled on trail {}",
                t.arn
            ),
        ));
    }
    Ok(json!({"TrailARN": t.arn, "InsightSelectors": []}))
}

/// The Region's digest-signing key (made on first use: a Region always has one to list), when it was valid in the requested window.
async fn list_public_keys(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let start = i.get("StartTime").and_then(Value::as_f64);
    let end = i.get("EndTime").and_then(Value::as_f64);
    if let (Some(start), Some(end)) = (start, end)
        && start > end
    {
        return Err(err(
            "InvalidTimeRangeException",
            "Start time must be earlier than end time.",
        ));
    }
    let keys: Vec<Value> = cx
        .state
        .trails
        .delivery
        .ensure_public_key(cx.state, cx.region)
        .await?
        .into_iter()
        // A key whose validity overlaps the window (bug: StartTime was ignored).
        .filter(|k| {
            end.is_none_or(|e| k.valid_from as f64 <= e)
                && start.is_none_or(|s| s <= key_valid_until(k) as f64)
        })
        .map(|k| {
            use base64::Engine as _;
            json!({
                "Value": base64::engine::general_purpose::STANDARD.encode(&k.der),
                "ValidityStartTime": k.valid_from,
                "ValidityEndTime": key_valid_until(&k),
                "Fingerprint": k.fingerprint,
            })
        })
        .collect();
    Ok(json!({"PublicKeyList": keys}))
}

/// When a signing key stops being valid: keys are not rotated yet, so valid until replaced,
/// shown as ten years.
fn key_valid_until(k: &delivery::PublicKey) -> i64 {
    k.valid_from.saturating_add(10 * 365 * 86_400)
}

/// S3's bucket-name rules (the trail delivers into a directory of that name, so nothing else
/// may pass: no separators, no `..`).
fn check_bucket(bucket: &str) -> Result<(), ApiError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && bucket
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && !bucket.contains("..")
        // S3 refuses names in IP address form and its reserved prefixes and suffixes.
        && bucket.parse::<std::net::Ipv4Addr>().is_err()
        && !["xn--", "sthree-", "amzn-s3-demo-"]
            .iter()
            .any(|p| bucket.starts_with(p))
        && !["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|x| bucket.ends_with(x));
    if ok {
        Ok(())
    } else {
        Err(err(
            "InvalidS3BucketNameException",
            format!("Bucket name {bucket:?} is not valid."),
        ))
    }
}

/// A key prefix may not climb out of its bucket.
fn check_prefix(prefix: &str) -> Result<(), ApiError> {
    if prefix.len() <= 200
        && !prefix.split('/').any(|seg| seg == ".." || seg == ".")
        && !prefix.contains('\\')
    {
        Ok(())
    } else {
        Err(err(
            "InvalidS3PrefixException",
            format!("S3 prefix {prefix:?} is not valid."),
        ))
    }
}

fn trail_arn(cx: &Cx<'_>, name: &str) -> String {
    format!(
        "arn:aws:cloudtrail:{}:{}:trail/{name}",
        cx.region, cx.account
    )
}

fn not_found(cx: &Cx<'_>, name: &str) -> ApiError {
    let arn = if name.starts_with("arn:") {
        name.to_owned()
    } else {
        trail_arn(cx, name)
    };
    err(
        "TrailNotFoundException",
        format!("Unknown trail: {arn} for the user: {}", cx.account),
    )
}

/// The tagging operations name a trail by its ARN only, and answer for an unknown one with their
/// own errors (CloudTrailARNInvalidException, ResourceNotFoundException), not TrailNotFound.
fn tag_resource(id: &str) -> Result<&str, ApiError> {
    let mut parts = id.splitn(6, ':');
    let ok = parts.next() == Some("arn")
        && parts.next().is_some_and(|p| p.starts_with("aws"))
        && parts.next() == Some("cloudtrail")
        && parts.next().is_some_and(|r| !r.is_empty())
        && parts
            .next()
            .is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        && parts
            .next()
            .and_then(|r| r.strip_prefix("trail/"))
            .is_some_and(|n| !n.is_empty());
    if ok {
        Ok(id)
    } else {
        Err(err(
            "CloudTrailARNInvalidException",
            format!(
                "{id} is not a valid trail ARN: the format is arn:aws:cloudtrail:region:account-id:trail/name."
            ),
        ))
    }
}

fn resource_not_found(e: ApiError, arn: &str) -> ApiError {
    if e.code == "TrailNotFoundException" {
        err(
            "ResourceNotFoundException",
            format!("Resource not found: {arn}"),
        )
    } else {
        e
    }
}

/// Trails this Region shows: its own and every multi-Region trail of the account.
fn visible(cx: &Cx<'_>) -> Result<Vec<TrailRecord>, ApiError> {
    let mut trails = account_trails(cx)?;
    trails.retain(|t| t.home_region == cx.region || t.multi_region);
    Ok(trails)
}

/// Every trail of the account, whatever its Region.
fn account_trails(cx: &Cx<'_>) -> Result<Vec<TrailRecord>, ApiError> {
    let d = cx
        .state
        .trails
        .data
        .read()
        .map_err(|_| ApiError::internal("trail lock poisoned"))?;
    Ok(d.values()
        .filter(|t| t.account == cx.account)
        .cloned()
        .collect())
}

fn find(cx: &Cx<'_>, name: &str) -> Result<TrailRecord, ApiError> {
    // A name no trail can have, or an ARN that is no trail's, is refused as such rather than
    // looked up (bug: TrailNotFoundException for both).
    if name.starts_with("arn:") {
        tag_resource(name)?;
    } else {
        check_name(name)?;
    }
    visible(cx)?
        .into_iter()
        .find(|t| t.name == name || t.arn == name)
        .ok_or_else(|| not_found(cx, name))
}

async fn commit(
    cx: &Cx<'_>,
    put: Option<TrailRecord>,
    delete: Option<String>,
) -> Result<(), ApiError> {
    let mut changes = Vec::new();
    if let Some(t) = &put {
        changes.push(DocumentChange::Put(Document {
            collection: TRAILS.to_owned(),
            key: t.arn.clone(),
            body: serde_json::to_vec(t).map_err(ApiError::internal)?,
        }));
    }
    if let Some(arn) = &delete {
        changes.push(DocumentChange::Delete {
            collection: TRAILS.to_owned(),
            key: arn.clone(),
        });
    }
    cx.state
        .store
        .apply_documents(&changes)
        .await
        .map_err(ApiError::store_write)?;
    let mut d = cx
        .state
        .trails
        .data
        .write()
        .map_err(|_| ApiError::internal("trail lock poisoned"))?;
    if let Some(arn) = delete {
        d.remove(&arn);
    }
    if let Some(t) = put {
        d.insert(t.arn.clone(), t);
    }
    Ok(())
}

async fn update(
    cx: &Cx<'_>,
    name: &str,
    f: impl FnOnce(&mut TrailRecord) -> Result<(), ApiError>,
) -> Result<TrailRecord, ApiError> {
    let _guard = cx.state.trails.writer.lock().await;
    let mut t = find(cx, name)?;
    in_home_region(cx, &t)?;
    f(&mut t)?;
    commit(cx, Some(t.clone()), None).await?;
    Ok(t)
}

fn in_home_region(cx: &Cx<'_>, t: &TrailRecord) -> Result<(), ApiError> {
    if t.home_region != cx.region {
        return Err(err(
            "InvalidHomeRegionException",
            format!(
                "This operation must be called from the trail's home Region, {}.",
                t.home_region
            ),
        ));
    }
    Ok(())
}

/// The most trails a Region can have, shadows of multi-Region trails included
/// (WhatIsCloudTrail-Limits: "Trails per Region: 5", not adjustable).
const MAX_TRAILS_PER_REGION: usize = 5;

/// Whether the account can have a trail `name` (multi-Region or not) beside its others, `except`
/// the trail being changed: no Region it would be seen in may have a trail of that name
/// (TrailAlreadyExistsException) or its five trails already (MaximumNumberOfTrailsExceeded).
/// Bug: trails were not counted, and a trail could be made multi-Region over another Region's
/// trail of the same name.
fn check_room(
    cx: &Cx<'_>,
    name: &str,
    multi_region: bool,
    except: Option<&str>,
) -> Result<(), ApiError> {
    let mut others = account_trails(cx)?;
    others.retain(|t| Some(t.arn.as_str()) != except);
    // Two trails share a Region when either is multi-Region or both have the same home.
    if others
        .iter()
        .any(|t| t.name == name && (multi_region || t.multi_region || t.home_region == cx.region))
    {
        return Err(err(
            "TrailAlreadyExistsException",
            format!("Trail {name} already exists for customer: {}", cx.account),
        ));
    }
    // The Regions the new trail is seen in that hold trails: its home, and, if multi-Region,
    // every Region where the account has trails (the others hold only the shadows of
    // multi-Region trails, fewer than here).
    let mut regions = std::collections::BTreeSet::from([cx.region]);
    if multi_region {
        regions.extend(others.iter().map(|t| t.home_region.as_str()));
    }
    for region in regions {
        let count = others
            .iter()
            .filter(|t| t.home_region == region || t.multi_region)
            .count();
        if count >= MAX_TRAILS_PER_REGION {
            return Err(err(
                "MaximumNumberOfTrailsExceededException",
                format!(
                    "User: {} already has {MAX_TRAILS_PER_REGION} trails in {region}.",
                    cx.account
                ),
            ));
        }
    }
    Ok(())
}

/// CloudTrail's trail-name rules.
fn check_name(name: &str) -> Result<(), ApiError> {
    // Each rule has its own message, in the order CloudTrail checks them.
    let invalid = |m: String| Err(err("InvalidTrailNameException", m));
    let len = name.chars().count();
    if len < 3 {
        return invalid(format!(
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: {len} characters."
        ));
    }
    if len > 128 {
        return invalid(format!(
            "Trail name too long. Maximum allowed length: 128 characters. Specified name length: {len} characters."
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return invalid("Trail name must starts with a letter or number.".to_owned());
    }
    if !name.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        return invalid("Trail name must ends with a letter or number.".to_owned());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return invalid(
            "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, \
             periods (.), hyphens (-), and underscores (_)."
                .to_owned(),
        );
    }
    if ["..", "._", "_.", "-_", "_-"]
        .iter()
        .any(|p| name.contains(p))
    {
        return invalid(format!(
            "Trail name {name} has adjacent periods, or a period or hyphen next to an underscore."
        ));
    }
    // CloudTrail's documentation also rules out adjacent dashes or underscores, and names in IP
    // address form.
    if name.contains("--") || name.contains("__") {
        return invalid(format!(
            "Trail name {name} has adjacent hyphens or underscores."
        ));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return invalid(format!("Trail name {name} is in IP address format."));
    }
    Ok(())
}

async fn create_trail(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let name = s(i, "Name").unwrap_or_default();
    check_name(name)?;
    let bucket = s(i, "S3BucketName").unwrap_or_default();
    check_bucket(bucket)?;
    if let Some(p) = s(i, "S3KeyPrefix") {
        check_prefix(p)?;
    }
    let _guard = cx.state.trails.writer.lock().await;
    let multi_region = flag(i, "IsMultiRegionTrail").unwrap_or(false);
    check_room(cx, name, multi_region, None)?;
    let mut t = TrailRecord {
        account: cx.account.to_owned(),
        home_region: cx.region.to_owned(),
        name: name.to_owned(),
        arn: trail_arn(cx, name),
        bucket: bucket.to_owned(),
        key_prefix: s(i, "S3KeyPrefix").map(str::to_owned),
        sns_topic: s(i, "SnsTopicName").map(str::to_owned),
        include_global: flag(i, "IncludeGlobalServiceEvents").unwrap_or(true),
        multi_region,
        validation: flag(i, "EnableLogFileValidation").unwrap_or(false),
        log_group: s(i, "CloudWatchLogsLogGroupArn").map(str::to_owned),
        log_role: s(i, "CloudWatchLogsRoleArn").map(str::to_owned),
        kms_key: s(i, "KmsKeyId").map(str::to_owned),
        organization: flag(i, "IsOrganizationTrail").unwrap_or(false),
        logging: false,
        start_logging: None,
        stop_logging: None,
        start_position: None,
        stop_position: None,
        generation: Some(generation()?),
        event_selectors: None,
        advanced_event_selectors: None,
        tags: tags_list(i),
    };
    if t.multi_region && !t.include_global {
        return Err(err(
            "InvalidParameterCombinationException",
            "Multi-Region trail must include global service events.",
        ));
    }
    check_tags(&t.tags)?;
    check_settings(cx, &mut t, true)?;
    let out = created_json(&t);
    commit(cx, Some(t), None).await?;
    Ok(out)
}

/// A fresh trail generation: 16 random hex digits.
fn generation() -> Result<String, ApiError> {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| ApiError::internal("no random bytes for a trail generation"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

async fn update_trail(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let t = update(cx, s(i, "Name").unwrap_or_default(), |t| {
        if let Some(b) = s(i, "S3BucketName") {
            check_bucket(b)?;
            b.clone_into(&mut t.bucket);
        }
        if let Some(p) = s(i, "S3KeyPrefix") {
            check_prefix(p)?;
            t.key_prefix = Some(p.to_owned());
        }
        if let Some(p) = s(i, "SnsTopicName") {
            t.sns_topic = Some(p.to_owned());
        }
        if let Some(b) = flag(i, "IncludeGlobalServiceEvents") {
            t.include_global = b;
        }
        if let Some(b) = flag(i, "IsMultiRegionTrail") {
            // Becoming multi-Region puts a shadow of the trail in every Region: the same name
            // must not be in use there, and each Region must have room for it (bug: only
            // CreateTrail checked, so an update made two trails of one name in a Region).
            if b && !t.multi_region {
                check_room(cx, &t.name, true, Some(&t.arn))?;
            }
            t.multi_region = b;
        }
        if let Some(b) = flag(i, "EnableLogFileValidation") {
            t.validation = b;
        }
        if let Some(k) = s(i, "KmsKeyId") {
            t.kms_key = Some(k.to_owned());
        }
        if let Some(g) = s(i, "CloudWatchLogsLogGroupArn") {
            t.log_group = Some(g.to_owned());
        }
        if let Some(r) = s(i, "CloudWatchLogsRoleArn") {
            t.log_role = Some(r.to_owned());
        }
        if t.multi_region && !t.include_global {
            return Err(err(
                "InvalidParameterCombinationException",
                "Multi-Region trail must include global service events.",
            ));
        }
        if let Some(b) = flag(i, "IsOrganizationTrail") {
            t.organization = b;
        }
        check_settings(cx, t, s(i, "KmsKeyId").is_some())
    })
    .await?;
    Ok(created_json(&t))
}

fn created_json(t: &TrailRecord) -> Value {
    let mut v = json!({
        "Name": t.name,
        "S3BucketName": t.bucket,
        "IncludeGlobalServiceEvents": t.include_global,
        "IsMultiRegionTrail": t.multi_region,
        "TrailARN": t.arn,
        "LogFileValidationEnabled": t.validation,
        "IsOrganizationTrail": t.organization,
    });
    optional(&mut v, t);
    v
}

fn optional(v: &mut Value, t: &TrailRecord) {
    for (member, value) in [
        ("S3KeyPrefix", &t.key_prefix),
        ("SnsTopicName", &t.sns_topic),
        ("CloudWatchLogsLogGroupArn", &t.log_group),
        ("CloudWatchLogsRoleArn", &t.log_role),
        ("KmsKeyId", &t.kms_key),
    ] {
        if let Some(x) = value {
            crate::services::set(v, member, json!(x));
        }
    }
    if let Some(topic) = &t.sns_topic {
        crate::services::set(
            v,
            "SnsTopicARN",
            json!(format!(
                "arn:aws:sns:{}:{}:{topic}",
                t.home_region, t.account
            )),
        );
    }
}

fn trail_json(t: &TrailRecord) -> Value {
    let mut v = created_json(t);
    crate::services::set(&mut v, "HomeRegion", json!(t.home_region));
    crate::services::set(
        &mut v,
        "HasCustomEventSelectors",
        json!(t.event_selectors.is_some() || t.advanced_event_selectors.is_some()),
    );
    crate::services::set(&mut v, "HasInsightSelectors", json!(false));
    v
}

fn describe_trails(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let names: Vec<&str> = i
        .get("trailNameList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let shadows = flag(i, "includeShadowTrails").unwrap_or(true);
    // AWS: named trails are "trails belonging only to the current Region"; "to return
    // information about a trail in another Region, you must specify its trail ARN" (bug: a
    // name found a shadow, and another Region's trail could not be found by its ARN).
    let trails = if names.is_empty() {
        visible(cx)?
    } else {
        account_trails(cx)?
            .into_iter()
            .filter(|t| {
                names
                    .iter()
                    .any(|n| *n == t.arn || (*n == t.name && t.home_region == cx.region))
            })
            .collect()
    };
    let list: Vec<Value> = trails
        .iter()
        .filter(|t| shadows || t.home_region == cx.region || !t.multi_region)
        .map(trail_json)
        .collect();
    Ok(json!({"trailList": list}))
}

fn selectors(t: &TrailRecord) -> Value {
    let mut v = json!({"TrailARN": t.arn});
    match (&t.event_selectors, &t.advanced_event_selectors) {
        (_, Some(a)) => crate::services::set(&mut v, "AdvancedEventSelectors", a.clone()),
        (Some(e), None) => {
            // As CloudTrail stores them: every member present, with its default.
            let filled: Vec<Value> = e
                .as_array()
                .into_iter()
                .flatten()
                .map(|sel| {
                    let mut full = json!({"ReadWriteType": "All", "IncludeManagementEvents": true, "DataResources": [], "ExcludeManagementEventSources": []});
                    if let (Some(full), Some(given)) = (full.as_object_mut(), sel.as_object()) {
                        full.extend(given.clone());
                    }
                    full
                })
                .collect();
            crate::services::set(&mut v, "EventSelectors", Value::Array(filled));
        }
        (None, None) => crate::services::set(
            &mut v,
            "EventSelectors",
            json!([{"ReadWriteType": "All", "IncludeManagementEvents": true, "DataResources": [], "ExcludeManagementEventSources": []}]),
        ),
    }
    v
}

/// LookupEvents: one attribute at most, a time window, newest first, 50 per page at most.
async fn lookup_events(cx: &Cx<'_>, i: &Value) -> Result<Value, ApiError> {
    let attrs = i.get("LookupAttributes").and_then(Value::as_array);
    let attribute = match attrs.map(Vec::as_slice) {
        None | Some([]) => None,
        Some([a]) => {
            let key = s(a, "AttributeKey").unwrap_or_default();
            let value = s(a, "AttributeValue").unwrap_or_default().to_owned();
            let attr = match key {
                "EventId" => EventAttribute::EventId,
                "EventName" => EventAttribute::EventName,
                "ReadOnly" => EventAttribute::ReadOnly,
                "Username" => EventAttribute::Username,
                "EventSource" => EventAttribute::EventSource,
                "AccessKeyId" => EventAttribute::AccessKeyId,
                "ResourceName" => EventAttribute::ResourceName,
                "ResourceType" => EventAttribute::ResourceType,
                other => {
                    return Err(err(
                        "InvalidLookupAttributesException",
                        format!("{other} is not a valid lookup attribute."),
                    ));
                }
            };
            if attr == EventAttribute::ReadOnly && !matches!(value.as_str(), "true" | "false") {
                return Err(err(
                    "InvalidLookupAttributesException",
                    format!("ReadOnly must be true or false, not {value}."),
                ));
            }
            Some((attr, value))
        }
        Some(_) => {
            return Err(err(
                "InvalidLookupAttributesException",
                "You can specify only one lookup attribute.",
            ));
        }
    };
    let secs = |member: &str| i.get(member).and_then(Value::as_f64);
    let start_ms = secs("StartTime").map_or(0, |t| (t * 1000.0) as i64);
    let end_ms = secs("EndTime").map_or(i64::MAX, |t| (t * 1000.0) as i64);
    if start_ms > end_ms {
        return Err(err(
            "InvalidTimeRangeException",
            "Start time must be earlier than end time.",
        ));
    }
    let limit = i
        .get("MaxResults")
        .and_then(Value::as_i64)
        .unwrap_or(50)
        .clamp(1, 50);
    if s(i, "EventCategory") == Some("insight") {
        // Only Insights events are asked for, and Palisade records none (CloudTrail Insights
        // analyses call rates, which it does not do).
        return Ok(json!({"Events": []}));
    }
    // A token resumes the query it came from: it carries a digest of the query's parameters.
    let query = query_digest(i, cx.region);
    let before = match s(i, "NextToken") {
        Some(t) => Some(
            t.split_once('.')
                .filter(|(_, d)| *d == query)
                .and_then(|(seq, _)| seq.parse::<i64>().ok())
                .ok_or_else(|| {
                    err(
                        "InvalidNextTokenException",
                        format!("The next token {t} is not valid for this query."),
                    )
                })?,
        ),
        None => None,
    };
    let rows = cx
        .state
        .store
        .lookup_events(&EventQuery {
            account_id: cx.account.to_owned(),
            attribute,
            start_ms,
            end_ms,
            before,
            limit: limit + 1,
            region: Some(cx.region.to_owned()),
        })
        .await
        .map_err(ApiError::internal)?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(50);
    let page = rows.iter().take(usize::try_from(limit).unwrap_or(50));
    let mut last = None;
    let events: Vec<Value> = page
        .map(|(seq, row)| {
            last = Some(*seq);
            let record: Value = serde_json::from_str(&row.record).unwrap_or(Value::Null);
            let resources: Vec<Value> = record
                .get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|r| json!({"ResourceType": r.get("type"), "ResourceName": r.get("ARN")}))
                .collect();
            let mut e = json!({
                "EventId": row.event_id,
                "EventName": row.event_name,
                "ReadOnly": if row.read_only { "true" } else { "false" },
                "EventTime": row.event_time_ms as f64 / 1000.0,
                "EventSource": row.event_source,
                "Resources": resources,
                "CloudTrailEvent": row.record,
            });
            if let Some(k) = &row.access_key_id {
                crate::services::set(&mut e, "AccessKeyId", json!(k));
            }
            if let Some(u) = &row.user_name {
                crate::services::set(&mut e, "Username", json!(u));
            }
            e
        })
        .collect();
    let mut out = json!({"Events": events});
    if more && let Some(seq) = last {
        crate::services::set(&mut out, "NextToken", json!(format!("{seq}.{query}")));
    }
    Ok(out)
}

/// A digest of what selects a LookupEvents query's events, for its tokens.
/// What a NextToken is bound to: the query, and the Region it pages (bug: a token of one
/// Region's history was taken in another's).
fn query_digest(i: &Value, region: &str) -> String {
    let selects = json!([
        region,
        i.get("LookupAttributes"),
        i.get("StartTime"),
        i.get("EndTime"),
        i.get("EventCategory")
    ]);
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, selects.to_string().as_bytes());
    d.as_ref()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}
