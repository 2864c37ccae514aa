//! Leadership on an etcd lease: won by creating the leader key (if absent)
//! attached to a fresh lease, kept by refreshing the lease from a thread,
//! lost when a refresh says the lease is gone or none was sent less than a
//! TTL ago (a process paused past its lease knows it the moment it runs
//! again, before any refresh answers). Losing it only stops this controller from starting steps: safety
//! does not rest on this clock. A deposed leader's shared writes fail in
//! etcd ([`crate::replica`]) and its driver calls fail at the drivers
//! (their epochs are below its successor's).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::etcd::{Etcd, EtcdError, LeaderKey};

/// This controller leads.
pub struct Leadership {
    key: LeaderKey,
    etcd: Etcd,
    lost: Arc<AtomicBool>,
    /// When the last refresh that etcd granted was sent.
    fresh: Arc<Mutex<Instant>>,
    ttl: Duration,
    stop: Arc<AtomicBool>,
    keeper: Option<JoinHandle<()>>,
}

impl Leadership {
    /// Campaigns once: `Ok(None)` when another controller leads.
    pub fn campaign(etcd: &Etcd, id: &str, ttl: Duration) -> Result<Option<Leadership>, EtcdError> {
        let sent = Instant::now();
        let Some(key) = etcd.campaign(id, ttl)? else { return Ok(None) };
        let lost = Arc::new(AtomicBool::new(false));
        let fresh = Arc::new(Mutex::new(sent));
        let stop = Arc::new(AtomicBool::new(false));
        let keeper = {
            let (etcd, lost, stop, lease) = (etcd.clone(), Arc::clone(&lost), Arc::clone(&stop), key.lease);
            let fresh = Arc::clone(&fresh);
            std::thread::Builder::new()
                .name("rtt-lease".into())
                .spawn(move || keep(&etcd, lease, ttl, &lost, &fresh, &stop))
                .map_err(|e| EtcdError::Unreachable {
                    endpoints: String::new(),
                    what: "start the lease keeper".into(),
                    reason: e.to_string(),
                })?
        };
        Ok(Some(Leadership { key, etcd: etcd.clone(), lost, fresh, ttl, stop, keeper: Some(keeper) }))
    }

    /// The revision the leadership was won at (epochs and write guards).
    pub fn revision(&self) -> i64 {
        self.key.revision
    }

    /// Still leading, as far as this controller can tell.
    pub fn holds(&self) -> bool {
        let fresh = *self.fresh.lock().unwrap_or_else(|p| p.into_inner());
        !self.lost.load(Ordering::SeqCst) && fresh.elapsed() < self.ttl
    }

    /// Gives the leadership up at once (graceful shutdown): a follower wins
    /// without waiting for the lease to expire.
    pub fn resign(mut self) {
        self.halt();
        let _ = self.etcd.resign(self.key.lease);
    }

    /// Stops the keeper without waiting for it: it may be inside a refresh
    /// that takes up to a call's deadline, and a deposed controller must
    /// say so (and stop starting steps) at once. It exits after that call.
    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        drop(self.keeper.take());
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Refreshes the lease every third of its TTL until stopped or lost.
fn keep(etcd: &Etcd, lease: i64, ttl: Duration, lost: &AtomicBool, fresh: &Mutex<Instant>, stop: &AtomicBool) {
    let period = ttl / 3;
    let mut last_ok = *fresh.lock().unwrap_or_else(|p| p.into_inner());
    let mut next = Instant::now() + period;
    while !stop.load(Ordering::SeqCst) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let sent = Instant::now();
        match etcd.keep_alive(lease) {
            Ok(left) if left > 0 => {
                last_ok = sent;
                *fresh.lock().unwrap_or_else(|p| p.into_inner()) = sent;
            }
            Ok(_) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(_) if sent.duration_since(last_ok) >= ttl => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(_) => {}
        }
        // A refresh that took longer than the lease lasts cannot be trusted.
        if Instant::now().duration_since(last_ok) >= ttl {
            lost.store(true, Ordering::SeqCst);
            return;
        }
        next = Instant::now() + period;
    }
}
