//! Per-route transports (issue 18, docs/transports.md): how each route's
//! messages travel, derived from the plan alone (its placements and route
//! figures), the route's message size and the machine profiles of the hosts
//! its caller runs on. Pure and deterministic: the same plan and profiles
//! give the same transports, and `explain` re-derives the reason.
//!
//! - **Kind.** A route whose traffic stays on its hosts (host locality ≥
//!   0.99, SPEC §4) is `shm`, a shared-memory ring on each host; if its
//!   messages are larger than a ring takes ([`RING_MESSAGE_MAX`]), `uds`.
//!   Otherwise `tcp`.
//! - **Batch window.** A quarter of the route's SLO slack (SLO − planned
//!   p99), at most `batch_max_us`; a route without an SLO gets
//!   [`NO_SLO_BATCH_US`] (within the same maximum); no slack, no batching.
//! - **Ring** (`shm`). Room for the messages of two batch windows plus
//!   100 µs at the route's whole rate (a bound: one host's share is less),
//!   and at least four messages, rounded up to a power of two; never below
//!   the largest ring its hosts' profiles chose (or [`DEFAULT_RING_BYTES`]
//!   without one), never above [`MAX_RING_BYTES`]. Spin: the least its
//!   hosts' profiles chose (or [`DEFAULT_SPIN`]).

use std::collections::{BTreeMap, BTreeSet};

use rtt_plan::{PlanDocument, RouteRow, Transport};

/// Largest message a ring carries; larger ones go over a socket.
pub const RING_MESSAGE_MAX: u32 = 64 << 10;
/// Ring size without a profile.
pub const DEFAULT_RING_BYTES: u64 = 64 << 10;
/// Largest ring.
pub const MAX_RING_BYTES: u64 = 16 << 20;
/// Spin without a profile.
pub const DEFAULT_SPIN: u32 = 2_000;
/// Batch window of a route without an SLO, µs.
pub const NO_SLO_BATCH_US: u64 = 100;
/// Host locality at which a route counts as host-local (SPEC §4's 0.99).
const HOST_LOCAL: f64 = 0.99;

/// What a machine profile chose (`rtt tune`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// The profile's fingerprint.
    pub fingerprint: String,
    /// Its ring size.
    pub ring_bytes: u64,
    /// Its spin.
    pub spin: u32,
}

/// What the config says of a route that its plan row does not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteInput {
    /// Requests per second.
    pub rps: f64,
    /// Message size, bytes.
    pub message_bytes: u32,
}

/// What the derivation needs beyond the plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inputs {
    /// Rate and message size per route, by (from, to).
    pub routes: BTreeMap<(String, String), RouteInput>,
    /// The longest batch window, µs.
    pub batch_max_us: f64,
    /// The tuning of each host that has a profile.
    pub hosts: BTreeMap<String, Tuning>,
}

/// The transport of every route of `plan`, in its route order.
pub fn assign(plan: &PlanDocument, inputs: &Inputs) -> Vec<Transport> {
    let mut hosts_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for row in &plan.placements {
        if row.replicas > 0 {
            hosts_of.entry(row.agent.as_str()).or_default().insert(row.host.as_str());
        }
    }
    plan.routes
        .iter()
        .map(|route| {
            let hosts = hosts_of.get(route.from.as_str()).cloned().unwrap_or_default();
            transport(route, &hosts, inputs)
        })
        .collect()
}

fn batch_us(route: &RouteRow, max: f64) -> u64 {
    let window = match route.slo_p99_us {
        Some(slo) => ((slo - route.p99_us) / 4.0).max(0.0),
        None => NO_SLO_BATCH_US as f64,
    };
    window.min(max.max(0.0)).floor() as u64
}

fn transport(route: &RouteRow, hosts: &BTreeSet<&str>, inputs: &Inputs) -> Transport {
    let key = (route.from.clone(), route.to.clone());
    let input = inputs.routes.get(&key).copied().unwrap_or(RouteInput { rps: 0.0, message_bytes: 256 });
    let message_bytes = input.message_bytes.max(1);
    let batch_us = batch_us(route, inputs.batch_max_us);
    let host_local = route.locality.host >= HOST_LOCAL;
    if !host_local || message_bytes > RING_MESSAGE_MAX {
        let kind = if host_local { "uds" } else { "tcp" };
        return Transport {
            kind: kind.into(),
            ring_bytes: None,
            spin: None,
            batch_us,
            message_bytes,
            profiles: Vec::new(),
        };
    }
    let tunings: Vec<&Tuning> = hosts.iter().filter_map(|h| inputs.hosts.get(*h)).collect();
    let profile_ring = tunings.iter().map(|t| t.ring_bytes).max().unwrap_or(DEFAULT_RING_BYTES);
    let spin = tunings.iter().map(|t| t.spin).min().unwrap_or(DEFAULT_SPIN);
    let per_message = 8 + u64::from(message_bytes).div_ceil(8) * 8;
    let window_s = (2 * batch_us + 100) as f64 / 1e6;
    let in_flight = (input.rps * window_s).ceil() as u64;
    let need = (in_flight.max(4) * per_message).max(profile_ring);
    let ring_bytes = need.checked_next_power_of_two().unwrap_or(MAX_RING_BYTES).min(MAX_RING_BYTES);
    let profiles: BTreeSet<String> = tunings.iter().map(|t| t.fingerprint.clone()).collect();
    Transport {
        kind: "shm".into(),
        ring_bytes: Some(ring_bytes),
        spin: Some(spin),
        batch_us,
        message_bytes,
        profiles: profiles.into_iter().collect(),
    }
}

/// Why a route has the transport it has, in one sentence (explain). The
/// message size and ring are the plan's; the rate is not repeated.
pub fn why(route: &RouteRow, transport: &Transport) -> String {
    let quarter = route.slo_p99_us.map(|slo| ((slo - route.p99_us) / 4.0).max(0.0).floor() as u64);
    let budget = match (route.slo_p99_us, quarter) {
        (Some(slo), Some(q)) if slo > route.p99_us && transport.batch_us < q => {
            format!("a quarter of its {:.1} µs SLO slack, capped by batch_max_us", slo - route.p99_us)
        }
        (Some(slo), _) if slo > route.p99_us => format!("a quarter of its {:.1} µs SLO slack", slo - route.p99_us),
        (Some(_), _) => "no SLO slack, so no batching".to_owned(),
        (None, _) if transport.batch_us < NO_SLO_BATCH_US => {
            format!("no SLO: {NO_SLO_BATCH_US} µs, capped by batch_max_us")
        }
        (None, _) => format!("no SLO: {NO_SLO_BATCH_US} µs"),
    };
    match transport.kind.as_str() {
        "shm" => {
            let floor = if transport.profiles.is_empty() {
                format!("the {} KiB default (no host profile)", DEFAULT_RING_BYTES / 1024)
            } else {
                format!("at least what profile(s) {} chose", transport.profiles.join(", "))
            };
            format!(
                "shm: its traffic stays on its hosts (host locality {:.2}); ring {} KiB: two batch windows of {} B messages at its rate, {floor}; batch {} µs: {budget}",
                route.locality.host,
                transport.ring_bytes.unwrap_or(0) / 1024,
                transport.message_bytes,
                transport.batch_us
            )
        }
        "uds" => format!(
            "uds: its traffic stays on its hosts, but {} B messages are over a ring's {} KiB; batch {} µs: {budget}",
            transport.message_bytes,
            RING_MESSAGE_MAX / 1024,
            transport.batch_us
        ),
        _ => format!(
            "tcp: {:.0} % of its traffic leaves the host (host locality {:.2}); batch {} µs: {budget}",
            (1.0 - route.locality.host) * 100.0,
            route.locality.host,
            transport.batch_us
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtt_plan::{Locality, PlacementRow};

    fn plan(host_locality: f64, slo: Option<f64>) -> PlanDocument {
        let mut plan = PlanDocument::bare(
            rtt_canonical::Sha256::of(b"t"),
            1,
            None,
            vec![
                PlacementRow { agent: "a@1".into(), host: "h1".into(), numa: 0, replicas: 2 },
                PlacementRow { agent: "b@1".into(), host: "h1".into(), numa: 0, replicas: 2 },
            ],
        );
        plan.routes = vec![RouteRow {
            from: "a@1".into(),
            to: "b@1".into(),
            p99_us: 100.0,
            slo_p99_us: slo,
            locality: Locality { numa: host_locality, host: host_locality, rack: 1.0, zone: 1.0 },
            transport: None,
        }];
        plan
    }

    fn one(mut transports: Vec<Transport>) -> Transport {
        assert_eq!(transports.len(), 1);
        transports.remove(0)
    }

    fn inputs(rps: f64, message_bytes: u32, profile: Option<u64>) -> Inputs {
        let mut inputs = Inputs { batch_max_us: 1000.0, ..Inputs::default() };
        inputs.routes.insert(("a@1".into(), "b@1".into()), RouteInput { rps, message_bytes });
        if let Some(ring_bytes) = profile {
            inputs.hosts.insert("h1".into(), Tuning { fingerprint: "0123456789abcdef".into(), ring_bytes, spin: 200 });
        }
        inputs
    }

    #[test]
    fn host_local_routes_get_a_ring_sized_for_their_rate_and_their_hosts_profile() {
        let shm = one(assign(&plan(1.0, Some(500.0)), &inputs(1_000_000.0, 64, None)));
        assert_eq!(shm.kind, "shm");
        assert_eq!(shm.batch_us, 100, "a quarter of 400 µs of slack");
        // 1e6 rps over 300 µs = 300 messages of 72 bytes = 21,600 B: the 64 KiB default wins.
        assert_eq!((shm.ring_bytes, shm.spin), (Some(64 << 10), Some(DEFAULT_SPIN)));
        let fast = one(assign(&plan(1.0, Some(500.0)), &inputs(10_000_000.0, 64, Some(16 << 10))));
        assert_eq!(fast.ring_bytes, Some(256 << 10), "3,000 messages of 72 B, rounded up");
        assert_eq!((fast.spin, fast.profiles.len()), (Some(200), 1));
        let tuned = one(assign(&plan(1.0, None), &inputs(10.0, 64, Some(1 << 20))));
        assert_eq!(
            (tuned.ring_bytes, tuned.batch_us),
            (Some(1 << 20), NO_SLO_BATCH_US),
            "the profile's ring is the floor"
        );
    }

    #[test]
    fn other_routes_get_a_socket_and_a_route_without_slack_no_batching() {
        let tcp = one(assign(&plan(0.5, Some(90.0)), &inputs(100.0, 64, None)));
        assert_eq!((tcp.kind.as_str(), tcp.batch_us, tcp.ring_bytes), ("tcp", 0, None));
        let uds = one(assign(&plan(1.0, None), &inputs(100.0, 1 << 20, None)));
        assert_eq!(uds.kind, "uds");
        let route = &plan(0.5, Some(90.0)).routes[0];
        assert!(why(route, &tcp).starts_with("tcp: 50 % of its traffic leaves the host"), "{}", why(route, &tcp));
    }
}
