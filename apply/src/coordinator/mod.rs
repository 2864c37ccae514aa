//! The coordinator (SPEC §8): carries a verified plan to every driver with
//! two-phase commit, logs each step in the WAL before taking it, verifies
//! through `Rx`, rolls back on a verify failure, and finishes whatever a
//! crash left open.
//!
//! One transaction, step by step (the Promela model `apply/model/two_phase.pml`
//! names the same steps):
//! 1. change set against the plan in force; breakers; start and `Probe` the
//!    drivers that have work (a failure here stops before anything is logged);
//! 2. keep the plan file, then WAL `begin` (epoch = highest seen + 1);
//! 3. `Open` and `Tx prepare` each driver; a no, an error, a timeout is a no;
//! 4. WAL `decision` (fsynced before any commit is sent);
//! 5. commit or abort everywhere (a driver that fails is restarted and told
//!    again once; if it still cannot hear it, the transaction stays in doubt
//!    for `rtt recover`);
//! 6. `Rx` every changed host and compare;
//! 7. applied pointer and serial, then WAL `end` and the anchor;
//! 8. on a verify mismatch: WAL `end verify_failed`, then a rollback
//!    transaction to the previous plan through steps 1–7.

use rtt_telemetry::now_ms;
use std::collections::{BTreeMap, BTreeSet};

use rtt_canonical::Sha256;
use rtt_plan::PlanDocument;

use crate::coordinator::breaker::Breakers;
use crate::coordinator::changes::{ChangeSet, Drift, UnknownHost, by_host, change_set, drift};
use crate::coordinator::lock::{CoordinatorLock, LockError};
use crate::driver::client::{ProcessEndpoint, ProcessSpec, SocketSpec};
use crate::driver::dir::DirStore;
use crate::driver::protocol::{CAP_PLACEMENTS_WRITE, OpenParams, ProbeResult, Vote};
use crate::driver::{Driver, DriverError, InProcess};
use crate::fault::Faults;
use crate::flight::{Recorder, What};
use crate::log::recovery::{Action, LogError, TxnView, highest_epoch, next_action, transactions};
use crate::log::wal::{Decision, EndOutcome, Entry, Wal, WalError};
use crate::replica::{Replica, ReplicaError};
use crate::telemetry::{self, Sample};
use crate::workspace::{DriverConfig, Fleet, Workspace, WorkspaceError};
use rtt_trust::state::{AppliedState, read_applied, write_applied};

/// A plan whose signatures, threshold and serial were checked. Built only by
/// verification (and from the plans apply itself kept), so the coordinator
/// never reads a plan that was not verified.
#[derive(Debug, Clone)]
pub struct PlanToApply {
    document: PlanDocument,
    hash: Sha256,
    bytes: Vec<u8>,
}

impl PlanToApply {
    /// Wraps a plan that passed verification. `bytes` are its file bytes.
    pub(crate) fn verified(document: PlanDocument, hash: Sha256, bytes: Vec<u8>) -> Self {
        PlanToApply { document, hash, bytes }
    }

    /// The plan.
    pub fn document(&self) -> &PlanDocument {
        &self.document
    }

    /// Its hash.
    pub fn hash(&self) -> Sha256 {
        self.hash
    }

    /// Its file bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// How a transaction ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Transaction id.
    pub txn: String,
    /// What happened.
    pub outcome: Outcome,
    /// Its epoch.
    pub epoch: u64,
    /// Drivers that took part.
    pub drivers: Vec<String>,
    /// Hosts whose placements changed.
    pub hosts_changed: usize,
}

/// A successful transaction's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The plan is in force everywhere and verified.
    Committed,
    /// A recovered transaction was aborted everywhere (nothing changed).
    Aborted,
}

/// Apply failed; what is in force is said in each variant.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    /// The WAL is damaged or could not be written.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Wal(#[from] WalError),
    /// The WAL tells an impossible story.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Log(#[from] LogError),
    /// Another coordinator runs.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),
    /// A state file.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Workspace(#[from] WorkspaceError),
    /// The applied state.
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] rtt_trust::state::StateError),
    /// A host no driver serves.
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownHost(#[from] UnknownHost),
    /// The shared memory (HA) refused a write: the coordinator stopped before the step.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Replica(#[from] ReplicaError),
    /// The WAL names a driver the config no longer has.
    #[error("failed to find driver `{driver}` in the config, but the WAL's transaction {txn} involves it")]
    #[diagnostic(code(rtt::apply::unknown_driver), help("restore the driver in the config, then run `rtt recover`"))]
    UnknownDriver {
        /// The driver.
        driver: String,
        /// The transaction.
        txn: String,
    },
    /// A driver's breaker is open.
    #[error("driver `{driver}` is failing (breaker open); nothing was changed")]
    #[diagnostic(
        code(rtt::apply::breaker_open),
        help("it is tried again in {retry_in_s} s; `rtt status` shows breakers")
    )]
    BreakerOpen {
        /// The driver.
        driver: String,
        /// Seconds until a trial is allowed.
        retry_in_s: u64,
    },
    /// A driver failed before the transaction began.
    #[error("failed to start the transaction, nothing was changed: {0}")]
    #[diagnostic(code(rtt::apply::not_started))]
    NotStarted(#[source] DriverError),
    /// A driver voted no or failed during prepare: aborted everywhere.
    #[error("transaction {txn} aborted; the previous plan stays in force: {}", reasons.join("; "))]
    #[diagnostic(code(rtt::apply::aborted))]
    Aborted {
        /// Transaction id.
        txn: String,
        /// Votes and failures.
        reasons: Vec<String>,
    },
    /// The decision could not reach every driver.
    #[error("transaction {txn} is in doubt: the {decision:?} decision is logged but did not reach {}", drivers.join(", "))]
    #[diagnostic(
        code(rtt::apply::in_doubt),
        help("fix the drivers, then run `rtt recover` (it re-sends the logged decision)")
    )]
    InDoubt {
        /// Transaction id.
        txn: String,
        /// The logged decision.
        decision: Decision,
        /// Drivers that did not acknowledge, with why.
        drivers: Vec<String>,
    },
    /// Committed, but `Rx` disagreed.
    #[error("transaction {txn} committed but failed verify ({}); {}", mismatches.join("; "), rollback)]
    #[diagnostic(code(rtt::apply::verify_failed))]
    VerifyFailed {
        /// Transaction id.
        txn: String,
        /// Hosts whose placements differ.
        mismatches: Vec<String>,
        /// What the rollback did.
        rollback: String,
    },
    /// `rtt rollback` with nothing to go back to.
    #[error("failed to roll back: {reason}")]
    #[diagnostic(code(rtt::apply::no_previous))]
    NoPrevious {
        /// Why.
        reason: String,
    },
}

/// The coordinator of one `rtt apply`, `recover` or `rollback` run. Holds
/// the lock for its lifetime.
pub struct Coordinator {
    workspace: Workspace,
    fleet: Fleet,
    faults: Faults,
    wal: Wal,
    breakers: Breakers,
    drivers: BTreeMap<String, Driver>,
    opened: BTreeSet<String>,
    failed: BTreeSet<String>,
    /// Things worth telling the operator (a holder that died holding the lock, torn record).
    pub notes: Vec<String>,
    recorder: Recorder,
    /// Flight records written by this run.
    pub flights: Vec<std::path::PathBuf>,
    /// Flush a flight record when the run finishes, whatever happened (on demand).
    pub record_always: bool,
    replica: Option<Box<dyn Replica>>,
    _lock: CoordinatorLock,
}

impl Coordinator {
    /// Takes the lock and opens the WAL (checking its chain and anchor).
    pub fn open(workspace: Workspace, fleet: Fleet, faults: Faults) -> Result<Coordinator, ApplyError> {
        let lock = CoordinatorLock::acquire(&workspace.layout.apply_lock())?;
        let mut notes = Vec::new();
        if let Some(pid) = lock.crashed_pid {
            notes.push(format!("process {pid} exited holding the apply lock; recovering what it left"));
        }
        let anchor = workspace.read_anchor()?;
        let wal = Wal::open(&workspace.layout.wal(), anchor.as_ref())?;
        if let Some((offset, len)) = wal.torn_on_open {
            notes.push(format!("set aside a torn WAL record ({len} bytes at offset {offset}) left by a crash"));
        }
        let breakers = workspace.read_breakers()?;
        // The recorder is evidence, not state: a recorder that cannot start
        // leaves the run unrecorded, never stopped.
        let (recorder, crashed) = match Recorder::open(&workspace.layout.flight()) {
            Ok(opened) => opened,
            Err(e) => {
                notes.push(format!("the flight recorder is off: {e}"));
                (Recorder::disabled(), Vec::new())
            }
        };
        let mut flights = Vec::new();
        if !crashed.is_empty() {
            // The killed run's own last transaction (the WAL's last record
            // may be another controller's, after an HA restore).
            let label = crashed
                .iter()
                .rev()
                .find_map(|e| match &e.what {
                    What::Wal { txn, .. } => Some(txn.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "coordinator".to_owned());
            match Recorder::flush(&recorder, "crash", &label, &crashed) {
                Ok(Some(path)) => {
                    notes.push(format!(
                        "the previous run stopped without finishing; its flight record is {}",
                        path.display()
                    ));
                    flights.push(path);
                }
                Ok(None) => {}
                Err(e) => notes.push(format!("failed to keep the previous run's flight record: {e}")),
            }
        }
        Ok(Coordinator {
            workspace,
            fleet,
            faults,
            wal,
            breakers,
            drivers: BTreeMap::new(),
            opened: BTreeSet::new(),
            failed: BTreeSet::new(),
            notes,
            recorder,
            flights,
            record_always: false,
            replica: None,
            _lock: lock,
        })
    }

    /// Shares every write to the coordinator's memory with `replica`
    /// (before the step it announces) and takes epochs from its range.
    pub fn share(&mut self, replica: Box<dyn Replica>) {
        self.replica = Some(replica);
    }

    /// The epoch after `highest` (the highest logged or seen), inside the
    /// replica's range when there is one.
    fn next_epoch(&self, highest: u64) -> Result<u64, ApplyError> {
        let Some(replica) = &self.replica else { return Ok(highest + 1) };
        let range = replica.epochs();
        let epoch = (highest + 1).max(range.start);
        if epoch >= range.end {
            return Err(ReplicaError::Exhausted { start: range.start, end: range.end }.into());
        }
        Ok(epoch)
    }

    /// Runs on unrecorded from here (the benchmark of the recorder's cost
    /// compares runs with and without it).
    pub fn stop_recording(&mut self) {
        self.recorder.close();
        self.recorder = Recorder::disabled();
    }

    /// Appends to the WAL (fsynced) and records the step.
    fn log(&mut self, entry: Entry) -> Result<(), ApplyError> {
        let record = self.wal.append(entry, &self.faults)?;
        if let Some(replica) = &mut self.replica {
            replica.wal(&record)?;
        }
        self.recorder.record(What::Wal {
            kind: record.entry.kind().to_owned(),
            txn: record.entry.txn().to_owned(),
            seq: record.seq,
        });
        Ok(())
    }

    /// Writes a flight record of this run so far (`reason`: abort,
    /// rollback, gate, recovery, requested); a failure is a note.
    pub fn flush_flight(&mut self, reason: &str, label: &str) {
        match self.recorder.flush(reason, label, &[]) {
            Ok(Some(path)) => self.flights.push(path),
            Ok(None) => {}
            Err(e) => self.notes.push(format!("failed to write the flight record: {e}")),
        }
    }

    /// The plan in force.
    pub fn applied(&self) -> Result<Option<AppliedState>, ApplyError> {
        Ok(read_applied(&self.workspace.state_dir())?)
    }

    /// Applies a verified plan (after finishing anything a crash left open).
    pub fn apply(&mut self, plan: &PlanToApply) -> Result<Report, ApplyError> {
        let from = match self.applied()? {
            Some(state) => {
                let (document, _) = self.workspace.load_plan(&state.plan)?;
                Some((state.plan, document))
            }
            None => None,
        };
        self.transaction(from, plan, None)
    }

    /// The plan `rtt rollback` goes back to: the one the plan in force was
    /// planned from (`inputs.previous`), as kept when it was applied.
    pub fn previous_plan(&self) -> Result<PlanToApply, ApplyError> {
        let state =
            self.applied()?.ok_or_else(|| ApplyError::NoPrevious { reason: "nothing was applied yet".into() })?;
        let (current, _) = self.workspace.load_plan(&state.plan)?;
        let previous = current.inputs.previous.ok_or_else(|| ApplyError::NoPrevious {
            reason: format!("plan {} (serial {}) was not planned from a previous plan", state.plan, state.serial),
        })?;
        let (document, bytes) = self.workspace.load_plan(&previous)?;
        Ok(PlanToApply::verified(document, previous, bytes))
    }

    /// Moves back to `previous` (from [`Coordinator::previous_plan`], its
    /// signatures checked again by the caller): a transaction like any other,
    /// below the highest serial on purpose.
    pub fn rollback(&mut self, previous: &PlanToApply) -> Result<Report, ApplyError> {
        let state =
            self.applied()?.ok_or_else(|| ApplyError::NoPrevious { reason: "nothing was applied yet".into() })?;
        let (current, _) = self.workspace.load_plan(&state.plan)?;
        self.transaction(Some((state.plan, current)), previous, None)
    }

    /// Closes every driver, saves breakers and telemetry. Returns notes on
    /// anything that went wrong while closing (the transaction's outcome is
    /// already durable by then).
    pub fn finish(mut self) -> (Vec<String>, Vec<std::path::PathBuf>) {
        let mut problems = Vec::new();
        let now = now_ms();
        let mut samples = Vec::new();
        let names: Vec<String> = self.drivers.keys().cloned().collect();
        for name in names {
            let Some(driver) = self.drivers.get_mut(&name) else { continue };
            if !self.failed.contains(&name)
                && let Err(e) = driver.close()
            {
                problems.push(e.to_string());
            }
            for timing in driver.take_timings() {
                samples.push(Sample {
                    driver: name.clone(),
                    phase: timing.phase.to_owned(),
                    micros: u64::try_from(timing.elapsed.as_micros()).unwrap_or(u64::MAX),
                    ok: timing.ok,
                });
            }
            let breaker = self.breakers.entry(name.clone()).or_default();
            let before = breaker.position;
            breaker.record(!self.failed.contains(&name), now);
            if breaker.position != before {
                let position = |p| format!("{p:?}").to_lowercase();
                let (from, to) = (position(before), position(breaker.position));
                self.recorder.record(What::Breaker { driver: name.clone(), from, to });
            }
        }
        if let Err(e) = self.workspace.write_breakers(&self.breakers) {
            problems.push(e.to_string());
        }
        if let Some(replica) = &mut self.replica
            && let Err(e) = replica.breakers(&self.breakers)
        {
            problems.push(e.to_string());
        }
        if let Err(e) = telemetry::append(&self.workspace.layout.telemetry(), &samples) {
            problems.push(format!("failed to write telemetry: {e}"));
        }
        if self.record_always {
            let label = self.wal.records().last().map_or("coordinator".to_owned(), |r| r.entry.txn().to_owned());
            self.flush_flight("requested", &label);
        }
        problems.append(&mut self.notes);
        self.recorder.close();
        (problems, std::mem::take(&mut self.flights))
    }

    /// Reads every host through its driver and compares it with the plan in
    /// force: the drifted hosts (none when nothing is applied).
    pub fn drift(&mut self) -> Result<Vec<Drift>, ApplyError> {
        Ok(self.drift_and_repair()?.0)
    }

    /// Puts the plan in force back on the hosts that drifted from it, as a
    /// transaction like any other (from and to the same plan; only those
    /// hosts are sent). `Ok(None)` when nothing drifted.
    pub fn repair(&mut self) -> Result<Option<Report>, ApplyError> {
        let (drifted, changes) = self.drift_and_repair()?;
        if drifted.is_empty() {
            return Ok(None);
        }
        let state =
            self.applied()?.ok_or_else(|| ApplyError::NoPrevious { reason: "nothing was applied yet".into() })?;
        let (document, bytes) = self.workspace.load_plan(&state.plan)?;
        let plan = PlanToApply::verified(document.clone(), state.plan, bytes);
        self.transaction_of(changes, Some((state.plan, document)), &plan, None).map(Some)
    }

    fn drift_and_repair(&mut self) -> Result<(Vec<Drift>, ChangeSet), ApplyError> {
        let Some(state) = self.applied()? else { return Ok((Vec::new(), ChangeSet::new())) };
        let (document, _) = self.workspace.load_plan(&state.plan)?;
        let actual = self.read_hosts().map_err(ApplyError::NotStarted)?;
        Ok(drift(&actual, &by_host(&document.placements), &self.fleet.driver_of))
    }

    /// Steps 1–8 of the module docs.
    fn transaction(
        &mut self,
        from: Option<(Sha256, PlanDocument)>,
        to: &PlanToApply,
        rollback_of: Option<&str>,
    ) -> Result<Report, ApplyError> {
        let changes = change_set(
            from.as_ref().map(|(_, d)| d.placements.as_slice()),
            &to.document.placements,
            &self.fleet.driver_of,
        )?;
        self.transaction_of(changes, from, to, rollback_of)
    }

    /// Steps 1–8 for a given change set.
    fn transaction_of(
        &mut self,
        changes: ChangeSet,
        from: Option<(Sha256, PlanDocument)>,
        to: &PlanToApply,
        rollback_of: Option<&str>,
    ) -> Result<Report, ApplyError> {
        if rollback_of.is_none() {
            let now = now_ms();
            for driver in changes.keys() {
                if let Err(retry_at) = self.breakers.entry(driver.clone()).or_default().admit(now) {
                    let retry_in_s = retry_at.saturating_sub(now).div_ceil(1000);
                    return Err(ApplyError::BreakerOpen { driver: driver.clone(), retry_in_s });
                }
            }
        }
        let mut epoch = highest_epoch(&transactions(self.wal.records())?);
        for driver in changes.keys() {
            let probe = self.start(driver).map_err(ApplyError::NotStarted)?;
            epoch = epoch.max(probe.epoch);
        }
        let epoch = self.next_epoch(epoch)?;
        let txn = format!("t{epoch}");
        self.workspace.keep_plan(&to.hash, &to.bytes)?;
        if let Some(replica) = &mut self.replica {
            replica.plan(&to.hash, &to.bytes)?;
        }
        let participants = changes.iter().map(|(d, hosts)| (d.clone(), hosts.keys().cloned().collect())).collect();
        self.log(Entry::Begin {
            txn: txn.clone(),
            epoch,
            from: from.as_ref().map(|(hash, _)| *hash),
            to: to.hash,
            serial: to.document.serial,
            rollback_of: rollback_of.map(str::to_owned),
            participants,
        })?;
        let mut reasons = Vec::new();
        // Drivers that may hold a prepared transaction: those sent a prepare
        // that did not answer with a refusal. Only they need an abort.
        let mut maybe_prepared = Vec::new();
        for (driver, hosts) in &changes {
            let vote = match self.open_session(driver, to.hash, epoch) {
                Ok(()) => {
                    maybe_prepared.push(driver.clone());
                    self.driver(driver).and_then(|d| d.prepare(epoch, &txn, hosts))
                }
                Err(e) => Err(e),
            };
            match vote {
                Ok(Vote::Yes) => {}
                Ok(Vote::No { reason }) => reasons.push(format!("driver `{driver}` voted no: {reason}")),
                Err(e) => {
                    if matches!(e, DriverError::Refused { .. }) {
                        maybe_prepared.retain(|d| d != driver);
                    }
                    self.note_failure(driver, &e);
                    reasons.push(e.to_string());
                }
            }
            self.faults.point("prepared");
            if !reasons.is_empty() {
                break;
            }
        }
        let decision = if reasons.is_empty() { Decision::Commit } else { Decision::Abort };
        let reason = (!reasons.is_empty()).then(|| reasons.join("; "));
        self.log(Entry::Decision { txn: txn.clone(), outcome: decision, reason })?;
        let targets: Vec<String> = match decision {
            Decision::Commit => changes.keys().cloned().collect(),
            Decision::Abort => maybe_prepared,
        };
        self.deliver_all(&targets, decision, epoch, &txn, to.hash)?;
        if decision == Decision::Abort {
            self.end(&txn, EndOutcome::Aborted, None)?;
            self.flush_flight("abort", &txn);
            return Err(ApplyError::Aborted { txn, reasons });
        }
        self.finish_commit(&txn, epoch, &changes, from, to, rollback_of)
    }

    /// Steps 6–8: verify, advance the pointer, end; roll back on a mismatch.
    fn finish_commit(
        &mut self,
        txn: &str,
        epoch: u64,
        changes: &ChangeSet,
        from: Option<(Sha256, PlanDocument)>,
        to: &PlanToApply,
        rollback_of: Option<&str>,
    ) -> Result<Report, ApplyError> {
        let mismatches = self.verify(changes);
        self.faults.point("verified");
        let state_dir = self.workspace.state_dir();
        let previous = read_applied(&state_dir)?;
        // The drivers hold `to` now, verified or not: the pointer says so,
        // and its serial is spent either way.
        let advanced = AppliedState::advanced(previous.as_ref(), to.hash, to.document.serial);
        write_applied(&state_dir, &advanced)?;
        if let Some(replica) = &mut self.replica {
            replica.applied(&advanced)?;
        }
        self.faults.point("state");
        let report = Report {
            txn: txn.to_owned(),
            outcome: Outcome::Committed,
            epoch,
            drivers: changes.keys().cloned().collect(),
            hosts_changed: changes.values().map(|h| h.len()).sum(),
        };
        if mismatches.is_empty() {
            self.end(txn, EndOutcome::Committed, None)?;
            return Ok(report);
        }
        self.end(txn, EndOutcome::VerifyFailed, Some(mismatches.join("; ")))?;
        let rollback = match (rollback_of, from) {
            (Some(original), _) => format!("this was the rollback of {original}; it is not rolled back again"),
            (None, None) => "there is no previous plan to roll back to".to_owned(),
            (None, Some((hash, _))) => {
                let (document, bytes) = self.workspace.load_plan(&hash)?;
                let previous = PlanToApply::verified(document, hash, bytes);
                let current = (to.hash, to.document.clone());
                let rollback = match self.transaction(Some(current), &previous, Some(txn)) {
                    Ok(back) => format!("rolled back to {hash} by transaction {}", back.txn),
                    Err(e) => format!("the rollback to {hash} failed: {e}"),
                };
                self.flush_flight("rollback", txn);
                rollback
            }
        };
        Err(ApplyError::VerifyFailed { txn: txn.to_owned(), mismatches, rollback })
    }

    fn end(&mut self, txn: &str, outcome: EndOutcome, detail: Option<String>) -> Result<(), ApplyError> {
        self.log(Entry::End { txn: txn.to_owned(), outcome, detail })?;
        if let Some(anchor) = self.wal.anchor() {
            self.workspace.write_anchor(&anchor)?;
        }
        self.faults.point("anchored");
        Ok(())
    }
}

impl Drop for Coordinator {
    /// A run that ends, even by an error, ended: its live flight segments go
    /// (only a killed process leaves them, for the next run to find).
    fn drop(&mut self) {
        self.recorder.close();
    }
}

pub mod breaker;
mod calls;
pub mod changes;
pub mod lock;
mod recover;
pub mod soak;
#[cfg(test)]
mod tests;
