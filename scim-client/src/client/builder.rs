//! [`ClientBuilder`]: connection settings, authentication, limits. Settings are checked in
//! [`ClientBuilder::build`], which returns [`Error::Invalid`] instead of panicking.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use tokio::sync::{Mutex, Semaphore};

use super::auth::{Auth, OAuth2};
use super::rate::RateLimiter;
use super::{header_names, Client, Inner, DEFAULT_MAX_RESPONSE_BYTES};
use crate::error::{Error, Result};
use crate::profile::{GenericRfc, Profile};
use crate::retry::RetryPolicy;

/// Builds a [`Client`].
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
    same_host_redirects: bool,
    max_response_bytes: u64,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be credentials: only their names are printed.
        f.debug_struct("ClientBuilder")
            .field("base", &self.base)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("user_agent", &self.user_agent)
            .field(
                "http",
                &self.http.as_ref().map(|_| "custom reqwest::Client"),
            )
            .field("retry", &self.retry)
            .field("rate", &self.rate)
            .field("concurrency", &self.concurrency)
            .field("headers", &header_names(&self.headers))
            .field("profile", &self.profile.name())
            .field("same_host_redirects", &self.same_host_redirects)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
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
            same_host_redirects: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let n = HeaderName::try_from(name)
        .map_err(|e| Error::Invalid(format!("header name {name:?}: {e}")))?;
    // The error names neither the value nor where it is wrong: it may be a credential.
    let v = HeaderValue::try_from(value).map_err(|e| Error::Invalid(format!("header {n}: {e}")))?;
    Ok((n, v))
}

impl ClientBuilder {
    /// Authenticates with a static bearer token.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::Bearer(token.into());
        self
    }
    /// Authenticates with OAuth 2.0 client credentials against `token_url`. The token
    /// response's `expires_in` may be a number or a string (`"3600"`).
    pub fn oauth2_client_credentials(
        mut self,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        scope: Option<&str>,
    ) -> Self {
        self.auth = Auth::OAuth2(Arc::new(OAuth2::new(
            token_url.into(),
            client_id.into(),
            client_secret.into(),
            scope.map(str::to_string),
        )));
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
    /// Authenticates with a custom header (`X-Api-Key: …`). The header is sent only to the
    /// base URL's host: redirects to other hosts are never followed.
    pub fn header_auth(mut self, name: &str, value: &str) -> Result<Self> {
        let (n, mut v) = header(name, value)?;
        v.set_sensitive(true);
        self.auth = Auth::Header(n, v);
        Ok(self)
    }
    /// Adds a header to every request (e.g. a target's required `User-Agent` or API version).
    pub fn default_header(mut self, name: &str, value: &str) -> Result<Self> {
        self.headers.push(header(name, value)?);
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
    /// Uses this `reqwest::Client` (its own timeouts, TLS and redirect settings apply). Build
    /// it with `reqwest::redirect::Policy::none()`: a client that follows redirects itself
    /// sends custom headers such as an API key to whatever host a redirect names, and turns a
    /// redirected POST into a GET. When a response shows that the given client followed a
    /// redirect, the call fails with [`Error::Redirect`].
    pub fn http_client(mut self, c: reqwest::Client) -> Self {
        self.http = Some(c);
        self
    }
    /// Retry policy (default: 5 attempts, 200 ms base, 60 s cap).
    pub fn retry(mut self, p: RetryPolicy) -> Self {
        self.retry = p;
        self
    }
    /// Client-side rate limit: `per_second` on average, bursts of `burst` (at least 1).
    /// `per_second` must be finite and above 0, else [`ClientBuilder::build`] fails with
    /// [`Error::Invalid`].
    pub fn rate_limit(mut self, per_second: f64, burst: u32) -> Self {
        self.rate = Some((per_second, f64::from(burst.max(1))));
        self
    }
    /// Client-side rate limit per minute (e.g. Slack's 600 writes/minute); checked like
    /// [`ClientBuilder::rate_limit`].
    pub fn rate_limit_per_minute(self, per_minute: f64, burst: u32) -> Self {
        self.rate_limit(per_minute / 60.0, burst)
    }
    /// Most requests in flight at once (at least 1).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }
    /// Follows redirects whose target has the same scheme, host and port as the request
    /// (default: off, a `3xx` answer is [`Error::Redirect`]). Redirects to another host are
    /// never followed, so credentials never leave the configured host. `GET` and `HEAD`
    /// follow `301`, `302`, `303`, `307` and `308`; other methods only `307` and `308`, which
    /// keep the method and body (a POST is never turned into a GET).
    pub fn allow_same_host_redirects(mut self, allow: bool) -> Self {
        self.same_host_redirects = allow;
        self
    }
    /// Largest response body read, in bytes (default 32 MiB). A larger body is not buffered:
    /// reading stops at the limit with [`Error::ResponseTooLarge`]. Must be at least 1.
    pub fn max_response_bytes(mut self, n: u64) -> Self {
        self.max_response_bytes = n;
        self
    }

    /// Builds the client; fails with [`Error::Invalid`] for a base URL that is not http(s),
    /// a rate limit that is not a positive finite number, a concurrency limit above
    /// [`Semaphore::MAX_PERMITS`], or a response size limit of 0.
    pub fn build(self) -> Result<Client> {
        let base = self.base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Invalid(format!(
                "base URL must start with http:// or https://, not {base:?}"
            )));
        }
        reqwest::Url::parse(&base)
            .map_err(|e| Error::Invalid(format!("base URL {base:?}: {e}")))?;
        let limiter = match self.rate {
            Some((r, b)) => Some(RateLimiter::new(r, b)?),
            None => None,
        };
        let concurrency = match self.concurrency {
            Some(n) if n > Semaphore::MAX_PERMITS => {
                return Err(Error::Invalid(format!(
                    "max_concurrency {n} is above {}",
                    Semaphore::MAX_PERMITS
                )))
            }
            Some(n) => Some(Semaphore::new(n)),
            None => None,
        };
        if self.max_response_bytes == 0 {
            return Err(Error::Invalid(
                "max_response_bytes must be at least 1".into(),
            ));
        }
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(self.connect_timeout)
                .user_agent(self.user_agent)
                // Redirects are handled in the transport (same host only, when allowed).
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Invalid(e.to_string()))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                auth: self.auth,
                retry: self.retry,
                limiter,
                concurrency,
                headers: self.headers,
                profile: self.profile,
                capabilities: Mutex::new(None),
                same_host_redirects: self.same_host_redirects,
                max_response_bytes: self.max_response_bytes,
            }),
        })
    }
}
