//! Storage: the [`Store`] trait and its SQL implementations: native SQLite ([`sqlite`],
//! rusqlite with a writer thread and group commit) and PostgreSQL ([`postgres`],
//! tokio-postgres with a deadpool-postgres pool), in the same layout (`mod.rs`: the store,
//! `ops.rs`: the statements, `pool.rs`: the connections), behind one [`SqlStore`] chosen by the
//! database URL. Both share the schema, the statements' shapes, the filter translation
//! ([`sql`]) and what [`shared`] holds (migrations, derived columns, audit records).
//!
//! The trait receives parsed filters, sort keys and pages and must apply them itself (never
//! filter after loading), so `totalResults` is always right. Group members are rows in their own
//! indexed table: adding or removing one member costs the same whatever the group's size, and
//! reading a group with `excludedAttributes=members` never touches member rows.

mod group_commit;
pub use group_commit::defer_durability;
pub mod body;
mod facade;
pub mod index;
pub mod postgres;
mod shared;
pub mod sql;
pub mod sqlite;
pub use facade::SqlStore;

use async_trait::async_trait;
use scim_core::filter::Filter;
use scim_core::{AttrPath, Context, JsonMap, ScimError, SortOrder};

/// A group's members, page by page (see [`Store::get_streaming`]).
pub type MemberPages = std::pin::Pin<
    Box<dyn futures::Stream<Item = Result<Vec<MemberRow>, StoreError>> + Send + 'static>,
>;

/// A stored bearer token, as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// The first 12 hex digits of the secret's SHA-256: enough to name it, useless to use it.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// A human label.
    pub label: Option<String>,
    /// `config`, `cli` or `first-start`.
    pub source: String,
    /// Read-only token.
    pub read_only: bool,
    /// When created (RFC 3339).
    pub created: String,
    /// When last used (RFC 3339), to the minute.
    pub last_used: Option<String>,
}

/// A token to store.
#[derive(Clone, Copy)]
pub struct NewToken<'a> {
    /// Hex SHA-256 of the secret.
    pub hash: &'a str,
    /// Tenant.
    pub tenant: &'a str,
    /// Label.
    pub label: &'a str,
    /// `config`, `cli` or `first-start`.
    pub source: &'a str,
    /// Read-only token.
    pub read_only: bool,
}

/// A backend-neutral storage error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The resource does not exist (for this tenant).
    #[error("not found")]
    NotFound,
    /// A unique value is taken.
    #[error("{0}")]
    Uniqueness(String),
    /// The expected version did not match (optimistic concurrency / `If-Match`).
    #[error("version mismatch")]
    VersionMismatch,
    /// The request is invalid in a way only storage can see (e.g. an unknown member id).
    #[error("{0}")]
    Invalid(ScimError),
    /// The backend is saturated (no connection became free in time): answered as `429` with
    /// `Retry-After`, never `5xx`, since identity providers quarantine apps that answer 5xx.
    #[error("storage busy")]
    Busy,
    /// The backend failed (connection, I/O). Never caused by client input.
    #[error("storage failure: {0}")]
    Backend(String),
}

/// One member row of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// The member's id.
    pub value: String,
    /// `User` or `Group` (filled in from the stored member when omitted).
    pub kind: Option<String>,
    /// The client-supplied display name.
    pub display: Option<String>,
}

/// A group a user belongs to (the derived `groups` attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    /// The group's id.
    pub value: String,
    /// The group's displayName.
    pub display: Option<String>,
}

/// A stored resource.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    /// Server-assigned id.
    pub id: String,
    /// The resource JSON without `id`, `meta`, `members` and `groups`.
    pub data: JsonMap,
    /// Monotonic version, the ETag.
    pub version: i64,
    /// Creation time (fixed-width UTC text, see [`sql::timestamp_text`]).
    pub created: String,
    /// Last modification time.
    pub last_modified: String,
    /// Group members, when loaded.
    pub members: Option<Vec<MemberRow>>,
    /// A user's groups, when loaded.
    pub groups: Option<Vec<GroupRef>>,
    /// The stored rendered form (see [`body`]), when the query preferred it and it is
    /// current; `data` is then left empty.
    pub body: Option<body::Body>,
}

/// What to load with a resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Load a group's member rows.
    pub members: bool,
    /// Load a user's groups.
    pub groups: bool,
}

/// A query: filter, sort and page, all applied by the store.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The filter, if any.
    pub filter: Option<Filter>,
    /// Sort attribute.
    pub sort_by: Option<AttrPath>,
    /// Sort direction.
    pub sort_order: SortOrder,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return (0: count only).
    pub limit: u64,
    /// Keyset pagination: only resources after this (sort key, id) position.
    pub after_id: Option<String>,
    /// What to load with each resource.
    pub load: Load,
    /// The base URL resources are rendered with (filters on `meta.location` and `$ref`).
    pub base_url: String,
    /// Return the stored rendered form instead of the parsed data where it is current (for
    /// pages with the default projection).
    pub prefer_rendered: bool,
}

/// A change to a group's members, applied as row operations.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberChange {
    /// Add members (adding an existing member is a no-op).
    Add(Vec<MemberRow>),
    /// Remove members by id (removing a non-member is a no-op).
    Remove(Vec<String>),
    /// Remove every member.
    RemoveAll,
}

/// A change to one resource.
#[derive(Debug, Clone, Default)]
pub struct Update {
    /// When given and different from the stored version, nothing changes and
    /// `VersionMismatch` is returned.
    pub expected_version: Option<i64>,
    /// New data; `None` keeps the stored data (member-only changes).
    pub data: Option<JsonMap>,
    /// Member row changes, applied in order. The version is bumped when anything changed.
    pub member_changes: Vec<MemberChange>,
    /// What to load with the returned resource.
    pub load: Load,
}

/// Decides a change from the current resource (see [`Store::modify`]).
/// It may be called more than once: a store that decides optimistically calls it again when
/// the resource changed between its read and its write.
pub type ModifyFn<'a> = Box<dyn FnMut(&StoredResource) -> Result<Update, StoreError> + Send + 'a>;

/// Storage for SCIM resources, scoped by tenant.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a resource with a new id.
    async fn create(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        data: JsonMap,
        members: Vec<MemberRow>,
    ) -> Result<StoredResource, StoreError>;

    /// Creates resources of one type in order, each on its own: one that fails (a
    /// uniqueness conflict, say) leaves no trace and does not affect the others. The results
    /// come in the order of `items`. A store may run them in one transaction (the SQLite store
    /// runs them as one job of its writer, for `/Bulk`); the default creates one at a time.
    async fn create_many(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        items: Vec<(JsonMap, Vec<MemberRow>)>,
    ) -> Vec<Result<StoredResource, StoreError>> {
        let mut out = Vec::with_capacity(items.len());
        for (data, members) in items {
            out.push(self.create(tenant, ctx, data, members).await);
        }
        out
    }

    /// Reads a resource.
    async fn get(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load: Load,
    ) -> Result<StoredResource, StoreError>;

    /// Reads a resource for a response with the default projection: like [`Store::get`], but
    /// may return the stored rendered form (see [`body`]) with empty `data` instead.
    async fn get_rendered(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load: Load,
    ) -> Result<StoredResource, StoreError> {
        self.get(tenant, ctx, id, load).await
    }

    /// Reads a resource under a write lock (with what `load` asks for), lets `f` decide the
    /// change from it, and applies that change in the same transaction, so concurrent writers
    /// on any number of server processes never lose each other's updates. Returns the resource
    /// before and after.
    async fn modify(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load: Load,
        f: ModifyFn<'_>,
    ) -> Result<(StoredResource, StoredResource), StoreError>;

    /// Applies a change decided in advance (see [`Store::modify`]).
    async fn update(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        change: Update,
    ) -> Result<StoredResource, StoreError> {
        let (_, after) = self
            .modify(
                tenant,
                ctx,
                id,
                Load::default(),
                Box::new(move |_| Ok(change.clone())),
            )
            .await?;
        Ok(after)
    }

    /// Deletes a resource and every membership that names it.
    async fn delete(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError>;

    /// Runs a query; returns the page and the total number of matches.
    async fn query(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        q: &Query,
    ) -> Result<(Vec<StoredResource>, u64), StoreError>;

    /// A stored token by the hex SHA-256 hash of its secret, if it is known.
    async fn token_lookup(&self, token_hash: &str) -> Result<Option<TokenInfo>, StoreError>;

    /// Stores a token hash for a tenant (nothing happens when the hash is already stored).
    async fn add_token(&self, token: NewToken<'_>) -> Result<(), StoreError>;

    /// Every stored token (never a secret), oldest first.
    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError>;

    /// Removes the tokens whose id (hash prefix, at least 8 characters) is `id`; returns them.
    async fn revoke_token(&self, id: &str) -> Result<Vec<TokenInfo>, StoreError>;

    /// Records that a token was just used.
    async fn touch_token(&self, token_hash: &str) -> Result<(), StoreError>;

    /// Removes the tokens that came from the configuration file and are no longer in it
    /// (`keep`: the hashes it lists now); returns how many were removed.
    async fn retain_config_tokens(&self, keep: &[String]) -> Result<u64, StoreError>;

    /// Reads the audit trail.
    async fn audit_records(
        &self,
        q: &crate::audit::AuditQuery,
    ) -> Result<Vec<crate::audit::AuditRecord>, StoreError>;

    /// Deletes audit records older than `before` (RFC 3339); returns how many.
    async fn prune_audit(&self, before: &str) -> Result<u64, StoreError>;

    /// True when no token exists at all (first start).
    async fn has_tokens(&self) -> Result<bool, StoreError>;

    /// A resource (in its stored rendered form when `rendered` and current) and, for a group,
    /// its members as a stream of pages ordered by id, all read in one snapshot: however large
    /// the group, at most one page of members is in memory at a time. The default reads
    /// everything at once (one page).
    async fn get_streaming(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        rendered: bool,
    ) -> Result<(StoredResource, MemberPages), StoreError> {
        let load = Load {
            members: true,
            groups: false,
        };
        let mut r = if rendered {
            self.get_rendered(tenant, ctx, id, load).await?
        } else {
            self.get(tenant, ctx, id, load).await?
        };
        let members = r.members.take().unwrap_or_default();
        Ok((
            r,
            Box::pin(futures::stream::once(async move { Ok(members) })),
        ))
    }

    /// Answers when the database answers a trivial query (`/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Connection pools as (name, open connections, idle connections), for metrics gauges.
    fn pool_stats(&self) -> Vec<(&'static str, u32, u32)> {
        Vec::new()
    }

    /// Waits until every write committed so far is durable. Writes are durable when they
    /// return, except inside [`defer_durability`], whose caller calls this before answering.
    async fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
