//! A flight record as a timeline for a person: one line per event, offsets
//! from the first event, requests and responses cut to fit. Pure.

use rtt_apply::flight::{FlightRecord, What, excerpt};

/// Characters of a request or response shown on a timeline line.
const SHOWN: usize = 120;

/// The record as text.
pub fn timeline(record: &FlightRecord) -> String {
    let first = record.events.first().map_or(0, |e| e.at_ms);
    let pids: std::collections::BTreeSet<u32> = record.events.iter().map(|e| e.pid).collect();
    let mut out = format!(
        "flight {} ({}): {} events from {} process{}\n",
        record.id,
        record.reason,
        record.events.len(),
        pids.len(),
        if pids.len() == 1 { "" } else { "es" }
    );
    for event in &record.events {
        let offset = event.at_ms.saturating_sub(first);
        let line = match &event.what {
            What::Start { command } => format!("start     {command}"),
            What::Wal { kind, txn, seq } => format!("wal       {kind} {txn} (seq {seq}, fsynced)"),
            What::Call { driver, phase, micros, ok, request, response } => format!(
                "call      {driver} {phase} {:.3} ms {}  {} → {}",
                *micros as f64 / 1000.0,
                if *ok { "ok" } else { "FAILED" },
                excerpt(request, SHOWN),
                excerpt(response, SHOWN)
            ),
            What::Breaker { driver, from, to } => format!("breaker   {driver}: {from} → {to}"),
            What::Reading { samples, routes } => format!("reading   {samples} samples on {routes} routes so far"),
            What::Verdict { outcome, evidence } => {
                let mut text = format!("verdict   {outcome}");
                for line in evidence {
                    text.push_str(&format!("\n{:>22}{line}", ""));
                }
                text
            }
            What::Note { text } => format!("note      {text}"),
        };
        out.push_str(&format!("+{offset:>8} ms  pid {:<7} {line}\n", event.pid));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtt_apply::flight::Event;

    #[test]
    fn each_event_is_a_line_at_its_offset() {
        let event = |at_ms, what| Event { at_ms, t_us: 0, pid: 7, what };
        let record = FlightRecord {
            kind: "rtt.flight".into(),
            version: 1,
            id: "20261207T000000.000Z-t2-abort".into(),
            reason: "abort".into(),
            events: vec![
                event(1_000, What::Wal { kind: "begin".into(), txn: "t2".into(), seq: 4 }),
                event(
                    1_012,
                    What::Call {
                        driver: "d1".into(),
                        phase: "prepare".into(),
                        micros: 1_500,
                        ok: false,
                        request: "{}".into(),
                        response: "driver `d1` timed out".into(),
                    },
                ),
            ],
        };
        let text = timeline(&record);
        assert!(text.starts_with("flight 20261207T000000.000Z-t2-abort (abort): 2 events from 1 process\n"), "{text}");
        assert!(text.contains("+       0 ms  pid 7       wal       begin t2 (seq 4, fsynced)"), "{text}");
        assert!(
            text.contains("+      12 ms  pid 7       call      d1 prepare 1.500 ms FAILED  {} → driver `d1` timed out"),
            "{text}"
        );
    }
}
