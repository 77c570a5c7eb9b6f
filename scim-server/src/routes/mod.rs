//! The SCIM HTTP routes (RFC 7644 §3) as an axum router.
//!
//! | method | path | section |
//! |---|---|---|
//! | GET, POST | `/{ResourceType}` (`/Users`, `/Groups`, custom) | §3.4.2, §3.3 |
//! | GET, PUT, PATCH, DELETE | `/{ResourceType}/{id}` | §3.4.1, §3.5.1, §3.5.2, §3.6 |
//! | POST | `/.search`, `/{ResourceType}/.search` | §3.4.3 |
//! | GET | `/ServiceProviderConfig`, `/ResourceTypes[/{id}]`, `/Schemas[/{id}]` | §4 |
//! | GET, PUT, PATCH, DELETE | `/Me` | §3.11 |
//! | POST | `/Bulk` | §3.7 |
//!
//! Unsupported methods are `405` and unknown paths `404`, both with SCIM error bodies.

mod body;
mod bulk;
mod discovery;
mod me;
mod request;
mod resources;
mod response;

use axum::http::Method;
use axum::routing::{get, post};
use axum::Router;
use scim_core::ScimError;

use crate::error::ApiError;
use crate::state::ScimState;

pub use body::ScimBody;
pub use request::base_url;

/// The SCIM router, to be nested by a host app (e.g. at `/scim/v2`) whatever the host's own
/// state type: the host passes the [`ScimState`] it keeps (typically a field of its state).
///
/// It carries its protective layers, so a host gets them by mounting it: load shedding
/// ([`crate::Settings::max_in_flight`], then `429` with `Retry-After`), a timeout
/// ([`crate::Settings::request_timeout`], then `408`), a SCIM error body (RFC 7644 §3.12) on
/// every error any layer produces, and a caught panic answered `500` with a SCIM body instead of
/// a dropped connection. Request ids, metrics and health endpoints are the host's choice: see
/// [`crate::config::app`] for the full stack the binary serves.
///
/// ```no_run
/// # async fn f(scim: scim_server::ScimState) {
/// let app: axum::Router = axum::Router::new()
///     .route("/health", axum::routing::get(|| async { "ok" }))
///     .nest("/scim/v2", scim_server::router(scim));
/// # }
/// ```
pub fn router<S>(state: ScimState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let timeout = state.settings().request_timeout;
    router_with_timeout(state, timeout)
}

/// [`router`] with another timeout than the settings'.
pub fn router_with_timeout<S>(state: ScimState, timeout: std::time::Duration) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    use tower_http::catch_panic::CatchPanicLayer;
    use tower_http::timeout::TimeoutLayer;
    let max_in_flight = state.settings().max_in_flight;
    bare_router(state)
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1))),
            crate::config::shed_load,
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::map_response(
            crate::config::scim_error_bodies,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            use axum::response::IntoResponse;
            ApiError::from(ScimError::new(500, None, "internal error")).into_response()
        }))
}

fn bare_router<S>(state: ScimState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let auth = axum::middleware::from_fn_with_state(state.clone(), crate::auth::require_auth);
    let routes: Router<ScimState> = Router::new()
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .route("/.search", post(resources::search_root))
        .route(
            "/Me",
            get(me::me)
                .put(me::me)
                .patch(me::me)
                .delete(me::me)
                .post(me::me),
        )
        .route("/{rt}", get(resources::list).post(resources::create))
        .route("/{rt}/.search", post(resources::search))
        .route(
            "/{rt}/{id}",
            get(resources::get_one)
                .put(resources::replace)
                .patch(resources::patch)
                .delete(resources::delete),
        );
    // Bulk operations call the same service functions as these routes (`bulk::run_one`).
    routes
        .route("/Bulk", post(bulk::bulk))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(auth)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ScimError::not_found("no such endpoint").into()
}

async fn method_not_allowed(method: Method) -> ApiError {
    ScimError::new(
        405,
        None,
        format!("method {method} is not supported on this endpoint"),
    )
    .into()
}
