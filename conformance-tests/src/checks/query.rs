//! Sorting (RFC 7644 §3.4.2.3), index pagination (§3.4.2.4) and cursor pagination (RFC 9865),
//! on the run's data set.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::cx::{Cx, Resp};
use crate::data::Dataset;
use crate::model::{Check, Stop};
#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};
use crate::{ensure, fail, skip};

/// A scoped query on /Users with extra parameters.
async fn query(cx: &Cx, params: &[(&str, &str)]) -> Result<(std::sync::Arc<Dataset>, Resp), Stop> {
    let ds = cx.dataset().await?;
    let scope = ds.scope();
    let mut q: Vec<(&str, &str)> = vec![("filter", scope.as_str())];
    q.extend_from_slice(params);
    let r = cx.get_q("/Users", &q).await?;
    r.expect(200)?;
    Ok((ds, r))
}

/// Sorted tags of a query.
async fn order(cx: &Cx, params: &[(&str, &str)]) -> Result<Vec<String>, Stop> {
    let (ds, r) = query(cx, params).await?;
    let l = r.list()?;
    Ok(ds.tags(&l))
}

fn expect_order(got: &[String], want: &[&str], what: &str) -> Result<(), Stop> {
    ensure!(got == want, "{what}: got {got:?}, expected {want:?}");
    Ok(())
}

/// The same query with the opposite `sortOrder` must put the ends the other way round: a server
/// that ignores sorting returns the same order both times and cannot pass by chance (five
/// resources in storage order match a wanted order one time in 120).
async fn expect_reversible(
    cx: &Cx,
    params: &[(&str, &str)],
    got: &[String],
    skip_tag: Option<&str>,
) -> Result<(), Stop> {
    let descending = params
        .iter()
        .any(|(k, v)| *k == "sortOrder" && v.eq_ignore_ascii_case("descending"));
    let flipped = if descending {
        "ascending"
    } else {
        "descending"
    };
    let mut q: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| *k != "sortOrder")
        .copied()
        .collect();
    q.push(("sortOrder", flipped));
    let other: Vec<String> = order(cx, &q)
        .await?
        .into_iter()
        .filter(|t| Some(t.as_str()) != skip_tag)
        .collect();
    let (Some(first), Some(last)) = (got.first(), got.last()) else {
        return Ok(());
    };
    ensure!(
        other.first() == Some(last) && other.last() == Some(first),
        "sortOrder={flipped} should start with {last:?} and end with {first:?}: got {other:?}"
    );
    Ok(())
}

fn int(r: &Resp, k: &str) -> Option<u64> {
    r.json.get(k).and_then(Value::as_u64)
}

/// Pages with a cursor until the server stops giving a nextCursor (at most 20 pages).
async fn walk_cursor(cx: &Cx, count: &str) -> Result<(Vec<String>, Vec<String>), Stop> {
    let ds = cx.dataset().await?;
    let scope = ds.scope();
    let mut cursor = String::new();
    let mut seen = Vec::new();
    let mut cursors = Vec::new();
    for _ in 0..20 {
        let r = cx
            .get_q(
                "/Users",
                &[("filter", &scope), ("count", count), ("cursor", &cursor)],
            )
            .await?;
        r.expect(200)?;
        seen.extend(ds.tags(&r.list()?));
        match r.json.get("nextCursor").and_then(Value::as_str) {
            Some(c) if !c.is_empty() => {
                cursor = c.to_string();
                cursors.push(cursor.clone());
            }
            _ => return Ok((seen, cursors)),
        }
    }
    fail!("20 pages of {count} and still a nextCursor: the cursor does not advance")
}

pub fn checks() -> Vec<Check> {
    vec![
        check!("sort-username-asc", "RFC 7644 §3.4.2.3", Must, [Has(Sort), Has(Filter)],
            "sortBy=userName sorts ascending by default", |cx| {
                let p = [("sortBy", "userName")];
                let got = order(cx, &p).await?;
                let got: Vec<String> = got.into_iter().filter(|t| t != "Eve").collect();
                expect_order(&got, &["alice", "bob", "carol", "dave"], "sortBy=userName")?;
                expect_reversible(cx, &p, &got, Some("Eve")).await
            }),
        check!("sort-case-insensitive", "RFC 7644 §3.4.2.3", Must, [Has(Sort), Has(Filter)],
            "sorting a caseExact=false attribute ignores case (\"Eve\" after \"dave\")", |cx| {
                let got = order(cx, &[("sortBy", "userName"), ("sortOrder", "ascending")]).await?;
                expect_order(&got, &["alice", "bob", "carol", "dave", "Eve"], "sortBy=userName")
            }),
        check!("sort-descending", "RFC 7644 §3.4.2.3", Must, [Has(Sort), Has(Filter)],
            "sortOrder=descending reverses the order", |cx| {
                let p = [("sortBy", "userName"), ("sortOrder", "descending")];
                let got = order(cx, &p).await?;
                expect_order(&got, &["Eve", "dave", "carol", "bob", "alice"], "sortOrder=descending")?;
                expect_reversible(cx, &p, &got, None).await
            }),
        check!("sort-subattribute", "RFC 7644 §3.4.2.3", Must, [Has(Sort), Has(Filter)],
            "sortBy a sub-attribute (name.familyName)", |cx| {
                let p = [("sortBy", "name.familyName")];
                let got = order(cx, &p).await?;
                expect_order(&got, &["Eve", "dave", "carol", "bob", "alice"], "sortBy=name.familyName")?;
                expect_reversible(cx, &p, &got, None).await
            }),
        check!("sort-attr-case-insensitive", "RFC 7644 §3.4.2.3", Must, [Has(Sort), Has(Filter)],
            "sortBy is case-insensitive (NAME.FAMILYNAME)", |cx| {
                let got = order(cx, &[("sortBy", "NAME.FAMILYNAME")]).await?;
                expect_order(&got, &["Eve", "dave", "carol", "bob", "alice"], "sortBy=NAME.FAMILYNAME")
            }),
        check!("sort-missing-last", "RFC 7644 §3.4.2.3", Must, [Has(Sort), Has(Filter)],
            "ascending: resources without the attribute come last", |cx| {
                let got = order(cx, &[("sortBy", "title")]).await?;
                ensure!(got.len() == 5, "got {got:?}");
                ensure!(got[0] == "Eve" && got[3] == "bob" && got[4] == "carol", "sortBy=title: got {got:?}, expected Eve, alice|dave, bob, carol");
                Ok(())
            }),
        check!("sort-missing-first-descending", "RFC 7644 §3.4.2.3", Must, [Has(Sort), Has(Filter)],
            "descending: resources without the attribute come first", |cx| {
                let p = [("sortBy", "title"), ("sortOrder", "descending")];
                let got = order(cx, &p).await?;
                ensure!(got.len() == 5, "got {got:?}");
                ensure!(got[0] == "carol" && got[1] == "bob" && got[4] == "Eve", "sortBy=title descending: got {got:?}, expected carol, bob, alice|dave, Eve");
                expect_reversible(cx, &p, &got, None).await
            }),
        check!("sort-multivalued-primary", "RFC 7644 §3.4.2.3", Must, [Has(Sort), Has(Filter)],
            "sorting by a multi-valued attribute uses the primary value (emails.value)", |cx| {
                let p = [("sortBy", "emails.value")];
                let got = order(cx, &p).await?;
                expect_order(&got, &["bob", "alice", "carol", "dave", "Eve"], "sortBy=emails.value")?;
                expect_reversible(cx, &p, &got, None).await
            }),
        check!("sort-with-paging", "RFC 7644 §3.4.2.4", Must, [Has(Sort), Has(Filter)],
            "startIndex and count apply to the sorted result", |cx| {
                let got = order(cx, &[("sortBy", "userName"), ("startIndex", "2"), ("count", "2")]).await?;
                expect_order(&got, &["bob", "carol"], "sortBy=userName&startIndex=2&count=2")
            }),
        check!("sort-unsupported-clean", "RFC 7644 §3.4.2.3", Should, [Lacks(Sort)],
            "with sorting advertised as unsupported, sortBy is ignored or refused, never a 5xx", |cx| {
                let r = cx.get_q("/Users", &[("sortBy", "userName"), ("count", "2")]).await?;
                if r.status == 200 { r.list()?; return Ok(()); }
                r.expect_refusal()
            }),
        check!("page-count", "RFC 7644 §3.4.2.4", Must, [Has(Filter)],
            "count limits the page; totalResults counts all matches; itemsPerPage is the page size", |cx| {
                let (_, r) = query(cx, &[("count", "2")]).await?;
                let l = r.list()?;
                ensure!(l.len() == 2, "count=2 returned {} resources", l.len());
                ensure!(r.total() == Some(5), "totalResults {:?}, expected 5", r.total());
                ensure!(int(&r, "itemsPerPage") == Some(2), "itemsPerPage {:?}, expected 2", int(&r, "itemsPerPage"));
                Ok(())
            }),
        check!("page-startindex", "RFC 7644 §3.4.2.4", Must, [Has(Filter)],
            "startIndex is 1-based: startIndex=4 of 5 returns 2 resources and echoes startIndex 4", |cx| {
                let (_, r) = query(cx, &[("startIndex", "4"), ("count", "10")]).await?;
                let l = r.list()?;
                ensure!(l.len() == 2, "startIndex=4 returned {} resources, expected 2", l.len());
                ensure!(int(&r, "startIndex") == Some(4), "startIndex {:?}, expected 4", int(&r, "startIndex"));
                ensure!(r.total() == Some(5), "totalResults {:?}", r.total());
                Ok(())
            }),
        check!("page-startindex-zero", "RFC 7644 §3.4.2.4", Must, [Has(Filter)],
            "startIndex=0 is read as 1", |cx| {
                let (_, r) = query(cx, &[("startIndex", "0"), ("count", "10")]).await?;
                ensure!(r.list()?.len() == 5, "startIndex=0 returned {} resources, expected all 5", r.list()?.len());
                ensure!(int(&r, "startIndex") == Some(1), "startIndex {:?}, expected 1", int(&r, "startIndex"));
                Ok(())
            }),
        check!("page-startindex-negative", "RFC 7644 §3.4.2.4", Must, [Has(Filter)],
            "a negative startIndex is read as 1", |cx| {
                let (_, r) = query(cx, &[("startIndex", "-3"), ("count", "10")]).await?;
                ensure!(r.list()?.len() == 5, "startIndex=-3 returned {} resources, expected all 5", r.list()?.len());
                ensure!(int(&r, "startIndex") == Some(1), "startIndex {:?}, expected 1", int(&r, "startIndex"));
                Ok(())
            }),
        check!("page-count-zero", "RFC 7644 §3.4.2.4", Must, [Has(Filter)],
            "count=0 returns no resources but the right totalResults", |cx| {
                let (_, r) = query(cx, &[("count", "0")]).await?;
                ensure!(r.list()?.is_empty(), "count=0 returned resources");
                ensure!(r.total() == Some(5), "totalResults {:?}, expected 5", r.total());
                Ok(())
            }),
        check!("page-count-negative", "RFC 7644 §3.4.2.4", Must, [Has(Filter)],
            "a negative count is read as 0", |cx| {
                let (_, r) = query(cx, &[("count", "-1")]).await?;
                ensure!(r.list()?.is_empty(), "count=-1 returned resources");
                ensure!(r.total() == Some(5), "totalResults {:?}, expected 5", r.total());
                Ok(())
            }),
        check!("page-past-end", "RFC 7644 §3.4.2.4", Must, [Has(Filter)],
            "a startIndex past the end is 200 with no resources and the right totalResults", |cx| {
                let (_, r) = query(cx, &[("startIndex", "50"), ("count", "10")]).await?;
                ensure!(r.list()?.is_empty(), "startIndex=50 returned resources");
                ensure!(r.total() == Some(5), "totalResults {:?}, expected 5", r.total());
                Ok(())
            }),
        check!("page-items-per-page-last", "RFC 7644 §3.4.2.4", Must, [Has(Filter)],
            "itemsPerPage is the number returned on a short last page", |cx| {
                let (_, r) = query(cx, &[("startIndex", "5"), ("count", "2")]).await?;
                let n = r.list()?.len();
                ensure!(n == 1, "startIndex=5&count=2 returned {n} resources, expected 1");
                ensure!(int(&r, "itemsPerPage") == Some(1), "itemsPerPage {:?}, expected 1", int(&r, "itemsPerPage"));
                Ok(())
            }),
        check!("page-walk-stable", "RFC 7644 §3.4.2.4", Interop, [Has(Filter)],
            "paging with startIndex 1, 3, 5 and count 2 returns every resource exactly once (Okta import)", |cx| {
                let mut all = Vec::new();
                for start in ["1", "3", "5"] {
                    all.extend(order(cx, &[("startIndex", start), ("count", "2")]).await?);
                }
                let set: BTreeSet<&String> = all.iter().collect();
                ensure!(all.len() == 5 && set.len() == 5, "pages returned {all:?}");
                ensure!(all.iter().all(|t| !t.starts_with('?')), "pages returned foreign resources: {all:?}");
                Ok(())
            }),
        check!("page-numbers-are-integers", "RFC 7644 §3.4.2", Interop, [Has(Filter)],
            "totalResults, startIndex and itemsPerPage are JSON numbers, not strings", |cx| {
                let (_, r) = query(cx, &[("startIndex", "1"), ("count", "100")]).await?;
                for k in ["totalResults", "startIndex", "itemsPerPage"] {
                    ensure!(r.json.get(k).is_some_and(Value::is_u64), "{k} is {:?}", r.json.get(k));
                }
                Ok(())
            }),
        check!("cursor-first-page", "RFC 9865 §2", Must, [Has(Cursor), Has(Filter)],
            "cursor= (empty) with count=2 returns 2 resources and a nextCursor", |cx| {
                let ds = cx.dataset().await?;
                let r = cx.get_q("/Users", &[("filter", &ds.scope()), ("count", "2"), ("cursor", "")]).await?;
                r.expect(200)?;
                ensure!(r.list()?.len() == 2, "returned {} resources", r.list()?.len());
                ensure!(r.json.get("nextCursor").and_then(Value::as_str).is_some_and(|c| !c.is_empty()), "no nextCursor: {}", r.text);
                Ok(())
            }),
        check!("cursor-walk", "RFC 9865 §2", Must, [Has(Cursor), Has(Filter)],
            "following nextCursor returns every resource exactly once and ends without nextCursor", |cx| {
                let (seen, _) = walk_cursor(cx, "2").await?;
                let set: BTreeSet<&String> = seen.iter().collect();
                ensure!(seen.len() == 5 && set.len() == 5, "the pages returned {seen:?}");
                Ok(())
            }),
        check!("cursor-invalid", "RFC 9865 §2.2", Must, [Has(Cursor), Has(Filter)],
            "an unknown cursor is 400 with scimType invalidCursor", |cx| {
                let ds = cx.dataset().await?;
                let r = cx.get_q("/Users", &[("filter", &ds.scope()), ("count", "2"), ("cursor", "not-a-cursor-QUJD")]).await?;
                r.expect_error(400, &["invalidCursor"])
            }),
        check!("cursor-tampered", "RFC 9865 §2.2", Must, [Has(Cursor), Has(Filter)],
            "a modified cursor is 400 with scimType invalidCursor", |cx| {
                let (_, cursors) = walk_cursor(cx, "2").await?;
                let Some(c) = cursors.first() else { fail!("no nextCursor to modify") };
                let mut bytes: Vec<char> = c.chars().collect();
                let i = bytes.len() / 2;
                bytes[i] = if bytes[i] == 'A' { 'B' } else { 'A' };
                let bad: String = bytes.into_iter().collect();
                let ds = cx.dataset().await?;
                let r = cx.get_q("/Users", &[("filter", &ds.scope()), ("count", "2"), ("cursor", &bad)]).await?;
                r.expect_error(400, &["invalidCursor"])
            }),
        check!("cursor-expired", "RFC 9865 §2.2", Must, [Has(Cursor), Has(Filter)],
            "a cursor used after cursorTimeout is 400 with scimType expiredCursor", |cx| {
                let timeout = cx.caps().number("pagination", "cursorTimeout");
                let max = cx.shared.options.max_cursor_wait_secs;
                let Some(t) = timeout else { skip!("no pagination.cursorTimeout advertised") };
                if max == 0 || t + 1 > max {
                    skip!("cursorTimeout is {t} s; waiting for it needs --max-cursor-wait {}", t + 1);
                }
                let (_, cursors) = walk_cursor(cx, "2").await?;
                let Some(c) = cursors.first() else { fail!("no nextCursor") };
                tokio::time::sleep(Duration::from_secs(t + 1)).await;
                let ds = cx.dataset().await?;
                let r = cx.get_q("/Users", &[("filter", &ds.scope()), ("count", "2"), ("cursor", c)]).await?;
                r.expect_error(400, &["expiredCursor"])
            }),
        check!("cursor-unsupported-clean", "RFC 9865 §2", Should, [Lacks(Cursor)],
            "with cursors advertised as unsupported, a cursor parameter is ignored or refused, never a 5xx", |cx| {
                let r = cx.get_q("/Users", &[("cursor", ""), ("count", "2")]).await?;
                if r.status == 200 { r.list()?; return Ok(()); }
                r.expect_refusal()
            }),
    ]
}
