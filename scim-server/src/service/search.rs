//! One search path for `GET /{type}` (RFC 7644 §3.4.2), `POST /{type}/.search` and
//! `POST /.search` (§3.4.3): the same validation, the same store query, the same rendering.
//!
//! A search runs over a [`Scope`]: one resource type, or all of them (`/.search`, whose
//! results are grouped by resource type in registry order). Filters, sorting and paging run in
//! the store. Two things only exist for one of the scopes: RFC 9865 cursors are per resource
//! type, and a sorted search over several types merges each type's first
//! `startIndex - 1 + count` results (sorted by the database), within a bounded window.

use scim_core::filter::Filter;
use scim_core::schema::Returned;
use scim_core::{
    AttrPath, Context, JsonMap, ListResponse, Projection, ScimError, ScimType, SearchRequest,
    SortOrder,
};
use serde_json::Value;

use super::{check_filter, context_of, load_for};
use crate::cursor::{Cursor, CursorError};
use crate::error::ApiResult;
use crate::render::{render_default_text, render_owned, JsonText};
use crate::state::ScimState;
use crate::store::{Query, StoredResource};

/// What a search runs over.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// One resource type (`/{type}`, `/{type}/.search`).
    Type(Context<'a>),
    /// Every resource type the server has (`/.search`).
    All,
}

/// A page of results, each resource as JSON text.
pub type Page = ListResponse<JsonText>;

/// Runs a search for `tenant`; `base` is the base URL resources are rendered with.
pub async fn search(
    state: &ScimState,
    tenant: &str,
    scope: Scope<'_>,
    sr: SearchRequest,
    base: &str,
) -> ApiResult<Page> {
    let settings = state.settings();
    let types: Vec<Context<'_>> = match scope {
        Scope::Type(ctx) => vec![ctx],
        Scope::All => state
            .registry()
            .resource_types()
            .iter()
            .map(|rt| context_of(state, rt))
            .collect(),
    };
    let single = matches!(scope, Scope::Type(_));
    let projections = types
        .iter()
        .map(|ctx| Projection::new(&sr.attributes, &sr.excluded_attributes, ctx))
        .collect::<Result<Vec<_>, _>>()?;
    // An empty filter is no filter.
    let filter = sr
        .filter
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(Filter::parse)
        .transpose()?;
    if let Some(f) = &filter {
        for ctx in &types {
            check_filter(f, ctx)?;
        }
    }
    let sort_by = sort_path(sr.sort_by.as_deref(), &types, scope)?;
    let order = sr.sort_order.unwrap_or_default();
    // RFC 7644 §3.4.2.4: count below 0 is 0; above the maximum, the maximum.
    let count = sr
        .count
        .unwrap_or(settings.default_count as i64)
        .clamp(0, settings.max_results as i64) as u64;

    if let Some(cursor) = &sr.cursor {
        let Scope::Type(ctx) = scope else {
            return Err(ScimError::bad_request(
                ScimType::InvalidCursor,
                "cursors are supported per resource type, not on /.search",
            )
            .into());
        };
        return by_cursor(
            state, tenant, &ctx, &sr, cursor, filter, sort_by, count, base,
        )
        .await;
    }

    // RFC 7644 §3.4.2.4: startIndex below 1 is 1.
    let start = sr.start_index.unwrap_or(1).max(1) as u64;
    if let (Some(path), false) = (&sort_by, single) {
        return merged(
            state,
            tenant,
            &types,
            &projections,
            filter,
            path,
            order,
            start,
            count,
            base,
        )
        .await;
    }
    // Each type in turn: skip what earlier types' totals cover, fill what the page lacks.
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut skip = start - 1;
    for (ctx, proj) in types.iter().zip(&projections) {
        let q = Query {
            base_url: base.to_string(),
            filter: filter.clone(),
            sort_by: sort_by.clone(),
            sort_order: order,
            offset: skip,
            limit: count.saturating_sub(out.len() as u64),
            after_id: None,
            load: load_for(ctx, proj),
            prefer_rendered: *proj == Projection::all(),
        };
        let (items, n) = state.store().query(tenant, ctx, &q).await?;
        total += n;
        skip = skip.saturating_sub(n);
        out.extend(page(ctx, base, proj, items));
    }
    Ok(ListResponse::new(out, total, start))
}

/// The `sortBy` path: for one type, an attribute it returns; for all types, an attribute some
/// type returns (the others sort as if the value were missing).
fn sort_path(
    raw: Option<&str>,
    types: &[Context<'_>],
    scope: Scope<'_>,
) -> ApiResult<Option<AttrPath>> {
    let Some(s) = raw.filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let path = AttrPath::parse(s)
        .map_err(|e| ScimError::invalid_value(format!("invalid sortBy {s:?}: {}", e.detail)))?;
    if !types.iter().any(|ctx| sortable(ctx, &path)) {
        return Err(ScimError::invalid_value(match scope {
            Scope::Type(ctx) => format!(
                "sortBy {s:?} is not an attribute of {}",
                ctx.resource_type.name
            ),
            Scope::All => format!("sortBy {path} is not an attribute of any resource type"),
        })
        .into());
    }
    Ok(Some(path))
}

fn sortable(ctx: &Context<'_>, path: &AttrPath) -> bool {
    ctx.resolve_attr(path)
        .is_some_and(|r| r.def().returned != Returned::Never)
}

/// A page by RFC 9865 cursor: keyset (after the last id) without `sortBy`, by offset with it.
#[allow(clippy::too_many_arguments)]
async fn by_cursor(
    state: &ScimState,
    tenant: &str,
    ctx: &Context<'_>,
    sr: &SearchRequest,
    cursor: &str,
    filter: Option<Filter>,
    sort_by: Option<AttrPath>,
    count: u64,
    base: &str,
) -> ApiResult<Page> {
    if sr.start_index.is_some() {
        return Err(ScimError::invalid_value("use either cursor or startIndex, not both").into());
    }
    let order = sr.sort_order.unwrap_or_default();
    let proj = Projection::new(&sr.attributes, &sr.excluded_attributes, ctx)?;
    let fingerprint = Cursor::fingerprint(
        tenant,
        &ctx.resource_type.name,
        sr.filter.as_deref(),
        sr.sort_by.as_deref(),
        order,
    );
    let position = if cursor.is_empty() {
        Cursor::start(fingerprint)
    } else {
        Cursor::decode(cursor, state.cursor_key(), &fingerprint).map_err(|e| match e {
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
        base_url: base.to_string(),
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
        load: load_for(ctx, &proj),
    };
    let (mut items, total) = state.store().query(tenant, ctx, &q).await?;
    let more = items.len() as u64 > count;
    items.truncate(count as usize);
    let next = more.then(|| {
        let next = if keyset {
            position.next_after(items.last().map(|s| s.id.clone()))
        } else {
            position.next_offset(count)
        };
        next.encode(state.cursor_key(), state.settings().cursor_ttl_secs)
    });
    let resources = page(ctx, base, &proj, items);
    Ok(ListResponse::new(resources, total, 1).with_cursors(next, None))
}

/// A sorted search over several resource types (RFC 7644 §3.4.2.3): each type gives its first
/// `startIndex - 1 + count` resources in that order, and the pages are merged; a type without
/// the attribute sorts as missing values do. The window is bounded (10 × the largest page) so
/// a deep page cannot make every type read without limit.
#[allow(clippy::too_many_arguments)]
async fn merged(
    state: &ScimState,
    tenant: &str,
    types: &[Context<'_>],
    projections: &[Projection],
    filter: Option<Filter>,
    path: &AttrPath,
    order: SortOrder,
    start: u64,
    count: u64,
    base: &str,
) -> ApiResult<Page> {
    let max = state.settings().max_results;
    let window = start - 1 + count;
    if window > max * 10 {
        return Err(ScimError::invalid_value(format!(
            "sortBy on /.search serves the first {} results; search per resource type for deeper pages",
            max * 10
        ))
        .into());
    }
    // (sort key, its definition's caseExact via the type's context, id, projected body)
    let mut rows: Vec<(Option<Value>, bool, String, JsonMap)> = Vec::new();
    let mut total = 0u64;
    for (ctx, proj) in types.iter().zip(projections) {
        let q = Query {
            base_url: base.to_string(),
            filter: filter.clone(),
            sort_by: sortable(ctx, path).then(|| path.clone()),
            sort_order: order,
            offset: 0,
            limit: window,
            load: load_for(ctx, proj),
            ..Query::default()
        };
        let (items, n) = state.store().query(tenant, ctx, &q).await?;
        total += n;
        for s in items {
            let full = render_owned(ctx, base, s);
            let (key, def) = scim_core::sort::sort_value(&full, path, ctx);
            let key = key.cloned();
            let case_exact = def.is_some_and(|d| d.case_exact);
            let id = full
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            rows.push((key, case_exact, id, proj.apply(&full, ctx)));
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
        let primary = if order == SortOrder::Descending {
            primary.reverse()
        } else {
            primary
        };
        primary.then_with(|| a.2.cmp(&b.2))
    });
    let out = rows
        .into_iter()
        .skip((start - 1) as usize)
        .take(count as usize)
        .map(|r| JsonText::of(&Value::Object(r.3)))
        .collect();
    Ok(ListResponse::new(out, total, start))
}

/// The resources of a page as JSON text: with the default projection from their stored
/// rendered form where there is one, otherwise rendered and projected.
fn page(
    ctx: &Context<'_>,
    base: &str,
    proj: &Projection,
    items: Vec<StoredResource>,
) -> Vec<JsonText> {
    let default = *proj == Projection::all();
    items
        .into_iter()
        .map(|s| {
            if default {
                render_default_text(ctx, base, s)
            } else {
                JsonText::of(&Value::Object(proj.apply(&render_owned(ctx, base, s), ctx)))
            }
        })
        .collect()
}
