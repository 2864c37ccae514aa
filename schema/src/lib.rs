//! rtt's config: parse (YAML, JSON, CUE), check fail-closed, refine.
//!
//! The pipeline is `parse` (text → spanned [`source::Node`]) → `structure`
//! (shape against the JSON Schema derived from [`raw`]) → serde into
//! [`raw::Config`] → `validate` (cross-references, SPEC §3.3) → [`model::Model`].
//! Every check reports all problems it finds with file, line and column.
//!
//! IO is confined to [`load::load`] (reading the file) and [`cue`] (running
//! `cue export`); everything else is pure and takes text or values.

pub mod cue;
mod de;
mod issue;
pub mod load;
pub mod model;
pub mod parse;
pub mod raw;
pub mod source;
mod structure;
mod validate;

pub use issue::{Issue, LocatedIssue};
pub use load::{ConfigError, Format, LoadedConfig, check_cue_export, check_text, config_hash, load};
pub use validate::refine;
