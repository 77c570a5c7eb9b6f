//! The request body extractor: size limit, media type, JSON — every failure a SCIM error.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use scim_core::ScimError;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::ScimState;

/// A JSON request body. Accepts `application/scim+json` and `application/json` (with any
/// parameters such as `charset`) or no `Content-Type`; larger than the configured limit is
/// `413`, another media type `415`, malformed JSON `400 invalidSyntax`.
#[derive(Debug)]
pub struct ScimBody(pub Value);

impl FromRequest<ScimState> for ScimBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ScimState) -> Result<Self, Self::Rejection> {
        read_json(req, state.settings().max_body)
            .await
            .map(ScimBody)
    }
}

/// Reads and parses a JSON body of at most `limit` bytes.
pub async fn read_json(req: Request, limit: usize) -> Result<Value, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !(mime.is_empty()
            || mime == "application/scim+json"
            || mime == "application/json"
            || mime == "*/*")
        {
            return Err(ScimError::new(
                415,
                None,
                format!("unsupported Content-Type {mime:?}: send application/scim+json"),
            )
            .into());
        }
    }
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| {
            ApiError::from(ScimError::new(
                413,
                None,
                format!("the request body is larger than {limit} bytes"),
            ))
        })?;
    if bytes.is_empty() {
        return Err(ScimError::invalid_syntax("the request body is empty").into());
    }
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::from(ScimError::invalid_syntax(format!("malformed JSON: {e}"))))?;
    if has_nul(&v) {
        return Err(ScimError::invalid_value(
            "NUL characters (\\u0000) are not allowed in SCIM values",
        )
        .into());
    }
    Ok(v)
}

/// True when a string or key anywhere in `v` contains U+0000, which SQL text columns cannot store.
pub fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}
