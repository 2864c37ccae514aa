//! The chaos pack's judge (pure): after a fault and recovery, does every
//! host hold wholly the previous plan or wholly the next, in agreement with
//! the applied pointer, with the WAL intact and nothing in doubt?

use std::collections::{BTreeMap, BTreeSet};

use rtt_apply::driver::protocol::{HostPlacements, Placement};
use serde::Serialize;

use super::scenario::Expect;

/// Which plan the fleet holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Holds {
    /// The plan in force before.
    Previous,
    /// The plan applied.
    Next,
}

/// The verdict on one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Wholly one plan, as expected, and consistent.
    Survived {
        /// Which.
        holds: Holds,
    },
    /// Some hosts hold one plan and some the other.
    Mixed {
        /// Hosts on the previous plan only.
        previous: Vec<String>,
        /// Hosts on the next plan only.
        next: Vec<String>,
    },
    /// Anything else: a host on neither plan, a damaged WAL, a transaction
    /// still in doubt, a pointer that disagrees with the hosts, or the wrong
    /// plan for the scenario.
    Lost {
        /// Why.
        reason: String,
    },
}

/// What the case ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// Every host's placements, as its driver reports them.
    pub hosts: HostPlacements,
    /// Which plan the applied pointer names (`None`: neither of the two).
    pub pointer: Option<Holds>,
    /// The WAL verifies and no transaction is in doubt or owed a rollback.
    pub log_clean: Result<(), String>,
}

/// Judges `ending` against the two plans' placements by host.
pub fn judge(ending: &Ending, previous: &HostPlacements, next: &HostPlacements, expect: Expect) -> Verdict {
    if let Err(reason) = &ending.log_clean {
        return Verdict::Lost { reason: reason.clone() };
    }
    let empty: Vec<Placement> = Vec::new();
    let hosts: BTreeSet<&String> = ending.hosts.keys().chain(previous.keys()).chain(next.keys()).collect();
    let mut only_previous = Vec::new();
    let mut only_next = Vec::new();
    for host in hosts {
        let held = ending.hosts.get(host).unwrap_or(&empty);
        let on_previous = held == previous.get(host).unwrap_or(&empty);
        let on_next = held == next.get(host).unwrap_or(&empty);
        match (on_previous, on_next) {
            (true, true) => {}
            (true, false) => only_previous.push(host.clone()),
            (false, true) => only_next.push(host.clone()),
            (false, false) => return Verdict::Lost { reason: format!("host `{host}` holds neither plan: {held:?}") },
        }
    }
    let holds = match (only_previous.is_empty(), only_next.is_empty()) {
        (false, false) => return Verdict::Mixed { previous: only_previous, next: only_next },
        (true, false) => Holds::Next,
        (false, true) => Holds::Previous,
        // The plans agree on every host: the pointer says which is in force.
        (true, true) => ending.pointer.unwrap_or(Holds::Previous),
    };
    if ending.pointer != Some(holds) {
        return Verdict::Lost {
            reason: format!("the hosts hold the {holds:?} plan but the applied pointer names {:?}", ending.pointer),
        };
    }
    match (expect, holds) {
        (Expect::Previous, Holds::Next) => {
            Verdict::Lost { reason: "expected the previous plan; the fleet holds the next".into() }
        }
        (Expect::Next, Holds::Previous) => {
            Verdict::Lost { reason: "expected the next plan; the fleet holds the previous".into() }
        }
        _ => Verdict::Survived { holds },
    }
}

/// Counts of verdicts.
pub fn tally(verdicts: &[&Verdict]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::from([("survived", 0), ("mixed", 0), ("lost", 0)]);
    for verdict in verdicts {
        let key = match verdict {
            Verdict::Survived { .. } => "survived",
            Verdict::Mixed { .. } => "mixed",
            Verdict::Lost { .. } => "lost",
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(rows: &[(&str, &str)]) -> HostPlacements {
        let mut hosts = HostPlacements::new();
        for (host, agent) in rows {
            hosts.entry((*host).to_owned()).or_default().push(Placement {
                agent: (*agent).into(),
                numa: 0,
                replicas: 1,
            });
        }
        hosts
    }

    #[test]
    fn wholly_one_plan_survives_a_mix_does_not() {
        let previous = fleet(&[("h1", "a"), ("h2", "a")]);
        let next = fleet(&[("h1", "b"), ("h2", "b")]);
        let ending = |hosts: HostPlacements, pointer| Ending { hosts, pointer, log_clean: Ok(()) };
        assert_eq!(
            judge(&ending(next.clone(), Some(Holds::Next)), &previous, &next, Expect::Either),
            Verdict::Survived { holds: Holds::Next }
        );
        assert!(matches!(
            judge(&ending(fleet(&[("h1", "b"), ("h2", "a")]), Some(Holds::Next)), &previous, &next, Expect::Either),
            Verdict::Mixed { .. }
        ));
        assert!(matches!(
            judge(&ending(fleet(&[("h1", "c"), ("h2", "a")]), Some(Holds::Previous)), &previous, &next, Expect::Either),
            Verdict::Lost { .. }
        ));
        assert!(matches!(
            judge(&ending(next.clone(), Some(Holds::Previous)), &previous, &next, Expect::Either),
            Verdict::Lost { .. }
        ));
        assert!(matches!(
            judge(&ending(next.clone(), Some(Holds::Next)), &previous, &next, Expect::Previous),
            Verdict::Lost { .. }
        ));
        let damaged = Ending { hosts: next.clone(), pointer: Some(Holds::Next), log_clean: Err("torn".into()) };
        assert!(matches!(judge(&damaged, &previous, &next, Expect::Either), Verdict::Lost { .. }));
    }
}
