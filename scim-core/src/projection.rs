//! Attribute projection: `attributes` / `excludedAttributes` with the `returned` rules
//! (RFC 7644 §3.4.2.5, §3.9; RFC 7643 §2.2 `returned`).
//!
//! - `returned: never` attributes (e.g. `password`) are never in a response;
//! - `returned: always` attributes (`id`, and `schemas`) are always in it;
//! - `returned: request` attributes only when named in `attributes`;
//! - with `attributes`, only the named attributes (plus the `always` ones) are returned; naming
//!   a sub-attribute returns just that sub-attribute, naming an extension URN returns the whole
//!   extension;
//! - with `excludedAttributes`, the named attributes or sub-attributes are left out unless they
//!   are `always`.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::path::AttrPath;
use crate::resource::{Context, JsonMap};
use crate::schema::{AttributeDef, Returned, Target};

/// One requested attribute, resolved to canonical names (lower-cased for comparison).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sel {
    ext: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

/// A parsed `attributes` / `excludedAttributes` pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    attributes: Vec<Sel>,
    excluded: Vec<Sel>,
    has_attributes: bool,
}

impl Projection {
    /// No projection: the `default` set.
    pub fn all() -> Self {
        Projection::default()
    }

    /// Parses the two lists (each entry an attribute path). A malformed path is
    /// `400 invalidValue`; paths naming no attribute are ignored, as RFC 7644 §3.9 asks
    /// nothing else of them.
    pub fn new<A: AsRef<str>, E: AsRef<str>>(
        attributes: &[A],
        excluded: &[E],
        ctx: &Context<'_>,
    ) -> ScimResult<Self> {
        let resolve = |list: &[&str]| -> ScimResult<Vec<Sel>> {
            let mut out = Vec::new();
            for raw in list {
                let p = AttrPath::parse(raw).map_err(|e| {
                    ScimError::invalid_value(format!(
                        "invalid attribute name {raw:?}: {}",
                        e.detail
                    ))
                })?;
                match ctx.resolve(&p) {
                    Some(Target::Extension(s)) => out.push(Sel {
                        ext: Some(s.id.to_ascii_lowercase()),
                        name: None,
                        sub: None,
                    }),
                    Some(Target::Attr(r)) => out.push(Sel {
                        ext: r.extension_key().map(str::to_ascii_lowercase),
                        name: Some(r.attr.name.to_ascii_lowercase()),
                        sub: r.sub.map(|s| s.name.to_ascii_lowercase()),
                    }),
                    None => {
                        // An attribute no schema defines (kept from input): match by name.
                        out.push(Sel {
                            ext: p.urn.map(|u| u.to_ascii_lowercase()),
                            name: Some(p.name.to_ascii_lowercase()),
                            sub: p.sub.map(|s| s.to_ascii_lowercase()),
                        })
                    }
                }
            }
            Ok(out)
        };
        let a: Vec<&str> = attributes.iter().map(AsRef::as_ref).collect();
        let e: Vec<&str> = excluded.iter().map(AsRef::as_ref).collect();
        Ok(Projection {
            has_attributes: !a.is_empty(),
            attributes: resolve(&a)?,
            excluded: resolve(&e)?,
        })
    }

    /// Parses comma-separated lists as they arrive in a query string.
    pub fn from_query(
        attributes: Option<&str>,
        excluded: Option<&str>,
        ctx: &Context<'_>,
    ) -> ScimResult<Self> {
        let a = attributes
            .map(crate::messages::split_attr_list)
            .unwrap_or_default();
        let e = excluded
            .map(crate::messages::split_attr_list)
            .unwrap_or_default();
        Projection::new(&a, &e, ctx)
    }

    /// True when `attr` (top level, in extension `ext`) is wholly excluded. Lets storage skip
    /// loading, e.g., group members for `excludedAttributes=members`.
    pub fn excludes(&self, ext: Option<&str>, attr: &str) -> bool {
        let ext = ext.map(str::to_ascii_lowercase);
        let name = attr.to_ascii_lowercase();
        if self.has_attributes {
            return !self.attributes.iter().any(|s| {
                s.ext == ext && (s.name.is_none() || s.name.as_deref() == Some(name.as_str()))
            });
        }
        self.excluded.iter().any(|s| {
            s.ext == ext
                && s.sub.is_none()
                && (s.name.as_deref() == Some(name.as_str()) || (s.name.is_none() && ext.is_some()))
        })
    }

    /// Applies the projection to a resource.
    pub fn apply(&self, resource: &JsonMap, ctx: &Context<'_>) -> JsonMap {
        let rt = ctx.resource_type;
        let core = ctx.registry.schema(&rt.schema);
        let mut out = Map::with_capacity(resource.len());
        for (k, v) in resource {
            if k.eq_ignore_ascii_case("schemas") {
                out.insert(k.clone(), v.clone());
                continue;
            }
            if let Some(ext) = rt.extension(k) {
                let schema = ctx.registry.schema(&ext.schema);
                let ext_l = ext.schema.to_ascii_lowercase();
                if let Value::Object(o) = v {
                    let mut eo = Map::new();
                    for (ek, ev) in o {
                        let def = schema.and_then(|s| s.attribute(ek));
                        if let Some(pv) = self.project_attr(Some(&ext_l), ek, ev, def) {
                            eo.insert(ek.clone(), pv);
                        }
                    }
                    if !eo.is_empty() {
                        out.insert(k.clone(), Value::Object(eo));
                    }
                }
                continue;
            }
            let def = crate::schema::common_attributes()
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(k))
                .or_else(|| core.and_then(|c| c.attribute(k)));
            if let Some(pv) = self.project_attr(None, k, v, def) {
                out.insert(k.clone(), pv);
            }
        }
        out
    }

    fn project_attr(
        &self,
        ext: Option<&str>,
        key: &str,
        v: &Value,
        def: Option<&AttributeDef>,
    ) -> Option<Value> {
        let returned = def.map(|d| d.returned).unwrap_or_default();
        let name = key.to_ascii_lowercase();
        let ext = ext.map(str::to_string);
        match returned {
            Returned::Never => return None,
            Returned::Always => return Some(strip_never(v, def)),
            _ => {}
        }
        if self.has_attributes {
            let sels: Vec<&Sel> = self
                .attributes
                .iter()
                .filter(|s| {
                    s.ext == ext && (s.name.is_none() || s.name.as_deref() == Some(name.as_str()))
                })
                .collect();
            if sels.is_empty() {
                return None;
            }
            if sels.iter().any(|s| s.name.is_none() || s.sub.is_none()) {
                return Some(strip_never(v, def));
            }
            let subs: Vec<&str> = sels.iter().filter_map(|s| s.sub.as_deref()).collect();
            return keep_subs(v, def, |s| subs.iter().any(|x| x.eq_ignore_ascii_case(s)));
        }
        if returned == Returned::Request {
            return None;
        }
        if ext.is_some()
            && self
                .excluded
                .iter()
                .any(|s| s.ext == ext && s.name.is_none())
        {
            return None;
        }
        let sels: Vec<&Sel> = self
            .excluded
            .iter()
            .filter(|s| s.ext == ext && s.name.as_deref() == Some(name.as_str()))
            .collect();
        if sels.iter().any(|s| s.sub.is_none()) {
            return None;
        }
        let subs: Vec<&str> = sels.iter().filter_map(|s| s.sub.as_deref()).collect();
        if subs.is_empty() {
            return Some(strip_never(v, def));
        }
        keep_subs(v, def, |s| {
            !subs.iter().any(|x| x.eq_ignore_ascii_case(s))
                || def
                    .and_then(|d| d.sub_attribute(s))
                    .is_some_and(|d| d.returned == Returned::Always)
        })
    }
}

/// Removes `returned: never` and `returned: request` sub-attributes.
fn strip_never(v: &Value, def: Option<&AttributeDef>) -> Value {
    let Some(def) = def.filter(|d| d.is_complex()) else {
        return v.clone();
    };
    if def
        .sub_attributes
        .iter()
        .all(|s| matches!(s.returned, Returned::Default | Returned::Always))
    {
        return v.clone();
    }
    keep_subs(v, Some(def), |_| true).unwrap_or(Value::Null)
}

fn keep_subs(v: &Value, def: Option<&AttributeDef>, keep: impl Fn(&str) -> bool) -> Option<Value> {
    let filter_obj = |o: &Map<String, Value>| -> Map<String, Value> {
        o.iter()
            .filter(|(k, _)| {
                let sd = def.and_then(|d| d.sub_attribute(k));
                let r = sd.map(|d| d.returned).unwrap_or_default();
                r != Returned::Never && (r == Returned::Always || keep(k))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let out = match v {
        Value::Array(items) => {
            let items: Vec<Value> = items
                .iter()
                .filter_map(|i| match i {
                    Value::Object(o) => {
                        let f = filter_obj(o);
                        (!f.is_empty()).then_some(Value::Object(f))
                    }
                    other => Some(other.clone()),
                })
                .collect();
            (!items.is_empty()).then_some(Value::Array(items))?
        }
        Value::Object(o) => {
            let f = filter_obj(o);
            (!f.is_empty()).then_some(Value::Object(f))?
        }
        other => other.clone(),
    };
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> JsonMap {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "1", "userName": "bjensen", "password": "secret",
            "name": {"givenName": "B", "familyName": "J"},
            "emails": [{"value": "a@x", "type": "work"}],
            "meta": {"resourceType": "User"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D", "employeeNumber": "7"}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn password_never_and_id_always() {
        let ctx = Context::user();
        let p = Projection::all().apply(&user(), &ctx);
        assert!(!p.contains_key("password"));
        let p = Projection::new(&["userName"], &[] as &[&str], &ctx)
            .unwrap()
            .apply(&user(), &ctx);
        assert_eq!(
            Value::Object(p),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "bjensen"})
        );
        let p = Projection::new(&["password"], &[] as &[&str], &ctx)
            .unwrap()
            .apply(&user(), &ctx);
        assert!(!p.contains_key("password"));
    }

    #[test]
    fn sub_attributes_and_extensions() {
        let ctx = Context::user();
        let p = Projection::new(
            &[
                "NAME.familyName",
                "emails.value",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            ],
            &[] as &[&str],
            &ctx,
        )
        .unwrap()
        .apply(&user(), &ctx);
        assert_eq!(p["name"], json!({"familyName": "J"}));
        assert_eq!(p["emails"], json!([{"value": "a@x"}]));
        assert_eq!(
            p["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            json!({"department": "D"})
        );
        let p = Projection::new(
            &[] as &[&str],
            &[
                "name.givenName",
                "emails",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                "id",
            ],
            &ctx,
        )
        .unwrap()
        .apply(&user(), &ctx);
        assert_eq!(p["name"], json!({"familyName": "J"}));
        assert!(!p.contains_key("emails"));
        assert!(!p.contains_key("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
        assert_eq!(p["id"], "1");
        let proj = Projection::from_query(None, Some("members"), &Context::group()).unwrap();
        assert!(proj.excludes(None, "members"));
        assert!(!proj.excludes(None, "displayName"));
        assert!(Projection::from_query(Some("a..b"), None, &ctx).is_err());
    }
}
