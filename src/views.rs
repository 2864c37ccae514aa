//! The mix-and-match check of `rtt verify` and `rtt mount`: a plan's
//! `inputs.registry` and `views` against the registry and overlays of the rtt
//! directory now; and the one way a command gets views to serve
//! ([`verified_views`]: `mount`, `materialize`, `mcp`). Shared by the
//! commands, so none of them imports another.

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use rtt_canonical::Sha256;
use rtt_durable::{Layout, StateLayout};
use rtt_plan::Views;
use rtt_trust::{AppliedState, TrustStore};

use crate::cli::PlanChecks;
use crate::exit::Failure;
use rtt_plan::PlanDocument;
use rtt_registry::Registry;
use rtt_registry::views::OverlayDir;

/// Every reason to reject `plan`'s views against the registry and overlays
/// under `layout`; empty means they match.
pub fn plan_view_mismatches(plan: &PlanDocument, layout: &Layout) -> Vec<String> {
    if plan.views.is_empty() && plan.inputs.registry.is_none() {
        return Vec::new();
    }
    mismatches(plan.inputs.registry, &plan.views, layout)
}

/// The same for a view plan's slice: its views and the index they were built from.
pub fn view_mismatches(slice: &rtt_plan::ViewPlan, layout: &Layout) -> Vec<String> {
    let views = rtt_plan::Views::from([(slice.provider.clone(), slice.views.clone())]);
    mismatches(slice.registry, &views, layout)
}

fn mismatches(index: Option<rtt_canonical::Sha256>, views: &rtt_plan::Views, layout: &Layout) -> Vec<String> {
    let registry = Registry::open(layout.registry().root());
    let overlays = OverlayDir::new(layout.overlays());
    rtt_registry::views::check(&registry, &overlays, index, views).into_iter().map(|mismatch| mismatch.0).collect()
}

/// The plan to serve (`--plan`, else the applied plan kept under
/// `<state>/plans/`), verified, with its views.
pub fn verified_views(
    plan: Option<&Path>,
    checks: &PlanChecks,
    provider: Option<&str>,
) -> Result<(PathBuf, Sha256, Views), Failure> {
    let path = match plan {
        Some(path) => path.to_owned(),
        None => match applied_plan_hash(&checks.state)? {
            Some(hash) => StateLayout::at(&checks.state).plan(&hash),
            None => {
                return Err(MountFailed {
                    reason: format!("no plan is applied in {} and no --plan was given", checks.state.display()),
                }
                .into());
            }
        },
    };
    let bytes = crate::files::read_bytes(&path)
        .map_err(|e| MountFailed { reason: format!("{}: {e}", crate::files::shown(&path)) })?;
    let trust = TrustStore::load(&checks.trust)?;
    let applied = rtt_trust::read_applied(&checks.state)?;
    if rtt_trust::view_plan::is_view_plan(&bytes) {
        // A provider's slice, signed on its own: verified alone, and held to
        // the same rules as the fleet plan it names.
        let verified = rtt_trust::view_plan::verify_view_plan(&bytes, &trust)?;
        let slice = verified.plan;
        if let Some(wanted) = provider
            && wanted != slice.provider
        {
            return Err(MountFailed {
                reason: format!("{} is the view plan of provider {:?}, not {wanted:?}", path.display(), slice.provider),
            }
            .into());
        }
        check_not_rolled_back(slice.fleet_plan, slice.serial, applied.as_ref()).map_err(|_| MountFailed {
            reason: format!(
                "the view plan belongs to fleet plan {} (serial {}), which is not the applied plan and not above the \
                 highest applied serial",
                slice.fleet_plan, slice.serial
            ),
        })?;
        let problems = crate::views::view_mismatches(&slice, &checks.layout);
        if !problems.is_empty() {
            return Err(MountFailed {
                reason: format!("the view plan does not match the registry: {}", problems.join("; ")),
            }
            .into());
        }
        let views = Views::from([(slice.provider, slice.views)]);
        require_signed_manifests(checks, &views)?;
        return Ok((path, slice.fleet_plan, views));
    }
    // The serial rule differs from `rtt verify`'s (see below), so it is checked here.
    let verified = rtt_trust::verify_plan(&bytes, &trust, None)?;
    check_not_rolled_back(verified.hash(), verified.document().serial, applied.as_ref())?;
    let problems = crate::views::plan_view_mismatches(verified.document(), &checks.layout);
    if !problems.is_empty() {
        return Err(
            MountFailed { reason: format!("the plan does not match the registry: {}", problems.join("; ")) }.into()
        );
    }
    let mut views = verified.document().views.clone();
    if let Some(wanted) = provider {
        views.retain(|name, _| name == wanted);
        if views.is_empty() {
            return Err(MountFailed { reason: format!("the plan has no views for provider {wanted:?}") }.into());
        }
    }
    require_signed_manifests(checks, &views)?;
    Ok((path, verified.hash(), views))
}

/// Signed ingest: under a registry_threshold nothing is served from a
/// manifest that too few registry signers vouch for, whoever signed the plan.
fn require_signed_manifests(checks: &PlanChecks, views: &Views) -> Result<(), Failure> {
    if let Some(targets) = crate::signed_manifests::load(&checks.trust, &checks.layout, &checks.state)? {
        let bases = views.values().flatten().map(|view| (view.id.as_str(), view.base));
        crate::signed_manifests::require(&targets, bases)?;
    }
    Ok(())
}

/// A mount may serve the plan in force or a plan newer than any applied;
/// an older plan is a rollback.
fn check_not_rolled_back(hash: Sha256, serial: u64, applied: Option<&AppliedState>) -> Result<(), Failure> {
    match applied {
        Some(state) if hash != state.plan && serial <= state.highest_serial => Err(MountFailed {
            reason: format!(
                "plan serial {serial} is not the applied plan and not above the highest applied serial {} (rollback)",
                state.highest_serial
            ),
        }
        .into()),
        _ => Ok(()),
    }
}

pub fn applied_plan_hash(state: &Path) -> Result<Option<Sha256>, Failure> {
    Ok(rtt_trust::read_applied(state)?.map(|s| s.plan))
}

/// Serving a plan's views was refused, or failed.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to serve the plan's views: {reason}")]
#[diagnostic(code(rtt::mount), help("`rtt verify PLAN` shows every check a plan must pass before it is served"))]
pub struct MountFailed {
    pub reason: String,
}
