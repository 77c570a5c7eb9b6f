//! One request: rate limit, concurrency limit, authentication, redirects (same host only,
//! when allowed), the response size limit, and retries decided by [`crate::retry::decide`].

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::auth::Auth;
use super::{decode, Client, RawResponse, SCIM_JSON};
use crate::error::{Error, Result};
use crate::retry::{body_says_throttled, decide, parse_retry_after, Decision, Outcome};

/// Most redirects followed for one request (when same-host redirects are allowed).
const MAX_REDIRECTS: usize = 5;

/// Why a body could not be read.
pub(super) enum BodyError {
    /// It is larger than the limit (reading stopped there).
    TooLarge,
    /// The connection failed while reading.
    Transport(reqwest::Error),
}

/// Reads a response body chunk by chunk, stopping with [`BodyError::TooLarge`] as soon as
/// more than `limit` bytes arrived (or when `Content-Length` announces more): a large or
/// endless body is never buffered whole.
pub(super) async fn read_body(
    mut resp: reqwest::Response,
    limit: u64,
) -> std::result::Result<Vec<u8>, BodyError> {
    let announced = resp.content_length();
    if announced.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let cap = announced.unwrap_or(0).min(64 * 1024);
    let mut buf = Vec::with_capacity(usize::try_from(cap).unwrap_or(0));
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if buf.len() as u64 + chunk.len() as u64 > limit {
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// A failed attempt, with what the retry policy needs to decide about it.
pub(super) struct Failure {
    /// The error returned when no retry follows.
    pub(super) error: Error,
    /// What happened, for [`decide`]; `None` for failures that no retry can fix (a redirect
    /// not followed, a body over the limit, a failed token request, an invalid request).
    pub(super) outcome: Option<Outcome>,
    /// `Retry-After` of the answer.
    pub(super) retry_after: Option<Duration>,
}

impl Failure {
    fn fatal(error: Error) -> Failure {
        Failure {
            error,
            outcome: None,
            retry_after: None,
        }
    }
    fn transport(e: reqwest::Error) -> Failure {
        Failure {
            error: Error::Transport(e),
            outcome: Some(Outcome::Transport),
            retry_after: None,
        }
    }
}

/// True for the statuses that carry a `Location` to go to (`304` is not a redirect).
fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status) && status != 304
}

/// Same scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

impl Client {
    /// Sends one request with retries, rate limiting and the concurrency limit; returns the
    /// response when its status is 2xx or 304, else an error ([`Error::Http`] for an error
    /// status, [`Error::Redirect`] for a redirect not followed). The escape hatch for anything
    /// the typed methods do not cover.
    ///
    /// With `idempotent = false` (a POST that creates something), only `429` is retried: a
    /// `503`, another 5xx or a failure without an answer may have been processed, so it is
    /// returned (see [`Client::create`] for the lookup that makes a repeated create safe).
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        extra: &[(HeaderName, HeaderValue)],
        idempotent: bool,
    ) -> Result<RawResponse> {
        let payload = body.map(|b| b.to_string());
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let f = match self
                .send_once(&method, path_and_query, payload.as_deref(), extra)
                .await
            {
                Ok(r) => return Ok(r),
                Err(f) => f,
            };
            let Some(outcome) = f.outcome else {
                return Err(f.error);
            };
            match decide(
                &self.inner.retry,
                outcome,
                f.retry_after,
                attempt,
                idempotent,
                rand::random(),
            ) {
                Decision::Retry(w) => tokio::time::sleep(w).await,
                Decision::Stop => return Err(f.error),
            }
        }
    }

    pub(super) async fn json<T: DeserializeOwned>(
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

    /// One attempt, without retries (but with a new OAuth token after a `401`, and with
    /// same-host redirects when allowed).
    pub(super) async fn send_once(
        &self,
        method: &Method,
        path_and_query: &str,
        payload: Option<&str>,
        extra: &[(HeaderName, HeaderValue)],
    ) -> std::result::Result<RawResponse, Failure> {
        let inner = &*self.inner;
        let mut url = Url::parse(&format!("{}{}", inner.base, path_and_query))
            .map_err(|e| Failure::fatal(Error::Invalid(format!("URL: {e}"))))?;
        let mut reauthenticated = false;
        let mut redirects = 0usize;
        loop {
            if let Some(l) = &inner.limiter {
                l.acquire().await;
            }
            let _permit = match &inner.concurrency {
                Some(s) => Some(
                    s.acquire()
                        .await
                        .map_err(|e| Failure::fatal(Error::Invalid(e.to_string())))?,
                ),
                None => None,
            };
            let mut rb = inner
                .http
                .request(method.clone(), url.clone())
                .header(ACCEPT, SCIM_JSON);
            rb = match &inner.auth {
                Auth::None => rb,
                Auth::Bearer(t) => rb.bearer_auth(t),
                Auth::Header(n, v) => rb.header(n.clone(), v.clone()),
                Auth::OAuth2(o) => rb.bearer_auth(
                    o.token(&inner.http, inner.max_response_bytes)
                        .await
                        .map_err(Failure::fatal)?,
                ),
            };
            for (n, v) in inner.headers.iter().chain(extra) {
                rb = rb.header(n.clone(), v.clone());
            }
            if let Some(p) = payload {
                rb = rb.header(CONTENT_TYPE, SCIM_JSON).body(p.to_string());
            }
            let resp = rb.send().await.map_err(Failure::transport)?;
            let status = resp.status().as_u16();
            if resp.url() != &url {
                // Only a caller-supplied reqwest::Client follows redirects by itself.
                return Err(Failure::fatal(Error::Redirect {
                    status,
                    location: Some(resp.url().to_string()),
                    reason: "the reqwest::Client given to ClientBuilder::http_client followed a \
                             redirect; build it with reqwest::redirect::Policy::none()"
                        .into(),
                }));
            }
            let headers = resp.headers().clone();
            if is_redirect(status) {
                let location = headers
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                match self.redirect_target(method, status, &url, location.as_deref(), redirects) {
                    Ok(next) => {
                        redirects += 1;
                        url = next;
                        continue;
                    }
                    Err(reason) => {
                        return Err(Failure::fatal(Error::Redirect {
                            status,
                            location,
                            reason,
                        }))
                    }
                }
            }
            let text = match read_body(resp, inner.max_response_bytes).await {
                Ok(b) => match String::from_utf8(b) {
                    Ok(s) => s,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                },
                Err(BodyError::Transport(e)) => return Err(Failure::transport(e)),
                Err(BodyError::TooLarge) => {
                    return Err(Failure::fatal(Error::ResponseTooLarge {
                        status,
                        limit: inner.max_response_bytes,
                    }))
                }
            };
            if (200..300).contains(&status) || status == 304 {
                return Ok(RawResponse {
                    status,
                    headers,
                    body: text,
                });
            }
            // An expired OAuth token: fetch a new one and try once more (a 401 was not
            // processed, so this is safe for any method).
            if let (401, Auth::OAuth2(o), false) = (status, &inner.auth, reauthenticated) {
                o.invalidate().await;
                reauthenticated = true;
                continue;
            }
            let retry_after = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
            let outcome = if status >= 500 && status != 503 && body_says_throttled(&text) {
                Outcome::Throttled
            } else {
                Outcome::Status(status)
            };
            return Err(Failure {
                error: Error::from_response(status, text),
                outcome: Some(outcome),
                retry_after,
            });
        }
    }

    /// Where a redirect may be followed to, or why it is not.
    fn redirect_target(
        &self,
        method: &Method,
        status: u16,
        from: &Url,
        location: Option<&str>,
        done: usize,
    ) -> std::result::Result<Url, String> {
        if !self.inner.same_host_redirects {
            return Err(
                "redirects are not followed (ClientBuilder::allow_same_host_redirects)".into(),
            );
        }
        let Some(location) = location else {
            return Err("the redirect has no Location".into());
        };
        let next = from
            .join(location)
            .map_err(|e| format!("the Location is not a URL: {e}"))?;
        if !same_origin(from, &next) {
            return Err(format!(
                "it leads away from {} (only same-host redirects are followed)",
                from.origin().ascii_serialization()
            ));
        }
        let keeps_method = matches!(status, 307 | 308);
        let any = matches!(status, 301..=303);
        if !(keeps_method || any && (method == Method::GET || method == Method::HEAD)) {
            return Err(if any {
                format!("HTTP {status} would turn the {method} into a GET")
            } else {
                format!("HTTP {status} is not a redirect the client follows")
            });
        }
        if done >= MAX_REDIRECTS {
            return Err(format!("more than {MAX_REDIRECTS} redirects"));
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(
            &u("https://a.example/x"),
            &u("https://A.example:443/y")
        ));
        assert!(!same_origin(
            &u("https://a.example/x"),
            &u("http://a.example/x")
        ));
        assert!(!same_origin(&u("http://a:80/x"), &u("http://a:8080/x")));
        assert!(!same_origin(&u("http://a/x"), &u("http://b/x")));
        assert!(is_redirect(302) && !is_redirect(304) && !is_redirect(200));
    }

    #[test]
    fn only_same_host_redirects_that_keep_the_method() {
        let c = Client::builder("http://h:1/scim")
            .allow_same_host_redirects(true)
            .build()
            .unwrap();
        let from = Url::parse("http://h:1/scim/Users").unwrap();
        let go = |m: Method, s: u16, l: &str| c.redirect_target(&m, s, &from, Some(l), 0);
        assert_eq!(
            go(Method::GET, 302, "/v2/Users").unwrap().as_str(),
            "http://h:1/v2/Users"
        );
        assert!(go(Method::POST, 308, "/v2/Users").is_ok());
        assert!(go(Method::POST, 302, "/v2/Users")
            .unwrap_err()
            .contains("turn the POST into a GET"));
        assert!(go(Method::GET, 302, "http://evil:1/").is_err());
        assert!(go(Method::GET, 302, "http://h:2/").is_err());
        assert!(go(Method::GET, 300, "/x").is_err());
        assert!(c
            .redirect_target(&Method::GET, 302, &from, Some("/x"), MAX_REDIRECTS)
            .is_err());
        let off = Client::builder("http://h:1/scim").build().unwrap();
        assert!(off
            .redirect_target(&Method::GET, 302, &from, Some("/x"), 0)
            .is_err());
    }
}
