//! Each kind of check can fail: the suite runs against our server wrapped by a layer that
//! breaks one behaviour (ignores filters, wrong totalResults, PATCH not atomic, wrong error
//! body, …), and the test asserts which checks fail — the checks of that behaviour, and not
//! the unrelated ones.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode, Uri};
use axum::Router;
use conformance_tests::{Config, NoProgress, Status, Suite};
use scim_server::Settings;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::support::{Backend, OwnServer};

/// One deliberate defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Break {
    /// Drops `filter` from list requests: every resource is returned.
    IgnoreFilter,
    /// Adds 1 to `totalResults`.
    WrongTotal,
    /// Applies the operations of a PATCH one request at a time, keeping those before a failure.
    NonAtomicPatch,
    /// Error responses carry `{"message": …}` as application/json.
    PlainErrorBody,
    /// No ETag header, no meta.version, preconditions ignored.
    NoEtag,
    /// Advertises bulk as unsupported although it works.
    LieBulkUnsupported,
    /// Drops `startIndex` and `count`.
    IgnorePaging,
    /// Drops `sortOrder` and `sortBy`.
    IgnoreSort,
    /// Drops `cursor`.
    IgnoreCursor,
    /// Drops `attributes` and `excludedAttributes`.
    IgnoreProjection,
    /// Requests without a valid token get one: no authentication.
    NoAuth,
    /// PATCH `remove` operations are dropped.
    IgnoreRemove,
    /// 201 becomes 200 and 204 becomes 200 with an empty object.
    WrongSuccessStatus,
    /// Responses are `application/json`.
    PlainJsonContentType,
    /// Bulk answers every operation with 200 and performs nothing.
    FakeBulk,
    /// Values in request bodies are lower-cased before storing (case not preserved).
    LowercaseValues,
    /// Discovery documents miss required parts and do not match what the server serves.
    BrokenDiscovery,
    /// Advertises filter, sort, patch, cursors and bulk as unsupported (they all work), and
    /// answers sortBy and cursor with a 500.
    LieUnsupported,
    /// Advertises changePassword as unsupported, while password changes work.
    LieChangePassword,
}

fn drop_params(uri: &Uri, names: &[&str]) -> Uri {
    let Some(q) = uri.query() else {
        return uri.clone();
    };
    let kept: Vec<&str> = q
        .split('&')
        .filter(|kv| {
            let k = kv.split('=').next().unwrap_or("");
            !names.iter().any(|n| n.eq_ignore_ascii_case(k))
        })
        .collect();
    let path = uri.path();
    let s = if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    s.parse().unwrap()
}

fn lower_strings(v: &mut Value) {
    match v {
        Value::String(s) => *s = s.to_lowercase(),
        Value::Array(a) => a.iter_mut().for_each(lower_strings),
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k != "schemas" && k != "path" && k != "op" && k != "value" || x.is_string() {
                    lower_strings(x);
                }
            }
        }
        _ => {}
    }
}

async fn call(
    app: &Router,
    parts: &axum::http::request::Parts,
    body: Vec<u8>,
) -> (axum::http::response::Parts, Vec<u8>) {
    let mut b = Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone());
    for (k, v) in &parts.headers {
        // No Accept-Encoding: the defects read and rewrite the server's JSON, which must not
        // come compressed (the client asks for gzip when the workspace enables reqwest's gzip).
        if k != header::CONTENT_LENGTH && k != header::ACCEPT_ENCODING {
            b = b.header(k, v);
        }
    }
    let resp = app
        .clone()
        .oneshot(b.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let (p, body) = resp.into_parts();
    (p, to_bytes(body, usize::MAX).await.unwrap().to_vec())
}

async fn handle(
    kind: Break,
    app: Router,
    token: String,
    req: Request<Body>,
) -> Result<Response<Body>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let mut body = to_bytes(body, usize::MAX).await.unwrap().to_vec();
    let list_like = parts.method == Method::GET;
    match kind {
        Break::IgnoreFilter if list_like && !parts.uri.path().contains("ServiceProviderConfig") => {
            parts.uri = drop_params(&parts.uri, &["filter"]);
        }
        Break::IgnorePaging if list_like => {
            parts.uri = drop_params(&parts.uri, &["startIndex", "count"])
        }
        Break::IgnoreSort if list_like => {
            parts.uri = drop_params(&parts.uri, &["sortBy", "sortOrder"])
        }
        Break::IgnoreCursor if list_like => parts.uri = drop_params(&parts.uri, &["cursor"]),
        Break::IgnoreProjection => {
            parts.uri = drop_params(&parts.uri, &["attributes", "excludedAttributes"])
        }
        Break::NoEtag => {
            parts.headers.remove(header::IF_MATCH);
            parts.headers.remove(header::IF_NONE_MATCH);
        }
        Break::NoAuth => {
            let ok = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {token}"));
            if !ok {
                parts.headers.insert(
                    header::AUTHORIZATION,
                    HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
                );
            }
        }
        Break::IgnoreRemove if parts.method == Method::PATCH => {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&body) {
                if let Some(ops) = v.get_mut("Operations").and_then(Value::as_array_mut) {
                    let before = ops.len();
                    ops.retain(|o| {
                        !o.get("op")
                            .and_then(Value::as_str)
                            .is_some_and(|s| s.eq_ignore_ascii_case("remove"))
                    });
                    if ops.is_empty() && before > 0 {
                        // Nothing left to do: answer as if it had worked.
                        return Ok(Response::builder().status(204).body(Body::empty()).unwrap());
                    }
                }
                body = v.to_string().into_bytes();
            }
        }
        Break::LowercaseValues
            if matches!(parts.method, Method::POST | Method::PUT)
                && !parts.uri.path().ends_with("/Bulk")
                && !parts.uri.path().ends_with(".search") =>
        {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&body) {
                if let Some(o) = v.as_object_mut() {
                    for (k, x) in o.iter_mut() {
                        if k != "schemas" && k != "id" {
                            lower_strings(x);
                        }
                    }
                }
                body = v.to_string().into_bytes();
            }
        }
        Break::FakeBulk if parts.uri.path().ends_with("/Bulk") => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let ops: Vec<Value> = v
                .get("Operations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|o| json!({"method": o.get("method"), "status": "200"}))
                .collect();
            let out = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"], "Operations": ops});
            return Ok(Response::builder()
                .status(200)
                .header(header::CONTENT_TYPE, "application/scim+json")
                .body(Body::from(out.to_string()))
                .unwrap());
        }
        Break::LieUnsupported => {
            let q = parts.uri.query().unwrap_or("").to_ascii_lowercase();
            if q.contains("sortby=") || q.contains("cursor=") {
                return Ok(Response::builder()
                    .status(500)
                    .body(Body::from("internal error"))
                    .unwrap());
            }
        }
        Break::BrokenDiscovery if parts.uri.path().ends_with("/NoSuchEndpoint") => {
            return Ok(Response::builder()
                .status(200)
                .header(header::CONTENT_TYPE, "application/scim+json")
                .body(Body::from("{}"))
                .unwrap());
        }
        Break::NonAtomicPatch if parts.method == Method::PATCH => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let ops = v
                .get("Operations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if ops.len() > 1 {
                let mut last = None;
                for op in ops {
                    let one = json!({"schemas": v.get("schemas"), "Operations": [op]});
                    let (p, b) = call(&app, &parts, one.to_string().into_bytes()).await;
                    let failed = p.status.is_client_error() || p.status.is_server_error();
                    last = Some((p, b));
                    if failed {
                        break;
                    }
                }
                let (p, b) = last.unwrap();
                return Ok(Response::from_parts(p, Body::from(b)));
            }
        }
        _ => {}
    }
    let is_spc = parts.uri.path().ends_with("/ServiceProviderConfig");
    let (mut p, mut b) = call(&app, &parts, body).await;
    match kind {
        Break::WrongTotal => {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&b) {
                if let Some(t) = v.get("totalResults").and_then(Value::as_u64) {
                    v["totalResults"] = json!(t + 1);
                    b = v.to_string().into_bytes();
                }
            }
        }
        Break::PlainErrorBody if p.status.as_u16() >= 400 => {
            let detail = serde_json::from_slice::<Value>(&b)
                .ok()
                .and_then(|v| v.get("detail").cloned())
                .unwrap_or(Value::Null);
            b = json!({"message": detail}).to_string().into_bytes();
            p.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        Break::NoEtag => {
            p.headers.remove(header::ETAG);
            if let Ok(mut v) = serde_json::from_slice::<Value>(&b) {
                if let Some(m) = v.get_mut("meta").and_then(Value::as_object_mut) {
                    m.remove("version");
                }
                b = v.to_string().into_bytes();
            }
        }
        Break::LieUnsupported if is_spc => {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&b) {
                for k in ["filter", "sort", "patch", "bulk"] {
                    v[k]["supported"] = json!(false);
                }
                v["pagination"]["cursor"] = json!(false);
                b = v.to_string().into_bytes();
            }
        }
        Break::LieChangePassword if is_spc => {
            // The server changes passwords; the lie says it does not.
            if let Ok(mut v) = serde_json::from_slice::<Value>(&b) {
                v["changePassword"]["supported"] = json!(false);
                b = v.to_string().into_bytes();
            }
        }
        Break::BrokenDiscovery if p.status == StatusCode::OK => {
            let path = parts.uri.path().to_string();
            let mut v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
            if is_spc {
                v["schemas"] = json!([]);
                v.as_object_mut().unwrap().remove("etag");
                v["filter"].as_object_mut().unwrap().remove("maxResults");
                v["bulk"].as_object_mut().unwrap().remove("maxOperations");
                v["pagination"]
                    .as_object_mut()
                    .unwrap()
                    .remove("cursorTimeout");
                v["authenticationSchemes"] = json!([]);
            } else if path.contains("/ResourceTypes") {
                let fix = |rt: &mut Value| {
                    if rt["name"] == "Group" {
                        rt["name"] = json!("group");
                        rt["endpoint"] = json!("/Groupz");
                    } else {
                        rt["endpoint"] = json!("/users");
                        rt["schema"] = json!("urn:ietf:params:scim:schemas:core:2.0:Usr");
                    }
                    rt.as_object_mut().unwrap().remove("schemas");
                };
                match v.get_mut("Resources").and_then(Value::as_array_mut) {
                    Some(list) => list.iter_mut().for_each(fix),
                    None => fix(&mut v),
                }
            } else if path.contains("/Schemas") {
                let fix = |s: &mut Value| {
                    if let Some(attrs) = s.get_mut("attributes").and_then(Value::as_array_mut) {
                        for a in attrs {
                            a.as_object_mut().unwrap().remove("mutability");
                            if a["name"] == "userName" {
                                a["caseExact"] = json!(true);
                            }
                            if a["name"] == "password" {
                                a["returned"] = json!("default");
                            }
                        }
                    }
                    s.as_object_mut().unwrap().remove("schemas");
                };
                match v.get_mut("Resources").and_then(Value::as_array_mut) {
                    Some(list) => {
                        list.retain(|s| s["id"] == "urn:ietf:params:scim:schemas:core:2.0:User");
                        list.iter_mut().for_each(fix);
                    }
                    None => fix(&mut v),
                }
            }
            b = v.to_string().into_bytes();
        }
        Break::LieBulkUnsupported if is_spc => {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&b) {
                v["bulk"] = json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0});
                b = v.to_string().into_bytes();
            }
        }
        Break::WrongSuccessStatus => {
            if p.status == StatusCode::CREATED {
                p.status = StatusCode::OK;
            } else if p.status == StatusCode::NO_CONTENT {
                p.status = StatusCode::OK;
                b = b"{}".to_vec();
                p.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/scim+json"),
                );
            }
        }
        Break::PlainJsonContentType if p.headers.contains_key(header::CONTENT_TYPE) => {
            p.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        _ => {}
    }
    p.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(p, Body::from(b)))
}

async fn failures(kind: Break) -> BTreeSet<String> {
    let token_cell = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let tc = token_cell.clone();
    let server = OwnServer::start_wrapped(
        Backend::Sqlite,
        Settings {
            cursor_ttl_secs: 1,
            ..Settings::default()
        },
        move |app| {
            Router::new().fallback_service(tower::service_fn(move |req: Request<Body>| {
                let app = app.clone();
                let token = tc.get().cloned().unwrap_or_default();
                async move { handle(kind, app, token, req).await }
            }))
        },
    )
    .await
    .unwrap();
    token_cell.set(server.token.clone()).unwrap();
    let mut config = Config::new(&server.base, Some(server.token.clone()));
    config.options.max_cursor_wait_secs = 3;
    if kind != Break::IgnoreCursor {
        // It waits for a cursor to expire; one defect that breaks it is enough.
        config.exclude = vec!["cursor-expired".into()];
    }
    let report = Suite::new(config).unwrap().run(&NoProgress).await;
    report
        .results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .map(|r| r.id.to_string())
        .collect()
}

/// The checks that must fail under each defect (more may fail), and checks that must not.
fn expectations() -> Vec<(Break, &'static [&'static str])> {
    vec![
        (
            Break::IgnoreFilter,
            &[
                "filter-eq-string",
                "filter-eq-username-case",
                "filter-valuepath-same-element",
                "filter-precedence-and-over-or",
                "filter-not",
                "filter-urn-enterprise",
                "filter-empty-result",
                "filter-invalid-syntax",
                "filter-groups-members-value",
                "user-delete-gone-from-queries",
                "entra-test-connection",
            ],
        ),
        (
            Break::WrongTotal,
            &[
                "filter-eq-string",
                "filter-empty-result",
                "page-count",
                "page-count-zero",
                "page-past-end",
                "search-count-zero",
                "entra-test-connection",
            ],
        ),
        (Break::NonAtomicPatch, &["patch-atomic"]),
        (
            Break::PlainErrorBody,
            &[
                "err-body-schema",
                "err-content-type",
                "user-get-unknown-404",
                "user-duplicate-409",
                "filter-invalid-syntax",
                "patch-remove-no-path",
                "etag-if-match-stale-put",
                "cursor-invalid",
                "bulk-max-operations",
            ],
        ),
        (
            Break::NoEtag,
            &[
                "etag-header",
                "etag-meta-version",
                "etag-on-create",
                "etag-if-none-match-304",
                "etag-if-match-stale-put",
                "etag-if-match-stale-patch",
                "etag-if-match-stale-delete",
            ],
        ),
        (Break::LieBulkUnsupported, &["bulk-unsupported-refused"]),
        (
            Break::BrokenDiscovery,
            &[
                "disc-spc-get",
                "disc-spc-features",
                "disc-spc-filter-maxresults",
                "disc-spc-bulk-limits",
                "disc-spc-auth-schemes",
                "disc-spc-pagination",
                "disc-rt-list",
                "disc-rt-fields",
                "disc-rt-user",
                "disc-rt-endpoints-work",
                "disc-rt-schemas-served",
                "disc-schemas-list",
                "disc-schemas-enterprise",
                "disc-schema-user",
                "disc-schema-attr-characteristics",
                "disc-schema-password-never",
                "err-unknown-endpoint-404",
            ],
        ),
        (
            Break::LieUnsupported,
            &[
                "filter-unsupported-refused",
                "sort-unsupported-clean",
                "cursor-unsupported-clean",
                "patch-unsupported-refused",
            ],
        ),
        (Break::LieChangePassword, &["user-password-change-refused"]),
        (
            Break::IgnorePaging,
            &[
                "page-count",
                "page-startindex",
                "page-items-per-page-last",
                "page-past-end",
                "page-count-zero",
                "sort-with-paging",
                "page-walk-stable",
            ],
        ),
        (
            Break::IgnoreSort,
            &[
                "sort-username-asc",
                "sort-descending",
                "sort-subattribute",
                "sort-missing-first-descending",
                "sort-multivalued-primary",
            ],
        ),
        (
            Break::IgnoreCursor,
            &[
                "cursor-first-page",
                "cursor-invalid",
                "cursor-tampered",
                "cursor-expired",
            ],
        ),
        (
            Break::IgnoreProjection,
            &[
                "proj-attributes-get",
                "proj-attributes-list",
                "proj-excluded",
                "proj-subattribute",
                "proj-urn-enterprise",
                "proj-group-excluded-members",
                "entra-groups-lookup-excluded-members",
                "proj-on-post",
            ],
        ),
        (
            Break::NoAuth,
            &[
                "auth-missing-401",
                "auth-wrong-token-401",
                "auth-401-www-authenticate",
            ],
        ),
        (
            Break::IgnoreRemove,
            &[
                "patch-remove-path",
                "patch-remove-valuefilter",
                "patch-remove-multivalued-all",
                "patch-group-remove-member-filter",
                "okta-remove-and-add-members",
                "entra-capitalised-ops",
            ],
        ),
        (
            Break::WrongSuccessStatus,
            &[
                "user-create-201",
                "user-delete-204",
                "group-create-201",
                "group-delete",
            ],
        ),
        (
            Break::PlainJsonContentType,
            &[
                "disc-spc-content-type",
                "user-create-content-type",
                "err-content-type",
                "err-accept-scim-json",
            ],
        ),
        (
            Break::FakeBulk,
            &[
                "bulk-post-users",
                "bulk-result-fields",
                "bulk-bulkid-reference",
                "bulk-bulkid-forward",
                "bulk-put-patch-delete",
                "bulk-errors-continue",
                "bulk-max-operations",
            ],
        ),
        (
            Break::LowercaseValues,
            &[
                "schema-value-case-preserved",
                "user-complex-roundtrip",
                "schema-externalid-roundtrip",
                "user-get",
            ],
        ),
    ]
}

/// Checks unrelated to a defect that must still pass, showing the failures are targeted.
const UNAFFECTED: &[(Break, &str)] = &[
    (Break::IgnoreFilter, "user-create-201"),
    (Break::WrongTotal, "patch-atomic"),
    (Break::NonAtomicPatch, "filter-eq-string"),
    (Break::NoEtag, "filter-eq-string"),
    (Break::IgnoreSort, "page-count"),
    (Break::IgnoreCursor, "page-count"),
    (Break::NoAuth, "user-create-201"),
    (Break::IgnoreRemove, "patch-add-path"),
    (Break::LieBulkUnsupported, "bulk-post-users"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_defect_fails_its_checks() {
    let all: BTreeSet<&str> = conformance_tests::checks::all()
        .iter()
        .map(|c| c.id)
        .collect();
    let mut covered: BTreeMap<String, Vec<Break>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (kind, must_fail) in expectations() {
        let failed = failures(kind).await;
        for id in must_fail {
            assert!(all.contains(id), "{kind:?}: no check {id}");
            if !failed.contains(*id) {
                problems.push(format!("{kind:?}: {id} did not fail (failed: {failed:?})"));
            }
        }
        for (k, id) in UNAFFECTED {
            if *k == kind && failed.contains(*id) {
                problems.push(format!("{kind:?}: the unrelated check {id} failed"));
            }
        }
        for id in failed {
            covered.entry(id).or_default().push(kind);
        }
    }
    let never: Vec<&&str> = all
        .iter()
        .filter(|id| !covered.contains_key(**id))
        .collect();
    println!(
        "{} of {} checks failed under at least one defect; never: {never:?}",
        covered.len(),
        all.len()
    );
    assert!(problems.is_empty(), "{problems:#?}");
    // Every check of the suite fails under at least one defect: none is a check that cannot fail.
    assert!(
        never.is_empty(),
        "checks that no defect made fail: {never:?}"
    );
}
