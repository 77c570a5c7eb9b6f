//! Observability over HTTP (issue 9, item 6): request ids, health endpoints without credentials,
//! metrics, and the binary's JSON log stream (one record per request, no filter values, no
//! banner text mixed in).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backends;

backends!(request_ids_are_echoed_or_generated, |s| {
    let r = s
        .call_with(
            reqwest::Method::GET,
            "/Users",
            None,
            &s.token,
            &[("x-request-id", "idp-42.abc")],
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("idp-42.abc"));
    // An id that could forge log lines is replaced.
    let r = s
        .call_with(
            reqwest::Method::GET,
            "/Users",
            None,
            &s.token,
            &[("x-request-id", "a b\"c")],
        )
        .await;
    let id = r.header("x-request-id").expect("generated id");
    assert!(
        id.len() >= 16 && id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{id}"
    );
    // Errors carry one too, including authentication failures.
    let r = s
        .call_with(reqwest::Method::GET, "/Users", None, "wrong", &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("x-request-id").is_some());
    let a = s
        .get("/Users")
        .await
        .header("x-request-id")
        .map(str::to_string);
    let b = s
        .get("/Users")
        .await
        .header("x-request-id")
        .map(str::to_string);
    assert_ne!(a, b);
});

backends!(health_endpoints_need_no_credentials, |s| {
    let root = s.base.trim_end_matches("/scim/v2").to_string();
    let client = reqwest::Client::new();
    let r = client.get(format!("{root}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client.get(format!("{root}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Not under the SCIM base path, and the SCIM endpoints still need credentials.
    let r = client
        .get(format!("{root}/scim/v2/Users"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_says_when_the_database_is_gone() {
    use std::sync::Arc;
    let dir = crate::support::TempDir::new();
    let store = Arc::new(
        scim_server::SqlStore::connect(&format!("sqlite://{}", dir.0.join("r.db").display()))
            .await
            .unwrap(),
    );
    let auth = Arc::new(scim_server::TokenAuthenticator::new(
        &[("t".to_string(), "default".to_string())],
        None,
    ));
    let state = scim_server::ScimState::new(store.clone(), auth, scim_server::Settings::default());
    let app = scim_server::config::app(state, "/scim/v2", std::time::Duration::from_secs(5));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let r = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    store.close().await;
    let r = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    let r = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    server.abort();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The release-style binary in JSON log mode with metrics on a separate listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_json_logs_and_metrics() {
    let dir = crate::support::TempDir::new();
    let port = free_port();
    let metrics_port = free_port();
    let token = format!("tok-{}", uuid::Uuid::new_v4());
    let mut child = Command::new(env!("CARGO_BIN_EXE_scim-server"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--database-url",
            &format!("sqlite://{}", dir.0.join("o.db").display()),
        ])
        .args(["--token", &token, "--log-format", "json"])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let proc = crate::concurrency::Proc {
        child,
        base: format!("http://127.0.0.1:{port}/scim/v2"),
    };
    let mut lines = BufReader::new(stdout).lines();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        while let Some(Ok(l)) = lines.next() {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let client = reqwest::Client::new();
    // Wait until ready.
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            if r.status() == StatusCode::OK {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the server did not become ready");
    let secret_value = "filter-value-never-logged";
    let r = client
        .get(format!(
            "{}/Users?filter=userName%20eq%20%22{secret_value}%22",
            proc.base
        ))
        .bearer_auth(&token)
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client
        .post(format!("{}/Users", proc.base))
        .bearer_auth(&token)
        .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "metrics-user", "password": "Pa55word-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = client
        .get(format!("{}/Users/{id}", proc.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let text = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let has = |needle: &str| {
        text.lines()
            .any(|l| l.starts_with("scim_requests_total") && l.contains(needle))
    };
    assert!(
        has("route=\"/Users\"") && has("status=\"201\"") && has("tenant=\"default\""),
        "{text}"
    );
    assert!(
        has("route=\"/Users/{id}\""),
        "ids must not become labels: {text}"
    );
    assert!(!text.contains(&id), "an id became a label: {text}");
    assert!(
        text.contains("scim_request_duration_seconds_bucket{"),
        "a histogram, not a summary: {text}"
    );
    assert!(text.contains("scim_db_connections"), "{text}");
    assert!(
        text.contains("scim_db_flushes_total"),
        "the writer queue: {text}"
    );

    // The log stream: every stdout line is a JSON record; the request lines carry the id,
    // route, tenant and status, and nothing carries the filter value or the password.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(proc);
    let out: Vec<String> = rx.try_iter().collect();
    assert!(!out.is_empty());
    for l in &out {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v.get("level").is_some(), "{l}");
        assert!(!l.contains(secret_value), "a filter value was logged: {l}");
        assert!(!l.contains("Pa55word-secret"), "a password was logged: {l}");
        assert!(!l.contains(&token), "the token was logged: {l}");
    }
    let traced = out
        .iter()
        .find(|l| l.contains("trace-me-1"))
        .unwrap_or_else(|| panic!("no record of the request: {out:#?}"));
    let v: Value = serde_json::from_str(traced).unwrap();
    let span = &v["span"];
    assert_eq!(span["route"], "/Users", "{traced}");
    assert_eq!(span["tenant"], "default", "{traced}");
    assert_eq!(span["method"], "GET", "{traced}");
    assert!(
        out.iter().any(|l| l.contains("serving SCIM 2.0")),
        "{out:#?}"
    );
}
