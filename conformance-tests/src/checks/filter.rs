//! Filters (RFC 7644 §3.4.2.2): every operator, `and`/`or`/`not`, precedence, grouping, value
//! paths, URN-qualified paths, case rules, and malformed filters. Every query is scoped to the
//! run's data set (see `crate::data`), and both the resources and `totalResults` must match.

use serde_json::Value;

use crate::cx::{Cx, ENTERPRISE, USER};
use crate::data::Dataset;
use crate::model::{Check, Verdict};
#[allow(unused_imports)]
use crate::model::{Feature::*, Needs::*};
use crate::{ensure, fail};

/// Runs `expr` (scoped to the data set) on /Users and compares the users found with
/// `expected` (tags of the data set), ignoring order, and `totalResults` with their number.
pub(crate) async fn users_match(cx: &Cx, expr: &str, expected: &[&str]) -> Verdict {
    let ds = cx.dataset().await?;
    let expr = expr.replace("{P}", &ds.prefix);
    let filter = ds.scoped(&expr);
    let r = cx.get_q("/Users", &[("filter", &filter)]).await?;
    r.expect(200)?;
    let list = r.list()?;
    compare(&ds, &list, r.total(), expected, &filter)
}

fn compare(
    ds: &Dataset,
    list: &[Value],
    total: Option<u64>,
    expected: &[&str],
    filter: &str,
) -> Verdict {
    let mut got = ds.tags(list);
    got.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    ensure!(
        got == want,
        "filter {filter:?} returned {got:?}, expected {want:?}"
    );
    ensure!(
        total == Some(want.len() as u64),
        "filter {filter:?}: totalResults is {total:?}, expected {}",
        want.len()
    );
    Ok(())
}

/// Runs `expr` on /Groups scoped to the data set's groups.
async fn groups_match(cx: &Cx, expr: &str, expected: &[&str]) -> Verdict {
    let ds = cx.dataset().await?;
    let mut expr = expr.replace("{P}", &ds.prefix);
    for tag in crate::data::USERS {
        expr = expr.replace(&format!("{{{tag}}}"), ds.id(tag));
    }
    let filter = format!("{expr} and displayName sw \"{}-\"", ds.prefix);
    let r = cx.get_q("/Groups", &[("filter", &filter)]).await?;
    r.expect(200)?;
    let list = r.list()?;
    let mut got: Vec<String> = list
        .iter()
        .map(|g| {
            let id = g.get("id").and_then(Value::as_str).unwrap_or("");
            if id == ds.team {
                "team".to_string()
            } else if id == ds.empty {
                "empty".to_string()
            } else {
                format!("?{id}")
            }
        })
        .collect();
    got.sort();
    let want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    ensure!(
        got == want,
        "filter {filter:?} returned {got:?}, expected {want:?}"
    );
    ensure!(
        r.total() == Some(want.len() as u64),
        "filter {filter:?}: totalResults is {:?}",
        r.total()
    );
    Ok(())
}

/// Expects `400 invalidFilter` for a malformed or invalid filter.
async fn invalid(cx: &Cx, filter: &str) -> Verdict {
    let r = cx.get_q("/Users", &[("filter", filter)]).await?;
    r.expect_error(400, &["invalidFilter"])
}

pub fn checks() -> Vec<Check> {
    vec![
        check!("filter-eq-string", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "eq on a string attribute", |cx| {
                users_match(cx, r#"userName eq "{P}-carol""#, &["carol"]).await
            }),
        check!("filter-eq-username-case", "RFC 7643 §4.1.1", Must, [Has(Filter)],
            "eq on userName ignores case (caseExact false)", |cx| {
                let ds = cx.dataset().await?;
                let upper = format!("{}-CAROL", ds.prefix.to_uppercase());
                users_match(cx, &format!("userName eq \"{upper}\""), &["carol"]).await
            }),
        check!("filter-eq-externalid-caseexact", "RFC 7643 §3.1", Must, [Has(Filter)],
            "eq on externalId is case-exact: the exact value matches, another case does not", |cx| {
                let ds = cx.dataset().await?;
                users_match(cx, &format!("externalId eq \"{}-EXT-alice\"", ds.prefix), &["alice"]).await?;
                users_match(cx, &format!("externalId eq \"{}-ext-ALICE\"", ds.prefix.to_uppercase()), &[]).await
            }),
        check!("filter-ne", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "ne", |cx| users_match(cx, r#"userType ne "Employee""#, &["bob", "Eve"]).await),
        check!("filter-co", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "co on a sub-attribute", |cx| users_match(cx, r#"name.familyName co "e""#, &["alice", "dave", "Eve"]).await),
        check!("filter-co-case-insensitive", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "co honours caseExact false (title)", |cx| users_match(cx, r#"title co "NGINEER""#, &["alice", "dave"]).await),
        check!("filter-sw", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "sw", |cx| users_match(cx, r#"name.givenName sw "Ca""#, &["carol"]).await),
        check!("filter-ew", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "ew", |cx| users_match(cx, r#"name.familyName ew "ker""#, &["dave"]).await),
        check!("filter-pr", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "pr matches attributes with a value", |cx| users_match(cx, "title pr", &["alice", "bob", "dave", "Eve"]).await),
        check!("filter-pr-multivalued", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "pr on a multi-valued attribute", |cx| users_match(cx, "emails pr", &["alice", "bob", "carol", "dave"]).await),
        check!("filter-not-pr", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "not (pr) matches resources without the attribute", |cx| users_match(cx, "not (title pr)", &["carol"]).await),
        check!("filter-gt-string", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "gt on strings is lexicographic", |cx| users_match(cx, r#"name.familyName gt "X""#, &["alice", "bob", "carol"]).await),
        check!("filter-ge-string", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "ge includes the equal value", |cx| users_match(cx, r#"name.familyName ge "Xu""#, &["alice", "bob", "carol"]).await),
        check!("filter-lt-string", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "lt", |cx| users_match(cx, r#"name.familyName lt "W""#, &["Eve"]).await),
        check!("filter-le-string", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "le includes the equal value", |cx| users_match(cx, r#"name.familyName le "Walker""#, &["dave", "Eve"]).await),
        check!("filter-gt-datetime", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "gt/lt on a dateTime (meta.created) compare chronologically", |cx| {
                users_match(cx, r#"meta.created gt "2000-01-01T00:00:00Z""#, &["alice", "bob", "carol", "dave", "Eve"]).await?;
                users_match(cx, r#"meta.created lt "2000-01-01T00:00:00Z""#, &[]).await
            }),
        check!("filter-eq-true", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "eq on a boolean (true)", |cx| users_match(cx, "active eq true", &["alice", "carol", "dave", "Eve"]).await),
        check!("filter-eq-false", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "eq on a boolean (false)", |cx| users_match(cx, "active eq false", &["bob"]).await),
        check!("filter-eq-id", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "eq on id", |cx| {
                let ds = cx.dataset().await?;
                users_match(cx, &format!("id eq \"{}\"", ds.id("dave")), &["dave"]).await
            }),
        check!("filter-complex-subattr", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "a sub-attribute of a complex attribute (name.givenName)", |cx| users_match(cx, r#"name.givenName eq "Dave""#, &["dave"]).await),
        check!("filter-multivalued-any", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "a multi-valued attribute matches when any value matches (emails.value)", |cx| {
                users_match(cx, r#"emails.value eq "dave@home.example.com""#, &["dave"]).await
            }),
        check!("filter-multivalued-type", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "a multi-valued sub-attribute (emails.type)", |cx| users_match(cx, r#"emails.type eq "home""#, &["alice", "bob", "dave"]).await),
        check!("filter-multivalued-implicit-value", "RFC 7644 §3.4.2.2", Should, [Has(Filter)],
            "a multi-valued complex attribute compared directly means its value (emails co …)", |cx| {
                users_match(cx, r#"emails co "work.example""#, &["alice", "bob", "carol", "dave"]).await
            }),
        check!("filter-valuepath-same-element", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "a value path applies its whole expression to one element (emails[type eq \"work\" and value co \"example.com\"])", |cx| {
                users_match(cx, r#"emails[type eq "work" and value co "example.com"]"#, &["alice", "carol"]).await
            }),
        check!("filter-valuepath-or", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "or inside a value path", |cx| {
                users_match(cx, r#"emails[type eq "home" or value ew ".net"]"#, &["alice", "bob", "dave"]).await
            }),
        check!("filter-valuepath-and-outer", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "a value path combined with another condition", |cx| {
                users_match(cx, r#"emails[type eq "work"] and active eq false"#, &["bob"]).await
            }),
        check!("filter-and", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "and", |cx| users_match(cx, "active eq true and title pr", &["alice", "dave", "Eve"]).await),
        check!("filter-or", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "or", |cx| users_match(cx, r#"name.givenName eq "Bob" or name.givenName eq "Eve""#, &["bob", "Eve"]).await),
        check!("filter-precedence-and-over-or", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "and binds tighter than or (a or b and c = a or (b and c))", |cx| {
                users_match(cx, r#"name.givenName eq "Bob" or name.givenName eq "Carol" and active eq true"#, &["bob", "carol"]).await
            }),
        check!("filter-grouping", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "parentheses group", |cx| {
                users_match(cx, r#"(name.givenName eq "Bob" or name.givenName eq "Carol") and active eq true"#, &["carol"]).await
            }),
        check!("filter-not", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "not", |cx| users_match(cx, "not (active eq true)", &["bob"]).await),
        check!("filter-not-or", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "not of a grouped or", |cx| {
                users_match(cx, r#"not (name.givenName eq "Alice" or name.givenName eq "Bob")"#, &["carol", "dave", "Eve"]).await
            }),
        check!("filter-not-and", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "not binds tighter than and", |cx| {
                users_match(cx, r#"not (title eq "Manager") and title pr"#, &["alice", "dave", "Eve"]).await
            }),
        check!("filter-operators-case-insensitive", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "operators and logical words are case-insensitive (EQ, And, PR)", |cx| {
                users_match(cx, r#"userName EQ "{P}-carol" And title PR"#, &[]).await?;
                users_match(cx, r#"userName Eq "{P}-dave" AND title pR"#, &["dave"]).await
            }),
        check!("filter-attr-case-insensitive", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "attribute names in a filter are case-insensitive", |cx| {
                users_match(cx, r#"NAME.GIVENNAME eq "Dave""#, &["dave"]).await
            }),
        check!("filter-urn-core", "RFC 7644 §3.10", Must, [Has(Filter)],
            "a URN-qualified core attribute", |cx| {
                users_match(cx, &format!("{USER}:name.givenName eq \"Carol\""), &["carol"]).await
            }),
        check!("filter-urn-enterprise", "RFC 7644 §3.10", Must, [Has(Filter), Has(EnterpriseUser)],
            "a URN-qualified enterprise attribute", |cx| {
                users_match(cx, &format!("{ENTERPRISE}:department eq \"Engineering\""), &["alice", "dave"]).await
            }),
        check!("filter-urn-enterprise-and", "RFC 7644 §3.10", Must, [Has(Filter), Has(EnterpriseUser)],
            "a URN-qualified enterprise attribute with and", |cx| {
                users_match(cx, &format!("{ENTERPRISE}:employeeNumber eq \"200\" and active eq false"), &["bob"]).await
            }),
        check!("filter-string-escapes", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "a JSON string with escaped quotes in a filter", |cx| {
                users_match(cx, r#"title eq "Chief \"Q\" Officer""#, &["Eve"]).await
            }),
        check!("filter-empty-result", "RFC 7644 §3.4.2", Must, [Has(Filter)],
            "a filter matching nothing is 200 with totalResults 0", |cx| {
                let filter = format!("userName eq \"{}\"", cx.name("nobody"));
                let r = cx.get_q("/Users", &[("filter", &filter)]).await?;
                r.expect(200)?;
                let l = r.list()?;
                ensure!(l.is_empty() && r.total() == Some(0), "expected no resources: {}", r.text);
                Ok(())
            }),
        check!("filter-invalid-syntax", "RFC 7644 §3.12", Must, [Has(Filter)],
            "a filter without a value is 400 invalidFilter", |cx| invalid(cx, "userName eq").await),
        check!("filter-invalid-operator", "RFC 7644 §3.12", Must, [Has(Filter)],
            "an unknown operator is 400 invalidFilter", |cx| invalid(cx, r#"userName xx "a""#).await),
        check!("filter-invalid-paren", "RFC 7644 §3.12", Must, [Has(Filter)],
            "an unclosed parenthesis is 400 invalidFilter", |cx| invalid(cx, r#"(userName eq "a""#).await),
        check!("filter-invalid-gt-boolean", "RFC 7644 §3.4.2.2", Must, [Has(Filter)],
            "gt on a boolean is 400 invalidFilter", |cx| invalid(cx, "active gt true").await),
        check!("filter-invalid-unquoted", "RFC 7644 §3.12", Must, [Has(Filter)],
            "an unquoted string value is 400 invalidFilter", |cx| invalid(cx, "userName eq bjensen").await),
        check!("filter-groups-displayname", "RFC 7644 §3.4.2.2", Must, [Has(Filter), Has(Groups)],
            "eq on Group displayName", |cx| groups_match(cx, r#"displayName eq "{P}-team""#, &["team"]).await),
        check!("filter-groups-displayname-case", "RFC 7643 §4.2", Must, [Has(Filter), Has(Groups)],
            "eq on Group displayName ignores case (caseExact false)", |cx| {
                let ds = cx.dataset().await?;
                groups_match(cx, &format!("displayName eq \"{}-TEAM\"", ds.prefix.to_uppercase()), &["team"]).await
            }),
        check!("filter-groups-members-value", "RFC 7644 §3.4.2.2", Must, [Has(Filter), Has(Groups)],
            "members.value eq finds the groups of a user", |cx| groups_match(cx, r#"members.value eq "{bob}""#, &["team"]).await),
        check!("filter-groups-members-valuepath", "RFC 7644 §3.4.2.2", Must, [Has(Filter), Has(Groups)],
            "members[value eq …]", |cx| groups_match(cx, r#"members[value eq "{alice}"]"#, &["team"]).await),
        check!("filter-groups-members-pr", "RFC 7644 §3.4.2.2", Must, [Has(Filter), Has(Groups)],
            "members pr finds only groups with members", |cx| groups_match(cx, "members pr", &["team"]).await),
        check!("filter-unsupported-refused", "RFC 7644 §3.4.2.2", Must, [Lacks(Filter)],
            "with filtering advertised as unsupported, a filter is refused, not ignored", |cx| {
                let r = cx.get_q("/Users", &[("filter", "userName eq \"x\"")]).await?;
                if r.status == 200 {
                    fail!("the filter was answered with 200, as if every resource matched: {}", r.text);
                }
                r.expect_refusal()
            }),
    ]
}
