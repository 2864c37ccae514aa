//! How large the whole-fleet MILP would be, estimated before it is built:
//! a 2,000-host fleet's takes tens of gigabytes, and the planner must say so
//! (exit 4 within `--memory-limit`) rather than be killed by the kernel.
//!
//! The estimate is an upper bound on the terms the builder creates: per
//! route and level, share variables over the domains both agents can use
//! (at most the fewer of the two), each reading the agent's placement
//! variables in that domain. Levels `reach` would prove unreachable are
//! counted too, so a fleet is never under-estimated for that reason.

use std::collections::BTreeSet;

use rtt_schema::model::Model;

use crate::topology::{NodeId, Topology};

/// Bytes per estimated nonzero of a built and solved model: good_lp's
/// expressions and rows, the copy handed to HiGHS, HiGHS's presolve and
/// search. Measured peak over [`estimate`]'s nonzeros (BENCHMARKS.md, "model
/// size"): 36 to build (tiers M and L alike), 409 built and solved to a first
/// feasible point on tier M, 145 on tier L after 20 s; the larger is kept, so
/// the check errs on refusing.
pub const BYTES_PER_NONZERO: u64 = 410;

/// The size of a MILP, in solver terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size {
    /// Variables.
    pub columns: u64,
    /// Coefficients in the constraint matrix.
    pub nonzeros: u64,
}

impl Size {
    /// Memory the built model is expected to take.
    pub fn bytes(self) -> u64 {
        self.nonzeros.saturating_mul(BYTES_PER_NONZERO)
    }
}

/// The whole-fleet MILP's size for agents restricted to `candidates`.
pub fn estimate(model: &Model, topology: &Topology, candidates: &[BTreeSet<NodeId>]) -> Size {
    // Per agent and level: how many domains its candidates span.
    let domains: Vec<[u64; 4]> = candidates
        .iter()
        .map(|nodes| {
            std::array::from_fn(|level| {
                let spanned: BTreeSet<u32> = nodes.iter().map(|node| topology.domain_of(level, *node)).collect();
                spanned.len() as u64
            })
        })
        .collect();
    let placement: u64 = candidates.iter().map(|nodes| nodes.len() as u64).sum();
    // y columns, each in its replica row and in a capacity row per resource.
    let mut size = Size { columns: placement, nonzeros: 3 * placement };
    for route in &model.routes {
        let (from, to) = (route.from.0 as usize, route.to.0 as usize);
        let reads = (candidates[from].len() + candidates[to].len()) as u64;
        for (from_domains, to_domains) in domains[from].iter().zip(&domains[to]) {
            let shares = (*from_domains).min(*to_domains);
            // Two upper-bound rows per share (one per side) and the indicator row.
            size.columns += shares + 1;
            size.nonzeros += reads + 4 * shares + 2;
        }
    }
    size
}

/// `1.5 GiB`, `640 MiB`, `46 KiB`: memory as people read it.
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        n if n >= 1 << 30 => format!("{:.1} GiB", b / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.0} MiB", b / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.0} KiB", b / (1u64 << 10) as f64),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_at_least_the_built_model() {
        for (tier, seed) in [(rtt_instances::Tier::S, 1), (rtt_instances::Tier::S, 2), (rtt_instances::Tier::M, 1)] {
            let text = rtt_instances::to_json_text(&rtt_instances::generate(tier.spec(seed)));
            let source = rtt_schema::source::SourceFile::new("t.json", text);
            let model = rtt_schema::check_text(source, rtt_schema::Format::Json).unwrap().model;
            let topology = Topology::new(&model);
            let candidates = crate::bound::candidate_nodes(&model, &topology);
            let size = estimate(&model, &topology, &candidates);
            let options = crate::formulation::Options { break_symmetry: true, ..Default::default() };
            let built = crate::formulation::Formulation::build(&model, &topology, None, options);
            assert!(size.columns >= built.milp.n_variables() as u64, "{tier:?} {seed}: {size:?}");
            assert!(size.nonzeros >= built.milp.n_rows() as u64, "{tier:?} {seed}: {size:?}");
        }
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
        assert_eq!(human_bytes(640 << 20), "640 MiB");
        assert_eq!(human_bytes(46_740), "46 KiB");
        assert_eq!(human_bytes(10), "10 B");
    }
}
