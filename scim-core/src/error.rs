//! SCIM errors (RFC 7644 §3.12, RFC 9865 §2.4).
//!
//! Every failure anywhere in the library ends up as one [`ScimError`]: an HTTP status, an optional
//! `scimType` and a human-readable `detail`. Its JSON form is exactly the RFC 7644 §3.12 error body:
//!
//! ```
//! use scim_core::{ScimError, ScimType};
//! let err = ScimError::bad_request(ScimType::InvalidFilter, "unexpected token at offset 4");
//! let body = serde_json::to_value(&err).unwrap();
//! assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
//! assert_eq!(body["status"], "400"); // a string, as the RFC shows
//! assert_eq!(body["scimType"], "invalidFilter");
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// URN of the error message schema (RFC 7644 §3.12).
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` detail error keyword (RFC 7644 §3.12, Table 9; RFC 9865 §2.4).
///
/// An open vocabulary: values this library does not know are kept in [`ScimType::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScimType {
    /// The filter syntax was invalid or the filter is not supported (400).
    InvalidFilter,
    /// The filter yields too many results to process (400).
    TooMany,
    /// One or more attribute values are already in use or reserved (409).
    Uniqueness,
    /// The modification is incompatible with the attribute's mutability (400).
    Mutability,
    /// The request body structure was invalid or did not match the schema (400).
    InvalidSyntax,
    /// The `path` attribute was invalid or malformed (400).
    InvalidPath,
    /// The `path` did not yield an attribute or value that could be operated on (400).
    NoTarget,
    /// A required value was missing or the value was not compatible with the attribute type (400).
    InvalidValue,
    /// The protocol version is not supported (400).
    InvalidVers,
    /// The request cannot be completed because it contains sensitive information (403).
    Sensitive,
    /// RFC 9865: the cursor value is invalid or was tampered with (400).
    InvalidCursor,
    /// RFC 9865: the cursor has expired (400).
    ExpiredCursor,
    /// RFC 9865: the `count` value is not acceptable for cursor pagination (400).
    InvalidCount,
    /// Any other keyword, kept as received.
    Other(String),
}

impl ScimType {
    /// The keyword as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
            ScimType::InvalidCursor => "invalidCursor",
            ScimType::ExpiredCursor => "expiredCursor",
            ScimType::InvalidCount => "invalidCount",
            ScimType::Other(s) => s,
        }
    }

    /// Parses a keyword; matching is case-insensitive, unknown keywords become [`ScimType::Other`].
    pub fn parse(s: &str) -> ScimType {
        const ALL: [ScimType; 13] = [
            ScimType::InvalidFilter,
            ScimType::TooMany,
            ScimType::Uniqueness,
            ScimType::Mutability,
            ScimType::InvalidSyntax,
            ScimType::InvalidPath,
            ScimType::NoTarget,
            ScimType::InvalidValue,
            ScimType::InvalidVers,
            ScimType::Sensitive,
            ScimType::InvalidCursor,
            ScimType::ExpiredCursor,
            ScimType::InvalidCount,
        ];
        ALL.into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .unwrap_or_else(|| ScimType::Other(s.to_string()))
    }

    /// The HTTP status RFC 7644 Table 9 pairs with this keyword.
    pub fn default_status(&self) -> u16 {
        match self {
            ScimType::Uniqueness => 409,
            ScimType::Sensitive => 403,
            _ => 400,
        }
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ScimType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ScimType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ScimType::parse(&s))
    }
}

/// A SCIM error: HTTP status, optional `scimType`, and a detail message (RFC 7644 §3.12).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}{}: {detail}", scim_type.as_ref().map(|t| format!(" {t}")).unwrap_or_default())]
pub struct ScimError {
    /// HTTP status code.
    pub status: u16,
    /// The detail error keyword, when one applies.
    pub scim_type: Option<ScimType>,
    /// A human-readable message that points at the problem.
    pub detail: String,
}

impl ScimError {
    /// An error with any status and keyword.
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    /// An error whose status is the one RFC 7644 pairs with `scim_type` (400, 403 or 409).
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        let status = scim_type.default_status();
        ScimError::new(status, Some(scim_type), detail)
    }

    /// `400 invalidFilter`.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }
    /// `400 invalidPath`.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }
    /// `400 invalidValue`.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }
    /// `400 invalidSyntax`.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }
    /// `400 noTarget`.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }
    /// `400 mutability`.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }
    /// `409 uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Uniqueness, detail)
    }
    /// `400 tooMany`.
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::TooMany, detail)
    }
    /// `404` without a keyword.
    pub fn not_found(detail: impl Into<String>) -> Self {
        ScimError::new(404, None, detail)
    }
    /// `400` without a keyword.
    pub fn bad_request_plain(detail: impl Into<String>) -> Self {
        ScimError::new(400, None, detail)
    }

    /// Maps a JSON decoding error to `400 invalidSyntax`, keeping serde's line/column message.
    pub fn from_json_error(err: &serde_json::Error) -> Self {
        match err.classify() {
            serde_json::error::Category::Data => {
                ScimError::invalid_value(format!("invalid value: {err}"))
            }
            _ => ScimError::invalid_syntax(format!("malformed JSON: {err}")),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    schemas: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scim_type: Option<ScimType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(
        serialize_with = "status_as_string",
        deserialize_with = "status_from_any"
    )]
    status: u16,
}

fn status_as_string<S: Serializer>(v: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

/// Accepts `"400"` (the RFC's form), `400` (what many servers send) and `{"code": "400"}`.
pub(crate) fn status_from_any<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Any {
        N(u16),
        S(String),
        // RFC 7644 §3.7.1 and §3.7.2 print `"status": {"code": "201"}` in two bulk examples.
        Code { code: Box<Any> },
    }
    fn get<E: serde::de::Error>(a: Any) -> Result<u16, E> {
        match a {
            Any::N(n) => Ok(n),
            Any::S(s) => s.trim().parse().map_err(E::custom),
            Any::Code { code } => get(*code),
        }
    }
    get(Any::deserialize(d)?)
}

impl Serialize for ScimError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            schemas: vec![ERROR_SCHEMA.to_string()],
            scim_type: self.scim_type.clone(),
            detail: Some(self.detail.clone()),
            status: self.status,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ScimError {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        Ok(ScimError {
            status: w.status,
            scim_type: w.scim_type,
            detail: w.detail.unwrap_or_default(),
        })
    }
}

/// Result alias used throughout the crate.
pub type ScimResult<T> = Result<T, ScimError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc_body() {
        let e = ScimError::uniqueness("userName bjensen is taken");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "schemas": [ERROR_SCHEMA],
                "scimType": "uniqueness",
                "detail": "userName bjensen is taken",
                "status": "409"
            })
        );
        let back: ScimError = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn every_keyword_round_trips() {
        for k in [
            "invalidFilter",
            "tooMany",
            "uniqueness",
            "mutability",
            "invalidSyntax",
            "invalidPath",
            "noTarget",
            "invalidValue",
            "invalidVers",
            "sensitive",
            "invalidCursor",
            "expiredCursor",
            "invalidCount",
        ] {
            let t = ScimType::parse(k);
            assert!(!matches!(t, ScimType::Other(_)), "{k}");
            assert_eq!(t.as_str(), k);
        }
        assert_eq!(ScimType::parse("weird"), ScimType::Other("weird".into()));
        assert_eq!(ScimType::Sensitive.default_status(), 403);
    }

    #[test]
    fn accepts_numeric_status() {
        let e: ScimError =
            serde_json::from_str(r#"{"schemas":[],"status":404,"detail":"gone"}"#).unwrap();
        assert_eq!(e.status, 404);
        assert_eq!(e.scim_type, None);
    }
}
