//! `POST /Bulk` (RFC 7644 §3.7).
//!
//! Each operation runs through the same routes as a single request (same validation, same
//! errors, same tenant), in an order that satisfies `bulkId:` references: an operation waits
//! until every `bulkId` it mentions — in its path or anywhere in its data, including PATCH
//! values, group members and `manager` — has been created by a POST of the same request, which
//! may come earlier or later in the list. Operations whose references form a cycle, or name a
//! `bulkId` no POST defines, get `409 Conflict` (RFC 7644 §3.7.1 allows this after an attempt).
//! `failOnErrors` stops the job after that many errors; `maxOperations` and `maxPayloadSize`
//! are enforced with `413`.
//!
//! Scheduling is linear: references are collected once, and operations run in a topological
//! order (Kahn's algorithm, lowest request index first), so a reverse chain of 1,000 POSTs costs
//! the same as a forward one. The job yields to the runtime between operations, and stops
//! starting new ones when [`crate::Settings::bulk_time_budget`] is spent: the response then
//! reports every completed operation and answers `503` for those not run, instead of the whole
//! request timing out with nothing reported.

use std::collections::{HashMap, HashSet};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::Extension;
use scim_core::messages::{BulkOperationResponse, BulkRequest, BulkResponse, BULK_REQUEST};
use scim_core::{ScimError, ScimType};
use serde_json::Value;

use super::body::read_json;
use crate::auth::Principal;
use crate::error::{scim_json, ApiError, ApiResult};
use crate::service::{self, write};
use crate::state::ScimState;
use crate::store::Load;

const PREFIX: &str = "bulkId:";

/// Creates that wait on nothing are run this many at a time (one job of the store).
const BATCH: usize = 200;

/// Every `bulkId:` reference in a JSON value.
fn references(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(PREFIX) {
                out.insert(id.to_string());
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        Value::Object(o) => o.values().for_each(|x| references(x, out)),
        _ => {}
    }
}

/// Replaces `bulkId:` references with resolved ids.
fn substitute(v: &mut Value, ids: &HashMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(PREFIX).and_then(|b| ids.get(b)) {
                *s = id.clone();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| substitute(x, ids)),
        Value::Object(o) => o.values_mut().for_each(|x| substitute(x, ids)),
        _ => {}
    }
}

fn error_response(method: &str, bulk_id: Option<String>, err: ScimError) -> BulkOperationResponse {
    let status = err.status;
    let mut r: BulkOperationResponse =
        serde_json::from_value(serde_json::json!({"method": method, "status": status.to_string()}))
            .expect("valid bulk operation response");
    r.bulk_id = bulk_id;
    r.response = serde_json::to_value(&err).ok();
    r
}

/// `POST /Bulk`
pub async fn bulk(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    req: Request,
) -> ApiResult<Response> {
    let settings = state.settings();
    // Locations are rendered with the bulk request's base URL.
    let base = super::request::base_url(&state, req.headers());
    let body = read_json(req, settings.bulk_max_payload)
        .await
        .map_err(|mut e| {
            if e.error.status == 413 {
                e.error.detail = format!(
                    "the bulk request is larger than maxPayloadSize ({} bytes)",
                    settings.bulk_max_payload
                );
            }
            e
        })?;
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest must be a JSON object"))?;
    let has_schema = scim_core::resource::get_ci(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(BULK_REQUEST))
            })
        });
    if !has_schema && !state.compat("").missing_message_schema {
        return Err(ScimError::invalid_syntax(format!(
            "a BulkRequest must list {BULK_REQUEST} in \"schemas\""
        ))
        .into());
    }
    let req: BulkRequest = serde_json::from_value(body.clone())
        .map_err(|e| ScimError::invalid_syntax(format!("invalid BulkRequest: {e}")))?;
    if req.operations.len() > settings.bulk_max_operations {
        return Err(ApiError::from(ScimError::new(
            413,
            Some(ScimType::TooMany),
            format!(
                "{} operations exceed maxOperations ({})",
                req.operations.len(),
                settings.bulk_max_operations
            ),
        )));
    }
    // bulkIds must be unique and belong to POSTs.
    let mut defined = HashSet::new();
    for op in &req.operations {
        if let Some(b) = &op.bulk_id {
            if !defined.insert(b.clone()) {
                return Err(ScimError::invalid_value(format!(
                    "bulkId {b:?} is used by more than one operation"
                ))
                .into());
            }
        }
    }
    let fail_on_errors = req.fail_on_errors.map(|n| n.max(1) as usize);
    let n = req.operations.len();
    let deadline = tokio::time::Instant::now() + settings.bulk_time_budget;
    // The dependency graph, computed once: op i waits on the POSTs whose bulkIds it names.
    let by_bulk_id: HashMap<&str, usize> = req
        .operations
        .iter()
        .enumerate()
        .filter_map(|(i, op)| op.bulk_id.as_deref().map(|b| (b, i)))
        .collect();
    let mut results: Vec<Option<BulkOperationResponse>> = vec![None; n];
    let mut waits_on: Vec<usize> = vec![0; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut ready = std::collections::BTreeSet::new();
    let mut doomed: Vec<Option<String>> = vec![None; n];
    let conflict = |i: usize, detail: String| {
        let op = &req.operations[i];
        error_response(
            &op.method,
            op.bulk_id.clone(),
            ScimError::new(409, None, detail),
        )
    };
    for (i, op) in req.operations.iter().enumerate() {
        let mut refs = HashSet::new();
        for seg in op.path.split('/') {
            references(&Value::String(seg.to_string()), &mut refs);
        }
        if let Some(d) = &op.data {
            references(d, &mut refs);
        }
        let mut unknown: Vec<&str> = refs
            .iter()
            .filter(|r| !by_bulk_id.contains_key(r.as_str()))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            // Refused when its turn comes, so failOnErrors counts errors in request order.
            unknown.sort_unstable();
            doomed[i] = Some(format!(
                "bulkId reference(s) {unknown:?} cannot be resolved"
            ));
            ready.insert(i);
            continue;
        }
        for r in &refs {
            let d = by_bulk_id[r.as_str()];
            waits_on[i] += 1;
            dependents[d].push(i);
        }
        if waits_on[i] == 0 {
            ready.insert(i);
        }
    }
    let mut errors = 0usize;
    let mut stopped = false;
    let mut resolved: HashMap<String, String> = HashMap::new();
    let mut out_of_time = false;
    // Kahn's algorithm, lowest request index first: linear in operations plus references.
    while !stopped {
        let Some(i) = ready.pop_first() else { break };
        if tokio::time::Instant::now() >= deadline {
            out_of_time = true;
            break;
        }
        // Creates that wait on nothing run together, one call of the store for all of them
        // (up to BATCH), when no error count can stop the job part-way through them.
        let mut batch = vec![i];
        if fail_on_errors.is_none() && doomed[i].is_none() && is_post(&req.operations[i]) {
            while batch.len() < BATCH {
                let Some(&j) = ready.first() else { break };
                let op = &req.operations[j];
                if doomed[j].is_some() || !is_post(op) || op.path != req.operations[i].path {
                    break;
                }
                ready.pop_first();
                batch.push(j);
            }
        }
        // The operations commit; their flush is shared with the others (below).
        let responses = if batch.len() > 1 {
            let ops: Vec<&scim_core::BulkOperation> =
                batch.iter().map(|&j| &req.operations[j]).collect();
            crate::store::defer_durability(run_creates(&state, &p, &base, &ops, &resolved)).await
        } else {
            vec![match doomed[i].take() {
                Some(why) => conflict(i, why),
                None => {
                    let op = &req.operations[i];
                    crate::store::defer_durability(run_one(&state, &p, &base, op, &resolved)).await
                }
            }]
        };
        for (i, res) in batch.into_iter().zip(responses) {
            let op = &req.operations[i];
            let ok = res.status < 300;
            if let (true, Some(b), Some(id)) = (
                ok,
                &op.bulk_id,
                res.location.as_deref().and_then(|l| l.rsplit('/').next()),
            ) {
                resolved.insert(b.clone(), id.to_string());
            }
            if res.status >= 400 {
                errors += 1;
            }
            results[i] = Some(res);
            // Dependents: one reference fewer to wait for, or refused when this one failed.
            let mut failed = if ok { Vec::new() } else { vec![i] };
            if ok {
                for &d in &dependents[i] {
                    waits_on[d] -= 1;
                    if waits_on[d] == 0 && results[d].is_none() {
                        ready.insert(d);
                    }
                }
            }
            while let Some(f) = failed.pop() {
                let name = req.operations[f].bulk_id.clone().unwrap_or_default();
                for &d in &dependents[f] {
                    if results[d].is_none() {
                        results[d] = Some(conflict(
                            d,
                            format!(
                                "bulkId reference {name:?} cannot be resolved: its operation failed"
                            ),
                        ));
                        ready.remove(&d);
                        errors += 1;
                        failed.push(d);
                    }
                }
            }
        }
        if fail_on_errors.is_some_and(|f| errors >= f) {
            stopped = true;
        }
        // A long bulk request must not hold a runtime thread.
        tokio::task::yield_now().await;
    }
    if !stopped {
        for (i, slot) in results.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let op = &req.operations[i];
            *slot = Some(if out_of_time {
                error_response(
                    &op.method,
                    op.bulk_id.clone(),
                    ScimError::new(
                        503,
                        None,
                        "not run: the bulk request used up its time budget; send the remaining operations again",
                    ),
                )
            } else {
                // Still waiting after everything that could run ran: a cycle.
                conflict(i, "circular bulkId references cannot be resolved".into())
            });
        }
    }
    // Nothing is acknowledged before every committed operation is durable.
    state.store().sync().await?;
    // Results in request order, for the operations that ran (RFC 7644 §3.7.3).
    let ops: Vec<BulkOperationResponse> = results.into_iter().flatten().collect();
    Ok(scim_json(StatusCode::OK, &BulkResponse::new(ops)))
}

/// An operation's method, path and data, checked and with `bulkId:` references resolved.
struct Parsed {
    method: Method,
    /// The path's segments, percent-decoded: `[endpoint]` or `[endpoint, id]`.
    segments: Vec<String>,
    /// The data (`null` for DELETE).
    data: Value,
}

fn parse(
    p: &Principal,
    op: &scim_core::BulkOperation,
    resolved: &HashMap<String, String>,
) -> Result<Parsed, ScimError> {
    let method_name = op.method.to_ascii_uppercase();
    let method = match method_name.as_str() {
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        other => {
            return Err(ScimError::invalid_syntax(format!(
                "bulk method must be POST, PUT, PATCH or DELETE, not {other:?}"
            )))
        }
    };
    let path = op
        .path
        .split('/')
        .map(
            |seg| match seg.strip_prefix(PREFIX).and_then(|b| resolved.get(b)) {
                Some(id) => id.clone(),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    if !path.starts_with('/') || path.contains("..") || path.contains('?') || path.contains('#') {
        return Err(ScimError::invalid_value(format!(
            "invalid bulk path {path:?}"
        )));
    }
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let shape_ok = match method {
        Method::POST => segments.len() == 1 && op.bulk_id.is_some(),
        _ => segments.len() == 2,
    };
    if !shape_ok {
        let why = if method == Method::POST && op.bulk_id.is_none() {
            "a bulk POST needs a bulkId".to_string()
        } else {
            format!(
                "{} needs a path like {}",
                method_name,
                if method == Method::POST {
                    "/Users"
                } else {
                    "/Users/{id}"
                }
            )
        };
        return Err(ScimError::invalid_value(why));
    }
    if !p.access.allows(&method, &path) {
        return Err(ScimError::new(403, None, "this credential may not do this"));
    }
    let data = match (&op.data, &method) {
        (_, &Method::DELETE) => Value::Null,
        (Some(d), _) => {
            let mut d = d.clone();
            substitute(&mut d, resolved);
            d
        }
        (None, _) => {
            return Err(ScimError::invalid_syntax(format!(
                "a bulk {method_name} needs \"data\""
            )))
        }
    };
    Ok(Parsed {
        method,
        segments,
        data,
    })
}

/// The response of an operation that succeeded: its status, location and version (success
/// bodies are not repeated, RFC 7644 §3.7.3 shows none).
fn success(
    op: &scim_core::BulkOperation,
    status: u16,
    location: Option<String>,
    version: Option<i64>,
) -> BulkOperationResponse {
    let mut r: BulkOperationResponse = serde_json::from_value(
        serde_json::json!({"method": op.method.to_ascii_uppercase(), "status": status.to_string()}),
    )
    .expect("valid bulk operation response");
    r.bulk_id = op.bulk_id.clone();
    r.version = version.map(crate::render::etag);
    r.location = location;
    r
}

fn is_post(op: &scim_core::BulkOperation) -> bool {
    op.method.eq_ignore_ascii_case("POST")
}

/// Runs one operation through the same service functions as the single-resource routes (same
/// validation, members, passwords, versions and audit records), with the caller's principal.
async fn run_one(
    state: &ScimState,
    p: &Principal,
    base: &str,
    op: &scim_core::BulkOperation,
    resolved: &HashMap<String, String>,
) -> BulkOperationResponse {
    let fail = |err: ScimError| error_response(&op.method, op.bulk_id.clone(), err);
    let Parsed {
        method,
        segments,
        data,
    } = match parse(p, op, resolved) {
        Ok(parsed) => parsed,
        Err(e) => return fail(e),
    };
    let actor = crate::audit::Actor::for_request(&p.actor, None, &method);
    let done = crate::audit::scope(actor, async {
        let ctx = service::context(state, &segments[0])?;
        let expected = match &op.version {
            Some(v) => super::request::version(v)?,
            None => None,
        };
        let id = segments.get(1).map(String::as_str);
        if let Some(id) = id {
            service::check_id(id)?;
        }
        let stored = match (&method, id) {
            (&Method::POST, _) => Some(write::create(state, &p.tenant, &ctx, data, base).await?),
            (&Method::PUT, Some(id)) => Some(
                write::replace(
                    state,
                    &p.tenant,
                    &ctx,
                    id,
                    data,
                    expected,
                    Load::default(),
                    base,
                )
                .await?,
            ),
            (&Method::PATCH, Some(id)) => Some(
                write::patch(
                    state,
                    &p.tenant,
                    &ctx,
                    id,
                    &data,
                    expected,
                    Load::default(),
                    base,
                )
                .await?,
            ),
            (_, Some(id)) => {
                write::delete(state, &p.tenant, &ctx, id, expected).await?;
                None
            }
            _ => unreachable!("the shape was checked"),
        };
        let location = stored
            .as_ref()
            .map(|w| format!("{base}{}/{}", ctx.resource_type.endpoint, w.stored.id));
        Ok::<_, ApiError>((location, stored.map(|w| w.stored.version)))
    })
    .await;
    match done {
        Ok((location, version)) => {
            let status = match method {
                Method::POST => 201,
                Method::DELETE => 204,
                _ => 200,
            };
            success(op, status, location, version)
        }
        Err(e) => fail(e.error),
    }
}

/// Runs POSTs to one path that wait on nothing: each checked and validated on its own as
/// [`run_one`] would, the valid ones created with one call of the store
/// ([`write::create_many`]). Responses in the order of `ops`.
async fn run_creates(
    state: &ScimState,
    p: &Principal,
    base: &str,
    ops: &[&scim_core::BulkOperation],
    resolved: &HashMap<String, String>,
) -> Vec<BulkOperationResponse> {
    let mut out: Vec<Option<BulkOperationResponse>> = vec![None; ops.len()];
    let mut bodies = Vec::new();
    let mut slots = Vec::new();
    let mut endpoint = None;
    for (k, op) in ops.iter().enumerate() {
        match parse(p, op, resolved) {
            Ok(parsed) => {
                endpoint.get_or_insert_with(|| parsed.segments[0].clone());
                slots.push(k);
                bodies.push(parsed.data);
            }
            Err(e) => out[k] = Some(error_response(&op.method, op.bulk_id.clone(), e)),
        }
    }
    if let Some(endpoint) = endpoint {
        let actor = crate::audit::Actor::for_request(&p.actor, None, &Method::POST);
        let results = crate::audit::scope(actor, async {
            match service::context(state, &endpoint) {
                Ok(ctx) => write::create_many(state, &p.tenant, &ctx, bodies, base)
                    .await
                    .into_iter()
                    .map(|r| r.map(|w| (ctx.resource_type.endpoint.clone(), w)))
                    .collect(),
                Err(e) => slots
                    .iter()
                    .map(|_| Err(ApiError::from(e.error.clone())))
                    .collect::<Vec<_>>(),
            }
        })
        .await;
        for (k, r) in slots.into_iter().zip(results) {
            let op = ops[k];
            out[k] = Some(match r {
                Ok((endpoint, w)) => success(
                    op,
                    201,
                    Some(format!("{base}{endpoint}/{}", w.stored.id)),
                    Some(w.stored.version),
                ),
                Err(e) => error_response(&op.method, op.bulk_id.clone(), e.error),
            });
        }
    }
    out.into_iter()
        .zip(ops)
        .map(|(r, op)| {
            r.unwrap_or_else(|| {
                error_response(
                    &op.method,
                    op.bulk_id.clone(),
                    ScimError::new(500, None, "the operation was not run"),
                )
            })
        })
        .collect()
}
