//! Connections of the native SQLite store: readers on the blocking pool, one writer thread
//! that commits concurrent writes together (group commit).
//!
//! SQLite allows one writer at a time. The writer thread takes every write that is waiting,
//! runs them in one transaction (each inside its own `SAVEPOINT`, so a failing write is rolled
//! back alone and affects no other) and commits once; a flusher thread then flushes the
//! write-ahead log (`fsync` of the `-wal` file) once for every commit made while its previous
//! flush ran, and only then answers each request. The writer runs the next batch meanwhile. A write is acknowledged
//! after a flush that followed its commit, so it survives a power loss as with
//! `synchronous = FULL`, while concurrent writers share one transaction and one flush.
//! Writes made under [`super::super::defer_durability`] (the operations of one `/Bulk`
//! request) are answered as soon as they ran, and the transaction stays open for the next
//! one (until the queue is idle for a millisecond, or 2,000 writes): a bulk import commits a
//! few times instead of once per operation. Its request waits for one commit and flush at the
//! end ([`super::super::Store::sync`]) before it acknowledges anything, and its reads run on
//! the writer's connection so that each operation sees the ones before it.
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

/// Most jobs taken from the queue at once.
const MAX_BATCH: usize = 512;

/// Most writes in one transaction.
const MAX_IN_TX: usize = 2_000;

/// How long a transaction holding only deferred writes stays open for more.
const LINGER: Duration = Duration::from_millis(1);

/// When a write's answer may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After the write-ahead log holding it is flushed to disk.
    Flushed,
    /// As soon as it ran in the open transaction: the caller waits for
    /// [`super::super::Store::sync`] (which commits and flushes) before it acknowledges it, or
    /// losing it in a crash is harmless. Reads made for the same request must see it: they
    /// run on the writer's connection ([`Writer::read`]).
    Committed,
}

/// Sends a write's outcome once the batch's commit (and flush) is known.
type Completer = Box<dyn FnOnce(Option<&str>) + Send>;
/// A write run inside the batch's transaction (or told why it cannot run); true when it
/// succeeded.
type WriteJob = Box<dyn FnOnce(Result<&Connection, &str>) -> (bool, Completer) + Send>;
/// A read run on the writer's connection (in-memory databases).
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Run once the transaction holding a write has ended (committed or rolled back).
pub type Release = Box<dyn FnOnce() + Send>;

enum Job {
    Write(WriteJob, Durability, Option<Release>),
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
        self.write_releasing(durability, f, None).await
    }

    /// [`Writer::write`]; `release` runs as soon as the transaction holding the write has
    /// committed (before the flush), so that what it guards is held no longer than needed.
    pub async fn write_releasing<R, F>(
        &self,
        durability: Durability,
        f: F,
        release: Option<Release>,
    ) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, StoreError>>();
        let job: WriteJob = Box::new(move |conn| {
            let r = match conn {
                // A panic is this write's failure (its savepoint is rolled back), never the
                // writer thread's end.
                Ok(conn) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                    .unwrap_or_else(|_| Err(StoreError::Backend("a write failed (panic)".into()))),
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
            .send(Job::Write(job, durability, release))
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
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                    .unwrap_or_else(|_| Err(StoreError::Backend("a read failed (panic)".into())));
                let _ = tx.send(r);
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
    let flusher = wal.map(start_flusher);
    let mut stop = None;
    // The open transaction: writes run in it, `waiting` are answered once it commits.
    let mut open = false;
    let mut in_tx = 0usize;
    let mut waiting: Vec<Completer> = Vec::new();
    let mut releases: Vec<Release> = Vec::new();
    let mut flush = false;
    loop {
        let first = if open {
            // Only deferred writes are in the transaction: commit when the queue goes idle.
            match rx.recv_timeout(LINGER) {
                Ok(j) => Some(j),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(j) => Some(j),
                Err(_) => break,
            }
        };
        let mut jobs = Vec::new();
        if let Some(first) = first {
            jobs.push(first);
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
        }
        let writes = jobs.iter().filter(|j| matches!(j, Job::Write(..))).count();
        let mut begun: Result<(), String> = Ok(());
        if writes > 0 && !open {
            begun = conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| e.to_string());
            open = begun.is_ok();
        }
        let idle = jobs.is_empty();
        for job in jobs {
            match job {
                Job::Stop(ack) => stop = Some(ack),
                Job::Read(f) if stop.is_none() => f(&conn),
                // Dropped unanswered after a stop: the caller sees "the writer has stopped".
                Job::Read(_) => {}
                Job::Write(f, durability, release) => {
                    pending.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    releases.extend(release);
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
                    let (ok, c) = f(Ok(&conn));
                    let end = if ok {
                        conn.execute_batch("RELEASE w")
                    } else {
                        conn.execute_batch("ROLLBACK TO w; RELEASE w")
                    };
                    in_tx += 1;
                    match (end, durability) {
                        (Err(e), _) => c(Some(&e.to_string())),
                        // A deferred write (one operation of a `/Bulk` request) is answered
                        // now; its request waits for `Store::sync`, which commits and flushes
                        // the transaction, before it acknowledges anything.
                        (Ok(()), Durability::Committed) => c(None),
                        (Ok(()), Durability::Flushed) => {
                            flush = true;
                            waiting.push(c);
                        }
                    }
                }
            }
        }
        if writes > 0 {
            metrics::histogram!("scim_db_write_batch").record(writes as f64);
        }
        let commit_now =
            open && (idle || !waiting.is_empty() || in_tx >= MAX_IN_TX || stop.is_some());
        if commit_now {
            let failure = conn.execute_batch("COMMIT").err().map(|e| e.to_string());
            if failure.is_some() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            open = false;
            in_tx = 0;
            for r in releases.drain(..) {
                r();
            }
            let done = std::mem::take(&mut waiting);
            match (&flusher, std::mem::take(&mut flush) && failure.is_none()) {
                // Answered by the flusher after a flush that starts after this commit; the
                // writer goes on with the next batch meanwhile.
                (Some((tx, _)), true) => {
                    if let Err(std::sync::mpsc::SendError(done)) = tx.send(done) {
                        for c in done {
                            c(Some("the WAL flusher has stopped"));
                        }
                    }
                }
                _ => {
                    for c in done {
                        c(failure.as_deref());
                    }
                }
            }
        }
        if !open {
            // Writes that could not start (no transaction) release at once.
            for r in releases.drain(..) {
                r();
            }
            if let Some(ack) = stop.take() {
                drop(conn);
                stop_flusher(flusher);
                let _ = ack.send(());
                return;
            }
        }
    }
    if open {
        let _ = conn.execute_batch("COMMIT");
    }
    for r in releases {
        r();
    }
    for c in waiting {
        c(None);
    }
    stop_flusher(flusher);
}

type Flusher = (
    std::sync::mpsc::Sender<Vec<Completer>>,
    std::thread::JoinHandle<()>,
);

/// Ends the flusher after it answered everything sent to it.
fn stop_flusher(flusher: Option<Flusher>) {
    if let Some((tx, handle)) = flusher {
        drop(tx);
        let _ = handle.join();
    }
}

/// The flusher: flushes the write-ahead log once for every commit that arrived while the
/// previous flush ran, then answers their writes.
fn start_flusher(wal: PathBuf) -> Flusher {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<Completer>>();
    let handle = std::thread::Builder::new()
        .name("scim-sqlite-flush".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut done = first;
                while let Ok(more) = rx.try_recv() {
                    done.extend(more);
                }
                metrics::counter!("scim_db_flushes_total").increment(1);
                metrics::gauge!("scim_db_flush_waiters").set(done.len() as f64);
                let failure = std::fs::File::open(&wal)
                    .and_then(|f| f.sync_data())
                    .err()
                    .map(|e| format!("cannot flush {}: {e}", wal.display()));
                for c in done {
                    c(failure.as_deref());
                }
            }
        })
        .expect("the SQLite flusher thread starts");
    (tx, handle)
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
