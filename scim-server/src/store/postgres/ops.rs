//! The statements of the native PostgreSQL store, run on one checked-out connection.
//!
//! Real types where they help: the data is `jsonb` (bound as text and cast, read back as
//! text), id lists are array binds (`= ANY($n::text[])`, `unnest($n::text[], …)`) instead of
//! chunked `IN (…)` lists and multi-row `VALUES`. A create, and a delete, are one statement each
//! (data-modifying CTEs: the row, its index rows, the counter and the audit record), so they
//! commit in one round trip; an update is one statement too, inside the transaction that read
//! and locked the row.
//!
//! The unfiltered count lives in [`COUNT_SHARDS`] rows per tenant and type
//! (`migrations/postgres/0006_count_shards.sql`): a write adds to a random one, a read sums
//! them, so concurrent creates do not queue on one hot row.

use std::collections::HashMap;

use scim_core::{JsonMap, ScimError};
use serde_json::Value;
use tokio_postgres::Row;

use super::super::index::Entry;
use super::super::shared::{AuditEntry, Columns};
use super::super::sql::SqlValue;
use super::super::{
    GroupRef, Load, MemberChange, MemberRow, StoreError, StoredResource, TokenInfo,
};
use super::pool::{typed, Conn};

/// Counter rows per (tenant, resource type).
pub const COUNT_SHARDS: i16 = 16;

/// The columns [`token_info`] reads.
pub const TOKEN_COLUMNS: &str = "token_hash, tenant, label, source, read_only, created, last_used";

/// One resource; with `$4` (the current body key) its stored rendered form instead of its data
/// when that is current.
pub const FETCH: &str = "SELECT r.id, \
     CASE WHEN r.body_key = $4 AND r.body IS NOT NULL THEN NULL ELSE r.data::text END AS data, \
     r.version, r.created, r.last_modified, r.body_schemas, r.body, r.body_key \
     FROM scim_resources r WHERE r.tenant = $1 AND r.resource_type = $2 AND r.id = $3";

/// One resource, locked for the rest of the transaction.
pub const FETCH_FOR_UPDATE: &str = "SELECT r.id, r.data::text AS data, r.version, r.created, \
     r.last_modified FROM scim_resources r \
     WHERE r.tenant = $1 AND r.resource_type = $2 AND r.id = $3 FOR UPDATE";

/// Resources by id (the rows of a deep page), like [`FETCH`].
pub const FETCH_MANY: &str = "SELECT r.id, \
     CASE WHEN r.body_key = $4 AND r.body IS NOT NULL THEN NULL ELSE r.data::text END AS data, \
     r.version, r.created, r.last_modified, r.body_schemas, r.body, r.body_key \
     FROM scim_resources r WHERE r.tenant = $1 AND r.resource_type = $2 AND r.id = ANY($3::text[])";

/// The members of groups.
pub const MEMBERS_OF: &str = "SELECT group_id, member_id, member_type, display FROM scim_members \
     WHERE tenant = $1 AND group_id = ANY($2::text[]) ORDER BY group_id, member_id";

/// The groups of users (the derived `groups` attribute).
pub const GROUPS_OF: &str = "SELECT m.member_id, m.group_id, g.display_name FROM scim_members m \
     JOIN scim_resources g ON g.tenant = m.tenant AND g.resource_type = 'Group' AND g.id = m.group_id \
     WHERE m.tenant = $1 AND m.member_id = ANY($2::text[]) ORDER BY m.member_id, m.group_id";

/// One page of a group's members after a member id. The bound is a row value: PostgreSQL takes
/// the (tenant, member_id) index for `member_id > $3` alone, and seeks the primary key
/// (tenant, group_id, member_id) with the row value.
pub const MEMBER_PAGE_AFTER: &str = "SELECT member_id, member_type, display FROM scim_members \
     WHERE tenant = $1 AND group_id = $2 AND (group_id, member_id) > ($2, $3) \
     ORDER BY group_id, member_id LIMIT $4";

/// The first page of a group's members.
pub const MEMBER_PAGE_FIRST: &str = "SELECT member_id, member_type, display FROM scim_members \
     WHERE tenant = $1 AND group_id = $2 ORDER BY group_id, member_id LIMIT $3";

/// The unfiltered total of a tenant's resources of a type: the sum of its counter shards.
pub const COUNT: &str = "SELECT COALESCE(SUM(n), 0)::int8 FROM scim_counts \
     WHERE tenant = $1 AND resource_type = $2";

/// Inserts a resource with its index rows, counts it and records it in the audit trail: one
/// statement, so one round trip and one commit outside a transaction. A uniqueness conflict
/// fails the whole statement (nothing is written).
pub const CREATE: &str = "WITH ins AS ( \
       INSERT INTO scim_resources (tenant, resource_type, id, user_name_key, display_name, data, \
         version, created, last_modified, body_schemas, body, body_key) \
       VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text::jsonb, 1, $7::text, \
         $7::text, $8::text, $9::text, $10::text) RETURNING id \
     ), idx AS ( \
       INSERT INTO scim_index (tenant, resource_type, attr, value, id) \
       SELECT $1::text, $2::text, u.a, u.v, $3::text FROM unnest($11::text[], $12::text[]) AS u(a, v) \
     ), cnt AS ( \
       INSERT INTO scim_counts (tenant, resource_type, shard, n) VALUES ($1::text, $2::text, $13::int2, 1) \
       ON CONFLICT (tenant, resource_type, shard) DO UPDATE SET n = scim_counts.n + 1 \
     ), aud AS ( \
       INSERT INTO scim_audit (at, tenant, actor, request_id, operation, resource_type, \
         resource_id, attributes, old_version, new_version) \
       VALUES ($14::text, $1::text, $15::text, $16::text, $17::text, $2::text, $3::text, $18::text, \
         NULL, 1) \
     ) SELECT id FROM ins";

/// Replaces a resource's data, bumps its version, brings its index rows from the old entries
/// to the new ones (only the difference) and records the change: one statement.
pub const UPDATE_DATA: &str = "WITH upd AS ( \
       UPDATE scim_resources SET data = $4::text::jsonb, user_name_key = $5::text, \
         display_name = $6::text, body_schemas = $7::text, body = $8::text, body_key = $9::text, \
         version = version + 1, last_modified = $10::text \
       WHERE tenant = $1::text AND resource_type = $2::text AND id = $3::text \
       RETURNING version, created, last_modified \
     ), gone AS ( \
       DELETE FROM scim_index WHERE tenant = $1::text AND resource_type = $2::text AND id = $3::text \
         AND (attr, value) IN (SELECT u.a, u.v FROM unnest($11::text[], $12::text[]) AS u(a, v)) \
     ), added AS ( \
       INSERT INTO scim_index (tenant, resource_type, attr, value, id) \
       SELECT $1::text, $2::text, u.a, u.v, $3::text FROM unnest($13::text[], $14::text[]) AS u(a, v) \
     ), aud AS ( \
       INSERT INTO scim_audit (at, tenant, actor, request_id, operation, resource_type, \
         resource_id, attributes, old_version, new_version) \
       SELECT $15::text, $1::text, $16::text, $17::text, $18::text, $2::text, $3::text, $19::text, \
         version - 1, version FROM upd \
     ) SELECT version, created, last_modified FROM upd";

/// Bumps a resource's version (members changed) and records the change: one statement.
pub const UPDATE_VERSION: &str = "WITH upd AS ( \
       UPDATE scim_resources SET version = version + 1, last_modified = $4::text \
       WHERE tenant = $1::text AND resource_type = $2::text AND id = $3::text \
       RETURNING version, created, last_modified \
     ), aud AS ( \
       INSERT INTO scim_audit (at, tenant, actor, request_id, operation, resource_type, \
         resource_id, attributes, old_version, new_version) \
       SELECT $5::text, $1::text, $6::text, $7::text, $8::text, $2::text, $3::text, $9::text, \
         version - 1, version FROM upd \
     ) SELECT version, created, last_modified FROM upd";

/// Deletes a resource (at the expected version, when `$4` is not NULL). Every group it leaves
/// gets a new version (its ETag changes; the membership rows go by cascade, see the
/// migrations), its index rows go, its counter shard is decremented and the audit trail records
/// it: one statement. Returns the deleted version (NULL when nothing was deleted) and whether
/// the resource existed.
pub const DELETE: &str = "WITH del AS ( \
       DELETE FROM scim_resources WHERE tenant = $1::text AND resource_type = $2::text \
         AND id = $3::text AND ($4::int8 IS NULL OR version = $4::int8) RETURNING version \
     ), grp AS ( \
       UPDATE scim_resources SET version = version + 1, last_modified = $5::text \
       WHERE tenant = $1::text AND resource_type = 'Group' AND id IN \
         (SELECT group_id FROM scim_members WHERE tenant = $1::text AND member_id = $3::text) \
         AND EXISTS (SELECT 1 FROM del) \
     ), idx AS ( \
       DELETE FROM scim_index WHERE tenant = $1::text AND id = $3::text AND EXISTS (SELECT 1 FROM del) \
     ), cnt AS ( \
       INSERT INTO scim_counts (tenant, resource_type, shard, n) \
       SELECT $1::text, $2::text, $6::int2, -1 FROM del \
       ON CONFLICT (tenant, resource_type, shard) DO UPDATE SET n = scim_counts.n - 1 \
     ), aud AS ( \
       INSERT INTO scim_audit (at, tenant, actor, request_id, operation, resource_type, \
         resource_id, attributes, old_version, new_version) \
       SELECT $7::text, $1::text, $8::text, $9::text, $10::text, $2::text, $3::text, '[]', \
         version, NULL FROM del \
     ) SELECT (SELECT version FROM del) AS deleted, EXISTS (SELECT 1 FROM scim_resources \
       WHERE tenant = $1::text AND resource_type = $2::text AND id = $3::text) AS existed";

/// The statement that inserts member rows (see [`insert_members`]).
pub const INSERT_MEMBERS: &str =
    "INSERT INTO scim_members (tenant, group_id, member_id, member_type, display) \
     SELECT $1::text, $2::text, u.m, u.k, u.d \
     FROM unnest($3::text[], $4::text[], $5::text[]) AS u(m, k, d) \
     ON CONFLICT (tenant, group_id, member_id) DO NOTHING";

/// Prepares statements not prepared on this connection yet (a round trip each; none once
/// cached). Required before pipelining statements with `COMMIT`: a statement still being
/// prepared would be sent after the `COMMIT` issued with it.
pub async fn prepare(c: &Conn, statements: &[&str]) -> Result<(), StoreError> {
    for s in statements {
        c.prepare_cached(s).await?;
    }
    Ok(())
}

/// A counter shard for one write.
pub fn shard() -> i16 {
    (rand::random::<u16>() % COUNT_SHARDS as u16) as i16
}

/// A token row.
pub fn token_info(r: &Row) -> Result<TokenInfo, StoreError> {
    let hash: String = r.try_get("token_hash")?;
    Ok(TokenInfo {
        id: hash.chars().take(12).collect(),
        tenant: r.try_get("tenant")?,
        label: r.try_get("label")?,
        source: r.try_get("source")?,
        read_only: r.try_get::<_, i64>("read_only")? != 0,
        created: r.try_get("created")?,
        last_used: r.try_get("last_used")?,
    })
}

/// A resource row: the stored rendered body instead of the parsed data when it is current
/// (its key is `key`; the row then has the body columns).
pub fn resource(row: &Row, key: Option<&str>) -> Result<StoredResource, StoreError> {
    if let Some(key) = key {
        let row_key: Option<&str> = row.try_get("body_key")?;
        if row_key == Some(key) {
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
                    body: Some(super::super::body::Body { schemas, members }),
                });
            }
        }
    }
    let data: Option<&str> = row.try_get("data")?;
    let data = match data.map(serde_json::from_str) {
        Some(Ok(Value::Object(m))) => m,
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

/// A member row of [`MEMBER_PAGE_FIRST`] / [`MEMBER_PAGE_AFTER`].
pub fn member(r: &Row) -> Result<MemberRow, StoreError> {
    Ok(MemberRow {
        value: r.try_get("member_id")?,
        kind: r.try_get("member_type")?,
        display: r.try_get("display")?,
    })
}

/// Runs a statement of varying text (a translated filter) as an unnamed statement with
/// declared parameter types: one round trip, nothing cached.
pub async fn query_dyn(c: &Conn, sql: &str, values: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
    Ok(c.query_typed(sql, &typed(values)).await?)
}

/// Rows of what `load` asks for resources of type `rt`: a group's members ([`MEMBERS_OF`]) or a
/// user's groups ([`GROUPS_OF`]); `None` when there is nothing to load. Issued on its own, so that
/// it can be pipelined with other statements.
pub async fn extras_rows(
    c: &Conn,
    tenant: &str,
    rt: &str,
    ids: &[String],
    load: Load,
) -> Result<Option<Vec<Row>>, StoreError> {
    let sql = if load.members && rt == "Group" {
        MEMBERS_OF
    } else if load.groups && rt == "User" {
        GROUPS_OF
    } else {
        return Ok(None);
    };
    if ids.is_empty() {
        return Ok(None);
    }
    let stmt = c.prepare_cached(sql).await?;
    Ok(Some(c.query(&stmt, &[&tenant, &ids]).await?))
}

/// The statement [`extras_rows`] runs for resources of type `rt` (for [`prepare`]).
pub fn extras_sql(rt: &str) -> &'static str {
    if rt == "Group" {
        MEMBERS_OF
    } else {
        GROUPS_OF
    }
}

/// Puts the rows of [`extras_rows`] into their resources.
pub fn apply_extras(
    items: &mut [StoredResource],
    rt: &str,
    rows: Option<Vec<Row>>,
) -> Result<(), StoreError> {
    let Some(rows) = rows else {
        return Ok(());
    };
    let index: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.clone(), i))
        .collect();
    if rt == "Group" {
        for r in items.iter_mut() {
            r.members = Some(Vec::new());
        }
        for row in &rows {
            let gid: &str = row.try_get("group_id")?;
            if let Some(&i) = index.get(gid) {
                items[i]
                    .members
                    .get_or_insert_with(Vec::new)
                    .push(member(row)?);
            }
        }
    } else {
        for r in items.iter_mut() {
            r.groups = Some(Vec::new());
        }
        for row in &rows {
            let uid: &str = row.try_get("member_id")?;
            if let Some(&i) = index.get(uid) {
                items[i].groups.get_or_insert_with(Vec::new).push(GroupRef {
                    value: row.try_get("group_id")?,
                    display: row.try_get("display_name")?,
                });
            }
        }
    }
    Ok(())
}

/// Statements a connection keeps prepared at most: translated filters are prepared (their plan
/// cached, as sqlx did) until a connection holds this many, then run unnamed, so that clients
/// sending ever new filter shapes cannot grow the cache without bound.
pub const MAX_PREPARED: usize = 256;

/// Runs a translated statement: prepared once per connection while the cache has room (a
/// second run of the same shape is one round trip without parsing or planning from scratch),
/// else as an unnamed statement ([`query_dyn`]).
pub async fn query_translated(
    c: &Conn,
    sql: &str,
    values: &[SqlValue],
) -> Result<Vec<Row>, StoreError> {
    if c.statement_cache.size() >= MAX_PREPARED {
        return query_dyn(c, sql, values).await;
    }
    let params = typed(values);
    let types: Vec<tokio_postgres::types::Type> = params.iter().map(|(_, t)| t.clone()).collect();
    let stmt = c.prepare_typed_cached(sql, &types).await?;
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        params.iter().map(|(v, _)| *v).collect();
    Ok(c.query(&stmt, &refs).await?)
}

/// Fills in what `load` asks for: a group's members, a user's groups (array binds, one
/// statement whatever the number of resources).
pub async fn load_extras(
    c: &Conn,
    tenant: &str,
    rt: &str,
    items: &mut [StoredResource],
    load: Load,
) -> Result<(), StoreError> {
    let ids: Vec<String> = items.iter().map(|r| r.id.clone()).collect();
    let rows = extras_rows(c, tenant, rt, &ids, load).await?;
    apply_extras(items, rt, rows)
}

/// Checks that every member exists in the tenant (a User or a Group, not the group itself) and
/// fills in its type.
pub async fn resolve_members(
    c: &Conn,
    tenant: &str,
    group_id: &str,
    members: &mut [MemberRow],
) -> Result<(), StoreError> {
    if let Some(m) = members.iter().find(|m| m.value == group_id) {
        return Err(StoreError::Invalid(ScimError::invalid_value(format!(
            "a group cannot be a member of itself ({})",
            m.value
        ))));
    }
    let ids: Vec<&str> = members.iter().map(|m| m.value.as_str()).collect();
    let stmt = c
        .prepare_cached(
            "SELECT id, resource_type FROM scim_resources WHERE tenant = $1 \
             AND resource_type IN ('User', 'Group') AND id = ANY($2::text[])",
        )
        .await?;
    let rows = c.query(&stmt, &[&tenant, &ids]).await?;
    let mut kinds = HashMap::with_capacity(rows.len());
    for row in &rows {
        kinds.insert(row.try_get::<_, String>(0)?, row.try_get::<_, String>(1)?);
    }
    for m in members.iter_mut() {
        match kinds.remove(&m.value) {
            Some(kind) => m.kind = Some(kind),
            None => {
                return Err(StoreError::Invalid(ScimError::invalid_value(format!(
                    "member {:?} does not exist",
                    m.value
                ))))
            }
        }
    }
    Ok(())
}

/// Inserts member rows (already resolved); existing ones are kept. Returns how many were new.
pub async fn insert_members(
    c: &Conn,
    tenant: &str,
    group_id: &str,
    rows: &[MemberRow],
) -> Result<u64, StoreError> {
    let ids: Vec<&str> = rows.iter().map(|m| m.value.as_str()).collect();
    let kinds: Vec<&str> = rows
        .iter()
        .map(|m| m.kind.as_deref().unwrap_or("User"))
        .collect();
    let displays: Vec<Option<&str>> = rows.iter().map(|m| m.display.as_deref()).collect();
    let stmt = c.prepare_cached(INSERT_MEMBERS).await?;
    Ok(
        c.execute(&stmt, &[&tenant, &group_id, &ids, &kinds, &displays])
            .await?,
    )
}

/// Applies member changes in order; returns how many rows changed.
pub async fn apply_member_changes(
    c: &Conn,
    tenant: &str,
    group_id: &str,
    changes: Vec<MemberChange>,
) -> Result<u64, StoreError> {
    let mut affected = 0;
    for change in changes {
        match change {
            MemberChange::RemoveAll => {
                let stmt = c
                    .prepare_cached("DELETE FROM scim_members WHERE tenant = $1 AND group_id = $2")
                    .await?;
                affected += c.execute(&stmt, &[&tenant, &group_id]).await?;
            }
            MemberChange::Remove(ids) => {
                let stmt = c
                    .prepare_cached(
                        "DELETE FROM scim_members WHERE tenant = $1 AND group_id = $2 \
                         AND member_id = ANY($3::text[])",
                    )
                    .await?;
                affected += c.execute(&stmt, &[&tenant, &group_id, &ids]).await?;
            }
            MemberChange::Add(mut rows) => {
                // Within one request, later duplicates are no-ops too.
                let mut seen = std::collections::HashSet::new();
                rows.retain(|m| seen.insert(m.value.clone()));
                if rows.is_empty() {
                    continue;
                }
                resolve_members(c, tenant, group_id, &mut rows).await?;
                affected += insert_members(c, tenant, group_id, &rows).await?;
            }
        }
    }
    Ok(affected)
}

/// Splits index entries into the attribute and value arrays of an `unnest`.
fn entry_arrays(entries: &[Entry]) -> (Vec<&str>, Vec<&str>) {
    entries
        .iter()
        .map(|(a, v)| (a.as_str(), v.as_str()))
        .unzip()
}

/// Inserts a new resource (see [`CREATE`]).
#[allow(clippy::too_many_arguments)]
pub async fn create(
    c: &Conn,
    tenant: &str,
    rt: &str,
    id: &str,
    now: &str,
    cols: &Columns,
    index: &[Entry],
    audit: &AuditEntry,
    members_changed: bool,
) -> Result<(), StoreError> {
    let stmt = c.prepare_cached(CREATE).await?;
    let (attrs, values) = entry_arrays(index);
    let audit_attrs = audit.attributes_json(members_changed);
    c.execute(
        &stmt,
        &[
            &tenant,
            &rt,
            &id,
            &cols.user_name_key,
            &cols.display_name,
            &cols.data,
            &now,
            &cols.body.schemas,
            &cols.body.members,
            &cols.body_key,
            &attrs,
            &values,
            &shard(),
            &audit.at,
            &audit.actor,
            &audit.request_id,
            &audit.operation,
            &audit_attrs,
        ],
    )
    .await?;
    Ok(())
}

/// The version and times of a row after an update.
pub struct Updated {
    /// The new version.
    pub version: i64,
    /// Creation time.
    pub created: String,
    /// The new last modification time.
    pub last_modified: String,
}

fn updated(row: Row) -> Result<Updated, StoreError> {
    Ok(Updated {
        version: row.try_get(0)?,
        created: row.try_get(1)?,
        last_modified: row.try_get(2)?,
    })
}

/// Replaces the data of a locked resource (see [`UPDATE_DATA`]).
#[allow(clippy::too_many_arguments)]
pub async fn update_data(
    c: &Conn,
    tenant: &str,
    rt: &str,
    id: &str,
    now: &str,
    cols: &Columns,
    gone: &[Entry],
    added: &[Entry],
    audit: &AuditEntry,
    members_changed: bool,
) -> Result<Updated, StoreError> {
    let stmt = c.prepare_cached(UPDATE_DATA).await?;
    let (gone_a, gone_v) = entry_arrays(gone);
    let (added_a, added_v) = entry_arrays(added);
    let audit_attrs = audit.attributes_json(members_changed);
    let row = c
        .query_opt(
            &stmt,
            &[
                &tenant,
                &rt,
                &id,
                &cols.data,
                &cols.user_name_key,
                &cols.display_name,
                &cols.body.schemas,
                &cols.body.members,
                &cols.body_key,
                &now,
                &gone_a,
                &gone_v,
                &added_a,
                &added_v,
                &audit.at,
                &audit.actor,
                &audit.request_id,
                &audit.operation,
                &audit_attrs,
            ],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    updated(row)
}

/// Bumps the version of a locked resource whose members changed (see [`UPDATE_VERSION`]).
pub async fn update_version(
    c: &Conn,
    tenant: &str,
    rt: &str,
    id: &str,
    now: &str,
    audit: &AuditEntry,
) -> Result<Updated, StoreError> {
    let stmt = c.prepare_cached(UPDATE_VERSION).await?;
    let audit_attrs = audit.attributes_json(true);
    let row = c
        .query_opt(
            &stmt,
            &[
                &tenant,
                &rt,
                &id,
                &now,
                &audit.at,
                &audit.actor,
                &audit.request_id,
                &audit.operation,
                &audit_attrs,
            ],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    updated(row)
}

/// Deletes a resource (see [`DELETE`]).
pub async fn delete(
    c: &Conn,
    tenant: &str,
    rt: &str,
    id: &str,
    expected_version: Option<i64>,
    audit: &AuditEntry,
) -> Result<(), StoreError> {
    let stmt = c.prepare_cached(DELETE).await?;
    let row = c
        .query_one(
            &stmt,
            &[
                &tenant,
                &rt,
                &id,
                &expected_version,
                &audit.at,
                &shard(),
                &audit.at,
                &audit.actor,
                &audit.request_id,
                &audit.operation,
            ],
        )
        .await?;
    let deleted: Option<i64> = row.try_get(0)?;
    let existed: bool = row.try_get(1)?;
    match (deleted, existed) {
        (Some(_), _) => Ok(()),
        (None, true) => Err(StoreError::VersionMismatch),
        (None, false) => Err(StoreError::NotFound),
    }
}

/// Writes the index rows of a resource stored before the index existed.
pub async fn insert_index(
    c: &Conn,
    tenant: &str,
    rt: &str,
    id: &str,
    entries: &[Entry],
) -> Result<(), StoreError> {
    let (attrs, values) = entry_arrays(entries);
    let stmt = c
        .prepare_cached(
            "INSERT INTO scim_index (tenant, resource_type, attr, value, id) \
             SELECT $1::text, $2::text, u.a, u.v, $3::text FROM unnest($4::text[], $5::text[]) AS u(a, v) \
             ON CONFLICT DO NOTHING",
        )
        .await?;
    c.execute(&stmt, &[&tenant, &rt, &id, &attrs, &values])
        .await?;
    Ok(())
}
