//! What a SCIM request does, apart from HTTP: the layer between the routes and the store.
//!
//! ```text
//! routes (parse, authorise, call, render)  →  service (decide)  →  store (rows)
//!                                                  ↓
//!                                   scim-core (validate, PATCH, filters)
//! ```
//!
//! - [`write`](mod@write): create (RFC 7644 §3.3), replace (§3.5.1), PATCH (§3.5.2) and delete (§3.6),
//!   used by the single-resource routes and by every `/Bulk` operation (§3.7), with passwords
//!   hashed before the store is called ([`password`]) and the change hook told after it.
//! - [`members`]: a Group's `members` as rows — read from bodies, planned from PATCH operations
//!   (O(1) in the group's size when the operations allow it), diffed with hash sets otherwise.
//! - [`search`]: one search path for `GET /{type}`, `POST /{type}/.search` and `POST /.search`
//!   (§3.4.2, §3.4.3), with RFC 9865 cursors.
//!
//! Changes are decided from the state the store holds when it applies them: the store calls
//! the decision (a closure built here from scim-core's rules) inside its transaction, with the
//! resource as committed, and decides again if another writer moved it on meanwhile. The store
//! owns everything about rows; this layer owns what a change means.

pub mod members;
pub mod password;
pub mod search;
pub mod write;

use scim_core::filter::{CompValue, Filter};
use scim_core::schema::ResourceType;
use scim_core::{Context, Projection, ScimError};

use crate::error::ApiResult;
use crate::state::ScimState;
use crate::store::Load;

/// The resource type served at `/{endpoint}`.
pub fn context<'a>(state: &'a ScimState, endpoint: &str) -> ApiResult<Context<'a>> {
    let rt = state
        .registry()
        .resource_type_by_endpoint(&format!("/{endpoint}"))
        .ok_or_else(|| ScimError::not_found(format!("no resource type at /{endpoint}")))?;
    Ok(context_of(state, rt))
}

/// The context of a resource type of the state's registry.
pub fn context_of<'a>(state: &'a ScimState, rt: &'a ResourceType) -> Context<'a> {
    Context {
        registry: state.registry(),
        resource_type: rt,
    }
}

/// Ids are server-assigned UUIDs; an id no resource can have is simply not found.
pub fn check_id(id: &str) -> ApiResult<()> {
    if id.is_empty() || id.len() > 256 || id.contains('\0') {
        return Err(ScimError::not_found("resource not found").into());
    }
    Ok(())
}

/// Checks a filter against the schema (`Filter::check`, which also refuses never-returned
/// attributes such as `password`) and refuses literals with U+0000, which match nothing stored
/// and upset SQL drivers.
pub fn check_filter(f: &Filter, ctx: &Context<'_>) -> ApiResult<()> {
    f.check(ctx)?;
    let mut nul = false;
    f.visit_terms(&mut |_, t| {
        if let Filter::Compare {
            value: CompValue::String(s),
            ..
        } = t
        {
            nul |= s.contains('\0');
        }
    });
    if nul {
        return Err(
            ScimError::invalid_filter("NUL characters are not allowed in filter values").into(),
        );
    }
    Ok(())
}

/// Whether the resource type is the core Group (its `members` are rows).
pub fn is_group(ctx: &Context<'_>) -> bool {
    ctx.resource_type.name == "Group"
}

/// What a read must load besides the resource's own data for a projection: a Group's members
/// and a User's groups, unless the projection leaves them out.
pub fn load_for(ctx: &Context<'_>, proj: &Projection) -> Load {
    Load {
        members: is_group(ctx) && !proj.excludes(None, "members"),
        groups: ctx.resource_type.name == "User" && !proj.excludes(None, "groups"),
    }
}
