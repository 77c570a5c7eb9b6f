//! Applying plans through the durable outbox.
//!
//! 1. A plan that was applied before is not applied again (its run is reported instead).
//! 2. A saved plan is checked against the target: if any object it read changed since, it is
//!    refused as stale. Tripped safety gates refuse it unless forced.
//! 3. Every change is written to the state file's outbox in one transaction, then executed in
//!    phases: leavers first, then groups, creates (managers before their reports), updates,
//!    membership removals, membership additions, group deletions, notifications. Entries left
//!    pending by an earlier run (a crash, an outage) are executed in the same order first.
//! 4. Each entry is marked `running` (with its attempt counted) before its request is sent. An
//!    entry found `running` was interrupted: a create is looked up before it is sent again, and
//!    every other change is idempotent (PATCH replace, member add/remove, deactivate, 404 on
//!    delete), so a resumed run creates no duplicates.
//! 5. Retryable failures (throttling, 5xx, connection failures, after the client's own retries)
//!    leave the entry pending; after `max_attempts` it becomes a dead letter with the reason, as
//!    does any other failure. After `breaker` retryable failures in a row the target counts as
//!    down and the run stops, leaving the rest pending for the next run.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use scim_core::schema::ENTERPRISE_USER;
use scim_core::{Context, JsonMap, PatchOp, PatchOperation};
use serde::Serialize;
use serde_json::{json, Value};

use super::desired::Desired;
use super::gates::{self, GateConfig};
use super::mapping::Mapping;
use super::notify::{self, NotifyConfig};
use super::plan::{
    self, Change, ChangeKind, Plan, PlanInput, PlanOptions, SourceInfo, TargetSnapshot,
};
use super::source::Snapshot;
use super::state::{OutboxEntry, State};
use super::ProvisionError;
use crate::Client;

/// One target: where, how, and what.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its client (profile, rate and concurrency limits included).
    pub client: Client,
    /// Planning options (name, URL, leaver policy, scope).
    pub options: PlanOptions,
    /// The mapping.
    pub mapping: Mapping,
    /// Gate thresholds.
    pub gates: GateConfig,
}

impl Target {
    /// The target's name.
    pub fn name(&self) -> &str {
        &self.options.target
    }
}

/// How changes are executed.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Runs (attempts) before a retryable failure becomes a dead letter.
    pub max_attempts: i64,
    /// Retryable failures in a row after which the target counts as down.
    pub breaker: usize,
    /// Changes in flight at once within a phase.
    pub concurrency: usize,
    /// Show a progress bar (when attached to a terminal).
    pub progress: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            max_attempts: 5,
            breaker: 3,
            concurrency: 4,
            progress: false,
        }
    }
}

/// The engine: the state file, notification channels, execution options.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The state file.
    pub state: State,
    /// Notifications.
    pub notify: NotifyConfig,
    /// Execution options.
    pub apply: ApplyOptions,
    http: reqwest::Client,
}

/// A plan with what the gates said.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The plan (its `gates` field lists tripped gates).
    pub plan: Plan,
    /// The desired state it was made from.
    pub desired: Desired,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Target.
    pub target: String,
    /// Run id (`None` when nothing was started).
    pub run_id: Option<String>,
    /// Plan id.
    pub plan_id: String,
    /// Entries executed successfully.
    pub done: usize,
    /// Entries left pending (retry on the next run).
    pub pending: usize,
    /// Entries that became dead letters in this run.
    pub dead: usize,
    /// Modifying requests sent (creates, updates, deletes, member changes).
    pub modifying_requests: usize,
    /// True when the breaker stopped the run (target down).
    pub stopped: bool,
    /// Failures, readable (`E0012 (ada) create_user: HTTP 400 …`).
    pub failures: Vec<String>,
    /// A note (`plan already applied by run …`).
    pub note: Option<String>,
}

impl RunReport {
    /// True when everything was applied.
    pub fn ok(&self) -> bool {
        self.pending == 0 && self.dead == 0 && !self.stopped
    }
}

enum Fail {
    /// Try again on a later run (and count toward the breaker when the target failed).
    Retry { outage: bool, message: String },
    /// Give up: dead letter.
    Dead(String),
}

fn classify(e: &crate::Error) -> Fail {
    if e.is_retryable() || e.status().is_some_and(|s| s >= 500) {
        Fail::Retry {
            outage: true,
            message: e.to_string(),
        }
    } else {
        Fail::Dead(e.to_string())
    }
}

impl Engine {
    /// An engine on a state file.
    pub fn new(state: State, notify: NotifyConfig, apply: ApplyOptions) -> Engine {
        Engine {
            state,
            notify,
            apply,
            // Webhook URLs often carry their secret: never follow a redirect elsewhere.
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
        }
    }

    /// Today in the mapping's time zone.
    pub fn today(mapping: &Mapping) -> NaiveDate {
        let tz = mapping.timezone().unwrap_or(chrono_tz::UTC);
        Utc::now().with_timezone(&tz).date_naive()
    }

    /// Reads the target and plans; the plan's `gates` lists the gates that tripped.
    pub async fn plan(
        &self,
        target: &Target,
        snapshot: &Snapshot,
        today: Option<NaiveDate>,
    ) -> Result<Planned, ProvisionError> {
        let today = today.unwrap_or_else(|| Engine::today(&target.mapping));
        let scope: Vec<String> = target.options.scope.keys().cloned().collect();
        let desired = Desired::build_keeping(snapshot, &target.mapping, today, &scope);
        let current = TargetSnapshot::read(&target.client)
            .await
            .map_err(|error| ProvisionError::Target {
                target: target.name().into(),
                error,
            })?;
        let links = self.state.links(target.name()).await?;
        let mut p = plan::build(PlanInput {
            desired: &desired,
            mapping: &target.mapping,
            target: &current,
            links: &links,
            options: &target.options,
            source: SourceInfo {
                origin: snapshot.origin.clone(),
                hash: snapshot.hash.clone(),
                rows: snapshot.records.len(),
            },
            now: Utc::now(),
        });
        let last = self.state.last_snapshot(target.name()).await?;
        p.gates = gates::check(&target.gates, &desired, &p, last.map(|l| l.1));
        Ok(Planned { plan: p, desired })
    }

    /// Applies a plan (see the module docs). `check_stale` re-reads the target first (for saved
    /// plans); `force` overrides tripped gates.
    pub async fn apply(
        &self,
        target: &Target,
        p: &Plan,
        check_stale: bool,
        force: bool,
    ) -> Result<RunReport, ProvisionError> {
        if p.target != target.name() {
            return Err(ProvisionError::Invalid(format!(
                "plan {} is for target {}, not {}",
                p.id,
                p.target,
                target.name()
            )));
        }
        if let Some(run) = self.state.run_of_plan(&p.id).await? {
            // Applying the same plan twice changes nothing the second time; what the first
            // run left pending is resumed.
            let mut r = self.resume(target).await?;
            r.plan_id = p.id.clone();
            r.note = Some(format!("plan {} was already applied by run {run}", p.id));
            return Ok(r);
        }
        if !p.gates.is_empty() && !force {
            return Err(ProvisionError::Refused(gates::describe(&p.gates)));
        }
        if check_stale {
            let current = TargetSnapshot::read(&target.client)
                .await
                .map_err(|error| ProvisionError::Target {
                    target: target.name().into(),
                    error,
                })?;
            let why = plan::stale_reasons(p, &current);
            if !why.is_empty() {
                let n = why.len();
                let mut shown: Vec<String> = why.into_iter().take(10).collect();
                if n > 10 {
                    shown.push(format!("… {} more", n - 10));
                }
                return Err(ProvisionError::Stale(format!(
                    "plan {} is stale: the target changed since it was made; plan again\n  {}",
                    p.id,
                    shown.join("\n  ")
                )));
            }
        }
        let run_id = format!(
            "run-{}-{}",
            Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            &p.id[p.id.len().saturating_sub(8)..]
        );
        let entries: Vec<(i64, String, String, Option<String>, Value)> = p
            .changes
            .iter()
            .map(|c| {
                (
                    c.kind.phase(),
                    c.kind.as_str().to_string(),
                    c.label.clone(),
                    c.person.clone(),
                    serde_json::to_value(c).expect("a change serializes"),
                )
            })
            .collect();
        let plan_json = serde_json::to_value(p).expect("a plan serializes");
        self.state
            .begin_run(
                &run_id,
                target.name(),
                &p.id,
                &p.source.hash,
                p.source.rows,
                &plan_json,
                &entries,
            )
            .await?;
        let mut report = self.drain(target).await?;
        report.run_id = Some(run_id.clone());
        report.plan_id = p.id.clone();
        // Notifications for what this run did, through the same outbox.
        self.enqueue_events(target, &run_id, p).await?;
        let more = self.drain(target).await?;
        report.merge(more);
        let status = if report.ok() {
            "succeeded"
        } else {
            "incomplete"
        };
        if report.ok() {
            self.state
                .set_snapshot(target.name(), &p.source.hash, p.source.rows)
                .await?;
        }
        self.state
            .finish_run(
                &run_id,
                status,
                &serde_json::to_value(&report).expect("JSON"),
            )
            .await?;
        Ok(report)
    }

    /// Executes what earlier runs left pending.
    pub async fn resume(&self, target: &Target) -> Result<RunReport, ProvisionError> {
        let mut r = self.drain(target).await?;
        r.target = target.name().into();
        Ok(r)
    }

    /// Plan and apply in one go, no prompt (the gates protect it). `dry_run` only plans.
    pub async fn sync(
        &self,
        target: &Target,
        snapshot: &Snapshot,
        force: bool,
        dry_run: bool,
    ) -> Result<(Planned, Option<RunReport>), ProvisionError> {
        self.sync_on(target, snapshot, None, force, dry_run).await
    }

    /// [`Engine::sync`] as of `today` (`None`: today in the mapping's time zone).
    pub async fn sync_on(
        &self,
        target: &Target,
        snapshot: &Snapshot,
        today: Option<NaiveDate>,
        force: bool,
        dry_run: bool,
    ) -> Result<(Planned, Option<RunReport>), ProvisionError> {
        // First finish what an earlier run left pending, so the plan sees its effects.
        let resumed = if dry_run {
            None
        } else {
            Some(self.resume(target).await?)
        };
        if let Some(r) = &resumed {
            if r.stopped {
                let planned = self.plan(target, snapshot, today).await?;
                return Ok((planned, resumed));
            }
        }
        let planned = self.plan(target, snapshot, today).await?;
        if dry_run {
            return Ok((planned, None));
        }
        let mut report = self.apply(target, &planned.plan, false, force).await?;
        if let Some(r) = resumed {
            report.done += r.done;
            report.modifying_requests += r.modifying_requests;
            report.failures.extend(r.failures);
        }
        Ok((planned, Some(report)))
    }

    async fn drain(&self, target: &Target) -> Result<RunReport, ProvisionError> {
        let pending = self.state.pending(target.name()).await?;
        let mut report = RunReport {
            target: target.name().into(),
            ..RunReport::default()
        };
        if pending.is_empty() {
            return Ok(report);
        }
        let bar = (self.apply.progress && std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .then(|| {
                let b = indicatif::ProgressBar::new(pending.len() as u64);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{prefix} [{bar:40}] {pos}/{len} {msg} ({eta})",
                    )
                    .expect("template")
                    .progress_chars("=> "),
                );
                b.set_prefix(target.name().to_string());
                b
            });
        let caps = target.client.discover().await.ok();
        // PATCH when the target supports it and the profile prefers it; else PUT.
        let patch =
            caps.as_ref().is_none_or(|c| c.patch) && target.client.profile().prefers_patch();
        let failures_in_row = Arc::new(AtomicUsize::new(0));
        // Waves: consecutive entries of one phase, split where a create needs a manager
        // created in the same wave; a wave runs with the configured concurrency.
        let mut waves: Vec<Vec<OutboxEntry>> = Vec::new();
        let mut keys_in_wave: BTreeSet<String> = BTreeSet::new();
        for e in pending {
            let manager = e
                .payload
                .get("manager")
                .and_then(Value::as_str)
                .map(str::to_string);
            let new_wave = match waves.last() {
                None => true,
                Some(w) => {
                    w[0].phase != e.phase
                        || manager.as_ref().is_some_and(|m| keys_in_wave.contains(m))
                }
            };
            if new_wave {
                waves.push(Vec::new());
                keys_in_wave.clear();
            }
            if let Some(p) = &e.person {
                keys_in_wave.insert(p.clone());
            }
            waves.last_mut().expect("a wave").push(e);
        }
        'waves: for wave in waves {
            // Each outcome is recorded as soon as it is known: a crash loses at most the
            // changes in flight, which the next run looks up or repeats idempotently.
            let results: Vec<Result<RunReport, ProvisionError>> =
                futures::stream::iter(wave.into_iter().map(|e| {
                    let failures_in_row = failures_in_row.clone();
                    let bar = bar.clone();
                    async move {
                        if failures_in_row.load(Ordering::SeqCst) >= self.apply.breaker {
                            let mut r = RunReport::default();
                            r.pending += 1;
                            self.state
                                .finish(
                                    e.seq,
                                    "pending",
                                    Some("not attempted: the target is failing"),
                                    None,
                                    None,
                                )
                                .await?;
                            return Ok(r);
                        }
                        self.state.mark_running(e.seq).await?;
                        let outcome = self.execute(target, &e, patch).await;
                        match &outcome {
                            Err(Fail::Retry { outage: true, .. }) => {
                                failures_in_row.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(_) => failures_in_row.store(0, Ordering::SeqCst),
                            _ => {}
                        }
                        if let Some(b) = &bar {
                            b.inc(1);
                            b.set_message(e.label.clone());
                        }
                        self.record(target, &e, outcome).await
                    }
                }))
                .buffered(self.apply.concurrency.max(1))
                .collect()
                .await;
            for r in results {
                report.merge(r?);
            }
            if failures_in_row.load(Ordering::SeqCst) >= self.apply.breaker {
                report.stopped = true;
                break 'waves;
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        Ok(report)
    }

    async fn record(
        &self,
        target: &Target,
        e: &OutboxEntry,
        outcome: Result<ExecOk, Fail>,
    ) -> Result<RunReport, ProvisionError> {
        let mut report = RunReport::default();
        match outcome {
            Ok(ok) => {
                self.state
                    .finish(e.seq, "done", None, Some(&ok.result), None)
                    .await?;
                report.done += 1;
                report.modifying_requests += ok.requests;
            }
            Err(Fail::Retry { message, .. }) => {
                let attempts = e.attempts + 1;
                if attempts >= self.apply.max_attempts {
                    self.dead(
                        target,
                        e,
                        &format!("gave up after {attempts} attempts: {message}"),
                        &mut report,
                    )
                    .await?;
                } else {
                    self.state
                        .finish(e.seq, "pending", Some(&message), None, None)
                        .await?;
                    report.pending += 1;
                }
            }
            Err(Fail::Dead(message)) => self.dead(target, e, &message, &mut report).await?,
        }
        Ok(report)
    }

    async fn dead(
        &self,
        target: &Target,
        e: &OutboxEntry,
        message: &str,
        report: &mut RunReport,
    ) -> Result<(), ProvisionError> {
        self.state
            .finish(e.seq, "dead", Some(message), None, None)
            .await?;
        report.dead += 1;
        report
            .failures
            .push(format!("{} {}: {message}", e.label, e.kind));
        if !e.kind.starts_with("notify.") {
            let event = json!({
                "event": "failure",
                "target": target.name(),
                "plan_id": e.plan_id,
                "run_id": e.run_id,
                "person": {
                    "key": e.person,
                    "userName": e.payload.pointer("/body/userName").cloned().unwrap_or_else(|| json!(e.label)),
                    "email": e.payload.get("body").and_then(|b| b.as_object()).and_then(|b| super::desired::primary_email(b)),
                },
                "changes": [e.kind],
                "error": message,
                "at": Utc::now().to_rfc3339(),
            });
            self.enqueue_event(
                target,
                &e.run_id,
                &e.plan_id,
                &e.label,
                e.person.as_deref(),
                &event,
            )
            .await?;
        }
        Ok(())
    }

    async fn enqueue_event(
        &self,
        target: &Target,
        run_id: &str,
        plan_id: &str,
        label: &str,
        person: Option<&str>,
        event: &Value,
    ) -> Result<(), ProvisionError> {
        let kind = event["event"].as_str().unwrap_or_default();
        if let Some(w) = &self.notify.webhook {
            if w.events.is_empty() || w.events.iter().any(|x| x == kind) {
                self.state
                    .enqueue(
                        run_id,
                        target.name(),
                        plan_id,
                        9,
                        "notify.webhook",
                        label,
                        person,
                        event,
                    )
                    .await?;
            }
        }
        if self.notify.email.is_some() {
            self.state
                .enqueue(
                    run_id,
                    target.name(),
                    plan_id,
                    9,
                    "notify.email",
                    label,
                    person,
                    event,
                )
                .await?;
        }
        Ok(())
    }

    /// One event per person the run changed (its changes all done).
    async fn enqueue_events(
        &self,
        target: &Target,
        run_id: &str,
        p: &Plan,
    ) -> Result<(), ProvisionError> {
        if self.notify.webhook.is_none() && self.notify.email.is_none() {
            return Ok(());
        }
        let entries = self.state.run_entries(run_id).await?;
        let failed: BTreeSet<String> = entries
            .iter()
            .filter(|e| e.status != "done")
            .flat_map(|e| {
                let mut v: Vec<String> = e.person.iter().cloned().collect();
                if let Some(ms) = e.payload.get("members").and_then(Value::as_array) {
                    v.extend(
                        ms.iter()
                            .filter_map(|m| m["key"].as_str().map(str::to_string)),
                    );
                }
                v
            })
            .collect();
        for pp in &p.people {
            if failed.contains(&pp.key) || pp.actions.iter().all(|a| a == "link") {
                continue;
            }
            let event = json!({
                "event": pp.event,
                "target": target.name(),
                "plan_id": p.id,
                "run_id": run_id,
                "person": pp
                    .contact
                    .as_ref()
                    .and_then(|c| serde_json::to_value(c).ok())
                    .unwrap_or_else(|| json!({"key": pp.key})),
                "changes": pp.details,
                "why": pp.why,
                "groups": pp.groups,
                "at": Utc::now().to_rfc3339(),
            });
            self.enqueue_event(target, run_id, &p.id, &pp.label, Some(&pp.key), &event)
                .await?;
        }
        Ok(())
    }

    async fn execute(&self, target: &Target, e: &OutboxEntry, patch: bool) -> Result<ExecOk, Fail> {
        match e.kind.as_str() {
            "notify.webhook" => {
                let w = self
                    .notify
                    .webhook
                    .as_ref()
                    .ok_or_else(|| Fail::Dead("no webhook configured".into()))?;
                notify::deliver_webhook(&self.http, w, &e.payload)
                    .await
                    .map(|_| ExecOk::none())
                    .map_err(|d| {
                        if d.retryable {
                            Fail::Retry {
                                outage: false,
                                message: d.message,
                            }
                        } else {
                            Fail::Dead(d.message)
                        }
                    })
            }
            "notify.email" => {
                let m = self
                    .notify
                    .email
                    .as_ref()
                    .ok_or_else(|| Fail::Dead("no SMTP configured".into()))?;
                notify::deliver_email(m, &e.payload)
                    .await
                    .map(|_| ExecOk::none())
                    .map_err(|d| {
                        if d.retryable {
                            Fail::Retry {
                                outage: false,
                                message: d.message,
                            }
                        } else {
                            Fail::Dead(d.message)
                        }
                    })
            }
            _ => {
                let c: Change = serde_json::from_value(e.payload.clone())
                    .map_err(|err| Fail::Dead(format!("unreadable outbox entry: {err}")))?;
                self.execute_change(target, &c, e, patch).await
            }
        }
    }

    async fn link(
        &self,
        target: &Target,
        kind: &str,
        key: &str,
        id: &str,
        applied: Option<&Value>,
    ) -> Result<(), Fail> {
        self.state
            .set_link(target.name(), kind, key, id, applied)
            .await
            .map_err(|e| Fail::Retry {
                outage: false,
                message: e.to_string(),
            })
    }

    async fn find_user(
        &self,
        target: &Target,
        key: &str,
        body: &Value,
    ) -> Result<Option<String>, Fail> {
        use scim_core::Filter;
        let c = &target.client;
        let mut filters = vec![Filter::eq("externalId", key)];
        if let Some(u) = body.get("userName").and_then(Value::as_str) {
            filters.push(Filter::eq("userName", u));
        }
        for f in filters {
            let page = c
                .list::<Value>("Users", &crate::ListQuery::new().filter(f).count(2))
                .await
                .map_err(|e| classify(&e))?;
            if let Some(u) = page.resources.first() {
                let ext = u.get("externalId").and_then(Value::as_str);
                if ext.is_none() || ext == Some(key) {
                    return Ok(u.get("id").and_then(Value::as_str).map(str::to_string));
                }
            }
        }
        Ok(None)
    }

    async fn find_group(
        &self,
        target: &Target,
        key: &str,
        dn: &str,
    ) -> Result<Option<String>, Fail> {
        use scim_core::Filter;
        for f in [Filter::eq("externalId", key), Filter::eq("displayName", dn)] {
            let page = target
                .client
                .list::<Value>("Groups", &crate::ListQuery::new().filter(f).count(2))
                .await
                .map_err(|e| classify(&e))?;
            if let Some(g) = page.resources.first() {
                return Ok(g.get("id").and_then(Value::as_str).map(str::to_string));
            }
        }
        Ok(None)
    }

    async fn user_id(&self, target: &Target, key: &str) -> Result<Option<String>, Fail> {
        self.state
            .link_id(target.name(), "user", key)
            .await
            .map_err(|e| Fail::Retry {
                outage: false,
                message: e.to_string(),
            })
    }

    async fn execute_change(
        &self,
        target: &Target,
        c: &Change,
        e: &OutboxEntry,
        patch: bool,
    ) -> Result<ExecOk, Fail> {
        let client = &target.client;
        let t = target.name();
        let interrupted = e.attempts > 0; // an earlier attempt may have reached the target
        let key = c.person.clone().unwrap_or_default();
        let id = c.id.clone().unwrap_or_default();
        let not_found_ok = |r: crate::Result<()>| match r {
            Ok(()) => Ok(()),
            Err(err) if err.is_not_found() => Ok(()),
            Err(err) => Err(classify(&err)),
        };
        match c.kind {
            ChangeKind::LinkUser => {
                self.link(target, "user", &key, &id, c.applied.as_ref())
                    .await?;
                Ok(ExecOk {
                    result: json!({"id": id}),
                    requests: 0,
                })
            }
            ChangeKind::LinkGroup => {
                let g = c.group.clone().unwrap_or_default();
                self.link(target, "group", &g, &id, None).await?;
                Ok(ExecOk {
                    result: json!({"id": id}),
                    requests: 0,
                })
            }
            ChangeKind::CreateUser => {
                if interrupted {
                    if let Some(found) = self.find_user(target, &key, &c.body).await? {
                        self.link(target, "user", &key, &found, None).await?;
                        return Ok(ExecOk {
                            result: json!({"id": found, "note": "found: an interrupted attempt had created it"}),
                            requests: 0,
                        });
                    }
                }
                let mut body = c.body.clone();
                let mut applied = c.applied.clone();
                if let Some(mk) = &c.manager {
                    if let Some(mid) = self.user_id(target, mk).await? {
                        let m = json!({"value": mid});
                        for v in [Some(&mut body), applied.as_mut()].into_iter().flatten() {
                            if let Some(o) = v.as_object_mut() {
                                let ext = o.entry(ENTERPRISE_USER).or_insert_with(|| json!({}));
                                ext["manager"] = m.clone();
                            }
                        }
                        if let Some(s) = body.get_mut("schemas").and_then(Value::as_array_mut) {
                            if !s.iter().any(|x| x == ENTERPRISE_USER) {
                                s.push(json!(ENTERPRISE_USER));
                            }
                        }
                    }
                }
                match client.create::<Value>("Users", &body).await {
                    Ok(v) => {
                        let nid = v
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        self.link(target, "user", &key, &nid, applied.as_ref())
                            .await?;
                        Ok(ExecOk {
                            result: json!({"id": nid}),
                            requests: 1,
                        })
                    }
                    Err(err) if err.status() == Some(409) => {
                        match self.find_user(target, &key, &c.body).await? {
                            Some(found) => {
                                self.link(target, "user", &key, &found, None).await?;
                                Ok(ExecOk {
                                    result: json!({"id": found, "note": "already existed"}),
                                    requests: 1,
                                })
                            }
                            None => Err(Fail::Dead(format!(
                                "{err} (and no account with this externalId or userName was found)"
                            ))),
                        }
                    }
                    Err(err) => Err(classify(&err)),
                }
            }
            ChangeKind::UpdateUser | ChangeKind::ReactivateUser => {
                let mut ops: Vec<PatchOperation> =
                    serde_json::from_value(c.body["Operations"].clone())
                        .map_err(|err| Fail::Dead(format!("unreadable operations: {err}")))?;
                let mut applied = c.applied.clone();
                if let Some(mk) = &c.manager {
                    match self.user_id(target, mk).await? {
                        Some(mid) => {
                            ops.push(PatchOperation::replace(
                                Some(&format!("{ENTERPRISE_USER}:manager")),
                                json!({"value": mid}),
                            ));
                            if let Some(o) = applied.as_mut().and_then(Value::as_object_mut) {
                                let ext = o.entry(ENTERPRISE_USER).or_insert_with(|| json!({}));
                                ext["manager"] = json!({"value": mid});
                            }
                        }
                        None => {
                            return Err(Fail::Retry {
                                outage: false,
                                message: format!("waiting for the account of manager {mk}"),
                            })
                        }
                    }
                }
                if !ops.is_empty() {
                    let r = if patch {
                        client
                            .patch("Users", &id, &PatchOp::new(ops), None)
                            .await
                            .map(|_| ())
                    } else {
                        self.put_with(target, &id, &ops).await
                    };
                    match r {
                        Ok(()) => {}
                        Err(err) if err.is_not_found() => {
                            return Err(Fail::Dead(format!(
                                "account {id} no longer exists in the target"
                            )))
                        }
                        Err(err) => return Err(classify(&err)),
                    }
                }
                self.link(target, "user", &key, &id, applied.as_ref())
                    .await?;
                if c.kind == ChangeKind::ReactivateUser {
                    let _ = self.state.set_deactivated(t, &key, false).await;
                }
                Ok(ExecOk {
                    result: json!({"id": id}),
                    requests: 1,
                })
            }
            ChangeKind::DeactivateUser => {
                not_found_ok(client.deactivate_user(&id).await)?;
                // Record the link when the engine did not know the account yet (orphans).
                if self.user_id(target, &key).await?.is_none() {
                    self.link(target, "user", &key, &id, None).await?;
                }
                let _ = self.state.set_deactivated(t, &key, true).await;
                Ok(ExecOk {
                    result: json!({"id": id}),
                    requests: 1,
                })
            }
            ChangeKind::DeleteUser => {
                not_found_ok(client.delete("Users", &id).await)?;
                let _ = self.state.remove_link(t, "user", &key).await;
                Ok(ExecOk {
                    result: json!({"id": id}),
                    requests: 1,
                })
            }
            ChangeKind::CreateGroup => {
                let g = c.group.clone().unwrap_or_default();
                let dn = c
                    .body
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or(&g)
                    .to_string();
                if interrupted {
                    if let Some(found) = self.find_group(target, &g, &dn).await? {
                        self.link(target, "group", &g, &found, None).await?;
                        return Ok(ExecOk {
                            result: json!({"id": found, "note": "found"}),
                            requests: 0,
                        });
                    }
                }
                match client.create::<Value>("Groups", &c.body).await {
                    Ok(v) => {
                        let nid = v
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        self.link(target, "group", &g, &nid, None).await?;
                        Ok(ExecOk {
                            result: json!({"id": nid}),
                            requests: 1,
                        })
                    }
                    Err(err) if err.status() == Some(409) => {
                        match self.find_group(target, &g, &dn).await? {
                            Some(found) => {
                                self.link(target, "group", &g, &found, None).await?;
                                Ok(ExecOk {
                                    result: json!({"id": found, "note": "already existed"}),
                                    requests: 1,
                                })
                            }
                            None => Err(Fail::Dead(err.to_string())),
                        }
                    }
                    Err(err) => Err(classify(&err)),
                }
            }
            ChangeKind::UpdateGroup => {
                let ops: Vec<PatchOperation> = serde_json::from_value(c.body["Operations"].clone())
                    .map_err(|err| Fail::Dead(format!("unreadable operations: {err}")))?;
                client
                    .patch("Groups", &id, &PatchOp::new(ops), None)
                    .await
                    .map_err(|err| classify(&err))?;
                self.link(
                    target,
                    "group",
                    c.group.as_deref().unwrap_or_default(),
                    &id,
                    None,
                )
                .await?;
                Ok(ExecOk {
                    result: json!({"id": id}),
                    requests: 1,
                })
            }
            ChangeKind::DeleteGroup => {
                not_found_ok(client.delete("Groups", &id).await)?;
                let _ = self
                    .state
                    .remove_link(t, "group", c.group.as_deref().unwrap_or_default())
                    .await;
                Ok(ExecOk {
                    result: json!({"id": id}),
                    requests: 1,
                })
            }
            ChangeKind::AddMembers | ChangeKind::RemoveMembers => {
                let g = c.group.clone().unwrap_or_default();
                let gid = match &c.id {
                    Some(id) => id.clone(),
                    None => self
                        .state
                        .link_id(t, "group", &g)
                        .await
                        .map_err(|e| Fail::Retry {
                            outage: false,
                            message: e.to_string(),
                        })?
                        .ok_or_else(|| Fail::Retry {
                            outage: false,
                            message: format!("waiting for group {g} to be created"),
                        })?,
                };
                let mut ids = Vec::new();
                let mut missing = Vec::new();
                for m in &c.members {
                    match &m.id {
                        Some(id) => ids.push(id.clone()),
                        None => match self.user_id(target, &m.key).await? {
                            Some(id) => ids.push(id),
                            None => missing.push(m.key.clone()),
                        },
                    }
                }
                if !ids.is_empty() {
                    let r = if c.kind == ChangeKind::AddMembers {
                        client.add_members(&gid, &ids).await
                    } else {
                        client.remove_members(&gid, &ids).await
                    };
                    r.map_err(|err| classify(&err))?;
                }
                if !missing.is_empty() {
                    return Err(Fail::Retry {
                        outage: false,
                        message: format!("waiting for the accounts of {}", missing.join(", ")),
                    });
                }
                Ok(ExecOk {
                    result: json!({"id": gid, "members": ids.len()}),
                    requests: usize::from(!ids.is_empty()),
                })
            }
        }
    }

    async fn put_with(
        &self,
        target: &Target,
        id: &str,
        ops: &[PatchOperation],
    ) -> crate::Result<()> {
        let ctx = Context::user();
        let cur: JsonMap = target.client.get("Users", id).await?;
        let mut next = cur.clone();
        scim_core::apply_operations(&mut next, ops, &ctx, &scim_core::Compat::default())
            .map_err(|e| crate::Error::Invalid(e.detail))?;
        target
            .client
            .update(&ctx, id, &cur, &next)
            .await
            .map(|_| ())
    }
}

struct ExecOk {
    result: Value,
    requests: usize,
}

impl ExecOk {
    fn none() -> ExecOk {
        ExecOk {
            result: Value::Null,
            requests: 0,
        }
    }
}

impl RunReport {
    fn merge(&mut self, o: RunReport) {
        self.done += o.done;
        self.pending += o.pending;
        self.dead += o.dead;
        self.modifying_requests += o.modifying_requests;
        self.stopped |= o.stopped;
        self.failures.extend(o.failures);
    }
}
