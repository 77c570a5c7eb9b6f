//! PATCH (RFC 7644 §3.5.2) applied to a generic resource, checked against the schema registry.
//!
//! - The request is atomic: operations run in order on a copy, which replaces the resource
//!   only when every operation succeeded (§3.5.2: "if any operation fails, nothing changes").
//! - `add` (§3.5.2.1) appends to multi-valued attributes without duplicating an equal value,
//!   merges sub-attributes into complex ones and sets simple ones.
//! - `replace` (§3.5.2.3) replaces all values of a multi-valued attribute, or the elements a
//!   value filter selects; it merges sub-attributes into a single-valued complex attribute.
//! - `remove` (§3.5.2.2) needs a `path` (`noTarget` otherwise); with a value filter it removes
//!   only matching values, and a filter that matches nothing is a successful no-op ("If the user
//!   was not a member of this group, no changes should be made ... and a success response
//!   should be returned"). Removing a required attribute is `mutability`.
//! - `readOnly` attributes cannot be changed and `immutable` ones only set while unassigned
//!   (`mutability`); sending the value an attribute already has is not a change and is accepted
//!   (Okta repeats `id` in path-less replaces).
//! - At most one value of a multi-valued attribute is `primary`; setting one sets `primary` to
//!   `false` on the others (RFC 7643 §2.4).
//! - Values are type-checked against the schema (`invalidValue`); `null` means unassigned.
//! - [`PatchOutcome::changed`] tells whether anything changed, so a server can skip the write
//!   and keep the version.
//!
//! Tolerances for identity providers are chosen by [`Compat`].

use serde_json::{Map, Value};

use crate::compat::Compat;
use crate::error::{ScimError, ScimResult};
use crate::filter::eval::{element_matches, fold, parse_datetime};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::messages::{PatchOp, PatchOpKind, PatchOperation};
use crate::path::{AttrPath, PatchPath};
use crate::resource::{get_ci, is_unassigned, json_kind, key_ci, sync_schemas, Context, JsonMap};
use crate::schema::{AttributeDef, AttributeType, Mutability, ResolvedAttr, Schema, Target};

/// What applying a PATCH did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PatchOutcome {
    /// True when the resource differs from before.
    pub changed: bool,
}

/// Applies `patch` to `resource` atomically. On error the resource is untouched.
pub fn apply_patch(
    resource: &mut JsonMap,
    patch: &PatchOp,
    ctx: &Context<'_>,
    compat: &Compat,
) -> ScimResult<PatchOutcome> {
    apply_operations(resource, &patch.operations, ctx, compat)
}

/// Applies a list of operations atomically (see [`apply_patch`]).
pub fn apply_operations(
    resource: &mut JsonMap,
    ops: &[PatchOperation],
    ctx: &Context<'_>,
    compat: &Compat,
) -> ScimResult<PatchOutcome> {
    let mut work = resource.clone();
    // RFC 7644 §3.5.2.3 wants `noTarget` for a replace whose value filter matches nothing; only
    // Entra ID's spelling of the op gets the element created (see `Compat::create_on_no_match`).
    let mut rfc_replace = *compat;
    rfc_replace.create_on_no_match = false;
    for (i, op) in ops.iter().enumerate() {
        let compat = if op.op == PatchOpKind::Replace && op.path.is_some() && !op.capitalised_op {
            &rfc_replace
        } else {
            compat
        };
        let engine = Engine { ctx, compat };
        engine.apply_one(&mut work, op).map_err(|mut e| {
            let path = op
                .path
                .as_deref()
                .map(|p| format!(" {p:?}"))
                .unwrap_or_default();
            e.detail = format!("Operations[{i}] ({}{path}): {}", op.op.as_str(), e.detail);
            e
        })?;
    }
    Engine { ctx, compat }.check_required(resource, &work)?;
    sync_schemas(&mut work, ctx);
    let changed = work != *resource;
    if changed {
        *resource = work;
    }
    Ok(PatchOutcome { changed })
}

struct Engine<'a, 'c> {
    ctx: &'a Context<'c>,
    compat: &'a Compat,
}

/// The object (resource root or extension object) an attribute lives in.
fn container_mut<'m>(
    map: &'m mut JsonMap,
    r: &ResolvedAttr<'_>,
    create: bool,
) -> Option<&'m mut JsonMap> {
    match r.extension_key() {
        None => Some(map),
        Some(urn) => {
            let key = key_ci(map, urn).cloned();
            let key = match key {
                Some(k) => k,
                None if create => {
                    map.insert(urn.to_string(), Value::Object(Map::new()));
                    urn.to_string()
                }
                None => return None,
            };
            let slot = map.get_mut(&key)?;
            if !slot.is_object() {
                if !create {
                    return None;
                }
                *slot = Value::Object(Map::new());
            }
            slot.as_object_mut()
        }
    }
}

/// Takes an attribute's value out of its container, normalising its key to the canonical name.
fn take_attr(cont: &mut JsonMap, name: &str) -> Option<Value> {
    crate::resource::remove_ci(cont, name)
}

/// Puts a value back, or removes the attribute when the value is unassigned.
fn put_attr(cont: &mut JsonMap, name: &str, v: Option<Value>) {
    match v {
        Some(v) if !is_unassigned(&v) => {
            cont.insert(name.to_string(), v);
        }
        _ => {
            crate::resource::remove_ci(cont, name);
        }
    }
}

fn values_equal(a: &Value, b: &Value, def: Option<&AttributeDef>) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            let ce = def.map(|d| d.case_exact).unwrap_or(false);
            if def.map(|d| d.kind) == Some(AttributeType::DateTime) {
                if let (Some(p), Some(q)) = (parse_datetime(x), parse_datetime(y)) {
                    return p == q;
                }
            }
            fold(x, ce) == fold(y, ce)
        }
        (Value::Number(x), Value::Number(y)) => {
            crate::filter::eval::compare_numbers(x, y) == Some(std::cmp::Ordering::Equal)
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    get_ci(y, k)
                        .is_some_and(|w| values_equal(v, w, def.and_then(|d| d.sub_attribute(k))))
                })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q, def))
        }
        _ => a == b,
    }
}

/// Whether two elements of a multi-valued attribute denote the same value: equal `value`
/// (and equal `type` when both carry one) for complex elements, equality otherwise.
fn same_element(a: &Value, b: &Value, def: &AttributeDef) -> bool {
    if !def.is_complex() {
        return values_equal(a, b, Some(def));
    }
    let (Some(x), Some(y)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    match (get_ci(x, "value"), get_ci(y, "value")) {
        (Some(vx), Some(vy)) => {
            values_equal(vx, vy, def.sub_attribute("value"))
                && match (get_ci(x, "type"), get_ci(y, "type")) {
                    (Some(tx), Some(ty)) => values_equal(tx, ty, def.sub_attribute("type")),
                    _ => true,
                }
        }
        _ => values_equal(a, b, Some(def)),
    }
}

fn is_primary(v: &Value) -> bool {
    v.as_object()
        .and_then(|o| get_ci(o, "primary"))
        .and_then(Value::as_bool)
        == Some(true)
}

fn clear_other_primaries(items: &mut [Value], keep: usize) {
    for (i, item) in items.iter_mut().enumerate() {
        if i != keep {
            if let Some(o) = item.as_object_mut() {
                if let Some(p) = crate::resource::get_ci_mut(o, "primary") {
                    if p.as_bool() == Some(true) {
                        *p = Value::Bool(false);
                    }
                }
            }
        }
    }
}

impl Engine<'_, '_> {
    fn apply_one(&self, work: &mut JsonMap, op: &PatchOperation) -> ScimResult<()> {
        match &op.path {
            None => {
                if op.op == PatchOpKind::Remove {
                    return Err(ScimError::no_target(
                        "remove needs a \"path\" (RFC 7644 §3.5.2.2)",
                    ));
                }
                let value = op
                    .value
                    .as_ref()
                    .ok_or_else(|| ScimError::invalid_value("missing \"value\""))?;
                let obj = value.as_object().ok_or_else(|| {
                    ScimError::invalid_value(format!(
                        "without a \"path\", \"value\" must be an object of attributes, not {}",
                        json_kind(value)
                    ))
                })?;
                for (k, v) in obj {
                    if k.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    let path = PatchPath::parse(k.trim()).map_err(|e| {
                        ScimError::invalid_path(format!("key {k:?} in \"value\": {}", e.detail))
                    })?;
                    self.apply_at(work, op.op, &path, Some(v))?;
                }
                Ok(())
            }
            Some(p) => {
                let path = PatchPath::parse(p)?;
                self.apply_at(work, op.op, &path, op.value.as_ref())
            }
        }
    }

    fn apply_at(
        &self,
        work: &mut JsonMap,
        kind: PatchOpKind,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> ScimResult<()> {
        let target = self.ctx.resolve(&path.attr).ok_or_else(|| {
            ScimError::invalid_path(format!(
                "{} is not an attribute of {}",
                path.attr, self.ctx.resource_type.name
            ))
        })?;
        match target {
            Target::Extension(schema) => self.apply_extension(work, kind, schema, path, value),
            Target::Attr(r) => {
                if path.filter.is_some() && !r.attr.multi_valued {
                    return Err(ScimError::invalid_path(format!(
                        "{} is not multi-valued; it cannot take a value filter",
                        r.attr.name
                    )));
                }
                self.apply_attr(work, kind, &r, path.filter.as_ref(), value)
            }
        }
    }

    fn apply_extension(
        &self,
        work: &mut JsonMap,
        kind: PatchOpKind,
        schema: &Schema,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> ScimResult<()> {
        if path.filter.is_some() {
            return Err(ScimError::invalid_path(
                "a schema URN cannot take a value filter",
            ));
        }
        match kind {
            PatchOpKind::Remove => {
                if let Some(existing) = get_ci(work, &schema.id).and_then(Value::as_object) {
                    for (k, _) in existing.clone() {
                        if let Some(def) = schema.attribute(&k) {
                            self.check_mutable(def, None, true)?;
                        }
                    }
                }
                crate::resource::remove_ci(work, &schema.id);
                Ok(())
            }
            _ => match value {
                None | Some(Value::Null) => Ok(()),
                Some(Value::Object(o)) => {
                    for (k, v) in o {
                        if k.eq_ignore_ascii_case("schemas") {
                            // Python SCIM libraries serialise an extension object with its own
                            // `schemas`; naming this extension says nothing new.
                            self.check_nested_schemas(schema, v)?;
                            continue;
                        }
                        let p = PatchPath {
                            attr: AttrPath::parse(k)
                                .map(|a| a.with_urn(schema.id.clone()))
                                .map_err(|e| {
                                    ScimError::invalid_path(format!(
                                        "key {k:?} in \"value\": {}",
                                        e.detail
                                    ))
                                })?,
                            filter: None,
                        };
                        // `name.sub` keys arrive as name + sub; keep the URN qualification.
                        self.apply_at(work, kind, &p, Some(v))?;
                    }
                    Ok(())
                }
                Some(other) => Err(ScimError::invalid_value(format!(
                    "the value for {} must be an object, not {}",
                    schema.id,
                    json_kind(other)
                ))),
            },
        }
    }

    /// A `schemas` key inside an extension object: ignored when it names that extension (or
    /// under the default policy, whatever it names); `invalidValue` in strict mode when it names
    /// another schema.
    fn check_nested_schemas(&self, schema: &Schema, v: &Value) -> ScimResult<()> {
        if !self.compat.ignore_unknown_attributes {
            let names: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for n in names {
                match n.as_str() {
                    Some(s) if s.eq_ignore_ascii_case(&schema.id) => {}
                    _ => {
                        return Err(ScimError::invalid_value(format!(
                            "\"schemas\" inside the {} object names {n}, not that extension",
                            schema.id
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    /// Mutability (RFC 7643 §2.2): readOnly never; immutable only while unassigned.
    fn check_mutable(
        &self,
        attr: &AttributeDef,
        current: Option<&Value>,
        removing: bool,
    ) -> ScimResult<()> {
        match attr.mutability {
            Mutability::ReadOnly => {
                Err(ScimError::mutability(format!("{} is readOnly", attr.name)))
            }
            Mutability::Immutable if current.is_some_and(|c| !is_unassigned(c)) || removing => Err(
                ScimError::mutability(format!("{} is immutable and already set", attr.name)),
            ),
            _ => Ok(()),
        }
    }

    fn apply_attr(
        &self,
        work: &mut JsonMap,
        kind: PatchOpKind,
        r: &ResolvedAttr<'_>,
        filter: Option<&Filter>,
        value: Option<&Value>,
    ) -> ScimResult<()> {
        let attr = r.attr;
        let name = attr.name.as_str();
        // `null` / `[]` / `{}` as the value of add or replace means "unassigned".
        let value = match (kind, value) {
            (PatchOpKind::Remove, v) => v,
            (_, Some(v)) if is_unassigned(v) && filter.is_none() => {
                if r.sub.is_none() {
                    let current = crate::resource::container(work, r).and_then(|c| get_ci(c, name));
                    if current.is_none() {
                        return Ok(());
                    }
                    return self.apply_attr(work, PatchOpKind::Remove, r, None, None);
                }
                return self.remove_sub_everywhere(work, r);
            }
            (_, v) => v,
        };

        // Sending what a readOnly or immutable attribute already holds is not a modification
        // (Okta repeats `id`). Other attributes are simply applied: a case change is a change.
        if kind != PatchOpKind::Remove
            && filter.is_none()
            && r.sub.is_none()
            && matches!(
                attr.mutability,
                Mutability::ReadOnly | Mutability::Immutable
            )
        {
            let current = crate::resource::container(work, r).and_then(|c| get_ci(c, name));
            if let (Some(cur), Some(v)) = (current, value) {
                if let Ok(coerced) = self.coerce(v, attr, attr.multi_valued) {
                    if values_equal(cur, &coerced, Some(attr)) {
                        return Ok(());
                    }
                }
            }
        }
        if attr.mutability == Mutability::ReadOnly {
            return Err(ScimError::mutability(format!("{name} is readOnly")));
        }
        if r.sub.is_some_and(|s| s.mutability == Mutability::ReadOnly) {
            return Err(ScimError::mutability(format!(
                "{name}.{} is readOnly",
                r.sub.map(|s| s.name.as_str()).unwrap_or("")
            )));
        }

        let Some(cont) = container_mut(work, r, kind != PatchOpKind::Remove) else {
            // Removing from an extension object that is not there: nothing is assigned, so there
            // is nothing to do (RFC 7644 §3.5.2.2; Entra ID clears `manager` this way).
            return Ok(());
        };
        let cur = take_attr(cont, name);
        let result = match (kind, filter) {
            (PatchOpKind::Remove, None) => self.remove_plain(r, cur, value),
            (PatchOpKind::Remove, Some(f)) => self.remove_filtered(r, cur, f),
            (k, None) => self.set_plain(k, r, cur, value.unwrap_or(&Value::Null)),
            (k, Some(f)) => self.set_filtered(k, r, cur, f, value.unwrap_or(&Value::Null)),
        };
        // On error the working copy is discarded by `apply_operations`, so nothing to restore.
        put_attr(cont, name, result?);
        if cont.is_empty() {
            if let Some(urn) = r.extension_key() {
                crate::resource::remove_ci(work, urn);
            }
        }
        Ok(())
    }

    fn remove_sub_everywhere(&self, work: &mut JsonMap, r: &ResolvedAttr<'_>) -> ScimResult<()> {
        if r.attr.mutability == Mutability::ReadOnly {
            return Err(ScimError::mutability(format!(
                "{} is readOnly",
                r.attr.name
            )));
        }
        let Some(cont) = container_mut(work, r, false) else {
            return Ok(());
        };
        let cur = take_attr(cont, &r.attr.name);
        let new = self.remove_plain(r, cur, None)?;
        put_attr(cont, &r.attr.name, new);
        Ok(())
    }

    // ----- remove -----

    fn remove_plain(
        &self,
        r: &ResolvedAttr<'_>,
        cur: Option<Value>,
        value: Option<&Value>,
    ) -> ScimResult<Option<Value>> {
        let attr = r.attr;
        let Some(cur) = cur else { return Ok(None) };
        match r.sub {
            None => {
                // Entra ID: remove members with a value array removes just those values.
                if attr.multi_valued && self.compat.remove_value_selects {
                    if let Some(v) = value.filter(|v| !is_unassigned(v)) {
                        let selectors = match self.coerce(v, attr, true) {
                            Ok(Value::Array(a)) => a,
                            Ok(other) => vec![other],
                            Err(e) => return Err(e),
                        };
                        let mut items = match cur {
                            Value::Array(a) => a,
                            other => vec![other],
                        };
                        items.retain(|i| !selectors.iter().any(|s| same_element(i, s, attr)));
                        return Ok(Some(Value::Array(items)));
                    }
                }
                self.check_mutable(attr, Some(&cur), true)?;
                if attr.required {
                    return Err(ScimError::mutability(format!(
                        "{} is required and cannot be removed",
                        attr.name
                    )));
                }
                Ok(None)
            }
            Some(sub) => {
                if sub.required || sub.mutability == Mutability::Immutable {
                    return Err(ScimError::mutability(format!(
                        "{}.{} cannot be removed",
                        attr.name, sub.name
                    )));
                }
                Ok(Some(match cur {
                    Value::Array(items) => Value::Array(
                        items
                            .into_iter()
                            .filter_map(|mut i| {
                                if let Some(o) = i.as_object_mut() {
                                    crate::resource::remove_ci(o, &sub.name);
                                }
                                (!is_unassigned(&i)).then_some(i)
                            })
                            .collect(),
                    ),
                    Value::Object(mut o) => {
                        crate::resource::remove_ci(&mut o, &sub.name);
                        Value::Object(o)
                    }
                    other => other,
                }))
            }
        }
    }

    fn remove_filtered(
        &self,
        r: &ResolvedAttr<'_>,
        cur: Option<Value>,
        f: &Filter,
    ) -> ScimResult<Option<Value>> {
        let attr = r.attr;
        let mut items = match cur {
            Some(Value::Array(a)) => a,
            Some(other) => vec![other],
            None => Vec::new(),
        };
        let hits: Vec<usize> = (0..items.len())
            .filter(|&i| element_matches(f, &items[i], Some(attr), self.ctx))
            .collect();
        if hits.is_empty() {
            let cur = (!items.is_empty()).then_some(Value::Array(items));
            // RFC 7644 §3.5.2.2: nothing to remove is a success.
            return Ok(cur);
        }
        match r.sub {
            None => {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !hits.contains(&i);
                    i += 1;
                    keep
                });
            }
            Some(sub) => {
                if sub.required || sub.mutability == Mutability::Immutable {
                    return Err(ScimError::mutability(format!(
                        "{}.{} cannot be removed",
                        attr.name, sub.name
                    )));
                }
                for &h in &hits {
                    if let Some(o) = items[h].as_object_mut() {
                        crate::resource::remove_ci(o, &sub.name);
                    }
                }
                items.retain(|i| !is_unassigned(i));
            }
        }
        Ok(Some(Value::Array(items)))
    }

    // ----- add / replace -----

    fn set_plain(
        &self,
        kind: PatchOpKind,
        r: &ResolvedAttr<'_>,
        cur: Option<Value>,
        value: &Value,
    ) -> ScimResult<Option<Value>> {
        let attr = r.attr;
        match r.sub {
            Some(sub) => {
                if attr.multi_valued {
                    return Err(ScimError::invalid_path(format!(
                            "{}.{} addresses every value of a multi-valued attribute; select values with a filter such as {}[type eq \"work\"].{}",
                            attr.name, sub.name, attr.name, sub.name
                        )));
                }
                let v = self.coerce(value, sub, sub.multi_valued)?;
                let mut obj = match cur {
                    Some(Value::Object(o)) => o,
                    _ => Map::new(),
                };
                if let Some(existing) = get_ci(&obj, &sub.name) {
                    if sub.mutability == Mutability::Immutable
                        && !values_equal(existing, &v, Some(sub))
                    {
                        return Err(ScimError::mutability(format!(
                            "{}.{} is immutable",
                            attr.name, sub.name
                        )));
                    }
                }
                put_attr(&mut obj, &sub.name, Some(v));
                Ok(Some(Value::Object(obj)))
            }
            None => {
                let v = self.coerce(value, attr, attr.multi_valued)?;
                self.check_mutable(attr, cur.as_ref(), false)?;
                if is_unassigned(&v) {
                    return Ok(None);
                }
                if attr.multi_valued {
                    let new_items = match v {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    if kind == PatchOpKind::Replace {
                        if new_items.iter().filter(|i| is_primary(i)).count() > 1 {
                            return Err(ScimError::invalid_value(format!(
                                "more than one value of {} is primary",
                                attr.name
                            )));
                        }
                        return Ok(Some(Value::Array(new_items)));
                    }
                    let mut items = match cur {
                        Some(Value::Array(a)) => a,
                        Some(other) => vec![other],
                        None => Vec::new(),
                    };
                    for n in new_items {
                        let primary = is_primary(&n);
                        let idx = match items.iter().position(|i| same_element(i, &n, attr)) {
                            Some(pos) => {
                                merge_into(&mut items[pos], n);
                                pos
                            }
                            None => {
                                items.push(n);
                                items.len() - 1
                            }
                        };
                        if primary {
                            clear_other_primaries(&mut items, idx);
                        }
                    }
                    Ok(Some(Value::Array(items)))
                } else if attr.is_complex() {
                    let mut base = match cur {
                        Some(Value::Object(o)) => Value::Object(o),
                        _ => Value::Object(Map::new()),
                    };
                    if let Some(obj) = base.as_object() {
                        for (k, nv) in v.as_object().into_iter().flatten() {
                            if let (Some(sub), Some(old)) = (attr.sub_attribute(k), get_ci(obj, k))
                            {
                                if sub.mutability == Mutability::Immutable
                                    && !values_equal(old, nv, Some(sub))
                                {
                                    return Err(ScimError::mutability(format!(
                                        "{}.{} is immutable",
                                        attr.name, sub.name
                                    )));
                                }
                            }
                        }
                    }
                    merge_into(&mut base, v);
                    Ok(Some(base))
                } else {
                    Ok(Some(v))
                }
            }
        }
    }

    fn set_filtered(
        &self,
        kind: PatchOpKind,
        r: &ResolvedAttr<'_>,
        cur: Option<Value>,
        f: &Filter,
        value: &Value,
    ) -> ScimResult<Option<Value>> {
        let attr = r.attr;
        let mut items = match cur {
            Some(Value::Array(a)) => a,
            Some(other) => vec![other],
            None => Vec::new(),
        };
        let new_part = match r.sub {
            Some(sub) => self.coerce(value, sub, sub.multi_valued),
            None => self.coerce(value, attr, false),
        };
        let new_part = new_part?;
        let hits: Vec<usize> = (0..items.len())
            .filter(|&i| element_matches(f, &items[i], Some(attr), self.ctx))
            .collect();
        if hits.is_empty() {
            if !self.compat.create_on_no_match {
                return Err(ScimError::no_target(format!(
                    "no value of {} matches [{f}]",
                    attr.name
                )));
            }
            let Some(mut element) = element_from_filter(f, attr) else {
                return Err(ScimError::no_target(format!(
                    "no value of {} matches [{f}], and the filter does not describe a new value",
                    attr.name
                )));
            };
            match r.sub {
                Some(sub) => {
                    if let Some(o) = element.as_object_mut() {
                        o.insert(sub.name.clone(), new_part);
                    }
                }
                None => merge_into(&mut element, new_part),
            }
            let primary = is_primary(&element);
            items.push(element);
            if primary {
                let last = items.len() - 1;
                clear_other_primaries(&mut items, last);
            }
            return Ok(Some(Value::Array(items)));
        }
        for &h in &hits {
            match r.sub {
                Some(sub) => {
                    let Some(o) = items[h].as_object_mut() else {
                        continue;
                    };
                    if let Some(existing) = get_ci(o, &sub.name) {
                        if sub.mutability == Mutability::Immutable
                            && !values_equal(existing, &new_part, Some(sub))
                        {
                            return Err(ScimError::mutability(format!(
                                "{}.{} is immutable",
                                attr.name, sub.name
                            )));
                        }
                    }
                    crate::resource::remove_ci(o, &sub.name);
                    if !is_unassigned(&new_part) {
                        o.insert(sub.name.clone(), new_part.clone());
                    }
                }
                None => {
                    if kind == PatchOpKind::Replace {
                        items[h] = new_part.clone();
                    } else {
                        merge_into(&mut items[h], new_part.clone());
                    }
                }
            }
        }
        if let Some(&last) = hits.iter().rev().find(|&&h| is_primary(&items[h])) {
            clear_other_primaries(&mut items, last);
        }
        items.retain(|i| !is_unassigned(i));
        Ok(Some(Value::Array(items)))
    }

    fn coerce(&self, v: &Value, def: &AttributeDef, as_multi: bool) -> ScimResult<Value> {
        coerce_value(v, def, as_multi, self.compat)
    }

    /// After all operations: required attributes that were present must still be (RFC 7643
    /// §2.2 `required`).
    fn check_required(&self, before: &JsonMap, after: &JsonMap) -> ScimResult<()> {
        let rt = self.ctx.resource_type;
        let Some(core) = self.ctx.registry.schema(&rt.schema) else {
            return Ok(());
        };
        for a in core.attributes.iter().filter(|a| a.required) {
            if get_ci(before, &a.name).is_some() && get_ci(after, &a.name).is_none_or(is_unassigned)
            {
                return Err(ScimError::mutability(format!(
                    "{} is required and cannot be removed",
                    a.name
                )));
            }
        }
        Ok(())
    }
}

/// Merges `new` into `base`: object keys are set (nulls remove), anything else replaces.
fn merge_into(base: &mut Value, new: Value) {
    match (base, new) {
        (Value::Object(b), Value::Object(n)) => {
            for (k, v) in n {
                let key = key_ci(b, &k).cloned().unwrap_or(k);
                if is_unassigned(&v) {
                    b.shift_remove(&key);
                } else {
                    b.insert(key, v);
                }
            }
        }
        (b, n) => *b = n,
    }
}

/// Builds the element a filter like `type eq "work" and primary eq true` describes: every term
/// must be an `eq` joined by `and`.
fn element_from_filter(f: &Filter, attr: &AttributeDef) -> Option<Value> {
    fn collect(f: &Filter, attr: &AttributeDef, out: &mut Map<String, Value>) -> Option<()> {
        match f {
            Filter::And(a, b) => {
                collect(a, attr, out)?;
                collect(b, attr, out)
            }
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.urn.is_none() && path.sub.is_none() => {
                let sub = attr.sub_attribute(&path.name);
                let name = sub
                    .map(|s| s.name.clone())
                    .unwrap_or_else(|| path.name.clone());
                let v = match value {
                    CompValue::Null => return None,
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::String(s) => match sub.map(|s| s.kind) {
                        Some(AttributeType::Boolean) if s.eq_ignore_ascii_case("true") => {
                            Value::Bool(true)
                        }
                        Some(AttributeType::Boolean) if s.eq_ignore_ascii_case("false") => {
                            Value::Bool(false)
                        }
                        _ => Value::String(s.clone()),
                    },
                };
                out.insert(name, v);
                Some(())
            }
            _ => None,
        }
    }
    if !attr.is_complex() {
        return None;
    }
    let mut out = Map::new();
    collect(f, attr, &mut out)?;
    Some(Value::Object(out))
}

/// Type-checks and normalises a value against its definition (RFC 7643 §2.3).
/// With `as_multi`, arrays are checked element-wise and a single value is wrapped.
pub(crate) fn coerce_value(
    v: &Value,
    def: &AttributeDef,
    as_multi: bool,
    compat: &Compat,
) -> ScimResult<Value> {
    if as_multi {
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            Value::Null => return Ok(Value::Null),
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for i in items {
            let c = coerce_value(i, def, false, compat)?;
            if !is_unassigned(&c) {
                out.push(c);
            }
        }
        return Ok(Value::Array(out));
    }
    let bad = |what: &str| {
        Err(ScimError::invalid_value(format!(
            "{} must be {what}, not {}",
            def.name,
            json_kind(v)
        )))
    };
    match (def.kind, v) {
        (_, Value::Null) => Ok(Value::Null),
        (AttributeType::Complex, Value::Object(o)) => {
            // Entra ID: `{"value": "{\"id\":…,\"value\":\"Admin\"}"}`, a JSON-encoded element.
            if compat.json_string_values {
                if let Some(Value::String(inner)) = get_ci(o, "value") {
                    if inner.trim_start().starts_with('{') {
                        if let Ok(Value::Object(mut decoded)) = serde_json::from_str::<Value>(inner)
                        {
                            if get_ci(&decoded, "value").is_some_and(|v| !v.is_object()) {
                                for (k, v) in o {
                                    if !k.eq_ignore_ascii_case("value")
                                        && get_ci(&decoded, k).is_none()
                                    {
                                        decoded.insert(k.clone(), v.clone());
                                    }
                                }
                                return coerce_value(&Value::Object(decoded), def, false, compat);
                            }
                        }
                    }
                }
            }
            let mut out = Map::with_capacity(o.len());
            for (k, sv) in o {
                match def.sub_attribute(k) {
                    Some(sd) => {
                        let c = coerce_value(sv, sd, sd.multi_valued, compat)?;
                        let blank = compat.complex_shapes && c.as_str() == Some("");
                        if !is_unassigned(&c) && !blank {
                            out.insert(sd.name.clone(), c);
                        }
                    }
                    // A sub-attribute the schema does not define (Entra ID's role `id`):
                    // dropped under the tolerant policy, refused under the strict one.
                    None if compat.ignore_unknown_attributes => {}
                    None => {
                        return Err(ScimError::invalid_value(format!(
                            "{k:?} is not a sub-attribute of {}",
                            def.name
                        )))
                    }
                }
            }
            Ok(Value::Object(out))
        }
        (AttributeType::Complex, Value::String(s)) => {
            if compat.json_string_values && s.trim_start().starts_with('{') {
                if let Ok(parsed @ Value::Object(_)) = serde_json::from_str::<Value>(s) {
                    return coerce_value(&parsed, def, false, compat);
                }
            }
            // Entra ID's bare-string `manager`; not for multi-valued attributes like `emails`.
            if compat.complex_shapes && !def.multi_valued && def.sub_attribute("value").is_some() {
                if s.is_empty() {
                    return Ok(Value::Null);
                }
                let mut o = Map::new();
                o.insert("value".into(), Value::String(s.clone()));
                return coerce_value(&Value::Object(o), def, false, compat);
            }
            bad("an object")
        }
        (AttributeType::Complex, Value::Array(a))
            if compat.complex_shapes && !def.multi_valued && a.len() == 1 =>
        {
            coerce_value(&a[0], def, false, compat)
        }
        (AttributeType::Complex, _) => bad("an object"),
        (_, Value::Array(_) | Value::Object(_)) => bad("a single value"),
        (AttributeType::Boolean, Value::Bool(_)) => Ok(v.clone()),
        (AttributeType::Boolean, Value::String(s)) if compat.string_booleans => {
            if s.eq_ignore_ascii_case("true") {
                Ok(Value::Bool(true))
            } else if s.eq_ignore_ascii_case("false") {
                Ok(Value::Bool(false))
            } else {
                bad("a boolean")
            }
        }
        (AttributeType::Boolean, _) => bad("a boolean"),
        (AttributeType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(v.clone()),
        (AttributeType::Integer, _) => bad("an integer"),
        (AttributeType::Decimal, Value::Number(_)) => Ok(v.clone()),
        (AttributeType::Decimal, _) => bad("a number"),
        (AttributeType::DateTime, Value::String(s)) => {
            if parse_datetime(s).is_some() {
                Ok(v.clone())
            } else {
                Err(ScimError::invalid_value(format!(
                    "{} must be an xsd:dateTime such as \"2011-05-13T04:42:34Z\", not {s:?}",
                    def.name
                )))
            }
        }
        (
            AttributeType::String | AttributeType::Reference | AttributeType::Binary,
            Value::String(s),
        ) => {
            if def.strict_canonical_values
                && !def.canonical_values.is_empty()
                && !def
                    .canonical_values
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(s))
            {
                return Err(ScimError::invalid_value(format!(
                    "{} must be one of {:?}, not {s:?}",
                    def.name, def.canonical_values
                )));
            }
            Ok(v.clone())
        }
        (_, _) => bad("a string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use serde_json::json;

    fn run(before: Value, ops: Value, compat: &Compat) -> ScimResult<(JsonMap, bool)> {
        let ctx = Context::user();
        let mut m = before.as_object().unwrap().clone();
        let patch = PatchOp::from_json(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
            compat,
        )?;
        let out = apply_patch(&mut m, &patch, &ctx, compat)?;
        Ok((m, out.changed))
    }

    /// RFC 7644 §3.5.2.3: an RFC-spelled replace whose value filter matches nothing is
    /// `noTarget`, also under the default policy; Entra ID's `"Replace"` and any `add` create the
    /// element (the project's idp-wire-behaviour notes).
    #[test]
    fn replace_with_unmatched_filter_is_no_target_unless_spelled_by_entra() {
        let u = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "a",
            "emails": [{"value": "w@example.com", "type": "work"}]});
        let path = "emails[type eq \"other\"].value";
        for compat in [Compat::default(), Compat::strict()] {
            let e = run(
                u.clone(),
                json!([{"op": "replace", "path": path, "value": "x@example.com"}]),
                &compat,
            )
            .unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::NoTarget), "{e:?}");
        }
        let want = json!([{"value": "w@example.com", "type": "work"}, {"value": "x@example.com", "type": "other"}]);
        let (m, changed) = run(
            u.clone(),
            json!([{"op": "Replace", "path": path, "value": "x@example.com"}]),
            &Compat::default(),
        )
        .unwrap();
        assert!(changed);
        assert_eq!(m["emails"], want);
        let (m, _) = run(
            u.clone(),
            json!([{"op": "add", "path": path, "value": "x@example.com"}]),
            &Compat::default(),
        )
        .unwrap();
        assert_eq!(m["emails"], want);
        // Strict: no spelling creates anything.
        let e = run(
            u.clone(),
            json!([{"op": "add", "path": path, "value": "x@example.com"}]),
            &Compat::strict(),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::NoTarget), "{e:?}");
        // A replace that matches still replaces, whatever the spelling.
        let (m, _) = run(u, json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "n@example.com"}]), &Compat::default()).unwrap();
        assert_eq!(
            m["emails"],
            json!([{"value": "n@example.com", "type": "work"}])
        );
    }

    #[test]
    fn case_change_is_a_change_and_same_value_is_not() {
        let u = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "alice"});
        let (m, changed) = run(
            u.clone(),
            json!([{"op": "replace", "path": "userName", "value": "Alice"}]),
            &Compat::strict(),
        )
        .unwrap();
        assert!(changed);
        assert_eq!(m["userName"], "Alice");
        let (_, changed) = run(
            u.clone(),
            json!([{"op": "replace", "path": "userName", "value": "alice"}]),
            &Compat::strict(),
        )
        .unwrap();
        assert!(!changed);
        // Okta: a path-less replace repeating the id is accepted.
        let (m, _) = run(
            u.clone(),
            json!([{"op": "replace", "value": {"id": "1", "displayName": "A"}}]),
            &Compat::strict(),
        )
        .unwrap();
        assert_eq!(m["displayName"], "A");
        let e = run(
            u,
            json!([{"op": "replace", "value": {"id": "2"}}]),
            &Compat::strict(),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::Mutability));
    }

    #[test]
    fn entra_member_removal_and_manager_shapes() {
        let ctx = Context::group();
        let mut g = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "G",
            "members": [{"value": "u1"}, {"value": "u2"}, {"value": "u3"}]}).as_object().unwrap().clone();
        let p = PatchOp::from_json(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "Remove", "path": "members", "value": [{"value": "u1"}]},
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u2"}, {"value": "u4"}]}]}), &Compat::default()).unwrap();
        apply_patch(&mut g, &p, &ctx, &Compat::default()).unwrap();
        assert_eq!(
            g["members"],
            json!([{"value": "u2"}, {"value": "u3"}, {"value": "u4"}])
        );
        // Strict RFC reading: remove without a filter clears the attribute.
        let p = PatchOp::new(vec![PatchOperation::new(
            PatchOpKind::Remove,
            Some("members".into()),
            Some(json!([{"value": "u2"}])),
        )]);
        apply_patch(&mut g, &p, &ctx, &Compat::strict()).unwrap();
        assert!(!g.contains_key("members"));

        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let u = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "a"});
        for value in [
            json!("m1"),
            json!([{"$ref": null, "value": "m1"}]),
            json!({"value": "m1"}),
        ] {
            let (m, _) = run(
                u.clone(),
                json!([{"op": "Add", "path": format!("{ent}:manager"), "value": value}]),
                &Compat::default(),
            )
            .unwrap();
            assert_eq!(m[ent]["manager"], json!({"value": "m1"}));
            assert_eq!(m["schemas"][1], ent);
            let (m, _) = run(Value::Object(m), json!([{"op": "Replace", "path": format!("{ent}:manager"), "value": {"value": ""}}]), &Compat::default()).unwrap();
            assert!(!m.contains_key(ent), "{m:?}");
            assert_eq!(
                m["schemas"],
                json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
            );
        }
    }

    #[test]
    fn entra_pathless_dotted_keys_and_json_roles() {
        let u = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "a", "active": true});
        let (m, _) = run(u, json!([
            {"op": "replace", "value": {"displayName": "D", "name.givenName": "G",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7", "active": "False"}},
            {"op": "Add", "path": "roles", "value": [{"value": "{\"id\":\"r1\",\"value\":\"Admin\",\"display\":\"Admin\"}"}]}
        ]), &Compat::default()).unwrap();
        assert_eq!(m["name"], json!({"givenName": "G"}));
        assert_eq!(m["active"], json!(false));
        assert_eq!(
            m["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            json!({"employeeNumber": "7"})
        );
        assert_eq!(m["roles"], json!([{"value": "Admin", "display": "Admin"}]));
    }
}
