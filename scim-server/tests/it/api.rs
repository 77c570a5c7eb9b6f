//! Every endpoint and error of RFC 7644 §3 over real HTTP, on both backends.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backends;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

backends!(auth_is_required_everywhere, |s| {
    for path in [
        "/Users",
        "/Groups",
        "/ServiceProviderConfig",
        "/Schemas",
        "/ResourceTypes",
        "/Me",
        "/Nope",
        "/Users/x",
    ] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        let r = Resp::read(r).await;
        r.assert_error(401, None);
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"SCIM\""));
        let r = s
            .call_with(Method::GET, path, None, "wrong-token", &[])
            .await;
        r.assert_error(401, None);
    }
    let r = s
        .client
        .get(s.url("/Users"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    Resp::read(r).await.assert_error(401, None);
});

backends!(user_lifecycle, |s| {
    let r = s
        .post("/Users", json!({"schemas": [USER], "userName": "bjensen", "name": {"givenName": "Barbara"}, "active": true,
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}], "password": "t1meMa$heen"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/scim+json"));
    let id = r.body["id"].as_str().unwrap().to_string();
    let location = r.header("location").unwrap().to_string();
    assert_eq!(location, s.url(&format!("/Users/{id}")));
    assert_eq!(r.body["meta"]["location"], location);
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert!(
        r.body.get("password").is_none(),
        "password is never returned"
    );
    let etag = r.header("etag").unwrap().to_string();
    assert_eq!(r.body["meta"]["version"], etag);

    let r = s.get(&format!("/Users/{id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["userName"], "bjensen");

    // PUT replaces; readOnly values are ignored, id must match.
    let r = s
        .put(&format!("/Users/{id}"), json!({"schemas": [USER], "id": id, "userName": "bjensen", "displayName": "Babs", "meta": {"version": "W/\"x\""}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["displayName"], "Babs");
    assert!(
        r.body.get("name").is_none(),
        "PUT replaced the whole resource"
    );
    assert_ne!(r.header("etag").unwrap(), etag);
    let r = s
        .put(
            &format!("/Users/{id}"),
            json!({"schemas": [USER], "id": "other", "userName": "bjensen"}),
        )
        .await;
    r.assert_error(400, Some("mutability"));

    // PATCH returns 200 with the resource.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["active"], false);
    // A deactivated user stays visible.
    let r = s.get("/Users?filter=userName%20eq%20%22bjensen%22").await;
    assert_eq!(r.body["totalResults"], 1);

    let r = s.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    s.get(&format!("/Users/{id}")).await.assert_error(404, None);
    s.delete(&format!("/Users/{id}"))
        .await
        .assert_error(404, None);
    s.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await
    .assert_error(404, None);
    s.put(
        &format!("/Users/{id}"),
        json!({"schemas": [USER], "userName": "x"}),
    )
    .await
    .assert_error(404, None);
    let r = s.get("/Users?filter=userName%20eq%20%22bjensen%22").await;
    assert_eq!(r.body["totalResults"], 0);
    // The userName is free again.
    let again = s.user("bjensen").await;
    assert_ne!(again, id);

    let ev = s.events.0.lock().await;
    let kinds: Vec<_> = ev.iter().map(|e| e.kind).collect();
    use scim_server::ChangeKind::*;
    assert_eq!(kinds, vec![Created, Updated, Updated, Deleted, Created]);
    assert!(ev[1].before.is_some() && ev[1].after.is_some());
});

backends!(uniqueness_is_case_insensitive_and_per_tenant, |s| {
    s.user("Alice@Example.com").await;
    let r = s
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "alice@example.COM"}),
        )
        .await;
    r.assert_error(409, Some("uniqueness"));
    // A rename onto a taken name is refused too.
    let bob = s.user("bob").await;
    let r = s
        .patch(
            &format!("/Users/{bob}"),
            json!([{"op": "replace", "path": "userName", "value": "ALICE@example.com"}]),
        )
        .await;
    r.assert_error(409, Some("uniqueness"));
});

backends!(tenants_are_isolated, |s0| {
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
    let id = s.user("shared-name").await;
    let as_other = |m: Method, p: String, b: Option<Value>| {
        let s = &s;
        let t = other_token.clone();
        async move { s.call_with(m, &p, b, &t, &[]).await }
    };
    as_other(Method::GET, format!("/Users/{id}"), None)
        .await
        .assert_error(404, None);
    let r = as_other(Method::GET, "/Users".into(), None).await;
    assert_eq!(r.body["totalResults"], 0);
    as_other(Method::DELETE, format!("/Users/{id}"), None)
        .await
        .assert_error(404, None);
    // The same userName in another tenant is fine.
    let r = as_other(
        Method::POST,
        "/Users".into(),
        Some(json!({"schemas": [USER], "userName": "shared-name"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // A group in the other tenant cannot take this tenant's user as a member.
    let r = as_other(
        Method::POST,
        "/Groups".into(),
        Some(json!({"schemas": [GROUP], "displayName": "G", "members": [{"value": id}]})),
    )
    .await;
    r.assert_error(400, Some("invalidValue"));
});

backends!(list_paging_sorting_and_projection, |s| {
    for i in 0..7 {
        s.post("/Users", json!({"schemas": [USER], "userName": format!("user{i}"), "title": if i % 2 == 0 { "even" } else { "odd" }}))
            .await;
    }
    let r = s
        .get("/Users?startIndex=2&count=3&sortBy=userName&sortOrder=descending")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["totalResults"], json!(7));
    assert_eq!(r.body["itemsPerPage"], json!(3));
    assert_eq!(r.body["startIndex"], json!(2));
    let names: Vec<_> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["user5", "user4", "user3"]);
    // count=0: only the total.
    let r = s.get("/Users?count=0").await;
    assert_eq!(r.body["totalResults"], json!(7));
    assert_eq!(r.body["Resources"], json!([]));
    // Out-of-range values are clamped (RFC 7644 §3.4.2.4).
    let r = s.get("/Users?startIndex=0&count=-5").await;
    assert_eq!(r.body["startIndex"], json!(1));
    assert_eq!(r.body["itemsPerPage"], json!(0));
    // Filter with paging, `+` for spaces, case-insensitive parameter names.
    let r = s
        .get("/Users?FILTER=title+eq+%22even%22&startIndex=1&count=100")
        .await;
    assert_eq!(r.body["totalResults"], json!(4));
    // Empty result is 200.
    let r = s.get("/Users?filter=userName%20eq%20%22nobody%22").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["totalResults"], json!(0));
    assert_eq!(r.body["Resources"], json!([]));
    // attributes / excludedAttributes
    let r = s.get("/Users?attributes=userName&count=1").await;
    let u = &r.body["Resources"][0];
    assert!(
        u.get("id").is_some()
            && u.get("userName").is_some()
            && u.get("title").is_none()
            && u.get("meta").is_none(),
        "{u}"
    );
    let r = s.get("/Users?excludedAttributes=title,meta&count=1").await;
    let u = &r.body["Resources"][0];
    assert!(u.get("title").is_none() && u.get("meta").is_none() && u.get("userName").is_some());
    // Bad parameters.
    s.get("/Users?count=abc")
        .await
        .assert_error(400, Some("invalidCount"));
    s.get("/Users?sortOrder=sideways")
        .await
        .assert_error(400, Some("invalidValue"));
    s.get("/Users?sortBy=nope")
        .await
        .assert_error(400, Some("invalidValue"));
    s.get("/Users?filter=userName%20eq")
        .await
        .assert_error(400, Some("invalidFilter"));
    s.get("/Users?filter=active%20gt%20true")
        .await
        .assert_error(400, Some("invalidFilter"));
});

backends!(cursor_pagination, |s| {
    for i in 0..5 {
        s.user(&format!("c{i}")).await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let r = s.get(&format!("/Users?count=2&cursor={cursor}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.body["totalResults"],
            json!(if pages == 0 { 5 } else { 4 })
        );
        assert!(r.body.get("startIndex").is_none());
        for u in r.body["Resources"].as_array().unwrap() {
            seen.push(u["userName"].as_str().unwrap().to_string());
        }
        pages += 1;
        // Deleting an already-served user between pages does not shift later pages.
        if pages == 1 {
            let first = r.body["Resources"][0]["id"].as_str().unwrap().to_string();
            s.delete(&format!("/Users/{first}")).await;
        }
        match r.body.get("nextCursor").and_then(Value::as_str) {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort();
    assert_eq!(seen, ["c0", "c1", "c2", "c3", "c4"]);
    s.get("/Users?count=2&cursor=bogus")
        .await
        .assert_error(400, Some("invalidCursor"));
    let r = s.get("/Users?count=1&cursor=").await;
    let c = r.body["nextCursor"].as_str().unwrap().to_string();
    let mut tampered = c.clone();
    tampered.replace_range(0..1, if c.starts_with('A') { "B" } else { "A" });
    s.get(&format!("/Users?count=1&cursor={tampered}"))
        .await
        .assert_error(400, Some("invalidCursor"));
    // A cursor belongs to its query.
    s.get(&format!("/Users?count=1&cursor={c}&filter=userName%20pr"))
        .await
        .assert_error(400, Some("invalidCursor"));
});

backends!(groups_and_memberships, |s| {
    let a = s.user("a").await;
    let b = s.user("b").await;
    let g = s.group("Eng", &[&a]).await;
    // Add (including an existing member, a no-op), then remove, in one atomic request.
    let r = s
        .patch(&format!("/Groups/{g}"), json!([
            {"op": "add", "path": "members", "value": [{"value": a}, {"value": b, "display": "B"}]},
            {"op": "remove", "path": format!("members[value eq \"{a}\"]")}
        ]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let members: Vec<_> = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members, [b.as_str()]);
    assert_eq!(r.body["members"][0]["type"], "User");
    assert_eq!(r.body["members"][0]["display"], "B");
    // The user's groups are derived from memberships.
    let r = s.get(&format!("/Users/{b}")).await;
    assert_eq!(r.body["groups"][0]["value"], g.as_str());
    assert_eq!(r.body["groups"][0]["display"], "Eng");
    // excludedAttributes=members
    let r = s
        .get(&format!("/Groups/{g}?excludedAttributes=members"))
        .await;
    assert!(r.body.get("members").is_none());
    assert_eq!(r.body["displayName"], "Eng");
    // Filter by member.
    let r = s
        .get(&format!("/Groups?filter=members.value%20eq%20%22{b}%22"))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    let r = s.get("/Users?filter=groups.display%20eq%20%22eng%22").await;
    assert_eq!(r.body["totalResults"], 1);
    // A deactivated user keeps its memberships.
    s.patch(
        &format!("/Users/{b}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    let r = s.get(&format!("/Groups/{g}")).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    // Unknown member ids are refused; nothing changes.
    let r = s
        .patch(
            &format!("/Groups/{g}"),
            json!([{"op": "add", "path": "members", "value": [{"value": "no-such-id"}]}]),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    // User's groups attribute is readOnly.
    let r = s
        .patch(
            &format!("/Users/{b}"),
            json!([{"op": "add", "path": "groups", "value": [{"value": g}]}]),
        )
        .await;
    r.assert_error(400, Some("mutability"));
    // Replace all members; then remove all.
    let r = s
        .patch(
            &format!("/Groups/{g}"),
            json!([{"op": "replace", "path": "members", "value": [{"value": a}]}]),
        )
        .await;
    assert_eq!(r.body["members"][0]["value"], a.as_str());
    let r = s
        .patch(
            &format!("/Groups/{g}"),
            json!([{"op": "remove", "path": "members"}]),
        )
        .await;
    assert!(r.body.get("members").is_none());
    // Deleting a user removes its memberships.
    s.patch(
        &format!("/Groups/{g}"),
        json!([{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]}]),
    )
    .await;
    s.delete(&format!("/Users/{a}")).await;
    let r = s.get(&format!("/Groups/{g}")).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    // Prefer: return=minimal gives 204.
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "displayName", "value": "Eng2"}]});
    let r = s
        .call_with(
            Method::PATCH,
            &format!("/Groups/{g}"),
            Some(body),
            &s.token,
            &[("prefer", "return=minimal")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.header("etag").is_some());
});

backends!(etags_and_preconditions, |s| {
    let id = s.user("etag-user").await;
    let r = s.get(&format!("/Users/{id}")).await;
    let etag = r.header("etag").unwrap().to_string();
    let r = s
        .call_with(
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &s.token,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let ops = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "nickName", "value": "n"}]});
    let r = s
        .call_with(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(ops.clone()),
            &s.token,
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // The old ETag no longer matches.
    let r = s
        .call_with(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(ops.clone()),
            &s.token,
            &[("if-match", &etag)],
        )
        .await;
    r.assert_error(412, None);
    let r = s
        .call_with(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [USER], "userName": "x"})),
            &s.token,
            &[("if-match", &etag)],
        )
        .await;
    r.assert_error(412, None);
    let r = s
        .call_with(
            Method::DELETE,
            &format!("/Users/{id}"),
            None,
            &s.token,
            &[("if-match", &etag)],
        )
        .await;
    r.assert_error(412, None);
    let r = s
        .call_with(
            Method::DELETE,
            &format!("/Users/{id}"),
            None,
            &s.token,
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
});

backends!(bad_input_is_a_scim_error, |s| {
    let raw = |method: Method, path: &str, ct: &str, body: &str| {
        let rb = s
            .client
            .request(method, s.url(path))
            .bearer_auth(&s.token)
            .header("content-type", ct)
            .body(body.to_string());
        async move { Resp::read(rb.send().await.unwrap()).await }
    };
    raw(Method::POST, "/Users", "application/scim+json", "{not json")
        .await
        .assert_error(400, Some("invalidSyntax"));
    raw(Method::POST, "/Users", "application/scim+json", "[1,2]")
        .await
        .assert_error(400, Some("invalidSyntax"));
    raw(Method::POST, "/Users", "application/scim+json", "")
        .await
        .assert_error(400, Some("invalidSyntax"));
    raw(Method::POST, "/Users", "text/plain", "{}")
        .await
        .assert_error(415, None);
    // application/json is accepted too.
    let r = raw(
        Method::POST,
        "/Users",
        "application/json; charset=utf-8",
        &json!({"schemas": [USER], "userName": "json-user"}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    s.post("/Users", json!({"schemas": [USER], "userName": 5}))
        .await
        .assert_error(400, Some("invalidValue"));
    s.post(
        "/Users",
        json!({"schemas": [USER], "userName": "nul\u{0}byte"}),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    s.get("/Users?filter=userName%20eq%20%22a%5Cu0000b%22")
        .await
        .assert_error(400, Some("invalidFilter"));
    s.post("/Users", json!({"schemas": [USER]}))
        .await
        .assert_error(400, Some("invalidValue"));
    s.post(
        "/Users",
        json!({"schemas": [USER], "userName": "x", "active": "maybe"}),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    s.post(
        "/Users",
        json!({"schemas": [USER], "userName": "x", "emails": "nope"}),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    s.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
    )
    .await
    .assert_error(400, Some("invalidPath"));
    s.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "nosuch", "value": "x"}]),
    )
    .await
    .assert_error(400, Some("invalidPath"));
    s.patch(&format!("/Users/{id}"), json!([{"op": "remove"}]))
        .await
        .assert_error(400, Some("noTarget"));
    s.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "id", "value": "x"}]),
    )
    .await
    .assert_error(400, Some("mutability"));
    s.patch(
        &format!("/Users/{id}"),
        json!([{"op": "jump", "path": "id"}]),
    )
    .await
    .assert_error(400, Some("invalidSyntax"));
    s.patch(&format!("/Users/{id}"), json!([]))
        .await
        .assert_error(400, Some("invalidValue"));
    // Oversize body: the server answers before reading it all and closes the connection, so
    // this request gets a client of its own.
    let big = format!(
        "{{\"schemas\":[\"{USER}\"],\"userName\":\"{}\"}}",
        "x".repeat(2 << 20)
    );
    let r = reqwest::Client::new()
        .post(s.url("/Users"))
        .bearer_auth(&s.token)
        .header("content-type", "application/scim+json")
        .body(big)
        .send()
        .await
        .unwrap();
    Resp::read(r).await.assert_error(413, None);
    // Unknown resource type and endpoint; unsupported method.
    s.get("/Widgets").await.assert_error(404, None);
    s.get("/Widgets/1").await.assert_error(404, None);
    s.get("/Users/a/b/c").await.assert_error(404, None);
    s.call(Method::DELETE, "/Users", None)
        .await
        .assert_error(405, None);
    s.call(Method::PUT, "/ServiceProviderConfig", Some(json!({})))
        .await
        .assert_error(405, None);
    // Nothing a client sends is a 500: odd ids and filters.
    s.get("/Users/%F0%9F%98%80%00")
        .await
        .assert_error(404, None);
    let r = s.get("/Users/%FF").await;
    assert!(
        r.status == StatusCode::NOT_FOUND || r.status == StatusCode::BAD_REQUEST,
        "{r:?}"
    );
    let r = s
        .get("/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20co%20%22%25%27%3B--%22")
        .await;
    assert_eq!(r.status, StatusCode::OK);
});

backends!(discovery_endpoints, |s| {
    let r = s.get("/ServiceProviderConfig").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["filter"]["supported"], true);
    assert_eq!(r.body["etag"]["supported"], true);
    assert_eq!(r.body["pagination"]["cursor"], true);
    let r = s.get("/ResourceTypes").await;
    assert_eq!(r.body["totalResults"], 2);
    let r = s.get("/ResourceTypes/User").await;
    assert_eq!(r.body["schemaExtensions"][0]["schema"], ENT);
    s.get("/ResourceTypes/Nope").await.assert_error(404, None);
    let r = s.get("/Schemas").await;
    assert!(r.body["totalResults"].as_u64().unwrap() >= 3);
    let r = s.get(&format!("/Schemas/{USER}")).await;
    assert_eq!(r.body["id"], USER);
    assert!(r.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "userName"));
    s.get("/Schemas/urn:nope").await.assert_error(404, None);
});

backends!(search_endpoints_and_me, |s| {
    s.user("searcher").await;
    s.group("Searchers", &[]).await;
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"searcher\"", "attributes": ["userName"]});
    let r = s.post("/Users/.search", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], 1);
    let r = s.post("/.search", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 10})).await;
    assert_eq!(r.body["totalResults"], 2);
    s.post("/Users/.search", json!({"filter": "bad filter ("}))
        .await
        .assert_error(400, Some("invalidFilter"));
    s.get("/Me").await.assert_error(501, None);
});

backends!(enterprise_extension_and_entra_patch, |s| {
    let id = s.user("entra@contoso.com").await;
    let r = s
        .patch(&format!("/Users/{id}"), json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "entra@contoso.com"},
            {"op": "Add", "path": format!("{ENT}:employeeNumber"), "value": "42"},
            {"op": "Add", "path": format!("{ENT}:manager"), "value": "m1"}
        ]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(
        r.body["emails"],
        json!([{"value": "entra@contoso.com", "type": "work"}])
    );
    assert_eq!(r.body[ENT]["employeeNumber"], "42");
    assert_eq!(r.body[ENT]["manager"], json!({"value": "m1"}));
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(ENT)));
    let r = s
        .get(&format!(
            "/Users?filter={ENT}:employeeNumber%20eq%20%2242%22"
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    let r = s
        .get(
            "/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22ENTRA@contoso.com%22",
        )
        .await;
    assert_eq!(r.body["totalResults"], 1);
});

// A filter the parser accepts is never refused by the SQL translation: long `or` chains (what
// a client sends to look up a batch of users) translate flat, at any length up to the parser's
// term limit.
backends!(long_or_filters_are_accepted, |s| {
    let mut names = Vec::new();
    for i in 0..3 {
        let name = format!("batch{i}@example.com");
        let r = s
            .call(
                Method::POST,
                "/Users",
                Some(json!({"schemas": [USER], "userName": name})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        names.push(name);
    }
    for terms in [70usize, 200, 500] {
        let filter = (0..terms)
            .map(|i| {
                format!(
                    "userName eq \"{}\"",
                    names.get(i).cloned().unwrap_or(format!("n{i}"))
                )
            })
            .collect::<Vec<_>>()
            .join(" or ");
        let r = s
            .call(
                Method::POST,
                "/Users/.search",
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": filter,
                    "count": 10
                })),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{terms} terms: {}", r.body);
        assert_eq!(r.body["totalResults"], 3, "{terms} terms");
    }
});
