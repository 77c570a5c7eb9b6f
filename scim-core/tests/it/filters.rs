//! Filters (RFC 7644 §3.4.2.2): parsing to the expected AST, canonical display, rejection of
//! malformed input with `400 invalidFilter` (and byte offsets), resource limits, evaluation over a
//! realistic population of users and groups, and schema checks (`Filter::check`).

use scim_core::filter::{MAX_DEPTH, MAX_FILTER_LEN, MAX_TERMS};
use scim_core::{
    AttrPath, CompValue, CompareOp as Op, Context, Filter, Resource, Schema, SchemaRegistry,
    ScimError, ScimType,
};
use serde_json::{json, Value};

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ACME: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";
const RFC_DT: &str = "2011-05-13T04:42:34Z";

// ---------------------------------------------------------------------------------------------
// AST builders (public constructors only)
// ---------------------------------------------------------------------------------------------

fn at(name: &str) -> AttrPath {
    AttrPath::new(name)
}
fn sub(name: &str, sub: &str) -> AttrPath {
    AttrPath::new(name).with_sub(sub)
}
fn urn(urn: &str, name: &str) -> AttrPath {
    AttrPath::new(name).with_urn(urn)
}
fn urn_sub(urn: &str, name: &str, sub: &str) -> AttrPath {
    AttrPath::new(name).with_sub(sub).with_urn(urn)
}
fn c(path: AttrPath, op: Op, value: CompValue) -> Filter {
    Filter::Compare { path, op, value }
}
fn pr(path: AttrPath) -> Filter {
    Filter::Present(path)
}
fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}
fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}
fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}
fn vp(path: AttrPath, filter: Filter) -> Filter {
    Filter::ValuePath {
        path,
        filter: Box::new(filter),
    }
}
fn s(v: &str) -> CompValue {
    CompValue::String(v.to_string())
}
fn int(n: i64) -> CompValue {
    CompValue::Number(n.into())
}
fn uint(n: u64) -> CompValue {
    CompValue::Number(n.into())
}
fn float(x: f64) -> CompValue {
    CompValue::Number(serde_json::Number::from_f64(x).expect("finite"))
}
fn boolean(b: bool) -> CompValue {
    CompValue::Bool(b)
}

// ---------------------------------------------------------------------------------------------
// 1. Valid filters
// ---------------------------------------------------------------------------------------------

/// `(input, expected AST)`.
fn valid_cases() -> Vec<(&'static str, Filter)> {
    let emp = || c(at("userType"), Op::Eq, s("Employee"));
    let work_example = || {
        vp(
            at("emails"),
            and(
                c(at("type"), Op::Eq, s("work")),
                c(at("value"), Op::Co, s("@example.com")),
            ),
        )
    };
    let co_com_or_org = || {
        or(
            c(at("emails"), Op::Co, s("example.com")),
            c(sub("emails", "value"), Op::Co, s("example.org")),
        )
    };
    let (a, b, cc, d) = (
        || pr(at("a")),
        || pr(at("b")),
        || pr(at("c")),
        || pr(at("d")),
    );
    vec![
        // --- every example filter of RFC 7644 §3.4.2.2 (tests/fixtures/rfc/filters.json) ---
        (
            r#"userName eq "bjensen""#,
            c(at("userName"), Op::Eq, s("bjensen")),
        ),
        (
            r#"name.familyName co "O'Malley""#,
            c(sub("name", "familyName"), Op::Co, s("O'Malley")),
        ),
        (r#"userName sw "J""#, c(at("userName"), Op::Sw, s("J"))),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            c(urn(CORE_USER, "userName"), Op::Sw, s("J")),
        ),
        ("title pr", pr(at("title"))),
        (
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            c(sub("meta", "lastModified"), Op::Gt, s(RFC_DT)),
        ),
        (
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            c(sub("meta", "lastModified"), Op::Ge, s(RFC_DT)),
        ),
        (
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            c(sub("meta", "lastModified"), Op::Lt, s(RFC_DT)),
        ),
        (
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            c(sub("meta", "lastModified"), Op::Le, s(RFC_DT)),
        ),
        (
            r#"title pr and userType eq "Employee""#,
            and(pr(at("title")), emp()),
        ),
        (
            r#"title pr or userType eq "Intern""#,
            or(pr(at("title")), c(at("userType"), Op::Eq, s("Intern"))),
        ),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            c(at("schemas"), Op::Eq, s(ENTERPRISE)),
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            and(emp(), co_com_or_org()),
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            and(
                c(at("userType"), Op::Ne, s("Employee")),
                not(co_com_or_org()),
            ),
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            and(emp(), c(sub("emails", "type"), Op::Eq, s("work"))),
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            and(emp(), work_example()),
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            or(
                work_example(),
                vp(
                    at("ims"),
                    and(
                        c(at("type"), Op::Eq, s("xmpp")),
                        c(at("value"), Op::Co, s("@foo.com")),
                    ),
                ),
            ),
        ),
        // --- every operator, in mixed case ---
        (r#"userName EQ "x""#, c(at("userName"), Op::Eq, s("x"))),
        (r#"userName Eq "x""#, c(at("userName"), Op::Eq, s("x"))),
        (
            r#"displayName ne "x""#,
            c(at("displayName"), Op::Ne, s("x")),
        ),
        (
            r#"displayName nE "x""#,
            c(at("displayName"), Op::Ne, s("x")),
        ),
        (
            r#"displayName co "x""#,
            c(at("displayName"), Op::Co, s("x")),
        ),
        (
            r#"displayName CO "x""#,
            c(at("displayName"), Op::Co, s("x")),
        ),
        (r#"userName Sw "a""#, c(at("userName"), Op::Sw, s("a"))),
        (r#"userName ew "z""#, c(at("userName"), Op::Ew, s("z"))),
        (r#"userName eW "z""#, c(at("userName"), Op::Ew, s("z"))),
        (
            r#"meta.created GT "2020-01-01T00:00:00Z""#,
            c(sub("meta", "created"), Op::Gt, s("2020-01-01T00:00:00Z")),
        ),
        ("badge ge 1", c(at("badge"), Op::Ge, int(1))),
        ("badge Ge 1", c(at("badge"), Op::Ge, int(1))),
        ("badge lt 1", c(at("badge"), Op::Lt, int(1))),
        ("badge LT 1", c(at("badge"), Op::Lt, int(1))),
        ("badge le 1", c(at("badge"), Op::Le, int(1))),
        ("badge lE 1", c(at("badge"), Op::Le, int(1))),
        ("title PR", pr(at("title"))),
        ("title Pr", pr(at("title"))),
        // --- logical operators: case, precedence, associativity, parentheses ---
        ("a pr and b pr", and(a(), b())),
        ("a pr AND b pr", and(a(), b())),
        ("a pr Or b pr", or(a(), b())),
        ("a pr OR b pr", or(a(), b())),
        ("a pr or b pr and c pr", or(a(), and(b(), cc()))),
        ("a pr and b pr or c pr", or(and(a(), b()), cc())),
        ("a pr or b pr or c pr", or(or(a(), b()), cc())),
        ("a pr and b pr and c pr", and(and(a(), b()), cc())),
        ("a pr or (b pr or c pr)", or(a(), or(b(), cc()))),
        ("a pr and (b pr and c pr)", and(a(), and(b(), cc()))),
        ("(a pr or b pr) and c pr", and(or(a(), b()), cc())),
        ("a pr and (b pr or c pr)", and(a(), or(b(), cc()))),
        (
            "a pr and b pr or c pr and d pr",
            or(and(a(), b()), and(cc(), d())),
        ),
        (
            "a pr or b pr and c pr or d pr",
            or(or(a(), and(b(), cc())), d()),
        ),
        (
            "(a pr or b pr) and (c pr or d pr)",
            and(or(a(), b()), or(cc(), d())),
        ),
        ("not (a pr)", not(a())),
        ("NOT (a pr)", not(a())),
        ("Not(a pr)", not(a())),
        ("not (a pr) and b pr", and(not(a()), b())),
        ("a pr or not (b pr) and c pr", or(a(), and(not(b()), cc()))),
        ("not (a pr or b pr) or c pr", or(not(or(a(), b())), cc())),
        ("not (not (a pr))", not(not(a()))),
        ("not ((a pr))", not(a())),
        ("((a pr))", a()),
        (
            r#"(((userName eq "x")))"#,
            c(at("userName"), Op::Eq, s("x")),
        ),
        ("((a pr) and (b pr))", and(a(), b())),
        ("(a pr) or ((b pr) and ((c pr)))", or(a(), and(b(), cc()))),
        // `not` not followed by a group is an ordinary attribute name (RFC 7643 ATTRNAME).
        ("not pr", pr(at("not"))),
        (r#"not eq "x""#, c(at("not"), Op::Eq, s("x"))),
        // --- URN-qualified attributes ---
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
            c(urn(ENTERPRISE, "employeeNumber"), Op::Eq, s("701984")),
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
            c(
                urn_sub(ENTERPRISE, "manager", "value"),
                Op::Eq,
                s("26118915-6090-4610-87e4-49d8ca9f808d"),
            ),
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen""#,
            c(urn(CORE_USER, "userName"), Op::Eq, s("bjensen")),
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw "B""#,
            c(urn_sub(CORE_USER, "name", "givenName"), Op::Sw, s("B")),
        ),
        (
            "URN:IETF:params:scim:schemas:extension:enterprise:2.0:User:department pr",
            pr(urn(
                "URN:IETF:params:scim:schemas:extension:enterprise:2.0:User",
                "department",
            )),
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr and userName sw "b""#,
            and(
                pr(urn(ENTERPRISE, "employeeNumber")),
                c(at("userName"), Op::Sw, s("b")),
            ),
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "Tour Guides""#,
            c(urn(CORE_GROUP, "displayName"), Op::Eq, s("Tour Guides")),
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value pr]",
            vp(urn(ENTERPRISE, "manager"), pr(at("value"))),
        ),
        (
            "urn:example:params:scim:schemas:extension:acme:2.0:User:badge-id gt 5",
            c(urn(ACME, "badge-id"), Op::Gt, int(5)),
        ),
        // --- value filters ---
        (
            r#"emails[type eq "work" and value co "@example.com"]"#,
            work_example(),
        ),
        (
            r#"emails[type eq "work"]"#,
            vp(at("emails"), c(at("type"), Op::Eq, s("work"))),
        ),
        (
            r#"emails[not (type eq "work")]"#,
            vp(at("emails"), not(c(at("type"), Op::Eq, s("work")))),
        ),
        (
            r#"emails[type eq "work" or primary eq true]"#,
            vp(
                at("emails"),
                or(
                    c(at("type"), Op::Eq, s("work")),
                    c(at("primary"), Op::Eq, boolean(true)),
                ),
            ),
        ),
        (
            r#"emails[(type eq "work")]"#,
            vp(at("emails"), c(at("type"), Op::Eq, s("work"))),
        ),
        (
            r#"members[value eq "2819c223"]"#,
            vp(at("members"), c(at("value"), Op::Eq, s("2819c223"))),
        ),
        (
            r#"EMAILS[TYPE EQ "work"]"#,
            vp(at("EMAILS"), c(at("TYPE"), Op::Eq, s("work"))),
        ),
        (
            r#"not (emails[type eq "work"])"#,
            not(vp(at("emails"), c(at("type"), Op::Eq, s("work")))),
        ),
        (
            r#"groups[display eq "Tour Guides"] and name[givenName pr]"#,
            and(
                vp(at("groups"), c(at("display"), Op::Eq, s("Tour Guides"))),
                vp(at("name"), pr(at("givenName"))),
            ),
        ),
        (
            r#"members[$ref co "/Users/"]"#,
            vp(at("members"), c(at("$ref"), Op::Co, s("/Users/"))),
        ),
        // --- the non-ABNF `x[filter].sub op value` form, normalised into the value filter ---
        (
            r#"emails[type eq "work"].value eq "x""#,
            vp(
                at("emails"),
                and(
                    c(at("type"), Op::Eq, s("work")),
                    c(at("value"), Op::Eq, s("x")),
                ),
            ),
        ),
        (
            r#"emails[type eq "work"].value co "@example.com" and active eq true"#,
            and(
                vp(
                    at("emails"),
                    and(
                        c(at("type"), Op::Eq, s("work")),
                        c(at("value"), Op::Co, s("@example.com")),
                    ),
                ),
                c(at("active"), Op::Eq, boolean(true)),
            ),
        ),
        (
            r#"emails[type eq "work" or type eq "home"].value pr"#,
            vp(
                at("emails"),
                and(
                    or(
                        c(at("type"), Op::Eq, s("work")),
                        c(at("type"), Op::Eq, s("home")),
                    ),
                    pr(at("value")),
                ),
            ),
        ),
        (
            r#"addresses[type eq "work"].postalCode sw "9""#,
            vp(
                at("addresses"),
                and(
                    c(at("type"), Op::Eq, s("work")),
                    c(at("postalCode"), Op::Sw, s("9")),
                ),
            ),
        ),
        // --- string literals and escapes ---
        (
            r#"displayName eq "say \"hi\"""#,
            c(at("displayName"), Op::Eq, s("say \"hi\"")),
        ),
        (
            r#"displayName eq "back\\slash""#,
            c(at("displayName"), Op::Eq, s("back\\slash")),
        ),
        (
            r#"displayName eq "caf\u00e9""#,
            c(at("displayName"), Op::Eq, s("café")),
        ),
        (
            r#"displayName eq "caf\u00E9""#,
            c(at("displayName"), Op::Eq, s("café")),
        ),
        (
            r#"displayName eq "line\nbreak""#,
            c(at("displayName"), Op::Eq, s("line\nbreak")),
        ),
        (
            r#"displayName eq "tab\tx\/y\r""#,
            c(at("displayName"), Op::Eq, s("tab\tx/y\r")),
        ),
        (
            r#"displayName eq "\ud83d\ude00""#,
            c(at("displayName"), Op::Eq, s("\u{1F600}")),
        ),
        (r#"displayName eq """#, c(at("displayName"), Op::Eq, s(""))),
        (
            r#"displayName eq "Ünïcödé 日本""#,
            c(at("displayName"), Op::Eq, s("Ünïcödé 日本")),
        ),
        (
            r#"displayName eq "a and b or not (c) ] [""#,
            c(at("displayName"), Op::Eq, s("a and b or not (c) ] [")),
        ),
        // --- numbers ---
        ("badge eq 0", c(at("badge"), Op::Eq, int(0))),
        ("badge eq 42", c(at("badge"), Op::Eq, int(42))),
        ("badge eq -7", c(at("badge"), Op::Eq, int(-7))),
        ("rating gt 3.25", c(at("rating"), Op::Gt, float(3.25))),
        ("rating lt -0.5", c(at("rating"), Op::Lt, float(-0.5))),
        ("rating eq 1e3", c(at("rating"), Op::Eq, float(1000.0))),
        ("rating eq 2.5E-3", c(at("rating"), Op::Eq, float(0.0025))),
        ("rating eq 1e+2", c(at("rating"), Op::Eq, float(100.0))),
        ("rating eq -1.5e2", c(at("rating"), Op::Eq, float(-150.0))),
        (
            "badge eq 18446744073709551615",
            c(at("badge"), Op::Eq, uint(u64::MAX)),
        ),
        (
            "badge eq -9223372036854775808",
            c(at("badge"), Op::Eq, int(i64::MIN)),
        ),
        ("(badge eq 1)", c(at("badge"), Op::Eq, int(1))),
        // --- true / false / null in any case ---
        ("active eq true", c(at("active"), Op::Eq, boolean(true))),
        ("active eq TRUE", c(at("active"), Op::Eq, boolean(true))),
        ("active eq False", c(at("active"), Op::Eq, boolean(false))),
        ("active ne fAlSe", c(at("active"), Op::Ne, boolean(false))),
        (
            "nickName eq null",
            c(at("nickName"), Op::Eq, CompValue::Null),
        ),
        ("title ne NULL", c(at("title"), Op::Ne, CompValue::Null)),
        ("manager eq Null", c(at("manager"), Op::Eq, CompValue::Null)),
        // --- dateTime strings ---
        (
            r#"meta.created ge "2011-05-13T04:42:34.123+02:00""#,
            c(
                sub("meta", "created"),
                Op::Ge,
                s("2011-05-13T04:42:34.123+02:00"),
            ),
        ),
        (
            r#"meta.lastModified lt "2011-05-13T04:42:34-07:00" and meta.created gt "2010-01-23T04:56:22Z""#,
            and(
                c(
                    sub("meta", "lastModified"),
                    Op::Lt,
                    s("2011-05-13T04:42:34-07:00"),
                ),
                c(sub("meta", "created"), Op::Gt, s("2010-01-23T04:56:22Z")),
            ),
        ),
        // --- $ref, names with '-' and '_' ---
        (
            r#"groups.$ref eq "https://example.com/v2/Groups/e9e30dba""#,
            c(
                sub("groups", "$ref"),
                Op::Eq,
                s("https://example.com/v2/Groups/e9e30dba"),
            ),
        ),
        ("manager.$ref pr", pr(sub("manager", "$ref"))),
        (r#"x-custom eq "y""#, c(at("x-custom"), Op::Eq, s("y"))),
        ("my_attr pr", pr(at("my_attr"))),
        ("a-b_c.d_e-f eq 1", c(sub("a-b_c", "d_e-f"), Op::Eq, int(1))),
        // --- whitespace: extra spaces, tabs, newlines ---
        (
            "  userName   eq\t\"x\"  ",
            c(at("userName"), Op::Eq, s("x")),
        ),
        ("\n(a pr)\r\nand\tb pr\n", and(a(), b())),
        (
            "emails[ type eq \"work\" ]",
            vp(at("emails"), c(at("type"), Op::Eq, s("work"))),
        ),
        ("( a pr )", a()),
        ("not\t(\ta pr\t)", not(a())),
        (
            "title\tpr\nor\n\nnickName\tpr",
            or(pr(at("title")), pr(at("nickName"))),
        ),
    ]
}

#[test]
fn valid_filters_parse_to_the_expected_ast() {
    let cases = valid_cases();
    assert!(cases.len() >= 90, "only {} valid cases", cases.len());
    let mut failures = Vec::new();
    for (input, expected) in &cases {
        match Filter::parse(input) {
            Ok(got) if &got == expected => {}
            Ok(got) => failures.push(format!(
                "{input:?}\n   got      {got:?}\n   expected {expected:?}"
            )),
            Err(e) => failures.push(format!("{input:?}: rejected: {e}")),
        }
        // The three entry points agree.
        let detailed = Filter::parse_detailed(input);
        let from_str = input.parse::<Filter>();
        if detailed.as_ref().ok() != Some(expected) || from_str.as_ref().ok() != Some(expected) {
            failures.push(format!(
                "{input:?}: parse_detailed / FromStr disagree with the expected AST"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn valid_filters_display_round_trips() {
    let mut failures = Vec::new();
    for (input, expected) in valid_cases() {
        // Display of the expected AST (built by hand) and of the parsed AST both re-parse.
        let shown = expected.to_string();
        match Filter::parse(&shown) {
            Ok(again) if again == expected => {
                // Display is canonical: printing the re-parsed filter gives the same text.
                if again.to_string() != shown {
                    failures.push(format!(
                        "{input:?}: display not stable: {shown:?} vs {:?}",
                        again.to_string()
                    ));
                }
            }
            Ok(again) => failures.push(format!("{input:?}: {shown:?} re-parsed to {again:?}")),
            Err(e) => failures.push(format!(
                "{input:?}: display {shown:?} does not re-parse: {e}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rfc_example_filter_is_in_the_valid_table() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rfc/filters.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let examples: Vec<String> = serde_json::from_str(&text).expect("a JSON array of strings");
    assert_eq!(
        examples.len(),
        17,
        "RFC 7644 §3.4.2.2 lists 17 example filters"
    );
    let cases = valid_cases();
    for ex in &examples {
        assert!(
            cases.iter().any(|(input, _)| input == ex),
            "RFC example missing from the table: {ex}"
        );
        Filter::parse(ex).unwrap_or_else(|e| panic!("RFC example {ex:?} rejected: {e}"));
    }
}

#[test]
fn display_is_canonical() {
    let cases = [
        (r#"USERNAME EQ "x""#, r#"USERNAME eq "x""#),
        ("title PR", "title pr"),
        ("a pr AND b pr OR c pr", "a pr and b pr or c pr"),
        ("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"),
        ("(a pr or b pr) or c pr", "a pr or b pr or c pr"),
        ("a pr and (b pr and c pr)", "a pr and (b pr and c pr)"),
        ("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"),
        ("a pr and (b pr or c pr)", "a pr and (b pr or c pr)"),
        ("((a pr))", "a pr"),
        ("Not(a pr)", "not (a pr)"),
        ("not (a pr and b pr)", "not (a pr and b pr)"),
        ("active eq TRUE", "active eq true"),
        ("title eq NULL", "title eq null"),
        ("badge eq -7", "badge eq -7"),
        (r#"displayName eq "caf\u00e9""#, r#"displayName eq "café""#),
        (
            r#"displayName eq "say \"hi\" \\ \/""#,
            r#"displayName eq "say \"hi\" \\ /""#,
        ),
        (
            "displayName eq \"tab\\tnl\\n\"",
            "displayName eq \"tab\\tnl\\n\"",
        ),
        (
            r#"emails[type eq "work"].value eq "x""#,
            r#"emails[type eq "work" and value eq "x"]"#,
        ),
        (
            r#"emails[type eq "work" or type eq "home"].value pr"#,
            r#"emails[(type eq "work" or type eq "home") and value pr]"#,
        ),
        ("emails[ type  eq \"work\" ]", r#"emails[type eq "work"]"#),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr",
        ),
        (
            r#"userName Eq "bjensen" and not (emails co "example.org")"#,
            r#"userName eq "bjensen" and not (emails co "example.org")"#,
        ),
    ];
    for (input, shown) in cases {
        let f = Filter::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(f.to_string(), shown, "display of {input:?}");
    }
}

#[test]
fn hand_built_trees_display_with_the_parentheses_they_need() {
    let (a, b, cc) = (pr(at("a")), pr(at("b")), pr(at("c")));
    let cases = [
        (
            or(a.clone(), or(b.clone(), cc.clone())),
            "a pr or (b pr or c pr)",
        ),
        (
            and(a.clone(), and(b.clone(), cc.clone())),
            "a pr and (b pr and c pr)",
        ),
        (
            and(or(a.clone(), b.clone()), cc.clone()),
            "(a pr or b pr) and c pr",
        ),
        (
            and(a.clone(), or(b.clone(), cc.clone())),
            "a pr and (b pr or c pr)",
        ),
        (
            or(and(a.clone(), b.clone()), cc.clone()),
            "a pr and b pr or c pr",
        ),
        (not(or(a.clone(), b.clone())), "not (a pr or b pr)"),
        (
            and(not(a.clone()), vp(at("emails"), or(b.clone(), cc.clone()))),
            "not (a pr) and emails[b pr or c pr]",
        ),
        (
            Filter::eq("userName", "x").and(Filter::eq("active", true).not()),
            r#"userName eq "x" and not (active eq true)"#,
        ),
        (
            Filter::compare(urn(ENTERPRISE, "employeeNumber"), Op::Ge, 5i64),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber ge 5",
        ),
    ];
    for (tree, shown) in cases {
        assert_eq!(tree.to_string(), shown);
        assert_eq!(Filter::parse(shown).unwrap(), tree, "{shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Invalid filters
// ---------------------------------------------------------------------------------------------

/// `(input, expected byte offset of the error, when asserted)`.
fn invalid_cases() -> Vec<(&'static str, Option<usize>)> {
    vec![
        // empty / whitespace only
        ("", Some(0)),
        ("   ", Some(0)),
        ("\t\r\n", Some(0)),
        // missing value / operator, unknown operator
        ("userName eq", Some(11)),
        ("userName eq   ", Some(14)),
        ("userName", Some(8)),
        (r#"userName "bjensen""#, Some(9)),
        (r#"userName xx "x""#, Some(9)),
        (r#"userName equals "bjensen""#, Some(9)),
        (r#"userName == "bjensen""#, Some(9)),
        (r#"eq "x""#, Some(3)),
        (r#"title pr pr"#, Some(9)),
        (r#"userName pr "x""#, Some(12)),
        // unquoted / unterminated / badly escaped strings
        ("userName eq bjensen", Some(12)),
        ("userName eq 'bjensen'", Some(12)),
        (r#"userName eq "bjensen"#, Some(12)),
        (r#"userName eq "bjensen\""#, Some(12)),
        (r#"userName eq "a\qb""#, Some(12)),
        (r#"userName eq "\u12""#, Some(12)),
        ("userName eq \"line\nbreak\"", Some(12)),
        (r#""bjensen" eq userName"#, Some(0)),
        (r#"userName eq "a" "b""#, Some(16)),
        ("userName eq true false", Some(17)),
        ("a eq nul", Some(5)),
        // dangling / misplaced logical operators
        (r#"userName eq "x" and"#, Some(19)),
        (r#"userName eq "x" or "#, Some(19)),
        (r#"or userName eq "x""#, Some(3)),
        (r#"and userName eq "x""#, Some(4)),
        ("a pr and and b pr", Some(13)),
        (r#"userName eq "x" && active eq true"#, Some(16)),
        ("not(a pr) not(b pr)", Some(10)),
        // `not` without parentheses
        (r#"not userName eq "x""#, Some(4)),
        (r#"userName eq "x" and not"#, Some(23)),
        ("not a pr", Some(4)),
        // unbalanced parentheses, both ways
        (r#"(userName eq "x""#, Some(16)),
        (r#"userName eq "x")"#, Some(15)),
        ("((a pr)", Some(7)),
        ("(a pr))", Some(6)),
        (")(", Some(0)),
        ("not (a pr", Some(9)),
        ("not ()", Some(5)),
        ("()", Some(1)),
        (r#"userName eq "x" or ()"#, Some(20)),
        (r#"userName eq "x" and ("#, Some(21)),
        // value filters
        ("emails[]", Some(7)),
        ("emails[ ]", Some(8)),
        ("a[b[c eq 1]]", Some(3)),
        (r#"emails[(ims[type eq "x"])]"#, Some(11)),
        (r#"name.x[givenName eq "x"]"#, Some(6)),
        (r#"name.givenName[value eq "x"]"#, Some(14)),
        (r#"emails[type eq "work""#, Some(21)),
        (r#"emails[type eq "work" and value co "x""#, Some(38)),
        (r#"emails[type eq "work"]]"#, Some(22)),
        (r#"emails[type eq "work"][value pr]"#, Some(22)),
        ("emails]", Some(6)),
        (r#"[type eq "work"]"#, Some(0)),
        (r#"emails [type eq "work"]"#, Some(7)),
        (r#"emails[type eq "work"]."#, Some(22)),
        (r#"emails[type eq "work"].value"#, Some(28)),
        (r#"emails[type eq "work"].1x eq 1"#, Some(23)),
        (r#"emails[type eq "work"] and"#, Some(26)),
        // attribute paths
        ("a.b.c eq 1", Some(0)),
        (r#"name. eq "x""#, Some(0)),
        (r#"1abc eq "x""#, Some(0)),
        (":abc eq 1", Some(0)),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User: eq "x""#,
            Some(0),
        ),
        // numbers
        ("a eq 1.2.3", Some(5)),
        ("a eq --1", Some(5)),
        ("a eq 01", Some(5)),
        ("a eq +1", Some(5)),
        ("a eq .5", Some(5)),
        ("a eq 1.", Some(5)),
        ("a eq 1e", Some(5)),
        ("a eq -", Some(5)),
        ("a eq 0x1F", Some(5)),
        // garbage characters
        (r#"userName eq "x" # comment"#, Some(16)),
        (r#"userName eq "x"; drop table users"#, Some(15)),
        (r#"userName # "x""#, Some(9)),
        (r#"userName eq "x" ¿"#, Some(16)),
        ("userName eq \"x\" \u{0}", Some(16)),
    ]
}

fn assert_invalid_filter(e: &ScimError, input: &str) {
    assert_eq!(e.status, 400, "{input:?}: {e}");
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{input:?}: {e}");
}

#[test]
fn invalid_filters_are_rejected_with_400_invalid_filter() {
    let cases = invalid_cases();
    assert!(cases.len() >= 45, "only {} invalid cases", cases.len());
    assert!(cases.iter().filter(|(_, o)| o.is_some()).count() >= 12);
    let mut failures = Vec::new();
    for (input, offset) in &cases {
        match Filter::parse(input) {
            Ok(f) => {
                failures.push(format!("{input:?} was accepted as {f:?}"));
                continue;
            }
            Err(e) => {
                if e.status != 400 || e.scim_type != Some(ScimType::InvalidFilter) {
                    failures.push(format!("{input:?}: wrong error {e:?}"));
                }
            }
        }
        let e =
            Filter::parse_detailed(input).expect_err("parse_detailed accepted what parse rejected");
        assert!(
            e.offset <= input.len(),
            "{input:?}: offset {} beyond the input",
            e.offset
        );
        if let Some(want) = offset {
            if e.offset != *want {
                failures.push(format!(
                    "{input:?}: offset {} (\"{}\"), expected {want}",
                    e.offset, e.message
                ));
            }
        }
        assert!(input.parse::<Filter>().is_err());
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn error_messages_carry_the_offset() {
    let e = Filter::parse(r#"userName xx "x""#).unwrap_err();
    assert!(e.detail.contains("offset 9"), "{}", e.detail);
    let d = Filter::parse_detailed(r#"userName xx "x""#).unwrap_err();
    assert!(d.to_string().ends_with("at offset 9"), "{d}");
}

#[test]
fn limit_filter_length() {
    let prefix = r#"userName eq ""#;
    let fill = MAX_FILTER_LEN - prefix.len() - 1;
    let longest = format!("{prefix}{}\"", "x".repeat(fill));
    assert_eq!(longest.len(), MAX_FILTER_LEN);
    assert_eq!(
        Filter::parse(&longest).unwrap(),
        c(at("userName"), Op::Eq, s(&"x".repeat(fill)))
    );

    let too_long = format!("{prefix}{}\"", "x".repeat(fill + 1));
    assert_invalid_filter(&Filter::parse(&too_long).unwrap_err(), "too long");
    assert_eq!(
        Filter::parse_detailed(&too_long).unwrap_err().offset,
        MAX_FILTER_LEN
    );

    // Whitespace counts too; so do multi-byte characters (bytes, not chars).
    let padded = format!("{}a pr", " ".repeat(MAX_FILTER_LEN));
    assert_invalid_filter(&Filter::parse(&padded).unwrap_err(), "padded");
    let wide = format!(r#"displayName eq "{}""#, "é".repeat(MAX_FILTER_LEN / 2));
    assert!(wide.chars().count() < MAX_FILTER_LEN && wide.len() > MAX_FILTER_LEN);
    assert_eq!(
        Filter::parse_detailed(&wide).unwrap_err().offset,
        MAX_FILTER_LEN
    );
}

#[test]
fn limit_nesting_depth() {
    let nest = |n: usize, inner: &str| format!("{}{inner}{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(
        Filter::parse(&nest(MAX_DEPTH, "a pr")).unwrap(),
        pr(at("a"))
    );
    let too_deep = nest(MAX_DEPTH + 1, "a pr");
    assert_invalid_filter(&Filter::parse(&too_deep).unwrap_err(), "too deep");
    assert_eq!(
        Filter::parse_detailed(&too_deep).unwrap_err().offset,
        MAX_DEPTH
    );

    // A value filter's brackets add no level (value filters cannot nest): the brackets sit at
    // the depth of the parentheses around them.
    let inner = "emails[type pr]";
    let vf = vp(at("emails"), pr(at("type")));
    assert_eq!(Filter::parse(&nest(MAX_DEPTH, inner)).unwrap(), vf);
    let too_deep = nest(MAX_DEPTH + 1, inner);
    assert_invalid_filter(
        &Filter::parse(&too_deep).unwrap_err(),
        "value filter too deep",
    );

    // `not (…)` nests as well; half the budget of `not (` always fits.
    let n = MAX_DEPTH / 2;
    let nots = format!("{}a pr{}", "not (".repeat(n), ")".repeat(n));
    let mut expected = pr(at("a"));
    for _ in 0..n {
        expected = not(expected);
    }
    assert_eq!(Filter::parse(&nots).unwrap(), expected);
    let many_nots = format!(
        "{}a pr{}",
        "not (".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert_invalid_filter(&Filter::parse(&many_nots).unwrap_err(), "too many nots");

    // Hostile depth within the length limit fails cleanly (no stack overflow).
    let hostile = nest((MAX_FILTER_LEN - 4) / 2, "a pr");
    assert!(hostile.len() <= MAX_FILTER_LEN);
    assert_eq!(
        Filter::parse_detailed(&hostile).unwrap_err().offset,
        MAX_DEPTH
    );
    let hostile_vf = format!("{}a pr{}", "a[".repeat(4000), "]".repeat(4000));
    assert_invalid_filter(
        &Filter::parse(&hostile_vf).unwrap_err(),
        "nested value filters",
    );
}

#[test]
fn limit_number_of_terms() {
    let chain = |n: usize| vec!["a pr"; n].join(" or ");
    let f = Filter::parse(&chain(MAX_TERMS)).unwrap();
    let mut count = 0;
    f.visit_terms(&mut |_, _| count += 1);
    assert_eq!(count, MAX_TERMS);
    // Left-associative: the last term is the right child of the root.
    assert!(matches!(&f, Filter::Or(_, r) if **r == pr(at("a"))));

    let too_many = chain(MAX_TERMS + 1);
    assert_invalid_filter(&Filter::parse(&too_many).unwrap_err(), "too many terms");
    assert_eq!(
        Filter::parse_detailed(&too_many).unwrap_err().offset,
        MAX_TERMS * "a pr or ".len()
    );

    // Terms inside value filters count too.
    let vfs = vec![r#"emails[type eq "work"]"#; MAX_TERMS + 1].join(" and ");
    assert!(vfs.len() <= MAX_FILTER_LEN);
    assert_invalid_filter(
        &Filter::parse(&vfs).unwrap_err(),
        "too many value-filter terms",
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Evaluation
// ---------------------------------------------------------------------------------------------

const BJENSEN_ID: &str = "2819c223-7F76-453a-919d-413861904646";
const HEIDI_ID: &str = "7d3c9e21-5b8a-4c6f-9e0d-1a2b3c4d5e6f";
const TOUR_GUIDES_ID: &str = "e9e30dba-f08f-4109-8486-d5c6a331660a";
const JSMITH_ID: &str = "26118915-6090-4610-87e4-49d8ca9f808d";

const ALL: [&str; 15] = [
    "bjensen", "alice", "Carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy", "TRENT",
];

fn except(excluded: &[&str]) -> Vec<&'static str> {
    ALL.iter()
        .copied()
        .filter(|u| !excluded.contains(u))
        .collect()
}

fn user_docs() -> Vec<Value> {
    vec![
        json!({
            "schemas": [CORE_USER, ENTERPRISE],
            "id": BJENSEN_ID, "externalId": "bjensen", "userName": "bjensen",
            "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
            "displayName": "Babs Jensen", "title": "Tour Guide", "userType": "Employee", "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "groups": [{"value": TOUR_GUIDES_ID, "$ref": format!("https://example.com/v2/Groups/{TOUR_GUIDES_ID}"),
                        "display": "Tour Guides"}],
            "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z"},
            ENTERPRISE: {"employeeNumber": "701984", "costCenter": "4130", "department": "Tour Operations",
                         "manager": {"value": JSMITH_ID, "displayName": "John Smith"}},
            ACME: {"badge": 1001, "rating": 4.5, "tags": ["vip", "early"], "vip": true, "hired": "2009-03-01T09:00:00Z"}
        }),
        json!({
            "schemas": [CORE_USER, ENTERPRISE],
            "id": "u02-alice", "externalId": "Alice-X1", "userName": "alice",
            "name": {"givenName": "Alice", "familyName": "Archer"},
            "title": "", "userType": "Intern", "active": false,
            "emails": [{"type": "work", "value": "alice@a.com"}, {"type": "home", "value": "alice@b.com"}],
            "meta": {"created": "2011-01-01T00:00:00Z", "lastModified": "2011-05-13T06:42:34+02:00"},
            ENTERPRISE: {"employeeNumber": "1002", "manager": {"value": BJENSEN_ID, "displayName": "Babs Jensen"}},
            ACME: {"badge": 5, "rating": 3}
        }),
        json!({
            "schemas": [CORE_USER, ENTERPRISE],
            "id": "u03-carol", "userName": "Carol", "title": "Engineer", "userType": "Employee", "active": true,
            "emails": [{"value": "carol@EXAMPLE.COM", "type": "work"}],
            "meta": {"lastModified": "2011-05-13T04:42:35Z"},
            ENTERPRISE: {"department": "Engineering"},
            ACME: {"badge": 10, "rating": 4.75, "tags": ["Dev"]}
        }),
        json!({
            "id": "u04-dave", "userName": "dave",
            "meta": {"lastModified": "2011-05-13T00:42:34-04:00"},
            ACME: {"badge": -3}
        }),
        json!({
            "id": "u05-erin", "userName": "erin", "title": "Intern", "userType": "Intern",
            "emails": [{"value": "erin@example.org", "type": "home"}],
            "ims": [{"value": "erin@foo.com", "type": "xmpp"}],
            "meta": {"lastModified": "2012-01-01T00:00:00Z"}
        }),
        json!({
            "id": "u06-frank", "externalId": "FRANK", "userName": "frank", "active": true,
            "emails": [{"value": "frank@example.com", "type": "other"}, {"value": "f@example.org", "type": "work"}],
            ACME: {"badge": 1000}
        }),
        json!({
            "id": "u07-grace", "userName": "grace", "nickName": "Gracie", "emails": [], "title": null,
            "active": false, "phoneNumbers": [{"value": "+1-555-0100", "type": "work"}]
        }),
        json!({
            "id": HEIDI_ID, "userName": "heidi", "name": {"givenName": "Heidi", "familyName": "O'Malley"},
            "userType": "Contractor", "active": true,
            "groups": [{"value": "g-admins", "display": "Admins"}, {"value": TOUR_GUIDES_ID, "display": "Tour Guides"}],
            "meta": {"lastModified": "2010-12-31T23:59:59.999Z"}
        }),
        json!({
            "id": "u09-ivan", "userName": "ivan", "displayName": "Iván Þórsson",
            "emails": [{"value": "IVAN@Example.Com", "type": "WORK"}],
            ACME: {"badge": 0}
        }),
        json!({
            "schemas": [CORE_USER, ENTERPRISE],
            "id": "u10-judy", "externalId": "judy", "userName": "judy",
            ENTERPRISE: {"employeeNumber": "701985", "costCenter": "4130"}
        }),
        json!({
            "id": "u11-mallory", "userName": "mallory", "x-custom": "yes", "emails": [{"type": "work"}],
            "active": false
        }),
        json!({
            "schemas": [CORE_USER, ENTERPRISE],
            "id": "u12-niaj", "userName": "niaj", "active": true,
            ENTERPRISE: {"manager": {"displayName": "No Id"}}
        }),
        json!({
            "id": "u13-olivia", "userName": "olivia", "title": "Tour Guide", "name": {"familyName": "Jensen"},
            "emails": [
                {"value": "olivia@example.com", "type": "work", "primary": false},
                {"value": "o@example.com", "type": "home", "primary": true}
            ]
        }),
        json!({"id": "u14-peggy", "userName": "peggy", ACME: {"badge": 2147483648u64}}),
        json!({
            "id": "u15-trent", "userName": "TRENT", "active": true,
            "addresses": [{"type": "work", "postalCode": "91608", "locality": "Hollywood"}]
        }),
    ]
}

fn users(ctx: &Context<'_>) -> Vec<Resource> {
    user_docs()
        .into_iter()
        .map(|v| Resource::from_json(v, ctx).expect("valid user"))
        .collect()
}

fn groups(ctx: &Context<'_>) -> Vec<Resource> {
    [
        json!({
            "schemas": [CORE_GROUP], "id": TOUR_GUIDES_ID, "displayName": "Tour Guides",
            "members": [
                {"value": BJENSEN_ID, "$ref": format!("https://example.com/v2/Users/{BJENSEN_ID}"), "type": "User"},
                {"value": HEIDI_ID, "type": "User"}
            ]
        }),
        json!({"schemas": [CORE_GROUP], "id": "g-admins", "displayName": "Admins", "members": [{"value": HEIDI_ID}]}),
        json!({"schemas": [CORE_GROUP], "id": "g-empty", "displayName": "Empty", "members": []}),
        json!({"schemas": [CORE_GROUP], "id": "g-nested", "displayName": "Nested",
               "members": [{"value": TOUR_GUIDES_ID, "type": "Group"}]}),
    ]
    .into_iter()
    .map(|v| Resource::from_json(v, ctx).expect("valid group"))
    .collect()
}

fn acme_registry() -> SchemaRegistry {
    let attr = |name: &str, kind: &str, multi: bool| {
        json!({"name": name, "type": kind, "multiValued": multi, "required": false, "caseExact": false,
               "mutability": "readWrite", "returned": "default", "uniqueness": "none"})
    };
    let doc = json!({
        "id": ACME, "name": "AcmeUser", "description": "Test extension",
        "attributes": [
            attr("badge", "integer", false),
            attr("rating", "decimal", false),
            attr("tags", "string", true),
            attr("vip", "boolean", false),
            attr("hired", "dateTime", false),
        ]
    });
    let mut reg = SchemaRegistry::default();
    reg.add_extension("User", Schema::from_json(&doc).expect("schema"), false)
        .expect("extension");
    reg
}

/// The `key` of every resource of `population` that `filter` matches, in population order.
fn hits(filter: &str, population: &[Resource], ctx: &Context<'_>, key: &str) -> Vec<String> {
    let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter:?} does not parse: {e}"));
    population
        .iter()
        .filter(|r| f.matches(r.as_map(), ctx))
        .map(|r| r.as_map()[key].as_str().expect("string key").to_string())
        .collect()
}

/// Runs every case, then fails listing all mismatches.
fn expect_hits<S: AsRef<str>>(
    cases: &[(&str, Vec<S>)],
    population: &[Resource],
    ctx: &Context<'_>,
    key: &str,
) {
    let mut failures = Vec::new();
    for (filter, want) in cases {
        let want: Vec<&str> = want.iter().map(AsRef::as_ref).collect();
        let got = hits(filter, population, ctx, key);
        if got != want {
            failures.push(format!(
                "{filter}\n   got      {got:?}\n   expected {want:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn expect_user_hits(cases: &[(&str, Vec<&str>)]) {
    let ctx = Context::user();
    expect_hits(cases, &users(&ctx), &ctx, "userName");
}

#[test]
fn eval_user_name_is_case_insensitive() {
    expect_user_hits(&[
        (r#"userName eq "ALICE""#, vec!["alice"]),
        (r#"userName eq "alice""#, vec!["alice"]),
        (r#"userName eq "carol""#, vec!["Carol"]),
        (r#"USERNAME Eq "trent""#, vec!["TRENT"]),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "BJENSEN""#,
            vec!["bjensen"],
        ),
        (r#"userName sw "J""#, vec!["judy"]),
        (r#"userName ew "Y""#, vec!["judy", "mallory", "peggy"]),
        (r#"userName co "AN""#, vec!["frank", "ivan"]),
        (
            r#"userName gt "m""#,
            vec!["mallory", "niaj", "olivia", "peggy", "TRENT"],
        ),
        (r#"userName le "B""#, vec!["alice"]),
        // Only ASCII letters fold (documented in `scim_core::filter::fold`, so that the in-memory
        // evaluator agrees with SQL `lower()`); RFC 7643 §2.2 leaves the folding rules open.
        (r#"displayName eq "IVáN Þórsson""#, vec!["ivan"]),
        (r#"displayName co "VÁN""#, vec![]),
        (r#"name.familyName co "O'Malley""#, vec!["heidi"]),
        (r#"name.familyName eq "JENSEN""#, vec!["bjensen", "olivia"]),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "jensen""#,
            vec!["bjensen", "olivia"],
        ),
    ]);
}

#[test]
fn eval_case_exact_id_and_external_id() {
    let lower_id = BJENSEN_ID.to_lowercase();
    let eq_id = format!(r#"id eq "{BJENSEN_ID}""#);
    let eq_lower_id = format!(r#"id eq "{lower_id}""#);
    expect_user_hits(&[
        (r#"externalId eq "bjensen""#, vec!["bjensen"]),
        (r#"externalId eq "BJENSEN""#, vec![]),
        (r#"externalId eq "FRANK""#, vec!["frank"]),
        (r#"externalId eq "frank""#, vec![]),
        (r#"externalId eq "JUDY""#, vec![]),
        (r#"externalId sw "Alice""#, vec!["alice"]),
        (r#"externalId sw "alice""#, vec![]),
        (r#"externalId ne "bjensen""#, except(&["bjensen"])),
        (&eq_id, vec!["bjensen"]),
        (&eq_lower_id, vec![]),
        (r#"id co "7F76""#, vec!["bjensen"]),
        (r#"id co "7f76""#, vec![]),
        (r#"meta.resourceType eq "User""#, vec!["bjensen"]),
        (r#"meta.resourceType eq "user""#, vec![]),
    ]);
}

#[test]
fn eval_emails_contains_starts_ends_and_any_value() {
    expect_user_hits(&[
        (
            r#"emails co "example.com""#,
            vec!["bjensen", "Carol", "frank", "ivan", "olivia"],
        ),
        (r#"emails.value co "example.org""#, vec!["erin", "frank"]),
        (r#"emails.value sw "ALICE@""#, vec!["alice"]),
        (r#"emails sw "o@""#, vec!["olivia"]),
        (
            r#"emails.value ew ".org""#,
            vec!["bjensen", "erin", "frank"],
        ),
        (r#"emails ew "@B.COM""#, vec!["alice"]),
        (r#"emails eq "babs@jensen.org""#, vec!["bjensen"]),
        (
            r#"emails.type eq "work""#,
            vec![
                "bjensen", "alice", "Carol", "frank", "ivan", "mallory", "olivia",
            ],
        ),
        (
            r#"emails.type eq "home""#,
            vec!["bjensen", "alice", "erin", "olivia"],
        ),
        (r#"emails.primary eq true"#, vec!["bjensen", "olivia"]),
        (
            r#"emails.value co "@""#,
            vec![
                "bjensen", "alice", "Carol", "erin", "frank", "ivan", "olivia",
            ],
        ),
        (r#"phoneNumbers.value sw "+1""#, vec!["grace"]),
    ]);
}

#[test]
fn eval_value_filter_conditions_hold_for_the_same_element() {
    expect_user_hits(&[
        // alice: work@a.com + home@b.com
        (r#"emails[type eq "work" and value co "b.com"]"#, vec![]),
        (
            r#"emails[type eq "home" and value co "b.com"]"#,
            vec!["alice"],
        ),
        (
            r#"emails[type eq "work" and value co "a.com"]"#,
            vec!["alice"],
        ),
        // Without a value filter the conditions may hold for different elements.
        (
            r#"emails.type eq "work" and emails.value co "b.com""#,
            vec!["alice"],
        ),
        (
            r#"emails[type eq "work"] and emails[value co "b.com"]"#,
            vec!["alice"],
        ),
        (
            r#"emails[type eq "work" and primary eq true]"#,
            vec!["bjensen"],
        ),
        (
            r#"emails[type eq "work" and primary eq false]"#,
            vec!["olivia"],
        ),
        (
            r#"emails[type eq "home" and primary eq true]"#,
            vec!["olivia"],
        ),
        (
            r#"emails[type eq "work"].value co "example.org""#,
            vec!["frank"],
        ),
        (
            r#"emails[type eq "work"].value co "example.com""#,
            vec!["bjensen", "Carol", "ivan", "olivia"],
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"]"#,
            vec!["bjensen", "Carol", "ivan", "olivia"],
        ),
        (
            r#"emails[type eq "work" and value pr]"#,
            vec!["bjensen", "alice", "Carol", "frank", "ivan", "olivia"],
        ),
        (
            r#"emails[type eq "work" and not (value pr)]"#,
            vec!["mallory"],
        ),
        (
            r#"emails[not (type eq "work")]"#,
            vec!["bjensen", "alice", "erin", "frank", "olivia"],
        ),
        (
            r#"emails[type eq "work"] and not (emails[type eq "home"])"#,
            vec!["Carol", "frank", "ivan", "mallory"],
        ),
        (
            r#"emails[type eq "other" or type eq "xmpp"]"#,
            vec!["frank"],
        ),
        (
            r#"ims[type eq "xmpp" and value co "@foo.com"]"#,
            vec!["erin"],
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            vec!["bjensen", "Carol", "erin", "ivan", "olivia"],
        ),
        (r#"phoneNumbers[type eq "work"]"#, vec!["grace"]),
        (
            r#"addresses[type eq "work" and postalCode sw "916"]"#,
            vec!["TRENT"],
        ),
        (
            r#"addresses[type eq "home" and postalCode sw "916"]"#,
            vec![],
        ),
        (
            r#"name[givenName eq "barbara" and familyName eq "jensen"]"#,
            vec!["bjensen"],
        ),
        (
            r#"EMAILS[TYPE eq "WORK" and VALUE ew "COM"]"#,
            vec!["bjensen", "alice", "Carol", "ivan", "olivia"],
        ),
    ]);
}

#[test]
fn eval_present() {
    expect_user_hits(&[
        ("title pr", vec!["bjensen", "Carol", "erin", "olivia"]),
        (
            "emails pr",
            vec![
                "bjensen", "alice", "Carol", "erin", "frank", "ivan", "mallory", "olivia",
            ],
        ),
        (
            "emails.value pr",
            vec![
                "bjensen", "alice", "Carol", "erin", "frank", "ivan", "olivia",
            ],
        ),
        ("nickName pr", vec!["grace"]),
        (
            "active pr",
            vec![
                "bjensen", "alice", "Carol", "frank", "grace", "heidi", "mallory", "niaj", "TRENT",
            ],
        ),
        ("name pr", vec!["bjensen", "alice", "heidi", "olivia"]),
        ("name.givenName pr", vec!["bjensen", "alice", "heidi"]),
        (
            "meta.lastModified pr",
            vec!["bjensen", "alice", "Carol", "dave", "erin", "heidi"],
        ),
        ("displayName pr", vec!["bjensen", "ivan"]),
        ("ims pr", vec!["erin"]),
        ("addresses.locality pr", vec!["TRENT"]),
        ("nosuch pr", vec![]),
        (
            "not (emails pr)",
            vec!["dave", "grace", "heidi", "judy", "niaj", "peggy", "TRENT"],
        ),
    ]);

    // `pr` straight on an uncanonicalised map: "", [], {}, null and absent are not present.
    let ctx = Context::user();
    let raw = json!({"userName": "raw", "title": "", "emails": [], "name": {}, "nickName": null,
                     "phoneNumbers": [{"value": ""}], "displayName": " ", "active": false});
    let r = Resource::from_map(raw.as_object().unwrap().clone());
    for (filter, want) in [
        ("title pr", false),
        ("emails pr", false),
        ("name pr", false),
        ("nickName pr", false),
        ("phoneNumbers pr", false),
        ("phoneNumbers.value pr", false),
        ("locale pr", false),
        ("displayName pr", true),
        ("active pr", true),
        ("title eq null", true),
        ("emails eq null", true),
        ("active eq null", false),
    ] {
        assert_eq!(
            Filter::parse(filter).unwrap().matches(r.as_map(), &ctx),
            want,
            "{filter}"
        );
    }
}

#[test]
fn eval_ne_is_the_negation_of_eq_and_null_comparisons() {
    expect_user_hits(&[
        (r#"title ne "Tour Guide""#, except(&["bjensen", "olivia"])),
        (
            r#"not (title eq "Tour Guide")"#,
            except(&["bjensen", "olivia"]),
        ),
        (r#"title ne "tour guide""#, except(&["bjensen", "olivia"])),
        (r#"userType ne "Employee""#, except(&["bjensen", "Carol"])),
        (
            "active ne true",
            vec![
                "alice", "dave", "erin", "grace", "ivan", "judy", "mallory", "olivia", "peggy",
            ],
        ),
        (r#"emails.value ne "alice@a.com""#, except(&["alice"])),
        (r#"nosuch ne "x""#, ALL.to_vec()),
        (
            "title eq null",
            except(&["bjensen", "Carol", "erin", "olivia"]),
        ),
        ("title ne null", vec!["bjensen", "Carol", "erin", "olivia"]),
        ("nickName eq NULL", except(&["grace"])),
        (
            "emails eq null",
            vec!["dave", "grace", "heidi", "judy", "niaj", "peggy", "TRENT"],
        ),
        (
            "emails[display eq null]",
            vec![
                "bjensen", "alice", "Carol", "erin", "frank", "ivan", "mallory", "olivia",
            ],
        ),
    ]);

    // For every user and a spread of filters, `ne` is exactly `not eq`.
    let ctx = Context::user();
    let pop = users(&ctx);
    for (path, lit) in [
        ("userName", r#""alice""#),
        ("title", r#""Tour Guide""#),
        ("active", "false"),
        ("emails.type", r#""work""#),
        ("emails", r#""babs@jensen.org""#),
        ("meta.lastModified", r#""2011-05-13T04:42:34Z""#),
        ("employeeNumber", r#""701984""#),
        ("x-custom", r#""YES""#),
        ("nickName", "null"),
    ] {
        let eq = Filter::parse(&format!("{path} eq {lit}")).unwrap();
        let ne = Filter::parse(&format!("{path} ne {lit}")).unwrap();
        for r in &pop {
            assert_ne!(
                eq.matches(r.as_map(), &ctx),
                ne.matches(r.as_map(), &ctx),
                "{path} {lit} on {:?}",
                r.id()
            );
        }
    }
}

#[test]
fn eval_booleans_and_tolerated_string_booleans() {
    let active = vec!["bjensen", "Carol", "frank", "heidi", "niaj", "TRENT"];
    let inactive = vec!["alice", "grace", "mallory"];
    expect_user_hits(&[
        ("active eq true", active.clone()),
        ("active eq TRUE", active.clone()),
        (r#"active eq "True""#, active.clone()),
        (r#"active eq "TRUE""#, active.clone()),
        ("active eq false", inactive.clone()),
        ("active eq False", inactive.clone()),
        (r#"active eq "False""#, inactive.clone()),
        (r#"active eq "false""#, inactive.clone()),
        ("not (active eq true)", except(&active)),
        ("active gt false", vec![]),
        ("active le true", vec![]),
        ("active co true", vec![]),
        (r#"emails[primary eq "True"]"#, vec!["bjensen", "olivia"]),
        ("emails[primary eq false]", vec!["olivia"]),
    ]);
}

#[test]
fn eval_datetimes_compare_chronologically_across_offsets() {
    // bjensen 04:42:34Z, alice 06:42:34+02:00 (= 04:42:34Z), Carol 04:42:35Z, dave 00:42:34-04:00
    // (= 04:42:34Z), erin 2012, heidi 2010-12-31T23:59:59.999Z; the others have no lastModified.
    expect_user_hits(&[
        (
            r#"meta.lastModified eq "2011-05-13T04:42:34Z""#,
            vec!["bjensen", "alice", "dave"],
        ),
        (
            r#"meta.lastModified eq "2011-05-13T08:42:34+04:00""#,
            vec!["bjensen", "alice", "dave"],
        ),
        (
            r#"meta.lastModified eq "2011-05-13T04:42:34.000Z""#,
            vec!["bjensen", "alice", "dave"],
        ),
        (
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            vec!["Carol", "erin"],
        ),
        (
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            vec!["bjensen", "alice", "Carol", "dave", "erin"],
        ),
        (
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            vec!["heidi"],
        ),
        (
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            vec!["bjensen", "alice", "dave", "heidi"],
        ),
        (
            r#"meta.lastModified gt "2011-05-13T04:42:34.5Z""#,
            vec!["Carol", "erin"],
        ),
        (
            r#"meta.lastModified lt "2011-01-01T00:00:00.000+00:00""#,
            vec!["heidi"],
        ),
        (
            r#"meta.lastModified lt "2011-01-01T01:00:00+01:00""#,
            vec!["heidi"],
        ),
        (
            r#"meta.lastModified ge "2010-12-31T18:59:59.999-05:00""#,
            vec!["bjensen", "alice", "Carol", "dave", "erin", "heidi"],
        ),
        (
            r#"meta.lastModified ne "2011-05-13T04:42:34Z""#,
            except(&["bjensen", "alice", "dave"]),
        ),
        (
            r#"meta.lastModified gt "2011-01-01T00:00:00Z" and meta.lastModified lt "2012-01-01T00:00:00Z""#,
            vec!["bjensen", "alice", "Carol", "dave"],
        ),
        (r#"meta.created lt "2011-01-01T00:00:00Z""#, vec!["bjensen"]),
        (r#"meta.created ge "2011-01-01T00:00:00Z""#, vec!["alice"]),
    ]);
}

#[test]
fn eval_numbers_on_a_custom_integer_extension() {
    let reg = acme_registry();
    let ctx = Context {
        registry: &reg,
        resource_type: reg.resource_type("User").unwrap(),
    };
    let pop = users(&ctx);
    // badge: bjensen 1001, alice 5, Carol 10, dave -3, frank 1000, ivan 0, peggy 2147483648.
    let with_badge = vec![
        "bjensen", "alice", "Carol", "dave", "frank", "ivan", "peggy",
    ];
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("badge gt 5", vec!["bjensen", "Carol", "frank", "peggy"]),
        (
            "badge ge 5",
            vec!["bjensen", "alice", "Carol", "frank", "peggy"],
        ),
        ("badge lt 0", vec!["dave"]),
        ("badge le 0", vec!["dave", "ivan"]),
        ("badge eq 10", vec!["Carol"]),
        ("badge eq 10.0", vec!["Carol"]),
        ("badge eq 1e1", vec!["Carol"]),
        ("badge gt 999.5", vec!["bjensen", "frank", "peggy"]),
        ("badge gt -4", with_badge.clone()),
        ("badge gt 2e9", vec!["peggy"]),
        ("badge lt 1e1", vec!["alice", "dave", "ivan"]),
        ("badge ne 5", except(&["alice"])),
        ("badge pr", with_badge.clone()),
        ("badge eq null", except(&with_badge)),
        ("badge co 1", vec![]),
        (r#"badge eq "10""#, vec![]),
        (
            "urn:example:params:scim:schemas:extension:acme:2.0:User:badge ge 1000",
            vec!["bjensen", "frank", "peggy"],
        ),
        (
            "URN:EXAMPLE:params:scim:schemas:extension:acme:2.0:user:BADGE lt 0",
            vec!["dave"],
        ),
        (
            "not (badge gt 5) and badge pr",
            vec!["alice", "dave", "ivan"],
        ),
        // decimal: bjensen 4.5, alice 3, Carol 4.75
        ("rating ge 4.5", vec!["bjensen", "Carol"]),
        ("rating gt 3", vec!["bjensen", "Carol"]),
        ("rating eq 3.0", vec!["alice"]),
        ("rating lt 4.6", vec!["bjensen", "alice"]),
        // multi-valued simple string: bjensen [vip, early], Carol [Dev]
        (r#"tags eq "VIP""#, vec!["bjensen"]),
        (r#"tags[value sw "d"]"#, vec!["Carol"]),
        (r#"tags co "E""#, vec!["bjensen", "Carol"]),
        // boolean and dateTime extension attributes
        ("vip eq true", vec!["bjensen"]),
        (r#"hired lt "2009-03-01T10:00:00+00:30""#, vec!["bjensen"]),
        (r#"hired gt "2009-03-01T10:00:00+01:30""#, vec!["bjensen"]),
        (r#"hired eq "2009-03-01T10:00:00+01:00""#, vec!["bjensen"]),
    ];
    expect_hits(&cases, &pop, &ctx, "userName");
}

#[test]
fn eval_enterprise_extension_with_and_without_urn() {
    let jsmith = format!(r#"manager.value eq "{JSMITH_ID}""#);
    let manager_is_bjensen = format!(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "{BJENSEN_ID}""#
    );
    expect_user_hits(&[
        (r#"employeeNumber eq "701984""#, vec!["bjensen"]),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
            vec!["bjensen"],
        ),
        (
            r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER eq "701984""#,
            vec!["bjensen"],
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:employeeNumber eq "701984""#,
            vec![],
        ),
        (r#"costCenter eq "4130""#, vec!["bjensen", "judy"]),
        (r#"employeeNumber sw "70198""#, vec!["bjensen", "judy"]),
        (r#"department co "tour""#, vec!["bjensen"]),
        (&jsmith, vec!["bjensen"]),
        (&manager_is_bjensen, vec!["alice"]),
        ("manager.value pr", vec!["bjensen", "alice"]),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr",
            vec!["bjensen", "alice"],
        ),
        (r#"manager.displayName eq "no id""#, vec!["niaj"]),
        ("manager pr", vec!["bjensen", "alice", "niaj"]),
        ("manager[value pr]", vec!["bjensen", "alice"]),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[displayName sw "John"]"#,
            vec!["bjensen"],
        ),
        (
            "not (employeeNumber pr)",
            except(&["bjensen", "alice", "judy"]),
        ),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            vec!["bjensen", "alice", "Carol", "judy", "niaj"],
        ),
        (r#"employeeNumber pr and userName sw "b""#, vec!["bjensen"]),
    ]);
}

#[test]
fn eval_groups_display_and_refs() {
    let tour_guides =
        format!(r#"groups[display eq "Tour Guides" and value eq "{TOUR_GUIDES_ID}"]"#);
    expect_user_hits(&[
        (
            r#"groups.display eq "Tour Guides""#,
            vec!["bjensen", "heidi"],
        ),
        (r#"groups.display eq "admins""#, vec!["heidi"]),
        (&tour_guides, vec!["bjensen", "heidi"]),
        (r#"groups.value eq "g-admins""#, vec!["heidi"]),
        (r#"groups.$ref co "/Groups/""#, vec!["bjensen"]),
        (r#"groups[$ref pr]"#, vec!["bjensen"]),
        (
            r#"groups[display eq "Admins"] and groups[display eq "Tour Guides"]"#,
            vec!["heidi"],
        ),
        (
            r#"groups[display eq "Admins" and display eq "Tour Guides"]"#,
            vec![],
        ),
    ]);
}

#[test]
fn eval_not_and_precedence() {
    expect_user_hits(&[
        // and binds tighter than or
        (
            r#"userType eq "Intern" or userType eq "Employee" and active eq false"#,
            vec!["alice", "erin"],
        ),
        (
            r#"(userType eq "Intern" or userType eq "Employee") and active eq false"#,
            vec!["alice"],
        ),
        (
            r#"active eq false and userType eq "Intern" or title pr"#,
            vec!["bjensen", "alice", "Carol", "erin", "olivia"],
        ),
        (
            r#"active eq false and (userType eq "Intern" or title pr)"#,
            vec!["alice"],
        ),
        (
            r#"not (userType eq "Employee") and title pr"#,
            vec!["erin", "olivia"],
        ),
        (
            r#"not (userType eq "Employee" or userType eq "Intern")"#,
            except(&["bjensen", "alice", "Carol", "erin"]),
        ),
        (
            "not (not (active eq true))",
            vec!["bjensen", "Carol", "frank", "heidi", "niaj", "TRENT"],
        ),
        // RFC 7644 §3.4.2.2 examples
        (
            r#"title pr and userType eq "Employee""#,
            vec!["bjensen", "Carol"],
        ),
        (
            r#"title pr or userType eq "Intern""#,
            vec!["bjensen", "alice", "Carol", "erin", "olivia"],
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            vec!["bjensen", "Carol"],
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            vec![
                "alice", "dave", "grace", "heidi", "judy", "mallory", "niaj", "peggy", "TRENT",
            ],
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            vec!["bjensen", "Carol"],
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            vec!["bjensen", "Carol"],
        ),
        (r#"userName sw "J""#, vec!["judy"]),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            vec!["judy"],
        ),
        // unknown attributes compare case-insensitively and never match otherwise
        (r#"x-custom eq "YES""#, vec!["mallory"]),
        (r#"nosuch eq "x""#, vec![]),
        (r#"nosuch eq "x" or userName eq "dave""#, vec!["dave"]),
    ]);
}

#[test]
fn eval_display_output_matches_the_same_users() {
    // A filter and its canonical display select the same users.
    let ctx = Context::user();
    let pop = users(&ctx);
    for (input, _) in valid_cases() {
        let f = Filter::parse(input).unwrap();
        let g = Filter::parse(&f.to_string()).unwrap();
        for r in &pop {
            assert_eq!(
                f.matches(r.as_map(), &ctx),
                g.matches(r.as_map(), &ctx),
                "{input}"
            );
        }
    }
}

#[test]
fn eval_group_members() {
    let ctx = Context::group();
    let pop = groups(&ctx);
    let has_bjensen = format!(r#"members[value eq "{BJENSEN_ID}"]"#);
    let has_heidi = format!(r#"members.value eq "{HEIDI_ID}""#);
    let heidi_as_user = format!(r#"members[type eq "user" and value eq "{HEIDI_ID}"]"#);
    let direct_heidi = format!(r#"members eq "{HEIDI_ID}""#);
    let bjensen_or_empty = format!(r#"members[value eq "{BJENSEN_ID}"] or displayName eq "empty""#);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (&has_bjensen, vec!["Tour Guides"]),
        (&has_heidi, vec!["Tour Guides", "Admins"]),
        (&heidi_as_user, vec!["Tour Guides"]),
        (&direct_heidi, vec!["Tour Guides", "Admins"]),
        (&bjensen_or_empty, vec!["Tour Guides", "Empty"]),
        (r#"members[type eq "Group"]"#, vec!["Nested"]),
        ("members pr", vec!["Tour Guides", "Admins", "Nested"]),
        ("not (members pr)", vec!["Empty"]),
        (r#"displayName eq "tour guides""#, vec!["Tour Guides"]),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName sw "A""#,
            vec!["Admins"],
        ),
        (r#"members.$ref co "/Users/""#, vec!["Tour Guides"]),
        (r#"userName eq "bjensen""#, vec![]),
    ];
    expect_hits(&cases, &pop, &ctx, "displayName");
}

// ---------------------------------------------------------------------------------------------
// 4. Filter::check
// ---------------------------------------------------------------------------------------------

fn check_cases(ctx: &Context<'_>, ok: &[&str], bad: &[&str]) {
    for f in ok {
        let parsed = Filter::parse(f).unwrap_or_else(|e| panic!("{f:?}: {e}"));
        if let Err(e) = parsed.check(ctx) {
            panic!("{f:?} should pass check: {e}");
        }
    }
    for f in bad {
        let parsed = Filter::parse(f).unwrap_or_else(|e| panic!("{f:?}: {e}"));
        match parsed.check(ctx) {
            Ok(()) => panic!("{f:?} should fail check"),
            Err(e) => assert_invalid_filter(&e, f),
        }
    }
}

#[test]
fn check_against_the_user_schema() {
    let ctx = Context::user();
    let ok = [
        r#"unknownAttr eq "x""#,
        r#"unknownAttr gt 5"#,
        r#"name[givenName eq "x"]"#,
        r#"userName eq "x""#,
        r#"userName gt "m""#,
        "active eq true",
        r#"active eq "False""#,
        "active ne false",
        "active eq null",
        r#"meta.created gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34+02:00""#,
        "title pr",
        "userName eq null",
        r#"emails[type eq "work" and value co "@x"]"#,
        r#"emails[type eq "work"].value eq "x""#,
        "emails.primary eq true",
        "emails[primary eq true]",
        r#"manager.value eq "x""#,
        r#"manager[value eq "x"]"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#,
        r#"not (userName eq "x") or emails co "y""#,
    ];
    let bad = [
        "active gt true",
        "active ge false",
        "not (active lt true)",
        r#"title pr and active le true"#,
        r#"meta.created gt "not a date""#,
        r#"meta.lastModified eq "2011-05-13""#,
        "meta.created gt 5",
        "userName eq 5",
        "userName co true",
        "userName gt null",
        "id eq true",
        "active eq 1",
        r#"active eq "yes""#,
        r#"active co "t""#,
        r#"emails[nosuch eq "x"]"#,
        r#"emails[primary gt true]"#,
        r#"emails[primary eq "maybe"]"#,
        r#"emails[type eq "work"].value eq 5"#,
        "emails co 5",
        r#"name.nosuch eq "x""#,
        r#"userName[value eq "x"]"#,
        r#"active[value eq true]"#,
        r#"x509Certificates.value lt "MIIB""#,
        r#"manager[nosuch pr]"#,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq 701984",
    ];
    check_cases(&ctx, &ok, &bad);

    // Every RFC example filter passes the check.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rfc/filters.json"
    ))
    .unwrap();
    let examples: Vec<String> = serde_json::from_str(&text).unwrap();
    let examples: Vec<&str> = examples.iter().map(String::as_str).collect();
    check_cases(&ctx, &examples, &[]);
}

#[test]
fn check_against_custom_and_group_schemas() {
    let reg = acme_registry();
    let ctx = Context {
        registry: &reg,
        resource_type: reg.resource_type("User").unwrap(),
    };
    check_cases(
        &ctx,
        &[
            "badge gt 5",
            "badge eq -1",
            "rating lt 4.5",
            "rating eq 3",
            r#"tags[value eq "x"]"#,
            "vip eq false",
            r#"hired lt "2009-03-01T09:00:00Z""#,
            "badge pr",
            "badge ne null",
        ],
        &[
            r#"badge co "1""#,
            "badge sw 1",
            r#"badge eq "1""#,
            "badge eq 1.5",
            "badge gt true",
            "rating eq \"3\"",
            "vip gt true",
            r#"hired gt "yesterday""#,
            "hired lt 5",
        ],
    );

    let ctx = Context::group();
    check_cases(
        &ctx,
        &[
            r#"members[value eq "x"]"#,
            r#"members[type eq "User" and value pr]"#,
            r#"displayName eq "x""#,
            r#"members.value eq "x""#,
        ],
        &[
            "members[value eq 5]",
            r#"members[nosuch eq "x"]"#,
            r#"displayName[value eq "x"]"#,
            "displayName gt 1",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Library bugs: regression tests, and (#[ignore]d) tests documenting open bugs
// ---------------------------------------------------------------------------------------------

#[test]
fn eval_value_filter_respects_sub_attribute_paths() {
    // `type.foo` names a sub-attribute of `type`, which does not exist: nothing matches. The
    // evaluator must not silently drop `.foo` and compare `type` instead.
    expect_user_hits(&[
        (r#"emails[type.foo eq "work"]"#, vec![]),
        (r#"emails[value.x co "@"]"#, vec![]),
        // Likewise a URN prefix that names no schema of the resource type.
        (
            r#"emails[urn:example:other:2.0:Thing:type eq "work"]"#,
            vec![],
        ),
    ]);
}

#[test]
fn display_of_a_filter_at_max_depth_reparses() {
    // `x[a or b].sub op v` is normalised to `x[(a or b) and sub op v]`; its display must still be
    // accepted whenever the original was. Right-nested `or` groups keep their parentheses.
    let n = MAX_DEPTH - 1;
    let input = format!(
        r#"{}a pr or emails[type eq "a" or type eq "b"].value eq "x"{}"#,
        "a pr or (".repeat(n),
        ")".repeat(n)
    );
    let f = Filter::parse(&input).expect("within MAX_DEPTH");
    let shown = f.to_string();
    assert_eq!(
        Filter::parse(&shown).map_err(|e| e.detail),
        Ok(f),
        "display: {shown}"
    );
}

/// Found by the `filter` fuzz target: the normalised form of `a[b pr or c pr].d pr` needs a
/// parenthesis level the input did not, and must still re-parse at the nesting limit.
#[test]
fn regression_fuzz_display_depth() {
    let input = "not (not (not (not (not (not (not (not (not (not (not (not (not (not (not ((a[b pr or c pr].d pr or x pr) and y pr)))))))))))))))";
    let f = Filter::parse(input).unwrap();
    let again = Filter::parse(&f.to_string()).unwrap();
    assert_eq!(again, f);
}
