//! JWKS (RFC 7517): an issuer's signing keys fetched from its `jwks_uri`, so that key rotation
//! (Entra ID rotates its keys regularly) needs no restart.
//!
//! - Keys are cached by `kid`. A token signed with an unknown `kid` triggers a refresh, at most
//!   once per [`MIN_REFRESH`] whatever tokens arrive (a flood of random `kid`s costs one fetch
//!   per interval); a cache older than [`MAX_AGE`] is refreshed on the next use.
//! - The fetch is bounded: [`FETCH_TIMEOUT`], at most [`MAX_BODY`] bytes, at most [`MAX_KEYS`]
//!   keys, no redirects. Only asymmetric keys are taken (RSA → RS256, P-256 → ES256, P-384 →
//!   ES384, or the key's own `alg`); a symmetric (`oct`) key in a public JWKS is ignored.
//! - When the JWKS cannot be fetched and no cached key matches, the credential cannot be
//!   checked: the request is answered `503` with `Retry-After` (not `401`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Least time between two fetches.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);
/// A cache older than this is refreshed on the next use.
pub const MAX_AGE: Duration = Duration::from_secs(3600);
/// Fetch timeout.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS document read.
pub const MAX_BODY: usize = 256 * 1024;
/// Most keys kept.
pub const MAX_KEYS: usize = 64;

#[derive(Default)]
struct Cache {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Option<Instant>,
    tried: Option<Instant>,
}

/// The keys of one JWKS URL.
pub struct Jwks {
    url: String,
    client: reqwest::Client,
    cache: tokio::sync::Mutex<Cache>,
    min_refresh: Duration,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Jwks {
    /// Keys from `url` (`https://…`, or `http://` for a loopback test server).
    pub fn new(url: &str) -> Result<Jwks, String> {
        let loopback = url.starts_with("http://127.0.0.1")
            || url.starts_with("http://localhost")
            || url.starts_with("http://[::1]");
        if !url.starts_with("https://") && !loopback {
            return Err(format!("jwks_url must be https:// (got {url:?})"));
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Jwks {
            url: url.to_string(),
            client,
            cache: Default::default(),
            min_refresh: MIN_REFRESH,
        })
    }

    /// Changes the least time between two fetches (default [`MIN_REFRESH`]).
    pub fn with_min_refresh(mut self, d: Duration) -> Jwks {
        self.min_refresh = d;
        self
    }

    /// The key for `kid`: from the cache, or after a refresh when the `kid` is unknown or the
    /// cache is old. `Ok(None)`: no such key. `Err`: the keys could not be fetched and none is
    /// cached for this `kid`.
    pub async fn key(&self, kid: &str) -> Result<Option<(DecodingKey, Algorithm)>, String> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let fresh = cache
            .fetched
            .is_some_and(|t| now.duration_since(t) < MAX_AGE);
        let known = cache.keys.get(kid).cloned();
        if fresh && known.is_some() {
            return Ok(known);
        }
        let may_fetch = cache
            .tried
            .is_none_or(|t| now.duration_since(t) >= self.min_refresh);
        if !may_fetch {
            return Ok(known);
        }
        cache.tried = Some(now);
        match self.fetch().await {
            Ok(keys) => {
                cache.keys = keys;
                cache.fetched = Some(now);
                Ok(cache.keys.get(kid).cloned())
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "cannot fetch the JWKS");
                match known {
                    Some(k) => Ok(Some(k)),
                    None if cache.fetched.is_some() => Ok(None),
                    None => Err(e),
                }
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, (DecodingKey, Algorithm)>, String> {
        let mut resp = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("the JWKS is larger than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for jwk in set.keys.iter().take(MAX_KEYS) {
            let Some(kid) = &jwk.common.key_id else {
                continue;
            };
            let alg = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (_, AlgorithmParameters::OctetKey(_)) => continue,
                (Some(a), _) => match a.to_string().parse::<Algorithm>() {
                    Ok(a) => a,
                    Err(_) => continue,
                },
                (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                (None, AlgorithmParameters::EllipticCurve(p)) => match p.curve {
                    EllipticCurve::P256 => Algorithm::ES256,
                    EllipticCurve::P384 => Algorithm::ES384,
                    _ => continue,
                },
                (None, AlgorithmParameters::OctetKeyPair(_)) => Algorithm::EdDSA,
            };
            if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                continue;
            }
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid.clone(), (key, alg));
            }
        }
        Ok(keys)
    }
}
