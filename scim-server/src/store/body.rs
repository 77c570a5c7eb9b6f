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
/// It covers what rendering depends on: the resource type's schemas and extensions, and each
/// attribute's name (and so the canonical order), type, multiplicity and `returned`.
///
/// Computed once per registry revision and resource type (it is on every read's path).
pub fn body_key(ctx: &Context<'_>) -> String {
    type Cache = std::sync::RwLock<std::collections::HashMap<(u64, String), String>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    // Only a resource type that is the registry's own is cached under the registry's revision.
    let own = ctx
        .registry
        .resource_type(&ctx.resource_type.name)
        .is_some_and(|rt| std::ptr::eq(rt, ctx.resource_type));
    if !own {
        return compute_body_key(ctx);
    }
    let cache = CACHE.get_or_init(Default::default);
    let k = (ctx.registry.revision(), ctx.resource_type.name.clone());
    if let Some(v) = cache.read().ok().and_then(|c| c.get(&k).cloned()) {
        return v;
    }
    let v = compute_body_key(ctx);
    if let Ok(mut c) = cache.write() {
        if c.len() > 1024 {
            c.clear();
        }
        c.insert(k, v.clone());
    }
    v
}

fn compute_body_key(ctx: &Context<'_>) -> String {
    fn attrs(h: &mut Sha256, list: &[scim_core::schema::AttributeDef]) {
        for a in list {
            h.update(
                format!(
                    "{}|{:?}|{}|{:?}[",
                    a.name, a.kind, a.multi_valued, a.returned
                )
                .as_bytes(),
            );
            attrs(h, &a.sub_attributes);
            h.update(b"]");
        }
    }
    let rt = ctx.resource_type;
    let mut h = Sha256::new();
    h.update(FORMAT.as_bytes());
    h.update(format!("{}|{}|{}|", rt.name, rt.endpoint, rt.schema).as_bytes());
    attrs(&mut h, scim_core::schema::common_attributes());
    let schemas = std::iter::once(rt.schema.as_str())
        .chain(rt.schema_extensions.iter().map(|e| e.schema.as_str()));
    for id in schemas {
        h.update(id.as_bytes());
        if let Some(s) = ctx.registry.schema(id) {
            attrs(&mut h, &s.attributes);
        }
        h.update(b";");
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

#[cfg(test)]
mod tests {
    use super::*;
    use scim_core::schema::Schema;
    use scim_core::SchemaRegistry;
    use serde_json::json;

    fn device(returned: &str) -> SchemaRegistry {
        let mut r = SchemaRegistry::default();
        let s = Schema::from_json(&json!({
            "id": "urn:example:Device", "name": "Device",
            "attributes": [
                {"name": "serial", "type": "string"},
                {"name": "secret", "type": "string", "returned": returned}
            ]
        }))
        .unwrap();
        r.add_schema(s).unwrap();
        r.add_resource_type(scim_core::schema::ResourceType::new(
            "Device",
            "/Devices",
            "urn:example:Device",
        ))
        .unwrap();
        r
    }

    #[test]
    fn key_changes_when_what_is_returned_changes() {
        let (a, b) = (device("default"), device("never"));
        let ka = body_key(&Context::new(&a, "Device").unwrap());
        let kb = body_key(&Context::new(&b, "Device").unwrap());
        assert_ne!(ka, kb);
        assert_eq!(
            ka,
            body_key(&Context::new(&device("default"), "Device").unwrap())
        );
        assert_ne!(body_key(&Context::user()), body_key(&Context::group()));
    }

    #[test]
    fn body_leaves_out_what_is_never_returned() {
        let r = device("never");
        let ctx = Context::new(&r, "Device").unwrap();
        let data = json!({"secret": "s", "serial": "SN-1"});
        let b = render_body(&ctx, data.as_object().unwrap());
        assert_eq!(b.members, r#""serial":"SN-1""#);
        assert_eq!(b.schemas, r#"["urn:example:Device"]"#);
    }
}
