//! Queries with POST `/.search` (RFC 7644 §3.4.3).

use serde_json::{json, Value};

use crate::cx::{present, str_at, Cx, Resp, SEARCH};
use crate::model::{Check, Stop};
#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};
use crate::{ensure, skip};

/// POSTs a SearchRequest; a 404, 405 or 501 means the endpoint is not offered (skipped).
async fn search(cx: &Cx, path: &str, mut body: Value) -> Result<Resp, Stop> {
    body["schemas"] = json!([SEARCH]);
    let r = cx
        .req(reqwest::Method::POST, path)
        .json(&body)
        .send()
        .await?;
    if matches!(r.status, 404 | 405 | 501) {
        skip!("POST {path} is not offered (HTTP {})", r.status);
    }
    Ok(r)
}

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "search-users-filter",
            "RFC 7644 §3.4.3",
            Must,
            [Has(Filter)],
            "POST /Users/.search with a filter answers the matching users",
            |cx| {
                let ds = cx.dataset().await?;
                let r = search(
                    cx,
                    "/Users/.search",
                    json!({"filter": ds.scoped("name.givenName eq \"Dave\"")}),
                )
                .await?;
                r.expect(200)?;
                let l = r.list()?;
                ensure!(
                    ds.tags(&l) == vec!["dave"] && r.total() == Some(1),
                    "got {:?} (totalResults {:?})",
                    ds.tags(&l),
                    r.total()
                );
                Ok(())
            }
        ),
        check!(
            "search-attributes",
            "RFC 7644 §3.4.3",
            Must,
            [Has(Filter)],
            "attributes in a SearchRequest project the results",
            |cx| {
                let ds = cx.dataset().await?;
                let r = search(
                    cx,
                    "/Users/.search",
                    json!({"filter": ds.scope(), "attributes": ["userName"]}),
                )
                .await?;
                r.expect(200)?;
                for u in r.list()? {
                    ensure!(
                        present(&u, "userName") && !present(&u, "name"),
                        "not projected: {u}"
                    );
                }
                Ok(())
            }
        ),
        check!(
            "search-excluded-attributes",
            "RFC 7644 §3.4.3",
            Must,
            [Has(Filter)],
            "excludedAttributes in a SearchRequest",
            |cx| {
                let ds = cx.dataset().await?;
                let r = search(
                    cx,
                    "/Users/.search",
                    json!({"filter": ds.scope(), "excludedAttributes": ["emails"]}),
                )
                .await?;
                r.expect(200)?;
                let l = r.list()?;
                ensure!(l.len() == 5, "{} results", l.len());
                for u in l {
                    ensure!(
                        !present(&u, "emails") && present(&u, "userName"),
                        "not projected: {u}"
                    );
                }
                Ok(())
            }
        ),
        check!(
            "search-paging-sorting",
            "RFC 7644 §3.4.3",
            Must,
            [Has(Filter), Has(Sort)],
            "sortBy, startIndex and count in a SearchRequest",
            |cx| {
                let ds = cx.dataset().await?;
                let r = search(cx, "/Users/.search", json!({"filter": ds.scope(), "sortBy": "userName", "sortOrder": "descending", "startIndex": 2, "count": 2})).await?;
                r.expect(200)?;
                let got = ds.tags(&r.list()?);
                ensure!(
                    got == vec!["dave", "carol"],
                    "got {got:?}, expected [dave, carol]"
                );
                ensure!(r.total() == Some(5), "totalResults {:?}", r.total());
                Ok(())
            }
        ),
        check!(
            "search-count-zero",
            "RFC 7644 §3.4.3",
            Must,
            [Has(Filter)],
            "count 0 in a SearchRequest gives totalResults only",
            |cx| {
                let ds = cx.dataset().await?;
                let r = search(
                    cx,
                    "/Users/.search",
                    json!({"filter": ds.scope(), "count": 0}),
                )
                .await?;
                r.expect(200)?;
                ensure!(
                    r.list()?.is_empty() && r.total() == Some(5),
                    "got {}",
                    r.text
                );
                Ok(())
            }
        ),
        check!(
            "search-invalid-filter",
            "RFC 7644 §3.4.3",
            Must,
            [Has(Filter)],
            "an invalid filter in a SearchRequest is 400 invalidFilter",
            |cx| {
                let r = search(cx, "/Users/.search", json!({"filter": "userName eq"})).await?;
                r.expect_error(400, &["invalidFilter"])
            }
        ),
        check!(
            "search-root",
            "RFC 7644 §3.4.3",
            Must,
            [Has(Filter), Has(Groups)],
            "POST /.search searches all resource types; each result names its resourceType",
            |cx| {
                let ds = cx.dataset().await?;
                let filter = format!("userName sw \"{0}-\" or displayName sw \"{0}-\"", ds.prefix);
                let r = search(cx, "/.search", json!({"filter": filter})).await?;
                r.expect(200)?;
                let l = r.list()?;
                let users = l
                    .iter()
                    .filter(|x| str_at(x, "meta.resourceType") == Some("User"))
                    .count();
                let groups = l
                    .iter()
                    .filter(|x| str_at(x, "meta.resourceType") == Some("Group"))
                    .count();
                ensure!(
                    users == 5 && groups == 2,
                    "{users} users and {groups} groups, expected 5 and 2"
                );
                Ok(())
            }
        ),
    ]
}
