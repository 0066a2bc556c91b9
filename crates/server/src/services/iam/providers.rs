//! Identity providers: OpenID Connect and SAML. Both are kept as [`ProviderRecord`]s keyed by
//! their ARN (`oidc-provider/…` or `saml-provider/…`).

use palisade_store::ProviderRecord;
use serde_json::{Value, json};

use super::{
    Cx, Entity, already_exists, check_tags, invalid_input, limit_exceeded, no_such_entity, now,
    req, strings, tags, tags_json,
};
use crate::error::ApiError;

/// AWS's quotas.
const MAX_THUMBPRINTS: usize = 5;
const MAX_CLIENT_IDS: usize = 100;
const MAX_PROVIDERS: usize = 100;

fn no_such_oidc(arn: &str) -> ApiError {
    no_such_entity(format!("OpenIDConnect Provider not found for arn {arn}"))
}

fn no_such_saml(arn: &str) -> ApiError {
    no_such_entity(format!("SAMLProvider not found for arn {arn}"))
}

fn is_oidc(p: &ProviderRecord) -> bool {
    p.protocol == "oidc"
}

fn is_saml(p: &ProviderRecord) -> bool {
    p.protocol == "saml"
}

/// The issuer URL without its scheme, query and fragment (what the ARN and `Url` carry).
fn oidc_issuer(cx: &Cx<'_>, url: &str) -> Result<String, ApiError> {
    let rest = url.strip_prefix("https://").or_else(|| {
        // moto's suites register http:// issuers; AWS takes https:// only.
        if cx.state.config.dev {
            url.strip_prefix("http://")
        } else {
            None
        }
    });
    // AWS refuses a query or fragment (and credentials before the host); --dev drops a query,
    // as moto's suites expect.
    if !cx.state.config.dev
        && rest.is_some_and(|r| {
            r.contains(['?', '#']) || r.split('/').next().is_some_and(|host| host.contains('@'))
        })
    {
        return Err(invalid_input(format!(
            "Invalid Open ID Connect Provider URL {url}: it may not carry a query, a fragment \
             or user information"
        )));
    }
    let rest = rest
        .map(|r| r.split(['?', '#']).next().unwrap_or_default())
        .map(|r| r.trim_end_matches('/'))
        .filter(|r| !r.is_empty() && !r.starts_with('/'))
        // A host and path a URL can carry: no spaces, controls or `<>` (the issuer is echoed in
        // XML and compared with tokens' `iss`).
        .filter(|r| {
            format!("https://{r}")
                .parse::<http::Uri>()
                .is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()))
        });
    rest.map(str::to_owned)
        .ok_or_else(|| invalid_input("Invalid Open ID Connect Provider URL"))
}

fn check_thumbprints(t: &[String]) -> Result<(), ApiError> {
    if t.len() > MAX_THUMBPRINTS {
        return Err(invalid_input(
            "Thumbprint list must contain fewer than 5 entries.",
        ));
    }
    // A thumbprint is a certificate's SHA-1 in hex (the model checks only its length of 40).
    if let Some(bad) = t.iter().find(|x| !x.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(invalid_input(format!(
            "Thumbprint {bad} is not a hex-encoded SHA-1 fingerprint"
        )));
    }
    Ok(())
}

fn check_client_ids(c: &[String]) -> Result<(), ApiError> {
    if c.len() > MAX_CLIENT_IDS {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
        )));
    }
    Ok(())
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

// -- OpenID Connect -------------------------------------------------------------------------------

pub(crate) async fn create_oidc(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let issuer = oidc_issuer(cx, req(input, "Url")?)?;
    let client_ids = dedup(strings(input, "ClientIDList"));
    let mut thumbprints = dedup(strings(input, "ThumbprintList"));
    check_thumbprints(&thumbprints)?;
    check_client_ids(&client_ids)?;
    let tags = tags(input);
    check_tags(&tags, Entity::OidcProvider)?;
    let arn = format!("arn:aws:iam::{}:oidc-provider/{issuer}", cx.account);
    // AWS: without a ThumbprintList, IAM records the thumbprint of the top certificate the
    // issuer's server presents. Without one Palisade, which carries no public root CAs, could
    // never trust the provider's keys. (Not in --dev, whose providers are made up.)
    let exists = cx
        .state
        .iam
        .read_account(cx.account, |a| a.providers.contains_key(&arn))?;
    if thumbprints.is_empty() && !exists && !cx.state.config.dev {
        let thumbprint = crate::oidc::fetch_thumbprint(&issuer).await.map_err(|e| {
            invalid_input(format!(
                "Could not retrieve the thumbprint of https://{issuer}: {e}; give the \
                 provider's ThumbprintList"
            ))
        })?;
        thumbprints.push(thumbprint);
    }
    let account = cx.account.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx.account.providers.contains_key(&arn) {
                return Err(already_exists(format!(
                    "Provider with url https://{issuer} already exists."
                )));
            }
            if tx.account.providers.values().filter(|p| is_oidc(p)).count() >= MAX_PROVIDERS {
                return Err(limit_exceeded(format!(
                    "Cannot exceed quota for OpenIdConnectProvidersPerAccount: {MAX_PROVIDERS}"
                )));
            }
            let mut out = json!({"OpenIDConnectProviderArn": arn});
            if !tags.is_empty() {
                crate::services::set(&mut out, "Tags", tags_json(&tags));
            }
            tx.insert_provider(ProviderRecord {
                account_id: account,
                arn: arn.clone(),
                protocol: "oidc".to_owned(),
                url: Some(issuer),
                client_ids,
                thumbprints,
                metadata: None,
                created_at: now(),
                tags,
            });
            Ok(out)
        })
        .await
}

pub(crate) fn get_oidc(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "OpenIDConnectProviderArn")?;
    cx.state.iam.read_account(cx.account, |a| {
        let p = a
            .providers
            .get(arn)
            .filter(|p| is_oidc(p))
            .ok_or_else(|| no_such_oidc(arn))?;
        let mut out = json!({
            "Url": p.url,
            "ClientIDList": p.client_ids,
            "ThumbprintList": p.thumbprints,
            "CreateDate": p.created_at,
        });
        if !p.tags.is_empty() {
            crate::services::set(&mut out, "Tags", tags_json(&p.tags));
        }
        Ok(out)
    })?
}

pub(crate) fn list_oidc(cx: &Cx<'_>) -> Result<Value, ApiError> {
    let list = cx.state.iam.read_account(cx.account, |a| {
        a.providers
            .values()
            .filter(|p| is_oidc(p))
            .map(|p| json!({"Arn": p.arn}))
            .collect::<Vec<_>>()
    })?;
    Ok(json!({"OpenIDConnectProviderList": list}))
}

/// Changes an OIDC provider with `f` (which checks before it changes anything).
async fn change_oidc(
    cx: &Cx<'_>,
    input: &Value,
    f: impl FnOnce(&mut ProviderRecord) -> Result<(), ApiError>,
) -> Result<Value, ApiError> {
    let arn = req(input, "OpenIDConnectProviderArn")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if !tx.account.providers.get(&arn).is_some_and(is_oidc) {
                return Err(no_such_oidc(&arn));
            }
            let Some(p) = tx.provider_mut(&arn) else {
                return Err(no_such_oidc(&arn));
            };
            f(p)?;
            Ok(json!({}))
        })
        .await
}

/// Idempotent, as AWS documents: deleting a provider that does not exist succeeds.
pub(crate) async fn delete_oidc(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "OpenIDConnectProviderArn")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx.account.providers.get(&arn).is_some_and(is_oidc) {
                tx.remove_provider(&arn);
            }
            Ok(json!({}))
        })
        .await
}

pub(crate) async fn update_oidc_thumbprint(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let thumbprints = dedup(strings(input, "ThumbprintList"));
    check_thumbprints(&thumbprints)?;
    change_oidc(cx, input, |p| {
        p.thumbprints = thumbprints;
        Ok(())
    })
    .await
}

pub(crate) async fn add_client_id(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let id = req(input, "ClientID")?.to_owned();
    change_oidc(cx, input, |p| {
        if !p.client_ids.contains(&id) {
            let mut ids = p.client_ids.clone();
            ids.push(id);
            check_client_ids(&ids)?;
            p.client_ids = ids;
        }
        Ok(())
    })
    .await
}

pub(crate) async fn remove_client_id(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let id = req(input, "ClientID")?.to_owned();
    change_oidc(cx, input, |p| {
        p.client_ids.retain(|c| *c != id);
        Ok(())
    })
    .await
}

// -- SAML -----------------------------------------------------------------------------------------

/// Until when a SAML provider is valid: its metadata's `validUntil`, as AWS reports it, or a
/// year from its creation when the metadata sets none.
fn valid_until(p: &ProviderRecord) -> i64 {
    p.metadata
        .as_deref()
        .and_then(crate::saml::metadata_valid_until)
        .unwrap_or_else(|| p.created_at.saturating_add(365 * 24 * 3600))
}

/// A stable id of the provider in AWS's UUID form (`SAMLProviderUUID`), from its ARN and
/// creation time: a provider deleted and created again under its name gets another.
fn provider_uuid(p: &ProviderRecord) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{} {}", p.arn, p.created_at).as_bytes(),
    );
    let mut b = [0u8; 16];
    b.copy_from_slice(d.as_ref().get(..16).unwrap_or(&[0; 16]));
    uuid::Builder::from_custom_bytes(b).into_uuid().to_string()
}

/// A metadata document AssumeRoleWithSAML can use: one `md:EntityDescriptor` with an entity id
/// and an identity provider's signing certificate. Not in `--dev`, whose test suites register
/// placeholder text.
fn check_saml_metadata(cx: &Cx<'_>, metadata: &str) -> Result<(), ApiError> {
    if cx.state.config.dev {
        return Ok(());
    }
    match crate::saml::metadata_signers(metadata) {
        Ok((_, certs)) if certs.is_empty() => Err(invalid_input(
            "Could not parse metadata: it names no signing certificate of an identity provider",
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(invalid_input(format!("Could not parse metadata: {e}"))),
    }
}

pub(crate) async fn create_saml(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let name = req(input, "Name")?.to_owned();
    let metadata = req(input, "SAMLMetadataDocument")?.to_owned();
    check_saml_metadata(cx, &metadata)?;
    let tags = tags(input);
    check_tags(&tags, Entity::SamlProvider)?;
    let arn = format!("arn:aws:iam::{}:saml-provider/{name}", cx.account);
    let account = cx.account.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if tx.account.providers.contains_key(&arn) {
                return Err(already_exists(format!(
                    "SAMLProvider {name} already exists."
                )));
            }
            if tx.account.providers.values().filter(|p| is_saml(p)).count() >= MAX_PROVIDERS {
                return Err(limit_exceeded(format!(
                    "Cannot exceed quota for SamlProvidersPerAccount: {MAX_PROVIDERS}"
                )));
            }
            let mut out = json!({"SAMLProviderArn": arn});
            if !tags.is_empty() {
                crate::services::set(&mut out, "Tags", tags_json(&tags));
            }
            tx.insert_provider(ProviderRecord {
                account_id: account,
                arn: arn.clone(),
                protocol: "saml".to_owned(),
                url: None,
                client_ids: vec![],
                thumbprints: vec![],
                metadata: Some(metadata),
                created_at: now(),
                tags,
            });
            Ok(out)
        })
        .await
}

pub(crate) fn get_saml(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "SAMLProviderArn")?;
    cx.state.iam.read_account(cx.account, |a| {
        let p = a
            .providers
            .get(arn)
            .filter(|p| is_saml(p))
            .ok_or_else(|| no_such_saml(arn))?;
        let mut out = json!({
            "SAMLMetadataDocument": p.metadata,
            "CreateDate": p.created_at,
            "ValidUntil": valid_until(p),
            "SAMLProviderUUID": provider_uuid(p),
        });
        if !p.tags.is_empty() {
            crate::services::set(&mut out, "Tags", tags_json(&p.tags));
        }
        Ok(out)
    })?
}

pub(crate) fn list_saml(cx: &Cx<'_>) -> Result<Value, ApiError> {
    let list = cx.state.iam.read_account(cx.account, |a| {
        a.providers
            .values()
            .filter(|p| is_saml(p))
            .map(|p| {
                json!({
                    "Arn": p.arn,
                    "CreateDate": p.created_at,
                    "ValidUntil": valid_until(p),
                })
            })
            .collect::<Vec<_>>()
    })?;
    Ok(json!({"SAMLProviderList": list}))
}

pub(crate) async fn update_saml(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "SAMLProviderArn")?.to_owned();
    let metadata = req(input, "SAMLMetadataDocument")?.to_owned();
    check_saml_metadata(cx, &metadata)?;
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if !tx.account.providers.get(&arn).is_some_and(is_saml) {
                return Err(no_such_saml(&arn));
            }
            if let Some(p) = tx.provider_mut(&arn) {
                p.metadata = Some(metadata);
            }
            Ok(json!({"SAMLProviderArn": arn}))
        })
        .await
}

pub(crate) async fn delete_saml(cx: &Cx<'_>, input: &Value) -> Result<Value, ApiError> {
    let arn = req(input, "SAMLProviderArn")?.to_owned();
    cx.state
        .iam
        .mutate(cx.account, |tx| {
            if !tx.account.providers.get(&arn).is_some_and(is_saml) {
                return Err(no_such_saml(&arn));
            }
            tx.remove_provider(&arn);
            Ok(json!({}))
        })
        .await
}
