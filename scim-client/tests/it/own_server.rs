//! Every operation against the project's own `scim-server` (SQLite in memory).

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use scim_client::{Client, ListQuery};
use scim_core::{Context, Filter, Group, PatchOp, PatchOperation, SearchRequest, SortOrder, User};
use scim_server::{ScimState, Settings, SqlStore, TokenAuthenticator};
use serde_json::{json, Value};

async fn server() -> (String, tokio::task::JoinHandle<()>) {
    let store = Arc::new(SqlStore::connect("sqlite::memory:").await.unwrap());
    let auth = Arc::new(TokenAuthenticator::new(&[("tok".into(), "t".into())], None));
    let state = ScimState::new(store, auth, Settings::default());
    let app = scim_server::config::app(state, "/scim/v2", Duration::from_secs(30));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let h = tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    (format!("http://{addr}/scim/v2"), h)
}

#[tokio::test]
async fn crud_list_search_patch_and_discovery() {
    let (base, h) = server().await;
    let c = Client::builder(&base).bearer_token("tok").build().unwrap();
    let mut u = User::new("alice@example.com");
    u.display_name = Some("Alice".into());
    let alice: User = c.create("Users", &u).await.unwrap();
    let id = alice.id.clone().unwrap();
    let got: User = c.get("Users", &id).await.unwrap();
    assert_eq!(got.user_name.as_deref(), Some("alice@example.com"));
    // Replace with If-Match.
    let version = got.meta.as_ref().and_then(|m| m.version.clone());
    let mut changed = got.clone();
    changed.title = Some("Engineer".into());
    let replaced: User = c
        .replace("Users", &id, &changed, version.as_deref())
        .await
        .unwrap();
    assert_eq!(replaced.title.as_deref(), Some("Engineer"));
    // A stale version is refused with 412.
    let e = c
        .replace("Users", &id, &changed, version.as_deref())
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(412));
    // PATCH with the builder; PATCH from a diff.
    let p = PatchOp::new(vec![PatchOperation::replace(Some("active"), json!(false))]);
    let after = c.patch("Users", &id, &p, None).await.unwrap().unwrap();
    assert_eq!(after["active"], false);
    let ctx = Context::user();
    let from = after.as_object().unwrap().clone();
    let mut to = from.clone();
    to.insert("nickName".into(), json!("Al"));
    let after = c
        .patch_diff(&ctx, &id, &from, &to)
        .await
        .unwrap()
        .into_resource()
        .unwrap();
    assert_eq!(after["nickName"], "Al");
    assert!(c
        .patch_diff(&ctx, &id, &to, &to)
        .await
        .unwrap()
        .is_unchanged());
    // Many users, listed with a filter escaped by the filter builder, index and cursor paging.
    for i in 0..25 {
        c.create::<User>("Users", &User::new(format!("u{i:02}\"quoted\"")))
            .await
            .unwrap();
    }
    let f = Filter::eq("userName", "u07\"quoted\"");
    let page = c
        .list::<User>("Users", &ListQuery::new().filter(f.clone()))
        .await
        .unwrap();
    assert_eq!(page.total_results, 1);
    let all: Vec<User> = c
        .list_all("Users", ListQuery::new().count(4))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 26);
    let by_cursor: Vec<Value> = c
        .list_all("Users", ListQuery::new().count(7).with_cursor())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_cursor.len(), 26);
    let sorted = c
        .list::<User>(
            "Users",
            &ListQuery::new()
                .sort("userName", SortOrder::Descending)
                .count(1),
        )
        .await
        .unwrap();
    assert_eq!(
        sorted.resources[0].user_name.as_deref(),
        Some("u24\"quoted\"")
    );
    let s = c
        .search::<Value>("Users", &SearchRequest::new().filter(f))
        .await
        .unwrap();
    assert_eq!(s.total_results, 1);
    // Groups.
    let g: Group = c.create("Groups", &Group::new("Eng")).await.unwrap();
    let gid = g.id.unwrap();
    let p = PatchOp::new(vec![PatchOperation::add(
        Some("members"),
        json!([{"value": id}]),
    )]);
    let g = c.patch("Groups", &gid, &p, None).await.unwrap().unwrap();
    assert_eq!(g["members"][0]["value"], id.as_str());
    // Errors keep the SCIM detail and type.
    let e = c
        .create("Users", &User::new("ALICE@example.com"))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(409));
    assert_eq!(e.scim_type().map(|t| t.as_str()), Some("uniqueness"));
    assert!(!e.is_retryable());
    // Delete; then 404.
    c.delete("Users", &id).await.unwrap();
    assert!(c
        .get::<User>("Users", &id)
        .await
        .unwrap_err()
        .is_not_found());
    // Discovery.
    let spc = c.service_provider_config().await.unwrap();
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(c.resource_types().await.unwrap().total_results, 2);
    assert!(c.schemas().await.unwrap().total_results >= 3);
    // Wrong token: 401 with the server's SCIM body.
    let bad = Client::builder(&base).bearer_token("nope").build().unwrap();
    let e = bad.get::<User>("Users", &id).await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    h.abort();
}

/// Bulk jobs are split into requests of the profile's `maxOperations`.
#[derive(Debug)]
struct TinyBulk;
impl scim_client::Profile for TinyBulk {
    fn bulk(&self) -> Option<scim_client::profile::BulkSupport> {
        scim_client::profile::GenericRfc.bulk().map(|mut b| {
            b.max_operations = 2;
            b
        })
    }
}

#[tokio::test]
async fn bulk_is_chunked_and_deactivation_is_soft() {
    let (base, h) = server().await;
    let c = Client::builder(&base)
        .bearer_token("tok")
        .profile(Arc::new(TinyBulk))
        .unwrap()
        .build()
        .unwrap();
    let ops: Vec<scim_core::BulkOperation> = (0..5)
        .map(|i| {
            serde_json::from_value(json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"),
                "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("bulk{i}")}}))
            .unwrap()
        })
        .collect();
    let results = c.bulk(ops, None).await.unwrap();
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(|r| r.status == 201));
    let page = c.list::<User>("Users", &ListQuery::new()).await.unwrap();
    assert_eq!(page.total_results, 5);
    let id = page.resources[0].id.clone().unwrap();
    c.deactivate_user(&id).await.unwrap();
    let u: User = c.get("Users", &id).await.unwrap();
    assert_eq!(u.active, Some(false));
    h.abort();
}

/// Discovery decides PATCH vs PUT and If-Match; a stale `from` is refused with 412.
#[tokio::test]
async fn update_uses_discovery_and_etags() {
    let (base, h) = server().await;
    let c = Client::builder(&base).bearer_token("tok").build().unwrap();
    let caps = c.discover().await.unwrap();
    assert!(caps.patch && caps.etag && caps.sort && caps.filter && caps.cursor);
    assert_eq!(caps.bulk_max_operations, Some(1000));
    let u: Value = c
        .create(
            "Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "d"}),
        )
        .await
        .unwrap();
    let id = u["id"].as_str().unwrap().to_string();
    let from = u.as_object().unwrap().clone();
    let mut to = from.clone();
    to.insert("title".into(), json!("CTO"));
    let ctx = Context::user();
    let after = c
        .update(&ctx, &id, &from, &to)
        .await
        .unwrap()
        .into_resource()
        .unwrap();
    assert_eq!(after["title"], "CTO");
    assert!(c.update(&ctx, &id, &to, &to).await.unwrap().is_unchanged());
    // `from` is now stale: its version no longer matches.
    let mut to2 = from.clone();
    to2.insert("title".into(), json!("CEO"));
    assert_eq!(
        c.update(&ctx, &id, &from, &to2).await.unwrap_err().status(),
        Some(412)
    );
    h.abort();
}
