//! Attribute paths (RFC 7644 §3.10) and PATCH paths (RFC 7644 §3.5.2).
//!
//! ```text
//! attrPath  = [URI ":"] ATTRNAME *1subAttr
//! valuePath = attrPath "[" valFilter "]"
//! PATH      = attrPath / valuePath [subAttr]
//! ```
//!
//! A URI prefix is everything up to the last `:` of the token, so
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value` has the URN
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`, the attribute `manager` and the
//! sub-attribute `value`; the `.` inside `2.0` is never a separator. A path that names a whole
//! extension (`urn:…:2.0:User`) parses as URN `urn:…:2.0` + name `User`; [`AttrPath::full_urn`]
//! and the schema registry recognise it.

use std::fmt;

use crate::error::ScimError;
use crate::filter::{parser::Parser, Filter, FilterError};

/// A path to an attribute or sub-attribute, optionally URN-qualified. Immutable value type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URI prefix, if the path was qualified.
    pub urn: Option<String>,
    /// The attribute name, as written.
    pub name: String,
    /// The sub-attribute name, as written.
    pub sub: Option<String>,
}

impl AttrPath {
    /// A plain attribute path `name`.
    pub fn new(name: impl Into<String>) -> Self {
        AttrPath {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }
    /// Builder: add a sub-attribute.
    pub fn with_sub(mut self, sub: impl Into<String>) -> Self {
        self.sub = Some(sub.into());
        self
    }
    /// Builder: qualify with a schema URN.
    pub fn with_urn(mut self, urn: impl Into<String>) -> Self {
        self.urn = Some(urn.into());
        self
    }

    /// Parses an attribute path (no value filter), e.g. `name.givenName`,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`.
    /// Errors map to `400 invalidPath`.
    pub fn parse(input: &str) -> Result<AttrPath, ScimError> {
        let mut p = Parser::new(input.trim()).map_err(path_err)?;
        let path = p.attr_path().map_err(path_err)?;
        p.expect_end().map_err(path_err)?;
        Ok(path)
    }

    /// The URN and name joined (`urn:…:User` for a whole-extension path), when qualified.
    pub fn full_urn(&self) -> Option<String> {
        self.urn.as_ref().map(|u| format!("{u}:{}", self.name))
    }

    /// The same path without its sub-attribute.
    pub fn parent(&self) -> AttrPath {
        AttrPath {
            urn: self.urn.clone(),
            name: self.name.clone(),
            sub: None,
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for AttrPath {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttrPath::parse(s)
    }
}

/// A PATCH target path: an attribute path with an optional value filter (RFC 7644 §3.5.2).
///
/// For `emails[type eq "work"].value`, `attr` is `emails.value` and `filter` is `type eq "work"`:
/// the sub-attribute of `attr` is the one after the filter.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (and sub-attribute) addressed.
    pub attr: AttrPath,
    /// The value filter selecting elements of a multi-valued attribute.
    pub filter: Option<Filter>,
}

impl PatchPath {
    /// Parses a PATCH path. Errors map to `400 invalidPath` with the offset.
    pub fn parse(input: &str) -> Result<PatchPath, ScimError> {
        let mut p = Parser::new(input.trim()).map_err(path_err)?;
        let path = p.patch_path().map_err(path_err)?;
        p.expect_end().map_err(path_err)?;
        Ok(path)
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.filter {
            None => write!(f, "{}", self.attr),
            Some(filter) => {
                if let Some(u) = &self.attr.urn {
                    write!(f, "{u}:")?;
                }
                write!(f, "{}[{filter}]", self.attr.name)?;
                if let Some(s) = &self.attr.sub {
                    write!(f, ".{s}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for PatchPath {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PatchPath::parse(s)
    }
}

fn path_err(e: FilterError) -> ScimError {
    ScimError::invalid_path(format!("invalid path: {e}"))
}

/// True when `s` is a valid ATTRNAME (RFC 7643 §2.1: `ALPHA *(nameChar)`), also accepting a
/// leading `$` for `$ref`.
pub fn is_attr_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Splits a raw path token into URN, name and sub-attribute; `None` when malformed.
pub(crate) fn split_token(token: &str) -> Result<AttrPath, String> {
    let (urn, rest) = match token.rfind(':') {
        Some(i) => {
            let urn = &token[..i];
            if urn.is_empty() || !urn.contains(':') {
                return Err(format!("{token:?} is not a valid URN-qualified attribute"));
            }
            (Some(urn.to_string()), &token[i + 1..])
        }
        None => (None, token),
    };
    let mut parts = rest.split('.');
    let name = parts.next().unwrap_or_default();
    let sub = parts.next();
    if parts.next().is_some() {
        return Err(format!("{token:?} has more than one sub-attribute level"));
    }
    if !is_attr_name(name) {
        return Err(format!("{name:?} is not a valid attribute name"));
    }
    if let Some(s) = sub {
        if !is_attr_name(s) {
            return Err(format!("{s:?} is not a valid sub-attribute name"));
        }
    }
    Ok(AttrPath {
        urn,
        name: name.to_string(),
        sub: sub.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urn_is_not_split_on_version_dot() {
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            p.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.name, "manager");
        assert_eq!(p.sub.as_deref(), Some("value"));
    }

    #[test]
    fn value_path_with_sub() {
        let p = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr, AttrPath::new("emails").with_sub("value"));
        assert!(p.filter.is_some());
        assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
    }

    #[test]
    fn bad_paths() {
        for bad in [
            "",
            "1abc",
            "name.",
            "a.b.c",
            "emails[",
            "emails[type eq]",
            "members[value eq \"x\"]x",
            ":a",
        ] {
            let e = PatchPath::parse(bad).unwrap_err();
            assert_eq!(e.scim_type, Some(crate::ScimType::InvalidPath), "{bad}");
        }
    }
}
