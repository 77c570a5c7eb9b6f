//! The RFC 7643 / RFC 7644 example corpus (`tests/fixtures/rfc/`) read through the library.
//!
//! - [`rfc_corpus_examples`]: every entry of `manifest.json`, checked by its `kind`. Every
//!   problem of every file is collected and printed before the test fails. A problem listed in
//!   [`CORPUS_KNOWN_DIFFERENCES`] is tolerated for its file only (every other check of that file
//!   still runs), and the entry is reported as stale once the problem is gone.
//! - [`manifest_lists_every_resource_file`]: `manifest.json` and `resources/` agree.
//! - [`rfc_filters_parse_display_and_check`]: the 17 filters of RFC 7644 §3.4.2.2 (Figure 2).
//! - [`builtin_schemas_round_trip`]: the built-in schemas survive JSON and `Schema::from_json`.
//!
//! Two normalisations are applied when comparing a resource with the library's output, and
//! only these two:
//!
//! - `meta.created` / `meta.lastModified` are compared as instants: the typed views parse them
//!   into `chrono::DateTime<Utc>`, which may print an equal instant differently.
//! - `null`, `[]` and `{}` members are dropped from the original first: RFC 7643 §2.5 makes
//!   them equivalent to an unassigned attribute, and `Resource::from_json` drops them (the only
//!   such member in the corpus is `"roles": []` in the §3.5.1 PUT request).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, FixedOffset};
use scim_core::path::PatchPath;
use scim_core::schema::{Target, ENTERPRISE_USER, RESOURCE_TYPE, SERVICE_PROVIDER_CONFIG};
use scim_core::{
    AttrPath, BulkRequest, BulkResponse, Compat, Context, Filter, Group, ListResponse, Meta,
    PatchOp, Resource, ResourceType, Schema, SchemaRegistry, ScimError, SearchRequest, User,
};
use serde_json::{Map, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rfc");
const MANIFEST: &str = include_str!("../fixtures/rfc/manifest.json");
const FILTERS: &str = include_str!("../fixtures/rfc/filters.json");

/// Corpus files the library reads differently from the RFC: (file, text every tolerated
/// problem of that file contains, reason).
const CORPUS_KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[];

/// Top-level members of the §8.5 ServiceProviderConfig example that the built-in §8.7.2
/// ServiceProviderConfig schema does not define: (member, reason).
const SPC_MEMBERS_OUTSIDE_SCHEMA: &[(&str, &str)] = &[(
    "etag",
    "RFC 7643 §5 defines etag (and §8.5 uses it) but the §8.7.2 schema omits it; the built-in \
     schema follows §8.7.2 (see src/schema/builtin/NOTES.md)",
)];

const KINDS: &[&str] = &[
    "user",
    "enterpriseUser",
    "group",
    "listResponse",
    "searchRequest",
    "patchOp",
    "bulkRequest",
    "bulkResponse",
    "error",
    "serviceProviderConfig",
    "resourceType",
    "schema",
    "other",
];

// ---------------------------------------------------------------- helpers

fn manifest() -> Vec<Value> {
    serde_json::from_str(MANIFEST).expect("manifest.json is valid JSON")
}

fn load(file: &str) -> Result<Value, String> {
    let path = Path::new(FIXTURES).join(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("not valid JSON: {e}"))
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}

fn err_text(e: &ScimError) -> String {
    format!(
        "{} {}: {}",
        e.status,
        e.scim_type.as_ref().map_or("-", |t| t.as_str()),
        e.detail
    )
}

/// Lists every place where `got` differs from `expected` (object key order ignored).
fn json_diff(path: &str, expected: &Value, got: &Value, out: &mut Vec<String>) {
    match (expected, got) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => json_diff(&format!("{path}.{k}"), va, vb, out),
                    None => out.push(format!("{path}.{k}: missing (expected {})", short(va))),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(format!("{path}.{k}: unexpected {}", short(vb)));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                json_diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if expected == got => {}
        _ => out.push(format!(
            "{path}: expected {}, got {}",
            short(expected),
            short(got)
        )),
    }
}

/// `null`, `[]` and `{}` members dropped, recursively (RFC 7643 §2.5).
fn drop_unassigned(v: &Value) -> Value {
    fn unassigned(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        }
    }
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), drop_unassigned(v)))
                .filter(|(_, v)| !unassigned(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(drop_unassigned).collect()),
        other => other.clone(),
    }
}

fn instant(v: &Value) -> Option<DateTime<FixedOffset>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
}

/// Compares a resource with the library's rendering of it: every member but `meta` exactly,
/// then `meta` member by member with `created` / `lastModified` compared as instants.
fn resource_diff(what: &str, expected: &Value, got: &Value, problems: &mut Vec<String>) {
    let (mut e, mut g) = (expected.clone(), got.clone());
    let em = e.as_object_mut().and_then(|o| o.shift_remove("meta"));
    let gm = g.as_object_mut().and_then(|o| o.shift_remove("meta"));
    let mut out = Vec::new();
    json_diff("$", &e, &g, &mut out);
    match (em, gm) {
        (None, None) => {}
        (Some(Value::Object(em)), Some(Value::Object(gm))) => {
            for (k, ev) in &em {
                let Some(gv) = gm.get(k) else {
                    out.push(format!("$.meta.{k}: missing (expected {})", short(ev)));
                    continue;
                };
                if k == "created" || k == "lastModified" {
                    match (instant(ev), instant(gv)) {
                        (Some(a), Some(b)) if a == b => {}
                        _ => out.push(format!("$.meta.{k}: expected the instant {ev}, got {gv}")),
                    }
                } else if ev != gv {
                    out.push(format!(
                        "$.meta.{k}: expected {}, got {}",
                        short(ev),
                        short(gv)
                    ));
                }
            }
            for k in gm.keys().filter(|k| !em.contains_key(*k)) {
                out.push(format!("$.meta.{k}: unexpected"));
            }
        }
        (em, gm) => out.push(format!("$.meta: expected {em:?}, got {gm:?}")),
    }
    problems.extend(out.into_iter().map(|d| format!("{what}: {d}")));
}

/// A member of an object, by name, case-insensitively (RFC 7643 §2.1).
fn get_ci<'a>(o: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    o.get(name).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn context_for(endpoint: &str) -> Option<Context<'static>> {
    let rt = SchemaRegistry::builtin()
        .resource_types()
        .iter()
        .find(|rt| {
            endpoint.eq_ignore_ascii_case(&rt.endpoint)
                || endpoint
                    .to_ascii_lowercase()
                    .starts_with(&format!("{}/", rt.endpoint.to_ascii_lowercase()))
        })?;
    Context::new(SchemaRegistry::builtin(), &rt.name).ok()
}

// ---------------------------------------------------------------- per kind

/// `Resource::from_json` keeps every (assigned) member, values untouched.
fn check_generic_resource(
    what: &str,
    v: &Value,
    ctx: &Context<'_>,
    problems: &mut Vec<String>,
) -> Option<Resource> {
    match Resource::from_json(v.clone(), ctx) {
        Ok(r) => {
            let mut out = Vec::new();
            json_diff("$", &drop_unassigned(v), &r.to_value(), &mut out);
            problems.extend(
                out.into_iter()
                    .map(|d| format!("{what}: Resource::from_json: {d}")),
            );
            Some(r)
        }
        Err(e) => {
            problems.push(format!(
                "{what}: Resource::from_json failed: {}",
                err_text(&e)
            ));
            None
        }
    }
}

fn check_meta(what: &str, v: &Value, problems: &mut Vec<String>) {
    if let Some(meta) = v.get("meta") {
        if let Err(e) = serde_json::from_value::<Meta>(meta.clone()) {
            problems.push(format!(
                "{what}: meta does not read as scim_core::Meta: {e}"
            ));
        }
    }
}

fn check_user(v: &Value, enterprise: bool, problems: &mut Vec<String>) {
    let expected = drop_unassigned(v);
    match User::from_json(v.clone()) {
        Ok(user) => {
            if user.user_name.as_deref() != v.get("userName").and_then(Value::as_str) {
                problems.push(format!("User::from_json: userName is {:?}", user.user_name));
            }
            if user.id.as_deref() != v.get("id").and_then(Value::as_str) {
                problems.push(format!("User::from_json: id is {:?}", user.id));
            }
            if enterprise {
                match (&user.enterprise, v.get(ENTERPRISE_USER)) {
                    (Some(ext), Some(raw)) => match serde_json::to_value(ext) {
                        Ok(ev) if ev == *raw => {}
                        Ok(ev) => {
                            problems.push(format!("User::enterprise renders as {}", short(&ev)))
                        }
                        Err(e) => {
                            problems.push(format!("User::enterprise does not serialise: {e}"))
                        }
                    },
                    (ext, raw) => problems.push(format!(
                        "enterprise extension: typed view has {}, JSON has {}",
                        ext.is_some(),
                        raw.is_some()
                    )),
                }
            }
            resource_diff("User round trip", &expected, &Value::from(user), problems);
        }
        Err(e) => problems.push(format!("User::from_json failed: {}", err_text(&e))),
    }

    let ctx = Context::user();
    let Some(res) = check_generic_resource("User", v, &ctx, problems) else {
        return;
    };
    if res.id() != v.get("id").and_then(Value::as_str) {
        problems.push(format!("Resource::id() is {:?}", res.id()));
    }
    check_meta("User", v, problems);
    if !enterprise {
        if v.get(ENTERPRISE_USER).is_some() {
            problems.push("kind \"user\" but the enterprise extension is present".into());
        }
        return;
    }
    let Some(ext) = v.get(ENTERPRISE_USER).and_then(Value::as_object) else {
        problems.push("kind \"enterpriseUser\" without an enterprise extension object".into());
        return;
    };
    let listed = v
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|u| u.as_str() == Some(ENTERPRISE_USER)));
    if !listed {
        problems.push("the enterprise URN is not in \"schemas\"".into());
    }
    match AttrPath::parse(ENTERPRISE_USER)
        .ok()
        .and_then(|p| ctx.resolve(&p))
    {
        Some(Target::Extension(s)) if s.id == ENTERPRISE_USER => {}
        _ => problems.push(format!(
            "the path {ENTERPRISE_USER} does not resolve to the extension"
        )),
    }
    // Every extension attribute (and sub-attribute) resolves under its URN-qualified path and
    // reads back the RFC's value.
    let mut paths: Vec<(String, String, Option<String>, &Value)> = Vec::new();
    for (k, val) in ext {
        paths.push((format!("{ENTERPRISE_USER}:{k}"), k.clone(), None, val));
        if let Value::Object(sub) = val {
            for (sk, sv) in sub {
                paths.push((
                    format!("{ENTERPRISE_USER}:{k}.{sk}"),
                    k.clone(),
                    Some(sk.clone()),
                    sv,
                ));
            }
        }
    }
    for (text, name, sub, val) in paths {
        let path = match AttrPath::parse(&text) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!(
                    "AttrPath::parse({text:?}) failed: {}",
                    err_text(&e)
                ));
                continue;
            }
        };
        match ctx.resolve_attr(&path) {
            Some(r) => {
                if !r.in_extension
                    || r.extension_key() != Some(ENTERPRISE_USER)
                    || r.attr.name != name
                    || r.sub.map(|s| s.name.clone()) != sub
                {
                    problems.push(format!(
                        "{text} resolves to {} (in_extension {})",
                        r.canonical_path(),
                        r.in_extension
                    ));
                }
            }
            None => problems.push(format!("{text} does not resolve")),
        }
        if res.get(&ctx, &path).as_ref() != Some(val) {
            problems.push(format!(
                "Resource::get({text}) is {:?}, expected {}",
                res.get(&ctx, &path),
                short(val)
            ));
        }
        if let Value::String(s) = val {
            let filter = format!("{text} eq {}", Value::String(s.clone()));
            match Filter::parse(&filter) {
                Ok(f) if f.matches(res.as_map(), &ctx) => {}
                Ok(_) => problems.push(format!("the filter {filter} does not match the resource")),
                Err(e) => problems.push(format!(
                    "the filter {filter} does not parse: {}",
                    err_text(&e)
                )),
            }
        }
    }
}

fn check_group(v: &Value, problems: &mut Vec<String>) {
    match Group::from_json(v.clone()) {
        Ok(group) => {
            if group.display_name.as_deref() != v.get("displayName").and_then(Value::as_str) {
                problems.push(format!(
                    "Group::from_json: displayName is {:?}",
                    group.display_name
                ));
            }
            let n = v
                .get("members")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if group.members.len() != n {
                problems.push(format!(
                    "Group::from_json: {} members, expected {n}",
                    group.members.len()
                ));
            }
            resource_diff(
                "Group round trip",
                &drop_unassigned(v),
                &Value::from(group),
                problems,
            );
        }
        Err(e) => problems.push(format!("Group::from_json failed: {}", err_text(&e))),
    }
    check_generic_resource("Group", v, &Context::group(), problems);
    check_meta("Group", v, problems);
}

const LIST_MEMBERS: &[&str] = &[
    "schemas",
    "totalResults",
    "itemsPerPage",
    "startIndex",
    "nextCursor",
    "previousCursor",
    "Resources",
];

fn check_list_response(v: &Value, problems: &mut Vec<String>) {
    let Some(obj) = v.as_object() else {
        problems.push("a ListResponse must be an object".into());
        return;
    };
    // The RFC's members under their canonical names (names are case-insensitive).
    let canonical: Map<String, Value> = obj
        .iter()
        .map(|(k, val)| {
            let name = LIST_MEMBERS
                .iter()
                .find(|n| n.eq_ignore_ascii_case(k))
                .map_or(k.as_str(), |n| *n);
            (name.to_string(), val.clone())
        })
        .collect();
    let number = |name: &str| canonical.get(name).and_then(Value::as_u64);
    let lr: ListResponse<Value> = match serde_json::from_value(v.clone()) {
        Ok(lr) => lr,
        Err(e) => {
            problems.push(format!("ListResponse<Value> does not deserialise: {e}"));
            return;
        }
    };
    if Some(lr.total_results) != number("totalResults") {
        problems.push(format!(
            "totalResults read as {}, the RFC says {:?} (member {:?})",
            lr.total_results,
            number("totalResults"),
            obj.keys().find(|k| k.eq_ignore_ascii_case("totalResults"))
        ));
    }
    if lr.items_per_page != number("itemsPerPage") {
        problems.push(format!("itemsPerPage read as {:?}", lr.items_per_page));
    }
    if lr.start_index != number("startIndex") {
        problems.push(format!("startIndex read as {:?}", lr.start_index));
    }
    let resources = canonical
        .get("Resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if lr.resources != resources {
        problems.push(format!(
            "Resources read as {} values, expected {}",
            lr.resources.len(),
            resources.len()
        ));
    }
    match serde_json::to_value(&lr) {
        Ok(out) => {
            for name in ["totalResults", "itemsPerPage", "startIndex"] {
                if let Some(n) = out.get(name) {
                    if !n.is_u64() {
                        problems.push(format!("serialised {name} is not a number: {n}"));
                    }
                }
            }
            if out.get("resources").is_some() || !out.get("Resources").is_some_and(Value::is_array)
            {
                problems.push("serialised resources are not under \"Resources\"".into());
            }
            let mut diff = Vec::new();
            json_diff("$", &Value::Object(canonical.clone()), &out, &mut diff);
            problems.extend(
                diff.into_iter()
                    .map(|d| format!("ListResponse re-serialised: {d}")),
            );
        }
        Err(e) => problems.push(format!("ListResponse does not serialise: {e}")),
    }
    // The listed resources themselves.
    for (i, r) in resources.iter().enumerate() {
        let schemas: Vec<&str> = r
            .get("schemas")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let what = format!("Resources[{i}]");
        if schemas.contains(&RESOURCE_TYPE) {
            check_resource_type(r, problems);
        } else if schemas.contains(&scim_core::schema::GROUP) {
            check_generic_resource(&what, r, &Context::group(), problems);
            check_meta(&what, r, problems);
        } else if !r.as_object().is_some_and(Map::is_empty) {
            // No `schemas` (§3.4.2, §3.4.3): the members are User attributes.
            check_generic_resource(&what, r, &Context::user(), problems);
        }
    }
}

fn check_search_request(v: &Value, problems: &mut Vec<String>) {
    let sr = match SearchRequest::from_json(v.clone()) {
        Ok(sr) => sr,
        Err(e) => {
            problems.push(format!("SearchRequest::from_json failed: {}", err_text(&e)));
            return;
        }
    };
    let strings = |name: &str| -> Vec<String> {
        v.get(name)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    if sr.attributes != strings("attributes") {
        problems.push(format!("attributes read as {:?}", sr.attributes));
    }
    if sr.filter.as_deref() != v.get("filter").and_then(Value::as_str) {
        problems.push(format!("filter read as {:?}", sr.filter));
    }
    if let Some(f) = &sr.filter {
        match Filter::parse(f) {
            Ok(f) => {
                if let Err(e) = f.check(&Context::user()) {
                    problems.push(format!("the filter fails Filter::check: {}", err_text(&e)));
                }
            }
            Err(e) => problems.push(format!("the filter does not parse: {}", err_text(&e))),
        }
    }
    if sr.start_index != v.get("startIndex").and_then(Value::as_i64)
        || sr.count != v.get("count").and_then(Value::as_i64)
    {
        problems.push(format!(
            "startIndex/count read as {:?}/{:?}",
            sr.start_index, sr.count
        ));
    }
    match serde_json::to_value(&sr) {
        Ok(out) => {
            let mut diff = Vec::new();
            json_diff("$", v, &out, &mut diff);
            problems.extend(
                diff.into_iter()
                    .map(|d| format!("SearchRequest re-serialised: {d}")),
            );
        }
        Err(e) => problems.push(format!("SearchRequest does not serialise: {e}")),
    }
}

/// Reads a PatchOp under both policies. `strict_ok` says whether `Compat::strict()` must accept it.
fn check_patch_op(what: &str, v: &Value, strict_ok: bool, problems: &mut Vec<String>) {
    let default = match PatchOp::from_json(v, &Compat::default()) {
        Ok(p) => p,
        Err(e) => {
            problems.push(format!(
                "{what}: PatchOp::from_json(Compat::default()) failed: {}",
                err_text(&e)
            ));
            return;
        }
    };
    match (PatchOp::from_json(v, &Compat::strict()), strict_ok) {
        (Ok(strict), true) => {
            if strict != default {
                problems.push(format!(
                    "{what}: Compat::strict() reads the PatchOp differently"
                ));
            }
        }
        (Err(e), true) => problems.push(format!(
            "{what}: PatchOp::from_json(Compat::strict()) failed: {}",
            err_text(&e)
        )),
        (Ok(_), false) => problems.push(format!(
            "{what}: Compat::strict() accepts a PatchOp without \"schemas\""
        )),
        (Err(_), false) => {}
    }
    let ops = v
        .get("Operations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if default.operations.len() != ops.len() {
        problems.push(format!(
            "{what}: {} operations read, expected {}",
            default.operations.len(),
            ops.len()
        ));
    }
    for (i, (op, raw)) in default.operations.iter().zip(&ops).enumerate() {
        if Some(op.op.as_str()) != raw.get("op").and_then(Value::as_str)
            || op.path.as_deref() != raw.get("path").and_then(Value::as_str)
            || op.value.as_ref() != raw.get("value")
        {
            problems.push(format!("{what}: Operations[{i}] read as {op:?}"));
        }
        if let Some(p) = &op.path {
            if let Err(e) = PatchPath::parse(p) {
                problems.push(format!(
                    "{what}: Operations[{i}].path {p:?} does not parse: {}",
                    err_text(&e)
                ));
            }
        }
    }
    if strict_ok {
        match serde_json::to_value(&default) {
            Ok(out) => {
                let mut diff = Vec::new();
                json_diff("$", v, &out, &mut diff);
                problems.extend(
                    diff.into_iter()
                        .map(|d| format!("{what}: PatchOp re-serialised: {d}")),
                );
            }
            Err(e) => problems.push(format!("{what}: PatchOp does not serialise: {e}")),
        }
    }
}

fn check_bulk_request(v: &Value, problems: &mut Vec<String>) {
    let br: BulkRequest = match serde_json::from_value(v.clone()) {
        Ok(br) => br,
        Err(e) => {
            problems.push(format!("BulkRequest does not deserialise: {e}"));
            return;
        }
    };
    match serde_json::to_value(&br) {
        Ok(out) => {
            let mut diff = Vec::new();
            json_diff("$", v, &out, &mut diff);
            problems.extend(
                diff.into_iter()
                    .map(|d| format!("BulkRequest re-serialised: {d}")),
            );
        }
        Err(e) => problems.push(format!("BulkRequest does not serialise: {e}")),
    }
    for (i, op) in br.operations.iter().enumerate() {
        let what = format!("Operations[{i}] ({} {})", op.method, op.path);
        match (op.method.as_str(), &op.data) {
            ("PATCH", Some(data)) => {
                // §3.7.3 prints the PATCH data without "schemas": only the tolerant policy reads it.
                let has_schemas = data.get("schemas").is_some();
                check_patch_op(&what, data, has_schemas, problems);
            }
            ("POST" | "PUT", Some(data)) => match context_for(&op.path) {
                Some(ctx) => {
                    check_generic_resource(&what, data, &ctx, problems);
                }
                None => problems.push(format!("{what}: no resource type serves this path")),
            },
            ("DELETE", None) => {}
            (m, d) => problems.push(format!("{what}: unexpected method {m:?} with data {d:?}")),
        }
    }
}

/// The RFC's `status` as the string the library writes: `"201"`, `201` and `{"code": "201"}`
/// all denote the same status.
fn status_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => o.get("code").and_then(status_string),
        _ => None,
    }
}

fn check_bulk_response(v: &Value, problems: &mut Vec<String>) {
    // The body as the library writes it: every status a string.
    let mut expected = v.clone();
    if let Some(ops) = expected.get_mut("Operations").and_then(Value::as_array_mut) {
        for op in ops {
            if let Some(status) = op.get_mut("status") {
                if let Some(s) = status_string(status) {
                    *status = Value::String(s);
                }
            }
        }
    }
    let br: BulkResponse = match serde_json::from_value(v.clone()) {
        Ok(br) => br,
        Err(e) => {
            problems.push(format!("BulkResponse does not deserialise: {e}"));
            // Check the rest of the body with the statuses written as strings.
            match serde_json::from_value(expected.clone()) {
                Ok(br) => br,
                Err(e) => {
                    problems.push(format!(
                        "BulkResponse with string statuses does not deserialise either: {e}"
                    ));
                    return;
                }
            }
        }
    };
    match serde_json::to_value(&br) {
        Ok(out) => {
            let mut diff = Vec::new();
            json_diff("$", &expected, &out, &mut diff);
            problems.extend(
                diff.into_iter()
                    .map(|d| format!("BulkResponse re-serialised: {d}")),
            );
        }
        Err(e) => problems.push(format!("BulkResponse does not serialise: {e}")),
    }
    for (i, op) in br.operations.iter().enumerate() {
        if let Some(body) = &op.response {
            match serde_json::from_value::<ScimError>(body.clone()) {
                Ok(e) if e.status == op.status => {}
                Ok(e) => problems.push(format!(
                    "Operations[{i}]: response status {} but status {}",
                    e.status, op.status
                )),
                Err(e) => {
                    problems.push(format!("Operations[{i}].response is not a ScimError: {e}"))
                }
            }
        }
    }
}

fn check_error(v: &Value, problems: &mut Vec<String>) {
    let e: ScimError = match serde_json::from_value(v.clone()) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("ScimError does not deserialise: {e}"));
            return;
        }
    };
    if Some(e.status.to_string()) != v.get("status").and_then(status_string) {
        problems.push(format!("status read as {}", e.status));
    }
    match serde_json::to_value(&e) {
        Ok(out) => {
            if !out.get("status").is_some_and(Value::is_string) {
                problems.push(format!(
                    "serialised status is not a string: {}",
                    short(&out)
                ));
            }
            let mut diff = Vec::new();
            json_diff("$", v, &out, &mut diff);
            problems.extend(
                diff.into_iter()
                    .map(|d| format!("ScimError re-serialised: {d}")),
            );
        }
        Err(e) => problems.push(format!("ScimError does not serialise: {e}")),
    }
}

/// Every member but `schemas` / `meta` is an attribute of `schema_uri` in the built-in registry.
fn check_members_in_schema(
    what: &str,
    v: &Value,
    schema_uri: &str,
    exempt: &[(&str, &str)],
    problems: &mut Vec<String>,
) {
    let Some(schema) = SchemaRegistry::builtin().schema(schema_uri) else {
        problems.push(format!(
            "{what}: the built-in registry has no schema {schema_uri}"
        ));
        return;
    };
    for k in v.as_object().into_iter().flat_map(Map::keys) {
        let known = k == "schemas" || k == "meta" || schema.attribute(k).is_some();
        if !known && !exempt.iter().any(|(n, _)| n == k) {
            problems.push(format!(
                "{what}: member {k:?} is not an attribute of {schema_uri}"
            ));
        }
    }
}

fn check_service_provider_config(v: &Value, problems: &mut Vec<String>) {
    let Some(obj) = v.as_object() else {
        problems.push("a ServiceProviderConfig must be an object".into());
        return;
    };
    let listed = get_ci(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|u| u.as_str() == Some(SERVICE_PROVIDER_CONFIG))
        });
    if !listed {
        problems.push("the ServiceProviderConfig URN is not in \"schemas\"".into());
    }
    check_members_in_schema(
        "ServiceProviderConfig",
        v,
        SERVICE_PROVIDER_CONFIG,
        SPC_MEMBERS_OUTSIDE_SCHEMA,
        problems,
    );
    check_meta("ServiceProviderConfig", v, problems);
}

fn check_resource_type(v: &Value, problems: &mut Vec<String>) {
    let what = format!(
        "ResourceType {}",
        v.get("name").map_or_else(|| "?".into(), short)
    );
    let rt: ResourceType = match serde_json::from_value(v.clone()) {
        Ok(rt) => rt,
        Err(e) => {
            problems.push(format!("{what}: ResourceType does not deserialise: {e}"));
            return;
        }
    };
    check_members_in_schema(&what, v, RESOURCE_TYPE, &[], problems);
    check_meta(&what, v, problems);
    // The RFC's representation is what `to_resource_json` writes for the same resource type.
    let location = v
        .get("meta")
        .and_then(|m| m.get("location"))
        .and_then(Value::as_str);
    let mut diff = Vec::new();
    json_diff("$", v, &rt.to_resource_json(location), &mut diff);
    problems.extend(
        diff.into_iter()
            .map(|d| format!("{what}: to_resource_json: {d}")),
    );
    // The built-in registry serves the same resource type (extensions may differ in `required`).
    match SchemaRegistry::builtin().resource_type(&rt.name) {
        Some(b) => {
            let exts = |r: &ResourceType| {
                r.schema_extensions
                    .iter()
                    .map(|e| e.schema.clone())
                    .collect::<Vec<_>>()
            };
            if b.endpoint != rt.endpoint
                || b.schema != rt.schema
                || b.description != rt.description
                || exts(b) != exts(&rt)
            {
                problems.push(format!("{what}: the built-in resource type differs: {b:?}"));
            }
        }
        None => problems.push(format!("{what}: not a built-in resource type")),
    }
}

/// Checks one corpus document; returns every problem found.
fn check_entry(kind: &str, v: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    match kind {
        "user" => check_user(v, false, &mut problems),
        "enterpriseUser" => check_user(v, true, &mut problems),
        "group" => check_group(v, &mut problems),
        "listResponse" => check_list_response(v, &mut problems),
        "searchRequest" => check_search_request(v, &mut problems),
        "patchOp" => check_patch_op("PatchOp", v, true, &mut problems),
        "bulkRequest" => check_bulk_request(v, &mut problems),
        "bulkResponse" => check_bulk_response(v, &mut problems),
        "error" => check_error(v, &mut problems),
        "serviceProviderConfig" => check_service_provider_config(v, &mut problems),
        // §8.6 prints the list of resource types as a JSON array.
        "resourceType" => match v {
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .for_each(|i| check_resource_type(i, &mut problems)),
            Value::Object(_) => check_resource_type(v, &mut problems),
            other => problems.push(format!(
                "expected resource type object(s), got {}",
                short(other)
            )),
        },
        "schema" => match Schema::from_json(v) {
            Ok(_) => {}
            Err(e) => problems.push(format!("Schema::from_json failed: {}", err_text(&e))),
        },
        "other" => {
            if !v.is_object() && !v.is_array() {
                problems.push(format!("expected a JSON object or array, got {}", short(v)));
            }
        }
        _ => problems.push(format!("unknown kind {kind:?}")),
    }
    problems
}

// ---------------------------------------------------------------- tests

#[test]
fn manifest_lists_every_resource_file() {
    let entries = manifest();
    let mut listed = BTreeSet::new();
    for e in &entries {
        let file = e
            .get("file")
            .and_then(Value::as_str)
            .expect("every entry has a file");
        assert!(listed.insert(file.to_string()), "{file} is listed twice");
        for key in ["rfc", "section", "kind"] {
            assert!(
                e.get(key).and_then(Value::as_str).is_some(),
                "{file}: no {key:?}"
            );
        }
        let kind = e["kind"].as_str().unwrap_or_default();
        assert!(KINDS.contains(&kind), "{file}: unknown kind {kind:?}");
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(Path::new(FIXTURES).join("resources"))
        .expect("resources/ exists")
        .map(|d| {
            format!(
                "resources/{}",
                d.expect("readable entry").file_name().to_string_lossy()
            )
        })
        .filter(|f| f.ends_with(".json"))
        .collect();
    assert_eq!(listed, on_disk, "manifest.json and resources/ disagree");
    for (file, _, _) in CORPUS_KNOWN_DIFFERENCES {
        assert!(
            listed.contains(*file),
            "CORPUS_KNOWN_DIFFERENCES names {file}, which is not in manifest.json"
        );
    }
}

#[test]
fn rfc_corpus_examples() {
    let mut per_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut known = 0;
    for e in manifest() {
        let file = e["file"].as_str().unwrap_or_default();
        let kind = e["kind"].as_str().unwrap_or_default();
        let section = e["section"].as_str().unwrap_or_default();
        *per_kind.entry(kind.to_string()).or_default() += 1;
        let problems = match load(file) {
            Ok(v) => check_entry(kind, &v),
            Err(msg) => vec![msg],
        };
        let mut other = problems;
        if let Some((_, marker, why)) = CORPUS_KNOWN_DIFFERENCES.iter().find(|(f, _, _)| *f == file)
        {
            let tolerated: Vec<String>;
            (tolerated, other) = other.into_iter().partition(|p| p.contains(marker));
            if tolerated.is_empty() {
                failures.push(format!(
                    "[{file}] no longer shows the known difference {marker:?}: remove it from \
                     CORPUS_KNOWN_DIFFERENCES ({why})"
                ));
            } else {
                known += 1;
                println!("known difference in {file}: {}", tolerated.join("; "));
            }
        }
        if !other.is_empty() {
            failures.push(format!(
                "[{file}] ({kind}, §{section})\n  {}",
                other.join("\n  ")
            ));
        }
    }
    println!("corpus files checked per kind: {per_kind:?} ({known} with a known difference)");
    if !failures.is_empty() {
        panic!(
            "{} corpus file(s) with problems:\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}

/// Collects the attribute paths a filter names, with value-filter terms as `attr.sub`.
fn filter_paths(f: &Filter) -> Vec<AttrPath> {
    let mut out = Vec::new();
    f.visit_terms(&mut |parent, term| {
        let path = match term {
            Filter::Compare { path, .. } | Filter::Present(path) => path,
            _ => return,
        };
        out.push(match parent {
            Some(p) => p.clone().with_sub(path.name.clone()),
            None => path.clone(),
        });
    });
    out
}

#[test]
fn rfc_filters_parse_display_and_check() {
    let filters: Vec<String> =
        serde_json::from_str(FILTERS).expect("filters.json is a JSON array of strings");
    assert_eq!(
        filters.len(),
        17,
        "RFC 7644 §3.4.2.2 Figure 2 has 17 example filters"
    );
    let ctx = Context::user();
    let mut failures = Vec::new();
    for text in &filters {
        let f = match Filter::parse(text) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{text}: does not parse: {}", err_text(&e)));
                continue;
            }
        };
        let shown = f.to_string();
        match Filter::parse(&shown) {
            Ok(again) if again == f => {
                if again.to_string() != shown {
                    failures.push(format!(
                        "{text}: Display is not stable: {shown} then {again}"
                    ));
                }
            }
            Ok(again) => failures.push(format!(
                "{text}: Display {shown} re-parses to a different AST: {again:?}"
            )),
            Err(e) => failures.push(format!(
                "{text}: Display {shown} does not parse: {}",
                err_text(&e)
            )),
        }
        let paths = filter_paths(&f);
        // `schemas` (RFC 7643 §3) is not an attribute of the User schema; Figure 2 filters on it.
        let outside: Vec<String> = paths
            .iter()
            .filter(|p| ctx.resolve_attr(p).is_none())
            .map(ToString::to_string)
            .collect();
        match f.check(&ctx) {
            Ok(()) => {}
            Err(e) if outside.is_empty() => failures.push(format!(
                "{text}: uses only User attributes but fails Filter::check: {}",
                err_text(&e)
            )),
            Err(e) => println!(
                "{text}: names {outside:?} (not User attributes); Filter::check: {}",
                err_text(&e)
            ),
        }
        if !outside.is_empty() && outside.iter().any(|p| p != "schemas") {
            failures.push(format!(
                "{text}: names attributes the User resource type does not define: {outside:?}"
            ));
        }
    }
    if !failures.is_empty() {
        panic!(
            "{} filter problem(s):\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

#[test]
fn builtin_schemas_round_trip() {
    let mut failures = Vec::new();
    let mut n = 0;
    for schema in SchemaRegistry::builtin().schemas() {
        n += 1;
        let v = serde_json::to_value(schema).expect("a schema serialises");
        match Schema::from_json(&v) {
            Ok(back) if back == *schema => {}
            Ok(back) => {
                let mut diff = Vec::new();
                json_diff(
                    "$",
                    &v,
                    &serde_json::to_value(&back).unwrap_or_default(),
                    &mut diff,
                );
                failures.push(format!("{}: reads back different: {diff:?}", schema.id));
            }
            Err(e) => failures.push(format!(
                "{}: Schema::from_json failed: {}",
                schema.id,
                err_text(&e)
            )),
        }
        // The /Schemas representation (with `schemas` and `meta`) reads back too.
        let served = schema.to_resource_json(Some("https://example.com/v2/Schemas/x"));
        match Schema::from_json(&served) {
            Ok(back) if back == *schema => {}
            Ok(_) => failures.push(format!(
                "{}: the /Schemas representation reads back different",
                schema.id
            )),
            Err(e) => failures.push(format!(
                "{}: /Schemas representation: {}",
                schema.id,
                err_text(&e)
            )),
        }
    }
    assert_eq!(n, 6, "RFC 7643 §8.7 defines six schemas");
    if !failures.is_empty() {
        panic!("{}", failures.join("\n"));
    }
}
