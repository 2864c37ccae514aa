//! `rtt apply`, `rtt recover`, `rtt rollback`, `rtt status`, `rtt wal verify`:
//! glue between the command line and `rtt_apply`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use miette::Diagnostic;
use rtt_apply::admission;
use rtt_apply::coordinator::soak::{Soak, SoakReport};
use rtt_apply::coordinator::{Coordinator, Outcome, Report};
use rtt_apply::fault::Faults;
use rtt_apply::status::{self, Status};
use rtt_apply::workspace::{Fleet, Workspace};

use crate::cli::{ApplyArgs, DriftArgs, Format, StatusArgs, WorkspaceArgs};
use crate::exit::Failure;
use crate::files::config_path;
use crate::output::emit;

pub fn apply(args: &ApplyArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    rtt_durable::arm_disk_faults();
    let bytes = crate::files::read_plan_bytes(&args.plan)?;
    let (workspace, fleet) = load(args.config.as_deref(), dir)?;
    let parsed = rtt_trust::parse_plan(&bytes)?;
    if let Some(expected) = &args.hash {
        rtt_trust::verify::check_hash(&parsed, expected)?;
    }
    let in_force = |applied: Option<&rtt_trust::AppliedState>| applied.is_some_and(|a| a.plan == parsed.hash);
    // Verified before anything is touched (lock, WAL, recovery included)…
    let applied = rtt_trust::state::read_applied(&workspace.state_dir())?;
    if in_force(applied.as_ref()) {
        // The plan in force again: its serial is not above the highest
        // applied (it is that one), so only its signatures are checked.
        let store = rtt_trust::TrustStore::load(&workspace.trust_dir())?;
        rtt_trust::verify::check_signatures(&parsed, &store)?;
    } else {
        admission::plan_for_apply(&bytes, &workspace, applied.as_ref())?;
    }
    crate::profiles::check_plan_profiles(&parsed.document, &workspace.layout)?;
    for warning in SandboxReport::of(&fleet).warnings() {
        eprintln!("rtt: {warning}");
    }
    let mut coordinator = start(&workspace, fleet)?;
    coordinator.record_always = args.flight_record;
    finish_open_transaction(&mut coordinator)?;
    if in_force(coordinator.applied()?.as_ref()) {
        let (hash, serial) = (parsed.hash.to_string(), parsed.document.serial);
        emit(
            args.format,
            || format!("nothing to do: plan {hash} (serial {serial}) is already in force\n"),
            || serde_json::json!({"kind": "rtt.apply", "action": Action::Apply.name(), "result": "nothing to do", "plan": hash, "serial": serial}),
        );
        return conclude(coordinator, Ok(None), Action::Apply, args.format, None);
    }
    // …and again against the applied state recovery may have moved.
    let plan = admission::plan_for_apply(&bytes, &workspace, coordinator.applied()?.as_ref())?;
    let ticker = crate::output::Ticker::start(&format!(
        "apply: plan serial {} (two-phase commit, then verify)",
        parsed.document.serial
    ));
    let from = coordinator.applied()?.map(|state| state.plan);
    let mut result = coordinator.apply(&plan);
    drop(ticker);
    let mut soaked = None;
    if let (Ok(report), Some(duration)) = (&result, args.soak) {
        let interval = args
            .soak_interval
            .unwrap_or_else(|| (duration / 10).clamp(Duration::from_millis(100), Duration::from_secs(5)));
        let soak = Soak { duration, interval, sources: args.gate.sources.sources(), policy: args.gate.policy() };
        let ticker = crate::output::Ticker::start(&format!(
            "soak: watching route latency for {} (SLO gate; a breach rolls back)",
            humantime::format_duration(duration)
        ));
        match coordinator.soak(report, from, &plan, &soak) {
            Ok(report) => soaked = Some(report),
            Err(e) => result = Err(e),
        }
        drop(ticker);
    }
    conclude(coordinator, result.map(Some), Action::Apply, args.format, soaked)
}

pub fn recover(args: &WorkspaceArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    rtt_durable::arm_disk_faults();
    let (_, mut coordinator) = open(args.config.as_deref(), dir)?;
    let result = coordinator.recover();
    if matches!(result, Ok(None)) {
        emit(
            args.format,
            || "nothing to recover: every transaction in the WAL is finished\n".to_owned(),
            || serde_json::json!({"kind": "rtt.apply", "action": Action::Recover.name(), "result": "nothing to do"}),
        );
    }
    conclude(coordinator, result, Action::Recover, args.format, None)
}

pub fn rollback(args: &WorkspaceArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    rtt_durable::arm_disk_faults();
    let (workspace, mut coordinator) = open(args.config.as_deref(), dir)?;
    finish_open_transaction(&mut coordinator)?;
    let previous = coordinator.previous_plan()?;
    let previous = admission::kept_plan_for_rollback(previous, &workspace)?;
    let result = coordinator.rollback(&previous);
    conclude(coordinator, result.map(Some), Action::Rollback, args.format, None)
}

/// `rtt drift`: every host read through its driver against the plan in
/// force; with `--repair`, the drifted hosts put back in one transaction.
pub fn drift(args: &DriftArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    rtt_durable::arm_disk_faults();
    let (_, mut coordinator) = open(args.config.as_deref(), dir)?;
    finish_open_transaction(&mut coordinator)?;
    // One read of the fleet either way: a repair reads it itself.
    let drifted = if args.repair {
        match coordinator.repair() {
            Ok(None) => Vec::new(),
            result => return conclude(coordinator, result, Action::Repair, args.format, None),
        }
    } else {
        match coordinator.drift() {
            Ok(drifted) => drifted,
            Err(e) => return conclude(coordinator, Err(e), Action::Repair, args.format, None),
        }
    };
    let (problems, _) = coordinator.finish();
    for problem in problems {
        eprintln!("rtt: warning: {problem}");
    }
    emit(
        args.format,
        || {
            if drifted.is_empty() {
                return "no drift: every host holds the plan in force\n".to_owned();
            }
            let mut out = format!("drift on {} host{}:\n", drifted.len(), if drifted.len() == 1 { "" } else { "s" });
            for d in &drifted {
                let show = |rows: &[rtt_apply::driver::protocol::Placement]| {
                    if rows.is_empty() {
                        return "nothing".to_owned();
                    }
                    rows.iter()
                        .map(|p| format!("{}×{} on numa {}", p.agent, p.replicas, p.numa))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                out.push_str(&format!(
                    "  {} (driver {}): holds {}; the plan places {}\n",
                    d.host,
                    d.driver,
                    show(&d.have),
                    show(&d.want)
                ));
            }
            out.push_str("repair with `rtt drift --repair` (the plan's placements back on these hosts only)\n");
            out
        },
        || serde_json::json!({"kind": "rtt.drift", "drifted": drifted}),
    );
    Ok(if drifted.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(crate::exit::EXIT_DRIFT) })
}

pub fn status(args: &StatusArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let path = config_path(args.config.as_deref())?;
    let workspace = crate::workspace::apply_workspace(&path, dir);
    let status = status::read(&workspace)?;
    // The sandbox is the config's and the machine's, not the state's: shown
    // when the config loads (status also serves a broken config's state).
    let sandbox = rtt_schema::load(&path)
        .ok()
        .and_then(|loaded| Fleet::from_model(&loaded.model, &workspace.base, &workspace.layout).ok())
        .map(|fleet| SandboxReport::of(&fleet));
    match args.format {
        Format::Json => {
            let mut value =
                serde_json::to_value(&status).map_err(|e| ApplyProblem::Encode { reason: e.to_string() })?;
            if let (Some(object), Some(sandbox)) = (value.as_object_mut(), &sandbox) {
                object.insert("sandbox".into(), sandbox.json());
            }
            let text =
                serde_json::to_string_pretty(&value).map_err(|e| ApplyProblem::Encode { reason: e.to_string() })?;
            println!("{text}");
        }
        Format::Text => {
            print!("{}", render_status(&status));
            if let Some(sandbox) = &sandbox {
                print!("{}", sandbox.text());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The driver sandbox as this machine and config have it: the layers the
/// kernel gives (`rtt-sandbox --probe`), and each external driver's mode.
struct SandboxReport {
    /// `None`: the probe could not run.
    layers: Option<rtt_apply::driver::sandbox::enforce::Layers>,
    drivers: Vec<(String, rtt_apply::driver::sandbox::Mode)>,
}

impl SandboxReport {
    fn of(fleet: &Fleet) -> Self {
        let drivers: Vec<_> = fleet
            .drivers
            .iter()
            .filter_map(|(name, config)| match config {
                rtt_apply::workspace::DriverConfig::Command { sandbox, .. } => Some((name.clone(), *sandbox)),
                // Started by rtt only when sandboxable: the built-in runs in rtt, a socket driver elsewhere.
                rtt_apply::workspace::DriverConfig::Dir { .. } | rtt_apply::workspace::DriverConfig::Socket { .. } => {
                    None
                }
            })
            .collect();
        let layers = if drivers.is_empty() { None } else { probe() };
        Self { layers, drivers }
    }

    fn missing(&self) -> Vec<&'static str> {
        self.layers.as_ref().map_or_else(|| vec!["every layer (the probe did not run)"], |l| l.missing())
    }

    /// Warnings for stderr at apply start: missing layers, drivers unsandboxed.
    fn warnings(&self) -> Vec<String> {
        use rtt_apply::driver::sandbox::Mode;
        let mut out = Vec::new();
        if self.drivers.iter().any(|(_, m)| *m != Mode::Off) && !self.missing().is_empty() {
            out.push(format!(
                "sandbox: this machine lacks {}; drivers run without it (`sandbox: required` refuses to)",
                self.missing().join(", ")
            ));
        }
        for (name, mode) in &self.drivers {
            if *mode == Mode::Off {
                out.push(format!("SANDBOX OFF for driver `{name}`: it runs with every right rtt has (`sandbox: off`)"));
            }
        }
        out
    }

    fn text(&self) -> String {
        use rtt_apply::driver::sandbox::Mode;
        if self.drivers.is_empty() {
            return "sandbox: no external drivers\n".into();
        }
        let mut out = match self.missing().as_slice() {
            [] => "sandbox: every layer (no_new_privs, rlimits, mount and network namespaces, landlock, seccomp)\n"
                .to_owned(),
            missing => format!("sandbox: MISSING {}\n", missing.join(", ")),
        };
        for (name, mode) in &self.drivers {
            let mode = match mode {
                Mode::Default => "sandboxed",
                Mode::Required => "sandboxed (required)",
                Mode::Off => "SANDBOX OFF",
            };
            out.push_str(&format!("  driver {name}: {mode}\n"));
        }
        out
    }

    fn json(&self) -> serde_json::Value {
        use rtt_apply::driver::sandbox::Mode;
        let drivers: serde_json::Map<String, serde_json::Value> = self
            .drivers
            .iter()
            .map(|(name, mode)| {
                let mode = match mode {
                    Mode::Default => "default",
                    Mode::Required => "required",
                    Mode::Off => "off",
                };
                (name.clone(), serde_json::Value::from(mode))
            })
            .collect();
        serde_json::json!({"layers": self.layers, "missing": self.missing(), "drivers": drivers})
    }
}

/// Runs `rtt-sandbox --probe` (a child: the layers are irreversible).
fn probe() -> Option<rtt_apply::driver::sandbox::enforce::Layers> {
    let out = std::process::Command::new(crate::workspace::sandbox_launcher()?).arg("--probe").output().ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

pub fn wal_verify(args: &WorkspaceArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let workspace = crate::workspace::apply_workspace(&config_path(args.config.as_deref())?, dir);
    let (report, _) = status::verify_wal(&workspace)?;
    emit(
        args.format,
        || {
            let mut out = format!("WAL intact: {} records, {} transactions", report.records, report.transactions);
            if let Some(seq) = report.anchored_seq {
                out.push_str(&format!(", anchored at seq {seq}"));
            }
            out.push('\n');
            if let Some(bytes) = report.torn_bytes {
                out.push_str(&format!(
                    "torn last record ({bytes} bytes) tolerated: a crash interrupted its write; the next apply sets it aside\n"
                ));
            }
            out
        },
        || {
            serde_json::json!({"kind": "rtt.wal.verify", "ok": true, "records": report.records,
                "transactions": report.transactions, "anchored_seq": report.anchored_seq, "torn_bytes": report.torn_bytes})
        },
    );
    Ok(ExitCode::SUCCESS)
}

fn load(config: Option<&Path>, dir: Option<&Path>) -> Result<(Workspace, Fleet), Failure> {
    let path = config_path(config)?;
    let loaded = rtt_schema::load(&path)?;
    let workspace = crate::workspace::apply_workspace(&path, dir);
    let fleet = Fleet::from_model(&loaded.model, &workspace.base, &workspace.layout)?;
    Ok((workspace, fleet))
}

/// A coordinator holding the lock, its WAL checked.
fn start(workspace: &Workspace, fleet: Fleet) -> Result<Coordinator, Failure> {
    // A step of `rtt reconcile --etcd` shares every write under its
    // leadership; any other coordinator on a cluster's copy is refused
    // before it takes the lock.
    let replica = rtt_ha::replica_from_env(&workspace.layout)?;
    let mut coordinator = Coordinator::open(workspace.clone(), fleet, Faults::from_env("coordinator"))?;
    if let Some(replica) = replica {
        coordinator.share(Box::new(replica));
    }
    for note in std::mem::take(&mut coordinator.notes) {
        crate::output::note(format_args!("note: {note}"));
    }
    Ok(coordinator)
}

/// The config, its workspace and a coordinator holding the lock.
fn open(config: Option<&Path>, dir: Option<&Path>) -> Result<(Workspace, Coordinator), Failure> {
    let (workspace, fleet) = load(config, dir)?;
    let coordinator = start(&workspace, fleet)?;
    Ok((workspace, coordinator))
}

/// Recovery at the start of `apply` and `rollback` (SPEC §8).
fn finish_open_transaction(coordinator: &mut Coordinator) -> Result<(), Failure> {
    if let Some(report) = coordinator.recover()? {
        crate::output::note(format_args!("recovered transaction {}: {}", report.txn, describe(&report)));
    }
    Ok(())
}

/// Closes drivers (breakers and telemetry saved) and reports the outcome.
fn conclude(
    coordinator: Coordinator,
    result: Result<Option<Report>, rtt_apply::coordinator::ApplyError>,
    action: Action,
    format: Format,
    soaked: Option<SoakReport>,
) -> Result<ExitCode, Failure> {
    let (problems, flights) = coordinator.finish();
    for problem in problems {
        eprintln!("rtt: warning: {problem}");
    }
    for flight in &flights {
        crate::output::note(format_args!(
            "flight record: {} (rtt flight show {})",
            flight.display(),
            flight.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
        ));
    }
    if let Some(soaked) = &soaked {
        for problem in &soaked.problems {
            eprintln!("rtt: warning: during the soak: {problem}");
        }
    }
    let report = result?;
    if let Some(report) = report {
        emit(
            format,
            || {
                let mut out = format!("{}: transaction {} {}\n", action.done(), report.txn, describe(&report));
                if let Some(soaked) = &soaked {
                    out.push_str(&format!("soak      {} samples read\n", soaked.samples));
                    out.push_str(&crate::render::telemetry::render_verdict(&soaked.verdict));
                    match &soaked.rollback {
                        Some(Ok(back)) => out.push_str(&format!(
                            "rollback  automatic, by transaction {}: {}\n",
                            back.txn,
                            describe(back)
                        )),
                        Some(Err(reason)) => out.push_str(&format!("rollback  FAILED: {reason}\n")),
                        None => {}
                    }
                }
                out
            },
            || {
                let result = match report.outcome {
                    Outcome::Committed => "committed",
                    Outcome::Aborted => "aborted",
                };
                let mut value = serde_json::json!({"kind": "rtt.apply", "action": action.name(), "result": result,
                    "txn": report.txn, "epoch": report.epoch, "hosts_changed": report.hosts_changed,
                    "drivers": report.drivers});
                if let (Some(soaked), Some(object)) = (&soaked, value.as_object_mut()) {
                    object.insert("soak_samples".into(), soaked.samples.into());
                    object.insert("gate".into(), serde_json::to_value(&soaked.verdict).unwrap_or_default());
                    let rollback = match &soaked.rollback {
                        Some(Ok(back)) => {
                            serde_json::json!({"result": "committed", "txn": back.txn, "epoch": back.epoch})
                        }
                        Some(Err(reason)) => serde_json::json!({"result": "failed", "reason": reason}),
                        None => serde_json::Value::Null,
                    };
                    object.insert("rollback".into(), rollback);
                }
                value
            },
        );
    }
    Ok(match soaked.as_ref().map(|s| (&s.verdict.outcome, &s.rollback)) {
        Some((_, Some(Err(_)))) => ExitCode::from(crate::exit::EXIT_INVALID),
        Some((rtt_telemetry::gate::Outcome::Breach, _)) => ExitCode::from(crate::exit::EXIT_BREACH),
        _ => ExitCode::SUCCESS,
    })
}

/// The command that moved the fleet, as its report names it.
#[derive(Debug, Clone, Copy)]
enum Action {
    Apply,
    Recover,
    Rollback,
    Repair,
}

impl Action {
    /// `action` in `--format json`.
    fn name(self) -> &'static str {
        match self {
            Action::Apply => "apply",
            Action::Recover => "recover",
            Action::Rollback => "rollback",
            Action::Repair => "repair",
        }
    }

    /// The text report's first word.
    fn done(self) -> &'static str {
        match self {
            Action::Apply => "applied",
            Action::Recover => "recovered",
            Action::Rollback => "rolled back to",
            Action::Repair => "repaired drift",
        }
    }
}

fn describe(report: &Report) -> String {
    let what = match report.outcome {
        Outcome::Committed => "committed and verified",
        Outcome::Aborted => "aborted everywhere; nothing changed",
    };
    format!(
        "{what} (epoch {}, {} host{} changed through {})",
        report.epoch,
        report.hosts_changed,
        if report.hosts_changed == 1 { "" } else { "s" },
        if report.drivers.is_empty() { "no driver".to_owned() } else { report.drivers.join(", ") }
    )
}

fn render_status(status: &Status) -> String {
    let mut out = String::new();
    match &status.applied {
        Some(applied) => out.push_str(&format!(
            "applied   {} serial {} (highest applied serial {})\n",
            applied.plan, applied.serial, applied.highest_serial
        )),
        None => out.push_str("applied   nothing yet\n"),
    }
    out.push_str(&format!(
        "wal       {} records, {} transactions, chain intact",
        status.wal.records, status.wal.transactions
    ));
    if let Some(bytes) = status.wal.torn_bytes {
        out.push_str(&format!(", torn last record of {bytes} bytes"));
    }
    out.push('\n');
    if status.in_doubt.is_empty() {
        out.push_str("in doubt  none\n");
    }
    for txn in &status.in_doubt {
        let decision = match txn.decision {
            Some(decision) => format!("decision {decision:?} logged: recovery re-sends it").to_lowercase(),
            None => "no decision logged: recovery aborts it".to_owned(),
        };
        out.push_str(&format!("in doubt  {} → {} ({decision}; drivers {})\n", txn.txn, txn.to, txn.drivers.join(", ")));
    }
    if let Some(txn) = &status.rollback_pending {
        out.push_str(&format!("pending   rollback of {txn} after a failed verify or SLO gate (rtt recover)\n"));
    }
    if status.breakers.is_empty() {
        out.push_str("breakers  none used yet\n");
    }
    for (driver, breaker) in &status.breakers {
        out.push_str(&format!(
            "breaker   {driver}: {} ({} consecutive failure{})\n",
            format!("{:?}", breaker.position).to_lowercase(),
            breaker.failures,
            if breaker.failures == 1 { "" } else { "s" }
        ));
    }
    if let Some((txn, outcome)) = &status.last_gate {
        out.push_str(&format!("gate      last verdict: {} on {txn}\n", outcome.name()));
    }
    let rows: Vec<crate::render::telemetry::RouteRow> = status
        .routes
        .iter()
        .map(|r| {
            crate::render::telemetry::RouteRow::observed(r.route.clone(), r.planned_p99_us, r.slo_p99_us, r.observed)
        })
        .collect();
    out.push_str(&crate::render::telemetry::route_table(&rows));
    for (driver, seen) in &status.queue_depths {
        out.push_str(&format!("queue     {driver}: {} waiting\n", seen.queue_depth));
    }
    if !status.phases.is_empty() {
        out.push_str("phases    driver          phase       count     p50 µs     p95 µs     p99 µs\n");
    }
    for (driver, phases) in &status.phases {
        for (phase, q) in phases {
            out.push_str(&format!(
                "          {driver:<15} {phase:<9} {:>7} {:>10} {:>10} {:>10}\n",
                q.count, q.p50_us, q.p95_us, q.p99_us
            ));
        }
    }
    out
}

/// Failures of these commands that are not the library's.
#[derive(Debug, thiserror::Error, Diagnostic)]
enum ApplyProblem {
    /// JSON output.
    #[error("failed to encode the status: {reason}")]
    #[diagnostic(code(rtt::apply::encode))]
    Encode { reason: String },
}
