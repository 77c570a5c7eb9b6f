//! The native PostgreSQL store (tokio-postgres with a deadpool-postgres pool): connections in
//! [`pool`], statements in [`ops`].
//!
//! Same schema, migrations and statement shapes as the SQLite store (the filter translation is
//! shared, [`super::sql`]); what differs is how statements reach the database. Requests issued
//! together on one connection are pipelined, so the common operations take few round trips:
//!
//! | operation | round trips |
//! |---|---|
//! | `GET` by id (with a user's groups) | 1 |
//! | `POST` (resource, index rows, counter, audit: one statement) | 1; a group with members 2 |
//! | `PATCH` / `PUT` (`BEGIN` + locking read; update + `COMMIT`) | 2, plus 1–2 per member change |
//! | `DELETE` (one statement) | 1 |
//! | list page (page + unfiltered count) | 1 |
//!
//! A commit returns once it is durable (PostgreSQL's `synchronous_commit`), so there is nothing
//! to wait for afterwards ([`Store::sync`] is immediate). Changes of one resource are
//! serialised by its row lock (`SELECT … FOR UPDATE`), across any number of server processes.
//! Members reference existing resources by foreign key with `ON DELETE CASCADE`; adding a member
//! locks it (`KEY SHARE`) against a concurrent delete.

pub mod ops;
pub mod pool;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use scim_core::{Context, JsonMap, ScimError};
use serde_json::Value;

use self::pool::{Conn, PgPool};
use super::shared::{self, AuditEntry, INDEX_READY, MEMBER_PAGE};
use super::sql::{timestamp_text, Dialect, Params, SqlValue};
use super::{
    Load, MemberPages, MemberRow, ModifyFn, NewToken, Query, Store, StoreError, StoredResource,
    TokenInfo, Update,
};
use crate::audit::{AuditQuery, AuditRecord};

/// The native PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    member_page: usize,
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) with the default pool (16 connections, 3 s
    /// acquisition wait), applies the migrations and returns the store.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        Self::connect_with(url, pool::POOL_SIZE, pool::ACQUIRE_TIMEOUT).await
    }

    /// [`Self::connect`] with at most `connections` connections, each request waiting at most
    /// `acquire` for one before it fails with [`StoreError::Busy`].
    pub async fn connect_with(
        url: &str,
        connections: usize,
        acquire: Duration,
    ) -> Result<PgStore, StoreError> {
        let pool = PgPool::new(url, connections, acquire)?;
        let store = PgStore {
            pool,
            member_page: MEMBER_PAGE,
        };
        {
            let mut c = store.pool.get().await?;
            pool::migrate(&mut c).await?;
            fill_index(&mut c).await?;
        }
        Ok(store)
    }

    /// Streams groups' members in pages of `n` rows (default 5,000).
    pub fn with_member_page(mut self, n: usize) -> PgStore {
        self.member_page = n.max(1);
        self
    }

    /// Closes the pool (connections in use close when returned).
    pub async fn close(&self) {
        self.pool.close();
    }

    /// Refreshes the planner's statistics (`ANALYZE`).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        self.pool.get().await?.batch_execute("ANALYZE").await?;
        Ok(())
    }

    /// `EXPLAIN` lines of the statement that serves a list or search, with sequential scans
    /// disabled (so a plan that still scans has no index to use).
    pub async fn explain(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        q: &Query,
    ) -> Result<Vec<String>, StoreError> {
        let (sql, params) = super::sql::page_statement(Dialect::Postgres, tenant, ctx, q, |p| {
            super::sql::page_columns(Dialect::Postgres, p, None)
        })?;
        let c = self.pool.get().await?;
        c.batch_execute("SET enable_seqscan = off").await?;
        let rows = ops::query_dyn(&c, &format!("EXPLAIN {sql}"), &params.values).await;
        c.batch_execute("RESET enable_seqscan").await?;
        rows?
            .iter()
            .map(|r| Ok(r.try_get::<_, String>(0)?))
            .collect()
    }

    /// Reads one resource (its rendered form with `key`) and what `load` asks for, pipelined
    /// (one round trip).
    async fn get_one(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load: Load,
        key: Option<String>,
    ) -> Result<StoredResource, StoreError> {
        let c = self.pool.get().await?;
        let rt = ctx.resource_type.name.as_str();
        let fetch = c.prepare_cached(ops::FETCH).await?;
        let ids = [id.to_string()];
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&tenant, &rt, &id, &key];
        let (row, extras) = tokio::join!(
            c.query_opt(&fetch, &params),
            ops::extras_rows(&c, tenant, rt, &ids, load)
        );
        let row = row?.ok_or(StoreError::NotFound)?;
        let mut items = [ops::resource(&row, key.as_deref())?];
        ops::apply_extras(&mut items, rt, extras?)?;
        let [r] = items;
        Ok(r)
    }

    /// Creates a group with members in one transaction: the members are checked first, then
    /// the group, its member rows and `COMMIT` go in one round trip.
    #[allow(clippy::too_many_arguments)]
    async fn create_with_members(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        made: &StoredResource,
        cols: &shared::Columns,
        index: &[super::index::Entry],
        audit: &AuditEntry,
        mut members: Vec<MemberRow>,
    ) -> Result<Vec<MemberRow>, StoreError> {
        let mut seen = std::collections::HashSet::new();
        members.retain(|m| seen.insert(m.value.clone()));
        let rt = ctx.resource_type.name.as_str();
        let mut c = self.pool.get().await?;
        c.set_in_tx(true);
        let (begin, resolved) = tokio::join!(
            c.batch_execute("BEGIN"),
            ops::resolve_members(&c, tenant, &made.id, &mut members)
        );
        begin?;
        if let Err(e) = resolved.and(ops::prepare(&c, &[ops::CREATE, ops::INSERT_MEMBERS]).await) {
            c.batch_execute("ROLLBACK").await?;
            c.set_in_tx(false);
            return Err(e);
        }
        let (created, inserted, commit) = tokio::join!(
            ops::create(
                &c,
                tenant,
                rt,
                &made.id,
                &made.created,
                cols,
                index,
                audit,
                true
            ),
            ops::insert_members(&c, tenant, &made.id, &members),
            c.batch_execute("COMMIT")
        );
        // A failed statement aborted the transaction: its COMMIT rolled back.
        if commit.is_ok() {
            c.set_in_tx(false);
        }
        created?;
        inserted?;
        commit?;
        members.sort_by(|a, b| a.value.cmp(&b.value));
        Ok(members)
    }

    /// `BEGIN`, the locking read of a resource and what `load` asks for, in one round trip.
    async fn lock_resource(
        &self,
        c: &mut Conn,
        tenant: &str,
        rt: &str,
        id: &str,
        load: Load,
    ) -> Result<StoredResource, StoreError> {
        let stmt = c.prepare_cached(ops::FETCH_FOR_UPDATE).await?;
        c.set_in_tx(true);
        let ids = [id.to_string()];
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&tenant, &rt, &id];
        let (begin, row, extras) = tokio::join!(
            c.batch_execute("BEGIN"),
            c.query_opt(&stmt, &params),
            ops::extras_rows(c, tenant, rt, &ids, load)
        );
        begin?;
        let row = row?.ok_or(StoreError::NotFound)?;
        let mut items = [ops::resource(&row, None)?];
        ops::apply_extras(&mut items, rt, extras?)?;
        let [r] = items;
        Ok(r)
    }

    /// The decision and member changes of [`Store::modify`], inside the transaction; returns
    /// the resource before, the change of data, whether members changed and what to load.
    #[allow(clippy::type_complexity)]
    async fn modify_decide(
        &self,
        c: &mut Conn,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        load_current: Load,
        f: &mut ModifyFn<'_>,
    ) -> Result<(StoredResource, Option<JsonMap>, bool, Load), StoreError> {
        let rt = ctx.resource_type.name.as_str();
        let before = self.lock_resource(c, tenant, rt, id, load_current).await?;
        let Update {
            expected_version,
            data,
            member_changes,
            load,
        } = f(&before)?;
        if expected_version.is_some_and(|v| v != before.version) {
            return Err(StoreError::VersionMismatch);
        }
        let members_changed = if member_changes.is_empty() {
            false
        } else {
            ops::apply_member_changes(c, tenant, id, member_changes).await? > 0
        };
        Ok((before, data, members_changed, load))
    }
}

/// Fills the index for resources stored before it existed (once per database). The marker row
/// is written first, in the same transaction: a second server process starting at the same time
/// waits for its row lock and then skips.
async fn fill_index(c: &mut Conn) -> Result<(), StoreError> {
    let done = c
        .query_opt(
            "SELECT value FROM scim_store_state WHERE key = $1",
            &[&INDEX_READY],
        )
        .await?
        .is_some();
    if done {
        return Ok(());
    }
    c.set_in_tx(true);
    c.batch_execute("BEGIN").await?;
    let mine = c
        .execute(
            "INSERT INTO scim_store_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&INDEX_READY, &timestamp_text(chrono::Utc::now())],
        )
        .await?
        == 1;
    if mine {
        let mut after: Option<(String, String)> = None;
        loop {
            let rows = match &after {
                Some((t, i)) => {
                    c.query(
                        "SELECT tenant, resource_type, id, data::text FROM scim_resources \
                         WHERE (tenant, id) > ($1, $2) ORDER BY tenant, id LIMIT 1000",
                        &[t, i],
                    )
                    .await?
                }
                None => {
                    c.query(
                        "SELECT tenant, resource_type, id, data::text FROM scim_resources \
                         ORDER BY tenant, id LIMIT 1000",
                        &[],
                    )
                    .await?
                }
            };
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let tenant: String = row.try_get(0)?;
                let rt: String = row.try_get(1)?;
                let id: String = row.try_get(2)?;
                let data: String = row.try_get(3)?;
                if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&data) {
                    let entries: Vec<_> = super::index::entries(&m).into_iter().collect();
                    ops::insert_index(c, &tenant, &rt, &id, &entries).await?;
                }
                after = Some((tenant, id));
            }
        }
    }
    c.batch_execute("COMMIT").await?;
    c.set_in_tx(false);
    Ok(())
}

/// The same failure for every item of a batch that failed as a whole.
fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Busy => StoreError::Busy,
        other => StoreError::Backend(other.to_string()),
    }
}

/// The row and the returned resource of a new resource.
/// A resource prepared for [`create_all`]: the resource, its columns, index rows and audit.
type NewRow = (
    StoredResource,
    shared::Columns,
    Vec<super::index::Entry>,
    AuditEntry,
);

/// Sends the creates of `rows` together on `c` (pipelined), each one statement.
async fn create_all(
    c: &Conn,
    tenant: &str,
    rt: &str,
    rows: &[NewRow],
) -> Vec<Result<(), StoreError>> {
    futures::future::join_all(rows.iter().map(|(made, cols, index, audit)| {
        ops::create(
            c,
            tenant,
            rt,
            &made.id,
            &made.created,
            cols,
            index,
            audit,
            false,
        )
    }))
    .await
}

fn new_resource(
    ctx: &Context<'_>,
    data: JsonMap,
) -> (StoredResource, shared::Columns, Vec<super::index::Entry>) {
    let id = uuid::Uuid::now_v7().to_string();
    let now = timestamp_text(chrono::Utc::now());
    let cols = shared::columns(ctx, &data);
    let index = super::index::entries(&data).into_iter().collect();
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
    (made, cols, index)
}

#[async_trait]
impl Store for PgStore {
    async fn create(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        data: JsonMap,
        members: Vec<MemberRow>,
    ) -> Result<StoredResource, StoreError> {
        let audit = AuditEntry::now(
            "create",
            crate::audit::changed_attributes(None, Some(&data)),
        );
        let (mut made, cols, index) = new_resource(ctx, data);
        let is_group = ctx.resource_type.name == "Group";
        if members.is_empty() {
            let c = self.pool.get().await?;
            ops::create(
                &c,
                tenant,
                &ctx.resource_type.name,
                &made.id,
                &made.created,
                &cols,
                &index,
                &audit,
                false,
            )
            .await
            .map_err(shared::uniqueness(ctx, &made.data))?;
            if is_group {
                made.members = Some(Vec::new());
            }
            return Ok(made);
        }
        let stored = self
            .create_with_members(tenant, ctx, &made, &cols, &index, &audit, members)
            .await
            .map_err(shared::uniqueness(ctx, &made.data))?;
        if is_group {
            made.members = Some(stored);
        }
        Ok(made)
    }

    async fn create_many(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        items: Vec<(JsonMap, Vec<MemberRow>)>,
    ) -> Vec<Result<StoredResource, StoreError>> {
        if items.is_empty() {
            return Vec::new();
        }
        if items.iter().any(|(_, members)| !members.is_empty()) {
            // A create with members is a transaction of its own: one at a time.
            let mut out = Vec::with_capacity(items.len());
            for (data, members) in items {
                out.push(self.create(tenant, ctx, data, members).await);
            }
            return out;
        }
        // All the creates in one transaction, pipelined on one connection with its BEGIN and
        // COMMIT: one round trip and one commit (one flush of the WAL) for the batch. If one
        // fails, the transaction rolls back and each create runs again committing on its own,
        // so a failing create affects no other (as the SQLite store does with savepoints).
        let count = items.len();
        let mut c = match self.pool.get().await {
            Ok(c) => c,
            Err(e) => return (0..count).map(|_| Err(clone_error(&e))).collect(),
        };
        if let Err(e) = c.prepare_cached(ops::CREATE).await {
            let e = StoreError::from(e);
            return (0..count).map(|_| Err(clone_error(&e))).collect();
        }
        let rt = ctx.resource_type.name.as_str();
        let rows: Vec<NewRow> = items
            .into_iter()
            .map(|(data, _)| {
                let audit = AuditEntry::now(
                    "create",
                    crate::audit::changed_attributes(None, Some(&data)),
                );
                let (made, cols, index) = new_resource(ctx, data);
                (made, cols, index, audit)
            })
            .collect();
        c.set_in_tx(true);
        let (begin, together, commit) = tokio::join!(
            c.batch_execute("BEGIN"),
            create_all(&c, tenant, rt, &rows),
            c.batch_execute("COMMIT")
        );
        // A failed statement aborted the transaction: its COMMIT rolled back.
        let committed = begin.is_ok() && commit.is_ok() && together.iter().all(Result::is_ok);
        if commit.is_ok() {
            c.set_in_tx(false);
        }
        let results = if committed {
            together
        } else {
            if let Err(e) = commit {
                let e = StoreError::from(e);
                return (0..count).map(|_| Err(clone_error(&e))).collect();
            }
            create_all(&c, tenant, rt, &rows).await
        };
        results
            .into_iter()
            .zip(rows)
            .map(|(r, (mut made, _, _, _))| {
                r.map_err(shared::uniqueness(ctx, &made.data))?;
                if rt == "Group" {
                    made.members = Some(Vec::new());
                }
                Ok(made)
            })
            .collect()
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
        let mut c = self.pool.get().await?;
        let decided = self
            .modify_decide(&mut c, tenant, ctx, id, load_current, &mut f)
            .await;
        let (before, data, members_changed, load) = match decided {
            Ok(d) => d,
            Err(e) => {
                if c.batch_execute("ROLLBACK").await.is_ok() {
                    c.set_in_tx(false);
                }
                return Err(e);
            }
        };
        let rt = ctx.resource_type.name.as_str();
        let now = timestamp_text(chrono::Utc::now());
        let prepared = ops::prepare(
            &c,
            &[ops::UPDATE_DATA, ops::UPDATE_VERSION, ops::extras_sql(rt)],
        )
        .await;
        if let Err(e) = prepared {
            if c.batch_execute("ROLLBACK").await.is_ok() {
                c.set_in_tx(false);
            }
            return Err(e);
        }
        let write = async {
            match &data {
                Some(d) => {
                    let old = super::index::entries(&before.data);
                    let new = super::index::entries(d);
                    let gone: Vec<_> = old.difference(&new).cloned().collect();
                    let added: Vec<_> = new.difference(&old).cloned().collect();
                    let audit = AuditEntry::now(
                        "update",
                        crate::audit::changed_attributes(Some(&before.data), Some(d)),
                    );
                    let cols = shared::columns(ctx, d);
                    ops::update_data(
                        &c,
                        tenant,
                        rt,
                        id,
                        &now,
                        &cols,
                        &gone,
                        &added,
                        &audit,
                        members_changed,
                    )
                    .await
                    .map(Some)
                    .map_err(shared::uniqueness(ctx, d))
                }
                None if members_changed => {
                    let audit = AuditEntry::now("update", Vec::new());
                    ops::update_version(&c, tenant, rt, id, &now, &audit)
                        .await
                        .map(Some)
                }
                None => Ok(None),
            }
        };
        // The write, what the response loads and COMMIT in one round trip. A COMMIT after a
        // failed statement rolls the transaction back.
        let ids = [id.to_string()];
        let (written, extras, commit) = tokio::join!(
            write,
            ops::extras_rows(&c, tenant, rt, &ids, load),
            c.batch_execute("COMMIT")
        );
        if commit.is_ok() {
            c.set_in_tx(false);
        }
        let written = written?;
        let extras = extras?;
        commit?;
        let mut after = StoredResource {
            members: None,
            groups: None,
            body: None,
            ..before.clone()
        };
        if let Some(d) = data {
            after.data = d;
        }
        if let Some(u) = written {
            after.version = u.version;
            after.created = u.created;
            after.last_modified = u.last_modified;
        }
        let mut items = [after];
        ops::apply_extras(&mut items, rt, extras)?;
        let [after] = items;
        Ok((before, after))
    }

    async fn delete(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        let audit = AuditEntry::now("delete", Vec::new());
        let c = self.pool.get().await?;
        ops::delete(
            &c,
            tenant,
            &ctx.resource_type.name,
            id,
            expected_version,
            &audit,
        )
        .await
    }

    async fn query(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        q: &Query,
    ) -> Result<(Vec<StoredResource>, u64), StoreError> {
        let key = q.prefer_rendered.then(|| super::body::body_key(ctx));
        let rt = ctx.resource_type.name.as_str();
        let c = self.pool.get().await?;
        let count_stmt = c.prepare_cached(ops::COUNT).await?;
        let unfiltered = q.filter.is_none();
        let mut counted: Option<u64> = None;
        let mut filtered_count = None;
        let mut items = Vec::new();
        if q.limit > 0 && q.offset > 0 {
            // A deep page in two steps: the page's ids (an index-only walk past the offset),
            // then those rows. PostgreSQL computes the select list of every row it skips, so
            // one statement would convert the data of all skipped rows.
            let ((sql, params), count) =
                super::sql::page_and_count(Dialect::Postgres, tenant, ctx, q, |_| {
                    "r.id".to_string()
                })?;
            filtered_count = Some(count);
            let ids: Vec<String> = ops::query_translated(&c, &sql, &params.values)
                .await?
                .iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<Result<_, _>>()?;
            let stmt = c.prepare_cached(ops::FETCH_MANY).await?;
            let rows = c.query(&stmt, &[&tenant, &rt, &ids, &key]).await?;
            let mut by_id = HashMap::with_capacity(rows.len());
            for row in &rows {
                let r = ops::resource(row, key.as_deref())?;
                by_id.insert(r.id.clone(), r);
            }
            // In the page's order; a row deleted in between is simply not there.
            items.extend(ids.iter().filter_map(|i| by_id.remove(i)));
        } else if q.limit > 0 {
            let ((sql, params), count) =
                super::sql::page_and_count(Dialect::Postgres, tenant, ctx, q, |p| {
                    super::sql::page_columns(Dialect::Postgres, p, key.as_deref())
                })?;
            filtered_count = Some(count);
            let rows = if unfiltered {
                // The counter shards' sum in the same round trip.
                let cp: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&tenant, &rt];
                let (rows, n) = tokio::join!(
                    ops::query_translated(&c, &sql, &params.values),
                    c.query_one(&count_stmt, &cp)
                );
                counted = Some(n?.try_get::<_, i64>(0)?.max(0) as u64);
                rows?
            } else {
                ops::query_translated(&c, &sql, &params.values).await?
            };
            for row in &rows {
                items.push(ops::resource(row, key.as_deref())?);
            }
        }
        let n = items.len() as u64;
        let total =
            if q.after_id.is_none() && q.limit > 0 && n < q.limit && (n > 0 || q.offset == 0) {
                // A short page is the last one: the total is known without counting.
                q.offset + n
            } else if unfiltered {
                match counted {
                    Some(n) => n,
                    None => c
                        .query_one(&count_stmt, &[&tenant, &rt])
                        .await?
                        .try_get::<_, i64>(0)?
                        .max(0) as u64,
                }
            } else {
                let (sql, params) = match filtered_count {
                    Some(s) => s,
                    None => super::sql::count_statement(Dialect::Postgres, tenant, ctx, q)?,
                };
                let rows = ops::query_translated(&c, &sql, &params.values).await?;
                match rows.first() {
                    Some(r) => r.try_get::<_, i64>(0)?.max(0) as u64,
                    None => 0,
                }
            };
        ops::load_extras(&c, tenant, rt, &mut items, q.load).await?;
        Ok((items, total))
    }

    async fn token_lookup(&self, token_hash: &str) -> Result<Option<TokenInfo>, StoreError> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {} FROM scim_tokens WHERE token_hash = $1",
                ops::TOKEN_COLUMNS
            ))
            .await?;
        c.query_opt(&stmt, &[&token_hash])
            .await?
            .as_ref()
            .map(ops::token_info)
            .transpose()
    }

    async fn add_token(&self, t: NewToken<'_>) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO scim_tokens (token_hash, tenant, label, created, source, read_only) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_hash) DO NOTHING",
            &[
                &t.hash,
                &t.tenant,
                &t.label,
                &timestamp_text(chrono::Utc::now()),
                &t.source,
                &i64::from(t.read_only),
            ],
        )
        .await?;
        Ok(())
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let c = self.pool.get().await?;
        c.query(
            &format!(
                "SELECT {} FROM scim_tokens ORDER BY created, token_hash",
                ops::TOKEN_COLUMNS
            ),
            &[],
        )
        .await?
        .iter()
        .map(ops::token_info)
        .collect()
    }

    async fn revoke_token(&self, id: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() < 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid(ScimError::invalid_value(
                "a token id is at least 8 hex digits (see `scim-server token list`)",
            )));
        }
        let mut c = self.pool.get().await?;
        let prefix = format!("{id}%");
        c.set_in_tx(true);
        c.batch_execute("BEGIN").await?;
        let found: Vec<TokenInfo> = c
            .query(
                &format!(
                    "SELECT {} FROM scim_tokens WHERE token_hash LIKE $1 FOR UPDATE",
                    ops::TOKEN_COLUMNS
                ),
                &[&prefix],
            )
            .await?
            .iter()
            .map(ops::token_info)
            .collect::<Result<_, _>>()?;
        if found.len() > 1 {
            c.batch_execute("ROLLBACK").await?;
            c.set_in_tx(false);
            return Err(StoreError::Invalid(ScimError::invalid_value(format!(
                "{} tokens have an id starting with {id}: give more digits",
                found.len()
            ))));
        }
        c.execute(
            "DELETE FROM scim_tokens WHERE token_hash LIKE $1",
            &[&prefix],
        )
        .await?;
        c.batch_execute("COMMIT").await?;
        c.set_in_tx(false);
        Ok(found)
    }

    async fn touch_token(&self, token_hash: &str) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        c.execute(
            "UPDATE scim_tokens SET last_used = $1 WHERE token_hash = $2",
            &[&timestamp_text(chrono::Utc::now()), &token_hash],
        )
        .await?;
        Ok(())
    }

    async fn retain_config_tokens(&self, keep: &[String]) -> Result<u64, StoreError> {
        let c = self.pool.get().await?;
        let keep: Vec<String> = keep.iter().map(|k| k.to_ascii_lowercase()).collect();
        Ok(c.execute(
            "DELETE FROM scim_tokens WHERE source = 'config' \
                 AND NOT (lower(token_hash) = ANY($1::text[]))",
            &[&keep],
        )
        .await?)
    }

    async fn audit_records(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let mut p = Params::new(Dialect::Postgres);
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
        let c = self.pool.get().await?;
        ops::query_dyn(&c, &sql, &p.values)
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
        let c = self.pool.get().await?;
        Ok(
            c.execute("DELETE FROM scim_audit WHERE at < $1", &[&before])
                .await?,
        )
    }

    async fn has_tokens(&self) -> Result<bool, StoreError> {
        let c = self.pool.get().await?;
        Ok(c.query_opt("SELECT 1 FROM scim_tokens LIMIT 1", &[])
            .await?
            .is_some())
    }

    async fn get_streaming(
        &self,
        tenant: &str,
        ctx: &Context<'_>,
        id: &str,
        rendered: bool,
    ) -> Result<(StoredResource, MemberPages), StoreError> {
        let rt = ctx.resource_type.name.clone();
        if rt != "Group" {
            let load = Load::default();
            let key = rendered.then(|| super::body::body_key(ctx));
            let r = self.get_one(tenant, ctx, id, load, key).await?;
            return Ok((r, Box::pin(futures::stream::empty())));
        }
        // One read-only REPEATABLE READ transaction: the resource and every page of members
        // come from the same snapshot, so the ETag matches the members streamed.
        let key = rendered.then(|| super::body::body_key(ctx));
        let mut c = self.pool.get().await?;
        let fetch = c.prepare_cached(ops::FETCH).await?;
        let first = c.prepare_cached(ops::MEMBER_PAGE_FIRST).await?;
        let page_size = self.member_page;
        let limit = page_size as i64;
        c.set_in_tx(true);
        let p1: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&tenant, &rt, &id, &key];
        let p2: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&tenant, &id, &limit];
        let (begin, row, page) = tokio::join!(
            c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
            c.query_opt(&fetch, &p1),
            c.query(&first, &p2)
        );
        let read = (|| {
            begin?;
            let resource = ops::resource(&row?.ok_or(StoreError::NotFound)?, key.as_deref())?;
            let page = page?
                .iter()
                .map(ops::member)
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok::<_, StoreError>((resource, page))
        })();
        let (resource, page) = match read {
            Ok(r) => r,
            Err(e) => {
                // Not found (or failed): end the snapshot and keep the connection.
                if c.batch_execute("ROLLBACK").await.is_ok() {
                    c.set_in_tx(false);
                }
                return Err(e);
            }
        };
        let (tenant, group) = (tenant.to_string(), id.to_string());
        let last = page.len() < page_size;
        let after = page.last().map(|m| m.value.clone());
        let conn = if last {
            c.batch_execute("ROLLBACK").await?;
            c.set_in_tx(false);
            None
        } else {
            Some(c)
        };
        let rest = futures::stream::try_unfold((conn, after), move |(conn, after)| {
            let (tenant, group) = (tenant.clone(), group.clone());
            async move {
                let (Some(mut c), Some(after)) = (conn, after) else {
                    return Ok(None);
                };
                let stmt = c.prepare_cached(ops::MEMBER_PAGE_AFTER).await?;
                let page = c
                    .query(&stmt, &[&tenant, &group, &after, &limit])
                    .await?
                    .iter()
                    .map(ops::member)
                    .collect::<Result<Vec<_>, StoreError>>()?;
                if page.len() < page_size {
                    // The last page: end the snapshot now rather than when the body ends.
                    c.batch_execute("ROLLBACK").await?;
                    c.set_in_tx(false);
                    return Ok(Some((page, (None, None))));
                }
                let last = page.last().map(|m| m.value.clone());
                Ok(Some((page, (Some(c), last))))
            }
        });
        let first_page = futures::stream::once(async move { Ok(page) });
        use futures::StreamExt;
        Ok((resource, Box::pin(first_page.chain(rest))))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.pool.get().await?.batch_execute("SELECT 1").await?;
        Ok(())
    }

    fn pool_stats(&self) -> Vec<(&'static str, u32, u32)> {
        let (open, idle) = self.pool.stats();
        vec![("postgres", open, idle)]
    }
}
