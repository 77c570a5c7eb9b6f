//! Differential test of filtering and sorting (RFC 7644 §3.4.2.2, §3.4.2.3): over a generated
//! population, the SQL translation (SQLite and PostgreSQL) and the in-memory evaluator of
//! `scim_core` must select exactly the same ids, in the same order.
//!
//! - SQL side: `GET /Users?filter=…&count=1000`, which the server orders by id.
//! - Evaluator side: every resource as the server renders it (`GET /Users?count=1000`), kept
//!   when `Filter::matches` holds, in id (byte) order.
//! - Sorting: `GET /Users?sortBy=…&sortOrder=…` against `scim_core::sort::sort_resources`.
//! - A filter the server rejects with 400 must also fail `Filter::parse` or `Filter::check`.
//!
//! The population is generated from a fixed seed, so a failure is reproducible; every problem is
//! collected and printed before the test fails.

use std::collections::HashMap;

use reqwest::StatusCode;
use scim_core::sort::sort_resources;
use scim_core::{AttrPath, Context, Filter, JsonMap, SortOrder};
use serde_json::{json, Value};

use crate::backends;
use crate::support::{Resp, TestServer};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// How many users the population has.
const USERS: usize = 150;
/// The PRNG seed.
const SEED: u64 = 0x5C1A_D1FF_2024_0001;

/// SplitMix64: tiny, fixed-seed, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FIRST: &[&str] = &[
    "alice", "Bob", "CHARLIE", "dave", "Émile", "émilie", "Zoë", "o'brien", "li.wei", "ÅSA", "eve",
    "Mallory", "trent", "Ölaf", "bjensen", "Ünal",
];
const LAST: &[&str] = &[
    "Smith",
    "smith",
    "SMITH",
    "Müller",
    "müller",
    "MÜLLER",
    "O'Neil",
    "van der Berg",
    "Ørsted",
    "Zed",
    "jensen",
    "Jensen",
    "Nguyễn",
    "d\"Quote",
    "Back\\Slash",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "Example.ORG",
    "corp.example.net",
    "mail.test",
    "EXAMPLE.COM",
];
const TITLES: &[&str] = &[
    "Engineer",
    "engineer",
    "Senior Engineer",
    "Manager",
    "VP, Sales",
    "",
    "50% off",
    "under_score",
    "He said \"hi\"",
    "C:\\path\\to",
    "Ünïcödé",
    "zeta",
];
const USER_TYPES: &[&str] = &["Employee", "employee", "Contractor", "Intern", "EMPLOYEE"];
const EMAIL_TYPES: &[&str] = &["work", "home", "other"];
const PHONE_TYPES: &[&str] = &["work", "mobile", "home"];
const LOCALITIES: &[&str] = &[
    "Paris", "paris", "München", "MÜNCHEN", "New York", "Zürich", "Oslo",
];
const COUNTRIES: &[&str] = &["FR", "DE", "US", "us", "NO"];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "engineering",
    "R&D",
    "Sales",
    "sales",
    "",
    "Ops \"Night\"",
];
const COST_CENTERS: &[&str] = &["CC-1", "cc-2", "4130", "CC-10", "cc_3"];
const GROUP_NAMES: &[&str] = &[
    "Engineering",
    "engineering-ops",
    "Sales",
    "SALES EMEA",
    "Émigrés",
    "Quote \"Q\" Team",
    "Back\\slash",
    "Admins",
    "Empty",
    "Nested",
];

/// A filter literal: a JSON string, which is the SCIM `compValue` string syntax.
fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// One generated user; `earlier` are the ids of the users created before it (for managers).
fn make_user(i: usize, rng: &mut Rng, earlier: &[String]) -> Value {
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    let mut u = JsonMap::new();
    let mut schemas = vec![json!(USER)];
    let user_name = match rng.below(4) {
        0 => format!("{first}{i}@{}", rng.pick(DOMAINS)),
        1 => format!("{first}.{last}{i}"),
        2 => format!("{}{i}", first.to_uppercase()),
        _ => format!("{first}_{i}"),
    };
    u.insert("userName".into(), json!(user_name));
    if rng.chance(40) {
        let ext = match rng.below(3) {
            0 => format!("EXT-{i:03}"),
            1 => format!("ext-{i:03}"),
            _ => format!("Ext-{i}"),
        };
        u.insert("externalId".into(), json!(ext));
    }
    match rng.below(20) {
        0 => {
            u.insert("displayName".into(), json!(""));
        }
        1..=13 => {
            u.insert("displayName".into(), json!(format!("{first} {last}")));
        }
        _ => {}
    }
    match rng.below(20) {
        0 => {
            u.insert("name".into(), json!({"givenName": ""}));
        }
        1..=15 => {
            let mut n = JsonMap::new();
            n.insert("givenName".into(), json!(first));
            if rng.chance(85) {
                n.insert("familyName".into(), json!(last));
            }
            if rng.chance(20) {
                n.insert("middleName".into(), json!(rng.pick(FIRST)));
            }
            if rng.chance(10) {
                n.insert("formatted".into(), json!(format!("{first} {last}")));
            }
            u.insert("name".into(), Value::Object(n));
        }
        _ => {}
    }
    match rng.below(10) {
        0..=3 => {
            u.insert("active".into(), json!(true));
        }
        4..=6 => {
            u.insert("active".into(), json!(false));
        }
        _ => {}
    }
    if rng.chance(60) {
        u.insert("title".into(), json!(rng.pick(TITLES)));
    }
    if rng.chance(50) {
        u.insert("userType".into(), json!(rng.pick(USER_TYPES)));
    }
    match rng.below(10) {
        0 => {
            u.insert("nickName".into(), json!(""));
        }
        1 => {
            u.insert("nickName".into(), json!(format!("nick{i}")));
        }
        _ => {}
    }
    match rng.below(10) {
        0 => {
            u.insert("password".into(), json!("Secret1!"));
        }
        1 => {
            u.insert("password".into(), json!(format!("pw-{i}")));
        }
        _ => {}
    }
    let n_emails = rng.below(4);
    if n_emails > 0 {
        let primary = rng.chance(60).then(|| rng.below(n_emails));
        let local = first.to_lowercase();
        let emails: Vec<Value> = (0..n_emails)
            .map(|j| {
                let mut e = JsonMap::new();
                e.insert(
                    "value".into(),
                    json!(format!("{local}.{j}.{i}@{}", rng.pick(DOMAINS))),
                );
                if !rng.chance(10) {
                    e.insert("type".into(), json!(rng.pick(EMAIL_TYPES)));
                }
                if primary == Some(j) {
                    e.insert("primary".into(), json!(true));
                } else if rng.chance(25) {
                    e.insert("primary".into(), json!(false));
                }
                if rng.chance(15) {
                    e.insert("display".into(), json!(format!("{first} <{j}>")));
                }
                Value::Object(e)
            })
            .collect();
        u.insert("emails".into(), Value::Array(emails));
    }
    let n_phones = rng.below(3);
    if n_phones > 0 {
        let phones: Vec<Value> = (0..n_phones)
            .map(|_| {
                json!({"value": format!("+1-555-{:04}", rng.below(10_000)), "type": rng.pick(PHONE_TYPES)})
            })
            .collect();
        u.insert("phoneNumbers".into(), Value::Array(phones));
    }
    let n_addresses = rng.below(3);
    if n_addresses > 0 {
        let addresses: Vec<Value> = (0..n_addresses)
            .map(|_| {
                let locality = rng.pick(LOCALITIES);
                let mut a = JsonMap::new();
                a.insert(
                    "type".into(),
                    json!(if rng.chance(50) { "work" } else { "home" }),
                );
                a.insert(
                    "streetAddress".into(),
                    json!(format!("{} Main St", rng.below(200))),
                );
                a.insert("locality".into(), json!(locality));
                if rng.chance(40) {
                    a.insert("region".into(), json!("R"));
                }
                a.insert(
                    "postalCode".into(),
                    json!(format!("{:05}", rng.below(100_000))),
                );
                a.insert("country".into(), json!(rng.pick(COUNTRIES)));
                if rng.chance(20) {
                    a.insert("formatted".into(), json!(format!("Main St, {locality}")));
                }
                Value::Object(a)
            })
            .collect();
        u.insert("addresses".into(), Value::Array(addresses));
    }
    if rng.chance(55) {
        let mut e = JsonMap::new();
        let number = match rng.below(3) {
            0 => format!("{}", (i * 7) % 200),
            1 => format!("{i:04}"),
            _ => format!("E{i}"),
        };
        e.insert("employeeNumber".into(), json!(number));
        if rng.chance(70) {
            e.insert("department".into(), json!(rng.pick(DEPARTMENTS)));
        }
        if rng.chance(60) {
            e.insert("costCenter".into(), json!(rng.pick(COST_CENTERS)));
        }
        if rng.chance(30) {
            e.insert("organization".into(), json!("Org"));
        }
        if !earlier.is_empty() && rng.chance(50) {
            // A few managers are shared, so `manager.value eq` selects several users.
            let m = &earlier[rng.below(earlier.len().min(12))];
            e.insert("manager".into(), json!({"value": m}));
        } else if rng.chance(10) {
            e.insert("manager".into(), json!({"value": "EXT-MGR"}));
        }
        u.insert(ENT.into(), Value::Object(e));
        schemas.push(json!(ENT));
    }
    u.insert("schemas".into(), Value::Array(schemas));
    Value::Object(u)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

/// The ids listed by `GET {endpoint}?{pairs}`, or the response when it is not 200.
async fn list_ids(
    s: &TestServer,
    endpoint: &str,
    pairs: &[(&str, &str)],
) -> Result<Vec<String>, Resp> {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let r = s.get(&format!("{endpoint}?{query}")).await;
    if r.status != StatusCode::OK {
        return Err(r);
    }
    let ids: Vec<String> = r.body["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no Resources: {}", r.body))
        .iter()
        .map(|u| str_at(u, "/id").to_string())
        .collect();
    assert_eq!(
        r.body["totalResults"],
        json!(ids.len()),
        "{endpoint}?{query}: totalResults and Resources disagree"
    );
    Ok(ids)
}

/// Every resource of an endpoint as the server renders it, in id (byte) order.
async fn all_resources(s: &TestServer, endpoint: &str) -> Vec<JsonMap> {
    let r = s.get(&format!("{endpoint}?count=1000")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut all: Vec<JsonMap> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
    assert_eq!(r.body["totalResults"], json!(all.len()));
    let id = |m: &JsonMap| m["id"].as_str().unwrap().to_string();
    let before: Vec<String> = all.iter().map(id).collect();
    all.sort_by_key(id);
    let after: Vec<String> = all.iter().map(id).collect();
    assert_eq!(before, after, "the default order is not id (byte) order");
    all
}

/// Readable names for ids in reports.
struct Labels(HashMap<String, String>);

impl Labels {
    fn new(resources: &[JsonMap]) -> Labels {
        Labels(
            resources
                .iter()
                .map(|r| {
                    let id = r["id"].as_str().unwrap().to_string();
                    let name = r
                        .get("userName")
                        .or_else(|| r.get("displayName"))
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    (id, name.to_string())
                })
                .collect(),
        )
    }
    /// Short ids (first 8 characters), for whole lists.
    fn short(ids: &[String]) -> String {
        let items: Vec<&str> = ids.iter().map(|id| &id[..id.len().min(8)]).collect();
        format!("[{}]", items.join(" "))
    }
    fn show(&self, ids: &[String]) -> String {
        let items: Vec<String> = ids
            .iter()
            .map(|id| match self.0.get(id) {
                Some(n) => format!("{id} ({n:?})"),
                None => id.clone(),
            })
            .collect();
        format!("[{}]", items.join(", "))
    }
}

/// How a filter run went, for the statistics printed at the end.
#[derive(Default, Debug)]
struct Stats {
    compared: usize,
    rejected: usize,
    /// Compared filters selecting some but not all resources.
    selective: usize,
}

/// Runs every filter on the server and in memory; records each disagreement in `problems`.
async fn compare_filters(
    s: &TestServer,
    endpoint: &str,
    ctx: &Context<'_>,
    all: &[JsonMap],
    filters: &[String],
    problems: &mut Vec<String>,
) -> Stats {
    let labels = Labels::new(all);
    let mut stats = Stats::default();
    for f in filters {
        let sql = list_ids(s, endpoint, &[("filter", f), ("count", "1000")]).await;
        let local = Filter::parse(f);
        match (sql, local) {
            (Ok(sql_ids), Ok(parsed)) => {
                stats.compared += 1;
                if let Err(e) = parsed.check(ctx) {
                    problems.push(format!(
                        "{endpoint} filter {f:?}: the server accepted it but Filter::check rejects it: {}",
                        e.detail
                    ));
                }
                let eval_ids: Vec<String> = all
                    .iter()
                    .filter(|r| parsed.matches(r, ctx))
                    .map(|r| r["id"].as_str().unwrap().to_string())
                    .collect();
                if !eval_ids.is_empty() && eval_ids.len() < all.len() {
                    stats.selective += 1;
                }
                if sql_ids != eval_ids {
                    let only_sql: Vec<String> = sql_ids
                        .iter()
                        .filter(|i| !eval_ids.contains(i))
                        .cloned()
                        .collect();
                    let only_eval: Vec<String> = eval_ids
                        .iter()
                        .filter(|i| !sql_ids.contains(i))
                        .cloned()
                        .collect();
                    problems.push(format!(
                        "{} filter {f:?} (parsed as {parsed}): SQL and evaluator disagree\n  \
                         SQL ({}): {}\n  evaluator ({}): {}\n  only SQL: {}\n  only evaluator: {}{}",
                        endpoint,
                        sql_ids.len(),
                        Labels::short(&sql_ids),
                        eval_ids.len(),
                        Labels::short(&eval_ids),
                        labels.show(&only_sql),
                        labels.show(&only_eval),
                        if only_sql.is_empty() && only_eval.is_empty() {
                            "\n  (same ids, different order)"
                        } else {
                            ""
                        }
                    ));
                }
            }
            (Ok(_), Err(e)) => problems.push(format!(
                "{endpoint} filter {f:?}: the server accepted it but Filter::parse rejects it: {}",
                e.detail
            )),
            (Err(r), local) if r.status == StatusCode::BAD_REQUEST => {
                stats.rejected += 1;
                if let Ok(parsed) = local {
                    if parsed.check(ctx).is_ok() {
                        problems.push(format!(
                            "{endpoint} filter {f:?}: the server rejected it with 400 ({}) but Filter::check accepts it",
                            r.body
                        ));
                    }
                }
            }
            (Err(r), _) => problems.push(format!(
                "{endpoint} filter {f:?}: unexpected status {}: {}",
                r.status, r.body
            )),
        }
    }
    stats
}

/// Compares `sortBy` / `sortOrder` on the server with `sort_resources`; returns the case count.
async fn compare_sorts(
    s: &TestServer,
    endpoint: &str,
    ctx: &Context<'_>,
    all: &[JsonMap],
    paths: &[String],
    problems: &mut Vec<String>,
) -> usize {
    let labels = Labels::new(all);
    let mut cases = 0;
    for path in paths {
        let attr = AttrPath::parse(path).unwrap();
        for (order, name) in [
            (SortOrder::Ascending, "ascending"),
            (SortOrder::Descending, "descending"),
        ] {
            cases += 1;
            let sql = match list_ids(
                s,
                endpoint,
                &[("sortBy", path), ("sortOrder", name), ("count", "1000")],
            )
            .await
            {
                Ok(ids) => ids,
                Err(r) => {
                    problems.push(format!(
                        "{endpoint} sortBy={path} sortOrder={name}: status {}: {}",
                        r.status, r.body
                    ));
                    continue;
                }
            };
            let mut sorted = all.to_vec();
            sort_resources(&mut sorted, &attr, order, ctx);
            let expected: Vec<String> = sorted
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect();
            if sql != expected {
                let at = sql
                    .iter()
                    .zip(&expected)
                    .position(|(a, b)| a != b)
                    .unwrap_or(sql.len().min(expected.len()));
                let show_value = |id: &str| {
                    all.iter()
                        .find(|r| r["id"] == id)
                        .map(|r| {
                            let (v, _) = scim_core::sort::sort_value(r, &attr, ctx);
                            format!("{v:?}")
                        })
                        .unwrap_or_default()
                };
                let window = |ids: &[String]| {
                    let end = (at + 3).min(ids.len());
                    ids[at.min(end)..end]
                        .iter()
                        .map(|i| {
                            format!(
                                "{} = {}",
                                labels.show(std::slice::from_ref(i)),
                                show_value(i)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                problems.push(format!(
                    "{endpoint} sortBy={path} sortOrder={name}: SQL and sort_resources disagree from position {at}\n  \
                     SQL: {}\n  sort_resources: {}\n  SQL order: {}\n  sort_resources order: {}",
                    window(&sql),
                    window(&expected),
                    Labels::short(&sql),
                    Labels::short(&expected)
                ));
            }
        }
    }
    cases
}

/// Swaps ASCII case.
fn swap_ascii_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// The first user (in creation order) for which `pick` yields a value.
fn find<'a>(users: &'a [Value], pick: impl Fn(&'a Value) -> Option<&'a str>) -> &'a str {
    users
        .iter()
        .find_map(pick)
        .expect("the population has such a user")
}

fn user_filters(
    created: &[Value],
    patched_last_modified: &str,
    groups: &[(String, String)],
) -> Vec<String> {
    let id_of = |i: usize| str_at(&created[i], "/id").to_string();
    let gid = |name: &str| {
        groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id.clone())
            .unwrap()
    };
    let name5 = str_at(&created[5], "/userName");
    let non_ascii = find(created, |u| {
        u["userName"]
            .as_str()
            .filter(|n| n.chars().any(|c| c.is_lowercase() && !c.is_ascii()))
    });
    let quoted = find(created, |u| {
        u["userName"].as_str().filter(|n| n.contains('"'))
    });
    let ext = find(created, |u| u["externalId"].as_str());
    let employee_number = find(created, |u| u[ENT]["employeeNumber"].as_str());
    let manager = find(created, |u| u[ENT]["manager"]["value"].as_str());
    let email = find(created, |u| u["emails"][0]["value"].as_str());
    let mut sorted_ids: Vec<String> = (0..created.len()).map(id_of).collect();
    sorted_ids.sort();
    let mid_id = sorted_ids[sorted_ids.len() / 2].clone();
    let (id_a, id_b) = (id_of(10), id_of(42));

    // Timestamps taken from the population: the 76th creation, and the last creation.
    let t = str_at(&created[75], "/meta/created").to_string();
    let t_last = str_at(&created[created.len() - 1], "/meta/created").to_string();
    let instant = chrono::DateTime::parse_from_rfc3339(&t).unwrap();
    let t_plus2 = instant
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    let t_minus5 = instant
        .with_timezone(&chrono::FixedOffset::west_opt(5 * 3600).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    let t_nanos = format!("{}999Z", t.trim_end_matches('Z'));
    let t_secs = format!("{}Z", &t[..19]);
    let t_naive = t.trim_end_matches('Z').to_string();
    let t_later = str_at(&created[120], "/meta/created").to_string();
    let lm = patched_last_modified;

    let mut f: Vec<String> = [
        // userName: every operator, case folding (ASCII only), non-ASCII, quotes, backslashes.
        r#"userName pr"#,
        r#"not (userName pr)"#,
        r#"userName co "li""#,
        r#"userName co "LI""#,
        r#"userName co "É""#,
        r#"userName co "é""#,
        r#"userName co "ÉM""#,
        r#"userName sw "a""#,
        r#"userName sw "É""#,
        r#"userName sw "é""#,
        r#"userName ew "0""#,
        r#"userName ew "@EXAMPLE.COM""#,
        r#"userName gt "m""#,
        r#"userName ge "émile""#,
        r#"userName lt "C""#,
        r#"userName le "bob""#,
        r#"userName gt "Ö""#,
        r#"userName co "\"""#,
        r#"userName co "\\""#,
        r#"userName co "'""#,
        r#"userName ne "nobody""#,
        r#"USERNAME Eq "BOB_3" or UserName EQ "bob_3""#,
        // displayName / nickName: empty strings, null, pr.
        r#"displayName pr"#,
        r#"displayName eq """#,
        r#"displayName ne """#,
        r#"displayName co """#,
        r#"displayName sw """#,
        r#"displayName ew """#,
        r#"displayName eq null"#,
        r#"displayName ne null"#,
        r#"displayName co " ""#,
        r#"nickName pr"#,
        r#"nickName eq """#,
        r#"nickName co """#,
        r#"not (nickName pr) and nickName ne null"#,
        // title: quotes, backslashes, LIKE wildcards, ordering, non-ASCII.
        r#"title eq "He said \"hi\"""#,
        r#"title co "\"hi\"""#,
        r#"title eq "C:\\path\\to""#,
        r#"title co "\\""#,
        r#"title co "%""#,
        r#"title sw "_""#,
        r#"title co "_""#,
        r#"title eq "engineer""#,
        r#"title eq "ENGINEER""#,
        r#"title ne "Engineer""#,
        r#"title gt "M""#,
        r#"title lt "f""#,
        r#"title ge "zeta""#,
        r#"title le """#,
        r#"title eq null"#,
        r#"title pr"#,
        r#"title co "ü""#,
        r#"title co "Ü""#,
        r#"title co "ÜN""#,
        r#"userType eq "employee""#,
        r#"userType ne "Employee""#,
        r#"userType sw "E""#,
        // name (complex, single-valued).
        r#"name pr"#,
        r#"not (name pr)"#,
        r#"name.familyName eq "müller""#,
        r#"name.familyName eq "MÜLLER""#,
        r#"name.familyName co "ÜLL""#,
        r#"name.familyName co "üll""#,
        r#"name.familyName gt "m""#,
        r#"name.familyName lt "Ø""#,
        r#"name.givenName sw "e""#,
        r#"name.givenName eq """#,
        r#"name.middleName pr"#,
        r#"name.formatted pr"#,
        r#"name[givenName eq "alice" and familyName eq "smith"]"#,
        r#"name eq "alice""#,
        r#"name.familyName eq "d\"Quote""#,
        r#"name.familyName ew "\\slash""#,
        // Booleans.
        r#"active eq true"#,
        r#"active eq false"#,
        r#"active ne true"#,
        r#"active ne false"#,
        r#"active pr"#,
        r#"not (active pr)"#,
        r#"active eq "True""#,
        r#"active eq "false""#,
        r#"active eq null"#,
        r#"active ne null"#,
        r#"active eq true or active eq false"#,
        // emails: any-value semantics, value filters, the non-ABNF form, primary.
        r#"emails pr"#,
        r#"not (emails pr)"#,
        r#"emails.value co "example.org""#,
        r#"emails co "EXAMPLE.ORG""#,
        r#"emails.value ew ".com""#,
        r#"emails.value sw "é""#,
        r#"emails.value gt "m""#,
        r#"emails.type eq "work""#,
        r#"emails[type eq "work"]"#,
        r#"emails[type eq "work" and value co "example.com"]"#,
        r#"emails[type eq "work"].value ew ".org""#,
        r#"emails[type eq "work"].value co "EXAMPLE""#,
        r#"emails.type eq "work" and emails.value co "example.com""#,
        r#"emails[type eq "home" or primary eq true]"#,
        r#"emails[not (type eq "work")]"#,
        r#"emails[type ne "work"]"#,
        r#"emails[type eq null]"#,
        r#"emails[type ne null]"#,
        r#"emails.type eq null"#,
        r#"emails.primary eq true"#,
        r#"emails.primary eq false"#,
        r#"emails.primary eq "TRUE""#,
        r#"emails.primary ne true"#,
        r#"emails.primary pr"#,
        r#"emails[primary eq true and type eq "home"]"#,
        r#"emails[primary eq false]"#,
        r#"emails.display pr"#,
        r#"emails[value pr and type eq "other"]"#,
        r#"emails.value co """#,
        r#"emails[value sw ""]"#,
        r#"emails[type eq "work"] and emails[type eq "home"]"#,
        r#"not (emails[type eq "work"])"#,
        // phoneNumbers, addresses.
        r#"phoneNumbers pr"#,
        r#"phoneNumbers.value co "555-1""#,
        r#"phoneNumbers[type eq "mobile"]"#,
        r#"phoneNumbers.type eq "work" and phoneNumbers.value ew "7""#,
        r#"phoneNumbers[type eq "work" and value ew "7"]"#,
        r#"addresses pr"#,
        r#"addresses.locality eq "paris""#,
        r#"addresses.locality eq "münchen""#,
        r#"addresses.locality co "ü""#,
        r#"addresses[type eq "work" and locality eq "MÜNCHEN"]"#,
        r#"addresses.country eq "us""#,
        r#"addresses.postalCode sw "1""#,
        r#"addresses.postalCode gt "50000""#,
        r#"addresses.formatted pr"#,
        r#"addresses.region eq null"#,
        r#"addresses[country eq "FR"].locality eq "Paris""#,
        // Precedence: not > and > or, grouping; keywords in any case.
        r#"userName sw "a" or userName sw "b" and active eq true"#,
        r#"(userName sw "a" or userName sw "b") and active eq true"#,
        r#"userName sw "a" or (userName sw "b" and active eq true)"#,
        r#"not (active eq true) and title pr"#,
        r#"not (not (active eq true))"#,
        r#"title pr and not (emails[type eq "work"])"#,
        r#"userName sw "A" and userName sw "a""#,
        r#"NOT (title PR) AND userType EQ "Employee""#,
        r#"emails[type eq "work"] or phoneNumbers[type eq "mobile"] and not (name pr)"#,
        r#"active eq false or title eq "Engineer" and userType eq "Contractor" or name.familyName eq "zed""#,
        r#"not (active eq true or title pr)"#,
        r#"not (active eq true) and not (title pr)"#,
        // Attributes no schema defines.
        r#"nosuch eq "x""#,
        r#"nosuch pr"#,
        r#"not (nosuch pr)"#,
        r#"nosuch ne "x""#,
        // meta.
        r#"meta.resourceType eq "User""#,
        r#"meta.resourceType eq "user""#,
        r#"meta.location co "/Users/""#,
        r#"meta.version pr"#,
        r#"meta pr"#,
        r#"meta.created sw "20""#,
        r#"meta.created co "t""#,
        r#"meta.created gt "2000-01-01T00:00:00""#,
        r#"meta.lastModified lt "2000-01-01T00:00:00Z""#,
        r#"Meta.Created pr"#,
        // password is writeOnly / returned "never" (RFC 7643 §4.1.1).
        r#"password pr"#,
        r#"password eq "Secret1!""#,
        r#"password sw "S""#,
        // Filters the server must reject (and Filter::check too).
        r#"active gt true"#,
        r#"userName gt 5"#,
        r#"title eq true"#,
        r#"meta.created gt "yesterday""#,
        r#"title[value eq "x"]"#,
        r#"emails[nosuch eq "x"]"#,
        r#"name.nosuch eq "x""#,
        r#"title gt null"#,
        r#"emails.primary co "t""#,
        r#"userName eq"#,
        r#"addresses.primary eq true"#,
        r#"emails[type eq "work""#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    f.extend([
        // Values from the population.
        format!("userName eq {}", lit(name5)),
        format!("userName eq {}", lit(&swap_ascii_case(name5))),
        format!("userName ne {}", lit(name5)),
        format!("userName eq {}", lit(non_ascii)),
        format!("userName eq {}", lit(&non_ascii.to_uppercase())),
        format!("userName eq {}", lit(&non_ascii.to_ascii_uppercase())),
        format!("userName eq {}", lit(quoted)),
        format!(
            "userName sw {}",
            lit(&quoted[..quoted.find('"').unwrap() + 1])
        ),
        format!("emails.value eq {}", lit(&email.to_ascii_uppercase())),
        format!("emails[value eq {}]", lit(email)),
        // id and externalId are caseExact.
        format!("id eq {}", lit(&id_a)),
        format!("id eq {}", lit(&id_a.to_ascii_uppercase())),
        format!("id ne {}", lit(&id_a)),
        format!("id sw {}", lit(&id_a[..2])),
        format!("id gt {}", lit(&mid_id)),
        format!("id le {}", lit(&mid_id)),
        format!("id eq {} or id eq {}", lit(&id_a), lit(&id_b)),
        "id pr".to_string(),
        r#"id co "-""#.to_string(),
        format!("externalId eq {}", lit(ext)),
        format!("externalId eq {}", lit(&swap_ascii_case(ext))),
        r#"externalId sw "EXT""#.to_string(),
        r#"externalId sw "ext""#.to_string(),
        r#"externalId co "X""#.to_string(),
        r#"externalId ew "7""#.to_string(),
        r#"externalId gt "Ext""#.to_string(),
        "externalId pr".to_string(),
        "externalId eq null".to_string(),
        // Enterprise extension, URN-qualified (and the bare-name lenience).
        format!("{ENT}:employeeNumber pr"),
        format!("{ENT}:employeeNumber eq {}", lit(employee_number)),
        format!(r#"{ENT}:employeeNumber gt "5""#),
        format!(r#"{ENT}:employeeNumber lt "100""#),
        format!(r#"{ENT}:employeeNumber ge "0100""#),
        format!(r#"{ENT}:employeeNumber sw "e""#),
        format!(r#"{ENT}:department eq "engineering""#),
        format!(r#"{ENT}:department co "&""#),
        format!(r#"{ENT}:department eq """#),
        format!(r#"{ENT}:department co "\"Night\"""#),
        format!("not ({ENT}:department pr)"),
        format!(r#"{ENT}:costCenter sw "cc""#),
        format!(r#"{ENT}:costCenter co "_""#),
        format!("{ENT}:organization eq null"),
        format!("{ENT}:manager.value eq {}", lit(manager)),
        format!(
            "{ENT}:manager.value eq {}",
            lit(&manager.to_ascii_uppercase())
        ),
        format!(r#"{ENT}:manager.value eq "EXT-MGR""#),
        format!("{ENT}:manager.value pr"),
        format!("{ENT}:manager pr"),
        format!("{ENT}:manager eq {}", lit(manager)),
        format!("{ENT}:manager[value eq {}]", lit(manager)),
        format!("manager.value eq {}", lit(manager)),
        "employeeNumber pr".to_string(),
        format!(
            "{}:EMPLOYEENUMBER pr",
            ENT.to_ascii_uppercase().replacen("URN:", "urn:", 1)
        ),
        format!(r#"{ENT}:employeeNumber eq "42" or {ENT}:department eq "Sales""#),
        format!(r#"{USER}:userName sw "a""#),
        format!(r#"{USER}:name.familyName eq "smith""#),
        format!(r#"schemas eq "{ENT}""#),
        // meta.created / meta.lastModified, compared chronologically.
        format!("meta.created gt {}", lit(&t)),
        format!("meta.created ge {}", lit(&t)),
        format!("meta.created lt {}", lit(&t)),
        format!("meta.created le {}", lit(&t)),
        format!("meta.created eq {}", lit(&t)),
        format!("meta.created ne {}", lit(&t)),
        format!("meta.created eq {}", lit(&t_plus2)),
        format!("meta.created gt {}", lit(&t_plus2)),
        format!("meta.created lt {}", lit(&t_minus5)),
        format!("meta.created ge {}", lit(&t_secs)),
        format!("meta.created lt {}", lit(&t_naive)),
        format!("meta.created eq {}", lit(&t_nanos)),
        format!("meta.created ge {}", lit(&t_nanos)),
        format!("meta.created lt {}", lit(&t_nanos)),
        format!(
            "meta.created gt {} and meta.created lt {}",
            lit(&t),
            lit(&t_later)
        ),
        format!("meta.lastModified gt {}", lit(&t_last)),
        format!("meta.lastModified eq {}", lit(lm)),
        format!("meta.lastModified ge {}", lit(&t)),
        format!("meta[created gt {}]", lit(&t)),
        // groups (derived from memberships).
        r#"groups.display eq "engineering""#.to_string(),
        format!("groups.display eq {}", lit("Quote \"Q\" Team")),
        r#"groups.display co "\\""#.to_string(),
        r#"groups.display sw "É""#.to_string(),
        r#"groups.display eq "ÉMIGRÉS""#.to_string(),
        format!("groups.value eq {}", lit(&gid("Engineering"))),
        format!("groups eq {}", lit(&gid("Sales"))),
        format!(
            r#"groups[display sw "S" and value eq {}]"#,
            lit(&gid("SALES EMEA"))
        ),
        format!(
            r#"groups[value eq {}] and groups[display eq "Sales"]"#,
            lit(&gid("Admins"))
        ),
        format!("groups.value eq {}", lit(&gid("Nested"))),
        "groups pr".to_string(),
        "not (groups pr)".to_string(),
        r#"groups.type eq "direct""#.to_string(),
        r#"groups.$ref co "/Groups/""#.to_string(),
        "groups.display eq null".to_string(),
        "groups.display ne null".to_string(),
        r#"groups[display ne "Sales"]"#.to_string(),
    ]);
    f
}

fn group_filters(
    groups: &[(String, String)],
    members: &HashMap<String, Vec<String>>,
    t: &str,
) -> Vec<String> {
    let gid = |name: &str| {
        groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id.clone())
            .unwrap()
    };
    let eng = &members[&gid("Engineering")];
    let sales = &members[&gid("Sales")];
    let (u1, u2) = (&eng[0], &sales[0]);
    let both = eng
        .iter()
        .find(|m| sales.contains(m))
        .cloned()
        .unwrap_or_else(|| u1.clone());
    let mut f: Vec<String> = [
        r#"displayName sw "E""#,
        r#"displayName eq "engineering""#,
        r#"displayName co "\"""#,
        r#"displayName co "\\""#,
        r#"displayName ew "s""#,
        r#"displayName gt "M""#,
        r#"displayName lt "É""#,
        r#"displayName pr"#,
        r#"displayName eq "ÉMIGRÉS""#,
        r#"displayName eq "ÉMIGRéS""#,
        r#"displayName eq null"#,
        r#"members pr"#,
        r#"not (members pr)"#,
        r#"members.value pr"#,
        r#"members.value ne null"#,
        r#"members.type eq "User""#,
        r#"members.type eq "Group""#,
        r#"members[type eq "Group"]"#,
        r#"members.$ref co "/Users/""#,
        r#"members.display pr"#,
        r#"externalId pr"#,
        r#"meta.resourceType eq "Group""#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    f.extend([
        format!("members.value eq {}", lit(u1)),
        format!("members.value eq {}", lit(&u1.to_ascii_uppercase())),
        format!("members eq {}", lit(u1)),
        format!("members[value eq {}]", lit(&both)),
        format!("members[value eq {} or value eq {}]", lit(u1), lit(u2)),
        format!(
            "members.value eq {} and members.value eq {}",
            lit(u1),
            lit(u2)
        ),
        format!("members[value eq {} and value eq {}]", lit(u1), lit(u2)),
        format!("members.value sw {}", lit(&u1[..4])),
        format!("members.value eq {}", lit(&gid("Engineering"))),
        format!("id eq {}", lit(&gid("Sales"))),
        format!("meta.created ge {}", lit(t)),
        format!(r#"displayName sw "S" and members.value eq {}"#, lit(&both)),
    ]);
    f
}

backends!(filters_and_sorting_agree_with_the_evaluator, |s| {
    // ----- the population -----
    let mut rng = Rng(SEED);
    let mut created: Vec<Value> = Vec::with_capacity(USERS);
    let mut ids: Vec<String> = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let body = make_user(i, &mut rng, &ids);
        let r = s.post("/Users", body.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{body}: {}", r.body);
        ids.push(str_at(&r.body, "/id").to_string());
        created.push(r.body);
    }
    // Change some users so that meta.lastModified differs from meta.created.
    let mut patched_last_modified = String::new();
    for (i, id) in ids.iter().enumerate().step_by(9) {
        let r = s
            .patch(
                &format!("/Users/{id}"),
                json!([{"op": "replace", "path": "nickName", "value": format!("patched{i}")}]),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        patched_last_modified = str_at(&r.body, "/meta/lastModified").to_string();
    }
    // Groups: random members; "Empty" has none; "Nested" also has two groups as members.
    let mut groups: Vec<(String, String)> = Vec::new();
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    for name in GROUP_NAMES {
        let mut m: Vec<String> = Vec::new();
        if *name != "Empty" {
            for _ in 0..(3 + rng.below(25)) {
                let id = ids[rng.below(ids.len())].clone();
                if !m.contains(&id) {
                    m.push(id);
                }
            }
        }
        if *name == "Nested" {
            m.truncate(3);
            for (n, g) in &groups {
                if n == "Engineering" || n == "Sales" {
                    m.push(g.clone());
                }
            }
        }
        let list: Vec<Value> = m
            .iter()
            .enumerate()
            .map(|(k, v)| {
                if k % 4 == 0 {
                    json!({"value": v, "display": format!("member {k}")})
                } else {
                    json!({"value": v})
                }
            })
            .collect();
        let r = s
            .post(
                "/Groups",
                json!({"schemas": [GROUP], "displayName": name, "members": list}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{name}: {}", r.body);
        let gid = str_at(&r.body, "/id").to_string();
        members.insert(gid.clone(), m);
        groups.push((name.to_string(), gid));
    }
    let group_created = {
        let r = s.get(&format!("/Groups/{}", groups[5].1)).await;
        str_at(&r.body, "/meta/created").to_string()
    };

    let user_ctx = Context::user();
    let group_ctx = Context::group();
    let all_users = all_resources(&s, "/Users").await;
    assert_eq!(all_users.len(), USERS);
    let all_groups = all_resources(&s, "/Groups").await;
    assert_eq!(all_groups.len(), GROUP_NAMES.len());

    // ----- filters -----
    let mut problems: Vec<String> = Vec::new();
    let uf = user_filters(&created, &patched_last_modified, &groups);
    let gf = group_filters(&groups, &members, &group_created);
    let us = compare_filters(&s, "/Users", &user_ctx, &all_users, &uf, &mut problems).await;
    let gs = compare_filters(&s, "/Groups", &group_ctx, &all_groups, &gf, &mut problems).await;

    // ----- sorting -----
    let user_sorts: Vec<String> = [
        "userName",
        "name.familyName",
        "name.givenName",
        "displayName",
        "emails.value",
        "emails",
        "emails.type",
        "phoneNumbers.value",
        "addresses.locality",
        "meta.created",
        "meta.lastModified",
        "title",
        "userType",
        "active",
        "externalId",
        "id",
        "emails.primary",
        "groups.display",
        "groups.value",
        "meta.version",
    ]
    .iter()
    .map(|p| p.to_string())
    .chain([
        format!("{ENT}:employeeNumber"),
        format!("{ENT}:department"),
        format!("{ENT}:manager.value"),
        format!("{ENT}:manager"),
    ])
    .collect();
    let group_sorts: Vec<String> = vec!["displayName".into(), "meta.created".into()];
    let user_sort_cases = compare_sorts(
        &s,
        "/Users",
        &user_ctx,
        &all_users,
        &user_sorts,
        &mut problems,
    )
    .await;
    let group_sort_cases = compare_sorts(
        &s,
        "/Groups",
        &group_ctx,
        &all_groups,
        &group_sorts,
        &mut problems,
    )
    .await;

    eprintln!(
        "{:?}: {} users, {} groups; /Users filters {} ({us:?}), /Groups filters {} ({gs:?}); sort cases {} + {}; {} problem(s)",
        s.backend,
        all_users.len(),
        all_groups.len(),
        uf.len(),
        gf.len(),
        user_sort_cases,
        group_sort_cases,
        problems.len()
    );
    // The population must make the filters discriminate.
    assert!(
        us.selective >= 100,
        "too few selective user filters: {us:?}"
    );
    assert!(
        gs.selective >= 10,
        "too few selective group filters: {gs:?}"
    );
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("MISMATCH {:?}: {p}\n", s.backend);
        }
        // The details are above; the panic message lists one line per problem.
        let summary: Vec<&str> = problems
            .iter()
            .map(|p| p.lines().next().unwrap_or_default())
            .collect();
        panic!(
            "{:?}: {} problem(s) between SQL and the in-memory evaluator (details above):\n{}",
            s.backend,
            problems.len(),
            summary.join("\n")
        );
    }
});

// `co` and `ew` read the attribute-value index, whose keys are cut at 200 bytes: a match past
// the cut must still be found (a cut key is a candidate, checked on the resource).
backends!(
    contains_and_ends_with_find_matches_past_the_index_key,
    |s| {
        let long = format!("{}Needle-Tail", "é".repeat(150)); // 300 bytes before the tail
        let r = s
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "long-title", "title": long}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let r = s
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "short-title", "title": "needle-tail"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        for (filter, expected) in [
            (
                r#"title co "needle-tail""#,
                vec!["long-title", "short-title"],
            ),
            (
                r#"title ew "NEEDLE-TAIL""#,
                vec!["long-title", "short-title"],
            ),
            (r#"title co "ééNeedle""#, vec!["long-title"]),
            (
                r#"title co "needle-taiL" and userName sw "long""#,
                vec!["long-title"],
            ),
            (r#"title ew "tail-needle""#, vec![]),
        ] {
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair("filter", filter)
                .append_pair("sortBy", "userName")
                .finish();
            let r = s.get(&format!("/Users?{q}")).await;
            assert_eq!(r.status, StatusCode::OK, "{filter}: {}", r.body);
            let names: Vec<&str> = r.body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["userName"].as_str().unwrap())
                .collect();
            assert_eq!(names, expected, "{filter}");
            assert_eq!(r.body["totalResults"], expected.len(), "{filter}");
        }
    }
);
