//! The PostgreSQL store, on sqlx's `Any` driver (it also opens SQLite; the server uses the
//! native SQLite store, [`super::sqlite`], for SQLite URLs).
//!
//! One implementation serves both databases: statements differ only where the [`Dialect`]
//! says so (placeholders, `jsonb` casts, JSON functions in the translated filters). Migrations
//! are embedded per backend (`migrations/sqlite`, `migrations/postgres`) and applied on start.
//!
//! SQLite runs in WAL mode with one writer connection (SQLite allows one writer at a time; a
//! single writer avoids lock-upgrade failures) and several readers. A write is acknowledged only
//! after its commit is on disk (a power loss loses nothing acknowledged), and concurrent writes
//! share the flush: see [`super::group_commit`].
//!
//! Lookups seek the attribute-value index (`scim_index`, see [`super::index`]), which every
//! write maintains in its own transaction; `totalResults` of an unfiltered list comes from
//! `scim_counts`, maintained on create and delete.

use std::time::Duration;

use async_trait::async_trait;
use scim_core::{Context, JsonMap, ScimError};
use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::sql::{timestamp_text, Dialect, Params, SqlValue};
use super::{
    GroupRef, Load, MemberChange, MemberRow, ModifyFn, NewToken, Query, Store, StoreError,
    StoredResource, TokenInfo, Update,
};
use crate::audit::{AuditQuery, AuditRecord};

/// The columns [`token_info`] reads.
const TOKEN_COLUMNS: &str = "token_hash, tenant, label, source, read_only, created, last_used";

fn token_info(r: &AnyRow) -> Result<TokenInfo, StoreError> {
    let hash: String = r.try_get("token_hash")?;
    Ok(TokenInfo {
        id: hash.chars().take(12).collect(),
        tenant: r.try_get("tenant")?,
        label: r.try_get("label")?,
        source: r.try_get("source")?,
        read_only: r.try_get::<i64, _>("read_only")? != 0,
        created: r.try_get("created")?,
        last_used: r.try_get("last_used")?,
    })
}

pub(super) static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Members per page of a streamed group (see `Store::get_streaming`).
const MEMBER_PAGE: usize = 5000;

/// Most ids bound in one `IN (...)` list.
const CHUNK: usize = 500;

/// Most index rows written by one statement (5 parameters each).
const INDEX_CHUNK: usize = 100;

/// How long a request waits for a database connection before it is answered `429`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// PostgreSQL `statement_timeout`: below the server's default request timeout (30 s), so a
/// runaway statement ends as an error the request can report rather than as a cut connection.
const PG_STATEMENT_TIMEOUT: &str = "20s";

/// Marks in `scim_store_state` that the index holds every stored resource.
const INDEX_READY: &str = "index_v1";

/// The SQL store.
#[derive(Debug, Clone)]
pub struct SqlxStore {
    dialect: Dialect,
    read: AnyPool,
    write: AnyPool,
    /// SQLite on a file: the WAL flusher every write waits for (group commit).
    wal: Option<super::group_commit::WalSync>,
    /// Members per page when a group is streamed.
    member_page: usize,
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: &'q [SqlValue],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            SqlValue::Text(s) => q.bind(s.as_str()),
            SqlValue::Int(i) => q.bind(*i),
            SqlValue::Float(f) => q.bind(*f),
        };
    }
    q
}

impl SqlxStore {
    /// Streams groups' members in pages of `n` rows (default 5,000): smaller pages use less
    /// memory per response and more statements.
    pub fn with_member_page(mut self, n: usize) -> SqlxStore {
        self.member_page = n.max(1);
        self
    }

    /// Connects to `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://…`), applies the
    /// migrations and returns the store.
    pub async fn connect(url: &str) -> Result<SqlxStore, StoreError> {
        sqlx::any::install_default_drivers();
        if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let url = if memory || url.contains('?') {
                url.to_string()
            } else {
                format!("{url}?mode=rwc")
            };
            let opts = |max: u32| {
                let o = AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            // Commits do not flush; writers wait for the shared WAL flush
                            // (group commit) before they answer. See `group_commit`.
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            Ok(())
                        })
                    });
                if memory {
                    // The database lives as long as its only connection: never close it.
                    o.idle_timeout(None).max_lifetime(None).min_connections(1)
                } else {
                    o
                }
            };
            // An in-memory database exists once per connection: use a single one.
            let write = opts(1).connect(&url).await?;
            if !memory {
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&write)
                    .await?;
            }
            SQLITE_MIGRATOR
                .run(&write)
                .await
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            let read = if memory {
                write.clone()
            } else {
                opts(4).connect(&url).await?
            };
            let wal = if memory {
                None
            } else {
                let row = sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
                    .fetch_one(&write)
                    .await?;
                let file: String = row.try_get("file")?;
                Some(super::group_commit::WalSync::start(
                    format!("{file}-wal").into(),
                ))
            };
            let store = SqlxStore {
                dialect: Dialect::Sqlite,
                read,
                write,
                wal,
                member_page: MEMBER_PAGE,
            };
            store.fill_index().await?;
            Ok(store)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        use sqlx::Executor;
                        conn.execute(
                            format!("SET statement_timeout = '{PG_STATEMENT_TIMEOUT}'").as_str(),
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect(url)
                .await?;
            POSTGRES_MIGRATOR
                .run(&pool)
                .await
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            let store = SqlxStore {
                dialect: Dialect::Postgres,
                read: pool.clone(),
                write: pool,
                wal: None,
                member_page: MEMBER_PAGE,
            };
            store.fill_index().await?;
            Ok(store)
        } else {
            Err(StoreError::Backend(format!(
                "unsupported database URL {:?}: use sqlite://PATH, sqlite::memory: or postgres://…",
                url.split('@').next_back().unwrap_or("")
            )))
        }
    }

    /// Waits until every committed write is on disk (SQLite on a file: the shared WAL flush;
    /// PostgreSQL and in-memory SQLite: at once, the commit was enough or nothing persists).
    async fn durable(&self) -> Result<(), StoreError> {
        match &self.wal {
            Some(_) if super::group_commit::is_deferred() => Ok(()),
            Some(w) => w.durable().await,
            None => Ok(()),
        }
    }

    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn p(&self) -> Params {
        Params::new(self.dialect)
    }

    fn data_select(&self) -> &'static str {
        super::sql::data_column(self.dialect)
    }

    fn json_param(&self, params: &mut Params, data: &JsonMap) -> String {
        let p = params.push(SqlValue::Text(Value::Object(data.clone()).to_string()));
        match self.dialect {
            Dialect::Sqlite => p,
            Dialect::Postgres => format!("{p}::jsonb"),
        }
    }

    /// A page row: the stored rendered body instead of the parsed data when it is current
    /// (its key is `key`).
    fn page_row(&self, row: &AnyRow, key: Option<&str>) -> Result<StoredResource, StoreError> {
        if let Some(key) = key {
            let row_key: Option<String> = row.try_get("body_key")?;
            if row_key.as_deref() == Some(key) {
                let schemas: Option<String> = row.try_get("body_schemas")?;
                let members: Option<String> = row.try_get("body")?;
                if let (Some(schemas), Some(members)) = (schemas, members) {
                    return Ok(StoredResource {
                        id: row.try_get("id")?,
                        data: JsonMap::new(),
                        version: row.try_get("version")?,
                        created: row.try_get("created")?,
                        last_modified: row.try_get("last_modified")?,
                        members: None,
                        groups: None,
                        body: Some(super::body::Body { schemas, members }),
                    });
                }
            }
        }
        self.row_to_resource(row)
    }

    /// The rendered-body columns' parameters for `data`.
    fn body_params(&self, p: &mut Params, ctx: &Context<'_>, data: &JsonMap) -> [String; 3] {
        let b = super::body::render_body(ctx, data);
        [
            p.text(b.schemas),
            p.text(b.members),
            p.text(super::body::body_key(ctx)),
        ]
    }

    fn row_to_resource(&self, row: &AnyRow) -> Result<StoredResource, StoreError> {
        let data: String = row.try_get("data")?;
        let data = match serde_json::from_str(&data) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(StoreError::Backend(
                    "stored resource data is not a JSON object".into(),
                ))
            }
        };
        Ok(StoredResource {
            id: row.try_get("id")?,
            data,
            version: row.try_get("version")?,
            created: row.try_get("created")?,
            last_modified: row.try_get("last_modified")?,
            members: None,
            groups: None,
            body: None,
        })
    }

    async fn load_extras(
        &self,
        exec: &mut sqlx::AnyConnection,
        tenant: &str,
        ctx: &Context<'_>,
        items: &mut [StoredResource],
        load: Load,
    ) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let is_group = ctx.resource_type.name == "Group";
        let is_user = ctx.resource_type.name == "User";
        for chunk in items.chunks_mut(CHUNK) {
            let index: std::collections::HashMap<String, usize> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| (r.id.clone(), i))
                .collect();
            if load.members && is_group {
                let mut p = self.p();
                let t = p.text(tenant);
                let ids: Vec<String> = chunk.iter().map(|r| p.text(r.id.clone())).collect();
                let sql = format!(
                    "SELECT group_id, member_id, member_type, display FROM scim_members \
                     WHERE tenant = {t} AND group_id IN ({}) ORDER BY group_id, member_id",
                    ids.join(", ")
                );
                let rows = bind_all(sqlx::query(&sql), &p.values)
                    .fetch_all(&mut *exec)
                    .await?;
                for r in chunk.iter_mut() {
                    r.members = Some(Vec::new());
                }
                for row in rows {
                    let gid: String = row.try_get("group_id")?;
                    if let Some(&i) = index.get(&gid) {
                        chunk[i]
                            .members
                            .get_or_insert_with(Vec::new)
                            .push(MemberRow {
                                value: row.try_get("member_id")?,
                                kind: row.try_get::<Option<String>, _>("member_type")?,
                                display: row.try_get::<Option<String>, _>("display")?,
                            });
                    }
                }
            }
            if load.groups && is_user {
                let mut p = self.p();
                let t = p.text(tenant);
                let ids: Vec<String> = chunk.iter().map(|r| p.text(r.id.clone())).collect();
                let sql = format!(
                    "SELECT m.member_id, m.group_id, g.display_name FROM scim_members m \
                     JOIN scim_resources g ON g.tenant = m.tenant AND g.resource_type = 'Group' AND g.id = m.group_id \
                     WHERE m.tenant = {t} AND m.member_id IN ({}) ORDER BY m.member_id, m.group_id",
                    ids.join(", ")
                );
                let rows = bind_all(sqlx::query(&sql), &p.values)
                    .fetch_all(&mut *exec)
                    .await?;
                for r in chunk.iter_mut() {
                    r.groups = Some(Vec::new());
                }
                for row in rows {
                    let uid: String = row.try_get("member_id")?;
                    if let Some(&i) = index.get(&uid) {
                        chunk[i].groups.get_or_insert_with(Vec::new).push(GroupRef {
                            value: row.try_get("group_id")?,
                            display: row.try_get::<Option<String>, _>("display_name")?,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks that every member exists in the tenant and fills in its type.
    async fn resolve_members(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tenant: &str,
        group_id: &str,
        members: &mut [MemberRow],
    ) -> Result<(), StoreError> {
        for chunk in members.chunks_mut(CHUNK) {
            let mut p = self.p();
            let t = p.text(tenant);
            let ids: Vec<String> = chunk.iter().map(|m| p.text(m.value.clone())).collect();
            let sql = format!(
                "SELECT id, resource_type FROM scim_resources WHERE tenant = {t} \
                 AND resource_type IN ('User', 'Group') AND id IN ({})",
                ids.join(", ")
            );
            let rows = bind_all(sqlx::query(&sql), &p.values)
                .fetch_all(&mut **tx)
                .await?;
            let mut kinds = std::collections::HashMap::with_capacity(rows.len());
            for row in &rows {
                kinds.insert(
                    row.try_get::<String, _>("id")?,
                    row.try_get::<String, _>("resource_type")?,
                );
            }
            for m in chunk.iter_mut() {
                if m.value == group_id {
                    return Err(StoreError::Invalid(ScimError::invalid_value(format!(
                        "a group cannot be a member of itself ({})",
                        m.value
                    ))));
                }
                match kinds.get(&m.value) {
                    Some(kind) => m.kind = Some(kind.clone()),
                    None => {
                        return Err(StoreError::Invalid(ScimError::invalid_value(format!(
                            "member {:?} does not exist",
                            m.value
                        ))))
                    }
                }
            }
        }
        Ok(())
    }

    async fn apply_member_changes(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tenant: &str,
        group_id: &str,
        changes: Vec<MemberChange>,
    ) -> Result<u64, StoreError> {
        let mut affected = 0;
        for change in changes {
            match change {
                MemberChange::RemoveAll => {
                    let mut p = self.p();
                    let sql = format!(
                        "DELETE FROM scim_members WHERE tenant = {} AND group_id = {}",
                        p.text(tenant),
                        p.text(group_id)
                    );
                    affected += bind_all(sqlx::query(&sql), &p.values)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected();
                }
                MemberChange::Remove(ids) => {
                    for chunk in ids.chunks(CHUNK) {
                        let mut p = self.p();
                        let t = p.text(tenant);
                        let g = p.text(group_id);
                        let list: Vec<String> = chunk.iter().map(|i| p.text(i.clone())).collect();
                        let sql = format!(
                            "DELETE FROM scim_members WHERE tenant = {t} AND group_id = {g} AND member_id IN ({})",
                            list.join(", ")
                        );
                        affected += bind_all(sqlx::query(&sql), &p.values)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                    }
                }
                MemberChange::Add(mut rows) => {
                    // Within one request, later duplicates are no-ops too.
                    let mut seen = std::collections::HashSet::new();
                    rows.retain(|m| seen.insert(m.value.clone()));
                    self.resolve_members(tx, tenant, group_id, &mut rows)
                        .await?;
                    for chunk in rows.chunks(CHUNK / 5) {
                        let mut p = self.p();
                        let mut values = Vec::with_capacity(chunk.len());
                        for m in chunk {
                            let t = p.text(tenant);
                            let g = p.text(group_id);
                            let v = p.text(m.value.clone());
                            let k = p.text(m.kind.clone().unwrap_or_else(|| "User".into()));
                            let d = match &m.display {
                                Some(d) => p.text(d.clone()),
                                None => "NULL".into(),
                            };
                            values.push(format!("({t}, {g}, {v}, {k}, {d})"));
                        }
                        let sql = format!(
                            "INSERT INTO scim_members (tenant, group_id, member_id, member_type, display) VALUES {} \
                             ON CONFLICT (tenant, group_id, member_id) DO NOTHING",
                            values.join(", ")
                        );
                        affected += bind_all(sqlx::query(&sql), &p.values)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                    }
                }
            }
        }
        Ok(affected)
    }

    /// Fills the index for resources stored before it existed (once per database). The marker
    /// row is written first, in the same transaction: a second server process starting at the
    /// same time waits for it (PostgreSQL row lock; SQLite's write lock) and then skips.
    async fn fill_index(&self) -> Result<(), StoreError> {
        let mut p = self.p();
        let sql = format!(
            "SELECT value FROM scim_store_state WHERE key = {}",
            p.text(INDEX_READY)
        );
        let done = bind_all(sqlx::query(&sql), &p.values)
            .fetch_optional(&self.write)
            .await?
            .is_some();
        if done {
            return Ok(());
        }
        let mut tx = self.write.begin().await?;
        let mut p = self.p();
        let sql = format!(
            "INSERT INTO scim_store_state (key, value) VALUES ({}, {}) ON CONFLICT (key) DO NOTHING",
            p.text(INDEX_READY),
            p.text(timestamp_text(chrono::Utc::now()))
        );
        let mine = bind_all(sqlx::query(&sql), &p.values)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !mine {
            return Ok(());
        }
        let mut after: Option<(String, String)> = None;
        loop {
            let mut p = self.p();
            let cond = match &after {
                Some((t, i)) => format!(
                    "WHERE (r.tenant, r.id) > ({}, {})",
                    p.text(t.clone()),
                    p.text(i.clone())
                ),
                None => String::new(),
            };
            let sql = format!(
                "SELECT r.tenant, r.resource_type, r.id, {} AS data FROM scim_resources r {cond} \
                 ORDER BY r.tenant, r.id LIMIT 1000",
                self.data_select()
            );
            let rows = bind_all(sqlx::query(&sql), &p.values)
                .fetch_all(&mut *tx)
                .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let tenant: String = row.try_get("tenant")?;
                let rt: String = row.try_get("resource_type")?;
                let id: String = row.try_get("id")?;
                let data: String = row.try_get("data")?;
                if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&data) {
                    self.write_index(&mut tx, &tenant, &rt, &id, None, Some(&m))
                        .await?;
                }
                after = Some((tenant, id));
            }
        }
        tx.commit().await?;
        self.durable().await?;
        Ok(())
    }

    /// Brings a resource's index rows from what `old` data gives to what `new` gives, writing
    /// only the difference.
    async fn write_index(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tenant: &str,
        resource_type: &str,
        id: &str,
        old: Option<&JsonMap>,
        new: Option<&JsonMap>,
    ) -> Result<(), StoreError> {
        let old = old.map(super::index::entries).unwrap_or_default();
        let new = new.map(super::index::entries).unwrap_or_default();
        let gone: Vec<_> = old.difference(&new).collect();
        let added: Vec<_> = new.difference(&old).collect();
        for chunk in gone.chunks(INDEX_CHUNK) {
            let mut p = self.p();
            let t = p.text(tenant);
            let rt = p.text(resource_type);
            let i = p.text(id);
            let pairs: Vec<String> = chunk
                .iter()
                .map(|(a, v)| format!("({}, {})", p.text(a.clone()), p.text(v.clone())))
                .collect();
            let sql = format!(
                "DELETE FROM scim_index WHERE tenant = {t} AND resource_type = {rt} AND id = {i} \
                 AND (attr, value) IN ({})",
                match self.dialect {
                    Dialect::Sqlite => format!("VALUES {}", pairs.join(", ")),
                    Dialect::Postgres => pairs.join(", "),
                }
            );
            bind_all(sqlx::query(&sql), &p.values)
                .execute(&mut **tx)
                .await?;
        }
        for chunk in added.chunks(INDEX_CHUNK) {
            let mut p = self.p();
            let rows: Vec<String> = chunk
                .iter()
                .map(|(a, v)| {
                    format!(
                        "({}, {}, {}, {}, {})",
                        p.text(tenant),
                        p.text(resource_type),
                        p.text(a.clone()),
                        p.text(v.clone()),
                        p.text(id)
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO scim_index (tenant, resource_type, attr, value, id) VALUES {}",
                rows.join(", ")
            );
            bind_all(sqlx::query(&sql), &p.values)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Adds `delta` to the number of resources of a type in a tenant.
    /// Records a change in the audit trail, in the change's transaction (see [`crate::audit`]).
    #[allow(clippy::too_many_arguments)]
    async fn write_audit(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tenant: &str,
        resource_type: &str,
        id: &str,
        default_op: &str,
        attributes: Vec<String>,
        old_version: Option<i64>,
        new_version: Option<i64>,
    ) -> Result<(), StoreError> {
        let actor = crate::audit::current();
        let (who, request_id, op) = match &actor {
            Some(a) => (a.actor.as_str(), a.request_id.clone(), a.operation.as_str()),
            None => ("-", None, default_op),
        };
        let mut p = self.p();
        let version = |p: &mut Params, v: Option<i64>| match v {
            Some(v) => p.push(SqlValue::Int(v)),
            None => "NULL".into(),
        };
        let sql = format!(
            "INSERT INTO scim_audit (at, tenant, actor, request_id, operation, resource_type, \
             resource_id, attributes, old_version, new_version) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            p.text(timestamp_text(chrono::Utc::now())),
            p.text(tenant),
            p.text(who),
            match request_id {
                Some(r) => p.text(r),
                None => "NULL".into(),
            },
            p.text(op),
            p.text(resource_type),
            p.text(id),
            p.text(Value::from(attributes).to_string()),
            version(&mut p, old_version),
            version(&mut p, new_version),
        );
        bind_all(sqlx::query(&sql), &p.values)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn count_change(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tenant: &str,
        resource_type: &str,
        delta: i64,
    ) -> Result<(), StoreError> {
        let mut p = self.p();
        let sql = format!(
            "INSERT INTO scim_counts (tenant, resource_type, n) VALUES ({}, {}, {d}) \
             ON CONFLICT (tenant, resource_type) DO UPDATE SET n = scim_counts.n + {d}",
            p.text(tenant),
            p.text(resource_type),
            d = p.push(SqlValue::Int(delta)),
        );
        bind_all(sqlx::query(&sql), &p.values)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Refreshes the planner's statistics (`ANALYZE`).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        sqlx::query("ANALYZE").execute(&self.write).await?;
        Ok(())
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
        let (sql, params) = self.page_sql(tenant, ctx, q)?;
        let mut conn = self.read.acquire().await?;
        let mut out = Vec::new();
        match self.dialect {
            Dialect::Sqlite => {
                let sql = format!("EXPLAIN QUERY PLAN {sql}");
                for row in bind_all(sqlx::query(&sql), &params.values)
                    .fetch_all(&mut *conn)
                    .await?
                {
                    out.push(row.try_get::<String, _>("detail")?);
                }
            }
            Dialect::Postgres => {
                use sqlx::Executor;
                conn.execute("SET enable_seqscan = off").await?;
                let sql = format!("EXPLAIN {sql}");
                let rows = bind_all(sqlx::query(&sql), &params.values)
                    .fetch_all(&mut *conn)
                    .await;
                conn.execute("RESET enable_seqscan").await?;
                for row in rows? {
                    out.push(row.try_get::<String, _>(0)?);
                }
            }
        }
        Ok(out)
    }

    /// The statement (and its parameters) that reads one page of a query.
    fn page_sql(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        q: &Query,
    ) -> Result<(String, Params), StoreError> {
        self.page_sql_keyed(tenant, ctx, q, None)
    }

    /// [`Self::page_sql`]; with the current body key, rows whose stored body is current come
    /// without their data (it is neither transferred nor decoded).
    fn page_sql_keyed(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        q: &Query,
        key: Option<&str>,
    ) -> Result<(String, Params), StoreError> {
        let d = self.dialect;
        super::sql::page_statement(d, tenant, ctx, q, |p| super::sql::page_columns(d, p, key))
    }

    /// [`Self::page_sql`] selecting `columns`.
    fn page_sql_columns(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        q: &Query,
        columns: &str,
    ) -> Result<(String, Params), StoreError> {
        super::sql::page_statement(self.dialect, tenant, ctx, q, |_| columns.to_string())
    }

    /// One resource with its stored rendered form (used when it is current, see [`super::body`]).
    async fn fetch_rendered(
        &self,
        exec: impl sqlx::Executor<'_, Database = sqlx::Any>,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
    ) -> Result<StoredResource, StoreError> {
        let key = super::body::body_key(ctx);
        let mut p = self.p();
        let sql = format!(
            "SELECT r.id, {} AS data, r.version, r.created, r.last_modified, \
             r.body_schemas, r.body, r.body_key FROM scim_resources r \
             WHERE r.tenant = {} AND r.resource_type = {} AND r.id = {}",
            self.data_select(),
            p.text(tenant),
            p.text(ctx.resource_type.name.clone()),
            p.text(id)
        );
        let row = bind_all(sqlx::query(&sql), &p.values)
            .fetch_optional(exec)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.page_row(&row, Some(&key))
    }

    async fn fetch_one(
        &self,
        exec: impl sqlx::Executor<'_, Database = sqlx::Any>,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let mut p = self.p();
        let sql = format!(
            "SELECT r.id, {} AS data, r.version, r.created, r.last_modified FROM scim_resources r \
             WHERE r.tenant = {} AND r.resource_type = {} AND r.id = {}",
            self.data_select(),
            p.text(tenant),
            p.text(ctx.resource_type.name.clone()),
            p.text(id)
        );
        let row = bind_all(sqlx::query(&sql), &p.values)
            .fetch_optional(exec)
            .await?;
        row.map(|r| self.row_to_resource(&r)).transpose()
    }
}

/// The folded userName used for the uniqueness index (RFC 7643 §4.1.1: userName is unique and
/// not case-exact).
pub(super) fn user_name_key(ctx: &Context<'_>, data: &JsonMap) -> Option<String> {
    if ctx.resource_type.name != "User" {
        return None;
    }
    data.get("userName")
        .and_then(Value::as_str)
        .map(|u| scim_core::filter::fold(u, false).into_owned())
}

pub(super) fn display_name(data: &JsonMap) -> Option<String> {
    data.get("displayName")
        .and_then(Value::as_str)
        .map(str::to_string)
}

pub(super) fn uniqueness(
    ctx: &Context<'_>,
    data: &JsonMap,
) -> impl FnOnce(StoreError) -> StoreError {
    let name = data
        .get("userName")
        .and_then(Value::as_str)
        .map(str::to_string);
    let is_user = ctx.resource_type.name == "User";
    move |e| match e {
        StoreError::Uniqueness(_) if is_user => StoreError::Uniqueness(format!(
            "userName {:?} is already in use",
            name.unwrap_or_default()
        )),
        other => other,
    }
}

#[async_trait]
impl Store for SqlxStore {
    async fn create(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        data: JsonMap,
        members: Vec<MemberRow>,
    ) -> Result<StoredResource, StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = timestamp_text(chrono::Utc::now());
        // Everything the row needs is computed before the transaction starts.
        let mut p = self.p();
        let [body_schemas, body, body_key] = self.body_params(&mut p, ctx, &data);
        let cols = [
            p.text(tenant),
            p.text(ctx.resource_type.name.clone()),
            p.text(id.clone()),
            match user_name_key(ctx, &data) {
                Some(k) => p.text(k),
                None => "NULL".into(),
            },
            match display_name(&data) {
                Some(d) => p.text(d),
                None => "NULL".into(),
            },
            self.json_param(&mut p, &data),
            p.push(SqlValue::Int(1)),
            p.text(now.clone()),
            p.text(now.clone()),
            body_schemas,
            body,
            body_key,
        ];
        let mut tx = self.write.begin().await?;
        let sql = format!(
            "INSERT INTO scim_resources (tenant, resource_type, id, user_name_key, display_name, data, version, created, last_modified, body_schemas, body, body_key) \
             VALUES ({})",
            cols.join(", ")
        );
        bind_all(sqlx::query(&sql), &p.values)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)
            .map_err(uniqueness(ctx, &data))?;
        self.write_index(
            &mut tx,
            tenant,
            &ctx.resource_type.name,
            &id,
            None,
            Some(&data),
        )
        .await?;
        self.count_change(&mut tx, tenant, &ctx.resource_type.name, 1)
            .await?;
        let has_members = !members.is_empty();
        if has_members {
            self.apply_member_changes(&mut tx, tenant, &id, vec![MemberChange::Add(members)])
                .await?;
        }
        let mut attrs = crate::audit::changed_attributes(None, Some(&data));
        if has_members {
            attrs.push("members".into());
        }
        self.write_audit(
            &mut tx,
            tenant,
            &ctx.resource_type.name,
            &id,
            "create",
            attrs,
            None,
            Some(1),
        )
        .await?;
        let mut stored = StoredResource {
            id,
            data,
            version: 1,
            created: now.clone(),
            last_modified: now,
            members: None,
            groups: None,
            body: None,
        };
        if ctx.resource_type.name == "Group" {
            let mut items = [stored];
            self.load_extras(
                &mut tx,
                tenant,
                ctx,
                &mut items,
                Load {
                    members: true,
                    groups: false,
                },
            )
            .await?;
            let [s] = items;
            stored = s;
        }
        tx.commit().await?;
        self.durable().await?;
        Ok(stored)
    }

    async fn get(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load: Load,
    ) -> Result<StoredResource, StoreError> {
        let mut conn = self.read.acquire().await?;
        let r = self
            .fetch_one(&mut *conn, tenant, ctx, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut items = [r];
        self.load_extras(&mut conn, tenant, ctx, &mut items, load)
            .await?;
        let [r] = items;
        Ok(r)
    }

    async fn get_rendered(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load: Load,
    ) -> Result<StoredResource, StoreError> {
        let mut conn = self.read.acquire().await?;
        let mut items = [self.fetch_rendered(&mut *conn, tenant, ctx, id).await?];
        self.load_extras(&mut conn, tenant, ctx, &mut items, load)
            .await?;
        let [r] = items;
        Ok(r)
    }

    async fn modify(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load_current: Load,
        mut f: ModifyFn<'_>,
    ) -> Result<(StoredResource, StoredResource), StoreError> {
        let mut tx = self.write.begin().await?;
        // Read and lock the row: PostgreSQL row lock; SQLite has a single writer connection.
        let mut p = self.p();
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "SELECT r.id, {} AS data, r.version, r.created, r.last_modified FROM scim_resources r \
             WHERE r.tenant = {} AND r.resource_type = {} AND r.id = {}{lock}",
            self.data_select(),
            p.text(tenant),
            p.text(ctx.resource_type.name.clone()),
            p.text(id)
        );
        let row = bind_all(sqlx::query(&sql), &p.values)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound);
        };
        let mut items = [self.row_to_resource(&row)?];
        self.load_extras(&mut tx, tenant, ctx, &mut items, load_current)
            .await?;
        let [before] = items;
        let current = before.version;
        let Update {
            expected_version,
            data,
            member_changes,
            load,
        } = f(&before)?;
        if expected_version.is_some_and(|v| v != current) {
            return Err(StoreError::VersionMismatch);
        }
        let mut changed = false;
        let mut members_changed = false;
        if !member_changes.is_empty() {
            members_changed = self
                .apply_member_changes(&mut tx, tenant, id, member_changes)
                .await?
                > 0;
            changed |= members_changed;
        }
        let now = timestamp_text(chrono::Utc::now());
        let mut p = self.p();
        let mut sets = Vec::new();
        if let Some(d) = &data {
            sets.push(format!("data = {}", self.json_param(&mut p, d)));
            sets.push(format!(
                "user_name_key = {}",
                match user_name_key(ctx, d) {
                    Some(k) => p.text(k),
                    None => "NULL".into(),
                }
            ));
            sets.push(format!(
                "display_name = {}",
                match display_name(d) {
                    Some(k) => p.text(k),
                    None => "NULL".into(),
                }
            ));
            let [bs, b, bk] = self.body_params(&mut p, ctx, d);
            sets.push(format!("body_schemas = {bs}, body = {b}, body_key = {bk}"));
            changed = true;
        }
        if changed {
            sets.push("version = version + 1".into());
            sets.push(format!("last_modified = {}", p.text(now)));
            let sql = format!(
                "UPDATE scim_resources SET {} WHERE tenant = {} AND resource_type = {} AND id = {}",
                sets.join(", "),
                p.text(tenant),
                p.text(ctx.resource_type.name.clone()),
                p.text(id)
            );
            let res = bind_all(sqlx::query(&sql), &p.values)
                .execute(&mut *tx)
                .await;
            match (res, &data) {
                (Err(e), Some(d)) => return Err(uniqueness(ctx, d)(StoreError::from(e))),
                (Err(e), None) => return Err(e.into()),
                (Ok(_), _) => {}
            }
            if let Some(d) = &data {
                self.write_index(
                    &mut tx,
                    tenant,
                    &ctx.resource_type.name,
                    id,
                    Some(&before.data),
                    Some(d),
                )
                .await?;
            }
            let mut attrs = match &data {
                Some(d) => crate::audit::changed_attributes(Some(&before.data), Some(d)),
                None => Vec::new(),
            };
            if members_changed {
                attrs.push("members".into());
            }
            self.write_audit(
                &mut tx,
                tenant,
                &ctx.resource_type.name,
                id,
                "update",
                attrs,
                Some(current),
                Some(current + 1),
            )
            .await?;
        }
        let stored = self
            .fetch_one(&mut *tx, tenant, ctx, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut items = [stored];
        self.load_extras(&mut tx, tenant, ctx, &mut items, load)
            .await?;
        tx.commit().await?;
        self.durable().await?;
        let [s] = items;
        Ok((before, s))
    }

    async fn delete(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        // Every group the resource leaves gets a new version (its ETag changes), decided in
        // the transaction that removes the membership rows (by cascade, see the migrations).
        let mut p = self.p();
        let now = timestamp_text(chrono::Utc::now());
        let sql = format!(
            "UPDATE scim_resources SET version = version + 1, last_modified = {now} \
             WHERE tenant = {t} AND resource_type = 'Group' AND id IN \
             (SELECT group_id FROM scim_members WHERE tenant = {t} AND member_id = {i})",
            now = p.text(now.clone()),
            t = p.text(tenant),
            i = p.text(id)
        );
        bind_all(sqlx::query(&sql), &p.values)
            .execute(&mut *tx)
            .await?;
        let mut p = self.p();
        let version = match expected_version {
            Some(v) => format!(" AND version = {}", p.push(SqlValue::Int(v))),
            None => String::new(),
        };
        let sql = format!(
            "DELETE FROM scim_resources WHERE tenant = {} AND resource_type = {} AND id = {}{version} \
             RETURNING version",
            p.text(tenant),
            p.text(ctx.resource_type.name.clone()),
            p.text(id)
        );
        let deleted = bind_all(sqlx::query(&sql), &p.values)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(deleted) = deleted else {
            let exists = self.fetch_one(&mut *tx, tenant, ctx, id).await?.is_some();
            return Err(if exists {
                StoreError::VersionMismatch
            } else {
                StoreError::NotFound
            });
        };
        let old_version: i64 = deleted.try_get("version")?;
        self.write_audit(
            &mut tx,
            tenant,
            &ctx.resource_type.name,
            id,
            "delete",
            Vec::new(),
            Some(old_version),
            None,
        )
        .await?;
        let mut p = self.p();
        let sql = format!(
            "DELETE FROM scim_index WHERE tenant = {} AND id = {}",
            p.text(tenant),
            p.text(id)
        );
        bind_all(sqlx::query(&sql), &p.values)
            .execute(&mut *tx)
            .await?;
        self.count_change(&mut tx, tenant, &ctx.resource_type.name, -1)
            .await?;
        tx.commit().await?;
        self.durable().await?;
        Ok(())
    }

    async fn query(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        q: &Query,
    ) -> Result<(Vec<StoredResource>, u64), StoreError> {
        let mut items = Vec::new();
        let key = q.prefer_rendered.then(|| super::body::body_key(ctx));
        if q.limit > 0 && q.offset > 0 && self.dialect == Dialect::Postgres {
            // A deep page in two steps: the page's ids (an index-only walk past the offset),
            // then those rows. PostgreSQL computes the select list of every row it skips, so
            // one statement would convert the data of all skipped rows.
            let (sql, params) = self.page_sql_columns(tenant, ctx, q, "r.id")?;
            let ids: Vec<String> = bind_all(sqlx::query(&sql), &params.values)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("id"))
                .collect::<Result<_, _>>()?;
            let mut by_id = std::collections::HashMap::with_capacity(ids.len());
            for chunk in ids.chunks(CHUNK) {
                let mut p = self.p();
                let t = p.text(tenant);
                let rt = p.text(ctx.resource_type.name.clone());
                let list: Vec<String> = chunk.iter().map(|i| p.text(i.clone())).collect();
                let sql = format!(
                    "SELECT r.id, {} AS data, r.version, r.created, r.last_modified, \
                     r.body_schemas, r.body, r.body_key FROM scim_resources r \
                     WHERE r.tenant = {t} AND r.resource_type = {rt} AND r.id IN ({})",
                    self.data_select(),
                    list.join(", ")
                );
                for row in bind_all(sqlx::query(&sql), &p.values)
                    .fetch_all(&self.read)
                    .await?
                {
                    let r = self.page_row(&row, key.as_deref())?;
                    by_id.insert(r.id.clone(), r);
                }
            }
            // In the page's order; a row deleted in between is simply not there.
            items.extend(ids.iter().filter_map(|i| by_id.remove(i)));
        } else if q.limit > 0 {
            let (sql, params) = self.page_sql_keyed(tenant, ctx, q, key.as_deref())?;
            let rows = bind_all(sqlx::query(&sql), &params.values)
                .fetch_all(&self.read)
                .await?;
            for row in &rows {
                items.push(self.page_row(row, key.as_deref())?);
            }
        }
        let n = items.len() as u64;
        let total =
            if q.after_id.is_none() && q.limit > 0 && n < q.limit && (n > 0 || q.offset == 0) {
                // A short page is the last one: the total is known without counting.
                q.offset + n
            } else if q.filter.is_none() {
                // Unfiltered: the counter maintained on create and delete.
                let mut p = self.p();
                let sql = format!(
                    "SELECT n FROM scim_counts WHERE tenant = {} AND resource_type = {}",
                    p.text(tenant),
                    p.text(ctx.resource_type.name.clone())
                );
                let row = bind_all(sqlx::query(&sql), &p.values)
                    .fetch_optional(&self.read)
                    .await?;
                match row {
                    Some(r) => r.try_get::<i64, _>("n")?.max(0) as u64,
                    None => 0,
                }
            } else {
                let (sql, params) = super::sql::count_statement(self.dialect, tenant, ctx, q)?;
                let row = bind_all(sqlx::query(&sql), &params.values)
                    .fetch_one(&self.read)
                    .await?;
                row.try_get::<i64, _>("n")? as u64
            };
        if !items.is_empty() && (q.load.members || q.load.groups) {
            let mut conn = self.read.acquire().await?;
            self.load_extras(&mut conn, tenant, ctx, &mut items, q.load)
                .await?;
        }
        Ok((items, total))
    }

    async fn token_lookup(&self, token_hash: &str) -> Result<Option<TokenInfo>, StoreError> {
        let mut p = self.p();
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM scim_tokens WHERE token_hash = {}",
            p.text(token_hash)
        );
        let row = bind_all(sqlx::query(&sql), &p.values)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(token_info).transpose()
    }

    async fn add_token(&self, t: NewToken<'_>) -> Result<(), StoreError> {
        let mut p = self.p();
        let sql = format!(
            "INSERT INTO scim_tokens (token_hash, tenant, label, created, source, read_only) \
             VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT (token_hash) DO NOTHING",
            p.text(t.hash),
            p.text(t.tenant),
            p.text(t.label),
            p.text(timestamp_text(chrono::Utc::now())),
            p.text(t.source),
            p.push(SqlValue::Int(i64::from(t.read_only))),
        );
        bind_all(sqlx::query(&sql), &p.values)
            .execute(&self.write)
            .await?;
        self.durable().await?;
        Ok(())
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM scim_tokens ORDER BY created, token_hash");
        sqlx::query(&sql)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(token_info)
            .collect()
    }

    async fn revoke_token(&self, id: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() < 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid(ScimError::invalid_value(
                "a token id is at least 8 hex digits (see `scim-server token list`)",
            )));
        }
        let mut tx = self.write.begin().await?;
        let mut p = self.p();
        let prefix = p.text(format!("{id}%"));
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM scim_tokens WHERE token_hash LIKE {prefix}");
        let found: Vec<TokenInfo> = bind_all(sqlx::query(&sql), &p.values)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(token_info)
            .collect::<Result<_, _>>()?;
        if found.len() > 1 {
            return Err(StoreError::Invalid(ScimError::invalid_value(format!(
                "{} tokens have an id starting with {id}: give more digits",
                found.len()
            ))));
        }
        let sql = format!("DELETE FROM scim_tokens WHERE token_hash LIKE {prefix}");
        bind_all(sqlx::query(&sql), &p.values)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.durable().await?;
        Ok(found)
    }

    async fn touch_token(&self, token_hash: &str) -> Result<(), StoreError> {
        let mut p = self.p();
        let sql = format!(
            "UPDATE scim_tokens SET last_used = {} WHERE token_hash = {}",
            p.text(timestamp_text(chrono::Utc::now())),
            p.text(token_hash)
        );
        // Not waited for durability: losing a last-used time in a crash is harmless.
        bind_all(sqlx::query(&sql), &p.values)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn retain_config_tokens(&self, keep: &[String]) -> Result<u64, StoreError> {
        let mut tx = self.write.begin().await?;
        let hashes: Vec<String> =
            sqlx::query("SELECT token_hash FROM scim_tokens WHERE source = 'config'")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("token_hash"))
                .collect::<Result<_, _>>()?;
        let mut removed = 0;
        for h in hashes
            .iter()
            .filter(|h| !keep.iter().any(|k| k.eq_ignore_ascii_case(h)))
        {
            let mut p = self.p();
            let sql = format!(
                "DELETE FROM scim_tokens WHERE token_hash = {}",
                p.text(h.clone())
            );
            removed += bind_all(sqlx::query(&sql), &p.values)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        self.durable().await?;
        Ok(removed)
    }

    async fn audit_records(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let mut p = self.p();
        let mut conds = vec!["1 = 1".to_string()];
        if let Some(t) = &q.tenant {
            conds.push(format!("tenant = {}", p.text(t.clone())));
        }
        if let Some(t) = &q.since {
            conds.push(format!("at >= {}", p.text(t.clone())));
        }
        if let Some(t) = &q.until {
            conds.push(format!("at < {}", p.text(t.clone())));
        }
        if let Some(t) = &q.resource_id {
            conds.push(format!("resource_id = {}", p.text(t.clone())));
        }
        if let Some(t) = &q.actor {
            conds.push(format!("actor = {}", p.text(t.clone())));
        }
        let limit = match q.limit {
            Some(n) => format!(" LIMIT {}", p.push(SqlValue::Int(n.max(0)))),
            None => String::new(),
        };
        let sql = format!(
            "SELECT seq, at, tenant, actor, request_id, operation, resource_type, resource_id, \
             attributes, old_version, new_version FROM scim_audit WHERE {} ORDER BY seq{limit}",
            conds.join(" AND ")
        );
        bind_all(sqlx::query(&sql), &p.values)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| {
                let attrs: String = r.try_get("attributes")?;
                Ok(AuditRecord {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    tenant: r.try_get("tenant")?,
                    actor: r.try_get("actor")?,
                    request_id: r.try_get("request_id")?,
                    operation: r.try_get("operation")?,
                    resource_type: r.try_get("resource_type")?,
                    resource_id: r.try_get("resource_id")?,
                    attributes: serde_json::from_str(&attrs).unwrap_or_default(),
                    old_version: r.try_get("old_version")?,
                    new_version: r.try_get("new_version")?,
                })
            })
            .collect()
    }

    async fn prune_audit(&self, before: &str) -> Result<u64, StoreError> {
        let mut p = self.p();
        let sql = format!("DELETE FROM scim_audit WHERE at < {}", p.text(before));
        let n = bind_all(sqlx::query(&sql), &p.values)
            .execute(&self.write)
            .await?
            .rows_affected();
        self.durable().await?;
        Ok(n)
    }

    async fn sync(&self) -> Result<(), StoreError> {
        match &self.wal {
            Some(w) => w.durable().await,
            None => Ok(()),
        }
    }

    async fn get_streaming(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        rendered: bool,
    ) -> Result<(StoredResource, super::MemberPages), StoreError> {
        // One read transaction: the resource and every page of members come from the same
        // snapshot, so the ETag matches the members streamed.
        let mut tx = self.read.begin().await?;
        let resource = if rendered {
            self.fetch_rendered(&mut *tx, tenant, ctx, id).await?
        } else {
            self.fetch_one(&mut *tx, tenant, ctx, id)
                .await?
                .ok_or(StoreError::NotFound)?
        };
        if ctx.resource_type.name != "Group" {
            return Ok((resource, Box::pin(futures::stream::empty())));
        }
        let this = self.clone();
        let page_size = self.member_page;
        let (tenant, group) = (tenant.to_string(), id.to_string());
        let pages = futures::stream::try_unfold((Some(tx), None::<String>), move |(tx, after)| {
            let this = this.clone();
            let (tenant, group) = (tenant.clone(), group.clone());
            async move {
                let Some(mut tx) = tx else {
                    return Ok(None);
                };
                let mut p = this.p();
                let t = p.text(tenant);
                let g = p.text(group);
                // Both forms seek the primary key (tenant, group_id, member_id): PostgreSQL takes
                // the (tenant, member_id) index for `member_id > ?` unless the bound is a row
                // value, and SQLite plans the row value worse.
                let after_clause = match (&after, this.dialect) {
                    (Some(a), Dialect::Postgres) => {
                        format!(" AND (group_id, member_id) > ({g}, {})", p.text(a.clone()))
                    }
                    (Some(a), Dialect::Sqlite) => format!(" AND member_id > {}", p.text(a.clone())),
                    (None, _) => String::new(),
                };
                let sql = format!(
                    "SELECT member_id, member_type, display FROM scim_members \
                     WHERE tenant = {t} AND group_id = {g}{after_clause} \
                     ORDER BY group_id, member_id LIMIT {}",
                    p.push(SqlValue::Int(page_size as i64)),
                );
                let rows = bind_all(sqlx::query(&sql), &p.values)
                    .fetch_all(&mut *tx)
                    .await?;
                let page = rows
                    .iter()
                    .map(|r| {
                        Ok(MemberRow {
                            value: r.try_get("member_id")?,
                            kind: r.try_get::<Option<String>, _>("member_type")?,
                            display: r.try_get::<Option<String>, _>("display")?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                if page.len() < page_size {
                    // The last page: end the snapshot now rather than when the body ends.
                    let _ = tx.rollback().await;
                    return Ok(Some((page, (None, None))));
                }
                let last = page.last().map(|m| m.value.clone());
                Ok(Some((page, (Some(tx), last))))
            }
        });
        Ok((resource, Box::pin(pages)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.read).await?;
        sqlx::query("SELECT 1").fetch_one(&self.write).await?;
        Ok(())
    }

    fn pool_stats(&self) -> Vec<(&'static str, u32, u32)> {
        vec![
            ("read", self.read.size(), self.read.num_idle() as u32),
            ("write", self.write.size(), self.write.num_idle() as u32),
        ]
    }

    async fn has_tokens(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM scim_tokens")
            .fetch_one(&self.read)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }
}
