//! Rendering of the planner's data (explanations, diffs) and of observed
//! latency for a person:
//! fixed-width text and markdown, no colour. Pure string building.

pub mod diff;
pub mod explain;
pub mod flight;
pub mod html;
pub mod number;
pub mod telemetry;
