//! The provisioning engine: HR source → desired state → plan → safety gates → durable apply →
//! notifications and audit.
//!
//! - [`source`]: CSV and JSON Lines exports (columns named by SCIM paths need no configuration),
//!   or users read from any SCIM server.
//! - [`mapping`]: the mapping file (columns → attributes with transforms, rules, settings).
//! - [`rules`]: role-based access: rules grant groups, roles and entitlements, with reasons.
//! - [`desired`]: what each person should have on a given day (effective dating).
//! - [`plan`]: matching, the changes (joiners, movers, leavers are all differences), drift,
//!   stale-plan detection, the readable table.
//! - [`target`]: what a target holds, read into compact records.
//! - [`gates`]: safety gates on the source and the plan.
//! - [`state`]: the SQLite state file: links, durable outbox, runs, snapshots.
//! - [`apply`]: the engine: plan, apply through the outbox, resume, sync.
//! - [`notify`]: webhook (HMAC-signed) and SMTP notifications.
//! - [`audit`]: the access review.
//! - [`config`]: several targets in one configuration file.
//! - [`embedded`]: the embedded default target (our own server on a local SQLite file).

pub mod apply;
pub mod audit;
pub mod config;
pub mod desired;
pub mod embedded;
pub mod gates;
pub mod mapping;
pub mod notify;
pub mod plan;
pub mod rules;
pub mod source;
pub mod state;
pub mod target;

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
    /// The state file failed.
    #[error("state file: {0}")]
    State(String),
    /// The target failed.
    #[error("target {target}: {error}")]
    Target {
        /// Target name.
        target: String,
        /// The client error.
        error: crate::Error,
    },
    /// A safety gate refused the run.
    #[error("refused by the safety gates:\n{0}")]
    Refused(String),
    /// The saved plan no longer fits.
    #[error("{0}")]
    Stale(String),
    /// Anything else the caller did wrong.
    #[error("{0}")]
    Invalid(String),
}
