//! Interoperability: the client against a SCIM server written by someone else, the Python
//! reference server `scim2-server` (PyPI), started as a child process on 127.0.0.1.
//!
//! The server comes from the virtual environment that `.ci/python-env.sh` makes (versions pinned
//! in `.ci/interop-requirements.txt`); `SCIM_INTEROP_PYTHON` names its interpreter:
//!
//! ```text
//! bash .ci/python-env.sh
//! SCIM_INTEROP_PYTHON=$PWD/.venv-interop/bin/python cargo test -p scim-client --test it interop
//! ```
//!
//! Without `SCIM_INTEROP_PYTHON` the tests say they were skipped, except under `CI=true`, where
//! they fail. When a call fails, the panic shows what scim2-server answered, and the server's
//! request log is printed.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures::TryStreamExt;
use scim_client::{Client, Error, ListQuery, RetryPolicy};
use scim_core::resource::{Member, MultiValue, Name};
use scim_core::schema::{ENTERPRISE_USER, GROUP, USER};
use scim_core::{
    AttrPath, CompareOp, Filter, Group, ListResponse, PatchOp, PatchOperation, SearchRequest,
    SortOrder, User,
};
use serde_json::{json, Value};

const TOKEN: &str = "interop-secret";

/// A running `scim2-server`, killed on drop. On a panic, its request log is printed.
pub(crate) struct Scim2Server {
    child: Child,
    pub(crate) base: String,
    log: PathBuf,
    files: Vec<PathBuf>,
}

impl Scim2Server {
    /// Starts the server, or returns `None` (after saying so) when the test is to be skipped.
    /// `spc` replaces the default ServiceProviderConfig.
    pub(crate) fn start(test: &str, spc: Option<Value>) -> Option<Scim2Server> {
        let Some(python) = std::env::var_os("SCIM_INTEROP_PYTHON").filter(|p| !p.is_empty()) else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "CI=true but SCIM_INTEROP_PYTHON is not set: the interop test must run in CI \
                     (.ci/run runs .ci/python-env.sh and exports it)"
                );
            }
            println!("SKIPPED: interop test (run .ci/python-env.sh and set SCIM_INTEROP_PYTHON)");
            return None;
        };
        let mut python = PathBuf::from(python);
        if python.is_relative() && python.components().count() > 1 {
            // A relative path is taken from the workspace root, where .ci/python-env.sh puts it.
            python = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(python);
        }
        let mut files = Vec::new();
        let mut extra_args = Vec::new();
        if let Some(spc) = spc {
            let path = std::env::temp_dir().join(format!(
                "scim2-server-{}-{test}-spc.json",
                std::process::id()
            ));
            std::fs::write(&path, spc.to_string()).expect("write the ServiceProviderConfig");
            extra_args.push("--service-provider-config".to_string());
            extra_args.push(path.display().to_string());
            files.push(path);
        }
        // The port is found by binding port 0; another process can take it before the server
        // binds it, so a server that exits at start is tried again on another port.
        let mut last_failure = String::new();
        for attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("bind 127.0.0.1:0")
                .port();
            let log = std::env::temp_dir().join(format!(
                "scim2-server-{}-{test}-{attempt}.log",
                std::process::id()
            ));
            let log_file = std::fs::File::create(&log).expect("create the server's log file");
            let mut child = Command::new(&python)
                .args([
                    "-m",
                    "scim2_server.testserver.cli",
                    "--hostname",
                    "127.0.0.1",
                ])
                .args(["--port", &port.to_string(), "--bearer-token", TOKEN])
                .args(&extra_args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| {
                    for f in files.iter().chain([&log]) {
                        let _ = std::fs::remove_file(f);
                    }
                    panic!(
                        "cannot run SCIM_INTEROP_PYTHON={}: {e} (run .ci/python-env.sh)",
                        python.display()
                    )
                });
            // The server prints "Serving SCIM on http://HOST:PORT/v2" once it listens.
            let stdout = child.stdout.take().expect("stdout");
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let mut server = Scim2Server {
                child,
                base: format!("http://127.0.0.1:{port}/v2"),
                log,
                files: std::mem::take(&mut files),
            };
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.contains("Serving SCIM on") => {
                    eprintln!("interop {test}: {line}");
                    return Some(server);
                }
                other => {
                    let _ = server.child.kill();
                    let status = server.child.wait().ok();
                    files = std::mem::take(&mut server.files);
                    last_failure = format!(
                        "scim2-server did not start (stdout: {other:?}, exit: {status:?}); \
                         its stderr:\n{}",
                        server.log_text()
                    );
                    eprintln!("interop {test}: attempt {attempt}: {last_failure}");
                }
            }
        }
        for f in files {
            let _ = std::fs::remove_file(f);
        }
        panic!("{last_failure}");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn client(&self) -> Client {
        Client::builder(&self.base)
            .bearer_token(TOKEN)
            .timeout(Duration::from_secs(20))
            .retry(RetryPolicy::default().with_base_delay(Duration::from_millis(50)))
            .build()
            .unwrap()
    }
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let text = self.log_text();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            eprintln!(
                "---- scim2-server's log ({}), last {} lines:",
                self.base,
                tail.len()
            );
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
        let _ = std::fs::remove_file(&self.log);
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// The value of a call, or a panic that shows what scim2-server answered.
fn must<T>(r: Result<T, Error>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            let body = match &e {
                Error::Http { body, .. } | Error::Decode { body, .. } => body.as_str(),
                _ => "(no answer)",
            };
            panic!("{what}: {e}\nscim2-server answered: {body}")
        }
    }
}

/// The error of a call that must fail, or a panic that shows what scim2-server answered.
fn must_fail<T: std::fmt::Debug>(r: Result<T, Error>, what: &str) -> Error {
    match r {
        Ok(v) => panic!("{what}: expected an error, scim2-server answered {v:?}"),
        Err(e) => e,
    }
}

/// PATCH, then the resource: from the 200 body, or read again after a 204 (RFC 7644 §3.5.2).
async fn patch(c: &Client, endpoint: &str, id: &str, ops: Vec<PatchOperation>) -> Value {
    let what = format!(
        "PATCH /{endpoint}/{id} {}",
        serde_json::to_string(&PatchOp::new(ops.clone())).unwrap()
    );
    match must(c.patch(endpoint, id, &PatchOp::new(ops), None).await, &what) {
        Some(v) => v,
        None => must(c.get(endpoint, id).await, &format!("GET after {what}")),
    }
}

async fn list<T: serde::de::DeserializeOwned>(
    c: &Client,
    endpoint: &str,
    q: &ListQuery,
) -> ListResponse<T> {
    must(
        c.list(endpoint, q).await,
        &format!("GET /{endpoint} with {q:?}"),
    )
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

fn version_of(v: &Value) -> String {
    v["meta"]["version"]
        .as_str()
        .unwrap_or_else(|| panic!("no meta.version in {v}"))
        .to_string()
}

/// The `value`s of a group's members, sorted.
fn member_ids(g: &Value) -> Vec<String> {
    let mut ids: Vec<String> = g["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// `attr[inner]`.
fn value_path(attr: &str, inner: Filter) -> Filter {
    Filter::ValuePath {
        path: AttrPath::new(attr),
        filter: Box::new(inner),
    }
}

#[tokio::test]
async fn interop_scim2_server_users() {
    let Some(srv) = Scim2Server::start("users", None) else {
        return;
    };
    let c = srv.client();

    // Discovery.
    let spc = must(
        c.service_provider_config().await,
        "GET /ServiceProviderConfig",
    );
    assert_eq!(spc["patch"]["supported"], true, "{spc}");
    assert_eq!(spc["filter"]["supported"], true, "{spc}");
    let rts = must(c.resource_types().await, "GET /ResourceTypes");
    let endpoints: Vec<&str> = rts
        .resources
        .iter()
        .filter_map(|r| r["endpoint"].as_str())
        .collect();
    assert!(
        endpoints.contains(&"/Users") && endpoints.contains(&"/Groups"),
        "{endpoints:?}"
    );
    assert!(must(c.schemas().await, "GET /Schemas").total_results >= 3);

    // Create, typed.
    let mut u = User::new("alice@example.com");
    u.external_id = Some("ext-alice".into());
    u.display_name = Some("Alice Liddell".into());
    let mut name = Name::default();
    name.given_name = Some("Alice".into());
    name.family_name = Some("Liddell".into());
    u.name = Some(name);
    u.emails = vec![MultiValue::new("alice@work.example", Some("work")).primary()];
    u.title = Some("Engineer".into());
    u.active = Some(true);
    let alice: User = must(c.create("Users", &u).await, "POST /Users (typed)");
    let alice_id = alice.id.clone().expect("the server assigns an id");
    assert_eq!(alice.user_name.as_deref(), Some("alice@example.com"));
    assert_eq!(alice.external_id.as_deref(), Some("ext-alice"));
    assert_eq!(alice.primary_email(), Some("alice@work.example"));
    assert_eq!(
        alice.name.as_ref().and_then(|n| n.family_name.as_deref()),
        Some("Liddell")
    );
    let meta = alice.meta.clone().expect("meta");
    assert_eq!(meta.resource_type.as_deref(), Some("User"));
    assert!(meta.version.is_some(), "{meta:?}");
    assert!(
        meta.location
            .as_deref()
            .is_some_and(|l| l.ends_with(&format!("/Users/{alice_id}"))),
        "{meta:?}"
    );

    // Create, generic JSON, with the enterprise extension.
    let bob: Value = must(
        c.create(
            "Users",
            &json!({
                "schemas": [USER, ENTERPRISE_USER],
                "userName": "bob",
                "name": {"givenName": "Bob", "familyName": "Builder"},
                "emails": [{"value": "bob@home.example", "type": "home"}],
                "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
                "active": true,
                ENTERPRISE_USER: {"employeeNumber": "701984", "department": "Sales"}
            }),
        )
        .await,
        "POST /Users (JSON)",
    );
    let bob_id = id_of(&bob);
    assert_eq!(bob["userName"], "bob");
    assert_eq!(bob[ENTERPRISE_USER]["employeeNumber"], "701984", "{bob}");

    // A userName with a quote and a backslash, which the filter must escape.
    let odd_name = r#"o"brien\x"#;
    let odd: User = must(
        c.create("Users", &User::new(odd_name)).await,
        "POST /Users (quote and backslash)",
    );
    assert_eq!(odd.user_name.as_deref(), Some(odd_name));

    // Read.
    let got: User = must(c.get("Users", &alice_id).await, "GET /Users/alice");
    assert_eq!(got.user_name.as_deref(), Some("alice@example.com"));
    assert_eq!(got.title.as_deref(), Some("Engineer"));
    let got: Value = must(c.get("Users", &bob_id).await, "GET /Users/bob");
    assert_eq!(got["name"]["familyName"], "Builder");
    assert_eq!(got[ENTERPRISE_USER]["department"], "Sales");

    // List with filters built by scim_core::Filter.
    let one = |page: &ListResponse<Value>| {
        assert_eq!(page.total_results, 1, "{page:?}");
        assert_eq!(page.resources.len(), 1, "{page:?}");
        id_of(&page.resources[0])
    };
    let f = Filter::eq("userName", "alice@example.com");
    let page: ListResponse<User> = list(&c, "Users", &ListQuery::new().filter(f)).await;
    assert_eq!(page.total_results, 1, "{page:?}");
    assert_eq!(page.resources[0].id.as_deref(), Some(alice_id.as_str()));
    // userName is caseExact false (RFC 7643 §4.1.1).
    let f = Filter::eq("userName", "ALICE@EXAMPLE.COM");
    assert_eq!(
        one(&list(&c, "Users", &ListQuery::new().filter(f)).await),
        alice_id
    );
    let f = Filter::eq("userName", odd_name);
    assert_eq!(
        one(&list(&c, "Users", &ListQuery::new().filter(f)).await),
        odd.id.clone().unwrap()
    );
    let f = Filter::compare(
        AttrPath::new("name").with_sub("familyName"),
        CompareOp::Eq,
        "Liddell",
    )
    .and(Filter::eq("active", true));
    assert_eq!(
        one(&list(&c, "Users", &ListQuery::new().filter(f)).await),
        alice_id
    );
    let f = value_path(
        "emails",
        Filter::eq("type", "work").and(Filter::compare(
            AttrPath::new("value"),
            CompareOp::Ew,
            "@work.example",
        )),
    );
    assert_eq!(
        one(&list(&c, "Users", &ListQuery::new().filter(f)).await),
        alice_id
    );
    let f = Filter::compare(
        AttrPath::new("employeeNumber").with_urn(ENTERPRISE_USER),
        CompareOp::Eq,
        "701984",
    );
    assert_eq!(
        one(&list(&c, "Users", &ListQuery::new().filter(f)).await),
        bob_id
    );
    let f = Filter::eq("userName", "bob").or(Filter::eq("externalId", "ext-alice"));
    let page: ListResponse<Value> = list(&c, "Users", &ListQuery::new().filter(f)).await;
    assert_eq!(page.total_results, 2, "{page:?}");
    // Attribute selection.
    let q = ListQuery::new()
        .filter(Filter::eq("userName", "bob"))
        .attributes(["userName"]);
    let page: ListResponse<Value> = list(&c, "Users", &q).await;
    assert_eq!(page.resources[0]["userName"], "bob");
    assert!(page.resources[0].get("emails").is_none(), "{page:?}");
    let q = ListQuery::new()
        .filter(Filter::eq("userName", "bob"))
        .excluded_attributes(["emails"]);
    let page: ListResponse<Value> = list(&c, "Users", &q).await;
    assert!(page.resources[0].get("emails").is_none(), "{page:?}");
    assert_eq!(page.resources[0]["name"]["givenName"], "Bob");

    // Paging: 11 more users, read 3 at a time.
    let mut page_ids = Vec::new();
    for i in 0..11 {
        let p: User = must(
            c.create("Users", &User::new(format!("page-{i:02}"))).await,
            "POST /Users (page-NN)",
        );
        page_ids.push(p.id.unwrap());
    }
    let paged = Filter::compare(AttrPath::new("userName"), CompareOp::Sw, "page-");
    let first: ListResponse<User> = list(
        &c,
        "Users",
        &ListQuery::new().filter(paged.clone()).count(3),
    )
    .await;
    assert_eq!(first.total_results, 11, "{first:?}");
    assert_eq!(first.resources.len(), 3, "{first:?}");
    assert_eq!(first.start_index, Some(1));
    assert_eq!(first.items_per_page, Some(3));
    let mut q = ListQuery::new().filter(paged.clone()).count(3);
    q.start_index = Some(10);
    let last: ListResponse<User> = list(&c, "Users", &q).await;
    assert_eq!(last.start_index, Some(10), "{last:?}");
    assert_eq!(last.resources.len(), 2, "{last:?}");
    let all: Vec<User> = must(
        c.list_all("Users", ListQuery::new().filter(paged.clone()).count(3))
            .try_collect()
            .await,
        "list_all /Users by 3",
    );
    assert_eq!(
        sorted(all.iter().map(|u| u.id.clone().unwrap()).collect()),
        sorted(page_ids.clone())
    );
    let everyone: Vec<Value> = must(
        c.list_all("Users", ListQuery::new().count(4))
            .try_collect()
            .await,
        "list_all /Users by 4",
    );
    assert_eq!(everyone.len(), 14);
    let q = ListQuery::new()
        .filter(paged.clone())
        .sort("userName", SortOrder::Descending)
        .count(1);
    let top: ListResponse<User> = list(&c, "Users", &q).await;
    assert_eq!(top.resources[0].user_name.as_deref(), Some("page-10"));
    let mut sr = SearchRequest::new().filter(paged);
    sr.count = Some(5);
    let found: ListResponse<Value> = must(c.search("Users", &sr).await, "POST /Users/.search");
    assert_eq!(found.total_results, 11, "{found:?}");
    assert_eq!(found.resources.len(), 5, "{found:?}");

    // PATCH add.
    let v = patch(
        &c,
        "Users",
        &alice_id,
        vec![
            PatchOperation::add(Some("nickName"), json!("Al")),
            PatchOperation::add(
                Some("emails"),
                json!([{"value": "alice@home.example", "type": "home"}]),
            ),
        ],
    )
    .await;
    assert_eq!(v["nickName"], "Al", "{v}");
    assert_eq!(v["emails"].as_array().map(Vec::len), Some(2), "{v}");
    // PATCH replace: a plain attribute, a value-path sub-attribute, and without a path.
    let v = patch(
        &c,
        "Users",
        &alice_id,
        vec![
            PatchOperation::replace(Some("active"), json!(false)),
            PatchOperation::replace(
                Some(r#"emails[type eq "work"].value"#),
                json!("alice@new-work.example"),
            ),
            PatchOperation::replace(None, json!({"displayName": "Alice L."})),
        ],
    )
    .await;
    assert_eq!(v["active"], false, "{v}");
    assert_eq!(v["displayName"], "Alice L.", "{v}");
    let work: Vec<&Value> = v["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "work")
        .collect();
    assert_eq!(work.len(), 1, "{v}");
    assert_eq!(work[0]["value"], "alice@new-work.example", "{v}");
    // PATCH remove: an attribute and the elements a value filter selects.
    let v = patch(
        &c,
        "Users",
        &alice_id,
        vec![
            PatchOperation::remove("title"),
            PatchOperation::remove(r#"emails[type eq "home"]"#),
        ],
    )
    .await;
    assert!(v.get("title").is_none(), "{v}");
    assert_eq!(v["emails"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["emails"][0]["type"], "work", "{v}");
    // PATCH an extension attribute by its full path.
    let v = patch(
        &c,
        "Users",
        &bob_id,
        vec![PatchOperation::replace(
            Some(&format!("{ENTERPRISE_USER}:department")),
            json!("R&D"),
        )],
    )
    .await;
    assert_eq!(v[ENTERPRISE_USER]["department"], "R&D", "{v}");
    assert_eq!(v[ENTERPRISE_USER]["employeeNumber"], "701984", "{v}");

    // PUT, typed, with If-Match; the stale version is then refused with 412.
    let current: User = must(c.get("Users", &alice_id).await, "GET /Users/alice");
    let version = current.meta.as_ref().and_then(|m| m.version.clone());
    assert!(version.is_some());
    let mut changed = current.clone();
    changed.title = Some("Lead".into());
    changed.nick_name = None;
    let replaced: User = must(
        c.replace("Users", &alice_id, &changed, version.as_deref())
            .await,
        "PUT /Users/alice with If-Match",
    );
    assert_eq!(replaced.title.as_deref(), Some("Lead"));
    assert_eq!(replaced.nick_name, None);
    assert_eq!(replaced.user_name.as_deref(), Some("alice@example.com"));
    assert_ne!(
        replaced.meta.as_ref().and_then(|m| m.version.clone()),
        version
    );
    let e = must_fail(
        c.replace("Users", &alice_id, &changed, version.as_deref())
            .await,
        "PUT /Users/alice with a stale If-Match",
    );
    assert_eq!(e.status(), Some(412), "{e:?}");
    // PUT, generic JSON: the resource as read, changed.
    let mut b: Value = must(c.get("Users", &bob_id).await, "GET /Users/bob");
    b["displayName"] = json!("Bob B.");
    b["emails"] = json!([{"value": "bob@work.example", "type": "work", "primary": true}]);
    let b = must(
        c.replace("Users", &bob_id, &b, Some(&version_of(&b))).await,
        "PUT /Users/bob (JSON) with If-Match",
    );
    assert_eq!(b["displayName"], "Bob B.", "{b}");
    assert_eq!(b["emails"][0]["value"], "bob@work.example", "{b}");
    assert_eq!(b[ENTERPRISE_USER]["department"], "R&D", "{b}");

    // PATCH with a stale If-Match: 412, and nothing changes.
    let e = must_fail(
        c.patch(
            "Users",
            &alice_id,
            &PatchOp::new(vec![PatchOperation::replace(Some("title"), json!("CEO"))]),
            version.as_deref(),
        )
        .await,
        "PATCH /Users/alice with a stale If-Match",
    );
    assert_eq!(e.status(), Some(412), "{e:?}");
    let now: User = must(c.get("Users", &alice_id).await, "GET /Users/alice");
    assert_eq!(now.title.as_deref(), Some("Lead"));

    // Errors: an invalid filter, a duplicate userName, an unknown id, a wrong token.
    let e = must_fail(
        c.list::<Value>("Users", &ListQuery::new().filter("userName eq"))
            .await,
        "GET /Users?filter=userName eq",
    );
    assert_eq!(e.status(), Some(400), "{e:?}");
    assert_eq!(e.scim_type().map(|t| t.as_str()), Some("invalidFilter"));
    let e = must_fail(
        c.create("Users", &User::new("alice@example.com")).await,
        "POST /Users (duplicate userName)",
    );
    assert_eq!(e.status(), Some(409), "{e:?}");
    assert_eq!(e.scim_type().map(|t| t.as_str()), Some("uniqueness"));
    assert!(!e.is_retryable());
    let e = must_fail(
        c.get::<User>("Users", "no-such-id").await,
        "GET /Users/no-such-id",
    );
    assert!(e.is_not_found(), "{e:?}");
    let bad = Client::builder(&srv.base)
        .bearer_token("wrong")
        .build()
        .unwrap();
    let e = must_fail(
        bad.get::<User>("Users", &alice_id).await,
        "GET with a wrong token",
    );
    assert_eq!(e.status(), Some(401), "{e:?}");

    // Delete, then 404.
    must(c.delete("Users", &alice_id).await, "DELETE /Users/alice");
    let e = must_fail(
        c.get::<User>("Users", &alice_id).await,
        "GET /Users/alice after DELETE",
    );
    assert!(e.is_not_found(), "{e:?}");
    let e = must_fail(
        c.delete("Users", &alice_id).await,
        "DELETE /Users/alice twice",
    );
    assert!(e.is_not_found(), "{e:?}");
    let f = Filter::eq("userName", "alice@example.com");
    let page: ListResponse<Value> = list(&c, "Users", &ListQuery::new().filter(f)).await;
    assert_eq!(page.total_results, 0, "{page:?}");
}

#[tokio::test]
async fn interop_scim2_server_groups() {
    let Some(srv) = Scim2Server::start("groups", None) else {
        return;
    };
    let c = srv.client();

    let mut users = Vec::new();
    for n in ["carol", "dave", "erin"] {
        let u: User = must(
            c.create("Users", &User::new(n)).await,
            &format!("POST /Users ({n})"),
        );
        users.push(u.id.unwrap());
    }
    let (u1, u2, u3) = (users[0].clone(), users[1].clone(), users[2].clone());

    // Create, typed, with a member.
    let mut g = Group::new("Engineering");
    g.external_id = Some("ext-eng".into());
    g.members = vec![Member::new(u1.clone())];
    let eng: Group = must(c.create("Groups", &g).await, "POST /Groups (typed)");
    let eng_id = eng.id.clone().expect("the server assigns an id");
    assert_eq!(eng.display_name.as_deref(), Some("Engineering"));
    assert_eq!(eng.members.len(), 1, "{eng:?}");
    assert_eq!(eng.members[0].value.as_deref(), Some(u1.as_str()));
    // Create, generic JSON, with a user and a group as members.
    let sales: Value = must(
        c.create(
            "Groups",
            &json!({
                "schemas": [GROUP],
                "displayName": "Sales & Marketing",
                "externalId": "ext-sales",
                "members": [
                    {"value": u2, "type": "User"},
                    {"value": eng_id, "type": "Group"}
                ]
            }),
        )
        .await,
        "POST /Groups (JSON)",
    );
    let sales_id = id_of(&sales);
    assert_eq!(member_ids(&sales), sorted(vec![u2.clone(), eng_id.clone()]));
    let empty: Group = must(
        c.create("Groups", &Group::new("Empty")).await,
        "POST /Groups (no members)",
    );
    let empty_id = empty.id.unwrap();

    // Read.
    let got: Group = must(c.get("Groups", &eng_id).await, "GET /Groups/eng");
    assert_eq!(got.external_id.as_deref(), Some("ext-eng"));
    assert_eq!(got.members[0].value.as_deref(), Some(u1.as_str()));
    let got: Value = must(c.get("Groups", &sales_id).await, "GET /Groups/sales");
    assert_eq!(got["displayName"], "Sales & Marketing");

    // List with filters, and by pages of one.
    let f = Filter::eq("displayName", "Sales & Marketing");
    let page: ListResponse<Group> = list(&c, "Groups", &ListQuery::new().filter(f)).await;
    assert_eq!(page.total_results, 1, "{page:?}");
    assert_eq!(page.resources[0].id.as_deref(), Some(sales_id.as_str()));
    let f = value_path("members", Filter::eq("value", u1.as_str()));
    let page: ListResponse<Value> = list(&c, "Groups", &ListQuery::new().filter(f)).await;
    assert_eq!(page.total_results, 1, "{page:?}");
    assert_eq!(id_of(&page.resources[0]), eng_id);
    let f = Filter::Present(AttrPath::new("members"));
    let page: ListResponse<Value> = list(&c, "Groups", &ListQuery::new().filter(f)).await;
    assert_eq!(page.total_results, 2, "{page:?}");
    let all: Vec<Group> = must(
        c.list_all("Groups", ListQuery::new().count(1))
            .try_collect()
            .await,
        "list_all /Groups by 1",
    );
    assert_eq!(
        sorted(all.iter().map(|g| g.id.clone().unwrap()).collect()),
        sorted(vec![eng_id.clone(), sales_id.clone(), empty_id.clone()])
    );
    let q = ListQuery::new()
        .filter(Filter::eq("displayName", "Engineering"))
        .excluded_attributes(["members"]);
    let page: ListResponse<Value> = list(&c, "Groups", &q).await;
    assert!(page.resources[0].get("members").is_none(), "{page:?}");

    // PATCH members: add, remove by value filter, replace all, remove all.
    let v = patch(
        &c,
        "Groups",
        &eng_id,
        vec![PatchOperation::add(
            Some("members"),
            json!([{"value": u2}, {"value": u3}]),
        )],
    )
    .await;
    assert_eq!(
        member_ids(&v),
        sorted(vec![u1.clone(), u2.clone(), u3.clone()])
    );
    // Adding a present member again changes nothing (RFC 7644 §3.5.2.1).
    let v = patch(
        &c,
        "Groups",
        &eng_id,
        vec![PatchOperation::add(Some("members"), json!([{"value": u2}]))],
    )
    .await;
    assert_eq!(
        member_ids(&v),
        sorted(vec![u1.clone(), u2.clone(), u3.clone()])
    );
    let v = patch(
        &c,
        "Groups",
        &eng_id,
        vec![PatchOperation::remove(&format!(
            "members[value eq {}]",
            serde_json::to_string(&u2).unwrap()
        ))],
    )
    .await;
    assert_eq!(member_ids(&v), sorted(vec![u1.clone(), u3.clone()]));
    let v = patch(
        &c,
        "Groups",
        &eng_id,
        vec![
            PatchOperation::replace(Some("displayName"), json!("Engineering & Research")),
            PatchOperation::replace(Some("members"), json!([{"value": u2}])),
        ],
    )
    .await;
    assert_eq!(v["displayName"], "Engineering & Research", "{v}");
    assert_eq!(member_ids(&v), vec![u2.clone()]);
    let v = patch(
        &c,
        "Groups",
        &eng_id,
        vec![PatchOperation::remove("members")],
    )
    .await;
    assert!(member_ids(&v).is_empty(), "{v}");
    let v = patch(
        &c,
        "Groups",
        &empty_id,
        vec![PatchOperation::add(
            Some("members"),
            json!([{"value": u3, "type": "User"}]),
        )],
    )
    .await;
    assert_eq!(member_ids(&v), vec![u3.clone()]);

    // PUT, typed, with If-Match.
    let current: Group = must(c.get("Groups", &eng_id).await, "GET /Groups/eng");
    let version = current.meta.as_ref().and_then(|m| m.version.clone());
    let mut changed = current.clone();
    changed.display_name = Some("Engineering".into());
    changed.members = vec![Member::new(u1.clone()), Member::new(u3.clone())];
    let replaced: Group = must(
        c.replace("Groups", &eng_id, &changed, version.as_deref())
            .await,
        "PUT /Groups/eng with If-Match",
    );
    assert_eq!(replaced.display_name.as_deref(), Some("Engineering"));
    let mut ids: Vec<String> = replaced
        .members
        .iter()
        .filter_map(|m| m.value.clone())
        .collect();
    ids.sort();
    assert_eq!(ids, sorted(vec![u1.clone(), u3.clone()]));
    let e = must_fail(
        c.replace("Groups", &eng_id, &changed, version.as_deref())
            .await,
        "PUT /Groups/eng with a stale If-Match",
    );
    assert_eq!(e.status(), Some(412), "{e:?}");
    // PUT, generic JSON, dropping every member.
    let v: Value = must(
        c.replace(
            "Groups",
            &sales_id,
            &json!({"schemas": [GROUP], "displayName": "Sales"}),
            None,
        )
        .await,
        "PUT /Groups/sales (JSON)",
    );
    assert_eq!(v["displayName"], "Sales", "{v}");
    assert_eq!(
        v["externalId"],
        Value::Null,
        "PUT replaces the whole resource: {v}"
    );
    assert!(member_ids(&v).is_empty(), "{v}");

    // Delete, then 404.
    for id in [&eng_id, &sales_id, &empty_id] {
        must(
            c.delete("Groups", id).await,
            &format!("DELETE /Groups/{id}"),
        );
        let e = must_fail(
            c.get::<Value>("Groups", id).await,
            "GET /Groups after DELETE",
        );
        assert!(e.is_not_found(), "{e:?}");
    }
    let page: ListResponse<Value> = list(&c, "Groups", &ListQuery::new()).await;
    assert_eq!(page.total_results, 0, "{page:?}");
}

/// RFC 9865 cursors, and a service that pages by fewer than the `count` asked for: scim2-server
/// with cursor pagination announced and `maxPageSize` 5.
#[tokio::test]
async fn interop_scim2_server_cursor_and_capped_pages() {
    let spc = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": 1000},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": 5,
            "maxPageSize": 5,
            "cursorTimeout": 600
        }
    });
    let Some(srv) = Scim2Server::start("cursor", Some(spc)) else {
        return;
    };
    let c = srv.client();
    let spc = must(
        c.service_provider_config().await,
        "GET /ServiceProviderConfig",
    );
    assert_eq!(spc["pagination"]["cursor"], true, "{spc}");

    let mut ids = Vec::new();
    for i in 0..12 {
        let u: User = must(
            c.create("Users", &User::new(format!("cur-{i:02}"))).await,
            "POST /Users (cur-NN)",
        );
        ids.push(u.id.unwrap());
    }
    let ids = sorted(ids);
    let collect = |q: ListQuery, what: &'static str| {
        let c = c.clone();
        async move {
            let all: Vec<User> = must(c.list_all("Users", q).try_collect().await, what);
            sorted(all.into_iter().map(|u| u.id.unwrap()).collect())
        }
    };

    // The first cursor page: `cursor=` with no value (RFC 9865 §2.1).
    let first: ListResponse<Value> =
        list(&c, "Users", &ListQuery::new().count(5).with_cursor()).await;
    assert_eq!(first.total_results, 12, "{first:?}");
    assert_eq!(first.resources.len(), 5, "{first:?}");
    assert!(
        first.next_cursor.as_deref().is_some_and(|c| !c.is_empty()),
        "{first:?}"
    );
    // Every page by cursor, with and without a filter.
    assert_eq!(
        collect(
            ListQuery::new().count(5).with_cursor(),
            "list_all /Users by cursor"
        )
        .await,
        ids
    );
    let f = Filter::compare(AttrPath::new("userName"), CompareOp::Sw, "cur-0");
    let some = collect(
        ListQuery::new().filter(f).count(3).with_cursor(),
        "list_all /Users by cursor with a filter",
    )
    .await;
    assert_eq!(some.len(), 10);
    // Asking for pages of 7 by index gets pages of 5: the client steps by what it received.
    let capped: ListResponse<Value> = list(&c, "Users", &ListQuery::new().count(7)).await;
    assert_eq!(capped.resources.len(), 5, "{capped:?}");
    assert_eq!(
        collect(
            ListQuery::new().count(7),
            "list_all /Users by 7, capped to 5"
        )
        .await,
        ids
    );
    assert_eq!(
        collect(ListQuery::new(), "list_all /Users without count").await,
        ids
    );
    // A forged cursor: 400 invalidCursor.
    let mut q = ListQuery::new().count(5);
    q.cursor = Some("bm90LWEtY3Vyc29y".into());
    let e = must_fail(
        c.list::<Value>("Users", &q).await,
        "GET /Users with a forged cursor",
    );
    assert_eq!(e.status(), Some(400), "{e:?}");
    assert_eq!(e.scim_type().map(|t| t.as_str()), Some("invalidCursor"));
}

/// The PATCH operations that `Client::patch_diff` computes (value-filtered removes, sub-attribute
/// replaces, URN-qualified extension paths) are understood by scim2-server.
#[tokio::test]
async fn interop_scim2_server_patch_diff() {
    let Some(srv) = Scim2Server::start("diff", None) else {
        return;
    };
    let c = srv.client();

    let created: Value = must(
        c.create(
            "Users",
            &json!({
                "schemas": [USER, ENTERPRISE_USER],
                "userName": "frank",
                "name": {"givenName": "Frank", "familyName": "Ocean"},
                "title": "Singer",
                "emails": [
                    {"value": "frank@a.example", "type": "work"},
                    {"value": "frank@b.example", "type": "home"}
                ],
                "phoneNumbers": [{"value": "+1 555 0101", "type": "work"}],
                ENTERPRISE_USER: {"employeeNumber": "1", "department": "Music"}
            }),
        )
        .await,
        "POST /Users (frank)",
    );
    let id = id_of(&created);
    let from = created.as_object().unwrap().clone();
    let mut to = from.clone();
    to.insert(
        "name".into(),
        json!({"givenName": "Francis", "familyName": "Ocean"}),
    );
    to.remove("title");
    to.insert("nickName".into(), json!("Frankie"));
    to.insert("active".into(), json!(false));
    to.insert(
        "emails".into(),
        json!([
            {"value": "frank@a.example", "type": "work"},
            {"value": "frank@c.example", "type": "other"}
        ]),
    );
    to.remove("phoneNumbers");
    to.insert(
        ENTERPRISE_USER.into(),
        json!({"employeeNumber": "2", "costCenter": "CC-7"}),
    );
    let ctx = scim_core::Context::user();
    let ops = scim_core::diff(&from, &to, &ctx);
    let what = format!(
        "patch_diff /Users/{id} {}",
        serde_json::to_string(&PatchOp::new(ops)).unwrap()
    );
    eprintln!("{what}");
    must(c.patch_diff(&ctx, &id, &from, &to).await, &what);
    let v: Value = must(c.get("Users", &id).await, "GET /Users/frank");
    assert_eq!(v["name"]["givenName"], "Francis", "{what}\n{v}");
    assert_eq!(v["name"]["familyName"], "Ocean", "{what}\n{v}");
    assert!(v.get("title").is_none(), "{what}\n{v}");
    assert_eq!(v["nickName"], "Frankie", "{what}\n{v}");
    assert_eq!(v["active"], false, "{what}\n{v}");
    let mut emails: Vec<&str> = v["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["value"].as_str())
        .collect();
    emails.sort();
    assert_eq!(
        emails,
        ["frank@a.example", "frank@c.example"],
        "{what}\n{v}"
    );
    assert!(v.get("phoneNumbers").is_none(), "{what}\n{v}");
    assert_eq!(v[ENTERPRISE_USER]["employeeNumber"], "2", "{what}\n{v}");
    assert_eq!(v[ENTERPRISE_USER]["costCenter"], "CC-7", "{what}\n{v}");
    assert!(
        v[ENTERPRISE_USER].get("department").is_none(),
        "{what}\n{v}"
    );
    let again = v.as_object().unwrap().clone();
    assert!(must(c.patch_diff(&ctx, &id, &again, &again).await, "empty diff").is_unchanged());

    // A group of eight: two members leave (one remove with an `or` value filter), one arrives
    // (one add).
    let mut users = Vec::new();
    for i in 0..9 {
        let u: User = must(
            c.create("Users", &User::new(format!("member-{i}"))).await,
            "POST /Users (member-N)",
        );
        users.push(u.id.unwrap());
    }
    let members = |ids: &[String]| -> Value { ids.iter().map(|id| json!({"value": id})).collect() };
    let g: Value = must(
        c.create(
            "Groups",
            &json!({"schemas": [GROUP], "displayName": "Band", "members": members(&users[..8])}),
        )
        .await,
        "POST /Groups (Band)",
    );
    let gid = id_of(&g);
    let from = g.as_object().unwrap().clone();
    let mut to = from.clone();
    to.insert("members".into(), members(&users[2..]));
    let gctx = scim_core::Context::group();
    let ops = scim_core::diff(&from, &to, &gctx);
    assert!(
        ops.iter()
            .any(|o| o.path.as_deref().is_some_and(|p| p.contains(" or "))),
        "expected a filtered remove: {ops:?}"
    );
    let what = format!(
        "patch_diff /Groups/{gid} {}",
        serde_json::to_string(&PatchOp::new(ops)).unwrap()
    );
    eprintln!("{what}");
    must(c.patch_diff(&gctx, &gid, &from, &to).await, &what);
    let v: Value = must(c.get("Groups", &gid).await, "GET /Groups/band");
    assert_eq!(member_ids(&v), sorted(users[2..].to_vec()), "{what}\n{v}");
}
