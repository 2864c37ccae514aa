//! The whole-fleet MILP's estimated size against what building (and, with
//! `--solve`, a first feasibility solve) really takes: the measurements
//! behind `formulation::size::BYTES_PER_NONZERO` (BENCHMARKS.md, "model size").
//!
//!     cargo run --release -p rtt-planner --example model_size -- CONFIG [--build | --solve]

use rtt_planner::formulation::size::{estimate, human_bytes};
use rtt_planner::formulation::{Formulation, Options};

/// Peak resident memory of this process so far, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).expect("VmHWM");
    kib.trim().trim_end_matches("kB").trim().parse::<u64>().expect("a number of kB") * 1024
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: model_size CONFIG [--build | --solve]");
    let mode = args.next().unwrap_or_default();
    let loaded = rtt_schema::load(std::path::Path::new(&path)).expect("a valid config");
    let model = &loaded.model;
    let topology = rtt_planner::topology::Topology::new(model);
    let candidates = rtt_planner::bound::candidate_nodes(model, &topology);
    let size = estimate(model, &topology, &candidates);
    let before = peak_rss();
    println!(
        "estimate: {} columns, {} nonzeros, {} at {} B/nonzero",
        size.columns,
        size.nonzeros,
        human_bytes(size.bytes()),
        rtt_planner::formulation::size::BYTES_PER_NONZERO
    );
    if mode != "--build" && mode != "--solve" {
        return;
    }
    let options = Options { break_symmetry: true, ..Options::default() };
    let formulation = Formulation::build(model, &topology, None, options);
    let built = peak_rss();
    let per = |bytes: u64| bytes as f64 / size.nonzeros as f64;
    println!(
        "built: {} columns, {} rows; {} ({:.0} B per estimated nonzero)",
        formulation.milp.n_variables(),
        formulation.milp.n_rows(),
        human_bytes(built - before),
        per(built - before)
    );
    if mode == "--solve" {
        let limits = rtt_planner::Limits { gap: 1.0, node_limit: Some(1), time_limit: Some(20.0), light: false };
        let found = formulation.milp.find_feasible(&limits).is_ok();
        let solved = peak_rss();
        println!(
            "built and solved (feasible point found: {found}, 20 s cap): {} ({:.0} B per estimated nonzero)",
            human_bytes(solved - before),
            per(solved - before)
        );
    }
}
