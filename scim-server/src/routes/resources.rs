//! Resource endpoints: list and search (RFC 7644 §3.4.2, §3.4.3), read (§3.4.1), create
//! (§3.3), replace (§3.5.1), PATCH (§3.5.2), delete (§3.6), with versions (§3.14) and RFC 9865
//! cursors.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use scim_core::filter::{CompValue, CompareOp, Filter};
use scim_core::messages::split_attr_list;
use scim_core::patch::apply_operations;
use scim_core::schema::Returned;
use scim_core::{
    AttrPath, Compat, Context, JsonMap, ListResponse, PatchOp, PatchOpKind, PatchOperation,
    PatchPath, Projection, ScimError, ScimType, SearchRequest, SortOrder,
};
use serde_json::Value;

use super::body::read_json;
use super::render::{base_url, etag, render, render_default_text, render_owned};
use crate::auth::Principal;
use crate::cursor::{Cursor, CursorError};
use crate::error::{scim_json, ApiError, ApiResult};
use crate::state::{ChangeEvent, ChangeKind, ScimState};
use crate::store::{Load, MemberChange, MemberRow, Query, StoreError, Update};

/// Ids are server-assigned UUIDs; an id no resource can have is simply not found.
fn check_id(id: &str) -> ApiResult<()> {
    if id.is_empty() || id.len() > 256 || id.contains('\0') {
        return Err(ScimError::not_found("resource not found").into());
    }
    Ok(())
}

/// Checks a filter against the schema (`Filter::check`, which also refuses never-returned
/// attributes such as `password`) and refuses literals with U+0000, which match nothing stored
/// and upset SQL drivers.
fn check_filter(f: &Filter, ctx: &Context<'_>) -> ApiResult<()> {
    f.check(ctx)?;
    let mut nul = false;
    f.visit_terms(&mut |_, t| {
        if let Filter::Compare {
            value: CompValue::String(s),
            ..
        } = t
        {
            nul |= s.contains('\0');
        }
    });
    if nul {
        return Err(
            ScimError::invalid_filter("NUL characters are not allowed in filter values").into(),
        );
    }
    Ok(())
}

/// Stores passwords as Argon2id hashes (RFC 7643 §4.1.1: "SHOULD be hashed"); a value that is
/// already a hash is kept.
/// Inside the transaction: no clear-text password reaches the store (hashing happened before,
/// see [`super::password`]).
fn protect_password(data: &mut JsonMap) -> ApiResult<()> {
    super::password::ensure_hashed(data)
}

fn context<'a>(state: &'a ScimState, endpoint: &str) -> ApiResult<Context<'a>> {
    let rt = state
        .registry()
        .resource_type_by_endpoint(&format!("/{endpoint}"))
        .ok_or_else(|| ScimError::not_found(format!("no resource type at /{endpoint}")))?;
    Ok(Context {
        registry: state.registry(),
        resource_type: rt,
    })
}

/// Query parameters with case-insensitive names; `+` decodes to a space.
fn params(raw: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect()
}

/// The `attributes` / `excludedAttributes` of a query string.
fn projection(raw: Option<&str>, ctx: &Context<'_>) -> ApiResult<Projection> {
    let ps = params(raw);
    Ok(Projection::from_query(
        ps.get("attributes").map(String::as_str),
        ps.get("excludedattributes").map(String::as_str),
        ctx,
    )?)
}

fn is_group(ctx: &Context<'_>) -> bool {
    ctx.resource_type.name == "Group"
}

fn load_for(ctx: &Context<'_>, proj: &Projection) -> Load {
    Load {
        members: is_group(ctx) && !proj.excludes(None, "members"),
        groups: ctx.resource_type.name == "User" && !proj.excludes(None, "groups"),
    }
}

/// `If-None-Match` names the current version (or `*`).
fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    let tag = etag(version);
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|inm| inm.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
}

/// A group in its default representation with its members streamed (see
/// [`super::render::group_body_stream`]), with its ETag.
fn group_response(
    ctx: &Context<'_>,
    base: &str,
    status: StatusCode,
    stored: crate::store::StoredResource,
    pages: crate::store::MemberPages,
) -> Response {
    let version = stored.version;
    let body = super::render::group_body_stream(ctx, base, stored, pages);
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::error::SCIM_JSON),
    );
    with_headers(resp, version, None)
}

fn with_headers(mut resp: Response, version: i64, location: Option<&str>) -> Response {
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        resp.headers_mut().insert(header::LOCATION, l);
    }
    resp
}

/// Parses `If-Match` into a version. `*` means any version.
fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or("").trim();
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

fn precondition(e: StoreError) -> ApiError {
    ApiError::from(e)
}

async fn notify(
    state: &ScimState,
    tenant: &str,
    ctx: &Context<'_>,
    id: &str,
    kind: ChangeKind,
    before: Option<Value>,
    after: Option<Value>,
) {
    // Events leave the server (webhooks, queues): never with a `returned: never` attribute
    // such as the password hash.
    let clean = |v: Option<Value>| {
        v.map(|v| match v {
            Value::Object(m) => Value::Object(scim_core::Projection::all().apply(&m, ctx)),
            other => other,
        })
    };
    let (before, after) = (clean(before), clean(after));
    state
        .hook()
        .on_change(ChangeEvent {
            tenant: tenant.to_string(),
            resource_type: ctx.resource_type.name.clone(),
            id: id.to_string(),
            kind,
            before,
            after,
        })
        .await;
}

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
    let ps = params(q.as_deref());
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
    run_search(&state, &p, &ctx, req, &headers).await
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

/// `POST /{rt}/.search`
pub async fn search(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    Path(rt): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let ctx = context(&state, &rt)?;
    let headers = req.headers().clone();
    let body = read_json(req, state.settings().max_body).await?;
    let sr = SearchRequest::from_json(body)?;
    run_search(&state, &p, &ctx, sr, &headers).await
}

/// `POST /.search`: searches every resource type the filter can apply to (RFC 7644 §3.4.3).
/// Results are grouped by resource type, in registry order.
pub async fn search_root(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    req: Request,
) -> ApiResult<Response> {
    let headers = req.headers().clone();
    let body = read_json(req, state.settings().max_body).await?;
    let sr = SearchRequest::from_json(body)?;
    if sr.cursor.is_some() {
        return Err(ScimError::bad_request(
            ScimType::InvalidCursor,
            "cursors are supported per resource type, not on /.search",
        )
        .into());
    }
    let settings = state.settings();
    let start = sr.start_index.unwrap_or(1).max(1) as u64;
    let count = sr
        .count
        .unwrap_or(settings.default_count as i64)
        .clamp(0, settings.max_results as i64) as u64;
    // An empty filter is no filter, as on `/{type}/.search`.
    let filter = sr
        .filter
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(Filter::parse)
        .transpose()?;
    if let Some(f) = &filter {
        for rt in state.registry().resource_types() {
            check_filter(
                f,
                &Context {
                    registry: state.registry(),
                    resource_type: rt,
                },
            )?;
        }
    }
    let base = base_url(&state, &headers);
    let sort_path = match sr.sort_by.as_deref() {
        Some(s) if !s.trim().is_empty() => Some(AttrPath::parse(s).map_err(|e| {
            ScimError::invalid_value(format!("invalid sortBy {s:?}: {}", e.detail))
        })?),
        _ => None,
    };
    if let Some(path) = &sort_path {
        return search_root_sorted(&state, &p, &sr, filter, path, start, count, &base).await;
    }
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut skip = start - 1;
    for rt in state.registry().resource_types() {
        let ctx = Context {
            registry: state.registry(),
            resource_type: rt,
        };
        let proj = Projection::new(&sr.attributes, &sr.excluded_attributes, &ctx)?;
        let remaining = count.saturating_sub(out.len() as u64);
        let q = Query {
            base_url: base.clone(),
            filter: filter.clone(),
            offset: skip,
            limit: remaining,
            load: load_for(&ctx, &proj),
            ..Query::default()
        };
        let (items, n) = state.store().query(&p.tenant, &ctx, &q).await?;
        total += n;
        skip = skip.saturating_sub(n);
        for s in items {
            out.push(Value::Object(
                proj.apply(&render_owned(&ctx, &base, s), &ctx),
            ));
        }
    }
    Ok(scim_json(
        StatusCode::OK,
        &ListResponse::new(out, total, start),
    ))
}

/// `/.search` at the root with `sortBy` (RFC 7644 §3.4.3, §3.4.2.3): each resource type gives
/// its first `startIndex - 1 + count` resources in that order (sorted by the database), and
/// the pages are merged; a resource type without the attribute sorts as missing values do.
/// The window is bounded (10 × the largest page) so a deep page cannot make every type read
/// without limit.
#[allow(clippy::too_many_arguments)]
async fn search_root_sorted(
    state: &ScimState,
    p: &Principal,
    sr: &SearchRequest,
    filter: Option<Filter>,
    path: &AttrPath,
    start: u64,
    count: u64,
    base: &str,
) -> ApiResult<Response> {
    let settings = state.settings();
    let window = start - 1 + count;
    if window > settings.max_results * 10 {
        return Err(ScimError::invalid_value(format!(
            "sortBy on /.search serves the first {} results; search per resource type for deeper pages",
            settings.max_results * 10
        ))
        .into());
    }
    let order = sr.sort_order.unwrap_or_default();
    let types = state.registry().resource_types();
    let sortable = |rt| {
        let ctx = Context {
            registry: state.registry(),
            resource_type: rt,
        };
        ctx.resolve_attr(path)
            .is_some_and(|r| r.def().returned != Returned::Never)
    };
    if !types.iter().any(&sortable) {
        return Err(ScimError::invalid_value(format!(
            "sortBy {path} is not an attribute of any resource type"
        ))
        .into());
    }
    // (sort key, its definition's caseExact via the type's context, id, projected body)
    let mut rows: Vec<(Option<Value>, bool, String, JsonMap)> = Vec::new();
    let mut total = 0u64;
    for rt in types {
        let ctx = Context {
            registry: state.registry(),
            resource_type: rt,
        };
        let proj = Projection::new(&sr.attributes, &sr.excluded_attributes, &ctx)?;
        let by = sortable(rt).then(|| path.clone());
        let q = Query {
            base_url: base.to_string(),
            filter: filter.clone(),
            sort_by: by,
            sort_order: order,
            offset: 0,
            limit: window,
            load: load_for(&ctx, &proj),
            ..Query::default()
        };
        let (items, n) = state.store().query(&p.tenant, &ctx, &q).await?;
        total += n;
        for s in items {
            let full = render_owned(&ctx, base, s);
            let (key, def) = scim_core::sort::sort_value(&full, path, &ctx);
            let key = key.cloned();
            let case_exact = def.is_some_and(|d| d.case_exact);
            let id = full
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            rows.push((key, case_exact, id, proj.apply(&full, &ctx)));
        }
    }
    // Missing values last when ascending, first when descending (as `compare_resources`);
    // strings compare without case unless both definitions are caseExact; ties by id.
    rows.sort_by(|a, b| {
        let primary = match (&a.0, &b.0) {
            (Some(x), Some(y)) => match (x.as_str(), y.as_str()) {
                (Some(x), Some(y)) if !(a.1 && b.1) => x.to_lowercase().cmp(&y.to_lowercase()),
                _ => scim_core::sort::compare_values(x, y, None),
            },
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        ordered(primary, order).then_with(|| a.2.cmp(&b.2))
    });
    let out: Vec<Value> = rows
        .into_iter()
        .skip((start - 1) as usize)
        .take(count as usize)
        .map(|r| Value::Object(r.3))
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        &ListResponse::new(out, total, start),
    ))
}

fn ordered(o: std::cmp::Ordering, order: SortOrder) -> std::cmp::Ordering {
    if order == SortOrder::Descending {
        o.reverse()
    } else {
        o
    }
}

async fn run_search(
    state: &ScimState,
    p: &Principal,
    ctx: &Context<'_>,
    sr: SearchRequest,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let settings = state.settings();
    let proj = Projection::new(&sr.attributes, &sr.excluded_attributes, ctx)?;
    let filter = match sr.filter.as_deref() {
        Some(f) if !f.trim().is_empty() => {
            let f = Filter::parse(f)?;
            check_filter(&f, ctx)?;
            Some(f)
        }
        _ => None,
    };
    let sort_by = match sr.sort_by.as_deref() {
        Some(s) if !s.trim().is_empty() => {
            let path = AttrPath::parse(s).map_err(|e| {
                ScimError::invalid_value(format!("invalid sortBy {s:?}: {}", e.detail))
            })?;
            if ctx
                .resolve_attr(&path)
                .is_none_or(|r| r.def().returned == Returned::Never)
            {
                return Err(ScimError::invalid_value(format!(
                    "sortBy {s:?} is not an attribute of {}",
                    ctx.resource_type.name
                ))
                .into());
            }
            Some(path)
        }
        _ => None,
    };
    let order = sr.sort_order.unwrap_or_default();
    // RFC 7644 §3.4.2.4: count below 0 is 0; above the maximum, the maximum.
    let count = sr
        .count
        .unwrap_or(settings.default_count as i64)
        .clamp(0, settings.max_results as i64) as u64;
    let base = base_url(state, headers);
    let load = load_for(ctx, &proj);

    if let Some(cursor) = sr.cursor {
        if sr.start_index.is_some() {
            return Err(
                ScimError::invalid_value("use either cursor or startIndex, not both").into(),
            );
        }
        let fingerprint = Cursor::fingerprint(
            &p.tenant,
            &ctx.resource_type.name,
            sr.filter.as_deref(),
            sr.sort_by.as_deref(),
            order,
        );
        let position = if cursor.is_empty() {
            Cursor::start(fingerprint)
        } else {
            Cursor::decode(&cursor, state.cursor_key(), &fingerprint).map_err(|e| match e {
                CursorError::Invalid => ScimError::bad_request(
                    ScimType::InvalidCursor,
                    "the cursor is not valid for this query",
                ),
                CursorError::Expired => ScimError::bad_request(
                    ScimType::ExpiredCursor,
                    "the cursor has expired; start again with cursor=",
                ),
            })?
        };
        let keyset = sort_by.is_none();
        let q = Query {
            base_url: base.clone(),
            filter,
            sort_by,
            sort_order: order,
            offset: if keyset { 0 } else { position.offset },
            limit: count + 1,
            prefer_rendered: proj == Projection::all(),
            after_id: if keyset {
                position.after_id.clone()
            } else {
                None
            },
            load,
        };
        let (mut items, total) = state.store().query(&p.tenant, ctx, &q).await?;
        let more = items.len() as u64 > count;
        items.truncate(count as usize);
        let next = more.then(|| {
            let next = if keyset {
                position.next_after(items.last().map(|s| s.id.clone()))
            } else {
                position.next_offset(count)
            };
            next.encode(state.cursor_key(), settings.cursor_ttl_secs)
        });
        let resources = page(ctx, &base, &proj, items);
        let list = ListResponse::new(resources, total, 1).with_cursors(next, None);
        return Ok(scim_json(StatusCode::OK, &list));
    }

    // RFC 7644 §3.4.2.4: startIndex below 1 is 1.
    let start = sr.start_index.unwrap_or(1).max(1) as u64;
    let q = Query {
        base_url: base.clone(),
        filter,
        sort_by,
        sort_order: order,
        offset: start - 1,
        limit: count,
        after_id: None,
        load,
        prefer_rendered: proj == Projection::all(),
    };
    let (items, total) = state.store().query(&p.tenant, ctx, &q).await?;
    let resources = page(ctx, &base, &proj, items);
    Ok(scim_json(
        StatusCode::OK,
        &ListResponse::new(resources, total, start),
    ))
}

/// The resources of a page as JSON text: with the default projection from their stored
/// rendered form where there is one, otherwise rendered and projected.
fn page(
    ctx: &Context<'_>,
    base: &str,
    proj: &Projection,
    items: Vec<crate::store::StoredResource>,
) -> Vec<Box<serde_json::value::RawValue>> {
    let default = *proj == Projection::all();
    items
        .into_iter()
        .map(|s| {
            if default {
                render_default_text(ctx, base, s)
            } else {
                let v = Value::Object(proj.apply(&render_owned(ctx, base, s), ctx));
                serde_json::value::RawValue::from_string(v.to_string())
                    .expect("serialised JSON is valid")
            }
        })
        .collect()
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
    if default && is_group(&ctx) {
        // Members streamed page by page, whatever the group's size.
        let (stored, pages) = state
            .store()
            .get_streaming(&p.tenant, &ctx, &id, true)
            .await?;
        if not_modified(&headers, stored.version) {
            return Ok(with_headers(
                StatusCode::NOT_MODIFIED.into_response(),
                stored.version,
                None,
            ));
        }
        let base = base_url(&state, &headers);
        return Ok(group_response(&ctx, &base, StatusCode::OK, stored, pages));
    }
    let load = load_for(&ctx, &proj);
    let stored = if default {
        state
            .store()
            .get_rendered(&p.tenant, &ctx, &id, load)
            .await?
    } else {
        state.store().get(&p.tenant, &ctx, &id, load).await?
    };
    if not_modified(&headers, stored.version) {
        return Ok(with_headers(
            StatusCode::NOT_MODIFIED.into_response(),
            stored.version,
            None,
        ));
    }
    let base = base_url(&state, &headers);
    let version = stored.version;
    if default {
        let body = render_default_text(&ctx, &base, stored);
        return Ok(with_headers(
            scim_json(StatusCode::OK, &body),
            version,
            None,
        ));
    }
    let body = proj.apply(&render_owned(&ctx, &base, stored), &ctx);
    Ok(with_headers(
        scim_json(StatusCode::OK, &body),
        version,
        None,
    ))
}

// ----- create -----

/// Splits a Group's `members` out of its data into rows.
fn take_members(ctx: &Context<'_>, data: &mut JsonMap) -> ApiResult<Vec<MemberRow>> {
    if !is_group(ctx) {
        return Ok(Vec::new());
    }
    match data.shift_remove("members") {
        None => Ok(Vec::new()),
        Some(v) => member_rows(&v),
    }
}

/// Reads member values: `[{"value": "id", "display": "…", "type": "User"}]`.
fn member_rows(v: &Value) -> ApiResult<Vec<MemberRow>> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    items
        .into_iter()
        .filter(|i| !i.is_null())
        .map(|i| {
            let o = i.as_object().ok_or_else(|| {
                ScimError::invalid_value("each member must be an object with a \"value\"")
            })?;
            let value = scim_core::resource::get_ci(o, "value")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ScimError::invalid_value(
                        "each member needs a non-empty string \"value\" (the member's id)",
                    )
                })?;
            let display = scim_core::resource::get_ci(o, "display")
                .and_then(Value::as_str)
                .map(str::to_string);
            let kind = scim_core::resource::get_ci(o, "type")
                .and_then(Value::as_str)
                .map(str::to_string);
            Ok(MemberRow {
                value: value.to_string(),
                kind,
                display,
            })
        })
        .collect::<Result<Vec<_>, ScimError>>()
        .map_err(ApiError::from)
}

/// `POST /{rt}`
pub async fn create(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    Path(rt): Path<String>,
    RawQuery(q): RawQuery,
    req: Request,
) -> ApiResult<Response> {
    let ctx = context(&state, &rt)?;
    let headers = req.headers().clone();
    let mut body = read_json(req, state.settings().max_body).await?;
    super::password::hash_in_body(&mut body).await?;
    let compat = state.compat(&p.tenant);
    let resource = scim_core::prepare_create(body, &ctx, &compat)?;
    let mut data = resource.into_map();
    protect_password(&mut data)?;
    let members = take_members(&ctx, &mut data)?;
    let stored = state.store().create(&p.tenant, &ctx, data, members).await?;
    let base = base_url(&state, &headers);
    let full = render(&ctx, &base, &stored);
    let proj = projection(q.as_deref(), &ctx)?;
    let location = format!("{base}{}/{}", ctx.resource_type.endpoint, stored.id);
    notify(
        &state,
        &p.tenant,
        &ctx,
        &stored.id,
        ChangeKind::Created,
        None,
        Some(Value::Object(full.clone())),
    )
    .await;
    let body = proj.apply(&full, &ctx);
    Ok(with_headers(
        scim_json(StatusCode::CREATED, &body),
        stored.version,
        Some(&location),
    ))
}

// ----- replace -----

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
    let headers = req.headers().clone();
    let expected = if_match(&headers)?;
    let mut body = read_json(req, state.settings().max_body).await?;
    super::password::hash_in_body(&mut body).await?;
    let compat = state.compat(&p.tenant);
    let proj = projection(q.as_deref(), &ctx)?;
    let load = load_for(&ctx, &proj);
    let (existing, stored) = state
        .store()
        .modify(
            &p.tenant,
            &ctx,
            &id,
            Load::default(),
            Box::new(|existing| {
                let mut old = existing.data.clone();
                old.insert("id".into(), Value::String(existing.id.clone()));
                let resource = scim_core::prepare_replace(body.clone(), &old, &ctx, &compat)
                    .map_err(StoreError::Invalid)?;
                let mut data = resource.into_map();
                data.shift_remove("id");
                data.shift_remove("meta");
                data.shift_remove("groups");
                protect_password(&mut data).map_err(|e| StoreError::Invalid(e.error))?;
                let member_changes = if is_group(&ctx) {
                    let rows =
                        take_members(&ctx, &mut data).map_err(|e| StoreError::Invalid(e.error))?;
                    vec![MemberChange::RemoveAll, MemberChange::Add(rows)]
                } else {
                    Vec::new()
                };
                Ok(Update {
                    expected_version: expected,
                    data: Some(data),
                    member_changes,
                    load,
                })
            }),
        )
        .await
        .map_err(precondition)?;
    let base = base_url(&state, &headers);
    let full = render(&ctx, &base, &stored);
    notify(
        &state,
        &p.tenant,
        &ctx,
        &id,
        ChangeKind::Updated,
        Some(Value::Object(render(&ctx, &base, &existing))),
        Some(Value::Object(full.clone())),
    )
    .await;
    Ok(with_headers(
        scim_json(StatusCode::OK, &proj.apply(&full, &ctx)),
        stored.version,
        None,
    ))
}

// ----- PATCH -----

/// How a PATCH splits for a Group: member operations become row changes; the rest applies to
/// the group's data. `None` when some operation needs the whole member list in memory.
fn split_member_ops(
    ops: &[PatchOperation],
    compat: &Compat,
) -> ApiResult<Option<(Vec<PatchOperation>, Vec<MemberChange>)>> {
    let mut data_ops = Vec::new();
    let mut changes = Vec::new();
    for op in ops {
        match &op.path {
            None => {
                let Some(Value::Object(obj)) = &op.value else {
                    data_ops.push(op.clone());
                    continue;
                };
                // Every spelling of the key (any case, URN-qualified, padded) is the member list;
                // a key that reaches into it (`members.value`, `members[…]`) needs the whole list.
                let mut rest = JsonMap::new();
                for (k, v) in obj {
                    match member_key(k) {
                        None => {
                            rest.insert(k.clone(), v.clone());
                        }
                        Some(path) if path.attr.sub.is_some() || path.filter.is_some() => {
                            return Ok(None)
                        }
                        Some(_) => {
                            let rows = member_rows(v)?;
                            if op.op == PatchOpKind::Replace {
                                changes.push(MemberChange::RemoveAll);
                            }
                            changes.push(MemberChange::Add(rows));
                        }
                    }
                }
                if !rest.is_empty() {
                    data_ops.push(PatchOperation::new(op.op, None, Some(Value::Object(rest))));
                }
            }
            Some(raw) => {
                let Some(path) = member_key(raw) else {
                    data_ops.push(op.clone());
                    continue;
                };
                if path.attr.sub.is_some() {
                    return Ok(None);
                }
                match (op.op, &path.filter) {
                    (PatchOpKind::Add, None) => changes.push(MemberChange::Add(member_rows(
                        op.value.as_ref().unwrap_or(&Value::Null),
                    )?)),
                    (PatchOpKind::Replace, None) => {
                        changes.push(MemberChange::RemoveAll);
                        changes.push(MemberChange::Add(member_rows(
                            op.value.as_ref().unwrap_or(&Value::Null),
                        )?));
                    }
                    (PatchOpKind::Remove, None) => match &op.value {
                        Some(v)
                            if compat.remove_value_selects
                                && !v.is_null()
                                && v.as_array().is_none_or(|a| !a.is_empty()) =>
                        {
                            changes.push(MemberChange::Remove(
                                member_rows(v)?.into_iter().map(|m| m.value).collect(),
                            ))
                        }
                        _ => changes.push(MemberChange::RemoveAll),
                    },
                    (PatchOpKind::Remove, Some(f)) => match value_eq_ids(f) {
                        Some(ids) => changes.push(MemberChange::Remove(ids)),
                        None => return Ok(None),
                    },
                    _ => return Ok(None),
                }
            }
        }
    }
    Ok(Some((data_ops, changes)))
}

/// The parsed path when `key` (a PATCH path or a key of a path-less value) names the Group's
/// `members`, in any spelling: case, the core Group URN prefix, surrounding whitespace.
fn member_key(key: &str) -> Option<PatchPath> {
    let path = PatchPath::parse(key.trim()).ok()?;
    let named = path.attr.name.eq_ignore_ascii_case("members")
        && path
            .attr
            .urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(scim_core::schema::GROUP));
    named.then_some(path)
}

/// `value eq "a" or value eq "b"` → `["a", "b"]`.
fn value_eq_ids(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(s),
        } if path.urn.is_none()
            && path.sub.is_none()
            && path.name.eq_ignore_ascii_case("value") =>
        {
            Some(vec![s.clone()])
        }
        Filter::Or(a, b) => {
            let mut v = value_eq_ids(a)?;
            v.extend(value_eq_ids(b)?);
            Some(v)
        }
        _ => None,
    }
}

/// Applies the data operations to the current resource and turns member operations into row
/// changes. Returns the new data (when it changed) and the member changes.
fn plan_patch(
    ctx: &Context<'_>,
    compat: &Compat,
    current: &crate::store::StoredResource,
    data_ops: &[PatchOperation],
    mut changes: Vec<MemberChange>,
    needs_members: bool,
) -> ApiResult<(Option<JsonMap>, Vec<MemberChange>)> {
    // Work on the resource as clients see it (with id, and members when needed).
    let mut work = current.data.clone();
    work.insert("id".into(), Value::String(current.id.clone()));
    let old_members: Vec<MemberRow> = current.members.clone().unwrap_or_default();
    if needs_members && !old_members.is_empty() {
        let list: Vec<Value> = old_members
            .iter()
            .map(|m| {
                let mut o = JsonMap::new();
                o.insert("value".into(), Value::String(m.value.clone()));
                if let Some(k) = &m.kind {
                    o.insert("type".into(), Value::String(k.clone()));
                }
                if let Some(d) = &m.display {
                    o.insert("display".into(), Value::String(d.clone()));
                }
                Value::Object(o)
            })
            .collect();
        work.insert("members".into(), Value::Array(list));
    }
    let outcome = apply_operations(&mut work, data_ops, ctx, compat)?;
    if needs_members {
        let new_rows = match work.shift_remove("members") {
            Some(v) => member_rows(&v)?,
            None => Vec::new(),
        };
        let removed: Vec<String> = old_members
            .iter()
            .filter(|o| !new_rows.contains(o))
            .map(|o| o.value.clone())
            .collect();
        let added: Vec<MemberRow> = new_rows
            .into_iter()
            .filter(|n| !old_members.contains(n))
            .collect();
        if !removed.is_empty() {
            changes.push(MemberChange::Remove(removed));
        }
        if !added.is_empty() {
            changes.push(MemberChange::Add(added));
        }
    }
    work.shift_remove("id");
    if outcome.changed {
        protect_password(&mut work)?;
    }
    Ok((outcome.changed.then_some(work), changes))
}

/// `PATCH /{rt}/{id}`
pub async fn patch(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    Path((rt, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    req: Request,
) -> ApiResult<Response> {
    check_id(&id)?;
    let ctx = context(&state, &rt)?;
    let headers = req.headers().clone();
    let expected = if_match(&headers)?;
    let body = read_json(req, state.settings().max_body).await?;
    let compat = state.compat(&p.tenant);
    let mut patch = PatchOp::from_json(&body, &compat)?;
    super::password::hash_in_ops(&mut patch.operations).await?;
    let proj = projection(q.as_deref(), &ctx)?;
    let minimal = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("return=minimal"));
    let no_content = minimal || (is_group(&ctx) && state.settings().group_patch_no_content);
    // A group answered in full is read again after the commit with its members streamed.
    let stream_after = !no_content && is_group(&ctx) && proj == Projection::all();
    let load = if no_content || stream_after {
        Load::default()
    } else {
        load_for(&ctx, &proj)
    };

    let split = if is_group(&ctx) {
        split_member_ops(&patch.operations, &compat)?
    } else {
        Some((patch.operations.clone(), Vec::new()))
    };
    let (data_ops, changes, needs_members) = match split {
        Some((d, c)) => (d, c, false),
        None => (patch.operations.clone(), Vec::new(), true),
    };
    let (before, stored) = state
        .store()
        .modify(
            &p.tenant,
            &ctx,
            &id,
            Load {
                members: needs_members,
                groups: false,
            },
            Box::new(|current| {
                let (data, member_changes) = plan_patch(
                    &ctx,
                    &compat,
                    current,
                    &data_ops,
                    changes.clone(),
                    needs_members,
                )
                .map_err(|e| StoreError::Invalid(e.error))?;
                Ok(Update {
                    expected_version: expected,
                    data,
                    member_changes,
                    load,
                })
            }),
        )
        .await
        .map_err(precondition)?;
    let base = base_url(&state, &headers);
    let full = render(&ctx, &base, &stored);
    if stored.version != before.version {
        notify(
            &state,
            &p.tenant,
            &ctx,
            &id,
            ChangeKind::Updated,
            Some(Value::Object(render(&ctx, &base, &before))),
            Some(Value::Object(full.clone())),
        )
        .await;
    }
    if no_content {
        return Ok(with_headers(
            StatusCode::NO_CONTENT.into_response(),
            stored.version,
            None,
        ));
    }
    if stream_after {
        let (now, pages) = state
            .store()
            .get_streaming(&p.tenant, &ctx, &id, true)
            .await?;
        return Ok(group_response(&ctx, &base, StatusCode::OK, now, pages));
    }
    Ok(with_headers(
        scim_json(StatusCode::OK, &proj.apply(&full, &ctx)),
        stored.version,
        None,
    ))
}

// ----- delete -----

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
    state
        .store()
        .delete(&p.tenant, &ctx, &id, expected)
        .await
        .map_err(precondition)?;
    notify(
        &state,
        &p.tenant,
        &ctx,
        &id,
        ChangeKind::Deleted,
        None,
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
