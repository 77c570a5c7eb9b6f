//! The statements of the native SQLite store, run synchronously on one connection (a reader
//! on the blocking pool, or the writer thread inside a batch's transaction).
//!
//! Everything that does not need the database (rendering the stored body, the index entries,
//! the JSON text, the audit attributes) is computed by the caller before a write is queued, so
//! the writer thread only runs statements.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Row, ToSql};
use scim_core::{JsonMap, ScimError};
use serde_json::Value;

use super::super::index::Entry;
pub use super::super::shared::{AuditEntry, Columns};
use super::super::sql::{Dialect, Params, SqlValue};
use super::super::{
    GroupRef, Load, MemberChange, MemberRow, StoreError, StoredResource, TokenInfo,
};

/// Most ids bound in one `IN (...)` list.
const CHUNK: usize = 500;

/// Most index rows written by one statement (5 parameters each).
const INDEX_CHUNK: usize = 100;

/// The columns [`token_info`] reads.
pub const TOKEN_COLUMNS: &str = "token_hash, tenant, label, source, read_only, created, last_used";

impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            SqlValue::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            SqlValue::Float(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
        })
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            match f.extended_code {
                // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
                2067 | 1555 => {
                    return StoreError::Uniqueness(
                        "a unique attribute value is already in use".into(),
                    )
                }
                // SQLITE_CONSTRAINT_FOREIGNKEY: a member deleted while it was being added.
                787 => {
                    return StoreError::Invalid(ScimError::invalid_value(
                        "a member does not exist (it was deleted meanwhile)",
                    ))
                }
                _ => {}
            }
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) {
                return StoreError::Busy;
            }
        }
        StoreError::Backend(e.to_string())
    }
}

/// Fresh SQLite parameters.
pub fn p() -> Params {
    Params::new(Dialect::Sqlite)
}

/// Runs a query and maps every row.
pub fn all<T>(
    conn: &Connection,
    sql: &str,
    values: &[SqlValue],
    mut f: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(f(row)?);
    }
    Ok(out)
}

/// Runs a query and maps its first row, if any.
pub fn first<T>(
    conn: &Connection,
    sql: &str,
    values: &[SqlValue],
    f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
    match rows.next()? {
        Some(row) => Ok(Some(f(row)?)),
        None => Ok(None),
    }
}

/// Runs a statement; returns the rows changed.
pub fn exec(conn: &Connection, sql: &str, values: &[SqlValue]) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt.execute(rusqlite::params_from_iter(values.iter()))? as u64)
}

/// A token row.
pub fn token_info(r: &Row<'_>) -> Result<TokenInfo, StoreError> {
    let hash: String = r.get("token_hash")?;
    Ok(TokenInfo {
        id: hash.chars().take(12).collect(),
        tenant: r.get("tenant")?,
        label: r.get("label")?,
        source: r.get("source")?,
        read_only: r.get::<_, i64>("read_only")? != 0,
        created: r.get("created")?,
        last_used: r.get("last_used")?,
    })
}

/// A resource row (`id, data, version, created, last_modified` and, with `key`, the body
/// columns `body_schemas, body, body_key`, in this order: see [`fetch`] and
/// [`crate::store::sql::page_columns`]): the stored body instead of the data when its key is
/// `key`. Columns are read by position: by name, rusqlite compares every column's name for each
/// value (3 % of the CPU of a page of 100 users).
pub fn resource(row: &Row<'_>, key: Option<&str>) -> Result<StoredResource, StoreError> {
    let mut r = StoredResource {
        id: row.get(0)?,
        data: JsonMap::new(),
        version: row.get(2)?,
        created: row.get(3)?,
        last_modified: row.get(4)?,
        members: None,
        groups: None,
        body: None,
    };
    if let Some(key) = key {
        if row.get_ref(7)?.as_str_or_null().ok().flatten() == Some(key) {
            let schemas: Option<String> = row.get(5)?;
            let members: Option<String> = row.get(6)?;
            if let (Some(schemas), Some(members)) = (schemas, members) {
                r.body = Some(super::super::body::Body { schemas, members });
                return Ok(r);
            }
        }
    }
    let data: String = row.get(1)?;
    r.data = match serde_json::from_str(&data) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(StoreError::Backend(
                "stored resource data is not a JSON object".into(),
            ))
        }
    };
    Ok(r)
}

/// Reads one resource; with `key`, in its stored rendered form when that is current.
pub fn fetch(
    conn: &Connection,
    tenant: &str,
    rt: &str,
    id: &str,
    key: Option<&str>,
) -> Result<Option<StoredResource>, StoreError> {
    let body = if key.is_some() {
        ", r.body_schemas, r.body, r.body_key"
    } else {
        ""
    };
    let sql = format!(
        "SELECT r.id, r.data, r.version, r.created, r.last_modified{body} FROM scim_resources r \
         WHERE r.tenant = ?1 AND r.resource_type = ?2 AND r.id = ?3"
    );
    let values = [
        SqlValue::Text(tenant.into()),
        SqlValue::Text(rt.into()),
        SqlValue::Text(id.into()),
    ];
    first(conn, &sql, &values, |row| resource(row, key))
}

/// Loads members (groups) and groups (users) for `items`.
pub fn load_extras(
    conn: &Connection,
    tenant: &str,
    rt: &str,
    items: &mut [StoredResource],
    load: Load,
) -> Result<(), StoreError> {
    let members = load.members && rt == "Group";
    let groups = load.groups && rt == "User";
    if items.is_empty() || !(members || groups) {
        return Ok(());
    }
    for chunk in items.chunks_mut(CHUNK) {
        let index: std::collections::HashMap<String, usize> = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        let mut p = p();
        let t = p.text(tenant);
        let ids: Vec<String> = chunk.iter().map(|r| p.text(r.id.clone())).collect();
        if members {
            let sql = format!(
                "SELECT group_id, member_id, member_type, display FROM scim_members \
                 WHERE tenant = {t} AND group_id IN ({}) ORDER BY group_id, member_id",
                ids.join(", ")
            );
            for r in chunk.iter_mut() {
                r.members = Some(Vec::new());
            }
            let rows = all(conn, &sql, &p.values, |row| {
                Ok((
                    row.get::<_, String>("group_id")?,
                    MemberRow {
                        value: row.get("member_id")?,
                        kind: row.get("member_type")?,
                        display: row.get("display")?,
                    },
                ))
            })?;
            for (gid, m) in rows {
                if let Some(&i) = index.get(&gid) {
                    chunk[i].members.get_or_insert_with(Vec::new).push(m);
                }
            }
        } else {
            let sql = format!(
                "SELECT m.member_id, m.group_id, g.display_name FROM scim_members m \
                 JOIN scim_resources g ON g.tenant = m.tenant AND g.resource_type = 'Group' AND g.id = m.group_id \
                 WHERE m.tenant = {t} AND m.member_id IN ({}) ORDER BY m.member_id, m.group_id",
                ids.join(", ")
            );
            for r in chunk.iter_mut() {
                r.groups = Some(Vec::new());
            }
            let rows = all(conn, &sql, &p.values, |row| {
                Ok((
                    row.get::<_, String>("member_id")?,
                    GroupRef {
                        value: row.get("group_id")?,
                        display: row.get("display_name")?,
                    },
                ))
            })?;
            for (uid, g) in rows {
                if let Some(&i) = index.get(&uid) {
                    chunk[i].groups.get_or_insert_with(Vec::new).push(g);
                }
            }
        }
    }
    Ok(())
}

/// Checks that every member exists in the tenant and fills in its type.
fn resolve_members(
    conn: &Connection,
    tenant: &str,
    group_id: &str,
    members: &mut [MemberRow],
) -> Result<(), StoreError> {
    for chunk in members.chunks_mut(CHUNK) {
        let mut p = p();
        let t = p.text(tenant);
        let ids: Vec<String> = chunk.iter().map(|m| p.text(m.value.clone())).collect();
        let sql = format!(
            "SELECT id, resource_type FROM scim_resources WHERE tenant = {t} \
             AND resource_type IN ('User', 'Group') AND id IN ({})",
            ids.join(", ")
        );
        let kinds: std::collections::HashMap<String, String> = all(conn, &sql, &p.values, |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .into_iter()
        .collect();
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

/// Applies member changes as row operations; returns the rows changed.
pub fn apply_member_changes(
    conn: &Connection,
    tenant: &str,
    group_id: &str,
    changes: Vec<MemberChange>,
) -> Result<u64, StoreError> {
    let mut affected = 0;
    for change in changes {
        match change {
            MemberChange::RemoveAll => {
                affected += exec(
                    conn,
                    "DELETE FROM scim_members WHERE tenant = ?1 AND group_id = ?2",
                    &[
                        SqlValue::Text(tenant.into()),
                        SqlValue::Text(group_id.into()),
                    ],
                )?;
            }
            MemberChange::Remove(ids) => {
                for chunk in ids.chunks(CHUNK) {
                    let mut p = p();
                    let t = p.text(tenant);
                    let g = p.text(group_id);
                    let list: Vec<String> = chunk.iter().map(|i| p.text(i.clone())).collect();
                    let sql = format!(
                        "DELETE FROM scim_members WHERE tenant = {t} AND group_id = {g} AND member_id IN ({})",
                        list.join(", ")
                    );
                    affected += exec(conn, &sql, &p.values)?;
                }
            }
            MemberChange::Add(mut rows) => {
                // Within one request, later duplicates are no-ops too.
                let mut seen = std::collections::HashSet::new();
                rows.retain(|m| seen.insert(m.value.clone()));
                resolve_members(conn, tenant, group_id, &mut rows)?;
                let mut stmt = conn.prepare_cached(
                    "INSERT INTO scim_members (tenant, group_id, member_id, member_type, display) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant, group_id, member_id) DO NOTHING",
                )?;
                for m in &rows {
                    affected += stmt.execute(rusqlite::params![
                        tenant,
                        group_id,
                        m.value,
                        m.kind.as_deref().unwrap_or("User"),
                        m.display
                    ])? as u64;
                }
            }
        }
    }
    Ok(affected)
}

/// Brings a resource's index rows up to date: removes `gone`, inserts `added`.
pub fn write_index(
    conn: &Connection,
    tenant: &str,
    rt: &str,
    id: &str,
    gone: &[Entry],
    added: &[Entry],
) -> Result<(), StoreError> {
    for chunk in gone.chunks(INDEX_CHUNK) {
        let mut p = p();
        let t = p.text(tenant);
        let r = p.text(rt);
        let i = p.text(id);
        let pairs: Vec<String> = chunk
            .iter()
            .map(|(a, v)| format!("({}, {})", p.text(a.clone()), p.text(v.clone())))
            .collect();
        let sql = format!(
            "DELETE FROM scim_index WHERE tenant = {t} AND resource_type = {r} AND id = {i} \
             AND (attr, value) IN (VALUES {})",
            pairs.join(", ")
        );
        exec(conn, &sql, &p.values)?;
    }
    if !added.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO scim_index (tenant, resource_type, attr, value, id) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (a, v) in added {
            stmt.execute(rusqlite::params![tenant, rt, a, v, id])?;
        }
    }
    Ok(())
}

/// Writes an audit record.
#[allow(clippy::too_many_arguments)]
pub fn write_audit(
    conn: &Connection,
    tenant: &str,
    rt: &str,
    id: &str,
    a: &AuditEntry,
    members_changed: bool,
    old_version: Option<i64>,
    new_version: Option<i64>,
) -> Result<(), StoreError> {
    let mut attrs = a.attributes.clone();
    if members_changed {
        attrs.push("members".into());
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO scim_audit (at, tenant, actor, request_id, operation, resource_type, \
         resource_id, attributes, old_version, new_version) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    stmt.execute(rusqlite::params![
        a.at,
        tenant,
        a.actor,
        a.request_id,
        a.operation,
        rt,
        id,
        Value::from(attrs).to_string(),
        old_version,
        new_version
    ])?;
    Ok(())
}

/// Adds `delta` to the number of resources of a type in a tenant.
pub fn count_change(
    conn: &Connection,
    tenant: &str,
    rt: &str,
    delta: i64,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO scim_counts (tenant, resource_type, n) VALUES (?1, ?2, ?3) \
         ON CONFLICT (tenant, resource_type) DO UPDATE SET n = scim_counts.n + ?3",
    )?;
    stmt.execute(rusqlite::params![tenant, rt, delta])?;
    Ok(())
}

/// A new resource, ready to insert.
#[derive(Debug, Clone)]
pub struct NewResource {
    /// Tenant.
    pub tenant: String,
    /// Resource type name.
    pub rt: String,
    /// The new id.
    pub id: String,
    /// Creation time.
    pub now: String,
    /// Row columns.
    pub cols: Columns,
    /// Index entries.
    pub index: Vec<Entry>,
    /// Members to add (groups).
    pub members: Vec<MemberRow>,
    /// Audit record.
    pub audit: AuditEntry,
}

/// Inserts a resource; returns a group's members as stored.
pub fn create(conn: &Connection, n: NewResource) -> Result<Option<Vec<MemberRow>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO scim_resources (tenant, resource_type, id, user_name_key, display_name, data, \
         version, created, last_modified, body_schemas, body, body_key) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7, ?8, ?9, ?10)",
    )?;
    stmt.execute(rusqlite::params![
        n.tenant,
        n.rt,
        n.id,
        n.cols.user_name_key,
        n.cols.display_name,
        n.cols.data,
        n.now,
        n.cols.body.schemas,
        n.cols.body.members,
        n.cols.body_key
    ])?;
    write_index(conn, &n.tenant, &n.rt, &n.id, &[], &n.index)?;
    count_change(conn, &n.tenant, &n.rt, 1)?;
    let has_members = !n.members.is_empty();
    if has_members {
        apply_member_changes(conn, &n.tenant, &n.id, vec![MemberChange::Add(n.members)])?;
    }
    write_audit(
        conn,
        &n.tenant,
        &n.rt,
        &n.id,
        &n.audit,
        has_members,
        None,
        Some(1),
    )?;
    if n.rt == "Group" {
        let mut items = [StoredResource {
            id: n.id.clone(),
            data: JsonMap::new(),
            version: 1,
            created: String::new(),
            last_modified: String::new(),
            members: None,
            groups: None,
            body: None,
        }];
        load_extras(
            conn,
            &n.tenant,
            &n.rt,
            &mut items,
            Load {
                members: true,
                groups: false,
            },
        )?;
        let [r] = items;
        return Ok(r.members);
    }
    Ok(None)
}

/// A change to a resource decided from version `version` of it.
#[derive(Debug)]
pub struct Change {
    /// Tenant.
    pub tenant: String,
    /// Resource type name.
    pub rt: String,
    /// Id.
    pub id: String,
    /// The version the change was decided from.
    pub version: i64,
    /// New row columns, when the data changes.
    pub cols: Option<Columns>,
    /// Member row changes.
    pub member_changes: Vec<MemberChange>,
    /// Index rows to remove and to add.
    pub index_gone: Vec<Entry>,
    /// Index rows to add.
    pub index_added: Vec<Entry>,
    /// Modification time.
    pub now: String,
    /// Audit record.
    pub audit: AuditEntry,
    /// What to load with the result.
    pub load: Load,
}

/// Applies a change if the resource is still at the version it was decided from. `Ok(None)`:
/// it moved on meanwhile (nothing was written; decide again).
pub fn apply(conn: &Connection, c: Change) -> Result<Option<StoredResource>, StoreError> {
    let current = first(
        conn,
        "SELECT version FROM scim_resources WHERE tenant = ?1 AND resource_type = ?2 AND id = ?3",
        &[
            SqlValue::Text(c.tenant.clone()),
            SqlValue::Text(c.rt.clone()),
            SqlValue::Text(c.id.clone()),
        ],
        |r| Ok(r.get::<_, i64>(0)?),
    )?
    .ok_or(StoreError::NotFound)?;
    if current != c.version {
        return Ok(None);
    }
    let mut changed = false;
    let mut members_changed = false;
    if !c.member_changes.is_empty() {
        members_changed = apply_member_changes(conn, &c.tenant, &c.id, c.member_changes)? > 0;
        changed |= members_changed;
    }
    if let Some(cols) = &c.cols {
        let mut stmt = conn.prepare_cached(
            "UPDATE scim_resources SET data = ?4, user_name_key = ?5, display_name = ?6, \
             body_schemas = ?7, body = ?8, body_key = ?9, version = version + 1, last_modified = ?10 \
             WHERE tenant = ?1 AND resource_type = ?2 AND id = ?3",
        )?;
        stmt.execute(rusqlite::params![
            c.tenant,
            c.rt,
            c.id,
            cols.data,
            cols.user_name_key,
            cols.display_name,
            cols.body.schemas,
            cols.body.members,
            cols.body_key,
            c.now
        ])?;
        write_index(conn, &c.tenant, &c.rt, &c.id, &c.index_gone, &c.index_added)?;
    } else if changed {
        exec(
            conn,
            "UPDATE scim_resources SET version = version + 1, last_modified = ?4 \
             WHERE tenant = ?1 AND resource_type = ?2 AND id = ?3",
            &[
                SqlValue::Text(c.tenant.clone()),
                SqlValue::Text(c.rt.clone()),
                SqlValue::Text(c.id.clone()),
                SqlValue::Text(c.now.clone()),
            ],
        )?;
    }
    changed |= c.cols.is_some();
    if changed {
        write_audit(
            conn,
            &c.tenant,
            &c.rt,
            &c.id,
            &c.audit,
            members_changed,
            Some(current),
            Some(current + 1),
        )?;
    }
    let stored = fetch(conn, &c.tenant, &c.rt, &c.id, None)?.ok_or(StoreError::NotFound)?;
    let mut items = [stored];
    load_extras(conn, &c.tenant, &c.rt, &mut items, c.load)?;
    let [s] = items;
    Ok(Some(s))
}

/// Deletes a resource (its memberships go by cascade); every group it leaves gets a new version.
pub fn delete(
    conn: &Connection,
    tenant: &str,
    rt: &str,
    id: &str,
    expected_version: Option<i64>,
    audit: &AuditEntry,
) -> Result<(), StoreError> {
    exec(
        conn,
        "UPDATE scim_resources SET version = version + 1, last_modified = ?1 \
         WHERE tenant = ?2 AND resource_type = 'Group' AND id IN \
         (SELECT group_id FROM scim_members WHERE tenant = ?2 AND member_id = ?3)",
        &[
            SqlValue::Text(audit.at.clone()),
            SqlValue::Text(tenant.into()),
            SqlValue::Text(id.into()),
        ],
    )?;
    let mut values = vec![
        SqlValue::Text(tenant.into()),
        SqlValue::Text(rt.into()),
        SqlValue::Text(id.into()),
    ];
    let version = match expected_version {
        Some(v) => {
            values.push(SqlValue::Int(v));
            " AND version = ?4"
        }
        None => "",
    };
    let sql = format!(
        "DELETE FROM scim_resources WHERE tenant = ?1 AND resource_type = ?2 AND id = ?3{version} \
         RETURNING version"
    );
    let deleted = first(conn, &sql, &values, |r| Ok(r.get::<_, i64>(0)?))?;
    let Some(old_version) = deleted else {
        let exists = fetch(conn, tenant, rt, id, None)?.is_some();
        return Err(if exists {
            StoreError::VersionMismatch
        } else {
            StoreError::NotFound
        });
    };
    write_audit(conn, tenant, rt, id, audit, false, Some(old_version), None)?;
    exec(
        conn,
        "DELETE FROM scim_index WHERE tenant = ?1 AND id = ?2",
        &[SqlValue::Text(tenant.into()), SqlValue::Text(id.into())],
    )?;
    count_change(conn, tenant, rt, -1)?;
    Ok(())
}
