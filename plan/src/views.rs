//! A plan's provider views (SPEC §7) as types: for each provider, each
//! selected agent's manifest with the provider's and the env's overlays
//! applied, named by content hash. Signed with the plan, so a mount or a
//! materialized tree needs nothing but the plan to lay itself out; the
//! registry builds them and checks them against its objects.

use std::collections::BTreeMap;

use rtt_canonical::Sha256;
use serde::{Deserialize, Serialize};

/// One entry of a plan's `views`: SPEC §7's `{id, base, overlays, result}`
/// and the entry's `path` in the provider's tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    /// Agent id.
    pub id: String,
    /// Where the view appears under its provider's tree: `<dir>/<id>.json`,
    /// relative. Signed with the plan, so a mount or a materialized tree
    /// needs nothing but the plan to lay itself out.
    pub path: String,
    /// The manifest the view starts from.
    pub base: Sha256,
    /// The applicable part of each overlay, provider first, then env.
    pub overlays: Vec<OverlayRef>,
    /// The view's bytes.
    pub result: Sha256,
}

/// Which overlay went into a view, by the hash of its applicable part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverlayRef {
    /// Provider or env.
    pub layer: Layer,
    /// The provider or env name (the overlay file's stem).
    pub name: String,
    /// sha256 of the canonical applicable part (an overlay document of its own, stored in the CAS).
    pub hash: Sha256,
}

/// Views per provider.
pub type Views = BTreeMap<String, Vec<View>>;

/// Which layer an overlay belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// A provider's overlay.
    Provider,
    /// An environment's overlay.
    Env,
}

impl Layer {
    /// The layer's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Provider => "provider",
            Layer::Env => "env",
        }
    }
}

/// Checks that `id` is an agent id (`name@version`) that is safe as a file
/// name: the pattern alone already excludes separators and NUL; `.` and `..`
/// as a whole name part are refused too so no id can read as a path step.
pub fn check_agent_id(id: &str) -> std::result::Result<(), String> {
    let valid_part = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    };
    match id.split_once('@') {
        Some((name, version)) if id.len() <= 200 && valid_part(name) && valid_part(version) => Ok(()),
        _ => Err(format!(
            "{id:?} is not an agent id: expected name@version, each part [a-z0-9._-]+ (not `.` or `..`), at most 200 characters"
        )),
    }
}

/// A view's `path` must stay inside its provider's tree and name the agent's
/// file: relative, no `.`/`..`/empty parts, no NUL or backslash, ending in
/// `/<id>.json` (or being just `<id>.json`).
pub fn check_view_path(path: &str, id: &str) -> std::result::Result<(), String> {
    let file = format!("{id}.json");
    let safe = !path.starts_with('/')
        && !path.contains(['\\', '\0'])
        && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        && path.rsplit('/').next() == Some(file.as_str());
    if safe { Ok(()) } else { Err(format!("unsafe view path {path:?}: expected a relative path ending in /{file}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_paths_cannot_escape() {
        assert!(check_view_path(".claude/agents/gateway@1.json", "gateway@1").is_ok());
        assert!(check_view_path("gateway@1.json", "gateway@1").is_ok());
        for bad in [
            "/etc/gateway@1.json",
            "../gateway@1.json",
            "a/../../gateway@1.json",
            "a//gateway@1.json",
            "./gateway@1.json",
            "a/other@1.json",
            "a\\..\\gateway@1.json",
            "a/gateway@1.json\0",
        ] {
            assert!(check_view_path(bad, "gateway@1").is_err(), "{bad:?} accepted");
        }
    }
}
