//! PATCH (RFC 7644 §3.5.2): every operation and path form, atomicity, and the error
//! scimTypes.

use serde_json::{json, Value};

use crate::cx::{
    attr, ent, has_schema, member_ids, present, str_at, Created, Cx, ENTERPRISE, PATCH_OP,
};
use crate::model::{Check, Stop};
#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};
use crate::{ensure, fail};

/// Applies a PATCH, expects 200 or 204, and returns the resource as read back with GET.
async fn patched(cx: &Cx, path: &str, ops: Value) -> Result<Value, Stop> {
    let r = cx.patch(path, ops).await?;
    r.expect_any(&[200, 204])?;
    let g = cx.get(path).await?;
    g.expect(200)?;
    Ok(g.json)
}

fn emails(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = attr(v, "emails")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        str_at(e, "type").unwrap_or("").to_string(),
                        str_at(e, "value").unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

async fn two_email_user(cx: &Cx, tag: &str) -> Result<Created, Stop> {
    cx.user(
        tag,
        json!({"emails": [
        {"value": "w@example.com", "type": "work", "primary": true},
        {"value": "h@example.org", "type": "home"}]}),
    )
    .await
}

fn pair(t: &str, v: &str) -> (String, String) {
    (t.to_string(), v.to_string())
}

pub fn checks() -> Vec<Check> {
    vec![
        check!("patch-add-pathless", "RFC 7644 §3.5.2.1", Must, [Has(Patch)],
            "add without path sets the attributes of the value object", |cx| {
                let u = cx.user("p-addnp", json!({})).await?;
                let v = patched(cx, &u.path, json!([{"op": "add", "value": {"title": "T1", "nickName": "N1"}}])).await?;
                ensure!(str_at(&v, "title") == Some("T1") && str_at(&v, "nickName") == Some("N1"), "after PATCH: {v}");
                Ok(())
            }),
        check!("patch-add-path", "RFC 7644 §3.5.2.1", Must, [Has(Patch)],
            "add with a path sets a single-valued attribute", |cx| {
                let u = cx.user("p-add", json!({})).await?;
                let v = patched(cx, &u.path, json!([{"op": "add", "path": "title", "value": "T2"}])).await?;
                ensure!(str_at(&v, "title") == Some("T2"), "title: {v}");
                Ok(())
            }),
        check!("patch-add-multivalued-appends", "RFC 7644 §3.5.2.1", Must, [Has(Patch)],
            "add to a multi-valued attribute appends the values", |cx| {
                let u = cx.user("p-addmv", json!({"emails": [{"value": "one@example.com", "type": "work"}]})).await?;
                let v = patched(cx, &u.path, json!([{"op": "add", "path": "emails", "value": [{"value": "two@example.com", "type": "home"}]}])).await?;
                ensure!(emails(&v) == vec![pair("home", "two@example.com"), pair("work", "one@example.com")], "emails: {:?}", emails(&v));
                Ok(())
            }),
        check!("patch-add-complex-merge", "RFC 7644 §3.5.2.1", Should, [Has(Patch)],
            "add to a complex attribute merges sub-attributes (name.familyName is kept)", |cx| {
                let u = cx.user("p-addcx", json!({"name": {"givenName": "Old", "familyName": "Keep"}})).await?;
                let v = patched(cx, &u.path, json!([{"op": "add", "path": "name", "value": {"givenName": "New"}}])).await?;
                ensure!(str_at(&v, "name.givenName") == Some("New") && str_at(&v, "name.familyName") == Some("Keep"), "name: {:?}", attr(&v, "name"));
                Ok(())
            }),
        check!("patch-add-existing-value", "RFC 7644 §3.5.2.1", Should, [Has(Patch)],
            "adding a value already present does not duplicate it", |cx| {
                let u = cx.user("p-adddup", json!({"emails": [{"value": "same@example.com", "type": "work"}]})).await?;
                let v = patched(cx, &u.path, json!([{"op": "add", "path": "emails", "value": [{"value": "same@example.com", "type": "work"}]}])).await?;
                ensure!(emails(&v).len() == 1, "emails: {:?}", emails(&v));
                Ok(())
            }),
        check!("patch-replace-path", "RFC 7644 §3.5.2.3", Must, [Has(Patch)],
            "replace with a path", |cx| {
                let u = cx.user("p-rep", json!({"title": "Before"})).await?;
                let v = patched(cx, &u.path, json!([{"op": "replace", "path": "title", "value": "After"}])).await?;
                ensure!(str_at(&v, "title") == Some("After"), "title: {v}");
                Ok(())
            }),
        check!("patch-replace-pathless", "RFC 7644 §3.5.2.3", Must, [Has(Patch)],
            "replace without path replaces the attributes of the value object", |cx| {
                let u = cx.user("p-repnp", json!({"title": "Before", "active": true})).await?;
                let v = patched(cx, &u.path, json!([{"op": "replace", "value": {"title": "After", "active": false}}])).await?;
                ensure!(str_at(&v, "title") == Some("After") && attr(&v, "active") == Some(&Value::Bool(false)), "after PATCH: {v}");
                Ok(())
            }),
        check!("patch-replace-subattribute", "RFC 7644 §3.5.2.3", Must, [Has(Patch)],
            "replace name.familyName keeps name.givenName", |cx| {
                let u = cx.user("p-repsub", json!({"name": {"givenName": "Keep", "familyName": "Old"}})).await?;
                let v = patched(cx, &u.path, json!([{"op": "replace", "path": "name.familyName", "value": "New"}])).await?;
                ensure!(str_at(&v, "name.familyName") == Some("New") && str_at(&v, "name.givenName") == Some("Keep"), "name: {:?}", attr(&v, "name"));
                Ok(())
            }),
        check!("patch-replace-valuefilter", "RFC 7644 §3.5.2.3", Must, [Has(Patch)],
            "replace emails[type eq \"work\"].value changes only the work email", |cx| {
                let u = two_email_user(cx, "p-repvf").await?;
                let v = patched(cx, &u.path, json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}])).await?;
                ensure!(emails(&v) == vec![pair("home", "h@example.org"), pair("work", "new@example.com")], "emails: {:?}", emails(&v));
                Ok(())
            }),
        check!("patch-replace-multivalued-all", "RFC 7644 §3.5.2.3", Must, [Has(Patch)],
            "replace of a multi-valued attribute without filter replaces all values", |cx| {
                let u = two_email_user(cx, "p-repall").await?;
                let v = patched(cx, &u.path, json!([{"op": "replace", "path": "emails", "value": [{"value": "only@example.com", "type": "other"}]}])).await?;
                ensure!(emails(&v) == vec![pair("other", "only@example.com")], "emails: {:?}", emails(&v));
                Ok(())
            }),
        check!("patch-replace-valuefilter-notarget", "RFC 7644 §3.5.2.3", Must, [Has(Patch)],
            "replace with a value filter that matches nothing is 400 noTarget", |cx| {
                let u = cx.user("p-notarget", json!({"emails": [{"value": "w@example.com", "type": "work"}]})).await?;
                let r = cx.patch(&u.path, json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "x@example.com"}])).await?;
                r.expect_error(400, &["noTarget"])
            }),
        check!("patch-remove-path", "RFC 7644 §3.5.2.2", Must, [Has(Patch)],
            "remove with a path unassigns the attribute", |cx| {
                let u = cx.user("p-rm", json!({"title": "Gone"})).await?;
                let v = patched(cx, &u.path, json!([{"op": "remove", "path": "title"}])).await?;
                ensure!(!present(&v, "title"), "title still there: {v}");
                Ok(())
            }),
        check!("patch-remove-valuefilter", "RFC 7644 §3.5.2.2", Must, [Has(Patch)],
            "remove emails[type eq \"home\"] removes only the matching value", |cx| {
                let u = two_email_user(cx, "p-rmvf").await?;
                let v = patched(cx, &u.path, json!([{"op": "remove", "path": "emails[type eq \"home\"]"}])).await?;
                ensure!(emails(&v) == vec![pair("work", "w@example.com")], "emails: {:?}", emails(&v));
                Ok(())
            }),
        check!("patch-remove-multivalued-all", "RFC 7644 §3.5.2.2", Must, [Has(Patch)],
            "remove of a multi-valued attribute without filter removes all values", |cx| {
                let u = two_email_user(cx, "p-rmall").await?;
                let v = patched(cx, &u.path, json!([{"op": "remove", "path": "emails"}])).await?;
                ensure!(!present(&v, "emails"), "emails still there: {:?}", emails(&v));
                Ok(())
            }),
        check!("patch-remove-subattribute", "RFC 7644 §3.5.2.2", Must, [Has(Patch)],
            "remove name.givenName keeps the other sub-attributes", |cx| {
                let u = cx.user("p-rmsub", json!({"name": {"givenName": "Drop", "familyName": "Keep"}})).await?;
                let v = patched(cx, &u.path, json!([{"op": "remove", "path": "name.givenName"}])).await?;
                ensure!(!present(&v, "name.givenName") && str_at(&v, "name.familyName") == Some("Keep"), "name: {:?}", attr(&v, "name"));
                Ok(())
            }),
        check!("patch-remove-no-path", "RFC 7644 §3.5.2.2", Must, [Has(Patch)],
            "remove without a path is 400 noTarget", |cx| {
                let u = cx.user("p-rmnp", json!({"title": "Stay"})).await?;
                let r = cx.patch(&u.path, json!([{"op": "remove"}])).await?;
                r.expect_error(400, &["noTarget"])
            }),
        check!("patch-remove-unset", "RFC 7644 §3.5.2.2", Should, [Has(Patch)],
            "removing an attribute that has no value succeeds and changes nothing", |cx| {
                let u = cx.user("p-rmunset", json!({"title": "Stay"})).await?;
                let v = patched(cx, &u.path, json!([{"op": "remove", "path": "nickName"}])).await?;
                ensure!(str_at(&v, "title") == Some("Stay") && !present(&v, "nickName"), "after PATCH: {v}");
                Ok(())
            }),
        check!("patch-atomic", "RFC 7644 §3.5.2", Must, [Has(Patch)],
            "a PATCH whose second operation fails changes nothing (atomic)", |cx| {
                let u = cx.user("p-atomic", json!({"title": "Original"})).await?;
                let r = cx.patch(&u.path, json!([
                    {"op": "replace", "path": "title", "value": "Changed"},
                    {"op": "remove"}])).await?;
                ensure!(r.status == 400, "expected 400 for a PATCH with an invalid operation, got {}: {}", r.status, r.text);
                let g = cx.get(&u.path).await?;
                g.expect(200)?;
                ensure!(str_at(&g.json, "title") == Some("Original"), "the first operation was applied: title is {:?}", str_at(&g.json, "title"));
                Ok(())
            }),
        check!("patch-readonly-id", "RFC 7644 §3.5.2", Must, [Has(Patch)],
            "replacing id (readOnly) is 400 mutability", |cx| {
                let u = cx.user("p-roid", json!({})).await?;
                let r = cx.patch(&u.path, json!([{"op": "replace", "path": "id", "value": "other-id"}])).await?;
                r.expect_error(400, &["mutability"])?;
                cx.get(&u.path).await?.expect(200)
            }),
        check!("patch-readonly-meta", "RFC 7644 §3.5.2", Must, [Has(Patch)],
            "replacing meta.created (readOnly) is 400 mutability", |cx| {
                let u = cx.user("p-rometa", json!({})).await?;
                let r = cx.patch(&u.path, json!([{"op": "replace", "path": "meta.created", "value": "1999-01-01T00:00:00Z"}])).await?;
                r.expect_error(400, &["mutability"])
            }),
        check!("patch-invalid-path", "RFC 7644 §3.5.2", Must, [Has(Patch)],
            "a malformed path is 400 invalidPath", |cx| {
                let u = cx.user("p-badpath", json!({})).await?;
                let r = cx.patch(&u.path, json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}])).await?;
                r.expect_error(400, &["invalidPath", "invalidFilter"])
            }),
        check!("patch-unknown-op", "RFC 7644 §3.5.2", Must, [Has(Patch)],
            "an unknown op is 400", |cx| {
                let u = cx.user("p-badop", json!({})).await?;
                let r = cx.patch(&u.path, json!([{"op": "frobnicate", "path": "title", "value": "x"}])).await?;
                r.expect_error(400, &["invalidSyntax", "invalidValue"])
            }),
        check!("patch-no-operations", "RFC 7644 §3.5.2", Must, [Has(Patch)],
            "a PatchOp without Operations is 400 invalidSyntax", |cx| {
                let u = cx.user("p-noops", json!({})).await?;
                let r = cx.req(reqwest::Method::PATCH, &u.path).json(&json!({"schemas": [PATCH_OP]})).send().await?;
                r.expect_error(400, &["invalidSyntax", "invalidValue"])
            }),
        check!("patch-bad-value-type", "RFC 7644 §3.5.2", Must, [Has(Patch)],
            "a value of the wrong type (active: \"banana\") is 400 invalidValue and changes nothing", |cx| {
                let u = cx.user("p-badval", json!({"active": true})).await?;
                let r = cx.patch(&u.path, json!([{"op": "replace", "path": "active", "value": "banana"}])).await?;
                r.expect_error(400, &["invalidValue"])?;
                let g = cx.get(&u.path).await?;
                ensure!(attr(&g.json, "active") == Some(&Value::Bool(true)), "active: {:?}", attr(&g.json, "active"));
                Ok(())
            }),
        check!("patch-response", "RFC 7644 §3.5.2", Must, [Has(Patch)],
            "a successful PATCH answers 204, or 200 with the updated resource", |cx| {
                let u = cx.user("p-resp", json!({})).await?;
                let r = cx.patch(&u.path, json!([{"op": "replace", "path": "title", "value": "Shown"}])).await?;
                r.expect_any(&[200, 204])?;
                if r.status == 200 {
                    ensure!(str_at(&r.json, "id") == Some(u.id.as_str()) && str_at(&r.json, "title") == Some("Shown"), "the 200 body is not the updated user: {}", r.text);
                }
                Ok(())
            }),
        check!("patch-unknown-resource-404", "RFC 7644 §3.5.2", Must, [Has(Patch)],
            "PATCH of an unknown id is 404", |cx| {
                let r = cx.patch("/Users/scim-conformance-no-such-user", json!([{"op": "replace", "path": "title", "value": "x"}])).await?;
                r.expect_error(404, &[])
            }),
        check!("patch-enterprise-urn-path", "RFC 7644 §3.5.2", Must, [Has(Patch), Has(EnterpriseUser)],
            "a URN-qualified path sets an enterprise attribute and adds the extension to schemas", |cx| {
                let u = cx.user("p-urn", json!({})).await?;
                let v = patched(cx, &u.path, json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Finance"}])).await?;
                ensure!(ent(&v, "department").and_then(Value::as_str) == Some("Finance"), "department: {v}");
                ensure!(has_schema(&v, ENTERPRISE), "schemas lacks the extension URN: {v}");
                Ok(())
            }),
        check!("patch-enterprise-pathless", "RFC 7644 §3.5.2.1", Must, [Has(Patch), Has(EnterpriseUser)],
            "add without path with the extension URN as key sets its attributes", |cx| {
                let u = cx.user("p-urnnp", json!({})).await?;
                let v = patched(cx, &u.path, json!([{"op": "add", "value": {ENTERPRISE: {"costCenter": "CC-7"}}}])).await?;
                ensure!(ent(&v, "costCenter").and_then(Value::as_str) == Some("CC-7"), "costCenter: {v}");
                Ok(())
            }),
        check!("patch-enterprise-remove-last", "RFC 7643 §3", Should, [Has(Patch), Has(EnterpriseUser)],
            "removing the last extension attribute removes the extension URN from schemas", |cx| {
                let u = cx.user("p-urnrm", json!({"schemas": [crate::cx::USER, ENTERPRISE], ENTERPRISE: {"department": "Temp"}})).await?;
                let v = patched(cx, &u.path, json!([{"op": "remove", "path": format!("{ENTERPRISE}:department")}])).await?;
                ensure!(ent(&v, "department").is_none(), "department still there: {v}");
                ensure!(!has_schema(&v, ENTERPRISE), "schemas still lists the extension: {v}");
                Ok(())
            }),
        check!("patch-group-add-member", "RFC 7644 §3.5.2.1", Must, [Has(Patch), Has(Groups)],
            "add members appends a member", |cx| {
                let a = cx.user("pg-a", json!({})).await?;
                let b = cx.user("pg-b", json!({})).await?;
                let g = cx.group("pg-add", &[&a.id]).await?;
                let v = patched(cx, &g.path, json!([{"op": "add", "path": "members", "value": [{"value": b.id}]}])).await?;
                let mut want = vec![a.id, b.id];
                want.sort();
                ensure!(member_ids(&v) == want, "members: {:?}", member_ids(&v));
                Ok(())
            }),
        check!("patch-group-add-existing-member", "RFC 7644 §3.5.2.1", Should, [Has(Patch), Has(Groups)],
            "adding an existing member succeeds without duplicating it", |cx| {
                let a = cx.user("pg-dup", json!({})).await?;
                let g = cx.group("pg-dup", &[&a.id]).await?;
                let v = patched(cx, &g.path, json!([{"op": "add", "path": "members", "value": [{"value": a.id}]}])).await?;
                ensure!(member_ids(&v) == vec![a.id.clone()], "members: {:?}", member_ids(&v));
                Ok(())
            }),
        check!("patch-group-remove-member-filter", "RFC 7644 §3.5.2.2", Must, [Has(Patch), Has(Groups)],
            "remove members[value eq \"…\"] removes only that member", |cx| {
                let a = cx.user("pgr-a", json!({})).await?;
                let b = cx.user("pgr-b", json!({})).await?;
                let g = cx.group("pg-rm", &[&a.id, &b.id]).await?;
                let v = patched(cx, &g.path, json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", a.id)}])).await?;
                ensure!(member_ids(&v) == vec![b.id.clone()], "members: {:?}", member_ids(&v));
                Ok(())
            }),
        check!("patch-group-remove-all-members", "RFC 7644 §3.5.2.2", Must, [Has(Patch), Has(Groups)],
            "remove members without filter removes every member", |cx| {
                let a = cx.user("pgra-a", json!({})).await?;
                let b = cx.user("pgra-b", json!({})).await?;
                let g = cx.group("pg-rmall", &[&a.id, &b.id]).await?;
                let v = patched(cx, &g.path, json!([{"op": "remove", "path": "members"}])).await?;
                ensure!(member_ids(&v).is_empty(), "members: {:?}", member_ids(&v));
                Ok(())
            }),
        check!("patch-group-replace-members", "RFC 7644 §3.5.2.3", Must, [Has(Patch), Has(Groups)],
            "replace members sets exactly the given members", |cx| {
                let a = cx.user("pgrp-a", json!({})).await?;
                let b = cx.user("pgrp-b", json!({})).await?;
                let g = cx.group("pg-rep", &[&a.id]).await?;
                let v = patched(cx, &g.path, json!([{"op": "replace", "path": "members", "value": [{"value": b.id}]}])).await?;
                ensure!(member_ids(&v) == vec![b.id.clone()], "members: {:?}", member_ids(&v));
                Ok(())
            }),
        check!("patch-group-ops-in-order", "RFC 7644 §3.5.2", Must, [Has(Patch), Has(Groups)],
            "operations apply in order: add then remove of the same member leaves it out", |cx| {
                let a = cx.user("pgo-a", json!({})).await?;
                let b = cx.user("pgo-b", json!({})).await?;
                let g = cx.group("pg-order", &[&a.id]).await?;
                let v = patched(cx, &g.path, json!([
                    {"op": "add", "path": "members", "value": [{"value": b.id}]},
                    {"op": "remove", "path": format!("members[value eq \"{}\"]", b.id)}])).await?;
                ensure!(member_ids(&v) == vec![a.id.clone()], "members: {:?}", member_ids(&v));
                Ok(())
            }),
        check!("patch-unsupported-refused", "RFC 7644 §3.12", Should, [Lacks(Patch)],
            "with PATCH advertised as unsupported, a PATCH is refused (501) and changes nothing", |cx| {
                let u = cx.user("p-unsup", json!({"title": "Same"})).await?;
                let r = cx.patch(&u.path, json!([{"op": "replace", "path": "title", "value": "Changed"}])).await?;
                r.expect_refusal()?;
                let g = cx.get(&u.path).await?;
                if str_at(&g.json, "title") != Some("Same") { fail!("the refused PATCH was applied: {}", g.text) }
                Ok(())
            }),
    ]
}
