//! Validation speed, beside baselines measured in the same run.
//!
//! 1. A generated 2,000-host / 6,000-agent / 15,000-route config (the size of
//!    planbench's XL): `check_text` against parsing the same JSON text into a
//!    `serde_json::Value` (no spans, no checks).
//! 2. The same config broken twice per agent (12,000 errors): the `rtt validate` binary end to end, as text (the first 50
//!    and a count; every one with `--all-errors`) and as JSON, with its peak
//!    memory (`/usr/bin/time`) against the file size. Baseline: `rtt
//!    validate` of the valid config.
//! 3. A 40,000-key mapping (duplicate-key detection).
//!
//!     cargo bench --bench validate

#[path = "support/timing.rs"]
mod timing;

use std::process::Command;
use std::time::{Duration, Instant};

use rtt_instances::{Spec, generate, to_json_text};
use rtt_schema::source::SourceFile;
use rtt_schema::{Format, check_text};

const RUNS: usize = 11;

fn main() {
    let spec = Spec { n_hosts: 2_000, n_agents: 6_000, n_routes: 15_000, utilization: 0.6, seed: 1 };
    let json = to_json_text(&generate(spec));
    println!(
        "config: {} hosts, {} agents, {} routes, {} KiB of JSON",
        spec.n_hosts,
        spec.n_agents,
        spec.n_routes,
        json.len() / 1024
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;

    let baseline = timing::median_of(RUNS, || {
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        std::hint::black_box(value);
    });
    let validate = timing::median_of(RUNS, || {
        let loaded = check_text(SourceFile::new("bench.json", json.as_str()), Format::Json).expect("valid");
        std::hint::black_box(loaded);
    });
    println!("baseline serde_json::Value parse   {:>8.1} ms", ms(baseline));
    println!(
        "rtt validate (parse+shape+refine)  {:>8.1} ms   ({:.1}x baseline)",
        ms(validate),
        ms(validate) / ms(baseline)
    );

    let dir = std::env::temp_dir().join(format!("rtt-bench-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let valid = dir.join("valid.json");
    std::fs::write(&valid, &json).expect("write");
    let broken = dir.join("broken.json");
    let broken_text = broken_config(&json);
    std::fs::write(&broken, &broken_text).expect("write");
    let errors = error_count(&broken);
    println!("broken config: {} KiB, {errors} errors", broken_text.len() / 1024);
    let (base_time, base_rss) = run_rtt(&["validate", path(&valid)], 0);
    println!("baseline rtt validate (valid)      {:>8.1} ms   peak {:>6} MiB", ms(base_time), base_rss / 1024);
    for (what, args) in [
        ("text, first 50", vec!["validate", path(&broken)]),
        ("text, --all-errors", vec!["validate", "--all-errors", path(&broken)]),
        ("json, --all-errors", vec!["validate", "--all-errors", "--format", "json", path(&broken)]),
    ] {
        let (time, rss) = run_rtt(&args, 1);
        println!(
            "rtt validate broken, {what:<19}{:>8.1} ms   peak {:>6} MiB ({:.1}x the file)   ({:.1}x baseline)",
            ms(time),
            rss / 1024,
            (rss * 1024) as f64 / broken_text.len() as f64,
            ms(time) / ms(base_time)
        );
    }

    let keys: String = (0..40_000).map(|i| format!("  k{i}: {i}\n")).collect();
    let wide = format!("version: 1\nenv:\n{keys}");
    let start = Instant::now();
    let parsed = rtt_schema::parse::parse_yaml(&wide);
    let yaml_time = start.elapsed();
    assert!(parsed.is_ok());
    let wide_json =
        format!("{{\"env\": {{{}}}}}", (0..40_000).map(|i| format!("\"k{i}\": {i}")).collect::<Vec<_>>().join(", "));
    let start = Instant::now();
    assert!(rtt_schema::parse::parse_json(&wide_json).is_ok());
    println!("40,000-key mapping: YAML parse {:>6.1} ms, JSON parse {:>6.1} ms", ms(yaml_time), ms(start.elapsed()));
    let _ = std::fs::remove_dir_all(&dir);
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Every agent gets a wrong `qos` and a negative `cpu`: 12,000 errors, the
/// size of the generated config the newcomer issue measured (11,971).
fn broken_config(json: &str) -> String {
    let mut config: serde_json::Value = serde_json::from_str(json).expect("json");
    for agent in config["agents"].as_array_mut().expect("agents") {
        agent["qos"] = "fast".into();
        agent["cpu"] = (-1).into();
    }
    serde_json::to_string_pretty(&config).expect("json")
}

fn error_count(file: &std::path::Path) -> u64 {
    let output = Command::new(env!("CARGO_BIN_EXE_rtt"))
        .args(["validate", "--format", "json", path(file)])
        .output()
        .expect("rtt runs");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json report");
    report["total"].as_u64().expect("total")
}

/// The median wall time of `rtt ARGS` (its output discarded) and its peak RSS
/// in KiB, from `/usr/bin/time`.
fn run_rtt(args: &[&str], expect: i32) -> (Duration, u64) {
    let mut rss = 0;
    let time = timing::median_measured(5, || {
        let start = Instant::now();
        let output = Command::new("/usr/bin/time")
            .args(["-f", "%M", env!("CARGO_BIN_EXE_rtt")])
            .args(args)
            .stdout(std::process::Stdio::null())
            .output()
            .expect("/usr/bin/time runs rtt (apt-get install time)");
        let elapsed = start.elapsed();
        assert_eq!(output.status.code(), Some(expect), "rtt {args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        rss = stderr.lines().last().and_then(|l| l.trim().parse().ok()).expect("peak RSS from /usr/bin/time");
        elapsed
    });
    (time, rss)
}
