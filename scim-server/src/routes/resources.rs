//! Resource endpoints: list and search (RFC 7644 §3.4.2, §3.4.3), read (§3.4.1), create
//! (§3.3), replace (§3.5.1), PATCH (§3.5.2), delete (§3.6), with versions (§3.14) and RFC 9865
//! cursors.
//!
//! Each handler parses the request, calls [`crate::service`] (authorisation happened in the
//! authentication layer) and renders the answer; what a change means is decided there.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use scim_core::{Projection, SearchRequest};

use super::body::read_json;
use super::request::{base_url, if_match, prefers_minimal, projection, search_request};
use super::response::{group, not_modified, with_headers};
use crate::auth::Principal;
use crate::error::{scim_json, scim_json_bytes, ApiResult};
use crate::render::{list_body, render_default_text, render_owned};
use crate::service::search::{search as run_search, Scope};
use crate::service::{check_id, context, is_group, load_for, write};
use crate::state::ScimState;
use crate::store::Load;

// ----- list and search -----

/// `GET /{rt}`
pub async fn list(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    Path(rt): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let ctx = context(&state, &rt)?;
    let sr = search_request(q.as_deref())?;
    let base = base_url(&state, &headers);
    let page = run_search(&state, &p.tenant, Scope::Type(ctx), sr, &base).await?;
    Ok(scim_json_bytes(StatusCode::OK, list_body(&page)))
}

/// `POST /{rt}/.search`
pub async fn search(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    Path(rt): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let ctx = context(&state, &rt)?;
    let base = base_url(&state, req.headers());
    let sr = SearchRequest::from_json(read_json(req, state.settings().max_body).await?)?;
    let page = run_search(&state, &p.tenant, Scope::Type(ctx), sr, &base).await?;
    Ok(scim_json_bytes(StatusCode::OK, list_body(&page)))
}

/// `POST /.search`: every resource type the filter can apply to (RFC 7644 §3.4.3).
pub async fn search_root(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    req: Request,
) -> ApiResult<Response> {
    let base = base_url(&state, req.headers());
    let sr = SearchRequest::from_json(read_json(req, state.settings().max_body).await?)?;
    let page = run_search(&state, &p.tenant, Scope::All, sr, &base).await?;
    Ok(scim_json_bytes(StatusCode::OK, list_body(&page)))
}

// ----- read -----

/// `GET /{rt}/{id}`
pub async fn get_one(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    Path((rt, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_id(&id)?;
    let ctx = context(&state, &rt)?;
    let proj = projection(q.as_deref(), &ctx)?;
    let default = proj == Projection::all();
    let store = state.store();
    if default && is_group(&ctx) {
        // Members streamed page by page, whatever the group's size.
        let (stored, pages) = store.get_streaming(&p.tenant, &ctx, &id, true).await?;
        if let Some(resp) = not_modified(&headers, stored.version) {
            return Ok(resp);
        }
        let base = base_url(&state, &headers);
        return Ok(group(&ctx, &base, StatusCode::OK, stored, pages));
    }
    let load = load_for(&ctx, &proj);
    let stored = if default {
        store.get_rendered(&p.tenant, &ctx, &id, load).await?
    } else {
        store.get(&p.tenant, &ctx, &id, load).await?
    };
    if let Some(resp) = not_modified(&headers, stored.version) {
        return Ok(resp);
    }
    let base = base_url(&state, &headers);
    let version = stored.version;
    let resp = if default {
        scim_json_bytes(
            StatusCode::OK,
            render_default_text(&ctx, &base, stored).into_bytes(),
        )
    } else {
        let body = proj.apply(&render_owned(&ctx, &base, stored), &ctx);
        scim_json(StatusCode::OK, &body)
    };
    Ok(with_headers(resp, version, None))
}

// ----- writes -----

/// `POST /{rt}`
pub async fn create(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    Path(rt): Path<String>,
    RawQuery(q): RawQuery,
    req: Request,
) -> ApiResult<Response> {
    let ctx = context(&state, &rt)?;
    let base = base_url(&state, req.headers());
    let proj = projection(q.as_deref(), &ctx)?;
    let body = read_json(req, state.settings().max_body).await?;
    let w = write::create(&state, &p.tenant, &ctx, body, &base).await?;
    let location = format!("{base}{}/{}", ctx.resource_type.endpoint, w.stored.id);
    Ok(with_headers(
        scim_json(
            StatusCode::CREATED,
            &proj.apply(&w.render(&ctx, &base), &ctx),
        ),
        w.stored.version,
        Some(&location),
    ))
}

/// `PUT /{rt}/{id}`
pub async fn replace(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    Path((rt, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    req: Request,
) -> ApiResult<Response> {
    check_id(&id)?;
    let ctx = context(&state, &rt)?;
    let base = base_url(&state, req.headers());
    let expected = if_match(req.headers())?;
    let body = read_json(req, state.settings().max_body).await?;
    let proj = projection(q.as_deref(), &ctx)?;
    let load = load_for(&ctx, &proj);
    let w = write::replace(&state, &p.tenant, &ctx, &id, body, expected, load, &base).await?;
    Ok(with_headers(
        scim_json(StatusCode::OK, &proj.apply(&w.render(&ctx, &base), &ctx)),
        w.stored.version,
        None,
    ))
}

/// `PATCH /{rt}/{id}`: `204` for `Prefer: return=minimal` (and for Groups when the settings
/// ask for it), otherwise the resource; a Group in full is read again after the commit with
/// its members streamed.
pub async fn patch(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    Path((rt, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    req: Request,
) -> ApiResult<Response> {
    check_id(&id)?;
    let ctx = context(&state, &rt)?;
    let base = base_url(&state, req.headers());
    let expected = if_match(req.headers())?;
    let no_content = prefers_minimal(req.headers())
        || (is_group(&ctx) && state.settings().group_patch_no_content);
    let body = read_json(req, state.settings().max_body).await?;
    let proj = projection(q.as_deref(), &ctx)?;
    let stream_after = !no_content && is_group(&ctx) && proj == Projection::all();
    let load = if no_content || stream_after {
        Load::default()
    } else {
        load_for(&ctx, &proj)
    };
    let w = write::patch(&state, &p.tenant, &ctx, &id, &body, expected, load, &base).await?;
    if no_content {
        return Ok(with_headers(
            StatusCode::NO_CONTENT.into_response(),
            w.stored.version,
            None,
        ));
    }
    if stream_after {
        let (now, pages) = state
            .store()
            .get_streaming(&p.tenant, &ctx, &id, true)
            .await?;
        return Ok(group(&ctx, &base, StatusCode::OK, now, pages));
    }
    Ok(with_headers(
        scim_json(StatusCode::OK, &proj.apply(&w.render(&ctx, &base), &ctx)),
        w.stored.version,
        None,
    ))
}

/// `DELETE /{rt}/{id}`
pub async fn delete(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    Path((rt, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_id(&id)?;
    let ctx = context(&state, &rt)?;
    let expected = if_match(&headers)?;
    write::delete(&state, &p.tenant, &ctx, &id, expected).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
