//! Replay tests: what identity providers really send (see `idp-wire-behaviour.md`), scripted as
//! JSON fixtures in `tests/fixtures/replay/` and replayed over real HTTP against a real server,
//! on SQLite and PostgreSQL.
//!
//! # Fixture format
//!
//! One file per provider and case, named `<provider>-<case>.json`:
//!
//! ```json
//! {"provider": "okta", "case": "group-push", "description": "…",
//!  "settings": {"group_patch_no_content": false},
//!  "headers": {"Accept": "application/scim+json"},
//!  "steps": [{"name": "…", "method": "PATCH", "path": "/Groups/{{gid}}",
//!             "headers": {"Content-Type": "application/scim+json; charset=utf-8"},
//!             "body": {…},
//!             "expect": {"status": 200, "body": {…}, "absent": ["/members"],
//!                        "save": {"gid": "/id"}, "headers": {"content-type": "application/scim+json"},
//!                        "max_ms": 600},
//!             "state": {"path": "/Groups/{{gid}}", "expect": {…}}}]}
//! ```
//!
//! - Every file runs in a fresh tenant on its own server; `settings` configures that server.
//!   File-level `headers` are sent with every step; a step's `headers` override them. A step
//!   with a body and no `Content-Type` sends `application/scim+json`.
//! - `path` is relative to the SCIM base and sent as written (query strings exactly as the
//!   IdP encodes them).
//! - `{{var}}` in paths, header values, bodies and expectations is replaced by a variable:
//!   `{{run}}` is a random string per run; others are saved by `expect.save` (a JSON pointer
//!   into the response body).
//! - `expect.body` is a pattern the response must match: objects match by subset (the
//!   response may have more keys), arrays element-wise with the same length, scalars by
//!   equality (numbers must be JSON numbers). Objects with one `$` key are operators:
//!   `{"$unordered": [...]}` (same length, any order), `{"$includes": [...]}` (each pattern
//!   matches a distinct element, others allowed), `{"$type": "string"}` (JSON type),
//!   `{"$ne": value}` (present and different).
//! - `expect.absent` lists JSON pointers that must not exist; `expect.headers` lists headers
//!   whose value must start with the given text (case-insensitive); `expect.max_ms` bounds the
//!   response time.
//! - `state` (one check or a list) issues a `GET` after the step and matches it like `expect`.
//!
//! Every response is also checked: a body is `application/scim+json`; a `204` has no body; an
//! error (4xx/5xx) is a SCIM error whose `status` is the status code as a string;
//! `totalResults`, `startIndex` and `itemsPerPage` are JSON numbers; `password` never appears.
//!
//! `SCIM_REPLAY_ONLY=<substring>` runs only the fixture files whose name contains it;
//! `SCIM_REPLAY_TRACE=1` prints every request and response, not only those of failing steps.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::backends;
use crate::support::{Backend, Options, TestServer};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/replay");
const SCIM_JSON: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    provider: String,
    case: String,
    description: String,
    #[serde(default)]
    settings: FixtureSettings,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    steps: Vec<Step>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureSettings {
    #[serde(default)]
    group_patch_no_content: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    name: String,
    method: String,
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<Value>,
    expect: Expect,
    #[serde(default)]
    state: OneOrMany<StateCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    status: u16,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    save: BTreeMap<String, String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    max_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateCheck {
    path: String,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(t) => std::slice::from_ref(t),
            OneOrMany::Many(v) => v,
        }
    }
}

/// Loads every `*.json` fixture, sorted by file name.
fn load_fixtures() -> Vec<(String, Fixture)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(FIXTURES).expect("fixture folder") {
        let path = entry.expect("fixture entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let fx: Fixture =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: not a fixture: {e}"));
        out.push((file, fx));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no fixtures in {FIXTURES}");
    out
}

// ----- variables -----

fn substitute_str(s: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed {{{{ in {s:?}"))?;
        let name = after[..end].trim();
        let v = vars.get(name).ok_or_else(|| {
            format!("unknown variable {{{{{name}}}}} (not saved by an earlier step)")
        })?;
        out.push_str(v);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn substitute(v: &Value, vars: &HashMap<String, String>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(substitute_str(s, vars)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut m = serde_json::Map::new();
            for (k, x) in o {
                m.insert(substitute_str(k, vars)?, substitute(x, vars)?);
            }
            Value::Object(m)
        }
        other => other.clone(),
    })
}

// ----- matching -----

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// An operator pattern: an object with exactly one key starting with `$`.
fn operator(expected: &Value) -> Option<(&str, &Value)> {
    let o = expected.as_object()?;
    if o.len() != 1 {
        return None;
    }
    let (k, v) = o.iter().next()?;
    k.starts_with('$').then_some((k.as_str(), v))
}

/// True when `actual` matches the pattern `expected` (see the module documentation).
fn matches(expected: &Value, actual: &Value) -> bool {
    let mut errs = Vec::new();
    match_into(expected, actual, "", &mut errs);
    errs.is_empty()
}

/// Finds an assignment of patterns to distinct elements (backtracking; lists are small).
fn assign(patterns: &[Value], actual: &[Value], used: &mut Vec<bool>) -> bool {
    let Some((first, rest)) = patterns.split_first() else {
        return true;
    };
    for (i, a) in actual.iter().enumerate() {
        if !used[i] && matches(first, a) {
            used[i] = true;
            if assign(rest, actual, used) {
                return true;
            }
            used[i] = false;
        }
    }
    false
}

fn match_into(expected: &Value, actual: &Value, at: &str, errs: &mut Vec<String>) {
    let here = if at.is_empty() { "/" } else { at };
    if let Some((op, arg)) = operator(expected) {
        match op {
            "$type" => {
                if arg.as_str() != Some(type_name(actual)) {
                    errs.push(format!(
                        "{here}: expected a JSON {arg}, got {}",
                        type_name(actual)
                    ));
                }
            }
            "$ne" => {
                if actual == arg {
                    errs.push(format!("{here}: expected a value other than {arg}"));
                }
            }
            "$unordered" | "$includes" => {
                let (Some(pats), Some(items)) = (arg.as_array(), actual.as_array()) else {
                    errs.push(format!(
                        "{here}: expected an array for {op}, got {}",
                        type_name(actual)
                    ));
                    return;
                };
                if op == "$unordered" && pats.len() != items.len() {
                    errs.push(format!(
                        "{here}: expected {} elements in any order, got {}",
                        pats.len(),
                        items.len()
                    ));
                    return;
                }
                if !assign(pats, items, &mut vec![false; items.len()]) {
                    errs.push(format!(
                        "{here}: the elements do not match {op} {}",
                        Value::Array(pats.clone())
                    ));
                }
            }
            other => errs.push(format!("{here}: unknown operator {other} in the fixture")),
        }
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{at}/{k}");
                match a.get(k) {
                    Some(av) => match_into(ev, av, &p, errs),
                    None => errs.push(format!("{p}: missing (expected {ev})")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                errs.push(format!(
                    "{here}: expected {} elements, got {}",
                    e.len(),
                    a.len()
                ));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                match_into(ev, av, &format!("{at}/{i}"), errs);
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            if e.as_f64() != a.as_f64() {
                errs.push(format!("{here}: expected {e}, got {a}"));
            }
        }
        (e, a) => {
            if e != a {
                errs.push(format!("{here}: expected {e}, got {a}"));
            }
        }
    }
}

// ----- running -----

/// What one request returned.
struct Answer {
    status: u16,
    content_type: Option<String>,
    headers: reqwest::header::HeaderMap,
    raw: String,
    body: Value,
    elapsed: Duration,
}

async fn send(
    srv: &TestServer,
    method: &str,
    path: &str,
    headers: &BTreeMap<String, String>,
    body: Option<&Value>,
) -> Result<Answer, String> {
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| format!("method: {e}"))?;
    let mut rb = srv
        .client
        .request(method, srv.url(path))
        .bearer_auth(&srv.token);
    for (k, v) in headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    if let Some(b) = body {
        if !headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            rb = rb.header("content-type", SCIM_JSON);
        }
        rb = rb.body(b.to_string());
    }
    let started = Instant::now();
    let r = rb
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = r.status().as_u16();
    let resp_headers = r.headers().clone();
    let content_type = resp_headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let raw = r
        .text()
        .await
        .map_err(|e| format!("reading the body: {e}"))?;
    let elapsed = started.elapsed();
    let body = if raw.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&raw).unwrap_or(Value::Null)
    };
    Ok(Answer {
        status,
        content_type,
        headers: resp_headers,
        raw,
        body,
        elapsed,
    })
}

/// Checks that hold for every response.
fn check_always(a: &Answer, errs: &mut Vec<String>) {
    if !a.raw.is_empty() {
        let ct = a.content_type.as_deref().unwrap_or("");
        if !ct.to_ascii_lowercase().starts_with(SCIM_JSON) {
            errs.push(format!(
                "Content-Type is {ct:?}, expected {SCIM_JSON} on every response with a body"
            ));
        }
        if a.body.is_null() {
            errs.push("the body is not JSON".into());
        }
    }
    if a.status == 204 && !a.raw.is_empty() {
        errs.push("204 with a body".into());
    }
    if a.status >= 400 {
        let is_error = a.body["schemas"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x == ERROR_SCHEMA));
        if !is_error {
            errs.push(format!("error response without the {ERROR_SCHEMA} schema"));
        }
        if a.body["status"] != Value::String(a.status.to_string()) {
            errs.push(format!(
                "error \"status\" is {}, expected the string \"{}\"",
                a.body["status"], a.status
            ));
        }
    }
    for k in ["totalResults", "startIndex", "itemsPerPage"] {
        if let Some(v) = a.body.get(k) {
            if !v.is_number() {
                errs.push(format!("{k} is {v}, not a JSON number"));
            }
        }
    }
    if a.raw.contains("\"password\"") {
        errs.push("the response contains a password".into());
    }
}

/// Checks one answer against an expectation; saves variables.
fn check_expect(
    a: &Answer,
    exp: &Expect,
    vars: &mut HashMap<String, String>,
    errs: &mut Vec<String>,
) {
    if a.status != exp.status {
        errs.push(format!("status {}, expected {}", a.status, exp.status));
    }
    if let Some(ms) = exp.max_ms {
        if a.elapsed > Duration::from_millis(ms) {
            errs.push(format!(
                "answered in {} ms, expected at most {ms} ms",
                a.elapsed.as_millis()
            ));
        }
    }
    for (k, want) in &exp.headers {
        match substitute_str(want, vars) {
            Ok(want) => {
                let got = a.headers.get(k.as_str()).and_then(|v| v.to_str().ok());
                if !got.is_some_and(|g| {
                    g.to_ascii_lowercase()
                        .starts_with(&want.to_ascii_lowercase())
                }) {
                    errs.push(format!("header {k} is {got:?}, expected {want:?}…"));
                }
            }
            Err(e) => errs.push(e),
        }
    }
    if let Some(pattern) = &exp.body {
        match substitute(pattern, vars) {
            Ok(p) => match_into(&p, &a.body, "", errs),
            Err(e) => errs.push(e),
        }
    }
    for ptr in &exp.absent {
        match substitute_str(ptr, vars) {
            Ok(ptr) => {
                if let Some(v) = a.body.pointer(&ptr) {
                    errs.push(format!("{ptr} must be absent, is {v}"));
                }
            }
            Err(e) => errs.push(e),
        }
    }
    for (var, ptr) in &exp.save {
        match a.body.pointer(ptr) {
            Some(Value::String(s)) => {
                vars.insert(var.clone(), s.clone());
            }
            Some(Value::Number(n)) => {
                vars.insert(var.clone(), n.to_string());
            }
            other => errs.push(format!(
                "cannot save {{{{{var}}}}}: {ptr} is {}",
                other.map_or("missing".to_string(), Value::to_string)
            )),
        }
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 1500;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

/// Runs one fixture; returns the failures (`step: message`) and the trace.
async fn run_fixture(srv: &TestServer, fx: &Fixture, verbose: bool) -> (Vec<String>, String) {
    let mut vars = HashMap::new();
    vars.insert(
        "run".to_string(),
        uuid::Uuid::new_v4().simple().to_string()[..10].to_string(),
    );
    let mut failures = Vec::new();
    let mut trace = String::new();
    for (i, step) in fx.steps.iter().enumerate() {
        let n = i + 1;
        let mut errs = Vec::new();
        let prepared = (|| -> Result<_, String> {
            let path = substitute_str(&step.path, &vars)?;
            let mut headers = BTreeMap::new();
            for (k, v) in fx.headers.iter().chain(&step.headers) {
                headers.retain(|h: &String, _| !h.eq_ignore_ascii_case(k));
                headers.insert(k.clone(), substitute_str(v, &vars)?);
            }
            if step.body.is_none() {
                headers.retain(|h, _| !h.eq_ignore_ascii_case("content-type"));
            }
            let body = step
                .body
                .as_ref()
                .map(|b| substitute(b, &vars))
                .transpose()?;
            Ok((path, headers, body))
        })();
        let (path, headers, body) = match prepared {
            Ok(p) => p,
            Err(e) => {
                let _ = writeln!(trace, "#{n} {} {} — NOT SENT: {e}", step.method, step.path);
                failures.push(format!("step #{n} \"{}\": {e}", step.name));
                continue;
            }
        };
        let _ = write!(trace, "#{n} {} {}", step.method, path);
        match send(srv, &step.method, &path, &headers, body.as_ref()).await {
            Err(e) => errs.push(e),
            Ok(a) => {
                let _ = writeln!(trace, " → {} ({} ms)", a.status, a.elapsed.as_millis());
                check_always(&a, &mut errs);
                check_expect(&a, &step.expect, &mut vars, &mut errs);
                if verbose || !errs.is_empty() {
                    if let Some(b) = &body {
                        let _ = writeln!(trace, "    request:  {}", shorten(&b.to_string()));
                    }
                    let _ = writeln!(trace, "    response: {}", shorten(&a.raw));
                }
            }
        }
        for check in step.state.as_slice() {
            let mut serrs = Vec::new();
            let spath = match substitute_str(&check.path, &vars) {
                Ok(p) => p,
                Err(e) => {
                    errs.push(format!("state: {e}"));
                    continue;
                }
            };
            let state_headers: BTreeMap<String, String> = fx
                .headers
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
                .map(|(k, v)| {
                    (
                        k.clone(),
                        substitute_str(v, &vars).unwrap_or_else(|_| v.clone()),
                    )
                })
                .collect();
            match send(srv, "GET", &spath, &state_headers, None).await {
                Err(e) => serrs.push(e),
                Ok(a) => {
                    let _ = writeln!(
                        trace,
                        "    state GET {spath} → {} ({} ms)",
                        a.status,
                        a.elapsed.as_millis()
                    );
                    check_always(&a, &mut serrs);
                    check_expect(&a, &check.expect, &mut vars, &mut serrs);
                    if verbose || !serrs.is_empty() {
                        let _ = writeln!(trace, "    state response: {}", shorten(&a.raw));
                    }
                }
            }
            errs.extend(serrs.into_iter().map(|e| format!("state GET {spath}: {e}")));
        }
        for e in &errs {
            let _ = writeln!(trace, "    FAIL: {e}");
        }
        if !errs.is_empty() {
            failures.push(format!(
                "step #{n} \"{}\" ({} {}): {}",
                step.name,
                step.method,
                path,
                errs.join("; ")
            ));
        }
    }
    (failures, trace)
}

/// Runs every fixture file, each in a fresh tenant on its own server, and fails with all
/// failures (file and step) at the end.
async fn replay_all(backend: Backend) {
    let only = std::env::var("SCIM_REPLAY_ONLY").unwrap_or_default();
    let verbose = std::env::var_os("SCIM_REPLAY_TRACE").is_some();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (file, fx) in load_fixtures() {
        if !file.contains(only.as_str()) {
            continue;
        }
        let mut opts = Options::default();
        opts.settings.group_patch_no_content = fx.settings.group_patch_no_content;
        let Some(srv) = TestServer::start_with(backend, opts).await else {
            return;
        };
        let (fails, trace) = run_fixture(&srv, &fx, verbose).await;
        ran += 1;
        if verbose || !fails.is_empty() {
            eprintln!(
                "==== {backend:?} {file} ({} / {}): {}\n{trace}",
                fx.provider, fx.case, fx.description
            );
            failures.extend(fails.into_iter().map(|f| format!("{file}: {f}")));
        }
    }
    assert!(ran > 0, "SCIM_REPLAY_ONLY={only:?} selects no fixture");
    assert!(
        failures.is_empty(),
        "{} replay step(s) failed on {backend:?}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

backends!(replay_fixtures, |s| {
    let backend = s.backend;
    drop(s);
    replay_all(backend).await;
});

// ----- fixture hygiene and coverage -----

/// File names are `<provider>-<case>.json`; step names are unique within a file.
#[test]
fn fixtures_are_well_formed() {
    for (file, fx) in load_fixtures() {
        assert_eq!(
            file,
            format!("{}-{}.json", fx.provider, fx.case),
            "{file}: the name must be <provider>-<case>.json"
        );
        assert!(!fx.description.trim().is_empty(), "{file}: no description");
        assert!(!fx.steps.is_empty(), "{file}: no steps");
        let mut seen = std::collections::HashSet::new();
        for s in &fx.steps {
            assert!(!s.name.trim().is_empty(), "{file}: a step without a name");
            assert!(
                seen.insert(s.name.as_str()),
                "{file}: duplicate step name {:?}",
                s.name
            );
            assert!(
                s.path.starts_with('/'),
                "{file}: {:?}: path must start with /",
                s.name
            );
        }
    }
}

/// Every behaviour of `idp-wire-behaviour.md` §1, §2, §3 (server side) and §5, with the name of
/// the fixture step that tests it. Behaviours tested elsewhere are listed in the report, not
/// here.
const COVERAGE: &[(&str, &str)] = &[
    // §1 Entra ID
    ("entra-legacy-user-lifecycle.json", "test connection: filter on a random GUID answers 200 with an empty list"),
    ("entra-legacy-user-lifecycle.json", "lookup by userName eq that matches nothing answers 200 with totalResults 0 and empty Resources"),
    ("entra-legacy-user-lifecycle.json", "POST /Users with meta, roles: [], null attributes and an undeclared extension answers 201 with an id"),
    ("entra-legacy-user-lifecycle.json", "lookup by externalId eq"),
    ("entra-legacy-user-lifecycle.json", "lookup by emails[type eq \"work\"].value eq"),
    ("entra-legacy-user-lifecycle.json", "lookup combining eq with and"),
    ("entra-legacy-user-lifecycle.json", "filter with a differently-cased userName matches (userName is caseExact=false)"),
    ("entra-legacy-user-lifecycle.json", "duplicate create answers 409 with scimType uniqueness"),
    ("entra-legacy-user-lifecycle.json", "PATCH emails[type eq \"work\"].value creates the element when none matches"),
    ("entra-legacy-user-lifecycle.json", "PATCH emails[type eq \"work\"].value replaces the matching element"),
    ("entra-legacy-user-lifecycle.json", "PATCH name.familyName with capitalised op Replace"),
    ("entra-legacy-user-lifecycle.json", "PATCH enterprise employeeNumber path keeps the 2.0 URN whole and adds the extension to schemas"),
    ("entra-legacy-user-lifecycle.json", "one operation per attribute: several capitalised operations in one PATCH"),
    ("entra-legacy-user-lifecycle.json", "manager as Add with an array of {$ref, value}"),
    ("entra-legacy-user-lifecycle.json", "manager as Replace with {\"value\": \"m1\"}"),
    ("entra-legacy-user-lifecycle.json", "manager as the bare string \"m1\""),
    ("entra-legacy-user-lifecycle.json", "manager cleared with {\"value\": \"\"} stores no empty string"),
    ("entra-legacy-user-lifecycle.json", "string boolean in a value filter: roles[primary eq \"True\"].value"),
    ("entra-legacy-user-lifecycle.json", "roles as JSON-encoded strings"),
    ("entra-legacy-user-lifecycle.json", "disable via PATCH active \"False\" (legacy string boolean, op Replace)"),
    ("entra-legacy-user-lifecycle.json", "a disabled user is still returned by filters"),
    ("entra-legacy-user-lifecycle.json", "re-enable via PATCH active \"True\""),
    ("entra-legacy-user-lifecycle.json", "string booleans in lower case: \"false\""),
    ("entra-legacy-user-lifecycle.json", "string booleans in lower case: \"true\""),
    ("entra-legacy-user-lifecycle.json", "hard delete answers 204"),
    ("entra-legacy-user-lifecycle.json", "GET after delete answers 404"),
    ("entra-legacy-user-lifecycle.json", "DELETE twice: the second answers 404"),
    ("entra-legacy-user-lifecycle.json", "re-create the same userName after delete answers 201"),
    ("entra-legacy-user-lifecycle.json", "every response carries Content-Type application/scim+json, errors too"),
    ("entra-legacy-group-membership.json", "group lookup with excludedAttributes=members and filter displayName eq answers 200 empty"),
    ("entra-legacy-group-membership.json", "POST /Groups without members, with the Microsoft group schema URI and meta"),
    ("entra-legacy-group-membership.json", "member add with \"$ref\": null"),
    ("entra-legacy-group-membership.json", "several membership changes per PATCH"),
    ("entra-legacy-group-membership.json", "adding an existing member is a success (no-op)"),
    ("entra-legacy-group-membership.json", "member removal by value array removes only that member"),
    ("entra-legacy-group-membership.json", "GET /Groups/{id}?excludedAttributes=members"),
    ("entra-legacy-group-membership.json", "group lookup with excludedAttributes=members finds the group without members"),
    ("entra-legacy-group-membership.json", "group PATCH answers 200 with the group by default"),
    ("entra-legacy-group-membership.json", "disable keeps group memberships"),
    ("entra-legacy-group-membership.json", "re-enable keeps group memberships (Entra does not re-add them)"),
    ("entra-aadoptscim062020-user-lifecycle.json", "lower-case ops and real booleans: disable with active false"),
    ("entra-aadoptscim062020-user-lifecycle.json", "one path-less replace with dotted and URN-prefixed keys"),
    ("entra-aadoptscim062020-group-membership.json", "member removal as path members[value eq \"u1\"] removes only u1"),
    ("entra-aadoptscim062020-group-membership.json", "POST /Groups with the Microsoft group schema URI, null and read-only data"),
    ("entra-group-patch-no-content.json", "group PATCH answers 204 when configured (group_patch_no_content)"),
    ("entra-group-patch-no-content.json", "user PATCH still answers 200 with the user"),
    // §2 Okta
    ("okta-patch-user-lifecycle.json", "lookup with startIndex=1&count=100 on a filter answers 200 with an empty list"),
    ("okta-patch-user-lifecycle.json", "POST with groups: [] and password answers 201 with a non-empty body and no password"),
    ("okta-patch-user-lifecycle.json", "deactivate with path-less replace {\"active\": false}"),
    ("okta-patch-user-lifecycle.json", "reactivate with path-less replace {\"active\": true}"),
    ("okta-patch-user-lifecycle.json", "Okta GETs the user before updating"),
    ("okta-put-user-lifecycle.json", "PUT of the whole object with id, meta and groups: []"),
    ("okta-put-user-lifecycle.json", "deactivate by PUT with active false"),
    ("okta-group-push.json", "group push lookup: filter displayName eq with paging parameters"),
    ("okta-group-push.json", "POST /Groups with members: []"),
    ("okta-group-push.json", "add members with [{value, display}]"),
    ("okta-group-push.json", "PATCH combining remove members[value eq] and add members, applied in order"),
    ("okta-group-push.json", "remove then re-add the same member in one PATCH keeps it (order matters)"),
    ("okta-group-push.json", "a failing operation rolls back the whole PATCH (atomic)"),
    ("okta-group-push.json", "rename with path-less replace {id: same id, displayName}"),
    ("okta-group-push.json", "full replace of members with path members"),
    ("okta-group-push.json", "full replace of members with path-less {\"members\": [...]}"),
    ("okta-group-push.json", "GET /Groups answered within 600 ms"),
    ("okta-group-push.json", "DELETE /Groups on unlink answers 204"),
    ("okta-import-paging.json", "import page 1: startIndex=1&count=2 with numeric totalResults, startIndex, itemsPerPage"),
    ("okta-import-paging.json", "import page 1 again returns the same users (stable order)"),
    ("okta-import-paging.json", "the pages together are the whole list, in the same order"),
    // §3 other senders
    ("google-workspace-probe.json", "probe GET /Users?count=1"),
    ("jumpcloud-setup.json", "setup deletes the test user"),
    ("jumpcloud-setup.json", "setup deletes the test group"),
    ("pingfederate-remove.json", "remove user as disable (default)"),
    ("pingfederate-remove.json", "remove user as DELETE"),
    ("pingfederate-remove.json", "type values compared case-insensitively in a filter: emails[type eq \"WORK\"]"),
    ("pingfederate-remove.json", "type values compared case-insensitively in a PATCH path: emails[type eq \"WORK\"].value"),
    ("rippling-probe.json", "probe GET /ServiceProviderConfig"),
    // §5 deprovisioning
    ("deprovisioning-semantics.json", "soft deprovision (active false) keeps the user visible"),
    ("deprovisioning-semantics.json", "soft deprovision keeps group memberships"),
    ("deprovisioning-semantics.json", "after DELETE GET answers 404"),
    ("deprovisioning-semantics.json", "after DELETE PUT answers 404"),
    ("deprovisioning-semantics.json", "after DELETE PATCH answers 404"),
    ("deprovisioning-semantics.json", "after DELETE DELETE answers 404"),
    ("deprovisioning-semantics.json", "after DELETE the user disappears from filters"),
    ("deprovisioning-semantics.json", "after DELETE the user disappears from group members"),
    ("deprovisioning-semantics.json", "after DELETE the userName is free again"),
];

/// Every listed behaviour has a step of that name in that fixture file.
#[test]
fn every_wire_behaviour_has_a_named_step() {
    let fixtures = load_fixtures();
    let mut missing = Vec::new();
    for (file, name) in COVERAGE {
        let found = fixtures
            .iter()
            .any(|(f, fx)| f == file && fx.steps.iter().any(|s| s.name == *name));
        if !found {
            missing.push(format!("{file}: {name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "behaviours without a named step:\n{}",
        missing.join("\n")
    );
}

/// The matcher itself.
#[test]
fn matcher_rules() {
    use serde_json::json;
    assert!(matches(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    assert!(!matches(&json!({"a": 1}), &json!({"a": "1"})));
    assert!(!matches(&json!([{"v": 1}]), &json!([{"v": 1}, {"v": 2}])));
    assert!(matches(
        &json!([{"v": 1}, {"v": 2}]),
        &json!([{"v": 1, "x": 0}, {"v": 2}])
    ));
    assert!(!matches(
        &json!([{"v": 2}, {"v": 1}]),
        &json!([{"v": 1}, {"v": 2}])
    ));
    assert!(matches(
        &json!({"$unordered": [{"v": 2}, {"v": 1}]}),
        &json!([{"v": 1}, {"v": 2}])
    ));
    assert!(!matches(
        &json!({"$unordered": [{"v": 1}]}),
        &json!([{"v": 1}, {"v": 2}])
    ));
    assert!(matches(
        &json!({"$includes": [{"v": 2}]}),
        &json!([{"v": 1}, {"v": 2}])
    ));
    assert!(!matches(
        &json!({"$includes": [{"v": 1}, {"v": 1}]}),
        &json!([{"v": 1}, {"v": 2}])
    ));
    assert!(matches(&json!({"$type": "string"}), &json!("x")));
    assert!(!matches(&json!({"$type": "number"}), &json!("1")));
    assert!(matches(&json!({"$ne": "a"}), &json!("b")));
    assert!(!matches(&json!({"$ne": "a"}), &json!("a")));
    let vars = HashMap::from([("id".to_string(), "42".to_string())]);
    assert_eq!(
        substitute(&json!({"p": "/Users/{{id}}", "{{id}}": 1}), &vars).unwrap(),
        json!({"p": "/Users/42", "42": 1})
    );
    assert!(substitute_str("{{nope}}", &vars).is_err());
}
