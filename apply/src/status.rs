//! `rtt status` and `rtt wal verify`: read-only views of the workspace. They
//! take no lock and change nothing (a torn WAL record is reported, not cut).

use std::collections::BTreeMap;

use rtt_canonical::Sha256;
use serde::Serialize;

use rtt_telemetry::Observations;
use rtt_telemetry::observations::{DriverSeen, Summary};
use rtt_telemetry::store::Store;

use crate::coordinator::breaker::{Breaker, Breakers};
use crate::coordinator::soak::planned_routes;
use crate::log::recovery::{self, LogError, TxnView};
use crate::log::wal::{ChainError, Decision, GateOutcome, check_anchor, check_chain};
use crate::telemetry::{self, Quantiles};
use crate::workspace::{Workspace, WorkspaceError};
use rtt_trust::state::{AppliedState, read_applied};

/// What `rtt wal verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalReport {
    /// Complete records.
    pub records: usize,
    /// Transactions.
    pub transactions: usize,
    /// Bytes of a torn last record (tolerated).
    pub torn_bytes: Option<usize>,
    /// Seq of the anchor checked, if any.
    pub anchored_seq: Option<u64>,
}

/// A damaged or unreadable WAL.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WalCheckError {
    /// Tampering.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Chain(#[from] ChainError),
    /// An impossible story.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Log(#[from] LogError),
    /// A file.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Workspace(#[from] WorkspaceError),
    /// The applied state.
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] rtt_trust::state::StateError),
}

/// Checks the WAL's chain, anchor and story; returns its transactions.
pub fn verify_wal(workspace: &Workspace) -> Result<(WalReport, Vec<TxnView>), WalCheckError> {
    let path = workspace.layout.wal().log();
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(WorkspaceError::Io { action: "read", path, reason: e.to_string() }.into()),
    };
    let chain = check_chain(&bytes)?;
    let anchor = workspace.read_anchor()?;
    if let Some(anchor) = &anchor {
        check_anchor(&chain.records, anchor)?;
    }
    let txns = recovery::transactions(&chain.records)?;
    let report = WalReport {
        records: chain.records.len(),
        transactions: txns.len(),
        torn_bytes: chain.torn.map(|(_, len)| len),
        anchored_seq: anchor.map(|a| a.seq),
    };
    Ok((report, txns))
}

/// A transaction the WAL leaves unfinished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InDoubt {
    /// Transaction id.
    pub txn: String,
    /// Plan before.
    pub from: Option<Sha256>,
    /// Plan being applied.
    pub to: Sha256,
    /// The logged decision, if any (none: recovery aborts).
    pub decision: Option<Decision>,
    /// Drivers involved.
    pub drivers: Vec<String>,
}

/// Everything `rtt status` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The plan in force.
    pub applied: Option<AppliedState>,
    /// The WAL's state.
    pub wal: WalReport,
    /// Unfinished transactions.
    pub in_doubt: Vec<InDoubt>,
    /// A verify failure still owed its rollback.
    pub rollback_pending: Option<String>,
    /// Breakers of drivers that have been used.
    pub breakers: BTreeMap<String, Breaker>,
    /// Phase percentiles per driver.
    pub phases: BTreeMap<String, BTreeMap<String, Quantiles>>,
    /// The applied plan's routes: planned against observed.
    pub routes: Vec<RouteStatus>,
    /// Drivers' last reported queue depth.
    pub queue_depths: BTreeMap<String, DriverSeen>,
    /// The SLO gate's last verdict: the transaction and its outcome.
    pub last_gate: Option<(String, GateOutcome)>,
}

/// A route of the applied plan, planned and observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteStatus {
    /// `from->to`.
    pub route: String,
    /// Planned p99, µs.
    pub planned_p99_us: f64,
    /// SLO, µs.
    pub slo_p99_us: Option<f64>,
    /// Observed under the plan.
    pub observed: Option<Summary>,
    /// SLO − observed p99, µs (negative: breached).
    pub slack_us: Option<f64>,
}

/// The applied plan's routes with what was observed under it.
fn route_status(
    workspace: &Workspace,
    applied: Option<&AppliedState>,
) -> Result<(Vec<RouteStatus>, Observations), WalCheckError> {
    let Some(applied) = applied else { return Ok((Vec::new(), Observations::default())) };
    let (document, _) = workspace.load_plan(&applied.plan)?;
    let observed = Store::new(&workspace.layout).read(&applied.plan).map_err(|e| WorkspaceError::Io {
        action: "read the observations of",
        path: workspace.layout.observations(&applied.plan),
        reason: e.to_string(),
    })?;
    let routes = planned_routes(&document)
        .into_iter()
        .map(|p| {
            let observed = observed.summary(&p.route);
            RouteStatus {
                route: p.route.to_string(),
                planned_p99_us: p.planned_p99_us,
                slo_p99_us: p.slo_p99_us,
                slack_us: p.slo_p99_us.zip(observed).map(|(slo, o)| slo - o.p99_us as f64),
                observed,
            }
        })
        .collect();
    Ok((routes, observed))
}

/// Reads the status. Fails when the WAL is damaged: a status that hides
/// tampering would mislead.
pub fn read(workspace: &Workspace) -> Result<Status, WalCheckError> {
    let (wal, txns) = verify_wal(workspace)?;
    let in_doubt = recovery::in_doubt(&txns)
        .into_iter()
        .map(|t| InDoubt {
            txn: t.txn.clone(),
            from: t.from,
            to: t.to,
            decision: t.decision,
            drivers: t.participants.keys().cloned().collect(),
        })
        .collect();
    let rollback_pending = match recovery::next_action(&txns) {
        recovery::Action::RollBack(t) => Some(t.txn),
        _ => None,
    };
    let breakers: Breakers = workspace.read_breakers()?;
    let telemetry_path = workspace.layout.telemetry();
    let samples = telemetry::read(&telemetry_path).map_err(|e| WorkspaceError::Io {
        action: "read",
        path: telemetry_path.clone(),
        reason: e.to_string(),
    })?;
    let applied = read_applied(&workspace.state_dir())?;
    let (routes, observed) = route_status(workspace, applied.as_ref())?;
    let last_gate = txns.iter().rev().find_map(|t| t.gate.map(|g| (t.txn.clone(), g)));
    Ok(Status {
        applied,
        wal,
        in_doubt,
        rollback_pending,
        breakers,
        phases: telemetry::summarise(&samples),
        routes,
        queue_depths: observed.drivers,
        last_gate,
    })
}
