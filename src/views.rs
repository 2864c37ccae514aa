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
    mismatches(plan.inputs.registry, &plan.views, layout)
}

/// The same for a view plan's slice: its views and the index they were built from.
pub fn view_mismatches(slice: &rtt_plan::ViewPlan, layout: &Layout) -> Vec<String> {
    let views = rtt_plan::Views::from([(slice.provider.clone(), slice.views.clone())]);
    mismatches(slice.registry, &views, layout)
}

fn mismatches(index: Option<rtt_canonical::Sha256>, views: &rtt_plan::Views, layout: &Layout) -> Vec<String> {
    let registry = Registry::open(layout.registry().root());
    let overlays = OverlayDir::new(layout.overlays());
    rtt_registry::views::check(&registry, &overlays, index, views).into_iter().map(|mismatch| mismatch.0).collect()
}
