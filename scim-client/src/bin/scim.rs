//! `scim`: provision SCIM targets from an HR export (plan, apply, sync, status, explain,
//! history, audit) and talk to SCIM services directly (discover, users, groups).
//!
//! Targets come from `--url`/`--token` (`SCIM_URL`/`SCIM_TOKEN`), from the configuration file
//! (`--config`, several targets), or, with neither, from the embedded default: the project's own
//! server on a local SQLite file (`--embedded-db`, default `scim-embedded.db`).
//!
//! Exit codes: 0 success; 1 error; 2 refused (safety gates, stale plan); 3 changes failed
//! (left pending or dead letters; see `scim status`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use futures::TryStreamExt;
use scim_client::provision::apply::{ApplyOptions, Engine, RunReport, Target};
use scim_client::provision::config::{self, Config};
use scim_client::provision::desired::Desired;
use scim_client::provision::embedded::Embedded;
use scim_client::provision::mapping::Mapping;
use scim_client::provision::plan::{self, Plan, PlanOptions, TargetSnapshot};
use scim_client::provision::state::State;
use scim_client::provision::{audit, gates, source, ProvisionError};
use scim_client::{Client, ListQuery};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    name = "scim",
    version,
    about = "Provision SCIM targets from an HR export, safely: plan, apply, audit."
)]
struct Cli {
    #[command(flatten)]
    g: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args)]
struct Global {
    /// Configuration file listing targets and notification channels.
    #[arg(long, env = "SCIM_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// State file (SQLite: links, outbox, run history) [default: scim-state.db].
    #[arg(long, env = "SCIM_STATE", global = true)]
    state: Option<PathBuf>,
    /// Target SCIM base URL (instead of the configuration file).
    #[arg(long, env = "SCIM_URL", global = true)]
    url: Option<String>,
    /// Bearer token of --url.
    #[arg(long, env = "SCIM_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Provider profile of --url (generic, entra-id, okta, aws, slack, github-emu).
    #[arg(long, env = "SCIM_PROFILE", global = true)]
    profile: Option<String>,
    /// Only these targets of the configuration file (repeatable).
    #[arg(long, global = true)]
    target: Vec<String>,
    /// Mapping file (TOML) for targets that name none.
    #[arg(long, env = "SCIM_MAPPING", global = true)]
    mapping: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
    /// SQLite file of the embedded default target.
    #[arg(
        long,
        env = "SCIM_EMBEDDED_DB",
        default_value = "scim-embedded.db",
        global = true
    )]
    embedded_db: PathBuf,
    /// Requests per second to each target (default: the profile's).
    #[arg(long, global = true)]
    rate: Option<f64>,
    /// Changes in flight per target.
    #[arg(long, default_value_t = 4, global = true)]
    concurrency: usize,
    /// Plan as of this day (YYYY-MM-DD) instead of today.
    #[arg(long, global = true)]
    today: Option<NaiveDate>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
    Csv,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show what would change (and optionally save the plan for `scim apply`).
    Plan {
        /// HR export (.csv, .jsonl), or the URL of a SCIM server whose users are the source
        /// (token in SCIM_SOURCE_TOKEN).
        #[arg(long, short)]
        source: Option<PathBuf>,
        /// Save the plan (JSON) to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Apply a saved plan (refused when stale), or without one resume pending changes.
    Apply {
        /// A plan saved by `scim plan --out`.
        plan: Option<PathBuf>,
        /// Proceed although safety gates tripped.
        #[arg(long)]
        force: bool,
        /// Check the plan (staleness, gates) without applying it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Plan and apply at once, without a prompt (the safety gates protect it).
    Sync {
        /// HR export (.csv, .jsonl), or the URL of a SCIM server whose users are the source
        /// (token in SCIM_SOURCE_TOKEN).
        #[arg(long, short)]
        source: Option<PathBuf>,
        /// Proceed although safety gates tripped.
        #[arg(long)]
        force: bool,
        /// Plan only.
        #[arg(long)]
        dry_run: bool,
    },
    /// Pending changes and dead letters per target.
    Status,
    /// Requeue dead letters (after the cause was fixed).
    RetryDead,
    /// Why a person gets what they get: status, attributes, each group with the rule granting it.
    Explain {
        /// The person's key (externalId), userName or e-mail.
        person: String,
        /// HR export (.csv, .jsonl), or the URL of a SCIM server whose users are the source
        /// (token in SCIM_SOURCE_TOKEN).
        #[arg(long, short)]
        source: Option<PathBuf>,
    },
    /// Past runs; with --run, the outcome of each change.
    History {
        /// A run id.
        #[arg(long)]
        run: Option<String>,
        /// How many runs.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Access review: accounts, groups, roles, and findings (table, CSV or JSON).
    Audit {
        /// HR export to compare with (orphans, missing people, groups that differ).
        #[arg(long, short)]
        source: Option<PathBuf>,
    },
    /// What the target supports (ServiceProviderConfig).
    Discover,
    /// Users: list, get, create, patch, delete.
    Users {
        #[command(subcommand)]
        cmd: ResourceCmd,
    },
    /// Groups: list, get, create, patch, delete.
    Groups {
        #[command(subcommand)]
        cmd: ResourceCmd,
    },
    /// Shell completions.
    Completions {
        /// Shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum ResourceCmd {
    /// List (all pages).
    List {
        /// SCIM filter, e.g. 'userName eq "ada"'.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Get one.
    Get {
        /// Id.
        id: String,
    },
    /// Create from JSON (inline or @file).
    Create {
        /// The resource.
        json: String,
    },
    /// PATCH with operations as JSON (a PatchOp or an array of operations; inline or @file).
    Patch {
        /// Id.
        id: String,
        /// Operations.
        json: String,
    },
    /// Delete.
    Delete {
        /// Id.
        id: String,
    },
}

struct Setup {
    engine: Engine,
    targets: Vec<Target>,
    default_source: Option<PathBuf>,
    _embedded: Option<Embedded>,
}

enum Fail {
    Error(String),
    Refused(String),
    Incomplete(String),
}

impl From<ProvisionError> for Fail {
    fn from(e: ProvisionError) -> Fail {
        match e {
            ProvisionError::Refused(_) | ProvisionError::Stale(_) => Fail::Refused(e.to_string()),
            other => Fail::Error(other.to_string()),
        }
    }
}

impl From<scim_client::Error> for Fail {
    fn from(e: scim_client::Error) -> Fail {
        Fail::Error(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Cmd::Completions { shell } = cli.cmd {
        // Into a buffer first: a closed pipe (`| head`) is not an error worth a panic.
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "scim", &mut buf);
        let _ = std::io::stdout().write_all(&buf);
        return ExitCode::SUCCESS;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Error(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
        Err(Fail::Refused(m)) => {
            eprintln!("refused: {m}");
            ExitCode::from(2)
        }
        Err(Fail::Incomplete(m)) => {
            eprintln!("incomplete: {m}");
            ExitCode::from(3)
        }
    }
}

async fn setup(g: &Global, need_targets: bool) -> Result<Setup, Fail> {
    let config = match &g.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let mapping = g.mapping.as_deref().map(Mapping::load).transpose()?;
    let state_path = g
        .state
        .clone()
        .or(config.state.clone())
        .unwrap_or_else(|| PathBuf::from("scim-state.db"));
    let state = State::open(&state_path).await?;
    let engine = Engine::new(
        state,
        config.notify.clone(),
        ApplyOptions {
            concurrency: g.concurrency.max(1),
            progress: true,
            ..ApplyOptions::default()
        },
    );
    let mut targets = Vec::new();
    let mut embedded = None;
    if need_targets {
        if let Some(url) = &g.url {
            let client = config::client(
                url,
                g.token.as_deref(),
                g.profile.as_deref(),
                g.rate,
                Some(g.concurrency),
            )?;
            let name = g.target.first().cloned().unwrap_or_else(|| url.clone());
            targets.push(Target {
                client,
                options: PlanOptions::new(name, url.clone()),
                mapping: mapping.clone().unwrap_or_default(),
                gates: gates::GateConfig::default(),
            });
        } else if !config.targets.is_empty() {
            for t in &config.targets {
                if !g.target.is_empty() && !g.target.contains(&t.name) {
                    continue;
                }
                let mut tc = t.clone();
                if tc.rate.is_none() {
                    tc.rate = g.rate;
                }
                targets.push(tc.build(mapping.as_ref())?);
            }
            if targets.is_empty() {
                return Err(Fail::Error(format!(
                    "no target named {:?} in the configuration file",
                    g.target
                )));
            }
        } else {
            let e = Embedded::start(&g.embedded_db).await?;
            let client = config::client(&e.url, Some(e.token()), None, g.rate, None)?;
            let mut options = PlanOptions::new("embedded", e.url.clone());
            options.target_url = format!("embedded ({})", g.embedded_db.display());
            targets.push(Target {
                client,
                options,
                mapping: mapping.clone().unwrap_or_default(),
                gates: gates::GateConfig::default(),
            });
            embedded = Some(e);
        }
    }
    Ok(Setup {
        engine,
        targets,
        default_source: config.source,
        _embedded: embedded,
    })
}

/// The source: a file (`.csv`, `.jsonl`), or a SCIM server's users when it is a URL (token in
/// `SCIM_SOURCE_TOKEN`).
async fn read_source(given: Option<&Path>, s: &Setup) -> Result<source::Snapshot, Fail> {
    let path = given
        .map(Path::to_path_buf)
        .or_else(|| s.default_source.clone())
        .ok_or_else(|| {
            Fail::Error(
                "give the HR export with --source FILE (or `source` in the configuration file)"
                    .into(),
            )
        })?;
    let text = path.to_string_lossy();
    if text.starts_with("http://") || text.starts_with("https://") {
        let token = std::env::var("SCIM_SOURCE_TOKEN").ok();
        let c = config::client(&text, token.as_deref(), None, None, None)?;
        return Ok(source::read_scim(&c).await?);
    }
    Ok(source::open(&path)?.read()?)
}

fn print_json(v: &impl serde::Serialize) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = writeln!(out);
}

fn report_line(r: &RunReport) -> String {
    let mut s = format!(
        "{}: {} done, {} pending, {} dead letters, {} modifying requests{}",
        r.target,
        r.done,
        r.pending,
        r.dead,
        r.modifying_requests,
        if r.stopped {
            " (stopped: the target is failing; run again to resume)"
        } else {
            ""
        }
    );
    if let Some(n) = &r.note {
        s.push_str(&format!("\n  {n}"));
    }
    for f in &r.failures {
        s.push_str(&format!("\n  failed: {f}"));
    }
    s
}

fn json_arg(s: &str) -> Result<Value, Fail> {
    let text = match s.strip_prefix('@') {
        Some(f) => std::fs::read_to_string(f).map_err(|e| Fail::Error(format!("{f}: {e}")))?,
        None => s.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| Fail::Error(format!("invalid JSON: {e}")))
}

async fn run(cli: Cli) -> Result<(), Fail> {
    let g = &cli.g;
    match &cli.cmd {
        Cmd::Completions { .. } => Ok(()),
        Cmd::Plan { source, out } => {
            let s = setup(g, true).await?;
            let snap = read_source(source.as_deref(), &s).await?;
            let mut plans = Vec::new();
            let mut errors = Vec::new();
            for t in &s.targets {
                match s.engine.plan(t, &snap, g.today).await {
                    Ok(p) => plans.push(p.plan),
                    Err(e) => errors.push(format!("{}: {e}", t.name())),
                }
            }
            if g.output == Output::Json {
                print_json(&plans);
            } else {
                for p in &plans {
                    print!("{}", plan::render_table(p));
                    if !p.gates.is_empty() {
                        println!(
                            "\nSAFETY GATES TRIPPED (apply refuses this plan without --force):\n{}",
                            gates::describe(&p.gates)
                        );
                    }
                    println!();
                }
            }
            if let Some(path) = out {
                // Written as it is serialized: a plan of 100,000 people is tens of megabytes.
                let write = || -> std::io::Result<()> {
                    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
                    if plans.len() == 1 {
                        serde_json::to_writer_pretty(&mut w, &plans[0])?;
                    } else {
                        serde_json::to_writer_pretty(&mut w, &plans)?;
                    }
                    w.flush()
                };
                write().map_err(|e| Fail::Error(format!("{}: {e}", path.display())))?;
                if g.output != Output::Json {
                    println!(
                        "Saved to {}; apply it with: scim apply {}",
                        path.display(),
                        path.display()
                    );
                }
            }
            if errors.is_empty() {
                Ok(())
            } else {
                Err(Fail::Error(errors.join("\n")))
            }
        }
        Cmd::Apply {
            plan: plan_file,
            force,
            dry_run,
        } => {
            let s = setup(g, true).await?;
            let mut reports = Vec::new();
            let mut refused = Vec::new();
            let mut errors = Vec::new();
            match plan_file {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| Fail::Error(format!("{}: {e}", path.display())))?;
                    let v: Value = serde_json::from_str(&text)
                        .map_err(|e| Fail::Error(format!("{}: {e}", path.display())))?;
                    let plans: Vec<Plan> = if v.is_array() {
                        serde_json::from_value(v)
                    } else {
                        serde_json::from_value(v).map(|p| vec![p])
                    }
                    .map_err(|e| {
                        Fail::Error(format!("{}: not a saved plan: {e}", path.display()))
                    })?;
                    for p in &plans {
                        let Some(t) = s.targets.iter().find(|t| t.name() == p.target) else {
                            errors.push(format!(
                                "plan {} is for target {}, which is not configured",
                                p.id, p.target
                            ));
                            continue;
                        };
                        if *dry_run {
                            let current = TargetSnapshot::read(&t.client).await?;
                            let stale = plan::stale_reasons(p, &current);
                            if !stale.is_empty() {
                                refused.push(format!(
                                    "plan {} is stale:\n  {}",
                                    p.id,
                                    stale.join("\n  ")
                                ));
                            } else if !p.gates.is_empty() && !force {
                                refused.push(gates::describe(&p.gates));
                            } else {
                                println!(
                                    "{}: plan {} is current; {} ({} modifying changes)",
                                    t.name(),
                                    p.id,
                                    p.summary(),
                                    p.modifying()
                                );
                            }
                            continue;
                        }
                        match s.engine.apply(t, p, true, *force).await {
                            Ok(r) => reports.push(r),
                            Err(e @ (ProvisionError::Refused(_) | ProvisionError::Stale(_))) => {
                                refused.push(format!("{}: {e}", t.name()))
                            }
                            Err(e) => errors.push(format!("{}: {e}", t.name())),
                        }
                    }
                }
                None => {
                    for t in &s.targets {
                        if *dry_run {
                            let p = s.engine.state.pending(t.name()).await?;
                            println!("{}: {} pending changes would be resumed", t.name(), p.len());
                            continue;
                        }
                        match s.engine.resume(t).await {
                            Ok(r) => reports.push(r),
                            Err(e) => errors.push(format!("{}: {e}", t.name())),
                        }
                    }
                }
            }
            finish(g, &reports, refused, errors)
        }
        Cmd::Sync {
            source,
            force,
            dry_run,
        } => {
            let s = setup(g, true).await?;
            let snap = read_source(source.as_deref(), &s).await?;
            let mut reports = Vec::new();
            let mut refused = Vec::new();
            let mut errors = Vec::new();
            let mut plans = Vec::new();
            // Targets one after another: one failing target does not stop the others.
            for t in &s.targets {
                match s.engine.sync_on(t, &snap, g.today, *force, *dry_run).await {
                    Ok((planned, report)) => {
                        if g.output != Output::Json {
                            print!("{}", plan::render_table(&planned.plan));
                            if !planned.plan.gates.is_empty() {
                                let note = if *force {
                                    "--force given: applied anyway"
                                } else {
                                    "a run without --dry-run is refused unless --force"
                                };
                                println!(
                                    "\nSAFETY GATES TRIPPED ({note}):\n{}",
                                    gates::describe(&planned.plan.gates)
                                );
                            }
                            println!();
                        }
                        plans.push(planned.plan);
                        reports.extend(report);
                    }
                    Err(e @ (ProvisionError::Refused(_) | ProvisionError::Stale(_))) => {
                        refused.push(format!("{}: {e}", t.name()))
                    }
                    Err(e) => errors.push(format!("{}: {e}", t.name())),
                }
            }
            if g.output == Output::Json {
                print_json(
                    &json!({"plans": plans, "runs": reports, "refused": refused, "errors": errors}),
                );
                return verdict(&reports, refused, errors);
            }
            finish(g, &reports, refused, errors)
        }
        Cmd::Status => {
            let s = setup(g, true).await?;
            let mut all = Vec::new();
            for t in &s.targets {
                let counts = s.engine.state.counts(t.name()).await?;
                let pending = s.engine.state.pending(t.name()).await?;
                let dead = s.engine.state.dead(t.name()).await?;
                let last = s.engine.state.runs(Some(t.name()), 1).await?;
                if g.output == Output::Json {
                    all.push(json!({"target": t.name(), "counts": counts.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
                        "pending": pending, "dead_letters": dead, "last_run": last.first()}));
                    continue;
                }
                println!("Target {} ({})", t.name(), t.options.target_url);
                println!(
                    "  outbox: {}",
                    counts
                        .iter()
                        .map(|(k, v)| format!("{v} {k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                match last.first() {
                    Some(r) => println!(
                        "  last run: {} {} ({}), plan {}",
                        r.id, r.status, r.started_at, r.plan_id
                    ),
                    None => println!("  no runs yet"),
                }
                for e in &pending {
                    println!(
                        "  pending  {:<16} {:<28} attempts {} {}",
                        e.kind,
                        e.label,
                        e.attempts,
                        e.last_error.as_deref().unwrap_or_default()
                    );
                }
                for e in &dead {
                    println!(
                        "  DEAD     {:<16} {:<28} after {} attempts: {}",
                        e.kind,
                        e.label,
                        e.attempts,
                        e.last_error.as_deref().unwrap_or_default()
                    );
                }
            }
            if g.output == Output::Json {
                print_json(&all);
            }
            Ok(())
        }
        Cmd::RetryDead => {
            let s = setup(g, true).await?;
            for t in &s.targets {
                let n = s.engine.state.retry_dead(t.name()).await?;
                println!(
                    "{}: {n} dead letters requeued; `scim apply` executes them",
                    t.name()
                );
            }
            Ok(())
        }
        Cmd::Explain { person, source } => {
            let s = setup(g, true).await?;
            let snap = read_source(source.as_deref(), &s).await?;
            let mut out = Vec::new();
            for t in &s.targets {
                let today = g.today.unwrap_or_else(|| Engine::today(&t.mapping));
                let d = Desired::build(&snap, &t.mapping, today);
                let needle = person.to_lowercase();
                let Some(p) = d.people.iter().find(|p| {
                    p.key.to_lowercase() == needle
                        || p.user_name().is_some_and(|u| u.to_lowercase() == needle)
                        || p.email().is_some_and(|m| m.to_lowercase() == needle)
                }) else {
                    return Err(Fail::Error(format!("{person} is not in {}", snap.origin)));
                };
                let planned = s.engine.plan(t, &snap, Some(today)).await?;
                let changes: Vec<&plan::Change> = planned
                    .plan
                    .changes
                    .iter()
                    .filter(|c| {
                        c.person.as_deref() == Some(p.key.as_str())
                            || c.members.iter().any(|m| m.key == p.key)
                    })
                    .collect();
                if g.output == Output::Json {
                    out.push(json!({"target": t.name(), "person": p, "changes": changes}));
                    continue;
                }
                println!(
                    "{} in target {} (source row {})",
                    p.label(),
                    t.name(),
                    p.row
                );
                println!(
                    "  status: {}",
                    serde_json::to_value(&p.status)
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                );
                println!("  attributes: {}", p.user_text());
                if let Some(m) = &p.manager {
                    println!("  manager: {m}");
                }
                if p.grants.is_empty() {
                    println!("  no groups, roles or entitlements granted");
                }
                for gr in &p.grants {
                    let what = match gr.kind {
                        scim_client::provision::rules::GrantKind::Group => {
                            format!("group {}", t.mapping.group_display_name(&gr.value))
                        }
                        scim_client::provision::rules::GrantKind::Role => {
                            format!("role {}", gr.value)
                        }
                        scim_client::provision::rules::GrantKind::Entitlement => {
                            format!("entitlement {}", gr.value)
                        }
                    };
                    println!("  {what:<30} ← {}", gr.reason);
                }
                if changes.is_empty() {
                    println!("  planned: nothing (the target matches)");
                }
                for c in changes {
                    println!(
                        "  planned: {} {} {} ({})",
                        c.kind.as_str(),
                        c.label,
                        c.details.join("; "),
                        c.why.join("; ")
                    );
                }
            }
            if g.output == Output::Json {
                print_json(&out);
            }
            Ok(())
        }
        Cmd::History { run, limit } => {
            let s = setup(g, false).await?;
            match run {
                Some(id) => {
                    let entries = s.engine.state.run_entries(id).await?;
                    if entries.is_empty() {
                        return Err(Fail::Error(format!("no run {id}")));
                    }
                    if g.output == Output::Json {
                        print_json(&entries);
                        return Ok(());
                    }
                    for e in entries {
                        println!(
                            "{:<8} {:<16} {:<28} attempts {} {}",
                            e.status,
                            e.kind,
                            e.label,
                            e.attempts,
                            e.last_error.unwrap_or_default()
                        );
                    }
                }
                None => {
                    let runs = s
                        .engine
                        .state
                        .runs(g.target.first().map(String::as_str), *limit)
                        .await?;
                    if g.output == Output::Json {
                        print_json(&runs);
                        return Ok(());
                    }
                    println!(
                        "{:<48} {:<12} {:<11} {:<30} SUMMARY",
                        "RUN", "TARGET", "STATUS", "STARTED"
                    );
                    for r in runs {
                        let sum = r
                            .summary
                            .as_ref()
                            .map(|v| {
                                format!(
                                    "{} done, {} pending, {} dead",
                                    v["done"], v["pending"], v["dead"]
                                )
                            })
                            .unwrap_or_default();
                        println!(
                            "{:<48} {:<12} {:<11} {:<30} {sum}",
                            r.id, r.target, r.status, r.started_at
                        );
                    }
                }
            }
            Ok(())
        }
        Cmd::Audit { source } => {
            let s = setup(g, true).await?;
            let snap = match source {
                Some(p) => Some(source::open(p)?.read()?),
                None => s
                    .default_source
                    .as_deref()
                    .map(|p| source::open(p).and_then(|x| x.read()))
                    .transpose()?,
            };
            let mut reports = Vec::new();
            for t in &s.targets {
                let ts = TargetSnapshot::read(&t.client).await?;
                let links = s.engine.state.links(t.name()).await?;
                let today = g.today.unwrap_or_else(|| Engine::today(&t.mapping));
                let d = snap
                    .as_ref()
                    .map(|sn| Desired::build(sn, &t.mapping, today));
                reports.push(audit::audit(t.name(), &ts, &links, d.as_ref(), &t.mapping));
            }
            match g.output {
                Output::Json => print_json(&reports),
                Output::Csv => {
                    for (i, r) in reports.iter().enumerate() {
                        let c = audit::to_csv(r);
                        // One header for all targets.
                        let body = if i == 0 {
                            c.as_str()
                        } else {
                            c.split_once('\n').map(|x| x.1).unwrap_or_default()
                        };
                        print!("{body}");
                    }
                }
                Output::Table => {
                    for r in &reports {
                        println!("{}", audit::to_table(r));
                    }
                }
            }
            Ok(())
        }
        Cmd::Discover => {
            let s = setup(g, true).await?;
            let mut out = Vec::new();
            for t in &s.targets {
                let caps = t.client.discover().await?;
                let spc = t.client.service_provider_config().await?;
                if g.output == Output::Json {
                    out.push(json!({"target": t.name(), "serviceProviderConfig": spc}));
                } else {
                    println!(
                        "{} ({}): profile {}; patch {}, bulk {:?}, filter {} (max {:?}), sort {}, etag {}, cursor paging {}",
                        t.name(),
                        t.options.target_url,
                        t.client.profile().name(),
                        caps.patch,
                        caps.bulk_max_operations,
                        caps.filter,
                        caps.max_results,
                        caps.sort,
                        caps.etag,
                        caps.cursor
                    );
                }
            }
            if g.output == Output::Json {
                print_json(&out);
            }
            Ok(())
        }
        Cmd::Users { cmd } => resource(g, "Users", cmd).await,
        Cmd::Groups { cmd } => resource(g, "Groups", cmd).await,
    }
}

fn check_reports(reports: &[RunReport]) -> Result<(), Fail> {
    let bad: Vec<String> = reports
        .iter()
        .filter(|r| !r.ok())
        .map(report_line)
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Fail::Incomplete(format!(
            "{}\n(see `scim status`)",
            bad.join("\n")
        )))
    }
}

fn finish(
    g: &Global,
    reports: &[RunReport],
    refused: Vec<String>,
    errors: Vec<String>,
) -> Result<(), Fail> {
    if g.output == Output::Json {
        print_json(&reports);
    } else {
        for r in reports {
            println!("{}", report_line(r));
        }
    }
    verdict(reports, refused, errors)
}

fn verdict(reports: &[RunReport], refused: Vec<String>, errors: Vec<String>) -> Result<(), Fail> {
    if !errors.is_empty() {
        let mut m = errors.join("\n");
        if !refused.is_empty() {
            m.push('\n');
            m.push_str(&refused.join("\n"));
        }
        return Err(Fail::Error(m));
    }
    if !refused.is_empty() {
        return Err(Fail::Refused(refused.join("\n")));
    }
    check_reports(reports)
}

async fn resource(g: &Global, endpoint: &str, cmd: &ResourceCmd) -> Result<(), Fail> {
    let s = setup(g, true).await?;
    let t = s
        .targets
        .first()
        .ok_or_else(|| Fail::Error("no target".into()))?;
    let c: &Client = &t.client;
    match cmd {
        ResourceCmd::List { filter } => {
            let mut q = ListQuery::new();
            if let Some(f) = filter {
                q = q.filter(f);
            }
            let all: Vec<Value> = c.list_all(endpoint, q).try_collect().await?;
            if g.output == Output::Json {
                print_json(&all);
            } else {
                for r in &all {
                    let name = r
                        .get("userName")
                        .or_else(|| r.get("displayName"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let extra = if endpoint == "Users" {
                        format!(
                            "active={}",
                            r.get("active").and_then(Value::as_bool).unwrap_or(true)
                        )
                    } else {
                        format!(
                            "members={}",
                            r.get("members")
                                .and_then(Value::as_array)
                                .map_or(0, Vec::len)
                        )
                    };
                    println!(
                        "{:<38} {:<40} {extra}",
                        r["id"].as_str().unwrap_or_default(),
                        name
                    );
                }
                println!("{} {}", all.len(), endpoint.to_lowercase());
            }
        }
        ResourceCmd::Get { id } => print_json(&c.get::<Value>(endpoint, id).await?),
        ResourceCmd::Create { json } => {
            let mut v = json_arg(json)?;
            if v.get("schemas").is_none() {
                let schema = if endpoint == "Users" {
                    scim_core::schema::USER
                } else {
                    scim_core::schema::GROUP
                };
                v["schemas"] = json!([schema]);
            }
            print_json(&c.create::<Value>(endpoint, &v).await?)
        }
        ResourceCmd::Patch { id, json } => {
            let v = json_arg(json)?;
            let v = if v.is_array() {
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": v})
            } else {
                v
            };
            let p = scim_core::PatchOp::from_json(&v, &scim_core::Compat::default())
                .map_err(|e| Fail::Error(e.detail))?;
            match c.patch(endpoint, id, &p, None).await? {
                Some(r) => print_json(&r),
                None => println!("patched {id} (204)"),
            }
        }
        ResourceCmd::Delete { id } => {
            c.delete(endpoint, id).await?;
            println!("deleted {id}");
        }
    }
    Ok(())
}
