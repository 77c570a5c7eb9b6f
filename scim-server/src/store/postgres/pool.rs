//! Connections of the native PostgreSQL store: a deadpool-postgres pool of tokio-postgres
//! clients, the bounded acquisition wait, per-connection settings, pool statistics, the
//! migrations, and [`Conn`], a checked-out client that never goes back to the pool inside a
//! transaction.
//!
//! - At most [`POOL_SIZE`] connections; a request waits at most [`ACQUIRE_TIMEOUT`] for one,
//!   then fails with [`StoreError::Busy`], answered `429` with `Retry-After` (identity providers
//!   retry it; they quarantine apps that answer `5xx`).
//! - Each new connection sets `statement_timeout` to [`STATEMENT_TIMEOUT`], below the server's
//!   request timeout (30 s), so a runaway statement ends as an error the request can report.
//! - Statements are prepared once per connection (deadpool's `prepare_cached`): those with a
//!   fixed text always, translated filters while the connection holds fewer than
//!   [`super::ops::MAX_PREPARED`] statements; past that they run unnamed (`query_typed`: one
//!   round trip, nothing kept), so the cache cannot grow with the variety of filters.
//! - tokio-postgres pipelines requests issued concurrently on one client (futures joined):
//!   `BEGIN` and the first statement of a transaction, or its last statement and `COMMIT`, go
//!   in one round trip.
//! - Migrations are the embedded `migrations/postgres` files, applied under sqlx's advisory
//!   lock and recorded in `_sqlx_migrations` exactly as sqlx records them (same table, same
//!   checksums), so databases created by earlier versions (on sqlx) open unchanged.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{
    ClientWrapper, Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError,
    RecyclingMethod, Runtime, TimeoutType,
};
use scim_core::ScimError;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::NoTls;

use super::super::sql::SqlValue;
use super::super::StoreError;

/// Connections in the pool.
pub const POOL_SIZE: usize = 16;

/// How long a request waits for a connection before it is answered `429`.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long opening a new connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL `statement_timeout`: below the server's default request timeout (30 s).
pub const STATEMENT_TIMEOUT: &str = "20s";

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        if let Some(code) = e.code() {
            if *code == SqlState::UNIQUE_VIOLATION {
                return StoreError::Uniqueness("a unique attribute value is already in use".into());
            }
            if *code == SqlState::FOREIGN_KEY_VIOLATION {
                // A member deleted while it was being added (the database keeps members
                // referring to existing resources only).
                return StoreError::Invalid(ScimError::invalid_value(
                    "a member does not exist (it was deleted meanwhile)",
                ));
            }
            if *code == SqlState::TOO_MANY_CONNECTIONS {
                return StoreError::Busy;
            }
        }
        StoreError::Backend(match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        })
    }
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Timeout(TimeoutType::Wait) => StoreError::Busy,
        PoolError::Timeout(_) => StoreError::Backend("connecting to PostgreSQL timed out".into()),
        PoolError::Backend(e) => e.into(),
        other => StoreError::Backend(other.to_string()),
    }
}

/// A bound parameter as PostgreSQL sees it: the type is declared with the statement
/// ([`typed`]), as sqlx did, so `$1` is `text`, `int8` or `float8` whatever the context.
impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            SqlValue::Text(s) => s.to_sql(ty, out),
            SqlValue::Int(i) => i.to_sql(ty, out),
            SqlValue::Float(f) => f.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <String as ToSql>::accepts(ty) || <i64 as ToSql>::accepts(ty) || <f64 as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

/// The parameters of a translated statement with their declared types.
pub fn typed(values: &[SqlValue]) -> Vec<(&(dyn ToSql + Sync), Type)> {
    values
        .iter()
        .map(|v| {
            let t = match v {
                SqlValue::Text(_) => Type::TEXT,
                SqlValue::Int(_) => Type::INT8,
                SqlValue::Float(_) => Type::FLOAT8,
            };
            (v as &(dyn ToSql + Sync), t)
        })
        .collect()
}

/// The connection pool.
#[derive(Clone)]
pub struct PgPool {
    pool: Pool,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.pool.status();
        f.debug_struct("PgPool")
            .field("size", &s.size)
            .field("available", &s.available)
            .finish()
    }
}

impl PgPool {
    /// A pool for `url` with at most `max` connections, waiting at most `acquire` for one.
    pub fn new(url: &str, max: usize, acquire: Duration) -> Result<PgPool, StoreError> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max.max(1))
            .wait_timeout(Some(acquire))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .post_create(Hook::async_fn(|client: &mut ClientWrapper, _| {
                Box::pin(async move {
                    client
                        .batch_execute(&format!("SET statement_timeout = '{STATEMENT_TIMEOUT}'"))
                        .await
                        .map_err(HookError::Backend)
                })
            }))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the connection pool: {e}")))?;
        Ok(PgPool { pool })
    }

    /// Checks a connection out, waiting at most the acquisition timeout (then
    /// [`StoreError::Busy`]).
    pub async fn get(&self) -> Result<Conn, StoreError> {
        let obj = self.pool.get().await.map_err(pool_error)?;
        Ok(Conn {
            obj: Some(obj),
            in_tx: false,
        })
    }

    /// (open connections, idle connections).
    pub fn stats(&self) -> (u32, u32) {
        let s = self.pool.status();
        (s.size as u32, s.available as u32)
    }

    /// Closes the pool: idle connections close now, the others when they are returned.
    pub fn close(&self) {
        self.pool.close();
    }
}

/// A checked-out connection. Dropped inside a transaction (a request cancelled between
/// `BEGIN` and `COMMIT`), the connection is closed instead of returned, so no other request
/// ever runs in a transaction it did not begin; the server rolls the transaction back.
pub struct Conn {
    obj: Option<Object>,
    in_tx: bool,
}

impl std::ops::Deref for Conn {
    type Target = ClientWrapper;
    fn deref(&self) -> &ClientWrapper {
        self.obj
            .as_ref()
            .expect("a connection is present until dropped")
    }
}

impl Conn {
    /// Marks the connection as inside (`true`) or outside a transaction.
    pub fn set_in_tx(&mut self, v: bool) {
        self.in_tx = v;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.in_tx {
            if let Some(obj) = self.obj.take() {
                drop(Object::take(obj));
            }
        }
    }
}

/// sqlx's advisory lock id for migrations of a database (`generate_lock_id` in sqlx-postgres:
/// `0x3d32ad9e` times the CRC-32 of the database name), so that this store and an earlier
/// version on sqlx never migrate the same database at once.
fn migration_lock_id(database: &str) -> i64 {
    let mut crc: u32 = 0xFFFF_FFFF;
    for b in database.bytes() {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    0x3d32_ad9e_i64 * i64::from(!crc)
}

/// Applies the embedded migrations not applied yet, as sqlx's migrator does: under the
/// advisory lock, each in its own transaction, recorded in `_sqlx_migrations` with its checksum.
pub async fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    let db: String = conn
        .query_one("SELECT current_database()", &[])
        .await?
        .get(0);
    let lock = migration_lock_id(&db);
    conn.execute("SELECT pg_advisory_lock($1)", &[&lock])
        .await?;
    let result = migrate_locked(conn).await;
    let unlocked = conn
        .execute("SELECT pg_advisory_unlock($1)", &[&lock])
        .await;
    result?;
    unlocked?;
    Ok(())
}

async fn migrate_locked(conn: &mut Conn) -> Result<(), StoreError> {
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
            success BOOLEAN NOT NULL,
            checksum BYTEA NOT NULL,
            execution_time BIGINT NOT NULL
        );",
    )
    .await?;
    if let Some(row) = conn
        .query_opt(
            "SELECT version FROM _sqlx_migrations WHERE success = false ORDER BY version LIMIT 1",
            &[],
        )
        .await?
    {
        let v: i64 = row.get(0);
        return Err(StoreError::Backend(format!(
            "migration {v} is partially applied: fix and remove it from _sqlx_migrations"
        )));
    }
    let applied: std::collections::HashMap<i64, Vec<u8>> = conn
        .query("SELECT version, checksum FROM _sqlx_migrations", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for m in super::super::shared::POSTGRES_MIGRATOR.iter() {
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
        conn.set_in_tx(true);
        conn.batch_execute("BEGIN").await?;
        conn.batch_execute(&m.sql)
            .await
            .map_err(|e| StoreError::Backend(format!("migration {} failed: {e}", m.version)))?;
        let checksum: &[u8] = m.checksum.as_ref();
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, $2, TRUE, $3, $4)",
            &[
                &m.version,
                &m.description.as_ref(),
                &checksum,
                &(started.elapsed().as_nanos() as i64),
            ],
        )
        .await?;
        conn.batch_execute("COMMIT").await?;
        conn.set_in_tx(false);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_id_is_sqlx_s() {
        // CRC-32 (ISO-HDLC) of "123456789" is 0xCBF43926, the algorithm's check value.
        assert_eq!(
            super::migration_lock_id("123456789"),
            0x3d32_ad9e_i64 * 0xCBF4_3926_i64
        );
    }
}
