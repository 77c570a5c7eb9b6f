//! Observability: request ids, one tracing span and one log line per request, metrics, and the
//! health endpoints.
//!
//! - **Request id.** An incoming `X-Request-Id` (1–128 characters of `A-Z a-z 0-9 . _ : -`) is
//!   kept, anything else is replaced by a fresh UUID; the id is echoed in the response's
//!   `X-Request-Id`, stored in the request's extensions as [`RequestId`] and recorded on the span.
//! - **Span and log line.** Every request runs in a `request` span with `request_id`, `method`,
//!   `route` (the path with ids replaced by `{id}`), `tenant` (recorded by authentication),
//!   `status` and `latency_ms`, and ends with one `info` event. Query strings (which carry filter
//!   values) and bodies are never logged at `info`.
//! - **Metrics** through the [`metrics`] facade, so an embedding app picks its own recorder; the
//!   binary installs a Prometheus recorder and serves `/metrics` on `--metrics-listen`:
//!   `scim_requests_total{method,route,status,tenant}`, `scim_request_duration_seconds{…}` (a
//!   histogram), `scim_requests_in_flight`, and the database pool gauges
//!   `scim_db_connections{pool,state}` sampled at scrape time; with SQLite on a file, the
//!   writer queue: `scim_db_flush_waiters` (writes sharing the last WAL flush) and
//!   `scim_db_flushes_total`.
//! - **Health.** `GET /healthz` answers `200` while the process serves; `GET /readyz` answers
//!   `200` when the database answers a trivial query and `503` otherwise. Both are outside the
//!   SCIM base path and need no credentials (they reveal nothing).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::state::ScimState;

/// The header that carries the request id.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served (in the request's extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Filled by authentication with the caller's tenant, read back for the metrics labels.
#[derive(Debug, Clone, Default)]
pub struct TenantSlot(pub Arc<OnceLock<String>>);

impl TenantSlot {
    /// Records the tenant on the slot and on the current span.
    pub fn set(&self, tenant: &str) {
        let _ = self.0.set(tenant.to_string());
        tracing::Span::current().record("tenant", tenant);
    }
}

fn valid_request_id(v: &str) -> bool {
    (1..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The path as a metrics label: ids replaced by `{id}`, so the number of labels stays bounded
/// whatever clients send (`/scim/v2/Users/123` → `/Users/{id}`).
pub fn route_label(path: &str, base_path: &str) -> String {
    if path == "/healthz" || path == "/readyz" {
        return path.to_string();
    }
    let base = base_path.trim_end_matches('/');
    let Some(rest) = path.strip_prefix(base) else {
        return "other".into();
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let known_top = |s: &str| {
        matches!(
            s,
            "Users"
                | "Groups"
                | "Bulk"
                | "Me"
                | ".search"
                | "ServiceProviderConfig"
                | "ResourceTypes"
                | "Schemas"
        )
    };
    match segs.as_slice() {
        [] => "/".into(),
        [top] if known_top(top) => format!("/{top}"),
        [top] => {
            // Custom resource types of a host app: keep the name when it looks like one.
            if top.len() <= 64 && top.bytes().all(|b| b.is_ascii_alphanumeric()) {
                format!("/{top}")
            } else {
                "other".into()
            }
        }
        [top, ".search"] => format!("/{top}/.search"),
        [top, _] if known_top(top) || top.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            format!("/{top}/{{id}}")
        }
        _ => "other".into(),
    }
}

/// The outermost middleware: request id, span, log line, metrics.
pub async fn observe(State(base_path): State<Arc<str>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let method = req.method().clone();
    let route = route_label(req.uri().path(), &base_path);
    let slot = TenantSlot::default();
    req.extensions_mut().insert(RequestId(id.clone()));
    req.extensions_mut().insert(slot.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        tenant = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    metrics::gauge!("scim_requests_in_flight").increment(1.0);
    let mut resp = next.run(req).instrument(span.clone()).await;
    metrics::gauge!("scim_requests_in_flight").decrement(1.0);
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    span.record("status", status);
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!("request served");
        } else {
            tracing::info!("request served");
        }
    });
    let tenant = slot.0.get().cloned().unwrap_or_else(|| "-".into());
    let labels = [
        ("method", method.as_str().to_string()),
        ("route", route),
        ("status", status.to_string()),
        ("tenant", tenant),
    ];
    metrics::counter!("scim_requests_total", &labels).increment(1);
    metrics::histogram!("scim_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    resp
}

/// `GET /healthz`: the process is alive and serving.
pub async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// `GET /readyz`: the database answers.
pub async fn readyz(State(state): State<ScimState>) -> Response {
    match state.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            let mut r = (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response();
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                HeaderValue::from_static("5"),
            );
            r
        }
    }
}

/// Samples the gauges that are read rather than counted (database pools) into the recorder.
pub fn sample_gauges(state: &ScimState) {
    for (pool, size, idle) in state.store().pool_stats() {
        metrics::gauge!("scim_db_connections", "pool" => pool, "state" => "idle").set(idle as f64);
        metrics::gauge!("scim_db_connections", "pool" => pool, "state" => "busy")
            .set(size.saturating_sub(idle) as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_are_bounded() {
        let b = "/scim/v2";
        assert_eq!(route_label("/scim/v2/Users", b), "/Users");
        assert_eq!(route_label("/scim/v2/Users/abc-123", b), "/Users/{id}");
        assert_eq!(route_label("/scim/v2/Users/.search", b), "/Users/.search");
        assert_eq!(route_label("/scim/v2/Schemas/urn:x", b), "/Schemas/{id}");
        assert_eq!(route_label("/scim/v2/Users/a/b/c", b), "other");
        assert_eq!(route_label("/elsewhere", b), "other");
        assert_eq!(route_label("/readyz", b), "/readyz");
        assert_eq!(route_label("/scim/v2/%2e%2e%2f", b), "other");
        assert_eq!(route_label("/scim/v2/Devices", b), "/Devices");
    }

    #[test]
    fn request_ids_are_checked() {
        assert!(valid_request_id("abc-123_x.y:z"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("a b"));
        assert!(!valid_request_id("x\ny"));
        assert!(!valid_request_id(&"a".repeat(129)));
    }
}
