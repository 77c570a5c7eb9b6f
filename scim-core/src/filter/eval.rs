//! In-memory filter evaluation over generic resources (RFC 7644 §3.4.2.2).
//!
//! Rules implemented (and mirrored by the server's SQL translation):
//! - a multi-valued attribute matches when any of its values matches;
//! - a multi-valued complex attribute compared directly (`emails co "x"`) compares its `value`
//!   sub-attribute;
//! - string comparisons honour the attribute's `caseExact` (default false, RFC 7643 §2.2);
//!   unknown attributes compare case-insensitively; case folding is ASCII-only (see [`fold`]);
//! - `dateTime` attributes compare chronologically, numbers numerically, booleans only with
//!   `eq`/`ne` (a string literal `"true"`/`"false"` is accepted for identity-provider tolerance);
//! - `pr` is true for a value that is not null, `""`, `[]` or `{}`;
//! - `ne` is the negation of `eq` (so it matches resources without the attribute), `eq null`
//!   matches an absent attribute and `ne null` a present one;
//! - comparisons that make no sense for the type (`gt` on a boolean) are false; use
//!   [`crate::filter::Filter::check`] to reject them up front with `invalidFilter`;
//! - value filters (`emails[type eq "work" and value co "@x"]`) apply the inner filter to each
//!   element: all conditions hold for the same element.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use super::{CompValue, CompareOp, Filter};
use crate::error::{ScimError, ScimResult};
use crate::path::AttrPath;
use crate::resource::{get_ci, Context, JsonMap};
use crate::schema::{AttributeDef, AttributeType};

/// True when `resource` matches `filter`.
pub fn matches(filter: &Filter, resource: &JsonMap, ctx: &Context<'_>) -> bool {
    eval(filter, &Scope::Root(resource), ctx)
}

enum Scope<'a> {
    Root(&'a JsonMap),
    Element {
        value: &'a Value,
        def: Option<&'a AttributeDef>,
    },
}

fn eval(f: &Filter, scope: &Scope<'_>, ctx: &Context<'_>) -> bool {
    match f {
        Filter::And(a, b) => eval(a, scope, ctx) && eval(b, scope, ctx),
        Filter::Or(a, b) => eval(a, scope, ctx) || eval(b, scope, ctx),
        Filter::Not(a) => !eval(a, scope, ctx),
        Filter::Present(path) => {
            let mut found = false;
            for_each_leaf(path, scope, ctx, true, &mut |v, _| {
                found |= is_present(v);
            });
            found
        }
        Filter::Compare { path, op, value } => match (op, value) {
            (CompareOp::Ne, _) => !eval(
                &Filter::Compare {
                    path: path.clone(),
                    op: CompareOp::Eq,
                    value: value.clone(),
                },
                scope,
                ctx,
            ),
            (CompareOp::Eq, CompValue::Null) => !eval(&Filter::Present(path.clone()), scope, ctx),
            (_, CompValue::Null) => false,
            _ => {
                let mut found = false;
                for_each_leaf(path, scope, ctx, false, &mut |v, def| {
                    if !found {
                        found = compare_leaf(v, def, *op, value);
                    }
                });
                found
            }
        },
        Filter::ValuePath { path, filter } => {
            let Scope::Root(map) = scope else {
                return false;
            };
            let (holder, def) = match ctx.resolve_attr(path) {
                Some(r) => (crate::resource::lookup_attr(map, &r), Some(r.attr)),
                None => (get_ci(map, &path.name), None),
            };
            let Some(holder) = holder else { return false };
            let elements: &[Value] = match holder {
                Value::Array(a) => a,
                other => std::slice::from_ref(other),
            };
            elements
                .iter()
                .any(|el| eval(filter, &Scope::Element { value: el, def }, ctx))
        }
    }
}

/// Calls `f` for every leaf value addressed by `path` in `scope`. With `whole`, a complex
/// attribute without a sub-attribute yields its elements rather than their `value`.
fn for_each_leaf<'v>(
    path: &AttrPath,
    scope: &Scope<'v>,
    ctx: &Context<'_>,
    whole: bool,
    f: &mut dyn FnMut(&'v Value, Option<&AttributeDef>),
) {
    match scope {
        Scope::Root(map) => {
            let resolved = ctx.resolve_attr(path);
            let (top, attr, sub) = match &resolved {
                Some(r) => (crate::resource::lookup_attr(map, r), Some(r.attr), r.sub),
                None if path.urn.is_none() => (get_ci(map, &path.name), None, None),
                None => {
                    // An unknown URN-qualified path: look inside the object under that URN.
                    let obj = path
                        .urn
                        .as_deref()
                        .and_then(|u| get_ci(map, u))
                        .and_then(Value::as_object);
                    (obj.and_then(|o| get_ci(o, &path.name)), None, None)
                }
            };
            let Some(top) = top else { return };
            let sub_name = sub.map(|s| s.name.as_str()).or(path.sub.as_deref());
            let elements: &[Value] = match top {
                Value::Array(a) => a,
                other => std::slice::from_ref(other),
            };
            let is_complex = attr.map(AttributeDef::is_complex).unwrap_or(false);
            for el in elements {
                match (sub_name, el) {
                    (Some(s), Value::Object(o)) => {
                        if let Some(v) = get_ci(o, s) {
                            emit(v, sub, f);
                        }
                    }
                    (Some(_), _) => {}
                    (None, Value::Object(o)) if !whole && (is_complex || attr.is_none()) => {
                        // Compare a complex value through its `value` sub-attribute.
                        let vdef = attr.and_then(|a| a.sub_attribute("value"));
                        if let Some(v) = get_ci(o, "value") {
                            emit(v, vdef, f);
                        }
                    }
                    (None, v) => emit(v, attr, f),
                }
            }
        }
        Scope::Element { value, def } => {
            // Inside a value filter, paths name sub-attributes of the element: nothing deeper.
            if path.sub.is_some() || path.urn.is_some() {
                return;
            }
            let sub_def = def.and_then(|d| d.sub_attribute(&path.name));
            match value {
                Value::Object(o) => {
                    if let Some(v) = get_ci(o, &path.name) {
                        emit(v, sub_def, f);
                    }
                }
                // A simple multi-valued attribute: `value` names the element itself.
                v if path.name.eq_ignore_ascii_case("value") => emit(v, *def, f),
                _ => {}
            }
        }
    }
}

fn emit<'v>(
    v: &'v Value,
    def: Option<&AttributeDef>,
    f: &mut dyn FnMut(&'v Value, Option<&AttributeDef>),
) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| f(i, def)),
        other => f(other, def),
    }
}

/// `pr`: not null, `""`, `[]` or `{}`.
pub(crate) fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

/// Folds case unless `case_exact`.
///
/// Only ASCII letters are folded: that is what `lower()` does in SQLite and in PostgreSQL under
/// the `C` collation, so the in-memory evaluator and the server's SQL translation agree on every
/// input. (RFC 7643 §2.2 leaves the case-folding rules open.)
pub fn fold(s: &str, case_exact: bool) -> std::borrow::Cow<'_, str> {
    if case_exact || !s.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.to_ascii_lowercase())
    }
}

/// Parses an xsd:dateTime (RFC 3339 profile), as filters and PATCH do.
///
/// xsd:dateTime allows a value without a time zone; such a value is read as UTC.
pub fn parse_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s).ok().or_else(|| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|n| n.and_utc().fixed_offset())
    })
}

fn ordering_holds(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn compare_leaf(
    actual: &Value,
    def: Option<&AttributeDef>,
    op: CompareOp,
    lit: &CompValue,
) -> bool {
    let case_exact = def.map(|d| d.case_exact).unwrap_or(false);
    let kind = def.map(|d| d.kind);
    match (actual, lit) {
        (Value::String(a), CompValue::String(b)) => {
            if kind == Some(AttributeType::DateTime)
                && op != CompareOp::Co
                && op != CompareOp::Sw
                && op != CompareOp::Ew
            {
                if let (Some(x), Some(y)) = (parse_datetime(a), parse_datetime(b)) {
                    return ordering_holds(op, x.cmp(&y));
                }
            }
            if matches!(kind, Some(AttributeType::Boolean | AttributeType::Binary))
                && op.is_ordering()
            {
                return false;
            }
            let (a, b) = (fold(a, case_exact), fold(b, case_exact));
            match op {
                CompareOp::Co => a.contains(&*b),
                CompareOp::Sw => a.starts_with(&*b),
                CompareOp::Ew => a.ends_with(&*b),
                _ => ordering_holds(op, a.cmp(&b)),
            }
        }
        (Value::Bool(a), CompValue::Bool(b)) => matches!(op, CompareOp::Eq) && a == b,
        // Identity-provider tolerance: `primary eq "True"`.
        (Value::Bool(a), CompValue::String(b)) => {
            matches!(op, CompareOp::Eq) && b.eq_ignore_ascii_case(if *a { "true" } else { "false" })
        }
        (Value::String(a), CompValue::Bool(b))
            if kind == Some(AttributeType::Boolean) || kind.is_none() =>
        {
            matches!(op, CompareOp::Eq) && a.eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        (Value::Number(a), CompValue::Number(b)) => match compare_numbers(a, b) {
            Some(ord) if !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) => {
                ordering_holds(op, ord)
            }
            _ => false,
        },
        _ => false,
    }
}

/// Compares two JSON numbers exactly when both are integers, else as `f64`.
pub(crate) fn compare_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

impl Filter {
    /// Evaluates the filter against a resource.
    pub fn matches(&self, resource: &JsonMap, ctx: &Context<'_>) -> bool {
        matches(self, resource, ctx)
    }

    /// Checks the filter against the schema: ordering operators on booleans or binary, `co`/`sw`/
    /// `ew` on non-strings, literals of the wrong type, value filters on single-valued simple
    /// attributes, sub-attributes that do not exist, and attributes that are never returned
    /// (`password`) are `400 invalidFilter` (RFC 7644 §3.4.2.2). Attributes no schema defines
    /// are allowed (they never match).
    pub fn check(&self, ctx: &Context<'_>) -> ScimResult<()> {
        let mut err = None;
        self.visit_terms(&mut |parent, term| {
            if err.is_some() {
                return;
            }
            let def = match parent {
                Some(p) => match ctx.resolve_attr(p) {
                    Some(r) => {
                        if !r.attr.multi_valued && !r.attr.is_complex() {
                            err = Some(ScimError::invalid_filter(format!(
                                "{p} is neither multi-valued nor complex; it cannot take a value filter"
                            )));
                            return;
                        }
                        let name = match term {
                            Filter::Compare { path, .. } | Filter::Present(path) => &path.name,
                            _ => return,
                        };
                        if r.attr.is_complex() {
                            match r.attr.sub_attribute(name) {
                                Some(d) => Some(d),
                                None => {
                                    err = Some(ScimError::invalid_filter(format!(
                                        "{p} has no sub-attribute {name:?}"
                                    )));
                                    return;
                                }
                            }
                        } else {
                            Some(r.attr)
                        }
                    }
                    None => None,
                },
                None => match term {
                    Filter::Compare { path, .. } | Filter::Present(path) => match ctx.resolve_attr(path) {
                        Some(r) if r.sub.is_none() && r.attr.is_complex() => r.attr.sub_attribute("value"),
                        Some(r) => Some(r.def()),
                        None => {
                            if path.sub.is_some() {
                                if let Some(top) = ctx.resolve_attr(&path.parent()) {
                                    if top.attr.is_complex() {
                                        err = Some(ScimError::invalid_filter(format!(
                                            "{} has no sub-attribute {:?}",
                                            top.attr.name,
                                            path.sub.as_deref().unwrap_or_default()
                                        )));
                                        return;
                                    }
                                }
                            }
                            None
                        }
                    },
                    _ => None,
                },
            };
            // Attributes that are never returned (`password`) are not filterable: comparing
            // them would let a client guess a secret one character at a time.
            let never = |p: &AttrPath| {
                ctx.resolve_attr(p).or_else(|| ctx.resolve_attr(&p.parent())).is_some_and(|r| {
                    r.attr.returned == crate::schema::Returned::Never || r.def().returned == crate::schema::Returned::Never
                })
            };
            let own = match term {
                Filter::Compare { path, .. } | Filter::Present(path) => Some(path),
                _ => None,
            };
            if let Some(p) = own {
                let full = match parent {
                    Some(vp) => AttrPath { urn: vp.urn.clone(), name: vp.name.clone(), sub: Some(p.name.clone()) },
                    None => p.clone(),
                };
                if never(&full) {
                    err = Some(ScimError::invalid_filter(format!("{full} cannot be used in a filter")));
                    return;
                }
            }
            if let (Some(def), Filter::Compare { path, op, value }) = (def, term) {
                if let Err(e) = check_compare(path, def, *op, value) {
                    err = Some(e);
                }
            }
        });
        err.map_or(Ok(()), Err)
    }
}

fn check_compare(
    path: &AttrPath,
    def: &AttributeDef,
    op: CompareOp,
    value: &CompValue,
) -> ScimResult<()> {
    use AttributeType as T;
    let bad = |why: &str| {
        Err(ScimError::invalid_filter(format!(
            "{path} {} {value}: {why}",
            op.as_str()
        )))
    };
    if matches!(value, CompValue::Null) {
        return match op {
            CompareOp::Eq | CompareOp::Ne => Ok(()),
            _ => bad("null can only be compared with eq or ne"),
        };
    }
    match def.kind {
        T::Boolean => {
            if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                return bad("a boolean attribute supports only eq and ne");
            }
            match value {
                CompValue::Bool(_) => Ok(()),
                CompValue::String(s)
                    if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
                {
                    Ok(())
                }
                _ => bad("expected true or false"),
            }
        }
        T::Binary if op.is_ordering() => bad("binary attributes cannot be ordered"),
        T::Integer | T::Decimal => match (op, value) {
            (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, _) => {
                bad("co, sw and ew apply to strings only")
            }
            (_, CompValue::Number(n)) if def.kind == T::Integer && !(n.is_i64() || n.is_u64()) => {
                bad("expected an integer")
            }
            (_, CompValue::Number(_)) => Ok(()),
            _ => bad("expected a number"),
        },
        T::DateTime => match value {
            CompValue::String(s)
                if op.is_ordering() || op == CompareOp::Eq || op == CompareOp::Ne =>
            {
                if parse_datetime(s).is_some() {
                    Ok(())
                } else {
                    bad("expected an RFC 3339 dateTime such as \"2011-05-13T04:42:34Z\"")
                }
            }
            CompValue::String(_) => Ok(()),
            _ => bad("expected a dateTime string"),
        },
        T::String | T::Reference | T::Binary => match value {
            CompValue::String(_) => Ok(()),
            _ => bad("expected a string"),
        },
        T::Complex => bad("a complex attribute needs a sub-attribute"),
    }
}

/// True when one element of a multi-valued attribute matches a value filter.
pub(crate) fn element_matches(
    filter: &Filter,
    el: &Value,
    def: Option<&AttributeDef>,
    ctx: &Context<'_>,
) -> bool {
    eval(filter, &Scope::Element { value: el, def }, ctx)
}
