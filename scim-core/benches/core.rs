//! Criterion benchmarks for scim-core's hot paths: filter parsing and evaluation, PATCH,
//! projection and diff, with a `serde_json::from_str` of the same user as a baseline so figures
//! can be read as ratios on a noisy machine.
//!
//! Run: `cargo bench -p scim-core --bench core -- --warm-up-time 1 --measurement-time 3`
//! (results are recorded in docs/benchmarks.md).

// `criterion_group!` generates an undocumented `pub fn benches`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use scim_core::{
    apply_patch, diff, Compat, Context, Filter, JsonMap, PatchOp, Projection, Resource,
};
use serde_json::{json, Value};

/// A realistic user: three emails, addresses, phone numbers, groups, meta and the enterprise
/// extension with a manager.
const USER_JSON: &str = r#"{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
              "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "id": "2819c223-7f76-453a-919d-413861904646",
  "externalId": "701984",
  "userName": "bjensen",
  "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara",
           "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
  "displayName": "Babs Jensen",
  "nickName": "Babs",
  "profileUrl": "https://login.example.com/bjensen",
  "emails": [
    {"value": "bjensen@example.com", "type": "work", "primary": true},
    {"value": "babs@jensen.org", "type": "home"},
    {"value": "barbara.jensen@example.org", "type": "other"}
  ],
  "addresses": [
    {"streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "region": "CA",
     "postalCode": "91608", "country": "USA", "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
     "type": "work", "primary": true},
    {"streetAddress": "456 Hollywood Blvd", "locality": "Hollywood", "region": "CA",
     "postalCode": "91608", "country": "USA", "formatted": "456 Hollywood Blvd\nHollywood, CA 91608 USA",
     "type": "home"}
  ],
  "phoneNumbers": [{"value": "555-555-5555", "type": "work"}, {"value": "555-555-4444", "type": "mobile"}],
  "ims": [{"value": "someaimhandle", "type": "aim"}],
  "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
  "userType": "Employee",
  "title": "Tour Guide",
  "preferredLanguage": "en-US",
  "locale": "en-US",
  "timezone": "America/Los_Angeles",
  "active": true,
  "groups": [
    {"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "$ref": "../Groups/e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"},
    {"value": "fc348aa8-3835-40eb-a20b-c726e15c55b5", "$ref": "../Groups/fc348aa8-3835-40eb-a20b-c726e15c55b5", "display": "Employees"}
  ],
  "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z",
           "version": "W/\"3694e05e9dff591\"",
           "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"},
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
    "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
    "division": "Theme Park", "department": "Tour Operations",
    "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d",
                "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
  }
}"#;

const SIMPLE: &str = r#"userName eq "bjensen""#;
const ENTRA: &str = r#"emails[type eq "work"].value eq "x@y.com""#;
/// Ten attribute expressions with `and`, `or`, `not` and value paths.
const COMPLEX: &str = concat!(
    r#"userType eq "Employee" and (emails[type eq "work" and value ew "@example.com"] or emails.value co "example.org")"#,
    r#" and not (title pr and title eq "Intern")"#,
    r#" and (meta.lastModified gt "2011-05-13T04:42:34Z" or active eq true)"#,
    r#" and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department sw "Tour""#,
    r#" and name.familyName eq "Jensen""#,
);
const FILTERS: [(&str, &str); 3] = [
    ("simple", SIMPLE),
    ("entra_value_path", ENTRA),
    ("complex_10_terms", COMPLEX),
];

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn user(ctx: &Context<'_>) -> JsonMap {
    Resource::from_str_json(USER_JSON, ctx)
        .expect("user")
        .into_map()
}

fn generated_users(n: usize, ctx: &Context<'_>) -> Vec<JsonMap> {
    (0..n)
        .map(|i| {
            let v = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "id": format!("user-{i:05}"),
                "userName": format!("user{i}@example.com"),
                "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{}", i % 97)},
                "active": i % 3 != 0,
                "emails": [
                    {"value": format!("user{i}@example.com"), "type": "work", "primary": true},
                    {"value": format!("user{i}@home.example"), "type": "home"},
                    {"value": format!("u{i}@other.example"), "type": "other"}
                ],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "employeeNumber": format!("{i}"), "department": format!("Dept{}", i % 13)
                }
            });
            Resource::from_json(v, ctx).expect("generated user").into_map()
        })
        .collect()
}

fn group(members: usize, ctx: &Context<'_>) -> JsonMap {
    let members: Vec<Value> = (0..members)
        .map(|i| json!({"value": format!("member-{i:06}"), "$ref": format!("../Users/member-{i:06}"), "type": "User"}))
        .collect();
    let v = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": members,
        "meta": {"resourceType": "Group", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z"}
    });
    Resource::from_json(v, ctx).expect("group").into_map()
}

fn patch(ops: Value) -> PatchOp {
    PatchOp::from_json(
        &json!({"schemas": [PATCH_OP], "Operations": ops}),
        &Compat::default(),
    )
    .expect("patch")
}

fn baseline(c: &mut Criterion) {
    let mut g = c.benchmark_group("baseline");
    g.bench_function("serde_json_from_str_user", |b| {
        b.iter(|| serde_json::from_str::<Value>(black_box(USER_JSON)).unwrap())
    });
    g.finish();
}

fn filter_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("filter_parse");
    for (name, text) in FILTERS {
        g.bench_function(name, |b| b.iter(|| Filter::parse(black_box(text)).unwrap()));
    }
    g.finish();
}

fn filter_eval(c: &mut Criterion) {
    let ctx = Context::user();
    let u = user(&ctx);
    let mut g = c.benchmark_group("filter_eval");
    for (name, text) in FILTERS {
        let f = Filter::parse(text).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| black_box(&f).matches(black_box(&u), &ctx))
        });
    }
    // Sanity: the complex filter matches the sample user, so `and` chains are walked in full.
    assert!(Filter::parse(COMPLEX).unwrap().matches(&u, &ctx));

    let users = generated_users(10_000, &ctx);
    let f = Filter::parse(r#"emails[type eq "work"].value eq "user7777@example.com""#).unwrap();
    assert_eq!(users.iter().filter(|u| f.matches(u, &ctx)).count(), 1);
    g.bench_function("entra_value_path_over_10000_users", |b| {
        b.iter(|| {
            black_box(&users)
                .iter()
                .filter(|u| f.matches(u, &ctx))
                .count()
        })
    });
    g.finish();
}

fn patch_apply(c: &mut Criterion) {
    let compat = Compat::default();
    let uctx = Context::user();
    let gctx = Context::group();
    let u = user(&uctx);
    let mut g = c.benchmark_group("patch_apply");

    // Each iteration patches a fresh clone (made outside the timed section) so every run changes
    // the resource; `apply_patch` itself still copies the resource once for atomicity.
    let run = |g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
               id: String,
               base: &JsonMap,
               p: &PatchOp,
               ctx: &Context<'_>,
               size: BatchSize| {
        let mut probe = base.clone();
        assert!(
            apply_patch(&mut probe, p, ctx, &compat)
                .expect("patch applies")
                .changed,
            "{id} changes nothing"
        );
        g.bench_function(id, |b| {
            b.iter_batched(
                || base.clone(),
                |mut r| {
                    apply_patch(&mut r, p, ctx, &compat).unwrap();
                    r
                },
                size,
            )
        });
    };

    let p = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    run(
        &mut g,
        "replace_active".to_string(),
        &u,
        &p,
        &uctx,
        BatchSize::SmallInput,
    );

    let p = patch(json!([{"op": "Replace", "value": {
        "displayName": "Barbara Jensen",
        "title": "Senior Tour Guide",
        "active": "False",
        "name.givenName": "Barb",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Guest Services"
    }}]));
    let mut probe = u.clone();
    apply_patch(&mut probe, &p, &uctx, &compat).unwrap();
    assert_eq!(probe["name"]["givenName"], json!("Barb"));
    assert_eq!(probe["active"], json!(false));
    assert_eq!(
        probe["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        json!("Guest Services")
    );
    run(
        &mut g,
        "entra_pathless_replace_5_keys".to_string(),
        &u,
        &p,
        &uctx,
        BatchSize::SmallInput,
    );

    let add = patch(
        json!([{"op": "add", "path": "members", "value": [{"value": "new-member", "type": "User"}]}]),
    );
    for n in [10usize, 1_000, 10_000] {
        let grp = group(n, &gctx);
        let size = if n >= 1_000 {
            BatchSize::LargeInput
        } else {
            BatchSize::SmallInput
        };
        run(&mut g, format!("add_member/{n}"), &grp, &add, &gctx, size);
    }

    let grp = group(1_000, &gctx);
    let remove = patch(json!([{"op": "remove", "path": "members[value eq \"member-000500\"]"}]));
    let mut probe = grp.clone();
    apply_patch(&mut probe, &remove, &gctx, &compat).unwrap();
    assert_eq!(probe["members"].as_array().unwrap().len(), 999);
    run(
        &mut g,
        "remove_member_by_filter/1000".to_string(),
        &grp,
        &remove,
        &gctx,
        BatchSize::LargeInput,
    );
    g.finish();
}

fn projection(c: &mut Criterion) {
    let ctx = Context::user();
    let u = user(&ctx);
    let mut g = c.benchmark_group("projection");
    let proj = Projection::from_query(Some("userName,emails"), None, &ctx).unwrap();
    g.bench_function("userName_emails_apply", |b| {
        b.iter(|| proj.apply(black_box(&u), &ctx))
    });
    g.bench_function("userName_emails_parse_and_apply", |b| {
        b.iter(|| {
            Projection::from_query(Some(black_box("userName,emails")), None, &ctx)
                .unwrap()
                .apply(black_box(&u), &ctx)
        })
    });
    g.finish();
}

fn diff_bench(c: &mut Criterion) {
    let ctx = Context::user();
    let from = user(&ctx);
    let mut v: Value = serde_json::from_str(USER_JSON).unwrap();
    v["title"] = json!("Senior Tour Guide");
    v["emails"][1]["value"] = json!("barbara@jensen.org");
    v["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"] =
        json!("Guest Services");
    let to = Resource::from_json(v, &ctx).unwrap().into_map();
    assert!(!diff(&from, &to, &ctx).is_empty());
    let mut g = c.benchmark_group("diff");
    g.bench_function("user_3_attributes_changed", |b| {
        b.iter(|| diff(black_box(&from), black_box(&to), &ctx))
    });
    g.finish();
}

criterion_group!(
    benches,
    baseline,
    filter_parse,
    filter_eval,
    patch_apply,
    projection,
    diff_bench
);
criterion_main!(benches);
