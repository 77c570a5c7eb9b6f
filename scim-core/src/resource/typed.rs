//! Typed views of the built-in resources (RFC 7643 §4.1 User, §4.2 Group, §4.3 EnterpriseUser).
//!
//! Each view keeps every attribute it does not model in `extra`, so converting a resource to a
//! view and back loses nothing. Build views from JSON with `from_json` (which canonicalises
//! attribute names first, so `USERNAME` and `userName` are the same) or from a [`Resource`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Context, JsonMap, Meta, Resource};
use crate::error::{ScimError, ScimResult};
use crate::schema::{ENTERPRISE_USER, GROUP, USER};

fn is_empty<T>(v: &[T]) -> bool {
    v.is_empty()
}

/// A value of a multi-valued attribute (RFC 7643 §2.4): `emails`, `phoneNumbers`, `ims`,
/// `photos`, `groups`, `entitlements`, `roles`, `x509Certificates`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MultiValue {
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Human-readable display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// A label such as `work`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The preferred value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// URI of the referenced resource.
    #[serde(rename = "$ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl MultiValue {
    /// A value with a type label.
    pub fn new(value: impl Into<Value>, kind: Option<&str>) -> Self {
        MultiValue {
            value: Some(value.into()),
            kind: kind.map(str::to_string),
            ..Default::default()
        }
    }
    /// Builder: mark as primary.
    pub fn primary(mut self) -> Self {
        self.primary = Some(true);
        self
    }
}

/// `name` (RFC 7643 §4.1.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Name {
    /// Full name, formatted for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Middle name(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Honorific prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_prefix: Option<String>,
    /// Honorific suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_suffix: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A physical mailing address (RFC 7643 §4.1.2 `addresses`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Address {
    /// Full address, formatted for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// Street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    /// City or locality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// State or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country (ISO 3166-1 alpha-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// A label such as `work`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The preferred address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// The enterprise user extension's `manager` (RFC 7643 §4.3).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Manager {
    /// The manager's `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// URI of the manager.
    #[serde(rename = "$ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The manager's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// The enterprise user extension (RFC 7643 §4.3).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnterpriseUser {
    /// Employee number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    /// Cost center.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    /// Organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Division.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<String>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<Manager>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A User (RFC 7643 §4.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct User {
    /// Schema URIs.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub schemas: Vec<String>,
    /// Server-assigned id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Client-assigned id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unique user name (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Name components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Casual name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick_name: Option<String>,
    /// Profile URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_url: Option<String>,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// User type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// Preferred language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<String>,
    /// Locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Administrative status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Password (write-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Email addresses.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub emails: Vec<MultiValue>,
    /// Phone numbers.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub phone_numbers: Vec<MultiValue>,
    /// Instant messaging addresses.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub ims: Vec<MultiValue>,
    /// Photos.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub photos: Vec<MultiValue>,
    /// Addresses.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub addresses: Vec<Address>,
    /// Groups (read-only, derived by the service provider).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub groups: Vec<MultiValue>,
    /// Entitlements.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub entitlements: Vec<MultiValue>,
    /// Roles.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub roles: Vec<MultiValue>,
    /// Certificates.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub x509_certificates: Vec<MultiValue>,
    /// The enterprise extension.
    #[serde(
        rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enterprise: Option<EnterpriseUser>,
    /// Anything else, including other extensions.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A group member (RFC 7643 §4.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Member {
    /// The member's `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// URI of the member.
    #[serde(rename = "$ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `User` or `Group`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Display name (not in the RFC's schema, but widely sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl Member {
    /// A member by id.
    pub fn new(value: impl Into<String>) -> Self {
        Member {
            value: Some(value.into()),
            ..Default::default()
        }
    }
}

/// A Group (RFC 7643 §4.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Group {
    /// Schema URIs.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub schemas: Vec<String>,
    /// Server-assigned id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Client-assigned id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Display name (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Members.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub members: Vec<Member>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: JsonMap,
}

macro_rules! typed_view {
    ($ty:ty, $rt:literal, $schema:expr) => {
        impl $ty {
            /// Reads the view from JSON, canonicalising attribute names first.
            /// Wrong attribute types are `400 invalidValue` naming the attribute.
            pub fn from_json(value: Value) -> ScimResult<Self> {
                let ctx = Context::new(crate::schema::SchemaRegistry::builtin(), $rt)?;
                Self::from_resource(&Resource::from_json(value, &ctx)?)
            }
            /// Reads the view from a (canonical) resource.
            pub fn from_resource(r: &Resource) -> ScimResult<Self> {
                serde_json::from_value(r.to_value()).map_err(|e| {
                    ScimError::invalid_value(format!(concat!("not a valid ", $rt, ": {}"), e))
                })
            }
            /// The resource form of this view.
            pub fn to_resource(&self) -> Resource {
                match serde_json::to_value(self) {
                    Ok(Value::Object(m)) => Resource::from_map(m),
                    _ => Resource::default(),
                }
            }
            /// The view's core schema URI.
            pub fn schema_uri() -> &'static str {
                $schema
            }
        }
        impl TryFrom<Value> for $ty {
            type Error = ScimError;
            fn try_from(v: Value) -> ScimResult<Self> {
                Self::from_json(v)
            }
        }
        impl From<$ty> for Value {
            fn from(v: $ty) -> Value {
                v.to_resource().into_value()
            }
        }
    };
}

typed_view!(User, "User", USER);
typed_view!(Group, "Group", GROUP);

impl User {
    /// A new user with the core schema and a `userName`.
    pub fn new(user_name: impl Into<String>) -> Self {
        User {
            schemas: vec![USER.to_string()],
            user_name: Some(user_name.into()),
            ..Default::default()
        }
    }
    /// The primary email, else the first.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails
            .iter()
            .find(|e| e.primary == Some(true))
            .or_else(|| self.emails.first())
            .and_then(|e| e.value.as_ref())
            .and_then(Value::as_str)
    }
    /// Sets the enterprise extension and keeps `schemas` in step.
    pub fn set_enterprise(&mut self, ext: Option<EnterpriseUser>) {
        self.schemas
            .retain(|s| !s.eq_ignore_ascii_case(ENTERPRISE_USER));
        if ext.is_some() {
            self.schemas.push(ENTERPRISE_USER.to_string());
        }
        self.enterprise = ext;
    }
}

impl Group {
    /// A new group with the core schema and a `displayName`.
    pub fn new(display_name: impl Into<String>) -> Self {
        Group {
            schemas: vec![GROUP.to_string()],
            display_name: Some(display_name.into()),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_round_trips_losslessly() {
        let v = json!({
            "schemas": [USER, ENTERPRISE_USER, "urn:example:ext"],
            "id": "2819c223",
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "x-nick": "Babs"},
            "emails": [{"value": "b@example.com", "type": "work", "primary": true, "x": 1}],
            "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984", "manager": {"value": "26118915", "displayName": "John"}
            },
            "urn:example:ext": {"a": [1, 2]}
        });
        let u = User::from_json(v.clone()).unwrap();
        assert_eq!(u.primary_email(), Some("b@example.com"));
        assert_eq!(
            u.enterprise.as_ref().unwrap().employee_number.as_deref(),
            Some("701984")
        );
        assert_eq!(Value::from(u), v);
    }

    #[test]
    fn case_insensitive_input_and_type_errors() {
        let u = User::from_json(json!({"USERNAME": "x", "Active": false})).unwrap();
        assert_eq!(u.user_name.as_deref(), Some("x"));
        assert_eq!(u.active, Some(false));
        let e = User::from_json(json!({"userName": "x", "active": "yes"})).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::InvalidValue));
        let g = Group::from_json(
            json!({"displayName": "Eng", "members": [{"value": "1", "$ref": "u/1"}]}),
        )
        .unwrap();
        assert_eq!(g.members[0].reference.as_deref(), Some("u/1"));
    }
}
