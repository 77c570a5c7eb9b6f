//! The `scim-conformance` binary: refuses remote servers, runs against ours with
//! `--expect-fail`, writes the reports, and ends with `N passed, M failed, K skipped`.

use std::process::Command;

use scim_server::Settings;

use crate::support::{known_failures, Backend, OwnServer, TempDir};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scim-conformance"))
}

#[test]
fn refuses_a_non_loopback_url() {
    let out = bin()
        .args([
            "--base-url",
            "http://scim.example.com/scim/v2",
            "--token",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a loopback address") && err.contains("--allow-remote"),
        "{err}"
    );
}

#[test]
fn rejects_an_unknown_expect_fail_id() {
    let out = bin()
        .args([
            "--base-url",
            "http://127.0.0.1:9/scim/v2",
            "--expect-fail",
            "no-such-check",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-check"));
}

fn closing_line(stdout: &str) -> (usize, usize, usize) {
    let last = stdout.lines().last().unwrap_or("");
    let parts: Vec<&str> = last.split(' ').collect();
    assert_eq!(parts.len(), 6, "closing line {last:?}");
    assert_eq!(
        (parts[1], parts[3], parts[5]),
        ("passed,", "failed,", "skipped"),
        "closing line {last:?}"
    );
    (
        parts[0].parse().unwrap(),
        parts[2].parse().unwrap(),
        parts[4].parse().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_against_our_server_with_reports() {
    let server = OwnServer::start(Backend::Sqlite, Settings::default())
        .await
        .unwrap();
    let dir = TempDir::new("cli");
    let json = dir.0.join("r.json");
    let html = dir.0.join("r.html");
    let known: Vec<String> = known_failures().into_iter().collect();
    let (base, token) = (server.base.clone(), server.token.clone());
    let (json2, html2) = (json.clone(), html.clone());
    let known_arg = known.join(",");
    let out = tokio::task::spawn_blocking(move || {
        let mut c = bin();
        c.args(["--base-url", &base, "--token", &token, "--json"])
            .arg(&json2)
            .arg("--html")
            .arg(&html2);
        if !known_arg.is_empty() {
            c.args(["--expect-fail", &known_arg]);
        }
        c.output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (passed, failed, skipped) = closing_line(&stdout);
    assert_eq!(failed, known.len(), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["counts"]["passed"], passed);
    assert_eq!(report["counts"]["failed"], failed);
    assert_eq!(report["counts"]["skipped"], skipped);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(&format!("<b id=\"count-passed\">{passed}</b>")));
    // Self-contained: no external scripts, styles, images or fonts.
    for bad in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(
            !page.contains(bad),
            "the HTML report refers to an external asset ({bad})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_on_a_new_failure_and_on_a_fixed_known_one() {
    let server = OwnServer::start(Backend::Sqlite, Settings::default())
        .await
        .unwrap();
    let (base, token) = (server.base.clone(), server.token.clone());
    // Only the discovery checks; none of the known failures listed: exit 1 if any fails.
    let known = known_failures();
    let disc_known: Vec<&String> = known.iter().filter(|k| k.starts_with("disc-")).collect();
    let (b, t) = (base.clone(), token.clone());
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args(["--base-url", &b, "--token", &t, "--only", "disc-"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (_, failed, _) = closing_line(&stdout);
    assert_eq!(failed, disc_known.len(), "{stdout}");
    assert_eq!(
        out.status.code(),
        Some(if failed > 0 { 1 } else { 0 }),
        "{stdout}"
    );
    // A check listed as expected to fail that passes fails the run (the list must stay exact).
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args([
                "--base-url",
                &base,
                "--token",
                &token,
                "--only",
                "disc-rt-list",
                "--expect-fail",
                "disc-rt-list",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(closing_line(&stdout), (1, 0, 0), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("remove it from --expect-fail"), "{stdout}");
}
