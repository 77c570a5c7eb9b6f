//! PATCH request parsing and application.
//!
//! The input bytes are JSON text for a PatchOp body. `PatchOp::from_json` (default, tolerant
//! `Compat`) must not panic; a parsed PatchOp is applied with `apply_patch` to a clone of a fixed
//! realistic user and to a clone of a fixed group, which must not panic either. On `Err` the
//! resource must be byte-for-byte what it was (atomicity); on `Ok` it must still serialise to a
//! JSON object, and `changed == false` must mean it is unchanged.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use scim_core::{apply_patch, Compat, Context, JsonMap, PatchOp, Resource};
use serde_json::{json, Value};

static USER: LazyLock<JsonMap> = LazyLock::new(|| {
    Resource::from_json(
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "701984",
            "userName": "bjensen@example.com",
            "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara",
                     "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
            "displayName": "Babs Jensen",
            "nickName": "Babs",
            "profileUrl": "https://login.example.com/bjensen",
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"},
                {"value": "b.jensen@example.org", "type": "other"}
            ],
            "addresses": [
                {"streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "region": "CA",
                 "postalCode": "91608", "country": "USA", "type": "work", "primary": true},
                {"streetAddress": "456 Hollywood Blvd", "locality": "Hollywood", "region": "CA",
                 "postalCode": "91608", "country": "USA", "type": "home"}
            ],
            "phoneNumbers": [{"value": "555-555-5555", "type": "work"}, {"value": "555-555-4444", "type": "mobile"}],
            "ims": [{"value": "someaimhandle", "type": "aim"}],
            "roles": [{"value": "tour-guide", "primary": true}],
            "userType": "Employee",
            "title": "Tour Guide",
            "preferredLanguage": "en-US",
            "locale": "en-US",
            "timezone": "America/Los_Angeles",
            "active": true,
            "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a",
                        "$ref": "../Groups/e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
            "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z",
                     "lastModified": "2011-05-13T04:42:34Z", "version": "W/\"3694e05e9dff591\"",
                     "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
                "division": "Theme Park", "department": "Tour Operations",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d",
                            "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
            }
        }),
        &Context::user(),
    )
    .expect("sample user")
    .into_map()
});

static GROUP: LazyLock<JsonMap> = LazyLock::new(|| {
    Resource::from_json(
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
            "externalId": "tour-guides",
            "displayName": "Tour Guides",
            "members": [
                {"value": "2819c223-7f76-453a-919d-413861904646", "$ref": "../Users/2819c223-7f76-453a-919d-413861904646",
                 "display": "Babs Jensen", "type": "User"},
                {"value": "902c246b-6245-4190-8e05-00816be7344a", "$ref": "../Users/902c246b-6245-4190-8e05-00816be7344a",
                 "display": "Mandy Pepperidge", "type": "User"},
                {"value": "fc348aa8-3835-40eb-a20b-c726e15c55b5", "type": "Group"}
            ],
            "meta": {"resourceType": "Group", "created": "2010-01-23T04:56:22Z",
                     "lastModified": "2011-05-13T04:42:34Z", "version": "W/\"3694e05e9dff592\""}
        }),
        &Context::group(),
    )
    .expect("sample group")
    .into_map()
});

fn check(base: &JsonMap, patch: &PatchOp, ctx: &Context<'_>, compat: &Compat, input: &str) {
    let before = serde_json::to_vec(base).expect("serialise before");
    let mut work = base.clone();
    match apply_patch(&mut work, patch, ctx, compat) {
        Err(_) => {
            let after = serde_json::to_vec(&work).expect("serialise after");
            assert!(
                before == after,
                "failed PATCH modified the resource\ninput: {input}"
            );
        }
        Ok(outcome) => {
            let after = serde_json::to_vec(&work).expect("serialise after");
            let v: Value = serde_json::from_slice(&after).expect("patched resource re-parses");
            assert!(
                v.is_object(),
                "patched resource is not an object\ninput: {input}"
            );
            if !outcome.changed {
                assert!(
                    before == after,
                    "changed == false but the resource differs\ninput: {input}"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let compat = Compat::default();
    let Ok(patch) = PatchOp::from_json(&body, &compat) else {
        return;
    };
    let input = String::from_utf8_lossy(data);
    check(&USER, &patch, &Context::user(), &compat, &input);
    check(&GROUP, &patch, &Context::group(), &compat, &input);
});
