//! A per-provider view plan (`provider.<p>.view.json`): one provider's
//! slice of a fleet plan's views, with the fleet plan's hash and serial,
//! signed on its own. A provider's consumer (a mount, a materialized tree)
//! verifies this small document instead of the whole fleet plan, and serves
//! exactly what it would have served from the fleet plan.
//!
//! Format, canonical JSON and a newline like a plan:
//! `{"fleet_plan": "sha256:…", "kind": "rtt.view_plan", "provider": P,
//! "registry": "sha256:…", "serial": N, "signatures": […], "version": 1,
//! "views": [View…]}`; `registry` is the fleet plan's `inputs.registry`, so
//! the slice passes the same registry checks as the whole.
//! Signed bytes: the canonical document without `signatures` (the member is
//! cut out of the file exactly as for plans, `layout`).

use rtt_canonical::{CanonicalError, Sha256, to_canonical_vec};
use serde::{Deserialize, Serialize};

use crate::document::{PlanDocument, Signature};
use crate::views::View;

/// `kind` of a view plan.
pub const VIEW_PLAN_KIND: &str = "rtt.view_plan";

/// One provider's views of a fleet plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewPlan {
    /// Always [`VIEW_PLAN_KIND`].
    pub kind: String,
    /// Always 1.
    pub version: u32,
    /// The provider.
    pub provider: String,
    /// The hash of the fleet plan the views come from.
    pub fleet_plan: Sha256,
    /// The fleet plan's `inputs.registry`: the index its views were built from.
    pub registry: Option<Sha256>,
    /// That plan's serial (rollback protection applies to it).
    pub serial: u64,
    /// The provider's entries, as in the fleet plan's `views`.
    pub views: Vec<View>,
    /// Signatures over the signed bytes.
    pub signatures: Vec<Signature>,
}

impl ViewPlan {
    /// The view plan of `provider` in `fleet` (whose hash is `fleet_hash`);
    /// `None` when the plan has no views for it.
    pub fn of(fleet: &PlanDocument, fleet_hash: Sha256, provider: &str) -> Option<ViewPlan> {
        fleet.views.get(provider).map(|views| ViewPlan {
            kind: VIEW_PLAN_KIND.to_owned(),
            version: 1,
            provider: provider.to_owned(),
            fleet_plan: fleet_hash,
            registry: fleet.inputs.registry,
            serial: fleet.serial,
            views: views.clone(),
            signatures: Vec::new(),
        })
    }

    /// The canonical bytes without `signatures`: what is signed and hashed.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        let mut value = serde_json::to_value(self).map_err(|e| CanonicalError::from_message(e.to_string()))?;
        if let Some(object) = value.as_object_mut() {
            object.remove("signatures");
        }
        to_canonical_vec(&value)
    }

    /// The file bytes: the whole document in canonical form, then a newline.
    pub fn to_file_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        let mut bytes = to_canonical_vec(self)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Parses view plan text strictly.
    pub fn parse(text: &str) -> Result<Self, String> {
        let plan: ViewPlan = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if plan.kind != VIEW_PLAN_KIND || plan.version != 1 {
            return Err(format!("not an rtt view plan of version 1 (kind {:?}, version {})", plan.kind, plan.version));
        }
        Ok(plan)
    }

    /// The file name `rtt plan --view-plans DIR` gives it.
    pub fn file_name(provider: &str) -> String {
        format!("provider.{provider}.view.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::signed_bytes_in_file;

    #[test]
    fn the_signatures_member_is_cut_out_exactly_as_for_plans() {
        let mut plan = ViewPlan {
            kind: VIEW_PLAN_KIND.into(),
            version: 1,
            provider: "p".into(),
            fleet_plan: Sha256::of(b"fleet"),
            registry: None,
            serial: 3,
            views: vec![],
            signatures: vec![Signature { alg: "ed25519".into(), key_id: "k".into(), sig: "00".into() }],
        };
        let file = plan.to_file_bytes().unwrap();
        assert_eq!(signed_bytes_in_file(&file, &plan.signatures).unwrap(), plan.signed_bytes().unwrap());
        assert_eq!(ViewPlan::parse(std::str::from_utf8(&file).unwrap()).unwrap(), plan);
        plan.kind = "rtt.plan".into();
        assert!(ViewPlan::parse(std::str::from_utf8(&plan.to_file_bytes().unwrap()).unwrap()).is_err());
    }
}
