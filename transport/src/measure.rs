//! Measuring transports on this machine (`rtt tune`, the transport
//! benchmark): round trips and one-way throughput of fixed-size messages
//! over a pipe, a Unix socket pair or a ring, between two threads, each
//! optionally pinned to a CPU. Threads rather than processes: the kernel
//! paths (pipe, socket, eventfd) and the shared-memory traffic are the same,
//! and a measurement needs no second binary. The two-process ring test shows
//! the same ring works across processes.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustix::thread::{CpuSet, sched_setaffinity};

use crate::channel::{self, Tuning};

/// A transport to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// An anonymous pipe each way (what stdio drivers use).
    Pipe,
    /// A Unix stream socket pair (the control channel).
    Uds,
    /// A ring each way.
    Ring {
        /// Data words of each ring.
        capacity_words: usize,
        /// Polls before sleeping.
        spin: u32,
    },
}

impl Mechanism {
    /// A short name for tables.
    pub fn name(&self) -> String {
        match self {
            Mechanism::Pipe => "pipe".into(),
            Mechanism::Uds => "uds".into(),
            Mechanism::Ring { capacity_words, spin } => format!("ring {} KiB spin {spin}", capacity_words * 8 / 1024),
        }
    }
}

/// Round-trip latencies, nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundTrips {
    /// Median.
    pub p50_ns: f64,
    /// 99th percentile.
    pub p99_ns: f64,
}

/// How long one side waits for the other before the measurement fails.
const PATIENCE: Duration = Duration::from_secs(30);

fn pin(cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        let mut set = CpuSet::new();
        set.set(cpu);
        // Pinning is a refinement: a CPU we may not use is measured unpinned.
        let _ = sched_setaffinity(None, &set);
    }
}

/// A byte stream each way between the two threads.
fn streams(mechanism: Mechanism) -> io::Result<(Box<dyn Duplex>, Box<dyn Duplex>)> {
    match mechanism {
        Mechanism::Pipe => {
            let (a_read, b_write) = rustix::pipe::pipe()?;
            let (b_read, a_write) = rustix::pipe::pipe()?;
            let a = Pipes { read: std::fs::File::from(a_read), write: std::fs::File::from(a_write) };
            let b = Pipes { read: std::fs::File::from(b_read), write: std::fs::File::from(b_write) };
            Ok((Box::new(a), Box::new(b)))
        }
        Mechanism::Uds => {
            let (a, b) = UnixStream::pair()?;
            Ok((Box::new(a), Box::new(b)))
        }
        Mechanism::Ring { capacity_words, spin } => {
            let tuning = Tuning { spin };
            let max = 4096.min(capacity_words * 8 - 8);
            let (a_send, b_recv) = channel::pair(capacity_words, max, tuning).map_err(io::Error::other)?;
            let (b_send, a_recv) = channel::pair(capacity_words, max, tuning).map_err(io::Error::other)?;
            Ok((Box::new(Rings { send: a_send, recv: a_recv }), Box::new(Rings { send: b_send, recv: b_recv })))
        }
    }
}

/// One side: sends and receives whole messages of a known size.
trait Duplex: Send {
    fn send(&mut self, message: &[u8]) -> io::Result<()>;
    fn recv(&mut self, into: &mut Vec<u8>, len: usize) -> io::Result<()>;
    /// `count` copies of `message`, `batch` at a time where the transport batches.
    fn send_many(&mut self, message: &[u8], count: usize, _batch: usize) -> io::Result<()> {
        for _ in 0..count {
            self.send(message)?;
        }
        Ok(())
    }
}

struct Pipes {
    read: std::fs::File,
    write: std::fs::File,
}

impl Duplex for Pipes {
    fn send(&mut self, message: &[u8]) -> io::Result<()> {
        self.write.write_all(message)
    }
    fn recv(&mut self, into: &mut Vec<u8>, len: usize) -> io::Result<()> {
        into.resize(len, 0);
        self.read.read_exact(into)
    }
}

impl Duplex for UnixStream {
    fn send(&mut self, message: &[u8]) -> io::Result<()> {
        self.write_all(message)
    }
    fn recv(&mut self, into: &mut Vec<u8>, len: usize) -> io::Result<()> {
        into.resize(len, 0);
        self.read_exact(into)
    }
}

struct Rings {
    send: channel::Sender,
    recv: channel::Receiver,
}

impl Duplex for Rings {
    fn send(&mut self, message: &[u8]) -> io::Result<()> {
        self.send.send(message, PATIENCE).map_err(io::Error::other)
    }
    fn recv(&mut self, into: &mut Vec<u8>, _len: usize) -> io::Result<()> {
        self.recv.recv(into, PATIENCE).map_err(io::Error::other)
    }
    fn send_many(&mut self, message: &[u8], count: usize, batch: usize) -> io::Result<()> {
        let mut left = count;
        while left > 0 {
            let n = left.min(batch.max(1));
            self.send.send_batch(std::iter::repeat_n(message, n), PATIENCE).map_err(io::Error::other)?;
            left -= n;
        }
        Ok(())
    }
}

/// `count` round trips of `len`-byte messages (after `count / 10` untimed
/// ones), the echoing thread on `cpus.1`, the timing one on `cpus.0`.
pub fn round_trips(
    mechanism: Mechanism,
    cpus: (Option<usize>, Option<usize>),
    count: usize,
    len: usize,
) -> io::Result<RoundTrips> {
    let (mut near, mut far) = streams(mechanism)?;
    let warm = count / 10;
    let echo = std::thread::spawn(move || -> io::Result<()> {
        pin(cpus.1);
        let mut buffer = Vec::new();
        for _ in 0..(warm + count) {
            far.recv(&mut buffer, len)?;
            far.send(&buffer)?;
        }
        Ok(())
    });
    pin(cpus.0);
    let message = vec![7u8; len];
    let mut buffer = Vec::new();
    let mut times = Vec::with_capacity(count);
    for i in 0..(warm + count) {
        let start = Instant::now();
        near.send(&message)?;
        near.recv(&mut buffer, len)?;
        if i >= warm {
            times.push(start.elapsed().as_nanos() as f64);
        }
    }
    echo.join().map_err(|_| io::Error::other("the echo thread panicked"))??;
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    Ok(RoundTrips { p50_ns: at(0.5), p99_ns: at(0.99) })
}

/// Messages per second sent one way: `count` messages of `len` bytes in
/// batches of `batch` (a ring publishes a batch at once; a pipe or socket
/// writes each message with its own call, as protocol-1 lines are written),
/// the receiver acknowledging the last.
pub fn throughput(
    mechanism: Mechanism,
    cpus: (Option<usize>, Option<usize>),
    count: usize,
    len: usize,
    batch: usize,
) -> io::Result<f64> {
    let (mut near, mut far) = streams(mechanism)?;
    let sink = std::thread::spawn(move || -> io::Result<()> {
        pin(cpus.1);
        let mut buffer = Vec::new();
        for _ in 0..count {
            far.recv(&mut buffer, len)?;
        }
        far.send(&[1])
    });
    pin(cpus.0);
    let message = vec![7u8; len];
    let start = Instant::now();
    near.send_many(&message, count, batch)?;
    let mut ack = Vec::new();
    near.recv(&mut ack, 1)?;
    let took = start.elapsed();
    sink.join().map_err(|_| io::Error::other("the receiving thread panicked"))??;
    Ok(count as f64 / took.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mechanism_round_trips_and_streams() {
        for mechanism in [Mechanism::Pipe, Mechanism::Uds, Mechanism::Ring { capacity_words: 256, spin: 100 }] {
            let trips = round_trips(mechanism, (None, None), 200, 64).expect("round trips");
            assert!(trips.p50_ns > 0.0 && trips.p99_ns >= trips.p50_ns, "{mechanism:?}: {trips:?}");
            assert!(throughput(mechanism, (None, None), 2_000, 64, 16).expect("throughput") > 0.0);
        }
    }
}
