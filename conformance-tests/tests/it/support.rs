//! Test support: the project's own server in-process on 127.0.0.1 (random port), on SQLite or
//! PostgreSQL, optionally wrapped by a layer that breaks one behaviour; and the list of known
//! failures of our server from `SERVER-FAILURES.md`.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use scim_server::{ScimState, Settings, SqlStore, TokenAuthenticator};
use tokio::sync::oneshot;

/// Which database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL URL, or `None` (saying the test was skipped) outside CI.
pub fn postgres_url() -> Option<String> {
    match std::env::var("SCIM_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but SCIM_TEST_POSTGRES_URL is not set: the PostgreSQL run must happen in CI");
            }
            eprintln!("SKIPPED: PostgreSQL run (set SCIM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1/test)");
            None
        }
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "scim-conformance-{tag}-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(42);
    h.finish()
}

/// A running server, stopped on drop.
pub struct OwnServer {
    pub base: String,
    pub token: String,
    pub state: ScimState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<TempDir>,
}

impl OwnServer {
    /// Starts the server; `None` when the backend is not available here.
    pub async fn start(backend: Backend, settings: Settings) -> Option<OwnServer> {
        Self::start_wrapped(backend, settings, |r| r).await
    }

    /// Starts the server with its app passed through `wrap` (e.g. a breaking layer).
    pub async fn start_wrapped(
        backend: Backend,
        settings: Settings,
        wrap: impl FnOnce(Router) -> Router,
    ) -> Option<OwnServer> {
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = TempDir::new("db");
                (
                    format!("sqlite://{}", dir.0.join("scim.db").display()),
                    Some(dir),
                )
            }
            Backend::Postgres => (postgres_url()?, None),
        };
        let store = Arc::new(
            SqlStore::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("cannot open {backend:?} database: {e}")),
        );
        let n = rand_suffix();
        let tenant = format!("conformance-{n:x}");
        let token = format!("conformance-token-{n:x}");
        let auth = Arc::new(TokenAuthenticator::new(
            &[(token.clone(), tenant)],
            Some(store.clone()),
        ));
        let state = ScimState::new(store, auth, settings);
        let app = scim_server::config::app(state.clone(), "/scim/v2", Duration::from_secs(60));
        let app = wrap(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Some(OwnServer {
            base: format!("http://{addr}/scim/v2"),
            token,
            state,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        })
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// The ids of our server's known failures: the headings "### `check-id`" of
/// conformance-tests/SERVER-FAILURES.md.
pub fn known_failures() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/SERVER-FAILURES.md");
    let text = std::fs::read_to_string(path).expect("SERVER-FAILURES.md");
    text.lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

/// Counts the users and groups on a server (to prove the suite cleaned up).
pub async fn count_resources(base: &str, token: &str) -> (u64, u64) {
    let client = reqwest::Client::new();
    let mut out = [0u64; 2];
    for (i, ep) in ["/Users", "/Groups"].iter().enumerate() {
        let v: serde_json::Value = client
            .get(format!("{base}{ep}?count=0"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out[i] = v["totalResults"].as_u64().unwrap();
    }
    (out[0], out[1])
}
