//! The access review: who has access in a target, and what is wrong with it.
//!
//! Every account with its groups, roles and active state, and findings: orphans (no source
//! person owns the account), inactive accounts still in groups, people missing from the target,
//! and accounts whose groups differ from what the rules grant. Rendered as a table, CSV or JSON.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::desired::Desired;
use super::mapping::Mapping;
use super::plan::TargetSnapshot;
use super::state::Link;

/// One account.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditRow {
    /// Target id.
    pub id: String,
    /// `userName`.
    pub user_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// The source person who owns it.
    pub person: Option<String>,
    /// Active.
    pub active: bool,
    /// Group display names.
    pub groups: Vec<String>,
    /// `roles` values.
    pub roles: Vec<String>,
    /// Findings about this account (`orphan`, `inactive_in_groups`, `groups_differ: +eng -ops`).
    pub findings: Vec<String>,
}

/// The review.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// Target name.
    pub target: String,
    /// Accounts.
    pub accounts: Vec<AuditRow>,
    /// People the source says should have an account that the target lacks.
    pub missing: Vec<String>,
}

impl AuditReport {
    /// Findings in all.
    pub fn findings(&self) -> usize {
        self.accounts
            .iter()
            .map(|a| a.findings.len())
            .sum::<usize>()
            + self.missing.len()
    }
}

/// Reviews a target. With a desired state, people are matched and rule grants compared.
pub fn audit(
    target_name: &str,
    t: &TargetSnapshot,
    links: &[Link],
    desired: Option<&Desired>,
    mapping: &Mapping,
) -> AuditReport {
    let mut groups_of: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for g in &t.groups {
        let name = g
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for m in g
            .get("members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = m.get("value").and_then(Value::as_str) {
                groups_of.entry(id).or_default().insert(name.to_string());
            }
        }
    }
    let linked: HashMap<&str, &str> = links
        .iter()
        .filter(|l| l.kind == "user")
        .map(|l| (l.id.as_str(), l.key.as_str()))
        .collect();
    let people: BTreeMap<&str, &super::desired::Person> = desired
        .map(|d| d.people.iter().map(|p| (p.key.as_str(), p)).collect())
        .unwrap_or_default();
    let mut seen_people = BTreeSet::new();
    let mut accounts = Vec::new();
    for tu in &t.users {
        let map = tu.map();
        let u = &map;
        let id = u.get("id").and_then(Value::as_str).unwrap_or_default();
        let ext = u.get("externalId").and_then(Value::as_str);
        let person = linked
            .get(id)
            .copied()
            .or_else(|| ext.filter(|e| people.contains_key(e)));
        let active = u.get("active").and_then(Value::as_bool) != Some(false);
        let groups: Vec<String> = groups_of
            .get(id)
            .map(|g| g.iter().cloned().collect())
            .unwrap_or_default();
        let roles: Vec<String> = u
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get("value").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut findings = Vec::new();
        let owner = person.and_then(|k| people.get(k));
        if let Some(k) = person {
            seen_people.insert(k.to_string());
        }
        // With a source, an account is owned when its person is in it; without one, when the
        // engine linked it.
        if person.is_none() {
            findings.push("orphan".to_string());
        } else if desired.is_some() && owner.is_none() && active {
            // Linked, but the person left the source: the account should be deactivated.
            findings.push("leaver_still_active".to_string());
        }
        if !active && !groups.is_empty() {
            findings.push("inactive_in_groups".to_string());
        }
        if let Some(p) = owner {
            let want: BTreeSet<String> =
                if p.provisioned(&mapping.settings) && p.status == super::desired::Status::Active {
                    p.group_keys()
                        .into_iter()
                        .map(|k| mapping.group_display_name(k).to_string())
                        .collect()
                } else {
                    BTreeSet::new()
                };
            let have: BTreeSet<String> = groups.iter().cloned().collect();
            if want != have {
                let mut d: Vec<String> = want.difference(&have).map(|g| format!("+{g}")).collect();
                d.extend(have.difference(&want).map(|g| format!("-{g}")));
                findings.push(format!("groups_differ: {}", d.join(" ")));
            }
            if active != (p.status == super::desired::Status::Active) {
                findings.push(format!(
                    "active_differs: the source says {}",
                    if p.status == super::desired::Status::Active {
                        "active"
                    } else {
                        "inactive"
                    }
                ));
            }
        }
        accounts.push(AuditRow {
            id: id.to_string(),
            user_name: u
                .get("userName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            external_id: ext.map(str::to_string),
            person: person.map(str::to_string),
            active,
            groups,
            roles,
            findings,
        });
    }
    accounts.sort_by(|a, b| a.user_name.cmp(&b.user_name));
    let missing = people
        .values()
        .filter(|p| p.provisioned(&mapping.settings) && !seen_people.contains(&p.key))
        .map(|p| p.label())
        .collect();
    AuditReport {
        target: target_name.to_string(),
        accounts,
        missing,
    }
}

/// The review as CSV (one line per account; missing people as lines without an id).
pub fn to_csv(r: &AuditReport) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "target",
        "id",
        "userName",
        "externalId",
        "person",
        "active",
        "groups",
        "roles",
        "findings",
    ]);
    for a in &r.accounts {
        let _ = w.write_record([
            r.target.as_str(),
            &a.id,
            &a.user_name,
            a.external_id.as_deref().unwrap_or_default(),
            a.person.as_deref().unwrap_or_default(),
            if a.active { "true" } else { "false" },
            &a.groups.join(";"),
            &a.roles.join(";"),
            &a.findings.join(";"),
        ]);
    }
    for m in &r.missing {
        let _ = w.write_record([r.target.as_str(), "", "", "", m, "", "", "", "missing"]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The review as a table.
pub fn to_table(r: &AuditReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Access review of {}: {} accounts, {} findings",
        r.target,
        r.accounts.len(),
        r.findings()
    );
    let _ = writeln!(
        s,
        "{:<32} {:<10} {:<7} {:<40} FINDINGS",
        "USERNAME", "PERSON", "ACTIVE", "GROUPS"
    );
    for a in &r.accounts {
        let _ = writeln!(
            s,
            "{:<32} {:<10} {:<7} {:<40} {}",
            a.user_name,
            a.person.as_deref().unwrap_or("-"),
            a.active,
            a.groups.join(","),
            a.findings.join("; ")
        );
    }
    for m in &r.missing {
        let _ = writeln!(s, "{m:<32} missing from the target");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::plan::TargetUser;
    use crate::provision::source::parse_csv;
    use serde_json::json;

    #[test]
    fn flags_orphans_inactive_members_missing_people_and_group_differences() {
        let m = Mapping::parse(
            "[[rules]]\nname = \"e\"\nwhen = { department = \"Eng\" }\ngroups = [\"eng\"]\n",
        )
        .unwrap();
        let d = Desired::build(
            &parse_csv(
                b"externalId,userName,department\nE1,ada,Eng\nE2,bob,Eng\nE3,cy,Ops\n",
                "t",
            )
            .unwrap(),
            &m,
            "2026-01-01".parse().unwrap(),
        );
        let obj = |v: Value| v.as_object().unwrap().clone();
        let t = TargetSnapshot {
            users: vec![
                obj(json!({"id": "1", "externalId": "E1", "userName": "ada", "active": true})),
                obj(json!({"id": "2", "externalId": "E2", "userName": "bob", "active": false})),
                obj(
                    json!({"id": "9", "userName": "zed", "active": true, "roles": [{"value": "admin"}]}),
                ),
            ].into_iter().map(TargetUser::from).collect(),
            groups: vec![obj(
                json!({"id": "g", "displayName": "eng", "members": [{"value": "2"}, {"value": "9"}]}),
            )],
        };
        let r = audit("t", &t, &[], Some(&d), &m);
        let f: BTreeMap<&str, Vec<String>> = r
            .accounts
            .iter()
            .map(|a| (a.user_name.as_str(), a.findings.clone()))
            .collect();
        assert_eq!(f["ada"], ["groups_differ: +eng"]);
        assert_eq!(
            f["bob"],
            [
                "inactive_in_groups",
                "active_differs: the source says active"
            ]
        );
        assert_eq!(f["zed"], ["orphan"]);
        assert_eq!(r.missing, ["E3 (cy)"]);
        assert_eq!(r.findings(), 5);
        let csv = to_csv(&r);
        assert!(csv.contains("t,9,zed,,,true,eng,admin,orphan"), "{csv}");
        assert!(to_table(&r).contains("missing from the target"));
    }
}
