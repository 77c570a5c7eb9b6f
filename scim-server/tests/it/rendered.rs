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
