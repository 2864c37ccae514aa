//! Recovery (SPEC §8, docs/apply.md "Recovery rules"): finishes the
//! transaction the WAL left open, as `recovery::next_action` decides. The
//! Promela model's `Recovery` process is this file.

use super::*;

impl Coordinator {
    /// Finishes what the WAL left open (SPEC §8): a logged decision is sent
    /// again; no decision means abort; a commit that failed verify is rolled
    /// back. `Ok(None)` when there was nothing to do.
    pub fn recover(&mut self) -> Result<Option<Report>, ApplyError> {
        let recovered = self.recover_open();
        if let Ok(Some(report)) = &recovered {
            let txn = report.txn.clone();
            self.flush_flight("recovery", &txn);
        }
        recovered
    }

    fn recover_open(&mut self) -> Result<Option<Report>, ApplyError> {
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
        let epoch = self.next_epoch(epoch)?;
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
        self.wal = Wal::open(&self.workspace.layout.wal(), anchor.as_ref())?;
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
        self.log(Entry::Recover { txn: view.txn.clone(), epoch })?;
        if decision.is_none() {
            let reason = Some("presumed abort: the coordinator stopped before deciding".to_owned());
            self.log(Entry::Decision { txn: view.txn.clone(), outcome: Decision::Abort, reason })?;
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

    pub(super) fn roll_back_after_verify_failure(&mut self, failed: &TxnView) -> Result<Report, ApplyError> {
        let Some(previous_hash) = failed.from else {
            return Err(ApplyError::NoPrevious { reason: format!("transaction {} had no previous plan", failed.txn) });
        };
        let (current, _) = self.workspace.load_plan(&failed.to)?;
        let (document, bytes) = self.workspace.load_plan(&previous_hash)?;
        let previous = PlanToApply::verified(document, previous_hash, bytes);
        self.transaction(Some((failed.to, current)), &previous, Some(&failed.txn))
    }
}
