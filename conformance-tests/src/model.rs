//! The check model: what a check is, what it needs, and what a run of it produced.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::cx::Cx;

/// How strong the requirement a check verifies is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// An absolute requirement of the RFC (MUST, SHALL, REQUIRED).
    Must,
    /// A recommendation of the RFC (SHOULD, RECOMMENDED).
    Should,
    /// What an identity provider (Entra ID, Okta) sends or expects, beyond the RFC.
    Interop,
}

impl Level {
    /// `MUST`, `SHOULD` or `INTEROP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::Interop => "INTEROP",
        }
    }
}

/// An optional feature of a service provider, as advertised by `/ServiceProviderConfig`
/// (RFC 7643 §5, RFC 9865 §3) or `/ResourceTypes` (RFC 7643 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Feature {
    /// `patch.supported`.
    Patch,
    /// `bulk.supported`.
    Bulk,
    /// `filter.supported`.
    Filter,
    /// `sort.supported`.
    Sort,
    /// `etag.supported`.
    Etag,
    /// `changePassword.supported`.
    ChangePassword,
    /// `pagination.cursor` (RFC 9865).
    Cursor,
    /// A `Group` resource type.
    Groups,
    /// The enterprise User extension on the `User` resource type.
    EnterpriseUser,
}

impl Feature {
    /// The name shown in reports ("not supported: sort").
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Patch => "patch",
            Feature::Bulk => "bulk",
            Feature::Filter => "filter",
            Feature::Sort => "sort",
            Feature::Etag => "etag",
            Feature::ChangePassword => "changePassword",
            Feature::Cursor => "cursor pagination",
            Feature::Groups => "Group resource type",
            Feature::EnterpriseUser => "enterprise User extension",
        }
    }
}

/// A precondition of a check on the server's advertised features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "feature")]
pub enum Needs {
    /// The feature is advertised as supported: the check verifies that it works.
    Has(Feature),
    /// The feature is advertised as unsupported: the check verifies that it is refused cleanly.
    Lacks(Feature),
}

/// What a check body returns when it does not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The server does not do what the check requires; the text says what was wrong.
    Fail(String),
    /// The check cannot run here (e.g. an optional feature is not supported).
    Skip(String),
}

/// The result of a check body.
pub type Verdict = Result<(), Stop>;

/// A boxed future of a check body.
pub type BoxFut<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// The body of a check.
pub type CheckFn = for<'a> fn(&'a Cx) -> BoxFut<'a>;

/// One conformance check.
#[derive(Clone)]
pub struct Check {
    /// Stable identifier, e.g. `filter-eq-username-case`. Never reused for another meaning.
    pub id: &'static str,
    /// The area (discovery, users, filter, …), for grouping in reports.
    pub area: &'static str,
    /// The section verified, e.g. `RFC 7644 §3.4.2.2`.
    pub section: &'static str,
    /// MUST, SHOULD or interop.
    pub level: Level,
    /// Preconditions on the advertised features.
    pub needs: &'static [Needs],
    /// One line: what the server must do.
    pub title: &'static str,
    /// The body.
    pub run: CheckFn,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("id", &self.id)
            .field("section", &self.section)
            .field("level", &self.level)
            .finish()
    }
}

/// The status of a check after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The server did what the check requires.
    Passed,
    /// It did not.
    Failed,
    /// The check did not run (unsupported feature, or a precondition could not be met).
    Skipped,
}

impl Status {
    /// `passed`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One HTTP request and its response, exactly as sent and received (the bearer token is
/// masked).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Exchange {
    /// The method.
    pub method: String,
    /// The full URL, with its query string.
    pub url: String,
    /// Request headers (Authorization masked).
    pub request_headers: Vec<(String, String)>,
    /// Request body, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// Response status, or 0 when no response was received.
    pub status: u16,
    /// Response headers.
    pub response_headers: Vec<(String, String)>,
    /// Response body (cut at 64 KiB).
    pub response_body: String,
    /// Transport error, when the request failed before a response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The check's id.
    pub id: &'static str,
    /// Its area.
    pub area: &'static str,
    /// The section verified.
    pub section: &'static str,
    /// Its level.
    pub level: Level,
    /// Its title.
    pub title: &'static str,
    /// Passed, failed or skipped.
    pub status: Status,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The failure was listed with `--expect-fail`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub expected_failure: bool,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// The HTTP exchanges of the check (kept for failures only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<Exchange>,
}

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Passed checks.
    pub passed: usize,
    /// Failed checks.
    pub failed: usize,
    /// Skipped checks.
    pub skipped: usize,
}

impl Counts {
    /// Counts of these results.
    pub fn of<'a>(results: impl IntoIterator<Item = &'a CheckResult>) -> Counts {
        let mut c = Counts::default();
        for r in results {
            match r.status {
                Status::Passed => c.passed += 1,
                Status::Failed => c.failed += 1,
                Status::Skipped => c.skipped += 1,
            }
        }
        c
    }

    /// The closing line: `N passed, M failed, K skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `scim-conformance` and its version.
    pub tool: String,
    /// The base URL tested.
    pub base_url: String,
    /// When the run started (RFC 3339).
    pub started: String,
    /// Wall time of the run in milliseconds.
    pub duration_ms: u64,
    /// The features as advertised by the server (in JSON: an object of booleans).
    #[serde(serialize_with = "features_map")]
    pub features: Vec<(Feature, bool)>,
    /// Totals.
    pub counts: Counts,
    /// The run was interrupted (Ctrl-C) before all checks ran.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Resources created by the suite that could not be deleted afterwards.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leftovers: Vec<String>,
    /// Every check, in run order.
    pub results: Vec<CheckResult>,
}

impl Report {
    /// Failures that were not listed as expected.
    pub fn unexpected_failures(&self) -> Vec<&CheckResult> {
        self.results
            .iter()
            .filter(|r| r.status == Status::Failed && !r.expected_failure)
            .collect()
    }

    /// Per RFC section: (section, counts), in the order sections first appear.
    pub fn by_section(&self) -> Vec<(&'static str, Counts)> {
        let mut out: Vec<(&'static str, Counts)> = Vec::new();
        for r in &self.results {
            let key = r.section;
            let i = match out.iter().position(|(s, _)| *s == key) {
                Some(i) => i,
                None => {
                    out.push((key, Counts::default()));
                    out.len() - 1
                }
            };
            let c = &mut out[i].1;
            match r.status {
                Status::Passed => c.passed += 1,
                Status::Failed => c.failed += 1,
                Status::Skipped => c.skipped += 1,
            }
        }
        out
    }
}

fn features_map<S: serde::Serializer>(v: &[(Feature, bool)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (f, on) in v {
        m.serialize_entry(f.as_str(), on)?;
    }
    m.end()
}
