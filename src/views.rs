//! The mix-and-match check of `rtt verify` and `rtt mount`: a plan's
//! `inputs.registry` and `views` against the registry and overlays of the rtt
//! directory now. Shared by the commands, so none of them imports another.

use rtt_durable::Layout;
use rtt_plan::PlanDocument;
use rtt_registry::Registry;
use rtt_registry::views::OverlayDir;

/// Every reason to reject `plan`'s views against the registry and overlays
/// under `layout`; empty means they match.
pub fn plan_view_mismatches(plan: &PlanDocument, layout: &Layout) -> Vec<String> {
    if plan.views.is_empty() && plan.inputs.registry.is_none() {
        return Vec::new();
    }
    let registry = Registry::open(layout.registry().root());
    let overlays = OverlayDir::new(layout.overlays());
    rtt_registry::views::check(&registry, &overlays, plan.inputs.registry, &plan.views)
        .into_iter()
        .map(|mismatch| mismatch.0)
        .collect()
}
