//! Discovery endpoints (RFC 7644 §4; RFC 7643 §5, §6, §7; RFC 9865 §3 `pagination`).
//! They describe what this server really does.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use scim_core::{ListResponse, ScimError};
use serde_json::{json, Value};

use super::request::base_url;
use crate::error::{scim_json, ApiResult};
use crate::state::ScimState;

/// `GET /ServiceProviderConfig`
pub async fn service_provider_config(
    State(state): State<ScimState>,
    headers: HeaderMap,
) -> Response {
    let s = state.settings();
    let base = base_url(&state, &headers);
    let body = json!({
        "schemas": [scim_core::schema::SERVICE_PROVIDER_CONFIG],
        "documentationUri": "https://www.rfc-editor.org/rfc/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": s.bulk_max_operations, "maxPayloadSize": s.bulk_max_payload},
        "filter": {"supported": true, "maxResults": s.max_results},
        // `password` can be replaced (PUT, PATCH); it is stored as an Argon2id hash.
        "changePassword": {"supported": true},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": s.default_count,
            "maxPageSize": s.max_results,
            "cursorTimeout": s.cursor_ttl_secs
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token or an OAuth 2.0 access token (RFC 6750)",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
    });
    scim_json(StatusCode::OK, &body)
}

/// RFC 7644 §4: a `filter` on `/Schemas` or `/ResourceTypes` SHOULD be answered `403`, so that a
/// client never takes the unfiltered list for a filtered one.
fn refuse_filter(query: &Option<String>, endpoint: &str) -> ApiResult<()> {
    let has_filter = query.as_deref().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k.eq_ignore_ascii_case("filter"))
    });
    if has_filter {
        return Err(ScimError::new(
            403,
            None,
            format!("{endpoint} cannot be filtered (RFC 7644 §4): request it without \"filter\""),
        )
        .into());
    }
    Ok(())
}

/// `GET /ResourceTypes`
pub async fn resource_types(
    State(state): State<ScimState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    refuse_filter(&query, "/ResourceTypes")?;
    let base = base_url(&state, &headers);
    let list: Vec<Value> = state
        .registry()
        .resource_types()
        .iter()
        .map(|rt| rt.to_resource_json(Some(&format!("{base}/ResourceTypes/{}", rt.name))))
        .collect();
    let n = list.len() as u64;
    Ok(scim_json(StatusCode::OK, &ListResponse::new(list, n, 1)))
}

/// `GET /ResourceTypes/{id}`
pub async fn resource_type(
    State(state): State<ScimState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let base = base_url(&state, &headers);
    let rt = state
        .registry()
        .resource_type(&id)
        .ok_or_else(|| ScimError::not_found(format!("no resource type {id:?}")))?;
    Ok(scim_json(
        StatusCode::OK,
        &rt.to_resource_json(Some(&format!("{base}/ResourceTypes/{}", rt.name))),
    ))
}

/// `GET /Schemas`
pub async fn schemas(
    State(state): State<ScimState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    refuse_filter(&query, "/Schemas")?;
    let base = base_url(&state, &headers);
    let list: Vec<Value> = state
        .registry()
        .schemas()
        .map(|s| s.to_resource_json(Some(&format!("{base}/Schemas/{}", s.id))))
        .collect();
    let n = list.len() as u64;
    Ok(scim_json(StatusCode::OK, &ListResponse::new(list, n, 1)))
}

/// `GET /Schemas/{id}`
pub async fn schema(
    State(state): State<ScimState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let base = base_url(&state, &headers);
    let s = state
        .registry()
        .schema(&id)
        .ok_or_else(|| ScimError::not_found(format!("no schema {id:?}")))?;
    Ok(scim_json(
        StatusCode::OK,
        &s.to_resource_json(Some(&format!("{base}/Schemas/{}", s.id))),
    ))
}
