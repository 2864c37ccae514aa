//! High availability on etcd (docs/ha.md): several `rtt reconcile --etcd`
//! controllers, one leading at a time, none ever acting for a leadership it
//! lost.
//!
//! - [`keys`] (pure): where the shared memory lives, and the fencing epochs
//!   a leadership may use (`[R·2¹⁶, (R+1)·2¹⁶)`, R the leader key's create
//!   revision).
//! - [`etcd`]: the client (blocking, with deadlines and retries across
//!   members).
//! - [`leadership`]: campaign, lease keeper, resign.
//! - [`replica`]: `rtt_apply::replica::Replica` on etcd, every write guarded
//!   by the leadership.
//!
//! The consensus is etcd's; nothing here decides who leads except one etcd
//! transaction. The Promela model of the protocol is
//! `apply/model/leader_change.pml`.

pub mod etcd;
pub mod keys;
pub mod leadership;
pub mod replica;

pub use etcd::{Etcd, EtcdError};
pub use leadership::Leadership;
pub use replica::EtcdReplica;

/// Copying the shared memory to the local copy failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SyncError {
    /// etcd.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Etcd(#[from] EtcdError),
    /// The local files.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Local(#[from] rtt_apply::replica::RestoreError),
    /// The leadership went while the first leader seeded the cluster.
    #[error("failed to seed the shared memory: the leadership was lost meanwhile")]
    #[diagnostic(code(rtt::ha::seed), help("the next leader seeds it, or finds it seeded"))]
    LostWhileSeeding,
    /// The marker file.
    #[error("failed to write {path}: {reason}")]
    #[diagnostic(code(rtt::ha::marker))]
    Marker {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Copies the shared memory into the local `.rtt/` under `layout`, after
/// seeding an empty cluster from the local copy. Run by a new leader before
/// any step, and again whenever a shared write failed.
pub fn restore(etcd: &Etcd, revision: i64, layout: &rtt_durable::Layout) -> Result<(), SyncError> {
    mark(layout, etcd.keys().cluster())?;
    let mut shared = etcd.memory()?;
    if shared.is_empty() {
        let local = rtt_apply::replica::local(layout)?;
        if !local.is_empty() {
            if !etcd.seed(revision, &local)? {
                return Err(SyncError::LostWhileSeeding);
            }
            shared = etcd.memory()?;
        }
    }
    Ok(rtt_apply::replica::restore(layout, &shared)?)
}

/// What `.rtt/state/ha.json` says: this state is a copy of a cluster's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Marker {
    cluster: String,
}

/// Marks the local state as a copy of `cluster`'s, so that a coordinator
/// run here outside the leadership is refused ([`replica_from_env`]).
pub fn mark(layout: &rtt_durable::Layout, cluster: &str) -> Result<(), SyncError> {
    let path = layout.state().ha();
    let failed = |reason: String| SyncError::Marker { path: path.display().to_string(), reason };
    let bytes = serde_json::to_vec(&Marker { cluster: cluster.to_owned() }).map_err(|e| failed(e.to_string()))?;
    if std::fs::read(&path).is_ok_and(|b| b == bytes) {
        return Ok(());
    }
    std::fs::create_dir_all(layout.state().dir()).map_err(|e| failed(e.to_string()))?;
    rtt_durable::write_atomic(&path, &bytes, rtt_durable::READ_WRITE).map_err(|e| failed(e.to_string()))
}

/// The cluster the local state is a copy of, if any.
fn marked(layout: &rtt_durable::Layout) -> Option<String> {
    let bytes = std::fs::read(layout.state().ha()).ok()?;
    // A marker that does not parse still marks: fail closed.
    Some(serde_json::from_slice::<Marker>(&bytes).map_or_else(|_| "(unreadable ha.json)".to_owned(), |m| m.cluster))
}

/// The etcd members, for the steps a controller runs (comma-separated).
pub const ENDPOINTS_ENV: &str = "RTT_ETCD";
/// The cluster name, for the steps.
pub const CLUSTER_ENV: &str = "RTT_ETCD_CLUSTER";
/// The revision of the leadership a step works under.
pub const LEADERSHIP_ENV: &str = "RTT_ETCD_LEADERSHIP";

/// A step of a controller cannot share its writes.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StepError {
    /// etcd is named but no leadership is.
    #[error("failed to act in HA mode: {ENDPOINTS_ENV} is set but {LEADERSHIP_ENV} is not")]
    #[diagnostic(
        code(rtt::ha::not_leader),
        help(
            "in HA mode changes go through the leading `rtt reconcile --etcd` (approve a plan in .rtt/pending/ or change the config); unset {ENDPOINTS_ENV} to act on this machine alone"
        )
    )]
    NoLeadership,
    /// The state here is a cluster's copy, and no leadership was given.
    #[error("failed to act on this workspace: its state is a copy of etcd cluster `{cluster}`")]
    #[diagnostic(
        code(rtt::ha::managed),
        help(
            "a coordinator run here outside the cluster's leadership could act beside the leader; changes go through the leading `rtt reconcile --etcd` (approve a plan in .rtt/pending/ or change the config). To leave HA for good, stop every controller and remove .rtt/state/ha.json"
        )
    )]
    Managed {
        /// The cluster.
        cluster: String,
    },
    /// etcd could not be reached.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Etcd(#[from] EtcdError),
}

/// The replica a controller's step writes to, from the environment the
/// controller gave it (`None` on one machine). A step told of etcd but not
/// of a leadership is refused, and so is a plain step on state that is a
/// cluster's copy: in HA mode, changes go through the leader.
pub fn replica_from_env(layout: &rtt_durable::Layout) -> Result<Option<EtcdReplica>, StepError> {
    let Ok(endpoints) = std::env::var(ENDPOINTS_ENV) else {
        return match marked(layout) {
            Some(cluster) => Err(StepError::Managed { cluster }),
            None => Ok(None),
        };
    };
    let endpoints: Vec<String> =
        endpoints.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect();
    let cluster = std::env::var(CLUSTER_ENV).unwrap_or_else(|_| "default".to_owned());
    let revision = std::env::var(LEADERSHIP_ENV)
        .ok()
        .and_then(|r| r.parse::<i64>().ok())
        .filter(|r| *r > 0)
        .ok_or(StepError::NoLeadership)?;
    let etcd = Etcd::connect(&endpoints, &cluster)?;
    Ok(Some(EtcdReplica::new(etcd, revision)))
}
