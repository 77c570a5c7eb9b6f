//! A Group's `members` (RFC 7643 §4.2) as rows: every write path (POST, PUT, PATCH, and the
//! same inside `/Bulk`) turns members into [`MemberChange`]s here, and the store applies them
//! as row inserts and deletes.
//!
//! A PATCH that adds members, removes them by `value` (`members[value eq "id"]`, or `or`
//! chains of those), or replaces the list never reads the current members: its cost does not
//! depend on the group's size ([`split_ops`]). Operations that reach into the list in other
//! ways (`members[display eq "x"].display`, `members.value`) are applied by scim-core to the
//! whole list, and the result is diffed against the stored rows with hash sets ([`diff`]).

use std::collections::HashSet;

use scim_core::filter::{CompValue, CompareOp, Filter};
use scim_core::{Compat, Context, JsonMap, PatchOpKind, PatchOperation, PatchPath, ScimError};
use serde_json::Value;

use super::is_group;
use crate::error::{ApiError, ApiResult};
use crate::store::{MemberChange, MemberRow};

/// Splits a Group's `members` out of its data into rows (a create or a replace).
pub fn take(ctx: &Context<'_>, data: &mut JsonMap) -> ApiResult<Vec<MemberRow>> {
    if !is_group(ctx) {
        return Ok(Vec::new());
    }
    match data.shift_remove("members") {
        None => Ok(Vec::new()),
        Some(v) => rows(&v),
    }
}

/// Reads member values: `[{"value": "id", "display": "…", "type": "User"}]` (a single object
/// or `null` are accepted too).
pub fn rows(v: &Value) -> ApiResult<Vec<MemberRow>> {
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

/// Member rows as the `members` attribute scim-core's PATCH works on.
pub fn to_json(rows: &[MemberRow]) -> Value {
    Value::Array(
        rows.iter()
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
            .collect(),
    )
}

/// The row changes that turn `old` into `new`: rows of `old` not in `new` are removed, rows of
/// `new` not in `old` are added (a row is its value, type and display). Linear in the sizes of
/// both lists.
pub fn diff(old: &[MemberRow], new: Vec<MemberRow>) -> Vec<MemberChange> {
    type Key<'a> = (&'a str, Option<&'a str>, Option<&'a str>);
    fn key(m: &MemberRow) -> Key<'_> {
        (&m.value, m.kind.as_deref(), m.display.as_deref())
    }
    let old_keys: HashSet<Key<'_>> = old.iter().map(key).collect();
    let new_keys: HashSet<Key<'_>> = new.iter().map(key).collect();
    let removed: Vec<String> = old
        .iter()
        .filter(|o| !new_keys.contains(&key(o)))
        .map(|o| o.value.clone())
        .collect();
    let added: Vec<MemberRow> = new
        .iter()
        .filter(|n| !old_keys.contains(&key(n)))
        .cloned()
        .collect();
    let mut changes = Vec::new();
    if !removed.is_empty() {
        changes.push(MemberChange::Remove(removed));
    }
    if !added.is_empty() {
        changes.push(MemberChange::Add(added));
    }
    changes
}

/// How a PATCH splits for a Group: member operations become row changes; the rest applies to
/// the group's data. `None` when some operation needs the whole member list in memory.
pub fn split_ops(
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
                    match key_path(k) {
                        None => {
                            rest.insert(k.clone(), v.clone());
                        }
                        Some(path) if path.attr.sub.is_some() || path.filter.is_some() => {
                            return Ok(None)
                        }
                        Some(_) => {
                            let rows = rows(v)?;
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
                let Some(path) = key_path(raw) else {
                    data_ops.push(op.clone());
                    continue;
                };
                if path.attr.sub.is_some() {
                    return Ok(None);
                }
                let value = || op.value.as_ref().unwrap_or(&Value::Null);
                match (op.op, &path.filter) {
                    (PatchOpKind::Add, None) => changes.push(MemberChange::Add(rows(value())?)),
                    (PatchOpKind::Replace, None) => {
                        changes.push(MemberChange::RemoveAll);
                        changes.push(MemberChange::Add(rows(value())?));
                    }
                    (PatchOpKind::Remove, None) => match &op.value {
                        Some(v)
                            if compat.remove_value_selects
                                && !v.is_null()
                                && v.as_array().is_none_or(|a| !a.is_empty()) =>
                        {
                            changes.push(MemberChange::Remove(
                                rows(v)?.into_iter().map(|m| m.value).collect(),
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
fn key_path(key: &str) -> Option<PatchPath> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(value: &str, display: Option<&str>) -> MemberRow {
        MemberRow {
            value: value.into(),
            kind: Some("User".into()),
            display: display.map(str::to_string),
        }
    }

    #[test]
    fn diff_removes_changed_rows_and_adds_their_new_form() {
        let old = vec![row("a", None), row("b", Some("Bee")), row("c", None)];
        let new = vec![row("a", None), row("b", Some("B")), row("d", None)];
        let changes = diff(&old, new);
        assert_eq!(changes.len(), 2);
        match &changes[0] {
            MemberChange::Remove(ids) => assert_eq!(ids, &["b".to_string(), "c".to_string()]),
            other => panic!("expected a removal, got {other:?}"),
        }
        match &changes[1] {
            MemberChange::Add(rows) => {
                assert_eq!(rows, &[row("b", Some("B")), row("d", None)]);
            }
            other => panic!("expected an addition, got {other:?}"),
        }
    }

    #[test]
    fn diff_of_equal_lists_is_empty_whatever_the_order() {
        let old = vec![row("a", None), row("b", None)];
        let new = vec![row("b", None), row("a", None)];
        assert!(diff(&old, new).is_empty());
    }

    #[test]
    fn split_ops_keeps_value_filters_as_row_removals() {
        let ops = vec![PatchOperation::new(
            PatchOpKind::Remove,
            Some("members[value eq \"a\" or value eq \"b\"]".into()),
            None,
        )];
        let (data, changes) = split_ops(&ops, &Compat::default()).unwrap().unwrap();
        assert!(data.is_empty());
        match &changes[..] {
            [MemberChange::Remove(ids)] => assert_eq!(ids, &["a".to_string(), "b".to_string()]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn split_ops_gives_up_on_paths_into_the_list() {
        let ops = vec![PatchOperation::new(
            PatchOpKind::Replace,
            Some("members[display eq \"x\"].display".into()),
            Some(Value::String("y".into())),
        )];
        assert!(split_ops(&ops, &Compat::default()).unwrap().is_none());
    }
}
