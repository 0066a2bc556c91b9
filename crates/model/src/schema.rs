//! Static service/operation/shape schema tables (the generated code instantiates these types).
//!
//! Shapes are referenced by [`ShapeId`], an index into [`ServiceInfo::shapes`]; patterns by an
//! index into [`ServiceInfo::patterns`] so that each regex is compiled at most once, lazily.

use std::sync::OnceLock;

use regex::Regex;

/// Wire protocol of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// awsQuery: form-encoded `Action=…&Version=…` requests, XML responses (IAM, STS).
    Query,
    /// awsJson1_1: `X-Amz-Target: <prefix>.<Op>`, JSON bodies (KMS, Secrets Manager, CloudTrail).
    Json11,
}

/// Index of a shape in [`ServiceInfo::shapes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShapeId(pub u16);

/// One service: protocol metadata plus its operation, shape, error and pattern tables.
#[derive(Debug)]
pub struct ServiceInfo {
    /// Short name used by Palisade, e.g. `"kms"`.
    pub name: &'static str,
    /// SigV4 signing name (`metadata.signingName`, else `endpointPrefix`).
    pub signing_name: &'static str,
    /// `metadata.endpointPrefix`.
    pub endpoint_prefix: &'static str,
    /// Wire protocol.
    pub protocol: Protocol,
    /// `X-Amz-Target` prefix for awsJson services, e.g. `"TrentService"`.
    pub target_prefix: Option<&'static str>,
    /// API version (`Version=` for awsQuery), e.g. `"2014-11-01"`.
    pub api_version: &'static str,
    /// XML namespace of awsQuery responses.
    pub xml_namespace: Option<&'static str>,
    /// Every operation of the model (not only the typed ones), sorted by name.
    pub operations: &'static [OperationInfo],
    /// Shapes reachable from the allow-listed operations, sorted by name.
    pub shapes: &'static [Shape],
    /// Every modeled error shape of the service, sorted by name.
    pub errors: &'static [ErrorInfo],
    /// Lazily compiled `pattern` constraints referenced by string shapes.
    pub patterns: &'static [Pattern],
}

impl ServiceInfo {
    /// Looks an operation up by its exact (case-sensitive) name, as AWS does.
    pub fn operation(&self, name: &str) -> Option<&'static OperationInfo> {
        let ops: &'static [OperationInfo] = self.operations;
        ops.binary_search_by(|op| op.name.cmp(name))
            .ok()
            .and_then(|i| ops.get(i))
    }

    /// Whether `prefix` (the part of an `X-Amz-Target` before its last `.`) names this awsJson
    /// service: botocore's `targetPrefix`, or its last `.`-separated component. The second is
    /// the Smithy service shape's name, which every Smithy-generated SDK (JavaScript v3, Go v2,
    /// Rust, Kotlin, Swift) sends instead: CloudTrail's botocore prefix is
    /// `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101`, those SDKs send
    /// `CloudTrail_20131101`, and AWS accepts both (bug: every CloudTrail call from them got
    /// `UnknownOperationException`). Nothing looser is accepted.
    pub fn has_target_prefix(&self, prefix: &str) -> bool {
        let Some(full) = self.target_prefix else {
            return false;
        };
        prefix == full
            || full
                .rsplit_once('.')
                .is_some_and(|(_, short)| prefix == short)
    }

    /// Resolves a shape reference.
    pub fn shape(&self, id: ShapeId) -> Option<&'static Shape> {
        let shapes: &'static [Shape] = self.shapes;
        shapes.get(usize::from(id.0))
    }

    /// Finds a shape by its model name.
    pub fn shape_by_name(&self, name: &str) -> Option<(ShapeId, &'static Shape)> {
        let shapes: &'static [Shape] = self.shapes;
        let i = shapes.binary_search_by(|s| s.name.cmp(name)).ok()?;
        let id = ShapeId(u16::try_from(i).ok()?);
        shapes.get(i).map(|s| (id, s))
    }

    /// Looks a modeled error up by shape name (e.g. `"NoSuchEntityException"`).
    pub fn error(&self, shape_name: &str) -> Option<&'static ErrorInfo> {
        let errors: &'static [ErrorInfo] = self.errors;
        errors
            .binary_search_by(|e| e.name.cmp(shape_name))
            .ok()
            .and_then(|i| errors.get(i))
    }

    /// The lazily compiled pattern with the given index.
    pub fn pattern(&self, index: u16) -> Option<&'static Pattern> {
        let patterns: &'static [Pattern] = self.patterns;
        patterns.get(usize::from(index))
    }

    /// The error code used for input validation failures
    /// (`ValidationError` for awsQuery, `ValidationException` for awsJson).
    pub fn validation_error_code(&self) -> &'static str {
        match self.protocol {
            Protocol::Query => "ValidationError",
            Protocol::Json11 => "ValidationException",
        }
    }
}

/// One operation of a service.
#[derive(Debug)]
pub struct OperationInfo {
    /// Operation name, e.g. `"CreateKey"`.
    pub name: &'static str,
    /// Input shape, if the model has one and the operation is typed.
    pub input: Option<ShapeId>,
    /// Output shape, if the model has one and the operation is typed.
    pub output: Option<ShapeId>,
    /// awsQuery result wrapper element name (`output.resultWrapper`), e.g. `"CreateUserResult"`.
    pub result_wrapper: Option<&'static str>,
    /// Names of the modeled error shapes of this operation.
    pub errors: &'static [&'static str],
    /// Whether the operation is allow-listed, i.e. has typed structs and schema entries.
    pub typed: bool,
}

impl OperationInfo {
    /// Constructor used by generated code.
    pub const fn new(
        name: &'static str,
        input: Option<u16>,
        output: Option<u16>,
        result_wrapper: Option<&'static str>,
        errors: &'static [&'static str],
        typed: bool,
    ) -> Self {
        let input = match input {
            Some(i) => Some(ShapeId(i)),
            None => None,
        };
        let output = match output {
            Some(i) => Some(ShapeId(i)),
            None => None,
        };
        Self {
            name,
            input,
            output,
            result_wrapper,
            errors,
            typed,
        }
    }
}

/// A modeled error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    /// Shape name, e.g. `"NoSuchEntityException"`.
    pub name: &'static str,
    /// Wire error code (`error.code`, else the shape name), e.g. `"NoSuchEntity"`.
    pub code: &'static str,
    /// HTTP status (`error.httpStatusCode`, else 400, or 500 for faults).
    pub http_status: u16,
    /// `true` for client errors (`Sender`), `false` for server faults (`Receiver`).
    pub sender_fault: bool,
}

impl ErrorInfo {
    /// Constructor used by generated code.
    pub const fn new(
        name: &'static str,
        code: &'static str,
        http_status: u16,
        sender_fault: bool,
    ) -> Self {
        Self {
            name,
            code,
            http_status,
            sender_fault,
        }
    }
}

/// A `pattern` constraint in botocore (Java) syntax, compiled lazily to a Rust regex.
#[derive(Debug)]
pub struct Pattern {
    /// The pattern exactly as in the model (used verbatim in error messages).
    pub source: &'static str,
    compiled: OnceLock<Option<Regex>>,
}

impl Pattern {
    /// Constructor used by generated code.
    pub const fn new(source: &'static str) -> Self {
        Self {
            source,
            compiled: OnceLock::new(),
        }
    }

    /// The compiled regex (full-match anchored), or `None` if the pattern uses features the
    /// `regex` crate lacks (such patterns are not enforced).
    pub fn regex(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| {
                let translated = crate::pattern::translate(self.source)?;
                Regex::new(&translated).ok()
            })
            .as_ref()
    }
}

/// One shape.
#[derive(Debug)]
pub struct Shape {
    /// Model name, e.g. `"KeyIdType"`.
    pub name: &'static str,
    /// `sensitive` trait: values are not echoed in validation messages.
    pub sensitive: bool,
    /// Kind and constraints.
    pub kind: ShapeKind,
}

/// Kind-specific shape data.
#[derive(Debug)]
pub enum ShapeKind {
    /// `structure` (also `union`).
    Structure {
        /// Members in model order.
        members: &'static [Member],
    },
    /// `list`.
    List {
        /// Element shape.
        member: ShapeId,
        /// `member.locationName` (default `"member"`).
        member_location_name: Option<&'static str>,
        /// `flattened` trait.
        flattened: bool,
        /// Minimum number of elements.
        min: Option<i64>,
        /// Maximum number of elements.
        max: Option<i64>,
    },
    /// `map`.
    Map {
        /// Key shape.
        key: ShapeId,
        /// Value shape.
        value: ShapeId,
        /// `key.locationName` (default `"key"`).
        key_location_name: Option<&'static str>,
        /// `value.locationName` (default `"value"`).
        value_location_name: Option<&'static str>,
        /// `flattened` trait.
        flattened: bool,
        /// Minimum number of entries.
        min: Option<i64>,
        /// Maximum number of entries.
        max: Option<i64>,
    },
    /// `string`.
    String {
        /// Minimum length in characters.
        min: Option<i64>,
        /// Maximum length in characters.
        max: Option<i64>,
        /// Index into [`ServiceInfo::patterns`].
        pattern: Option<u16>,
        /// Allowed values (empty: any).
        enum_values: &'static [&'static str],
    },
    /// `integer` (32 bit).
    Integer {
        /// Minimum value.
        min: Option<i64>,
        /// Maximum value.
        max: Option<i64>,
    },
    /// `long` (64 bit).
    Long {
        /// Minimum value.
        min: Option<i64>,
        /// Maximum value.
        max: Option<i64>,
    },
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `boolean`.
    Boolean,
    /// `timestamp`.
    Timestamp {
        /// `timestampFormat` trait (`iso8601`, `unixTimestamp`, `rfc822`), if any.
        format: Option<&'static str>,
    },
    /// `blob`.
    Blob {
        /// Minimum length in bytes (after base64 decoding).
        min: Option<i64>,
        /// Maximum length in bytes.
        max: Option<i64>,
    },
}

/// A structure member.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// Member name as in the model (the awsJson key and default awsQuery/XML name).
    pub name: &'static str,
    /// Target shape.
    pub target: ShapeId,
    /// `locationName` (awsQuery/XML name override).
    pub location_name: Option<&'static str>,
    /// `flattened` trait on the member.
    pub flattened: bool,
    /// `xmlNamespace.uri` on the member.
    pub xml_namespace: Option<&'static str>,
    /// Listed in the structure's `required`.
    pub required: bool,
}

impl Member {
    /// The awsQuery / XML element name of the member.
    pub fn wire_name(&self) -> &'static str {
        self.location_name.unwrap_or(self.name)
    }

    /// Sets `locationName` (generated code).
    pub const fn location(mut self, name: &'static str) -> Self {
        self.location_name = Some(name);
        self
    }

    /// Sets `flattened` (generated code).
    pub const fn flattened(mut self) -> Self {
        self.flattened = true;
        self
    }

    /// Sets `xmlNamespace` (generated code).
    pub const fn xml_namespace(mut self, uri: &'static str) -> Self {
        self.xml_namespace = Some(uri);
        self
    }
}

/// Member constructor used by generated code.
pub const fn m(name: &'static str, target: u16, required: bool) -> Member {
    Member {
        name,
        target: ShapeId(target),
        location_name: None,
        flattened: false,
        xml_namespace: None,
        required,
    }
}

/// Shape constructors and modifiers used by generated code.
impl Shape {
    const fn of(name: &'static str, kind: ShapeKind) -> Self {
        Self {
            name,
            sensitive: false,
            kind,
        }
    }
    /// `structure`.
    pub const fn structure(name: &'static str, members: &'static [Member]) -> Self {
        Self::of(name, ShapeKind::Structure { members })
    }
    /// `list`.
    pub const fn list(name: &'static str, member: u16, min: Option<i64>, max: Option<i64>) -> Self {
        Self::of(
            name,
            ShapeKind::List {
                member: ShapeId(member),
                member_location_name: None,
                flattened: false,
                min,
                max,
            },
        )
    }
    /// `map`.
    pub const fn map(
        name: &'static str,
        key: u16,
        value: u16,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Self {
        Self::of(
            name,
            ShapeKind::Map {
                key: ShapeId(key),
                value: ShapeId(value),
                key_location_name: None,
                value_location_name: None,
                flattened: false,
                min,
                max,
            },
        )
    }
    /// `string`.
    pub const fn string(name: &'static str, min: Option<i64>, max: Option<i64>) -> Self {
        Self::of(
            name,
            ShapeKind::String {
                min,
                max,
                pattern: None,
                enum_values: &[],
            },
        )
    }
    /// `integer`.
    pub const fn integer(name: &'static str, min: Option<i64>, max: Option<i64>) -> Self {
        Self::of(name, ShapeKind::Integer { min, max })
    }
    /// `long`.
    pub const fn long(name: &'static str, min: Option<i64>, max: Option<i64>) -> Self {
        Self::of(name, ShapeKind::Long { min, max })
    }
    /// `float`.
    pub const fn float(name: &'static str) -> Self {
        Self::of(name, ShapeKind::Float)
    }
    /// `double`.
    pub const fn double(name: &'static str) -> Self {
        Self::of(name, ShapeKind::Double)
    }
    /// `boolean`.
    pub const fn boolean(name: &'static str) -> Self {
        Self::of(name, ShapeKind::Boolean)
    }
    /// `timestamp`.
    pub const fn timestamp(name: &'static str, format: Option<&'static str>) -> Self {
        Self::of(name, ShapeKind::Timestamp { format })
    }
    /// `blob`.
    pub const fn blob(name: &'static str, min: Option<i64>, max: Option<i64>) -> Self {
        Self::of(name, ShapeKind::Blob { min, max })
    }
    /// Marks the shape `sensitive`.
    pub const fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    /// Sets a string shape's pattern index.
    pub const fn pattern(mut self, index: u16) -> Self {
        if let ShapeKind::String { pattern, .. } = &mut self.kind {
            *pattern = Some(index);
        }
        self
    }
    /// Sets a string shape's enum values.
    pub const fn enum_values(mut self, values: &'static [&'static str]) -> Self {
        if let ShapeKind::String { enum_values, .. } = &mut self.kind {
            *enum_values = values;
        }
        self
    }
    /// Sets a list's member `locationName` or a map's key/value `locationName`s.
    pub const fn location_names(
        mut self,
        first: Option<&'static str>,
        second: Option<&'static str>,
    ) -> Self {
        match &mut self.kind {
            ShapeKind::List {
                member_location_name,
                ..
            } => *member_location_name = first,
            ShapeKind::Map {
                key_location_name,
                value_location_name,
                ..
            } => {
                *key_location_name = first;
                *value_location_name = second;
            }
            _ => {}
        }
        self
    }
    /// Marks a list or map `flattened`.
    pub const fn flattened(mut self) -> Self {
        match &mut self.kind {
            ShapeKind::List { flattened, .. } | ShapeKind::Map { flattened, .. } => {
                *flattened = true;
            }
            _ => {}
        }
        self
    }
}

/// All services known to Palisade.
pub fn all_services() -> &'static [&'static ServiceInfo] {
    crate::generated::ALL_SERVICES
}

/// Finds a service by its SigV4 signing name (the service part of the credential scope).
pub fn service_by_signing_name(name: &str) -> Option<&'static ServiceInfo> {
    all_services()
        .iter()
        .copied()
        .find(|s| s.signing_name == name)
}

/// Finds an awsJson service by `X-Amz-Target` prefix (the part before the last `.`), in either
/// of the spellings [`ServiceInfo::has_target_prefix`] accepts.
pub fn service_by_target_prefix(prefix: &str) -> Option<&'static ServiceInfo> {
    all_services()
        .iter()
        .copied()
        .find(|s| s.has_target_prefix(prefix))
}

/// Splits an `X-Amz-Target` header value into (service, operation name); the operation may
/// still be unknown to the service (check with [`ServiceInfo::operation`]).
pub fn resolve_target(target: &str) -> Option<(&'static ServiceInfo, &str)> {
    let (prefix, op) = target.rsplit_once('.')?;
    service_by_target_prefix(prefix).map(|s| (s, op))
}
