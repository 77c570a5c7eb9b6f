//! [`SqlStore`]: the store for a database URL — the native SQLite store for `sqlite:` URLs,
//! the native PostgreSQL store for `postgres:` URLs.

use async_trait::async_trait;
use scim_core::{Context, JsonMap};

use super::postgres::PgStore;
use super::sql::Dialect;
use super::sqlite::SqliteStore;
use super::{
    Load, MemberPages, MemberRow, ModifyFn, NewToken, Query, Store, StoreError, StoredResource,
    TokenInfo,
};
use crate::audit::{AuditQuery, AuditRecord};

/// The SQL store for SQLite (`sqlite://PATH`, `sqlite::memory:`) or PostgreSQL
/// (`postgres://…`).
#[derive(Debug, Clone)]
pub struct SqlStore {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl SqlStore {
    /// Connects to `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://…`), applies the
    /// migrations and returns the store.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(SqliteStore::connect(url).await?)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres(PgStore::connect(url).await?)
        } else {
            return Err(unsupported(url));
        };
        Ok(SqlStore { backend })
    }

    /// Connects to a PostgreSQL `url` with at most `connections` connections, each request
    /// waiting at most `acquire` for one before it fails with [`StoreError::Busy`] (answered
    /// `429`). [`SqlStore::connect`] uses 16 connections and 3 s.
    pub async fn connect_postgres_with(
        url: &str,
        connections: usize,
        acquire: std::time::Duration,
    ) -> Result<SqlStore, StoreError> {
        if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
            return Err(unsupported(url));
        }
        Ok(SqlStore {
            backend: Backend::Postgres(PgStore::connect_with(url, connections, acquire).await?),
        })
    }

    /// Streams groups' members in pages of `n` rows (default 5,000): smaller pages use less
    /// memory per response and more statements.
    pub fn with_member_page(self, n: usize) -> SqlStore {
        let backend = match self.backend {
            Backend::Sqlite(s) => Backend::Sqlite(s.with_member_page(n)),
            Backend::Postgres(s) => Backend::Postgres(s.with_member_page(n)),
        };
        SqlStore { backend }
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        match &self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Closes the connections, waiting for pending writes.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(s) => s.close().await,
        }
    }

    /// Refreshes the planner's statistics (`ANALYZE`).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.analyze().await,
            Backend::Postgres(s) => s.analyze().await,
        }
    }

    /// The query plan of the statement that serves a list or search (for tests and
    /// diagnostics): SQLite's `EXPLAIN QUERY PLAN` details, or PostgreSQL's `EXPLAIN` lines
    /// with sequential scans disabled (so a plan that still scans has no index to use).
    pub async fn explain(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        q: &Query,
    ) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.explain(tenant, ctx, q).await,
            Backend::Postgres(s) => s.explain(tenant, ctx, q).await,
        }
    }

    fn inner(&self) -> &dyn Store {
        match &self.backend {
            Backend::Sqlite(s) => s,
            Backend::Postgres(s) => s,
        }
    }
}

/// The error for a URL of no supported database (credentials never shown).
fn unsupported(url: &str) -> StoreError {
    StoreError::Backend(format!(
        "unsupported database URL {:?}: use sqlite://PATH, sqlite::memory: or postgres://…",
        url.split('@').next_back().unwrap_or("")
    ))
}

#[async_trait]
impl Store for SqlStore {
    async fn create(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        data: JsonMap,
        members: Vec<MemberRow>,
    ) -> Result<StoredResource, StoreError> {
        self.inner().create(tenant, ctx, data, members).await
    }

    async fn create_many(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        items: Vec<(JsonMap, Vec<MemberRow>)>,
    ) -> Vec<Result<StoredResource, StoreError>> {
        self.inner().create_many(tenant, ctx, items).await
    }

    async fn get(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load: Load,
    ) -> Result<StoredResource, StoreError> {
        self.inner().get(tenant, ctx, id, load).await
    }

    async fn get_rendered(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load: Load,
    ) -> Result<StoredResource, StoreError> {
        self.inner().get_rendered(tenant, ctx, id, load).await
    }

    async fn modify(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load: Load,
        f: ModifyFn<'_>,
    ) -> Result<(StoredResource, StoredResource), StoreError> {
        self.inner().modify(tenant, ctx, id, load, f).await
    }

    async fn delete(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        self.inner().delete(tenant, ctx, id, expected_version).await
    }

    async fn query(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        q: &Query,
    ) -> Result<(Vec<StoredResource>, u64), StoreError> {
        self.inner().query(tenant, ctx, q).await
    }

    async fn token_lookup(&self, token_hash: &str) -> Result<Option<TokenInfo>, StoreError> {
        self.inner().token_lookup(token_hash).await
    }

    async fn add_token(&self, token: NewToken<'_>) -> Result<(), StoreError> {
        self.inner().add_token(token).await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.inner().list_tokens().await
    }

    async fn revoke_token(&self, id: &str) -> Result<Vec<TokenInfo>, StoreError> {
        self.inner().revoke_token(id).await
    }

    async fn touch_token(&self, token_hash: &str) -> Result<(), StoreError> {
        self.inner().touch_token(token_hash).await
    }

    async fn retain_config_tokens(&self, keep: &[String]) -> Result<u64, StoreError> {
        self.inner().retain_config_tokens(keep).await
    }

    async fn audit_records(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner().audit_records(q).await
    }

    async fn prune_audit(&self, before: &str) -> Result<u64, StoreError> {
        self.inner().prune_audit(before).await
    }

    async fn has_tokens(&self) -> Result<bool, StoreError> {
        self.inner().has_tokens().await
    }

    async fn get_streaming(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        rendered: bool,
    ) -> Result<(StoredResource, MemberPages), StoreError> {
        self.inner().get_streaming(tenant, ctx, id, rendered).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner().ping().await
    }

    fn pool_stats(&self) -> Vec<(&'static str, u32, u32)> {
        self.inner().pool_stats()
    }

    async fn sync(&self) -> Result<(), StoreError> {
        self.inner().sync().await
    }
}
