//! `rtt calibrate`: fit the latency model (latency per locality level,
//! service time per callee) to the route p99s observed under a plan, and
//! write the profile `rtt plan --profile` plans with (docs/telemetry.md).

use std::path::Path;
use std::process::ExitCode;

use miette::Diagnostic;
use rtt_plan::Locality;
use rtt_telemetry::RouteKey;
use rtt_telemetry::calibrate::{LEVELS, Prior, Profile, RoutePoint, fit};
use rtt_telemetry::store::Store;

use crate::cli::CalibrateArgs;
use crate::exit::{Failure, Internal};
use crate::files::config_path;
use crate::output::emit;

pub fn run(args: &CalibrateArgs, dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let path = config_path(args.config.as_deref())?;
    let loaded = rtt_schema::load(&path)?;
    let workspace = crate::workspace::apply_workspace(&path, dir);
    let (hash, document) = crate::workspace::plan_or_applied(&workspace, args.plan.as_deref())?;
    let observed = Store::new(&workspace.layout).read(&hash)?;
    let points: Vec<RoutePoint> = document
        .routes
        .iter()
        .filter_map(|route| {
            let seen = observed.summary(&RouteKey::new(&route.from, &route.to))?;
            (seen.count >= args.min_samples.max(1)).then(|| RoutePoint {
                route: format!("{}->{}", route.from, route.to),
                level: level_of(&route.locality),
                callee: route.to.clone(),
                observed_p99_us: seen.p99_us as f64,
                samples: seen.count,
            })
        })
        .collect();
    if points.is_empty() {
        return Err(
            NoObservations { plan: hash.to_string(), routes: document.routes.len(), min: args.min_samples }.into()
        );
    }
    let levels = &loaded.config.topology.latency_us;
    let prior = Prior {
        latency_us: [levels.numa, levels.host, levels.rack, levels.zone, levels.region],
        service_us: loaded.config.agents.iter().map(|a| (a.id.clone(), a.service_us)).collect(),
    };
    let fitted = fit(&points, &prior);
    let profile = Profile::of(&fitted, hash);
    let output = args.output.clone().unwrap_or_else(|| workspace.layout.root().join("calibration.json"));
    let mut bytes = rtt_canonical::to_canonical_vec(&profile).map_err(|e| Internal { reason: e.to_string() })?;
    bytes.push(b'\n');
    rtt_durable::write_atomic(&output, &bytes, rtt_durable::READ_WRITE)
        .map_err(|e| NotWritten { path: output.display().to_string(), reason: e.to_string() })?;
    emit(
        args.format,
        || {
            let mut out = format!(
                "calibrated from {} routes observed under plan {hash} (rms residual {:.1} µs); wrote {}\n",
                profile.routes,
                profile.rmse_us,
                output.display()
            );
            out.push_str("level     config µs   fitted µs\n");
            for (index, level) in LEVELS.iter().enumerate() {
                let fitted = profile.latency_us.get(*level).map_or("(no route)".to_owned(), |v| format!("{v:.2}"));
                out.push_str(&format!("{level:<9} {:>9.2}   {fitted:>9}\n", prior.latency_us[index]));
            }
            out.push_str("service   config µs   fitted µs\n");
            for (agent, value) in &profile.service_us {
                let before = prior.service_us.get(agent).copied().unwrap_or(0.0);
                out.push_str(&format!("{agent:<9} {before:>9.2}   {value:>9.2}\n"));
            }
            for residual in profile.residuals.iter().filter(|r| r.disagrees) {
                out.push_str(&format!(
                    "disagrees {}: observed p99 {:.0} µs, model {:.0} µs (residual {:+.0} µs); set aside by the fit\n",
                    residual.route, residual.observed_p99_us, residual.fitted_p99_us, residual.residual_us
                ));
            }
            out
        },
        || serde_json::json!({"kind": "rtt.calibrate", "output": output.display().to_string(), "profile": profile}),
    );
    Ok(ExitCode::SUCCESS)
}

/// `L*` of SPEC §4, as the planner's definitions read it from the shares.
fn level_of(locality: &Locality) -> usize {
    rtt_planner::definitions::route_level(&[locality.numa, locality.host, locality.rack, locality.zone]) as usize
}

/// No route had enough samples.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to calibrate: none of the {routes} routes of plan {plan} has {min} samples")]
#[diagnostic(
    code(rtt::calibrate::no_observations),
    help("let telemetry arrive first (`rtt apply --soak`, `rtt telemetry ingest`), or lower --min-samples")
)]
struct NoObservations {
    plan: String,
    routes: usize,
    min: u64,
}

/// The profile could not be written.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to write the profile {path}: {reason}")]
#[diagnostic(code(rtt::calibrate::write))]
struct NotWritten {
    path: String,
    reason: String,
}
