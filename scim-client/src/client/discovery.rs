//! Discovery: `/ServiceProviderConfig` read into [`Capabilities`] (cached), `/ResourceTypes`,
//! `/Schemas`.

use reqwest::Method;
use scim_core::ListResponse;
use serde_json::Value;

use super::Client;
use crate::error::Result;

/// What a service says it supports (`/ServiceProviderConfig`, RFC 7643 §5; RFC 9865 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// PATCH is supported.
    pub patch: bool,
    /// Bulk is supported, with this many operations per request.
    pub bulk_max_operations: Option<usize>,
    /// Filtering is supported.
    pub filter: bool,
    /// Largest page (`filter.maxResults`).
    pub max_results: Option<u64>,
    /// Sorting is supported.
    pub sort: bool,
    /// ETags are supported (writes then carry `If-Match`).
    pub etag: bool,
    /// RFC 9865 cursor paging is supported.
    pub cursor: bool,
}

impl Capabilities {
    /// Reads a ServiceProviderConfig document; absent features count as unsupported.
    pub fn from_service_provider_config(v: &Value) -> Capabilities {
        let get = |k: &str| -> Option<&Value> {
            v.as_object()
                .and_then(|o| scim_core::resource::get_ci(o, k))
        };
        let supported = |k: &str| {
            get(k)
                .and_then(|x| x.get("supported"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        Capabilities {
            patch: supported("patch"),
            bulk_max_operations: supported("bulk")
                .then(|| {
                    get("bulk")
                        .and_then(|b| b.get("maxOperations"))
                        .and_then(Value::as_u64)
                        .map(|n| n as usize)
                })
                .flatten(),
            filter: supported("filter"),
            max_results: get("filter")
                .and_then(|f| f.get("maxResults"))
                .and_then(Value::as_u64),
            sort: supported("sort"),
            etag: supported("etag"),
            cursor: get("pagination")
                .and_then(|p| p.get("cursor"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}

impl Client {
    /// The service's capabilities, read once from `/ServiceProviderConfig` and cached.
    pub async fn discover(&self) -> Result<Capabilities> {
        if let Some(c) = self.inner.capabilities.lock().await.clone() {
            return Ok(c);
        }
        let caps =
            Capabilities::from_service_provider_config(&self.service_provider_config().await?);
        *self.inner.capabilities.lock().await = Some(caps.clone());
        Ok(caps)
    }

    /// `GET /ServiceProviderConfig` (RFC 7644 §4), at the path the profile names.
    pub async fn service_provider_config(&self) -> Result<Value> {
        let path = self
            .inner
            .profile
            .service_provider_config_path()
            .to_string();
        self.json(Method::GET, &path, None, &[], true).await
    }
    /// `GET /ResourceTypes`.
    pub async fn resource_types(&self) -> Result<ListResponse<Value>> {
        self.json(Method::GET, "/ResourceTypes", None, &[], true)
            .await
    }
    /// `GET /Schemas`.
    pub async fn schemas(&self) -> Result<ListResponse<Value>> {
        self.json(Method::GET, "/Schemas", None, &[], true).await
    }
}
