//! PATCH forms identity providers and Python SCIM libraries send that a literal reading gets
//! wrong (issue 9, item 1), in both compatibility modes:
//!
//! - `remove` of an attribute that is not assigned is a successful no-op for every path form:
//!   core, sub-attribute, value filter that matches nothing, extension URN attribute, extension
//!   sub-attribute, the extension itself (RFC 7644 §3.5.2.2 removes what is there; Entra ID
//!   clears the enterprise `manager` this way). Path-less `add`/`replace` with `null` likewise.
//! - `add`/`replace` of a whole extension object that carries its own `"schemas"` naming that
//!   extension (how Python libraries serialise it), with and without `path`, stores the
//!   attributes and never a nested `schemas`; naming another schema is `invalidValue` in strict
//!   mode and ignored by default.

use scim_core::{apply_patch, Compat, Context, PatchOp, ScimType};
use serde_json::{json, Value};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn user() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "a",
        "emails": [{"value": "w@example.com", "type": "work"}]})
}

fn patch(
    before: &Value,
    ops: Value,
    compat: &Compat,
) -> Result<(Value, bool), scim_core::ScimError> {
    let mut m = before.as_object().unwrap().clone();
    let p = PatchOp::from_json(
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
        compat,
    )?;
    let out = apply_patch(&mut m, &p, &Context::user(), compat)?;
    Ok((Value::Object(m), out.changed))
}

fn modes() -> [(&'static str, Compat); 2] {
    [("default", Compat::default()), ("strict", Compat::strict())]
}

#[test]
fn removing_what_is_not_assigned_is_a_no_op_for_every_path_form() {
    let ops = vec![
        json!([{"op": "remove", "path": "title"}]),
        json!([{"op": "remove", "path": "name"}]),
        json!([{"op": "remove", "path": "name.givenName"}]),
        json!([{"op": "remove", "path": "phoneNumbers"}]),
        json!([{"op": "remove", "path": "phoneNumbers.value"}]),
        json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
        json!([{"op": "remove", "path": "emails[type eq \"home\"].value"}]),
        json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User:title"}]),
        json!([{"op": "remove", "path": format!("{ENT}:employeeNumber")}]),
        json!([{"op": "remove", "path": format!("{ENT}:manager")}]),
        json!([{"op": "remove", "path": format!("{ENT}:manager.value")}]),
        json!([{"op": "remove", "path": format!("{ENT}:MANAGER")}]),
        json!([{"op": "remove", "path": ENT}]),
        json!([{"op": "replace", "value": {"title": null}}]),
        json!([{"op": "add", "value": {"name.givenName": null}}]),
        json!([{"op": "replace", "value": {ENT: {"employeeNumber": null}}}]),
        json!([{"op": "replace", "value": {format!("{ENT}:manager"): null}}]),
        json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": null}]),
    ];
    let u = user();
    for (mode, compat) in modes() {
        for op in &ops {
            let (after, changed) = patch(&u, op.clone(), &compat)
                .unwrap_or_else(|e| panic!("{mode}: {op} failed: {e:?}"));
            assert!(!changed, "{mode}: {op} changed the user: {after}");
            assert_eq!(after, u, "{mode}: {op}");
        }
    }
    // With the extension present but the attribute absent, the same holds.
    let mut with_ext = user();
    with_ext[ENT] = json!({"department": "Eng"});
    with_ext["schemas"].as_array_mut().unwrap().push(json!(ENT));
    for (mode, compat) in modes() {
        for p in ["employeeNumber", "manager", "manager.value"] {
            let op = json!([{"op": "remove", "path": format!("{ENT}:{p}")}]);
            let (after, changed) = patch(&with_ext, op.clone(), &compat)
                .unwrap_or_else(|e| panic!("{mode}: {op} failed: {e:?}"));
            assert!(!changed && after == with_ext, "{mode}: {op}: {after}");
        }
    }
}

#[test]
fn removing_what_is_assigned_still_removes_it() {
    let mut u = user();
    u[ENT] = json!({"employeeNumber": "7", "manager": {"value": "m1"}});
    u["schemas"].as_array_mut().unwrap().push(json!(ENT));
    for (mode, compat) in modes() {
        let (after, changed) = patch(
            &u,
            json!([{"op": "remove", "path": format!("{ENT}:manager")}]),
            &compat,
        )
        .unwrap();
        assert!(changed, "{mode}");
        assert_eq!(after[ENT], json!({"employeeNumber": "7"}), "{mode}");
        let (after, _) = patch(
            &u,
            json!([{"op": "remove", "path": format!("{ENT}:employeeNumber")}, {"op": "remove", "path": format!("{ENT}:manager")}]),
            &compat,
        )
        .unwrap();
        assert!(
            after.get(ENT).is_none(),
            "{mode}: empty extension left behind: {after}"
        );
        assert!(
            !after["schemas"].as_array().unwrap().contains(&json!(ENT)),
            "{mode}: {after}"
        );
    }
}

#[test]
fn an_extension_object_may_carry_its_own_schemas_key() {
    let shapes = [json!([ENT]), json!([ENT.to_ascii_lowercase()]), json!(ENT)];
    for (mode, compat) in modes() {
        for schemas in &shapes {
            let obj = json!({"schemas": schemas, "employeeNumber": "7", "department": "Eng"});
            let forms = vec![
                json!([{"op": "add", "path": ENT, "value": obj}]),
                json!([{"op": "replace", "path": ENT, "value": obj}]),
                json!([{"op": "add", "value": {ENT: obj}}]),
                json!([{"op": "replace", "value": {ENT: obj}}]),
            ];
            for op in forms {
                let (after, changed) = patch(&user(), op.clone(), &compat)
                    .unwrap_or_else(|e| panic!("{mode}: {op} failed: {e:?}"));
                assert!(changed, "{mode}: {op}");
                assert_eq!(
                    after[ENT],
                    json!({"employeeNumber": "7", "department": "Eng"}),
                    "{mode}: {op}"
                );
                assert!(
                    after["schemas"].as_array().unwrap().contains(&json!(ENT)),
                    "{mode}: {op}: {after}"
                );
            }
        }
    }
    // Naming another schema: strict refuses (invalidValue), default ignores the key.
    let obj = json!({"schemas": ["urn:example:other"], "employeeNumber": "7"});
    for op in [
        json!([{"op": "add", "path": ENT, "value": obj}]),
        json!([{"op": "replace", "value": {ENT: obj}}]),
    ] {
        let e = patch(&user(), op.clone(), &Compat::strict()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{op}: {e:?}");
        let (after, _) = patch(&user(), op.clone(), &Compat::default()).unwrap();
        assert_eq!(after[ENT], json!({"employeeNumber": "7"}), "{op}");
    }
}
