//! Trust in plans (SPEC §5): Ed25519 keys, signing, and verification that
//! fails closed against a trust store (`keys/*.pub` + `policy.json`) and the
//! applied-plan state (rollback protection).
//!
//! Pure logic in `keys`, `signing`, `verify` and the parsers of `store` and
//! `state`; IO only in `keyfile`, `TrustStore::load` and
//! `state::{read,write}_applied` (files are written through
//! `rtt_registry::fsio`, the workspace's one atomic writer). Not here: the registry and its mix-and-match checks, and
//! deciding when a plan is applied (both belong to their own crates).
//! Formats and the threat model: docs/trust.md.

pub mod admin;
mod json;
pub mod keyfile;
pub mod keys;
pub mod registry;
pub mod signing;
pub mod state;
pub mod store;
pub mod verify;
pub mod view_plan;

pub use keys::{KeyError, KeyId, PublicKey, SecretKey};
pub use signing::{SignError, sign_document};
pub use state::{AppliedState, StateError, read_applied, write_applied};
pub use store::{Policy, Revoked, TrustStore, TrustStoreError};
pub use verify::{
    IgnoreReason, IgnoredSignature, ParsedPlan, Rejection, SignatureReport, VerifiedPlan, parse_plan, verify_plan,
};
