//! The audit trail: who provisioned or deprovisioned whom, and when.
//!
//! Every change (create, replace, patch, delete, member changes, and the same inside `/Bulk`) is
//! recorded by the store **in the transaction of the change**, so a change without its record
//! (or a record of a change that rolled back) cannot exist. A record holds the time, tenant,
//! actor (`token:<label>` or `jwt:<sub>`), request id, operation, resource type and id, the
//! names of the attributes that changed (never values: a password change shows as `password`),
//! and the old and new version.
//!
//! Authentication opens an [`Actor`] scope around the request (a task-local, so the store
//! reads it without every store method taking it as a parameter); requests served without one
//! (a host app calling the store directly) are recorded with actor `-`.
//! `scim-server audit` prints or exports the trail; `--audit-retention-days` prunes it.

use std::future::Future;

use axum::http::Method;

/// Who is acting in the current request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `token:<label>`, `jwt:<sub>`, or `-`.
    pub actor: String,
    /// The request id (`X-Request-Id`), shared by every operation of a `/Bulk` request.
    pub request_id: Option<String>,
    /// The operation as the client asked for it: `create`, `replace`, `patch`, `delete`, with a
    /// `bulk:` prefix inside `/Bulk`.
    pub operation: String,
}

tokio::task_local! {
    static CURRENT: Actor;
}

impl Actor {
    /// The actor of a request. Inside `/Bulk` (an enclosing scope exists) the request id of the
    /// bulk request is kept and the operation gets a `bulk:` prefix.
    pub fn for_request(actor: &str, request_id: Option<String>, method: &Method) -> Actor {
        let outer = current();
        let op = match *method {
            Method::POST => "create",
            Method::PUT => "replace",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "read",
        };
        match outer {
            Some(o) => Actor {
                actor: actor.to_string(),
                request_id: o.request_id.or(request_id),
                operation: format!("bulk:{op}"),
            },
            None => Actor {
                actor: actor.to_string(),
                request_id,
                operation: op.to_string(),
            },
        }
    }
}

/// Runs `fut` with `actor` as the current actor.
pub async fn scope<F: Future>(actor: Actor, fut: F) -> F::Output {
    CURRENT.scope(actor, fut).await
}

/// The current actor, if a request opened a scope.
pub fn current() -> Option<Actor> {
    CURRENT.try_with(|a| a.clone()).ok()
}

/// One record of the trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Position in the trail (increasing).
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Tenant.
    pub tenant: String,
    /// Who.
    pub actor: String,
    /// The request's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `create`, `replace`, `patch`, `delete`, `bulk:…`.
    pub operation: String,
    /// `User`, `Group`, …
    pub resource_type: String,
    /// The resource's id.
    pub resource_id: String,
    /// Names of the attributes that changed (`members` for member changes).
    pub attributes: Vec<String>,
    /// Version before (none for a create).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_version: Option<i64>,
    /// Version after (none for a delete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_version: Option<i64>,
}

/// Which records to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Records at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Records before this time (RFC 3339).
    pub until: Option<String>,
    /// Only this resource id.
    pub resource_id: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// At most this many (oldest first).
    pub limit: Option<i64>,
}

/// The names of the attributes that differ between two versions of a resource: top-level
/// names, and `urn:…:attr` for attributes of extension objects. Values are never looked at
/// beyond equality.
pub fn changed_attributes(
    before: Option<&scim_core::JsonMap>,
    after: Option<&scim_core::JsonMap>,
) -> Vec<String> {
    let empty = scim_core::JsonMap::new();
    let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    let mut out = Vec::new();
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        if k == "schemas" || k == "meta" || k == "id" {
            continue;
        }
        let (x, y) = (b.get(k), a.get(k));
        if x == y {
            continue;
        }
        let ext = k.starts_with("urn:")
            && (x.is_none_or(|v| v.is_object()) && y.is_none_or(|v| v.is_object()));
        if ext {
            let xo = x.and_then(|v| v.as_object());
            let yo = y.and_then(|v| v.as_object());
            let mut sub: Vec<&String> = xo
                .into_iter()
                .flat_map(|o| o.keys())
                .chain(yo.into_iter().flat_map(|o| o.keys()))
                .collect();
            sub.sort();
            sub.dedup();
            for s in sub {
                if xo.and_then(|o| o.get(s)) != yo.and_then(|o| o.get(s)) {
                    out.push(format!("{k}:{s}"));
                }
            }
        } else {
            out.push(k.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: serde_json::Value) -> scim_core::JsonMap {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn changed_attribute_names_only() {
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let b = m(
            json!({"userName": "a", "title": "x", "password": "h1", ent: {"department": "A", "manager": {"value": "m"}}}),
        );
        let a = m(
            json!({"userName": "a", "displayName": "A", "password": "h2", ent: {"department": "B", "manager": {"value": "m"}}}),
        );
        assert_eq!(
            changed_attributes(Some(&b), Some(&a)),
            vec![
                "displayName".to_string(),
                "password".into(),
                "title".into(),
                format!("{ent}:department"),
            ]
        );
        assert_eq!(
            changed_attributes(None, Some(&m(json!({"userName": "a", "schemas": []})))),
            vec!["userName".to_string()]
        );
    }

    #[tokio::test]
    async fn bulk_operations_keep_the_bulk_request_id() {
        let outer = Actor::for_request("token:idp", Some("r1".into()), &Method::POST);
        assert_eq!(outer.operation, "create");
        let inner = scope(outer, async {
            Actor::for_request("token:idp", None, &Method::PATCH)
        })
        .await;
        assert_eq!(inner.operation, "bulk:patch");
        assert_eq!(inner.request_id.as_deref(), Some("r1"));
        assert!(current().is_none());
    }
}
