//! Schema-aware diff: the PATCH operations (RFC 7644 §3.5.2) that turn one resource into another.
//!
//! Used by the client's sync engine to send only what changed. For each writable attribute:
//! - added → `add`, removed → `remove`;
//! - a changed simple attribute → `replace`;
//! - a changed single-valued complex attribute → `replace` / `remove` per sub-attribute;
//! - a changed multi-valued attribute → one `remove` with a value filter for the values that
//!   left (`members[value eq "a" or value eq "b"]`, chunked) and one `add` for the values that
//!   arrived, when that reproduces the target exactly (values identified by `value`); otherwise one
//!   `replace` of the whole attribute. Adding or removing one member of a large group is one small
//!   operation, never a rewrite of the member list.
//!
//! `readOnly` attributes (`id`, `meta`, `groups`) and attributes no schema defines are skipped:
//! a service provider would refuse them anyway.

use serde_json::{Map, Value};

use crate::filter::eval::fold;
use crate::filter::{CompValue, CompareOp, Filter};
use crate::messages::PatchOperation;
use crate::path::AttrPath;
use crate::resource::{get_ci, is_unassigned, Context, JsonMap};
use crate::schema::{AttributeDef, Mutability, Schema};

/// Most values removed by one filtered `remove` operation.
pub const REMOVE_CHUNK: usize = 100;

/// Computes the operations that turn `from` into `to` (both canonical resources).
pub fn diff(from: &JsonMap, to: &JsonMap, ctx: &Context<'_>) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    let rt = ctx.resource_type;
    if let Some(core) = ctx.registry.schema(&rt.schema) {
        let common = crate::schema::common_attributes();
        for def in common.iter().chain(core.attributes.iter()) {
            diff_attr(
                get_ci(from, &def.name),
                get_ci(to, &def.name),
                def,
                None,
                &mut ops,
            );
        }
    }
    for ext in &rt.schema_extensions {
        let Some(schema) = ctx.registry.schema(&ext.schema) else {
            continue;
        };
        let a = get_ci(from, &schema.id).and_then(Value::as_object);
        let b = get_ci(to, &schema.id).and_then(Value::as_object);
        diff_extension(a, b, schema, &mut ops);
    }
    ops
}

fn diff_extension(
    a: Option<&JsonMap>,
    b: Option<&JsonMap>,
    schema: &Schema,
    ops: &mut Vec<PatchOperation>,
) {
    for def in &schema.attributes {
        let va = a.and_then(|o| get_ci(o, &def.name));
        let vb = b.and_then(|o| get_ci(o, &def.name));
        diff_attr(va, vb, def, Some(&schema.id), ops);
    }
}

fn path_of(urn: Option<&str>, name: &str, sub: Option<&str>) -> String {
    let mut p = AttrPath::new(name);
    p.urn = urn.map(str::to_string);
    p.sub = sub.map(str::to_string);
    p.to_string()
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !is_unassigned(v))
}

fn diff_attr(
    a: Option<&Value>,
    b: Option<&Value>,
    def: &AttributeDef,
    urn: Option<&str>,
    ops: &mut Vec<PatchOperation>,
) {
    if def.mutability == Mutability::ReadOnly {
        return;
    }
    let path = path_of(urn, &def.name, None);
    match (present(a), present(b)) {
        (None, None) => {}
        (Some(_), None) => ops.push(PatchOperation::remove(&path)),
        (None, Some(v)) if def.multi_valued => {
            diff_multi(&Value::Array(Vec::new()), v, def, urn, &path, ops)
        }
        (None, Some(v)) => ops.push(PatchOperation::add(Some(&path), v.clone())),
        (Some(x), Some(y)) if x == y => {}
        (Some(x), Some(y)) => {
            if def.multi_valued {
                diff_multi(x, y, def, urn, &path, ops);
            } else if def.is_complex() {
                match (x.as_object(), y.as_object()) {
                    (Some(ox), Some(oy)) => diff_complex(ox, oy, def, urn, ops),
                    _ => ops.push(PatchOperation::replace(Some(&path), y.clone())),
                }
            } else {
                ops.push(PatchOperation::replace(Some(&path), y.clone()));
            }
        }
    }
}

fn diff_complex(
    x: &JsonMap,
    y: &JsonMap,
    def: &AttributeDef,
    urn: Option<&str>,
    ops: &mut Vec<PatchOperation>,
) {
    let mut keys: Vec<&String> = x.keys().collect();
    keys.extend(y.keys().filter(|k| get_ci(x, k).is_none()));
    let mut replace = Map::new();
    for k in keys {
        let (vx, vy) = (present(get_ci(x, k)), present(get_ci(y, k)));
        let name = def.sub_attribute(k).map(|s| s.name.as_str()).unwrap_or(k);
        match (vx, vy) {
            (Some(_), None) => {
                ops.push(PatchOperation::remove(&path_of(urn, &def.name, Some(name))))
            }
            (_, Some(v)) if vx != Some(v) => {
                replace.insert(name.to_string(), v.clone());
            }
            _ => {}
        }
    }
    if !replace.is_empty() {
        // One replace merging the changed sub-attributes (RFC 7644 §3.5.2.3).
        ops.push(PatchOperation::replace(
            Some(&path_of(urn, &def.name, None)),
            Value::Object(replace),
        ));
    }
}

/// The identity of a complex value for filter-based removal: its `value` as a string, folded
/// per the `value` sub-attribute's caseExact.
fn key_of(v: &Value, def: &AttributeDef) -> Option<String> {
    let s = v
        .as_object()
        .and_then(|o| get_ci(o, "value"))
        .and_then(Value::as_str)?;
    let ce = def
        .sub_attribute("value")
        .map(|d| d.case_exact)
        .unwrap_or(false);
    Some(fold(s, ce).into_owned())
}

fn diff_multi(
    x: &Value,
    y: &Value,
    def: &AttributeDef,
    urn: Option<&str>,
    path: &str,
    ops: &mut Vec<PatchOperation>,
) {
    let replace_all =
        |ops: &mut Vec<PatchOperation>| ops.push(PatchOperation::replace(Some(path), y.clone()));
    let (Some(old), Some(new)) = (x.as_array(), y.as_array()) else {
        return replace_all(ops);
    };
    if !def.is_complex() {
        return replace_all(ops);
    }
    let removed: Vec<&Value> = old.iter().filter(|o| !new.contains(o)).collect();
    let kept: Vec<&Value> = old.iter().filter(|o| new.contains(o)).collect();
    let added: Vec<&Value> = new.iter().filter(|n| !old.contains(n)).collect();
    // The element-wise form must reproduce the target exactly: kept values in order, then added.
    let reproduced: Vec<&Value> = kept.iter().copied().chain(added.iter().copied()).collect();
    if reproduced.len() != new.len() || reproduced.iter().zip(new).any(|(a, b)| *a != b) {
        return replace_all(ops);
    }
    let mut old_keys = Vec::with_capacity(old.len());
    for o in old {
        match key_of(o, def) {
            Some(k) => old_keys.push(k),
            None => return replace_all(ops),
        }
    }
    let kept_keys: Vec<String> = kept.iter().filter_map(|k| key_of(k, def)).collect();
    let removed_keys: Vec<String> = removed.iter().filter_map(|r| key_of(r, def)).collect();
    // A filtered remove must not hit a kept value, and an added value must not merge into one.
    if removed_keys.iter().any(|r| kept_keys.contains(r)) {
        return replace_all(ops);
    }
    let mut seen = std::collections::HashSet::new();
    if !old_keys.iter().all(|k| seen.insert(k.clone())) {
        return replace_all(ops);
    }
    // Values that `add` would merge into one another need the exact form.
    let mut seen = std::collections::HashSet::new();
    for n in new {
        if !key_of(n, def).is_some_and(|k| seen.insert(k)) {
            return replace_all(ops);
        }
    }
    for a in &added {
        match key_of(a, def) {
            Some(k) if !kept_keys.contains(&k) => {}
            _ => return replace_all(ops),
        }
    }
    // Fewer bytes as a replace (small attributes): prefer the single replace.
    if removed.len() + added.len() >= new.len().max(1) && removed.len() > 1 {
        return replace_all(ops);
    }
    let attr_path = AttrPath {
        urn: urn.map(str::to_string),
        name: def.name.clone(),
        sub: None,
    };
    for chunk in removed.chunks(REMOVE_CHUNK) {
        let filter = chunk
            .iter()
            .filter_map(|r| {
                r.as_object()
                    .and_then(|o| get_ci(o, "value"))
                    .and_then(Value::as_str)
            })
            .map(|v| {
                Filter::compare(
                    AttrPath::new("value"),
                    CompareOp::Eq,
                    CompValue::String(v.to_string()),
                )
            })
            .reduce(Filter::or);
        if let Some(filter) = filter {
            let p = crate::path::PatchPath {
                attr: attr_path.clone(),
                filter: Some(filter),
            };
            ops.push(PatchOperation::remove(&p.to_string()));
        }
    }
    if !added.is_empty() {
        ops.push(PatchOperation::add(
            Some(path),
            Value::Array(added.into_iter().cloned().collect()),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::Compat;
    use crate::patch::apply_operations;
    use serde_json::json;

    fn obj(v: Value) -> JsonMap {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn member_add_is_one_small_op() {
        let ctx = Context::group();
        let members: Vec<Value> = (0..1000)
            .map(|i| json!({"value": format!("u{i}")}))
            .collect();
        let a = obj(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G", "members": members.clone()}),
        );
        let mut more = members.clone();
        more.remove(10);
        more.push(json!({"value": "new"}));
        let b = obj(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G", "members": more}),
        );
        let ops = diff(&a, &b, &ctx);
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert_eq!(ops[0].path.as_deref(), Some(r#"members[value eq "u10"]"#));
        let mut c = a.clone();
        apply_operations(&mut c, &ops, &ctx, &Compat::strict()).unwrap();
        assert_eq!(c, b);
    }

    #[test]
    fn complex_and_extension_changes() {
        let ctx = Context::user();
        let a = obj(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "id": "1", "userName": "a", "name": {"givenName": "A", "middleName": "M"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "X"}}),
        );
        let b = obj(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "1", "userName": "b", "name": {"givenName": "B"}, "active": false}),
        );
        let ops = diff(&a, &b, &ctx);
        let mut c = a.clone();
        apply_operations(&mut c, &ops, &ctx, &Compat::strict()).unwrap();
        assert_eq!(c, b);
    }
}
