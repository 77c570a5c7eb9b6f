//! What both native stores ([`super::sqlite`], [`super::postgres`]) share besides the filter
//! translation ([`super::sql`]): the embedded migrations, the derived key columns of a resource
//! row, the uniqueness message (RFC 7643 §4.1.1: userName is unique and not case-exact) and the
//! audit record of a change (see [`crate::audit`]).

use scim_core::{Context, JsonMap};
use serde_json::Value;

use super::body::Body;
use super::StoreError;

/// The SQLite migrations (`migrations/sqlite`), recorded in `_sqlx_migrations` as sqlx does.
pub(super) static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The PostgreSQL migrations (`migrations/postgres`), recorded in `_sqlx_migrations` as sqlx
/// does, so databases created by earlier versions (on sqlx) open unchanged.
pub(super) static POSTGRES_MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("migrations/postgres");

/// Marks in `scim_store_state` that the index holds every stored resource.
pub(super) const INDEX_READY: &str = "index_v1";

/// Members per page of a streamed group (see `Store::get_streaming`).
pub(super) const MEMBER_PAGE: usize = 5000;

/// The folded userName used for the uniqueness index (RFC 7643 §4.1.1: userName is unique and
/// not case-exact).
pub(super) fn user_name_key(ctx: &Context<'_>, data: &JsonMap) -> Option<String> {
    if ctx.resource_type.name != "User" {
        return None;
    }
    data.get("userName")
        .and_then(Value::as_str)
        .map(|u| scim_core::filter::fold(u, false).into_owned())
}

/// The `displayName` column (a group's name in a user's derived `groups`).
pub(super) fn display_name(data: &JsonMap) -> Option<String> {
    data.get("displayName")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Turns a uniqueness violation of a user into the message naming the taken userName.
pub(super) fn uniqueness(
    ctx: &Context<'_>,
    data: &JsonMap,
) -> impl FnOnce(StoreError) -> StoreError {
    let name = data
        .get("userName")
        .and_then(Value::as_str)
        .map(str::to_string);
    let is_user = ctx.resource_type.name == "User";
    move |e| match e {
        StoreError::Uniqueness(_) if is_user => StoreError::Uniqueness(format!(
            "userName {:?} is already in use",
            name.unwrap_or_default()
        )),
        other => other,
    }
}

/// The columns of a resource row, computed before any statement runs.
#[derive(Debug, Clone)]
pub struct Columns {
    /// The folded userName (users).
    pub user_name_key: Option<String>,
    /// The displayName.
    pub display_name: Option<String>,
    /// The data as JSON text.
    pub data: String,
    /// The rendered body.
    pub body: Body,
    /// The body's key.
    pub body_key: String,
}

/// The row columns of `data`.
pub(super) fn columns(ctx: &Context<'_>, data: &JsonMap) -> Columns {
    Columns {
        user_name_key: user_name_key(ctx, data),
        display_name: display_name(data),
        data: Value::Object(data.clone()).to_string(),
        body: super::body::render_body(ctx, data),
        body_key: super::body::body_key(ctx),
    }
}

/// An audit record, taken from the current request before any statement runs.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// The request id.
    pub request_id: Option<String>,
    /// The operation.
    pub operation: String,
    /// Changed attributes (`members` is added by the write when members changed).
    pub attributes: Vec<String>,
}

impl AuditEntry {
    /// The current request's actor, or `-` with `default_op`.
    pub fn now(default_op: &str, attributes: Vec<String>) -> AuditEntry {
        let actor = crate::audit::current();
        let (actor, request_id, operation) = match actor {
            Some(a) => (a.actor, a.request_id, a.operation),
            None => ("-".to_string(), None, default_op.to_string()),
        };
        AuditEntry {
            at: super::sql::timestamp_text(chrono::Utc::now()),
            actor,
            request_id,
            operation,
            attributes,
        }
    }

    /// The attribute names as stored (JSON text), with `members` when members changed.
    pub fn attributes_json(&self, members_changed: bool) -> String {
        let mut attrs = self.attributes.clone();
        if members_changed {
            attrs.push("members".into());
        }
        Value::from(attrs).to_string()
    }
}
