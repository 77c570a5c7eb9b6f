//! Reports: terminal summary, JSON, and a self-contained HTML page.

pub mod html;

use std::fmt::Write as _;

use crate::model::{Report, Status};

/// The terminal summary: each failure with its exchanges (when `verbose`), the per-section
/// table, and the closing line `N passed, M failed, K skipped`.
pub fn terminal(report: &Report, verbose: bool) -> String {
    let mut out = String::new();
    let failed: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\nFailures:");
    }
    for r in &failed {
        let tag = if r.expected_failure {
            " (expected)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "\n  FAIL{tag} {} [{} {}] {}\n       {}",
            r.id,
            r.level.as_str(),
            r.section,
            r.title,
            r.message.as_deref().unwrap_or("")
        );
        if verbose {
            for ex in &r.exchanges {
                let _ = writeln!(out, "       > {} {}", ex.method, ex.url);
                if let Some(b) = &ex.request_body {
                    let _ = writeln!(out, "       > {}", clip(b, 400));
                }
                match &ex.error {
                    Some(e) => {
                        let _ = writeln!(out, "       < (no response: {e})");
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "       < {} {}",
                            ex.status,
                            clip(&ex.response_body, 400)
                        );
                    }
                }
            }
        }
    }
    let unexpected_pass: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.status == Status::Passed && r.message.is_some())
        .collect();
    for r in unexpected_pass {
        let _ = writeln!(
            out,
            "\n  PASS (listed as expected failure) {}: remove it from --expect-fail",
            r.id
        );
    }
    let _ = writeln!(out, "\nBy section:");
    let mut sections = report.by_section();
    sections.sort_by_key(|(s, _)| html::section_key(s));
    for (section, c) in sections {
        let _ = writeln!(
            out,
            "  {section:<22} {:>4} passed {:>4} failed {:>4} skipped",
            c.passed, c.failed, c.skipped
        );
    }
    if !report.leftovers.is_empty() {
        let _ = writeln!(
            out,
            "\nCould not delete {} resource(s) the suite created: {}",
            report.leftovers.len(),
            report.leftovers.join(", ")
        );
    }
    let expected = failed.iter().filter(|r| r.expected_failure).count();
    if expected > 0 {
        let _ = writeln!(
            out,
            "\n{expected} of the failures are listed with --expect-fail"
        );
    }
    let _ = writeln!(out, "\n{}", report.counts.line());
    out
}

fn clip(s: &str, n: usize) -> String {
    let s = s.replace('\n', " ");
    if s.len() <= n {
        return s;
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The report as pretty JSON.
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("a report serialises")
}
