//! Data-driven PATCH table (RFC 7644 §3.5.2) over `tests/fixtures/rfc/patch_cases.json`.
//!
//! Every case is run in ONE test function that collects every mismatch and prints them all
//! (case name, expected, got) before failing, so one run shows every problem.
//!
//! For each case: `before` is read with `Resource::from_json` in the `User` or `Group` context
//! (by `resourceType`), `patch` with `PatchOp::from_json`, and the patch is applied with
//! `apply_patch`. A case with `after` must give exactly that JSON (object key order is
//! ignored, array order is not) and `PatchOutcome::changed` must say whether the resource
//! changed. A case with `error` must fail with that status and `scimType` and leave the
//! resource exactly as it was (PATCH is atomic, §3.5.2). A parse failure of the PatchOp counts
//! as the request's result.
//!
//! Each case runs twice: with `Compat::default()` (the library's tolerant default) and with
//! `Compat::strict()` (the literal RFC reading). The fixture states the RFC semantics, so both
//! runs are held to it, except:
//!
//! - [`KNOWN_DIFFERENCES`]: cases where the library's default-mode result differs from the
//!   fixture. They are skipped in the default run (and reported as stale if they start to pass),
//!   except that a failed PATCH must still leave the resource untouched.
//!   They are still checked in the strict run unless [`STRICT_DIFFERENCES`] lists them too.
//! - [`STRICT_DIFFERENCES`]: cases whose strict-mode result differs from the fixture.
//!
//! How `Compat::strict()` can matter for these cases: every case uses lower-case ops and lists
//! the PatchOp URN in `schemas`, so `case_insensitive_ops` and `missing_message_schema` never
//! apply; no case sends a `value` with `remove` (`remove_value_selects`), a string boolean
//! (`string_booleans`) or an odd complex shape (`complex_shapes`, `json_string_values`). The
//! only tolerance the table could reach is `create_on_no_match`, and for a `replace` with a path
//! it applies only to Entra ID's capitalised `"Replace"`, so a lower-case replace whose filter
//! matches nothing is `noTarget` in both modes and the known-differences list is empty. A remove whose filter
//! matches nothing succeeds in both modes (RFC 7644 §3.5.2.2).

use scim_core::{apply_patch, Compat, Context, PatchOp, Resource, ScimError};
use serde_json::Value;

const CASES: &str = include_str!("../fixtures/rfc/patch_cases.json");

/// Cases whose `Compat::default()` result differs from the fixture: (case name, reason).
/// They are skipped in the default run; see the module docs.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// Cases whose `Compat::strict()` result differs from the fixture: (case name, reason).
const STRICT_DIFFERENCES: &[(&str, &str)] = &[];

fn reason<'a>(list: &'a [(&str, &str)], name: &str) -> Option<&'a str> {
    list.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

fn context(resource_type: &str) -> Option<Context<'static>> {
    match resource_type {
        "User" => Some(Context::user()),
        "Group" => Some(Context::group()),
        _ => None,
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn describe_error(e: &ScimError) -> String {
    format!(
        "error {} {} ({})",
        e.status,
        e.scim_type.as_ref().map_or("<no scimType>", |t| t.as_str()),
        e.detail
    )
}

/// What one run produced.
enum Outcome {
    /// The patch applied: the resource afterwards, and `PatchOutcome::changed`.
    Applied { after: Value, changed: bool },
    /// The patch failed, in `PatchOp::from_json` or `apply_patch`: the error, and the resource
    /// as it was left (`None` when parsing failed, so nothing ran).
    Failed {
        error: ScimError,
        left: Option<Value>,
    },
}

fn run(before: &Resource, patch: &Value, ctx: &Context<'_>, compat: &Compat) -> Outcome {
    let op = match PatchOp::from_json(patch, compat) {
        Ok(op) => op,
        Err(error) => return Outcome::Failed { error, left: None },
    };
    let mut resource = before.clone();
    match apply_patch(resource.as_map_mut(), &op, ctx, compat) {
        Ok(outcome) => Outcome::Applied {
            after: resource.to_value(),
            changed: outcome.changed,
        },
        Err(error) => Outcome::Failed {
            error,
            left: Some(resource.to_value()),
        },
    }
}

/// Compares one run with the case's expectation; `Err` describes every difference.
fn check(case: &Value, before: &Resource, outcome: &Outcome) -> Result<(), String> {
    let before_v = before.to_value();
    let mut problems = Vec::new();
    match (case.get("after"), case.get("error"), outcome) {
        (Some(expected), None, Outcome::Applied { after, changed }) => {
            if after != expected {
                problems.push(format!(
                    "expected after:\n{}\ngot:\n{}",
                    pretty(expected),
                    pretty(after)
                ));
            }
            let really_changed = *after != before_v;
            if *changed != really_changed {
                problems.push(format!(
                    "PatchOutcome::changed is {changed} but the resource {} change",
                    if really_changed { "did" } else { "did not" }
                ));
            }
        }
        (Some(expected), None, Outcome::Failed { error, .. }) => problems.push(format!(
            "expected after:\n{}\ngot: {}",
            pretty(expected),
            describe_error(error)
        )),
        (None, Some(err), outcome) => {
            let status = err.get("status").and_then(Value::as_u64);
            let scim_type = err.get("scimType").and_then(Value::as_str);
            let expected = format!(
                "error {} {}",
                status.unwrap_or_default(),
                scim_type.unwrap_or("<none>")
            );
            match outcome {
                Outcome::Applied { after, .. } => problems.push(format!(
                    "expected {expected}\ngot success, after:\n{}",
                    pretty(after)
                )),
                Outcome::Failed { error, left } => {
                    let got_type = error.scim_type.as_ref().map(|t| t.as_str());
                    if status != Some(u64::from(error.status)) || scim_type != got_type {
                        problems.push(format!(
                            "expected {expected}\ngot {}",
                            describe_error(error)
                        ));
                    }
                    if let Some(left) = left {
                        if *left != before_v {
                            problems.push(format!(
                                "the failed PATCH changed the resource (it must be atomic); left:\n{}",
                                pretty(left)
                            ));
                        }
                    }
                }
            }
        }
        _ => problems.push("malformed case: needs exactly one of \"after\" and \"error\"".into()),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// For a skipped error case: a failed PATCH must still have left the resource untouched.
fn atomicity_problem(case: &Value, before: &Resource, outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Failed {
            left: Some(left), ..
        } if case.get("error").is_some() && *left != before.to_value() => Some(format!(
            "the failed PATCH changed the resource (it must be atomic); left:\n{}",
            pretty(left)
        )),
        _ => None,
    }
}

#[test]
fn rfc_patch_cases() {
    let cases: Vec<Value> = serde_json::from_str(CASES).expect("patch_cases.json is valid JSON");
    assert!(!cases.is_empty(), "patch_cases.json has no cases");

    let mut failures: Vec<String> = Vec::new();
    let mut names = std::collections::HashSet::new();
    let (mut passed_default, mut passed_strict, mut skipped_default, mut skipped_strict) =
        (0, 0, 0, 0);

    for case in &cases {
        let name = case
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>");
        if !names.insert(name) {
            failures.push(format!("[{name}] duplicate case name"));
        }
        let rt = case
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("<missing>");
        let Some(ctx) = context(rt) else {
            failures.push(format!("[{name}] unknown resourceType {rt:?}"));
            continue;
        };
        let (Some(before_json), Some(patch)) = (case.get("before"), case.get("patch")) else {
            failures.push(format!(
                "[{name}] malformed case: needs \"before\" and \"patch\""
            ));
            continue;
        };
        let before = match Resource::from_json(before_json.clone(), &ctx) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!(
                    "[{name}] before does not load: {}",
                    describe_error(&e)
                ));
                continue;
            }
        };

        for (mode, compat, known) in [
            ("default", Compat::default(), KNOWN_DIFFERENCES),
            ("strict", Compat::strict(), STRICT_DIFFERENCES),
        ] {
            let outcome = run(&before, patch, &ctx, &compat);
            let result = check(case, &before, &outcome);
            let skipped = reason(known, name);
            match (result, skipped) {
                (Ok(()), None) => {
                    if mode == "default" {
                        passed_default += 1;
                    } else {
                        passed_strict += 1;
                    }
                }
                (Err(msg), None) => failures.push(format!("[{name}] (Compat::{mode}())\n{msg}")),
                (Err(_), Some(_)) => {
                    // Skipped, but atomicity is not negotiable.
                    if let Some(msg) = atomicity_problem(case, &before, &outcome) {
                        failures.push(format!(
                            "[{name}] (Compat::{mode}(), known difference)\n{msg}"
                        ));
                    }
                    if mode == "default" {
                        skipped_default += 1;
                    } else {
                        skipped_strict += 1;
                    }
                }
                (Ok(()), Some(why)) => failures.push(format!(
                    "[{name}] (Compat::{mode}()) now matches the fixture: remove it from the \
                     known-differences list ({why})"
                )),
            }
        }
    }
    for (list, label) in [
        (KNOWN_DIFFERENCES, "KNOWN_DIFFERENCES"),
        (STRICT_DIFFERENCES, "STRICT_DIFFERENCES"),
    ] {
        for (n, _) in list {
            if !names.contains(n) {
                failures.push(format!(
                    "{label} names {n:?}, which is not a case of patch_cases.json"
                ));
            }
        }
    }

    println!(
        "patch_cases.json: {} cases; Compat::default(): {passed_default} pass, {skipped_default} known \
         differences; Compat::strict(): {passed_strict} pass, {skipped_strict} known differences",
        cases.len()
    );
    if !failures.is_empty() {
        panic!(
            "{} PATCH mismatch(es):\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}
