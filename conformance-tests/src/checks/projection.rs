//! Projection: `attributes` and `excludedAttributes` with the `returned` rules (RFC 7644
//! §3.4.2.5, §3.9; RFC 7643 §2.2).

use serde_json::{json, Value};

use crate::cx::{at, attr, ent, present, str_at, Cx, Resp, ENTERPRISE, USER};
use crate::model::{Check, Stop};
#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};
use crate::{ensure, fail};

async fn alice(cx: &Cx, q: &[(&str, &str)]) -> Result<Resp, Stop> {
    let ds = cx.dataset().await?;
    let r = cx.get_q(&format!("/Users/{}", ds.id("alice")), q).await?;
    r.expect(200)?;
    Ok(r)
}

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "proj-attributes-get",
            "RFC 7644 §3.9",
            Must,
            [],
            "attributes=userName returns userName and id, and not the other attributes",
            |cx| {
                let r = alice(cx, &[("attributes", "userName")]).await?;
                ensure!(
                    present(&r.json, "userName") && present(&r.json, "id"),
                    "userName or id missing: {}",
                    r.text
                );
                for k in ["title", "emails", "name", "active"] {
                    ensure!(
                        !present(&r.json, k),
                        "{k} returned although not requested: {}",
                        r.text
                    );
                }
                Ok(())
            }
        ),
        check!(
            "proj-attributes-list",
            "RFC 7644 §3.4.2.5",
            Must,
            [Has(Filter)],
            "attributes applies to every resource of a list",
            |cx| {
                let ds = cx.dataset().await?;
                let r = cx
                    .get_q(
                        "/Users",
                        &[("filter", &ds.scope()), ("attributes", "userName")],
                    )
                    .await?;
                r.expect(200)?;
                let l = r.list()?;
                ensure!(l.len() == 5, "{} resources", l.len());
                for u in l {
                    ensure!(
                        present(&u, "id") && present(&u, "userName"),
                        "id or userName missing: {u}"
                    );
                    ensure!(
                        !present(&u, "name") && !present(&u, "emails"),
                        "unrequested attributes returned: {u}"
                    );
                }
                Ok(())
            }
        ),
        check!(
            "proj-excluded",
            "RFC 7644 §3.9",
            Must,
            [],
            "excludedAttributes=emails,title leaves them out and keeps the rest",
            |cx| {
                let r = alice(cx, &[("excludedAttributes", "emails,title")]).await?;
                ensure!(
                    !present(&r.json, "emails") && !present(&r.json, "title"),
                    "excluded attributes returned: {}",
                    r.text
                );
                ensure!(
                    present(&r.json, "userName") && present(&r.json, "name"),
                    "default attributes missing: {}",
                    r.text
                );
                Ok(())
            }
        ),
        check!(
            "proj-excluded-always",
            "RFC 7643 §2.2",
            Must,
            [],
            "id (returned: always) is returned even when excluded",
            |cx| {
                let r = alice(cx, &[("excludedAttributes", "id")]).await?;
                ensure!(present(&r.json, "id"), "id missing: {}", r.text);
                Ok(())
            }
        ),
        check!(
            "proj-subattribute",
            "RFC 7644 §3.9",
            Must,
            [],
            "attributes=name.givenName returns only that sub-attribute of name",
            |cx| {
                let r = alice(cx, &[("attributes", "name.givenName")]).await?;
                ensure!(
                    str_at(&r.json, "name.givenName") == Some("Alice"),
                    "name.givenName: {}",
                    r.text
                );
                ensure!(
                    !present(&r.json, "name.familyName"),
                    "name.familyName returned: {}",
                    r.text
                );
                ensure!(
                    !present(&r.json, "userName"),
                    "userName returned: {}",
                    r.text
                );
                Ok(())
            }
        ),
        check!(
            "proj-case-insensitive",
            "RFC 7643 §2.1",
            Must,
            [],
            "attribute names in attributes= are case-insensitive",
            |cx| {
                let r = alice(cx, &[("attributes", "USERNAME,Name.GivenName")]).await?;
                ensure!(present(&r.json, "userName"), "userName missing: {}", r.text);
                ensure!(
                    str_at(&r.json, "name.givenName") == Some("Alice"),
                    "name.givenName missing: {}",
                    r.text
                );
                ensure!(!present(&r.json, "title"), "title returned: {}", r.text);
                Ok(())
            }
        ),
        check!(
            "proj-urn-core",
            "RFC 7644 §3.10",
            Must,
            [],
            "a URN-qualified name in attributes=",
            |cx| {
                let r = alice(cx, &[("attributes", &format!("{USER}:title"))]).await?;
                ensure!(
                    str_at(&r.json, "title") == Some("Engineer"),
                    "title missing: {}",
                    r.text
                );
                ensure!(!present(&r.json, "emails"), "emails returned: {}", r.text);
                Ok(())
            }
        ),
        check!(
            "proj-urn-enterprise",
            "RFC 7644 §3.10",
            Must,
            [Has(EnterpriseUser)],
            "attributes=<enterprise URN>:department returns only that extension attribute",
            |cx| {
                let r = alice(cx, &[("attributes", &format!("{ENTERPRISE}:department"))]).await?;
                ensure!(
                    ent(&r.json, "department").and_then(Value::as_str) == Some("Engineering"),
                    "department missing: {}",
                    r.text
                );
                ensure!(
                    ent(&r.json, "employeeNumber").is_none(),
                    "employeeNumber returned: {}",
                    r.text
                );
                ensure!(!present(&r.json, "title"), "title returned: {}", r.text);
                Ok(())
            }
        ),
        check!(
            "proj-excluded-enterprise",
            "RFC 7644 §3.10",
            Must,
            [Has(EnterpriseUser)],
            "excludedAttributes=<enterprise URN>:employeeNumber removes only that attribute",
            |cx| {
                let r = alice(
                    cx,
                    &[(
                        "excludedAttributes",
                        &format!("{ENTERPRISE}:employeeNumber"),
                    )],
                )
                .await?;
                ensure!(
                    ent(&r.json, "employeeNumber").is_none(),
                    "employeeNumber returned: {}",
                    r.text
                );
                ensure!(
                    ent(&r.json, "department").is_some(),
                    "department missing: {}",
                    r.text
                );
                Ok(())
            }
        ),
        check!(
            "proj-password-never",
            "RFC 7643 §2.2",
            Must,
            [],
            "attributes=password does not return the password (returned: never)",
            |cx| {
                let u = cx
                    .user("projpw", json!({"password": "Pr0jected-Secret"}))
                    .await?;
                let r = cx
                    .get_q(&u.path, &[("attributes", "password,userName")])
                    .await?;
                r.expect(200)?;
                ensure!(
                    !present(&r.json, "password") && !r.text.contains("Pr0jected-Secret"),
                    "password returned: {}",
                    r.text
                );
                Ok(())
            }
        ),
        check!(
            "proj-on-post",
            "RFC 7644 §3.9",
            Should,
            [],
            "attributes= applies to the answer of POST",
            |cx| {
                let name = cx.name("projpost");
                let r = cx
                    .req(reqwest::Method::POST, "/Users")
                    .query("attributes", "userName")
                    .json(&json!({"schemas": [USER], "userName": name, "title": "Hidden"}))
                    .send()
                    .await?;
                r.expect(201)?;
                ensure!(present(&r.json, "id"), "no id: {}", r.text);
                ensure!(!present(&r.json, "title"), "title returned: {}", r.text);
                Ok(())
            }
        ),
        check!(
            "proj-group-excluded-members",
            "RFC 7644 §3.9",
            Must,
            [Has(Groups)],
            "excludedAttributes=members leaves out the members of a group",
            |cx| {
                let ds = cx.dataset().await?;
                let r = cx
                    .get_q(
                        &format!("/Groups/{}", ds.team),
                        &[("excludedAttributes", "members")],
                    )
                    .await?;
                r.expect(200)?;
                ensure!(!present(&r.json, "members"), "members returned: {}", r.text);
                ensure!(
                    present(&r.json, "displayName"),
                    "displayName missing: {}",
                    r.text
                );
                Ok(())
            }
        ),
        check!(
            "proj-group-members-only",
            "RFC 7644 §3.9",
            Must,
            [Has(Groups)],
            "attributes=members returns the members and no displayName",
            |cx| {
                let ds = cx.dataset().await?;
                let r = cx
                    .get_q(
                        &format!("/Groups/{}", ds.team),
                        &[("attributes", "members")],
                    )
                    .await?;
                r.expect(200)?;
                let n = at(&r.json, "members")
                    .and_then(Value::as_array)
                    .map(Vec::len)
                    .unwrap_or(0);
                ensure!(n == 2, "{n} members returned: {}", r.text);
                if attr(&r.json, "displayName").is_some() {
                    fail!("displayName returned: {}", r.text)
                }
                Ok(())
            }
        ),
    ]
}
