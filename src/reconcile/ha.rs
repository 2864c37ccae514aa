//! `rtt reconcile --etcd`: the controller's side of HA on etcd
//! (docs/ha.md). It campaigns for the cluster's leader key on a lease;
//! once it wins it copies the shared memory into its `.rtt/`, runs
//! `rtt recover` (finishing what the last leader left, fencing it off with
//! a higher epoch) and then cycles as on one machine, its steps writing
//! under its leadership ([`Ha::step_env`]). It stops starting steps, and
//! kills the one running, as soon as its lease is lost.

use std::time::{Duration, Instant};

use rtt_durable::Layout;
use rtt_ha::{Etcd, Leadership};

/// Campaign attempts are at least this far apart.
const CAMPAIGN_EVERY: Duration = Duration::from_millis(250);

/// A controller of a cluster.
pub struct Ha {
    etcd: Etcd,
    endpoints: Vec<String>,
    cluster: String,
    ttl: Duration,
    leading: Option<Leadership>,
    next_campaign: Instant,
}

/// What [`Ha::lead`] found.
pub enum Standing {
    /// Leads, as before.
    Leading,
    /// Just won: the shared memory is restored.
    Won {
        /// The leadership's revision.
        revision: i64,
    },
    /// Lost the leadership it had.
    Deposed,
    /// Another controller leads (or etcd did not answer).
    Following,
}

impl Ha {
    /// Connects to the cluster, and marks the workspace as its copy (a
    /// plain coordinator run here is refused from now on).
    pub fn connect(endpoints: &[String], cluster: &str, ttl: Duration, layout: &Layout) -> Result<Ha, String> {
        let etcd = Etcd::connect(endpoints, cluster).map_err(|e| e.to_string())?;
        rtt_ha::mark(layout, cluster).map_err(|e| e.to_string())?;
        Ok(Ha {
            etcd,
            endpoints: endpoints.to_vec(),
            cluster: cluster.to_owned(),
            ttl,
            leading: None,
            next_campaign: Instant::now(),
        })
    }

    /// The leadership's revision while it holds.
    pub fn revision(&self) -> Option<i64> {
        self.leading.as_ref().filter(|l| l.holds()).map(Leadership::revision)
    }

    /// Whether a leadership was held and is now lost.
    pub fn lost(&self) -> bool {
        self.leading.as_ref().is_some_and(|l| !l.holds())
    }

    /// Keeps or seeks the leadership: campaigns when due, and on a win
    /// restores the local copy of the shared memory.
    pub fn lead(&mut self, id: &str, layout: &Layout) -> Result<Standing, String> {
        if let Some(leadership) = &self.leading {
            if leadership.holds() {
                return Ok(Standing::Leading);
            }
            self.leading = None;
            return Ok(Standing::Deposed);
        }
        if Instant::now() < self.next_campaign {
            return Ok(Standing::Following);
        }
        self.next_campaign = Instant::now() + CAMPAIGN_EVERY;
        let Some(leadership) = Leadership::campaign(&self.etcd, id, self.ttl).map_err(|e| e.to_string())? else {
            return Ok(Standing::Following);
        };
        let revision = leadership.revision();
        if let Err(e) = rtt_ha::restore(&self.etcd, revision, layout) {
            leadership.resign();
            return Err(format!("won the leadership but could not restore the shared memory: {e}"));
        }
        self.leading = Some(leadership);
        Ok(Standing::Won { revision })
    }

    /// Copies the shared memory again (after a failed step, whose local
    /// writes may have gone further than etcd's).
    pub fn resync(&self, layout: &Layout) -> Result<(), String> {
        let Some(revision) = self.revision() else { return Ok(()) };
        rtt_ha::restore(&self.etcd, revision, layout).map_err(|e| e.to_string())
    }

    /// The environment of a step: the leadership it writes under.
    pub fn step_env(&self) -> Vec<(&'static str, String)> {
        let Some(revision) = self.revision() else { return Vec::new() };
        vec![
            (rtt_ha::ENDPOINTS_ENV, self.endpoints.join(",")),
            (rtt_ha::CLUSTER_ENV, self.cluster.clone()),
            (rtt_ha::LEADERSHIP_ENV, revision.to_string()),
        ]
    }

    /// Gives the leadership up (graceful stop).
    pub fn resign(&mut self) {
        if let Some(leadership) = self.leading.take() {
            leadership.resign();
        }
    }
}
