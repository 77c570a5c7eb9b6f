//! Authentication: none, a static bearer token, a custom header, or OAuth 2.0 client
//! credentials (RFC 6749 §4.4) with a cached token.
//!
//! Secrets never reach `Debug` output or error values: [`Auth`] and [`OAuth2`] print no token,
//! secret or header value, and a failed token request becomes [`Error::Token`] with the
//! endpoint's `error` / `error_description` only, never the raw response body (which holds
//! the `access_token` when the failure is in another field).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use serde_json::Value;
use tokio::sync::Mutex;

use super::form_params;
use super::transport::{read_body, BodyError};
use crate::error::{Error, Result};

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
            .field("client_secret", &"***")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Tokens are cached for at most this long, whatever `expires_in` says.
const MAX_TOKEN_LIFE: Duration = Duration::from_secs(24 * 3600);
/// `expires_in` when the token endpoint does not send one.
const DEFAULT_TOKEN_LIFE: Duration = Duration::from_secs(3600);
/// How much of an OAuth error field is kept.
const ERROR_FIELD_CHARS: usize = 200;

impl OAuth2 {
    pub(super) fn new(
        token_url: String,
        client_id: String,
        client_secret: String,
        scope: Option<String>,
    ) -> OAuth2 {
        OAuth2 {
            token_url,
            client_id,
            client_secret,
            scope,
            cached: Mutex::new(None),
        }
    }

    /// The cached token, or a new one from the token endpoint.
    pub(super) async fn token(&self, http: &reqwest::Client, max_bytes: u64) -> Result<String> {
        let mut cached = self.cached.lock().await;
        if let Some((t, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let mut form = vec![
            ("grant_type", Some("client_credentials".to_string())),
            ("client_id", Some(self.client_id.clone())),
            ("client_secret", Some(self.client_secret.clone())),
        ];
        if let Some(s) = &self.scope {
            form.push(("scope", Some(s.clone())));
        }
        let resp = http
            .post(&self.token_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(form_params(&form))
            .send()
            .await
            .map_err(Error::Transport)?;
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            return Err(self.token_error(
                Some(status),
                "the token endpoint answered with a redirect, which is not followed".into(),
            ));
        }
        let body = match read_body(resp, max_bytes).await {
            Ok(b) => b,
            Err(BodyError::Transport(e)) => return Err(Error::Transport(e)),
            Err(BodyError::TooLarge) => {
                return Err(self.token_error(
                    Some(status),
                    format!("the token response is larger than {max_bytes} bytes"),
                ))
            }
        };
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        // The body may hold the token: it is dropped here, and only chosen fields are kept.
        drop(body);
        if !(200..300).contains(&status) {
            return Err(self.token_error(Some(status), oauth_error_summary(json.as_ref())));
        }
        let (token, life) = parse_token_response(json.as_ref())
            .map_err(|m| self.token_error(Some(status), m.to_string()))?;
        // Refresh a minute early (or at half-life for short tokens).
        let life = life.min(MAX_TOKEN_LIFE);
        let until = Instant::now() + life.saturating_sub(Duration::from_secs(60).min(life / 2));
        *cached = Some((token.clone(), until));
        Ok(token)
    }

    pub(super) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// An [`Error::Token`] whose message cannot carry the client secret.
    fn token_error(&self, status: Option<u16>, message: String) -> Error {
        let message = if self.client_secret.is_empty() {
            message
        } else {
            message.replace(&self.client_secret, "***")
        };
        Error::Token { status, message }
    }
}

/// `error` and `error_description` of an OAuth error response (RFC 6749 §5.2), shortened.
fn oauth_error_summary(json: Option<&Value>) -> String {
    let field = |k: &str| {
        json.and_then(|j| j.get(k))
            .and_then(Value::as_str)
            .map(|s| s.chars().take(ERROR_FIELD_CHARS).collect::<String>())
    };
    match (field("error"), field("error_description")) {
        (Some(e), Some(d)) => format!("token endpoint error {e}: {d}"),
        (Some(e), None) => format!("token endpoint error {e}"),
        (None, Some(d)) => format!("token endpoint error: {d}"),
        (None, None) => "the token endpoint refused the request (no OAuth error body)".into(),
    }
}

/// The access token and its lifetime. Errors name what is wrong, never a value.
fn parse_token_response(json: Option<&Value>) -> std::result::Result<(String, Duration), &str> {
    let Some(obj) = json.and_then(Value::as_object) else {
        return Err("the token response is not a JSON object");
    };
    let token = match obj.get("access_token") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        _ => return Err("the token response has no access_token string"),
    };
    let life = match obj.get("expires_in") {
        None | Some(Value::Null) => DEFAULT_TOKEN_LIFE,
        Some(v) => expires_in(v).ok_or(
            "the token response's expires_in is neither a number of seconds nor a string holding one",
        )?,
    };
    Ok((token, life))
}

/// `expires_in` as a JSON number (`3600`, `3600.0`) or a string (`"3600"`), as some identity
/// providers send it.
fn expires_in(v: &Value) -> Option<Duration> {
    let secs = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).unwrap_or(MAX_TOKEN_LIFE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expires_in_forms() {
        assert_eq!(expires_in(&json!(3600)), Some(Duration::from_secs(3600)));
        assert_eq!(expires_in(&json!("3600")), Some(Duration::from_secs(3600)));
        assert_eq!(expires_in(&json!(" 60 ")), Some(Duration::from_secs(60)));
        assert_eq!(expires_in(&json!(1.5)), Some(Duration::from_millis(1500)));
        assert_eq!(expires_in(&json!(u64::MAX)), Some(MAX_TOKEN_LIFE));
        assert_eq!(expires_in(&json!("soon")), None);
        assert_eq!(expires_in(&json!(-1)), None);
        assert_eq!(expires_in(&json!(true)), None);
    }

    #[test]
    fn token_response_errors_carry_no_values() {
        let tok = json!({"access_token": "AT-SECRET", "expires_in": {"x": "AT-SECRET"}});
        let e = parse_token_response(Some(&tok)).unwrap_err();
        assert!(!e.contains("AT-SECRET"), "{e}");
        let tok = json!({"access_token": "AT", "expires_in": "120"});
        assert_eq!(
            parse_token_response(Some(&tok)).unwrap(),
            ("AT".to_string(), Duration::from_secs(120))
        );
        assert!(parse_token_response(Some(&json!({"access_token": 5}))).is_err());
        let s = oauth_error_summary(Some(
            &json!({"error": "invalid_client", "access_token": "AT-SECRET"}),
        ));
        assert_eq!(s, "token endpoint error invalid_client");
    }
}
