//! Rendering of the planner's data (explanations, diffs) for a person:
//! fixed-width text and markdown, no colour. Pure string building.

pub mod diff;
pub mod explain;
pub mod number;
