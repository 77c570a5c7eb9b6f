//! The schema registry: schemas and resource types, and the one attribute resolver every other
//! module goes through (RFC 7643 §6, §7; RFC 7644 §3.10).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{builtin, common_attributes, AttributeDef, Schema};
use crate::error::ScimError;
use crate::path::AttrPath;

/// A schema extension named by a resource type (RFC 7643 §6 `schemaExtensions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SchemaExtension {
    /// The extension schema URI.
    pub schema: String,
    /// Whether resources must carry the extension.
    #[serde(default)]
    pub required: bool,
}

impl SchemaExtension {
    /// An extension reference.
    pub fn new(schema: impl Into<String>, required: bool) -> Self {
        SchemaExtension {
            schema: schema.into(),
            required,
        }
    }
}

/// A resource type (RFC 7643 §6): its endpoint, core schema and extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResourceType {
    /// The resource type's id (usually equal to its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name, e.g. `User`; also `meta.resourceType` of its resources.
    pub name: String,
    /// Endpoint relative to the base URL, e.g. `/Users`.
    pub endpoint: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The core schema URI.
    pub schema: String,
    /// Extensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_extensions: Vec<SchemaExtension>,
}

impl ResourceType {
    /// A resource type with no extensions.
    pub fn new(
        name: impl Into<String>,
        endpoint: impl Into<String>,
        schema: impl Into<String>,
    ) -> Self {
        let name = name.into();
        ResourceType {
            id: Some(name.clone()),
            name,
            endpoint: endpoint.into(),
            description: None,
            schema: schema.into(),
            schema_extensions: Vec::new(),
        }
    }
    /// Builder: add an extension.
    pub fn with_extension(mut self, schema: impl Into<String>, required: bool) -> Self {
        self.schema_extensions
            .push(SchemaExtension::new(schema, required));
        self
    }
    /// Builder: description.
    pub fn with_description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    /// True when `uri` is this type's core schema or one of its extensions (case-insensitive).
    pub fn has_schema(&self, uri: &str) -> bool {
        self.schema.eq_ignore_ascii_case(uri)
            || self
                .schema_extensions
                .iter()
                .any(|e| e.schema.eq_ignore_ascii_case(uri))
    }

    /// The extension URI matching `uri` case-insensitively, in its canonical spelling.
    pub fn extension(&self, uri: &str) -> Option<&SchemaExtension> {
        self.schema_extensions
            .iter()
            .find(|e| e.schema.eq_ignore_ascii_case(uri))
    }

    /// The RFC 7643 §6 JSON representation for `/ResourceTypes`.
    pub fn to_resource_json(&self, location: Option<&str>) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        out.insert(
            "schemas".into(),
            serde_json::json!([builtin::RESOURCE_TYPE]),
        );
        if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(self) {
            out.extend(m);
        }
        let mut meta = serde_json::Map::new();
        meta.insert("resourceType".into(), "ResourceType".into());
        if let Some(l) = location {
            meta.insert("location".into(), l.into());
        }
        out.insert("meta".into(), meta.into());
        out.into()
    }
}

/// The result of resolving an attribute path against a resource type.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttr<'a> {
    /// The schema that defines the attribute (`None` for the common attributes id/externalId/meta).
    pub schema: Option<&'a Schema>,
    /// True when the attribute lives under an extension's URN key in JSON.
    pub in_extension: bool,
    /// The top-level attribute.
    pub attr: &'a AttributeDef,
    /// The sub-attribute, when the path names one.
    pub sub: Option<&'a AttributeDef>,
}

impl<'a> ResolvedAttr<'a> {
    /// The definition of the addressed (sub-)attribute.
    pub fn def(&self) -> &'a AttributeDef {
        self.sub.unwrap_or(self.attr)
    }
    /// The JSON key of the extension object holding the attribute, if any.
    pub fn extension_key(&self) -> Option<&'a str> {
        if self.in_extension {
            self.schema.map(|s| s.id.as_str())
        } else {
            None
        }
    }
    /// The canonical path (URN-qualified for extension attributes).
    pub fn canonical_path(&self) -> AttrPath {
        AttrPath {
            urn: self.extension_key().map(str::to_string),
            name: self.attr.name.clone(),
            sub: self.sub.map(|s| s.name.clone()),
        }
    }
}

/// What a path resolves to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// An attribute or sub-attribute.
    Attr(ResolvedAttr<'a>),
    /// A whole extension (`urn:…:enterprise:2.0:User`).
    Extension(&'a Schema),
}

/// Schemas and resource types known to a service, with attribute resolution.
///
/// [`SchemaRegistry::default`] holds the RFC 7643 built-ins: the User, Group and EnterpriseUser
/// schemas, the discovery schemas, and the `User` (with the optional enterprise extension) and
/// `Group` resource types. Custom schemas, extensions and resource types can be added at run time.
#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    schemas: Vec<Arc<Schema>>,
    by_id: HashMap<String, usize>,
    resource_types: Vec<ResourceType>,
    /// See [`SchemaRegistry::revision`].
    revision: u64,
}

/// A process-wide source of registry revisions.
fn next_revision() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Default for SchemaRegistry {
    fn default() -> Self {
        let mut r = SchemaRegistry::empty();
        for s in builtin::all() {
            r.add_schema(s.clone()).expect("built-in schemas are valid");
        }
        r.add_resource_type(
            ResourceType::new("User", "/Users", builtin::USER)
                .with_description("User Account")
                .with_extension(builtin::ENTERPRISE_USER, false),
        )
        .expect("built-in resource type");
        r.add_resource_type(
            ResourceType::new("Group", "/Groups", builtin::GROUP).with_description("Group"),
        )
        .expect("built-in resource type");
        r
    }
}

impl SchemaRegistry {
    /// A registry with no schemas and no resource types.
    pub fn empty() -> Self {
        SchemaRegistry {
            schemas: Vec::new(),
            by_id: HashMap::new(),
            resource_types: Vec::new(),
            revision: next_revision(),
        }
    }

    /// A number that identifies this registry's content within the process: a new registry
    /// and every change get a value never used before (a clone keeps its original's). Caches of
    /// values derived from the schemas can key on it.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// A shared registry with the built-ins, created once.
    pub fn builtin() -> &'static SchemaRegistry {
        static R: std::sync::OnceLock<SchemaRegistry> = std::sync::OnceLock::new();
        R.get_or_init(SchemaRegistry::default)
    }

    /// Adds (or replaces) a schema after checking it.
    pub fn add_schema(&mut self, schema: Schema) -> Result<(), ScimError> {
        schema.check()?;
        self.revision = next_revision();
        let key = schema.id.to_ascii_lowercase();
        match self.by_id.get(&key) {
            Some(&i) => self.schemas[i] = Arc::new(schema),
            None => {
                self.by_id.insert(key, self.schemas.len());
                self.schemas.push(Arc::new(schema));
            }
        }
        Ok(())
    }

    /// Adds a schema from its RFC 7643 §7 JSON document.
    pub fn add_schema_json(&mut self, doc: &serde_json::Value) -> Result<(), ScimError> {
        self.add_schema(Schema::from_json(doc)?)
    }

    /// Adds (or replaces, by name) a resource type; its schemas must already be registered.
    pub fn add_resource_type(&mut self, rt: ResourceType) -> Result<(), ScimError> {
        self.revision = next_revision();
        for uri in std::iter::once(&rt.schema).chain(rt.schema_extensions.iter().map(|e| &e.schema))
        {
            if self.schema(uri).is_none() {
                return Err(ScimError::invalid_value(format!(
                    "resource type {}: schema {uri} is not registered",
                    rt.name
                )));
            }
        }
        if !rt.endpoint.starts_with('/') {
            return Err(ScimError::invalid_value(format!(
                "resource type {}: endpoint must start with '/'",
                rt.name
            )));
        }
        match self
            .resource_types
            .iter_mut()
            .find(|r| r.name.eq_ignore_ascii_case(&rt.name))
        {
            Some(existing) => *existing = rt,
            None => self.resource_types.push(rt),
        }
        Ok(())
    }

    /// Adds an extension to an existing resource type (registering the schema first).
    pub fn add_extension(
        &mut self,
        resource_type: &str,
        schema: Schema,
        required: bool,
    ) -> Result<(), ScimError> {
        let uri = schema.id.clone();
        self.add_schema(schema)?;
        let rt = self
            .resource_types
            .iter_mut()
            .find(|r| r.name.eq_ignore_ascii_case(resource_type))
            .ok_or_else(|| {
                ScimError::not_found(format!("unknown resource type {resource_type}"))
            })?;
        if rt.extension(&uri).is_none() {
            rt.schema_extensions
                .push(SchemaExtension::new(uri, required));
        }
        Ok(())
    }

    /// A schema by URI, case-insensitively.
    pub fn schema(&self, uri: &str) -> Option<&Schema> {
        self.by_id
            .get(&uri.to_ascii_lowercase())
            .map(|&i| &*self.schemas[i])
    }

    /// Every schema, in registration order.
    pub fn schemas(&self) -> impl Iterator<Item = &Schema> {
        self.schemas.iter().map(|s| &**s)
    }

    /// A resource type by name, case-insensitively.
    pub fn resource_type(&self, name: &str) -> Option<&ResourceType> {
        self.resource_types
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }

    /// A resource type by endpoint (`/Users`), case-insensitively.
    pub fn resource_type_by_endpoint(&self, endpoint: &str) -> Option<&ResourceType> {
        self.resource_types
            .iter()
            .find(|r| r.endpoint.eq_ignore_ascii_case(endpoint))
    }

    /// Every resource type.
    pub fn resource_types(&self) -> &[ResourceType] {
        &self.resource_types
    }

    /// Resolves an attribute path for a resource type.
    ///
    /// Unqualified names are looked up in the common attributes, then the core schema, then the
    /// extensions (a lenience: RFC 7644 §3.10 says unqualified names belong to the core schema,
    /// but clients do send bare extension attribute names). Returns `None` when nothing matches.
    pub fn resolve<'a>(&'a self, rt: &ResourceType, path: &AttrPath) -> Option<Target<'a>> {
        let core = self.schema(&rt.schema)?;
        let attr_in = |schema: &'a Schema, in_ext: bool| -> Option<Target<'a>> {
            let attr = schema.attribute(&path.name)?;
            let sub = match &path.sub {
                Some(s) => Some(attr.sub_attribute(s)?),
                None => None,
            };
            Some(Target::Attr(ResolvedAttr {
                schema: Some(schema),
                in_extension: in_ext,
                attr,
                sub,
            }))
        };
        match &path.urn {
            Some(urn) => {
                if let Some(full) = path.full_urn() {
                    if path.sub.is_none() {
                        if let Some(ext) = rt.extension(&full) {
                            return self.schema(&ext.schema).map(Target::Extension);
                        }
                    }
                }
                if urn.eq_ignore_ascii_case(&rt.schema) {
                    if let Some(t) = self.common(path) {
                        return Some(t);
                    }
                    return attr_in(core, false);
                }
                let ext = rt.extension(urn)?;
                attr_in(self.schema(&ext.schema)?, true)
            }
            None => self
                .common(path)
                .or_else(|| attr_in(core, false))
                .or_else(|| {
                    rt.schema_extensions
                        .iter()
                        .filter_map(|e| self.schema(&e.schema))
                        .find_map(|s| attr_in(s, true))
                }),
        }
    }

    /// Resolves a path that must name an attribute (not a whole extension).
    pub fn resolve_attr<'a>(
        &'a self,
        rt: &ResourceType,
        path: &AttrPath,
    ) -> Option<ResolvedAttr<'a>> {
        match self.resolve(rt, path)? {
            Target::Attr(a) => Some(a),
            Target::Extension(_) => None,
        }
    }

    fn common<'a>(&'a self, path: &AttrPath) -> Option<Target<'a>> {
        let attr = common_attributes()
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(&path.name))?;
        let sub = match &path.sub {
            Some(s) => Some(attr.sub_attribute(s)?),
            None => None,
        };
        Some(Target::Attr(ResolvedAttr {
            schema: None,
            in_extension: false,
            attr,
            sub,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_case_insensitively_and_through_urns() {
        let r = SchemaRegistry::builtin();
        let user = r.resource_type("user").unwrap();
        let a = r
            .resolve_attr(user, &AttrPath::parse("NAME.givenname").unwrap())
            .unwrap();
        assert_eq!(a.attr.name, "name");
        assert_eq!(a.sub.unwrap().name, "givenName");
        let a = r
            .resolve_attr(
                user,
                &AttrPath::parse(
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                )
                .unwrap(),
            )
            .unwrap();
        assert!(a.in_extension);
        assert_eq!(a.def().name, "value");
        let t = r
            .resolve(
                user,
                &AttrPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
                    .unwrap(),
            )
            .unwrap();
        assert!(matches!(t, Target::Extension(_)));
        let a = r
            .resolve_attr(
                user,
                &AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap(),
            )
            .unwrap();
        assert!(!a.in_extension);
        assert!(r.resolve(user, &AttrPath::new("nope")).is_none());
        assert!(r.resolve(user, &AttrPath::new("id")).is_some());
    }

    #[test]
    fn custom_extension_from_json() {
        let mut r = SchemaRegistry::default();
        let doc = serde_json::json!({
            "id": "urn:example:params:scim:schemas:extension:acme:2.0:User",
            "name": "AcmeUser",
            "attributes": [{"name": "badge", "type": "integer", "multiValued": false,
                "required": false, "caseExact": false, "mutability": "readWrite",
                "returned": "default", "uniqueness": "none"}]
        });
        let schema = Schema::from_json(&doc).unwrap();
        r.add_extension("User", schema, false).unwrap();
        let user = r.resource_type("User").unwrap();
        let a = r.resolve_attr(user, &AttrPath::new("badge")).unwrap();
        assert_eq!(a.def().kind, super::super::AttributeType::Integer);
        assert!(r
            .add_schema_json(&serde_json::json!({"id": "x", "attributes": []}))
            .is_err());
    }
}
