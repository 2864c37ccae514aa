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

#[cfg(test)]
mod tests {
    use super::*;

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
