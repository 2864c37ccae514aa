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

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use rtt_planner::document::PlanDocument;
use rtt_schema::canonical::Sha256;

use crate::applied::{AppliedState, read_applied, write_applied};
use crate::breaker::Breakers;
use crate::changes::{ChangeSet, UnknownHost, by_host, change_set};
use crate::client::{ProcessEndpoint, ProcessSpec};
use crate::dir_driver::DirStore;
use crate::driver::{Driver, DriverError, InProcess};
use crate::fault::Faults;
use crate::lock::{CoordinatorLock, LockError};
use crate::protocol::{CAP_PLACEMENTS_WRITE, OpenParams, ProbeResult, Vote};
use crate::recovery::{Action, LogError, TxnView, highest_epoch, next_action, transactions};
use crate::telemetry::{self, Sample};
use crate::wal::{Decision, EndOutcome, Entry, Wal, WalError};
use crate::workspace::{DriverConfig, Fleet, Workspace, WorkspaceError};

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
    State(#[from] crate::applied::StateError),
    /// A host no driver serves.
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownHost(#[from] UnknownHost),
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
    /// Things worth telling the operator (stale lock taken over, torn record).
    pub notes: Vec<String>,
    _lock: CoordinatorLock,
}

impl Coordinator {
    /// Takes the lock and opens the WAL (checking its chain and anchor).
    pub fn open(workspace: Workspace, fleet: Fleet, faults: Faults) -> Result<Coordinator, ApplyError> {
        let lock = CoordinatorLock::acquire(&workspace.lock_path())?;
        let mut notes = Vec::new();
        if let Some(pid) = lock.stale_pid {
            notes.push(format!("took over a stale lock left by process {pid}"));
        }
        let anchor = workspace.read_anchor()?;
        let wal = Wal::open(&workspace.wal_dir(), anchor.as_ref())?;
        if let Some((offset, len)) = wal.torn_on_open {
            notes.push(format!("set aside a torn WAL record ({len} bytes at offset {offset}) left by a crash"));
        }
        let breakers = workspace.read_breakers()?;
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
            _lock: lock,
        })
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

    /// Finishes what the WAL left open (SPEC §8): a logged decision is sent
    /// again; no decision means abort; a commit that failed verify is rolled
    /// back. `Ok(None)` when there was nothing to do.
    pub fn recover(&mut self) -> Result<Option<Report>, ApplyError> {
        let txns = transactions(self.wal.records())?;
        let view = match next_action(&txns) {
            Action::Nothing => return Ok(None),
            Action::RollBack(view) => return self.roll_back_after_verify_failure(&view).map(Some),
            Action::PresumedAbort(view) | Action::Redeliver(view, _) => view,
        };
        let (to_document, to_bytes) = self.workspace.load_plan(&view.to)?;
        let to = PlanToApply::verified(to_document, view.to, to_bytes);
        let desired = by_host(&to.document.placements);
        let mut changes = ChangeSet::new();
        for (driver, hosts) in &view.participants {
            if !self.fleet.drivers.contains_key(driver) {
                return Err(ApplyError::UnknownDriver { driver: driver.clone(), txn: view.txn.clone() });
            }
            let entry = changes.entry(driver.clone()).or_default();
            for host in hosts {
                entry.insert(host.clone(), desired.get(host).cloned().unwrap_or_default());
            }
        }
        // A newer epoch than anything logged or seen: the crashed coordinator is fenced off.
        let mut epoch = highest_epoch(&txns);
        let mut unreachable = Vec::new();
        for driver in changes.keys() {
            match self.start(driver) {
                Ok(probe) => epoch = epoch.max(probe.epoch),
                Err(e) => unreachable.push(e.to_string()),
            }
        }
        let epoch = epoch + 1;
        // Fence every participant before reading the decision: a coordinator
        // that was only paused (not dead) may still log a decision and send
        // it; once every driver has seen the new epoch its calls fail, and
        // whatever it logged before that is read below. Reading first would
        // let it commit a driver behind recovery's back (two_phase.pml,
        // -DREAD_BEFORE_FENCE, finds that mixed state).
        if unreachable.is_empty() {
            for driver in changes.keys() {
                if let Err(e) = self.open_session(driver, view.to, epoch) {
                    self.note_failure(driver, &e);
                    unreachable.push(e.to_string());
                }
            }
        }
        let anchor = self.workspace.read_anchor()?;
        self.wal = Wal::open(&self.workspace.wal_dir(), anchor.as_ref())?;
        let txns = transactions(self.wal.records())?;
        let decision = match next_action(&txns) {
            Action::PresumedAbort(fresh) if fresh.txn == view.txn => None,
            Action::Redeliver(fresh, decision) if fresh.txn == view.txn => Some(decision),
            // The other coordinator finished it after all.
            Action::Nothing => return Ok(None),
            _ => {
                let seq = self.wal.records().last().map_or(0, |r| r.seq);
                return Err(
                    LogError { seq, problem: format!("the WAL moved past {} during recovery", view.txn) }.into()
                );
            }
        };
        let decision_or_abort = decision.unwrap_or(Decision::Abort);
        if !unreachable.is_empty() {
            return Err(ApplyError::InDoubt { txn: view.txn, decision: decision_or_abort, drivers: unreachable });
        }
        self.wal.append(Entry::Recover { txn: view.txn.clone(), epoch }, &self.faults)?;
        if decision.is_none() {
            let reason = Some("presumed abort: the coordinator stopped before deciding".to_owned());
            self.wal
                .append(Entry::Decision { txn: view.txn.clone(), outcome: Decision::Abort, reason }, &self.faults)?;
        }
        // Recovery does not know who was sent a prepare: every participant hears the decision.
        let targets: Vec<String> = changes.keys().cloned().collect();
        self.deliver_all(&targets, decision_or_abort, epoch, &view.txn, view.to)?;
        let report = Report {
            txn: view.txn.clone(),
            outcome: Outcome::Aborted,
            epoch,
            drivers: changes.keys().cloned().collect(),
            hosts_changed: changes.values().map(|h| h.len()).sum(),
        };
        match decision_or_abort {
            Decision::Abort => {
                self.end(&view.txn, EndOutcome::Aborted, None)?;
                Ok(Some(report))
            }
            Decision::Commit => {
                let from = match view.from {
                    Some(hash) => Some((hash, self.workspace.load_plan(&hash)?.0)),
                    None => None,
                };
                self.finish_commit(&view.txn, epoch, &changes, from, &to, view.rollback_of.as_deref()).map(Some)
            }
        }
    }

    /// Closes every driver, saves breakers and telemetry. Returns notes on
    /// anything that went wrong while closing (the transaction's outcome is
    /// already durable by then).
    pub fn finish(mut self) -> Vec<String> {
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
            self.breakers.entry(name.clone()).or_default().record(!self.failed.contains(&name), now);
        }
        if let Err(e) = self.workspace.write_breakers(&self.breakers) {
            problems.push(e.to_string());
        }
        if let Err(e) = telemetry::append(&self.workspace.telemetry_path(), &samples) {
            problems.push(format!("failed to write telemetry: {e}"));
        }
        problems
    }

    fn roll_back_after_verify_failure(&mut self, failed: &TxnView) -> Result<Report, ApplyError> {
        let Some(previous_hash) = failed.from else {
            return Err(ApplyError::NoPrevious { reason: format!("transaction {} had no previous plan", failed.txn) });
        };
        let (current, _) = self.workspace.load_plan(&failed.to)?;
        let (document, bytes) = self.workspace.load_plan(&previous_hash)?;
        let previous = PlanToApply::verified(document, previous_hash, bytes);
        self.transaction(Some((failed.to, current)), &previous, Some(&failed.txn))
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
        let epoch = epoch + 1;
        let txn = format!("t{epoch}");
        self.workspace.keep_plan(&to.hash, &to.bytes)?;
        let participants = changes.iter().map(|(d, hosts)| (d.clone(), hosts.keys().cloned().collect())).collect();
        self.wal.append(
            Entry::Begin {
                txn: txn.clone(),
                epoch,
                from: from.as_ref().map(|(hash, _)| *hash),
                to: to.hash,
                serial: to.document.serial,
                rollback_of: rollback_of.map(str::to_owned),
                participants,
            },
            &self.faults,
        )?;
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
        self.wal.append(Entry::Decision { txn: txn.clone(), outcome: decision, reason }, &self.faults)?;
        let targets: Vec<String> = match decision {
            Decision::Commit => changes.keys().cloned().collect(),
            Decision::Abort => maybe_prepared,
        };
        self.deliver_all(&targets, decision, epoch, &txn, to.hash)?;
        if decision == Decision::Abort {
            self.end(&txn, EndOutcome::Aborted, None)?;
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
        write_applied(&state_dir, &AppliedState::advanced(previous.as_ref(), to.hash, to.document.serial))?;
        // rtt-trust writes it with the registry's atomic writer too.
        crate::durable::count_atomic_write_elsewhere();
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
                match self.transaction(Some(current), &previous, Some(txn)) {
                    Ok(back) => format!("rolled back to {hash} by transaction {}", back.txn),
                    Err(e) => format!("the rollback to {hash} failed: {e}"),
                }
            }
        };
        Err(ApplyError::VerifyFailed { txn: txn.to_owned(), mismatches, rollback })
    }

    fn end(&mut self, txn: &str, outcome: EndOutcome, detail: Option<String>) -> Result<(), ApplyError> {
        self.wal.append(Entry::End { txn: txn.to_owned(), outcome, detail }, &self.faults)?;
        if let Some(anchor) = self.wal.anchor() {
            self.workspace.write_anchor(&anchor)?;
        }
        self.faults.point("anchored");
        Ok(())
    }

    /// Step 5: the decision to every participant; a driver that fails is
    /// restarted and told once more.
    fn deliver_all(
        &mut self,
        targets: &[String],
        decision: Decision,
        epoch: u64,
        txn: &str,
        plan: Sha256,
    ) -> Result<(), ApplyError> {
        let mut undelivered = Vec::new();
        for driver in targets {
            let mut outcome = self.deliver(driver, decision, epoch, txn, plan);
            if let Err(e) = &outcome {
                self.note_failure(driver, e);
                if let Some(d) = self.drivers.get_mut(driver) {
                    d.restart();
                }
                self.opened.remove(driver);
                outcome = self.deliver(driver, decision, epoch, txn, plan);
            }
            if let Err(e) = outcome {
                self.note_failure(driver, &e);
                undelivered.push(e.to_string());
            }
            self.faults.point("delivered");
        }
        if undelivered.is_empty() {
            Ok(())
        } else {
            Err(ApplyError::InDoubt { txn: txn.to_owned(), decision, drivers: undelivered })
        }
    }

    fn deliver(
        &mut self,
        driver: &str,
        decision: Decision,
        epoch: u64,
        txn: &str,
        plan: Sha256,
    ) -> Result<(), DriverError> {
        self.open_session(driver, plan, epoch)?;
        let d = self.driver(driver)?;
        match decision {
            Decision::Commit => d.commit(epoch, txn),
            Decision::Abort => d.abort(epoch, txn),
        }
    }

    /// Step 6: `Rx` every changed host; the mismatches, described.
    fn verify(&mut self, changes: &ChangeSet) -> Vec<String> {
        let mut mismatches = Vec::new();
        for (driver, desired) in changes {
            let hosts: Vec<String> = desired.keys().cloned().collect();
            let mut read = self.driver(driver).and_then(|d| d.rx(&hosts));
            if let Err(e) = &read {
                self.note_failure(driver, e);
                if let Some(d) = self.drivers.get_mut(driver) {
                    d.restart();
                }
                self.opened.remove(driver);
                read = self.driver(driver).and_then(|d| d.rx(&hosts));
            }
            match read {
                Err(e) => {
                    self.note_failure(driver, &e);
                    mismatches.push(format!("driver `{driver}` could not be read: {e}"));
                }
                Ok(actual) => {
                    for (host, want) in desired {
                        let mut have = actual.get(host).cloned().unwrap_or_default();
                        have.sort();
                        if &have != want {
                            mismatches.push(format!(
                                "host `{host}` (driver `{driver}`) holds {} placement rows, not the plan's {}",
                                have.len(),
                                want.len()
                            ));
                        }
                    }
                }
            }
        }
        mismatches
    }

    /// Starts a driver and checks what it asks for against its grant.
    fn start(&mut self, name: &str) -> Result<ProbeResult, DriverError> {
        let granted = self.granted_capabilities(name);
        let result = self.driver(name).and_then(|d| d.probe());
        let probe = result.inspect_err(|e| self.note_failure(name, e))?;
        if let Some(extra) = probe.capabilities.iter().find(|c| !granted.contains(c)) {
            let e = DriverError::CapabilityBreach {
                driver: name.to_owned(),
                detail: format!("it needs capability `{extra}`, which the config does not grant"),
            };
            self.note_failure(name, &e);
            return Err(e);
        }
        Ok(probe)
    }

    fn open_session(&mut self, name: &str, plan: Sha256, epoch: u64) -> Result<(), DriverError> {
        if self.opened.contains(name) {
            return Ok(());
        }
        let params = OpenParams {
            plan: plan.to_string(),
            epoch,
            capabilities: self.granted_capabilities(name),
            hosts: self.fleet.hosts_of.get(name).cloned().unwrap_or_default(),
        };
        self.driver(name)?.open(&params)?;
        self.opened.insert(name.to_owned());
        Ok(())
    }

    fn granted_capabilities(&self, name: &str) -> Vec<String> {
        match self.fleet.drivers.get(name) {
            Some(DriverConfig::Dir { .. }) => vec![CAP_PLACEMENTS_WRITE.to_owned()],
            Some(DriverConfig::Command { capabilities, .. }) => capabilities.clone(),
            None => Vec::new(),
        }
    }

    fn driver(&mut self, name: &str) -> Result<&mut Driver, DriverError> {
        if !self.drivers.contains_key(name) {
            let config = self
                .fleet
                .drivers
                .get(name)
                .ok_or_else(|| DriverError::Spawn { driver: name.to_owned(), detail: "not in the config".into() })?;
            let endpoint: Box<dyn crate::driver::Endpoint> = match config {
                DriverConfig::Dir { root } => {
                    let root = root.clone();
                    let scope = format!("driver:{name}");
                    Box::new(InProcess::new(move || DirStore::open(&root, Faults::from_env(&scope))))
                }
                DriverConfig::Command { argv, timeout, .. } => Box::new(ProcessEndpoint::new(ProcessSpec {
                    argv: argv.clone(),
                    cwd: self.workspace.base.clone(),
                    timeout: *timeout,
                    stderr_log: Some(self.workspace.driver_log(name)),
                })),
            };
            self.drivers.insert(name.to_owned(), Driver::new(name, endpoint));
        }
        self.drivers
            .get_mut(name)
            .ok_or_else(|| DriverError::Spawn { driver: name.to_owned(), detail: "not started".into() })
    }

    /// Transport failures count against the breaker; refusals are answers.
    fn note_failure(&mut self, driver: &str, error: &DriverError) {
        if !matches!(error, DriverError::Refused { .. }) {
            self.failed.insert(driver.to_owned());
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
#[path = "coordinator_tests.rs"]
mod tests;
