//! `rtt chaos`: the chaos pack (docs/chaos.md). Each scenario injects a
//! fault into `rtt apply` of a plan on a throwaway copy of the workspace —
//! the coordinator killed at every step, a driver that crashes, hangs, is
//! slow or answers garbage in each phase, a full disk at every fsync, a slow
//! disk, telemetry that breaches the SLOs during a soak — then recovers and
//! judges: every host wholly on the previous plan or wholly on the next
//! (survived), some on each (mixed), or anything else (lost). The real
//! workspace is only read; the report and each case's flight record are
//! written under `--out`.

pub mod check;
pub mod proxy;
pub mod scenario;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};

use miette::Diagnostic;
use rtt_apply::coordinator::Coordinator;
use rtt_apply::coordinator::changes::by_host;
use rtt_apply::driver::protocol::HostPlacements;
use rtt_apply::fault::Faults;
use rtt_apply::workspace::{DriverConfig, Fleet};
use rtt_canonical::Sha256;
use rtt_plan::PlanDocument;
use serde::Serialize;

use crate::cli::{ChaosRunArgs, Format};
use crate::exit::{EXIT_INVALID, Failure};
use check::{Ending, Holds, Verdict};
use scenario::{DriverFault, Inject, Scenario};

/// The config file written into each copy.
const CASE_CONFIG: &str = "rtt-chaos.json";
/// Deadline of a wrapped driver's calls in a copy, ms (a hang costs this).
const CASE_TIMEOUT_MS: u64 = 2_000;

/// One case's outcome.
#[derive(Debug, Serialize)]
pub struct CaseResult {
    /// What was injected.
    pub case: String,
    /// `rtt apply`'s exit code (`None`: killed).
    pub apply_exit: Option<i32>,
    /// `rtt recover` runs it took.
    pub recoveries: usize,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The case's newest flight record, copied under `--out`.
    pub flight: Option<String>,
}

/// One scenario's outcome.
#[derive(Debug, Serialize)]
pub struct ScenarioResult {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Counts of survived, mixed, lost.
    pub tally: BTreeMap<&'static str, usize>,
    /// Why it ran no case, if it ran none.
    pub skipped: Option<String>,
    /// Every case.
    pub cases: Vec<CaseResult>,
}

/// The workspace under test, read once.
struct Subject {
    source: PathBuf,
    /// Paths of the source not copied: earlier chaos reports, live flight segments.
    exclude: Vec<PathBuf>,
    config: serde_json::Value,
    fleet: Fleet,
    next_path: PathBuf,
    next: PlanDocument,
    next_hash: Sha256,
    previous_hash: Option<Sha256>,
    previous_hosts: HostPlacements,
    next_hosts: HostPlacements,
    touched: Vec<String>,
}

/// `rtt chaos proxy`: parses `FAULT@POINT` and runs the proxy.
pub fn proxy_command(fault: &str, marker: PathBuf, command: Vec<String>) -> Result<ExitCode, Failure> {
    let bad = |reason: String| BadScenario { name: fault.to_owned(), reason };
    let (kind, point) = fault.rsplit_once('@').ok_or_else(|| bad("expected FAULT@POINT".into()))?;
    let fault = match kind.split_once(':') {
        None if kind == "crash" => proxy::Fault::Crash,
        None if kind == "hang" => proxy::Fault::Hang,
        None if kind == "garbage" => proxy::Fault::Garbage,
        Some(("slow", ms)) => proxy::Fault::Slow(std::time::Duration::from_millis(
            ms.parse().map_err(|_| bad(format!("`{ms}` is not a number of ms")))?,
        )),
        Some(("breach", routes)) => proxy::Fault::Breach(
            routes
                .split(',')
                .map(|route| {
                    let (edge, us) =
                        route.rsplit_once('=').ok_or_else(|| bad(format!("`{route}`: expected FROM->TO=US")))?;
                    let (from, to) =
                        edge.split_once("->").ok_or_else(|| bad(format!("`{edge}`: expected FROM->TO")))?;
                    let us = us.parse().map_err(|_| bad(format!("`{us}` is not a number of µs")))?;
                    Ok((from.to_owned(), to.to_owned(), us))
                })
                .collect::<Result<Vec<_>, BadScenario>>()?,
        ),
        _ => return Err(bad(format!("unknown fault `{kind}`: crash, hang, garbage, slow:MS or breach:…")).into()),
    };
    Ok(proxy::run(&proxy::Proxy { fault, point: point.to_owned(), marker, command }))
}

pub fn list() -> Result<ExitCode, Failure> {
    for (name, text) in scenario::BUNDLED {
        let parsed = scenario::parse(text).map_err(|reason| BadScenario { name: name.to_owned(), reason })?;
        println!("{name:<18} {}{}", parsed.description, if parsed.quick { "" } else { " (not in --quick)" });
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: &ChaosRunArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let scenarios = scenarios(&args.scenarios, args.quick)?;
    let subject = subject(args, dir)?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => crate::workspace::rtt_dir(dir, Some(&subject.source.join("x"))).root().join("chaos").join(stamp()),
    };
    std::fs::create_dir_all(&out).map_err(|e| Unusable { reason: format!("cannot create {}: {e}", out.display()) })?;
    let scratch = tempfile::tempdir().map_err(|e| Unusable { reason: format!("no scratch directory: {e}") })?;
    let mut results = Vec::new();
    for scenario in &scenarios {
        crate::output::note(format_args!("chaos: {} — {}", scenario.name, scenario.description));
        results.push(run_scenario(&subject, scenario, args.quick, scratch.path(), &out)?);
    }
    let totals: BTreeMap<&str, usize> = results.iter().fold(BTreeMap::new(), |mut acc, r| {
        for (k, v) in &r.tally {
            *acc.entry(*k).or_default() += v;
        }
        acc
    });
    let report = serde_json::json!({"kind": "rtt.chaos", "plan": subject.next_hash.to_string(),
        "previous": subject.previous_hash.map(|h| h.to_string()), "totals": totals, "scenarios": results});
    let report_path = out.join("report.json");
    std::fs::write(&report_path, format!("{report:#}\n"))
        .map_err(|e| Unusable { reason: format!("cannot write {}: {e}", report_path.display()) })?;
    match args.format {
        Format::Json => println!("{report:#}"),
        Format::Text => print!("{}", render(&results, &report_path)),
    }
    let clean = totals.get("mixed").copied().unwrap_or(0) == 0 && totals.get("lost").copied().unwrap_or(0) == 0;
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::from(EXIT_INVALID) })
}

fn render(results: &[ScenarioResult], report: &Path) -> String {
    let mut out = String::from("scenario            cases  survived  mixed  lost\n");
    for result in results {
        let count = |k| result.tally.get(k).copied().unwrap_or(0);
        match &result.skipped {
            Some(why) => out.push_str(&format!("{:<18}  skipped: {why}\n", result.name)),
            None => out.push_str(&format!(
                "{:<18} {:>6} {:>9} {:>6} {:>5}\n",
                result.name,
                result.cases.len(),
                count("survived"),
                count("mixed"),
                count("lost")
            )),
        }
        for case in &result.cases {
            if !matches!(case.verdict, Verdict::Survived { .. }) {
                out.push_str(&format!(
                    "  {}: {:?}{}\n",
                    case.case,
                    case.verdict,
                    case.flight.as_ref().map(|f| format!(" (flight record {f})")).unwrap_or_default()
                ));
            }
        }
    }
    out.push_str(&format!("report: {}\n", report.display()));
    out
}

fn scenarios(names: &[String], quick: bool) -> Result<Vec<Scenario>, Failure> {
    let mut chosen = Vec::new();
    if names.is_empty() {
        for (name, text) in scenario::BUNDLED {
            let parsed = scenario::parse(text).map_err(|reason| BadScenario { name: name.to_owned(), reason })?;
            if parsed.quick || !quick {
                chosen.push(parsed);
            }
        }
        return Ok(chosen);
    }
    for name in names {
        let text = match scenario::BUNDLED.iter().find(|(n, _)| n == name) {
            Some((_, text)) => (*text).to_owned(),
            None => std::fs::read_to_string(name).map_err(|e| BadScenario {
                name: name.clone(),
                reason: format!("not a bundled scenario (`rtt chaos list`) nor a readable file: {e}"),
            })?,
        };
        chosen.push(scenario::parse(&text).map_err(|reason| BadScenario { name: name.clone(), reason })?);
    }
    Ok(chosen)
}

fn subject(args: &ChaosRunArgs, dir: Option<&Path>) -> Result<Subject, Failure> {
    let config_path = crate::files::config_path(args.config.as_deref())?;
    let loaded = rtt_schema::load(&config_path)?;
    let source =
        std::fs::canonicalize(config_path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")))
            .map_err(|e| Unusable { reason: format!("cannot resolve the workspace: {e}") })?;
    let workspace = crate::workspace::apply_workspace(&config_path, dir);
    if !std::fs::canonicalize(workspace.layout.root()).is_ok_and(|root| root.starts_with(&source))
        && workspace.layout.root().exists()
    {
        return Err(Unusable {
            reason: "the rtt directory is outside the config's directory, so a copy would not hold it".into(),
        }
        .into());
    }
    let fleet = Fleet::from_model(&loaded.model, &source, &workspace.layout)?;
    for (name, driver) in &fleet.drivers {
        match driver {
            DriverConfig::Socket { .. } => return Err(socket_refused(name)),
            DriverConfig::Dir { root } | DriverConfig::Command { root, .. } if !root.starts_with(&source) => {
                return Err(Unusable {
                    reason: format!(
                        "driver `{name}` keeps its state at {}, outside the workspace, which a copy cannot hold",
                        root.display()
                    ),
                }
                .into());
            }
            _ => {}
        }
    }
    let next_path = std::fs::canonicalize(&args.plan)
        .map_err(|e| Unusable { reason: format!("cannot read the plan {}: {e}", args.plan.display()) })?;
    let parsed = rtt_trust::parse_plan(&crate::files::read_plan_bytes(&next_path)?)?;
    let applied = rtt_trust::state::read_applied(&workspace.state_dir())?;
    let (previous_hash, previous_hosts) = match applied {
        Some(state) => (Some(state.plan), by_host(&workspace.load_plan(&state.plan)?.0.placements)),
        None => (None, HostPlacements::new()),
    };
    if previous_hash == Some(parsed.hash) {
        return Err(Unusable { reason: "the plan is already in force: give the plan to move to".into() }.into());
    }
    let next_hosts = by_host(&parsed.document.placements);
    let mut touched: Vec<String> = fleet
        .driver_of
        .iter()
        .filter(|(host, _)| previous_hosts.get(*host) != next_hosts.get(*host))
        .map(|(_, driver)| driver.clone())
        .collect();
    touched.sort();
    touched.dedup();
    let config = loaded.normalized_json().map_err(|e| Unusable { reason: e.to_string() })?;
    let rtt_dir = rtt_durable::Layout::beside(&source.join(CASE_CONFIG));
    let exclude = vec![
        rtt_dir.root().join("chaos"),
        rtt_dir.flight().join("live.jsonl"),
        rtt_dir.flight().join("live.old.jsonl"),
    ];
    Ok(Subject {
        source,
        exclude,
        config,
        fleet,
        next_path,
        next: parsed.document,
        next_hash: parsed.hash,
        previous_hash,
        previous_hosts,
        next_hosts,
        touched,
    })
}

/// How one case misbehaves.
#[derive(Debug, Clone)]
struct Case {
    label: String,
    env: Vec<(String, String)>,
    wrap: Option<(String, String)>,
    extra: Vec<String>,
}

impl Case {
    /// A case whose fault is one environment variable of the coordinator.
    fn env(label: String, key: &str, value: String) -> Case {
        Case { label, env: vec![(key.to_owned(), value)], wrap: None, extra: Vec::new() }
    }
}

fn run_scenario(
    subject: &Subject,
    scenario: &Scenario,
    quick: bool,
    scratch: &Path,
    out: &Path,
) -> Result<ScenarioResult, Failure> {
    let mut cases = Vec::new();
    let mut skipped = None;
    match &scenario.inject {
        Inject::CoordinatorKill {} => {
            let points = trace(subject, scratch, "RTT_FAULT_TRACE", "coordinator ")?;
            for n in sample(points, quick) {
                cases.push(Case::env(format!("kill@{n}"), "RTT_FAULT", format!("coordinator@{n}")));
            }
        }
        Inject::Enospc {} => {
            let fsyncs = trace(subject, scratch, "RTT_DISK_TRACE", "fsync ")?;
            for n in sample(fsyncs, quick) {
                cases.push(Case::env(format!("enospc@{n}"), "RTT_DISK_FAULT", format!("enospc@{n}")));
            }
        }
        Inject::SlowDisk { delay_ms } => {
            cases.push(Case::env(format!("fsync+{delay_ms}ms"), "RTT_DISK_DELAY_MS", delay_ms.to_string()));
        }
        Inject::Driver { fault, phases, delay_ms } => {
            let drivers = if quick { &subject.touched[..subject.touched.len().min(1)] } else { &subject.touched[..] };
            for driver in drivers {
                for phase in phases {
                    let spec = match fault {
                        DriverFault::Crash => format!("crash@{phase}"),
                        DriverFault::Hang => format!("hang@{phase}"),
                        DriverFault::Garbage => format!("garbage@{phase}"),
                        DriverFault::Slow => format!("slow:{}@{phase}", delay_ms.unwrap_or(0)),
                    };
                    cases.push(Case {
                        label: format!("{driver} {spec}"),
                        env: vec![],
                        wrap: Some((driver.clone(), spec)),
                        extra: vec![],
                    });
                }
            }
            if subject.touched.is_empty() {
                skipped = Some("the plan changes no host, so no driver is called".to_owned());
            }
        }
        Inject::TelemetryBreach { soak_ms } => {
            let breaching: Vec<String> = subject
                .next
                .routes
                .iter()
                .filter_map(|r| r.slo_p99_us.map(|slo| format!("{}->{}={}", r.from, r.to, (slo * 10.0).ceil() as u64)))
                .collect();
            match (breaching.is_empty(), subject.touched.first(), subject.previous_hash) {
                (true, _, _) => skipped = Some("the plan has no route with an SLO".to_owned()),
                (_, None, _) => skipped = Some("the plan changes no host".to_owned()),
                (_, _, None) => skipped = Some("nothing is in force to roll back to".to_owned()),
                (false, Some(driver), Some(_)) => cases.push(Case {
                    label: format!("{driver} breach"),
                    env: vec![],
                    wrap: Some((driver.clone(), format!("breach:{}@Health", breaching.join(",")))),
                    extra: vec!["--soak".into(), format!("{soak_ms}ms"), "--soak-interval".into(), "100ms".into()],
                }),
            }
        }
    }
    let mut results = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        results.push(run_case(subject, scenario, case, &scratch.join(format!("{}-{index}", scenario.name)), out)?);
    }
    let verdicts: Vec<&Verdict> = results.iter().map(|r| &r.verdict).collect();
    Ok(ScenarioResult {
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        tally: check::tally(&verdicts),
        skipped,
        cases: results,
    })
}

/// Up to 8 points spread over 1..=n in the short pack, every point otherwise.
fn sample(n: usize, quick: bool) -> Vec<usize> {
    if !quick || n <= 8 {
        return (1..=n).collect();
    }
    let mut points: Vec<usize> = (0..8).map(|i| 1 + i * (n - 1) / 7).collect();
    points.dedup();
    points
}

/// Counts the points a clean apply reaches (fault points or fsyncs).
fn trace(subject: &Subject, scratch: &Path, variable: &str, prefix: &str) -> Result<usize, Failure> {
    let copy = scratch.join(format!("trace-{}", variable.to_lowercase()));
    prepare(subject, &copy, None)?;
    let file = scratch.join(format!("{}.trace", variable.to_lowercase()));
    let _ = std::fs::remove_file(&file);
    let output = rtt(
        &copy,
        &["apply", &subject.next_path.display().to_string(), "--config", CASE_CONFIG],
        &[(variable.to_owned(), file.display().to_string())],
    );
    if !output.status.success() {
        return Err(Unusable {
            reason: format!(
                "the plan does not apply cleanly on a copy, so faults cannot be judged: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }
        .into());
    }
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&copy);
    Ok(text.lines().filter(|l| l.starts_with(prefix)).count())
}

fn run_case(
    subject: &Subject,
    scenario: &Scenario,
    case: &Case,
    copy: &Path,
    out: &Path,
) -> Result<CaseResult, Failure> {
    prepare(subject, copy, case.wrap.as_ref())?;
    let mut apply =
        vec!["apply".to_owned(), subject.next_path.display().to_string(), "--config".into(), CASE_CONFIG.into()];
    apply.extend(case.extra.iter().cloned());
    let apply_args: Vec<&str> = apply.iter().map(String::as_str).collect();
    let applied = rtt(copy, &apply_args, &case.env);
    let mut recoveries = 0;
    let mut log_clean = Err("recovery did not finish".to_owned());
    for _ in 0..3 {
        recoveries += 1;
        let recovered = rtt(copy, &["recover", "--config", CASE_CONFIG], &[]);
        let status = rtt(copy, &["status", "--config", CASE_CONFIG, "--format", "json"], &[]);
        let parsed: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
        log_clean = if !status.status.success() {
            Err(format!("status fails: {}", String::from_utf8_lossy(&status.stderr).trim()))
        } else if parsed["in_doubt"].as_array().is_some_and(|a| !a.is_empty()) || parsed["rollback_pending"].is_string()
        {
            Err(format!("still unfinished after recovery: {}", String::from_utf8_lossy(&recovered.stderr).trim()))
        } else {
            Ok(())
        };
        if log_clean.is_ok() {
            break;
        }
    }
    let verdict = match ending(subject, copy, log_clean) {
        Ok(ending) => check::judge(&ending, &subject.previous_hosts, &subject.next_hosts, scenario.expect),
        Err(reason) => Verdict::Lost { reason },
    };
    let flight = keep_flight(copy, out, &scenario.name, &case.label);
    let _ = std::fs::remove_dir_all(copy);
    Ok(CaseResult { case: case.label.clone(), apply_exit: applied.status.code(), recoveries, verdict, flight })
}

/// What the copy holds now, read through its drivers.
fn ending(subject: &Subject, copy: &Path, log_clean: Result<(), String>) -> Result<Ending, String> {
    let config = copy.join(CASE_CONFIG);
    let loaded = rtt_schema::load(&config).map_err(|e| e.to_string())?;
    let workspace = crate::workspace::apply_workspace(&config, None);
    let fleet = Fleet::from_model(&loaded.model, copy, &workspace.layout).map_err(|e| e.to_string())?;
    let applied = rtt_trust::state::read_applied(&workspace.state_dir()).map_err(|e| e.to_string())?;
    let pointer = match applied.map(|a| a.plan) {
        Some(hash) if hash == subject.next_hash => Some(Holds::Next),
        Some(hash) if Some(hash) == subject.previous_hash => Some(Holds::Previous),
        None if subject.previous_hash.is_none() => Some(Holds::Previous),
        _ => None,
    };
    let mut coordinator = Coordinator::open(workspace, fleet, Faults::disabled()).map_err(|e| e.to_string())?;
    let hosts = coordinator.read_hosts().map_err(|e| format!("the drivers cannot be read: {e}"));
    let _ = coordinator.finish();
    Ok(Ending { hosts: hosts?, pointer, log_clean })
}

/// Copies the workspace to `copy` and writes its config: every driver as in
/// the original, rooted in the copy, and `wrap`'s driver behind the fault
/// proxy (a built-in driver becomes `rtt driver dir` for that).
fn prepare(subject: &Subject, copy: &Path, wrap: Option<&(String, String)>) -> Result<(), Failure> {
    let _ = std::fs::remove_dir_all(copy);
    copy_tree(&subject.source, copy, &subject.exclude)
        .map_err(|e| Unusable { reason: format!("cannot copy the workspace: {e}") })?;
    let rtt = std::env::current_exe().map_err(|e| Unusable { reason: e.to_string() })?.display().to_string();
    let mut drivers = serde_json::Map::new();
    for (name, driver) in &subject.fleet.drivers {
        let relative = |root: &Path| format!("./{}", root.strip_prefix(&subject.source).unwrap_or(root).display());
        let mut value = match driver {
            DriverConfig::Dir { root } => serde_json::json!({"builtin": "dir", "root": relative(root)}),
            DriverConfig::Command { argv, capabilities, timeout, root, env, sandbox } => serde_json::json!({
                "command": argv, "capabilities": capabilities, "timeout_ms": timeout.as_millis() as u64,
                "root": relative(root), "env": env.iter().cloned().collect::<BTreeMap<String, String>>(),
                "sandbox": match sandbox { rtt_apply::driver::sandbox::Mode::Off => "off", rtt_apply::driver::sandbox::Mode::Required => "required", _ => "default" }}),
            DriverConfig::Socket { .. } => return Err(socket_refused(name)),
        };
        if let Some((_, spec)) = wrap.filter(|(target, _)| target == name) {
            let (argv, root, timeout) = match driver {
                DriverConfig::Dir { root } => (
                    vec![
                        rtt.clone(),
                        "driver".into(),
                        "dir".into(),
                        "--root".into(),
                        relative(root),
                        "--name".into(),
                        name.clone(),
                    ],
                    relative(root),
                    CASE_TIMEOUT_MS,
                ),
                DriverConfig::Command { argv, root, timeout, .. } => {
                    (argv.clone(), relative(root), (timeout.as_millis() as u64).min(CASE_TIMEOUT_MS))
                }
                DriverConfig::Socket { .. } => return Err(socket_refused(name)),
            };
            let mut command = vec![
                rtt.clone(),
                "chaos".into(),
                "proxy".into(),
                "--fault".into(),
                spec.clone(),
                "--marker".into(),
                format!("{}/.chaos-fired", copy.display()),
                "--".into(),
            ];
            command.extend(argv);
            let capabilities = match driver {
                DriverConfig::Command { capabilities, .. } => capabilities.clone(),
                _ => vec!["placements.write".to_owned()],
            };
            value = serde_json::json!({"command": command, "capabilities": capabilities, "timeout_ms": timeout, "root": root, "sandbox": "off"});
        }
        drivers.insert(name.clone(), value);
    }
    let mut config = subject.config.clone();
    config["drivers"] = drivers.into();
    if let Some(object) = config.as_object_mut() {
        object.remove("hosts_driver");
    }
    if let Some(hosts) = config["topology"]["hosts"].as_array_mut() {
        for host in hosts {
            let name = host["name"].as_str().unwrap_or("").to_owned();
            if let Some(driver) = subject.fleet.driver_of.get(&name) {
                host["driver"] = driver.clone().into();
            }
        }
    }
    std::fs::write(copy.join(CASE_CONFIG), format!("{config:#}\n"))
        .map_err(|e| Unusable { reason: format!("cannot write the copy's config: {e}") })?;
    Ok(())
}

fn socket_refused(name: &str) -> Failure {
    Unusable {
        reason: format!("driver `{name}` is a socket driver: it reaches a live system, which a copy cannot hold"),
    }
    .into()
}

fn copy_tree(from: &Path, to: &Path, exclude: &[PathBuf]) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if exclude.contains(&entry.path()) {
            continue;
        }
        if kind.is_dir() {
            copy_tree(&entry.path(), &target, exclude)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn keep_flight(copy: &Path, out: &Path, scenario: &str, case: &str) -> Option<String> {
    let records = rtt_apply::flight::list(&rtt_durable::Layout::beside(&copy.join(CASE_CONFIG)).flight()).ok()?;
    let newest = records.last()?;
    let name: String = case.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let target = out.join(scenario).join(format!("{name}.flight.json"));
    std::fs::create_dir_all(target.parent()?).ok()?;
    std::fs::copy(newest, &target).ok()?;
    Some(target.display().to_string())
}

fn rtt(dir: &Path, args: &[&str], env: &[(String, String)]) -> Output {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("rtt"));
    let mut command = Command::new(exe);
    command
        .args(args)
        .current_dir(dir)
        .env_remove("RTT_FAULT")
        .env_remove("RTT_DISK_FAULT")
        .env_remove("RTT_DISK_DELAY_MS");
    command.env_remove("RTT_FAULT_TRACE").env_remove("RTT_DISK_TRACE").env_remove("RTT_FAULT_ONCE");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap_or_else(|e| Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(127 << 8),
        stdout: Vec::new(),
        stderr: e.to_string().into_bytes(),
    })
}

fn stamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{secs}")
}

/// A scenario that cannot be read.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("chaos scenario `{name}`: {reason}")]
#[diagnostic(
    code(rtt::chaos::scenario),
    help("`rtt chaos list` names the bundled scenarios; docs/chaos.md has the format")
)]
struct BadScenario {
    name: String,
    reason: String,
}

/// A workspace the pack cannot run on.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to run the chaos pack: {reason}")]
#[diagnostic(code(rtt::chaos::unusable))]
struct Unusable {
    reason: String,
}
