//! Filter parser, canonical Display and evaluator.
//!
//! Any UTF-8 input goes to `Filter::parse`, which must never panic. When it parses, the
//! canonical `Display` form must re-parse to an equal `Filter`, and evaluating (`matches`) and
//! schema-checking (`check`) it against a fixed user must not panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use scim_core::{Context, Filter, Resource};
use serde_json::json;

static USER: LazyLock<Resource> = LazyLock::new(|| {
    Resource::from_json(
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "701984",
            "userName": "bjensen@example.com",
            "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara"},
            "displayName": "Babs Jensen",
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
            "addresses": [{"streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
                           "postalCode": "91608", "country": "USA", "type": "work", "primary": true}],
            "active": true,
            "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
            "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z",
                     "lastModified": "2011-05-13T04:42:34Z", "version": "W/\"3694e05e9dff591\""},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984", "costCenter": "4130", "department": "Tour Operations",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
            }
        }),
        &Context::user(),
    )
    .expect("sample user")
});

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(f) = Filter::parse(input) else { return };

    let shown = f.to_string();
    let again = Filter::parse(&shown).unwrap_or_else(|e| {
        panic!("Display output does not re-parse\ninput: {input:?}\nshown: {shown:?}\nerror: {e}")
    });
    assert_eq!(
        f, again,
        "round trip changed the filter\ninput: {input:?}\nshown: {shown:?}"
    );

    let ctx = Context::user();
    let _ = f.matches(USER.as_map(), &ctx);
    let _ = f.check(&ctx);
});
