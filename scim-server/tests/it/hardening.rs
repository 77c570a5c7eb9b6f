//! Issue 9 over HTTP on both backends: PATCH forms identity providers send (item 1) and members
//! only through member resolution (item 2).

use crate::backends;
use crate::support::{Options, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

backends!(patch_removes_of_unassigned_attributes_succeed, |s| {
    let id = s.user("unassigned").await;
    let path = format!("/Users/{id}");
    let before = s.get(&path).await.body;
    for p in [
        "title".to_string(),
        "name.givenName".to_string(),
        "emails[type eq \"work\"]".to_string(),
        "emails[type eq \"work\"].value".to_string(),
        format!("{ENT}:employeeNumber"),
        format!("{ENT}:manager"),
        format!("{ENT}:manager.value"),
        ENT.to_string(),
    ] {
        let r = s.patch(&path, json!([{"op": "remove", "path": p}])).await;
        assert_eq!(r.status, StatusCode::OK, "remove {p}: {}", r.body);
        assert_eq!(
            r.body["meta"]["version"], before["meta"]["version"],
            "remove {p} changed the version"
        );
    }
    // Entra ID's capitalised spelling, as sent to clear a manager.
    let r = s
        .patch(
            &path,
            json!([{"op": "Remove", "path": format!("{ENT}:manager")}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
});

backends!(patch_extension_object_with_its_own_schemas_key, |s| {
    let id = s.user("ext-schemas").await;
    let path = format!("/Users/{id}");
    let obj = json!({"schemas": [ENT], "employeeNumber": "42", "department": "Eng"});
    for ops in [
        json!([{"op": "add", "path": ENT, "value": obj}]),
        json!([{"op": "replace", "path": ENT, "value": obj}]),
        json!([{"op": "replace", "value": {ENT: obj}}]),
    ] {
        let r = s.patch(&path, ops.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{ops}: {}", r.body);
        assert_eq!(
            r.body[ENT],
            json!({"employeeNumber": "42", "department": "Eng"}),
            "{ops}"
        );
        let got = s.get(&path).await.body;
        assert!(
            got[ENT].get("schemas").is_none(),
            "a nested schemas was stored: {got}"
        );
        assert!(
            got["schemas"].as_array().unwrap().contains(&json!(ENT)),
            "{got}"
        );
    }
});

// Every way of naming `members` in a path-less PATCH goes through member resolution: the
// member rows change, and nothing is ever stored in the group's JSON.
backends!(members_only_through_member_resolution, |s| {
    let u1 = s.user("m-one").await;
    let u2 = s.user("m-two").await;
    let g = s.group("resolution", &[]).await;
    let path = format!("/Groups/{g}");
    let keys = [
        "members".to_string(),
        "Members".to_string(),
        "MEMBERS".to_string(),
        " members ".to_string(),
        format!("{GROUP}:members"),
        format!("{}:Members", GROUP.to_ascii_lowercase()),
    ];
    for key in &keys {
        for op in ["add", "replace", "Add", "Replace"] {
            // Reset to no members, then add u1 and u2 through this key.
            let r = s
                .patch(
                    &path,
                    json!([{"op": "replace", "path": "members", "value": []}]),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            let mut value = serde_json::Map::new();
            value.insert(
                key.clone(),
                json!([{"value": u1}, {"value": u2, "display": "Two"}]),
            );
            let r = s.patch(&path, json!([{"op": op, "value": value}])).await;
            assert_eq!(r.status, StatusCode::OK, "{op} {key:?}: {}", r.body);
            let got = s.get(&path).await.body;
            let mut ids: Vec<&str> = got["members"]
                .as_array()
                .map(|a| a.iter().filter_map(|m| m["value"].as_str()).collect())
                .unwrap_or_default();
            ids.sort();
            let mut want = vec![u1.as_str(), u2.as_str()];
            want.sort();
            assert_eq!(ids, want, "{op} {key:?}: {got}");
            for m in got["members"].as_array().unwrap() {
                assert!(m["$ref"].as_str().unwrap().contains("/Users/"), "{m}");
            }
            let text = got.to_string();
            assert!(
                !text.contains(GROUP.to_string().as_str()) || got["schemas"] == json!([GROUP]),
                "URN-qualified key kept: {got}"
            );
            // The member filter finds the group: rows, not JSON.
            let r = s
                .get(&format!("/Groups?filter=members.value eq \"{u1}\""))
                .await;
            assert_eq!(r.body["totalResults"], 1, "{op} {key:?}: {}", r.body);
        }
    }
});

backends!(unknown_and_foreign_member_ids_are_refused_by_name, |s| {
    let g = s.group("refuse", &[]).await;
    let path = format!("/Groups/{g}");
    let forms: Vec<(&str, Value)> = vec![
        (
            "path",
            json!([{"op": "add", "path": "members", "value": [{"value": "not-a-user"}]}]),
        ),
        (
            "pathless",
            json!([{"op": "add", "value": {"members": [{"value": "not-a-user"}]}}]),
        ),
        (
            "urn",
            json!([{"op": "add", "value": {format!("{GROUP}:members"): [{"value": "not-a-user", "$ref": "https://evil/"}]}}]),
        ),
        (
            "replace",
            json!([{"op": "replace", "path": "members", "value": [{"value": "not-a-user"}]}]),
        ),
    ];
    for (what, ops) in forms {
        let r = s.patch(&path, ops).await;
        r.assert_error(400, Some("invalidValue"));
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("not-a-user"),
            "{what}: {}",
            r.body
        );
    }
    let r = s
        .post("/Groups", json!({"schemas": [GROUP], "displayName": "refuse-post", "members": [{"value": "not-a-user"}]}))
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("not-a-user"),
        "{}",
        r.body
    );
    let r = s
        .post("/Groups", json!({"schemas": [GROUP], "displayName": "refuse-urn", format!("{GROUP}:members"): [{"value": "not-a-user"}]}))
        .await;
    r.assert_error(400, Some("invalidValue"));
    let r = s
        .put(&path, json!({"schemas": [GROUP], "displayName": "refuse", "MEMBERS": [{"value": "not-a-user"}]}))
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("not-a-user"),
        "{}",
        r.body
    );
    // Bulk data goes through the same member code.
    let r = s
        .post("/Bulk", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"schemas": [GROUP], "displayName": "bulk-refuse", format!("{GROUP}:members"): [{"value": "not-a-user"}]}},
            {"method": "PATCH", "path": format!("/Groups/{g}"), "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "value": {format!("{GROUP}:Members"): [{"value": "not-a-user"}]}}]}}
        ]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for op in r.body["Operations"].as_array().unwrap() {
        assert_eq!(op["status"], "400", "{op}");
        assert!(
            op["response"]["detail"]
                .as_str()
                .unwrap_or("")
                .contains("not-a-user"),
            "{op}"
        );
    }
    let got = s.get(&path).await.body;
    assert!(got.get("members").is_none(), "{got}");
});

// A user of another tenant is unknown here: refused by id, whatever the spelling.
backends!(foreign_tenant_member_ids_are_refused, |s0| {
    let other_token = format!("tok-{}", uuid::Uuid::new_v4());
    let opts = Options {
        extra_tokens: vec![(
            other_token.clone(),
            format!("other-{}", uuid::Uuid::new_v4()),
        )],
        ..Options::default()
    };
    let backend = s0.backend;
    drop(s0);
    let Some(s) = TestServer::start_with(backend, opts).await else {
        return;
    };
    let r = s
        .call_with(
            reqwest::Method::POST,
            "/Users",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "foreign"})),
            &other_token,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let foreign = r.body["id"].as_str().unwrap().to_string();
    let g = s.group("mine", &[]).await;
    for ops in [
        json!([{"op": "add", "path": "members", "value": [{"value": foreign}]}]),
        json!([{"op": "add", "value": {format!("{GROUP}:members"): [{"value": foreign}]}}]),
        json!([{"op": "replace", "value": {" Members ": [{"value": foreign}]}}]),
    ] {
        let r = s.patch(&format!("/Groups/{g}"), ops.clone()).await;
        r.assert_error(400, Some("invalidValue"));
        assert!(
            r.body["detail"].as_str().unwrap_or("").contains(&foreign),
            "{ops}: {}",
            r.body
        );
    }
    assert!(s
        .get(&format!("/Groups/{g}"))
        .await
        .body
        .get("members")
        .is_none());
});

// meta.location never follows a Host header the client chose; forwarded headers count only
// when the operator says a proxy sets them.
backends!(locations_do_not_trust_client_headers, |s0| {
    let backend = s0.backend;
    let body =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "loc"});
    let r = s0
        .call_with(
            reqwest::Method::POST,
            "/Users",
            Some(body.clone()),
            &s0.token,
            &[
                ("host", "evil.example"),
                ("x-forwarded-host", "evil.example"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let loc = r.header("location").unwrap().to_string();
    assert!(loc.starts_with(&s0.base), "{loc} vs {}", s0.base);
    assert!(r.body["meta"]["location"]
        .as_str()
        .unwrap()
        .starts_with(&s0.base));
    drop(s0);
    let settings = scim_server::Settings {
        trust_forwarded_headers: true,
        ..Default::default()
    };
    let Some(s) = TestServer::start_with(
        backend,
        Options {
            settings,
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let r = s
        .call_with(
            reqwest::Method::POST,
            "/Users",
            Some(body.clone()),
            &s.token,
            &[
                ("x-forwarded-host", "scim.example.com"),
                ("x-forwarded-proto", "https"),
            ],
        )
        .await;
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("https://scim.example.com/scim/v2/Users/"),
        "{:?}",
        r.header("location")
    );
    // A forwarded host that is not a host name is ignored.
    let r = s
        .call_with(
            reqwest::Method::GET,
            "/Users",
            None,
            &s.token,
            &[("x-forwarded-host", "evil.example/<script>")],
        )
        .await;
    let loc = r.body["Resources"][0]["meta"]["location"].as_str().unwrap();
    assert!(!loc.contains("evil"), "{loc}");
});

// Change events go to hooks (webhooks, queues): never with the password hash.
backends!(change_events_carry_no_password, |s| {
    let r = s
        .post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "evt", "password": "Event-Secret-1"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "password", "value": "Event-Secret-2"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let events = s.events.0.lock().await.clone();
    assert!(events.len() >= 2, "{events:?}");
    for e in &events {
        for v in [&e.before, &e.after].into_iter().flatten() {
            assert!(v.get("password").is_none(), "{v}");
            assert!(!v.to_string().contains("argon2"), "{v}");
        }
    }
    assert!(events
        .iter()
        .any(|e| e.after.as_ref().is_some_and(|a| a["userName"] == "evt")));
});

// Every way a password arrives (POST, PUT, PATCH with a path, path-less, any case, the
// URN-qualified name, Bulk) is stored as an Argon2id hash, hashed before the store is called.
backends!(passwords_are_hashed_in_every_write_path, |s| {
    let reg = scim_core::SchemaRegistry::builtin();
    let users = scim_core::Context::new(reg, "User").unwrap();
    let stored_pw = |id: String| {
        let store = s.state.store();
        let tenant = s.tenant.clone();
        async move {
            let r = store
                .get(&tenant, &users, &id, Default::default())
                .await
                .unwrap();
            r.data
                .get("password")
                .and_then(Value::as_str)
                .map(str::to_string)
        }
    };
    let r = s.post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "pw", "Password": "Clear-1"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body.get("password").is_none() && r.body.get("Password").is_none());
    let id = r.body["id"].as_str().unwrap().to_string();
    let mut seen = std::collections::HashSet::new();
    let mut check = |pw: Option<String>, what: &str| {
        let pw = pw.unwrap_or_else(|| panic!("{what}: no password stored"));
        assert!(pw.starts_with("$argon2id$"), "{what}: {pw}");
        assert!(seen.insert(pw), "{what}: the hash did not change");
    };
    check(stored_pw(id.clone()).await, "POST");
    let r = s.put(&format!("/Users/{id}"), json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "pw", "password": "Clear-2"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check(stored_pw(id.clone()).await, "PUT");
    for ops in [
        json!([{"op": "replace", "path": "password", "value": "Clear-3"}]),
        json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:password", "value": "Clear-4"}]),
        json!([{"op": "Replace", "value": {"PASSWORD": "Clear-5"}}]),
    ] {
        let r = s.patch(&format!("/Users/{id}"), ops.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{ops}: {}", r.body);
        check(stored_pw(id.clone()).await, &ops.to_string());
    }
    let r = s
        .post("/Bulk", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
            {"method": "PATCH", "path": format!("/Users/{id}"), "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "password", "value": "Clear-6"}]}}
        ]}))
        .await;
    assert_eq!(r.body["Operations"][0]["status"], "200", "{}", r.body);
    check(stored_pw(id.clone()).await, "Bulk");
});

// A padded members key in a PUT body is the member list, as in a path-less PATCH.
backends!(put_with_a_padded_members_key_sets_members, |s| {
    let u = s.user("padded").await;
    let g = s.group("padded-group", &[]).await;
    let r = s
        .put(
            &format!("/Groups/{g}"),
            json!({"schemas": [GROUP], "displayName": "padded-group", " MEMBERS ": [{"value": u}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let got = s.get(&format!("/Groups/{g}")).await.body;
    assert_eq!(got["members"][0]["value"], json!(u), "{got}");
});

// `/.search` at the root: an empty filter is no filter (as on `/Users/.search`), and `sortBy`
// sorts across resource types (missing values last ascending, first descending).
backends!(root_search_sorts_and_takes_an_empty_filter, |s| {
    for n in ["b-user", "a-user", "C-user"] {
        s.user(n).await;
    }
    s.group("b-group", &[]).await;
    let search = |body: Value| s.post("/.search", body);
    let sr = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
    let r = search(json!({"schemas": [sr], "filter": ""})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], 4);
    let names = |r: &crate::support::Resp| -> Vec<String> {
        r.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                x["userName"]
                    .as_str()
                    .or(x["displayName"].as_str())
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let r = search(json!({"schemas": [sr], "sortBy": "userName"})).await;
    assert_eq!(
        names(&r),
        ["a-user", "b-user", "C-user", "b-group"],
        "{}",
        r.body
    );
    let r = search(json!({"schemas": [sr], "sortBy": "userName", "sortOrder": "descending"})).await;
    assert_eq!(
        names(&r),
        ["b-group", "C-user", "b-user", "a-user"],
        "{}",
        r.body
    );
    // Paging applies to the merged order.
    let r =
        search(json!({"schemas": [sr], "sortBy": "userName", "startIndex": 2, "count": 2})).await;
    assert_eq!(names(&r), ["b-user", "C-user"], "{}", r.body);
    assert_eq!(r.body["totalResults"], 4);
    let r = search(json!({"schemas": [sr], "sortBy": "noSuchAttribute"})).await;
    r.assert_error(400, Some("invalidValue"));
});
