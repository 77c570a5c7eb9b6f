//! The mapping file (TOML): how source columns become SCIM attributes, which rules grant
//! groups, roles and entitlements, and how dates and leavers are treated.
//!
//! Without a mapping file, column names are SCIM attribute paths (`userName`,
//! `name.givenName`, `emails[type eq "work"].value`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, …) plus the special
//! columns `manager` (the manager's key), `groups` (`;`-separated group names), `startDate` and
//! `endDate` (ISO dates).
//!
//! ```toml
//! [settings]
//! timezone = "Europe/Berlin"      # dates are read in this zone (default UTC)
//! future_joiners = "skip"         # or "inactive": provision before startDate, inactive
//! match = ["externalId", "userName", "email"]
//!
//! [attributes]
//! externalId = "employee_id"                       # a column
//! userName = { template = "{first}.{last}@example.com", transform = ["lower", "ascii"] }
//! active = { column = "status", lookup = { active = "true", terminated = "false" }, default = "true" }
//! title = { when = [{ column = "level", equals = "M", value = "Manager" }], default = "Staff" }
//! startDate = { column = "hire_date", date_format = "%d.%m.%Y" }
//!
//! [[rules]]
//! name = "engineering"
//! when = { department = "Engineering" }             # all keys must match; "*" is a wildcard
//! groups = ["eng", "github-users"]
//! roles = ["developer"]
//!
//! [groups]                                          # optional: stable key → display name
//! eng = "Engineering"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::ProvisionError;

/// A parsed mapping file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Settings.
    #[serde(default)]
    pub settings: Settings,
    /// SCIM attribute path (or `manager`, `groups`, `startDate`, `endDate`) → how to compute it.
    /// Empty: every column is its own SCIM path.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttrSpec>,
    /// Access rules, evaluated in order; every matching rule grants.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Group key → display name. A group's key is sent as its `externalId`, so renaming the
    /// display name here renames the group in the target.
    #[serde(default)]
    pub groups: BTreeMap<String, String>,
    /// Per-attribute drift policy (attribute path → enforce | adopt | report).
    #[serde(default)]
    pub drift: BTreeMap<String, DriftPolicy>,
}

/// What to do when the target's value of a managed attribute differs from what the engine last
/// wrote (someone edited it in the target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftPolicy {
    /// Write the source's value back (the default).
    #[default]
    Enforce,
    /// Keep the target's value from now on.
    Adopt,
    /// Leave it, and say so in the drift report.
    Report,
}

/// Mapping settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// IANA time zone in which source dates are read (`Europe/Berlin`); default UTC.
    pub timezone: String,
    /// `skip` (default: nothing is provisioned before `startDate`) or `inactive` (created
    /// inactive, activated on `startDate`).
    pub future_joiners: FutureJoiners,
    /// How target users are matched to people, in order of precedence.
    pub r#match: Vec<MatchKey>,
    /// Attributes that must not be empty (the `required` gate counts rows where they are).
    pub required: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: "UTC".into(),
            future_joiners: FutureJoiners::Skip,
            r#match: vec![MatchKey::ExternalId, MatchKey::UserName, MatchKey::Email],
            required: vec!["externalId".into(), "userName".into()],
        }
    }
}

/// How future joiners are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FutureJoiners {
    /// Not provisioned before their start date.
    Skip,
    /// Provisioned with `active: false` until their start date.
    Inactive,
}

/// A key that matches a target user to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum MatchKey {
    /// `externalId`.
    #[serde(rename = "externalId")]
    ExternalId,
    /// `userName` (case-insensitive).
    #[serde(rename = "userName")]
    UserName,
    /// The primary (or work) e-mail (case-insensitive).
    #[serde(rename = "email")]
    Email,
}

/// How one attribute is computed from a row. A bare string in TOML is a column name.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttrSpec {
    /// Take this column.
    pub column: Option<String>,
    /// Concatenate: `{column}` placeholders and literal text.
    pub template: Option<String>,
    /// A fixed value.
    pub constant: Option<String>,
    /// Conditions tried in order; the first that holds gives the value (a template).
    pub when: Vec<Condition>,
    /// Translate the value through this table (keys compared case-insensitively).
    pub lookup: Option<BTreeMap<String, String>>,
    /// Used when the result is empty or the lookup has no entry.
    pub default: Option<String>,
    /// Applied in order: `lower`, `upper`, `trim`, `ascii` (strip accents, drop other
    /// non-ASCII), `nospace`.
    pub transform: Vec<Transform>,
    /// `chrono` format of a date column (`%d.%m.%Y`); ISO `YYYY-MM-DD` by default.
    pub date_format: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttrSpecTable {
    column: Option<String>,
    template: Option<String>,
    constant: Option<String>,
    #[serde(default)]
    when: Vec<Condition>,
    lookup: Option<BTreeMap<String, String>>,
    default: Option<String>,
    #[serde(default)]
    transform: Vec<Transform>,
    date_format: Option<String>,
}

impl<'de> Deserialize<'de> for AttrSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Column(String),
            Table(AttrSpecTable),
        }
        match Either::deserialize(d)? {
            Either::Column(c) => Ok(AttrSpec {
                column: Some(c),
                ..AttrSpec::default()
            }),
            Either::Table(t) => {
                let sources = [
                    t.column.is_some(),
                    t.template.is_some(),
                    t.constant.is_some(),
                ]
                .iter()
                .filter(|b| **b)
                .count();
                if sources > 1 {
                    return Err(serde::de::Error::custom(
                        "give at most one of column, template, constant",
                    ));
                }
                if sources == 0 && t.when.is_empty() && t.default.is_none() {
                    return Err(serde::de::Error::custom(
                        "give one of column, template, constant, when or default",
                    ));
                }
                Ok(AttrSpec {
                    column: t.column,
                    template: t.template,
                    constant: t.constant,
                    when: t.when,
                    lookup: t.lookup,
                    default: t.default,
                    transform: t.transform,
                    date_format: t.date_format,
                })
            }
        }
    }
}

/// One condition of a conditional attribute.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The column tested.
    pub column: String,
    /// Holds when the column equals this (case-insensitive; `*` is a wildcard).
    pub equals: Option<String>,
    /// Holds when the column equals one of these.
    #[serde(rename = "in")]
    pub one_of: Option<Vec<String>>,
    /// Holds when the column is (true) or is not (false) empty.
    pub empty: Option<bool>,
    /// The value (a template) when the condition holds.
    pub value: String,
}

/// A text transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// Lower-case.
    Lower,
    /// Upper-case.
    Upper,
    /// Trim white space.
    Trim,
    /// Latin letters without accents; other non-ASCII dropped.
    Ascii,
    /// Remove white space.
    Nospace,
}

/// An access rule: when every `when` entry matches the person, grant the groups, roles and
/// entitlements.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Name shown by `scim explain`.
    pub name: String,
    /// Attribute or column → value(s) it must equal (case-insensitive, `*` wildcard); empty
    /// means every person.
    #[serde(default)]
    pub when: BTreeMap<String, OneOrMany>,
    /// Groups (keys or display names) granted.
    #[serde(default)]
    pub groups: Vec<String>,
    /// `roles` values granted.
    #[serde(default)]
    pub roles: Vec<String>,
    /// `entitlements` values granted.
    #[serde(default)]
    pub entitlements: Vec<String>,
}

/// One value or a list of alternatives.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Any of these.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The alternatives.
    pub fn values(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> Result<Mapping, ProvisionError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProvisionError::Mapping(format!("{}: {e}", path.display())))?;
        Mapping::parse(&text).map_err(|e| match e {
            ProvisionError::Mapping(m) => {
                ProvisionError::Mapping(format!("{}: {m}", path.display()))
            }
            other => other,
        })
    }

    /// Parses and checks mapping TOML.
    pub fn parse(text: &str) -> Result<Mapping, ProvisionError> {
        let m: Mapping =
            toml::from_str(text).map_err(|e| ProvisionError::Mapping(e.to_string()))?;
        m.check()?;
        Ok(m)
    }

    /// The time zone of the settings.
    pub fn timezone(&self) -> Result<chrono_tz::Tz, ProvisionError> {
        self.settings.timezone.parse().map_err(|_| {
            ProvisionError::Mapping(format!(
                "unknown time zone {:?} (use an IANA name such as Europe/Berlin)",
                self.settings.timezone
            ))
        })
    }

    fn check(&self) -> Result<(), ProvisionError> {
        self.timezone()?;
        let ctx = scim_core::Context::user();
        for path in self.attributes.keys() {
            if super::desired::special(path).is_none() {
                scim_core::PatchPath::parse(path).map_err(|e| {
                    ProvisionError::Mapping(format!("attribute {path:?}: {}", e.detail))
                })?;
                super::desired::check_path(path, &ctx)
                    .map_err(|e| ProvisionError::Mapping(format!("attribute {path:?}: {e}")))?;
            }
        }
        for (path, spec) in &self.attributes {
            if let Some(t) = &spec.template {
                check_template(t)
                    .map_err(|e| ProvisionError::Mapping(format!("attribute {path:?}: {e}")))?;
            }
            for c in &spec.when {
                check_template(&c.value)
                    .map_err(|e| ProvisionError::Mapping(format!("attribute {path:?}: {e}")))?;
                if c.equals.is_none() && c.one_of.is_none() && c.empty.is_none() {
                    return Err(ProvisionError::Mapping(format!(
                        "attribute {path:?}: a condition needs equals, in or empty"
                    )));
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        for r in &self.rules {
            if !names.insert(r.name.as_str()) {
                return Err(ProvisionError::Mapping(format!(
                    "two rules are named {:?}",
                    r.name
                )));
            }
            if r.groups.is_empty() && r.roles.is_empty() && r.entitlements.is_empty() {
                return Err(ProvisionError::Mapping(format!(
                    "rule {:?} grants nothing",
                    r.name
                )));
            }
        }
        Ok(())
    }

    /// The display name of a group key (the key itself when `[groups]` does not name it).
    pub fn group_display_name<'a>(&'a self, key: &'a str) -> &'a str {
        self.groups.get(key).map(String::as_str).unwrap_or(key)
    }

    /// The group key of a key or display name: `[groups]` entries are found by either.
    pub fn group_key(&self, name: &str) -> String {
        if self.groups.contains_key(name) {
            return name.to_string();
        }
        self.groups
            .iter()
            .find(|(_, d)| d.eq_ignore_ascii_case(name))
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| name.to_string())
    }

    /// The drift policy of an attribute path.
    pub fn drift_policy(&self, path: &str) -> DriftPolicy {
        self.drift
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(path))
            .map(|(_, p)| *p)
            .or_else(|| self.drift.get("default").copied())
            .unwrap_or_default()
    }
}

fn check_template(t: &str) -> Result<(), String> {
    let mut depth = 0;
    for c in t.chars() {
        match c {
            '{' if depth == 0 => depth = 1,
            '}' if depth == 1 => depth = 0,
            '{' | '}' => return Err(format!("unbalanced braces in template {t:?}")),
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unclosed {{ in template {t:?}"));
    }
    Ok(())
}

/// Fills `{column}` placeholders from `get`; `None` when a placeholder's column is empty.
pub fn render_template(t: &str, get: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}')? + open;
        let v = get(&rest[open + 1..close])?;
        out.push_str(&v);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Case-insensitive equality with `*` wildcards.
pub fn glob_eq(pattern: &str, value: &str) -> bool {
    let p = pattern.to_lowercase();
    let v = value.trim().to_lowercase();
    if !p.contains('*') {
        return p == v;
    }
    let parts: Vec<&str> = p.split('*').collect();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            if !v.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if let Some(f) = v[pos..].find(part) {
            pos += f + part.len();
        } else {
            return false;
        }
    }
    parts.last().is_none_or(|l| l.is_empty() || v.ends_with(l))
}

/// Applies a transform.
pub fn transform(t: Transform, s: &str) -> String {
    match t {
        Transform::Lower => s.to_lowercase(),
        Transform::Upper => s.to_uppercase(),
        Transform::Trim => s.trim().to_string(),
        Transform::Nospace => s.chars().filter(|c| !c.is_whitespace()).collect(),
        Transform::Ascii => s
            .chars()
            .flat_map(|c| {
                let mapped: &str = match c {
                    'à' | 'á' | 'â' | 'ã' | 'å' => "a",
                    'ä' | 'æ' => "ae",
                    'À' | 'Á' | 'Â' | 'Ã' | 'Å' => "A",
                    'Ä' | 'Æ' => "Ae",
                    'ç' => "c",
                    'Ç' => "C",
                    'è' | 'é' | 'ê' | 'ë' => "e",
                    'È' | 'É' | 'Ê' | 'Ë' => "E",
                    'ì' | 'í' | 'î' | 'ï' => "i",
                    'Ì' | 'Í' | 'Î' | 'Ï' => "I",
                    'ñ' => "n",
                    'Ñ' => "N",
                    'ò' | 'ó' | 'ô' | 'õ' | 'ø' => "o",
                    'ö' | 'œ' => "oe",
                    'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ø' => "O",
                    'Ö' | 'Œ' => "Oe",
                    'ù' | 'ú' | 'û' => "u",
                    'ü' => "ue",
                    'Ù' | 'Ú' | 'Û' => "U",
                    'Ü' => "Ue",
                    'ß' => "ss",
                    'ý' | 'ÿ' => "y",
                    _ => "",
                };
                if !mapped.is_empty() {
                    mapped.chars().collect::<Vec<_>>()
                } else if c.is_ascii() {
                    vec![c]
                } else {
                    Vec::new()
                }
            })
            .collect(),
    }
}

/// Parses a date: `format` when given, else ISO `YYYY-MM-DD` or an RFC 3339 date-time (whose
/// date is taken in `tz`).
pub fn parse_date(s: &str, format: Option<&str>, tz: chrono_tz::Tz) -> Result<NaiveDate, String> {
    let s = s.trim();
    if let Some(f) = format {
        return NaiveDate::parse_from_str(s, f).map_err(|e| format!("{s:?} is not {f}: {e}"));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|dt| dt.with_timezone(&tz).date_naive())
        .map_err(|_| format!("{s:?} is not an ISO date (YYYY-MM-DD)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let m = Mapping::parse(
            r#"
[settings]
timezone = "Europe/Berlin"
future_joiners = "inactive"
match = ["externalId", "email"]

[attributes]
externalId = "employee_id"
userName = { template = "{first}.{last}@example.com", transform = ["lower", "ascii"] }
active = { column = "status", lookup = { active = "true", terminated = "false" }, default = "true" }
title = { when = [{ column = "level", equals = "M", value = "Manager" }], default = "Staff" }
startDate = { column = "hire_date", date_format = "%d.%m.%Y" }

[[rules]]
name = "engineering"
when = { department = ["Engineering", "R&D"] }
groups = ["eng"]

[groups]
eng = "Engineering"

[drift]
title = "report"
"#,
        )
        .unwrap();
        assert_eq!(m.settings.future_joiners, FutureJoiners::Inactive);
        assert_eq!(
            m.settings.r#match,
            vec![MatchKey::ExternalId, MatchKey::Email]
        );
        assert_eq!(
            m.attributes["externalId"].column.as_deref(),
            Some("employee_id")
        );
        assert_eq!(m.group_display_name("eng"), "Engineering");
        assert_eq!(m.group_key("ENGINEERING"), "eng");
        assert_eq!(m.group_key("ops"), "ops");
        assert_eq!(m.drift_policy("TITLE"), DriftPolicy::Report);
        assert_eq!(m.drift_policy("userName"), DriftPolicy::Enforce);
        assert_eq!(m.timezone().unwrap(), chrono_tz::Europe::Berlin);
    }

    #[test]
    fn refuses_what_cannot_work() {
        for (bad, why) in [
            ("[settings]\ntimezone = \"Mars/Olympus\"", "time zone"),
            ("[attributes]\n\"emails[type eq\" = \"x\"", "emails[type eq"),
            ("[attributes]\nnoSuchAttr = \"x\"", "noSuchAttr"),
            (
                "[attributes]\ntitle = { column = \"a\", constant = \"b\" }",
                "at most one",
            ),
            ("[attributes]\ntitle = { template = \"{a\" }", "unclosed"),
            ("[[rules]]\nname = \"r\"\nwhen = {}", "grants nothing"),
            (
                "[[rules]]\nname = \"r\"\ngroups=[\"a\"]\n[[rules]]\nname = \"r\"\ngroups=[\"b\"]",
                "two rules",
            ),
            ("[settingz]\n", "unknown field"),
        ] {
            let e = Mapping::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn templates_globs_transforms_dates() {
        let get = |c: &str| match c {
            "a" => Some("Zoë".to_string()),
            "b" => Some("Müller".to_string()),
            _ => None,
        };
        assert_eq!(
            render_template("{a}.{b}@x", &get).as_deref(),
            Some("Zoë.Müller@x")
        );
        assert_eq!(render_template("{a}{missing}", &get), None);
        assert_eq!(transform(Transform::Ascii, "Zoë.Müller"), "Zoe.Mueller");
        assert_eq!(transform(Transform::Nospace, " a b "), "ab");
        assert!(glob_eq("*manager*", "Senior Manager, Sales"));
        assert!(glob_eq("eng*", "Engineering"));
        assert!(!glob_eq("eng*", "Sales Engineering"));
        assert!(glob_eq("*ing", "Engineering"));
        assert!(!glob_eq("Engineering", "Engineering Ops"));
        let tz = chrono_tz::Europe::Berlin;
        assert_eq!(
            parse_date("2026-03-01", None, tz).unwrap(),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
        assert_eq!(
            parse_date("01.03.2026", Some("%d.%m.%Y"), tz).unwrap(),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
        // 23:30 UTC on 28 February is already 1 March in Berlin.
        assert_eq!(
            parse_date("2026-02-28T23:30:00Z", None, tz).unwrap(),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
        assert!(parse_date("03/01/2026", None, tz).is_err());
    }
}
