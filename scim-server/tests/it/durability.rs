//! Durability: `scim-server` is killed with SIGKILL while clients are writing; after a restart
//! on the same database every write it acknowledged is there. (A killed process keeps what the
//! operating system already has; surviving a power loss as well is what `synchronous = FULL`
//! on SQLite and a PostgreSQL commit give, which this test cannot cut.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::concurrency::spawn;
use crate::support::{postgres_url, TempDir};

async fn kill_during_writes(db: &str) {
    let token = format!("tok-{}", uuid::Uuid::new_v4());
    let mut server = spawn(db, &token);
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let acked = Arc::new(tokio::sync::Mutex::new(Vec::<String>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, base, token, run) = (client.clone(), base.clone(), token.clone(), run.clone());
        let (acked, count) = (acked.clone(), count.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("kill-{run}-{w}-{i}@example.com");
                let res = client
                    .post(format!("{base}/Users"))
                    .bearer_auth(&token)
                    .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name}))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == reqwest::StatusCode::CREATED => {
                        acked.lock().await.push(name);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    // The server was killed: this write was never acknowledged.
                    Err(_) => return,
                }
            }
        }));
    }
    // Kill once a few hundred writes have been acknowledged, with more in flight.
    while count.load(Ordering::SeqCst) < 300 {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    server.child.kill().expect("SIGKILL");
    let _ = server.child.wait();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().await.clone();
    assert!(acked.len() >= 300);

    let server = spawn(db, &token);
    let base = server.base.clone();
    let mut found = std::collections::HashSet::new();
    let mut start = 1;
    loop {
        let page: Value = client
            .get(format!(
                "{base}/Users?filter=userName%20sw%20%22kill-{run}-%22&attributes=userName&count=1000&startIndex={start}"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["Resources"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        start += items.len();
        for u in items {
            found.insert(u["userName"].as_str().unwrap().to_string());
        }
    }
    let lost: Vec<_> = acked.iter().filter(|n| !found.contains(*n)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_write_sqlite() {
    let dir = TempDir::new();
    let db = format!("sqlite://{}", dir.0.join("kill.db").display());
    kill_during_writes(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_write_postgres() {
    let Some(db) = postgres_url() else { return };
    kill_during_writes(&db).await;
}
