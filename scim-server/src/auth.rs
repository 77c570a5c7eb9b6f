//! Authentication (RFC 7644 §2): bearer tokens mapped to tenants, and OAuth2 JWTs; and
//! authorization: what a credential may do ([`Access`]).
//!
//! No endpoint is open without credentials. Tokens are stored as SHA-256 hashes and compared in
//! constant time; a token is never logged. A missing or wrong credential is `401` with
//! `WWW-Authenticate: Bearer realm="SCIM"` and a SCIM error body; a credential that may not do
//! what it asks is `403`.
//!
//! - A static or stored token provisions its tenant, or only reads it when marked read-only.
//! - A JWT provisions only when its issuer's configured claim (`scp`, `roles`, …) holds one of
//!   the configured values ([`JwtGrant`]); read-only values give read access; any other valid
//!   token of the issuer may use `/Me` (and read the discovery endpoints) only. An issuer
//!   configured without a claim rule grants `/Me` only: provisioning is never implied by a
//!   valid signature.

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
    /// What the credential may do.
    pub access: Access,
    /// Who acts, for the audit trail: `token:<label or id>` or `jwt:<sub>` (never a secret).
    pub actor: String,
}

impl Principal {
    /// A principal that provisions `tenant`.
    pub fn provisioner(tenant: impl Into<String>, actor: impl Into<String>) -> Principal {
        Principal {
            tenant: tenant.into(),
            subject: None,
            access: Access::Provision,
            actor: actor.into(),
        }
    }
}

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read and write every resource of the tenant.
    Provision,
    /// Read (`GET`, `POST …/.search`) only.
    ReadOnly,
    /// `/Me` and the discovery endpoints only (an end-user token).
    MeOnly,
}

impl Access {
    /// Whether this access allows `method` on `path` (the path below the SCIM base).
    pub fn allows(self, method: &axum::http::Method, path: &str) -> bool {
        use axum::http::Method;
        let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let discovery = method == Method::GET
            && path
                .split('/')
                .any(|s| matches!(s, "ServiceProviderConfig" | "Schemas" | "ResourceTypes"));
        match self {
            Access::Provision => true,
            Access::ReadOnly => {
                method == Method::GET
                    || method == Method::HEAD
                    || (method == Method::POST && last == ".search")
            }
            Access::MeOnly => discovery || path.split('/').any(|s| s == "Me"),
        }
    }
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

/// A token given in configuration.
#[derive(Clone)]
pub struct ConfiguredToken {
    /// The token itself.
    pub token: String,
    /// Its tenant.
    pub tenant: String,
    /// Read-only: `GET` and `.search` only.
    pub read_only: bool,
}

impl std::fmt::Debug for ConfiguredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfiguredToken")
            .field("token", &"<redacted>")
            .field("tenant", &self.tenant)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// Static tokens given in configuration, plus tokens stored (hashed) in the database.
pub struct TokenAuthenticator {
    configured: Vec<([u8; 32], String, bool)>,
    store: Option<Arc<dyn Store>>,
    /// Last time each stored token's `last_used` was written (at most once a minute).
    touched: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl TokenAuthenticator {
    /// Tokens from configuration: `(token, tenant)`, all provisioning; and, optionally, the
    /// store's token table.
    pub fn new(tokens: &[(String, String)], store: Option<Arc<dyn Store>>) -> Self {
        let tokens: Vec<ConfiguredToken> = tokens
            .iter()
            .map(|(token, tenant)| ConfiguredToken {
                token: token.clone(),
                tenant: tenant.clone(),
                read_only: false,
            })
            .collect();
        Self::with_tokens(&tokens, store)
    }

    /// Tokens from configuration with their flags; and, optionally, the store's token table.
    pub fn with_tokens(tokens: &[ConfiguredToken], store: Option<Arc<dyn Store>>) -> Self {
        let configured = tokens
            .iter()
            .map(|t| {
                (
                    Sha256::digest(t.token.as_bytes()).into(),
                    t.tenant.clone(),
                    t.read_only,
                )
            })
            .collect();
        TokenAuthenticator {
            configured,
            store,
            touched: Default::default(),
        }
    }

    fn should_touch(&self, hash: &str) -> bool {
        let mut m = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        match m.get(hash) {
            Some(t) if now.duration_since(*t) < std::time::Duration::from_secs(60) => false,
            _ => {
                if m.len() > 10_000 {
                    m.clear();
                }
                m.insert(hash.to_string(), now);
                true
            }
        }
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
        let mut found: Option<(&str, bool, usize)> = None;
        for (i, (h, tenant, ro)) in self.configured.iter().enumerate() {
            if bool::from(h.ct_eq(&digest)) {
                found = Some((tenant, *ro, i));
            }
        }
        if let Some((t, ro, i)) = found {
            return Ok(Some(Principal {
                tenant: t.to_string(),
                subject: None,
                access: if ro {
                    Access::ReadOnly
                } else {
                    Access::Provision
                },
                actor: format!("token:config#{}", i + 1),
            }));
        }
        let Some(store) = self.store.as_ref() else {
            return Ok(None);
        };
        let hash = hex(&digest);
        match store.token_lookup(&hash).await {
            Ok(Some(info)) => {
                if self.should_touch(&hash) {
                    // Best effort: a failed `last_used` update must not refuse the request.
                    if let Err(e) = store.touch_token(&hash).await {
                        tracing::warn!(error = %e, token = %info.id, "cannot record token use");
                    }
                }
                Ok(Some(Principal {
                    tenant: info.tenant,
                    subject: None,
                    access: if info.read_only {
                        Access::ReadOnly
                    } else {
                        Access::Provision
                    },
                    actor: format!("token:{}", info.label.unwrap_or(info.id)),
                }))
            }
            Ok(None) => Ok(None),
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
    /// Verification keys.
    pub keys: JwtKeys,
    /// The tenant this issuer's tokens map to.
    pub tenant: String,
    /// Which tokens may provision or read; the others may use `/Me` only.
    pub grant: JwtGrant,
}

/// Where an issuer's verification keys come from.
#[derive(Clone)]
pub enum JwtKeys {
    /// One key and its algorithm (an HS256 secret or an RSA public key).
    Static(jsonwebtoken::DecodingKey, jsonwebtoken::Algorithm),
    /// Keys by `kid` from a JWKS URL (see [`crate::jwks`]).
    Jwks(Arc<crate::jwks::Jwks>),
}

impl JwtIssuer {
    /// An issuer.
    pub fn with_keys(
        issuer: &str,
        audience: &str,
        keys: JwtKeys,
        tenant: &str,
        grant: JwtGrant,
    ) -> JwtIssuer {
        JwtIssuer {
            issuer: issuer.into(),
            audience: audience.into(),
            keys,
            tenant: tenant.into(),
            grant,
        }
    }
}

/// Which of an issuer's tokens may provision: those whose `claim` holds one of `provision`
/// (read and write) or `read` (read-only). The claim may be a space-separated string (`scp`)
/// or an array of strings (`roles`). Without a claim every token gets [`Access::MeOnly`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtGrant {
    /// The claim to look at, e.g. `scp` or `roles`.
    pub claim: Option<String>,
    /// Values that grant provisioning.
    pub provision: Vec<String>,
    /// Values that grant read-only access.
    pub read: Vec<String>,
}

impl JwtGrant {
    /// Every token with `claim` holding `value` provisions.
    pub fn claim(claim: &str, value: &str) -> JwtGrant {
        JwtGrant {
            claim: Some(claim.into()),
            provision: vec![value.into()],
            read: Vec::new(),
        }
    }

    /// The access a token's claims give.
    pub fn access(&self, claims: &serde_json::Map<String, serde_json::Value>) -> Access {
        let Some(name) = &self.claim else {
            return Access::MeOnly;
        };
        let values: Vec<&str> = match claims.get(name) {
            Some(serde_json::Value::String(s)) => s.split_whitespace().collect(),
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => Vec::new(),
        };
        if values.iter().any(|v| self.provision.iter().any(|p| p == v)) {
            Access::Provision
        } else if values.iter().any(|v| self.read.iter().any(|p| p == v)) {
            Access::ReadOnly
        } else {
            Access::MeOnly
        }
    }
}

impl std::fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("tenant", &self.tenant)
            .field("grant", &self.grant)
            .finish_non_exhaustive()
    }
}

impl JwtAuthenticator {
    /// A validator for the given issuers.
    pub fn new(issuers: Vec<JwtIssuer>) -> Self {
        JwtAuthenticator { issuers }
    }
}

#[async_trait]
impl Authenticator for JwtAuthenticator {
    async fn authenticate(&self, bearer: &str) -> Option<Principal> {
        self.check(bearer).await.ok().flatten()
    }

    async fn check(&self, bearer: &str) -> Result<Option<Principal>, crate::store::StoreError> {
        if bearer.split('.').count() != 3 {
            return Ok(None);
        }
        let Ok(header) = jsonwebtoken::decode_header(bearer) else {
            return Ok(None);
        };
        let mut failure = None;
        for iss in &self.issuers {
            let (key, alg) = match &iss.keys {
                JwtKeys::Static(k, a) => (k.clone(), *a),
                JwtKeys::Jwks(jwks) => {
                    let Some(kid) = header.kid.as_deref() else {
                        continue;
                    };
                    match jwks.key(kid).await {
                        Ok(Some(k)) => k,
                        Ok(None) => continue,
                        Err(e) => {
                            failure = Some(crate::store::StoreError::Backend(format!(
                                "the keys of {} cannot be fetched: {e}",
                                iss.issuer
                            )));
                            continue;
                        }
                    }
                }
            };
            // The token's own `alg` must be the key's: never `none`, never HS256 with a public key.
            if header.alg != alg {
                continue;
            }
            let mut v = jsonwebtoken::Validation::new(alg);
            v.set_issuer(&[&iss.issuer]);
            v.set_audience(&[&iss.audience]);
            v.set_required_spec_claims(&["exp", "iss", "aud"]);
            if let Ok(data) =
                jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(bearer, &key, &v)
            {
                let sub = data
                    .claims
                    .get("sub")
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                return Ok(Some(Principal {
                    tenant: iss.tenant.clone(),
                    access: iss.grant.access(&data.claims),
                    actor: format!("jwt:{}", sub.as_deref().unwrap_or("-")),
                    subject: sub,
                }));
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(None),
        }
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
            if !p.access.allows(req.method(), req.uri().path()) {
                return Err(ApiError::from(ScimError::new(
                    403,
                    None,
                    match p.access {
                        Access::ReadOnly => "this credential is read-only",
                        _ => "this credential may use /Me only: it does not grant provisioning",
                    },
                )));
            }
            let request_id = req
                .extensions()
                .get::<crate::observe::RequestId>()
                .map(|r| r.0.clone());
            let actor = crate::audit::Actor::for_request(&p.actor, request_id, req.method());
            req.extensions_mut().insert(p);
            Ok(crate::audit::scope(actor, next.run(req)).await)
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
        JwtIssuer::with_keys(
            "https://sts.example/",
            "api://scim",
            JwtKeys::Static(DecodingKey::from_secret(b"secret"), Algorithm::HS256),
            "acme",
            JwtGrant::claim("scp", "scim.provision"),
        )
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
        let good = serde_json::json!({"iss": "https://sts.example/", "aud": "api://scim", "exp": exp, "sub": "bjensen", "scp": "openid scim.provision"});
        let p = auth
            .authenticate(&token(good.clone(), b"secret"))
            .await
            .unwrap();
        assert_eq!(
            p,
            Principal {
                tenant: "acme".into(),
                subject: Some("bjensen".into()),
                access: Access::Provision,
                actor: "jwt:bjensen".into(),
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
