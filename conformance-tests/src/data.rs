//! The shared data set of the query checks (filters, sorting, paging, cursors, projection,
//! search): five users and two groups with known attributes, created once per run under a
//! unique prefix and deleted at the end of the run. Every query a check sends is scoped to the
//! prefix (`userName sw "<prefix>-"`), so other data on the server never changes an answer.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::cx::{Cx, ENTERPRISE, GROUP, USER};
use crate::model::Stop;

/// The five users, in case-insensitive `userName` order.
pub const USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "Eve"];

/// The data set.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The prefix of every userName and displayName: `<run prefix>-<n>-ds`.
    pub prefix: String,
    /// Tag (`alice`) → id.
    pub ids: BTreeMap<String, String>,
    /// Tag → the server's answer to the POST.
    pub bodies: BTreeMap<String, Value>,
    /// The group with alice and bob.
    pub team: String,
    /// The group without members.
    pub empty: String,
    /// Whether the enterprise extension data was sent.
    pub enterprise: bool,
}

/// The attributes of a data set user by tag (without `schemas` and `userName`).
pub fn user_attrs(tag: &str, enterprise: bool) -> Value {
    let (given, family, title, active, user_type, emails, ext): (
        &str,
        &str,
        Option<&str>,
        bool,
        &str,
        Value,
        Option<Value>,
    ) = match tag {
        "alice" => (
            "Alice",
            "Zephyr",
            Some("Engineer"),
            true,
            "Employee",
            json!([
                {"value": "alice@work.example.com", "type": "work", "primary": true},
                {"value": "alice@home.example.org", "type": "home"}
            ]),
            Some(json!({"employeeNumber": "100", "department": "Engineering"})),
        ),
        "bob" => (
            "Bob",
            "Young",
            Some("Manager"),
            false,
            "Contractor",
            json!([
                {"value": "zz-bob@home.example.org", "type": "home"},
                {"value": "abe-bob@work.example.org", "type": "work", "primary": true}
            ]),
            Some(json!({"employeeNumber": "200", "department": "Sales"})),
        ),
        "carol" => (
            "Carol",
            "Xu",
            None,
            true,
            "Employee",
            json!([{"value": "carol@work.example.com", "type": "work"}]),
            None,
        ),
        "dave" => (
            "Dave",
            "Walker",
            Some("engineer"),
            true,
            "Employee",
            json!([
                {"value": "dave@work.example.net", "type": "work", "primary": true},
                {"value": "dave@home.example.com", "type": "home"}
            ]),
            Some(json!({"employeeNumber": "300", "department": "Engineering"})),
        ),
        _ => (
            "Eve",
            "Vance",
            Some("Chief \"Q\" Officer"),
            true,
            "Intern",
            Value::Null,
            None,
        ),
    };
    let mut v = json!({
        "name": {"givenName": given, "familyName": family, "formatted": format!("{given} {family}")},
        "displayName": format!("{given} {family}"),
        "active": active,
        "userType": user_type,
    });
    if let Some(t) = title {
        v["title"] = json!(t);
    }
    if !emails.is_null() {
        v["emails"] = emails;
    }
    if let (Some(e), true) = (ext, enterprise) {
        v[ENTERPRISE] = e;
        v["schemas"] = json!([USER, ENTERPRISE]);
    }
    v
}

impl Dataset {
    /// Creates the data set.
    pub(crate) async fn create(cx: &Cx) -> Result<Dataset, String> {
        let prefix = cx.name("ds");
        let enterprise = cx.caps().has(crate::model::Feature::EnterpriseUser);
        let mut ids = BTreeMap::new();
        let mut bodies = BTreeMap::new();
        let stop = |s: Stop| match s {
            Stop::Fail(m) | Stop::Skip(m) => m,
        };
        for tag in USERS {
            let mut body = json!({"schemas": [USER], "userName": format!("{prefix}-{tag}"), "externalId": format!("{prefix}-EXT-{tag}")});
            crate::cx::merge(&mut body, user_attrs(tag, enterprise));
            let r = cx.post("/Users", body).await.map_err(stop)?;
            if r.status != 201 {
                return Err(format!(
                    "POST /Users for {tag} answered {}: {}",
                    r.status, r.text
                ));
            }
            let id = r.id().map_err(stop)?;
            cx.keep_until_end(&format!("/Users/{id}"));
            ids.insert(tag.to_string(), id);
            bodies.insert(tag.to_string(), r.json);
        }
        let mut team = String::new();
        let mut empty = String::new();
        if cx.caps().has(crate::model::Feature::Groups) {
            for (tag, members) in [("team", vec!["alice", "bob"]), ("empty", vec![])] {
                let mut body =
                    json!({"schemas": [GROUP], "displayName": format!("{prefix}-{tag}")});
                if !members.is_empty() {
                    body["members"] =
                        Value::Array(members.iter().map(|m| json!({"value": ids[*m]})).collect());
                }
                let r = cx.post("/Groups", body).await.map_err(stop)?;
                if r.status != 201 {
                    return Err(format!(
                        "POST /Groups for {tag} answered {}: {}",
                        r.status, r.text
                    ));
                }
                let id = r.id().map_err(stop)?;
                cx.keep_until_end(&format!("/Groups/{id}"));
                if tag == "team" {
                    team = id;
                } else {
                    empty = id;
                }
            }
        }
        Ok(Dataset {
            prefix,
            ids,
            bodies,
            team,
            empty,
            enterprise,
        })
    }

    /// The filter that selects the data set's users: `userName sw "<prefix>-"`.
    pub fn scope(&self) -> String {
        format!("userName sw \"{}-\"", self.prefix)
    }

    /// `expr` restricted to the data set (parenthesised when it contains `or`).
    pub fn scoped(&self, expr: &str) -> String {
        if expr.to_ascii_lowercase().contains(" or ") {
            format!("({expr}) and {}", self.scope())
        } else {
            format!("{expr} and {}", self.scope())
        }
    }

    /// The tag of a user id of the data set.
    pub fn tag_of(&self, id: &str) -> Option<&str> {
        self.ids
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.as_str())
    }

    /// The tags of the data set users among these resources (others as `?<id>`), in order.
    pub fn tags(&self, resources: &[Value]) -> Vec<String> {
        resources
            .iter()
            .map(|r| {
                let id = r.get("id").and_then(Value::as_str).unwrap_or("");
                self.tag_of(id)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("?{id}"))
            })
            .collect()
    }

    /// The id of a user by tag.
    pub fn id(&self, tag: &str) -> &str {
        &self.ids[tag]
    }
}
