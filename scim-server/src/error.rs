//! HTTP rendering of errors: every error is an RFC 7644 §3.12 body with
//! `Content-Type: application/scim+json`, never plain text or HTML.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use scim_core::ScimError;

use crate::store::StoreError;

/// The SCIM media type (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    /// The SCIM error.
    pub error: ScimError,
    /// Extra headers (e.g. `WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    /// Adds a header.
    pub fn with_header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }
}

impl From<ScimError> for ApiError {
    fn from(error: ScimError) -> Self {
        ApiError {
            error,
            headers: Vec::new(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let error = match e {
            StoreError::NotFound => ScimError::not_found("resource not found"),
            StoreError::Uniqueness(d) => ScimError::uniqueness(d),
            StoreError::VersionMismatch => ScimError::new(
                412,
                None,
                "the resource has changed: its version does not match If-Match",
            ),
            StoreError::Invalid(e) => e,
            StoreError::Busy => ScimError::new(
                429,
                None,
                "the service is busy; retry after the Retry-After delay",
            ),
            StoreError::Backend(detail) => {
                // Never caused by the client; the detail stays in the log.
                tracing::error!(%detail, "storage failure");
                ScimError::new(
                    503,
                    None,
                    "the service is temporarily unavailable; retry later",
                )
            }
        };
        let mut out = ApiError::from(error);
        if out.error.status == 503 || out.error.status == 429 {
            out = out.with_header(header::RETRY_AFTER, "5");
        }
        out
    }
}

/// Builds a SCIM JSON response.
pub fn scim_json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    scim_json_bytes(
        status,
        serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()),
    )
}

/// A SCIM JSON response of JSON text already written (see [`crate::render::JsonText`]).
pub fn scim_json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON))],
        bytes,
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = scim_json(status, &self.error);
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
