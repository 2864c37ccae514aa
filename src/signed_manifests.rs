//! Signed ingest at the edge: under a `registry_threshold`, `rtt plan`
//! plans only from manifests, and `rtt view`, `rtt mount` and
//! `rtt materialize` serve only views of manifests, that enough registry
//! signers vouch for. One check, shared by those commands (and
//! `rtt verify`), so none of them imports another.

use std::path::Path;
use std::time::SystemTime;

use miette::Diagnostic;
use rtt_canonical::Sha256;
use rtt_durable::Layout;
use rtt_trust::registry::{LoadedTargets, Unattested, load_attestations};

use crate::exit::Failure;

/// The attestations of the registry under `layout`, checked against the
/// trust store at `trust` and the versions seen in `state`; `None` when the
/// policy sets no `registry_threshold`.
pub fn load(trust: &Path, layout: &Layout, state: &Path) -> Result<Option<LoadedTargets>, Failure> {
    Ok(load_attestations(trust, &layout.registry(), state, SystemTime::now())?)
}

/// Every `(agent id, manifest)` must be vouched for; the error lists each
/// one that is not.
pub fn require<'a>(
    loaded: &LoadedTargets,
    manifests: impl IntoIterator<Item = (&'a str, Sha256)>,
) -> Result<usize, Unsigned> {
    let mut missing = Vec::new();
    let mut checked = 0;
    for (id, hash) in manifests {
        checked += 1;
        if let Err(unattested) = loaded.attestations.check(id, &hash) {
            missing.push(*unattested);
        }
    }
    if missing.is_empty() { Ok(checked) } else { Err(Unsigned { missing }) }
}

/// Manifests without enough registry signatures.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{} manifest(s) lack registry signatures: {}", .missing.len(), list(.missing))]
#[diagnostic(
    code(rtt::registry::unsigned),
    help(
        "a registry signer (a key in trust/registry-keys/) vouches for a manifest with `rtt registry sign --sign-key KEY ID` \
         or `rtt registry add --sign-key KEY FILE`; policy.json's registry_threshold says how many must"
    )
)]
pub struct Unsigned {
    /// Each manifest and what it lacks.
    pub missing: Vec<Unattested>,
}

/// The first few, and the targets files that did not count (the same for all).
fn list(missing: &[Unattested]) -> String {
    const SHOWN: usize = 10;
    let mut out = missing.iter().take(SHOWN).map(ToString::to_string).collect::<Vec<_>>().join("; ");
    if missing.len() > SHOWN {
        out.push_str(&format!("; and {} more", missing.len() - SHOWN));
    }
    if let Some(first) = missing.first()
        && !first.not_counted.is_empty()
    {
        out.push_str(&format!(". Not counted: {}", first.not_counted.join("; ")));
    }
    out
}
