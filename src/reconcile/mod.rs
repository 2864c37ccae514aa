//! `rtt reconcile`: the controller that keeps the fleet at the plan
//! (docs/reconcile.md). Each cycle probes the drivers for drift (and
//! repairs it with `--repair`), applies a pending plan once its approvals
//! verify, and, when the config, the registry, the overlays or the
//! calibration changed, plans from the plan in force (minimum churn), signs
//! (or leaves the plan in `.rtt/pending/` for approvals), applies with
//! two-phase commit and the SLO gate, and backs off after a failure.
//!
//! The steps are the same commands an operator runs (`drift`, `plan`,
//! `verify`, `apply`, `recover`), run as child processes of this binary:
//! one implementation of each step, the apply lock shared with any
//! operator, and a crash of a step is the step's, not the controller's.

pub mod ha;
pub mod http;
pub mod metrics;

use rtt_telemetry::now_ms;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use miette::Diagnostic;
use rtt_durable::Layout;
use serde::{Deserialize, Serialize};

use crate::cli::ReconcileArgs;
use crate::exit::{EXIT_DRIFT, EXIT_INVALID, Failure};
use metrics::{CycleResult, Metrics};

/// What the controller remembers between cycles and restarts
/// (`.rtt/reconcile/state.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    /// Fingerprint of the inputs last planned and settled.
    done: Option<String>,
    /// Fingerprint of inputs whose plan failed its gate: not planned again
    /// until the inputs change.
    rejected: Option<String>,
}

/// One run of the controller.
struct Controller {
    exe: PathBuf,
    config: PathBuf,
    dir: Option<PathBuf>,
    layout: Layout,
    args: ReconcileArgs,
    metrics: Arc<Mutex<Metrics>>,
    signals: Arc<AtomicUsize>,
    /// This controller's name (`--id`).
    id: String,
    /// HA on etcd (`--etcd`).
    ha: Option<RefCell<ha::Ha>>,
}

pub fn run(args: &ReconcileArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let config = std::fs::canonicalize(crate::files::config_path(args.config.as_deref())?)
        .map_err(|e| Unusable { reason: format!("cannot resolve the config: {e}") })?;
    let layout = crate::workspace::rtt_dir(dir, Some(&config));
    let signals = Arc::new(AtomicUsize::new(0));
    // Each signal adds one: the first stops the loop after the running
    // step, the second kills the step and recovers.
    counting(&signals).map_err(|e| Unusable { reason: format!("cannot handle signals: {e}") })?;
    let id = args.id.clone().unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    let ha = if args.etcd.is_empty() {
        None
    } else {
        let connected = ha::Ha::connect(&args.etcd, &args.etcd_cluster, args.lease_ttl, &layout)
            .map_err(|reason| Unusable { reason })?;
        Some(RefCell::new(connected))
    };
    let metrics = Metrics { leader: ha.as_ref().map(|_| false), ..Metrics::default() };
    let controller = Controller {
        exe: std::env::current_exe().map_err(|e| Unusable { reason: e.to_string() })?,
        config,
        dir: dir.map(Path::to_owned),
        layout,
        args: args.clone(),
        metrics: Arc::new(Mutex::new(metrics)),
        signals,
        id,
        ha,
    };
    if let Some(address) = &args.listen {
        let stale = u64::try_from(args.interval.as_millis()).unwrap_or(u64::MAX).saturating_mul(3).max(10_000);
        let bound = http::serve(address, Arc::clone(&controller.metrics), stale)
            .map_err(|e| Unusable { reason: format!("cannot listen on {address}: {e}") })?;
        log(
            "info",
            "listening",
            serde_json::json!({"address": bound.to_string(), "paths": ["/healthz", "/readyz", "/metrics"]}),
        );
    }
    controller.run()
}

impl Controller {
    fn run(self) -> Result<ExitCode, Failure> {
        log(
            "info",
            "start",
            serde_json::json!({"config": self.config.display().to_string(), "once": self.args.once,
            "interval_ms": self.args.interval.as_millis() as u64, "id": self.id,
            "etcd": self.args.etcd, "cluster": self.ha.as_ref().map(|_| &self.args.etcd_cluster)}),
        );
        let mut next_cycle = Instant::now();
        let mut last_inputs = None;
        loop {
            match self.lead() {
                Lead::Won => next_cycle = Instant::now(),
                Lead::Leads => {}
                Lead::Follows if self.args.once => {
                    log("info", "stop", serde_json::json!({"reason": "--once: another controller leads"}));
                    return Ok(ExitCode::SUCCESS);
                }
                Lead::Unreachable if self.args.once => {
                    log(
                        "error",
                        "stop",
                        serde_json::json!({"reason": "--once: the campaign failed (see the campaign event)"}),
                    );
                    return Ok(ExitCode::from(EXIT_INVALID));
                }
                Lead::Follows | Lead::Unreachable => {
                    if self.signals.load(Ordering::SeqCst) > 0 {
                        log("info", "stop", serde_json::json!({"reason": "signal; following"}));
                        return Ok(ExitCode::SUCCESS);
                    }
                    self.metrics().last_tick_ms = now_ms();
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            }
            let inputs = self.stamp();
            let changed = last_inputs.as_ref() != Some(&inputs);
            let failures = self.metrics().failures;
            if Instant::now() >= next_cycle || (changed && failures == 0) {
                let started = Instant::now();
                let (result, detail) = self.cycle();
                last_inputs = Some(inputs);
                let seconds = started.elapsed().as_secs_f64();
                if result == CycleResult::Failed
                    && let Some(ha) = &self.ha
                    && let Err(e) = ha.borrow().resync(&self.layout)
                {
                    log("error", "resync", serde_json::json!({"error": e}));
                }
                self.metrics().cycle(result, detail.clone(), seconds, now_ms());
                log(
                    if result == CycleResult::Failed { "error" } else { "info" },
                    "cycle",
                    serde_json::json!({"result": result.name(), "detail": detail, "seconds": seconds}),
                );
                if self.args.once {
                    self.resign();
                    let drift = self.metrics().drift_hosts;
                    return Ok(match result {
                        CycleResult::Failed => ExitCode::from(EXIT_INVALID),
                        _ if drift > 0 => ExitCode::from(EXIT_DRIFT),
                        _ => ExitCode::SUCCESS,
                    });
                }
                // Back off after failures: the interval doubled per failure, at most 10 min.
                let failures = self.metrics().failures;
                let backoff = self.args.interval.saturating_mul(1 << failures.min(6)).min(Duration::from_secs(600));
                next_cycle = Instant::now() + if failures > 0 { backoff } else { self.args.interval };
            }
            if self.signals.load(Ordering::SeqCst) > 0 {
                self.resign();
                log("info", "stop", serde_json::json!({"reason": "signal; no transaction is open"}));
                return Ok(ExitCode::SUCCESS);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// HA: keeps or seeks the leadership; on a win the shared memory is
    /// restored and what the last leader left is recovered. On one machine:
    /// always leads.
    fn lead(&self) -> Lead {
        let Some(ha) = &self.ha else { return Lead::Leads };
        let standing = ha.borrow_mut().lead(&self.id, &self.layout);
        match standing {
            Ok(ha::Standing::Leading) => Lead::Leads,
            Ok(ha::Standing::Following) => Lead::Follows,
            Ok(ha::Standing::Deposed) => {
                self.metrics().leader = Some(false);
                log("warn", "deposed", serde_json::json!({"id": self.id, "reason": "the lease was lost"}));
                Lead::Follows
            }
            Ok(ha::Standing::Won { revision }) => {
                {
                    let mut metrics = self.metrics();
                    metrics.leader = Some(true);
                    metrics.leaderships += 1;
                }
                let epochs = rtt_ha::keys::epochs(revision);
                log(
                    "info",
                    "leading",
                    serde_json::json!({"id": self.id, "revision": revision, "epochs": [epochs.start, epochs.end]}),
                );
                // What this controller settled before may have been undone
                // while another led: plan from the shared pointer again.
                let mut state = self.state();
                state.done = None;
                if let Err(e) = self.save_state(&state) {
                    log("error", "state", serde_json::json!({"error": e}));
                }
                let config = self.config.display().to_string();
                match self.rtt(&["recover", "--config", &config, "--format", "json"]) {
                    Ok(out) => log(
                        if out.code == Some(0) { "info" } else { "error" },
                        "recovered",
                        serde_json::json!({"exit": out.code, "stdout": String::from_utf8_lossy(&out.stdout).trim(),
                        "stderr": out.stderr.trim()}),
                    ),
                    Err(e) => log("error", "recovered", serde_json::json!({"error": e})),
                }
                Lead::Won
            }
            Err(e) => {
                log("warn", "campaign", serde_json::json!({"id": self.id, "error": e}));
                Lead::Unreachable
            }
        }
    }

    /// HA: gives the leadership up, so a follower takes over at once.
    fn resign(&self) {
        if let Some(ha) = &self.ha {
            ha.borrow_mut().resign();
            self.metrics().leader = Some(false);
        }
    }

    fn metrics(&self) -> std::sync::MutexGuard<'_, Metrics> {
        self.metrics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One cycle: drift, pending approvals, then the inputs.
    fn cycle(&self) -> (CycleResult, String) {
        let repaired = match self.probe_drift() {
            Ok(repaired) => repaired,
            Err(reason) => return (CycleResult::Failed, reason),
        };
        self.read_breakers();
        match self.apply_approved() {
            Ok(Some(outcome)) => return outcome,
            Ok(None) => {}
            Err(reason) => return (CycleResult::Failed, reason),
        }
        if self.args.calibrate {
            self.recalibrate();
        }
        // After a recalibration: the profile is one of the inputs.
        let inputs = &self.fingerprint();
        let mut state = self.state();
        if state.done.as_deref() == Some(inputs) || state.rejected.as_deref() == Some(inputs) {
            return if repaired {
                (CycleResult::Repaired, "drift repaired".into())
            } else {
                (CycleResult::Idle, String::new())
            };
        }
        let outcome = self.plan_and_apply(inputs, &mut state);
        if let Err(e) = self.save_state(&state) {
            return (CycleResult::Failed, e);
        }
        outcome
    }

    /// `--calibrate`: refits the latency model to what was observed under
    /// the plan in force (`rtt calibrate`), and replaces the profile when a
    /// fitted value moved by more than `--recalibrate-pct`. Too few samples
    /// is not an error: the profile stays.
    fn recalibrate(&self) {
        let Some(profile) = &self.args.profile else { return };
        let Ok(Some(applied)) = rtt_trust::state::read_applied(self.layout.state().dir()) else { return };
        let next = self.layout.reconcile().join("calibration.next.json");
        let (config, plan) =
            (self.config.display().to_string(), self.layout.state().plan(&applied.plan).display().to_string());
        let out = self.rtt(&[
            "calibrate",
            "--config",
            &config,
            "--plan",
            &plan,
            "-o",
            &next.display().to_string(),
            "--min-samples",
            &self.args.min_samples.to_string(),
            "--format",
            "json",
        ]);
        let Ok(out) = out else { return };
        if out.code != Some(0) {
            return;
        }
        let read =
            |path: &Path| std::fs::read(path).ok().and_then(|b| rtt_telemetry::calibrate::Profile::parse(&b).ok());
        let (Some(fresh), current) = (read(&next), read(profile)) else { return };
        if let Some(moved) = material_change(current.as_ref(), &fresh, self.args.recalibrate_pct) {
            match rtt_durable::rename(&next, profile) {
                Ok(()) => log(
                    "info",
                    "recalibrated",
                    serde_json::json!({"profile": profile.display().to_string(),
                    "latency_us": fresh.latency_us, "moved": moved, "rmse_us": fresh.rmse_us}),
                ),
                Err(e) => log("error", "recalibrate", serde_json::json!({"error": e.to_string()})),
            }
        }
    }

    /// `rtt drift [--repair]`: Ok(true) when drift was repaired.
    fn probe_drift(&self) -> Result<bool, String> {
        let config = self.config.display().to_string();
        let mut args = vec!["drift", "--config", &config, "--format", "json"];
        if self.args.repair {
            args.push("--repair");
        }
        let out = self.rtt(&args)?;
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        match out.code {
            Some(0) if report["kind"] == "rtt.apply" => {
                self.metrics().drift_hosts = 0;
                log(
                    "warn",
                    "drift_repaired",
                    serde_json::json!({"txn": report["txn"], "hosts": report["hosts_changed"]}),
                );
                Ok(true)
            }
            Some(0) => {
                self.metrics().drift_hosts = 0;
                Ok(false)
            }
            Some(2) => {
                let hosts = report["drifted"].as_array().map_or(0, Vec::len);
                self.metrics().drift_hosts = hosts as u64;
                log(
                    "warn",
                    "drift",
                    serde_json::json!({"hosts": report["drifted"], "repair": "not allowed (--repair)"}),
                );
                Ok(false)
            }
            _ => Err(format!("drift probe failed: {}", out.stderr.trim())),
        }
    }

    /// Breaker states from `rtt status`, for `/metrics`.
    fn read_breakers(&self) {
        let config = self.config.display().to_string();
        let Ok(out) = self.rtt(&["status", "--config", &config, "--format", "json"]) else { return };
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(breakers) = status["breakers"].as_object() {
            self.metrics().breakers_open =
                breakers.iter().map(|(driver, b)| (driver.clone(), b["position"] == "open")).collect();
        }
    }

    /// A plan in `.rtt/pending/` whose approvals now verify is applied.
    fn apply_approved(&self) -> Result<Option<(CycleResult, String)>, String> {
        let pending = self.layout.pending();
        let Ok(entries) = std::fs::read_dir(&pending) else { return Ok(None) };
        let mut plans: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
        plans.sort();
        let Some(plan) = plans.last() else { return Ok(None) };
        let shown = plan.display().to_string();
        let verified = self.rtt(&["verify", &shown])?;
        if verified.code != Some(0) {
            return Ok(Some((
                CycleResult::Waiting,
                format!("plan {shown} waits for approvals (rtt sign {shown} --key KEY): {}", verified.stderr.trim()),
            )));
        }
        let outcome = self.apply(plan)?;
        // Applied, or refused by its gate: either way it is no longer
        // pending (older ones are superseded). Any other failure keeps it,
        // with its approvals, for the next try.
        let settled = outcome.0 == CycleResult::Applied || outcome.1.contains("rolled back");
        if settled {
            for file in &plans {
                let _ = std::fs::remove_file(file);
            }
        }
        Ok(Some(outcome))
    }

    fn plan_and_apply(&self, inputs: &str, state: &mut State) -> (CycleResult, String) {
        let dir = self.layout.reconcile();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return (CycleResult::Failed, format!("cannot create {}: {e}", dir.display()));
        }
        let candidate = dir.join("candidate.json");
        let applied = match rtt_trust::state::read_applied(self.layout.state().dir()) {
            Ok(applied) => applied,
            Err(e) => return (CycleResult::Failed, e.to_string()),
        };
        let config = self.config.display().to_string();
        let out = candidate.display().to_string();
        let mut args = vec!["plan".to_owned(), config, "-o".into(), out, "--format".into(), "json".into()];
        if let Some(state) = &applied {
            args.extend(["--previous".into(), self.layout.state().plan(&state.plan).display().to_string()]);
        }
        if let Some(key) = &self.args.sign_key {
            args.extend(["--sign-key".into(), key.display().to_string()]);
        }
        if let Some(profile) = &self.args.profile {
            args.extend(["--profile".into(), profile.display().to_string()]);
        }
        let started = Instant::now();
        let planned = match self.rtt(&args.iter().map(String::as_str).collect::<Vec<_>>()) {
            Ok(out) => out,
            Err(e) => return (CycleResult::Failed, e),
        };
        self.metrics().plan_seconds = started.elapsed().as_secs_f64();
        if planned.code != Some(0) {
            // An infeasible config is reported on stdout (`rtt.infeasible`), the rest on stderr.
            let why = if planned.stderr.trim().is_empty() {
                String::from_utf8_lossy(&planned.stdout).chars().take(2000).collect::<String>()
            } else {
                planned.stderr.trim().to_owned()
            };
            return (CycleResult::Failed, format!("plan failed (exit {:?}): {why}", planned.code));
        }
        let document = match std::fs::read(&candidate)
            .map_err(|e| e.to_string())
            .and_then(|b| rtt_trust::parse_plan(&b).map_err(|e| e.to_string()))
        {
            Ok(parsed) => parsed,
            Err(e) => return (CycleResult::Failed, format!("the new plan cannot be read: {e}")),
        };
        let in_force = applied.as_ref().and_then(|a| {
            let bytes = std::fs::read(self.layout.state().plan(&a.plan)).ok()?;
            rtt_trust::parse_plan(&bytes).ok().map(|p| p.document)
        });
        if in_force.as_ref().is_some_and(|p| p.placements == document.document.placements) {
            state.done = Some(inputs.to_owned());
            return (CycleResult::Idle, "the inputs changed but the placements did not".into());
        }
        let moves = document.document.objective.moves;
        if let Some(budget) = self.args.max_moves
            && moves > budget
        {
            return (
                CycleResult::Failed,
                format!(
                    "the new plan moves {moves} replicas, above --max-moves {budget}; apply it by hand or raise the budget"
                ),
            );
        }
        if self.args.sign_key.is_none() && (self.args.wave_moves.is_some() || self.args.wave_agent_pct.is_some()) {
            return (
                CycleResult::Failed,
                "waves are plans of their own and need --sign-key; without a key, approve whole plans".into(),
            );
        }
        if self.args.sign_key.is_none() {
            let pending = self.layout.pending();
            let target = pending.join(format!("{}.json", document.hash.hex()));
            let moved = std::fs::create_dir_all(&pending).and_then(|()| rtt_durable::rename(&candidate, &target));
            return match moved {
                Ok(()) => {
                    state.done = Some(inputs.to_owned());
                    log("info", "pending", serde_json::json!({"plan": target.display().to_string(), "moves": moves}));
                    (
                        CycleResult::Waiting,
                        format!("plan {} waits for approvals: rtt sign {} --key KEY", document.hash, target.display()),
                    )
                }
                Err(e) => (CycleResult::Failed, format!("cannot leave the plan for approval: {e}")),
            };
        }
        if self.args.wave_moves.is_some() || self.args.wave_agent_pct.is_some() {
            let Some(state_of) = &applied else {
                return self.finish_apply(&candidate, moves, inputs, state);
            };
            let previous = self.layout.state().plan(&state_of.plan).display().to_string();
            return self.apply_in_waves(&candidate, &previous, inputs, state);
        }
        self.finish_apply(&candidate, moves, inputs, state)
    }

    /// Applies `plan` and settles `inputs` when it lands.
    fn finish_apply(&self, plan: &Path, moves: u64, inputs: &str, state: &mut State) -> (CycleResult, String) {
        match self.apply(plan) {
            Ok((CycleResult::Applied, detail)) => {
                self.metrics().moves += moves;
                state.done = Some(inputs.to_owned());
                (CycleResult::Applied, detail)
            }
            Ok((result, detail)) => {
                if detail.contains("rolled back") {
                    state.rejected = Some(inputs.to_owned());
                }
                (result, detail)
            }
            Err(e) => (CycleResult::Failed, e),
        }
    }

    /// The disruption budget: `rtt waves` cuts the move into signed plans,
    /// applied in order, each under the gate's soak; the first that fails
    /// stops the rest (the fleet stays on the last wave that landed, a
    /// whole signed plan).
    fn apply_in_waves(
        &self,
        candidate: &Path,
        previous: &str,
        inputs: &str,
        state: &mut State,
    ) -> (CycleResult, String) {
        let dir = self.layout.reconcile().join("waves");
        let _ = std::fs::remove_dir_all(&dir);
        let config = self.config.display().to_string();
        let mut args = vec![
            "waves".to_owned(),
            candidate.display().to_string(),
            "--previous".into(),
            previous.to_owned(),
            "--config".into(),
            config,
            "--out".into(),
            dir.display().to_string(),
            "--format".into(),
            "json".into(),
        ];
        if let Some(key) = &self.args.sign_key {
            args.extend(["--sign-key".into(), key.display().to_string()]);
        }
        if let Some(n) = self.args.wave_moves {
            args.extend(["--max-moves".into(), n.to_string()]);
        }
        if let Some(pct) = self.args.wave_agent_pct {
            args.extend(["--max-agent-pct".into(), pct.to_string()]);
        }
        if let Some(profile) = &self.args.profile {
            args.extend(["--profile".into(), profile.display().to_string()]);
        }
        let cut = match self.rtt(&args.iter().map(String::as_str).collect::<Vec<_>>()) {
            Ok(out) if out.code == Some(0) => {
                serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()
            }
            Ok(out) => return (CycleResult::Failed, format!("cutting waves failed: {}", out.stderr.trim())),
            Err(e) => return (CycleResult::Failed, e),
        };
        let waves = cut["waves"].as_array().cloned().unwrap_or_default();
        log(
            "info",
            "waves",
            serde_json::json!({"waves": waves.len(), "max_moves": self.args.wave_moves, "max_agent_pct": self.args.wave_agent_pct}),
        );
        for (index, wave) in waves.iter().enumerate() {
            let path = PathBuf::from(wave["path"].as_str().unwrap_or_default());
            let moves = wave["moves"].as_u64().unwrap_or(0);
            let mut scratch = State::default();
            let (result, detail) = self.finish_apply(&path, moves, inputs, &mut scratch);
            log(
                "info",
                "wave",
                serde_json::json!({"wave": index + 1, "of": waves.len(), "result": result.name(), "detail": detail}),
            );
            if result != CycleResult::Applied {
                state.rejected = scratch.rejected.or_else(|| Some(inputs.to_owned()));
                return (result, format!("wave {} of {}: {detail}", index + 1, waves.len()));
            }
        }
        state.done = Some(inputs.to_owned());
        (CycleResult::Applied, format!("{} waves applied", waves.len()))
    }

    /// `rtt apply PLAN [--soak …]`.
    fn apply(&self, plan: &Path) -> Result<(CycleResult, String), String> {
        let shown = plan.display().to_string();
        let config = self.config.display().to_string();
        let mut args = vec!["apply".to_owned(), shown, "--config".into(), config, "--format".into(), "json".into()];
        if let Some(soak) = self.args.soak {
            args.extend(["--soak".into(), format!("{}ms", soak.as_millis())]);
            args.extend(["--min-samples".into(), self.args.min_samples.to_string()]);
            if let Some(budget) = self.args.regression_budget {
                args.extend(["--regression-budget".into(), budget.to_string()]);
            }
            for metrics in &self.args.metrics {
                args.extend(["--metrics".into(), metrics.clone()]);
            }
        }
        let out = self.rtt(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        Ok(match out.code {
            Some(0) => {
                (CycleResult::Applied, format!("transaction {} committed", report["txn"].as_str().unwrap_or("?")))
            }
            Some(2) => {
                self.metrics().rollbacks += 1;
                (
                    CycleResult::Failed,
                    format!("the SLO gate found a breach; rolled back by {}", report["rollback"]["txn"]),
                )
            }
            code => {
                if out.stderr.contains("rolled back") {
                    self.metrics().rollbacks += 1;
                }
                (CycleResult::Failed, format!("apply failed (exit {code:?}): {}", out.stderr.trim()))
            }
        })
    }

    /// What the cycle's decision rests on: the config file (and its
    /// directory's CUE files), the registry index, the overlays, the
    /// calibration profile.
    fn fingerprint(&self) -> String {
        let mut hasher = rtt_canonical::Hasher::default();
        for file in self.input_files() {
            hasher.update(file.display().to_string().as_bytes());
            hasher.update(&[0]);
            hasher.update(&std::fs::read(&file).unwrap_or_default());
            hasher.update(&[0]);
        }
        hasher.digest().hex()
    }

    /// What the inputs look like without reading them (path, length,
    /// modification time): the loop's cheap test of whether to start a
    /// cycle, so a large registry index is hashed only when it changed.
    fn stamp(&self) -> Vec<(PathBuf, Option<(u64, std::time::SystemTime)>)> {
        self.input_files()
            .into_iter()
            .map(|file| {
                let seen = std::fs::metadata(&file).ok().and_then(|m| Some((m.len(), m.modified().ok()?)));
                (file, seen)
            })
            .collect()
    }

    /// The files the inputs are, sorted.
    fn input_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.config.clone(), self.layout.registry().index()];
        if self.config.extension().is_some_and(|e| e == "cue")
            && let Some(dir) = self.config.parent()
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "cue")));
        }
        if let Ok(kinds) = std::fs::read_dir(self.layout.overlays().dir()) {
            for kind in kinds.flatten() {
                if let Ok(entries) = std::fs::read_dir(kind.path()) {
                    files.extend(entries.flatten().map(|e| e.path()));
                }
            }
        }
        files.extend(self.args.profile.iter().cloned());
        files.sort();
        files.dedup();
        files
    }

    fn state(&self) -> State {
        std::fs::read(self.layout.reconcile().join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save_state(&self, state: &State) -> Result<(), String> {
        let path = self.layout.reconcile().join("state.json");
        let bytes = serde_json::to_vec(state).map_err(|e| e.to_string())?;
        rtt_durable::write_atomic(&path, &bytes, rtt_durable::READ_WRITE)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Runs `rtt ARGS` and waits for it. A first SIGTERM lets the step
    /// finish (its transaction reaches its decision); a second one kills it
    /// and runs `rtt recover`, which decides what it left open (a logged
    /// decision is re-sent, no decision is an abort), so the controller
    /// never leaves a transaction undecided.
    fn rtt(&self, args: &[&str]) -> Result<ChildOutput, String> {
        if self.signals.load(Ordering::SeqCst) > 0 {
            return Err("stopping: a signal arrived, so no new step starts".to_owned());
        }
        let mut command = Command::new(&self.exe);
        if let Some(dir) = &self.dir {
            command.arg("--dir").arg(dir);
        }
        command.args(args).current_dir(self.config.parent().unwrap_or(Path::new("."))).stdin(Stdio::null());
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command.env(rtt_apply::driver::dir::CONTROLLER_ENV, &self.id);
        if let Some(ha) = &self.ha {
            command.envs(ha.borrow().step_env());
        }
        let mut child = command.spawn().map_err(|e| format!("cannot run rtt {}: {e}", args.join(" ")))?;
        let out_reader = drain(child.stdout.take());
        let err_reader = drain(child.stderr.take());
        let mut killed = false;
        let mut deposed = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            if self.signals.load(Ordering::SeqCst) >= 2 && !killed {
                log(
                    "warn",
                    "abort",
                    serde_json::json!({"step": args.join(" "), "reason": "second signal: the step is killed, then recovered"}),
                );
                let _ = child.kill();
                killed = true;
            }
            if !deposed && self.ha.as_ref().is_some_and(|ha| ha.borrow().lost()) {
                // The next leader recovers whatever this step left open.
                log(
                    "warn",
                    "deposed",
                    serde_json::json!({"step": args.join(" "), "reason": "the lease was lost: the step is killed"}),
                );
                let _ = child.kill();
                deposed = true;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let output = ChildOutput {
            code: status.code(),
            stdout: out_reader.join().unwrap_or_default(),
            stderr: String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned(),
        };
        if killed {
            let step_env = self.ha.as_ref().map(|ha| ha.borrow().step_env()).unwrap_or_default();
            let recovered = Command::new(&self.exe)
                .envs(step_env)
                .env(rtt_apply::driver::dir::CONTROLLER_ENV, &self.id)
                .args(self.dir.iter().flat_map(|d| [std::ffi::OsString::from("--dir"), d.clone().into_os_string()]))
                .args(["recover", "--config"])
                .arg(&self.config)
                .output();
            let recovered = recovered
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_else(|e| e.to_string());
            log("warn", "recovered", serde_json::json!({"result": recovered}));
            log("info", "stop", serde_json::json!({"reason": "second signal"}));
            std::process::exit(i32::from(EXIT_INVALID));
        }
        Ok(output)
    }
}

/// Reads a child's pipe to its end on a thread (so a full pipe never
/// blocks the child while the controller polls it).
fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Counts deliveries of SIGTERM and SIGINT in `count`, on a thread of
/// signal-hook's iterator (the handler itself only writes to a pipe).
fn counting(count: &Arc<AtomicUsize>) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])?;
    let count = Arc::clone(count);
    std::thread::spawn(move || {
        for _ in signals.forever() {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    Ok(())
}

/// What moved by more than `pct` percent between two calibrations (every
/// value, when there was none before); `None` when nothing did.
fn material_change(
    before: Option<&rtt_telemetry::calibrate::Profile>,
    after: &rtt_telemetry::calibrate::Profile,
    pct: f64,
) -> Option<Vec<String>> {
    let Some(before) = before else { return Some(vec!["no profile before".to_owned()]) };
    let far = |old: Option<&f64>, new: f64| old.is_none_or(|old| (new - old).abs() > old.abs().max(1.0) * pct / 100.0);
    let moved: Vec<String> = after
        .latency_us
        .iter()
        .filter(|(level, value)| far(before.latency_us.get(*level), **value))
        .map(|(level, _)| format!("latency_us.{level}"))
        .chain(
            after
                .service_us
                .iter()
                .filter(|(agent, value)| far(before.service_us.get(*agent), **value))
                .map(|(agent, _)| format!("service_us.{agent}")),
        )
        .collect();
    (!moved.is_empty()).then_some(moved)
}

/// Where a controller stands, each turn of its loop.
enum Lead {
    /// Just won: restored and recovered; cycle now.
    Won,
    /// Leads (always, on one machine).
    Leads,
    /// Another controller leads, or this one was just deposed.
    Follows,
    /// etcd did not answer the campaign.
    Unreachable,
}

/// This machine's name (for the default `--id`).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "rtt".to_owned())
}

/// A step's exit code and output.
struct ChildOutput {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// A structured log line on stderr: one JSON object.
fn log(level: &str, event: &str, fields: serde_json::Value) {
    let mut line = serde_json::json!({"ts_ms": now_ms(), "level": level, "event": event});
    if let (Some(line), Some(fields)) = (line.as_object_mut(), fields.as_object()) {
        line.extend(fields.clone());
    }
    eprintln!("{line}");
}

/// The controller cannot start.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to start the reconcile controller: {reason}")]
#[diagnostic(code(rtt::reconcile::start))]
struct Unusable {
    reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtt_telemetry::calibrate::Profile;

    fn profile(rack: f64, db: f64) -> Profile {
        Profile {
            kind: rtt_telemetry::calibrate::PROFILE_KIND.into(),
            version: 1,
            plan: rtt_canonical::Sha256::of(b"p"),
            latency_us: [("rack".to_owned(), rack)].into(),
            service_us: [("db@1".to_owned(), db)].into(),
            routes: 1,
            rmse_us: 0.0,
            residuals: Vec::new(),
        }
    }

    #[test]
    fn only_a_material_move_replaces_the_profile() {
        assert!(material_change(None, &profile(300.0, 40.0), 10.0).is_some());
        assert_eq!(material_change(Some(&profile(300.0, 40.0)), &profile(320.0, 42.0), 10.0), None);
        assert_eq!(
            material_change(Some(&profile(300.0, 40.0)), &profile(400.0, 42.0), 10.0),
            Some(vec!["latency_us.rack".to_owned()])
        );
    }
}
