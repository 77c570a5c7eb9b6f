//! Users: create, read, replace, delete (RFC 7644 §3.3, §3.4.1, §3.5.1, §3.6) and the User
//! schema's rules (RFC 7643 §3.1, §4.1).

use serde_json::{json, Value};

use crate::cx::{at, attr, ent, has_schema, present, str_at, ENTERPRISE, USER};
use crate::model::Check;
#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};
use crate::{ensure, fail};

pub fn checks() -> Vec<Check> {
    vec![
        check!("user-create-201", "RFC 7644 §3.3", Must, [],
            "POST /Users answers 201 with the created user, its id and userName",
            |cx| {
                let name = cx.name("create");
                let r = cx.post("/Users", json!({"schemas": [USER], "userName": name})).await?;
                r.expect(201)?;
                r.id()?;
                ensure!(str_at(&r.json, "userName") == Some(name.as_str()), "userName in the answer: {}", r.text);
                ensure!(has_schema(&r.json, USER), "schemas lacks {USER}: {}", r.text);
                Ok(())
            }),
        check!("user-create-location", "RFC 7644 §3.3", Must, [],
            "the 201 carries a Location header equal to meta.location",
            |cx| {
                let u = cx.user("loc", json!({})).await?;
                let r = cx.get(&u.path).await?;
                r.expect(200)?;
                let loc = str_at(&u.body, "meta.location");
                ensure!(loc.is_some(), "no meta.location in the answer to POST");
                // The header is checked on the POST's own answer, kept in the log; re-create to read it.
                let name = cx.name("loc2");
                let p = cx.post("/Users", json!({"schemas": [USER], "userName": name})).await?;
                p.expect(201)?;
                let h = p.header("location");
                let m = str_at(&p.json, "meta.location");
                ensure!(h.is_some(), "no Location header");
                ensure!(h == m, "Location {h:?} differs from meta.location {m:?}");
                Ok(())
            }),
        check!("user-create-meta", "RFC 7643 §3.1", Must, [],
            "a created user has meta.resourceType User, meta.created, meta.lastModified and meta.location",
            |cx| {
                let u = cx.user("meta", json!({})).await?;
                ensure!(str_at(&u.body, "meta.resourceType") == Some("User"), "meta.resourceType: {}", u.body);
                for k in ["meta.created", "meta.lastModified"] {
                    let v = str_at(&u.body, k).unwrap_or("");
                    ensure!(chrono::DateTime::parse_from_rfc3339(v).is_ok(), "{k} is not an xsd:dateTime: {v:?}");
                }
                let loc = str_at(&u.body, "meta.location").unwrap_or("");
                ensure!(loc.ends_with(&format!("/Users/{}", u.id)), "meta.location {loc:?} does not end with /Users/{}", u.id);
                Ok(())
            }),
        check!("user-create-content-type", "RFC 7644 §3.1", Must, [],
            "the answer to POST /Users is application/scim+json",
            |cx| {
                let name = cx.name("ct");
                let r = cx.post("/Users", json!({"schemas": [USER], "userName": name})).await?;
                r.expect(201)?;
                ensure!(r.is_scim_json(), "Content-Type is {:?}", r.header("content-type"));
                Ok(())
            }),
        check!("user-get", "RFC 7644 §3.4.1", Must, [],
            "GET /Users/{id} answers 200 with the same user",
            |cx| {
                let u = cx.user("get", json!({"title": "Tester"})).await?;
                let r = cx.get(&u.path).await?;
                r.expect(200)?;
                ensure!(str_at(&r.json, "id") == Some(u.id.as_str()), "id: {}", r.text);
                ensure!(str_at(&r.json, "userName") == Some(u.name.as_str()), "userName: {}", r.text);
                ensure!(str_at(&r.json, "title") == Some("Tester"), "title: {}", r.text);
                Ok(())
            }),
        check!("user-get-unknown-404", "RFC 7644 §3.12", Must, [],
            "GET /Users/<unknown id> is 404 with a SCIM error",
            |cx| {
                let r = cx.get("/Users/scim-conformance-no-such-id-6f1c").await?;
                r.expect_error(404, &[])
            }),
        check!("user-id-server-assigned", "RFC 7643 §3.1", Must, [],
            "an id sent in POST is ignored: the server assigns its own",
            |cx| {
                let mine = format!("{}-client-id", cx.prefix());
                let u = cx.user("id", json!({"id": mine})).await?;
                ensure!(u.id != mine, "the server kept the client's id {mine}");
                Ok(())
            }),
        check!("user-meta-readonly-ignored", "RFC 7643 §3.1", Must, [],
            "meta sent in POST is ignored (readOnly): created is the server's",
            |cx| {
                let u = cx.user("metaro", json!({"meta": {"created": "1999-01-01T00:00:00Z", "resourceType": "Group"}})).await?;
                ensure!(str_at(&u.body, "meta.created") != Some("1999-01-01T00:00:00Z"), "meta.created was taken from the request");
                ensure!(str_at(&u.body, "meta.resourceType") == Some("User"), "meta.resourceType: {:?}", str_at(&u.body, "meta.resourceType"));
                Ok(())
            }),
        check!("user-missing-username-400", "RFC 7643 §4.1", Must, [],
            "POST /Users without the required userName is 400 (invalidValue)",
            |cx| {
                let r = cx.post("/Users", json!({"schemas": [USER], "displayName": cx.name("nouser")})).await?;
                r.expect_error(400, &["invalidValue", "invalidSyntax"])
            }),
        check!("user-duplicate-409", "RFC 7644 §3.3", Must, [],
            "POST with a taken userName is 409 with scimType uniqueness",
            |cx| {
                let u = cx.user("dup", json!({})).await?;
                let r = cx.post("/Users", json!({"schemas": [USER], "userName": u.name})).await?;
                r.expect_error(409, &["uniqueness"])
            }),
        check!("user-duplicate-case-409", "RFC 7643 §4.1.1", Should, [],
            "userName is not case-exact: a differently-cased taken userName is 409 uniqueness",
            |cx| {
                let u = cx.user("dupcase", json!({})).await?;
                let r = cx.post("/Users", json!({"schemas": [USER], "userName": u.name.to_uppercase()})).await?;
                r.expect_error(409, &["uniqueness"])
            }),
        check!("user-invalid-json-400", "RFC 7644 §3.12", Must, [],
            "a body that is not JSON is 400 with scimType invalidSyntax",
            |cx| {
                let r = cx.req(reqwest::Method::POST, "/Users").raw("{\"schemas\": [", crate::cx::SCIM_JSON).send().await?;
                r.expect_error(400, &["invalidSyntax"])
            }),
        check!("user-password-not-returned", "RFC 7643 §4.1.1", Must, [],
            "a password sent on create is never returned (returned: never)",
            |cx| {
                let u = cx.user("pw", json!({"password": "t0p-Secret-1234"})).await?;
                ensure!(!present(&u.body, "password"), "the POST answer contains the password");
                let r = cx.get(&u.path).await?;
                r.expect(200)?;
                ensure!(!present(&r.json, "password"), "GET returns the password");
                let l = cx.get_q("/Users", &[("attributes", "password,userName"), ("count", "5")]).await?;
                ensure!(!l.text.contains("t0p-Secret-1234"), "a list with attributes=password shows it");
                Ok(())
            }),
        check!("user-complex-roundtrip", "RFC 7643 §2.3.8", Must, [],
            "a complex attribute (name) is stored and returned with its sub-attributes",
            |cx| {
                let u = cx.user("name", json!({"name": {"givenName": "Ada", "familyName": "Lovelace", "honorificPrefix": "Countess"}})).await?;
                let r = cx.get(&u.path).await?;
                r.expect(200)?;
                ensure!(str_at(&r.json, "name.givenName") == Some("Ada"), "name.givenName: {}", r.text);
                ensure!(str_at(&r.json, "name.familyName") == Some("Lovelace"), "name.familyName: {}", r.text);
                ensure!(str_at(&r.json, "name.honorificPrefix") == Some("Countess"), "name.honorificPrefix: {}", r.text);
                Ok(())
            }),
        check!("user-multivalued-roundtrip", "RFC 7643 §2.4", Must, [],
            "multi-valued attributes (emails, phoneNumbers, addresses) are stored and returned",
            |cx| {
                let u = cx.user("mv", json!({
                    "emails": [{"value": "a@example.com", "type": "work", "primary": true}, {"value": "b@example.org", "type": "home"}],
                    "phoneNumbers": [{"value": "+1 555 0101", "type": "mobile"}],
                    "addresses": [{"streetAddress": "1 Main St", "locality": "Springfield", "country": "US", "type": "work"}]
                })).await?;
                let r = cx.get(&u.path).await?;
                r.expect(200)?;
                let emails = attr(&r.json, "emails").and_then(Value::as_array).cloned().unwrap_or_default();
                ensure!(emails.len() == 2, "emails: {emails:?}");
                ensure!(emails.iter().any(|e| str_at(e, "value") == Some("a@example.com") && attr(e, "primary") == Some(&Value::Bool(true))), "the primary work email is missing: {emails:?}");
                ensure!(at(&r.json, "phoneNumbers").and_then(Value::as_array).is_some_and(|a| a.len() == 1), "phoneNumbers: {}", r.text);
                let addr = at(&r.json, "addresses").and_then(Value::as_array).and_then(|a| a.first()).cloned().unwrap_or(Value::Null);
                ensure!(str_at(&addr, "locality") == Some("Springfield"), "addresses: {}", r.text);
                Ok(())
            }),
        check!("user-boolean-roundtrip", "RFC 7643 §2.3.2", Must, [],
            "active is stored and returned as a JSON boolean",
            |cx| {
                let u = cx.user("bool", json!({"active": false})).await?;
                let r = cx.get(&u.path).await?;
                r.expect(200)?;
                ensure!(attr(&r.json, "active") == Some(&Value::Bool(false)), "active: {:?}", attr(&r.json, "active"));
                Ok(())
            }),
        check!("user-enterprise-roundtrip", "RFC 7643 §4.3", Must, [Has(EnterpriseUser)],
            "enterprise extension attributes are stored under the extension URN, which is listed in schemas",
            |cx| {
                let u = cx.user("ent", json!({"schemas": [USER, ENTERPRISE], ENTERPRISE: {"employeeNumber": "E-42", "department": "Research", "manager": {"value": "someone"}}})).await?;
                let r = cx.get(&u.path).await?;
                r.expect(200)?;
                ensure!(has_schema(&r.json, ENTERPRISE), "schemas lacks the extension: {}", r.text);
                ensure!(ent(&r.json, "employeeNumber").and_then(Value::as_str) == Some("E-42"), "employeeNumber: {}", r.text);
                ensure!(ent(&r.json, "department").and_then(Value::as_str) == Some("Research"), "department: {}", r.text);
                Ok(())
            }),
        check!("user-attr-names-case-insensitive", "RFC 7643 §2.1", Must, [],
            "attribute names in a body are case-insensitive; the answer uses the schema's spelling",
            |cx| {
                let name = cx.name("case");
                let r = cx.post("/Users", json!({"schemas": [USER], "USERNAME": name, "Name": {"GIVENNAME": "Grace"}, "Title": "Admiral"})).await?;
                r.expect(201)?;
                ensure!(r.json.get("userName").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(&name)), "no \"userName\" in the answer: {}", r.text);
                ensure!(r.json.get("name").and_then(|n| n.get("givenName")).and_then(Value::as_str) == Some("Grace"), "no \"name.givenName\": {}", r.text);
                ensure!(r.json.get("title").and_then(Value::as_str) == Some("Admiral"), "no \"title\": {}", r.text);
                Ok(())
            }),
        check!("user-null-unassigned", "RFC 7643 §2.5", Must, [],
            "an attribute sent as null is unassigned and not returned",
            |cx| {
                let u = cx.user("null", json!({"title": null, "nickName": "nick"})).await?;
                let r = cx.get(&u.path).await?;
                r.expect(200)?;
                ensure!(!r.json.as_object().is_some_and(|o| o.contains_key("title")), "title is returned: {}", r.text);
                ensure!(str_at(&r.json, "nickName") == Some("nick"), "nickName: {}", r.text);
                Ok(())
            }),
        check!("user-empty-array-unassigned", "RFC 7643 §2.5", Should, [],
            "an empty multi-valued attribute is unassigned and not returned",
            |cx| {
                let u = cx.user("emptyarr", json!({"emails": []})).await?;
                let r = cx.get(&u.path).await?;
                r.expect(200)?;
                ensure!(!present(&r.json, "emails") && !r.json.as_object().is_some_and(|o| o.contains_key("emails")), "emails is returned: {}", r.text);
                Ok(())
            }),
        check!("user-put-replaces", "RFC 7644 §3.5.1", Must, [],
            "PUT replaces the user: attributes left out are removed, new values stored",
            |cx| {
                let u = cx.user("put", json!({"title": "Old", "nickName": "keep?"})).await?;
                let r = cx.put(&u.path, json!({"schemas": [USER], "userName": u.name, "title": "New"})).await?;
                r.expect(200)?;
                let g = cx.get(&u.path).await?;
                g.expect(200)?;
                ensure!(str_at(&g.json, "title") == Some("New"), "title: {}", g.text);
                ensure!(!present(&g.json, "nickName"), "nickName survived the PUT: {}", g.text);
                Ok(())
            }),
        check!("user-put-readonly-ignored", "RFC 7644 §3.5.1", Must, [],
            "PUT ignores readOnly values (meta.created) and keeps the id",
            |cx| {
                let u = cx.user("putro", json!({})).await?;
                let created = str_at(&u.body, "meta.created").map(str::to_string);
                let r = cx.put(&u.path, json!({"schemas": [USER], "id": u.id, "userName": u.name, "meta": {"created": "1999-01-01T00:00:00Z"}})).await?;
                r.expect(200)?;
                ensure!(str_at(&r.json, "id") == Some(u.id.as_str()), "id: {}", r.text);
                ensure!(str_at(&r.json, "meta.created").map(str::to_string) == created, "meta.created changed: {}", r.text);
                Ok(())
            }),
        check!("user-put-unknown-404", "RFC 7644 §3.5.1", Must, [],
            "PUT /Users/<unknown id> is 404",
            |cx| {
                let r = cx.put("/Users/scim-conformance-no-such-id-77aa", json!({"schemas": [USER], "userName": cx.name("ghost")})).await?;
                r.expect_error(404, &[])
            }),
        check!("user-put-username-conflict", "RFC 7644 §3.5.1", Must, [],
            "PUT that takes another user's userName is 409 uniqueness",
            |cx| {
                let a = cx.user("puta", json!({})).await?;
                let b = cx.user("putb", json!({})).await?;
                let r = cx.put(&b.path, json!({"schemas": [USER], "userName": a.name})).await?;
                r.expect_error(409, &["uniqueness"])
            }),
        check!("user-delete-204", "RFC 7644 §3.6", Must, [],
            "DELETE /Users/{id} answers 204",
            |cx| {
                let u = cx.user("del", json!({})).await?;
                let r = cx.delete(&u.path).await?;
                r.expect(204)
            }),
        check!("user-delete-then-404", "RFC 7644 §3.6", Must, [],
            "after DELETE, GET, PUT, PATCH and DELETE of the id are 404",
            |cx| {
                let u = cx.user("del404", json!({})).await?;
                cx.delete(&u.path).await?.expect(204)?;
                cx.get(&u.path).await?.expect_error(404, &[])?;
                cx.put(&u.path, json!({"schemas": [USER], "userName": u.name})).await?.expect_error(404, &[])?;
                if cx.caps().has(Patch) {
                    cx.patch(&u.path, json!([{"op": "replace", "path": "title", "value": "x"}])).await?.expect_error(404, &[])?;
                }
                cx.delete(&u.path).await?.expect_error(404, &[])
            }),
        check!("user-delete-gone-from-queries", "RFC 7644 §3.6", Must, [Has(Filter)],
            "a deleted user is no longer found by a filter",
            |cx| {
                // A second user that stays: a server that ignored the filter would list it.
                cx.user("delq-stays", json!({})).await?;
                let u = cx.user("delq", json!({})).await?;
                cx.delete(&u.path).await?.expect(204)?;
                let r = cx.get_q("/Users", &[("filter", &format!("userName eq \"{}\"", u.name))]).await?;
                r.expect(200)?;
                let list = r.list()?;
                ensure!(list.is_empty() && r.total() == Some(0), "the deleted user is still listed: {}", r.text);
                Ok(())
            }),
        check!("user-recreate-after-delete", "RFC 7644 §3.6", Must, [],
            "the userName of a deleted user can be used again (201)",
            |cx| {
                let u = cx.user("recreate", json!({})).await?;
                cx.delete(&u.path).await?.expect(204)?;
                let r = cx.post("/Users", json!({"schemas": [USER], "userName": u.name})).await?;
                r.expect(201)?;
                ensure!(r.id()? != u.id, "the new user got the deleted user's id (ids must not be reused)");
                Ok(())
            }),
        check!("user-list", "RFC 7644 §3.4.2", Must, [],
            "GET /Users answers a ListResponse with integer totalResults, startIndex and itemsPerPage",
            |cx| {
                cx.user("list", json!({})).await?;
                let r = cx.get_q("/Users", &[("count", "2")]).await?;
                r.expect(200)?;
                let list = r.list()?;
                ensure!(!list.is_empty(), "no Resources although a user exists");
                for k in ["startIndex", "itemsPerPage"] {
                    ensure!(r.json.get(k).is_some_and(Value::is_u64), "{k} is not an integer: {}", r.text);
                }
                Ok(())
            }),
        check!("user-list-resources-have-ids", "RFC 7644 §3.4.2", Must, [],
            "every listed resource has an id and the User schema",
            |cx| {
                cx.user("listid", json!({})).await?;
                let r = cx.get_q("/Users", &[("count", "5")]).await?;
                r.expect(200)?;
                for u in r.list()? {
                    ensure!(str_at(&u, "id").is_some(), "a resource without id: {u}");
                    ensure!(has_schema(&u, USER), "a resource without the User schema: {u}");
                }
                Ok(())
            }),
        check!("user-password-change-refused", "RFC 7643 §5", Should, [Has(Patch), Lacks(ChangePassword)],
            "with changePassword advertised as unsupported, a PATCH of password is refused",
            |cx| {
                let u = cx.user("pwchg", json!({"password": "Initial-Pass-1"})).await?;
                let r = cx.patch(&u.path, json!([{"op": "replace", "path": "password", "value": "Changed-Pass-2"}])).await?;
                r.expect_refusal()
            }),
        check!("user-password-change", "RFC 7643 §5", Must, [Has(Patch), Has(ChangePassword)],
            "with changePassword supported, a PATCH of password succeeds and the password is not returned",
            |cx| {
                let u = cx.user("pwok", json!({"password": "Initial-Pass-1"})).await?;
                let r = cx.patch(&u.path, json!([{"op": "replace", "path": "password", "value": "Changed-Pass-2"}])).await?;
                r.expect_any(&[200, 204])?;
                ensure!(!r.text.contains("Changed-Pass-2"), "the new password is returned");
                Ok(())
            }),
        check!("user-lastmodified-advances", "RFC 7643 §3.1", Should, [],
            "meta.lastModified is not before meta.created, and not earlier after an update",
            |cx| {
                let u = cx.user("lm", json!({})).await?;
                let c = str_at(&u.body, "meta.created").and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
                let m0 = str_at(&u.body, "meta.lastModified").and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
                let (Some(c), Some(m0)) = (c, m0) else { fail!("meta.created/lastModified missing: {}", u.body) };
                ensure!(m0 >= c, "lastModified {m0} is before created {c}");
                let r = cx.put(&u.path, json!({"schemas": [USER], "userName": u.name, "title": "changed"})).await?;
                r.expect(200)?;
                let m1 = str_at(&r.json, "meta.lastModified").and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
                let Some(m1) = m1 else { fail!("no meta.lastModified after PUT: {}", r.text) };
                ensure!(m1 >= m0, "lastModified went back from {m0} to {m1}");
                Ok(())
            }),
    ]
}
