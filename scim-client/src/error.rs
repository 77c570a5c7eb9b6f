//! Client errors: one type that keeps the HTTP status, the provider's body (SCIM or not), the
//! `scimType`, and whether retrying could help.

use scim_core::{ScimError, ScimType};

/// A failed SCIM call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error status.
    #[error("HTTP {status}{}: {}", scim_type.as_ref().map(|t| format!(" {t}")).unwrap_or_default(), detail)]
    Http {
        /// HTTP status.
        status: u16,
        /// `scimType`, when the body was a SCIM error.
        scim_type: Option<ScimType>,
        /// The SCIM `detail`, or the start of a non-SCIM body.
        detail: String,
        /// The raw response body, whatever its format.
        body: String,
        /// Whether the failure was throttling or unavailability.
        retryable: bool,
    },
    /// No response: connection failure or timeout.
    #[error("transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// The response could not be read as the expected type.
    #[error("cannot decode the response at {path}: {message}")]
    Decode {
        /// JSON path of the problem, e.g. `Resources[3].emails[0].primary`.
        path: String,
        /// What was wrong.
        message: String,
        /// The raw body.
        body: String,
    },
    /// The request could not be built (bad base URL, invalid input).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A paginated listing did not advance (the service returned the same page again).
    #[error("pagination did not advance: {0}")]
    Pagination(String),
}

impl Error {
    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
    /// The `scimType`, when the service sent a SCIM error.
    pub fn scim_type(&self) -> Option<&ScimType> {
        match self {
            Error::Http { scim_type, .. } => scim_type.as_ref(),
            _ => None,
        }
    }
    /// True for `404`.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
    /// Whether retrying later could succeed (throttling, unavailability, transport).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Http { retryable, .. } => *retryable,
            Error::Transport(_) => true,
            _ => false,
        }
    }

    pub(crate) fn from_response(status: u16, body: String) -> Error {
        let scim: Option<ScimError> = serde_json::from_str(&body).ok();
        let retryable = status == 429 || status == 503 || crate::retry::body_says_throttled(&body);
        match scim {
            Some(e) => Error::Http {
                status,
                scim_type: e.scim_type,
                detail: e.detail,
                body,
                retryable,
            },
            None => {
                let detail: String = body.chars().take(300).collect();
                Error::Http {
                    status,
                    scim_type: None,
                    detail,
                    body,
                    retryable,
                }
            }
        }
    }

    pub(crate) fn decode(body: &str, e: serde_path_to_error::Error<serde_json::Error>) -> Error {
        Error::Decode {
            path: e.path().to_string(),
            message: e.inner().to_string(),
            body: body.to_string(),
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;
