//! Machine profiles (`rtt tune`, issue 18): the document, its fingerprint,
//! signing and the checks a reader makes. A profile is canonical JSON
//! (RFC 8785) with `kind: "rtt.profile"`, `version: 1`, the machine's facts
//! and their fingerprint (the first 16 hex digits of the sha256 of the
//! facts' canonical bytes), what was measured, what was chosen, and, when a
//! key signed it, `signatures` over the document without them (the same
//! Ed25519 signatures and trust store as plans).

use std::path::Path;
use std::time::Duration;

use miette::Diagnostic;
use rtt_transport::machine::Machine;
use rtt_transport::tune::{BATCH, MESSAGE, Tuned};
use serde_json::{Value, json};

use crate::exit::Failure;

/// The profile format's version.
pub const VERSION: u64 = 1;

/// Profiles that cannot be made, read or trusted.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ProfileProblem {
    /// Measuring failed.
    #[error("failed to measure this machine's transports: {reason}")]
    #[diagnostic(code(rtt::tune::measure))]
    Measure { reason: String },
    /// The file is not a profile, or not for the machine it is named for.
    #[error("{path}: {reason}")]
    #[diagnostic(code(rtt::tune::profile), help("run `rtt tune` on that machine again"))]
    Invalid { path: String, reason: String },
    /// Writing failed.
    #[error("cannot write {path}: {reason}")]
    #[diagnostic(code(rtt::tune::write))]
    Write { path: String, reason: String },
}

fn invalid(path: &Path, reason: impl Into<String>) -> ProfileProblem {
    ProfileProblem::Invalid { path: path.display().to_string(), reason: reason.into() }
}

/// The facts of a machine as the profile states them.
pub fn facts(machine: &Machine) -> Value {
    json!({
        "cpu_model": machine.cpu_model,
        "logical_cpus": machine.logical_cpus,
        "threads_per_core": machine.threads_per_core,
        "numa_nodes": machine.numa_nodes,
        "caches": machine.caches.iter().map(|(level, kind, size)| json!({"level": level, "type": kind, "size": size})).collect::<Vec<_>>(),
        "kernel": machine.kernel,
        "memory_gib": machine.memory_gib,
    })
}

/// The fingerprint of a machine's facts.
pub fn fingerprint(facts: &Value) -> Result<String, Failure> {
    let hash = rtt_canonical::canonical_hash(facts)
        .map_err(|e| ProfileProblem::Measure { reason: format!("the facts cannot be hashed: {e}") })?;
    Ok(hash.hex()[..16].to_owned())
}

/// The fingerprint a profile document states.
pub fn fingerprint_of(profile: &Value) -> &str {
    profile["fingerprint"].as_str().unwrap_or_default()
}

fn micros(ns: f64) -> f64 {
    (ns / 10.0).round() / 100.0
}

fn rate(value: f64) -> u64 {
    value.round() as u64
}

fn figures(trips: rtt_transport::measure::RoundTrips, messages: f64) -> Value {
    json!({"rtt_p50_us": micros(trips.p50_ns), "rtt_p99_us": micros(trips.p99_ns), "messages_per_s": rate(messages)})
}

/// The profile document of what `tuned` measured on `machine`, unsigned.
pub fn document(machine: &Machine, tuned: &Tuned, took: Duration) -> Result<Value, Failure> {
    let facts = facts(machine);
    let fingerprint = fingerprint(&facts)?;
    let chosen = tuned.grid[tuned.chosen];
    let fastest = tuned.grid[tuned.fastest];
    let pinned_rate = chosen.rate;
    Ok(json!({
        "kind": "rtt.profile",
        "version": VERSION,
        "fingerprint": fingerprint,
        "machine": facts,
        "message_bytes": MESSAGE,
        "batch": BATCH,
        "measured": {
            "pairs": tuned.pairs.iter().map(|(name, (a, b), trips)| json!({
                "pair": name, "cpus": [a, b], "rtt_p50_us": micros(trips.p50_ns), "rtt_p99_us": micros(trips.p99_ns),
            })).collect::<Vec<_>>(),
            "grid": tuned.grid.iter().map(|c| json!({
                "ring_bytes": c.ring_bytes, "spin": c.spin, "rtt_p50_us": micros(c.trips.p50_ns),
                "rtt_p99_us": micros(c.trips.p99_ns), "messages_per_s": rate(c.rate),
            })).collect::<Vec<_>>(),
            "pipe": figures(tuned.pipe.0, tuned.pipe.1),
            "uds": figures(tuned.uds.0, tuned.uds.1),
            "ring_unpinned": figures(tuned.unpinned.0, tuned.unpinned.1),
            "seconds": (took.as_secs_f64() * 10.0).round() / 10.0,
        },
        "chosen": {
            "ring_bytes": chosen.ring_bytes,
            "spin": chosen.spin,
            "pin": pinned_rate >= tuned.unpinned.1,
            "of_best_throughput": ((chosen.rate / fastest.rate) * 1000.0).round() / 1000.0,
        },
    }))
}

/// The bytes signatures cover: the document without `signatures`.
fn signed_bytes(profile: &Value) -> Result<Vec<u8>, Failure> {
    let mut unsigned = profile.clone();
    if let Some(object) = unsigned.as_object_mut() {
        object.remove("signatures");
    }
    Ok(rtt_canonical::to_canonical_vec(&unsigned)
        .map_err(|e| ProfileProblem::Measure { reason: format!("the profile cannot be encoded: {e}") })?)
}

/// Adds (or replaces) `key`'s signature.
pub fn sign(profile: &mut Value, key: &rtt_trust::keys::SecretKey) -> Result<(), Failure> {
    let message = signed_bytes(profile)?;
    let mut signatures: Vec<rtt_plan::Signature> =
        serde_json::from_value(profile["signatures"].clone()).unwrap_or_default();
    rtt_trust::signing::add_signature(&mut signatures, &message, key);
    profile["signatures"] = serde_json::to_value(&signatures).unwrap_or(Value::Null);
    Ok(())
}

/// Writes a profile as canonical JSON and a newline, atomically.
pub fn write(path: &Path, profile: &Value) -> Result<(), Failure> {
    let mut bytes = rtt_canonical::to_canonical_vec(profile)
        .map_err(|e| ProfileProblem::Write { path: path.display().to_string(), reason: e.to_string() })?;
    bytes.push(b'\n');
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ProfileProblem::Write { path: dir.display().to_string(), reason: e.to_string() })?;
    }
    rtt_durable::write::write_atomic(path, &bytes, 0o644)
        .map_err(|e| ProfileProblem::Write { path: path.display().to_string(), reason: e.to_string() })?;
    Ok(())
}

/// What a reader learns from a profile it accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The document.
    pub profile: Value,
    /// Key ids of the signatures that verified (empty: unsigned).
    pub signed_by: Vec<String>,
}

/// Reads the profile of `fingerprint` at `path`: it must be canonical, a
/// profile of this version, state that fingerprint, have facts that hash to
/// it, and carry only signatures that verify against `trust` (when any).
pub fn read(path: &Path, fingerprint: &str, trust: Result<&rtt_trust::TrustStore, &str>) -> Result<Accepted, Failure> {
    let bytes = std::fs::read(path).map_err(|e| invalid(path, e.to_string()))?;
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    rtt_canonical::check_canonical(body).map_err(|e| invalid(path, format!("not canonical JSON: {e}")))?;
    let profile: Value = serde_json::from_slice(body).map_err(|e| invalid(path, e.to_string()))?;
    if profile["kind"] != "rtt.profile" || profile["version"] != VERSION {
        return Err(invalid(path, format!("not an rtt profile of version {VERSION}")).into());
    }
    if fingerprint_of(&profile) != fingerprint {
        return Err(invalid(
            path,
            format!("it is the profile of machine {}, not {fingerprint}", fingerprint_of(&profile)),
        )
        .into());
    }
    if self::fingerprint(&profile["machine"])? != fingerprint {
        return Err(invalid(path, "its machine facts do not hash to its fingerprint (edited)").into());
    }
    let signatures: Vec<rtt_plan::Signature> = match profile.get("signatures") {
        None => Vec::new(),
        Some(list) => serde_json::from_value(list.clone()).map_err(|e| invalid(path, format!("signatures: {e}")))?,
    };
    let mut signed_by = Vec::new();
    if !signatures.is_empty() {
        let store =
            trust.map_err(|why| invalid(path, format!("it is signed, and the trust store cannot check it: {why}")))?;
        let report = rtt_trust::verify::check_signature_list(&signed_bytes(&profile)?, &signatures, store)
            .map_err(|e| invalid(path, format!("its signatures do not verify: {e}")))?;
        signed_by = report.counted.iter().map(ToString::to_string).collect();
    }
    Ok(Accepted { profile, signed_by })
}

/// The text `rtt tune` prints.
pub fn summary(profile: &Value, path: &Path) -> String {
    let chosen = &profile["chosen"];
    let measured = &profile["measured"];
    let mut out = format!(
        "machine {} ({}, {} CPUs, kernel {})\n",
        fingerprint_of(profile),
        profile["machine"]["cpu_model"].as_str().unwrap_or("?"),
        profile["machine"]["logical_cpus"],
        profile["machine"]["kernel"].as_str().unwrap_or("?")
    );
    for pair in measured["pairs"].as_array().into_iter().flatten() {
        out += &format!(
            "  round trip {} (cpus {}): p50 {} µs, p99 {} µs\n",
            pair["pair"].as_str().unwrap_or("?"),
            pair["cpus"],
            pair["rtt_p50_us"],
            pair["rtt_p99_us"]
        );
    }
    for (name, figures) in
        [("pipe", &measured["pipe"]), ("uds", &measured["uds"]), ("ring unpinned", &measured["ring_unpinned"])]
    {
        out += &format!(
            "  {name}: round trip p50 {} µs, p99 {} µs; {} messages/s\n",
            figures["rtt_p50_us"], figures["rtt_p99_us"], figures["messages_per_s"]
        );
    }
    out += &format!(
        "chosen: ring {} KiB, spin {}, pin {} ({} of the grid's best throughput)\n",
        chosen["ring_bytes"].as_u64().unwrap_or(0) / 1024,
        chosen["spin"],
        chosen["pin"],
        chosen["of_best_throughput"]
    );
    let signed = profile["signatures"].as_array().map_or(0, Vec::len);
    out += &format!(
        "written to {} ({}; {} s)\n",
        path.display(),
        if signed > 0 { format!("{signed} signature(s)") } else { "unsigned".into() },
        measured["seconds"]
    );
    out
}

/// What the planner needs to give a config's routes transports: each
/// route's rate and message size, and the tuning of every host whose
/// machine has a profile. A host whose machine has none is planned with the
/// defaults and a warning; a profile that is not that machine's, edited, or
/// signed by keys that do not verify stops the plan.
pub fn transport_inputs(
    config: &rtt_schema::raw::Config,
    transports: &rtt_schema::raw::Transports,
    layout: &rtt_durable::Layout,
) -> Result<rtt_planner::transports::Inputs, Failure> {
    use rtt_planner::transports::{Inputs, RouteInput, Tuning};
    let default_message = transports.message_bytes.unwrap_or(256);
    let mut inputs = Inputs { batch_max_us: transports.batch_max_us.unwrap_or(1000.0), ..Inputs::default() };
    for route in &config.routes {
        let input = RouteInput { rps: route.rps, message_bytes: route.message_bytes.unwrap_or(default_message) };
        inputs.routes.insert((route.from.clone(), route.to.clone()), input);
    }
    let trust = rtt_trust::TrustStore::load(layout.registry().trust().dir()).map_err(|e| e.to_string());
    let mut missing: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for host in &config.topology.hosts {
        let Some(fingerprint) = &host.fingerprint else { continue };
        let path = layout.profile(fingerprint);
        if !path.exists() {
            missing.entry(fingerprint).or_default().push(&host.name);
            continue;
        }
        let accepted = read(&path, fingerprint, trust.as_ref().map_err(String::as_str))?;
        let chosen = &accepted.profile["chosen"];
        let tuning = Tuning {
            fingerprint: fingerprint.clone(),
            ring_bytes: chosen["ring_bytes"].as_u64().ok_or_else(|| invalid(&path, "no chosen ring_bytes"))?,
            spin: chosen["spin"]
                .as_u64()
                .and_then(|s| u32::try_from(s).ok())
                .ok_or_else(|| invalid(&path, "no chosen spin"))?,
        };
        inputs.hosts.insert(host.name.clone(), tuning);
    }
    for (fingerprint, hosts) in missing {
        eprintln!(
            "rtt: warning: no profile of machine {fingerprint} (hosts {}) in {}: their routes get the default ring; run `rtt tune` on that machine and copy its profile here",
            hosts.join(", "),
            layout.profile(fingerprint).parent().map_or_else(String::new, |p| p.display().to_string())
        );
    }
    Ok(inputs)
}

/// Before `rtt apply` touches anything: every machine profile the plan's
/// transports were sized with must still be here and verify (a profile
/// replaced by another machine's, edited or badly signed refuses the
/// apply); one that is missing is a warning, since the plan states the
/// sizes itself.
pub fn check_plan_profiles(plan: &rtt_plan::PlanDocument, layout: &rtt_durable::Layout) -> Result<(), Failure> {
    let named: std::collections::BTreeSet<&str> = plan
        .routes
        .iter()
        .filter_map(|r| r.transport.as_ref())
        .flat_map(|t| t.profiles.iter().map(String::as_str))
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let trust = rtt_trust::TrustStore::load(layout.registry().trust().dir()).map_err(|e| e.to_string());
    for fingerprint in named {
        let path = layout.profile(fingerprint);
        if path.exists() {
            read(&path, fingerprint, trust.as_ref().map_err(String::as_str))?;
        } else {
            eprintln!(
                "rtt: warning: the plan's transports were sized with machine profile {fingerprint}, which is not in {}",
                path.parent().map_or_else(String::new, |p| p.display().to_string())
            );
        }
    }
    Ok(())
}
