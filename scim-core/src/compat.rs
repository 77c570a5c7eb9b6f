//! The compatibility policy: which real-world deviations from RFC 7644 are *accepted*.
//!
//! Identity providers send requests that a literal reading of the RFC rejects or, worse,
//! misreads (see the project's `idp-wire-behaviour.md`). [`Compat::default()`] accepts every
//! deviation listed here; [`Compat::strict()`] accepts none. Either way the library never
//! *produces* non-compliant data: tolerated input is normalised before it is stored.

/// Tolerances applied while reading requests. Each field names the sender that needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Compat {
    /// PATCH `op` in any case: `"Add"`, `"Replace"`, `"Remove"` (Microsoft Entra ID, default
    /// dialect).
    pub case_insensitive_ops: bool,
    /// Booleans sent as strings, `"True"` / `"false"` (Entra ID, default dialect).
    pub string_booleans: bool,
    /// `{"op":"remove","path":"members","value":[{"value":"u1"}]}` removes only `u1` instead of
    /// every member (Entra ID, default dialect). Without it the RFC reading clears the attribute.
    pub remove_value_selects: bool,
    /// `add`/`replace` on a value filter that matches nothing (e.g.
    /// `emails[type eq "work"].value`) creates the element from the filter's `eq` terms instead of
    /// failing with `noTarget` (Entra ID, which sends `"op":"Replace"` for a user without a work
    /// email). For a `replace` with a `path`, RFC 7644 §3.5.2.3 asks for `400 noTarget`, so there
    /// the tolerance applies only to operations in Entra ID's spelling
    /// ([`PatchOperation::capitalised_op`](crate::messages::PatchOperation::capitalised_op));
    /// an RFC-spelled `replace` still gets `noTarget`. `add` (§3.5.2.1: a target that does not
    /// exist is added) and keys of a path-less value object are not affected by the spelling.
    pub create_on_no_match: bool,
    /// Single-valued complex attributes sent as a bare string (`"manager": "m1"`), as a one-element
    /// array, or cleared with `{"value": ""}` (Entra ID's enterprise `manager`).
    pub complex_shapes: bool,
    /// Complex values JSON-encoded in a string (Entra ID's `roles`).
    pub json_string_values: bool,
    /// A PatchOp or resource body without `schemas` (several smaller senders).
    pub missing_message_schema: bool,
    /// Attributes and schema URIs that no schema of the resource type defines are dropped from
    /// POST/PUT bodies instead of rejected (Entra ID's Microsoft group schema URI, vendor data).
    pub ignore_unknown_attributes: bool,
}

impl Default for Compat {
    /// Accept every listed deviation.
    fn default() -> Self {
        Compat {
            case_insensitive_ops: true,
            string_booleans: true,
            remove_value_selects: true,
            create_on_no_match: true,
            complex_shapes: true,
            json_string_values: true,
            missing_message_schema: true,
            ignore_unknown_attributes: true,
        }
    }
}

impl Compat {
    /// The literal RFC reading: no tolerance.
    pub fn strict() -> Self {
        Compat {
            case_insensitive_ops: false,
            string_booleans: false,
            remove_value_selects: false,
            create_on_no_match: false,
            complex_shapes: false,
            json_string_values: false,
            missing_message_schema: false,
            ignore_unknown_attributes: false,
        }
    }
}
