//! Interoperability: the request sequences and dialects of Microsoft Entra ID (the default
//! dialect and `?aadOptscim062020`) and Okta, as documented by the vendors. These go beyond the
//! RFC; each check's section names the RFC rule the dialect bends.

use serde_json::{json, Value};

use crate::cx::{attr, ent, has_schema, member_ids, present, str_at, Cx, ENTERPRISE, GROUP, USER};
use crate::model::{Check, Stop};
#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};
use crate::{ensure, fail};

const MS_GROUP: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

/// PATCH with a raw PatchOp body (ops in the IdP's own spelling), expecting 200 or 204, and the
/// resource read back.
async fn idp_patch(cx: &Cx, path: &str, ops: Value) -> Result<Value, Stop> {
    let r = cx.patch(path, ops).await?;
    r.expect_any(&[200, 204])?;
    let g = cx.get(path).await?;
    g.expect(200)?;
    Ok(g.json)
}

pub fn checks() -> Vec<Check> {
    vec![
        check!("entra-test-connection", "RFC 7644 §3.4.2", Interop, [Has(Filter)],
            "Entra ID: a userName filter with a random GUID answers 200 with totalResults 0", |cx| {
                let r = cx.get_q("/Users", &[("filter", "userName eq \"8b5e9f4c-5a2d-4f7e-9c1b-2d3e4f5a6b7c\"")]).await?;
                r.expect(200)?;
                ensure!(r.total() == Some(0) && r.list()?.is_empty(), "not an empty list: {}", r.text);
                Ok(())
            }),
        check!("entra-provision-sequence", "RFC 7644 §3.3", Interop, [Has(Filter), Has(Patch)],
            "Entra ID: look up by userName (none), POST, look up again (found), disable with PATCH", |cx| {
                let name = format!("{}@contoso.example", cx.name("entra"));
                let f = format!("userName eq \"{name}\"");
                ensure!(cx.list("/Users", &[("filter", &f)]).await?.is_empty(), "found before creation");
                let r = cx.post("/Users", json!({"schemas": [USER, ENTERPRISE], "externalId": cx.name("oid"), "userName": name, "active": true,
                    "displayName": "Entra User", "emails": [{"primary": true, "type": "work", "value": name}],
                    "meta": {"resourceType": "User"}, "name": {"formatted": "Entra User", "familyName": "User", "givenName": "Entra"}, "roles": []})).await?;
                r.expect(201)?;
                let id = r.id()?;
                let found = cx.list("/Users", &[("filter", &f)]).await?;
                ensure!(found.len() == 1 && str_at(&found[0], "id") == Some(id.as_str()), "lookup after create: {found:?}");
                let v = idp_patch(cx, &format!("/Users/{id}"), json!([{"op": "Replace", "path": "active", "value": "False"}])).await?;
                ensure!(attr(&v, "active") == Some(&Value::Bool(false)), "active: {:?}", attr(&v, "active"));
                Ok(())
            }),
        check!("entra-capitalised-ops", "RFC 7644 §3.5.2", Interop, [Has(Patch)],
            "Entra ID: \"Add\", \"Replace\" and \"Remove\" ops are accepted", |cx| {
                let u = cx.user("e-ops", json!({"nickName": "drop"})).await?;
                let v = idp_patch(cx, &u.path, json!([
                    {"op": "Replace", "path": "displayName", "value": "Entra Name"},
                    {"op": "Add", "path": "title", "value": "Added"},
                    {"op": "Remove", "path": "nickName"}])).await?;
                ensure!(str_at(&v, "displayName") == Some("Entra Name") && str_at(&v, "title") == Some("Added") && !present(&v, "nickName"), "after PATCH: {v}");
                Ok(())
            }),
        check!("entra-boolean-strings", "RFC 7643 §2.3.2", Interop, [Has(Patch)],
            "Entra ID: booleans sent as \"False\" and \"True\" strings are stored as booleans", |cx| {
                let u = cx.user("e-bool", json!({"active": true})).await?;
                let v = idp_patch(cx, &u.path, json!([{"op": "Replace", "path": "active", "value": "False"}])).await?;
                ensure!(attr(&v, "active") == Some(&Value::Bool(false)), "after \"False\": {:?}", attr(&v, "active"));
                let v = idp_patch(cx, &u.path, json!([{"op": "Replace", "path": "active", "value": "True"}])).await?;
                ensure!(attr(&v, "active") == Some(&Value::Bool(true)), "after \"True\": {:?}", attr(&v, "active"));
                Ok(())
            }),
        check!("entra-remove-member-by-value", "RFC 7644 §3.5.2.2", Interop, [Has(Patch), Has(Groups)],
            "Entra ID: Remove members with a value array removes only those members", |cx| {
                let a = cx.user("e-rm-a", json!({})).await?;
                let b = cx.user("e-rm-b", json!({})).await?;
                let g = cx.group("e-rm", &[&a.id, &b.id]).await?;
                let v = idp_patch(cx, &g.path, json!([{"op": "Remove", "path": "members", "value": [{"value": a.id}]}])).await?;
                ensure!(member_ids(&v) == vec![b.id.clone()], "members: {:?} (the RFC reading would empty the group)", member_ids(&v));
                Ok(())
            }),
        check!("entra-add-member-null-ref", "RFC 7643 §2.5", Interop, [Has(Patch), Has(Groups)],
            "Entra ID: Add members with \"$ref\": null", |cx| {
                let a = cx.user("e-add", json!({})).await?;
                let g = cx.group("e-add", &[]).await?;
                let v = idp_patch(cx, &g.path, json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": a.id}]}])).await?;
                ensure!(member_ids(&v) == vec![a.id.clone()], "members: {:?}", member_ids(&v));
                Ok(())
            }),
        check!("entra-add-existing-member", "RFC 7644 §3.5.2.1", Interop, [Has(Patch), Has(Groups)],
            "Entra ID: adding a member that is already there succeeds", |cx| {
                let a = cx.user("e-addex", json!({})).await?;
                let g = cx.group("e-addex", &[&a.id]).await?;
                let v = idp_patch(cx, &g.path, json!([{"op": "Add", "path": "members", "value": [{"value": a.id}]}])).await?;
                ensure!(member_ids(&v) == vec![a.id.clone()], "members: {:?}", member_ids(&v));
                Ok(())
            }),
        check!("entra-several-member-changes", "RFC 7644 §3.5.2", Interop, [Has(Patch), Has(Groups)],
            "Entra ID: one PATCH adding three members and removing one", |cx| {
                let (a, b, c, d) = (cx.user("e-m-a", json!({})).await?, cx.user("e-m-b", json!({})).await?, cx.user("e-m-c", json!({})).await?, cx.user("e-m-d", json!({})).await?);
                let g = cx.group("e-many", &[&a.id]).await?;
                let v = idp_patch(cx, &g.path, json!([
                    {"op": "Add", "path": "members", "value": [{"value": b.id}, {"value": c.id}, {"value": d.id}]},
                    {"op": "Remove", "path": "members", "value": [{"value": a.id}]}])).await?;
                let mut want = vec![b.id, c.id, d.id];
                want.sort();
                ensure!(member_ids(&v) == want, "members: {:?}", member_ids(&v));
                Ok(())
            }),
        check!("entra-enterprise-urn-path", "RFC 7644 §3.10", Interop, [Has(Patch), Has(EnterpriseUser)],
            "Entra ID: Add with the path urn:…:enterprise:2.0:User:employeeNumber (the 2.0 is not a sub-attribute)", |cx| {
                let u = cx.user("e-urn", json!({})).await?;
                let v = idp_patch(cx, &u.path, json!([{"op": "Add", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "701984"}])).await?;
                ensure!(ent(&v, "employeeNumber").and_then(Value::as_str) == Some("701984"), "employeeNumber: {v}");
                ensure!(has_schema(&v, ENTERPRISE), "schemas lacks the extension: {v}");
                Ok(())
            }),
        check!("entra-valuefilter-creates", "RFC 7644 §3.5.2.3", Interop, [Has(Patch)],
            "Entra ID: Replace emails[type eq \"work\"].value on a user without a work email creates it", |cx| {
                let u = cx.user("e-vf", json!({})).await?;
                let v = idp_patch(cx, &u.path, json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new.work@example.com"}])).await?;
                let ok = attr(&v, "emails").and_then(Value::as_array).is_some_and(|a| a.iter().any(|e| str_at(e, "type") == Some("work") && str_at(e, "value") == Some("new.work@example.com")));
                ensure!(ok, "no work email after PATCH: {v}");
                Ok(())
            }),
        check!("entra-manager", "RFC 7643 §4.3", Interop, [Has(Patch), Has(EnterpriseUser)],
            "Entra ID: manager set as a bare id string or {\"value\"}, cleared with {\"value\": \"\"}", |cx| {
                let m = cx.user("e-mgr", json!({})).await?;
                let u = cx.user("e-mgd", json!({})).await?;
                let path = format!("{ENTERPRISE}:manager");
                let v = idp_patch(cx, &u.path, json!([{"op": "Replace", "path": path, "value": m.id}])).await?;
                ensure!(ent(&v, "manager").and_then(|x| str_at(x, "value")) == Some(m.id.as_str()), "after a bare id: {v}");
                let v = idp_patch(cx, &u.path, json!([{"op": "Replace", "path": path, "value": {"value": m.id}}])).await?;
                ensure!(ent(&v, "manager").and_then(|x| str_at(x, "value")) == Some(m.id.as_str()), "after {{value}}: {v}");
                let v = idp_patch(cx, &u.path, json!([{"op": "Replace", "path": path, "value": {"value": ""}}])).await?;
                ensure!(ent(&v, "manager").is_none(), "the manager was not cleared: {v}");
                Ok(())
            }),
        check!("entra-062020-pathless-dotted", "RFC 7644 §3.5.2.3", Interop, [Has(Patch), Has(EnterpriseUser)],
            "Entra ID (aadOptscim062020): one path-less replace with dotted and URN-prefixed keys", |cx| {
                let u = cx.user("e-dot", json!({"name": {"givenName": "Old", "familyName": "Keep"}})).await?;
                let v = idp_patch(cx, &format!("{}?aadOptscim062020", u.path), json!([{"op": "replace", "value": {
                    "displayName": "Dotted", "name.givenName": "New",
                    format!("{ENTERPRISE}:employeeNumber"): "42"}}])).await?;
                ensure!(str_at(&v, "displayName") == Some("Dotted"), "displayName: {v}");
                ensure!(str_at(&v, "name.givenName") == Some("New") && str_at(&v, "name.familyName") == Some("Keep"), "name: {v}");
                ensure!(ent(&v, "employeeNumber").and_then(Value::as_str) == Some("42"), "employeeNumber: {v}");
                Ok(())
            }),
        check!("entra-062020-flag-accepted", "RFC 7644 §3.4.2", Interop, [Has(Filter)],
            "Entra ID: the ?aadOptscim062020 flag on the URL does not break a query", |cx| {
                let ds = cx.dataset().await?;
                let r = cx.get_q("/Users?aadOptscim062020", &[("filter", &format!("userName eq \"{}-alice\"", ds.prefix))]).await?;
                r.expect(200)?;
                ensure!(ds.tags(&r.list()?) == vec!["alice"], "got {}", r.text);
                Ok(())
            }),
        check!("entra-post-extra-data", "RFC 7643 §2.5", Interop, [],
            "Entra ID: POST with meta, nulls, roles: [] and unknown data is accepted", |cx| {
                let name = cx.name("e-extra");
                let r = cx.post("/Users", json!({"schemas": [USER], "userName": name, "meta": {"resourceType": "User"},
                    "nickName": null, "roles": [], "title": null, "active": true})).await?;
                r.expect(201)?;
                ensure!(!present(&r.json, "nickName") && !present(&r.json, "roles"), "nulls or empty arrays were stored: {}", r.text);
                Ok(())
            }),
        check!("entra-group-ms-schema", "RFC 7643 §3", Interop, [Has(Groups)],
            "Entra ID: POST /Groups listing the Microsoft group schema URI is accepted", |cx| {
                let r = cx.post("/Groups", json!({"schemas": [GROUP, MS_GROUP], "displayName": cx.name("e-msg"), "externalId": cx.name("e-msg-ext"), "members": []})).await?;
                r.expect(201)
            }),
        check!("entra-groups-lookup-excluded-members", "RFC 7644 §3.9", Interop, [Has(Filter), Has(Groups)],
            "Entra ID: GET /Groups?excludedAttributes=members&filter=displayName eq …", |cx| {
                let ds = cx.dataset().await?;
                let r = cx.get_q("/Groups", &[("excludedAttributes", "members"), ("filter", &format!("displayName eq \"{}-team\"", ds.prefix))]).await?;
                r.expect(200)?;
                let l = r.list()?;
                ensure!(l.len() == 1 && str_at(&l[0], "id") == Some(ds.team.as_str()), "got {}", r.text);
                ensure!(!present(&l[0], "members"), "members returned: {}", l[0]);
                Ok(())
            }),
        check!("entra-filter-work-email-value", "RFC 7644 §3.4.2.2", Interop, [Has(Filter)],
            "Entra ID: the matching filter emails[type eq \"work\"].value eq \"…\"", |cx| {
                crate::checks::filter::users_match(cx, r#"emails[type eq "work"].value eq "alice@work.example.com""#, &["alice"]).await
            }),
        check!("entra-disabled-user-found", "RFC 7644 §3.4.2", Interop, [Has(Filter)],
            "Entra ID: a disabled user is still found by its userName", |cx| {
                let ds = cx.dataset().await?;
                let l = cx.list("/Users", &[("filter", &format!("userName eq \"{}-bob\"", ds.prefix))]).await?;
                ensure!(l.len() == 1 && attr(&l[0], "active") == Some(&Value::Bool(false)), "got {l:?}");
                Ok(())
            }),
        check!("entra-inactive-keeps-groups", "RFC 7644 §3.5.2", Interop, [Has(Patch), Has(Groups)],
            "Entra ID: disabling a user keeps its group memberships", |cx| {
                let a = cx.user("e-keep", json!({"active": true})).await?;
                let g = cx.group("e-keep", &[&a.id]).await?;
                idp_patch(cx, &a.path, json!([{"op": "Replace", "path": "active", "value": "False"}])).await?;
                let r = cx.get(&g.path).await?;
                ensure!(member_ids(&r.json) == vec![a.id.clone()], "members after disabling: {:?}", member_ids(&r.json));
                Ok(())
            }),
        check!("okta-lookup-with-paging", "RFC 7644 §3.4.2.4", Interop, [Has(Filter)],
            "Okta: a userName filter together with startIndex=1&count=100", |cx| {
                let ds = cx.dataset().await?;
                let l = cx.list("/Users", &[("filter", &format!("userName eq \"{}-carol\"", ds.prefix)), ("startIndex", "1"), ("count", "100")]).await?;
                ensure!(ds.tags(&l) == vec!["carol"], "got {:?}", ds.tags(&l));
                Ok(())
            }),
        check!("okta-create-with-groups-password", "RFC 7643 §4.1", Interop, [],
            "Okta: POST /Users with \"groups\": [] and a password is 201 with a non-empty body", |cx| {
                let name = format!("{}@okta.example", cx.name("okta"));
                let r = cx.req(reqwest::Method::POST, "/Users").header("Accept", "application/scim+json")
                    .raw(&json!({"schemas": [USER], "userName": name, "name": {"givenName": "Okta", "familyName": "User"},
                        "emails": [{"primary": true, "value": name, "type": "work"}], "displayName": "Okta User",
                        "locale": "en-US", "externalId": cx.name("00u"), "groups": [], "password": "1mz050nq-Okta", "active": true}).to_string(),
                        "application/scim+json; charset=utf-8").send().await?;
                r.expect(201)?;
                r.id()?;
                ensure!(!present(&r.json, "password"), "the password is returned");
                Ok(())
            }),
        check!("okta-deactivate-pathless", "RFC 7644 §3.5.2.3", Interop, [Has(Patch)],
            "Okta: {\"op\":\"replace\",\"value\":{\"active\":false}} deactivates", |cx| {
                let u = cx.user("o-deact", json!({"active": true})).await?;
                let v = idp_patch(cx, &u.path, json!([{"op": "replace", "value": {"active": false}}])).await?;
                ensure!(attr(&v, "active") == Some(&Value::Bool(false)), "active: {:?}", attr(&v, "active"));
                Ok(())
            }),
        check!("okta-group-rename-with-id", "RFC 7644 §3.5.2.3", Interop, [Has(Patch), Has(Groups)],
            "Okta: a path-less replace carrying the group's own id and a new displayName", |cx| {
                let g = cx.group("o-ren", &[]).await?;
                let new = cx.name("o-ren-new");
                let v = idp_patch(cx, &g.path, json!([{"op": "replace", "value": {"id": g.id, "displayName": new}}])).await?;
                ensure!(str_at(&v, "displayName") == Some(new.as_str()), "displayName: {v}");
                Ok(())
            }),
        check!("okta-remove-and-add-members", "RFC 7644 §3.5.2", Interop, [Has(Patch), Has(Groups)],
            "Okta: remove members[value eq …] and add members with display in one PATCH", |cx| {
                let a = cx.user("o-m-a", json!({})).await?;
                let b = cx.user("o-m-b", json!({})).await?;
                let g = cx.group("o-mem", &[&a.id]).await?;
                let v = idp_patch(cx, &g.path, json!([
                    {"op": "remove", "path": format!("members[value eq \"{}\"]", a.id)},
                    {"op": "add", "path": "members", "value": [{"value": b.id, "display": "B"}]}])).await?;
                ensure!(member_ids(&v) == vec![b.id.clone()], "members: {:?}", member_ids(&v));
                Ok(())
            }),
        check!("okta-replace-members-pathless", "RFC 7644 §3.5.2.3", Interop, [Has(Patch), Has(Groups)],
            "Okta: a path-less replace of members sets exactly those members", |cx| {
                let a = cx.user("o-rp-a", json!({})).await?;
                let b = cx.user("o-rp-b", json!({})).await?;
                let g = cx.group("o-rp", &[&a.id]).await?;
                let v = idp_patch(cx, &g.path, json!([{"op": "replace", "value": {"members": [{"value": b.id}]}}])).await?;
                ensure!(member_ids(&v) == vec![b.id.clone()], "members: {:?}", member_ids(&v));
                Ok(())
            }),
        check!("okta-put-whole-user", "RFC 7644 §3.5.1", Interop, [],
            "Okta: PUT of the whole user as read (with id, meta and groups: []) applies the change", |cx| {
                let u = cx.user("o-put", json!({"title": "Before"})).await?;
                let r = cx.get(&u.path).await?;
                r.expect(200)?;
                let mut body = r.json.clone();
                body["title"] = json!("After");
                body["groups"] = json!([]);
                let p = cx.put(&u.path, body).await?;
                p.expect(200)?;
                let g = cx.get(&u.path).await?;
                ensure!(str_at(&g.json, "title") == Some("After"), "title: {}", g.text);
                Ok(())
            }),
        check!("okta-group-empty-members", "RFC 7643 §2.5", Interop, [Has(Groups)],
            "Okta: POST /Groups with members: [] is 201", |cx| {
                let r = cx.post("/Groups", json!({"schemas": [GROUP], "displayName": cx.name("o-grp"), "members": []})).await?;
                r.expect(201)?;
                if present(&r.json, "members") { fail!("an empty members list came back as members: {}", r.text) }
                Ok(())
            }),
    ]
}
