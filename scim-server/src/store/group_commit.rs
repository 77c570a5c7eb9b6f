//! Group commit for SQLite: many concurrent writes share one `fsync`.
//!
//! SQLite in WAL mode appends each committed transaction to the `-wal` file. With
//! `synchronous = FULL` every commit then waits for its own `fsync`, so a single writer
//! connection is bounded by the disk's flush latency (a few hundred commits a second). Here the
//! connection commits with `synchronous = NORMAL` (no flush at commit; SQLite still syncs the WAL
//! before each checkpoint and when it starts reusing it), and each writer then waits on
//! [`WalSync::durable`] before it answers: a background task flushes the `-wal` file once for
//! every request that arrived while the previous flush ran. A write is acknowledged only after
//! a flush that started after its commit has completed, so an acknowledged write survives a
//! power loss exactly as with `synchronous = FULL`; concurrent writes share the flush.
//!
//! Each write stays its own transaction, so a failing write never affects another.
//!
//! A request made of many writes (`/Bulk`) runs them under [`defer_durability`] and waits once,
//! with [`super::Store::sync`], before it answers: its operations share one flush too.

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

tokio::task_local! {
    static DEFERRED: ();
}

/// Runs `f` with durability waits deferred: writes inside it return once committed, and the
/// caller must call [`super::Store::sync`] before it acknowledges any of them.
pub async fn defer_durability<F: std::future::Future>(f: F) -> F::Output {
    DEFERRED.scope((), f).await
}

/// True inside [`defer_durability`].
pub fn is_deferred() -> bool {
    DEFERRED.try_with(|_| ()).is_ok()
}

/// The flusher of one SQLite database's write-ahead log.
#[derive(Debug, Clone)]
pub struct WalSync {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl WalSync {
    /// Starts the flusher for the WAL at `wal` (the database path with `-wal` appended).
    pub fn start(wal: PathBuf) -> WalSync {
        let (tx, mut rx) = mpsc::unbounded_channel::<Waiter>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut waiters = vec![first];
                while let Ok(w) = rx.try_recv() {
                    waiters.push(w);
                }
                // How many acknowledged-when-durable writes share this flush (writer queue).
                metrics::gauge!("scim_db_flush_waiters").set(waiters.len() as f64);
                metrics::counter!("scim_db_flushes_total").increment(1);
                let path = wal.clone();
                let res = tokio::task::spawn_blocking(move || {
                    std::fs::File::open(&path).and_then(|f| f.sync_data())
                })
                .await;
                let res = match res {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(format!("cannot flush {}: {e}", wal.display())),
                    Err(e) => Err(format!("flush task failed: {e}")),
                };
                for w in waiters {
                    let _ = w.send(res.clone());
                }
            }
        });
        WalSync { tx }
    }

    /// Waits until everything committed before this call is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(tx)
            .map_err(|_| StoreError::Backend("the WAL flusher has stopped".into()))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Backend(e)),
            Err(_) => Err(StoreError::Backend("the WAL flusher has stopped".into())),
        }
    }
}
