//! `rtt verify` of a ~1 MB signed plan (goal: < 5 ms), beside baselines
//! measured in the same run: sha256 of the same bytes (the least any
//! verification must do) and parsing them into a `serde_json::Value`.
//!
//!     cargo bench --bench verify
//!
//! Three figures for verification: the library call (`verify_plan` on bytes
//! in memory, one and two signatures), the command's work in process (load
//! the trust store and state, read the file, verify), and the whole `rtt
//! verify` process (spawn included), which is compared with spawning
//! `rtt --version`.

#[path = "support/timing.rs"]
mod timing;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rtt_canonical::Sha256;
use rtt_plan::{
    Inputs, Locality, ObjectiveReport, PLAN_KIND, PlacementRow, PlanDocument, RouteRow, SolverReport, SolverStatus,
};
use rtt_trust::{Policy, SecretKey, TrustStore, sign_document, verify_plan};

const RUNS: usize = 31;

/// A plan of the shape `rtt plan` writes for a large fleet: `n_agents` agents
/// with three replicas each over 2,000 hosts, and `n_routes` routes.
fn big_plan(n_agents: usize, n_routes: usize) -> PlanDocument {
    let mut placements: Vec<PlacementRow> = (0..n_agents)
        .flat_map(|a| {
            (0..3).map(move |r| PlacementRow {
                agent: format!("agent-{a:05}"),
                host: format!("h{:04}", (a * 7 + r * 13) % 2000),
                numa: (r % 2) as u32,
                replicas: 1 + (a % 3) as u32,
            })
        })
        .collect();
    placements.sort();
    let routes = (0..n_routes)
        .map(|i| RouteRow {
            from: format!("agent-{:05}", i % n_agents),
            to: format!("agent-{:05}", (i * 31 + 7) % n_agents),
            p99_us: 150.0 + (i % 997) as f64 * 0.125,
            slo_p99_us: (i % 3 == 0).then_some(900.0),
            locality: Locality { numa: 0.25, host: 0.5, rack: 0.75, zone: 1.0 },
            transport: None,
        })
        .collect();
    PlanDocument {
        kind: PLAN_KIND.to_owned(),
        version: 1,
        serial: 42,
        inputs: Inputs { config: Sha256::of(b"config"), previous: Some(Sha256::of(b"previous")), registry: None },
        solver: SolverReport { status: SolverStatus::Feasible, objective: 512.25, bound: 300.5, gap: 0.4134 },
        objective: ObjectiveReport { latency_us: 512.25, moves: 17, total: 512.25 },
        placements,
        routes,
        views: BTreeMap::new(),
        signatures: Vec::new(),
    }
}

fn main() {
    let keys = [SecretKey::from_seed(&[1; 32]), SecretKey::from_seed(&[2; 32])];
    let mut document = big_plan(3_000, 3_500);
    sign_document(&mut document, &keys[0]).expect("sign");
    let one_signature = document.to_file_bytes().expect("canonical");
    sign_document(&mut document, &keys[1]).expect("sign");
    let two_signatures = document.to_file_bytes().expect("canonical");
    println!(
        "plan: {} placements, {} routes, {} KiB signed once",
        document.placements.len(),
        document.routes.len(),
        one_signature.len() / 1024
    );
    let store = |threshold| {
        TrustStore::new(keys.iter().map(|k| (k.public_key().id().to_string(), k.public_key())), Policy { threshold })
            .expect("store")
    };
    let (store_1, store_2) = (store(1), store(2));

    let sha256 = timing::median_of(RUNS, || {
        std::hint::black_box(Sha256::of(&one_signature));
    });
    let value_parse = timing::median_of(RUNS, || {
        let value: serde_json::Value = serde_json::from_slice(&one_signature).expect("json");
        std::hint::black_box(value);
    });
    // Where verify's time goes.
    let text = std::str::from_utf8(&one_signature).expect("utf-8");
    let parse_typed = timing::median_of(RUNS, || {
        std::hint::black_box(PlanDocument::parse(text).expect("plan"));
    });
    let signed_bytes = timing::median_of(RUNS, || {
        std::hint::black_box(document.signed_bytes().expect("canonical"));
    });
    let file_bytes = timing::median_of(RUNS, || {
        std::hint::black_box(document.to_file_bytes().expect("canonical"));
    });
    let message = document.signed_bytes().expect("canonical");
    let canonical_check = timing::median_of(RUNS, || {
        rtt_canonical::check_canonical(std::hint::black_box(&message)).expect("canonical");
    });
    let signature = keys[0].sign(&message);
    let ed25519 = timing::median_of(RUNS, || {
        assert!(keys[0].public_key().verify(&message, &signature));
    });
    let verify_1 = timing::median_of(RUNS, || {
        std::hint::black_box(verify_plan(&one_signature, &store_1, None).expect("accepted"));
    });
    let verify_2 = timing::median_of(RUNS, || {
        std::hint::black_box(verify_plan(&two_signatures, &store_2, None).expect("accepted"));
    });

    // The command's work in process, on files.
    let dir = std::env::temp_dir().join(format!("rtt-bench-verify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("trust/keys")).expect("mkdir");
    std::fs::write(dir.join("trust/keys/k1.pub"), keys[0].public_key().to_text()).expect("write");
    std::fs::write(dir.join("trust/policy.json"), "{\"threshold\": 1}\n").expect("write");
    std::fs::write(dir.join("plan.json"), &one_signature).expect("write");
    let in_process = timing::median_of(RUNS, || {
        let store = TrustStore::load(&dir.join("trust")).expect("trust");
        let state = rtt_trust::read_applied(&dir.join("state")).expect("state");
        let bytes = std::fs::read(dir.join("plan.json")).expect("plan");
        std::hint::black_box(verify_plan(&bytes, &store, state.as_ref()).expect("accepted"));
    });
    let rtt = Path::new(env!("CARGO_BIN_EXE_rtt"));
    let spawn = timing::median_of(RUNS, || {
        let status = Command::new(rtt).arg("--version").output().expect("rtt runs").status;
        assert!(status.success());
    });
    let process = timing::median_of(RUNS, || {
        let output = Command::new(rtt)
            .args(["verify", "plan.json", "--trust", "trust", "--state", "state"])
            .current_dir(&dir)
            .output()
            .expect("rtt runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    });
    let _ = std::fs::remove_dir_all(&dir);

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let row = |what: &str, d: Duration, base: Duration| {
        println!("{what:<52} {:>8.2} ms   ({:.1}x baseline)", ms(d), ms(d) / ms(base));
    };
    println!("baseline sha256 of the file bytes                    {:>8.2} ms", ms(sha256));
    row("baseline serde_json::Value parse", value_parse, sha256);
    row("  parse into PlanDocument", parse_typed, sha256);
    row("  PlanDocument::signed_bytes (JCS without signatures)", signed_bytes, sha256);
    row("  PlanDocument::to_file_bytes (JCS)", file_bytes, sha256);
    row("  check_canonical of the signed bytes (one pass)", canonical_check, sha256);
    row("  one strict Ed25519 verification", ed25519, sha256);
    row("verify_plan, 1 signature (threshold 1)", verify_1, sha256);
    row("verify_plan, 2 signatures (threshold 2)", verify_2, sha256);
    row("command work in process (load trust, state; verify)", in_process, sha256);
    println!("baseline process spawn (`rtt --version`)             {:>8.2} ms", ms(spawn));
    row("`rtt verify` process, 1 signature", process, spawn);
}
