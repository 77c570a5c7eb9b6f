//! Groups: create, read, replace, delete (RFC 7644 §3.3–§3.6; RFC 7643 §4.2).

use serde_json::{json, Value};

use crate::cx::{attr, has_schema, member_ids, str_at, GROUP};
use crate::ensure;
use crate::model::Check;
#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "group-create-201",
            "RFC 7644 §3.3",
            Must,
            [Has(Groups)],
            "POST /Groups answers 201 with the group, its id, displayName and the Group schema",
            |cx| {
                let name = cx.name("grp");
                let r = cx
                    .post("/Groups", json!({"schemas": [GROUP], "displayName": name}))
                    .await?;
                r.expect(201)?;
                r.id()?;
                ensure!(
                    str_at(&r.json, "displayName") == Some(name.as_str()),
                    "displayName: {}",
                    r.text
                );
                ensure!(has_schema(&r.json, GROUP), "schemas: {}", r.text);
                ensure!(
                    str_at(&r.json, "meta.resourceType") == Some("Group"),
                    "meta.resourceType: {}",
                    r.text
                );
                Ok(())
            }
        ),
        check!(
            "group-create-with-members",
            "RFC 7643 §4.2",
            Must,
            [Has(Groups)],
            "a group created with members returns them (value = the user's id)",
            |cx| {
                let a = cx.user("gm-a", json!({})).await?;
                let b = cx.user("gm-b", json!({})).await?;
                let g = cx.group("gm", &[&a.id, &b.id]).await?;
                let r = cx.get(&g.path).await?;
                r.expect(200)?;
                let mut want = vec![a.id.clone(), b.id.clone()];
                want.sort();
                ensure!(
                    member_ids(&r.json) == want,
                    "members: {:?}, expected {want:?}",
                    member_ids(&r.json)
                );
                Ok(())
            }
        ),
        check!(
            "group-member-ref",
            "RFC 7643 §4.2",
            Should,
            [Has(Groups)],
            "a member's $ref, when returned, is the URI of the user",
            |cx| {
                let a = cx.user("gref", json!({})).await?;
                let g = cx.group("gref", &[&a.id]).await?;
                let r = cx.get(&g.path).await?;
                r.expect(200)?;
                let m = attr(&r.json, "members")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .cloned()
                    .unwrap_or(Value::Null);
                match str_at(&m, "$ref") {
                    Some(rf) => ensure!(
                        rf.ends_with(&format!("/Users/{}", a.id)),
                        "$ref {rf:?} is not the user's URI"
                    ),
                    None => crate::skip!("members carry no $ref"),
                }
                Ok(())
            }
        ),
        check!(
            "group-missing-displayname-400",
            "RFC 7643 §4.2",
            Should,
            [Has(Groups)],
            "POST /Groups without the required displayName is 400",
            |cx| {
                let r = cx
                    .post(
                        "/Groups",
                        json!({"schemas": [GROUP], "externalId": cx.name("nodn")}),
                    )
                    .await?;
                r.expect_error(400, &["invalidValue", "invalidSyntax"])
            }
        ),
        check!(
            "group-get",
            "RFC 7644 §3.4.1",
            Must,
            [Has(Groups)],
            "GET /Groups/{id} answers the group",
            |cx| {
                let g = cx.group("gget", &[]).await?;
                let r = cx.get(&g.path).await?;
                r.expect(200)?;
                ensure!(
                    str_at(&r.json, "id") == Some(g.id.as_str()),
                    "id: {}",
                    r.text
                );
                ensure!(
                    str_at(&r.json, "displayName") == Some(g.name.as_str()),
                    "displayName: {}",
                    r.text
                );
                Ok(())
            }
        ),
        check!(
            "group-put-replaces-members",
            "RFC 7644 §3.5.1",
            Must,
            [Has(Groups)],
            "PUT replaces the members of a group",
            |cx| {
                let a = cx.user("gp-a", json!({})).await?;
                let b = cx.user("gp-b", json!({})).await?;
                let g = cx.group("gput", &[&a.id]).await?;
                let r = cx.put(&g.path, json!({"schemas": [GROUP], "displayName": g.name, "members": [{"value": b.id}]})).await?;
                r.expect(200)?;
                let r = cx.get(&g.path).await?;
                r.expect(200)?;
                ensure!(
                    member_ids(&r.json) == vec![b.id.clone()],
                    "members: {:?}",
                    member_ids(&r.json)
                );
                Ok(())
            }
        ),
        check!(
            "group-put-rename",
            "RFC 7644 §3.5.1",
            Must,
            [Has(Groups)],
            "PUT renames a group",
            |cx| {
                let g = cx.group("gren", &[]).await?;
                let new = cx.name("gren-new");
                let r = cx
                    .put(&g.path, json!({"schemas": [GROUP], "displayName": new}))
                    .await?;
                r.expect(200)?;
                let r = cx.get(&g.path).await?;
                ensure!(
                    str_at(&r.json, "displayName") == Some(new.as_str()),
                    "displayName: {}",
                    r.text
                );
                Ok(())
            }
        ),
        check!(
            "group-delete",
            "RFC 7644 §3.6",
            Must,
            [Has(Groups)],
            "DELETE /Groups/{id} is 204, then GET is 404",
            |cx| {
                let g = cx.group("gdel", &[]).await?;
                cx.delete(&g.path).await?.expect(204)?;
                cx.get(&g.path).await?.expect_error(404, &[])
            }
        ),
        check!(
            "group-delete-keeps-users",
            "RFC 7644 §3.6",
            Must,
            [Has(Groups)],
            "deleting a group does not delete its members",
            |cx| {
                let a = cx.user("gdk", json!({})).await?;
                let g = cx.group("gdk", &[&a.id]).await?;
                cx.delete(&g.path).await?.expect(204)?;
                cx.get(&a.path).await?.expect(200)
            }
        ),
        check!(
            "group-deleted-user-not-member",
            "RFC 7644 §3.6",
            Interop,
            [Has(Groups)],
            "a deleted user is no longer listed among a group's members",
            |cx| {
                let a = cx.user("gdu-a", json!({})).await?;
                let b = cx.user("gdu-b", json!({})).await?;
                let g = cx.group("gdu", &[&a.id, &b.id]).await?;
                cx.delete(&a.path).await?.expect(204)?;
                let r = cx.get(&g.path).await?;
                r.expect(200)?;
                ensure!(
                    member_ids(&r.json) == vec![b.id.clone()],
                    "members after deleting a user: {:?}",
                    member_ids(&r.json)
                );
                Ok(())
            }
        ),
        check!(
            "group-unknown-404",
            "RFC 7644 §3.12",
            Must,
            [Has(Groups)],
            "GET /Groups/<unknown id> is 404",
            |cx| cx
                .get("/Groups/scim-conformance-no-such-group")
                .await?
                .expect_error(404, &[])
        ),
        check!(
            "group-list",
            "RFC 7644 §3.4.2",
            Must,
            [Has(Groups)],
            "GET /Groups answers a ListResponse",
            |cx| {
                cx.group("glist", &[]).await?;
                let r = cx.get_q("/Groups", &[("count", "3")]).await?;
                r.expect(200)?;
                ensure!(!r.list()?.is_empty(), "no groups listed");
                Ok(())
            }
        ),
    ]
}
