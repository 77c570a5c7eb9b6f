//! Connections of the native SQLite store: readers on the blocking pool, one writer thread
//! that commits concurrent writes together (group commit).
//!
//! SQLite allows one writer at a time. The writer thread takes every write that is waiting,
//! runs them in one transaction (each inside its own `SAVEPOINT`, so a failing write is rolled
//! back alone and affects no other), commits once and flushes the write-ahead log once
//! (`fsync` of the `-wal` file), and only then answers each request. A write is acknowledged
//! after a flush that followed its commit, so it survives a power loss as with
//! `synchronous = FULL`, while concurrent writers share one transaction and one flush.
//! Writes made under [`super::super::defer_durability`] (the operations of one `/Bulk`
//! request) are answered after the commit; the caller waits for one flush at the end
//! ([`super::super::Store::sync`]).
//!
//! Readers are connections of their own (WAL readers never wait for the writer), each used by
//! one blocking task at a time. An in-memory database exists once per connection, so there
//! every read runs on the writer thread too.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::super::StoreError;

/// How long a request waits for a reader connection before it is answered `429`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;

/// When a write's answer may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After the write-ahead log holding it is flushed to disk.
    Flushed,
    /// After its commit (the caller flushes later, or losing it in a crash is harmless).
    Committed,
}

/// Sends a write's outcome once the batch's commit (and flush) is known.
type Completer = Box<dyn FnOnce(Option<&str>) + Send>;
/// A write run inside the batch's transaction (or told why it cannot run); true when it
/// succeeded.
type WriteJob = Box<dyn FnOnce(Result<&Connection, &str>) -> (bool, Completer) + Send>;
/// A read run on the writer's connection (in-memory databases).
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

enum Job {
    Write(WriteJob, Durability),
    Read(ReadJob),
    /// Close the connection and end the thread, then answer.
    Stop(oneshot::Sender<()>),
}

/// The writer thread's queue.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: std::sync::mpsc::Sender<Job>,
    pending: Arc<std::sync::atomic::AtomicUsize>,
}

impl Writer {
    /// Starts the writer thread on `conn`; `wal` is the file flushed after each commit (none for
    /// an in-memory database).
    pub fn start(conn: Connection, wal: Option<PathBuf>) -> Writer {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let pending = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let pending2 = pending.clone();
        std::thread::Builder::new()
            .name("scim-sqlite-writer".into())
            .spawn(move || writer_loop(conn, wal, rx, pending2))
            .expect("the SQLite writer thread starts");
        Writer { tx, pending }
    }

    /// Runs `f` in the next batch's transaction and answers with its result once the batch is
    /// committed (and flushed, per `durability`). An error from `f` rolls back `f`'s changes
    /// only.
    pub async fn write<R, F>(&self, durability: Durability, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, StoreError>>();
        let job: WriteJob = Box::new(move |conn| {
            let r = match conn {
                Ok(conn) => f(conn),
                Err(e) => Err(StoreError::Backend(e.to_string())),
            };
            let ok = r.is_ok();
            let done: Completer = Box::new(move |failure: Option<&str>| {
                let out = match failure {
                    Some(e) if ok => Err(StoreError::Backend(e.to_string())),
                    _ => r,
                };
                let _ = tx.send(out);
            });
            (ok, done)
        });
        self.pending
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.tx
            .send(Job::Write(job, durability))
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?
    }

    /// Runs a read on the writer's connection (in-memory databases).
    pub async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, StoreError>>();
        self.tx
            .send(Job::Read(Box::new(move |conn| {
                let _ = tx.send(f(conn));
            })))
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?
    }

    /// Runs the writes queued so far, closes the connection and ends the thread; every later
    /// call fails.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Job::Stop(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Writes waiting or running.
    pub fn pending(&self) -> usize {
        self.pending.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn writer_loop(
    conn: Connection,
    wal: Option<PathBuf>,
    rx: std::sync::mpsc::Receiver<Job>,
    pending: Arc<std::sync::atomic::AtomicUsize>,
) {
    let mut stop = None;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let writes = jobs.iter().filter(|j| matches!(j, Job::Write(..))).count();
        let begun = if writes > 0 {
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| e.to_string())
        } else {
            Ok(())
        };
        let mut done: Vec<Completer> = Vec::with_capacity(writes);
        let mut flush = false;
        for job in jobs {
            match job {
                Job::Stop(ack) => stop = Some(ack),
                Job::Read(f) if stop.is_none() => f(&conn),
                // Dropped unanswered after a stop: the caller sees "the writer has stopped".
                Job::Read(_) => {}
                Job::Write(f, durability) => {
                    if let Err(e) = &begun {
                        let (_, c) = f(Err(e));
                        c(None);
                        continue;
                    }
                    if let Err(e) = conn.execute_batch("SAVEPOINT w") {
                        let (_, c) = f(Err(&e.to_string()));
                        c(None);
                        continue;
                    }
                    flush |= durability == Durability::Flushed;
                    let (ok, c) = f(Ok(&conn));
                    let end = if ok {
                        conn.execute_batch("RELEASE w")
                    } else {
                        conn.execute_batch("ROLLBACK TO w; RELEASE w")
                    };
                    match end {
                        Ok(()) => done.push(c),
                        Err(e) => c(Some(&e.to_string())),
                    }
                }
            }
        }
        if writes == 0 {
            if let Some(ack) = stop.take() {
                drop(conn);
                let _ = ack.send(());
                return;
            }
            continue;
        }
        let mut failure = match begun {
            Ok(()) => conn.execute_batch("COMMIT").err().map(|e| e.to_string()),
            Err(e) => Some(e),
        };
        if failure.is_some() {
            let _ = conn.execute_batch("ROLLBACK");
        } else if flush {
            if let Some(path) = &wal {
                metrics::counter!("scim_db_flushes_total").increment(1);
                metrics::gauge!("scim_db_flush_waiters").set(done.len() as f64);
                if let Err(e) = std::fs::File::open(path).and_then(|f| f.sync_data()) {
                    failure = Some(format!("cannot flush {}: {e}", path.display()));
                }
            }
        }
        pending.fetch_sub(writes, std::sync::atomic::Ordering::Relaxed);
        for c in done {
            c(failure.as_deref());
        }
        if let Some(ack) = stop.take() {
            drop(conn);
            let _ = ack.send(());
            return;
        }
    }
}

/// Reader connections, each used by one blocking task at a time.
#[derive(Debug)]
pub struct Readers {
    conns: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    size: usize,
}

/// A reader connection checked out of [`Readers`]; returned when dropped.
pub struct Reader {
    conn: Option<Connection>,
    pool: Arc<Readers>,
    _permit: OwnedSemaphorePermit,
}

impl Reader {
    /// The connection.
    pub fn conn(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a checked-out reader holds its connection")
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A snapshot left open (a stream dropped half-way) must not pin old WAL frames.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            if let Ok(mut conns) = self.pool.conns.lock() {
                conns.push(conn);
            }
        }
    }
}

impl Readers {
    /// A pool of the given connections.
    pub fn new(conns: Vec<Connection>) -> Arc<Readers> {
        let size = conns.len();
        Arc::new(Readers {
            conns: Mutex::new(conns),
            permits: Arc::new(Semaphore::new(size)),
            size,
        })
    }

    /// Checks a connection out, waiting at most a few seconds (then [`StoreError::Busy`]).
    pub async fn get(self: &Arc<Self>) -> Result<Reader, StoreError> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Busy)?
            .map_err(|_| StoreError::Backend("the reader pool is closed".into()))?;
        let conn = self
            .conns
            .lock()
            .map_err(|_| StoreError::Backend("the reader pool is poisoned".into()))?
            .pop()
            .ok_or_else(|| StoreError::Backend("no reader connection is free".into()))?;
        Ok(Reader {
            conn: Some(conn),
            pool: self.clone(),
            _permit: permit,
        })
    }

    /// Runs `f` on a reader connection on the blocking pool.
    pub async fn run<R, F>(self: &Arc<Self>, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let reader = self.get().await?;
        tokio::task::spawn_blocking(move || {
            let r = f(reader.conn());
            drop(reader);
            r
        })
        .await
        .map_err(|e| StoreError::Backend(format!("a read task failed: {e}")))?
    }

    /// Runs `f` at once on the calling task's thread when a connection is free, else on the
    /// blocking pool. Only for reads whose work is bounded and small (one row by primary key
    /// and its few related rows): a hop to the blocking pool costs two thread switches, more
    /// than such a read.
    pub async fn run_quick<R, F>(self: &Arc<Self>, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            let conn = self
                .conns
                .lock()
                .map_err(|_| StoreError::Backend("the reader pool is poisoned".into()))?
                .pop();
            if let Some(conn) = conn {
                let reader = Reader {
                    conn: Some(conn),
                    pool: self.clone(),
                    _permit: permit,
                };
                return f(reader.conn());
            }
        }
        self.run(f).await
    }

    /// Closes every connection; later reads fail.
    pub fn close(&self) {
        self.permits.close();
        if let Ok(mut conns) = self.conns.lock() {
            conns.clear();
        }
    }

    /// (connections, idle connections).
    pub fn stats(&self) -> (u32, u32) {
        (self.size as u32, self.permits.available_permits() as u32)
    }
}
