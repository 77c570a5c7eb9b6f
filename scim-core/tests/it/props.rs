//! Property tests: filter display → parse round trip; diff then apply reproduces the target;
//! PATCH is atomic; parsers never panic on arbitrary input.

use proptest::prelude::*;
use scim_core::filter::{CompValue, CompareOp, Filter};
use scim_core::resource::sync_schemas;
use scim_core::{apply_operations, diff, AttrPath, Compat, Context, JsonMap, PatchOp, PatchPath};
use serde_json::{json, Value};

const OPS: [CompareOp; 9] = [
    CompareOp::Eq,
    CompareOp::Ne,
    CompareOp::Co,
    CompareOp::Sw,
    CompareOp::Ew,
    CompareOp::Gt,
    CompareOp::Ge,
    CompareOp::Lt,
    CompareOp::Le,
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("userName".to_string()),
        Just("emails".to_string()),
        Just("$ref".to_string()),
        Just("x-custom_attr".to_string()),
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}".prop_filter("keywords", |s| {
            !["and", "or", "not", "pr", "true", "false", "null"]
                .contains(&s.to_ascii_lowercase().as_str())
        }),
    ]
}

fn attr_path(allow_urn: bool) -> impl Strategy<Value = AttrPath> {
    let urn = if allow_urn {
        prop_oneof![
            3 => Just(None),
            1 => Just(Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_string())),
            1 => Just(Some("urn:ietf:params:scim:schemas:core:2.0:User".to_string())),
        ]
        .boxed()
    } else {
        Just(None).boxed()
    };
    (urn, name(), proptest::option::of(name())).prop_map(|(urn, name, sub)| AttrPath {
        urn,
        name,
        sub,
    })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        (-1.0e12f64..1.0e12)
            .prop_map(|f| CompValue::Number(serde_json::Number::from_f64(f).unwrap())),
        any::<String>().prop_map(CompValue::String),
        "[a-z\"\\\\ /@.]{0,12}".prop_map(CompValue::String),
    ]
}

fn term(allow_urn: bool) -> impl Strategy<Value = Filter> {
    prop_oneof![
        (attr_path(allow_urn), 0..OPS.len(), comp_value()).prop_map(|(path, op, value)| {
            Filter::Compare {
                path,
                op: OPS[op],
                value,
            }
        }),
        attr_path(allow_urn).prop_map(Filter::Present),
    ]
}

fn logic(leaf: BoxedStrategy<Filter>) -> impl Strategy<Value = Filter> {
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
            inner.prop_map(Filter::not),
        ]
    })
}

fn filter() -> impl Strategy<Value = Filter> {
    let value_path = (name(), logic(term(false).boxed())).prop_map(|(n, f)| Filter::ValuePath {
        path: AttrPath::new(n),
        filter: Box::new(f),
    });
    let leaf = prop_oneof![3 => term(true), 1 => value_path].boxed();
    logic(leaf)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn filter_display_parse_round_trip(f in filter()) {
        let text = f.to_string();
        let back = Filter::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, f, "{}", text);
    }

    #[test]
    fn patch_path_display_parse_round_trip(attr in attr_path(true), f in proptest::option::of(logic(term(false).boxed()))) {
        let p = PatchPath { attr, filter: f };
        let text = p.to_string();
        let back = PatchPath::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, p);
    }

    #[test]
    fn parsers_never_panic(s in any::<String>()) {
        let _ = Filter::parse(&s);
        let _ = PatchPath::parse(&s);
        let _ = AttrPath::parse(&s);
    }

    #[test]
    fn diff_then_apply_reproduces_user(a in user(), b in user()) {
        let ctx = Context::user();
        let ops = diff(&a, &b, &ctx);
        let mut c = a.clone();
        apply_operations(&mut c, &ops, &ctx, &Compat::strict())
            .map_err(|e| TestCaseError::fail(format!("{e}\nops: {ops:?}")))?;
        prop_assert_eq!(Value::Object(c), Value::Object(b), "ops: {:?}", ops);
        prop_assert!(diff(&a, &a, &ctx).is_empty());
    }

    #[test]
    fn diff_then_apply_reproduces_group(a in group(), b in group()) {
        let ctx = Context::group();
        let ops = diff(&a, &b, &ctx);
        let mut c = a.clone();
        apply_operations(&mut c, &ops, &ctx, &Compat::strict())
            .map_err(|e| TestCaseError::fail(format!("{e}\nops: {ops:?}")))?;
        prop_assert_eq!(Value::Object(c), Value::Object(b), "ops: {:?}", ops);
    }

    #[test]
    fn failed_patch_changes_nothing(a in user(), b in user()) {
        let ctx = Context::user();
        let mut ops = diff(&a, &b, &ctx);
        // A final operation that always fails: id is readOnly.
        ops.push(scim_core::PatchOperation::replace(Some("id"), json!("other-id")));
        let mut c = a.clone();
        let err = apply_operations(&mut c, &ops, &ctx, &Compat::default()).unwrap_err();
        prop_assert_eq!(err.scim_type, Some(scim_core::ScimType::Mutability));
        prop_assert_eq!(c, a);
    }

    #[test]
    fn patch_from_arbitrary_json_never_panics(v in arb_json()) {
        let ctx = Context::user();
        if let Ok(p) = PatchOp::from_json(&v, &Compat::default()) {
            let mut u = base_user();
            let before = u.clone();
            if scim_core::apply_patch(&mut u, &p, &ctx, &Compat::default()).is_err() {
                prop_assert_eq!(u, before);
            }
        }
    }
}

fn base_user() -> JsonMap {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u1", "userName": "bjensen",
           "emails": [{"value": "a@x", "type": "work", "primary": true}], "name": {"givenName": "B"}})
    .as_object()
    .unwrap()
    .clone()
}

fn arb_json() -> impl Strategy<Value = Value> {
    let paths = prop_oneof![
        Just(json!("emails")),
        Just(json!("emails[type eq \"work\"].value")),
        Just(json!("name.givenName")),
        Just(json!("members")),
        Just(json!("active")),
        Just(json!(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
        )),
        Just(json!("id")),
        any::<String>().prop_map(Value::String),
        Just(Value::Null),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-zA-Z@.]{0,6}".prop_map(Value::String),
        Just(json!("False")),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("value".to_string()),
                        Just("type".to_string()),
                        Just("primary".to_string()),
                        Just("givenName".to_string()),
                        "[a-z]{1,5}"
                    ],
                    inner
                ),
                0..4
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    });
    let op = (
        prop_oneof![Just("add"), Just("Replace"), Just("remove"), Just("bogus")],
        paths,
        proptest::option::of(value),
    )
        .prop_map(|(op, path, value)| {
            let mut o = serde_json::Map::new();
            o.insert("op".into(), json!(op));
            if !path.is_null() {
                o.insert("path".into(), path);
            }
            if let Some(v) = value {
                o.insert("value".into(), v);
            }
            Value::Object(o)
        });
    proptest::collection::vec(op, 0..5).prop_map(|ops| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
    })
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    proptest::option::of(s).boxed()
}

fn user() -> impl Strategy<Value = JsonMap> {
    let emails = proptest::collection::vec(
        (
            prop_oneof![
                Just("a@x"),
                Just("b@x"),
                Just("c@x"),
                Just("d@x"),
                Just("A@x")
            ],
            opt(prop_oneof![Just("work"), Just("home")]),
            any::<bool>(),
        ),
        0..4,
    );
    (
        prop_oneof![Just("alice"), Just("bob")],
        opt(prop_oneof![Just("Alice"), Just("Bob B")]),
        opt((
            opt(prop_oneof![Just("A"), Just("B")]),
            opt(Just("Fam")),
            opt(Just("Mid")),
        )),
        opt(any::<bool>()),
        emails,
        opt((
            opt(Just("Eng")),
            opt(Just("42")),
            opt(prop_oneof![Just("m1"), Just("m2")]),
        )),
        opt(prop_oneof![Just("ext-1"), Just("EXT-1")]),
    )
        .prop_map(
            |(user_name, display, name, active, emails, ent, external)| {
                let mut u = serde_json::Map::new();
                u.insert("id".into(), json!("fixed-id"));
                u.insert("userName".into(), json!(user_name));
                if let Some(d) = display {
                    u.insert("displayName".into(), json!(d));
                }
                if let Some(e) = external {
                    u.insert("externalId".into(), json!(e));
                }
                if let Some((g, f, m)) = name {
                    let mut n = serde_json::Map::new();
                    if let Some(g) = g {
                        n.insert("givenName".into(), json!(g));
                    }
                    if let Some(f) = f {
                        n.insert("familyName".into(), json!(f));
                    }
                    if let Some(m) = m {
                        n.insert("middleName".into(), json!(m));
                    }
                    if !n.is_empty() {
                        u.insert("name".into(), Value::Object(n));
                    }
                }
                if let Some(a) = active {
                    u.insert("active".into(), json!(a));
                }
                let mut seen_primary = false;
                let mut list = Vec::new();
                for (value, kind, primary) in emails {
                    let mut e = serde_json::Map::new();
                    e.insert("value".into(), json!(value));
                    if let Some(k) = kind {
                        e.insert("type".into(), json!(k));
                    }
                    if primary && !seen_primary {
                        seen_primary = true;
                        e.insert("primary".into(), json!(true));
                    }
                    list.push(Value::Object(e));
                }
                if !list.is_empty() {
                    u.insert("emails".into(), Value::Array(list));
                }
                if let Some((dept, num, mgr)) = ent {
                    let mut x = serde_json::Map::new();
                    if let Some(d) = dept {
                        x.insert("department".into(), json!(d));
                    }
                    if let Some(n) = num {
                        x.insert("employeeNumber".into(), json!(n));
                    }
                    if let Some(m) = mgr {
                        x.insert("manager".into(), json!({"value": m}));
                    }
                    if !x.is_empty() {
                        u.insert(
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into(),
                            Value::Object(x),
                        );
                    }
                }
                sync_schemas(&mut u, &Context::user());
                u
            },
        )
}

fn group() -> impl Strategy<Value = JsonMap> {
    (
        prop_oneof![Just("Eng"), Just("Ops")],
        proptest::collection::vec(
            (0u8..40, opt(prop_oneof![Just("User"), Just("Group")])),
            0..30,
        ),
    )
        .prop_map(|(display, members)| {
            let mut seen = std::collections::HashSet::new();
            let members: Vec<Value> = members
                .into_iter()
                .filter(|(m, _)| seen.insert(*m))
                .map(|(m, t)| match t {
                    Some(t) => json!({"value": format!("id-{m}"), "type": t}),
                    None => json!({"value": format!("id-{m}")}),
                })
                .collect();
            let mut g = json!({"id": "g1", "displayName": display})
                .as_object()
                .unwrap()
                .clone();
            if !members.is_empty() {
                g.insert("members".into(), Value::Array(members));
            }
            sync_schemas(&mut g, &Context::group());
            g
        })
}
