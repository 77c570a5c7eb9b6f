//! Safety gates: checks on the source snapshot and on the plan before anything is applied.
//!
//! | gate | trips when (defaults) |
//! |---|---|
//! | `mass_deprovision` | the plan deactivates or deletes more than 10% of the managed accounts (and more than 5), or more than 500 in all |
//! | `source_shrink` | the source has more than 10% fewer rows than at the last good run |
//! | `empty_required` | a required attribute is empty in more than 5% of the rows |
//! | `duplicate_keys` | a key appears on more than one row |
//! | `invalid_rows` | rows cannot be read (a bad date, a boolean that is not one) |
//!
//! Each tripped gate says exactly what it saw. `--force` proceeds anyway (and the plan still
//! leaves duplicated and unreadable people untouched).

use serde::{Deserialize, Serialize};

use super::desired::Desired;
use super::plan::Plan;

/// Gate thresholds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// Most deactivations + deletions, in percent of the managed accounts.
    pub max_deprovision_percent: f64,
    /// The percentage rule applies only above this many deprovisionings.
    pub deprovision_floor: usize,
    /// Most deactivations + deletions in one run, whatever the percentage.
    pub max_deprovision_count: usize,
    /// Most rows the source may lose since the last good run, in percent.
    pub max_source_shrink_percent: f64,
    /// Most rows with an empty required attribute, in percent.
    pub max_empty_required_percent: f64,
    /// Duplicate keys refuse the run.
    pub refuse_duplicates: bool,
    /// Unreadable rows refuse the run.
    pub refuse_invalid_rows: bool,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            max_deprovision_percent: 10.0,
            deprovision_floor: 5,
            max_deprovision_count: 500,
            max_source_shrink_percent: 10.0,
            max_empty_required_percent: 5.0,
            refuse_duplicates: true,
            refuse_invalid_rows: true,
        }
    }
}

/// A gate that tripped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tripped {
    /// The gate's name.
    pub gate: String,
    /// What it saw.
    pub message: String,
}

/// Checks every gate; returns those that tripped (empty: the run may proceed).
pub fn check(
    cfg: &GateConfig,
    desired: &Desired,
    plan: &Plan,
    last_good_rows: Option<i64>,
) -> Vec<Tripped> {
    let mut out = Vec::new();
    let n = plan.deprovisions();
    let managed = plan.managed_users.max(1);
    let pct = n as f64 * 100.0 / managed as f64;
    if n > cfg.max_deprovision_count {
        out.push(Tripped {
            gate: "mass_deprovision".into(),
            message: format!(
                "the plan deactivates or deletes {n} accounts, more than the cap of {}",
                cfg.max_deprovision_count
            ),
        });
    } else if n > cfg.deprovision_floor && pct > cfg.max_deprovision_percent {
        out.push(Tripped {
            gate: "mass_deprovision".into(),
            message: format!(
                "the plan deactivates or deletes {n} of {} managed accounts ({pct:.1}%, limit {}%)",
                plan.managed_users, cfg.max_deprovision_percent
            ),
        });
    }
    if let Some(prev) = last_good_rows.filter(|p| *p > 0) {
        let now = desired.rows as i64;
        let lost = (prev - now).max(0);
        let pct = lost as f64 * 100.0 / prev as f64;
        if pct > cfg.max_source_shrink_percent {
            out.push(Tripped {
                gate: "source_shrink".into(),
                message: format!(
                    "the source has {now} rows, {lost} fewer than the {prev} of the last good run ({pct:.1}%, limit {}%)",
                    cfg.max_source_shrink_percent
                ),
            });
        }
    }
    let rows = desired.rows.max(1);
    for (attr, empty) in &desired.empty_required {
        let pct = empty.len() as f64 * 100.0 / rows as f64;
        if pct > cfg.max_empty_required_percent {
            out.push(Tripped {
                gate: "empty_required".into(),
                message: format!(
                    "{attr} is empty in {} of {} rows ({pct:.1}%, limit {}%): rows {}",
                    empty.len(),
                    desired.rows,
                    cfg.max_empty_required_percent,
                    list(empty)
                ),
            });
        }
    }
    if cfg.refuse_duplicates && !desired.duplicates.is_empty() {
        let d: Vec<String> = desired
            .duplicates
            .iter()
            .take(10)
            .map(|(k, rows)| format!("{k} (rows {})", list(rows)))
            .collect();
        out.push(Tripped {
            gate: "duplicate_keys".into(),
            message: format!(
                "{} keys appear on more than one row: {}{}",
                desired.duplicates.len(),
                d.join(", "),
                if desired.duplicates.len() > 10 {
                    ", …"
                } else {
                    ""
                }
            ),
        });
    }
    if cfg.refuse_invalid_rows && !desired.problems.is_empty() {
        let d: Vec<String> = desired
            .problems
            .iter()
            .take(10)
            .map(|p| format!("row {}: {}", p.row, p.problem))
            .collect();
        out.push(Tripped {
            gate: "invalid_rows".into(),
            message: format!(
                "{} rows cannot be used: {}{}",
                desired.problems.len(),
                d.join("; "),
                if desired.problems.len() > 10 {
                    "; …"
                } else {
                    ""
                }
            ),
        });
    }
    out
}

fn list(rows: &[usize]) -> String {
    let mut s: Vec<String> = rows.iter().take(10).map(|r| r.to_string()).collect();
    if rows.len() > 10 {
        s.push("…".into());
    }
    s.join(", ")
}

/// The tripped gates as text, one per line.
pub fn describe(tripped: &[Tripped]) -> String {
    tripped
        .iter()
        .map(|t| format!("  [{}] {}", t.gate, t.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::mapping::Mapping;
    use crate::provision::plan::{build, PlanInput, PlanOptions, SourceInfo, TargetSnapshot};
    use crate::provision::source::parse_csv;
    use crate::provision::state::Link;
    use serde_json::json;

    fn run(csv: &str, users: usize, linked: usize, last: Option<i64>) -> Vec<Tripped> {
        let m = Mapping::default();
        let d = Desired::build(
            &parse_csv(csv.as_bytes(), "t").unwrap(),
            &m,
            "2026-01-01".parse().unwrap(),
        );
        let t = TargetSnapshot {
            users: (0..users)
                .map(|i| json!({"id": format!("u{i}"), "externalId": format!("E{i}"), "userName": format!("n{i}"), "active": true}).as_object().unwrap().clone().into())
                .collect(),
            groups: vec![],
        };
        let links: Vec<Link> = (0..linked)
            .map(|i| Link {
                kind: "user".into(),
                key: format!("E{i}"),
                id: format!("u{i}"),
                applied: None,
                deactivated_at: None,
            })
            .collect();
        let p = build(PlanInput {
            desired: &d,
            mapping: &m,
            target: &t,
            links: &links,
            options: &PlanOptions::new("t", "http://x"),
            source: SourceInfo {
                origin: "t".into(),
                hash: "0".repeat(64),
                rows: d.rows,
            },
            now: chrono::Utc::now(),
        });
        check(&GateConfig::default(), &d, &p, last)
    }

    fn csv(range: std::ops::Range<usize>) -> String {
        let mut s = "externalId,userName\n".to_string();
        for i in range {
            s.push_str(&format!("E{i},n{i}\n"));
        }
        s
    }

    #[test]
    fn half_the_people_missing_trips_shrink_and_mass_deprovision() {
        let t = run(&csv(0..50), 100, 100, Some(100));
        let gates: Vec<&str> = t.iter().map(|t| t.gate.as_str()).collect();
        assert_eq!(gates, ["mass_deprovision", "source_shrink"], "{t:?}");
        assert!(
            t[0].message.contains("50 of 100 managed accounts (50.0%"),
            "{}",
            t[0].message
        );
        assert!(
            t[1].message.contains("50 fewer than the 100"),
            "{}",
            t[1].message
        );
        // A few leavers pass.
        assert!(run(&csv(0..95), 100, 100, Some(100)).is_empty());
        // Small targets: up to the floor passes whatever the percentage.
        assert!(run(&csv(0..5), 10, 10, None).is_empty());
        assert_eq!(run(&csv(0..4), 10, 10, None)[0].gate, "mass_deprovision");
    }

    #[test]
    fn duplicates_empty_required_and_invalid_rows() {
        let t = run(
            "externalId,userName,active\nE1,a,true\nE1,b,true\nE2,,true\nE3,c,maybe\n",
            0,
            0,
            None,
        );
        let gates: Vec<&str> = t.iter().map(|t| t.gate.as_str()).collect();
        assert_eq!(
            gates,
            ["empty_required", "duplicate_keys", "invalid_rows"],
            "{t:?}"
        );
        assert!(
            t[0].message.contains("userName is empty in 1 of 4 rows"),
            "{}",
            t[0].message
        );
        assert!(t[1].message.contains("E1 (rows 1, 2)"), "{}", t[1].message);
        assert!(
            t[2].message.contains("row 4") && t[2].message.contains("maybe"),
            "{}",
            t[2].message
        );
    }
}
