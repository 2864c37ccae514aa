//! The plan document (SPEC §5) as types and as bytes: what `plan` writes,
//! `sign` signs, `verify` admits, `apply` carries and `mount` serves.
//!
//! A crate of its own so that everything downstream of planning (trust,
//! apply, vfs, registry) reads plans without depending on the planner, and so
//! without building HiGHS. Pure: no IO.
//!
//! - [`document`]: [`PlanDocument`] and its rows, canonical file bytes, hash.
//! - [`layout`]: where the signed bytes sit in a plan file.
//! - [`views`]: the provider views a plan carries.
//! - [`view_plan`]: one provider's slice of them, signed on its own.

pub mod document;
pub mod layout;
pub mod view_plan;
pub mod views;

pub use document::{
    Inputs, Locality, ObjectiveReport, PLAN_KIND, PlacementRow, PlanDocument, RouteRow, Signature, SolverReport,
    SolverStatus, Transport, round_figure,
};
pub use view_plan::{VIEW_PLAN_KIND, ViewPlan};
pub use views::{Layer, OverlayRef, View, Views};
