//! Resources: the generic, schema-canonicalised JSON resource (RFC 7643 §3) and typed views.
//!
//! Attribute names and schema URIs are case-insensitive (RFC 7643 §2.1). They are handled in one
//! place: [`Resource::from_json`] renames every known key to its schema's canonical spelling, so
//! every later step can use exact keys (and still falls back to a case-insensitive lookup for
//! attributes no schema defines). `null` and `[]` mean "unassigned" (RFC 7643 §2.5) and are
//! dropped. Unknown attributes are kept, so nothing is lost in a round trip.

mod typed;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::path::AttrPath;
use crate::schema::{AttributeDef, ResolvedAttr, ResourceType, SchemaRegistry, Target};

pub use typed::{Address, EnterpriseUser, Group, Manager, Member, MultiValue, Name, User};

/// A JSON object, in the order attributes were written.
pub type JsonMap = Map<String, Value>;

/// The registry and resource type that give meaning to a resource's attributes.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The schema registry.
    pub registry: &'a SchemaRegistry,
    /// The resource type of the resource at hand.
    pub resource_type: &'a ResourceType,
}

impl<'a> Context<'a> {
    /// A context for `resource_type` (by name) in `registry`.
    pub fn new(registry: &'a SchemaRegistry, resource_type: &str) -> ScimResult<Context<'a>> {
        let rt = registry.resource_type(resource_type).ok_or_else(|| {
            ScimError::not_found(format!("unknown resource type {resource_type}"))
        })?;
        Ok(Context {
            registry,
            resource_type: rt,
        })
    }

    /// The built-in `User` context.
    pub fn user() -> Context<'static> {
        Context::new(SchemaRegistry::builtin(), "User").expect("built-in User")
    }

    /// The built-in `Group` context.
    pub fn group() -> Context<'static> {
        Context::new(SchemaRegistry::builtin(), "Group").expect("built-in Group")
    }

    /// Resolves a path (see [`SchemaRegistry::resolve`]).
    pub fn resolve(&self, path: &AttrPath) -> Option<Target<'a>> {
        self.registry.resolve(self.resource_type, path)
    }

    /// Resolves a path that names an attribute.
    pub fn resolve_attr(&self, path: &AttrPath) -> Option<ResolvedAttr<'a>> {
        self.registry.resolve_attr(self.resource_type, path)
    }
}

/// Resource metadata (RFC 7643 §3.1 `meta`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Meta {
    /// The resource type name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// When the resource was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    /// When the resource was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<DateTime<Utc>>,
    /// The resource's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The version (ETag), e.g. `W/"3694e05e9dff590"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl Meta {
    /// Metadata for a resource type.
    pub fn new(resource_type: impl Into<String>) -> Self {
        Meta {
            resource_type: Some(resource_type.into()),
            ..Meta::default()
        }
    }
}

/// A generic SCIM resource: a JSON object with canonical attribute names.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Resource(JsonMap);

impl Resource {
    /// Reads a resource from JSON, canonicalising attribute names against the schemas of
    /// `ctx.resource_type` and dropping unassigned (`null` / `[]`) values.
    ///
    /// A non-object is `400 invalidSyntax`.
    pub fn from_json(value: Value, ctx: &Context<'_>) -> ScimResult<Resource> {
        match value {
            Value::Object(map) => Ok(Resource(canonicalize(map, ctx))),
            other => Err(ScimError::invalid_syntax(format!(
                "a resource must be a JSON object, not {}",
                json_kind(&other)
            ))),
        }
    }

    /// Parses JSON text (`400 invalidSyntax` when malformed).
    pub fn from_str_json(text: &str, ctx: &Context<'_>) -> ScimResult<Resource> {
        let v: Value = serde_json::from_str(text).map_err(|e| ScimError::from_json_error(&e))?;
        Resource::from_json(v, ctx)
    }

    /// Wraps a map without canonicalising it (the caller guarantees canonical keys).
    pub fn from_map(map: JsonMap) -> Resource {
        Resource(map)
    }

    /// The underlying map.
    pub fn as_map(&self) -> &JsonMap {
        &self.0
    }
    /// The underlying map, mutably.
    pub fn as_map_mut(&mut self) -> &mut JsonMap {
        &mut self.0
    }
    /// The underlying map, by value.
    pub fn into_map(self) -> JsonMap {
        self.0
    }
    /// The resource as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
    /// The resource as a JSON value, by value.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }

    /// `id`, when set.
    pub fn id(&self) -> Option<&str> {
        get_ci(&self.0, "id").and_then(Value::as_str)
    }
    /// `externalId`, when set.
    pub fn external_id(&self) -> Option<&str> {
        get_ci(&self.0, "externalId").and_then(Value::as_str)
    }
    /// The `schemas` URIs.
    pub fn schemas(&self) -> Vec<&str> {
        get_ci(&self.0, "schemas")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
    /// `meta`, when present and well-formed.
    pub fn meta(&self) -> Option<Meta> {
        get_ci(&self.0, "meta").and_then(|m| serde_json::from_value(m.clone()).ok())
    }
    /// Sets `meta`.
    pub fn set_meta(&mut self, meta: &Meta) {
        self.0.insert(
            "meta".into(),
            serde_json::to_value(meta).unwrap_or_default(),
        );
    }
    /// Sets `id`.
    pub fn set_id(&mut self, id: impl Into<String>) {
        self.0.insert("id".into(), Value::String(id.into()));
    }

    /// The value at a path (attribute or sub-attribute of a single-valued complex attribute;
    /// for a sub-attribute of a multi-valued attribute, the values of every element as an array).
    pub fn get(&self, ctx: &Context<'_>, path: &AttrPath) -> Option<Value> {
        let resolved = ctx.resolve_attr(path)?;
        let top = lookup_attr(&self.0, &resolved)?;
        match resolved.sub {
            None => Some(top.clone()),
            Some(sub) => match top {
                Value::Array(items) => {
                    let vals: Vec<Value> = items
                        .iter()
                        .filter_map(|i| i.as_object().and_then(|o| get_ci(o, &sub.name)).cloned())
                        .collect();
                    (!vals.is_empty()).then_some(Value::Array(vals))
                }
                Value::Object(o) => get_ci(o, &sub.name).cloned(),
                _ => None,
            },
        }
    }

    /// Keeps `schemas` in step with the content: the core schema first, each extension URN
    /// present exactly when its object is non-empty (RFC 7643 §3).
    pub fn sync_schemas(&mut self, ctx: &Context<'_>) {
        sync_schemas(&mut self.0, ctx)
    }
}

impl From<Resource> for Value {
    fn from(r: Resource) -> Value {
        r.into_value()
    }
}

/// Describes a JSON value's kind for error messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Finds a key case-insensitively (exact match first).
pub fn key_ci<'m>(map: &'m JsonMap, key: &str) -> Option<&'m String> {
    if let Some((k, _)) = map.get_key_value(key) {
        return Some(k);
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(key))
}

/// Gets a value by key, case-insensitively (exact match first).
pub fn get_ci<'m>(map: &'m JsonMap, key: &str) -> Option<&'m Value> {
    match map.get(key) {
        Some(v) => Some(v),
        None => map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v),
    }
}

/// Gets a mutable value by key, case-insensitively.
pub fn get_ci_mut<'m>(map: &'m mut JsonMap, key: &str) -> Option<&'m mut Value> {
    let k = key_ci(map, key)?.clone();
    map.get_mut(&k)
}

/// Removes a key case-insensitively, returning its value.
pub fn remove_ci(map: &mut JsonMap, key: &str) -> Option<Value> {
    let k = key_ci(map, key)?.clone();
    map.shift_remove(&k)
}

/// The JSON object holding a resolved attribute (the resource, or its extension object).
pub(crate) fn container<'m>(map: &'m JsonMap, r: &ResolvedAttr<'_>) -> Option<&'m JsonMap> {
    match r.extension_key() {
        None => Some(map),
        Some(urn) => get_ci(map, urn)?.as_object(),
    }
}

/// The value of a resolved attribute's top-level attribute.
pub(crate) fn lookup_attr<'m>(map: &'m JsonMap, r: &ResolvedAttr<'_>) -> Option<&'m Value> {
    get_ci(container(map, r)?, &r.attr.name)
}

/// True for `null`, `[]` and `{}`, the "unassigned" values (RFC 7643 §2.5).
pub(crate) fn is_unassigned(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn canonical_complex(obj: JsonMap, def: &AttributeDef) -> JsonMap {
    let mut out = JsonMap::with_capacity(obj.len());
    for (k, v) in obj {
        if is_unassigned(&v) {
            continue;
        }
        let name = def.sub_attribute(&k).map(|s| s.name.clone()).unwrap_or(k);
        out.insert(name, v);
    }
    out
}

fn canonical_value(v: Value, def: &AttributeDef) -> Value {
    match v {
        Value::Array(items) if def.multi_valued => Value::Array(
            items
                .into_iter()
                .filter(|i| !is_unassigned(i))
                .map(|i| match i {
                    Value::Object(o) if def.is_complex() => {
                        Value::Object(canonical_complex(o, def))
                    }
                    other => other,
                })
                .filter(|i| !is_unassigned(i))
                .collect(),
        ),
        Value::Object(o) if def.is_complex() => Value::Object(canonical_complex(o, def)),
        other => other,
    }
}

fn canonical_attrs(
    map: JsonMap,
    schema: Option<&crate::schema::Schema>,
    with_common: bool,
) -> JsonMap {
    let mut out = JsonMap::with_capacity(map.len());
    for (k, v) in map {
        if is_unassigned(&v) {
            continue;
        }
        let def = with_common
            .then(|| {
                crate::schema::common_attributes()
                    .iter()
                    .find(|a| a.name.eq_ignore_ascii_case(&k))
            })
            .flatten()
            .or_else(|| schema.and_then(|s| s.attribute(&k)));
        match def {
            Some(def) => {
                let v = canonical_value(v, def);
                if !is_unassigned(&v) {
                    out.insert(def.name.clone(), v);
                }
            }
            None => {
                out.insert(k, v);
            }
        }
    }
    out
}

/// The attribute name of a key qualified by the core schema URN (`urn:…:User:userName`), any case.
fn core_qualified<'k>(key: &'k str, core: &str) -> Option<&'k str> {
    let head = key.get(..core.len())?;
    let name = key.get(core.len()..)?.strip_prefix(':')?;
    (head.eq_ignore_ascii_case(core) && !name.is_empty() && !name.contains(':')).then_some(name)
}

/// Canonicalises a resource object's keys (see the module docs).
pub fn canonicalize(map: JsonMap, ctx: &Context<'_>) -> JsonMap {
    let rt = ctx.resource_type;
    let core = ctx.registry.schema(&rt.schema);
    let mut out = JsonMap::with_capacity(map.len());
    let mut rest = JsonMap::new();
    for (k, v) in map {
        // A padded key (`" members "`) names the same attribute.
        let k = match k.trim() {
            t if t.len() == k.len() => k,
            t => t.to_string(),
        };
        if k.eq_ignore_ascii_case("schemas") {
            let v = match v {
                Value::Array(items) => Value::Array(
                    items
                        .into_iter()
                        .map(|i| match i {
                            Value::String(s) => Value::String(
                                ctx.registry.schema(&s).map(|sc| sc.id.clone()).unwrap_or(s),
                            ),
                            other => other,
                        })
                        .collect(),
                ),
                other => other,
            };
            out.insert("schemas".into(), v);
        } else if let Some(ext) = rt.extension(&k) {
            match v {
                Value::Object(o) => {
                    let schema = ctx.registry.schema(&ext.schema);
                    let o = canonical_attrs(o, schema, false);
                    if !o.is_empty() {
                        out.insert(ext.schema.clone(), Value::Object(o));
                    }
                }
                other if is_unassigned(&other) => {}
                other => {
                    out.insert(ext.schema.clone(), other);
                }
            }
        } else if let Some(name) = core_qualified(&k, &rt.schema) {
            // `urn:…:core:2.0:Group:members` is the core attribute `members` (RFC 7644 §3.10
            // allows the URN-qualified form anywhere an attribute is named).
            if !rest.keys().any(|r| r.eq_ignore_ascii_case(name)) {
                rest.insert(name.to_string(), v);
            }
        } else {
            rest.insert(k, v);
        }
    }
    // Core attributes keep their relative order after `schemas`; extension objects go last.
    let mut result = JsonMap::with_capacity(out.len() + rest.len());
    if let Some(s) = out.shift_remove("schemas") {
        result.insert("schemas".into(), s);
    }
    result.extend(canonical_attrs(rest, core, true));
    result.extend(out);
    result
}

/// Orders a resource's attributes as its schemas list them (`schemas`, `id`, `externalId`,
/// core attributes, unknown attributes, extensions in declaration order, `meta` last), and the
/// sub-attributes of complex values likewise. Storage such as PostgreSQL `jsonb` does not keep
/// key order; this makes output deterministic and readable.
pub fn order_canonical(map: JsonMap, ctx: &Context<'_>) -> JsonMap {
    fn order_value(v: Value, def: &AttributeDef) -> Value {
        let order_obj = |o: JsonMap| -> JsonMap {
            let mut o = o;
            let mut out = JsonMap::with_capacity(o.len());
            for sub in &def.sub_attributes {
                if let Some(x) = o.shift_remove(&sub.name) {
                    out.insert(sub.name.clone(), x);
                }
            }
            out.extend(o);
            out
        };
        match v {
            Value::Object(o) if def.is_complex() => Value::Object(order_obj(o)),
            Value::Array(items) if def.is_complex() => Value::Array(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::Object(o) => Value::Object(order_obj(o)),
                        other => other,
                    })
                    .collect(),
            ),
            other => other,
        }
    }
    fn take_attrs(src: &mut JsonMap, attrs: &[AttributeDef], out: &mut JsonMap) {
        for a in attrs {
            if let Some(v) = src.shift_remove(&a.name) {
                out.insert(a.name.clone(), order_value(v, a));
            }
        }
    }
    let mut src = map;
    let mut out = JsonMap::with_capacity(src.len());
    for k in ["schemas", "id", "externalId"] {
        if let Some(v) = src.shift_remove(k) {
            out.insert(k.to_string(), v);
        }
    }
    let meta = src.shift_remove("meta");
    let rt = ctx.resource_type;
    if let Some(core) = ctx.registry.schema(&rt.schema) {
        take_attrs(&mut src, &core.attributes, &mut out);
    }
    let mut exts = Vec::new();
    for e in &rt.schema_extensions {
        if let Some(v) = src.shift_remove(&e.schema) {
            let v = match (v, ctx.registry.schema(&e.schema)) {
                (Value::Object(mut o), Some(s)) => {
                    let mut eo = JsonMap::with_capacity(o.len());
                    take_attrs(&mut o, &s.attributes, &mut eo);
                    eo.extend(o);
                    Value::Object(eo)
                }
                (v, _) => v,
            };
            exts.push((e.schema.clone(), v));
        }
    }
    out.extend(src);
    out.extend(exts);
    if let Some(m) = meta {
        let order = [
            "resourceType",
            "created",
            "lastModified",
            "location",
            "version",
        ];
        let m = match m {
            Value::Object(mut o) => {
                let mut mo = JsonMap::with_capacity(o.len());
                for k in order {
                    if let Some(x) = o.shift_remove(k) {
                        mo.insert(k.to_string(), x);
                    }
                }
                mo.extend(o);
                Value::Object(mo)
            }
            other => other,
        };
        out.insert("meta".into(), m);
    }
    out
}

/// See [`Resource::sync_schemas`].
pub fn sync_schemas(map: &mut JsonMap, ctx: &Context<'_>) {
    let rt = ctx.resource_type;
    let mut schemas: Vec<Value> = match remove_ci(map, "schemas") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    // Keep unknown URIs the client sent only if they are not extension-like leftovers of ours.
    schemas.retain(|s| {
        let Some(s) = s.as_str() else { return false };
        !s.eq_ignore_ascii_case(&rt.schema) && rt.extension(s).is_none()
    });
    let mut out = vec![Value::String(rt.schema.clone())];
    for ext in &rt.schema_extensions {
        if get_ci(map, &ext.schema).is_some_and(|v| !is_unassigned(v)) {
            out.push(Value::String(ext.schema.clone()));
        }
    }
    out.extend(schemas);
    let mut result = JsonMap::with_capacity(map.len() + 1);
    result.insert("schemas".into(), Value::Array(out));
    result.extend(std::mem::take(map));
    *map = result;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonicalises_names_and_drops_unassigned() {
        let ctx = Context::user();
        let r = Resource::from_json(
            json!({
                "SCHEMAS": ["urn:ietf:params:scim:schemas:core:2.0:user"],
                "USERNAME": "bjensen",
                "Name": {"GivenName": "Barbara", "middleName": null},
                "emails": [{"VALUE": "b@example.com", "Type": "work"}],
                "roles": [],
                "nickName": null,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"EmployeeNumber": "7"},
                "x-custom": {"Keep": "me"}
            }),
            &ctx,
        )
        .unwrap();
        assert_eq!(
            r.to_value(),
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "bjensen",
                "name": {"givenName": "Barbara"},
                "emails": [{"value": "b@example.com", "type": "work"}],
                "x-custom": {"Keep": "me"},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}
            })
        );
        assert_eq!(
            r.get(&ctx, &AttrPath::parse("emails.type").unwrap()),
            Some(json!(["work"]))
        );
        let e = Resource::from_json(json!([1]), &ctx).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::InvalidSyntax));
    }

    #[test]
    fn sync_schemas_tracks_extensions() {
        let ctx = Context::user();
        let mut r = Resource::from_json(
            json!({"userName": "a", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x"}}),
            &ctx,
        )
        .unwrap();
        r.sync_schemas(&ctx);
        assert_eq!(r.schemas().len(), 2);
        r.as_map_mut()
            .shift_remove("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
        r.sync_schemas(&ctx);
        assert_eq!(
            r.schemas(),
            vec!["urn:ietf:params:scim:schemas:core:2.0:User"]
        );
    }
}
