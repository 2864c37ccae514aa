//! Trust in the registry's manifests (signed ingest): which manifest of
//! which agent enough registry signers vouch for.
//!
//! Each registry signer keeps one signed targets file,
//! `.rtt/registry/targets/<key id>.json` (in the spirit of TUF's targets
//! role): agent id → manifest hash, a version that only goes up and an
//! expiry. A manifest is trusted when at least `registry_threshold`
//! (`policy.json`) distinct registry signers (`trust/registry-keys/*.pub`,
//! a set apart from the plan signers in `trust/keys/`) vouch for exactly
//! that hash under that id in a file that verifies, has not expired and is
//! not older than the newest version of it seen before
//! (`.rtt/state/registry-targets.json`).
//!
//! Signers sign their own files, at their own pace: a second signer of a
//! threshold-2 registry reviews and signs later without invalidating the
//! first. `metadata` is the format, signing and the check of one file and
//! `attest` the count per manifest (both pure); `files` reads and writes them.
//! Threat model: docs/trust.md.

pub mod attest;
pub mod files;
pub mod metadata;

pub use attest::{Attestations, FileProblem, Unattested};
pub use files::{Draft, LoadedTargets, RegistryTrustError, Signed, load_attestations, prepare_signing, record_seen};
pub use metadata::{SeenTargets, Targets, TargetsProblem, VerifiedTargets, sign_targets, verify_targets};
