//! Bulk (RFC 7644 §3.7): operations, bulkId references (forward, backward, circular),
//! failOnErrors, limits.

use serde_json::{json, Value};

use crate::cx::{has_schema, member_ids, str_at, Cx, Resp, BULK_REQ, BULK_RESP, GROUP, USER};
use crate::model::{Check, Stop};
#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};
use crate::{ensure, fail, skip};

/// Sends a bulk request; registers every created resource for cleanup.
async fn bulk(cx: &Cx, body: Value) -> Result<Resp, Stop> {
    let r = cx
        .req(reqwest::Method::POST, "/Bulk")
        .json(&body)
        .send()
        .await?;
    for op in ops(&r) {
        if let Some(loc) = str_at(&op, "location") {
            for ep in ["/Users/", "/Groups/"] {
                if let Some(i) = loc.rfind(ep) {
                    cx.track(&ep[..ep.len() - 1], &loc[i + ep.len()..]);
                }
            }
        }
    }
    Ok(r)
}

fn ops(r: &Resp) -> Vec<Value> {
    r.json
        .get("Operations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The status of a bulk operation result (a string per the RFC's examples; a number is read too).
fn status(op: &Value) -> Option<u16> {
    match op.get("status") {
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(Value::Number(n)) => n.as_u64().map(|n| n as u16),
        _ => None,
    }
}

fn id_of(op: &Value) -> Option<String> {
    str_at(op, "location")
        .and_then(|l| l.rsplit('/').next())
        .map(str::to_string)
}

fn request(ops: Value) -> Value {
    json!({"schemas": [BULK_REQ], "Operations": ops})
}

fn user_op(bulk_id: &str, name: &str) -> Value {
    json!({"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": {"schemas": [USER], "userName": name}})
}

/// Expects a 200 BulkResponse with `n` operation results.
fn expect_ops(r: &Resp, n: usize) -> Result<Vec<Value>, Stop> {
    r.expect(200)?;
    ensure!(
        has_schema(&r.json, BULK_RESP),
        "schemas lacks {BULK_RESP}: {}",
        r.text
    );
    let o = ops(r);
    ensure!(
        o.len() == n,
        "{} operation results, expected {n}: {}",
        o.len(),
        r.text
    );
    Ok(o)
}

pub fn checks() -> Vec<Check> {
    vec![
        check!("bulk-post-users", "RFC 7644 §3.7", Must, [Has(Bulk)],
            "a BulkRequest with two POSTs answers a BulkResponse with 201 and a location for each", |cx| {
                let (a, b) = (cx.name("b-a"), cx.name("b-b"));
                let r = bulk(cx, request(json!([user_op("a", &a), user_op("b", &b)]))).await?;
                let o = expect_ops(&r, 2)?;
                for op in &o {
                    ensure!(status(op) == Some(201), "operation status: {op}");
                    let Some(id) = id_of(op) else { fail!("no location: {op}") };
                    cx.get(&format!("/Users/{id}")).await?.expect(200)?;
                }
                Ok(())
            }),
        check!("bulk-result-fields", "RFC 7644 §3.7.3", Must, [Has(Bulk)],
            "each operation result has method, the bulkId of a POST, and status", |cx| {
                let r = bulk(cx, request(json!([user_op("only", &cx.name("b-f"))]))).await?;
                let o = expect_ops(&r, 1)?;
                ensure!(str_at(&o[0], "method").is_some_and(|m| m.eq_ignore_ascii_case("POST")), "method: {}", o[0]);
                ensure!(str_at(&o[0], "bulkId") == Some("only"), "bulkId: {}", o[0]);
                ensure!(status(&o[0]).is_some(), "status: {}", o[0]);
                Ok(())
            }),
        check!("bulk-bulkid-reference", "RFC 7644 §3.7.2", Must, [Has(Bulk), Has(Groups)],
            "a group referring to bulkId:<user> created earlier in the request gets the user's id", |cx| {
                let r = bulk(cx, request(json!([
                    user_op("u1", &cx.name("b-ref")),
                    {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"schemas": [GROUP], "displayName": cx.name("b-refg"), "members": [{"value": "bulkId:u1"}]}}
                ]))).await?;
                let o = expect_ops(&r, 2)?;
                let (Some(uid), Some(gid)) = (id_of(&o[0]), id_of(&o[1])) else { fail!("missing locations: {}", r.text) };
                let g = cx.get(&format!("/Groups/{gid}")).await?;
                g.expect(200)?;
                ensure!(member_ids(&g.json) == vec![uid.clone()], "members {:?}, expected [{uid}]", member_ids(&g.json));
                Ok(())
            }),
        check!("bulk-bulkid-forward", "RFC 7644 §3.7.2", Must, [Has(Bulk), Has(Groups)],
            "a bulkId reference to a resource created later in the request is resolved", |cx| {
                let r = bulk(cx, request(json!([
                    {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"schemas": [GROUP], "displayName": cx.name("b-fwdg"), "members": [{"value": "bulkId:u1"}]}},
                    user_op("u1", &cx.name("b-fwd"))
                ]))).await?;
                let o = expect_ops(&r, 2)?;
                let find = |b: &str| o.iter().find(|op| str_at(op, "bulkId") == Some(b)).cloned().unwrap_or(Value::Null);
                let (Some(gid), Some(uid)) = (id_of(&find("g1")), id_of(&find("u1"))) else { fail!("an operation failed: {}", r.text) };
                let g = cx.get(&format!("/Groups/{gid}")).await?;
                ensure!(member_ids(&g.json) == vec![uid.clone()], "members {:?}, expected [{uid}]", member_ids(&g.json));
                Ok(())
            }),
        check!("bulk-circular", "RFC 7644 §3.7.1", Must, [Has(Bulk), Has(Groups)],
            "circular bulkId references are resolved, or refused with 409; never a 5xx", |cx| {
                let r = bulk(cx, request(json!([
                    {"method": "POST", "path": "/Groups", "bulkId": "ga", "data": {"schemas": [GROUP], "displayName": cx.name("b-cyca"), "members": [{"value": "bulkId:gb"}]}},
                    {"method": "POST", "path": "/Groups", "bulkId": "gb", "data": {"schemas": [GROUP], "displayName": cx.name("b-cycb"), "members": [{"value": "bulkId:ga"}]}}
                ]))).await?;
                if r.status == 409 { return r.expect_error(409, &[]); }
                let o = expect_ops(&r, 2)?;
                let st: Vec<Option<u16>> = o.iter().map(status).collect();
                ensure!(st.iter().all(|s| matches!(s, Some(201) | Some(409))), "operation statuses {st:?}: {}", r.text);
                if st.iter().all(|s| *s == Some(201)) {
                    let (Some(a), Some(b)) = (id_of(&o[0]), id_of(&o[1])) else { fail!("no locations") };
                    let ga = cx.get(&format!("/Groups/{a}")).await?;
                    ensure!(member_ids(&ga.json) == vec![b.clone()], "group a's members {:?}, expected [{b}]", member_ids(&ga.json));
                }
                Ok(())
            }),
        check!("bulk-put-patch-delete", "RFC 7644 §3.7", Must, [Has(Bulk)],
            "PUT, PATCH and DELETE operations in a bulk request apply", |cx| {
                let a = cx.user("b-ops-a", json!({})).await?;
                let b = cx.user("b-ops-b", json!({})).await?;
                let c = cx.user("b-ops-c", json!({})).await?;
                let r = bulk(cx, request(json!([
                    {"method": "PUT", "path": a.path, "data": {"schemas": [USER], "userName": a.name, "title": "put"}},
                    {"method": "PATCH", "path": b.path, "data": {"schemas": [crate::cx::PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "patched"}]}},
                    {"method": "DELETE", "path": c.path}
                ]))).await?;
                let o = expect_ops(&r, 3)?;
                let st: Vec<Option<u16>> = o.iter().map(status).collect();
                ensure!(st[0] == Some(200) && matches!(st[1], Some(200) | Some(204)) && st[2] == Some(204), "operation statuses {st:?}");
                ensure!(str_at(&cx.get(&a.path).await?.json, "title") == Some("put"), "the PUT was not applied");
                ensure!(str_at(&cx.get(&b.path).await?.json, "title") == Some("patched"), "the PATCH was not applied");
                cx.get(&c.path).await?.expect(404)
            }),
        check!("bulk-errors-continue", "RFC 7644 §3.7.3", Must, [Has(Bulk)],
            "without failOnErrors, a failing operation gets its own error status and the others still run", |cx| {
                let taken = cx.user("b-taken", json!({})).await?;
                let fresh = cx.name("b-fresh");
                let r = bulk(cx, request(json!([user_op("dup", &taken.name), user_op("ok", &fresh)]))).await?;
                let o = expect_ops(&r, 2)?;
                ensure!(status(&o[0]) == Some(409), "the duplicate's status: {}", o[0]);
                let err = o[0].get("response").cloned().unwrap_or(Value::Null);
                ensure!(str_at(&err, "scimType") == Some("uniqueness"), "the duplicate's response is not a uniqueness error: {}", o[0]);
                ensure!(status(&o[1]) == Some(201), "the second operation: {}", o[1]);
                Ok(())
            }),
        check!("bulk-fail-on-errors", "RFC 7644 §3.7.3", Must, [Has(Bulk), Has(Filter)],
            "failOnErrors=1 stops after the first error: later operations are not performed", |cx| {
                let taken = cx.user("b-foe", json!({})).await?;
                let later = cx.name("b-foe-later");
                let mut body = request(json!([user_op("dup", &taken.name), user_op("later", &later)]));
                body["failOnErrors"] = json!(1);
                let r = bulk(cx, body).await?;
                r.expect(200)?;
                let o = ops(&r);
                ensure!(o.first().and_then(status) == Some(409), "first result: {}", r.text);
                ensure!(o.iter().all(|op| str_at(op, "bulkId") != Some("later")), "the operation after the error was performed: {}", r.text);
                let l = cx.list("/Users", &[("filter", &format!("userName eq \"{later}\""))]).await?;
                ensure!(l.is_empty(), "the user of the later operation exists");
                Ok(())
            }),
        check!("bulk-unresolved-bulkid", "RFC 7644 §3.7.2", Must, [Has(Bulk), Has(Groups)],
            "a reference to an unknown bulkId fails that operation with a 4xx", |cx| {
                let r = bulk(cx, request(json!([
                    {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"schemas": [GROUP], "displayName": cx.name("b-unres"), "members": [{"value": "bulkId:nowhere"}]}}
                ]))).await?;
                if (400..500).contains(&r.status) { return r.expect_error(r.status, &[]); }
                let o = expect_ops(&r, 1)?;
                ensure!(status(&o[0]).is_some_and(|s| (400..500).contains(&s)), "status of the operation: {}", o[0]);
                Ok(())
            }),
        check!("bulk-post-without-bulkid", "RFC 7644 §3.7", Must, [Has(Bulk)],
            "a POST operation without bulkId is refused (bulkId is REQUIRED for POST)", |cx| {
                let r = bulk(cx, request(json!([{"method": "POST", "path": "/Users", "data": {"schemas": [USER], "userName": cx.name("b-nobid")}}]))).await?;
                if r.status == 400 { return r.expect_error(400, &[]); }
                let o = expect_ops(&r, 1)?;
                ensure!(status(&o[0]).is_some_and(|s| (400..500).contains(&s)), "the operation was performed: {}", o[0]);
                Ok(())
            }),
        check!("bulk-max-operations", "RFC 7644 §3.7.4", Must, [Has(Bulk)],
            "more operations than bulk.maxOperations is 413", |cx| {
                let Some(max) = cx.caps().number("bulk", "maxOperations") else { skip!("no bulk.maxOperations advertised") };
                if max > 2000 { skip!("maxOperations {max} is too large to exceed cheaply"); }
                let ops: Vec<Value> = (0..=max).map(|i| json!({"method": "DELETE", "path": format!("/Users/scim-conformance-nonexistent-{i}")})).collect();
                let r = bulk(cx, request(Value::Array(ops))).await?;
                r.expect_error(413, &[])
            }),
        check!("bulk-max-payload", "RFC 7644 §3.7.4", Must, [Has(Bulk)],
            "a request larger than bulk.maxPayloadSize is 413", |cx| {
                let Some(max) = cx.caps().number("bulk", "maxPayloadSize") else { skip!("no bulk.maxPayloadSize advertised") };
                if max > 8 << 20 { skip!("maxPayloadSize {max} is too large to exceed cheaply"); }
                let filler = "x".repeat(max as usize + 1024);
                let r = bulk(cx, request(json!([{"method": "POST", "path": "/Users", "bulkId": "big", "data": {"schemas": [USER], "userName": cx.name("b-big"), "title": filler}}]))).await?;
                r.expect_error(413, &[])
            }),
        check!("bulk-invalid-syntax", "RFC 7644 §3.12", Must, [Has(Bulk)],
            "a BulkRequest without Operations is 400 invalidSyntax", |cx| {
                let r = bulk(cx, json!({"schemas": [BULK_REQ]})).await?;
                r.expect_error(400, &["invalidSyntax", "invalidValue"])
            }),
        check!("bulk-unsupported-refused", "RFC 7644 §3.7", Should, [Lacks(Bulk)],
            "with bulk advertised as unsupported, POST /Bulk is refused (501) and nothing is created", |cx| {
                let name = cx.name("b-unsup");
                let r = bulk(cx, request(json!([user_op("x", &name)]))).await?;
                r.expect_refusal()
            }),
    ]
}
