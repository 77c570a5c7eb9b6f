//! Role-based access: rules grant groups, roles and entitlements from a person's attributes.
//!
//! A rule's `when` keys name a person's *facts*: the SCIM attribute paths the mapping produced
//! (`title`, `urn:…:enterprise:2.0:User:department`), their last path segment (`department`)
//! and the raw source columns (`location`, `employment_status`). Every key must match (values
//! compared case-insensitively, `*` a wildcard, a list means any of). Explicit `groups` from the
//! source add to what the rules grant. Every grant keeps its reason for `scim explain`.

use serde::{Deserialize, Serialize};

use super::mapping::{glob_eq, Mapping};

/// What was granted and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// `group`, `role` or `entitlement`.
    pub kind: GrantKind,
    /// The group key, role or entitlement value.
    pub value: String,
    /// Why: `rule engineering (department = "Engineering")` or `source column groups`.
    pub reason: String,
}

/// The kinds of access a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantKind {
    /// Group membership.
    Group,
    /// A `roles` value.
    Role,
    /// An `entitlements` value.
    Entitlement,
}

/// A person's facts: key → value (keys compared case-insensitively). Kept in one string with
/// the ends of its keys and values: a person has a handful of facts, and the engine holds one
/// set per person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Key, value, key, value, … (keys in lower case), one after another.
    text: String,
    /// End of each key and value in `text`.
    ends: Vec<u32>,
}

impl Facts {
    /// Adds a fact, keeping the first value for a key.
    pub fn add(&mut self, key: &str, value: &str) {
        if self.get(key).is_none() && self.text.len() + key.len() + value.len() <= u32::MAX as usize
        {
            self.text.push_str(&key.to_ascii_lowercase());
            self.ends.push(self.text.len() as u32);
            self.text.push_str(value);
            self.ends.push(self.text.len() as u32);
        }
    }
    /// Sets a fact, replacing its value.
    pub fn set(&mut self, key: &str, value: &str) {
        let kept: Vec<(String, String)> = self
            .iter()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case(key) {
                    value
                } else {
                    v
                };
                (k.to_string(), v.to_string())
            })
            .collect();
        let had = kept.iter().any(|(k, _)| k.eq_ignore_ascii_case(key));
        *self = Facts::default();
        for (k, v) in &kept {
            self.add(k, v);
        }
        if !had {
            self.add(key, value);
        }
    }
    /// The value of a fact.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }
    /// Every fact (keys in lower case), in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.ends.chunks_exact(2).scan(0usize, move |start, e| {
            let (k, v) = (e[0] as usize, e[1] as usize);
            let pair = (
                self.text.get(*start..k).unwrap_or_default(),
                self.text.get(k..v).unwrap_or_default(),
            );
            *start = v;
            Some(pair)
        })
    }
    /// Releases spare capacity (the engine holds one set per person).
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

/// Evaluates every rule against `facts`; returns the grants in rule order.
pub fn evaluate(mapping: &Mapping, facts: &Facts) -> Vec<Grant> {
    let mut out = Vec::new();
    for rule in &mapping.rules {
        let mut why = Vec::new();
        let holds = rule.when.iter().all(|(key, want)| {
            let have = facts.get(key).unwrap_or_default();
            let ok = want.values().iter().any(|w| glob_eq(w, have));
            if ok {
                why.push(format!("{key} = {have:?}"));
            }
            ok
        });
        if !holds {
            continue;
        }
        let reason = if why.is_empty() {
            format!("rule {} (everyone)", rule.name)
        } else {
            format!("rule {} ({})", rule.name, why.join(", "))
        };
        for g in &rule.groups {
            out.push(Grant {
                kind: GrantKind::Group,
                value: mapping.group_key(g),
                reason: reason.clone(),
            });
        }
        for r in &rule.roles {
            out.push(Grant {
                kind: GrantKind::Role,
                value: r.clone(),
                reason: reason.clone(),
            });
        }
        for e in &rule.entitlements {
            out.push(Grant {
                kind: GrantKind::Entitlement,
                value: e.clone(),
                reason: reason.clone(),
            });
        }
    }
    out.shrink_to_fit();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_grant_with_reasons_and_wildcards() {
        let m = Mapping::parse(
            r#"
[[rules]]
name = "engineering"
when = { department = "Engineering" }
groups = ["eng", "github-users"]
roles = ["developer"]

[[rules]]
name = "managers"
when = { title = "*manager*", location = ["Berlin", "Paris"] }
groups = ["managers"]

[[rules]]
name = "all"
groups = ["everyone"]
entitlements = ["wifi"]
"#,
        )
        .unwrap();
        let mut f = Facts::default();
        f.add("department", "engineering");
        f.add("title", "Engineering Manager");
        f.add("location", "Berlin");
        let g = evaluate(&m, &f);
        let groups: Vec<_> = g
            .iter()
            .filter(|g| g.kind == GrantKind::Group)
            .map(|g| g.value.as_str())
            .collect();
        assert_eq!(groups, ["eng", "github-users", "managers", "everyone"]);
        assert!(g[0].reason.contains("rule engineering"), "{}", g[0].reason);
        assert!(g
            .iter()
            .any(|g| g.kind == GrantKind::Role && g.value == "developer"));
        assert!(g
            .iter()
            .any(|g| g.kind == GrantKind::Entitlement && g.reason == "rule all (everyone)"));
        // Another location: the managers rule does not hold.
        let mut f2 = f.clone();
        f2.set("location", "Rome");
        assert!(!evaluate(&m, &f2).iter().any(|g| g.value == "managers"));
        // A missing fact never matches a non-empty value.
        assert_eq!(
            evaluate(&m, &Facts::default())
                .iter()
                .map(|g| g.value.as_str())
                .collect::<Vec<_>>(),
            ["everyone", "wifi"]
        );
    }
}
