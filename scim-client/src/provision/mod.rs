//! The provisioning engine: HR source → desired state → plan → safety gates → durable apply →
//! notifications and audit.
//!
//! - [`source`]: CSV and JSON Lines exports (columns named by SCIM paths need no configuration),
//!   or users read from any SCIM server.
//! - [`mapping`]: the mapping file (columns → attributes with transforms, rules, settings).
//! - [`rules`]: role-based access: rules grant groups, roles and entitlements, with reasons.
//! - [`desired`]: what each person should have on a given day (effective dating).

pub mod desired;
pub mod mapping;
pub mod rules;
pub mod source;

/// Why the engine stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The source could not be read.
    #[error("source: {0}")]
    Source(String),
    /// The mapping file is wrong.
    #[error("mapping: {0}")]
    Mapping(String),
}
