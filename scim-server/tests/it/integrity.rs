//! Referential integrity of members, kept by the database: deleting a user removes it from every
//! group and gives each of those groups a new version (ETag); a member add racing a delete of
//! that member never leaves the deleted user listed.

use std::sync::Arc;

use scim_core::{Context, Filter, JsonMap, SchemaRegistry};
use scim_server::store::{Load, MemberChange, MemberRow, Query, Store, StoreError, Update};
use scim_server::SqlStore;
use serde_json::json;

use crate::support::{postgres_url, Backend, TempDir};

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

async fn open(backend: Backend) -> Option<(Arc<SqlStore>, Option<TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = TempDir::new();
            let url = format!("sqlite://{}", dir.0.join("i.db").display());
            Some((Arc::new(SqlStore::connect(&url).await.unwrap()), Some(dir)))
        }
        Backend::Postgres => Some((
            Arc::new(SqlStore::connect(&postgres_url()?).await.unwrap()),
            None,
        )),
    }
}

async fn integrity(backend: Backend) {
    let Some((store, _dir)) = open(backend).await else {
        return;
    };
    let reg = SchemaRegistry::builtin();
    let users = Context::new(reg, "User").unwrap();
    let groups = Context::new(reg, "Group").unwrap();
    let t = format!("integrity-{}", uuid::Uuid::new_v4());

    // Deleting a member bumps the version of each group it leaves, and only of those.
    let u = store
        .create(&t, &users, data(json!({"userName": "leaver"})), vec![])
        .await
        .unwrap();
    let g1 = store
        .create(
            &t,
            &groups,
            data(json!({"displayName": "g1"})),
            vec![member(&u.id)],
        )
        .await
        .unwrap();
    let g2 = store
        .create(
            &t,
            &groups,
            data(json!({"displayName": "g2"})),
            vec![member(&u.id)],
        )
        .await
        .unwrap();
    let g3 = store
        .create(&t, &groups, data(json!({"displayName": "g3"})), vec![])
        .await
        .unwrap();
    store.delete(&t, &users, &u.id, None).await.unwrap();
    let load = Load {
        members: true,
        groups: false,
    };
    for (g, bumped) in [(&g1, true), (&g2, true), (&g3, false)] {
        let now = store.get(&t, &groups, &g.id, load).await.unwrap();
        assert_eq!(
            now.version,
            g.version + i64::from(bumped),
            "{}",
            g.data["displayName"]
        );
        assert_eq!(now.members, Some(vec![]));
    }
    // The deleted user is found by no member lookup.
    let q = Query {
        filter: Some(Filter::parse(&format!("members.value eq \"{}\"", u.id)).unwrap()),
        limit: 10,
        ..Query::default()
    };
    assert_eq!(store.query(&t, &groups, &q).await.unwrap().1, 0);
    // Its index rows are gone: the user name is free and not found.
    let q = Query {
        filter: Some(Filter::parse("userName eq \"leaver\"").unwrap()),
        limit: 10,
        ..Query::default()
    };
    assert_eq!(store.query(&t, &users, &q).await.unwrap().1, 0);

    // Races: add a user to a group while deleting that user, many times over.
    let g = store
        .create(&t, &groups, data(json!({"displayName": "race"})), vec![])
        .await
        .unwrap();
    for i in 0..40 {
        let u = store
            .create(
                &t,
                &users,
                data(json!({"userName": format!("racer{i}")})),
                vec![],
            )
            .await
            .unwrap();
        let (s1, s2) = (store.clone(), store.clone());
        let (t1, t2, gid, uid, uid2) = (
            t.clone(),
            t.clone(),
            g.id.clone(),
            u.id.clone(),
            u.id.clone(),
        );
        let add = tokio::spawn(async move {
            let ctx = Context::new(SchemaRegistry::builtin(), "Group").unwrap();
            let change = Update {
                member_changes: vec![MemberChange::Add(vec![member(&uid)])],
                ..Update::default()
            };
            s1.update(&t1, &ctx, &gid, change).await
        });
        let del = tokio::spawn(async move {
            let ctx = Context::new(SchemaRegistry::builtin(), "User").unwrap();
            s2.delete(&t2, &ctx, &uid2, None).await
        });
        let added = add.await.unwrap();
        del.await.unwrap().unwrap();
        // The add either happened first (and the delete removed it) or failed cleanly.
        match added {
            Ok(_) | Err(StoreError::Invalid(_)) => {}
            Err(e) => panic!("member add racing a delete failed with {e:?}"),
        }
        let now = store.get(&t, &groups, &g.id, load).await.unwrap();
        assert!(
            now.members
                .unwrap_or_default()
                .iter()
                .all(|m| m.value != u.id),
            "a deleted user is listed as a member (round {i})"
        );
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_follow_deletes_sqlite() {
    integrity(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_follow_deletes_postgres() {
    integrity(Backend::Postgres).await;
}

/// A token kept in the database that cannot be checked because the database is down is
/// answered `503` with `Retry-After`, not `401` (which identity providers read as "credential
/// revoked" and stop provisioning).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_check_failure_is_503_not_401() {
    use scim_server::{ScimState, Settings, TokenAuthenticator};
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("auth.db").display());
    let store = Arc::new(SqlStore::connect(&url).await.unwrap());
    store
        .add_token(scim_server::store::NewToken {
            hash: &scim_server::auth::hash_token("db-token"),
            tenant: "acme",
            label: "test",
            source: "cli",
            read_only: false,
        })
        .await
        .unwrap();
    let auth = Arc::new(TokenAuthenticator::new(&[], Some(store.clone())));
    let state = ScimState::new(store.clone(), auth, Settings::default());
    let app = scim_server::config::app(state, "/scim/v2", std::time::Duration::from_secs(30));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    let client = reqwest::Client::new();
    let get = |token: &'static str| {
        client
            .get(format!("http://{addr}/scim/v2/Users"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(get("db-token").await.unwrap().status(), 200);
    assert_eq!(get("wrong").await.unwrap().status(), 401);
    store.close().await;
    let r = get("db-token").await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "503");
    let _ = tx.send(());
    server.await.unwrap();
}
