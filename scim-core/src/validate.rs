//! Validation of resources a client sends with POST (RFC 7644 §3.3) and PUT (§3.5.1).
//!
//! - The body must be a JSON object (`invalidSyntax`); names are canonicalised; `null` and `[]`
//!   are unassigned (RFC 7643 §2.5).
//! - `readOnly` attributes (`id`, `meta`, `groups`) in the body are ignored (§3.3: "SHALL be
//!   ignored"); on PUT they keep the stored values.
//! - Values are type-checked against the schema (`invalidValue` naming the attribute).
//! - Required attributes must be present (`invalidValue`); required extensions too.
//! - At most one `primary: true` per multi-valued attribute (`invalidValue`, RFC 7643 §2.4).
//! - PUT: `immutable` attributes may not change once set (`mutability`); a write-only
//!   `password` left out keeps the stored one.
//! - Attributes and schema URIs no schema defines: dropped when
//!   [`Compat::ignore_unknown_attributes`] is set (identity providers send vendor data such as
//!   Entra ID's `http://schemas.microsoft.com/...` group schema), else `400 invalidValue`.

use serde_json::{Map, Value};

use crate::compat::Compat;
use crate::error::{ScimError, ScimResult};
use crate::patch::coerce_value;
use crate::resource::{
    canonicalize, get_ci, is_unassigned, json_kind, sync_schemas, Context, JsonMap, Resource,
};
use crate::schema::{AttributeDef, Mutability, Schema};

/// Validates the body of a POST: returns the resource to store (without `id` and `meta`,
/// which the service provider assigns).
pub fn prepare_create(body: Value, ctx: &Context<'_>, compat: &Compat) -> ScimResult<Resource> {
    let map = prepare(body, ctx, compat)?;
    Ok(Resource::from_map(map))
}

/// Validates the body of a PUT against the stored resource: returns the replacement, carrying
/// the stored `id`, `meta` and other `readOnly` values.
pub fn prepare_replace(
    body: Value,
    existing: &JsonMap,
    ctx: &Context<'_>,
    compat: &Compat,
) -> ScimResult<Resource> {
    if let (Some(new_id), Some(old_id)) = (
        body.as_object()
            .and_then(|o| get_ci(o, "id"))
            .and_then(Value::as_str),
        get_ci(existing, "id").and_then(Value::as_str),
    ) {
        if new_id != old_id {
            return Err(ScimError::mutability(format!(
                "id {new_id:?} in the body does not match the resource's id {old_id:?}"
            )));
        }
    }
    let mut map = prepare(body, ctx, compat)?;
    let rt = ctx.resource_type;
    let schemas = std::iter::once(rt.schema.as_str())
        .chain(rt.schema_extensions.iter().map(|e| e.schema.as_str()))
        .filter_map(|u| ctx.registry.schema(u).map(|s| (u, s)));
    for (uri, schema) in schemas {
        let is_core = uri.eq_ignore_ascii_case(&rt.schema);
        let attrs: Vec<&AttributeDef> = if is_core {
            crate::schema::common_attributes()
                .iter()
                .chain(schema.attributes.iter())
                .collect()
        } else {
            schema.attributes.iter().collect()
        };
        for def in attrs {
            let old = if is_core {
                get_ci(existing, &def.name)
            } else {
                get_ci(existing, uri)
                    .and_then(Value::as_object)
                    .and_then(|o| get_ci(o, &def.name))
            };
            let holder = if is_core {
                Some(&mut map)
            } else {
                ext_obj(&mut map, uri, old.is_some())
            };
            let Some(holder) = holder else { continue };
            match def.mutability {
                Mutability::ReadOnly => match old {
                    Some(v) => {
                        holder.insert(def.name.clone(), v.clone());
                    }
                    None => {
                        holder.shift_remove(&def.name);
                    }
                },
                Mutability::Immutable => {
                    if let (Some(o), Some(n)) = (old, get_ci(holder, &def.name)) {
                        if o != n {
                            return Err(ScimError::mutability(format!(
                                "{} is immutable and cannot change",
                                def.name
                            )));
                        }
                    }
                }
                Mutability::WriteOnly => {
                    if get_ci(holder, &def.name).is_none() {
                        if let Some(v) = old {
                            holder.insert(def.name.clone(), v.clone());
                        }
                    }
                }
                Mutability::ReadWrite => {}
            }
        }
        if !is_core {
            if let Some(o) = get_ci(&map, uri).and_then(Value::as_object) {
                if o.is_empty() {
                    map.shift_remove(uri);
                }
            }
        }
    }
    sync_schemas(&mut map, ctx);
    Ok(Resource::from_map(map))
}

fn ext_obj<'m>(map: &'m mut JsonMap, uri: &str, create: bool) -> Option<&'m mut JsonMap> {
    if !map.contains_key(uri) {
        if !create {
            return None;
        }
        map.insert(uri.to_string(), Value::Object(Map::new()));
    }
    map.get_mut(uri).and_then(Value::as_object_mut)
}

fn prepare(body: Value, ctx: &Context<'_>, compat: &Compat) -> ScimResult<JsonMap> {
    let obj = match body {
        Value::Object(o) => o,
        other => {
            return Err(ScimError::invalid_syntax(format!(
                "the request body must be a JSON object, not {}",
                json_kind(&other)
            )))
        }
    };
    let rt = ctx.resource_type;
    let map = canonicalize(obj, ctx);
    // `schemas` must name the core schema (RFC 7643 §3).
    match get_ci(&map, "schemas") {
        Some(Value::Array(list)) => {
            let uris: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            if uris.len() != list.len() {
                return Err(ScimError::invalid_value(
                    "\"schemas\" must be an array of URI strings",
                ));
            }
            if !uris.iter().any(|u| u.eq_ignore_ascii_case(&rt.schema)) {
                return Err(ScimError::invalid_value(format!(
                    "\"schemas\" must include {} for a {}",
                    rt.schema, rt.name
                )));
            }
            if !compat.ignore_unknown_attributes {
                if let Some(bad) = uris.iter().find(|u| !rt.has_schema(u)) {
                    return Err(ScimError::invalid_value(format!(
                        "schema {bad} is not supported by {}",
                        rt.name
                    )));
                }
            }
        }
        None if compat.missing_message_schema => {}
        None => return Err(ScimError::invalid_value("the resource has no \"schemas\"")),
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "\"schemas\" must be an array, not {}",
                json_kind(other)
            )))
        }
    }
    let core = ctx.registry.schema(&rt.schema).ok_or_else(|| {
        ScimError::new(500, None, format!("schema {} is not registered", rt.schema))
    })?;
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        if k == "schemas" {
            // Unknown URIs were tolerated above; they are not stored.
            let kept: Vec<Value> = v
                .as_array()
                .into_iter()
                .flatten()
                .filter(|u| u.as_str().is_some_and(|u| rt.has_schema(u)))
                .cloned()
                .collect();
            out.insert(k, Value::Array(kept));
            continue;
        }
        if let Some(ext) = rt.extension(&k) {
            let schema = ctx.registry.schema(&ext.schema).ok_or_else(|| {
                ScimError::new(
                    500,
                    None,
                    format!("schema {} is not registered", ext.schema),
                )
            })?;
            let Value::Object(o) = v else {
                return Err(ScimError::invalid_value(format!(
                    "{k} must be an object, not {}",
                    json_kind(&v)
                )));
            };
            let checked = check_attrs(o, schema, false, compat)?;
            if !checked.is_empty() {
                out.insert(k, Value::Object(checked));
            }
            continue;
        }
        let mut one = Map::new();
        one.insert(k, v);
        out.extend(check_attrs(one, core, true, compat)?);
    }
    // Required attributes and extensions.
    for def in core
        .attributes
        .iter()
        .filter(|a| a.required && a.mutability != Mutability::ReadOnly)
    {
        if get_ci(&out, &def.name).is_none() {
            return Err(ScimError::invalid_value(format!(
                "{} is required",
                def.name
            )));
        }
    }
    for ext in rt.schema_extensions.iter().filter(|e| e.required) {
        if get_ci(&out, &ext.schema).is_none() {
            return Err(ScimError::invalid_value(format!(
                "the extension {} is required",
                ext.schema
            )));
        }
    }
    for ext in &rt.schema_extensions {
        let (Some(schema), Some(obj)) = (
            ctx.registry.schema(&ext.schema),
            get_ci(&out, &ext.schema).and_then(Value::as_object),
        ) else {
            continue;
        };
        for def in schema
            .attributes
            .iter()
            .filter(|a| a.required && a.mutability != Mutability::ReadOnly)
        {
            if get_ci(obj, &def.name).is_none() {
                return Err(ScimError::invalid_value(format!(
                    "{}:{} is required",
                    schema.id, def.name
                )));
            }
        }
    }
    sync_schemas(&mut out, ctx);
    Ok(out)
}

fn check_attrs(map: JsonMap, schema: &Schema, core: bool, compat: &Compat) -> ScimResult<JsonMap> {
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        let def = core
            .then(|| {
                crate::schema::common_attributes()
                    .iter()
                    .find(|a| a.name == k)
            })
            .flatten()
            .or_else(|| schema.attribute(&k));
        let Some(def) = def else {
            if compat.ignore_unknown_attributes {
                continue;
            }
            return Err(ScimError::invalid_value(format!(
                "{k:?} is not an attribute of {}",
                schema.name.as_deref().unwrap_or(&schema.id)
            )));
        };
        if def.mutability == Mutability::ReadOnly {
            continue;
        }
        let c = coerce_value(&v, def, def.multi_valued, compat)?;
        if is_unassigned(&c) {
            continue;
        }
        if def.multi_valued {
            let primaries = c
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|i| {
                            i.as_object()
                                .and_then(|o| get_ci(o, "primary"))
                                .and_then(Value::as_bool)
                                == Some(true)
                        })
                        .count()
                })
                .unwrap_or(0);
            if primaries > 1 {
                return Err(ScimError::invalid_value(format!(
                    "more than one value of {} is primary",
                    def.name
                )));
            }
        }
        if def.required
            && def.kind == crate::schema::AttributeType::String
            && c.as_str() == Some("")
        {
            return Err(ScimError::invalid_value(format!(
                "{} must not be empty",
                def.name
            )));
        }
        out.insert(def.name.clone(), c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_ignores_read_only_and_checks_types() {
        let ctx = Context::user();
        let c = Compat::default();
        let r = prepare_create(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                               "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/User"],
                   "id": "client-chosen", "meta": {"created": "x"}, "userName": "bjensen",
                   "groups": [], "roles": [], "nickName": null, "active": "True",
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "1"}}),
            &ctx,
            &c,
        )
        .unwrap();
        assert_eq!(
            r.to_value(),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                   "userName": "bjensen", "active": true,
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "1"}})
        );
        for (body, kind) in [
            (json!("x"), crate::ScimType::InvalidSyntax),
            (
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
                crate::ScimType::InvalidValue,
            ),
            (
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": 5}),
                crate::ScimType::InvalidValue,
            ),
            (
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a", "active": "maybe"}),
                crate::ScimType::InvalidValue,
            ),
            (
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "userName": "a"}),
                crate::ScimType::InvalidValue,
            ),
            (
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a",
                    "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}),
                crate::ScimType::InvalidValue,
            ),
            (
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a", "name": "x"}),
                crate::ScimType::InvalidValue,
            ),
        ] {
            let e = prepare_create(body.clone(), &ctx, &c).unwrap_err();
            assert_eq!(e.scim_type, Some(kind), "{body}");
        }
        let strict = Compat::strict();
        let e = prepare_create(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a", "bogus": 1}), &ctx, &strict).unwrap_err();
        assert!(e.detail.contains("bogus"), "{e}");
    }

    #[test]
    fn replace_keeps_read_only_and_password() {
        let ctx = Context::user();
        let c = Compat::default();
        let existing = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "a",
            "password": "p", "meta": {"resourceType": "User"}, "groups": [{"value": "g"}], "nickName": "n"});
        let existing = existing.as_object().unwrap();
        let r = prepare_replace(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "b", "groups": []}),
            existing,
            &ctx,
            &c,
        )
        .unwrap();
        let v = r.to_value();
        assert_eq!(v["id"], "1");
        assert_eq!(v["password"], "p");
        assert_eq!(v["groups"], json!([{"value": "g"}]));
        assert!(v.get("nickName").is_none());
        let e = prepare_replace(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "2", "userName": "b"}), existing, &ctx, &c)
            .unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::Mutability));
    }
}
