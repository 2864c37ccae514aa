//! `rtt plan`: config → MILP → scored, deterministic plan document.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use miette::Diagnostic;
use rtt_canonical::Sha256;
use rtt_durable::Layout;
use rtt_plan::Views;
use rtt_planner::explain::Input;
use rtt_planner::infeasible::Conflict;
use rtt_planner::{Limits, PlanError, Planned, Request, statements};
use rtt_registry::views::OverlayDir;
use rtt_registry::{Registry, RegistryError};
use rtt_schema::{Issue, LoadedConfig, LocatedIssue};

use crate::cli::{Format, PlanArgs};
use crate::exit::{EXIT_INFEASIBLE, EXIT_NO_PLAN, Failure, Internal};
use crate::files::config_path;
use crate::files::{read_plan, write_plan};
use crate::render;

pub fn run(args: &PlanArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    // `--time-limit` bounds the whole command: reading, checking and building
    // views come out of it before the planner gets the rest.
    let started = std::time::Instant::now();
    let plan_on_stdout = args.output.as_deref().is_none_or(crate::files::is_stdio);
    if args.explain && args.format == Format::Json && plan_on_stdout {
        return Err(ExplainNeedsOutput.into());
    }
    let path = config_path(args.config.as_deref())?;
    // Read the key before solving, so a wrong path fails in milliseconds, not after the solve.
    let sign_key = args.sign_key.as_deref().map(rtt_trust::keyfile::read_secret_key).transpose()?;
    let loaded =
        crate::files::with_calibration(rtt_schema::load(&path)?, args.profile.as_deref())?.drained(&args.drain)?;
    let previous = args.previous.as_deref().map(read_plan).transpose()?;
    // Views first: a missing manifest should fail before minutes of solving.
    let rtt_dir = crate::workspace::rtt_dir(dir, Some(&path));
    crate::output::detail(format_args!(
        "config {}; rtt directory {}",
        crate::files::shown(&path),
        rtt_dir.root().display()
    ));
    let views = build_views(&rtt_dir, &loaded)?;
    let time_limit = args.time_limit.map(|limit| (limit - started.elapsed().as_secs_f64()).max(0.0));
    let limits = Limits { gap: args.gap, node_limit: args.node_limit, time_limit, light: false };
    let search = args.search_rounds.map(|rounds| {
        let default = rtt_planner::search::Budget::for_model(&loaded.model);
        rtt_planner::search::Budget { rounds, ..default }
    });
    // Progress only on a terminal, never with -q.
    let on_terminal = std::io::stderr().is_terminal() && crate::output::notes_shown();
    let show = |p: rtt_planner::Progress| eprint!("\r{}\x1b[K", progress_line(&p));
    let request = Request {
        model: &loaded.model,
        config_hash: Internal::config_hash(&loaded.config)?,
        previous: previous.as_ref(),
        limits,
        exhaustive: args.node_limit.is_some() || args.time_limit.is_some(),
        search,
        progress: if on_terminal { Some(&show) } else { None },
        memory_limit: args.memory_limit.or_else(half_the_memory),
    };
    let mut planned = match rtt_planner::plan(&request) {
        Ok(planned) => planned,
        Err(PlanError::Infeasible(conflict)) => {
            let report = infeasible_report(&loaded, &conflict);
            if args.format == Format::Json {
                println!("{:#}", report.to_json());
                return Ok(ExitCode::from(EXIT_INFEASIBLE));
            }
            return Err(Failure { report: miette::Report::new(report), exit_code: EXIT_INFEASIBLE });
        }
        Err(PlanError::NoPlan(reason)) => {
            if args.format == Format::Json {
                println!("{:#}", serde_json::json!({"kind": "rtt.no_plan", "reason": reason}));
                return Ok(ExitCode::from(EXIT_NO_PLAN));
            }
            let help = "raise --node-limit or --time-limit, or widen --gap".to_owned();
            return Err(Failure { report: miette::Report::new(NoPlan { reason, help }), exit_code: EXIT_NO_PLAN });
        }
        Err(error @ PlanError::OverMemory(over)) => {
            let reason = error.to_string();
            if args.format == Format::Json {
                let memory = serde_json::json!({"needed_bytes": over.size.bytes(), "limit_bytes": over.limit,
                    "columns": over.size.columns, "nonzeros": over.size.nonzeros});
                println!("{:#}", serde_json::json!({"kind": "rtt.no_plan", "reason": reason, "memory": memory}));
                return Ok(ExitCode::from(EXIT_NO_PLAN));
            }
            let needed = rtt_planner::formulation::size::human_bytes(over.size.bytes());
            let help = format!(
                "it would fit with --memory-limit {needed} on a machine that has it; or narrow where agents may \
                 go (selectors, pins) so fewer candidate nodes enter the model"
            );
            return Err(Failure { report: miette::Report::new(NoPlan { reason, help }), exit_code: EXIT_NO_PLAN });
        }
        Err(PlanError::Internal(reason)) => return Err(Internal { reason }.into()),
    };
    if on_terminal {
        eprintln!();
    }
    report_stats(&planned);
    if let Some(transports) = &loaded.config.transports {
        let inputs = crate::profiles::transport_inputs(&loaded.config, transports, &rtt_dir)?;
        let assigned = rtt_planner::transports::assign(&planned.document, &inputs);
        for (route, transport) in planned.document.routes.iter_mut().zip(assigned) {
            route.transport = Some(transport);
        }
    }
    if let Some((registry, views)) = views {
        planned.document.inputs.registry = Some(registry);
        planned.document.views = views;
    }
    if let Some(key) = &sign_key {
        rtt_trust::sign_document(&mut planned.document, key)?;
    }
    if let Some(output) = &args.output {
        write_plan(output, &planned.document)?;
    }
    if let (Some(dir), Some(key)) = (&args.view_plans, &sign_key) {
        write_view_plans(dir, &planned.document, key)?;
    }
    match args.format {
        Format::Json if args.output.is_none() => {
            let bytes = planned.document.to_file_bytes().map_err(|e| Internal { reason: e.to_string() })?;
            std::io::stdout().write_all(&bytes).map_err(|e| Internal { reason: e.to_string() })?;
        }
        Format::Json => {}
        // With `-o -` stdout carries the plan; the summary goes to stderr.
        Format::Text if args.output.as_deref().is_some_and(crate::files::is_stdio) => {
            eprint!("{}", summary(&loaded, &planned, args.output.as_deref()));
        }
        Format::Text => print!("{}", summary(&loaded, &planned, args.output.as_deref())),
    }
    if args.explain {
        let input = Input::new(
            &loaded.model,
            Internal::config_hash(&loaded.config)?,
            &planned.document,
            previous.as_ref(),
            &[],
        );
        let explanation = rtt_planner::explain::explain(&input)?;
        match args.format {
            Format::Text if args.output.as_deref().is_some_and(crate::files::is_stdio) => {
                eprint!("\n{}", render::explain::text(&explanation));
            }
            Format::Text => print!("\n{}", render::explain::text(&explanation)),
            // With -o the plan is in its file and stdout carries the explanation
            // (`run` refuses --explain --format json without -o: one document per stdout).
            Format::Json => {
                let json =
                    serde_json::to_string_pretty(&explanation).map_err(|e| Internal { reason: e.to_string() })?;
                println!("{json}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of the terminal's progress display: stage, incumbent, bound, gap.
fn progress_line(p: &rtt_planner::Progress) -> String {
    use rtt_planner::Stage;
    let stage = match p.stage {
        Stage::Search { round, rounds } => format!("search {round}/{rounds}"),
        Stage::Solve { branch_and_bound: true } => "branch and bound (HiGHS)".to_owned(),
        Stage::Solve { branch_and_bound: false } => "LP bound (HiGHS)".to_owned(),
    };
    let figure = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    let gap = p.gap().map_or_else(|| "-".to_owned(), |g| format!("{:.2}%", g * 100.0));
    format!("rtt: {stage}  incumbent {}  bound {}  gap {gap}", figure(p.incumbent), figure(p.bound))
}

/// The provider views of SPEC §7 from the registry beside the config
/// (`.rtt/registry`), with the index hash they were built from. A config
/// without providers has none; one with providers but no registry plans
/// without views, and says so.
fn build_views(layout: &Layout, loaded: &LoadedConfig) -> Result<Option<(Sha256, Views)>, Failure> {
    if loaded.model.providers.is_empty() {
        return Ok(None);
    }
    let root = layout.registry();
    if !root.root().is_dir() {
        eprintln!(
            "rtt: warning: the config has providers but there is no registry at {}; the plan carries no views",
            root.root().display()
        );
        return Ok(None);
    }
    let registry = Registry::open(root.root());
    // Signed ingest: under a registry_threshold every manifest the plan rests
    // on is vouched for before anything is built from it.
    if let Some(targets) = crate::signed_manifests::load(root.trust().dir(), layout, layout.state().dir())? {
        let manifests = rtt_registry::views::manifests(&registry, &loaded.model).map_err(ViewsFailed::from)?;
        let checked =
            crate::signed_manifests::require(&targets, manifests.iter().map(|(id, hash)| (id.as_str(), *hash)))?;
        rtt_trust::registry::record_seen(layout.state().dir(), &targets)?;
        crate::output::detail(format_args!(
            "{checked} manifests signed by at least {} registry signer(s)",
            targets.attestations.threshold()
        ));
    }
    let overlays = OverlayDir::new(layout.overlays());
    let (index, views) = rtt_registry::views::build(&registry, &overlays, &loaded.model).map_err(ViewsFailed::from)?;
    Ok(Some((index, views)))
}

fn summary(loaded: &LoadedConfig, planned: &Planned, output: Option<&Path>) -> String {
    let document = &planned.document;
    let replicas: u32 = document.placements.iter().map(|p| p.replicas).sum();
    let hash = document.hash().map(|h| h.to_string()).unwrap_or_default();
    let mut out = String::new();
    out.push_str(&format!(
        "plan {hash} (serial {})\n  {} replicas of {} agents on {} hosts; solver {:?}, gap {:.4}%\n",
        document.serial,
        replicas,
        loaded.model.agents.len(),
        loaded.model.hosts.len(),
        document.solver.status,
        document.solver.gap * 100.0,
    ));
    out.push_str(&format!(
        "  objective {:.3} = latency {:.3} µs × {} + {} moves × {}\n",
        document.objective.total,
        document.objective.latency_us,
        loaded.model.latency_weight,
        document.objective.moves,
        loaded.model.churn_weight
    ));
    if !document.signatures.is_empty() {
        let key_ids: Vec<&str> = document.signatures.iter().map(|s| s.key_id.as_str()).collect();
        out.push_str(&format!("  signed by {}\n", key_ids.join(", ")));
    }
    if let Some(output) = output {
        out.push_str(&format!("  written to {}\n", crate::files::shown_output(output)));
    }
    out
}

/// Solve statistics go to stderr, never into the plan.
fn report_stats(planned: &Planned) {
    let stats = &planned.stats;
    if std::env::var_os("RTT_QUIET").is_some() {
        return;
    }
    let milp = if let Some(over) = stats.over_memory {
        format!("whole-fleet MILP not built: it would take {over}; search and combinatorial bound")
    } else if stats.n_variables == 0 {
        "whole-fleet MILP not built (large fleet: search and combinatorial bound)".to_owned()
    } else {
        format!("MILP {} variables, {} rows", stats.n_variables, stats.n_rows)
    };
    let minimum = stats.minimum_moves.map(|m| {
        let proof = if m.proven { "proven" } else { "best found" };
        format!("; {} moves, minimum {} ({proof})", planned.document.objective.moves, m.moves)
    });
    crate::output::note(format_args!(
        "{milp}; build {:.2} s, search {:.2} s, solve {:.2} s{}{}; objective {:.3}, bound {:.3}, gap {:.2}%",
        stats.build_seconds,
        stats.search_seconds,
        stats.solve_seconds,
        stats.greedy_objective.map(|g| format!("; greedy start {g:.3}")).unwrap_or_default(),
        minimum.unwrap_or_default(),
        planned.document.objective.total,
        planned.document.solver.bound,
        planned.document.solver.gap * 100.0,
    ));
}

fn infeasible_report(loaded: &LoadedConfig, conflict: &Conflict) -> Infeasible {
    let model = &loaded.model;
    let issues = conflict
        .statements
        .iter()
        .map(|statement| {
            let path = statements::path(model, *statement);
            let text = statements::describe(model, *statement);
            let advice = conflict
                .relaxations
                .iter()
                .find(|(s, _)| s == statement)
                .map(|(s, r)| statements::advise(model, *s, r))
                .unwrap_or_else(|| "relaxing this alone does not resolve the conflict".into());
            Issue::new(&path, format!("conflicting: {text}"), "part of the conflict".into())
                .help(advice)
                .locate(&loaded.source, &loaded.root)
        })
        .collect();
    Infeasible { file: loaded.source.name().to_owned(), issues }
}

/// The config cannot be satisfied; the statements that conflict.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{file}: no placement satisfies {}", if .issues.len() == 1 { "this statement".to_owned() } else { format!("these {} statements together", .issues.len()) })]
#[diagnostic(code(rtt::plan::infeasible), help("relax any one of them as suggested; nothing was planned"))]
pub struct Infeasible {
    file: String,
    #[related]
    issues: Vec<LocatedIssue>,
}

impl Infeasible {
    /// The conflict for a program (`rtt plan --format json`, exit 3).
    fn to_json(&self) -> serde_json::Value {
        let statements: Vec<serde_json::Value> = self
            .issues
            .iter()
            .map(|issue| {
                serde_json::json!({"path": issue.path, "statement": issue.message.trim_start_matches("conflicting: "),
                    "relaxation": issue.help, "file": issue.file, "line": issue.line, "column": issue.column})
            })
            .collect();
        serde_json::json!({"kind": "rtt.infeasible", "file": self.file, "statements": statements})
    }
}

/// No plan within the limits.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to find a plan within the limits ({reason})")]
#[diagnostic(code(rtt::plan::limits))]
pub struct NoPlan {
    reason: String,
    #[help]
    help: String,
}

/// `--explain --format json` would put two documents on stdout.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to show --explain as json: stdout already carries the plan document")]
#[diagnostic(help("add -o PLAN: the plan goes to the file and the explanation (rtt.explain) to stdout"))]
pub struct ExplainNeedsOutput;

/// The config's provider views cannot be built from the registry.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to build the provider views: {0}")]
#[diagnostic(
    code(rtt::plan::views),
    help("`rtt registry add` adds manifests; `rtt view ID --provider P` shows one view")
)]
pub struct ViewsFailed(#[from] RegistryError);

/// `--view-plans DIR`: one signed view plan per provider of the plan.
fn write_view_plans(dir: &Path, plan: &rtt_plan::PlanDocument, key: &rtt_trust::SecretKey) -> Result<(), Failure> {
    let fleet_hash = plan.hash().map_err(|e| Internal { reason: e.to_string() })?;
    std::fs::create_dir_all(dir).map_err(|e| Internal { reason: format!("{}: {e}", dir.display()) })?;
    for provider in plan.views.keys() {
        let Some(mut view_plan) = rtt_plan::ViewPlan::of(plan, fleet_hash, provider) else { continue };
        rtt_trust::view_plan::sign_view_plan(&mut view_plan, key)?;
        let path = dir.join(rtt_plan::ViewPlan::file_name(provider));
        let bytes = view_plan.to_file_bytes().map_err(|e| Internal { reason: e.to_string() })?;
        crate::files::write_bytes(&path, &bytes)
            .map_err(|e| Internal { reason: format!("{}: {e}", path.display()) })?;
        crate::output::note(format_args!("view plan of {provider} written to {}", path.display()));
    }
    Ok(())
}

/// `--memory-limit`'s default: half of the memory this process may have —
/// the least of `MemTotal`, its address-space limit (`ulimit -v`) and its
/// cgroup's `memory.max` — so that a planner in a container or under a
/// ulimit exits 4 with the estimate instead of being killed or aborting on
/// a failed allocation. The other half is for the search's sub-MILPs, the
/// process itself and whatever else runs. `None` where nothing can be read.
fn half_the_memory() -> Option<u64> {
    let address_space = rustix::process::getrlimit(rustix::process::Resource::As).current;
    [mem_total(), address_space, cgroup_memory_max()].into_iter().flatten().min().map(|bytes| bytes / 2)
}

fn mem_total() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = info
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The memory limit of this process's cgroup: v2's `memory.max` (from
/// `0::/path` in `/proc/self/cgroup`) or v1's `memory.limit_in_bytes`;
/// `None` for "max" or no cgroup filesystem (v1's "no limit" is a huge
/// number, which loses to `MemTotal` anyway).
fn cgroup_memory_max() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |file: String| std::fs::read_to_string(file).ok()?.trim().parse::<u64>().ok();
    let v2 = cgroup.lines().find_map(|line| line.strip_prefix("0::"));
    let v1 = cgroup.lines().find_map(|line| line.split_once(":memory:").map(|(_, path)| path));
    v2.and_then(|path| read(format!("/sys/fs/cgroup{}/memory.max", path.trim_end())))
        .or_else(|| v1.and_then(|path| read(format!("/sys/fs/cgroup/memory{}/memory.limit_in_bytes", path.trim_end()))))
}

#[cfg(test)]
mod tests {
    use rtt_planner::{Progress, Stage};

    use super::progress_line;

    #[test]
    fn the_progress_line_shows_stage_incumbent_bound_and_gap() {
        let searching =
            Progress { stage: Stage::Search { round: 3, rounds: 90 }, incumbent: Some(450.0), bound: Some(405.0) };
        assert_eq!(progress_line(&searching), "rtt: search 3/90  incumbent 450.000  bound 405.000  gap 10.00%");
        let solving = Progress { stage: Stage::Solve { branch_and_bound: true }, incumbent: None, bound: None };
        assert_eq!(progress_line(&solving), "rtt: branch and bound (HiGHS)  incumbent -  bound -  gap -");
    }
}
