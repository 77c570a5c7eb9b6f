//! Pages and reads with the default projection are written from each resource's stored rendered
//! form (src/store/body.rs); any other projection renders from the data. Both must give the
//! same resource.

use reqwest::Method;
use serde_json::{json, Value};

use crate::backends;

backends!(list_pages_equal_reads_by_id, |s| {
    let user = s
        .call(
            Method::POST,
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "userName": "Render.Me@example.com",
                "externalId": "ext-render",
                "password": "Secret-Pass-1",
                "name": {"familyName": "Me", "givenName": "Render"},
                "emails": [{"value": "render.me@example.com", "type": "work", "primary": true}],
                "active": true,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "employeeNumber": "42", "department": "Tests"
                }
            })),
        )
        .await;
    assert_eq!(user.status, 201, "{}", user.body);
    let uid = user.body["id"].as_str().unwrap().to_string();
    let group = s
        .call(
            Method::POST,
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Renderers",
                "members": [{"value": uid}]
            })),
        )
        .await;
    assert_eq!(group.status, 201, "{}", group.body);
    let gid = group.body["id"].as_str().unwrap().to_string();
    // A change goes through the stored form too.
    let patched = s
        .call(
            Method::PATCH,
            &format!("/Users/{uid}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": "Renderer"}]
            })),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);

    for (path, filter, id) in [
        ("/Users", "userName eq \"render.me@example.com\"", &uid),
        ("/Groups", "displayName eq \"Renderers\"", &gid),
    ] {
        // Rendered from the data (a projection other than the default: excluding an attribute
        // no schema has), and from the stored form.
        let by_id = s
            .call(
                Method::GET,
                &format!("{path}/{id}?excludedAttributes=notAnAttribute"),
                None,
            )
            .await;
        assert_eq!(by_id.status, 200);
        let stored_form = s.call(Method::GET, &format!("{path}/{id}"), None).await;
        assert_eq!(stored_form.body, by_id.body);
        for query in [
            format!("{path}?filter={}", urlencode(filter)),
            format!("{path}?filter={}&cursor=", urlencode(filter)),
        ] {
            let page = s.call(Method::GET, &query, None).await;
            assert_eq!(page.status, 200, "{}", page.body);
            let listed: &Value = &page.body["Resources"][0];
            assert_eq!(listed, &by_id.body, "{query}");
        }
    }
    let page = s
        .call(
            Method::GET,
            "/Users?filter=userName%20sw%20%22render%22",
            None,
        )
        .await;
    let listed = &page.body["Resources"][0];
    assert!(listed.get("password").is_none(), "{listed}");
    assert_eq!(listed["title"], "Renderer");
    assert_eq!(listed["groups"][0]["value"], gid.as_str());
    assert_eq!(
        listed["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "42"
    );
});

fn urlencode(s: &str) -> String {
    s.replace('%', "%25")
        .replace(' ', "%20")
        .replace('"', "%22")
}

/// A group's members are streamed page by page (here pages of 7 for 50 members): the body is
/// the same JSON as the general path's, for GET and for a PATCH answered in full, and
/// `If-None-Match` still answers 304.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_groups_stream_their_members() {
    let dir = crate::support::TempDir::new();
    stream_members(&format!("sqlite://{}", dir.0.join("g.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_groups_stream_their_members_postgres() {
    if let Some(url) = crate::support::postgres_url() {
        stream_members(&url).await;
    }
}

async fn stream_members(url: &str) {
    use std::sync::Arc;
    let tenant = format!("stream-{}", uuid::Uuid::new_v4());
    let store = Arc::new(
        scim_server::SqlStore::connect(url)
            .await
            .unwrap()
            .with_member_page(7),
    );
    let auth = Arc::new(scim_server::TokenAuthenticator::new(
        &[("t".to_string(), tenant)],
        None,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = scim_server::Settings {
        base_url: Some(format!("http://{addr}/scim/v2")),
        ..Default::default()
    };
    let state = scim_server::ScimState::new(store, auth, settings);
    let app = scim_server::config::app(state, "/scim/v2", std::time::Duration::from_secs(30));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let c = reqwest::Client::new();
    let base = format!("http://{addr}/scim/v2");
    let mut ids = Vec::new();
    for i in 0..50 {
        let r: serde_json::Value = c
            .post(format!("{base}/Users"))
            .bearer_auth("t")
            .json(&serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("m{i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    let members: Vec<serde_json::Value> = ids
        .iter()
        .map(|i| serde_json::json!({"value": i}))
        .collect();
    let r = c
        .post(format!("{base}/Groups"))
        .bearer_auth("t")
        .json(&serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "big", "members": members}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let gid = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let get = |q: &'static str| {
        let c = c.clone();
        let url = format!("{base}/Groups/{gid}{q}");
        async move { c.get(url).bearer_auth("t").send().await.unwrap() }
    };
    let r = get("").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/scim+json");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let streamed: serde_json::Value = r.json().await.unwrap();
    let mut sorted = ids.clone();
    sorted.sort();
    let got: Vec<&str> = streamed["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(got, sorted.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(streamed["members"][0]["$ref"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{base}/Users/")));
    // The general path (a projection that keeps everything) gives the same JSON.
    let general: serde_json::Value = get("?excludedAttributes=externalId")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(streamed, general);
    let r = c
        .get(format!("{base}/Groups/{gid}"))
        .bearer_auth("t")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    // A PATCH answered in full streams the group as committed.
    let r = c
        .patch(format!("{base}/Groups/{gid}"))
        .bearer_auth("t")
        .json(&serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove", "path": format!("members[value eq \"{}\"]", sorted[0])}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers()["etag"].to_str().unwrap(), etag);
    let patched: serde_json::Value = r.json().await.unwrap();
    assert_eq!(patched["members"].as_array().unwrap().len(), 49);
    assert_eq!(patched["displayName"], "big");
    // An empty group has no members key at all.
    let r = c
        .post(format!("{base}/Groups"))
        .bearer_auth("t")
        .json(&serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "empty"}))
        .send()
        .await
        .unwrap();
    let eid = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v: serde_json::Value = c
        .get(format!("{base}/Groups/{eid}"))
        .bearer_auth("t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.get("members").is_none(), "{v}");
    assert_eq!(v["displayName"], "empty");
    server.abort();
}
