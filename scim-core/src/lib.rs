//! # scim-core
//!
//! The SCIM 2.0 model as pure, synchronous Rust: schemas and resources (RFC 7643), attribute
//! paths, filters, PATCH, projection, sorting and protocol messages (RFC 7644), cursor fields
//! (RFC 9865), and errors. No I/O: the server, the client and the provisioning engine all build
//! on it.
//!
//! Everything works on a generic, schema-canonicalised JSON [`Resource`] plus a
//! [`SchemaRegistry`], through one attribute resolver; [`User`], [`Group`] and
//! [`EnterpriseUser`] are typed views that keep unknown attributes.
//!
//! ```
//! use scim_core::{apply_patch, Compat, Context, Filter, PatchOp, Resource};
//! use serde_json::json;
//!
//! let ctx = Context::user(); // the built-in registry's User resource type
//! let mut user = Resource::from_json(json!({
//!     "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
//!     "id": "2819c223", "userName": "bjensen",
//!     "emails": [{"value": "bjensen@example.com", "type": "work"}]
//! }), &ctx)?;
//!
//! // Filters honour the schema: userName is not case-exact.
//! let f: Filter = r#"userName eq "BJENSEN" and emails[type eq "work"]"#.parse()?;
//! assert!(f.matches(user.as_map(), &ctx));
//!
//! // PATCH, atomically, with Entra ID's capitalised ops and string booleans accepted.
//! let patch = PatchOp::from_json(&json!({
//!     "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
//!     "Operations": [{"op": "Replace", "path": "active", "value": "False"},
//!                    {"op": "add", "path": "emails[type eq \"home\"].value", "value": "b@home.example"}]
//! }), &Compat::default())?;
//! let outcome = apply_patch(user.as_map_mut(), &patch, &ctx, &Compat::default())?;
//! assert!(outcome.changed);
//! assert_eq!(user.as_map()["active"], json!(false));
//! assert_eq!(user.as_map()["emails"][1], json!({"type": "home", "value": "b@home.example"}));
//! # Ok::<(), scim_core::ScimError>(())
//! ```
//!
//! Modules cite the RFC sections they implement.

pub mod compat;
pub mod diff;
pub mod error;
pub mod filter;
pub mod messages;
pub mod patch;
pub mod path;
pub mod projection;
pub mod resource;
pub mod schema;
pub mod sort;
pub mod validate;

pub use compat::Compat;
pub use diff::diff;
pub use error::{ScimError, ScimResult, ScimType};
pub use filter::{CompValue, CompareOp, Filter, FilterError};
pub use messages::{
    BulkOperation, BulkOperationResponse, BulkRequest, BulkResponse, ListResponse, PatchOp,
    PatchOpKind, PatchOperation, SearchRequest, SortOrder,
};
pub use patch::{apply_operations, apply_patch, PatchOutcome};
pub use path::{AttrPath, PatchPath};
pub use projection::Projection;
pub use resource::{Context, EnterpriseUser, Group, JsonMap, Meta, Resource, User};
pub use schema::{AttributeDef, AttributeType, ResourceType, Schema, SchemaRegistry};
pub use validate::{prepare_create, prepare_replace};
