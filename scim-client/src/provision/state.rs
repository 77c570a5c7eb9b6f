//! The local state file (SQLite): links between people and target objects, the durable outbox
//! of planned changes, run records and the last good source snapshot per target.
//!
//! The file is opened in WAL mode with `synchronous = FULL`, so a change written to the outbox
//! survives a crash or power loss once the write returned; the engine writes every planned change
//! before it executes any. All SQL is parameterised.

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::ProvisionError;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS links (
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    id TEXT NOT NULL,
    applied TEXT,
    deactivated_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (target, kind, key)
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    source_hash TEXT NOT NULL,
    source_rows INTEGER NOT NULL,
    status TEXT NOT NULL,
    plan TEXT NOT NULL,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    target TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    phase INTEGER NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    person TEXT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    result TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_status ON outbox (target, status, phase, seq);
CREATE INDEX IF NOT EXISTS outbox_by_run ON outbox (run_id, seq);
CREATE TABLE IF NOT EXISTS snapshots (
    target TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    rows INTEGER NOT NULL,
    at TEXT NOT NULL
);
"#;

/// The state file.
#[derive(Debug, Clone)]
pub struct State {
    pool: SqlitePool,
}

/// A link: which target object belongs to a person (or group key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// `user` or `group`.
    pub kind: String,
    /// The person's key or the group key.
    pub key: String,
    /// The target's id.
    pub id: String,
    /// The managed attributes as last written (for drift detection).
    pub applied: Option<Value>,
    /// When the engine deactivated the account.
    pub deactivated_at: Option<DateTime<Utc>>,
}

/// One outbox entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Sequence number (execution order within a phase).
    pub seq: i64,
    /// The run that wrote it.
    pub run_id: String,
    /// The plan it came from.
    pub plan_id: String,
    /// Execution phase.
    pub phase: i64,
    /// Change kind.
    pub kind: String,
    /// Who or what.
    pub label: String,
    /// The person's key.
    pub person: Option<String>,
    /// The change (JSON).
    pub payload: Value,
    /// `pending`, `running`, `done`, `dead`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// What the execution returned (ids, notes).
    pub result: Option<Value>,
    /// Last change of this entry.
    pub updated_at: String,
}

/// A run record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub id: String,
    /// Target name.
    pub target: String,
    /// Plan id.
    pub plan_id: String,
    /// Start.
    pub started_at: String,
    /// End, when finished.
    pub finished_at: Option<String>,
    /// Source hash.
    pub source_hash: String,
    /// Source rows.
    pub source_rows: i64,
    /// `running`, `succeeded`, `incomplete` (changes left pending or dead).
    pub status: String,
    /// Counts per outcome.
    pub summary: Option<Value>,
}

fn db(e: sqlx::Error) -> ProvisionError {
    ProvisionError::State(e.to_string())
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl State {
    /// Opens (creating when missing) the state file at `path`.
    pub async fn open(path: &Path) -> Result<State, ProvisionError> {
        let opts = SqliteConnectOptions::from_str("sqlite:")
            .map_err(db)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(|e| ProvisionError::State(format!("{}: {e}", path.display())))?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(db)?;
        Ok(State { pool })
    }

    /// Every link of a target.
    pub async fn links(&self, target: &str) -> Result<Vec<Link>, ProvisionError> {
        let rows = sqlx::query(
            "SELECT kind, key, id, applied, deactivated_at FROM links WHERE target = ? ORDER BY kind, key",
        )
        .bind(target)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(|r| {
                let applied: Option<String> = r.get("applied");
                let deact: Option<String> = r.get("deactivated_at");
                Ok(Link {
                    kind: r.get("kind"),
                    key: r.get("key"),
                    id: r.get("id"),
                    applied: applied.and_then(|a| serde_json::from_str(&a).ok()),
                    deactivated_at: deact
                        .and_then(|d| DateTime::parse_from_rfc3339(&d).ok())
                        .map(|d| d.with_timezone(&Utc)),
                })
            })
            .collect()
    }

    /// The target id linked to `key`.
    pub async fn link_id(
        &self,
        target: &str,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, ProvisionError> {
        sqlx::query_scalar("SELECT id FROM links WHERE target = ? AND kind = ? AND key = ?")
            .bind(target)
            .bind(kind)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    /// Records (or replaces) a link; `applied` is kept when `None` is given.
    pub async fn set_link(
        &self,
        target: &str,
        kind: &str,
        key: &str,
        id: &str,
        applied: Option<&Value>,
    ) -> Result<(), ProvisionError> {
        sqlx::query(
            "INSERT INTO links (target, kind, key, id, applied, updated_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (target, kind, key) DO UPDATE SET id = excluded.id,
               applied = COALESCE(excluded.applied, links.applied), updated_at = excluded.updated_at",
        )
        .bind(target)
        .bind(kind)
        .bind(key)
        .bind(id)
        .bind(applied.map(Value::to_string))
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Marks a linked account deactivated (now) or active again (`false`).
    pub async fn set_deactivated(
        &self,
        target: &str,
        key: &str,
        deactivated: bool,
    ) -> Result<(), ProvisionError> {
        sqlx::query(
            "UPDATE links SET deactivated_at = ?, updated_at = ? WHERE target = ? AND kind = 'user' AND key = ?",
        )
        .bind(deactivated.then(now))
        .bind(now())
        .bind(target)
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Forgets a link (the object was deleted).
    pub async fn remove_link(
        &self,
        target: &str,
        kind: &str,
        key: &str,
    ) -> Result<(), ProvisionError> {
        sqlx::query("DELETE FROM links WHERE target = ? AND kind = ? AND key = ?")
            .bind(target)
            .bind(kind)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The last good source snapshot of a target: (hash, rows).
    pub async fn last_snapshot(
        &self,
        target: &str,
    ) -> Result<Option<(String, i64)>, ProvisionError> {
        let r = sqlx::query("SELECT hash, rows FROM snapshots WHERE target = ?")
            .bind(target)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(r.map(|r| (r.get("hash"), r.get("rows"))))
    }

    /// Records the snapshot of a run that finished.
    pub async fn set_snapshot(
        &self,
        target: &str,
        hash: &str,
        rows: usize,
    ) -> Result<(), ProvisionError> {
        sqlx::query(
            "INSERT INTO snapshots (target, hash, rows, at) VALUES (?, ?, ?, ?)
             ON CONFLICT (target) DO UPDATE SET hash = excluded.hash, rows = excluded.rows, at = excluded.at",
        )
        .bind(target)
        .bind(hash)
        .bind(rows as i64)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// The run that applied `plan_id`, if any.
    pub async fn run_of_plan(&self, plan_id: &str) -> Result<Option<String>, ProvisionError> {
        sqlx::query_scalar("SELECT id FROM runs WHERE plan_id = ? ORDER BY started_at LIMIT 1")
            .bind(plan_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    /// Starts a run and writes every change to the outbox, in one transaction: after this
    /// returns, no planned change can be lost.
    #[allow(clippy::too_many_arguments)]
    pub async fn begin_run(
        &self,
        run_id: &str,
        target: &str,
        plan_id: &str,
        source_hash: &str,
        source_rows: usize,
        plan_json: &Value,
        entries: &[(i64, String, String, Option<String>, Value)],
    ) -> Result<(), ProvisionError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let t = now();
        sqlx::query(
            "INSERT INTO runs (id, target, plan_id, started_at, source_hash, source_rows, status, plan)
             VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
        )
        .bind(run_id)
        .bind(target)
        .bind(plan_id)
        .bind(&t)
        .bind(source_hash)
        .bind(source_rows as i64)
        .bind(plan_json.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for (phase, kind, label, person, payload) in entries {
            sqlx::query(
                "INSERT INTO outbox (run_id, target, plan_id, phase, kind, label, person, payload, status, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            )
            .bind(run_id)
            .bind(target)
            .bind(plan_id)
            .bind(phase)
            .bind(kind)
            .bind(label)
            .bind(person)
            .bind(payload.to_string())
            .bind(&t)
            .bind(&t)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Adds one entry to a run's outbox (notifications of the changes it made).
    #[allow(clippy::too_many_arguments)]
    pub async fn enqueue(
        &self,
        run_id: &str,
        target: &str,
        plan_id: &str,
        phase: i64,
        kind: &str,
        label: &str,
        person: Option<&str>,
        payload: &Value,
    ) -> Result<(), ProvisionError> {
        let t = now();
        sqlx::query(
            "INSERT INTO outbox (run_id, target, plan_id, phase, kind, label, person, payload, status, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        )
        .bind(run_id)
        .bind(target)
        .bind(plan_id)
        .bind(phase)
        .bind(kind)
        .bind(label)
        .bind(person)
        .bind(payload.to_string())
        .bind(&t)
        .bind(&t)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Entries of a target still to execute (`pending`, or `running` when a crash interrupted
    /// them), in execution order.
    pub async fn pending(&self, target: &str) -> Result<Vec<OutboxEntry>, ProvisionError> {
        self.entries(
            "SELECT * FROM outbox WHERE target = ? AND status IN ('pending', 'running') ORDER BY phase, seq",
            target,
        )
        .await
    }

    /// Dead letters of a target.
    pub async fn dead(&self, target: &str) -> Result<Vec<OutboxEntry>, ProvisionError> {
        self.entries(
            "SELECT * FROM outbox WHERE target = ? AND status = 'dead' ORDER BY seq",
            target,
        )
        .await
    }

    /// Every entry of a run.
    pub async fn run_entries(&self, run_id: &str) -> Result<Vec<OutboxEntry>, ProvisionError> {
        self.entries("SELECT * FROM outbox WHERE run_id = ? ORDER BY seq", run_id)
            .await
    }

    async fn entries(&self, sql: &str, arg: &str) -> Result<Vec<OutboxEntry>, ProvisionError> {
        let rows = sqlx::query(sql)
            .bind(arg)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let payload: String = r.get("payload");
                let result: Option<String> = r.get("result");
                OutboxEntry {
                    seq: r.get("seq"),
                    run_id: r.get("run_id"),
                    plan_id: r.get("plan_id"),
                    phase: r.get("phase"),
                    kind: r.get("kind"),
                    label: r.get("label"),
                    person: r.get("person"),
                    payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                    status: r.get("status"),
                    attempts: r.get("attempts"),
                    last_error: r.get("last_error"),
                    result: result.and_then(|x| serde_json::from_str(&x).ok()),
                    updated_at: r.get("updated_at"),
                }
            })
            .collect())
    }

    /// Marks an entry as being executed (one more attempt), durably, before the request.
    pub async fn mark_running(&self, seq: i64) -> Result<(), ProvisionError> {
        sqlx::query(
            "UPDATE outbox SET status = 'running', attempts = attempts + 1, updated_at = ? WHERE seq = ?",
        )
        .bind(now())
        .bind(seq)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Records an entry's outcome: `done`, `pending` (retry later) or `dead`.
    pub async fn finish(
        &self,
        seq: i64,
        status: &str,
        error: Option<&str>,
        result: Option<&Value>,
        payload: Option<&Value>,
    ) -> Result<(), ProvisionError> {
        sqlx::query(
            "UPDATE outbox SET status = ?, last_error = ?, result = COALESCE(?, result),
               payload = COALESCE(?, payload), updated_at = ? WHERE seq = ?",
        )
        .bind(status)
        .bind(error)
        .bind(result.map(Value::to_string))
        .bind(payload.map(Value::to_string))
        .bind(now())
        .bind(seq)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Requeues dead letters of a target (after the cause was fixed); returns how many.
    pub async fn retry_dead(&self, target: &str) -> Result<u64, ProvisionError> {
        let r = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, updated_at = ? WHERE target = ? AND status = 'dead'",
        )
        .bind(now())
        .bind(target)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected())
    }

    /// Closes a run with its outcome.
    pub async fn finish_run(
        &self,
        run_id: &str,
        status: &str,
        summary: &Value,
    ) -> Result<(), ProvisionError> {
        sqlx::query("UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?")
            .bind(now())
            .bind(status)
            .bind(summary.to_string())
            .bind(run_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Runs, newest first.
    pub async fn runs(
        &self,
        target: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRecord>, ProvisionError> {
        let rows = sqlx::query(
            "SELECT id, target, plan_id, started_at, finished_at, source_hash, source_rows, status, summary
             FROM runs WHERE (? IS NULL OR target = ?) ORDER BY started_at DESC, id DESC LIMIT ?",
        )
        .bind(target)
        .bind(target)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let summary: Option<String> = r.get("summary");
                RunRecord {
                    id: r.get("id"),
                    target: r.get("target"),
                    plan_id: r.get("plan_id"),
                    started_at: r.get("started_at"),
                    finished_at: r.get("finished_at"),
                    source_hash: r.get("source_hash"),
                    source_rows: r.get("source_rows"),
                    status: r.get("status"),
                    summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
                }
            })
            .collect())
    }

    /// The plan (JSON) a run applied.
    pub async fn run_plan(&self, run_id: &str) -> Result<Option<Value>, ProvisionError> {
        let p: Option<String> = sqlx::query_scalar("SELECT plan FROM runs WHERE id = ?")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(p.and_then(|p| serde_json::from_str(&p).ok()))
    }

    /// Counts of outbox entries per status for a target.
    pub async fn counts(&self, target: &str) -> Result<Vec<(String, i64)>, ProvisionError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM outbox WHERE target = ? GROUP BY status ORDER BY status",
        )
        .bind(target)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("status"), r.get("n")))
            .collect())
    }

    /// Closes the pool (all writes are on disk).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn outbox_survives_reopening_and_keeps_order() {
        let dir = std::env::temp_dir().join(format!("scim-state-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let _ = std::fs::remove_file(&path);
        {
            let s = State::open(&path).await.unwrap();
            s.begin_run(
                "r1",
                "t",
                "p1",
                "h",
                3,
                &json!({}),
                &[
                    (
                        2,
                        "create_user".into(),
                        "b".into(),
                        Some("B".into()),
                        json!({"n": 1}),
                    ),
                    (
                        0,
                        "deactivate_user".into(),
                        "a".into(),
                        Some("A".into()),
                        json!({"n": 2}),
                    ),
                ],
            )
            .await
            .unwrap();
            let p = s.pending("t").await.unwrap();
            assert_eq!(
                p.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
                ["deactivate_user", "create_user"]
            );
            s.mark_running(p[0].seq).await.unwrap();
            s.set_link("t", "user", "A", "id-a", Some(&json!({"x": 1})))
                .await
                .unwrap();
            s.close().await;
        }
        // A crash after mark_running: the entry is still to do, with its attempt counted.
        let s = State::open(&path).await.unwrap();
        let p = s.pending("t").await.unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].status.as_str(), p[0].attempts), ("running", 1));
        s.finish(p[0].seq, "done", None, Some(&json!({"id": "x"})), None)
            .await
            .unwrap();
        s.finish(p[1].seq, "dead", Some("HTTP 400"), None, None)
            .await
            .unwrap();
        assert!(s.pending("t").await.unwrap().is_empty());
        assert_eq!(
            s.dead("t").await.unwrap()[0].last_error.as_deref(),
            Some("HTTP 400")
        );
        assert_eq!(s.retry_dead("t").await.unwrap(), 1);
        assert_eq!(s.pending("t").await.unwrap().len(), 1);
        // Links keep `applied` when a later write has none.
        s.set_link("t", "user", "A", "id-a2", None).await.unwrap();
        let l = s.links("t").await.unwrap();
        assert_eq!(
            (l[0].id.as_str(), l[0].applied.clone()),
            ("id-a2", Some(json!({"x": 1})))
        );
        s.set_deactivated("t", "A", true).await.unwrap();
        assert!(s.links("t").await.unwrap()[0].deactivated_at.is_some());
        assert_eq!(s.run_of_plan("p1").await.unwrap().as_deref(), Some("r1"));
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert_eq!(sync, 2, "synchronous = FULL");
        s.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
