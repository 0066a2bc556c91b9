//! Extraction of SigV4 authentication from the `Authorization` header or a presigned query.

use std::borrow::Cow;

use time::OffsetDateTime;

use crate::canonical::{ALGORITHM, decode_hex32, parse_amz_date, parse_http_date};
use crate::error::SigV4Error;

/// A request as it arrived, in framework-free form.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The raw path as on the wire (still percent-encoded), without the query.
    pub path: &'a str,
    /// The raw query string as on the wire, without the leading `?`; empty if none.
    pub query: &'a str,
    /// Every header as a (name, value) pair, in arrival order; names in any case.
    /// Repeated headers appear once per occurrence.
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> Request<'a> {
    /// Every value of the header `name` (case-insensitive), in arrival order.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.header_values(name).next()
    }
}

/// The maximum `X-Amz-Expires` AWS accepts: seven days.
pub const MAX_PRESIGN_EXPIRES: u32 = 604_800;

/// SigV4 authentication parsed from a request, before the signature is checked.
///
/// Strings borrow from the request where they can; presigned-query values are
/// percent-decoded and so owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedAuth<'a> {
    /// The access key id from the credential, e.g. `AKIDEXAMPLE`.
    pub access_key_id: Cow<'a, str>,
    /// The credential scope date, `YYYYMMDD`; always equal to `timestamp`'s day.
    pub credential_date: Cow<'a, str>,
    /// The credential scope region, e.g. `us-east-1`.
    pub region: Cow<'a, str>,
    /// The credential scope service, e.g. `iam`.
    pub service: Cow<'a, str>,
    /// The signed header names as sent, `;`-separated, e.g. `host;x-amz-date`; always
    /// includes `host`.
    pub signed_headers: Cow<'a, str>,
    /// The claimed signature, decoded from its 64 hex digits.
    pub signature: [u8; 32],
    /// The request time from `X-Amz-Date` (header or query) or the `Date` header.
    pub timestamp: OffsetDateTime,
    /// The session token from the `x-amz-security-token` header or `X-Amz-Security-Token`
    /// query parameter, if any.
    pub security_token: Option<Cow<'a, str>>,
    /// Whether the authentication came from a presigned query string.
    pub presigned: bool,
    /// For presigned requests, `X-Amz-Expires` in seconds (1..=604800).
    pub expires: Option<u32>,
}

impl ParsedAuth<'_> {
    /// Detaches the result from the request it was parsed from.
    pub fn into_owned(self) -> ParsedAuth<'static> {
        ParsedAuth {
            access_key_id: Cow::Owned(self.access_key_id.into_owned()),
            credential_date: Cow::Owned(self.credential_date.into_owned()),
            region: Cow::Owned(self.region.into_owned()),
            service: Cow::Owned(self.service.into_owned()),
            signed_headers: Cow::Owned(self.signed_headers.into_owned()),
            signature: self.signature,
            timestamp: self.timestamp,
            security_token: self.security_token.map(|t| Cow::Owned(t.into_owned())),
            presigned: self.presigned,
            expires: self.expires,
        }
    }

    /// The signed header names, in the order the client listed them.
    pub fn signed_header_names(&self) -> impl Iterator<Item = &str> {
        self.signed_headers.split(';')
    }

    /// Checks the credential scope names the service and region this endpoint serves,
    /// with AWS's messages for a mismatch.
    pub fn check_scope(&self, service: &str, region: &str) -> Result<(), SigV4Error> {
        if self.service != service {
            return Err(SigV4Error::InvalidCredentialScope(format!(
                "Credential should be scoped to correct service: '{service}'. "
            )));
        }
        if self.region != region {
            return Err(SigV4Error::InvalidCredentialScope(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                self.region
            )));
        }
        Ok(())
    }
}

/// Whether the request carries any SigV4 authentication attempt: an `Authorization` header or
/// presigned query parameters. When false the server answers `MissingAuthenticationToken`.
pub fn is_signed(headers: &[(&str, &str)], query: &str) -> bool {
    headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        || query_keys(query).any(|k| {
            matches!(
                k,
                "X-Amz-Algorithm" | "X-Amz-Credential" | "X-Amz-Signature"
            )
        })
}

fn query_keys(query: &str) -> impl Iterator<Item = &str> {
    query
        .split('&')
        .map(|p| p.split_once('=').map_or(p, |(k, _)| k))
}

fn decode(raw: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy()
}

/// Parses the SigV4 authentication of `request`, from its `Authorization` header or else its
/// presigned query parameters.
///
/// Checks everything that needs no secret: structure, algorithm, the credential scope
/// terminator, that `host` is signed, that the scope date equals the request date's day.
pub fn parse<'a>(request: &Request<'a>) -> Result<ParsedAuth<'a>, SigV4Error> {
    let mut auth_headers = request.header_values("authorization");
    let auth = auth_headers.next();
    let presigned = query_keys(request.query).any(|k| k == "X-Amz-Algorithm");
    match (auth, presigned) {
        (Some(_), true) => Err(SigV4Error::IncompleteSignature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified".to_owned(),
        )),
        (Some(header), false) => {
            if auth_headers.next().is_some() {
                return Err(SigV4Error::IncompleteSignature(
                    "Request must contain exactly one Authorization header".to_owned(),
                ));
            }
            parse_header(request, header)
        }
        (None, true) => parse_query(request),
        (None, false) => Err(SigV4Error::MissingAuthentication),
    }
}

struct Credential<'a> {
    access_key_id: Cow<'a, str>,
    date: Cow<'a, str>,
    region: Cow<'a, str>,
    service: Cow<'a, str>,
}

fn split_credential<'a>(credential: Cow<'a, str>) -> Result<Credential<'a>, SigV4Error> {
    let bad = || {
        SigV4Error::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        ))
    };
    let parts: [&str; 5] = {
        let mut it = credential.split('/');
        let p = [it.next(), it.next(), it.next(), it.next(), it.next()];
        match (p, it.next()) {
            ([Some(a), Some(b), Some(c), Some(d), Some(e)], None) => [a, b, c, d, e],
            _ => return Err(bad()),
        }
    };
    let [akid, date, region, service, term] = parts;
    if term != "aws4_request" {
        return Err(SigV4Error::InvalidCredentialScope(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{term}'. "
        )));
    }
    if akid.is_empty() || date.is_empty() || region.is_empty() || service.is_empty() {
        return Err(bad());
    }
    if !is_region_name(region) {
        // The Region names where the request's events are filed and trails write their files:
        // any text there reached the file system (bug: `..`, a newline or 300 characters were
        // taken as a Region, and one broke trail delivery for the account).
        return Err(SigV4Error::InvalidCredentialScope(format!(
            "Credential should be scoped to a valid region, not '{region}'. "
        )));
    }
    Ok(match &credential {
        Cow::Borrowed(c) => {
            // Re-split the borrowed original so the parts keep its lifetime, not the local's.
            let mut it = c.split('/');
            let mut next = || Cow::Borrowed(it.next().unwrap_or_default());
            Credential {
                access_key_id: next(),
                date: next(),
                region: next(),
                service: next(),
            }
        }
        Cow::Owned(_) => Credential {
            access_key_id: Cow::Owned(akid.to_owned()),
            date: Cow::Owned(date.to_owned()),
            region: Cow::Owned(region.to_owned()),
            service: Cow::Owned(service.to_owned()),
        },
    })
}

/// The partition a Region belongs to (`aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, `aws-iso-b`,
/// `aws-iso-e`, `aws-iso-f`, `aws-eusc`), by the Region name prefixes of AWS's partitions
/// table; `None` for a name no partition has (`xx-foo-1`) or one not spelled as a Region.
/// Operations that reach another Region (multi-Region keys, secret replicas) stay within
/// their partition.
pub fn region_partition(r: &str) -> Option<&'static str> {
    if r == "aws-global" || !is_region_name(r) {
        return None;
    }
    let mut words = r.split('-');
    let (first, second) = (words.next()?, words.next()?);
    // The longer prefixes first: `us-gov-` and `us-iso-` are not the `aws` partition's `us-`.
    Some(match (first, second) {
        ("us", "gov") => "aws-us-gov",
        ("us", "iso") => "aws-iso",
        ("us", "isob") => "aws-iso-b",
        ("eu", "isoe") => "aws-iso-e",
        ("us", "isof") => "aws-iso-f",
        ("cn", _) => "aws-cn",
        ("eusc", _) => "aws-eusc",
        ("us" | "eu" | "ap" | "sa" | "ca" | "me" | "af" | "il" | "mx", _) => "aws",
        _ => return None,
    })
}

/// Whether `r` is spelled as AWS's Region names are (`us-east-1`, `us-gov-west-1`,
/// `cn-northwest-1`, `us-isob-east-1`, `eusc-de-east-1`): a 2 to 4 letter prefix, one or more
/// lowercase words and a number, each joined by `-`; or `aws-global`, which SDKs sign a global
/// service's calls with when no Region is configured.
pub fn is_region_name(r: &str) -> bool {
    if r == "aws-global" {
        return true;
    }
    let parts: Vec<&str> = r.split('-').collect();
    let lower = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    match parts.as_slice() {
        [first, words @ .., number] if !words.is_empty() => {
            (2..=4).contains(&first.len())
                && lower(first)
                && words.iter().all(|w| lower(w) && w.len() <= 16)
                && (1..=2).contains(&number.len())
                && number.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

fn check_scope_date(cred: &Credential<'_>, timestamp: OffsetDateTime) -> Result<(), SigV4Error> {
    let mut day = String::with_capacity(8);
    crate::canonical::write_scope_date(&mut day, timestamp);
    if *cred.date != *day {
        let iso = crate::canonical::amz_date(timestamp);
        return Err(SigV4Error::InvalidCredentialScope(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{day}', from '{iso}'.",
            cred.date
        )));
    }
    Ok(())
}

fn check_signed_headers(request: &Request<'_>, signed: &str) -> Result<(), SigV4Error> {
    let is_signed = |name: &str| signed.split(';').any(|h| h.eq_ignore_ascii_case(name));
    // Over HTTP/2 the host travels as the `:authority` pseudo-header, and signers that see the
    // request as HTTP/2 sign that name instead of `host` (the JavaScript SDK v3's
    // NodeHttp2Handler deletes `host`), as AWS's own message allows (bug: every such request
    // was refused with this error).
    if !is_signed("host") && !is_signed(":authority") {
        return Err(SigV4Error::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    // The JSON protocols name the operation in X-Amz-Target: unsigned, a captured request
    // could be replayed within the skew window as another operation on the same body
    // (DescribeKey turned into ScheduleKeyDeletion). Every SDK signs it.
    if request.header("x-amz-target").is_some() && !is_signed("x-amz-target") {
        return Err(SigV4Error::IncompleteSignature(
            "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    Ok(())
}

fn parse_signature(hex: &str) -> Result<[u8; 32], SigV4Error> {
    // A signature that is not 64 hex digits can never match; AWS reports it as a mismatch.
    decode_hex32(hex).ok_or(SigV4Error::SignatureMismatch)
}

fn parse_header<'a>(request: &Request<'a>, header: &'a str) -> Result<ParsedAuth<'a>, SigV4Error> {
    let header_trimmed = header.trim();
    let (algorithm, rest) = header_trimmed
        .split_once([' ', '\t'])
        .unwrap_or((header_trimmed, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'. Authorization={header}"
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split([',', ' ', '\t']).filter(|c| !c.is_empty()) {
        let Some((key, value)) = component.split_once('=') else {
            return Err(SigV4Error::IncompleteSignature(format!(
                "Authorization header requires each component to be of the form key=value. Authorization={header}"
            )));
        };
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            // Unknown components carry nothing we sign over; AWS ignores them too.
            _ => {}
        }
    }
    let amz_date = request.header("x-amz-date");
    let date = request.header("date");
    let mut missing = String::new();
    if credential.is_none() {
        missing.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if signature.is_none() {
        missing.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if signed_headers.is_none() {
        missing.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if amz_date.is_none() && date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        missing.push_str("Authorization=");
        missing.push_str(header);
        return Err(SigV4Error::IncompleteSignature(missing));
    };
    let (timestamp, date_header_name, raw_date) = match (amz_date, date) {
        (Some(d), _) => (parse_amz_date(d.trim()), "x-amz-date", d),
        (None, Some(d)) => (parse_http_date(d), "date", d),
        (None, None) => {
            missing.push_str("Authorization=");
            missing.push_str(header);
            return Err(SigV4Error::IncompleteSignature(missing));
        }
    };
    let Some(timestamp) = timestamp else {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{raw_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        )));
    };
    let cred = split_credential(Cow::Borrowed(credential))?;
    check_scope_date(&cred, timestamp)?;
    check_signed_headers(request, signed_headers)?;
    // The date the signature covers must itself be signed, or it could be replayed later
    // with a fresh date.
    if !signed_headers
        .split(';')
        .any(|h| h.eq_ignore_ascii_case(date_header_name))
    {
        return Err(SigV4Error::SignatureMismatch);
    }
    let signature = parse_signature(signature)?;
    Ok(ParsedAuth {
        access_key_id: cred.access_key_id,
        credential_date: cred.date,
        region: cred.region,
        service: cred.service,
        signed_headers: Cow::Borrowed(signed_headers),
        signature,
        timestamp,
        security_token: request.header("x-amz-security-token").map(Cow::Borrowed),
        presigned: false,
        expires: None,
    })
}

fn parse_query<'a>(request: &Request<'a>) -> Result<ParsedAuth<'a>, SigV4Error> {
    let (mut algorithm, mut credential, mut date, mut expires) = (None, None, None, None);
    let (mut signed_headers, mut signature, mut token) = (None, None, None);
    for piece in request.query.split('&') {
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let slot = match k {
            "X-Amz-Algorithm" => &mut algorithm,
            "X-Amz-Credential" => &mut credential,
            "X-Amz-Date" => &mut date,
            "X-Amz-Expires" => &mut expires,
            "X-Amz-SignedHeaders" => &mut signed_headers,
            "X-Amz-Signature" => &mut signature,
            "X-Amz-Security-Token" => &mut token,
            _ => continue,
        };
        if slot.is_some() {
            return Err(SigV4Error::IncompleteSignature(format!(
                "AWS query-string parameters must not repeat '{k}'. Re-examine the query-string parameters."
            )));
        }
        *slot = Some(v);
    }
    let mut missing = String::new();
    for (name, value) in [
        ("X-Amz-Algorithm", algorithm),
        ("X-Amz-Credential", credential),
        ("X-Amz-Signature", signature),
        ("X-Amz-SignedHeaders", signed_headers),
        ("X-Amz-Date", date),
        ("X-Amz-Expires", expires),
    ] {
        if value.is_none() {
            missing.push_str("AWS query-string parameters must include '");
            missing.push_str(name);
            missing.push_str("'. ");
        }
    }
    let (
        Some(algorithm),
        Some(credential),
        Some(signature),
        Some(signed_headers),
        Some(date),
        Some(expires),
    ) = (
        algorithm,
        credential,
        signature,
        signed_headers,
        date,
        expires,
    )
    else {
        missing.push_str("Re-examine the query-string parameters.");
        return Err(SigV4Error::IncompleteSignature(missing));
    };
    let algorithm = decode(algorithm);
    if algorithm != ALGORITHM {
        return Err(SigV4Error::IncompleteSignature(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let date = decode(date);
    let Some(timestamp) = parse_amz_date(&date) else {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        )));
    };
    let expires = match decode(expires).parse::<i64>() {
        Ok(e) if e < 0 => {
            return Err(SigV4Error::IncompleteSignature(
                "X-Amz-Expires must be non-negative".to_owned(),
            ));
        }
        Ok(e) if e > i64::from(MAX_PRESIGN_EXPIRES) => {
            return Err(SigV4Error::IncompleteSignature(format!(
                "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}"
            )));
        }
        Ok(0) | Err(_) => {
            return Err(SigV4Error::IncompleteSignature(format!(
                "X-Amz-Expires should be a number between 1 and {MAX_PRESIGN_EXPIRES}"
            )));
        }
        Ok(e) => u32::try_from(e).unwrap_or(MAX_PRESIGN_EXPIRES),
    };
    let cred = split_credential(decode(credential))?;
    check_scope_date(&cred, timestamp)?;
    let signed_headers = decode(signed_headers);
    check_signed_headers(request, &signed_headers)?;
    let signature = parse_signature(&decode(signature))?;
    let security_token = match token {
        Some(t) => Some(decode(t)),
        None => request.header("x-amz-security-token").map(Cow::Borrowed),
    };
    Ok(ParsedAuth {
        access_key_id: cred.access_key_id,
        credential_date: cred.date,
        region: cred.region,
        service: cred.service,
        signed_headers,
        signature,
        timestamp,
        security_token,
        presigned: true,
        expires: Some(expires),
    })
}
