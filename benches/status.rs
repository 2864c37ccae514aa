//! `rtt status` on a plan of 15,000 routes, each observed (issue 17): the
//! time to read the state, the WAL, and every route's histogram into
//! planned-against-observed rows, beside the same status without
//! observations, measured in the same run.
//!
//!     cargo bench --bench status          (RTT_BENCH_ROUTES=N to change the count)

use std::time::{Duration, Instant};

use rtt_apply::workspace::Workspace;
use rtt_canonical::Sha256;
use rtt_plan::{Locality, PlacementRow, PlanDocument, RouteRow};
use rtt_telemetry::store::Store;
use rtt_telemetry::{Observations, RouteKey};

const RUNS: usize = 11;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let routes: usize = std::env::var("RTT_BENCH_ROUTES").ok().and_then(|n| n.parse().ok()).unwrap_or(15_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().to_owned();
    let workspace = Workspace { layout: rtt_durable::Layout::at(base.join(".rtt")), base, launcher: None };
    let mut document = PlanDocument::bare(
        Sha256::of(b"status"),
        1,
        None,
        vec![PlacementRow { agent: "a@1".into(), host: "h1".into(), numa: 0, replicas: 1 }],
    );
    for r in 0..routes {
        document.routes.push(RouteRow {
            from: format!("caller-{r}@1"),
            to: format!("callee-{}@1", r % 97),
            p99_us: 100.0 + (r % 50) as f64,
            slo_p99_us: Some(500.0),
            locality: Locality { numa: 0.0, host: 1.0, rack: 1.0, zone: 1.0 },
            transport: None,
        });
    }
    let bytes = document.to_file_bytes().expect("encodes");
    let hash = document.hash().expect("hash");
    workspace.keep_plan(&hash, &bytes).expect("kept");
    rtt_trust::state::write_applied(&workspace.state_dir(), &rtt_trust::AppliedState::advanced(None, hash, 1))
        .expect("applied");

    let timed = || {
        median(
            (0..RUNS)
                .map(|_| {
                    let started = Instant::now();
                    let status = rtt_apply::status::read(&workspace).expect("status");
                    assert_eq!(status.routes.len(), routes);
                    started.elapsed()
                })
                .collect(),
        )
    };
    let without = timed();

    let store = Store::new(&workspace.layout);
    let mut seen = Observations::default();
    for (r, route) in document.routes.iter().enumerate() {
        let key = RouteKey::new(&route.from, &route.to);
        for v in 0..40u64 {
            seen.record(&key, 80 + v * 7 + (r as u64 % 300), 25, 1);
        }
    }
    let started = Instant::now();
    let lock = store.lock().expect("lock");
    store.add(&lock, &hash, &seen).expect("stored");
    drop(lock);
    let write = started.elapsed();
    let size = std::fs::metadata(workspace.layout.observations(&hash)).expect("file").len();
    let with = timed();

    println!("status: plan of {routes} routes, median of {RUNS} reads");
    println!("  without observations       {:>8.1} ms", without.as_secs_f64() * 1e3);
    println!(
        "  every route observed       {:>8.1} ms  ({:.1}× the status without; {:.1} µs a route)",
        with.as_secs_f64() * 1e3,
        with.as_secs_f64() / without.as_secs_f64(),
        (with - without).as_secs_f64() * 1e6 / routes as f64
    );
    println!(
        "  store file                 {:>8.1} MiB  (written with its lock in {:.0} ms)",
        size as f64 / (1 << 20) as f64,
        write.as_secs_f64() * 1e3
    );
}
