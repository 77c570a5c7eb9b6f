//! Sorting (RFC 7644 §3.4.2.3).
//!
//! Values compare by their schema type: strings honour `caseExact`, `dateTime`s compare
//! chronologically, numbers numerically, `false` before `true`. A multi-valued attribute sorts
//! by its primary value, else its first. Resources without a value sort last in ascending order
//! (and so first in descending order). Ties are broken by `id`, so pages never overlap.

use std::cmp::Ordering;

use serde_json::Value;

use crate::filter::eval::{compare_numbers, fold, parse_datetime};
use crate::messages::SortOrder;
use crate::path::AttrPath;
use crate::resource::{get_ci, lookup_attr, Context, JsonMap};
use crate::schema::{AttributeDef, AttributeType};

/// The value a resource sorts by for `path`, with the definition that governs comparison.
pub fn sort_value<'r, 'c>(
    resource: &'r JsonMap,
    path: &AttrPath,
    ctx: &Context<'c>,
) -> (Option<&'r Value>, Option<&'c AttributeDef>) {
    let Some(r) = ctx.resolve_attr(path) else {
        return (
            get_ci(resource, &path.name).filter(|v| !v.is_object() && !v.is_array()),
            None,
        );
    };
    let Some(top) = lookup_attr(resource, &r) else {
        return (None, Some(r.def()));
    };
    let element = match top {
        Value::Array(items) => items
            .iter()
            .find(|i| {
                i.as_object()
                    .and_then(|o| get_ci(o, "primary"))
                    .and_then(Value::as_bool)
                    == Some(true)
            })
            .or_else(|| items.first()),
        other => Some(other),
    };
    let Some(element) = element else {
        return (None, Some(r.def()));
    };
    match (r.sub, element) {
        (Some(sub), Value::Object(o)) => (get_ci(o, &sub.name), Some(sub)),
        (None, Value::Object(o)) if r.attr.is_complex() => {
            (get_ci(o, "value"), r.attr.sub_attribute("value"))
        }
        (None, v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
            (Some(v), Some(r.attr))
        }
        _ => (None, Some(r.def())),
    }
}

/// Compares two present values by type.
pub fn compare_values(a: &Value, b: &Value, def: Option<&AttributeDef>) -> Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            if def.map(|d| d.kind) == Some(AttributeType::DateTime) {
                if let (Some(p), Some(q)) = (parse_datetime(x), parse_datetime(y)) {
                    return p.cmp(&q);
                }
            }
            let ce = def.map(|d| d.case_exact).unwrap_or(false);
            fold(x, ce).cmp(&fold(y, ce))
        }
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y).unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        // Mixed types: a stable, arbitrary order by kind.
        _ => rank(a).cmp(&rank(b)),
    }
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// Compares two resources for `sortBy=path` in `order`, missing values last when ascending,
/// ties broken by `id` (ascending, case-sensitive).
pub fn compare_resources(
    a: &JsonMap,
    b: &JsonMap,
    path: &AttrPath,
    order: SortOrder,
    ctx: &Context<'_>,
) -> Ordering {
    let (va, def) = sort_value(a, path, ctx);
    let (vb, _) = sort_value(b, path, ctx);
    let primary = match (va, vb) {
        (Some(x), Some(y)) => compare_values(x, y, def),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    let primary = if order == SortOrder::Descending {
        primary.reverse()
    } else {
        primary
    };
    primary.then_with(|| {
        let ia = get_ci(a, "id").and_then(Value::as_str).unwrap_or("");
        let ib = get_ci(b, "id").and_then(Value::as_str).unwrap_or("");
        ia.cmp(ib)
    })
}

/// Sorts resources in place (stable).
pub fn sort_resources(items: &mut [JsonMap], path: &AttrPath, order: SortOrder, ctx: &Context<'_>) {
    items.sort_by(|a, b| compare_resources(a, b, path, order, ctx));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn users(v: Value) -> Vec<JsonMap> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_object().unwrap().clone())
            .collect()
    }

    #[test]
    fn sorts_by_type_with_missing_last() {
        let ctx = Context::user();
        let mut u = users(json!([
            {"id": "1", "userName": "bob", "meta": {"created": "2020-01-02T00:00:00Z"}},
            {"id": "2", "userName": "Alice", "meta": {"created": "2020-01-01T23:00:00-02:00"}},
            {"id": "3"},
            {"id": "4", "userName": "carol"}
        ]));
        sort_resources(
            &mut u,
            &AttrPath::new("userName"),
            SortOrder::Ascending,
            &ctx,
        );
        let ids: Vec<_> = u.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["2", "1", "4", "3"]);
        sort_resources(
            &mut u,
            &AttrPath::new("userName"),
            SortOrder::Descending,
            &ctx,
        );
        let ids: Vec<_> = u.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["3", "4", "1", "2"]);
        // 2020-01-01T23:00-02:00 is 2020-01-02T01:00Z: after user 1.
        sort_resources(
            &mut u,
            &AttrPath::parse("meta.created").unwrap(),
            SortOrder::Ascending,
            &ctx,
        );
        let ids: Vec<_> = u.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["1", "2", "3", "4"]);
    }

    #[test]
    fn multi_valued_sorts_by_primary() {
        let ctx = Context::user();
        let mut u = users(json!([
            {"id": "1", "emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]},
            {"id": "2", "emails": [{"value": "m@x"}]}
        ]));
        sort_resources(&mut u, &AttrPath::new("emails"), SortOrder::Ascending, &ctx);
        assert_eq!(u[0]["id"], "1");
    }
}
