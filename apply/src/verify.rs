//! SEAM — plan verification before apply touches anything (SPEC §5):
//! signatures from trusted keys up to the policy's threshold, and a serial
//! above the highest applied one. The checks belong to `rtt-trust`; until
//! that crate is on main this seam refuses every plan (fail closed) rather
//! than pretend. [`PlanToApply`] can only be made here and from plans apply
//! itself kept, so no other path reaches the coordinator.

use crate::applied::AppliedState;
use crate::coordinator::PlanToApply;
use crate::workspace::Workspace;

/// A plan that may not be applied.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Rejected {
    /// Verification is not available in this build.
    #[error("failed to verify the plan: this build has no plan verification (rtt-trust), so nothing is applied")]
    #[diagnostic(code(rtt::apply::unverifiable))]
    Unavailable,
}

/// Verifies a plan file's bytes against the trust store of `workspace` and
/// the applied state.
pub fn plan_for_apply(
    bytes: &[u8],
    workspace: &Workspace,
    applied: Option<&AppliedState>,
) -> Result<PlanToApply, Rejected> {
    let _ = (bytes, workspace, applied);
    Err(Rejected::Unavailable)
}

/// Checks the signatures of a kept plan again before `rtt rollback` moves to
/// it (its serial is below the highest on purpose, so that check is skipped).
pub fn kept_plan_for_rollback(plan: PlanToApply, workspace: &Workspace) -> Result<PlanToApply, Rejected> {
    let _ = (plan, workspace);
    Err(Rejected::Unavailable)
}
