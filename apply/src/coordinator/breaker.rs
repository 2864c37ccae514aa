//! Circuit breakers per driver: after [`THRESHOLD`] consecutive failures a
//! driver's breaker opens and apply refuses to start transactions through it
//! for [`COOLDOWN_MS`]; then one transaction may try (half-open): success
//! closes the breaker, failure opens it again. Pure; the clock is a parameter
//! and the states persist in `.rtt/state/breakers.json`.
//!
//! Recovery ignores breakers: a logged decision must reach every driver.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Consecutive failures that open a breaker.
pub const THRESHOLD: u32 = 3;
/// How long an open breaker refuses, ms.
pub const COOLDOWN_MS: u64 = 30_000;

/// A breaker's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// Calls go through.
    #[default]
    Closed,
    /// Calls are refused until the cooldown ends.
    Open,
    /// One trial is allowed.
    HalfOpen,
}

/// One driver's breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breaker {
    /// Where it stands.
    pub position: Position,
    /// Consecutive failures.
    pub failures: u32,
    /// When it last opened (ms since the Unix epoch).
    pub opened_at_ms: u64,
}

impl Breaker {
    /// Whether a transaction may use the driver at `now_ms`; moves an open
    /// breaker whose cooldown is over to half-open. `Err` holds when it may retry.
    pub fn admit(&mut self, now_ms: u64) -> Result<(), u64> {
        match self.position {
            Position::Closed | Position::HalfOpen => Ok(()),
            Position::Open => {
                let retry_at = self.opened_at_ms.saturating_add(COOLDOWN_MS);
                if now_ms >= retry_at {
                    self.position = Position::HalfOpen;
                    Ok(())
                } else {
                    Err(retry_at)
                }
            }
        }
    }

    /// Records how the driver did.
    pub fn record(&mut self, ok: bool, now_ms: u64) {
        if ok {
            *self = Breaker::default();
            return;
        }
        self.failures = self.failures.saturating_add(1);
        if self.position == Position::HalfOpen || self.failures >= THRESHOLD {
            self.position = Position::Open;
            self.opened_at_ms = now_ms;
        }
    }
}

/// Every driver's breaker, by name (the file's contents).
pub type Breakers = BTreeMap<String, Breaker>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_repeated_failures_then_half_opens_after_the_cooldown() {
        let mut breaker = Breaker::default();
        for n in 0..THRESHOLD {
            assert_eq!(breaker.admit(n.into()), Ok(()));
            breaker.record(false, n.into());
        }
        assert_eq!(breaker.position, Position::Open);
        assert_eq!(breaker.admit(10), Err(2 + COOLDOWN_MS));
        assert_eq!(breaker.admit(2 + COOLDOWN_MS), Ok(()));
        assert_eq!(breaker.position, Position::HalfOpen);
        breaker.record(false, 3 + COOLDOWN_MS);
        assert_eq!(breaker.position, Position::Open, "a failed trial opens it again");
        assert!(breaker.admit(4 + COOLDOWN_MS).is_err());
        assert_eq!(breaker.admit(3 + 2 * COOLDOWN_MS), Ok(()));
        breaker.record(true, 3 + 2 * COOLDOWN_MS);
        assert_eq!(breaker, Breaker::default(), "a successful trial closes it");
    }
}
