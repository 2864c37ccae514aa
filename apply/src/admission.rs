//! Plan verification before apply touches anything (SPEC §5), by
//! `rtt-trust`: signatures from trusted keys up to the policy's threshold
//! (`.rtt/registry/trust/`), and a serial above the highest applied one.
//! [`PlanToApply`] is made only here and from plans apply itself kept, so no
//! unverified plan reaches the coordinator.

use rtt_trust::{AppliedState, Rejection, TrustStore, TrustStoreError};

use crate::coordinator::PlanToApply;
use crate::workspace::Workspace;

/// A plan that may not be applied.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Rejected {
    /// The trust store is missing or unusable: every plan is refused.
    #[error(transparent)]
    #[diagnostic(transparent)]
    TrustStore(#[from] TrustStoreError),
    /// The plan failed a check.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] Rejection),
}

/// Verifies a plan file's bytes against the trust store of `workspace` and
/// the applied state (rollback protection).
pub fn plan_for_apply(
    bytes: &[u8],
    workspace: &Workspace,
    applied: Option<&AppliedState>,
) -> Result<PlanToApply, Rejected> {
    let store = TrustStore::load(&workspace.trust_dir())?;
    let verified = rtt_trust::verify_plan(bytes, &store, applied)?;
    let hash = verified.hash();
    Ok(PlanToApply::verified(verified.into_document(), hash, bytes.to_vec()))
}

/// Checks the signatures of a kept plan again before `rtt rollback` moves to
/// it. Its serial is below the highest applied on purpose, so the serial
/// check is the one check skipped; the trust store of today still decides.
pub fn kept_plan_for_rollback(plan: PlanToApply, workspace: &Workspace) -> Result<PlanToApply, Rejected> {
    let store = TrustStore::load(&workspace.trust_dir())?;
    let parsed = rtt_trust::parse_plan(plan.bytes())?;
    rtt_trust::verify::check_signatures(&parsed, &store)?;
    Ok(plan)
}
