//! The storage contract: the `Store` trait's behaviour, checked directly on every backend.

use std::sync::Arc;

use scim_core::{Context, Filter, JsonMap, SchemaRegistry};
use scim_server::store::{
    Load, MemberChange, MemberRow, NewToken, Query, Store, StoreError, Update,
};
use scim_server::SqlStore;
use serde_json::json;

use crate::support::{postgres_url, Backend, TempDir};

async fn open(backend: Backend) -> Option<(Arc<SqlStore>, Option<TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = TempDir::new();
            let url = format!("sqlite://{}", dir.0.join("c.db").display());
            Some((Arc::new(SqlStore::connect(&url).await.unwrap()), Some(dir)))
        }
        Backend::Postgres => Some((
            Arc::new(SqlStore::connect(&postgres_url()?).await.unwrap()),
            None,
        )),
    }
}

fn data(v: serde_json::Value) -> JsonMap {
    v.as_object().unwrap().clone()
}

fn row(id: &str) -> MemberRow {
    MemberRow {
        value: id.to_string(),
        kind: None,
        display: None,
    }
}

async fn contract(backend: Backend) {
    let Some((store, _dir)) = open(backend).await else {
        return;
    };
    let reg = SchemaRegistry::builtin();
    let users = Context::new(reg, "User").unwrap();
    let groups = Context::new(reg, "Group").unwrap();
    let t = format!("contract-{}", uuid::Uuid::new_v4());
    let other = format!("contract-other-{}", uuid::Uuid::new_v4());

    let a = store
        .create(
            &t,
            &users,
            data(json!({"userName": "a", "schemas": []})),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(a.version, 1);
    assert!(a.created.ends_with('Z') && a.created.len() == "2026-01-01T00:00:00.000000Z".len());
    let b = store
        .create(&t, &users, data(json!({"userName": "b"})), vec![])
        .await
        .unwrap();
    // Uniqueness of userName is per tenant and case-insensitive.
    assert!(matches!(
        store
            .create(&t, &users, data(json!({"userName": "A"})), vec![])
            .await,
        Err(StoreError::Uniqueness(_))
    ));
    store
        .create(&other, &users, data(json!({"userName": "a"})), vec![])
        .await
        .unwrap();
    // Tenants do not see each other.
    assert!(matches!(
        store.get(&other, &users, &a.id, Load::default()).await,
        Err(StoreError::NotFound)
    ));
    // Group with members; unknown or foreign members are refused.
    let g = store
        .create(
            &t,
            &groups,
            data(json!({"displayName": "G"})),
            vec![row(&a.id)],
        )
        .await
        .unwrap();
    assert_eq!(g.members.as_ref().unwrap().len(), 1);
    assert_eq!(g.members.as_ref().unwrap()[0].kind.as_deref(), Some("User"));
    let foreign = store
        .create(&other, &users, data(json!({"userName": "f"})), vec![])
        .await
        .unwrap();
    let err = store
        .update(
            &t,
            &groups,
            &g.id,
            Update {
                member_changes: vec![MemberChange::Add(vec![row(&foreign.id)])],
                ..Update::default()
            },
        )
        .await;
    assert!(matches!(err, Err(StoreError::Invalid(_))));
    // Member changes bump the version once, commute, and are idempotent.
    let g2 = store
        .update(
            &t,
            &groups,
            &g.id,
            Update {
                member_changes: vec![
                    MemberChange::Add(vec![row(&b.id), row(&a.id)]),
                    MemberChange::Remove(vec!["nobody".into()]),
                ],
                load: Load {
                    members: true,
                    groups: false,
                },
                ..Update::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(g2.version, 2);
    assert_eq!(g2.members.unwrap().len(), 2);
    let same = store
        .update(
            &t,
            &groups,
            &g.id,
            Update {
                member_changes: vec![MemberChange::Add(vec![row(&b.id)])],
                ..Update::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(same.version, 2, "a no-op change keeps the version");
    // Version checks.
    let stale = store
        .update(
            &t,
            &users,
            &a.id,
            Update {
                expected_version: Some(7),
                data: Some(data(json!({"userName": "a2"}))),
                ..Update::default()
            },
        )
        .await;
    assert!(matches!(stale, Err(StoreError::VersionMismatch)));
    let a2 = store
        .update(
            &t,
            &users,
            &a.id,
            Update {
                expected_version: Some(1),
                data: Some(data(json!({"userName": "a2"}))),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(a2.version, 2);
    assert!(matches!(
        store.delete(&t, &users, &a.id, Some(1)).await,
        Err(StoreError::VersionMismatch)
    ));
    // A user's groups are derived.
    let bu = store
        .get(
            &t,
            &users,
            &b.id,
            Load {
                members: false,
                groups: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(bu.groups.unwrap()[0].display.as_deref(), Some("G"));
    // Queries filter, count and page in the database.
    let q = Query {
        filter: Some(Filter::parse("userName sw \"A\"").unwrap()),
        limit: 10,
        ..Query::default()
    };
    let (items, total) = store.query(&t, &users, &q).await.unwrap();
    assert_eq!((items.len(), total), (1, 1));
    let q = Query {
        limit: 0,
        ..Query::default()
    };
    assert_eq!(store.query(&t, &users, &q).await.unwrap(), (vec![], 2));
    let q = Query {
        limit: 1,
        offset: 1,
        ..Query::default()
    };
    let (items, total) = store.query(&t, &users, &q).await.unwrap();
    assert_eq!((items.len(), total), (1, 2));
    // Deleting a user removes its memberships; deleting frees the userName.
    store.delete(&t, &users, &a.id, None).await.unwrap();
    let g3 = store
        .get(
            &t,
            &groups,
            &g.id,
            Load {
                members: true,
                groups: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(g3.members.unwrap().len(), 1);
    assert!(matches!(
        store.delete(&t, &users, &a.id, None).await,
        Err(StoreError::NotFound)
    ));
    store
        .create(&t, &users, data(json!({"userName": "a2"})), vec![])
        .await
        .unwrap();
    // Tokens.
    let h = scim_server::auth::hash_token(&uuid::Uuid::new_v4().to_string());
    store
        .add_token(NewToken {
            hash: &h,
            tenant: &t,
            label: "test",
            source: "cli",
            read_only: true,
        })
        .await
        .unwrap();
    let info = store.token_lookup(&h).await.unwrap().unwrap();
    assert_eq!(info.tenant, t);
    assert!(info.read_only);
    assert_eq!(info.id, h[..12]);
    assert!(info.last_used.is_none());
    store.touch_token(&h).await.unwrap();
    assert!(store
        .token_lookup(&h)
        .await
        .unwrap()
        .unwrap()
        .last_used
        .is_some());
    assert!(store.has_tokens().await.unwrap());
    assert_eq!(store.token_lookup("nope").await.unwrap(), None);
    assert!(store
        .list_tokens()
        .await
        .unwrap()
        .iter()
        .any(|i| i.id == h[..12]));
    assert!(matches!(
        store.revoke_token("abc").await,
        Err(StoreError::Invalid(_))
    ));
    let gone = store.revoke_token(&h[..12]).await.unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(store.token_lookup(&h).await.unwrap(), None);
    // Config-file tokens not listed any more are removed; others stay.
    let (c1, c2) = (
        scim_server::auth::hash_token(&uuid::Uuid::new_v4().to_string()),
        scim_server::auth::hash_token(&uuid::Uuid::new_v4().to_string()),
    );
    for c in [&c1, &c2] {
        store
            .add_token(NewToken {
                hash: c,
                tenant: &t,
                label: "config",
                source: "config",
                read_only: false,
            })
            .await
            .unwrap();
    }
    // (No other test stores config-file tokens, so retaining is safe on the shared database.)
    store
        .retain_config_tokens(&[c1.clone(), c2.clone()])
        .await
        .unwrap();
    assert!(store.token_lookup(&c1).await.unwrap().is_some());
    assert!(store.token_lookup(&c2).await.unwrap().is_some());
    store
        .retain_config_tokens(std::slice::from_ref(&c1))
        .await
        .unwrap();
    assert!(store.token_lookup(&c1).await.unwrap().is_some());
    assert_eq!(store.token_lookup(&c2).await.unwrap(), None);
    store.revoke_token(&c1[..16]).await.unwrap();
}

#[tokio::test]
async fn contract_sqlite() {
    contract(Backend::Sqlite).await
}

#[tokio::test]
async fn contract_postgres() {
    contract(Backend::Postgres).await
}

#[tokio::test]
async fn in_memory_sqlite_and_bad_urls() {
    let s = SqlStore::connect("sqlite::memory:").await.unwrap();
    assert!(!s.has_tokens().await.unwrap());
    assert!(SqlStore::connect("mysql://x").await.is_err());
}

/// Concurrent writes share transactions (group commit on SQLite): a failing write in a batch
/// leaves no trace and affects no other write; concurrent changes of one resource are all kept.
async fn concurrent_writes(backend: Backend) {
    let Some((store, _dir)) = open(backend).await else {
        return;
    };
    let reg = SchemaRegistry::default();
    let users = Context::new(&reg, "User").unwrap();
    let groups = Context::new(&reg, "Group").unwrap();
    let t = format!("t-{}", uuid::Uuid::new_v4());
    let t = t.as_str();
    let reg = &reg;
    // 150 creates at once; every third repeats the userName of the one before it.
    let results = futures::future::join_all((0..150).map(|i| {
        let store = store.clone();
        async move {
            let users = Context::new(reg, "User").unwrap();
            let name = if i % 3 == 2 { i - 1 } else { i };
            store
                .create(
                    t,
                    &users,
                    data(json!({"userName": format!("u{name}"), "title": format!("t{i}")})),
                    vec![],
                )
                .await
        }
    }))
    .await;
    let (ok, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.is_ok());
    assert_eq!(ok.len(), 100);
    assert!(failed
        .iter()
        .all(|r| matches!(r, Err(StoreError::Uniqueness(_)))));
    let q = Query {
        limit: 200,
        ..Query::default()
    };
    let (page, total) = store.query(t, &users, &q).await.unwrap();
    assert_eq!((page.len(), total), (100, 100));
    // One user per userName, holding the title of one of the creates that used it; the other
    // create of a pair left no index row: a lookup by its title finds nothing.
    let stored: std::collections::BTreeMap<String, String> = page
        .iter()
        .map(|r| {
            (
                r.data["userName"].as_str().unwrap().to_string(),
                r.data["title"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(stored.len(), 100);
    for i in (0..150).filter(|i| i % 3 != 2) {
        let tried: Vec<String> = if i % 3 == 1 {
            vec![format!("t{i}"), format!("t{}", i + 1)]
        } else {
            vec![format!("t{i}")]
        };
        let got = &stored[&format!("u{i}")];
        assert!(tried.contains(got), "u{i} holds {got}");
        for lost in tried.iter().filter(|t| *t != got) {
            let q = Query {
                filter: Some(Filter::parse(&format!("title eq \"{lost}\"")).unwrap()),
                limit: 10,
                ..Query::default()
            };
            assert_eq!(store.query(t, &users, &q).await.unwrap().1, 0, "{lost}");
        }
    }
    // 100 concurrent member additions to one group: none is lost, none is refused, each bumps
    // the version.
    let g = store
        .create(t, &groups, data(json!({"displayName": "g"})), vec![])
        .await
        .unwrap();
    let ids: Vec<String> = page.iter().take(100).map(|r| r.id.clone()).collect();
    futures::future::join_all(ids.iter().map(|id| {
        let store = store.clone();
        let gid = g.id.clone();
        async move {
            let groups = Context::new(reg, "Group").unwrap();
            store
                .update(
                    t,
                    &groups,
                    &gid,
                    Update {
                        member_changes: vec![MemberChange::Add(vec![row(id)])],
                        ..Update::default()
                    },
                )
                .await
                .unwrap();
        }
    }))
    .await;
    let after = store
        .get(
            t,
            &groups,
            &g.id,
            Load {
                members: true,
                groups: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(after.members.unwrap().len(), 100);
    assert_eq!(after.version, 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_sqlite() {
    concurrent_writes(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_postgres() {
    concurrent_writes(Backend::Postgres).await
}
