//! What the WAL says about transactions, and what recovery must do. Pure:
//! records in, a decision out; the coordinator carries it out.
//!
//! Rules (SPEC §8, docs/apply.md): the last transaction without an `end` is
//! finished — re-sent its logged decision, or aborted when none was logged
//! (presumed abort). A transaction that ended `verify_failed` with nothing
//! after it still owes its rollback. Everything else needs nothing.

use std::collections::BTreeMap;

use rtt_canonical::Sha256;

use crate::log::wal::{Decision, EndOutcome, Entry, GateOutcome, Record};

/// A transaction as the log tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnView {
    /// Transaction id.
    pub txn: String,
    /// Epoch of the coordinator that began it.
    pub epoch: u64,
    /// Plan in force before.
    pub from: Option<Sha256>,
    /// Plan being applied.
    pub to: Sha256,
    /// Serial of `to`.
    pub serial: u64,
    /// The transaction this one rolls back.
    pub rollback_of: Option<String>,
    /// Hosts changed, per driver.
    pub participants: BTreeMap<String, Vec<String>>,
    /// The logged decision.
    pub decision: Option<Decision>,
    /// Epochs of recoveries that took it over.
    pub recoveries: Vec<u64>,
    /// How it ended.
    pub end: Option<EndOutcome>,
    /// The SLO gate's verdict after it committed, if one was logged.
    pub gate: Option<GateOutcome>,
}

/// A log whose records are chained correctly but do not tell a possible story.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("WAL seq {seq}: {problem}")]
#[diagnostic(code(rtt::wal::inconsistent))]
pub struct LogError {
    /// The offending record.
    pub seq: u64,
    /// What is impossible about it.
    pub problem: String,
}

/// Groups records into transactions, checking that they follow
/// `begin (recover)* [decision (recover)*] end` one transaction at a time.
pub fn transactions(records: &[Record]) -> Result<Vec<TxnView>, LogError> {
    let mut txns: Vec<TxnView> = Vec::new();
    for record in records {
        let fail = |problem: String| LogError { seq: record.seq, problem };
        let open = txns.last_mut().filter(|t| t.end.is_none());
        match (&record.entry, open) {
            (Entry::Begin { txn, epoch, from, to, serial, rollback_of, participants }, None) => {
                if txns.iter().any(|t| &t.txn == txn) {
                    return Err(fail(format!("transaction {txn} begins twice")));
                }
                txns.push(TxnView {
                    txn: txn.clone(),
                    epoch: *epoch,
                    from: *from,
                    to: *to,
                    serial: *serial,
                    rollback_of: rollback_of.clone(),
                    participants: participants.clone(),
                    decision: None,
                    recoveries: Vec::new(),
                    end: None,
                    gate: None,
                });
            }
            (Entry::Begin { txn, .. }, Some(open)) => {
                return Err(fail(format!("transaction {txn} begins while {} is unfinished", open.txn)));
            }
            (Entry::Gate { txn, outcome, .. }, None) => match txns.last_mut() {
                Some(last) if &last.txn == txn && last.end == Some(EndOutcome::Committed) && last.gate.is_none() => {
                    last.gate = Some(*outcome);
                }
                _ => return Err(fail(format!("gate for {txn}, which is not the last transaction committed"))),
            },
            (entry, None) => {
                return Err(fail(format!("{} for {} outside any open transaction", entry.kind(), entry.txn())));
            }
            (entry, Some(open)) if entry.txn() != open.txn => {
                return Err(fail(format!("{} for {} while {} is open", entry.kind(), entry.txn(), open.txn)));
            }
            (Entry::Decision { outcome, .. }, Some(open)) => {
                if open.decision.is_some() {
                    return Err(fail(format!("a second decision for {}", open.txn)));
                }
                open.decision = Some(*outcome);
            }
            (Entry::Recover { epoch, .. }, Some(open)) => open.recoveries.push(*epoch),
            (Entry::Gate { .. }, Some(open)) => {
                return Err(fail(format!("gate for {} before it ended", open.txn)));
            }
            (Entry::End { outcome, .. }, Some(open)) => {
                let consistent = matches!(
                    (open.decision, outcome),
                    (Some(Decision::Commit), EndOutcome::Committed | EndOutcome::VerifyFailed)
                        | (Some(Decision::Abort), EndOutcome::Aborted)
                );
                if !consistent {
                    return Err(fail(format!("end {outcome:?} does not follow decision {:?}", open.decision)));
                }
                open.end = Some(*outcome);
            }
        }
    }
    Ok(txns)
}

/// What recovery must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Every transaction is finished.
    Nothing,
    /// No decision was logged: abort everywhere (presumed abort).
    PresumedAbort(TxnView),
    /// A decision was logged but not every driver heard it: send it again.
    Redeliver(TxnView, Decision),
    /// The last transaction committed but failed verify, or its SLO gate
    /// found a breach: roll back to `from` (not for a rollback transaction
    /// itself).
    RollBack(TxnView),
}

/// The recovery action the log calls for.
pub fn next_action(txns: &[TxnView]) -> Action {
    let Some(last) = txns.last() else { return Action::Nothing };
    match (last.end, last.decision) {
        (None, None) => Action::PresumedAbort(last.clone()),
        (None, Some(decision)) => Action::Redeliver(last.clone(), decision),
        // A rollback that itself fails verify is not rolled back again: that
        // would swing between two plans; it is reported instead.
        (Some(EndOutcome::VerifyFailed), _) if last.from.is_some() && last.rollback_of.is_none() => {
            Action::RollBack(last.clone())
        }
        // The gate found a breach and the coordinator stopped before the
        // rollback began: recovery rolls back as the gate decided.
        (Some(EndOutcome::Committed), _)
            if last.gate == Some(GateOutcome::Breach) && last.from.is_some() && last.rollback_of.is_none() =>
        {
            Action::RollBack(last.clone())
        }
        (Some(_), _) => Action::Nothing,
    }
}

/// The highest epoch the log has used.
pub fn highest_epoch(txns: &[TxnView]) -> u64 {
    txns.iter().flat_map(|t| std::iter::once(t.epoch).chain(t.recoveries.iter().copied())).max().unwrap_or(0)
}

/// The plan in force according to the log once its decisions are carried
/// out: the `to` of the last transaction that committed (or was decided to
/// commit), with its serial.
pub fn plan_in_force(txns: &[TxnView]) -> Option<(Sha256, u64)> {
    txns.iter().rev().find(|t| t.decision == Some(Decision::Commit)).map(|t| (t.to, t.serial))
}

/// Transactions without an `end` (at most one in a consistent log).
pub fn in_doubt(txns: &[TxnView]) -> Vec<&TxnView> {
    txns.iter().filter(|t| t.end.is_none()).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::log::wal::seal;

    /// A log with its records sealed in order.
    fn log(entries: Vec<Entry>) -> Vec<Record> {
        let mut records: Vec<Record> = Vec::new();
        for entry in entries {
            let last = records.last();
            let record = seal(last.map_or(1, |r| r.seq + 1), last.map(|r| r.hash), entry).expect("seals");
            records.push(record);
        }
        records
    }

    fn plan(n: u8) -> Sha256 {
        Sha256::of(&[n])
    }

    fn begin(txn: &str, epoch: u64, from: Option<u8>, to: u8, rollback_of: Option<&str>) -> Entry {
        Entry::Begin {
            txn: txn.into(),
            epoch,
            from: from.map(plan),
            to: plan(to),
            serial: u64::from(to),
            rollback_of: rollback_of.map(str::to_owned),
            participants: BTreeMap::new(),
        }
    }

    fn decide(txn: &str, outcome: Decision) -> Entry {
        Entry::Decision { txn: txn.into(), outcome, reason: None }
    }

    fn end(txn: &str, outcome: EndOutcome) -> Entry {
        Entry::End { txn: txn.into(), outcome, detail: None }
    }

    /// What a recovering coordinator appends for an action: the pure shadow
    /// of `Coordinator::recover`, used to check recovery's fixed point.
    fn recover(records: &mut Vec<Record>, epoch: u64) {
        let txns = transactions(records).expect("consistent");
        let mut entries = Vec::new();
        match next_action(&txns) {
            Action::Nothing => {}
            Action::PresumedAbort(t) => {
                entries.push(Entry::Recover { txn: t.txn.clone(), epoch });
                entries.push(decide(&t.txn, Decision::Abort));
                entries.push(end(&t.txn, EndOutcome::Aborted));
            }
            Action::Redeliver(t, decision) => {
                entries.push(Entry::Recover { txn: t.txn.clone(), epoch });
                let outcome = if decision == Decision::Commit { EndOutcome::Committed } else { EndOutcome::Aborted };
                entries.push(end(&t.txn, outcome));
            }
            Action::RollBack(t) => {
                let txn = format!("{}-rb", t.txn);
                entries.push(Entry::Begin {
                    txn: txn.clone(),
                    epoch,
                    from: Some(t.to),
                    to: t.from.unwrap_or(t.to),
                    serial: 0,
                    rollback_of: Some(t.txn.clone()),
                    participants: BTreeMap::new(),
                });
                entries.push(decide(&txn, Decision::Commit));
                entries.push(end(&txn, EndOutcome::Committed));
            }
        }
        for entry in entries {
            let last = records.last();
            let record = seal(last.map_or(1, |r| r.seq + 1), last.map(|r| r.hash), entry).expect("seals");
            records.push(record);
        }
    }

    #[test]
    fn a_begin_without_decision_is_presumed_aborted() {
        let txns = transactions(&log(vec![begin("t1", 1, None, 1, None)])).expect("consistent");
        assert!(matches!(next_action(&txns), Action::PresumedAbort(t) if t.txn == "t1"));
    }

    #[test]
    fn a_logged_commit_is_redelivered_never_lost() {
        let records = log(vec![begin("t1", 1, None, 1, None), decide("t1", Decision::Commit)]);
        let txns = transactions(&records).expect("consistent");
        assert!(matches!(next_action(&txns), Action::Redeliver(_, Decision::Commit)));
        assert_eq!(plan_in_force(&txns), Some((plan(1), 1)));
    }

    #[test]
    fn impossible_stories_are_refused() {
        let two_open = log(vec![begin("t1", 1, None, 1, None), begin("t2", 2, None, 2, None)]);
        assert!(transactions(&two_open).is_err());
        let end_without_decision = log(vec![begin("t1", 1, None, 1, None), end("t1", EndOutcome::Committed)]);
        assert!(transactions(&end_without_decision).is_err());
        let stray = log(vec![decide("t9", Decision::Abort)]);
        assert!(transactions(&stray).is_err());
    }

    fn gate(txn: &str, outcome: GateOutcome) -> Entry {
        Entry::Gate { txn: txn.into(), outcome, evidence: Vec::new() }
    }

    #[test]
    fn a_gate_breach_whose_rollback_never_began_is_rolled_back_by_recovery() {
        let committed = vec![
            begin("t1", 1, None, 1, None),
            decide("t1", Decision::Commit),
            end("t1", EndOutcome::Committed),
            begin("t2", 2, Some(1), 2, None),
            decide("t2", Decision::Commit),
            end("t2", EndOutcome::Committed),
        ];
        let breach = log([committed.clone(), vec![gate("t2", GateOutcome::Breach)]].concat());
        let txns = transactions(&breach).expect("consistent");
        assert!(matches!(next_action(&txns), Action::RollBack(t) if t.txn == "t2" && t.from == Some(plan(1))));
        for outcome in [GateOutcome::Pass, GateOutcome::NoEvidence] {
            let kept = log([committed.clone(), vec![gate("t2", outcome)]].concat());
            assert_eq!(next_action(&transactions(&kept).expect("consistent")), Action::Nothing);
        }
        // The rollback began: recovery finishes that transaction, not a second rollback.
        let rolling =
            log([committed.clone(), vec![gate("t2", GateOutcome::Breach), begin("t3", 3, Some(2), 1, Some("t2"))]]
                .concat());
        assert!(
            matches!(next_action(&transactions(&rolling).expect("consistent")), Action::PresumedAbort(t) if t.txn == "t3")
        );
    }

    #[test]
    fn a_gate_only_follows_the_last_committed_transaction() {
        let open = log(vec![begin("t1", 1, None, 1, None), gate("t1", GateOutcome::Pass)]);
        assert!(transactions(&open).is_err());
        let aborted = log(vec![
            begin("t1", 1, None, 1, None),
            decide("t1", Decision::Abort),
            end("t1", EndOutcome::Aborted),
            gate("t1", GateOutcome::Pass),
        ]);
        assert!(transactions(&aborted).is_err());
        let twice = log(vec![
            begin("t1", 1, None, 1, None),
            decide("t1", Decision::Commit),
            end("t1", EndOutcome::Committed),
            gate("t1", GateOutcome::Pass),
            gate("t1", GateOutcome::Breach),
        ]);
        assert!(transactions(&twice).is_err());
        let stray = log(vec![gate("t9", GateOutcome::Pass)]);
        assert!(transactions(&stray).is_err());
    }

    /// Random histories: finished transactions, then one cut at any step.
    fn history() -> impl Strategy<Value = Vec<Entry>> {
        (proptest::collection::vec((any::<bool>(), any::<bool>()), 0..5), 0usize..5, any::<bool>()).prop_map(
            |(finished, cut, last_commits)| {
                let mut entries = Vec::new();
                let mut in_force: Option<u8> = None;
                let mut epoch = 0;
                for (i, (commits, verify_fails)) in finished.iter().enumerate() {
                    let txn = format!("t{i}");
                    let to = u8::try_from(i + 1).unwrap_or(u8::MAX);
                    epoch += 1;
                    entries.push(begin(&txn, epoch, in_force, to, None));
                    if *commits {
                        entries.push(decide(&txn, Decision::Commit));
                        if *verify_fails && in_force.is_some() {
                            entries.push(end(&txn, EndOutcome::VerifyFailed));
                            // The rollback that followed.
                            let rb = format!("{txn}-rb");
                            epoch += 1;
                            entries.push(begin(&rb, epoch, Some(to), in_force.unwrap_or(to), Some(&txn)));
                            entries.push(decide(&rb, Decision::Commit));
                            entries.push(end(&rb, EndOutcome::Committed));
                        } else {
                            entries.push(end(&txn, EndOutcome::Committed));
                            in_force = Some(to);
                        }
                    } else {
                        entries.push(decide(&txn, Decision::Abort));
                        entries.push(end(&txn, EndOutcome::Aborted));
                    }
                }
                // The last transaction, crashed after `cut` of its records.
                let txn = "last".to_owned();
                let mut tail = vec![begin(&txn, epoch + 1, in_force, 200, None)];
                let decision = if last_commits { Decision::Commit } else { Decision::Abort };
                tail.push(Entry::Recover { txn: txn.clone(), epoch: epoch + 2 });
                tail.push(decide(&txn, decision));
                let outcome = match decision {
                    Decision::Commit if in_force.is_some() => EndOutcome::VerifyFailed,
                    Decision::Commit => EndOutcome::Committed,
                    Decision::Abort => EndOutcome::Aborted,
                };
                tail.push(end(&txn, outcome));
                entries.extend(tail.into_iter().take(cut));
                entries
            },
        )
    }

    proptest! {
        /// Replaying the WAL through recovery any number of times gives the
        /// same state: after the first recovery there is nothing left to do,
        /// and a logged commit decision is never lost.
        #[test]
        fn recovery_replay_is_idempotent(entries in history(), runs in 1usize..5) {
            let original = log(entries);
            let before = transactions(&original).expect("generated logs are consistent");
            let decided_commit = matches!(next_action(&before), Action::Redeliver(_, Decision::Commit));
            let mut once = original.clone();
            recover(&mut once, 1000);
            let after_once = transactions(&once).expect("recovery keeps the log consistent");
            prop_assert_eq!(next_action(&after_once), Action::Nothing);
            let mut many = once.clone();
            for run in 0..runs {
                recover(&mut many, 2000 + run as u64);
            }
            prop_assert_eq!(&many, &once, "a second recovery appends nothing");
            let state = |t: &[TxnView]| (plan_in_force(t), in_doubt(t).len());
            prop_assert_eq!(state(&transactions(&many).expect("consistent")), state(&after_once));
            if decided_commit {
                prop_assert_eq!(plan_in_force(&after_once), plan_in_force(&before), "no lost commit");
            }
        }
    }
}
