//! Schema rules (RFC 7643 §2, §4.1): mutability, primary, value preservation.

use serde_json::{json, Value};

use crate::cx::{attr, member_ids, str_at, USER};
use crate::ensure;
use crate::model::Check;
#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};

pub fn checks() -> Vec<Check> {
    vec![
        check!("schema-primary-at-most-one", "RFC 7643 §2.4", Must, [],
            "two values marked primary are refused (400) or stored with at most one primary",
            |cx| {
                let name = cx.name("prim");
                let r = cx.post("/Users", json!({"schemas": [USER], "userName": name, "emails": [
                    {"value": "p1@example.com", "type": "work", "primary": true},
                    {"value": "p2@example.com", "type": "home", "primary": true}]})).await?;
                if r.status == 400 {
                    return r.expect_error(400, &[]);
                }
                r.expect(201)?;
                let g = cx.get(&format!("/Users/{}", r.id()?)).await?;
                let n = attr(&g.json, "emails").and_then(Value::as_array).map(|a| a.iter().filter(|e| attr(e, "primary") == Some(&Value::Bool(true))).count()).unwrap_or(0);
                ensure!(n <= 1, "{n} emails are primary: {}", g.text);
                Ok(())
            }),
        check!("schema-groups-readonly", "RFC 7643 §4.1.2", Must, [Has(Groups)],
            "the User attribute groups is readOnly: sending it on create does not add the user to a group",
            |cx| {
                let g = cx.group("ro-grp", &[]).await?;
                let u = cx.user("ro-groups", json!({"groups": [{"value": g.id}]})).await?;
                let r = cx.get(&g.path).await?;
                r.expect(200)?;
                ensure!(!member_ids(&r.json).contains(&u.id), "the user became a member through its readOnly groups attribute");
                Ok(())
            }),
        check!("schema-put-id-mismatch", "RFC 7644 §3.5.1", Must, [],
            "a PUT body whose id differs from the URL does not change the id (ignored or 400)",
            |cx| {
                let u = cx.user("idmis", json!({})).await?;
                let r = cx.put(&u.path, json!({"schemas": [USER], "id": "another-id-123", "userName": u.name})).await?;
                if r.status == 400 {
                    return r.expect_error(400, &[]);
                }
                r.expect(200)?;
                ensure!(str_at(&r.json, "id") == Some(u.id.as_str()), "id changed to {:?}", str_at(&r.json, "id"));
                cx.get(&u.path).await?.expect(200)
            }),
        check!("schema-put-required", "RFC 7644 §3.5.1", Must, [],
            "a PUT without the required userName is 400",
            |cx| {
                let u = cx.user("putreq", json!({})).await?;
                let r = cx.put(&u.path, json!({"schemas": [USER], "title": "no userName"})).await?;
                r.expect_error(400, &["invalidValue", "invalidSyntax"])
            }),
        check!("schema-value-case-preserved", "RFC 7643 §2.3.1", Must, [],
            "string values keep their case (userName is compared case-insensitively but stored as sent)",
            |cx| {
                let name = format!("{}-MiXeD", cx.name("case"));
                let r = cx.post("/Users", json!({"schemas": [USER], "userName": name})).await?;
                r.expect(201)?;
                let g = cx.get(&format!("/Users/{}", r.id()?)).await?;
                ensure!(str_at(&g.json, "userName") == Some(name.as_str()), "userName came back as {:?}", str_at(&g.json, "userName"));
                Ok(())
            }),
        check!("schema-unicode-roundtrip", "RFC 7644 §3.8", Must, [],
            "non-ASCII strings (UTF-8) are stored and returned unchanged",
            |cx| {
                let dn = "Zoë Ñúñez 山田 😀";
                let u = cx.user("uni", json!({"displayName": dn, "name": {"familyName": "Ñúñez"}})).await?;
                let g = cx.get(&u.path).await?;
                ensure!(str_at(&g.json, "displayName") == Some(dn), "displayName: {:?}", str_at(&g.json, "displayName"));
                Ok(())
            }),
        check!("schema-externalid-roundtrip", "RFC 7643 §3.1", Must, [],
            "externalId is stored and returned exactly",
            |cx| {
                let ext = format!("{}-ExtID", cx.name("ext"));
                let u = cx.user("ext", json!({"externalId": ext})).await?;
                let g = cx.get(&u.path).await?;
                ensure!(str_at(&g.json, "externalId") == Some(ext.as_str()), "externalId: {:?}", str_at(&g.json, "externalId"));
                Ok(())
            }),
    ]
}
