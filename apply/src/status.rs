//! `rtt status` and `rtt wal verify`: read-only views of the workspace. They
//! take no lock and change nothing (a torn WAL record is reported, not cut).

use std::collections::BTreeMap;

use rtt_canonical::Sha256;
use serde::Serialize;

use crate::coordinator::breaker::{Breaker, Breakers};
use crate::log::recovery::{self, LogError, TxnView};
use crate::log::wal::{ChainError, Decision, check_anchor, check_chain};
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
    Ok(Status {
        applied: read_applied(&workspace.state_dir())?,
        wal,
        in_doubt,
        rollback_pending,
        breakers,
        phases: telemetry::summarise(&samples),
    })
}
