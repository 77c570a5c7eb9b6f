//! Reading what a request asks for: query parameters (RFC 7644 §3.4.2, §3.9), versions
//! (`If-Match`, §3.14), `Prefer` (RFC 7240), and the base URL resources are rendered with.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use scim_core::messages::split_attr_list;
use scim_core::{Context, Projection, ScimError, ScimType, SearchRequest, SortOrder};

use crate::error::ApiResult;
use crate::state::ScimState;

/// The absolute base URL for locations: the configured one, else `scheme://Host` + base path.
pub fn base_url(state: &ScimState, headers: &HeaderMap) -> String {
    let settings = state.settings();
    let path = settings.base_path.trim_end_matches('/');
    if let Some(b) = &settings.base_url {
        return b.trim_end_matches('/').to_string();
    }
    if !settings.trust_forwarded_headers {
        // The Host header is the client's to choose: never trusted for locations.
        return format!("http://localhost{path}");
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(|s| s.split(',').next().unwrap_or("").trim())
            .filter(|s| !s.is_empty())
    };
    let host = header("x-forwarded-host")
        .or_else(|| header(header::HOST.as_str()))
        .filter(|h| valid_host(h))
        .unwrap_or("localhost");
    let proto = header("x-forwarded-proto")
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{proto}://{host}{path}")
}

/// A host (and optional port) as a proxy would forward it: letters, digits, `.-:[]` only.
fn valid_host(h: &str) -> bool {
    h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Query parameters with case-insensitive names; `+` decodes to a space.
fn params(raw: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect()
}

/// The `attributes` / `excludedAttributes` of a query string (RFC 7644 §3.9).
pub fn projection(raw: Option<&str>, ctx: &Context<'_>) -> ApiResult<Projection> {
    let ps = params(raw);
    Ok(Projection::from_query(
        ps.get("attributes").map(String::as_str),
        ps.get("excludedattributes").map(String::as_str),
        ctx,
    )?)
}

/// The search a `GET /{type}` query string asks for (RFC 7644 §3.4.2; RFC 9865 `cursor`).
pub fn search_request(raw: Option<&str>) -> ApiResult<SearchRequest> {
    let ps = params(raw);
    let mut req = SearchRequest::new();
    req.attributes = ps
        .get("attributes")
        .map(|s| split_attr_list(s))
        .unwrap_or_default();
    req.excluded_attributes = ps
        .get("excludedattributes")
        .map(|s| split_attr_list(s))
        .unwrap_or_default();
    req.filter = ps.get("filter").cloned();
    req.sort_by = ps.get("sortby").cloned();
    req.sort_order = ps
        .get("sortorder")
        .map(|s| SortOrder::parse(s))
        .transpose()?;
    req.start_index = ps
        .get("startindex")
        .map(|s| parse_int("startIndex", s))
        .transpose()?;
    req.count = ps.get("count").map(|s| parse_int("count", s)).transpose()?;
    req.cursor = ps.get("cursor").cloned();
    Ok(req)
}

fn parse_int(name: &str, s: &str) -> ApiResult<i64> {
    s.trim().parse::<i64>().map_err(|_| {
        let kind = if name == "count" {
            ScimType::InvalidCount
        } else {
            ScimType::InvalidValue
        };
        ScimError::bad_request(kind, format!("{name} must be an integer, not {s:?}")).into()
    })
}

/// Parses `If-Match` into a version. `*` means any version.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    match headers.get(header::IF_MATCH) {
        Some(v) => version(v.to_str().unwrap_or("")),
        None => Ok(None),
    }
}

/// The version an ETag names (`W/"3"`, `"3"`), `None` for `*` (any version): an `If-Match`
/// header or a bulk operation's `version`.
pub fn version(v: &str) -> ApiResult<Option<i64>> {
    let v = v.trim();
    if v == "*" {
        return Ok(None);
    }
    let inner = v.trim_start_matches("W/").trim_matches('"');
    match inner.parse::<i64>() {
        Ok(n) => Ok(Some(n)),
        // An ETag we never issued cannot match.
        Err(_) => {
            Err(ScimError::new(412, None, "If-Match does not match the resource's version").into())
        }
    }
}

/// `Prefer: return=minimal` (RFC 7240 §4.2): the client wants no body.
pub fn prefers_minimal(headers: &HeaderMap) -> bool {
    headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("return=minimal"))
}
