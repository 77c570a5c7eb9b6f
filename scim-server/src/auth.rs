//! Authentication (RFC 7644 §2): bearer tokens mapped to tenants, and OAuth2 JWTs.
//!
//! No endpoint is open without credentials. Tokens are stored as SHA-256 hashes and compared in
//! constant time; a token is never logged. A missing or wrong credential is `401` with
//! `WWW-Authenticate: Bearer realm="SCIM"` and a SCIM error body.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use scim_core::ScimError;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::ScimState;
use crate::store::Store;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant whose data the caller sees.
    pub tenant: String,
    /// The authenticated subject (a JWT `sub`), which `/Me` maps to a User's `userName`.
    pub subject: Option<String>,
}

/// Decides who a request comes from.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// Returns the principal for a bearer credential, or `None` when it is not accepted.
    async fn authenticate(&self, bearer: &str) -> Option<Principal>;

    /// Like [`Authenticator::authenticate`], but tells a credential that is not accepted
    /// (`Ok(None)`, answered `401`) from one that could not be checked because a backend
    /// failed (`Err`, answered `503` with `Retry-After`: the caller should retry, not drop its
    /// credential).
    async fn check(&self, bearer: &str) -> Result<Option<Principal>, crate::store::StoreError> {
        Ok(self.authenticate(bearer).await)
    }
}

/// Hex SHA-256 of a token, as stored.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token (256 bits, URL-safe base64).
pub fn generate_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Static tokens given in configuration, plus tokens stored (hashed) in the database.
pub struct TokenAuthenticator {
    configured: Vec<([u8; 32], String)>,
    store: Option<Arc<dyn Store>>,
}

impl TokenAuthenticator {
    /// Tokens from configuration: `(token, tenant)`; and, optionally, the store's token table.
    pub fn new(tokens: &[(String, String)], store: Option<Arc<dyn Store>>) -> Self {
        let configured = tokens
            .iter()
            .map(|(t, tenant)| (Sha256::digest(t.as_bytes()).into(), tenant.clone()))
            .collect();
        TokenAuthenticator { configured, store }
    }
}

#[async_trait]
impl Authenticator for TokenAuthenticator {
    async fn authenticate(&self, bearer: &str) -> Option<Principal> {
        self.check(bearer).await.ok().flatten()
    }

    async fn check(&self, bearer: &str) -> Result<Option<Principal>, crate::store::StoreError> {
        let digest: [u8; 32] = Sha256::digest(bearer.as_bytes()).into();
        // Compare against every configured token without stopping early.
        let mut found: Option<&str> = None;
        for (h, tenant) in &self.configured {
            if bool::from(h.ct_eq(&digest)) {
                found = Some(tenant);
            }
        }
        if let Some(t) = found {
            return Ok(Some(Principal {
                tenant: t.to_string(),
                subject: None,
            }));
        }
        let Some(store) = self.store.as_ref() else {
            return Ok(None);
        };
        match store.token_tenant(&hex(&digest)).await {
            Ok(tenant) => Ok(tenant.map(|tenant| Principal {
                tenant,
                subject: None,
            })),
            Err(e) => {
                tracing::error!(error = %e, "token lookup failed");
                Err(e)
            }
        }
    }
}

/// Tries several authenticators in order.
pub struct AnyOf(pub Vec<Arc<dyn Authenticator>>);

#[async_trait]
impl Authenticator for AnyOf {
    async fn authenticate(&self, bearer: &str) -> Option<Principal> {
        for a in &self.0 {
            if let Some(p) = a.authenticate(bearer).await {
                return Some(p);
            }
        }
        None
    }

    async fn check(&self, bearer: &str) -> Result<Option<Principal>, crate::store::StoreError> {
        let mut failure = None;
        for a in &self.0 {
            match a.check(bearer).await {
                Ok(Some(p)) => return Ok(Some(p)),
                Ok(None) => {}
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
}

/// An OAuth2 access-token (JWT) validator: signature by configured keys, `iss`, `aud`, `exp`.
pub struct JwtAuthenticator {
    issuers: Vec<JwtIssuer>,
}

/// One trusted issuer.
#[derive(Clone)]
pub struct JwtIssuer {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Verification key.
    pub key: jsonwebtoken::DecodingKey,
    /// Accepted algorithms.
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    /// The tenant this issuer's tokens map to.
    pub tenant: String,
}

impl std::fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl JwtAuthenticator {
    /// A validator for the given issuers.
    pub fn new(issuers: Vec<JwtIssuer>) -> Self {
        JwtAuthenticator { issuers }
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: Option<String>,
}

#[async_trait]
impl Authenticator for JwtAuthenticator {
    async fn authenticate(&self, bearer: &str) -> Option<Principal> {
        if bearer.split('.').count() != 3 {
            return None;
        }
        for iss in &self.issuers {
            let mut v = jsonwebtoken::Validation::new(*iss.algorithms.first()?);
            v.algorithms = iss.algorithms.clone();
            v.set_issuer(&[&iss.issuer]);
            v.set_audience(&[&iss.audience]);
            v.set_required_spec_claims(&["exp", "iss", "aud"]);
            if let Ok(data) = jsonwebtoken::decode::<Claims>(bearer, &iss.key, &v) {
                return Some(Principal {
                    tenant: iss.tenant.clone(),
                    subject: data.claims.sub,
                });
            }
        }
        None
    }
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::from(ScimError::new(401, None, detail))
        .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"SCIM\"")
}

/// Middleware: authenticates the request and stores the [`Principal`] in its extensions.
pub async fn require_auth(
    State(state): State<ScimState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header_value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(value) = header_value else {
        return Err(unauthorized(
            "authentication required: send Authorization: Bearer <token>",
        ));
    };
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => return Err(unauthorized("unsupported authorization scheme: use Bearer")),
    };
    if token.is_empty() {
        return Err(unauthorized("empty bearer token"));
    }
    match state.auth().check(token).await {
        Ok(Some(p)) => {
            if let Some(slot) = req.extensions().get::<crate::observe::TenantSlot>() {
                slot.set(&p.tenant);
            }
            req.extensions_mut().insert(p);
            Ok(next.run(req).await)
        }
        Ok(None) => Err(unauthorized("invalid credentials")),
        // The credential could not be checked: not the caller's fault, and not a reason for
        // an identity provider to think its token was revoked.
        Err(e) => Err(crate::error::ApiError::from(match e {
            crate::store::StoreError::Busy => crate::store::StoreError::Busy,
            other => crate::store::StoreError::Backend(other.to_string()),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header};

    fn issuer() -> JwtIssuer {
        JwtIssuer {
            issuer: "https://sts.example/".into(),
            audience: "api://scim".into(),
            key: DecodingKey::from_secret(b"secret"),
            algorithms: vec![Algorithm::HS256],
            tenant: "acme".into(),
        }
    }

    fn token(claims: serde_json::Value, secret: &[u8]) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn jwt_checks_signature_issuer_audience_and_expiry() {
        let auth = JwtAuthenticator::new(vec![issuer()]);
        let exp = chrono::Utc::now().timestamp() + 600;
        let good = serde_json::json!({"iss": "https://sts.example/", "aud": "api://scim", "exp": exp, "sub": "bjensen"});
        let p = auth
            .authenticate(&token(good.clone(), b"secret"))
            .await
            .unwrap();
        assert_eq!(
            p,
            Principal {
                tenant: "acme".into(),
                subject: Some("bjensen".into())
            }
        );
        assert!(
            auth.authenticate(&token(good.clone(), b"other"))
                .await
                .is_none(),
            "bad signature"
        );
        let mut c = good.clone();
        c["iss"] = "https://evil/".into();
        assert!(
            auth.authenticate(&token(c, b"secret")).await.is_none(),
            "wrong issuer"
        );
        let mut c = good.clone();
        c["aud"] = "api://other".into();
        assert!(
            auth.authenticate(&token(c, b"secret")).await.is_none(),
            "wrong audience"
        );
        let mut c = good.clone();
        c["exp"] = (chrono::Utc::now().timestamp() - 3600).into();
        assert!(
            auth.authenticate(&token(c, b"secret")).await.is_none(),
            "expired"
        );
        let mut c = good;
        c.as_object_mut().unwrap().remove("exp");
        assert!(
            auth.authenticate(&token(c, b"secret")).await.is_none(),
            "exp is required"
        );
        assert!(auth.authenticate("not.a.jwt").await.is_none());
        assert!(auth.authenticate("opaque-token").await.is_none());
        // `alg: none` is never accepted.
        let none = format!("{}.{}.", "eyJhbGciOiJub25lIn0", "eyJzdWIiOiJ4In0");
        assert!(auth.authenticate(&none).await.is_none());
    }

    #[tokio::test]
    async fn static_tokens_map_to_tenants() {
        let auth = TokenAuthenticator::new(
            &[("t1".into(), "a".into()), ("t2".into(), "b".into())],
            None,
        );
        assert_eq!(auth.authenticate("t2").await.unwrap().tenant, "b");
        assert!(auth.authenticate("t3").await.is_none());
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(generate_token(), generate_token());
    }
}
