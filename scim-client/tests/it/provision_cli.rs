//! The `scim` command as a process: exit codes, JSON output, saved plans, and a SIGKILL in the
//! middle of an apply that the next run resumes without duplicates.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use futures::TryStreamExt;
use scim_client::provision::state::State;
use scim_client::ListQuery;
use serde_json::Value;

use crate::provision::{
    assert_target_matches, csv_of, read_target, row, temp_dir, Row, Srv, MAPPING,
};

fn scim(args: &[&str], srv: &Srv, dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_scim"));
    c.args(args)
        .current_dir(dir)
        .env("SCIM_URL", &srv.base)
        .env("SCIM_TOKEN", "tok")
        .env("SCIM_STATE", dir.join("state.db"))
        .env("SCIM_MAPPING", dir.join("mapping.toml"))
        .env_remove("SCIM_CONFIG")
        .stdin(Stdio::null());
    c
}

async fn run(args: &[&str], srv: &Srv, dir: &std::path::Path) -> Output {
    let mut c = scim(args, srv, dir);
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

fn write_rows(dir: &std::path::Path, name: &str, rows: &[Row]) {
    std::fs::write(dir.join(name), csv_of(rows)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_json_output_gates_and_stale_saved_plans() {
    let srv = Srv::start().await;
    let dir = temp_dir("cli");
    std::fs::write(dir.join("mapping.toml"), MAPPING).unwrap();
    let rows: Vec<Row> = (1..=40).map(row).collect();
    write_rows(&dir, "hr.csv", &rows);
    write_rows(&dir, "half.csv", &rows[..20]);

    let o = run(
        &["sync", "--source", "hr.csv", "--output", "json"],
        &srv,
        &dir,
    )
    .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["runs"][0]["done"], 40 + 5 + 5); // creates, groups, member additions
    assert_eq!(v["plans"][0]["changes"].as_array().unwrap().len(), 50);

    // Half the people gone: refused (exit 2) with the gate named; nothing written.
    let writes = srv.writes.load(std::sync::atomic::Ordering::SeqCst);
    let o = run(&["sync", "--source", "half.csv"], &srv, &dir).await;
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("[mass_deprovision]") && err.contains("[source_shrink]"),
        "{err}"
    );
    assert_eq!(srv.writes.load(std::sync::atomic::Ordering::SeqCst), writes);

    // A saved plan, made stale by an edit in the target: refused (exit 2).
    let o = run(
        &["plan", "--source", "half.csv", "--out", "plan.json"],
        &srv,
        &dir,
    )
    .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("SAFETY GATES TRIPPED"), "{out}");
    let c = srv.client();
    let users: Vec<Value> = c
        .list_all("Users", ListQuery::new().count(1))
        .try_collect()
        .await
        .unwrap();
    let id = users[0]["id"].as_str().unwrap().to_string();
    let o = run(
        &[
            "users",
            "patch",
            &id,
            r#"[{"op":"replace","path":"nickName","value":"x"}]"#,
        ],
        &srv,
        &dir,
    )
    .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["apply", "plan.json", "--force"], &srv, &dir).await;
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stale") && err.contains(&id), "{err}");

    // --force proceeds; the run is in the history; status shows nothing pending.
    let o = run(&["sync", "--source", "half.csv", "--force"], &srv, &dir).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["history", "--output", "json"], &srv, &dir).await;
    let runs: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    let o = run(&["status", "--output", "json"], &srv, &dir).await;
    let st: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st[0]["pending"], serde_json::json!([]));
    assert_eq!(st[0]["dead_letters"], serde_json::json!([]));
    // The audit as CSV: 40 accounts, 20 inactive.
    let o = run(
        &["audit", "--source", "half.csv", "--output", "csv"],
        &srv,
        &dir,
    )
    .await;
    let csv = String::from_utf8_lossy(&o.stdout);
    assert_eq!(csv.lines().count(), 41, "{csv}");
    assert_eq!(
        csv.lines().filter(|l| l.contains(",false,")).count(),
        20,
        "{csv}"
    );
    // A target that does not answer: exit 1.
    let o = Command::new(env!("CARGO_BIN_EXE_scim"))
        .args(["discover", "--url", "http://127.0.0.1:9/scim/v2", "--state"])
        .arg(dir.join("other.db"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_killed_with_sigkill_resumes_without_duplicates() {
    let srv = Srv::start().await;
    let dir = temp_dir("sigkill");
    std::fs::write(dir.join("mapping.toml"), MAPPING).unwrap();
    let rows: Vec<Row> = (1..=300).map(row).collect();
    write_rows(&dir, "hr.csv", &rows);
    // Slow the run down (30 requests/s) so it can be killed in the middle.
    let mut child = scim(
        &[
            "sync",
            "--source",
            "hr.csv",
            "--rate",
            "30",
            "--concurrency",
            "1",
        ],
        &srv,
        &dir,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Wait until the outbox shows some changes done (the state file is shared, WAL mode).
    let state_path = dir.join("state.db");
    let mut done = 0;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if !state_path.exists() {
            continue;
        }
        let st = State::open(&state_path).await.unwrap();
        let counts = st.counts(&srv.base).await.unwrap();
        st.close().await;
        done = counts.iter().find(|(s, _)| s == "done").map_or(0, |c| c.1);
        if done >= 40 {
            break;
        }
    }
    assert!(done >= 40, "the apply did not get going");
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    let users_before: Vec<Value> = srv
        .client()
        .list_all("Users", ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert!(
        users_before.len() < 300,
        "killed before the end ({} users)",
        users_before.len()
    );
    // The next run resumes the outbox and completes.
    let o = run(&["sync", "--source", "hr.csv"], &srv, &dir).await;
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let seen = read_target(&srv.client()).await;
    assert_target_matches(&seen, &rows, &[]);
    // No duplicates: exactly one account per externalId.
    let users: Vec<Value> = srv
        .client()
        .list_all("Users", ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(users.len(), 300);
    let groups: Vec<Value> = srv
        .client()
        .list_all("Groups", ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(groups.len(), 5);
    let st = State::open(&state_path).await.unwrap();
    assert!(st.pending(&srv.base).await.unwrap().is_empty());
    assert!(st.dead(&srv.base).await.unwrap().is_empty());
    st.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_targets_from_a_config_file_and_one_failing_does_not_stop_the_others() {
    let a = Srv::start().await;
    let b = Srv::start().await;
    let dir = temp_dir("targets");
    std::fs::write(dir.join("mapping.toml"), MAPPING).unwrap();
    std::fs::write(dir.join("token-b"), "tok\n").unwrap();
    let rows: Vec<Row> = (1..=12).map(row).collect();
    write_rows(&dir, "hr.csv", &rows);
    std::fs::write(
        dir.join("scim.toml"),
        format!(
            r#"
state = "state.db"
source = "hr.csv"

[[targets]]
name = "a"
url = "{}"
token_env = "SCIM_TEST_TOKEN_A"
mapping = "mapping.toml"

[[targets]]
name = "down"
url = "http://127.0.0.1:9/scim/v2"
token_env = "SCIM_TEST_TOKEN_A"

[[targets]]
name = "b-engineering-only"
url = "{}"
token_file = "token-b"
profile = "okta"
mapping = "mapping.toml"
scope = {{ department = "Engineering" }}
"#,
            a.base, b.base
        ),
    )
    .unwrap();
    let sync = |args: &'static [&'static str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_scim"));
        c.args(args)
            .current_dir(&dir)
            .env("SCIM_CONFIG", dir.join("scim.toml"))
            .env("SCIM_TEST_TOKEN_A", "tok")
            .env_remove("SCIM_URL")
            .env_remove("SCIM_TOKEN")
            .env_remove("SCIM_STATE")
            .env_remove("SCIM_MAPPING");
        async move {
            tokio::task::spawn_blocking(move || c.output().unwrap())
                .await
                .unwrap()
        }
    };
    let o = sync(&["sync"]).await;
    // The target that is down fails the command (exit 1) and is named; the others are done.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("down: target down"), "{err}");
    let seen_a = read_target(&a.client()).await;
    assert_target_matches(&seen_a, &rows, &[]);
    let seen_b = read_target(&b.client()).await;
    let eng: Vec<Row> = rows
        .iter()
        .filter(|r| r.dept == "Engineering")
        .cloned()
        .collect();
    assert_eq!(seen_b.len(), eng.len());
    for r in &eng {
        assert!(seen_b[&r.ext].active);
    }
    // Only the working targets again: a no-op, exit 0.
    let o = sync(&["sync", "--target", "a", "--target", "b-engineering-only"]).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out.matches("No changes: the target matches the source.")
            .count(),
        2,
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
