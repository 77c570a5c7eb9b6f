//! The whole suite against the project's own server, in-process on 127.0.0.1: every check
//! passes except exactly the known server failures of SERVER-FAILURES.md, and the suite leaves
//! no data behind.

use std::collections::BTreeSet;

use conformance_tests::{Config, NoProgress, Status, Suite};
use scim_server::Settings;

use crate::support::{count_resources, known_failures, Backend, OwnServer};

async fn run_against(backend: Backend) {
    let settings = Settings {
        // Short enough for the expiredCursor check to wait for it.
        cursor_ttl_secs: 1,
        ..Settings::default()
    };
    let Some(server) = OwnServer::start(backend, settings).await else {
        return;
    };
    let known = known_failures();
    let mut config = Config::new(&server.base, Some(server.token.clone()));
    config.expect_fail = known.clone();
    config.options.max_cursor_wait_secs = 3;
    let suite = Suite::new(config).unwrap();
    let report = suite.run(&NoProgress).await;
    let failed: BTreeSet<String> = report
        .results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .map(|r| r.id.to_string())
        .collect();
    let details: Vec<String> = report
        .unexpected_failures()
        .iter()
        .map(|r| format!("{}: {}", r.id, r.message.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        failed, known,
        "{backend:?}: the failures differ from SERVER-FAILURES.md; unexpected: {details:#?}"
    );
    assert!(
        report.results.len() >= 150,
        "{} checks",
        report.results.len()
    );
    // Only checks of features our server does not have, or of refusals of unsupported
    // features it does have, are skipped.
    for r in report
        .results
        .iter()
        .filter(|r| r.status == Status::Skipped)
    {
        let m = r.message.as_deref().unwrap_or("");
        assert!(
            m.contains("is supported: nothing to refuse")
                || m.starts_with("not supported: changePassword"),
            "{backend:?}: {} was skipped: {m}",
            r.id
        );
    }
    assert!(
        report.leftovers.is_empty(),
        "left behind: {:?}",
        report.leftovers
    );
    assert_eq!(
        count_resources(&server.base, &server.token).await,
        (0, 0),
        "{backend:?}: the suite left users or groups behind"
    );
    assert!(conformance_tests::verdict_ok(&report, &known));
    println!("{backend:?}: {}", report.counts.line());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_server_sqlite() {
    run_against(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_server_postgres() {
    run_against(Backend::Postgres).await;
}
