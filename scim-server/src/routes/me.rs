//! `/Me` (RFC 7644 §3.11): an alias for the authenticated subject's User. Bearer tokens name a
//! tenant, not a user, so `/Me` answers `501 Not Implemented` unless the credential carries a
//! subject (an OAuth2 JWT `sub`), which is matched to a User's `userName`.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use scim_core::filter::Filter;
use scim_core::{AttrPath, CompareOp, Context, ScimError};

use crate::auth::Principal;
use crate::error::{scim_json, ApiResult};
use crate::state::ScimState;
use crate::store::{Load, Query};

/// Any method on `/Me`.
pub async fn me(
    State(state): State<ScimState>,
    Extension(p): Extension<Principal>,
    req: Request,
) -> ApiResult<Response> {
    let Some(subject) = p.subject.clone() else {
        return Err(ScimError::new(
            501,
            None,
            "/Me needs a credential that names a user (an OAuth2 token with a subject); this token names a tenant only",
        )
        .into());
    };
    if req.method() != axum::http::Method::GET {
        return Err(ScimError::new(
            501,
            None,
            "/Me supports GET only; use /Users/{id} to change the user",
        )
        .into());
    }
    let ctx = Context::new(state.registry(), "User")?;
    let q = Query {
        filter: Some(Filter::compare(
            AttrPath::new("userName"),
            CompareOp::Eq,
            subject.as_str(),
        )),
        limit: 2,
        load: Load {
            members: false,
            groups: true,
        },
        ..Query::default()
    };
    let (items, _) = state.store().query(&p.tenant, &ctx, &q).await?;
    let Some(user) = items.first() else {
        return Err(ScimError::not_found(format!("no User with userName {subject:?}")).into());
    };
    let base = super::request::base_url(&state, req.headers());
    let body = crate::render::render(&ctx, &base, user);
    let proj = scim_core::Projection::all().apply(&body, &ctx);
    Ok((StatusCode::OK, scim_json(StatusCode::OK, &proj)).into_response())
}
