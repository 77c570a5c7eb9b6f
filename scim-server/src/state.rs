//! Shared state of the SCIM routes, settings and the change hook.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use scim_core::{Compat, SchemaRegistry};
use serde_json::Value;

use crate::auth::Authenticator;
use crate::store::Store;

/// What changed, for audit logs and event delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A resource was created.
    Created,
    /// A resource was replaced or patched (including its members).
    Updated,
    /// A resource was deleted.
    Deleted,
}

/// A committed change.
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    /// The tenant.
    pub tenant: String,
    /// The resource type name.
    pub resource_type: String,
    /// The resource id.
    pub id: String,
    /// The kind of change.
    pub kind: ChangeKind,
    /// The resource before (without members of large groups: as loaded for the change).
    pub before: Option<Value>,
    /// The resource after.
    pub after: Option<Value>,
}

/// Called after every committed create, update, delete and membership change.
#[async_trait]
pub trait ChangeHook: Send + Sync + 'static {
    /// Receives one committed change. Must not fail the request: log instead.
    async fn on_change(&self, event: ChangeEvent);

    /// Whether this hook receives events at all. A hook that answers `false` is never called,
    /// and the server does not render the resources an event would carry.
    fn wants_events(&self) -> bool {
        true
    }
}

/// The default hook: does nothing.
pub struct NoHook;

#[async_trait]
impl ChangeHook for NoHook {
    async fn on_change(&self, _event: ChangeEvent) {}

    fn wants_events(&self) -> bool {
        false
    }
}

/// Behaviour settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Absolute base URL used in `meta.location` and `Location` (e.g.
    /// `https://example.com/scim/v2`). When `None`, it is built from the request's `Host` and
    /// [`Settings::base_path`].
    pub base_url: Option<String>,
    /// The path the router is mounted at (for locations), e.g. `/scim/v2`.
    pub base_path: String,
    /// Page size when `count` is absent.
    pub default_count: u64,
    /// Largest page served (`count` above it is lowered to it, RFC 7644 §3.4.2.4).
    pub max_results: u64,
    /// Most operations in one bulk request.
    pub bulk_max_operations: usize,
    /// Largest bulk request body, in bytes.
    pub bulk_max_payload: usize,
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// Answer group PATCHes with `204 No Content` (what Entra ID prefers).
    pub group_patch_no_content: bool,
    /// Default tolerance policy.
    pub compat: Compat,
    /// Per-tenant tolerance policies.
    pub tenant_compat: HashMap<String, Compat>,
    /// How long a cursor stays valid, in seconds (RFC 9865).
    pub cursor_ttl_secs: u64,
    /// Most requests served at once; more are answered `429 Too Many Requests` with
    /// `Retry-After` (load shedding, never `5xx`).
    pub max_in_flight: usize,
    /// Without [`Settings::base_url`], build locations from `X-Forwarded-Host` /
    /// `X-Forwarded-Proto` / `Host`. Only behind a proxy that sets them: a client chooses
    /// those headers. When false (the default) and no base URL is set, locations use
    /// `http://localhost` and the binary sets the base URL from its listen address.
    pub trust_forwarded_headers: bool,
    /// How long a `/Bulk` request may start new operations; keep it below the request
    /// timeout so that the response (with every completed operation) is sent in time.
    pub bulk_time_budget: std::time::Duration,
    /// Requests taking longer are answered `408` (the timeout of [`crate::router`]).
    pub request_timeout: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            base_url: None,
            base_path: "/scim/v2".into(),
            default_count: 100,
            max_results: 1000,
            bulk_max_operations: 1000,
            bulk_max_payload: 1 << 20,
            max_body: 1 << 20,
            group_patch_no_content: false,
            compat: Compat::default(),
            tenant_compat: HashMap::new(),
            cursor_ttl_secs: 3600,
            max_in_flight: 512,
            trust_forwarded_headers: false,
            bulk_time_budget: std::time::Duration::from_secs(20),
            request_timeout: std::time::Duration::from_secs(30),
        }
    }
}

struct Inner {
    store: Arc<dyn Store>,
    registry: Arc<SchemaRegistry>,
    auth: Arc<dyn Authenticator>,
    hook: Arc<dyn ChangeHook>,
    settings: Settings,
    cursor_key: [u8; 32],
}

/// The state the SCIM router needs. A host app keeps it in its own state and exposes it with
/// `axum::extract::FromRef`.
#[derive(Clone)]
pub struct ScimState(Arc<Inner>);

impl std::fmt::Debug for ScimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimState")
            .field("settings", &self.0.settings)
            .finish()
    }
}

impl ScimState {
    /// State with the built-in schemas, no change hook and a random cursor key.
    pub fn new(store: Arc<dyn Store>, auth: Arc<dyn Authenticator>, settings: Settings) -> Self {
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        ScimState(Arc::new(Inner {
            store,
            registry: Arc::new(SchemaRegistry::default()),
            auth,
            hook: Arc::new(NoHook),
            settings,
            cursor_key: key,
        }))
    }

    fn rebuild(&self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner {
            store: self.0.store.clone(),
            registry: self.0.registry.clone(),
            auth: self.0.auth.clone(),
            hook: self.0.hook.clone(),
            settings: self.0.settings.clone(),
            cursor_key: self.0.cursor_key,
        };
        f(&mut inner);
        ScimState(Arc::new(inner))
    }

    /// Builder: a registry with the host app's own resource types and extensions.
    pub fn with_registry(self, registry: SchemaRegistry) -> Self {
        self.rebuild(|i| i.registry = Arc::new(registry))
    }
    /// Builder: a change hook.
    pub fn with_hook(self, hook: Arc<dyn ChangeHook>) -> Self {
        self.rebuild(|i| i.hook = hook)
    }
    /// Builder: the key that signs cursors. Servers sharing one database must share it.
    pub fn with_cursor_key(self, key: [u8; 32]) -> Self {
        self.rebuild(|i| i.cursor_key = key)
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.0.store
    }
    /// The registry.
    pub fn registry(&self) -> &SchemaRegistry {
        &self.0.registry
    }
    /// The authenticator.
    pub fn auth(&self) -> &dyn Authenticator {
        &*self.0.auth
    }
    /// The change hook.
    pub fn hook(&self) -> &dyn ChangeHook {
        &*self.0.hook
    }
    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }
    /// The cursor signing key.
    pub fn cursor_key(&self) -> &[u8; 32] {
        &self.0.cursor_key
    }
    /// The tolerance policy of a tenant.
    pub fn compat(&self, tenant: &str) -> Compat {
        self.0
            .settings
            .tenant_compat
            .get(tenant)
            .copied()
            .unwrap_or(self.0.settings.compat)
    }
}
