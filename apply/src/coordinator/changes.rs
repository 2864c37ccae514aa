//! The change set of a transaction: which hosts' placements differ between
//! the plan in force and the plan being applied, grouped by the driver that
//! serves each host. Pure.

use std::collections::{BTreeMap, BTreeSet};

use rtt_plan::PlacementRow;

use crate::driver::protocol::{HostPlacements, Placement};

/// Placements per host of a plan's rows (hosts without rows are absent).
pub fn by_host(rows: &[PlacementRow]) -> HostPlacements {
    let mut hosts: HostPlacements = BTreeMap::new();
    for row in rows {
        hosts.entry(row.host.clone()).or_default().push(Placement {
            agent: row.agent.clone(),
            numa: row.numa,
            replicas: row.replicas,
        });
    }
    for placements in hosts.values_mut() {
        placements.sort();
    }
    hosts
}

/// For each driver with work, the full desired placements of every host it
/// changes (an empty list clears a host).
pub type ChangeSet = BTreeMap<String, HostPlacements>;

/// A host the config does not know, so no driver can carry it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("host `{host}` is in the {which} plan but not in the config, so no driver serves it")]
#[diagnostic(
    code(rtt::apply::unknown_host),
    help("drain a host's agents with a plan before removing it from the config")
)]
pub struct UnknownHost {
    /// The host.
    pub host: String,
    /// `new` or `applied`.
    pub which: &'static str,
}

/// The change set from `old` (the plan in force; `None` when nothing was
/// applied) to `new`. `driver_of` maps every host of the config to its driver.
pub fn change_set(
    old: Option<&[PlacementRow]>,
    new: &[PlacementRow],
    driver_of: &BTreeMap<String, String>,
) -> Result<ChangeSet, UnknownHost> {
    let old = old.map(by_host).unwrap_or_default();
    let new = by_host(new);
    let hosts: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut changes = ChangeSet::new();
    for host in hosts {
        let before = old.get(host);
        let after = new.get(host);
        if before == after {
            continue;
        }
        let which = if after.is_some() { "new" } else { "applied" };
        let driver = driver_of.get(host).ok_or_else(|| UnknownHost { host: host.clone(), which })?;
        changes.entry(driver.clone()).or_default().insert(host.clone(), after.cloned().unwrap_or_default());
    }
    Ok(changes)
}

/// A host whose drivers report other placements than the plan in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    /// The host.
    pub host: String,
    /// Its driver.
    pub driver: String,
    /// What the plan in force places there.
    pub want: Vec<Placement>,
    /// What its driver holds.
    pub have: Vec<Placement>,
}

/// The hosts where `actual` (what drivers report) differs from `desired`
/// (the plan in force), and the repair: the change set that puts the
/// plan's placements back on exactly those hosts — the fewest moves that
/// end drift, since every other host already holds the plan.
pub fn drift(
    actual: &HostPlacements,
    desired: &HostPlacements,
    driver_of: &BTreeMap<String, String>,
) -> (Vec<Drift>, ChangeSet) {
    let empty = Vec::new();
    let mut drifted = Vec::new();
    let mut repair = ChangeSet::new();
    for (host, driver) in driver_of {
        let want = desired.get(host).unwrap_or(&empty);
        let have = actual.get(host).unwrap_or(&empty);
        if want != have {
            drifted.push(Drift { host: host.clone(), driver: driver.clone(), want: want.clone(), have: have.clone() });
            repair.entry(driver.clone()).or_default().insert(host.clone(), want.clone());
        }
    }
    (drifted, repair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_every_host_off_the_plan_and_its_repair_puts_exactly_those_back() {
        let drivers: BTreeMap<String, String> =
            [("h1", "a"), ("h2", "a"), ("h3", "b")].iter().map(|(h, d)| (h.to_string(), d.to_string())).collect();
        let desired = by_host(&[row("x@1", "h1", 1), row("x@1", "h2", 1)]);
        let mut actual = desired.clone();
        assert!(drift(&actual, &desired, &drivers).0.is_empty());
        actual.remove("h2");
        actual.insert("h3".into(), vec![Placement { agent: "y@1".into(), numa: 0, replicas: 2 }]);
        let (drifted, repair) = drift(&actual, &desired, &drivers);
        assert_eq!(drifted.iter().map(|d| d.host.as_str()).collect::<Vec<_>>(), vec!["h2", "h3"]);
        assert_eq!(repair["a"]["h2"], desired["h2"]);
        assert!(repair["b"]["h3"].is_empty(), "the stray replicas on h3 are cleared");
        assert!(!repair["a"].contains_key("h1"));
    }

    fn row(agent: &str, host: &str, replicas: u32) -> PlacementRow {
        PlacementRow { agent: agent.into(), host: host.into(), numa: 0, replicas }
    }

    #[test]
    fn only_changed_hosts_are_sent_with_their_full_placements_and_emptied_hosts_cleared() {
        let drivers: BTreeMap<String, String> =
            [("h1", "a"), ("h2", "a"), ("h3", "b")].iter().map(|(h, d)| (h.to_string(), d.to_string())).collect();
        let old = vec![row("x@1", "h1", 1), row("y@1", "h1", 1), row("x@1", "h2", 1)];
        let new = vec![row("x@1", "h1", 1), row("y@1", "h1", 1), row("x@1", "h3", 1)];
        let changes = change_set(Some(&old), &new, &drivers).expect("known hosts");
        assert_eq!(changes.len(), 2);
        assert_eq!(changes["a"].keys().collect::<Vec<_>>(), vec!["h2"]);
        assert!(changes["a"]["h2"].is_empty(), "h2 is cleared");
        assert_eq!(changes["b"]["h3"].len(), 1);
        assert!(change_set(Some(&new), &new, &drivers).expect("same").is_empty());
        let unknown = change_set(None, &[row("x@1", "h9", 1)], &drivers).expect_err("h9 unknown");
        assert_eq!(unknown.host, "h9");
    }
}
