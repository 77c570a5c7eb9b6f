//! The rendered form of a resource, stored next to its canonical JSON (`scim_resources.body`),
//! so that a list page or a read with the default projection (no `attributes` /
//! `excludedAttributes`, RFC 7644 §3.9) is written out without parsing, re-ordering and
//! projecting every resource again.
//!
//! The body is the resource's attributes in canonical order, as the default projection returns
//! them (`returned: never` and `returned: request` left out), without `schemas`, `id`, `meta` and
//! the derived `members` / `groups`: those change without the resource's data changing (a new
//! group name, a base URL) and are added when the response is written.
//!
//! A body is used only when its key matches the key of the resource type as configured now
//! ([`body_key`]: a digest of the resource type and its schemas), so a change of schema (an
//! attribute becoming `returned: never`, say) never serves a stale body: such rows take the
//! general path until they are written again.

use scim_core::{Context, JsonMap, Projection};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Version of the body format; part of every key.
const FORMAT: &str = "body-v1";

/// A stored rendered body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The `schemas` value, as JSON text.
    pub schemas: String,
    /// The other attributes as JSON object members without the braces (`"a":1,"b":2`), or ""
    /// when there is none.
    pub members: String,
}

/// The key of the resource type's rendering rules: stored bodies with another key are ignored.
pub fn body_key(ctx: &Context<'_>) -> String {
    let rt = ctx.resource_type;
    let mut h = Sha256::new();
    h.update(FORMAT.as_bytes());
    h.update(rt.to_resource_json(None).to_string().as_bytes());
    let schemas = std::iter::once(rt.schema.as_str())
        .chain(rt.schema_extensions.iter().map(|e| e.schema.as_str()));
    for id in schemas {
        if let Some(s) = ctx.registry.schema(id) {
            h.update(s.to_resource_json(None).to_string().as_bytes());
        }
    }
    let digest = h.finalize();
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// The body of a resource's data (as stored: without `id`, `meta`, `members`, `groups`).
pub fn render_body(ctx: &Context<'_>, data: &JsonMap) -> Body {
    let ordered = scim_core::resource::order_canonical(data.clone(), ctx);
    let mut projected = Projection::all().apply(&ordered, ctx);
    let schemas = projected
        .shift_remove("schemas")
        .unwrap_or_else(|| Value::Array(vec![Value::String(ctx.resource_type.schema.clone())]));
    let text = Value::Object(projected).to_string();
    // "{…}" → "…"
    let members = text[1..text.len() - 1].to_string();
    Body {
        schemas: schemas.to_string(),
        members,
    }
}
