//! Cross-origin resource sharing, so that browser code (the JavaScript SDK v3,
//! `@aws-crypto/client-browser`) can call the API from a web page, as it can call AWS's STS,
//! KMS, Secrets Manager and CloudTrail endpoints (bug: a preflight got STS's `MissingAction`
//! and no response named an allowed origin, so browsers refused every call).
//!
//! What AWS does: the JavaScript SDK's service table (aws-sdk-js `SERVICES.md`, "Allows CORS")
//! marks STS, KMS, Secrets Manager and CloudTrail as answering browsers, and not IAM. One port
//! serves them all here and a preflight names no service (it carries no credential scope and
//! every one of them posts to `/`), so IAM is answered too. No published capture of the exact
//! headers AWS sends was found, so the values follow the Fetch standard and what the SDKs
//! need: a preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) is answered 200 with no body, allowing any origin (`*`),
//! the methods the protocols use, and exactly the headers the browser asked for (the SDK sends
//! `authorization`, `x-amz-*` and `amz-sdk-*`; `Access-Control-Allow-Headers: *` would not
//! cover `authorization`); every other response to a request with an `Origin` names `*` as
//! allowed and exposes the headers SDKs read (request ids, error type, `date` for clock-skew
//! correction).
//!
//! This weakens nothing in strict mode: CORS only lets a page read what the browser would
//! otherwise hide. Every real request is still SigV4-signed, authenticated, authorized and
//! audited by the pipeline, and no credentials are ever taken from the browser (`*` forbids
//! cookies, and `Access-Control-Allow-Credentials` is never sent). A `--dev` server accepts any
//! signature, so there a page could forge one and read a developer's local secrets: it answers
//! no browser (bug: it did). A preflight carries no credentials and
//! reaches no handler, so it is neither authenticated nor audited; it is not an API request.

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, HeaderMap, HeaderValue, ORIGIN, VARY,
};
use http::{Method, Response, StatusCode};

use crate::protocol::Body;

/// The methods AWS's APIs are called with.
const ALLOW_METHODS: &str = "GET, POST, PUT, DELETE, HEAD";

/// The response headers SDKs read, which browsers hide from scripts unless exposed:
/// `x-amzn-requestid` (JSON and query protocols), `x-amz-request-id` and `x-amz-id-2` (the
/// REST ones), `x-amzn-errortype`, `x-amzn-errormessage` and `x-amzn-query-error` (JSON
/// errors), and `date`, from which the SDK corrects its clock after a skew error.
const EXPOSE_HEADERS: &str = "x-amzn-requestid, x-amz-request-id, x-amz-id-2, x-amzn-errortype, \
                              x-amzn-errormessage, x-amzn-query-error, date";

/// How long a browser may reuse a preflight's answer: a day, the longest any browser honours
/// (Firefox; Chromium caps it at two hours). The answer never changes while the server runs.
const MAX_AGE: &str = "86400";

/// Whether the request is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`, as the Fetch standard defines it. A plain `OPTIONS` is left
/// to the pipeline, which answers it as AWS does.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(ORIGIN)
        && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight: 200, no body, the origin, methods and requested headers allowed.
pub fn preflight(headers: &HeaderMap) -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::OK;
    let out = response.headers_mut();
    out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    out.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    // The requested headers are echoed as they came: any header may be sent, since the
    // signature, not CORS, decides what a request may do.
    if let Some(requested) = headers.get(ACCESS_CONTROL_REQUEST_HEADERS) {
        out.insert(ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        out.insert(
            VARY,
            HeaderValue::from_static("Access-Control-Request-Headers"),
        );
    }
    out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
    out.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    response
}

/// Whether the request came from a web page (it carried `Origin`), so that its response needs
/// [`allow`]; one without needs nothing.
pub fn from_page(headers: &HeaderMap) -> bool {
    headers.contains_key(ORIGIN)
}

/// Adds the headers that let the page that sent the request read the response.
pub fn allow<B>(response: &mut Response<B>) {
    let out = response.headers_mut();
    out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    out.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    http::header::HeaderName::from_static(n),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn a_preflight_needs_origin_and_a_requested_method() {
        let full = headers(&[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
        ]);
        assert!(is_preflight(&Method::OPTIONS, &full));
        assert!(!is_preflight(&Method::POST, &full));
        let no_method = headers(&[("origin", "http://localhost:3000")]);
        assert!(!is_preflight(&Method::OPTIONS, &no_method));
        let no_origin = headers(&[("access-control-request-method", "POST")]);
        assert!(!is_preflight(&Method::OPTIONS, &no_origin));
    }

    #[test]
    fn a_preflight_allows_what_was_asked() {
        let asked = headers(&[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization,content-type,x-amz-date,x-amz-target",
            ),
        ]);
        let response = preflight(&asked);
        assert_eq!(response.status(), StatusCode::OK);
        let h = response.headers();
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(
            h[ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization,content-type,x-amz-date,x-amz-target"
        );
        assert!(
            h[ACCESS_CONTROL_ALLOW_METHODS]
                .to_str()
                .unwrap()
                .contains("POST")
        );
        assert_eq!(h[ACCESS_CONTROL_MAX_AGE], MAX_AGE);
        assert!(!h.contains_key("access-control-allow-credentials"));
    }

    #[test]
    fn only_requests_from_a_page_get_cors_headers() {
        assert!(!from_page(&HeaderMap::new()));
        assert!(from_page(&headers(&[(
            "origin",
            "https://app.example.com"
        )])));
        let mut response = Response::new(());
        allow(&mut response);
        assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let exposed = response.headers()[ACCESS_CONTROL_EXPOSE_HEADERS]
            .to_str()
            .unwrap();
        assert!(exposed.contains("x-amzn-requestid") && exposed.contains("date"));
    }
}
