//! Filters (RFC 7644 §3.4.2.2): AST, parser, canonical display and an in-memory evaluator.
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER
//! ```
//!
//! Precedence, highest first: grouping and value filters, `not`, `and`, `or` (RFC 7644 §3.4.2.2,
//! Table 5). Operators and keywords are case-insensitive. `and` / `or` associate to the left.
//!
//! The widely sent non-ABNF form `emails[type eq "work"].value eq "x"` is accepted and normalised to
//! the equivalent `emails[type eq "work" and value eq "x"]` (both conditions must hold for the
//! same element), which is what [`Filter`]'s `Display` prints.
//!
//! ```
//! use scim_core::filter::Filter;
//! let f: Filter = r#"userName Eq "bjensen" and not (emails co "example.org")"#.parse().unwrap();
//! assert_eq!(f.to_string(), r#"userName eq "bjensen" and not (emails co "example.org")"#);
//! ```
//!
//! Hostile input is bounded: at most [`MAX_FILTER_LEN`] bytes, [`MAX_DEPTH`] nested groups and
//! [`MAX_TERMS`] comparisons; the parser's recursion depth is bounded by the same limit.

pub(crate) mod eval;
pub(crate) mod parser;

use std::fmt;

use crate::error::ScimError;
use crate::path::AttrPath;

pub use eval::{fold, matches, parse_datetime};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 16 * 1024;
/// Deepest nesting of parentheses, `not` and value filters accepted.
pub const MAX_DEPTH: usize = 32;
/// Most attribute expressions accepted in one filter.
pub const MAX_TERMS: usize = 512;

/// A comparison operator (RFC 7644 §3.4.2.2, Table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// greater than or equal to
    Ge,
    /// less than
    Lt,
    /// less than or equal to
    Le,
}

impl CompareOp {
    /// The operator keyword in lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Parses an operator keyword, case-insensitively.
    pub fn parse(s: &str) -> Option<CompareOp> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    /// True for `gt`, `ge`, `lt`, `le`.
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }
}

/// A comparison value: a JSON literal (RFC 7644 §3.4.2.2 `compValue`).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A JSON number.
    Number(serde_json::Number),
    /// A JSON string (escapes decoded).
    String(String),
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::String(s) => {
                let quoted = serde_json::to_string(s).map_err(|_| fmt::Error)?;
                f.write_str(&quoted)
            }
        }
    }
}

impl From<&str> for CompValue {
    fn from(s: &str) -> Self {
        CompValue::String(s.to_string())
    }
}
impl From<String> for CompValue {
    fn from(s: String) -> Self {
        CompValue::String(s)
    }
}
impl From<bool> for CompValue {
    fn from(b: bool) -> Self {
        CompValue::Bool(b)
    }
}
impl From<i64> for CompValue {
    fn from(n: i64) -> Self {
        CompValue::Number(n.into())
    }
}

/// A parsed filter. Inside [`Filter::ValuePath`], attribute paths are relative to the element
/// (they name sub-attributes).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath op value`
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The literal.
        value: CompValue,
    },
    /// `attrPath pr`
    Present(AttrPath),
    /// `a and b`
    And(Box<Filter>, Box<Filter>),
    /// `a or b`
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`
    Not(Box<Filter>),
    /// `attrPath[valFilter]`: some element of a multi-valued attribute satisfies the inner filter.
    ValuePath {
        /// The multi-valued (or complex) attribute; no sub-attribute.
        path: AttrPath,
        /// The filter applied to each element.
        filter: Box<Filter>,
    },
}

impl Filter {
    /// Parses a filter. Errors are `400 invalidFilter` with the byte offset of the problem.
    pub fn parse(input: &str) -> Result<Filter, ScimError> {
        parser::parse_filter(input)
            .map_err(|e| ScimError::invalid_filter(format!("invalid filter: {e}")))
    }

    /// Parses a filter, returning the structured error.
    pub fn parse_detailed(input: &str) -> Result<Filter, FilterError> {
        parser::parse_filter(input)
    }

    /// `path op value`.
    pub fn compare(path: AttrPath, op: CompareOp, value: impl Into<CompValue>) -> Filter {
        Filter::Compare {
            path,
            op,
            value: value.into(),
        }
    }
    /// `path eq value`.
    pub fn eq(path: impl Into<String>, value: impl Into<CompValue>) -> Filter {
        Filter::compare(AttrPath::new(path), CompareOp::Eq, value)
    }
    /// `self and other`.
    pub fn and(self, other: Filter) -> Filter {
        Filter::And(Box::new(self), Box::new(other))
    }
    /// `self or other`.
    pub fn or(self, other: Filter) -> Filter {
        Filter::Or(Box::new(self), Box::new(other))
    }
    /// `not (self)`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }

    fn precedence(&self) -> u8 {
        match self {
            Filter::Or(..) => 1,
            Filter::And(..) => 2,
            _ => 3,
        }
    }

    /// Visits every attribute expression (comparison or presence) with the value-path attribute
    /// it sits under, if any.
    pub fn visit_terms<'a>(&'a self, f: &mut dyn FnMut(Option<&'a AttrPath>, &'a Filter)) {
        fn go<'a>(
            node: &'a Filter,
            parent: Option<&'a AttrPath>,
            f: &mut dyn FnMut(Option<&'a AttrPath>, &'a Filter),
        ) {
            match node {
                Filter::Compare { .. } | Filter::Present(_) => f(parent, node),
                Filter::And(a, b) | Filter::Or(a, b) => {
                    go(a, parent, f);
                    go(b, parent, f);
                }
                Filter::Not(a) => go(a, parent, f),
                Filter::ValuePath { path, filter } => go(filter, Some(path), f),
            }
        }
        go(self, None, f)
    }
}

impl std::str::FromStr for Filter {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn child(f: &mut fmt::Formatter<'_>, c: &Filter, min: u8) -> fmt::Result {
            if c.precedence() < min {
                write!(f, "({c})")
            } else {
                write!(f, "{c}")
            }
        }
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Filter::Present(p) => write!(f, "{p} pr"),
            // Left-associative: the right operand of the same operator needs parentheses to
            // keep the tree shape on re-parse.
            Filter::And(a, b) => {
                child(f, a, 2)?;
                f.write_str(" and ")?;
                child(f, b, 3)
            }
            Filter::Or(a, b) => {
                child(f, a, 1)?;
                f.write_str(" or ")?;
                child(f, b, 2)
            }
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

/// A filter or path syntax error with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at offset {offset}")]
pub struct FilterError {
    /// Byte offset into the input.
    pub offset: usize,
    /// What was wrong.
    pub message: String,
}
