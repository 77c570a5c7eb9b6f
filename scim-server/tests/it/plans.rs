//! Query plans of the statements that serve lookups: every filter identity providers send is an
//! index seek on both backends, never a scan of the tenant's resources (SQLite `EXPLAIN QUERY
//! PLAN`; PostgreSQL `EXPLAIN` with sequential scans disabled, so a plan that still scans had no
//! index it could use).

use scim_core::{AttrPath, Context, Filter, JsonMap, SchemaRegistry};
use scim_server::store::{MemberRow, Query, Store};
use scim_server::SqlStore;
use serde_json::json;

use crate::support::{postgres_url, Backend, TempDir};

fn data(v: serde_json::Value) -> JsonMap {
    v.as_object().unwrap().clone()
}

/// Why a plan line shows a scan, if it does.
fn scan(backend: Backend, plan: &[String]) -> Option<String> {
    let lines = plan.join("\n");
    match backend {
        Backend::Sqlite => {
            for l in plan {
                let l = l.trim();
                // (A value filter's array of the one resource a seek found is read by
                // `json_each`, a virtual table; `seeksN` is a union of seeks: neither is a scan
                // of the resources.)
                if l.starts_with("SCAN ")
                    && l != "SCAN CONSTANT ROW"
                    && !l.contains(" VIRTUAL TABLE ")
                    && !l.starts_with("SCAN seeks")
                {
                    return Some(format!("{l:?} in\n{lines}"));
                }
                // The primary key's prefix alone is every resource of the tenant.
                if l.starts_with("SEARCH r ") && l.ends_with("(tenant=? AND resource_type=?)") {
                    return Some(format!("{l:?} in\n{lines}"));
                }
            }
        }
        Backend::Postgres => {
            for (i, l) in plan.iter().enumerate() {
                if l.contains("Seq Scan") {
                    return Some(format!("{l:?} in\n{lines}"));
                }
                // A scan node of scim_resources must seek by id or lastModified: its own
                // conditions (and those of its children: a bitmap index scan) say so.
                if l.contains(" on scim_resources r") {
                    let indent = l.len() - l.trim_start().len();
                    let block: Vec<&String> = plan[i + 1..]
                        .iter()
                        .take_while(|c| {
                            let ci = c.len() - c.trim_start().len();
                            !(c.trim_start().starts_with("->") && ci <= indent)
                        })
                        .collect();
                    let seeks = block.iter().any(|c| {
                        c.contains("Index Cond:")
                            && (c.contains("(id = ") || c.contains("last_modified"))
                    });
                    if !seeks {
                        return Some(format!("{l:?} in\n{lines}"));
                    }
                }
            }
        }
    }
    None
}

fn member(id: &str) -> MemberRow {
    MemberRow {
        value: id.to_string(),
        kind: None,
        display: None,
    }
}

async fn open(backend: Backend) -> Option<(SqlStore, Option<TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = TempDir::new();
            let url = format!("sqlite://{}", dir.0.join("p.db").display());
            Some((SqlStore::connect(&url).await.unwrap(), Some(dir)))
        }
        Backend::Postgres => Some((SqlStore::connect(&postgres_url()?).await.unwrap(), None)),
    }
}

async fn plans(backend: Backend) {
    let Some((store, _dir)) = open(backend).await else {
        return;
    };
    let reg = SchemaRegistry::builtin();
    let users = Context::new(reg, "User").unwrap();
    let groups = Context::new(reg, "Group").unwrap();
    let t = format!("plans-{}", uuid::Uuid::new_v4());
    let mut ids = Vec::new();
    // Enough rows, with statistics, for PostgreSQL's planner to choose as it would in
    // production (on a handful of rows every plan costs the same).
    for i in 0..600 {
        let u = store
            .create(
                &t,
                &users,
                data(json!({
                    "userName": format!("user{i}@example.com"),
                    "externalId": format!("ext-{i}"),
                    "active": true,
                    "emails": [{"value": format!("user{i}@example.com"), "type": "work"}],
                    "name": {"familyName": format!("Family{i}")},
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": format!("{i}")}
                })),
                vec![],
            )
            .await
            .unwrap();
        ids.push(u.id);
    }
    let g = store
        .create(
            &t,
            &groups,
            data(json!({"displayName": "Engineering", "externalId": "g-1"})),
            vec![member(&ids[0]), member(&ids[1])],
        )
        .await
        .unwrap();

    for i in 0..200 {
        store
            .create(
                &t,
                &groups,
                data(json!({"displayName": format!("Team {i}")})),
                vec![],
            )
            .await
            .unwrap();
    }
    store.analyze().await.unwrap();
    let many_ids = ids
        .iter()
        .cycle()
        .take(10)
        .map(|i| format!("id eq \"{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let user_filters = vec![
        format!("id eq \"{}\"", ids[0]),
        "userName eq \"user1@example.com\"".to_string(),
        "USERNAME eq \"User1@Example.com\"".to_string(),
        "userName sw \"user1\"".to_string(),
        "externalId eq \"ext-1\"".to_string(),
        "emails.value eq \"user2@example.com\"".to_string(),
        "emails eq \"user2@example.com\"".to_string(),
        "emails.value sw \"user2\"".to_string(),
        "name.familyName eq \"Family3\"".to_string(),
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"4\""
            .to_string(),
        // A delta sync: what changed since the last run (nothing yet).
        "meta.lastModified gt \"2099-01-01T00:00:00Z\"".to_string(),
        "meta.lastModified ge \"2099-01-01T00:00:00Z\" and meta.lastModified lt \"2099-01-02T00:00:00Z\"".to_string(),
        format!("groups.value eq \"{}\"", g.id),
        "userName eq \"user1@example.com\" or userName eq \"user2@example.com\"".to_string(),
        "userName eq \"user1@example.com\" and active eq true".to_string(),
        format!("id eq \"{}\" and userName eq \"user0@example.com\"", ids[0]),
        format!("id eq \"{}\" or userName eq \"user5@example.com\"", ids[0]),
        "externalId eq \"ext-1\" and (emails.value eq \"x\" or name.familyName sw \"fam\")"
            .to_string(),
        many_ids,
        // Value filters seek through the attribute they filter.
        "emails[value eq \"user2@example.com\"]".to_string(),
        "emails[type eq \"work\" and value eq \"user2@example.com\"]".to_string(),
        "emails[value eq \"user2@example.com\" or value sw \"user3\"]".to_string(),
        // Longer than one compound SELECT may be on SQLite (500 terms): unions of unions.
        (0..420)
            .map(|i| format!("userName eq \"user{i}@example.com\""))
            .collect::<Vec<_>>()
            .join(" or "),
        (0..450)
            .map(|i| format!("emails[value eq \"user{i}@\"]"))
            .chain(["emails[value eq \"user7@example.com\"]".to_string()])
            .collect::<Vec<_>>()
            .join(" or "),
    ];
    let group_filters = vec![
        format!("members[value eq \"{}\"]", ids[0]),
        "displayName eq \"engineering\"".to_string(),
        "displayName sw \"Eng\"".to_string(),
        "externalId eq \"g-1\"".to_string(),
        format!("members.value eq \"{}\"", ids[0]),
        format!("members eq \"{}\"", ids[0]),
        format!(
            "displayName eq \"Engineering\" and members.value eq \"{}\"",
            ids[0]
        ),
    ];
    // A filter that parses is never refused by the SQL translation: 200 `or` terms.
    let long = ids
        .iter()
        .take(200)
        .map(|i| format!("id eq \"{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let q = Query {
        filter: Some(Filter::parse(&long).unwrap()),
        limit: 1000,
        ..Query::default()
    };
    let (found, total) = store.query(&t, &users, &q).await.unwrap();
    assert_eq!((found.len(), total), (200, 200));
    let long_names = (0..300)
        .map(|i| format!("userName eq \"user{i}@example.com\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let q = Query {
        filter: Some(Filter::parse(&long_names).unwrap()),
        limit: 1000,
        ..Query::default()
    };
    let (found, total) = store.query(&t, &users, &q).await.unwrap();
    assert_eq!((found.len(), total), (300, 300));
    // The parser's limit of terms, all value filters: an access path of unions, not a scan.
    let most = (0..scim_core::filter::MAX_TERMS)
        .map(|i| match i {
            0..100 => format!("emails[value eq \"user{i}@example.com\"]"),
            _ => format!("emails[value eq \"x{i}\"]"),
        })
        .collect::<Vec<_>>()
        .join(" or ");
    let q = Query {
        filter: Some(Filter::parse(&most).unwrap()),
        limit: 1000,
        ..Query::default()
    };
    let (found, total) = store.query(&t, &users, &q).await.unwrap();
    assert_eq!((found.len(), total), (100, 100));

    let mut failures = Vec::new();
    for (ctx, filters) in [(&users, &user_filters), (&groups, &group_filters)] {
        for f in filters {
            let q = Query {
                filter: Some(Filter::parse(f).unwrap()),
                limit: 100,
                base_url: "http://localhost/scim/v2".into(),
                ..Query::default()
            };
            let plan = store.explain(&t, ctx, &q).await.unwrap();
            if let Some(why) = scan(backend, &plan) {
                failures.push(format!("{f}: {why}"));
            }
            // The seek answers the same as before: the filter still finds what it should.
            let (found, total) = store.query(&t, ctx, &q).await.unwrap();
            if !f.contains("2099") {
                assert!(total >= 1 && !found.is_empty(), "{f} found nothing");
            }
        }
    }
    // `co` beside another seek: never two id arrays in one condition (PostgreSQL 15 checks
    // the second element by element for every row the first finds: 60 s at 170,000 users).
    let q = Query {
        filter: Some(
            Filter::parse(r#"emails.type eq "work" and name.familyName co "amily1""#).unwrap(),
        ),
        limit: 100,
        base_url: "http://localhost/scim/v2".into(),
        ..Query::default()
    };
    let plan = store.explain(&t, &users, &q).await.unwrap();
    if plan.iter().any(|l| l.matches("= ANY").count() > 1) {
        failures.push(format!(
            "two id arrays in one condition: {}",
            plan.join("\n")
        ));
    }
    let (found, total) = store.query(&t, &users, &q).await.unwrap();
    assert_eq!((found.len(), total), (100, 111));
    // An unfiltered page reads the page in key order: no sort of every row.
    let page = Query {
        limit: 100,
        offset: 5,
        base_url: "http://localhost/scim/v2".into(),
        ..Query::default()
    };
    let plan = store.explain(&t, &users, &page).await.unwrap();
    if plan
        .iter()
        .any(|l| l.contains("TEMP B-TREE") || l.contains("Sort") || l.contains("Seq Scan"))
    {
        failures.push(format!(
            "unfiltered page sorts or scans: {}",
            plan.join("\n")
        ));
    }
    let sorted = Query {
        sort_by: Some(AttrPath::parse("meta.lastModified").unwrap()),
        ..page.clone()
    };
    let _ = store.explain(&t, &users, &sorted).await.unwrap();
    assert!(
        failures.is_empty(),
        "{} plans scan:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    store.close().await;
}

#[tokio::test]
async fn lookups_are_index_seeks_sqlite() {
    plans(Backend::Sqlite).await;
}

#[tokio::test]
async fn lookups_are_index_seeks_postgres() {
    plans(Backend::Postgres).await;
}
