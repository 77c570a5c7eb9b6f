//! The client, split along its seams:
//!
//! - [`auth`]: static bearer tokens, custom headers, OAuth 2.0 client credentials;
//! - [`rate`]: the client-side token bucket;
//! - [`builder`]: [`ClientBuilder`] and its validation;
//! - [`transport`]: one request with retries, redirects, the response size limit;
//! - [`crud`]: create (with the lookup that makes a repeated POST safe), get, replace, patch,
//!   delete, update;
//! - [`paging`]: list queries, `.search` and the `list_all` stream;
//! - [`members`]: group member changes split to the target's limits;
//! - [`bulk`]: `/Bulk` split to `maxOperations`;
//! - [`discovery`]: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`.

use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, IF_MATCH};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

use crate::error::{Error, Result};
use crate::profile::Profile;
use crate::retry::RetryPolicy;

mod auth;
mod builder;
mod bulk;
mod crud;
mod discovery;
mod members;
mod paging;
mod rate;
mod transport;

pub use auth::{Auth, OAuth2};
pub use builder::ClientBuilder;
pub use crud::Update;
pub use discovery::Capabilities;
pub use paging::ListQuery;

use rate::RateLimiter;

const SCIM_JSON: &str = "application/scim+json";

/// The default response size limit (32 MiB); see [`ClientBuilder::max_response_bytes`].
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;

struct Inner {
    http: reqwest::Client,
    /// The base URL without a trailing slash.
    base: String,
    auth: Auth,
    retry: RetryPolicy,
    limiter: Option<RateLimiter>,
    concurrency: Option<Semaphore>,
    headers: Vec<(HeaderName, HeaderValue)>,
    profile: Arc<dyn Profile>,
    capabilities: Mutex<Option<Capabilities>>,
    same_host_redirects: bool,
    max_response_bytes: u64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be credentials: only their names are printed.
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("auth", &self.auth)
            .field("retry", &self.retry)
            .field("limiter", &self.limiter)
            .field(
                "concurrency",
                &self.concurrency.as_ref().map(|s| s.available_permits()),
            )
            .field("headers", &header_names(&self.headers))
            .field("profile", &self.profile.name())
            .field("same_host_redirects", &self.same_host_redirects)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

/// Header names with their values replaced by `***`, for `Debug`.
fn header_names(h: &[(HeaderName, HeaderValue)]) -> Vec<String> {
    h.iter().map(|(n, _)| format!("{n}: ***")).collect()
}

/// A SCIM 2.0 client. Cheap to clone; share one per target.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

/// A raw response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body text (empty for 204).
    pub body: String,
}

impl Client {
    /// The provider profile in use.
    pub fn profile(&self) -> &dyn Profile {
        &*self.inner.profile
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    fn endpoint(endpoint: &str) -> String {
        format!("/{}", endpoint.trim_matches('/'))
    }
}

fn form_params(pairs: &[(&str, Option<String>)]) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v| format!("{k}={}", utf8_percent_encode(v, SET)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn path_segment(id: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(id, SET).to_string()
}

fn decode<T: DeserializeOwned>(body: &str) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| Error::decode(body, e))
}

fn to_body<T: serde::Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Invalid(e.to_string()))
}

fn if_match(version: Option<&str>) -> Result<Vec<(HeaderName, HeaderValue)>> {
    match version {
        None => Ok(Vec::new()),
        Some(v) => Ok(vec![(
            IF_MATCH,
            HeaderValue::try_from(v).map_err(|e| Error::Invalid(format!("version: {e}")))?,
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scim_core::filter::{CompareOp, Filter};
    use scim_core::AttrPath;

    #[test]
    fn query_strings_escape_values() {
        let f = Filter::compare(AttrPath::new("userName"), CompareOp::Eq, "a\"b c&d");
        let q = ListQuery::new()
            .filter(f)
            .count(10)
            .attributes(["userName", "emails"]);
        assert_eq!(
            q.to_query_string(),
            "?filter=userName%20eq%20%22a%5C%22b%20c%26d%22&attributes=userName%2Cemails&count=10"
        );
        assert_eq!(ListQuery::new().to_query_string(), "");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert!(Client::builder("ftp://x").build().is_err());
        assert_eq!(
            format!("{:?}", Auth::Bearer("secret".into())),
            "Bearer(***)"
        );
    }
}
