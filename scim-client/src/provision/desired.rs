//! Desired state: what the source and the mapping say each person should have, on a given day.
//!
//! Each row becomes a [`Person`]: the SCIM user attributes the engine manages, the manager's key,
//! the groups, roles and entitlements granted (with reasons), the start and end dates, and a
//! [`Status`] for the day: active, a future joiner, or a leaver (with the reason). Problems that
//! make a row unusable (a bad date, a boolean that is not one) are collected with the row number
//! and key instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::NaiveDate;
use scim_core::filter::{CompValue, CompareOp, Filter};
use scim_core::schema::{AttributeDef, AttributeType};
use scim_core::{Context, JsonMap, PatchPath};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::mapping::{self, FutureJoiners, Mapping};
use super::rules::{self, Facts, Grant, GrantKind};
use super::source::{Record, Snapshot};

/// Columns (or mapping targets) with a meaning beyond a SCIM attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// The manager's key (resolved to the target's id when planning).
    Manager,
    /// `;`-separated group names, added to what the rules grant.
    Groups,
    /// First day of work.
    StartDate,
    /// Last day of work.
    EndDate,
}

/// Which special column `name` is, if any.
pub fn special(name: &str) -> Option<Special> {
    let n = name.to_ascii_lowercase();
    let ent = scim_core::schema::ENTERPRISE_USER.to_ascii_lowercase();
    if n == "manager"
        || n == "manager.value"
        || n == format!("{ent}:manager")
        || n == format!("{ent}:manager.value")
    {
        return Some(Special::Manager);
    }
    match n.as_str() {
        "groups" => Some(Special::Groups),
        "startdate" => Some(Special::StartDate),
        "enddate" => Some(Special::EndDate),
        _ => None,
    }
}

/// Checks that a path names a writable User attribute the engine can set from text.
pub fn check_path(path: &str, ctx: &Context<'_>) -> Result<(), String> {
    let pp = PatchPath::parse(path).map_err(|e| e.detail)?;
    let r = ctx
        .resolve_attr(&pp.attr)
        .ok_or_else(|| format!("no User attribute {}", pp.attr))?;
    if r.attr.mutability == scim_core::schema::Mutability::ReadOnly {
        return Err(format!("{} is read-only", r.attr.name));
    }
    if let Some(filter) = &pp.filter {
        if !r.attr.multi_valued || r.sub.is_none() {
            return Err("a value filter needs a multi-valued attribute and a sub-attribute (emails[type eq \"work\"].value)".into());
        }
        eq_conditions(filter)?;
    } else if r.attr.multi_valued && r.sub.is_some() {
        return Err(format!(
            "{path} is a sub-attribute of a multi-valued attribute: select the element with a value filter ({}[type eq \"work\"].{})",
            r.attr.name,
            r.sub.map(|s| s.name.as_str()).unwrap_or_default()
        ));
    }
    Ok(())
}

fn eq_conditions(f: &Filter) -> Result<Vec<(String, Value)>, String> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub.is_none() => {
            let v = match value {
                CompValue::String(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                other => return Err(format!("unsupported value {other:?} in a mapping path")),
            };
            Ok(vec![(path.name.clone(), v)])
        }
        Filter::And(a, b) => {
            let mut x = eq_conditions(a)?;
            x.extend(eq_conditions(b)?);
            Ok(x)
        }
        _ => Err("a mapping path's value filter may only use `eq` and `and`".into()),
    }
}

fn typed(raw: &str, def: &AttributeDef) -> Result<Value, String> {
    let raw = raw.trim();
    Ok(match def.kind {
        AttributeType::Boolean => match raw.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => Value::Bool(true),
            "false" | "no" | "n" | "0" => Value::Bool(false),
            _ => return Err(format!("{}: {raw:?} is not a boolean", def.name)),
        },
        AttributeType::Integer => Value::from(
            raw.parse::<i64>()
                .map_err(|_| format!("{}: {raw:?} is not an integer", def.name))?,
        ),
        AttributeType::Decimal => serde_json::Number::from_f64(
            raw.parse::<f64>()
                .map_err(|_| format!("{}: {raw:?} is not a number", def.name))?,
        )
        .map(Value::Number)
        .ok_or_else(|| format!("{}: {raw:?} is not a finite number", def.name))?,
        _ => Value::String(raw.to_string()),
    })
}

/// Sets the attribute at a SCIM path (`name.givenName`, `emails[type eq "work"].value`,
/// `urn:…:User:department`, `roles` with `;`-separated values) from text.
pub fn set_path(
    user: &mut JsonMap,
    path: &str,
    raw: &str,
    ctx: &Context<'_>,
) -> Result<(), String> {
    let pp = PatchPath::parse(path).map_err(|e| e.detail)?;
    set_parsed(user, &pp, raw, ctx)
}

/// [`set_path`] with the path parsed once.
pub fn set_parsed(
    user: &mut JsonMap,
    pp: &PatchPath,
    raw: &str,
    ctx: &Context<'_>,
) -> Result<(), String> {
    let r = ctx
        .resolve_attr(&pp.attr)
        .ok_or_else(|| format!("no User attribute {}", pp.attr))?;
    let container: &mut JsonMap = match r.extension_key() {
        Some(ext) => user
            .entry(ext.to_string())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or("extension is not an object")?,
        None => user,
    };
    let name = r.attr.name.clone();
    if let Some(filter) = &pp.filter {
        let conds = eq_conditions(filter)?;
        let sub = r.sub.ok_or("a value filter needs a sub-attribute")?;
        let arr = container
            .entry(name)
            .or_insert_with(|| Value::Array(Vec::new()));
        let arr = arr.as_array_mut().ok_or("not multi-valued")?;
        let pos = arr
            .iter()
            .position(|e| conds.iter().all(|(k, v)| e.get(k).is_some_and(|x| x == v)));
        let idx = match pos {
            Some(i) => i,
            None => {
                let mut o = Map::new();
                for (k, v) in &conds {
                    o.insert(k.clone(), v.clone());
                }
                arr.push(Value::Object(o));
                arr.len() - 1
            }
        };
        let v = typed(raw, sub)?;
        arr[idx]
            .as_object_mut()
            .expect("elements are objects")
            .insert(sub.name.clone(), v);
        return Ok(());
    }
    if let Some(sub) = r.sub {
        let v = typed(raw, sub)?;
        container
            .entry(name)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or("not a complex attribute")?
            .insert(sub.name.clone(), v);
        return Ok(());
    }
    if r.attr.multi_valued {
        let vals: Vec<Value> = raw
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let mut o = Map::new();
                o.insert("value".into(), Value::String(s.to_string()));
                Value::Object(o)
            })
            .collect();
        container.insert(name, Value::Array(vals));
        return Ok(());
    }
    container.insert(name, typed(raw, r.attr)?);
    Ok(())
}

/// The value at a SCIM path as [`set_path`] writes it; `None` when absent.
pub fn get_path<'u>(user: &'u JsonMap, path: &str, ctx: &Context<'_>) -> Option<&'u Value> {
    let pp = PatchPath::parse(path).ok()?;
    let r = ctx.resolve_attr(&pp.attr)?;
    let container = match r.extension_key() {
        Some(ext) => scim_core::resource::get_ci(user, ext)?.as_object()?,
        None => user,
    };
    let v = scim_core::resource::get_ci(container, &r.attr.name)?;
    match (&pp.filter, r.sub) {
        (Some(f), Some(sub)) => {
            let conds = eq_conditions(f).ok()?;
            let e = v.as_array()?.iter().find(|e| {
                conds
                    .iter()
                    .all(|(k, want)| e.get(k).is_some_and(|x| x == want))
            })?;
            e.get(&sub.name)
        }
        (None, Some(sub)) => v.get(&sub.name),
        (None, None) => Some(v),
        (Some(_), None) => None,
    }
}

/// A person's status on the planning day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Should have an active account.
    Active,
    /// Starts later: not provisioned yet (or provisioned inactive, per settings).
    FutureJoiner {
        /// First day.
        start: NaiveDate,
    },
    /// Left: the account is deprovisioned.
    Leaver {
        /// Why (`endDate 2026-01-31 has passed`, `active = false in the source`).
        reason: String,
    },
}

/// One person as the source describes them.
///
/// The managed attributes are kept as JSON text (a JSON map per person would cost kilobytes
/// each at 100,000 people): [`Person::user`] parses them; `userName` and the e-mail are kept
/// decoded. Serialized, `user` is the JSON object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "PersonWire")]
pub struct Person {
    /// The person's key (`externalId`, or `userName` when the source has no `externalId`).
    pub key: String,
    /// 1-based source row.
    pub row: usize,
    /// The managed SCIM attributes (canonical names; `active` included), as a JSON object.
    #[serde(rename = "user")]
    user_json: Box<RawValue>,
    /// The manager's key.
    pub manager: Option<String>,
    /// Groups, roles and entitlements granted, with reasons.
    pub grants: Vec<Grant>,
    /// First day of work.
    pub start_date: Option<NaiveDate>,
    /// Last day of work.
    pub end_date: Option<NaiveDate>,
    /// Status on the planning day.
    pub status: Status,
    /// What rules and scopes test: attribute paths, their last segments, source columns.
    #[serde(skip)]
    pub facts: Facts,
    #[serde(skip)]
    user_name: Option<Box<str>>,
    #[serde(skip)]
    email: Option<Box<str>>,
}

/// A person as serialized.
#[derive(Deserialize)]
struct PersonWire {
    key: String,
    row: usize,
    user: JsonMap,
    manager: Option<String>,
    grants: Vec<Grant>,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    status: Status,
}

impl From<PersonWire> for Person {
    fn from(w: PersonWire) -> Person {
        let mut p = Person::new(w.key, w.row, &w.user, w.status);
        p.manager = w.manager;
        p.grants = w.grants;
        p.start_date = w.start_date;
        p.end_date = w.end_date;
        p
    }
}

impl Person {
    /// A person with these attributes (no manager, grants, dates or facts yet).
    pub fn new(key: String, row: usize, user: &JsonMap, status: Status) -> Person {
        let text = serde_json::to_string(user).unwrap_or_else(|_| "{}".into());
        Person {
            key,
            row,
            user_json: RawValue::from_string(text).expect("a serialized map is valid JSON"),
            manager: None,
            grants: Vec::new(),
            start_date: None,
            end_date: None,
            status,
            facts: Facts::default(),
            user_name: user.get("userName").and_then(Value::as_str).map(Box::from),
            email: primary_email(user).map(Box::from),
        }
    }
    /// The managed SCIM attributes (canonical names; `active` included).
    pub fn user(&self) -> JsonMap {
        serde_json::from_str(self.user_json.get()).unwrap_or_default()
    }
    /// The managed SCIM attributes as JSON text.
    pub fn user_text(&self) -> &str {
        self.user_json.get()
    }
    /// `userName`.
    pub fn user_name(&self) -> Option<&str> {
        self.user_name.as_deref()
    }
    /// The work (or first) e-mail.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    /// Group keys granted.
    pub fn group_keys(&self) -> BTreeSet<&str> {
        self.grants
            .iter()
            .filter(|g| g.kind == GrantKind::Group)
            .map(|g| g.value.as_str())
            .collect()
    }
    /// A short label: `key (userName)`.
    pub fn label(&self) -> String {
        match self.user_name() {
            Some(u) => format!("{} ({u})", self.key),
            None => self.key.clone(),
        }
    }
    /// True when the person should have an account now (active, or an inactive future
    /// joiner under `future_joiners = "inactive"`).
    pub fn provisioned(&self, settings: &mapping::Settings) -> bool {
        match self.status {
            Status::Active => true,
            Status::FutureJoiner { .. } => settings.future_joiners == FutureJoiners::Inactive,
            Status::Leaver { .. } => false,
        }
    }
}

/// The work e-mail, else the primary, else the first.
pub fn primary_email(user: &JsonMap) -> Option<&str> {
    primary_email_of(scim_core::resource::get_ci(user, "emails")?)
}

/// [`primary_email`] of the value of `emails`.
pub fn primary_email_of(emails: &Value) -> Option<&str> {
    let emails = emails.as_array()?;
    emails
        .iter()
        .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
        .or_else(|| {
            emails
                .iter()
                .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        })
        .or_else(|| emails.first())
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
}

/// A row the engine cannot use, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowProblem {
    /// 1-based row.
    pub row: usize,
    /// The person's key, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub problem: String,
}

/// Everyone the source describes, on one day.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Desired {
    /// People in source order (duplicates of a key are left out, see `duplicates`).
    pub people: Vec<Person>,
    /// Rows that could not be used.
    pub problems: Vec<RowProblem>,
    /// Keys that appear on more than one row, with the rows.
    pub duplicates: BTreeMap<String, Vec<usize>>,
    /// Per required attribute, the rows where it is empty.
    pub empty_required: BTreeMap<String, Vec<usize>>,
    /// Source rows read.
    pub rows: usize,
    /// The planning day (in the mapping's time zone).
    pub today: NaiveDate,
    /// The SCIM attribute paths the source sets (the engine manages these, also where a
    /// person's value is empty: an emptied cell removes the attribute).
    pub managed: Vec<String>,
    /// True when the source names managers.
    pub manages_manager: bool,
}

impl Desired {
    /// Builds the desired state of `snapshot` under `mapping` on `today`.
    pub fn build(snapshot: &Snapshot, mapping: &Mapping, today: NaiveDate) -> Desired {
        Desired::build_keeping(snapshot, mapping, today, &[])
    }

    /// [`Desired::build`], keeping these facts of each person (besides those the rules test)
    /// for a target's scope.
    pub fn build_keeping(
        snapshot: &Snapshot,
        mapping: &Mapping,
        today: NaiveDate,
        keep_facts: &[String],
    ) -> Desired {
        let ctx = Context::user();
        let tz = mapping.timezone().unwrap_or(chrono_tz::UTC);
        let mut people: Vec<Person> = Vec::with_capacity(snapshot.records.len());
        let mut problems = Vec::new();
        let mut rows_by_key: HashMap<String, Vec<usize>> = HashMap::new();
        let mut empty_required: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        // Without a mapping, each column is its own target; unknown columns are facts only.
        let specs: Vec<(String, mapping::AttrSpec)> = if mapping.attributes.is_empty() {
            snapshot
                .columns
                .iter()
                .map(|c| {
                    (
                        c.clone(),
                        mapping::AttrSpec {
                            column: Some(c.clone()),
                            ..Default::default()
                        },
                    )
                })
                .collect()
        } else {
            mapping
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let plain_columns = mapping.attributes.is_empty();
        // Parse every path once, not once per row.
        let kinds: Vec<Kind> = specs
            .iter()
            .map(|(t, _)| match special(t) {
                Some(sp) => Kind::Special(sp),
                None if !plain_columns || check_path(t, &ctx).is_ok() => {
                    match PatchPath::parse(t) {
                        Ok(pp) => Kind::Attr(pp),
                        Err(_) => Kind::Fact,
                    }
                }
                None => Kind::Fact,
            })
            .collect();
        // Only the facts rules and scopes test are kept.
        let needed: HashSet<String> = mapping
            .rules
            .iter()
            .flat_map(|r| r.when.keys())
            .chain(keep_facts)
            .map(|k| k.to_ascii_lowercase())
            .collect();
        let plan = RowPlan {
            specs: &specs,
            kinds: &kinds,
            needed: &needed,
            mapping,
            tz,
            today,
            ctx: &ctx,
        };
        for rec in &snapshot.records {
            match person(rec, &plan) {
                Ok((p, user)) => {
                    for req in &mapping.settings.required {
                        let empty = match special(req) {
                            Some(Special::Manager) => p.manager.is_none(),
                            Some(_) => false,
                            None => get_path(&user, req, &ctx).is_none_or(|v| {
                                v.is_null() || v == "" || v == &Value::Array(vec![])
                            }),
                        };
                        if empty {
                            empty_required.entry(req.clone()).or_default().push(rec.row);
                        }
                    }
                    if p.key.is_empty() {
                        problems.push(RowProblem {
                            row: rec.row,
                            key: None,
                            problem: "no externalId or userName: the person cannot be identified"
                                .into(),
                        });
                        continue;
                    }
                    rows_by_key.entry(p.key.clone()).or_default().push(rec.row);
                    people.push(p);
                }
                Err((key, problem)) => problems.push(RowProblem {
                    row: rec.row,
                    key,
                    problem,
                }),
            }
        }
        let duplicates: BTreeMap<String, Vec<usize>> = rows_by_key
            .into_iter()
            .filter(|(_, rows)| rows.len() > 1)
            .collect();
        people.retain(|p| !duplicates.contains_key(&p.key));
        let managed = specs
            .iter()
            .filter(|(t, _)| special(t).is_none() && check_path(t, &ctx).is_ok())
            .map(|(t, _)| t.clone())
            .collect();
        let manages_manager = specs
            .iter()
            .any(|(t, _)| special(t) == Some(Special::Manager));
        Desired {
            managed,
            manages_manager,
            people,
            problems,
            duplicates,
            empty_required,
            rows: snapshot.records.len(),
            today,
        }
    }

    /// The person with this key.
    pub fn person(&self, key: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.key == key)
    }

    /// Key → person, for lookups in large sources.
    pub fn index(&self) -> HashMap<&str, &Person> {
        self.people.iter().map(|p| (p.key.as_str(), p)).collect()
    }
}

enum Kind {
    Special(Special),
    Attr(PatchPath),
    Fact,
}

struct RowPlan<'a> {
    specs: &'a [(String, mapping::AttrSpec)],
    kinds: &'a [Kind],
    needed: &'a HashSet<String>,
    mapping: &'a Mapping,
    tz: chrono_tz::Tz,
    today: NaiveDate,
    ctx: &'a Context<'a>,
}

/// The person of a row, and their attributes as a map (for the checks of the build).
fn person(rec: &Record, rp: &RowPlan<'_>) -> Result<(Person, JsonMap), (Option<String>, String)> {
    let RowPlan {
        specs,
        kinds,
        needed,
        mapping,
        tz,
        today,
        ctx,
    } = *rp;
    let add_fact = |facts: &mut Facts, k: &str, v: &str| {
        if needed.iter().any(|n| n.eq_ignore_ascii_case(k)) {
            facts.add(k, v);
        }
    };
    let mut user = JsonMap::new();
    let mut facts = Facts::default();
    let mut manager = None;
    let mut explicit_groups = Vec::new();
    let mut start_date = None;
    let mut end_date = None;
    let mut errors = Vec::new();
    let get = |c: &str| rec.get(c).map(str::to_string);
    for ((target, spec), kind) in specs.iter().zip(kinds) {
        let Some(value) = compute(spec, &get) else {
            continue;
        };
        let sp = match kind {
            Kind::Special(sp) => Some(*sp),
            _ => None,
        };
        match sp {
            Some(Special::Manager) => manager = Some(value.clone()),
            Some(Special::Groups) => explicit_groups.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            ),
            Some(Special::StartDate) => {
                match mapping::parse_date(&value, spec.date_format.as_deref(), tz) {
                    Ok(d) => start_date = Some(d),
                    Err(e) => errors.push(format!("startDate: {e}")),
                }
            }
            Some(Special::EndDate) => {
                match mapping::parse_date(&value, spec.date_format.as_deref(), tz) {
                    Ok(d) => end_date = Some(d),
                    Err(e) => errors.push(format!("endDate: {e}")),
                }
            }
            None => {
                if let Kind::Attr(pp) = kind {
                    if let Err(e) = set_parsed(&mut user, pp, &value, ctx) {
                        errors.push(e);
                    }
                    // Facts: the path as written and its last segment.
                    add_fact(&mut facts, target, &value);
                    let short = target.rsplit([':', '.']).next().unwrap_or(target);
                    if !short.contains(['[', ']', '"']) {
                        add_fact(&mut facts, short, &value);
                    }
                }
            }
        }
    }
    for (c, v) in rec.fields() {
        add_fact(&mut facts, c, v.trim());
    }
    let key = user
        .get("externalId")
        .or_else(|| user.get("userName"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !errors.is_empty() {
        return Err(((!key.is_empty()).then_some(key), errors.join("; ")));
    }
    let source_active = user.get("active").and_then(Value::as_bool).unwrap_or(true);
    let status = if let Some(end) = end_date.filter(|e| *e < today) {
        Status::Leaver {
            reason: format!("endDate {end} has passed"),
        }
    } else if !source_active {
        Status::Leaver {
            reason: "active = false in the source".into(),
        }
    } else if let Some(start) = start_date.filter(|s| *s > today) {
        Status::FutureJoiner { start }
    } else {
        Status::Active
    };
    user.insert(
        "active".into(),
        Value::Bool(matches!(status, Status::Active)),
    );
    let mut grants = rules::evaluate(mapping, &facts);
    for g in explicit_groups {
        grants.push(Grant {
            kind: GrantKind::Group,
            value: mapping.group_key(&g),
            reason: "source column groups".into(),
        });
    }
    // Roles and entitlements from rules join those from the source.
    for (kind, attr) in [
        (GrantKind::Role, "roles"),
        (GrantKind::Entitlement, "entitlements"),
    ] {
        let granted: Vec<&str> = grants
            .iter()
            .filter(|g| g.kind == kind)
            .map(|g| g.value.as_str())
            .collect();
        if granted.is_empty() {
            continue;
        }
        let arr = user
            .entry(attr.to_string())
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
            .expect("roles/entitlements are arrays");
        for v in granted {
            if !arr
                .iter()
                .any(|e| e.get("value").and_then(Value::as_str) == Some(v))
            {
                arr.push(serde_json::json!({ "value": v }));
            }
        }
    }
    let mut p = Person::new(key, rec.row, &user, status);
    p.manager = manager;
    grants.shrink_to_fit();
    p.grants = grants;
    p.start_date = start_date;
    p.end_date = end_date;
    facts.shrink_to_fit();
    p.facts = facts;
    Ok((p, user))
}

/// Computes one attribute's text from a row; `None` when it comes out empty.
pub fn compute(spec: &mapping::AttrSpec, get: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut v: Option<String> = None;
    for c in &spec.when {
        let have = get(&c.column).unwrap_or_default();
        let holds = c
            .equals
            .as_deref()
            .is_some_and(|e| mapping::glob_eq(e, &have))
            || c.one_of
                .as_ref()
                .is_some_and(|l| l.iter().any(|e| mapping::glob_eq(e, &have)))
            || c.empty
                .is_some_and(|want_empty| want_empty == have.trim().is_empty());
        if holds {
            v = mapping::render_template(&c.value, get);
            break;
        }
    }
    if v.is_none() && spec.when.is_empty() {
        v = if let Some(c) = &spec.column {
            get(c)
        } else if let Some(t) = &spec.template {
            mapping::render_template(t, get)
        } else {
            spec.constant.clone()
        };
    }
    if let (Some(table), Some(x)) = (&spec.lookup, v.as_ref()) {
        v = table
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(x.trim()))
            .map(|(_, t)| t.clone());
    }
    let mut v = v
        .filter(|s| !s.trim().is_empty())
        .or_else(|| spec.default.clone())?;
    for t in &spec.transform {
        v = mapping::transform(*t, &v);
    }
    (!v.trim().is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::source::parse_csv;
    use serde_json::json;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn scim_path_columns_need_no_mapping() {
        let csv = "externalId,userName,name.givenName,emails[type eq \"work\"].value,active,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department,manager,groups,startDate,endDate,location\n\
E1,ada,Ada,ada@x.com,true,Engineering,,ops;eng,2020-01-01,,Berlin\n\
E2,bob,Bob,bob@x.com,yes,Sales,E1,,2030-01-01,,Paris\n\
E3,cy,Cy,cy@x.com,true,Sales,E1,,,2021-06-30,Paris\n\
E4,dee,Dee,dee@x.com,false,Sales,,,,,Paris\n";
        let snap = parse_csv(csv.as_bytes(), "t").unwrap();
        let m = Mapping::parse(
            "[[rules]]\nname = \"eng\"\nwhen = { department = \"engineering\", location = \"Berlin\" }\ngroups = [\"eng\", \"github\"]\nroles = [\"dev\"]\n",
        )
        .unwrap();
        let d = Desired::build(&snap, &m, day("2026-01-15"));
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert_eq!(d.people.len(), 4);
        let ada = d.person("E1").unwrap();
        assert_eq!(
            Value::Object(ada.user()),
            json!({"externalId": "E1", "userName": "ada", "name": {"givenName": "Ada"},
                   "emails": [{"type": "work", "value": "ada@x.com"}], "active": true,
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Engineering"},
                   "roles": [{"value": "dev"}]})
        );
        assert_eq!(
            ada.group_keys().into_iter().collect::<Vec<_>>(),
            ["eng", "github", "ops"]
        );
        assert_eq!(ada.status, Status::Active);
        let bob = d.person("E2").unwrap();
        assert_eq!(bob.manager.as_deref(), Some("E1"));
        assert_eq!(
            bob.status,
            Status::FutureJoiner {
                start: day("2030-01-01")
            }
        );
        assert!(!bob.provisioned(&m.settings));
        assert_eq!(bob.user()["active"], false);
        assert!(
            matches!(&d.person("E3").unwrap().status, Status::Leaver { reason } if reason.contains("2021-06-30"))
        );
        assert!(
            matches!(&d.person("E4").unwrap().status, Status::Leaver { reason } if reason.contains("active = false"))
        );
    }

    #[test]
    fn mapped_columns_with_transforms_and_problems() {
        let csv = "id,first,last,status,hired,level,mail\n\
1,Zoë,Müller,Active,01.02.2026,M,\n\
2,Al,Bo,terminated,31.02.2026,S,al@x\n\
1,Dup,Licate,Active,,S,\n\
3,Ed,Ok,Active,,S,\n";
        let m = Mapping::parse(
            r#"
[settings]
timezone = "Europe/Berlin"
required = ["externalId", "emails[type eq \"work\"].value"]
[attributes]
externalId = "id"
userName = { template = "{first}.{last}@example.com", transform = ["ascii", "lower"] }
active = { column = "status", lookup = { active = "true", terminated = "false" }, default = "true" }
title = { when = [{ column = "level", equals = "M", value = "Manager of {last}" }], default = "Staff" }
startDate = { column = "hired", date_format = "%d.%m.%Y" }
'emails[type eq "work"].value' = "mail"
"#,
        )
        .unwrap();
        let snap = parse_csv(csv.as_bytes(), "t").unwrap();
        let d = Desired::build(&snap, &m, day("2026-03-01"));
        assert_eq!(d.problems.len(), 1);
        assert_eq!(d.problems[0].row, 2);
        assert_eq!(d.problems[0].key.as_deref(), Some("2"));
        assert!(
            d.problems[0].problem.contains("31.02.2026"),
            "{:?}",
            d.problems
        );
        assert_eq!(d.duplicates.get("1"), Some(&vec![1, 3]));
        assert_eq!(d.people.len(), 1, "duplicates are left out");
        let ed = &d.people[0];
        assert_eq!(ed.user()["userName"], "ed.ok@example.com");
        assert_eq!(ed.user()["title"], "Staff");
        assert_eq!(
            d.empty_required.get("emails[type eq \"work\"].value"),
            Some(&vec![1, 3, 4])
        );
        let zoe_row = &snap.records[0];
        let get = |c: &str| zoe_row.get(c).map(str::to_string);
        assert_eq!(
            compute(&m.attributes["userName"], &get).as_deref(),
            Some("zoe.mueller@example.com")
        );
        assert_eq!(
            compute(&m.attributes["title"], &get).as_deref(),
            Some("Manager of Müller")
        );
    }

    #[test]
    fn set_path_handles_filters_extensions_and_types() {
        let ctx = Context::user();
        let mut u = JsonMap::new();
        set_path(&mut u, r#"emails[type eq "work"].value"#, "a@x", &ctx).unwrap();
        set_path(&mut u, r#"emails[type eq "home"].value"#, "a@home", &ctx).unwrap();
        set_path(&mut u, r#"emails[type eq "work"].primary"#, "true", &ctx).unwrap();
        set_path(&mut u, "department", "R&D", &ctx).unwrap();
        set_path(&mut u, "entitlements", "a; b;", &ctx).unwrap();
        assert_eq!(
            Value::Object(u),
            json!({"emails": [{"type": "work", "value": "a@x", "primary": true}, {"type": "home", "value": "a@home"}],
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
                   "entitlements": [{"value": "a"}, {"value": "b"}]})
        );
        let mut u = JsonMap::new();
        assert!(set_path(&mut u, "active", "maybe", &ctx)
            .unwrap_err()
            .contains("boolean"));
        assert!(check_path("emails.value", &ctx).is_err());
        assert!(check_path("id", &ctx).is_err());
        assert!(check_path(r#"emails[type ne "x"].value"#, &ctx).is_err());
        assert!(check_path("nickName", &ctx).is_ok());
        assert_eq!(special("Manager"), Some(Special::Manager));
        assert_eq!(
            special("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
            Some(Special::Manager)
        );
    }
}
