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

/// A committed change: the resource as stored (with `members` and `groups` as loaded).
#[derive(Debug)]
pub struct Written {
    /// The stored resource after the change.
    pub stored: StoredResource,
}

impl Written {
    /// The full representation (before any projection), with `meta` for `base`.
    pub fn render(&self, ctx: &Context<'_>, base: &str) -> JsonMap {
        render(ctx, base, &self.stored)
    }
}

/// Creates a resource from a client's body.
pub async fn create(
    state: &ScimState,
    tenant: &str,
    ctx: &Context<'_>,
    body: Value,
    base: &str,
) -> ApiResult<Written> {
    let (data, rows) = prepare_create(state, tenant, ctx, body).await?;
    let stored = state.store().create(tenant, ctx, data, rows).await?;
    notify(
        state,
        tenant,
        ctx,
        base,
        ChangeKind::Created,
        None,
        Some(&stored),
    )
    .await;
    Ok(Written { stored })
}

/// Creates several resources of one type, each on its own as [`create`] would (the same
/// validation and errors; one failing does not affect the others), with one call of the
/// store for all that are valid: what `/Bulk` does with the creates that wait on nothing.
/// The results come in the order of `bodies`.
pub async fn create_many(
    state: &ScimState,
    tenant: &str,
    ctx: &Context<'_>,
    bodies: Vec<Value>,
    base: &str,
) -> Vec<ApiResult<Written>> {
    let mut results: Vec<Option<ApiResult<Written>>> = Vec::with_capacity(bodies.len());
    let mut items = Vec::new();
    let mut slots = Vec::new();
    for body in bodies {
        match prepare_create(state, tenant, ctx, body).await {
            Ok(item) => {
                slots.push(results.len());
                items.push(item);
                results.push(None);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    let stored = state.store().create_many(tenant, ctx, items).await;
    for (slot, r) in slots.into_iter().zip(stored) {
        results[slot] = Some(match r {
            Ok(stored) => {
                notify(
                    state,
                    tenant,
                    ctx,
                    base,
                    ChangeKind::Created,
                    None,
                    Some(&stored),
                )
                .await;
                Ok(Written { stored })
            }
            Err(e) => Err(e.into()),
        });
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| Err(StoreError::Backend("no result from the store".into()).into()))
        })
        .collect()
}

/// A create's data and member rows, validated, with passwords hashed.
async fn prepare_create(
    state: &ScimState,
    tenant: &str,
    ctx: &Context<'_>,
    mut body: Value,
) -> ApiResult<(JsonMap, Vec<crate::store::MemberRow>)> {
    password::hash_in_body(&mut body).await?;
    let compat = state.compat(tenant);
    let resource = scim_core::prepare_create(body, ctx, &compat)?;
    let mut data = resource.into_map();
    password::ensure_hashed(&data)?;
    let rows = members::take(ctx, &mut data)?;
    Ok((data, rows))
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
    notify(
        state,
        tenant,
        ctx,
        base,
        ChangeKind::Updated,
        Some(&before),
        Some(&stored),
    )
    .await;
    Ok(Written { stored })
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
    if stored.version != before.version {
        notify(
            state,
            tenant,
            ctx,
            base,
            ChangeKind::Updated,
            Some(&before),
            Some(&stored),
        )
        .await;
    }
    Ok(Written { stored })
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
    if state.hook().wants_events() {
        state
            .hook()
            .on_change(ChangeEvent {
                tenant: tenant.to_string(),
                resource_type: ctx.resource_type.name.clone(),
                id: id.to_string(),
                kind: ChangeKind::Deleted,
                before: None,
                after: None,
            })
            .await;
    }
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

/// Tells the change hook about a committed change (of `after`, or of `before` when there is
/// no after). Events leave the server (webhooks, queues): never with a `returned: never`
/// attribute such as the password hash. Nothing is rendered when the hook wants no events.
async fn notify(
    state: &ScimState,
    tenant: &str,
    ctx: &Context<'_>,
    base: &str,
    kind: ChangeKind,
    before: Option<&StoredResource>,
    after: Option<&StoredResource>,
) {
    let hook = state.hook();
    if !hook.wants_events() {
        return;
    }
    let Some(id) = after.or(before).map(|s| s.id.clone()) else {
        return;
    };
    let clean = |s: Option<&StoredResource>| {
        s.map(|s| Value::Object(Projection::all().apply(&render(ctx, base, s), ctx)))
    };
    hook.on_change(ChangeEvent {
        tenant: tenant.to_string(),
        resource_type: ctx.resource_type.name.clone(),
        id,
        kind,
        before: clean(before),
        after: clean(after),
    })
    .await;
}
