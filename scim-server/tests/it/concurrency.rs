//! Scale-out: two `scim-server` processes on one PostgreSQL database receive concurrent PATCHes
//! adding distinct members to one group; afterwards every member is present (no lost update).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::postgres_url;

/// A server process, killed on drop.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the `scim-server` binary on 127.0.0.1 with one token.
pub(crate) fn spawn(db: &str, token: &str) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scim-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            db,
            "--token",
            token,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start scim-server");
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let base = loop {
        let line = lines.next().expect("server printed its endpoint").unwrap();
        if let Some(b) = line.strip_prefix("SCIM 2.0 endpoint: ") {
            break b.trim().to_string();
        }
    };
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Proc { child, base }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_add_distinct_members_concurrently() {
    let Some(db) = postgres_url() else { return };
    let token = format!("tok-{}", uuid::Uuid::new_v4());
    let a = spawn(&db, &token);
    let b = spawn(&db, &token);
    let client = reqwest::Client::new();
    let post = |base: &str, path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let run = uuid::Uuid::new_v4();
    let g: Value = post(&a.base, "/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("g-{run}")}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gid = g["id"].as_str().unwrap().to_string();
    let mut users = Vec::new();
    for i in 0..40 {
        let r = post(&b.base, "/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("u{i}-{run}")}))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let u: Value = r.json().await.unwrap();
        users.push(u["id"].as_str().unwrap().to_string());
    }
    // 40 member adds and 10 renames of the same group, spread over both processes, all at once.
    let mut tasks = Vec::new();
    for (i, uid) in users.iter().enumerate() {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]});
        let req = client
            .patch(format!("{base}/Groups/{gid}?excludedAttributes=members"))
            .bearer_auth(&token)
            .json(&body);
        tasks.push(tokio::spawn(
            async move { req.send().await.map(|r| r.status()) },
        ));
        if i % 4 == 0 {
            let base = if i % 8 == 0 {
                b.base.clone()
            } else {
                a.base.clone()
            };
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "displayName", "value": format!("g-{run}-{i}")}]});
            let req = client
                .patch(format!("{base}/Groups/{gid}?excludedAttributes=members"))
                .bearer_auth(&token)
                .json(&body);
            tasks.push(tokio::spawn(
                async move { req.send().await.map(|r| r.status()) },
            ));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), StatusCode::OK);
    }
    for base in [&a.base, &b.base] {
        let g: Value = client
            .get(format!("{base}/Groups/{gid}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut got: Vec<String> = g["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        let mut want = users.clone();
        want.sort();
        assert_eq!(
            got, want,
            "every member added through either process is present"
        );
        // 1 create + 40 member adds + 10 renames, each one version step.
        assert_eq!(g["meta"]["version"], "W/\"51\"");
    }
}

/// `scim-server` with no database flag uses `./scim.db`, creates a token on first start and
/// (stderr not being a terminal) writes it to a mode-0600 file named on stdout with a curl
/// example; on SIGTERM it finishes in-flight requests and exits 0; a
/// restart keeps every acknowledged write and reuses the stored token.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_token_graceful_shutdown_and_restart() {
    let dir = crate::support::TempDir::new();
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scim-server"))
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(&dir.0)
            .env_remove("SCIM_DATABASE_URL")
            .env_remove("SCIM_TOKENS")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scim-server");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        let base = loop {
            let line = lines.next().expect("endpoint line").unwrap();
            printed.push(line.clone());
            if let Some(b) = line.strip_prefix("SCIM 2.0 endpoint: ") {
                break b.trim().to_string();
            }
        };
        // Read up to the last line the start-up message has.
        while let Some(Ok(l)) = lines.next() {
            let done = l.contains("curl -H") || l.contains("previously created");
            printed.push(l);
            if done {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        (Proc { child, base }, printed)
    };
    let (p, printed) = start();
    // stderr is not a terminal here, so the token is in a file only its owner can read, and
    // never on stdout (which may be a log stream).
    let token_file = printed
        .iter()
        .find_map(|l| l.strip_prefix("First-start token file: "))
        .and_then(|l| l.split(" (").next())
        .expect("the first start names the token file")
        .to_string();
    let token_path = dir.0.join(&token_file);
    let token = std::fs::read_to_string(&token_path)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.len() >= 40, "{token:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "token file mode {mode:o}");
    }
    assert!(
        !printed.iter().any(|l| l.contains(&token)),
        "the token was printed: {printed:?}"
    );
    assert!(
        printed
            .iter()
            .any(|l| l.contains("curl -H \"Authorization: Bearer $(cat ")),
        "{printed:?}"
    );
    assert!(dir.0.join("scim.db").exists());
    let client = reqwest::Client::new();
    // Fire writes, then SIGTERM while they are in flight.
    let mut tasks = Vec::new();
    for i in 0..30 {
        let req = client
            .post(format!("{}/Users", p.base))
            .bearer_auth(&token)
            .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("g{i}")}));
        tasks.push(tokio::spawn(async move {
            req.send().await.ok().map(|r| r.status())
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let pid = p.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut acknowledged = 0;
    for t in tasks {
        if t.await.unwrap() == Some(StatusCode::CREATED) {
            acknowledged += 1;
        }
    }
    let mut p = p;
    let status = p.child.wait().unwrap();
    assert!(status.success(), "graceful exit, got {status:?}");
    // Restart: no new token, every acknowledged create is there.
    let (p2, printed) = start();
    assert!(
        printed.iter().any(|l| l.contains("previously created")),
        "{printed:?}"
    );
    let r: Value = client
        .get(format!("{}/Users?count=0", p2.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["totalResults"], json!(acknowledged));
}
