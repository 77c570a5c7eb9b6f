//! Configuration of the `scim-server` binary: command-line flags (each also an environment
//! variable) and an optional TOML file for tenants, JWT issuers and policies.
//!
//! ```toml
//! # scim-server.toml
//! cursor_key = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # 64 hex digits, shared by all processes
//! group_patch_no_content = false
//!
//! [[tenants]]
//! name = "acme"
//! tokens = ["a-long-random-token"]   # or "sha256:<hex>" to keep only the hash in the file
//! compat = "default"                  # or "strict"
//!
//! [[jwt]]
//! issuer = "https://sts.windows.net/00000000-0000-0000-0000-000000000000/"
//! audience = "api://scim"
//! tenant = "acme"
//! hs256_secret = "…"                 # or rsa_public_key_pem = "/path/key.pem"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use clap::Parser;
use scim_core::{Compat, ScimError};
use serde::Deserialize;

use crate::auth::{
    generate_token, hash_token, AnyOf, Authenticator, ConfiguredToken, JwtAuthenticator, JwtGrant,
    JwtIssuer, JwtKeys, TokenAuthenticator,
};
use crate::error::{ApiError, SCIM_JSON};
use crate::state::{ScimState, Settings};
use crate::store::{NewToken, SqlStore, Store};

/// Command-line flags.
#[derive(Clone, Parser)]
#[command(
    name = "scim-server",
    version,
    about = "A SCIM 2.0 service provider (RFC 7643, RFC 7644, RFC 9865)"
)]
pub struct Cli {
    /// Address to listen on.
    #[arg(long, env = "SCIM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Database: sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DB.
    #[arg(long, env = "SCIM_DATABASE_URL", default_value = "sqlite://scim.db")]
    pub database_url: String,
    /// A bearer token for the default tenant (repeatable; comma-separated in the variable).
    #[arg(long = "token", env = "SCIM_TOKENS", value_delimiter = ',')]
    pub tokens: Vec<String>,
    /// Path the SCIM endpoints are served under.
    #[arg(long, env = "SCIM_BASE_PATH", default_value = "/scim/v2")]
    pub base_path: String,
    /// Public base URL for locations, e.g. `https://scim.example.com/scim/v2` (default: the
    /// listen address, or the forwarded headers with --trust-forwarded-headers).
    #[arg(long, env = "SCIM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Build locations from X-Forwarded-Host / X-Forwarded-Proto / Host when --public-url is
    /// not given. Only behind a proxy that sets those headers.
    #[arg(long, env = "SCIM_TRUST_FORWARDED_HEADERS")]
    pub trust_forwarded_headers: bool,
    /// TOML configuration file for tenants, JWT issuers and policies.
    #[arg(long, env = "SCIM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Request timeout in seconds.
    #[arg(long, env = "SCIM_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,
    /// Largest request body in bytes.
    #[arg(long, env = "SCIM_MAX_BODY", default_value_t = 1 << 20)]
    pub max_body: usize,
    /// Log format: text or json.
    #[arg(long, env = "SCIM_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Serve Prometheus metrics at `http://ADDR/metrics` on this separate address (off when
    /// absent; keep it on a private interface: it needs no credentials).
    #[arg(long, env = "SCIM_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Keep audit records this many days (0: forever). Older ones are deleted at start and
    /// every hour.
    #[arg(long, env = "SCIM_AUDIT_RETENTION_DAYS", default_value_t = 400)]
    pub audit_retention_days: u32,
    /// Administration commands; without one, the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Administration commands (they use `--database-url` and exit).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Manage bearer tokens stored in the database.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print or export the audit trail (JSON Lines with --json).
    Audit(AuditArgs),
}

/// `scim-server token …`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once, only its hash is stored.
    Create {
        /// Tenant the token provisions.
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
        /// A label shown in `token list` and in the audit trail (e.g. "entra-prod").
        #[arg(long)]
        label: String,
        /// The token may only read (GET and .search).
        #[arg(long)]
        read_only: bool,
    },
    /// List stored tokens (id, tenant, label, source, created, last used; never a secret).
    List {
        /// JSON Lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (at least 8 hex digits, from `token list`).
    Revoke {
        /// The token's id.
        id: String,
    },
}

/// `scim-server audit …`
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// From this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub since: Option<String>,
    /// Before this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub until: Option<String>,
    /// Only this resource id.
    #[arg(long)]
    pub resource: Option<String>,
    /// Only this actor (e.g. token:entra-prod, jwt:alice).
    #[arg(long)]
    pub actor: Option<String>,
    /// At most this many records.
    #[arg(long)]
    pub limit: Option<i64>,
    /// JSON Lines (one record per line) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Normalises a `--since`/`--until` value to the stored timestamp format.
pub fn audit_time(v: &str) -> Result<String, ConfigError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(crate::store::sql::timestamp_text(
            t.with_timezone(&chrono::Utc),
        ));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let t = d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        return Ok(crate::store::sql::timestamp_text(t));
    }
    Err(ConfigError(format!(
        "{v:?} is not a time: use RFC 3339 (2026-12-01T09:00:00Z) or a date (2026-12-01)"
    )))
}

/// Runs an administration command against the database; returns what to print.
pub async fn run_command(cli: &Cli, cmd: &Command) -> Result<String, ConfigError> {
    let store = SqlStore::connect(&cli.database_url)
        .await
        .map_err(|e| ConfigError(e.to_string()))?;
    let err = |e: crate::store::StoreError| ConfigError(e.to_string());
    let mut out = String::new();
    use std::fmt::Write;
    match cmd {
        Command::Token(TokenCommand::Create {
            tenant,
            label,
            read_only,
        }) => {
            let t = generate_token();
            let hash = hash_token(&t);
            store
                .add_token(NewToken {
                    hash: &hash,
                    tenant,
                    label,
                    source: "cli",
                    read_only: *read_only,
                })
                .await
                .map_err(err)?;
            let _ = writeln!(
                out,
                "Created token {} for tenant {tenant:?} ({}), label {label:?}. The secret is shown once:\n\n    {t}\n",
                &hash[..12],
                if *read_only { "read-only" } else { "provisioning" }
            );
        }
        Command::Token(TokenCommand::List { json }) => {
            let tokens = store.list_tokens().await.map_err(err)?;
            if *json {
                for t in &tokens {
                    let _ = writeln!(out, "{}", serde_json::to_string(t).unwrap_or_default());
                }
            } else {
                let _ = writeln!(
                    out,
                    "{:<12}  {:<16}  {:<20}  {:<11}  {:<9}  {:<27}  last used",
                    "id", "tenant", "label", "source", "access", "created"
                );
                for t in &tokens {
                    let _ = writeln!(
                        out,
                        "{:<12}  {:<16}  {:<20}  {:<11}  {:<9}  {:<27}  {}",
                        t.id,
                        t.tenant,
                        t.label.as_deref().unwrap_or("-"),
                        t.source,
                        if t.read_only { "read" } else { "provision" },
                        t.created,
                        t.last_used.as_deref().unwrap_or("never")
                    );
                }
            }
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            let gone = store.revoke_token(id).await.map_err(err)?;
            match gone.first() {
                Some(t) => {
                    let _ = writeln!(
                        out,
                        "Revoked token {} (tenant {:?}, label {:?}).",
                        t.id,
                        t.tenant,
                        t.label.as_deref().unwrap_or("-")
                    );
                    if t.source == "config" {
                        let _ = writeln!(out, "It is listed in the configuration file: remove it there too, or the next start adds it again.");
                    }
                }
                None => {
                    return Err(ConfigError(format!(
                        "no token has an id starting with {id}"
                    )))
                }
            }
        }
        Command::Audit(a) => {
            let q = crate::audit::AuditQuery {
                tenant: a.tenant.clone(),
                since: a.since.as_deref().map(audit_time).transpose()?,
                until: a.until.as_deref().map(audit_time).transpose()?,
                resource_id: a.resource.clone(),
                actor: a.actor.clone(),
                limit: a.limit,
            };
            let records = store.audit_records(&q).await.map_err(err)?;
            for r in &records {
                if a.json {
                    let _ = writeln!(out, "{}", serde_json::to_string(r).unwrap_or_default());
                } else {
                    let _ = writeln!(
                        out,
                        "{}  {}  {}  {} {} {}  v{}→v{}  [{}]",
                        r.at,
                        r.tenant,
                        r.actor,
                        r.operation,
                        r.resource_type,
                        r.resource_id,
                        r.old_version
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.new_version
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.attributes.join(", ")
                    );
                }
            }
        }
    }
    store.close().await;
    Ok(out)
}

/// Deletes audit records older than the retention, now and every hour (0: keep forever).
pub fn spawn_audit_retention(store: Arc<SqlStore>, days: u32) {
    if days == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let before = crate::store::sql::timestamp_text(
                chrono::Utc::now() - chrono::Duration::days(i64::from(days)),
            );
            match store.prune_audit(&before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deleted = n,
                    days,
                    "audit records past their retention deleted"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot prune the audit trail"),
            }
        }
    });
}

/// The configuration file.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Hex key signing cursors; servers sharing a database must share it.
    pub cursor_key: Option<String>,
    /// Answer group PATCHes with 204.
    #[serde(default)]
    pub group_patch_no_content: bool,
    /// Tenants.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// JWT issuers.
    #[serde(default)]
    pub jwt: Vec<JwtConfig>,
}

/// A tenant.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant name.
    pub name: String,
    /// Its tokens (plain, or `sha256:<hex>`). A `sha256:` token removed from the file stops
    /// working at the next start.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Tokens that may only read (`GET`, `.search`), same forms.
    #[serde(default)]
    pub read_only_tokens: Vec<String>,
    /// `default` or `strict`.
    pub compat: Option<String>,
}

/// A trusted JWT issuer.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Tenant for its tokens.
    pub tenant: String,
    /// HMAC secret (HS256).
    pub hs256_secret: Option<String>,
    /// Path of an RSA public key in PEM (RS256).
    pub rsa_public_key_pem: Option<PathBuf>,
    /// A JWKS URL (RS256/ES256 keys by `kid`, cached, refreshed on an unknown `kid`), e.g.
    /// `https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys`.
    pub jwks_url: Option<String>,
    /// The claim that grants provisioning, e.g. `roles` or `scp`. Without it the issuer's
    /// tokens may use `/Me` only.
    pub provisioning_claim: Option<String>,
    /// Values of that claim that grant provisioning (read and write).
    #[serde(default)]
    pub provisioning_values: Vec<String>,
    /// Values of that claim that grant read-only access.
    #[serde(default)]
    pub read_values: Vec<String>,
}

impl std::fmt::Debug for FileConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileConfig")
            .field(
                "cursor_key",
                &self.cursor_key.as_ref().map(|_| "<redacted>"),
            )
            .field("group_patch_no_content", &self.group_patch_no_content)
            .field("tenants", &self.tenants)
            .field("jwt", &self.jwt)
            .finish()
    }
}

/// `<n redacted>` for a list of secrets.
fn redacted(list: &[String]) -> String {
    format!("<{} redacted>", list.len())
}

impl std::fmt::Debug for TenantConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantConfig")
            .field("name", &self.name)
            .field("tokens", &redacted(&self.tokens))
            .field("read_only_tokens", &redacted(&self.read_only_tokens))
            .field("compat", &self.compat)
            .finish()
    }
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("tenant", &self.tenant)
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("rsa_public_key_pem", &self.rsa_public_key_pem)
            .field("jwks_url", &self.jwks_url)
            .field("provisioning_claim", &self.provisioning_claim)
            .field("provisioning_values", &self.provisioning_values)
            .field("read_values", &self.read_values)
            .finish()
    }
}

impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cli")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("tokens", &redacted(&self.tokens))
            .field("base_path", &self.base_path)
            .field("public_url", &self.public_url)
            .field("trust_forwarded_headers", &self.trust_forwarded_headers)
            .field("config", &self.config)
            .field("request_timeout", &self.request_timeout)
            .field("max_body", &self.max_body)
            .field("log_format", &self.log_format)
            .field("metrics_listen", &self.metrics_listen)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("command", &self.command)
            .finish()
    }
}

/// A database URL without its password (`postgres://user:secret@host` → `postgres://user:***@host`).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => {
            let auth = &url[s + 3..at];
            match auth.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The default tenant's name.
pub const DEFAULT_TENANT: &str = "default";

/// A configuration or start-up failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Reads the configuration file.
pub fn read_file(path: &std::path::Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
}

fn parse_key(hex: &str) -> Result<[u8; 32], ConfigError> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ConfigError("cursor_key must be 64 hex digits".into()));
    }
    let mut key = [0u8; 32];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|e| ConfigError(e.to_string()))?;
    }
    Ok(key)
}

/// What [`build`] produced.
pub struct Built {
    /// The application.
    pub app: Router,
    /// A token created on first start (print it once).
    pub new_token: Option<String>,
    /// The store (for shutdown).
    pub store: Arc<SqlStore>,
    /// The state the app serves (for the metrics endpoint).
    pub state: ScimState,
}

/// Builds the application from flags and the optional file.
pub async fn build(cli: &Cli) -> Result<Built, ConfigError> {
    let file = match &cli.config {
        Some(p) => read_file(p)?,
        None => FileConfig::default(),
    };
    let store = Arc::new(
        SqlStore::connect(&cli.database_url)
            .await
            .map_err(|e| ConfigError(e.to_string()))?,
    );
    let mut tokens: Vec<ConfiguredToken> = cli
        .tokens
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| ConfiguredToken {
            token: t.clone(),
            tenant: DEFAULT_TENANT.to_string(),
            read_only: false,
        })
        .collect();
    let mut settings = Settings {
        base_url: cli.public_url.clone(),
        trust_forwarded_headers: cli.trust_forwarded_headers,
        request_timeout: Duration::from_secs(cli.request_timeout),
        // A bulk job stops starting operations well before the request times out.
        bulk_time_budget: Duration::from_millis(cli.request_timeout.saturating_mul(1000) * 2 / 3),
        base_path: cli.base_path.clone(),
        max_body: cli.max_body,
        group_patch_no_content: file.group_patch_no_content,
        ..Settings::default()
    };
    let mut config_hashes = Vec::new();
    for t in &file.tenants {
        let all = t
            .tokens
            .iter()
            .map(|k| (k, false))
            .chain(t.read_only_tokens.iter().map(|k| (k, true)));
        for (tok, read_only) in all {
            match tok.strip_prefix("sha256:") {
                Some(hash) => {
                    let hash = hash.to_ascii_lowercase();
                    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(ConfigError(format!(
                            "tenant {}: a sha256: token needs 64 hex digits",
                            t.name
                        )));
                    }
                    store
                        .add_token(NewToken {
                            hash: &hash,
                            tenant: &t.name,
                            label: "config",
                            source: "config",
                            read_only,
                        })
                        .await
                        .map_err(|e| ConfigError(e.to_string()))?;
                    config_hashes.push(hash);
                }
                None => tokens.push(ConfiguredToken {
                    token: tok.clone(),
                    tenant: t.name.clone(),
                    read_only,
                }),
            }
        }
        match t.compat.as_deref() {
            None | Some("default") => {}
            Some("strict") => {
                settings
                    .tenant_compat
                    .insert(t.name.clone(), Compat::strict());
            }
            Some(other) => {
                return Err(ConfigError(format!(
                    "tenant {}: unknown compat {other:?} (use default or strict)",
                    t.name
                )))
            }
        }
    }
    // A hashed token removed from the file stops working now, not never.
    let removed = store
        .retain_config_tokens(&config_hashes)
        .await
        .map_err(|e| ConfigError(e.to_string()))?;
    if removed > 0 {
        tracing::info!(
            removed,
            "tokens no longer in the configuration file were removed"
        );
    }
    let mut new_token = None;
    if tokens.is_empty()
        && !store
            .has_tokens()
            .await
            .map_err(|e| ConfigError(e.to_string()))?
    {
        let t = generate_token();
        store
            .add_token(NewToken {
                hash: &hash_token(&t),
                tenant: DEFAULT_TENANT,
                label: "first start",
                source: "first-start",
                read_only: false,
            })
            .await
            .map_err(|e| ConfigError(e.to_string()))?;
        new_token = Some(t);
    }
    let dyn_store: Arc<dyn Store> = store.clone();
    let mut auths: Vec<Arc<dyn Authenticator>> = vec![Arc::new(TokenAuthenticator::with_tokens(
        &tokens,
        Some(dyn_store.clone()),
    ))];
    if !file.jwt.is_empty() {
        let mut issuers = Vec::new();
        for j in &file.jwt {
            let keys = match (&j.hs256_secret, &j.rsa_public_key_pem, &j.jwks_url) {
                (Some(sec), None, None) => JwtKeys::Static(
                    jsonwebtoken::DecodingKey::from_secret(sec.as_bytes()),
                    jsonwebtoken::Algorithm::HS256,
                ),
                (None, Some(p), None) => {
                    let pem = std::fs::read(p)
                        .map_err(|e| ConfigError(format!("{}: {e}", p.display())))?;
                    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&pem)
                        .map_err(|e| ConfigError(format!("{}: {e}", p.display())))?;
                    JwtKeys::Static(key, jsonwebtoken::Algorithm::RS256)
                }
                (None, None, Some(url)) => JwtKeys::Jwks(Arc::new(
                    crate::jwks::Jwks::new(url)
                        .map_err(|e| ConfigError(format!("jwt issuer {}: {e}", j.issuer)))?,
                )),
                _ => {
                    return Err(ConfigError(format!(
                    "jwt issuer {}: give exactly one of hs256_secret, rsa_public_key_pem, jwks_url",
                    j.issuer
                )))
                }
            };
            if j.provisioning_claim.is_none() {
                tracing::warn!(issuer = %j.issuer, "no provisioning_claim: this issuer's tokens may use /Me only");
            }
            issuers.push(JwtIssuer::with_keys(
                &j.issuer,
                &j.audience,
                keys,
                &j.tenant,
                JwtGrant {
                    claim: j.provisioning_claim.clone(),
                    provision: j.provisioning_values.clone(),
                    read: j.read_values.clone(),
                },
            ));
        }
        auths.push(Arc::new(JwtAuthenticator::new(issuers)));
    }
    let mut state = ScimState::new(dyn_store, Arc::new(AnyOf(auths)), settings);
    if let Some(k) = &file.cursor_key {
        state = state.with_cursor_key(parse_key(k)?);
    }
    let app = app(
        state.clone(),
        &cli.base_path,
        Duration::from_secs(cli.request_timeout),
    );
    Ok(Built {
        app,
        new_token,
        store,
        state,
    })
}

/// The complete application: the SCIM router under `base_path` with the standard layers, in
/// this order from the outside in: request id, span, log line and metrics
/// ([`crate::observe`]), panic catching, SCIM error rendering, timeout, compression; plus
/// `/healthz` and `/readyz` outside the base path, without credentials.
pub fn app(state: ScimState, base_path: &str, timeout: Duration) -> Router {
    use tower_http::catch_panic::CatchPanicLayer;
    use tower_http::compression::CompressionLayer;
    let scim = crate::routes::router_with_timeout(state.clone(), timeout);
    let base = base_path.trim_end_matches('/');
    let root = if base.is_empty() {
        scim
    } else {
        Router::new().nest(base, scim)
    };
    let health = Router::new()
        .route("/healthz", axum::routing::get(crate::observe::healthz))
        .route("/readyz", axum::routing::get(crate::observe::readyz))
        .with_state(state.clone());
    let base_arc: Arc<str> = Arc::from(if base.is_empty() { "/" } else { base });
    root.merge(health)
        .fallback(|| async { ApiError::from(ScimError::not_found("no such endpoint")) })
        .layer(CompressionLayer::new())
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::from(ScimError::new(500, None, "internal error")).into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(
            base_arc,
            crate::observe::observe,
        ))
}

/// Load shedding: beyond the configured number of requests in flight, answer `429` with
/// `Retry-After` at once (Entra ID and Okta back off on 429 and count 5xx against the app).
pub async fn shed_load(
    axum::extract::State(sem): axum::extract::State<Arc<tokio::sync::Semaphore>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match sem.try_acquire() {
        Ok(_permit) => next.run(req).await,
        Err(_) => ApiError::from(ScimError::new(
            429,
            None,
            "too many requests in flight; retry later",
        ))
        .with_header(header::RETRY_AFTER, "1")
        .into_response(),
    }
}

/// Gives every error response without a SCIM body (from layers: timeout, limits) one.
pub async fn scim_error_bodies(resp: Response) -> Response {
    let status = resp.status();
    if status.as_u16() < 400 {
        return resp;
    }
    let is_scim = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(SCIM_JSON.as_bytes()));
    if is_scim {
        return resp;
    }
    let detail = match status {
        StatusCode::REQUEST_TIMEOUT => "the request took too long".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_string(),
        s => s.canonical_reason().unwrap_or("error").to_string(),
    };
    let mut out = ApiError::from(ScimError::new(status.as_u16(), None, detail)).into_response();
    for (k, v) in resp.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// The metrics endpoint on its own listener: `GET /metrics` in the Prometheus text format.
pub fn metrics_app(
    state: ScimState,
    handle: metrics_exporter_prometheus::PrometheusHandle,
) -> Router {
    Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let state = state.clone();
            let handle = handle.clone();
            async move {
                crate::observe::sample_gauges(&state);
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_secret() {
        let file: FileConfig = toml::from_str(concat!(
            "cursor_key = \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"\n",
            "[[tenants]]\nname = \"acme\"\ntokens = [\"tok-SECRET-1\"]\nread_only_tokens = [\"tok-SECRET-2\"]\n",
            "[[jwt]]\nissuer = \"i\"\naudience = \"a\"\ntenant = \"acme\"\nhs256_secret = \"hs-SECRET-3\"\n",
        ))
        .unwrap();
        let text = format!("{file:?}");
        for secret in ["SECRET", "00112233445566778899"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("acme"), "{text}");
        let cli = Cli::parse_from([
            "scim-server",
            "--token",
            "cli-SECRET-4",
            "--database-url",
            "postgres://scim:pw-SECRET-5@db/scim",
        ]);
        let text = format!("{cli:?}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("postgres://scim:***@db/scim"), "{text}");
        assert_eq!(redact_url("sqlite://scim.db"), "sqlite://scim.db");
    }
}
