//! The HTML report in a real browser: headless Chromium (Debian's `chromium` package, installed
//! by .ci/run) renders the report of a run against our server; the rendered DOM must show the
//! run's counts, the status filter must work (`#status=failed` shows only the failures), and a
//! screenshot is taken. Without Chromium the test says it was skipped, except under CI=true,
//! where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use conformance_tests::{report, Config, NoProgress, Suite};
use scim_server::Settings;

use crate::support::{known_failures, Backend, OwnServer, TempDir};

fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but chromium is not installed: .ci/run installs Debian's chromium package");
    }
    println!("SKIPPED: HTML report in Chromium (apt-get install chromium)");
    None
}

/// Runs headless Chromium with a fresh profile and these extra arguments; returns stdout.
fn run_chromium(bin: &Path, profile: &Path, args: &[String]) -> String {
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn text_of(dom: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no element #{id} in the DOM"))
        + marker.len();
    dom[start..].split('<').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_report_renders_in_chromium() {
    let Some(bin) = chromium() else { return };
    let server = OwnServer::start(Backend::Sqlite, Settings::default())
        .await
        .unwrap();
    let mut config = Config::new(&server.base, Some(server.token.clone()));
    config.expect_fail = known_failures();
    let rep = Suite::new(config).unwrap().run(&NoProgress).await;
    let dir = TempDir::new("html");
    let page = dir.0.join("report.html");
    std::fs::write(&page, report::html::render(&rep)).unwrap();
    let url = format!("file://{}", page.display());
    let c = rep.counts;

    let dom = run_chromium(
        &bin,
        &dir.0.join("profile-1"),
        &["--dump-dom".into(), url.clone()],
    );
    assert_eq!(text_of(&dom, "count-passed"), c.passed.to_string());
    assert_eq!(text_of(&dom, "count-failed"), c.failed.to_string());
    assert_eq!(text_of(&dom, "count-skipped"), c.skipped.to_string());
    assert_eq!(text_of(&dom, "count-total"), rep.results.len().to_string());
    assert_eq!(text_of(&dom, "shown"), rep.results.len().to_string());
    assert_eq!(dom.matches("<tr class=\"check").count(), rep.results.len());
    assert!(dom.contains("By RFC section") && dom.contains("RFC 7644 §3.4.2.2"));

    // The script applies the status filter from the URL: only the failures stay visible.
    let dom = run_chromium(
        &bin,
        &dir.0.join("profile-2"),
        &["--dump-dom".into(), format!("{url}#status=failed")],
    );
    assert_eq!(
        text_of(&dom, "shown"),
        c.failed.to_string(),
        "the status filter did not apply"
    );
    let visible = dom.matches("<tr class=\"check\"").count();
    assert_eq!(visible, c.failed, "rows without the hidden class");

    let png = dir.0.join("report.png");
    run_chromium(
        &bin,
        &dir.0.join("profile-3"),
        &[
            "--window-size=1280,1600".into(),
            format!("--screenshot={}", png.display()),
            url,
        ],
    );
    let bytes = std::fs::read(&png).expect("the screenshot was written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "the screenshot is suspiciously small ({} bytes)",
        bytes.len()
    );
    if let Ok(keep) = std::env::var("SCIM_CONFORMANCE_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}
