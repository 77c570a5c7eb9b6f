//! Test support: a real server on a real socket (127.0.0.1, random port) per test, against
//! SQLite or PostgreSQL, and the `backends!` macro that runs one test body on both.
//!
//! PostgreSQL tests read their connection from `SCIM_TEST_POSTGRES_URL`. Without it they print
//! that they were skipped, unless `CI=true`, where a missing or unreachable database fails.
//! Every test runs in its own tenant, so tests share one database without seeing each other.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use scim_server::state::{ChangeEvent, ChangeHook};
use scim_server::{ScimState, Settings, SqlStore, TokenAuthenticator};
use serde_json::Value;
use tokio::sync::{oneshot, Mutex};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL URL for tests, or `None` (with a message) when they should be skipped.
pub fn postgres_url() -> Option<String> {
    match std::env::var("SCIM_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but SCIM_TEST_POSTGRES_URL is not set: PostgreSQL tests must run in CI");
            }
            eprintln!("SKIPPED: PostgreSQL test (set SCIM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1/test to run it)");
            None
        }
    }
}

/// Records change events.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<ChangeEvent>>);

#[async_trait::async_trait]
impl ChangeHook for Recorder {
    async fn on_change(&self, event: ChangeEvent) {
        self.0.lock().await.push(event);
    }
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub token: String,
    pub tenant: String,
    pub backend: Backend,
    pub client: reqwest::Client,
    pub events: Arc<Recorder>,
    pub state: ScimState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<TempDir>,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!("scim-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Options for a test server.
#[derive(Clone, Default)]
pub struct Options {
    pub settings: Settings,
    /// Extra (token, tenant) pairs.
    pub extra_tokens: Vec<(String, String)>,
    /// A registry with the host app's own resource types and extensions.
    pub registry: Option<scim_core::SchemaRegistry>,
    /// JWT issuers accepted besides the tokens.
    pub jwt: Vec<scim_server::auth::JwtIssuer>,
}

impl TestServer {
    /// Starts a server; `None` when the backend is unavailable and the test should be skipped.
    pub async fn start(backend: Backend) -> Option<TestServer> {
        Self::start_with(backend, Options::default()).await
    }

    pub async fn start_with(backend: Backend, opts: Options) -> Option<TestServer> {
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = TempDir::new();
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
        let tenant = format!("t-{}", uuid::Uuid::new_v4());
        let token = format!("tok-{}", uuid::Uuid::new_v4());
        let mut tokens = vec![(token.clone(), tenant.clone())];
        tokens.extend(opts.extra_tokens.clone());
        let mut auths: Vec<Arc<dyn scim_server::Authenticator>> = vec![Arc::new(
            TokenAuthenticator::new(&tokens, Some(store.clone())),
        )];
        if !opts.jwt.is_empty() {
            auths.push(Arc::new(scim_server::JwtAuthenticator::new(
                opts.jwt.clone(),
            )));
        }
        let auth = Arc::new(scim_server::auth::AnyOf(auths));
        let events = Arc::new(Recorder::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut settings = opts.settings.clone();
        if settings.base_url.is_none() && !settings.trust_forwarded_headers {
            // As the binary does: locations name the address the server listens on.
            settings.base_url = Some(format!("http://{addr}/scim/v2"));
        }
        let mut state = ScimState::new(store, auth, settings).with_hook(events.clone());
        if let Some(r) = opts.registry.clone() {
            state = state.with_registry(r);
        }
        let app = scim_server::config::app(state.clone(), "/scim/v2", Duration::from_secs(30));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Some(TestServer {
            base: format!("http://{addr}/scim/v2"),
            token,
            tenant,
            backend,
            client: reqwest::Client::new(),
            events,
            state,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with the server's token; returns status, headers and JSON body (or Null).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.call_with(method, path, body, &self.token, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: &str,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let r = rb.send().await.expect("request");
        Resp::read(r).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, ops: Value) -> Resp {
        let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        self.call(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, user_name: &str) -> String {
        let r = self
            .post("/Users", serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// Creates a group and returns its id.
    pub async fn group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members
            .iter()
            .map(|m| serde_json::json!({"value": m}))
            .collect();
        let r = self
            .post("/Groups", serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub async fn read(r: reqwest::Response) -> Resp {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a SCIM error: status, scimType, body schema and media type.
    #[track_caller]
    pub fn assert_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{}",
            self.body
        );
        assert_eq!(
            self.body["status"],
            Value::String(status.to_string()),
            "{}",
            self.body
        );
        match scim_type {
            Some(t) => assert_eq!(self.body["scimType"], t, "{}", self.body),
            None => assert!(self.body.get("scimType").is_none(), "{}", self.body),
        }
        assert!(self
            .header("content-type")
            .unwrap_or("")
            .starts_with("application/scim+json"));
    }
}

/// Runs one async test body against SQLite and PostgreSQL.
#[macro_export]
macro_rules! backends {
    ($(#[$m:meta])* $name:ident, |$srv:ident| $body:block) => {
        $(#[$m])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::support::*;
            async fn run($srv: TestServer) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(TestServer::start(Backend::Sqlite).await.expect("sqlite")).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(s) = TestServer::start(Backend::Postgres).await {
                    run(s).await
                }
            }
        }
    };
}
