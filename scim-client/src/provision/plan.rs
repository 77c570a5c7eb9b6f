//! The plan: the difference between the desired state and what the target holds.
//!
//! Target users are matched to people by `externalId`, then `userName`, then e-mail (the
//! order is configurable; a link recorded in the state file wins), groups by their key
//! (`externalId`) then `displayName`. Joiners, movers and leavers are all differences:
//!
//! | situation | change |
//! |---|---|
//! | person to provision, no account | `create_user` (managers before their reports) |
//! | account found by a key the state did not know | `link_user` (no request) |
//! | managed attributes differ | `update_user` (minimal PATCH, or PUT where PATCH is missing) |
//! | inactive account of a person to provision | `reactivate_user` |
//! | leaver (end date passed, inactive in the source, left the source or the scope) | `deactivate_user` (or `delete_user` per target policy, or after a grace period) |
//! | group granted but missing / renamed | `create_group` / `update_group` |
//! | membership differs (only accounts the engine manages are removed) | `remove_members`, `add_members` |
//!
//! A plan records the source hash and the version (`meta.version`, or a hash of the resource
//! when the target has no versions) of every target object it read, so a saved plan can be
//! refused when anything changed since ([`stale_reasons`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use scim_core::resource::get_ci;
use scim_core::schema::{ENTERPRISE_USER, GROUP, USER};
use scim_core::{Context, JsonMap, PatchOperation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::desired::{self, Desired, Person, Status};
use super::mapping::{DriftPolicy, Mapping, MatchKey, OneOrMany};
use super::source::sha256_hex;
use super::state::Link;

pub use super::target::{version_of, TargetSnapshot, TargetUser};

/// What happens to leavers in a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaverPolicy {
    /// `active: false` (the default; data and memberships stay, reversible).
    #[default]
    Deactivate,
    /// DELETE at once.
    Delete,
}

/// Per-target planning options.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanOptions {
    /// The target's name (state and outbox are kept per name).
    pub target: String,
    /// The target's base URL (recorded in the plan).
    pub target_url: String,
    /// Leavers: deactivate (default) or delete.
    pub leavers: LeaverPolicy,
    /// Delete accounts this many days after the engine deactivated them; `None`: never.
    pub delete_after_days: Option<i64>,
    /// Delete groups the engine created once no rule grants them any more.
    pub delete_groups: bool,
    /// Only people whose facts match every entry are provisioned here (others are leavers
    /// for this target). Empty: everyone.
    pub scope: BTreeMap<String, OneOrMany>,
    /// Target users no source person owns and the engine never linked: left alone and reported
    /// (`false`, the default) or deprovisioned like leavers (`true`).
    pub deprovision_orphans: bool,
}

impl PlanOptions {
    /// Defaults for a target.
    pub fn new(target: impl Into<String>, url: impl Into<String>) -> Self {
        PlanOptions {
            target: target.into(),
            target_url: url.into(),
            leavers: LeaverPolicy::Deactivate,
            delete_after_days: None,
            delete_groups: false,
            scope: BTreeMap::new(),
            deprovision_orphans: false,
        }
    }
}

/// Kinds of change, in execution phases: links, leavers first, groups, creates, updates,
/// membership removals, membership additions, group deletions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Record that an existing account belongs to a person (no request).
    LinkUser,
    /// Record that an existing group is a managed group (no request).
    LinkGroup,
    /// `active: false`.
    DeactivateUser,
    /// DELETE the account.
    DeleteUser,
    /// POST a group.
    CreateGroup,
    /// Rename a group (or set its key).
    UpdateGroup,
    /// POST a user.
    CreateUser,
    /// Activate an inactive account again (with any other changes).
    ReactivateUser,
    /// Change managed attributes.
    UpdateUser,
    /// Remove members.
    RemoveMembers,
    /// Add members.
    AddMembers,
    /// DELETE a group.
    DeleteGroup,
}

impl ChangeKind {
    /// Execution phase.
    pub fn phase(self) -> i64 {
        match self {
            ChangeKind::LinkUser | ChangeKind::LinkGroup => 0,
            ChangeKind::DeactivateUser | ChangeKind::DeleteUser => 1,
            ChangeKind::CreateGroup | ChangeKind::UpdateGroup => 2,
            ChangeKind::CreateUser => 3,
            ChangeKind::ReactivateUser | ChangeKind::UpdateUser => 4,
            ChangeKind::RemoveMembers => 5,
            ChangeKind::AddMembers => 6,
            ChangeKind::DeleteGroup => 7,
        }
    }
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::LinkUser => "link_user",
            ChangeKind::LinkGroup => "link_group",
            ChangeKind::DeactivateUser => "deactivate_user",
            ChangeKind::DeleteUser => "delete_user",
            ChangeKind::CreateGroup => "create_group",
            ChangeKind::UpdateGroup => "update_group",
            ChangeKind::CreateUser => "create_user",
            ChangeKind::ReactivateUser => "reactivate_user",
            ChangeKind::UpdateUser => "update_user",
            ChangeKind::RemoveMembers => "remove_members",
            ChangeKind::AddMembers => "add_members",
            ChangeKind::DeleteGroup => "delete_group",
        }
    }
    /// True when executing it sends a modifying request.
    pub fn modifies(self) -> bool {
        !matches!(self, ChangeKind::LinkUser | ChangeKind::LinkGroup)
    }
}

/// A member of a membership change: the person's key and, when it exists already, the
/// account's id (otherwise it is found through the link its creation records).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MemberRef {
    /// The person's key.
    pub key: String,
    /// The account id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// What.
    pub kind: ChangeKind,
    /// The person's key (user changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// The group key (group changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Who or what, readable.
    pub label: String,
    /// The target object's id, when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why.
    pub why: Vec<String>,
    /// What changes, readable (`title: "Dev" → "Lead"`).
    pub details: Vec<String>,
    /// The request body: the resource to create, or `{"Operations": [...]}` for updates.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub body: Value,
    /// The manager's key, when the manager's id is known only after another change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// Members added or removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberRef>,
    /// The managed attributes as they will be after the change (recorded for drift detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Value>,
}

/// A difference between the target and what the engine last wrote or knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftItem {
    /// `manual_edit`, `orphan`, `missing`, `unmanaged_member`, `conflict`, `unknown_manager`.
    pub kind: String,
    /// Who or what.
    pub subject: String,
    /// What differs.
    pub detail: String,
    /// `enforced`, `adopted`, `reported`.
    pub action: String,
}

/// The source a plan was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// File or URL.
    pub origin: String,
    /// SHA-256 of the bytes.
    pub hash: String,
    /// Rows.
    pub rows: usize,
}

/// The life-cycle event of a person in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// New account.
    Joiner,
    /// Changed attributes or access.
    Mover,
    /// Deprovisioned.
    Leaver,
}

/// Per person: what happens and why (the readable plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonPlan {
    /// Key.
    pub key: String,
    /// `key (userName)`.
    pub label: String,
    /// Joiner, mover or leaver.
    pub event: Event,
    /// Actions (`create`, `update`, `deactivate`, …).
    pub actions: Vec<String>,
    /// What changes.
    pub details: Vec<String>,
    /// Why.
    pub why: Vec<String>,
    /// Groups added (`+eng`) and removed (`-sales`).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Who to tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
}

/// Who to tell about a person's changes (serialized as `key`, `userName`, `displayName`,
/// `email`, `manager_email`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The person's key.
    pub key: String,
    /// `userName`.
    #[serde(rename = "userName", default)]
    pub user_name: Option<String>,
    /// `displayName`, else given and family name.
    #[serde(rename = "displayName", default)]
    pub display_name: Option<String>,
    /// The work (or primary, or first) e-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// The manager's e-mail.
    #[serde(default)]
    pub manager_email: Option<String>,
}

/// A plan for one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// Plan id.
    pub id: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Target name.
    pub target: String,
    /// Target URL.
    pub target_url: String,
    /// The source snapshot.
    pub source: SourceInfo,
    /// SHA-256 of the mapping (as serialized).
    pub mapping_hash: String,
    /// The planning day.
    pub today: NaiveDate,
    /// `Users/<id>` / `Groups/<id>` → version, for every object read.
    pub versions: BTreeMap<String, String>,
    /// Accounts the engine manages in the target (matched or linked).
    pub managed_users: usize,
    /// The changes, in execution order.
    pub changes: Vec<Change>,
    /// Per person.
    pub people: Vec<PersonPlan>,
    /// Drift found while planning.
    pub drift: Vec<DriftItem>,
    /// Informational notes (future joiners waiting, rows skipped).
    pub notes: Vec<String>,
    /// Safety gates that tripped (the plan is applied only with `--force`).
    #[serde(default)]
    pub gates: Vec<super::gates::Tripped>,
}

impl Plan {
    /// Changes that send a modifying request.
    pub fn modifying(&self) -> usize {
        self.changes.iter().filter(|c| c.kind.modifies()).count()
    }
    /// How many changes of a kind.
    pub fn count(&self, kind: ChangeKind) -> usize {
        self.changes.iter().filter(|c| c.kind == kind).count()
    }
    /// Deactivations plus deletions of users.
    pub fn deprovisions(&self) -> usize {
        self.count(ChangeKind::DeactivateUser) + self.count(ChangeKind::DeleteUser)
    }
    /// The one-line summary.
    pub fn summary(&self) -> String {
        let members: usize = self
            .changes
            .iter()
            .filter(|c| matches!(c.kind, ChangeKind::AddMembers | ChangeKind::RemoveMembers))
            .map(|c| c.members.len())
            .sum();
        format!(
            "{} create, {} update, {} reactivate, {} deactivate, {} delete; groups: {} create, {} update, {} delete; {} membership changes; {} links",
            self.count(ChangeKind::CreateUser),
            self.count(ChangeKind::UpdateUser),
            self.count(ChangeKind::ReactivateUser),
            self.count(ChangeKind::DeactivateUser),
            self.count(ChangeKind::DeleteUser),
            self.count(ChangeKind::CreateGroup),
            self.count(ChangeKind::UpdateGroup),
            self.count(ChangeKind::DeleteGroup),
            members,
            self.count(ChangeKind::LinkUser) + self.count(ChangeKind::LinkGroup),
        )
    }
}

fn lc(s: &str) -> String {
    s.to_lowercase()
}

/// A managed attribute: (extension URN, attribute name).
type ManagedAttr = (Option<String>, String);

/// Where a managed attribute lives: (extension URN, attribute name).
fn managed_attrs(
    desired: &Desired,
    grants_roles: bool,
    grants_ents: bool,
) -> Vec<(Option<String>, String)> {
    let ctx = Context::user();
    let mut out: Vec<(Option<String>, String)> = Vec::new();
    let mut push = |x: (Option<String>, String)| {
        if !out.contains(&x) {
            out.push(x);
        }
    };
    push((None, "externalId".into()));
    push((None, "active".into()));
    for p in &desired.managed {
        if let Ok(pp) = scim_core::PatchPath::parse(p) {
            if let Some(r) = ctx.resolve_attr(&pp.attr) {
                push((r.extension_key().map(str::to_string), r.attr.name.clone()));
            }
        }
    }
    if desired.manages_manager {
        push((Some(ENTERPRISE_USER.into()), "manager".into()));
    }
    if grants_roles {
        push((None, "roles".into()));
    }
    if grants_ents {
        push((None, "entitlements".into()));
    }
    out
}

/// The target's value projected onto the shape the engine writes (sub-attributes and element
/// keys the engine does not send are left out, so `display` or `$ref` added by a target do not
/// count as differences).
fn project_onto(target: &Value, shape: Option<&Value>) -> Value {
    match (target, shape) {
        (Value::Object(t), Some(Value::Object(s))) => {
            let mut o = Map::new();
            for (k, sv) in s {
                if let Some(tv) = get_ci(t, k) {
                    o.insert(k.clone(), project_onto(tv, Some(sv)));
                }
            }
            Value::Object(o)
        }
        (Value::Array(t), Some(Value::Array(s))) if !s.is_empty() => Value::Array(
            t.iter()
                .map(|te| {
                    let tmpl = s
                        .iter()
                        .find(|se| se.get("type").is_some() && se.get("type") == te.get("type"))
                        .or_else(|| s.first());
                    project_onto(te, tmpl)
                })
                .collect(),
        ),
        (t, _) => t.clone(),
    }
}

fn get_managed<'a>(m: &'a JsonMap, attr: &(Option<String>, String)) -> Option<&'a Value> {
    match &attr.0 {
        None => get_ci(m, &attr.1),
        Some(ext) => get_ci(m, ext)
            .and_then(Value::as_object)
            .and_then(|e| get_ci(e, &attr.1)),
    }
    .filter(|v| !v.is_null())
}

fn set_managed(m: &mut JsonMap, attr: &(Option<String>, String), v: Value) {
    match &attr.0 {
        None => {
            m.insert(attr.1.clone(), v);
        }
        Some(ext) => {
            if let Some(o) = m
                .entry(ext.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
            {
                o.insert(attr.1.clone(), v);
            }
        }
    }
}

fn remove_managed(m: &mut JsonMap, attr: &(Option<String>, String)) {
    match &attr.0 {
        None => {
            m.remove(&attr.1);
        }
        Some(ext) => {
            if let Some(o) = m.get_mut(ext).and_then(Value::as_object_mut) {
                o.remove(&attr.1);
                if o.is_empty() {
                    m.remove(ext);
                }
            }
        }
    }
}

/// The attribute's name without its schema URN (`department`, not `urn:…:User:department`).
fn attr_label(attr: &(Option<String>, String)) -> String {
    attr.1.clone()
}

fn short(v: Option<&Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(Value::Object(o)) if o.len() == 1 && o.contains_key("value") => short(o.get("value")),
        Some(Value::Array(a)) => {
            let parts: Vec<String> = a
                .iter()
                .map(|e| match e.get("value") {
                    Some(v) => short(Some(v)),
                    None => short(Some(e)),
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
        Some(other) => other.to_string(),
    }
}

fn facts_match(p: &Person, scope: &BTreeMap<String, OneOrMany>) -> bool {
    scope.iter().all(|(k, want)| {
        let have = p.facts.get(k).unwrap_or_default();
        want.values()
            .iter()
            .any(|w| super::mapping::glob_eq(w, have))
    })
}

/// Everything the planner needs besides the desired state.
#[derive(Debug)]
pub struct PlanInput<'a> {
    /// The desired state.
    pub desired: &'a Desired,
    /// The mapping.
    pub mapping: &'a Mapping,
    /// What the target holds.
    pub target: &'a TargetSnapshot,
    /// The target's links from the state file.
    pub links: &'a [Link],
    /// Options.
    pub options: &'a PlanOptions,
    /// The source.
    pub source: SourceInfo,
    /// Now (plan time; deletion grace periods count from here).
    pub now: DateTime<Utc>,
}

/// Computes the plan. Pure: no I/O.
pub fn build(input: PlanInput<'_>) -> Plan {
    let PlanInput {
        desired,
        mapping,
        target,
        links,
        options,
        source,
        now,
    } = input;
    let ctx = Context::user();
    let mut changes: Vec<Change> = Vec::new();
    let mut drift: Vec<DriftItem> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    // Index the target.
    let mut by_id: HashMap<&str, &TargetUser> = HashMap::with_capacity(target.users.len());
    let mut by_ext: HashMap<&str, &str> = HashMap::with_capacity(target.users.len());
    for u in &target.users {
        let Some(id) = u.id() else {
            continue;
        };
        by_id.insert(id, u);
        if let Some(e) = u.external_id() {
            by_ext.insert(e, id);
        }
    }
    // By lower-cased userName (the last account wins) and e-mail (the first wins): built when a
    // person is first looked up by them (when everyone matches by externalId, never).
    let mut by_uname: Option<HashMap<String, &str>> = None;
    let mut by_email: Option<HashMap<String, &str>> = None;
    let index_by = |key: fn(&TargetUser) -> Option<&str>, first_wins: bool| {
        let mut m: HashMap<String, &str> = HashMap::with_capacity(target.users.len());
        for u in &target.users {
            if let (Some(id), Some(k)) = (u.id(), key(u)) {
                if first_wins {
                    m.entry(lc(k)).or_insert(id);
                } else {
                    m.insert(lc(k), id);
                }
            }
        }
        m
    };
    let user_links: HashMap<&str, &Link> = links
        .iter()
        .filter(|l| l.kind == "user")
        .map(|l| (l.key.as_str(), l))
        .collect();
    let group_links: HashMap<&str, &Link> = links
        .iter()
        .filter(|l| l.kind == "group")
        .map(|l| (l.key.as_str(), l))
        .collect();
    let protected: HashSet<&str> = desired
        .duplicates
        .keys()
        .map(String::as_str)
        .chain(desired.problems.iter().filter_map(|p| p.key.as_deref()))
        .collect();

    // Match people to accounts.
    let mut claimed: HashSet<&str> = HashSet::with_capacity(desired.people.len());
    let mut matched: HashMap<&str, (&str, Option<&'static str>)> =
        HashMap::with_capacity(desired.people.len()); // key → (id, how, None = linked)
    for p in &desired.people {
        if let Some(l) = user_links.get(p.key.as_str()) {
            if let Some((id, _)) = by_id.get_key_value(l.id.as_str()) {
                claimed.insert(id);
                matched.insert(&p.key, (id, None));
                continue;
            }
            drift.push(DriftItem {
                kind: "missing".into(),
                subject: p.label(),
                detail: format!("the linked account {} is no longer in the target", l.id),
                action: "enforced".into(),
            });
        }
    }
    for p in &desired.people {
        if matched.contains_key(p.key.as_str()) {
            continue;
        }
        for mk in &mapping.settings.r#match {
            let (found, how) = match mk {
                MatchKey::ExternalId => (by_ext.get(p.key.as_str()).copied(), "externalId"),
                MatchKey::UserName => (
                    p.user_name().and_then(|n| {
                        by_uname
                            .get_or_insert_with(|| index_by(TargetUser::user_name, false))
                            .get(&lc(n))
                            .copied()
                    }),
                    "userName",
                ),
                MatchKey::Email => (
                    p.email().and_then(|m| {
                        by_email
                            .get_or_insert_with(|| index_by(TargetUser::email, true))
                            .get(&lc(m))
                            .copied()
                    }),
                    "email",
                ),
            };
            if let Some(id) = found {
                if claimed.insert(id) {
                    matched.insert(&p.key, (id, Some(how)));
                } else {
                    drift.push(DriftItem {
                        kind: "conflict".into(),
                        subject: p.label(),
                        detail: format!(
                            "matches account {id} by {how}, which another person already owns"
                        ),
                        action: "reported".into(),
                    });
                }
                break;
            }
        }
    }
    // id → key of every account the engine manages (matched now, or linked before).
    let mut managed_ids: HashMap<&str, &str> = HashMap::with_capacity(matched.len());
    for (k, (id, _)) in &matched {
        managed_ids.insert(id, k);
    }
    for l in user_links.values() {
        if let Some((id, _)) = by_id.get_key_value(l.id.as_str()) {
            managed_ids.entry(id).or_insert(&l.key);
        }
    }
    // The matching indexes are done with (at 100,000 accounts they weigh megabytes).
    drop((by_ext, by_uname, by_email, claimed));
    let id_of = |key: &str| -> Option<&str> { matched.get(key).map(|(id, _)| *id) };

    let grants_roles = desired.people.iter().any(|p| {
        p.grants
            .iter()
            .any(|g| g.kind == super::rules::GrantKind::Role)
    }) || desired
        .managed
        .iter()
        .any(|m| m.eq_ignore_ascii_case("roles"));
    let grants_ents = desired.people.iter().any(|p| {
        p.grants
            .iter()
            .any(|g| g.kind == super::rules::GrantKind::Entitlement)
    }) || desired
        .managed
        .iter()
        .any(|m| m.eq_ignore_ascii_case("entitlements"));
    let managed = managed_attrs(desired, grants_roles, grants_ents);
    let exact_of: Vec<bool> = managed.iter().map(case_exact).collect();
    let keys_in_source: HashSet<&str> = desired.people.iter().map(|p| p.key.as_str()).collect();

    // Which people get an account here.
    let wanted = |p: &Person| p.provisioned(&mapping.settings) && facts_match(p, &options.scope);

    let person_index: HashMap<&str, &Person> = desired.index();
    // Creates: managers before their reports (depth in the manager chain).
    let depth = |p: &Person| -> usize {
        let mut d = 0;
        let mut cur = p.manager.as_deref();
        let mut seen = HashSet::new();
        while let Some(m) = cur {
            if !seen.insert(m) || d > 64 {
                break;
            }
            d += 1;
            cur = person_index.get(m).and_then(|x| x.manager.as_deref());
        }
        d
    };
    let mut creates: Vec<(usize, Change)> = Vec::new();
    // Links (phase 0) are kept apart from the other changes: on a first plan against a full
    // target there is one per person, and they come first anyway.
    let mut links_made: Vec<Change> =
        Vec::with_capacity(matched.values().filter(|(_, how)| how.is_some()).count());

    for p in &desired.people {
        if protected.contains(p.key.as_str()) {
            continue;
        }
        let want = wanted(p);
        let current = matched.get(p.key.as_str()).copied();
        // The manager: an id now, or a key resolved when the manager's account exists.
        let (manager_id, manager_key) = match &p.manager {
            Some(mk) => match id_of(mk) {
                Some(id) => (Some(id.to_string()), None),
                None if person_index.get(mk.as_str()).is_some_and(|m| wanted(m)) => {
                    (None, Some(mk.clone()))
                }
                None => {
                    drift.push(DriftItem {
                        kind: "unknown_manager".into(),
                        subject: p.label(),
                        detail: format!("manager {mk} has no account in the target"),
                        action: "reported".into(),
                    });
                    (None, None)
                }
            },
            None => (None, None),
        };
        let mut to = p.user();
        if let Some(mid) = &manager_id {
            set_managed(
                &mut to,
                &(Some(ENTERPRISE_USER.into()), "manager".into()),
                json!({ "value": mid }),
            );
        }
        match (want, current) {
            (true, None) => {
                let mut body = to.clone();
                let mut schemas = vec![Value::String(USER.into())];
                if body.contains_key(ENTERPRISE_USER) {
                    schemas.push(Value::String(ENTERPRISE_USER.into()));
                }
                body.insert("schemas".into(), Value::Array(schemas));
                let mut why = vec![format!(
                    "in the source (row {}), no account in the target",
                    p.row
                )];
                if let Status::FutureJoiner { start } = p.status {
                    why.push(format!("starts {start}: created inactive until then"));
                }
                // The person's identity is in the label; show what says where they belong.
                let details = managed
                    .iter()
                    .filter(|a| {
                        matches!(
                            a.1.as_str(),
                            "title" | "department" | "roles" | "entitlements"
                        ) || (a.1 == "active" && !becomes_active_on_create(&to))
                    })
                    .filter_map(|a| {
                        get_managed(&to, a).map(|v| format!("{}={}", attr_label(a), short(Some(v))))
                    })
                    .chain(p.manager.iter().map(|m| format!("manager={m}")))
                    .collect();
                creates.push((
                    depth(p),
                    Change {
                        kind: ChangeKind::CreateUser,
                        person: Some(p.key.clone()),
                        group: None,
                        label: p.label(),
                        id: None,
                        why,
                        details,
                        body: Value::Object(body),
                        manager: manager_key,
                        members: Vec::new(),
                        applied: Some(Value::Object(to)),
                    },
                ));
            }
            (true, Some((id, how))) => {
                let t = &by_id[id].map();
                if let Some(how) = how {
                    links_made.push(Change {
                        kind: ChangeKind::LinkUser,
                        person: Some(p.key.clone()),
                        group: None,
                        label: p.label(),
                        id: Some(id.to_string()),
                        why: vec![format!("existing account matched by {how}")],
                        details: Vec::new(),
                        body: Value::Null,
                        manager: None,
                        members: Vec::new(),
                        applied: None,
                    });
                }
                let applied = user_links
                    .get(p.key.as_str())
                    .and_then(|l| l.applied.as_ref())
                    .and_then(Value::as_object);
                let mut from = JsonMap::new();
                for a in &managed {
                    if manager_key.is_some() && a.1 == "manager" {
                        continue;
                    }
                    if let Some(tv) = get_managed(t, a) {
                        set_managed(&mut from, a, project_onto(tv, get_managed(&to, a)));
                    }
                }
                // Changes to `to` (the effective target state), made once the comparison is
                // done: set (`Some`) or remove (`None`) an attribute.
                let mut edits: Vec<(&ManagedAttr, Option<Value>)> = Vec::new();
                let mut details = Vec::new();
                let mut why = Vec::new();
                for (ai, a) in managed.iter().enumerate() {
                    if manager_key.is_some() && a.1 == "manager" {
                        edits.push((a, None));
                        continue;
                    }
                    let fv = get_managed(&from, a);
                    let tv = get_managed(&to, a);
                    let exact = exact_of[ai];
                    if attr_equal(fv, tv, exact) {
                        // Equal up to case where the schema says case does not matter: keep
                        // the target's spelling so no update is sent.
                        if fv != tv {
                            if let Some(v) = fv {
                                edits.push((a, Some(v.clone())));
                            }
                        }
                        continue;
                    }
                    // Drift: the target differs from what the engine last wrote, while the
                    // source still says what it said then.
                    let last = applied.and_then(|m| get_managed(m, a)).cloned();
                    let manual = applied.is_some()
                        && !attr_equal(fv, last.as_ref(), exact)
                        && attr_equal(tv, last.as_ref(), exact);
                    if manual {
                        let policy = mapping.drift_policy(&attr_path(a));
                        let action = match policy {
                            DriftPolicy::Enforce => "enforced",
                            DriftPolicy::Adopt => "adopted",
                            DriftPolicy::Report => "reported",
                        };
                        drift.push(DriftItem {
                            kind: "manual_edit".into(),
                            subject: p.label(),
                            detail: format!(
                                "{}: the target has {}, the engine wrote {}",
                                attr_label(a),
                                short(fv),
                                short(last.as_ref())
                            ),
                            action: action.into(),
                        });
                        if policy != DriftPolicy::Enforce {
                            // Keep the target's value: plan nothing for this attribute.
                            match fv {
                                Some(v) => edits.push((a, Some(v.clone()))),
                                None => edits.push((a, None)),
                            }
                            continue;
                        }
                        why.push(format!("{} was edited in the target", attr_label(a)));
                    } else if a.1 == "active" {
                        why.push("inactive in the target".to_string());
                    } else {
                        why.push(format!("{} changed in the source", attr_label(a)));
                    }
                    if a.1 == "manager" {
                        // Managers by key, not by the target's ids.
                        let old = fv
                            .and_then(|v| v.get("value"))
                            .and_then(Value::as_str)
                            .map(|id| {
                                managed_ids
                                    .get(id)
                                    .map_or(id.to_string(), |k| k.to_string())
                            })
                            .unwrap_or_else(|| "(none)".into());
                        let new = p.manager.clone().unwrap_or_else(|| "(none)".into());
                        details.push(format!("manager: {old} → {new}"));
                        continue;
                    }
                    details.push(format!("{}: {} → {}", attr_label(a), short(fv), short(tv)));
                }
                let mut to_eff = to;
                for (a, e) in edits {
                    match e {
                        Some(v) => set_managed(&mut to_eff, a, v),
                        None => remove_managed(&mut to_eff, a),
                    }
                }
                // Equal maps have no difference (most accounts, on most runs).
                let ops = if from == to_eff {
                    Vec::new()
                } else {
                    scim_core::diff(&from, &to_eff, &ctx)
                };
                let target_inactive = by_id[id].active() == Some(false);
                let becomes_active = to_eff.get("active").and_then(Value::as_bool) == Some(true);
                if !ops.is_empty() || manager_key.is_some() {
                    let kind = if target_inactive && becomes_active {
                        ChangeKind::ReactivateUser
                    } else {
                        ChangeKind::UpdateUser
                    };
                    if manager_key.is_some() {
                        details.push(format!(
                            "manager → {} (created in this run)",
                            manager_key.as_deref().unwrap_or_default()
                        ));
                        why.push("manager changed in the source".into());
                    }
                    why.dedup();
                    changes.push(Change {
                        kind,
                        person: Some(p.key.clone()),
                        group: None,
                        label: p.label(),
                        id: Some(id.to_string()),
                        why,
                        details,
                        body: json!({ "Operations": ops }),
                        manager: manager_key,
                        members: Vec::new(),
                        applied: Some(Value::Object(to_eff)),
                    });
                }
            }
            (false, Some((id, how))) => {
                let reason = match &p.status {
                    Status::Leaver { reason } => reason.clone(),
                    Status::FutureJoiner { start } => {
                        // A future joiner who already has an account: leave it as it is.
                        notes.push(format!(
                            "{}: starts {start}; the existing account {id} is left as it is",
                            p.label()
                        ));
                        continue;
                    }
                    Status::Active => "not in this target's scope".into(),
                };
                if how.is_some() {
                    links_made.push(Change {
                        kind: ChangeKind::LinkUser,
                        person: Some(p.key.clone()),
                        group: None,
                        label: p.label(),
                        id: Some(id.to_string()),
                        why: vec![format!(
                            "existing account matched by {}",
                            how.unwrap_or_default()
                        )],
                        details: Vec::new(),
                        body: Value::Null,
                        manager: None,
                        members: Vec::new(),
                        applied: None,
                    });
                }
                deprovision(
                    &mut changes,
                    by_id[id],
                    id,
                    &p.key,
                    &p.label(),
                    reason,
                    user_links.get(p.key.as_str()).copied(),
                    options,
                    now,
                );
            }
            (false, None) => {
                if let Status::FutureJoiner { start } = p.status {
                    notes.push(format!(
                        "{}: starts {start}, not provisioned before",
                        p.label()
                    ));
                }
            }
        }
    }
    creates.sort_by_key(|(d, _)| *d);
    changes.extend(creates.into_iter().map(|(_, c)| c));

    // Linked accounts whose person left the source.
    let mut vanished: Vec<&&Link> = user_links
        .values()
        .filter(|l| !keys_in_source.contains(l.key.as_str()) && !protected.contains(l.key.as_str()))
        .collect();
    vanished.sort_by(|a, b| a.key.cmp(&b.key));
    for l in vanished {
        if let Some((id, t)) = by_id.get_key_value(l.id.as_str()) {
            let label = match t.user_name() {
                Some(u) => format!("{} ({u})", l.key),
                None => l.key.clone(),
            };
            deprovision(
                &mut changes,
                t,
                id,
                &l.key,
                &label,
                "no longer in the source".into(),
                Some(l),
                options,
                now,
            );
        }
    }
    // Orphans: accounts nobody owns.
    for u in &target.users {
        let Some(id) = u.id() else {
            continue;
        };
        if managed_ids.contains_key(id) {
            continue;
        }
        let label = u.user_name().unwrap_or(id).to_string();
        let active = u.active() != Some(false);
        if options.deprovision_orphans && active {
            let key = u.external_id().unwrap_or(id).to_string();
            deprovision(
                &mut changes,
                u,
                id,
                &key,
                &label,
                "orphan: no source person owns this account".into(),
                None,
                options,
                now,
            );
            drift.push(DriftItem {
                kind: "orphan".into(),
                subject: label,
                detail: format!("account {id} has no person in the source"),
                action: "enforced".into(),
            });
        } else {
            drift.push(DriftItem {
                kind: "orphan".into(),
                subject: label,
                detail: format!(
                    "account {id} ({}) has no person in the source",
                    if active { "active" } else { "inactive" }
                ),
                action: "reported".into(),
            });
        }
    }

    // Groups.
    let mut desired_groups: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for k in mapping.groups.keys() {
        desired_groups.entry(k.clone()).or_default();
    }
    for p in &desired.people {
        if protected.contains(p.key.as_str()) || !wanted(p) || p.status != Status::Active {
            continue;
        }
        for g in p.group_keys() {
            desired_groups
                .entry(g.to_string())
                .or_default()
                .insert(&p.key);
        }
    }
    // Members of protected people stay as they are.
    let mut g_by_id: HashMap<&str, &JsonMap> = HashMap::new();
    let mut g_by_ext: HashMap<&str, &str> = HashMap::new();
    let mut g_by_name: HashMap<String, &str> = HashMap::new();
    for g in &target.groups {
        let Some(id) = g.get("id").and_then(Value::as_str) else {
            continue;
        };
        g_by_id.insert(id, g);
        if let Some(e) = g.get("externalId").and_then(Value::as_str) {
            g_by_ext.insert(e, id);
        }
        if let Some(n) = g.get("displayName").and_then(Value::as_str) {
            g_by_name.insert(lc(n), id);
        }
    }
    let members_of = |g: &JsonMap| -> BTreeSet<String> {
        g.get("members")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.get("value").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut claimed_groups: HashSet<&str> = HashSet::new();
    let mut group_changes: Vec<Change> = Vec::new();
    let mut removals: Vec<Change> = Vec::new();
    let mut additions: Vec<Change> = Vec::new();
    for (gkey, want_members) in &desired_groups {
        let dn = mapping.group_display_name(gkey);
        let linked = group_links
            .get(gkey.as_str())
            .and_then(|l| g_by_id.get_key_value(l.id.as_str()).map(|(id, _)| *id));
        let found = linked
            .map(|id| (id, None))
            .or_else(|| {
                g_by_ext
                    .get(gkey.as_str())
                    .map(|id| (*id, Some("externalId")))
            })
            .or_else(|| g_by_name.get(&lc(dn)).map(|id| (*id, Some("displayName"))))
            .filter(|(id, _)| claimed_groups.insert(id));
        let label = format!("group {dn}");
        let actual: BTreeSet<String> = match found {
            None => {
                group_changes.push(Change {
                    kind: ChangeKind::CreateGroup,
                    person: None,
                    group: Some(gkey.clone()),
                    label: label.clone(),
                    id: None,
                    why: vec!["granted by the rules or the source, missing in the target".into()],
                    details: vec![format!("displayName={dn:?}")],
                    body: json!({"schemas": [GROUP], "displayName": dn, "externalId": gkey}),
                    manager: None,
                    members: Vec::new(),
                    applied: None,
                });
                BTreeSet::new()
            }
            Some((id, how)) => {
                let g = g_by_id[id];
                if let Some(how) = how {
                    group_changes.push(Change {
                        kind: ChangeKind::LinkGroup,
                        person: None,
                        group: Some(gkey.clone()),
                        label: label.clone(),
                        id: Some(id.to_string()),
                        why: vec![format!("existing group matched by {how}")],
                        details: Vec::new(),
                        body: Value::Null,
                        manager: None,
                        members: Vec::new(),
                        applied: None,
                    });
                }
                let cur_name = g
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let cur_ext = g.get("externalId").and_then(Value::as_str);
                let mut ops = Vec::new();
                let mut details = Vec::new();
                if cur_name != dn {
                    ops.push(PatchOperation::replace(Some("displayName"), json!(dn)));
                    details.push(format!("displayName: {cur_name:?} → {dn:?}"));
                }
                if cur_ext != Some(gkey.as_str()) {
                    ops.push(PatchOperation::replace(Some("externalId"), json!(gkey)));
                    details.push(format!(
                        "externalId: {} → {gkey:?}",
                        short(g.get("externalId"))
                    ));
                }
                if !ops.is_empty() {
                    group_changes.push(Change {
                        kind: ChangeKind::UpdateGroup,
                        person: None,
                        group: Some(gkey.clone()),
                        label: label.clone(),
                        id: Some(id.to_string()),
                        why: vec![if cur_name != dn {
                            "renamed in the mapping".into()
                        } else {
                            "the group's key is recorded as its externalId".into()
                        }],
                        details,
                        body: json!({ "Operations": ops }),
                        manager: None,
                        members: Vec::new(),
                        applied: None,
                    });
                }
                members_of(g)
            }
        };
        let gid = found.map(|(id, _)| id.to_string());
        let mut add = Vec::new();
        for k in want_members {
            match id_of(k) {
                Some(id) if actual.contains(id) => {}
                id => add.push(MemberRef {
                    key: k.to_string(),
                    id: id.map(str::to_string),
                }),
            }
        }
        let mut remove = Vec::new();
        for mid in &actual {
            match managed_ids.get(mid.as_str()) {
                Some(k) if !want_members.contains(k) && !protected.contains(k) => {
                    remove.push(MemberRef {
                        key: k.to_string(),
                        id: Some(mid.clone()),
                    })
                }
                Some(_) => {}
                None => drift.push(DriftItem {
                    kind: "unmanaged_member".into(),
                    subject: label.clone(),
                    detail: format!("member {mid} is not an account the engine manages"),
                    action: "reported".into(),
                }),
            }
        }
        push_members(
            &mut removals,
            ChangeKind::RemoveMembers,
            gkey,
            &label,
            gid.clone(),
            remove,
        );
        push_members(
            &mut additions,
            ChangeKind::AddMembers,
            gkey,
            &label,
            gid,
            add,
        );
    }
    // Managed groups no rule grants any more.
    let mut gone: Vec<&&Link> = group_links
        .values()
        .filter(|l| !desired_groups.contains_key(&l.key))
        .collect();
    gone.sort_by(|a, b| a.key.cmp(&b.key));
    for l in gone {
        let Some(g) = g_by_id.get(l.id.as_str()) else {
            continue;
        };
        let label = format!(
            "group {}",
            g.get("displayName")
                .and_then(Value::as_str)
                .unwrap_or(&l.key)
        );
        if options.delete_groups {
            group_changes.push(Change {
                kind: ChangeKind::DeleteGroup,
                person: None,
                group: Some(l.key.clone()),
                label,
                id: Some(l.id.clone()),
                why: vec!["no rule or source row grants it any more".into()],
                details: Vec::new(),
                body: Value::Null,
                manager: None,
                members: Vec::new(),
                applied: None,
            });
        } else {
            let remove: Vec<MemberRef> = members_of(g)
                .into_iter()
                .filter_map(|mid| {
                    managed_ids.get(mid.as_str()).map(|k| MemberRef {
                        key: k.to_string(),
                        id: Some(mid.clone()),
                    })
                })
                .collect();
            push_members(
                &mut removals,
                ChangeKind::RemoveMembers,
                &l.key,
                &label,
                Some(l.id.clone()),
                remove,
            );
        }
    }
    changes.extend(group_changes);
    changes.extend(removals);
    changes.extend(additions);
    changes.sort_by_key(|c| c.kind.phase()); // stable: order within a phase is kept
                                             // The user links go first: before everything else, the group links included (phase 0
                                             // holds user links in person order, then group links).
    let changes = {
        let mut all = links_made;
        all.reserve_exact(changes.len());
        all.extend(changes);
        all
    };

    let managed_users = managed_ids.len();
    drop((managed_ids, keys_in_source, desired_groups));
    let versions = target.versions();
    let mut people = person_plans(&changes);
    // The account of a person the source no longer has (only they need it).
    let account_of: HashMap<&str, &str> = if people
        .iter()
        .all(|pp| person_index.contains_key(pp.key.as_str()))
    {
        HashMap::new()
    } else {
        changes
            .iter()
            .filter_map(|c| Some((c.person.as_deref()?, c.id.as_deref()?)))
            .chain(matched.iter().map(|(k, (id, _))| (*k, *id)))
            .collect()
    };
    for pp in &mut people {
        let p = person_index.get(pp.key.as_str());
        let acct = account_of.get(pp.key.as_str()).and_then(|id| by_id.get(id));
        let user: Option<JsonMap> = p.map(|p| p.user()).or_else(|| acct.map(|t| t.map()));
        let Some(u) = &user else { continue };
        let s = |k: &str| u.get(k).and_then(Value::as_str).map(str::to_string);
        let display = s("displayName").or_else(|| {
            let n = u.get("name")?;
            let parts: Vec<&str> = ["givenName", "familyName"]
                .iter()
                .filter_map(|k| n.get(*k).and_then(Value::as_str))
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        });
        let manager_email = p
            .and_then(|p| p.manager.as_deref())
            .and_then(|m| person_index.get(m))
            .and_then(|m| m.email())
            .map(str::to_string);
        pp.contact = Some(Contact {
            key: pp.key.clone(),
            user_name: s("userName"),
            display_name: display,
            email: desired::primary_email(u).map(str::to_string),
            manager_email,
        });
    }
    let mapping_hash = sha256_hex(toml::to_string(mapping).unwrap_or_default().as_bytes());
    // SHA-256 of source hash, mapping hash, the versions as JSON and the time, fed to the hash
    // as they are written (the versions of 100,000 accounts are megabytes of JSON).
    let digest = {
        use sha2::Digest;
        struct Feed(sha2::Sha256);
        impl std::io::Write for Feed {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.update(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut h = Feed(sha2::Sha256::new());
        h.0.update(source.hash.as_bytes());
        h.0.update(mapping_hash.as_bytes());
        let _ = serde_json::to_writer(&mut h, &versions);
        h.0.update(now.timestamp_nanos_opt().unwrap_or_default().to_string());
        super::source::hex(&h.0.finalize())
    };
    let id = format!("plan-{}-{}", now.format("%Y%m%dT%H%M%SZ"), &digest[..8]);
    for pr in &desired.problems {
        notes.push(format!(
            "row {}{}: skipped: {}",
            pr.row,
            pr.key
                .as_deref()
                .map(|k| format!(" ({k})"))
                .unwrap_or_default(),
            pr.problem
        ));
    }
    Plan {
        id,
        created_at: now,
        target: options.target.clone(),
        target_url: options.target_url.clone(),
        source,
        mapping_hash,
        today: desired.today,
        versions,
        managed_users,
        changes,
        people,
        drift,
        notes,
        gates: Vec::new(),
    }
}

fn case_exact(a: &(Option<String>, String)) -> bool {
    let mut p = scim_core::AttrPath::new(a.1.clone());
    p.urn = a.0.clone();
    Context::user()
        .resolve_attr(&p)
        .is_some_and(|r| r.attr.case_exact)
}

fn becomes_active_on_create(to: &JsonMap) -> bool {
    to.get("active").and_then(Value::as_bool) != Some(false)
}

fn attr_path(a: &(Option<String>, String)) -> String {
    match &a.0 {
        Some(ext) => format!("{ext}:{}", a.1),
        None => a.1.clone(),
    }
}

/// Equality of managed values: order-insensitive for multi-valued attributes, and
/// case-insensitive for the strings of attributes that are not `caseExact` (`userName`,
/// e-mails), so a target that changes case does not cause an update on every run.
fn attr_equal(a: Option<&Value>, b: Option<&Value>, case_exact: bool) -> bool {
    // Compares as if both sides were first folded to lower case (without copying them).
    let eq = |x: &Value, y: &Value| {
        if case_exact {
            x == y
        } else {
            eq_folded(x, y)
        }
    };
    match (a, b) {
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().all(|e| y.iter().any(|f| eq(e, f)))
        }
        (None, Some(Value::Array(y))) | (Some(Value::Array(y)), None) => y.is_empty(),
        (Some(x), Some(y)) => eq(x, y),
        (None, None) => true,
        _ => false,
    }
}

/// `fold(a) == fold(b)`, where `fold` lower-cases every string (not the keys).
fn eq_folded(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            x == y
                || if x.is_ascii() && y.is_ascii() {
                    x.eq_ignore_ascii_case(y)
                } else {
                    x.to_lowercase() == y.to_lowercase()
                }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(e, f)| eq_folded(e, f))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| eq_folded(v, w)))
        }
        _ => a == b,
    }
}

fn push_members(
    out: &mut Vec<Change>,
    kind: ChangeKind,
    gkey: &str,
    label: &str,
    gid: Option<String>,
    mut members: Vec<MemberRef>,
) {
    if members.is_empty() {
        return;
    }
    members.sort();
    let verb = if kind == ChangeKind::AddMembers {
        "+"
    } else {
        "-"
    };
    out.push(Change {
        kind,
        person: None,
        group: Some(gkey.to_string()),
        label: label.to_string(),
        id: gid,
        why: vec![if kind == ChangeKind::AddMembers {
            "granted by the rules or the source".into()
        } else {
            "no longer granted (moved, left, or out of scope)".into()
        }],
        details: members.iter().map(|m| format!("{verb}{}", m.key)).collect(),
        body: Value::Null,
        manager: None,
        members,
        applied: None,
    });
}

#[allow(clippy::too_many_arguments)]
fn deprovision(
    changes: &mut Vec<Change>,
    t: &TargetUser,
    id: &str,
    key: &str,
    label: &str,
    reason: String,
    link: Option<&Link>,
    options: &PlanOptions,
    now: DateTime<Utc>,
) {
    let active = t.active() != Some(false);
    let grace_over = options.delete_after_days.is_some_and(|days| {
        link.and_then(|l| l.deactivated_at)
            .is_some_and(|at| now - at >= chrono::Duration::days(days))
    });
    let kind = if options.leavers == LeaverPolicy::Delete || (!active && grace_over) {
        ChangeKind::DeleteUser
    } else if active {
        ChangeKind::DeactivateUser
    } else {
        return;
    };
    let mut why = vec![reason];
    if kind == ChangeKind::DeleteUser && options.leavers != LeaverPolicy::Delete {
        why.push(format!(
            "deactivated more than {} days ago",
            options.delete_after_days.unwrap_or_default()
        ));
    }
    changes.push(Change {
        kind,
        person: Some(key.to_string()),
        group: None,
        label: label.to_string(),
        id: Some(id.to_string()),
        why,
        details: if kind == ChangeKind::DeactivateUser {
            vec!["active: true → false".into()]
        } else {
            vec!["account deleted".into()]
        },
        body: Value::Null,
        manager: None,
        members: Vec::new(),
        applied: None,
    });
}

/// Per person: their changes, membership changes included. A person whose only change is a
/// link is left out (also when the link comes with membership changes: the link starts the
/// person's entry, and membership changes do not add an action to it).
fn person_plans(changes: &[Change]) -> Vec<PersonPlan> {
    // People with a change of their own besides links keep their entry; those with links only
    // would have an entry that is left out in the end: it is never built (at 100,000 linked
    // people on a first plan, building them all cost more memory than anything else here).
    let acting: HashSet<&str> = changes
        .iter()
        .filter(|c| {
            matches!(
                c.kind,
                ChangeKind::CreateUser
                    | ChangeKind::UpdateUser
                    | ChangeKind::ReactivateUser
                    | ChangeKind::DeactivateUser
                    | ChangeKind::DeleteUser
            )
        })
        .filter_map(|c| c.person.as_deref())
        .collect();
    let linked_only: HashSet<&str> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::LinkUser)
        .filter_map(|c| c.person.as_deref())
        .filter(|k| !acting.contains(k))
        .collect();
    let mut by: BTreeMap<String, PersonPlan> = BTreeMap::new();
    for c in changes {
        if c.kind == ChangeKind::LinkUser
            && c.person.as_deref().is_some_and(|k| linked_only.contains(k))
        {
            continue;
        }
        let action = match c.kind {
            ChangeKind::LinkUser => "link",
            ChangeKind::CreateUser => "create",
            ChangeKind::UpdateUser => "update",
            ChangeKind::ReactivateUser => "reactivate",
            ChangeKind::DeactivateUser => "deactivate",
            ChangeKind::DeleteUser => "delete",
            ChangeKind::AddMembers | ChangeKind::RemoveMembers => {
                let sign = if c.kind == ChangeKind::AddMembers {
                    '+'
                } else {
                    '-'
                };
                let g = c.label.trim_start_matches("group ");
                for m in &c.members {
                    if linked_only.contains(m.key.as_str()) {
                        continue;
                    }
                    if let Some(pp) = by.get_mut(&m.key) {
                        pp.details.push(format!("groups {sign}{g}"));
                        pp.groups.push(format!("{sign}{g}"));
                    } else {
                        by.insert(
                            m.key.clone(),
                            PersonPlan {
                                key: m.key.clone(),
                                label: m.key.clone(),
                                event: Event::Mover,
                                actions: vec!["membership".into()],
                                details: vec![format!("groups {sign}{g}")],
                                why: c.why.clone(),
                                groups: vec![format!("{sign}{g}")],
                                contact: None,
                            },
                        );
                    }
                }
                continue;
            }
            _ => continue,
        };
        let Some(key) = &c.person else { continue };
        let event = match c.kind {
            ChangeKind::CreateUser | ChangeKind::ReactivateUser => Event::Joiner,
            ChangeKind::DeactivateUser | ChangeKind::DeleteUser => Event::Leaver,
            _ => Event::Mover,
        };
        let e = by.entry(key.clone()).or_insert_with(|| PersonPlan {
            key: key.clone(),
            label: c.label.clone(),
            event,
            actions: Vec::new(),
            details: Vec::new(),
            why: Vec::new(),
            groups: Vec::new(),
            contact: None,
        });
        e.label = c.label.clone();
        if c.kind != ChangeKind::LinkUser
            && (e.actions.iter().all(|a| a == "link" || a == "membership"))
        {
            e.event = event;
        }
        e.actions.push(action.into());
        e.details.extend(c.details.iter().cloned());
        for w in &c.why {
            if !e.why.contains(w) {
                e.why.push(w.clone());
            }
        }
    }
    // Memberships of a person are listed after the person's own changes.
    by.into_values()
        .filter(|p| p.actions.iter().any(|a| a != "link"))
        .collect()
}

/// Why a saved plan no longer fits the target: objects changed, added or removed since it was
/// made. Empty when the plan is still current.
pub fn stale_reasons(plan: &Plan, now: &TargetSnapshot) -> Vec<String> {
    let cur = now.versions();
    let mut out = Vec::new();
    for (k, v) in &plan.versions {
        match cur.get(k) {
            None => out.push(format!("{k} was deleted since the plan was made")),
            Some(c) if c != v => out.push(format!(
                "{k} changed since the plan was made (version {v} → {c})"
            )),
            Some(_) => {}
        }
    }
    for k in cur.keys() {
        if !plan.versions.contains_key(k) {
            out.push(format!("{k} was created since the plan was made"));
        }
    }
    out
}

/// Renders a plan as a table: per person what changes and why, then groups, drift and notes.
pub fn render_table(plan: &Plan) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Plan {} for target {} ({})\nsource {} ({} rows, sha256 {}), day {}\n{}",
        plan.id,
        plan.target,
        plan.target_url,
        plan.source.origin,
        plan.source.rows,
        &plan.source.hash[..plan.source.hash.len().min(12)],
        plan.today,
        plan.summary()
    );
    if plan.changes.iter().all(|c| !c.kind.modifies()) {
        let _ = writeln!(s, "\nNo changes: the target matches the source.");
    }
    if !plan.people.is_empty() {
        let w = plan
            .people
            .iter()
            .map(|p| p.label.chars().count())
            .max()
            .unwrap_or(6)
            .clamp(6, 40);
        let _ = writeln!(
            s,
            "\n{:<w$}  {:<7}  {:<20}  {:<48}  WHY",
            "PERSON", "EVENT", "ACTION", "CHANGES"
        );
        for p in &plan.people {
            let ev = format!("{:?}", p.event).to_lowercase();
            let actions: Vec<&str> = {
                let mut v: Vec<&str> = p.actions.iter().map(String::as_str).collect();
                v.dedup();
                v
            };
            let details = p.details.join("; ");
            let _ = writeln!(
                s,
                "{:<w$}  {:<7}  {:<20}  {:<48}  {}",
                truncate(&p.label, w),
                ev,
                actions.join("+"),
                truncate(&details, 200),
                p.why.join("; ")
            );
        }
    }
    let groups: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| {
            matches!(
                c.kind,
                ChangeKind::CreateGroup
                    | ChangeKind::UpdateGroup
                    | ChangeKind::DeleteGroup
                    | ChangeKind::AddMembers
                    | ChangeKind::RemoveMembers
            )
        })
        .collect();
    if !groups.is_empty() {
        let _ = writeln!(s, "\nGROUP CHANGES");
        for c in groups {
            let d = if c.details.len() > 8 {
                format!(
                    "{} … ({} in all)",
                    c.details[..8].join(" "),
                    c.details.len()
                )
            } else {
                c.details.join(" ")
            };
            let _ = writeln!(s, "  {:<16} {:<28} {}", c.kind.as_str(), c.label, d);
        }
    }
    if !plan.drift.is_empty() {
        let _ = writeln!(s, "\nDRIFT");
        for d in &plan.drift {
            let _ = writeln!(
                s,
                "  {:<16} {:<28} {} [{}]",
                d.kind, d.subject, d.detail, d.action
            );
        }
    }
    if !plan.notes.is_empty() {
        let _ = writeln!(s, "\nNOTES");
        for n in &plan.notes {
            let _ = writeln!(s, "  {n}");
        }
    }
    s
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::source::parse_csv;

    fn desired(csv: &str, mapping: &Mapping) -> Desired {
        Desired::build(
            &parse_csv(csv.as_bytes(), "t").unwrap(),
            mapping,
            "2026-06-01".parse().unwrap(),
        )
    }

    fn plan(d: &Desired, m: &Mapping, t: &TargetSnapshot, links: &[Link]) -> Plan {
        build(PlanInput {
            desired: d,
            mapping: m,
            target: t,
            links,
            options: &PlanOptions::new("t", "http://x"),
            source: SourceInfo {
                origin: "t".into(),
                hash: "h".repeat(64),
                rows: d.rows,
            },
            now: "2026-06-01T10:00:00Z".parse().unwrap(),
        })
    }

    fn obj(v: Value) -> JsonMap {
        v.as_object().unwrap().clone()
    }

    const RULES: &str =
        "[[rules]]\nname = \"eng\"\nwhen = { department = \"Engineering\" }\ngroups = [\"eng\"]\n";

    #[test]
    fn joiners_movers_leavers_and_orphans() {
        let m = Mapping::parse(RULES).unwrap();
        let d = desired(
            "externalId,userName,title,department,manager,endDate\n\
             E1,ada,Boss,Engineering,,\n\
             E2,bob,Dev,Engineering,E1,\n\
             E3,cy,Dev,Sales,E1,2026-05-31\n\
             E4,dee,Dev,Engineering,E1,\n",
            &m,
        );
        let ent = ENTERPRISE_USER;
        let target = TargetSnapshot {
            users: vec![
                obj(
                    json!({"id": "u1", "externalId": "E1", "userName": "ada", "title": "Boss", "active": true, ent: {"department": "Engineering"}, "meta": {"version": "W/\"1\""}}),
                ),
                obj(
                    json!({"id": "u2", "userName": "BOB", "title": "Intern", "active": true, ent: {"department": "Engineering", "manager": {"value": "u1", "displayName": "Ada"}}}),
                ),
                obj(
                    json!({"id": "u3", "externalId": "E3", "userName": "cy", "title": "Dev", "active": true, ent: {"department": "Sales", "manager": {"value": "u1"}}}),
                ),
                obj(json!({"id": "u9", "userName": "stranger", "active": true})),
            ].into_iter().map(TargetUser::from).collect(),
            groups: vec![obj(
                json!({"id": "g1", "displayName": "eng", "members": [{"value": "u1"}, {"value": "u9"}]}),
            )],
        };
        let p = plan(&d, &m, &target, &[]);
        let kinds: Vec<(&str, &str)> = p
            .changes
            .iter()
            .map(|c| (c.kind.as_str(), c.label.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("link_user", "E1 (ada)"),
                ("link_user", "E2 (bob)"),
                ("link_user", "E3 (cy)"),
                ("link_group", "group eng"),
                ("deactivate_user", "E3 (cy)"),
                ("update_group", "group eng"),
                ("create_user", "E4 (dee)"),
                ("update_user", "E2 (bob)"),
                ("add_members", "group eng"),
            ]
        );
        let upd = p
            .changes
            .iter()
            .find(|c| c.kind == ChangeKind::UpdateUser)
            .unwrap();
        // Only the title and the externalId differ (the manager's displayName is not managed).
        assert_eq!(
            upd.body["Operations"],
            json!([{"op": "add", "path": "externalId", "value": "E2"}, {"op": "replace", "path": "title", "value": "Dev"}])
        );
        let create = p
            .changes
            .iter()
            .find(|c| c.kind == ChangeKind::CreateUser)
            .unwrap();
        assert_eq!(create.body[ent]["manager"], json!({"value": "u1"}));
        assert_eq!(create.body["schemas"], json!([USER, ENTERPRISE_USER]));
        let add = p
            .changes
            .iter()
            .find(|c| c.kind == ChangeKind::AddMembers)
            .unwrap();
        assert_eq!(
            add.members,
            vec![
                MemberRef {
                    key: "E2".into(),
                    id: Some("u2".into())
                },
                MemberRef {
                    key: "E4".into(),
                    id: None
                }
            ]
        );
        assert!(p
            .drift
            .iter()
            .any(|d| d.kind == "orphan" && d.subject == "stranger"));
        assert!(p
            .drift
            .iter()
            .any(|d| d.kind == "unmanaged_member" && d.detail.contains("u9")));
        assert_eq!(p.deprovisions(), 1);
        assert_eq!(p.versions["Users/u1"], "W/\"1\"");
        assert!(p.versions["Users/u2"].starts_with("sha256:"));
        let cy = p.people.iter().find(|x| x.key == "E3").unwrap();
        assert_eq!(cy.event, Event::Leaver);
        assert!(cy.why.iter().any(|w| w.contains("endDate 2026-05-31")));
        let table = render_table(&p);
        assert!(
            table.contains("E4 (dee)") && table.contains("deactivate"),
            "{table}"
        );
        // Stale: any change in the target.
        assert!(stale_reasons(&p, &target).is_empty());
        let mut t2 = target.clone();
        let mut u0 = t2.users[0].map();
        u0.insert("meta".into(), json!({"version": "W/\"2\""}));
        t2.users[0] = u0.into();
        t2.users.pop();
        let r = stale_reasons(&p, &t2);
        assert_eq!(r.len(), 2, "{r:?}");
    }

    #[test]
    fn linked_people_who_left_are_deactivated_and_drift_follows_policy() {
        let m = Mapping::parse(&format!("{RULES}\n[drift]\ntitle = \"report\"\n")).unwrap();
        let d = desired("externalId,userName,title,nickName\nE1,ada,Boss,A\n", &m);
        let target = TargetSnapshot {
            users: vec![
                obj(
                    json!({"id": "u1", "externalId": "E1", "userName": "ada", "title": "Chief", "nickName": "Z", "active": true}),
                ),
                obj(json!({"id": "u2", "externalId": "E2", "userName": "bob", "active": true})),
            ].into_iter().map(TargetUser::from).collect(),
            groups: vec![],
        };
        let links = vec![
            Link {
                kind: "user".into(),
                key: "E1".into(),
                id: "u1".into(),
                applied: Some(
                    json!({"externalId": "E1", "userName": "ada", "title": "Boss", "nickName": "A", "active": true}),
                ),
                deactivated_at: None,
            },
            Link {
                kind: "user".into(),
                key: "E2".into(),
                id: "u2".into(),
                applied: None,
                deactivated_at: None,
            },
        ];
        let p = plan(&d, &m, &target, &links);
        let kinds: Vec<&str> = p.changes.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, ["deactivate_user", "update_user"]);
        // nickName (enforce) is written back; title (report) is left and reported.
        let upd = &p.changes[1];
        assert_eq!(
            upd.body["Operations"],
            json!([{"op": "replace", "path": "nickName", "value": "A"}])
        );
        assert!(upd
            .why
            .iter()
            .any(|w| w.contains("nickName was edited in the target")));
        assert!(p.drift.iter().any(|d| d.kind == "manual_edit"
            && d.detail.starts_with("title")
            && d.action == "reported"));
        assert_eq!(p.changes[0].why, ["no longer in the source"]);
    }

    #[test]
    fn grace_period_deletes_and_inactive_future_joiners() {
        let m = Mapping::parse(
            "[settings]\nfuture_joiners = \"inactive\"\n[[rules]]\nname = \"all\"\ngroups = [\"staff\"]\n",
        )
        .unwrap();
        let d = desired(
            "externalId,userName,startDate\nE1,ada,2026-07-01\nE2,bob,2020-01-01\n",
            &m,
        );
        let target = TargetSnapshot {
            users: vec![
                obj(json!({"id": "u3", "externalId": "E3", "userName": "cy", "active": false})),
                obj(json!({"id": "u4", "externalId": "E4", "userName": "dee", "active": false})),
            ]
            .into_iter()
            .map(TargetUser::from)
            .collect(),
            groups: vec![],
        };
        let days_ago = |n: i64| Some(chrono::Utc::now() - chrono::Duration::days(n));
        let links = vec![
            Link {
                kind: "user".into(),
                key: "E3".into(),
                id: "u3".into(),
                applied: None,
                deactivated_at: days_ago(40),
            },
            Link {
                kind: "user".into(),
                key: "E4".into(),
                id: "u4".into(),
                applied: None,
                deactivated_at: days_ago(10),
            },
        ];
        let mut options = PlanOptions::new("t", "http://x");
        options.delete_after_days = Some(30);
        let p = build(PlanInput {
            desired: &d,
            mapping: &m,
            target: &target,
            links: &links,
            options: &options,
            source: SourceInfo {
                origin: "t".into(),
                hash: "h".repeat(64),
                rows: d.rows,
            },
            now: chrono::Utc::now(),
        });
        let kinds: Vec<(&str, &str)> = p
            .changes
            .iter()
            .map(|c| {
                (
                    c.kind.as_str(),
                    c.person
                        .as_deref()
                        .or(c.group.as_deref())
                        .unwrap_or_default(),
                )
            })
            .collect();
        // E3 was deactivated 40 days ago: deleted; E4 only 10 days ago: left alone. The future
        // joiner E1 is created inactive and gets no groups before the start date.
        assert_eq!(
            kinds,
            [
                ("delete_user", "E3"),
                ("create_group", "staff"),
                ("create_user", "E1"),
                ("create_user", "E2"),
                ("add_members", "staff")
            ]
        );
        assert_eq!(p.changes[2].body["active"], false);
        assert_eq!(
            p.changes[4]
                .members
                .iter()
                .map(|m| m.key.as_str())
                .collect::<Vec<_>>(),
            ["E2"]
        );
        assert!(p.changes[0]
            .why
            .iter()
            .any(|w| w.contains("more than 30 days")));
    }
}
