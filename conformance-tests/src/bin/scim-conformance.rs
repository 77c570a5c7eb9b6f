//! `scim-conformance`: runs the SCIM 2.0 conformance suite against a server.
//!
//! ```text
//! scim-conformance --base-url http://127.0.0.1:8080/scim/v2 --token TOKEN \
//!     --json report.json --html report.html
//! ```
//!
//! Exit status: 0 when no check failed (apart from those listed with `--expect-fail`), 1 when
//! one did (or a listed one passed), 2 on a usage error, 130 after Ctrl-C (the test data
//! created so far is deleted first).

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use conformance_tests::{report, CheckResult, Config, Progress, Status, Suite};
use indicatif::{ProgressBar, ProgressStyle};

/// Runs the SCIM 2.0 conformance suite (RFC 7643, RFC 7644, RFC 9865, Entra ID and Okta
/// dialects) against a server. It creates uniquely named test data and deletes it afterwards.
#[derive(Debug, Parser)]
#[command(name = "scim-conformance", version)]
struct Cli {
    /// Base URL of the SCIM service, e.g. http://127.0.0.1:8080/scim/v2
    #[arg(long, env = "SCIM_CONFORMANCE_BASE_URL")]
    base_url: String,
    /// Bearer token.
    #[arg(long, env = "SCIM_CONFORMANCE_TOKEN")]
    token: Option<String>,
    /// Allow a server that is not on the loopback interface (it must be a test server: the
    /// suite creates and deletes users and groups).
    #[arg(long)]
    allow_remote: bool,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the report as a single self-contained HTML file.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Run only checks whose id starts with one of these (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "PREFIX")]
    only: Vec<String>,
    /// Skip checks whose id starts with one of these (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "PREFIX")]
    exclude: Vec<String>,
    /// Check ids known to fail (comma-separated): reported, but the exit status is 0 unless
    /// another check fails or one of these passes.
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    expect_fail: Vec<String>,
    /// Seconds before an HTTP request times out.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Wait up to this many seconds for a cursor to expire (RFC 9865 expiredCursor); the check
    /// is skipped when the server's cursorTimeout is longer. 0 skips it.
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    max_cursor_wait: u64,
    /// Print the HTTP exchanges of each failure.
    #[arg(long, short)]
    verbose: bool,
    /// List the checks and exit.
    #[arg(long)]
    list: bool,
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total: usize) {
        self.0.set_length(total as u64);
    }
    fn done(&self, r: &CheckResult) {
        self.0.inc(1);
        self.0.set_message(r.id);
        if r.status == Status::Failed {
            let tag = if r.expected_failure {
                " (expected)"
            } else {
                ""
            };
            self.0.println(format!(
                "FAIL{tag} {}: {}",
                r.id,
                r.message.as_deref().unwrap_or("")
            ));
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.list {
        for c in conformance_tests::checks::all() {
            println!(
                "{:<40} {:<8} {:<20} {}",
                c.id,
                c.level.as_str(),
                c.section,
                c.title
            );
        }
        return ExitCode::SUCCESS;
    }
    let expect_fail: BTreeSet<String> = cli
        .expect_fail
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let mut config = Config::new(&cli.base_url, cli.token.clone());
    config.allow_remote = cli.allow_remote;
    config.only = cli.only.clone();
    config.exclude = cli.exclude.clone();
    config.expect_fail = expect_fail.clone();
    config.timeout = Duration::from_secs(cli.timeout);
    config.options.max_cursor_wait_secs = cli.max_cursor_wait;
    let suite = match Suite::new(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scim-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let progress = Bar(bar.clone());
    eprintln!(
        "scim-conformance: {} checks against {}",
        suite.checks().len(),
        cli.base_url
    );
    let cleanup = suite.cleanup();
    let report = tokio::select! {
        r = suite.run(&progress) => r,
        _ = tokio::signal::ctrl_c() => {
            bar.finish_and_clear();
            eprintln!("scim-conformance: interrupted; deleting the test data created so far");
            let left = cleanup.purge().await;
            if left.is_empty() {
                eprintln!("scim-conformance: cleanup done");
            } else {
                eprintln!("scim-conformance: could not delete: {}", left.join(", "));
            }
            return ExitCode::from(130);
        }
    };
    bar.finish_and_clear();
    if let Some(p) = &cli.json {
        if let Err(e) = std::fs::write(p, report::json(&report)) {
            eprintln!("scim-conformance: cannot write {}: {e}", p.display());
            return ExitCode::from(2);
        }
    }
    if let Some(p) = &cli.html {
        if let Err(e) = std::fs::write(p, report::html::render(&report)) {
            eprintln!("scim-conformance: cannot write {}: {e}", p.display());
            return ExitCode::from(2);
        }
    }
    print!("{}", report::terminal(&report, cli.verbose));
    if conformance_tests::verdict_ok(&report, &expect_fail) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
