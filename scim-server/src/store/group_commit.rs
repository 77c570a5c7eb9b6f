//! Deferred durability for requests made of many writes.
//!
//! Writes are acknowledged only once durable: the SQLite store's writer commits concurrent
//! writes together and answers after the write-ahead log is flushed (see
//! [`super::sqlite::pool`]); a PostgreSQL commit is durable when it returns.
//!
//! A request made of many writes (`/Bulk`) runs them under [`defer_durability`] and waits once,
//! with [`super::Store::sync`], before it answers: its operations share one flush too.

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
