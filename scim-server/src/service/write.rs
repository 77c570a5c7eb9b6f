//! Create (RFC 7644 §3.3), replace (§3.5.1), PATCH (§3.5.2) and delete (§3.6) of one
//! resource, for the routes and for `/Bulk` operations alike.
//!
//! Each function validates with scim-core, hashes passwords before the store is called (never
//! inside its transaction, see [`super::password`]), turns a Group's `members` into row changes
//! ([`super::members`]), calls the store once, and tells the change hook what was committed.
//! Versions (§3.14): `expected` is the version an `If-Match` named; a mismatch is `412`.

use scim_core::{Context, JsonMap, PatchOp, Projection};
use serde_json::Value;

use super::{is_group, members, password};
use crate::error::{ApiError, ApiResult};
use crate::render::render;
use crate::state::{ChangeEvent, ChangeKind, ScimState};
use crate::store::{Load, MemberChange, StoreError, StoredResource, Update};

/// A committed change: the resource as stored and as rendered (with `meta`, `members`,
/// `groups` as loaded).
#[derive(Debug)]
pub struct Written {
    /// The stored resource after the change.
    pub stored: StoredResource,
    /// Its full representation (before any projection).
    pub full: JsonMap,
}

/// Creates a resource from a client's body.
pub async fn create(
    state: &ScimState,
    tenant: &str,
    ctx: &Context<'_>,
    mut body: Value,
    base: &str,
) -> ApiResult<Written> {
    password::hash_in_body(&mut body).await?;
    let compat = state.compat(tenant);
    let resource = scim_core::prepare_create(body, ctx, &compat)?;
    let mut data = resource.into_map();
    password::ensure_hashed(&data)?;
    let rows = members::take(ctx, &mut data)?;
    let stored = state.store().create(tenant, ctx, data, rows).await?;
    let full = render(ctx, base, &stored);
    notify(
        state,
        tenant,
        ctx,
        &stored.id,
        ChangeKind::Created,
        None,
        Some(&full),
    )
    .await;
    Ok(Written { stored, full })
}

/// Replaces a resource with a client's body (`load`: what the returned resource carries).
#[allow(clippy::too_many_arguments)]
pub async fn replace(
    state: &ScimState,
    tenant: &str,
    ctx: &Context<'_>,
    id: &str,
    mut body: Value,
    expected: Option<i64>,
    load: Load,
    base: &str,
) -> ApiResult<Written> {
    password::hash_in_body(&mut body).await?;
    let compat = state.compat(tenant);
    let (before, stored) = state
        .store()
        .modify(
            tenant,
            ctx,
            id,
            Load::default(),
            Box::new(|existing| {
                let mut old = existing.data.clone();
                old.insert("id".into(), Value::String(existing.id.clone()));
                let resource = scim_core::prepare_replace(body.clone(), &old, ctx, &compat)
                    .map_err(StoreError::Invalid)?;
                let mut data = resource.into_map();
                data.shift_remove("id");
                data.shift_remove("meta");
                data.shift_remove("groups");
                password::ensure_hashed(&data).map_err(invalid)?;
                let member_changes = if is_group(ctx) {
                    let rows = members::take(ctx, &mut data).map_err(invalid)?;
                    vec![MemberChange::RemoveAll, MemberChange::Add(rows)]
                } else {
                    Vec::new()
                };
                Ok(Update {
                    expected_version: expected,
                    data: Some(data),
                    member_changes,
                    load,
                })
            }),
        )
        .await?;
    let full = render(ctx, base, &stored);
    let old = render(ctx, base, &before);
    notify(
        state,
        tenant,
        ctx,
        id,
        ChangeKind::Updated,
        Some(&old),
        Some(&full),
    )
    .await;
    Ok(Written { stored, full })
}

/// Applies a `PatchOp` message to a resource (`load`: what the returned resource carries).
#[allow(clippy::too_many_arguments)]
pub async fn patch(
    state: &ScimState,
    tenant: &str,
    ctx: &Context<'_>,
    id: &str,
    body: &Value,
    expected: Option<i64>,
    load: Load,
    base: &str,
) -> ApiResult<Written> {
    let compat = state.compat(tenant);
    let mut op = PatchOp::from_json(body, &compat)?;
    password::hash_in_ops(&mut op.operations).await?;
    // A Group's member operations become row changes without reading the members, when they
    // allow it; otherwise the members are loaded and the operations applied to the list.
    let split = if is_group(ctx) {
        members::split_ops(&op.operations, &compat)?
    } else {
        Some((op.operations.clone(), Vec::new()))
    };
    let (data_ops, changes, needs_members) = match split {
        Some((d, c)) => (d, c, false),
        None => (op.operations, Vec::new(), true),
    };
    let (before, stored) = state
        .store()
        .modify(
            tenant,
            ctx,
            id,
            Load {
                members: needs_members,
                groups: false,
            },
            Box::new(|current| {
                let (data, member_changes) = plan_patch(
                    ctx,
                    &compat,
                    current,
                    &data_ops,
                    changes.clone(),
                    needs_members,
                )
                .map_err(invalid)?;
                Ok(Update {
                    expected_version: expected,
                    data,
                    member_changes,
                    load,
                })
            }),
        )
        .await?;
    let full = render(ctx, base, &stored);
    if stored.version != before.version {
        let old = render(ctx, base, &before);
        notify(
            state,
            tenant,
            ctx,
            id,
            ChangeKind::Updated,
            Some(&old),
            Some(&full),
        )
        .await;
    }
    Ok(Written { stored, full })
}

/// Deletes a resource.
pub async fn delete(
    state: &ScimState,
    tenant: &str,
    ctx: &Context<'_>,
    id: &str,
    expected: Option<i64>,
) -> ApiResult<()> {
    state.store().delete(tenant, ctx, id, expected).await?;
    notify(state, tenant, ctx, id, ChangeKind::Deleted, None, None).await;
    Ok(())
}

fn invalid(e: ApiError) -> StoreError {
    StoreError::Invalid(e.error)
}

/// Applies the data operations to the current resource and turns member operations into row
/// changes. Returns the new data (when it changed) and the member changes.
fn plan_patch(
    ctx: &Context<'_>,
    compat: &scim_core::Compat,
    current: &StoredResource,
    data_ops: &[scim_core::PatchOperation],
    mut changes: Vec<MemberChange>,
    needs_members: bool,
) -> ApiResult<(Option<JsonMap>, Vec<MemberChange>)> {
    // Work on the resource as clients see it (with id, and members when needed).
    let mut work = current.data.clone();
    work.insert("id".into(), Value::String(current.id.clone()));
    let old_members = current.members.as_deref().unwrap_or_default();
    if needs_members && !old_members.is_empty() {
        work.insert("members".into(), members::to_json(old_members));
    }
    let outcome = scim_core::apply_operations(&mut work, data_ops, ctx, compat)?;
    if needs_members {
        let new_rows = match work.shift_remove("members") {
            Some(v) => members::rows(&v)?,
            None => Vec::new(),
        };
        changes.extend(members::diff(old_members, new_rows));
    }
    work.shift_remove("id");
    if outcome.changed {
        password::ensure_hashed(&work)?;
    }
    Ok((outcome.changed.then_some(work), changes))
}

/// Tells the change hook about a committed change. Events leave the server (webhooks,
/// queues): never with a `returned: never` attribute such as the password hash.
async fn notify(
    state: &ScimState,
    tenant: &str,
    ctx: &Context<'_>,
    id: &str,
    kind: ChangeKind,
    before: Option<&JsonMap>,
    after: Option<&JsonMap>,
) {
    let clean = |v: Option<&JsonMap>| v.map(|m| Value::Object(Projection::all().apply(m, ctx)));
    state
        .hook()
        .on_change(ChangeEvent {
            tenant: tenant.to_string(),
            resource_type: ctx.resource_type.name.clone(),
            id: id.to_string(),
            kind,
            before: clean(before),
            after: clean(after),
        })
        .await;
}
