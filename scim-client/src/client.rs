//! The client: builder, transport with retries and limits, typed operations, pagination.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::Stream;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, IF_MATCH, RETRY_AFTER,
};
use reqwest::Method;
use scim_core::filter::{CompareOp, Filter};
use scim_core::{
    AttrPath, BulkOperation, BulkOperationResponse, BulkRequest, BulkResponse, Context, JsonMap,
    ListResponse, PatchOp, PatchOperation, SearchRequest, SortOrder,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

use crate::error::{Error, Result};
use crate::profile::{GenericRfc, Profile};
use crate::retry::{decide, parse_retry_after, Decision, Outcome, RetryPolicy};

const SCIM_JSON: &str = "application/scim+json";

/// How requests authenticate.
#[derive(Clone)]
#[non_exhaustive]
pub enum Auth {
    /// No credentials.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// Any header, e.g. `X-Api-Key`.
    Header(HeaderName, HeaderValue),
    /// OAuth 2.0 client credentials (RFC 6749 §4.4); the token is cached until shortly before
    /// it expires and fetched again after a `401`.
    OAuth2(Arc<OAuth2>),
}

/// OAuth 2.0 client-credentials settings and the cached token.
pub struct OAuth2 {
    token_url: String,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
    cached: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for OAuth2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish()
    }
}

impl OAuth2 {
    async fn token(&self, http: &reqwest::Client) -> Result<String> {
        let mut cached = self.cached.lock().await;
        if let Some((t, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ];
        if let Some(s) = &self.scope {
            form.push(("scope", s));
        }
        let body = form_params(
            &form
                .iter()
                .map(|(k, v)| (*k, Some(v.to_string())))
                .collect::<Vec<_>>(),
        );
        let resp = http
            .post(&self.token_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(Error::Transport)?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(Error::Transport)?;
        if !(200..300).contains(&status) {
            return Err(Error::from_response(status, text));
        }
        #[derive(serde::Deserialize)]
        struct Tok {
            access_token: String,
            expires_in: Option<u64>,
        }
        let tok: Tok = decode(&text)?;
        // Refresh a minute early (or at half-life for short tokens).
        let life = Duration::from_secs(tok.expires_in.unwrap_or(3600));
        let until = Instant::now() + life.saturating_sub(Duration::from_secs(60).min(life / 2));
        *cached = Some((tok.access_token.clone(), until));
        Ok(tok.access_token)
    }

    async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never printed.
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
            Auth::Header(n, _) => write!(f, "Header({n}: ***)"),
            Auth::OAuth2(o) => write!(f, "OAuth2({})", o.token_url),
        }
    }
}

/// A token bucket: at most `rate` requests per second on average, bursts up to `burst`.
#[derive(Debug)]
struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    fn new(rate: f64, burst: f64) -> Self {
        RateLimiter {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                let (tokens, last) = *s;
                let tokens =
                    (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
                if tokens >= 1.0 {
                    *s = (tokens - 1.0, now);
                    return;
                }
                *s = (tokens, now);
                Duration::from_secs_f64((1.0 - tokens) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    base: String,
    auth: Auth,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    http: Option<reqwest::Client>,
    retry: RetryPolicy,
    rate: Option<(f64, f64)>,
    concurrency: Option<usize>,
    headers: Vec<(HeaderName, HeaderValue)>,
    profile: Arc<dyn Profile>,
}

impl ClientBuilder {
    /// Authenticates with a static bearer token.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::Bearer(token.into());
        self
    }
    /// Authenticates with OAuth 2.0 client credentials against `token_url`.
    pub fn oauth2_client_credentials(
        mut self,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        scope: Option<&str>,
    ) -> Self {
        self.auth = Auth::OAuth2(Arc::new(OAuth2 {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scope: scope.map(str::to_string),
            cached: Mutex::new(None),
        }));
        self
    }
    /// Uses a provider profile: its rate limit (unless one is set) and required headers apply,
    /// and member changes and bulk jobs are split to its limits.
    pub fn profile(mut self, p: Arc<dyn Profile>) -> Result<Self> {
        if self.rate.is_none() {
            if let Some(r) = p.rate_per_second() {
                self.rate = Some((r, r.max(1.0)));
            }
        }
        for (n, v) in p.required_headers() {
            if n.eq_ignore_ascii_case("user-agent") {
                self.user_agent = v.to_string();
            } else {
                self = self.default_header(n, v)?;
            }
        }
        self.profile = p;
        Ok(self)
    }
    /// Authenticates with a custom header (`X-Api-Key: …`).
    pub fn header_auth(mut self, name: &str, value: &str) -> Result<Self> {
        let n = HeaderName::try_from(name)
            .map_err(|e| Error::Invalid(format!("header name {name:?}: {e}")))?;
        let v = HeaderValue::try_from(value)
            .map_err(|e| Error::Invalid(format!("header value: {e}")))?;
        self.auth = Auth::Header(n, v);
        Ok(self)
    }
    /// Adds a header to every request (e.g. a target's required `User-Agent` or API version).
    pub fn default_header(mut self, name: &str, value: &str) -> Result<Self> {
        let n = HeaderName::try_from(name)
            .map_err(|e| Error::Invalid(format!("header name {name:?}: {e}")))?;
        let v = HeaderValue::try_from(value)
            .map_err(|e| Error::Invalid(format!("header value: {e}")))?;
        self.headers.push((n, v));
        Ok(self)
    }
    /// Whole-request timeout (default 60 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    /// Connection timeout (default 10 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }
    /// `User-Agent` (some targets, such as GitHub, require one).
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }
    /// Uses this `reqwest::Client` (its own timeouts and TLS settings apply).
    pub fn http_client(mut self, c: reqwest::Client) -> Self {
        self.http = Some(c);
        self
    }
    /// Retry policy (default: 5 attempts, 200 ms base, 60 s cap).
    pub fn retry(mut self, p: RetryPolicy) -> Self {
        self.retry = p;
        self
    }
    /// Client-side rate limit: `per_second` on average, bursts of `burst`.
    pub fn rate_limit(mut self, per_second: f64, burst: u32) -> Self {
        if per_second > 0.0 {
            self.rate = Some((per_second, f64::from(burst.max(1))));
        }
        self
    }
    /// Client-side rate limit per minute (e.g. Slack's 600 writes/minute).
    pub fn rate_limit_per_minute(self, per_minute: f64, burst: u32) -> Self {
        self.rate_limit(per_minute / 60.0, burst)
    }
    /// Most requests in flight at once.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client> {
        let base = self.base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Invalid(format!(
                "base URL must start with http:// or https://, not {base:?}"
            )));
        }
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(self.connect_timeout)
                .user_agent(self.user_agent)
                .build()
                .map_err(|e| Error::Invalid(e.to_string()))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                auth: self.auth,
                retry: self.retry,
                limiter: self.rate.map(|(r, b)| RateLimiter::new(r, b)),
                concurrency: self.concurrency.map(|n| Semaphore::new(n)),
                headers: self.headers,
                profile: self.profile,
                capabilities: Mutex::new(None),
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    retry: RetryPolicy,
    limiter: Option<RateLimiter>,
    concurrency: Option<Semaphore>,
    headers: Vec<(HeaderName, HeaderValue)>,
    profile: Arc<dyn Profile>,
    capabilities: Mutex<Option<Capabilities>>,
}

/// A SCIM 2.0 client. Cheap to clone; share one per target.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

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

/// Query parameters of a list request (RFC 7644 §3.4.2).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ListQuery {
    /// Filter.
    pub filter: Option<String>,
    /// Attributes to return.
    pub attributes: Vec<String>,
    /// Attributes to leave out.
    pub excluded_attributes: Vec<String>,
    /// Sort attribute.
    pub sort_by: Option<String>,
    /// Sort direction.
    pub sort_order: Option<SortOrder>,
    /// 1-based start index.
    pub start_index: Option<u64>,
    /// Page size.
    pub count: Option<u64>,
    /// RFC 9865 cursor; `Some("")` starts cursor paging.
    pub cursor: Option<String>,
}

impl ListQuery {
    /// An empty query.
    pub fn new() -> Self {
        ListQuery::default()
    }
    /// Builder: filter (use [`scim_core::Filter`] to build one with correct escaping).
    pub fn filter(mut self, f: impl ToString) -> Self {
        self.filter = Some(f.to_string());
        self
    }
    /// Builder: page size.
    pub fn count(mut self, n: u64) -> Self {
        self.count = Some(n);
        self
    }
    /// Builder: attributes.
    pub fn attributes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Self {
        self.attributes = a.into_iter().map(Into::into).collect();
        self
    }
    /// Builder: excluded attributes.
    pub fn excluded_attributes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Self {
        self.excluded_attributes = a.into_iter().map(Into::into).collect();
        self
    }
    /// Builder: sorting.
    pub fn sort(mut self, by: impl Into<String>, order: SortOrder) -> Self {
        self.sort_by = Some(by.into());
        self.sort_order = Some(order);
        self
    }
    /// Builder: start cursor paging (RFC 9865).
    pub fn with_cursor(mut self) -> Self {
        self.cursor = Some(String::new());
        self
    }

    fn to_query_string(&self) -> String {
        let mut s = form_params(&[
            ("filter", self.filter.clone()),
            (
                "attributes",
                (!self.attributes.is_empty()).then(|| self.attributes.join(",")),
            ),
            (
                "excludedAttributes",
                (!self.excluded_attributes.is_empty()).then(|| self.excluded_attributes.join(",")),
            ),
            ("sortBy", self.sort_by.clone()),
            (
                "sortOrder",
                self.sort_order.map(|o| {
                    if o == SortOrder::Descending {
                        "descending".into()
                    } else {
                        "ascending".into()
                    }
                }),
            ),
            ("startIndex", self.start_index.map(|n| n.to_string())),
            ("count", self.count.map(|n| n.to_string())),
            ("cursor", self.cursor.clone()),
        ]);
        if !s.is_empty() {
            s.insert(0, '?');
        }
        s
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

impl Client {
    /// A builder for the service at `base_url` (e.g. `https://example.com/scim/v2`).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base_url.into(),
            auth: Auth::None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            user_agent: concat!("scim-client/", env!("CARGO_PKG_VERSION")).to_string(),
            http: None,
            retry: RetryPolicy::default(),
            rate: None,
            concurrency: None,
            headers: Vec::new(),
            profile: Arc::new(GenericRfc),
        }
    }

    /// The provider profile in use.
    pub fn profile(&self) -> &dyn Profile {
        &*self.inner.profile
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// Sends one request with retries, rate limiting and the concurrency limit; returns the
    /// response when its status is 2xx or 304, else an [`Error::Http`]. The escape hatch for
    /// anything the typed methods do not cover.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        extra: &[(HeaderName, HeaderValue)],
        idempotent: bool,
    ) -> Result<RawResponse> {
        let url = format!("{}{}", self.inner.base, path_and_query);
        let payload = body.map(|b| b.to_string());
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            if let Some(l) = &self.inner.limiter {
                l.acquire().await;
            }
            let _permit = match &self.inner.concurrency {
                Some(s) => Some(
                    s.acquire()
                        .await
                        .map_err(|e| Error::Invalid(e.to_string()))?,
                ),
                None => None,
            };
            let mut rb = self
                .inner
                .http
                .request(method.clone(), &url)
                .header(ACCEPT, SCIM_JSON);
            rb = match &self.inner.auth {
                Auth::None => rb,
                Auth::Bearer(t) => rb.bearer_auth(t),
                Auth::Header(n, v) => rb.header(n.clone(), v.clone()),
                Auth::OAuth2(o) => rb.bearer_auth(o.token(&self.inner.http).await?),
            };
            for (n, v) in self.inner.headers.iter().chain(extra) {
                rb = rb.header(n.clone(), v.clone());
            }
            if let Some(p) = &payload {
                rb = rb.header(CONTENT_TYPE, SCIM_JSON).body(p.clone());
            }
            let (outcome, retry_after, result) = match rb.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let text = match resp.text().await {
                        Ok(t) => t,
                        Err(e) => {
                            let d = decide(
                                &self.inner.retry,
                                Outcome::Transport,
                                None,
                                attempt,
                                idempotent,
                                rand::random(),
                            );
                            match d {
                                Decision::Retry(w) => {
                                    tokio::time::sleep(w).await;
                                    continue;
                                }
                                Decision::Stop => return Err(Error::Transport(e)),
                            }
                        }
                    };
                    if (200..300).contains(&status) || status == 304 {
                        return Ok(RawResponse {
                            status,
                            headers,
                            body: text,
                        });
                    }
                    // An expired OAuth token: fetch a new one and try once more.
                    if let (401, Auth::OAuth2(o), false) =
                        (status, &self.inner.auth, reauthenticated)
                    {
                        o.invalidate().await;
                        reauthenticated = true;
                        attempt -= 1;
                        continue;
                    }
                    let ra = headers
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
                    let outcome = if status >= 500
                        && status != 503
                        && crate::retry::body_says_throttled(&text)
                    {
                        Outcome::Throttled
                    } else {
                        Outcome::Status(status)
                    };
                    (outcome, ra, Err(Error::from_response(status, text)))
                }
                Err(e) => (Outcome::Transport, None, Err(Error::Transport(e))),
            };
            match decide(
                &self.inner.retry,
                outcome,
                retry_after,
                attempt,
                idempotent,
                rand::random(),
            ) {
                Decision::Retry(w) => tokio::time::sleep(w).await,
                Decision::Stop => return result,
            }
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        extra: &[(HeaderName, HeaderValue)],
        idempotent: bool,
    ) -> Result<T> {
        let r = self.send(method, path, body, extra, idempotent).await?;
        decode(&r.body)
    }

    fn endpoint(endpoint: &str) -> String {
        format!("/{}", endpoint.trim_matches('/'))
    }

    /// `POST /{endpoint}` (RFC 7644 §3.3). A POST is never blindly repeated: when the request
    /// fails without an answer (timeout, reset), the client first looks the resource up by
    /// `externalId`, then `userName` (Users) or `displayName` (Groups), and only creates it again
    /// when it is not there.
    pub async fn create<T: Serialize + DeserializeOwned>(
        &self,
        endpoint: &str,
        resource: &T,
    ) -> Result<T> {
        let body = serde_json::to_value(resource).map_err(|e| Error::Invalid(e.to_string()))?;
        let path = Self::endpoint(endpoint);
        match self
            .json(Method::POST, &path, Some(&body), &[], false)
            .await
        {
            Err(Error::Transport(e)) => {
                if let Some(found) = self.find_existing(&path, &body).await? {
                    return decode(&found.to_string());
                }
                match self
                    .json(Method::POST, &path, Some(&body), &[], false)
                    .await
                {
                    Err(Error::Transport(_)) => Err(Error::Transport(e)),
                    other => other,
                }
            }
            other => other,
        }
    }

    async fn find_existing(&self, path: &str, body: &Value) -> Result<Option<Value>> {
        for key in ["externalId", "userName", "displayName"] {
            let Some(v) = body.get(key).and_then(Value::as_str) else {
                continue;
            };
            if key == "displayName" && !path.eq_ignore_ascii_case("/Groups") {
                continue;
            }
            let f = Filter::compare(AttrPath::new(key), CompareOp::Eq, v);
            let page: ListResponse<Value> = self
                .list(path, &ListQuery::new().filter(f).count(2))
                .await?;
            if page.resources.len() == 1 {
                return Ok(page.resources.into_iter().next());
            }
        }
        Ok(None)
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
        let body = serde_json::to_value(resource).map_err(|e| Error::Invalid(e.to_string()))?;
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
        let body = serde_json::to_value(patch).map_err(|e| Error::Invalid(e.to_string()))?;
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

    /// `GET /{endpoint}?…`: one page.
    pub async fn list<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        q: &ListQuery,
    ) -> Result<ListResponse<T>> {
        self.json(
            Method::GET,
            &format!("{}{}", Self::endpoint(endpoint), q.to_query_string()),
            None,
            &[],
            true,
        )
        .await
    }

    /// `POST /{endpoint}/.search` (RFC 7644 §3.4.3): one page.
    pub async fn search<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        req: &SearchRequest,
    ) -> Result<ListResponse<T>> {
        let body = serde_json::to_value(req).map_err(|e| Error::Invalid(e.to_string()))?;
        self.json(
            Method::POST,
            &format!("{}/.search", Self::endpoint(endpoint)),
            Some(&body),
            &[],
            true,
        )
        .await
    }

    /// Every resource matching `q`, page by page, as a stream. Index paging steps `startIndex`
    /// by the page size; cursor paging (`q.cursor = Some("")`) follows `nextCursor`. A page
    /// that does not advance (the same cursor again, or an empty page before `totalResults`
    /// is reached) ends the stream with [`Error::Pagination`] instead of looping.
    pub fn list_all<T: DeserializeOwned + Send + 'static>(
        &self,
        endpoint: &str,
        q: ListQuery,
    ) -> impl Stream<Item = Result<T>> + Send + 'static {
        struct St<T> {
            client: Client,
            endpoint: String,
            q: ListQuery,
            buf: std::collections::VecDeque<T>,
            seen: u64,
            done: bool,
            cursors: std::collections::HashSet<String>,
        }
        // Page size and style from the profile when the caller did not choose.
        let mut q = q;
        if q.count.is_none() {
            q.count = Some(self.inner.profile.max_page_size());
        }
        if q.cursor.is_none()
            && q.start_index.is_none()
            && self.inner.profile.paging() == crate::profile::Paging::Cursor
        {
            q.cursor = Some(String::new());
        }
        let start = St::<T> {
            client: self.clone(),
            endpoint: endpoint.to_string(),
            q: ListQuery {
                start_index: if q.cursor.is_none() {
                    Some(q.start_index.unwrap_or(1))
                } else {
                    None
                },
                ..q
            },
            buf: Default::default(),
            seen: 0,
            done: false,
            cursors: Default::default(),
        };
        futures::stream::unfold(start, |mut st| async move {
            loop {
                if let Some(item) = st.buf.pop_front() {
                    return Some((Ok(item), st));
                }
                if st.done {
                    return None;
                }
                let page: ListResponse<T> = match st.client.list(&st.endpoint, &st.q).await {
                    Ok(p) => p,
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                };
                let n = page.resources.len() as u64;
                st.seen += n;
                st.buf.extend(page.resources);
                if st.q.cursor.is_some() {
                    match page.next_cursor {
                        Some(c) if !c.is_empty() => {
                            if !st.cursors.insert(c.clone()) {
                                st.done = true;
                                return Some((
                                    Err(Error::Pagination(format!(
                                        "the service returned cursor {c:?} twice"
                                    ))),
                                    st,
                                ));
                            }
                            st.q.cursor = Some(c);
                        }
                        _ => st.done = true,
                    }
                } else {
                    let total = page.total_results;
                    if st.seen >= total {
                        st.done = true;
                    } else if n == 0 {
                        st.done = true;
                        return Some((
                            Err(Error::Pagination(format!(
                                "empty page at startIndex {} before totalResults {total} was reached",
                                st.q.start_index.unwrap_or(1)
                            ))),
                            st,
                        ));
                    } else {
                        st.q.start_index = Some(st.q.start_index.unwrap_or(1) + n);
                    }
                }
            }
        })
    }

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

    /// Adds members to a group, in as many PATCH requests as the profile's limit needs.
    pub async fn add_members(&self, group_id: &str, member_ids: &[String]) -> Result<()> {
        let n = self.inner.profile.max_members_added_per_patch().max(1);
        for chunk in member_ids.chunks(n) {
            let values: Vec<Value> = chunk
                .iter()
                .map(|id| serde_json::json!({"value": id}))
                .collect();
            let op = PatchOperation::add(Some("members"), Value::Array(values));
            self.patch("Groups", group_id, &PatchOp::new(vec![op]), None)
                .await?;
        }
        Ok(())
    }

    /// Removes members from a group (`members[value eq "a" or value eq "b"]`), in as many
    /// PATCH requests as the profile's limit needs.
    pub async fn remove_members(&self, group_id: &str, member_ids: &[String]) -> Result<()> {
        let n = self.inner.profile.max_members_removed_per_patch().max(1);
        for chunk in member_ids.chunks(n) {
            let filter = chunk
                .iter()
                .map(|id| Filter::compare(AttrPath::new("value"), CompareOp::Eq, id.as_str()))
                .reduce(Filter::or)
                .expect("chunks are not empty");
            let path = scim_core::PatchPath {
                attr: AttrPath::new("members"),
                filter: Some(filter),
            };
            let op = PatchOperation::remove(&path.to_string());
            self.patch("Groups", group_id, &PatchOp::new(vec![op]), None)
                .await?;
        }
        Ok(())
    }

    /// Deprovisions a user the safe way: `active: false` (the account and its data stay), or
    /// DELETE where the profile says DELETE only deactivates.
    pub async fn deactivate_user(&self, id: &str) -> Result<()> {
        if self.inner.profile.delete_deactivates() {
            return self.delete("Users", id).await;
        }
        let op = PatchOperation::replace(Some("active"), Value::Bool(false));
        self.patch("Users", id, &PatchOp::new(vec![op]), None)
            .await
            .map(|_| ())
    }

    /// Runs bulk operations (RFC 7644 §3.7), split into requests of the target's
    /// `maxOperations`; returns every operation's result in order. Fails with
    /// [`Error::Invalid`] when the profile has no bulk support (or, for POST-only targets such
    /// as Entra ID's `/bulkUpload`, for other methods). A `202 Accepted` answer (asynchronous
    /// processing) contributes no results.
    pub async fn bulk(
        &self,
        ops: Vec<BulkOperation>,
        fail_on_errors: Option<u32>,
    ) -> Result<Vec<BulkOperationResponse>> {
        let Some(b) = self.inner.profile.bulk() else {
            return Err(Error::Invalid(format!(
                "the {} profile has no bulk endpoint",
                self.inner.profile.name()
            )));
        };
        if b.post_only && ops.iter().any(|o| !o.method.eq_ignore_ascii_case("POST")) {
            return Err(Error::Invalid(format!(
                "{} accepts only POST bulk operations",
                b.path
            )));
        }
        let mut out = Vec::with_capacity(ops.len());
        for chunk in ops.chunks(b.max_operations.max(1)) {
            let mut req = BulkRequest::new(chunk.to_vec());
            req.fail_on_errors = fail_on_errors;
            let body = serde_json::to_value(&req).map_err(|e| Error::Invalid(e.to_string()))?;
            let r = self
                .send(Method::POST, &b.path, Some(&body), &[], false)
                .await?;
            if r.status == 202 || r.body.trim().is_empty() {
                continue;
            }
            let resp: BulkResponse = decode(&r.body)?;
            out.extend(resp.operations);
        }
        Ok(out)
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
