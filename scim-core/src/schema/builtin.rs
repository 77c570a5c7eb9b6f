//! The built-in schemas of RFC 7643 §8.7.1 (User, Group, EnterpriseUser) and §8.7.2
//! (ServiceProviderConfig, ResourceType, Schema), embedded as the RFC's JSON representations.

use std::sync::OnceLock;

use super::Schema;

/// `urn:ietf:params:scim:schemas:core:2.0:User`
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// `urn:ietf:params:scim:schemas:core:2.0:Group`
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// `urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig`
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// `urn:ietf:params:scim:schemas:core:2.0:ResourceType`
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// `urn:ietf:params:scim:schemas:core:2.0:Schema`
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

const DOCS: [&str; 6] = [
    include_str!("builtin/user.json"),
    include_str!("builtin/group.json"),
    include_str!("builtin/enterprise_user.json"),
    include_str!("builtin/service_provider_config.json"),
    include_str!("builtin/resource_type.json"),
    include_str!("builtin/schema.json"),
];

/// Every built-in schema, parsed once.
pub(crate) fn all() -> &'static [Schema] {
    static ALL: OnceLock<Vec<Schema>> = OnceLock::new();
    ALL.get_or_init(|| {
        DOCS.iter()
            .map(|d| serde_json::from_str(d).expect("built-in schema JSON is valid"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{AttributeType, Mutability, Returned, Uniqueness};

    #[test]
    fn builtins_parse_and_check() {
        let ids: Vec<_> = all().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                USER,
                GROUP,
                ENTERPRISE_USER,
                SERVICE_PROVIDER_CONFIG,
                RESOURCE_TYPE,
                SCHEMA
            ]
        );
        for s in all() {
            s.check().unwrap();
        }
    }

    #[test]
    fn user_schema_matches_rfc_characteristics() {
        let user = &all()[0];
        let un = user.attribute("userName").unwrap();
        assert!(un.required && !un.case_exact);
        assert_eq!(un.uniqueness, Uniqueness::Server);
        let pw = user.attribute("password").unwrap();
        assert_eq!(pw.returned, Returned::Never);
        assert_eq!(pw.mutability, Mutability::WriteOnly);
        let groups = user.attribute("groups").unwrap();
        assert_eq!(groups.mutability, Mutability::ReadOnly);
        assert!(groups.multi_valued);
        let emails = user.attribute("emails").unwrap();
        assert_eq!(emails.kind, AttributeType::Complex);
        assert!(emails.sub_attribute("primary").is_some());
        let active = user.attribute("active").unwrap();
        assert_eq!(active.kind, AttributeType::Boolean);
        let group = &all()[1];
        let members = group.attribute("members").unwrap();
        assert!(members.multi_valued);
        assert_eq!(
            members.sub_attribute("value").unwrap().mutability,
            Mutability::Immutable
        );
        let ent = &all()[2];
        assert_eq!(
            ent.attribute("manager").unwrap().kind,
            AttributeType::Complex
        );
    }
}
