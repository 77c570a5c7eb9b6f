//! The configuration file of the `scim` command: several targets, each with its URL, token
//! (from the environment or a file, never in the file itself), profile, mapping, scope, leaver
//! policy, limits and gates; and the notification channels.
//!
//! ```toml
//! state = "scim-state.db"          # relative paths are relative to this file
//! source = "hr.csv"
//!
//! [notify.webhook]
//! url = "https://hooks.example.com/scim"
//! secret_env = "SCIM_WEBHOOK_SECRET"
//!
//! [[targets]]
//! name = "wiki"
//! url = "https://wiki.example.com/scim/v2"
//! token_env = "WIKI_SCIM_TOKEN"    # or token_file = "/run/secrets/wiki"
//! profile = "okta"
//! mapping = "mapping.toml"
//! leavers = "deactivate"           # or "delete"
//! delete_after_days = 30
//! scope = { department = ["Engineering", "Support"] }
//! rate = 10.0                      # requests per second
//! concurrency = 4
//! [targets.gates]
//! max_deprovision_percent = 5.0
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::apply::Target;
use super::gates::GateConfig;
use super::mapping::{Mapping, OneOrMany};
use super::notify::NotifyConfig;
use super::plan::{LeaverPolicy, PlanOptions};
use super::ProvisionError;
use crate::profile::{self, Profile};
use crate::Client;

/// The configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The state file.
    pub state: Option<PathBuf>,
    /// The default source.
    pub source: Option<PathBuf>,
    /// Notifications.
    #[serde(default)]
    pub notify: NotifyConfig,
    /// Targets.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
}

/// One target.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Name (state and outbox are kept per name).
    pub name: String,
    /// SCIM base URL.
    pub url: String,
    /// Environment variable with the bearer token.
    pub token_env: Option<String>,
    /// File with the bearer token.
    pub token_file: Option<PathBuf>,
    /// Provider profile (`generic`, `entra-id`, `okta`, `aws`, `slack`, `github-emu`).
    pub profile: Option<String>,
    /// Mapping file.
    pub mapping: Option<PathBuf>,
    /// Leaver policy.
    #[serde(default)]
    pub leavers: LeaverPolicy,
    /// Delete deactivated accounts after this many days.
    pub delete_after_days: Option<i64>,
    /// Delete groups no rule grants any more.
    #[serde(default)]
    pub delete_groups: bool,
    /// Deprovision accounts no source person owns.
    #[serde(default)]
    pub deprovision_orphans: bool,
    /// Which people this target receives.
    #[serde(default)]
    pub scope: BTreeMap<String, OneOrMany>,
    /// Requests per second.
    pub rate: Option<f64>,
    /// Requests in flight.
    pub concurrency: Option<usize>,
    /// Gate thresholds.
    #[serde(default)]
    pub gates: GateConfig,
}

impl std::fmt::Debug for TargetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("token_env", &self.token_env)
            .field("token_file", &self.token_file)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads a configuration file; relative paths in it become relative to its folder.
    pub fn load(path: &Path) -> Result<Config, ProvisionError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProvisionError::Invalid(format!("{}: {e}", path.display())))?;
        let mut c: Config = toml::from_str(&text)
            .map_err(|e| ProvisionError::Invalid(format!("{}: {e}", path.display())))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        if let Some(p) = c.state.as_mut() {
            fix(p);
        }
        if let Some(p) = c.source.as_mut() {
            fix(p);
        }
        let mut names = std::collections::HashSet::new();
        for t in &mut c.targets {
            if !names.insert(t.name.clone()) {
                return Err(ProvisionError::Invalid(format!(
                    "{}: two targets are named {:?}",
                    path.display(),
                    t.name
                )));
            }
            if let Some(p) = t.mapping.as_mut() {
                fix(p);
            }
            if let Some(p) = t.token_file.as_mut() {
                fix(p);
            }
        }
        Ok(c)
    }
}

/// A profile by name.
pub fn profile_named(name: &str) -> Result<Arc<dyn Profile>, ProvisionError> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "generic" | "rfc" => Arc::new(profile::GenericRfc),
        "entra-id" | "entra" | "azure" => Arc::new(profile::EntraId),
        "entra-id-bulkupload" => Arc::new(profile::EntraBulkUpload),
        "okta" => Arc::new(profile::Okta),
        "aws" | "aws-iam-identity-center" => Arc::new(profile::AwsIdentityCenter),
        "slack" => Arc::new(profile::Slack),
        "github" | "github-emu" => Arc::new(profile::GitHubEmu),
        other => {
            return Err(ProvisionError::Invalid(format!(
                "unknown profile {other:?} (generic, entra-id, entra-id-bulkupload, okta, aws, slack, github-emu)"
            )))
        }
    })
}

/// Builds a client for a URL and token with a profile and limits.
pub fn client(
    url: &str,
    token: Option<&str>,
    profile: Option<&str>,
    rate: Option<f64>,
    concurrency: Option<usize>,
) -> Result<Client, ProvisionError> {
    let mut b = Client::builder(url);
    if let Some(t) = token {
        b = b.bearer_token(t);
    }
    if let Some(r) = rate {
        b = b.rate_limit(r, r.ceil().max(1.0) as u32);
    }
    if let Some(p) = profile {
        b = b
            .profile(profile_named(p)?)
            .map_err(|e| ProvisionError::Invalid(e.to_string()))?;
    }
    if let Some(n) = concurrency {
        b = b.max_concurrency(n);
    }
    b.build()
        .map_err(|e| ProvisionError::Invalid(e.to_string()))
}

impl TargetConfig {
    /// The token, from the environment or the file.
    pub fn token(&self) -> Result<Option<String>, ProvisionError> {
        if let Some(var) = &self.token_env {
            return std::env::var(var).map(Some).map_err(|_| {
                ProvisionError::Invalid(format!(
                    "target {}: ${var} (token_env) is not set",
                    self.name
                ))
            });
        }
        if let Some(f) = &self.token_file {
            return std::fs::read_to_string(f)
                .map(|t| Some(t.trim().to_string()))
                .map_err(|e| {
                    ProvisionError::Invalid(format!("target {}: {}: {e}", self.name, f.display()))
                });
        }
        Ok(None)
    }

    /// Builds the target: client, mapping (or `default_mapping`), options, gates.
    pub fn build(&self, default_mapping: Option<&Mapping>) -> Result<Target, ProvisionError> {
        let mapping = match &self.mapping {
            Some(p) => Mapping::load(p)?,
            None => default_mapping.cloned().unwrap_or_default(),
        };
        let client = client(
            &self.url,
            self.token()?.as_deref(),
            self.profile.as_deref(),
            self.rate,
            self.concurrency,
        )?;
        let mut options = PlanOptions::new(&self.name, &self.url);
        options.leavers = self.leavers;
        options.delete_after_days = self.delete_after_days;
        options.delete_groups = self.delete_groups;
        options.deprovision_orphans = self.deprovision_orphans;
        options.scope = self.scope.clone();
        Ok(Target {
            client,
            options,
            mapping,
            gates: self.gates.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_targets_with_paths_relative_to_the_file() {
        let dir = std::env::temp_dir().join(format!("scim-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("scim.toml");
        std::fs::write(
            &f,
            r#"
state = "state.db"
[notify.webhook]
url = "http://127.0.0.1:1/hook"
secret_env = "HOOK_SECRET"
[[targets]]
name = "a"
url = "http://127.0.0.1:1/scim/v2"
token_file = "tok"
profile = "okta"
scope = { department = "Engineering" }
[targets.gates]
max_deprovision_percent = 5.0
[[targets]]
name = "b"
url = "http://127.0.0.1:2/scim/v2"
token_env = "SCIM_CONFIG_TEST_UNSET_VARIABLE"
"#,
        )
        .unwrap();
        std::fs::write(dir.join("tok"), "secret-token\n").unwrap();
        let c = Config::load(&f).unwrap();
        assert_eq!(c.state.as_deref(), Some(dir.join("state.db").as_path()));
        assert_eq!(c.targets.len(), 2);
        assert_eq!(
            c.targets[0].token().unwrap().as_deref(),
            Some("secret-token")
        );
        assert_eq!(c.targets[0].gates.max_deprovision_percent, 5.0);
        let t = c.targets[0].build(None).unwrap();
        assert_eq!(t.client.profile().name(), "okta");
        assert!(!format!("{:?}", c.targets[0]).contains("secret-token"));
        let e = c.targets[1].build(None).unwrap_err().to_string();
        assert!(e.contains("SCIM_CONFIG_TEST_UNSET_VARIABLE"), "{e}");
        assert!(profile_named("nope").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
