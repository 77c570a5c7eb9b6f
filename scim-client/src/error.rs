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
    /// The service answered with a redirect that was not followed: redirects are off unless
    /// [`crate::ClientBuilder::allow_same_host_redirects`] is set, and even then a redirect to
    /// another host, or one that would turn a POST into a GET, is refused.
    #[error("HTTP {status} redirect{} not followed: {reason}", location.as_ref().map(|l| format!(" to {l}")).unwrap_or_default())]
    Redirect {
        /// HTTP status (`301`, `302`, `303`, `307`, `308`, …).
        status: u16,
        /// The `Location` header.
        location: Option<String>,
        /// Why it was not followed.
        reason: String,
    },
    /// The response body is larger than [`crate::ClientBuilder::max_response_bytes`];
    /// reading stopped at the limit.
    #[error("the response (HTTP {status}) is larger than the limit of {limit} bytes")]
    ResponseTooLarge {
        /// HTTP status of the response.
        status: u16,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The OAuth 2.0 token request failed. The message holds the endpoint's `error` and
    /// `error_description` or names the field that was wrong, never the response body (it may
    /// hold the `access_token`) nor the client secret.
    #[error("OAuth token request failed{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Token {
        /// HTTP status of the token endpoint's answer.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } | Error::Redirect { status, .. } => Some(*status),
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
            Error::Token {
                status: Some(s), ..
            } => *s == 429 || *s >= 500,
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
