//! Ctrl-C: the binary deletes the data it created before it exits. The interrupt is sent from
//! inside the server, right after it committed the 12th user, while the suite waits for that
//! answer — a fixed point of the run, not a moment in time.

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request};
use axum::middleware::{from_fn, Next};
use axum::Router;
use scim_server::Settings;

use crate::support::{count_resources, Backend, OwnServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_deletes_the_test_data() {
    let pid: Arc<OnceLock<u32>> = Arc::new(OnceLock::new());
    let created = Arc::new(AtomicUsize::new(0));
    let (p, c) = (pid.clone(), created.clone());
    let server =
        OwnServer::start_wrapped(Backend::Sqlite, Settings::default(), move |app: Router| {
            app.layer(from_fn(move |req: Request<Body>, next: Next| {
                let (p, c) = (p.clone(), c.clone());
                async move {
                    let is_user_post =
                        req.method() == Method::POST && req.uri().path().ends_with("/Users");
                    let resp = next.run(req).await;
                    if is_user_post
                        && resp.status().as_u16() == 201
                        && c.fetch_add(1, Ordering::SeqCst) + 1 == 12
                    {
                        if let Some(pid) = p.get() {
                            let _ = std::process::Command::new("sh")
                                .args(["-c", &format!("kill -INT {pid}")])
                                .status();
                        }
                    }
                    resp
                }
            }))
        })
        .await
        .unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scim-conformance"))
        .args(["--base-url", &server.base, "--token", &server.token])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    pid.set(child.id().unwrap()).unwrap();
    let out = child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted") && err.contains("cleanup done"),
        "{err}"
    );
    assert!(
        created.load(Ordering::SeqCst) >= 12,
        "the run was not interrupted where planned"
    );
    assert_eq!(
        count_resources(&server.base, &server.token).await,
        (0, 0),
        "data left after Ctrl-C; {err}"
    );
}
