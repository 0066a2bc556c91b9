//! SAML 2.0 responses for `AssumeRoleWithSAML`: the response's XML signature checked with the
//! certificates of the IAM SAML provider's metadata document, and the assertion's subject,
//! conditions and attributes read from the element that signature covers.
//!
//! # Security rationale
//!
//! * **Keys come from the metadata, never from the message.** A response carries its signer's
//!   certificate in `KeyInfo`; trusting it would let anyone sign. Only the signing certificates
//!   of the provider's `SAMLMetadataDocument` verify.
//! * **What is read is what was signed.** Signature wrapping attacks move the signed element and
//!   plant an unsigned one where the reader looks. Here the signature must sit directly in the
//!   element it covers (the assertion, or the response holding it), its one `Reference` must name
//!   that element's `ID`, the `ID` must be unique in the document, and the assertion is read from
//!   that very node.
//! * **One canonicalization.** Only exclusive XML canonicalization without comments
//!   (`xml-exc-c14n#`, with an optional `InclusiveNamespaces` prefix list) and the
//!   enveloped-signature transform are accepted: what SAML identity providers use. Comments are
//!   left out of the digest, so values are read as the digest sees them: all their text, a
//!   comment inside one does not cut it short.
//! * **No DTDs**, so no entity expansion (roxmltree refuses them by default); the response is
//!   bounded by the model's 100,000 characters, 20,000 nodes and 64 levels of nesting before it
//!   is canonicalized, which is done before anything is authenticated.
//! * The assertion must be for AWS (every `AudienceRestriction` names it) and say until when it
//!   may be presented (`SubjectConfirmationData/@NotOnOrAfter`).
//! * SHA-1 digests and RSA-SHA1 signatures are accepted, as AWS accepts them from older
//!   identity providers; SHA-256 and SHA-512 are the usual ones.

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use roxmltree::{Document, Node, NodeId};

const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// The clock skew allowed on `NotBefore`.
const SKEW: i64 = 300;
/// Limits that keep canonicalization (recursive, and per element proportional to the
/// namespaces in scope) cheap on input nobody has authenticated yet.
const MAX_NODES: u32 = 20_000;
const MAX_DEPTH: usize = 64;
const MAX_INCLUSIVE_PREFIXES: usize = 32;
/// The audiences an assertion for AWS names (AWS's service provider entity id, and its sign-in
/// endpoint; its regional endpoints too, see `is_aws_saml_endpoint`).
const AWS_AUDIENCES: &[&str] = &[
    "urn:amazon:webservices",
    "https://signin.aws.amazon.com/saml",
];

/// Why a response was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    /// Malformed, unsigned, badly signed or not for AWS (`InvalidIdentityToken`).
    #[error("{0}")]
    Invalid(String),
    /// Its conditions or subject confirmation are no longer valid (`ExpiredTokenException`).
    #[error("{0}")]
    Expired(String),
}

fn invalid(message: impl Into<String>) -> SamlError {
    SamlError::Invalid(message.into())
}

/// A verified assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The assertion's `Issuer`.
    pub issuer: String,
    /// The `NameID`.
    pub subject: String,
    /// The `NameID`'s `Format`, if any.
    pub subject_format: Option<String>,
    /// The `Recipient` of the bearer subject confirmation, if any.
    pub recipient: Option<String>,
    /// The audiences of the conditions.
    pub audiences: Vec<String>,
    /// The `AuthnStatement`'s `SessionNotOnOrAfter` (epoch seconds), if any.
    pub session_not_on_or_after: Option<i64>,
    /// The attribute statement: values by attribute name, in document order.
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl Assertion {
    /// The values of one attribute.
    pub fn attribute(&self, name: &str) -> &[String] {
        self.attributes.get(name).map_or(&[], Vec::as_slice)
    }
}

/// The signing certificates (DER) and entity id of a SAML metadata document.
pub fn metadata_signers(metadata: &str) -> Result<(String, Vec<Vec<u8>>), SamlError> {
    let doc = Document::parse(metadata)
        .map_err(|e| invalid(format!("the provider's metadata document is not XML: {e}")))?;
    // One entity: its id is the issuer to expect, and only its keys sign.
    let root = doc.root_element();
    if !root.has_tag_name((NS_METADATA, "EntityDescriptor")) {
        return Err(invalid(
            "the provider's metadata document is not one md:EntityDescriptor",
        ));
    }
    let entity = root.attribute("entityID").map(str::to_owned);
    let mut certs = Vec::new();
    for key in root
        .descendants()
        .filter(|n| n.has_tag_name((NS_METADATA, "KeyDescriptor")))
    {
        if key.attribute("use").is_some_and(|u| u != "signing") {
            continue;
        }
        // Only an identity provider's keys sign its responses.
        if !key
            .ancestors()
            .any(|a| a.has_tag_name((NS_METADATA, "IDPSSODescriptor")))
        {
            continue;
        }
        for cert in key
            .descendants()
            .filter(|n| n.has_tag_name((NS_DSIG, "X509Certificate")))
        {
            let text: String = full_text(cert).split_whitespace().collect();
            // Only what is a certificate counts: metadata whose only "certificate" is empty or
            // not X.509 names no key, and IAM refuses it rather than a provider none of whose
            // assertions could verify.
            if let Ok(der) = STANDARD.decode(text)
                && rustls::server::ParsedCertificate::try_from(
                    &rustls::pki_types::CertificateDer::from(der.as_slice()),
                )
                .is_ok()
            {
                certs.push(der);
            }
        }
    }
    let entity =
        entity.ok_or_else(|| invalid("the provider's metadata document has no entityID"))?;
    Ok((entity, certs))
}

/// The metadata's `validUntil` (epoch seconds), when it is a well-formed time.
pub fn metadata_valid_until(metadata: &str) -> Option<i64> {
    let doc = Document::parse(metadata).ok()?;
    let at = doc.root_element().attribute("validUntil")?;
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

/// Verifies a base64 `SAMLResponse` with the provider's `metadata` at `now` (epoch seconds).
/// Without `check_signature` (`--dev`, for assertions made up in local tests) the signature is
/// not looked at; everything else is checked.
pub fn verify(
    response_b64: &str,
    metadata: &str,
    now: i64,
    check_signature: bool,
) -> Result<Assertion, SamlError> {
    let compact: String = response_b64.split_whitespace().collect();
    let bytes = STANDARD
        .decode(compact)
        .map_err(|e| invalid(format!("the SAML response is not base64: {e}")))?;
    let xml = String::from_utf8(bytes).map_err(|_| invalid("the SAML response is not UTF-8"))?;
    let options = roxmltree::ParsingOptions {
        nodes_limit: MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = Document::parse_with_options(&xml, options)
        // The position only: the parser's text quotes names from the assertion, which STS's
        // model marks sensitive, and the message reaches the caller and the audit trail.
        .map_err(|e| {
            invalid(format!(
                "the SAML response is not well-formed XML (at {})",
                e.pos()
            ))
        })?;
    check_depth(&doc)?;
    let response = doc.root_element();
    if !response.has_tag_name((NS_PROTOCOL, "Response")) {
        return Err(invalid("the SAML document is not a samlp:Response"));
    }
    let status = response
        .children()
        .find(|n| n.has_tag_name((NS_PROTOCOL, "Status")))
        .and_then(|s| {
            s.children()
                .find(|n| n.has_tag_name((NS_PROTOCOL, "StatusCode")))
        })
        .and_then(|c| c.attribute("Value"));
    if status != Some(SUCCESS) {
        return Err(invalid(format!(
            "the SAML response's status is not Success: {}",
            status.unwrap_or("none")
        )));
    }
    let mut assertions = response
        .children()
        .filter(|n| n.has_tag_name((NS_ASSERTION, "Assertion")));
    let (Some(assertion), None) = (assertions.next(), assertions.next()) else {
        return Err(invalid(
            "the SAML response must hold exactly one (unencrypted) Assertion",
        ));
    };

    let (entity, certs) = metadata_signers(metadata)?;
    if check_signature {
        if certs.is_empty() {
            return Err(invalid(
                "the provider's metadata document has no signing certificate",
            ));
        }
        // The assertion's own signature, or the response's, which covers the assertion in it.
        let signed = [assertion, response]
            .into_iter()
            .find_map(|e| direct_signature(e).map(|s| (e, s)));
        let Some((element, sig)) = signed else {
            return Err(invalid("the SAML response is not signed"));
        };
        verify_signature(&doc, element, sig, &certs)?;
    }

    let issuer = text(assertion, "Issuer")
        .map(|n| full_text(n).trim().to_owned())
        .ok_or_else(|| invalid("the assertion has no Issuer"))?;
    if entity != issuer {
        return Err(invalid(format!(
            "the assertion's issuer {issuer} is not the provider's entity {entity}"
        )));
    }
    let subject_node =
        text(assertion, "Subject").ok_or_else(|| invalid("the assertion has no Subject"))?;
    let name_id =
        text(subject_node, "NameID").ok_or_else(|| invalid("the assertion has no NameID"))?;
    let subject = full_text(name_id).trim().to_owned();
    let subject_format = name_id.attribute("Format").map(str::to_owned);
    // A bearer assertion must say until when it may be presented, or it could be replayed
    // forever.
    let mut recipient = None;
    let mut bounded = false;
    let confirmations: Vec<_> = subject_node
        .children()
        .filter(|n| n.has_tag_name((NS_ASSERTION, "SubjectConfirmation")))
        .collect();
    // AWS: "There must be exactly one SubjectConfirmation"; with two, which one a reader takes
    // decides what it checks.
    if confirmations.len() != 1 {
        return Err(invalid(format!(
            "the assertion's Subject has {} SubjectConfirmation elements; exactly one is required",
            confirmations.len()
        )));
    }
    for confirmation in confirmations {
        if let Some(data) = text(confirmation, "SubjectConfirmationData") {
            if let Some(t) = data.attribute("NotOnOrAfter") {
                bounded = true;
                if now >= time_of(t)? {
                    return Err(SamlError::Expired(format!(
                        "Token expired: the subject confirmation was valid until {t}"
                    )));
                }
            }
            recipient = recipient.or_else(|| data.attribute("Recipient").map(str::to_owned));
        }
    }
    if !bounded {
        return Err(invalid(
            "the assertion's SubjectConfirmationData has no NotOnOrAfter",
        ));
    }
    // The bearer confirmation is for AWS's sign-in endpoint ("must match the AWS endpoint"),
    // not for another service the identity provider sends the same user to.
    match recipient.as_deref() {
        Some(r) if is_aws_saml_endpoint(r) => {}
        Some(r) => {
            return Err(invalid(format!(
                "the subject confirmation's Recipient {r} is not AWS's SAML endpoint \
                 (https://signin.aws.amazon.com/saml)"
            )));
        }
        None => {
            return Err(invalid(
                "the subject confirmation has no Recipient (AWS's SAML endpoint)",
            ));
        }
    }
    let session_not_on_or_after = assertion
        .children()
        .filter(|n| n.has_tag_name((NS_ASSERTION, "AuthnStatement")))
        .find_map(|n| n.attribute("SessionNotOnOrAfter"))
        .map(time_of)
        .transpose()?;
    let mut audiences = Vec::new();
    if let Some(conditions) = text(assertion, "Conditions") {
        if let Some(t) = conditions.attribute("NotBefore")
            && time_of(t)? > now + SKEW
        {
            return Err(invalid(format!("the assertion is not valid before {t}")));
        }
        if let Some(t) = conditions.attribute("NotOnOrAfter")
            && now >= time_of(t)?
        {
            return Err(SamlError::Expired(format!(
                "Token expired: the assertion was valid until {t}"
            )));
        }
        // Every audience restriction must include AWS (they are ANDed): an assertion the
        // identity provider made for another service is not one for this.
        for restriction in conditions
            .children()
            .filter(|n| n.has_tag_name((NS_ASSERTION, "AudienceRestriction")))
        {
            let these: Vec<String> = restriction
                .children()
                .filter(|n| n.has_tag_name((NS_ASSERTION, "Audience")))
                .map(|a| full_text(a).trim().to_owned())
                .collect();
            if !these.iter().any(|a| {
                AWS_AUDIENCES.iter().any(|aws| a.starts_with(aws)) || is_aws_saml_endpoint(a)
            }) {
                return Err(invalid(format!(
                    "the assertion is for the audience {} and not for AWS ({})",
                    these.join(", "),
                    AWS_AUDIENCES.join(" or ")
                )));
            }
            audiences.extend(these);
        }
    }
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for statement in assertion
        .children()
        .filter(|n| n.has_tag_name((NS_ASSERTION, "AttributeStatement")))
    {
        for attribute in statement
            .children()
            .filter(|n| n.has_tag_name((NS_ASSERTION, "Attribute")))
        {
            let Some(name) = attribute.attribute("Name") else {
                continue;
            };
            let values = attributes.entry(name.to_owned()).or_default();
            for v in attribute
                .children()
                .filter(|n| n.has_tag_name((NS_ASSERTION, "AttributeValue")))
            {
                values.push(full_text(v).trim().to_owned());
            }
        }
    }
    Ok(Assertion {
        issuer,
        subject,
        subject_format,
        recipient,
        audiences,
        session_not_on_or_after,
        attributes,
    })
}

/// The first child of `parent` in the assertion namespace named `name`.
fn text<'a, 'i>(parent: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    parent
        .children()
        .find(|n| n.has_tag_name((NS_ASSERTION, name)))
}

/// Refuses documents nested deeper than [`MAX_DEPTH`].
fn check_depth(doc: &Document<'_>) -> Result<(), SamlError> {
    let mut stack = vec![(doc.root(), 0usize)];
    while let Some((node, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(invalid(format!(
                "the SAML response is nested deeper than {MAX_DEPTH} elements"
            )));
        }
        stack.extend(
            node.children()
                .filter(|c| c.is_element())
                .map(|c| (c, depth + 1)),
        );
    }
    Ok(())
}

/// All the text of an element, as canonicalization sees it: a comment splits a value into text
/// nodes that the digest joins, so reading only the first would read another value than the
/// one signed (`alice@corp.com<!---->.evil.io`).
fn full_text(node: Node<'_, '_>) -> String {
    node.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect()
}

/// AWS's SAML sign-in endpoints: global or regional, in each partition, `/saml` or
/// `/static/saml`.
fn is_aws_saml_endpoint(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.split(['?', '#']).next().unwrap_or("");
    let partition = [
        "signin.aws.amazon.com",
        "signin.amazonaws-us-gov.com",
        "signin.amazonaws.cn",
    ]
    .iter()
    .any(|base| {
        host == *base
            || host
                .strip_suffix(base)
                .and_then(|r| r.strip_suffix('.'))
                .is_some_and(|region| {
                    !region.is_empty()
                        && region
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
    });
    partition && matches!(path, "saml" | "static/saml" | "saml/")
}

fn time_of(t: &str) -> Result<i64, SamlError> {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| invalid(format!("bad time {t:?} in the assertion: {e}")))
}

/// The `ds:Signature` that is a direct child of `element`.
fn direct_signature<'a, 'i>(element: Node<'a, 'i>) -> Option<Node<'a, 'i>> {
    element
        .children()
        .find(|n| n.has_tag_name((NS_DSIG, "Signature")))
}

fn child<'a, 'i>(parent: Node<'a, 'i>, ns: &str, name: &str) -> Result<Node<'a, 'i>, SamlError> {
    parent
        .children()
        .find(|n| n.has_tag_name((ns, name)))
        .ok_or_else(|| invalid(format!("the signature has no {name}")))
}

/// The `InclusiveNamespaces` prefix list of a canonicalization method or transform.
fn inclusive_prefixes(method: Node<'_, '_>) -> Result<Vec<String>, SamlError> {
    let list: Vec<String> = method
        .children()
        .find(|n| n.tag_name().name() == "InclusiveNamespaces")
        .and_then(|n| n.attribute("PrefixList"))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    if list.len() > MAX_INCLUSIVE_PREFIXES {
        return Err(invalid(format!(
            "the InclusiveNamespaces PrefixList has more than {MAX_INCLUSIVE_PREFIXES} prefixes"
        )));
    }
    Ok(list)
}

fn verify_signature(
    doc: &Document<'_>,
    element: Node<'_, '_>,
    sig: Node<'_, '_>,
    certs: &[Vec<u8>],
) -> Result<(), SamlError> {
    let signed_info = child(sig, NS_DSIG, "SignedInfo")?;
    let c14n_method = child(signed_info, NS_DSIG, "CanonicalizationMethod")?;
    if c14n_method.attribute("Algorithm") != Some(EXC_C14N) {
        return Err(invalid(format!(
            "the canonicalization {:?} is not supported (only {EXC_C14N})",
            c14n_method.attribute("Algorithm").unwrap_or_default()
        )));
    }
    let sig_alg = child(signed_info, NS_DSIG, "SignatureMethod")?
        .attribute("Algorithm")
        .unwrap_or_default();
    let params: &'static signature::RsaParameters = match sig_alg {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => {
            &signature::RSA_PKCS1_2048_8192_SHA256
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => {
            &signature::RSA_PKCS1_2048_8192_SHA512
        }
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => {
            &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        other => {
            return Err(invalid(format!(
                "the signature method {other:?} is not supported"
            )));
        }
    };
    let mut references = signed_info
        .children()
        .filter(|n| n.has_tag_name((NS_DSIG, "Reference")));
    let (Some(reference), None) = (references.next(), references.next()) else {
        return Err(invalid("the signature must have exactly one Reference"));
    };
    let id = element
        .attribute("ID")
        .ok_or_else(|| invalid("the signed element has no ID"))?;
    if reference.attribute("URI") != Some(&format!("#{id}")) {
        return Err(invalid(
            "the signature's Reference does not name the element it is in",
        ));
    }
    let same_id = doc
        .descendants()
        .filter(|n| n.attribute("ID") == Some(id))
        .count();
    if same_id != 1 {
        return Err(invalid(format!(
            "the ID {id} is not unique in the SAML response"
        )));
    }
    let mut prefixes = Vec::new();
    if let Some(transforms) = reference
        .children()
        .find(|n| n.has_tag_name((NS_DSIG, "Transforms")))
    {
        for t in transforms
            .children()
            .filter(|n| n.has_tag_name((NS_DSIG, "Transform")))
        {
            match t.attribute("Algorithm") {
                Some(ENVELOPED) => {}
                Some(EXC_C14N) => prefixes = inclusive_prefixes(t)?,
                other => {
                    return Err(invalid(format!(
                        "the transform {:?} is not supported",
                        other.unwrap_or_default()
                    )));
                }
            }
        }
    }
    let digest_alg = match child(reference, NS_DSIG, "DigestMethod")?
        .attribute("Algorithm")
        .unwrap_or_default()
    {
        "http://www.w3.org/2001/04/xmlenc#sha256" => &digest::SHA256,
        "http://www.w3.org/2001/04/xmlenc#sha512" => &digest::SHA512,
        "http://www.w3.org/2000/09/xmldsig#sha1" => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        other => {
            return Err(invalid(format!(
                "the digest method {other:?} is not supported"
            )));
        }
    };
    let want: String = full_text(child(reference, NS_DSIG, "DigestValue")?)
        .split_whitespace()
        .collect();
    let canonical = canonicalize(element, Some(sig.id()), &prefixes);
    let got = STANDARD.encode(digest::digest(digest_alg, canonical.as_bytes()));
    if got != want {
        return Err(invalid(
            "the signed element's digest does not match: it was changed after signing",
        ));
    }
    let value: String = full_text(child(sig, NS_DSIG, "SignatureValue")?)
        .split_whitespace()
        .collect();
    let value = STANDARD
        .decode(value)
        .map_err(|_| invalid("the SignatureValue is not base64"))?;
    let info = canonicalize(signed_info, None, &inclusive_prefixes(c14n_method)?);
    for der in certs {
        let cert = rustls::pki_types::CertificateDer::from(der.as_slice());
        let Ok(parsed) = rustls::server::ParsedCertificate::try_from(&cert) else {
            continue;
        };
        let spki = parsed.subject_public_key_info();
        if UnparsedPublicKey::new(params, spki.as_ref())
            .verify(info.as_bytes(), &value)
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(invalid(
        "the SAML response's signature does not verify with the provider's certificates",
    ))
}

/// Exclusive XML canonicalization (without comments) of `apex`'s subtree, leaving out the node
/// `exclude` (the enveloped signature); `inclusive` prefixes (`#default` for the default
/// namespace) are rendered wherever they are in scope, as inclusive canonicalization would.
pub fn canonicalize(apex: Node<'_, '_>, exclude: Option<NodeId>, inclusive: &[String]) -> String {
    let mut out = String::new();
    let mut rendered: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    render(apex, exclude, inclusive, &mut rendered, &mut out);
    out
}

/// The qualified name in the source text at `start` (roxmltree keeps names' namespaces, not
/// their prefixes, and canonical XML writes the prefixes).
fn qname(input: &str, start: usize) -> &str {
    let rest = input.get(start..).unwrap_or_default();
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/' || c == '=')
        .unwrap_or(rest.len());
    rest.get(..end).unwrap_or_default()
}

fn prefix_of(name: &str) -> &str {
    name.split_once(':').map_or("", |(p, _)| p)
}

fn render(
    node: Node<'_, '_>,
    exclude: Option<NodeId>,
    inclusive: &[String],
    rendered: &mut Vec<BTreeMap<String, String>>,
    out: &mut String,
) {
    if Some(node.id()) == exclude {
        return;
    }
    if node.is_text() {
        escape_text(node.text().unwrap_or_default(), out);
        return;
    }
    if !node.is_element() {
        // Comments are left out; processing instructions do not occur in SAML.
        return;
    }
    let input = node.document().input_text();
    let name = qname(input, node.range().start + 1);
    // The namespaces in scope, by prefix ("" for the default namespace).
    let scope: BTreeMap<String, String> = node
        .namespaces()
        .map(|ns| {
            (
                ns.name().unwrap_or_default().to_owned(),
                ns.uri().to_owned(),
            )
        })
        .collect();
    let mut utilized: Vec<String> = vec![prefix_of(name).to_owned()];
    let mut attrs: Vec<(String, String, String)> = Vec::new();
    for a in node.attributes() {
        let aname = input.get(a.range_qname()).unwrap_or(a.name());
        let p = prefix_of(aname);
        if !p.is_empty() {
            utilized.push(p.to_owned());
        }
        attrs.push((
            a.namespace().unwrap_or_default().to_owned(),
            a.name().to_owned(),
            format_attr(aname, a.value()),
        ));
    }
    for p in inclusive {
        let p = if p == "#default" { "" } else { p.as_str() };
        if scope.contains_key(p) {
            utilized.push(p.to_owned());
        }
    }
    utilized.sort();
    utilized.dedup();
    let parent = rendered.last().cloned().unwrap_or_default();
    let mut mine = parent.clone();
    let mut decls = String::new();
    for p in &utilized {
        if p == "xml" {
            continue;
        }
        let uri = scope.get(p).cloned().unwrap_or_default();
        let before = parent.get(p).cloned().unwrap_or_default();
        if uri == before {
            continue;
        }
        if p.is_empty() {
            decls.push_str(" xmlns=\"");
        } else {
            decls.push_str(" xmlns:");
            decls.push_str(p);
            decls.push_str("=\"");
        }
        escape_attr(&uri, &mut decls);
        decls.push('"');
        mine.insert(p.clone(), uri);
    }
    attrs.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out.push('<');
    out.push_str(name);
    out.push_str(&decls);
    for (_, _, text) in &attrs {
        out.push(' ');
        out.push_str(text);
    }
    out.push('>');
    rendered.push(mine);
    for c in node.children() {
        render(c, exclude, inclusive, rendered, out);
    }
    rendered.pop();
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn format_attr(name: &str, value: &str) -> String {
    let mut s = String::with_capacity(name.len() + value.len() + 3);
    s.push_str(name);
    s.push_str("=\"");
    escape_attr(value, &mut s);
    s.push('"');
    s
}

fn escape_text(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str, inclusive: &[&str]) -> String {
        let doc = Document::parse(xml).unwrap();
        let inclusive: Vec<String> = inclusive.iter().map(|s| (*s).to_owned()).collect();
        canonicalize(doc.root_element(), None, &inclusive)
    }

    #[test]
    fn exclusive_canonicalization_renders_only_the_namespaces_used() {
        // Exclusive c14n test vector shapes: unused prefixes dropped, attributes sorted by
        // namespace then name, empty elements expanded, quotes normalised.
        let xml = r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:unused="urn:u" z='1' b:y="2" a="&amp;&quot;"><b:c/><d>x &lt; y</d><!-- gone --></a:r>"#;
        assert_eq!(
            c14n(xml, &[]),
            r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" a="&amp;&quot;" z="1" b:y="2"><b:c></b:c><d>x &lt; y</d></a:r>"#
        );
        // A prefix in the inclusive list is rendered where it is in scope.
        assert_eq!(
            c14n(r#"<r xmlns:xs="urn:xs"><v>1</v></r>"#, &["xs"]),
            r#"<r xmlns:xs="urn:xs"><v>1</v></r>"#
        );
        // A namespace already rendered by an ancestor is not repeated; a default namespace is.
        assert_eq!(
            c14n(
                r#"<p:r xmlns:p="urn:p" xmlns="urn:d"><p:c><e/></p:c></p:r>"#,
                &[]
            ),
            r#"<p:r xmlns:p="urn:p"><p:c><e xmlns="urn:d"></e></p:c></p:r>"#
        );
    }

    #[test]
    fn an_unsigned_or_malformed_response_is_refused() {
        let meta = "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\"/>";
        for (input, want) in [
            ("!!", "not base64"),
            (STANDARD.encode("<a").as_str(), "not well-formed XML"),
            (STANDARD.encode("<a/>").as_str(), "not a samlp:Response"),
        ] {
            let e = verify(input, meta, 0, true).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let response = STANDARD.encode(format!(
            "<samlp:Response xmlns:samlp=\"{NS_PROTOCOL}\" ID=\"r\"><samlp:Status><samlp:StatusCode Value=\"{SUCCESS}\"/></samlp:Status><saml:Assertion xmlns:saml=\"{NS_ASSERTION}\" ID=\"a\"/></samlp:Response>"
        ));
        let e = verify(&response, meta, 0, true).unwrap_err().to_string();
        assert!(e.contains("no signing certificate"), "{e}");
    }

    /// Regression: the XML parser's error quoted the assertion's element names, which reached
    /// the caller and the audit trail's errorMessage.
    #[test]
    fn a_malformed_response_is_not_quoted_in_the_error() {
        let meta = "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\"/>";
        let input =
            STANDARD.encode("<samlp:Response xmlns:samlp='urn:p'><LEAKMARKER></samlp:Response>");
        let e = verify(&input, meta, 0, true).unwrap_err().to_string();
        assert!(e.contains("not well-formed XML (at 1:"), "{e}");
        assert!(!e.contains("LEAKMARKER"), "{e}");
    }
}
