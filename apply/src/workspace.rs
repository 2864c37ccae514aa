//! Where apply keeps its files: the `.rtt/` layout of SPEC §2
//! ([`rtt_durable::Layout`]) and the directory drivers run in, and the fleet
//! of drivers the config describes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rtt_canonical::Sha256;
use rtt_durable::{Layout, parent_dir};
use rtt_plan::PlanDocument;
use rtt_schema::model::{DriverKind, Model};
use rtt_schema::raw::SandboxMode;

use crate::coordinator::breaker::Breakers;
use crate::log::wal::Anchor;

/// The `.rtt/` directory and the directory relative paths start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The config's directory: drivers run here and `root`s are relative to it.
    pub base: PathBuf,
    /// The `.rtt/` directory.
    pub layout: Layout,
    /// The sandbox launcher (`rtt-sandbox`); `None`: external drivers do not
    /// start, except with `sandbox: off`.
    pub launcher: Option<PathBuf>,
}

/// A file of the workspace that cannot be read or written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WorkspaceError {
    /// The OS failed.
    #[error("failed to {action} {}: {reason}", .path.display())]
    #[diagnostic(code(rtt::apply::io))]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// A file that exists but does not parse: never read as "absent".
    #[error("failed to read {}: {reason}", .path.display())]
    #[diagnostic(code(rtt::apply::corrupt_state), help("apply writes these files; restore .rtt/ from a backup"))]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A plan the WAL or the state names but that is not kept.
    #[error("failed to find plan {hash} in {}", .dir.display())]
    #[diagnostic(
        code(rtt::apply::plan_missing),
        help("apply keeps every plan it begins there; restore it from a backup")
    )]
    PlanMissing {
        /// The plan.
        hash: Sha256,
        /// Where it should be.
        dir: PathBuf,
    },
}

impl Workspace {
    /// The workspace of the config at `config`: `.rtt/` beside it.
    pub fn beside(config: &Path) -> Workspace {
        Workspace { base: parent_dir(config).to_owned(), layout: Layout::beside(config), launcher: None }
    }

    /// The trust store (`keys/*.pub`, `policy.json`).
    pub fn trust_dir(&self) -> PathBuf {
        self.layout.registry().trust().dir().to_owned()
    }

    /// The state directory (`applied.json` lives here).
    pub fn state_dir(&self) -> PathBuf {
        self.layout.state().dir().to_owned()
    }

    /// The WAL anchor, if a transaction ever ended.
    pub fn read_anchor(&self) -> Result<Option<Anchor>, WorkspaceError> {
        read_json(&self.layout.state().anchor())
    }

    /// Moves the anchor to the last record.
    pub fn write_anchor(&self, anchor: &Anchor) -> Result<(), WorkspaceError> {
        write_json(&self.layout.state().anchor(), anchor)
    }

    /// Breaker states (none yet: all closed).
    pub fn read_breakers(&self) -> Result<Breakers, WorkspaceError> {
        Ok(read_json(&self.layout.state().breakers())?.unwrap_or_default())
    }

    /// Saves breaker states.
    pub fn write_breakers(&self, breakers: &Breakers) -> Result<(), WorkspaceError> {
        write_json(&self.layout.state().breakers(), breakers)
    }

    /// Keeps a plan's file bytes under its hash (before the WAL names it).
    pub fn keep_plan(&self, hash: &Sha256, bytes: &[u8]) -> Result<(), WorkspaceError> {
        let path = self.layout.state().plan(hash);
        if std::fs::read(&path).is_ok_and(|existing| existing == bytes) {
            return Ok(());
        }
        rtt_durable::write_atomic(&path, bytes, rtt_durable::READ_WRITE).map_err(|e| io_error("write", &path, e))
    }

    /// A kept plan, re-hashed against its name.
    pub fn load_plan(&self, hash: &Sha256) -> Result<(PlanDocument, Vec<u8>), WorkspaceError> {
        let path = self.layout.state().plan(hash);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(WorkspaceError::PlanMissing { hash: *hash, dir: self.layout.state().plans() });
            }
            Err(e) => return Err(io_error("read", &path, e)),
        };
        let corrupt = |reason: String| WorkspaceError::Corrupt { path: path.clone(), reason };
        // The same strict reading as `rtt verify`: the hash is of the exact
        // signed bytes in the file, so not even a lost newline passes.
        let parsed = rtt_trust::parse_plan(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let (document, actual) = (parsed.document, parsed.hash);
        if actual != *hash {
            return Err(corrupt(format!("its hash is {actual}, not the {hash} it is filed under")));
        }
        Ok((document, bytes))
    }
}

fn io_error(action: &'static str, path: &Path, e: std::io::Error) -> WorkspaceError {
    WorkspaceError::Io { action, path: path.to_owned(), reason: e.to_string() }
}

/// Reads a sealed state file (`rtt_canonical::sealed`): any change to it,
/// a lost newline included, is refused as corrupt rather than believed. A
/// file written before sealing (exactly canonical, no `checksum`) is still
/// read, and sealed by its next write.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, WorkspaceError> {
    match std::fs::read(path) {
        Ok(bytes) => rtt_canonical::sealed::open_migrating(&bytes)
            .map(|(value, _)| Some(value))
            .map_err(|reason| WorkspaceError::Corrupt { path: path.to_owned(), reason }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, e)),
    }
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), WorkspaceError> {
    let bytes = rtt_canonical::sealed::seal(value).map_err(|e| io_error("encode", path, std::io::Error::other(e)))?;
    rtt_durable::write_atomic(path, &bytes, rtt_durable::READ_WRITE).map_err(|e| io_error("write", path, e))
}

/// How a driver of the config runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverConfig {
    /// The built-in `dir` driver, in the coordinator's process.
    Dir {
        /// Its root, resolved against the config's directory.
        root: PathBuf,
    },
    /// A resident driver listening on a Unix socket.
    Socket {
        /// The socket (absolute).
        path: PathBuf,
        /// The user it must run as.
        uid: u32,
        /// Capabilities granted (protocol capabilities only).
        capabilities: Vec<String>,
        /// Deadline of each call.
        timeout: Duration,
    },
    /// A driver process.
    Command {
        /// Program and arguments.
        argv: Vec<String>,
        /// Capabilities granted.
        capabilities: Vec<String>,
        /// Deadline of each call.
        timeout: Duration,
        /// The one directory it may write (absolute).
        root: PathBuf,
        /// Its environment beyond what rtt sets.
        env: Vec<(String, String)>,
        /// How strictly it is sandboxed.
        sandbox: crate::driver::sandbox::Mode,
    },
}

/// The drivers of a config and the hosts each serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    /// Drivers by name.
    pub drivers: BTreeMap<String, DriverConfig>,
    /// The driver of each host.
    pub driver_of: BTreeMap<String, String>,
    /// The hosts of each driver (its grant), sorted.
    pub hosts_of: BTreeMap<String, Vec<String>>,
}

/// Two built-in drivers on one root would share transaction records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("drivers `{first}` and `{second}` are both built-in `dir` drivers rooted at {}", .root.display())]
#[diagnostic(code(rtt::apply::shared_root), help("give each `dir` driver its own `root`"))]
pub struct SharedRoot {
    /// One driver.
    pub first: String,
    /// The other.
    pub second: String,
    /// Their root.
    pub root: PathBuf,
}

impl Fleet {
    /// The fleet of a validated config; relative roots start at `base`, and
    /// external drivers without one get `drivers/<name>/` of `layout`.
    pub fn from_model(model: &Model, base: &Path, layout: &Layout) -> Result<Fleet, SharedRoot> {
        let mut drivers = BTreeMap::new();
        let mut roots: BTreeMap<PathBuf, String> = BTreeMap::new();
        for driver in &model.drivers {
            let config = match &driver.kind {
                DriverKind::Dir { root } => {
                    let root = base.join(root);
                    if let Some(first) = roots.insert(root.clone(), driver.name.clone()) {
                        return Err(SharedRoot { first, second: driver.name.clone(), root });
                    }
                    DriverConfig::Dir { root }
                }
                DriverKind::Socket { path, uid, capabilities, timeout_ms } => DriverConfig::Socket {
                    path: base.join(Path::new(path).strip_prefix("./").unwrap_or(Path::new(path))),
                    uid: uid.unwrap_or_else(|| rustix::process::geteuid().as_raw()),
                    capabilities: capabilities.clone(),
                    timeout: Duration::from_millis(*timeout_ms),
                },
                DriverKind::Command { argv, capabilities, timeout_ms, root, env, sandbox } => DriverConfig::Command {
                    argv: argv.clone(),
                    capabilities: capabilities.clone(),
                    timeout: Duration::from_millis(*timeout_ms),
                    root: root.as_ref().map_or_else(|| layout.driver_root(&driver.name), |r| base.join(r)),
                    env: env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    sandbox: match sandbox {
                        SandboxMode::Default => crate::driver::sandbox::Mode::Default,
                        SandboxMode::Required => crate::driver::sandbox::Mode::Required,
                        SandboxMode::Off => crate::driver::sandbox::Mode::Off,
                    },
                },
            };
            drivers.insert(driver.name.clone(), config);
        }
        let mut driver_of = BTreeMap::new();
        let mut hosts_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for host in &model.hosts {
            // Validation guarantees every host's driver index is in range.
            if let Some(driver) = usize::try_from(host.driver.0).ok().and_then(|i| model.drivers.get(i)) {
                driver_of.insert(host.name.clone(), driver.name.clone());
                hosts_of.entry(driver.name.clone()).or_default().push(host.name.clone());
            }
        }
        for hosts in hosts_of.values_mut() {
            hosts.sort();
        }
        Ok(Fleet { drivers, driver_of, hosts_of })
    }
}
