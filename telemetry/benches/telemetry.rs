//! Telemetry ingest speed (issue 17): samples per second into HDR
//! histograms, from raw values, JSON lines and OpenMetrics pages of 15,000
//! route histograms; beside the baseline of keeping every sample and
//! sorting it for a nearest-rank p99 (what phase timings do), measured in
//! the same run.
//!
//!     cargo bench -p rtt-telemetry --bench telemetry

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use rtt_telemetry::cursors::Cursors;
use rtt_telemetry::{Latency, Observations, RouteKey, jsonl, openmetrics};

const SAMPLES: u64 = 10_000_000;
const ROUTES: usize = 15_000;

/// A deterministic spread of latencies, 20 µs to ~20 ms.
fn latency(i: u64) -> u64 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    20 + (x % 1000) * (x % 20 + 1)
}

fn main() {
    // Baseline: keep every sample, sort, nearest rank.
    let started = Instant::now();
    let mut all: Vec<u64> = (0..SAMPLES).map(latency).collect();
    all.sort_unstable();
    let p99 = all[(SAMPLES as usize * 99).div_ceil(100) - 1];
    let baseline = started.elapsed().as_secs_f64();
    drop(black_box(all));

    let started = Instant::now();
    let mut histogram = Latency::new();
    for i in 0..SAMPLES {
        histogram.record(latency(i), 1);
    }
    let hdr_p99 = histogram.quantile(0.99);
    let hdr = started.elapsed().as_secs_f64();
    println!("telemetry ingest, {SAMPLES} samples");
    println!("  baseline: keep and sort      {:>12.0} samples/s  (p99 {p99} µs)", SAMPLES as f64 / baseline);
    println!(
        "  HDR histogram, record        {:>12.0} samples/s  (p99 {hdr_p99} µs; {:.1}× the baseline)",
        SAMPLES as f64 / hdr,
        baseline / hdr
    );

    // JSON lines: 1,000,000 lines over 15,000 routes, parsed and recorded.
    let lines = 1_000_000u64;
    let mut text = String::new();
    for i in 0..lines {
        let r = i % ROUTES as u64;
        let _ = writeln!(text, "{{\"from\":\"a{r}\",\"to\":\"b{}\",\"latency_us\":{}}}", r % 7, latency(i));
    }
    let started = Instant::now();
    let parsed = jsonl::parse(&text, 1).expect("parses");
    let mut seen = Observations::default();
    for sample in &parsed {
        seen.record(&sample.route, sample.latency_us, sample.count, 1);
    }
    let json = started.elapsed().as_secs_f64();
    println!("  JSON lines, parse + record   {:>12.0} samples/s  ({} routes)", lines as f64 / json, seen.routes.len());

    // OpenMetrics: a page of 15,000 route histograms with 12 buckets each,
    // read twice (the first is the baseline reading), 1,000 new samples per
    // route in between.
    let bounds = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];
    let page = |extra: u64| {
        let mut page = String::from("# TYPE rpc_latency_seconds histogram\n");
        for r in 0..ROUTES {
            let mut cumulative = 0;
            for (b, le) in bounds.iter().enumerate() {
                cumulative += (r as u64 % 13 + b as u64) * (1 + extra);
                let _ = writeln!(
                    page,
                    "rpc_latency_seconds_bucket{{from=\"a{r}\",to=\"b{}\",le=\"{le}\"}} {cumulative}",
                    r % 7
                );
            }
            let _ = writeln!(
                page,
                "rpc_latency_seconds_bucket{{from=\"a{r}\",to=\"b{}\",le=\"+Inf\"}} {}",
                r % 7,
                cumulative + extra
            );
        }
        page
    };
    let (first, second) = (page(0), page(1));
    let mut cursors = Cursors::default();
    let started = Instant::now();
    let series = openmetrics::parse(&first).expect("parses");
    cursors.increments("page", &series, false);
    let series = openmetrics::parse(&second).expect("parses");
    let gained = cursors.increments("page", &series, false);
    let om = started.elapsed().as_secs_f64();
    let samples: u64 = gained.iter().map(|(_, l)| l.count()).sum();
    let mut merged = Observations::default();
    for (route, latency) in &gained {
        merged.add(route, latency, 1, 1);
    }
    println!(
        "  OpenMetrics, 2 pages of {ROUTES} histograms: {:.0} ms ({} KiB a page), {:.0} samples/s, {:.0} series/s",
        om * 1e3,
        first.len() / 1024,
        samples as f64 / om,
        (2 * ROUTES) as f64 / om
    );
    let _ = black_box(merged.summary(&RouteKey::new("a1", "b1")));
}
