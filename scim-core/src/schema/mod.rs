//! Schema model (RFC 7643 §2, §7) and the schema registry.
//!
//! A [`Schema`] is a list of [`AttributeDef`]s; its JSON form is the RFC 7643 §7 representation
//! served at `/Schemas`, so schemas can be loaded from and written to JSON documents. The
//! [`SchemaRegistry`] holds every schema and [`ResourceType`] a service knows and resolves attribute
//! paths against them, case-insensitively (RFC 7643 §2.1).

mod builtin;
mod registry;

use serde::{Deserialize, Serialize};

pub use builtin::{ENTERPRISE_USER, GROUP, RESOURCE_TYPE, SCHEMA, SERVICE_PROVIDER_CONFIG, USER};
pub use registry::{ResolvedAttr, ResourceType, SchemaExtension, SchemaRegistry, Target};

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum AttributeType {
    /// A sequence of characters (§2.3.1).
    #[default]
    String,
    /// `true` or `false` (§2.3.2).
    Boolean,
    /// A real number (§2.3.3).
    Decimal,
    /// A whole number (§2.3.4).
    Integer,
    /// An xsd:dateTime string (§2.3.5).
    DateTime,
    /// Base64-encoded binary (§2.3.6).
    Binary,
    /// A URI reference (§2.3.7).
    Reference,
    /// A set of sub-attributes (§2.3.8).
    Complex,
}

/// Whether and how an attribute may be modified (RFC 7643 §7 `mutability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    /// Set by the service provider only.
    ReadOnly,
    /// Updated and read by the client (the default).
    #[default]
    ReadWrite,
    /// Set once, when unassigned, then never changed.
    Immutable,
    /// Set by the client, never returned (e.g. `password`).
    WriteOnly,
}

/// When an attribute is returned in a response (RFC 7643 §7 `returned`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    /// Always returned, whatever `attributes`/`excludedAttributes` say.
    Always,
    /// Never returned.
    Never,
    /// Returned unless excluded (the default).
    #[default]
    Default,
    /// Returned only when named in `attributes`.
    Request,
}

/// How the service provider enforces uniqueness (RFC 7643 §7 `uniqueness`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    /// No uniqueness (the default).
    #[default]
    None,
    /// Unique within the service provider (within a tenant, for a multi-tenant server).
    Server,
    /// Globally unique.
    Global,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An attribute definition (RFC 7643 §7 `attributes` / `subAttributes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AttributeDef {
    /// The attribute's name, in its canonical spelling.
    pub name: String,
    /// The data type.
    #[serde(rename = "type", default)]
    pub kind: AttributeType,
    /// Whether the attribute is multi-valued.
    #[serde(default)]
    pub multi_valued: bool,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the attribute is required.
    #[serde(default)]
    pub required: bool,
    /// Whether string comparisons are case-sensitive (RFC default: false).
    #[serde(default)]
    pub case_exact: bool,
    /// Mutability.
    #[serde(default)]
    pub mutability: Mutability,
    /// Returned rule.
    #[serde(default)]
    pub returned: Returned,
    /// Uniqueness.
    #[serde(default)]
    pub uniqueness: Uniqueness,
    /// Suggested canonical values (RFC 7643 §7: a service provider MAY accept others).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    /// For references: the resource types or `external` / `uri`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    /// Sub-attributes of a complex attribute.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<AttributeDef>,
    /// Non-standard: enforce `canonical_values` on write. Not part of the wire form.
    #[serde(
        default,
        skip_serializing_if = "is_false",
        rename = "x-strictCanonicalValues"
    )]
    pub strict_canonical_values: bool,
}

impl AttributeDef {
    /// A single-valued, optional, readWrite, non-caseExact attribute of the given type.
    pub fn new(name: impl Into<String>, kind: AttributeType) -> Self {
        AttributeDef {
            name: name.into(),
            kind,
            multi_valued: false,
            description: None,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Vec::new(),
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
            strict_canonical_values: false,
        }
    }
    /// Builder: multi-valued.
    pub fn multi_valued(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    /// Builder: required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Builder: case-exact.
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    /// Builder: mutability.
    pub fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    /// Builder: returned.
    pub fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    /// Builder: uniqueness.
    pub fn uniqueness(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    /// Builder: description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }
    /// Builder: sub-attributes (makes the attribute complex).
    pub fn sub_attributes(mut self, subs: Vec<AttributeDef>) -> Self {
        self.kind = AttributeType::Complex;
        self.sub_attributes = subs;
        self
    }
    /// Builder: canonical values.
    pub fn canonical_values<I: IntoIterator<Item = S>, S: Into<String>>(mut self, v: I) -> Self {
        self.canonical_values = v.into_iter().map(Into::into).collect();
        self
    }
    /// Builder: reference types.
    pub fn reference_types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, v: I) -> Self {
        self.reference_types = v.into_iter().map(Into::into).collect();
        self
    }

    /// Finds a sub-attribute by name, case-insensitively.
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// True for complex attributes.
    pub fn is_complex(&self) -> bool {
        self.kind == AttributeType::Complex
    }
}

/// A schema (RFC 7643 §7): a URI identifier and its attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Schema {
    /// The schema URI, e.g. `urn:ietf:params:scim:schemas:core:2.0:User`.
    pub id: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The attributes.
    #[serde(default)]
    pub attributes: Vec<AttributeDef>,
}

impl Schema {
    /// A schema with the given URI, name and attributes.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        attributes: Vec<AttributeDef>,
    ) -> Self {
        Schema {
            id: id.into(),
            name: Some(name.into()),
            description: None,
            attributes,
        }
    }

    /// Parses an RFC 7643 §7 schema document (as served at `/Schemas/{id}`).
    ///
    /// Errors are `400 invalidSyntax` / `invalidValue` naming the problem.
    pub fn from_json(value: &serde_json::Value) -> Result<Schema, crate::ScimError> {
        let schema: Schema = serde_json::from_value(value.clone()).map_err(|e| {
            crate::ScimError::invalid_value(format!("invalid schema document: {e}"))
        })?;
        schema.check()?;
        Ok(schema)
    }

    /// Checks internal consistency: names valid and unique, complex attributes have
    /// sub-attributes, sub-attributes nest at most two levels (RFC 7643 §2.3.8).
    pub fn check(&self) -> Result<(), crate::ScimError> {
        fn check_attrs(
            schema: &str,
            attrs: &[AttributeDef],
            depth: usize,
        ) -> Result<(), crate::ScimError> {
            let mut seen = std::collections::HashSet::new();
            for a in attrs {
                if !crate::path::is_attr_name(&a.name) {
                    return Err(crate::ScimError::invalid_value(format!(
                        "schema {schema}: invalid attribute name {:?}",
                        a.name
                    )));
                }
                if !seen.insert(a.name.to_ascii_lowercase()) {
                    return Err(crate::ScimError::invalid_value(format!(
                        "schema {schema}: duplicate attribute {:?}",
                        a.name
                    )));
                }
                if a.is_complex() {
                    // RFC 7643 §2.3.8 forbids complex sub-attributes, but its own §8.7.2 Schema
                    // schema nests `subAttributes` inside `attributes`: allow one extra level.
                    if depth > 1 {
                        return Err(crate::ScimError::invalid_value(format!(
                            "schema {schema}: sub-attribute {:?} is nested too deeply",
                            a.name
                        )));
                    }
                    check_attrs(schema, &a.sub_attributes, depth + 1)?;
                } else if !a.sub_attributes.is_empty() {
                    return Err(crate::ScimError::invalid_value(format!(
                        "schema {schema}: attribute {:?} has sub-attributes but is not complex",
                        a.name
                    )));
                }
            }
            Ok(())
        }
        if !self.id.contains(':') {
            return Err(crate::ScimError::invalid_value(format!(
                "schema id {:?} is not a URI",
                self.id
            )));
        }
        check_attrs(&self.id, &self.attributes, 0)
    }

    /// Finds a top-level attribute by name, case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 JSON representation, with `schemas` and `meta` for `/Schemas`.
    pub fn to_resource_json(&self, location: Option<&str>) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            let mut out = serde_json::Map::new();
            out.insert("schemas".into(), serde_json::json!([builtin::SCHEMA]));
            for (k, val) in std::mem::take(obj) {
                out.insert(k, val);
            }
            let mut meta = serde_json::Map::new();
            meta.insert("resourceType".into(), "Schema".into());
            if let Some(l) = location {
                meta.insert("location".into(), l.into());
            }
            out.insert("meta".into(), meta.into());
            return out.into();
        }
        v
    }
}

/// The common attributes every resource carries (RFC 7643 §3.1): `id`, `externalId`, `meta`.
pub fn common_attributes() -> &'static [AttributeDef] {
    use std::sync::OnceLock;
    static COMMON: OnceLock<Vec<AttributeDef>> = OnceLock::new();
    COMMON.get_or_init(|| {
        vec![
            AttributeDef::new("id", AttributeType::String)
                .case_exact()
                .mutability(Mutability::ReadOnly)
                .returned(Returned::Always)
                .uniqueness(Uniqueness::Server)
                .description("A unique identifier for a SCIM resource as defined by the service provider."),
            AttributeDef::new("externalId", AttributeType::String)
                .case_exact()
                .description("A String that is an identifier for the resource as defined by the provisioning client."),
            AttributeDef::new("meta", AttributeType::Complex)
                .mutability(Mutability::ReadOnly)
                .description("A complex attribute containing resource metadata.")
                .sub_attributes(vec![
                    AttributeDef::new("resourceType", AttributeType::String)
                        .case_exact()
                        .mutability(Mutability::ReadOnly),
                    AttributeDef::new("created", AttributeType::DateTime)
                        .mutability(Mutability::ReadOnly),
                    AttributeDef::new("lastModified", AttributeType::DateTime)
                        .mutability(Mutability::ReadOnly),
                    AttributeDef::new("location", AttributeType::Reference)
                        .case_exact()
                        .mutability(Mutability::ReadOnly)
                        .reference_types(["uri"]),
                    AttributeDef::new("version", AttributeType::String)
                        .case_exact()
                        .mutability(Mutability::ReadOnly),
                ]),
        ]
    })
}
