//! Planning benchmark: N people (default 100,000) against a target that holds N users, read
//! over HTTP from the project's own server.
//!
//! ```text
//! cargo run --release -p scim-client --example bench_provision -- 100000
//! ```
//!
//! The server runs in a child process (this program, started with `serve`), so the figures of
//! the planning process (wall time per stage, peak resident memory from /proc/self/status
//! `VmHWM`) do not include the server. The target is filled through `/Bulk` with the accounts
//! the source describes, then 1% of the people are changed in the source; the plan is read,
//! built and rendered, and nothing is applied.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scim_client::provision::apply::{ApplyOptions, Engine, Target};
use scim_client::provision::gates::GateConfig;
use scim_client::provision::mapping::Mapping;
use scim_client::provision::notify::NotifyConfig;
use scim_client::provision::plan::{self, PlanOptions};
use scim_client::provision::source;
use scim_client::provision::state::State;
use scim_client::Client;
use serde_json::json;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const DEPTS: [&str; 5] = ["Engineering", "Sales", "Marketing", "Finance", "Support"];
const MAPPING: &str = r#"
[[rules]]
name = "engineering"
when = { department = "Engineering" }
groups = ["eng", "github-users"]
[[rules]]
name = "sales"
when = { department = "Sales" }
groups = ["sales"]
"#;

/// A writer that counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if args.get(1).map(String::as_str) == Some("serve") {
        rt.block_on(serve(&args[2]));
        return;
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    rt.block_on(bench(n));
}

async fn serve(db: &str) {
    let store = Arc::new(
        // In memory: the benchmark measures planning, not the server's disk writes.
        scim_server::SqlStore::connect(
            if db == "memory" {
                "sqlite::memory:".to_string()
            } else {
                format!("sqlite://{db}")
            }
            .as_str(),
        )
        .await
        .unwrap(),
    );
    let auth = Arc::new(scim_server::TokenAuthenticator::new(
        &[("bench".into(), "default".into())],
        None,
    ));
    let settings = scim_server::Settings {
        bulk_max_payload: 8 << 20,
        max_body: 8 << 20,
        ..Default::default()
    };
    let state = scim_server::ScimState::new(store, auth, settings);
    let app = scim_server::config::app(state, "/scim/v2", Duration::from_secs(300));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening http://{}/scim/v2", l.local_addr().unwrap());
    axum::serve(l, app).await.unwrap();
}

fn row(i: usize) -> [String; 7] {
    let dept = DEPTS[i % 5].to_string();
    [
        format!("E{i:06}"),
        format!("user{i:06}@example.com"),
        format!("Given{i}"),
        format!("Family{i}"),
        format!("user{i:06}@example.com"),
        "Specialist".to_string(),
        dept,
    ]
}

async fn bench(n: usize) {
    let dir = std::env::temp_dir().join(format!("scim-bench-provision-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("target.db");
    // BENCH_TARGET_URL: plan against a server filled before (by a run with BENCH_HOLD set, with
    // the same N) instead of starting and filling one.
    let reuse = std::env::var("BENCH_TARGET_URL").ok();
    let mut child = match reuse {
        Some(_) => None,
        None => Some(
            Command::new(std::env::current_exe().unwrap())
                .arg("serve")
                .arg(if std::env::var_os("BENCH_SQLITE_FILE").is_some() {
                    db.as_os_str()
                } else {
                    std::ffi::OsStr::new("memory")
                })
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        ),
    };
    let base = match (&reuse, &mut child) {
        (Some(url), _) => url.clone(),
        (None, Some(child)) => {
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            line.trim().trim_start_matches("listening ").to_string()
        }
        (None, None) => unreachable!(),
    };
    let client = Client::builder(&base)
        .bearer_token("bench")
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();

    // Fill the target through /Bulk with the accounts the source describes.
    let t = Instant::now();
    let fill = if reuse.is_some() { 0 } else { n };
    for chunk in (1..=fill).collect::<Vec<_>>().chunks(1000) {
        let ops: Vec<scim_core::BulkOperation> = chunk
            .iter()
            .map(|&i| {
                let r = row(i);
                serde_json::from_value(json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                    "externalId": r[0], "userName": r[1], "name": {"givenName": r[2], "familyName": r[3]},
                    "emails": [{"type": "work", "value": r[4]}], "title": r[5], "active": true,
                    ENT: {"department": r[6]}}}))
                .unwrap()
            })
            .collect();
        let res = client.bulk(ops, None).await.unwrap();
        assert!(res.iter().all(|r| r.status == 201), "bulk failed");
    }
    eprintln!("filled the target with {fill} users in {:.1?}", t.elapsed());
    if std::env::var_os("BENCH_HOLD").is_some() {
        // For measuring the server by hand (curl): keep it up until this process is killed.
        eprintln!("holding the filled server at {base} (token: bench)");
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }

    // The source: the same people, 1% with a new title.
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "externalId",
        "userName",
        "name.givenName",
        "name.familyName",
        r#"emails[type eq "work"].value"#,
        "title",
        &format!("{ENT}:department"),
    ])
    .unwrap();
    for i in 1..=n {
        let mut r = row(i);
        if i % 100 == 0 {
            r[5] = "Senior Specialist".into();
        }
        w.write_record(&r).unwrap();
    }
    let csv_path = dir.join("hr.csv");
    std::fs::write(&csv_path, w.into_inner().unwrap()).unwrap();
    let rss_before = peak_rss_mib();

    let total = Instant::now();
    let t = Instant::now();
    let snap = source::open(&csv_path).unwrap().read().unwrap();
    let read_source = t.elapsed();
    eprintln!("after reading the source: RSS {:.0} MiB", rss_mib());
    let target = Target {
        client: client.clone(),
        options: PlanOptions::new("bench", &base),
        mapping: Mapping::parse(MAPPING).unwrap(),
        gates: GateConfig::default(),
    };
    let state = State::open(&dir.join("state.db")).await.unwrap();
    let engine = Engine::new(state, NotifyConfig::default(), ApplyOptions::default());
    let t = Instant::now();
    let desired = scim_client::provision::desired::Desired::build(
        &snap,
        &target.mapping,
        Engine::today(&target.mapping),
    );
    let build_desired = t.elapsed();
    eprintln!("after the desired state: RSS {:.0} MiB", rss_mib());
    let t = Instant::now();
    let current = plan::TargetSnapshot::read(&client).await.unwrap();
    let read_target = t.elapsed();
    eprintln!(
        "after reading the target: RSS {:.0} MiB, peak {:.0} MiB",
        rss_mib(),
        peak_rss_mib()
    );
    let t = Instant::now();
    let links = engine.state.links("bench").await.unwrap();
    let p = plan::build(plan::PlanInput {
        desired: &desired,
        mapping: &target.mapping,
        target: &current,
        links: &links,
        options: &target.options,
        source: plan::SourceInfo {
            origin: snap.origin.clone(),
            hash: snap.hash.clone(),
            rows: snap.records.len(),
        },
        now: chrono::Utc::now(),
    });
    let build_plan = t.elapsed();
    eprintln!(
        "after planning: RSS {:.0} MiB, peak {:.0} MiB",
        rss_mib(),
        peak_rss_mib()
    );
    let t = Instant::now();
    let table = plan::render_table(&p);
    // The JSON is written out as it is produced (as `scim plan --output json` and `--out FILE`
    // do), not kept: only its size is counted.
    let mut json = Counter(0);
    serde_json::to_writer(std::io::BufWriter::new(&mut json), &p).unwrap();
    let render = t.elapsed();
    let total = total.elapsed();
    println!(
        "people: {n}; target users: {}; plan: {}",
        current.users.len(),
        p.summary()
    );
    println!(
        "read source {read_source:.2?}, desired state {build_desired:.2?}, read target over HTTP {read_target:.2?}, plan {build_plan:.2?}, render table+JSON ({} + {} bytes) {render:.2?}",
        table.len(),
        json.0
    );
    println!(
        "end to end {total:.2?}; peak RSS of the planning process {:.0} MiB (before planning: {rss_before:.0} MiB)",
        peak_rss_mib()
    );
    if let Some(mut child) = child {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
