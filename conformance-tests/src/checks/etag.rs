//! Versioning with ETags and preconditions (RFC 7644 §3.14; RFC 7232).

use serde_json::json;

use crate::cx::{str_at, Created, Cx, USER};
use crate::model::{Check, Stop};
#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};
use crate::{ensure, fail};

/// Creates a user and returns it with its current ETag (from GET).
async fn versioned(cx: &Cx, tag: &str) -> Result<(Created, String), Stop> {
    let u = cx.user(tag, json!({"title": "v1"})).await?;
    let r = cx.get(&u.path).await?;
    r.expect(200)?;
    let Some(e) = r.header("etag").map(str::to_string) else {
        fail!("GET of a resource has no ETag header although etag is supported")
    };
    Ok((u, e))
}

async fn change(cx: &Cx, u: &Created) -> Result<(), Stop> {
    cx.put(
        &u.path,
        json!({"schemas": [USER], "userName": u.name, "title": "v2"}),
    )
    .await?
    .expect(200)
}

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "etag-header",
            "RFC 7644 §3.14",
            Must,
            [Has(Etag)],
            "GET of a resource carries an ETag header",
            |cx| { versioned(cx, "e-hdr").await.map(|_| ()) }
        ),
        check!(
            "etag-meta-version",
            "RFC 7644 §3.14",
            Must,
            [Has(Etag)],
            "meta.version equals the ETag header",
            |cx| {
                let u = cx.user("e-ver", json!({})).await?;
                let r = cx.get(&u.path).await?;
                r.expect(200)?;
                let h = r.header("etag");
                let v = str_at(&r.json, "meta.version");
                ensure!(
                    h.is_some() && h == v,
                    "ETag {h:?} and meta.version {v:?} differ"
                );
                Ok(())
            }
        ),
        check!(
            "etag-on-create",
            "RFC 7644 §3.14",
            Should,
            [Has(Etag)],
            "the 201 of a create carries an ETag",
            |cx| {
                let name = cx.name("e-create");
                let r = cx
                    .post("/Users", json!({"schemas": [USER], "userName": name}))
                    .await?;
                r.expect(201)?;
                ensure!(r.header("etag").is_some(), "no ETag header on the 201");
                Ok(())
            }
        ),
        check!(
            "etag-changes",
            "RFC 7644 §3.14",
            Must,
            [Has(Etag)],
            "the ETag changes when the resource changes",
            |cx| {
                let (u, e1) = versioned(cx, "e-chg").await?;
                change(cx, &u).await?;
                let r = cx.get(&u.path).await?;
                let e2 = r.header("etag").unwrap_or("");
                ensure!(e1 != e2, "the ETag stayed {e1} after a change");
                Ok(())
            }
        ),
        check!(
            "etag-if-none-match-304",
            "RFC 7644 §3.14",
            Must,
            [Has(Etag)],
            "GET with If-None-Match of the current ETag is 304",
            |cx| {
                let (u, e) = versioned(cx, "e-304").await?;
                let r = cx
                    .req(reqwest::Method::GET, &u.path)
                    .header("If-None-Match", &e)
                    .send()
                    .await?;
                r.expect(304)
            }
        ),
        check!(
            "etag-if-none-match-stale-200",
            "RFC 7644 §3.14",
            Must,
            [Has(Etag)],
            "GET with If-None-Match of an old ETag is 200",
            |cx| {
                let (u, e) = versioned(cx, "e-nm200").await?;
                change(cx, &u).await?;
                let r = cx
                    .req(reqwest::Method::GET, &u.path)
                    .header("If-None-Match", &e)
                    .send()
                    .await?;
                r.expect(200)
            }
        ),
        check!(
            "etag-if-match-current",
            "RFC 7644 §3.14",
            Must,
            [Has(Etag)],
            "PUT with If-Match of the current ETag succeeds",
            |cx| {
                let (u, e) = versioned(cx, "e-im-ok").await?;
                let r = cx
                    .req(reqwest::Method::PUT, &u.path)
                    .header("If-Match", &e)
                    .json(&json!({"schemas": [USER], "userName": u.name, "title": "v2"}))
                    .send()
                    .await?;
                r.expect(200)
            }
        ),
        check!(
            "etag-if-match-stale-put",
            "RFC 7644 §3.14",
            Must,
            [Has(Etag)],
            "PUT with If-Match of an old ETag is 412 and changes nothing",
            |cx| {
                let (u, e) = versioned(cx, "e-im-put").await?;
                change(cx, &u).await?;
                let r = cx
                    .req(reqwest::Method::PUT, &u.path)
                    .header("If-Match", &e)
                    .json(&json!({"schemas": [USER], "userName": u.name, "title": "v3"}))
                    .send()
                    .await?;
                r.expect_error(412, &[])?;
                let g = cx.get(&u.path).await?;
                ensure!(
                    str_at(&g.json, "title") == Some("v2"),
                    "title is {:?}",
                    str_at(&g.json, "title")
                );
                Ok(())
            }
        ),
        check!(
            "etag-if-match-stale-patch",
            "RFC 7644 §3.14",
            Must,
            [Has(Etag), Has(Patch)],
            "PATCH with If-Match of an old ETag is 412",
            |cx| {
                let (u, e) = versioned(cx, "e-im-patch").await?;
                change(cx, &u).await?;
                let r = cx.req(reqwest::Method::PATCH, &u.path).header("If-Match", &e)
                    .json(&json!({"schemas": [crate::cx::PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "v3"}]})).send().await?;
                r.expect_error(412, &[])
            }
        ),
        check!(
            "etag-if-match-stale-delete",
            "RFC 7644 §3.14",
            Must,
            [Has(Etag)],
            "DELETE with If-Match of an old ETag is 412 and the resource stays",
            |cx| {
                let (u, e) = versioned(cx, "e-im-del").await?;
                change(cx, &u).await?;
                let r = cx
                    .req(reqwest::Method::DELETE, &u.path)
                    .header("If-Match", &e)
                    .send()
                    .await?;
                r.expect_error(412, &[])?;
                cx.get(&u.path).await?.expect(200)
            }
        ),
        check!(
            "etag-if-match-star",
            "RFC 7232 §3.1",
            Should,
            [Has(Etag)],
            "If-Match: * succeeds on an existing resource",
            |cx| {
                let (u, _) = versioned(cx, "e-star").await?;
                let r = cx
                    .req(reqwest::Method::PUT, &u.path)
                    .header("If-Match", "*")
                    .json(&json!({"schemas": [USER], "userName": u.name, "title": "v2"}))
                    .send()
                    .await?;
                r.expect(200)
            }
        ),
    ]
}
