//! CloudTrail's part of authorization: the trail a request acts on, so that IAM policies that
//! name a trail (`arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME`) allow or deny calls on it, as
//! the trail resource type of CloudTrail's actions does in AWS.

use serde_json::Value;

use crate::authz::Target;
use crate::identity::Caller;
use crate::state::AppState;

/// The member naming the trail an operation acts on; `None` for operations on no one trail
/// (DescribeTrails, ListTrails, LookupEvents, ListPublicKeys). ListTags names a list of trails:
/// see [`target`].
fn trail_member(op: &str) -> Option<&'static str> {
    Some(match op {
        "CreateTrail" | "UpdateTrail" | "DeleteTrail" | "GetTrail" | "GetTrailStatus"
        | "StartLogging" | "StopLogging" => "Name",
        "PutEventSelectors"
        | "GetEventSelectors"
        | "PutInsightSelectors"
        | "GetInsightSelectors" => "TrailName",
        "AddTags" | "RemoveTags" => "ResourceId",
        _ => return None,
    })
}

/// The trail of a request, with its tags (for `aws:ResourceTag/*`): the trail the name or ARN
/// finds in this Region, else the ARN a trail of that name would have here (CreateTrail, or a
/// name that finds nothing, which the handler answers TrailNotFoundException when allowed).
/// Bug: every CloudTrail action was authorized on "*", so a Deny of StopLogging on the
/// security trail did not stop anyone whose policy allowed cloudtrail:* elsewhere.
pub fn target(state: &AppState, caller: &Caller, region: &str, op: &str, input: &Value) -> Target {
    let none = |arn: String| Target { arn, tags: vec![] };
    // ListTags acts on each trail of its ResourceIdList (the trail resource type, in the
    // Service Authorization Reference): the request is decided on the first, and the handler
    // decides each other one (bug: it was decided on "*", so a Deny on a trail, or on its
    // tags, did not keep its tags from being listed).
    let name = match op {
        "ListTags" => input
            .get("ResourceIdList")
            .and_then(Value::as_array)
            .and_then(|l| l.first()),
        _ => trail_member(op).and_then(|m| input.get(m)),
    };
    let Some(name) = name.and_then(Value::as_str) else {
        return none("*".to_owned());
    };
    let found = state.trails.data.read().ok().and_then(|d| {
        d.values()
            .find(|t| {
                t.account == caller.account_id
                    && (t.home_region == region || t.multi_region)
                    && (t.name == name || t.arn == name)
            })
            .map(|t| Target {
                arn: t.arn.clone(),
                tags: t.tags.clone(),
            })
    });
    match found {
        Some(t) => t,
        None if name.starts_with("arn:") => none(name.to_owned()),
        None => none(format!(
            "arn:aws:cloudtrail:{region}:{}:trail/{name}",
            caller.account_id
        )),
    }
}
