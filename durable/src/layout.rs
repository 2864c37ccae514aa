//! SPEC §2's table of files on disk, as code: the only place the names
//! under `.rtt/` are spelled. Each part that a flag may relocate (`--trust`,
//! `--state`) is a layout of its own, built from its directory.
//!
//! ```text
//! .rtt/registry/cas/sha256/<2 hex>/<64 hex>.json   canonical manifests and overlay results
//! .rtt/registry/index.json                         {"agents": {"<id>": "sha256:<hex>"}}
//! .rtt/registry/pack/agents.pack, index.lut        packed objects and their lookup table
//! .rtt/registry/lock                               the registry's writer lock (flock)
//! .rtt/registry/cache/views/<key>                  overlay results by input hash
//! .rtt/registry/trust/keys/*.pub, policy.json      who may sign plans, and how many
//! .rtt/registry/trust/revoked.json                  key ids revoked (`rtt keys revoke`)
//! .rtt/overlays/provider/<name>.json               provider overlay
//! .rtt/overlays/env/<name>.json                    environment overlay
//! .rtt/state/applied.json                          plan in force, its serial, highest serial
//! .rtt/state/plans/<hex>.json                      every plan apply has begun, as signed
//! .rtt/state/wal-anchor.json                       last WAL record at the end of a transaction
//! .rtt/state/breakers.json                         driver breakers
//! .rtt/state/ha.json                               HA: the etcd cluster this workspace is a copy of
//! .rtt/wal/wal.jsonl, torn-<offset>.bin            write-ahead log, torn tails set aside
//! .rtt/apply.lock                                  coordinator lock (flock; holder's pid)
//! .rtt/telemetry/phases.jsonl                      phase timings per driver
//! .rtt/telemetry/routes/<hex>.json                 observed route latency under a plan (HDR histograms)
//! .rtt/telemetry/cursors.json                      where each telemetry source was last read
//! .rtt/telemetry/lock                              the telemetry store's writer lock (flock)
//! .rtt/flight/<id>.json                            a flight record: the last events of a run (abort, crash, rollback)
//! .rtt/flight/live.jsonl, live.old.jsonl           the running coordinator's events, written through (a crash leaves them)
//! .rtt/pending/<hex>.json                         plans `rtt reconcile` made, waiting for their approvals
//! .rtt/reconcile/state.json, candidate.json        the controller's memory and the plan it is making
//! .rtt/logs/<driver>.log                           stderr of driver processes
//! .rtt/mount.log                                   log of a background mount
//! .rtt/mounts/<16 hex>.json                        a running mount's record (`rtt mount status`)
//! ```

use std::path::{Path, PathBuf};

use rtt_canonical::Sha256;

/// The `.rtt/` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The directory's name beside a config.
    pub const DIR: &'static str = ".rtt";

    /// The layout rooted at `root` (an explicit `--dir`).
    ///
    /// `Layout::default()` is `.rtt` in the current directory.
    pub fn at(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    /// `.rtt/` beside the config at `config` (`-` and bare names: the
    /// current directory).
    pub fn beside(config: &Path) -> Layout {
        match config.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => Layout::at(dir.join(Self::DIR)),
            _ => Layout::at(Self::DIR),
        }
    }

    /// The `.rtt/` directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `registry/`.
    pub fn registry(&self) -> RegistryLayout {
        RegistryLayout::at(self.root.join("registry"))
    }

    /// `overlays/`.
    pub fn overlays(&self) -> OverlayLayout {
        OverlayLayout::at(self.root.join("overlays"))
    }

    /// `state/`.
    pub fn state(&self) -> StateLayout {
        StateLayout::at(self.root.join("state"))
    }

    /// `wal/`.
    pub fn wal(&self) -> WalLayout {
        WalLayout::at(self.root.join("wal"))
    }

    /// `apply.lock`.
    pub fn apply_lock(&self) -> PathBuf {
        self.root.join("apply.lock")
    }

    /// `telemetry/phases.jsonl`.
    pub fn telemetry(&self) -> PathBuf {
        self.root.join("telemetry").join("phases.jsonl")
    }

    /// `telemetry/routes/<hex>.json`: what was observed while `plan` was in force.
    pub fn observations(&self, plan: &Sha256) -> PathBuf {
        self.observations_dir().join(format!("{}.json", plan.hex()))
    }

    /// `telemetry/routes/`.
    pub fn observations_dir(&self) -> PathBuf {
        self.root.join("telemetry").join("routes")
    }

    /// `telemetry/cursors.json`.
    pub fn telemetry_cursors(&self) -> PathBuf {
        self.root.join("telemetry").join("cursors.json")
    }

    /// `telemetry/lock`.
    pub fn telemetry_lock(&self) -> PathBuf {
        self.root.join("telemetry").join("lock")
    }

    /// `pending/`: plans waiting for approvals (`rtt reconcile` without a key).
    pub fn pending(&self) -> PathBuf {
        self.root.join("pending")
    }

    /// `reconcile/`: the controller's state and its candidate plan.
    pub fn reconcile(&self) -> PathBuf {
        self.root.join("reconcile")
    }

    /// `flight/`: flight records and the live event segments.
    pub fn flight(&self) -> PathBuf {
        self.root.join("flight")
    }

    /// `drivers/<driver>/`: an external driver's root when the config names none
    /// (the one directory its sandbox lets it write).
    pub fn driver_root(&self, driver: &str) -> PathBuf {
        self.root.join("drivers").join(driver)
    }

    /// `logs/<driver>.log`.
    pub fn driver_log(&self, driver: &str) -> PathBuf {
        self.root.join("logs").join(format!("{driver}.log"))
    }

    /// `profiles/<fingerprint>.json`: what `rtt tune` measured on a machine.
    pub fn profile(&self, fingerprint: &str) -> PathBuf {
        self.root.join("profiles").join(format!("{fingerprint}.json"))
    }

    /// `mount.log`.
    pub fn mount_log(&self) -> PathBuf {
        self.root.join("mount.log")
    }

    /// `mounts/`: one record per running mount.
    pub fn mounts(&self) -> PathBuf {
        self.root.join("mounts")
    }

    /// `mounts/<16 hex>.json`: the record of the mount at `mountpoint` (an
    /// absolute path), named by a hash of it so any path makes a file name.
    pub fn mount_record(&self, mountpoint: &Path) -> PathBuf {
        let hash = Sha256::of(mountpoint.as_os_str().as_encoded_bytes()).hex();
        self.mounts().join(format!("{}.json", &hash[..16]))
    }
}

impl Default for Layout {
    fn default() -> Layout {
        Layout::at(Self::DIR)
    }
}

/// `.rtt/registry/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryLayout {
    root: PathBuf,
}

impl RegistryLayout {
    /// The registry rooted at `root`.
    pub fn at(root: impl Into<PathBuf>) -> RegistryLayout {
        RegistryLayout { root: root.into() }
    }

    /// The registry directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `cas/sha256/`, the loose objects.
    pub fn loose(&self) -> PathBuf {
        self.root.join("cas").join("sha256")
    }

    /// `cas/sha256/<2 hex>/<64 hex>.json`, relative to [`RegistryLayout::loose`].
    pub fn loose_object(loose: &Path, hash: &Sha256) -> PathBuf {
        let hex = hash.hex();
        loose.join(&hex[..2]).join(format!("{hex}.json"))
    }

    /// `index.json`.
    pub fn index(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// `pack/`.
    pub fn pack_dir(&self) -> PathBuf {
        self.root.join("pack")
    }

    /// `pack/agents.pack`.
    pub fn pack(&self) -> PathBuf {
        self.pack_dir().join("agents.pack")
    }

    /// `pack/index.lut`.
    pub fn lut(&self) -> PathBuf {
        self.pack_dir().join("index.lut")
    }

    /// `lock`.
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// `cache/`: derived data, safe to delete.
    pub fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// `cache/views/<key>`.
    pub fn view_cache(&self, key: &Sha256) -> PathBuf {
        self.cache().join("views").join(key.hex())
    }

    /// `targets/`: one signed targets file per registry signer.
    pub fn targets_dir(&self) -> PathBuf {
        self.root.join("targets")
    }

    /// `targets/<key id>.json`: the manifests one registry signer vouches for.
    pub fn targets(&self, key_id: &str) -> PathBuf {
        self.targets_dir().join(format!("{key_id}.json"))
    }

    /// `trust/`.
    pub fn trust(&self) -> TrustLayout {
        TrustLayout::at(self.root.join("trust"))
    }
}

/// The trust store (`.rtt/registry/trust/` or `--trust DIR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustLayout {
    dir: PathBuf,
}

impl TrustLayout {
    /// The store at `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> TrustLayout {
        TrustLayout { dir: dir.into() }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `keys/`, one `*.pub` per trusted key.
    pub fn keys(&self) -> PathBuf {
        self.dir.join("keys")
    }

    /// `registry-keys/`, one `*.pub` per registry signer: the keys whose
    /// targets files vouch for manifests (not for plans).
    pub fn registry_keys(&self) -> PathBuf {
        self.dir.join("registry-keys")
    }

    /// `policy.json`.
    pub fn policy(&self) -> PathBuf {
        self.dir.join("policy.json")
    }

    /// `revoked.json`: key ids that never count again, even with their
    /// `.pub` file still in `keys/` (`rtt keys revoke`).
    pub fn revoked(&self) -> PathBuf {
        self.dir.join("revoked.json")
    }
}

/// `.rtt/overlays/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayLayout {
    dir: PathBuf,
}

impl OverlayLayout {
    /// The overlays at `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> OverlayLayout {
        OverlayLayout { dir: dir.into() }
    }

    /// The directory (`overlays/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `provider/<name>.json`.
    pub fn provider(&self, name: &str) -> PathBuf {
        self.dir.join("provider").join(format!("{name}.json"))
    }

    /// `env/<name>.json`.
    pub fn env(&self, name: &str) -> PathBuf {
        self.dir.join("env").join(format!("{name}.json"))
    }
}

/// The state directory (`.rtt/state/` or `--state DIR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLayout {
    dir: PathBuf,
}

impl StateLayout {
    /// The state at `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> StateLayout {
        StateLayout { dir: dir.into() }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `applied.json`.
    pub fn applied(&self) -> PathBuf {
        self.dir.join("applied.json")
    }

    /// `plans/`.
    pub fn plans(&self) -> PathBuf {
        self.dir.join("plans")
    }

    /// `plans/<hex>.json`.
    pub fn plan(&self, hash: &Sha256) -> PathBuf {
        self.plans().join(format!("{}.json", hash.hex()))
    }

    /// `wal-anchor.json`.
    pub fn anchor(&self) -> PathBuf {
        self.dir.join("wal-anchor.json")
    }

    /// `breakers.json`.
    pub fn breakers(&self) -> PathBuf {
        self.dir.join("breakers.json")
    }

    /// `ha.json`: this state is a copy of an etcd cluster's (docs/ha.md);
    /// a coordinator outside that cluster's leadership must not act on it.
    pub fn ha(&self) -> PathBuf {
        self.dir.join("ha.json")
    }

    /// `registry-targets.json`: the newest version of each registry signer's
    /// targets file seen so far (rollback protection for them).
    pub fn registry_targets(&self) -> PathBuf {
        self.dir.join("registry-targets.json")
    }
}

/// `.rtt/wal/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalLayout {
    dir: PathBuf,
}

impl WalLayout {
    /// The log at `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> WalLayout {
        WalLayout { dir: dir.into() }
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `wal.jsonl`.
    pub fn log(&self) -> PathBuf {
        self.dir.join("wal.jsonl")
    }

    /// `torn-<offset>.bin`: a torn last record, set aside.
    pub fn torn(&self, offset: usize) -> PathBuf {
        self.dir.join(format!("torn-{offset}.bin"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_sits_beside_the_config() {
        assert_eq!(Layout::beside(Path::new("deploy/rtt.cue")).root(), Path::new("deploy/.rtt"));
        assert_eq!(Layout::beside(Path::new("rtt.yaml")).root(), Path::new(".rtt"));
        assert_eq!(Layout::beside(Path::new("-")).root(), Path::new(".rtt"));
    }

    #[test]
    fn paths_follow_spec_section_2() {
        let layout = Layout::at("w/.rtt");
        let hash = Sha256::of(b"x");
        let hex = hash.hex();
        assert_eq!(layout.registry().index(), Path::new("w/.rtt/registry/index.json"));
        assert_eq!(layout.registry().pack(), Path::new("w/.rtt/registry/pack/agents.pack"));
        assert_eq!(layout.registry().lut(), Path::new("w/.rtt/registry/pack/index.lut"));
        assert_eq!(
            RegistryLayout::loose_object(&layout.registry().loose(), &hash),
            Path::new(&format!("w/.rtt/registry/cas/sha256/{}/{hex}.json", &hex[..2]))
        );
        assert_eq!(layout.registry().trust().keys(), Path::new("w/.rtt/registry/trust/keys"));
        assert_eq!(layout.registry().trust().policy(), Path::new("w/.rtt/registry/trust/policy.json"));
        assert_eq!(layout.overlays().provider("aws"), Path::new("w/.rtt/overlays/provider/aws.json"));
        assert_eq!(layout.overlays().env("prod"), Path::new("w/.rtt/overlays/env/prod.json"));
        assert_eq!(layout.state().applied(), Path::new("w/.rtt/state/applied.json"));
        assert_eq!(layout.wal().log(), Path::new("w/.rtt/wal/wal.jsonl"));
    }
}
