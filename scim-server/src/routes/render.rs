//! Rendering stored resources as SCIM JSON (RFC 7643 §3.1 `meta`; §4.1.2 `groups`; §4.2
//! `members`).

use axum::http::{header, HeaderMap};
use scim_core::{Context, JsonMap};
use serde_json::{json, Value};

use crate::state::ScimState;
use crate::store::StoredResource;

/// The absolute base URL for locations: the configured one, else `scheme://Host` + base path.
pub fn base_url(state: &ScimState, headers: &HeaderMap) -> String {
    if let Some(b) = &state.settings().base_url {
        return b.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!(
        "{proto}://{host}{}",
        state.settings().base_path.trim_end_matches('/')
    )
}

/// The weak ETag of a version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Renders a stored resource with `id`, derived `members` / `groups`, and `meta`.
pub fn render(ctx: &Context<'_>, base: &str, s: &StoredResource) -> JsonMap {
    render_owned(ctx, base, s.clone())
}

/// [`render`], consuming the stored resource (no copy of its data: what list pages use).
pub fn render_owned(ctx: &Context<'_>, base: &str, s: StoredResource) -> JsonMap {
    let rt = ctx.resource_type;
    let mut data = s.data;
    let mut out = JsonMap::with_capacity(data.len() + 4);
    out.insert(
        "schemas".into(),
        data.shift_remove("schemas")
            .unwrap_or_else(|| json!([rt.schema])),
    );
    out.insert("id".into(), Value::String(s.id.clone()));
    out.extend(data);
    if let Some(members) = s.members.as_ref().filter(|m| !m.is_empty()) {
        let list: Vec<Value> = members
            .iter()
            .map(|m| {
                let kind = m.kind.clone().unwrap_or_else(|| "User".into());
                let endpoint = if kind == "Group" { "Groups" } else { "Users" };
                let mut o = JsonMap::new();
                o.insert("value".into(), Value::String(m.value.clone()));
                o.insert(
                    "$ref".into(),
                    Value::String(format!("{base}/{endpoint}/{}", m.value)),
                );
                o.insert("type".into(), Value::String(kind));
                if let Some(d) = &m.display {
                    o.insert("display".into(), Value::String(d.clone()));
                }
                Value::Object(o)
            })
            .collect();
        out.insert("members".into(), Value::Array(list));
    }
    if let Some(groups) = s.groups.as_ref().filter(|g| !g.is_empty()) {
        let list: Vec<Value> = groups
            .iter()
            .map(|g| {
                let mut o = JsonMap::new();
                o.insert("value".into(), Value::String(g.value.clone()));
                o.insert(
                    "$ref".into(),
                    Value::String(format!("{base}/Groups/{}", g.value)),
                );
                if let Some(d) = &g.display {
                    o.insert("display".into(), Value::String(d.clone()));
                }
                o.insert("type".into(), Value::String("direct".into()));
                Value::Object(o)
            })
            .collect();
        out.insert("groups".into(), Value::Array(list));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": rt.name,
            "created": s.created,
            "lastModified": s.last_modified,
            "location": format!("{base}{}/{}", rt.endpoint, s.id),
            "version": etag(s.version),
        }),
    );
    scim_core::resource::order_canonical(out, ctx)
}
