//! Provider profiles: what a target SCIM service really supports, and its limits.
//!
//! The trait's defaults describe a complete RFC 7644 service; each named profile overrides
//! what its target lacks (facts from the project's `idp-wire-behaviour.md` §4). The client uses
//! a profile to split member changes and bulk jobs, to pick a pagination style and page size,
//! to add required headers and to pace requests.

use std::fmt::Debug;

/// How a target pages list results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `startIndex` / `count` (RFC 7644 §3.4.2.4).
    Index,
    /// RFC 9865 cursors only.
    Cursor,
    /// No pagination: one response holds everything.
    None,
}

/// A target's bulk endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkSupport {
    /// Path of the endpoint (`/Bulk`, or Entra ID's `/bulkUpload`).
    pub path: String,
    /// Most operations per request.
    pub max_operations: usize,
    /// Only POST operations are accepted.
    pub post_only: bool,
}

/// What a target supports. Every method has the RFC-complete default.
pub trait Profile: Debug + Send + Sync {
    /// A short name.
    fn name(&self) -> &str {
        "generic"
    }
    /// Largest page the target serves.
    fn max_page_size(&self) -> u64 {
        1000
    }
    /// Pagination style.
    fn paging(&self) -> Paging {
        Paging::Index
    }
    /// Most members added in one PATCH.
    fn max_members_added_per_patch(&self) -> usize {
        1000
    }
    /// Most members removed in one PATCH.
    fn max_members_removed_per_patch(&self) -> usize {
        1000
    }
    /// Whether `replace` of all members (or removing all) is supported.
    fn supports_member_replace(&self) -> bool {
        true
    }
    /// Whether updates should use PATCH (else PUT).
    fn prefers_patch(&self) -> bool {
        true
    }
    /// Bulk support, if any.
    fn bulk(&self) -> Option<BulkSupport> {
        Some(BulkSupport {
            path: "/Bulk".into(),
            max_operations: 1000,
            post_only: false,
        })
    }
    /// Multi-valued attributes the target keeps only one value of (its primary).
    fn single_valued_attributes(&self) -> &[&'static str] {
        &[]
    }
    /// Attributes the target requires on create, beyond `userName`.
    fn required_on_create(&self) -> &[&'static str] {
        &[]
    }
    /// True when DELETE destroys the account irreversibly (deactivate with `active: false`
    /// instead, the safe default for deprovisioning).
    fn delete_is_destructive(&self) -> bool {
        false
    }
    /// True when the target treats DELETE as deactivation anyway.
    fn delete_deactivates(&self) -> bool {
        false
    }
    /// Requests per second to stay under the target's limits, if it publishes one.
    fn rate_per_second(&self) -> Option<f64> {
        None
    }
    /// Headers every request must carry.
    fn required_headers(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
    /// Path of the service provider configuration.
    fn service_provider_config_path(&self) -> &str {
        "/ServiceProviderConfig"
    }
}

/// A complete RFC 7644 service (all defaults).
#[derive(Debug, Clone, Copy, Default)]
pub struct GenericRfc;
impl Profile for GenericRfc {}

/// Microsoft Entra ID's SCIM API as a target: cursor paging only, at most 20 members added
/// and one removed per PATCH.
#[derive(Debug, Clone, Copy, Default)]
pub struct EntraId;
impl Profile for EntraId {
    fn name(&self) -> &str {
        "entra-id"
    }
    fn paging(&self) -> Paging {
        Paging::Cursor
    }
    fn max_members_added_per_patch(&self) -> usize {
        20
    }
    fn max_members_removed_per_patch(&self) -> usize {
        1
    }
    fn bulk(&self) -> Option<BulkSupport> {
        None
    }
}

/// Entra ID API-driven inbound provisioning (`/bulkUpload`): POST-only bulk requests of at
/// most 50 operations, about 40 calls per 5 seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct EntraBulkUpload;
impl Profile for EntraBulkUpload {
    fn name(&self) -> &str {
        "entra-id-bulkupload"
    }
    fn bulk(&self) -> Option<BulkSupport> {
        Some(BulkSupport {
            path: "/bulkUpload".into(),
            max_operations: 50,
            post_only: true,
        })
    }
    fn rate_per_second(&self) -> Option<f64> {
        Some(8.0)
    }
}

/// Okta's inbound SCIM: index paging by 100, PATCH.
#[derive(Debug, Clone, Copy, Default)]
pub struct Okta;
impl Profile for Okta {
    fn name(&self) -> &str {
        "okta"
    }
    fn max_page_size(&self) -> u64 {
        100
    }
    fn bulk(&self) -> Option<BulkSupport> {
        None
    }
}

/// AWS IAM Identity Center: cursor paging with count ≤ 100, no bulk, one value per
/// multi-valued attribute, names required, ≤ 100 membership changes per PATCH and no
/// replace/remove-all of members.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsIdentityCenter;
impl Profile for AwsIdentityCenter {
    fn name(&self) -> &str {
        "aws-iam-identity-center"
    }
    fn max_page_size(&self) -> u64 {
        100
    }
    fn paging(&self) -> Paging {
        Paging::Cursor
    }
    fn max_members_added_per_patch(&self) -> usize {
        100
    }
    fn max_members_removed_per_patch(&self) -> usize {
        100
    }
    fn supports_member_replace(&self) -> bool {
        false
    }
    fn bulk(&self) -> Option<BulkSupport> {
        None
    }
    fn single_valued_attributes(&self) -> &[&'static str] {
        &["emails", "phoneNumbers", "addresses"]
    }
    fn required_on_create(&self) -> &[&'static str] {
        &["displayName", "name.givenName", "name.familyName"]
    }
}

/// Slack: DELETE deactivates; writes limited org-wide (600/minute).
#[derive(Debug, Clone, Copy, Default)]
pub struct Slack;
impl Profile for Slack {
    fn name(&self) -> &str {
        "slack"
    }
    fn delete_deactivates(&self) -> bool {
        true
    }
    fn rate_per_second(&self) -> Option<f64> {
        Some(10.0)
    }
    fn bulk(&self) -> Option<BulkSupport> {
        None
    }
}

/// GitHub Enterprise Managed Users: `User-Agent` required, DELETE is an irreversible hard
/// deprovision (use `active: false`), ≤ 1,000 new users per hour.
#[derive(Debug, Clone, Copy, Default)]
pub struct GitHubEmu;
impl Profile for GitHubEmu {
    fn name(&self) -> &str {
        "github-emu"
    }
    fn delete_is_destructive(&self) -> bool {
        true
    }
    fn bulk(&self) -> Option<BulkSupport> {
        None
    }
    fn required_headers(&self) -> Vec<(&'static str, &'static str)> {
        vec![(
            "User-Agent",
            concat!("scim-client/", env!("CARGO_PKG_VERSION")),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_differ_where_targets_do() {
        let all: Vec<Box<dyn Profile>> = vec![
            Box::new(GenericRfc),
            Box::new(EntraId),
            Box::new(EntraBulkUpload),
            Box::new(Okta),
            Box::new(AwsIdentityCenter),
            Box::new(Slack),
            Box::new(GitHubEmu),
        ];
        let names: std::collections::HashSet<_> =
            all.iter().map(|p| p.name().to_string()).collect();
        assert_eq!(names.len(), all.len());
        assert_eq!(EntraId.max_members_removed_per_patch(), 1);
        assert_eq!(EntraBulkUpload.bulk().unwrap().max_operations, 50);
        assert!(AwsIdentityCenter.bulk().is_none() && !AwsIdentityCenter.supports_member_replace());
        assert!(GitHubEmu.delete_is_destructive() && !GenericRfc.delete_is_destructive());
        assert!(Slack.delete_deactivates());
        assert_eq!(GenericRfc.paging(), Paging::Index);
    }
}
