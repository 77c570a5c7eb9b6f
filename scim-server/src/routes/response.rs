//! Response headers: `ETag` and `Location` (RFC 7644 §3.14, §3.3), `304 Not Modified` for
//! `If-None-Match`, and a Group's streamed body.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use scim_core::Context;

use crate::render::{etag, group_body_stream};
use crate::store::{MemberPages, StoredResource};

/// Adds the version's `ETag` and, when given, a `Location`.
pub fn with_headers(mut resp: Response, version: i64, location: Option<&str>) -> Response {
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        resp.headers_mut().insert(header::LOCATION, l);
    }
    resp
}

/// `304 Not Modified` when `If-None-Match` names the current version (or `*`).
pub fn not_modified(headers: &HeaderMap, version: i64) -> Option<Response> {
    let tag = etag(version);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|inm| inm.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    matches.then(|| with_headers(StatusCode::NOT_MODIFIED.into_response(), version, None))
}

/// A group in its default representation with its members streamed (see
/// [`crate::render::group_body_stream`]), with its ETag.
pub fn group(
    ctx: &Context<'_>,
    base: &str,
    status: StatusCode,
    stored: StoredResource,
    pages: MemberPages,
) -> Response {
    let version = stored.version;
    let body = group_body_stream(ctx, base, stored, pages);
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::error::SCIM_JSON),
    );
    with_headers(resp, version, None)
}
