//! The provisioning engine end to end over HTTP against the project's own server (in process,
//! SQLite in memory, on 127.0.0.1): a 1,000-person HR file into an empty target, then joiners,
//! movers, leavers, a rename, a manager change and a future joiner, then a no-op run; the
//! safety gates and stale plans; a target that fails half-way; notifications.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use scim_client::provision::apply::{ApplyOptions, Engine, Target};
use scim_client::provision::gates::GateConfig;
use scim_client::provision::mapping::Mapping;
use scim_client::provision::notify::NotifyConfig;
use scim_client::provision::plan::{ChangeKind, Plan, PlanOptions};
use scim_client::provision::source::{parse_csv, Snapshot};
use scim_client::provision::state::State;
use scim_client::provision::ProvisionError;
use scim_client::{Client, ListQuery, RetryPolicy};
use scim_server::{ScimState, Settings, SqlStore, TokenAuthenticator};
use serde_json::{json, Value};

pub const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Our server behind a switch: it counts modifying requests, can fail every request with 500
/// from the n-th write on, and can be taken down (connection refused) and brought back on the
/// same port with the same data.
pub struct Srv {
    pub base: String,
    addr: SocketAddr,
    store: Arc<SqlStore>,
    pub writes: Arc<AtomicUsize>,
    /// PUT requests served.
    pub puts: Arc<AtomicUsize>,
    /// Fail with 500 once `writes` reaches this (usize::MAX: never).
    pub fail_from: Arc<AtomicUsize>,
    pub failing: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Srv {
    pub async fn start() -> Srv {
        let store = Arc::new(SqlStore::connect("sqlite::memory:").await.unwrap());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let mut s = Srv {
            base: format!("http://{addr}/scim/v2"),
            addr,
            store,
            writes: Arc::new(AtomicUsize::new(0)),
            puts: Arc::new(AtomicUsize::new(0)),
            fail_from: Arc::new(AtomicUsize::new(usize::MAX)),
            failing: Arc::new(AtomicBool::new(false)),
            task: None,
        };
        s.serve(l);
        s
    }

    fn serve(&mut self, l: tokio::net::TcpListener) {
        let auth = Arc::new(TokenAuthenticator::new(&[("tok".into(), "t".into())], None));
        let state = ScimState::new(self.store.clone(), auth, Settings::default());
        let (writes, fail_from, failing, puts) = (
            self.writes.clone(),
            self.fail_from.clone(),
            self.failing.clone(),
            self.puts.clone(),
        );
        let app = scim_server::config::app(state, "/scim/v2", Duration::from_secs(30)).layer(
            axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let (writes, fail_from, failing, puts) = (
                        writes.clone(),
                        fail_from.clone(),
                        failing.clone(),
                        puts.clone(),
                    );
                    async move {
                        let m = req.method().clone();
                        let modifying =
                            m != axum::http::Method::GET && !req.uri().path().ends_with("/.search");
                        if modifying
                            && writes.load(Ordering::SeqCst) >= fail_from.load(Ordering::SeqCst)
                        {
                            failing.store(true, Ordering::SeqCst);
                        }
                        if failing.load(Ordering::SeqCst) {
                            return axum::response::IntoResponse::into_response((
                                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                                "backend unavailable",
                            ));
                        }
                        if modifying {
                            writes.fetch_add(1, Ordering::SeqCst);
                        }
                        if m == axum::http::Method::PUT {
                            puts.fetch_add(1, Ordering::SeqCst);
                        }
                        next.run(req).await
                    }
                },
            ),
        );
        self.task = Some(tokio::spawn(async move {
            axum::serve(l, app).await.unwrap();
        }));
    }

    /// Stops listening: new connections are refused.
    pub fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again on the same port, healthy.
    pub async fn up(&mut self) {
        self.down();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let l = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.failing.store(false, Ordering::SeqCst);
        self.fail_from.store(usize::MAX, Ordering::SeqCst);
        self.serve(l);
    }

    pub fn client(&self) -> Client {
        // No idle connections: a stopped server refuses the next request at once.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Client::builder(&self.base)
            .bearer_token("tok")
            .http_client(http)
            .retry(
                RetryPolicy::default()
                    .with_max_attempts(2)
                    .with_base_delay(Duration::from_millis(5))
                    .with_max_delay(Duration::from_millis(20)),
            )
            .build()
            .unwrap()
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        self.down();
    }
}

pub const MAPPING: &str = r#"
[[rules]]
name = "engineering"
when = { department = "Engineering" }
groups = ["eng", "github-users"]

[[rules]]
name = "sales"
when = { department = "Sales" }
groups = ["sales"]

[[rules]]
name = "heads"
when = { title = "Head of*" }
groups = ["leads"]

[[rules]]
name = "everyone"
groups = ["all-staff"]
"#;

const DEPTS: [&str; 5] = ["Engineering", "Sales", "Marketing", "Finance", "Support"];

/// One HR row.
#[derive(Debug, Clone)]
pub struct Row {
    pub ext: String,
    pub user: String,
    pub given: String,
    pub family: String,
    pub title: String,
    pub dept: String,
    pub manager: String,
    pub start: String,
    pub end: String,
}

pub fn head_of(dept: &str) -> String {
    let k = DEPTS.iter().position(|d| *d == dept).unwrap();
    format!("E{:04}", k + 2)
}

pub fn row(i: usize) -> Row {
    let dept = match i {
        1 => "Executive".to_string(),
        2..=6 => DEPTS[i - 2].to_string(),
        _ => DEPTS[i % 5].to_string(),
    };
    Row {
        ext: format!("E{i:04}"),
        user: format!("user{i:04}@example.com"),
        given: format!("Given{i}"),
        family: format!("Family{i}"),
        title: match i {
            1 => "CEO".into(),
            2..=6 => format!("Head of {dept}"),
            _ => "Specialist".into(),
        },
        manager: match i {
            1 => String::new(),
            2..=6 => "E0001".into(),
            _ => head_of(&dept),
        },
        dept,
        start: "2020-01-01".into(),
        end: String::new(),
    }
}

pub fn csv_of(rows: &[Row]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "externalId",
        "userName",
        "name.givenName",
        "name.familyName",
        r#"emails[type eq "work"].value"#,
        "title",
        &format!("{ENT}:department"),
        "manager",
        "startDate",
        "endDate",
    ])
    .unwrap();
    for r in rows {
        w.write_record([
            &r.ext, &r.user, &r.given, &r.family, &r.user, &r.title, &r.dept, &r.manager, &r.start,
            &r.end,
        ])
        .unwrap();
    }
    w.into_inner().unwrap()
}

pub fn snapshot(rows: &[Row]) -> Snapshot {
    parse_csv(&csv_of(rows), "hr.csv").unwrap()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scim-provision-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn target(client: Client, name: &str, url: &str) -> Target {
    Target {
        client,
        options: PlanOptions::new(name, url),
        mapping: Mapping::parse(MAPPING).unwrap(),
        gates: GateConfig::default(),
    }
}

pub async fn engine(dir: &std::path::Path, notify: NotifyConfig) -> Engine {
    let state = State::open(&dir.join("state.db")).await.unwrap();
    Engine::new(
        state,
        notify,
        ApplyOptions {
            max_attempts: 5,
            breaker: 3,
            concurrency: 4,
            progress: false,
        },
    )
}

/// The target as read over HTTP: userName, active, title, department, manager's externalId and
/// groups per externalId.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub user: String,
    pub active: bool,
    pub title: String,
    pub dept: String,
    pub family: String,
    pub manager: Option<String>,
    pub groups: BTreeSet<String>,
}

pub async fn read_target(c: &Client) -> BTreeMap<String, Seen> {
    let users: Vec<Value> = c
        .list_all("Users", ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    let groups: Vec<Value> = c
        .list_all("Groups", ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    let ext_of: BTreeMap<String, String> = users
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_string(),
                u["externalId"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    let mut out = BTreeMap::new();
    for u in &users {
        let ext = u["externalId"].as_str().unwrap_or("?").to_string();
        let id = u["id"].as_str().unwrap();
        out.insert(
            ext,
            Seen {
                user: u["userName"].as_str().unwrap().to_string(),
                active: u["active"].as_bool().unwrap_or(true),
                title: u["title"].as_str().unwrap_or_default().to_string(),
                dept: u[ENT]["department"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                family: u["name"]["familyName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                manager: u[ENT]["manager"]["value"]
                    .as_str()
                    .map(|m| ext_of[m].clone()),
                groups: groups
                    .iter()
                    .filter(|g| {
                        g["members"]
                            .as_array()
                            .is_some_and(|m| m.iter().any(|m| m["value"] == id))
                    })
                    .map(|g| g["displayName"].as_str().unwrap().to_string())
                    .collect(),
            },
        );
    }
    out
}

/// What the rules grant a row.
pub fn groups_of(r: &Row) -> BTreeSet<String> {
    let mut g = BTreeSet::from(["all-staff".to_string()]);
    if r.dept == "Engineering" {
        g.insert("eng".into());
        g.insert("github-users".into());
    }
    if r.dept == "Sales" {
        g.insert("sales".into());
    }
    if r.title.starts_with("Head of") {
        g.insert("leads".into());
    }
    g
}

/// Asserts that the target holds exactly `rows` as active accounts (plus `inactive` keys,
/// deactivated and in no group).
pub fn assert_target_matches(seen: &BTreeMap<String, Seen>, rows: &[Row], inactive: &[&str]) {
    assert_eq!(
        seen.len(),
        rows.len() + inactive.len(),
        "accounts in the target"
    );
    for r in rows {
        let s = seen
            .get(&r.ext)
            .unwrap_or_else(|| panic!("{} missing in the target", r.ext));
        assert!(s.active, "{} inactive", r.ext);
        assert_eq!(s.user, r.user, "{}", r.ext);
        assert_eq!(s.title, r.title, "{}", r.ext);
        assert_eq!(s.dept, r.dept, "{}", r.ext);
        assert_eq!(s.family, r.family, "{}", r.ext);
        assert_eq!(
            s.manager.as_deref(),
            Some(r.manager.as_str()).filter(|m| !m.is_empty()),
            "{} manager",
            r.ext
        );
        assert_eq!(s.groups, groups_of(r), "{} groups", r.ext);
    }
    for k in inactive {
        let s = &seen[*k];
        assert!(!s.active, "{k} still active");
        assert!(s.groups.is_empty(), "{k} still in {:?}", s.groups);
    }
}

fn kinds(p: &Plan) -> Vec<(String, String, Vec<String>)> {
    let mut v: Vec<(String, String, Vec<String>)> = p
        .changes
        .iter()
        .map(|c| {
            (
                c.kind.as_str().to_string(),
                c.person
                    .clone()
                    .or_else(|| c.group.clone())
                    .unwrap_or_default(),
                c.members.iter().map(|m| m.key.clone()).collect(),
            )
        })
        .collect();
    v.sort();
    v
}

fn s(kind: &str, who: &str, members: &[&str]) -> (String, String, Vec<String>) {
    (
        kind.into(),
        who.into(),
        members.iter().map(|m| m.to_string()).collect(),
    )
}

/// Runs the scenario of the issue against a target: 1,000 people, then joiners, movers and
/// leavers, then a no-op. Shared with the interop test (scim2-server).
pub async fn lifecycle_scenario(
    eng: &Engine,
    t: &Target,
    verify: &Client,
    writes: Option<&AtomicUsize>,
) {
    // 1. 1,000 people into an empty target.
    let mut rows: Vec<Row> = (1..=1000).map(row).collect();
    let (planned, report) = eng.sync(t, &snapshot(&rows), false, false).await.unwrap();
    let report = report.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(planned.plan.count(ChangeKind::CreateUser), 1000);
    assert_eq!(planned.plan.count(ChangeKind::CreateGroup), 5);
    assert!(planned.plan.gates.is_empty(), "{:?}", planned.plan.gates);
    assert_target_matches(&read_target(verify).await, &rows, &[]);

    // 2. Joiners, a future joiner, a mover, two leavers, a rename, a manager change.
    let mut j1 = row(1001);
    j1.dept = "Engineering".into();
    j1.manager = head_of("Engineering");
    let mut j2 = row(1002);
    j2.dept = "Sales".into();
    j2.manager = head_of("Sales");
    let mut future = row(1003);
    future.start = "2099-01-01".into();
    rows.push(j1);
    rows.push(j2);
    rows.push(future);
    assert_eq!(rows[10].ext, "E0011");
    assert_eq!(rows[10].dept, "Sales");
    rows[10].dept = "Engineering".into(); // mover: Sales → Engineering, same manager
    assert_eq!(rows[20].ext, "E0021");
    rows[20].end = "2020-01-31".into(); // leaver by end date, still in the export
    assert_eq!(rows[29].ext, "E0030");
    rows[29].user = "renamed0030@example.com".into(); // rename (e-mail follows)
    rows[29].family = "Renamed".into();
    assert_eq!(rows[41].ext, "E0042");
    assert_eq!(rows[41].manager, "E0004");
    rows[41].manager = "E0001".into(); // manager change
    assert_eq!(rows[19].ext, "E0020");
    rows.remove(19); // leaver: gone from the export
    let planned = eng.plan(t, &snapshot(&rows), None).await.unwrap();
    let p = &planned.plan;
    assert!(p.gates.is_empty(), "{:?}", p.gates);
    assert_eq!(
        kinds(p),
        vec![
            s("add_members", "all-staff", &["E1001", "E1002"]),
            s("add_members", "eng", &["E0011", "E1001"]),
            s("add_members", "github-users", &["E0011", "E1001"]),
            s("add_members", "sales", &["E1002"]),
            s("create_user", "E1001", &[]),
            s("create_user", "E1002", &[]),
            s("deactivate_user", "E0020", &[]),
            s("deactivate_user", "E0021", &[]),
            s("remove_members", "all-staff", &["E0020", "E0021"]),
            s("remove_members", "eng", &["E0020"]),
            s("remove_members", "github-users", &["E0020"]),
            s("remove_members", "sales", &["E0011", "E0021"]),
            s("update_user", "E0011", &[]),
            s("update_user", "E0030", &[]),
            s("update_user", "E0042", &[]),
        ]
    );
    // Leavers first, users before memberships.
    let order: Vec<ChangeKind> = p.changes.iter().map(|c| c.kind).collect();
    assert_eq!(order[0], ChangeKind::DeactivateUser);
    assert!(order.windows(2).all(|w| w[0].phase() <= w[1].phase()));
    let ops = |k: &str| {
        p.changes
            .iter()
            .find(|c| c.person.as_deref() == Some(k))
            .unwrap()
            .body["Operations"]
            .clone()
    };
    assert_eq!(
        ops("E0011"),
        json!([{"op": "replace", "path": format!("{ENT}:department"), "value": "Engineering"}])
    );
    assert_eq!(
        ops("E0030"),
        json!([
            {"op": "replace", "path": "userName", "value": "renamed0030@example.com"},
            {"op": "replace", "path": "name", "value": {"familyName": "Renamed"}},
            {"op": "remove", "path": "emails[value eq \"user0030@example.com\"]"},
            {"op": "add", "path": "emails", "value": [{"type": "work", "value": "renamed0030@example.com"}]}
        ])
    );
    let mgr = ops("E0042");
    assert_eq!(mgr.as_array().unwrap().len(), 1, "{mgr}");
    assert_eq!(mgr[0]["path"], format!("{ENT}:manager"));
    let why = |k: &str| p.people.iter().find(|x| x.key == k).unwrap().why.join("; ");
    assert!(
        why("E0020").contains("no longer in the source"),
        "{}",
        why("E0020")
    );
    assert!(
        why("E0021").contains("endDate 2020-01-31 has passed"),
        "{}",
        why("E0021")
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("E1003") && n.contains("2099-01-01")),
        "{:?}",
        p.notes
    );
    let report = eng.apply(t, p, false, false).await.unwrap();
    assert!(report.ok(), "{report:?}");
    let future = rows.iter().position(|r| r.ext == "E1003").unwrap();
    let mut active_rows = rows.clone();
    active_rows.remove(future);
    active_rows.retain(|r| r.ext != "E0021");
    let seen = read_target(verify).await;
    assert_target_matches(&seen, &active_rows, &["E0020", "E0021"]);
    assert!(!seen.contains_key("E1003"));

    // 3. Nothing changed: no modifying request (counted by the server where it can, and seen
    // in the target's versions, which any write changes).
    let before = writes.map(|w| w.load(Ordering::SeqCst));
    let versions_before = scim_client::provision::plan::TargetSnapshot::read(verify)
        .await
        .unwrap()
        .versions();
    let (planned, report) = eng.sync(t, &snapshot(&rows), false, false).await.unwrap();
    assert_eq!(
        planned.plan.modifying(),
        0,
        "{}",
        scim_client::provision::plan::render_table(&planned.plan)
    );
    let report = report.unwrap();
    assert_eq!(report.modifying_requests, 0);
    if let (Some(w), Some(b)) = (writes, before) {
        assert_eq!(
            w.load(Ordering::SeqCst),
            b,
            "a no-op run sent modifying requests"
        );
    }
    let versions_after = scim_client::provision::plan::TargetSnapshot::read(verify)
        .await
        .unwrap()
        .versions();
    assert_eq!(
        versions_before, versions_after,
        "the no-op run changed the target"
    );
}

/// The same scenario against a SCIM server written by someone else: scim2-server (Python).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_lifecycle_against_scim2_server() {
    let Some(srv) = crate::interop::Scim2Server::start("provision", None) else {
        return;
    };
    let dir = temp_dir("scim2-server");
    let eng = engine(&dir, NotifyConfig::default()).await;
    let t = target(srv.client(), "scim2-server", &srv.base);
    lifecycle_scenario(&eng, &t, &srv.client(), None).await;
    assert!(eng.state.pending("scim2-server").await.unwrap().is_empty());
    assert!(eng.state.dead("scim2-server").await.unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_people_then_joiners_movers_leavers_then_no_op() {
    let srv = Srv::start().await;
    let dir = temp_dir("lifecycle");
    let eng = engine(&dir, NotifyConfig::default()).await;
    let t = target(srv.client(), "own", &srv.base);
    lifecycle_scenario(&eng, &t, &srv.client(), Some(&srv.writes)).await;
    // The history has the three runs; nothing is pending or dead.
    let runs = eng.state.runs(Some("own"), 10).await.unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.status == "succeeded"), "{runs:?}");
    assert!(eng.state.pending("own").await.unwrap().is_empty());
    assert!(eng.state.dead("own").await.unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_refuse_half_the_people_and_force_proceeds_and_stale_plans_are_refused() {
    let srv = Srv::start().await;
    let dir = temp_dir("gates");
    let eng = engine(&dir, NotifyConfig::default()).await;
    let t = target(srv.client(), "own", &srv.base);
    let rows: Vec<Row> = (1..=60).map(row).collect();
    let (_, r) = eng.sync(&t, &snapshot(&rows), false, false).await.unwrap();
    assert!(r.unwrap().ok());

    // Half the people missing: refused, and nothing was written.
    let half = &rows[..30];
    let writes = srv.writes.load(Ordering::SeqCst);
    let e = eng
        .sync(&t, &snapshot(half), false, false)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ProvisionError::Refused(_)), "{msg}");
    assert!(
        msg.contains(
            "[mass_deprovision] the plan deactivates or deletes 30 of 60 managed accounts (50.0%"
        ),
        "{msg}"
    );
    assert!(
        msg.contains("[source_shrink] the source has 30 rows, 30 fewer than the 60"),
        "{msg}"
    );
    assert_eq!(srv.writes.load(Ordering::SeqCst), writes);
    // --dry-run plans without applying.
    let (planned, report) = eng.sync(&t, &snapshot(half), false, true).await.unwrap();
    assert!(report.is_none());
    assert_eq!(planned.plan.deprovisions(), 30);
    assert_eq!(srv.writes.load(Ordering::SeqCst), writes);

    // A saved plan is refused when the target changed since.
    let planned = eng.plan(&t, &snapshot(half), None).await.unwrap();
    let saved: Plan = serde_json::from_str(&serde_json::to_string(&planned.plan).unwrap()).unwrap();
    let c = srv.client();
    let some: Vec<Value> = c
        .list_all("Users", ListQuery::new().count(1))
        .try_collect()
        .await
        .unwrap();
    let id = some[0]["id"].as_str().unwrap();
    c.patch(
        "Users",
        id,
        &scim_core::PatchOp::new(vec![scim_core::PatchOperation::replace(
            Some("nickName"),
            json!("edited"),
        )]),
        None,
    )
    .await
    .unwrap();
    let e = eng.apply(&t, &saved, true, true).await.unwrap_err();
    assert!(matches!(e, ProvisionError::Stale(_)), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("Users/{id} changed since the plan was made")),
        "{e}"
    );

    // --force proceeds.
    let (planned, report) = eng.sync(&t, &snapshot(half), true, false).await.unwrap();
    assert_eq!(planned.plan.gates.len(), 2);
    assert!(report.unwrap().ok());
    let seen = read_target(&c).await;
    assert_eq!(seen.values().filter(|s| s.active).count(), 30);
    // The same plan applied again changes nothing.
    let writes = srv.writes.load(Ordering::SeqCst);
    let again = eng.apply(&t, &planned.plan, false, true).await.unwrap();
    assert!(again.note.unwrap().contains("already applied"));
    assert_eq!(again.modifying_requests, 0);
    assert_eq!(srv.writes.load(Ordering::SeqCst), writes);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_failing_half_way_gets_every_pending_change_after_it_recovers() {
    let mut srv = Srv::start().await;
    let dir = temp_dir("faults");
    let eng = engine(&dir, NotifyConfig::default()).await;
    let t = target(srv.client(), "own", &srv.base);
    let mut rows: Vec<Row> = (1..=200).map(row).collect();
    let (_, r) = eng.sync(&t, &snapshot(&rows), false, false).await.unwrap();
    assert!(r.unwrap().ok());
    // 15 leavers, 20 joiners, 10 movers.
    let leavers: Vec<String> = rows.drain(100..115).map(|r| r.ext).collect();
    rows.extend((201..=220).map(row));
    for r in rows.iter_mut().skip(150).take(10) {
        r.title = "Senior Specialist".into();
    }
    // The 500s start after 12 more writes: half-way through.
    srv.fail_from
        .store(srv.writes.load(Ordering::SeqCst) + 12, Ordering::SeqCst);
    let (planned, report) = eng.sync(&t, &snapshot(&rows), false, false).await.unwrap();
    let report = report.unwrap();
    assert!(report.stopped, "{report:?}");
    assert!(report.pending > 0 && report.done > 0, "{report:?}");
    assert_eq!(report.dead, 0);
    assert_eq!(planned.plan.deprovisions(), 15);
    // Then the target is down: connection refused.
    srv.down();
    let e = eng.sync(&t, &snapshot(&rows), false, false).await;
    assert!(e.is_err(), "a run against a target that is down fails");
    assert!(
        !eng.state.pending("own").await.unwrap().is_empty(),
        "pending changes are kept"
    );
    // It recovers: the next run completes everything, every deprovisioning included.
    srv.up().await;
    let (_, report) = eng.sync(&t, &snapshot(&rows), false, false).await.unwrap();
    let report = report.unwrap();
    assert!(report.ok(), "{report:?}");
    assert!(eng.state.pending("own").await.unwrap().is_empty());
    assert!(eng.state.dead("own").await.unwrap().is_empty());
    let leaver_refs: Vec<&str> = leavers.iter().map(String::as_str).collect();
    assert_target_matches(&read_target(&srv.client()).await, &rows, &leaver_refs);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A local SMTP sink on 127.0.0.1: accepts every message and keeps (recipients, data).
pub async fn smtp_sink() -> (
    u16,
    Arc<std::sync::Mutex<Vec<(Vec<String>, String)>>>,
    tokio::task::JoinHandle<()>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let mails = Arc::new(std::sync::Mutex::new(Vec::new()));
    let m2 = mails.clone();
    let h = tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = l.accept().await else {
                return;
            };
            let mails = m2.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                let mut rcpt = Vec::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_ascii_uppercase();
                    if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        let _ = w.write_all(b"250 sink\r\n").await;
                    } else if cmd.starts_with("RCPT TO:") {
                        rcpt.push(
                            line.trim_end()[8..]
                                .trim()
                                .trim_matches(['<', '>'])
                                .to_string(),
                        );
                        let _ = w.write_all(b"250 OK\r\n").await;
                    } else if cmd == "DATA" {
                        let _ = w.write_all(b"354 go on\r\n").await;
                        let mut data = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" || line == ".\n" {
                                break;
                            }
                            data.push_str(&line);
                        }
                        mails
                            .lock()
                            .unwrap()
                            .push((std::mem::take(&mut rcpt), data));
                        let _ = w.write_all(b"250 queued\r\n").await;
                    } else if cmd == "QUIT" {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        let _ = w.write_all(b"250 OK\r\n").await;
                    }
                }
            });
        }
    });
    (port, mails, h)
}

type Hooks = Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// A local webhook receiver on 127.0.0.1 that answers 503 to the first `fail_first` requests.
pub async fn webhook_receiver(fail_first: usize) -> (String, Hooks, tokio::task::JoinHandle<()>) {
    let got: Hooks = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::new(AtomicUsize::new(0));
    let g2 = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (got, seen) = (g2.clone(), seen.clone());
                async move {
                    if seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    got.lock().unwrap().push((headers, body.to_vec()));
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let h = tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    (format!("http://{addr}/hook"), got, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_and_smtp_receive_joiner_and_leaver_events() {
    use scim_client::provision::notify::{self, EmailConfig, WebhookConfig};
    let srv = Srv::start().await;
    let dir = temp_dir("notify");
    let (hook_url, hooks, hook_task) = webhook_receiver(1).await;
    let (smtp_port, mails, smtp_task) = smtp_sink().await;
    let notify_cfg = NotifyConfig {
        webhook: Some(WebhookConfig {
            url: hook_url,
            secret: Some("hook-secret".into()),
            secret_env: None,
            events: vec![],
        }),
        email: Some(
            toml::from_str::<EmailConfig>(&format!(
                "host = \"127.0.0.1\"\nport = {smtp_port}\nfrom = \"provisioning@example.com\"\nsecurity_to = \"security@example.com\"\njoiner_to = \"manager\"\n"
            ))
            .unwrap(),
        ),
    };
    let eng = engine(&dir, notify_cfg).await;
    let t = target(srv.client(), "own", &srv.base);
    let rows: Vec<Row> = (1..=3).map(row).collect();
    let (p1, r) = eng.sync(&t, &snapshot(&rows), false, false).await.unwrap();
    let r = r.unwrap();
    // The webhook answered 503 once: that event stays in the outbox...
    assert_eq!(r.pending, 1, "{r:?}");
    assert!(!r.ok());
    // ... and is delivered by the next run, which has nothing else to do.
    let r = eng.resume(&t).await.unwrap();
    assert_eq!((r.done, r.pending), (1, 0), "{r:?}");
    // A leaver.
    let (p2, r) = eng
        .sync(&t, &snapshot(&rows[..2]), false, false)
        .await
        .unwrap();
    assert!(r.unwrap().ok());

    let hooks = hooks.lock().unwrap().clone();
    let mut events: Vec<(String, String, String)> = Vec::new();
    for (h, body) in &hooks {
        let ts: i64 = h["x-scim-timestamp"].to_str().unwrap().parse().unwrap();
        assert_eq!(
            h["x-scim-signature"].to_str().unwrap(),
            notify::signature("hook-secret", ts, body),
            "the signature verifies"
        );
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(h["x-scim-event"].to_str().unwrap(), v["event"]);
        assert_eq!(v["target"], "own");
        events.push((
            v["event"].as_str().unwrap().into(),
            v["person"]["key"].as_str().unwrap().into(),
            v["plan_id"].as_str().unwrap().into(),
        ));
        if v["event"] == "joiner" && v["person"]["key"] == "E0002" {
            assert_eq!(v["person"]["userName"], "user0002@example.com");
            assert_eq!(v["person"]["manager_email"], "user0001@example.com");
            assert!(
                v["groups"].as_array().unwrap().contains(&json!("+leads")),
                "{v}"
            );
        }
        if v["event"] == "leaver" {
            assert!(
                v["changes"].to_string().contains("active: true → false"),
                "{v}"
            );
            assert!(
                v["why"].to_string().contains("no longer in the source"),
                "{v}"
            );
        }
    }
    events.sort();
    let (id1, id2) = (p1.plan.id.clone(), p2.plan.id.clone());
    assert_eq!(
        events,
        vec![
            ("joiner".into(), "E0001".into(), id1.clone()),
            ("joiner".into(), "E0002".into(), id1.clone()),
            ("joiner".into(), "E0003".into(), id1),
            ("leaver".into(), "E0003".into(), id2),
        ]
    );
    let mails = mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 4, "{mails:?}");
    let to_of = |needle: &str| -> Vec<String> {
        mails
            .iter()
            .find(|(_, d)| d.contains(needle))
            .unwrap_or_else(|| panic!("no mail with {needle}: {mails:?}"))
            .0
            .clone()
    };
    // Joiners: the new account's details to the manager (the CEO has none: to security).
    assert_eq!(
        to_of("Subject: [own] Account created for Given2 Family2"),
        ["user0001@example.com"]
    );
    assert_eq!(
        to_of("Subject: [own] Account created for Given3 Family3"),
        ["user0001@example.com"]
    );
    assert_eq!(
        to_of("Subject: [own] Account created for Given1 Family1"),
        ["security@example.com"]
    );
    // The leaver's revoked access to security.
    assert_eq!(
        to_of("Subject: [own] Access revoked for Given3 Family3"),
        ["security@example.com"]
    );
    let leaver_mail = &mails
        .iter()
        .find(|(_, d)| d.contains("Access revoked"))
        .unwrap()
        .1;
    assert!(
        leaver_mail.contains("user0003@example.com"),
        "{leaver_mail}"
    );
    assert!(leaver_mail.contains("-all-staff"), "{leaver_mail}");
    hook_task.abort();
    smtp_task.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A SCIM server can be the source: the users of one server are provisioned into another with
/// no mapping file (the columns are SCIM paths; managers resolved by externalId).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_server_as_the_source() {
    let a = Srv::start().await;
    let b = Srv::start().await;
    let dir = temp_dir("scim-source");
    let eng = engine(&dir, NotifyConfig::default()).await;
    let rows: Vec<Row> = (1..=20).map(row).collect();
    let (_, r) = eng
        .sync(
            &target(a.client(), "a", &a.base),
            &snapshot(&rows),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.unwrap().ok());
    let snap = scim_client::provision::source::read_scim(&a.client())
        .await
        .unwrap();
    assert_eq!(snap.records.len(), 20);
    let mut tb = target(b.client(), "b", &b.base);
    tb.mapping = Mapping::default();
    let (p, r) = eng.sync(&tb, &snap, false, false).await.unwrap();
    assert!(r.unwrap().ok());
    assert_eq!(p.plan.count(ChangeKind::CreateUser), 20);
    let sa = read_target(&a.client()).await;
    let sb = read_target(&b.client()).await;
    for (k, x) in &sa {
        let y = &sb[k];
        assert_eq!(
            (&x.user, &x.title, &x.dept, &x.family, &x.manager, x.active),
            (&y.user, &y.title, &y.dept, &y.family, &y.manager, y.active),
            "{k}"
        );
        // Groups travel as the `groups` column.
        assert_eq!(x.groups, y.groups, "{k}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A profile that prefers PUT: updates replace the whole resource, keeping what the engine does
/// not manage.
#[derive(Debug)]
struct PutOnly;
impl scim_client::Profile for PutOnly {
    fn prefers_patch(&self) -> bool {
        false
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_use_put_where_the_profile_prefers_it() {
    let srv = Srv::start().await;
    let dir = temp_dir("put");
    let eng = engine(&dir, NotifyConfig::default()).await;
    let client = Client::builder(&srv.base)
        .bearer_token("tok")
        .profile(Arc::new(PutOnly))
        .unwrap()
        .build()
        .unwrap();
    let t = target(client, "put", &srv.base);
    let mut rows: Vec<Row> = (1..=8).map(row).collect();
    assert!(eng
        .sync(&t, &snapshot(&rows), false, false)
        .await
        .unwrap()
        .1
        .unwrap()
        .ok());
    // Something the engine does not manage, set in the target: PUT must keep it.
    let c = srv.client();
    let users: Vec<Value> = c
        .list_all(
            "Users",
            ListQuery::new().filter(scim_core::Filter::eq("externalId", "E0008")),
        )
        .try_collect()
        .await
        .unwrap();
    let id = users[0]["id"].as_str().unwrap().to_string();
    c.patch(
        "Users",
        &id,
        &scim_core::PatchOp::new(vec![scim_core::PatchOperation::replace(
            Some("nickName"),
            json!("kept"),
        )]),
        None,
    )
    .await
    .unwrap();
    rows[7].title = "Principal".into();
    rows[7].dept = "Sales".into();
    rows[7].manager = head_of("Sales");
    assert_eq!(srv.puts.load(Ordering::SeqCst), 0);
    let (p, r) = eng.sync(&t, &snapshot(&rows), false, false).await.unwrap();
    assert!(r.unwrap().ok());
    assert_eq!(p.plan.count(ChangeKind::UpdateUser), 1);
    assert_eq!(srv.puts.load(Ordering::SeqCst), 1, "the update was a PUT");
    assert_target_matches(&read_target(&c).await, &rows, &[]);
    let u: Value = c.get("Users", &id).await.unwrap();
    assert_eq!(u["nickName"], "kept");
    assert_eq!(u["title"], "Principal");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A change the target refuses for good becomes a dead letter that names the person and the
/// reason, and a `failure` event goes to the webhook and to security by e-mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_change_is_a_dead_letter_with_a_failure_notification() {
    use scim_client::provision::notify::{EmailConfig, WebhookConfig};
    let srv = Srv::start().await;
    let dir = temp_dir("dead");
    let (hook_url, hooks, hook_task) = webhook_receiver(0).await;
    let (smtp_port, mails, smtp_task) = smtp_sink().await;
    let eng = engine(
        &dir,
        NotifyConfig {
            webhook: Some(WebhookConfig {
                url: hook_url,
                secret: Some("s".into()),
                secret_env: None,
                events: vec!["failure".into()],
            }),
            email: Some(
                toml::from_str::<EmailConfig>(&format!(
                    "host = \"127.0.0.1\"\nport = {smtp_port}\nfrom = \"p@example.com\"\nsecurity_to = \"security@example.com\"\n"
                ))
                .unwrap(),
            ),
        },
    )
    .await;
    // Someone else already has E0002's userName; matching by externalId only, so the engine
    // tries to create the account and the target answers 409.
    let c = srv.client();
    let _: Value = c
        .create(
            "Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "user0002@example.com", "externalId": "X-1"}),
        )
        .await
        .unwrap();
    let mut t = target(srv.client(), "own", &srv.base);
    t.mapping =
        Mapping::parse(&format!("[settings]\nmatch = [\"externalId\"]\n{MAPPING}")).unwrap();
    let rows: Vec<Row> = (1..=3).map(row).collect();
    let (_, r) = eng.sync(&t, &snapshot(&rows), false, false).await.unwrap();
    let r = r.unwrap();
    assert_eq!(r.dead, 1, "{r:?}");
    assert!(!r.ok());
    assert!(
        r.failures[0].starts_with("E0002 (user0002@example.com) create_user: HTTP 409"),
        "{:?}",
        r.failures
    );
    let dead = eng.state.dead("own").await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].person.as_deref(), Some("E0002"));
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("uniqueness"),
        "{:?}",
        dead[0].last_error
    );
    // The others were provisioned; E0002's memberships wait for the account.
    let seen = read_target(&c).await;
    assert!(seen.contains_key("E0001") && seen.contains_key("E0003"));
    // The failure event: once to the webhook (which takes only failures), once to security.
    let hooks = hooks.lock().unwrap().clone();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let v: Value = serde_json::from_slice(&hooks[0].1).unwrap();
    assert_eq!(v["event"], "failure");
    assert_eq!(v["person"]["key"], "E0002");
    assert!(v["error"].as_str().unwrap().contains("409"), "{v}");
    let mails = mails.lock().unwrap().clone();
    let failure: Vec<_> = mails
        .iter()
        .filter(|(_, d)| d.contains("Provisioning failed"))
        .collect();
    assert_eq!(failure.len(), 1, "{mails:?}");
    assert_eq!(failure[0].0, ["security@example.com"]);
    hook_task.abort();
    smtp_task.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
