//! What the native PostgreSQL store adds: a bounded wait for a pooled connection (then
//! `StoreError::Busy`, answered `429`), counter shards for unfiltered totals that stay exact
//! under concurrent creates and deletes, and filters of many terms (a 200-term `or` chain of
//! `id eq`, on both backends).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use scim_core::{Context, JsonMap, SchemaRegistry};
use scim_server::store::{Load, MemberRow, Query, Store, StoreError};
use scim_server::SqlStore;
use serde_json::json;

use crate::support::postgres_url;

fn data(v: serde_json::Value) -> JsonMap {
    v.as_object().unwrap().clone()
}

fn member(id: &str) -> MemberRow {
    MemberRow {
        value: id.to_string(),
        kind: None,
        display: None,
    }
}

/// With every connection checked out, a request waits for the acquisition timeout and fails
/// with `Busy` (not a backend failure); the connection held inside an unfinished snapshot is
/// closed when its stream is dropped, and the pool serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_exhausted_is_busy() {
    let Some(url) = postgres_url() else {
        return;
    };
    let store = SqlStore::connect_postgres_with(&url, 1, Duration::from_millis(200))
        .await
        .unwrap()
        .with_member_page(1);
    let reg = SchemaRegistry::builtin();
    let users = Context::new(reg, "User").unwrap();
    let groups = Context::new(reg, "Group").unwrap();
    let t = format!("busy-{}", uuid::Uuid::new_v4());
    let a = store
        .create(&t, &users, data(json!({"userName": "a"})), vec![])
        .await
        .unwrap();
    let b = store
        .create(&t, &users, data(json!({"userName": "b"})), vec![])
        .await
        .unwrap();
    let g = store
        .create(
            &t,
            &groups,
            data(json!({"displayName": "g"})),
            vec![member(&a.id), member(&b.id)],
        )
        .await
        .unwrap();
    assert_eq!(store.pool_stats(), vec![("postgres", 1, 1)]);
    // Pages of one member: the snapshot (and its connection) stays open after the first page.
    let (_, mut pages) = store
        .get_streaming(&t, &groups, &g.id, false)
        .await
        .unwrap();
    let first = pages.next().await.unwrap().unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(store.pool_stats(), vec![("postgres", 1, 0)]);
    let err = store
        .get(&t, &users, &a.id, Load::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Busy), "{err:?}");
    drop(pages);
    let again = store.get(&t, &users, &a.id, Load::default()).await.unwrap();
    assert_eq!(again.id, a.id);
    store.close().await;
}

/// Concurrent creates and deletes spread over the counter shards; the unfiltered total (their
/// sum) is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_shards_sum_under_concurrency() {
    let Some(url) = postgres_url() else {
        return;
    };
    let store = Arc::new(SqlStore::connect(&url).await.unwrap());
    let t = format!("shards-{}", uuid::Uuid::new_v4());
    let created = futures::future::join_all((0..64).map(|i| {
        let (store, t) = (store.clone(), t.clone());
        tokio::spawn(async move {
            let users = Context::new(SchemaRegistry::builtin(), "User").unwrap();
            store
                .create(
                    &t,
                    &users,
                    data(json!({"userName": format!("u{i}")})),
                    vec![],
                )
                .await
                .unwrap()
                .id
        })
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect::<Vec<_>>();
    futures::future::join_all(created.iter().take(20).map(|id| {
        let (store, t, id) = (store.clone(), t.clone(), id.clone());
        tokio::spawn(async move {
            let users = Context::new(SchemaRegistry::builtin(), "User").unwrap();
            store.delete(&t, &users, &id, None).await.unwrap();
        })
    }))
    .await
    .into_iter()
    .for_each(Result::unwrap);
    let users = Context::new(SchemaRegistry::builtin(), "User").unwrap();
    // A full page of 1: the total comes from the counter, not from the page.
    let q = Query {
        limit: 1,
        ..Query::default()
    };
    let (page, total) = store.query(&t, &users, &q).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(total, 44);
    // The writes went to more than one shard row, and the shards add up to the same total.
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT COUNT(*), SUM(n)::int8 FROM scim_counts WHERE tenant = $1 AND resource_type = 'User'",
            &[&t],
        )
        .await
        .unwrap();
    let (shards, sum): (i64, i64) = (row.get(0), row.get(1));
    assert!(shards > 1, "every write went to one shard");
    assert!(shards <= 16);
    assert_eq!(sum, 44);
}

// A filter of 200 `id eq` terms joined by `or` (what a client sends to fetch a batch of known
// ids) parses, so the database must answer it: the matching users, and nothing else.
crate::backends!(or_chain_of_200_ids, |s| {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(s.user(&format!("chain-{i}")).await);
    }
    let mut terms: Vec<String> = ids.iter().map(|id| format!("id eq \"{id}\"")).collect();
    while terms.len() < 200 {
        terms.push(format!("id eq \"{}\"", uuid::Uuid::new_v4()));
    }
    let filter = terms.join(" or ");
    let r = s
        .post(
            "/Users/.search",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": filter,
                "count": 50
            }),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], 5, "{}", r.body);
    let mut found: Vec<String> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    found.sort();
    ids.sort();
    assert_eq!(found, ids);
});

/// `create_many` (the PostgreSQL store pipelines the creates on one connection): a create
/// that fails (a taken userName) leaves no trace and does not affect the others, whose results
/// come in order; the unfiltered total counts exactly the ones created.
async fn create_many_isolates_failures(store: SqlStore) {
    let users = Context::new(SchemaRegistry::builtin(), "User").unwrap();
    let t = format!("many-{}", uuid::Uuid::new_v4());
    let items: Vec<_> = ["m0", "m1", "M0", "m2", "m1"]
        .iter()
        .map(|n| (data(json!({"userName": n})), vec![]))
        .collect();
    let results = store.create_many(&t, &users, items).await;
    assert_eq!(results.len(), 5);
    let names: Vec<Option<String>> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .ok()
                .map(|s| s.data["userName"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        names,
        vec![
            Some("m0".to_string()),
            Some("m1".to_string()),
            None,
            Some("m2".to_string()),
            None
        ]
    );
    for i in [2, 4] {
        assert!(
            matches!(results[i], Err(StoreError::Uniqueness(_))),
            "{:?}",
            results[i]
        );
    }
    let q = Query {
        limit: 0,
        ..Query::default()
    };
    let (_, total) = store.query(&t, &users, &q).await.unwrap();
    assert_eq!(total, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_many_isolates_failures_sqlite() {
    let dir = crate::support::TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("m.db").display());
    create_many_isolates_failures(SqlStore::connect(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_many_isolates_failures_postgres() {
    let Some(url) = postgres_url() else {
        return;
    };
    create_many_isolates_failures(SqlStore::connect(&url).await.unwrap()).await;
}
