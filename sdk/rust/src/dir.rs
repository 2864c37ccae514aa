//! A backend that keeps each host's placements in files, in the layout of
//! rtt's built-in `dir` driver (SPEC §8): `<root>/<host>/placements.json`
//! holds `{"plan": "sha256:…", "placements": […]}`; a prepare stages
//! `placements.json.<txn>` beside it and a commit renames it into place.
//! Start from it, or replace it with calls to your own system.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::Backend;
use crate::fsx;
use crate::protocol::{HostPlacements, Placement, Vote};

/// The placements file of a host.
pub const PLACEMENTS_FILE: &str = "placements.json";

#[derive(Debug, Serialize, Deserialize)]
struct PlacementsFile {
    plan: String,
    placements: Vec<Placement>,
}

/// Placements as files under a root directory.
#[derive(Debug, Clone)]
pub struct DirBackend {
    root: PathBuf,
}

impl DirBackend {
    /// A backend over `root`.
    pub fn new(root: &Path) -> Self {
        DirBackend { root: root.to_owned() }
    }

    fn staged(&self, host: &str, txn: &str) -> PathBuf {
        self.root.join(host).join(format!("{PLACEMENTS_FILE}.{txn}"))
    }
}

impl Backend for DirBackend {
    fn stage(&mut self, txn: &str, plan: &str, hosts: &HostPlacements) -> Result<Vote, String> {
        for (host, placements) in hosts {
            let dir = self.root.join(host);
            if !dir.is_dir() {
                fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                fsx::sync_dir(&self.root).map_err(|e| e.to_string())?;
            }
            let file = PlacementsFile { plan: plan.to_owned(), placements: placements.clone() };
            let mut bytes = serde_json::to_vec(&file).map_err(|e| e.to_string())?;
            bytes.push(b'\n');
            let staged = self.staged(host, txn);
            fsx::write_synced(&staged, &bytes).map_err(|e| format!("cannot write {}: {e}", staged.display()))?;
            fsx::sync_dir(&dir).map_err(|e| e.to_string())?;
        }
        Ok(Vote::Yes)
    }

    fn commit(&mut self, txn: &str, hosts: &[String]) -> Result<(), String> {
        for host in hosts {
            let staged = self.staged(host, txn);
            // Gone: renamed by a commit that crashed before its record.
            if staged.exists() {
                fs::rename(&staged, self.root.join(host).join(PLACEMENTS_FILE)).map_err(|e| e.to_string())?;
                fsx::sync_dir(&self.root.join(host)).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn abort(&mut self, txn: &str, hosts: &[String]) -> Result<(), String> {
        for host in hosts {
            let staged = self.staged(host, txn);
            if staged.exists() {
                fs::remove_file(&staged).map_err(|e| e.to_string())?;
                fsx::sync_dir(&self.root.join(host)).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn read(&mut self, host: &str) -> Result<Vec<Placement>, String> {
        let file: Option<PlacementsFile> = fsx::read_json(&self.root.join(host).join(PLACEMENTS_FILE))?;
        Ok(file.map(|f| f.placements).unwrap_or_default())
    }

    fn healthy(&mut self) -> bool {
        self.root.is_dir()
    }
}
