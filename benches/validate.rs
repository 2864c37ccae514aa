//! Validation speed on a generated 2,000-host / 10,000-agent / 25,000-route
//! config, beside a baseline measured in the same run: parsing the same JSON
//! text into a `serde_json::Value` (no spans, no checks).
//!
//!     cargo bench --bench validate

#[path = "support/timing.rs"]
mod timing;

use std::time::Duration;

use rtt_instances::{Spec, generate, to_json_text};
use rtt_schema::source::SourceFile;
use rtt_schema::{Format, check_text};

const RUNS: usize = 11;

fn main() {
    let spec = Spec { n_hosts: 2_000, n_agents: 10_000, n_routes: 25_000, utilization: 0.6, seed: 1 };
    let json = to_json_text(&generate(spec));
    println!(
        "config: {} hosts, {} agents, {} routes, {} KiB of JSON",
        spec.n_hosts,
        spec.n_agents,
        spec.n_routes,
        json.len() / 1024
    );

    let baseline = timing::median_of(RUNS, || {
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        std::hint::black_box(value);
    });
    let validate = timing::median_of(RUNS, || {
        let loaded = check_text(SourceFile::new("bench.json", json.as_str()), Format::Json).expect("valid");
        std::hint::black_box(loaded);
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("baseline serde_json::Value parse   {:>8.1} ms", ms(baseline));
    println!(
        "rtt validate (parse+shape+refine)  {:>8.1} ms   ({:.1}x baseline)",
        ms(validate),
        ms(validate) / ms(baseline)
    );
}
