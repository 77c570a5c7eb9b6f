//! Create, read, replace, patch, delete, update, deactivate.
//!
//! A create (POST) is the one request that is not idempotent: when it fails in a way that
//! leaves open whether the service created the resource (no answer, a timeout, `503` or
//! another 5xx), it is repeated only after a lookup by `externalId`, `userName` (Users) and
//! `displayName` (Groups) proved that the resource is not there. When the lookup finds it,
//! that resource is returned; when it cannot decide (no such attribute in the body, a failed
//! or ambiguous lookup), the original error is returned.

use reqwest::Method;
use scim_core::filter::{CompareOp, Filter};
use scim_core::{AttrPath, Context, JsonMap, ListResponse, PatchOp};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{decode, if_match, path_segment, to_body, Client, ListQuery};
use crate::error::Result;
use crate::retry::{decide, Decision, Outcome};

/// The result of [`Client::patch_diff`] and [`Client::update`].
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// `from` and `to` were equal: no request was sent.
    Unchanged,
    /// The change was sent; the service answered with the resource, or with `204 No Content`.
    Applied(Option<Value>),
}

impl Update {
    /// True when nothing was sent.
    pub fn is_unchanged(&self) -> bool {
        matches!(self, Update::Unchanged)
    }
    /// The resource the service sent back, if any.
    pub fn into_resource(self) -> Option<Value> {
        match self {
            Update::Applied(v) => v,
            Update::Unchanged => None,
        }
    }
}

/// What a lookup after an uncertain create found.
#[derive(Debug)]
enum Lookup {
    /// Exactly one resource with the body's key: the earlier attempt created it (or it
    /// existed).
    Found(Value),
    /// Every key of the body was looked up and matched nothing.
    Absent,
    /// No key to look up, a lookup failed, or it matched several resources.
    Unknown,
}

/// Failures after which a POST may or may not have been processed.
fn uncertain(outcome: Outcome) -> bool {
    match outcome {
        Outcome::Transport | Outcome::Throttled => true,
        Outcome::Status(s) => (500..600).contains(&s) && s != 501,
    }
}

impl Client {
    /// `POST /{endpoint}` (RFC 7644 §3.3). A POST is never blindly repeated: `429` (refused,
    /// not processed) is retried after `Retry-After`; after a failure that may have created
    /// the resource (no answer, timeout, `503`, other 5xx) the client waits as the retry
    /// policy says, looks the resource up by `externalId`, `userName` (Users) and `displayName`
    /// (Groups), returns it when found, creates it again only when every lookup proved it
    /// absent, and otherwise returns the error. A `409` to such a repeated POST means the
    /// earlier attempt did create it: the lookup's result is returned.
    pub async fn create<T: Serialize + DeserializeOwned>(
        &self,
        endpoint: &str,
        resource: &T,
    ) -> Result<T> {
        let body = to_body(resource)?;
        let path = Self::endpoint(endpoint);
        let payload = body.to_string();
        let policy = &self.inner.retry;
        let mut attempt = 0u32;
        let mut maybe_created = false;
        loop {
            attempt += 1;
            let f = match self
                .send_once(&Method::POST, &path, Some(&payload), &[])
                .await
            {
                Ok(r) => return decode(&r.body),
                Err(f) => f,
            };
            let Some(outcome) = f.outcome else {
                return Err(f.error);
            };
            if maybe_created && f.error.status() == Some(409) {
                return match self.lookup(&path, &body).await {
                    Lookup::Found(v) => decode(&v.to_string()),
                    _ => Err(f.error),
                };
            }
            // Only what the retry policy retries for non-idempotent requests (429).
            if let Decision::Retry(w) = decide(
                policy,
                outcome,
                f.retry_after,
                attempt,
                false,
                rand::random(),
            ) {
                tokio::time::sleep(w).await;
                continue;
            }
            if !uncertain(outcome) {
                return Err(f.error);
            }
            maybe_created = true;
            // Retryable once the lookup proves the resource absent.
            let d = decide(
                policy,
                outcome,
                f.retry_after,
                attempt,
                true,
                rand::random(),
            );
            if let Decision::Retry(w) = d {
                // Also gives an attempt still in flight time to finish before the lookup.
                tokio::time::sleep(w).await;
            }
            match self.lookup(&path, &body).await {
                Lookup::Found(v) => return decode(&v.to_string()),
                Lookup::Absent if matches!(d, Decision::Retry(_)) => continue,
                Lookup::Absent | Lookup::Unknown => return Err(f.error),
            }
        }
    }

    /// Looks up the resource `body` would create, by each of its keys.
    async fn lookup(&self, path: &str, body: &Value) -> Lookup {
        let Some(obj) = body.as_object() else {
            return Lookup::Unknown;
        };
        let mut keys = 0;
        for key in ["externalId", "userName", "displayName"] {
            if key == "displayName" && !path.eq_ignore_ascii_case("/Groups") {
                continue;
            }
            let Some(v) = scim_core::resource::get_ci(obj, key)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
            else {
                continue;
            };
            keys += 1;
            let f = Filter::compare(AttrPath::new(key), CompareOp::Eq, v);
            let page: ListResponse<Value> =
                match self.list(path, &ListQuery::new().filter(f).count(2)).await {
                    Ok(p) => p,
                    Err(_) => return Lookup::Unknown,
                };
            match (page.resources.len(), page.total_results) {
                (0, 0) => {}
                (1, t) if t <= 1 => {
                    let found = page.resources.into_iter().next().unwrap_or_default();
                    // A service that ignores the filter must not hand back another resource.
                    let same = found
                        .as_object()
                        .and_then(|o| scim_core::resource::get_ci(o, key))
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(v));
                    return if same {
                        Lookup::Found(found)
                    } else {
                        Lookup::Unknown
                    };
                }
                _ => return Lookup::Unknown,
            }
        }
        if keys == 0 {
            Lookup::Unknown
        } else {
            Lookup::Absent
        }
    }

    /// `GET /{endpoint}/{id}` (RFC 7644 §3.4.1).
    pub async fn get<T: DeserializeOwned>(&self, endpoint: &str, id: &str) -> Result<T> {
        self.json(
            Method::GET,
            &format!("{}/{}", Self::endpoint(endpoint), path_segment(id)),
            None,
            &[],
            true,
        )
        .await
    }

    /// `PUT /{endpoint}/{id}` (RFC 7644 §3.5.1), with `If-Match` when `version` is given.
    pub async fn replace<T: Serialize + DeserializeOwned>(
        &self,
        endpoint: &str,
        id: &str,
        resource: &T,
        version: Option<&str>,
    ) -> Result<T> {
        let body = to_body(resource)?;
        let extra = if_match(version)?;
        self.json(
            Method::PUT,
            &format!("{}/{}", Self::endpoint(endpoint), path_segment(id)),
            Some(&body),
            &extra,
            true,
        )
        .await
    }

    /// `PATCH /{endpoint}/{id}` (RFC 7644 §3.5.2). Returns the resource, or `None` for `204`.
    /// PATCH is retried on failures without an answer: SCIM operations are set-like (adding
    /// a present member or removing an absent one changes nothing).
    pub async fn patch(
        &self,
        endpoint: &str,
        id: &str,
        patch: &PatchOp,
        version: Option<&str>,
    ) -> Result<Option<Value>> {
        let body = to_body(patch)?;
        let extra = if_match(version)?;
        let r = self
            .send(
                Method::PATCH,
                &format!("{}/{}", Self::endpoint(endpoint), path_segment(id)),
                Some(&body),
                &extra,
                true,
            )
            .await?;
        if r.status == 204 || r.body.trim().is_empty() {
            return Ok(None);
        }
        decode(&r.body).map(Some)
    }

    /// Sends the operations that turn `from` into `to` (a schema-aware diff); sends nothing
    /// and returns [`Update::Unchanged`] when they are equal.
    pub async fn patch_diff(
        &self,
        ctx: &Context<'_>,
        id: &str,
        from: &JsonMap,
        to: &JsonMap,
    ) -> Result<Update> {
        let ops = scim_core::diff(from, to, ctx);
        if ops.is_empty() {
            return Ok(Update::Unchanged);
        }
        self.patch(&ctx.resource_type.endpoint, id, &PatchOp::new(ops), None)
            .await
            .map(Update::Applied)
    }

    /// `DELETE /{endpoint}/{id}` (RFC 7644 §3.6).
    pub async fn delete(&self, endpoint: &str, id: &str) -> Result<()> {
        self.send(
            Method::DELETE,
            &format!("{}/{}", Self::endpoint(endpoint), path_segment(id)),
            None,
            &[],
            true,
        )
        .await?;
        Ok(())
    }

    /// Updates a resource from its last known state `from` to `to`, the way the service
    /// supports best: a minimal PATCH when it supports PATCH (and the profile prefers it), else
    /// a PUT of `to`; with `If-Match` from `from`'s `meta.version` when it supports ETags.
    /// Returns [`Update::Unchanged`] without a request when nothing changed.
    pub async fn update(
        &self,
        ctx: &Context<'_>,
        id: &str,
        from: &JsonMap,
        to: &JsonMap,
    ) -> Result<Update> {
        let caps = self.discover().await?;
        let version = caps
            .etag
            .then(|| {
                from.get("meta")
                    .and_then(|m| m.get("version"))
                    .and_then(Value::as_str)
            })
            .flatten();
        if caps.patch && self.inner.profile.prefers_patch() {
            let ops = scim_core::diff(from, to, ctx);
            if ops.is_empty() {
                return Ok(Update::Unchanged);
            }
            return self
                .patch(&ctx.resource_type.endpoint, id, &PatchOp::new(ops), version)
                .await
                .map(Update::Applied);
        }
        if scim_core::diff(from, to, ctx).is_empty() {
            return Ok(Update::Unchanged);
        }
        let v: Value = self
            .replace(
                &ctx.resource_type.endpoint,
                id,
                &Value::Object(to.clone()),
                version,
            )
            .await?;
        Ok(Update::Applied(Some(v)))
    }

    /// Deprovisions a user the safe way: `active: false` (the account and its data stay), or
    /// DELETE where the profile says DELETE only deactivates.
    pub async fn deactivate_user(&self, id: &str) -> Result<()> {
        if self.inner.profile.delete_deactivates() {
            return self.delete("Users", id).await;
        }
        let op = scim_core::PatchOperation::replace(Some("active"), Value::Bool(false));
        self.patch("Users", id, &PatchOp::new(vec![op]), None)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_failures_leave_a_create_uncertain() {
        for o in [
            Outcome::Transport,
            Outcome::Throttled,
            Outcome::Status(500),
            Outcome::Status(502),
            Outcome::Status(503),
            Outcome::Status(504),
        ] {
            assert!(uncertain(o), "{o:?}");
        }
        for s in [400, 401, 404, 409, 429, 501] {
            assert!(!uncertain(Outcome::Status(s)), "{s}");
        }
    }
}
