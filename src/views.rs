//! A signed plan's provider views as the binary uses them: typed from the
//! plan's JSON, and checked against the registry and overlays of the rtt
//! directory (the mix-and-match check of `verify` and `mount`). Shared by the
//! commands, so none of them imports another.
//!
//! The plan document still keeps views as signed JSON values; typing them in
//! `rtt-plan` itself would make this module unnecessary (left for the
//! redesign's next step).

use rtt_durable::Layout;
use rtt_plan::PlanDocument;
use rtt_registry::Registry;
use rtt_registry::views::{OverlayDir, View, Views};

/// A plan's `views`, typed (the plan document keeps them as signed JSON).
pub fn plan_views(plan: &PlanDocument) -> Result<Views, String> {
    plan.views
        .iter()
        .map(|(provider, entries)| {
            let typed = entries
                .iter()
                .map(|entry| serde_json::from_value::<View>(entry.clone()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("views.{provider}: {e}"))?;
            Ok((provider.clone(), typed))
        })
        .collect()
}

/// The mix-and-match check of `rtt verify`: a plan's `inputs.registry` and
/// `views` against the registry and overlays under `rtt_dir` now. Returns
/// every reason to reject; empty means they match.
pub fn plan_view_mismatches(plan: &rtt_plan::PlanDocument, layout: &Layout) -> Vec<String> {
    let views = match plan_views(plan) {
        Ok(views) => views,
        Err(reason) => return vec![reason],
    };
    if views.is_empty() && plan.inputs.registry.is_none() {
        return Vec::new();
    }
    let registry = Registry::open(layout.registry().root());
    let overlays = OverlayDir::new(layout.overlays());
    rtt_registry::views::check(&registry, &overlays, plan.inputs.registry, &views)
        .into_iter()
        .map(|mismatch| mismatch.0)
        .collect()
}
