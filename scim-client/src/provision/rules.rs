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

/// A person's facts: key → value (keys compared case-insensitively). Kept as a short list:
/// a person has a handful of facts, and the engine holds one set per person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts(Vec<(Box<str>, Box<str>)>);

impl Facts {
    /// Adds a fact, keeping the first value for a key.
    pub fn add(&mut self, key: &str, value: &str) {
        if self.get(key).is_none() {
            self.0
                .push((key.to_ascii_lowercase().into_boxed_str(), Box::from(value)));
        }
    }
    /// Sets a fact, replacing its value.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.0.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
            Some((_, v)) => *v = Box::from(value),
            None => self.add(key, value),
        }
    }
    /// The value of a fact.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| &**v)
    }
    /// Every fact (keys in lower case), in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }
    /// Releases spare capacity (the engine holds one set per person).
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
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
