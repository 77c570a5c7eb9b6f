//! # conformance-tests
//!
//! A SCIM 2.0 conformance suite that runs against any server: RFC 7643 (schemas), RFC 7644
//! (protocol), RFC 9865 (cursor pagination), and the request dialects of Microsoft Entra ID
//! and Okta as interoperability checks.
//!
//! Every [`Check`] has a stable id, the RFC section it verifies, a [`Level`] (MUST, SHOULD or
//! interop), and on failure the exact HTTP exchanges it made. The suite reads
//! `/ServiceProviderConfig` first: optional features the server does not advertise are
//! reported as skipped ("not supported"), and separate checks verify that what is advertised
//! as unsupported is refused cleanly.
//!
//! It creates only uniquely named data (`scimconf-<random>-…`), deletes everything it created
//! after each check, at the end, and on Ctrl-C (the `scim-conformance` binary), and refuses a
//! base URL that is not on the loopback interface unless [`Config::allow_remote`] is set.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use conformance_tests::{Config, Suite};
//! let config = Config::new("http://127.0.0.1:8080/scim/v2", Some("token".into()));
//! let suite = Suite::new(config)?;
//! let report = suite.run(&conformance_tests::NoProgress).await;
//! println!("{}", report.counts.line());
//! # Ok(()) }
//! ```

pub mod checks;
pub mod cx;
pub mod data;
pub mod model;
pub mod report;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::Value;

pub use cx::{Caps, Cleanup, Cx, Options, Shared, Target};
pub use model::{
    Check, CheckResult, Counts, Exchange, Feature, Level, Needs, Report, Status, Stop,
};

/// What to run, against which server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL of the SCIM service, e.g. `http://127.0.0.1:8080/scim/v2`.
    pub base_url: String,
    /// Bearer token.
    pub token: Option<String>,
    /// Allow a base URL that is not on the loopback interface.
    pub allow_remote: bool,
    /// Run only checks whose id starts with one of these (all when empty).
    pub only: Vec<String>,
    /// Skip checks whose id starts with one of these.
    pub exclude: Vec<String>,
    /// Failures of these check ids are expected (known server bugs): they are reported, but
    /// do not count as unexpected failures; a pass of one of them does.
    pub expect_fail: BTreeSet<String>,
    /// Timeout of each HTTP request.
    pub timeout: Duration,
    /// Options of particular checks.
    pub options: Options,
}

impl Config {
    /// A configuration with the defaults (30 s timeout, loopback only, all checks).
    pub fn new(base_url: &str, token: Option<String>) -> Config {
        Config {
            base_url: base_url.to_string(),
            token,
            allow_remote: false,
            only: Vec::new(),
            exclude: Vec::new(),
            expect_fail: BTreeSet::new(),
            timeout: Duration::from_secs(30),
            options: Options::default(),
        }
    }
}

/// Why a run could not start.
#[derive(Debug)]
pub enum SetupError {
    /// The base URL is not a valid http(s) URL.
    BadUrl(String),
    /// The base URL is not on the loopback interface and `allow_remote` is not set.
    Remote(String),
    /// `--expect-fail` names a check that does not exist.
    UnknownCheck(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::BadUrl(u) => write!(f, "not an http(s) URL: {u}"),
            SetupError::Remote(h) => write!(
                f,
                "refusing to create and delete test data on {h}, which is not a loopback address; \
                 pass --allow-remote if this server is meant for testing"
            ),
            SetupError::UnknownCheck(id) => write!(f, "no check has the id {id:?}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// Whether a URL's host is on the loopback interface (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Receives progress while a suite runs.
pub trait Progress: Send + Sync {
    /// The run starts with this many checks.
    fn start(&self, total: usize);
    /// A check finished.
    fn done(&self, result: &CheckResult);
}

/// No progress output.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _total: usize) {}
    fn done(&self, _result: &CheckResult) {}
}

/// A prepared run.
pub struct Suite {
    config: Config,
    target: Target,
    cleanup: Arc<Cleanup>,
    checks: Vec<Check>,
}

impl Suite {
    /// Validates the configuration and selects the checks.
    pub fn new(config: Config) -> Result<Suite, SetupError> {
        let url = reqwest::Url::parse(&config.base_url)
            .map_err(|_| SetupError::BadUrl(config.base_url.clone()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(SetupError::BadUrl(config.base_url.clone()));
        }
        if !config.allow_remote && !is_loopback(&url) {
            return Err(SetupError::Remote(
                url.host_str().unwrap_or_default().to_string(),
            ));
        }
        let all = checks::all();
        for id in &config.expect_fail {
            if !all.iter().any(|c| c.id == id) {
                return Err(SetupError::UnknownCheck(id.clone()));
            }
        }
        let checks: Vec<Check> = all
            .into_iter()
            .filter(|c| {
                (config.only.is_empty() || config.only.iter().any(|p| c.id.starts_with(p)))
                    && !config.exclude.iter().any(|p| c.id.starts_with(p))
            })
            .collect();
        let target = Target::new(&config.base_url, config.token.clone(), config.timeout);
        let suffix: u32 = rand::thread_rng().gen();
        let prefix = format!("scimconf-{suffix:08x}");
        let cleanup = Arc::new(Cleanup::new(target.clone(), prefix));
        Ok(Suite {
            config,
            target,
            cleanup,
            checks,
        })
    }

    /// The cleanup registry, to purge after an interruption.
    pub fn cleanup(&self) -> Arc<Cleanup> {
        self.cleanup.clone()
    }

    /// The selected checks.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    async fn discover(&self) -> Caps {
        let get = |path: &str| {
            let mut rb = self.target.client.get(self.target.url(path));
            if let Some(t) = &self.target.token {
                rb = rb.bearer_auth(t);
            }
            rb.send()
        };
        let spc = match get("/ServiceProviderConfig").await {
            Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
            _ => None,
        };
        let rts = match get("/ResourceTypes").await {
            Ok(r) if r.status().is_success() => r
                .json::<Value>()
                .await
                .map(|v| cx::resources_of(&v))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Caps::from_discovery(spc, rts)
    }

    /// Runs the checks one after another, cleans up, and returns the report.
    pub async fn run(&self, progress: &dyn Progress) -> Report {
        let started = chrono::Utc::now();
        let t0 = Instant::now();
        let caps = self.discover().await;
        self.cleanup
            .enable_sweep(caps.get(Feature::Filter) == Some(true));
        let shared = Arc::new(Shared::new(
            self.target.clone(),
            caps.clone(),
            self.cleanup.clone(),
            self.config.options.clone(),
        ));
        progress.start(self.checks.len());
        let mut results = Vec::with_capacity(self.checks.len());
        for check in &self.checks {
            let r = run_one(check, shared.clone(), &self.config.expect_fail).await;
            progress.done(&r);
            results.push(r);
        }
        let leftovers = self.cleanup.purge().await;
        let counts = Counts::of(&results);
        Report {
            tool: concat!("scim-conformance ", env!("CARGO_PKG_VERSION")).to_string(),
            base_url: self.target.base.clone(),
            started: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            duration_ms: t0.elapsed().as_millis() as u64,
            features: caps.list(),
            counts,
            interrupted: false,
            leftovers,
            results,
        }
    }
}

fn unmet(check: &Check, caps: &Caps) -> Option<String> {
    for n in check.needs {
        match n {
            Needs::Has(f) if !caps.has(*f) => {
                return Some(format!("not supported: {}", f.as_str()));
            }
            Needs::Lacks(f) if caps.get(*f) != Some(false) => {
                return Some(format!("{} is supported: nothing to refuse", f.as_str()));
            }
            _ => {}
        }
    }
    None
}

async fn run_one(
    check: &Check,
    shared: Arc<Shared>,
    expect_fail: &BTreeSet<String>,
) -> CheckResult {
    let t0 = Instant::now();
    let cx = Cx::new(shared.clone());
    let verdict = match unmet(check, &shared.caps) {
        Some(reason) => Err(Stop::Skip(reason)),
        None => {
            // A panicking check is a bug of the suite; it is reported as a failure of the
            // check rather than ending the run.
            let fut = std::panic::AssertUnwindSafe((check.run)(&cx));
            match futures_catch(fut).await {
                Ok(v) => v,
                Err(msg) => Err(Stop::Fail(format!("the check itself panicked: {msg}"))),
            }
        }
    };
    let created = cx.take_created();
    if !created.is_empty() {
        shared.cleanup.delete_paths(created).await;
    }
    let (status, message) = match verdict {
        Ok(()) => (Status::Passed, None),
        Err(Stop::Fail(m)) => (Status::Failed, Some(m)),
        Err(Stop::Skip(m)) => (Status::Skipped, Some(m)),
    };
    let expected = expect_fail.contains(check.id);
    let message = match (status, expected) {
        (Status::Passed, true) => {
            Some("listed with --expect-fail but passed: remove it from the list".to_string())
        }
        _ => message,
    };
    let exchanges = if status == Status::Failed || (expected && status == Status::Passed) {
        cx.take_log()
    } else {
        Vec::new()
    };
    CheckResult {
        id: check.id,
        area: check.area,
        section: check.section,
        level: check.level,
        title: check.title,
        status,
        message,
        expected_failure: expected && status == Status::Failed,
        duration_ms: t0.elapsed().as_millis() as u64,
        exchanges,
    }
}

/// Awaits a future, turning a panic into an error message.
async fn futures_catch<F>(fut: std::panic::AssertUnwindSafe<F>) -> Result<F::Output, String>
where
    F: std::future::Future,
{
    use std::pin::pin;
    use std::task::Poll;
    let mut fut = pin!(fut.0);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(e) => Poll::Ready(Err(e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into()))),
        }
    })
    .await
}

/// Whether a report passes given the expected failures: no unexpected failure, and no
/// expected failure that passed.
pub fn verdict_ok(report: &Report, expect_fail: &BTreeSet<String>) -> bool {
    report.unexpected_failures().is_empty()
        && !report
            .results
            .iter()
            .any(|r| r.status == Status::Passed && expect_fail.contains(r.id))
        && !report.interrupted
}
