//! The native SQLite store (rusqlite): readers on the blocking pool, one writer thread with
//! group commit (see [`pool`]), statements in [`ops`].
//!
//! Same schema, migrations and statements as the PostgreSQL store (the filter translation is
//! shared, [`super::sql`]); what differs is how statements reach the database. sqlx's SQLite
//! driver sends every statement to a worker thread and back; here a request's statements run
//! together on one connection in one blocking call, and concurrent writes share one
//! transaction and one flush of the write-ahead log.
//!
//! Migrations are the embedded `migrations/sqlite` files, recorded in `_sqlx_migrations`
//! exactly as sqlx records them, so databases created by earlier versions (on sqlx) open
//! unchanged.

pub mod ops;
pub mod pool;

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::Connection;
use scim_core::{Context, JsonMap, ScimError};
use serde_json::Value;

use self::ops::{Change, NewResource};
use self::pool::{Durability, Readers, Writer};
use super::shared::INDEX_READY;
use super::shared::{columns, AuditEntry};
use super::sql::{timestamp_text, Dialect, SqlValue};
use super::{
    Load, MemberPages, ModifyFn, NewToken, Query, Store, StoreError, StoredResource, TokenInfo,
    Update,
};
use crate::audit::{AuditQuery, AuditRecord};

/// Reader connections of a database file.
const READERS: usize = 4;

/// Page cache of the writer connection, in KiB.
const WRITER_CACHE_KIB: usize = 32_768;

/// Page cache of each reader connection, in KiB.
const READER_CACHE_KIB: usize = 8_192;

/// Write-ahead log pages between automatic checkpoints.
const WAL_PAGES: usize = 10_000;

/// How many times a change is decided again when the resource moved on meanwhile.
const MAX_RETRIES: usize = 64;

/// Per-resource locks of [`SqliteStore::modify`]: (tenant, resource type, id) → lock.
type Locks =
    Arc<std::sync::Mutex<std::collections::HashMap<(String, String, String), ResourceLock>>>;
type ResourceLock = Arc<tokio::sync::Mutex<()>>;

/// The native SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Writer,
    /// Changes of one resource in this process are decided one at a time: each decides from
    /// the state the previous one committed, instead of retrying after a version conflict
    /// (32 concurrent member changes of one group would otherwise retry each other out).
    locks: Locks,
    /// Reader connections; `None` for an in-memory database (everything runs on the writer).
    readers: Option<Arc<Readers>>,
    member_page: usize,
}

/// Opens a connection. The writer keeps the journals of its savepoints (one per write) in
/// memory rather than in a temporary file, gets a larger page cache (every write descends the
/// same B-tree interior pages) and checkpoints the write-ahead log every `WAL_PAGES` pages rather
/// than SQLite's 1,000: a page written many times between two checkpoints is copied to the
/// database file once (measured: the default made checkpoints most of the writer's work).
fn open(path: Option<&str>, writer: bool) -> Result<Connection, StoreError> {
    let conn = match path {
        Some(p) => Connection::open(p)?,
        None => Connection::open_in_memory()?,
    };
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
    if writer {
        conn.execute_batch(&format!(
            "PRAGMA cache_size = -{WRITER_CACHE_KIB}; PRAGMA wal_autocheckpoint = {WAL_PAGES}; \
             PRAGMA temp_store = MEMORY; \
             PRAGMA journal_size_limit = {};",
            WAL_PAGES * 4096 * 2
        ))?;
    } else {
        conn.execute_batch(&format!("PRAGMA cache_size = -{READER_CACHE_KIB};"))?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Applies the embedded migrations not applied yet, recording them as sqlx does.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        );",
    )?;
    let applied: std::collections::HashMap<i64, Vec<u8>> = {
        let mut stmt = conn.prepare("SELECT version, checksum FROM _sqlx_migrations")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for m in super::shared::SQLITE_MIGRATOR.iter() {
        if m.migration_type.is_down_migration() {
            continue;
        }
        if let Some(sum) = applied.get(&m.version) {
            if sum.as_slice() != m.checksum.as_ref() {
                return Err(StoreError::Backend(format!(
                    "migration {} was applied with another content: the database was made by a \
                     different build",
                    m.version
                )));
            }
            continue;
        }
        let started = std::time::Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let r = conn.execute_batch(&m.sql).and_then(|()| {
            conn.execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (?1, ?2, TRUE, ?3, ?4)",
                rusqlite::params![
                    m.version,
                    m.description.as_ref(),
                    m.checksum.as_ref(),
                    started.elapsed().as_nanos() as i64
                ],
            )
        });
        match r {
            Ok(_) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(StoreError::Backend(format!(
                    "migration {} failed: {e}",
                    m.version
                )));
            }
        }
    }
    Ok(())
}

/// Fills the index for resources stored before it existed (once per database).
fn fill_index(conn: &Connection) -> Result<(), StoreError> {
    let mine = ops::exec(
        conn,
        "INSERT INTO scim_store_state (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        &[
            SqlValue::Text(INDEX_READY.into()),
            SqlValue::Text(timestamp_text(chrono::Utc::now())),
        ],
    )? == 1;
    if !mine {
        return Ok(());
    }
    let mut after: Option<(String, String)> = None;
    loop {
        let (sql, values) = match &after {
            Some((t, i)) => (
                "SELECT tenant, resource_type, id, data FROM scim_resources \
                 WHERE (tenant, id) > (?1, ?2) ORDER BY tenant, id LIMIT 1000",
                vec![SqlValue::Text(t.clone()), SqlValue::Text(i.clone())],
            ),
            None => (
                "SELECT tenant, resource_type, id, data FROM scim_resources \
                 ORDER BY tenant, id LIMIT 1000",
                Vec::new(),
            ),
        };
        let rows = ops::all(conn, sql, &values, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        if rows.is_empty() {
            break;
        }
        for (tenant, rt, id, data) in rows {
            if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&data) {
                let entries: Vec<_> = super::index::entries(&m).into_iter().collect();
                ops::write_index(conn, &tenant, &rt, &id, &[], &entries)?;
            }
            after = Some((tenant, id));
        }
    }
    Ok(())
}

/// The path of an SQLite URL (`sqlite://PATH`, `sqlite:PATH`, with an optional `?query`), or
/// `None` for an in-memory database.
fn url_path(url: &str) -> Option<String> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or(rest);
    Some(path.to_string())
}

impl SqliteStore {
    /// Opens (creating it if needed) the database of `url`, applies the migrations and starts
    /// the writer thread.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let path = url_path(url);
        let (writer_conn, readers, wal) = tokio::task::spawn_blocking(move || {
            let conn = open(path.as_deref(), true)?;
            if path.is_some() {
                let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(StoreError::Backend(format!(
                        "the database cannot use write-ahead logging (journal mode {mode})"
                    )));
                }
            }
            migrate(&conn)?;
            conn.execute_batch("BEGIN IMMEDIATE")?;
            match fill_index(&conn) {
                Ok(()) => conn.execute_batch("COMMIT")?,
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(e);
                }
            }
            let (readers, wal) = match &path {
                Some(p) => {
                    let readers = (0..READERS)
                        .map(|_| open(Some(p), false))
                        .collect::<Result<Vec<_>, _>>()?;
                    let file = conn.path().map(str::to_string).unwrap_or_else(|| p.clone());
                    (
                        Some(Readers::new(readers)),
                        Some(std::path::PathBuf::from(format!("{file}-wal"))),
                    )
                }
                None => (None, None),
            };
            if let Some(w) = &wal {
                // What was written before this process started is flushed once.
                let _ = std::fs::File::open(w).and_then(|f| f.sync_data());
            }
            Ok::<_, StoreError>((conn, readers, wal))
        })
        .await
        .map_err(|e| StoreError::Backend(format!("opening the database failed: {e}")))??;
        Ok(SqliteStore {
            locks: Locks::default(),
            writer: Writer::start(writer_conn, wal),
            readers,
            member_page: 5000,
        })
    }

    /// Members per page when a group is streamed.
    pub fn with_member_page(mut self, n: usize) -> SqliteStore {
        self.member_page = n.max(1);
        self
    }

    /// Runs a read on a reader (or, in memory and inside [`super::defer_durability`], on the
    /// writer's connection, which sees the deferred writes not committed yet).
    async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        match &self.readers {
            Some(r) if !super::group_commit::is_deferred() => r.run(f).await,
            _ => self.writer.read(f).await,
        }
    }

    /// [`Self::read`] for a bounded point read (see [`Readers::run_quick`]).
    async fn read_quick<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        match &self.readers {
            Some(r) if !super::group_commit::is_deferred() => r.run_quick(f).await,
            _ => self.writer.read(f).await,
        }
    }

    /// One resource (in its rendered form with `key`) and what `load` asks for: a point read,
    /// unless it loads a group's members (any number of rows).
    async fn get_one(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load: Load,
        key: Option<String>,
    ) -> Result<StoredResource, StoreError> {
        let (t, rt, id) = (
            tenant.to_string(),
            ctx.resource_type.name.clone(),
            id.to_string(),
        );
        let unbounded = load.members && rt == "Group";
        let f = move |c: &Connection| {
            let r = ops::fetch(c, &t, &rt, &id, key.as_deref())?.ok_or(StoreError::NotFound)?;
            let mut items = [r];
            ops::load_extras(c, &t, &rt, &mut items, load)?;
            let [r] = items;
            Ok(r)
        };
        if unbounded {
            self.read(f).await
        } else {
            self.read_quick(f).await
        }
    }

    /// Runs a write in the next batch; durable when it returns unless durability is deferred.
    async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        self.write_releasing(f, None).await
    }

    /// Takes the lock of one resource; the returned release frees it (and forgets it when no
    /// one else waits).
    async fn lock(&self, key: (String, String, String)) -> pool::Release {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(key.clone()).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        let locks = self.locks.clone();
        Box::new(move || {
            drop(guard);
            let mut locks = locks.lock().unwrap_or_else(|e| e.into_inner());
            // The map's and this closure's handles: nobody else holds or waits for it.
            if Arc::strong_count(&lock) <= 2 {
                locks.remove(&key);
            }
        })
    }

    /// [`Self::write`] with a release run at the commit (see [`Writer::write_releasing`]).
    async fn write_releasing<R, F>(
        &self,
        f: F,
        release: Option<pool::Release>,
    ) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let d = if super::group_commit::is_deferred() {
            Durability::Committed
        } else {
            Durability::Flushed
        };
        self.writer.write_releasing(d, f, release).await
    }

    /// Refreshes the planner's statistics (`ANALYZE`).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        self.write(|c| Ok(c.execute_batch("ANALYZE")?)).await
    }

    /// `EXPLAIN QUERY PLAN` details of the statement that serves a list or search.
    pub async fn explain(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        q: &Query,
    ) -> Result<Vec<String>, StoreError> {
        let (sql, params) = super::sql::page_statement(Dialect::Sqlite, tenant, ctx, q, |p| {
            super::sql::page_columns(Dialect::Sqlite, p, None)
        })?;
        self.read(move |c| {
            ops::all(
                c,
                &format!("EXPLAIN QUERY PLAN {sql}"),
                &params.values,
                |r| Ok(r.get::<_, String>("detail")?),
            )
        })
        .await
    }

    /// Runs the writes queued so far, flushes them and closes every connection; later calls
    /// fail with a storage error.
    pub async fn close(&self) {
        let _ = self.writer.write(Durability::Flushed, |_| Ok(())).await;
        self.writer.stop().await;
        if let Some(r) = &self.readers {
            r.close();
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        data: JsonMap,
        members: Vec<super::MemberRow>,
    ) -> Result<StoredResource, StoreError> {
        let (n, made) = new_resource(tenant, ctx, data, members);
        let members = self
            .write(move |c| ops::create(c, n))
            .await
            .map_err(super::shared::uniqueness(ctx, &made.data))?;
        Ok(StoredResource { members, ..made })
    }

    async fn create_many(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        items: Vec<(JsonMap, Vec<super::MemberRow>)>,
    ) -> Vec<Result<StoredResource, StoreError>> {
        if items.is_empty() {
            return Vec::new();
        }
        let (news, made): (Vec<_>, Vec<_>) = items
            .into_iter()
            .map(|(data, members)| new_resource(tenant, ctx, data, members))
            .unzip();
        let count = made.len();
        // One job of the writer. All at once first; should one fail, the job rolls back and
        // runs again with each create in its own savepoint (a savepoint per create costs as
        // much as the create itself, so it is paid only when needed).
        let again = news.clone();
        let done = match self
            .write(move |c| {
                news.into_iter()
                    .map(|n| ops::create(c, n))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
        {
            Ok(all) => Ok(all.into_iter().map(Ok).collect::<Vec<_>>()),
            Err(_) => {
                self.write(move |c| {
                    Ok(again
                        .into_iter()
                        .map(|n| {
                            c.execute_batch("SAVEPOINT one")?;
                            let r = ops::create(c, n);
                            c.execute_batch(if r.is_ok() {
                                "RELEASE one"
                            } else {
                                "ROLLBACK TO one; RELEASE one"
                            })?;
                            r
                        })
                        .collect::<Vec<_>>())
                })
                .await
            }
        };
        match done {
            Ok(results) => results
                .into_iter()
                .zip(made)
                .map(|(r, made)| match r {
                    Ok(members) => Ok(StoredResource { members, ..made }),
                    Err(e) => Err(super::shared::uniqueness(ctx, &made.data)(e)),
                })
                .collect(),
            Err(e) => (0..count).map(|_| Err(clone_error(&e))).collect(),
        }
    }

    async fn get(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load: Load,
    ) -> Result<StoredResource, StoreError> {
        self.get_one(tenant, ctx, id, load, None).await
    }

    async fn get_rendered(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load: Load,
    ) -> Result<StoredResource, StoreError> {
        let key = super::body::body_key(ctx);
        self.get_one(tenant, ctx, id, load, Some(key)).await
    }

    async fn modify(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load_current: Load,
        mut f: ModifyFn<'_>,
    ) -> Result<(StoredResource, StoredResource), StoreError> {
        // Optimistic: decide from a snapshot, apply only if the resource is still at that
        // version (checked by the writer, which is the only one that writes), else decide again.
        let key = (
            tenant.to_string(),
            ctx.resource_type.name.clone(),
            id.to_string(),
        );
        for _ in 0..MAX_RETRIES {
            let release = self.lock(key.clone()).await;
            let before = match self.get(tenant, ctx, id, load_current).await {
                Ok(b) => b,
                Err(e) => {
                    release();
                    return Err(e);
                }
            };
            // Released when this function returns early, or by the writer after the commit.
            let mut release = Some(release);
            let guard = ReleaseOnDrop(&mut release);
            let Update {
                expected_version,
                data,
                member_changes,
                load,
            } = f(&before)?;
            if expected_version.is_some_and(|v| v != before.version) {
                return Err(StoreError::VersionMismatch);
            }
            let (cols, gone, added, attrs) = match &data {
                Some(d) => {
                    let old = super::index::entries(&before.data);
                    let new = super::index::entries(d);
                    (
                        Some(columns(ctx, d)),
                        old.difference(&new).cloned().collect(),
                        new.difference(&old).cloned().collect(),
                        crate::audit::changed_attributes(Some(&before.data), Some(d)),
                    )
                }
                None => (None, Vec::new(), Vec::new(), Vec::new()),
            };
            let change = Change {
                tenant: tenant.to_string(),
                rt: ctx.resource_type.name.clone(),
                id: id.to_string(),
                version: before.version,
                cols,
                member_changes,
                index_gone: gone,
                index_added: added,
                now: timestamp_text(chrono::Utc::now()),
                audit: AuditEntry::now("update", attrs),
                load,
            };
            let release = guard.take();
            let res = self
                .write_releasing(move |c| ops::apply(c, change), release)
                .await;
            let res = match (&data, res) {
                (Some(d), Err(e)) => Err(super::shared::uniqueness(ctx, d)(e)),
                (_, r) => r,
            };
            if let Some(after) = res? {
                return Ok((before, after));
            }
        }
        Err(StoreError::Busy)
    }

    async fn delete(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        let (t, rt, id) = (
            tenant.to_string(),
            ctx.resource_type.name.clone(),
            id.to_string(),
        );
        let audit = AuditEntry::now("delete", Vec::new());
        self.write(move |c| ops::delete(c, &t, &rt, &id, expected_version, &audit))
            .await
    }

    async fn query(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        q: &Query,
    ) -> Result<(Vec<StoredResource>, u64), StoreError> {
        let key = q.prefer_rendered.then(|| super::body::body_key(ctx));
        // One translation of the filter serves the page and, when it is filtered, the count.
        let (page, count) = if q.limit > 0 {
            let (page, count) = super::sql::page_and_count(Dialect::Sqlite, tenant, ctx, q, |p| {
                super::sql::page_columns(Dialect::Sqlite, p, key.as_deref())
            })?;
            (Some(page), q.filter.as_ref().map(|_| count))
        } else if q.filter.is_some() {
            let count = super::sql::count_statement(Dialect::Sqlite, tenant, ctx, q)?;
            (None, Some(count))
        } else {
            (None, None)
        };
        let (t, rt) = (tenant.to_string(), ctx.resource_type.name.clone());
        let (limit, offset, keyset, load) = (q.limit, q.offset, q.after_id.is_some(), q.load);
        self.read(move |c| {
            let mut items = match &page {
                Some((sql, p)) => {
                    ops::all(c, sql, &p.values, |r| ops::resource(r, key.as_deref()))?
                }
                None => Vec::new(),
            };
            let n = items.len() as u64;
            let total = if !keyset && limit > 0 && n < limit && (n > 0 || offset == 0) {
                // A short page is the last one: the total is known without counting.
                offset + n
            } else if let Some((sql, p)) = &count {
                ops::first(c, sql, &p.values, |r| Ok(r.get::<_, i64>(0)?))?.unwrap_or(0) as u64
            } else {
                // Unfiltered: the counter maintained on create and delete.
                ops::first(
                    c,
                    "SELECT n FROM scim_counts WHERE tenant = ?1 AND resource_type = ?2",
                    &[SqlValue::Text(t.clone()), SqlValue::Text(rt.clone())],
                    |r| Ok(r.get::<_, i64>(0)?),
                )?
                .unwrap_or(0)
                .max(0) as u64
            };
            ops::load_extras(c, &t, &rt, &mut items, load)?;
            Ok((items, total))
        })
        .await
    }

    async fn token_lookup(&self, token_hash: &str) -> Result<Option<TokenInfo>, StoreError> {
        let h = token_hash.to_string();
        self.read_quick(move |c| {
            ops::first(
                c,
                &format!(
                    "SELECT {} FROM scim_tokens WHERE token_hash = ?1",
                    ops::TOKEN_COLUMNS
                ),
                &[SqlValue::Text(h)],
                ops::token_info,
            )
        })
        .await
    }

    async fn add_token(&self, t: NewToken<'_>) -> Result<(), StoreError> {
        let values = vec![
            SqlValue::Text(t.hash.into()),
            SqlValue::Text(t.tenant.into()),
            SqlValue::Text(t.label.into()),
            SqlValue::Text(timestamp_text(chrono::Utc::now())),
            SqlValue::Text(t.source.into()),
            SqlValue::Int(i64::from(t.read_only)),
        ];
        self.write(move |c| {
            ops::exec(
                c,
                "INSERT INTO scim_tokens (token_hash, tenant, label, created, source, read_only) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (token_hash) DO NOTHING",
                &values,
            )
            .map(|_| ())
        })
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.read(|c| {
            ops::all(
                c,
                &format!(
                    "SELECT {} FROM scim_tokens ORDER BY created, token_hash",
                    ops::TOKEN_COLUMNS
                ),
                &[],
                ops::token_info,
            )
        })
        .await
    }

    async fn revoke_token(&self, id: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() < 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid(ScimError::invalid_value(
                "a token id is at least 8 hex digits (see `scim-server token list`)",
            )));
        }
        self.write(move |c| {
            let prefix = [SqlValue::Text(format!("{id}%"))];
            let found = ops::all(
                c,
                &format!(
                    "SELECT {} FROM scim_tokens WHERE token_hash LIKE ?1",
                    ops::TOKEN_COLUMNS
                ),
                &prefix,
                ops::token_info,
            )?;
            if found.len() > 1 {
                return Err(StoreError::Invalid(ScimError::invalid_value(format!(
                    "{} tokens have an id starting with {id}: give more digits",
                    found.len()
                ))));
            }
            ops::exec(
                c,
                "DELETE FROM scim_tokens WHERE token_hash LIKE ?1",
                &prefix,
            )?;
            Ok(found)
        })
        .await
    }

    async fn touch_token(&self, token_hash: &str) -> Result<(), StoreError> {
        let values = vec![
            SqlValue::Text(timestamp_text(chrono::Utc::now())),
            SqlValue::Text(token_hash.into()),
        ];
        // Once a minute per token at most (the caller decides): waits for its commit like any
        // write, so that the next read sees it.
        self.write(move |c| {
            ops::exec(
                c,
                "UPDATE scim_tokens SET last_used = ?1 WHERE token_hash = ?2",
                &values,
            )
            .map(|_| ())
        })
        .await
    }

    async fn retain_config_tokens(&self, keep: &[String]) -> Result<u64, StoreError> {
        let keep = keep.to_vec();
        self.write(move |c| {
            let hashes = ops::all(
                c,
                "SELECT token_hash FROM scim_tokens WHERE source = 'config'",
                &[],
                |r| Ok(r.get::<_, String>(0)?),
            )?;
            let mut removed = 0;
            for h in hashes
                .iter()
                .filter(|h| !keep.iter().any(|k| k.eq_ignore_ascii_case(h)))
            {
                removed += ops::exec(
                    c,
                    "DELETE FROM scim_tokens WHERE token_hash = ?1",
                    &[SqlValue::Text(h.clone())],
                )?;
            }
            Ok(removed)
        })
        .await
    }

    async fn audit_records(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let mut p = ops::p();
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
        self.read(move |c| {
            ops::all(c, &sql, &p.values, |r| {
                let attrs: String = r.get("attributes")?;
                Ok(AuditRecord {
                    seq: r.get("seq")?,
                    at: r.get("at")?,
                    tenant: r.get("tenant")?,
                    actor: r.get("actor")?,
                    request_id: r.get("request_id")?,
                    operation: r.get("operation")?,
                    resource_type: r.get("resource_type")?,
                    resource_id: r.get("resource_id")?,
                    attributes: serde_json::from_str(&attrs).unwrap_or_default(),
                    old_version: r.get("old_version")?,
                    new_version: r.get("new_version")?,
                })
            })
        })
        .await
    }

    async fn prune_audit(&self, before: &str) -> Result<u64, StoreError> {
        let v = [SqlValue::Text(before.into())];
        self.write(move |c| ops::exec(c, "DELETE FROM scim_audit WHERE at < ?1", &v))
            .await
    }

    async fn has_tokens(&self) -> Result<bool, StoreError> {
        self.read(|c| {
            Ok(ops::first(c, "SELECT COUNT(*) FROM scim_tokens", &[], |r| {
                Ok(r.get::<_, i64>(0)?)
            })?
            .unwrap_or(0)
                > 0)
        })
        .await
    }

    async fn get_streaming(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        rendered: bool,
    ) -> Result<(StoredResource, MemberPages), StoreError> {
        let (t, rt, id) = (
            tenant.to_string(),
            ctx.resource_type.name.clone(),
            id.to_string(),
        );
        let key = rendered.then(|| super::body::body_key(ctx));
        let page_size = self.member_page;
        let is_group = rt == "Group";
        let readers = match &self.readers {
            Some(r) if !super::group_commit::is_deferred() => Some(r),
            _ => None,
        };
        let Some(readers) = readers else {
            // In memory, or inside `/Bulk` (whose writes are not committed yet): on the
            // writer's connection, everything at once.
            let (r, pages) = self
                .writer
                .read(move |c| {
                    let r =
                        ops::fetch(c, &t, &rt, &id, key.as_deref())?.ok_or(StoreError::NotFound)?;
                    let mut pages = Vec::new();
                    if is_group {
                        let mut after = None;
                        loop {
                            let page = member_page(c, &t, &id, after.as_deref(), page_size)?;
                            let last = page.len() < page_size;
                            after = page.last().map(|m| m.value.clone());
                            pages.push(page);
                            if last {
                                break;
                            }
                        }
                    }
                    Ok((r, pages))
                })
                .await?;
            return Ok((
                r,
                Box::pin(futures::stream::iter(pages.into_iter().map(Ok))),
            ));
        };
        // One read transaction: the resource and every page of members come from the same
        // snapshot, so the ETag matches the members streamed.
        let reader = readers.get().await?;
        let (t2, id2) = (t.clone(), id.clone());
        let (reader, resource) = tokio::task::spawn_blocking(move || {
            let c = reader.conn();
            c.execute_batch("BEGIN")?;
            let r = ops::fetch(c, &t2, &rt, &id2, key.as_deref())?.ok_or(StoreError::NotFound)?;
            Ok::<_, StoreError>((reader, r))
        })
        .await
        .map_err(|e| StoreError::Backend(format!("a read task failed: {e}")))??;
        if !is_group {
            return Ok((resource, Box::pin(futures::stream::empty())));
        }
        let pages =
            futures::stream::try_unfold((Some(reader), None::<String>), move |(reader, after)| {
                let (t, id) = (t.clone(), id.clone());
                async move {
                    let Some(reader) = reader else {
                        return Ok(None);
                    };
                    let (reader, page) = tokio::task::spawn_blocking(move || {
                        let page =
                            member_page(reader.conn(), &t, &id, after.as_deref(), page_size)?;
                        Ok::<_, StoreError>((reader, page))
                    })
                    .await
                    .map_err(|e| StoreError::Backend(format!("a read task failed: {e}")))??;
                    if page.len() < page_size {
                        // The last page: end the snapshot now rather than when the body ends.
                        drop(reader);
                        return Ok(Some((page, (None, None))));
                    }
                    let last = page.last().map(|m| m.value.clone());
                    Ok(Some((page, (Some(reader), last))))
                }
            });
        Ok((resource, Box::pin(pages)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| Ok(c.execute_batch("SELECT 1")?)).await?;
        self.writer.read(|c| Ok(c.execute_batch("SELECT 1")?)).await
    }

    fn pool_stats(&self) -> Vec<(&'static str, u32, u32)> {
        let mut out = Vec::new();
        if let Some(r) = &self.readers {
            let (size, idle) = r.stats();
            out.push(("read", size, idle));
        }
        out.push(("write", 1, u32::from(self.writer.pending() == 0)));
        out
    }

    async fn sync(&self) -> Result<(), StoreError> {
        self.writer.write(Durability::Flushed, |_| Ok(())).await
    }
}

/// Runs a pending release when dropped (an early return); [`ReleaseOnDrop::take`] hands it on.
struct ReleaseOnDrop<'a>(&'a mut Option<pool::Release>);

impl ReleaseOnDrop<'_> {
    fn take(self) -> Option<pool::Release> {
        self.0.take()
    }
}

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r();
        }
    }
}

/// One page of a group's members after `after`, seeking the primary key.
fn member_page(
    c: &Connection,
    tenant: &str,
    group: &str,
    after: Option<&str>,
    n: usize,
) -> Result<Vec<super::MemberRow>, StoreError> {
    let row = |r: &rusqlite::Row<'_>| {
        Ok(super::MemberRow {
            value: r.get(0)?,
            kind: r.get(1)?,
            display: r.get(2)?,
        })
    };
    match after {
        Some(a) => ops::all(
            c,
            "SELECT member_id, member_type, display FROM scim_members \
             WHERE tenant = ?1 AND group_id = ?2 AND member_id > ?3 \
             ORDER BY group_id, member_id LIMIT ?4",
            &[
                SqlValue::Text(tenant.into()),
                SqlValue::Text(group.into()),
                SqlValue::Text(a.into()),
                SqlValue::Int(n as i64),
            ],
            row,
        ),
        None => ops::all(
            c,
            "SELECT member_id, member_type, display FROM scim_members \
             WHERE tenant = ?1 AND group_id = ?2 ORDER BY group_id, member_id LIMIT ?3",
            &[
                SqlValue::Text(tenant.into()),
                SqlValue::Text(group.into()),
                SqlValue::Int(n as i64),
            ],
            row,
        ),
    }
}

/// The row of a new resource, and the resource as it will be returned.
fn new_resource(
    tenant: &str,
    ctx: &Context<'_>,
    data: JsonMap,
    members: Vec<super::MemberRow>,
) -> (NewResource, StoredResource) {
    let id = uuid::Uuid::now_v7().to_string();
    let now = timestamp_text(chrono::Utc::now());
    let attrs = crate::audit::changed_attributes(None, Some(&data));
    let n = NewResource {
        tenant: tenant.to_string(),
        rt: ctx.resource_type.name.clone(),
        id: id.clone(),
        now: now.clone(),
        cols: columns(ctx, &data),
        index: super::index::entries(&data).into_iter().collect(),
        members,
        audit: AuditEntry::now("create", attrs),
    };
    let made = StoredResource {
        id,
        data,
        version: 1,
        created: now.clone(),
        last_modified: now,
        members: None,
        groups: None,
        body: None,
    };
    (n, made)
}

/// The same failure for every item of a job that failed as a whole.
fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Busy => StoreError::Busy,
        other => StoreError::Backend(other.to_string()),
    }
}
